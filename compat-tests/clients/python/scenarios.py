#!/usr/bin/env python3
"""kafka-python and confluent-kafka-python scenarios against a Kafka-compatible broker.

    scenarios.py BOOTSTRAP list               names of the scenarios
    scenarios.py BOOTSTRAP versions           one line per client library: name, version
    scenarios.py BOOTSTRAP SCENARIO           run one scenario; exit 0 = pass
    scenarios.py BOOTSTRAP verify-json FILE [kafka-python|confluent]
                                              read back what another client produced (FILE is the
                                              JSON description it wrote, see expected_json below)
                                              and check it byte for byte

Every check is on the exact bytes: keys (including null), values (including null and empty),
headers (order, duplicates, empty values), timestamps and their type, offsets and partitions.
The produce/consume scenarios use manual assignment (assign + seek); the *-group scenarios use
consumer groups (subscribe, commit, resume from the committed offsets, partitions split between
two members of one group, the group admin APIs). The confluent-transactions and
confluent-send-offsets-to-transaction scenarios use a transactional producer (commit, abort,
send_offsets_to_transaction) and read_committed / read_uncommitted consumers.
"""

import base64
import json
import os
import sys
import time
import uuid

DEADLINE_S = 30  # bound on every poll loop inside a scenario
# Explicit CreateTime timestamps, strictly increasing, from an hour ago: fixed old timestamps would
# be past retention.ms (7 days), and the broker's periodic retention check could delete the data
# between produce and consume.
BASE_TS = (int(time.time()) - 3600) * 1000



def eventually(fetch, ok, timeout_s=15.0, step_s=0.2):
    """Call fetch() until ok(result) or timeout_s passes (bounded); return the last result."""
    deadline = time.monotonic() + timeout_s
    result = fetch()
    while not ok(result) and time.monotonic() < deadline:
        time.sleep(step_s)
        result = fetch()
    return result

def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def unique_topic(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def records_for(partitions=(0, 2), per_partition=7, tag=b"py", random_big=True):
    """The record set every produce scenario sends: dict partition -> list of records.

    Each record is dict(key, value, headers, ts); keys/values/header values are bytes or None.
    Covers: null key, null value (tombstone), empty value, every byte 0..255, a 100 KiB value,
    non-ASCII header key, duplicate header keys (order must be kept), empty header value,
    no headers at all. random_big=False makes the 100 KiB value compressible (the producers send a
    batch uncompressed when compressing does not make it smaller).
    """
    out = {}
    ts = BASE_TS
    for p in partitions:
        recs = []
        for i in range(per_partition):
            ts += 1000 + p  # increasing within a partition
            key = b"key-%d-%d-" % (p, i) + tag
            value = b"value-%d-%d-" % (p, i) + tag + b"-" + bytes([i, 0, 255, 10, 13])
            headers = [("h", b"%d" % i), ("h", b"dup-%d" % i), ("\u00e9t\u00e9", "caf\u00e9".encode())]
            if i == 1:
                key = None
            if i == 2:
                value = bytes(range(256))
                headers = []
            if i == 3:
                value = b""
                headers = [("empty", b"")]
            if i == 4:
                value = None  # tombstone
            if i == 5:
                value = os.urandom(100 * 1024) if random_big else (b"%d compressible " % p + tag) * 5000
                key = b"\x00\xff\x00binary-key"
            recs.append(dict(key=key, value=value, headers=headers, ts=ts))
        out[p] = recs
    return out


def fmt(r):
    def short(b):
        if b is None:
            return None
        return b[:40] + (b"..." if len(b) > 40 else b"")

    return dict(
        offset=r.get("offset"),
        key=short(r["key"]),
        value=short(r["value"]),
        headers=r["headers"],
        ts=r["ts"],
    )


def compare(partition, expected, got, first_offset=0):
    """expected: records in produce order from first_offset; got: consumed records with offsets."""
    check(
        len(got) == len(expected),
        f"partition {partition}: expected {len(expected)} records from offset {first_offset}, got {len(got)}",
    )
    for n, (e, g) in enumerate(zip(expected, got)):
        off = first_offset + n
        what = f"partition {partition} offset {off}"
        check(g["offset"] == off, f"{what}: consumed offset {g['offset']}")
        check(g["key"] == e["key"], f"{what}: key {fmt(g)['key']!r} != {fmt(e)['key']!r}")
        check(g["value"] == e["value"], f"{what}: value {fmt(g)['value']!r} != {fmt(e)['value']!r}")
        check(
            list(g["headers"]) == list(e["headers"]),
            f"{what}: headers {g['headers']!r} != {e['headers']!r}",
        )
        check(g["ts"] == e["ts"], f"{what}: timestamp {g['ts']} != {e['ts']}")
        check(g.get("ts_type", "create") == "create", f"{what}: timestamp type {g.get('ts_type')}")


# ---------------------------------------------------------------- kafka-python


def kp_admin(boot):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=boot, client_id="compat-kafka-python-admin", request_timeout_ms=20000)


def kp_create(boot, topic, partitions=3, configs=None):
    from kafka.admin import NewTopic

    admin = kp_admin(boot)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})], timeout_ms=20000)
        # Kafka's brokers learn of a new topic a moment after its creation is answered; a
        # kafka-python consumer that joins a group before its metadata shows the partitions is
        # assigned none and does not look again for minutes. Wait (bounded) until they show.

        def partitions_seen():
            try:
                return len(admin.describe_topics([topic])[0].get("partitions") or [])
            except Exception:  # noqa: BLE001 - unknown yet: try again
                return 0

        eventually(partitions_seen, lambda n: n == partitions)
    finally:
        admin.close()


