// A round trip through the Java client (org.apache.kafka:kafka-clients) only, compiled with plain
// javac against a 3.x and a 4.x kafka-clients jar by ci/java-compat (no build tool):
//
//   java -cp <classes>:<kafka-clients jars> ClientCheck BOOTSTRAP TOPIC N [producer.prop=value ...]
//
// 1. creates TOPIC (1 partition, replication factor 1) with the AdminClient,
// 2. sends N records with an idempotent producer (enable.idempotence=true, acks=all): each with
//    a key, a value of varying length and byte content, three headers (one with a null value,
//    one repeated key) and an explicit CreateTime timestamp; every send must succeed and get
//    offset i for record i (one partition, so the offsets give the order),
// 3. reads the partition back with a consumer that uses assign() + seekToBeginning (no group),
//    up to the end offset, and compares every record byte for byte (offset, key, value, headers
//    in order, timestamp and its type) with what was sent. The end offset must be exactly N, and
//    reading stops at the end offset, not after N records: a duplicate (an extra record anywhere)
//    fails the check.
//
// Extra producer properties (e.g. request.timeout.ms=5000) may follow N. Exit 0 on success; on
// failure exit 1 with the first difference on stderr. Every wait is bounded.
//
// Self-test of the read-back: with -Dclientcheck.duplicate=I, a second copy of record I is sent
// after the N records (as a lost-response retry that was not deduplicated would leave it); the
// check must then fail.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class ClientCheck {
    private static final class Sent {
        final byte[] key;
        final byte[] value;
        final List<Header> headers;
        final long timestamp;

        Sent(byte[] key, byte[] value, List<Header> headers, long timestamp) {
            this.key = key;
            this.value = value;
            this.headers = headers;
            this.timestamp = timestamp;
        }
    }

    private static final class CheckFailed extends Exception {
        CheckFailed(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: ClientCheck BOOTSTRAP TOPIC N [producer.prop=value ...]");
            System.exit(2);
        }
        try {
            run(args[0], args[1], Integer.parseInt(args[2]), Arrays.copyOfRange(args, 3, args.length));
        } catch (CheckFailed e) {
            System.err.println("ClientCheck FAILED: " + e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.err.println("ClientCheck FAILED with an exception:");
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    // Deterministic, varied records: values from 0 to ~1 KiB, every byte value 0..255 occurs.
    static Sent record(int i, long baseTimestamp) {
        byte[] key = ("key-" + i).getBytes(StandardCharsets.UTF_8);
        int len = (i * 37) % 1031;
        byte[] value = new byte[len];
        for (int j = 0; j < len; j++) {
            value[j] = (byte) (i * 31 + j * 7);
        }
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("seq", ByteArrayHelper.intBytes(i)));
        headers.add(new RecordHeader("empty-or-null", i % 2 == 0 ? null : new byte[0]));
        headers.add(new RecordHeader("seq", ("again-" + i).getBytes(StandardCharsets.UTF_8)));
        return new Sent(key, value, headers, baseTimestamp + i * 3L);
    }

    static final class ByteArrayHelper {
        static byte[] intBytes(int v) {
            return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
        }
    }

    static void run(String bootstrap, String topic, int n, String[] extraProducerProps) throws Exception {
        long t0 = System.nanoTime();
        // 1. topic
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(Collections.singletonList(new NewTopic(topic, 1, (short) 1)))
                    .all().get(60, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    admin.describeTopics(Collections.singletonList(topic)).allTopicNames().get(10, TimeUnit.SECONDS);
                    break;
                } catch (ExecutionException e) {
                    if (System.nanoTime() > deadline) {
                        throw new CheckFailed("topic " + topic + " not visible 30 s after creation: " + e.getCause());
                    }
                    Thread.sleep(200);
                }
            }
        }

        // 2. produce
        long base = System.currentTimeMillis() - 3_600_000L;
        List<Sent> sent = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            sent.add(record(i, base));
        }
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        for (String kv : extraProducerProps) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new CheckFailed("producer property is not key=value: " + kv);
            }
            pp.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        List<Future<RecordMetadata>> futures = new ArrayList<>(n);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < n; i++) {
                Sent s = sent.get(i);
                futures.add(producer.send(new ProducerRecord<>(topic, 0, s.timestamp, s.key, s.value, s.headers)));
            }
            producer.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata md;
                try {
                    md = futures.get(i).get(180, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    throw new CheckFailed("send of record " + i + " failed: " + e.getCause());
                } catch (TimeoutException e) {
                    throw new CheckFailed("send of record " + i + " not acknowledged after 180 s");
                }
                if (md.offset() != i) {
                    throw new CheckFailed("record " + i + " acknowledged at offset " + md.offset() + ", expected " + i);
                }
                if (md.partition() != 0) {
                    throw new CheckFailed("record " + i + " acknowledged in partition " + md.partition());
                }
            }
            String dup = System.getProperty("clientcheck.duplicate");
            if (dup != null) {
                Sent s = sent.get(Integer.parseInt(dup));
                producer.send(new ProducerRecord<>(topic, 0, s.timestamp, s.key, s.value, s.headers)).get(60, TimeUnit.SECONDS);
                System.err.println("ClientCheck: self-test, sent record " + dup + " a second time");
            }
        }
        long produced = System.nanoTime();

        // 3. read back with assign() + seekToBeginning, up to the end offset
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        TopicPartition tp = new TopicPartition(topic, 0);
        int got = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
            consumer.assign(Collections.singletonList(tp));
            consumer.seekToBeginning(Collections.singletonList(tp));
            Map<TopicPartition, Long> ends = consumer.endOffsets(Collections.singletonList(tp), Duration.ofSeconds(30));
            long end = ends.get(tp);
            if (end != n) {
                throw new CheckFailed("end offset is " + end + ", expected " + n + " (records lost or duplicated)");
            }
            long begin = consumer.beginningOffsets(Collections.singletonList(tp), Duration.ofSeconds(30)).get(tp);
            if (begin != 0) {
                throw new CheckFailed("beginning offset is " + begin + ", expected 0");
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (consumer.position(tp, Duration.ofSeconds(30)) < end) {
                if (System.nanoTime() > deadline) {
                    throw new CheckFailed("read only " + got + " of " + n + " records in 120 s");
                }
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<byte[], byte[]> r : recs.records(tp)) {
                    if (got >= n) {
                        throw new CheckFailed("extra record at offset " + r.offset() + " (more than " + n + " records)");
                    }
                    compare(got, sent.get(got), r);
                    got++;
                }
            }
            // anything beyond the end offset known at the start would be a duplicate as well
            ConsumerRecords<byte[], byte[]> more = consumer.poll(Duration.ofMillis(200));
            if (!more.isEmpty()) {
                throw new CheckFailed(more.count() + " extra record(s) after offset " + (end - 1));
            }
        }
        if (got != n) {
            throw new CheckFailed("read " + got + " records, expected " + n);
        }
        long done = System.nanoTime();
        System.out.printf("ClientCheck OK: %d records produced (idempotent, acks=all) in %d ms and read back identical in %d ms%n",
                n, (produced - t0) / 1_000_000, (done - produced) / 1_000_000);
    }

    static void compare(int i, Sent s, ConsumerRecord<byte[], byte[]> r) throws CheckFailed {
        String at = "record " + i + " (offset " + r.offset() + ")";
        if (r.offset() != i) {
            throw new CheckFailed(at + ": offset differs, expected " + i);
        }
        if (!Arrays.equals(s.key, r.key())) {
            throw new CheckFailed(at + ": key differs: sent " + show(s.key) + ", read " + show(r.key()));
        }
        if (!Arrays.equals(s.value, r.value())) {
            throw new CheckFailed(at + ": value differs: sent " + show(s.value) + ", read " + show(r.value()));
        }
        if (r.timestampType() != TimestampType.CREATE_TIME || r.timestamp() != s.timestamp) {
            throw new CheckFailed(at + ": timestamp differs: sent CreateTime " + s.timestamp + ", read "
                    + r.timestampType() + " " + r.timestamp());
        }
        Header[] h = r.headers().toArray();
        if (h.length != s.headers.size()) {
            throw new CheckFailed(at + ": " + h.length + " headers, expected " + s.headers.size());
        }
        for (int j = 0; j < h.length; j++) {
            Header want = s.headers.get(j);
            if (!want.key().equals(h[j].key()) || !Arrays.equals(want.value(), h[j].value())) {
                throw new CheckFailed(at + ": header " + j + " differs: sent " + want.key() + "=" + show(want.value())
                        + ", read " + h[j].key() + "=" + show(h[j].value()));
            }
        }
    }

    static String show(byte[] b) {
        if (b == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("[" + b.length + " bytes:");
        for (int i = 0; i < Math.min(b.length, 16); i++) {
            sb.append(String.format(" %02x", b[i]));
        }
        return sb.append(b.length > 16 ? " ...]" : "]").toString();
    }
}
