//! The KIP-848 consumer group protocol (ConsumerGroupHeartbeat): the broker owns the
//! assignment. Every member heartbeats with its member epoch; the group epoch is bumped when
//! membership, subscriptions or the subscribed topics' partition counts change; a server-side
//! assignor (`uniform`, Kafka's default, or `range`) computes the target assignment for the new
//! epoch; and each member is moved towards its target the way Kafka reconciles:
//!
//! 1. partitions the member owns but must give up are taken away first (its epoch stays, so the
//!    client revokes them and acknowledges by listing what it still owns);
//! 2. then the member moves to the new epoch and gets the target partitions that no other
//!    member still owns; partitions another member has yet to revoke are handed over on a later
//!    heartbeat, once released.
//!
//! So a partition is never owned by two members at once. Members that stop heartbeating for
//! the session timeout, or do not revoke within their rebalance timeout, are removed. No I/O
//! here: the coordinator passes in the topic metadata and the clock.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use tokio::time::{Duration, Instant};

/// A topic partition by topic name.
pub(crate) type TopicPartition = (String, i32);

/// Partition counts of the topics members subscribe to (name → count); missing = no such topic.
pub(crate) type TopicCounts = BTreeMap<String, i32>;

/// Resolves a subscribed regular expression to the sorted names of the topics it matches
/// (an error text for an invalid expression).
pub(crate) type Resolver<'a> = dyn Fn(&str) -> Result<Vec<String>, String> + 'a;

/// Assignors the broker offers (`group.consumer.assignors`); the first is the default.
pub(crate) const ASSIGNORS: &[&str] = &["uniform", "range"];

/// Timing of consumer groups (Kafka's `group.consumer.*` broker properties).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsumerLimits {
    /// `group.consumer.session.timeout.ms`.
    pub(crate) session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub(crate) heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub(crate) max_size: usize,
}

/// What a ConsumerGroupHeartbeat carries (topic ids already resolved to names).
#[derive(Debug, Clone)]
pub(crate) struct HeartbeatParams {
    /// Member id (empty: the broker picks one; v1 clients generate their own).
    pub(crate) member_id: String,
    /// 0 = join, -1 = leave, -2 = static member leaving temporarily, else the current epoch.
    pub(crate) member_epoch: i32,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Rack.
    pub(crate) rack_id: Option<String>,
    /// Rebalance timeout (-1 = unchanged).
    pub(crate) rebalance_timeout_ms: i32,
    /// Subscribed topics (None = unchanged).
    pub(crate) subscribed_topics: Option<Vec<String>>,
    /// Subscribed regular expression (None = unchanged, empty = none).
    pub(crate) subscribed_regex: Option<String>,
    /// Assignor asked for (None = unchanged).
    pub(crate) server_assignor: Option<String>,
    /// Partitions the member owns (None = unchanged).
    pub(crate) owned: Option<Vec<TopicPartition>>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
}

/// The answer to a ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeartbeatResult {
    /// Member id.
    pub(crate) member_id: String,
    /// The member's epoch now.
    pub(crate) member_epoch: i32,
    /// How often to heartbeat.
    pub(crate) heartbeat_interval_ms: i32,
    /// The member's full assignment, when it changed (None = unchanged).
    pub(crate) assignment: Option<Vec<TopicPartition>>,
}

