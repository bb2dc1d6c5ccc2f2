//! Committed offsets: OffsetCommit (plain and transactional), OffsetFetch, OffsetDelete and the
//! expiry of offsets past `offsets.retention.minutes`.
//!
//! Apart from the group membership code in the facade ([`super`]) because offsets have a life
//! of their own: a group may hold only offsets (no members), a transactional commit stays
//! pending until its marker, and expiry runs on its own timer.

use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::TxnMarker;
use minikafka_storage::StorageError;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::classic::{ClassicGroup, GroupState};
use super::persistence::{group_tombstones, write_error, Value, Write};
use super::records::OffsetCommitValue;
use super::{
    partition_for, Committed, Committer, Entry, GroupCoordinator, Kind, OffsetToCommit,
    TopicOffsets,
};
use crate::clock::now_ms;
use crate::topics::TopicError;

impl GroupCoordinator {
    /// OffsetCommit: one result per offset, in order.
    pub(crate) async fn commit(
        &self,
        group_id: &str,
        who: &Committer,
        offsets: &[OffsetToCommit],
    ) -> Vec<Result<(), ResponseError>> {
        self.commit_with(group_id, who, offsets, None).await
    }

    /// OffsetCommit, or with `txn` = (producer id, epoch) a TxnOffsetCommit: the offsets are then written as the
    /// producer's transactional batch and held pending until its transaction ends.
    pub(super) async fn commit_with(
        &self,
        group_id: &str,
        who: &Committer,
        offsets: &[OffsetToCommit],
        txn: Option<(i64, i16)>,
    ) -> Vec<Result<(), ResponseError>> {
        let now = now_ms();
        let mut results: Vec<Result<(), ResponseError>> = offsets
            .iter()
            .map(|o| {
                let known = self
                    .topics
                    .get(&o.topic)
                    .is_some_and(|t| o.partition >= 0 && o.partition < t.partition_count());
                if !known {
                    Err(ResponseError::UnknownTopicOrPartition)
                } else if o
                    .metadata
                    .as_ref()
                    .is_some_and(|m| m.len() > self.config.offset_metadata_max_bytes)
                {
                    Err(ResponseError::OffsetMetadataTooLarge)
                } else {
                    Ok(())
                }
            })
            .collect();
        let to_sync = {
            let mut groups = self.lock();
            if !groups.contains_key(group_id) {
                if who.generation >= 0 || !who.member_id.is_empty() {
                    return offsets
                        .iter()
                        .map(|_| Err(ResponseError::IllegalGeneration))
                        .collect();
                }
                groups.insert(group_id.to_string(), Entry::new(group_id));
            }
            let Some(entry) = groups.get_mut(group_id) else {
                return offsets
                    .iter()
                    .map(|_| Err(ResponseError::UnknownServerError))
                    .collect();
            };
            let outside = who.generation < 0 && who.member_id.is_empty();
            let valid = match &mut entry.kind {
                // Kafka does not tie a transactional commit outside any generation to the members.
                _ if outside && txn.is_some() => Ok(()),
                Kind::Classic(g) => validate_commit(g, who),
                Kind::Consumer(g) if outside && g.members.is_empty() => Ok(()),
                Kind::Consumer(g) => g.validate_member_epoch(&who.member_id, who.generation),
            };
            if let Err(e) = valid {
                return offsets.iter().map(|_| Err(e)).collect();
            }
            let expire = if who.retention_ms >= 0 {
                now.saturating_add(who.retention_ms)
            } else {
                -1
            };
            let mut recs = Vec::new();
            let mut committed = Vec::new();
            for (o, r) in offsets.iter().zip(&results) {
                if r.is_ok() {
                    let c = Committed {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata: o.metadata.clone().unwrap_or_default(),
                        commit_timestamp: now,
                        expire_timestamp: expire,
                    };
                    recs.push((
                        Self::offset_key(group_id, &o.topic, o.partition),
                        Some(Value::Offset(to_value(&c))),
                    ));
                    committed.push(((o.topic.clone(), o.partition), c));
                }
            }
            match self.append_with(group_id, &recs, txn) {
                Ok(p) => {
                    match txn {
                        Some((pid, _)) => entry.pending.entry(pid).or_default().extend(committed),
                        None => entry.offsets.extend(committed),
                    }
                    p
                }
                Err(e) => {
                    error!(group = group_id, producer_id = txn.map(|t| t.0), error = %e,
                        "cannot write offsets to __consumer_offsets");
                    let code = match &e {
                        TopicError::Storage(StorageError::InvalidProducerEpoch(_))
                            if txn.is_some() =>
                        {
                            ResponseError::ProducerFenced
                        }
                        _ => write_error(&e),
                    };
                    for r in &mut results {
                        if r.is_ok() {
                            *r = Err(code);
                        }
                    }
                    None
                }
            }
        };
        if let Err(e) = Self::sync(to_sync).await {
            for r in &mut results {
                if r.is_ok() {
                    *r = Err(e);
                }
            }
        }
        results
    }

