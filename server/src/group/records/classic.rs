//! Classic group metadata values (`GroupMetadataValue`, record type 2): every version Kafka 4.4
//! reads, written at the version it writes (v3).

use bytes::Bytes;

use super::FIRST_FLEXIBLE;
use crate::record_codec::{check_version, Reader, RecordError, Writer};

/// Highest `GroupMetadataValue` version (Kafka 4.4: `validVersions` 0-4).
pub(super) const GROUP_METADATA_VALUE_MAX: i16 = 4;
/// The `GroupMetadataValue` version Kafka 4.4 writes.
const GROUP_METADATA_VALUE_WRITTEN: i16 = 3;

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

/// Encodes a group metadata value at the version Kafka 4.4 writes (v3).
pub(crate) fn encode_group_metadata_value(
    value: &GroupMetadataValue,
) -> Result<Bytes, RecordError> {
    encode_group_metadata_value_at(value, GROUP_METADATA_VALUE_WRITTEN)
}

/// Encodes a group metadata value at `version` (0..=4); fields the version lacks are dropped.
pub(super) fn encode_group_metadata_value_at(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::tests::*;
    use crate::group::records::*;

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
}
