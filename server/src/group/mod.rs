//! The group coordinator: consumer groups (the classic protocol in [`classic`]) and their
//! committed offsets, persisted in the compacted internal topic `__consumer_offsets` with
//! Kafka's own record schemas ([`records`]).
//!
//! As in Kafka, a group belongs to partition `abs(java_hash(group)) % partitions` of
//! `__consumer_offsets`, and the coordinator of the group is that partition's leader (on a single
//! node: this broker), so the same placement carries over to a cluster. Every change that must
//! survive a restart is appended to that partition before it is acknowledged: an OffsetCommit
//! record per committed partition, a GroupMetadata record when a generation's assignment is
//! complete or the group empties, tombstones when offsets expire or a group is deleted. At start
//! the coordinator replays the topic and rebuilds every group and offset.
//!
//! Locking: one std `Mutex` over every group; it is never held across an `.await` (requests that
//! must wait — JoinGroup, SyncGroup — hold a oneshot receiver instead). Appends to
//! `__consumer_offsets` happen under it so the log order is the order of the in-memory changes;
//! an fsync (with `log.flush.interval.messages=1`) happens after it is released.

pub(crate) mod classic;
pub(crate) mod consumer;
pub(crate) mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{
    decode_records, parse_control_batch, BatchBuilder, Record, TxnMarker,
};
use minikafka_storage::StorageError;
use tokio::time::Instant;
use tracing::{error, info, warn};

