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
//! In a cluster the partitions of a transaction may be led by other brokers: their markers are sent to their
//! leaders with WriteTxnMarkers (grouped per broker, through [`crate::interbroker`], retried within a bound as
//! Kafka's marker channel retries), after the local ones are written and without holding the state lock; the
//! transaction is completed once every marker is written (until then it stays Prepare*, and `tick` resends
//! the missing ones). A partition leader elsewhere asks this coordinator whether a partition is in a
//! producer's transaction with AddPartitionsToTxn v4+ `verify_only` ([`TxnCoordinator::verify_for_append`] is
//! that question's asking side).
//!
//! Lock order: the coordinator's state lock is taken before a partition's log lock and before the group
//! coordinator's lock; neither of those ever calls back into this module while held.

pub(crate) mod records;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_storage::batch::{
    check_records, visit_records, BatchBuilder, Record, DEFAULT_DECOMPRESSED_LIMIT,
};
use minikafka_storage::TxnMarker;
use tracing::{debug, error, info, warn};

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::group::{partition_for, GroupCoordinator, OFFSETS_TOPIC};
use crate::interbroker::{InterBrokerClient, InterBrokerError};
use crate::metadata::TopicImage;
use crate::producer_ids::ProducerIds;
use crate::replica::{sync_partition, AppendError, AppendOrigin, Partition, ReplicaManager};
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

/// The markers written for one transaction being completed: (producer id, epoch, partitions).
type Marked = (i64, i16, BTreeSet<(String, i32)>);

/// Coordinator state behind one lock.
#[derive(Debug, Default)]
struct State {
    txns: HashMap<String, TxnMeta>,
    /// producer id → transactional id, for the produce-side checks.
    by_producer: HashMap<i64, String>,
    /// The markers already written for a transaction being completed: transactional id → (producer id,
    /// epoch, partitions), so that a retry writes only the missing ones.
    marked: HashMap<String, Marked>,
    /// Transactional ids whose markers are being sent to other brokers (one sender at a time).
    in_flight: HashSet<String>,
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
        self.marked.remove(id);
    }

    /// Record that the marker of `id`'s transaction (`pid`, `epoch`) is written to `tp`.
    fn mark(&mut self, id: &str, pid: i64, epoch: i16, tp: (String, i32)) {
        let entry = self
            .marked
            .entry(id.to_string())
            .or_insert_with(|| (pid, epoch, BTreeSet::new()));
        if (entry.0, entry.1) != (pid, epoch) {
            *entry = (pid, epoch, BTreeSet::new());
        }
        entry.2.insert(tp);
    }

    /// The partitions whose marker of `id`'s transaction (`pid`, `epoch`) is already written.
    fn marked(&self, id: &str, pid: i64, epoch: i16) -> BTreeSet<(String, i32)> {
        self.marked
            .get(id)
            .filter(|(p, e, _)| (*p, *e) == (pid, epoch))
            .map(|(_, _, done)| done.clone())
            .unwrap_or_default()
    }
}

/// Markers of one transaction still to be written on other brokers.
#[derive(Debug)]
struct RemoteMarkers {
    id: String,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    partitions: Vec<(String, i32)>,
}

/// Transactions whose completion waits for markers on other brokers, driven once the state lock is released.
type Pending = Vec<RemoteMarkers>;

/// How long EndTxn and InitProducerId keep resending markers to other brokers before answering (the
/// transaction stays Prepare* and `tick` goes on resending).
const MARKER_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// The first pause between two rounds of marker resends (doubled up to one second).
const MARKER_RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// Clears a transactional id's in-flight flag when its sender ends or is cancelled.
struct InFlight<'a> {
    coordinator: &'a TxnCoordinator,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.coordinator.lock().in_flight.remove(&self.id);
    }
}

/// One row of ListTransactions.
#[derive(Debug, Clone)]
pub(crate) struct TxnListing {
    pub(crate) transactional_id: String,
    pub(crate) producer_id: i64,
    pub(crate) state: TxnStatus,
}

/// Appends to acknowledge only once fsynced (when flush.messages asks) and in every in-sync replica
/// (Kafka's coordinator writes state and markers with acks=all).
type ToSync = Vec<crate::group::Pending>;

