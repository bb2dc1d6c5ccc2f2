//! A three-node minikafka cluster (every node a broker and a voter of one static controller
//! quorum; harness in [`compat_tests::cluster`]) against real clients:
//!
//! - partitions spread over the three nodes, clients served whichever node they bootstrap from:
//!   rdkafka (100 000 records in, from node 2; out, from node 3), Kafka's `kafka-topics`
//!   (TopicCommand) and Debian's `kcat`;
//! - a consumer group whose coordinator is another node than the one its members bootstrap
//!   from (rdkafka and Kafka's `kafka-console-consumer`), committed offsets read back through a
//!   third node;
//! - `kill -9` of the active controller: another is elected, metadata changes go on through the
//!   survivors, nothing committed before is lost, the killed node catches up when it returns;
//! - `kill -9` of a broker: its partitions (replication factor 1) have no leader until it
//!   returns, the others keep theirs and take writes, and every acknowledged record and
//!   committed offset is there afterwards;
//! - broker-only and controller-only nodes (`process.roles=broker` / `controller`): three
//!   controllers that serve no client, two brokers that follow the quorum as observers; the
//!   brokers serve everything, fail-over of the active controller does not stop them, and a
//!   broker restarted with `kill -9` catches up.
//!
//! Every wait is bounded; each test runs its own cluster on ports chosen when it starts, one
//! test at a time ([`one_cluster_at_a_time`]).

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{id_coordinated_by, one_cluster_at_a_time, Cluster, Role};
use compat_tests::conn::Conn;
use compat_tests::tools::{kafka_classpath, output_text, run_java_tool, run_kcat};
use compat_tests::{
    acked_offsets, admin_config, base_config, block_on, create_topic, producer_config, read_all,
    send_bounded, Record, RecordingContext,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

/// Nodes of every test cluster.
const NODES: usize = 3;
/// Partitions of the test topics.
const PARTITIONS: i32 = 6;
/// `__consumer_offsets` partitions (Kafka's default is 50; fewer is quicker to create); the
/// clusters with groups get it in [`GROUP_ARGS`].
const OFFSETS_PARTITIONS: i32 = 6;
/// Settings for the tests with consumer groups: a small `__consumer_offsets`
/// ([`OFFSETS_PARTITIONS`]), no initial rebalance delay (Kafka's default is 3 s;
/// `ci/kafka-reference` sets 0 too).
const GROUP_ARGS: &[&str] = &[
    "--set",
    "offsets.topic.num.partitions=6",
    "--set",
    "group.initial.rebalance.delay.ms=0",
];
/// Bound on reading a topic back.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waits for the cluster to change (a fail-over, a returning node).
const SETTLE: Duration = Duration::from_secs(30);
/// Poll interval of the waits.
const TICK: Duration = Duration::from_millis(200);

/// One record to produce: partition, key, value.
type Outgoing = (i32, String, String);

/// Produces `records` in order with an idempotent `acks=all` producer bootstrapped from
/// `bootstrap` (idempotence keeps each partition in send order even if a batch is retried),
/// asserts every one was acknowledged, and returns partition → offset → index in `records`.
fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[Outgoing],
) -> BTreeMap<i32, BTreeMap<i64, usize>> {
    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .create_with_context(context.clone())
        .expect("create producer");
    for (index, (partition, key, value)) in records.iter().enumerate() {
        let record = BaseRecord::with_opaque_to(topic, index)
            .partition(*partition)
            .key(key)
            .payload(value);
        send_bounded(&producer, record);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every record delivered or failed within 60 s");
    let deliveries = context.snapshot();
    assert_eq!(
        deliveries.len(),
        records.len(),
        "a delivery report per record"
    );
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.result.is_err())
        .take(5)
        .collect();
    assert!(
        failed.is_empty(),
        "records not acknowledged (first 5): {failed:?}"
    );
    acked_offsets(&deliveries)
}

