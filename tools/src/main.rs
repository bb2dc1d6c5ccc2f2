//! `minikafka-dump-log`: print the contents of Kafka-format partition files (`.log`, `.index`,
//! `.timeindex`, `.txnindex` and producer-state `.snapshot`) the way Kafka's `kafka-dump-log`
//! (`DumpLogSegments`) does, through the `minikafka-storage` crate's own readers, so that what is
//! on disk can be inspected without a JVM.
//!
//! ```text
//! minikafka-dump-log [--print-data] FILE...
//! minikafka-dump-log --help | --version
//! ```
//! For a `.log` every batch is listed with its offsets, count, codec, timestamps and whether its
//! CRC is valid; `--print-data` also decodes each record (key, value, headers). For a `.snapshot`
//! every producer is listed with the fields Kafka's tool prints. A usage error exits with 2 and
//! clap's usage text; a file that cannot be read or decoded exits with 1 and one error line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use minikafka_storage::batch::{self, BatchHeader};
use minikafka_storage::index::{read_index_file, OffsetEntry, TimeEntry};
use minikafka_storage::producer_state::{decrement_sequence, read_snapshot};
use minikafka_storage::txn_index::{read_txn_index_file, ABORTED_TXN_VERSION};

/// Print Kafka-format partition files the way Kafka's kafka-dump-log does.
#[derive(Debug, Parser)]
#[command(name = "minikafka-dump-log", version)]
struct Cli {
    /// Also decode every record of a .log (key, value, headers).
    #[arg(long)]
    print_data: bool,
    /// Files to print: .log, .index, .timeindex, .txnindex or .snapshot.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

fn base_offset(path: &Path) -> i64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn dump_log(path: &Path, print_data: bool) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut position = 0usize;
    let mut bad = 0usize;
    for item in batch::iter_headers(&data) {
        let (pos, h) = item.with_context(|| format!("bad batch at position {position}"))?;
        position = pos + h.size();
        let bytes = &data[pos..pos + h.size()];
        let crc_ok = crc32c::crc32c(&bytes[21..]) == h.crc;
        if !crc_ok {
            bad += 1;
        }
        print_batch(pos, &h, crc_ok);
        if print_data {
            let (_, records) =
                batch::decode_records(bytes).with_context(|| format!("decoding batch at {pos}"))?;
            for r in records {
                let text = |b: &Option<bytes::Bytes>| {
                    b.as_ref()
                        .map_or("null".into(), |b| String::from_utf8_lossy(b).into_owned())
                };
                let headers: Vec<String> = r
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", text(v)))
                    .collect();
                println!(
                    "| offset: {} CreateTime: {} keySize: {} valueSize: {} headerKeys: [{}] key: {} payload: {}",
                    r.offset,
                    r.timestamp,
                    r.key.as_ref().map_or(-1, |k| k.len() as i64),
                    r.value.as_ref().map_or(-1, |v| v.len() as i64),
                    headers.join(","),
                    text(&r.key),
                    text(&r.value)
                );
            }
        }
    }
    if position < data.len() {
        println!(
            "Found {} invalid bytes at the end of {}",
            data.len() - position,
            path.display()
        );
    }
    if bad > 0 {
        bail!("{bad} batch(es) with an invalid CRC in {}", path.display());
    }
    Ok(())
}

fn print_batch(pos: usize, h: &BatchHeader, crc_ok: bool) {
    println!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} \
         partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {} CreateTime: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        if h.base_sequence < 0 { -1 } else { h.base_sequence + h.last_offset_delta },
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        pos,
        h.max_timestamp,
        h.size(),
        h.magic,
        h.compression().name(),
        h.crc,
        crc_ok
    );
}

/// Kafka's `DumpLogSegments` line for each producer of a `.snapshot` file: the last batch's
/// fields only when the producer has written one (a last offset >= 0), as Kafka reads it.
fn dump_snapshot(path: &Path) -> Result<()> {
    let entries = read_snapshot(path).with_context(|| format!("reading {}", path.display()))?;
    for e in entries {
        let txn_first = if e.current_txn_first_offset >= 0 {
            format!("OptionalLong[{}]", e.current_txn_first_offset)
        } else {
            "OptionalLong.empty".to_string()
        };
        let mut line = format!(
            "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {txn_first} \
             lastTimestamp: {}",
            e.producer_id, e.producer_epoch, e.coordinator_epoch, e.last_timestamp
        );
        if e.last_offset >= 0 {
            line.push_str(&format!(
                " firstSequence: {} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {}",
                decrement_sequence(e.last_sequence, e.offset_delta),
                e.last_sequence,
                e.last_offset,
                e.offset_delta,
                e.last_timestamp
            ));
        }
        println!("{line}");
    }
    Ok(())
}

fn dump_file(path: &Path, print_data: bool) -> Result<()> {
    println!("Dumping {}", path.display());
    match path.extension().and_then(|e| e.to_str()) {
        Some("log") => dump_log(path, print_data)?,
        Some("index") => {
            let base = base_offset(path);
            for e in read_index_file::<OffsetEntry>(path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                println!(
                    "offset: {} position: {}",
                    base + i64::from(e.relative_offset),
                    e.position
                );
            }
        }
        Some("timeindex") => {
            let base = base_offset(path);
            for e in read_index_file::<TimeEntry>(path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                println!(
                    "timestamp: {} offset: {}",
                    e.timestamp,
                    base + i64::from(e.relative_offset)
                );
            }
        }
        Some("txnindex") => {
            let (entries, problem) =
                read_txn_index_file(path).with_context(|| format!("reading {}", path.display()))?;
            for e in entries {
                println!(
                    "version: {ABORTED_TXN_VERSION} producerId: {} firstOffset: {} lastOffset: {} \
                     lastStableOffset: {}",
                    e.producer_id, e.first_offset, e.last_offset, e.last_stable_offset
                );
            }
            if let Some(p) = problem {
                bail!("{}: {p}", path.display());
            }
        }
        Some("snapshot") => dump_snapshot(path)?,
        _ => bail!(
            "{}: expected a .log, .index, .timeindex, .txnindex or .snapshot file",
            path.display()
        ),
    }
    Ok(())
}

fn main() -> ExitCode {
    // Usage errors, --help and --version: clap prints them and exits (2 for an error, 0 otherwise).
    let cli = Cli::parse();
    for f in &cli.files {
        if let Err(e) = dump_file(f, cli.print_data) {
            // One line, whatever RUST_BACKTRACE says (anyhow's Debug output would add a backtrace).
            eprintln!("minikafka-dump-log: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
