//! Replication counters and gauges (Kafka's `UnderReplicatedPartitions`, `UnderMinIsrPartitionCount`,
//! `AtMinIsrPartitionCount`, `OfflinePartitionsCount`, `IsrShrinksPerSec`, `IsrExpandsPerSec` and
//! the replica fetchers' `MaxLag`), kept here for the operations side to expose (issue 13).
//!
//! It exists so that the counts come from the one place that knows them, the replica layer, and
//! cost nothing on the data path: the two ISR counters are atomics bumped only when an ISR
//! change this node proposed as leader is applied from the metadata log; every gauge is computed
//! on demand ([`super::ReplicaManager::replication_stats`]) by one pass over the hosted
//! partitions, each read under its replica-set lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Broker-wide ISR change counters, shared by every hosted partition.
#[derive(Debug, Default)]
pub struct ReplicationCounters {
    isr_shrinks: AtomicU64,
    isr_expands: AtomicU64,
}

impl ReplicationCounters {
    /// A shrink proposed by this node as leader was committed and applied.
    pub(super) fn isr_shrunk(&self) {
        self.isr_shrinks.fetch_add(1, Ordering::Relaxed);
    }

    /// An expansion proposed by this node as leader was committed and applied.
    pub(super) fn isr_expanded(&self) {
        self.isr_expands.fetch_add(1, Ordering::Relaxed);
    }

    /// ISR shrinks so far (since start).
    pub fn isr_shrinks(&self) -> u64 {
        self.isr_shrinks.load(Ordering::Relaxed)
    }

    /// ISR expansions so far (since start).
    pub fn isr_expands(&self) -> u64 {
        self.isr_expands.load(Ordering::Relaxed)
    }
}

/// One snapshot of the replication gauges and counters of this broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    /// Partitions led here whose ISR is smaller than their replica set.
    pub under_replicated_partitions: usize,
    /// Partitions led here with fewer in-sync replicas than `min.insync.replicas`.
    pub under_min_isr_partitions: usize,
    /// Partitions led here with exactly `min.insync.replicas` in-sync replicas.
    pub at_min_isr_partitions: usize,
    /// Partitions without a leader (-1) in the metadata image, every topic's, as the controller
    /// sees them; filled in by the layer that reads the image (`Broker::replication_stats`), 0
    /// from [`super::ReplicaManager::replication_stats`] alone.
    pub offline_partitions: usize,
    /// ISR shrinks committed as leader since start.
    pub isr_shrinks: u64,
    /// ISR expansions committed as leader since start.
    pub isr_expands: u64,
    /// The largest lag, in messages, of a follower behind this leader's log end offset, over
    /// the partitions led here and their followers heard from at the current leader epoch.
    pub max_follower_lag: i64,
}
