//! Request dispatch: the table of implemented APIs (which is also exactly what ApiVersions
//! advertises) and the routing of each decoded request to its handler in `handlers/`.

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use tokio_util::sync::CancellationToken;

use crate::context::Broker;
use crate::handlers;
use crate::zero_copy::Reply;

/// Every implemented API with the version range served. Ranges are as wide as the
/// `kafka-protocol` codecs allow, matching Kafka 4.x. Produce starts at 0 and FindCoordinator is
/// listed because librdkafka < 2.x-era clients (Debian's kcat 1.7.1 with librdkafka 2.0.2) turn
/// compression off unless Produce/Fetch/FindCoordinator are advertised the way Kafka does
/// (Kafka 4.0 also advertises Produce v0-2, KAFKA-18659; such old requests are refused).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::InitProducerId, 0, 6),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
];

/// The served version range of `key`, if implemented.
pub fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

/// The ApiVersions answer to a version we do not know: v0 layout, UNSUPPORTED_VERSION, and our
/// API list so the client can pick a version.
pub(crate) fn api_versions_unsupported() -> kafka_protocol::messages::ApiVersionsResponse {
    let mut r = handlers::api_versions::response();
    r.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
    r
}

/// Run one request. `None` means no response is sent (Produce with acks=0).
pub(crate) async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    peer: std::net::SocketAddr,
    request: RequestKind,
    shutdown: &CancellationToken,
) -> Option<Reply> {
    let v = header.request_api_version;
    let client_id = header.client_id.as_deref().unwrap_or("");
    let ctx = handlers::RequestContext { peer, client_id };
    let body: ResponseKind = match request {
        RequestKind::ApiVersions(_) => handlers::api_versions::response().into(),
        RequestKind::Metadata(r) => handlers::metadata::handle(broker, r, v).await.into(),
        RequestKind::Produce(r) => {
            return handlers::produce::handle(broker, r, v)
                .await
                .map(Reply::from)
        }
        RequestKind::Fetch(r) => {
            return Some(handlers::fetch::handle(broker, r, v, shutdown).await)
        }
        RequestKind::ListOffsets(r) => handlers::list_offsets::handle(broker, r, v).into(),
        RequestKind::FindCoordinator(r) => handlers::find_coordinator::handle(broker, r, v)
            .await
            .into(),
        RequestKind::JoinGroup(r) => handlers::join_group::handle(broker, r, v, &ctx, shutdown)
            .await
            .into(),
        RequestKind::SyncGroup(r) => handlers::sync_group::handle(broker, r, shutdown)
            .await
            .into(),
        RequestKind::Heartbeat(r) => handlers::heartbeat::handle(broker, r).into(),
        RequestKind::LeaveGroup(r) => handlers::leave_group::handle(broker, r, v).await.into(),
        RequestKind::OffsetCommit(r) => handlers::offset_commit::handle(broker, r, v).await.into(),
        RequestKind::OffsetFetch(r) => handlers::offset_fetch::handle(broker, r, v).into(),
        RequestKind::OffsetDelete(r) => handlers::offset_delete::handle(broker, r).await.into(),
        RequestKind::DescribeGroups(r) => handlers::describe_groups::handle(broker, r, v).into(),
        RequestKind::ListGroups(r) => handlers::list_groups::handle(broker, r).into(),
        RequestKind::DeleteGroups(r) => handlers::delete_groups::handle(broker, r).await.into(),
        RequestKind::ConsumerGroupHeartbeat(r) => {
            handlers::consumer_group_heartbeat::handle(broker, r, &ctx)
                .await
                .into()
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            handlers::consumer_group_describe::handle(broker, r).into()
        }
        RequestKind::CreateTopics(r) => handlers::create_topics::handle(broker, r, v).await.into(),
        RequestKind::DeleteTopics(r) => handlers::delete_topics::handle(broker, r, v).await.into(),
        RequestKind::CreatePartitions(r) => {
            handlers::create_partitions::handle(broker, r).await.into()
        }
        RequestKind::DeleteRecords(r) => handlers::delete_records::handle(broker, r).await.into(),
        RequestKind::InitProducerId(r) => handlers::init_producer_id::handle(broker, r, v)
            .await
            .into(),
        RequestKind::OffsetForLeaderEpoch(r) => {
            handlers::cluster::offset_for_leader_epoch(broker, r).into()
        }
        RequestKind::DescribeConfigs(r) => handlers::configs::describe(broker, r, v).into(),
        RequestKind::AlterConfigs(r) => handlers::configs::alter(broker, r).await.into(),
        RequestKind::IncrementalAlterConfigs(r) => {
            handlers::configs::incremental_alter(broker, r).await.into()
        }
        RequestKind::DescribeCluster(r) => handlers::cluster::describe_cluster(broker, r, v).into(),
        RequestKind::DescribeTopicPartitions(r) => {
            handlers::cluster::describe_topic_partitions(broker, r).into()
        }
        RequestKind::AddPartitionsToTxn(r) => handlers::add_partitions_to_txn::handle(broker, r, v)
            .await
            .into(),
        RequestKind::AddOffsetsToTxn(r) => handlers::add_offsets_to_txn::handle(broker, r, v)
            .await
            .into(),
        RequestKind::EndTxn(r) => handlers::end_txn::handle(broker, r, v).await.into(),
        RequestKind::TxnOffsetCommit(r) => handlers::txn_offset_commit::handle(broker, r, v)
            .await
            .into(),
        RequestKind::DescribeProducers(r) => handlers::describe_producers::handle(broker, r).into(),
        RequestKind::DescribeTransactions(r) => {
            handlers::describe_transactions::handle(broker, r).into()
        }
        RequestKind::ListTransactions(r) => handlers::list_transactions::handle(broker, r).into(),
        other => {
            // Unreachable in practice: the connection refuses keys missing from SUPPORTED.
            tracing::warn!(api = ?other, "request for an API without a handler");
            return None;
        }
    };
    Some(Reply::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_within_the_codecs() {
        for (key, min, max) in SUPPORTED {
            let codec = key.valid_versions();
            assert!(*max <= codec.max, "{key:?} max {max} > codec {}", codec.max);
            assert!(*min <= *max);
            if *key != ApiKey::Produce {
                assert!(*min >= codec.min, "{key:?} min {min} < codec {}", codec.min);
            }
        }
    }

    /// The README's table of APIs must list exactly what ApiVersions advertises.
    #[test]
    fn readme_api_table_matches_api_versions() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let mut rows = 0;
        let mut in_table = false;
        for line in readme.lines() {
            if line.starts_with("<!-- api-table-begin") {
                in_table = true;
            } else if line.starts_with("<!-- api-table-end") {
                break;
            } else if in_table && line.starts_with("| ") && !line.starts_with("| API") {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let key: i16 = cells[2].parse().unwrap();
                let (min, max) = cells[3].split_once("..").unwrap();
                assert_eq!(
                    supported(ApiKey::try_from(key).unwrap()),
                    Some((min.parse().unwrap(), max.parse().unwrap())),
                    "README row for {} disagrees with ApiVersions",
                    cells[1]
                );
                rows += 1;
            }
        }
        assert_eq!(
            rows,
            SUPPORTED.len(),
            "README API table must list every advertised API"
        );
    }
}
