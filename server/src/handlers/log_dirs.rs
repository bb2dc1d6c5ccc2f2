//! DescribeLogDirs and AlterReplicaLogDirs: the broker's log directories (`log.dirs`) as Kafka's
//! `kafka-log-dirs --describe` and `kafka-reassign-partitions` (with `log_dirs`) see them.
//!
//! Why it exists: a broker may have several log directories (KIP-113), and operators move a
//! replica from one to another (a full disk, a new disk) without taking it out of service.
//!
//! - DescribeLogDirs: one result per directory (its absolute path), with the partitions in it,
//!   their sizes and offset lags, the future replica of a move in progress (`is_future_key`,
//!   its lag behind the current log), and (v4) the volume's total and usable bytes. An offline
//!   directory answers KAFKA_STORAGE_ERROR with no topics, as Kafka's `LogManager`.
//! - AlterReplicaLogDirs: for each partition, Kafka's `ReplicaManager.alterReplicaLogDirs`
//!   answers: a destination that is not one of `log.dirs` (compared as absolute paths) is
//!   LOG_DIR_NOT_FOUND, an offline (or read-only) one KAFKA_STORAGE_ERROR; an unknown topic or
//!   partition UNKNOWN_TOPIC_OR_PARTITION; a partition this broker does not host
//!   REPLICA_NOT_AVAILABLE; a replica whose current directory is offline KAFKA_STORAGE_ERROR.
//!   Otherwise NONE, and the move runs in the background (`ReplicaManager::run_move`: a
//!   `-future` copy, then a swap under the partition's lock); the tool polls DescribeLogDirs
//!   until the future replica is gone.
//!
//! With an authorizer (issue 14), as Kafka: DescribeLogDirs needs DESCRIBE on the cluster (v3+
//! CLUSTER_AUTHORIZATION_FAILED, older an empty answer), AlterReplicaLogDirs ALTER on the cluster
//! (each partition CLUSTER_AUTHORIZATION_FAILED, first).
//!
//! Work is bounded by the request (or, for "all topics", by the topics that exist).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, TopicName,
};
use tracing::{info, warn};

use super::{s, RequestContext};
use crate::metadata::TopicImage;
use crate::replica::LogDir;

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The volume's total and usable bytes (-1 when unknown, as Kafka's `UNKNOWN_VOLUME_BYTES`).
fn volume_bytes(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(v) => (
            i64::try_from(v.f_blocks.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX),
            i64::try_from(v.f_bavail.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX),
        ),
        Err(e) => {
            warn!(log_dir = %dir.display(), error = %e, "statvfs of a log directory failed");
            (-1, -1)
        }
    }
}