/// A member's reconciliation state (Kafka's MemberState; the number is its record value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    /// Owns its target.
    Stable,
    /// Must revoke `revoking` before moving on.
    UnrevokedPartitions,
    /// At the target epoch, but some target partitions are still owned by others.
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's byte for the state in ConsumerGroupCurrentMemberAssignment records.
    pub(crate) fn to_byte(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    /// The state of a record byte (unknown values count as stable: the next heartbeat
    /// reconciles again).
    pub(crate) fn from_byte(b: i8) -> MemberState {
        match b {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// What changed in a group since the coordinator last persisted it; each becomes records of
/// `__consumer_offsets` (Kafka's types 3 and 5-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A member's metadata (subscription, client, timeouts).
    Member(String),
    /// A member is gone: tombstones of its records.
    MemberRemoved(String),
    /// The group epoch.
    GroupEpoch,
    /// A new target assignment (every member's, and its epoch).
    Target,
    /// A member's current assignment and epoch.
    Assignment(String),
}

/// A member as replayed from `__consumer_offsets`.
#[derive(Debug, Clone)]
pub(crate) struct RestoredMember {
    /// Member id.
    pub(crate) id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Rack.
    pub(crate) rack_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Rebalance timeout.
    pub(crate) rebalance_timeout_ms: i32,
    /// Subscribed topics.
    pub(crate) subscribed: Vec<String>,
    /// Subscribed regular expression.
    pub(crate) regex: Option<String>,
    /// Assignor asked for.
    pub(crate) server_assignor: Option<String>,
    /// Member epoch.
    pub(crate) epoch: i32,
    /// Previous member epoch.
    pub(crate) previous_epoch: i32,
    /// Reconciliation state.
    pub(crate) state: MemberState,
    /// Current assignment.
    pub(crate) assigned: Vec<TopicPartition>,
    /// Partitions pending revocation.
    pub(crate) revoking: Vec<TopicPartition>,
    /// Target assignment.
    pub(crate) target: Vec<TopicPartition>,
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerMember {
    /// Member id.
    pub(crate) id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Rack.
    pub(crate) rack_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Rebalance timeout.
    pub(crate) rebalance_timeout_ms: i32,
    /// Subscribed topic names, sorted.
    pub(crate) subscribed: Vec<String>,
    /// Subscribed regular expression (RE2 syntax, matching whole topic names).
    pub(crate) regex: Option<String>,
    /// Topics the regular expression matches now, sorted.
    pub(crate) resolved: Vec<String>,
    /// Assignor the member asked for.
    pub(crate) server_assignor: Option<String>,
    /// Member epoch.
    pub(crate) epoch: i32,
    /// The member epoch before the last change (a lost answer may still use it).
    pub(crate) previous_epoch: i32,
    /// Partitions the member has been given (and not asked to revoke).
    pub(crate) assigned: BTreeSet<TopicPartition>,
    /// Partitions it must revoke.
    pub(crate) revoking: BTreeSet<TopicPartition>,
    /// Reconciliation state.
    pub(crate) state: MemberState,
    /// The assignment last sent, to send it again only when it changes.
    last_sent: Option<BTreeSet<TopicPartition>>,
    deadline: Instant,
    revoke_deadline: Option<Instant>,
}

impl ConsumerMember {
    /// Whether the member subscribes to `topic` (by name or through its regex).
    pub(crate) fn subscribes(&self, topic: &String) -> bool {
        self.subscribed.binary_search(topic).is_ok() || self.resolved.binary_search(topic).is_ok()
    }

    fn owns(&self, tp: &TopicPartition) -> bool {
        self.assigned.contains(tp) || self.revoking.contains(tp)
    }
}

/// A KIP-848 consumer group.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroup {
    /// Group id.
    pub(crate) id: String,
    /// Group epoch.
    pub(crate) group_epoch: i32,
    /// Epoch of the target assignment.
    pub(crate) assignment_epoch: i32,
    /// Members by id.
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    /// Target assignment per member.
    pub(crate) target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Partition counts of the subscribed topics the target was computed with.
    counts: TopicCounts,
    /// Wall-clock time of the last change to the membership (ms).
    pub(crate) state_timestamp_ms: i64,
    /// A member joined during the current heartbeat (bump the epoch once).
    joined: bool,
    /// Changes not yet persisted.
    pub(crate) changes: Vec<Change>,
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v.max(0)).unwrap_or(0))
}

