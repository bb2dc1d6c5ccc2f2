//! Group commit: concurrent requests that need the same partition fsynced share one fsync.
//!
//! Per partition, at most one fsync runs at a time. A request that needs every offset below `end`
//! durable (`end` = the last offset it appended + 1):
//! - returns at once if the log's recovery point is already at `end`;
//! - waits for the running fsync if that fsync covers `end` (the log end offset when its
//!   [`SyncJob`](minikafka_storage::SyncJob) was taken is at least `end`: the job was taken, and
//!   the fsync started, after the request's append);
//! - otherwise joins the *next* round, which starts as soon as the running one finishes and
//!   covers every append made before it starts: one fsync for every request that queued
//!   meanwhile.
//!
//! "Covers" is truthful because the job, and so the offset it covers, is taken under the log lock
//! (offsets are assigned under the same lock, in order), and the round is registered as running
//! under the group-commit lock in the same step, so no request can see a round whose job was
//! taken before its append as covering it. (The broker never truncates a live log, which would
//! make offsets reappear.)
//!
//! A request is answered with its round's outcome: `Ok` only once an fsync that covers `end` has
//! finished successfully and the log's recovery point has been raised; an fsync error fails every
//! request of that round. The rounds run one after the other in a driver task (`tokio::spawn`, the
//! fsync itself on a blocking thread), started by the first request that finds no driver and
//! ending when no round is queued, so a request that gives up (its connection closes) never
//! strands the others. No timers, no polling: each round's outcome is set once, and a waiting
//! request is a delayed operation on the partition's `durable` watch list, which the driver
//! completes after every round ([`crate::replica::purgatory`], the broker's one waiting
//! mechanism).
//!
//! ```text
//! request A appends, end 10 ─ join(10): nothing runs ─▶ round 1 queued, driver spawned
//! driver: take round 1, job covers LEO 12 (B appended too) ─ fsync ───────────▶ A, B answered
//! request B appends, end 12 ─ join(12): running covers 12 ─▶ waits for round 1
//! request C appends, end 14 ─ join(14): running covers 12 < 14 ─▶ round 2 queued
//! request D appends, end 15 ─ join(15): round 2 already queued ─▶ joins it
//! driver: round 1 done, take round 2, job covers LEO 15 ─ fsync ──────────────▶ C, D answered
//! ```
//!
//! A failed fsync is never retried: it takes the partition's log directory offline
//! ([`super::LogDir`]) before its round is answered, so no later round can acknowledge data the
//! kernel may have dropped. While the directory is offline, requests are refused at once and
//! queued rounds fail without an fsync; a round whose fsync succeeded while another log of the
//! directory failed is failed too (nothing is acknowledged after the failure).
//!
//! Each partition counts its fsyncs ([`super::Partition::fsync_count`]) and logs one
//! `debug` line per fsync with the offset it made durable and how many requests it answered.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tracing::{debug, error};

use super::purgatory::DelayedOperation;
use super::Partition;
use crate::clock::now_ms;

/// Test hook run on the blocking thread just before each fsync of a partition: it may block (to
/// let requests pile up) or fail (to simulate a disk error; the fsync is then skipped and its
/// round fails with that error).
pub type FsyncHook = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

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

/// A round's outcome, set once when the round is over (unset while it is queued or running).
/// Each waiting request holds it; the partition's `durable` watch list says when to look.
type Outcome = Arc<OnceLock<Result<(), SyncFailure>>>;

/// One fsync round: where its outcome appears, and how many requests wait for it.
#[derive(Debug)]
struct Round {
    outcome: Outcome,
    waiters: usize,
}

impl Round {
    fn new() -> Round {
        Round {
            outcome: Arc::new(OnceLock::new()),
            waiters: 0,
        }
    }

    fn join(&mut self) -> Outcome {
        self.waiters += 1;
        self.outcome.clone()
    }

    fn answer(&self, result: Result<(), SyncFailure>) {
        // Set once: a round is answered by its driver or, if that vanished, as abandoned.
        let _ = self.outcome.set(result);
    }
}

#[derive(Debug, Default)]
struct State {
    /// The fsync in flight, with the log end offset its job covers.
    running: Option<(i64, Round)>,
    /// The round that starts when the running one finishes, with every request that joined it.
    next: Option<Round>,
    /// Whether a driver task is alive; it runs queued rounds until none is left.
    driving: bool,
}

