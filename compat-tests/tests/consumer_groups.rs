//! Consumer groups with librdkafka (rdkafka 0.39 / librdkafka 2.12.1) and kcat: every scenario is
//! one function that takes a [`Cluster`] and runs twice, as a `minikafka_*` test against the real
//! minikafka binary and as a `reference_kafka_*` test against Apache Kafka 4.4.0
//! (`ci/kafka-reference`, one broker shared by the whole file), so the expected behaviour is
//! Kafka's own.
//!
//! - Balance and rebalance (classic `range`, classic `cooperative-sticky`, KIP-848
//!   `group.protocol=consumer`): 3 members → every partition has exactly one owner; a 4th joins
//!   → still exactly one owner, balanced; a member running in a child process
//!   (`src/bin/group-member.rs`) is SIGKILLed (no LeaveGroup) → the others take its partitions
//!   over after the session timeout, starting exactly at its committed offsets. Every record is
//!   consumed, with the right key, and a record is consumed twice only if its first consumer
//!   had not committed past it.
//! - Committed offsets survive a broker restart (graceful and `kill -9`; the reference broker is
//!   not restarted): `committed_offsets`, `committed()` and the first fetched offsets all equal
//!   what was committed.
//! - Static membership (KIP-345): a static member closes and comes back within the session
//!   timeout → same generation, same partitions, no rebalance callback on the other members; a
//!   dynamic member joining afterwards does bump the generation (so the probe can see one).
//! - `kcat -G` reads every record of a topic as a balanced consumer and commits on exit.
//! - ListGroups / DescribeGroups (`fetch_group_list`) and DeleteGroups through the admin API.
//!
//! Set `COMPAT_RDKAFKA_DEBUG=cgrp,protocol` to print librdkafka's debug log of the in-process
//! members (e.g. to see which API versions it sends).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use compat_tests::reference::ReferenceKafka;
use compat_tests::{
    acked_offsets, base_config, block_on, create_topic, producer_config, send_bounded,
    unique_topic, wait_until, Broker, RecordingContext,
};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Partitions of every test topic.
const PARTITIONS: i32 = 6;
/// Bound for "the group settles" waits: a few rebalances plus one 6 s session timeout.
const SETTLE: Duration = Duration::from_secs(60);
/// Bound for "every record produced so far was consumed" waits.
const CONSUME: Duration = Duration::from_secs(60);
/// Poll interval of the waits.
const TICK: Duration = Duration::from_millis(100);
/// Broker settings for the minikafka variants: no initial rebalance delay (Kafka's default is
/// 3 s; `ci/kafka-reference` sets 0 too).
const MINIKAFKA_GROUP_ARGS: &[&str] = &["--set", "group.initial.rebalance.delay.ms=0"];
/// Extra minikafka settings for KIP-848 groups, the same as the reference broker's
/// ([`compat_tests::reference::EXTRA_PROPERTIES`]): 6 s session, 1 s heartbeat.
const MINIKAFKA_KIP848_ARGS: &[&str] = &[
    "--set",
    "group.consumer.min.session.timeout.ms=6000",
    "--set",
    "group.consumer.session.timeout.ms=6000",
    "--set",
    "group.consumer.min.heartbeat.interval.ms=500",
    "--set",
    "group.consumer.heartbeat.interval.ms=1000",
];

// ---------------------------------------------------------------------------------------------
// The broker under test
// ---------------------------------------------------------------------------------------------

/// The broker a scenario runs against.
enum Cluster {
    /// The minikafka binary, owned by the test (restartable).
    Minikafka(Broker),
    /// The reference Kafka shared by this test binary (never restarted).
    Reference(&'static ReferenceKafka),
}

impl Cluster {
    fn minikafka(extra: &[&str]) -> Cluster {
        let mut args = MINIKAFKA_GROUP_ARGS.to_vec();
        args.extend_from_slice(extra);
        Cluster::Minikafka(Broker::start(&args))
    }

    fn reference() -> Cluster {
        Cluster::Reference(ReferenceKafka::shared())
    }

    fn bootstrap(&self) -> String {
        match self {
            Cluster::Minikafka(b) => b.bootstrap().to_string(),
            Cluster::Reference(k) => k.bootstrap().to_string(),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Cluster::Minikafka(_) => "minikafka",
            Cluster::Reference(_) => "Apache Kafka",
        }
    }
}

/// The group protocol (and classic assignor) of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// Classic protocol, eager `range` assignor.
    Range,
    /// Classic protocol, incremental `cooperative-sticky` assignor.
    CooperativeSticky,
    /// KIP-848 `group.protocol=consumer` (server-side assignor).
    Consumer,
}

impl Proto {
    /// The `group-member` argument.
    fn arg(self) -> &'static str {
        match self {
            Proto::Range => "range",
            Proto::CooperativeSticky => "cooperative-sticky",
            Proto::Consumer => "consumer",
        }
    }
}

