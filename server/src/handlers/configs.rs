//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//!
//! Topics: every topic config with its effective value and source (topic override, broker
//! property set at start, or Kafka default), synonyms on request; changes are validated as a
//! whole, applied to every partition's log at once and persisted (they survive restarts).
//! Brokers: every broker property, read-only (no dynamic broker configs yet).
//!
//! What is described (values, sources, synonym chains, types, docs) is derived in
//! [`crate::config`] from the property declarations; this file only puts it on the wire.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{blocking, s, topic_error, RequestContext};
use crate::acl;
use crate::config::properties::topic_property;
use crate::config::{BrokerConfig, ConfigType, Described, TopicConfig};
use crate::topics::TopicError;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

/// One described config on the wire, at the request's version.
fn entry(d: Described, version: i16, synonyms: bool, docs: bool) -> DescribeConfigsResourceResult {
    // Kafka never shows a password's value (`is_sensitive`, value null).
    let sensitive = d.kind == ConfigType::Password;
    let shown = |v: Option<String>| v.filter(|_| !sensitive).map(s);
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(s(d.name))
        .with_value(shown(d.value))
        .with_config_source(d.source.id())
        .with_read_only(d.read_only)
        .with_is_sensitive(sensitive);
    if synonyms {
        e.synonyms = d
            .synonyms
            .into_iter()
            .map(|y| {
                DescribeConfigsSynonym::default()
                    .with_name(s(y.name))
                    .with_value(shown(y.value))
                    .with_source(y.source.id())
            })
            .collect();
    }
    if version >= 3 {
        e.config_type = d.kind.id();
        e.documentation = docs.then(|| s(d.doc));
    }
    e
}

pub(crate) async fn describe(
    ctx: &RequestContext<'_>,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    // A topic's config altered through another broker a moment ago is answered as altered.
    if !b.config.quorum.single_node() && req.resources.iter().any(|r| r.resource_type == TOPIC) {
        super::catch_up(b, super::CATCH_UP_SHORT).await;
    }
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let mut out = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let name = r.resource_name.as_str();
            if let Some(e) = config_denied(ctx, r.resource_type, name, acl::op::DESCRIBE_CONFIGS) {
                out.error_code = e.code();
                return out;
            }
            let described = match r.resource_type {
                TOPIC => match b.topics.get(r.resource_name.as_str()) {
                    None => {
                        out.error_code = ResponseError::UnknownTopicOrPartition.code();
                        out.error_message = Some(s(format!(
                            "Topic {} does not exist",
                            r.resource_name.as_str()
                        )));
                        Vec::new()
                    }
                    Some(t) => t.config().describe_configs(&b.config),
                },
                // An empty name means the cluster-wide dynamic defaults: Kafka lists only those,
                // and minikafka has none.
                BROKER if r.resource_name.is_empty() => Vec::new(),
                BROKER if r.resource_name.as_str() == b.config.node_id.to_string() => {
                    b.config.describe()
                }
                BROKER => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(s(format!(
                        "Unexpected broker id, expected {} or empty string, but received {}",
                        b.config.node_id,
                        r.resource_name.as_str()
                    )));
                    Vec::new()
                }
                BROKER_LOGGER => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message =
                        Some(s("broker logger configs are not supported by minikafka"));
                    Vec::new()
                }
                other => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(s(format!("unsupported resource type {other}")));
                    Vec::new()
                }
            };
            let wanted = |name: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            out.configs = described
                .into_iter()
                .filter(|d| wanted(d.name))
                .map(|d| entry(d, version, req.include_synonyms, req.include_documentation))
                .collect();
            out
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// One resource's requested change, in a form both alter APIs share.
enum Change {
    /// AlterConfigs: the new complete set of overrides.
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: (name, op, value); op 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
    Incremental(Vec<(String, i8, Option<String>)>),
}

