//! Transactions over TCP, request by request: the transaction coordinator's answers and exact error codes
//! (InitProducerId with a transactional id, AddPartitionsToTxn, the produce-side check, EndTxn, fencing,
//! timeouts), control markers and the last stable offset as a read_committed Fetch and ListOffsets see them,
//! the aborted transactions list (also after a restart, from the `.txnindex` files), transactional offset
//! commits, and the admin APIs (DescribeTransactions, ListTransactions, DescribeProducers).

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

/// Record timestamps of now: a segment rolls when a batch is more than `segment.ms` newer than its first one,
/// and markers carry the current time.
fn now_ms() -> i64 {
    minikafka::clock::now_ms()
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn tid(s: &str) -> TransactionalId {
    TransactionalId(sb(s))
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

async fn find_txn_coordinator(c: &mut Client, id: &str) -> i16 {
    c.call(
        FindCoordinatorRequest::default()
            .with_key(sb(id))
            .with_key_type(1),
        3,
    )
    .await
    .error_code
}

/// InitProducerId for `id`: (error, producer id, epoch).
async fn init(c: &mut Client, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let r = c
        .call(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(tid(id)))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            4,
        )
        .await;
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// InitProducerId, retrying CONCURRENT_TRANSACTIONS as clients do (bounded).
async fn init_retrying(c: &mut Client, id: &str, timeout_ms: i32) -> (i64, i16) {
    for _ in 0..50 {
        let (err, pid, epoch) = init(c, id, timeout_ms).await;
        if err == code(ResponseError::ConcurrentTransactions) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!(err, 0, "InitProducerId({id})");
        return (pid, epoch);
    }
    panic!("InitProducerId({id}) kept answering CONCURRENT_TRANSACTIONS");
}

/// AddPartitionsToTxn v3 (client form): per-partition error codes in request order.
async fn add_partitions(
    c: &mut Client,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
    version: i16,
) -> Vec<i16> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.last_mut() {
            Some(last) if last.name.0.as_str() == *t => last.partitions.push(*p),
            _ => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(name(t))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    let r = if version < 4 {
        c.call(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid(id))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(topics),
            version,
        )
        .await
        .results_by_topic_v3_and_below
    } else {
        let mut r = c
            .call(
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(tid(id))
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch)
                        .with_verify_only(true)
                        .with_topics(topics),
                ]),
                version,
            )
            .await;
        assert_eq!(r.results_by_transaction.len(), 1);
        r.results_by_transaction.remove(0).topic_results
    };
    r.iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

async fn end_txn(c: &mut Client, id: &str, pid: i64, epoch: i16, commit: bool, v: i16) -> i16 {
    c.call(
        EndTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
        v,
    )
    .await
    .error_code
}

