//! Which replica a consumer should read from (KIP-392, Kafka's `ReplicaSelector` plugins behind
//! `replica.selector.class`). It exists apart from the Fetch handler so that the choice is a pure
//! function of what the leader knows, unit-tested on its own: the handler gathers the views (the
//! leader, and the in-sync followers that hold the fetch offset, alive and reachable on the
//! request's listener, from [`crate::replica::Partition::read_replicas`] and the metadata image)
//! and this module picks one, as Kafka's `RackAwareReplicaSelector` and `LeaderReplicaSelector`
//! do. Kafka's `ReplicaManager.findPreferredReadReplica` then never sends the leader itself back
//! as the preferred replica; neither does [`preferred_read_replica`].

use crate::config::ReplicaSelector;

/// One replica as the selector sees it (Kafka's `ReplicaView`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplicaView<'a> {
    /// Broker id.
    pub(crate) id: i32,
    /// Its `broker.rack`.
    pub(crate) rack: Option<&'a str>,
    /// Its log end offset (the leader's own, or a follower's as its last fetch said).
    pub(crate) log_end_offset: i64,
    /// Milliseconds since it was last caught up (0 for the leader).
    pub(crate) since_caught_up_ms: i64,
}

/// The replica the consumer in `client_rack` should fetch from, if not the leader: with the
/// rack-aware selector and a rack given, the leader when it is in that rack, else the most
/// caught-up follower in it (largest log end offset, then the most recently caught up), else
/// the leader; `None` means "the leader" (no redirection).
pub(crate) fn preferred_read_replica(
    selector: ReplicaSelector,
    client_rack: &str,
    leader: &ReplicaView<'_>,
    followers: &[ReplicaView<'_>],
) -> Option<i32> {
    if selector != ReplicaSelector::RackAware || client_rack.is_empty() {
        return None;
    }
    if leader.rack == Some(client_rack) {
        return None;
    }
    followers
        .iter()
        .filter(|f| f.id != leader.id && f.rack == Some(client_rack))
        .max_by(|a, b| {
            a.log_end_offset
                .cmp(&b.log_end_offset)
                .then(b.since_caught_up_ms.cmp(&a.since_caught_up_ms))
        })
        .map(|f| f.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: i32, rack: Option<&str>, leo: i64, since: i64) -> ReplicaView<'_> {
        ReplicaView {
            id,
            rack,
            log_end_offset: leo,
            since_caught_up_ms: since,
        }
    }

    #[test]
    fn rack_aware_picks_the_most_caught_up_follower_in_the_clients_rack() {
        let leader = view(1, Some("r1"), 100, 0);
        let followers = [
            view(2, Some("r2"), 90, 5),
            view(3, Some("r2"), 100, 50),
            view(4, Some("r2"), 100, 10),
            view(5, Some("r3"), 100, 0),
        ];
        let rack_aware = ReplicaSelector::RackAware;
        assert_eq!(
            preferred_read_replica(rack_aware, "r2", &leader, &followers),
            Some(4)
        );
        assert_eq!(
            preferred_read_replica(rack_aware, "r3", &leader, &followers),
            Some(5)
        );
        // The leader's own rack, a rack with no replica, no rack: the leader.
        assert_eq!(
            preferred_read_replica(rack_aware, "r1", &leader, &followers),
            None
        );
        assert_eq!(
            preferred_read_replica(rack_aware, "r9", &leader, &followers),
            None
        );
        assert_eq!(
            preferred_read_replica(rack_aware, "", &leader, &followers),
            None
        );
        // The leader selector never redirects.
        assert_eq!(
            preferred_read_replica(ReplicaSelector::Leader, "r2", &leader, &followers),
            None
        );
    }
}