/// Asserts that `acked` (from [`produce`], possibly several runs merged) is, per partition,
/// offsets 0, 1, 2, … in the order the records were sent, and that reading `topic` from
/// `bootstrap` returns exactly those records, key and value, in that order.
fn assert_read_back(
    bootstrap: &str,
    topic: &str,
    records: &[Outgoing],
    acked: &BTreeMap<i32, BTreeMap<i64, usize>>,
    cluster: &Cluster,
) {
    let stored = read_all(bootstrap, topic, PARTITIONS, READ_TIMEOUT);
    for p in 0..PARTITIONS {
        let want: Vec<usize> = acked
            .get(&p)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        let offsets: Vec<i64> = acked
            .get(&p)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        let contiguous: Vec<i64> = (0..).take(offsets.len()).collect();
        assert_eq!(
            offsets, contiguous,
            "partition {p}: acknowledged offsets are 0, 1, 2, …"
        );
        assert!(
            want.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: records acknowledged out of send order"
        );
        let got = &stored[&p];
        assert_eq!(
            got.len(),
            want.len(),
            "partition {p}: {} records read back from {bootstrap}, {} acknowledged\n{}",
            got.len(),
            want.len(),
            cluster.logs_report()
        );
        for (n, (rec, &index)) in got.iter().zip(&want).enumerate() {
            let (partition, key, value) = &records[index];
            assert_eq!(*partition, p);
            assert_eq!(rec.offset, n as i64, "partition {p}: record {n}'s offset");
            assert_eq!(
                rec.key.as_deref(),
                Some(key.as_bytes()),
                "partition {p} offset {n}: key"
            );
            assert_eq!(
                rec.value.as_deref(),
                Some(value.as_bytes()),
                "partition {p} offset {n}: value"
            );
        }
    }
}

/// `per_partition` records for every partition, interleaved across partitions; keys and values
/// name the tag, partition and per-partition index.
fn records(tag: &str, per_partition: usize) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(per_partition * PARTITIONS as usize);
    for n in 0..per_partition {
        for p in 0..PARTITIONS {
            out.push((
                p,
                format!("{tag}-key-{p}-{n}"),
                format!("{tag}-value-{p}-{n}"),
            ));
        }
    }
    out
}

/// Creates `topic` through `bootstrap` with `partitions` partitions, replication factor 1;
/// returns the per-topic result (`Ok(())` or the error code) or the request's error.
fn try_create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = admin_config(bootstrap)
        .create()
        .expect("create AdminClient");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new()
        .request_timeout(Some(Timeout::After(Duration::from_secs(5))))
        .operation_timeout(Some(Timeout::After(Duration::from_secs(5))));
    let results = block_on(admin.create_topics([&new], &opts)).map_err(|e| e.to_string())?;
    match results.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
        Some(Err((_, code))) => Err(format!("{code:?}")),
        None => Err("no result".into()),
    }
}

/// Makes the cluster create `__consumer_offsets` (FindCoordinator through node `via` creates
/// it, as in Kafka), waits until node `via` reports each of its partitions with a leader, and
/// returns partition → leader.
fn offsets_topic_leaders(cluster: &Cluster, via: i32, topic: &str) -> BTreeMap<i32, i32> {
    let probe: BaseConsumer = group_config(&cluster.bootstrap(via), "cluster-tests-probe")
        .create()
        .expect("create probe consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let deadline = Instant::now() + SETTLE;
    loop {
        match probe.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
            Ok(_) => break,
            Err(e) => assert!(
                Instant::now() < deadline,
                "OffsetFetch for a probe group through node {via} kept failing: {e}\n{}",
                cluster.logs_report()
            ),
        }
        thread::sleep(TICK);
    }
    cluster.wait_for_leaders(via, "__consumer_offsets", OFFSETS_PARTITIONS)
}

/// Group consumer config: manual commits, from the beginning when nothing is committed.
fn group_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    c
}

/// Committed offsets of `group` for every partition of `topic`, through `bootstrap` (OffsetFetch
/// without joining), retried while the request fails (bounded by [`SETTLE`]). A per-partition
/// error is returned as such.
fn committed(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, Result<Offset, String>> {
    let c: BaseConsumer = group_config(bootstrap, group)
        .create()
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let deadline = Instant::now() + SETTLE;
    let got = loop {
        match c.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
            Ok(got) => break got,
            Err(e) => assert!(
                Instant::now() < deadline,
                "OffsetFetch of {group} through {bootstrap} kept failing: {e}"
            ),
        }
        thread::sleep(TICK);
    };
    got.elements_for_topic(topic)
        .iter()
        .map(|e| {
            (
                e.partition(),
                e.error()
                    .map(|()| e.offset())
                    .map_err(|err| err.to_string()),
            )
        })
        .collect()
}

