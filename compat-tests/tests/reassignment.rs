//! Partition reassignment and CreatePartitions with replica assignments (issue 13, KIP-455),
//! with real processes: one controller-only node (1) and three brokers (2, 3, 4), one cluster
//! start for every check.
//!
//! - Kafka's `kafka-reassign-partitions --execute` moves an RF 2 partition from brokers [2, 3]
//!   to [4, 3] (its leader, 2, leaves; 4 is a brand-new replica) while an idempotent `acks=all`
//!   rdkafka producer keeps writing to it; `--verify` reports it completed. Afterwards every
//!   acknowledged record is read back exactly once, in order, with contiguous offsets; Metadata
//!   reports the new replicas; broker 2's partition directory is gone; the two new replicas hold
//!   byte-identical `.log` contents.
//! - AlterPartitionReassignments refusals: an unregistered broker, duplicates and an empty list
//!   are INVALID_REPLICA_ASSIGNMENT, an unknown partition UNKNOWN_TOPIC_OR_PARTITION, a cancel
//!   with none in progress NO_REASSIGNMENT_IN_PROGRESS.
//! - A reassignment that cannot finish (its new replica, broker 2, is killed) is listed by
//!   ListPartitionReassignments (replicas, adding, removing), Metadata shows the union, and, after
//!   a restart of the controller, a cancel (null replicas) reverts it.
//! - A partition reassigned away from a broker that is down: the broker removes its stray copy
//!   when it restarts.
//! - CreatePartitions with explicit assignments (rdkafka `NewPartitions::assign`): Metadata shows
//!   the given replicas; an assignment naming an unregistered broker is INVALID_REPLICA_ASSIGNMENT.
//!
//! Every wait is bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{one_cluster_at_a_time, Cluster, Role};
use compat_tests::conn::Conn;
use compat_tests::tools::{kafka_classpath, output_text, run_java_tool};
use compat_tests::{
    acked_offsets, admin_config, assert_all_delivered, block_on, log_bytes, producer_config,
    read_all, send_bounded, RecordingContext,
};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;

const TOPIC: &str = "moving";
const BROKERS: [i32; 3] = [2, 3, 4];
/// Bound on every wait for the cluster to change.
const SETTLE: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(200);
/// At most this many records are produced during the move.
const MAX_RECORDS: usize = 20_000;
/// A topic moved with a backlog under a replication throttle.
const BACKLOG: &str = "backlog";
/// Its records, 1 KiB each.
const BACKLOG_RECORDS: usize = 2048;
/// `kafka-reassign-partitions --throttle`, bytes per second: far above the load on `moving`,
/// far below what moving the backlog takes unthrottled.
const THROTTLE: &str = "400000";

/// The value of a config set dynamically (source DYNAMIC_*: topic override or dynamic broker
/// config) on `resource`, if any.
fn dynamic_config(
    admin: &AdminClient<DefaultClientContext>,
    resource: ResourceSpecifier<'_>,
    name: &str,
) -> Option<String> {
    let r = block_on(admin.describe_configs([&resource], &opts())).expect("describe_configs");
    let [Ok(described)] = r.as_slice() else {
        panic!("describe_configs {resource:?}: {r:?}");
    };
    described
        .entries
        .iter()
        .find(|e| {
            e.name == name
                && matches!(
                    e.source,
                    ConfigSource::DynamicTopic
                        | ConfigSource::DynamicBroker
                        | ConfigSource::DynamicDefaultBroker
                )
        })
        .and_then(|e| e.value.clone())
}

fn bootstrap_of(cluster: &Cluster, ids: &[i32]) -> String {
    ids.iter()
        .map(|b| cluster.bootstrap(*b))
        .collect::<Vec<_>>()
        .join(",")
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    admin_config(bootstrap)
        .create()
        .expect("create AdminClient")
}

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))))
}

/// Waits until node `via` reports partition `p` of [`TOPIC`] with `replicas` and a leader;
/// returns (leader, isr).
fn wait_for_replicas(cluster: &Cluster, via: i32, p: i32, replicas: &[i32]) -> (i32, Vec<i32>) {
    wait_for_topic_replicas(cluster, via, TOPIC, p, replicas)
}

