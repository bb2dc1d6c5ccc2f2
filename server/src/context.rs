//! The shared context every connection, handler and background task takes: configuration,
//! cluster identity, the topic registry and its partitions, and the coordinators. It is built
//! once at start-up (`broker.rs`) and handed down as an `Arc`; it holds no behaviour of its own,
//! so every layer below the network can read it without importing start-up code.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use crate::config::BrokerConfig;
use crate::fetch_sessions::FetchSessions;
use crate::group::GroupCoordinator;
use crate::metadata::TopicImage;
use crate::producer_ids::ProducerIds;
use crate::replica::{Partition, ReplicaManager, ReplicationStats};
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

/// Broker state shared by every connection and handler.
#[derive(Debug)]
pub struct Broker {
    /// Validated configuration.
    pub config: Arc<BrokerConfig>,
    /// The metadata store: topics, their configs and placement (the current image).
    pub topics: Arc<Topics>,
    /// Every hosted partition and its log: the only way to the data.
    pub replicas: Arc<ReplicaManager>,
    /// Cluster id from meta.properties.
    pub cluster_id: String,
    /// The endpoint each broker listener gives its clients in Metadata, DescribeCluster and
    /// FindCoordinator, in `listeners` order; one per bound listener.
    pub advertised: Vec<Advertised>,
    /// Producer id allocator for InitProducerId.
    pub producer_ids: Arc<ProducerIds>,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: FetchSessions,
    /// Consumer groups and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Transactional ids and their transactions.
    pub txn: Arc<TxnCoordinator>,
}

/// What one listener tells its clients to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// The listener's (normalised) name.
    pub listener: String,
    /// The host given to clients.
    pub host: String,
    /// The port given to clients.
    pub port: i32,
}

impl Broker {
    /// The endpoint advertised to a client of `listener` (Kafka answers with the brokers'
    /// endpoints for the request's listener name). Every bound listener has one, set at start;
    /// the first listener's stands in for a name that is not bound (in-process tests only).
    pub fn advertised_for(&self, listener: &str) -> &Advertised {
        self.advertised
            .iter()
            .find(|a| a.listener == listener)
            .unwrap_or(&self.advertised[0])
    }

    /// The hosted partition `index` of `topic` (through the replica layer), if any, led here
    /// or not.
    pub fn partition_of(&self, topic: &TopicImage, index: i32) -> Option<Arc<Partition>> {
        self.replicas.partition(&topic.id, index)
    }

    /// The replication gauges and counters ([`ReplicaManager::replication_stats`]) with the
    /// offline partitions of the current metadata image. O(partitions); not for request paths.
    pub fn replication_stats(&self) -> ReplicationStats {
        ReplicationStats {
            offline_partitions: self.topics.image().offline_partitions(),
            ..self.replicas.replication_stats()
        }
    }

    /// The partition `index` of `topic` if this broker hosts a replica of it, leader or
    /// follower (what a consumer's Fetch v11+ may read, KIP-392), else `unknown` when no such
    /// partition exists, NOT_LEADER_OR_FOLLOWER when it is not hosted here.
    pub fn hosted(
        &self,
        topic: Option<&TopicImage>,
        index: i32,
        unknown: ResponseError,
    ) -> Result<Arc<Partition>, ResponseError> {
        let topic = topic.ok_or(unknown)?;
        topic.partition(index).ok_or(unknown)?;
        self.replicas
            .partition(&topic.id, index)
            .ok_or(ResponseError::NotLeaderOrFollower)
    }

    /// The partition `index` of `topic` if this broker leads it, else the error Kafka answers
    /// for a request that only the leader serves (Produce, Fetch, ListOffsets, …): `unknown`
    /// (UNKNOWN_TOPIC_OR_PARTITION or UNKNOWN_TOPIC_ID) when no such partition exists,
    /// NOT_LEADER_OR_FOLLOWER when another broker or none leads it.
    pub fn led(
        &self,
        topic: Option<&TopicImage>,
        index: i32,
        unknown: ResponseError,
    ) -> Result<Arc<Partition>, ResponseError> {
        let placement = topic.and_then(|t| t.partition(index)).ok_or(unknown)?;
        if placement.leader != self.config.node_id {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        self.hosted(topic, index, unknown)
    }
}
