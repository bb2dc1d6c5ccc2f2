//! Produce: validate and append each partition's record batches as they arrived (raw bytes,
//! never decompressed), then, for logs whose `flush.messages` is reached, wait before
//! acknowledging until an fsync covering the request's own last offset there has succeeded
//! (shared with concurrent requests: [`crate::group_commit`]); a failed fsync answers
//! KAFKA_STORAGE_ERROR. acks=0 requests get no response.
//!
//! Transactional batches are first checked with the transaction coordinator (KIP-890 part 1): the
//! partition must be in the producer's open transaction, with its current epoch. Errors as Kafka
//! translates them for produce: not in the transaction → TRANSACTION_ABORTABLE (v11+) or
//! INVALID_TXN_STATE; an old epoch → INVALID_PRODUCER_EPOCH; a transaction being ended →
//! NOT_ENOUGH_REPLICAS (retriable for every client).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use tracing::{debug, error, warn};

use minikafka_storage::batch::BatchHeader;

use super::{s, storage_error};
use crate::broker::{now_ms, sync_partition_to, Broker};
use crate::topics::Partition;

pub(crate) async fn handle(
    b: &Broker,
    req: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let acks_ok = matches!(acks, -1..=1);
    let mut responses = Vec::with_capacity(req.topic_data.len());
    // Partitions that must be fsynced before the acknowledgement: the end of this request's data
    // there (last offset + 1) and where its answer is.
    let mut to_sync: Vec<(Arc<Partition>, i64, usize, usize)> = Vec::new();
    for td in req.topic_data {
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
        let mut parts = Vec::with_capacity(td.partition_data.len());
        for pd in td.partition_data {
            let mut pr = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1);
            let partition = topic
                .as_ref()
                .and_then(|t| t.partition(pd.index))
                .filter(|p| !p.is_deleted());
            match (acks_ok, partition, pd.records) {
                (false, _, _) => pr.error_code = ResponseError::InvalidRequiredAcks.code(),
                (true, None, _) => pr.error_code = unknown.code(),
                (true, Some(_), None) => {
                    pr.error_code = ResponseError::InvalidRecord.code();
                    pr.error_message = Some(s("the partition has no record set"));
                }
                (true, Some(p), Some(records)) => {
                    let res = match verify_transactional(b, &p, &records, version) {
                        Err(e) => Err(e),
                        Ok(()) => p.write().append(&records, 0, now_ms()).map_err(|e| {
                            warn!(topic = %p.topic, partition = p.index, error = %e, "produce rejected");
                            (storage_error(&e), e.to_string())
                        }),
                    };
                    match res {
                        Ok(info) => {
                            pr.base_offset = info.base_offset;
                            pr.log_append_time_ms = info.log_append_time;
                            pr.log_start_offset = info.log_start_offset;
                            if info.duplicate {
                                debug!(topic = %p.topic, partition = p.index, base_offset = info.base_offset,
                                    "duplicate batch from an idempotent producer; answered with its original offsets");
                            } else {
                                p.notify_appended();
                            }
                            if info.needs_flush {
                                to_sync.push((
                                    p.clone(),
                                    info.last_offset + 1,
                                    responses.len(),
                                    parts.len(),
                                ));
                            }
                        }
                        Err((code, message)) => {
                            pr.error_code = code.code();
                            pr.error_message = Some(s(message));
                            pr.log_start_offset = p.read().log_start_offset();
                        }
                    }
                }
            }
            parts.push(pr);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(td.name)
                .with_topic_id(td.topic_id)
                .with_partition_responses(parts),
        );
    }
    // Join every partition's fsync round first, then wait: the partitions' fsyncs overlap.
    let waits: Vec<_> = to_sync
        .into_iter()
        .map(|(p, end, ti, pi)| (sync_partition_to(&p, end), p, ti, pi))
        .collect();
    for (wait, p, ti, pi) in waits {
        if let Err(e) = wait.await {
            error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed; produce not acknowledged");
            let pr = &mut responses[ti].partition_responses[pi];
            pr.error_code = ResponseError::KafkaStorageError.code();
            pr.error_message = Some(s(format!("fsync failed: {e}")));
        }
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// The transaction coordinator's check of a transactional record set (its first batch names the
/// producer; a request mixing producers is refused later by the log's validation).
fn verify_transactional(
    b: &Broker,
    p: &Partition,
    records: &[u8],
    version: i16,
) -> Result<(), (ResponseError, String)> {
    let Ok(h) = BatchHeader::parse(records) else {
        return Ok(()); // malformed: the log's validation answers it
    };
    if !h.is_transactional() || h.is_control() {
        return Ok(());
    }
    b.txn
        .verify_producer_partition(h.producer_id, h.producer_epoch, &p.topic, p.index)
        .map_err(|e| {
            let code = match e {
                ResponseError::TransactionAbortable if version <= 10 => {
                    ResponseError::InvalidTxnState
                }
                ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                ResponseError::ConcurrentTransactions
                | ResponseError::CoordinatorNotAvailable
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