/// The transaction coordinator of this broker.
#[derive(Debug)]
pub struct TxnCoordinator {
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    producer_ids: Arc<ProducerIds>,
    groups: Arc<GroupCoordinator>,
    state: Mutex<State>,
    /// Requests to other brokers: markers, and verifications for producers coordinated elsewhere.
    peers: Arc<InterBrokerClient>,
    /// The `__transaction_state` partitions led here whose transactional ids are loaded.
    loaded: crate::coordinator_partitions::LoadedPartitions,
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
        let peers = InterBrokerClient::new(
            config.node_id,
            &config.listeners.inter_broker,
            crate::net::tls::inter_broker_client(&config),
        );
        let c = TxnCoordinator {
            topics,
            replicas,
            config,
            producer_ids,
            groups,
            state: Mutex::new(State::default()),
            peers,
            loaded: crate::coordinator_partitions::LoadedPartitions::new(TXN_TOPIC),
        };
        if let Some(topic) = c.topics.get(TXN_TOPIC) {
            let started = std::time::Instant::now();
            let mut loaded: HashMap<String, TxnMeta> = HashMap::new();
            for p in c.replicas.partitions_of(&topic.id) {
                if p.is_leader() {
                    replay_partition(&p, &mut loaded)?;
                    c.loaded.lock().insert(p.index);
                }
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
            // flush or the clean shutdown writes it out. Markers for other brokers are left to `tick`.
            let _ = c.complete_pending(now_ms(), &mut Pending::new());
            c.lock().in_flight.clear();
        }
        Ok(c)
    }

    /// Whether this broker coordinates transactional id `id` now (see
    /// [`crate::coordinator_partitions`]): NOT_COORDINATOR, or COORDINATOR_LOAD_IN_PROGRESS while
    /// its partition is being loaded after leadership moved here.
    pub(crate) fn check_coordinator(&self, id: &str) -> Result<(), ResponseError> {
        self.loaded
            .check(&self.topics, &self.replicas, self.config.node_id, |n| {
                partition_for(id, n)
            })
    }

    /// Replay `__transaction_state` partition `p` (now led here), take its transactional ids and
    /// finish the transactions it left preparing (Kafka's `onElection`). Blocking.
    fn load_partition(&self, p: &Arc<Partition>) -> Result<(), TopicError> {
        let started = std::time::Instant::now();
        let mut loaded: HashMap<String, TxnMeta> = HashMap::new();
        replay_partition(p, &mut loaded)?;
        let count = loaded.len();
        {
            let mut st = self.lock();
            if !p.is_leader() {
                return Ok(());
            }
            let partitions = self
                .topics
                .get(TXN_TOPIC)
                .map_or(1, |t| t.partition_count());
            let gone: Vec<String> = st
                .txns
                .keys()
                .filter(|id| partition_for(id, partitions) == p.index)
                .cloned()
                .collect();
            for id in gone {
                st.remove(&id);
            }
            for (id, meta) in loaded {
                st.put(&id, meta);
            }
            self.loaded.lock().insert(p.index);
        }
        if count > 0 {
            info!(
                partition = p.index,
                transactional_ids = count,
                elapsed_ms = started.elapsed().as_millis(),
                "loaded the transactions of a __transaction_state partition now led here"
            );
        }
        // Markers for other brokers and the replication of what this writes are left to `tick`:
        // the transactions waiting for them must not stay marked in flight (no sender drives
        // them here), else `tick` skips them and InitProducerId answers CONCURRENT_TRANSACTIONS
        // forever.
        let mut pending = Pending::new();
        let _ = self.complete_pending(now_ms(), &mut pending);
        self.abandon(pending);
        Ok(())
    }

