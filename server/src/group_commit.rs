//! Group commit: concurrent requests that need the same partition fsynced share one fsync.
//!
//! Per partition, at most one fsync runs at a time. A request whose data (every offset below
//! `end`) is not yet durable:
//! - waits for the running fsync if that fsync covers `end` (the log end offset when its
//!   [`SyncJob`](minikafka_storage::SyncJob) was taken is at least `end`, so the job was taken, and
//!   the fsync started, after the request's append);
//! - otherwise joins the *next* round, which starts as soon as the running one finishes and
//!   covers every append made before it starts: one fsync for every request that queued
//!   meanwhile.
//!
//! A request is answered with its round's outcome: `Ok` only once an fsync that started after its
//! append has finished successfully and the log's recovery point has been raised; an fsync error
//! fails every request of that round. The rounds run one after the other in a driver task
//! (`tokio::spawn`, the fsync itself on a blocking thread), started by the first request that finds
//! no driver and ending when no round is queued, so a request that gives up (its connection closes)
//! never strands the others. No timers, no polling: waiting is a `watch` channel per round.
//!
//! The state lives in a per-partition [`GroupCommit`], found through a registry keyed by the
//! partition's allocation (a `Weak` keeps that address from being reused while the entry exists;
//! dead entries are pruned when a new partition registers).
//!
//! ```text
//! request A appends, LEO 10 ─ join(10): nothing runs ─▶ round 1 queued, driver spawned
//! driver: take round 1, job covers LEO 12 (B appended too) ─ fsync ───────────▶ A, B answered
//! request B appends, LEO 12 ─ join(12): running covers 12 ─▶ waits for round 1
//! request C appends, LEO 14 ─ join(14): running covers 12 < 14 ─▶ round 2 queued
//! request D appends, LEO 15 ─ join(15): round 2 already queued ─▶ joins it
//! driver: round 1 done, take round 2, job covers LEO 15 ─ fsync ──────────────▶ C, D answered
//! ```

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::watch;

use crate::broker::now_ms;
use crate::topics::Partition;

/// Why a round failed, kept so that every request of the round gets the same error.
#[derive(Debug, Clone)]
struct SyncFailure {
    kind: io::ErrorKind,
    message: String,
}

impl From<&io::Error> for SyncFailure {
    fn from(e: &io::Error) -> SyncFailure {
        SyncFailure {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<SyncFailure> for io::Error {
    fn from(f: SyncFailure) -> io::Error {
        io::Error::new(f.kind, f.message)
    }
}

/// A round's outcome: `None` while it is queued or running.
type Outcome = Option<Result<(), SyncFailure>>;

#[derive(Debug, Default)]
struct State {
    /// The fsync in flight: the log end offset its job covers, and where its outcome appears.
    running: Option<(i64, watch::Receiver<Outcome>)>,
    /// The round that starts when the running one finishes, with every request that joined it.
    next: Option<watch::Sender<Outcome>>,
    /// Whether a driver task is alive; it runs queued rounds until none is left.
    driving: bool,
}

/// One partition's group-commit state (see the module docs). Thread-safe; the std `Mutex` is
/// never held across an `.await` or any I/O.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// fsync rounds run so far (rounds that found nothing to sync are not counted).
    fsyncs: AtomicU64,
}

impl GroupCommit {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Join the round that makes every offset below `end` durable. Returns where its outcome
    /// will appear, and `true` if the caller must spawn a driver (none is running).
    fn join(&self, end: i64) -> (watch::Receiver<Outcome>, bool) {
        let mut st = self.state();
        if let Some((covers, rx)) = &st.running {
            if *covers >= end {
                return (rx.clone(), false);
            }
        }
        let rx = match &st.next {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(None);
                st.next = Some(tx);
                rx
            }
        };
        let spawn = !st.driving;
        st.driving = true;
        (rx, spawn)
    }

    /// Driver: take the queued round, or, if none is queued, stop driving (and return `None`).
    fn take_next(&self) -> Option<watch::Sender<Outcome>> {
        let mut st = self.state();
        let next = st.next.take();
        if next.is_none() {
            st.driving = false;
        }
        next
    }

    /// Driver: the round's fsync is about to start and covers every offset below `covers`.
    fn started(&self, covers: i64, round: &watch::Sender<Outcome>) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.state().running = Some((covers, round.subscribe()));
    }

