//! The shared context every connection, handler and background task takes: configuration,
//! cluster identity, the topic registry and its partitions, and the coordinators. It is built
//! once at start-up (`broker.rs`) and handed down as an `Arc`; it holds no behaviour of its own,
//! so every layer below the network can read it without importing start-up code.

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::fetch_sessions::FetchSessions;
use crate::group::GroupCoordinator;
use crate::metadata::TopicImage;
use crate::producer_ids::ProducerIds;
use crate::replica::{Partition, ReplicaManager};
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// Broker state shared by every connection and handler.
#[derive(Debug)]
pub struct Broker {
    /// Validated configuration.
    pub config: Arc<BrokerConfig>,
    /// The metadata store: topics, their configs and placement (the current image).
    pub topics: Arc<Topics>,
    /// Every hosted partition and its log: the only way to the data.
    pub replicas: Arc<ReplicaManager>,
    /// Cluster id from meta.properties.
    pub cluster_id: String,
    /// Host given to clients in Metadata and FindCoordinator.
    pub advertised_host: String,
    /// Port given to clients.
    pub advertised_port: i32,
    /// Producer id allocator for InitProducerId.
    pub producer_ids: Arc<ProducerIds>,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: FetchSessions,
    /// Consumer groups and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Transactional ids and their transactions.
    pub txn: Arc<TxnCoordinator>,
}

impl Broker {
    /// The hosted partition `index` of `topic` (through the replica layer), if any.
    pub fn partition_of(&self, topic: &TopicImage, index: i32) -> Option<Arc<Partition>> {
        self.replicas.partition(&topic.id, index)
    }
}
