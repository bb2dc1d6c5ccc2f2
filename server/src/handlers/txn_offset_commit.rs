//! TxnOffsetCommit: offsets committed as part of a producer's transaction (`sendOffsetsToTransaction`).
//! The group's `__consumer_offsets` partition must be in the producer's open transaction
//! (AddOffsetsToTxn; checked with the coordinator as Kafka does since KIP-890: TRANSACTION_ABORTABLE
//! from v5, INVALID_TXN_STATE before). The offsets become visible to OffsetFetch when the transaction
//! commits and are dropped if it aborts. Group membership is checked when the request names a
//! generation or member (v3+), as for OffsetCommit. The transaction coordinator may be another broker
//! (asked through AddPartitionsToTxn `verify_only`, see [`crate::txn::TxnCoordinator::verify_for_append`]).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use tracing::error;

use super::{blocking, RequestContext};
use crate::acl;
use crate::group::{partition_for, Committer, OffsetToCommit, OFFSETS_TOPIC};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let group = req.group_id.0.to_string();
    let mut offsets = Vec::new();
    let mut known = Vec::new();
    for t in &req.topics {
        let topic = b.topics.get(t.name.0.as_str());
        for p in &t.partitions {
            known.push(topic.as_ref().is_some_and(|tp| {
                p.partition_index >= 0 && p.partition_index < tp.partition_count()
            }));
            offsets.push(OffsetToCommit {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(ToString::to_string),
            });
        }
    }
    let groups = b.groups.clone();
    let check = match blocking(move || groups.ensure_offsets_topic()).await {
        Ok(t) => b
            .txn
            .verify_for_append(
                Some(req.transactional_id.0.as_str()),
                req.producer_id.0,
                req.producer_epoch,
                OFFSETS_TOPIC,
                partition_for(&group, t.partition_count()),
            )
            .await
            .map_err(|e| match super::fenced_for_version(e, version, 5) {
                ResponseError::TransactionAbortable if version < 5 => {
                    ResponseError::InvalidTxnState
                }
                ResponseError::ConcurrentTransactions => ResponseError::CoordinatorLoadInProgress,
                // A transaction coordinator elsewhere that cannot be reached or moved: retriable,
                // as Kafka's group coordinator maps such verification errors.
                ResponseError::NetworkException
                | ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::RequestTimedOut => ResponseError::CoordinatorNotAvailable,
                e => e,
            }),
        Err(e) => {
            error!(error = %e, "cannot create __consumer_offsets");
            Err(ResponseError::CoordinatorNotAvailable)
        }
    };
    // WRITE on the transactional id, READ on the group, READ on each topic (Kafka).
    let txn_ok = ctx.authorized_txn(acl::op::WRITE, req.transactional_id.0.as_str());
    let group_ok = ctx.authorized_group(acl::op::READ, &group);
    let mut results: Vec<Result<(), ResponseError>> = known
        .iter()
        .zip(&offsets)
        .map(|(k, o)| {
            if !txn_ok {
                Err(ResponseError::TransactionalIdAuthorizationFailed)
            } else if !group_ok {
                Err(ResponseError::GroupAuthorizationFailed)
            } else if !ctx.authorized_topic(acl::op::READ, &o.topic) {
                Err(ResponseError::TopicAuthorizationFailed)
            } else if *k {
                Ok(())
            } else {
                Err(ResponseError::UnknownTopicOrPartition)
            }
        })
        .collect();
    match check {
        Err(e) => {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e);
            }
        }
        Ok(()) => {
            let valid: Vec<OffsetToCommit> = offsets
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_ok())
                .map(|(o, _)| o.clone())
                .collect();
            let who = Committer {
                generation: req.generation_id,
                member_id: req.member_id.to_string(),
                instance_id: req.group_instance_id.as_ref().map(ToString::to_string),
                retention_ms: -1,
            };
            let mut done = b
                .groups
                .txn_commit(
                    &group,
                    &who,
                    (req.producer_id.0, req.producer_epoch),
                    &valid,
                )
                .await
                .into_iter();
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = done
                    .next()
                    .unwrap_or(Err(ResponseError::UnknownServerError));
            }
        }
    }
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut each = results.into_iter();
    for t in req.topics {
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(
                        each.next()
                            .unwrap_or(Err(ResponseError::UnknownServerError))
                            .map_or_else(|e| e.code(), |()| 0),
                    )
            })
            .collect();
        topics.push(
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    TxnOffsetCommitResponse::default().with_topics(topics)
}
