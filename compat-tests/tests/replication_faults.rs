//! A fault checker in the spirit of Jepsen for replication (issue 13), with real processes: three
//! controller-only nodes (1, 2, 3: the KRaft quorum) and three brokers (4, 5, 6); a topic with
//! replication factor 3 and `min.insync.replicas=2`.
//!
//! While an idempotent `acks=all` rdkafka producer writes numbered records to every partition
//! and a consumer reads along, a bounded loop injects one fault per round, in rotation:
//!
//! - `kill -9` of a partition's leader, restarted a moment later;
//! - SIGSTOP of a follower long enough to drop it from the ISR (and be fenced), then SIGCONT;
//! - a network partition: the current leader of a partition is cut off from the controllers and
//!   from the other brokers (TCP proxies sit on every broker's inter-broker listener and on every
//!   broker's link to each controller; severing a broker's proxies cuts its links), healed
//!   after a while. While it is cut off the old leader is sent an `acks=all` Produce directly:
//!   it must not acknowledge it (split brain);
//! - a graceful restart (SIGTERM under load: the broker hands its leadership over first);
//! - `kill -9` of the active controller (the quorum elects another; ISR changes and elections
//!   carry on through it), restarted a moment later.
//!
//! After each fault the checker waits until every partition is back to three in-sync replicas
//! and new records are acknowledged (bounded). At the end: every acknowledged record is present
//! exactly once, at the offset it was acknowledged at; no record is duplicated and each
//! partition's records are in the order they were sent; every record the consumer read during
//! the faults is still there at the same offset (nobody read a record that later vanished); all
//! three replicas are byte-identical. It prints the faults injected and what it verified.
//!
//! CI runs the short form (10 rounds, each fault twice); `MINIKAFKA_FAULT_ROUNDS=N` runs
//! more, `MINIKAFKA_FAULT_SEED` picks the seed (printed) for the random choices.
//!
//! The cut is not total: a cut-off broker can still open connections to the other brokers'
//! inter-broker listeners (each broker has one proxy in front of its listener, shared by all
//! callers), so as a follower it may keep fetching. What matters for the checks is cut: nobody
//! can fetch from it and it cannot reach the controller.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{free_ports, one_cluster_at_a_time, Cluster, Role};
use compat_tests::proxy::{FaultProxy, Faults};
use compat_tests::wire::{self, RawRecord};
use compat_tests::{
    acked_offsets, consumer_config, create_topic_retrying, producer_config, read_all,
    RecordingContext, XorShift,
};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "checked";
const PARTITIONS: i32 = 4;
const CONTROLLERS: [i32; 3] = [1, 2, 3];
const BROKERS: [i32; 3] = [4, 5, 6];
/// Bound on every wait for the cluster to recover from a fault.
const SETTLE: Duration = Duration::from_secs(90);
const TICK: Duration = Duration::from_millis(200);
/// `replica.lag.time.max.ms` of the cluster: a paused or cut-off follower leaves the ISR after it.
const LAG_MS: u64 = 3000;
/// How long a pause or a cut lasts: past the lag time and the 3 s broker session timeout.
const FAULT_HOLD: Duration = Duration::from_secs(7);
/// Upper bound on records produced (the producer also stops when the faults are over).
const MAX_RECORDS: u64 = 400_000;

/// The proxies that carry a broker's links: `into` is in front of its inter-broker listener
/// (what followers fetch from), `to_controller[(broker, controller)]` between it and each
/// controller.
struct Links {
    into: BTreeMap<i32, FaultProxy>,
    to_controller: BTreeMap<(i32, i32), FaultProxy>,
}

impl Links {
    fn of(&self, broker: i32) -> impl Iterator<Item = &FaultProxy> {
        std::iter::once(&self.into[&broker]).chain(
            CONTROLLERS
                .iter()
                .map(move |c| &self.to_controller[&(broker, *c)]),
        )
    }

    fn cut(&self, broker: i32) {
        self.of(broker).for_each(FaultProxy::sever);
    }

    fn heal(&self, broker: i32) {
        self.of(broker).for_each(FaultProxy::heal);
    }
}

