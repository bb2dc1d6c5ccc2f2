//! Fetch from the closest replica (KIP-392, issue 13): one controller-only node and three brokers
//! in racks r1, r2 and r3 with `replica.selector.class` = Kafka's `RackAwareReplicaSelector`.
//!
//! - An rdkafka consumer with `client.rack` = a follower's rack reads every record of an RF 3
//!   topic, and it read them from that follower: librdkafka's statistics name the broker it
//!   fetches the partition from (`broker`, beside `leader`), and the leader's log shows the
//!   redirection (its fetch handler logs it at debug level, enabled for this test's nodes). A
//!   consumer without a rack reads from the leader.
//! - The brokers' racks are in Metadata and DescribeCluster.
//! - Raw requests pin down the answers: the leader sends a consumer of a follower's rack there
//!   (`preferred_read_replica`, no records) and serves one of its own rack or an unknown rack;
//!   the follower serves Fetch v12 up to its high watermark (read_committed: its last stable
//!   offset), answers an offset past its log end
//!   OFFSET_OUT_OF_RANGE, and answers Fetch v10 (no client metadata) and ListOffsets
//!   NOT_LEADER_OR_FOLLOWER.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{one_cluster_at_a_time, Cluster, Role};
use compat_tests::conn::Conn;
use compat_tests::{admin_config, block_on, consumer_config, producer_config};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "rack-fetch";
const RECORDS: usize = 300;
const RACK_AWARE: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
/// Bound on each wait of this test.
const WAIT: Duration = Duration::from_secs(30);
/// What the leader logs (debug) when it sends a consumer to a replica in its rack.
const REDIRECT_LINE: &str = "consumer sent to a replica in its rack";

/// Node 1 is the controller; brokers 2, 3 and 4 are in racks r1, r2 and r3.
fn rack_of(broker: i32) -> String {
    format!("r{}", broker - 1)
}

fn cluster() -> Cluster {
    // The leader's redirection is logged at debug level by the fetch handler; the nodes inherit
    // this filter (read by the harness when it spawns them).
    std::env::set_var(
        "MINIKAFKA_TEST_RUST_LOG",
        "info,minikafka::handlers::fetch=debug",
    );
    let selector = format!("replica.selector.class={RACK_AWARE}");
    Cluster::start_with_node_args(
        &[Role::Controller, Role::Broker, Role::Broker, Role::Broker],
        &["--set", &selector],
        |id, _, _| match id {
            1 => Vec::new(),
            broker => vec!["--set".to_string(), format!("broker.rack=r{}", broker - 1)],
        },
    )
}

/// Keeps the last statistics librdkafka reported.
#[derive(Clone, Default)]
struct StatsContext {
    last: Arc<Mutex<Option<Statistics>>>,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        *self.last.lock().expect("stats lock") = Some(statistics);
    }
}

impl ConsumerContext for StatsContext {}

impl StatsContext {
    /// (broker fetched from, leader) of partition 0 of [`TOPIC`] in the last statistics.
    fn fetching_from(&self) -> Option<(i32, i32)> {
        let last = self.last.lock().expect("stats lock");
        let p = last.as_ref()?.topics.get(TOPIC)?.partitions.get(&0)?;
        Some((p.broker, p.leader))
    }
}

