//! Loading: the groups and committed offsets of every `__consumer_offsets` partition this node
//! leads are rebuilt by replaying it, transactional offset commits included (kept pending until
//! their commit or abort marker): at start ([`GroupCoordinator::load`]) and whenever leadership of
//! a partition moves here ([`GroupCoordinator::follow_leadership`], Kafka's
//! `onElection`/`onResignation`); a partition led elsewhere now has its groups dropped from memory.
//! Until its partition is loaded a group is answered COORDINATOR_LOAD_IN_PROGRESS.
//!
//! Apart from the facade because it reads the records back into a [`Replay`] before the groups
//! are built from it.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use minikafka_storage::batch::{
    check_records, parse_control_batch, visit_records, Record, TxnMarker,
    DEFAULT_DECOMPRESSED_LIMIT,
};
use tokio::time::Instant;
use tracing::{info, warn};

use super::classic::{ClassicGroup, GroupLimits, StoredMember};
use super::consumer::{
    ConsumerGroup, ConsumerLimits, MemberState, RestoredMember, TopicCounts, TopicPartition,
};
use super::records::{GroupMetadataValue, RecordKey};
use super::{records, resolve_regex, Committed, Entry, GroupCoordinator, Kind, OFFSETS_TOPIC};
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::replica::{Partition, ReplicaManager};
use crate::topics::{TopicError, Topics};

impl GroupCoordinator {
    /// Rebuild every group and committed offset by replaying `__consumer_offsets` (blocking).
    pub fn load(
        topics: Arc<Topics>,
        replicas: Arc<ReplicaManager>,
        config: Arc<BrokerConfig>,
    ) -> Result<Self, TopicError> {
        let limits = GroupLimits {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            max_size: usize::try_from(config.group_max_size).unwrap_or(usize::MAX),
        };
        let consumer_limits = ConsumerLimits {
            session_timeout_ms: config.group_consumer_session_timeout_ms,
            heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
            max_size: usize::try_from(config.group_consumer_max_size).unwrap_or(usize::MAX),
        };
        let c = GroupCoordinator {
            topics,
            replicas,
            config,
            limits,
            consumer_limits,
            groups: Mutex::new(HashMap::new()),
            loaded: crate::coordinator_partitions::LoadedPartitions::new(OFFSETS_TOPIC),
        };
        if let Some(topic) = c.topics.get(OFFSETS_TOPIC) {
            let started = std::time::Instant::now();
            let mut loaded = Replay::default();
            let mut led = Vec::new();
            for p in c.replicas.partitions_of(&topic.id) {
                if p.is_leader() {
                    loaded.partition(&p)?;
                    led.push(p.index);
                }
            }
            let (groups, offsets) = (
                loaded.groups.len() + loaded.consumer.len(),
                loaded.offsets.len(),
            );
            *c.lock() = loaded.into_entries(&c.topics, &c.consumer_limits);
            c.loaded.lock().extend(led);
            info!(
                groups,
                offsets,
                elapsed_ms = started.elapsed().as_millis(),
                "loaded consumer groups and committed offsets from __consumer_offsets"
            );
        }
        Ok(c)
    }
}

impl GroupCoordinator {
    /// Replay `__consumer_offsets` partition `p` (led here) and take its groups, replacing
    /// whatever was in memory for them. Blocking.
    pub(super) fn load_partition(&self, p: &Arc<Partition>) -> Result<usize, TopicError> {
        let started = std::time::Instant::now();
        let mut replay = Replay::default();
        replay.partition(p)?;
        let entries = replay.into_entries(&self.topics, &self.consumer_limits);
        let count = entries.len();
        let mut groups = self.lock();
        // Still led here (not moved on while replaying): take the groups.
        if !p.is_leader() {
            return Ok(0);
        }
        let partitions = self
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(1, |t| t.partition_count());
        groups.retain(|id, _| super::partition_for(id, partitions) != p.index);
        groups.extend(entries);
        self.loaded.lock().insert(p.index);
        drop(groups);
        if count > 0 {
            info!(
                partition = p.index,
                groups = count,
                elapsed_ms = started.elapsed().as_millis(),
                "loaded consumer groups of a __consumer_offsets partition now led here"
            );
        }
        Ok(count)
    }