def kp_produce(boot, topic, recs, base=0):
    """kafka-python producer, plain (not idempotent), acks=all. Returns nothing; checks metadata:
    record i of a partition must be acked at offset base + i.

    One request in flight per connection: the 100 KiB record does not fit the 16 KiB batch, so a
    partition's records travel in several batches, and with several requests in flight a retried
    batch (e.g. NOT_LEADER_OR_FOLLOWER from Kafka while a new topic's leader is being set up) lands
    after the ones sent behind it ("acked at offset 2, want 0" against Kafka). Kafka documents that
    reordering for a non-idempotent producer with max.in.flight > 1; with 1 a retry keeps the order."""
    from kafka import KafkaProducer

    prod = KafkaProducer(
        bootstrap_servers=boot,
        acks="all",
        enable_idempotence=False,
        max_in_flight_requests_per_connection=1,
        client_id="compat-kafka-python-producer",
        max_request_size=2 * 1024 * 1024,
        request_timeout_ms=20000,
    )
    try:
        futures = []
        for p, rs in recs.items():
            for i, r in enumerate(rs):
                f = prod.send(topic, key=r["key"], value=r["value"], headers=r["headers"], partition=p, timestamp_ms=r["ts"])
                futures.append((p, i, r, f))
        prod.flush(timeout=DEADLINE_S)
        for p, i, r, f in futures:
            md = f.get(timeout=DEADLINE_S)
            check(md.topic == topic and md.partition == p, f"record metadata topic/partition {md}")
            check(md.offset == base + i, f"partition {p} record {i}: acked at offset {md.offset}, want {base + i}")
            check(md.timestamp == r["ts"], f"partition {p} record {i}: acked timestamp {md.timestamp} != {r['ts']}")
    finally:
        prod.close(timeout=10)


def kp_rec(m):
    """A kafka-python ConsumerRecord as the dict compare() takes."""
    return dict(
        offset=m.offset,
        key=m.key,
        value=m.value,
        headers=[(k, v) for k, v in m.headers],
        ts=m.timestamp,
        ts_type="create" if m.timestamp_type == 0 else "log-append",
    )


def kp_consume(boot, topic, partition, offset, count):
    """kafka-python consumer, assign + seek, no group. Returns the consumed records."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=boot,
        group_id=None,
        enable_auto_commit=False,
        client_id="compat-kafka-python-consumer",
        fetch_max_wait_ms=200,
        request_timeout_ms=20000,
    )
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        got = []
        deadline = time.monotonic() + DEADLINE_S
        while len(got) < count and time.monotonic() < deadline:
            for _tp, msgs in c.poll(timeout_ms=500).items():
                got.extend(kp_rec(m) for m in msgs)
        return got
    finally:
        c.close()


def kp_offsets(boot, topic, partition, ts):
    """ListOffsets through kafka-python: (beginning, end, offset for timestamp ts)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=boot, group_id=None, enable_auto_commit=False, request_timeout_ms=20000)
    try:
        tp = TopicPartition(topic, partition)
        b = c.beginning_offsets([tp], timeout_ms=20000)[tp]
        e = c.end_offsets([tp], timeout_ms=20000)[tp]
        t = c.offsets_for_times({tp: ts}, timeout_ms=20000)[tp]
        return b, e, (t.offset if t else None), (t.timestamp if t else None)
    finally:
        c.close()


# ---------------------------------------------------------------- confluent-kafka


def ck_admin(boot):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": boot, "client.id": "compat-confluent-admin"})


def ck_wait(futmap, what):
    for k, f in futmap.items():
        try:
            f.result(timeout=DEADLINE_S)
        except Exception as e:  # noqa: BLE001
            raise Failure(f"{what} {k}: {e!r}")


def ck_create(boot, topic, partitions=3, configs=None):
    from confluent_kafka.admin import NewTopic

    a = ck_admin(boot)
    ck_wait(a.create_topics([NewTopic(topic, partitions, 1, config=configs or {})], operation_timeout=20), "create_topics")


def ck_produce(boot, topic, recs, compression="none", base=0):
    """confluent-kafka producer, enable.idempotence=true, acks=all; record i of a partition must
    be acked at offset base + i."""
    from confluent_kafka import Producer

    prod = Producer(
        {
            "bootstrap.servers": boot,
            "enable.idempotence": True,
            "acks": "all",
            "client.id": "compat-confluent-producer",
            "linger.ms": 5,
            "compression.type": compression,
        }
    )
    reports = {}
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(f"delivery failed: {err}")
        else:
            reports[(msg.partition(), msg.offset())] = msg

    for p, rs in recs.items():
        for r in rs:
            prod.produce(topic, key=r["key"], value=r["value"], headers=r["headers"], partition=p, timestamp=r["ts"], on_delivery=dr)
            prod.poll(0)
    left = prod.flush(DEADLINE_S)
    check(left == 0, f"{left} messages still in queue after flush({DEADLINE_S})")
    check(not errors, "; ".join(errors[:5]))
    for p, rs in recs.items():
        for i, r in enumerate(rs):
            m = reports.get((p, base + i))
            check(m is not None, f"no delivery report for partition {p} offset {base + i}: got {sorted(reports)}")
            check(m.value() == r["value"] and m.key() == r["key"], f"delivery report p{p} o{i}: wrong record")


def ck_rec(m):
    """A confluent-kafka Message as the dict compare() takes (raises Failure on an error event)."""
    from confluent_kafka import TIMESTAMP_CREATE_TIME

    if m.error():
        raise Failure(f"consumer error: {m.error()}")
    tstype, ts = m.timestamp()
    return dict(
        offset=m.offset(),
        key=m.key(),
        value=m.value(),
        headers=list(m.headers() or []),
        ts=ts,
        ts_type="create" if tstype == TIMESTAMP_CREATE_TIME else f"type-{tstype}",
    )