impl ConsumerGroup {
    /// A new, empty group.
    pub(crate) fn new(id: &str, now_ms: i64) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            counts: TopicCounts::new(),
            state_timestamp_ms: now_ms,
            joined: false,
            changes: Vec::new(),
        }
    }

    /// A group as replayed from `__consumer_offsets`: its members must heartbeat within the
    /// session timeout from `now`. `counts` are the subscribed topics' current partition counts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore(
        id: &str,
        group_epoch: i32,
        assignment_epoch: i32,
        members: Vec<RestoredMember>,
        counts: TopicCounts,
        resolve: &Resolver<'_>,
        limits: &ConsumerLimits,
        now: Instant,
        now_ms: i64,
    ) -> ConsumerGroup {
        let mut g = ConsumerGroup::new(id, now_ms);
        g.group_epoch = group_epoch;
        g.assignment_epoch = assignment_epoch;
        g.counts = counts;
        for m in members {
            g.target
                .insert(m.id.clone(), m.target.iter().cloned().collect());
            let assigned: BTreeSet<TopicPartition> = m.assigned.into_iter().collect();
            g.members.insert(
                m.id.clone(),
                ConsumerMember {
                    id: m.id,
                    instance_id: m.instance_id,
                    rack_id: m.rack_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    subscribed: m.subscribed,
                    resolved: m
                        .regex
                        .as_deref()
                        .and_then(|r| resolve(r).ok())
                        .unwrap_or_default(),
                    regex: m.regex,
                    server_assignor: m.server_assignor,
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    last_sent: Some(assigned.clone()),
                    assigned,
                    revoking: m.revoking.into_iter().collect(),
                    state: m.state,
                    deadline: now + ms(limits.session_timeout_ms),
                    revoke_deadline: None,
                },
            );
        }
        g
    }

    /// Kafka's state name (`Empty`, `Assigning`, `Reconciling`, `Stable`).
    pub(crate) fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor the group uses: the one most members ask for, else the default.
    pub(crate) fn assignor(&self) -> &'static str {
        let mut best: Option<(&'static str, usize)> = None;
        for a in ASSIGNORS {
            let n = self
                .members
                .values()
                .filter(|m| m.server_assignor.as_deref() == Some(a))
                .count();
            if n > 0 && best.is_none_or(|(_, b)| n > b) {
                best = Some((a, n));
            }
        }
        best.map_or(ASSIGNORS[0], |(a, _)| a)
    }

    /// Every subscribed topic of every member.
    pub(crate) fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().chain(m.resolved.iter()).cloned())
            .collect()
    }

    fn bump(&mut self, now_ms: i64) {
        self.group_epoch += 1;
        self.state_timestamp_ms = now_ms;
        self.changes.push(Change::GroupEpoch);
    }

    /// Check a member and epoch for an OffsetCommit / OffsetFetch (Kafka's validateMemberEpoch).
    pub(crate) fn validate_member_epoch(
        &self,
        member_id: &str,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        let m = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if epoch > m.epoch {
            Err(ResponseError::FencedMemberEpoch)
        } else if epoch < m.epoch {
            Err(ResponseError::StaleMemberEpoch)
        } else {
            Ok(())
        }
    }

    /// ConsumerGroupHeartbeat. `counts` holds the partition counts of (at least) every topic
    /// the group subscribes to after this request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn heartbeat(
        &mut self,
        p: HeartbeatParams,
        new_member_id: String,
        counts: &TopicCounts,
        resolve: &Resolver<'_>,
        limits: &ConsumerLimits,
        now: Instant,
        now_ms: i64,
    ) -> Result<HeartbeatResult, (ResponseError, String)> {
        let regex = match p.subscribed_regex.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(r) => match resolve(r) {
                Ok(_) => Some(Some(r.to_string())),
                Err(e) => {
                    return Err((
                        ResponseError::InvalidRegularExpression,
                        format!("invalid SubscribedTopicRegex {r:?}: {e}"),
                    ))
                }
            },
        };
        if let Some(a) = &p.server_assignor {
            if !ASSIGNORS.contains(&a.as_str()) {
                return Err((
                    ResponseError::UnsupportedAssignor,
                    format!("assignor {a} is not supported; use one of {ASSIGNORS:?}"),
                ));
            }
        }
        if p.member_epoch == -1 || p.member_epoch == -2 {
            return self.leave(&p, now_ms);
        }
        let id = if p.member_epoch == 0 {
            self.join(&p, new_member_id, limits, now, now_ms)?
        } else {
            let m = self.members.get(&p.member_id).ok_or_else(|| {
                (
                    ResponseError::UnknownMemberId,
                    format!("member {} is not in group {}", p.member_id, self.id),
                )
            })?;
            let lost_response = p.member_epoch == m.previous_epoch
                && p.owned
                    .as_ref()
                    .is_some_and(|o| o.iter().all(|tp| m.owns(tp)));
            if p.member_epoch != m.epoch && !lost_response {
                return Err((
                    ResponseError::FencedMemberEpoch,
                    format!(
                        "member epoch {} does not match the current epoch {}",
                        p.member_epoch, m.epoch
                    ),
                ));
            }
            p.member_id.clone()
        };
        let mut changed = false;
        if let Some(m) = self.members.get_mut(&id) {
            m.deadline = now + ms(limits.session_timeout_ms);
            if p.rebalance_timeout_ms >= 0 {
                m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            }
            if let Some(mut topics) = p.subscribed_topics.clone() {
                topics.sort();
                topics.dedup();
                if topics != m.subscribed {
                    m.subscribed = topics;
                    changed = true;
                }
            }
            if let Some(r) = &regex {
                if *r != m.regex {
                    m.regex.clone_from(r);
                    changed = true;
                }
            }
            if let Some(a) = &p.server_assignor {
                if m.server_assignor.as_ref() != Some(a) {
                    m.server_assignor = Some(a.clone());
                    changed = true;
                }
            }
            if p.rack_id.is_some() {
                m.rack_id.clone_from(&p.rack_id);
            }
            m.client_id.clone_from(&p.client_id);
            m.client_host.clone_from(&p.client_host);
        }
        let joined = std::mem::take(&mut self.joined);
        if changed || joined {
            self.changes.push(Change::Member(id.clone()));
        }
        // Regular expressions are resolved again at every heartbeat: a topic created or
        // deleted since changes the subscription, and so the group epoch.
        for m in self.members.values_mut() {
            let now_resolved = m
                .regex
                .as_deref()
                .and_then(|r| resolve(r).ok())
                .unwrap_or_default();
            if now_resolved != m.resolved {
                m.resolved = now_resolved;
                changed = true;
            }
        }
        if changed || joined {
            self.bump(now_ms);
        }
        let subscribed = self.subscribed_topics();
        let current: TopicCounts = subscribed
            .iter()
            .filter_map(|t| counts.get(t).map(|c| (t.clone(), *c)))
            .collect();
        if current != self.counts {
            if self.group_epoch == self.assignment_epoch && !changed {
                self.bump(now_ms);
            }
            self.counts = current;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target();
        }
        let snapshot = |g: &ConsumerGroup| {
            g.members
                .get(&id)
                .map(|m| (m.epoch, m.state, m.assigned.clone(), m.revoking.clone()))
        };
        let before = snapshot(self);
        self.reconcile(&id, p.owned.as_deref(), now);
        if snapshot(self) != before {
            self.changes.push(Change::Assignment(id.clone()));
        }
        let m = self
            .members
            .get_mut(&id)
            .ok_or((ResponseError::UnknownMemberId, String::new()))?;
        let full_rejoin = p.owned.is_some() && p.member_epoch == 0;
        let assignment = if m.last_sent.as_ref() != Some(&m.assigned) || full_rejoin {
            m.last_sent = Some(m.assigned.clone());
            Some(m.assigned.iter().cloned().collect())
        } else {
            None
        };
        Ok(HeartbeatResult {
            member_id: id,
            member_epoch: m.epoch,
            heartbeat_interval_ms: limits.heartbeat_interval_ms,
            assignment,
        })
    }

    fn join(
        &mut self,
        p: &HeartbeatParams,
        new_member_id: String,
        limits: &ConsumerLimits,
        now: Instant,
        now_ms: i64,
    ) -> Result<String, (ResponseError, String)> {
        let id = if p.member_id.is_empty() {
            new_member_id
        } else {
            p.member_id.clone()
        };
        let regex_set = p.subscribed_regex.as_deref().is_some_and(|r| !r.is_empty());
        if p.subscribed_topics.is_none() && !regex_set && !self.members.contains_key(&id) {
            return Err((
                ResponseError::InvalidRequest,
                "SubscribedTopicNames or SubscribedTopicRegex must be set when joining".into(),
            ));
        }
        // A static member coming back takes over its previous incarnation, assignment included.
        if let Some(inst) = &p.instance_id {
            let old = self
                .members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(inst) && m.id != id)
                .map(|m| m.id.clone());
            if let Some(old) = old {
                if let Some(mut m) = self.members.remove(&old) {
                    tracing::info!(group = %self.id, instance_id = %inst, old_member = %old,
                        new_member = %id, "static member rejoined; it keeps its assignment");
                    m.id.clone_from(&id);
                    m.last_sent = None;
                    if m.epoch == -2 {
                        m.epoch = m.previous_epoch;
                    }
                    if let Some(t) = self.target.remove(&old) {
                        self.target.insert(id.clone(), t);
                    }
                    self.members.insert(id.clone(), m);
                    self.changes.push(Change::MemberRemoved(old));
                    self.changes.push(Change::Member(id.clone()));
                    self.changes.push(Change::Target);
                    self.changes.push(Change::Assignment(id.clone()));
                    return Ok(id);
                }
            }
        }
        if let Some(m) = self.members.get_mut(&id) {
            // A member rejoining with epoch 0 (after being fenced) starts from nothing.
            m.assigned.clear();
            m.revoking.clear();
            m.state = MemberState::Stable;
            m.epoch = 0;
            m.last_sent = None;
            self.bump(now_ms);
            return Ok(id);
        }
        if self.members.len() >= limits.max_size {
            return Err((
                ResponseError::GroupMaxSizeReached,
                format!("group {} is full", self.id),
            ));
        }
        self.members.insert(
            id.clone(),
            ConsumerMember {
                id: id.clone(),
                instance_id: p.instance_id.clone(),
                rack_id: p.rack_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                rebalance_timeout_ms: p.rebalance_timeout_ms.max(0),
                subscribed: Vec::new(),
                regex: None,
                resolved: Vec::new(),
                server_assignor: None,
                epoch: 0,
                previous_epoch: -1,
                assigned: BTreeSet::new(),
                revoking: BTreeSet::new(),
                state: MemberState::Stable,
                last_sent: None,
                deadline: now + ms(limits.session_timeout_ms),
                revoke_deadline: None,
            },
        );
        tracing::info!(group = %self.id, member = %id, "member joined (consumer protocol)");
        // The epoch is bumped once by the caller, together with the new subscription.
        self.joined = true;
        Ok(id)
    }

    fn leave(
        &mut self,
        p: &HeartbeatParams,
        now_ms: i64,
    ) -> Result<HeartbeatResult, (ResponseError, String)> {
        let id = if p.member_id.is_empty() {
            p.instance_id
                .as_ref()
                .and_then(|i| {
                    self.members
                        .values()
                        .find(|m| m.instance_id.as_ref() == Some(i))
                })
                .map(|m| m.id.clone())
                .unwrap_or_default()
        } else {
            p.member_id.clone()
        };
        if !self.members.contains_key(&id) {
            return Err((
                ResponseError::UnknownMemberId,
                format!("member {id} is not in group {}", self.id),
            ));
        }
        let is_static = self
            .members
            .get(&id)
            .is_some_and(|m| m.instance_id.is_some());
        if p.member_epoch == -2 && is_static {
            // A static member going away for a while (KIP-345/848): it keeps its place and its
            // partitions until it comes back with the same instance id or its session ends.
            if let Some(m) = self.members.get_mut(&id) {
                m.previous_epoch = m.epoch;
                m.epoch = -2;
            }
            self.changes.push(Change::Assignment(id.clone()));
            tracing::info!(group = %self.id, member = %id, "static member left temporarily");
        } else {
            self.remove_member(&id, "left the group", now_ms);
        }
        Ok(HeartbeatResult {
            member_id: id,
            member_epoch: p.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    fn remove_member(&mut self, id: &str, why: &str, now_ms: i64) {
        if self.members.remove(id).is_some() {
            self.target.remove(id);
            self.changes.push(Change::MemberRemoved(id.to_string()));
            tracing::info!(group = %self.id, member = %id, reason = why, "member removed (consumer protocol)");
            self.bump(now_ms);
        }
    }

    /// Remove members whose session or revocation time ran out. Returns whether any was.
    pub(crate) fn tick(&mut self, now: Instant, now_ms: i64) -> bool {
        let expired: Vec<(String, &'static str)> = self
            .members
            .values()
            .filter_map(|m| {
                if now >= m.deadline {
                    Some((m.id.clone(), "session timed out"))
                } else if m.revoke_deadline.is_some_and(|d| now >= d) {
                    Some((
                        m.id.clone(),
                        "did not revoke partitions within the rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in &expired {
            self.remove_member(id, why, now_ms);
        }
        !expired.is_empty()
    }

    /// Every partition of the subscribed topics, with the members that may own it.
    fn eligible(&self) -> Vec<(TopicPartition, Vec<String>)> {
        let mut out = Vec::new();
        for (topic, count) in &self.counts {
            let members: Vec<String> = self
                .members
                .values()
                .filter(|m| m.subscribes(topic))
                .map(|m| m.id.clone())
                .collect();
            if members.is_empty() {
                continue;
            }
            for p in 0..*count {
                out.push(((topic.clone(), p), members.clone()));
            }
        }
        out
    }

    fn compute_target(&mut self) {
        let eligible = self.eligible();
        let mut target: BTreeMap<String, BTreeSet<TopicPartition>> = self
            .members
            .keys()
            .map(|id| (id.clone(), BTreeSet::new()))
            .collect();
        if self.assignor() == "range" {
            range_assign(&self.counts, &self.members, &mut target);
        } else {
            uniform_assign(&eligible, &self.target, &mut target);
        }
        self.target = target;
        self.assignment_epoch = self.group_epoch;
        self.changes.push(Change::Target);
        tracing::info!(group = %self.id, epoch = self.assignment_epoch, assignor = self.assignor(),
            members = self.members.len(), partitions = eligible.len(), "computed target assignment");
    }

    /// Move one member towards its target (Kafka's CurrentAssignmentBuilder).
    fn reconcile(&mut self, id: &str, owned: Option<&[TopicPartition]>, now: Instant) {
        let target = self.target.get(id).cloned().unwrap_or_default();
        let owned_by_others: BTreeSet<TopicPartition> = self
            .members
            .values()
            .filter(|m| m.id != id)
            .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()).cloned())
            .collect();
        let epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        if m.state == MemberState::UnrevokedPartitions {
            let revoked = owned.is_some_and(|o| o.iter().all(|tp| !m.revoking.contains(tp)));
            if !revoked {
                return;
            }
            m.revoking.clear();
            m.revoke_deadline = None;
        }
        if m.epoch == epoch && m.state == MemberState::Stable {
            return;
        }
        let revoke: BTreeSet<TopicPartition> = m.assigned.difference(&target).cloned().collect();
        if !revoke.is_empty() {
            m.assigned.retain(|tp| target.contains(tp));
            m.revoking = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_deadline = Some(now + ms(m.rebalance_timeout_ms));
            return;
        }
        let mut unreleased = false;
        for tp in &target {
            if owned_by_others.contains(tp) {
                unreleased = true;
            } else {
                m.assigned.insert(tp.clone());
            }
        }
        if m.epoch != epoch {
            m.previous_epoch = m.epoch;
            m.epoch = epoch;
        }
        m.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }
}

/// Kafka's range assignor, per topic: the subscribed members in id order each take a
/// contiguous range, the first `count % members` one partition more.
fn range_assign(
    counts: &TopicCounts,
    members: &BTreeMap<String, ConsumerMember>,
    target: &mut BTreeMap<String, BTreeSet<TopicPartition>>,
) {
    for (topic, count) in counts {
        let subs: Vec<&String> = members
            .values()
            .filter(|m| m.subscribes(topic))
            .map(|m| &m.id)
            .collect();
        if subs.is_empty() {
            continue;
        }
        let n = usize::try_from(*count).unwrap_or(0);
        let per = n / subs.len();
        let extra = n % subs.len();
        let mut next = 0usize;
        for (i, id) in subs.iter().enumerate() {
            let take = per + usize::from(i < extra);
            for p in next..next + take {
                if let (Some(set), Ok(p)) = (target.get_mut(*id), i32::try_from(p)) {
                    set.insert((topic.clone(), p));
                }
            }
            next += take;
        }
    }
}

/// A sticky, balanced assignment: members keep the partitions they had where still allowed,
/// new partitions go to the least loaded eligible member, then partitions move from the most
/// to the least loaded member until no move can narrow the gap.
fn uniform_assign(
    eligible: &[(TopicPartition, Vec<String>)],
    previous: &BTreeMap<String, BTreeSet<TopicPartition>>,
    target: &mut BTreeMap<String, BTreeSet<TopicPartition>>,
) {
    let owner_of = |tp: &TopicPartition| {
        previous
            .iter()
            .find(|(_, set)| set.contains(tp))
            .map(|(id, _)| id.clone())
    };
    let mut unassigned = Vec::new();
    for (tp, members) in eligible {
        match owner_of(tp).filter(|o| members.contains(o) && target.contains_key(o)) {
            Some(o) => {
                if let Some(set) = target.get_mut(&o) {
                    set.insert(tp.clone());
                }
            }
            None => unassigned.push((tp, members)),
        }
    }
    for (tp, members) in unassigned {
        let least = members
            .iter()
            .filter(|m| target.contains_key(*m))
            .min_by_key(|m| (target.get(*m).map_or(0, BTreeSet::len), (*m).clone()));
        if let Some(m) = least {
            if let Some(set) = target.get_mut(m) {
                set.insert(tp.clone());
            }
        }
    }
    // Balance: bounded by the number of partitions (every move narrows a gap of 2 or more).
    for _ in 0..=eligible.len() {
        let mut moved = false;
        let mut by_load: Vec<(usize, String)> =
            target.iter().map(|(id, s)| (s.len(), id.clone())).collect();
        by_load.sort();
        'outer: for (lo_len, lo) in &by_load {
            for (hi_len, hi) in by_load.iter().rev() {
                if *hi_len < lo_len + 2 {
                    break;
                }
                let candidate = target.get(hi).and_then(|set| {
                    set.iter()
                        .rev()
                        .find(|tp| eligible.iter().any(|(e, ms)| e == *tp && ms.contains(lo)))
                        .cloned()
                });
                if let Some(tp) = candidate {
                    if let Some(s) = target.get_mut(hi) {
                        s.remove(&tp);
                    }
                    if let Some(s) = target.get_mut(lo) {
                        s.insert(tp);
                    }
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
