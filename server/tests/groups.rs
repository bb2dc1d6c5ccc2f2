//! Group coordinator over TCP: the classic protocol's round trips and the exact error codes
//! clients branch on, committed offsets across a crash and restart, and KIP-848
//! reconciliation (a partition is revoked before it is handed to another member).

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn gid(s: &str) -> GroupId {
    GroupId(sb(s))
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn join_req(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(sb(member))
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(sb("range"))
            .with_metadata(subscription(&["t"]))])
}

/// A consumer's JoinGroup metadata: ConsumerProtocolSubscription v0 with its version prefix.
fn subscription(topics: &[&str]) -> Bytes {
    use bytes::BufMut;
    use kafka_protocol::protocol::Encodable;
    let mut buf = bytes::BytesMut::new();
    buf.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| sb(t)).collect())
        .encode(&mut buf, 0)
        .unwrap();
    buf.freeze()
}

fn offset_delete_req(group: &str, topic: &str, partitions: &[i32]) -> OffsetDeleteRequest {
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    OffsetDeleteRequest::default()
        .with_group_id(gid(group))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(*p))
                    .collect(),
            )])
}

fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_leader_epoch(-1)
                            .with_committed_metadata(Some(sb("meta")))
                    })
                    .collect(),
            )])
}

fn fetch_req(groups: &[&str], topic: &str, partitions: &[i32]) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(gid(g))
                    .with_member_epoch(-1)
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(name(topic))
                        .with_partition_indexes(partitions.to_vec())]))
            })
            .collect(),
    )
}

/// A group's OffsetFetch answer: (group, error, [(partition, offset, error)]).
type Fetched = (String, i16, Vec<(i32, i64, i16)>);

/// (partition, offset, error) of each group's answer for one topic.
fn fetched(r: &OffsetFetchResponse) -> Vec<Fetched> {
    r.groups
        .iter()
        .map(|g| {
            let parts = g
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                })
                .collect();
            (g.group_id.to_string(), g.error_code, parts)
        })
        .collect()
}

/// Join `group` alone (MEMBER_ID_REQUIRED round trip) and sync; returns (member id, generation).
async fn join_alone(c: &mut Client, group: &str) -> (String, i32) {
    let first = c.call(join_req(group, ""), 5).await;
    assert_eq!(first.error_code, code(ResponseError::MemberIdRequired));
    let member = first.member_id.to_string();
    assert!(member.starts_with("protocol-test-"), "{member}");
    let joined = c.call(join_req(group, &member), 5).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader.as_str(), member);
    assert_eq!(joined.members.len(), 1);
    let sync = c
        .call(
            SyncGroupRequest::default()
                .with_group_id(gid(group))
                .with_generation_id(joined.generation_id)
                .with_member_id(sb(&member))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(sb(&member))
                    .with_assignment(Bytes::from_static(b"my-partitions"))]),
            3,
        )
        .await;
    assert_eq!(sync.error_code, 0);
    assert_eq!(sync.assignment, Bytes::from_static(b"my-partitions"));
    (member, joined.generation_id)
}

