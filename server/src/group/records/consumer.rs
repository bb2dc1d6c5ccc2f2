//! The KIP-848 consumer group values (record types 3–8, version 0, flexible), with their tagged
//! fields written as Kafka's generated writers do (see the quirks in [`super`]).

use bytes::Bytes;
use uuid::Uuid;

use crate::record_codec::{Reader, RecordError, Writer};

/// Tag of `ConsumerGroupMemberMetadataValue.classicMemberMetadata`.
const CLASSIC_MEMBER_METADATA_TAG: u32 = 0;
/// Tag of `ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions.assignmentEpochs`.
const ASSIGNMENT_EPOCHS_TAG: u32 = 0;
/// Tag of the int64 tagged field of `ConsumerGroupMetadataValue` (`metadataHash`) and of
/// `ConsumerGroupTargetAssignmentMetadataValue` (`assignmentTimestamp`).
const EPOCH_VALUE_I64_TAG: u32 = 0;

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

/// Encodes a consumer group epoch value (v0) as Kafka 4.4 does.
pub(crate) fn encode_consumer_group_metadata_value(
    value: &ConsumerGroupMetadataValue,
) -> Result<Bytes, RecordError> {
    let mut w = Writer::default();
    w.i16(0);
    w.i32(value.epoch);
    w.tagged_i64(EPOCH_VALUE_I64_TAG, value.metadata_hash);
    Ok(w.finish())
}

/// Decodes a consumer group epoch value (v0).
pub(crate) fn decode_consumer_group_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version("ConsumerGroupMetadataValue", 0)?;
    let epoch = r.i32("epoch")?;
    let metadata_hash = r.tagged_i64(EPOCH_VALUE_I64_TAG, "metadataHash")?;
    Ok(ConsumerGroupMetadataValue {
        epoch,
        metadata_hash,
    })
}

/// Encodes a subscribed topic metadata value (v0); Kafka 4.4 no longer writes these, so only
/// the tests need it.
#[cfg(test)]
pub(super) fn encode_consumer_group_partition_metadata_value(
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
    r.version("ConsumerGroupPartitionMetadataValue", 0)?;
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
    r.version("ConsumerGroupMemberMetadataValue", 0)?;
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
    w.tagged_i64(EPOCH_VALUE_I64_TAG, value.assignment_timestamp);
    Ok(w.finish())
}

/// Decodes a target assignment epoch value (v0).
pub(crate) fn decode_consumer_group_target_assignment_metadata_value(
    buf: &[u8],
) -> Result<ConsumerGroupTargetAssignmentMetadataValue, RecordError> {
    let mut r = Reader::new(buf);
    r.version("ConsumerGroupTargetAssignmentMetadataValue", 0)?;
    let assignment_epoch = r.i32("assignmentEpoch")?;
    let assignment_timestamp = r.tagged_i64(EPOCH_VALUE_I64_TAG, "assignmentTimestamp")?;
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
    r.version("ConsumerGroupTargetAssignmentMemberValue", 0)?;
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
    w.i8(value.state);
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
    r.version("ConsumerGroupCurrentMemberAssignmentValue", 0)?;
    let member_epoch = r.i32("memberEpoch")?;
    let previous_member_epoch = r.i32("previousMemberEpoch")?;
    let state = r.i8("state")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::tests::*;
    use crate::group::records::*;

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
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
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
}
