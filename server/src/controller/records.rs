//! The cluster metadata log's records and the state they build.
//!
//! Kafka's controller writes `TopicRecord`, `PartitionRecord`, `ConfigRecord`,
//! `RemoveTopicRecord`, `ProducerIdsRecord`, … to `__cluster_metadata`; the `kafka-protocol`
//! crate has no codec for them, so these are minikafka's own, carried as one serde-encoded
//! batch per Raft entry. A batch is applied whole: an admin change that writes a topic and its
//! partitions is never seen half done. The controller validates a change against the
//! [`ClusterState`] before proposing it, so applying never fails; a record that does not fit
//! (a partition of an unknown topic) is logged and skipped, never a panic.
//!
//! [`ClusterState`] is what every node derives from the log: topics with their partitions'
//! placement (replicas, leader, leader epoch, in-sync replicas, partition epoch, and the replicas
//! a reassignment in progress adds and removes), topic
//! configs, the next producer id block, feature levels. Brokers turn it into the
//! [`crate::metadata::MetadataImage`] the handlers read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::warn;
use uuid::Uuid;

/// One metadata change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A topic exists (Kafka's `TopicRecord`); its partitions follow as [`MetadataRecord::Partition`].
    Topic {
        /// Name.
        name: String,
        /// Topic id.
        id: Uuid,
    },
    /// A partition and its placement (Kafka's `PartitionRecord`).
    Partition {
        /// The topic's id.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// Replica node ids, the preferred leader first.
        replicas: Vec<i32>,
        /// In-sync replicas.
        isr: Vec<i32>,
        /// Leader node id (-1: none).
        leader: i32,
        /// Leader epoch.
        leader_epoch: i32,
        /// Partition epoch: bumped on every change of the partition's placement.
        partition_epoch: i32,
    },
    /// A topic config override set (`Some`) or removed (`None`) (Kafka's `ConfigRecord`).
    TopicConfig {
        /// Topic name.
        topic: String,
        /// Kafka's config name.
        name: String,
        /// The value; `None` removes the override.
        value: Option<String>,
    },
    /// A dynamic broker config set (`Some`) or removed (`None`) (Kafka's `ConfigRecord` of
    /// resource type BROKER): `broker` is a broker id, or empty for the cluster-wide default.
    BrokerConfig {
        /// Broker id as text, or `""` for the default of every broker.
        broker: String,
        /// Kafka's config name.
        name: String,
        /// The value; `None` removes it.
        value: Option<String>,
    },
    /// A topic and its partitions are gone (Kafka's `RemoveTopicRecord`).
    RemoveTopic {
        /// Topic id.
        id: Uuid,
    },
    /// Producer ids below `next_producer_id` are handed out (Kafka's `ProducerIdsRecord`): the
    /// block `[next_producer_id - size, next_producer_id)` belongs to `broker_id`.
    ProducerIds {
        /// The broker the block was given to.
        broker_id: i32,
        /// The first id not yet given out.
        next_producer_id: i64,
    },
    /// A feature's finalized level (Kafka's `FeatureLevelRecord`).
    FeatureLevel {
        /// Feature name (`metadata.version`, `transaction.version`, `group.version`, …).
        name: String,
        /// Level.
        level: i16,
    },
    /// The cluster's id (Kafka's `meta.properties` `cluster.id`), recorded once by the first
    /// active controller; a node whose data directory says otherwise is refused at start.
    ClusterId {
        /// The id, in Kafka's base64 form.
        id: String,
    },
    /// A broker process registered (Kafka's `RegisterBrokerRecord`): a new `incarnation` replaces
    /// any earlier registration of the same id. It starts fenced; [`MetadataRecord::UnfenceBroker`]
    /// follows once it may lead.
    RegisterBroker {
        /// The broker's `node.id`.
        id: i32,
        /// Random per process start (Kafka's incarnation id).
        incarnation: Uuid,
        /// The endpoints it gives clients, one per broker listener.
        listeners: Vec<BrokerEndpoint>,
        /// `broker.rack`, if set.
        #[serde(default)]
        rack: Option<String>,
    },
    /// The broker (this incarnation) is fenced (Kafka's `FenceBrokerRecord`): it missed its
    /// heartbeats for `broker.session.timeout.ms`, or shut down cleanly (`controlled`). Every
    /// partition it leads loses its leader (no other replica exists until replication): leader
    /// -1, the leader epoch and partition epoch bumped.
    FenceBroker {
        /// Broker id.
        id: i32,
        /// The incarnation fenced; a record for an older one is skipped.
        incarnation: Uuid,
        /// A clean shutdown asked for it (Kafka's controlled shutdown).
        #[serde(default)]
        controlled: bool,
    },
    /// The broker (this incarnation) is alive and caught up (Kafka's `UnfenceBrokerRecord`): it
    /// leads again every partition of which it is the in-sync replica and that has no leader or
    /// that it led before (a new epoch either way).
    UnfenceBroker {
        /// Broker id.
        id: i32,
        /// The incarnation unfenced; a record for another one is skipped.
        incarnation: Uuid,
    },
    /// A partition's leader epoch is moved up to at least `at_least` (partition epoch bumped):
    /// the leader found its local leader-epoch history ahead of the log (a data directory of an
    /// earlier minikafka, whose partitions took a new epoch at every start).
    BumpLeaderEpoch {
        /// The topic's id.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// The lowest epoch the partition may lead at.
        at_least: i32,
    },
    /// A partition's in-sync replica set changes (Kafka's `AlterPartition` → `PartitionChangeRecord`),
    /// asked for by its leader: applied only if the partition is still led by `leader` at
    /// `leader_epoch` and `partition_epoch` (otherwise the leader's view was stale and the record is
    /// skipped), every member is a replica, the leader is a member, and every member added is a
    /// live (registered, unfenced) broker. Applying bumps the partition epoch.
    AlterPartition {
        /// The topic's id.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// The leader asking.
        leader: i32,
        /// The leader epoch it leads at.
        leader_epoch: i32,
        /// The partition epoch its view is of.
        partition_epoch: i32,
        /// The new in-sync replicas.
        isr: Vec<i32>,
    },
    /// A leader election asked for (Kafka's ElectLeaders, and the controller's automatic
    /// preferred-leader rebalance). Preferred: the first replica leads again if it is live and in
    /// sync and does not lead already. Unclean: a partition without a leader gets the first live
    /// replica, out of sync or not, as its only in-sync replica (records it lacks are lost).
    /// Otherwise skipped. A new leader epoch either way.
    ElectLeader {
        /// The topic's id.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// Unclean election (Kafka's election type 1) rather than preferred (0).
        #[serde(default)]
        unclean: bool,
    },
    /// A partition's reassignment starts or changes (`target`: the replicas it should end with) or
    /// is cancelled (`None`) (Kafka's AlterPartitionReassignments → `PartitionChangeRecord`, KIP-455).
    /// Starting: the replicas become the target followed by the current replicas not in it, those
    /// are `removing_replicas`, the target's new ones `adding_replicas`; the ISR stays. Cancelling:
    /// the adding replicas leave the replicas and the ISR. Either way the reassignment completes
    /// at once when every target replica is already in sync (see
    /// [`ClusterState::complete_reassignment`]). Skipped when invalid against the applied state (the
    /// broker validated it before proposing; a concurrent change may have overtaken it).
    Reassign {
        /// The topic's id.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// The target replicas, or `None` to cancel.
        target: Option<Vec<i32>>,
    },
    /// The next block of producer ids goes to `broker_id` (Kafka's `ProducerIdsRecord`, with the
    /// block chosen when the record is applied, so concurrent requests of two brokers never get
    /// the same block).
    AllocateProducerIds {
        /// The broker the block is for.
        broker_id: i32,
    },
    /// Replicas of `broker` are in a log directory that failed there (Kafka's broker heartbeat
    /// reporting offline directories, KIP-858, and the controller's `PartitionChangeRecord`s):
    /// for each listed partition the broker leaves the ISR where another in-sync replica
    /// remains, and a partition it led gets the first other live in-sync replica (new leader
    /// epoch). Where it is the last in-sync replica nothing changes (nothing else has all the
    /// data; the broker answers KAFKA_STORAGE_ERROR). Skipped for another incarnation. The
    /// broker comes back into the ISR after a restart on a repaired disk, by catching up.
    OfflineReplicas {
        /// The broker whose directory failed.
        broker: i32,
        /// Its incarnation.
        incarnation: Uuid,
        /// The partitions in the failed directory, as (topic id, index).
        partitions: Vec<(Uuid, i32)>,
    },
    /// An ACL exists (Kafka's `AccessControlEntryRecord`). A binding equal to one that exists
    /// already (two brokers created it at once) is skipped.
    AccessControlEntry {
        /// The ACL's id (Kafka's `id`), named by [`MetadataRecord::RemoveAccessControlEntry`].
        id: Uuid,
        /// The binding.
        acl: crate::acl::AclBinding,
    },
    /// An ACL is gone (Kafka's `RemoveAccessControlEntryRecord`).
    RemoveAccessControlEntry {
        /// The ACL's id.
        id: Uuid,
    },
    /// A user's SCRAM credential for one mechanism is set (Kafka's `UserScramCredentialRecord`,
    /// from AlterUserScramCredentials or `--add-scram`): replaces any earlier one.
    UserScramCredential {
        /// The user name.
        name: String,
        /// Kafka's mechanism type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
        mechanism: i8,
        /// The salt.
        salt: Vec<u8>,
        /// RFC 5802's StoredKey, H(HMAC(SaltedPassword, "Client Key")).
        stored_key: Vec<u8>,
        /// RFC 5802's ServerKey, HMAC(SaltedPassword, "Server Key").
        server_key: Vec<u8>,
        /// PBKDF2 iterations.
        iterations: i32,
    },
    /// A user's SCRAM credential for one mechanism is gone (Kafka's
    /// `RemoveUserScramCredentialRecord`).
    RemoveUserScramCredential {
        /// The user name.
        name: String,
        /// Kafka's mechanism type.
        mechanism: i8,
    },
    /// The single-node files of an earlier minikafka (`minikafka-topics.toml`,
    /// `producer-id-block`) were turned into the records of this batch; they are not read again.
    Migrated {
        /// What was migrated, for the log line.
        from: String,
    },
}

