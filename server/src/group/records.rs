//! The record schemas of `__consumer_offsets`: committed offsets, classic group metadata and
//! KIP-848 consumer groups.
//!
//! Kafka keeps a group's state as records in the compacted topic `__consumer_offsets`:
//!
//! ```text
//! key   = int16 record type | key struct (classic encoding, version 0)
//! value = int16 version     | value struct at that version      (null value = tombstone)
//! ```
//!
//! Kafka 4.x calls the key's leading int16 the *coordinator record type*
//! (`CoordinatorRecordType`, generated from the `apiKey` of each `*Key.json`); before 4.0 it
//! was called the key version, and types 0–2 kept their meaning:
//!
//! | type | key struct                               | value struct, versions        |
//! |------|------------------------------------------|-------------------------------|
//! | 0    | `LegacyOffsetCommitKey` (group, topic, partition) | `LegacyOffsetCommitValue` 0 (= `OffsetCommitValue` v0) |
//! | 1    | `OffsetCommitKey` (group, topic, partition)       | `OffsetCommitValue` 0–4       |
//! | 2    | `GroupMetadataKey` (group)               | `GroupMetadataValue` 0–4      |
//! | 3    | `ConsumerGroupMetadataKey` (group)       | `ConsumerGroupMetadataValue` 0 (group epoch) |
//! | 4    | `ConsumerGroupPartitionMetadataKey` (group) | `ConsumerGroupPartitionMetadataValue` 0 (decode only) |
//! | 5    | `ConsumerGroupMemberMetadataKey` (group, member) | `ConsumerGroupMemberMetadataValue` 0 (subscription) |
//! | 6    | `ConsumerGroupTargetAssignmentMetadataKey` (group) | `ConsumerGroupTargetAssignmentMetadataValue` 0 |
//! | 7    | `ConsumerGroupTargetAssignmentMemberKey` (group, member) | `ConsumerGroupTargetAssignmentMemberValue` 0 |
//! | 8    | `ConsumerGroupCurrentMemberAssignmentKey` (group, member) | `ConsumerGroupCurrentMemberAssignmentValue` 0 |
//! | 10–15| KIP-932 share groups                     | (decoded as [`RecordKey::Other`]) |
//! | 16   | consumer group regular expression (group, regex) | (decoded as [`RecordKey::Other`]) |
//! | 17+  | KIP-1071 streams groups                  | (decoded as [`RecordKey::Other`]) |
//!
//! Kafka 4.4 writes (`GroupCoordinatorRecordHelpers`): keys of type 1 and 2;
//! `OffsetCommitValue` v4 (flexible; the topic id in tagged field 0, omitted when zero), or v1
//! when the commit carries an explicit expire timestamp; `GroupMetadataValue` v3 (not the
//! flexible v4). [`encode_offset_commit_value`] and [`encode_group_metadata_value`] make the same
//! choice, so our records are byte-identical to Kafka's (the tests hold bytes copied from a
//! Kafka 4.4.0 broker's `__consumer_offsets-0` segment).
//!
//! The KIP-848 values (types 3–8) have only version 0, which is flexible; their keys are
//! classic like the others. Kafka 4.4 writes types 3, 5, 6, 7 and 8, and type 4 only as a
//! tombstone when a group is deleted (its content moved into `ConsumerGroupMetadataValue.metadataHash` in 4.1). Their
//! tagged fields follow Kafka's generated writers exactly, quirks included: an int64 tagged field
//! is left out when 0; `classicMemberMetadata` and `assignmentEpochs`, whose schema default is
//! null, are written as an explicit null when null and left out when equal to an *empty* struct
//! or list, which is also what Kafka's reader yields for an absent tag (see
//! [`ConsumerGroupMemberMetadataValue::classic_member_metadata`]). A tagged struct or list must
//! fill its tagged field exactly.
//!
//! What a KIP-848 group writes (seen from a Kafka 4.4 broker: one batch per heartbeat or
//! timeout that changes something, records in this order):
//!
//! - a member joins or changes its subscription: 5 (member); 3 (group epoch + 1, metadata hash);
//!   7 for every member whose target changed; 6 (assignment epoch = group epoch, timestamp);
//!   8 for the heartbeating member;
//! - a member's reconciliation moves on (it revoked partitions, or may now take freed ones): 8;
//! - a member leaves (epoch -1) or is fenced: tombstones of its 8, 7 and 5, then 3 (epoch + 1).
//!   If members remain, the new target (7s, 6) is computed at the next heartbeat of one of
//!   them; if none remain, 6 follows at once with the new epoch and no timestamp, and 3 has no
//!   metadata hash. The empty group stays, with its committed offsets (type 1);
//! - a static member leaving (epoch -2) only gets an 8 with member epoch -2, keeping its
//!   partitions, until its session times out (then as above);
//! - deleting an empty group (Kafka's source, not captured): tombstones of 6, of 16 for each
//!   resolved regular expression, of 4 and of 3, besides its offsets.
//!
//! Decoding follows Kafka's `CoordinatorRecordSerde`: a key of an unknown type is not an error
//! but [`RecordKey::Other`] (Kafka skips such records when loading); a value version outside
//! 0..=4 (types 1, 2) or other than 0 (types 3–8) is [`RecordError::UnknownVersion`]; trailing bytes after the struct are ignored, as
//! Kafka's generated readers do. Malformed input (truncated, negative or oversized lengths,
//! invalid UTF-8, null in a non-nullable field) returns a [`RecordError`] and never panics. A
//! tombstone (null value) is the caller's to handle: only non-null values reach the decoders.
//!
//! The `kafka-protocol` crate does not hold these schemas, and its field codecs
//! (`protocol::types::{String, CompactString, …}` through the `Encoder`/`Decoder` traits) are
//! crate-private, so the few primitives needed here are written below: classic strings (int16
//! length, -1 = null), bytes and arrays (int32 length); in flexible versions compact strings,
//! bytes and arrays (unsigned varint length + 1, 0 = null) and a tagged-field section.
//!
//! To check our bytes with Kafka's own decoder, write a segment with the ignored test
//! `write_segment_for_kafka` and dump it with Kafka's `DumpLogSegments` (`ci/check-offsets-decoder`
//! does both):
//!
//! ```text
//! MINIKAFKA_OFFSETS_SEGMENT=/tmp/x/00000000000000000000.log \
//!   cargo test -p minikafka --lib group::records::tests::write_segment_for_kafka -- --ignored
//! java -cp "$(ci/kafka-reference classpath)" org.apache.kafka.tools.DumpLogSegments \
//!   --files /tmp/x/00000000000000000000.log --offsets-decoder
//! ```

// The KIP-848 codecs (types 3–8) wait for the coordinator to persist consumer groups.

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

/// Key type of offset commits written before Kafka 0.10.1 (`LegacyOffsetCommitKey`).
pub(crate) const LEGACY_OFFSET_COMMIT_TYPE: i16 = 0;
/// Key type of offset commits (`OffsetCommitKey`), the one Kafka writes.
pub(crate) const OFFSET_COMMIT_TYPE: i16 = 1;
/// Key type of classic group metadata (`GroupMetadataKey`).
pub(crate) const GROUP_METADATA_TYPE: i16 = 2;
/// Key type of a consumer group's epoch (`ConsumerGroupMetadataKey`).
pub(crate) const CONSUMER_GROUP_METADATA_TYPE: i16 = 3;
/// Key type of a consumer group's subscribed topic metadata (`ConsumerGroupPartitionMetadataKey`;
/// replaced in Kafka 4.1 by `ConsumerGroupMetadataValue.metadataHash`).
pub(crate) const CONSUMER_GROUP_PARTITION_METADATA_TYPE: i16 = 4;
/// Key type of a consumer group member's subscription (`ConsumerGroupMemberMetadataKey`).
pub(crate) const CONSUMER_GROUP_MEMBER_METADATA_TYPE: i16 = 5;
/// Key type of a consumer group's target assignment epoch
/// (`ConsumerGroupTargetAssignmentMetadataKey`).
pub(crate) const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE: i16 = 6;
/// Key type of one member's target assignment (`ConsumerGroupTargetAssignmentMemberKey`).
pub(crate) const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE: i16 = 7;
/// Key type of one member's current assignment (`ConsumerGroupCurrentMemberAssignmentKey`).
pub(crate) const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE: i16 = 8;

/// Highest `OffsetCommitValue` version (Kafka 4.4: `validVersions` 0-4).
const OFFSET_COMMIT_VALUE_MAX: i16 = 4;
/// Highest `GroupMetadataValue` version (Kafka 4.4: `validVersions` 0-4).
const GROUP_METADATA_VALUE_MAX: i16 = 4;
/// First flexible version of both value schemas.
const FIRST_FLEXIBLE: i16 = 4;
/// The `GroupMetadataValue` version Kafka 4.4 writes.
const GROUP_METADATA_VALUE_WRITTEN: i16 = 3;
/// Tag of `OffsetCommitValue.topicId` (v4+).
const TOPIC_ID_TAG: u32 = 0;
/// Tag of `ConsumerGroupMemberMetadataValue.classicMemberMetadata`.
const CLASSIC_MEMBER_METADATA_TAG: u32 = 0;
/// Tag of `ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions.assignmentEpochs`.
const ASSIGNMENT_EPOCHS_TAG: u32 = 0;
/// Tag of the int64 tagged field of `ConsumerGroupMetadataValue` (`metadataHash`) and of
/// `ConsumerGroupTargetAssignmentMetadataValue` (`assignmentTimestamp`).
const EPOCH_VALUE_I64_TAG: u32 = 0;
/// Longest string Kafka's generated readers accept, compact or not.
const MAX_STRING_LEN: usize = 0x7fff;

