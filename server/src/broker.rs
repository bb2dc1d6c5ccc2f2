//! The running broker: start-up (data directory, topics, listeners), the background tasks
//! (retention, segment age, time-based flush) and graceful shutdown.
//!
//! Start-up order: bind the listeners, every broker listener of `listeners` with its name (so a
//! port in use fails before anything on disk is touched); lock every log directory (`log.dirs`) and read its `meta.properties`; open every topic's logs
//! (recovering segment tails if the previous run did not shut down cleanly) and take their
//! leadership; load the coordinators; start accepting; log `minikafka started, listening on
//! HOST:PORT` (`HOST:PORT (NAME), ...` with several or named listeners).
//!
//! Shutdown order: log `minikafka shutting down, flushing logs`; stop accepting; let each
//! connection finish its in-flight request (long-poll fetches return early); flush and fsync
//! every log; write each online log directory's clean-shutdown marker; log `shutdown complete`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::context::{Advertised, Broker};
use crate::controller::{BrokerEndpoint, Quorum, QuorumSettings, Registration};
use crate::fetch_sessions::FetchSessions;
use crate::group::GroupCoordinator;
use crate::meta::{DataDir, MetaError};
use crate::net::memory::MemoryPool;
use crate::net::quotas::ConnectionQuotas;
use crate::net::{self, Listener};
use crate::producer_ids::ProducerIds;
use crate::replica::{sync_partition, sync_partition_to, LogDir, ReplicaManager};
use crate::topics::{TopicError, Topics};
use crate::txn::TxnCoordinator;

/// Errors starting or stopping the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Data directory problem.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Topic metadata or log problem.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// Could not bind the listen address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A host of `max.connections.per.ip.overrides` does not resolve.
    #[error("cannot resolve '{host}' of max.connections.per.ip.overrides: {source}")]
    UnknownHost {
        /// The host name.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration this version accepts but cannot run.
    #[error("{0}")]
    NotServed(String),
    /// An SSL listener's TLS settings are unusable (the message says which and why).
    #[error("{0}")]
    Tls(String),
    /// A SASL listener's settings are unusable (the message says which and why).
    #[error("{0}")]
    Sasl(String),
    /// Writing the clean-shutdown marker failed.
    #[error("cannot write the clean-shutdown marker: {0}")]
    Marker(std::io::Error),
}

/// A started broker. Dropping it without [`RunningBroker::shutdown`] leaves the data as after a
/// crash (recovered at the next start).
#[derive(Debug)]
pub struct RunningBroker {
    broker: Arc<Broker>,
    /// Each broker listener's name and first bound address, in `listeners` order.
    listener_addrs: Vec<(String, SocketAddr)>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// Every log directory, locked, in `log.dirs` order (the first holds the metadata log
    /// unless `metadata.log.dir` is set).
    data_dirs: Vec<DataDir>,
}

/// One broker listener, bound: its name, its sockets (two for `localhost`) and its port.
#[derive(Debug)]
struct Bound {
    /// The listener's name.
    name: String,
    /// The listening sockets, on the same port.
    sockets: Vec<TcpListener>,
    /// The first socket's address (the port that port 0 picked).
    addr: SocketAddr,
}

