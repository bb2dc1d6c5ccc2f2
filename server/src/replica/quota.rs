//! Replication throttles (Kafka's `ReplicationQuotaManager`, KIP-73): bound the bytes per second
//! that moving replicas take, so that `kafka-reassign-partitions --throttle` can move data
//! without starving producers and consumers.
//!
//! Three quotas per broker, each a rate measured over `replication.quota.window.num` samples of
//! `replication.quota.window.size.seconds`, bounded by a dynamic broker config (unbounded by
//! default):
//! - leader (`leader.replication.throttled.rate`): a leader answering a follower's fetch leaves
//!   out the records of a partition its topic's `leader.replication.throttled.replicas` names
//!   for this broker, while that follower is out of sync and the rate is over the bound;
//! - follower (`follower.replication.throttled.rate`): a follower leaves out of its fetches a
//!   partition its topic's `follower.replication.throttled.replicas` names for this broker while
//!   this replica is out of sync and the rate is over the bound;
//! - alter log dirs (`replica.alter.log.dirs.io.max.bytes.per.second`): a replica moving to
//!   another log directory is copied no faster.
//!
//! In-sync replicas are never throttled (as in Kafka): the throttle slows catching up, never the
//! acknowledgement of acks=all produces. The bound is read from the metadata image whenever a new
//! one is published ([`ReplicationQuotas::configure`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::info;

use crate::config::properties::throttled_replicas;
use crate::metadata::{MetadataImage, TopicImage};

/// The leader's, follower's and log-dir mover's quotas of one broker.
#[derive(Debug)]
pub struct ReplicationQuotas {
    /// `leader.replication.throttled.rate`.
    pub leader: RateQuota,
    /// `follower.replication.throttled.rate`.
    pub follower: RateQuota,
    /// `replica.alter.log.dirs.io.max.bytes.per.second`.
    pub alter_log_dirs: RateQuota,
}

impl Default for ReplicationQuotas {
    fn default() -> ReplicationQuotas {
        ReplicationQuotas {
            leader: RateQuota::new("leader.replication.throttled.rate"),
            follower: RateQuota::new("follower.replication.throttled.rate"),
            alter_log_dirs: RateQuota::new("replica.alter.log.dirs.io.max.bytes.per.second"),
        }
    }
}

impl ReplicationQuotas {
    /// Use `samples` samples of `window` each to measure the rates (`replication.quota.window.*`).
    pub fn set_windows(&self, samples: u32, window: Duration) {
        for q in [&self.leader, &self.follower, &self.alter_log_dirs] {
            let mut s = q.lock();
            s.samples = u64::from(samples.max(1));
            s.window_ms = u64::try_from(window.as_millis()).unwrap_or(1000).max(1);
            s.buckets.clear();
        }
    }