/// Group consumer config: manual commits, earliest reset, 6 s session (classic).
fn group_config(bootstrap: &str, group: &str, proto: Proto) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    match proto {
        Proto::Consumer => {
            c.set("group.protocol", "consumer");
        }
        Proto::Range | Proto::CooperativeSticky => {
            c.set("partition.assignment.strategy", proto.arg())
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "500");
        }
    }
    if let Ok(debug) = std::env::var("COMPAT_RDKAFKA_DEBUG") {
        // The crate's own level (set_log_level) overrides the `log_level` property.
        c.set("debug", &debug).set_log_level(RDKafkaLogLevel::Debug);
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Producing
// ---------------------------------------------------------------------------------------------

/// `(partition, offset) -> key` of the records produced so far.
type Expected = BTreeMap<(i32, i64), String>;

/// Produces records `from..to` to every partition of `topic` (key `rec-P-N`, value `value-P-N`,
/// N the per-partition index) with an idempotent producer, and records them in `expected`. The
/// topic must be fresh, so record N of a partition lands at offset N (asserted).
fn produce(bootstrap: &str, topic: &str, from: i64, to: i64, expected: &mut Expected) {
    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("enable.idempotence", "true")
        .create_with_context(context.clone())
        .expect("producer");
    let mut keys = Vec::new();
    for n in from..to {
        for p in 0..PARTITIONS {
            let key = format!("rec-{p}-{n}");
            let value = format!("value-{p}-{n}");
            let index = keys.len();
            keys.push((p, n, key.clone()));
            let record = BaseRecord::with_opaque_to(topic, index)
                .partition(p)
                .key(&key)
                .payload(&value);
            send_bounded(&producer, record);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("flush within 60 s");
    let acked = acked_offsets(&context.snapshot());
    for (index, (p, n, key)) in keys.into_iter().enumerate() {
        let at = acked
            .get(&p)
            .and_then(|m| m.iter().find(|(_, &i)| i == index).map(|(&o, _)| o));
        assert_eq!(at, Some(n), "record {key} acknowledged at offset {n}");
        expected.insert((p, n), key);
    }
}

// ---------------------------------------------------------------------------------------------
// What the members saw
// ---------------------------------------------------------------------------------------------

/// One record as a member received it.
#[derive(Debug, Clone)]
struct Delivery {
    member: String,
    partition: i32,
    offset: i64,
    key: String,
    /// Order of arrival across all members.
    seq: u64,
}

/// One successful commit of one partition.
#[derive(Debug, Clone)]
struct Commit {
    member: String,
    partition: i32,
    offset: i64,
    /// Order (shared with deliveries) in which the commit was known to have succeeded.
    seq: u64,
}

/// Everything every member of one scenario received and committed.
#[derive(Debug, Default)]
struct Journal {
    seq: AtomicU64,
    deliveries: Mutex<Vec<Delivery>>,
    commits: Mutex<Vec<Commit>>,
}

impl Journal {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    fn delivered(&self, member: &str, partition: i32, offset: i64, key: String) {
        let seq = self.next_seq();
        self.deliveries.lock().unwrap().push(Delivery {
            member: member.to_string(),
            partition,
            offset,
            key,
            seq,
        });
    }

    fn committed(&self, member: &str, partition: i32, offset: i64) {
        let seq = self.next_seq();
        self.commits.lock().unwrap().push(Commit {
            member: member.to_string(),
            partition,
            offset,
            seq,
        });
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    fn commits(&self) -> Vec<Commit> {
        self.commits.lock().unwrap().clone()
    }

    /// Waits until every record in `expected` was received at least once.
    fn wait_consumed(&self, expected: &Expected, what: &str) {
        wait_until(what, CONSUME, TICK, || {
            let seen: BTreeSet<(i32, i64)> = self
                .deliveries
                .lock()
                .unwrap()
                .iter()
                .map(|d| (d.partition, d.offset))
                .collect();
            expected.keys().all(|k| seen.contains(k)).then_some(())
        });
    }
}

/// A client context that prints librdkafka's log (for `COMPAT_RDKAFKA_DEBUG`).
struct DebugCtx;

impl ClientContext for DebugCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("[probe] librdkafka {level:?} {fac}: {message}");
    }
}

impl ConsumerContext for DebugCtx {}

/// Something that owns partitions of the group.
trait Owner {
    fn name(&self) -> &str;
    /// The partitions the member currently has assigned, sorted.
    fn owned(&self) -> Vec<i32>;
}

// ---------------------------------------------------------------------------------------------
// In-process members
// ---------------------------------------------------------------------------------------------

/// The context of an in-process member: records rebalance callbacks, commits on revocation,
/// keeps librdkafka's `JoinGroup response` debug lines (for the generation).
struct MemberCtx {
    name: String,
    journal: Arc<Journal>,
    /// "assign [..]" / "revoke [..]" / "error ..", in order.
    events: Arc<Mutex<Vec<String>>>,
    /// The generation ids from librdkafka's "JoinGroup response: GenerationId N" lines.
    generations: Arc<Mutex<Vec<i32>>>,
    /// Whether the last JoinGroup response named this member the leader ("LeaderId X (me)").
    leads: Arc<AtomicBool>,
    print_log: bool,
}

impl ClientContext for MemberCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if let Some(rest) = message.split("JoinGroup response: GenerationId ").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(g) = digits.parse() {
                self.generations.lock().unwrap().push(g);
                self.leads.store(rest.contains(" (me),"), Ordering::SeqCst);
            }
        }
        if self.print_log || (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            eprintln!("[{}] librdkafka {level:?} {fac}: {message}", self.name);
        }
    }
}

impl ConsumerContext for MemberCtx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let event = match rebalance {
            Rebalance::Assign(tpl) => format!("assign {:?}", partitions_of(tpl)),
            Rebalance::Revoke(tpl) => {
                commit_positions(consumer, &self.name, &self.journal);
                format!("revoke {:?}", partitions_of(tpl))
            }
            Rebalance::Error(e) => format!("error {e}"),
        };
        self.events.lock().unwrap().push(event);
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    let mut v: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    v.sort_unstable();
    v
}