/// Bind every broker listener (controller listeners are not bound: there is no controller).
async fn bind(config: &BrokerConfig) -> Result<Vec<Bound>, BrokerError> {
    let mut out = Vec::new();
    for l in config.listeners.brokers() {
        let e = &l.bind;
        let bind_err = |source| BrokerError::Bind {
            addr: format!("{}://{}", e.name, e.host_port()),
            source,
        };
        let sockets = match e.host.as_str() {
            "localhost" => {
                // Clients may resolve localhost to 127.0.0.1 or ::1: serve both on the same port.
                let v4 = TcpListener::bind(("127.0.0.1", e.port))
                    .await
                    .map_err(bind_err)?;
                let port = v4.local_addr().map_err(bind_err)?.port();
                let mut both = vec![v4];
                match TcpListener::bind(("::1", port)).await {
                    Ok(v6) => both.push(v6),
                    Err(err) => {
                        warn!(error = %err, port, listener = %e.name, "IPv6 loopback ::1 not available; listening on 127.0.0.1 only");
                    }
                }
                both
            }
            // Kafka binds an empty host to the wildcard address: `::`, which takes IPv4 too,
            // or 0.0.0.0 where IPv6 is off.
            "" => match TcpListener::bind(("::", e.port)).await {
                Ok(l) => vec![l],
                Err(_) => vec![TcpListener::bind(("0.0.0.0", e.port))
                    .await
                    .map_err(bind_err)?],
            },
            host => vec![TcpListener::bind((host, e.port)).await.map_err(bind_err)?],
        };
        let addr = sockets[0].local_addr().map_err(bind_err)?;
        out.push(Bound {
            name: e.name.clone(),
            sockets,
            addr,
        });
    }
    Ok(out)
}

/// Bind this node's controller listeners (with the controller role): the quorum's peers and the
/// brokers' heartbeats arrive there. `localhost` binds 127.0.0.1, an empty host every interface.
pub(crate) fn bind_controllers(
    config: &BrokerConfig,
) -> Result<Vec<std::net::TcpListener>, BrokerError> {
    let mut out = Vec::new();
    for l in config.listeners.controllers() {
        let e = &l.bind;
        let bind_err = |source| BrokerError::Bind {
            addr: format!("{}://{}", e.name, e.host_port()),
            source,
        };
        let socket = match e.host.as_str() {
            "localhost" => std::net::TcpListener::bind(("127.0.0.1", e.port)),
            "" => std::net::TcpListener::bind(("::", e.port))
                .or_else(|_| std::net::TcpListener::bind(("0.0.0.0", e.port))),
            host => std::net::TcpListener::bind((host, e.port)),
        }
        .map_err(bind_err)?;
        info!(listener = %e.name, addr = %socket.local_addr().map_err(bind_err)?, "controller listener bound");
        out.push(socket);
    }
    Ok(out)
}

/// A dynamic quorum (KIP-853: `controller.quorum.bootstrap.servers` and no
/// `controller.quorum.voters`) is refused before anything is bound or touched.
pub(crate) fn check_static_quorum(config: &BrokerConfig) -> Result<(), BrokerError> {
    if config.quorum.roles.explicit && config.quorum.voters.is_empty() {
        return Err(BrokerError::NotServed(
            "controller.quorum.bootstrap.servers without controller.quorum.voters (a dynamic \
             quorum, KIP-853) is not served yet: list the voters in controller.quorum.voters"
                .into(),
        ));
    }
    Ok(())
}

/// What each bound listener advertises: its `advertised.listeners` entry, else its own host
/// and bound port. An empty host is this machine's name (Kafka advertises the canonical host
/// name for it); an advertised port 0 is the bound port (port 0 picks one at start).
fn advertised(config: &BrokerConfig, bound: &[Bound]) -> Vec<Advertised> {
    config
        .listeners
        .brokers()
        .zip(bound)
        .map(|(l, b)| {
            let (host, port) = match &l.advertised {
                Some(a) => (a.host.clone(), a.port),
                None => (l.bind.host.clone(), b.addr.port()),
            };
            let host = if host.is_empty() {
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned()
            } else {
                host
            };
            let port = if port == 0 { b.addr.port() } else { port };
            Advertised {
                listener: l.bind.name.clone(),
                host,
                port: i32::from(port),
            }
        })
        .collect()
}

