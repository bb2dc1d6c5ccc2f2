//! An exactly-once consume-transform-produce processor in its own process, so that a test can
//! SIGKILL it at any point (mid-transaction included) and restart it.
//!
//! ```text
//! eos-processor BOOTSTRAP GROUP INPUT_TOPIC OUTPUT_TOPIC TRANSACTIONAL_ID MAX_BATCH
//! ```
//! A classic group consumer (`isolation.level=read_committed`, `enable.auto.commit=false`,
//! static membership with `group.instance.id = TRANSACTIONAL_ID` so that a restarted process
//! takes its predecessor's place without waiting for a session timeout) and a transactional
//! producer. `init_transactions` runs before `subscribe`, so a predecessor's open transaction is
//! aborted (fenced) before the committed offsets are read. Then, for every batch of at most
//! `MAX_BATCH` polled records: `begin_transaction` → for each record produce key `K`, value
//! `out-V` to the same partition number of `OUTPUT_TOPIC` → `send_offsets_to_transaction` (next
//! offset per partition, with the consumer's group metadata) → `commit_transaction`.
//!
//! On any transactional error it tries `abort_transaction` if the error allows it and exits with
//! status 2: the test restarts it, and the new instance resumes from the committed offsets. It
//! exits with status 0 when stdin closes (between transactions). Output on stdout, one line per
//! event:
//!
//! ```text
//! READY                       init_transactions succeeded and the consumer subscribed
//! SENT 25                     the batch's output records are flushed (acknowledged) into the
//!                             open transaction
//! OFFSETS_SENT                send_offsets_to_transaction succeeded (transaction still open)
//! COMMITTED 0:120,2:75        a committed transaction: partition:next offset of each partition in it
//! ERROR what: reason          a failure (followed by exit status 2)
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// How long one transactional call may block.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// Prints the error, aborts the transaction if that is still possible, and exits with 2.
fn bail(producer: &ThreadedProducer<DefaultProducerContext>, what: &str, e: &KafkaError) -> ! {
    println!("ERROR {what}: {e}");
    let abortable = match e {
        KafkaError::Transaction(t) => t.txn_requires_abort() && !t.is_fatal(),
        _ => false,
    };
    if abortable {
        if let Err(e) = producer.abort_transaction(OP_TIMEOUT) {
            println!("ERROR abort_transaction: {e}");
        }
    }
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 7,
        "usage: eos-processor BOOTSTRAP GROUP INPUT_TOPIC OUTPUT_TOPIC TRANSACTIONAL_ID \
         MAX_BATCH (got {args:?})"
    );
    let (bootstrap, group, input, output, txn_id) =
        (&args[1], &args[2], &args[3], &args[4], &args[5]);
    let max_batch: usize = args[6].parse().expect("MAX_BATCH");

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "eos-processor-producer")
        .set("transactional.id", txn_id)
        .set("transaction.timeout.ms", "30000")
        .set("linger.ms", "5")
        .create()
        .expect("create producer");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "eos-processor-consumer")
        .set("group.id", group)
        .set("group.instance.id", txn_id)
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("create consumer");

    if let Err(e) = producer.init_transactions(OP_TIMEOUT) {
        bail(&producer, "init_transactions", &e);
    }
    consumer.subscribe(&[input]).expect("subscribe");
    println!("READY");

    // Stop (between transactions) when stdin closes, so that no orphan lingers.
    let stop = compat_tests::stop_when_stdin_closes();

    while !stop.load(Ordering::SeqCst) {
        // Collect up to max_batch records; stop early when a poll comes back empty.
        let mut batch = Vec::new();
        while batch.len() < max_batch {
            match consumer.poll(Duration::from_millis(100)) {
                None => break,
                Some(Ok(m)) => batch.push((
                    m.partition(),
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                )),
                Some(Err(e)) => println!("CONSUMER_ERROR {e}"),
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = producer.begin_transaction() {
            bail(&producer, "begin_transaction", &e);
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset, key, value) in &batch {
            let mut out = b"out-".to_vec();
            out.extend_from_slice(value);
            let mut record = BaseRecord::to(output).partition(*partition).payload(&out);
            if let Some(k) = key {
                record = record.key(k);
            }
            if let Err((e, _)) = producer.send(record) {
                bail(&producer, "send", &e);
            }
            next.insert(*partition, offset + 1);
        }
        // Flushed so that a kill from here on leaves the records in the log, in an open
        // transaction (commit_transaction would flush anyway).
        if let Err(e) = producer.flush(OP_TIMEOUT) {
            bail(&producer, "flush", &e);
        }
        println!("SENT {}", batch.len());
        let mut offsets = TopicPartitionList::new();
        for (&p, &o) in &next {
            offsets
                .add_partition_offset(input, p, Offset::Offset(o))
                .expect("add partition offset");
        }
        let Some(cgm) = consumer.group_metadata() else {
            println!("ERROR no consumer group metadata");
            std::process::exit(2);
        };
        if let Err(e) = producer.send_offsets_to_transaction(&offsets, &cgm, OP_TIMEOUT) {
            bail(&producer, "send_offsets_to_transaction", &e);
        }
        println!("OFFSETS_SENT");
        if let Err(e) = producer.commit_transaction(OP_TIMEOUT) {
            bail(&producer, "commit_transaction", &e);
        }
        let list: Vec<String> = next.iter().map(|(p, o)| format!("{p}:{o}")).collect();
        println!("COMMITTED {}", list.join(","));
    }
    // Skip the clients' Drop (a graceful consumer close would also be fine, but is not needed).
    std::process::exit(0);
}
