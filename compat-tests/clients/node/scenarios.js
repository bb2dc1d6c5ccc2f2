#!/usr/bin/env node
// kafkajs scenarios against a Kafka-compatible broker.
//
//   node scenarios.js BOOTSTRAP list                      names of the scenarios
//   node scenarios.js BOOTSTRAP versions                  "kafkajs X.Y.Z"
//   node scenarios.js BOOTSTRAP SCENARIO [FILE]           run one scenario; exit 0 = pass
//
// The produce scenarios write what they sent (and the offsets the broker acked) to FILE as JSON,
// and `run` reads it back byte for byte with the confluent-kafka, kafka-python and franz-go
// consumers (cross-client check). kafkajs consumers only work inside a consumer group (there is
// no assign() API): kafkajs-group reads what kafkajs produced with a kafkajs group consumer;
// kafkajs-transactions checks transactional producing, read_committed reads and sendOffsets.
'use strict';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const crypto = require('crypto');
const fs = require('fs');
const { Kafka, logLevel, ConfigResourceTypes, CompressionTypes } = require('kafkajs');

// Explicit CreateTime timestamps from an hour ago: fixed old timestamps would be past retention.ms
// (7 days), and the broker's periodic retention check could delete the data between produce and
// consume.
const BASE_TS = (Math.floor(Date.now() / 1000) - 3600) * 1000;

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

// Sends recs (partition -> records) in one sendBatch (one request), acks=all; every partition
// must be acked at base offset `base`.
async function sendRecords(producer, topic, recs, base) {
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
    check(m.baseOffset === String(base), `partition ${m.partition}: base offset ${m.baseOffset}, want ${base}`);
  }
  const want = Object.keys(recs).sort().join(',');
  check(md.map((m) => m.partition).sort().join(',') === want, `acked partitions ${JSON.stringify(md)}, want ${want}`);
}

async function produce(boot, file, idempotent) {
  const kafka = client(boot, idempotent ? 'compat-kafkajs-idempotent' : 'compat-kafkajs-plain');
  const topic = uniqueTopic(idempotent ? 'kjs-idem' : 'kjs-plain');
  await createTopic(kafka, topic, 3);
  const recs = recordsFor([0, 2], 7, idempotent ? 'kjs-idem' : 'kjs');
  const producer = kafka.producer(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {});
  await producer.connect();
  try {
    await sendRecords(producer, topic, recs, 0);
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
    // Kafka propagates metadata asynchronously: poll (bounded, 15 s) until the new count shows.
    let md2 = await admin.fetchTopicMetadata({ topics: [topic] });
    for (const until = Date.now() + 15000; md2.topics[0].partitions.length !== 5 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      md2 = await admin.fetchTopicMetadata({ topics: [topic] });
    }
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

// ---------------------------------------------------------------- consumer group

function sameBuf(a, b) {
  return (a === null || a === undefined) ? b === null : b !== null && Buffer.compare(a, b) === 0;
}

// kafkajs hands headers over as an object (a repeated name becomes an array, in order): compare
// it with the headers sent, names in order of first appearance.
function sameHeaders(got, sent) {
  const want = kafkajsHeaders(sent);
  const gk = Object.keys(got || {});
  if (gk.join('\u0000') !== Object.keys(want).join('\u0000')) return false;
  return gk.every((k) => {
    const g = [].concat(got[k]);
    const w = [].concat(want[k]);
    return g.length === w.length && g.every((b, i) => Buffer.compare(b, w[i]) === 0);
  });
}

// got: [{partition, message}] in arrival order; want: partition -> records from offset base.
function compareGroupRead(got, want, base) {
  for (const [p, rs] of Object.entries(want)) {
    const mine = got.filter((g) => g.partition === Number(p)).map((g) => g.message);
    check(mine.length === rs.length, `partition ${p}: consumed ${mine.length} records, want ${rs.length} from offset ${base}`);
    rs.forEach((r, i) => {
      const m = mine[i];
      const at = `partition ${p} offset ${base + i}`;
      check(m.offset === String(base + i), `${at}: consumed offset ${m.offset}`);
      check(sameBuf(m.key, r.key), `${at}: key ${m.key} != ${r.key}`);
      check(sameBuf(m.value, r.value), `${at}: value differs (${m.value === null ? 'null' : m.value.length + ' bytes'})`);
      check(sameHeaders(m.headers, r.headers), `${at}: headers ${JSON.stringify(m.headers)}`);
      check(m.timestamp === String(r.ts), `${at}: timestamp ${m.timestamp} != ${r.ts}`);
    });
  }
  const extra = got.filter((g) => !(String(g.partition) in want));
  check(extra.length === 0, `records from partitions nobody wrote to: ${JSON.stringify(extra.map((g) => g.partition))}`);
}

// A group member (autoCommit off) that reads `count` records (bounded), then waits 500 ms for
// extra ones, commits the next offset of each partition it read and leaves the group.
// consumerOpts are added to the consumer's config (e.g. readUncommitted).
async function groupRead(kafka, groupId, topic, count, consumerOpts = {}) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200, retry: { retries: 5 }, ...consumerOpts });
  const got = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { got.push({ partition, message }); } });
    const deadline = Date.now() + 30000;
    while (got.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    check(got.length === count, `consumed ${got.length} records, want ${count}`);
    const next = {};
    for (const g of got) next[g.partition] = Math.max(next[g.partition] || 0, Number(g.message.offset) + 1);
    await consumer.commitOffsets(Object.entries(next).map(([partition, offset]) => ({ topic, partition: Number(partition), offset: String(offset) })));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

async function committed(admin, groupId, topic) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  check(res.length === 1 && res[0].topic === topic, `fetchOffsets ${JSON.stringify(res)}`);
  return Object.fromEntries(res[0].partitions.map((p) => [p.partition, p.offset]));
}

