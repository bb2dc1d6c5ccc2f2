//! One hosted partition (Kafka's `Partition`): its local log and leader-epoch cache, the leader
//! epoch it is served under, the high watermark, the log end offset and the in-sync replica set.
//!
//! This is the only code that appends to or reads from a [`Log`]: the Produce and Fetch paths,
//! the coordinators, retention, the cleaner and the flusher all call the methods below, which
//! take the log lock for as long as one storage call needs and never across an `.await`.
//!
//! Replication (Kafka's `Partition` leader and follower roles): the metadata log says who
//! leads at which leader epoch and which replicas are in sync ([`Partition::set_placement`]).
//! As leader, the partition tracks each follower's log end offset from its fetches
//! ([`Partition::follower_fetched`]) and keeps the high watermark at the smallest log end
//! offset of the in-sync replicas (of the larger of the committed set and a change proposed
//! but not yet committed: Kafka's "maximal ISR", so that a replica about to join has every
//! acknowledged record), only ever moving it up. It proposes ISR changes itself (through the
//! replication module above) and says which followers fell behind for `replica.lag.time.max.ms`
//! ([`Partition::lagging_followers`]). As follower, it appends what the leader's log holds
//! byte for byte ([`Partition::append_as_follower`]), takes the leader's high watermark capped
//! at its own log end, and truncates where its log diverges ([`Partition::truncate_to`]).
//! Readers are capped at the high watermark (read_uncommitted) or the last stable offset
//! (read_committed), as in Kafka; followers read up to the log end.
//!
//! Leader epochs: each time this node takes leadership ([`Partition::make_leader`]) the epoch
//! and the log end offset at that moment are recorded in the `leader-epoch-checkpoint` file
//! ([`LeaderEpochCache`]), appends stamp the current epoch on every batch, and
//! OffsetForLeaderEpoch is answered from the cache.
//!
//! Locking: `log` (a std `RwLock`: reads share, appends exclude), then `epochs`; the
//! group-commit state is taken before the log. Conditions that requests wait for are the
//! [`WatchList`]s `appended` (new data or a moved high watermark) and `durable` (an fsync
//! finished).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{iter_headers, BatchHeader};
use minikafka_storage::{
    AbortedTxn, AppendInfo, CleanStats, DeletedSegment, FileSlice, LeaderEpochCache, Log,
    LogConfig, ProducerSnapshotEntry, StorageError, SyncJob, TxnMarker,
};
use tracing::info;
use uuid::Uuid;

use super::group_commit::GroupCommit;
use super::log_dir::LogDir;
use super::purgatory::{DelayedOperation, WatchList};
use super::stats::ReplicationCounters;

/// Test hook run at the start of every append to a partition (as leader or follower), on the thread doing the append
/// and under the partition's write lock: it may block, to hold an append in progress.
pub type AppendHook = Arc<dyn Fn() + Send + Sync>;

/// The partition's [`AppendHook`], if one is installed.
#[derive(Default)]
struct AppendHookSlot(Mutex<Option<AppendHook>>);

impl std::fmt::Debug for AppendHookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = unpoison(self.0.lock()).is_some();
        f.debug_tuple("AppendHookSlot").field(&set).finish()
    }
}

/// Who is appending: a client's Produce, or a coordinator writing its own records (Kafka's
/// `AppendOrigin`). Coordinator appends skip the idempotence sequence check, as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's record set.
    Client,
    /// The group or transaction coordinator.
    Coordinator,
}

/// Fetch isolation (Kafka's `FetchIsolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the log end offset: a follower's fetch.
    LogEnd,
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset, with the aborted transactions that overlap the answer.
    ReadCommitted,
}

impl Isolation {
    /// From the wire's `isolation_level` (1 = read_committed).
    pub fn from_level(level: i8) -> Isolation {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// What one read of a partition found ([`Partition::read`]).
#[derive(Debug)]
pub struct LogReadResult {
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Last stable offset at the time of the read.
    pub last_stable_offset: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Whole batches in a segment file; `None` when there are none to return.
    pub records: Option<FileSlice>,
    /// read_committed only: the aborted transactions overlapping the returned batches.
    pub aborted: Vec<AbortedTxn>,
}

/// What the leader knows of one follower (Kafka's `Replica` state).
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// Its log end offset (the offset of its last fetch); -1 until it fetches at this epoch.
    log_end_offset: i64,
    /// Its log start offset (as its last fetch gave it).
    log_start_offset: i64,
    /// When it was last caught up with the leader's log end (ms, wall clock).
    last_caught_up_ms: i64,
    /// When it last fetched, and the leader's log end offset then.
    last_fetch_ms: i64,
    last_fetch_leader_end: i64,
}

/// The partition's placement and, as leader, its followers (one lock).
#[derive(Debug, Default)]
struct ReplicaSet {
    /// The leader as this node knows it (-1: none); this node when it leads.
    leader: i32,
    /// Every replica, the preferred leader first (from the metadata log).
    replicas: Vec<i32>,
    /// The in-sync replicas committed in the metadata log.
    isr: Vec<i32>,
    /// The partition epoch of that placement.
    partition_epoch: i32,
    /// An ISR change proposed at `partition_epoch` and not yet committed.
    pending: Option<Vec<i32>>,
    /// Leader only: the followers' states.
    followers: std::collections::HashMap<i32, FollowerState>,
    /// Leader only: the log end offset when it took leadership at the current epoch.
    leader_epoch_start: i64,
}

impl ReplicaSet {
    /// The committed ISR joined with a pending change (Kafka's maximal ISR).
    fn maximal_isr(&self) -> Vec<i32> {
        let mut all = self.isr.clone();
        if let Some(p) = &self.pending {
            all.extend(p.iter().filter(|r| !self.isr.contains(r)));
        }
        all
    }
}

/// What the leader learned from one follower fetch ([`Partition::follower_fetched`]).
#[derive(Debug, Default)]
pub struct FollowerFetch {
    /// The high watermark moved: delayed produces and fetches were woken.
    pub high_watermark_moved: bool,
    /// The follower caught up and should join the ISR: the new ISR to propose and the partition
    /// epoch it is based on.
    pub expand: Option<(Vec<i32>, i32)>,
}

/// An in-sync follower a consumer could read from (Kafka's `ReplicaView`), from
/// [`Partition::read_replicas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadReplica {
    /// Its broker id.
    pub id: i32,
    /// Its log end offset as its last fetch gave it.
    pub log_end_offset: i64,
    /// Milliseconds since it was last caught up with the leader.
    pub since_caught_up_ms: i64,
}