/// The start line's addresses: `HOST:PORT` for the usual single PLAINTEXT listener (as before
/// named listeners), else `HOST:PORT (NAME)` for each.
fn listening_text(config: &BrokerConfig, bound: &[Bound]) -> String {
    let named = bound.len() > 1 || bound.iter().any(|b| b.name != "PLAINTEXT");
    config
        .listeners
        .brokers()
        .zip(bound)
        .map(|(l, b)| {
            let host = if l.bind.host.is_empty() {
                b.addr.ip().to_string()
            } else {
                l.bind.host.clone()
            };
            let addr = crate::config::listeners::host_port(&host, b.addr.port());
            if named {
                format!("{addr} ({})", b.name)
            } else {
                addr
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `max.connections.per.ip.overrides` by address. Kafka resolves each host once, at start
/// (`InetAddress.getByName`); a host name that does not resolve fails the start as it does
/// there. A name with several addresses applies to each of them.
async fn per_ip_overrides(config: &BrokerConfig) -> Result<HashMap<IpAddr, usize>, BrokerError> {
    let mut out = HashMap::new();
    for (host, count) in &config.max_connections_per_ip_overrides {
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.insert(ip, *count);
            continue;
        }
        let addrs = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|source| BrokerError::UnknownHost {
                host: host.clone(),
                source,
            })?;
        for a in addrs {
            out.insert(a.ip(), *count);
        }
    }
    Ok(out)
}

impl RunningBroker {
    /// Open the data directory and the logs, bind and start serving.
    pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
        let config = Arc::new(config);
        let q = &config.quorum;
        if q.roles.controller_only() {
            return Err(BrokerError::NotServed(
                "process.roles=controller: a controller-only node is started as a \
                 minikafka::node::RunningNode, not as a broker"
                    .into(),
            ));
        }
        check_static_quorum(&config)?;
        // Bind first: a port in use must not leave a freshly formatted data directory behind.
        // Connections queue in the backlog until the logs are open and the listeners run.
        let overrides = per_ip_overrides(&config).await?;
        // TLS settings before anything is bound: a bad key store stops the start here.
        let mut tls_of: BTreeMap<String, crate::net::tls::Tls> = BTreeMap::new();
        let mut sasl_of: BTreeMap<String, Arc<crate::sasl::ListenerSasl>> = BTreeMap::new();
        for l in config.listeners.brokers() {
            use crate::config::listeners::SecurityProtocol;
            if matches!(
                l.protocol,
                SecurityProtocol::Ssl | SecurityProtocol::SaslSsl
            ) {
                let tls = crate::net::tls::for_listener(&config, &l.bind.name)
                    .map_err(BrokerError::Tls)?;
                crate::net::tls::watch(&tls, config.clone(), l.bind.name.clone());
                tls_of.insert(l.bind.name.clone(), tls);
            }
            if matches!(
                l.protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            ) {
                let sasl =
                    crate::sasl::for_listener(&config, &l.bind.name).map_err(BrokerError::Sasl)?;
                sasl_of.insert(l.bind.name.clone(), Arc::new(sasl));
            }
        }
        let controller_tls = crate::net::tls::controller_tls(&config).map_err(BrokerError::Tls)?;
        if let (Some(tls), Some(name)) = (
            &controller_tls.server,
            config.listeners.controller_names.first(),
        ) {
            crate::net::tls::watch(tls, config.clone(), name.clone());
        }
        // The inter-broker listener's client side (replica fetchers, transaction markers).
        if config.listeners.protocol_of(&config.listeners.inter_broker)
            == crate::config::listeners::SecurityProtocol::Ssl
        {
            crate::net::tls::client_for_listener(&config, &config.listeners.inter_broker)
                .map_err(BrokerError::Tls)?;
        }
        let bound = bind(&config).await?;
        let controller_listeners = bind_controllers(&config)?;
        let advertised = advertised(&config, &bound);
        let incarnation = uuid::Uuid::new_v4();
        let registration = Registration {
            id: config.node_id,
            incarnation,
            listeners: advertised
                .iter()
                .map(|a| BrokerEndpoint {
                    name: a.listener.clone(),
                    host: a.host.clone(),
                    port: a.port,
                })
                .collect(),
            rack: config.broker_rack.clone(),
        };
        let cfg = config.clone();
        let (data_dirs, topics, replicas, producer_ids, groups, txn) =
            tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
                let mut data_dirs = open_log_dirs(&cfg)?;
                minikafka_storage::set_max_open_files(cfg.max_open_segment_files);
                let replicas = Arc::new(ReplicaManager::with_dirs(&cfg.log_dirs, cfg.node_id));
                replicas.quotas().set_windows(
                    cfg.replication_quota_window_num,
                    std::time::Duration::from_secs(u64::from(
                        cfg.replication_quota_window_size_seconds,
                    )),
                );
                for (d, data_dir) in replicas.log_dirs().iter().zip(&data_dirs) {
                    d.set_was_clean(data_dir.was_clean());
                }
                let recorded = data_dirs
                    .iter()
                    .find_map(DataDir::recorded_cluster_id)
                    .map(str::to_string);
                let quorum = Arc::new(
                    Quorum::start(
                        cfg.metadata_log_dir(),
                        QuorumSettings {
                            node_id: cfg.node_id,
                            election_timeout_ms: cfg.quorum.election_timeout_ms,
                            voters: cfg
                                .quorum
                                .voters
                                .iter()
                                .map(|v| (v.id, v.host_port()))
                                .collect(),
                            listeners: controller_listeners,
                            session_timeout_ms: cfg.broker_session_timeout_ms,
                            observer: cfg.quorum.roles.broker_only(),
                            listener_name: cfg
                                .listeners
                                .controller_names
                                .first()
                                .cloned()
                                .unwrap_or_else(|| "CONTROLLER".into()),
                            tls: controller_tls,
                        },
                    )
                    .map_err(TopicError::Controller)?,
                );
                if !cfg.quorum.roles.broker_only() {
                    quorum.start_unclean_elections(cfg.log_defaults.unclean_leader_election_enable);
                }
                if cfg.auto_leader_rebalance_enable && !cfg.quorum.roles.broker_only() {
                    quorum.start_leader_rebalance(
                        Duration::from_secs(cfg.leader_imbalance_check_interval_seconds),
                        cfg.leader_imbalance_per_broker_percentage,
                    );
                }
                let candidate = crate::meta::kafka_uuid_string(uuid::Uuid::new_v4());
                let (cluster_id, proposed) = quorum
                    .agree_cluster_id(
                        recorded.as_deref(),
                        &candidate,
                        &data_dirs[0].path().join(crate::meta::META_FILE),
                        Some(&registration),
                    )
                    .map_err(TopicError::Controller)?;
                for data_dir in &mut data_dirs {
                    data_dir.format(&cluster_id, cfg.node_id)?;
                }
                crate::sasl::bootstrap_users(&quorum, &cfg.add_scram)
                    .map_err(TopicError::Controller)?;
                let registered = quorum.register_broker(
                    registration,
                    Duration::from_millis(cfg.broker_heartbeat_interval_ms),
                    proposed,
                );
                match registered {
                    Ok(()) => {}
                    // Alone, the node still serves what it has (read-only on a full disk: the
                    // metadata log shares it); in a cluster an unregistered broker is unusable.
                    Err(e) if cfg.quorum.single_node() => {
                        error!(error = %e, "cannot register the broker in the metadata log; serving without a registration, administrative changes will fail");
                    }
                    Err(e) => return Err(TopicError::Controller(e).into()),
                }
                // Whether a log needs recovery is its own directory's marker (`set_was_clean`):
                // a clean directory is not rescanned because another one was not.
                let topics = Arc::new(Topics::load(
                    data_dirs[0].path(),
                    cfg.clone(),
                    replicas.clone(),
                    quorum.clone(),
                    true,
                )?);
                let producer_ids = Arc::new(ProducerIds::new(quorum, cfg.node_id));
                let groups = Arc::new(GroupCoordinator::load(
                    topics.clone(),
                    replicas.clone(),
                    cfg.clone(),
                )?);
                let txn = TxnCoordinator::load(
                    topics.clone(),
                    replicas.clone(),
                    cfg.clone(),
                    producer_ids.clone(),
                    groups.clone(),
                )?;
                Ok((data_dirs, topics, replicas, producer_ids, groups, txn))
            })
            .await
            .map_err(|e| BrokerError::Marker(std::io::Error::other(e.to_string())))??;
        let started = listening_text(&config, &bound);
        let broker = Arc::new(Broker {
            config: config.clone(),
            topics,
            replicas,
            cluster_id: data_dirs[0].cluster_id().to_string(),
            advertised,
            producer_ids,
            fetch_sessions: FetchSessions::new(config.max_fetch_sessions),
            groups,
            txn: Arc::new(txn),
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let quotas = ConnectionQuotas::new(
            config.max_connections,
            config.max_connections_per_ip,
            overrides,
        );
        let memory = MemoryPool::new(config.queued_max_request_bytes);
        let listener_addrs: Vec<(String, SocketAddr)> =
            bound.iter().map(|b| (b.name.clone(), b.addr)).collect();
        for b in bound {
            let tls = tls_of.get(&b.name).cloned();
            let sasl = sasl_of.get(&b.name).cloned();
            let name: Arc<str> = b.name.into();
            for listener in b.sockets {
                let l = Listener {
                    listener,
                    name: name.clone(),
                    broker: broker.clone(),
                    quotas: quotas.clone(),
                    memory: memory.clone(),
                    shutdown: shutdown.clone(),
                    tracker: tracker.clone(),
                    tls: tls.clone(),
                    sasl: sasl.clone(),
                };
                tracker.spawn(l.run());
            }
        }
        tracker.spawn(broker.topics.clone().follow(shutdown.clone()));
        tracker.spawn(crate::replication::fetcher_manager(
            broker.topics.clone(),
            broker.replicas.clone(),
            broker.config.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(broker.groups.clone().follow_leadership(shutdown.clone()));
        tracker.spawn(broker.txn.clone().follow_leadership(shutdown.clone()));
        tracker.spawn(crate::replication::offline_dir_task(
            broker.topics.clone(),
            broker.replicas.clone(),
            broker.config.clone(),
            incarnation,
            shutdown.clone(),
        ));
        tracker.spawn(crate::replication::isr_shrink_task(
            broker.topics.clone(),
            broker.replicas.clone(),
            broker.config.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(hw_checkpoint_task(broker.clone(), shutdown.clone()));
        tracker.spawn(retention_task(broker.clone(), shutdown.clone()));
        tracker.spawn(crate::log_cleaner::cleaner_task(
            broker.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(flush_task(broker.clone(), shutdown.clone()));
        tracker.spawn(segment_flush_task(broker.clone(), shutdown.clone()));
        tracker.spawn(read_only_probe_task(broker.clone(), shutdown.clone()));
        tracker.spawn(producer_expiry_task(broker.clone(), shutdown.clone()));
        tracker.spawn(group_tick_task(broker.clone(), shutdown.clone()));
        tracker.spawn(offsets_expiry_task(broker.clone(), shutdown.clone()));
        tracker.spawn(txn_tick_task(broker.clone(), shutdown.clone()));
        net::log_started(&started);
        Ok(RunningBroker {
            broker,
            listener_addrs,
            shutdown,
            tracker,
            data_dirs,
        })
    }

    /// The first listener's bound address (127.0.0.1 for `localhost`).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener_addrs[0].1
    }

    /// The bound address of the listener named `name` (in any case), if it is bound.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        let name = crate::config::listeners::normalised(name);
        self.listener_addrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// Shared broker state (for in-process tests).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, flush and fsync every log,
    /// write the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        info!("minikafka shutting down, flushing logs");
        // Kafka's controlled shutdown comes first, while connections still run: the controller
        // moves leadership to other in-sync replicas, this broker applies that (its partitions
        // become followers), and produces waiting for acks=all are answered
        // NOT_LEADER_OR_FOLLOWER at once, so clients retry on the new leaders instead of
        // waiting out their timeouts here. Bounded (5 s each step).
        let topics = self.broker.topics.clone();
        let handed_over = tokio::task::spawn_blocking(move || {
            if topics.quorum().controlled_shutdown() {
                if let Err(e) = topics.catch_up(Duration::from_secs(5)) {
                    warn!(error = %e, "controlled shutdown: cannot apply the leadership moves");
                }
            }
        })
        .await;
        if let Err(e) = handed_over {
            warn!(error = %e, "controlled shutdown task failed");
        }
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(30), self.tracker.wait())
            .await
            .is_err()
        {
            warn!("some connections did not finish within 30 s; closing anyway");
        }
        let replicas = self.broker.replicas.clone();
        let topics = self.broker.topics.clone();
        let data_dirs = self.data_dirs;
        tokio::task::spawn_blocking(move || -> Result<(), BrokerError> {
            topics.quorum().shutdown();
            close_log_dirs(&replicas, &data_dirs)
        })
        .await
        .map_err(|e| BrokerError::Marker(std::io::Error::other(e.to_string())))??;
        info!("shutdown complete");
        Ok(())
    }
}

/// Lock every log directory of `log.dirs` and read its `meta.properties` (Kafka's
/// `MetaPropertiesEnsemble`): all must name the same cluster (and this node).
fn open_log_dirs(cfg: &BrokerConfig) -> Result<Vec<DataDir>, BrokerError> {
    let mut out: Vec<DataDir> = Vec::with_capacity(cfg.log_dirs.len());
    for path in &cfg.log_dirs {
        let d = DataDir::open(path, cfg.node_id)?;
        if let (Some(a), Some(first)) = (
            d.recorded_cluster_id(),
            out.iter().find(|o| o.recorded_cluster_id().is_some()),
        ) {
            if Some(a) != first.recorded_cluster_id() {
                return Err(MetaError::Mismatch {
                    path: d.path().join(crate::meta::META_FILE),
                    reason: format!(
                        "it records cluster.id={a} but {} records cluster.id={}",
                        first.path().display(),
                        first.cluster_id()
                    ),
                }
                .into());
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Every `replica.high.watermark.checkpoint.interval.ms`, write each log directory's
/// `replication-offset-checkpoint` (Kafka's `ReplicaManager.checkpointHighWatermarks`).
async fn hw_checkpoint_task(broker: Arc<Broker>, stop: CancellationToken) {
    let period = Duration::from_millis(
        broker
            .config
            .replica_high_watermark_checkpoint_interval_ms
            .max(1),
    );
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let replicas = broker.replicas.clone();
        match crate::replica::on_blocking_pool(move || replicas.write_hw_checkpoint()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "high watermark checkpoint not written"),
            Err(e) => tracing::debug!(error = %e, "high watermark checkpoint not written"),
        }
    }
}

/// Clean shutdown of the log directories: each online one flushes and fsyncs its logs and gets
/// its clean-shutdown marker; an offline or read-only one is left unmarked, so the next start
/// recovers its logs. Blocking.
fn close_log_dirs(replicas: &ReplicaManager, data_dirs: &[DataDir]) -> Result<(), BrokerError> {
    replicas.stop_moves(Duration::from_secs(10));
    if let Err(e) = replicas.write_hw_checkpoint() {
        warn!(error = %e, "high watermark checkpoint not written at shutdown");
    }
    for (dir, data_dir) in replicas.log_dirs().iter().zip(data_dirs) {
        if dir.is_offline() || dir.is_read_only() {
            // Nothing to flush that could be trusted (or written): no clean-shutdown marker.
            warn!(log_dir = %dir.path().display(), offline = dir.is_offline(),
                "log directory offline or read-only: logs not flushed, shutdown not marked clean");
            continue;
        }
        replicas.close_dir(dir).map_err(TopicError::Storage)?;
        data_dir
            .mark_clean_shutdown()
            .map_err(BrokerError::Marker)?;
    }
    Ok(())
}

/// Periodically applies retention and rolls segments that passed segment.ms.
async fn retention_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let replicas = broker.replicas.clone();
        let res = tokio::task::spawn_blocking(move || {
            for p in replicas.all() {
                match p.roll_and_retain(now_ms()) {
                    Ok(deleted) => {
                        for d in deleted {
                            info!(topic = %p.topic, partition = p.index, base_offset = d.base_offset,
                                size = d.size, reason = %d.reason, log_start_offset = p.log_start_offset(),
                                "deleted segment");
                        }
                    }
                    Err((e, what)) => {
                        error!(topic = %p.topic, partition = p.index, error = %e, "{what} failed");
                    }
                }
            }
        })
        .await;
        if let Err(e) = res {
            error!(error = %e, "retention task panicked");
        }
    }
}

/// Periodically fsyncs logs whose flush.ms has passed.
async fn flush_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let period = Duration::from_millis(broker.config.flush_scheduler_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let now = now_ms();
        for p in broker.replicas.all() {
            if p.flush_due(now) && !p.is_deleted() {
                if let Err(e) = sync_partition(&p).await {
                    error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed");
                }
            }
        }
    }
}

/// fsyncs closed segments after a log rolls, as Kafka flushes a rolled segment
/// asynchronously: off the append path (woken by the log directory, the fsync on a blocking
/// thread through the group commit, so a failure takes the directory offline), and the recovery
/// point moves only once the fsync succeeded. Recovery after a crash rescans only the last
/// segments, so the closed ones must be durable.
async fn segment_flush_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let dir = broker.replicas.log_dirs()[0].clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = dir.wait_for_roll() => {}
        }
        for p in broker.replicas.all() {
            let closed_end = p.active_segment_base();
            if p.flushed_offset() < closed_end && !p.is_deleted() {
                if let Err(e) = sync_partition_to(&p, closed_end).await {
                    error!(topic = %p.topic, partition = p.index, error = %e, "fsync of closed segments failed");
                }
            }
        }
    }
}

