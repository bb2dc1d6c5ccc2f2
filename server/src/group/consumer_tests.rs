//! The KIP-848 assignors and reconciliation, without I/O.

use super::*;

fn limits() -> ConsumerLimits {
    ConsumerLimits {
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5_000,
        max_size: 100,
    }
}

fn no_regex(_: &str) -> Result<Vec<String>, String> {
    Ok(Vec::new())
}

fn join(topics: &[&str], assignor: Option<&str>) -> HeartbeatParams {
    HeartbeatParams {
        member_id: String::new(),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 30_000,
        subscribed_topics: Some(topics.iter().map(|t| (*t).to_string()).collect()),
        subscribed_regex: None,
        server_assignor: assignor.map(str::to_string),
        owned: Some(Vec::new()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn counts(topics: &[(&str, i32)]) -> TopicCounts {
    topics.iter().map(|(t, n)| ((*t).to_string(), *n)).collect()
}

fn targets(g: &ConsumerGroup) -> Vec<(String, Vec<TopicPartition>)> {
    g.target
        .iter()
        .map(|(m, tps)| (m.clone(), tps.iter().cloned().collect()))
        .collect()
}

#[test]
fn range_gives_each_member_a_contiguous_range_per_topic() {
    let t = Instant::now();
    let c = counts(&[("a", 5), ("b", 2)]);
    let mut g = ConsumerGroup::new("g", 0);
    for id in ["m1", "m2"] {
        g.heartbeat(
            join(&["a", "b"], Some("range")),
            id.into(),
            &c,
            &no_regex,
            &limits(),
            t,
            0,
        )
        .unwrap();
    }
    assert_eq!(g.assignor(), "range");
    let tp = |t: &str, p: i32| (t.to_string(), p);
    assert_eq!(
        targets(&g),
        [
            (
                "m1".to_string(),
                vec![tp("a", 0), tp("a", 1), tp("a", 2), tp("b", 0)]
            ),
            ("m2".to_string(), vec![tp("a", 3), tp("a", 4), tp("b", 1)]),
        ]
    );
}

#[test]
fn uniform_balances_and_keeps_partitions_where_they_are() {
    let t = Instant::now();
    let c = counts(&[("a", 6)]);
    let mut g = ConsumerGroup::new("g", 0);
    for id in ["m1", "m2"] {
        g.heartbeat(
            join(&["a"], None),
            id.into(),
            &c,
            &no_regex,
            &limits(),
            t,
            0,
        )
        .unwrap();
    }
    let before = g.target.clone();
    assert!(before.values().all(|s| s.len() == 3));
    g.heartbeat(
        join(&["a"], None),
        "m3".into(),
        &c,
        &no_regex,
        &limits(),
        t,
        0,
    )
    .unwrap();
    assert!(g.target.values().all(|s| s.len() == 2), "{:?}", g.target);
    for m in ["m1", "m2"] {
        assert!(
            g.target[m].is_subset(&before[m]),
            "{m} only gave partitions up: {:?} -> {:?}",
            before[m],
            g.target[m]
        );
    }
    // Every partition exactly once.
    let all: Vec<TopicPartition> = g.target.values().flatten().cloned().collect();
    let unique: BTreeSet<TopicPartition> = all.iter().cloned().collect();
    assert_eq!((all.len(), unique.len()), (6, 6));
}

#[test]
fn uniform_respects_different_subscriptions() {
    let t = Instant::now();
    let c = counts(&[("a", 4), ("b", 4)]);
    let mut g = ConsumerGroup::new("g", 0);
    g.heartbeat(
        join(&["a"], None),
        "m1".into(),
        &c,
        &no_regex,
        &limits(),
        t,
        0,
    )
    .unwrap();
    g.heartbeat(
        join(&["a", "b"], None),
        "m2".into(),
        &c,
        &no_regex,
        &limits(),
        t,
        0,
    )
    .unwrap();
    assert!(g.target["m1"].iter().all(|(t, _)| t == "a"));
    assert_eq!(g.target["m1"].len() + g.target["m2"].len(), 8);
    assert_eq!(g.target["m1"].len(), 4, "m1 can only take a's partitions");
}

#[test]
fn unknown_assignor_is_refused() {
    let mut g = ConsumerGroup::new("g", 0);
    let err = g
        .heartbeat(
            join(&["a"], Some("sticky")),
            "m".into(),
            &counts(&[("a", 1)]),
            &no_regex,
            &limits(),
            Instant::now(),
            0,
        )
        .unwrap_err();
    assert_eq!(err.0, ResponseError::UnsupportedAssignor);
    assert!(g.members.is_empty());
}

#[test]
fn silent_members_are_removed_and_their_partitions_freed() {
    let t = Instant::now();
    let c = counts(&[("a", 2)]);
    let mut g = ConsumerGroup::new("g", 0);
    g.heartbeat(
        join(&["a"], None),
        "m1".into(),
        &c,
        &no_regex,
        &limits(),
        t,
        0,
    )
    .unwrap();
    let later = t + Duration::from_millis(45_000);
    assert!(g.tick(later, 0));
    assert!(g.members.is_empty());
    assert!(g.changes.contains(&Change::MemberRemoved("m1".to_string())));
}

#[test]
fn regex_subscriptions_follow_the_topics_that_exist() {
    let t = Instant::now();
    let mut existing = vec!["orders-1".to_string(), "other".to_string()];
    let resolve_in = |names: &Vec<String>| {
        let names = names.clone();
        move |p: &str| -> Result<Vec<String>, String> {
            let prefix = p.strip_suffix(".*").ok_or("only PREFIX.* in this test")?;
            Ok(names
                .iter()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect())
        }
    };
    let c = counts(&[("orders-1", 2), ("orders-2", 2), ("other", 2)]);
    let mut g = ConsumerGroup::new("g", 0);
    let p = HeartbeatParams {
        subscribed_topics: Some(Vec::new()),
        subscribed_regex: Some("orders-.*".into()),
        ..join(&[], None)
    };
    let r = g
        .heartbeat(p, "m1".into(), &c, &resolve_in(&existing), &limits(), t, 0)
        .unwrap();
    assert_eq!(
        r.assignment,
        Some(vec![
            ("orders-1".to_string(), 0),
            ("orders-1".to_string(), 1)
        ])
    );
    let epoch = g.group_epoch;
    // A new matching topic appears: the next heartbeat widens the subscription.
    existing.push("orders-2".into());
    let again = HeartbeatParams {
        member_id: "m1".into(),
        member_epoch: r.member_epoch,
        subscribed_topics: None,
        subscribed_regex: None,
        owned: None,
        ..join(&[], None)
    };
    let r = g
        .heartbeat(
            again,
            String::new(),
            &c,
            &resolve_in(&existing),
            &limits(),
            t,
            0,
        )
        .unwrap();
    assert_eq!(g.group_epoch, epoch + 1);
    assert_eq!(r.assignment.map(|a| a.len()), Some(4));
    // An invalid expression is refused with INVALID_REGULAR_EXPRESSION.
    let bad = HeartbeatParams {
        subscribed_regex: Some("(".into()),
        ..join(&[], None)
    };
    let err = g
        .heartbeat(
            bad,
            "m2".into(),
            &c,
            &|_: &str| Err("unclosed group".into()),
            &limits(),
            t,
            0,
        )
        .unwrap_err();
    assert_eq!(err.0, ResponseError::InvalidRegularExpression);
}