def ck_consume(boot, topic, partition, offset, count):
    """confluent-kafka consumer, assign([TopicPartition(t, p, offset)]), no group subscription."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": boot,
            "group.id": "compat-unused",  # required by the client config; no group API is used with assign()
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "client.id": "compat-confluent-consumer",
            "fetch.wait.max.ms": 200,
        }
    )
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        got = []
        deadline = time.monotonic() + DEADLINE_S
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            got.append(ck_rec(m))
        return got
    finally:
        c.close()


def ck_offsets(boot, topic, partition, ts):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": boot, "group.id": "compat-unused", "enable.auto.commit": False})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=20)
        r = c.offsets_for_times([TopicPartition(topic, partition, ts)], timeout=20)[0]
        if r.error:
            raise Failure(f"offsets_for_times: {r.error}")
        return lo, hi, r.offset
    finally:
        c.close()


# ---------------------------------------------------------------- scenarios


def roundtrip(boot, create, produce, consume, offsets, prefix):
    topic = unique_topic(prefix)
    create(boot, topic)
    recs = records_for()
    produce(boot, topic, recs)
    for p, rs in recs.items():
        got = consume(boot, topic, p, 0, len(rs))
        compare(p, rs, got, 0)
        # from a given offset in the middle
        got = consume(boot, topic, p, 3, len(rs) - 3)
        compare(p, rs[3:], got, 3)
        o = offsets(boot, topic, p, rs[4]["ts"])
        check(o[0] == 0 and o[1] == len(rs), f"partition {p}: beginning/end offsets {o[:2]} != (0, {len(rs)})")
        check(o[2] == 4, f"partition {p}: offset for timestamp {rs[4]['ts']} is {o[2]}, want 4")
    # a partition nobody wrote to is empty
    o = offsets(boot, topic, 1, BASE_TS)
    check(o[0] == 0 and o[1] == 0, f"partition 1 (never written): beginning/end offsets {o[:2]} != (0, 0)")
    log(f"topic {topic}: {sum(len(r) for r in recs.values())} records checked")


def s_kafka_python_produce_consume(boot):
    """kafka-python: plain producer (acks=all) -> assign+seek consumer from 0 and from 3; ListOffsets."""
    roundtrip(boot, kp_create, kp_produce, kp_consume, kp_offsets, "kp-rt")


def s_confluent_produce_consume(boot):
    """confluent-kafka: idempotent producer (acks=all) -> assign(TopicPartition(t,p,off)) from 0 and 3."""
    roundtrip(boot, ck_create, ck_produce, ck_consume, ck_offsets, "ck-rt")


def s_cross_kafka_python_to_confluent(boot):
    """kafka-python produces, confluent-kafka consumes (and the other way round below)."""
    roundtrip(boot, kp_create, kp_produce, ck_consume, ck_offsets, "kp2ck")


def s_cross_confluent_to_kafka_python(boot):
    roundtrip(boot, ck_create, ck_produce, kp_consume, kp_offsets, "ck2kp")


def s_confluent_compression(boot):
    """confluent idempotent producer with each codec (gzip, snappy, lz4, zstd) -> confluent consumer;
    the gzip topic is also read with kafka-python (its other codecs need optional packages)."""
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = unique_topic(f"ck-{codec}")
        ck_create(boot, topic)
        recs = records_for(tag=codec.encode(), random_big=False)
        ck_produce(boot, topic, recs, compression=codec)
        readers = [ck_consume] + ([kp_consume] if codec == "gzip" else [])
        for p, rs in recs.items():
            for consume in readers:
                compare(p, rs, consume(boot, topic, p, 0, len(rs)), 0)
                compare(p, rs[3:], consume(boot, topic, p, 3, len(rs) - 3), 3)
        log(f"{codec}: topic {topic}: {sum(len(r) for r in recs.values())} records checked")


def _kp_configs_dict(resp, rtype, name):
    """kafka-python 3.x describe_configs returns {"topic"|"broker": {name: {config: {"value": ...}}}}."""
    try:
        res = resp[rtype][name]
    except (KeyError, TypeError):
        raise Failure(f"describe_configs: no {rtype} {name!r} in {resp!r:.300}")
    return {k: v["value"] for k, v in res.items()}


def s_kafka_python_admin(boot):
    """KafkaAdminClient: create (with configs), list, describe topics, describe configs, create partitions, delete."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

    topic = unique_topic("kp-admin")
    admin = kp_admin(boot)
    try:
        admin.create_topics(
            [NewTopic(topic, 3, 1, topic_configs={"retention.ms": "123456789", "max.message.bytes": "2000000"})],
            timeout_ms=20000,
        )
        check(topic in eventually(admin.list_topics, lambda ts: topic in ts), "created topic not in list_topics")
        desc = admin.describe_topics([topic])
        log("describe_topics:", desc)
        d = desc[0]
        name = d.get("topic") or d.get("name")
        check(name == topic, f"describe_topics name {name!r}")
        check(d.get("error_code", 0) == 0, f"describe_topics error {d.get('error_code')}")
        check(sorted(p["partition_index"] for p in d["partitions"]) == [0, 1, 2], f"partitions {d['partitions']}")
        resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        cfg = _kp_configs_dict(resp, "topic", topic)
        log("describe_configs topic:", {k: cfg.get(k) for k in ("retention.ms", "max.message.bytes", "cleanup.policy")})
        check(cfg.get("retention.ms") == "123456789", f"retention.ms = {cfg.get('retention.ms')!r}")
        check(cfg.get("max.message.bytes") == "2000000", f"max.message.bytes = {cfg.get('max.message.bytes')!r}")
        check(cfg.get("cleanup.policy") == "delete", f"cleanup.policy = {cfg.get('cleanup.policy')!r}")
        resp = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all")
        bcfg = _kp_configs_dict(resp, "broker", "1")
        check(len(bcfg) > 10, f"broker configs: only {len(bcfg)}")
        admin.create_partitions({topic: NewPartitions(5)}, timeout_ms=20000)
        # Kafka propagates metadata asynchronously: poll (bounded) until the new count shows.
        d = eventually(lambda: admin.describe_topics([topic])[0], lambda d: len(d["partitions"]) == 5)
        check(len(d["partitions"]) == 5, f"after create_partitions: {len(d['partitions'])} partitions")
        admin.delete_topics([topic], timeout_ms=20000)
        deadline = time.monotonic() + DEADLINE_S
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        check(topic not in admin.list_topics(), "deleted topic still listed")
    finally:
        admin.close()


