//! The transaction coordinator (Kafka's `TransactionCoordinator` + `TransactionStateManager`), for producers with
//! a `transactional.id`.
//!
//! - State: one `TxnMeta` per transactional id (producer id and epoch, timeout, status, the partitions of the
//!   open transaction), written to the compacted internal topic `__transaction_state` (Kafka's record schemas,
//!   `records`) before any answer depends on it, and rebuilt by replaying that topic at start. A transactional id
//!   lives on partition `abs(javaHash(id)) % transaction.state.log.num.partitions`, like a group; the coordinator
//!   of an id is the leader of that partition (on a single node, this broker).
//! - APIs: InitProducerId (epoch bump, zombie fencing, KIP-360 expected producer id/epoch), AddPartitionsToTxn
//!   (client form v0-3 and the batched v4+ form with `verify_only`), AddOffsetsToTxn, EndTxn, and the checks a
//!   transactional produce or TxnOffsetCommit goes through first (KIP-890 part 1: the partition must be in the
//!   open transaction of that producer id and epoch).
//! - Ending a transaction: the status goes to PrepareCommit/PrepareAbort (written), then a COMMIT/ABORT control
//!   marker is appended to every partition of the transaction (through the same `Log` append path as produce;
//!   `__consumer_offsets` partitions go through the group coordinator, which also makes the transaction's offsets
//!   visible or drops them), then CompleteCommit/CompleteAbort is written. EndTxn answers after all of it. If a
//!   marker cannot be written the status stays Prepare*, clients get CONCURRENT_TRANSACTIONS, and the periodic
//!   `TxnCoordinator::tick` retries; a transaction found in Prepare* when the broker starts is completed the
//!   same way.
//! - Timeouts: `tick` aborts transactions open for longer than their timeout, after bumping the producer epoch so
//!   that the abandoned producer is fenced on every partition (the markers carry the new epoch), and forgets ids
//!   idle for `transactional.id.expiration.ms`.
//!
//! Transaction version: minikafka does not advertise the `transaction.version` feature, so clients use
//! transactions V1 (explicit AddPartitionsToTxn, no epoch bump per transaction), as with a Kafka 3.x broker.
//!
//! Lock order: the coordinator's state lock is taken before a partition's log lock and before the group
//! coordinator's lock; neither of those ever calls back into this module while held.

pub(crate) mod records;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{
    check_records, visit_records, BatchBuilder, Record, DEFAULT_DECOMPRESSED_LIMIT,
};
use minikafka_storage::TxnMarker;
use tracing::{debug, error, info, warn};

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::group::{partition_for, GroupCoordinator, OFFSETS_TOPIC};
use crate::metadata::TopicImage;
use crate::producer_ids::ProducerIds;
use crate::replica::{sync_partition, AppendOrigin, Partition, ReplicaManager};
use crate::topics::{TopicError, Topics};
use records::{TxnLogValue, TxnStatus};

/// Name of the internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";
/// Coordinator epoch written into markers. A single node never changes coordinator, so it stays 0 (Kafka uses the
/// leader epoch of the `__transaction_state` partition).
const COORDINATOR_EPOCH: i32 = 0;
/// The finalized `transaction.version` feature level: 0, as minikafka does not advertise the feature. It picks
/// the `TransactionLogValue` version written (v0), as in Kafka.
const TRANSACTION_VERSION_LEVEL: i16 = 0;
/// An epoch at which the producer id must be rotated instead of bumped (Kafka's `isEpochExhausted`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TxnMeta {
    /// Current producer id.
    pub(crate) producer_id: i64,
    /// The id before the last rotation (-1 = none).
    pub(crate) previous_producer_id: i64,
    /// Current epoch (-1 right after the id was created).
    pub(crate) producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub(crate) timeout_ms: i32,
    /// Transaction status.
    pub(crate) status: TxnStatus,
    /// Partitions of the open (or ending) transaction.
    pub(crate) partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (-1 = none).
    pub(crate) start_ms: i64,
    /// Last change.
    pub(crate) last_update_ms: i64,
}

