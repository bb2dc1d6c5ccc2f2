//! The broker's side of the metadata: validates administrative changes (create, delete, grow,
//! reconfigure) against the state the metadata log has applied, proposes them to the
//! controller quorum ([`crate::controller::Quorum`]) as metadata records, and brings this
//! broker's replicas and its [`MetadataImage`] up to the applied log (partitions opened or
//! removed through the replica layer, log configs changed). DeleteRecords stays local: it moves
//! a partition's log start offset, which is the partition's own data, not cluster metadata.
//!
//! The log is the only source of truth: a topic exists once its records are committed. On
//! creation the records come first and the partition directories after (a crash in between
//! leaves a topic whose partitions are created empty at the next start); on deletion the topic
//! is removed from the log first and its directories after. The first start on a data
//! directory of an earlier minikafka moves its `minikafka-topics.toml` into the log.
//!
//! Locking: administrative changes and the reconciliation are serialised by one mutex; readers
//! take the current image (an `Arc` swapped under a std `RwLock`, never held across `.await`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use minikafka_storage::StorageError;
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, TopicConfig};
use crate::controller::records::check_assignment;
use crate::controller::{
    ClusterState, ControllerError, MetadataRecord, PartitionState, Quorum, TopicState,
};
use crate::metadata::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
use crate::producer_ids::PRODUCER_ID_FILE;
use crate::replica::{Partition, Placement, ReplicaManager};

/// The topics file of earlier single-node minikafka versions (migrated into the metadata log).
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
    /// The controller quorum refused or failed the change.
    #[error("{0}")]
    Controller(ControllerError),
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
    topics: Vec<TopicsFileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicsFileEntry {
    name: String,
    id: String,
    partitions: i32,
    #[serde(default)]
    configs: std::collections::BTreeMap<String, String>,
}

/// The brokers new partitions are dealt to, in order: the unfenced brokers interleaved by rack
/// (one of each rack in turn, as Kafka's placer alternates racks), rotated to a random start so
/// that the first partitions of many topics do not all land on one broker. `fallback` (this
/// node) when no broker is registered yet.
fn placement_order(state: &ClusterState, fallback: i32) -> Vec<i32> {
    let mut by_rack: std::collections::BTreeMap<Option<&str>, Vec<i32>> = Default::default();
    for (id, b) in state.live_brokers() {
        by_rack.entry(b.rack.as_deref()).or_default().push(id);
    }
    let mut order = Vec::new();
    for round in 0.. {
        let before = order.len();
        order.extend(by_rack.values().filter_map(|ids| ids.get(round).copied()));
        if order.len() == before {
            break;
        }
    }
    if order.is_empty() {
        order.push(fallback);
    }
    let start = usize::try_from(Uuid::new_v4().as_u128() % order.len() as u128).unwrap_or(0);
    order.rotate_left(start);
    order
}

/// A new partition's record: `replicas` all in sync, the first one (the preferred replica) the
/// leader, at epoch 0.
fn new_partition(topic_id: Uuid, partition: i32, replicas: Vec<i32>) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        leader: replicas.first().copied().unwrap_or(-1),
        isr: replicas.clone(),
        replicas,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

/// The records of new partitions `from..to` of `topic_id`: explicit `assignments` (checked by
/// the caller) or `replication_factor` replicas each, dealt over [`placement_order`]: partition
/// `i` starts at the `i`-th broker and takes the next ones in order, so leaders (the first
/// replica) and followers are spread evenly.
fn new_partitions(
    state: &ClusterState,
    node: i32,
    topic_id: Uuid,
    (from, to): (i32, i32),
    replication_factor: i16,
    assignments: &[(i32, Vec<i32>)],
) -> Vec<MetadataRecord> {
    if !assignments.is_empty() {
        return assignments
            .iter()
            .map(|(p, brokers)| new_partition(topic_id, *p, brokers.clone()))
            .collect();
    }
    let order = placement_order(state, node);
    let rf = usize::try_from(replication_factor)
        .unwrap_or(1)
        .clamp(1, order.len());
    (from..to)
        .enumerate()
        .map(|(k, i)| {
            let replicas = (0..rf).map(|r| order[(k + r) % order.len()]).collect();
            new_partition(topic_id, i, replicas)
        })
        .collect()
}

/// One partition's outcome of [`Topics::elect_leaders`]: `(topic id, partition)` and done or why not.
pub type ElectionResult = ((Uuid, i32), Result<(), Election>);

/// Why a leader election was not done ([`Topics::elect_leaders`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The preferred replica leads already (preferred), or a leader exists (unclean).
    NotNeeded,
    /// The preferred replica is fenced or out of sync.
    PreferredNotAvailable,
    /// Unclean: no replica is alive.
    NoEligibleLeader,
    /// No such partition.
    UnknownPartition,
}

