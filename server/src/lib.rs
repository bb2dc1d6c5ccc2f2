//! minikafka: a Kafka-wire-protocol-compatible message broker.
//!
//! Layers, top down; a module imports only from layers below it (no module imports start-up
//! code or a layer above it; `ARCHITECTURE.md` shows a Produce and a Fetch passing through):
//!
//! 1. **Start-up** — [`broker`] (binds, opens the data directory and logs, starts the background
//!    tasks: retention, flush, producer expiry, the coordinators' timers, `log_cleaner`; graceful
//!    shutdown) and `main.rs`.
//! 2. **Network** — `net`: accept loop, per-connection framing, responses written in order;
//!    `zero_copy`: fetch answers whose record bytes go from the segment files to the socket.
//! 3. **Request routing** — [`dispatch`]: the API table (what ApiVersions advertises) and the
//!    route of each decoded request to its handler.
//! 4. **API handlers** — `handlers/`: one file per API; decode is done, each builds its
//!    response for the request's version and maps failures to Kafka error codes.
//! 5. **Shared context** — [`context`]: the `Broker` every handler takes (config, identity, the
//!    components below); [`fetch_sessions`] (KIP-227).
//! 6. **Coordinators** — [`txn`] (transactional ids in `__transaction_state`, markers) above
//!    [`group`] (consumer groups and committed offsets in `__consumer_offsets`), with
//!    `record_codec` for their record schemas and [`producer_ids`] (blocks from the controller);
//!    beside them [`replication`]: the replica fetchers (followers copying their leaders' logs
//!    over the inter-broker client) and the ISR changes leaders propose, and `replica_selector`
//!    (which replica a consumer in a given rack reads from, KIP-392); `coordinator_partitions`
//!    tracks which internal partitions' state the coordinators have loaded; [`sasl`]: the SASL
//!    mechanisms (PLAIN, SCRAM) and each connection's authentication state, which the network
//!    layer runs and the SCRAM credential handlers use.
//! 7. **Metadata** — [`topics`]: the broker's side of the metadata (validates admin changes,
//!    proposes them as records, keeps the replicas and the image up to the applied log) above
//!    [`controller`] (the controller quorum on openraft: the metadata log, its records, storage
//!    and state) above [`metadata`]: the immutable image handlers and coordinators read, with
//!    the ACLs whose model and authorizer decisions are [`acl`] (issue 14).
//! 8. **Replica layer** — [`replica`]: `ReplicaManager` → `Partition` (leader epoch, high
//!    watermark, ISR, the only code that reads or appends a log), the purgatory of delayed
//!    operations, group commit.
//! 9. **Storage** — the `minikafka-storage` crate (segmented log, indexes, producer state,
//!    leader-epoch cache, cleaner), plus the leaf modules [`config`], [`meta`] (data-directory
//!    lock, `meta.properties`) and [`clock`].
//!
//! Record batches stay raw bytes end to end: a Produce's batches are validated (compressed
//! records streamed, within a decompressed-size limit) and written as received (after the base
//! offset is set), and a Fetch returns
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

pub mod acl;
pub mod broker;
pub mod clock;
pub mod config;
pub mod context;
pub mod controller;
mod coordinator_partitions;
pub mod dev_certs;
pub mod dispatch;
pub mod fetch_sessions;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
mod handlers;
mod interbroker;
mod log_cleaner;
pub mod meta;
pub mod metadata;
mod net;
pub use net::stream::Stream;
pub use net::tls::{NodeTls, Tls, TlsClient};
pub mod node;
pub mod producer_ids;
mod record_codec;
pub mod replica;
mod replica_selector;
pub mod replication;
pub mod sasl;
pub mod topics;
pub mod txn;
mod zero_copy;
