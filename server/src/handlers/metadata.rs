//! Metadata: the live brokers, cluster id, controller, and topics with ids and partitions.
//! Unknown topics are created here when `auto.create.topics.enable` is on and the request
//! allows it (v4+ `allow_auto_topic_creation`); a missing internal topic is created by its
//! coordinator with its own layout, as Kafka's `AutoTopicCreationManager` does.
//!
//! With an authorizer (issue 14), as Kafka: "all topics" lists only those the principal may
//! DESCRIBE; a named topic it may not describe is TOPIC_AUTHORIZATION_FAILED whether it exists
//! or not; auto-creation needs CREATE on the cluster or the topic.
//!
//! Each distinct topic (name or id) is answered once, however often the request lists it, as
//! Kafka does (it collects the requested topics into a set): a request naming one topic
//! 100 000 times costs one topic's work. Answers keep the order of first appearance.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use tracing::info;
use uuid::Uuid;

use super::{blocking, s, topic_error, RequestContext};
use crate::acl;
use crate::context::Broker;
use crate::group::OFFSETS_TOPIC;
use crate::metadata::TopicImage;
use crate::topics::{is_internal_topic, validate_name, TopicError};
use crate::txn::TXN_TOPIC;

/// One topic's answer. `live` holds the ids of the brokers clients are told about; a partition
/// whose leader is not among them has no leader: LEADER_NOT_AVAILABLE, leader -1, its replicas
/// that are not live in `offline_replicas` (as Kafka's KRaft metadata cache answers). `me(index)`
/// is this broker's id when that partition's log directory failed here: then it has no leader
/// either.
fn describe(
    t: &TopicImage,
    version: i16,
    live: &HashSet<i32>,
    me: &dyn Fn(i32) -> Option<i32>,
) -> MetadataResponseTopic {
    let mut out = MetadataResponseTopic::default()
        .with_name(Some(TopicName(s(t.name.clone()))))
        .with_is_internal(is_internal_topic(&t.name))
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    let replicas: Vec<BrokerId> =
                        p.replicas.iter().copied().map(BrokerId).collect();
                    let out = MetadataResponsePartition::default()
                        .with_partition_index(p.index)
                        .with_leader_id(BrokerId(p.leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect());
                    let me = me(p.index);
                    let led = live.contains(&p.leader) && me != Some(p.leader);
                    if led {
                        out.with_replica_nodes(replicas)
                    } else {
                        let offline = replicas
                            .iter()
                            .copied()
                            .filter(|r| !live.contains(&r.0) || me == Some(r.0))
                            .collect();
                        out.with_error_code(ResponseError::LeaderNotAvailable.code())
                            .with_leader_id(BrokerId(-1))
                            .with_offline_replicas(offline)
                            .with_replica_nodes(replicas)
                    }
                })
                .collect(),
        );
    if version >= 10 {
        out.topic_id = t.id;
    }
    out
}

