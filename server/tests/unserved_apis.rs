//! APIs Kafka serves on a broker listener for features minikafka lacks get Kafka's own answer
//! for that configuration instead of a closed connection: ACL requests SECURITY_DISABLED,
//! ElectLeaders ELECTION_NOT_NEEDED (one node is every preferred leader), no reassignments, no
//! client quotas, and DescribeLogDirs a real description of the data directory. Each is
//! advertised in ApiVersions, as Kafka advertises it.

mod common;
use common::*;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterReplicaLogDirsRequest, ApiKey, ApiVersionsRequest,
    BrokerId, CreateAclsRequest, CreateDelegationTokenRequest, DeleteAclsRequest,
    DescribeAclsRequest, DescribeClientQuotasRequest, DescribeDelegationTokenRequest,
    DescribeLogDirsRequest, DescribeUserScramCredentialsRequest, ElectLeadersRequest,
    ExpireDelegationTokenRequest, ListPartitionReassignmentsRequest, RenewDelegationTokenRequest,
};
use kafka_protocol::protocol::StrBytes;

#[tokio::test]
async fn acl_requests_answer_security_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let versions = c.call(ApiVersionsRequest::default(), 3).await;
    for (key, max) in [
        (ApiKey::DescribeAcls, 3),
        (ApiKey::CreateAcls, 3),
        (ApiKey::DeleteAcls, 3),
        (ApiKey::DescribeLogDirs, 4),
        (ApiKey::ElectLeaders, 2),
        (ApiKey::ListPartitionReassignments, 0),
        (ApiKey::DescribeClientQuotas, 1),
        (ApiKey::DescribeUserScramCredentials, 0),
        (ApiKey::AlterPartitionReassignments, 1),
        (ApiKey::AlterReplicaLogDirs, 2),
        (ApiKey::CreateDelegationToken, 3),
        (ApiKey::RenewDelegationToken, 2),
        (ApiKey::ExpireDelegationToken, 2),
        (ApiKey::DescribeDelegationToken, 3),
    ] {
        let v = versions
            .api_keys
            .iter()
            .find(|v| v.api_key == key as i16)
            .unwrap_or_else(|| panic!("{key:?} is not advertised"));
        assert_eq!(v.max_version, max, "{key:?}");
    }
    for version in [1, 3] {
        let r = c
            .call(
                DescribeAclsRequest::default().with_resource_type_filter(1),
                version,
            )
            .await;
        assert_eq!(r.error_code, ResponseError::SecurityDisabled.code());
        assert_eq!(
            r.error_message.as_deref(),
            Some("No Authorizer is configured on the broker")
        );
        let r = c
            .call(
                CreateAclsRequest::default().with_creations(vec![AclCreation::default(); 2]),
                version,
            )
            .await;
        assert_eq!(r.results.len(), 2);
        for result in &r.results {
            assert_eq!(result.error_code, ResponseError::SecurityDisabled.code());
        }
        let r = c
            .call(
                DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()]),
                version,
            )
            .await;
        assert_eq!(r.filter_results.len(), 1);
        assert_eq!(
            r.filter_results[0].error_code,
            ResponseError::SecurityDisabled.code()
        );
    }
    // The connection is still open and served.
    assert_eq!(c.call(ApiVersionsRequest::default(), 3).await.error_code, 0);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn elections_reassignments_and_quotas_have_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c
        .call(
            ElectLeadersRequest::default()
                .with_election_type(0)
                .with_timeout_ms(5000)
                .with_topic_partitions(Some(vec![TopicPartitions::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![0, 1, 7])])),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let codes: Vec<(i32, i16)> = r.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| (p.partition_id, p.error_code))
        .collect();
    assert_eq!(
        codes,
        [
            (0, ResponseError::ElectionNotNeeded.code()),
            (1, ResponseError::ElectionNotNeeded.code()),
            (7, ResponseError::UnknownTopicOrPartition.code()),
        ]
    );
    let r = c
        .call(
            ElectLeadersRequest::default()
                .with_timeout_ms(5000)
                .with_topic_partitions(None),
            2,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(r.replica_election_results.is_empty());
    let r = c
        .call(
            ListPartitionReassignmentsRequest::default().with_timeout_ms(5000),
            0,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(r.topics.is_empty());
    let r = c.call(DescribeClientQuotasRequest::default(), 1).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.entries.map(|e| e.len()), Some(0));
    b.shutdown().await.unwrap();
}

