//! Writing group state to `__consumer_offsets`: the records of a change (offset commits, a
//! classic group's metadata, a consumer group's member, epoch and assignment records,
//! tombstones), built into a batch and appended to the group's partition, and the fsync before
//! the acknowledgement when `flush.messages` asks for one.
//!
//! Apart from the coordinator's facade so that every append goes through one place: callers
//! build [`Write`]s and call [`GroupCoordinator::append`] under the groups lock (so the log
//! order is the order of the in-memory changes), then [`GroupCoordinator::sync`] after
//! releasing it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{BatchBuilder, Record};
use minikafka_storage::StorageError;
use tracing::error;

use super::classic::ClassicGroup;
use super::consumer::{Change, ConsumerGroup, TopicPartition};
use super::records::{GroupMetadataValue, MemberMetadata, OffsetCommitValue, RecordKey};
use super::{partition_for, records, Entry, GroupCoordinator, Kind};
use crate::clock::now_ms;
use crate::replica::Partition;
use crate::replica::{sync_partition, AppendError, AppendOrigin, ReplicaManager};
use crate::topics::TopicError;

/// A record value to write to `__consumer_offsets`.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Offset(OffsetCommitValue),
    Group(GroupMetadataValue),
    ConsumerGroup(records::ConsumerGroupMetadataValue),
    ConsumerMember(records::ConsumerGroupMemberMetadataValue),
    TargetMetadata(records::ConsumerGroupTargetAssignmentMetadataValue),
    TargetMember(records::ConsumerGroupTargetAssignmentMemberValue),
    CurrentAssignment(records::ConsumerGroupCurrentMemberAssignmentValue),
}

impl Value {
    pub(super) fn encode(&self) -> Result<Bytes, records::RecordError> {
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

/// How long a coordinator write may wait for the in-sync replicas (Kafka's
/// `offsets.commit.timeout.ms` default); then COORDINATOR_NOT_AVAILABLE, and the client retries.
pub(crate) const REPLICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A write to `__consumer_offsets` not yet acknowledged: it needs an fsync (`flush.messages`)
/// and the in-sync replicas' copies (acks=all, as Kafka's coordinator writes) first
/// ([`GroupCoordinator::sync`]).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The partition written.
    pub(crate) p: Arc<Partition>,
    /// The offset after the write's last record.
    pub(crate) end: i64,
    /// `flush.messages` asks for an fsync before the acknowledgement.
    pub(crate) fsync: bool,
}

/// One record to write: key and value (None = tombstone).
pub(super) type Write = (RecordKey, Option<Value>);

/// Why a write to `__consumer_offsets` failed, as the error code clients get.
pub(super) fn write_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::Storage(
            StorageError::MessageTooLarge { .. } | StorageError::RecordListTooLarge { .. },
        ) => ResponseError::InvalidCommitOffsetSize,
        TopicError::Unknown => ResponseError::CoordinatorNotAvailable,
        // Kafka's coordinator maps KAFKA_STORAGE_ERROR (its log directory failed) to NOT_COORDINATOR.
        TopicError::Storage(StorageError::Io(_)) | TopicError::Io(_) => {
            ResponseError::NotCoordinator
        }
        _ => ResponseError::UnknownServerError,
    }
}

impl GroupCoordinator {
    /// Append records of `group` to its `__consumer_offsets` partition. Returns the partition
    /// when `flush.messages` asks for an fsync before the acknowledgement.
    pub(super) fn append(
        &self,
        group: &str,
        writes: &[Write],
    ) -> Result<Option<Pending>, TopicError> {
        self.append_with(group, writes, None)
    }

    /// [`GroupCoordinator::append`], as a transactional batch of producer `txn` = (id, epoch) when given (a
    /// TxnOffsetCommit: Kafka's coordinator-origin append, which keeps the epoch check but no sequence check).
    pub(super) fn append_with(
        &self,
        group: &str,
        writes: &[Write],
        txn: Option<(i64, i16)>,
    ) -> Result<Option<Pending>, TopicError> {
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
        Ok(Some(Pending {
            end: info.last_offset + 1,
            fsync: info.needs_flush,
            p,
        }))
    }

    pub(super) fn group_record(group: &ClassicGroup) -> Write {
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

    pub(super) fn offset_key(group: &str, topic: &str, partition: i32) -> RecordKey {
        RecordKey::OffsetCommit {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        }
    }

    /// Write the group's metadata if it changed. Failures are logged: the in-memory state stays
    /// authoritative until the next change is written.
    pub(super) fn persist_if_dirty(&self, entry: &mut Entry) -> Option<Pending> {
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

    /// Wait until a write may be acknowledged: fsynced if it must be, and in every in-sync
    /// replica (Kafka maps a coordinator write that times out or lacks replicas to
    /// COORDINATOR_NOT_AVAILABLE, one to a partition no longer led here to NOT_COORDINATOR).
    pub(super) async fn sync(pending: Option<Pending>) -> Result<(), ResponseError> {
        let Some(Pending { p, end, fsync }) = pending else {
            return Ok(());
        };
        if fsync {
            if let Err(e) = sync_partition(&p).await {
                error!(topic = %p.topic, partition = p.index, error = %e, "fsync of __consumer_offsets failed");
                return Err(ResponseError::NotCoordinator);
            }
        }
        match ReplicaManager::replicated(&p, end, REPLICATION_TIMEOUT).await {
            Ok(()) => Ok(()),
            Err(AppendError::NotLeader) => Err(ResponseError::NotCoordinator),
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, end, error = ?e,
                    "__consumer_offsets write not replicated");
                Err(ResponseError::CoordinatorNotAvailable)
            }
        }
    }

    /// (topic id, partitions) per topic of a set of partitions, for the records; partitions of
    /// topics that no longer exist are left out.
    pub(super) fn by_topic_id<'a>(
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

    pub(super) fn assigned_partitions<'a>(
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
    pub(super) fn consumer_writes(&self, g: &mut ConsumerGroup) -> Vec<Write> {
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
    pub(super) fn persist_consumer(&self, g: &mut ConsumerGroup) -> Option<Pending> {
        let writes = self.consumer_writes(g);
        match self.append(&g.id, &writes) {
            Ok(p) => p,
            Err(e) => {
                error!(group = %g.id, error = %e, "cannot write consumer group state to __consumer_offsets");
                None
            }
        }
    }
}

/// Tombstones that delete a group's own records (not its offsets): the GroupMetadata record
/// of a classic group; the group, target-assignment and partition metadata of a
/// consumer-protocol group.
pub(super) fn group_tombstones(group_id: &str, kind: &Kind) -> Vec<Write> {
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
