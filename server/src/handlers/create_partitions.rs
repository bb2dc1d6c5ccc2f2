//! CreatePartitions: grow a topic's partition count (never shrink), with `validate_only` and
//! manual assignments checked against the single node.

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
    let node = b.config.node_id;
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
        } else if let Some(msg) = refuse_client_admin(ClientAdmin::AddPartitions, &name) {
            fail(&mut r, ResponseError::InvalidRequest, msg);
        } else if let Some(topic) = b.topics.get(&name) {
            let current = topic.partition_count();
            let bad_assignment = t.assignments.as_ref().filter(|a| !a.is_empty()).and_then(|a| {
                let new = usize::try_from(t.count.saturating_sub(current)).unwrap_or(0);
                if a.len() != new {
                    Some(format!("Increasing the number of partitions by {new} but {} assignments provided.", a.len()))
                } else {
                    a.iter()
                        .find(|x| x.broker_ids.iter().map(|id| id.0).collect::<Vec<_>>() != [node])
                        .map(|x| format!("Replica assignment {:?} is invalid on the single broker {node}", x.broker_ids))
                }
            });
            if let Some(msg) = bad_assignment.filter(|_| t.count > current) {
                fail(&mut r, ResponseError::InvalidReplicaAssignment, msg);
            } else {
                let topics = b.topics.clone();
                let (count, validate_only) = (t.count, req.validate_only);
                if let Err(e) =
                    blocking(move || topics.add_partitions(&topic, count, validate_only)).await
                {
                    fail(&mut r, topic_error(&e), e.to_string());
                }
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
