//! Transactions across a three-node minikafka cluster (harness in [`compat_tests::cluster`]):
//! the partitions of a transaction, the group whose offsets it commits and its transaction
//! coordinator are on different brokers, so the brokers talk to each other (WriteTxnMarkers from
//! the coordinator to each partition's leader; AddPartitionsToTxn `verify_only` from a leader to
//! the coordinator before a transactional append or offset commit, KIP-890).
//!
//! - an rdkafka transactional producer whose coordinator is node 1, bootstrapped from node 2,
//!   commits a transaction over all six partitions (led by all three nodes), aborts one, commits
//!   another: a `read_committed` consumer bootstrapped from node 3 reads exactly the committed
//!   records, in order;
//! - consume-transform-produce with `send_offsets_to_transaction` for a group coordinated by
//!   node 3, the transaction coordinated by node 1, the clients bootstrapped from node 2: the
//!   output holds every input record once, and the group's committed offsets are the consumed
//!   positions.
//!
//! Every wait is bounded; clusters run one at a time ([`one_cluster_at_a_time`]).

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{id_coordinated_by, one_cluster_at_a_time, Cluster};
use compat_tests::{base_config, create_topic, producer_config, read_all_isolated, Record};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Nodes of the cluster.
const NODES: usize = 3;
/// Partitions of the test topics.
const PARTITIONS: i32 = 6;
/// `__consumer_offsets` and `__transaction_state` partitions (fewer than Kafka's 50: quicker to
/// create, still spread over every node).
const INTERNAL_PARTITIONS: i32 = 6;
/// Node settings: small internal topics, no initial rebalance delay.
const ARGS: &[&str] = &[
    "--set",
    "offsets.topic.num.partitions=6",
    "--set",
    "transaction.state.log.num.partitions=6",
    "--set",
    "group.initial.rebalance.delay.ms=0",
];
/// Bound on one transactional call (init, commit, abort, send offsets).
const OP: Duration = Duration::from_secs(60);
/// Bound on reading a topic back.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waits for the cluster (internal topics created, offsets readable).
const SETTLE: Duration = Duration::from_secs(30);
/// Poll interval of the waits.
const TICK: Duration = Duration::from_millis(200);
/// The node coordinating the transactions.
const TXN_NODE: i32 = 1;
/// The node the producers and the processor bootstrap from.
const CLIENT_NODE: i32 = 2;
/// The node coordinating the processor's group, and the committed-reader's bootstrap.
const THIRD_NODE: i32 = 3;

/// Retries `f` every [`TICK`] until it succeeds or [`SETTLE`] passed (then panics with the
/// cluster's logs).
fn settle<T>(cluster: &Cluster, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{what} kept failing: {e}\n{}",
                cluster.logs_report()
            ),
        }
        thread::sleep(TICK);
    }
}

/// Makes the cluster create `__transaction_state` (a transactional producer's FindCoordinator
/// creates it, as in Kafka) and `__consumer_offsets` (an OffsetFetch's), and returns each one's
/// partition → leader.
fn internal_topics(cluster: &Cluster) -> (BTreeMap<i32, i32>, BTreeMap<i32, i32>) {
    let probe: ThreadedProducer<DefaultProducerContext> = producer_config(&cluster.bootstrap(1))
        .set("enable.idempotence", "true")
        .set("transactional.id", "cluster-txn-probe")
        .create()
        .expect("create probe producer");
    probe
        .init_transactions(OP)
        .unwrap_or_else(|e| panic!("probe init_transactions: {e}\n{}", cluster.logs_report()));
    drop(probe);
    let consumer: BaseConsumer = group_config(&cluster.bootstrap(1), "cluster-txn-probe")
        .create()
        .expect("create probe consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("__transaction_state", 0);
    settle(cluster, "OffsetFetch for a probe group", || {
        consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .map(drop)
            .map_err(|e| e.to_string())
    });
    (
        cluster.wait_for_leaders(1, "__transaction_state", INTERNAL_PARTITIONS),
        cluster.wait_for_leaders(1, "__consumer_offsets", INTERNAL_PARTITIONS),
    )
}

/// Group consumer config: no auto commit, `read_committed`, from the beginning.
fn group_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false");
    c
}