/// Why a `__consumer_offsets` key or value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// The input ended inside a field.
    #[error("{field}: record truncated")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length or count prefix is negative (other than the null marker) or too large.
    #[error("{field}: invalid length {len}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length as read.
        len: i64,
    },
    /// A null where the schema does not allow one.
    #[error("{field}: null in a non-nullable field")]
    UnexpectedNull {
        /// The field being read.
        field: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("{field}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// An unsigned varint longer than 5 bytes or above `u32::MAX`.
    #[error("{field}: invalid unsigned varint")]
    InvalidVarint {
        /// The field being read.
        field: &'static str,
    },
    /// A value version this broker does not know (Kafka's `UnknownRecordVersionException`).
    #[error("{schema}: unknown version {version} (known 0..={max})")]
    UnknownVersion {
        /// The value schema.
        schema: &'static str,
        /// The version read.
        version: i16,
        /// The highest known version.
        max: i16,
    },
    /// A tagged field whose size does not match its type.
    #[error("{field}: tagged field of {size} bytes, expected {expected}")]
    InvalidTaggedField {
        /// The field being read.
        field: &'static str,
        /// The size as read.
        size: usize,
        /// The size of the field's type.
        expected: usize,
    },
    /// A field too long for its length prefix (strings: 32767 bytes, as in Kafka).
    #[error("{field}: {len} bytes do not fit the field")]
    TooLong {
        /// The field being written.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// [`RecordKey::Other`] names a record type this module cannot encode.
    #[error("record type {0} cannot be encoded here")]
    NotEncodable(i16),
}

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKey {
    /// A committed offset (key types 0 and 1; encoded as type 1).
    OffsetCommit {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A classic group's metadata (key type 2).
    GroupMetadata {
        /// Group id.
        group: String,
    },
    /// A consumer group's epoch (key type 3; value [`ConsumerGroupMetadataValue`]).
    ConsumerGroupMetadata {
        /// Group id.
        group: String,
    },
    /// A consumer group's subscribed topic metadata (key type 4; value
    /// [`ConsumerGroupPartitionMetadataValue`]). Kafka 4.4 writes only tombstones of it.
    ConsumerGroupPartitionMetadata {
        /// Group id.
        group: String,
    },
    /// A consumer group member's subscription (key type 5; value
    /// [`ConsumerGroupMemberMetadataValue`]).
    ConsumerGroupMemberMetadata {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
    /// A consumer group's target assignment epoch (key type 6; value
    /// [`ConsumerGroupTargetAssignmentMetadataValue`]).
    ConsumerGroupTargetAssignmentMetadata {
        /// Group id.
        group: String,
    },
    /// One member's target assignment (key type 7; value
    /// [`ConsumerGroupTargetAssignmentMemberValue`]).
    ConsumerGroupTargetAssignmentMember {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
    /// One member's current assignment and epochs (key type 8; value
    /// [`ConsumerGroupCurrentMemberAssignmentValue`]).
    ConsumerGroupCurrentMemberAssignment {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
    /// Any other record type (consumer group regular expressions, share and streams groups, or
    /// a type newer than this broker): only the type is read, so a loader can skip the record.
    Other {
        /// The coordinator record type.
        record_type: i16,
    },
}

/// The value of an offset commit record (`OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitValue {
    /// The committed offset.
    pub(crate) offset: i64,
    /// Leader epoch of the last consumed record; -1 when unknown (and before v3).
    pub(crate) leader_epoch: i32,
    /// Client-supplied metadata.
    pub(crate) metadata: String,
    /// When the commit was appended (ms).
    pub(crate) commit_timestamp: i64,
    /// Explicit expiry (ms, v1 only); -1 when none.
    pub(crate) expire_timestamp: i64,
    /// The topic's id (v4+, tagged field 0); `None` when absent or zero.
    pub(crate) topic_id: Option<Uuid>,
}

/// The value of a classic group metadata record (`GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMetadataValue {
    /// Protocol type (`consumer`, `connect`, …; empty for a group that only commits offsets).
    pub(crate) protocol_type: String,
    /// Generation id.
    pub(crate) generation: i32,
    /// Chosen protocol (assignor name), if any.
    pub(crate) protocol: Option<String>,
    /// Leader member id, if any.
    pub(crate) leader: Option<String>,
    /// When the group last changed state (ms, v2+); -1 when unknown.
    pub(crate) current_state_timestamp: i64,
    /// The members.
    pub(crate) members: Vec<MemberMetadata>,
}

/// One member in a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberMetadata {
    /// Member id.
    pub(crate) member_id: String,
    /// Static membership instance id (v3+).
    pub(crate) group_instance_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host (Kafka writes `/ip`).
    pub(crate) client_host: String,
    /// Rebalance timeout (ms, v1+; 0 when absent, the schema default).
    pub(crate) rebalance_timeout: i32,
    /// Session timeout (ms).
    pub(crate) session_timeout: i32,
    /// The member's subscription for the chosen protocol (opaque to the broker).
    pub(crate) subscription: Bytes,
    /// The member's assignment (opaque to the broker).
    pub(crate) assignment: Bytes,
}

/// The value of a consumer group's epoch record (`ConsumerGroupMetadataValue` v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupMetadataValue {
    /// The group epoch.
    pub(crate) epoch: i32,
    /// Hash of the subscribed topics' metadata (KIP-1101, tagged field 0; Kafka omits it when 0).
    pub(crate) metadata_hash: i64,
}

/// The value of a consumer group's subscribed topic metadata record
/// (`ConsumerGroupPartitionMetadataValue` v0), written before Kafka 4.1; decoded only.
#[derive(Debug, Clone, PartialEq, Eq)]
// Type 4 is decoded only in tests: Kafka 4.4 no longer writes it and replay skips it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct ConsumerGroupPartitionMetadataValue {
    /// The subscribed topics.
    pub(crate) topics: Vec<TopicMetadata>,
}

/// One topic in a [`ConsumerGroupPartitionMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
// Type 4 is decoded only in tests: Kafka 4.4 no longer writes it and replay skips it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct TopicMetadata {
    /// Topic id.
    pub(crate) topic_id: Uuid,
    /// Topic name.
    pub(crate) topic_name: String,
    /// Partition count.
    pub(crate) num_partitions: i32,
    /// Racks per partition (`partitionMetadata`, unused since Kafka 4.0): (partition, racks).
    pub(crate) partition_racks: Vec<(i32, Vec<String>)>,
}

/// The value of a consumer group member's subscription record
/// (`ConsumerGroupMemberMetadataValue` v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupMemberMetadataValue {
    /// Static membership instance id.
    pub(crate) instance_id: Option<String>,
    /// The client's rack.
    pub(crate) rack_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host (Kafka writes `/ip`).
    pub(crate) client_host: String,
    /// Subscribed topic names (Kafka writes them sorted).
    pub(crate) subscribed_topic_names: Vec<String>,
    /// Subscribed regular expression (RE2J syntax); Kafka 4.4 writes `Some("")`, not `None`,
    /// for a member subscribed by topic names.
    pub(crate) subscribed_topic_regex: Option<String>,
    /// Rebalance timeout (ms).
    pub(crate) rebalance_timeout_ms: i32,
    /// The server-side assignor the member asked for, if any.
    pub(crate) server_assignor: Option<String>,
    /// Tagged field 0: `None` for a member using the consumer protocol, which Kafka writes
    /// *explicitly* (tag 0 holding the null marker). When the tag is absent Kafka's reader takes
    /// the struct's default, a present but empty [`ClassicMemberMetadata`] (session timeout 0,
    /// no protocols), and that default is what Kafka leaves out when writing; so absent ⇔
    /// `Some(ClassicMemberMetadata::default())` both ways.
    pub(crate) classic_member_metadata: Option<ClassicMemberMetadata>,
}

/// What a classic-protocol member of a consumer group sent in its JoinGroup (KIP-848 upgrade).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClassicMemberMetadata {
    /// Session timeout (ms).
    pub(crate) session_timeout_ms: i32,
    /// The member's protocols: (name, metadata), the metadata opaque to the broker.
    pub(crate) supported_protocols: Vec<(String, Bytes)>,
}

/// The value of a consumer group's target assignment epoch record
/// (`ConsumerGroupTargetAssignmentMetadataValue` v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupTargetAssignmentMetadataValue {
    /// The group epoch the target assignment was computed for.
    pub(crate) assignment_epoch: i32,
    /// When the assignment was computed (ms; KIP-1263, tagged field 0; Kafka omits it when 0).
    pub(crate) assignment_timestamp: i64,
}

/// The value of a member's target assignment record (`ConsumerGroupTargetAssignmentMemberValue`
/// v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupTargetAssignmentMemberValue {
    /// The partitions the assignor gave the member: (topic id, partition indexes).
    pub(crate) topic_partitions: Vec<(Uuid, Vec<i32>)>,
}

/// The value of a member's current assignment record (`ConsumerGroupCurrentMemberAssignmentValue`
/// v0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroupCurrentMemberAssignmentValue {
    /// The member epoch expected in the member's next heartbeat.
    pub(crate) member_epoch: i32,
    /// The epoch before the last bump, accepted if the bump's response was lost.
    pub(crate) previous_member_epoch: i32,
    /// Kafka's `MemberState`: 0 stable, 1 unrevoked partitions, 2 unreleased partitions,
    /// 127 unknown.
    pub(crate) state: i8,
    /// Partitions the member owns (or is being given).
    pub(crate) assigned_partitions: Vec<AssignedPartitions>,
    /// Partitions the member must revoke.
    pub(crate) partitions_pending_revocation: Vec<AssignedPartitions>,
}

/// One topic's partitions in a [`ConsumerGroupCurrentMemberAssignmentValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssignedPartitions {
    /// Topic id.
    pub(crate) topic_id: Uuid,
    /// Partition indexes.
    pub(crate) partitions: Vec<i32>,
    /// Tagged field 0: the epoch each partition was assigned at, parallel to `partitions`
    /// (fences zombie offset commits). Like [`ConsumerGroupMemberMetadataValue::classic_member_metadata`],
    /// `None` is written as an explicit null, and the default `Some(vec![])` is left out and
    /// is what an absent tag decodes to.
    pub(crate) assignment_epochs: Option<Vec<i32>>,
}

/// Encodes a key as Kafka 4.x does: offset commits as type 1, group metadata as type 2, the
/// consumer group keys as types 3–8.
pub(crate) fn encode_key(key: &RecordKey) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    match key {
        RecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } => {
            w.i16(OFFSET_COMMIT_TYPE);
            w.string(group, false, "group")?;
            w.string(topic, false, "topic")?;
            w.i32(*partition);
        }
        RecordKey::GroupMetadata { group } => {
            w.i16(GROUP_METADATA_TYPE);
            w.string(group, false, "group")?;
        }
        RecordKey::ConsumerGroupMetadata { group } => {
            w.i16(CONSUMER_GROUP_METADATA_TYPE);
            w.string(group, false, "groupId")?;
        }
        RecordKey::ConsumerGroupPartitionMetadata { group } => {
            w.i16(CONSUMER_GROUP_PARTITION_METADATA_TYPE);
            w.string(group, false, "groupId")?;
        }
        RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => {
            w.i16(CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE);
            w.string(group, false, "groupId")?;
        }
        RecordKey::ConsumerGroupMemberMetadata { group, member }
        | RecordKey::ConsumerGroupTargetAssignmentMember { group, member }
        | RecordKey::ConsumerGroupCurrentMemberAssignment { group, member } => {
            w.i16(match key {
                RecordKey::ConsumerGroupMemberMetadata { .. } => {
                    CONSUMER_GROUP_MEMBER_METADATA_TYPE
                }
                RecordKey::ConsumerGroupTargetAssignmentMember { .. } => {
                    CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE
                }
                _ => CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE,
            });
            w.string(group, false, "groupId")?;
            w.string(member, false, "memberId")?;
        }
        RecordKey::Other { record_type } => return Err(RecordError::NotEncodable(*record_type)),
    }
    Ok(w.finish())
}

/// Decodes a key. Types other than 0–8 are [`RecordKey::Other`].
pub(crate) fn decode_key(buf: &[u8]) -> Result<RecordKey, RecordError> {
    let mut r = Reader::new(buf);
    let record_type = r.i16("key type")?;
    Ok(match record_type {
        LEGACY_OFFSET_COMMIT_TYPE | OFFSET_COMMIT_TYPE => RecordKey::OffsetCommit {
            group: r.string(false, "group")?,
            topic: r.string(false, "topic")?,
            partition: r.i32("partition")?,
        },
        GROUP_METADATA_TYPE => RecordKey::GroupMetadata {
            group: r.string(false, "group")?,
        },
        CONSUMER_GROUP_METADATA_TYPE => RecordKey::ConsumerGroupMetadata {
            group: r.string(false, "groupId")?,
        },
        CONSUMER_GROUP_PARTITION_METADATA_TYPE => RecordKey::ConsumerGroupPartitionMetadata {
            group: r.string(false, "groupId")?,
        },
        CONSUMER_GROUP_MEMBER_METADATA_TYPE => RecordKey::ConsumerGroupMemberMetadata {
            group: r.string(false, "groupId")?,
            member: r.string(false, "memberId")?,
        },
        CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_TYPE => {
            RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group: r.string(false, "groupId")?,
            }
        }
        CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_TYPE => {
            RecordKey::ConsumerGroupTargetAssignmentMember {
                group: r.string(false, "groupId")?,
                member: r.string(false, "memberId")?,
            }
        }
        CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_TYPE => {
            RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: r.string(false, "groupId")?,
                member: r.string(false, "memberId")?,
            }
        }
        record_type => RecordKey::Other { record_type },
    })
}