    /// TxnOffsetCommit: offsets committed inside producer `txn` = (id, epoch)'s transaction. They are written to
    /// the group's `__consumer_offsets` partition as a transactional batch (the caller has checked that the
    /// partition is in the transaction) and become visible when the transaction commits
    /// ([`GroupCoordinator::complete_txn`]). `who` as for OffsetCommit, except that a commit outside any
    /// generation (-1, no member) is not checked against the group's members, as in Kafka.
    pub(crate) async fn txn_commit(
        &self,
        group_id: &str,
        who: &Committer,
        txn: (i64, i16),
        offsets: &[OffsetToCommit],
    ) -> Vec<Result<(), ResponseError>> {
        self.commit_with(group_id, who, offsets, Some(txn)).await
    }

    /// End producer `producer_id`'s transaction on `__consumer_offsets` partition `partition` (called by the
    /// transaction coordinator): write the marker, then make the transaction's offsets of the groups on that
    /// partition visible (commit) or drop them (abort). Returns the write, to be fsynced if it must and
    /// replicated before the transaction completes.
    pub(crate) fn complete_txn(
        &self,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<super::persistence::Pending, TopicError> {
        let topic = self.ensure_offsets_topic()?;
        let p = self
            .replicas
            .partition(&topic.id, partition)
            .ok_or(TopicError::Unknown)?;
        let count = topic.partition_count();
        let mut groups = self.lock();
        let marker = if commit {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        let info = p.append_txn_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            marker,
            now_ms(),
        )?;
        for (id, entry) in groups.iter_mut() {
            if partition_for(id, count) != partition {
                continue;
            }
            if let Some(offsets) = entry.pending.remove(&producer_id) {
                if commit {
                    info!(group = %id, producer_id, offsets = offsets.len(), "transactional offsets committed");
                    entry.offsets.extend(offsets);
                }
            }
        }
        Ok(super::persistence::Pending {
            end: info.last_offset + 1,
            fsync: info.needs_flush,
            p,
        })
    }

    /// Partitions of `group_id` with transactional offsets not yet committed or aborted (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub(crate) fn unstable_offsets(
        &self,
        group_id: &str,
    ) -> std::collections::HashSet<(String, i32)> {
        self.lock()
            .get(group_id)
            .map(|e| e.pending.values().flat_map(|m| m.keys().cloned()).collect())
            .unwrap_or_default()
    }

