//! The single-node metadata store: the topic registry (names, topic ids, partition counts,
//! per-topic configs) that publishes the [`MetadataImage`] every handler consults, and turns
//! administrative changes (create, delete, grow, reconfigure, DeleteRecords) into new images and
//! into partitions opened or removed by the replica layer.
//!
//! It stands where a controller quorum will stand: validation and persistence of topic
//! metadata. It holds no logs itself; partitions and their logs belong to the
//! [`ReplicaManager`].
//!
//! Topic metadata persists in `minikafka-topics.toml` in the data directory, rewritten
//! atomically on every change. Creation makes the partition directories first and then records
//! the topic; deletion forgets the topic first and then removes the directories, so a crash in
//! between never leaves a topic that points at missing data.
//!
//! Locking: administrative changes are serialised by one mutex; readers take the current image
//! (an `Arc` swapped under a std `RwLock`, never held across `.await`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use minikafka_storage::StorageError;
use serde::{Deserialize, Serialize};
use tracing::info;
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, TopicConfig};
use crate::meta::write_atomically;
use crate::metadata::{MetadataImage, PartitionImage, TopicImage};
use crate::replica::{Partition, ReplicaManager};

/// File holding the topic metadata.
pub const TOPICS_FILE: &str = "minikafka-topics.toml";

pub use crate::metadata::{is_internal_topic, INTERNAL_TOPICS};

/// Kafka's own metadata log: no client may create it (Kafka refuses it too), though it is not
/// one of [`INTERNAL_TOPICS`] (it never appears in Metadata).
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// What a client may not do to a broker-owned topic through the admin APIs, with the message
/// the refusal carries (the handlers answer INVALID_REQUEST, as Kafka's controller refuses the
/// creation of `__cluster_metadata`). `None`: `name` is an ordinary topic.
///
/// Internal topics are created only by the broker, with their coordinators' layout; they are
/// never deleted or grown by a client (stricter than Kafka without an authorizer, on purpose:
/// one command must not lose every group's offsets).
pub fn refuse_client_admin(action: ClientAdmin, name: &str) -> Option<String> {
    let owned = is_internal_topic(name) || name == CLUSTER_METADATA_TOPIC;
    owned.then(|| match action {
        ClientAdmin::Create => format!("Creation of internal topic {name} is prohibited."),
        ClientAdmin::Delete => format!("Deletion of internal topic {name} is prohibited."),
        ClientAdmin::AddPartitions => {
            format!("Adding partitions to internal topic {name} is prohibited.")
        }
    })
}

/// An administrative change a client asks for, checked by [`refuse_client_admin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAdmin {
    /// CreateTopics (including `validate_only`).
    Create,
    /// DeleteTopics.
    Delete,
    /// CreatePartitions.
    AddPartitions,
}

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
    /// A request beyond a limit of the controller (Kafka's `PolicyViolationException`).
    #[error("{0}")]
    PolicyViolation(String),
    /// Storage failure.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Metadata file failure.
    #[error("cannot persist topic metadata: {0}")]
    Io(#[from] std::io::Error),
}

/// Kafka's `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`: the most partitions one
/// CreateTopics request may ask for in all (a constant in Kafka too, not a setting).
pub const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;

/// Kafka's `validateTotalNumberOfPartitions`: the partitions a CreateTopics request asks for, each
/// topic given as `(num_partitions, number of manual assignments)` (-1 = `default_partitions`),
/// may not exceed [`MAX_PARTITIONS_PER_REQUEST`]; otherwise every topic of the request is refused.
pub fn check_request_partitions(
    topics: impl IntoIterator<Item = (i32, usize)>,
    default_partitions: i32,
) -> Result<(), TopicError> {
    let total: i64 = topics
        .into_iter()
        .map(|(n, assigned)| match (assigned, n) {
            (0, -1) => i64::from(default_partitions),
            (0, n) => i64::from(n.max(0)),
            (a, _) => i64::try_from(a).unwrap_or(i64::MAX),
        })
        .fold(0, i64::saturating_add);
    if total > MAX_PARTITIONS_PER_REQUEST {
        return Err(TopicError::PolicyViolation(
            "Excessively large number of partitions per request.".into(),
        ));
    }
    Ok(())
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

/// The topic registry of this broker (see the module docs).
#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    config: Arc<BrokerConfig>,
    /// The current image; replaced whole on every change.
    image: RwLock<Arc<MetadataImage>>,
    /// The partitions and their logs.
    replicas: Arc<ReplicaManager>,
    /// Serialises administrative changes (create, delete, add partitions) and their persistence.
    admin: Mutex<()>,
}

