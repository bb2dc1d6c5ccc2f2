// Transactions (exactly-once semantics) through the Java client (org.apache.kafka:kafka-clients)
// only, compiled with plain javac against the 4.x kafka-clients jar of the reference Kafka by
// ci/java-compat (no build tool):
//
//   java -cp <classes>:<kafka-clients jars> TxnCheck BOOTSTRAP PREFIX MODE [ARGS]
//
// Modes (each creates its own topics, named PREFIX-..., and prints one 'TxnCheck OK: ...' line on
// stdout; on failure exit 1 with 'TxnCheck FAILED: ...' on stderr; every wait is bounded):
//
//   commit-abort   a transactional KafkaProducer (transactional.id) commits a transaction of
//                  COMMIT1 records spread over the 3 partitions of a new topic, aborts one of
//                  ABORT records, commits another of COMMIT2. A read_committed consumer
//                  (assign + seekToBeginning, read up to its endOffsets, which is the LSO) gets
//                  exactly the committed records, in order, at the offsets their sends were
//                  acknowledged at; a read_uncommitted consumer gets every record. Each partition's
//                  end offset is its record count + 3: every transaction that touched a partition
//                  leaves one control record (commit or abort marker) there.
//   consume-transform-produce
//                  an input topic (3 partitions) gets COMMIT1 committed and ABORT aborted records;
//                  a group consumer (subscribe, read_committed, no auto commit) and a second
//                  transactional producer transform them into an output topic: the first
//                  transaction (output 'junk' records + sendOffsetsToTransaction) is aborted, and
//                  Admin listConsumerGroupOffsets must then show no committed offset; the consumer
//                  rewinds and the records are processed in transactions of at most 5 (one
//                  sendOffsetsToTransaction(offsets, consumer.groupMetadata()) + commit each). The
//                  group's committed offsets (Admin listConsumerGroupOffsets) must be, per partition,
//                  the acknowledged offset of its last committed input record + 1; the output read
//                  read_committed holds each transformed committed input record exactly once and
//                  no junk; read_uncommitted also shows the aborted junk.
//   fencing        producer A (transactional.id T) begins a transaction and sends a record;
//                  producer B initTransactions() with the same T. A's commitTransaction() must throw
//                  (the exception class is printed: Kafka 4.x clients against Kafka 4.x raise
//                  ProducerFencedException), A's record must not be visible read_committed, and B
//                  commits a transaction of its own that is.
//   hold FILE      helper for the kafka-transactions checks of ci/java-tools-compat: creates
//                  PREFIX (2 partitions), writes 3 non-transactional records to partition 0, then
//                  begins a transaction (transactional.id PREFIX-txn), sends 2 records to
//                  partition 0 and 1 to partition 1, flushes, prints 'OPEN <topic> <txn id>'
//                  and waits (at most 120 s) until FILE exists; then commits and prints
//                  'COMMITTED'. Its transaction therefore starts at offset 3 of partition 0.
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class TxnCheck {
    static final int PARTITIONS = 3;
    static final int COMMIT1 = 30;
    static final int ABORT = 15;
    static final int COMMIT2 = 6;

    private static final class CheckFailed extends Exception {
        CheckFailed(String message) {
            super(message);
        }
    }

    /** A record as sent: partition, key, value, and the offset its send was acknowledged at. */
    private static final class Sent {
        final int partition;
        final String key;
        final String value;
        long offset = -1;

        Sent(int partition, String key, String value) {
            this.partition = partition;
            this.key = key;
            this.value = value;
        }

        @Override
        public String toString() {
            return "p" + partition + "@" + offset + " " + key + "=" + value;
        }
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: TxnCheck BOOTSTRAP PREFIX commit-abort|consume-transform-produce|fencing|hold FILE");
            System.exit(2);
        }
        try {
            String boot = args[0];
            String prefix = args[1];
            switch (args[2]) {
                case "commit-abort":
                    commitAbort(boot, prefix);
                    break;
                case "consume-transform-produce":
                    consumeTransformProduce(boot, prefix);
                    break;
                case "fencing":
                    fencing(boot, prefix);
                    break;
                case "hold":
                    if (args.length < 4) {
                        throw new CheckFailed("hold needs a FILE argument");
                    }
                    hold(boot, prefix, args[3]);
                    break;
                default:
                    throw new CheckFailed("unknown mode " + args[2]);
            }
        } catch (CheckFailed e) {
            System.err.println("TxnCheck FAILED: " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.err.println("TxnCheck FAILED with an exception: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    // ---------------------------------------------------------------------------------------
    // helpers

    static Admin admin(String boot) {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, boot);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        return Admin.create(ap);
    }

    static void createTopic(String boot, String topic, int partitions) throws Exception {
        try (Admin admin = admin(boot)) {
            admin.createTopics(Collections.singletonList(new NewTopic(topic, partitions, (short) 1)))
                    .all().get(60, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    int n = admin.describeTopics(Collections.singletonList(topic)).allTopicNames()
                            .get(10, TimeUnit.SECONDS).get(topic).partitions().size();
                    if (n == partitions) {
                        break;
                    }
                } catch (ExecutionException e) {
                    // not visible yet
                }
                if (System.nanoTime() > deadline) {
                    throw new CheckFailed("topic " + topic + " not visible with " + partitions + " partitions 30 s after creation");
                }
                Thread.sleep(200);
            }
        }
    }

    static KafkaProducer<String, String> txnProducer(String boot, String txnId, int txnTimeoutMs) {
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, boot);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        pp.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, Integer.toString(txnTimeoutMs));
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(pp);
    }

    static Properties consumerProps(String boot, String isolation) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, boot);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return cp;
    }

    /** Sends the records (in list order) inside the producer's current transaction, flushes and
     *  fills in each acknowledged offset. */
    static void sendAll(KafkaProducer<String, String> p, String topic, List<Sent> recs) throws Exception {
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        for (Sent s : recs) {
            fs.add(p.send(new ProducerRecord<>(topic, s.partition, s.key, s.value)));
        }
        p.flush();
        for (int i = 0; i < recs.size(); i++) {
            RecordMetadata md;
            try {
                md = fs.get(i).get(60, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new CheckFailed("send of " + recs.get(i).key + " failed: " + e.getCause());
            }
            if (md.partition() != recs.get(i).partition) {
                throw new CheckFailed(recs.get(i).key + " acknowledged in partition " + md.partition());
            }
            recs.get(i).offset = md.offset();
        }
    }

    static List<Sent> batch(String tag, int n, int partitions) {
        List<Sent> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Sent(i % partitions, tag + "-" + i, "value-" + tag + "-" + i));
        }
        return out;
    }

    /** Reads every partition of the topic from the beginning up to the end offsets this consumer
     *  sees at the start (for read_committed that is the LSO); records per partition in offset
     *  order. */
    static Map<Integer, List<ConsumerRecord<String, String>>> readAll(String boot, String topic, int partitions,
            String isolation, Map<Integer, Long> endsOut) throws Exception {
        Map<Integer, List<ConsumerRecord<String, String>>> out = new TreeMap<>();
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            tps.add(new TopicPartition(topic, p));
            out.put(p, new ArrayList<>());
        }
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(boot, isolation))) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps, Duration.ofSeconds(30));
            if (endsOut != null) {
                for (TopicPartition tp : tps) {
                    endsOut.put(tp.partition(), ends.get(tp));
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    if (c.position(tp, Duration.ofSeconds(30)) < ends.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    StringBuilder sb = new StringBuilder();
                    for (TopicPartition tp : tps) {
                        sb.append(" p").append(tp.partition()).append(" position ").append(c.position(tp))
                                .append(" end ").append(ends.get(tp));
                    }
                    throw new CheckFailed(isolation + " consumer of " + topic + " did not reach the end offsets in 60 s:" + sb);
                }
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : rs) {
                    out.get(r.partition()).add(r);
                }
            }
            // nothing may follow the end offsets known at the start
            ConsumerRecords<String, String> more = c.poll(Duration.ofMillis(300));
            for (ConsumerRecord<String, String> r : more) {
                throw new CheckFailed(isolation + " consumer of " + topic + ": record beyond the end offset: p"
                        + r.partition() + "@" + r.offset() + " " + r.key());
            }
        }
        return out;
    }

    /** The records read must be exactly `want` (partition, offset, key, value), in offset order. */
    static void expectExactly(String what, Map<Integer, List<ConsumerRecord<String, String>>> got, List<Sent> want)
            throws CheckFailed {
        Map<Integer, List<Sent>> byP = new TreeMap<>();
        for (Sent s : want) {
            byP.computeIfAbsent(s.partition, k -> new ArrayList<>()).add(s);
        }
        for (Map.Entry<Integer, List<ConsumerRecord<String, String>>> e : got.entrySet()) {
            List<Sent> w = new ArrayList<>(byP.getOrDefault(e.getKey(), Collections.emptyList()));
            w.sort((a, b) -> Long.compare(a.offset, b.offset));
            List<ConsumerRecord<String, String>> g = e.getValue();
            for (int i = 0; i < Math.max(w.size(), g.size()); i++) {
                if (i >= g.size()) {
                    throw new CheckFailed(what + ", partition " + e.getKey() + ": read " + g.size() + " records, expected "
                            + w.size() + "; missing " + w.get(i));
                }
                ConsumerRecord<String, String> r = g.get(i);
                if (i >= w.size()) {
                    throw new CheckFailed(what + ", partition " + e.getKey() + ": unexpected record @" + r.offset() + " "
                            + r.key() + "=" + r.value() + " (expected " + w.size() + " records)");
                }
                Sent s = w.get(i);
                if (r.offset() != s.offset || !s.key.equals(r.key()) || !s.value.equals(r.value())) {
                    throw new CheckFailed(what + ", partition " + e.getKey() + ", record " + i + ": read @" + r.offset()
                            + " " + r.key() + "=" + r.value() + ", expected " + s);
                }
            }
        }
    }

    static int countIn(List<Sent> recs, int partition) {
        int n = 0;
        for (Sent s : recs) {
            if (s.partition == partition) {
                n++;
            }
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------
    // commit-abort

    static void commitAbort(String boot, String prefix) throws Exception {
        String topic = prefix + "-commit-abort";
        createTopic(boot, topic, PARTITIONS);
        List<Sent> c1 = batch("c1", COMMIT1, PARTITIONS);
        List<Sent> ab = batch("ab", ABORT, PARTITIONS);
        List<Sent> c2 = batch("c2", COMMIT2, PARTITIONS);
        try (KafkaProducer<String, String> p = txnProducer(boot, prefix + "-commit-abort-txn", 60000)) {
            p.initTransactions();
            p.beginTransaction();
            sendAll(p, topic, c1);
            p.commitTransaction();
            p.beginTransaction();
            sendAll(p, topic, ab);
            p.abortTransaction();
            p.beginTransaction();
            sendAll(p, topic, c2);
            p.commitTransaction();
        }
        List<Sent> committed = new ArrayList<>(c1);
        committed.addAll(c2);
        List<Sent> all = new ArrayList<>(c1);
        all.addAll(ab);
        all.addAll(c2);

        Map<Integer, Long> endsRc = new HashMap<>();
        Map<Integer, List<ConsumerRecord<String, String>>> rc = readAll(boot, topic, PARTITIONS, "read_committed", endsRc);
        expectExactly("read_committed", rc, committed);
        Map<Integer, Long> endsRu = new HashMap<>();
        Map<Integer, List<ConsumerRecord<String, String>>> ru = readAll(boot, topic, PARTITIONS, "read_uncommitted", endsRu);
        expectExactly("read_uncommitted", ru, all);
        // three transactions touched every partition: one control record each
        StringBuilder ends = new StringBuilder();
        for (int p = 0; p < PARTITIONS; p++) {
            long want = countIn(all, p) + 3L;
            if (endsRu.get(p) != want || endsRc.get(p) != want) {
                throw new CheckFailed("partition " + p + ": end offset " + endsRu.get(p) + " (read_uncommitted), "
                        + endsRc.get(p) + " (read_committed, the LSO), expected " + want + " = " + countIn(all, p)
                        + " records + 3 transaction markers");
            }
            ends.append(p == 0 ? "" : " ").append(want);
        }
        System.out.printf("TxnCheck OK: commit %d / abort %d / commit %d over %d partitions; read_committed got exactly the %d"
                + " committed, read_uncommitted all %d; end offsets %s (records + 3 markers)%n",
                COMMIT1, ABORT, COMMIT2, PARTITIONS, committed.size(), all.size(), ends);
    }

    // ---------------------------------------------------------------------------------------
    // consume-transform-produce

    // requireStable: offsets of a transaction whose markers are still being written (Kafka answers
    // commitTransaction before they are, with transactions V2) are waited for, not missed.
    static Map<TopicPartition, OffsetAndMetadata> groupOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group,
                new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions().requireStable(true))
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetAndMetadata> out = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            if (e.getValue() != null) {
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }

    static void consumeTransformProduce(String boot, String prefix) throws Exception {
        String in = prefix + "-ctp-in";
        String out = prefix + "-ctp-out";
        String group = prefix + "-ctp-group";
        createTopic(boot, in, PARTITIONS);
        createTopic(boot, out, 2);
        List<Sent> c1 = batch("in", COMMIT1 / 2, PARTITIONS);
        List<Sent> ab = batch("in-aborted", ABORT / 3, PARTITIONS);
        try (KafkaProducer<String, String> p = txnProducer(boot, prefix + "-ctp-source", 60000)) {
            p.initTransactions();
            p.beginTransaction();
            sendAll(p, in, ab);
            p.abortTransaction();
            p.beginTransaction();
            sendAll(p, in, c1);
            p.commitTransaction();
        }
        // expected committed offset per input partition: last committed record's offset + 1
        Map<TopicPartition, Long> wantOffsets = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
        for (Sent s : c1) {
            TopicPartition tp = new TopicPartition(in, s.partition);
            wantOffsets.merge(tp, s.offset + 1, Math::max);
        }

        Properties cp = consumerProps(boot, "read_committed");
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5");
        cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        cp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        Map<String, String> transformed = new HashMap<>(); // input key -> output value
        int transactions = 0;
        String abortedNote;
        try (Admin admin = admin(boot);
                KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
                KafkaProducer<String, String> p = txnProducer(boot, prefix + "-ctp-txn", 60000)) {
            p.initTransactions();
            c.subscribe(Collections.singletonList(in));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            boolean abortedOnce = false;
            abortedNote = "";
            int outPartition = 0;
            while (transformed.size() < c1.size()) {
                if (System.nanoTime() > deadline) {
                    throw new CheckFailed("consume-transform-produce: processed " + transformed.size() + " of " + c1.size()
                            + " committed input records in 90 s");
                }
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(500));
                if (rs.isEmpty()) {
                    continue;
                }
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                List<Sent> outRecs = new ArrayList<>();
                for (ConsumerRecord<String, String> r : rs) {
                    if (!r.key().startsWith("in-") || r.key().startsWith("in-aborted")) {
                        throw new CheckFailed("read_committed group consumer got " + r.key() + " (p" + r.partition() + "@"
                                + r.offset() + "), which was aborted");
                    }
                    String v = abortedOnce ? "out-" + r.value().toUpperCase() : "junk-" + r.value();
                    outRecs.add(new Sent(outPartition, r.key(), v));
                    outPartition = (outPartition + 1) % 2;
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                sendAll(p, out, outRecs);
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                if (!abortedOnce) {
                    // the first transaction is aborted: its offsets must not become committed
                    p.abortTransaction();
                    abortedOnce = true;
                    Map<TopicPartition, OffsetAndMetadata> after = groupOffsets(admin, group);
                    if (!after.isEmpty()) {
                        throw new CheckFailed("after an aborted transaction with sendOffsetsToTransaction(" + offsets
                                + "), the group has committed offsets " + after);
                    }
                    abortedNote = "aborted txn of " + outRecs.size() + " left no group offsets; ";
                    // rewind: nothing was committed, so back to the beginning of what is assigned
                    c.seekToBeginning(c.assignment());
                    continue;
                }
                p.commitTransaction();
                transactions++;
                for (Sent s : outRecs) {
                    if (transformed.put(s.key, s.value) != null) {
                        throw new CheckFailed("input record " + s.key + " processed twice");
                    }
                }
            }
            // Kafka 4.x answers commitTransaction before the markers reach __consumer_offsets
            // (transactions V2), and requireStable did not always hold back a partition whose
            // first committed offset was still pending: the reference broker once showed 2 of 3
            // partitions. So wait (bounded, 15 s) for the expected offsets; the values must still
            // match exactly. minikafka answers EndTxn after its markers, so the first read matches.
            Map<TopicPartition, Long> gotOffsets = new TreeMap<>((a, b) -> a.toString().compareTo(b.toString()));
            long offsetsDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            while (true) {
                gotOffsets.clear();
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : groupOffsets(admin, group).entrySet()) {
                    gotOffsets.put(e.getKey(), e.getValue().offset());
                }
                if (gotOffsets.equals(wantOffsets) || System.nanoTime() > offsetsDeadline) {
                    break;
                }
                Thread.sleep(200);
            }
            if (!gotOffsets.equals(wantOffsets)) {
                throw new CheckFailed("group " + group + " committed offsets " + gotOffsets + ", expected " + wantOffsets
                        + " (last committed input record + 1)");
            }
        }
        // the output: each committed input record transformed exactly once, no junk (read_committed)
        Map<Integer, List<ConsumerRecord<String, String>>> rc = readAll(boot, out, 2, "read_committed", null);
        Map<String, String> seen = new HashMap<>();
        for (List<ConsumerRecord<String, String>> l : rc.values()) {
            for (ConsumerRecord<String, String> r : l) {
                if (seen.put(r.key(), r.value()) != null) {
                    throw new CheckFailed("output: " + r.key() + " appears more than once read_committed");
                }
            }
        }
        Map<String, String> want = new HashMap<>();
        for (Sent s : c1) {
            want.put(s.key, "out-" + s.value.toUpperCase());
        }
        if (!seen.equals(want)) {
            throw new CheckFailed("output read_committed " + new TreeMap<>(seen) + ", expected " + new TreeMap<>(want));
        }
        Map<Integer, List<ConsumerRecord<String, String>>> ru = readAll(boot, out, 2, "read_uncommitted", null);
        int junk = 0;
        for (List<ConsumerRecord<String, String>> l : ru.values()) {
            for (ConsumerRecord<String, String> r : l) {
                if (r.value().startsWith("junk-")) {
                    junk++;
                }
            }
        }
        if (junk == 0) {
            throw new CheckFailed("output read_uncommitted shows none of the aborted junk records");
        }
        System.out.printf("TxnCheck OK: %s%d committed input records (%d aborted skipped) transformed exactly once in %d"
                + " transactions with sendOffsetsToTransaction; group offsets %s; read_uncommitted shows %d aborted junk%n",
                abortedNote, c1.size(), ab.size(), transactions, wantOffsets, junk);
    }

    // ---------------------------------------------------------------------------------------
    // fencing

    /** Producer A (txnId) begins a transaction and sends a record; producer B initTransactions()
     *  with the same id; then A either sends once more (sendFirst) and commits, or commits at once.
     *  Returns "send -> X, commitTransaction -> Y" (exception class names, "none" when nothing was
     *  thrown). B then commits a record of its own; read_committed must show only that record. */
    static String fenceRound(String boot, String topic, String txnId, boolean sendFirst, String[] commitError)
            throws Exception {
        String sendError = "not tried";
        commitError[0] = "none";
        List<Sent> fromB = new ArrayList<>(Collections.singletonList(new Sent(0, "b-" + txnId, "from-b")));
        KafkaProducer<String, String> a = txnProducer(boot, txnId, 60000);
        try {
            a.initTransactions();
            a.beginTransaction();
            sendAll(a, topic, new ArrayList<>(Collections.singletonList(new Sent(0, "a-" + txnId, "from-a"))));
            try (KafkaProducer<String, String> b = txnProducer(boot, txnId, 60000)) {
                b.initTransactions(); // fences A and aborts its open transaction
                if (sendFirst) {
                    sendError = "none";
                    try {
                        a.send(new ProducerRecord<>(topic, 0, "a-late-" + txnId, "from-a-after-fence")).get(60, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        sendError = e.getCause().getClass().getSimpleName();
                    } catch (Exception e) {
                        sendError = e.getClass().getSimpleName();
                    }
                }
                try {
                    a.commitTransaction();
                } catch (Exception e) {
                    commitError[0] = e.getClass().getSimpleName();
                }
                b.beginTransaction();
                sendAll(b, topic, fromB);
                b.commitTransaction();
            }
        } finally {
            a.close(Duration.ofSeconds(5));
        }
        return "send -> " + sendError + ", commitTransaction -> " + commitError[0];
    }

    static void fencing(String boot, String prefix) throws Exception {
        // What the Kafka 4.4 client raises against Kafka 4.4 (transaction.version 2, KIP-890):
        // commitTransaction() right after the fence: ProducerFencedException; a send after the
        // fence fails with InvalidProducerEpochException, and commitTransaction() then rethrows it.
        String wantDirect = System.getProperty("txncheck.fenced.commit", "ProducerFencedException");
        String wantAfterSend = System.getProperty("txncheck.fenced.send", "InvalidProducerEpochException");
        String topic = prefix + "-fencing";
        createTopic(boot, topic, 1);
        String[] direct = new String[1];
        String r1 = fenceRound(boot, topic, prefix + "-fencing-txn1", false, direct);
        String[] afterSend = new String[1];
        String r2 = fenceRound(boot, topic, prefix + "-fencing-txn2", true, afterSend);
        String both = "commit right after the fence: " + r1 + "; send after the fence: " + r2;
        if (!wantDirect.equals(direct[0]) || !r2.equals("send -> " + wantAfterSend + ", commitTransaction -> " + wantAfterSend)) {
            throw new CheckFailed(both + "; expected commitTransaction -> " + wantDirect + ", and send and commitTransaction -> "
                    + wantAfterSend);
        }
        List<Sent> fromB = new ArrayList<>();
        fromB.add(new Sent(0, "b-" + prefix + "-fencing-txn1", "from-b"));
        fromB.add(new Sent(0, "b-" + prefix + "-fencing-txn2", "from-b"));
        Map<Integer, List<ConsumerRecord<String, String>>> rc = readAll(boot, topic, 1, "read_committed", null);
        List<ConsumerRecord<String, String>> got = rc.get(0);
        if (got.size() != 2 || !got.get(0).key().equals(fromB.get(0).key) || !got.get(1).key().equals(fromB.get(1).key)) {
            StringBuilder sb = new StringBuilder();
            for (ConsumerRecord<String, String> r : got) {
                sb.append(" @").append(r.offset()).append(' ').append(r.key());
            }
            throw new CheckFailed(both + "; read_committed shows" + sb + ", expected only the two records of the new producers");
        }
        System.out.printf("TxnCheck OK: %s; read_committed shows only the new producers' committed records%n", both);
    }

    // ---------------------------------------------------------------------------------------
    // hold: an open transaction for kafka-transactions to look at

    static void hold(String boot, String topic, String file) throws Exception {
        createTopic(boot, topic, 2);
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, boot);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> plain = new KafkaProducer<>(pp)) {
            List<Sent> pre = batch("plain", 3, 1);
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (Sent s : pre) {
                fs.add(plain.send(new ProducerRecord<>(topic, 0, s.key, s.value)));
            }
            for (Future<RecordMetadata> f : fs) {
                f.get(60, TimeUnit.SECONDS);
            }
        }
        String txnId = topic + "-txn";
        try (KafkaProducer<String, String> p = txnProducer(boot, txnId, 300000)) {
            p.initTransactions();
            p.beginTransaction();
            List<Sent> recs = new ArrayList<>(Arrays.asList(new Sent(0, "t-0", "v-0"), new Sent(0, "t-1", "v-1"),
                    new Sent(1, "t-2", "v-2")));
            sendAll(p, topic, recs);
            if (recs.get(0).offset != 3) {
                throw new CheckFailed("the transaction's first record was acknowledged at offset " + recs.get(0).offset + ", expected 3");
            }
            System.out.println("OPEN " + topic + " " + txnId);
            System.out.flush();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!new java.io.File(file).exists()) {
                if (System.nanoTime() > deadline) {
                    throw new CheckFailed("no " + file + " after 120 s");
                }
                Thread.sleep(100);
            }
            p.commitTransaction();
            System.out.println("COMMITTED");
            System.out.println("TxnCheck OK: held a transaction open, then committed it");
        }
    }
}