/// Waits (bounded) until `via`'s Metadata shows `topic`-`p` on `replicas` with a leader;
/// returns the leader and ISR.
fn wait_for_topic_replicas(
    cluster: &Cluster,
    via: i32,
    topic: &str,
    p: i32,
    replicas: &[i32],
) -> (i32, Vec<i32>) {
    let view = cluster.wait_for_metadata(
        via,
        Some(topic),
        &format!("{topic}-{p} on replicas {replicas:?}"),
        |v| {
            v.topics
                .get(topic)
                .and_then(|t| t.partitions.get(&p))
                .is_some_and(|x| x.replicas == replicas && x.leader >= 0)
        },
    );
    let x = &view.topics[topic].partitions[&p];
    (x.leader, x.isr.clone())
}

fn alter(
    bootstrap: &str,
    partitions: Vec<(&str, i32, Option<Vec<i32>>)>,
) -> AlterPartitionReassignmentsResponse {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for (topic, index, replicas) in partitions {
        let p = ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()));
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    Conn::open(bootstrap, "reassign").call(
        &AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_allow_replication_factor_change(true)
            .with_topics(topics),
        1,
    )
}

/// Error code per (topic, partition) of an AlterPartitionReassignments answer.
fn codes(r: &AlterPartitionReassignmentsResponse) -> BTreeMap<(String, i32), i16> {
    assert_eq!(r.error_code, 0, "top-level error: {:?}", r.error_message);
    r.responses
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| ((t.name.0.to_string(), p.partition_index), p.error_code))
        })
        .collect()
}

/// `(replicas, adding, removing)` per partition of [`TOPIC`] listed as being reassigned,
/// asking for `partitions` (`None`: all).
fn list(bootstrap: &str, partitions: Option<Vec<i32>>) -> BTreeMap<i32, [Vec<i32>; 3]> {
    let topics = partitions.map(|ps| {
        vec![ListPartitionReassignmentsTopics::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_indexes(ps)]
    });
    let r = Conn::open(bootstrap, "reassign").call(
        &ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(topics),
        0,
    );
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    r.topics
        .iter()
        .filter(|t| t.name.0.as_str() == TOPIC)
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                [
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                ],
            )
        })
        .collect()
}