    /// OffsetFetch for one group: every committed offset (`topics` = None) or the requested
    /// partitions (None = nothing committed).
    pub(crate) fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<TopicOffsets> {
        let groups = self.lock();
        let entry = groups.get(group_id);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let got = parts
                        .into_iter()
                        .map(|p| {
                            let c = entry.and_then(|e| e.offsets.get(&(t.clone(), p)).cloned());
                            (p, c)
                        })
                        .collect();
                    (t, got)
                })
                .collect(),
            None => {
                let mut out: Vec<TopicOffsets> = Vec::new();
                if let Some(e) = entry {
                    for ((t, p), c) in &e.offsets {
                        match out.last_mut() {
                            Some((lt, v)) if lt == t => v.push((*p, Some(c.clone()))),
                            _ => out.push((t.clone(), vec![(*p, Some(c.clone()))])),
                        }
                    }
                }
                out
            }
        }
    }

    /// OffsetDelete: per partition NONE, GROUP_SUBSCRIBED_TO_TOPIC or UNKNOWN_TOPIC_OR_PARTITION;
    /// a group-level error for an unknown or non-empty non-consumer group.
    pub(crate) async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<Vec<(String, Vec<(i32, Result<(), ResponseError>)>)>, ResponseError> {
        let (out, to_sync) = {
            let mut groups = self.lock();
            let entry = groups
                .get_mut(group_id)
                .ok_or(ResponseError::GroupIdNotFound)?;
            let subscribed: Vec<String> = match &entry.kind {
                _ if entry.is_empty() => Vec::new(),
                Kind::Classic(g) if g.protocol_type.as_deref() == Some("consumer") => {
                    subscribed_topics(g)
                }
                Kind::Classic(_) => return Err(ResponseError::NonEmptyGroup),
                Kind::Consumer(g) => g.subscribed_topics().into_iter().collect(),
            };
            let mut recs = Vec::new();
            let mut out = Vec::new();
            for (t, parts) in topics {
                let known = self.topics.get(t);
                let mut rs = Vec::new();
                for &p in parts {
                    let r = if known
                        .as_ref()
                        .is_none_or(|k| p < 0 || p >= k.partition_count())
                    {
                        Err(ResponseError::UnknownTopicOrPartition)
                    } else if subscribed.contains(t) {
                        Err(ResponseError::GroupSubscribedToTopic)
                    } else {
                        if entry.offsets.contains_key(&(t.clone(), p)) {
                            recs.push((Self::offset_key(group_id, t, p), None));
                        }
                        Ok(())
                    };
                    rs.push((p, r));
                }
                out.push((t.clone(), rs));
            }
            let p = self.append(group_id, &recs).map_err(|e| write_error(&e))?;
            for (t, rs) in &out {
                for (p, r) in rs {
                    if r.is_ok() {
                        entry.offsets.remove(&(t.clone(), *p));
                    }
                }
            }
            (out, p)
        };
        Self::sync(to_sync).await?;
        Ok(out)
    }

    /// Remove committed offsets past `offsets.retention.minutes` (of empty groups, counted from
    /// when the group became empty; of groups that only store offsets, from the commit) and empty
    /// groups left without offsets, writing tombstones.
    pub(crate) async fn expire_offsets(&self) {
        self.expire_offsets_at(now_ms()).await;
    }

    /// [`GroupCoordinator::expire_offsets`] as if the wall clock read `now` (ms).
    pub(super) async fn expire_offsets_at(&self, now: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut to_sync = Vec::new();
        {
            let mut groups = self.lock();
            let mut dead = Vec::new();
            for (id, entry) in groups.iter_mut() {
                if !entry.is_empty() {
                    continue;
                }
                let (consumer_group, became_empty) = match &entry.kind {
                    Kind::Classic(g) => (g.protocol_type.is_some(), g.state_timestamp_ms),
                    Kind::Consumer(g) => (true, g.state_timestamp_ms),
                };
                let expired: Vec<(String, i32)> = entry
                    .offsets
                    .iter()
                    .filter(|(_, c)| {
                        if c.expire_timestamp >= 0 {
                            return now >= c.expire_timestamp;
                        }
                        let base = if consumer_group {
                            became_empty.max(c.commit_timestamp)
                        } else {
                            c.commit_timestamp
                        };
                        now >= base.saturating_add(retention)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut recs: Vec<Write> = expired
                    .iter()
                    .map(|(t, p)| (Self::offset_key(id, t, *p), None))
                    .collect();
                let emptied = expired.len() == entry.offsets.len();
                if emptied {
                    recs.extend(group_tombstones(id, &entry.kind));
                }
                match self.append(id, &recs) {
                    Ok(p) => {
                        if !expired.is_empty() {
                            info!(group = %id, expired = expired.len(), "expired committed offsets");
                        }
                        for k in &expired {
                            entry.offsets.remove(k);
                        }
                        if emptied {
                            dead.push(id.clone());
                        }
                        to_sync.extend(p);
                    }
                    Err(e) => {
                        warn!(group = %id, error = %e, "cannot write offset expiry tombstones")
                    }
                }
            }
            for id in dead {
                groups.remove(&id);
            }
        }
        for p in to_sync {
            let _ = Self::sync(Some(p)).await;
        }
    }
}

/// Kafka's classic-group offset-commit validation.
pub(super) fn validate_commit(g: &mut ClassicGroup, who: &Committer) -> Result<(), ResponseError> {
    if g.state == GroupState::Dead {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    if who.generation < 0 && who.member_id.is_empty() && who.instance_id.is_none() {
        // A commit outside any generation (assign() consumers, admin tools): only for groups
        // without members.
        return if g.state == GroupState::Empty {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        };
    }
    g.validate_member(&who.member_id, who.instance_id.as_deref())?;
    if who.generation != g.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    g.touch(&who.member_id, Instant::now());
    Ok(())
}

/// Topics the members of a consumer-protocol group subscribe to (from their metadata).
pub(super) fn subscribed_topics(g: &ClassicGroup) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let protocol = g.protocol_name.clone().unwrap_or_default();
    let mut out = Vec::new();
    for m in &g.members {
        let mut buf = m.metadata_for(&protocol);
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let _ = bytes::Buf::get_i16(&mut buf);
        if let Ok(s) = ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)) {
            out.extend(s.topics.into_iter().map(|t| t.to_string()));
        }
    }
    out
}