/// Synchronously commits the current positions of the assigned partitions; records successes.
fn commit_positions(consumer: &BaseConsumer<MemberCtx>, name: &str, journal: &Journal) {
    let Ok(positions) = consumer.position() else {
        return;
    };
    let mut tpl = TopicPartitionList::new();
    for e in positions.elements() {
        if let Offset::Offset(o) = e.offset() {
            tpl.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))
                .expect("add partition");
        }
    }
    if tpl.count() == 0 {
        return;
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            for e in tpl.elements() {
                if let Offset::Offset(o) = e.offset() {
                    journal.committed(name, e.partition(), o);
                }
            }
        }
        Err(e) => eprintln!("[{name}] commit of {:?} failed: {e}", partitions_of(&tpl)),
    }
}

/// A group member polled by its own thread; commits every 20 records and on revocation.
struct Member {
    name: String,
    stop: Arc<AtomicBool>,
    assignment: Arc<Mutex<Vec<i32>>>,
    events: Arc<Mutex<Vec<String>>>,
    generations: Arc<Mutex<Vec<i32>>>,
    leads: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(name: &str, config: ClientConfig, topic: &str, journal: &Arc<Journal>) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let generations = Arc::new(Mutex::new(Vec::new()));
        let leads = Arc::new(AtomicBool::new(false));
        let ctx = MemberCtx {
            name: name.to_string(),
            journal: Arc::clone(journal),
            events: Arc::clone(&events),
            generations: Arc::clone(&generations),
            leads: Arc::clone(&leads),
            print_log: std::env::var_os("COMPAT_RDKAFKA_DEBUG").is_some(),
        };
        let mut config = config;
        config.set("client.id", name);
        let (thread_stop, thread_assignment, thread_journal) = (
            Arc::clone(&stop),
            Arc::clone(&assignment),
            Arc::clone(journal),
        );
        let (topic, thread_name) = (topic.to_string(), name.to_string());
        let thread = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let consumer: BaseConsumer<MemberCtx> =
                    config.create_with_context(ctx).expect("create consumer");
                consumer.subscribe(&[&topic]).expect("subscribe");
                let mut since_commit = 0;
                while !thread_stop.load(Ordering::SeqCst) {
                    match consumer.poll(TICK) {
                        None => {}
                        Some(Ok(m)) => {
                            let key = m
                                .key()
                                .map(|k| String::from_utf8_lossy(k).into_owned())
                                .unwrap_or_default();
                            thread_journal.delivered(&thread_name, m.partition(), m.offset(), key);
                            since_commit += 1;
                            if since_commit >= 20 {
                                since_commit = 0;
                                commit_positions(&consumer, &thread_name, &thread_journal);
                            }
                        }
                        Some(Err(e)) => eprintln!("[{thread_name}] consumer error: {e}"),
                    }
                    let owned = consumer
                        .assignment()
                        .map(|tpl| partitions_of(&tpl))
                        .unwrap_or_default();
                    *thread_assignment.lock().unwrap() = owned;
                }
                // Dropping the consumer closes it (LeaveGroup unless static).
            })
            .expect("spawn member thread");
        Member {
            name: name.to_string(),
            stop,
            assignment,
            events,
            generations,
            leads,
            thread: Some(thread),
        }
    }

    /// Whether its last JoinGroup response made it the group leader.
    fn leads(&self) -> bool {
        self.leads.load(Ordering::SeqCst)
    }

    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    fn generations(&self) -> Vec<i32> {
        self.generations.lock().unwrap().clone()
    }

    /// Stops polling and closes the consumer (waits for the thread).
    fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if let Err(panic) = t.join() {
                if !thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

impl Owner for Member {
    fn name(&self) -> &str {
        &self.name
    }

    fn owned(&self) -> Vec<i32> {
        self.assignment.lock().unwrap().clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------------------------------------
// A member in a child process (to be SIGKILLed)
// ---------------------------------------------------------------------------------------------

/// A `group-member` child process whose stdout feeds the journal.
struct ChildMember {
    name: String,
    child: Child,
    /// Kept open: the child exits when it closes (i.e. when the test process is gone).
    _stdin: ChildStdin,
    assignment: Arc<Mutex<Vec<i32>>>,
    reader: Option<JoinHandle<()>>,
}

impl ChildMember {
    fn start(
        name: &str,
        bootstrap: &str,
        group: &str,
        topic: &str,
        proto: Proto,
        journal: &Arc<Journal>,
    ) -> ChildMember {
        let mut child = Command::new(env!("CARGO_BIN_EXE_group-member"))
            .args([bootstrap, group, topic, proto.arg()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn group-member");
        let stdin = child.stdin.take().expect("child stdin");
        let stdout = child.stdout.take().expect("child stdout");
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let (journal, reader_assignment, reader_name) = (
            Arc::clone(journal),
            Arc::clone(&assignment),
            name.to_string(),
        );
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let words: Vec<&str> = line.split(' ').collect();
                match words.as_slice() {
                    ["MSG", p, o, key] => {
                        journal.delivered(
                            &reader_name,
                            p.parse().unwrap(),
                            o.parse().unwrap(),
                            (*key).to_string(),
                        );
                    }
                    ["COMMITTED", p, o] => {
                        journal.committed(&reader_name, p.parse().unwrap(), o.parse().unwrap());
                    }
                    ["ASSIGNED", list] => {
                        *reader_assignment.lock().unwrap() = list
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(|s| s.parse().unwrap())
                            .collect();
                    }
                    _ => eprintln!("[{reader_name}] {line}"),
                }
            }
        });
        ChildMember {
            name: name.to_string(),
            child,
            _stdin: stdin,
            assignment,
            reader: Some(reader),
        }
    }

    /// SIGKILL: no LeaveGroup, no final commit. Waits until its output is fully read.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL group-member");
        self.child.wait().expect("reap group-member");
        if let Some(r) = self.reader.take() {
            r.join().expect("child reader thread");
        }
    }
}

impl Owner for ChildMember {
    fn name(&self) -> &str {
        &self.name
    }

    fn owned(&self) -> Vec<i32> {
        self.assignment.lock().unwrap().clone()
    }
}

impl Drop for ChildMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Group-level checks
// ---------------------------------------------------------------------------------------------

/// Waits until `owners` together own every partition exactly once, each owns at least one, and
/// that picture held for 5 consecutive probes. Returns it (member name → partitions).
fn wait_stable(owners: &[&dyn Owner], what: &str) -> BTreeMap<String, Vec<i32>> {
    let mut last: Option<BTreeMap<String, Vec<i32>>> = None;
    let mut same = 0;
    wait_until(what, SETTLE, TICK, || {
        let now: BTreeMap<String, Vec<i32>> = owners
            .iter()
            .map(|o| (o.name().to_string(), o.owned()))
            .collect();
        let mut all: Vec<i32> = now.values().flatten().copied().collect();
        all.sort_unstable();
        let exact =
            all == (0..PARTITIONS).collect::<Vec<_>>() && now.values().all(|v| !v.is_empty());
        if exact && last.as_ref() == Some(&now) {
            same += 1;
        } else {
            same = 0;
        }
        last = Some(now.clone());
        (exact && same >= 4).then_some(now)
    })
}

/// Asserts that partition counts differ by at most one between members.
fn assert_balanced(owners: &BTreeMap<String, Vec<i32>>, label: &str) {
    let sizes: Vec<usize> = owners.values().map(Vec::len).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 1, "{label}: unbalanced assignment {owners:?}");
}