/// DescribeLogDirs describes the data directory: every partition with its size (all topics, or
/// the ones asked for, each once), and from v4 the volume's total and usable bytes.
#[tokio::test]
async fn describe_log_dirs_describes_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    let records = batch(5, now).freeze();
    let size = i64::try_from(records.len()).unwrap();
    let r = c.call(produce_req("t", 0, records, -1), 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let r = c
        .call(DescribeLogDirsRequest::default().with_topics(None), 4)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let d = &r.results[0];
    assert_eq!(d.error_code, 0);
    assert_eq!(
        std::path::Path::new(d.log_dir.as_str()),
        std::path::absolute(dir.path()).unwrap()
    );
    assert!(d.total_bytes > 0 && d.usable_bytes > 0 && d.usable_bytes <= d.total_bytes);
    let t = d.topics.iter().find(|t| t.name.0.as_str() == "t").unwrap();
    let sizes: Vec<(i32, i64)> = t
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    assert_eq!(sizes, [(0, size), (1, 0)]);

    let asked = DescribableLogDirTopic::default()
        .with_topic(name("t"))
        .with_partitions(vec![1, 1]);
    let unknown = DescribableLogDirTopic::default()
        .with_topic(name("nope"))
        .with_partitions(vec![0]);
    let r = c
        .call(
            DescribeLogDirsRequest::default().with_topics(Some(vec![
                asked.clone(),
                asked,
                unknown,
            ])),
            1,
        )
        .await;
    let topics = &r.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_index, 1);
    b.shutdown().await.unwrap();
}

/// No SCRAM credential exists: a named user is RESOURCE_NOT_FOUND, one named twice
/// DUPLICATE_RESOURCE (answered once), "all users" is empty; delegation tokens are refused on a
/// PLAINTEXT listener with DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, as Kafka does.
#[tokio::test]
async fn scram_credentials_and_delegation_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let user = |n: &str| UserName::default().with_name(StrBytes::from_string(n.to_string()));
    let r = c
        .call(
            DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                user("alice"),
                user("bob"),
                user("alice"),
            ])),
            0,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let results: Vec<(&str, i16)> = r
        .results
        .iter()
        .map(|u| (u.user.as_str(), u.error_code))
        .collect();
    assert_eq!(
        results,
        [
            ("alice", ResponseError::DuplicateResource.code()),
            ("bob", ResponseError::ResourceNotFound.code()),
        ]
    );
    let r = c
        .call(
            DescribeUserScramCredentialsRequest::default().with_users(None),
            0,
        )
        .await;
    assert_eq!((r.error_code, r.results.len()), (0, 0));

    let refused = ResponseError::DelegationTokenRequestNotAllowed.code();
    let r = c.call(CreateDelegationTokenRequest::default(), 3).await;
    assert_eq!(r.error_code, refused);
    let r = c.call(RenewDelegationTokenRequest::default(), 2).await;
    assert_eq!(r.error_code, refused);
    let r = c.call(ExpireDelegationTokenRequest::default(), 2).await;
    assert_eq!(r.error_code, refused);
    let r = c.call(DescribeDelegationTokenRequest::default(), 3).await;
    assert_eq!(r.error_code, refused);
    b.shutdown().await.unwrap();
}

/// One node holds every replica in one directory: reassigning to `[node]` and moving to the
/// data directory change nothing (NONE); a cancel is NO_REASSIGNMENT_IN_PROGRESS, another
/// broker INVALID_REPLICA_ASSIGNMENT, another directory LOG_DIR_NOT_FOUND, an absent partition
/// UNKNOWN_TOPIC_OR_PARTITION.
#[tokio::test]
async fn reassignments_and_log_dir_moves_on_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let node = b.broker().config.node_id;
    let part = |i: i32, replicas: Option<Vec<i32>>| {
        ReassignablePartition::default()
            .with_partition_index(i)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    let r = c
        .call(
            AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![ReassignableTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        part(0, Some(vec![node])),
                        part(0, None),
                        part(0, Some(vec![node + 1])),
                        part(3, Some(vec![node])),
                    ])]),
            1,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let codes: Vec<i16> = r.responses[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(
        codes,
        [
            0,
            ResponseError::NoReassignmentInProgress.code(),
            ResponseError::InvalidReplicaAssignment.code(),
            ResponseError::UnknownTopicOrPartition.code(),
        ]
    );

    let move_to = |path: String, partitions: Vec<i32>| {
        AlterReplicaLogDir::default()
            .with_path(StrBytes::from_string(path))
            .with_topics(vec![AlterReplicaLogDirTopic::default()
                .with_name(name("t"))
                .with_partitions(partitions)])
    };
    let ours = std::path::absolute(dir.path())
        .unwrap()
        .display()
        .to_string();
    let r = c
        .call(
            AlterReplicaLogDirsRequest::default().with_dirs(vec![
                move_to(ours, vec![0, 5]),
                move_to("/nonexistent-dir".to_string(), vec![0]),
            ]),
            2,
        )
        .await;
    let codes: Vec<Vec<i16>> = r
        .results
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        codes,
        [
            vec![0, ResponseError::UnknownTopicOrPartition.code()],
            vec![ResponseError::LogDirNotFound.code()],
        ]
    );
    b.shutdown().await.unwrap();
}
