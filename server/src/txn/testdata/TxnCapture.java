// Drives a Kafka 4.4 broker to write the __transaction_state records whose bytes are the golden
// values of server/src/txn/records.rs (see the module doc there for the commands).
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnCapture {
    static Properties props(String bootstrap, String txnId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", txnId);
        p.put("transaction.timeout.ms", "45000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return p;
    }
    public static void main(String[] a) throws Exception {
        String bootstrap = a[0], mode = a[1], txnId = a[2], topic = a[3];
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            if (mode.equals("tv")) {
                short level = Short.parseShort(a[4]);
                admin.updateFeatures(Map.of("transaction.version",
                    new FeatureUpdate(level, level == 0 ? FeatureUpdate.UpgradeType.SAFE_DOWNGRADE : FeatureUpdate.UpgradeType.UPGRADE)),
                    new UpdateFeaturesOptions()).all().get();
                System.out.println(admin.describeFeatures().featureMetadata().get().finalizedFeatures());
                return;
            }
            if (!admin.listTopics().names().get().contains(topic)) {
                admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
                Thread.sleep(1000);
            }
        }
        if (mode.equals("commit-abort")) {
            try (KafkaProducer<String, String> p = new KafkaProducer<>(props(bootstrap, txnId))) {
                p.initTransactions();
                Thread.sleep(200);
                p.beginTransaction();
                p.send(new ProducerRecord<>(topic, 0, "k", "committed-0")).get();
                p.send(new ProducerRecord<>(topic, 1, "k", "committed-1")).get();
                Thread.sleep(200);
                p.commitTransaction();
                Thread.sleep(200);
                p.beginTransaction();
                p.send(new ProducerRecord<>(topic, 0, "k", "aborted-0")).get();
                p.send(new ProducerRecord<>(topic, 1, "k", "aborted-1")).get();
                Thread.sleep(200);
                p.abortTransaction();
                Thread.sleep(500);
            }
        } else if (mode.equals("fence")) {
            KafkaProducer<String, String> p1 = new KafkaProducer<>(props(bootstrap, txnId));
            p1.initTransactions();
            p1.beginTransaction();
            p1.send(new ProducerRecord<>(topic, 0, "k", "fenced-0")).get();
            Thread.sleep(200);
            try (KafkaProducer<String, String> p2 = new KafkaProducer<>(props(bootstrap, txnId))) {
                p2.initTransactions();
                Thread.sleep(500);
            }
            p1.close(java.time.Duration.ofSeconds(2));
        }
        System.out.println("done " + mode + " " + txnId);
    }
}