/// Why a partition's reassignment was refused ([`Topics::alter_reassignments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassignment {
    /// No such partition (UNKNOWN_TOPIC_OR_PARTITION).
    UnknownPartition,
    /// A bad target, or a cancel that needs an unclean election (INVALID_REPLICA_ASSIGNMENT).
    Invalid(String),
    /// A cancel with no reassignment in progress (NO_REASSIGNMENT_IN_PROGRESS).
    NoneInProgress,
}

/// One partition's outcome of [`Topics::alter_reassignments`].
pub type ReassignmentResult = ((Uuid, i32), Result<(), Reassignment>);

/// One partition's reassignment asked for: `(topic id, partition)` and the target replicas, or
/// `None` to cancel.
pub type ReassignmentRequest = ((Uuid, i32), Option<Vec<i32>>);

/// A reassignment in progress ([`Topics::list_reassignments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The replicas now: the target, then the ones being removed.
    pub replicas: Vec<i32>,
    /// Being added.
    pub adding: Vec<i32>,
    /// Being removed.
    pub removing: Vec<i32>,
}

/// The topic registry of this broker (see the module docs).
#[derive(Debug)]
pub struct Topics {
    data_dir: PathBuf,
    config: Arc<BrokerConfig>,
    /// The metadata log: the source of truth for topics.
    quorum: Arc<Quorum>,
    /// The current image; replaced whole on every change.
    image: RwLock<Arc<MetadataImage>>,
    /// The partitions and their logs.
    replicas: Arc<ReplicaManager>,
    /// The metadata log index the published image reflects at least (see [`Topics::catch_up`]).
    reconciled: std::sync::atomic::AtomicU64,
    /// Serialises administrative changes (validation against the applied state, the proposal)
    /// and the reconciliation of the replicas with the log.
    admin: Mutex<()>,
    /// Counts published images: the replica fetchers wake on it.
    published: tokio::sync::watch::Sender<u64>,
}

/// The placement of a partition as the image shows it: from the metadata log, except the
/// leader epoch of a partition led here, which is the one it serves at (the same, unless the
/// log could not be told of a newer one: see [`Topics::reconcile`]).
fn placement(index: i32, state: &PartitionState, led_here: Option<&Partition>) -> PartitionImage {
    PartitionImage {
        index,
        replicas: state.replicas.clone(),
        leader: state.leader,
        leader_epoch: led_here.map_or(state.leader_epoch, Partition::leader_epoch),
        isr: state.isr.clone(),
    }
}

/// The registered brokers as the image shows them.
fn broker_images(state: &ClusterState) -> Vec<BrokerImage> {
    state
        .brokers
        .iter()
        .map(|(id, b)| BrokerImage {
            id: *id,
            endpoints: b
                .listeners
                .iter()
                .map(|e| (e.name.clone(), e.host.clone(), e.port))
                .collect(),
            rack: b.rack.clone(),
            fenced: b.fenced,
        })
        .collect()
}

fn bad_data(what: String) -> TopicError {
    TopicError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, what))
}

impl Topics {
    /// Build the broker's view of the metadata log `quorum` has applied: open every partition
    /// through `replicas` (`clean` = the previous run shut down cleanly, so no recovery scan)
    /// and publish the first image. The first start on a data directory of an earlier
    /// single-node minikafka first moves its `minikafka-topics.toml` and `producer-id-block`
    /// into the log.
    pub fn load(
        data_dir: &Path,
        config: Arc<BrokerConfig>,
        replicas: Arc<ReplicaManager>,
        quorum: Arc<Quorum>,
        clean: bool,
    ) -> Result<Topics, TopicError> {
        let topics = Topics {
            data_dir: data_dir.to_path_buf(),
            config,
            quorum,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            replicas,
            reconciled: std::sync::atomic::AtomicU64::new(0),
            admin: Mutex::new(()),
            published: tokio::sync::watch::Sender::new(0),
        };
        let _admin = topics.admin();
        topics.migrate_single_node_files()?;
        topics.reconcile(Some(clean))?;
        let image = topics.image();
        let find = |topic: &str, index| {
            image
                .topic(topic)
                .and_then(|t| topics.replicas.partition(&t.id, index))
        };
        topics.replicas.load_start_checkpoint(find)?;
        topics.replicas.load_hw_checkpoint(find);
        // `clean` is the caller's; each log directory's own marker has the last word
        // (`LogDir::was_clean`), and an unclean one was logged when it was opened.
        info!(topics = image.len(), "loaded topics from the metadata log");
        drop(_admin);
        Ok(topics)
    }