    /// Leadership of `__consumer_offsets` partition `index` moved away: drop its groups.
    pub(super) fn unload_partition(&self, index: i32) {
        let partitions = self
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(1, |t| t.partition_count());
        let mut groups = self.lock();
        let before = groups.len();
        groups.retain(|id, _| super::partition_for(id, partitions) != index);
        self.loaded.lock().remove(&index);
        let dropped = before - groups.len();
        drop(groups);
        if dropped > 0 {
            info!(
                partition = index,
                groups = dropped,
                "__consumer_offsets partition led elsewhere now; its groups unloaded"
            );
        }
    }

    /// Load and unload `__consumer_offsets` partitions as their leadership moves, until `stop`.
    pub async fn follow_leadership(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let c = self.clone();
        self.loaded
            .follow(&self.topics, stop, move || {
                c.loaded.sync(
                    &c.topics,
                    &c.replicas,
                    |index| c.unload_partition(index),
                    |p| c.load_partition(p).map(|_| ()),
                )
            })
            .await;
    }
}

/// Group and offset state read back from `__consumer_offsets`.
#[derive(Debug, Default)]
pub(super) struct Replay {
    groups: HashMap<String, GroupMetadataValue>,
    offsets: HashMap<(String, String, i32), Committed>,
    consumer: HashMap<String, ConsumerReplay>,
    /// Offsets of transactions without a marker yet, by producer id (a producer id is in one transaction at a
    /// time): applied at its COMMIT marker, dropped at its ABORT marker.
    open_txns: HashMap<i64, HashMap<(String, String, i32), Committed>>,
}

/// A consumer-protocol group read back from its records (types 3, 5, 6, 7, 8).
#[derive(Debug, Default)]
pub(super) struct ConsumerReplay {
    epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, records::ConsumerGroupMemberMetadataValue>,
    targets: BTreeMap<String, Vec<(uuid::Uuid, Vec<i32>)>>,
    current: BTreeMap<String, records::ConsumerGroupCurrentMemberAssignmentValue>,
}

impl Replay {
    /// Apply every record of one partition, oldest first (the last value of a key wins).
    pub(super) fn partition(&mut self, p: &Arc<Partition>) -> Result<(), TopicError> {
        p.for_each_batch(|h, batch| {
            if h.is_control() {
                match parse_control_batch(batch) {
                    Ok(Some((marker, _))) => self.end_txn(h.producer_id, marker),
                    Ok(None) => {}
                    Err(e) => warn!(partition = p.index, offset = h.base_offset, error = %e,
                        "skipping an undecodable control batch in __consumer_offsets"),
                }
                return;
            }
            // A batch is applied whole or skipped (Kafka's loader logs and skips what it cannot read): a first
            // pass checks it within the decompressed limit, keeping nothing, so a compression bomb persisted by an
            // older version costs bounded work and never stops the start.
            let applied = check_records(batch, DEFAULT_DECOMPRESSED_LIMIT).and_then(|_| {
                visit_records(batch, DEFAULT_DECOMPRESSED_LIMIT, |r| {
                    if h.is_transactional() {
                        self.apply_txn(h.producer_id, &r, p);
                    } else {
                        self.apply(&r, p);
                    }
                    ControlFlow::Continue(())
                })
            });
            if let Err(e) = applied {
                warn!(topic = "__consumer_offsets", partition = p.index, offset = h.base_offset, error = %e,
                    "skipping an undecodable batch in __consumer_offsets");
            }
        })?;
        Ok(())
    }

