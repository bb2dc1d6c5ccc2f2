//! The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) as a state machine
//! over one group, following Kafka's classic group coordinator:
//!
//! - states `Empty → PreparingRebalance → CompletingRebalance → Stable` (and `Dead` once
//!   deleted), a generation bumped at every completed join, protocol selection by vote among
//!   the protocols every member supports, and the leader (first member to join) that computes
//!   the assignment and hands it back in its SyncGroup;
//! - the MEMBER_ID_REQUIRED round trip (KIP-394, JoinGroup v4+): an unknown member is given an
//!   id and must join again with it within its session timeout;
//! - static membership (KIP-345): a member with a `group.instance.id` that rejoins with an
//!   unknown member id replaces its old incarnation, without a rebalance when the group is
//!   stable; the old incarnation is fenced (FENCED_INSTANCE_ID);
//! - timeouts: session (members that stop heartbeating are removed), rebalance (members that do
//!   not rejoin in time are removed when the join phase ends; members that do not send their
//!   SyncGroup in time are removed and the group rebalances again), and
//!   `group.initial.rebalance.delay.ms` for the first rebalance of an empty group.
//!
//! No I/O happens here. Requests that must wait (JoinGroup until the join phase ends, SyncGroup
//! until the leader's assignment arrives) get a [`Reply::Later`] receiver that the state machine
//! completes. Whenever the persisted part of the group changes, [`ClassicGroup::dirty`] is set;
//! the coordinator then writes a GroupMetadata record to `__consumer_offsets`. Time comes in as
//! arguments (`now` for deadlines, `now_ms` for the wall clock) so the machine can be tested
//! without sleeping.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// A group's state, named as Kafka names them in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    /// No members (possibly only committed offsets).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Join done; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Timing and size limits of the coordinator (Kafka's `group.*` broker properties).
#[derive(Debug, Clone)]
pub(crate) struct GroupLimits {
    /// `group.min.session.timeout.ms`.
    pub(crate) min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub(crate) max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub(crate) initial_rebalance_delay_ms: i32,
    /// `group.max.size`.
    pub(crate) max_size: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            max_size: i32::MAX as usize,
        }
    }
}

/// What a JoinGroup carries.
#[derive(Debug, Clone)]
pub(crate) struct JoinParams {
    /// Empty for a member without an id yet.
    pub(crate) member_id: String,
    /// `group.instance.id` of a static member.
    pub(crate) instance_id: Option<String>,
    /// Client id from the request header.
    pub(crate) client_id: String,
    /// Client address as Kafka shows it (`/127.0.0.1`).
    pub(crate) client_host: String,
    /// Session timeout.
    pub(crate) session_timeout_ms: i32,
    /// Rebalance timeout (JoinGroup v1+; the session timeout before).
    pub(crate) rebalance_timeout_ms: i32,
    /// Protocol type ("consumer", "connect", …).
    pub(crate) protocol_type: String,
    /// Supported protocols (assignors), in the member's order of preference, with metadata.
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: an unknown dynamic member must come back with the id it is given.
    pub(crate) require_known_member_id: bool,
    /// JoinGroup v9+: a static leader rejoining a stable group can be told to skip assigning.
    pub(crate) supports_skip_assignment: bool,
}

/// One member of a JoinGroup answer given to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinMember {
    /// Member id.
    pub(crate) member_id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub(crate) metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinResult {
    /// Error code (0 = none).
    pub(crate) error: i16,
    /// Generation the member joined (-1 on error).
    pub(crate) generation: i32,
    /// Protocol type of the group.
    pub(crate) protocol_type: Option<String>,
    /// Selected protocol.
    pub(crate) protocol_name: Option<String>,
    /// Leader's member id.
    pub(crate) leader: String,
    /// The member id (given out to new members).
    pub(crate) member_id: String,
    /// Every member with its metadata, for the leader only.
    pub(crate) members: Vec<JoinMember>,
    /// Leader must not assign (static leader rejoining a stable group, v9+).
    pub(crate) skip_assignment: bool,
}