def s_confluent_admin(boot):
    """confluent AdminClient: create (with configs), list, describe_topics, describe_configs, create partitions, delete."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, ResourceType

    a = ck_admin(boot)
    topic = unique_topic("ck-admin")
    ck_wait(
        a.create_topics(
            [NewTopic(topic, 3, 1, config={"retention.ms": "123456789", "max.message.bytes": "2000000"})],
            operation_timeout=20,
        ),
        "create_topics",
    )
    # Kafka propagates a new topic to its metadata cache asynchronously: wait for it (bounded).
    md = eventually(lambda: a.list_topics(timeout=20), lambda m: topic in m.topics)
    check(topic in md.topics, "created topic not in list_topics")
    check(sorted(md.topics[topic].partitions) == [0, 1, 2], f"list_topics partitions {sorted(md.topics[topic].partitions)}")
    check(len(md.brokers) == 1, f"brokers {md.brokers}")
    fut = a.describe_topics(TopicCollection([topic]), request_timeout=20)
    d = fut[topic].result(timeout=DEADLINE_S)
    log("describe_topics:", d.name, d.topic_id, [(p.id, p.leader.id if p.leader else None) for p in d.partitions])
    check(d.name == topic and len(d.partitions) == 3, f"describe_topics {d}")
    check(all(p.leader is not None for p in d.partitions), "partition without leader")
    res = ConfigResource(ResourceType.TOPIC, topic)
    cfg = a.describe_configs([res], request_timeout=20)[res].result(timeout=DEADLINE_S)
    vals = {k: v.value for k, v in cfg.items()}
    log("describe_configs topic:", {k: vals.get(k) for k in ("retention.ms", "max.message.bytes", "cleanup.policy")})
    check(vals.get("retention.ms") == "123456789", f"retention.ms = {vals.get('retention.ms')!r}")
    check(vals.get("max.message.bytes") == "2000000", f"max.message.bytes = {vals.get('max.message.bytes')!r}")
    check(vals.get("cleanup.policy") == "delete", f"cleanup.policy = {vals.get('cleanup.policy')!r}")
    bres = ConfigResource(ResourceType.BROKER, str(next(iter(md.brokers))))
    bcfg = a.describe_configs([bres], request_timeout=20)[bres].result(timeout=DEADLINE_S)
    check(len(bcfg) > 10, f"broker configs: only {len(bcfg)}")
    ck_wait(a.create_partitions([NewPartitions(topic, 5)], operation_timeout=20), "create_partitions")
    # Kafka propagates metadata asynchronously: poll (bounded) until the new count shows.
    d = eventually(
        lambda: a.describe_topics(TopicCollection([topic]), request_timeout=20)[topic].result(timeout=DEADLINE_S),
        lambda d: len(d.partitions) == 5,
    )
    check(len(d.partitions) == 5, f"after create_partitions: {len(d.partitions)} partitions")
    ck_wait(a.delete_topics([topic], operation_timeout=20), "delete_topics")
    deadline = time.monotonic() + DEADLINE_S
    while topic in a.list_topics(timeout=20).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    check(topic not in a.list_topics(timeout=20).topics, "deleted topic still listed")


def s_confluent_delete_records_alter_configs(boot):
    """confluent AdminClient: delete_records moves the log start offset (then list_offsets and a
    consumer from the new start see exactly the records left), incremental_alter_configs SET and DELETE."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, OffsetSpec, ResourceType

    a = ck_admin(boot)
    topic = unique_topic("ck-delrec")
    ck_create(boot, topic, partitions=1, configs={"max.message.bytes": "2000000"})
    recs = records_for(partitions=(0,))
    ck_produce(boot, topic, recs)
    rs = recs[0]
    res = a.delete_records([TopicPartition(topic, 0, 3)], request_timeout=20)
    dr = list(res.values())[0].result(timeout=DEADLINE_S)
    check(dr.low_watermark == 3, f"delete_records: low watermark {dr.low_watermark}, want 3")
    tp = TopicPartition(topic, 0)
    early = a.list_offsets({tp: OffsetSpec.earliest()}, request_timeout=20)[tp].result(timeout=DEADLINE_S)
    late = a.list_offsets({tp: OffsetSpec.latest()}, request_timeout=20)[tp].result(timeout=DEADLINE_S)
    check((early.offset, late.offset) == (3, len(rs)), f"list_offsets earliest/latest {early.offset}/{late.offset}, want 3/{len(rs)}")
    compare(0, rs[3:], ck_consume(boot, topic, 0, 3, len(rs) - 3), 3)
    compare(0, rs[5:], kp_consume(boot, topic, 0, 5, len(rs) - 5), 5)

    r = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    ck_wait(a.incremental_alter_configs([r], request_timeout=20), "incremental_alter_configs")
    res = ConfigResource(ResourceType.TOPIC, topic)
    # Kafka answers AlterConfigs once the controller has the change; the broker that serves
    # DescribeConfigs applies it a moment later. Re-read (bounded, 15 s) until it shows.
    vals = eventually(
        lambda: {k: v.value for k, v in a.describe_configs([res], request_timeout=20)[res].result(timeout=DEADLINE_S).items()},
        lambda v: v.get("retention.ms") == "86400000" and v.get("max.message.bytes") == "1048588",
    )
    check(vals.get("retention.ms") == "86400000", f"after SET: retention.ms = {vals.get('retention.ms')!r}")
    check(vals.get("max.message.bytes") == "1048588", f"after DELETE: max.message.bytes = {vals.get('max.message.bytes')!r}, want the default 1048588")
    ck_wait(a.delete_topics([topic], operation_timeout=20), "delete_topics")


