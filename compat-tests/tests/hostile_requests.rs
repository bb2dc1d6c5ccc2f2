//! Hostile but well-framed requests against the real broker binary (issue 16). Each case says
//! what is sent and what the broker answers; after each, the broker is alive, its memory is
//! within a budget, and a client connected before the attack is still answered.
//!
//! - A 64 MiB Metadata frame whose topic array claims 64 Mi elements: the vendored codec used to
//!   reserve `claimed × size_of(element)` (gigabytes) before decoding the first element; now it
//!   reserves at most the frame's size, the decode fails and the connection is closed.
//! - Metadata naming one topic 100 000 times: one answer entry (Kafka de-duplicates).
//! - Fetch listing one partition 100 000 times: one answer entry (Kafka's map of fetch data).
//! - Produce to `__consumer_offsets`: INVALID_TOPIC_EXCEPTION, nothing written (Kafka).
//! - Deleting `__consumer_offsets`, or creating `__transaction_state` with a layout of the
//!   client's: INVALID_REQUEST (stricter than Kafka without ACLs on deletion, on purpose).
//! - A topic with `segment.bytes=100` (a descriptor per few records): INVALID_CONFIG, Kafka 4.x's
//!   floor of 1 MiB.
//! - DescribeAcls on a broker without an authorizer: SECURITY_DISABLED, not a closed connection.
//!
//! After all of them the broker holds no more than a budget of file descriptors.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use compat_tests::conn::Conn;
use compat_tests::wire::{self, Closed};
use compat_tests::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeAclsRequest,
    FetchRequest, FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// Timeout for one request/response and for the broker to close a bad connection.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How much the broker's peak virtual size may grow while it handles the forged frame: the
/// frame itself (64 MiB) and a reservation of at most as much, with room for thread arenas.
/// Before the fix the reservation alone was 64 Mi × size_of(MetadataRequestTopic) ≈ 4.5 GiB.
const VM_PEAK_GROWTH_LIMIT: u64 = 1 << 30;
/// Resident memory the broker must stay under after each case.
const RSS_LIMIT: u64 = 400 << 20;
/// Open file descriptors the broker may hold after every case (a few topics' segment files,
/// its listener, the control connection and the attacker's).
const FD_LIMIT: usize = 256;

/// Whether a connection opened before an attack still gets answers.
fn assert_answers(conn: &mut Conn, case: &str) {
    let r = conn.call(&ApiVersionsRequest::default(), 0);
    assert_eq!(
        r.error_code, 0,
        "{case}: ApiVersions on the earlier connection"
    );
}

/// A `VmPeak`/`VmRSS`-style line of `/proc/PID/status`, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    kib * 1024
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn create(topic: &str, partitions: i32, configs: &[(&str, &str)]) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string((*k).to_string()))
                            .with_value(Some(StrBytes::from_string((*v).to_string())))
                    })
                    .collect(),
            )])
}

/// The latest offset of partition 0 of `topic`.
fn latest_offset(conn: &mut Conn, topic: &str) -> i64 {
    let r = conn.call(
        &ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]),
        7,
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code, 0,
        "ListOffsets {topic}"
    );
    r.topics[0].partitions[0].offset
}

/// The broker's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

fn after(case: &str, broker: &mut Broker, control: &mut Conn) {
    broker.assert_alive();
    assert_answers(control, case);
    let rss = broker.rss_bytes();
    assert!(
        rss < RSS_LIMIT,
        "{case}: broker VmRSS {} MiB (limit {} MiB)",
        rss >> 20,
        RSS_LIMIT >> 20
    );
}