#[tokio::test]
async fn classic_group_round_trips_and_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["group.initial.rebalance.delay.ms=0"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );

    // FindCoordinator: batched keys for groups; transactions are not coordinated yet.
    // A share group's coordinator does not exist.
    let fc = c
        .call(
            FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![sb("g1"), sb("g2")]),
            4,
        )
        .await;
    assert_eq!(fc.coordinators.len(), 2);
    for k in &fc.coordinators {
        assert_eq!(
            (k.error_code, k.node_id.0, k.port),
            (0, 1, i32::from(b.local_addr().port()))
        );
    }
    let fc = c
        .call(
            FindCoordinatorRequest::default()
                .with_key_type(2)
                .with_key(sb("share")),
            3,
        )
        .await;
    assert_eq!(fc.error_code, code(ResponseError::CoordinatorNotAvailable));

    let (member, generation) = join_alone(&mut c, "g1").await;
    assert_eq!(generation, 1);

    let hb = |generation: i32, member: &str| {
        HeartbeatRequest::default()
            .with_group_id(gid("g1"))
            .with_generation_id(generation)
            .with_member_id(sb(member))
    };
    assert_eq!(c.call(hb(1, &member), 4).await.error_code, 0);
    assert_eq!(
        c.call(hb(2, &member), 4).await.error_code,
        code(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        c.call(hb(1, "nobody"), 4).await.error_code,
        code(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        c.call(HeartbeatRequest::default().with_group_id(gid("")), 4)
            .await
            .error_code,
        code(ResponseError::InvalidGroupId)
    );

    // Commits: by the member, with a wrong generation, for an unknown partition, and with
    // metadata over offset.metadata.max.bytes.
    let r = c
        .call(commit_req("g1", 1, &member, "t", &[(0, 5), (1, 7)]), 8)
        .await;
    assert_eq!(
        r.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect::<Vec<_>>(),
        [0, 0]
    );
    let r = c
        .call(commit_req("g1", 9, &member, "t", &[(0, 6)]), 8)
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::IllegalGeneration)
    );
    let r = c.call(commit_req("g1", -1, "", "t", &[(0, 6)]), 8).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::UnknownMemberId),
        "a commit outside the generation is refused while the group has members"
    );
    let r = c
        .call(commit_req("g1", 1, &member, "t", &[(5, 1)]), 8)
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::UnknownTopicOrPartition)
    );
    let mut big = commit_req("g1", 1, &member, "t", &[(0, 1)]);
    big.topics[0].partitions[0].committed_metadata = Some(sb(&"x".repeat(5000)));
    let r = c.call(big, 8).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::OffsetMetadataTooLarge)
    );

    // OffsetFetch, several groups at once (v8) and a single group (v7).
    let f = c.call(fetch_req(&["g1", "nobody"], "t", &[0, 1]), 8).await;
    assert_eq!(
        fetched(&f),
        [
            ("g1".to_string(), 0, vec![(0, 5, 0), (1, 7, 0)]),
            ("nobody".to_string(), 0, vec![(0, -1, 0), (1, -1, 0)]),
        ]
    );
    let f = c
        .call(
            OffsetFetchRequest::default()
                .with_group_id(gid("g1"))
                .with_topics(None),
            7,
        )
        .await;
    assert_eq!(f.topics.len(), 1);
    assert_eq!(f.topics[0].partitions[1].committed_offset, 7);
    assert_eq!(f.topics[0].partitions[1].metadata.as_deref(), Some("meta"));

    // DescribeGroups and ListGroups (with a state filter).
    let d = c
        .call(
            DescribeGroupsRequest::default().with_groups(vec![gid("g1"), gid("nobody")]),
            5,
        )
        .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].protocol_data.as_str(), "range");
    assert_eq!(d.groups[0].members.len(), 1);
    assert_eq!(d.groups[0].members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(
        d.groups[0].members[0].member_assignment,
        Bytes::from_static(b"my-partitions")
    );
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    let d6 = c
        .call(
            DescribeGroupsRequest::default().with_groups(vec![gid("nobody")]),
            6,
        )
        .await;
    assert_eq!(
        d6.groups[0].error_code,
        code(ResponseError::GroupIdNotFound)
    );
    let listed = |r: &ListGroupsResponse| -> Vec<String> {
        r.groups.iter().map(|g| g.group_id.to_string()).collect()
    };
    let l = c
        .call(
            ListGroupsRequest::default().with_states_filter(vec![sb("stable")]),
            4,
        )
        .await;
    assert_eq!(listed(&l), ["g1"]);
    let l = c
        .call(
            ListGroupsRequest::default().with_states_filter(vec![sb("Empty")]),
            4,
        )
        .await;
    assert!(listed(&l).is_empty());

    // OffsetDelete: not for a topic the members subscribe to; unknown groups.
    let od = c.call(offset_delete_req("g1", "t", &[1]), 0).await;
    assert_eq!(od.error_code, 0);
    assert_eq!(
        od.topics[0].partitions[0].error_code,
        code(ResponseError::GroupSubscribedToTopic)
    );
    let od = c.call(offset_delete_req("nope", "t", &[1]), 0).await;
    assert_eq!(od.error_code, code(ResponseError::GroupIdNotFound));

    // DeleteGroups: not while it has members; unknown groups.
    let del = |g: &str| DeleteGroupsRequest::default().with_groups_names(vec![gid(g)]);
    assert_eq!(
        c.call(del("g1"), 2).await.results[0].error_code,
        code(ResponseError::NonEmptyGroup)
    );
    assert_eq!(
        c.call(del("nope"), 2).await.results[0].error_code,
        code(ResponseError::GroupIdNotFound)
    );

    // Batched LeaveGroup: the member leaves, an unknown one is reported.
    let leave = c
        .call(
            LeaveGroupRequest::default()
                .with_group_id(gid("g1"))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(sb(&member)),
                    MemberIdentity::default().with_member_id(sb("ghost")),
                ]),
            4,
        )
        .await;
    let codes: Vec<i16> = leave.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, [0, code(ResponseError::UnknownMemberId)]);
    let d = c
        .call(
            DescribeGroupsRequest::default().with_groups(vec![gid("g1")]),
            5,
        )
        .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    // Empty now: OffsetDelete removes the offset of partition 1 only.
    let od = c.call(offset_delete_req("g1", "t", &[1]), 0).await;
    assert_eq!(od.topics[0].partitions[0].error_code, 0);
    let f = c.call(fetch_req(&["g1"], "t", &[0, 1]), 8).await;
    assert_eq!(fetched(&f)[0].2, [(0, 5, 0), (1, -1, 0)]);

    // Now it can be deleted, offsets included.
    assert_eq!(c.call(del("g1"), 2).await.results[0].error_code, 0);
    let f = c.call(fetch_req(&["g1"], "t", &[0]), 8).await;
    assert_eq!(fetched(&f)[0].2, [(0, -1, 0)]);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn committed_offsets_and_groups_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["group.initial.rebalance.delay.ms=0"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 3, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let (member, generation) = join_alone(&mut c, "live").await;
    let r = c
        .call(
            commit_req("live", generation, &member, "t", &[(0, 10), (2, 30)]),
            8,
        )
        .await;
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
    // A group used only to store offsets (assign() consumers, admin tools).
    let r = c
        .call(commit_req("standalone", -1, "", "t", &[(1, 42)]), 8)
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    // A deleted group stays deleted.
    let r = c.call(commit_req("gone", -1, "", "t", &[(1, 1)]), 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let del = c
        .call(
            DeleteGroupsRequest::default().with_groups_names(vec![gid("gone")]),
            2,
        )
        .await;
    assert_eq!(del.results[0].error_code, 0);
    drop(c);
    drop(b); // no clean shutdown: the data dir is left as after a crash

    let b = start(dir.path(), &["group.initial.rebalance.delay.ms=0"]).await;
    let mut c = Client::connect(&b).await;
    let f = c
        .call(
            fetch_req(&["live", "standalone", "gone"], "t", &[0, 1, 2]),
            8,
        )
        .await;
    assert_eq!(
        fetched(&f),
        [
            (
                "live".to_string(),
                0,
                vec![(0, 10, 0), (1, -1, 0), (2, 30, 0)]
            ),
            (
                "standalone".to_string(),
                0,
                vec![(0, -1, 0), (1, 42, 0), (2, -1, 0)]
            ),
            (
                "gone".to_string(),
                0,
                vec![(0, -1, 0), (1, -1, 0), (2, -1, 0)]
            ),
        ]
    );
    // The group came back Stable with its member, who can heartbeat in the same generation.
    let d = c
        .call(
            DescribeGroupsRequest::default().with_groups(vec![gid("live")]),
            5,
        )
        .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].members[0].member_id.as_str(), member);
    let hb = c
        .call(
            HeartbeatRequest::default()
                .with_group_id(gid("live"))
                .with_generation_id(generation)
                .with_member_id(sb(&member)),
            4,
        )
        .await;
    assert_eq!(hb.error_code, 0);
    let l = c.call(ListGroupsRequest::default(), 4).await;
    let mut ids: Vec<String> = l.groups.iter().map(|g| g.group_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["live", "standalone"]);
    b.shutdown().await.unwrap();
}