/// Encodes an offset commit value at the version Kafka 4.4 picks: v1 when
/// `expire_timestamp` is set (not -1; v1 has no leader epoch or topic id), else v4.
pub(crate) fn encode_offset_commit_value(value: &OffsetCommitValue) -> Result<Bytes, RecordError> {
    let version = if value.expire_timestamp == -1 { 4 } else { 1 };
    encode_offset_commit_value_at(value, version)
}

/// Encodes an offset commit value at `version` (0..=4); fields the version lacks are dropped.
fn encode_offset_commit_value_at(
    value: &OffsetCommitValue,
    version: i16,
) -> Result<Bytes, RecordError> {
    check_version("OffsetCommitValue", version, OFFSET_COMMIT_VALUE_MAX)?;
    let flexible = version >= FIRST_FLEXIBLE;
    let mut w = Writer::default();
    w.i16(version);
    w.i64(value.offset);
    if version >= 3 {
        w.i32(value.leader_epoch);
    }
    w.string(&value.metadata, flexible, "metadata")?;
    w.i64(value.commit_timestamp);
    if version == 1 {
        w.i64(value.expire_timestamp);
    }
    if flexible {
        match value.topic_id.filter(|id| !id.is_nil()) {
            Some(id) => {
                w.uvarint(1);
                w.uvarint(TOPIC_ID_TAG);
                w.uvarint(16);
                w.out.put_slice(id.as_bytes());
            }
            None => w.uvarint(0),
        }
    }
    Ok(w.finish())
}

/// Decodes an offset commit value of any version 0..=4 (also the legacy type-0 value, which is
/// laid out as v0).
pub(crate) fn decode_offset_commit_value(buf: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    let mut r = Reader::new(buf);
    let version = r.i16("OffsetCommitValue version")?;
    check_version("OffsetCommitValue", version, OFFSET_COMMIT_VALUE_MAX)?;
    let flexible = version >= FIRST_FLEXIBLE;
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        r.i32("leaderEpoch")?
    } else {
        -1
    };
    let metadata = r.string(flexible, "metadata")?;
    let commit_timestamp = r.i64("commitTimestamp")?;
    let expire_timestamp = if version == 1 {
        r.i64("expireTimestamp")?
    } else {
        -1
    };
    let mut topic_id = None;
    if flexible {
        r.tagged_fields("OffsetCommitValue tagged fields", |tag, data| {
            if tag == TOPIC_ID_TAG {
                let bytes: [u8; 16] =
                    data.try_into()
                        .map_err(|_| RecordError::InvalidTaggedField {
                            field: "topicId",
                            size: data.len(),
                            expected: 16,
                        })?;
                topic_id = Some(Uuid::from_bytes(bytes)).filter(|id| !id.is_nil());
            }
            Ok(())
        })?;
    }
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
        topic_id,
    })
}

/// Encodes a group metadata value at the version Kafka 4.4 writes (v3).
pub(crate) fn encode_group_metadata_value(
    value: &GroupMetadataValue,
) -> Result<Bytes, RecordError> {
    encode_group_metadata_value_at(value, GROUP_METADATA_VALUE_WRITTEN)
}

/// Encodes a group metadata value at `version` (0..=4); fields the version lacks are dropped.
fn encode_group_metadata_value_at(
    value: &GroupMetadataValue,
    version: i16,
) -> Result<Bytes, RecordError> {
    check_version("GroupMetadataValue", version, GROUP_METADATA_VALUE_MAX)?;
    let flexible = version >= FIRST_FLEXIBLE;
    let mut w = Writer::default();
    w.i16(version);
    w.string(&value.protocol_type, flexible, "protocolType")?;
    w.i32(value.generation);
    w.nullable_string(value.protocol.as_deref(), flexible, "protocol")?;
    w.nullable_string(value.leader.as_deref(), flexible, "leader")?;
    if version >= 2 {
        w.i64(value.current_state_timestamp);
    }
    w.array_len(value.members.len(), flexible, "members")?;
    for m in &value.members {
        w.string(&m.member_id, flexible, "memberId")?;
        if version >= 3 {
            w.nullable_string(m.group_instance_id.as_deref(), flexible, "groupInstanceId")?;
        }
        w.string(&m.client_id, flexible, "clientId")?;
        w.string(&m.client_host, flexible, "clientHost")?;
        if version >= 1 {
            w.i32(m.rebalance_timeout);
        }
        w.i32(m.session_timeout);
        w.bytes(&m.subscription, flexible, "subscription")?;
        w.bytes(&m.assignment, flexible, "assignment")?;
        if flexible {
            w.uvarint(0); // no tagged fields
        }
    }
    if flexible {
        w.uvarint(0);
    }
    Ok(w.finish())
}

/// Decodes a group metadata value of any version 0..=4.
pub(crate) fn decode_group_metadata_value(buf: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    let version = r.i16("GroupMetadataValue version")?;
    check_version("GroupMetadataValue", version, GROUP_METADATA_VALUE_MAX)?;
    let flexible = version >= FIRST_FLEXIBLE;
    let protocol_type = r.string(flexible, "protocolType")?;
    let generation = r.i32("generation")?;
    let protocol = r.nullable_string(flexible, "protocol")?;
    let leader = r.nullable_string(flexible, "leader")?;
    let current_state_timestamp = if version >= 2 {
        r.i64("currentStateTimestamp")?
    } else {
        -1
    };
    let count = r.array_len(flexible, "members")?;
    // Every member takes at least 20 bytes, so the count read cannot make us over-allocate.
    let mut members = Vec::with_capacity(count.min(r.remaining() / 20));
    for _ in 0..count {
        let member_id = r.string(flexible, "memberId")?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(flexible, "groupInstanceId")?
        } else {
            None
        };
        let client_id = r.string(flexible, "clientId")?;
        let client_host = r.string(flexible, "clientHost")?;
        let rebalance_timeout = if version >= 1 {
            r.i32("rebalanceTimeout")?
        } else {
            0
        };
        let session_timeout = r.i32("sessionTimeout")?;
        let subscription = r.bytes(flexible, "subscription")?;
        let assignment = r.bytes(flexible, "assignment")?;
        if flexible {
            r.tagged_fields("MemberMetadata tagged fields", |_, _| Ok(()))?;
        }
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.tagged_fields("GroupMetadataValue tagged fields", |_, _| Ok(()))?;
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// Encodes a consumer group epoch value (v0) as Kafka 4.4 does.
pub(crate) fn encode_consumer_group_metadata_value(
    value: &ConsumerGroupMetadataValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.i32(value.epoch);
    w.tagged_i64(value.metadata_hash);
    Ok(w.finish())
}

/// Decodes a consumer group epoch value (v0).
pub(crate) fn decode_consumer_group_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupMetadataValue")?;
    let epoch = r.i32("epoch")?;
    let metadata_hash = r.tagged_i64("metadataHash")?;
    Ok(ConsumerGroupMetadataValue {
        epoch,
        metadata_hash,
    })
}

/// Encodes a subscribed topic metadata value (v0); Kafka 4.4 no longer writes these, so only
/// the tests need it.
#[cfg(test)]
fn encode_consumer_group_partition_metadata_value(
    value: &ConsumerGroupPartitionMetadataValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.array_len(value.topics.len(), true, "topics")?;
    for t in &value.topics {
        w.uuid(t.topic_id);
        w.string(&t.topic_name, true, "topicName")?;
        w.i32(t.num_partitions);
        w.array_len(t.partition_racks.len(), true, "partitionMetadata")?;
        for (partition, racks) in &t.partition_racks {
            w.i32(*partition);
            w.array_len(racks.len(), true, "racks")?;
            for rack in racks {
                w.string(rack, true, "racks")?;
            }
            w.uvarint(0);
        }
        w.uvarint(0);
    }
    w.uvarint(0);
    Ok(w.finish())
}

/// Decodes a subscribed topic metadata value (v0), as written before Kafka 4.1.
// Type 4 is decoded only in tests: Kafka 4.4 no longer writes it and replay skips it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn decode_consumer_group_partition_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupPartitionMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupPartitionMetadataValue")?;
    let topics = r.compact_array("topics", 22, |r| {
        let topic_id = r.uuid("topicId")?;
        let topic_name = r.string(true, "topicName")?;
        let num_partitions = r.i32("numPartitions")?;
        let partition_racks = r.compact_array("partitionMetadata", 6, |r| {
            let partition = r.i32("partition")?;
            let racks = r.compact_array("racks", 1, |r| r.string(true, "racks"))?;
            r.skip_tagged_fields("PartitionMetadata tagged fields")?;
            Ok((partition, racks))
        })?;
        r.skip_tagged_fields("TopicMetadata tagged fields")?;
        Ok(TopicMetadata {
            topic_id,
            topic_name,
            num_partitions,
            partition_racks,
        })
    })?;
    r.skip_tagged_fields("ConsumerGroupPartitionMetadataValue tagged fields")?;
    Ok(ConsumerGroupPartitionMetadataValue { topics })
}

/// Encodes a member subscription value (v0) as Kafka 4.4 does (see
/// [`ConsumerGroupMemberMetadataValue::classic_member_metadata`] for its tagged field).
pub(crate) fn encode_consumer_group_member_metadata_value(
    value: &ConsumerGroupMemberMetadataValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.nullable_string(value.instance_id.as_deref(), true, "instanceId")?;
    w.nullable_string(value.rack_id.as_deref(), true, "rackId")?;
    w.string(&value.client_id, true, "clientId")?;
    w.string(&value.client_host, true, "clientHost")?;
    w.array_len(
        value.subscribed_topic_names.len(),
        true,
        "subscribedTopicNames",
    )?;
    for name in &value.subscribed_topic_names {
        w.string(name, true, "subscribedTopicNames")?;
    }
    w.nullable_string(
        value.subscribed_topic_regex.as_deref(),
        true,
        "subscribedTopicRegex",
    )?;
    w.i32(value.rebalance_timeout_ms);
    w.nullable_string(value.server_assignor.as_deref(), true, "serverAssignor")?;
    match &value.classic_member_metadata {
        Some(classic) if *classic == ClassicMemberMetadata::default() => w.uvarint(0),
        classic => {
            let mut inner = Writer::default();
            if let Some(classic) = classic {
                inner.uvarint(1);
                inner.i32(classic.session_timeout_ms);
                inner.array_len(
                    classic.supported_protocols.len(),
                    true,
                    "supportedProtocols",
                )?;
                for (name, metadata) in &classic.supported_protocols {
                    inner.string(name, true, "name")?;
                    inner.bytes(metadata, true, "metadata")?;
                    inner.uvarint(0);
                }
                inner.uvarint(0);
            } else {
                inner.uvarint(0);
            }
            w.uvarint(1);
            w.tagged_field(
                CLASSIC_MEMBER_METADATA_TAG,
                &inner.finish(),
                "classicMemberMetadata",
            )?;
        }
    }
    Ok(w.finish())
}

