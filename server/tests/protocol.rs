//! Protocol-level tests: the in-process broker on 127.0.0.1:0, driven over TCP with requests
//! encoded by `kafka-protocol` (the client side of the same codecs), checking the exact error
//! codes and offsets Kafka clients branch on.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use minikafka::broker::RunningBroker;
use minikafka::config::ConfigBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::*;

#[tokio::test]
async fn api_versions_lists_the_dispatch_table_and_answers_unknown_versions_with_v0() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0);
    let got: Vec<(i16, i16, i16)> = r
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    let want: Vec<(i16, i16, i16)> = minikafka::dispatch::SUPPORTED
        .iter()
        .map(|(k, min, max)| (*k as i16, *min, *max))
        .collect();
    assert_eq!(got, want);

    // ApiVersions v99: header v1-style prefix; the broker answers in v0 layout with error 35.
    let mut raw = BytesMut::new();
    raw.put_i32(0);
    raw.put_i16(18);
    raw.put_i16(99);
    raw.put_i32(777);
    raw.put_i16(-1);
    let len = (raw.len() - 4) as i32;
    raw[..4].copy_from_slice(&len.to_be_bytes());
    c.stream.write_all(&raw).await.unwrap();
    let r = c.recv::<ApiVersionsRequest>(0, 777).await;
    assert_eq!(r.error_code, 35);
    assert!(r
        .api_keys
        .iter()
        .any(|k| k.api_key == 18 && k.max_version == 4));
    // The connection stays usable.
    assert_eq!(c.call(ApiVersionsRequest::default(), 0).await.error_code, 0);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_topics_validates_like_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(create_req("orders", 3, 1, &[("retention.ms", "60000")]), 7)
        .await;
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0, "{:?}", t.error_message);
    assert!(!t.topic_id.is_nil());
    assert_eq!(t.num_partitions, 3);
    let configs = t.configs.as_ref().unwrap();
    let retention = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_ref().unwrap().as_str(), "60000");

    let code = |r: CreateTopicsResponse| r.topics[0].error_code;
    assert_eq!(
        code(c.call(create_req("orders", 3, 1, &[]), 7).await),
        36,
        "TOPIC_ALREADY_EXISTS"
    );
    assert_eq!(
        code(c.call(create_req("bad/name", 1, 1, &[]), 7).await),
        17,
        "INVALID_TOPIC_EXCEPTION"
    );
    assert_eq!(code(c.call(create_req("..", 1, 1, &[]), 7).await), 17);
    assert_eq!(
        code(c.call(create_req("rf3", 1, 3, &[]), 7).await),
        38,
        "INVALID_REPLICATION_FACTOR"
    );
    assert_eq!(
        code(c.call(create_req("zero", 0, 1, &[]), 7).await),
        37,
        "INVALID_PARTITIONS"
    );
    assert_eq!(
        code(
            c.call(create_req("badcfg", 1, 1, &[("retention.ms", "soon")]), 7)
                .await
        ),
        40
    );
    assert_eq!(
        code(
            c.call(create_req("unknowncfg", 1, 1, &[("no.such", "1")]), 7)
                .await
        ),
        40
    );
    assert_eq!(
        code(c.call(create_req("defaults", -1, -1, &[]), 4).await),
        0
    );

    let mut v = create_req("dry", 2, 1, &[]);
    v.validate_only = true;
    assert_eq!(code(c.call(v, 7).await), 0);
    let md = c
        .call(
            MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(name("dry")))
                ]))
                .with_allow_auto_topic_creation(false),
            12,
        )
        .await;
    assert_eq!(
        md.topics[0].error_code, 3,
        "validate_only must not create the topic"
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn metadata_auto_creates_and_finds_topics_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["num.partitions=3"]).await;
    let mut c = Client::connect(&b).await;
    let req = |n: &str, allow: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(n)))
            ]))
            .with_allow_auto_topic_creation(allow)
    };
    let r = c.call(req("nope", false), 12).await;
    assert_eq!(r.topics[0].error_code, 3);
    let r = c.call(req("auto", true), 12).await;
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 3);
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, i32::from(b.local_addr().port()));
    assert_eq!(r.controller_id.0, 1);
    assert!(r.cluster_id.is_some());
    assert!(t
        .partitions
        .iter()
        .all(|p| p.leader_id.0 == 1 && p.leader_epoch == 0 && p.isr_nodes.len() == 1));
    let id = t.topic_id;
    let by_id = c
        .call(
            MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(None)
                .with_topic_id(id)])),
            12,
        )
        .await;
    assert_eq!(by_id.topics[0].name.as_ref().unwrap().0.as_str(), "auto");
    let r = c.call(req("bad name!", true), 12).await;
    assert_eq!(r.topics[0].error_code, 17);
    // v0: an empty list means every topic.
    let all = c
        .call(MetadataRequest::default().with_topics(Some(vec![])), 0)
        .await;
    assert_eq!(all.topics.len(), 1);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_fetch_and_list_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["message.max.bytes=2000"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let mut bases = Vec::new();
    for i in 0..3 {
        let r = c
            .call(
                produce_req("t", 0, batch(3, 1_000 + i * 100).freeze(), -1),
                9,
            )
            .await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        bases.push(p.base_offset);
    }
    assert_eq!(bases, vec![0, 3, 6]);

    // A fetch from the middle of a batch returns that whole batch and the rest.
    let r = c.call(fetch_req("t", 0, 4, 0, 1 << 20), 12).await;
    let pd = &r.responses[0].partitions[0];
    assert_eq!(pd.error_code, 0);
    assert_eq!(pd.high_watermark, 9);
    assert_eq!(pd.log_start_offset, 0);
    assert_eq!(
        batch_offsets(pd.records.clone().unwrap()),
        vec![(3, 3), (6, 3)]
    );
    // partition_max_bytes smaller than one batch still returns one whole batch.
    let r = c.call(fetch_req("t", 0, 0, 0, 10), 12).await;
    assert_eq!(
        batch_offsets(r.responses[0].partitions[0].records.clone().unwrap()),
        vec![(0, 3)]
    );
    // Out of range.
    let r = c.call(fetch_req("t", 0, 100, 0, 1 << 20), 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
    // Unknown partition.
    let r = c.call(fetch_req("t", 9, 0, 0, 1 << 20), 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 3);
    // A replica fetch (Fetch v12's replica id) from a broker id that is not a replica of the
    // partition, or this node's own id: NOT_LEADER_OR_FOLLOWER and no records, as Kafka's
    // `followerReplicaOrThrow` (it would read past the high watermark otherwise).
    for replica in [7, 1] {
        let mut req = fetch_req("t", 0, 0, 0, 1 << 20);
        req.replica_id = kafka_protocol::messages::BrokerId(replica);
        let r = c.call(req, 12).await;
        let pd = &r.responses[0].partitions[0];
        assert_eq!(pd.error_code, 6, "replica fetch from non-replica {replica}");
        assert!(pd.records.as_ref().is_none_or(|r| r.is_empty()));
    }

    let lo = |r: ListOffsetsResponse| {
        (
            r.topics[0].partitions[0].offset,
            r.topics[0].partitions[0].timestamp,
        )
    };
    assert_eq!(lo(c.call(list_offsets_req("t", 0, -1), 7).await).0, 9);
    assert_eq!(lo(c.call(list_offsets_req("t", 0, -2), 7).await).0, 0);
    // Record timestamps: batch i holds 1000+100i, +1, +2.
    assert_eq!(
        lo(c.call(list_offsets_req("t", 0, 1_101), 7).await),
        (4, 1_101)
    );
    assert_eq!(
        lo(c.call(list_offsets_req("t", 0, 1_150), 7).await),
        (6, 1_200)
    );
    assert_eq!(
        lo(c.call(list_offsets_req("t", 0, 5_000), 7).await),
        (-1, -1)
    );
    assert_eq!(
        lo(c.call(list_offsets_req("t", 0, -3), 7).await),
        (8, 1_202)
    );
    assert_eq!(lo(c.call(list_offsets_req("t", 1, -3), 7).await), (-1, -1));

    // Bad CRC: CORRUPT_MESSAGE and nothing stored.
    let mut bad = batch(2, 5);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let r = c.call(produce_req("t", 0, bad.freeze(), -1), 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 2);
    // Too large for message.max.bytes=2000: MESSAGE_TOO_LARGE.
    let r = c
        .call(produce_req("t", 0, batch(300, 5).freeze(), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 10);
    // Unknown topic.
    let r = c
        .call(produce_req("missing", 0, batch(1, 5).freeze(), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 3);
    assert_eq!(
        lo(c.call(list_offsets_req("t", 0, -1), 7).await).0,
        9,
        "rejected batches stored nothing"
    );

    // acks=0: no response; the next answer on the connection is for the next request.
    c.send_raw(&produce_req("t", 1, batch(2, 5).freeze(), 0), 9)
        .await;
    let r = c.call(list_offsets_req("t", 1, -1), 7).await;
    assert_eq!(r.topics[0].partitions[0].offset, 2);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn long_poll_fetch_wakes_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("lp", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let mut fetcher = Client::connect(&b).await;
    // max_wait 120 s: only a wake-up on append can answer within the test's bound.
    let corr = fetcher
        .send_raw(&fetch_req("lp", 0, 0, 120_000, 1 << 20), 12)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.call(produce_req("lp", 0, batch(5, 1).freeze(), 1), 9)
            .await
            .responses[0]
            .partition_responses[0]
            .error_code,
        0
    );
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        fetcher.recv::<FetchRequest>(12, corr),
    )
    .await
    .expect("long-poll fetch was not woken by the append");
    assert_eq!(
        batch_offsets(r.responses[0].partitions[0].records.clone().unwrap()),
        vec![(0, 5)]
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn log_append_time_rewrites_the_batch_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            create_req("lat", 1, 1, &[("message.timestamp.type", "LogAppendTime")]),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let r = c
        .call(produce_req("lat", 0, batch(2, 42).freeze(), 1), 9)
        .await;
    let append_time = r.responses[0].partition_responses[0].log_append_time_ms;
    assert!(
        append_time > 1_600_000_000_000,
        "log_append_time_ms = {append_time}"
    );
    let r = c.call(fetch_req("lat", 0, 0, 0, 1 << 20), 12).await;
    let rec = r.responses[0].partitions[0].records.clone().unwrap();
    let attributes = i16::from_be_bytes([rec[21], rec[22]]);
    assert_eq!(attributes & 0x08, 0x08, "timestamp type bit set");
    let max_ts = i64::from_be_bytes(rec[35..43].try_into().unwrap());
    assert_eq!(max_ts, append_time);
    let crc = u32::from_be_bytes(rec[17..21].try_into().unwrap());
    assert_eq!(crc, crc32c::crc32c(&rec[21..]), "CRC recomputed");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_topics_and_create_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("grow", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let cp = |n: i32| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(name("grow"))
                    .with_count(n),
            ])
    };
    assert_eq!(c.call(cp(5), 3).await.results[0].error_code, 0);
    assert_eq!(c.call(cp(5), 3).await.results[0].error_code, 37);
    assert_eq!(c.call(cp(1), 3).await.results[0].error_code, 37);
    let r = c
        .call(produce_req("grow", 4, batch(1, 1).freeze(), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let del = |n: &str| {
        DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topic_names(vec![name(n)])
    };
    assert_eq!(c.call(del("grow"), 5).await.responses[0].error_code, 0);
    assert_eq!(c.call(del("grow"), 5).await.responses[0].error_code, 3);
    assert!(
        !dir.path().join("grow-0").exists(),
        "partition directories removed"
    );
    let r = c
        .call(produce_req("grow", 0, batch(1, 1).freeze(), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 3);
    // The name can be used again, with a new id and empty logs.
    assert_eq!(
        c.call(create_req("grow", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c.call(list_offsets_req("grow", 0, -1), 7).await;
    assert_eq!(r.topics[0].partitions[0].offset, 0);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn topics_and_data_survive_restart_and_the_data_dir_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let id = c
        .call(create_req("keep", 2, 1, &[("retention.ms", "123456")]), 7)
        .await
        .topics[0]
        .topic_id;
    c.call(produce_req("keep", 1, batch(4, 9).freeze(), -1), 9)
        .await;

    let mut second = ConfigBuilder::default();
    second.set("listeners", "127.0.0.1:0").unwrap();
    second
        .set("log.dirs", dir.path().to_str().unwrap())
        .unwrap();
    let err = RunningBroker::start(second.build().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already in use"), "{err}");

    b.shutdown().await.unwrap();
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let md = c
        .call(
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("keep")))
            ])),
            12,
        )
        .await;
    assert_eq!(md.topics[0].topic_id, id);
    assert_eq!(md.topics[0].partitions.len(), 2);
    let r = c.call(fetch_req("keep", 1, 0, 0, 1 << 20), 12).await;
    assert_eq!(
        batch_offsets(r.responses[0].partitions[0].records.clone().unwrap()),
        vec![(0, 4)]
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn forged_array_lengths_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut good = Client::connect(&b).await;
    // Metadata v1 (classic array, i32 length) and v12 (compact array, varint length) claiming
    // billions of topics in a 16-byte frame.
    let v1: Vec<u8> = [
        &3i16.to_be_bytes()[..],
        &1i16.to_be_bytes(),
        &1i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &0x7fff_ffffi32.to_be_bytes(),
    ]
    .concat();
    let v12: Vec<u8> = [
        &3i16.to_be_bytes()[..],
        &12i16.to_be_bytes(),
        &2i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &[0u8],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
    ]
    .concat();
    for frame in [v1, v12] {
        let mut s = TcpStream::connect(b.local_addr()).await.unwrap();
        s.write_all(&(frame.len() as i32).to_be_bytes())
            .await
            .unwrap();
        s.write_all(&frame).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("connection not closed")
            .unwrap_or(0);
        assert_eq!(n, 0, "the broker must close the connection, not answer");
        assert_eq!(
            good.call(ApiVersionsRequest::default(), 3).await.error_code,
            0,
            "broker still serving"
        );
    }
    b.shutdown().await.unwrap();
}

fn describe_configs_req(resource_type: i8, name: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(None),
        ])
}

fn incremental_req(
    topic: &str,
    name: &str,
    op: i8,
    value: Option<&str>,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.to_string()))
                    .with_config_operation(op)
                    .with_value(value.map(|v| StrBytes::from_string(v.to_string()))),
            ]),
    ])
}

