//! The `minikafka` binary: parse the command line, build the configuration, run the broker
//! until SIGINT/SIGTERM, then shut down gracefully.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use minikafka::broker::RunningBroker;
use minikafka::config::ConfigBuilder;
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
    b.build().map_err(|e| e.to_string())
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
        let broker = match RunningBroker::start(config).await {
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
