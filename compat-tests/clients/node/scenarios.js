#!/usr/bin/env node
// kafkajs scenarios against a Kafka-compatible broker.
//
//   node scenarios.js BOOTSTRAP list                      names of the scenarios
//   node scenarios.js BOOTSTRAP versions                  "kafkajs X.Y.Z"
//   node scenarios.js BOOTSTRAP SCENARIO [FILE]           run one scenario; exit 0 = pass
//
// kafkajs consumers only work inside a consumer group (no assign() API) and the broker has no
// group coordinator yet, so there is no kafkajs consumer here: the produce scenarios write what
// they sent (and the offsets the broker acked) to FILE as JSON, and `run` reads it back byte for
// byte with the confluent-kafka, kafka-python and franz-go consumers (cross-client check).
'use strict';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const crypto = require('crypto');
const fs = require('fs');
const { Kafka, logLevel, ConfigResourceTypes, CompressionTypes } = require('kafkajs');

const BASE_TS = 1700000000000;

class Failure extends Error {}

function check(cond, what) {
  if (!cond) throw new Failure(what);
}

function uniqueTopic(prefix) {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

function client(boot, id) {
  return new Kafka({
    clientId: id,
    brokers: [boot],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 20000,
    retry: { retries: 5, maxRetryTime: 5000 },
  });
}

// The record set: per partition, in offset order. Header values are Buffers; a header name given
// twice is sent as two headers in order (kafkajs takes an array value for that).
function recordsFor(partitions, perPartition, tag) {
  const out = {};
  let ts = BASE_TS;
  for (const p of partitions) {
    const rs = [];
    for (let i = 0; i < perPartition; i++) {
      ts += 1000 + p;
      let key = Buffer.from(`key-${p}-${i}-${tag}`);
      let value = Buffer.concat([Buffer.from(`value-${p}-${i}-${tag}-`), Buffer.from([i, 0, 255, 10, 13])]);
      let headers = [
        ['h', Buffer.from(String(i))],
        ['h', Buffer.from(`dup-${i}`)],
        ['été', Buffer.from('café')],
      ];
      if (i === 1) key = null;
      if (i === 2) {
        value = Buffer.from([...Array(256).keys()]);
        headers = [];
      }
      if (i === 3) {
        value = Buffer.alloc(0);
        headers = [['empty', Buffer.alloc(0)]];
      }
      if (i === 4) value = null; // tombstone
      if (i === 5) {
        value = crypto.randomBytes(100 * 1024);
        key = Buffer.from([0, 255, 0, ...Buffer.from('binary-key')]);
      }
      rs.push({ key, value, headers, ts });
    }
    out[p] = rs;
  }
  return out;
}

function kafkajsHeaders(headers) {
  const h = {};
  for (const [k, v] of headers) {
    if (k in h) h[k] = [].concat(h[k], v);
    else h[k] = v;
  }
  return h;
}

function toJSON(topic, recs) {
  const b64 = (b) => (b === null ? null : b.toString('base64'));
  const doc = { topic, partitions: {} };
  for (const [p, rs] of Object.entries(recs)) {
    doc.partitions[p] = rs.map((r) => ({
      key: b64(r.key),
      value: b64(r.value),
      headers: r.headers.map(([k, v]) => [k, b64(v)]),
      ts: r.ts,
    }));
  }
  return JSON.stringify(doc);
}

async function createTopic(kafka, topic, numPartitions, configEntries = []) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }],
      waitForLeaders: true,
      timeout: 20000,
    });
    check(created === true, `createTopics returned ${created}`);
  } finally {
    await admin.disconnect();
  }
}

async function produce(boot, file, idempotent) {
  const kafka = client(boot, idempotent ? 'compat-kafkajs-idempotent' : 'compat-kafkajs-plain');
  const topic = uniqueTopic(idempotent ? 'kjs-idem' : 'kjs-plain');
  await createTopic(kafka, topic, 3);
  const recs = recordsFor([0, 2], 7, idempotent ? 'kjs-idem' : 'kjs');
  const producer = kafka.producer(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {});
  await producer.connect();
  try {
    // one send per partition in a single request (sendBatch), acks=all
    const topicMessages = [
      {
        topic,
        messages: Object.entries(recs).flatMap(([p, rs]) =>
          rs.map((r) => ({
            partition: Number(p),
            key: r.key,
            value: r.value,
            headers: kafkajsHeaders(r.headers),
            timestamp: String(r.ts),
          })),
        ),
      },
    ];
    const md = await producer.sendBatch({ topicMessages, acks: -1, timeout: 20000 });
    for (const m of md) {
      check(m.errorCode === 0, `partition ${m.partition}: error code ${m.errorCode}`);
      check(m.baseOffset === '0', `partition ${m.partition}: base offset ${m.baseOffset}, want 0`);
    }
    check(md.map((m) => m.partition).sort().join(',') === '0,2', `acked partitions ${JSON.stringify(md)}`);
    // a second send on partition 0, gzip-compressed (kafkajs' only built-in codec), lands right after
    const extra = { key: Buffer.from('extra'), value: Buffer.from('after-batch '.repeat(50)), headers: [['x', Buffer.from('y')]], ts: BASE_TS + 99000 };
    const md2 = await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: [{ partition: 0, key: extra.key, value: extra.value, headers: { x: extra.headers[0][1] }, timestamp: String(extra.ts) }],
    });
    check(md2.length === 1 && md2[0].baseOffset === String(recs[0].length), `second send acked at ${JSON.stringify(md2)}`);
    recs[0].push(extra);
  } finally {
    await producer.disconnect();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    const byP = Object.fromEntries(offs.map((o) => [o.partition, o]));
    for (const p of [0, 1, 2]) {
      const want = recs[p] ? recs[p].length : 0;
      check(byP[p] && byP[p].low === '0' && byP[p].high === String(want), `fetchTopicOffsets partition ${p}: ${JSON.stringify(byP[p])}, want 0..${want}`);
    }
  } finally {
    await admin.disconnect();
  }
  fs.writeFileSync(file, toJSON(topic, recs));
  console.error(`topic ${topic}: produced ${recs[0].length + recs[2].length} records, written to ${file}`);
}