fn config_value(r: &DescribeConfigsResponse, name: &str) -> (String, i8) {
    let c = r.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap();
    (
        c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
        c.config_source,
    )
}

#[tokio::test]
async fn topic_configs_are_described_altered_persisted_and_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "log.retention.check.interval.ms=100",
        "log.segment.bytes=1048576",
    ];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(
            create_req("cfg", 1, 1, &[("internal.segment.bytes", "1024")]),
            7
        )
        .await
        .topics[0]
            .error_code,
        0
    );
    let r = c.call(describe_configs_req(2, "cfg"), 4).await;
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        config_value(&r, "internal.segment.bytes"),
        ("1024".into(), 1),
        "topic override"
    );
    assert_eq!(
        config_value(&r, "retention.ms"),
        ("604800000".into(), 5),
        "Kafka default"
    );
    assert_eq!(config_value(&r, "cleanup.policy"), ("delete".into(), 5));
    assert_eq!(
        c.call(describe_configs_req(2, "nope"), 4).await.results[0].error_code,
        3
    );
    let broker = c.call(describe_configs_req(4, "1"), 4).await;
    assert_eq!(broker.results[0].error_code, 0);
    assert_eq!(
        config_value(&broker, "log.segment.bytes"),
        ("1048576".into(), 4),
        "set at start"
    );
    assert_eq!(config_value(&broker, "num.partitions"), ("1".into(), 5));

    // Data in several 1 KiB segments, all old (CreateTime 1000 ms after the epoch).
    for _ in 0..20 {
        let r = c
            .call(produce_req("cfg", 0, batch(10, 1_000).freeze(), 1), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    assert_eq!(
        c.call(list_offsets_req("cfg", 0, -2), 7).await.topics[0].partitions[0].offset,
        0
    );

    assert_eq!(
        c.call(incremental_req("cfg", "retention.ms", 0, Some("oops")), 1)
            .await
            .responses[0]
            .error_code,
        40
    );
    assert_eq!(
        c.call(incremental_req("cfg", "no.such.config", 0, Some("1")), 1)
            .await
            .responses[0]
            .error_code,
        40
    );
    assert_eq!(
        c.call(incremental_req("missing", "retention.ms", 0, Some("1")), 1)
            .await
            .responses[0]
            .error_code,
        3
    );
    let mut dry = incremental_req("cfg", "retention.ms", 0, Some("1000"));
    dry.validate_only = true;
    assert_eq!(c.call(dry, 1).await.responses[0].error_code, 0);
    assert_eq!(
        config_value(
            &c.call(describe_configs_req(2, "cfg"), 4).await,
            "retention.ms"
        )
        .0,
        "604800000"
    );

    // A real change takes effect without a restart: retention deletes the old segments.
    assert_eq!(
        c.call(incremental_req("cfg", "retention.ms", 0, Some("1000")), 1)
            .await
            .responses[0]
            .error_code,
        0
    );
    let mut start_offset = 0;
    for _ in 0..100 {
        start_offset =
            c.call(list_offsets_req("cfg", 0, -2), 7).await.topics[0].partitions[0].offset;
        if start_offset > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        start_offset > 0,
        "retention.ms change did not delete old segments"
    );

    // AlterConfigs replaces the whole set: segment.bytes goes back to the broker value.
    let alter = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("cfg"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("86400000")))]),
    ]);
    assert_eq!(c.call(alter, 2).await.responses[0].error_code, 0);
    b.shutdown().await.unwrap();

    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(describe_configs_req(2, "cfg"), 4).await;
    assert_eq!(
        config_value(&r, "retention.ms"),
        ("86400000".into(), 1),
        "persisted across restart"
    );
    assert_eq!(config_value(&r, "segment.bytes"), ("1048576".into(), 4));
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn cluster_epoch_and_partition_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("a", 3, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(
        c.call(create_req("b", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    c.call(produce_req("a", 1, batch(7, 1).freeze(), 1), 9)
        .await;

    let r = c
        .call(DescribeClusterRequest::default().with_endpoint_type(1), 1)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, i32::from(b.local_addr().port()));
    assert!(!r.cluster_id.is_empty());

    let ofle = |epoch: i32, current: i32| {
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(name("a"))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(1)
                            .with_leader_epoch(epoch)
                            .with_current_leader_epoch(current),
                    ]),
            ])
    };
    let r = c.call(ofle(0, 0), 4).await;
    let e = &r.topics[0].partitions[0];
    assert_eq!((e.error_code, e.leader_epoch, e.end_offset), (0, 0, 7));
    assert_eq!(
        c.call(ofle(0, 5), 4).await.topics[0].partitions[0].error_code,
        75,
        "UNKNOWN_LEADER_EPOCH"
    );

    // Paging: a limit of 2 partitions walks a(3) + b(2) in three pages.
    let mut cursor = None;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = c
            .call(
                DescribeTopicPartitionsRequest::default()
                    .with_response_partition_limit(2)
                    .with_cursor(cursor.clone()),
                0,
            )
            .await;
        for t in &r.topics {
            for p in &t.partitions {
                seen.push((t.name.as_ref().unwrap().0.to_string(), p.partition_index));
            }
        }
        cursor = r.next_cursor.map(|c| {
            describe_topic_partitions_request::Cursor::default()
                .with_topic_name(c.topic_name)
                .with_partition_index(c.partition_index)
        });
        if cursor.is_none() {
            break;
        }
    }
    let want: Vec<(String, i32)> = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
        .iter()
        .map(|(t, p)| (t.to_string(), *p))
        .collect();
    assert_eq!(seen, want);
    b.shutdown().await.unwrap();
}

