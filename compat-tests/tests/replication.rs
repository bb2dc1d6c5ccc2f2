//! Replication (issue 13) with real processes: one controller-only node (1) and three brokers
//! (2, 3, 4), a topic with replication factor 3 and `min.insync.replicas=2`, rdkafka clients.
//!
//! - Followers copy their leaders' logs: once every replica is in sync, the three copies of each
//!   partition are byte-identical (the `.log` files of each replica, concatenated, are compared).
//! - `kill -9` of a partition leader: another in-sync replica takes over, an idempotent
//!   `acks=all` producer carries on, and every acknowledged record is read back exactly once, in
//!   order, with contiguous offsets; the killed broker comes back, truncates where it must,
//!   catches up and rejoins the ISR.
//! - `min.insync.replicas`: with two of the three brokers gone, the leader is the only in-sync
//!   replica and an `acks=all` produce is refused with NOT_ENOUGH_REPLICAS; once one returns and
//!   catches up, produces are acknowledged again.
//!
//! - Coordinator failover: `__consumer_offsets` and `__transaction_state` are replicated (their
//!   replication factor defaults to min(3, brokers)); `kill -9` of the broker coordinating a
//!   group loses none of its committed offsets, and `kill -9` of a transaction coordinator lets
//!   the same transactional id carry on through the new one (InitProducerId fences, the next
//!   transaction commits, read_committed sees both).
//! - Exactly-once consume-transform-produce (`src/bin/eos-processor.rs`, RF 3 input and output
//!   topics) while the broker leading the processor's `__transaction_state` partition, then the
//!   one leading its group's `__consumer_offsets` partition, is `kill -9`ed and restarted: the
//!   output read with `read_committed` holds every input record exactly once, in order.
//!
//! - Unclean leader election enabled on one topic (`unclean.leader.election.enable=true`): when
//!   its last in-sync replica is gone, an out-of-sync replica that returns becomes the leader,
//!   and the log says that records may be lost.
//!
//! The controller is its own node so that killing brokers never takes the quorum away. Every
//! wait is bounded.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::child::{note_commit, ChildProc, NoLine, Progress};
use compat_tests::cluster::{internal_partition, one_cluster_at_a_time, Cluster, Role};
use compat_tests::tools::{kafka_classpath, output_text, run_java_tool, run_java_tool_with_input};
use compat_tests::{
    acked_offsets, admin_config, base_config, block_on, create_topic_retrying, producer_config,
    read_all, read_all_isolated, send_bounded, RecordingContext,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "replicated";
const PARTITIONS: i32 = 3;
const BROKERS: [i32; 3] = [2, 3, 4];
/// Bound on every wait for the cluster to change.
const SETTLE: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(200);

/// Partitions of `__consumer_offsets` and `__transaction_state` in these clusters.
const INTERNAL_PARTITIONS: i32 = 3;

fn cluster() -> Cluster {
    Cluster::start_with_roles(
        &[Role::Controller, Role::Broker, Role::Broker, Role::Broker],
        &[
            "--set",
            "replica.lag.time.max.ms=4000",
            "--set",
            "offsets.topic.num.partitions=3",
            "--set",
            "transaction.state.log.num.partitions=3",
            "--set",
            "group.initial.rebalance.delay.ms=0",
            "--set",
            "replica.high.watermark.checkpoint.interval.ms=300",
        ],
    )
}

/// Waits (bounded) until every broker's `replication-offset-checkpoint` (Kafka's format:
/// version, count, `topic partition offset` lines) records the high watermark of each of
/// [`TOPIC`]'s partitions as `expected` (partition → high watermark).
fn wait_for_hw_checkpoints(cluster: &Cluster, expected: &BTreeMap<i32, i64>) {
    for b in BROKERS {
        let path = cluster
            .work_dir()
            .join(format!("node-{b}/replication-offset-checkpoint"));
        compat_tests::wait_until(
            &format!("broker {b}'s high watermark checkpoint at {expected:?}"),
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let text = std::fs::read_to_string(&path).ok()?;
                let mut lines = text.lines();
                (lines.next() == Some("0")).then_some(())?;
                let count: usize = lines.next()?.parse().ok()?;
                let found: BTreeMap<i32, i64> = lines
                    .take(count)
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split(' ').collect();
                        (f.len() == 3 && f[0] == TOPIC)
                            .then(|| Some((f[1].parse().ok()?, f[2].parse().ok()?)))?
                    })
                    .collect();
                (&found == expected).then_some(())
            },
        );
    }
}

