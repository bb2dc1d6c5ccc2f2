//! The request memory pool: `queued.max.request.bytes`, as Kafka's `SimpleMemoryPool`.
//!
//! It exists to bound the memory held by requests that have been read but not yet handled,
//! across all connections. A connection takes a [`MemoryLease`] for a frame as soon as the
//! frame's 4-byte length is known, before reading its body; the lease is dropped once the request
//! has been handled. When the pool is exhausted the connection waits, and while it waits it does
//! not read its socket, so the bytes stay in the kernel and in the client (TCP pushes back).
//!
//! Like Kafka's pool in the non-strict mode its `SocketServer` uses, a lease is granted whenever
//! any memory is left, even if the frame is larger than what is left: the memory held can exceed
//! the budget by at most one frame, and a frame larger than all that is left never waits forever
//! (once the other leases are returned it is granted). The configuration also requires the budget
//! to be at least `socket.request.max.bytes`, as Kafka does.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Bytes of requests in flight across all connections; unbounded when it has no limit.
#[derive(Debug)]
pub(crate) struct MemoryPool {
    /// `queued.max.request.bytes`; `None` = unbounded (Kafka's `MemoryPool.NONE`).
    limit: Option<usize>,
    /// Bytes currently leased (may exceed the limit by one lease).
    used: Mutex<usize>,
    /// Woken whenever a lease is returned.
    freed: Notify,
}

/// Memory taken from a [`MemoryPool`] for one request; returned on drop.
#[derive(Debug)]
pub(crate) struct MemoryLease {
    pool: Arc<MemoryPool>,
    bytes: usize,
}

impl MemoryPool {
    /// A pool of `limit` bytes (`None`: unbounded).
    pub(crate) fn new(limit: Option<usize>) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            limit,
            used: Mutex::new(0),
            freed: Notify::new(),
        })
    }

    /// A lease of `bytes` if any memory is left now.
    pub(crate) fn try_take(self: &Arc<Self>, bytes: usize) -> Option<MemoryLease> {
        let Some(limit) = self.limit else {
            return Some(MemoryLease {
                pool: self.clone(),
                bytes: 0,
            });
        };
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if *used >= limit {
            return None;
        }
        *used += bytes;
        Some(MemoryLease {
            pool: self.clone(),
            bytes,
        })
    }

    /// Whether a lease would be granted now without waiting.
    pub(crate) fn has_room(&self) -> bool {
        self.limit
            .is_none_or(|limit| *self.used.lock().unwrap_or_else(PoisonError::into_inner) < limit)
    }

    /// A lease of `bytes`, waiting until some memory is left.
    pub(crate) async fn take(self: &Arc<Self>, bytes: usize) -> MemoryLease {
        loop {
            // Register for the wake-up before looking, so a release in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(lease) = self.try_take(bytes) {
                return lease;
            }
            freed.await;
        }
    }

    /// Bytes currently leased.
    #[cfg(test)]
    fn used(&self) -> usize {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MemoryLease {
    /// The bytes this lease holds (0 from an unbounded pool).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut used = self
            .pool
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(self.bytes);
        drop(used);
        self.pool.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_while_exhausted_and_never_deadlocks_on_a_large_frame() {
        let pool = MemoryPool::new(Some(100));
        let a = pool.try_take(60).unwrap();
        let b = pool
            .try_take(60)
            .expect("granted while any memory is left (non-strict)");
        assert_eq!(pool.used(), 120);
        assert!(pool.try_take(1).is_none(), "exhausted");
        assert!(!pool.has_room());
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.take(500).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        // 60 bytes used: something is left, so the frame larger than the whole pool is granted.
        assert_eq!(waiter.await.unwrap(), 500);
        drop(b);
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn unbounded_pool_never_refuses() {
        let pool = MemoryPool::new(None);
        let leases: Vec<_> = (0..4).map(|_| pool.try_take(usize::MAX / 8)).collect();
        assert!(leases.iter().all(Option::is_some));
        assert_eq!(pool.used(), 0);
    }
}