/// What [`GroupCommit::join`] tells a request.
#[derive(Debug)]
enum Joined {
    /// Its data is already durable.
    Durable,
    /// Wait for this outcome; `true` if the caller must spawn a driver (none is running).
    Wait(Outcome, bool),
}

/// A round the driver has just started: its fsync job, unless nothing was left to sync.
#[derive(Debug)]
struct Started<J> {
    job: Option<J>,
}

/// One partition's group-commit state (see the module docs). Thread-safe; the std `Mutex` is
/// never held across an `.await` or any I/O. Lock order: this state, then the log.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// fsyncs started so far (rounds that found nothing to sync are not counted).
    fsyncs: AtomicU64,
    /// See [`FsyncHook`].
    hook: Mutex<Option<FsyncHook>>,
}

impl fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("state", &self.state)
            .field("fsyncs", &self.fsyncs)
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// fsyncs started so far.
    pub(crate) fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Install (or remove) the [`FsyncHook`].
    pub(crate) fn set_hook(&self, hook: Option<FsyncHook>) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    fn hook(&self) -> Option<FsyncHook> {
        self.hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Join the round that makes every offset below `end` durable. `flushed` reads the log's
    /// recovery point; it is called under this state's lock, so a round that finished (raising
    /// the recovery point before it stops running) is never missed.
    fn join(&self, end: i64, flushed: impl FnOnce() -> i64) -> Joined {
        let mut st = self.state();
        if flushed() >= end {
            return Joined::Durable;
        }
        if let Some((covers, round)) = &mut st.running {
            if *covers >= end {
                return Joined::Wait(round.join(), false);
            }
        }
        let rx = st.next.get_or_insert_with(Round::new).join();
        let spawn = !st.driving;
        st.driving = true;
        Joined::Wait(rx, spawn)
    }

    /// Driver: start the queued round, taking its job with `take_job` (which returns the job and
    /// the offset it covers) under this state's lock. `None` if no round is queued: the driver
    /// stops.
    fn start_next<J>(&self, take_job: impl FnOnce() -> Option<(i64, J)>) -> Option<Started<J>> {
        let mut st = self.state();
        let Some(round) = st.next.take() else {
            st.driving = false;
            return None;
        };
        match take_job() {
            Some((covers, job)) => {
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                st.running = Some((covers, round));
                Some(Started { job: Some(job) })
            }
            None => {
                // Nothing unflushed: everything its members appended is already durable.
                round.answer(Ok(()));
                Some(Started { job: None })
            }
        }
    }

    /// Driver: the running fsync is over; answer everyone in its round. Returns the offset it
    /// covered and how many requests it answered.
    fn finish(&self, outcome: Result<(), SyncFailure>) -> (i64, usize) {
        let running = self.state().running.take();
        match running {
            Some((covers, round)) => {
                round.answer(outcome);
                (covers, round.waiters)
            }
            None => (-1, 0),
        }
    }

    /// Driver gone without finishing (panic, runtime shutdown): fail the rounds it owned and
    /// let the next request start a new driver.
    fn abandoned(&self) {
        let mut st = self.state();
        let abandoned = || SyncFailure::from(&io::Error::other("fsync round abandoned"));
        if let Some((_, round)) = st.running.take() {
            round.answer(Err(abandoned()));
        }
        if let Some(round) = st.next.take() {
            round.answer(Err(abandoned()));
        }
        st.driving = false;
    }
}

/// Wait for a round's outcome: a delayed operation on the partition's `durable` watch list,
/// which the driver completes after each round ([`crate::replica::purgatory`]).
async fn outcome(p: &Partition, outcome: Outcome) -> io::Result<()> {
    let op = DelayedOperation::new(None, None);
    p.watch_durable(&op);
    op.run(|_| outcome.get().cloned())
        .await
        .map_err(io::Error::from)
}