/// The bootstrap list of brokers `ids`.
fn bootstrap_of(cluster: &Cluster, ids: &[i32]) -> String {
    ids.iter()
        .map(|b| cluster.bootstrap(*b))
        .collect::<Vec<_>>()
        .join(",")
}

/// Creates [`TOPIC`] (RF 3, min.insync.replicas=2) through `bootstrap`, retrying while the
/// brokers register (bounded).
fn create_replicated_topic(bootstrap: &str) {
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    create_topic_retrying(bootstrap, &topic, SETTLE);
}

/// Waits until node `via` reports every partition of [`TOPIC`] with a leader and exactly
/// `isr_size` in-sync replicas; returns partition → (leader, isr).
fn wait_for_isr(cluster: &Cluster, via: i32, isr_size: usize) -> BTreeMap<i32, (i32, Vec<i32>)> {
    let view = cluster.wait_for_metadata(
        via,
        Some(TOPIC),
        &format!("{TOPIC}: every partition led, {isr_size} in sync"),
        |v| {
            v.topics.get(TOPIC).is_some_and(|t| {
                t.partitions.len() == PARTITIONS as usize
                    && t.partitions
                        .values()
                        .all(|p| p.leader >= 0 && p.isr.len() == isr_size)
            })
        },
    );
    view.topics[TOPIC]
        .partitions
        .iter()
        .map(|(i, p)| (*i, (p.leader, p.isr.clone())))
        .collect()
}

/// Records `tag-<partition>-<n>` for `n` in `0..per_partition`, interleaved over partitions.
fn records(tag: &str, per_partition: usize) -> Vec<(i32, String)> {
    (0..per_partition)
        .flat_map(|n| (0..PARTITIONS).map(move |p| (p, format!("{tag}-{p}-{n}"))))
        .collect()
}

/// Produces `records` with an idempotent acks=all producer; asserts each was acknowledged;
/// returns partition → offset → value.
fn produce(bootstrap: &str, records: &[(i32, String)]) -> BTreeMap<i32, BTreeMap<i64, String>> {
    produce_to(bootstrap, TOPIC, records)
}