#[test]
fn reassignment_moves_a_partition_under_load_and_create_partitions_takes_assignments() {
    let _one = one_cluster_at_a_time();
    let mut cluster = Cluster::start_with_roles(
        &[Role::Controller, Role::Broker, Role::Broker, Role::Broker],
        &[
            "--set",
            "replica.lag.time.max.ms=4000",
            "--set",
            "offsets.topic.num.partitions=3",
            // Throttles measured over 2 s (Kafka: 11): they engage within the test's data.
            "--set",
            "replication.quota.window.num=2",
        ],
    );
    let all = bootstrap_of(&cluster, &BROKERS);
    // Broker 3 stays a replica and alive throughout: the chosen requests go to it.
    let via = cluster.bootstrap(3);
    let admin = admin(&all);

    // One partition on [2, 3] (2 leads), retried while the brokers register.
    let deadline = Instant::now() + SETTLE;
    loop {
        let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[2, 3]]));
        match block_on(admin.create_topics([&topic], &opts())).as_deref() {
            Ok([Ok(_)]) => break,
            other => {
                assert!(Instant::now() < deadline, "creating {TOPIC}: {other:?}");
                thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let (leader, _) = wait_for_replicas(&cluster, 4, 0, &[2, 3]);
    assert_eq!(leader, 2);
    // A second topic, on broker 2 alone, with a backlog of 2 MiB: moved to broker 4 under a
    // throttle of THROTTLE bytes/s, it must be held back.
    let topic = NewTopic::new(BACKLOG, 1, TopicReplication::Variable(&[&[2]]));
    let r = block_on(admin.create_topics([&topic], &opts())).expect("create_topics");
    assert!(matches!(r.as_slice(), [Ok(_)]), "{r:?}");
    wait_for_topic_replicas(&cluster, 3, BACKLOG, 0, &[2]);
    let backlog: Vec<Vec<u8>> = (0..BACKLOG_RECORDS)
        .map(|i| format!("{i:08}").repeat(128).into_bytes())
        .collect();
    {
        let ctx = RecordingContext::default();
        let p: ThreadedProducer<RecordingContext> = producer_config(&all)
            .set("acks", "all")
            .set("message.timeout.ms", "60000")
            .create_with_context(ctx.clone())
            .expect("create producer");
        for (i, v) in backlog.iter().enumerate() {
            send_bounded(
                &p,
                BaseRecord::<(), _, usize>::with_opaque_to(BACKLOG, i)
                    .partition(0)
                    .payload(v),
            );
        }
        p.flush(Duration::from_secs(60)).expect("flush the backlog");
        assert_all_delivered(&ctx.snapshot(), backlog.len());
    }

    // Refusals, answered without a change.
    let refused = codes(&alter(
        &via,
        vec![
            (TOPIC, 0, Some(vec![3, 9])),
            (TOPIC, 1, Some(vec![3])),
            ("no-such-topic", 0, Some(vec![3])),
        ],
    ));
    assert_eq!(
        refused[&(TOPIC.to_string(), 0)],
        ResponseError::InvalidReplicaAssignment.code()
    );
    assert_eq!(
        refused[&(TOPIC.to_string(), 1)],
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        refused[&("no-such-topic".to_string(), 0)],
        ResponseError::UnknownTopicOrPartition.code()
    );
    for bad in [vec![3, 3], vec![]] {
        let r = codes(&alter(&via, vec![(TOPIC, 0, Some(bad.clone()))]));
        assert_eq!(
            r[&(TOPIC.to_string(), 0)],
            ResponseError::InvalidReplicaAssignment.code(),
            "{bad:?}"
        );
    }
    let r = codes(&alter(&via, vec![(TOPIC, 0, None)]));
    assert_eq!(
        r[&(TOPIC.to_string(), 0)],
        ResponseError::NoReassignmentInProgress.code()
    );
    assert!(list(&via, None).is_empty());

    // An idempotent acks=all producer writes to the partition throughout the move.
    let context = RecordingContext::default();
    let producer: Arc<ThreadedProducer<RecordingContext>> = Arc::new(
        producer_config(&all)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "60000")
            .create_with_context(context.clone())
            .expect("create producer"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (producer, stop) = (producer.clone(), stop.clone());
        thread::spawn(move || {
            let mut sent = Vec::new();
            while !stop.load(Ordering::Acquire) && sent.len() < MAX_RECORDS {
                let value = format!("v-{}", sent.len());
                send_bounded(
                    &producer,
                    BaseRecord::<str, str, usize>::with_opaque_to(TOPIC, sent.len())
                        .partition(0)
                        .key(value.as_str())
                        .payload(value.as_str()),
                );
                sent.push(value);
                thread::sleep(Duration::from_millis(1));
            }
            sent
        })
    };
    // Some records are acknowledged before the move starts.
    compat_tests::wait_until("first acknowledgements", SETTLE, TICK, || {
        (context.reported() >= 200).then_some(())
    });

    let started = Instant::now();
    let moved = match kafka_classpath() {
        Ok(classpath) => {
            let json = cluster.work_dir().join("reassign.json");
            std::fs::write(
                &json,
                format!(
                    r#"{{"version":1,"partitions":[{{"topic":"{TOPIC}","partition":0,"replicas":[4,3]}},{{"topic":"{BACKLOG}","partition":0,"replicas":[4]}}]}}"#
                ),
            )
            .expect("write the reassignment file");
            let json = json.display().to_string();
            let tool = |mode: &str, extra: &[&str]| {
                let mut args = vec![
                    "--bootstrap-server",
                    &all,
                    mode,
                    "--reassignment-json-file",
                    &json,
                ];
                args.extend_from_slice(extra);
                run_java_tool(
                    &classpath,
                    "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
                    &args,
                )
            };
            let out = tool("--execute", &["--throttle", THROTTLE]);
            assert!(
                out.status.success(),
                "kafka-reassign-partitions --execute: {}\n{}",
                output_text(&out),
                cluster.logs_report()
            );
            // The tool set the throttles: the rates on every broker concerned, the replica
            // lists on the topics.
            let rate = dynamic_config(
                &admin,
                ResourceSpecifier::Broker(4),
                "leader.replication.throttled.rate",
            );
            assert_eq!(
                rate.as_deref(),
                Some(THROTTLE),
                "broker 4's leader throttle"
            );
            let listed = dynamic_config(
                &admin,
                ResourceSpecifier::Topic(BACKLOG),
                "follower.replication.throttled.replicas",
            );
            assert_eq!(
                listed.as_deref(),
                Some("0:4"),
                "the moving replica is throttled"
            );
            let (leader, _) = wait_for_replicas(&cluster, 3, 0, &[4, 3]);
            assert_eq!(
                leader, 4,
                "the leader left: the first target replica in sync leads"
            );
            wait_for_topic_replicas(&cluster, 3, BACKLOG, 0, &[4]);
            // Without --preserve-throttles, --verify removes them once everything moved.
            let out = tool("--verify", &[]);
            let text = output_text(&out);
            assert!(
                out.status.success()
                    && text.contains(&format!("Reassignment of partition {TOPIC}-0 is completed"))
                    && text.contains(&format!(
                        "Reassignment of partition {BACKLOG}-0 is completed"
                    ))
                    && text.contains("Clearing broker-level throttles"),
                "kafka-reassign-partitions --verify: {text}\n{}",
                cluster.logs_report()
            );
            for b in BROKERS {
                let rate = dynamic_config(
                    &admin,
                    ResourceSpecifier::Broker(b),
                    "follower.replication.throttled.rate",
                );
                assert_eq!(rate, None, "broker {b}'s throttle removed");
            }
            for t in [TOPIC, BACKLOG] {
                let listed = dynamic_config(
                    &admin,
                    ResourceSpecifier::Topic(t),
                    "leader.replication.throttled.replicas",
                );
                assert_eq!(listed, None, "{t}'s throttled replicas removed");
            }
            // The backlog's move was held back: the leader (2) or the follower (4) logged it.
            let logs = [2, 4].map(|b| cluster.node(b).log());
            assert!(
                logs.iter().any(|l| l.contains("replication throttled")),
                "moving 2 MiB under a {THROTTLE} bytes/s throttle never throttled\n{}",
                cluster.logs_report()
            );
            let moved = read_all(&bootstrap_of(&cluster, &[4]), BACKLOG, 1, SETTLE);
            assert_eq!(moved[&0].len(), backlog.len(), "the backlog moved whole");
            true
        }
        Err(why) => {
            eprintln!("note: Kafka's jars are not available ({why}); moving with AlterPartitionReassignments");
            let r = codes(&alter(&via, vec![(TOPIC, 0, Some(vec![4, 3]))]));
            assert_eq!(r[&(TOPIC.to_string(), 0)], 0);
            wait_for_replicas(&cluster, 3, 0, &[4, 3]);
            false
        }
    };
    // A few hundred more records through the new leader, then stop.
    let at_move = context.reported();
    println!(
        "reassignment done in {:?}, {at_move} records acknowledged so far",
        started.elapsed()
    );
    compat_tests::wait_until("acknowledgements after the move", SETTLE, TICK, || {
        (context.reported() >= at_move + 300).then_some(())
    });
    stop.store(true, Ordering::Release);
    let sent = writer.join().expect("producer thread");
    producer
        .flush(Duration::from_secs(90))
        .expect("every record delivered or failed within 90 s");
    let deliveries = context.snapshot();
    assert_all_delivered(&deliveries, sent.len());
    let acked = acked_offsets(&deliveries).remove(&0).unwrap_or_default();
    let offsets: Vec<i64> = acked.keys().copied().collect();
    assert_eq!(
        offsets,
        (0..sent.len() as i64).collect::<Vec<_>>(),
        "contiguous offsets"
    );
    let stored = read_all(&bootstrap_of(&cluster, &[3, 4]), TOPIC, 1, SETTLE);
    let got = &stored[&0];
    assert_eq!(
        got.len(),
        acked.len(),
        "read back\n{}",
        cluster.logs_report()
    );
    for (rec, (offset, index)) in got.iter().zip(&acked) {
        assert_eq!(rec.offset, *offset);
        assert_eq!(
            rec.value.as_deref(),
            Some(sent[*index].as_bytes()),
            "offset {offset}"
        );
    }

    // Broker 2 deleted its copy; 3 and 4 hold the same bytes.
    let dir = |b: i32| cluster.work_dir().join(format!("node-{b}/{TOPIC}-0"));
    compat_tests::wait_until("broker 2's copy deleted", SETTLE, TICK, || {
        (!dir(2).exists()).then_some(())
    });
    let deadline = Instant::now() + SETTLE;
    let bytes = loop {
        let (a, b) = (log_bytes(&dir(3)), log_bytes(&dir(4)));
        if a == b && !a.is_empty() {
            break a.len();
        }
        assert!(
            Instant::now() < deadline,
            "replicas differ: {} vs {} bytes\n{}",
            a.len(),
            b.len(),
            cluster.logs_report()
        );
        thread::sleep(TICK);
    };
    println!(
        "moved {TOPIC}-0 from [2, 3] to [4, 3] (kafka-reassign-partitions: {moved}) under {} acknowledged records; replicas identical ({bytes} bytes)",
        sent.len()
    );

    // CreatePartitions with assignments; one naming an unregistered broker is refused.
    let grow = NewPartitions::new(TOPIC, 3).assign(&[&[3, 4], &[4, 2]]);
    let r = block_on(admin.create_partitions([&grow], &opts())).expect("create_partitions");
    assert!(matches!(r.as_slice(), [Ok(_)]), "{r:?}");
    wait_for_replicas(&cluster, 2, 1, &[3, 4]);
    wait_for_replicas(&cluster, 2, 2, &[4, 2]);
    let bad = NewPartitions::new(TOPIC, 4).assign(&[&[3, 9]]);
    let r = block_on(admin.create_partitions([&bad], &opts())).expect("create_partitions");
    assert!(
        matches!(
            r.as_slice(),
            [Err((_, RDKafkaErrorCode::InvalidReplicaAssignment))]
        ),
        "{r:?}"
    );

    // A reassignment that cannot finish: broker 2 (registered, killed) is to join partition 0.
    cluster.kill9(2);
    let r = codes(&alter(&via, vec![(TOPIC, 0, Some(vec![4, 3, 2]))]));
    assert_eq!(r[&(TOPIC.to_string(), 0)], 0);
    wait_for_replicas(&cluster, 3, 0, &[4, 3, 2]);
    let ongoing = list(&via, Some(vec![0, 1, 7]));
    assert_eq!(
        ongoing.get(&0),
        Some(&[vec![4, 3, 2], vec![2], vec![]]),
        "ListPartitionReassignments: {ongoing:?}"
    );
    assert_eq!(list(&via, None).len(), 1);
    // The reassignment is in the metadata log: the controller restarts (replaying it) and the
    // cancel it then applies finds it in progress.
    cluster.restart(1);
    cluster.wait_for_active_controller(|id| id == 1);
    // Cancel: back to [4, 3], nothing in progress (retried while the restarted controller
    // settles: a top-level error such as NOT_CONTROLLER or REQUEST_TIMED_OUT).
    let r = compat_tests::wait_until("the cancel is answered", SETTLE, TICK, || {
        let r = alter(&via, vec![(TOPIC, 0, None)]);
        (r.error_code == 0).then(|| codes(&r))
    });
    assert_eq!(r[&(TOPIC.to_string(), 0)], 0);
    wait_for_replicas(&cluster, 3, 0, &[4, 3]);
    assert!(list(&via, None).is_empty());

    // Partition 2 leaves broker 2 while it is down ([4, 2] → [4, 3]: a removed replica need not
    // be alive); on its restart broker 2 removes its stray copy.
    let r = codes(&alter(&via, vec![(TOPIC, 2, Some(vec![4, 3]))]));
    assert_eq!(r[&(TOPIC.to_string(), 2)], 0);
    wait_for_replicas(&cluster, 3, 2, &[4, 3]);
    let stray = cluster.work_dir().join(format!("node-2/{TOPIC}-2"));
    assert!(stray.exists(), "broker 2 was down: its copy is still there");
    cluster.restart(2);
    compat_tests::wait_until("broker 2's stray copy removed", SETTLE, TICK, || {
        (!stray.exists()).then_some(())
    });
    assert!(list(&via, None).is_empty());
}

/// A single broker (no cluster): `[node]` is already the assignment (NONE), another broker is
/// INVALID_REPLICA_ASSIGNMENT, a cancel NO_REASSIGNMENT_IN_PROGRESS, and nothing is listed: what
/// Kafka answers on a one-broker cluster.
#[test]
fn a_single_broker_answers_as_a_one_broker_cluster() {
    let _one = one_cluster_at_a_time();
    let broker = compat_tests::Broker::start(&["--set", "node.id=1"]);
    let addr = broker.bootstrap().to_string();
    compat_tests::create_topic(&addr, TOPIC, 1);
    let r = codes(&alter(
        &addr,
        vec![(TOPIC, 0, Some(vec![1])), (TOPIC, 1, Some(vec![1]))],
    ));
    assert_eq!(r[&(TOPIC.to_string(), 0)], 0);
    assert_eq!(
        r[&(TOPIC.to_string(), 1)],
        ResponseError::UnknownTopicOrPartition.code()
    );
    let r = codes(&alter(&addr, vec![(TOPIC, 0, Some(vec![2]))]));
    assert_eq!(
        r[&(TOPIC.to_string(), 0)],
        ResponseError::InvalidReplicaAssignment.code()
    );
    let r = codes(&alter(&addr, vec![(TOPIC, 0, None)]));
    assert_eq!(
        r[&(TOPIC.to_string(), 0)],
        ResponseError::NoReassignmentInProgress.code()
    );
    assert!(list(&addr, None).is_empty());
    assert!(list(&addr, Some(vec![0])).is_empty());
}