/// Starts the cluster: each broker has a client listener (`PLAINTEXT`) and an inter-broker one
/// (`INTERNAL`, advertised as its proxy), and reaches each controller through its own proxy.
fn start() -> (Cluster, Links) {
    let internal: BTreeMap<i32, u16> = BROKERS.iter().copied().zip(free_ports(3)).collect();
    let mut links = Links {
        into: BTreeMap::new(),
        to_controller: BTreeMap::new(),
    };
    for &b in &BROKERS {
        let into = FaultProxy::start(Faults::default());
        into.set_upstream(&format!("127.0.0.1:{}", internal[&b]));
        links.into.insert(b, into);
        for &c in &CONTROLLERS {
            links
                .to_controller
                .insert((b, c), FaultProxy::start(Faults::default()));
        }
    }
    let cluster = Cluster::start_with_node_args(
        &[
            Role::Controller,
            Role::Controller,
            Role::Controller,
            Role::Broker,
            Role::Broker,
            Role::Broker,
        ],
        &[
            "--set",
            &format!("replica.lag.time.max.ms={LAG_MS}"),
            "--set",
            "offsets.topic.num.partitions=1",
            "--set",
            "transaction.state.log.num.partitions=1",
        ],
        |id, ports, _| {
            if CONTROLLERS.contains(&id) {
                return Vec::new();
            }
            let voters = CONTROLLERS
                .iter()
                .map(|c| {
                    let proxy = &links.to_controller[&(id, *c)];
                    proxy.set_upstream(&format!("127.0.0.1:{}", ports[c].controller));
                    format!("{c}@{}", proxy.addr())
                })
                .collect::<Vec<_>>()
                .join(",");
            let client = format!("PLAINTEXT://127.0.0.1:{}", ports[&id].broker);
            [
                format!("listeners={client},INTERNAL://127.0.0.1:{}", internal[&id]),
                format!(
                    "advertised.listeners={client},INTERNAL://{}",
                    links.into[&id].addr()
                ),
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,\
                 CONTROLLER:PLAINTEXT"
                    .to_string(),
                "inter.broker.listener.name=INTERNAL".to_string(),
                format!("controller.quorum.voters={voters}"),
            ]
            .into_iter()
            .flat_map(|s| ["--set".to_string(), s])
            .collect()
        },
    );
    (cluster, links)
}

fn bootstrap(cluster: &Cluster) -> String {
    BROKERS
        .iter()
        .map(|b| cluster.bootstrap(*b))
        .collect::<Vec<_>>()
        .join(",")
}

fn create_topic(bootstrap: &str) {
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    create_topic_retrying(bootstrap, &topic, SETTLE);
}

/// Partition → (leader, isr) as broker `via` reports it, if it answers.
fn placement(cluster: &Cluster, via: i32) -> Option<BTreeMap<i32, (i32, Vec<i32>)>> {
    let view = cluster.metadata(via, Some(TOPIC)).ok()?;
    let t = view.topics.get(TOPIC)?;
    (t.partitions.len() == PARTITIONS as usize).then(|| {
        t.partitions
            .iter()
            .map(|(i, p)| (*i, (p.leader, p.isr.clone())))
            .collect()
    })
}

/// Waits until every broker reports every partition led with all three replicas in sync, and
/// `acked` has grown past `since` (the producer gets through again). Returns the placement.
fn wait_healthy(
    cluster: &Cluster,
    context: &RecordingContext,
    since: usize,
) -> BTreeMap<i32, (i32, Vec<i32>)> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let views: Vec<_> = BROKERS.iter().map(|&b| placement(cluster, b)).collect();
        let healthy = views.iter().all(|v| {
            v.as_ref().is_some_and(|v| {
                v.values()
                    .all(|(leader, isr)| *leader >= 0 && isr.len() == BROKERS.len())
            })
        }) && views.windows(2).all(|w| w[0] == w[1]);
        if healthy && context.acked() > since {
            return views[0].clone().expect("checked above");
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not recover within {SETTLE:?}: placements per broker {views:?}, \
             acked {} (before: {since})\n{}",
            context.acked(),
            cluster.logs_report()
        );
        thread::sleep(TICK);
    }
}

/// A record's value: `<partition>-<sequence>`, zero-padded so that order is visible.
fn value(partition: i32, seq: u64) -> String {
    format!("{partition}-{seq:09}")
}

fn seq_of(value: &[u8]) -> u64 {
    let s = std::str::from_utf8(value).expect("utf-8 value");
    s.split_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected value {s:?}"))
}

/// What the reader saw: (partition, offset) → value.
type Seen = Arc<Mutex<BTreeMap<(i32, i64), Vec<u8>>>>;