/// Why a manual replica assignment is invalid (Kafka's `validateManualPartitionAssignment`,
/// INVALID_REPLICA_ASSIGNMENT with these messages): empty, a broker named twice, or a broker
/// that is not `registered`.
pub fn check_assignment(replicas: &[i32], registered: &[i32]) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != replicas.len() {
        return Err(format!(
            "The manual partition assignment includes the partition with duplicate replicas {replicas:?}."
        ));
    }
    if let Some(b) = replicas.iter().find(|b| !registered.contains(b)) {
        return Err(format!(
            "The manual partition assignment includes broker {b}, but no such broker is registered."
        ));
    }
    Ok(())
}

impl PartitionState {
    /// Kafka's election from the ISR: the first in-sync replica, in replica order, that is
    /// among `live` (-1: none).
    fn first_live_in_sync(&self, live: &[i32]) -> i32 {
        self.replicas
            .iter()
            .copied()
            .find(|r| self.isr.contains(r) && live.contains(r))
            .unwrap_or(-1)
    }
}

/// A topic's name and one of its partitions, if both exist.
fn topic_partition<'a>(
    topics: &'a mut BTreeMap<Uuid, TopicState>,
    topic_id: &Uuid,
    index: i32,
) -> Option<(&'a str, &'a mut PartitionState)> {
    let t = topics.get_mut(topic_id)?;
    let p = t.partitions.get_mut(usize::try_from(index).ok()?)?;
    Some((t.name.as_str(), p))
}

/// One endpoint of a registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    /// The listener's name (`PLAINTEXT`, …).
    pub name: String,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
}

