// The transactions ci/check-offsets-decoder has Kafka's DumpLogSegments decode: a transactional
// KafkaProducer (kafka-clients of ci/kafka-reference, compiled with plain javac into a temp dir)
// against minikafka, over the 2 partitions of a new topic:
//
//   java -cp <classes>:<kafka libs> TxnDecoderProducer BOOTSTRAP TOPIC TXN_ID GROUP
//
// 1. commits a transaction: 2 records to partition 0, 1 to partition 1, and
//    sendOffsetsToTransaction({TOPIC-0: 2}, GROUP);
// 2. aborts a transaction: 1 record to partition 1, then 2 to partition 0.
// Prints what the producer was told, one `key value...` line each, for the script to match:
//   pid P                  producer id (read from the client's TransactionManager)
//   epoch STAGE E          producer epoch after init, after the commit and after the abort
//   commit|abort PART OFFSETS   acknowledged offsets, comma-separated, per partition
// Every wait is bounded; on failure the exception goes to stderr and the exit status is 1.
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.internals.ProducerIdAndEpoch;

public final class TxnDecoderProducer {
    private static final long WAIT_S = 30;

    @SuppressWarnings("removal") // ConsumerGroupMetadata(group, ...): no consumer needed here
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], txnId = args[2], group = args[3];
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get(WAIT_S, TimeUnit.SECONDS);
        }
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            producer.initTransactions();
            // The client keeps its producer id and epoch private; the TransactionManager has them.
            Field f = KafkaProducer.class.getDeclaredField("transactionManager");
            f.setAccessible(true);
            Object tm = f.get(producer);
            Method idAndEpoch = tm.getClass().getDeclaredMethod("producerIdAndEpoch");
            idAndEpoch.setAccessible(true);
            System.out.println("pid " + ((ProducerIdAndEpoch) idAndEpoch.invoke(tm)).producerId);
            System.out.println("epoch init " + ((ProducerIdAndEpoch) idAndEpoch.invoke(tm)).epoch);

            producer.beginTransaction();
            send(producer, "commit", topic, new int[] {0, 0, 1});
            producer.sendOffsetsToTransaction(
                    Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(2)),
                    new ConsumerGroupMetadata(group, -1, "", Optional.empty()));
            producer.commitTransaction();
            System.out.println("epoch commit " + ((ProducerIdAndEpoch) idAndEpoch.invoke(tm)).epoch);

            producer.beginTransaction();
            send(producer, "abort", topic, new int[] {1, 0, 0});
            producer.abortTransaction();
            System.out.println("epoch abort " + ((ProducerIdAndEpoch) idAndEpoch.invoke(tm)).epoch);
        }
    }

    /** Sends one record to each partition of `parts` (in order), prints the acked offsets. */
    private static void send(KafkaProducer<String, String> producer, String label, String topic, int[] parts)
            throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (int p : parts) {
            sent.add(producer.send(new ProducerRecord<>(topic, p, "k", label)));
        }
        producer.flush();
        Map<Integer, List<String>> offsets = new TreeMap<>();
        for (Future<RecordMetadata> s : sent) {
            RecordMetadata m = s.get(WAIT_S, TimeUnit.SECONDS);
            offsets.computeIfAbsent(m.partition(), k -> new ArrayList<>()).add(Long.toString(m.offset()));
        }
        for (Map.Entry<Integer, List<String>> e : offsets.entrySet()) {
            System.out.println(label + " " + e.getKey() + " " + String.join(",", e.getValue()));
        }
    }
}