/// Produce a transactional batch of `count` records: (error, base offset).
async fn produce_txn(
    c: &mut Client,
    topic: &str,
    partition: i32,
    (pid, epoch, seq): (i64, i16, i32),
    count: i32,
    version: i16,
) -> (i16, i64) {
    let records = batch_of(count, now_ms(), pid, epoch, seq, true, 0).freeze();
    let r = c
        .call(produce_req(topic, partition, records, -1), version)
        .await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn produce_plain(c: &mut Client, topic: &str, partition: i32, count: i32) -> i64 {
    let r = c
        .call(
            produce_req(topic, partition, batch(count, now_ms()).freeze(), -1),
            9,
        )
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

/// What a fetch of one partition from `offset` sees.
#[derive(Debug)]
struct Seen {
    high_watermark: i64,
    last_stable_offset: i64,
    /// (base offset, record count) of each batch returned.
    batches: Vec<(i64, i32)>,
    /// (producer id, first offset) of the aborted transactions returned (read_committed only).
    aborted: Option<Vec<(i64, i64)>>,
}

async fn fetch(c: &mut Client, topic: &str, partition: i32, offset: i64, committed: bool) -> Seen {
    let mut req = fetch_req(topic, partition, offset, 0, 1 << 20);
    req.isolation_level = i8::from(committed);
    let r = c.call(req, 12).await;
    let pd = &r.responses[0].partitions[0];
    assert_eq!(pd.error_code, 0, "fetch {topic}-{partition}@{offset}");
    Seen {
        high_watermark: pd.high_watermark,
        last_stable_offset: pd.last_stable_offset,
        batches: batch_offsets(pd.records.clone().unwrap_or_default()),
        aborted: pd.aborted_transactions.as_ref().map(|a| {
            a.iter()
                .map(|t| (t.producer_id.0, t.first_offset))
                .collect()
        }),
    }
}

async fn latest(c: &mut Client, topic: &str, partition: i32, committed: bool) -> i64 {
    offset_at(c, topic, partition, -1, committed).await
}

/// ListOffsets v7 for `timestamp` (-1 latest, -3 max timestamp, or a time) at an isolation level.
async fn offset_at(
    c: &mut Client,
    topic: &str,
    partition: i32,
    timestamp: i64,
    committed: bool,
) -> i64 {
    let mut req = list_offsets_req(topic, partition, timestamp);
    req.isolation_level = i8::from(committed);
    let r = c.call(req, 7).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

async fn describe(c: &mut Client, id: &str) -> describe_transactions_response::TransactionState {
    let mut r = c
        .call(
            DescribeTransactionsRequest::default().with_transactional_ids(vec![tid(id)]),
            0,
        )
        .await;
    r.transaction_states.remove(0)
}

#[tokio::test]
async fn commit_and_abort_markers_last_stable_offset_and_read_committed() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(find_txn_coordinator(&mut c, "tx").await, 0);
    // A timeout above transaction.max.timeout.ms is refused.
    assert_eq!(
        init(&mut c, "tx", 900_001).await.0,
        code(ResponseError::InvalidTransactionTimeout)
    );
    let (err, pid, epoch) = init(&mut c, "tx", 60_000).await;
    assert_eq!((err, epoch), (0, 0));

    // Producing before the partition is in the transaction is refused (KIP-890): INVALID_TXN_STATE for
    // produce v9, TRANSACTION_ABORTABLE from v11.
    assert_eq!(
        produce_txn(&mut c, "t", 0, (pid, epoch, 0), 3, 9).await.0,
        code(ResponseError::InvalidTxnState)
    );
    assert_eq!(
        produce_txn(&mut c, "t", 0, (pid, epoch, 0), 3, 11).await.0,
        code(ResponseError::TransactionAbortable)
    );
    // An unknown partition fails the whole request: the others are not attempted.
    assert_eq!(
        add_partitions(&mut c, "tx", pid, epoch, &[("t", 0), ("t", 7)], 3).await,
        vec![
            code(ResponseError::OperationNotAttempted),
            code(ResponseError::UnknownTopicOrPartition)
        ]
    );
    assert_eq!(
        add_partitions(&mut c, "tx", pid, epoch, &[("t", 0), ("t", 1)], 3).await,
        vec![0, 0]
    );
    // The batched (broker) form with verify_only sees both partitions in the transaction.
    assert_eq!(
        add_partitions(&mut c, "tx", pid, epoch, &[("t", 0), ("t", 1)], 4).await,
        vec![0, 0]
    );
    assert_eq!(
        produce_txn(&mut c, "t", 0, (pid, epoch, 0), 3, 9).await,
        (0, 0)
    );
    assert_eq!(produce_plain(&mut c, "t", 0, 2).await, 3);

    // Open transaction: read_committed stops at its first offset; read_uncommitted sees everything.
    let s = fetch(&mut c, "t", 0, 0, true).await;
    assert_eq!((s.high_watermark, s.last_stable_offset), (5, 0));
    assert!(s.batches.is_empty(), "{s:?}");
    let s = fetch(&mut c, "t", 0, 0, false).await;
    assert_eq!(s.batches, vec![(0, 3), (3, 2)]);
    assert_eq!(s.last_stable_offset, 0);
    assert_eq!(latest(&mut c, "t", 0, true).await, 0);
    assert_eq!(latest(&mut c, "t", 0, false).await, 5);
    // A lookup by timestamp finds nothing past the LSO under read_committed.
    assert_eq!(offset_at(&mut c, "t", 0, -3, true).await, -1);
    assert_eq!(offset_at(&mut c, "t", 0, 0, true).await, -1);
    assert_eq!(offset_at(&mut c, "t", 0, 0, false).await, 0);
    assert_eq!(
        describe(&mut c, "tx").await.transaction_state.as_str(),
        "Ongoing"
    );

    // Commit: a marker at offset 5 on t-0 (and at 0 on t-1, which got no data), LSO = log end.
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true, 3).await, 0);
    let s = fetch(&mut c, "t", 0, 0, true).await;
    assert_eq!((s.high_watermark, s.last_stable_offset), (6, 6));
    assert_eq!(s.batches, vec![(0, 3), (3, 2), (5, 1)]);
    assert_eq!(s.aborted, Some(vec![]));
    assert_eq!(latest(&mut c, "t", 1, true).await, 1);
    // A retried commit is answered OK; an abort of a committed transaction is INVALID_TXN_STATE.
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, true, 3).await, 0);
    assert_eq!(
        end_txn(&mut c, "tx", pid, epoch, false, 3).await,
        code(ResponseError::InvalidTxnState)
    );

    // Second transaction, aborted: its data stays in the log and is listed as aborted.
    assert_eq!(
        add_partitions(&mut c, "tx", pid, epoch, &[("t", 1)], 3).await,
        vec![0]
    );
    assert_eq!(
        produce_txn(&mut c, "t", 1, (pid, epoch, 0), 4, 9).await,
        (0, 1)
    );
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, false, 3).await, 0);
    let s = fetch(&mut c, "t", 1, 0, true).await;
    assert_eq!((s.high_watermark, s.last_stable_offset), (6, 6));
    assert_eq!(s.batches, vec![(0, 1), (1, 4), (5, 1)]);
    assert_eq!(s.aborted, Some(vec![(pid, 1)]));
    // A fetch starting after the aborted transaction does not list it.
    assert_eq!(fetch(&mut c, "t", 1, 6, true).await.aborted, Some(vec![]));

    let d = describe(&mut c, "tx").await;
    assert_eq!(d.error_code, 0);
    assert_eq!(d.transaction_state.as_str(), "CompleteAbort");
    assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
    assert_eq!(d.transaction_timeout_ms, 60_000);
    assert_eq!(
        describe(&mut c, "nope").await.error_code,
        code(ResponseError::TransactionalIdNotFound)
    );
    let l = c
        .call(
            ListTransactionsRequest::default()
                .with_state_filters(vec![sb("CompleteAbort"), sb("Bogus")])
                .with_duration_filter(-1),
            1,
        )
        .await;
    assert_eq!(l.error_code, 0);
    assert_eq!(l.unknown_state_filters, vec![sb("Bogus")]);
    let listed: Vec<(String, i64)> = l
        .transaction_states
        .iter()
        .map(|t| (t.transactional_id.0.to_string(), t.producer_id.0))
        .collect();
    assert_eq!(listed, vec![("tx".to_string(), pid)]);
    let p = c
        .call(
            DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                .with_name(name("t"))
                .with_partition_indexes(vec![1])]),
            0,
        )
        .await;
    let producers = &p.topics[0].partitions[0].active_producers;
    assert_eq!(producers.len(), 1, "{p:?}");
    assert_eq!(producers[0].producer_id.0, pid);
    assert_eq!(producers[0].current_txn_start_offset, -1);

    // After a crash and restart: the coordinator's state, the LSO and the aborted list (.txnindex) are back.
    drop(c);
    drop(b);
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let s = fetch(&mut c, "t", 1, 0, true).await;
    assert_eq!((s.high_watermark, s.last_stable_offset), (6, 6));
    assert_eq!(s.aborted, Some(vec![(pid, 1)]));
    let d = describe(&mut c, "tx").await;
    assert_eq!(d.transaction_state.as_str(), "CompleteAbort");
    // The same transactional id gets the next epoch.
    assert_eq!(init(&mut c, "tx", 60_000).await, (0, pid, epoch + 1));
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_incarnation_fences_the_old_one_and_abandoned_transactions_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(
        dir.path(),
        &["transaction.abort.timed.out.transaction.cleanup.interval.ms=100"],
    )
    .await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(find_txn_coordinator(&mut c, "f").await, 0);

    // Fencing: the first incarnation has an open transaction with data on t-0.
    let (pid, e0) = init_retrying(&mut c, "f", 60_000).await;
    assert_eq!(
        add_partitions(&mut c, "f", pid, e0, &[("t", 0)], 3).await,
        vec![0]
    );
    assert_eq!(
        produce_txn(&mut c, "t", 0, (pid, e0, 0), 2, 9).await,
        (0, 0)
    );
    // The second incarnation: the open transaction is aborted with a bumped epoch, and the new producer gets
    // one more bump.
    assert_eq!(
        init(&mut c, "f", 60_000).await.0,
        code(ResponseError::ConcurrentTransactions)
    );
    let (pid2, e2) = init_retrying(&mut c, "f", 60_000).await;
    assert_eq!((pid2, e2), (pid, e0 + 2));
    let s = fetch(&mut c, "t", 0, 0, true).await;
    assert_eq!(s.last_stable_offset, 3, "abort marker at offset 2");
    assert_eq!(s.aborted, Some(vec![(pid, 0)]));
    // The zombie is fenced everywhere: its data, its EndTxn (PRODUCER_FENCED from EndTxn v2, the old code
    // before) and its AddPartitionsToTxn.
    assert_eq!(
        produce_txn(&mut c, "t", 0, (pid, e0, 2), 1, 9).await.0,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(
        end_txn(&mut c, "f", pid, e0, true, 3).await,
        code(ResponseError::ProducerFenced)
    );
    assert_eq!(
        end_txn(&mut c, "f", pid, e0, true, 1).await,
        code(ResponseError::InvalidProducerEpoch)
    );
    assert_eq!(
        add_partitions(&mut c, "f", pid, e0, &[("t", 1)], 3).await,
        vec![code(ResponseError::ProducerFenced)]
    );
    // A producer id that belongs to no transactional id.
    assert_eq!(
        end_txn(&mut c, "f", pid + 1000, e2, true, 3).await,
        code(ResponseError::InvalidProducerIdMapping)
    );

    // Timeout: a transaction left open past its 300 ms timeout is aborted by the coordinator, so the LSO
    // moves on; the abandoned producer is fenced by the epoch bump.
    let (sp, se) = init_retrying(&mut c, "slow", 300).await;
    assert_eq!(
        add_partitions(&mut c, "slow", sp, se, &[("t", 1)], 3).await,
        vec![0]
    );
    assert_eq!(produce_txn(&mut c, "t", 1, (sp, se, 0), 3, 9).await, (0, 0));
    assert_eq!(latest(&mut c, "t", 1, true).await, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if latest(&mut c, "t", 1, true).await == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out transaction was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = fetch(&mut c, "t", 1, 0, true).await;
    assert_eq!(s.aborted, Some(vec![(sp, 0)]));
    let d = describe(&mut c, "slow").await;
    assert_eq!(d.transaction_state.as_str(), "CompleteAbort");
    assert_eq!(d.producer_epoch, se + 1);
    assert_eq!(
        end_txn(&mut c, "slow", sp, se, true, 3).await,
        code(ResponseError::ProducerFenced)
    );
    b.shutdown().await.unwrap();
}

fn txn_commit_req(
    id: &str,
    group: &str,
    pid: i64,
    epoch: i16,
    offset: i64,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(tid(id))
        .with_group_id(GroupId(sb(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_member_id(sb(""))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)])])
}