/// A registered broker as the log describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerState {
    /// The process registered last.
    pub incarnation: Uuid,
    /// Its endpoints.
    pub listeners: Vec<BrokerEndpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced: not alive as far as the controller knows; it leads nothing.
    pub fenced: bool,
}

/// One partition as the log describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Replica node ids, the preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Leader node id (-1: none).
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Partition epoch.
    pub partition_epoch: i32,
    /// Replicas a reassignment in progress adds (in `replicas` already; not yet in sync).
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes once every target replica is in sync.
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
}

impl PartitionState {
    /// Whether a reassignment is in progress (Kafka's `isReassignmentInProgress`).
    pub fn reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas before the reassignment in progress (Kafka's `originalReplicas`): the
    /// replicas without the ones being added.
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.adding_replicas.contains(r))
            .collect()
    }
}

/// One topic as the log describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: Uuid,
    /// Partitions by index (index = position; records add them in order).
    pub partitions: Vec<PartitionState>,
    /// Explicit config overrides.
    pub configs: BTreeMap<String, String>,
}

/// The state the metadata log builds (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Topics by id.
    pub topics: BTreeMap<Uuid, TopicState>,
    /// Topic ids by name.
    pub names: BTreeMap<String, Uuid>,
    /// The first producer id not yet handed out to a broker.
    pub next_producer_id: i64,
    /// Finalized feature levels.
    pub features: BTreeMap<String, i16>,
    /// The cluster id, once recorded (see [`MetadataRecord::ClusterId`]).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Whether the files of a single-node minikafka were migrated (see [`MetadataRecord::Migrated`]).
    pub migrated: bool,
    /// Registered brokers by id.
    #[serde(default)]
    pub brokers: BTreeMap<i32, BrokerState>,
    /// The producer-id block each broker got last: `[first, end)`.
    #[serde(default)]
    pub producer_blocks: BTreeMap<i32, (i64, i64)>,
    /// Dynamic broker configs by entity (a broker id as text, `""` for the cluster default).
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// ACLs by id (see [`MetadataRecord::AccessControlEntry`]).
    #[serde(default)]
    pub acls: BTreeMap<Uuid, crate::acl::AclBinding>,
    /// SCRAM credentials by user name, then by Kafka's mechanism type (1 SCRAM-SHA-256,
    /// 2 SCRAM-SHA-512).
    #[serde(default)]
    pub scram: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
}

/// One user's SCRAM credential for one mechanism, as stored (never the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// RFC 5802's StoredKey.
    pub stored_key: Vec<u8>,
    /// RFC 5802's ServerKey.
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

/// Producer ids per block handed to a broker (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

impl ClusterState {
    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicState> {
        self.names.get(name).and_then(|id| self.topics.get(id))
    }

