//! The `minikafka` binary: parse the command line, build the configuration, run the broker
//! until SIGINT/SIGTERM, then shut down gracefully.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use minikafka::config::ConfigBuilder;
use minikafka::node::RunningNode;
use tracing_subscriber::EnvFilter;

/// A Kafka-wire-protocol-compatible message broker.
///
/// With no arguments it listens on localhost:9092 (127.0.0.1 and ::1) and keeps its data in
/// ./data. Settings use Kafka's own broker property names (see config/broker.toml).
#[derive(Debug, Parser)]
#[command(name = "minikafka", version)]
struct Cli {
    /// TOML config file (Kafka property names as dotted keys).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listeners (`listeners`): HOST:PORT, or NAME://HOST:PORT,... (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Endpoints advertised to clients (`advertised.listeners`): HOST:PORT, or NAME://HOST:PORT,...
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This broker's node id.
    #[arg(long, value_name = "N")]
    node_id: Option<i32>,
    /// Set a Kafka broker property, e.g. --set num.partitions=4 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// A SCRAM user created at start unless the metadata log has a credential of that mechanism
    /// for them, e.g. --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]' (the syntax
    /// of kafka-storage format --add-scram; repeatable).
    #[arg(long = "add-scram", value_name = "MECHANISM=[name=..,password=..]")]
    add_scram: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make development TLS certificates in DIR: a CA, a broker certificate (localhost,
    /// 127.0.0.1, this host's name), a client certificate, PEM and PKCS12 stores, client
    /// property files (librdkafka/kcat, Java) and the broker settings to use them.
    DevCerts {
        /// Where to write them (created if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Run a local cluster in this process: NODES nodes in both roles, brokers on consecutive
    /// ports from --port (localhost), their controllers on the next NODES ports (127.0.0.1), data
    /// under --data-dir/node-N. Ctrl-C stops them all. --set applies to every node.
    DevCluster {
        /// How many nodes (1 to 9).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=9))]
        nodes: u16,
        /// The first broker port.
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Where the nodes keep their data (one folder each).
        #[arg(long, value_name = "DIR", default_value = "data-cluster")]
        data_dir: PathBuf,
        /// Set a Kafka broker property on every node (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
}

/// The configuration of node `id` (1-based) of a `dev-cluster` of `nodes` nodes.
fn dev_cluster_config(
    id: u16,
    nodes: u16,
    port: u16,
    data_dir: &std::path::Path,
    set: &[String],
) -> Result<minikafka::config::BrokerConfig, String> {
    let broker_port = |n: u16| port.checked_add(n - 1);
    let controller_port = |n: u16| port.checked_add(nodes + n - 1);
    let too_high = || format!("--port {port} leaves no room for {nodes} nodes");
    let voters = (1..=nodes)
        .map(|n| {
            controller_port(n)
                .map(|c| format!("{n}@127.0.0.1:{c}"))
                .ok_or_else(too_high)
        })
        .collect::<Result<Vec<_>, _>>()?
        .join(",");
    let mut b = ConfigBuilder::default();
    let settings = [
        ("process.roles", "broker,controller".to_string()),
        ("node.id", id.to_string()),
        (
            "listeners",
            format!(
                "PLAINTEXT://localhost:{},CONTROLLER://127.0.0.1:{}",
                broker_port(id).ok_or_else(too_high)?,
                controller_port(id).ok_or_else(too_high)?
            ),
        ),
        ("controller.listener.names", "CONTROLLER".to_string()),
        ("controller.quorum.voters", voters),
        (
            "log.dirs",
            data_dir.join(format!("node-{id}")).display().to_string(),
        ),
    ];
    for (name, value) in settings {
        b.set(name, &value).map_err(|e| e.to_string())?;
    }
    for pair in set {
        b.set_pair(pair).map_err(|e| e.to_string())?;
    }
    b.build().map_err(|e| e.to_string())
}

/// `minikafka dev-cluster`: start every node at once (each waits for a controller quorum, which
/// needs a majority), serve until a signal, then stop them all.
async fn dev_cluster(configs: Vec<minikafka::config::BrokerConfig>) -> ExitCode {
    let starts: Vec<_> = configs
        .into_iter()
        .map(|c| tokio::spawn(RunningNode::start(c)))
        .collect();
    let mut running = Vec::new();
    let mut failed = false;
    for (i, s) in starts.into_iter().enumerate() {
        match s.await {
            Ok(Ok(b)) => running.push(b),
            Ok(Err(e)) => {
                eprintln!("minikafka: node {} cannot start: {e}", i + 1);
                failed = true;
            }
            Err(e) => {
                eprintln!("minikafka: node {} cannot start: {e}", i + 1);
                failed = true;
            }
        }
    }
    if !failed {
        let addrs: Vec<String> = running.iter().map(|b| b.local_addr().to_string()).collect();
        tracing::info!(
            nodes = running.len(),
            bootstrap = %addrs.join(","),
            "dev cluster running; Ctrl-C stops every node"
        );
        wait_for_signal().await;
    }
    let stops: Vec<_> = running
        .into_iter()
        .map(|b| tokio::spawn(b.shutdown()))
        .collect();
    for s in stops {
        if let Ok(Err(e)) = s.await {
            tracing::error!("shutdown failed: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn build_config(cli: &Cli) -> Result<minikafka::config::BrokerConfig, String> {
    let mut b = ConfigBuilder::default();
    if let Some(path) = &cli.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        b.apply_toml(&text, &path.display().to_string())
            .map_err(|e| e.to_string())?;
    }
    let flags = [
        ("listeners", cli.listen.clone()),
        ("advertised.listeners", cli.advertise.clone()),
        (
            "log.dirs",
            cli.data_dir.as_ref().map(|d| d.display().to_string()),
        ),
        ("node.id", cli.node_id.map(|n| n.to_string())),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            b.set(name, &v).map_err(|e| e.to_string())?;
        }
    }
    for pair in &cli.set {
        b.set_pair(pair).map_err(|e| e.to_string())?;
    }
    let mut config = b.build().map_err(|e| e.to_string())?;
    for text in &cli.add_scram {
        config
            .add_scram
            .push(minikafka::sasl::scram::BootstrapScram::parse(text)?);
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            // openraft narrates every vote and start-up step at INFO; the controller logs the
            // events an operator needs (quorum ready, leader changes) itself.
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn")),
        )
        .init();
    if let Some(Command::DevCerts { dir }) = &cli.command {
        return match minikafka::dev_certs::make(dir) {
            Ok(made) => {
                print!("{}", minikafka::dev_certs::report(&made));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("minikafka dev-certs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::DevCluster {
        nodes,
        port,
        data_dir,
        set,
    }) = &cli.command
    {
        let configs = (1..=*nodes)
            .map(|id| dev_cluster_config(id, *nodes, *port, data_dir, set))
            .collect::<Result<Vec<_>, _>>();
        let configs = match configs {
            Ok(c) => c,
            Err(e) => {
                eprintln!("minikafka: configuration error: {e}");
                return ExitCode::from(2);
            }
        };
        return match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(dev_cluster(configs)),
            Err(e) => {
                eprintln!("minikafka: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match build_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("minikafka: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("minikafka: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let broker = match RunningNode::start(config).await {
            Ok(b) => b,
            Err(e) => {
                // Once, on stderr (where the log goes too), whatever RUST_LOG filters.
                eprintln!("minikafka: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        match broker.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("shutdown failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
