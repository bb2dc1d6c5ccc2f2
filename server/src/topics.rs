//! The topic registry: names, topic ids, partition counts and per-topic configs, each partition
//! with its open [`Log`].
//!
//! Topic metadata persists in `minikafka-topics.toml` in the data directory, rewritten
//! atomically on every change. Creation makes the partition directories first and then records
//! the topic; deletion forgets the topic first and then removes the directories, so a crash in
//! between never leaves a topic that points at missing data.
//!
//! Locking: the registry uses a std `RwLock` (never held across `.await`); each partition's log
//! has its own `RwLock` so fetches read in parallel while appends are exclusive per partition.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use minikafka_storage::batch::{iter_headers, BatchHeader};
use minikafka_storage::{Log, LogConfig, StorageError};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, TopicConfig};
use crate::group_commit::{FsyncHook, GroupCommit};
use crate::meta::{kafka_uuid_string, write_atomically};

/// File holding the topic metadata.
pub const TOPICS_FILE: &str = "minikafka-topics.toml";
/// Kafka's file of log start offsets moved by DeleteRecords (`0`, count, `topic partition offset` lines).
pub const LOG_START_CHECKPOINT: &str = "log-start-offset-checkpoint";

/// Errors of topic administration, each mapped to one Kafka error code by the handlers.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The name breaks Kafka's rules.
    #[error("{0}")]
    InvalidName(String),
    /// A topic of that name exists.
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    /// No such topic.
    #[error("This server does not host this topic-partition.")]
    Unknown,
    /// Bad partition count.
    #[error("{0}")]
    InvalidPartitions(String),
    /// Bad replication factor.
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// Bad manual replica assignment.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A malformed request.
    #[error("{0}")]
    InvalidRequest(String),
    /// A bad topic config.
    #[error("{0}")]
    InvalidConfig(#[from] ConfigError),
    /// Storage failure.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Metadata file failure.
    #[error("cannot persist topic metadata: {0}")]
    Io(#[from] std::io::Error),
}

/// Check a topic name against Kafka's rules (`Topic.validate`).
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidName(
            "Topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidName(
            "Topic name cannot be \".\" or \"..\"".into(),
        ));
    }
    if name.len() > 249 {
        return Err(TopicError::InvalidName(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(TopicError::InvalidName(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    /// Topic name (for logs).
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// The partition's log; readers share, appenders exclude.
    log: RwLock<Log>,
    /// Fetches waiting for data on this partition (woken on append).
    waiters: Mutex<Vec<Weak<Notify>>>,
    /// Set when the topic is deleted; appends are refused afterwards.
    deleted: AtomicBool,
    /// Shares fsyncs among concurrent requests that need this log durable.
    group_commit: GroupCommit,
}

impl Partition {
    /// Shared access to the log.
    pub fn read(&self) -> RwLockReadGuard<'_, Log> {
        self.log
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exclusive access to the log.
    pub fn write(&self) -> RwLockWriteGuard<'_, Log> {
        self.log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the topic was deleted while this handle was held.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// The partition's group-commit state ([`crate::group_commit`]).
    pub(crate) fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// fsyncs of this partition's log started by the group commit so far (produce, offset and
    /// transaction acknowledgements, `flush.ms`); not those of shutdown or deletion. For tests
    /// and diagnostics.
    pub fn fsync_count(&self) -> u64 {
        self.group_commit.fsync_count()
    }

    /// Test hook: run `hook` on the blocking thread before each group-commit fsync of this
    /// partition (`None` removes it). See [`FsyncHook`].
    #[doc(hidden)]
    pub fn set_fsync_hook(&self, hook: Option<FsyncHook>) {
        self.group_commit.set_hook(hook);
    }

    /// Register a waiter woken by the next append.
    pub fn watch(&self, waiter: &Arc<Notify>) {
        let mut w = self
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.retain(|x| x.strong_count() > 0);
        w.push(Arc::downgrade(waiter));
    }

    /// Wake every waiting fetch.
    pub fn notify_appended(&self) {
        let mut w = self
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.retain(|x| match x.upgrade() {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        });
    }
}

/// A topic: id, config and partitions.
#[derive(Debug)]
pub struct Topic {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: Uuid,
    /// Explicit config overrides (changed by AlterConfigs / IncrementalAlterConfigs).
    config: RwLock<TopicConfig>,
    /// Partitions, index = position.
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    /// The partitions (a snapshot of the list).
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One partition.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let p = self
            .partitions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        usize::try_from(index).ok().and_then(|i| p.get(i).cloned())
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        let n = self
            .partitions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    /// The topic's explicit config overrides.
    pub fn config(&self) -> TopicConfig {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether it is an internal topic (name starts with `__`).
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TopicsFile {
    #[serde(default, rename = "topic")]
    topics: Vec<TopicRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicRecord {
    name: String,
    id: String,
    partitions: i32,
    #[serde(default)]
    configs: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Registry {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// All topics of this broker.
#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    config: Arc<BrokerConfig>,
    registry: RwLock<Registry>,
    /// Serialises administrative changes (create, delete, add partitions) and their persistence.
    admin: Mutex<()>,
}

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

fn open_partition(
    data_dir: &Path,
    topic: &str,
    id: Uuid,
    index: i32,
    log_config: LogConfig,
    clean: bool,
) -> Result<Arc<Partition>, TopicError> {
    let dir = partition_dir(data_dir, topic, index);
    let log = Log::open(&dir, log_config, clean)?;
    let meta = dir.join("partition.metadata");
    if !meta.exists() {
        write_atomically(
            &meta,
            format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(id)).as_bytes(),
        )?;
    }
    Ok(Arc::new(Partition {
        topic: topic.to_string(),
        index,
        log: RwLock::new(log),
        waiters: Mutex::new(Vec::new()),
        deleted: AtomicBool::new(false),
        group_commit: GroupCommit::default(),
    }))
}

impl Topics {
    /// Load the persisted topics and open every partition's log (`clean` = the previous run
    /// shut down cleanly, so no recovery scan).
    pub fn load(
        data_dir: &Path,
        config: Arc<BrokerConfig>,
        clean: bool,
    ) -> Result<Topics, TopicError> {
        let path = data_dir.join(TOPICS_FILE);
        let file: TopicsFile = match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TopicsFile::default(),
            Err(e) => return Err(e.into()),
        };
        let mut registry = Registry::default();
        for rec in file.topics {
            let id = Uuid::parse_str(&rec.id).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("topic {}: bad id: {e}", rec.name),
                )
            })?;
            let tc = TopicConfig::from_overrides(
                rec.configs
                    .iter()
                    .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
                &config,
            )?;
            let lc = tc.log_config(&config.log_defaults)?;
            let mut parts = Vec::new();
            for i in 0..rec.partitions {
                parts.push(open_partition(
                    data_dir,
                    &rec.name,
                    id,
                    i,
                    lc.clone(),
                    clean,
                )?);
            }
            let topic = Arc::new(Topic {
                name: rec.name.clone(),
                id,
                config: RwLock::new(tc),
                partitions: RwLock::new(parts),
            });
            registry.by_id.insert(id, topic.clone());
            registry.by_name.insert(rec.name, topic);
        }
        for (topic, partition, offset) in
            read_start_checkpoint(&data_dir.join(LOG_START_CHECKPOINT))?
        {
            let Some(p) = registry
                .by_name
                .get(&topic)
                .and_then(|t| t.partition(partition))
            else {
                continue;
            };
            let mut log = p.write();
            // After an unclean shutdown the log may end below the recorded start: clamp.
            let offset = offset.min(log.log_end_offset());
            log.advance_log_start_offset(offset)?;
        }
        info!(topics = registry.by_name.len(), clean, "loaded topics");
        Ok(Topics {
            data_dir: data_dir.to_path_buf(),
            config,
            registry: RwLock::new(registry),
            admin: Mutex::new(()),
        })
    }

    fn reg(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The internal compacted topic `name` (`__consumer_offsets`, `__transaction_state`), created with
    /// `partitions` partitions and `segment.bytes` = `segment_bytes` if it does not exist yet (blocking), as
    /// Kafka does on the first FindCoordinator that needs it.
    pub fn ensure_internal(
        &self,
        name: &str,
        partitions: i32,
        segment_bytes: i32,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let segment_bytes = segment_bytes.to_string();
        let configs = [
            ("cleanup.policy", Some("compact")),
            ("segment.bytes", Some(segment_bytes.as_str())),
        ];
        match self.create(name, partitions, 1, &[], &configs) {
            Ok(t) => Ok(t),
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or(TopicError::Unknown),
            Err(e) => Err(e),
        }
    }

    /// Look a topic up by name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.reg().by_name.get(name).cloned()
    }

    /// Look a topic up by id.
    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.reg().by_id.get(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.reg().by_name.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Every partition of every topic.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.all().iter().flat_map(|t| t.partitions()).collect()
    }

    fn persist(&self) -> Result<(), TopicError> {
        let reg = self.reg();
        let mut file = TopicsFile::default();
        let mut topics: Vec<_> = reg.by_name.values().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        for t in topics {
            file.topics.push(TopicRecord {
                name: t.name.clone(),
                id: t.id.to_string(),
                partitions: t.partition_count(),
                configs: t.config().overrides,
            });
        }
        let text = toml::to_string(&file)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        write_atomically(&self.data_dir.join(TOPICS_FILE), text.as_bytes())?;
        Ok(())
    }

    /// Validate a creation request without creating anything; returns the effective partition
    /// count and the validated config.
    pub fn check_create(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        assignments: &[(i32, Vec<i32>)],
        configs: &[(&str, Option<&str>)],
    ) -> Result<(i32, TopicConfig), TopicError> {
        validate_name(name)?;
        if self.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        let node = self.config.node_id;
        let partitions = if !assignments.is_empty() {
            if num_partitions != -1 || replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            let mut seen: Vec<i32> = assignments.iter().map(|(p, _)| *p).collect();
            seen.sort_unstable();
            if seen
                .iter()
                .enumerate()
                .any(|(i, p)| usize::try_from(*p).ok() != Some(i))
            {
                return Err(TopicError::InvalidReplicaAssignment(
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            for (_, brokers) in assignments {
                if brokers.as_slice() != [node] {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Replica assignment {brokers:?} is invalid: this cluster has the single broker {node}"
                    )));
                }
            }
            i32::try_from(assignments.len()).unwrap_or(i32::MAX)
        } else {
            let n = if num_partitions == -1 {
                self.config.num_partitions
            } else {
                num_partitions
            };
            if n <= 0 {
                return Err(TopicError::InvalidPartitions(
                    "Number of partitions must be larger than 0.".into(),
                ));
            }
            let rf = if replication_factor == -1 {
                self.config.default_replication_factor
            } else {
                replication_factor
            };
            if rf <= 0 {
                return Err(TopicError::InvalidReplicationFactor(
                    "Replication factor must be larger than 0.".into(),
                ));
            }
            if rf > 1 {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                )));
            }
            n
        };
        if partitions > 100_000 {
            return Err(TopicError::InvalidPartitions(format!(
                "{partitions} partitions is more than minikafka allows (100000)"
            )));
        }
        let tc = TopicConfig::from_overrides(configs.iter().copied(), &self.config)?;
        Ok((partitions, tc))
    }

    /// Create a topic (after [`Topics::check_create`]-style validation, repeated here under the
    /// admin lock). Blocking: creates directories and files.
    pub fn create(
        &self,
        name: &str,
        num_partitions: i32,
        replication_factor: i16,
        assignments: &[(i32, Vec<i32>)],
        configs: &[(&str, Option<&str>)],
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (n, tc) = self.check_create(
            name,
            num_partitions,
            replication_factor,
            assignments,
            configs,
        )?;
        let lc = tc.log_config(&self.config.log_defaults)?;
        let id = Uuid::new_v4();
        let mut parts = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for i in 0..n {
            let dir = partition_dir(&self.data_dir, name, i);
            if dir.exists() {
                warn!(dir = %dir.display(), "removing stale partition directory left by an earlier topic");
                fs::remove_dir_all(&dir)?;
            }
            parts.push(open_partition(
                &self.data_dir,
                name,
                id,
                i,
                lc.clone(),
                true,
            )?);
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id,
            config: RwLock::new(tc),
            partitions: RwLock::new(parts),
        });
        {
            let mut reg = self
                .registry
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            reg.by_name.insert(name.to_string(), topic.clone());
            reg.by_id.insert(id, topic.clone());
        }
        self.persist()?;
        info!(topic = name, topic_id = %id, partitions = n, "created topic");
        Ok(topic)
    }

    /// Delete a topic and its data. Blocking.
    pub fn delete(&self, topic: &Arc<Topic>) -> Result<(), TopicError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let mut reg = self
                .registry
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if reg.by_id.remove(&topic.id).is_none() {
                return Err(TopicError::Unknown);
            }
            reg.by_name.remove(&topic.name);
        }
        self.persist()?;
        for p in topic.partitions() {
            p.deleted.store(true, Ordering::Release);
            let log = p.write();
            let dir = log.dir().to_path_buf();
            let trash = dir.with_file_name(format!(
                "{}-{}.{}-delete",
                topic.name,
                p.index,
                topic.id.simple()
            ));
            match fs::rename(&dir, &trash).and_then(|()| fs::remove_dir_all(&trash)) {
                Ok(()) => {}
                Err(e) => {
                    warn!(dir = %dir.display(), error = %e, "could not remove deleted partition's files")
                }
            }
            drop(log);
            p.notify_appended();
        }
        info!(topic = %topic.name, topic_id = %topic.id, "deleted topic");
        Ok(())
    }

    /// Grow a topic to `count` partitions. Blocking. With `validate_only` nothing changes.
    pub fn add_partitions(
        &self,
        topic: &Arc<Topic>,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = topic.partition_count();
        if count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {count}."
            )));
        }
        if count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {current} partitions."
            )));
        }
        if count > 100_000 {
            return Err(TopicError::InvalidPartitions(format!(
                "{count} partitions is more than minikafka allows (100000)"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let lc = topic.config().log_config(&self.config.log_defaults)?;
        let mut new = Vec::new();
        for i in current..count {
            new.push(open_partition(
                &self.data_dir,
                &topic.name,
                topic.id,
                i,
                lc.clone(),
                true,
            )?);
        }
        topic
            .partitions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(new);
        self.persist()?;
        info!(topic = %topic.name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Replace a topic's config overrides (already validated), apply them to every partition's
    /// log at once and persist them. Blocking.
    pub fn set_config(&self, topic: &Arc<Topic>, config: TopicConfig) -> Result<(), TopicError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lc = config.log_config(&self.config.log_defaults)?;
        *topic
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        for p in topic.partitions() {
            p.write().set_config(lc.clone());
        }
        self.persist()?;
        info!(topic = %topic.name, "altered topic config");
        Ok(())
    }

    /// Move a partition's log start offset forward (DeleteRecords) and persist every
    /// partition's start offset. Returns the new start offset. Blocking.
    pub fn delete_records(&self, p: &Arc<Partition>, offset: i64) -> Result<i64, TopicError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = {
            let mut log = p.write();
            let deleted = log.advance_log_start_offset(offset)?;
            for d in deleted {
                info!(topic = %p.topic, partition = p.index, base_offset = d.base_offset, size = d.size, "deleted segment (DeleteRecords)");
            }
            log.log_start_offset()
        };
        let mut text = String::new();
        let mut lines = 0;
        for t in self.all() {
            for part in t.partitions() {
                let start = part.read().log_start_offset();
                if start > 0 {
                    text.push_str(&format!("{} {} {start}\n", t.name, part.index));
                    lines += 1;
                }
            }
        }
        write_atomically(
            &self.data_dir.join(LOG_START_CHECKPOINT),
            format!("0\n{lines}\n{text}").as_bytes(),
        )?;
        info!(topic = %p.topic, partition = p.index, log_start_offset = start, "deleted records");
        Ok(start)
    }

    /// The broker configuration.
    pub fn broker_config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Flush, fsync and close every log (clean shutdown). Blocking.
    pub fn close_all(&self) -> Result<(), TopicError> {
        let mut first_err = None;
        for p in self.all_partitions() {
            let mut log = p.write();
            if let Err(e) = log.close_in_place() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush at shutdown failed");
                first_err.get_or_insert(TopicError::Storage(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Read Kafka's log-start-offset checkpoint; a missing file means no moved start offsets.
fn read_start_checkpoint(path: &Path) -> Result<Vec<(String, i32, i64)>, TopicError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: malformed checkpoint", path.display()),
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(bad().into());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for line in lines.take(count) {
        let mut f = line.rsplitn(3, ' ');
        let offset = f.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let partition = f.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let topic = f.next().ok_or_else(bad)?.to_string();
        out.push((topic, partition, offset));
    }
    Ok(out)
}

/// Call `f` with the header and bytes of every whole batch of `p`'s log, oldest first (the coordinators' replay of
/// their internal topics at start). Blocking; holds the partition's read lock.
pub fn for_each_batch(
    p: &Partition,
    mut f: impl FnMut(&BatchHeader, &[u8]),
) -> Result<(), TopicError> {
    let log = p.read();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, 1 << 20, true)?;
        let mut next = offset;
        for item in iter_headers(&read.records) {
            let (at, h) = item?;
            next = h.next_offset();
            f(&h, &read.records[at..at + h.size()]);
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(())
}