/// Decodes a member subscription value (v0).
pub(crate) fn decode_consumer_group_member_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupMemberMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupMemberMetadataValue")?;
    let instance_id = r.nullable_string(true, "instanceId")?;
    let rack_id = r.nullable_string(true, "rackId")?;
    let client_id = r.string(true, "clientId")?;
    let client_host = r.string(true, "clientHost")?;
    let subscribed_topic_names = r.compact_array("subscribedTopicNames", 1, |r| {
        r.string(true, "subscribedTopicNames")
    })?;
    let subscribed_topic_regex = r.nullable_string(true, "subscribedTopicRegex")?;
    let rebalance_timeout_ms = r.i32("rebalanceTimeoutMs")?;
    let server_assignor = r.nullable_string(true, "serverAssignor")?;
    let mut classic_member_metadata = Some(ClassicMemberMetadata::default());
    r.tagged_fields(
        "ConsumerGroupMemberMetadataValue tagged fields",
        |tag, data| {
            if tag == CLASSIC_MEMBER_METADATA_TAG {
                classic_member_metadata =
                    Reader::new(data).whole("classicMemberMetadata", |r| {
                        // Kafka's reader: a marker varint, null unless positive as an int32.
                        if r.uvarint("classicMemberMetadata")? as i32 <= 0 {
                            return Ok(None);
                        }
                        let session_timeout_ms = r.i32("sessionTimeoutMs")?;
                        let supported_protocols =
                            r.compact_array("supportedProtocols", 3, |r| {
                                let name = r.string(true, "name")?;
                                let metadata = r.bytes(true, "metadata")?;
                                r.skip_tagged_fields("ClassicProtocol tagged fields")?;
                                Ok((name, metadata))
                            })?;
                        r.skip_tagged_fields("ClassicMemberMetadata tagged fields")?;
                        Ok(Some(ClassicMemberMetadata {
                            session_timeout_ms,
                            supported_protocols,
                        }))
                    })?;
            }
            Ok(())
        },
    )?;
    Ok(ConsumerGroupMemberMetadataValue {
        instance_id,
        rack_id,
        client_id,
        client_host,
        subscribed_topic_names,
        subscribed_topic_regex,
        rebalance_timeout_ms,
        server_assignor,
        classic_member_metadata,
    })
}

/// Encodes a target assignment epoch value (v0) as Kafka 4.4 does.
pub(crate) fn encode_consumer_group_target_assignment_metadata_value(
    value: &ConsumerGroupTargetAssignmentMetadataValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.i32(value.assignment_epoch);
    w.tagged_i64(value.assignment_timestamp);
    Ok(w.finish())
}

/// Decodes a target assignment epoch value (v0).
pub(crate) fn decode_consumer_group_target_assignment_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupTargetAssignmentMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupTargetAssignmentMetadataValue")?;
    let assignment_epoch = r.i32("assignmentEpoch")?;
    let assignment_timestamp = r.tagged_i64("assignmentTimestamp")?;
    Ok(ConsumerGroupTargetAssignmentMetadataValue {
        assignment_epoch,
        assignment_timestamp,
    })
}

/// Encodes a member's target assignment value (v0).
pub(crate) fn encode_consumer_group_target_assignment_member_value(
    value: &ConsumerGroupTargetAssignmentMemberValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.array_len(value.topic_partitions.len(), true, "topicPartitions")?;
    for (topic_id, partitions) in &value.topic_partitions {
        w.uuid(*topic_id);
        w.i32_array(partitions, "partitions")?;
        w.uvarint(0);
    }
    w.uvarint(0);
    Ok(w.finish())
}

/// Decodes a member's target assignment value (v0).
pub(crate) fn decode_consumer_group_target_assignment_member_value(
    buf: &[u8],
) -> Result<ConsumerGroupTargetAssignmentMemberValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupTargetAssignmentMemberValue")?;
    let topic_partitions = r.compact_array("topicPartitions", 18, |r| {
        let topic_id = r.uuid("topicId")?;
        let partitions = r.i32_array("partitions")?;
        r.skip_tagged_fields("TopicPartition tagged fields")?;
        Ok((topic_id, partitions))
    })?;
    r.skip_tagged_fields("ConsumerGroupTargetAssignmentMemberValue tagged fields")?;
    Ok(ConsumerGroupTargetAssignmentMemberValue { topic_partitions })
}

/// Encodes a member's current assignment value (v0) as Kafka 4.4 does (see
/// [`AssignedPartitions::assignment_epochs`] for its tagged field).
pub(crate) fn encode_consumer_group_current_member_assignment_value(
    value: &ConsumerGroupCurrentMemberAssignmentValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.i32(value.member_epoch);
    w.i32(value.previous_member_epoch);
    w.out.put_i8(value.state);
    for (list, field) in [
        (&value.assigned_partitions, "assignedPartitions"),
        (
            &value.partitions_pending_revocation,
            "partitionsPendingRevocation",
        ),
    ] {
        w.array_len(list.len(), true, field)?;
        for t in list {
            w.uuid(t.topic_id);
            w.i32_array(&t.partitions, "partitions")?;
            match &t.assignment_epochs {
                Some(epochs) if epochs.is_empty() => w.uvarint(0),
                epochs => {
                    let mut inner = Writer::default();
                    match epochs {
                        Some(epochs) => inner.i32_array(epochs, "assignmentEpochs")?,
                        None => inner.uvarint(0),
                    }
                    w.uvarint(1);
                    w.tagged_field(ASSIGNMENT_EPOCHS_TAG, &inner.finish(), "assignmentEpochs")?;
                }
            }
        }
    }
    w.uvarint(0);
    Ok(w.finish())
}

/// Decodes a member's current assignment value (v0).
pub(crate) fn decode_consumer_group_current_member_assignment_value(
    buf: &[u8],
) -> Result<ConsumerGroupCurrentMemberAssignmentValue, RecordError> {
    fn topic_partitions(r: &mut Reader<'_>) -> Result<AssignedPartitions, RecordError> {
        let topic_id = r.uuid("topicId")?;
        let partitions = r.i32_array("partitions")?;
        let mut assignment_epochs = Some(Vec::new());
        r.tagged_fields("TopicPartitions tagged fields", |tag, data| {
            if tag == ASSIGNMENT_EPOCHS_TAG {
                assignment_epochs = Reader::new(data).whole("assignmentEpochs", |r| {
                    r.nullable_i32_array("assignmentEpochs")
                })?;
            }
            Ok(())
        })?;
        Ok(AssignedPartitions {
            topic_id,
            partitions,
            assignment_epochs,
        })
    }
    let mut r = Reader::new(buf);
    r.version_0("ConsumerGroupCurrentMemberAssignmentValue")?;
    let member_epoch = r.i32("memberEpoch")?;
    let previous_member_epoch = r.i32("previousMemberEpoch")?;
    let state = i8::from_be_bytes(r.array("state")?);
    let assigned_partitions = r.compact_array("assignedPartitions", 18, topic_partitions)?;
    let partitions_pending_revocation =
        r.compact_array("partitionsPendingRevocation", 18, topic_partitions)?;
    r.skip_tagged_fields("ConsumerGroupCurrentMemberAssignmentValue tagged fields")?;
    Ok(ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch,
        previous_member_epoch,
        state,
        assigned_partitions,
        partitions_pending_revocation,
    })
}

fn check_version(schema: &'static str, version: i16, max: i16) -> Result<(), RecordError> {
    if (0..=max).contains(&version) {
        Ok(())
    } else {
        Err(RecordError::UnknownVersion {
            schema,
            version,
            max,
        })
    }
}

/// A cursor over the input; every read checks the remaining length first.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated { field });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        self.array(field).map(i16::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        self.array(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// Unsigned varint of at most 5 bytes that fits a `u32` (Kafka's `readUnsignedVarint`).
    fn uvarint(&mut self, field: &'static str) -> Result<u32, RecordError> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let b = self.take(1, field)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| RecordError::InvalidVarint { field });
            }
        }
        Err(RecordError::InvalidVarint { field })
    }

    /// A length prefix: int16 (`wide` false: strings) or int32 in classic versions, unsigned
    /// varint + 1 in flexible ones. `None` is the null marker. Strings longer than 32767 bytes
    /// are refused, as Kafka's generated readers do.
    fn length(
        &mut self,
        flexible: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<Option<usize>, RecordError> {
        let len = if flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if wide {
            i64::from(self.i32(field)?)
        } else {
            i64::from(self.i16(field)?)
        };
        let max = if wide {
            i32::MAX as usize
        } else {
            MAX_STRING_LEN
        };
        match len {
            -1 => Ok(None),
            len => usize::try_from(len)
                .ok()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or(RecordError::InvalidLength { field, len }),
        }
    }

    fn nullable_string(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        let Some(len) = self.length(flexible, false, field)? else {
            return Ok(None);
        };
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| RecordError::InvalidUtf8 { field })
    }

    fn string(&mut self, flexible: bool, field: &'static str) -> Result<String, RecordError> {
        self.nullable_string(flexible, field)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    fn bytes(&mut self, flexible: bool, field: &'static str) -> Result<Bytes, RecordError> {
        let len = self
            .length(flexible, true, field)?
            .ok_or(RecordError::UnexpectedNull { field })?;
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }

    fn array_len(&mut self, flexible: bool, field: &'static str) -> Result<usize, RecordError> {
        self.length(flexible, true, field)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    /// Reads the int16 version of a value schema that has only version 0.
    fn version_0(&mut self, schema: &'static str) -> Result<(), RecordError> {
        let version = self.i16(schema)?;
        check_version(schema, version, 0)
    }

    fn uuid(&mut self, field: &'static str) -> Result<Uuid, RecordError> {
        self.array(field).map(Uuid::from_bytes)
    }

    /// A non-nullable compact array whose elements take at least `min_size` bytes each (which
    /// bounds the allocation by the input, not by the count read), each read by `element`.
    fn compact_array<T>(
        &mut self,
        field: &'static str,
        min_size: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, RecordError>,
    ) -> Result<Vec<T>, RecordError> {
        let count = self.array_len(true, field)?;
        let mut out = Vec::with_capacity(count.min(self.remaining() / min_size));
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }

    fn i32_array(&mut self, field: &'static str) -> Result<Vec<i32>, RecordError> {
        self.compact_array(field, 4, |r| r.i32(field))
    }

    fn nullable_i32_array(&mut self, field: &'static str) -> Result<Option<Vec<i32>>, RecordError> {
        let Some(count) = self.length(true, true, field)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(count.min(self.remaining() / 4));
        for _ in 0..count {
            out.push(self.i32(field)?);
        }
        Ok(Some(out))
    }

    /// Reads the data of a tagged field with `read`, which must consume all of it.
    fn whole<T>(
        mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let size = self.remaining();
        let value = read(&mut self)?;
        match self.remaining() {
            0 => Ok(value),
            left => Err(RecordError::InvalidTaggedField {
                field,
                size,
                expected: size - left,
            }),
        }
    }

    /// A tagged-field section whose only known field is the int64 at tag 0 (default 0).
    fn tagged_i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let mut value = 0;
        self.tagged_fields(field, |tag, data| {
            if tag == EPOCH_VALUE_I64_TAG {
                let bytes: [u8; 8] =
                    data.try_into()
                        .map_err(|_| RecordError::InvalidTaggedField {
                            field,
                            size: data.len(),
                            expected: 8,
                        })?;
                value = i64::from_be_bytes(bytes);
            }
            Ok(())
        })?;
        Ok(value)
    }

    fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), RecordError> {
        self.tagged_fields(field, |_, _| Ok(()))
    }

    /// Reads a tagged-field section, handing each field's tag and data to `on_field`.
    fn tagged_fields(
        &mut self,
        field: &'static str,
        mut on_field: impl FnMut(u32, &'a [u8]) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        let count = self.uvarint(field)?;
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let data = self.take(size, field)?;
            on_field(tag, data)?;
        }
        Ok(())
    }
}