fn cg_heartbeat(
    member: &str,
    epoch: i32,
    owned: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid("cg"))
        .with_member_id(sb(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(if epoch == 0 {
            Some(vec![name("t4")])
        } else {
            None
        })
        .with_topic_partitions(owned.map(|o| {
            o.into_iter()
                .map(|(id, ps)| {
                    OwnedPartitions::default()
                        .with_topic_id(id)
                        .with_partitions(ps)
                })
                .collect()
        }))
}

fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(assigned_of)
}

/// ConsumerGroupDescribe of group `cg`.
async fn describe_cg(
    c: &mut Client,
) -> kafka_protocol::messages::consumer_group_describe_response::DescribedGroup {
    let mut d = c
        .call(
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid("cg")]),
            1,
        )
        .await;
    d.groups.remove(0)
}

#[tokio::test]
async fn consumer_protocol_revokes_before_reassigning() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let created = c.call(create_req("t4", 4, 1, &[]), 7).await;
    let topic_id = created.topics[0].topic_id;

    // A joins alone and gets all four partitions at epoch 1.
    let a = c.call(cg_heartbeat("member-a", 0, Some(vec![])), 1).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    assert_eq!(a.member_epoch, 1);
    assert_eq!(assigned(&a), Some(vec![0, 1, 2, 3]));
    assert!(a.heartbeat_interval_ms > 0);

    // B joins: epoch 2, but every partition is still A's, so B gets nothing yet.
    let bj = c.call(cg_heartbeat("member-b", 0, Some(vec![])), 1).await;
    assert_eq!(bj.member_epoch, 2);
    assert_eq!(assigned(&bj), Some(vec![]));

    // A is told to give two partitions up; its epoch stays until it has.
    let a = c
        .call(
            cg_heartbeat("member-a", 1, Some(vec![(topic_id, vec![0, 1, 2, 3])])),
            1,
        )
        .await;
    assert_eq!(a.member_epoch, 1);
    let keep = assigned(&a).expect("a new assignment for A");
    assert_eq!(keep.len(), 2);
    // B still gets nothing: A has not confirmed the revocation.
    let bh = c.call(cg_heartbeat("member-b", 2, Some(vec![])), 1).await;
    assert_eq!(assigned(&bh).unwrap_or_default(), Vec::<i32>::new());
    // A confirms (owns only what it keeps) and moves to epoch 2.
    let a = c
        .call(
            cg_heartbeat("member-a", 1, Some(vec![(topic_id, keep.clone())])),
            1,
        )
        .await;
    assert_eq!(a.member_epoch, 2);
    // Now B gets the other two.
    let bh = c.call(cg_heartbeat("member-b", 2, Some(vec![])), 1).await;
    let got = assigned(&bh).expect("B's partitions");
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|p| !keep.contains(p)),
        "no partition has two owners"
    );

    // Stale and unknown members are fenced.
    let stale = c.call(cg_heartbeat("member-a", 7, None), 1).await;
    assert_eq!(stale.error_code, code(ResponseError::FencedMemberEpoch));
    let ghost = c.call(cg_heartbeat("ghost", 3, None), 1).await;
    assert_eq!(ghost.error_code, code(ResponseError::UnknownMemberId));

    // OffsetCommit from a member needs its current epoch.
    let r = c
        .call(commit_req("cg", 2, "member-a", "t4", &[(keep[0], 3)]), 9)
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = c
        .call(commit_req("cg", 1, "member-a", "t4", &[(keep[0], 4)]), 9)
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        code(ResponseError::StaleMemberEpoch)
    );

    // ConsumerGroupDescribe; DescribeGroups says it is not a classic group.
    let g = &describe_cg(&mut c).await;
    assert_eq!((g.error_code, g.group_epoch, g.assignment_epoch), (0, 2, 2));
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 2);
    let dg = c
        .call(
            DescribeGroupsRequest::default().with_groups(vec![gid("cg")]),
            6,
        )
        .await;
    assert_eq!(
        dg.groups[0].error_code,
        code(ResponseError::GroupIdNotFound)
    );
    let l = c
        .call(
            ListGroupsRequest::default().with_types_filter(vec![sb("consumer")]),
            5,
        )
        .await;
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_type.as_str(), "consumer");

    // A leaves (epoch -1): B ends up with everything.
    let left = c.call(cg_heartbeat("member-a", -1, None), 1).await;
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
    let bh = c
        .call(
            cg_heartbeat("member-b", 2, Some(vec![(topic_id, got.clone())])),
            1,
        )
        .await;
    assert_eq!(bh.member_epoch, 3);
    assert_eq!(assigned(&bh), Some(vec![0, 1, 2, 3]));
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn consumer_protocol_group_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let created = c.call(create_req("t4", 4, 1, &[]), 7).await;
    let topic_id = created.topics[0].topic_id;
    let a = c.call(cg_heartbeat("member-a", 0, Some(vec![])), 1).await;
    assert_eq!(assigned(&a), Some(vec![0, 1, 2, 3]));
    let _ = c.call(cg_heartbeat("member-b", 0, Some(vec![])), 1).await;
    let a = c
        .call(
            cg_heartbeat("member-a", 1, Some(vec![(topic_id, vec![0, 1, 2, 3])])),
            1,
        )
        .await;
    let keep = assigned(&a).unwrap();
    let a = c
        .call(
            cg_heartbeat("member-a", 1, Some(vec![(topic_id, keep.clone())])),
            1,
        )
        .await;
    assert_eq!(a.member_epoch, 2);
    let bh = c.call(cg_heartbeat("member-b", 2, Some(vec![])), 1).await;
    let got = assigned(&bh).unwrap();
    assert_eq!(got.len(), 2);
    drop(c);
    drop(b); // crash

    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    // Both members carry on in epoch 2 with what they own: no rejoin, no reassignment.
    let a = c
        .call(
            cg_heartbeat("member-a", 2, Some(vec![(topic_id, keep.clone())])),
            1,
        )
        .await;
    assert_eq!(
        (a.error_code, a.member_epoch),
        (0, 2),
        "{:?}",
        a.error_message
    );
    assert_eq!(assigned(&a).unwrap_or(keep.clone()), keep);
    let bh = c
        .call(
            cg_heartbeat("member-b", 2, Some(vec![(topic_id, got.clone())])),
            1,
        )
        .await;
    assert_eq!((bh.error_code, bh.member_epoch), (0, 2));
    let g = &describe_cg(&mut c).await;
    assert_eq!((g.error_code, g.group_epoch, g.assignment_epoch), (0, 2, 2));
    assert_eq!(g.group_state.as_str(), "Stable");
    let mut targets: Vec<i32> = g
        .members
        .iter()
        .flat_map(|m| {
            m.target_assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.clone())
        })
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, [0, 1, 2, 3]);
    // A member leaving after the restart is persisted too.
    let left = c.call(cg_heartbeat("member-b", -1, None), 1).await;
    assert_eq!(left.error_code, 0);
    drop(c);
    drop(b);
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let g = describe_cg(&mut c).await;
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.group_epoch, 3);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn consumer_protocol_static_member_returns_to_its_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let created = c.call(create_req("t4", 4, 1, &[]), 7).await;
    let topic_id = created.topics[0].topic_id;
    let stat = |member: &str, epoch: i32, owned: Option<Vec<(uuid::Uuid, Vec<i32>)>>| {
        cg_heartbeat(member, epoch, owned).with_instance_id(Some(sb("instance-1")))
    };
    let s = c.call(stat("static-1", 0, Some(vec![])), 1).await;
    assert_eq!(assigned(&s), Some(vec![0, 1, 2, 3]));
    let _ = c.call(cg_heartbeat("member-b", 0, Some(vec![])), 1).await;
    let s = c
        .call(
            stat("static-1", 1, Some(vec![(topic_id, vec![0, 1, 2, 3])])),
            1,
        )
        .await;
    let keep = assigned(&s).unwrap();
    let s = c
        .call(stat("static-1", 1, Some(vec![(topic_id, keep.clone())])), 1)
        .await;
    assert_eq!(s.member_epoch, 2);
    let bh = c.call(cg_heartbeat("member-b", 2, Some(vec![])), 1).await;
    let got = assigned(&bh).unwrap();

    // The static member goes away for a while (epoch -2): nothing moves.
    let gone = c.call(stat("static-1", -2, None), 1).await;
    assert_eq!((gone.error_code, gone.member_epoch), (0, -2));
    let bh = c
        .call(
            cg_heartbeat("member-b", 2, Some(vec![(topic_id, got.clone())])),
            1,
        )
        .await;
    assert_eq!(
        (bh.member_epoch, assigned(&bh)),
        (2, None),
        "no new assignment for B"
    );
    assert_eq!(describe_cg(&mut c).await.group_epoch, 2);

    // Its next incarnation (new member id, same instance id) gets the same partitions back.
    let back = c.call(stat("static-2", 0, Some(vec![])), 1).await;
    assert_eq!(back.error_code, 0, "{:?}", back.error_message);
    assert_eq!(back.member_epoch, 2);
    assert_eq!(assigned(&back), Some(keep));
    let g = describe_cg(&mut c).await;
    assert_eq!(g.group_epoch, 2, "no rebalance");
    let mut ids: Vec<String> = g.members.iter().map(|m| m.member_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["member-b", "static-2"]);
    b.shutdown().await.unwrap();
}