    /// The first start of this version on the data directory of an earlier one: the topics
    /// file and the producer-id block become one batch of metadata records (with a
    /// [`MetadataRecord::Migrated`] marker), and the files are renamed `*.migrated`.
    fn migrate_single_node_files(&self) -> Result<(), TopicError> {
        let topics_path = self.data_dir.join(TOPICS_FILE);
        let ids_path = self.data_dir.join(PRODUCER_ID_FILE);
        let state = self.quorum.state();
        if !state.migrated {
            let mut records = Vec::new();
            let node = self.config.node_id;
            match fs::read_to_string(&topics_path) {
                Ok(text) => {
                    let file: TopicsFile = toml::from_str(&text)
                        .map_err(|e| bad_data(format!("{}: {e}", topics_path.display())))?;
                    for t in file.topics {
                        let id = Uuid::parse_str(&t.id)
                            .map_err(|e| bad_data(format!("topic {}: bad id: {e}", t.name)))?;
                        records.push(MetadataRecord::Topic {
                            name: t.name.clone(),
                            id,
                        });
                        for (k, v) in &t.configs {
                            records.push(MetadataRecord::TopicConfig {
                                topic: t.name.clone(),
                                name: k.clone(),
                                value: Some(v.clone()),
                            });
                        }
                        records.extend((0..t.partitions).map(|i| new_partition(id, i, vec![node])));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            match fs::read_to_string(&ids_path) {
                Ok(text) => {
                    let next = text
                        .lines()
                        .find_map(|l| l.strip_prefix("next.producer.id="))
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .ok_or_else(|| {
                            bad_data(format!("{}: no next.producer.id", ids_path.display()))
                        })?;
                    records.push(MetadataRecord::ProducerIds {
                        broker_id: node,
                        next_producer_id: next,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            if records.is_empty() {
                return Ok(());
            }
            let count = records.len();
            records.push(MetadataRecord::Migrated {
                from: format!("{TOPICS_FILE}, {PRODUCER_ID_FILE}"),
            });
            self.quorum
                .propose_blocking(records)
                .map_err(TopicError::Controller)?;
            info!(
                records = count,
                "moved the single-node topics file and producer-id block into the metadata log"
            );
        }
        for path in [topics_path, ids_path] {
            if path.exists() {
                let mut to = path.clone().into_os_string();
                to.push(".migrated");
                fs::rename(&path, &to)?;
            }
        }
        Ok(())
    }

    /// Bring the replicas and the image to the state the metadata log has applied: open this
    /// broker's replicas of new topics and of grown ones, lead the partitions the log says it
    /// leads at the log's epoch, apply changed configs, remove deleted topics, then publish the
    /// image. `start` = `Some(clean)` at start-up (existing logs are opened, recovered unless
    /// clean), `None` afterwards (a new partition starts empty). A partition whose own epoch
    /// history is ahead of the log (a data directory of an earlier minikafka) has its epoch
    /// moved up through the log first ([`MetadataRecord::BumpLeaderEpoch`]). Called with the
    /// admin lock held.
    fn reconcile(&self, start: Option<bool>) -> Result<(), TopicError> {
        let mut bumps = Vec::new();
        let result = self.reconcile_once(start, &mut bumps);
        if bumps.is_empty() {
            return result;
        }
        info!(
            partitions = bumps.len(),
            "moving leader epochs up to the partitions' own history"
        );
        if let Err(e) = self.quorum.propose_blocking(bumps) {
            // The partitions lead at their own epochs meanwhile (the image shows those).
            warn!(error = %e, "cannot record the partitions' leader epochs in the metadata log");
            return result;
        }
        let mut again = Vec::new();
        self.reconcile_once(None, &mut again).and(result)
    }

    fn reconcile_once(
        &self,
        start: Option<bool>,
        bumps: &mut Vec<MetadataRecord>,
    ) -> Result<(), TopicError> {
        // Read before the state: the state is at least this new.
        let index = self.quorum.applied_index();
        let state = self.quorum.state();
        let current = self.image();
        let mut topics = Vec::with_capacity(state.topics.len());
        let mut failure = None;
        for t in state.topics.values() {
            match self.reconcile_topic(t, current.topic_by_id(&t.id), start, bumps) {
                Ok(img) => topics.push(img),
                Err(e) => {
                    error!(topic = %t.name, topic_id = %t.id, error = %e, "cannot open the topic's partitions");
                    if let Some(old) = current.topic_by_id(&t.id) {
                        topics.push(old.clone());
                    }
                    failure.get_or_insert(e);
                }
            }
        }
        for gone in current.topics() {
            if !state.topics.contains_key(&gone.id) {
                self.replicas.delete_topic(&gone.id);
                info!(topic = %gone.name, topic_id = %gone.id, "deleted topic");
            }
        }
        let acls = if current.acls().same_as(state.acls.iter()) {
            current.acls().clone()
        } else {
            info!(acls = state.acls.len(), "applied ACL changes");
            Arc::new(crate::acl::AclSet::new(
                state.acls.iter().map(|(id, b)| (*id, b.clone())),
            ))
        };
        let image = MetadataImage::new(topics, broker_images(&state))
            .with_broker_configs(state.broker_configs.clone())
            .with_acls(acls);
        self.replicas
            .quotas()
            .configure(&image, self.config.node_id);
        self.publish(image);
        self.reconciled
            .fetch_max(index, std::sync::atomic::Ordering::AcqRel);
        failure.map_or(Ok(()), Err)
    }

    fn reconcile_topic(
        &self,
        t: &TopicState,
        current: Option<&Arc<TopicImage>>,
        start: Option<bool>,
        bumps: &mut Vec<MetadataRecord>,
    ) -> Result<Arc<TopicImage>, TopicError> {
        if let Some(cur) = current {
            let same = cur.partitions.len() == t.partitions.len()
                && cur.config.overrides == t.configs
                && cur.partitions.iter().zip(&t.partitions).all(|(a, b)| {
                    a.replicas == b.replicas
                        && a.leader == b.leader
                        && a.isr == b.isr
                        && a.leader_epoch == b.leader_epoch
                })
                // A hosted partition must see every partition epoch: an ISR that went A → B → A
                // between two reconciliations looks unchanged, but its leader's next ISR change
                // must be based on the new epoch (else it is refused as stale, forever).
                && t.partitions.iter().enumerate().all(|(i, ps)| {
                    let index = i32::try_from(i).unwrap_or(i32::MAX);
                    self.replicas
                        .partition(&t.id, index)
                        .is_none_or(|p| p.placement().2 == ps.partition_epoch)
                });
            if same {
                return Ok(cur.clone());
            }
        }
        let config = match current {
            Some(cur) if cur.config.overrides == t.configs => cur.config.clone(),
            _ => TopicConfig::from_persisted(
                &t.name,
                t.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &self.config,
            )?,
        };
        let lc = config.log_config(&self.config.log_defaults)?;
        if current.is_some_and(|c| c.config.overrides != t.configs) {
            self.replicas.set_log_config(&t.id, &lc);
            info!(topic = %t.name, "applied topic config");
        }
        let node = self.config.node_id;
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for (i, ps) in t.partitions.iter().enumerate() {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            if !ps.replicas.contains(&node) {
                if let Some(p) = self.replicas.partition(&t.id, index) {
                    // Reassigned away: stop following (the fetchers skip a deleted partition)
                    // and delete the local copy.
                    info!(topic = %t.name, partition = index, broker = node, replicas = ?ps.replicas,
                        log_end_offset = p.log_end_offset(), "no longer a replica: deleting the local copy");
                    self.replicas.delete_partition(&t.id, index);
                } else if start.is_some() {
                    self.replicas.remove_stray(&t.name, t.id, index);
                }
                partitions.push(placement(index, ps, None));
                continue;
            }
            let hosted = Placement {
                leader: ps.leader,
                replicas: ps.replicas.clone(),
                isr: ps.isr.clone(),
                partition_epoch: ps.partition_epoch,
            };
            let p = match self.replicas.partition(&t.id, index) {
                Some(p) => p,
                None => {
                    let (clean, new) = match start {
                        Some(clean) => (clean, false),
                        None => (true, true),
                    };
                    self.replicas.open_partition(
                        &t.name,
                        t.id,
                        index,
                        lc.clone(),
                        clean,
                        new,
                        &hosted,
                        (ps.leader == node).then_some(ps.leader_epoch),
                    )?
                }
            };
            if ps.leader != node {
                // Followed (or led by no one): the replica fetcher copies the leader's log.
                p.make_follower(ps.leader, ps.leader_epoch);
                p.set_placement(&hosted);
                partitions.push(placement(index, ps, None));
                continue;
            }
            p.set_placement(&hosted);
            if !p.is_leader() || p.leader_epoch() != ps.leader_epoch {
                if ps.leader_epoch >= p.next_leader_epoch() {
                    p.make_leader(ps.leader_epoch)?;
                } else {
                    bumps.push(MetadataRecord::BumpLeaderEpoch {
                        topic_id: t.id,
                        partition: index,
                        at_least: p.leader_epoch(),
                    });
                }
            }
            partitions.push(placement(index, ps, Some(&p)));
        }
        if current.is_none() && start.is_none() {
            info!(topic = %t.name, topic_id = %t.id, partitions = partitions.len(), "created topic");
        } else if let Some(cur) = current.filter(|c| c.partitions.len() < partitions.len()) {
            info!(topic = %t.name, from = cur.partitions.len(), to = partitions.len(), "added partitions");
        }
        Ok(Arc::new(TopicImage {
            name: t.name.clone(),
            id: t.id,
            config,
            partitions,
        }))
    }

    /// Bring this broker as far as the active controller: apply what it has committed and
    /// reconcile (a linearizable read, for an answer that a topic does not exist: it may have
    /// been created through another broker a moment ago). Bounded by `timeout`. Blocking.
    pub fn catch_up(&self, timeout: std::time::Duration) -> Result<(), TopicError> {
        self.quorum
            .catch_up(timeout)
            .map_err(TopicError::Controller)?;
        // Nothing applied since the image was last published: nothing to reconcile (the usual
        // case, and reconciling walks every topic).
        let applied = self.quorum.applied_index();
        if applied <= self.reconciled.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let _admin = self.admin();
        self.reconcile(None)
    }

    /// Follow the metadata log as it is applied (changes made through other nodes, fencing,
    /// leader moves): reconcile after every applied change, until `stop`.
    pub async fn follow(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let mut applied = self.quorum.subscribe();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = applied.changed() => if changed.is_err() { return },
            }
            let topics = self.clone();
            let done = tokio::task::spawn_blocking(move || {
                let _admin = topics.admin();
                topics.reconcile(None)
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = %e, "cannot apply the metadata log's changes"),
                Err(e) => error!(error = %e, "metadata reconciliation task failed"),
            }
        }
    }

    /// Propose `records`, then bring this broker's replicas and image up to them. A change
    /// that would create partitions is refused first when this broker cannot write them (log
    /// directory offline or read-only), so the log never names partitions this broker lacks.
    fn commit(&self, records: Vec<MetadataRecord>) -> Result<(), TopicError> {
        if records
            .iter()
            .any(|r| matches!(r, MetadataRecord::Partition { .. }))
        {
            self.replicas.check_can_create()?;
        }
        self.quorum
            .propose_blocking(records)
            .map_err(TopicError::Controller)?;
        self.reconcile(None)
    }

    /// A one-voter quorum in `dir` and the topics of its log (unit tests of the coordinators).
    #[cfg(test)]
    pub(crate) fn load_for_tests(
        dir: &Path,
        config: Arc<BrokerConfig>,
        replicas: Arc<ReplicaManager>,
    ) -> Arc<Topics> {
        let quorum = Quorum::start(
            dir,
            crate::controller::QuorumSettings {
                node_id: config.node_id,
                election_timeout_ms: 1000,
                voters: Default::default(),
                listeners: Vec::new(),
                session_timeout_ms: 9000,
                observer: false,
                listener_name: "CONTROLLER".into(),
                tls: Default::default(),
            },
        )
        .unwrap();
        Arc::new(Topics::load(dir, config, replicas, Arc::new(quorum), true).unwrap())
    }

    /// The controller quorum this broker's metadata comes from.
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
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
        self.published.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes whenever a new image is published (leaders, followers, ISRs may have moved).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Propose an ISR change for a partition this node leads (Kafka's AlterPartition) and wait
    /// until it is applied here; the reconciliation then applies it to the partition. Blocking.
    pub fn alter_isr(
        &self,
        p: &Partition,
        isr: Vec<i32>,
        partition_epoch: i32,
    ) -> Result<bool, TopicError> {
        let record = MetadataRecord::AlterPartition {
            topic_id: p.topic_id,
            partition: p.index,
            leader: self.config.node_id,
            leader_epoch: p.leader_epoch(),
            partition_epoch,
            isr: isr.clone(),
        };
        self.quorum
            .propose_blocking(vec![record])
            .map_err(TopicError::Controller)?;
        let state = self.quorum.state();
        let applied = state
            .topics
            .get(&p.topic_id)
            .and_then(|t| t.partitions.get(usize::try_from(p.index).ok()?))
            .is_some_and(|ps| ps.isr == isr && ps.partition_epoch == partition_epoch + 1);
        let _admin = self.admin();
        self.reconcile(None)?;
        Ok(applied)
    }

    fn admin(&self) -> MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The internal compacted topic `name` (`__consumer_offsets`, `__transaction_state`), created with
    /// `partitions` partitions and `segment.bytes` = `segment_bytes` if it does not exist yet (blocking), as
    /// Kafka does on the first FindCoordinator that needs it. Its replication factor is
    /// `replication_factor` (`offsets.topic.replication.factor`, ...) capped at the live brokers
    /// (at least one; Kafka refuses the creation instead); with `min_isr` its
    /// `min.insync.replicas` is that, capped at the replication factor
    /// (`transaction.state.log.min.isr`).
    pub fn ensure_internal(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        segment_bytes: i32,
        min_isr: Option<i32>,
    ) -> Result<Arc<TopicImage>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let live =
            i16::try_from(self.quorum.state().live_brokers().count().max(1)).unwrap_or(i16::MAX);
        let replication_factor = replication_factor.min(live).max(1);
        let segment_bytes = segment_bytes.to_string();
        let min_isr = min_isr.map(|m| m.clamp(1, i32::from(replication_factor)).to_string());
        let mut configs = vec![
            ("cleanup.policy", Some("compact")),
            ("segment.bytes", Some(segment_bytes.as_str())),
        ];
        if let Some(m) = &min_isr {
            configs.push(("min.insync.replicas", Some(m.as_str())));
        }
        match self.create(name, partitions, replication_factor, &[], &configs) {
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
        let state = self.quorum.state();
        if state.topic(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
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
                if let Some(b) = brokers.iter().find(|b| !state.brokers.contains_key(b)) {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes broker {b}, but no such broker is registered."
                    )));
                }
                if brokers.is_empty() {
                    return Err(TopicError::InvalidReplicaAssignment(
                        "The manual partition assignment includes an empty replica list.".into(),
                    ));
                }
                let mut sorted = brokers.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != brokers.len() {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes the partition with duplicate replicas {brokers:?}."
                    )));
                }
                if brokers.len() != assignments[0].1.len() {
                    return Err(TopicError::InvalidReplicaAssignment(
                        "All partitions in the manual partition assignment must have the same number of replicas.".into(),
                    ));
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
            let live = state.live_brokers().count().max(1);
            if usize::try_from(rf).unwrap_or(usize::MAX) > live {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {live} broker(s) are registered."
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
        let id = Uuid::new_v4();
        let node = self.config.node_id;
        let state = self.quorum.state();
        let mut records = vec![MetadataRecord::Topic {
            name: name.to_string(),
            id,
        }];
        for (k, v) in &tc.overrides {
            records.push(MetadataRecord::TopicConfig {
                topic: name.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            });
        }
        let rf = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        records.extend(new_partitions(&state, node, id, (0, n), rf, assignments));
        self.commit(records)?;
        // Two nodes may create the same name at once, each valid against its own state: the
        // first Topic record applied wins and the other's records are skipped. The loser is
        // told the topic exists, as Kafka's controller would have said.
        match self.get(name) {
            Some(t) if t.id == id => Ok(t),
            Some(_) => Err(TopicError::AlreadyExists(name.to_string())),
            None => Err(TopicError::Unknown),
        }
    }

    /// Delete a topic and its data. Blocking.
    pub fn delete(&self, topic: &TopicImage) -> Result<(), TopicError> {
        let _admin = self.admin();
        let image = self.image();
        if image.topic_by_id(&topic.id).is_none() {
            return Err(TopicError::Unknown);
        }
        drop(image);
        self.commit(vec![MetadataRecord::RemoveTopic { id: topic.id }])
    }

    /// Grow a topic to `count` partitions, placed over the live brokers or, when `assignments`
    /// is not empty, on the brokers it gives for each new partition (checked as Kafka's
    /// `createPartitions`: one list per new partition, each valid by [`check_assignment`] and as
    /// long as the topic's replication factor). Blocking. With `validate_only` nothing changes.
    pub fn add_partitions(
        &self,
        topic: &TopicImage,
        count: i32,
        assignments: &[Vec<i32>],
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
        let state = self.quorum.state();
        // The replication factor of the partitions there are (the original replicas of one
        // being reassigned).
        let rf = state
            .topics
            .get(&topic.id)
            .and_then(|t| t.partitions.first())
            .map_or(1, |p| {
                i16::try_from(p.original_replicas().len()).unwrap_or(1)
            });
        let mut assigned = Vec::with_capacity(assignments.len());
        if !assignments.is_empty() {
            let adding = count - current;
            if usize::try_from(adding).ok() != Some(assignments.len()) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                )));
            }
            let registered: Vec<i32> = state.brokers.keys().copied().collect();
            for (k, replicas) in assignments.iter().enumerate() {
                check_assignment(replicas, &registered)
                    .map_err(TopicError::InvalidReplicaAssignment)?;
                if replicas.len() != usize::try_from(rf).unwrap_or(0) {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                        replicas.len()
                    )));
                }
                let index = current.saturating_add(i32::try_from(k).unwrap_or(i32::MAX));
                assigned.push((index, replicas.clone()));
            }
        }
        if validate_only {
            return Ok(());
        }
        self.commit(new_partitions(
            &state,
            self.config.node_id,
            topic.id,
            (current, count),
            rf,
            &assigned,
        ))
    }

    /// Start, change or cancel partition reassignments (AlterPartitionReassignments): per
    /// `(topic id, partition)` a target replica list or `None` to cancel, validated as Kafka's
    /// controller does, proposed as [`MetadataRecord::Reassign`] records in one batch, and
    /// reported per partition. A target equal to the current replicas with nothing in progress
    /// changes nothing. Without `allow_rf_change` (AlterPartitionReassignments v1) a target of
    /// another length than the original replicas is refused. Blocking.
    pub fn alter_reassignments(
        &self,
        wanted: Vec<ReassignmentRequest>,
        allow_rf_change: bool,
    ) -> Result<Vec<ReassignmentResult>, TopicError> {
        let _admin = self.admin();
        let state = self.quorum.state();
        let registered: Vec<i32> = state.brokers.keys().copied().collect();
        let mut results = Vec::with_capacity(wanted.len());
        let mut records = Vec::new();
        for ((topic_id, index), target) in wanted {
            let p = state
                .topics
                .get(&topic_id)
                .and_then(|t| t.partitions.get(usize::try_from(index).ok()?));
            let check = match (p, &target) {
                (None, _) => Err(Reassignment::UnknownPartition),
                (Some(p), None) if !p.reassigning() => Err(Reassignment::NoneInProgress),
                (Some(p), None) => {
                    if p.isr.iter().all(|r| p.adding_replicas.contains(r)) {
                        Err(Reassignment::Invalid(format!(
                            "Unable to revert partition assignment for {topic_id}:{index} because it would require an unclean leader election."
                        )))
                    } else {
                        Ok(true)
                    }
                }
                (Some(p), Some(t)) if *t == p.replicas && !p.reassigning() => Ok(false),
                (Some(p), Some(t)) => match check_assignment(t, &registered) {
                    Err(why) => Err(Reassignment::Invalid(why)),
                    Ok(()) if !allow_rf_change && t.len() != p.original_replicas().len() => {
                        Err(Reassignment::Invalid(format!(
                            "The replication factor is changed from {} to {}",
                            p.original_replicas().len(),
                            t.len()
                        )))
                    }
                    Ok(()) => Ok(true),
                },
            };
            if check == Ok(true) {
                records.push(MetadataRecord::Reassign {
                    topic_id,
                    partition: index,
                    target,
                });
            }
            results.push(((topic_id, index), check.map(|_| ())));
        }
        if !records.is_empty() {
            self.commit(records)?;
        }
        Ok(results)
    }

    /// The reassignments in progress (ListPartitionReassignments): of the partitions `wanted`, or
    /// of every partition with `None`; unknown partitions and those not being reassigned are left
    /// out, as Kafka does.
    pub fn list_reassignments(
        &self,
        wanted: Option<Vec<(String, i32)>>,
    ) -> Vec<OngoingReassignment> {
        let state = self.quorum.state();
        let entry = |t: &TopicState, i: usize| {
            let p = t.partitions.get(i).filter(|p| p.reassigning())?;
            Some(OngoingReassignment {
                topic: t.name.clone(),
                partition: i32::try_from(i).ok()?,
                replicas: p.replicas.clone(),
                adding: p.adding_replicas.clone(),
                removing: p.removing_replicas.clone(),
            })
        };
        match wanted {
            None => state
                .topics
                .values()
                .flat_map(|t| (0..t.partitions.len()).filter_map(move |i| entry(t, i)))
                .collect(),
            Some(list) => list
                .into_iter()
                .filter_map(|(name, i)| entry(state.topic(&name)?, usize::try_from(i).ok()?))
                .collect(),
        }
    }

    /// Replace a topic's config overrides (already validated), apply them to every partition's
    /// log at once. Blocking.
    pub fn set_config(&self, topic: &TopicImage, config: TopicConfig) -> Result<(), TopicError> {
        let _admin = self.admin();
        let Some(current) = self.get_by_id(&topic.id) else {
            return Err(TopicError::Unknown);
        };
        config.log_config(&self.config.log_defaults)?;
        let old = &current.config.overrides;
        let new = &config.overrides;
        let mut records: Vec<MetadataRecord> = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| MetadataRecord::TopicConfig {
                topic: current.name.clone(),
                name: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        records.extend(old.keys().filter(|k| !new.contains_key(*k)).map(|k| {
            MetadataRecord::TopicConfig {
                topic: current.name.clone(),
                name: k.clone(),
                value: None,
            }
        }));
        if records.is_empty() {
            return Ok(());
        }
        self.commit(records)
    }

    /// Replace the dynamic broker configs of `entity` (a broker id as text, `""` for the
    /// cluster default) with `configs` (already validated), through the metadata log. Blocking.
    pub fn set_broker_configs(
        &self,
        entity: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        let _admin = self.admin();
        let state = self.quorum.state();
        let empty = BTreeMap::new();
        let old = state.broker_configs.get(entity).unwrap_or(&empty);
        let mut records: Vec<MetadataRecord> = configs
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| MetadataRecord::BrokerConfig {
                broker: entity.to_string(),
                name: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        records.extend(old.keys().filter(|k| !configs.contains_key(*k)).map(|k| {
            MetadataRecord::BrokerConfig {
                broker: entity.to_string(),
                name: k.clone(),
                value: None,
            }
        }));
        if records.is_empty() {
            return Ok(());
        }
        self.commit(records)
    }

    /// Record ACL changes (CreateAcls' [`MetadataRecord::AccessControlEntry`], DeleteAcls'
    /// [`MetadataRecord::RemoveAccessControlEntry`]) in the metadata log; this broker's image has
    /// them on return. Blocking.
    pub fn change_acls(&self, records: Vec<MetadataRecord>) -> Result<(), TopicError> {
        let _admin = self.admin();
        if records.is_empty() {
            return Ok(());
        }
        self.commit(records)
    }

    /// Elect leaders (ElectLeaders): for each `(topic id, partition)` — or, with `None`, every
    /// partition whose leader is not its preferred replica (preferred) or that has none
    /// (unclean) — propose the election and report per partition: `Ok(())` when it is done,
    /// else why not ([`Election`]). "All" reports only the partitions it tried. Blocking.
    pub fn elect_leaders(
        &self,
        wanted: Option<Vec<(Uuid, i32)>>,
        unclean: bool,
    ) -> Result<Vec<ElectionResult>, TopicError> {
        let _admin = self.admin();
        let state = self.quorum.state();
        let live: Vec<i32> = state.live_brokers().map(|(id, _)| id).collect();
        let all = wanted.is_none();
        let wanted = wanted.unwrap_or_else(|| {
            state
                .topics
                .values()
                .flat_map(|t| {
                    (0..t.partitions.len()).map(move |i| (t.id, i32::try_from(i).unwrap_or(0)))
                })
                .collect()
        });
        let placement = |k: &(Uuid, i32)| {
            state
                .topics
                .get(&k.0)
                .and_then(|t| t.partitions.get(usize::try_from(k.1).ok()?))
        };
        let mut results = Vec::new();
        let mut records = Vec::new();
        for k in wanted {
            let check = match placement(&k) {
                None => Err(Election::UnknownPartition),
                Some(p) if unclean => {
                    if p.leader >= 0 {
                        Err(Election::NotNeeded)
                    } else if !p.replicas.iter().any(|r| live.contains(r)) {
                        Err(Election::NoEligibleLeader)
                    } else {
                        Ok(())
                    }
                }
                Some(p) => match p.replicas.first() {
                    Some(r) if *r == p.leader => Err(Election::NotNeeded),
                    Some(r) if p.isr.contains(r) && live.contains(r) => Ok(()),
                    _ => Err(Election::PreferredNotAvailable),
                },
            };
            if all && check == Err(Election::NotNeeded) {
                continue;
            }
            if check.is_ok() {
                records.push(MetadataRecord::ElectLeader {
                    topic_id: k.0,
                    partition: k.1,
                    unclean,
                });
            }
            results.push((k, check));
        }
        if records.is_empty() {
            return Ok(results);
        }
        self.commit(records)?;
        // What the log says now: elected, or overtaken meanwhile.
        let state = self.quorum.state();
        for (k, r) in &mut results {
            if r.is_ok() {
                let elected = state
                    .topics
                    .get(&k.0)
                    .and_then(|t| t.partitions.get(usize::try_from(k.1).ok()?))
                    .is_some_and(|p| {
                        p.leader >= 0 && (unclean || p.replicas.first() == Some(&p.leader))
                    });
                if !elected {
                    *r = Err(if unclean {
                        Election::NoEligibleLeader
                    } else {
                        Election::PreferredNotAvailable
                    });
                }
            }
        }
        Ok(results)
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
