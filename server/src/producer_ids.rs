//! Producer id allocation for InitProducerId: ids are unique across restarts and across
//! brokers because each broker hands them out from blocks the controller reserves in the
//! metadata log (Kafka's `ProducerIdManager` and `ProducerIdsRecord`): a block is committed to
//! the log before any id of it is used, and the log never hands the same block out twice.

use std::sync::{Arc, Mutex, PoisonError};

use crate::controller::Quorum;

/// The single-node file of earlier minikafka versions holding the first producer id not yet
/// reserved; migrated into the metadata log at the first start (see [`crate::topics`]).
pub const PRODUCER_ID_FILE: &str = "producer-id-block";

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    node: i32,
    quorum: Arc<Quorum>,
    /// (next id to hand out, end of the reserved block).
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Ids for broker `node`, in blocks from `quorum`. No block is reserved before the first id
    /// is asked for.
    pub fn new(quorum: Arc<Quorum>, node: i32) -> ProducerIds {
        ProducerIds {
            node,
            quorum,
            state: Mutex::new((0, 0)),
        }
    }

    /// A new producer id. Blocking when a new block must be reserved (one metadata-log write
    /// per 1000 ids), from any thread.
    pub fn next(&self) -> std::io::Result<i64> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.0 >= st.1 {
            let (first, end) = self
                .quorum
                .allocate_producer_ids(self.node)
                .map_err(std::io::Error::other)?;
            *st = (first, end);
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}