/// A leader's view of its replication, for [`super::ReplicationStats`].
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaderReplicationState {
    pub(super) replicas: usize,
    pub(super) isr: usize,
    pub(super) min_isr: usize,
    pub(super) max_follower_lag: i64,
}

/// The placement the metadata log gives a partition.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The leader (-1: none).
    pub leader: i32,
    /// Replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Partition epoch.
    pub partition_epoch: i32,
}

/// One partition hosted by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic name (for logs).
    pub topic: String,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// This node's id.
    node_id: i32,
    /// The local log; readers share, appenders exclude.
    log: RwLock<Log>,
    /// Epoch → start offset history, persisted; taken after `log`.
    epochs: Mutex<LeaderEpochCache>,
    /// The epoch this partition is led under (stamped on appended batches).
    leader_epoch: AtomicI32,
    /// Offsets below it are replicated to every in-sync replica.
    high_watermark: AtomicI64,
    /// The log end offset, kept with every append and truncation (read without the log lock).
    log_end: AtomicI64,
    /// Placement, ISR and (as leader) the followers' progress; taken after `log`.
    replica_set: Mutex<ReplicaSet>,
    /// When this node last took leadership (ms, wall clock).
    led_since_ms: AtomicI64,
    /// The topic's `min.insync.replicas` (kept with the log config).
    min_isr: AtomicI32,
    /// This node leads the partition (at `leader_epoch`).
    leading: AtomicBool,
    /// Delayed fetches waiting for data, delayed produces waiting for the high watermark.
    appended: WatchList,
    /// Requests waiting for an fsync round to finish (group commit).
    durable: WatchList,
    /// Set when the topic is deleted; appends and reads are refused afterwards.
    deleted: AtomicBool,
    /// Shares fsyncs among concurrent requests that need this log durable.
    group_commit: GroupCommit,
    /// The log directory: an I/O error here takes it offline, and then nothing is served.
    /// Replaced (under the log's write lock) when the replica moves to another directory.
    log_dir: RwLock<Arc<LogDir>>,
    /// Counts moves to another directory: a clean planned on the old log is not committed.
    moves: AtomicU64,
    /// Counts truncations: a move whose copy began before one is abandoned (its copy may hold
    /// records the log no longer has).
    truncations: AtomicU64,
    /// See [`AppendHook`].
    append_hook: AppendHookSlot,
    /// The broker's ISR change counters.
    counters: Arc<ReplicationCounters>,
}

/// Whether `a` and `b` hold the same replica ids, in whatever order.
fn same_members(a: &[i32], b: &[i32]) -> bool {
    a.len() == b.len() && a.iter().all(|r| b.contains(r))
}

fn unpoison<T>(r: Result<T, PoisonError<T>>) -> T {
    r.unwrap_or_else(PoisonError::into_inner)
}

