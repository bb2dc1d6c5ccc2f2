//! A running node, whatever its `process.roles`: a broker (alone, or combined with a controller,
//! which every node without `process.roles` is) or a controller-only node.
//!
//! It exists so that `main` and the dev cluster start and stop any node the same way. A
//! controller-only node serves no client: it binds its controller listeners, runs its voter of the
//! metadata quorum (the active controller among them fences brokers, hands out producer-id
//! blocks and takes the brokers' forwarded changes), settles the cluster id like any node and
//! writes `meta.properties`. Its start line names the controller listeners
//! (`minikafka started, listening on HOST:PORT (CONTROLLER)`), so scripts that wait for a node to
//! start wait for it the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::broker::{BrokerError, RunningBroker};
use crate::config::BrokerConfig;
use crate::controller::{Quorum, QuorumSettings};
use crate::meta::DataDir;
use crate::topics::TopicError;

/// A started node (see the module docs).
#[derive(Debug)]
pub enum RunningNode {
    /// A broker, with or without the controller role.
    Broker(RunningBroker),
    /// A controller-only node.
    Controller(RunningController),
}

impl RunningNode {
    /// Start the node `config` describes.
    pub async fn start(config: BrokerConfig) -> Result<RunningNode, BrokerError> {
        if config.quorum.roles.controller_only() {
            RunningController::start(config)
                .await
                .map(RunningNode::Controller)
        } else {
            RunningBroker::start(config).await.map(RunningNode::Broker)
        }
    }

    /// The address clients (a broker's first listener) or peers (a controller's first
    /// controller listener) reach it at.
    pub fn local_addr(&self) -> SocketAddr {
        match self {
            RunningNode::Broker(b) => b.local_addr(),
            RunningNode::Controller(c) => c.local_addr(),
        }
    }

    /// Stop it gracefully.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        match self {
            RunningNode::Broker(b) => b.shutdown().await,
            RunningNode::Controller(c) => c.shutdown().await,
        }
    }
}

/// A started controller-only node (see the module docs).
#[derive(Debug)]
pub struct RunningController {
    quorum: Arc<Quorum>,
    addrs: Vec<SocketAddr>,
    data_dir: DataDir,
}

impl RunningController {
    /// Bind the controller listeners, open the data directory and the metadata log, join the
    /// quorum and settle the cluster id.
    pub async fn start(config: BrokerConfig) -> Result<RunningController, BrokerError> {
        crate::broker::check_static_quorum(&config)?;
        let tls = crate::net::tls::controller_tls(&config).map_err(BrokerError::Tls)?;
        if let (Some(served), Some(name)) = (&tls.server, config.listeners.controller_names.first())
        {
            crate::net::tls::watch(served, Arc::new(config.clone()), name.clone());
        }
        let listeners = crate::broker::bind_controllers(&config)?;
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(std::net::TcpListener::local_addr)
            .collect::<Result<_, _>>()
            .map_err(|source| BrokerError::Bind {
                addr: "controller listener".into(),
                source,
            })?;
        let names: Vec<String> = config
            .listeners
            .controllers()
            .map(|l| l.bind.name.clone())
            .collect();
        let (quorum, data_dir) = tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
            let mut data_dir = DataDir::open(&config.data_dir, config.node_id)?;
            let quorum = Quorum::start(
                config.metadata_log_dir(),
                QuorumSettings {
                    node_id: config.node_id,
                    election_timeout_ms: config.quorum.election_timeout_ms,
                    voters: config
                        .quorum
                        .voters
                        .iter()
                        .map(|v| (v.id, v.host_port()))
                        .collect(),
                    listeners,
                    session_timeout_ms: config.broker_session_timeout_ms,
                    observer: false,
                    listener_name: config
                        .listeners
                        .controller_names
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "CONTROLLER".into()),
                    tls,
                },
            )
            .map_err(TopicError::Controller)?;
            quorum.start_unclean_elections(config.log_defaults.unclean_leader_election_enable);
            if config.auto_leader_rebalance_enable {
                quorum.start_leader_rebalance(
                    std::time::Duration::from_secs(config.leader_imbalance_check_interval_seconds),
                    config.leader_imbalance_per_broker_percentage,
                );
            }
            let candidate = crate::meta::kafka_uuid_string(uuid::Uuid::new_v4());
            let (cluster_id, _) = quorum
                .agree_cluster_id(
                    data_dir.recorded_cluster_id(),
                    &candidate,
                    &data_dir.path().join(crate::meta::META_FILE),
                    None,
                )
                .map_err(TopicError::Controller)?;
            data_dir.format(&cluster_id, config.node_id)?;
            Ok((Arc::new(quorum), data_dir))
        })
        .await
        .map_err(|e| BrokerError::Marker(std::io::Error::other(e.to_string())))??;
        info!(
            node = quorum.node_id(),
            cluster_id = data_dir.cluster_id(),
            "controller-only node running"
        );
        let text = addrs
            .iter()
            .zip(&names)
            .map(|(a, n)| format!("{a} ({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        crate::net::log_started(&text);
        Ok(RunningController {
            quorum,
            addrs,
            data_dir,
        })
    }

    /// The first controller listener's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The quorum this node is a voter of (for in-process tests).
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// Stop the quorum member and release the data directory.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        info!("minikafka shutting down, flushing logs");
        let quorum = self.quorum;
        let data_dir = self.data_dir;
        tokio::task::spawn_blocking(move || {
            quorum.shutdown();
            data_dir.mark_clean_shutdown()
        })
        .await
        .map_err(|e| BrokerError::Marker(std::io::Error::other(e.to_string())))?
        .map_err(BrokerError::Marker)?;
        // The quorum's runtime stops in the background; give its listeners a moment to close.
        tokio::time::sleep(Duration::from_millis(10)).await;
        info!("shutdown complete");
        Ok(())
    }
}
