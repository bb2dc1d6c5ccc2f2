//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//!
//! Topics: every topic config with its effective value and source (topic override, broker
//! property set at start, or Kafka default), synonyms on request; changes are validated as a
//! whole, applied to every partition's log at once and persisted (they survive restarts).
//! Brokers: every broker property, read-only (no dynamic broker configs yet).

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

use super::{blocking, s, topic_error};
use crate::config::{broker_synonym, BrokerConfig, TopicConfig, PROPERTIES};
use crate::context::Broker;
use crate::topics::TopicError;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

/// DescribeConfigs source ids.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// Kafka's ConfigType ids (DescribeConfigs v3+).
fn config_type(name: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const LONG: i8 = 5;
    const DOUBLE: i8 = 6;
    const LIST: i8 = 7;
    match name {
        "cleanup.policy"
        | "log.cleanup.policy"
        | "listeners"
        | "advertised.listeners"
        | "log.dirs" => LIST,
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => DOUBLE,
        "compression.type" | "message.timestamp.type" | "log.message.timestamp.type" => STRING,
        "auto.create.topics.enable" | "delete.topic.enable" | "log.cleaner.enable" => BOOLEAN,
        "segment.bytes"
        | "segment.index.bytes"
        | "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas"
        | "node.id"
        | "num.partitions"
        | "message.max.bytes"
        | "socket.request.max.bytes"
        | "max.connections"
        | "log.segment.bytes"
        | "log.index.interval.bytes"
        | "log.index.size.max.bytes"
        | "log.roll.hours"
        | "log.retention.hours"
        | "log.retention.minutes" => INT,
        "default.replication.factor" => 4,
        _ => LONG,
    }
}

fn is_default(broker: &BrokerConfig, name: &str) -> bool {
    let default = PROPERTIES
        .iter()
        .find(|p| p.name == name)
        .map_or("", |p| p.default);
    broker.values.get(name).is_none_or(|v| v == default)
}

pub(crate) fn describe(
    b: &Broker,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let mut out = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let wanted = |name: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            let entry =
                |name: &str, value: String, source: i8, synonyms: Vec<DescribeConfigsSynonym>| {
                    let mut e = DescribeConfigsResourceResult::default()
                        .with_name(s(name))
                        .with_value(Some(s(value)))
                        .with_config_source(source)
                        .with_read_only(source != SOURCE_TOPIC && r.resource_type == BROKER);
                    if version >= 1 && req.include_synonyms {
                        e.synonyms = synonyms;
                    }
                    if version >= 3 {
                        e.config_type = config_type(name);
                    }
                    e
                };
            match r.resource_type {
                TOPIC => match b.topics.get(r.resource_name.as_str()) {
                    None => {
                        out.error_code = ResponseError::UnknownTopicOrPartition.code();
                        out.error_message = Some(s(format!(
                            "Topic {} does not exist",
                            r.resource_name.as_str()
                        )));
                    }
                    Some(t) => {
                        for (name, value, explicit) in t.config().describe(&b.config.log_defaults) {
                            if !wanted(&name) {
                                continue;
                            }
                            let mut synonyms = Vec::new();
                            let mut source = SOURCE_DEFAULT;
                            if explicit {
                                source = SOURCE_TOPIC;
                                synonyms.push(
                                    DescribeConfigsSynonym::default()
                                        .with_name(s(name.clone()))
                                        .with_value(Some(s(value.clone())))
                                        .with_source(SOURCE_TOPIC),
                                );
                            }
                            if let Some(prop) = broker_synonym(&name) {
                                let static_set = !is_default(&b.config, prop);
                                if static_set && !explicit {
                                    source = SOURCE_STATIC_BROKER;
                                }
                                synonyms.push(
                                    DescribeConfigsSynonym::default()
                                        .with_name(s(prop))
                                        .with_value(
                                            b.config
                                                .values
                                                .get(prop)
                                                .filter(|v| !v.is_empty())
                                                .map(|v| s(v.clone())),
                                        )
                                        .with_source(if static_set {
                                            SOURCE_STATIC_BROKER
                                        } else {
                                            SOURCE_DEFAULT
                                        }),
                                );
                            }
                            out.configs.push(entry(&name, value, source, synonyms));
                        }
                    }
                },
                // An empty name means the cluster-wide dynamic defaults: Kafka lists only those,
                // and minikafka has none.
                BROKER if r.resource_name.is_empty() => {}
                BROKER if r.resource_name.as_str() == b.config.node_id.to_string() => {
                    for p in PROPERTIES {
                        if !wanted(p.name) {
                            continue;
                        }
                        let value = b.config.values.get(p.name).cloned().unwrap_or_default();
                        let source = if is_default(&b.config, p.name) {
                            SOURCE_DEFAULT
                        } else {
                            SOURCE_STATIC_BROKER
                        };
                        let synonyms = vec![DescribeConfigsSynonym::default()
                            .with_name(s(p.name))
                            .with_value(Some(s(value.clone())))
                            .with_source(source)];
                        let mut e = entry(p.name, value, source, synonyms);
                        e.read_only = true;
                        out.configs.push(e);
                    }
                }
                BROKER => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(s(format!(
                        "Unexpected broker id, expected {} or empty string, but received {}",
                        b.config.node_id,
                        r.resource_name.as_str()
                    )));
                }
                BROKER_LOGGER => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message =
                        Some(s("broker logger configs are not supported by minikafka"));
                }
                other => {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(s(format!("unsupported resource type {other}")));
                }
            }
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
                        if name != "cleanup.policy" {
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
    Ok(TopicConfig::from_overrides(
        overrides
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        broker,
    )?)
}

/// Validate and (unless `validate_only`) apply one resource's change. Returns the error code
/// and message for the resource.
async fn alter_one(
    b: &Broker,
    resource_type: i8,
    name: &StrBytes,
    change: Change,
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
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

pub(crate) async fn alter(b: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
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
            b,
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
    b: &Broker,
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
            b,
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
