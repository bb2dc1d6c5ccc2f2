//! Delayed operations (Kafka's purgatory, `DelayedOperationPurgatory`): the one way a request
//! waits for a condition on a partition.
//!
//! A request that cannot be answered yet (a Fetch below `min_bytes`, a Produce whose data must be
//! fsynced first, later an acks=all Produce waiting for followers) becomes a [`DelayedOperation`]:
//! it *watches* the partitions' [`WatchList`]s it depends on, and parks until its
//! `try_complete` check succeeds, its deadline passes or the broker shuts down. Whoever moves a
//! condition (an append, a finished fsync, a moved high watermark) calls
//! [`WatchList::check_and_complete`] on the partition's list, which makes every watching
//! operation run its check again.
//!
//! As in Kafka, the check runs once before the operation parks and after every wake-up, and an
//! operation is registered before its first check, so a change that happens between the check
//! and the park is never missed (a wake-up is kept as a permit: `tokio::sync::Notify`). A
//! completed or abandoned operation leaves only a dead weak reference behind, pruned at the next
//! registration or wake-up, so a list never grows with requests that are gone.
//!
//! ```text
//! fetch(min_bytes) ─ watch(p.appended) ─ try_complete: bytes < min ─ park ─┐
//! produce to p ── append ── p.appended.check_and_complete() ───────────────┴▶ try_complete: done
//! ```

use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The operations waiting for one condition of one partition. Thread-safe; its lock is held only
/// to add or wake waiters, never across an `.await` or I/O.
#[derive(Debug, Default)]
pub struct WatchList {
    waiters: Mutex<Vec<Weak<Notify>>>,
}

impl WatchList {
    fn watch(&self, op: &Arc<Notify>) {
        let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        w.retain(|x| x.strong_count() > 0);
        w.push(Arc::downgrade(op));
    }

    /// The condition may have changed: every watching operation runs its check again.
    pub fn check_and_complete(&self) {
        let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        w.retain(|x| match x.upgrade() {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        });
    }

    /// Operations registered and still alive (for tests and diagnostics).
    pub fn watchers(&self) -> usize {
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|x| x.strong_count() > 0)
            .count()
    }
}

/// Why [`DelayedOperation::run`] called its check for the last time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// An ordinary check: return `None` to keep waiting.
    Try,
    /// The deadline passed or the broker is shutting down: the check must answer now
    /// (Kafka's `onExpiration` followed by `onComplete`).
    Expired,
}

/// One waiting request: the watch lists it is registered on, its deadline and the shutdown
/// signal that ends it early.
#[derive(Debug)]
pub struct DelayedOperation {
    notify: Arc<Notify>,
    deadline: Option<Instant>,
    cancel: Option<CancellationToken>,
}

impl DelayedOperation {
    /// An operation that expires at `deadline` (`None`: only completion ends it) or when
    /// `cancel` fires.
    pub fn new(deadline: Option<Instant>, cancel: Option<CancellationToken>) -> DelayedOperation {
        DelayedOperation {
            notify: Arc::new(Notify::new()),
            deadline,
            cancel,
        }
    }

    /// Register on `list`: a [`WatchList::check_and_complete`] there wakes this operation.
    /// Register before the first check.
    pub fn watch(&self, list: &WatchList) {
        list.watch(&self.notify);
    }

    /// Run `try_complete` now and after every wake-up until it returns `Some`; once the deadline
    /// has passed or shutdown began, it is called with [`Attempt::Expired`] and its answer (which
    /// must then be `Some`) ends the operation. A `try_complete` that returns `None` when
    /// expired is asked again at the next wake-up.
    pub async fn run<T>(&self, mut try_complete: impl FnMut(Attempt) -> Option<T>) -> T {
        self.run_async(|attempt| std::future::ready(try_complete(attempt)))
            .await
    }

    /// [`DelayedOperation::run`] with a check that awaits (one that reads files on the blocking
    /// pool, as a Fetch does).
    pub async fn run_async<T, F>(&self, mut try_complete: impl FnMut(Attempt) -> F) -> T
    where
        F: std::future::Future<Output = Option<T>>,
    {
        loop {
            let expired = self.deadline.is_some_and(|d| Instant::now() >= d)
                || self
                    .cancel
                    .as_ref()
                    .is_some_and(CancellationToken::is_cancelled);
            let attempt = if expired {
                Attempt::Expired
            } else {
                Attempt::Try
            };
            if let Some(done) = try_complete(attempt).await {
                return done;
            }
            let woken = self.notify.notified();
            let deadline = sleep_until(self.deadline);
            let cancelled = cancelled(self.cancel.as_ref());
            if expired {
                // The check declined to answer though expired: wait for a wake-up only.
                woken.await;
                continue;
            }
            tokio::select! {
                () = woken => {}
                () = deadline => {}
                () = cancelled => {}
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn cancelled(cancel: Option<&CancellationToken>) {
    match cancel {
        Some(c) => c.cancelled().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn completes_when_the_condition_moves() {
        let list = Arc::new(WatchList::default());
        let value = Arc::new(AtomicI64::new(0));
        let op = DelayedOperation::new(None, None);
        op.watch(&list);
        let (l, v) = (list.clone(), value.clone());
        let mover = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
                v.fetch_add(1, Ordering::SeqCst);
                l.check_and_complete();
            }
        });
        let mut checks = 0;
        let got = op
            .run(|_| {
                checks += 1;
                let x = value.load(Ordering::SeqCst);
                (x >= 3).then_some(x)
            })
            .await;
        assert_eq!(got, 3);
        assert!(checks >= 2, "checked before parking and after a wake-up");
        mover.await.unwrap();
        drop(op);
        list.check_and_complete();
        assert_eq!(
            list.watchers(),
            0,
            "a finished operation leaves nothing behind"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expires_at_its_deadline_and_on_shutdown() {
        let list = WatchList::default();
        let op = DelayedOperation::new(Some(Instant::now() + Duration::from_millis(500)), None);
        op.watch(&list);
        let got = op
            .run(|a| (a == Attempt::Expired).then_some("expired"))
            .await;
        assert_eq!(got, "expired");

        let cancel = CancellationToken::new();
        let op = DelayedOperation::new(None, Some(cancel.clone()));
        op.watch(&list);
        let c = cancel.clone();
        tokio::spawn(async move { c.cancel() });
        let got = op.run(|a| (a == Attempt::Expired).then_some(7)).await;
        assert_eq!(got, 7);
    }
}