/// Reads partition 0 of [`TOPIC`] from the beginning with `client.rack` = `rack` (none if
/// empty) until end of partition after [`RECORDS`] records, then polls until librdkafka's
/// statistics name the broker it fetches from. Returns the values read and (broker, leader).
fn read_with_rack(bootstrap: &str, rack: &str) -> (Vec<String>, (i32, i32)) {
    let mut config = consumer_config(bootstrap);
    config.set("statistics.interval.ms", "100");
    if !rack.is_empty() {
        config.set("client.rack", rack);
    }
    let context = StatsContext::default();
    let c: BaseConsumer<StatsContext> = config
        .create_with_context(context.clone())
        .expect("create consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("add partition");
    c.assign(&tpl).expect("assign");
    let mut values = Vec::new();
    let mut at_eof = false;
    let deadline = Instant::now() + WAIT;
    // Bounded: 200 ms polls until the deadline.
    while !(at_eof && values.len() >= RECORDS) {
        assert!(
            Instant::now() < deadline,
            "rack {rack:?}: read {} of {RECORDS} records within {WAIT:?}",
            values.len()
        );
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                at_eof = false;
                let v = m.payload().map(|p| String::from_utf8_lossy(p).into_owned());
                values.push(v.unwrap_or_default());
            }
            Some(Err(KafkaError::PartitionEOF(_))) => at_eof = true,
            Some(Err(e)) => panic!("rack {rack:?}: consumer error {e}"),
        }
    }
    // The statistics are taken after every record was read: the broker the partition is
    // fetched from then is the one that served them (a redirection happens before any record).
    *context.last.lock().expect("stats lock") = None;
    let deadline = Instant::now() + WAIT;
    let from = loop {
        c.poll(Duration::from_millis(100));
        if let Some(from) = context.fetching_from().filter(|(b, _)| *b >= 0) {
            break from;
        }
        assert!(
            Instant::now() < deadline,
            "rack {rack:?}: no statistics naming the partition's broker within {WAIT:?}"
        );
    };
    (values, from)
}

fn expected_values() -> Vec<String> {
    (0..RECORDS).map(|i| format!("v-{i}")).collect()
}

fn produce_all(bootstrap: &str) {
    let producer: BaseProducer = producer_config(bootstrap)
        .set("acks", "all")
        .create()
        .expect("producer");
    for v in expected_values() {
        producer
            .send(BaseRecord::<(), str>::to(TOPIC).partition(0).payload(&v))
            .expect("enqueue");
    }
    producer
        .flush(Timeout::After(WAIT))
        .expect("every record acknowledged");
}

fn create_topic(cluster: &Cluster, bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = admin_config(bootstrap).create().expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))));
    let deadline = Instant::now() + WAIT;
    loop {
        let new = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(3));
        match block_on(admin.create_topics([&new], &opts)).as_deref() {
            Ok([Ok(_)]) => return,
            other => assert!(
                Instant::now() < deadline,
                "creating {TOPIC} with RF 3: {other:?}\n{}",
                cluster.logs_report()
            ),
        }
        thread::sleep(Duration::from_millis(300));
    }
}

/// A consumer's Fetch of partition 0 from `offset` at `version` (12 or older: by name) with
/// `rack`, answered at once.
fn fetch(conn: &mut Conn, version: i16, offset: i64, rack: &str) -> PartitionData {
    fetch_isolated(conn, version, offset, rack, 0)
}

/// [`fetch`] at `isolation` (1 = read_committed).
fn fetch_isolated(
    conn: &mut Conn,
    version: i16,
    offset: i64,
    rack: &str,
    isolation: i8,
) -> PartitionData {
    let r = conn.call(
        &FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_rack_id(StrBytes::from_string(rack.to_string()))
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]),
        version,
    );
    r.responses[0].partitions[0].clone()
}

fn records_len(pd: &PartitionData) -> usize {
    pd.records.as_ref().map_or(0, |r| r.len())
}

