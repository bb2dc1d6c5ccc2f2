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
//! The `kafka-protocol` crate does not hold these schemas, so they are written by hand on the
//! primitives of [`crate::record_codec`] (classic and compact strings, bytes and arrays, tagged
//! fields), which `txn::records` shares. One file per record family: [`offsets`] (types 0, 1),
//! [`classic`] (type 2), [`consumer`] (types 3–8); the keys are here.
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

pub(crate) mod classic;
pub(crate) mod consumer;
pub(crate) mod offsets;

use bytes::Bytes;

pub(crate) use self::classic::*;
pub(crate) use self::consumer::*;
pub(crate) use self::offsets::*;
pub(crate) use crate::record_codec::RecordError;
use crate::record_codec::{Reader, Writer};

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
/// First flexible version of both value schemas.
const FIRST_FLEXIBLE: i16 = 4;

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

#[cfg(test)]
mod tests {
    use super::*;
    pub(super) use crate::record_codec::test_util::{hex, xorshift};
    use uuid::Uuid;

    // Golden vectors: keys and values copied byte for byte from the `__consumer_offsets-0`
    // segment of an Apache Kafka 4.4.0 broker (ci/kafka-reference, one partition) after: the
    // console consumer (classic protocol) read 6 messages from the 2-partition topic `t1` as
    // group `g1`; an Admin `alterConsumerGroupOffsets("g-meta", t1-0 -> (2, epoch 7,
    // "hello meta"), t1-1 -> (1, no epoch, ""))`; the console consumer with
    // `group.protocol=consumer` as group `g848`. `DumpLogSegments --offsets-decoder` printed
    // the field values checked below. The topic id of `t1` was J1TsROSoSfejSWh4XKaG6A.
    pub(super) const T1_ID: &str = "2754ec44-e4a8-49f7-a349-68785ca686e8";
    /// Log offset 6: key type 1 (g-meta, t1, 0).
    pub(super) const KEY_G_META_T1_0: &str = "00010006672d6d6574610002743100000000";
    /// Log offset 6: OffsetCommitValue v4, offset 2, epoch 7, "hello meta", topic id.
    pub(super) const VALUE_G_META_T1_0: &str = "00040000000000000002000000070b68656c6c6f206d657461\
                                     000001a225dd77580100102754ec44e4a849f7a34968785ca686e8";
    /// Log offset 3: key type 1 (g1, t1, 0).
    pub(super) const KEY_G1_T1_0: &str = "0001000267310002743100000000";
    /// Log offset 3: OffsetCommitValue v4, offset 0, no epoch (-1), "".
    pub(super) const VALUE_G1_T1_0: &str = "00040000000000000000ffffffff01000001a225dd56d8\
                                 0100102754ec44e4a849f7a34968785ca686e8";
    /// Log offset 2: OffsetCommitValue v4 for (g1, t1, 1), offset 6, epoch 0.
    pub(super) const VALUE_G1_T1_1: &str = "000400000000000000060000000001000001a225dd56d8\
                                 0100102754ec44e4a849f7a34968785ca686e8";
    /// Log offsets 0, 1 and 4: key type 2 (g1).
    pub(super) const KEY_G1: &str = "000200026731";
    /// Log offset 0: GroupMetadataValue v3 of the empty group just created.
    pub(super) const VALUE_G1_EMPTY: &str = "0003000000000000ffffffff000001a225dd54a100000000";
    /// Log offset 1: GroupMetadataValue v3, generation 1, one member.
    pub(super) const VALUE_G1_STABLE: &str = "00030008636f6e73756d657200000001000572616e6765\
        0035636f6e736f6c652d636f6e73756d65722d32643964346530322d323834622d343234312d\
        623261642d353735316533663536643332000001a225dd54f5000000010035636f6e736f6c65\
        2d636f6e73756d65722d32643964346530322d323834622d343234312d623261642d35373531\
        6533663536643332ffff0010636f6e736f6c652d636f6e73756d6572000a2f3132372e302e30\
        2e31000493e00000afc80000001800030000000100027431ffffffff00000000ffffffffffff\
        0000001a00030000000100027431000000020000000000000001ffffffff";
    /// Log offset 4: GroupMetadataValue v3 after the member left: generation 2, no protocol.
    pub(super) const VALUE_G1_LEFT: &str =
        "00030008636f6e73756d657200000002ffffffff000001a225dd56fa00000000";
    /// Log offset 7: key type 5 (ConsumerGroupMemberMetadata, g848, member pB8Nre45SkydeafMdqd_1Q).
    pub(super) const KEY_G848_MEMBER: &str =
        "000500046738343800167042384e72653435536b79646561664d6471645f3151";
    /// Log offset 8: key type 3 (ConsumerGroupMetadata, g848).
    pub(super) const KEY_G848: &str = "0003000467383438";