fn apply(
    current: &TopicConfig,
    change: Change,
    broker: &BrokerConfig,
) -> Result<TopicConfig, TopicError> {
    let mut overrides = match &change {
        Change::Replace(_) => std::collections::BTreeMap::new(),
        Change::Incremental(_) => current.overrides.clone(),
    };
    match change {
        Change::Replace(pairs) => {
            for (name, value) in pairs {
                if let Some(v) = value {
                    overrides.insert(name, v);
                }
            }
        }
        Change::Incremental(ops) => {
            for (name, op, value) in ops {
                let list = |m: &std::collections::BTreeMap<String, String>| -> Vec<String> {
                    let effective = m.get(&name).cloned().unwrap_or_else(|| {
                        TopicConfig::default()
                            .describe(&broker.log_defaults)
                            .into_iter()
                            .find(|(n, _, _)| *n == name)
                            .map(|(_, v, _)| v)
                            .unwrap_or_default()
                    });
                    effective
                        .split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                };
                match op {
                    0 => {
                        let v = value.ok_or_else(|| {
                            TopicError::InvalidRequest(format!("no value to set for {name}"))
                        })?;
                        overrides.insert(name, v);
                    }
                    1 => {
                        overrides.remove(&name);
                    }
                    2 | 3 => {
                        // Kafka allows these on LIST-typed configs only (here: cleanup.policy).
                        let is_list = topic_property(&name)
                            .is_some_and(|t| t.base().kind == ConfigType::List);
                        if !is_list {
                            return Err(TopicError::InvalidRequest(format!(
                                "Config value append/subtract is not allowed for config key {name}: it is not a list"
                            )));
                        }
                        let mut items = list(&overrides);
                        for v in value
                            .unwrap_or_default()
                            .split(',')
                            .map(str::trim)
                            .filter(|x| !x.is_empty())
                        {
                            if op == 2 && !items.iter().any(|i| i == v) {
                                items.push(v.to_string());
                            } else if op == 3 {
                                items.retain(|i| i != v);
                            }
                        }
                        overrides.insert(name, items.join(","));
                    }
                    other => {
                        return Err(TopicError::InvalidRequest(format!(
                            "unknown config operation {other}"
                        )))
                    }
                }
            }
        }
    }
    Ok(current.altered(&overrides, broker)?)
}

/// Validate and (unless `validate_only`) apply one resource's change. Returns the error code
/// and message for the resource.
async fn alter_one(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &StrBytes,
    change: Change,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    let b = ctx.broker;
    if let Some(e) = config_denied(ctx, resource_type, name.as_str(), acl::op::ALTER_CONFIGS) {
        return (e.code(), None);
    }
    match resource_type {
        TOPIC => {
            let Some(topic) = b.topics.get(name.as_str()) else {
                return (
                    ResponseError::UnknownTopicOrPartition.code(),
                    Some(s(format!("Topic {} does not exist", name.as_str()))),
                );
            };
            let new = match apply(topic.config(), change, &b.config) {
                Ok(c) => c,
                Err(e) => return (topic_error(&e).code(), Some(s(e.to_string()))),
            };
            if validate_only {
                return (0, None);
            }
            let topics = b.topics.clone();
            match blocking(move || topics.set_config(&topic, new)).await {
                Ok(()) => (0, None),
                Err(e) => (topic_error(&e).code(), Some(s(e.to_string()))),
            }
        }
        BROKER | BROKER_LOGGER => (
            ResponseError::InvalidConfig.code(),
            Some(s(
                "minikafka has no dynamic broker configs yet; set broker properties at start",
            )),
        ),
        other => (
            ResponseError::InvalidRequest.code(),
            Some(s(format!("unsupported resource type {other}"))),
        ),
    }
}

/// Kafka's authorization of config APIs (issue 14): `operation` (DESCRIBE_CONFIGS or
/// ALTER_CONFIGS) on the topic (TOPIC_AUTHORIZATION_FAILED) or, for a broker or broker logger,
/// on the cluster (CLUSTER_AUTHORIZATION_FAILED).
fn config_denied(
    ctx: &RequestContext<'_>,
    resource_type: i8,
    name: &str,
    operation: i8,
) -> Option<ResponseError> {
    match resource_type {
        TOPIC if !ctx.authorized_topic(operation, name) => {
            Some(ResponseError::TopicAuthorizationFailed)
        }
        BROKER | BROKER_LOGGER if !ctx.authorized_cluster(operation) => {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    }
}

pub(crate) async fn alter(
    ctx: &RequestContext<'_>,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let change = Change::Replace(
            r.configs
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        c.value.as_ref().map(ToString::to_string),
                    )
                })
                .collect(),
        );
        let (code, msg) = alter_one(
            ctx,
            r.resource_type,
            &r.resource_name,
            change,
            req.validate_only,
        )
        .await;
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

pub(crate) async fn incremental_alter(
    ctx: &RequestContext<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let change = Change::Incremental(
            r.configs
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        c.config_operation,
                        c.value.as_ref().map(ToString::to_string),
                    )
                })
                .collect(),
        );
        let (code, msg) = alter_one(
            ctx,
            r.resource_type,
            &r.resource_name,
            change,
            req.validate_only,
        )
        .await;
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
