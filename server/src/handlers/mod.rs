//! One file per API: decode is done by the connection, so each handler takes the typed
//! request, reads the metadata image, calls the replica layer or a coordinator, and builds the
//! response for the request's version.
//!
//! Error codes: storage and topic-administration failures are mapped here, by
//! [`storage_error`] and [`topic_error`] (and [`fenced_for_version`] for old request versions).
//! The coordinators answer in Kafka's own terms (their state machines decide codes such as
//! REBALANCE_IN_PROGRESS or CONCURRENT_TRANSACTIONS, as Kafka's coordinators do), and the
//! replica layer reports epoch checks as FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH; the
//! handlers pass those through.

pub(crate) mod acls;
pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod cluster;
pub(crate) mod configs;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_groups;
pub(crate) mod describe_producers;
pub(crate) mod describe_quorum;
pub(crate) mod describe_transactions;
pub(crate) mod elect_leaders;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod log_dirs;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod produce;
pub(crate) mod reassignments;
pub(crate) mod scram_credentials;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;
pub(crate) mod unserved;
pub(crate) mod write_txn_markers;

use std::net::SocketAddr;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;
use minikafka_storage::StorageError;
use tokio_util::sync::CancellationToken;

use crate::acl;
use crate::context::Broker;
use crate::controller::ControllerError;
use crate::topics::TopicError;

/// PRODUCER_FENCED (KIP-588) answered to a request version older than `since`, which predates the
/// code: INVALID_PRODUCER_EPOCH instead, as Kafka answers. Other errors pass through.
pub(crate) fn fenced_for_version(e: ResponseError, version: i16, since: i16) -> ResponseError {
    if e == ResponseError::ProducerFenced && version < since {
        ResponseError::InvalidProducerEpoch
    } else {
        e
    }
}

/// The Kafka error code for a storage failure.
pub(crate) fn storage_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::CorruptMessage(_) => ResponseError::CorruptMessage,
        StorageError::InvalidRecord(_) | StorageError::NullKeyInCompactedTopic(_) => {
            ResponseError::InvalidRecord
        }
        StorageError::InvalidTimestamp(_) => ResponseError::InvalidTimestamp,
        StorageError::MessageTooLarge { .. } | StorageError::RecompressedTooLarge { .. } => {
            ResponseError::MessageTooLarge
        }
        StorageError::RecordListTooLarge { .. } => ResponseError::RecordListTooLarge,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
        StorageError::TransactionCoordinatorFenced(_) => {
            ResponseError::TransactionCoordinatorFenced
        }
        StorageError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        StorageError::NotLeader(_) => ResponseError::NotLeaderOrFollower,
        _ => ResponseError::KafkaStorageError,
    }
}

/// The Kafka error code for a topic administration failure.
pub(crate) fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::PolicyViolation(_) => ResponseError::PolicyViolation,
        TopicError::Storage(e) => storage_error(e),
        TopicError::Io(_) => ResponseError::KafkaStorageError,
        TopicError::Controller(ControllerError::NotController { .. }) => {
            ResponseError::NotController
        }
        TopicError::Controller(ControllerError::Timeout) => ResponseError::RequestTimedOut,
        TopicError::Controller(_) => ResponseError::UnknownServerError,
    }
}

/// What every handler is given besides its request: the broker, the request's version, and
/// who sent it through which listener. Built once per request by the connection; the one handler signature of the
/// route table in [`crate::dispatch`] is `async fn(&RequestContext<'_>, XRequest) -> answer`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestContext<'a> {
    /// The shared broker state.
    pub(crate) broker: &'a Broker,
    /// The request's API version (already checked against the route's range).
    pub(crate) version: i16,
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The name of the listener the connection arrived on: the endpoints a client is told are
    /// those advertised for it.
    pub(crate) listener: &'a str,
    /// The connection's principal in Kafka's string form (`User:ANONYMOUS` when it did not
    /// authenticate).
    pub(crate) principal: &'a str,
    /// The client id of the request header (empty when absent).
    pub(crate) client_id: &'a str,
    /// Cancelled at broker shutdown: handlers that wait (Fetch, JoinGroup, SyncGroup) stop.
    pub(crate) shutdown: &'a CancellationToken,
}

