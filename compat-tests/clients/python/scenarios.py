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
There are no consumer groups on the broker yet: every consumer uses manual assignment.
"""

import base64
import json
import os
import sys
import time
import uuid

DEADLINE_S = 30  # bound on every poll loop inside a scenario
BASE_TS = 1_700_000_000_000  # explicit CreateTime timestamps, strictly increasing



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
    finally:
        admin.close()


def kp_produce(boot, topic, recs):
    """kafka-python producer, plain (not idempotent), acks=all. Returns nothing; checks metadata."""
    from kafka import KafkaProducer

    prod = KafkaProducer(
        bootstrap_servers=boot,
        acks="all",
        enable_idempotence=False,
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
            check(md.offset == i, f"partition {p} record {i}: acked at offset {md.offset}")
            check(md.timestamp == r["ts"], f"partition {p} record {i}: acked timestamp {md.timestamp} != {r['ts']}")
    finally:
        prod.close(timeout=10)


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
                for m in msgs:
                    got.append(
                        dict(
                            offset=m.offset,
                            key=m.key,
                            value=m.value,
                            headers=[(k, v) for k, v in m.headers],
                            ts=m.timestamp,
                            ts_type="create" if m.timestamp_type == 0 else "log-append",
                        )
                    )
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


def ck_produce(boot, topic, recs, compression="none"):
    """confluent-kafka producer, enable.idempotence=true, acks=all."""
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
            m = reports.get((p, i))
            check(m is not None, f"no delivery report for partition {p} offset {i}: got {sorted(reports)}")
            check(m.value() == r["value"] and m.key() == r["key"], f"delivery report p{p} o{i}: wrong record")


def ck_consume(boot, topic, partition, offset, count):
    """confluent-kafka consumer, assign([TopicPartition(t, p, offset)]), no group subscription."""
    from confluent_kafka import Consumer, TopicPartition, TIMESTAMP_CREATE_TIME

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
            if m.error():
                raise Failure(f"consumer error: {m.error()}")
            tstype, ts = m.timestamp()
            got.append(
                dict(
                    offset=m.offset(),
                    key=m.key(),
                    value=m.value(),
                    headers=list(m.headers() or []),
                    ts=ts,
                    ts_type="create" if tstype == TIMESTAMP_CREATE_TIME else f"type-{tstype}",
                )
            )
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
        check(topic in admin.list_topics(), "created topic not in list_topics")
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
    md = a.list_topics(timeout=20)
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
    vals = {k: v.value for k, v in a.describe_configs([res], request_timeout=20)[res].result(timeout=DEADLINE_S).items()}
    check(vals.get("retention.ms") == "86400000", f"after SET: retention.ms = {vals.get('retention.ms')!r}")
    check(vals.get("max.message.bytes") == "1048588", f"after DELETE: max.message.bytes = {vals.get('max.message.bytes')!r}, want the default 1048588")
    ck_wait(a.delete_topics([topic], operation_timeout=20), "delete_topics")


SCENARIOS = {
    "kafka-python-produce-consume": s_kafka_python_produce_consume,
    "confluent-produce-consume": s_confluent_produce_consume,
    "cross-kafka-python-to-confluent": s_cross_kafka_python_to_confluent,
    "cross-confluent-to-kafka-python": s_cross_confluent_to_kafka_python,
    "confluent-compression": s_confluent_compression,
    "kafka-python-admin": s_kafka_python_admin,
    "confluent-admin": s_confluent_admin,
    "confluent-delete-records-alter-configs": s_confluent_delete_records_alter_configs,
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