impl JoinResult {
    /// An error answer.
    pub(crate) fn error(code: ResponseError, member_id: &str) -> JoinResult {
        JoinResult {
            error: code.code(),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// What a SyncGroup carries.
#[derive(Debug, Clone)]
pub(crate) struct SyncParams {
    /// Member id.
    pub(crate) member_id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Generation the member believes in.
    pub(crate) generation: i32,
    /// SyncGroup v5+: the protocol type the member joined with.
    pub(crate) protocol_type: Option<String>,
    /// SyncGroup v5+: the protocol the member was told.
    pub(crate) protocol_name: Option<String>,
    /// The leader's assignment per member (empty for followers).
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncResult {
    /// Error code (0 = none).
    pub(crate) error: i16,
    /// Protocol type.
    pub(crate) protocol_type: Option<String>,
    /// Selected protocol.
    pub(crate) protocol_name: Option<String>,
    /// The member's assignment.
    pub(crate) assignment: Bytes,
}

impl SyncResult {
    /// An error answer.
    pub(crate) fn error(code: ResponseError) -> SyncResult {
        SyncResult {
            error: code.code(),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer available now, or one the state machine will send later.
#[derive(Debug)]
pub(crate) enum Reply<T> {
    /// Answer now.
    Now(T),
    /// Wait for it.
    Later(oneshot::Receiver<T>),
}

/// One member of a classic group.
#[derive(Debug)]
pub(crate) struct Member {
    /// Member id.
    pub(crate) id: String,
    /// `group.instance.id` of a static member.
    pub(crate) instance_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Session timeout.
    pub(crate) session_timeout_ms: i32,
    /// Rebalance timeout.
    pub(crate) rebalance_timeout_ms: i32,
    /// Supported protocols with metadata, in preference order.
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// Current assignment (empty until the leader's SyncGroup).
    pub(crate) assignment: Bytes,
    /// A JoinGroup waiting for the join phase to end.
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    /// A SyncGroup waiting for the leader's assignment.
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Removed when no heartbeat arrives by then (unless waiting in a join or sync).
    deadline: Instant,
    /// Got its JoinGroup answer for this generation but has not sent SyncGroup yet.
    pending_sync: bool,
}

impl Member {
    /// The metadata the member gave for `protocol`.
    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn heard_from(&mut self, now: Instant) {
        self.deadline = now + ms(self.session_timeout_ms);
    }

    fn is_waiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v.max(0)).unwrap_or(0))
}

/// The initial-rebalance delay of a group that was empty (Kafka's InitialDelayedJoin).
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    until: Instant,
    remaining: Duration,
    new_member_added: bool,
}

/// A member restored from a GroupMetadata record.
#[derive(Debug, Clone)]
pub(crate) struct StoredMember {
    /// Member id.
    pub(crate) id: String,
    /// Static instance id.
    pub(crate) instance_id: Option<String>,
    /// Client id.
    pub(crate) client_id: String,
    /// Client host.
    pub(crate) client_host: String,
    /// Session timeout.
    pub(crate) session_timeout_ms: i32,
    /// Rebalance timeout.
    pub(crate) rebalance_timeout_ms: i32,
    /// Metadata for the selected protocol.
    pub(crate) subscription: Bytes,
    /// Assignment.
    pub(crate) assignment: Bytes,
}

/// One classic group.
#[derive(Debug)]
pub(crate) struct ClassicGroup {
    /// Group id.
    pub(crate) id: String,
    /// State.
    pub(crate) state: GroupState,
    /// Wall-clock time of the last state change (ms).
    pub(crate) state_timestamp_ms: i64,
    /// Protocol type of the members (None for a group that only stores offsets).
    pub(crate) protocol_type: Option<String>,
    /// Selected protocol of the current generation.
    pub(crate) protocol_name: Option<String>,
    /// Generation.
    pub(crate) generation: i32,
    /// Leader's member id.
    pub(crate) leader: Option<String>,
    /// Members in join order.
    pub(crate) members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they must join by.
    pending: Vec<(String, Instant)>,
    /// End of the join phase (rebalance timeout).
    join_deadline: Option<Instant>,
    /// Initial delay of a rebalance that started from Empty.
    initial: Option<InitialDelay>,
    /// Members that have not sent SyncGroup by then are removed.
    sync_deadline: Option<Instant>,
    /// The persisted part changed: write a GroupMetadata record.
    pub(crate) dirty: bool,
}

impl ClassicGroup {
    /// A new, empty group.
    pub(crate) fn new(id: &str, now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: Vec::new(),
            join_deadline: None,
            initial: None,
            sync_deadline: None,
            dirty: false,
        }
    }

    /// A group as replayed from `__consumer_offsets`: Stable with its members (who must
    /// heartbeat within their session timeout from `now`), or Empty.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore(
        id: &str,
        protocol_type: String,
        generation: i32,
        protocol_name: Option<String>,
        leader: Option<String>,
        state_timestamp_ms: i64,
        members: Vec<StoredMember>,
        now: Instant,
    ) -> ClassicGroup {
        let mut g = ClassicGroup::new(id, state_timestamp_ms);
        g.protocol_type = Some(protocol_type).filter(|t| !t.is_empty());
        g.generation = generation;
        g.protocol_name = protocol_name.clone();
        g.leader = leader;
        let protocol = protocol_name.unwrap_or_default();
        g.members = members
            .into_iter()
            .map(|m| Member {
                deadline: now + ms(m.session_timeout_ms),
                id: m.id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                join_waiter: None,
                sync_waiter: None,
                pending_sync: false,
            })
            .collect();
        g.state = if g.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        g
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn member_by_instance(&self, instance: &str) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.instance_id.as_deref() == Some(instance))
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    /// Number of members (for ListGroups and limits).
    pub(crate) fn size(&self) -> usize {
        self.members.len() + self.pending.len()
    }

    /// Whether `member_id` (with `instance_id`) may act in this group: UNKNOWN_MEMBER_ID or
    /// FENCED_INSTANCE_ID otherwise (Kafka's validateMember).
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(inst) = instance_id {
            return match self.member_by_instance(inst) {
                Some(i) if self.members[i].id == member_id => Ok(()),
                Some(_) => Err(ResponseError::FencedInstanceId),
                None => Err(ResponseError::UnknownMemberId),
            };
        }
        if self.member(member_id).is_some() {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        }
    }

    /// Protocols every member supports (all of the candidate's when the group has none).
    fn protocol_candidates(&self) -> Option<Vec<String>> {
        let mut it = self.members.iter();
        let first = it.next()?;
        let mut set: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in it {
            set.retain(|p| m.protocols.iter().any(|(n, _)| n == p));
        }
        Some(set)
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let Some(candidates) = self.protocol_candidates() else {
            return true;
        };
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// The protocol with the most votes: each member votes for its most preferred protocol
    /// among those every member supports; ties go to the first such protocol in join order.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.protocol_candidates()?;
        let mut votes: Vec<(String, usize)> = Vec::new();
        for m in &self.members {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                match votes.iter_mut().find(|(n, _)| n == name) {
                    Some((_, c)) => *c += 1,
                    None => votes.push((name.clone(), 1)),
                }
            }
        }
        let best = votes.iter().map(|(_, c)| *c).max()?;
        votes.into_iter().find(|(_, c)| *c == best).map(|(n, _)| n)
    }

