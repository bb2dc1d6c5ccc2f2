//! Produce: resolve each partition (a record set of more than one batch is INVALID_RECORD, as
//! Kafka's `ProduceRequest.validateRecords` for v3+; a client never appends to an internal topic:
//! INVALID_TOPIC_EXCEPTION, as Kafka), check transactional batches with the transaction
//! coordinator, and hand the record sets (raw bytes) to the replica layer's
//! one entry point, [`crate::replica::ReplicaManager::append_records`], which appends them as
//! leader and waits for what `acks` promises: for logs whose `flush.messages` is reached, an
//! fsync covering the request's own last offset (a failed fsync answers KAFKA_STORAGE_ERROR);
//! with acks=all, the high watermark passing it (REQUEST_TIMED_OUT after `timeout_ms`). acks=0
//! requests get no response.
//!
//! Transactional batches are first checked with the transaction coordinator (KIP-890 part 1): the
//! partition must be in the producer's open transaction, with its current epoch. Errors as Kafka
//! translates them for produce: not in the transaction → TRANSACTION_ABORTABLE (v11+) or
//! INVALID_TXN_STATE; an old epoch → INVALID_PRODUCER_EPOCH; a transaction being ended →
//! NOT_ENOUGH_REPLICAS (retriable for every client). The coordinator of the request's
//! `transactional_id` may be another broker: it is asked with AddPartitionsToTxn `verify_only`
//! (a coordinator that cannot be reached is NOT_ENOUGH_REPLICAS too, as in Kafka).
//!
//! With an authorizer (issue 14): WRITE on each topic (TOPIC_AUTHORIZATION_FAILED) and, for a
//! transactional producer, WRITE on its transactional id (every partition
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), as Kafka; idempotence needs nothing more (KIP-679).
//!
//! A record set the log's validation (Kafka's `LogValidator`) refuses is answered with its error
//! (CORRUPT_MESSAGE for a compression bomb or broken codec data, INVALID_RECORD for a record
//! count, offset delta or record structure that lies, INVALID_TIMESTAMP for a `CreateTime` outside
//! `message.timestamp.before.max.ms` / `after.max.ms` of the broker's clock); records without a key
//! in a compacted topic and records with such timestamps are also named one by one in
//! `record_errors` (KIP-467).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use tracing::debug;

use minikafka_storage::batch::{
    iter_headers, null_key_records, BatchHeader, DEFAULT_DECOMPRESSED_LIMIT,
};
use minikafka_storage::StorageError;

