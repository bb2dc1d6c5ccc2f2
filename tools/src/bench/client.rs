//! rdkafka client configuration, the reachability check, and topic setup.
//!
//! Every call that talks to the broker here is bounded by `--timeout`, so a wrong or
//! unreachable bootstrap address ends in an error, never a hang.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use crate::args::Common;

/// Settings every client gets: bootstrap, bounded socket timeouts, and the user's `--set`s.
pub(crate) fn base_config(c: &Common) -> ClientConfig {
    let mut config = ClientConfig::new();
    let timeout_ms = (c.timeout * 1000.0).round().max(1.0).to_string();
    config
        .set("bootstrap.servers", &c.bootstrap)
        .set("socket.timeout.ms", &timeout_ms)
        .set("socket.connection.setup.timeout.ms", &timeout_ms)
        .set("log_level", "3");
    apply_overrides(&mut config, c);
    config
}

/// Applies `--set key=value`; called last so that it overrides our defaults.
fn apply_overrides(config: &mut ClientConfig, c: &Common) {
    for kv in &c.set {
        if let Some((k, v)) = kv.split_once('=') {
            config.set(k.trim(), v.trim());
        }
    }
}

/// Producer settings from the arguments. Deliveries that cannot complete fail after
/// `message.timeout.ms` (30 s) instead of being retried forever. The queue is bounded by
/// [`Common::max_queued`].
pub(crate) fn producer_config(c: &Common) -> ClientConfig {
    let mut config = base_config(c);
    let (max_messages, max_kbytes) = c.max_queued();
    config
        .set("acks", c.acks.as_config())
        .set("compression.type", &c.compression)
        .set("linger.ms", c.linger_ms.to_string())
        .set("batch.size", c.batch_size.to_string())
        .set("enable.idempotence", c.idempotence.to_string())
        .set("message.timeout.ms", "30000")
        .set("queue.buffering.max.messages", max_messages.to_string())
        .set("queue.buffering.max.kbytes", max_kbytes.to_string())
        // For the report's client_latency_ms (queue wait vs broker round trip).
        .set("statistics.interval.ms", "1000");
    apply_overrides(&mut config, c);
    config
}

/// Consumer settings: no commits, read from the earliest offset when the group has none.
pub(crate) fn consumer_config(c: &Common, group: &str) -> ClientConfig {
    let mut config = base_config(c);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    apply_overrides(&mut config, c);
    config
}

/// A consumer used only for metadata and watermarks.
fn metadata_client(c: &Common) -> Result<BaseConsumer> {
    base_config(c)
        .set("group.id", "minikafka-bench-metadata")
        .create()
        .with_context(|| format!("bad client configuration for bootstrap {:?}", c.bootstrap))
}

/// Cluster metadata, or a clear error when the broker cannot be reached in time.
fn fetch_metadata(client: &BaseConsumer, c: &Common) -> Result<Metadata> {
    let md = client.fetch_metadata(None, c.timeout()).map_err(|e| {
        anyhow!(
            "cannot reach a broker at {:?} within {} s: {e}",
            c.bootstrap,
            c.timeout
        )
    })?;
    if md.brokers().is_empty() {
        bail!("the broker at {:?} reports no brokers", c.bootstrap);
    }
    Ok(md)
}

/// Partitions of `topic` that have a leader, if the topic exists.
fn leader_partitions(md: &Metadata, topic: &str) -> Option<(usize, usize)> {
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    let led = t.partitions().iter().filter(|p| p.leader() >= 0).count();
    Some((led, t.partitions().len()))
}

/// Checks the broker is reachable, creates the topic if it is missing, waits until every
/// partition has a leader, and returns the partition count.
pub(crate) fn prepare_topic(c: &Common) -> Result<usize> {
    let client = metadata_client(c)?;
    let md = fetch_metadata(&client, c)?;
    if leader_partitions(&md, &c.topic).is_none() {
        create_topic(c)?;
    }
    let deadline = Instant::now() + c.timeout();
    loop {
        let md = fetch_metadata(&client, c)?;
        match leader_partitions(&md, &c.topic) {
            Some((led, total)) if led == total => return Ok(total),
            _ if Instant::now() >= deadline => {
                bail!(
                    "topic {:?} has no leader for every partition after {} s",
                    c.topic,
                    c.timeout
                )
            }
            _ => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Creates the topic through the admin API; "already exists" is fine.
fn create_topic(c: &Common) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(c)
        .create()
        .context("creating the admin client")?;
    let mut topic = NewTopic::new(
        &c.topic,
        c.partitions,
        TopicReplication::Fixed(c.replication_factor),
    );
    for kv in &c.topic_config {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--topic-config {kv:?}: expected KEY=VALUE"))?;
        topic = topic.set(k.trim(), v.trim());
    }
    let options = AdminOptions::new()
        .request_timeout(Some(c.timeout()))
        .operation_timeout(Some(c.timeout()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let results = runtime
        .block_on(async {
            tokio::time::timeout(c.timeout(), admin.create_topics([&topic], &options)).await
        })
        .map_err(|_| anyhow!("CreateTopics {:?} timed out after {} s", c.topic, c.timeout))?
        .with_context(|| format!("CreateTopics {:?}", c.topic))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create topic {name:?}: {code}"),
        }
    }
    Ok(())
}

/// The high watermark of every partition of `topic` (where e2e consumers start).
pub(crate) fn high_watermarks(c: &Common, partitions: usize) -> Result<Vec<i64>> {
    let client = metadata_client(c)?;
    (0..partitions)
        .map(|p| {
            let p = i32::try_from(p).context("partition number")?;
            let (_, high) = client
                .fetch_watermarks(&c.topic, p, c.timeout())
                .with_context(|| format!("ListOffsets {}-{p}", c.topic))?;
            Ok(high)
        })
        .collect()
}