    fn max_rebalance_timeout(&self) -> Duration {
        ms(self
            .members
            .iter()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0))
    }

    /// The answer a member gets for the current generation (a resent JoinGroup, or a static
    /// member taking over).
    fn current_join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if with_members {
                self.members
                    .iter()
                    .map(|m| JoinMember {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        metadata: m.metadata_for(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    /// JoinGroup. `new_member_id` is the id to give a member without one.
    pub(crate) fn join(
        &mut self,
        p: JoinParams,
        new_member_id: String,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Reply<JoinResult> {
        if p.session_timeout_ms < limits.min_session_timeout_ms
            || p.session_timeout_ms > limits.max_session_timeout_ms
        {
            return Reply::Now(JoinResult::error(
                ResponseError::InvalidSessionTimeout,
                &p.member_id,
            ));
        }
        if self.state == GroupState::Dead {
            return Reply::Now(JoinResult::error(
                ResponseError::CoordinatorNotAvailable,
                &p.member_id,
            ));
        }
        if !self.supports(&p.protocol_type, &p.protocols) {
            return Reply::Now(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &p.member_id,
            ));
        }
        if p.member_id.is_empty() {
            self.join_unknown(p, new_member_id, limits, now, now_ms)
        } else {
            self.join_known(p, limits, now, now_ms)
        }
    }

    fn join_unknown(
        &mut self,
        p: JoinParams,
        new_id: String,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Reply<JoinResult> {
        if let Some(inst) = p.instance_id.clone() {
            if let Some(i) = self.member_by_instance(&inst) {
                return self.replace_static_member(i, p, new_id, limits, now, now_ms);
            }
        }
        if self.size() >= limits.max_size {
            return Reply::Now(JoinResult::error(
                ResponseError::GroupMaxSizeReached,
                &p.member_id,
            ));
        }
        if p.instance_id.is_none() && p.require_known_member_id {
            self.pending
                .push((new_id.clone(), now + ms(p.session_timeout_ms)));
            return Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &new_id));
        }
        self.add_member_and_rebalance(p, new_id, limits, now, now_ms)
    }

    fn join_known(
        &mut self,
        p: JoinParams,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Reply<JoinResult> {
        let id = p.member_id.clone();
        if let Some(pos) = self.pending.iter().position(|(m, _)| *m == id) {
            self.pending.remove(pos);
            return self.add_member_and_rebalance(p, id, limits, now, now_ms);
        }
        if let Err(e) = self.validate_member(&id, p.instance_id.as_deref()) {
            return Reply::Now(JoinResult::error(e, &id));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, &id))
            }
            GroupState::PreparingRebalance => {
                let rx = self.update_member(&p, now);
                self.try_complete_join(now, now_ms);
                Reply::Later(rx)
            }
            GroupState::CompletingRebalance => {
                let unchanged = self
                    .member(&id)
                    .is_some_and(|m| m.same_protocols(&p.protocols));
                if unchanged {
                    // A resent JoinGroup (the answer was lost): same answer again.
                    let leader = self.leader.as_deref() == Some(id.as_str());
                    if let Some(m) = self.member_mut(&id) {
                        m.heard_from(now);
                    }
                    Reply::Now(self.current_join_result(&id, leader))
                } else {
                    let rx = self.update_member(&p, now);
                    self.prepare_rebalance(limits, now, now_ms);
                    Reply::Later(rx)
                }
            }
            GroupState::Stable => {
                let leader = self.leader.as_deref() == Some(id.as_str());
                let unchanged = self
                    .member(&id)
                    .is_some_and(|m| m.same_protocols(&p.protocols));
                if leader || !unchanged {
                    // The leader rejoins to force a rebalance (e.g. metadata changed).
                    let rx = self.update_member(&p, now);
                    self.prepare_rebalance(limits, now, now_ms);
                    Reply::Later(rx)
                } else {
                    if let Some(m) = self.member_mut(&id) {
                        m.heard_from(now);
                    }
                    Reply::Now(self.current_join_result(&id, false))
                }
            }
        }
    }

    /// Update a known member's protocols and timeouts and park its JoinGroup.
    fn update_member(&mut self, p: &JoinParams, now: Instant) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.member_mut(&p.member_id) {
            m.protocols.clone_from(&p.protocols);
            m.session_timeout_ms = p.session_timeout_ms;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            m.client_id.clone_from(&p.client_id);
            m.client_host.clone_from(&p.client_host);
            if let Some(old) = m.join_waiter.replace(tx) {
                let _ = old.send(JoinResult::error(ResponseError::UnknownMemberId, &m.id));
            }
            m.heard_from(now);
        }
        rx
    }

    fn add_member_and_rebalance(
        &mut self,
        p: JoinParams,
        id: String,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        self.members.push(Member {
            id,
            instance_id: p.instance_id,
            client_id: p.client_id,
            client_host: p.client_host,
            session_timeout_ms: p.session_timeout_ms,
            rebalance_timeout_ms: p.rebalance_timeout_ms,
            protocols: p.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            deadline: now + ms(p.session_timeout_ms),
            pending_sync: false,
        });
        if self.state == GroupState::PreparingRebalance {
            if let Some(init) = self.initial.as_mut() {
                init.new_member_added = true;
            }
            self.try_complete_join(now, now_ms);
        } else {
            self.prepare_rebalance(limits, now, now_ms);
        }
        Reply::Later(rx)
    }

    /// A static member rejoined with an unknown member id: the new incarnation takes over the
    /// old one's place (Kafka's updateStaticMemberThenRebalanceOrCompleteJoin).
    fn replace_static_member(
        &mut self,
        index: usize,
        p: JoinParams,
        new_id: String,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Reply<JoinResult> {
        let old_id = {
            let m = &mut self.members[index];
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult::error(ResponseError::FencedInstanceId, &m.id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult::error(ResponseError::FencedInstanceId));
            }
            let old = std::mem::replace(&mut m.id, new_id.clone());
            m.protocols.clone_from(&p.protocols);
            m.session_timeout_ms = p.session_timeout_ms;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            m.client_id.clone_from(&p.client_id);
            m.client_host.clone_from(&p.client_host);
            m.pending_sync = false;
            m.heard_from(now);
            old
        };
        let previous_leader = self.leader.clone();
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        tracing::info!(group = %self.id, instance_id = ?p.instance_id, old_member = %old_id,
            new_member = %new_id, "static member rejoined; replaced its previous incarnation");
        let is_leader = self.leader.as_deref() == Some(new_id.as_str());
        let protocol_kept = self
            .protocol_name
            .as_ref()
            .is_some_and(|n| p.protocols.iter().any(|(pn, _)| pn == n));
        let selected_changes = !protocol_kept || self.select_protocol() != self.protocol_name;
        match self.state {
            // Stable and the selected protocol stays: no rebalance, even for the leader. A client
            // that can skip the assignment (JoinGroup v9+, KIP-814) is told it leads with
            // skip_assignment; an older one is answered with the leader as it was before the
            // replacement (the old member id), so it syncs as a follower and gets its assignment
            // back (Kafka 4.x; older Kafka rebalanced when the leader returned).
            GroupState::Stable if !selected_changes => {
                self.dirty = true;
                if p.supports_skip_assignment {
                    let mut r = self.current_join_result(&new_id, is_leader);
                    r.skip_assignment = is_leader;
                    Reply::Now(r)
                } else {
                    let mut r = self.current_join_result(&new_id, false);
                    r.leader = previous_leader.unwrap_or_default();
                    Reply::Now(r)
                }
            }
            // A protocol change, or the old incarnation may already be in the assignment being
            // computed (CompletingRebalance): rebalance.
            GroupState::Stable | GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.members[index].join_waiter = Some(tx);
                self.prepare_rebalance(limits, now, now_ms);
                Reply::Later(rx)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                self.members[index].join_waiter = Some(tx);
                self.try_complete_join(now, now_ms);
                Reply::Later(rx)
            }
        }
    }

    /// Start a rebalance if the group is not already in one.
    fn prepare_rebalance(&mut self, limits: &GroupLimits, now: Instant, now_ms: i64) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        self.sync_deadline = None;
        let rebalance = self.max_rebalance_timeout();
        let delay = ms(limits.initial_rebalance_delay_ms);
        if self.state == GroupState::Empty && !delay.is_zero() {
            let first = delay.min(rebalance);
            self.initial = Some(InitialDelay {
                until: now + first,
                remaining: rebalance.saturating_sub(first),
                new_member_added: false,
            });
            self.join_deadline = None;
        } else {
            self.initial = None;
            self.join_deadline = Some(now + rebalance);
        }
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(),
            "preparing to rebalance");
        self.transition(GroupState::PreparingRebalance, now_ms);
        self.try_complete_join(now, now_ms);
    }

    /// End the join phase if every member has rejoined (or the time is up).
    fn try_complete_join(&mut self, now: Instant, now_ms: i64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(init) = self.initial.as_mut() {
            if now < init.until {
                return;
            }
            if init.new_member_added && !init.remaining.is_zero() {
                // Members are still arriving: wait another delay, up to the rebalance timeout.
                let delay = (init.until - now).max(Duration::from_millis(1));
                let next = delay.min(init.remaining);
                init.until = now + next;
                init.remaining = init.remaining.saturating_sub(next);
                init.new_member_added = false;
                return;
            }
            self.complete_join(now, now_ms);
            return;
        }
        let all_joined =
            self.pending.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some());
        let timed_out = self.join_deadline.is_some_and(|d| now >= d);
        if all_joined || timed_out {
            self.complete_join(now, now_ms);
        }
    }

    fn complete_join(&mut self, now: Instant, now_ms: i64) {
        self.initial = None;
        self.join_deadline = None;
        let before = self.members.len();
        self.members.retain(|m| {
            let keep = m.join_waiter.is_some();
            if !keep {
                tracing::info!(member = %m.id, "member did not rejoin in time; removed");
            }
            keep
        });
        self.pending.clear();
        if self
            .leader
            .as_ref()
            .is_some_and(|l| self.member(l).is_none())
        {
            self.leader = None;
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            self.dirty = true;
            tracing::info!(group = %self.id, generation = self.generation, removed = before,
                "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        if self.leader.is_none() {
            self.leader = Some(self.members[0].id.clone());
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let all: Vec<JoinMember> = self
            .members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect();
        for m in &mut self.members {
            m.pending_sync = true;
            m.heard_from(now);
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult {
                    error: 0,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                    skip_assignment: false,
                });
            }
        }
        self.sync_deadline = Some(now + self.max_rebalance_timeout());
        tracing::info!(group = %self.id, generation = self.generation, protocol = %protocol,
            leader = %leader, members = self.members.len(), "join phase complete");
    }

    /// SyncGroup.
    pub(crate) fn sync(&mut self, p: SyncParams, now: Instant, now_ms: i64) -> Reply<SyncResult> {
        if self.state == GroupState::Dead {
            return Reply::Now(SyncResult::error(ResponseError::CoordinatorNotAvailable));
        }
        if let Err(e) = self.validate_member(&p.member_id, p.instance_id.as_deref()) {
            return Reply::Now(SyncResult::error(e));
        }
        if p.generation != self.generation {
            return Reply::Now(SyncResult::error(ResponseError::IllegalGeneration));
        }
        let type_mismatch = p
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t));
        let name_mismatch = p
            .protocol_name
            .as_ref()
            .is_some_and(|n| self.protocol_name.as_ref() != Some(n));
        if type_mismatch || name_mismatch {
            return Reply::Now(SyncResult::error(ResponseError::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(SyncResult::error(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => {
                let r = self.member_mut(&p.member_id).map(|m| {
                    m.heard_from(now);
                    m.pending_sync = false;
                    m.assignment.clone()
                });
                Reply::Now(SyncResult {
                    error: 0,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: r.unwrap_or_default(),
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.member_mut(&p.member_id) {
                    m.heard_from(now);
                    m.pending_sync = false;
                    m.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(p.member_id.as_str()) {
                    for m in &mut self.members {
                        m.assignment = p
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now_ms);
                    self.dirty = true;
                    for m in &mut self.members {
                        if let Some(w) = m.sync_waiter.take() {
                            let _ = w.send(SyncResult {
                                error: 0,
                                protocol_type: self.protocol_type.clone(),
                                protocol_name: self.protocol_name.clone(),
                                assignment: m.assignment.clone(),
                            });
                        }
                    }
                    tracing::info!(group = %self.id, generation = self.generation,
                        "assignment received from the leader; group is stable");
                }
                Reply::Later(rx)
            }
        }
    }

    /// Heartbeat: the error code to answer.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        if let Some(m) = self.member_mut(member_id) {
            m.heard_from(now);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
        }
    }

    /// A heartbeat-equivalent from an offset commit of a current member.
    pub(crate) fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(m) = self.member_mut(member_id) {
            m.heard_from(now);
        }
    }

    /// LeaveGroup for one member (`member_id` may be empty when `instance_id` names it).
    pub(crate) fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        limits: &GroupLimits,
        now: Instant,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if instance_id.is_none() {
            if let Some(pos) = self.pending.iter().position(|(m, _)| m == member_id) {
                self.pending.remove(pos);
                self.try_complete_join(now, now_ms);
                return Ok(());
            }
        }
        let index = match instance_id {
            Some(inst) => {
                let i = self
                    .member_by_instance(inst)
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && self.members[i].id != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
                i
            }
            None => self
                .members
                .iter()
                .position(|m| m.id == member_id)
                .ok_or(ResponseError::UnknownMemberId)?,
        };
        let id = self.members[index].id.clone();
        tracing::info!(group = %self.id, member = %id, "member left the group");
        self.remove_member(index, limits, now, now_ms);
        Ok(())
    }

    fn remove_member(&mut self, index: usize, limits: &GroupLimits, now: Instant, now_ms: i64) {
        let m = self.members.remove(index);
        if let Some(w) = m.join_waiter {
            let _ = w.send(JoinResult::error(ResponseError::UnknownMemberId, &m.id));
        }
        if let Some(w) = m.sync_waiter {
            let _ = w.send(SyncResult::error(ResponseError::UnknownMemberId));
        }
        if self.leader.as_deref() == Some(m.id.as_str()) {
            self.leader = None;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(limits, now, now_ms);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, now_ms),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Expire what timed out: pending member ids, silent members, missing SyncGroups, the end
    /// of the join phase. Called periodically.
    pub(crate) fn tick(&mut self, limits: &GroupLimits, now: Instant, now_ms: i64) {
        let before = self.pending.len();
        self.pending.retain(|(_, deadline)| now < *deadline);
        if self.pending.len() != before {
            self.try_complete_join(now, now_ms);
        }
        while let Some(i) = self
            .members
            .iter()
            .position(|m| !m.is_waiting() && now >= m.deadline)
        {
            tracing::info!(group = %self.id, member = %self.members[i].id,
                session_timeout_ms = self.members[i].session_timeout_ms,
                "member session expired; removing it");
            self.remove_member(i, limits, now, now_ms);
        }
        // Members that got their JoinGroup answer but never sent SyncGroup (even if the leader
        // did and the group is Stable) are removed, as Kafka's pending-sync expiry does.
        if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && self.sync_deadline.is_some_and(|d| now >= d)
        {
            while let Some(i) = self.members.iter().position(|m| m.pending_sync) {
                tracing::info!(group = %self.id, member = %self.members[i].id,
                    "member did not send SyncGroup within the rebalance timeout; removing it");
                self.remove_member(i, limits, now, now_ms);
            }
            self.sync_deadline = None;
        }
        self.try_complete_join(now, now_ms);
    }

    /// Whether [`ClassicGroup::tick`] has anything to wait for.
    pub(crate) fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Mark deleted.
    pub(crate) fn kill(&mut self, now_ms: i64) {
        self.transition(GroupState::Dead, now_ms);
    }

    /// The members as they are stored in a GroupMetadata record.
    pub(crate) fn stored_members(&self) -> Vec<StoredMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|m| StoredMember {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                subscription: m.metadata_for(&protocol),
                assignment: m.assignment.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "classic_tests.rs"]
mod tests;