/// The expected committed offsets: `Ok(Offset::Offset(n))` per partition.
fn offsets(per_partition: impl Fn(i32) -> i64) -> BTreeMap<i32, Result<Offset, String>> {
    (0..PARTITIONS)
        .map(|p| (p, Ok(Offset::Offset(per_partition(p)))))
        .collect()
}

/// Runs one of Kafka's Java tools; `None` (with a printed note) when Kafka's jars or Java are
/// not available here, so that step is skipped.
fn java_tool(what: &str, main: &str, args: &[&str]) -> Option<std::process::Output> {
    match kafka_classpath() {
        Ok(classpath) => Some(run_java_tool(&classpath, main, args)),
        Err(why) => {
            eprintln!("note: skipping {what}: Kafka's jars are not available ({why})");
            None
        }
    }
}

#[test]
fn three_nodes_spread_leaders_and_serve_clients_from_any_node() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    let topic = "spread";
    create_topic(&cluster.bootstrap(1), topic, PARTITIONS);
    let leaders = cluster.wait_for_leaders(2, topic, PARTITIONS);
    let leading: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(
        leading,
        cluster.node_ids().into_iter().collect(),
        "the leaders of {topic}'s {PARTITIONS} partitions (Metadata from node 2: {leaders:?}) \
         cover every node"
    );
    assert_eq!(
        cluster.brokers(2),
        cluster.addresses(),
        "Metadata from node 2 lists every node at its client listener"
    );

    // Kafka's kafka-topics, through node 1; node 2 then knows the topic.
    let java_topic = "spread-java";
    let node1 = cluster.bootstrap(1);
    if let Some(out) = java_tool(
        "kafka-topics --create",
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            &node1,
            "--create",
            "--topic",
            java_topic,
            "--partitions",
            "6",
            "--replication-factor",
            "1",
        ],
    ) {
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .contains(&format!("Created topic {java_topic}.")),
            "kafka-topics --create through node 1: {}\n{}",
            output_text(&out),
            cluster.logs_report()
        );
        cluster.wait_for_leaders(2, java_topic, PARTITIONS);
    }

    // 100 000 records in through node 2, out through node 3.
    let sent = records("spread", 100_000 / PARTITIONS as usize + 1);
    let sent = &sent[..100_000];
    let acked = produce(&cluster.bootstrap(2), topic, sent);
    assert_read_back(&cluster.bootstrap(3), topic, sent, &acked, &cluster);

    // kcat: 1 000 lines in through node 3, out through node 1.
    let kcat_topic = "spread-kcat";
    create_topic(&cluster.bootstrap(1), kcat_topic, PARTITIONS);
    let lines: Vec<String> = (0..1000).map(|i| format!("kcat-line-{i:04}")).collect();
    let input = format!("{}\n", lines.join("\n"));
    let node3 = cluster.bootstrap(3);
    let out = run_kcat(
        &["-P", "-b", &node3, "-t", kcat_topic, "-X", "acks=all"],
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "kcat -P through node 3: {}\n{}",
        output_text(&out),
        cluster.logs_report()
    );
    let node1 = cluster.bootstrap(1);
    let out = run_kcat(
        &[
            "-C",
            "-b",
            &node1,
            "-t",
            kcat_topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p %o %s\\n",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "kcat -C through node 1: {}",
        output_text(&out)
    );
    let text = String::from_utf8(out.stdout).expect("kcat output is UTF-8");
    let mut per_partition: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ' ');
        let (Some(p), Some(o), Some(v)) = (f.next(), f.next(), f.next()) else {
            panic!("kcat -C line {line:?} is not 'partition offset value'");
        };
        per_partition
            .entry(p.parse().expect("partition"))
            .or_default()
            .push((o.parse().expect("offset"), v.to_string()));
    }
    let mut seen: Vec<String> = Vec::new();
    for (p, recs) in &per_partition {
        let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
        let contiguous: Vec<i64> = (0..).take(offsets.len()).collect();
        assert_eq!(
            offsets, contiguous,
            "kcat partition {p}: offsets 0, 1, 2, …"
        );
        assert!(
            recs.windows(2).all(|w| w[0].1 < w[1].1),
            "kcat partition {p}: lines out of the order they were produced in"
        );
        seen.extend(recs.iter().map(|r| r.1.clone()));
    }
    seen.sort();
    assert_eq!(
        seen, lines,
        "kcat -C through node 1 returns every line exactly once"
    );

    cluster.stop_all();
}