/// The group's committed offsets of `topic`, read with OffsetFetch by a consumer that does not
/// join the group.
fn committed_offsets(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, Offset> {
    let c: BaseConsumer = group_config(bootstrap, group, Proto::Range)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("OffsetFetch");
    got.elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect()
}

/// Checks the journal: every expected record was received with its key; a record received more
/// than once was not committed past by its first consumer before it came again.
fn check_deliveries(journal: &Journal, expected: &Expected, label: &str) {
    let deliveries = journal.deliveries();
    let commits = journal.commits();
    let mut by_record: BTreeMap<(i32, i64), Vec<&Delivery>> = BTreeMap::new();
    for d in &deliveries {
        let want = expected.get(&(d.partition, d.offset));
        assert_eq!(
            want,
            Some(&d.key),
            "{label}: {} got key {:?} at partition {} offset {} (not what was produced there)",
            d.member,
            d.key,
            d.partition,
            d.offset
        );
        by_record
            .entry((d.partition, d.offset))
            .or_default()
            .push(d);
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !by_record.contains_key(k))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{label}: records never consumed (first 10): {missing:?}"
    );
    let mut duplicates = 0;
    for (&(p, o), ds) in &by_record {
        let first = ds[0];
        for again in &ds[1..] {
            duplicates += 1;
            let committed_past = commits
                .iter()
                .filter(|c| c.member == first.member && c.partition == p && c.seq < again.seq)
                .map(|c| c.offset)
                .max();
            assert!(
                committed_past.is_none_or(|c| o >= c),
                "{label}: partition {p} offset {o} consumed by {} and again by {}, although {} \
                 had committed offset {committed_past:?} before that",
                first.member,
                again.member,
                first.member
            );
        }
    }
    eprintln!(
        "{label}: {} records, {} deliveries, {duplicates} re-deliveries, {} commits",
        expected.len(),
        deliveries.len(),
        commits.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario 1 / 4: balance, rebalance, member killed
// ---------------------------------------------------------------------------------------------

/// Records per partition per production phase (commits of the child land at offsets ≡ 50 mod 100,
/// so after a phase it has an uncommitted window of 50 records on each of its partitions).
const PHASE: i64 = 200;

fn balance_rebalance_and_kill(cluster: &Cluster, proto: Proto) {
    let label = format!("{} {proto:?}", cluster.label());
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grp-balance");
    let group = unique_topic("g-balance");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let journal = Arc::new(Journal::default());
    let mut expected = Expected::new();
    produce(&bootstrap, &topic, 0, PHASE, &mut expected);

    let config = || group_config(&bootstrap, &group, proto);
    let m1 = Member::start("m1", config(), &topic, &journal);
    let m2 = Member::start("m2", config(), &topic, &journal);
    let mut child = ChildMember::start("child", &bootstrap, &group, &topic, proto, &journal);
    let three = wait_stable(
        &[&m1, &m2, &child],
        &format!("{label}: 3 members own all partitions once"),
    );
    assert_balanced(&three, &label);
    journal.wait_consumed(&expected, &format!("{label}: phase 1 consumed"));

    produce(&bootstrap, &topic, PHASE, 2 * PHASE, &mut expected);
    let m3 = Member::start("m3", config(), &topic, &journal);
    let four = wait_stable(
        &[&m1, &m2, &m3, &child],
        &format!("{label}: 4 members own all partitions once"),
    );
    assert_balanced(&four, &label);
    journal.wait_consumed(&expected, &format!("{label}: phase 2 consumed"));
    produce(&bootstrap, &topic, 2 * PHASE, 3 * PHASE, &mut expected);
    journal.wait_consumed(&expected, &format!("{label}: phase 3 consumed"));

    // Kill the child: it leaves nothing behind but its last commits.
    let dead = child.owned();
    assert!(
        !dead.is_empty(),
        "{label}: the child owns partitions before the kill"
    );
    child.kill9();
    let kill_seq = journal.next_seq();
    let committed = committed_offsets(&bootstrap, &group, &topic);
    let child_commits = journal.commits();
    for &p in &dead {
        let last_child_commit = child_commits
            .iter()
            .filter(|c| c.member == "child" && c.partition == p)
            .map(|c| c.offset)
            .max();
        let Some(Offset::Offset(c)) = committed.get(&p).copied() else {
            panic!(
                "{label}: no committed offset for the dead member's partition {p}: {committed:?}"
            );
        };
        assert_eq!(
            Some(c),
            last_child_commit,
            "{label}: the broker's committed offset of partition {p} is the child's last commit"
        );
        assert!(
            c < 3 * PHASE,
            "{label}: partition {p} has an uncommitted window (committed {c})"
        );
    }

    produce(&bootstrap, &topic, 3 * PHASE, 3 * PHASE + 50, &mut expected);
    let survivors = wait_stable(
        &[&m1, &m2, &m3],
        &format!("{label}: the 3 survivors own all partitions once after the kill"),
    );
    assert_balanced(&survivors, &label);
    journal.wait_consumed(
        &expected,
        &format!("{label}: everything consumed after the kill"),
    );

    // The survivors resume the dead member's partitions exactly at its committed offsets.
    let deliveries = journal.deliveries();
    for &p in &dead {
        let first_after = deliveries
            .iter()
            .filter(|d| d.seq > kill_seq && d.partition == p)
            .min_by_key(|d| d.seq)
            .map(|d| d.offset);
        assert_eq!(
            first_after.map(Offset::Offset),
            committed.get(&p).copied(),
            "{label}: after the kill, partition {p} resumes at its committed offset"
        );
    }
    check_deliveries(&journal, &expected, &label);
    for m in [m1, m2, m3] {
        m.close();
    }
}

#[test]
fn reference_kafka_range_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::reference(), Proto::Range);
}