fn error_topic(
    name: Option<String>,
    id: Uuid,
    err: ResponseError,
    version: i16,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default()
        .with_error_code(err.code())
        .with_name(name.map(|n| TopicName(s(n))));
    if version >= 10 {
        t.topic_id = id;
    }
    t
}

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: MetadataRequest) -> MetadataResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let with_ops = req.include_topic_authorized_operations;
    // On a cluster node, answer from metadata as new as the active controller's: a topic
    // created or deleted, or partitions added, through another broker are seen here once that
    // change was answered (one read-index round trip; bounded, else this node's view).
    let cluster = !b.config.quorum.single_node();
    if cluster {
        super::catch_up(b, super::CATCH_UP_SHORT).await;
    }
    let brokers = ctx.live_brokers();
    let live: HashSet<i32> = brokers.iter().map(|b| b.0 .0).collect();
    // This node, for a partition whose log directory failed here (it has no leader).
    let offline = |t: &TopicImage| {
        let id = t.id;
        move |index: i32| {
            b.replicas
                .partition(&id, index)
                .is_some_and(|p| p.log_dir().is_offline())
                .then_some(b.config.node_id)
        }
    };
    let mut topics = Vec::new();
    let requested = match req.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(list),
    };
    match requested {
        None => {
            // Kafka leaves out the topics the principal may not DESCRIBE.
            for t in b.topics.all() {
                if ctx.authorized_topic(acl::op::DESCRIBE, &t.name) {
                    topics.push(describe_for(ctx, &t, with_ops, &live, &offline(&t)));
                }
            }
        }
        Some(list) => {
            let may_create =
                b.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
            // Before saying a topic does not exist, make sure it was not created through another
            // broker a moment ago: one read of the active controller's commit index per request.
            let image = b.topics.image();
            let missing = list.iter().any(|t| match &t.name {
                Some(n) if !n.0.is_empty() || t.topic_id.is_nil() => {
                    image.topic(n.0.as_str()).is_none()
                }
                _ => image.topic_by_id(&t.topic_id).is_none(),
            });
            drop(image);
            // (On the active controller too: its image follows the applied log a moment later.)
            if missing && !may_create && !cluster {
                super::catch_up(b, super::CATCH_UP_LONG).await;
            }
            // Distinct names and ids (a repeated entry is answered once, at its first place).
            let mut seen_names = HashSet::new();
            let mut seen_ids = HashSet::new();
            for rt in list {
                let by_name = rt.name.filter(|n| !n.0.is_empty() || rt.topic_id.is_nil());
                let first = match &by_name {
                    Some(name) => seen_names.insert(name.0.clone()),
                    None => seen_ids.insert(rt.topic_id),
                };
                if !first {
                    continue;
                }
                // A topic the principal may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED whether it
                // exists or not (Kafka reveals nothing more); by id, without its name.
                let denied = ResponseError::TopicAuthorizationFailed;
                let topic: Result<Arc<TopicImage>, (Option<String>, ResponseError)> = match by_name
                {
                    Some(name) => {
                        let name = name.0.to_string();
                        if !ctx.authorized_topic(acl::op::DESCRIBE, &name) {
                            Err((Some(name), denied))
                        } else {
                            match b.topics.get(&name) {
                                Some(t) => Ok(t),
                                None if may_create && !may_create_topic(ctx, &name) => {
                                    Err((Some(name), denied))
                                }
                                None if may_create => {
                                    auto_create(b, &name).await.map_err(|e| (Some(name), e))
                                }
                                None => Err((Some(name), ResponseError::UnknownTopicOrPartition)),
                            }
                        }
                    }
                    None => match b.topics.get_by_id(&rt.topic_id) {
                        None => Err((None, ResponseError::UnknownTopicId)),
                        Some(t) if !ctx.authorized_topic(acl::op::DESCRIBE, &t.name) => {
                            Err((None, denied))
                        }
                        Some(t) => Ok(t),
                    },
                };
                topics.push(match topic {
                    Ok(t) => describe_for(ctx, &t, with_ops, &live, &offline(&t)),
                    Err((name, e)) => error_topic(name, rt.topic_id, e, version),
                });
            }
        }
    }
    let controller = ctx.controller_id(&brokers);
    let brokers = brokers
        .into_iter()
        .map(|(id, host, port, rack)| {
            let mut out = MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port);
            if version >= 1 {
                out.rack = rack;
            }
            out
        })
        .collect();
    let mut r = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(s(b.cluster_id.clone())))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics);
    if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        r.cluster_authorized_operations = cluster_operations(ctx);
    }
    r
}

/// The cluster's authorized operations as Kafka's Metadata and DescribeCluster give them: the
/// bit field when the principal may DESCRIBE the cluster, else 0.
pub(crate) fn cluster_operations(ctx: &RequestContext<'_>) -> i32 {
    if ctx.authorized_cluster(acl::op::DESCRIBE) {
        ctx.authorized_operations(acl::resource::CLUSTER, acl::CLUSTER_NAME)
    } else {
        0
    }
}

/// Whether the principal may create `topic`: CREATE on the cluster or on the topic (Kafka's
/// CreateTopics and auto-creation rule).
pub(crate) fn may_create_topic(ctx: &RequestContext<'_>, topic: &str) -> bool {
    ctx.authorized_cluster(acl::op::CREATE) || ctx.authorized_topic(acl::op::CREATE, topic)
}

/// [`describe`] with the topic's authorized operations when asked for (v8+).
fn describe_for(
    ctx: &RequestContext<'_>,
    t: &TopicImage,
    with_ops: bool,
    live: &HashSet<i32>,
    me: &dyn Fn(i32) -> Option<i32>,
) -> MetadataResponseTopic {
    let mut out = describe(t, ctx.version, live, me);
    if ctx.version >= 8 && with_ops {
        out.topic_authorized_operations = ctx.authorized_operations(acl::resource::TOPIC, &t.name);
    }
    out
}

async fn auto_create(b: &Broker, name: &str) -> Result<Arc<TopicImage>, ResponseError> {
    if let Err(e) = validate_name(name) {
        return Err(topic_error(&e));
    }
    let topics = b.topics.clone();
    let n = name.to_string();
    // An internal topic gets its coordinator's layout (partitions, compaction), never the
    // defaults of an ordinary topic.
    let created = if name == OFFSETS_TOPIC {
        let groups = b.groups.clone();
        blocking(move || groups.ensure_offsets_topic()).await
    } else if name == TXN_TOPIC {
        let txn = b.txn.clone();
        blocking(move || txn.ensure_state_topic()).await
    } else if is_internal_topic(name) {
        return Err(ResponseError::UnknownTopicOrPartition);
    } else {
        blocking(move || topics.create(&n, -1, -1, &[], &[])).await
    };
    match created {
        Ok(t) => {
            info!(topic = name, "auto-created topic from a Metadata request");
            Ok(t)
        }
        Err(TopicError::AlreadyExists(_)) => b
            .topics
            .get(name)
            .ok_or(ResponseError::UnknownTopicOrPartition),
        Err(e) => Err(topic_error(&e)),
    }
}