/// Reads every partition from the beginning until `stop`, recording what it sees.
fn reader(bootstrap: String, stop: Arc<AtomicBool>, seen: Seen) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let c: BaseConsumer = consumer_config(&bootstrap)
            .set("enable.partition.eof", "false")
            .create()
            .expect("create consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                .expect("add partition");
        }
        c.assign(&tpl).expect("assign");
        // Bounded: each poll waits at most 200 ms and the test sets `stop`.
        while !stop.load(Ordering::Acquire) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                let v = m.payload().unwrap_or_default().to_vec();
                seen.lock()
                    .expect("seen lock")
                    .insert((m.partition(), m.offset()), v);
            }
        }
    })
}

/// Sends one `acks=all` Produce straight to `broker` for `partition` and returns its error code
/// (or -1 if the connection failed or the answer did not come within 10 s).
fn produce_directly(address: &str, partition: i32) -> i16 {
    let batch = wire::record_batch(
        0,
        &[RawRecord {
            key: None,
            value: Some(b"split-brain".to_vec()),
        }],
    );
    let body = wire::produce_v3_body(TOPIC, partition, -1, 3000, &batch);
    let req = wire::request_v1(wire::PRODUCE, 3, 7, Some("split-brain-probe"), &body);
    let Ok(mut stream) = TcpStream::connect(address) else {
        return -1;
    };
    match wire::round_trip(&mut stream, &req, Duration::from_secs(10)) {
        Ok(frame) => {
            let (_, parts) = wire::parse_produce_v3_response(&frame);
            parts.first().map_or(-1, |p| p.error_code)
        }
        Err(_) => -1,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillLeader,
    PauseFollower,
    CutLeader,
    GracefulRestart,
    KillController,
}

const ROTATION: [Fault; 5] = [
    Fault::KillLeader,
    Fault::PauseFollower,
    Fault::CutLeader,
    Fault::GracefulRestart,
    Fault::KillController,
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn acknowledged_writes_survive_kills_pauses_partitions_and_restarts() {
    let _one = one_cluster_at_a_time();
    let rounds = env_u64("MINIKAFKA_FAULT_ROUNDS").unwrap_or(2 * ROTATION.len() as u64);
    let seed = env_u64("MINIKAFKA_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("fault checker: {rounds} rounds, seed {seed} (MINIKAFKA_FAULT_SEED)");
    let mut rng = XorShift::new(seed);
    let (mut cluster, links) = start();
    let all = bootstrap(&cluster);
    create_topic(&all);

    let context = RecordingContext::default();
    let producer: Arc<ThreadedProducer<RecordingContext>> = Arc::new(
        producer_config(&all)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "120000")
            .set("linger.ms", "5")
            .create_with_context(context.clone())
            .expect("create producer"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Mutex<Vec<(i32, u64)>>> = Arc::default();
    let writer = {
        let (producer, stop, sent) = (producer.clone(), stop.clone(), sent.clone());
        thread::spawn(move || {
            let mut seq = 0u64;
            // Bounded by MAX_RECORDS and by `stop`.
            while !stop.load(Ordering::Acquire) && seq < MAX_RECORDS {
                let p = (seq % PARTITIONS as u64) as i32;
                let v = value(p, seq);
                let index = sent.lock().expect("sent lock").len();
                let record = BaseRecord::<(), _, usize>::with_opaque_to(TOPIC, index)
                    .partition(p)
                    .payload(&v);
                match producer.send(record) {
                    Ok(()) => {
                        sent.lock().expect("sent lock").push((p, seq));
                        seq += 1;
                        thread::sleep(Duration::from_millis(2));
                    }
                    // Queue full while a leader is away: wait for room.
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    let seen: Seen = Arc::default();
    let read_along = reader(all.clone(), stop.clone(), seen.clone());

    let mut placement = wait_healthy(&cluster, &context, 0);
    let mut injected: BTreeMap<Fault, u32> = BTreeMap::new();
    let mut split_brain_refusals = Vec::new();
    for round in 0..rounds {
        let fault = ROTATION[(round % ROTATION.len() as u64) as usize];
        let partition = (rng.next_u64() % PARTITIONS as u64) as i32;
        let (leader, isr) = placement[&partition].clone();
        let acked_before = context.acked();
        match fault {
            Fault::KillLeader => {
                println!("round {round}: kill -9 broker {leader} (leads partition {partition})");
                cluster.kill9(leader);
                thread::sleep(Duration::from_millis(500 + rng.next_u64() % 2500));
                cluster.restart(leader);
            }
            Fault::PauseFollower => {
                let followers: Vec<i32> = isr.iter().copied().filter(|&b| b != leader).collect();
                let f = followers[(rng.next_u64() % followers.len() as u64) as usize];
                println!("round {round}: SIGSTOP broker {f} (follows partition {partition})");
                cluster.pause(f);
                thread::sleep(FAULT_HOLD);
                cluster.resume(f);
            }
            Fault::CutLeader => {
                println!("round {round}: cut broker {leader} (leads partition {partition}) off");
                links.cut(leader);
                // Past the lag time: an honest leader would have needed its followers by now.
                thread::sleep(Duration::from_millis(LAG_MS + 1000));
                let code = produce_directly(&cluster.bootstrap(leader), partition);
                split_brain_refusals.push(code);
                assert_ne!(
                    code,
                    0,
                    "split brain: broker {leader}, cut off from the controller and the other \
                     replicas, acknowledged an acks=all write to partition {partition}\n{}",
                    cluster.logs_report()
                );
                thread::sleep(FAULT_HOLD.saturating_sub(Duration::from_millis(LAG_MS + 1000)));
                links.heal(leader);
            }
            Fault::GracefulRestart => {
                println!("round {round}: graceful restart of broker {leader} under load");
                cluster.restart(leader);
            }
            Fault::KillController => {
                let active = cluster.wait_for_active_controller(|c| CONTROLLERS.contains(&c));
                println!("round {round}: kill -9 the active controller {active}");
                cluster.kill9(active);
                thread::sleep(Duration::from_millis(500 + rng.next_u64() % 2500));
                cluster.restart(active);
            }
        }
        *injected.entry(fault).or_default() += 1;
        placement = wait_healthy(&cluster, &context, acked_before);
    }

    stop.store(true, Ordering::Release);
    writer.join().expect("writer thread");
    producer
        .flush(Duration::from_secs(150))
        .expect("every record delivered or failed within 150 s");
    read_along.join().expect("reader thread");

    let sent = sent.lock().expect("sent lock").clone();
    let deliveries = context.snapshot();
    assert_eq!(deliveries.len(), sent.len(), "a delivery report per record");
    let failed = deliveries.iter().filter(|d| d.result.is_err()).count();
    let acked = acked_offsets(&deliveries);
    let acked_count: usize = acked.values().map(BTreeMap::len).sum();

    let stored = read_all(&all, TOPIC, PARTITIONS, SETTLE);
    for p in 0..PARTITIONS {
        let log: BTreeMap<i64, u64> = stored[&p]
            .iter()
            .map(|r| (r.offset, seq_of(r.value.as_deref().unwrap_or_default())))
            .collect();
        assert_eq!(log.len(), stored[&p].len(), "partition {p}: offsets unique");
        // Every acknowledged record exactly where it was acknowledged.
        for (offset, index) in acked.get(&p).into_iter().flatten() {
            let (sp, seq) = sent[*index];
            assert_eq!(sp, p, "record {index} acknowledged on another partition");
            assert_eq!(
                log.get(offset),
                Some(&seq),
                "partition {p}: record {seq} acknowledged at offset {offset} is not there\n{}",
                cluster.logs_report()
            );
        }
        // No duplicate, in the order sent (idempotence keeps retried batches in order).
        let seqs: Vec<u64> = log.values().copied().collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: records duplicated or out of order: first break at {:?}",
            seqs.windows(2).find(|w| w[0] >= w[1])
        );
    }
    let seen = seen.lock().expect("seen lock").clone();
    let now: BTreeMap<(i32, i64), Option<&[u8]>> = stored
        .iter()
        .flat_map(|(p, records)| {
            records
                .iter()
                .map(move |r| ((*p, r.offset), r.value.as_deref()))
        })
        .collect();
    for ((p, offset), v) in &seen {
        assert_eq!(
            now.get(&(*p, *offset)).copied().flatten(),
            Some(v.as_slice()),
            "partition {p} offset {offset}: a consumer read {:?}, which later vanished",
            String::from_utf8_lossy(v)
        );
    }
    let compared = cluster.wait_for_identical_replicas(TOPIC, PARTITIONS, &BROKERS, SETTLE);
    println!(
        "fault checker: injected {injected:?} (split-brain probes answered {split_brain_refusals:?}); \
         {} records sent, {acked_count} acknowledged, {failed} failed (not acknowledged), all \
         acknowledged present exactly once in order; {} records read during the faults all \
         still present; replicas identical ({compared} bytes per copy)",
        sent.len(),
        seen.len()
    );
    assert!(
        acked_count > 0 && !seen.is_empty(),
        "the checker verified nothing"
    );
    cluster.stop_all();
}