/// Output buffer with the same primitives as [`Reader`].
#[derive(Default)]
struct Writer {
    out: BytesMut,
}

impl Writer {
    fn finish(self) -> Bytes {
        self.out.freeze()
    }

    fn i16(&mut self, v: i16) {
        self.out.put_i16(v);
    }

    fn i32(&mut self, v: i32) {
        self.out.put_i32(v);
    }

    fn i64(&mut self, v: i64) {
        self.out.put_i64(v);
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.out.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.put_u8(v as u8);
    }

    /// A length prefix, or the null marker for `None` (the inverse of [`Reader::length`]).
    fn length(
        &mut self,
        len: Option<usize>,
        flexible: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        let max = if wide {
            i32::MAX as usize - 1
        } else {
            MAX_STRING_LEN
        };
        let prefix = match len {
            Some(len) if len > max => return Err(RecordError::TooLong { field, len }),
            // `len <= max < i32::MAX`, so the casts below are lossless.
            Some(len) => len as i32,
            None => -1,
        };
        if flexible {
            self.uvarint((prefix + 1) as u32);
        } else if wide {
            self.i32(prefix);
        } else {
            self.i16(prefix as i16);
        }
        Ok(())
    }

    fn nullable_string(
        &mut self,
        s: Option<&str>,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.length(s.map(str::len), flexible, false, field)?;
        self.out.put_slice(s.unwrap_or_default().as_bytes());
        Ok(())
    }

    fn string(&mut self, s: &str, flexible: bool, field: &'static str) -> Result<(), RecordError> {
        self.nullable_string(Some(s), flexible, field)
    }

    fn bytes(&mut self, b: &[u8], flexible: bool, field: &'static str) -> Result<(), RecordError> {
        self.length(Some(b.len()), flexible, true, field)?;
        self.out.put_slice(b);
        Ok(())
    }

    fn array_len(
        &mut self,
        len: usize,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.length(Some(len), flexible, true, field)
    }

    fn uuid(&mut self, id: Uuid) {
        self.out.put_slice(id.as_bytes());
    }

    fn i32_array(&mut self, values: &[i32], field: &'static str) -> Result<(), RecordError> {
        self.array_len(values.len(), true, field)?;
        for v in values {
            self.i32(*v);
        }
        Ok(())
    }

    /// One tagged field: tag, size, data (the section's count is the caller's).
    fn tagged_field(
        &mut self,
        tag: u32,
        data: &[u8],
        field: &'static str,
    ) -> Result<(), RecordError> {
        let size = u32::try_from(data.len())
            .ok()
            .filter(|&n| n <= i32::MAX as u32)
            .ok_or(RecordError::TooLong {
                field,
                len: data.len(),
            })?;
        self.uvarint(tag);
        self.uvarint(size);
        self.out.put_slice(data);
        Ok(())
    }