async function adminScenario(boot) {
  const kafka = client(boot, 'compat-kafkajs-admin');
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueTopic('kjs-admin');
  try {
    const created = await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 3,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: '123456789' },
            { name: 'max.message.bytes', value: '2000000' },
          ],
        },
      ],
      waitForLeaders: true,
      timeout: 20000,
    });
    check(created === true, `createTopics returned ${created}`);
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], timeout: 20000 });
    check(again === false, `createTopics of an existing topic returned ${again}, want false`);

    const names = await admin.listTopics();
    check(names.includes(topic), `listTopics lacks ${topic}`);

    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    check(md.topics.length === 1 && md.topics[0].name === topic, `fetchTopicMetadata ${JSON.stringify(md)}`);
    const parts = md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId);
    check(parts.map((p) => p.partitionId).join(',') === '0,1,2', `partitions ${JSON.stringify(parts)}`);
    for (const p of parts) {
      check(p.partitionErrorCode === 0 && p.leader >= 0 && p.replicas.length === 1 && p.isr.length === 1, `partition ${JSON.stringify(p)}`);
    }

    const offs = await admin.fetchTopicOffsets(topic);
    check(offs.length === 3 && offs.every((o) => o.low === '0' && o.high === '0' && o.offset === '0'), `fetchTopicOffsets on an empty topic: ${JSON.stringify(offs)}`);

    const cfg = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false });
    const res = cfg.resources[0];
    check(res.errorCode === 0, `describeConfigs error ${res.errorCode} ${res.errorMessage}`);
    const vals = Object.fromEntries(res.configEntries.map((c) => [c.configName, c.configValue]));
    console.error(`topic configs: retention.ms=${vals['retention.ms']} max.message.bytes=${vals['max.message.bytes']} cleanup.policy=${vals['cleanup.policy']}`);
    check(vals['retention.ms'] === '123456789', `retention.ms = ${vals['retention.ms']}`);
    check(vals['max.message.bytes'] === '2000000', `max.message.bytes = ${vals['max.message.bytes']}`);
    check(vals['cleanup.policy'] === 'delete', `cleanup.policy = ${vals['cleanup.policy']}`);

    const cluster = await admin.describeCluster();
    check(cluster.brokers.length === 1 && cluster.controller !== null, `describeCluster ${JSON.stringify(cluster)}`);

    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }], timeout: 20000 });
    const md2 = await admin.fetchTopicMetadata({ topics: [topic] });
    check(md2.topics[0].partitions.length === 5, `after createPartitions: ${md2.topics[0].partitions.length} partitions`);

    await admin.deleteTopics({ topics: [topic], timeout: 20000 });
    const deadline = Date.now() + 30000;
    let left = await admin.listTopics();
    while (left.includes(topic) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = await admin.listTopics();
    }
    check(!left.includes(topic), 'deleted topic still listed');
  } finally {
    await admin.disconnect();
  }
}

const SCENARIOS = {
  'kafkajs-produce-idempotent': (boot, file) => produce(boot, file, true),
  'kafkajs-produce-plain': (boot, file) => produce(boot, file, false),
  'kafkajs-admin': (boot) => adminScenario(boot),
};

async function main() {
  const [boot, what, arg] = process.argv.slice(2);
  if (what === 'list') {
    console.log(Object.keys(SCENARIOS).join('\n'));
    return 0;
  }
  if (what === 'versions') {
    console.log(`kafkajs ${require('kafkajs/package.json').version}`);
    return 0;
  }
  const f = SCENARIOS[what];
  if (!f) {
    console.error(`unknown scenario ${what}`);
    return 2;
  }
  try {
    await f(boot, arg);
    return 0;
  } catch (e) {
    console.error(`FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
    return 1;
  }
}

main().then((code) => process.exit(code));
