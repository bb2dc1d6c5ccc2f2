//! The metadata image: what the cluster knows about its topics and partitions, as one
//! immutable snapshot (Kafka's `MetadataImage`).
//!
//! Handlers and coordinators consult the current image for names, topic ids, partition counts,
//! configs and, per partition, the replicas, the leader, its epoch and the in-sync replicas.
//! The image holds no logs: the data of a partition is reached through the replica layer
//! ([`crate::replica::ReplicaManager`]) by topic id and index. A change (a topic created,
//! deleted, grown or reconfigured) publishes a new image; readers holding the old one keep a
//! consistent view.
//!
//! The image is built by [`crate::topics`] from the state the metadata log has applied
//! ([`crate::controller`]), once the partitions it names are open on this broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use crate::config::TopicConfig;

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// Partition index.
    pub index: i32,
    /// Replica node ids, the preferred leader first.
    pub replicas: Vec<i32>,
    /// The leader's node id (-1: none).
    pub leader: i32,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone)]
pub struct TopicImage {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: Uuid,
    /// Explicit config overrides.
    pub config: TopicConfig,
    /// Partitions, index = position.
    pub partitions: Vec<PartitionImage>,
}

impl TopicImage {
    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }

    /// One partition's placement.
    pub fn partition(&self, index: i32) -> Option<&PartitionImage> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The topic's explicit config overrides.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// Whether it is one of [`INTERNAL_TOPICS`] (a user topic may still start with `__`).
    pub fn is_internal(&self) -> bool {
        is_internal_topic(&self.name)
    }
}

/// The topics the broker owns (Kafka's `Topic.INTERNAL_TOPICS`): only their coordinators write
/// to them. Share-group state and others join this list as they arrive. It lives here, with the
/// metadata image, so that every layer above (handlers, coordinators, the metadata store) asks
/// the same list.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// Whether `name` is one of [`INTERNAL_TOPICS`] (a user topic may still start with `__`).
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
    /// Its `node.id`.
    pub id: i32,
    /// Its endpoints: (listener name, advertised host, port).
    pub endpoints: Vec<(String, String, i32)>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced: not alive as far as the controller knows.
    pub fenced: bool,
}

impl BrokerImage {
    /// Its endpoint on the listener `name`, if it has one.
    pub fn endpoint(&self, name: &str) -> Option<(&str, i32)> {
        self.endpoints
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, h, p)| (h.as_str(), *p))
    }
}

/// Every topic, by name and by id, and the registered brokers.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    by_name: HashMap<String, Arc<TopicImage>>,
    by_id: HashMap<Uuid, Arc<TopicImage>>,
    brokers: Vec<BrokerImage>,
    /// Dynamic broker configs by entity: a broker id as text, `""` for the cluster default.
    broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Every ACL (issue 14), with the authorizer's decision cache.
    acls: Arc<crate::acl::AclSet>,
}

impl MetadataImage {
    /// This image with `acls`.
    pub fn with_acls(mut self, acls: Arc<crate::acl::AclSet>) -> MetadataImage {
        self.acls = acls;
        self
    }

    /// Every ACL of the cluster.
    pub fn acls(&self) -> &Arc<crate::acl::AclSet> {
        &self.acls
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.by_name.get(name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.by_id.get(id)
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<Arc<TopicImage>> {
        let mut v: Vec<_> = self.by_name.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there is no topic.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Every registered broker, by id, fenced ones included.
    pub fn brokers(&self) -> &[BrokerImage] {
        &self.brokers
    }

    /// The registered, unfenced brokers, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.iter().filter(|b| !b.fenced)
    }

    /// Partitions without a leader (-1), over every topic (Kafka's controller gauge
    /// `OfflinePartitionsCount`). O(partitions).
    pub fn offline_partitions(&self) -> usize {
        self.by_name
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader < 0)
            .count()
    }

    /// A registered broker.
    pub fn broker(&self, id: i32) -> Option<&BrokerImage> {
        self.brokers.iter().find(|b| b.id == id)
    }

    /// An image of `topics` (ids and names unique) and `brokers` (ids unique).
    pub fn new(
        topics: impl IntoIterator<Item = Arc<TopicImage>>,
        mut brokers: Vec<BrokerImage>,
    ) -> MetadataImage {
        let mut image = MetadataImage::from_topics(topics);
        brokers.sort_by_key(|b| b.id);
        image.brokers = brokers;
        image
    }

    /// This image with the dynamic broker configs `configs` (by entity).
    pub fn with_broker_configs(
        mut self,
        configs: BTreeMap<String, BTreeMap<String, String>>,
    ) -> MetadataImage {
        self.broker_configs = configs;
        self
    }

    /// The dynamic configs set for one entity: a broker id as text, or `""` for the cluster
    /// default.
    pub fn broker_configs(&self, entity: &str) -> Option<&BTreeMap<String, String>> {
        self.broker_configs.get(entity)
    }

    /// The effective dynamic broker config `name` of broker `id`: its own value, else the
    /// cluster default; with whether it is the broker's own.
    pub fn dynamic_broker_config(&self, id: i32, name: &str) -> Option<(&str, bool)> {
        if let Some(v) = self
            .broker_configs
            .get(&id.to_string())
            .and_then(|c| c.get(name))
        {
            return Some((v.as_str(), true));
        }
        self.broker_configs
            .get("")
            .and_then(|c| c.get(name))
            .map(|v| (v.as_str(), false))
    }

    /// An image of `topics` (ids and names unique), no broker.
    pub fn from_topics(topics: impl IntoIterator<Item = Arc<TopicImage>>) -> MetadataImage {
        let mut image = MetadataImage::default();
        for t in topics {
            image.by_name.insert(t.name.clone(), t.clone());
            image.by_id.insert(t.id, t);
        }
        image
    }
}