    /// A tagged-field section holding the int64 at tag 0 unless it is the default 0.
    fn tagged_i64(&mut self, value: i64) {
        if value == 0 {
            self.uvarint(0);
        } else {
            self.uvarint(1);
            self.uvarint(EPOCH_VALUE_I64_TAG);
            self.uvarint(8);
            self.i64(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0, "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Golden vectors: keys and values copied byte for byte from the `__consumer_offsets-0`
    // segment of an Apache Kafka 4.4.0 broker (ci/kafka-reference, one partition) after: the
    // console consumer (classic protocol) read 6 messages from the 2-partition topic `t1` as
    // group `g1`; an Admin `alterConsumerGroupOffsets("g-meta", t1-0 -> (2, epoch 7,
    // "hello meta"), t1-1 -> (1, no epoch, ""))`; the console consumer with
    // `group.protocol=consumer` as group `g848`. `DumpLogSegments --offsets-decoder` printed
    // the field values checked below. The topic id of `t1` was J1TsROSoSfejSWh4XKaG6A.
    const T1_ID: &str = "2754ec44-e4a8-49f7-a349-68785ca686e8";
    /// Log offset 6: key type 1 (g-meta, t1, 0).
    const KEY_G_META_T1_0: &str = "00010006672d6d6574610002743100000000";
    /// Log offset 6: OffsetCommitValue v4, offset 2, epoch 7, "hello meta", topic id.
    const VALUE_G_META_T1_0: &str = "00040000000000000002000000070b68656c6c6f206d657461\
                                     000001a225dd77580100102754ec44e4a849f7a34968785ca686e8";
    /// Log offset 3: key type 1 (g1, t1, 0).
    const KEY_G1_T1_0: &str = "0001000267310002743100000000";
    /// Log offset 3: OffsetCommitValue v4, offset 0, no epoch (-1), "".
    const VALUE_G1_T1_0: &str = "00040000000000000000ffffffff01000001a225dd56d8\
                                 0100102754ec44e4a849f7a34968785ca686e8";
    /// Log offset 2: OffsetCommitValue v4 for (g1, t1, 1), offset 6, epoch 0.
    const VALUE_G1_T1_1: &str = "000400000000000000060000000001000001a225dd56d8\
                                 0100102754ec44e4a849f7a34968785ca686e8";
    /// Log offsets 0, 1 and 4: key type 2 (g1).
    const KEY_G1: &str = "000200026731";
    /// Log offset 0: GroupMetadataValue v3 of the empty group just created.
    const VALUE_G1_EMPTY: &str = "0003000000000000ffffffff000001a225dd54a100000000";
    /// Log offset 1: GroupMetadataValue v3, generation 1, one member.
    const VALUE_G1_STABLE: &str = "00030008636f6e73756d657200000001000572616e6765\
        0035636f6e736f6c652d636f6e73756d65722d32643964346530322d323834622d343234312d\
        623261642d353735316533663536643332000001a225dd54f5000000010035636f6e736f6c65\
        2d636f6e73756d65722d32643964346530322d323834622d343234312d623261642d35373531\
        6533663536643332ffff0010636f6e736f6c652d636f6e73756d6572000a2f3132372e302e30\
        2e31000493e00000afc80000001800030000000100027431ffffffff00000000ffffffffffff\
        0000001a00030000000100027431000000020000000000000001ffffffff";
    /// Log offset 4: GroupMetadataValue v3 after the member left: generation 2, no protocol.
    const VALUE_G1_LEFT: &str = "00030008636f6e73756d657200000002ffffffff000001a225dd56fa00000000";
    /// Log offset 7: key type 5 (ConsumerGroupMemberMetadata, g848, member pB8Nre45SkydeafMdqd_1Q).
    const KEY_G848_MEMBER: &str =
        "000500046738343800167042384e72653435536b79646561664d6471645f3151";
    /// Log offset 8: key type 3 (ConsumerGroupMetadata, g848).
    const KEY_G848: &str = "0003000467383438";

    // Golden vectors of KIP-848 consumer groups, copied byte for byte from the
    // `__consumer_offsets-0` segment of an Apache Kafka 4.4.0 broker (ci/kafka-reference) after:
    // console consumer A (`group.protocol=consumer`, group `g848`) read the 2-partition topic
    // `t848`; 8 s later console consumer B joined with `group.instance.id=static-b`,
    // `client.rack=rack-b`, `client.id=cc-b`, so A had to revoke t848-1; both timed out and
    // left; then a consumer-protocol member and a classic-protocol member (group.protocol=classic)
    // shared the group. `DumpLogSegments --offsets-decoder` printed the fields checked below.
    // The topic id of `t848` was DHgAcluIQEqwzJt3k60KKA.
    const T848_ID: &str = "0c780072-5b88-404a-b0cc-9b7793ad0a28";
    /// Member A's id.
    const MEMBER_A: &str = "8qqZGxmESkGP3n9Mf2rLpg";
    /// Log offsets 1, 8, 38, 42: key type 3 (g848).
    const KEY_3: &str = "0003000467383438";
    /// Log offset 1: epoch 2, metadataHash -1581379010158786523 (tag 0).
    const VALUE_3_EPOCH_2: &str = "000000000002010008ea0dd02b343a0825";
    /// Log offset 42: epoch 5 once the group was empty; metadataHash 0 is left out.
    const VALUE_3_EMPTY: &str = "00000000000500";
    /// Log offsets 0 and 37 (tombstone): key type 5 (g848, member A).
    const KEY_5_A: &str = "000500046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 0: member A, no instance or rack id, topics [t848], regex "", 300000 ms, no
    /// assignor, classicMemberMetadata written as an explicit null (tag 0, size 1, marker 0).
    const VALUE_5_A: &str = "0000000011636f6e736f6c652d636f6e73756d65720b2f3132372e302e302e31\
                             02057438343801000493e00001000100";
    /// Log offset 7: member B, instance static-b, rack rack-b, client id cc-b.
    const VALUE_5_STATIC: &str = "0000097374617469632d62077261636b2d620563632d620b2f3132372e30\
                                  2e302e3102057438343801000493e00001000100";
    /// Log offset 49: the classic-protocol member: session timeout 45000, protocols range and
    /// cooperative-sticky with their ConsumerProtocolSubscription v3 bytes.
    const VALUE_5_CLASSIC: &str = "0000000011636f6e736f6c652d636f6e73756d65720b2f3132372e302e\
        302e3102057438343801000493e00001005c010000afc8030672616e67651b000300000001000474383438\
        ffffffff00000000ffffffffffff0013636f6f70657261746976652d737469636b791f0003000000010004\
        7438343800000004ffffffff00000000ffffffffffff0000";
    /// Log offsets 3, 43: key type 6 (g848).
    const KEY_6: &str = "0006000467383438";
    /// Log offset 3: assignment epoch 2, assignmentTimestamp 1795933983960 (tag 0).
    const VALUE_6_EPOCH_2: &str = "000000000002010008000001a22601d4d8";
    /// Log offset 43: assignment epoch 5 of the empty group; no timestamp.
    const VALUE_6_EMPTY: &str = "00000000000500";
    /// Log offsets 2 and 36 (tombstone): key type 7 (g848, member A).
    const KEY_7_A: &str = "000700046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 2: member A's target assignment, t848 [0, 1].
    const VALUE_7_BOTH: &str = "0000020c7800725b88404ab0cc9b7793ad0a280300000000000000010000";
    /// Log offsets 4 and 35 (tombstone): key type 8 (g848, member A).
    const KEY_8_A: &str = "000800046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 4: member A stable at epoch 2 (previous 0), t848 [0, 1] assigned at epochs [2, 2].
    const VALUE_8_STABLE: &str = "0000000000020000000000020c7800725b88404ab0cc9b7793ad0a2803000000\
                                  00000000010100090300000002000000020100";
    /// Log offset 16: member A, epoch 2, state 1 (unrevoked partitions): keeps t848-0, must
    /// revoke t848-1.
    const VALUE_8_REVOKING: &str = "0000000000020000000201020c7800725b88404ab0cc9b7793ad0a280200\
        0000000100050200000002020c7800725b88404ab0cc9b7793ad0a2802000000010100050200000002\
        00";
    /// Log offset 12: member B, epoch 3, state 2 (unreleased partitions), nothing assigned yet.
    const VALUE_8_UNRELEASED: &str = "0000000000030000000002010100";
    /// Log offset 25: static member B left (epoch -2, previous 3), keeping t848-1 at epoch 0.
    const VALUE_8_STATIC_LEFT: &str =
        "0000fffffffe0000000300020c7800725b88404ab0cc9b7793ad0a280200\
                                       00000101000502000000000100";

    fn t1_id() -> Option<Uuid> {
        Some(Uuid::parse_str(T1_ID).unwrap())
    }

    /// Decodes `key` and `value`, checks them, and checks that encoding gives the same bytes.
    fn check_offset_commit(key: &str, value: &str, want_key: RecordKey, want: OffsetCommitValue) {
        let (key, value) = (hex(key), hex(value));
        assert_eq!(decode_key(&key).unwrap(), want_key);
        assert_eq!(decode_offset_commit_value(&value).unwrap(), want);
        assert_eq!(encode_key(&want_key).unwrap()[..], key[..]);
        assert_eq!(encode_offset_commit_value(&want).unwrap()[..], value[..]);
    }

    fn offset_key(group: &str, topic: &str, partition: i32) -> RecordKey {
        RecordKey::OffsetCommit {
            group: group.into(),
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn golden_offset_commit_with_metadata_and_leader_epoch() {
        check_offset_commit(
            KEY_G_META_T1_0,
            VALUE_G_META_T1_0,
            offset_key("g-meta", "t1", 0),
            OffsetCommitValue {
                offset: 2,
                leader_epoch: 7,
                metadata: "hello meta".into(),
                commit_timestamp: 1_795_931_600_728,
                expire_timestamp: -1,
                topic_id: t1_id(),
            },
        );
    }

    #[test]
    fn golden_offset_commits_of_the_console_consumer() {
        check_offset_commit(
            KEY_G1_T1_0,
            VALUE_G1_T1_0,
            offset_key("g1", "t1", 0),
            OffsetCommitValue {
                offset: 0,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 1_795_931_592_408,
                expire_timestamp: -1,
                topic_id: t1_id(),
            },
        );
        let v = decode_offset_commit_value(&hex(VALUE_G1_T1_1)).unwrap();
        assert_eq!((v.offset, v.leader_epoch), (6, 0));
        assert_eq!(
            encode_offset_commit_value(&v).unwrap()[..],
            hex(VALUE_G1_T1_1)[..]
        );
    }

    #[test]
    fn golden_group_metadata_with_one_member() {
        let member = "console-consumer-2d9d4e02-284b-4241-b2ad-5751e3f56d32";
        let want = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some("range".into()),
            leader: Some(member.into()),
            current_state_timestamp: 1_795_931_591_925,
            members: vec![MemberMetadata {
                member_id: member.into(),
                group_instance_id: None,
                client_id: "console-consumer".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                // ConsumerProtocolSubscription v3: topics [t1], no user data, no owned
                // partitions, generation -1, no rack.
                subscription: hex("00030000000100027431ffffffff00000000ffffffffffff").into(),
                // ConsumerProtocolAssignment v3: t1 [0, 1], no user data.
                assignment: hex("00030000000100027431000000020000000000000001ffffffff").into(),
            }],
        };
        let value = hex(VALUE_G1_STABLE);
        assert_eq!(
            decode_key(&hex(KEY_G1)).unwrap(),
            RecordKey::GroupMetadata { group: "g1".into() }
        );
        assert_eq!(decode_group_metadata_value(&value).unwrap(), want);
        assert_eq!(encode_group_metadata_value(&want).unwrap()[..], value[..]);
        let key = RecordKey::GroupMetadata { group: "g1".into() };
        assert_eq!(encode_key(&key).unwrap()[..], hex(KEY_G1)[..]);
    }

    #[test]
    fn golden_group_metadata_without_members() {
        let empty = GroupMetadataValue {
            protocol_type: String::new(),
            generation: 0,
            protocol: None,
            leader: None,
            current_state_timestamp: 1_795_931_591_841,
            members: vec![],
        };
        let left = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 2,
            current_state_timestamp: 1_795_931_592_442,
            ..empty.clone()
        };
        for (bytes, want) in [(VALUE_G1_EMPTY, empty), (VALUE_G1_LEFT, left)] {
            let bytes = hex(bytes);
            assert_eq!(decode_group_metadata_value(&bytes).unwrap(), want);
            assert_eq!(encode_group_metadata_value(&want).unwrap()[..], bytes[..]);
        }
    }

    #[test]
    fn golden_kip848_keys() {
        assert_eq!(
            decode_key(&hex(KEY_G848_MEMBER)).unwrap(),
            RecordKey::ConsumerGroupMemberMetadata {
                group: "g848".into(),
                member: "pB8Nre45SkydeafMdqd_1Q".into(),
            }
        );
        assert_eq!(
            decode_key(&hex(KEY_G848)).unwrap(),
            RecordKey::ConsumerGroupMetadata {
                group: "g848".into()
            }
        );
        // The keys of the second capture, every type 3–8 (type 4 built by hand: Kafka 4.4 does
        // not write it, but its layout is that of type 3).
        let member = |member: &str| ("g848".to_owned(), member.to_owned());
        let (g, m) = member(MEMBER_A);
        let cases = [
            (
                KEY_3.to_owned(),
                RecordKey::ConsumerGroupMetadata { group: g.clone() },
            ),
            (
                format!("0004{}", &KEY_3[4..]),
                RecordKey::ConsumerGroupPartitionMetadata { group: g.clone() },
            ),
            (
                KEY_5_A.to_owned(),
                RecordKey::ConsumerGroupMemberMetadata {
                    group: g.clone(),
                    member: m.clone(),
                },
            ),
            (
                KEY_6.to_owned(),
                RecordKey::ConsumerGroupTargetAssignmentMetadata { group: g.clone() },
            ),
            (
                KEY_7_A.to_owned(),
                RecordKey::ConsumerGroupTargetAssignmentMember {
                    group: g.clone(),
                    member: m.clone(),
                },
            ),
            (
                KEY_8_A.to_owned(),
                RecordKey::ConsumerGroupCurrentMemberAssignment {
                    group: g,
                    member: m,
                },
            ),
        ];
        for (bytes, key) in cases {
            assert_eq!(decode_key(&hex(&bytes)).unwrap(), key);
            assert_eq!(encode_key(&key).unwrap()[..], hex(&bytes)[..]);
        }
        // Types Kafka has but this module does not decode stay `Other`.
        let regex_key = hex("0010000467383438000474382e2a");
        assert_eq!(
            decode_key(&regex_key).unwrap(),
            RecordKey::Other { record_type: 16 }
        );
        assert_eq!(
            encode_key(&RecordKey::Other { record_type: 16 }),
            Err(RecordError::NotEncodable(16))
        );
    }

    /// Decodes `value` with `decode`, checks it is `want`, and that `encode` gives the bytes back.
    fn check_golden<T: PartialEq + std::fmt::Debug>(
        value: &str,
        decode: fn(&[u8]) -> Result<T, RecordError>,
        encode: fn(&T) -> Result<Bytes, RecordError>,
        want: &T,
    ) {
        let value = hex(value);
        assert_eq!(&decode(&value).unwrap(), want);
        assert_eq!(encode(want).unwrap()[..], value[..]);
    }

    fn t848(partitions: &[i32], epochs: Option<&[i32]>) -> AssignedPartitions {
        AssignedPartitions {
            topic_id: Uuid::parse_str(T848_ID).unwrap(),
            partitions: partitions.to_vec(),
            assignment_epochs: epochs.map(<[i32]>::to_vec),
        }
    }

    #[test]
    fn golden_consumer_group_epochs() {
        check_golden(
            VALUE_3_EPOCH_2,
            decode_consumer_group_metadata_value,
            encode_consumer_group_metadata_value,
            &ConsumerGroupMetadataValue {
                epoch: 2,
                metadata_hash: -1_581_379_010_158_786_523,
            },
        );
        check_golden(
            VALUE_3_EMPTY,
            decode_consumer_group_metadata_value,
            encode_consumer_group_metadata_value,
            &ConsumerGroupMetadataValue {
                epoch: 5,
                metadata_hash: 0,
            },
        );
        check_golden(
            VALUE_6_EPOCH_2,
            decode_consumer_group_target_assignment_metadata_value,
            encode_consumer_group_target_assignment_metadata_value,
            &ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: 2,
                assignment_timestamp: 1_795_933_983_960,
            },
        );
        check_golden(
            VALUE_6_EMPTY,
            decode_consumer_group_target_assignment_metadata_value,
            encode_consumer_group_target_assignment_metadata_value,
            &ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: 5,
                assignment_timestamp: 0,
            },
        );
    }

    #[test]
    fn golden_consumer_group_members() {
        let plain = ConsumerGroupMemberMetadataValue {
            instance_id: None,
            rack_id: None,
            client_id: "console-consumer".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["t848".into()],
            // Kafka writes "" (not null) for a member without a regex.
            subscribed_topic_regex: Some(String::new()),
            rebalance_timeout_ms: 300_000,
            server_assignor: None,
            classic_member_metadata: None,
        };
        check_golden(
            VALUE_5_A,
            decode_consumer_group_member_metadata_value,
            encode_consumer_group_member_metadata_value,
            &plain,
        );
        check_golden(
            VALUE_5_STATIC,
            decode_consumer_group_member_metadata_value,
            encode_consumer_group_member_metadata_value,
            &ConsumerGroupMemberMetadataValue {
                instance_id: Some("static-b".into()),
                rack_id: Some("rack-b".into()),
                client_id: "cc-b".into(),
                ..plain.clone()
            },
        );
        check_golden(
            VALUE_5_CLASSIC,
            decode_consumer_group_member_metadata_value,
            encode_consumer_group_member_metadata_value,
            &ConsumerGroupMemberMetadataValue {
                classic_member_metadata: Some(ClassicMemberMetadata {
                    session_timeout_ms: 45_000,
                    supported_protocols: vec![
                        (
                            "range".into(),
                            hex("000300000001000474383438ffffffff00000000ffffffffffff").into(),
                        ),
                        (
                            "cooperative-sticky".into(),
                            hex("00030000000100047438343800000004ffffffff00000000ffffffffffff")
                                .into(),
                        ),
                    ],
                }),
                ..plain
            },
        );
    }

    #[test]
    fn golden_consumer_group_assignments() {
        check_golden(
            VALUE_7_BOTH,
            decode_consumer_group_target_assignment_member_value,
            encode_consumer_group_target_assignment_member_value,
            &ConsumerGroupTargetAssignmentMemberValue {
                topic_partitions: vec![(Uuid::parse_str(T848_ID).unwrap(), vec![0, 1])],
            },
        );
        let current = |member_epoch, previous_member_epoch, state, assigned, pending| {
            ConsumerGroupCurrentMemberAssignmentValue {
                member_epoch,
                previous_member_epoch,
                state,
                assigned_partitions: assigned,
                partitions_pending_revocation: pending,
            }
        };
        let cases = [
            (
                VALUE_8_STABLE,
                current(2, 0, 0, vec![t848(&[0, 1], Some(&[2, 2]))], vec![]),
            ),
            (
                VALUE_8_REVOKING,
                current(
                    2,
                    2,
                    1,
                    vec![t848(&[0], Some(&[2]))],
                    vec![t848(&[1], Some(&[2]))],
                ),
            ),
            (VALUE_8_UNRELEASED, current(3, 0, 2, vec![], vec![])),
            (
                VALUE_8_STATIC_LEFT,
                current(-2, 3, 0, vec![t848(&[1], Some(&[0]))], vec![]),
            ),
        ];
        for (bytes, want) in cases {
            check_golden(
                bytes,
                decode_consumer_group_current_member_assignment_value,
                encode_consumer_group_current_member_assignment_value,
                &want,
            );
        }
    }

    #[test]
    fn kip848_tagged_field_defaults_follow_kafka() {
        // An absent classicMemberMetadata tag is Kafka's default: an empty struct, not null.
        let mut absent = hex(VALUE_5_A);
        absent.truncate(absent.len() - 4);
        absent.push(0);
        let v = decode_consumer_group_member_metadata_value(&absent).unwrap();
        assert_eq!(
            v.classic_member_metadata,
            Some(ClassicMemberMetadata::default())
        );
        assert_eq!(
            encode_consumer_group_member_metadata_value(&v).unwrap()[..],
            absent[..]
        );
        // assignmentEpochs: absent is the default empty list, an explicit null is None.
        let mut value = ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 1,
            previous_member_epoch: 0,
            state: 0,
            assigned_partitions: vec![t848(&[0], Some(&[]))],
            partitions_pending_revocation: vec![t848(&[1], None)],
        };
        let bytes = encode_consumer_group_current_member_assignment_value(&value).unwrap();
        let topic = |tail: &str| format!("020c7800725b88404ab0cc9b7793ad0a28{tail}");
        let want = format!(
            "0000000000010000000000{}{}00",
            topic("020000000000"),
            topic("0200000001010001" /* tag 0, size 1, null */) + "00"
        );
        assert_eq!(bytes[..], hex(&want)[..]);
        assert_eq!(
            decode_consumer_group_current_member_assignment_value(&bytes).unwrap(),
            value
        );
        value.assigned_partitions[0].assignment_epochs = Some(vec![7]);
        let bytes = encode_consumer_group_current_member_assignment_value(&value).unwrap();
        assert_eq!(
            decode_consumer_group_current_member_assignment_value(&bytes).unwrap(),
            value
        );
    }

