//! Connection quotas, as Kafka's `ConnectionQuotas`: `max.connections` for the whole broker and
//! `max.connections.per.ip` (with `max.connections.per.ip.overrides`) for each client address.
//!
//! It exists so that no single client, and no pile of idle sockets, can lock every other client
//! out. The accept loop (`net/mod.rs`) accepts first and then asks here: a connection over its
//! address's limit is closed at once (Kafka's `TooManyConnectionsException`); when every
//! `max.connections` slot is in use the accept loop waits for one to free, holding the one socket
//! it accepted (Kafka's `waitForConnectionSlot`). Slots are freed when the connection's
//! [`ConnectionSlot`] is dropped, so a closed connection's slot is reused by the next client.
//!
//! ```text
//! accept ─▶ admit(ip) ─ over the ip's limit ─▶ close, log the peer
//!                 │
//!                 └──▶ wait for a max.connections slot ─▶ serve ─▶ drop ConnectionSlot
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The broker's connection limits and the connections counted against them.
#[derive(Debug)]
pub(crate) struct ConnectionQuotas {
    /// One permit per `max.connections` slot.
    slots: Arc<Semaphore>,
    /// `max.connections.per.ip`.
    default_per_ip: usize,
    /// `max.connections.per.ip.overrides`, resolved to addresses.
    overrides: HashMap<IpAddr, usize>,
    /// Open connections per client address (addresses with none are removed).
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was refused: its address already has `limit` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyConnections {
    /// The limit that applies to the address.
    pub(crate) limit: usize,
}

/// A connection counted against its address's limit; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct IpCount {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

/// Everything a served connection holds: its address count and its `max.connections` slot.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    _ip: IpCount,
    _slot: OwnedSemaphorePermit,
}

impl ConnectionQuotas {
    /// Limits: `max_connections` in all, `default_per_ip` per address unless `overrides` says
    /// otherwise.
    pub(crate) fn new(
        max_connections: usize,
        default_per_ip: usize,
        overrides: HashMap<IpAddr, usize>,
    ) -> Arc<ConnectionQuotas> {
        Arc::new(ConnectionQuotas {
            slots: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            default_per_ip,
            overrides,
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// The limit for connections from `ip`.
    pub(crate) fn limit_for(&self, ip: IpAddr) -> usize {
        self.overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.default_per_ip)
    }

    /// Count a new connection from `ip`, or refuse it if the address is at its limit.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<IpCount, TooManyConnections> {
        let limit = self.limit_for(ip);
        let mut counts = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                counts.remove(&ip);
            }
            return Err(TooManyConnections { limit });
        }
        *count += 1;
        Ok(IpCount {
            quotas: self.clone(),
            ip,
        })
    }

    /// Wait for a free `max.connections` slot; `None` only if the quotas were closed.
    pub(crate) async fn slot(&self, ip: IpCount) -> Option<ConnectionSlot> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        Some(ConnectionSlot {
            _ip: ip,
            _slot: permit,
        })
    }

    /// Connections currently counted for `ip`.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        let counts = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for IpCount {
    fn drop(&mut self) {
        let mut counts = self
            .quotas
            .per_ip
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = counts.get_mut(&self.ip) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_ip_limits_and_overrides_free_on_drop() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let q = ConnectionQuotas::new(10, 1, HashMap::from([(b, 2)]));
        let a1 = q.admit(a).unwrap();
        assert_eq!(q.admit(a).unwrap_err(), TooManyConnections { limit: 1 });
        let b1 = q.admit(b).unwrap();
        let _b2 = q.admit(b).unwrap();
        assert!(q.admit(b).is_err(), "the override is a limit too");
        drop(a1);
        assert_eq!(q.count(a), 0);
        let _a2 = q
            .admit(a)
            .expect("a closed connection frees its address's slot");
        drop(b1);
        assert_eq!(q.count(b), 1);
    }

    #[tokio::test]
    async fn zero_limit_refuses_and_slots_are_reused() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let q = ConnectionQuotas::new(1, 0, HashMap::from([(a, 5)]));
        assert!(q.admit("10.0.0.9".parse().unwrap()).is_err());
        let first = q.slot(q.admit(a).unwrap()).await.unwrap();
        let waiting = q.admit(a).unwrap();
        assert_eq!(q.slots.available_permits(), 0);
        drop(first);
        let second = q.slot(waiting).await;
        assert!(second.is_some(), "a freed max.connections slot is reused");
        assert_eq!(q.count(a), 1);
    }
}