#[test]
fn minikafka_range_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::minikafka(&[]), Proto::Range);
}

#[test]
fn reference_kafka_cooperative_sticky_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::reference(), Proto::CooperativeSticky);
}

#[test]
fn minikafka_cooperative_sticky_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::minikafka(&[]), Proto::CooperativeSticky);
}

#[test]
fn reference_kafka_kip848_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::reference(), Proto::Consumer);
}

#[test]
fn minikafka_kip848_group_balances_rebalances_and_survives_member_kill() {
    balance_rebalance_and_kill(&Cluster::minikafka(MINIKAFKA_KIP848_ARGS), Proto::Consumer);
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: committed offsets survive a restart
// ---------------------------------------------------------------------------------------------

/// How the broker is restarted between the commit and the resume.
#[derive(Debug, Clone, Copy)]
enum Restart {
    /// Not restarted (the shared reference broker).
    None,
    /// SIGTERM, then start on the same data dir.
    Graceful,
    /// SIGKILL, then start on the same data dir.
    Kill9,
}

/// The offsets committed per partition: distinct, inside the data, not at a batch edge.
fn commit_target(p: i32) -> i64 {
    11 + 7 * i64::from(p)
}

fn committed_offsets_resume(cluster: &mut Cluster, restart: Restart) {
    let label = format!("{} restart {restart:?}", cluster.label());
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grp-resume");
    let group = unique_topic("g-resume");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let mut expected = Expected::new();
    produce(&bootstrap, &topic, 0, 100, &mut expected);

    // A member of the group consumes everything, then commits K_p on each partition.
    let first: BaseConsumer = group_config(&bootstrap, &group, Proto::Range)
        .create()
        .expect("consumer");
    first.subscribe(&[&topic]).expect("subscribe");
    let mut seen = BTreeSet::new();
    wait_until(
        &format!("{label}: first consumer reads everything"),
        CONSUME,
        Duration::from_millis(1),
        || {
            if let Some(m) = first.poll(TICK) {
                let m = m.expect("consumer error");
                seen.insert((m.partition(), m.offset()));
            }
            (seen.len() == expected.len()).then_some(())
        },
    );
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(&topic, p, Offset::Offset(commit_target(p)))
            .expect("add partition");
    }
    first.commit(&tpl, CommitMode::Sync).expect("commit K");
    let want: BTreeMap<i32, Offset> = (0..PARTITIONS)
        .map(|p| (p, Offset::Offset(commit_target(p))))
        .collect();
    let got: BTreeMap<i32, Offset> = first
        .committed(Duration::from_secs(30))
        .expect("committed()")
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(got, want, "{label}: committed() right after the commit");
    drop(first);

    let bootstrap = match (cluster, restart) {
        (_, Restart::None) => bootstrap,
        (Cluster::Minikafka(broker), Restart::Graceful) => {
            broker.restart();
            broker.bootstrap().to_string()
        }
        (Cluster::Minikafka(broker), Restart::Kill9) => {
            broker.kill9();
            broker.restart();
            broker.bootstrap().to_string()
        }
        (Cluster::Reference(_), _) => panic!("the shared reference broker is not restarted"),
    };

    // OffsetFetch from outside the group.
    assert_eq!(
        committed_offsets(&bootstrap, &group, &topic),
        want,
        "{label}: OffsetFetch after the restart returns the committed offsets"
    );
    // A new member starts exactly there.
    let second: BaseConsumer = group_config(&bootstrap, &group, Proto::Range)
        .create()
        .expect("consumer");
    second.subscribe(&[&topic]).expect("subscribe");
    let mut firsts: BTreeMap<i32, (i64, String)> = BTreeMap::new();
    wait_until(
        &format!("{label}: new member gets a record from every partition"),
        CONSUME,
        Duration::from_millis(1),
        || {
            if let Some(m) = second.poll(TICK) {
                let m = m.expect("consumer error");
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                firsts.entry(m.partition()).or_insert((m.offset(), key));
            }
            (firsts.len() == usize::try_from(PARTITIONS).unwrap()).then_some(())
        },
    );
    for (p, (offset, key)) in &firsts {
        assert_eq!(
            *offset,
            commit_target(*p),
            "{label}: partition {p} resumes at the committed offset"
        );
        assert_eq!(
            Some(key),
            expected.get(&(*p, *offset)),
            "{label}: key at partition {p} offset {offset}"
        );
    }
    let got: BTreeMap<i32, Offset> = second
        .committed(Duration::from_secs(30))
        .expect("committed()")
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(got, want, "{label}: committed() of the new member");
}