    #[test]
    fn kip848_malformed_tagged_fields_are_errors() {
        // metadataHash of 4 bytes.
        assert!(matches!(
            decode_consumer_group_metadata_value(&hex("000000000002010004ea0dd02b")),
            Err(RecordError::InvalidTaggedField {
                size: 4,
                expected: 8,
                ..
            })
        ));
        // An unknown tag (5, two bytes) after assignmentTimestamp is skipped.
        let v = decode_consumer_group_target_assignment_metadata_value(&hex(
            "00000000000202000800000000000000ff0502ffff",
        ))
        .unwrap();
        assert_eq!((v.assignment_epoch, v.assignment_timestamp), (2, 0xff));
        // classicMemberMetadata whose size leaves a byte unread.
        let mut long = hex(VALUE_5_A);
        long.truncate(long.len() - 4);
        long.extend_from_slice(&hex("0100020000"));
        assert!(matches!(
            decode_consumer_group_member_metadata_value(&long),
            Err(RecordError::InvalidTaggedField {
                size: 2,
                expected: 1,
                ..
            })
        ));
        // A value version other than 0.
        let mut v1 = hex(VALUE_8_STABLE);
        v1[1] = 1;
        assert!(matches!(
            decode_consumer_group_current_member_assignment_value(&v1),
            Err(RecordError::UnknownVersion {
                version: 1,
                max: 0,
                ..
            })
        ));
        // A huge partition count with nothing behind it.
        assert!(matches!(
            decode_consumer_group_target_assignment_member_value(&hex(
                "0000020c7800725b88404ab0cc9b7793ad0a28ffffffff07"
            )),
            Err(RecordError::Truncated { .. })
        ));
    }