/// `batch()` stamped with an idempotent producer's id, epoch and base sequence, timestamped
/// now (producer state expires by record time, as in Kafka).
fn idempotent_batch(count: i32, producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
    let mut b = batch(count, minikafka::clock::now_ms());
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

#[tokio::test]
async fn idempotent_producer_retries_are_stored_once_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("idem", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c
        .call(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert!(pid >= 0);
    assert_eq!(epoch, 0);
    let r2 = c
        .call(
            InitProducerIdRequest::default().with_transactional_id(None),
            4,
        )
        .await;
    assert_ne!(r2.producer_id.0, pid, "every producer gets its own id");

    let produce = |batch: Bytes| produce_req("idem", 0, batch, -1);
    let answer = |r: ProduceResponse| {
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(
        answer(c.call(produce(idempotent_batch(3, pid, epoch, 0)), 9).await),
        (0, 0)
    );
    assert_eq!(
        answer(c.call(produce(idempotent_batch(2, pid, epoch, 3)), 9).await),
        (0, 3)
    );
    // A retry of either batch is answered with its original offset and stored nothing.
    assert_eq!(
        answer(c.call(produce(idempotent_batch(3, pid, epoch, 0)), 9).await),
        (0, 0)
    );
    assert_eq!(
        answer(c.call(produce(idempotent_batch(2, pid, epoch, 3)), 9).await),
        (0, 3)
    );
    // A gap is OUT_OF_ORDER_SEQUENCE_NUMBER; a stale epoch INVALID_PRODUCER_EPOCH after a bump.
    assert_eq!(
        answer(c.call(produce(idempotent_batch(1, pid, epoch, 9)), 9).await).0,
        45
    );
    assert_eq!(
        answer(
            c.call(produce(idempotent_batch(1, pid, epoch + 1, 0)), 9)
                .await
        ),
        (0, 5)
    );
    assert_eq!(
        answer(c.call(produce(idempotent_batch(1, pid, epoch, 5)), 9).await).0,
        47
    );
    assert_eq!(
        c.call(list_offsets_req("idem", 0, -1), 7).await.topics[0].partitions[0].offset,
        6
    );
    // A transactional id goes to the transaction coordinator, which refuses a zero timeout
    // (INVALID_TRANSACTION_TIMEOUT) as Kafka does; tests/transactions.rs covers the rest.
    let txn = c
        .call(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx")))),
            4,
        )
        .await;
    assert_eq!(txn.error_code, 50);
    b.shutdown().await.unwrap();

    // After a restart the last batch of the producer is still recognised, and ids are not reused.
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        answer(
            c.call(produce(idempotent_batch(1, pid, epoch + 1, 0)), 9)
                .await
        ),
        (0, 5)
    );
    assert_eq!(
        c.call(list_offsets_req("idem", 0, -1), 7).await.topics[0].partitions[0].offset,
        6
    );
    let r3 = c
        .call(
            InitProducerIdRequest::default().with_transactional_id(None),
            4,
        )
        .await;
    assert!(r3.producer_id.0 > r2.producer_id.0);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset_durably() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("dr", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    for _ in 0..4 {
        c.call(produce_req("dr", 0, batch(5, 1).freeze(), 1), 9)
            .await;
    }
    let del = |partition: i32, offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(name("dr"))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ])])
    };
    let r = c.call(del(0, 7), 2).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 7));
    assert_eq!(
        c.call(del(0, 21), 2).await.topics[0].partitions[0].error_code,
        1,
        "beyond the high watermark"
    );
    assert_eq!(
        c.call(del(5, 1), 2).await.topics[0].partitions[0].error_code,
        3
    );
    assert_eq!(
        c.call(list_offsets_req("dr", 0, -2), 7).await.topics[0].partitions[0].offset,
        7
    );
    assert_eq!(
        c.call(fetch_req("dr", 0, 3, 0, 1 << 20), 12)
            .await
            .responses[0]
            .partitions[0]
            .error_code,
        1
    );
    let r = c.call(fetch_req("dr", 0, 7, 0, 1 << 20), 12).await;
    assert_eq!(r.responses[0].partitions[0].log_start_offset, 7);
    assert_eq!(
        batch_offsets(r.responses[0].partitions[0].records.clone().unwrap())[0],
        (5, 5)
    );
    b.shutdown().await.unwrap();

    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(list_offsets_req("dr", 0, -2), 7).await.topics[0].partitions[0].offset,
        7,
        "persisted"
    );
    // -1 means up to the high watermark.
    let r = c.call(del(0, -1), 2).await;
    assert_eq!(r.topics[0].partitions[0].low_watermark, 20);
    assert_eq!(
        c.call(list_offsets_req("dr", 1, -2), 7).await.topics[0].partitions[0].offset,
        0
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn incremental_fetch_sessions_send_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("fs", 3, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    c.call(produce_req("fs", 0, batch(2, 1).freeze(), 1), 9)
        .await;
    let req = |session_id: i32, epoch: i32, partitions: &[(i32, i64)]| {
        let mut r = fetch_req("fs", 0, 0, 0, 1 << 20)
            .with_session_id(session_id)
            .with_session_epoch(epoch)
            .with_min_bytes(0);
        r.topics[0].partitions = partitions
            .iter()
            .map(|(p, o)| {
                FetchPartition::default()
                    .with_partition(*p)
                    .with_fetch_offset(*o)
                    .with_partition_max_bytes(1 << 20)
            })
            .collect();
        if partitions.is_empty() {
            r.topics.clear();
        }
        r
    };
    let parts = |r: &FetchResponse| -> Vec<i32> {
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
            .collect()
    };

    // Full fetch that opens a session: every partition is answered.
    let r = c.call(req(0, 0, &[(0, 0), (1, 0), (2, 0)]), 12).await;
    assert_eq!(r.error_code, 0);
    let id = r.session_id;
    assert_ne!(id, 0, "a session was created");
    assert_eq!(parts(&r), vec![0, 1, 2]);
    // Incremental, partition 0 moved to offset 2: nothing changed anywhere.
    let r = c.call(req(id, 1, &[(0, 2)]), 12).await;
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert!(
        parts(&r).is_empty(),
        "unchanged partitions are left out: {:?}",
        parts(&r)
    );
    // New data on partition 1 only.
    c.call(produce_req("fs", 1, batch(3, 1).freeze(), 1), 9)
        .await;
    let r = c.call(req(id, 2, &[]), 12).await;
    assert_eq!(parts(&r), vec![1]);
    assert_eq!(
        batch_offsets(r.responses[0].partitions[0].records.clone().unwrap()),
        vec![(0, 3)]
    );
    // Wrong epoch and unknown session.
    assert_eq!(
        c.call(req(id, 9, &[]), 12).await.error_code,
        71,
        "INVALID_FETCH_SESSION_EPOCH"
    );
    assert_eq!(
        c.call(req(id.wrapping_add(1).max(1), 1, &[]), 12)
            .await
            .error_code,
        70,
        "FETCH_SESSION_ID_NOT_FOUND"
    );
    // Closing the session: a sessionless full fetch.
    let r = c.call(req(id, -1, &[(2, 0)]), 12).await;
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(parts(&r), vec![2]);
    assert_eq!(c.call(req(id, 3, &[]), 12).await.error_code, 70, "closed");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn broker_configs_by_id_and_cluster_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["num.partitions=2"]).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(describe_configs_req(4, "1"), 4).await;
    assert_eq!(config_value(&r, "num.partitions"), ("2".into(), 4));
    assert!(r.results[0].configs.iter().all(|c| c.read_only));
    // No name: the cluster-wide dynamic defaults, of which there are none (as on a fresh Kafka).
    let r = c.call(describe_configs_req(4, ""), 4).await;
    assert_eq!(
        (r.results[0].error_code, r.results[0].configs.len()),
        (0, 0)
    );
    assert_eq!(
        c.call(describe_configs_req(4, "7"), 4).await.results[0].error_code,
        42,
        "another broker id"
    );
    b.shutdown().await.unwrap();
}

