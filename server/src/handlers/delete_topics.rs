//! DeleteTopics: by name (v0-5) or by name or topic id (v6). Internal topics are never deleted
//! by a client (INVALID_REQUEST "Deletion of internal topic … is prohibited."), stricter than
//! Kafka without an authorizer, on purpose: one command must not lose every group's offsets.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::{blocking, s, topic_error, RequestContext};
use crate::acl;
use crate::topics::{refuse_client_admin, ClientAdmin};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let targets: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let mut out = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default().with_name(name.clone());
        if version >= 6 {
            r.topic_id = id;
        }
        let topic = match &name {
            Some(n) => b
                .topics
                .get(n.0.as_str())
                .ok_or(ResponseError::UnknownTopicOrPartition),
            None => b.topics.get_by_id(&id).ok_or(ResponseError::UnknownTopicId),
        };
        // DELETE on the topic (by name: before existence, as Kafka; by id: once resolved, and
        // without DESCRIBE the id is answered as unknown).
        let topic = match (topic, &name) {
            (Err(_), Some(n)) if !ctx.authorized_topic(acl::op::DELETE, n.0.as_str()) => {
                Err(ResponseError::TopicAuthorizationFailed)
            }
            (Ok(t), None) if !ctx.authorized_topic(acl::op::DESCRIBE, &t.name) => {
                Err(ResponseError::UnknownTopicId)
            }
            (Ok(t), _) if !ctx.authorized_topic(acl::op::DELETE, &t.name) => {
                Err(ResponseError::TopicAuthorizationFailed)
            }
            (other, _) => other,
        };
        let refused = topic
            .as_ref()
            .ok()
            .and_then(|t| refuse_client_admin(ClientAdmin::Delete, &t.name));
        match topic {
            Err(e) => r.error_code = e.code(),
            Ok(t) if refused.is_some() => {
                tracing::info!(topic = %t.name, peer = %ctx.peer, "refused a client's deletion of an internal topic");
                r.error_code = ResponseError::InvalidRequest.code();
                r.error_message = refused.map(s);
            }
            Ok(_) if !b.config.delete_topic_enable => {
                r.error_code = ResponseError::TopicDeletionDisabled.code();
                r.error_message =
                    Some(s("Topic deletion is disabled (delete.topic.enable=false)."));
            }
            Ok(t) => {
                if version >= 6 {
                    r.name = Some(TopicName(s(t.name.clone())));
                    r.topic_id = t.id;
                }
                let topics = b.topics.clone();
                if let Err(e) = blocking(move || topics.delete(&t)).await {
                    r.error_code = topic_error(&e).code();
                    r.error_message = Some(s(e.to_string()));
                }
            }
        }
        out.push(r);
    }
    DeleteTopicsResponse::default().with_responses(out)
}