/// Make every offset of `p` below `end` durable, sharing the fsync with concurrent callers.
/// The request joins its round at the call, before the returned future is first polled, so a
/// caller can join several partitions' rounds before waiting for any. Blocking work runs on a
/// blocking thread.
///
/// # Errors
/// The error of the fsync that was meant to cover `end`.
pub(crate) fn sync_to(
    p: &Arc<Partition>,
    end: i64,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    let refused = p.log_dir().check().err();
    let wait = match p.group_commit().join(end, || p.flushed_offset()) {
        _ if refused.is_some() => None,
        Joined::Durable => None,
        Joined::Wait(rx, spawn) => {
            if spawn {
                // The guard is owned by the future from here on, so even a driver that never
                // gets to run (runtime shutting down) releases its rounds.
                let guard = DriverGuard {
                    p: p.clone(),
                    done: false,
                };
                tokio::spawn(drive(p.clone(), guard));
            }
            Some(rx)
        }
    };
    let p = p.clone();
    async move {
        match (wait, refused) {
            (_, Some(e)) => Err(io::Error::other(e.to_string())),
            (None, None) => Ok(()),
            (Some(rx), None) => outcome(&p, rx).await,
        }
    }
}

/// Fails the driver's rounds if it is dropped before it is done (panic, runtime shutdown).
struct DriverGuard {
    p: Arc<Partition>,
    done: bool,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        // Not done: `driving` is still this driver's (no other can have started), so clearing
        // the state cannot disturb a successor.
        if !self.done {
            self.p.group_commit().abandoned();
            self.p.durable_changed();
        }
    }
}

/// Run queued rounds one after the other until none is left.
async fn drive(p: Arc<Partition>, mut guard: DriverGuard) {
    let gc = p.group_commit();
    while let Some(started) = gc.start_next(|| p.sync_job().map(|j| (j.offset(), j))) {
        let Some(job) = started.job else { continue };
        let hook = gc.hook();
        let dir = p.log_dir().clone();
        let result = match dir.check() {
            // Offline: an fsync that succeeds now proves nothing about what was dropped.
            Err(e) => Err(SyncFailure::from(&io::Error::other(e.to_string()))),
            Ok(()) => match tokio::task::spawn_blocking(move || {
                hook.map_or(Ok(()), |h| h())?;
                job.run()
            })
            .await
            {
                Ok(Ok(flushed)) => match dir.check() {
                    Ok(()) => {
                        p.mark_flushed(flushed, now_ms());
                        Ok(())
                    }
                    Err(e) => Err(SyncFailure::from(&io::Error::other(e.to_string()))),
                },
                Ok(Err(e)) => {
                    dir.fail("fsync", &e);
                    error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed");
                    Err(SyncFailure::from(&e))
                }
                Err(e) => Err(SyncFailure::from(&io::Error::other(e))),
            },
        };
        let ok = result.is_ok();
        let (offset, waiters) = gc.finish(result);
        p.durable_changed();
        debug!(topic = %p.topic, partition = p.index, offset, waiters, ok, "fsync");
    }
    guard.done = true;
}

/// Make everything appended to the partition so far durable (fsync on a blocking thread, then
/// record it as durable), sharing fsyncs with concurrent callers (this module).
/// Callers that know their own last offset use [`sync_partition_to`] instead, and so wait less.
pub(crate) async fn sync_partition(p: &Arc<Partition>) -> std::io::Result<()> {
    let end = p.log_end_offset();
    sync_partition_to(p, end).await
}