    /// Leadership of `__transaction_state` partition `index` moved away: forget its transactional ids
    /// (Kafka's `onResignation`).
    fn unload_partition(&self, index: i32) {
        let partitions = self
            .topics
            .get(TXN_TOPIC)
            .map_or(1, |t| t.partition_count());
        let mut st = self.lock();
        let gone: Vec<String> = st
            .txns
            .keys()
            .filter(|id| partition_for(id, partitions) == index)
            .cloned()
            .collect();
        for id in &gone {
            st.remove(id);
            st.in_flight.remove(id);
        }
        self.loaded.lock().remove(&index);
        drop(st);
        if !gone.is_empty() {
            info!(
                partition = index,
                transactional_ids = gone.len(),
                "__transaction_state partition led elsewhere now; its transactions unloaded"
            );
        }
    }

    /// Load and unload `__transaction_state` partitions as their leadership moves, until `stop`.
    pub async fn follow_leadership(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let c = self.clone();
        self.loaded
            .follow(&self.topics, stop, move || {
                c.loaded.sync(
                    &c.topics,
                    &c.replicas,
                    |index| c.unload_partition(index),
                    |p| c.load_partition(p),
                )
            })
            .await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Create `__transaction_state` if it does not exist yet (blocking), as Kafka does on the first
    /// FindCoordinator for a transactional id.
    pub fn ensure_state_topic(&self) -> Result<Arc<TopicImage>, TopicError> {
        if let Some(t) = self.topics.get(TXN_TOPIC) {
            return Ok(t);
        }
        let t = self.topics.ensure_internal(
            TXN_TOPIC,
            self.config.transaction_state_num_partitions,
            self.config.transaction_state_replication_factor,
            self.config.transaction_state_segment_bytes,
            Some(self.config.transaction_state_min_isr),
        )?;
        self.loaded.take_new(&self.replicas, &t.id);
        Ok(t)
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
        sync.push(crate::group::Pending {
            end: info.last_offset + 1,
            fsync: info.needs_flush,
            p,
        });
        Ok(())
    }

    /// Wait until what an operation wrote may be acknowledged: fsynced where flush.messages asks, and
    /// in every in-sync replica (a write that times out or lacks replicas is COORDINATOR_NOT_AVAILABLE,
    /// one to a partition no longer led here NOT_COORDINATOR, as Kafka's transaction state manager maps
    /// them).
    async fn sync(partitions: ToSync) -> Result<(), ResponseError> {
        let mut seen: Vec<(String, i32)> = Vec::new();
        for w in &partitions {
            let p = &w.p;
            let key = (p.topic.clone(), p.index);
            if !w.fsync || seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let Err(e) = sync_partition(p).await {
                error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed; transaction step not acknowledged");
                // As Kafka's transaction state manager maps KAFKA_STORAGE_ERROR.
                return Err(ResponseError::NotCoordinator);
            }
        }
        for w in partitions {
            match ReplicaManager::replicated(&w.p, w.end, crate::group::REPLICATION_TIMEOUT).await {
                Ok(()) => {}
                Err(AppendError::NotLeader) => return Err(ResponseError::NotCoordinator),
                Err(e) => {
                    warn!(topic = %w.p.topic, partition = w.p.index, end = w.end, error = ?e,
                        "transaction write not replicated");
                    return Err(ResponseError::CoordinatorNotAvailable);
                }
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
        self.check_coordinator(id)?;
        if timeout_ms <= 0 || timeout_ms > self.config.transaction_max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut sync = ToSync::new();
        let mut pending = Pending::new();
        let res = self.init_locked(id, timeout_ms, expected, &mut sync, &mut pending);
        if let Err(e) = Self::sync(sync).await {
            self.abandon(pending);
            return Err(e);
        }
        self.drive(pending, MARKER_RETRY_BUDGET).await;
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
        pending: &mut Pending,
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
                self.abort_with_bump(&mut st, id, current, now, sync, pending)?;
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
        pending: &mut Pending,
    ) -> Result<(), ResponseError> {
        let mut next = current;
        if next.producer_epoch < EPOCH_EXHAUSTED {
            next.producer_epoch += 1;
        }
        next.status = TxnStatus::PrepareAbort;
        next.last_update_ms = now;
        self.persist(id, Some(&next), sync)?;
        st.put(id, next);
        // A new transaction end: no marker of it is written yet (V1 keeps the epoch across transactions).
        st.marked.remove(id);
        self.complete_locked(st, id, now, sync, pending)
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
        self.check_coordinator(id)?;
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

    /// Whether the coordinator of `id` is another broker.
    pub(crate) fn is_remote(&self, id: &str) -> bool {
        !id.is_empty() && self.remote_coordinator(id).is_some()
    }

    /// The broker leading the `__transaction_state` partition of `id` (its coordinator), if it is not this one.
    fn remote_coordinator(&self, id: &str) -> Option<i32> {
        let image = self.topics.image();
        let topic = image.topic(TXN_TOPIC)?;
        let leader = topic
            .partition(partition_for(id, topic.partition_count()))?
            .leader;
        (leader != self.config.node_id).then_some(leader)
    }

    /// The check before a transactional append of producer `pid`/`epoch` to `topic`-`partition` (or a
    /// transactional offset commit), by the coordinator of `transactional_id`: this one
    /// ([`TxnCoordinator::verify_producer_partition`]) or, when another broker leads its
    /// `__transaction_state` partition, that broker through AddPartitionsToTxn v4+ `verify_only` (Kafka's
    /// `AddPartitionsToTxnManager`). Errors as the coordinator gives them; a coordinator that cannot be reached
    /// is COORDINATOR_NOT_AVAILABLE or NETWORK_EXCEPTION, as in Kafka (callers translate for their API).
    pub(crate) async fn verify_for_append(
        &self,
        transactional_id: Option<&str>,
        pid: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        let Some((id, coordinator)) = transactional_id
            .filter(|id| !id.is_empty())
            .and_then(|id| Some((id, self.remote_coordinator(id)?)))
        else {
            return self.verify_producer_partition(pid, epoch, topic, partition);
        };
        let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id.to_string())))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_verify_only(true)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![partition])]),
        ]);
        let image = self.topics.image();
        let response = self
            .peers
            .send(&image, coordinator, VERIFY_VERSION, &request)
            .await
            .map_err(|e| {
                warn!(broker = self.config.node_id, peer = coordinator, transactional_id = id, topic,
                    partition, error = %e, "cannot verify with the transaction coordinator");
                // As Kafka's AddPartitionsToTxnManager: no live leader for the coordinator's partition is
                // COORDINATOR_NOT_AVAILABLE, a request that failed on the way NETWORK_EXCEPTION.
                match e {
                    InterBrokerError::UnknownBroker(_) | InterBrokerError::NoEndpoint { .. } => {
                        ResponseError::CoordinatorNotAvailable
                    }
                    _ => ResponseError::NetworkException,
                }
            })?;
        let error = |code: i16| {
            ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)
        };
        if response.error_code != 0 {
            return Err(error(response.error_code));
        }
        let code = response
            .results_by_transaction
            .iter()
            .filter(|r| r.transactional_id.0.as_str() == id)
            .flat_map(|r| r.topic_results.iter())
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.results_by_partition.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.partition_error_code);
        match code {
            Some(0) => Ok(()),
            Some(code) => Err(error(code)),
            None => {
                warn!(
                    broker = self.config.node_id,
                    peer = coordinator,
                    transactional_id = id,
                    topic,
                    partition,
                    "the transaction coordinator did not answer for the partition"
                );
                Err(ResponseError::UnknownServerError)
            }
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
        self.check_coordinator(id)?;
        let mut sync = ToSync::new();
        let mut pending = Pending::new();
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
            // A new transaction end: no marker of it is written yet (V1 keeps the epoch across transactions).
            st.marked.remove(id);
            self.complete_locked(&mut st, id, now, &mut sync, &mut pending)
        })();
        if let Err(e) = Self::sync(sync).await {
            self.abandon(pending);
            return Err(e);
        }
        // The outcome is decided (Prepare* is written): as Kafka, EndTxn succeeds even if a leader elsewhere
        // has not taken its marker yet; the transaction completes when it does (`tick` resends).
        self.drive(pending, MARKER_RETRY_BUDGET).await;
        res
    }

    /// Write the markers of a transaction in PrepareCommit/PrepareAbort and move it to Complete*. On a failed
    /// marker the transaction stays in Prepare* (retried by [`TxnCoordinator::tick`]) and the caller gets
    /// CONCURRENT_TRANSACTIONS... or, for EndTxn, the storage error. Partitions led by other brokers are put in
    /// `pending` (the transaction stays Prepare* until [`TxnCoordinator::drive`] has written them).
    fn complete_locked(
        &self,
        st: &mut State,
        id: &str,
        now: i64,
        sync: &mut ToSync,
        pending: &mut Pending,
    ) -> Result<(), ResponseError> {
        let Some(m) = st.txns.get(id).cloned() else {
            return Err(ResponseError::InvalidProducerIdMapping);
        };
        let commit = match m.status {
            TxnStatus::PrepareCommit => true,
            TxnStatus::PrepareAbort => false,
            _ => return Ok(()),
        };
        if st.in_flight.contains(id) {
            // Another task is sending this transaction's markers and completes it.
            return Ok(());
        }
        let done = st.marked(id, m.producer_id, m.producer_epoch);
        let image = self.topics.image();
        let mut remote = Vec::new();
        for (topic, index) in &m.partitions {
            let tp = (topic.clone(), *index);
            if done.contains(&tp) {
                continue;
            }
            match image.topic(topic).and_then(|t| t.partition(*index)) {
                None => {
                    warn!(transactional_id = id, topic = %topic, partition = index,
                        "partition of the transaction no longer exists; no marker written");
                    continue;
                }
                Some(placement) if placement.leader != self.config.node_id => {
                    remote.push(tp);
                    continue;
                }
                Some(_) => {}
            }
            if let Err(e) = self.write_local_marker(
                topic,
                *index,
                (m.producer_id, m.producer_epoch),
                commit,
                now,
                sync,
            ) {
                error!(transactional_id = id, topic = %topic, partition = index, error = %e, commit,
                    "cannot write the transaction marker; will retry");
                return Err(storage_failure(&e));
            }
            st.mark(id, m.producer_id, m.producer_epoch, tp);
        }
        if !remote.is_empty() {
            st.in_flight.insert(id.to_string());
            pending.push(RemoteMarkers {
                id: id.to_string(),
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                commit,
                partitions: remote,
            });
            return Ok(());
        }
        self.finish_locked(st, id, m, commit, now, sync)
    }

    /// Append the COMMIT/ABORT marker to a partition hosted here (through the group coordinator for
    /// `__consumer_offsets`, which also makes the transaction's offsets visible or drops them).
    fn write_local_marker(
        &self,
        topic: &str,
        index: i32,
        (producer_id, producer_epoch): (i64, i16),
        commit: bool,
        now: i64,
        sync: &mut ToSync,
    ) -> Result<(), TopicError> {
        if topic == OFFSETS_TOPIC {
            return self
                .groups
                .complete_txn(
                    index,
                    producer_id,
                    producer_epoch,
                    COORDINATOR_EPOCH,
                    commit,
                )
                .map(|p| sync.push(p));
        }
        let marker = if commit {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        match self
            .topics
            .get(topic)
            .and_then(|t| self.replicas.partition(&t.id, index))
        {
            Some(p) => {
                let info = p
                    .append_txn_marker(producer_id, producer_epoch, COORDINATOR_EPOCH, marker, now)
                    .map_err(TopicError::from)?;
                sync.push(crate::group::Pending {
                    end: info.last_offset + 1,
                    fsync: info.needs_flush,
                    p,
                });
                Ok(())
            }
            None => {
                warn!(topic = %topic, partition = index,
                    "partition of the transaction not hosted here; no marker written");
                Ok(())
            }
        }
    }

    /// Every marker of `m` is written: move it to Complete* (written) and forget its markers.
    fn finish_locked(
        &self,
        st: &mut State,
        id: &str,
        m: TxnMeta,
        commit: bool,
        now: i64,
        sync: &mut ToSync,
    ) -> Result<(), ResponseError> {
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
        st.marked.remove(id);
        st.put(id, next);
        Ok(())
    }

    /// Leave the markers of `pending` to the next `tick` (what led to them was not acknowledged).
    fn abandon(&self, pending: Pending) {
        let mut st = self.lock();
        for r in pending {
            st.in_flight.remove(&r.id);
        }
    }

    /// Write the markers of `pending` on the brokers leading their partitions (WriteTxnMarkers, grouped per
    /// broker; leaders looked up again at every round, as Kafka's marker channel does), resending for up to
    /// `budget`, then complete each transaction whose markers are all written. Never holds the state lock
    /// across an await.
    async fn drive(&self, pending: Pending, budget: std::time::Duration) {
        // Created first, so that a cancelled sender clears every flag it owns.
        let _guards: Vec<InFlight<'_>> = pending
            .iter()
            .map(|r| InFlight {
                coordinator: self,
                id: r.id.clone(),
            })
            .collect();
        for r in pending {
            let started = std::time::Instant::now();
            let mut backoff = MARKER_RETRY_BACKOFF;
            let mut remaining = r.partitions.clone();
            loop {
                remaining = self.send_markers(&r, remaining).await;
                if remaining.is_empty() || started.elapsed() + backoff > budget {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
            }
            if !remaining.is_empty() {
                warn!(transactional_id = %r.id, producer_id = r.producer_id, commit = r.commit,
                    missing = remaining.len(), "transaction markers not all written yet; will retry");
                continue;
            }
            let mut sync = ToSync::new();
            let res = {
                let mut st = self.lock();
                match st.txns.get(&r.id).cloned() {
                    Some(m)
                        if (m.producer_id, m.producer_epoch)
                            == (r.producer_id, r.producer_epoch)
                            && m.status
                                == if r.commit {
                                    TxnStatus::PrepareCommit
                                } else {
                                    TxnStatus::PrepareAbort
                                } =>
                    {
                        // Markers local again (a leader moved here) may still be missing.
                        let done = st.marked(&r.id, m.producer_id, m.producer_epoch);
                        let missing = m.partitions.iter().any(|tp| {
                            !done.contains(tp)
                                && self
                                    .topics
                                    .get(&tp.0)
                                    .is_some_and(|t| t.partition(tp.1).is_some())
                        });
                        if missing {
                            Ok(())
                        } else {
                            self.finish_locked(&mut st, &r.id, m, r.commit, now_ms(), &mut sync)
                        }
                    }
                    _ => Ok(()),
                }
            };
            if let Err(e) = res {
                warn!(transactional_id = %r.id, error = ?e, "cannot complete the transaction yet; will retry");
            }
            let _ = Self::sync(sync).await;
        }
    }

    /// One round of marker writes for `r`'s `partitions`: those led here are written locally, the others sent
    /// to their leaders. Returns the partitions still without their marker.
    async fn send_markers(
        &self,
        r: &RemoteMarkers,
        partitions: Vec<(String, i32)>,
    ) -> Vec<(String, i32)> {
        let image = self.topics.image();
        let me = self.config.node_id;
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut written: Vec<(String, i32)> = Vec::new();
        let mut local: Vec<(String, i32)> = Vec::new();
        let mut remaining: Vec<(String, i32)> = Vec::new();
        let mut sync = ToSync::new();
        for tp in partitions {
            match image.topic(&tp.0).and_then(|t| t.partition(tp.1)) {
                None => {
                    warn!(transactional_id = %r.id, topic = %tp.0, partition = tp.1,
                        "partition of the transaction no longer exists; no marker written");
                    written.push(tp);
                }
                Some(placement) if placement.leader == me => {
                    match self.write_local_marker(
                        &tp.0,
                        tp.1,
                        (r.producer_id, r.producer_epoch),
                        r.commit,
                        now_ms(),
                        &mut sync,
                    ) {
                        Ok(()) => local.push(tp),
                        Err(e) => {
                            warn!(transactional_id = %r.id, topic = %tp.0, partition = tp.1, error = %e,
                                "cannot write the transaction marker; will retry");
                            remaining.push(tp);
                        }
                    }
                }
                Some(placement) => by_leader.entry(placement.leader).or_default().push(tp),
            }
        }
        if Self::sync(sync).await.is_ok() {
            written.append(&mut local);
        } else {
            // Written again next round.
            remaining.append(&mut local);
        }
        for (leader, tps) in by_leader {
            let request = write_markers_request(r, &tps);
            match self
                .peers
                .send(&image, leader, WRITE_TXN_MARKERS_VERSION, &request)
                .await
            {
                Ok(response) => {
                    let mut answered: BTreeMap<(String, i32), i16> = BTreeMap::new();
                    for marker in &response.markers {
                        for t in &marker.topics {
                            for p in &t.partitions {
                                answered.insert(
                                    (t.name.0.to_string(), p.partition_index),
                                    p.error_code,
                                );
                            }
                        }
                    }
                    for tp in tps {
                        match answered.get(&tp) {
                            Some(0) => written.push(tp),
                            // As Kafka's marker channel: a producer or coordinator epoch that moved on means
                            // this marker is no longer needed there (nothing more to write).
                            Some(&code)
                                if code == ResponseError::InvalidProducerEpoch.code()
                                    || code
                                        == ResponseError::TransactionCoordinatorFenced.code()
                                    || code
                                        == ResponseError::UnsupportedForMessageFormat.code() =>
                            {
                                warn!(broker = me, peer = leader, transactional_id = %r.id, topic = %tp.0,
                                    partition = tp.1, error_code = code, "marker refused for good; not resent");
                                written.push(tp);
                            }
                            code => {
                                warn!(broker = me, peer = leader, transactional_id = %r.id, topic = %tp.0,
                                    partition = tp.1, error_code = ?code, "marker not written by the leader; will retry");
                                remaining.push(tp);
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(broker = me, peer = leader, transactional_id = %r.id, partitions = tps.len(),
                        error = %e, "cannot send transaction markers; will retry");
                    remaining.extend(tps);
                }
            }
        }
        let mut st = self.lock();
        for tp in written {
            st.mark(&r.id, r.producer_id, r.producer_epoch, tp);
        }
        drop(st);
        remaining
    }

    /// Finish every transaction stuck in Prepare* (after a restart or a failed marker). Returns what to fsync.
    fn complete_pending(&self, now: i64, pending: &mut Pending) -> ToSync {
        let mut sync = ToSync::new();
        let mut st = self.lock();
        let preparing: Vec<String> = st
            .txns
            .iter()
            .filter(|(id, m)| {
                matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort)
                    && !st.in_flight.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in preparing {
            info!(transactional_id = %id, "completing a transaction left preparing");
            let _ = self.complete_locked(&mut st, &id, now, &mut sync, pending);
        }
        sync
    }

    /// Periodic work: abort transactions past their timeout (after bumping the epoch), retry unfinished
    /// completions, forget transactional ids idle for `transactional.id.expiration.ms`.
    pub(crate) async fn tick(&self) {
        let now = now_ms();
        let mut pending = Pending::new();
        let mut sync = self.complete_pending(now, &mut pending);
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
                if let Err(e) = self.abort_with_bump(&mut st, &id, m, now, &mut sync, &mut pending)
                {
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
        // One round per tick: the next tick resends what is still missing.
        self.drive(pending, std::time::Duration::ZERO).await;
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

/// AddPartitionsToTxn version of a verification: v5, the newest Kafka 4 (and minikafka) serves.
const VERIFY_VERSION: i16 = 5;
/// WriteTxnMarkers version sent: v1, the only one Kafka 4 (and minikafka) serves.
const WRITE_TXN_MARKERS_VERSION: i16 = 1;

/// The WriteTxnMarkers request of `r`'s marker for `partitions` (grouped by topic).
fn write_markers_request(
    r: &RemoteMarkers,
    partitions: &[(String, i32)],
) -> WriteTxnMarkersRequest {
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (t, p) in partitions {
        match topics.iter_mut().find(|x| x.name.0.as_str() == t) {
            Some(x) => x.partition_indexes.push(*p),
            None => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.clone())))
                    .with_partition_indexes(vec![*p]),
            ),
        }
    }
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(r.producer_id))
        .with_producer_epoch(r.producer_epoch)
        .with_transaction_result(r.commit)
        .with_coordinator_epoch(COORDINATOR_EPOCH)
        .with_topics(topics)])
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
