//! Which partitions of a coordinator's internal topic (`__consumer_offsets`,
//! `__transaction_state`) this node holds the state of: Kafka's coordinator runtime loads a
//! partition's state when its leadership moves here (`onElection`) and drops it when it moves
//! away (`onResignation`). Shared by the group and transaction coordinators, which supply how to
//! load and unload one partition.
//!
//! A coordinator answers for a key only while it leads the key's partition and has loaded it:
//! NOT_COORDINATOR when another broker leads it, COORDINATOR_LOAD_IN_PROGRESS while loading. A
//! partition that is empty (just created) counts as loaded at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kafka_protocol::error::ResponseError;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::replica::{Partition, ReplicaManager};
use crate::topics::{TopicError, Topics};

/// The loaded partitions of one internal topic.
#[derive(Debug)]
pub(crate) struct LoadedPartitions {
    topic: &'static str,
    set: Mutex<HashSet<i32>>,
}

fn empty(p: &Partition) -> bool {
    p.log_end_offset() == p.log_start_offset()
}

impl LoadedPartitions {
    /// None loaded yet, of `topic`.
    pub(crate) fn new(topic: &'static str) -> LoadedPartitions {
        LoadedPartitions {
            topic,
            set: Mutex::new(HashSet::new()),
        }
    }

    /// The set, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashSet<i32>> {
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this node coordinates a key whose partition is `index_of(partition count)`:
    /// see the module docs. The topic not existing yet is fine (the first write creates it).
    pub(crate) fn check(
        &self,
        topics: &Topics,
        replicas: &ReplicaManager,
        node: i32,
        index_of: impl FnOnce(i32) -> i32,
    ) -> Result<(), ResponseError> {
        let Some(t) = topics.get(self.topic) else {
            return Ok(());
        };
        let index = index_of(t.partition_count());
        match t.partition(index) {
            Some(p) if p.leader == node => {}
            _ => return Err(ResponseError::NotCoordinator),
        }
        if self.lock().contains(&index) {
            return Ok(());
        }
        match replicas.partition(&t.id, index) {
            Some(p) if p.is_leader() && empty(&p) => {
                self.lock().insert(index);
                Ok(())
            }
            _ => Err(ResponseError::CoordinatorLoadInProgress),
        }
    }

    /// After this node created the topic: its empty partitions led here are loaded (nothing to
    /// replay; what the coordinator holds in memory is all there is).
    pub(crate) fn take_new(&self, replicas: &ReplicaManager, topic_id: &uuid::Uuid) {
        let new = replicas
            .partitions_of(topic_id)
            .into_iter()
            .filter(|p| p.is_leader() && empty(p))
            .map(|p| p.index);
        self.lock().extend(new);
    }

    /// One pass: `unload` each loaded partition no longer led here, `load` each led one not
    /// loaded (which marks it loaded). Blocking (loads replay logs).
    pub(crate) fn sync(
        &self,
        topics: &Topics,
        replicas: &ReplicaManager,
        mut unload: impl FnMut(i32),
        mut load: impl FnMut(&Arc<Partition>) -> Result<(), TopicError>,
    ) -> Result<(), TopicError> {
        let Some(topic) = topics.get(self.topic) else {
            return Ok(());
        };
        let hosted = replicas.partitions_of(&topic.id);
        let loaded: HashSet<i32> = self.lock().clone();
        for index in &loaded {
            if !hosted.iter().any(|p| p.index == *index && p.is_leader()) {
                unload(*index);
            }
        }
        for p in hosted
            .iter()
            .filter(|p| p.is_leader() && !loaded.contains(&p.index))
        {
            load(p)?;
        }
        Ok(())
    }

    /// Run `pass` (a [`LoadedPartitions::sync`]) on the blocking pool now and after every image
    /// `topics` publishes, until `stop`.
    pub(crate) async fn follow(
        &self,
        topics: &Topics,
        stop: CancellationToken,
        pass: impl Fn() -> Result<(), TopicError> + Send + Sync + 'static,
    ) {
        let pass = Arc::new(pass);
        let mut changes = topics.subscribe();
        loop {
            let run = pass.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || run()).await {
                warn!(topic = self.topic, error = %e, "cannot load a coordinator partition; retrying at the next change");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}