# ---------------------------------------------------------------- consumer groups

GROUP_SESSION_MS = 10000  # the broker's group.min.session.timeout.ms is 6000
GROUP_HEARTBEAT_MS = 500  # a rebalance is noticed within half a second


class KpMember:
    """A kafka-python KafkaConsumer(group_id=...) subscribed to one topic, no auto commit."""

    def __init__(self, boot, group, topic, name):
        from kafka import KafkaConsumer

        self.topic = topic
        self.c = KafkaConsumer(
            bootstrap_servers=boot,
            group_id=group,
            client_id=f"compat-kafka-python-{name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=GROUP_SESSION_MS,
            heartbeat_interval_ms=GROUP_HEARTBEAT_MS,
            fetch_max_wait_ms=200,
            request_timeout_ms=20000,
            # A member whose first metadata lacked the new topic's partitions is assigned none
            # and rejoins only once its metadata shows them: refresh every 3 s, not every 5 min
            # (seen against Apache Kafka 4.4 on a busy CI machine: no partitions for 30 s).
            metadata_max_age_ms=3000,
        )
        self.c.subscribe([topic])

    def poll(self, timeout_s):
        return [(tp.partition, kp_rec(m)) for tp, msgs in self.c.poll(timeout_ms=int(timeout_s * 1000)).items() for m in msgs]

    def assignment(self):
        return {tp.partition for tp in self.c.assignment() if tp.topic == self.topic}

    def commit(self, offsets):
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        self.c.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})

    def committed(self, partitions):
        from kafka import TopicPartition

        return {p: self.c.committed(TopicPartition(self.topic, p)) for p in partitions}

    def close(self):
        self.c.close()


class CkMember:
    """A confluent-kafka Consumer({'group.id': ...}) subscribed to one topic, no auto commit."""

    def __init__(self, boot, group, topic, name):
        from confluent_kafka import Consumer

        self.topic = topic
        self.c = Consumer(
            {
                "bootstrap.servers": boot,
                "group.id": group,
                "client.id": f"compat-confluent-{name}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": GROUP_SESSION_MS,
                "heartbeat.interval.ms": GROUP_HEARTBEAT_MS,
                "fetch.wait.max.ms": 200,
            }
        )
        self.c.subscribe([topic])

    def poll(self, timeout_s):
        m = self.c.poll(timeout_s)
        return [] if m is None else [(m.partition(), ck_rec(m))]

    def assignment(self):
        return {tp.partition for tp in self.c.assignment() if tp.topic == self.topic}

    def commit(self, offsets):
        from confluent_kafka import TopicPartition

        self.c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()], asynchronous=False)

    def committed(self, partitions):
        from confluent_kafka import TopicPartition

        res = self.c.committed([TopicPartition(self.topic, p) for p in partitions], timeout=20)
        for tp in res:
            check(tp.error is None, f"committed(): partition {tp.partition}: {tp.error}")
        return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in res}

    def close(self):
        self.c.close()


def wait_split(members, partitions):
    """Polls every member (bounded) until their assignments are disjoint, each non-empty and
    together cover all partitions. Nothing is left to consume at this point: a record polled
    while waiting is a failure (the committed offsets were not used)."""
    want = set(partitions)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        for m in members:
            stray = m.poll(0.1)
            check(not stray, f"records polled although every committed offset is at the end: {[(p, r['offset']) for p, r in stray][:5]}")
        owned = [m.assignment() for m in members]
        union = set().union(*owned)
        if all(owned) and union == want and sum(len(o) for o in owned) == len(want):
            log(f"partitions split between {len(members)} members: {[sorted(o) for o in owned]}")
            return owned
        if time.monotonic() > deadline:
            raise Failure(f"no split of partitions {sorted(want)} among {len(members)} members within {DEADLINE_S} s: assignments {[sorted(o) for o in owned]}")


def drain(members, count):
    """Polls every member in turn until count records arrived in total (bounded), then once more
    to catch extra (duplicate) records. Returns [{partition: [records]}] per member."""
    got = [dict() for _ in members]
    total = 0
    deadline = time.monotonic() + DEADLINE_S
    while total < count and time.monotonic() < deadline:
        for i, m in enumerate(members):
            for p, r in m.poll(0.2):
                got[i].setdefault(p, []).append(r)
                total += 1
    for i, m in enumerate(members):
        for p, r in m.poll(0.3):
            got[i].setdefault(p, []).append(r)
            total += 1
    check(total == count, f"consumed {total} records, want {count}: {[{p: [r['offset'] for r in rs] for p, rs in g.items()} for g in got]}")
    return got


def check_consumed(members, got, expected, base):
    """Each partition of expected was consumed by exactly one member, which owns it, and equals
    expected byte for byte from offset base. Returns per member the offsets to commit."""
    commits = [dict() for _ in members]
    for p, rs in expected.items():
        by = [i for i, g in enumerate(got) if p in g]
        check(len(by) == 1, f"partition {p} consumed by members {by}, want exactly one")
        i = by[0]
        check(p in members[i].assignment(), f"partition {p} consumed by member {i}, which owns {sorted(members[i].assignment())}")
        compare(p, rs, got[i][p], base)
        commits[i][p] = base + len(rs)
    return commits


