//! Transactions with librdkafka (rdkafka 0.39 / librdkafka 2.12.1): every scenario is one function
//! that takes a [`Cluster`] and runs twice, as a `minikafka_*` test against the real minikafka
//! binary and as a `reference_kafka_*` test against Apache Kafka 4.4.0 (`ci/kafka-reference`, one
//! broker shared by this file, started with a 1 s timed-out-transaction cleanup interval), so the
//! expected behaviour is Kafka's own.
//!
//! - Committed and aborted transactions over 3 partitions, interleaved with a non-transactional
//!   producer: `read_committed` sees exactly the committed and the non-transactional values (per
//!   partition, in order), `read_uncommitted` sees all of them; every delivered record sits at
//!   the offset its producer was acknowledged at, and the offsets left over are exactly one
//!   control marker per transaction per partition (never delivered to the application).
//! - Fencing: a second producer with the same `transactional.id` calls `init_transactions` →
//!   the first one's open transaction is aborted, its commit fails with a fatal fenced error,
//!   and only the second producer's committed records are visible to `read_committed`.
//! - Timeout: a transactional producer in a child process (`src/bin/txn-producer.rs`,
//!   `transaction.timeout.ms=3000`) opens a transaction, writes, and is SIGKILLed; the
//!   coordinator aborts it, so a `read_committed` consumer gets another producer's later
//!   committed records within a bounded time and never the killed producer's.
//! - Exactly-once consume-transform-produce: a processor in a child process
//!   (`src/bin/eos-processor.rs`) is SIGKILLed at seeded random points (set
//!   `COMPAT_TXN_SEED` to replay) and restarted, and on minikafka the broker is also `kill -9`ed
//!   once mid-run; the output topic read with `read_committed` holds every input record exactly
//!   once, in order per partition.
//!
//! Broker settings the scenarios rely on (the same Kafka property names on both brokers):
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms=1000` (Kafka's default is
//! 10 s) and the default `transaction.max.timeout.ms` (900 000 ms, which allows the
//! 3 000 ms and 60 000 ms transaction timeouts used here).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::child::{note_commit, ChildProc, NoLine, Progress};
use compat_tests::reference::ReferenceKafka;
use compat_tests::{
    acked_offsets, consumer, consumer_config, create_topic, producer_config, read_all_isolated,
    send_bounded, unique_topic, Broker, Record, RecordingContext, XorShift,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Bound for one transactional call (init, commit, abort, send offsets).
const OP: Duration = Duration::from_secs(30);
/// Bound for reading a topic to its end.
const READ: Duration = Duration::from_secs(60);
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms` on both brokers.
const CLEANUP_INTERVAL_MS: u64 = 1000;
/// `transaction.timeout.ms` of the producer that is killed in the timeout scenario.
const SHORT_TXN_TIMEOUT_MS: u64 = 3000;
/// Extra `server.properties` lines of the reference broker.
const REFERENCE_PROPERTIES: &str =
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000\n";
/// Extra minikafka arguments: the same cleanup interval, and no initial rebalance delay (as
/// `ci/kafka-reference` sets) for the processor's consumer group.
const MINIKAFKA_ARGS: &[&str] = &[
    "--set",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
    "--set",
    "group.initial.rebalance.delay.ms=0",
];

// ---------------------------------------------------------------------------------------------
// The broker under test
// ---------------------------------------------------------------------------------------------

/// The broker a scenario runs against.
enum Cluster {
    /// The minikafka binary, owned by the test (restartable).
    Minikafka(Broker),
    /// The reference Kafka shared by this test binary (never restarted).
    Reference(&'static ReferenceKafka),
}

impl Cluster {
    fn minikafka() -> Cluster {
        Cluster::Minikafka(Broker::start(MINIKAFKA_ARGS))
    }

    /// This file's reference broker: `KAFKA_REF_BOOTSTRAP` if set (it must have
    /// [`REFERENCE_PROPERTIES`]), else one started on first use with them.
    fn reference() -> Cluster {
        static REFERENCE: OnceLock<ReferenceKafka> = OnceLock::new();
        Cluster::Reference(
            REFERENCE.get_or_init(|| ReferenceKafka::external_or_start(REFERENCE_PROPERTIES)),
        )
    }

    fn bootstrap(&self) -> String {
        match self {
            Cluster::Minikafka(b) => b.bootstrap().to_string(),
            Cluster::Reference(k) => k.bootstrap().to_string(),
        }
    }

