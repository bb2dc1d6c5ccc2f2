//! Incremental fetch sessions (KIP-227): a bounded cache of sessions, each remembering the
//! partitions a consumer fetches and what it was last told about them, so that clients with
//! many partitions send and receive only what changed.
//!
//! Request `(session_id, epoch)` meanings, as in Kafka's `FetchSessionCache`:
//! - `(0, -1)`: a full fetch without a session;
//! - `(0, 0)` or `(id, 0)`: a full fetch that (re)creates a session (the old one is closed);
//! - `(id, -1)`: close the session, then a full fetch without a session;
//! - `(id, n > 0)`: an incremental fetch; `n` must be the session's next epoch.
//!
//! The cache is a std `Mutex` (never held across `.await`), bounded by
//! `max.incremental.fetch.session.cache.slots`; the least recently used session is evicted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A partition in a session: topic id (v13+) or name, and index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PartitionKey {
    /// Topic id (nil before Fetch v13).
    pub(crate) topic_id: Uuid,
    /// Topic name (empty from Fetch v13), shared by every partition of the topic: cloning a key
    /// never copies the name.
    pub(crate) topic: Arc<str>,
    /// Partition index.
    pub(crate) partition: i32,
}

/// What the session knows of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionPartition {
    /// Next offset to fetch (updated from each request).
    pub(crate) fetch_offset: i64,
    /// Per-partition byte limit.
    pub(crate) max_bytes: i32,
    /// The client's current leader epoch.
    pub(crate) current_leader_epoch: i32,
    /// The fetching follower's log start offset (-1 from consumers).
    pub(crate) log_start_offset: i64,
    /// High watermark, last stable offset and log start last sent (-2 = never sent).
    pub(crate) last_sent: (i64, i64, i64),
}

impl SessionPartition {
    /// A partition never answered in this session.
    pub(crate) fn new(
        fetch_offset: i64,
        max_bytes: i32,
        current_leader_epoch: i32,
        log_start_offset: i64,
    ) -> Self {
        Self {
            fetch_offset,
            max_bytes,
            current_leader_epoch,
            log_start_offset,
            last_sent: (-2, -2, -2),
        }
    }
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: BTreeMap<PartitionKey, SessionPartition>,
    last_used: Instant,
}

/// How a fetch request relates to sessions, decided by [`FetchSessions::begin`].
#[derive(Debug)]
pub(crate) enum FetchContext {
    /// Full fetch of the request's partitions; `Some(id)` = a session was created with that id
    /// and must be filled by [`FetchSessions::finish`] with what the response said.
    Full(Option<i32>),
    /// Incremental fetch of every partition of session `id` (request changes already merged).
    Incremental(i32, Vec<(PartitionKey, SessionPartition)>),
    /// The request cannot be served: answer with this top-level error.
    Error(ResponseError),
}

/// The session cache.
#[derive(Debug)]
pub struct FetchSessions {
    sessions: Mutex<HashMap<i32, Session>>,
    max_sessions: usize,
}

fn next_epoch(e: i32) -> i32 {
    if e == i32::MAX {
        1
    } else {
        e + 1
    }
}

impl FetchSessions {
    /// A cache of at most `max_sessions` sessions (0 disables sessions).
    pub fn new(max_sessions: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decide the fetch's context; for incremental fetches merge the request's partitions
    /// (`upserts`) and forgotten partitions into the session first.
    pub(crate) fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        upserts: Vec<(PartitionKey, SessionPartition)>,
        forgotten: &[PartitionKey],
    ) -> FetchContext {
        let mut sessions = self.lock();
        if epoch == -1 || epoch == 0 {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            if epoch == -1 || self.max_sessions == 0 {
                return FetchContext::Full(None);
            }
            if sessions.len() >= self.max_sessions {
                if let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id)
                {
                    sessions.remove(&oldest);
                }
            }
            let mut id;
            loop {
                id = (Uuid::new_v4().as_u128() as i32) & i32::MAX;
                if id != 0 && !sessions.contains_key(&id) {
                    break;
                }
            }
            sessions.insert(
                id,
                Session {
                    next_epoch: 1,
                    partitions: BTreeMap::new(),
                    last_used: Instant::now(),
                },
            );
            return FetchContext::Full(Some(id));
        }
        let Some(session) = sessions.get_mut(&session_id) else {
            return FetchContext::Error(ResponseError::FetchSessionIdNotFound);
        };
        if session.next_epoch != epoch {
            return FetchContext::Error(ResponseError::InvalidFetchSessionEpoch);
        }
        session.next_epoch = next_epoch(epoch);
        session.last_used = Instant::now();
        for key in forgotten {
            session.partitions.remove(key);
        }
        for (key, new) in upserts {
            session
                .partitions
                .entry(key)
                .and_modify(|p| {
                    p.fetch_offset = new.fetch_offset;
                    p.max_bytes = new.max_bytes;
                    p.current_leader_epoch = new.current_leader_epoch;
                    p.log_start_offset = new.log_start_offset;
                })
                .or_insert(new);
        }
        FetchContext::Incremental(
            session_id,
            session
                .partitions
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        )
    }

    /// Record what a response told the client. For a new session every partition is stored; for
    /// an incremental fetch the stored `last_sent` values are updated.
    pub(crate) fn finish(&self, session_id: i32, sent: Vec<(PartitionKey, SessionPartition)>) {
        let mut sessions = self.lock();
        if let Some(session) = sessions.get_mut(&session_id) {
            for (key, p) in sent {
                session.partitions.insert(key, p);
            }
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