/// The placement of a partition led by this node (the only broker).
fn placement(p: &Partition, node: i32) -> PartitionImage {
    PartitionImage {
        index: p.index,
        replicas: vec![node],
        leader: node,
        leader_epoch: p.leader_epoch(),
        isr: p.isr(),
    }
}

impl Topics {
    /// Load the persisted topics, open every partition through `replicas` (`clean` = the
    /// previous run shut down cleanly, so no recovery scan) and publish the first image.
    pub fn load(
        data_dir: &Path,
        config: Arc<BrokerConfig>,
        replicas: Arc<ReplicaManager>,
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
        let node = config.node_id;
        let mut image = MetadataImage::default();
        for rec in file.topics {
            let id = Uuid::parse_str(&rec.id).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("topic {}: bad id: {e}", rec.name),
                )
            })?;
            let tc = TopicConfig::from_persisted(
                &rec.name,
                rec.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &config,
            )?;
            let lc = tc.log_config(&config.log_defaults)?;
            let mut partitions = Vec::new();
            for i in 0..rec.partitions {
                let p = replicas.open_partition(&rec.name, id, i, lc.clone(), clean, false)?;
                partitions.push(placement(&p, node));
            }
            image = image.with_topic(TopicImage {
                name: rec.name,
                id,
                config: tc,
                partitions,
            });
        }
        replicas.load_start_checkpoint(|topic, index| {
            image
                .topic(topic)
                .and_then(|t| replicas.partition(&t.id, index))
        })?;
        info!(topics = image.len(), clean, "loaded topics");
        Ok(Topics {
            data_dir: data_dir.to_path_buf(),
            config,
            image: RwLock::new(Arc::new(image)),
            replicas,
            admin: Mutex::new(()),
        })
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, image: MetadataImage) {
        *self.image.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(image);
    }

    fn admin(&self) -> MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The internal compacted topic `name` (`__consumer_offsets`, `__transaction_state`), created with
    /// `partitions` partitions and `segment.bytes` = `segment_bytes` if it does not exist yet (blocking), as
    /// Kafka does on the first FindCoordinator that needs it.
    pub fn ensure_internal(
        &self,
        name: &str,
        partitions: i32,
        segment_bytes: i32,
    ) -> Result<Arc<TopicImage>, TopicError> {
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
    pub fn get(&self, name: &str) -> Option<Arc<TopicImage>> {
        self.image().topic(name).cloned()
    }

    /// Look a topic up by id.
    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<TopicImage>> {
        self.image().topic_by_id(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<TopicImage>> {
        self.image().topics()
    }

    fn persist(&self) -> Result<(), TopicError> {
        let mut file = TopicsFile::default();
        for t in self.image().topics() {
            file.topics.push(TopicRecord {
                name: t.name.clone(),
                id: t.id.to_string(),
                partitions: t.partition_count(),
                configs: t.config.overrides.clone(),
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
        self.check_total_partitions(partitions)?;
        let tc = TopicConfig::from_overrides(configs.iter().copied(), &self.config)?;
        Ok((partitions, tc))
    }

    /// The broker-wide cap `max.partitions`: the hosted partitions of every topic (internal ones
    /// included) plus `adding` may not exceed it. Kafka has no such cap; the error is
    /// INVALID_PARTITIONS, as for its other partition-count limits.
    fn check_total_partitions(&self, adding: i32) -> Result<(), TopicError> {
        let hosted: i64 = self
            .image()
            .topics()
            .iter()
            .map(|t| i64::from(t.partition_count()))
            .sum();
        let max = i64::from(self.config.max_partitions);
        let total = hosted + i64::from(adding);
        if total > max {
            return Err(TopicError::InvalidPartitions(format!(
                "Adding {adding} partition(s) would bring this broker to {total} partitions, more than max.partitions ({max}); it hosts {hosted}."
            )));
        }
        Ok(())
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
    ) -> Result<Arc<TopicImage>, TopicError> {
        let _admin = self.admin();
        let (n, tc) = self.check_create(
            name,
            num_partitions,
            replication_factor,
            assignments,
            configs,
        )?;
        let lc = tc.log_config(&self.config.log_defaults)?;
        let id = Uuid::new_v4();
        let node = self.config.node_id;
        let mut partitions = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for i in 0..n {
            let p = self
                .replicas
                .open_partition(name, id, i, lc.clone(), true, true)?;
            partitions.push(placement(&p, node));
        }
        let topic = TopicImage {
            name: name.to_string(),
            id,
            config: tc,
            partitions,
        };
        self.publish(self.image().with_topic(topic));
        self.persist()?;
        info!(topic = name, topic_id = %id, partitions = n, "created topic");
        self.get(name).ok_or(TopicError::Unknown)
    }

    /// Delete a topic and its data. Blocking.
    pub fn delete(&self, topic: &TopicImage) -> Result<(), TopicError> {
        let _admin = self.admin();
        let image = self.image();
        if image.topic_by_id(&topic.id).is_none() {
            return Err(TopicError::Unknown);
        }
        self.publish(image.without_topic(&topic.id));
        self.persist()?;
        self.replicas.delete_topic(&topic.id);
        info!(topic = %topic.name, topic_id = %topic.id, "deleted topic");
        Ok(())
    }

    /// Grow a topic to `count` partitions. Blocking. With `validate_only` nothing changes.
    pub fn add_partitions(
        &self,
        topic: &TopicImage,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.admin();
        let Some(current_topic) = self.get_by_id(&topic.id) else {
            return Err(TopicError::Unknown);
        };
        let current = current_topic.partition_count();
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
        self.check_total_partitions(count - current)?;
        if validate_only {
            return Ok(());
        }
        let lc = current_topic.config.log_config(&self.config.log_defaults)?;
        let node = self.config.node_id;
        let mut grown = (*current_topic).clone();
        for i in current..count {
            let p =
                self.replicas
                    .open_partition(&topic.name, topic.id, i, lc.clone(), true, true)?;
            grown.partitions.push(placement(&p, node));
        }
        self.publish(self.image().with_topic(grown));
        self.persist()?;
        info!(topic = %topic.name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Replace a topic's config overrides (already validated), apply them to every partition's
    /// log at once and persist them. Blocking.
    pub fn set_config(&self, topic: &TopicImage, config: TopicConfig) -> Result<(), TopicError> {
        let _admin = self.admin();
        let Some(current) = self.get_by_id(&topic.id) else {
            return Err(TopicError::Unknown);
        };
        let lc = config.log_config(&self.config.log_defaults)?;
        let mut changed = (*current).clone();
        changed.config = config;
        self.publish(self.image().with_topic(changed));
        self.replicas.set_log_config(&topic.id, &lc);
        self.persist()?;
        info!(topic = %topic.name, "altered topic config");
        Ok(())
    }

    /// Move a partition's log start offset forward (DeleteRecords) and persist every
    /// partition's start offset. Returns the new start offset. Blocking.
    pub fn delete_records(&self, p: &Partition, offset: i64) -> Result<i64, TopicError> {
        let _admin = self.admin();
        let (deleted, start) = p.advance_log_start_offset(offset)?;
        for d in deleted {
            info!(topic = %p.topic, partition = p.index, base_offset = d.base_offset, size = d.size, "deleted segment (DeleteRecords)");
        }
        self.replicas.write_start_checkpoint()?;
        info!(topic = %p.topic, partition = p.index, log_start_offset = start, "deleted records");
        Ok(start)
    }

    /// The broker configuration.
    pub fn broker_config(&self) -> &BrokerConfig {
        &self.config
    }
}