    /// The brokers that are registered and not fenced, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = (i32, &BrokerState)> {
        self.brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(id, b)| (*id, b))
    }

    /// Apply one batch of records (see the module docs: never fails).
    pub fn apply_batch(&mut self, records: &[MetadataRecord]) {
        for r in records {
            self.apply(r);
        }
    }

    fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { name, id } => {
                if let Some(old) = self.names.get(name) {
                    if old != id {
                        warn!(topic = %name, topic_id = %id, existing = %old, "metadata record for a topic name in use; skipped");
                        return;
                    }
                }
                self.names.insert(name.clone(), *id);
                self.topics.entry(*id).or_insert_with(|| TopicState {
                    name: name.clone(),
                    id: *id,
                    partitions: Vec::new(),
                    configs: BTreeMap::new(),
                });
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let Some(t) = self.topics.get_mut(topic_id) else {
                    warn!(topic_id = %topic_id, partition, "metadata record for a partition of an unknown topic; skipped");
                    return;
                };
                let state = PartitionState {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                };
                match usize::try_from(*partition) {
                    Ok(i) if i < t.partitions.len() => t.partitions[i] = state,
                    Ok(i) if i == t.partitions.len() => t.partitions.push(state),
                    _ => {
                        warn!(topic = %t.name, partition, count = t.partitions.len(), "metadata record for a partition out of sequence; skipped");
                    }
                }
            }
            MetadataRecord::TopicConfig { topic, name, value } => {
                let Some(t) = self.names.get(topic).and_then(|id| self.topics.get_mut(id)) else {
                    warn!(topic = %topic, key = %name, "config record for an unknown topic; skipped");
                    return;
                };
                match value {
                    Some(v) => {
                        t.configs.insert(name.clone(), v.clone());
                    }
                    None => {
                        t.configs.remove(name);
                    }
                }
            }
            MetadataRecord::RemoveTopic { id } => {
                if let Some(t) = self.topics.remove(id) {
                    self.names.remove(&t.name);
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                self.features.insert(name.clone(), *level);
            }
            MetadataRecord::BrokerConfig {
                broker,
                name,
                value,
            } => {
                let entity = self.broker_configs.entry(broker.clone()).or_default();
                match value {
                    Some(v) => {
                        entity.insert(name.clone(), v.clone());
                    }
                    None => {
                        entity.remove(name);
                    }
                }
                if entity.is_empty() {
                    self.broker_configs.remove(broker);
                }
            }
            MetadataRecord::ClusterId { id } => match &self.cluster_id {
                None => self.cluster_id = Some(id.clone()),
                Some(known) if known != id => {
                    // Several nodes of a new cluster propose their candidate; the first wins.
                    tracing::debug!(cluster_id = %id, recorded = %known, "second cluster id record; skipped");
                }
                Some(_) => {}
            },
            MetadataRecord::Migrated { .. } => self.migrated = true,
            MetadataRecord::AccessControlEntry { id, acl } => {
                if self.acls.values().any(|a| a == acl) {
                    tracing::debug!(acl_id = %id, "ACL exists already; skipped");
                    return;
                }
                self.acls.insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                self.acls.remove(id);
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                self.scram.entry(name.clone()).or_default().insert(
                    *mechanism,
                    ScramCredential {
                        salt: salt.clone(),
                        stored_key: stored_key.clone(),
                        server_key: server_key.clone(),
                        iterations: *iterations,
                    },
                );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(user) = self.scram.get_mut(name) {
                    user.remove(mechanism);
                    if user.is_empty() {
                        self.scram.remove(name);
                    }
                }
            }
            MetadataRecord::RegisterBroker {
                id,
                incarnation,
                listeners,
                rack,
            } => {
                // A new process of a live broker: what the old one had may not be there (it
                // restarted), so it leaves the in-sync replicas where others are in sync, as if
                // fenced (Kafka's unclean-shutdown handling at registration). Where it is the only
                // in-sync replica it keeps the partition; unfencing gives it a new epoch.
                let replaced_live = self
                    .brokers
                    .get(id)
                    .is_some_and(|b| b.incarnation != *incarnation && !b.fenced);
                self.brokers.insert(
                    *id,
                    BrokerState {
                        incarnation: *incarnation,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: true,
                    },
                );
                if replaced_live {
                    self.remove_from_isr(*id, false);
                }
            }
            MetadataRecord::FenceBroker {
                id, incarnation, ..
            } => {
                if !self.set_fenced(*id, *incarnation, true) {
                    return;
                }
                self.remove_from_isr(*id, true);
            }
            MetadataRecord::UnfenceBroker { id, incarnation } => {
                if !self.set_fenced(*id, *incarnation, false) {
                    return;
                }
                self.each_partition(|p| {
                    let leads = (p.leader == -1 || p.leader == *id)
                        && p.replicas.contains(id)
                        && p.isr.contains(id);
                    if leads {
                        p.leader = *id;
                    }
                    leads
                });
            }
            MetadataRecord::BumpLeaderEpoch {
                topic_id,
                partition,
                at_least,
            } => {
                let p = self
                    .topics
                    .get_mut(topic_id)
                    .and_then(|t| t.partitions.get_mut(usize::try_from(*partition).ok()?));
                if let Some(p) = p.filter(|p| p.leader_epoch < *at_least) {
                    p.leader_epoch = *at_least;
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                }
            }
            MetadataRecord::AlterPartition {
                topic_id,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let live: Vec<i32> = self.live_brokers().map(|(id, _)| id).collect();
                let p = self
                    .topics
                    .get_mut(topic_id)
                    .and_then(|t| t.partitions.get_mut(usize::try_from(*partition).ok()?));
                let Some(p) = p else {
                    tracing::debug!(topic_id = %topic_id, partition, "ISR change for an unknown partition; skipped");
                    return;
                };
                let current = p.leader == *leader
                    && p.leader_epoch == *leader_epoch
                    && p.partition_epoch == *partition_epoch;
                let valid = isr.contains(leader)
                    && isr.iter().all(|r| p.replicas.contains(r))
                    && isr
                        .iter()
                        .filter(|r| !p.isr.contains(r))
                        .all(|r| live.contains(r));
                if !current || !valid {
                    tracing::debug!(topic_id = %topic_id, partition, leader, leader_epoch, partition_epoch,
                        current, valid, "stale or invalid ISR change; skipped");
                    return;
                }
                let mut isr = isr.clone();
                isr.dedup();
                p.isr = isr;
                p.partition_epoch = p.partition_epoch.saturating_add(1);
                // The last target replica joining the ISR completes a reassignment.
                Self::complete_reassignment(p, &live, *topic_id, *partition);
            }
            MetadataRecord::Reassign {
                topic_id,
                partition,
                target,
            } => self.reassign(*topic_id, *partition, target.as_deref()),
            MetadataRecord::ElectLeader {
                topic_id,
                partition,
                unclean,
            } => {
                let live: Vec<i32> = self.live_brokers().map(|(id, _)| id).collect();
                let Some((name, p)) = topic_partition(&mut self.topics, topic_id, *partition)
                else {
                    return;
                };
                let chosen = if *unclean {
                    (p.leader == -1)
                        .then(|| p.replicas.iter().copied().find(|r| live.contains(r)))
                        .flatten()
                } else {
                    p.replicas
                        .first()
                        .copied()
                        .filter(|r| *r != p.leader && p.isr.contains(r) && live.contains(r))
                };
                let Some(leader) = chosen else {
                    tracing::debug!(topic = %name, partition, unclean, "leader election not possible or not needed; skipped");
                    return;
                };
                if *unclean && !p.isr.contains(&leader) {
                    warn!(topic = %name, partition, leader, isr = ?p.isr,
                        "unclean leader election: an out-of-sync replica leads; records only the old in-sync replicas had are lost");
                    p.isr = vec![leader];
                }
                p.leader = leader;
                p.leader_epoch = p.leader_epoch.saturating_add(1);
                p.partition_epoch = p.partition_epoch.saturating_add(1);
            }
            MetadataRecord::OfflineReplicas {
                broker,
                incarnation,
                partitions,
            } => {
                if self
                    .brokers
                    .get(broker)
                    .is_none_or(|b| b.incarnation != *incarnation)
                {
                    return;
                }
                let live: Vec<i32> = self
                    .live_brokers()
                    .map(|(b, _)| b)
                    .filter(|b| b != broker)
                    .collect();
                for (topic_id, index) in partitions {
                    let Some((name, p)) = topic_partition(&mut self.topics, topic_id, *index)
                    else {
                        continue;
                    };
                    let rest: Vec<i32> = p.isr.iter().copied().filter(|r| r != broker).collect();
                    if rest.is_empty() || rest.len() == p.isr.len() && p.leader != *broker {
                        continue;
                    }
                    p.isr = rest;
                    if p.leader == *broker {
                        let was = p.leader;
                        p.leader = p.first_live_in_sync(&live);
                        p.leader_epoch = p.leader_epoch.saturating_add(1);
                        warn!(topic = %name, partition = index, broker, from = was, to = p.leader,
                            leader_epoch = p.leader_epoch, isr = ?p.isr,
                            "leader's log directory failed: leadership moved");
                    }
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                }
            }
            MetadataRecord::AllocateProducerIds { broker_id } => {
                let first = self.next_producer_id.max(0);
                let end = first.saturating_add(PRODUCER_ID_BLOCK_SIZE);
                self.next_producer_id = end;
                self.producer_blocks.insert(*broker_id, (first, end));
            }
        }
    }

    /// Apply a [`MetadataRecord::Reassign`] (see there).
    fn reassign(&mut self, topic_id: Uuid, partition: i32, target: Option<&[i32]>) {
        let live: Vec<i32> = self.live_brokers().map(|(id, _)| id).collect();
        let registered: Vec<i32> = self.brokers.keys().copied().collect();
        let p = self
            .topics
            .get_mut(&topic_id)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?));
        let Some(p) = p else {
            tracing::debug!(topic_id = %topic_id, partition, "reassignment of an unknown partition; skipped");
            return;
        };
        let before = p.replicas.clone();
        match target {
            Some(target) => {
                if let Err(why) = check_assignment(target, &registered) {
                    warn!(topic_id = %topic_id, partition, ?target, why, "invalid reassignment; skipped");
                    return;
                }
                let removing: std::collections::BTreeSet<i32> = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| !target.contains(r))
                    .collect();
                let adding: std::collections::BTreeSet<i32> = target
                    .iter()
                    .copied()
                    .filter(|r| !p.replicas.contains(r))
                    .collect();
                if target == p.replicas.as_slice() && !p.reassigning() {
                    return;
                }
                let mut replicas = target.to_vec();
                replicas.extend(removing.iter().copied());
                p.replicas = replicas;
                p.adding_replicas = adding.into_iter().collect();
                p.removing_replicas = removing.into_iter().collect();
            }
            None => {
                if !p.reassigning() {
                    tracing::debug!(topic_id = %topic_id, partition, "cancel without a reassignment in progress; skipped");
                    return;
                }
                let isr: Vec<i32> = p
                    .isr
                    .iter()
                    .copied()
                    .filter(|r| !p.adding_replicas.contains(r))
                    .collect();
                if isr.is_empty() {
                    warn!(topic_id = %topic_id, partition, isr = ?p.isr,
                        "cancelling the reassignment would need an unclean election; skipped");
                    return;
                }
                p.replicas = p.original_replicas();
                p.isr = isr;
                p.adding_replicas.clear();
                p.removing_replicas.clear();
            }
        }
        p.partition_epoch = p.partition_epoch.saturating_add(1);
        if !Self::complete_reassignment(p, &live, topic_id, partition) {
            // A cancel: the leader may have been an added replica.
            Self::settle_leader(p, &live, &before);
        }
        tracing::info!(topic_id = %topic_id, partition, replicas = ?p.replicas, adding = ?p.adding_replicas,
            removing = ?p.removing_replicas, isr = ?p.isr, leader = p.leader, leader_epoch = p.leader_epoch,
            "partition reassignment changed");
    }

    /// Complete `p`'s reassignment if every target replica is in sync (Kafka's
    /// `maybeCompleteReassignment`): the replicas become the target, the removed replicas leave
    /// the ISR, and a leader that is no longer a replica hands over to the first target replica in
    /// sync and alive (new leader epoch; the epoch also moves when replicas are removed, as in
    /// Kafka, so that the removed ones stop being followers of this epoch). Returns whether it
    /// completed.
    fn complete_reassignment(
        p: &mut PartitionState,
        live: &[i32],
        topic_id: Uuid,
        partition: i32,
    ) -> bool {
        if !p.reassigning() {
            return false;
        }
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|r| !p.removing_replicas.contains(r))
            .collect();
        let replicas: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| !p.removing_replicas.contains(r))
            .collect();
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|r| isr.contains(r)) {
            return false;
        }
        let before = std::mem::replace(&mut p.replicas, replicas);
        p.isr = isr;
        p.adding_replicas.clear();
        p.removing_replicas.clear();
        Self::settle_leader(p, live, &before);
        tracing::info!(topic_id = %topic_id, partition, replicas = ?p.replicas, isr = ?p.isr,
            leader = p.leader, leader_epoch = p.leader_epoch, "partition reassignment completed");
        true
    }

    /// After `p`'s replicas changed from `before`: a leader that is no longer an in-sync replica
    /// gives way to the first replica that is in sync and alive (-1: none), and the leader epoch
    /// moves when the leader changed or replicas were removed (Kafka's `PartitionChangeBuilder`).
    fn settle_leader(p: &mut PartitionState, live: &[i32], before: &[i32]) {
        let was = p.leader;
        if !p.isr.contains(&p.leader) || !p.replicas.contains(&p.leader) {
            p.leader = p
                .replicas
                .iter()
                .copied()
                .find(|r| p.isr.contains(r) && live.contains(r))
                .unwrap_or(-1);
        }
        if p.leader != was || before.iter().any(|r| !p.replicas.contains(r)) {
            p.leader_epoch = p.leader_epoch.saturating_add(1);
        }
    }

    /// Fence or unfence broker `id` if `incarnation` is its registered one (false: it is not,
    /// the record is stale and skipped).
    fn set_fenced(&mut self, id: i32, incarnation: Uuid, fenced: bool) -> bool {
        match self.brokers.get_mut(&id) {
            Some(b) if b.incarnation == incarnation => {
                b.fenced = fenced;
                true
            }
            _ => false,
        }
    }

    /// Broker `id` is gone (fenced, or replaced by a new process when `keep_sole` is false … see
    /// the callers): it leaves every in-sync replica set where another member remains, and a
    /// partition it led gets the first other in-sync replica, in replica order, that is alive
    /// (Kafka's election from the ISR). Where it is the last in-sync replica the set keeps it
    /// (nothing else has all the data); then, when fenced (`fenced`), the partition has no leader
    /// until it returns.
    fn remove_from_isr(&mut self, id: i32, fenced: bool) {
        let live: Vec<i32> = self.live_brokers().map(|(b, _)| b).collect();
        for t in self.topics.values_mut() {
            for (index, p) in t.partitions.iter_mut().enumerate() {
                if !p.isr.contains(&id) && p.leader != id {
                    continue;
                }
                let rest: Vec<i32> = p.isr.iter().copied().filter(|r| *r != id).collect();
                let was = p.leader;
                if rest.is_empty() {
                    if fenced && p.leader == id {
                        p.leader = -1;
                    } else {
                        continue;
                    }
                } else {
                    p.isr = rest;
                    if p.leader == id || p.leader == -1 {
                        p.leader = p.first_live_in_sync(&live);
                    }
                }
                if p.leader != was {
                    p.leader_epoch = p.leader_epoch.saturating_add(1);
                    tracing::debug!(topic = %t.name, partition = index, broker = id, from = was,
                        to = p.leader, leader_epoch = p.leader_epoch, isr = ?p.isr, "partition leader moved");
                }
                p.partition_epoch = p.partition_epoch.saturating_add(1);
            }
        }
    }

    /// Apply `change` to every partition; where it returns true (the leader changed), a new
    /// leader epoch and partition epoch.
    fn each_partition(&mut self, mut change: impl FnMut(&mut PartitionState) -> bool) {
        for t in self.topics.values_mut() {
            for p in &mut t.partitions {
                if change(p) {
                    p.leader_epoch = p.leader_epoch.saturating_add(1);
                    p.partition_epoch = p.partition_epoch.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(topic_id: Uuid, partition: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    #[test]
    fn topics_configs_removal_and_producer_ids() {
        let id = Uuid::new_v4();
        let mut s = ClusterState::default();
        s.apply_batch(&[
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            partition(id, 0),
            partition(id, 1),
            MetadataRecord::TopicConfig {
                topic: "t".into(),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            },
        ]);
        let t = s.topic("t").unwrap();
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.configs["cleanup.policy"], "compact");
        // Out of sequence and unknown topic: skipped.
        s.apply_batch(&[partition(id, 5), partition(Uuid::new_v4(), 0)]);
        assert_eq!(s.topic("t").unwrap().partitions.len(), 2);
        // A second topic of the same name is refused.
        s.apply_batch(&[MetadataRecord::Topic {
            name: "t".into(),
            id: Uuid::new_v4(),
        }]);
        assert_eq!(s.topics.len(), 1);
        s.apply_batch(&[MetadataRecord::TopicConfig {
            topic: "t".into(),
            name: "cleanup.policy".into(),
            value: None,
        }]);
        assert!(s.topic("t").unwrap().configs.is_empty());
        s.apply_batch(&[
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 2000,
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 1000,
            },
        ]);
        assert_eq!(s.next_producer_id, 2000, "never moves back");
        s.apply_batch(&[MetadataRecord::RemoveTopic { id }]);
        assert!(s.topic("t").is_none() && s.topics.is_empty());
        s.apply_batch(&[
            MetadataRecord::ClusterId { id: "a".into() },
            MetadataRecord::ClusterId { id: "b".into() },
        ]);
        assert_eq!(s.cluster_id.as_deref(), Some("a"), "the first id stays");
    }

    #[test]
    fn fencing_moves_leadership_and_epochs_and_stale_incarnations_are_skipped() {
        let id = Uuid::new_v4();
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        let register = |incarnation| MetadataRecord::RegisterBroker {
            id: 1,
            incarnation,
            listeners: vec![],
            rack: None,
        };
        let mut s = ClusterState::default();
        s.apply_batch(&[
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            partition(id, 0),
            register(old),
            MetadataRecord::UnfenceBroker {
                id: 1,
                incarnation: old,
            },
        ]);
        let p = |s: &ClusterState| s.topics[&id].partitions[0].clone();
        assert!(!s.brokers[&1].fenced);
        assert_eq!(
            (p(&s).leader, p(&s).leader_epoch),
            (1, 1),
            "unfenced: a new epoch"
        );
        s.apply_batch(&[MetadataRecord::FenceBroker {
            id: 1,
            incarnation: old,
            controlled: false,
        }]);
        assert!(s.brokers[&1].fenced);
        assert_eq!(
            (p(&s).leader, p(&s).leader_epoch, p(&s).partition_epoch),
            (-1, 2, 2)
        );
        // A new process registers; a late record about the old one changes nothing.
        s.apply_batch(&[
            register(new),
            MetadataRecord::UnfenceBroker {
                id: 1,
                incarnation: old,
            },
        ]);
        assert!(s.brokers[&1].fenced);
        assert_eq!(p(&s).leader, -1);
        s.apply_batch(&[
            MetadataRecord::UnfenceBroker {
                id: 1,
                incarnation: new,
            },
            MetadataRecord::BumpLeaderEpoch {
                topic_id: id,
                partition: 0,
                at_least: 7,
            },
            MetadataRecord::BumpLeaderEpoch {
                topic_id: id,
                partition: 0,
                at_least: 5,
            },
        ]);
        assert_eq!(
            (p(&s).leader, p(&s).leader_epoch),
            (1, 7),
            "never moves back"
        );
        assert_eq!(s.live_brokers().count(), 1);
        // Producer-id blocks: consecutive, one per allocation, whoever asks.
        s.apply_batch(&[
            MetadataRecord::AllocateProducerIds { broker_id: 1 },
            MetadataRecord::AllocateProducerIds { broker_id: 2 },
        ]);
        assert_eq!(s.producer_blocks[&1], (0, PRODUCER_ID_BLOCK_SIZE));
        assert_eq!(
            s.producer_blocks[&2],
            (PRODUCER_ID_BLOCK_SIZE, 2 * PRODUCER_ID_BLOCK_SIZE)
        );
    }

    #[test]
    fn fencing_elects_from_the_isr_and_alter_partition_checks_epochs() {
        let id = Uuid::new_v4();
        let inc: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let mut s = ClusterState::default();
        let mut batch = vec![MetadataRecord::Topic {
            name: "t".into(),
            id,
        }];
        for b in 1..=3 {
            batch.push(MetadataRecord::RegisterBroker {
                id: b,
                incarnation: inc[b as usize],
                listeners: vec![],
                rack: None,
            });
            batch.push(MetadataRecord::UnfenceBroker {
                id: b,
                incarnation: inc[b as usize],
            });
        }
        batch.push(MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        });
        s.apply_batch(&batch);
        let p = |s: &ClusterState| s.topics[&id].partitions[0].clone();
        // The leader is fenced: the next in-sync replica in replica order leads, new epoch.
        s.apply_batch(&[MetadataRecord::FenceBroker {
            id: 1,
            incarnation: inc[1],
            controlled: false,
        }]);
        assert_eq!(
            (p(&s).leader, p(&s).isr.clone(), p(&s).leader_epoch),
            (2, vec![2, 3], 1)
        );
        // A follower is fenced: it leaves the ISR, the leader and its epoch stay.
        s.apply_batch(&[MetadataRecord::FenceBroker {
            id: 3,
            incarnation: inc[3],
            controlled: false,
        }]);
        assert_eq!(
            (p(&s).leader, p(&s).isr.clone(), p(&s).leader_epoch),
            (2, vec![2], 1)
        );
        let pe = p(&s).partition_epoch;
        // Broker 1 comes back; it is not in the ISR, so it does not lead.
        s.apply_batch(&[MetadataRecord::UnfenceBroker {
            id: 1,
            incarnation: inc[1],
        }]);
        assert_eq!(p(&s).leader, 2);
        // A stale AlterPartition (old partition epoch) is skipped; a current one applies; one
        // adding a fenced broker is skipped.
        let alter = |isr: Vec<i32>, partition_epoch| MetadataRecord::AlterPartition {
            topic_id: id,
            partition: 0,
            leader: 2,
            leader_epoch: 1,
            partition_epoch,
            isr,
        };
        s.apply_batch(&[alter(vec![2, 1], pe - 1)]);
        assert_eq!(p(&s).isr, vec![2]);
        s.apply_batch(&[alter(vec![2, 3], pe)]);
        assert_eq!(p(&s).isr, vec![2], "broker 3 is fenced");
        s.apply_batch(&[alter(vec![2, 1], pe)]);
        assert_eq!(
            (p(&s).isr.clone(), p(&s).partition_epoch),
            (vec![2, 1], pe + 1)
        );
        // The last in-sync replica fenced: no leader, the ISR keeps it (no unclean election).
        s.apply_batch(&[
            MetadataRecord::FenceBroker {
                id: 1,
                incarnation: inc[1],
                controlled: false,
            },
            MetadataRecord::FenceBroker {
                id: 2,
                incarnation: inc[2],
                controlled: true,
            },
        ]);
        assert_eq!((p(&s).leader, p(&s).isr.clone()), (-1, vec![2]));
        s.apply_batch(&[MetadataRecord::UnfenceBroker {
            id: 3,
            incarnation: inc[3],
        }]);
        assert_eq!(p(&s).leader, -1, "3 is out of sync: no unclean election");
        // A restarted broker (new incarnation) that was live leaves the ISRs where others remain.
        s.apply_batch(&[MetadataRecord::UnfenceBroker {
            id: 2,
            incarnation: inc[2],
        }]);
        assert_eq!((p(&s).leader, p(&s).leader_epoch), (2, 3));
        s.apply_batch(&[MetadataRecord::AlterPartition {
            topic_id: id,
            partition: 0,
            leader: 2,
            leader_epoch: 3,
            partition_epoch: p(&s).partition_epoch,
            isr: vec![2, 3],
        }]);
        assert_eq!(p(&s).isr, vec![2, 3]);
        s.apply_batch(&[MetadataRecord::RegisterBroker {
            id: 2,
            incarnation: Uuid::new_v4(),
            listeners: vec![],
            rack: None,
        }]);
        assert_eq!(
            (p(&s).leader, p(&s).isr.clone(), p(&s).leader_epoch),
            (3, vec![3], 4)
        );
    }

    #[test]
    fn offline_replicas_leave_the_isr_and_leadership_moves() {
        let id = Uuid::new_v4();
        let inc: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let mut batch = vec![MetadataRecord::Topic {
            name: "t".into(),
            id,
        }];
        for b in 1..=2 {
            batch.push(MetadataRecord::RegisterBroker {
                id: b,
                incarnation: inc[b as usize],
                listeners: vec![],
                rack: None,
            });
            batch.push(MetadataRecord::UnfenceBroker {
                id: b,
                incarnation: inc[b as usize],
            });
        }
        for (partition, isr) in [(0, vec![1, 2]), (1, vec![1])] {
            batch.push(MetadataRecord::Partition {
                topic_id: id,
                partition,
                replicas: vec![1, 2],
                isr,
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            });
        }
        let mut s = ClusterState::default();
        s.apply_batch(&batch);
        let p = |s: &ClusterState, i: usize| s.topics[&id].partitions[i].clone();
        let offline = |incarnation| MetadataRecord::OfflineReplicas {
            broker: 1,
            incarnation,
            partitions: vec![(id, 0), (id, 1), (Uuid::new_v4(), 0)],
        };
        s.apply_batch(&[offline(Uuid::new_v4())]);
        assert_eq!(
            p(&s, 0).leader,
            1,
            "another incarnation's report is skipped"
        );
        s.apply_batch(&[offline(inc[1])]);
        let moved = p(&s, 0);
        assert_eq!(
            (moved.leader, moved.isr, moved.leader_epoch),
            (2, vec![2], 1)
        );
        let alone = p(&s, 1);
        assert_eq!(
            (alone.leader, alone.isr, alone.partition_epoch),
            (1, vec![1], 0),
            "the last in-sync replica keeps the partition"
        );
    }

    /// Topic `t` (`id`) and brokers `1..=brokers` registered and unfenced; the incarnations by
    /// broker id (index 0 unused).
    fn topic_and_live_brokers(id: Uuid, brokers: i32) -> (Vec<MetadataRecord>, Vec<Uuid>) {
        let inc: Vec<Uuid> = (0..=brokers).map(|_| Uuid::new_v4()).collect();
        let mut batch = vec![MetadataRecord::Topic {
            name: "t".into(),
            id,
        }];
        for b in 1..=brokers {
            batch.push(MetadataRecord::RegisterBroker {
                id: b,
                incarnation: inc[b as usize],
                listeners: vec![],
                rack: None,
            });
            batch.push(MetadataRecord::UnfenceBroker {
                id: b,
                incarnation: inc[b as usize],
            });
        }
        (batch, inc)
    }

    #[test]
    fn preferred_and_unclean_elections() {
        let id = Uuid::new_v4();
        let (mut batch, inc) = topic_and_live_brokers(id, 3);
        batch.push(MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![2, 3],
            leader: 2,
            leader_epoch: 4,
            partition_epoch: 4,
        });
        let mut s = ClusterState::default();
        s.apply_batch(&batch);
        let p = |s: &ClusterState| s.topics[&id].partitions[0].clone();
        let elect = |unclean| MetadataRecord::ElectLeader {
            topic_id: id,
            partition: 0,
            unclean,
        };
        // The preferred replica is out of sync: no election.
        s.apply_batch(&[elect(false)]);
        assert_eq!((p(&s).leader, p(&s).leader_epoch), (2, 4));
        s.apply_batch(&[MetadataRecord::AlterPartition {
            topic_id: id,
            partition: 0,
            leader: 2,
            leader_epoch: 4,
            partition_epoch: 4,
            isr: vec![2, 3, 1],
        }]);
        s.apply_batch(&[elect(false)]);
        assert_eq!((p(&s).leader, p(&s).leader_epoch), (1, 5));
        s.apply_batch(&[elect(false)]);
        assert_eq!(p(&s).leader_epoch, 5, "already preferred: skipped");
        // Unclean: only for a partition without a leader, and it takes an out-of-sync replica.
        s.apply_batch(&[elect(true)]);
        assert_eq!(p(&s).leader, 1);
        for b in [1, 2] {
            s.apply_batch(&[MetadataRecord::FenceBroker {
                id: b,
                incarnation: inc[b as usize],
                controlled: false,
            }]);
        }
        // Fencing 1 then 2 moves the leadership to 3, the last in-sync replica.
        assert_eq!(p(&s).leader, 3);
        s.apply_batch(&[MetadataRecord::FenceBroker {
            id: 3,
            incarnation: inc[3],
            controlled: false,
        }]);
        assert_eq!((p(&s).leader, p(&s).isr.clone()), (-1, vec![3]));
        s.apply_batch(&[MetadataRecord::UnfenceBroker {
            id: 1,
            incarnation: inc[1],
        }]);
        assert_eq!(p(&s).leader, -1, "1 is not in sync");
        s.apply_batch(&[elect(true)]);
        assert_eq!((p(&s).leader, p(&s).isr.clone()), (1, vec![1]));
    }

    #[test]
    fn reassignment_grows_completes_when_in_sync_and_cancels() {
        let id = Uuid::new_v4();
        let (mut batch, _) = topic_and_live_brokers(id, 4);
        for partition in [0, 1] {
            batch.push(MetadataRecord::Partition {
                topic_id: id,
                partition,
                replicas: vec![1, 2],
                isr: vec![1, 2],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            });
        }
        let mut s = ClusterState::default();
        s.apply_batch(&batch);
        let p = |s: &ClusterState, i: usize| s.topics[&id].partitions[i].clone();
        let reassign = |partition, target: Option<Vec<i32>>| MetadataRecord::Reassign {
            topic_id: id,
            partition,
            target,
        };
        // Invalid targets are skipped.
        for bad in [vec![], vec![3, 3], vec![3, 9]] {
            s.apply_batch(&[reassign(0, Some(bad))]);
            assert!(!p(&s, 0).reassigning());
        }
        // Move partition 0 from [1, 2] to [3, 4]: the union, target first.
        s.apply_batch(&[reassign(0, Some(vec![3, 4]))]);
        let now = p(&s, 0);
        assert_eq!(now.replicas, vec![3, 4, 1, 2]);
        assert_eq!(
            (now.adding_replicas, now.removing_replicas),
            (vec![3, 4], vec![1, 2])
        );
        assert_eq!((now.leader, now.leader_epoch, now.isr), (1, 0, vec![1, 2]));
        // 3 joins the ISR: not complete yet; then 4: complete, leader 3 at a new epoch.
        let alter = |isr: Vec<i32>, pe| MetadataRecord::AlterPartition {
            topic_id: id,
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: pe,
            isr,
        };
        s.apply_batch(&[alter(vec![1, 2, 3], now.partition_epoch)]);
        assert!(p(&s, 0).reassigning());
        s.apply_batch(&[alter(vec![1, 2, 3, 4], p(&s, 0).partition_epoch)]);
        let done = p(&s, 0);
        assert!(!done.reassigning());
        assert_eq!(
            (done.replicas, done.isr, done.leader, done.leader_epoch),
            (vec![3, 4], vec![3, 4], 3, 1)
        );
        // Cancel with none in progress is skipped; partition 1 starts [1, 2] → [2, 3] and is
        // cancelled: 3 leaves, the leader stays.
        let before = p(&s, 1);
        s.apply_batch(&[reassign(1, None)]);
        assert_eq!(p(&s, 1), before);
        s.apply_batch(&[reassign(1, Some(vec![2, 3]))]);
        assert_eq!(p(&s, 1).replicas, vec![2, 3, 1]);
        s.apply_batch(&[reassign(1, None)]);
        let reverted = p(&s, 1);
        assert!(!reverted.reassigning());
        assert_eq!((reverted.replicas, reverted.leader), (vec![2, 1], 1));
        // Shrinking to replicas already in sync completes at once.
        s.apply_batch(&[reassign(1, Some(vec![2]))]);
        let shrunk = p(&s, 1);
        assert_eq!(
            (shrunk.replicas, shrunk.isr, shrunk.leader),
            (vec![2], vec![2], 2)
        );
    }

    #[test]
    fn records_round_trip_through_serde() {
        let id = Uuid::new_v4();
        let batch = vec![
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            partition(id, 0),
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 27,
            },
        ];
        let bytes = serde_json::to_vec(&batch).unwrap();
        let back: Vec<MetadataRecord> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, batch);
    }
}