/// OffsetFetch v7 of t-0: (error, offset).
async fn committed(c: &mut Client, group: &str, require_stable: bool) -> (i16, i64) {
    let r = c
        .call(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(sb(group)))
                .with_require_stable(require_stable)
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0])])),
            7,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[tokio::test]
async fn transactional_offsets_become_visible_only_on_commit_and_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(find_txn_coordinator(&mut c, "o").await, 0);
    let (pid, epoch) = init_retrying(&mut c, "o", 60_000).await;

    // Without AddOffsetsToTxn the group's partition is not in the transaction.
    let r = c.call(txn_commit_req("o", "g", pid, epoch, 42), 3).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::InvalidTxnState)
    );
    let r = c.call(txn_commit_req("o", "g", pid, epoch, 42), 5).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::TransactionAbortable)
    );

    let add_offsets = |pid: i64, epoch: i16| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid("o"))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(sb("g")))
    };
    assert_eq!(c.call(add_offsets(pid, epoch), 3).await.error_code, 0);
    let r = c.call(txn_commit_req("o", "g", pid, epoch, 42), 3).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        committed(&mut c, "g", true).await,
        (code(ResponseError::UnstableOffsetCommit), -1)
    );
    assert_eq!(committed(&mut c, "g", false).await, (0, -1));
    assert_eq!(end_txn(&mut c, "o", pid, epoch, true, 3).await, 0);
    assert_eq!(committed(&mut c, "g", true).await, (0, 42));

    // A second transaction commits 50, then the broker crashes before it ends.
    assert_eq!(c.call(add_offsets(pid, epoch), 3).await.error_code, 0);
    let r = c.call(txn_commit_req("o", "g", pid, epoch, 50), 3).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    drop(c);
    drop(b);
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    // Still pending after the replay; the abort drops it.
    assert_eq!(
        committed(&mut c, "g", true).await,
        (code(ResponseError::UnstableOffsetCommit), -1)
    );
    assert_eq!(committed(&mut c, "g", false).await, (0, 42));
    assert_eq!(
        describe(&mut c, "o").await.transaction_state.as_str(),
        "Ongoing"
    );
    assert_eq!(end_txn(&mut c, "o", pid, epoch, false, 3).await, 0);
    assert_eq!(committed(&mut c, "g", true).await, (0, 42));

    // And again, committed this time, across a clean restart.
    assert_eq!(c.call(add_offsets(pid, epoch), 3).await.error_code, 0);
    let r = c.call(txn_commit_req("o", "g", pid, epoch, 60), 3).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(end_txn(&mut c, "o", pid, epoch, true, 3).await, 0);
    drop(c);
    b.shutdown().await.unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(committed(&mut c, "g", true).await, (0, 60));
    b.shutdown().await.unwrap();
}