    // Golden vectors of KIP-848 consumer groups, copied byte for byte from the
    // `__consumer_offsets-0` segment of an Apache Kafka 4.4.0 broker (ci/kafka-reference) after:
    // console consumer A (`group.protocol=consumer`, group `g848`) read the 2-partition topic
    // `t848`; 8 s later console consumer B joined with `group.instance.id=static-b`,
    // `client.rack=rack-b`, `client.id=cc-b`, so A had to revoke t848-1; both timed out and
    // left; then a consumer-protocol member and a classic-protocol member (group.protocol=classic)
    // shared the group. `DumpLogSegments --offsets-decoder` printed the fields checked below.
    // The topic id of `t848` was DHgAcluIQEqwzJt3k60KKA.
    pub(super) const T848_ID: &str = "0c780072-5b88-404a-b0cc-9b7793ad0a28";
    /// Member A's id.
    pub(super) const MEMBER_A: &str = "8qqZGxmESkGP3n9Mf2rLpg";
    /// Log offsets 1, 8, 38, 42: key type 3 (g848).
    pub(super) const KEY_3: &str = "0003000467383438";
    /// Log offset 1: epoch 2, metadataHash -1581379010158786523 (tag 0).
    pub(super) const VALUE_3_EPOCH_2: &str = "000000000002010008ea0dd02b343a0825";
    /// Log offset 42: epoch 5 once the group was empty; metadataHash 0 is left out.
    pub(super) const VALUE_3_EMPTY: &str = "00000000000500";
    /// Log offsets 0 and 37 (tombstone): key type 5 (g848, member A).
    pub(super) const KEY_5_A: &str =
        "000500046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 0: member A, no instance or rack id, topics [t848], regex "", 300000 ms, no
    /// assignor, classicMemberMetadata written as an explicit null (tag 0, size 1, marker 0).
    pub(super) const VALUE_5_A: &str =
        "0000000011636f6e736f6c652d636f6e73756d65720b2f3132372e302e302e31\
                             02057438343801000493e00001000100";
    /// Log offset 7: member B, instance static-b, rack rack-b, client id cc-b.
    pub(super) const VALUE_5_STATIC: &str =
        "0000097374617469632d62077261636b2d620563632d620b2f3132372e30\
                                  2e302e3102057438343801000493e00001000100";
    /// Log offset 49: the classic-protocol member: session timeout 45000, protocols range and
    /// cooperative-sticky with their ConsumerProtocolSubscription v3 bytes.
    pub(super) const VALUE_5_CLASSIC: &str =
        "0000000011636f6e736f6c652d636f6e73756d65720b2f3132372e302e\
        302e3102057438343801000493e00001005c010000afc8030672616e67651b000300000001000474383438\
        ffffffff00000000ffffffffffff0013636f6f70657261746976652d737469636b791f0003000000010004\
        7438343800000004ffffffff00000000ffffffffffff0000";
    /// Log offsets 3, 43: key type 6 (g848).
    pub(super) const KEY_6: &str = "0006000467383438";
    /// Log offset 3: assignment epoch 2, assignmentTimestamp 1795933983960 (tag 0).
    pub(super) const VALUE_6_EPOCH_2: &str = "000000000002010008000001a22601d4d8";
    /// Log offset 43: assignment epoch 5 of the empty group; no timestamp.
    pub(super) const VALUE_6_EMPTY: &str = "00000000000500";
    /// Log offsets 2 and 36 (tombstone): key type 7 (g848, member A).
    pub(super) const KEY_7_A: &str =
        "000700046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 2: member A's target assignment, t848 [0, 1].
    pub(super) const VALUE_7_BOTH: &str =
        "0000020c7800725b88404ab0cc9b7793ad0a280300000000000000010000";
    /// Log offsets 4 and 35 (tombstone): key type 8 (g848, member A).
    pub(super) const KEY_8_A: &str =
        "000800046738343800163871715a47786d45536b4750336e394d6632724c7067";
    /// Log offset 4: member A stable at epoch 2 (previous 0), t848 [0, 1] assigned at epochs [2, 2].
    pub(super) const VALUE_8_STABLE: &str =
        "0000000000020000000000020c7800725b88404ab0cc9b7793ad0a2803000000\
                                  00000000010100090300000002000000020100";
    /// Log offset 16: member A, epoch 2, state 1 (unrevoked partitions): keeps t848-0, must
    /// revoke t848-1.
    pub(super) const VALUE_8_REVOKING: &str =
        "0000000000020000000201020c7800725b88404ab0cc9b7793ad0a280200\
        0000000100050200000002020c7800725b88404ab0cc9b7793ad0a2802000000010100050200000002\
        00";
    /// Log offset 12: member B, epoch 3, state 2 (unreleased partitions), nothing assigned yet.
    pub(super) const VALUE_8_UNRELEASED: &str = "0000000000030000000002010100";
    /// Log offset 25: static member B left (epoch -2, previous 3), keeping t848-1 at epoch 0.
    pub(super) const VALUE_8_STATIC_LEFT: &str =
        "0000fffffffe0000000300020c7800725b88404ab0cc9b7793ad0a280200\
                                       00000101000502000000000100";

