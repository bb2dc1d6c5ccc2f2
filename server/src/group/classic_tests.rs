//! Behaviour of the classic group state machine, driven with explicit time.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::*;

fn limits(delay_ms: i32) -> GroupLimits {
    GroupLimits {
        initial_rebalance_delay_ms: delay_ms,
        ..GroupLimits::default()
    }
}

fn params(member_id: &str, protocols: &[&str]) -> JoinParams {
    JoinParams {
        member_id: member_id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| ((*p).to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn now_of<T: std::fmt::Debug>(r: Reply<T>) -> T {
    match r {
        Reply::Now(v) => v,
        Reply::Later(_) => panic!("expected an immediate answer"),
    }
}

fn later<T: std::fmt::Debug>(r: Reply<T>) -> oneshot::Receiver<T> {
    match r {
        Reply::Later(rx) => rx,
        Reply::Now(v) => panic!("expected to wait, got {v:?}"),
    }
}

fn ready<T>(rx: &mut oneshot::Receiver<T>) -> T {
    rx.try_recv().expect("answer should be ready")
}

/// Join as a new member through the MEMBER_ID_REQUIRED round trip; returns the waiting join.
fn join_new(
    g: &mut ClassicGroup,
    id: &str,
    lim: &GroupLimits,
    t: Instant,
) -> oneshot::Receiver<JoinResult> {
    let first = now_of(g.join(params("", &["range"]), id.into(), lim, t, 0));
    assert_eq!(first.error, ResponseError::MemberIdRequired.code());
    assert_eq!(first.member_id, id);
    later(g.join(params(id, &["range"]), "unused".into(), lim, t, 0))
}

fn sync(
    g: &mut ClassicGroup,
    id: &str,
    gen: i32,
    assignments: &[(&str, &str)],
    t: Instant,
) -> Reply<SyncResult> {
    g.sync(
        SyncParams {
            member_id: id.into(),
            instance_id: None,
            generation: gen,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| ((*m).to_string(), Bytes::from((*a).to_string())))
                .collect(),
        },
        t,
        0,
    )
}

/// Two members reach Stable with generation 2; returns the group.
fn two_member_group(t: Instant) -> ClassicGroup {
    let lim = limits(0);
    let mut g = ClassicGroup::new("g", 0);
    let mut a = join_new(&mut g, "a", &lim, t);
    let ja = ready(&mut a);
    assert_eq!((ja.error, ja.generation, ja.leader.as_str()), (0, 1, "a"));
    assert_eq!(ja.members.len(), 1, "the leader gets every member");
    now_of_sync(sync(&mut g, "a", 1, &[("a", "A1")], t));
    assert_eq!(g.state, GroupState::Stable);

    let mut b = join_new(&mut g, "b", &lim, t);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(b.try_recv().is_err(), "b waits for a to rejoin");
    assert_eq!(
        g.heartbeat("a", None, 1, t),
        Err(ResponseError::RebalanceInProgress)
    );
    let mut a = later(g.join(params("a", &["range"]), "unused".into(), &lim, t, 0));
    let (ja, jb) = (ready(&mut a), ready(&mut b));
    assert_eq!((ja.generation, jb.generation), (2, 2));
    assert_eq!(ja.leader, "a");
    assert_eq!(ja.members.len(), 2);
    assert!(jb.members.is_empty(), "followers get no member list");
    let mut sb = later(sync(&mut g, "b", 2, &[], t));
    assert!(
        sb.try_recv().is_err(),
        "b waits for the leader's assignment"
    );
    let mut sa = later(sync(&mut g, "a", 2, &[("a", "A2"), ("b", "B2")], t));
    assert_eq!(ready(&mut sa).assignment, Bytes::from("A2"));
    assert_eq!(ready(&mut sb).assignment, Bytes::from("B2"));
    assert_eq!(g.state, GroupState::Stable);
    assert!(g.dirty, "a completed assignment must be persisted");
    g
}

fn now_of_sync(r: Reply<SyncResult>) {
    match r {
        Reply::Now(v) => assert_eq!(v.error, 0),
        Reply::Later(mut rx) => assert_eq!(ready(&mut rx).error, 0),
    }
}

#[test]
fn members_join_sync_and_rebalance_with_generations() {
    let t = Instant::now();
    let mut g = two_member_group(t);
    assert_eq!(g.heartbeat("a", None, 2, t), Ok(()));
    assert_eq!(
        g.heartbeat("a", None, 1, t),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        g.heartbeat("zzz", None, 2, t),
        Err(ResponseError::UnknownMemberId)
    );
    // b leaves: a rebalance, a alone in generation 3.
    g.leave("b", None, &limits(0), t, 0).unwrap();
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let mut a = later(g.join(params("a", &["range"]), "x".into(), &limits(0), t, 0));
    assert_eq!(ready(&mut a).generation, 3);
}

#[test]
fn silent_member_is_removed_after_its_session_timeout() {
    let t = Instant::now();
    let mut g = two_member_group(t);
    let lim = limits(0);
    // a keeps heartbeating, b does not.
    let half = t + Duration::from_millis(6_000);
    assert_eq!(g.heartbeat("a", None, 2, half), Ok(()));
    g.tick(&lim, half, 0);
    assert_eq!(g.state, GroupState::Stable, "nobody expired yet");
    let after = t + Duration::from_millis(10_001);
    g.tick(&lim, after, 0);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.members.len(), 1, "b was removed");
    assert_eq!(
        g.heartbeat("a", None, 2, after),
        Err(ResponseError::RebalanceInProgress)
    );
}

#[test]
fn member_not_rejoining_is_dropped_at_the_rebalance_timeout() {
    let t = Instant::now();
    let mut g = two_member_group(t);
    let lim = limits(0);
    // a rejoins (leader forcing a rebalance); b never does but keeps heartbeating.
    let mut a = later(g.join(params("a", &["range"]), "x".into(), &lim, t, 0));
    assert!(a.try_recv().is_err());
    let mut at = t;
    for _ in 0..5 {
        at += Duration::from_millis(5_000);
        let _ = g.heartbeat("b", None, 2, at);
        g.tick(&lim, at, 0);
    }
    assert!(
        a.try_recv().is_err(),
        "still within the 30 s rebalance timeout"
    );
    at = t + Duration::from_millis(30_000);
    let _ = g.heartbeat("b", None, 2, at);
    g.tick(&lim, at, 0);
    let ja = ready(&mut a);
    assert_eq!(ja.generation, 3);
    assert_eq!(ja.members.len(), 1, "b did not rejoin and is gone");
}

#[test]
fn follower_that_never_syncs_is_removed() {
    let t = Instant::now();
    let lim = limits(0);
    let mut g = two_member_group(t);
    let mut a = later(g.join(params("a", &["range"]), "x".into(), &lim, t, 0));
    let mut b = later(g.join(params("b", &["range"]), "x".into(), &lim, t, 0));
    assert_eq!(ready(&mut a).generation, 3);
    assert_eq!(ready(&mut b).generation, 3);
    // The leader syncs; b keeps heartbeating but never sends SyncGroup.
    let _sa = sync(&mut g, "a", 3, &[("a", "A"), ("b", "B")], t);
    assert_eq!(g.state, GroupState::Stable);
    let mut at = t;
    for _ in 0..6 {
        at += Duration::from_millis(5_000);
        assert_eq!(g.heartbeat("a", None, 3, at), Ok(()));
        assert_eq!(g.heartbeat("b", None, 3, at), Ok(()));
        g.tick(&lim, at, 0);
    }
    assert_eq!(
        g.state,
        GroupState::PreparingRebalance,
        "b was expired at the rebalance timeout"
    );
    let ids: Vec<&str> = g.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a"]);
}

#[test]
fn initial_rebalance_delay_waits_for_more_members() {
    let t = Instant::now();
    let lim = limits(3_000);
    let mut g = ClassicGroup::new("g", 0);
    let mut a = join_new(&mut g, "a", &lim, t);
    g.tick(&lim, t + Duration::from_millis(1_000), 0);
    assert!(
        a.try_recv().is_err(),
        "the first rebalance waits the initial delay"
    );
    let mut b = join_new(&mut g, "b", &lim, t + Duration::from_millis(2_000));
    g.tick(&lim, t + Duration::from_millis(3_000), 0);
    assert!(a.try_recv().is_err(), "a new member extends the delay");
    g.tick(&lim, t + Duration::from_millis(6_001), 0);
    let (ja, jb) = (ready(&mut a), ready(&mut b));
    assert_eq!((ja.generation, jb.generation), (1, 1));
    assert_eq!(ja.members.len(), 2, "both members in the first generation");
}

#[test]
fn protocol_is_chosen_among_those_every_member_supports() {
    let t = Instant::now();
    let lim = limits(0);
    let mut g = ClassicGroup::new("g", 0);
    let mut a = later(g.join(
        JoinParams {
            require_known_member_id: false,
            ..params("", &["range", "roundrobin"])
        },
        "a".into(),
        &lim,
        t,
        0,
    ));
    let _ = ready(&mut a);
    let bad = now_of(g.join(
        JoinParams {
            require_known_member_id: false,
            ..params("", &["sticky"])
        },
        "c".into(),
        &lim,
        t,
        0,
    ));
    assert_eq!(bad.error, ResponseError::InconsistentGroupProtocol.code());
    let mut b = later(g.join(
        JoinParams {
            require_known_member_id: false,
            ..params("", &["roundrobin"])
        },
        "b".into(),
        &lim,
        t,
        0,
    ));
    let mut a = later(g.join(
        params("a", &["range", "roundrobin"]),
        "x".into(),
        &lim,
        t,
        0,
    ));
    let (ja, jb) = (ready(&mut a), ready(&mut b));
    assert_eq!(ja.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(jb.protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(ja.members[0].metadata, Bytes::from("meta-roundrobin"));
}

/// A static member's join parameters.
fn stat(id: &str, inst: &str) -> JoinParams {
    JoinParams {
        instance_id: Some(inst.into()),
        ..params(id, &["range"])
    }
}

/// A Stable group of two static members at generation 2: a1 (instance "ia", the leader, assigned
/// "A") and b1 (instance "ib", assigned "B").
fn two_static_members(lim: &GroupLimits, t: Instant) -> ClassicGroup {
    let mut g = ClassicGroup::new("g", 0);
    // Static members skip MEMBER_ID_REQUIRED.
    let mut a = later(g.join(stat("", "ia"), "a1".into(), lim, t, 0));
    let mut b = later(g.join(stat("", "ib"), "b1".into(), lim, t, 0));
    // a joined first and completed generation 1 alone; b triggered generation 2.
    assert_eq!(ready(&mut a).generation, 1);
    let mut a = later(g.join(stat("a1", "ia"), "x".into(), lim, t, 0));
    let (ja, jb) = (ready(&mut a), ready(&mut b));
    assert_eq!((ja.generation, jb.generation), (2, 2));
    assert_eq!(ja.leader, "a1");
    let _ = sync(&mut g, "a1", 2, &[("a1", "A"), ("b1", "B")], t);
    let _ = sync(&mut g, "b1", 2, &[], t);
    assert_eq!(g.state, GroupState::Stable);
    g
}

#[test]
fn static_member_rejoining_a_stable_group_keeps_the_generation() {
    let t = Instant::now();
    let lim = limits(0);
    let mut g = two_static_members(&lim, t);
    g.dirty = false;

    // b restarts: new incarnation, same instance id, unknown member id.
    let jb2 = now_of(g.join(stat("", "ib"), "b2".into(), &lim, t, 0));
    assert_eq!(jb2.error, 0);
    assert_eq!(jb2.generation, 2, "no rebalance");
    assert_eq!(jb2.member_id, "b2");
    assert_eq!(g.state, GroupState::Stable);
    assert!(g.dirty, "the new member id is persisted");
    let s = now_of(sync_as(&mut g, "b2", "ib", 2, t));
    assert_eq!(s.assignment, Bytes::from("B"), "keeps its assignment");
    // The old incarnation is fenced.
    assert_eq!(
        g.heartbeat("b1", Some("ib"), 2, t),
        Err(ResponseError::FencedInstanceId)
    );
    assert_eq!(g.heartbeat("b2", Some("ib"), 2, t), Ok(()));
}

#[test]
fn static_leader_rejoining_a_stable_group_keeps_the_generation_in_every_join_version() {
    // Kafka 4.x: the returning leader does not trigger a rebalance. JoinGroup v9+ is told it leads
    // with skip_assignment; older versions get the previous leader id and sync as a follower.
    for skip in [true, false] {
        let t = Instant::now();
        let lim = limits(0);
        let mut g = two_static_members(&lim, t);

        // The leader a restarts with the same instance id.
        let rejoin = JoinParams {
            supports_skip_assignment: skip,
            ..stat("", "ia")
        };
        let ja2 = now_of(g.join(rejoin, "a2".into(), &lim, t, 0));
        assert_eq!(
            (ja2.error, ja2.generation),
            (0, 2),
            "skip={skip}: no rebalance"
        );
        assert_eq!(g.state, GroupState::Stable, "skip={skip}");
        if skip {
            assert_eq!(ja2.leader, "a2");
            assert!(ja2.skip_assignment);
            assert_eq!(ja2.members.len(), 2, "the leader gets the members");
        } else {
            assert_eq!(
                ja2.leader, "a1",
                "the previous leader id: a2 syncs as a follower"
            );
            assert!(!ja2.skip_assignment);
            assert!(ja2.members.is_empty());
        }
        let s = now_of(sync_as(&mut g, "a2", "ia", 2, t));
        assert_eq!(
            s.assignment,
            Bytes::from("A"),
            "skip={skip}: keeps its assignment"
        );
    }
}

fn sync_as(g: &mut ClassicGroup, id: &str, inst: &str, gen: i32, t: Instant) -> Reply<SyncResult> {
    g.sync(
        SyncParams {
            member_id: id.into(),
            instance_id: Some(inst.into()),
            generation: gen,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        },
        t,
        0,
    )
}

#[test]
fn session_timeout_outside_the_broker_limits_is_refused() {
    let t = Instant::now();
    let mut g = ClassicGroup::new("g", 0);
    let r = now_of(g.join(
        JoinParams {
            session_timeout_ms: 1_000,
            ..params("", &["range"])
        },
        "a".into(),
        &limits(0),
        t,
        0,
    ));
    assert_eq!(r.error, ResponseError::InvalidSessionTimeout.code());
    assert!(g.members.is_empty());
}