use super::{s, storage_error, RequestContext};
use crate::acl;
use crate::clock::now_ms;
use crate::context::Broker;
use crate::replica::{AppendEntry, AppendError, AppendOrigin, Partition};
use crate::topics::is_internal_topic;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let b = ctx.broker;
    let version = ctx.version;
    let acks = req.acks;
    let acks_ok = matches!(acks, -1..=1);
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    // A transactional producer needs WRITE on its transactional id, else every partition is
    // TRANSACTIONAL_ID_AUTHORIZATION_FAILED (Kafka's `handleProduceRequest`).
    let txn_denied = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !ctx.authorized_txn(acl::op::WRITE, id.0.as_str()));
    let mut responses = Vec::with_capacity(req.topic_data.len());
    // The record sets to append and where each one's answer is.
    let mut entries: Vec<AppendEntry> = Vec::new();
    let mut slots: Vec<(usize, usize)> = Vec::new();
    for td in &req.topic_data {
        let topic = if version >= 13 {
            b.topics.get_by_id(&td.topic_id)
        } else {
            b.topics.get(td.name.0.as_str())
        };
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        // WRITE on the topic (by id: once the id is known), else TOPIC_AUTHORIZATION_FAILED.
        let name = topic
            .as_ref()
            .map_or(td.name.0.as_str(), |t| t.name.as_str());
        let denied = if txn_denied {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if (version < 13 || topic.is_some()) && !ctx.authorized_topic(acl::op::WRITE, name) {
            Some(ResponseError::TopicAuthorizationFailed)
        } else {
            None
        };
        let mut parts = Vec::with_capacity(td.partition_data.len());
        for pd in &td.partition_data {
            let mut pr = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1);
            let partition = b.led(topic.as_deref(), pd.index, unknown);
            match (acks_ok, partition, &pd.records) {
                (false, _, _) => pr.error_code = ResponseError::InvalidRequiredAcks.code(),
                (true, _, _) if denied.is_some() => {
                    pr.error_code = denied.map_or(0, |e| e.code());
                }
                (true, Err(e), _) => pr.error_code = e.code(),
                (true, Ok(_), None) => {
                    pr.error_code = ResponseError::InvalidRecord.code();
                    pr.error_message = Some(s("the partition has no record set"));
                }
                (true, Ok(_), Some(records)) if iter_headers(records).nth(1).is_some() => {
                    // Kafka's ProduceRequest.validateRecords (v3+), before anything is appended.
                    pr.error_code = ResponseError::InvalidRecord.code();
                    pr.error_message = Some(s(format!(
                        "Produce requests with version {version} are only allowed to contain exactly one record batch \
                         per partition"
                    )));
                }
                (true, Ok(p), Some(_)) if is_internal_topic(&p.topic) => {
                    // Kafka's ReplicaManager: clients never append to an internal topic.
                    pr.error_code = ResponseError::InvalidTopicException.code();
                    pr.error_message =
                        Some(s(format!("Cannot append to internal topic {}", p.topic)));
                }
                (true, Ok(p), Some(records)) => {
                    let txn_id = req.transactional_id.as_ref().map(|id| id.0.as_str());
                    match verify_transactional(b, &p, records, version, txn_id).await {
                        Err((code, message)) => {
                            pr.error_code = code.code();
                            pr.error_message = Some(s(message));
                            pr.log_start_offset = p.log_start_offset();
                        }
                        Ok(()) => {
                            slots.push((responses.len(), parts.len()));
                            entries.push(AppendEntry {
                                partition: p,
                                records: records.clone(),
                            });
                        }
                    }
                }
            }
            parts.push(pr);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(td.name.clone())
                .with_topic_id(td.topic_id)
                .with_partition_responses(parts),
        );
    }
    let partitions: Vec<_> = entries.iter().map(|e| e.partition.clone()).collect();
    let results = b
        .replicas
        .append_records(acks, timeout, AppendOrigin::Client, entries, now_ms())
        .await;
    for (((ti, pi), result), p) in slots.into_iter().zip(results).zip(partitions) {
        let pr = &mut responses[ti].partition_responses[pi];
        match result {
            Ok(info) => {
                pr.base_offset = info.base_offset;
                pr.log_append_time_ms = info.log_append_time;
                pr.log_start_offset = info.log_start_offset;
            }
            Err(e) => {
                let (code, message) = append_error_code(&e);
                pr.error_code = code.code();
                pr.error_message = Some(s(message));
                pr.log_start_offset = p.log_start_offset();
                match &e {
                    AppendError::Storage(StorageError::NullKeyInCompactedTopic(tp)) => {
                        if let Some(records) = records_of(&req, ti, pi) {
                            name_null_key_records(pr, records, tp);
                        }
                    }
                    AppendError::Storage(StorageError::InvalidTimestamp(refused)) => {
                        pr.record_errors = refused
                            .iter()
                            .filter_map(|(i, message)| {
                                Some(record_error(i32::try_from(*i).ok()?, message))
                            })
                            .collect();
                    }
                    _ => {}
                }
            }
        }
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// The record set a partition answer at (topic, partition) position `(ti, pi)` was given.
fn records_of(req: &ProduceRequest, ti: usize, pi: usize) -> Option<&[u8]> {
    req.topic_data
        .get(ti)?
        .partition_data
        .get(pi)?
        .records
        .as_deref()
}

/// KIP-467, as Kafka's `LogValidator` for a compacted topic: the first batch holding records without a key is
/// rejected naming each of them (`batch_index` within the batch, a per-record message), and the partition's
/// `error_message` summarises them. The append already validated the batches within their decompressed limit.
fn name_null_key_records(pr: &mut PartitionProduceResponse, records: &[u8], tp: &str) {
    let found = iter_headers(records)
        .map_while(Result::ok)
        .find_map(|(pos, h)| {
            let batch = records.get(pos..pos + h.size())?;
            null_key_records(batch, &h, DEFAULT_DECOMPRESSED_LIMIT)
                .ok()
                .filter(|found| !found.is_empty())
        });
    let Some(indexes) = found else {
        return;
    };
    let message =
        format!("Compacted topic cannot accept message without key in topic partition {tp}.");
    pr.record_errors = indexes
        .iter()
        .filter_map(|&i| i32::try_from(i).ok())
        .map(|i| record_error(i, &message))
        .collect();
    let shown: Vec<String> = indexes
        .iter()
        .take(3)
        .map(|i| format!("RecordError(batchIndex={i}, message='{message}')"))
        .collect();
    pr.error_message = Some(s(format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first \
         three errors at most: [{}]",
        indexes.len(),
        shown.join(", ")
    )));
}

