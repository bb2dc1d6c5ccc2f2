//! AddPartitionsToTxn: the client form (v0-3: one transaction, partitions to add) and the batched
//! form (v4+: several transactions, each either adding partitions or, with `verify_only`, asking
//! whether they are in the open transaction — what a Kafka 4.x broker asks the coordinator before a
//! transactional produce, KIP-890). As in Kafka, an unknown partition fails the whole transaction's
//! request: UNKNOWN_TOPIC_OR_PARTITION for it, OPERATION_NOT_ATTEMPTED for the others. Before v2,
//! PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId,
};

use super::{s, RequestContext};
use crate::acl;
use crate::context::Broker;

/// Per-partition answers, grouped by topic in request order.
fn results(
    parts: &[(String, i32)],
    code: impl Fn(usize) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (i, (t, p)) in parts.iter().enumerate() {
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(*p)
            .with_partition_error_code(code(i));
        match out.last_mut() {
            Some(last) if last.name.0.as_str() == t => last.results_by_partition.push(r),
            _ => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(s(t.clone())))
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    out
}

fn flatten(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p)))
        .collect()
}

/// A client's (v0-3) authorization, as Kafka: WRITE on the transactional id (every partition
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each topic (TOPIC_AUTHORIZATION_FAILED, the
/// others OPERATION_NOT_ATTEMPTED).
fn refused(
    ctx: &RequestContext<'_>,
    id: &str,
    parts: &[(String, i32)],
) -> Option<Vec<AddPartitionsToTxnTopicResult>> {
    if !ctx.authorized_txn(acl::op::WRITE, id) {
        return Some(results(parts, |_| {
            ResponseError::TransactionalIdAuthorizationFailed.code()
        }));
    }
    let denied: Vec<bool> = parts
        .iter()
        .map(|(t, _)| !ctx.authorized_topic(acl::op::WRITE, t))
        .collect();
    denied.iter().any(|d| *d).then(|| {
        results(parts, |i| {
            if denied[i] {
                ResponseError::TopicAuthorizationFailed.code()
            } else {
                ResponseError::OperationNotAttempted.code()
            }
        })
    })
}

/// One transaction's answers.
async fn one(
    b: &Broker,
    id: &str,
    pid: i64,
    epoch: i16,
    verify_only: bool,
    parts: &[(String, i32)],
    version: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let unknown: Vec<bool> = parts
        .iter()
        .map(|(t, p)| {
            !b.topics
                .get(t)
                .is_some_and(|topic| *p >= 0 && *p < topic.partition_count())
        })
        .collect();
    if unknown.iter().any(|u| *u) {
        return results(parts, |i| {
            if unknown[i] {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                ResponseError::OperationNotAttempted.code()
            }
        });
    }
    let fenced = |e: ResponseError| super::fenced_for_version(e, version, 2).code();
    if verify_only {
        match b.txn.verify_partitions(id, pid, epoch, parts) {
            Ok(each) => results(parts, |i| each[i].map_or_else(|e| e.code(), |()| 0)),
            Err(e) => results(parts, |_| fenced(e)),
        }
    } else {
        let code = match b.txn.add_partitions(id, pid, epoch, parts).await {
            Ok(()) => 0,
            Err(e) => fenced(e),
        };
        results(parts, |_| code)
    }
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let mut r = AddPartitionsToTxnResponse::default();
    if version < 4 {
        let parts = flatten(&req.v3_and_below_topics);
        let id = req.v3_and_below_transactional_id.0.as_str();
        if let Some(denied) = refused(ctx, id, &parts) {
            r.results_by_topic_v3_and_below = denied;
            return r;
        }
        r.results_by_topic_v3_and_below = one(
            b,
            req.v3_and_below_transactional_id.0.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            false,
            &parts,
            version,
        )
        .await;
        return r;
    }
    // v4+ is the brokers' own (Produce's verification, KIP-890): CLUSTER_ACTION on the cluster.
    if !ctx.authorized_cluster(acl::op::CLUSTER_ACTION) {
        return r.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    for t in req.transactions {
        let parts = flatten(&t.topics);
        let topic_results = one(
            b,
            t.transactional_id.0.as_str(),
            t.producer_id.0,
            t.producer_epoch,
            t.verify_only,
            &parts,
            version,
        )
        .await;
        r.results_by_transaction.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(t.transactional_id.0))
                .with_topic_results(topic_results),
        );
    }
    r
}