    /// Driver: the round is over; answer everyone in it.
    fn finished(&self, round: &watch::Sender<Outcome>, outcome: Result<(), SyncFailure>) {
        self.state().running = None;
        round.send_replace(Some(outcome));
    }

    /// Driver gone without finishing (panic, runtime shutdown): fail the rounds it owned (their
    /// senders are dropped) and let the next request start a new driver.
    fn abandoned(&self) {
        let mut st = self.state();
        st.running = None;
        st.next = None;
        st.driving = false;
    }
}

/// Wait for a round's outcome. A round whose driver vanished counts as failed.
async fn outcome(mut rx: watch::Receiver<Outcome>) -> io::Result<()> {
    match rx.wait_for(Option::is_some).await {
        Ok(o) => match o.clone() {
            Some(Ok(())) => Ok(()),
            Some(Err(f)) => Err(f.into()),
            None => Err(io::Error::other("fsync round abandoned")),
        },
        Err(_) => Err(io::Error::other("fsync round abandoned")),
    }
}

/// A registry entry: the partition (reserving its address) and its state.
type Entry = (Weak<Partition>, Arc<GroupCommit>);

/// Every partition's [`GroupCommit`], keyed by the partition's address (see the module docs).
static REGISTRY: Mutex<BTreeMap<usize, Entry>> = Mutex::new(BTreeMap::new());

/// The partition's group-commit state, created on first use.
pub(crate) fn for_partition(p: &Arc<Partition>) -> Arc<GroupCommit> {
    let key = Arc::as_ptr(p) as usize;
    let mut reg = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, gc)) = reg.get(&key) {
        // The entry's `Weak` keeps this allocation reserved, so an entry at this address is this
        // partition's.
        return gc.clone();
    }
    reg.retain(|_, (w, _)| w.strong_count() > 0);
    let gc = Arc::new(GroupCommit::default());
    reg.insert(key, (Arc::downgrade(p), gc.clone()));
    gc
}

/// fsync rounds run so far for this partition (for tests and diagnostics).
pub fn fsync_count(p: &Arc<Partition>) -> u64 {
    for_partition(p).fsyncs.load(Ordering::Relaxed)
}

/// Make every offset of `p` below `end` durable, sharing the fsync with concurrent callers.
/// Blocking work runs on a blocking thread.
///
/// # Errors
/// The error of the fsync that was meant to cover `end`.
pub(crate) async fn sync_to(p: &Arc<Partition>, end: i64) -> io::Result<()> {
    let gc = for_partition(p);
    let (rx, spawn) = gc.join(end);
    if spawn {
        // The guard is owned by the future from here on, so even a driver that never gets to run
        // (runtime shutting down) releases its rounds.
        let guard = DriverGuard { gc, done: false };
        tokio::spawn(drive(p.clone(), guard));
    }
    outcome(rx).await
}

/// Fails the driver's rounds if it is dropped before it is done (panic, runtime shutdown).
struct DriverGuard {
    gc: Arc<GroupCommit>,
    done: bool,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if !self.done {
            self.gc.abandoned();
        }
    }
}

