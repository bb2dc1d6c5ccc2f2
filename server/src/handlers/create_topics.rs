//! CreateTopics: validates names, partition counts, replication factor (1 on one node),
//! manual assignments and per-topic configs; honours `validate_only`; answers v5+ with the
//! topic's id, counts and effective configs. Internal topics are refused (INVALID_REQUEST
//! "Creation of internal topic … is prohibited."): only the broker creates them, with their
//! coordinators' layout. With an authorizer (issue 14): CREATE on the cluster or the topic, else
//! TOPIC_AUTHORIZATION_FAILED.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use tracing::info;

use super::{blocking, s, topic_error, RequestContext};
use crate::config::TopicConfig;
use crate::context::Broker;
use crate::topics::check_request_partitions;
use crate::topics::{refuse_client_admin, ClientAdmin};

/// DescribeConfigs source ids used in the v5+ answer.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *counts.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    let asked = req
        .topics
        .iter()
        .map(|t| (t.num_partitions, t.assignments.len()));
    let too_many = check_request_partitions(asked, b.config.num_partitions).err();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatableTopicResult::default().with_name(t.name.clone());
        r.num_partitions = -1;
        r.replication_factor = -1;
        if let Some(e) = &too_many {
            r.error_code = topic_error(e).code();
            r.error_message = Some(s(e.to_string()));
            results.push(r);
            continue;
        }
        if counts.get(&name).copied().unwrap_or(0) > 1 {
            r.error_code = ResponseError::InvalidRequest.code();
            r.error_message = Some(s(format!(
                "Create topics request from client contains a duplicate topic {name}"
            )));
            results.push(r);
            continue;
        }
        // CREATE on the cluster or on the topic (Kafka's ControllerApis.createTopics).
        if !super::metadata::may_create_topic(ctx, &name) {
            r.error_code = ResponseError::TopicAuthorizationFailed.code();
            r.error_message = Some(s("Authorization failed."));
            results.push(r);
            continue;
        }
        if let Some(msg) = refuse_client_admin(ClientAdmin::Create, &name) {
            tracing::info!(topic = %name, peer = %ctx.peer, "refused a client's creation of an internal topic");
            r.error_code = ResponseError::InvalidRequest.code();
            r.error_message = Some(s(msg));
            results.push(r);
            continue;
        }
        let assignments: Vec<(i32, Vec<i32>)> = t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|id| id.0).collect(),
                )
            })
            .collect();
        let configs: Vec<(String, Option<String>)> = t
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.value.as_ref().map(ToString::to_string),
                )
            })
            .collect();
        let topics = b.topics.clone();
        let (np, rf, validate_only) = (t.num_partitions, t.replication_factor, req.validate_only);
        let n = name.clone();
        let outcome = blocking(move || {
            let cfg: Vec<(&str, Option<&str>)> = configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            if validate_only {
                topics
                    .check_create(&n, np, rf, &assignments, &cfg)
                    .map(|(parts, tc)| (None, parts, tc))
            } else {
                topics
                    .create(&n, np, rf, &assignments, &cfg)
                    .map(|t| (Some(t.id), t.partition_count(), t.config().clone()))
            }
        })
        .await;
        match outcome {
            Ok((id, partitions, tc)) => {
                if let Some(id) = id {
                    r.topic_id = id;
                } else {
                    info!(topic = %name, "validated topic creation (validate_only)");
                }
                if version >= 5 {
                    r.num_partitions = partitions;
                    r.replication_factor = 1;
                    r.configs = Some(describe_configs(&tc, b));
                }
            }
            Err(e) => {
                r.error_code = topic_error(&e).code();
                r.error_message = Some(s(e.to_string()));
            }
        }
        results.push(r);
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn describe_configs(tc: &TopicConfig, b: &Broker) -> Vec<CreatableTopicConfigs> {
    tc.describe(&b.config.log_defaults)
        .into_iter()
        .map(|(name, value, explicit)| {
            CreatableTopicConfigs::default()
                .with_name(s(name))
                .with_value(Some(s(value)))
                .with_config_source(if explicit {
                    SOURCE_TOPIC
                } else {
                    SOURCE_DEFAULT
                })
        })
        .collect()
}