/// A transactional producer bootstrapped from `bootstrap`, `init_transactions` done.
fn txn_producer(
    cluster: &Cluster,
    bootstrap: &str,
    txn_id: &str,
) -> ThreadedProducer<DefaultProducerContext> {
    let producer: ThreadedProducer<DefaultProducerContext> = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .set("transactional.id", txn_id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .expect("create transactional producer");
    producer.init_transactions(OP).unwrap_or_else(|e| {
        panic!(
            "init_transactions({txn_id}): {e}\n{}",
            cluster.logs_report()
        )
    });
    producer
}

/// Sends `value` (key = value) to `partition` of `topic`, retrying while the local queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    value: &str,
) {
    let deadline = Instant::now() + OP;
    let mut record = BaseRecord::to(topic)
        .partition(partition)
        .key(value)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((e, r)) => {
                assert!(
                    Instant::now() < deadline,
                    "send to {topic}-{partition}: {e}"
                );
                record = r;
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The values of records, as strings.
fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// Commits one transaction writing `per_partition` values `<tag>-<p>-<n>` to every partition of
/// `topic` (or aborts it), returning the values per partition in send order.
fn one_transaction(
    cluster: &Cluster,
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    tag: &str,
    per_partition: usize,
    commit: bool,
) -> BTreeMap<i32, Vec<String>> {
    producer.begin_transaction().expect("begin_transaction");
    let mut sent: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for n in 0..per_partition {
        for p in 0..PARTITIONS {
            let value = format!("{tag}-{p}-{n}");
            send(producer, topic, p, &value);
            sent.entry(p).or_default().push(value);
        }
    }
    producer
        .flush(OP)
        .unwrap_or_else(|e| panic!("flush of transaction {tag}: {e}\n{}", cluster.logs_report()));
    let ended = if commit {
        producer.commit_transaction(OP)
    } else {
        producer.abort_transaction(OP)
    };
    ended.unwrap_or_else(|e| {
        panic!(
            "ending transaction {tag} (commit: {commit}): {e}\n{}",
            cluster.logs_report()
        )
    });
    sent
}

#[test]
fn transactions_whose_partitions_offsets_and_coordinator_are_on_different_brokers() {
    let _serial = one_cluster_at_a_time();
    let cluster = Cluster::start(NODES, ARGS);
    let (input, output) = ("cluster-txn-in", "cluster-txn-out");
    create_topic(&cluster.bootstrap(1), input, PARTITIONS);
    create_topic(&cluster.bootstrap(1), output, PARTITIONS);
    let leaders = cluster.wait_for_leaders(CLIENT_NODE, input, PARTITIONS);
    let leading: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(
        leading,
        cluster.node_ids().into_iter().collect(),
        "the leaders of {input} ({leaders:?}) cover every node"
    );
    cluster.wait_for_leaders(CLIENT_NODE, output, PARTITIONS);
    let (txn_leaders, offsets_leaders) = internal_topics(&cluster);

    // Committed, aborted, committed: over every partition, coordinated by node 1.
    let txn_id = id_coordinated_by(TXN_NODE, "cluster-txn", &txn_leaders);
    let producer = txn_producer(&cluster, &cluster.bootstrap(CLIENT_NODE), &txn_id);
    let first = one_transaction(&cluster, &producer, input, "committed", 3, true);
    let _aborted = one_transaction(&cluster, &producer, input, "aborted", 2, false);
    let last = one_transaction(&cluster, &producer, input, "again", 1, true);
    drop(producer);
    let mut want: BTreeMap<i32, Vec<String>> = first;
    for (p, v) in last {
        want.entry(p).or_default().extend(v);
    }
    let read = read_all_isolated(
        &cluster.bootstrap(THIRD_NODE),
        input,
        PARTITIONS,
        "read_committed",
        READ_TIMEOUT,
    );
    for p in 0..PARTITIONS {
        assert_eq!(
            values(&read[&p]),
            want[&p],
            "read_committed partition {p} (leader {}) through node {THIRD_NODE}: exactly the \
             committed records, in order\n{}",
            leaders[&p],
            cluster.logs_report()
        );
    }

    // Consume-transform-produce: group on node 3, transaction on node 1, clients on node 2.
    let group = id_coordinated_by(THIRD_NODE, "cluster-txn-group", &offsets_leaders);
    let ctp_id = id_coordinated_by(TXN_NODE, "cluster-txn-ctp", &txn_leaders);
    let bootstrap = cluster.bootstrap(CLIENT_NODE);
    let consumer: BaseConsumer = group_config(&bootstrap, &group)
        .create()
        .expect("create processor consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(input, p, Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&tpl).expect("assign");
    let processor = txn_producer(&cluster, &bootstrap, &ctp_id);
    let total: usize = want.values().map(Vec::len).sum();
    let mut consumed: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let mut count = 0;
    // The positions given to the last send_offsets_to_transaction, per partition.
    let mut sent_positions: BTreeMap<i32, Offset> = BTreeMap::new();
    let deadline = Instant::now() + READ_TIMEOUT;
    while count < total {
        assert!(
            Instant::now() < deadline,
            "the processor consumed {count} of {total} records within {READ_TIMEOUT:?}\n{}",
            cluster.logs_report()
        );
        processor.begin_transaction().expect("begin_transaction");
        let round_end = Instant::now() + Duration::from_secs(1);
        let mut in_round = 0;
        while Instant::now() < round_end && count < total {
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(m)) => {
                    let value =
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                    send(&processor, output, m.partition(), &format!("out-{value}"));
                    consumed
                        .entry(m.partition())
                        .or_default()
                        .push((m.offset(), value));
                    count += 1;
                    in_round += 1;
                }
                Some(Err(e)) => panic!("processor consumer error: {e}"),
            }
        }
        if in_round == 0 {
            processor
                .abort_transaction(OP)
                .expect("abort empty transaction");
            continue;
        }
        let positions = consumer.position().expect("position");
        for e in positions.elements_for_topic(input) {
            if let Offset::Offset(n) = e.offset() {
                sent_positions.insert(e.partition(), Offset::Offset(n));
            }
        }
        let metadata = consumer.group_metadata().expect("group metadata");
        processor
            .send_offsets_to_transaction(&positions, &metadata, OP)
            .unwrap_or_else(|e| {
                panic!(
                    "send_offsets_to_transaction: {e}\n{}",
                    cluster.logs_report()
                )
            });
        processor.commit_transaction(OP).unwrap_or_else(|e| {
            panic!(
                "commit of a processing round: {e}\n{}",
                cluster.logs_report()
            )
        });
    }
    drop(processor);
    for p in 0..PARTITIONS {
        let got: Vec<String> = consumed[&p].iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(got, want[&p], "the processor read partition {p} in order");
    }
    let out = read_all_isolated(
        &cluster.bootstrap(THIRD_NODE),
        output,
        PARTITIONS,
        "read_committed",
        READ_TIMEOUT,
    );
    for p in 0..PARTITIONS {
        let expected: Vec<String> = want[&p].iter().map(|v| format!("out-{v}")).collect();
        assert_eq!(
            values(&out[&p]),
            expected,
            "read_committed {output} partition {p}: every processed record once, in order"
        );
    }

    // The group's offsets, read through node 1: the positions sent with the last transaction, past
    // each partition's last record.
    let reader: BaseConsumer = group_config(&cluster.bootstrap(TXN_NODE), &group)
        .create()
        .expect("create offsets reader");
    let mut query = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        query.add_partition(input, p);
    }
    let committed: BTreeMap<i32, Offset> = settle(&cluster, "OffsetFetch of the group", || {
        let got = reader
            .committed_offsets(query.clone(), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        Ok(got
            .elements_for_topic(input)
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect())
    });
    for (p, records) in &consumed {
        let last = records.last().map_or(-1, |(o, _)| *o);
        assert!(
            matches!(sent_positions.get(p), Some(Offset::Offset(n)) if *n > last),
            "partition {p}: position sent {:?}, last record consumed at {last}",
            sent_positions.get(p)
        );
    }
    assert_eq!(
        committed,
        sent_positions,
        "group {group}'s committed offsets (coordinator node {THIRD_NODE})\n{}",
        cluster.logs_report()
    );
}