/// Run queued rounds one after the other until none is left.
async fn drive(p: Arc<Partition>, mut guard: DriverGuard) {
    let gc = guard.gc.clone();
    while let Some(round) = gc.take_next() {
        // Taken after the round stopped accepting members: covers every append they made.
        let job = p.read().sync_job();
        let result = match job {
            // Nothing unflushed: everything the round's members appended is already durable.
            None => Ok(()),
            Some(job) => {
                gc.started(job.offset(), &round);
                match tokio::task::spawn_blocking(move || job.run()).await {
                    Ok(Ok(flushed)) => {
                        p.write().mark_flushed(flushed, now_ms());
                        Ok(())
                    }
                    Ok(Err(e)) => Err(SyncFailure::from(&e)),
                    Err(e) => Err(SyncFailure::from(&io::Error::other(e))),
                }
            }
        };
        gc.finished(&round, result);
    }
    guard.done = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(rx: &watch::Receiver<Outcome>) -> Option<bool> {
        rx.borrow().as_ref().map(Result::is_ok)
    }

    #[test]
    fn requests_queued_during_an_fsync_share_the_next_one() {
        let gc = GroupCommit::default();
        // A: nothing runs, so A queues round 1 and must start the driver.
        let (a, spawn) = gc.join(10);
        assert!(spawn);
        let r1 = gc.take_next().expect("round 1 queued");
        gc.started(12, &r1);
        // B's data (end 12) is covered by the running fsync: B waits for it.
        let (b, spawn) = gc.join(12);
        assert!(!spawn, "one driver per partition");
        // C, D, E appended after round 1's job was taken: they queue round 2, together.
        let (c, spawn_c) = gc.join(13);
        let (d, spawn_d) = gc.join(14);
        let (e, spawn_e) = gc.join(20);
        assert!(!spawn_c && !spawn_d && !spawn_e);
        for rx in [&a, &b, &c, &d, &e] {
            assert_eq!(answered(rx), None);
        }
        gc.finished(&r1, Ok(()));
        assert_eq!(answered(&a), Some(true));
        assert_eq!(answered(&b), Some(true));
        assert_eq!(answered(&c), None, "round 1 started before C's append");
        // One more fsync covers C, D and E.
        let r2 = gc.take_next().expect("round 2 queued");
        gc.started(20, &r2);
        assert_eq!(answered(&e), None);
        gc.finished(&r2, Ok(()));
        for rx in [&c, &d, &e] {
            assert_eq!(answered(rx), Some(true));
        }
        assert!(gc.take_next().is_none());
        assert_eq!(gc.fsyncs.load(Ordering::Relaxed), 2);
        // The driver stopped: the next request starts a new one.
        let (_f, spawn) = gc.join(21);
        assert!(spawn);
    }

    #[test]
    fn an_fsync_error_fails_every_request_it_covers_and_only_those() {
        let gc = GroupCommit::default();
        let (a, _) = gc.join(5);
        let r1 = gc.take_next().unwrap();
        gc.started(7, &r1);
        let (b, _) = gc.join(7);
        let (c, _) = gc.join(8);
        gc.finished(
            &r1,
            Err(SyncFailure::from(&io::Error::other("disk on fire"))),
        );
        assert_eq!(answered(&a), Some(false));
        assert_eq!(answered(&b), Some(false));
        assert_eq!(answered(&c), None, "C waits for its own fsync");
        let r2 = gc.take_next().unwrap();
        gc.started(8, &r2);
        gc.finished(&r2, Ok(()));
        assert_eq!(answered(&c), Some(true));
    }

    #[tokio::test]
    async fn an_abandoned_driver_fails_its_rounds_instead_of_hanging() {
        let gc = Arc::new(GroupCommit::default());
        let (a, _) = gc.join(1);
        let r1 = gc.take_next().unwrap();
        gc.started(1, &r1);
        let (b, _) = gc.join(2);
        drop(DriverGuard {
            gc: gc.clone(),
            done: false,
        });
        drop(r1);
        assert!(outcome(a).await.is_err());
        assert!(outcome(b).await.is_err());
        let (_c, spawn) = gc.join(3);
        assert!(spawn, "a new driver takes over");
    }
}
