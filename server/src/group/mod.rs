//! The group coordinator: consumer groups (the classic protocol in `classic`) and their
//! committed offsets, persisted in the compacted internal topic `__consumer_offsets` with
//! Kafka's own record schemas (`records`).
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
//!
//! Layout: this file is the coordinator's facade (the [`GroupCoordinator`] the API handlers
//! call: membership, heartbeats, describe, list, delete) and the shared state; `offsets`
//! commits, fetches, deletes and expires offsets; `replay` loads `__consumer_offsets` at
//! start; `persistence` builds the records and appends them. The group state machines are in
//! `classic` and `consumer`, the record schemas in `records`.

pub(crate) mod classic;
pub(crate) mod consumer;
mod offsets;
mod persistence;
pub(crate) mod records;
mod replay;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::time::Instant;
use tracing::info;

use self::classic::{
    ClassicGroup, GroupLimits, GroupState, JoinParams, JoinResult, Reply, SyncParams, SyncResult,
};
use self::consumer::{
    ConsumerGroup, ConsumerLimits, HeartbeatParams, HeartbeatResult, TopicCounts, TopicPartition,
};
use self::persistence::{group_tombstones, write_error, Write};
pub(crate) use self::persistence::{Pending, REPLICATION_TIMEOUT};
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::metadata::TopicImage;
use crate::replica::ReplicaManager;
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
    /// The `__consumer_offsets` partitions led here whose groups are loaded (see `replay`).
    loaded: crate::coordinator_partitions::LoadedPartitions,
}

impl GroupCoordinator {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Create `__consumer_offsets` if it does not exist yet (blocking), as Kafka does on the
    /// first FindCoordinator for a group.
    pub fn ensure_offsets_topic(&self) -> Result<Arc<TopicImage>, TopicError> {
        if let Some(t) = self.topics.get(OFFSETS_TOPIC) {
            return Ok(t);
        }
        let t = self.topics.ensure_internal(
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_replication_factor,
            self.config.offsets_topic_segment_bytes,
            None,
        )?;
        self.loaded.take_new(&self.replicas, &t.id);
        Ok(t)
    }

    /// JoinGroup; waits for the join phase to end when the group rebalances.
    /// Whether this broker coordinates `group`: it leads the group's `__consumer_offsets`
    /// partition (or the topic does not exist yet: the group's first write creates it). Kafka
    /// answers NOT_COORDINATOR otherwise, and the client looks its coordinator up again; while
    /// the partition's groups are being loaded (leadership just moved here),
    /// COORDINATOR_LOAD_IN_PROGRESS. An empty partition (just created) is taken at once.
    pub(crate) fn check_coordinator(&self, group: &str) -> Result<(), ResponseError> {
        self.loaded
            .check(&self.topics, &self.replicas, self.config.node_id, |n| {
                partition_for(group, n)
            })
    }

    pub(crate) async fn join(&self, group_id: &str, p: JoinParams) -> JoinResult {
        let member_id = p.member_id.clone();
        if let Err(e) = self.check_coordinator(group_id) {
            return JoinResult::error(e, &member_id);
        }
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
        if let Err(e) = self.check_coordinator(group_id) {
            return SyncResult::error(e);
        }
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
        self.check_coordinator(group_id)?;
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
        self.check_coordinator(group_id)
            .map_err(|e| (e, "this broker does not coordinate the group".to_string()))?;
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
        if let Err(e) = self.check_coordinator(group_id) {
            return members.iter().map(|_| Err(e)).collect();
        }
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
        self.check_coordinator(group_id)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