    fn kip848_values_for_round_trip() -> (
        ConsumerGroupMemberMetadataValue,
        ConsumerGroupPartitionMetadataValue,
        ConsumerGroupCurrentMemberAssignmentValue,
    ) {
        let member = ConsumerGroupMemberMetadataValue {
            instance_id: Some("i-1".into()),
            rack_id: Some("r\u{e9}".into()),
            client_id: "c".into(),
            client_host: "/10.0.0.1".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: Some("uniform".into()),
            classic_member_metadata: Some(ClassicMemberMetadata {
                session_timeout_ms: 10_000,
                supported_protocols: vec![("range".into(), Bytes::new())],
            }),
        };
        let partition_metadata = ConsumerGroupPartitionMetadataValue {
            topics: vec![TopicMetadata {
                topic_id: Uuid::parse_str(T848_ID).unwrap(),
                topic_name: "t848".into(),
                num_partitions: 2,
                partition_racks: vec![(0, vec!["r1".into(), "r2".into()]), (1, vec![])],
            }],
        };
        let current = ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 10,
            previous_member_epoch: 9,
            state: 127,
            assigned_partitions: vec![t848(&[0, 1, 2], Some(&[1, 2, 3])), t848(&[], None)],
            partitions_pending_revocation: vec![t848(&[5], Some(&[]))],
        };
        (member, partition_metadata, current)
    }

    #[test]
    fn kip848_round_trips() {
        let (member, partition_metadata, current) = kip848_values_for_round_trip();
        let bytes = encode_consumer_group_member_metadata_value(&member).unwrap();
        assert_eq!(
            decode_consumer_group_member_metadata_value(&bytes).unwrap(),
            member
        );
        let bytes = encode_consumer_group_partition_metadata_value(&partition_metadata).unwrap();
        assert_eq!(
            decode_consumer_group_partition_metadata_value(&bytes).unwrap(),
            partition_metadata
        );
        let bytes = encode_consumer_group_current_member_assignment_value(&current).unwrap();
        assert_eq!(
            decode_consumer_group_current_member_assignment_value(&bytes).unwrap(),
            current
        );
        // Too long a string is refused, as for the classic records.
        let long = ConsumerGroupMemberMetadataValue {
            client_id: "x".repeat(0x8000),
            ..member
        };
        assert!(matches!(
            encode_consumer_group_member_metadata_value(&long),
            Err(RecordError::TooLong { len: 0x8000, .. })
        ));
    }

    /// A decoder reduced to "did it decode".
    type Decodes = fn(&[u8]) -> bool;

    /// Every KIP-848 value decoder with valid encodings for it.
    fn kip848_values() -> Vec<(Decodes, Vec<u8>)> {
        let (member, partition_metadata, current) = kip848_values_for_round_trip();
        let d3: Decodes = |b| decode_consumer_group_metadata_value(b).is_ok();
        let d4: Decodes = |b| decode_consumer_group_partition_metadata_value(b).is_ok();
        let d5: Decodes = |b| decode_consumer_group_member_metadata_value(b).is_ok();
        let d6: Decodes = |b| decode_consumer_group_target_assignment_metadata_value(b).is_ok();
        let d7: Decodes = |b| decode_consumer_group_target_assignment_member_value(b).is_ok();
        let d8: Decodes = |b| decode_consumer_group_current_member_assignment_value(b).is_ok();
        let mut out = vec![
            (d3, hex(VALUE_3_EPOCH_2)),
            (d3, hex(VALUE_3_EMPTY)),
            (
                d4,
                encode_consumer_group_partition_metadata_value(&partition_metadata)
                    .unwrap()
                    .to_vec(),
            ),
            (d5, hex(VALUE_5_A)),
            (d5, hex(VALUE_5_STATIC)),
            (d5, hex(VALUE_5_CLASSIC)),
            (
                d5,
                encode_consumer_group_member_metadata_value(&member)
                    .unwrap()
                    .to_vec(),
            ),
            (d6, hex(VALUE_6_EPOCH_2)),
            (d6, hex(VALUE_6_EMPTY)),
            (d7, hex(VALUE_7_BOTH)),
            (
                d8,
                encode_consumer_group_current_member_assignment_value(&current)
                    .unwrap()
                    .to_vec(),
            ),
        ];
        for v in [
            VALUE_8_STABLE,
            VALUE_8_REVOKING,
            VALUE_8_UNRELEASED,
            VALUE_8_STATIC_LEFT,
        ] {
            out.push((d8, hex(v)));
        }
        out
    }

    #[test]
    fn kip848_every_truncation_is_an_error() {
        for (decodes, v) in kip848_values() {
            assert!(decodes(&v));
            for n in 0..v.len() {
                assert!(!decodes(&v[..n]), "{n} of {}: {}", v.len(), to_hex(&v));
            }
        }
        for k in [KEY_3, KEY_5_A, KEY_6, KEY_7_A, KEY_8_A] {
            let k = hex(k);
            for n in 0..k.len() {
                assert!(decode_key(&k[..n]).is_err(), "{n} of {}", k.len());
            }
        }
    }

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn kip848_random_bytes_never_panic() {
        // xorshift64*, as in `random_bytes_never_panic`.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let seeds = kip848_values();
        let decoders: Vec<Decodes> = seeds.iter().map(|(d, _)| *d).collect();
        for i in 0..20_000 {
            let r = next();
            let mut buf = if i % 4 == 0 {
                let len = (r % 64) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if b.len() >= 2 {
                    b[..2].fill(0);
                }
                b
            } else {
                seeds[(r % seeds.len() as u64) as usize].1.clone()
            };
            for _ in 0..1 + (r >> 32) % 4 {
                if !buf.is_empty() {
                    let at = (next() % buf.len() as u64) as usize;
                    buf[at] = next() as u8;
                }
            }
            let _ = decode_key(&buf);
            for d in &decoders {
                let _ = d(&buf);
            }
        }
    }

    #[test]
    fn legacy_offset_commit_key_decodes_and_is_rewritten_as_type_1() {
        let mut legacy = hex(KEY_G1_T1_0);
        legacy[1] = 0;
        let key = decode_key(&legacy).unwrap();
        assert_eq!(key, offset_key("g1", "t1", 0));
        assert_eq!(encode_key(&key).unwrap()[..], hex(KEY_G1_T1_0)[..]);
    }

    /// An offset commit value with every field a version can hold set, the others at their
    /// defaults, so that it survives a round trip at `version`.
    fn offset_value_for(version: i16) -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 1 << 40,
            leader_epoch: if version >= 3 { 12 } else { -1 },
            metadata: "m\u{e9}ta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: if version == 1 { 1_700_000_600_000 } else { -1 },
            topic_id: if version >= 4 { t1_id() } else { None },
        }
    }

    fn group_value_for(version: i16) -> GroupMetadataValue {
        let member = |n: u8| MemberMetadata {
            member_id: format!("member-{n}"),
            group_instance_id: (version >= 3 && n == 1).then(|| "static-1".into()),
            client_id: "client".into(),
            client_host: "/10.0.0.1".into(),
            rebalance_timeout: if version >= 1 { 60_000 } else { 0 },
            session_timeout: 10_000,
            subscription: Bytes::from(vec![n; 3]),
            assignment: Bytes::new(),
        };
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 9,
            protocol: Some("cooperative-sticky".into()),
            leader: Some("member-1".into()),
            current_state_timestamp: if version >= 2 { 1_700_000_000_000 } else { -1 },
            members: vec![member(1), member(2)],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in 0..=OFFSET_COMMIT_VALUE_MAX {
            let v = offset_value_for(version);
            let bytes = encode_offset_commit_value_at(&v, version).unwrap();
            assert_eq!(bytes[..2], version.to_be_bytes(), "v{version}");
            assert_eq!(decode_offset_commit_value(&bytes).unwrap(), v, "v{version}");
        }
        for version in 0..=GROUP_METADATA_VALUE_MAX {
            let v = group_value_for(version);
            let bytes = encode_group_metadata_value_at(&v, version).unwrap();
            assert_eq!(bytes[..2], version.to_be_bytes(), "v{version}");
            assert_eq!(
                decode_group_metadata_value(&bytes).unwrap(),
                v,
                "v{version}"
            );
        }
    }

    #[test]
    fn written_versions_follow_kafka() {
        let with_expiry = offset_value_for(1);
        assert_eq!(
            encode_offset_commit_value(&with_expiry).unwrap()[..2],
            [0, 1]
        );
        assert_eq!(
            encode_offset_commit_value(&offset_value_for(4)).unwrap()[..2],
            [0, 4]
        );
        assert_eq!(
            encode_group_metadata_value(&group_value_for(3)).unwrap()[..2],
            [0, 3]
        );
        // A nil topic id is not written, as Kafka omits Uuid.ZERO_UUID.
        let nil = OffsetCommitValue {
            topic_id: Some(Uuid::nil()),
            ..offset_value_for(4)
        };
        let bytes = encode_offset_commit_value(&nil).unwrap();
        assert_eq!(bytes[bytes.len() - 1], 0, "empty tagged-field section");
        assert_eq!(decode_offset_commit_value(&bytes).unwrap().topic_id, None);
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        // VALUE_G1_T1_0 with its tagged section replaced by tag 7 (2 bytes) then the topic id.
        let mut v = hex(VALUE_G1_T1_0);
        v.truncate(v.len() - 19);
        v.extend_from_slice(&hex("020702abcd0010"));
        v.extend_from_slice(Uuid::parse_str(T1_ID).unwrap().as_bytes());
        assert_eq!(decode_offset_commit_value(&v).unwrap().topic_id, t1_id());
        // A topic id tag of the wrong size.
        let mut bad = hex(VALUE_G1_T1_0);
        bad.truncate(bad.len() - 19);
        bad.extend_from_slice(&hex("010001ff"));
        assert!(matches!(
            decode_offset_commit_value(&bad),
            Err(RecordError::InvalidTaggedField { size: 1, .. })
        ));
        // Group metadata v4 with an unknown tag in the struct's tagged-field section.
        let g = group_value_for(4);
        let mut bytes = encode_group_metadata_value_at(&g, 4).unwrap().to_vec();
        bytes.pop();
        bytes.extend_from_slice(&hex("01050100"));
        assert_eq!(decode_group_metadata_value(&bytes).unwrap(), g);
    }

    #[test]
    fn unknown_versions_are_errors() {
        for version in [-1i16, 5, i16::MAX] {
            let mut v = hex(VALUE_G1_T1_0);
            v[..2].copy_from_slice(&version.to_be_bytes());
            assert!(matches!(
                decode_offset_commit_value(&v),
                Err(RecordError::UnknownVersion { version: got, max: 4, .. }) if got == version
            ));
            let mut g = hex(VALUE_G1_EMPTY);
            g[..2].copy_from_slice(&version.to_be_bytes());
            assert!(matches!(
                decode_group_metadata_value(&g),
                Err(RecordError::UnknownVersion { .. })
            ));
        }
    }

    /// Every valid encoding this module knows: golden and round-trip values of every version.
    fn valid_values() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut offsets = vec![hex(VALUE_G_META_T1_0), hex(VALUE_G1_T1_0)];
        let mut groups = vec![hex(VALUE_G1_STABLE), hex(VALUE_G1_EMPTY)];
        for v in 0..=4 {
            offsets.push(
                encode_offset_commit_value_at(&offset_value_for(v), v)
                    .unwrap()
                    .to_vec(),
            );
            groups.push(
                encode_group_metadata_value_at(&group_value_for(v), v)
                    .unwrap()
                    .to_vec(),
            );
        }
        (offsets, groups)
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (offsets, groups) = valid_values();
        for v in &offsets {
            for n in 0..v.len() {
                assert!(
                    decode_offset_commit_value(&v[..n]).is_err(),
                    "{n} of {}",
                    v.len()
                );
            }
        }
        for v in &groups {
            for n in 0..v.len() {
                assert!(
                    decode_group_metadata_value(&v[..n]).is_err(),
                    "{n} of {}",
                    v.len()
                );
            }
        }
        for k in [hex(KEY_G_META_T1_0), hex(KEY_G1)] {
            for n in 0..k.len() {
                assert!(decode_key(&k[..n]).is_err(), "{n} of {}", k.len());
            }
        }
    }

    #[test]
    fn malformed_fields_are_errors() {
        let err = |r: Result<GroupMetadataValue, RecordError>| r.unwrap_err();
        // protocolType with length -2.
        assert!(matches!(
            err(decode_group_metadata_value(&hex("0003fffe"))),
            RecordError::InvalidLength { len: -2, .. }
        ));
        // Non-nullable protocolType as null.
        assert!(matches!(
            err(decode_group_metadata_value(&hex("0003ffff"))),
            RecordError::UnexpectedNull { .. }
        ));
        // Invalid UTF-8.
        assert!(matches!(
            err(decode_group_metadata_value(&hex("00030001ff"))),
            RecordError::InvalidUtf8 { .. }
        ));
        // A member count of i32::MAX with nothing behind it: truncated, no huge allocation.
        assert!(matches!(
            err(decode_group_metadata_value(&hex(
                "0003000000000000ffffffff000001a225dd54a17fffffff"
            ))),
            RecordError::Truncated { .. }
        ));
        // Flexible: a 6-byte varint, and a compact string longer than 32767.
        assert!(matches!(
            err(decode_group_metadata_value(&hex("0004ffffffffff01"))),
            RecordError::InvalidVarint { .. }
        ));
        assert!(matches!(
            err(decode_group_metadata_value(&hex("000481800200"))),
            RecordError::InvalidLength { len: 0x8000, .. }
        ));
        // Encoding a string that Kafka could not read back.
        let long = OffsetCommitValue {
            metadata: "x".repeat(0x8000),
            ..offset_value_for(4)
        };
        assert!(matches!(
            encode_offset_commit_value(&long),
            Err(RecordError::TooLong { len: 0x8000, .. })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift64*: deterministic, so a failure reproduces.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let (offsets, groups) = valid_values();
        let seeds: Vec<&Vec<u8>> = offsets.iter().chain(&groups).collect();
        for i in 0..20_000 {
            let r = next();
            let mut buf: Vec<u8> = if i % 2 == 0 {
                // Pure noise with a plausible version.
                let len = (r % 64) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if b.len() >= 2 {
                    b[0] = 0;
                    b[1] = (r >> 8) as u8 % 6;
                }
                b
            } else {
                // A valid encoding with a few bytes flipped.
                seeds[(r % seeds.len() as u64) as usize].clone()
            };
            for _ in 0..(r >> 32) % 4 {
                if !buf.is_empty() {
                    let at = (next() % buf.len() as u64) as usize;
                    buf[at] = next() as u8;
                }
            }
            let _ = decode_key(&buf);
            let _ = decode_offset_commit_value(&buf);
            let _ = decode_group_metadata_value(&buf);
        }
    }

    /// Writes a segment of our own records for Kafka's `DumpLogSegments --offsets-decoder`
    /// (see the module docs and `ci/check-offsets-decoder`). Run only on request.
    #[test]
    #[ignore = "writes a file for ci/check-offsets-decoder"]
    fn write_segment_for_kafka() {
        use minikafka_storage::batch::{build_batch, Compression, Record};
        let Ok(path) = std::env::var("MINIKAFKA_OFFSETS_SEGMENT") else {
            panic!("set MINIKAFKA_OFFSETS_SEGMENT to the .log file to write");
        };
        let ts = 1_700_000_000_000;
        let record = |key: &RecordKey, value: Option<Bytes>| Record {
            offset: 0,
            timestamp: ts,
            key: Some(encode_key(key).unwrap()),
            value,
            headers: vec![],
        };
        let commit = OffsetCommitValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "our metadata".into(),
            commit_timestamp: ts,
            expire_timestamp: -1,
            topic_id: t1_id(),
        };
        let expiring = OffsetCommitValue {
            offset: 7,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: ts,
            expire_timestamp: ts + 60_000,
            topic_id: None,
        };
        let records = vec![
            record(
                &RecordKey::GroupMetadata {
                    group: "mk-group".into(),
                },
                Some(encode_group_metadata_value(&group_value_for(3)).unwrap()),
            ),
            record(
                &offset_key("mk-group", "mk-topic", 5),
                Some(encode_offset_commit_value(&commit).unwrap()),
            ),
            record(
                &offset_key("mk-group", "mk-topic", 6),
                Some(encode_offset_commit_value(&expiring).unwrap()),
            ),
            record(&offset_key("mk-group", "mk-topic", 7), None),
        ];
        // One record of each KIP-848 type, and tombstones.
        let (g, m) = ("mk-848".to_owned(), "mk-member".to_owned());
        let (member, _, current) = kip848_values_for_round_trip();
        let member_key = RecordKey::ConsumerGroupMemberMetadata {
            group: g.clone(),
            member: m.clone(),
        };
        let current_key = RecordKey::ConsumerGroupCurrentMemberAssignment {
            group: g.clone(),
            member: m.clone(),
        };
        let target = ConsumerGroupTargetAssignmentMemberValue {
            topic_partitions: vec![(Uuid::parse_str(T848_ID).unwrap(), vec![0, 1, 2])],
        };
        let records = records
            .into_iter()
            .chain([
                record(
                    &member_key,
                    Some(encode_consumer_group_member_metadata_value(&member).unwrap()),
                ),
                record(
                    &RecordKey::ConsumerGroupMetadata { group: g.clone() },
                    Some(
                        encode_consumer_group_metadata_value(&ConsumerGroupMetadataValue {
                            epoch: 7,
                            metadata_hash: -42,
                        })
                        .unwrap(),
                    ),
                ),
                record(
                    &RecordKey::ConsumerGroupTargetAssignmentMember {
                        group: g.clone(),
                        member: m.clone(),
                    },
                    Some(encode_consumer_group_target_assignment_member_value(&target).unwrap()),
                ),
                record(
                    &RecordKey::ConsumerGroupTargetAssignmentMetadata { group: g.clone() },
                    Some(
                        encode_consumer_group_target_assignment_metadata_value(
                            &ConsumerGroupTargetAssignmentMetadataValue {
                                assignment_epoch: 7,
                                assignment_timestamp: ts,
                            },
                        )
                        .unwrap(),
                    ),
                ),
                record(
                    &current_key,
                    Some(encode_consumer_group_current_member_assignment_value(&current).unwrap()),
                ),
                record(&current_key, None),
                record(
                    &RecordKey::ConsumerGroupPartitionMetadata { group: g },
                    None,
                ),
            ])
            .collect::<Vec<_>>();
        let batch = build_batch(0, ts, &records, Compression::None);
        std::fs::write(&path, &batch).unwrap();
    }
}
