//! The record schemas of `__consumer_offsets`: committed offsets and classic group metadata.
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
//! | 3–8  | KIP-848 consumer groups                  | (decoded as [`RecordKey::Other`]) |
//! | 10–15| KIP-932 share groups                     | (decoded as [`RecordKey::Other`]) |
//! | 16   | consumer group regular expression        | (decoded as [`RecordKey::Other`]) |
//! | 17+  | KIP-1071 streams groups                  | (decoded as [`RecordKey::Other`]) |
//!
//! Kafka 4.4 writes (`GroupCoordinatorRecordHelpers`): keys of type 1 and 2;
//! `OffsetCommitValue` v4 (flexible; the topic id in tagged field 0, omitted when zero), or v1
//! when the commit carries an explicit expire timestamp; `GroupMetadataValue` v3 (not the
//! flexible v4). [`encode_offset_commit_value`] and [`encode_group_metadata_value`] make the same
//! choice, so our records are byte-identical to Kafka's (the tests hold bytes copied from a
//! Kafka 4.4.0 broker's `__consumer_offsets-0` segment).
//!
//! Decoding follows Kafka's `CoordinatorRecordSerde`: a key of an unknown type is not an error
//! but [`RecordKey::Other`] (Kafka skips such records when loading); a value version outside
//! 0..=4 is [`RecordError::UnknownVersion`]; trailing bytes after the struct are ignored, as
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

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

/// Key type of offset commits written before Kafka 0.10.1 (`LegacyOffsetCommitKey`).
pub(crate) const LEGACY_OFFSET_COMMIT_TYPE: i16 = 0;
/// Key type of offset commits (`OffsetCommitKey`), the one Kafka writes.
pub(crate) const OFFSET_COMMIT_TYPE: i16 = 1;
/// Key type of classic group metadata (`GroupMetadataKey`).
pub(crate) const GROUP_METADATA_TYPE: i16 = 2;

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
    /// Any other record type (KIP-848 consumer groups, share and streams groups, or a type
    /// newer than this broker): only the type is read, so a loader can skip the record.
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

/// Encodes a key as Kafka 4.x does: offset commits as type 1, group metadata as type 2.
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
        RecordKey::Other { record_type } => return Err(RecordError::NotEncodable(*record_type)),
    }
    Ok(w.finish())
}

/// Decodes a key. Types other than 0, 1 and 2 are [`RecordKey::Other`].
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
    fn golden_kip848_keys_are_other() {
        assert_eq!(
            decode_key(&hex(KEY_G848_MEMBER)).unwrap(),
            RecordKey::Other { record_type: 5 }
        );
        assert_eq!(
            decode_key(&hex(KEY_G848)).unwrap(),
            RecordKey::Other { record_type: 3 }
        );
        assert_eq!(
            encode_key(&RecordKey::Other { record_type: 3 }),
            Err(RecordError::NotEncodable(3))
        );
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
        let batch = build_batch(0, ts, &records, Compression::None);
        std::fs::write(&path, &batch).unwrap();
    }
}