#[test]
fn consumer_group_with_its_coordinator_on_another_node() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, GROUP_ARGS);
    let topic = "grouped";
    create_topic(&cluster.bootstrap(1), topic, PARTITIONS);
    let per_partition = 200;
    let sent = records("grouped", per_partition);
    let acked = produce(&cluster.bootstrap(2), topic, &sent);
    let end = per_partition as i64;
    assert!(acked.values().all(|m| m.len() == per_partition));

    // Members bootstrap from node 1; the group's coordinator is node 2.
    let offsets_leaders = offsets_topic_leaders(&cluster, 3, topic);
    let group = id_coordinated_by(2, "cluster-group", &offsets_leaders);
    let member: BaseConsumer = group_config(&cluster.bootstrap(1), &group)
        .create()
        .expect("create group member");
    member.subscribe(&[topic]).expect("subscribe");
    let mut got: BTreeMap<(i32, i64), Record> = BTreeMap::new();
    let deadline = Instant::now() + READ_TIMEOUT;
    while got.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "the member of {group} (bootstrap node 1, coordinator node 2) read {} of {} records \
             within {READ_TIMEOUT:?}\n{}",
            got.len(),
            sent.len(),
            cluster.logs_report()
        );
        match member.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                got.insert((m.partition(), m.offset()), Record::from_message(&m));
            }
            Some(Err(e)) => panic!("group member error: {e}\n{}", cluster.logs_report()),
        }
    }
    for (p, by_offset) in &acked {
        for (&offset, &index) in by_offset {
            let (_, key, value) = &sent[index];
            let rec = got.get(&(*p, offset));
            assert_eq!(
                rec.map(|r| (r.key.as_deref(), r.value.as_deref())),
                Some((Some(key.as_bytes()), Some(value.as_bytes()))),
                "partition {p} offset {offset} as the group member read it"
            );
        }
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Offset(end))
            .expect("add partition offset");
    }
    member
        .commit(&tpl, CommitMode::Sync)
        .unwrap_or_else(|e| panic!("commit through node 1: {e}\n{}", cluster.logs_report()));
    drop(member);

    // Read back through node 3.
    assert_eq!(
        committed(&cluster.bootstrap(3), &group, topic),
        offsets(|_| end),
        "{group}'s committed offsets, read through node 3"
    );

    // Kafka's console consumer in another group, coordinated by node 3, bootstrapping node 2.
    let console_group = id_coordinated_by(3, "cluster-console", &offsets_leaders);
    let node2 = cluster.bootstrap(2);
    let total = sent.len().to_string();
    if let Some(out) = java_tool(
        "kafka-console-consumer --group",
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            &node2,
            "--topic",
            topic,
            "--group",
            &console_group,
            "--from-beginning",
            "--max-messages",
            &total,
            "--timeout-ms",
            "30000",
        ],
    ) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<&str> = stdout.lines().collect();
        lines.sort_unstable();
        let mut want: Vec<&str> = sent.iter().map(|(_, _, v)| v.as_str()).collect();
        want.sort_unstable();
        assert!(
            out.status.success() && lines == want,
            "kafka-console-consumer --group {console_group} through node 2 printed {} lines, \
             want the {} values: {}\n{}",
            lines.len(),
            want.len(),
            output_text(&out),
            cluster.logs_report()
        );
        // It commits its position when it closes: the end of every partition.
        assert_eq!(
            committed(&cluster.bootstrap(1), &console_group, topic),
            offsets(|_| end),
            "{console_group}'s committed offsets after kafka-console-consumer, read through node 1"
        );
    }

    cluster.stop_all();
}