impl TxnMeta {
    fn to_value(&self) -> TxnLogValue {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.partitions {
            by_topic.entry(t.clone()).or_default().push(*p);
        }
        TxnLogValue {
            producer_id: self.producer_id,
            // Value v0 (transactions V1) has no field for it: kept in memory only, as Kafka does at v0.
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: self.producer_epoch,
            next_producer_epoch: -1,
            timeout_ms: self.timeout_ms,
            status: self.status,
            partitions: by_topic.into_iter().collect(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
            client_transaction_version: 0,
        }
    }

    fn from_value(v: &TxnLogValue) -> TxnMeta {
        TxnMeta {
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            timeout_ms: v.timeout_ms,
            status: v.status,
            partitions: v
                .partitions
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                .collect(),
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
        }
    }
}

/// Coordinator state behind one lock.
#[derive(Debug, Default)]
struct State {
    txns: HashMap<String, TxnMeta>,
    /// producer id → transactional id, for the produce-side checks.
    by_producer: HashMap<i64, String>,
}

impl State {
    fn put(&mut self, id: &str, meta: TxnMeta) {
        if let Some(old) = self.txns.get(id) {
            if old.producer_id != meta.producer_id {
                self.by_producer.remove(&old.producer_id);
            }
        }
        self.by_producer.insert(meta.producer_id, id.to_string());
        self.txns.insert(id.to_string(), meta);
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.txns.remove(id) {
            self.by_producer.remove(&old.producer_id);
        }
    }
}

/// One row of ListTransactions.
#[derive(Debug, Clone)]
pub(crate) struct TxnListing {
    pub(crate) transactional_id: String,
    pub(crate) producer_id: i64,
    pub(crate) state: TxnStatus,
}

/// Partitions whose appends must be fsynced before the answer (flush.messages reached).
type ToSync = Vec<Arc<Partition>>;

/// The transaction coordinator of this broker.
#[derive(Debug)]
pub struct TxnCoordinator {
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    producer_ids: Arc<ProducerIds>,
    groups: Arc<GroupCoordinator>,
    state: Mutex<State>,
}

fn storage_failure(e: &TopicError) -> ResponseError {
    match e {
        TopicError::Unknown => ResponseError::UnknownTopicOrPartition,
        _ => ResponseError::KafkaStorageError,
    }
}

impl TxnCoordinator {
    /// Rebuild every transactional id by replaying `__transaction_state` (blocking), then finish the transactions
    /// that were preparing to commit or abort when the broker stopped.
    pub fn load(
        topics: Arc<Topics>,
        replicas: Arc<ReplicaManager>,
        config: Arc<BrokerConfig>,
        producer_ids: Arc<ProducerIds>,
        groups: Arc<GroupCoordinator>,
    ) -> Result<Self, TopicError> {
        let c = TxnCoordinator {
            topics,
            replicas,
            config,
            producer_ids,
            groups,
            state: Mutex::new(State::default()),
        };
        if let Some(topic) = c.topics.get(TXN_TOPIC) {
            let started = std::time::Instant::now();
            let mut loaded: HashMap<String, TxnMeta> = HashMap::new();
            for p in c.replicas.partitions_of(&topic.id) {
                replay_partition(&p, &mut loaded)?;
            }
            let mut st = c.lock();
            for (id, meta) in loaded {
                st.put(&id, meta);
            }
            let (count, pending) = (
                st.txns.len(),
                st.txns
                    .values()
                    .filter(|m| {
                        matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort)
                    })
                    .count(),
            );
            drop(st);
            info!(
                transactional_ids = count,
                preparing = pending,
                elapsed_ms = started.elapsed().as_millis(),
                "loaded transaction state from __transaction_state"
            );
            // Flushes are not awaited here (no runtime yet); the data is in the page cache and the next
            // flush or the clean shutdown writes it out.
            let _ = c.complete_pending(now_ms());
        }
        Ok(c)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Create `__transaction_state` if it does not exist yet (blocking), as Kafka does on the first
    /// FindCoordinator for a transactional id.
    pub fn ensure_state_topic(&self) -> Result<Arc<TopicImage>, TopicError> {
        self.topics.ensure_internal(
            TXN_TOPIC,
            self.config.transaction_state_num_partitions,
            self.config.transaction_state_segment_bytes,
        )
    }