use self::classic::{
    ClassicGroup, GroupLimits, GroupState, JoinParams, JoinResult, Reply, StoredMember, SyncParams,
    SyncResult,
};
use self::consumer::{
    Change, ConsumerGroup, ConsumerLimits, HeartbeatParams, HeartbeatResult, MemberState,
    RestoredMember, TopicCounts, TopicPartition,
};
use self::records::{GroupMetadataValue, MemberMetadata, OffsetCommitValue, RecordKey};
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::metadata::TopicImage;
use crate::replica::{sync_partition, AppendOrigin, Partition, ReplicaManager};
use crate::topics::{TopicError, Topics};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode` (over UTF-16 code units), which Kafka uses to place a group.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of a group (Kafka's `Utils.abs(hash) % partitions`).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    /// Offset of the next record to consume.
    pub(crate) offset: i64,
    /// Leader epoch of the last consumed record (-1 unknown).
    pub(crate) leader_epoch: i32,
    /// Client metadata.
    pub(crate) metadata: String,
    /// When it was committed (ms).
    pub(crate) commit_timestamp: i64,
    /// Explicit expiry from an old OffsetCommit's retention time (-1 none).
    pub(crate) expire_timestamp: i64,
}

/// A topic's partitions with their committed offsets (None = nothing committed).
pub(crate) type TopicOffsets = (String, Vec<(i32, Option<Committed>)>);

/// One partition's offset to commit.
#[derive(Debug, Clone)]
pub(crate) struct OffsetToCommit {
    /// Topic.
    pub(crate) topic: String,
    /// Partition.
    pub(crate) partition: i32,
    /// Offset.
    pub(crate) offset: i64,
    /// Leader epoch.
    pub(crate) leader_epoch: i32,
    /// Metadata (None = empty).
    pub(crate) metadata: Option<String>,
}

/// The requester of an OffsetCommit.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    /// Generation (-1 for a commit outside any generation).
    pub(crate) generation: i32,
    /// Member id (empty outside a generation).
    pub(crate) member_id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// OffsetCommit v2-4 retention time (-1 = the broker's).
    pub(crate) retention_ms: i64,
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct MemberDescription {
    /// Member id.
    pub(crate) member_id: String,
    /// Instance id.
    pub(crate) instance_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Metadata for the selected protocol (Stable only).
    pub(crate) metadata: Bytes,
    /// Assignment (Stable only).
    pub(crate) assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct GroupDescription {
    /// State name.
    pub(crate) state: &'static str,
    /// Protocol type ("" for a group that only stores offsets).
    pub(crate) protocol_type: String,
    /// Selected protocol (Stable only, else "").
    pub(crate) protocol: String,
    /// Members.
    pub(crate) members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct GroupListing {
    /// Group id.
    pub(crate) group_id: String,
    /// Protocol type.
    pub(crate) protocol_type: String,
    /// State name.
    pub(crate) state: &'static str,
    /// `classic` or `consumer`.
    pub(crate) group_type: &'static str,
}

/// A group of either protocol. A group id is used by one protocol at a time; an empty group
/// switches to the protocol of the next member that joins.
#[derive(Debug)]
enum Kind {
    /// JoinGroup/SyncGroup members (and groups that only store offsets).
    Classic(ClassicGroup),
    /// KIP-848 ConsumerGroupHeartbeat members.
    Consumer(ConsumerGroup),
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets committed inside open transactions (TxnOffsetCommit), by producer id: written to the log, visible
    /// only once the transaction's COMMIT marker is written (dropped on ABORT).
    pending: HashMap<i64, BTreeMap<(String, i32), Committed>>,
}

impl Entry {
    fn new(id: &str) -> Entry {
        Entry {
            kind: Kind::Classic(ClassicGroup::new(id, now_ms())),
            offsets: BTreeMap::new(),
            pending: HashMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        match &self.kind {
            Kind::Classic(g) => g.state == GroupState::Empty,
            Kind::Consumer(g) => g.members.is_empty(),
        }
    }

    /// The classic group, turning an empty consumer group into one; None if the group has
    /// consumer-protocol members.
    fn classic(&mut self, id: &str) -> Option<&mut ClassicGroup> {
        if let Kind::Consumer(g) = &self.kind {
            if !g.members.is_empty() {
                return None;
            }
            self.kind = Kind::Classic(ClassicGroup::new(id, now_ms()));
        }
        match &mut self.kind {
            Kind::Classic(g) => Some(g),
            Kind::Consumer(_) => None,
        }
    }

    /// The consumer group, turning an empty classic group into one; None if the group has
    /// classic members.
    fn consumer(&mut self, id: &str) -> Option<&mut ConsumerGroup> {
        if let Kind::Classic(g) = &self.kind {
            if g.state != GroupState::Empty {
                return None;
            }
            self.kind = Kind::Consumer(ConsumerGroup::new(id, now_ms()));
        }
        match &mut self.kind {
            Kind::Consumer(g) => Some(g),
            Kind::Classic(_) => None,
        }
    }
}

/// A record value to write to `__consumer_offsets`.
#[derive(Debug, Clone)]
enum Value {
    Offset(OffsetCommitValue),
    Group(GroupMetadataValue),
    ConsumerGroup(records::ConsumerGroupMetadataValue),
    ConsumerMember(records::ConsumerGroupMemberMetadataValue),
    TargetMetadata(records::ConsumerGroupTargetAssignmentMetadataValue),
    TargetMember(records::ConsumerGroupTargetAssignmentMemberValue),
    CurrentAssignment(records::ConsumerGroupCurrentMemberAssignmentValue),
}

impl Value {
    fn encode(&self) -> Result<Bytes, records::RecordError> {
        match self {
            Value::Offset(v) => records::encode_offset_commit_value(v),
            Value::Group(v) => records::encode_group_metadata_value(v),
            Value::ConsumerGroup(v) => records::encode_consumer_group_metadata_value(v),
            Value::ConsumerMember(v) => records::encode_consumer_group_member_metadata_value(v),
            Value::TargetMetadata(v) => {
                records::encode_consumer_group_target_assignment_metadata_value(v)
            }
            Value::TargetMember(v) => {
                records::encode_consumer_group_target_assignment_member_value(v)
            }
            Value::CurrentAssignment(v) => {
                records::encode_consumer_group_current_member_assignment_value(v)
            }
        }
    }
}

/// One record to write: key and value (None = tombstone).
type Write = (RecordKey, Option<Value>);

/// Why a write to `__consumer_offsets` failed, as the error code clients get.
fn write_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::Storage(
            StorageError::MessageTooLarge { .. } | StorageError::RecordListTooLarge { .. },
        ) => ResponseError::InvalidCommitOffsetSize,
        TopicError::Unknown => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}

/// A consumer-protocol member as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerMemberDescription {
    /// Member id.
    pub(crate) member_id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Rack.
    pub(crate) rack_id: Option<String>,
    /// Member epoch.
    pub(crate) epoch: i32,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Subscribed topics.
    pub(crate) subscribed: Vec<String>,
    /// Subscribed regular expression.
    pub(crate) regex: Option<String>,
    /// Current assignment.
    pub(crate) assignment: Vec<TopicPartition>,
    /// Target assignment.
    pub(crate) target: Vec<TopicPartition>,
}

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroupDescription {
    /// State (`Empty`, `Assigning`, `Reconciling`, `Stable`).
    pub(crate) state: &'static str,
    /// Group epoch.
    pub(crate) group_epoch: i32,
    /// Target assignment epoch.
    pub(crate) assignment_epoch: i32,
    /// Assignor in use.
    pub(crate) assignor: &'static str,
    /// Members.
    pub(crate) members: Vec<ConsumerMemberDescription>,
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    limits: GroupLimits,
    consumer_limits: ConsumerLimits,
    groups: Mutex<HashMap<String, Entry>>,
}

impl GroupCoordinator {
    /// Rebuild every group and committed offset by replaying `__consumer_offsets` (blocking).
    pub fn load(
        topics: Arc<Topics>,
        replicas: Arc<ReplicaManager>,
        config: Arc<BrokerConfig>,
    ) -> Result<Self, TopicError> {
        let limits = GroupLimits {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            max_size: usize::try_from(config.group_max_size).unwrap_or(usize::MAX),
        };
        let consumer_limits = ConsumerLimits {
            session_timeout_ms: config.group_consumer_session_timeout_ms,
            heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            max_size: usize::try_from(config.group_consumer_max_size).unwrap_or(usize::MAX),
        };
        let c = GroupCoordinator {
            topics,
            replicas,
            config,
            limits,
            consumer_limits,
            groups: Mutex::new(HashMap::new()),
        };
        if let Some(topic) = c.topics.get(OFFSETS_TOPIC) {
            let started = std::time::Instant::now();
            let mut loaded = Replay::default();
            for p in c.replicas.partitions_of(&topic.id) {
                loaded.partition(&p)?;
            }
            let (groups, offsets) = (
                loaded.groups.len() + loaded.consumer.len(),
                loaded.offsets.len(),
            );
            *c.lock() = loaded.into_entries(&c.topics, &c.consumer_limits);
            info!(
                groups,
                offsets,
                elapsed_ms = started.elapsed().as_millis(),
                "loaded consumer groups and committed offsets from __consumer_offsets"
            );
        }
        Ok(c)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Create `__consumer_offsets` if it does not exist yet (blocking), as Kafka does on the
    /// first FindCoordinator for a group.
    pub fn ensure_offsets_topic(&self) -> Result<Arc<TopicImage>, TopicError> {
        self.topics.ensure_internal(
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_segment_bytes,
        )
    }

    /// Append records of `group` to its `__consumer_offsets` partition. Returns the partition
    /// when `flush.messages` asks for an fsync before the acknowledgement.
    fn append(&self, group: &str, writes: &[Write]) -> Result<Option<Arc<Partition>>, TopicError> {
        self.append_with(group, writes, None)
    }

    /// [`GroupCoordinator::append`], as a transactional batch of producer `txn` = (id, epoch) when given (a
    /// TxnOffsetCommit: Kafka's coordinator-origin append, which keeps the epoch check but no sequence check).
    fn append_with(
        &self,
        group: &str,
        writes: &[Write],
        txn: Option<(i64, i16)>,
    ) -> Result<Option<Arc<Partition>>, TopicError> {
        if writes.is_empty() {
            return Ok(None);
        }
        let unencodable = |e: records::RecordError| {
            TopicError::InvalidRequest(format!("cannot encode a __consumer_offsets record: {e}"))
        };
        let mut records = Vec::with_capacity(writes.len());
        for (k, v) in writes {
            let key = records::encode_key(k).map_err(unencodable)?;
            let value = match v {
                None => None,
                Some(v) => Some(v.encode().map_err(unencodable)?),
            };
            records.push((key, value));
        }
        let topic = self.ensure_offsets_topic()?;
        let p = self
            .replicas
            .partition(&topic.id, partition_for(group, topic.partition_count()))
            .ok_or(TopicError::Unknown)?;
        let now = now_ms();
        let recs: Vec<Record> = records
            .iter()
            .map(|(k, v)| Record {
                offset: 0,
                timestamp: now,
                key: Some(k.clone()),
                value: v.clone(),
                headers: Vec::new(),
            })
            .collect();
        let mut builder = BatchBuilder::new(0, now);
        let info = if let Some((pid, epoch)) = txn {
            builder.producer_id = pid;
            builder.producer_epoch = epoch;
            builder.transactional = true;
            let batch = builder.build(&recs)?;
            p.append_as_leader(&batch, AppendOrigin::Coordinator, now)?
        } else {
            let batch = builder.build(&recs)?;
            p.append_as_leader(&batch, AppendOrigin::Client, now)?
        };
        Ok(info.needs_flush.then_some(p))
    }

    fn group_record(group: &ClassicGroup) -> Write {
        let key = RecordKey::GroupMetadata {
            group: group.id.clone(),
        };
        let value = GroupMetadataValue {
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            generation: group.generation,
            protocol: group.protocol_name.clone(),
            leader: group.leader.clone(),
            current_state_timestamp: group.state_timestamp_ms,
            members: group
                .stored_members()
                .into_iter()
                .map(|m| MemberMetadata {
                    member_id: m.id,
                    group_instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.subscription,
                    assignment: m.assignment,
                })
                .collect(),
        };
        (key, Some(Value::Group(value)))
    }

    fn offset_key(group: &str, topic: &str, partition: i32) -> RecordKey {
        RecordKey::OffsetCommit {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        }
    }

    /// Write the group's metadata if it changed. Failures are logged: the in-memory state stays
    /// authoritative until the next change is written.
    fn persist_if_dirty(&self, entry: &mut Entry) -> Option<Arc<Partition>> {
        let Kind::Classic(g) = &mut entry.kind else {
            return None;
        };
        if !g.dirty {
            return None;
        }
        g.dirty = false;
        match self.append(&g.id, &[Self::group_record(g)]) {
            Ok(p) => p,
            Err(e) => {
                error!(group = %g.id, error = %e, "cannot write group metadata to __consumer_offsets");
                None
            }
        }
    }

    async fn sync(p: Option<Arc<Partition>>) -> Result<(), ResponseError> {
        if let Some(p) = p {
            if let Err(e) = sync_partition(&p).await {
                error!(topic = %p.topic, partition = p.index, error = %e, "fsync of __consumer_offsets failed");
                return Err(ResponseError::UnknownServerError);
            }
        }
        Ok(())
    }

    /// JoinGroup; waits for the join phase to end when the group rebalances.
    pub(crate) async fn join(&self, group_id: &str, p: JoinParams) -> JoinResult {
        let member_id = p.member_id.clone();
        let (reply, to_sync) = {
            let mut groups = self.lock();
            if !groups.contains_key(group_id) && !member_id.is_empty() {
                return JoinResult::error(ResponseError::UnknownMemberId, &member_id);
            }
            let entry = groups
                .entry(group_id.to_string())
                .or_insert_with(|| Entry::new(group_id));
            // Kafka's member id: client (or instance) id, '-', a UUID; capped so the id always
            // fits the 32767-byte strings of the GroupMetadata record.
            let prefix: String = p
                .instance_id
                .clone()
                .unwrap_or_else(|| p.client_id.clone())
                .chars()
                .take(1024)
                .collect();
            let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
            let Some(g) = entry.classic(group_id) else {
                return JoinResult::error(ResponseError::InconsistentGroupProtocol, &member_id);
            };
            let reply = g.join(p, new_id, &self.limits, Instant::now(), now_ms());
            (reply, self.persist_if_dirty(entry))
        };
        if let Err(e) = Self::sync(to_sync).await {
            return JoinResult::error(e, &member_id);
        }
        match reply {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| {
                JoinResult::error(ResponseError::RebalanceInProgress, &member_id)
            }),
        }
    }

    /// SyncGroup; followers wait for the leader's assignment.
    pub(crate) async fn sync_group(&self, group_id: &str, p: SyncParams) -> SyncResult {
        let (reply, to_sync) = {
            let mut groups = self.lock();
            let Some(entry) = groups.get_mut(group_id) else {
                return SyncResult::error(ResponseError::UnknownMemberId);
            };
            let Kind::Classic(g) = &mut entry.kind else {
                return SyncResult::error(ResponseError::UnknownMemberId);
            };
            let reply = g.sync(p, Instant::now(), now_ms());
            (reply, self.persist_if_dirty(entry))
        };
        if let Err(e) = Self::sync(to_sync).await {
            return SyncResult::error(e);
        }
        match reply {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx
                .await
                .unwrap_or_else(|_| SyncResult::error(ResponseError::RebalanceInProgress)),
        }
    }

    /// Heartbeat.
    pub(crate) fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let mut groups = self.lock();
        let entry = groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        let Kind::Classic(g) = &mut entry.kind else {
            return Err(ResponseError::UnknownMemberId);
        };
        g.heartbeat(member_id, instance_id, generation, Instant::now())
    }

    /// ConsumerGroupHeartbeat (KIP-848). `owned` partitions come as topic ids; the answer's
    /// assignment is resolved back to topic ids by the caller.
    pub(crate) async fn consumer_heartbeat(
        &self,
        group_id: &str,
        p: HeartbeatParams,
    ) -> Result<HeartbeatResult, (ResponseError, String)> {
        let (result, to_sync) = {
            let mut groups = self.lock();
            let result = self.consumer_heartbeat_locked(&mut groups, group_id, p);
            let to_sync = match groups.get_mut(group_id).map(|e| &mut e.kind) {
                Some(Kind::Consumer(g)) => self.persist_consumer(g),
                _ => None,
            };
            (result, to_sync)
        };
        if let Err(e) = Self::sync(to_sync).await {
            return Err((e, "cannot make the group state durable".into()));
        }
        result
    }

    fn consumer_heartbeat_locked(
        &self,
        groups: &mut HashMap<String, Entry>,
        group_id: &str,
        p: HeartbeatParams,
    ) -> Result<HeartbeatResult, (ResponseError, String)> {
        if p.member_epoch != 0 && !groups.contains_key(group_id) {
            return Err((
                ResponseError::UnknownMemberId,
                format!("group {group_id} has no member {}", p.member_id),
            ));
        }
        let entry = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Entry::new(group_id));
        let Some(g) = entry.consumer(group_id) else {
            return Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            ));
        };
        let counts = self.topic_counts();
        let names: Vec<String> = counts.keys().cloned().collect();
        // Members of a group usually share one pattern: compile and match each pattern once
        // per heartbeat, not once per member.
        let resolved: std::cell::RefCell<HashMap<String, Result<Vec<String>, String>>> =
            std::cell::RefCell::default();
        let resolve = |pattern: &str| {
            resolved
                .borrow_mut()
                .entry(pattern.to_string())
                .or_insert_with(|| resolve_regex(pattern, &names))
                .clone()
        };
        let new_id = uuid::Uuid::new_v4().to_string();
        g.heartbeat(
            p,
            new_id,
            &counts,
            &resolve,
            &self.consumer_limits,
            Instant::now(),
            now_ms(),
        )
    }

    /// Partition counts of every non-internal topic (what consumer groups may subscribe to).
    fn topic_counts(&self) -> TopicCounts {
        self.topics
            .all()
            .into_iter()
            .filter(|t| !t.is_internal())
            .map(|t| (t.name.clone(), t.partition_count()))
            .collect()
    }

    /// (topic id, partitions) per topic of a set of partitions, for the records; partitions of
    /// topics that no longer exist are left out.
    fn by_topic_id<'a>(
        &self,
        tps: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Vec<(uuid::Uuid, Vec<i32>)> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            out.entry(t.clone()).or_default().push(*p);
        }
        out.into_iter()
            .filter_map(|(t, ps)| Some((self.topics.get(&t)?.id, ps)))
            .collect()
    }

    fn assigned_partitions<'a>(
        &self,
        tps: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Vec<records::AssignedPartitions> {
        self.by_topic_id(tps)
            .into_iter()
            .map(|(topic_id, partitions)| records::AssignedPartitions {
                topic_id,
                partitions,
                assignment_epochs: Some(Vec::new()),
            })
            .collect()
    }

    /// The records for what changed in a consumer-protocol group, in Kafka's order: removed
    /// members' tombstones, member metadata (5), group epoch (3), target assignment (7, 6),
    /// current assignments (8).
    fn consumer_writes(&self, g: &mut ConsumerGroup) -> Vec<Write> {
        let changes = std::mem::take(&mut g.changes);
        if changes.is_empty() {
            return Vec::new();
        }
        let group = g.id.clone();
        let member_key = |kind: i16, member: &str| {
            let (group, member) = (group.clone(), member.to_string());
            match kind {
                5 => RecordKey::ConsumerGroupMemberMetadata { group, member },
                7 => RecordKey::ConsumerGroupTargetAssignmentMember { group, member },
                _ => RecordKey::ConsumerGroupCurrentMemberAssignment { group, member },
            }
        };
        let mut writes = Vec::new();
        let mut removed = Vec::new();
        let mut members = Vec::new();
        let mut assignments = Vec::new();
        let (mut epoch, mut target) = (false, false);
        for c in &changes {
            match c {
                Change::MemberRemoved(id)
                    if !g.members.contains_key(id) && !removed.contains(id) =>
                {
                    removed.push(id.clone());
                }
                Change::Member(id) if g.members.contains_key(id) && !members.contains(id) => {
                    members.push(id.clone());
                }
                Change::Assignment(id)
                    if g.members.contains_key(id) && !assignments.contains(id) =>
                {
                    assignments.push(id.clone());
                }
                Change::GroupEpoch => epoch = true,
                Change::Target => target = true,
                _ => {}
            }
        }
        for id in &removed {
            for kind in [8, 7, 5] {
                writes.push((member_key(kind, id), None));
            }
        }
        for id in &members {
            let Some(m) = g.members.get(id) else { continue };
            writes.push((
                member_key(5, id),
                Some(Value::ConsumerMember(
                    records::ConsumerGroupMemberMetadataValue {
                        instance_id: m.instance_id.clone(),
                        rack_id: m.rack_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topic_names: m.subscribed.clone(),
                        subscribed_topic_regex: Some(m.regex.clone().unwrap_or_default()),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        server_assignor: m.server_assignor.clone(),
                        classic_member_metadata: None,
                    },
                )),
            ));
        }
        if epoch {
            writes.push((
                RecordKey::ConsumerGroupMetadata {
                    group: group.clone(),
                },
                Some(Value::ConsumerGroup(records::ConsumerGroupMetadataValue {
                    epoch: g.group_epoch,
                    metadata_hash: 0,
                })),
            ));
        }
        if target {
            for (id, tps) in &g.target {
                writes.push((
                    member_key(7, id),
                    Some(Value::TargetMember(
                        records::ConsumerGroupTargetAssignmentMemberValue {
                            topic_partitions: self.by_topic_id(tps),
                        },
                    )),
                ));
            }
            writes.push((
                RecordKey::ConsumerGroupTargetAssignmentMetadata {
                    group: group.clone(),
                },
                Some(Value::TargetMetadata(
                    records::ConsumerGroupTargetAssignmentMetadataValue {
                        assignment_epoch: g.assignment_epoch,
                        assignment_timestamp: now_ms(),
                    },
                )),
            ));
        }
        for id in &assignments {
            let Some(m) = g.members.get(id) else { continue };
            writes.push((
                member_key(8, id),
                Some(Value::CurrentAssignment(
                    records::ConsumerGroupCurrentMemberAssignmentValue {
                        member_epoch: m.epoch,
                        previous_member_epoch: m.previous_epoch,
                        state: m.state.to_byte(),
                        assigned_partitions: self.assigned_partitions(&m.assigned),
                        partitions_pending_revocation: self.assigned_partitions(&m.revoking),
                    },
                )),
            ));
        }
        writes
    }

    /// Append what changed in a consumer-protocol group. Failures are logged: the in-memory
    /// state stays authoritative until the next change is written.
    fn persist_consumer(&self, g: &mut ConsumerGroup) -> Option<Arc<Partition>> {
        let writes = self.consumer_writes(g);
        match self.append(&g.id, &writes) {
            Ok(p) => p,
            Err(e) => {
                error!(group = %g.id, error = %e, "cannot write consumer group state to __consumer_offsets");
                None
            }
        }
    }

    /// ConsumerGroupDescribe for one group.
    pub(crate) fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, (ResponseError, String)> {
        let groups = self.lock();
        let Some(entry) = groups.get(group_id) else {
            return Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} not found."),
            ));
        };
        let Kind::Consumer(g) = &entry.kind else {
            return Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            ));
        };
        Ok(ConsumerGroupDescription {
            state: g.state(),
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            assignor: g.assignor(),
            members: g
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed: m.subscribed.clone(),
                    regex: m.regex.clone(),
                    assignment: m.assigned.iter().cloned().collect(),
                    target: g
                        .target
                        .get(&m.id)
                        .map(|t| t.iter().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// OffsetFetch v9+ from a consumer-protocol member: its epoch must be current.
    pub(crate) fn validate_fetch_member(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        let groups = self.lock();
        match groups.get(group_id).map(|e| &e.kind) {
            Some(Kind::Consumer(g)) => g.validate_member_epoch(member_id, epoch),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for each (member id, instance id).
    pub(crate) async fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Vec<Result<(), ResponseError>> {
        let (out, to_sync) = {
            let mut groups = self.lock();
            let Some(entry) = groups.get_mut(group_id) else {
                return members
                    .iter()
                    .map(|_| Err(ResponseError::UnknownMemberId))
                    .collect();
            };
            let Kind::Classic(g) = &mut entry.kind else {
                return members
                    .iter()
                    .map(|_| Err(ResponseError::UnknownMemberId))
                    .collect();
            };
            let now = Instant::now();
            let out = members
                .iter()
                .map(|(m, i)| g.leave(m, i.as_deref(), &self.limits, now, now_ms()))
                .collect();
            (out, self.persist_if_dirty(entry))
        };
        let _ = Self::sync(to_sync).await;
        out
    }

    /// OffsetCommit: one result per offset, in order.
    pub(crate) async fn commit(
        &self,
        group_id: &str,
        who: &Committer,
        offsets: &[OffsetToCommit],
    ) -> Vec<Result<(), ResponseError>> {
        self.commit_with(group_id, who, offsets, None).await
    }

    /// OffsetCommit, or with `txn` = (producer id, epoch) a TxnOffsetCommit: the offsets are then written as the
    /// producer's transactional batch and held pending until its transaction ends.
    async fn commit_with(
        &self,
        group_id: &str,
        who: &Committer,
        offsets: &[OffsetToCommit],
        txn: Option<(i64, i16)>,
    ) -> Vec<Result<(), ResponseError>> {
        let now = now_ms();
        let mut results: Vec<Result<(), ResponseError>> = offsets
            .iter()
            .map(|o| {
                let known = self
                    .topics
                    .get(&o.topic)
                    .is_some_and(|t| o.partition >= 0 && o.partition < t.partition_count());
                if !known {
                    Err(ResponseError::UnknownTopicOrPartition)
                } else if o
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > self.config.offset_metadata_max_bytes)
                {
                    Err(ResponseError::OffsetMetadataTooLarge)
                } else {
                    Ok(())
                }
            })
            .collect();
        let to_sync = {
            let mut groups = self.lock();
            if !groups.contains_key(group_id) {
                if who.generation >= 0 || !who.member_id.is_empty() {
                    return offsets
                        .iter()
                        .map(|_| Err(ResponseError::IllegalGeneration))
                        .collect();
                }
                groups.insert(group_id.to_string(), Entry::new(group_id));
            }
            let Some(entry) = groups.get_mut(group_id) else {
                return offsets
                    .iter()
                    .map(|_| Err(ResponseError::UnknownServerError))
                    .collect();
            };
            let outside = who.generation < 0 && who.member_id.is_empty();
            let valid = match &mut entry.kind {
                // Kafka does not tie a transactional commit outside any generation to the members.
                _ if outside && txn.is_some() => Ok(()),
                Kind::Classic(g) => validate_commit(g, who),
                Kind::Consumer(g) if outside && g.members.is_empty() => Ok(()),
                Kind::Consumer(g) => g.validate_member_epoch(&who.member_id, who.generation),
            };
            if let Err(e) = valid {
                return offsets.iter().map(|_| Err(e)).collect();
            }
            let expire = if who.retention_ms >= 0 {
                now.saturating_add(who.retention_ms)
            } else {
                -1
            };
            let mut recs = Vec::new();
            let mut committed = Vec::new();
            for (o, r) in offsets.iter().zip(&results) {
                if r.is_ok() {
                    let c = Committed {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata: o.metadata.clone().unwrap_or_default(),
                        commit_timestamp: now,
                        expire_timestamp: expire,
                    };
                    recs.push((
                        Self::offset_key(group_id, &o.topic, o.partition),
                        Some(Value::Offset(to_value(&c))),
                    ));
                    committed.push(((o.topic.clone(), o.partition), c));
                }
            }
            match self.append_with(group_id, &recs, txn) {
                Ok(p) => {
                    match txn {
                        Some((pid, _)) => entry.pending.entry(pid).or_default().extend(committed),
                        None => entry.offsets.extend(committed),
                    }
                    p
                }
                Err(e) => {
                    error!(group = group_id, producer_id = txn.map(|t| t.0), error = %e,
                        "cannot write offsets to __consumer_offsets");
                    let code = match &e {
                        TopicError::Storage(StorageError::InvalidProducerEpoch(_))
                            if txn.is_some() =>
                        {
                            ResponseError::ProducerFenced
                        }
                        _ => write_error(&e),
                    };
                    for r in &mut results {
                        if r.is_ok() {
                            *r = Err(code);
                        }
                    }
                    None
                }
            }
        };
        if let Err(e) = Self::sync(to_sync).await {
            for r in &mut results {
                if r.is_ok() {
                    *r = Err(e);
                }
            }
        }
        results
    }

    /// TxnOffsetCommit: offsets committed inside producer `txn` = (id, epoch)'s transaction. They are written to
    /// the group's `__consumer_offsets` partition as a transactional batch (the caller has checked that the
    /// partition is in the transaction) and become visible when the transaction commits
    /// ([`GroupCoordinator::complete_txn`]). `who` as for OffsetCommit, except that a commit outside any
    /// generation (-1, no member) is not checked against the group's members, as in Kafka.
    pub(crate) async fn txn_commit(
        &self,
        group_id: &str,
        who: &Committer,
        txn: (i64, i16),
        offsets: &[OffsetToCommit],
    ) -> Vec<Result<(), ResponseError>> {
        self.commit_with(group_id, who, offsets, Some(txn)).await
    }

    /// End producer `producer_id`'s transaction on `__consumer_offsets` partition `partition` (called by the
    /// transaction coordinator): write the marker, then make the transaction's offsets of the groups on that
    /// partition visible (commit) or drop them (abort). Returns the partition when it needs an fsync.
    pub(crate) fn complete_txn(
        &self,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<Option<Arc<Partition>>, TopicError> {
        let topic = self.ensure_offsets_topic()?;
        let p = self
            .replicas
            .partition(&topic.id, partition)
            .ok_or(TopicError::Unknown)?;
        let count = topic.partition_count();
        let mut groups = self.lock();
        let marker = if commit {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        let info = p.append_txn_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            marker,
            now_ms(),
        )?;
        for (id, entry) in groups.iter_mut() {
            if partition_for(id, count) != partition {
                continue;
            }
            if let Some(offsets) = entry.pending.remove(&producer_id) {
                if commit {
                    info!(group = %id, producer_id, offsets = offsets.len(), "transactional offsets committed");
                    entry.offsets.extend(offsets);
                }
            }
        }
        Ok(info.needs_flush.then_some(p))
    }

    /// Partitions of `group_id` with transactional offsets not yet committed or aborted (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub(crate) fn unstable_offsets(
        &self,
        group_id: &str,
    ) -> std::collections::HashSet<(String, i32)> {
        self.lock()
            .get(group_id)
            .map(|e| e.pending.values().flat_map(|m| m.keys().cloned()).collect())
            .unwrap_or_default()
    }

    /// OffsetFetch for one group: every committed offset (`topics` = None) or the requested
    /// partitions (None = nothing committed).
    pub(crate) fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<TopicOffsets> {
        let groups = self.lock();
        let entry = groups.get(group_id);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let got = parts
                        .into_iter()
                        .map(|p| {
                            let c = entry.and_then(|e| e.offsets.get(&(t.clone(), p)).cloned());
                            (p, c)
                        })
                        .collect();
                    (t, got)
                })
                .collect(),
            None => {
                let mut out: Vec<TopicOffsets> = Vec::new();
                if let Some(e) = entry {
                    for ((t, p), c) in &e.offsets {
                        match out.last_mut() {
                            Some((lt, v)) if lt == t => v.push((*p, Some(c.clone()))),
                            _ => out.push((t.clone(), vec![(*p, Some(c.clone()))])),
                        }
                    }
                }
                out
            }
        }
    }

    /// DescribeGroups for one group (None = no such classic group).
    pub(crate) fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.lock();
        let Kind::Classic(g) = &groups.get(group_id)?.kind else {
            return None;
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// ListGroups.
    pub(crate) fn list(&self) -> Vec<GroupListing> {
        let groups = self.lock();
        let mut out: Vec<GroupListing> = groups
            .values()
            .map(|e| match &e.kind {
                Kind::Classic(g) => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    state: g.state.name(),
                    group_type: "classic",
                },
                Kind::Consumer(g) => GroupListing {
                    group_id: g.id.clone(),
                    protocol_type: "consumer".into(),
                    state: g.state(),
                    group_type: "consumer",
                },
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups for one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or gone (offsets and
    /// metadata tombstoned).
    pub(crate) async fn delete_group(&self, group_id: &str) -> Result<(), ResponseError> {
        let to_sync = {
            let mut groups = self.lock();
            let entry = groups
                .get_mut(group_id)
                .ok_or(ResponseError::GroupIdNotFound)?;
            if !entry.is_empty() {
                return Err(ResponseError::NonEmptyGroup);
            }
            let mut recs: Vec<Write> = entry
                .offsets
                .keys()
                .map(|(t, p)| (Self::offset_key(group_id, t, *p), None))
                .collect();
            recs.extend(group_tombstones(group_id, &entry.kind));
            let p = self.append(group_id, &recs).map_err(|e| write_error(&e))?;
            if let Kind::Classic(g) = &mut entry.kind {
                g.kill(now_ms());
            }
            groups.remove(group_id);
            info!(group = group_id, "deleted group");
            p
        };
        Self::sync(to_sync).await
    }

    /// OffsetDelete: per partition NONE, GROUP_SUBSCRIBED_TO_TOPIC or UNKNOWN_TOPIC_OR_PARTITION;
    /// a group-level error for an unknown or non-empty non-consumer group.
    pub(crate) async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<Vec<(String, Vec<(i32, Result<(), ResponseError>)>)>, ResponseError> {
        let (out, to_sync) = {
            let mut groups = self.lock();
            let entry = groups
                .get_mut(group_id)
                .ok_or(ResponseError::GroupIdNotFound)?;
            let subscribed: Vec<String> = match &entry.kind {
                _ if entry.is_empty() => Vec::new(),
                Kind::Classic(g) if g.protocol_type.as_deref() == Some("consumer") => {
                    subscribed_topics(g)
                }
                Kind::Classic(_) => return Err(ResponseError::NonEmptyGroup),
                Kind::Consumer(g) => g.subscribed_topics().into_iter().collect(),
            };
            let mut recs = Vec::new();
            let mut out = Vec::new();
            for (t, parts) in topics {
                let known = self.topics.get(t);
                let mut rs = Vec::new();
                for &p in parts {
                    let r = if known
                        .as_ref()
                        .is_none_or(|k| p < 0 || p >= k.partition_count())
                    {
                        Err(ResponseError::UnknownTopicOrPartition)
                    } else if subscribed.contains(t) {
                        Err(ResponseError::GroupSubscribedToTopic)
                    } else {
                        if entry.offsets.contains_key(&(t.clone(), p)) {
                            recs.push((Self::offset_key(group_id, t, p), None));
                        }
                        Ok(())
                    };
                    rs.push((p, r));
                }
                out.push((t.clone(), rs));
            }
            let p = self.append(group_id, &recs).map_err(|e| write_error(&e))?;
            for (t, rs) in &out {
                for (p, r) in rs {
                    if r.is_ok() {
                        entry.offsets.remove(&(t.clone(), *p));
                    }
                }
            }
            (out, p)
        };
        Self::sync(to_sync).await?;
        Ok(out)
    }

    /// Expire timed-out members, pending joins and syncs of every group (called every 100 ms).
    pub(crate) async fn tick(&self) {
        let mut to_sync = Vec::new();
        {
            let mut groups = self.lock();
            let now = Instant::now();
            let wall = now_ms();
            for entry in groups.values_mut() {
                match &mut entry.kind {
                    Kind::Classic(g) if !g.is_idle() => g.tick(&self.limits, now, wall),
                    Kind::Classic(_) => {}
                    Kind::Consumer(g) => {
                        g.tick(now, wall);
                        if let Some(p) = self.persist_consumer(g) {
                            to_sync.push(p);
                        }
                    }
                }
                if let Some(p) = self.persist_if_dirty(entry) {
                    to_sync.push(p);
                }
            }
        }
        for p in to_sync {
            let _ = Self::sync(Some(p)).await;
        }
    }

    /// Remove committed offsets past `offsets.retention.minutes` (of empty groups, counted from
    /// when the group became empty; of groups that only store offsets, from the commit) and empty
    /// groups left without offsets, writing tombstones.
    pub(crate) async fn expire_offsets(&self) {
        self.expire_offsets_at(now_ms()).await;
    }

    /// [`GroupCoordinator::expire_offsets`] as if the wall clock read `now` (ms).
    async fn expire_offsets_at(&self, now: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut to_sync = Vec::new();
        {
            let mut groups = self.lock();
            let mut dead = Vec::new();
            for (id, entry) in groups.iter_mut() {
                if !entry.is_empty() {
                    continue;
                }
                let (consumer_group, became_empty) = match &entry.kind {
                    Kind::Classic(g) => (g.protocol_type.is_some(), g.state_timestamp_ms),
                    Kind::Consumer(g) => (true, g.state_timestamp_ms),
                };
                let expired: Vec<(String, i32)> = entry
                    .offsets
                    .iter()
                    .filter(|(_, c)| {
                        if c.expire_timestamp >= 0 {
                            return now >= c.expire_timestamp;
                        }
                        let base = if consumer_group {
                            became_empty.max(c.commit_timestamp)
                        } else {
                            c.commit_timestamp
                        };
                        now >= base.saturating_add(retention)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut recs: Vec<Write> = expired
                    .iter()
                    .map(|(t, p)| (Self::offset_key(id, t, *p), None))
                    .collect();
                let emptied = expired.len() == entry.offsets.len();
                if emptied {
                    recs.extend(group_tombstones(id, &entry.kind));
                }
                match self.append(id, &recs) {
                    Ok(p) => {
                        if !expired.is_empty() {
                            info!(group = %id, expired = expired.len(), "expired committed offsets");
                        }
                        for k in &expired {
                            entry.offsets.remove(k);
                        }
                        if emptied {
                            dead.push(id.clone());
                        }
                        to_sync.extend(p);
                    }
                    Err(e) => {
                        warn!(group = %id, error = %e, "cannot write offset expiry tombstones")
                    }
                }
            }
            for id in dead {
                groups.remove(&id);
            }
        }
        for p in to_sync {
            let _ = Self::sync(Some(p)).await;
        }
    }
}

/// The sorted topics among `names` that a KIP-848 `SubscribedTopicRegex` matches (the whole
/// name, as Kafka's RE2/J `matches()`), or why the expression is invalid.
fn resolve_regex(pattern: &str, names: &[String]) -> Result<Vec<String>, String> {
    let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())?;
    let mut out: Vec<String> = names.iter().filter(|n| re.is_match(n)).cloned().collect();
    out.sort();
    Ok(out)
}

/// Tombstones that delete a group's own records (not its offsets): the GroupMetadata record
/// of a classic group; the group, target-assignment and partition metadata of a
/// consumer-protocol group.
fn group_tombstones(group_id: &str, kind: &Kind) -> Vec<Write> {
    let group = group_id.to_string();
    match kind {
        Kind::Classic(_) => vec![(RecordKey::GroupMetadata { group }, None)],
        Kind::Consumer(_) => vec![
            (
                RecordKey::ConsumerGroupTargetAssignmentMetadata {
                    group: group.clone(),
                },
                None,
            ),
            (
                RecordKey::ConsumerGroupPartitionMetadata {
                    group: group.clone(),
                },
                None,
            ),
            (RecordKey::ConsumerGroupMetadata { group }, None),
        ],
    }
}

/// Kafka's classic-group offset-commit validation.
fn validate_commit(g: &mut ClassicGroup, who: &Committer) -> Result<(), ResponseError> {
    if g.state == GroupState::Dead {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if who.generation < 0 && who.member_id.is_empty() && who.instance_id.is_none() {
        // A commit outside any generation (assign() consumers, admin tools): only for groups
        // without members.
        return if g.state == GroupState::Empty {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        };
    }
    g.validate_member(&who.member_id, who.instance_id.as_deref())?;
    if who.generation != g.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    g.touch(&who.member_id, Instant::now());
    Ok(())
}

/// Topics the members of a consumer-protocol group subscribe to (from their metadata).
fn subscribed_topics(g: &ClassicGroup) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let mut out = Vec::new();
    for m in &g.members {
        let mut buf = m.metadata_for(&protocol);
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let _ = bytes::Buf::get_i16(&mut buf);
        if let Ok(s) = ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)) {
            out.extend(s.topics.into_iter().map(|t| t.to_string()));
        }
    }
    out
}

fn to_value(c: &Committed) -> OffsetCommitValue {
    OffsetCommitValue {
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata: c.metadata.clone(),
        commit_timestamp: c.commit_timestamp,
        expire_timestamp: c.expire_timestamp,
        topic_id: None,
    }
}

/// Group and offset state read back from `__consumer_offsets`.
#[derive(Debug, Default)]
struct Replay {
    groups: HashMap<String, GroupMetadataValue>,
    offsets: HashMap<(String, String, i32), Committed>,
    consumer: HashMap<String, ConsumerReplay>,
    /// Offsets of transactions without a marker yet, by producer id (a producer id is in one transaction at a
    /// time): applied at its COMMIT marker, dropped at its ABORT marker.
    open_txns: HashMap<i64, HashMap<(String, String, i32), Committed>>,
}

/// A consumer-protocol group read back from its records (types 3, 5, 6, 7, 8).
#[derive(Debug, Default)]
struct ConsumerReplay {
    epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, records::ConsumerGroupMemberMetadataValue>,
    targets: BTreeMap<String, Vec<(uuid::Uuid, Vec<i32>)>>,
    current: BTreeMap<String, records::ConsumerGroupCurrentMemberAssignmentValue>,
}

impl Replay {
    /// Apply every record of one partition, oldest first (the last value of a key wins).
    fn partition(&mut self, p: &Arc<Partition>) -> Result<(), TopicError> {
        p.for_each_batch(|h, batch| {
            if h.is_control() {
                match parse_control_batch(batch) {
                    Ok(Some((marker, _))) => self.end_txn(h.producer_id, marker),
                    Ok(None) => {}
                    Err(e) => warn!(partition = p.index, offset = h.base_offset, error = %e,
                        "skipping an undecodable control batch in __consumer_offsets"),
                }
                return;
            }
            match decode_records(batch) {
                Ok((_, recs)) => {
                    for r in recs {
                        if h.is_transactional() {
                            self.apply_txn(h.producer_id, &r, p);
                        } else {
                            self.apply(&r, p);
                        }
                    }
                }
                Err(e) => warn!(partition = p.index, offset = h.base_offset, error = %e,
                    "skipping an undecodable batch in __consumer_offsets"),
            }
        })?;
        Ok(())
    }

    /// A record of a transactional batch (only TxnOffsetCommit writes them): held until the marker.
    fn apply_txn(&mut self, producer_id: i64, r: &Record, p: &Partition) {
        let Some(Ok(RecordKey::OffsetCommit {
            group,
            topic,
            partition,
        })) = r.key.as_deref().map(records::decode_key)
        else {
            warn!(
                partition = p.index,
                offset = r.offset,
                "skipping a transactional __consumer_offsets record that is not an offset commit"
            );
            return;
        };
        match r.value.as_deref().map(records::decode_offset_commit_value) {
            Some(Ok(v)) => {
                self.open_txns.entry(producer_id).or_default().insert(
                    (group, topic, partition),
                    Committed {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp: v.commit_timestamp,
                        expire_timestamp: v.expire_timestamp,
                    },
                );
            }
            Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                "skipping an undecodable transactional offset"),
            None => {}
        }
    }

    /// A transaction marker: the producer's pending offsets become committed (COMMIT) or are dropped (ABORT).
    fn end_txn(&mut self, producer_id: i64, marker: TxnMarker) {
        if let Some(offsets) = self.open_txns.remove(&producer_id) {
            if marker == TxnMarker::Commit {
                self.offsets.extend(offsets);
            }
        }
    }

    fn apply(&mut self, r: &Record, p: &Partition) {
        let Some(key) = r.key.as_deref() else {
            return;
        };
        let key = match records::decode_key(key) {
            Ok(k) => k,
            Err(e) => {
                warn!(partition = p.index, offset = r.offset, error = %e, "skipping an undecodable __consumer_offsets key");
                return;
            }
        };
        match key {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                let k = (group, topic, partition);
                match r.value.as_deref().map(records::decode_offset_commit_value) {
                    None => {
                        self.offsets.remove(&k);
                    }
                    Some(Ok(v)) => {
                        self.offsets.insert(
                            k,
                            Committed {
                                offset: v.offset,
                                leader_epoch: v.leader_epoch,
                                metadata: v.metadata,
                                commit_timestamp: v.commit_timestamp,
                                expire_timestamp: v.expire_timestamp,
                            },
                        );
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable committed offset"),
                }
            }
            RecordKey::GroupMetadata { group } => {
                match r.value.as_deref().map(records::decode_group_metadata_value) {
                    None => {
                        self.groups.remove(&group);
                    }
                    Some(Ok(v)) => {
                        self.groups.insert(group, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable group metadata"),
                }
            }
            RecordKey::ConsumerGroupMetadata { group } => {
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_metadata_value)
                {
                    None => {
                        self.consumer.remove(&group);
                    }
                    Some(Ok(v)) => self.consumer.entry(group).or_default().epoch = v.epoch,
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable consumer group metadata"),
                }
            }
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => {
                if let Some(v) = r.value.as_deref() {
                    match records::decode_consumer_group_target_assignment_metadata_value(v) {
                        Ok(v) => {
                            self.consumer.entry(group).or_default().assignment_epoch =
                                v.assignment_epoch;
                        }
                        Err(e) => warn!(partition = p.index, offset = r.offset, error = %e,
                            "skipping undecodable target assignment metadata"),
                    }
                }
            }
            RecordKey::ConsumerGroupMemberMetadata { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_member_metadata_value)
                {
                    None => {
                        g.members.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.members.insert(member, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable consumer group member"),
                }
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_target_assignment_member_value)
                {
                    None => {
                        g.targets.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.targets.insert(member, v.topic_partitions);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable target assignment"),
                }
            }
            RecordKey::ConsumerGroupCurrentMemberAssignment { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_current_member_assignment_value)
                {
                    None => {
                        g.current.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.current.insert(member, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable member assignment"),
                }
            }
            // Partition metadata (no longer written by Kafka 4.4), regex, share and streams
            // groups: nothing to restore.
            _ => {}
        }
    }

    fn into_entries(self, topics: &Topics, limits: &ConsumerLimits) -> HashMap<String, Entry> {
        let now = Instant::now();
        let mut out: HashMap<String, Entry> = HashMap::new();
        let names = |tps: &[(uuid::Uuid, Vec<i32>)]| -> Vec<TopicPartition> {
            tps.iter()
                .filter_map(|(id, ps)| {
                    let t = topics.get_by_id(id)?;
                    Some(
                        ps.iter()
                            .map(move |p| (t.name.clone(), *p))
                            .collect::<Vec<_>>(),
                    )
                })
                .flatten()
                .collect()
        };
        let assigned = |aps: &[records::AssignedPartitions]| -> Vec<TopicPartition> {
            let flat: Vec<(uuid::Uuid, Vec<i32>)> = aps
                .iter()
                .map(|a| (a.topic_id, a.partitions.clone()))
                .collect();
            names(&flat)
        };
        for (id, c) in self.consumer {
            // A group id belongs to one protocol at a time: a consumer group with members wins.
            if c.members.is_empty() && self.groups.contains_key(&id) {
                continue;
            }
            let members: Vec<RestoredMember> = c
                .members
                .iter()
                .map(|(mid, m)| {
                    let cur = c.current.get(mid);
                    RestoredMember {
                        id: mid.clone(),
                        instance_id: m.instance_id.clone(),
                        rack_id: m.rack_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        subscribed: m.subscribed_topic_names.clone(),
                        regex: m.subscribed_topic_regex.clone().filter(|r| !r.is_empty()),
                        server_assignor: m.server_assignor.clone(),
                        epoch: cur.map_or(0, |a| a.member_epoch),
                        previous_epoch: cur.map_or(-1, |a| a.previous_member_epoch),
                        state: cur.map_or(MemberState::Stable, |a| MemberState::from_byte(a.state)),
                        assigned: cur
                            .map(|a| assigned(&a.assigned_partitions))
                            .unwrap_or_default(),
                        revoking: cur
                            .map(|a| assigned(&a.partitions_pending_revocation))
                            .unwrap_or_default(),
                        target: c.targets.get(mid).map(|t| names(t)).unwrap_or_default(),
                    }
                })
                .collect();
            let all: Vec<String> = topics
                .all()
                .into_iter()
                .filter(|t| !t.is_internal())
                .map(|t| t.name.clone())
                .collect();
            let resolve = |pattern: &str| resolve_regex(pattern, &all);
            let resolved: Vec<String> = members
                .iter()
                .filter_map(|m| m.regex.as_deref())
                .flat_map(|r| resolve(r).unwrap_or_default())
                .collect();
            let subscribed: std::collections::BTreeSet<String> = members
                .iter()
                .flat_map(|m| m.subscribed.iter().cloned())
                .chain(resolved)
                .collect();
            let counts: TopicCounts = subscribed
                .into_iter()
                .filter_map(|t| Some((t.clone(), topics.get(&t)?.partition_count())))
                .collect();
            let group = ConsumerGroup::restore(
                &id,
                c.epoch,
                c.assignment_epoch,
                members,
                counts,
                &resolve,
                limits,
                now,
                now_ms(),
            );
            out.insert(
                id,
                Entry {
                    kind: Kind::Consumer(group),
                    offsets: BTreeMap::new(),
                    pending: HashMap::new(),
                },
            );
        }
        for (id, v) in self.groups {
            if out.contains_key(&id) {
                continue;
            }
            let members = v
                .members
                .into_iter()
                .map(|m| StoredMember {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout,
                    rebalance_timeout_ms: m.rebalance_timeout,
                    subscription: m.subscription,
                    assignment: m.assignment,
                })
                .collect();
            let group = ClassicGroup::restore(
                &id,
                v.protocol_type,
                v.generation,
                v.protocol,
                v.leader,
                v.current_state_timestamp,
                members,
                now,
            );
            out.insert(
                id,
                Entry {
                    kind: Kind::Classic(group),
                    offsets: BTreeMap::new(),
                    pending: HashMap::new(),
                },
            );
        }
        for ((g, t, p), c) in self.offsets {
            out.entry(g.clone())
                .or_insert_with(|| Entry::new(&g))
                .offsets
                .insert((t, p), c);
        }
        // Transactional offsets whose transaction has no marker yet stay pending.
        for (pid, offsets) in self.open_txns {
            for ((g, t, p), c) in offsets {
                out.entry(g.clone())
                    .or_insert_with(|| Entry::new(&g))
                    .pending
                    .entry(pid)
                    .or_default()
                    .insert((t, p), c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A coordinator over a fresh data dir with one topic `t` of 2 partitions.
    fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
        let mut b = crate::config::ConfigBuilder::default();
        b.set("log.dirs", dir.to_str().unwrap()).unwrap();
        b.set("offsets.topic.num.partitions", "3").unwrap();
        b.set("offsets.retention.minutes", "10").unwrap();
        let config = Arc::new(b.build().unwrap());
        let replicas = Arc::new(ReplicaManager::new(dir, config.node_id));
        let topics = Arc::new(Topics::load(dir, config.clone(), replicas.clone(), true).unwrap());
        topics.create("t", 2, 1, &[], &[]).unwrap();
        GroupCoordinator::load(topics, replicas, config).unwrap()
    }

    fn commit_at(partition: i32, offset: i64) -> OffsetToCommit {
        OffsetToCommit {
            topic: "t".into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    const STANDALONE: Committer = Committer {
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        retention_ms: -1,
    };

    #[tokio::test]
    async fn offsets_expire_after_the_retention_and_the_expiry_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let r = c.commit("old", &STANDALONE, &[commit_at(0, 5)]).await;
        assert!(r.iter().all(Result::is_ok));
        let r = c.commit("young", &STANDALONE, &[commit_at(1, 7)]).await;
        assert!(r.iter().all(Result::is_ok));
        let ten_min = 10 * 60_000;
        let committed_old = c.lock()["old"].offsets[&("t".to_string(), 0)].commit_timestamp;
        // Age "young" artificially: it was committed a minute later.
        c.lock()
            .get_mut("young")
            .unwrap()
            .offsets
            .get_mut(&("t".to_string(), 1))
            .unwrap()
            .commit_timestamp += 60_000;

        c.expire_offsets_at(committed_old + ten_min - 1).await;
        assert_eq!(c.list().len(), 2, "nothing is due yet");
        c.expire_offsets_at(committed_old + ten_min).await;
        let groups: Vec<String> = c.list().into_iter().map(|g| g.group_id).collect();
        assert_eq!(groups, ["young"], "the empty group without offsets is gone");
        let got = c.fetch_offsets("young", Some(vec![("t".into(), vec![1])]));
        assert_eq!(got[0].1[0].1.as_ref().map(|c| c.offset), Some(7));

        // Replaying the log gives the same state: the expiry wrote tombstones.
        let topics = c.topics.clone();
        let replicas = c.replicas.clone();
        let config = c.config.clone();
        drop(c);
        let c = GroupCoordinator::load(topics, replicas, config).unwrap();
        let groups: Vec<String> = c.list().into_iter().map(|g| g.group_id).collect();
        assert_eq!(groups, ["young"]);
        assert!(c.fetch_offsets("old", None).is_empty());
    }

    #[tokio::test]
    async fn offsets_of_a_consumer_group_expire_only_once_it_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let r = c.commit("g", &STANDALONE, &[commit_at(0, 1)]).await;
        assert!(r.iter().all(Result::is_ok));
        // Give the group a member: its offsets must stay however old they are.
        {
            let mut groups = c.lock();
            let e = groups.get_mut("g").unwrap();
            let Kind::Classic(g) = &mut e.kind else {
                panic!()
            };
            g.protocol_type = Some("consumer".into());
            g.state = GroupState::Stable;
        }
        c.expire_offsets_at(i64::MAX / 2).await;
        assert_eq!(c.fetch_offsets("g", None).len(), 1);
    }

    #[test]
    fn group_placement_matches_kafka() {
        // Values printed by Java's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        assert_eq!(java_string_hash("console-consumer-1234"), 836_395_459);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for("console-consumer-1234", 50), 836_395_459 % 50);
        assert_eq!(java_string_hash("gr\u{fc}ppe"), -1_233_264_812);
        assert_eq!(partition_for("", 50), 0);
        // Non-BMP characters hash as two UTF-16 code units, as in Java.
        assert_eq!(java_string_hash("x\u{1F600}"), 1_888_219);
    }
}