def group_scenario(boot, lib, create, produce, member, admin_check):
    """One group, three partitions:
    1. member a consumes everything from the earliest offset, commits, closes;
    2. more records; member b (same group) resumes exactly after the committed offsets;
    3. member c joins and owns every partition, then d joins: disjoint, non-empty assignments
       covering all partitions; more records,
       each partition read by its owner only; both commit and close;
    4. group admin APIs: listed, described Empty, committed offsets exact, deleted."""
    topic = unique_topic(f"{lib}-grp")
    group = unique_topic(f"{lib}-group")
    parts = (0, 1, 2)
    # the records carry 2023 CreateTime timestamps: without retention.ms=-1, Kafka's retention
    # check (every 5 min) may delete them between two steps
    create(boot, topic, partitions=3, configs={"retention.ms": "-1"})
    base = 0
    for step, names in ((1, ["a"]), (2, ["b"]), (3, ["c", "d"])):
        recs = records_for(partitions=parts, per_partition=4 if step == 1 else 2, tag=b"%s-step%d" % (lib.encode(), step))
        members = []
        try:
            if step == 3:
                # c owns every partition first, then d joins and c must give some up (a
                # rebalance of a stable member); a record produced before that would be read by
                # whoever owned the partition at the time
                for n in names:
                    members.append(member(boot, group, topic, n))
                    wait_split(members, parts)
                produce(boot, topic, recs, base=base)
            else:
                produce(boot, topic, recs, base=base)
                members = [member(boot, group, topic, n) for n in names]
            got = drain(members, sum(len(rs) for rs in recs.values()))
            commits = check_consumed(members, got, recs, base)
            for m, offs in zip(members, commits):
                m.commit(offs)
            base += len(recs[0])
            committed = members[0].committed(parts)
            check(committed == {p: base for p in parts}, f"step {step}: committed offsets {committed}, want {base} on every partition")
            log(f"step {step}: members {names} consumed {sum(len(rs) for rs in recs.values())} records, committed {committed}")
        finally:
            for m in members:
                m.close()
    admin_check(boot, group, topic, {p: base for p in parts})


def kp_group_admin_check(boot, group, topic, offsets):
    from kafka import TopicPartition

    admin = kp_admin(boot)
    try:
        listed = {g["group_id"]: g for g in admin.list_groups()}
        check(group in listed, f"list_groups lacks {group}")
        check(listed[group].get("protocol_type") == "consumer", f"list_groups: {listed[group]}")
        d = admin.describe_groups([group])[group]
        log("describe_groups:", d)
        check(d.get("error_code", 0) == 0 and d["group_state"] == "Empty" and not d["members"], f"describe_groups: {d}")
        check(d["protocol_type"] == "consumer", f"describe_groups protocol_type {d['protocol_type']!r}")
        offs = admin.list_group_offsets({group: None})[group]
        got = {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic}
        check(got == offsets, f"list_group_offsets {got}, want {offsets}")
        res = admin.delete_groups([group])
        check(dict(res) == {group: "OK"}, f"delete_groups {res}")
        check(group not in {g["group_id"] for g in admin.list_groups()}, f"{group} still listed after delete_groups")
        offs = admin.list_group_offsets({group: [TopicPartition(topic, 0)]})[group]
        check(all(om.offset == -1 for om in offs.values()), f"committed offsets after delete_groups: {offs}")
    finally:
        admin.close()


def ck_group_admin_check(boot, group, topic, offsets):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions

    a = ck_admin(boot)
    listed = a.list_consumer_groups(request_timeout=20).result(timeout=DEADLINE_S)
    check(not listed.errors, f"list_consumer_groups errors {listed.errors}")
    mine = [g for g in listed.valid if g.group_id == group]
    check(len(mine) == 1, f"list_consumer_groups lacks {group}")
    check(mine[0].state == ConsumerGroupState.EMPTY and not mine[0].is_simple_consumer_group, f"list_consumer_groups: {mine[0]}")
    d = a.describe_consumer_groups([group], request_timeout=20)[group].result(timeout=DEADLINE_S)
    log("describe_consumer_groups:", d.group_id, d.state, d.partition_assignor, d.members, d.coordinator)
    check(d.state == ConsumerGroupState.EMPTY and not d.members, f"describe_consumer_groups: state {d.state}, members {d.members}")
    check(d.coordinator is not None and d.coordinator.id >= 0, f"describe_consumer_groups: coordinator {d.coordinator}")
    r = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=20)[group].result(timeout=DEADLINE_S)
    got = {tp.partition: tp.offset for tp in r.topic_partitions if tp.topic == topic}
    check(got == offsets, f"list_consumer_group_offsets {got}, want {offsets}")
    ck_wait(a.delete_consumer_groups([group], request_timeout=20), "delete_consumer_groups")
    listed = a.list_consumer_groups(request_timeout=20).result(timeout=DEADLINE_S)
    check(group not in {g.group_id for g in listed.valid}, f"{group} still listed after delete_consumer_groups")


def s_kafka_python_group(boot):
    """kafka-python KafkaConsumer(group_id=...): subscribe, commit, resume, split, group admin."""
    group_scenario(boot, "kp", kp_create, kp_produce, KpMember, kp_group_admin_check)


def s_confluent_group(boot):
    """confluent-kafka Consumer({'group.id': ...}): subscribe, commit, resume, split, group admin."""
    group_scenario(boot, "ck", ck_create, ck_produce, CkMember, ck_group_admin_check)


# ---------------------------------------------------------------- transactions (confluent-kafka)


def txn_batch(tag, n, partitions=3):
    """n records spread round-robin over the partitions: dict(p, key, value); offset is filled in
    from the delivery report."""
    return [dict(p=i % partitions, key=b"%s-%d" % (tag, i), value=b"value-%s-%d" % (tag, i), offset=None) for i in range(n)]


def ck_txn_producer(boot, txn_id):
    """A confluent-kafka Producer with transactional.id, after init_transactions()."""
    from confluent_kafka import Producer

    prod = Producer(
        {
            "bootstrap.servers": boot,
            "transactional.id": txn_id,
            "transaction.timeout.ms": 60000,
            "client.id": "compat-confluent-txn",
            "linger.ms": 5,
        }
    )
    prod.init_transactions(DEADLINE_S)
    return prod


