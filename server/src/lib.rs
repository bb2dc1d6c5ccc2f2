//! minikafka: a Kafka-wire-protocol-compatible message broker.
//!
//! Layout:
//! - [`config`]: Kafka-named broker properties, defaults, TOML file and `--set` parsing.
//! - [`meta`]: data-directory lock, `meta.properties`, clean-shutdown marker.
//! - [`topics`]: topic registry (names, ids, configs) and each partition's log.
//! - [`broker`]: start-up, background tasks (retention, flush, the log cleaner) and graceful shutdown.
//! - [`group_commit`]: concurrent requests that need a partition fsynced share one fsync.
//! - [`group`]: the group coordinator (consumer groups, committed offsets in
//!   `__consumer_offsets`).
//! - [`txn`]: the transaction coordinator (transactional ids in `__transaction_state`, markers).
//! - `net`: accept loop and per-connection framing; `dispatch`: API table and routing;
//!   `handlers`: one file per API; `zero_copy`: fetch responses whose record bytes go from the
//!   segment files to the socket with `sendfile`.
//!
//! Record batches stay raw bytes end to end: a Produce's batches are validated without
//! decompression and written as received (after the base offset is set), and a Fetch returns
//! the stored bytes, sent from the segment files without a copy through user space. Storage (`minikafka-storage`) knows nothing of the wire protocol.
//!
//! ```no_run
//! # async fn run() -> Result<(), minikafka::broker::BrokerError> {
//! let mut b = minikafka::config::ConfigBuilder::default();
//! b.set("listeners", "127.0.0.1:0").unwrap();
//! let broker = minikafka::broker::RunningBroker::start(b.build().unwrap()).await?;
//! println!("serving on {}", broker.local_addr());
//! broker.shutdown().await
//! # }
//! ```

pub mod broker;
pub mod clock;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod fetch_sessions;
pub mod group;
mod handlers;
mod log_cleaner;
pub mod meta;
pub mod metadata;
mod net;
pub mod producer_ids;
mod record_codec;
pub mod replica;
pub mod topics;
pub mod txn;
mod zero_copy;
