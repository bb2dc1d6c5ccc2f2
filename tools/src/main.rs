//! `minikafka-dump-log`: print the contents of Kafka-format segment files (`.log`, `.index`,
//! `.timeindex`, `.txnindex`) the way Kafka's `kafka-dump-log` does, through the `minikafka-storage` crate.
//!
//! ```text
//! minikafka-dump-log [--print-data] FILE...
//! ```
//! For a `.log` every batch is listed with its offsets, count, codec, timestamps and whether its
//! CRC is valid; `--print-data` also decodes each record (key, value, headers).

use std::path::Path;

use anyhow::{bail, Context, Result};
use minikafka_storage::batch::{self, BatchHeader};
use minikafka_storage::index::{read_index_file, OffsetEntry, TimeEntry};
use minikafka_storage::txn_index::{read_txn_index_file, ABORTED_TXN_VERSION};

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

fn main() -> Result<()> {
    let mut print_data = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--print-data" => print_data = true,
            "-h" | "--help" => {
                println!(
                    "usage: minikafka-dump-log [--print-data] FILE...  (.log, .index, .timeindex, .txnindex)"
                );
                return Ok(());
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        bail!("usage: minikafka-dump-log [--print-data] FILE...");
    }
    for f in files {
        let path = Path::new(&f);
        println!("Dumping {}", path.display());
        match path.extension().and_then(|e| e.to_str()) {
            Some("log") => dump_log(path, print_data)?,
            Some("index") => {
                let base = base_offset(path);
                for e in read_index_file::<OffsetEntry>(path)? {
                    println!(
                        "offset: {} position: {}",
                        base + i64::from(e.relative_offset),
                        e.position
                    );
                }
            }
            Some("timeindex") => {
                let base = base_offset(path);
                for e in read_index_file::<TimeEntry>(path)? {
                    println!(
                        "timestamp: {} offset: {}",
                        e.timestamp,
                        base + i64::from(e.relative_offset)
                    );
                }
            }
            Some("txnindex") => {
                let (entries, problem) = read_txn_index_file(path)?;
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
            _ => bail!(
                "{}: expected a .log, .index, .timeindex or .txnindex file",
                path.display()
            ),
        }
    }
    Ok(())
}
