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
//! placement (replicas, leader, leader epoch, in-sync replicas, partition epoch), topic
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
    /// The single-node files of an earlier minikafka (`minikafka-topics.toml`,
    /// `producer-id-block`) were turned into the records of this batch; they are not read again.
    Migrated {
        /// What was migrated, for the log line.
        from: String,
    },
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
}

impl ClusterState {
    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicState> {
        self.names.get(name).and_then(|id| self.topics.get(id))
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
            MetadataRecord::ClusterId { id } => match &self.cluster_id {
                None => self.cluster_id = Some(id.clone()),
                Some(known) if known != id => {
                    warn!(cluster_id = %id, recorded = %known, "second cluster id record; skipped");
                }
                Some(_) => {}
            },
            MetadataRecord::Migrated { .. } => self.migrated = true,
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