/// Pipelined requests are answered in order, and a response queued behind nothing is not held
/// back by a later request that waits: the answers to the produces sent before a long-polling
/// fetch arrive while that fetch is still waiting (it completes only once another connection
/// produces to its partition, after those answers were read).
#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_not_held_by_a_waiting_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("pipe", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let mut before = Vec::new();
    for i in 0..150 {
        let req = produce_req("pipe", 0, batch(2, 1_700_000_000_000 + i).freeze(), 1);
        before.push(c.send_raw(&req, 9).await);
    }
    // Waits (up to 60 s) for 512 KiB on partition 1, which only the other connection writes.
    let mut fetch = fetch_req("pipe", 1, 0, 60_000, 4 << 20);
    fetch.min_bytes = 512 << 10;
    let fetch_corr = c.send_raw(&fetch, 12).await;
    let mut after = Vec::new();
    for i in 0..50 {
        let req = produce_req("pipe", 0, batch(1, 1_700_000_000_000 + i).freeze(), 1);
        after.push(c.send_raw(&req, 9).await);
    }
    for (i, corr) in before.iter().enumerate() {
        let r = tokio::time::timeout(Duration::from_secs(30), c.recv::<ProduceRequest>(9, *corr))
            .await
            .expect("produce answers queued before the fetch were held back");
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 2 * i as i64));
    }
    let mut other = Client::connect(&b).await;
    let big = batch_of(1, 1_700_000_000_000, -1, -1, -1, false, 600 << 10).freeze();
    let r = other.call(produce_req("pipe", 1, big, 1), 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let f = tokio::time::timeout(
        Duration::from_secs(30),
        c.recv::<FetchRequest>(12, fetch_corr),
    )
    .await
    .unwrap();
    let records = f.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(batch_offsets(records), vec![(0, 1)]);
    for (i, corr) in after.iter().enumerate() {
        let r = tokio::time::timeout(Duration::from_secs(30), c.recv::<ProduceRequest>(9, *corr))
            .await
            .unwrap();
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 300 + i as i64));
    }
    b.shutdown().await.unwrap();
}