#[test]
fn kill9_of_the_active_controller_elects_another_and_loses_nothing() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    let before: Vec<String> = (0..3).map(|i| format!("before-{i}")).collect();
    for topic in &before {
        create_topic(&cluster.bootstrap(1), topic, 3);
    }
    let controller = cluster.wait_for_active_controller(|_| true);
    cluster.kill9(controller);
    let survivors: Vec<i32> = cluster
        .node_ids()
        .into_iter()
        .filter(|&id| id != controller)
        .collect();
    let via = survivors[0];

    // A metadata change through a survivor succeeds within the bound: a new controller leads.
    let during = "created-while-controller-down";
    let deadline = Instant::now() + SETTLE;
    let mut errors = Vec::new();
    loop {
        match try_create_topic(&cluster.bootstrap(via), during, 3) {
            Ok(()) => break,
            Err(e) => errors.push(e),
        }
        assert!(
            Instant::now() < deadline,
            "CreateTopics through node {via} kept failing for {SETTLE:?} after kill -9 of the \
             active controller {controller}: {errors:?}\n{}",
            cluster.logs_report()
        );
        thread::sleep(TICK);
    }
    let new_controller = cluster.wait_for_active_controller(|id| id != controller);
    eprintln!("active controller {controller} killed; {new_controller} leads now (CreateTopics errors before: {errors:?})");

    // Every survivor lists every topic: the earlier ones and the new one.
    for &id in &survivors {
        cluster.wait_for_metadata(id, None, "every topic listed by a survivor", |v| {
            before.iter().chain([&during.to_string()]).all(|t| {
                v.topics
                    .get(t)
                    .is_some_and(|t| t.error.is_none() && t.partitions.len() == 3)
            })
        });
    }

    // The killed node comes back and learns what changed while it was down.
    cluster.restart(controller);
    cluster.wait_for_leaders(controller, during, 3);
    let view = cluster
        .metadata(controller, None)
        .unwrap_or_else(|e| panic!("Metadata from the restarted node {controller}: {e}"));
    for topic in &before {
        assert!(
            view.topics.contains_key(topic),
            "{topic} listed by the restarted node: {view:#?}"
        );
    }
    assert_eq!(
        view.brokers,
        cluster.addresses(),
        "brokers listed by the restarted node"
    );

    cluster.stop_all();
}

#[test]
fn kill9_of_a_broker_leaves_its_partitions_leaderless_until_it_returns() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, GROUP_ARGS);
    let topic = "orphans";
    create_topic(&cluster.bootstrap(1), topic, PARTITIONS);
    let leaders = cluster.wait_for_leaders(1, topic, PARTITIONS);
    let mut sent = records("orphans", 50);
    let mut acked = produce(&cluster.bootstrap(1), topic, &sent);

    // A group commits distinct offsets per partition (assign, no membership).
    let group = "orphans-group";
    let committer: BaseConsumer = group_config(&cluster.bootstrap(1), group)
        .create()
        .expect("create committer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Offset(10 + i64::from(p)))
            .expect("add partition offset");
    }
    committer.assign(&tpl).expect("assign");
    committer
        .commit(&tpl, CommitMode::Sync)
        .unwrap_or_else(|e| panic!("commit: {e}\n{}", cluster.logs_report()));
    drop(committer);
    let want_committed = offsets(|p| 10 + i64::from(p));
    assert_eq!(
        committed(&cluster.bootstrap(2), group, topic),
        want_committed
    );

    // The victim leads some partitions and, if another node does too, is not the active
    // controller (that is the other test).
    let controller = cluster.wait_for_active_controller(|_| true);
    let leading: BTreeSet<i32> = leaders.values().copied().collect();
    let victim = leading
        .iter()
        .copied()
        .find(|&id| id != controller)
        .unwrap_or(controller);
    let orphaned: BTreeSet<i32> = leaders
        .iter()
        .filter(|(_, &l)| l == victim)
        .map(|(&p, _)| p)
        .collect();
    let survivor = cluster
        .node_ids()
        .into_iter()
        .find(|&id| id != victim)
        .expect("a survivor");
    cluster.kill9(victim);

    // Its partitions lose their leader; the others keep theirs.
    cluster.wait_for_metadata(
        survivor,
        Some(topic),
        &format!(
            "partitions {orphaned:?} of node {victim} without a leader, the others led as before"
        ),
        |v| {
            v.topics.get(topic).is_some_and(|t| {
                (0..PARTITIONS).all(|p| match t.partitions.get(&p) {
                    Some(pv) if orphaned.contains(&p) => pv.leaderless(),
                    Some(pv) => pv.error.is_none() && pv.leader == leaders[&p],
                    None => false,
                })
            })
        },
    );

    // The partitions that have a leader take writes.
    let more: Vec<Outgoing> = records("orphans-during", 20)
        .into_iter()
        .filter(|(p, _, _)| !orphaned.contains(p))
        .collect();
    let offset_base = sent.len();
    let more_acked = produce(&cluster.bootstrap(survivor), topic, &more);
    sent.extend(more);
    for (p, by_offset) in more_acked {
        let into = acked.entry(p).or_default();
        for (offset, index) in by_offset {
            assert!(
                into.insert(offset, offset_base + index).is_none(),
                "offset {offset} of partition {p} acknowledged twice"
            );
        }
    }

    // It returns: every partition has its leader again (replication factor 1: the same one).
    cluster.restart(victim);
    for via in [survivor, victim] {
        let now = cluster.wait_for_leaders(via, topic, PARTITIONS);
        assert_eq!(
            now, leaders,
            "leaders reported by node {via} after node {victim} returned"
        );
    }

    // Every acknowledged record is there, and the group's offsets are intact.
    assert_read_back(&cluster.bootstrap_all(), topic, &sent, &acked, &cluster);
    let reader: BaseConsumer = group_config(&cluster.bootstrap(victim), group)
        .create()
        .expect("create reader");
    reader.assign(&tpl).expect("assign");
    let deadline = Instant::now() + SETTLE;
    let got = loop {
        match reader.committed(Duration::from_secs(5)) {
            Ok(got) => break got,
            Err(e) => assert!(
                Instant::now() < deadline,
                "committed() of {group} kept failing after node {victim} returned: {e}\n{}",
                cluster.logs_report()
            ),
        }
        thread::sleep(TICK);
    };
    let got: BTreeMap<i32, Result<Offset, String>> = got
        .elements_for_topic(topic)
        .iter()
        .map(|e| {
            (
                e.partition(),
                e.error()
                    .map(|()| e.offset())
                    .map_err(|err| err.to_string()),
            )
        })
        .collect();
    assert_eq!(
        got, want_committed,
        "{group}'s committed offsets after node {victim} returned"
    );

    cluster.stop_all();
}