def ck_txn_send(prod, topic, recs, commit, offsets=None, group_metadata=None):
    """One transaction: begin, produce recs (flushed, acked offsets filled in), optionally
    send_offsets_to_transaction(offsets, group_metadata), then commit or abort."""
    prod.begin_transaction()
    errors = []

    def dr_for(r):
        def dr(err, msg):
            if err is not None:
                errors.append(f"delivery of {r['key']!r} failed: {err}")
            else:
                r["offset"] = msg.offset()
                if msg.partition() != r["p"]:
                    errors.append(f"{r['key']!r} acked in partition {msg.partition()}")

        return dr

    for r in recs:
        prod.produce(topic, key=r["key"], value=r["value"], partition=r["p"], on_delivery=dr_for(r))
        prod.poll(0)
    left = prod.flush(DEADLINE_S)
    check(left == 0, f"{left} messages still in queue after flush({DEADLINE_S})")
    check(not errors, "; ".join(errors[:5]))
    if offsets is not None:
        prod.send_offsets_to_transaction(offsets, group_metadata, DEADLINE_S)
    if commit:
        prod.commit_transaction(DEADLINE_S)
    else:
        prod.abort_transaction(DEADLINE_S)


def ck_read_isolated(boot, topic, partitions, isolation, want):
    """assign() every partition from the beginning with isolation.level=isolation; polls until
    want records arrived, then 1.5 s more for extras. Returns {p: [(offset, key, value)]}."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": boot,
            "group.id": "compat-unused",  # required by the client config; assign() uses no group API
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "client.id": "compat-confluent-txn-reader",
            "fetch.wait.max.ms": 200,
        }
    )
    got = {p: [] for p in range(partitions)}
    n = 0
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + DEADLINE_S
        extra_until = None
        while True:
            now = time.monotonic()
            if extra_until is None and n >= want:
                extra_until = now + 1.5
            if (extra_until is not None and now >= extra_until) or now >= deadline:
                break
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error():
                raise Failure(f"{isolation} consumer error: {m.error()}")
            got[m.partition()].append((m.offset(), m.key(), m.value()))
            n += 1
        check(n >= want, f"{isolation}: read {n} of {want} records of {topic} in {DEADLINE_S} s")
        return got
    finally:
        c.close()


def expect_txn(what, got, want):
    """got ({p: [(offset, key, value)]}) is exactly want (txn_batch records), in offset order."""
    for p in got:
        w = sorted(((r["offset"], r["key"], r["value"]) for r in want if r["p"] == p), key=lambda t: t[0])
        g = got[p]
        check(len(g) == len(w), f"{what}, partition {p}: read {len(g)} records, want {len(w)}: {g[:3]}...")
        for i, (a, b) in enumerate(zip(g, w)):
            check(a == b, f"{what}, partition {p}, record {i}: read {a}, want {b}")


def s_confluent_transactions(boot):
    """confluent-kafka transactional producer (init_transactions, begin/commit, begin/abort):
    commit 18 records over 3 partitions, abort 9, commit 6; a read_committed consumer (assign
    from the beginning) gets exactly the 24 committed at their acked offsets, read_uncommitted
    all 33; each partition's high watermark is its records + 3 transaction markers."""
    from confluent_kafka import TopicPartition

    topic = unique_topic("ck-txn")
    ck_create(boot, topic, 3)
    prod = ck_txn_producer(boot, topic + "-txn")
    c1, ab, c2 = txn_batch(b"c1", 18), txn_batch(b"ab", 9), txn_batch(b"c2", 6)
    ck_txn_send(prod, topic, c1, True)
    ck_txn_send(prod, topic, ab, False)
    ck_txn_send(prod, topic, c2, True)
    expect_txn("read_committed", ck_read_isolated(boot, topic, 3, "read_committed", len(c1) + len(c2)), c1 + c2)
    expect_txn("read_uncommitted", ck_read_isolated(boot, topic, 3, "read_uncommitted", len(c1) + len(ab) + len(c2)), c1 + ab + c2)
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": boot, "group.id": "compat-unused", "enable.auto.commit": False})
    try:
        for p in range(3):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
            want = (len(c1) + len(ab) + len(c2)) // 3 + 3
            check((lo, hi) == (0, want), f"partition {p}: watermarks {(lo, hi)}, want (0, {want}) (records + 3 markers)")
    finally:
        c.close()
    log(f"read_committed: exactly the {len(c1) + len(c2)} committed; read_uncommitted: all {len(c1) + len(ab) + len(c2)}")