    /// Take the bounds of broker `node` from `image`'s dynamic broker configs (its own, else
    /// the cluster default; unset: unbounded).
    pub fn configure(&self, image: &MetadataImage, node: i32) {
        for q in [&self.leader, &self.follower, &self.alter_log_dirs] {
            let bound = image
                .dynamic_broker_config(node, q.name)
                .and_then(|(v, _)| v.trim().parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            if q.bound.swap(bound, Ordering::AcqRel) != bound {
                info!(
                    broker = node,
                    quota = q.name,
                    bytes_per_second = bound,
                    "replication throttle changed (u64::MAX: none)"
                );
            }
        }
    }
}

/// Whether `topic`'s throttled replica list `config` (`leader.replication.throttled.replicas` or
/// `follower.replication.throttled.replicas`) names the replica of `partition` on `broker`.
pub fn names_replica(topic: &TopicImage, config: &str, partition: i32, broker: i32) -> bool {
    topic
        .config
        .overrides
        .get(config)
        .and_then(|v| throttled_replicas(v))
        .is_some_and(|list| list.contains(partition, broker))
}

/// One byte rate bounded by a dynamic config.
#[derive(Debug)]
pub struct RateQuota {
    /// The dynamic broker config that bounds it.
    name: &'static str,
    /// Bytes per second; `u64::MAX`: unbounded.
    bound: AtomicU64,
    /// Times a replica was held back by it (for the logs and the tests).
    throttled: AtomicU64,
    started: Instant,
    state: Mutex<Samples>,
}

#[derive(Debug)]
struct Samples {
    samples: u64,
    window_ms: u64,
    /// `(window index since start, bytes)`, oldest first.
    buckets: VecDeque<(u64, u64)>,
    /// When "throttled" was last logged (at most every 10 s).
    logged: Option<Instant>,
}

impl RateQuota {
    fn new(name: &'static str) -> RateQuota {
        RateQuota {
            name,
            bound: AtomicU64::new(u64::MAX),
            throttled: AtomicU64::new(0),
            started: Instant::now(),
            state: Mutex::new(Samples {
                samples: 11,
                window_ms: 1000,
                buckets: VecDeque::new(),
                logged: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a bound is set at all (cheap: one atomic load).
    pub fn bounded(&self) -> bool {
        self.bound.load(Ordering::Acquire) != u64::MAX
    }

    /// Times a replica was held back by this quota.
    pub fn throttled_count(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Count `bytes` of throttled replication.
    pub fn record(&self, bytes: u64) {
        if bytes == 0 || !self.bounded() {
            return;
        }
        let now = self.now_ms();
        let mut s = self.lock();
        let index = now / s.window_ms;
        match s.buckets.back_mut() {
            Some((i, b)) if *i == index => *b = b.saturating_add(bytes),
            _ => s.buckets.push_back((index, bytes)),
        }
        let samples = s.samples;
        while s
            .buckets
            .front()
            .is_some_and(|(i, _)| index.saturating_sub(*i) >= samples)
        {
            s.buckets.pop_front();
        }
    }

    /// Whether the measured rate is over the bound (Kafka's `Rate` over the samples: the bytes
    /// of the kept samples over the time since the oldest one started, at least all samples but
    /// one). When it is, the caller holds a replica back; that is counted and logged (at most
    /// every 10 s).
    pub fn exceeded(&self) -> bool {
        let bound = self.bound.load(Ordering::Acquire);
        if bound == u64::MAX {
            return false;
        }
        let now = self.now_ms();
        let mut s = self.lock();
        let index = now / s.window_ms;
        let samples = s.samples;
        let kept = s
            .buckets
            .iter()
            .filter(|(i, _)| index.saturating_sub(*i) < samples);
        let (mut total, mut oldest) = (0u64, index);
        for (i, b) in kept {
            total = total.saturating_add(*b);
            oldest = oldest.min(*i);
        }
        let min_elapsed = (samples - 1).max(1) * s.window_ms;
        let elapsed = now.saturating_sub(oldest * s.window_ms).max(min_elapsed);
        let rate = u128::from(total) * 1000 / u128::from(elapsed);
        let over = rate > u128::from(bound);
        if over {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            if s.logged
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
            {
                s.logged = Some(Instant::now());
                info!(
                    quota = self.name,
                    bytes_per_second = bound,
                    measured = u64::try_from(rate).unwrap_or(u64::MAX),
                    "replication throttled: holding back out-of-sync replicas"
                );
            }
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_never_throttles_and_a_bound_does_once_passed() {
        let q = RateQuota::new("leader.replication.throttled.rate");
        q.record(10_000_000);
        assert!(!q.exceeded(), "no bound set");
        q.bound.store(1000, Ordering::Release);
        {
            let mut s = q.lock();
            s.samples = 2;
            s.window_ms = 1000;
        }
        // 1500 bytes over at least one second is over 1000 bytes/s.
        q.record(500);
        assert!(!q.exceeded(), "500 bytes in the first second");
        q.record(1000);
        assert!(q.exceeded());
        assert_eq!(q.throttled_count(), 1);
    }
}
