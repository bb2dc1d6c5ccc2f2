//! TEMPORARY stub, replaced by the real codecs of the `__consumer_offsets` record schemas.
#![allow(dead_code, missing_docs, unreachable_pub)]

use bytes::Bytes;

/// Key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKey {
    /// A committed offset.
    OffsetCommit {
        /// Group.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Group metadata.
    GroupMetadata {
        /// Group.
        group: String,
    },
    /// Anything else.
    Other {
        /// Key version.
        version: i16,
    },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitValue {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
    pub(crate) commit_timestamp: i64,
    pub(crate) expire_timestamp: i64,
}

/// A classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMetadataValue {
    pub(crate) protocol_type: String,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) current_state_timestamp: i64,
    pub(crate) members: Vec<MemberMetadata>,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberMetadata {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout: i32,
    pub(crate) session_timeout: i32,
    pub(crate) subscription: Bytes,
    pub(crate) assignment: Bytes,
}

/// Decode failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RecordError(String);

pub(crate) fn encode_key(_k: &RecordKey) -> Bytes {
    Bytes::new()
}
pub(crate) fn decode_key(_b: &[u8]) -> Result<RecordKey, RecordError> {
    Err(RecordError("stub".into()))
}
pub(crate) fn encode_offset_commit_value(_v: &OffsetCommitValue) -> Bytes {
    Bytes::new()
}
pub(crate) fn decode_offset_commit_value(_b: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    Err(RecordError("stub".into()))
}
pub(crate) fn encode_group_metadata_value(_v: &GroupMetadataValue) -> Bytes {
    Bytes::new()
}
pub(crate) fn decode_group_metadata_value(_b: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    Err(RecordError("stub".into()))
}