#[test]
fn reference_kafka_committed_offsets_resume_in_a_new_member() {
    committed_offsets_resume(&mut Cluster::reference(), Restart::None);
}

#[test]
fn minikafka_committed_offsets_resume_after_graceful_restart() {
    committed_offsets_resume(&mut Cluster::minikafka(&[]), Restart::Graceful);
}

#[test]
fn minikafka_committed_offsets_resume_after_kill9_restart() {
    committed_offsets_resume(&mut Cluster::minikafka(&[]), Restart::Kill9);
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: static membership
// ---------------------------------------------------------------------------------------------

/// A static member's config: `group.instance.id`, 10 s session, `range`, and debug `cgrp`
/// logging so that [`MemberCtx`] sees the JoinGroup generation.
fn static_config(bootstrap: &str, group: &str, instance: Option<&str>) -> ClientConfig {
    let mut c = group_config(bootstrap, group, Proto::Range);
    c.set("session.timeout.ms", "10000")
        .set_log_level(RDKafkaLogLevel::Debug);
    if std::env::var_os("COMPAT_RDKAFKA_DEBUG").is_none() {
        c.set("debug", "cgrp");
    }
    if let Some(id) = instance {
        c.set("group.instance.id", id);
    }
    c
}

fn last_generation(m: &Member, label: &str) -> i32 {
    *m.generations()
        .last()
        .unwrap_or_else(|| panic!("{label}: {} logged no JoinGroup response", m.name))
}

fn static_member_rejoins_without_rebalance(cluster: &Cluster) {
    let label = cluster.label();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grp-static");
    let group = unique_topic("g-static");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let journal = Arc::new(Journal::default());
    let mut expected = Expected::new();
    produce(&bootstrap, &topic, 0, 50, &mut expected);

    let instance = |n: u32| format!("{group}-instance-{n}");
    // s3 joins first, so it is the leader (the leader stays while it is a member): the member that
    // leaves and returns below is the leader, the case where a returning member could make the
    // coordinator rebalance (Kafka 4.x does not, for any JoinGroup version).
    let s3 = Member::start(
        "s3",
        static_config(&bootstrap, &group, Some(&instance(3))),
        &topic,
        &journal,
    );
    wait_until(&format!("{label}: s3 joined"), SETTLE, TICK, || {
        (!s3.generations().is_empty()).then_some(())
    });
    let s1 = Member::start(
        "s1",
        static_config(&bootstrap, &group, Some(&instance(1))),
        &topic,
        &journal,
    );
    let s2 = Member::start(
        "s2",
        static_config(&bootstrap, &group, Some(&instance(2))),
        &topic,
        &journal,
    );
    let before = wait_stable(
        &[&s1, &s2, &s3],
        &format!("{label}: 3 static members own all partitions once"),
    );
    journal.wait_consumed(&expected, &format!("{label}: first records consumed"));
    let generation = last_generation(&s1, label);
    for m in [&s2, &s3] {
        assert_eq!(
            last_generation(m, label),
            generation,
            "{label}: {} is in generation {generation}",
            m.name
        );
    }
    assert!(
        s3.leads(),
        "{label}: s3, the first to join, leads the group"
    );
    let (events1, events2) = (s1.events(), s2.events());

    // s3 closes (a static member sends no LeaveGroup) and comes back with the same instance id.
    s3.close();
    let s3b = Member::start(
        "s3b",
        static_config(&bootstrap, &group, Some(&instance(3))),
        &topic,
        &journal,
    );
    let back = wait_until(
        &format!("{label}: s3 is back with partitions"),
        SETTLE,
        TICK,
        || {
            let owned = s3b.owned();
            (!owned.is_empty()).then_some(owned)
        },
    );
    assert_eq!(
        back, before["s3"],
        "{label}: the returning static member gets its partitions back"
    );
    assert_eq!(
        last_generation(&s3b, label),
        generation,
        "{label}: the returning static member rejoins the same generation (no rebalance)"
    );
    produce(&bootstrap, &topic, 50, 100, &mut expected);
    journal.wait_consumed(
        &expected,
        &format!("{label}: records after the return consumed"),
    );
    let now = wait_stable(&[&s1, &s2, &s3b], &format!("{label}: group still settled"));
    assert_eq!(now["s1"], before["s1"], "{label}: s1 kept its partitions");
    assert_eq!(now["s2"], before["s2"], "{label}: s2 kept its partitions");
    assert_eq!(s1.events(), events1, "{label}: no rebalance callback on s1");
    assert_eq!(s2.events(), events2, "{label}: no rebalance callback on s2");
    assert_eq!(
        s1.generations().last(),
        Some(&generation),
        "{label}: s1 did not rejoin"
    );
    check_deliveries(&journal, &expected, label);

    // Control: a dynamic member joining does rebalance, and the probes above would see it.
    let d4 = Member::start(
        "d4",
        static_config(&bootstrap, &group, None),
        &topic,
        &journal,
    );
    wait_stable(
        &[&s1, &s2, &s3b, &d4],
        &format!("{label}: 4 members after a dynamic join"),
    );
    assert!(
        last_generation(&s1, label) > generation,
        "{label}: a dynamic join bumps the generation ({:?})",
        s1.generations()
    );
    assert_ne!(
        s1.events(),
        events1,
        "{label}: a dynamic join calls s1's rebalance callback"
    );
    for m in [s1, s2, s3b, d4] {
        m.close();
    }
}

#[test]
fn reference_kafka_static_member_rejoins_without_rebalance() {
    static_member_rejoins_without_rebalance(&Cluster::reference());
}

#[test]
fn minikafka_static_member_rejoins_without_rebalance() {
    static_member_rejoins_without_rebalance(&Cluster::minikafka(&[]));
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: kcat -G
// ---------------------------------------------------------------------------------------------

/// Finds `kcat` (or `kafkacat`) on PATH; fails (never skips) when missing.
fn kcat_binary() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("kcat"), d.join("kafkacat")])
        .find(|p| p.is_file())
        .expect("kcat is not installed (apt-get install -y kcat, or run `bash ci/test`)")
}