    /// A record of a transactional batch (only TxnOffsetCommit writes them): held until the marker.
    pub(super) fn apply_txn(&mut self, producer_id: i64, r: &Record, p: &Partition) {
        let Some(Ok(RecordKey::OffsetCommit {
            group,
            topic,
            partition,
        })) = r.key.as_deref().map(records::decode_key)
        else {
            warn!(
                partition = p.index,
                offset = r.offset,
                "skipping a transactional __consumer_offsets record that is not an offset commit"
            );
            return;
        };
        match r.value.as_deref().map(records::decode_offset_commit_value) {
            Some(Ok(v)) => {
                self.open_txns.entry(producer_id).or_default().insert(
                    (group, topic, partition),
                    Committed {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp: v.commit_timestamp,
                        expire_timestamp: v.expire_timestamp,
                    },
                );
            }
            Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                "skipping an undecodable transactional offset"),
            None => {}
        }
    }

    /// A transaction marker: the producer's pending offsets become committed (COMMIT) or are dropped (ABORT).
    pub(super) fn end_txn(&mut self, producer_id: i64, marker: TxnMarker) {
        if let Some(offsets) = self.open_txns.remove(&producer_id) {
            if marker == TxnMarker::Commit {
                self.offsets.extend(offsets);
            }
        }
    }

    pub(super) fn apply(&mut self, r: &Record, p: &Partition) {
        let Some(key) = r.key.as_deref() else {
            return;
        };
        let key = match records::decode_key(key) {
            Ok(k) => k,
            Err(e) => {
                warn!(partition = p.index, offset = r.offset, error = %e, "skipping an undecodable __consumer_offsets key");
                return;
            }
        };
        match key {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                let k = (group, topic, partition);
                match r.value.as_deref().map(records::decode_offset_commit_value) {
                    None => {
                        self.offsets.remove(&k);
                    }
                    Some(Ok(v)) => {
                        self.offsets.insert(
                            k,
                            Committed {
                                offset: v.offset,
                                leader_epoch: v.leader_epoch,
                                metadata: v.metadata,
                                commit_timestamp: v.commit_timestamp,
                                expire_timestamp: v.expire_timestamp,
                            },
                        );
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable committed offset"),
                }
            }
            RecordKey::GroupMetadata { group } => {
                match r.value.as_deref().map(records::decode_group_metadata_value) {
                    None => {
                        self.groups.remove(&group);
                    }
                    Some(Ok(v)) => {
                        self.groups.insert(group, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable group metadata"),
                }
            }
            RecordKey::ConsumerGroupMetadata { group } => {
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_metadata_value)
                {
                    None => {
                        self.consumer.remove(&group);
                    }
                    Some(Ok(v)) => self.consumer.entry(group).or_default().epoch = v.epoch,
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable consumer group metadata"),
                }
            }
            RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => {
                if let Some(v) = r.value.as_deref() {
                    match records::decode_consumer_group_target_assignment_metadata_value(v) {
                        Ok(v) => {
                            self.consumer.entry(group).or_default().assignment_epoch =
                                v.assignment_epoch;
                        }
                        Err(e) => warn!(partition = p.index, offset = r.offset, error = %e,
                            "skipping undecodable target assignment metadata"),
                    }
                }
            }
            RecordKey::ConsumerGroupMemberMetadata { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_member_metadata_value)
                {
                    None => {
                        g.members.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.members.insert(member, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping undecodable consumer group member"),
                }
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_target_assignment_member_value)
                {
                    None => {
                        g.targets.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.targets.insert(member, v.topic_partitions);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable target assignment"),
                }
            }
            RecordKey::ConsumerGroupCurrentMemberAssignment { group, member } => {
                let g = self.consumer.entry(group).or_default();
                match r
                    .value
                    .as_deref()
                    .map(records::decode_consumer_group_current_member_assignment_value)
                {
                    None => {
                        g.current.remove(&member);
                    }
                    Some(Ok(v)) => {
                        g.current.insert(member, v);
                    }
                    Some(Err(e)) => warn!(partition = p.index, offset = r.offset, error = %e,
                        "skipping an undecodable member assignment"),
                }
            }
            // Partition metadata (no longer written by Kafka 4.4), regex, share and streams
            // groups: nothing to restore.
            _ => {}
        }
    }

    pub(super) fn into_entries(
        self,
        topics: &Topics,
        limits: &ConsumerLimits,
    ) -> HashMap<String, Entry> {
        let now = Instant::now();
        let mut out: HashMap<String, Entry> = HashMap::new();
        let names = |tps: &[(uuid::Uuid, Vec<i32>)]| -> Vec<TopicPartition> {
            tps.iter()
                .filter_map(|(id, ps)| {
                    let t = topics.get_by_id(id)?;
                    Some(
                        ps.iter()
                            .map(move |p| (t.name.clone(), *p))
                            .collect::<Vec<_>>(),
                    )
                })
                .flatten()
                .collect()
        };
        let assigned = |aps: &[records::AssignedPartitions]| -> Vec<TopicPartition> {
            let flat: Vec<(uuid::Uuid, Vec<i32>)> = aps
                .iter()
                .map(|a| (a.topic_id, a.partitions.clone()))
                .collect();
            names(&flat)
        };
        for (id, c) in self.consumer {
            // A group id belongs to one protocol at a time: a consumer group with members wins.
            if c.members.is_empty() && self.groups.contains_key(&id) {
                continue;
            }
            let members: Vec<RestoredMember> = c
                .members
                .iter()
                .map(|(mid, m)| {
                    let cur = c.current.get(mid);
                    RestoredMember {
                        id: mid.clone(),
                        instance_id: m.instance_id.clone(),
                        rack_id: m.rack_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        subscribed: m.subscribed_topic_names.clone(),
                        regex: m.subscribed_topic_regex.clone().filter(|r| !r.is_empty()),
                        server_assignor: m.server_assignor.clone(),
                        epoch: cur.map_or(0, |a| a.member_epoch),
                        previous_epoch: cur.map_or(-1, |a| a.previous_member_epoch),
                        state: cur.map_or(MemberState::Stable, |a| MemberState::from_byte(a.state)),
                        assigned: cur
                            .map(|a| assigned(&a.assigned_partitions))
                            .unwrap_or_default(),
                        revoking: cur
                            .map(|a| assigned(&a.partitions_pending_revocation))
                            .unwrap_or_default(),
                        target: c.targets.get(mid).map(|t| names(t)).unwrap_or_default(),
                    }
                })
                .collect();
            let all: Vec<String> = topics
                .all()
                .into_iter()
                .filter(|t| !t.is_internal())
                .map(|t| t.name.clone())
                .collect();
            let resolve = |pattern: &str| resolve_regex(pattern, &all);
            let resolved: Vec<String> = members
                .iter()
                .filter_map(|m| m.regex.as_deref())
                .flat_map(|r| resolve(r).unwrap_or_default())
                .collect();
            let subscribed: std::collections::BTreeSet<String> = members
                .iter()
                .flat_map(|m| m.subscribed.iter().cloned())
                .chain(resolved)
                .collect();
            let counts: TopicCounts = subscribed
                .into_iter()
                .filter_map(|t| Some((t.clone(), topics.get(&t)?.partition_count())))
                .collect();
            let group = ConsumerGroup::restore(
                &id,
                c.epoch,
                c.assignment_epoch,
                members,
                counts,
                &resolve,
                limits,
                now,
                now_ms(),
            );
            out.insert(
                id,
                Entry {
                    kind: Kind::Consumer(group),
                    offsets: BTreeMap::new(),
                    pending: HashMap::new(),
                },
            );
        }
        for (id, v) in self.groups {
            if out.contains_key(&id) {
                continue;
            }
            let members = v
                .members
                .into_iter()
                .map(|m| StoredMember {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout,
                    rebalance_timeout_ms: m.rebalance_timeout,
                    subscription: m.subscription,
                    assignment: m.assignment,
                })
                .collect();
            let group = ClassicGroup::restore(
                &id,
                v.protocol_type,
                v.generation,
                v.protocol,
                v.leader,
                v.current_state_timestamp,
                members,
                now,
            );
            out.insert(
                id,
                Entry {
                    kind: Kind::Classic(group),
                    offsets: BTreeMap::new(),
                    pending: HashMap::new(),
                },
            );
        }
        for ((g, t, p), c) in self.offsets {
            out.entry(g.clone())
                .or_insert_with(|| Entry::new(&g))
                .offsets
                .insert((t, p), c);
        }
        // Transactional offsets whose transaction has no marker yet stay pending.
        for (pid, offsets) in self.open_txns {
            for ((g, t, p), c) in offsets {
                out.entry(g.clone())
                    .or_insert_with(|| Entry::new(&g))
                    .pending
                    .entry(pid)
                    .or_default()
                    .insert((t, p), c);
            }
        }
        out
    }
}
