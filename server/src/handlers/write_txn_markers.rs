//! WriteTxnMarkers: the request a transaction coordinator sends to the leaders of its
//! transaction's partitions to end it there (Kafka's `KafkaApis.handleWriteTxnMarkersRequest`).
//! Partitions are led by one broker each, so a coordinator on another broker cannot append the
//! COMMIT/ABORT control batch itself.
//!
//! For each marker and each partition led here, the control batch is appended as the coordinator
//! appends its own local markers ([`crate::replica::Partition::append_txn_marker`], fsynced before
//! the answer when `flush.messages` asks for it); a `__consumer_offsets` partition goes through
//! the group coordinator, which makes the transaction's offsets visible or drops them. A partition
//! that does not exist is UNKNOWN_TOPIC_OR_PARTITION, one led by another broker (or none)
//! NOT_LEADER_OR_FOLLOWER, as Kafka answers (the coordinator looks the leader up again and
//! resends).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use minikafka_storage::TxnMarker;
use tracing::{debug, error};

use super::{storage_error, topic_error, RequestContext};
use crate::clock::now_ms;
use crate::group::{Pending, OFFSETS_TOPIC, REPLICATION_TIMEOUT};
use crate::replica::{sync_partition, AppendError, ReplicaManager};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let b = ctx.broker;
    // The brokers' own request: CLUSTER_ACTION on the cluster (Kafka), else every partition
    // CLUSTER_AUTHORIZATION_FAILED.
    let cluster_ok = ctx.authorized_cluster(crate::acl::op::CLUSTER_ACTION);
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in &req.markers {
        let marker = if m.transaction_result {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in &m.topics {
            let name = t.name.0.as_str();
            let topic = b.topics.get(name);
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for &index in &t.partition_indexes {
                let written: Result<Pending, ResponseError> = if !cluster_ok {
                    Err(ResponseError::ClusterAuthorizationFailed)
                } else {
                    match b.led(
                        topic.as_deref(),
                        index,
                        ResponseError::UnknownTopicOrPartition,
                    ) {
                        Err(e) => Err(e),
                        Ok(_) if name == OFFSETS_TOPIC => b
                            .groups
                            .complete_txn(
                                index,
                                m.producer_id.0,
                                m.producer_epoch,
                                m.coordinator_epoch,
                                m.transaction_result,
                            )
                            .map_err(|e| topic_error(&e)),
                        Ok(p) => p
                            .append_txn_marker(
                                m.producer_id.0,
                                m.producer_epoch,
                                m.coordinator_epoch,
                                marker,
                                now_ms(),
                            )
                            .map(|info| Pending {
                                end: info.last_offset + 1,
                                fsync: info.needs_flush,
                                p,
                            })
                            .map_err(|e| storage_error(&e)),
                    }
                };
                // Answered once fsynced (if flush.messages asks) and in every in-sync replica,
                // as Kafka appends markers with acks=all.
                let code = match written {
                    Ok(w) => match sync_partition_if(&w).await {
                        Err(e) => {
                            error!(topic = name, partition = index, error = %e,
                                "fsync of a transaction marker failed");
                            ResponseError::KafkaStorageError.code()
                        }
                        Ok(()) => {
                            match ReplicaManager::replicated(&w.p, w.end, REPLICATION_TIMEOUT).await
                            {
                                Ok(()) => 0,
                                Err(AppendError::NotLeader) => {
                                    ResponseError::NotLeaderOrFollower.code()
                                }
                                Err(AppendError::NotEnoughReplicasAfterAppend) => {
                                    ResponseError::NotEnoughReplicasAfterAppend.code()
                                }
                                Err(_) => ResponseError::RequestTimedOut.code(),
                            }
                        }
                    },
                    Err(e) => {
                        debug!(topic = name, partition = index, producer_id = m.producer_id.0,
                            producer_epoch = m.producer_epoch, error = ?e, "transaction marker not written");
                        e.code()
                    }
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// fsync the marker's partition when flush.messages asks for it.
async fn sync_partition_if(w: &Pending) -> std::io::Result<()> {
    if w.fsync {
        sync_partition(&w.p).await
    } else {
        Ok(())
    }
}