/// One KIP-467 record error: the record's index within its batch and why it was refused.
fn record_error(batch_index: i32, message: &str) -> BatchIndexAndErrorMessage {
    BatchIndexAndErrorMessage::default()
        .with_batch_index(batch_index)
        .with_batch_index_error_message(Some(s(message.to_owned())))
}

/// The Kafka error code and message of a partition whose append failed.
fn append_error_code(e: &AppendError) -> (ResponseError, String) {
    match e {
        AppendError::Storage(e) => (storage_error(e), e.to_string()),
        AppendError::Sync(e) => (
            ResponseError::KafkaStorageError,
            format!("fsync failed: {e}"),
        ),
        AppendError::Timeout => (
            ResponseError::RequestTimedOut,
            "not replicated to the in-sync replicas within the request's timeout".into(),
        ),
        AppendError::NotEnoughReplicas => (
            ResponseError::NotEnoughReplicas,
            "fewer in-sync replicas than min.insync.replicas".into(),
        ),
        AppendError::NotEnoughReplicasAfterAppend => (
            ResponseError::NotEnoughReplicasAfterAppend,
            "written, but the in-sync replicas fell below min.insync.replicas".into(),
        ),
        AppendError::NotLeader => (
            ResponseError::NotLeaderOrFollower,
            "this broker stopped leading the partition before the write was replicated".into(),
        ),
    }
}

/// The transaction coordinator's check of a transactional record set (its first batch names the
/// producer; a request mixing producers is refused later by the log's validation). The coordinator
/// of `transactional_id` (v3+) may be another broker, asked through AddPartitionsToTxn
/// `verify_only`; as in Kafka (`UnifiedLog.maybeStartTransactionVerification`), a producer whose
/// transaction is already ongoing on this partition with this epoch is not asked again.
async fn verify_transactional(
    b: &Broker,
    p: &Partition,
    records: &[u8],
    version: i16,
    transactional_id: Option<&str>,
) -> Result<(), (ResponseError, String)> {
    let Ok(h) = BatchHeader::parse(records) else {
        return Ok(()); // malformed: the log's validation answers it
    };
    if !h.is_transactional() || h.is_control() {
        return Ok(());
    }
    let remote = transactional_id.is_some_and(|id| b.txn.is_remote(id));
    if remote
        && p.producers().iter().any(|e| {
            e.producer_id == h.producer_id
                && e.producer_epoch == h.producer_epoch
                && e.current_txn_first_offset >= 0
        })
    {
        return Ok(());
    }
    b.txn
        .verify_for_append(
            transactional_id,
            h.producer_id,
            h.producer_epoch,
            &p.topic,
            p.index,
        )
        .await
        .map_err(|e| {
            // Kafka's AddPartitionsToTxnManager and ReplicaManager: what the producer retries
            // (the coordinator moving, loading, ending the transaction, or not reachable) is
            // NOT_ENOUGH_REPLICAS.
            let code = match e {
                ResponseError::TransactionAbortable if version <= 10 => {
                    ResponseError::InvalidTxnState
                }
                ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                ResponseError::ConcurrentTransactions
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
                | ResponseError::NetworkException
                | ResponseError::CoordinatorLoadInProgress => ResponseError::NotEnoughReplicas,
                e => e,
            };
            debug!(topic = %p.topic, partition = p.index, producer_id = h.producer_id,
                producer_epoch = h.producer_epoch, error = ?e, "transactional produce refused");
            (
                code,
                format!("transactional produce refused by the transaction coordinator: {e:?}"),
            )
        })
}