def s_confluent_send_offsets_to_transaction(boot):
    """consume-transform-produce: an input topic gets 12 committed and 6 aborted records; a
    group consumer (read_committed, no auto commit) and a transactional producer process them in
    transactions of at most 5 records, each with send_offsets_to_transaction(offsets,
    consumer.consumer_group_metadata()) + commit. The first transaction (output 'junk-' records and
    offsets) is aborted: the group then has no committed offsets, and the consumer seeks back.
    Then: the group's committed offsets are the last committed input offset + 1 per partition,
    the output read_committed has every transformed input exactly once and no junk, and
    read_uncommitted shows the junk."""
    from confluent_kafka import Consumer, TopicPartition

    src_topic, out_topic = unique_topic("ck-txn-in"), unique_topic("ck-txn-out")
    group = src_topic + "-group"
    ck_create(boot, src_topic, 3)
    ck_create(boot, out_topic, 3)
    src = ck_txn_producer(boot, src_topic + "-source")
    c1, ab = txn_batch(b"in", 12), txn_batch(b"in-aborted", 6)
    ck_txn_send(src, src_topic, ab, False)
    ck_txn_send(src, src_topic, c1, True)
    want_offsets = {}
    for r in c1:
        want_offsets[r["p"]] = max(want_offsets.get(r["p"], 0), r["offset"] + 1)

    c = Consumer(
        {
            "bootstrap.servers": boot,
            "group.id": group,
            "client.id": "compat-confluent-ctp",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": GROUP_SESSION_MS,
            "heartbeat.interval.ms": GROUP_HEARTBEAT_MS,
            "fetch.wait.max.ms": 200,
        }
    )
    prod = ck_txn_producer(boot, src_topic + "-ctp")
    done = {}
    junk = []
    transactions = 0
    try:
        c.subscribe([src_topic])
        deadline = time.monotonic() + 60
        while len(done) < len(c1):
            check(time.monotonic() < deadline, f"processed {len(done)} of {len(c1)} committed input records in 60 s")
            msgs = c.consume(num_messages=5, timeout=1.0)
            if not msgs:
                continue
            for m in msgs:
                if m.error():
                    raise Failure(f"group consumer error: {m.error()}")
                check(not m.key().startswith(b"in-aborted"), f"read_committed group consumer got aborted {m.key()!r}")
            first = not junk
            prefix = b"junk-" if first else b"out-"
            outs = [dict(p=m.partition(), key=m.key(), value=prefix + m.value(), offset=None) for m in msgs]
            offsets = {}
            for m in msgs:
                offsets[m.partition()] = max(offsets.get(m.partition(), 0), m.offset() + 1)
            tps = [TopicPartition(src_topic, p, o) for p, o in sorted(offsets.items())]
            ck_txn_send(prod, out_topic, outs, not first, tps, c.consumer_group_metadata())
            if first:
                junk = outs
                got = c.committed([TopicPartition(src_topic, p) for p in range(3)], timeout=20)
                check(all(tp.offset < 0 for tp in got), f"after an aborted transaction the group has offsets {[(tp.partition, tp.offset) for tp in got]}")
                # rewind to the first record of the aborted transaction in each partition
                for p in offsets:
                    c.seek(TopicPartition(src_topic, p, min(m.offset() for m in msgs if m.partition() == p)))
                continue
            transactions += 1
            for m in msgs:
                check(m.key() not in done, f"input record {m.key()!r} processed twice")
                done[m.key()] = m.value()
        got = c.committed([TopicPartition(src_topic, p) for p in range(3)], timeout=20)
        got_offsets = {tp.partition: tp.offset for tp in got if tp.offset >= 0}
        check(got_offsets == want_offsets, f"group {group} committed {got_offsets}, want {want_offsets} (last committed input + 1)")
    finally:
        c.close()
    out = ck_read_isolated(boot, out_topic, 3, "read_committed", len(c1))
    seen = {}
    for p, rs in out.items():
        for _, k, v in rs:
            check(k not in seen, f"output: {k!r} twice read_committed")
            seen[k] = v
    want = {r["key"]: b"out-" + r["value"] for r in c1}
    check(seen == want, f"output read_committed {sorted(seen.items())[:4]}..., want {sorted(want.items())[:4]}...")
    allout = ck_read_isolated(boot, out_topic, 3, "read_uncommitted", len(c1) + len(junk))
    njunk = sum(1 for rs in allout.values() for _, _, v in rs if v.startswith(b"junk-"))
    check(njunk == len(junk), f"read_uncommitted shows {njunk} junk records, want {len(junk)}")
    log(f"aborted txn of {len(junk)} left no group offsets; {len(c1)} inputs transformed exactly once in {transactions} transactions; offsets {want_offsets}")


SCENARIOS = {
    "kafka-python-produce-consume": s_kafka_python_produce_consume,
    "confluent-produce-consume": s_confluent_produce_consume,
    "cross-kafka-python-to-confluent": s_cross_kafka_python_to_confluent,
    "cross-confluent-to-kafka-python": s_cross_confluent_to_kafka_python,
    "confluent-compression": s_confluent_compression,
    "kafka-python-admin": s_kafka_python_admin,
    "confluent-admin": s_confluent_admin,
    "confluent-delete-records-alter-configs": s_confluent_delete_records_alter_configs,
    "kafka-python-group": s_kafka_python_group,
    "confluent-group": s_confluent_group,
    "confluent-transactions": s_confluent_transactions,
    "confluent-send-offsets-to-transaction": s_confluent_send_offsets_to_transaction,
}


# ---------------------------------------------------------------- cross-client reading


def b64(s):
    return None if s is None else base64.b64decode(s)


def expected_json(path):
    """The JSON another client wrote: {"topic": T, "partitions": {"P": [{"key","value" (base64 or
    null), "headers": [[name, base64 value]], "ts": ms}]}} in offset order from offset 0."""
    with open(path) as f:
        doc = json.load(f)
    recs = {}
    for p, rs in doc["partitions"].items():
        recs[int(p)] = [
            dict(key=b64(r["key"]), value=b64(r["value"]), headers=[(h[0], b64(h[1])) for h in r["headers"]], ts=r["ts"])
            for r in rs
        ]
    return doc["topic"], recs


def verify_json(boot, path, lib):
    topic, recs = expected_json(path)
    consume = kp_consume if lib == "kafka-python" else ck_consume
    for p, rs in recs.items():
        compare(p, rs, consume(boot, topic, p, 0, len(rs)), 0)
        if len(rs) > 2:
            compare(p, rs[2:], consume(boot, topic, p, 2, len(rs) - 2), 2)
    log(f"{lib}: topic {topic}: {sum(len(r) for r in recs.values())} records checked")


def main():
    boot, what = sys.argv[1], sys.argv[2]
    if what == "list":
        print("\n".join(SCENARIOS))
        return 0
    if what == "versions":
        import confluent_kafka
        import kafka

        print(f"kafka-python {kafka.__version__}")
        print(f"confluent-kafka-python {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})")
        return 0
    try:
        if what == "verify-json":
            verify_json(boot, sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "confluent")
        else:
            SCENARIOS[what](boot)
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