pub(crate) async fn describe_log_dirs(
    ctx: &RequestContext<'_>,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let b = ctx.broker;
    // DESCRIBE on the cluster (Kafka: v3+ CLUSTER_AUTHORIZATION_FAILED, older an empty answer).
    if !ctx.authorized_cluster(crate::acl::op::DESCRIBE) {
        let mut r = DescribeLogDirsResponse::default();
        if ctx.version >= 3 {
            r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        }
        return r;
    }
    // Each wanted topic once, with the partitions asked for (`None`: all of them).
    let wanted: Vec<(Arc<TopicImage>, Vec<i32>)> = match req.topics {
        None => b
            .topics
            .all()
            .into_iter()
            .map(|t| {
                let all = t.partitions.iter().map(|p| p.index).collect();
                (t, all)
            })
            .collect(),
        Some(list) => {
            let mut seen = HashSet::new();
            list.into_iter()
                .filter(|t| seen.insert(t.topic.0.clone()))
                .filter_map(|t| {
                    let image = b.topics.get(t.topic.0.as_str())?;
                    let mut partitions = t.partitions;
                    partitions.sort_unstable();
                    partitions.dedup();
                    Some((image, partitions))
                })
                .collect()
        }
    };
    let results = b
        .replicas
        .log_dirs()
        .iter()
        .map(|dir| describe_dir(ctx, dir, &wanted))
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

/// One directory's result: its current replicas and the future replicas moving into it.
fn describe_dir(
    ctx: &RequestContext<'_>,
    dir: &Arc<LogDir>,
    wanted: &[(Arc<TopicImage>, Vec<i32>)],
) -> DescribeLogDirsResult {
    let b = ctx.broker;
    let out = DescribeLogDirsResult::default()
        .with_log_dir(s(absolute(dir.path()).display().to_string()));
    if dir.is_offline() {
        return out
            .with_error_code(ResponseError::KafkaStorageError.code())
            .with_total_bytes(-1)
            .with_usable_bytes(-1);
    }
    let mut topics = Vec::new();
    for (t, indexes) in wanted {
        let mut partitions = Vec::new();
        for &i in indexes {
            let Some(p) = b.partition_of(t, i) else {
                continue;
            };
            if Arc::ptr_eq(&p.log_dir(), dir) {
                partitions.push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(i)
                        .with_partition_size(i64::try_from(p.size_bytes()).unwrap_or(i64::MAX))
                        .with_offset_lag((p.high_watermark() - p.log_end_offset()).max(0)),
                );
            }
            if let Some(f) = b
                .replicas
                .future_replica(&t.id, i)
                .filter(|f| Arc::ptr_eq(&f.dest, dir))
            {
                let size = f.size.load(Ordering::Acquire);
                partitions.push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(i)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(
                            (p.log_end_offset() - f.log_end.load(Ordering::Acquire)).max(0),
                        )
                        .with_is_future_key(true),
                );
            }
        }
        if !partitions.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(s(t.name.clone())))
                    .with_partitions(partitions),
            );
        }
    }
    let (total, usable) = volume_bytes(dir.path());
    out.with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable)
}

pub(crate) async fn alter_replica_log_dirs(
    ctx: &RequestContext<'_>,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let b = ctx.broker;
    let mut results = Vec::new();
    for dir in req.dirs {
        let wanted = absolute(Path::new(dir.path.as_str()));
        let dest = b.replicas.log_dir_at(&wanted).cloned();
        for t in dir.topics {
            let topic = b.topics.get(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|i| {
                    let code = match alter_one(ctx, dest.as_ref(), topic.as_deref(), i) {
                        Ok(()) => 0,
                        Err(e) => e.code(),
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(i)
                        .with_error_code(code)
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(t.name)
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}

/// One partition of AlterReplicaLogDirs (see the module docs for the errors' order).
fn alter_one(
    ctx: &RequestContext<'_>,
    dest: Option<&Arc<LogDir>>,
    topic: Option<&TopicImage>,
    index: i32,
) -> Result<(), ResponseError> {
    let b = ctx.broker;
    // ALTER on the cluster (Kafka: every partition CLUSTER_AUTHORIZATION_FAILED).
    if !ctx.authorized_cluster(crate::acl::op::ALTER) {
        return Err(ResponseError::ClusterAuthorizationFailed);
    }
    let dest = dest.ok_or(ResponseError::LogDirNotFound)?;
    if dest.check_writable().is_err() {
        return Err(ResponseError::KafkaStorageError);
    }
    let topic = topic.ok_or(ResponseError::UnknownTopicOrPartition)?;
    if topic.partition(index).is_none() {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    let p = b
        .partition_of(topic, index)
        .ok_or(ResponseError::ReplicaNotAvailable)?;
    match b.replicas.begin_move(&p, dest) {
        Ok(false) => Ok(()),
        Ok(true) => {
            info!(topic = %p.topic, partition = index, to = %dest.path().display(),
                "AlterReplicaLogDirs: moving replica");
            let replicas = b.replicas.clone();
            let dest = dest.clone();
            tokio::task::spawn_blocking(move || replicas.run_move(&p, &dest));
            Ok(())
        }
        Err(_) => Err(ResponseError::KafkaStorageError),
    }
}