pub(super) fn to_value(c: &Committed) -> OffsetCommitValue {
    OffsetCommitValue {
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata: c.metadata.clone(),
        commit_timestamp: c.commit_timestamp,
        expire_timestamp: c.expire_timestamp,
        topic_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::Topics;
    use std::sync::Arc;

    /// A coordinator over a fresh data dir with one topic `t` of 2 partitions.
    fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
        let mut b = crate::config::ConfigBuilder::default();
        b.set("log.dirs", dir.to_str().unwrap()).unwrap();
        b.set("offsets.topic.num.partitions", "3").unwrap();
        b.set("offsets.retention.minutes", "10").unwrap();
        let config = Arc::new(b.build().unwrap());
        let replicas = Arc::new(crate::replica::ReplicaManager::new(dir, config.node_id));
        let topics = Topics::load_for_tests(dir, config.clone(), replicas.clone());
        topics.create("t", 2, 1, &[], &[]).unwrap();
        GroupCoordinator::load(topics, replicas, config).unwrap()
    }

    fn commit_at(partition: i32, offset: i64) -> OffsetToCommit {
        OffsetToCommit {
            topic: "t".into(),
            partition,
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    const STANDALONE: Committer = Committer {
        generation: -1,
        member_id: String::new(),
        instance_id: None,
        retention_ms: -1,
    };

    #[tokio::test]
    async fn offsets_expire_after_the_retention_and_the_expiry_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let r = c.commit("old", &STANDALONE, &[commit_at(0, 5)]).await;
        assert!(r.iter().all(Result::is_ok));
        let r = c.commit("young", &STANDALONE, &[commit_at(1, 7)]).await;
        assert!(r.iter().all(Result::is_ok));
        let ten_min = 10 * 60_000;
        let committed_old = c.lock()["old"].offsets[&("t".to_string(), 0)].commit_timestamp;
        // Age "young" artificially: it was committed a minute later.
        c.lock()
            .get_mut("young")
            .unwrap()
            .offsets
            .get_mut(&("t".to_string(), 1))
            .unwrap()
            .commit_timestamp += 60_000;

        c.expire_offsets_at(committed_old + ten_min - 1).await;
        assert_eq!(c.list().len(), 2, "nothing is due yet");
        c.expire_offsets_at(committed_old + ten_min).await;
        let groups: Vec<String> = c.list().into_iter().map(|g| g.group_id).collect();
        assert_eq!(groups, ["young"], "the empty group without offsets is gone");
        let got = c.fetch_offsets("young", Some(vec![("t".into(), vec![1])]));
        assert_eq!(got[0].1[0].1.as_ref().map(|c| c.offset), Some(7));

        // Replaying the log gives the same state: the expiry wrote tombstones.
        let topics = c.topics.clone();
        let replicas = c.replicas.clone();
        let config = c.config.clone();
        drop(c);
        let c = GroupCoordinator::load(topics, replicas, config).unwrap();
        let groups: Vec<String> = c.list().into_iter().map(|g| g.group_id).collect();
        assert_eq!(groups, ["young"]);
        assert!(c.fetch_offsets("old", None).is_empty());
    }

    #[tokio::test]
    async fn offsets_of_a_consumer_group_expire_only_once_it_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let r = c.commit("g", &STANDALONE, &[commit_at(0, 1)]).await;
        assert!(r.iter().all(Result::is_ok));
        // Give the group a member: its offsets must stay however old they are.
        {
            let mut groups = c.lock();
            let e = groups.get_mut("g").unwrap();
            let Kind::Classic(g) = &mut e.kind else {
                panic!()
            };
            g.protocol_type = Some("consumer".into());
            g.state = GroupState::Stable;
        }
        c.expire_offsets_at(i64::MAX / 2).await;
        assert_eq!(c.fetch_offsets("g", None).len(), 1);
    }
}