/// [`produce`] to `topic`.
fn produce_to(
    bootstrap: &str,
    topic: &str,
    records: &[(i32, String)],
) -> BTreeMap<i32, BTreeMap<i64, String>> {
    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .create_with_context(context.clone())
        .expect("create producer");
    for (i, (p, value)) in records.iter().enumerate() {
        send_bounded(
            &producer,
            BaseRecord::with_opaque_to(topic, i)
                .partition(*p)
                .key(value)
                .payload(value),
        );
    }
    producer
        .flush(Duration::from_secs(90))
        .expect("every record delivered or failed within 90 s");
    let deliveries = context.snapshot();
    compat_tests::assert_all_delivered(&deliveries, records.len());
    acked_offsets(&deliveries)
        .into_iter()
        .map(|(p, m)| {
            (
                p,
                m.into_iter()
                    .map(|(o, i)| (o, records[i].1.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// Every acknowledged record is read back from `bootstrap` exactly once, at its offset, and
/// offsets are contiguous from 0.
fn assert_read_back(
    bootstrap: &str,
    acked: &BTreeMap<i32, BTreeMap<i64, String>>,
    cluster: &Cluster,
) {
    let stored = read_all(bootstrap, TOPIC, PARTITIONS, SETTLE);
    for p in 0..PARTITIONS {
        let want = acked.get(&p).cloned().unwrap_or_default();
        let got = &stored[&p];
        let offsets: Vec<i64> = want.keys().copied().collect();
        assert_eq!(
            offsets,
            (0..want.len() as i64).collect::<Vec<_>>(),
            "partition {p}: acknowledged offsets are contiguous"
        );
        assert_eq!(
            got.len(),
            want.len(),
            "partition {p}: {} read, {} acknowledged\n{}",
            got.len(),
            want.len(),
            cluster.logs_report()
        );
        for (rec, (offset, value)) in got.iter().zip(&want) {
            assert_eq!(rec.offset, *offset, "partition {p}");
            assert_eq!(
                rec.value.as_deref(),
                Some(value.as_bytes()),
                "partition {p} offset {offset}"
            );
        }
    }
}

/// Waits until every broker's copy of each partition is byte-identical (bounded); returns the
/// bytes compared.
fn assert_replicas_identical(cluster: &Cluster) -> usize {
    cluster.wait_for_identical_replicas(TOPIC, PARTITIONS, &BROKERS, SETTLE)
}

#[test]
fn replicas_stay_identical_and_a_killed_leader_loses_no_acknowledged_write() {
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let all = bootstrap_of(&cluster, &BROKERS);
    create_replicated_topic(&all);
    wait_for_isr(&cluster, 2, 3);
    let mut acked = produce(&all, &records("before", 300));
    let bytes = assert_replicas_identical(&cluster);
    assert!(bytes > 0);
    // Every replica checkpoints the committed offsets (offsets start at 0: HW = count).
    let hws: BTreeMap<i32, i64> = acked.iter().map(|(p, r)| (*p, r.len() as i64)).collect();
    wait_for_hw_checkpoints(&cluster, &hws);

    // Kill the leader of partition 0: a follower in the ISR takes over.
    let placement = wait_for_isr(&cluster, 2, 3);
    let victim = placement[&0].0;
    cluster.kill9(victim);
    let survivor = *BROKERS.iter().find(|b| **b != victim).expect("a survivor");
    let after_kill = wait_for_isr(&cluster, survivor, 2);
    assert_ne!(after_kill[&0].0, victim, "a new leader for partition 0");
    let alive: Vec<i32> = BROKERS.iter().copied().filter(|b| *b != victim).collect();
    let survivors = bootstrap_of(&cluster, &alive);
    for (p, more) in produce(&survivors, &records("after", 300)) {
        acked.entry(p).or_default().extend(more);
    }
    assert_read_back(&survivors, &acked, &cluster);

    // The killed broker returns, catches up and rejoins every ISR; all copies agree.
    cluster.restart(victim);
    wait_for_isr(&cluster, survivor, 3);
    let bytes = assert_replicas_identical(&cluster);
    println!("replicas identical after a leader kill: {bytes} bytes per copy");

    // Kafka's kafka-leader-election moves partition 0 back to its preferred replica (the first,
    // which led it at creation: the killed broker).
    match kafka_classpath() {
        Ok(classpath) => {
            let out = run_java_tool(
                &classpath,
                "org.apache.kafka.tools.LeaderElectionCommand",
                &[
                    "--bootstrap-server",
                    &survivors,
                    "--election-type",
                    "PREFERRED",
                    "--all-topic-partitions",
                ],
            );
            assert!(
                out.status.success(),
                "kafka-leader-election: {}\n{}",
                output_text(&out),
                cluster.logs_report()
            );
            cluster.wait_for_metadata(
                survivor,
                Some(TOPIC),
                "partition 0 led by its preferred replica",
                |v| {
                    v.topics
                        .get(TOPIC)
                        .and_then(|t| t.partitions.get(&0))
                        .is_some_and(|p| p.leader == victim)
                },
            );
            console_tools_on_a_replicated_topic(&cluster, &classpath, &all);
        }
        Err(why) => eprintln!(
            "note: skipping kafka-leader-election and the console tools: Kafka's jars are not \
             available ({why})"
        ),
    }
    assert_read_back(&cluster.bootstrap(victim), &acked, &cluster);
}

/// Kafka's console producer (acks=all, its default) writes to a new RF 3 topic with
/// `min.insync.replicas=2`, its console consumer reads every line back once, and the three
/// copies are byte-identical.
fn console_tools_on_a_replicated_topic(cluster: &Cluster, classpath: &str, all: &str) {
    let topic = "console-replicated";
    create_topic_retrying(
        all,
        &NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(3))
            .set("min.insync.replicas", "2"),
        SETTLE,
    );
    let lines: Vec<String> = (0..60).map(|n| format!("console-{n}")).collect();
    let out = run_java_tool_with_input(
        classpath,
        "org.apache.kafka.tools.ConsoleProducer",
        &[
            "--bootstrap-server",
            all,
            "--topic",
            topic,
            "--producer-property",
            "acks=all",
        ],
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
    assert!(
        out.status.success(),
        "kafka-console-producer: {}\n{}",
        output_text(&out),
        cluster.logs_report()
    );
    let total = lines.len().to_string();
    let out = run_java_tool(
        classpath,
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            all,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &total,
            "--timeout-ms",
            "30000",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut got: Vec<&str> = stdout.lines().collect();
    got.sort_unstable();
    let mut want: Vec<&str> = lines.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert!(
        out.status.success() && got == want,
        "kafka-console-consumer printed {} lines, want the {} produced: {}\n{}",
        got.len(),
        want.len(),
        output_text(&out),
        cluster.logs_report()
    );
    cluster.wait_for_identical_replicas(topic, PARTITIONS, &BROKERS, SETTLE);
}

#[test]
fn min_insync_replicas_refuses_acks_all_until_a_replica_returns() {
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let all = bootstrap_of(&cluster, &BROKERS);
    create_replicated_topic(&all);
    let placement = wait_for_isr(&cluster, 2, 3);
    let leader = placement[&0].0;
    let others: Vec<i32> = BROKERS.iter().copied().filter(|b| *b != leader).collect();
    produce(&all, &records("first", 10));
    for b in &others {
        cluster.kill9(*b);
    }
    // Fenced after broker.session.timeout.ms: only the leader is left in sync.
    let alone = cluster.wait_for_metadata(
        leader,
        Some(TOPIC),
        "partition 0 with one in-sync replica",
        |v| {
            v.topics
                .get(TOPIC)
                .and_then(|t| t.partitions.get(&0))
                .is_some_and(|p| p.isr == vec![leader] && p.leader == leader)
        },
    );
    assert_eq!(alone.topics[TOPIC].partitions[&0].leader, leader);
    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&cluster.bootstrap(leader))
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("retries", "0")
        .set("message.timeout.ms", "10000")
        .create_with_context(context.clone())
        .expect("create producer");
    send_bounded(
        &producer,
        BaseRecord::with_opaque_to(TOPIC, 0)
            .partition(0)
            .key("refused")
            .payload("refused"),
    );
    producer
        .flush(Duration::from_secs(20))
        .expect("delivery report");
    let report = context.snapshot();
    assert_eq!(report.len(), 1);
    let err = report[0]
        .result
        .clone()
        .expect_err("acks=all with one in-sync replica of min 2");
    assert!(
        err.contains("NotEnoughReplicas") || err.contains("Not enough in-sync replicas"),
        "refused with NOT_ENOUGH_REPLICAS, got {err}"
    );
    // One follower returns: once it is back in the ISR, acks=all works again.
    cluster.restart(others[0]);
    cluster.wait_for_metadata(
        leader,
        Some(TOPIC),
        "partition 0 with two in-sync replicas",
        |v| {
            v.topics
                .get(TOPIC)
                .and_then(|t| t.partitions.get(&0))
                .is_some_and(|p| p.isr.len() == 2)
        },
    );
    let acked = produce(&cluster.bootstrap(leader), &[(0, "accepted".to_string())]);
    assert_eq!(acked[&0].len(), 1);
}

/// The broker leading partition `partition` of the internal topic `topic`, as broker `via` sees it
/// once every partition of it has a leader and all its replicas in sync (its replication factor
/// is min(3, live brokers) when it is created).
fn internal_leader(cluster: &Cluster, via: i32, topic: &str, partition: i32) -> i32 {
    let view = cluster.wait_for_metadata(
        via,
        Some(topic),
        &format!("{topic} with every replica in sync"),
        |v| {
            v.topics.get(topic).is_some_and(|t| {
                t.partitions.len() == INTERNAL_PARTITIONS as usize
                    && t.partitions
                        .values()
                        .all(|p| p.leader >= 0 && p.isr.len() == p.replicas.len())
            })
        },
    );
    view.topics[topic].partitions[&partition].leader
}

/// Retries `op` (bounded by [`SETTLE`]) until it succeeds; panics with the last error.
fn retry<T, E: std::fmt::Display>(
    cluster: &Cluster,
    what: &str,
    mut op: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        match op() {
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

/// A transactional producer for `txn_id` through `bootstrap`, initialised (retrying while the
/// coordinator moves).
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
    retry(cluster, "init_transactions", || {
        producer.init_transactions(Duration::from_secs(10))
    });
    producer
}

/// One committed transaction of `values` to partition 0 of [`TOPIC`].
fn one_transaction(
    cluster: &Cluster,
    producer: &ThreadedProducer<DefaultProducerContext>,
    values: &[String],
) {
    producer.begin_transaction().expect("begin_transaction");
    for v in values {
        producer
            .send(BaseRecord::to(TOPIC).partition(0).key(v).payload(v))
            .map_err(|(e, _)| e)
            .expect("queue a transactional record");
    }
    retry(cluster, "commit_transaction", || {
        producer.commit_transaction(Duration::from_secs(10))
    });
}

#[test]
fn group_offsets_and_transactions_survive_a_coordinator_kill() {
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let all = bootstrap_of(&cluster, &BROKERS);
    create_replicated_topic(&all);
    wait_for_isr(&cluster, 2, 3);
    produce(&all, &records("plain", 10));

    // Committed offsets of a group, then its coordinator is killed.
    let group = "failover-group";
    let mut committed = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        committed
            .add_partition_offset(TOPIC, p, Offset::Offset(i64::from(p) + 3))
            .expect("offset");
    }
    let committer: BaseConsumer = base_config(&all)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    retry(&cluster, "commit offsets", || {
        committer.commit(&committed, CommitMode::Sync)
    });
    drop(committer);
    let coordinator = internal_leader(
        &cluster,
        2,
        "__consumer_offsets",
        internal_partition(group, INTERNAL_PARTITIONS),
    );
    cluster.kill9(coordinator);
    let alive: Vec<i32> = BROKERS
        .iter()
        .copied()
        .filter(|b| *b != coordinator)
        .collect();
    let survivors = bootstrap_of(&cluster, &alive);
    let reader: BaseConsumer = base_config(&survivors)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create consumer");
    let mut query = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        query.add_partition(TOPIC, p);
    }
    let got = retry(&cluster, "OffsetFetch after the coordinator kill", || {
        let got = reader.committed_offsets(query.clone(), Duration::from_secs(5))?;
        // A coordinator still loading answers no offsets for a moment; wait for all of them.
        if got.elements().iter().any(|e| e.offset() == Offset::Invalid) {
            return Err(rdkafka::error::KafkaError::OffsetFetch(
                rdkafka::types::RDKafkaErrorCode::CoordinatorLoadInProgress,
            ));
        }
        Ok(got)
    });
    for p in 0..PARTITIONS {
        let e = got
            .find_partition(TOPIC, p)
            .expect("partition in the answer");
        assert_eq!(
            e.offset(),
            Offset::Offset(i64::from(p) + 3),
            "partition {p}: the committed offset survives the coordinator's kill\n{}",
            cluster.logs_report()
        );
    }
    drop(reader);
    cluster.restart(coordinator);
    wait_for_isr(&cluster, alive[0], 3);

    // A transaction, then its coordinator is killed; the same id carries on through another.
    let txn_id = "failover-txn";
    let first: Vec<String> = (0..5).map(|n| format!("txn-a-{n}")).collect();
    let producer = txn_producer(&cluster, &all, txn_id);
    one_transaction(&cluster, &producer, &first);
    drop(producer);
    let txn_coordinator = internal_leader(
        &cluster,
        alive[0],
        "__transaction_state",
        internal_partition(txn_id, INTERNAL_PARTITIONS),
    );
    cluster.kill9(txn_coordinator);
    let alive: Vec<i32> = BROKERS
        .iter()
        .copied()
        .filter(|b| *b != txn_coordinator)
        .collect();
    let survivors = bootstrap_of(&cluster, &alive);
    let second: Vec<String> = (0..5).map(|n| format!("txn-b-{n}")).collect();
    let producer = txn_producer(&cluster, &survivors, txn_id);
    one_transaction(&cluster, &producer, &second);
    drop(producer);
    let stored = read_all_isolated(&survivors, TOPIC, PARTITIONS, "read_committed", SETTLE);
    let values: Vec<String> = stored[&0]
        .iter()
        .filter_map(|r| {
            r.value
                .as_deref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .filter(|v| v.starts_with("txn-"))
        .collect();
    let want: Vec<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        values,
        want,
        "both transactions committed, in order\n{}",
        cluster.logs_report()
    );
}

#[test]
fn exactly_once_processor_survives_coordinator_kills() {
    const PER_PARTITION: i64 = 300;
    const MAX_UNPLANNED_RESTARTS: usize = 10;
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let all = bootstrap_of(&cluster, &BROKERS);
    let (input, output) = ("eos-in", "eos-out");
    for t in [input, output] {
        let topic = NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(3))
            .set("min.insync.replicas", "2");
        create_topic_retrying(&all, &topic, SETTLE);
    }
    let records: Vec<(i32, String)> = (0..PER_PARTITION)
        .flat_map(|n| (0..PARTITIONS).map(move |p| (p, format!("v-{p}-{n}"))))
        .collect();
    produce_to(&all, input, &records);

    let (group, txn_id) = ("eos-group", "eos-processor");
    let spawn = || {
        ChildProc::spawn(
            env!("CARGO_BIN_EXE_eos-processor"),
            "eos-processor",
            &[&all, group, input, output, txn_id, "20"],
        )
    };
    let done = |progress: &Progress| {
        (0..PARTITIONS).all(|p| progress.get(&p).copied().unwrap_or(0) >= PER_PARTITION)
    };
    // Kill the transaction coordinator after 3 commits, the group coordinator after 3 more.
    let kills = [
        (3, "__transaction_state", txn_id),
        (6, "__consumer_offsets", group),
    ];
    let mut next_kill = 0;
    let mut commits = 0;
    let mut unplanned = 0;
    let mut progress = Progress::new();
    let mut proc = spawn();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done(&progress) {
        assert!(
            Instant::now() < deadline,
            "the processor did not get through the input within 180 s (progress {progress:?})\n{}",
            cluster.logs_report()
        );
        if let Some(&(after, topic, id)) = kills.get(next_kill) {
            if commits >= after {
                let alive = BROKERS[0];
                let coordinator = internal_leader(
                    &cluster,
                    alive,
                    topic,
                    internal_partition(id, INTERNAL_PARTITIONS),
                );
                eprintln!("kill -9 broker {coordinator}: it leads {topic} for {id:?}");
                cluster.kill9(coordinator);
                thread::sleep(Duration::from_secs(1));
                cluster.restart(coordinator);
                next_kill += 1;
            }
        }
        match proc.next_line(Duration::from_millis(200)) {
            Ok(line) => {
                if note_commit(&line, &mut progress) {
                    commits += 1;
                }
            }
            Err(NoLine::Timeout) => {}
            Err(NoLine::Ended) => {
                unplanned += 1;
                assert!(
                    unplanned <= MAX_UNPLANNED_RESTARTS,
                    "the processor exited on its own {unplanned} times\n{}",
                    cluster.logs_report()
                );
                proc = spawn();
            }
        }
    }
    assert_eq!(
        next_kill,
        kills.len(),
        "both coordinators were killed mid-run"
    );
    proc.close_and_wait(Duration::from_secs(30));
    eprintln!("exactly-once processor: {commits} commits, {unplanned} restarts after errors");

    let out = read_all_isolated(&all, output, PARTITIONS, "read_committed", SETTLE);
    for p in 0..PARTITIONS {
        let got: Vec<String> = out[&p]
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect();
        let want: Vec<String> = (0..PER_PARTITION)
            .map(|n| format!("out-v-{p}-{n}"))
            .collect();
        assert!(
            got == want,
            "output partition {p} (read_committed): {} records, want {}; first difference at \
             {:?}\n{}",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b),
            cluster.logs_report()
        );
    }
}

#[test]
fn unclean_election_on_one_topic_takes_an_out_of_sync_replica() {
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let all = bootstrap_of(&cluster, &BROKERS);
    let topic = "unclean-allowed";
    let admin: AdminClient<DefaultClientContext> = admin_config(&all).create().expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))));
    retry(&cluster, "create the topic", || {
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(3))
            .set("unclean.leader.election.enable", "true");
        match block_on(admin.create_topics([&new], &opts))
            .map_err(|e| e.to_string())?
            .as_slice()
        {
            [Ok(_)] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let view = cluster.wait_for_metadata(2, Some(topic), "3 in sync", |v| {
        v.topics
            .get(topic)
            .and_then(|t| t.partitions.get(&0))
            .is_some_and(|p| p.leader >= 0 && p.isr.len() == 3)
    });
    let leader = view.topics[topic].partitions[&0].leader;
    let others: Vec<i32> = BROKERS.iter().copied().filter(|b| *b != leader).collect();
    // The followers go: the leader is the last in-sync replica, then it goes too.
    for b in &others {
        cluster.kill9(*b);
    }
    cluster.wait_for_metadata(leader, Some(topic), "only the leader in sync", |v| {
        v.topics
            .get(topic)
            .and_then(|t| t.partitions.get(&0))
            .is_some_and(|p| p.isr == vec![leader])
    });
    cluster.kill9(leader);
    // An out-of-sync replica returns: with unclean election allowed it leads.
    let back = others[0];
    cluster.restart(back);
    let view = cluster.wait_for_metadata(back, Some(topic), "the returning replica leads", |v| {
        v.topics
            .get(topic)
            .and_then(|t| t.partitions.get(&0))
            .is_some_and(|p| p.leader == back)
    });
    assert_eq!(view.topics[topic].partitions[&0].isr, vec![back]);
    let log = cluster.node(back).log();
    assert!(
        log.contains("unclean leader election"),
        "the returning broker's log says records may be lost\n{}",
        cluster.logs_report()
    );
}
