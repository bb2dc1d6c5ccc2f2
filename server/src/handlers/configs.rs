//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//!
//! Topics: every topic config with its effective value and source (topic override, broker
//! property set at start, or Kafka default), synonyms on request; changes are validated as a
//! whole, applied to every partition's log at once and persisted (they survive restarts).
//! Brokers: every broker property (read-only: set at start), plus the dynamic broker configs
//! kept in the metadata log, per broker or as the cluster default (empty name) — Kafka's
//! replication throttles, which `kafka-reassign-partitions --throttle` sets and `--verify`
//! removes (see [`crate::replica::quota`]). Other broker configs cannot be altered at run time.
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
use std::collections::BTreeMap;

use crate::acl;
use crate::config::properties::{
    dynamic_broker_property, topic_property, Property, DYNAMIC_BROKER_PROPERTIES,
};
use crate::config::{BrokerConfig, ConfigType, Described, Source, Synonym, TopicConfig};
use crate::context::Broker;
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
    if !b.config.quorum.single_node()
        && req
            .resources
            .iter()
            .any(|r| r.resource_type == TOPIC || r.resource_type == BROKER)
    {
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
                // An empty name means the cluster-wide dynamic defaults: Kafka lists only those.
                BROKER if r.resource_name.is_empty() => dynamic_defaults(b),
                BROKER if r.resource_name.as_str() == b.config.node_id.to_string() => {
                    let mut all = b.config.describe();
                    all.extend(dynamic_of(b));
                    all
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

/// The dynamic broker configs set as the cluster default.
fn dynamic_defaults(b: &Broker) -> Vec<Described> {
    let image = b.topics.image();
    let Some(set) = image.broker_configs("") else {
        return Vec::new();
    };
    DYNAMIC_BROKER_PROPERTIES
        .iter()
        .filter_map(|p| {
            let v = set.get(p.name)?;
            let synonym = Synonym {
                name: p.name,
                value: Some(v.clone()),
                source: Source::DynamicDefaultBroker,
            };
            Some(dynamic_described(p, v, vec![synonym]))
        })
        .collect()
}

/// The dynamic broker configs in effect on this broker (its own, else the cluster default),
/// with both as synonyms, most specific first.
fn dynamic_of(b: &Broker) -> Vec<Described> {
    let image = b.topics.image();
    let own = image.broker_configs(&b.config.node_id.to_string());
    let default = image.broker_configs("");
    DYNAMIC_BROKER_PROPERTIES
        .iter()
        .filter_map(|p| {
            let mut synonyms = Vec::new();
            for (set, source) in [
                (own, Source::DynamicBroker),
                (default, Source::DynamicDefaultBroker),
            ] {
                if let Some(v) = set.and_then(|c| c.get(p.name)) {
                    synonyms.push(Synonym {
                        name: p.name,
                        value: Some(v.clone()),
                        source,
                    });
                }
            }
            let value = synonyms.first()?.value.clone()?;
            Some(dynamic_described(p, &value, synonyms))
        })
        .collect()
}

fn dynamic_described(p: &Property, value: &str, synonyms: Vec<Synonym>) -> Described {
    Described {
        name: p.name,
        value: Some(value.to_string()),
        source: synonyms.first().map_or(Source::Default, |s| s.source),
        synonyms,
        kind: p.kind,
        doc: p.doc,
        read_only: false,
    }
}

/// The new dynamic configs of a broker entity after `change`, validated as Kafka's
/// `ConfigAdminManager` does; else the error code and message.
fn broker_change(
    current: &BTreeMap<String, String>,
    change: Change,
) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    let invalid = |m: String| (ResponseError::InvalidRequest, m);
    let mut out = match &change {
        Change::Replace(_) => BTreeMap::new(),
        Change::Incremental(_) => current.clone(),
    };
    let ops: Vec<(String, i8, Option<String>)> = match change {
        Change::Replace(pairs) => pairs.into_iter().map(|(n, v)| (n, 0, v)).collect(),
        Change::Incremental(ops) => ops,
    };
    for (name, op, value) in ops {
        let Some(p) = dynamic_broker_property(&name) else {
            let why = if crate::config::properties::property(&name).is_some() {
                format!(
                    "Cannot update these configs dynamically: Set({name}) (minikafka's dynamic \
                     broker configs: {}; set the others at start)",
                    dynamic_names()
                )
            } else {
                format!("Unknown broker config {name}")
            };
            return Err(invalid(why));
        };
        match op {
            0 => {
                let Some(v) = value else {
                    return Err(invalid(format!("no value to set for {name}")));
                };
                if let Some(reason) = p.check.reason(&v) {
                    return Err(invalid(format!(
                        "Invalid value {v} for configuration {name}: {reason}"
                    )));
                }
                out.insert(name, v.trim().to_string());
            }
            1 => {
                out.remove(&name);
            }
            2 | 3 => {
                return Err(invalid(format!(
                    "Config value append/subtract is not allowed for config key {name}: it is not a list"
                )))
            }
            other => return Err(invalid(format!("unknown config operation {other}"))),
        }
    }
    Ok(out)
}

fn dynamic_names() -> String {
    DYNAMIC_BROKER_PROPERTIES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
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
        BROKER => {
            let entity = name.as_str();
            if !entity.is_empty() && entity.parse::<u32>().is_err() {
                return (
                    ResponseError::InvalidRequest.code(),
                    Some(s(format!(
                        "Invalid broker id {entity}: an integer or empty"
                    ))),
                );
            }
            let image = b.topics.image();
            let empty = BTreeMap::new();
            let current = image.broker_configs(entity).unwrap_or(&empty);
            let new = match broker_change(current, change) {
                Ok(n) => n,
                Err((e, m)) => return (e.code(), Some(s(m))),
            };
            if validate_only {
                return (0, None);
            }
            let topics = b.topics.clone();
            let entity = entity.to_string();
            match blocking(move || topics.set_broker_configs(&entity, &new)).await {
                Ok(()) => (0, None),
                Err(e) => (topic_error(&e).code(), Some(s(e.to_string()))),
            }
        }
        BROKER_LOGGER => (
            ResponseError::InvalidConfig.code(),
            Some(s("minikafka has no broker logger configs")),
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