/// Make every offset of the partition below `end` durable: the future resolves to `Ok` once an
/// fsync covering `end` has succeeded (at once if one already has), and fails with the error of
/// the fsync that was meant to cover it. The request joins its fsync round at the call, so
/// several partitions can be joined before waiting for any.
pub(crate) fn sync_partition_to(
    p: &Arc<Partition>,
    end: i64,
) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
    sync_to(p, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(rx: &Outcome) -> Option<bool> {
        rx.get().map(Result::is_ok)
    }

    /// Join with the recovery point at `flushed`; expects to have to wait.
    fn wait(gc: &GroupCommit, end: i64, flushed: i64) -> (Outcome, bool) {
        match gc.join(end, || flushed) {
            Joined::Wait(rx, spawn) => (rx, spawn),
            Joined::Durable => panic!("end {end} is not durable at {flushed}"),
        }
    }

    fn start(gc: &GroupCommit, covers: i64) {
        let started = gc
            .start_next(|| Some((covers, ())))
            .expect("a round queued");
        assert!(started.job.is_some());
    }

    #[test]
    fn requests_queued_during_an_fsync_share_the_next_one() {
        let gc = GroupCommit::default();
        // A: nothing runs, so A queues round 1 and must start the driver.
        let (a, spawn) = wait(&gc, 10, 0);
        assert!(spawn);
        start(&gc, 12);
        // B's data (end 12) is covered by the running fsync: B waits for it.
        let (b, spawn) = wait(&gc, 12, 0);
        assert!(!spawn, "one driver per partition");
        // C, D, E appended after round 1's job was taken: they queue round 2, together.
        let (c, spawn_c) = wait(&gc, 13, 0);
        let (d, spawn_d) = wait(&gc, 14, 0);
        let (e, spawn_e) = wait(&gc, 20, 0);
        assert!(!spawn_c && !spawn_d && !spawn_e);
        for rx in [&a, &b, &c, &d, &e] {
            assert_eq!(answered(rx), None);
        }
        assert_eq!(gc.finish(Ok(())), (12, 2), "round 1 answers A and B");
        assert_eq!(answered(&a), Some(true));
        assert_eq!(answered(&b), Some(true));
        assert_eq!(answered(&c), None, "round 1 started before C's append");
        // One more fsync covers C, D and E.
        start(&gc, 20);
        assert_eq!(answered(&e), None);
        assert_eq!(gc.finish(Ok(())), (20, 3));
        for rx in [&c, &d, &e] {
            assert_eq!(answered(rx), Some(true));
        }
        assert!(gc.start_next(|| Some((0, ()))).is_none());
        assert_eq!(gc.fsync_count(), 2);
        // The driver stopped: the next request starts a new one.
        let (_f, spawn) = wait(&gc, 21, 20);
        assert!(spawn);
    }

    #[test]
    fn a_request_covered_by_the_running_fsync_waits_only_for_it() {
        let gc = GroupCommit::default();
        let (a, _) = wait(&gc, 5, 0);
        start(&gc, 9);
        // Round 2 is already queued by a request the running fsync does not cover...
        let (c, _) = wait(&gc, 11, 0);
        // ...yet a request whose own data ends at 9 (appended before the job was taken, asking
        // after round 2 was queued) joins the running round, not round 2.
        let (b, spawn) = wait(&gc, 9, 0);
        assert!(!spawn);
        assert_eq!(gc.finish(Ok(())), (9, 2));
        assert_eq!(answered(&a), Some(true));
        assert_eq!(answered(&b), Some(true));
        assert_eq!(answered(&c), None);
    }

    #[test]
    fn durable_data_needs_no_fsync() {
        let gc = GroupCommit::default();
        assert!(matches!(gc.join(7, || 7), Joined::Durable));
        assert!(matches!(gc.join(3, || 7), Joined::Durable));
        // A round that finds nothing to sync answers its members without counting an fsync.
        let (a, spawn) = wait(&gc, 8, 7);
        assert!(spawn);
        let started = gc.start_next(|| None::<(i64, ())>).unwrap();
        assert!(started.job.is_none());
        assert_eq!(answered(&a), Some(true));
        assert_eq!(gc.fsync_count(), 0);
        assert!(gc.start_next(|| None::<(i64, ())>).is_none());
    }

    #[test]
    fn an_fsync_error_fails_every_request_it_covers_and_only_those() {
        let gc = GroupCommit::default();
        let (a, _) = wait(&gc, 5, 0);
        start(&gc, 7);
        let (b, _) = wait(&gc, 7, 0);
        let (c, _) = wait(&gc, 8, 0);
        gc.finish(Err(SyncFailure::from(&io::Error::other("disk on fire"))));
        assert_eq!(answered(&a), Some(false));
        assert_eq!(answered(&b), Some(false));
        assert_eq!(answered(&c), None, "C waits for its own fsync");
        start(&gc, 8);
        gc.finish(Ok(()));
        assert_eq!(answered(&c), Some(true));
    }

    #[test]
    fn an_abandoned_driver_fails_its_rounds_instead_of_hanging() {
        let gc = GroupCommit::default();
        let (a, _) = wait(&gc, 1, 0);
        start(&gc, 1);
        let (b, _) = wait(&gc, 2, 0);
        gc.abandoned();
        assert_eq!(answered(&a), Some(false));
        assert_eq!(answered(&b), Some(false));
        let (_c, spawn) = wait(&gc, 3, 0);
        assert!(spawn, "a new driver takes over");
    }
}
