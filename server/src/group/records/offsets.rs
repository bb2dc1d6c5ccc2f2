//! Offset commit values (`OffsetCommitValue`, record types 0 and 1): every version Kafka 4.4
//! reads, written at the version it picks.

use bytes::Bytes;
use uuid::Uuid;

use super::FIRST_FLEXIBLE;
use crate::record_codec::{check_version, exact, Reader, RecordError, Writer};

/// Highest `OffsetCommitValue` version (Kafka 4.4: `validVersions` 0-4).
pub(super) const OFFSET_COMMIT_VALUE_MAX: i16 = 4;
/// Tag of `OffsetCommitValue.topicId` (v4+).
const TOPIC_ID_TAG: u32 = 0;

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

/// Encodes an offset commit value at the version Kafka 4.4 picks: v1 when
/// `expire_timestamp` is set (not -1; v1 has no leader epoch or topic id), else v4.
pub(crate) fn encode_offset_commit_value(value: &OffsetCommitValue) -> Result<Bytes, RecordError> {
    let version = if value.expire_timestamp == -1 { 4 } else { 1 };
    encode_offset_commit_value_at(value, version)
}

/// Encodes an offset commit value at `version` (0..=4); fields the version lacks are dropped.
pub(super) fn encode_offset_commit_value_at(
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
                w.uuid(id);
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
                topic_id =
                    Some(Uuid::from_bytes(exact(data, "topicId")?)).filter(|id| !id.is_nil());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::tests::*;
    use crate::group::records::*;

    /// Decodes `key` and `value`, checks them, and checks that encoding gives the same bytes.
    fn check_offset_commit(key: &str, value: &str, want_key: RecordKey, want: OffsetCommitValue) {
        let (key, value) = (hex(key), hex(value));
        assert_eq!(decode_key(&key).unwrap(), want_key);
        assert_eq!(decode_offset_commit_value(&value).unwrap(), want);
        assert_eq!(encode_key(&want_key).unwrap()[..], key[..]);
        assert_eq!(encode_offset_commit_value(&want).unwrap()[..], value[..]);
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
}