impl RequestContext<'_> {
    /// Whether the request's principal may do `operation` on the resource (Kafka's
    /// `AuthHelper.authorize`; always with no `authorizer.class.name`). See [`crate::acl`].
    pub(crate) fn authorized(&self, operation: i8, resource_type: i8, name: &str) -> bool {
        let allowed = self.decide(|acls, settings, who| {
            acls.authorize(settings, who, operation, resource_type, name)
        });
        if !allowed {
            tracing::debug!(principal = self.principal, peer = %self.peer, operation, resource_type,
                resource = name, "authorization denied");
        }
        allowed
    }

    /// `decision` on the current ACLs for this request's principal and host; allowed without
    /// an authorizer.
    fn decide(
        &self,
        decision: impl FnOnce(&acl::AclSet, &acl::AuthorizerSettings, acl::Requester<'_>) -> bool,
    ) -> bool {
        let Some(settings) = &self.broker.config.authorizer else {
            return true;
        };
        let host = self.peer.ip().to_string();
        let who = acl::Requester {
            principal: self.principal,
            host: &host,
        };
        decision(self.broker.topics.image().acls(), settings, who)
    }

    /// [`RequestContext::authorized`] on the cluster resource.
    pub(crate) fn authorized_cluster(&self, operation: i8) -> bool {
        self.authorized(operation, acl::resource::CLUSTER, acl::CLUSTER_NAME)
    }

    /// [`RequestContext::authorized`] on a topic.
    pub(crate) fn authorized_topic(&self, operation: i8, topic: &str) -> bool {
        self.authorized(operation, acl::resource::TOPIC, topic)
    }

    /// [`RequestContext::authorized`] on a group.
    pub(crate) fn authorized_group(&self, operation: i8, group: &str) -> bool {
        self.authorized(operation, acl::resource::GROUP, group)
    }

    /// [`RequestContext::authorized`] on a transactional id.
    pub(crate) fn authorized_txn(&self, operation: i8, id: &str) -> bool {
        self.authorized(operation, acl::resource::TRANSACTIONAL_ID, id)
    }

    /// Whether the principal may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`).
    pub(crate) fn authorized_any(&self, operation: i8, resource_type: i8) -> bool {
        self.decide(|acls, settings, who| {
            acls.authorize_any(settings, who, operation, resource_type)
        })
    }

    /// The authorized-operations bit field of a resource (Kafka's `authorizedOperations`: bit
    /// `1 << op` for each supported operation the principal may do; every one without an
    /// authorizer).
    pub(crate) fn authorized_operations(&self, resource_type: i8, name: &str) -> i32 {
        acl::supported_operations(resource_type)
            .iter()
            .filter(|op| self.authorized(**op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op))
    }

    /// This broker as the request's listener advertises it: (node id, host, port).
    pub(crate) fn this_node(&self) -> (BrokerId, StrBytes, i32) {
        let a = self.broker.advertised_for(self.listener);
        (
            BrokerId(self.broker.config.node_id),
            s(a.host.clone()),
            a.port,
        )
    }

    /// The brokers a client of this request's listener is told about: every registered,
    /// unfenced broker with an endpoint on that listener, by id, as (id, host, port, rack). This
    /// broker is always among them (as its listener advertises it), even before its
    /// registration is applied.
    pub(crate) fn live_brokers(&self) -> Vec<(BrokerId, StrBytes, i32, Option<StrBytes>)> {
        let image = self.broker.topics.image();
        let me = self.broker.config.node_id;
        let mut out: Vec<_> = image
            .live_brokers()
            .filter(|b| b.id != me)
            .filter_map(|b| {
                let (host, port) = b.endpoint(self.listener)?;
                Some((BrokerId(b.id), s(host), port, b.rack.clone().map(s)))
            })
            .collect();
        let (id, host, port) = self.this_node();
        let rack = self.broker.config.broker_rack.clone().map(s);
        out.push((id, host, port, rack));
        out.sort_by_key(|b| b.0 .0);
        out
    }

    /// A live broker's endpoint on this request's listener: (id, host, port).
    pub(crate) fn node(&self, id: i32) -> Option<(BrokerId, StrBytes, i32)> {
        if id == self.broker.config.node_id {
            return Some(self.this_node());
        }
        let image = self.broker.topics.image();
        let b = image.broker(id).filter(|b| !b.fenced)?;
        let (host, port) = b.endpoint(self.listener)?;
        Some((BrokerId(id), s(host), port))
    }

    /// The controller id clients are given (Metadata, DescribeCluster): Kafka's KRaft brokers
    /// name an alive broker there, since clients send controller-bound requests to any broker;
    /// minikafka names the active controller when it is a live broker, else the lowest live
    /// broker id.
    pub(crate) fn controller_id(
        &self,
        live: &[(BrokerId, StrBytes, i32, Option<StrBytes>)],
    ) -> i32 {
        let active = self.broker.topics.quorum().leader();
        match active {
            Some(a) if live.iter().any(|b| b.0 .0 == a) => a,
            _ => live.first().map_or(self.broker.config.node_id, |b| b.0 .0),
        }
    }
}

/// A client's host as Kafka shows it in DescribeGroups (`/127.0.0.1`).
pub(crate) fn client_host(peer: SocketAddr) -> String {
    format!("/{}", peer.ip())
}

/// Shorthand for a protocol string.
pub(crate) fn s(text: impl Into<String>) -> StrBytes {
    StrBytes::from_string(text.into())
}

/// Run blocking topic administration off the async threads.
/// Bring this broker's metadata as far as the active controller's (a linearizable read: one
/// read-index request to it), bounded; on failure it answers from what it has. For answers
/// that must not miss a change made through another broker a moment ago (a topic that "does not
/// exist", a topic config just altered).
pub(crate) async fn catch_up(b: &crate::context::Broker, timeout: std::time::Duration) {
    let topics = b.topics.clone();
    if let Err(e) = blocking(move || topics.catch_up(timeout)).await {
        tracing::debug!(error = %e, "cannot catch up with the active controller; answering from this broker's metadata");
    }
}

/// How long a request waits to catch up before it answers from this broker's metadata: a
/// cluster node's Metadata, DescribeTopicPartitions and DescribeConfigs (short: a leader cut
/// off without a reset must not stall clients' metadata), and a Metadata request naming a topic
/// this node does not know (longer: the answer would be "does not exist").
pub(crate) const CATCH_UP_SHORT: std::time::Duration = std::time::Duration::from_secs(1);
/// See [`CATCH_UP_SHORT`].
pub(crate) const CATCH_UP_LONG: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TopicError> + Send + 'static,
) -> Result<T, TopicError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(TopicError::Io(std::io::Error::other(e.to_string()))),
    }
}