/// A log directory read-only because the disk was full at start takes writes again once space
/// frees: every [`LogDir::PROBE_INTERVAL`] it tries a small write ([`LogDir::try_resume`], on a
/// blocking thread, with the partitions in it). Returns once every directory is writable or
/// offline (neither state is entered again while the broker runs).
async fn read_only_probe_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    loop {
        let waiting: Vec<Arc<LogDir>> = broker
            .replicas
            .log_dirs()
            .iter()
            .filter(|d| d.is_read_only() && !d.is_offline())
            .cloned()
            .collect();
        if waiting.is_empty() {
            return;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LogDir::PROBE_INTERVAL) => {}
        }
        let replicas = broker.replicas.clone();
        let probed = tokio::task::spawn_blocking(move || {
            for dir in waiting {
                dir.try_resume(&replicas.partitions_in(&dir));
            }
        })
        .await;
        if let Err(e) = probed {
            error!(error = %e, "free-space probe task failed");
            return;
        }
    }
}

/// Drops idempotent producers idle for longer than `producer.id.expiration.ms` (once at start,
/// then every `producer.id.expiration.check.interval.ms`).
async fn producer_expiry_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let period = Duration::from_millis(broker.config.producer_id_expiration_check_interval_ms);
    let expiration = broker.config.producer_id_expiration_ms;
    loop {
        let now = now_ms();
        for p in broker.replicas.all() {
            let expired = p.expire_producers(now, expiration);
            if expired > 0 {
                info!(topic = %p.topic, partition = p.index, expired, "expired idle producer ids");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// Expires group members, pending joins and syncs that timed out (every 100 ms).
async fn group_tick_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        broker.groups.tick().await;
    }
}

/// Aborts transactions past their timeout, retries unfinished transaction completions and expires idle
/// transactional ids, every `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
async fn txn_tick_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let period = Duration::from_millis(broker.config.transaction_abort_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        broker.txn.tick().await;
    }
}

/// Removes committed offsets past `offsets.retention.minutes`, every
/// `offsets.retention.check.interval.ms`.
async fn offsets_expiry_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    let period = Duration::from_millis(broker.config.offsets_retention_check_interval_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        broker.groups.expire_offsets().await;
    }
}