    /// Write the state of `id` (`None` = tombstone) to its `__transaction_state` partition.
    fn persist(
        &self,
        id: &str,
        meta: Option<&TxnMeta>,
        sync: &mut ToSync,
    ) -> Result<(), ResponseError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            error!(transactional_id = id, error = %e, "cannot {what} __transaction_state");
            ResponseError::CoordinatorNotAvailable
        };
        let key = records::encode_key(id).map_err(|e| fail("encode a record of", &e))?;
        let value = match meta {
            Some(m) => Some(
                records::encode_value(
                    &m.to_value(),
                    records::value_version_for(TRANSACTION_VERSION_LEVEL),
                )
                .map_err(|e| fail("encode a record of", &e))?,
            ),
            None => None,
        };
        let topic = self.ensure_state_topic().map_err(|e| fail("create", &e))?;
        let p = self
            .replicas
            .partition(&topic.id, partition_for(id, topic.partition_count()))
            .ok_or_else(|| fail("find the partition of", &"no such partition"))?;
        let now = now_ms();
        let record = Record {
            offset: 0,
            timestamp: now,
            key: Some(Bytes::from(key)),
            value: value.map(Bytes::from),
            headers: Vec::new(),
        };
        let batch = BatchBuilder::new(0, now)
            .build(std::slice::from_ref(&record))
            .map_err(|e| fail("build a batch for", &e))?;
        let info = p
            .append_as_leader(&batch, AppendOrigin::Coordinator, now)
            .map_err(|e| fail("append to", &e))?;
        if info.needs_flush {
            sync.push(p);
        }
        Ok(())
    }

    /// fsync what an operation wrote, before it is acknowledged.
    async fn sync(partitions: ToSync) -> Result<(), ResponseError> {
        let mut seen: Vec<(String, i32)> = Vec::new();
        for p in partitions {
            let key = (p.topic.clone(), p.index);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let Err(e) = sync_partition(&p).await {
                error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed; transaction step not acknowledged");
                // As Kafka's transaction state manager maps KAFKA_STORAGE_ERROR.
                return Err(ResponseError::NotCoordinator);
            }
        }
        Ok(())
    }

    /// InitProducerId with a transactional id: `(producer id, epoch)`. `expected` is the producer's current id and
    /// epoch when it asks for a bump (KIP-360, v3+).
    pub(crate) async fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.transaction_max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut sync = ToSync::new();
        let res = self.init_locked(id, timeout_ms, expected, &mut sync);
        Self::sync(sync).await?;
        res
    }

    fn new_producer_id(&self) -> Result<i64, ResponseError> {
        self.producer_ids.next().map_err(|e| {
            error!(error = %e, "cannot reserve producer ids");
            ResponseError::KafkaStorageError
        })
    }

    fn init_locked(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        sync: &mut ToSync,
    ) -> Result<(i64, i16), ResponseError> {
        let now = now_ms();
        let mut st = self.lock();
        let current = match st.txns.get(id) {
            Some(m) => m.clone(),
            None => TxnMeta {
                producer_id: self.new_producer_id()?,
                previous_producer_id: -1,
                producer_epoch: -1,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now,
            },
        };
        if let Some((pid, epoch)) = expected {
            let valid = current.producer_epoch == -1
                || pid == current.producer_id
                || (pid == current.previous_producer_id && epoch >= EPOCH_EXHAUSTED);
            if !valid {
                return Err(ResponseError::ProducerFenced);
            }
        }
        match current.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence => {
                Err(ResponseError::ConcurrentTransactions)
            }
            TxnStatus::Empty
            | TxnStatus::CompleteCommit
            | TxnStatus::CompleteAbort
            | TxnStatus::Dead => {
                let mut next = current.clone();
                if let Some((pid, epoch)) = expected {
                    // A retry whose bump we already made (the producer never saw the answer) gets the same answer.
                    if pid == current.producer_id
                        && epoch != current.producer_epoch
                        && current.producer_epoch != -1
                    {
                        if epoch.checked_add(1) == Some(current.producer_epoch)
                            && current.status == TxnStatus::Empty
                        {
                            return Ok((current.producer_id, current.producer_epoch));
                        }
                        return Err(ResponseError::ProducerFenced);
                    }
                }
                if current.producer_epoch >= EPOCH_EXHAUSTED {
                    next.previous_producer_id = current.producer_id;
                    next.producer_id = self.new_producer_id()?;
                    next.producer_epoch = 0;
                } else {
                    next.producer_epoch = current.producer_epoch + 1;
                }
                next.timeout_ms = timeout_ms;
                next.status = TxnStatus::Empty;
                next.partitions.clear();
                next.start_ms = -1;
                next.last_update_ms = now;
                self.persist(id, Some(&next), sync)?;
                let answer = (next.producer_id, next.producer_epoch);
                st.put(id, next);
                info!(
                    transactional_id = id,
                    producer_id = answer.0,
                    producer_epoch = answer.1,
                    "initialized transactional id"
                );
                Ok(answer)
            }
            TxnStatus::Ongoing => {
                // A new incarnation while a transaction is open: fence the old one by bumping the epoch and abort
                // its transaction with that epoch; the new producer retries (CONCURRENT_TRANSACTIONS) and then
                // gets an epoch bumped once more.
                info!(
                    transactional_id = id,
                    producer_id = current.producer_id,
                    producer_epoch = current.producer_epoch,
                    "fencing the previous producer: aborting its open transaction"
                );
                self.abort_with_bump(&mut st, id, current, now, sync)?;
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    /// Bump the epoch of an Ongoing transaction and abort it with the new epoch (fencing, timeout).
    fn abort_with_bump(
        &self,
        st: &mut State,
        id: &str,
        current: TxnMeta,
        now: i64,
        sync: &mut ToSync,
    ) -> Result<(), ResponseError> {
        let mut next = current;
        if next.producer_epoch < EPOCH_EXHAUSTED {
            next.producer_epoch += 1;
        }
        next.status = TxnStatus::PrepareAbort;
        next.last_update_ms = now;
        self.persist(id, Some(&next), sync)?;
        st.put(id, next);
        self.complete_locked(st, id, now, sync)
    }

    /// Check a transaction request's producer id and epoch against the coordinator's (Kafka's order of checks).
    fn check_producer(
        meta: Option<&TxnMeta>,
        pid: i64,
        epoch: i16,
    ) -> Result<&TxnMeta, ResponseError> {
        let m = meta.ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != pid {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: add partitions to the producer's transaction (starting it).
    pub(crate) async fn add_partitions(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let mut sync = ToSync::new();
        let res = (|| {
            let now = now_ms();
            let mut st = self.lock();
            let m = Self::check_producer(st.txns.get(id), pid, epoch)?;
            match m.status {
                TxnStatus::PrepareCommit
                | TxnStatus::PrepareAbort
                | TxnStatus::PrepareEpochFence => {
                    return Err(ResponseError::ConcurrentTransactions)
                }
                TxnStatus::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => {
                    return Ok(())
                }
                _ => {}
            }
            let mut next = m.clone();
            if next.status != TxnStatus::Ongoing {
                next.status = TxnStatus::Ongoing;
                next.partitions.clear();
                next.start_ms = now;
            }
            next.partitions.extend(partitions.iter().cloned());
            next.last_update_ms = now;
            self.persist(id, Some(&next), &mut sync)?;
            debug!(
                transactional_id = id,
                producer_id = pid,
                partitions = next.partitions.len(),
                "added partitions to the transaction"
            );
            st.put(id, next);
            Ok(())
        })();
        Self::sync(sync).await?;
        res
    }

    /// AddPartitionsToTxn v4+ with `verify_only`: whether each partition is in the open transaction.
    pub(crate) fn verify_partitions(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let st = self.lock();
        let m = Self::check_producer(st.txns.get(id), pid, epoch)?;
        if matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort) {
            return Err(ResponseError::ConcurrentTransactions);
        }
        Ok(partitions
            .iter()
            .map(|p| {
                if m.status == TxnStatus::Ongoing && m.partitions.contains(p) {
                    Ok(())
                } else {
                    Err(ResponseError::TransactionAbortable)
                }
            })
            .collect())
    }

    /// The check before a transactional batch of producer `pid`/`epoch` is appended to `topic`-`partition`, or
    /// before a transactional offset commit (KIP-890 part 1): the partition must be in the producer's open
    /// transaction. Errors as the coordinator gives them (callers translate for their API).
    pub(crate) fn verify_producer_partition(
        &self,
        pid: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        let st = self.lock();
        let id = st
            .by_producer
            .get(&pid)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let m = Self::check_producer(st.txns.get(id), pid, epoch)?;
        match m.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence => {
                Err(ResponseError::ConcurrentTransactions)
            }
            TxnStatus::Ongoing if m.partitions.contains(&(topic.to_string(), partition)) => Ok(()),
            _ => Err(ResponseError::TransactionAbortable),
        }
    }

    /// EndTxn: commit or abort the producer's transaction. Answers once every marker is written.
    pub(crate) async fn end_txn(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let mut sync = ToSync::new();
        let res = (|| {
            let now = now_ms();
            let mut st = self.lock();
            let m = Self::check_producer(st.txns.get(id), pid, epoch)?;
            let invalid = || {
                debug!(
                    transactional_id = id,
                    status = m.status.as_str(),
                    commit,
                    "EndTxn in an invalid state"
                );
                Err(ResponseError::InvalidTxnState)
            };
            match (m.status, commit) {
                (TxnStatus::Ongoing, _) => {}
                (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                    return Ok(())
                }
                (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                    return Err(ResponseError::ConcurrentTransactions)
                }
                _ => return invalid(),
            }
            let mut next = m.clone();
            next.status = if commit {
                TxnStatus::PrepareCommit
            } else {
                TxnStatus::PrepareAbort
            };
            next.last_update_ms = now;
            self.persist(id, Some(&next), &mut sync)?;
            st.put(id, next);
            self.complete_locked(&mut st, id, now, &mut sync)
        })();
        Self::sync(sync).await?;
        res
    }

    /// Write the markers of a transaction in PrepareCommit/PrepareAbort and move it to Complete*. On a failed
    /// marker the transaction stays in Prepare* (retried by [`TxnCoordinator::tick`]) and the caller gets
    /// CONCURRENT_TRANSACTIONS... or, for EndTxn, the storage error.
    fn complete_locked(
        &self,
        st: &mut State,
        id: &str,
        now: i64,
        sync: &mut ToSync,
    ) -> Result<(), ResponseError> {
        let Some(m) = st.txns.get(id).cloned() else {
            return Err(ResponseError::InvalidProducerIdMapping);
        };
        let commit = match m.status {
            TxnStatus::PrepareCommit => true,
            TxnStatus::PrepareAbort => false,
            _ => return Ok(()),
        };
        let marker = if commit {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        for (topic, index) in &m.partitions {
            let written = if topic == OFFSETS_TOPIC {
                self.groups
                    .complete_txn(
                        *index,
                        m.producer_id,
                        m.producer_epoch,
                        COORDINATOR_EPOCH,
                        commit,
                    )
                    .map(|p| sync.extend(p))
            } else {
                match self
                    .topics
                    .get(topic)
                    .and_then(|t| self.replicas.partition(&t.id, *index))
                {
                    Some(p) => {
                        let res = p.append_txn_marker(
                            m.producer_id,
                            m.producer_epoch,
                            COORDINATOR_EPOCH,
                            marker,
                            now,
                        );
                        match res {
                            Ok(info) => {
                                if info.needs_flush {
                                    sync.push(p);
                                }
                                Ok(())
                            }
                            Err(e) => Err(TopicError::from(e)),
                        }
                    }
                    _ => {
                        warn!(transactional_id = id, topic = %topic, partition = index,
                            "partition of the transaction no longer exists; no marker written");
                        Ok(())
                    }
                }
            };
            if let Err(e) = written {
                error!(transactional_id = id, topic = %topic, partition = index, error = %e, commit,
                    "cannot write the transaction marker; will retry");
                return Err(storage_failure(&e));
            }
        }
        let mut next = m;
        next.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        next.partitions.clear();
        next.last_update_ms = now;
        self.persist(id, Some(&next), sync)?;
        info!(
            transactional_id = id,
            producer_id = next.producer_id,
            producer_epoch = next.producer_epoch,
            status = next.status.as_str(),
            "transaction completed"
        );
        st.put(id, next);
        Ok(())
    }

    /// Finish every transaction stuck in Prepare* (after a restart or a failed marker). Returns what to fsync.
    fn complete_pending(&self, now: i64) -> ToSync {
        let mut sync = ToSync::new();
        let mut st = self.lock();
        let pending: Vec<String> = st
            .txns
            .iter()
            .filter(|(_, m)| matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort))
            .map(|(id, _)| id.clone())
            .collect();
        for id in pending {
            info!(transactional_id = %id, "completing a transaction left preparing");
            let _ = self.complete_locked(&mut st, &id, now, &mut sync);
        }
        sync
    }

    /// Periodic work: abort transactions past their timeout (after bumping the epoch), retry unfinished
    /// completions, forget transactional ids idle for `transactional.id.expiration.ms`.
    pub(crate) async fn tick(&self) {
        let now = now_ms();
        let mut sync = self.complete_pending(now);
        {
            let mut st = self.lock();
            let timed_out: Vec<(String, TxnMeta)> = st
                .txns
                .iter()
                .filter(|(_, m)| {
                    m.status == TxnStatus::Ongoing
                        && m.start_ms >= 0
                        && now.saturating_sub(m.start_ms) > i64::from(m.timeout_ms)
                })
                .map(|(id, m)| (id.clone(), m.clone()))
                .collect();
            for (id, m) in timed_out {
                info!(transactional_id = %id, producer_id = m.producer_id, producer_epoch = m.producer_epoch,
                    timeout_ms = m.timeout_ms, "aborting a transaction past its timeout");
                if let Err(e) = self.abort_with_bump(&mut st, &id, m, now, &mut sync) {
                    warn!(transactional_id = %id, error = ?e, "timed-out transaction not aborted yet; will retry");
                }
            }
            let expiration = self.config.transactional_id_expiration_ms;
            let expired: Vec<String> = st
                .txns
                .iter()
                .filter(|(_, m)| {
                    matches!(
                        m.status,
                        TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
                    ) && now.saturating_sub(m.last_update_ms) > expiration
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                if self.persist(&id, None, &mut sync).is_ok() {
                    info!(transactional_id = %id, "expired an idle transactional id");
                    st.remove(&id);
                }
            }
        }
        let _ = Self::sync(sync).await;
    }

    /// DescribeTransactions of one id.
    pub(crate) fn describe(&self, id: &str) -> Option<TxnMeta> {
        self.lock()
            .txns
            .get(id)
            .filter(|m| m.status != TxnStatus::Dead)
            .cloned()
    }

    /// ListTransactions, filtered as Kafka does (empty filter = all; `min_duration_ms` < 0 = no filter).
    pub(crate) fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Vec<TxnListing> {
        let now = now_ms();
        let st = self.lock();
        let mut out: Vec<TxnListing> = st
            .txns
            .iter()
            .filter(|(_, m)| m.status != TxnStatus::Dead)
            .filter(|(_, m)| states.is_empty() || states.iter().any(|s| s == m.status.as_str()))
            .filter(|(_, m)| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|(_, m)| {
                min_duration_ms < 0
                    || (m.status == TxnStatus::Ongoing
                        && now.saturating_sub(m.start_ms) >= min_duration_ms)
            })
            .map(|(id, m)| TxnListing {
                transactional_id: id.clone(),
                producer_id: m.producer_id,
                state: m.status,
            })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }
}

/// Apply every record of one `__transaction_state` partition, oldest first (the last value of an id wins; a
/// tombstone removes it).
fn replay_partition(
    p: &Arc<Partition>,
    out: &mut HashMap<String, TxnMeta>,
) -> Result<(), TopicError> {
    p.for_each_batch(|h, batch| {
        if h.is_control() {
            return;
        }
        // Whole or skipped, within the decompressed limit (see the group coordinator's replay).
        let applied = check_records(batch, DEFAULT_DECOMPRESSED_LIMIT).and_then(|_| {
            visit_records(batch, DEFAULT_DECOMPRESSED_LIMIT, |r| {
                apply_record(&r, p.index, out);
                ControlFlow::Continue(())
            })
        });
        if let Err(e) = applied {
            warn!(topic = "__transaction_state", partition = p.index, offset = h.base_offset, error = %e,
                "skipping an undecodable batch in __transaction_state");
        }
    })?;
    Ok(())
}

fn apply_record(r: &Record, partition: i32, out: &mut HashMap<String, TxnMeta>) {
    let Some(key) = r.key.as_deref() else {
        return;
    };
    let id = match records::decode_key(key) {
        Ok(id) => id,
        Err(e) => {
            warn!(partition, offset = r.offset, error = %e, "skipping an undecodable __transaction_state key");
            return;
        }
    };
    match r.value.as_deref() {
        None => {
            out.remove(&id);
        }
        Some(v) => match records::decode_value(v) {
            Ok(v) => {
                out.insert(id, TxnMeta::from_value(&v));
            }
            Err(e) => {
                warn!(partition, offset = r.offset, transactional_id = %id, error = %e,
                    "skipping an undecodable __transaction_state value");
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the coordinator under test is built from.
    type Parts = (
        Arc<Topics>,
        Arc<ReplicaManager>,
        Arc<BrokerConfig>,
        Arc<ProducerIds>,
        Arc<GroupCoordinator>,
    );

    fn setup(dir: &std::path::Path) -> Parts {
        let mut b = crate::config::ConfigBuilder::default();
        b.set("log.dirs", dir.to_str().unwrap()).unwrap();
        b.set("offsets.topic.num.partitions", "3").unwrap();
        b.set("transaction.state.log.num.partitions", "3").unwrap();
        let config = Arc::new(b.build().unwrap());
        let replicas = Arc::new(ReplicaManager::new(dir, config.node_id));
        let topics = Topics::load_for_tests(dir, config.clone(), replicas.clone());
        if topics.get("t").is_none() {
            topics.create("t", 1, 1, &[], &[]).unwrap();
        }
        let ids = Arc::new(ProducerIds::new(topics.quorum().clone(), config.node_id));
        let groups = Arc::new(
            GroupCoordinator::load(topics.clone(), replicas.clone(), config.clone()).unwrap(),
        );
        (topics, replicas, config, ids, groups)
    }

    /// A coordinator loaded from the parts of [`setup`] (as at a broker start).
    fn load(
        topics: &Arc<Topics>,
        replicas: &Arc<ReplicaManager>,
        config: &Arc<BrokerConfig>,
        ids: &Arc<ProducerIds>,
        groups: &Arc<GroupCoordinator>,
    ) -> TxnCoordinator {
        TxnCoordinator::load(
            topics.clone(),
            replicas.clone(),
            config.clone(),
            ids.clone(),
            groups.clone(),
        )
        .unwrap()
    }

    /// A crash between writing PrepareCommit and writing the markers: the next load writes them and completes
    /// the transaction, so the partition's last stable offset moves past it.
    #[tokio::test]
    async fn a_transaction_left_preparing_is_completed_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, replicas, config, ids, groups) = setup(dir.path());
        let c = load(&topics, &replicas, &config, &ids, &groups);
        let (pid, epoch) = c.init_producer_id("x", 60_000, None).await.unwrap();
        c.add_partitions("x", pid, epoch, &[("t".to_string(), 0)])
            .await
            .unwrap();
        let p = replicas.partition(&topics.get("t").unwrap().id, 0).unwrap();
        let now = now_ms();
        let mut builder = BatchBuilder::new(0, now);
        builder.producer_id = pid;
        builder.producer_epoch = epoch;
        builder.base_sequence = 0;
        builder.transactional = true;
        let record = Record {
            offset: 0,
            timestamp: now,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: Vec::new(),
        };
        let data = builder.build(std::slice::from_ref(&record)).unwrap();
        p.append_as_leader(&data, AppendOrigin::Client, now)
            .unwrap();
        assert_eq!(p.last_stable_offset(), 0);
        {
            let st = c.lock();
            let mut m = st.txns["x"].clone();
            m.status = TxnStatus::PrepareCommit;
            c.persist("x", Some(&m), &mut ToSync::new()).unwrap();
        }
        drop(c);
        let c = TxnCoordinator::load(topics.clone(), replicas, config, ids, groups).unwrap();
        let m = c.describe("x").unwrap();
        assert_eq!(m.status, TxnStatus::CompleteCommit);
        assert!(m.partitions.is_empty());
        assert_eq!((m.producer_id, m.producer_epoch), (pid, epoch));
        assert_eq!((p.log_end_offset(), p.last_stable_offset()), (2, 2));
        let read = p
            .read(0, 1 << 20, true, crate::replica::Isolation::ReadCommitted)
            .unwrap();
        assert!(read.aborted.is_empty());
    }

    /// Ids idle past `transactional.id.expiration.ms` are forgotten (a tombstone is written); open ones are not.
    #[tokio::test]
    async fn idle_transactional_ids_expire() {
        let dir = tempfile::tempdir().unwrap();
        let (topics, replicas, _, ids, groups) = setup(dir.path());
        let mut b = crate::config::ConfigBuilder::default();
        b.set("log.dirs", dir.path().to_str().unwrap()).unwrap();
        b.set("transaction.state.log.num.partitions", "3").unwrap();
        b.set("transactional.id.expiration.ms", "1").unwrap();
        let config = Arc::new(b.build().unwrap());
        let c = load(&topics, &replicas, &config, &ids, &groups);
        let (pid, epoch) = c.init_producer_id("idle", 60_000, None).await.unwrap();
        let (opid, oepoch) = c.init_producer_id("open", 60_000, None).await.unwrap();
        c.add_partitions("open", opid, oepoch, &[("t".to_string(), 0)])
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        c.tick().await;
        assert!(c.describe("idle").is_none());
        assert!(c.describe("open").is_some());
        // After a reload the tombstone keeps it gone; the id starts over with a new producer id.
        drop(c);
        let c = TxnCoordinator::load(topics, replicas, config, ids, groups).unwrap();
        assert!(c.describe("idle").is_none());
        let (pid2, epoch2) = c.init_producer_id("idle", 60_000, None).await.unwrap();
        assert_ne!(pid2, pid);
        assert_eq!((epoch, epoch2), (0, 0));
    }
}
