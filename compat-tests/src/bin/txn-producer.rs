//! A transactional producer in its own process that opens a transaction, writes to it and never
//! ends it, so that a test can SIGKILL it and watch the coordinator abort the transaction once
//! `transaction.timeout.ms` has passed.
//!
//! ```text
//! txn-producer BOOTSTRAP TRANSACTIONAL_ID TOPIC PARTITION COUNT TRANSACTION_TIMEOUT_MS
//! ```
//! It calls `init_transactions`, `begin_transaction`, produces `COUNT` records (key
//! `zombie-N`, value `zombie-value-N`, N from 0) to `PARTITION` of `TOPIC`, waits until every
//! one is acknowledged, and prints one line on stdout:
//!
//! ```text
//! PRODUCED 0:17,1:18,...   index:offset of every acknowledged record, in index order
//! FAILED reason            something went wrong (then it exits with status 1)
//! ```
//! Then it does nothing more (no commit, no abort) until it is killed or stdin closes; on
//! stdin close it exits without ending the transaction.

use std::time::{Duration, Instant};

use compat_tests::RecordingContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

fn fail(what: &str) -> ! {
    println!("FAILED {what}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 7,
        "usage: txn-producer BOOTSTRAP TRANSACTIONAL_ID TOPIC PARTITION COUNT \
         TRANSACTION_TIMEOUT_MS (got {args:?})"
    );
    let (bootstrap, txn_id, topic) = (&args[1], &args[2], &args[3]);
    let partition: i32 = args[4].parse().expect("PARTITION");
    let count: usize = args[5].parse().expect("COUNT");
    let timeout_ms: u64 = args[6].parse().expect("TRANSACTION_TIMEOUT_MS");

    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "txn-producer-child")
        .set("transactional.id", txn_id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        // librdkafka wants socket.timeout.ms <= transaction.timeout.ms.
        .set("socket.timeout.ms", timeout_ms.to_string())
        .set("linger.ms", "5")
        .create_with_context(ctx.clone())
        .unwrap_or_else(|e| fail(&format!("create producer: {e}")));
    let op_timeout = Duration::from_secs(30);
    if let Err(e) = producer.init_transactions(op_timeout) {
        fail(&format!("init_transactions: {e}"));
    }
    if let Err(e) = producer.begin_transaction() {
        fail(&format!("begin_transaction: {e}"));
    }
    for n in 0..count {
        let key = format!("zombie-{n}");
        let value = format!("zombie-value-{n}");
        let record = BaseRecord::with_opaque_to(topic, n)
            .partition(partition)
            .key(&key)
            .payload(&value);
        if let Err((e, _)) = producer.send(record) {
            fail(&format!("send {n}: {e}"));
        }
    }
    // Bounded: every record is acknowledged or failed within message.timeout.ms, which
    // librdkafka caps at transaction.timeout.ms; the loop gives up after 30 s anyway.
    let deadline = Instant::now() + op_timeout;
    loop {
        let mut reports = ctx.snapshot();
        if reports.len() == count {
            reports.sort_by_key(|d| d.index);
            let mut parts = Vec::new();
            for d in reports {
                match d.result {
                    Ok((_, o)) => parts.push(format!("{}:{o}", d.index)),
                    Err(e) => fail(&format!("delivery of {}: {e}", d.index)),
                }
            }
            println!("PRODUCED {}", parts.join(","));
            break;
        }
        if Instant::now() >= deadline {
            fail(&format!("only {} of {count} acknowledged", reports.len()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // Keep the transaction open until killed; leave (without ending it) when stdin closes.
    compat_tests::wait_for_stdin_close();
    // Skip the producer's Drop (it would purge and flush); the transaction stays open.
    std::process::exit(0);
}