impl Partition {
    /// Open (recovering if `clean` is false) the log in `dir` and its leader-epoch cache.
    /// A partition written before the cache existed gets one with its data under epoch 0. The
    /// partition is not led until [`Partition::make_leader`]. Blocking file I/O.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        config: LogConfig,
        clean: bool,
        node_id: i32,
        log_dir: Arc<LogDir>,
        counters: Arc<ReplicationCounters>,
    ) -> Result<Partition, StorageError> {
        let min_isr = config.min_insync_replicas;
        let log = Log::open(dir, config, clean)?;
        let start = log.log_start_offset();
        let end = log.log_end_offset();
        let epochs = match LeaderEpochCache::load(dir)? {
            Some(mut c) => {
                // Entries past the log end are gone (a crash lost the tail they started in). An
                // epoch that started exactly at the log end stays: it is why the next start
                // leads at a newer epoch even when nothing was written in between.
                // On a full disk the cache is changed in memory only (see `resume_writes`).
                let what = "leader-epoch checkpoint write";
                log_dir.tolerate_full_at_start(what, c.truncate_from_end(end.saturating_add(1)))?;
                log_dir.tolerate_full_at_start(what, c.truncate_from_start(start))?;
                c
            }
            None => {
                let mut c = LeaderEpochCache::empty(dir);
                if end > start {
                    info!(
                        topic,
                        partition = index,
                        log_start_offset = start,
                        "no leader-epoch checkpoint: existing data is epoch 0"
                    );
                    let assigned = c.assign(0, start);
                    log_dir.tolerate_full_at_start("leader-epoch checkpoint write", assigned)?;
                }
                c
            }
        };
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            node_id,
            // Nothing is known to be replicated until this node leads (alone in the ISR: the
            // log end) or hears from its leader or followers; a restarted replica must not
            // expose records the others may not have.
            high_watermark: AtomicI64::new(start),
            log: RwLock::new(log),
            epochs: Mutex::new(epochs),
            leader_epoch: AtomicI32::new(-1),
            replica_set: Mutex::new(ReplicaSet {
                leader: -1,
                ..ReplicaSet::default()
            }),
            leading: AtomicBool::new(false),
            log_end: AtomicI64::new(end),
            led_since_ms: AtomicI64::new(0),
            min_isr: AtomicI32::new(min_isr),
            appended: WatchList::default(),
            durable: WatchList::default(),
            deleted: AtomicBool::new(false),
            group_commit: GroupCommit::default(),
            log_dir: RwLock::new(log_dir),
            moves: AtomicU64::new(0),
            truncations: AtomicU64::new(0),
            append_hook: AppendHookSlot::default(),
            counters,
        })
    }

    fn read_log(&self) -> RwLockReadGuard<'_, Log> {
        unpoison(self.log.read())
    }

    fn write_log(&self) -> RwLockWriteGuard<'_, Log> {
        unpoison(self.log.write())
    }

    fn epochs(&self) -> MutexGuard<'_, LeaderEpochCache> {
        unpoison(self.epochs.lock())
    }

    /// The epoch this node would lead under next: one past the newest it has recorded (0 for a
    /// new partition).
    pub fn next_leader_epoch(&self) -> i32 {
        self.epochs()
            .latest_epoch()
            .map_or(0, |e| e.saturating_add(1))
    }

    /// Take leadership at `epoch`: record it as starting at the log end offset, make this node
    /// the only in-sync replica and the high watermark the log end offset. Blocking (writes the
    /// checkpoint).
    pub fn make_leader(&self, epoch: i32) -> Result<(), StorageError> {
        self.lead(epoch, false)
    }

    /// [`Partition::make_leader`] for an existing log at start-up: on a full disk the epoch is
    /// taken in memory only and the log directory becomes read-only (nothing is appended under
    /// the unrecorded epoch until [`Partition::resume_writes`] records it, once space frees).
    pub(crate) fn make_leader_at_start(&self, epoch: i32) -> Result<(), StorageError> {
        self.lead(epoch, true)
    }

    fn lead(&self, epoch: i32, at_start: bool) -> Result<(), StorageError> {
        let log = self.write_log();
        let end = log.log_end_offset();
        let assigned = self.epochs().assign(epoch, end);
        let what = "leader-epoch checkpoint write";
        if at_start {
            self.log_dir().tolerate_full_at_start(what, assigned)?;
        } else {
            self.log_dir().guard(what, assigned)?;
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        {
            let mut rs = self.replica_set();
            rs.leader = self.node_id;
            if rs.replicas.is_empty() {
                // Until the metadata's placement is applied: this node alone.
                rs.replicas = vec![self.node_id];
                rs.isr = vec![self.node_id];
            }
            rs.followers.clear();
            rs.leader_epoch_start = end;
            self.led_since_ms
                .store(crate::clock::now_ms(), Ordering::Release);
            self.leading.store(true, Ordering::Release);
            // A new leader keeps the high watermark it had (never below what it knew) until the
            // followers' fetches move it; alone in the ISR it is the log end at once.
            if rs.isr.len() <= 1 && rs.pending.is_none() {
                self.high_watermark.store(end, Ordering::Release);
            } else {
                self.high_watermark.fetch_min(end, Ordering::AcqRel);
            }
        }
        drop(log);
        info!(topic = %self.topic, partition = self.index, leader_epoch = epoch, log_end_offset = end, "leading partition");
        self.appended.check_and_complete();
        Ok(())
    }

    fn replica_set(&self) -> MutexGuard<'_, ReplicaSet> {
        unpoison(self.replica_set.lock())
    }

    /// Whether this node leads the partition.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// The leader as this node knows it (-1: none).
    pub fn leader(&self) -> i32 {
        self.replica_set().leader
    }

    /// [`StorageError::NotLeader`] unless this node leads the partition and it is not deleted
    /// (checked under the log's write lock by every leader append).
    fn check_leading(&self) -> Result<(), StorageError> {
        // A deleted partition (its topic, or this replica reassigned away) leads nothing.
        if self.is_leader() && !self.is_deleted() {
            Ok(())
        } else {
            Err(StorageError::NotLeader(format!(
                "{}-{}",
                self.topic, self.index
            )))
        }
    }

    /// Follow `leader` (-1: none known) at `epoch`: stop leading, forget the followers. Returns
    /// whether anything changed (a new leader or epoch: the replica fetcher starts over with a
    /// truncation). Nothing is written: a follower's leader-epoch history comes from the batches
    /// it copies.
    pub fn make_follower(&self, leader: i32, epoch: i32) -> bool {
        // Under the log's write lock: no leader append is half done when the role changes.
        let log = self.write_log();
        let mut rs = self.replica_set();
        let was_leading = self.leading.swap(false, Ordering::AcqRel);
        let changed = was_leading || rs.leader != leader || self.leader_epoch() != epoch;
        rs.leader = leader;
        rs.followers.clear();
        rs.pending = None;
        self.leader_epoch.store(epoch, Ordering::Release);
        drop(rs);
        drop(log);
        if changed {
            info!(topic = %self.topic, partition = self.index, leader, leader_epoch = epoch, "following partition");
            // Waiting produces and fetches find out they are no longer served here.
            self.appended.check_and_complete();
        }
        changed
    }

    /// Apply the metadata log's replicas and ISR (leader and epoch are taken by
    /// [`Partition::make_leader`] / [`Partition::make_follower`]). A pending ISR change ends when
    /// the partition epoch moves (it was committed, or overtaken and will be skipped).
    pub fn set_placement(&self, placement: &Placement) {
        let mut rs = self.replica_set();
        if rs.partition_epoch != placement.partition_epoch {
            // A change this leader proposed is committed: count it (Kafka marks IsrShrinksPerSec
            // and IsrExpandsPerSec once its AlterPartition succeeds).
            let own = self.is_leader()
                && rs
                    .pending
                    .as_ref()
                    .is_some_and(|p| same_members(p, &placement.isr));
            if own {
                match placement.isr.len().cmp(&rs.isr.len()) {
                    std::cmp::Ordering::Less => self.counters.isr_shrunk(),
                    std::cmp::Ordering::Greater => self.counters.isr_expanded(),
                    std::cmp::Ordering::Equal => {}
                }
            }
            rs.pending = None;
        }
        if rs.isr != placement.isr {
            info!(topic = %self.topic, partition = self.index, isr = ?placement.isr,
                partition_epoch = placement.partition_epoch, "in-sync replicas");
        }
        rs.replicas = placement.replicas.clone();
        rs.isr = placement.isr.clone();
        rs.partition_epoch = placement.partition_epoch;
        let node = self.node_id;
        rs.followers
            .retain(|id, _| placement.replicas.contains(id) && *id != node);
        if self.is_leader() {
            let moved = self.maybe_increment_high_watermark_locked(&rs);
            drop(rs);
            if moved {
                self.appended.check_and_complete();
            }
        }
    }

    /// Forget a proposed ISR change that was not committed (refused by the controller).
    pub fn clear_pending_isr(&self, based_on: i32) {
        let mut rs = self.replica_set();
        if rs.partition_epoch == based_on {
            rs.pending = None;
        }
    }

    /// Record an ISR change proposed at partition epoch `based_on`; false if the placement moved
    /// on meanwhile or another change is pending.
    pub fn propose_isr(&self, isr: &[i32], based_on: i32) -> bool {
        let mut rs = self.replica_set();
        if rs.partition_epoch != based_on || rs.pending.is_some() || !self.is_leader() {
            return false;
        }
        rs.pending = Some(isr.to_vec());
        true
    }

    /// The placement this node applied: (leader, leader epoch, partition epoch, ISR).
    pub fn placement(&self) -> (i32, i32, i32, Vec<i32>) {
        let rs = self.replica_set();
        (
            rs.leader,
            self.leader_epoch(),
            rs.partition_epoch,
            rs.isr.clone(),
        )
    }

    /// Leader: the high watermark is the smallest log end offset of the maximal ISR (never
    /// moving back). Returns whether it moved. Called with the replica set locked.
    fn maybe_increment_high_watermark_locked(&self, rs: &ReplicaSet) -> bool {
        let own = self.read_log_end_unlocked();
        let mut hw = own;
        for r in rs.maximal_isr() {
            if r == self.node_id {
                continue;
            }
            let leo = rs.followers.get(&r).map_or(-1, |f| f.log_end_offset);
            if leo < 0 {
                // An in-sync follower not heard from at this epoch holds the watermark.
                return false;
            }
            hw = hw.min(leo);
        }
        self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw
    }

    /// The log end offset without taking the log lock (tracked after every append and
    /// truncation).
    fn read_log_end_unlocked(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    /// Leader: a follower fetched from `fetch_offset` (its log end offset) at `now_ms` (Kafka's
    /// `updateFollowerFetchState`): record it, move the high watermark, and say whether the
    /// follower should join the ISR (it reached the high watermark and this epoch's start).
    pub fn follower_fetched(
        &self,
        replica: i32,
        fetch_offset: i64,
        log_start_offset: i64,
        now_ms: i64,
    ) -> FollowerFetch {
        let mut out = FollowerFetch::default();
        if !self.is_leader() || replica == self.node_id {
            return out;
        }
        let mut rs = self.replica_set();
        if !rs.replicas.contains(&replica) {
            return out;
        }
        let leader_end = self.read_log_end_unlocked();
        let f = rs.followers.entry(replica).or_insert(FollowerState {
            log_end_offset: -1,
            log_start_offset: -1,
            last_caught_up_ms: 0,
            last_fetch_ms: now_ms,
            last_fetch_leader_end: leader_end,
        });
        if fetch_offset >= leader_end {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_end {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset.min(leader_end);
        f.log_start_offset = log_start_offset;
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_end = leader_end;
        let leo = f.log_end_offset;
        out.high_watermark_moved = self.maybe_increment_high_watermark_locked(&rs);
        let hw = self.high_watermark();
        if !rs.isr.contains(&replica)
            && rs.pending.is_none()
            && leo >= hw
            && leo >= rs.leader_epoch_start
        {
            let mut isr = rs.isr.clone();
            isr.push(replica);
            out.expand = Some((isr, rs.partition_epoch));
        }
        drop(rs);
        if out.high_watermark_moved {
            self.appended.check_and_complete();
        }
        out
    }

    /// Leader: the in-sync followers that hold `fetch_offset` (their log start at or below it,
    /// their log end at or past it: Kafka's `findPreferredReadReplica` candidates), and this
    /// leader's log end offset. `None` when this node does not lead. One replica-set lock.
    pub fn read_replicas(&self, fetch_offset: i64, now_ms: i64) -> Option<(i64, Vec<ReadReplica>)> {
        if !self.is_leader() {
            return None;
        }
        let rs = self.replica_set();
        let candidates = rs
            .isr
            .iter()
            .filter(|&&r| r != self.node_id)
            .filter_map(|r| {
                let f = rs.followers.get(r)?;
                (f.log_end_offset >= fetch_offset
                    && f.log_start_offset >= 0
                    && f.log_start_offset <= fetch_offset)
                    .then(|| ReadReplica {
                        id: *r,
                        log_end_offset: f.log_end_offset,
                        since_caught_up_ms: now_ms.saturating_sub(f.last_caught_up_ms),
                    })
            })
            .collect();
        drop(rs);
        Some((self.read_log_end_unlocked(), candidates))
    }

    /// Leader: replicas, ISR and `min.insync.replicas` counts and the largest follower lag in
    /// messages (followers not heard from at this epoch are left out); `None` when not leading.
    pub(super) fn leader_replication_state(&self) -> Option<LeaderReplicationState> {
        if !self.is_leader() {
            return None;
        }
        let rs = self.replica_set();
        let end = self.read_log_end_unlocked();
        let max_follower_lag = rs
            .followers
            .values()
            .filter(|f| f.log_end_offset >= 0)
            .map(|f| end.saturating_sub(f.log_end_offset).max(0))
            .max()
            .unwrap_or(0);
        Some(LeaderReplicationState {
            replicas: rs.replicas.len(),
            isr: rs.isr.len(),
            min_isr: usize::try_from(self.min_isr.load(Ordering::Acquire)).unwrap_or(0),
            max_follower_lag,
        })
    }

    /// Leader: the ISR without the followers that have not caught up within `lag_ms` (Kafka's
    /// `getOutOfSyncReplicas`), with the partition epoch it is based on; `None` when all are in
    /// sync or a change is pending.
    pub fn lagging_followers(&self, now_ms: i64, lag_ms: i64) -> Option<(Vec<i32>, Vec<i32>, i32)> {
        if !self.is_leader() {
            return None;
        }
        let rs = self.replica_set();
        if rs.pending.is_some() {
            return None;
        }
        let leader_end = self.read_log_end_unlocked();
        let out: Vec<i32> = rs
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.node_id)
            .filter(|r| match rs.followers.get(r) {
                // Not heard from since this node took leadership: lagging once `lag_ms` passed
                // since then (the entry is created at its first fetch).
                None => now_ms.saturating_sub(self.led_since_ms.load(Ordering::Acquire)) > lag_ms,
                Some(f) => {
                    f.log_end_offset < leader_end
                        && now_ms.saturating_sub(f.last_caught_up_ms) > lag_ms
                }
            })
            .collect();
        if out.is_empty() {
            return None;
        }
        let keep: Vec<i32> = rs
            .isr
            .iter()
            .copied()
            .filter(|r| !out.contains(r))
            .collect();
        Some((keep, out, rs.partition_epoch))
    }

    /// Follower: take the leader's high watermark, capped at the own log end offset.
    pub fn follower_high_watermark(&self, leader_hw: i64) {
        let end = self.read_log_end_unlocked();
        let hw = leader_hw.min(end);
        if self.high_watermark.fetch_max(hw, Ordering::AcqRel) < hw {
            self.appended.check_and_complete();
        }
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Whether broker `id` is one of this partition's replicas other than this node (a follower
    /// that may fetch from it as a replica).
    pub fn has_follower(&self, id: i32) -> bool {
        id != self.node_id && self.replica_set().replicas.contains(&id)
    }

    /// The in-sync replicas (committed).
    pub fn isr(&self) -> Vec<i32> {
        self.replica_set().isr.clone()
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Total size of the partition's `.log` files in bytes (DescribeLogDirs).
    pub fn size_bytes(&self) -> u64 {
        self.read_log().size_bytes()
    }

    /// The log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    /// The last stable offset: the first offset of an open transaction, capped at the high
    /// watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.read_log()
            .last_stable_offset()
            .min(self.high_watermark())
    }

    /// The offset below which everything is fsynced.
    pub fn flushed_offset(&self) -> i64 {
        self.read_log().flushed_offset()
    }

    /// Check a request's `current_leader_epoch` (-1: not given) against ours, as Kafka's
    /// `Partition.checkCurrentLeaderEpoch`: older → FENCED_LEADER_EPOCH, newer →
    /// UNKNOWN_LEADER_EPOCH. A partition whose log directory is offline is not served at any
    /// epoch: KAFKA_STORAGE_ERROR (Kafka's `getPartitionOrException` checks that first).
    pub fn check_leader_epoch(&self, current: i32) -> Result<(), ResponseError> {
        if self.log_dir().is_offline() {
            return Err(ResponseError::KafkaStorageError);
        }
        let ours = self.leader_epoch();
        if current == -1 || current == ours {
            Ok(())
        } else if current < ours {
            Err(ResponseError::FencedLeaderEpoch)
        } else {
            Err(ResponseError::UnknownLeaderEpoch)
        }
    }

    /// After a leader append: note the new log end; the high watermark follows it at once when
    /// this node is the only in-sync replica, else when the followers fetch it.
    fn maybe_increment_high_watermark(&self, log: &Log) {
        self.log_end.store(log.log_end_offset(), Ordering::Release);
        let rs = self.replica_set();
        self.maybe_increment_high_watermark_locked(&rs);
    }

    /// Validate and append a record set as leader under the current epoch. Wakes delayed
    /// fetches. Blocking file I/O and CPU work (validation decompresses compressed batches):
    /// call it from the blocking pool ([`super::on_blocking_pool`]).
    pub fn append_as_leader(
        &self,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let mut log = self.write_log();
        let hook = unpoison(self.append_hook.0.lock()).clone();
        if let Some(hook) = hook {
            hook();
        }
        self.log_dir().check_writable()?;
        self.check_leading()?;
        let epoch = self.leader_epoch();
        let segments = log.segment_count();
        let info = self.log_dir().guard(
            "append",
            match origin {
                AppendOrigin::Client => log.append(records, epoch, now_ms),
                AppendOrigin::Coordinator => log.append_from_coordinator(records, epoch, now_ms),
            },
        )?;
        self.maybe_increment_high_watermark(&log);
        self.note_roll(&log, segments);
        drop(log);
        if !info.duplicate {
            self.appended.check_and_complete();
        }
        Ok(info)
    }

    /// Write a transaction marker as leader (see [`Log::append_txn_marker`]). Wakes delayed
    /// fetches. Blocking file I/O.
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        marker: TxnMarker,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let mut log = self.write_log();
        self.log_dir().check_writable()?;
        self.check_leading()?;
        let segments = log.segment_count();
        let info = self.log_dir().guard(
            "append",
            log.append_txn_marker(
                producer_id,
                producer_epoch,
                coordinator_epoch,
                marker,
                self.leader_epoch(),
                now_ms,
            ),
        )?;
        self.maybe_increment_high_watermark(&log);
        self.note_roll(&log, segments);
        drop(log);
        self.appended.check_and_complete();
        Ok(info)
    }

    /// Follower: append the whole batches of `records` (a fetch answer's records; a partial
    /// batch at the end is left for the next fetch) exactly as the leader stored them
    /// ([`Log::append_as_follower`]); a batch of a newer leader epoch starts that epoch in the
    /// leader-epoch cache. `None` when no whole batch was there. Blocking file I/O.
    pub fn append_as_follower(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<Option<AppendInfo>, StorageError> {
        let mut whole = 0usize;
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        for item in iter_headers(records) {
            let (at, h) = item?;
            whole = at + h.size();
            if epochs
                .last()
                .is_none_or(|(e, _)| h.partition_leader_epoch > *e)
            {
                epochs.push((h.partition_leader_epoch, h.base_offset));
            }
        }
        if whole == 0 {
            return Ok(None);
        }
        let mut log = self.write_log();
        let hook = unpoison(self.append_hook.0.lock()).clone();
        if let Some(hook) = hook {
            hook();
        }
        self.check_not_deleted()?;
        self.log_dir().check_writable()?;
        let segments = log.segment_count();
        let info = self
            .log_dir()
            .guard("append", log.append_as_follower(&records[..whole], now_ms))?;
        {
            let mut cache = self.epochs();
            for (epoch, start) in epochs {
                if cache.latest_epoch().is_none_or(|latest| epoch > latest) {
                    self.log_dir()
                        .guard("leader-epoch checkpoint write", cache.assign(epoch, start))?;
                }
            }
        }
        self.log_end.store(log.log_end_offset(), Ordering::Release);
        self.note_roll(&log, segments);
        drop(log);
        self.appended.check_and_complete();
        Ok(Some(info))
    }

    /// Follower: cut the log back to `offset` where it diverges from the leader's (nothing
    /// if it ends there already); the leader-epoch cache and the high watermark follow.
    /// Blocking file I/O.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut log = self.write_log();
        self.check_not_deleted()?;
        self.log_dir().check_writable()?;
        let before = log.log_end_offset();
        if offset >= before {
            return Ok(());
        }
        self.log_dir().guard("truncate", log.truncate_to(offset))?;
        self.after_truncation(&log, before)
    }

    /// Follower: drop the whole log and start it empty at `offset` (the leader's log start is
    /// past this log's end, or this log's offsets are out of the leader's range). Blocking.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), StorageError> {
        let mut log = self.write_log();
        self.check_not_deleted()?;
        self.log_dir().check_writable()?;
        let before = log.log_end_offset();
        self.log_dir()
            .guard("truncate", log.truncate_fully_and_start_at(offset))?;
        let truncated = self.epochs().truncate_from_start(offset);
        self.log_dir()
            .guard("leader-epoch checkpoint write", truncated)?;
        self.after_truncation(&log, before)
    }

    fn after_truncation(&self, log: &Log, before: i64) -> Result<(), StorageError> {
        self.truncations.fetch_add(1, Ordering::AcqRel);
        let end = log.log_end_offset();
        let cut = self.epochs().truncate_from_end(end);
        self.log_dir().guard("leader-epoch checkpoint write", cut)?;
        self.log_end.store(end, Ordering::Release);
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        info!(topic = %self.topic, partition = self.index, from = before, to = end,
            log_start_offset = log.log_start_offset(), "truncated replica to the leader's log");
        Ok(())
    }

    /// Follower: the leader's log start moved up (retention, DeleteRecords): follow it.
    /// Blocking.
    pub fn follow_log_start(&self, leader_start: i64) -> Result<(), StorageError> {
        if leader_start <= self.log_start_offset() {
            return Ok(());
        }
        let (_, start) = self.advance_log_start_offset(leader_start)?;
        tracing::debug!(topic = %self.topic, partition = self.index, log_start_offset = start, "followed the leader's log start");
        Ok(())
    }

    /// The latest leader epoch in this log's history (`None`: empty history).
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs().latest_epoch()
    }

    /// Read whole batches from `offset`, at most `max_bytes` (at least one batch if `min_one`),
    /// up to the high watermark or, read_committed, the last stable offset. The records are
    /// located, not read ([`Log::read_slice`]). `&self`, positional reads under the read lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        isolation: Isolation,
    ) -> Result<LogReadResult, StorageError> {
        self.log_dir().check()?;
        let log = self.read_log();
        let hw = self.high_watermark();
        let lso = log.last_stable_offset().min(hw);
        let max_offset = match isolation {
            Isolation::LogEnd => log.log_end_offset(),
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso,
        };
        let read = log.read_slice(offset, max_bytes, min_one, max_offset)?;
        let aborted = match (isolation, read.next_offset) {
            (Isolation::ReadCommitted, Some(end)) => log.aborted_transactions(offset, end)?,
            _ => Vec::new(),
        };
        Ok(LogReadResult {
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log.log_start_offset(),
            records: read.records,
            aborted,
        })
    }

    /// ListOffsets for one partition (Kafka's `fetchOffsetForTimestamp`): the offset (and its
    /// timestamp and leader epoch) for `timestamp`, which is a time or one of Kafka's special
    /// values (-1 latest, -2 earliest, -3 max timestamp, -4 earliest local). A lookup by time
    /// finds nothing at or past the last offset the isolation level may fetch. `None`: no such
    /// offset.
    pub fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
        isolation: Isolation,
    ) -> Result<Option<(i64, i64, i32)>, StorageError> {
        const LATEST: i64 = -1;
        const EARLIEST: i64 = -2;
        const MAX_TIMESTAMP: i64 = -3;
        const EARLIEST_LOCAL: i64 = -4;
        self.log_dir().check()?;
        let log = self.read_log();
        let hw = self.high_watermark();
        let fetchable = match isolation {
            Isolation::LogEnd => log.log_end_offset(),
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => log.last_stable_offset().min(hw),
        };
        let found = match timestamp {
            LATEST => Some((fetchable, -1)),
            EARLIEST | EARLIEST_LOCAL => Some((log.log_start_offset(), -1)),
            MAX_TIMESTAMP => log
                .max_timestamp()?
                .filter(|(offset, _)| *offset < fetchable),
            ts if ts >= 0 => log
                .offset_for_timestamp(ts)?
                .filter(|(offset, _)| *offset < fetchable),
            _ => None,
        };
        drop(log);
        Ok(found.map(|(offset, ts)| {
            // Kafka: the latest offset carries the current leader epoch, any other the epoch
            // it was written under.
            let epoch = if timestamp == LATEST {
                self.leader_epoch()
            } else {
                self.epochs().epoch_for_offset(offset).unwrap_or(-1)
            };
            (offset, ts, epoch)
        }))
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `requested` and its end offset
    /// ([`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let log = self.read_log();
        let end = log.log_end_offset();
        let r = self.epochs().end_offset_for(requested, end);
        drop(log);
        r
    }

    /// The idempotent producers tracked (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerSnapshotEntry> {
        self.read_log().producers()
    }

    /// Drop producers idle past `expiration_ms`; returns how many.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.write_log().expire_producers(now_ms, expiration_ms)
    }

    /// The log's config.
    pub fn log_config(&self) -> LogConfig {
        self.read_log().config().clone()
    }

    /// Apply a changed topic config.
    pub fn set_log_config(&self, config: LogConfig) {
        self.min_isr
            .store(config.min_insync_replicas, Ordering::Release);
        self.write_log().set_config(config);
    }

    /// Fewer in-sync replicas than the topic's `min.insync.replicas` (acks=all is refused).
    pub fn below_min_isr(&self) -> bool {
        let isr = self.replica_set().isr.len();
        i32::try_from(isr).unwrap_or(i32::MAX) < self.min_isr.load(Ordering::Acquire)
    }

    /// Roll the active segment if `segment.ms` passed, then apply retention; the leader-epoch
    /// cache follows a moved log start. Returns the deleted segments. Blocking file I/O.
    pub fn roll_and_retain(
        &self,
        now_ms: i64,
    ) -> Result<Vec<DeletedSegment>, (StorageError, &'static str)> {
        let mut log = self.write_log();
        let dir = self.log_dir();
        if dir.check_writable().is_err() {
            // Offline or read-only: nothing may change on disk (the cause was logged once).
            return Ok(Vec::new());
        }
        let segments = log.segment_count();
        dir.guard("segment roll", log.maybe_roll(now_ms))
            .map_err(|e| (e, "segment roll"))?;
        self.note_roll(&log, segments);
        let deleted = dir
            .guard("retention", log.enforce_retention(now_ms))
            .map_err(|e| (e, "retention"))?;
        if !deleted.is_empty() {
            let truncated = self.epochs().truncate_from_start(log.log_start_offset());
            dir.guard("leader-epoch checkpoint write", truncated)
                .map_err(|e| (e, "leader-epoch checkpoint"))?;
        }
        Ok(deleted)
    }

    /// DeleteRecords: move the log start offset up to `offset` (clamped to the high watermark
    /// by the caller). Returns the deleted segments and the new start. Blocking.
    pub fn advance_log_start_offset(
        &self,
        offset: i64,
    ) -> Result<(Vec<DeletedSegment>, i64), StorageError> {
        let mut log = self.write_log();
        self.log_dir().check_writable()?;
        // After an unclean shutdown the log may end below a recorded start: clamp.
        let offset = offset.min(log.log_end_offset());
        let deleted = self
            .log_dir()
            .guard("log start offset", log.advance_log_start_offset(offset))?;
        let start = log.log_start_offset();
        let truncated = self.epochs().truncate_from_start(start);
        self.log_dir()
            .guard("leader-epoch checkpoint write", truncated)?;
        Ok((deleted, start))
    }

    /// At start, apply the log start offset persisted in the log-start checkpoint. A read-only
    /// directory (full disk) takes it in memory only: reads answer from it, and the segments
    /// below it and the leader-epoch checkpoint wait for [`Partition::resume_writes`]. Blocking.
    pub(crate) fn restore_log_start_offset(&self, offset: i64) -> Result<(), StorageError> {
        if !self.log_dir().is_read_only() {
            return self.advance_log_start_offset(offset).map(|_| ());
        }
        let mut log = self.write_log();
        let offset = offset.min(log.log_end_offset());
        if log.raise_log_start_offset(offset)? {
            self.epochs()
                .truncate_from_start_in_memory(log.log_start_offset());
        }
        Ok(())
    }

    /// Start-up: the high watermark from the checkpoint, within `[log start, log end]`; never
    /// lowered (a partition already leading alone has its log end).
    pub(crate) fn restore_high_watermark(&self, offset: i64) {
        let log = self.read_log();
        let hw = offset.clamp(log.log_start_offset(), log.log_end_offset());
        self.high_watermark.fetch_max(hw, Ordering::AcqRel);
    }

    /// The directory takes writes again after a read-only start: write what was kept in memory
    /// (the leader-epoch checkpoint, the segments below a restored log start offset). Blocking.
    pub(crate) fn resume_writes(&self) -> Result<(), StorageError> {
        let mut log = self.write_log();
        let deleted = log.delete_segments_below_log_start()?;
        for d in deleted {
            info!(topic = %self.topic, partition = self.index, base_offset = d.base_offset, size = d.size, "deleted segment below the log start offset");
        }
        self.epochs().flush()
    }

    /// Whether the time-based flusher should fsync now (`flush.ms` passed with unflushed data).
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let log = self.read_log();
        let flush_ms = log.config().flush_ms;
        flush_ms != i64::MAX
            && log.unflushed_messages() > 0
            && now_ms.saturating_sub(log.last_flush_ms()) >= flush_ms
    }

    /// Whether the cleaner should look at this log.
    pub fn is_compacted(&self) -> bool {
        self.read_log().config().cleanup_policy.compact
    }

    /// One clean: plan under the read lock, run without a lock, commit under the write lock.
    /// `None` when nothing is cleanable, the log directory is offline or the topic was deleted
    /// meanwhile. The key map holds at most `dedupe_buffer_size` bytes
    /// (`log.cleaner.dedupe.buffer.size`). Blocking.
    pub fn clean(
        &self,
        now_ms: i64,
        dedupe_buffer_size: usize,
    ) -> Result<Option<CleanStats>, StorageError> {
        if self.log_dir().check_writable().is_err() {
            return Ok(None);
        }
        let moves = self.moves.load(Ordering::Acquire);
        let Some(plan) = self.read_log().plan_clean(now_ms)? else {
            return Ok(None);
        };
        let cleaned = self.log_dir().guard(
            "log clean",
            plan.with_dedupe_buffer_size(dedupe_buffer_size).run(),
        )?;
        if self.is_deleted() {
            cleaned.discard();
            return Ok(None);
        }
        let mut log = self.write_log();
        if self.moves.load(Ordering::Acquire) != moves {
            // The replica moved to another directory meanwhile: the plan was of the old log.
            drop(log);
            cleaned.discard();
            return Ok(None);
        }
        let stats = self
            .log_dir()
            .guard("log clean", log.commit_clean(cleaned))?;
        Ok(Some(stats))
    }

    /// Call `f` with the header and bytes of every whole batch, oldest first (the coordinators'
    /// replay of their internal topics at start). Blocking; holds the read lock.
    pub fn for_each_batch(
        &self,
        mut f: impl FnMut(&BatchHeader, &[u8]),
    ) -> Result<(), StorageError> {
        self.log_dir().check()?;
        let log = self.read_log();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let read = log.read(offset, 1 << 20, true)?;
            let mut next = offset;
            for item in iter_headers(&read.records) {
                let (at, h) = item?;
                next = h.next_offset();
                f(&h, &read.records[at..at + h.size()]);
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(())
    }

    /// Flush and fsync the log (clean shutdown). Blocking. Refused when the log directory is
    /// offline (a retried fsync proves nothing) or read-only.
    pub fn close(&self) -> Result<(), StorageError> {
        let mut log = self.write_log();
        self.log_dir().check_writable()?;
        self.log_dir()
            .guard("flush at shutdown", log.close_in_place())
    }

    /// Mark the partition deleted (its topic is gone, or this replica was reassigned away), stop
    /// leading it, and remove its files by renaming the directory to `trash_name` first. Wakes
    /// waiters so they see it. Blocking.
    pub(crate) fn delete_files(&self, trash_name: &str) -> std::io::Result<()> {
        self.deleted.store(true, Ordering::Release);
        let log = self.write_log();
        // It leads nothing any more: waiting acks=all produces end now with
        // NOT_LEADER_OR_FOLLOWER instead of their timeout (no follower fetches here again).
        self.leading.store(false, Ordering::Release);
        let dir = log.dir().to_path_buf();
        let trash = dir.with_file_name(trash_name);
        let res = std::fs::rename(&dir, &trash).and_then(|()| std::fs::remove_dir_all(&trash));
        drop(log);
        self.appended.check_and_complete();
        res
    }

    /// [`StorageError::NotLeader`] once the partition is deleted (its topic, or this replica
    /// reassigned away): a replica fetcher's late answer must not write into removed files (a
    /// failed write there would take the log directory offline). Checked under the log lock.
    fn check_not_deleted(&self) -> Result<(), StorageError> {
        if self.is_deleted() {
            return Err(StorageError::NotLeader(format!(
                "{}-{} (deleted)",
                self.topic, self.index
            )));
        }
        Ok(())
    }

    /// Whether the topic was deleted while this handle was held.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Register a delayed operation to be woken by the next append (or a moved high watermark).
    pub fn watch_appended(&self, op: &DelayedOperation) {
        op.watch(&self.appended);
    }

    /// Register a delayed operation to be woken when an fsync round finishes.
    pub(super) fn watch_durable(&self, op: &DelayedOperation) {
        op.watch(&self.durable);
    }

    /// An fsync round finished (or was abandoned): wake the requests waiting for one.
    pub(super) fn durable_changed(&self) {
        self.durable.check_and_complete();
    }

    /// The partition's group-commit state.
    pub(super) fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// The next fsync to run, if anything is unflushed (group commit driver).
    pub(super) fn sync_job(&self) -> Option<SyncJob> {
        self.read_log().sync_job()
    }

    /// Record a finished fsync (group commit driver).
    pub(super) fn mark_flushed(&self, offset: i64, now_ms: i64) {
        self.write_log().mark_flushed(offset, now_ms);
    }

    /// Start a future replica (AlterReplicaLogDirs): empty `future` so that it begins where the
    /// first batch of this log does (at or below the log start offset). Returns the truncation
    /// count to hand to [`Partition::swap_in_future`]. Blocking.
    pub(crate) fn start_future(&self, future: &mut Log) -> Result<u64, StorageError> {
        let log = self.read_log();
        let truncations = self.truncations.load(Ordering::Acquire);
        let start = log.log_start_offset();
        let first = log.read_slice(start, 1, true, i64::MAX)?;
        let base = match first.records {
            Some(slice) => {
                let bytes = slice.read()?;
                let first = iter_headers(&bytes).next().transpose()?;
                first.map_or(start, |(_, h)| h.base_offset)
            }
            None => start,
        };
        drop(log);
        future.truncate_fully_and_start_at(base)?;
        Ok(truncations)
    }

    /// Copy whole batches from this log into `future`, byte for byte from `future`'s log end,
    /// at most about `budget` bytes (Kafka's `ReplicaAlterLogDirsThread`, one fetch). Returns
    /// whether `future` has caught up with this log's end. Holds the read lock for the read
    /// only; appends go on meanwhile. Blocking.
    pub(crate) fn copy_to_future(
        &self,
        future: &mut Log,
        budget: usize,
    ) -> Result<bool, StorageError> {
        let from = future.log_end_offset();
        let bytes = {
            let log = self.read_log();
            if from >= log.log_end_offset() {
                return Ok(true);
            }
            match log.read_slice(from, budget, true, i64::MAX)?.records {
                Some(slice) => slice.read()?,
                None => return Ok(true),
            }
        };
        future.append_as_follower(&bytes, crate::clock::now_ms())?;
        Ok(future.log_end_offset() >= self.log_end_offset())
    }

    /// Finish a move (Kafka's `replaceCurrentWithFutureLog`): under the write lock (appends
    /// wait, briefly) copy what was appended since the last [`Partition::copy_to_future`],
    /// flush and close `future`, rename its directory to `final_dir`, give it the
    /// leader-epoch checkpoint, `partition.metadata` and log start offset of the current log,
    /// reopen it and serve from it in `dest`. Returns the old log's directory, which the caller
    /// removes. Refused when the log was truncated since [`Partition::start_future`] returned
    /// `truncations` (a follower cut back to its leader's log). Blocking.
    pub(crate) fn swap_in_future(
        &self,
        mut future: Log,
        truncations: u64,
        dest: Arc<LogDir>,
        final_dir: &Path,
    ) -> Result<std::path::PathBuf, StorageError> {
        let mut log = self.write_log();
        if self.is_deleted() {
            return Err(StorageError::Io(std::io::Error::other("topic deleted")));
        }
        if self.truncations.load(Ordering::Acquire) != truncations {
            return Err(StorageError::Io(std::io::Error::other(
                "the log was truncated during the move; move it again",
            )));
        }
        while future.log_end_offset() < log.log_end_offset() {
            let from = future.log_end_offset();
            let Some(slice) = log.read_slice(from, 1 << 20, true, i64::MAX)?.records else {
                break;
            };
            future.append_as_follower(&slice.read()?, crate::clock::now_ms())?;
        }
        let future_dir = future.dir().to_path_buf();
        future.close_in_place()?;
        drop(future);
        let old_dir = log.dir().to_path_buf();
        for name in [
            minikafka_storage::leader_epoch::LEADER_EPOCH_CHECKPOINT,
            "partition.metadata",
        ] {
            let from = old_dir.join(name);
            if from.exists() {
                let copied =
                    crate::meta::write_atomically(&future_dir.join(name), &std::fs::read(&from)?);
                dest.guard_io("future replica checkpoint copy", copied)?;
            }
        }
        let renamed = std::fs::rename(&future_dir, final_dir)
            .and_then(|()| crate::meta::sync_dir(dest.path()));
        dest.guard_io("future replica rename", renamed)?;
        let mut moved = dest.guard(
            "reopen moved log",
            Log::open(final_dir, log.config().clone(), true),
        )?;
        let start = log.log_start_offset();
        if moved.log_start_offset() < start {
            dest.guard("log start offset", moved.advance_log_start_offset(start))?;
        }
        let epochs = LeaderEpochCache::load(final_dir)?
            .unwrap_or_else(|| LeaderEpochCache::empty(final_dir));
        *log = moved;
        *self.epochs() = epochs;
        *unpoison(self.log_dir.write()) = dest;
        self.moves.fetch_add(1, Ordering::AcqRel);
        drop(log);
        Ok(old_dir)
    }

    /// The partition's log directory.
    pub fn log_dir(&self) -> Arc<LogDir> {
        unpoison(self.log_dir.read()).clone()
    }

    /// The base offset of the active segment: every segment below it is closed.
    pub fn active_segment_base(&self) -> i64 {
        self.read_log()
            .segments()
            .last()
            .map_or(0, minikafka_storage::segment::Segment::base_offset)
    }

    /// A write under the log lock added a segment (a roll): have the closed one fsynced in the
    /// background (Kafka flushes a rolled segment asynchronously).
    fn note_roll(&self, log: &Log, segments_before: usize) {
        if log.segment_count() > segments_before {
            self.log_dir().segment_rolled();
        }
    }

    /// fsyncs of this partition's log started by the group commit so far (produce, offset and
    /// transaction acknowledgements, `flush.ms`); not those of shutdown or deletion. For tests
    /// and diagnostics.
    pub fn fsync_count(&self) -> u64 {
        self.group_commit.fsync_count()
    }

    /// Test hook: run `hook` at the start of each append to this partition, under its write
    /// lock (`None` removes it). See [`AppendHook`].
    #[doc(hidden)]
    pub fn set_append_hook(&self, hook: Option<AppendHook>) {
        *unpoison(self.append_hook.0.lock()) = hook;
    }

    /// Test hook: run `hook` on the blocking thread before each group-commit fsync of this
    /// partition (`None` removes it). See [`super::FsyncHook`].
    #[doc(hidden)]
    pub fn set_fsync_hook(&self, hook: Option<super::FsyncHook>) {
        self.group_commit.set_hook(hook);
    }
}