async function groupScenario(boot) {
  const kafka = client(boot, 'compat-kafkajs-group');
  const topic = uniqueTopic('kjs-grp');
  const groupId = uniqueTopic('kjs-group');
  // the records carry 2023 CreateTime timestamps: without retention.ms=-1, Kafka's retention
  // check (every 5 min) may delete them between two steps (it did, once, before the re-read)
  await createTopic(kafka, topic, 3, [{ name: 'retention.ms', value: '-1' }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const admin = kafka.admin();
  await producer.connect();
  await admin.connect();
  const all = { 0: [], 1: [], 2: [] };
  const want = (n) => JSON.stringify({ 0: String(n), 1: String(n), 2: String(n) });
  try {
    // 1. a group member reads everything kafkajs produced, commits, leaves
    const first = recordsFor([0, 1, 2], 4, 'kjs-grp1');
    await sendRecords(producer, topic, first, 0);
    compareGroupRead(await groupRead(kafka, groupId, topic, 12), first, 0);
    let c = await committed(admin, groupId, topic);
    check(JSON.stringify(c) === want(4), `committed after the first member: ${JSON.stringify(c)}, want 4 each`);
    // 2. more records; the next member of the group reads only those
    const second = recordsFor([0, 1, 2], 2, 'kjs-grp2');
    await sendRecords(producer, topic, second, 4);
    compareGroupRead(await groupRead(kafka, groupId, topic, 6), second, 4);
    c = await committed(admin, groupId, topic);
    check(JSON.stringify(c) === want(6), `committed after the second member: ${JSON.stringify(c)}, want 6 each`);
    // 3. admin: listed, described (no members), reset to earliest, then everything is read again
    const listed = (await admin.listGroups()).groups.filter((g) => g.groupId === groupId);
    check(listed.length === 1 && listed[0].protocolType === 'consumer', `listGroups: ${JSON.stringify(listed)}`);
    const described = await admin.describeGroups([groupId]);
    const d = described.groups[0];
    check(described.groups.length === 1 && d.groupId === groupId && d.errorCode === 0, `describeGroups: ${JSON.stringify(described)}`);
    check(d.state === 'Empty' && d.members.length === 0 && d.protocolType === 'consumer', `describeGroups: state ${d.state}, ${d.members.length} members, protocol type ${d.protocolType}`);
    await admin.resetOffsets({ groupId, topic, earliest: true });
    // kafkajs commits the special offset -2 ("earliest") itself, and Kafka keeps it as it is
    c = await committed(admin, groupId, topic);
    check(JSON.stringify(c) === want(-2), `committed after resetOffsets earliest: ${JSON.stringify(c)}, want -2 each`);
    for (const p of [0, 1, 2]) all[p] = first[p].concat(second[p]);
    compareGroupRead(await groupRead(kafka, groupId, topic, 18), all, 0);
    c = await committed(admin, groupId, topic);
    check(JSON.stringify(c) === want(6), `committed after reading again: ${JSON.stringify(c)}, want 6 each`);
    // 4. deleteGroups: gone from listGroups
    const del = await admin.deleteGroups([groupId]);
    check(del.length === 1 && del[0].groupId === groupId && del[0].errorCode === 0, `deleteGroups: ${JSON.stringify(del)}`);
    const left = (await admin.listGroups()).groups.filter((g) => g.groupId === groupId);
    check(left.length === 0, `${groupId} still listed after deleteGroups`);
    console.error(`topic ${topic}, group ${groupId}: 18 records read by kafkajs group members, 36 with the re-read`);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}

// kafkajs transactions: producer({ transactionalId, idempotent, maxInFlightRequests: 1 }) commits
// 12 records over 3 partitions, aborts 6, commits 3. A kafkajs group member with
// readUncommitted: false (the kafkajs default) reads exactly the 15 committed, per partition in
// send order; one with readUncommitted: true reads all 21. Then txn.sendOffsets({ consumerGroupId,
// topics }) in an aborted transaction leaves the group without offsets, and in a committed one
// sets exactly the offsets sent (admin.fetchOffsets).
async function transactionsScenario(boot) {
  const kafka = client(boot, 'compat-kafkajs-txn');
  const topic = uniqueTopic('kjs-txn');
  await createTopic(kafka, topic, 3);
  const producer = kafka.producer({ transactionalId: `${topic}-txn`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60000 });
  const admin = kafka.admin();
  await producer.connect();
  await admin.connect();
  try {
    const batch = (tag, n) =>
      Array.from({ length: n }, (_, i) => ({ partition: i % 3, key: Buffer.from(`${tag}-${i}`), value: Buffer.from(`value-${tag}-${i}`) }));
    const txnSend = async (messages, commit, offsets) => {
      const txn = await producer.transaction();
      try {
        await txn.send({ topic, messages, acks: -1 });
        if (offsets) await txn.sendOffsets(offsets);
      } catch (e) {
        await txn.abort();
        throw e;
      }
      await (commit ? txn.commit() : txn.abort());
    };
    const c1 = batch('c1', 12);
    const ab = batch('ab', 6);
    const c2 = batch('c2', 3);
    await txnSend(c1, true);
    await txnSend(ab, false);
    await txnSend(c2, true);
    // per partition, 'key=value' in send (= offset) order
    const byPartition = (list) => {
      const out = { 0: [], 1: [], 2: [] };
      for (const m of list) out[m.partition].push(`${m.key}=${m.value}`);
      return JSON.stringify(out);
    };
    const read = async (group, count, readUncommitted) =>
      byPartition((await groupRead(kafka, group, topic, count, { readUncommitted })).map((g) => ({ partition: g.partition, key: g.message.key, value: g.message.value })));
    const rc = await read(`${topic}-rc`, c1.length + c2.length, false);
    check(rc === byPartition([...c1, ...c2]), `readUncommitted: false read ${rc}, want ${byPartition([...c1, ...c2])}`);
    const ru = await read(`${topic}-ru`, c1.length + ab.length + c2.length, true);
    check(ru === byPartition([...c1, ...ab, ...c2]), `readUncommitted: true read ${ru}, want ${byPartition([...c1, ...ab, ...c2])}`);

    const consumerGroupId = `${topic}-offsets`;
    const offsetsOf = (o) => ({ consumerGroupId, topics: [{ topic, partitions: o.map((offset, partition) => ({ partition, offset: String(offset) })) }] });
    await txnSend(batch('o1', 3), false, offsetsOf([2, 2, 2]));
    const afterAbort = await committed(admin, consumerGroupId, topic);
    check(Object.values(afterAbort).every((o) => o === '-1'), `after an aborted transaction with sendOffsets the group has offsets ${JSON.stringify(afterAbort)}`);
    await txnSend(batch('o2', 3), true, offsetsOf([5, 4, 3]));
    // Kafka answers EndTxn before the markers that make the offsets visible are written, and
    // kafkajs cannot ask for stable offsets (OffsetFetch require_stable): wait for them (bounded).
    let afterCommit = {};
    for (let i = 0; i < 100; i++) {
      afterCommit = await committed(admin, consumerGroupId, topic);
      if (JSON.stringify(afterCommit) === JSON.stringify({ 0: '5', 1: '4', 2: '3' })) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    check(JSON.stringify(afterCommit) === JSON.stringify({ 0: '5', 1: '4', 2: '3' }), `after a committed transaction with sendOffsets the group has offsets ${JSON.stringify(afterCommit)}, want 5 4 3`);
    console.error(`topic ${topic}: readUncommitted false read exactly the 15 committed, true all 21; sendOffsets: aborted -> none, committed -> 5 4 3`);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}

const SCENARIOS = {
  'kafkajs-produce-idempotent': (boot, file) => produce(boot, file, true),
  'kafkajs-produce-plain': (boot, file) => produce(boot, file, false),
  'kafkajs-admin': (boot) => adminScenario(boot),
  'kafkajs-group': (boot) => groupScenario(boot),
  'kafkajs-transactions': (boot) => transactionsScenario(boot),
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