    pub(super) fn t1_id() -> Option<Uuid> {
        Some(Uuid::parse_str(T1_ID).unwrap())
    }

    pub(super) fn offset_key(group: &str, topic: &str, partition: i32) -> RecordKey {
        RecordKey::OffsetCommit {
            group: group.into(),
            topic: topic.into(),
            partition,
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

    pub(super) fn t848(partitions: &[i32], epochs: Option<&[i32]>) -> AssignedPartitions {
        AssignedPartitions {
            topic_id: Uuid::parse_str(T848_ID).unwrap(),
            partitions: partitions.to_vec(),
            assignment_epochs: epochs.map(<[i32]>::to_vec),
        }
    }

    pub(super) fn kip848_values_for_round_trip() -> (
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
    fn legacy_offset_commit_key_decodes_and_is_rewritten_as_type_1() {
        let mut legacy = hex(KEY_G1_T1_0);
        legacy[1] = 0;
        let key = decode_key(&legacy).unwrap();
        assert_eq!(key, offset_key("g1", "t1", 0));
        assert_eq!(encode_key(&key).unwrap()[..], hex(KEY_G1_T1_0)[..]);
    }

    /// An offset commit value with every field a version can hold set, the others at their
    /// defaults, so that it survives a round trip at `version`.
    pub(super) fn offset_value_for(version: i16) -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 1 << 40,
            leader_epoch: if version >= 3 { 12 } else { -1 },
            metadata: "m\u{e9}ta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: if version == 1 { 1_700_000_600_000 } else { -1 },
            topic_id: if version >= 4 { t1_id() } else { None },
        }
    }

    pub(super) fn group_value_for(version: i16) -> GroupMetadataValue {
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
    pub(super) fn valid_values() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
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
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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