#[test]
fn a_consumer_reads_from_the_replica_in_its_rack() {
    let _one = one_cluster_at_a_time();
    let mut cluster = cluster();
    let bootstrap = [2, 3, 4]
        .iter()
        .map(|b| cluster.bootstrap(*b))
        .collect::<Vec<_>>()
        .join(",");

    // Metadata and DescribeCluster carry every broker's rack.
    let want: BTreeMap<i32, String> = [2, 3, 4].iter().map(|b| (*b, rack_of(*b))).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let mut conn = Conn::open(&cluster.bootstrap(2), "rack");
        let md = conn.call(&MetadataRequest::default().with_topics(Some(vec![])), 12);
        let dc = conn.call(&DescribeClusterRequest::default(), 0);
        let racks = |it: Vec<(i32, Option<StrBytes>)>| -> BTreeMap<i32, String> {
            it.into_iter()
                .map(|(id, r)| (id, r.map(|r| r.to_string()).unwrap_or_default()))
                .collect()
        };
        let (md, dc) = (
            racks(
                md.brokers
                    .iter()
                    .map(|b| (b.node_id.0, b.rack.clone()))
                    .collect(),
            ),
            racks(
                dc.brokers
                    .iter()
                    .map(|b| (b.broker_id.0, b.rack.clone()))
                    .collect(),
            ),
        );
        if md == want && dc == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "racks: Metadata {md:?}, DescribeCluster {dc:?}, want {want:?}"
        );
        thread::sleep(Duration::from_millis(200));
    }

    create_topic(&cluster, &bootstrap);
    let view = cluster.wait_for_metadata(2, Some(TOPIC), "3 in sync", |v| {
        v.topics
            .get(TOPIC)
            .and_then(|t| t.partitions.get(&0))
            .is_some_and(|p| p.leader >= 0 && p.isr.len() == 3)
    });
    let placement = &view.topics[TOPIC].partitions[&0];
    let leader = placement.leader;
    let follower = *placement
        .replicas
        .iter()
        .find(|r| **r != leader)
        .expect("a follower");
    produce_all(&bootstrap);

    // A consumer in the follower's rack reads everything, from the follower.
    let (values, (from, known_leader)) = read_with_rack(&bootstrap, &rack_of(follower));
    assert_eq!(
        values,
        expected_values(),
        "records read in the follower's rack"
    );
    assert_eq!(
        (from, known_leader),
        (follower, leader),
        "librdkafka fetched partition 0 from the follower in its rack {}, leader {leader}\n{}",
        rack_of(follower),
        cluster.logs_report()
    );
    let leader_log = cluster.node(leader).log();
    let redirect = format!("preferred_read_replica={follower}");
    assert!(
        leader_log
            .lines()
            .any(|l| l.contains(REDIRECT_LINE) && l.contains(&redirect)),
        "the leader {leader} logged sending the consumer to {follower}\n{}",
        cluster.logs_report()
    );

    // A consumer without a rack reads from the leader.
    let (values, (from, _)) = read_with_rack(&bootstrap, "");
    assert_eq!(values, expected_values(), "records read without a rack");
    assert_eq!(
        from, leader,
        "without a rack librdkafka fetches from the leader"
    );

    // The leader's answers: a follower's rack is redirected (no records), its own rack or an
    // unknown one served.
    let mut at_leader = Conn::open(&cluster.bootstrap(leader), "rack");
    let pd = fetch(&mut at_leader, 12, 0, &rack_of(follower));
    assert_eq!(
        (pd.error_code, pd.preferred_read_replica.0, records_len(&pd)),
        (0, follower, 0),
        "leader, rack of the follower: {pd:?}"
    );
    for rack in [rack_of(leader), "nowhere".to_string()] {
        let pd = fetch(&mut at_leader, 12, 0, &rack);
        assert_eq!(pd.error_code, 0, "leader, rack {rack}: {pd:?}");
        assert_eq!(pd.preferred_read_replica.0, -1, "leader, rack {rack}");
        assert!(records_len(&pd) > 0, "leader, rack {rack}: records served");
    }

    // The follower's answers.
    let mut at_follower = Conn::open(&cluster.bootstrap(follower), "rack");
    let pd = fetch(&mut at_follower, 12, 0, "");
    assert_eq!(pd.error_code, 0, "follower, Fetch v12: {pd:?}");
    assert_eq!(
        pd.high_watermark, RECORDS as i64,
        "the follower's high watermark"
    );
    assert!(records_len(&pd) > 0, "the follower serves records");
    let committed = fetch_isolated(&mut at_follower, 12, 0, "", 1);
    assert_eq!(
        (committed.error_code, committed.last_stable_offset),
        (0, RECORDS as i64),
        "follower, read_committed: bounded by its last stable offset"
    );
    assert!(records_len(&committed) > 0, "read_committed records served");
    let past_end = fetch(&mut at_follower, 12, RECORDS as i64 + 10, "");
    assert_eq!(
        past_end.error_code,
        ResponseError::OffsetOutOfRange.code(),
        "follower, offset past its log end: {past_end:?}"
    );
    let old = fetch(&mut at_follower, 10, 0, "");
    assert_eq!(
        old.error_code,
        ResponseError::NotLeaderOrFollower.code(),
        "follower, Fetch v10 (no client metadata): {old:?}"
    );
    let listed = at_follower.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]),
        7,
    );
    assert_eq!(
        listed.topics[0].partitions[0].error_code,
        ResponseError::NotLeaderOrFollower.code(),
        "ListOffsets stays leader-only"
    );
    cluster.stop_all();
}