/// A regex subscription sees user topics whose names start with `__` and never the internal
/// topics: "internal" is the broker's list, not the prefix (`__consumer_offsets` exists by the
/// time the member joins, since the heartbeat's group lives in it).
#[tokio::test]
async fn consumer_protocol_regex_sees_user_topics_named_like_internal_ones() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let created = c.call(create_req("__user_events", 2, 1, &[]), 7).await;
    assert_eq!(created.topics[0].error_code, 0);
    let user_id = created.topics[0].topic_id;

    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid("cg"))
        .with_member_id(sb("member-r"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_regex(Some(sb("__.*")))
        .with_topic_partitions(Some(vec![]));
    let mut r = c.call(join, 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    // The regex may be resolved after the join: heartbeat (bounded) until an assignment shows.
    for _ in 0..50 {
        if r.assignment
            .as_ref()
            .is_some_and(|a| !a.topic_partitions.is_empty())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let hb = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(gid("cg"))
            .with_member_id(sb("member-r"))
            .with_member_epoch(r.member_epoch)
            .with_rebalance_timeout_ms(30_000);
        let next = c.call(hb, 1).await;
        assert_eq!(next.error_code, 0, "{:?}", next.error_message);
        if next.assignment.is_some() {
            r = next;
        } else {
            r.member_epoch = next.member_epoch;
        }
    }
    let a = r.assignment.expect("an assignment");
    let topics: Vec<_> = a.topic_partitions.iter().map(|t| t.topic_id).collect();
    assert_eq!(
        topics,
        vec![user_id],
        "only the user topic '__user_events' matches"
    );
    assert_eq!(assigned_of(&a), vec![0, 1]);
    b.shutdown().await.unwrap();
}

fn assigned_of(
    a: &kafka_protocol::messages::consumer_group_heartbeat_response::Assignment,
) -> Vec<i32> {
    let mut ps: Vec<i32> = a
        .topic_partitions
        .iter()
        .flat_map(|t| t.partitions.clone())
        .collect();
    ps.sort_unstable();
    ps
}