fn kcat_balanced_consumer_reads_everything(cluster: &Cluster) {
    let label = cluster.label();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grp-kcat");
    let group = unique_topic("g-kcat");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let mut expected = Expected::new();
    produce(&bootstrap, &topic, 0, 100, &mut expected);

    // -G with -c N: exit after N records (kcat commits on close). `timeout` bounds it.
    let count = expected.len().to_string();
    let out = Command::new("timeout")
        .args(["60", kcat_binary().to_str().unwrap()])
        .args([
            "-b",
            &bootstrap,
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
        ])
        .args([
            "-X",
            "broker.address.family=v4",
            "-c",
            &count,
            "-q",
            "-f",
            "%p %o %k\\n",
            &topic,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run kcat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{label}: kcat -G exited with {} (124 = timed out); stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Expected::new();
    for line in stdout.lines() {
        let mut w = line.split(' ');
        let (Some(p), Some(o), Some(k)) = (w.next(), w.next(), w.next()) else {
            panic!("{label}: unexpected kcat line {line:?}");
        };
        let prev = got.insert((p.parse().unwrap(), o.parse().unwrap()), k.to_string());
        assert!(
            prev.is_none(),
            "{label}: kcat printed partition {p} offset {o} twice"
        );
    }
    assert_eq!(
        got, expected,
        "{label}: kcat -G read every record once, with its key"
    );
    // kcat commits the consumed positions when it closes.
    let want: BTreeMap<i32, Offset> = (0..PARTITIONS).map(|p| (p, Offset::Offset(100))).collect();
    assert_eq!(
        committed_offsets(&bootstrap, &group, &topic),
        want,
        "{label}: kcat committed the end of every partition"
    );
}

#[test]
fn reference_kafka_kcat_balanced_consumer_reads_every_record() {
    kcat_balanced_consumer_reads_everything(&Cluster::reference());
}

#[test]
fn minikafka_kcat_balanced_consumer_reads_every_record() {
    kcat_balanced_consumer_reads_everything(&Cluster::minikafka(&[]));
}

// ---------------------------------------------------------------------------------------------
// Scenario 6: ListGroups, DescribeGroups, DeleteGroups
// ---------------------------------------------------------------------------------------------

/// Decodes a classic `ConsumerProtocolAssignment` (version, [topic, [partition]], user data).
fn decode_assignment(bytes: &[u8]) -> BTreeMap<String, Vec<i32>> {
    let mut r = compat_tests::wire::Reader::new(bytes);
    let _version = r.i16();
    let mut out = BTreeMap::new();
    for _ in 0..r.i32() {
        let topic = r.string().expect("topic name");
        let n = r.i32();
        let mut parts: Vec<i32> = (0..n).map(|_| r.i32()).collect();
        parts.sort_unstable();
        out.insert(topic, parts);
    }
    out
}

fn list_describe_and_delete_groups(cluster: &Cluster) {
    let label = cluster.label();
    let bootstrap = cluster.bootstrap();
    let topic = unique_topic("grp-describe");
    let group = unique_topic("g-describe");
    create_topic(&bootstrap, &topic, PARTITIONS);
    let journal = Arc::new(Journal::default());
    let m1 = Member::start(
        "m1",
        group_config(&bootstrap, &group, Proto::Range),
        &topic,
        &journal,
    );
    let m2 = Member::start(
        "m2",
        group_config(&bootstrap, &group, Proto::Range),
        &topic,
        &journal,
    );
    let owners = wait_stable(
        &[&m1, &m2],
        &format!("{label}: 2 members own all partitions once"),
    );

    let probe: BaseConsumer<DebugCtx> =
        group_config(&bootstrap, &unique_topic("g-probe"), Proto::Range)
            .create_with_context(DebugCtx)
            .expect("consumer");
    // ListGroups (all groups) includes ours.
    let all = probe
        .fetch_group_list(None, Duration::from_secs(30))
        .expect("ListGroups");
    assert!(
        all.groups().iter().any(|g| g.name() == group),
        "{label}: ListGroups lists {group}: {:?}",
        all.groups().iter().map(|g| g.name()).collect::<Vec<_>>()
    );
    // DescribeGroups of ours.
    let described = wait_until(
        &format!("{label}: DescribeGroups shows a stable group"),
        SETTLE,
        TICK,
        || {
            let list = probe
                .fetch_group_list(Some(&group), Duration::from_secs(30))
                .ok()?;
            let g = list.groups().iter().find(|g| g.name() == group)?;
            let members: Vec<(String, BTreeMap<String, Vec<i32>>)> = g
                .members()
                .iter()
                .map(|m| {
                    (
                        m.client_id().to_string(),
                        decode_assignment(m.assignment().unwrap_or_default()),
                    )
                })
                .collect();
            (g.state() == "Stable").then(|| {
                (
                    g.protocol_type().to_string(),
                    g.protocol().to_string(),
                    members,
                )
            })
        },
    );
    let (protocol_type, protocol, members) = described;
    assert_eq!(protocol_type, "consumer", "{label}: protocol type");
    assert_eq!(protocol, "range", "{label}: chosen protocol");
    assert_eq!(
        members.len(),
        2,
        "{label}: two members described: {members:?}"
    );
    for (client_id, assignment) in &members {
        let want: BTreeMap<String, Vec<i32>> = [(topic.clone(), owners[client_id].clone())].into();
        assert_eq!(
            assignment, &want,
            "{label}: described assignment of {client_id}"
        );
    }

    // DeleteGroups: refused while the group has members, done once it is empty.
    let mut admin_config = base_config(&bootstrap);
    if let Ok(debug) = std::env::var("COMPAT_RDKAFKA_DEBUG") {
        admin_config
            .set("debug", &debug)
            .set_log_level(RDKafkaLogLevel::Debug);
    }
    let admin: AdminClient<DebugCtx> = admin_config
        .create_with_context(DebugCtx)
        .expect("admin client");
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let res = block_on(admin.delete_groups(&[&group], &opts)).expect("DeleteGroups");
    assert_eq!(
        res,
        vec![Err((group.clone(), RDKafkaErrorCode::NonEmptyGroup))],
        "{label}: deleting a group with members"
    );
    m1.close();
    m2.close();
    let res = block_on(admin.delete_groups(&[&group], &opts)).expect("DeleteGroups");
    assert_eq!(
        res,
        vec![Ok(group.clone())],
        "{label}: deleting the empty group"
    );
    let list = probe
        .fetch_group_list(Some(&group), Duration::from_secs(30))
        .expect("DescribeGroups");
    let state: Vec<&str> = list
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .map(|g| g.state())
        .collect();
    assert!(
        state.is_empty() || state == ["Dead"],
        "{label}: a deleted group is described as Dead (or not at all): {state:?}"
    );
    let all = probe
        .fetch_group_list(None, Duration::from_secs(30))
        .expect("ListGroups");
    assert!(
        !all.groups().iter().any(|g| g.name() == group),
        "{label}: ListGroups no longer lists {group}"
    );
}

#[test]
fn reference_kafka_list_describe_and_delete_groups() {
    list_describe_and_delete_groups(&Cluster::reference());
}

#[test]
fn minikafka_list_describe_and_delete_groups() {
    list_describe_and_delete_groups(&Cluster::minikafka(&[]));
}

// ---------------------------------------------------------------------------------------------
// Scenario 7: KIP-848 regular-expression subscription (SubscribedTopicRegex, resolved by the
// broker)
// ---------------------------------------------------------------------------------------------

/// Polls `consumer` until `want` records arrived (bounded by [`CONSUME`]); returns what came,
/// by (topic, partition, offset) -> key.
fn consume_keys(
    consumer: &BaseConsumer,
    want: usize,
    got: &mut BTreeMap<(String, i32, i64), String>,
    label: &str,
) {
    let deadline = std::time::Instant::now() + CONSUME;
    while got.len() < want && std::time::Instant::now() < deadline {
        match consumer.poll(TICK) {
            Some(Ok(m)) => {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
                let prev = got.insert((m.topic().to_string(), m.partition(), m.offset()), key);
                assert!(prev.is_none(), "{label}: a record was delivered twice");
            }
            Some(Err(e)) => panic!("{label}: consumer error {e}"),
            None => {}
        }
    }
}

fn regex_subscription_follows_matching_topics(cluster: &Cluster) {
    let label = cluster.label();
    let bootstrap = cluster.bootstrap();
    let base = unique_topic("rx");
    let (a, b, other, late) = (
        format!("{base}-a"),
        format!("{base}-b"),
        format!("other-{base}"),
        format!("{base}-late"),
    );
    let mut expected: BTreeMap<(String, i32, i64), String> = BTreeMap::new();
    for t in [&a, &b, &other] {
        create_topic(&bootstrap, t, PARTITIONS);
        let mut e = Expected::new();
        produce(&bootstrap, t, 0, 10, &mut e);
        if t != &other {
            expected.extend(e.into_iter().map(|((p, o), k)| ((t.clone(), p, o), k)));
        }
    }
    let consumer: BaseConsumer = group_config(&bootstrap, &unique_topic("g-rx"), Proto::Consumer)
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[&format!("^{base}-.*")])
        .expect("subscribe to a pattern");
    let mut got = BTreeMap::new();
    consume_keys(&consumer, expected.len(), &mut got, label);
    assert_eq!(
        got, expected,
        "{label}: every record of the matching topics once, nothing of {other}"
    );
    // A matching topic created later joins the subscription.
    create_topic(&bootstrap, &late, PARTITIONS);
    let mut e = Expected::new();
    produce(&bootstrap, &late, 0, 5, &mut e);
    expected.extend(e.into_iter().map(|((p, o), k)| ((late.clone(), p, o), k)));
    consume_keys(&consumer, expected.len(), &mut got, label);
    assert_eq!(
        got, expected,
        "{label}: the new topic {late} is consumed too"
    );
}

#[test]
fn reference_kafka_kip848_regex_subscription_follows_matching_topics() {
    regex_subscription_follows_matching_topics(&Cluster::reference());
}

#[test]
fn minikafka_kip848_regex_subscription_follows_matching_topics() {
    regex_subscription_follows_matching_topics(&Cluster::minikafka(MINIKAFKA_KIP848_ARGS));
}