#[test]
fn hostile_requests_cost_what_they_may_ask_for() {
    let mut broker = Broker::start(&[]);
    let mut control = Conn::open(broker.bootstrap(), "hostile");
    assert_answers(&mut control, "start");
    let created = control.call(&create("t", 1, &[]), 4);
    assert_eq!(created.topics[0].error_code, 0);

    // (1) Metadata v1, 64 MiB: the topic array claims 64 Mi entries, the first one's name has
    // length -2 (invalid), zeros follow. Kafka fails the parse and closes the connection; so
    // does minikafka, after reserving no more than the frame holds.
    let case = "forged 64 Mi-entry Metadata array";
    let peak_before = proc_status_bytes(broker.pid(), "VmPeak:");
    let frame_len: usize = 64 << 20;
    let mut body = Vec::with_capacity(frame_len);
    body.extend_from_slice(&i32::try_from(frame_len).expect("len").to_be_bytes());
    body.extend_from_slice(&(-2i16).to_be_bytes());
    body.resize(frame_len - 32, 0);
    let forged = wire::request_v1(3, 1, 1, Some("hostile"), &body);
    let mut s = TcpStream::connect(broker.bootstrap()).expect("connect");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    // The broker may close while we are still writing; that is allowed.
    let _ = s.write_all(&forged);
    let closed = wire::wait_for_close(&mut s, IO_TIMEOUT);
    assert!(
        matches!(closed, Some(Closed::Eof { .. } | Closed::Reset(_))),
        "{case}: the connection was neither answered nor closed\n{}",
        broker.log_report()
    );
    let growth = proc_status_bytes(broker.pid(), "VmPeak:").saturating_sub(peak_before);
    eprintln!("{case}: VmPeak grew by {} MiB", growth >> 20);
    assert!(
        growth < VM_PEAK_GROWTH_LIMIT,
        "{case}: the broker's peak virtual size grew by {} MiB (limit {} MiB)",
        growth >> 20,
        VM_PEAK_GROWTH_LIMIT >> 20
    );
    after(case, &mut broker, &mut control);

    // (2) Metadata v9 naming "t" 100 000 times: one entry, as Kafka answers a set of topics.
    let case = "Metadata with one topic 100 000 times";
    let mut attacker = Conn::open(broker.bootstrap(), "hostile");
    let topics = vec![MetadataRequestTopic::default().with_name(Some(name("t"))); 100_000];
    let r = attacker.call(&MetadataRequest::default().with_topics(Some(topics)), 9);
    assert_eq!(r.topics.len(), 1, "{case}");
    assert_eq!(r.topics[0].error_code, 0, "{case}");
    after(case, &mut broker, &mut control);

    // (3) Fetch v12 (no session) listing t-0 100 000 times: one partition entry.
    let case = "Fetch with one partition 100 000 times";
    let partitions = vec![
        FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20);
        100_000
    ];
    let r = attacker.call(
        &FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(partitions)]),
        12,
    );
    assert_eq!(r.responses.len(), 1, "{case}");
    assert_eq!(r.responses[0].partitions.len(), 1, "{case}");
    assert_eq!(r.responses[0].partitions[0].error_code, 0, "{case}");
    after(case, &mut broker, &mut control);

    // (4) Produce to __consumer_offsets (created by a FindCoordinator, as a consumer would).
    let case = "Produce to __consumer_offsets";
    let found = attacker.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_static_str("g")]),
        4,
    );
    assert_eq!(
        found.coordinators[0].error_code, 0,
        "{case}: FindCoordinator"
    );
    let offsets_end = latest_offset(&mut attacker, "__consumer_offsets");
    let batch = wire::record_batch(
        0,
        &[wire::RawRecord {
            key: Some(b"forged".to_vec()),
            value: Some(b"offset".to_vec()),
        }],
    );
    let r = attacker.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("__consumer_offsets"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(batch)))])]),
        9,
    );
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidTopicException.code(),
        "{case}"
    );
    assert_eq!(
        latest_offset(&mut attacker, "__consumer_offsets"),
        offsets_end,
        "{case}: nothing written"
    );
    after(case, &mut broker, &mut control);

    // (5) Delete __consumer_offsets; create __transaction_state with 7 partitions.
    let case = "delete or pre-create an internal topic";
    let r = attacker.call(
        &DeleteTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(name("__consumer_offsets")))
            ]),
        6,
    );
    assert_eq!(
        r.responses[0].error_code,
        ResponseError::InvalidRequest.code(),
        "{case}: delete"
    );
    let r = attacker.call(&create("__transaction_state", 7, &[]), 5);
    assert_eq!(
        r.topics[0].error_code,
        ResponseError::InvalidRequest.code(),
        "{case}: create"
    );
    after(case, &mut broker, &mut control);

    // (6) A topic whose segments would hold a few records each.
    let case = "CreateTopics with segment.bytes=100";
    let r = attacker.call(&create("tiny", 1, &[("segment.bytes", "100")]), 5);
    assert_eq!(
        r.topics[0].error_code,
        ResponseError::InvalidConfig.code(),
        "{case}: {:?}",
        r.topics[0].error_message
    );
    after(case, &mut broker, &mut control);

    // (7) An API of Kafka's broker listener that needs a feature minikafka runs without.
    let case = "DescribeAcls without an authorizer";
    let r = attacker.call(
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
        3,
    );
    assert_eq!(
        r.error_code,
        ResponseError::SecurityDisabled.code(),
        "{case}"
    );
    after(case, &mut broker, &mut control);

    let fds = open_fds(broker.pid());
    eprintln!("open file descriptors after every case: {fds}");
    assert!(
        fds < FD_LIMIT,
        "{fds} open file descriptors (limit {FD_LIMIT})"
    );
    broker.stop();
}
