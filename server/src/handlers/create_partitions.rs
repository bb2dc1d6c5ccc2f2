//! CreatePartitions: grow a topic's partition count (never shrink), with `validate_only`, placed
//! over the live brokers or on the brokers of the request's manual assignments
//! (`kafka-topics --alter --partitions N --replica-assignment ...`), which
//! [`crate::topics::Topics::add_partitions`] checks as Kafka's controller does
//! (INVALID_REPLICA_ASSIGNMENT).

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{blocking, s, topic_error, RequestContext};
use crate::topics::{refuse_client_admin, ClientAdmin};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let b = ctx.broker;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *counts.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let name = t.name.0.to_string();
        let fail = |r: &mut CreatePartitionsTopicResult, e: ResponseError, msg: String| {
            r.error_code = e.code();
            r.error_message = Some(s(msg));
        };
        if counts.get(&name).copied().unwrap_or(0) > 1 {
            fail(
                &mut r,
                ResponseError::InvalidRequest,
                format!("Duplicate topic {name} in the request"),
            );
        } else if !ctx.authorized_topic(crate::acl::op::ALTER, &name) {
            // ALTER on the topic (Kafka), before existence.
            fail(
                &mut r,
                ResponseError::TopicAuthorizationFailed,
                "Authorization failed.".into(),
            );
        } else if let Some(msg) = refuse_client_admin(ClientAdmin::AddPartitions, &name) {
            fail(&mut r, ResponseError::InvalidRequest, msg);
        } else if let Some(topic) = b.topics.get(&name) {
            let assignments: Vec<Vec<i32>> = t
                .assignments
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.broker_ids.into_iter().map(|id| id.0).collect())
                .collect();
            let topics = b.topics.clone();
            let (count, validate_only) = (t.count, req.validate_only);
            if let Err(e) =
                blocking(move || topics.add_partitions(&topic, count, &assignments, validate_only))
                    .await
            {
                fail(&mut r, topic_error(&e), e.to_string());
            }
        } else {
            fail(
                &mut r,
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            );
        }
        results.push(r);
    }
    CreatePartitionsResponse::default().with_results(results)
}
