//! One consumer-group member in its own process, so that a test can kill it with SIGKILL (no
//! LeaveGroup, no final commit) and watch the rest of the group take over its partitions.
//!
//! ```text
//! group-member BOOTSTRAP GROUP TOPIC PROTOCOL
//! ```
//! `PROTOCOL` is a classic `partition.assignment.strategy` (`range`, `roundrobin`,
//! `cooperative-sticky`) or `consumer` for KIP-848 (`group.protocol=consumer`). Classic members
//! use `session.timeout.ms=6000`.
//!
//! Commits are manual and deterministic so that the test knows the uncommitted window exactly:
//! after consuming offset `o` with `o % 100 == 49` the member synchronously commits `o + 1` for
//! that partition, and on every revocation it commits its current positions. It prints one line
//! per event on stdout (line-buffered), and runs until it is killed or stdin closes:
//!
//! ```text
//! ASSIGNED 0,3          the whole assignment after every rebalance callback (empty: "ASSIGNED ")
//! MSG 3 149 key         a consumed record: partition, offset, key
//! COMMITTED 3 150       a successful commit: partition, committed offset
//! COMMIT_FAILED reason  a failed commit
//! ```

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Prints assignments after rebalances and commits positions on revocation.
struct Ctx;

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            commit_positions(consumer);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        print_assignment(consumer);
    }
}

fn print_assignment(consumer: &BaseConsumer<Ctx>) {
    let mut parts: Vec<i32> = consumer
        .assignment()
        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default();
    parts.sort_unstable();
    let list: Vec<String> = parts.iter().map(ToString::to_string).collect();
    println!("ASSIGNED {}", list.join(","));
}

/// Commits the positions of the assigned partitions that have one, printing each.
fn commit_positions(consumer: &BaseConsumer<Ctx>) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    for e in positions.elements() {
        if let Offset::Offset(o) = e.offset() {
            let _ = tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o));
        }
    }
    commit(consumer, &tpl);
}

fn commit(consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) {
    if tpl.count() == 0 {
        return;
    }
    match consumer.commit(tpl, CommitMode::Sync) {
        Ok(()) => {
            for e in tpl.elements() {
                if let Offset::Offset(o) = e.offset() {
                    println!("COMMITTED {} {o}", e.partition());
                }
            }
        }
        Err(e) => println!("COMMIT_FAILED {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 5,
        "usage: group-member BOOTSTRAP GROUP TOPIC PROTOCOL (got {args:?})"
    );
    let (bootstrap, group, topic, protocol) = (&args[1], &args[2], &args[3], &args[4]);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("client.id", "group-member-child")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if protocol == "consumer" {
        config.set("group.protocol", "consumer");
    } else {
        config
            .set("partition.assignment.strategy", protocol)
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500");
    }
    let consumer: BaseConsumer<Ctx> = config.create_with_context(Ctx).expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");

    // Stop when stdin closes (the test process is gone) so that no orphan lingers.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        stop_reader.store(true, Ordering::SeqCst);
    });

    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                println!("MSG {} {} {key}", m.partition(), m.offset());
                if m.offset() % 100 == 49 {
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition_offset(
                        m.topic(),
                        m.partition(),
                        Offset::Offset(m.offset() + 1),
                    )
                    .expect("add partition");
                    commit(&consumer, &tpl);
                }
            }
            Some(Err(e)) => println!("ERROR {e}"),
        }
    }
}