#[test]
fn broker_only_and_controller_only_nodes_form_a_cluster() {
    let _serial = one_cluster_at_a_time();
    let roles = [
        Role::Controller,
        Role::Controller,
        Role::Controller,
        Role::Broker,
        Role::Broker,
    ];
    let mut cluster = Cluster::start_with_roles(&roles, &[]);
    let brokers = cluster.broker_ids();
    assert_eq!(brokers, vec![4, 5]);
    let listed = cluster.addresses();
    for &id in &brokers {
        cluster.wait_for_metadata(id, None, "exactly the two brokers listed", |v| {
            v.brokers == listed
        });
    }

    // DescribeQuorum through a broker: the voters are the controllers, the brokers observe.
    let described = Conn::open(&cluster.bootstrap(4), "roles").call(
        &kafka_protocol::messages::DescribeQuorumRequest::default().with_topics(vec![
            kafka_protocol::messages::describe_quorum_request::TopicData::default()
                .with_topic_name(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("__cluster_metadata"),
                ))
                .with_partitions(vec![
                    kafka_protocol::messages::describe_quorum_request::PartitionData::default(),
                ]),
        ]),
        2,
    );
    let partition = &described.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{described:?}");
    let ids = |states: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
        states
            .iter()
            .map(|r| r.replica_id.0)
            .collect::<BTreeSet<i32>>()
    };
    assert_eq!(ids(&partition.current_voters), BTreeSet::from([1, 2, 3]));
    assert_eq!(ids(&partition.observers), BTreeSet::from([4, 5]));
    assert!(
        (1..=3).contains(&partition.leader_id.0),
        "the active controller is a controller-only node: {described:?}"
    );
    // v2 names every voter's controller endpoint, as controller.quorum.voters gives it.
    let endpoints: BTreeMap<i32, String> = described
        .nodes
        .iter()
        .map(|n| {
            let l = n.listeners.first().expect("a listener per voter");
            (n.node_id.0, format!("{}:{} ({})", l.host, l.port, l.name))
        })
        .collect();
    let want: BTreeMap<i32, String> = (1..=3)
        .map(|id| {
            let addr = cluster.controller_address(id);
            (id, format!("{addr} (CONTROLLER)"))
        })
        .collect();
    assert_eq!(endpoints, want, "{described:?}");

    // Kafka's kafka-metadata-quorum pointed at a controller that does not lead
    // (--bootstrap-controller: DescribeCluster there names the active controller, which answers
    // DescribeQuorum): three voters and the two brokers as observers.
    let active = partition.leader_id.0;
    let follower = (1..=3).find(|&id| id != active).expect("a follower");
    let via = cluster.controller_address(follower);
    if let Some(out) = java_tool(
        "kafka-metadata-quorum --bootstrap-controller",
        "org.apache.kafka.tools.MetadataQuorumCommand",
        &["--bootstrap-controller", &via, "describe", "--replication"],
    ) {
        let text = output_text(&out);
        assert!(out.status.success(), "{text}");
        let roles: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let id = l.split_whitespace().next()?.to_string();
                Some((id, l.split_whitespace().last()?.to_string()))
            })
            .collect();
        let want: BTreeMap<String, String> = (1..=5)
            .map(|id: i32| {
                let role = match id {
                    _ if id == active => "Leader",
                    1..=3 => "Follower",
                    _ => "Observer",
                };
                (id.to_string(), role.to_string())
            })
            .collect();
        assert_eq!(roles, want, "{text}");
    }

    // Partitions spread over the brokers only; records in through one, out through the other.
    let topic = "split-roles";
    create_topic(&cluster.bootstrap(4), topic, PARTITIONS);
    let leaders = cluster.wait_for_leaders(5, topic, PARTITIONS);
    assert_eq!(
        leaders.values().copied().collect::<BTreeSet<i32>>(),
        BTreeSet::from([4, 5]),
        "leaders of {topic}: {leaders:?}"
    );
    let sent = records("split", 200);
    let acked = produce(&cluster.bootstrap(5), topic, &sent);
    assert_read_back(&cluster.bootstrap(4), topic, &sent, &acked, &cluster);

    // kill -9 of the active controller: the brokers go on, and a metadata change through a
    // broker succeeds once another controller leads.
    let controller = cluster.wait_for_active_controller(|id| id <= 3);
    cluster.kill9(controller);
    let after = "created-after-failover";
    let deadline = Instant::now() + SETTLE;
    let mut errors = Vec::new();
    while let Err(e) = try_create_topic(&cluster.bootstrap(4), after, 3) {
        errors.push(e);
        assert!(
            Instant::now() < deadline,
            "CreateTopics through broker 4 kept failing for {SETTLE:?} after kill -9 of the \
             active controller {controller}: {errors:?}\n{}",
            cluster.logs_report()
        );
        thread::sleep(TICK);
    }
    cluster.wait_for_leaders(5, after, 3);
    assert_read_back(&cluster.bootstrap(5), topic, &sent, &acked, &cluster);

    // The killed controller returns; a broker killed and restarted catches up on the topic
    // created while it was down and still holds every record of its partitions.
    cluster.restart(controller);
    cluster.kill9(5);
    let while_down = "created-while-broker-down";
    create_topic(&cluster.bootstrap(4), while_down, 2);
    cluster.restart(5);
    cluster.wait_for_leaders(5, while_down, 2);
    cluster.wait_for_leaders(5, topic, PARTITIONS);
    assert_read_back(&cluster.bootstrap(5), topic, &sent, &acked, &cluster);

    cluster.stop_all();
}

/// The smallest split cluster (README's example): one controller-only node, a one-voter quorum,
/// and one broker-only node observing it.
#[test]
fn one_controller_and_one_broker_node() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start_with_roles(&[Role::Controller, Role::Broker], &[]);
    let topic = "one-of-each";
    create_topic(&cluster.bootstrap(2), topic, PARTITIONS);
    let leaders = cluster.wait_for_leaders(2, topic, PARTITIONS);
    assert!(leaders.values().all(|&l| l == 2), "{leaders:?}");
    let sent = records("one-of-each", 20);
    let acked = produce(&cluster.bootstrap(2), topic, &sent);
    assert_read_back(&cluster.bootstrap(2), topic, &sent, &acked, &cluster);
    // The broker restarts (its lease, its registration and the log it follows come back).
    cluster.restart(2);
    cluster.wait_for_leaders(2, topic, PARTITIONS);
    assert_read_back(&cluster.bootstrap(2), topic, &sent, &acked, &cluster);
    cluster.stop_all();
}