    /// What to append to a failure message: minikafka's log tail, or where Kafka's log is.
    fn report(&self) -> String {
        match self {
            Cluster::Minikafka(b) => b.log_report(),
            Cluster::Reference(k) => match k.dir() {
                Some(d) => format!("(Apache Kafka log: {})", d.join("server.log").display()),
                None => "(external Apache Kafka from KAFKA_REF_BOOTSTRAP)".to_string(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A transactional producer (`init_transactions` done) that records its delivery reports.
fn txn_producer(
    cluster: &Cluster,
    txn_id: &str,
) -> (ThreadedProducer<RecordingContext>, RecordingContext) {
    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("transactional.id", txn_id)
        .set("transaction.timeout.ms", "60000")
        .create_with_context(context.clone())
        .expect("create transactional producer");
    producer
        .init_transactions(OP)
        .unwrap_or_else(|e| panic!("init_transactions({txn_id}): {e}\n{}", cluster.report()));
    (producer, context)
}

/// The values of records, as strings.
fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// Reads `partition` of `topic` from the beginning with `isolation.level=read_committed` until
/// `want` records arrived or `deadline` passed; returns what arrived.
fn read_committed_until(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    want: usize,
    deadline: Instant,
) -> Vec<Record> {
    let c: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .expect("add partition");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    // Bounded: each poll waits at most 200 ms and the loop ends at the deadline.
    while out.len() < want && Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => out.push(Record::from_message(&m)),
            Some(Err(e)) => panic!("consumer error while reading {topic}: {e}"),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: committed and aborted transactions across 3 partitions
// ---------------------------------------------------------------------------------------------

fn committed_and_aborted(cluster: &Cluster) {
    const PARTITIONS: i32 = 3;
    const TRANSACTIONS: usize = 6;
    const PER_PARTITION: usize = 4;
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("txn-mixed");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let (txp, txn_ctx) = txn_producer(cluster, &unique_topic("txn-mixed-id"));
    let plain_ctx = RecordingContext::default();
    let plain: ThreadedProducer<RecordingContext> = producer_config(&bootstrap)
        .create_with_context(plain_ctx.clone())
        .expect("create plain producer");

    // Every value in produce order: (partition, value, transactional?, committed?).
    let mut produced: Vec<(i32, String, bool, bool)> = Vec::new();
    for t in 0..TRANSACTIONS {
        let commit = t % 3 != 1;
        let tag = if commit { "commit" } else { "abort" };
        txp.begin_transaction().expect("begin_transaction");
        for p in 0..PARTITIONS {
            for i in 0..PER_PARTITION {
                let value = format!("txn{t}-{tag}-p{p}-{i}");
                let record = BaseRecord::with_opaque_to(&topic, produced.len())
                    .partition(p)
                    .key("k")
                    .payload(&value);
                send_bounded(&txp, record);
                produced.push((p, value, true, commit));
            }
        }
        // Flushed first, so that an aborted transaction's records are really in the log.
        txp.flush(OP).expect("flush transactional producer");
        if commit {
            txp.commit_transaction(OP)
                .unwrap_or_else(|e| panic!("commit {t}: {e}\n{}", cluster.report()));
        } else {
            txp.abort_transaction(OP)
                .unwrap_or_else(|e| panic!("abort {t}: {e}\n{}", cluster.report()));
        }
        // One non-transactional record per partition after each transaction.
        for p in 0..PARTITIONS {
            let value = format!("plain{t}-p{p}");
            let record = BaseRecord::with_opaque_to(&topic, produced.len())
                .partition(p)
                .key("k")
                .payload(&value);
            send_bounded(&plain, record);
            produced.push((p, value, false, true));
        }
        plain.flush(OP).expect("flush plain producer");
    }

    // Where each value was acknowledged (the two producers' opaques index `produced`).
    let mut acked_at: BTreeMap<(i32, String), i64> = BTreeMap::new();
    for (ctx, what) in [(&txn_ctx, "transactional"), (&plain_ctx, "plain")] {
        let deliveries = ctx.snapshot();
        for d in &deliveries {
            assert!(
                d.result.is_ok(),
                "{what} delivery failed: {d:?}\n{}",
                cluster.report()
            );
        }
        for (p, offsets) in acked_offsets(&deliveries) {
            for (o, index) in offsets {
                acked_at.insert((p, produced[index].1.clone()), o);
            }
        }
    }
    assert_eq!(acked_at.len(), produced.len(), "every record acknowledged");

    let uncommitted = read_all_isolated(&bootstrap, &topic, PARTITIONS, "read_uncommitted", READ);
    let committed = read_all_isolated(&bootstrap, &topic, PARTITIONS, "read_committed", READ);
    let watermarks = consumer(&bootstrap);
    for p in 0..PARTITIONS {
        let all: Vec<String> = produced
            .iter()
            .filter(|r| r.0 == p)
            .map(|r| r.1.clone())
            .collect();
        let visible: Vec<String> = produced
            .iter()
            .filter(|r| r.0 == p && r.3)
            .map(|r| r.1.clone())
            .collect();
        assert_eq!(
            values(&uncommitted[&p]),
            all,
            "read_uncommitted partition {p}: every record, committed and aborted, in order\n{}",
            cluster.report()
        );
        assert_eq!(
            values(&committed[&p]),
            visible,
            "read_committed partition {p}: exactly the committed and non-transactional records, \
             in order\n{}",
            cluster.report()
        );
        for r in uncommitted[&p].iter().chain(&committed[&p]) {
            let value = values(std::slice::from_ref(r)).remove(0);
            assert_eq!(
                Some(r.offset),
                acked_at.get(&(p, value.clone())).copied(),
                "partition {p}: {value:?} delivered at the offset it was acknowledged at"
            );
        }
        // The offsets no data record holds are the control markers: one per transaction (each
        // transaction wrote to every partition), and none of them was delivered above.
        let (_, high) = watermarks
            .fetch_watermarks(&topic, p, OP)
            .expect("fetch watermarks");
        let data = i64::try_from(all.len()).expect("count");
        assert_eq!(
            high - data,
            i64::try_from(TRANSACTIONS).expect("count"),
            "partition {p}: high watermark {high} = {data} data records + one marker per \
             transaction\n{}",
            cluster.report()
        );
    }
}

#[test]
fn reference_kafka_committed_and_aborted_transactions_across_partitions() {
    committed_and_aborted(&Cluster::reference());
}

#[test]
fn minikafka_committed_and_aborted_transactions_across_partitions() {
    committed_and_aborted(&Cluster::minikafka());
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: fencing
// ---------------------------------------------------------------------------------------------

/// The error codes a fenced transactional producer may report: librdkafka's own `_FENCED`, or
/// the broker's `PRODUCER_FENCED` / `INVALID_PRODUCER_EPOCH` (older brokers).
const FENCED_CODES: [RDKafkaErrorCode; 3] = [
    RDKafkaErrorCode::Fenced,
    RDKafkaErrorCode::ProducerFenced,
    RDKafkaErrorCode::InvalidProducerEpoch,
];

fn fencing(cluster: &Cluster) {
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("txn-fence");
    create_topic(&bootstrap, &topic, 1);
    let txn_id = unique_topic("txn-fence-id");

    let (first, first_ctx) = txn_producer(cluster, &txn_id);
    first.begin_transaction().expect("first begin_transaction");
    let zombie: Vec<String> = (0..5).map(|i| format!("first-{i}")).collect();
    for (i, v) in zombie.iter().enumerate() {
        send_bounded(
            &first,
            BaseRecord::with_opaque_to(&topic, i)
                .key("k")
                .partition(0)
                .payload(v),
        );
    }
    first.flush(OP).expect("flush first producer");
    assert!(
        first_ctx.snapshot().iter().all(|d| d.result.is_ok()),
        "first producer's records acknowledged: {:?}\n{}",
        first_ctx.snapshot(),
        cluster.report()
    );

    // Same transactional.id: fences the first producer and aborts its open transaction.
    let (second, second_ctx) = txn_producer(cluster, &txn_id);

    // The first producer's next produce and its commit must fail, fatally, as fenced.
    let late = BaseRecord::with_opaque_to(&topic, 100)
        .partition(0)
        .key("k")
        .payload("first-after-fence");
    let _ = first.send(late); // may already be refused locally
    let err = first
        .commit_transaction(OP)
        .expect_err("the fenced producer's commit_transaction must fail");
    let fatal = match &err {
        KafkaError::Transaction(e) => e.is_fatal(),
        _ => false,
    };
    assert!(
        fatal,
        "the fenced producer's commit error is fatal: {err:?}\n{}",
        cluster.report()
    );
    let fatal_error = first.client().fatal_error();
    assert!(
        fatal_error
            .as_ref()
            .is_some_and(|(code, _)| FENCED_CODES.contains(code)),
        "the fenced producer's fatal error is one of {FENCED_CODES:?}: {fatal_error:?} \
         (commit said {err:?})\n{}",
        cluster.report()
    );

    eprintln!("fenced producer: commit error {err:?}, fatal error {fatal_error:?}");

    second
        .begin_transaction()
        .expect("second begin_transaction");
    let visible: Vec<String> = (0..5).map(|i| format!("second-{i}")).collect();
    for (i, v) in visible.iter().enumerate() {
        send_bounded(
            &second,
            BaseRecord::with_opaque_to(&topic, i)
                .key("k")
                .partition(0)
                .payload(v),
        );
    }
    second
        .commit_transaction(OP)
        .unwrap_or_else(|e| panic!("second commit_transaction: {e}\n{}", cluster.report()));
    assert!(
        second_ctx.snapshot().iter().all(|d| d.result.is_ok()),
        "second producer's records acknowledged: {:?}",
        second_ctx.snapshot()
    );
    drop(first);

    let committed = read_all_isolated(&bootstrap, &topic, 1, "read_committed", READ);
    assert_eq!(
        values(&committed[&0]),
        visible,
        "read_committed: only the second producer's committed records\n{}",
        cluster.report()
    );
    // The fenced producer's records did reach the log (so the check above is not vacuous),
    // and the record it sent after being fenced did not.
    let uncommitted = read_all_isolated(&bootstrap, &topic, 1, "read_uncommitted", READ);
    let all: Vec<String> = zombie.iter().chain(&visible).cloned().collect();
    assert_eq!(
        values(&uncommitted[&0]),
        all,
        "read_uncommitted: the fenced producer's records, then the second producer's\n{}",
        cluster.report()
    );
}

#[test]
fn reference_kafka_second_producer_fences_the_first() {
    fencing(&Cluster::reference());
}

#[test]
fn minikafka_second_producer_fences_the_first() {
    fencing(&Cluster::minikafka());
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: a killed producer's transaction times out
// ---------------------------------------------------------------------------------------------

fn timed_out_transaction_is_aborted(cluster: &Cluster) {
    const ZOMBIE_RECORDS: usize = 5;
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("txn-timeout");
    create_topic(&bootstrap, &topic, 1);

    let zombie_id = unique_topic("txn-timeout-zombie");
    let count = ZOMBIE_RECORDS.to_string();
    let timeout = SHORT_TXN_TIMEOUT_MS.to_string();
    let mut child = ChildProc::spawn(
        env!("CARGO_BIN_EXE_txn-producer"),
        "txn-producer",
        &[&bootstrap, &zombie_id, &topic, "0", &count, &timeout],
    );
    let line = child
        .next_line(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("txn-producer printed nothing: {e:?}\n{}", cluster.report()));
    assert!(
        line.starts_with("PRODUCED "),
        "txn-producer: {line}\n{}",
        cluster.report()
    );
    child.kill9();
    let killed = Instant::now();

    // Another transactional producer commits to the same partition after the open transaction.
    let (after, after_ctx) = txn_producer(cluster, &unique_topic("txn-timeout-after"));
    after.begin_transaction().expect("begin_transaction");
    let visible: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    for (i, v) in visible.iter().enumerate() {
        send_bounded(
            &after,
            BaseRecord::with_opaque_to(&topic, i)
                .key("k")
                .partition(0)
                .payload(v),
        );
    }
    after
        .commit_transaction(OP)
        .unwrap_or_else(|e| panic!("commit_transaction: {e}\n{}", cluster.report()));
    assert!(after_ctx.snapshot().iter().all(|d| d.result.is_ok()));

    // The last stable offset is held at the killed producer's first record until the
    // coordinator aborts its transaction: timeout + cleanup interval, plus a margin.
    let bound =
        Duration::from_millis(SHORT_TXN_TIMEOUT_MS + CLEANUP_INTERVAL_MS) + Duration::from_secs(20);
    let got = read_committed_until(&bootstrap, &topic, 0, visible.len(), killed + bound);
    assert_eq!(
        values(&got),
        visible,
        "read_committed within {bound:?} of the kill: exactly the later committed records \
         (the killed producer's transaction must have been aborted)\n{}",
        cluster.report()
    );
    eprintln!(
        "timed-out transaction: later commit visible {:?} after the kill",
        killed.elapsed()
    );
    let uncommitted = read_all_isolated(&bootstrap, &topic, 1, "read_uncommitted", READ);
    let all: Vec<String> = (0..ZOMBIE_RECORDS)
        .map(|i| format!("zombie-value-{i}"))
        .chain(visible.iter().cloned())
        .collect();
    assert_eq!(
        values(&uncommitted[&0]),
        all,
        "read_uncommitted: the killed producer's records, then the later ones\n{}",
        cluster.report()
    );
}

#[test]
fn reference_kafka_killed_producers_transaction_times_out() {
    timed_out_transaction_is_aborted(&Cluster::reference());
}

#[test]
fn minikafka_killed_producers_transaction_times_out() {
    timed_out_transaction_is_aborted(&Cluster::minikafka());
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: exactly-once consume-transform-produce with kills
// ---------------------------------------------------------------------------------------------

fn exactly_once_chain(cluster: &mut Cluster) {
    const PARTITIONS: i32 = 3;
    const PER_PARTITION: i64 = 1000;
    const PROCESSOR_KILLS: usize = 5;
    /// The first round (of the kills) in which minikafka is `kill -9`ed too.
    const BROKER_KILL_ROUND: usize = 2;
    const MAX_BATCH: &str = "25";
    /// Bound on processor restarts after errors, on top of the planned kills.
    const MAX_UNPLANNED_RESTARTS: usize = 10;

    let seed = std::env::var("COMPAT_TXN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
        });
    eprintln!("exactly-once chain: seed {seed} (replay with COMPAT_TXN_SEED={seed})");
    let mut rng = XorShift::new(seed);

    let mut bootstrap = cluster.bootstrap();
    let input = unique_topic("eos-in");
    let output = unique_topic("eos-out");
    create_topic(&bootstrap, &input, PARTITIONS);
    create_topic(&bootstrap, &output, PARTITIONS);
    let group = unique_topic("eos-group");
    let txn_id = unique_topic("eos-processor");

    // The input: key k-P-N, value v-P-N at offset N of partition P.
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&bootstrap)
        .set("enable.idempotence", "true")
        .create_with_context(ctx.clone())
        .expect("create input producer");
    let mut index = 0;
    for n in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            let (key, value) = (format!("k-{p}-{n}"), format!("v-{p}-{n}"));
            send_bounded(
                &producer,
                BaseRecord::with_opaque_to(&input, index)
                    .partition(p)
                    .key(&key)
                    .payload(&value),
            );
            index += 1;
        }
    }
    producer.flush(OP).expect("flush input");
    let acked = acked_offsets(&ctx.snapshot());
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = acked
            .get(&p)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        assert_eq!(
            offsets,
            (0..PER_PARTITION).collect::<Vec<_>>(),
            "input partition {p} acknowledged at offsets 0..{PER_PARTITION}\n{}",
            cluster.report()
        );
    }
    drop(producer);

    let spawn = |bootstrap: &str| {
        ChildProc::spawn(
            env!("CARGO_BIN_EXE_eos-processor"),
            "eos-processor",
            &[bootstrap, &group, &input, &output, &txn_id, MAX_BATCH],
        )
    };
    let done = |progress: &Progress| {
        (0..PARTITIONS).all(|p| progress.get(&p).copied().unwrap_or(0) >= PER_PARTITION)
    };
    let mut progress = Progress::new();
    let mut unplanned = 0;
    let mut broker_killed = false;

    // Planned kills: each after 1..=4 commits of the new process, then right after the
    // processor reports its next batch flushed into the open transaction (`SENT`), or its
    // offsets added to it (`OFFSETS_SENT`), or its next commit (`COMMITTED`), or after 0..30 ms
    // more (anywhere). The kill lands a little after the line (the processor keeps going).
    for round in 0..PROCESSOR_KILLS {
        if done(&progress) {
            break;
        }
        let mut proc = spawn(&bootstrap);
        let commits_before_kill = 1 + rng.next_u64() % 4;
        let kill_after = ["SENT", "OFFSETS_SENT", "COMMITTED", ""]
            [usize::try_from(rng.next_u64() % 4).expect("index")];
        let pause = if kill_after.is_empty() {
            rng.next_u64() % 30
        } else {
            0
        };
        let mut commits = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ended = false;
        loop {
            let timed_kill_due = commits >= commits_before_kill && kill_after.is_empty();
            if done(&progress) || timed_kill_due {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the processor committed only {commits} transactions in 60 s \
                 (progress {progress:?})\n{}",
                cluster.report()
            );
            match proc.next_line(Duration::from_millis(200)) {
                Ok(line) => {
                    let armed = commits >= commits_before_kill;
                    if note_commit(&line, &mut progress) {
                        commits += 1;
                    }
                    if armed && line.split(' ').next() == Some(kill_after) {
                        break;
                    }
                }
                Err(NoLine::Timeout) => {}
                Err(NoLine::Ended) => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            unplanned += 1;
            assert!(
                unplanned <= MAX_UNPLANNED_RESTARTS,
                "the processor exited on its own {unplanned} times\n{}",
                cluster.report()
            );
            continue;
        }
        thread::sleep(Duration::from_millis(pause));
        if round >= BROKER_KILL_ROUND && !broker_killed {
            if let Cluster::Minikafka(broker) = cluster {
                broker_killed = true;
                eprintln!("round {round}: kill -9 minikafka");
                broker.kill9();
                proc.kill9();
                broker.restart();
                bootstrap = broker.bootstrap().to_string();
                drain_commits(&mut proc, &mut progress);
                continue;
            }
        }
        eprintln!(
            "round {round}: SIGKILL eos-processor after {commits} commits, then {:?} + {pause} ms",
            if kill_after.is_empty() {
                "-"
            } else {
                kill_after
            }
        );
        proc.kill9();
        drain_commits(&mut proc, &mut progress);
    }

    // The last processor runs until every input record was committed through it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut proc = spawn(&bootstrap);
    while !done(&progress) {
        assert!(
            Instant::now() < deadline,
            "the processor did not get through the input within 120 s (progress {progress:?})\n{}",
            cluster.report()
        );
        match proc.next_line(Duration::from_millis(200)) {
            Ok(line) => {
                note_commit(&line, &mut progress);
            }
            Err(NoLine::Timeout) => {}
            Err(NoLine::Ended) => {
                unplanned += 1;
                assert!(
                    unplanned <= MAX_UNPLANNED_RESTARTS,
                    "the processor exited on its own {unplanned} times\n{}",
                    cluster.report()
                );
                proc = spawn(&bootstrap);
            }
        }
    }
    let status = proc.close_and_wait(Duration::from_secs(30));
    eprintln!("exactly-once chain: last processor exit {status:?}, {unplanned} unplanned restarts");

    let out = read_all_isolated(&bootstrap, &output, PARTITIONS, "read_committed", READ);
    // Informational: records of transactions that were aborted by the kills (visible only to
    // read_uncommitted) show that the kills did land mid-transaction.
    let raw = read_all_isolated(&bootstrap, &output, PARTITIONS, "read_uncommitted", READ);
    eprintln!(
        "exactly-once chain: output holds {} records read_uncommitted, {} read_committed",
        raw.values().map(Vec::len).sum::<usize>(),
        out.values().map(Vec::len).sum::<usize>()
    );
    for p in 0..PARTITIONS {
        let got = &out[&p];
        let want: Vec<String> = (0..PER_PARTITION)
            .map(|n| format!("out-v-{p}-{n}"))
            .collect();
        let got_values = values(got);
        if got_values != want {
            let dups = got_values.len() - {
                let mut s = got_values.clone();
                s.sort();
                s.dedup();
                s.len()
            };
            let first_diff = got_values
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got_values.len().min(want.len()));
            panic!(
                "output partition {p} (read_committed): {} records, {dups} duplicates, first \
                 difference at index {first_diff}: got {:?}, want {:?} (seed {seed})\n{}",
                got_values.len(),
                got_values.get(first_diff),
                want.get(first_diff),
                cluster.report()
            );
        }
        for (n, r) in got.iter().enumerate() {
            let key = format!("k-{p}-{n}");
            assert_eq!(
                r.key.as_deref(),
                Some(key.as_bytes()),
                "output partition {p} record {n} keeps its key"
            );
        }
    }
}

/// Reads what a killed processor printed before it died.
fn drain_commits(proc: &mut ChildProc, progress: &mut Progress) {
    while let Ok(line) = proc.next_line(Duration::from_secs(5)) {
        note_commit(&line, progress);
    }
}

#[test]
fn reference_kafka_exactly_once_chain_survives_processor_kills() {
    exactly_once_chain(&mut Cluster::reference());
}

#[test]
fn minikafka_exactly_once_chain_survives_processor_and_broker_kills() {
    exactly_once_chain(&mut Cluster::minikafka());
}
