//! Record-batch compression codecs (attributes bits 0–2), used only off the produce/fetch path: building batches
//! for tests and tools, and decoding records for timestamp lookups. Stored batches are never recompressed.
//!
//! * gzip: a gzip stream (`flate2`); concatenated members are accepted on decode.
//! * snappy: Java clients write the xerial `SnappyOutputStream` framing (magic `\x82SNAPPY\0`, two big-endian
//!   version ints, then `[len: i32][raw snappy block]`*); librdkafka may write one raw snappy block. Both decode;
//!   [`compress`] writes the xerial framing so Java consumers can read it.
//! * lz4: the LZ4 frame format with independent 64 KiB blocks (`lz4_flex`), as Kafka's `Lz4BlockOutputStream`.
//! * zstd: a zstd frame (`zstd`).

use std::io::{Read, Write};

use crate::error::{Result, StorageError};

/// Compression codec of a record batch (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Uncompressed (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// lz4 (3).
    Lz4,
    /// zstd (4).
    Zstd,
}

impl Compression {
    /// The codec id stored in attributes bits 0–2.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an id from attributes bits 0–2; `None` for the undefined ids 5–7.
    pub fn from_id(id: u8) -> Option<Compression> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's name for the codec (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
const XERIAL_HEADER_LEN: usize = 16;
/// Block size of xerial's `SnappyOutputStream` default.
const XERIAL_BLOCK: usize = 32 * 1024;

fn corrupt(codec: Compression, e: impl std::fmt::Display) -> StorageError {
    StorageError::CorruptMessage(format!("cannot decompress {} batch: {e}", codec.name()))
}

/// Compress `data` with `codec` (the identity for [`Compression::None`]).
pub(crate) fn compress(codec: Compression, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data)?;
            enc.finish()
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(data.len() / 2 + XERIAL_HEADER_LEN);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(std::io::Error::other)?;
                let len = i32::try_from(block.len()).map_err(std::io::Error::other)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data)?;
            enc.finish().map_err(std::io::Error::other)
        }
        Compression::Zstd => zstd::bulk::compress(data, 3),
    }
}

/// Decompress a batch payload; failures are [`StorageError::CorruptMessage`].
pub(crate) fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match codec {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(codec, e))?;
        }
        Compression::Snappy => out = snappy_decompress(data)?,
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(codec, e))?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(data)
                .and_then(|mut d| d.read_to_end(&mut out))
                .map_err(|e| corrupt(codec, e))?;
        }
    }
    Ok(out)
}

fn snappy_decompress(data: &[u8]) -> Result<Vec<u8>> {
    let codec = Compression::Snappy;
    let mut dec = snap::raw::Decoder::new();
    if data.len() < XERIAL_HEADER_LEN || &data[..8] != XERIAL_MAGIC {
        return dec.decompress_vec(data).map_err(|e| corrupt(codec, e));
    }
    let mut out = Vec::new();
    let mut rest = &data[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(codec, "truncated xerial block length"));
        };
        let len = usize::try_from(i32::from_be_bytes(*len))
            .map_err(|_| corrupt(codec, "negative block length"))?;
        if len > tail.len() {
            return Err(corrupt(codec, "truncated xerial block"));
        }
        let (block, tail) = tail.split_at(len);
        let n = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
        let start = out.len();
        out.resize(start + n, 0);
        dec.decompress(block, &mut out[start..])
            .map_err(|e| corrupt(codec, e))?;
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn round_trip_all_codecs() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in ALL {
            let c = compress(codec, &data).unwrap();
            assert_eq!(decompress(codec, &c).unwrap(), data, "{codec:?}");
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
        }
        assert_eq!(Compression::from_id(5), None);
    }

    #[test]
    fn snappy_raw_and_xerial_both_decode() {
        let data = b"hello hello hello hello snappy".repeat(100);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw).unwrap(), data);
        let framed = compress(Compression::Snappy, &data).unwrap();
        assert_eq!(&framed[..8], XERIAL_MAGIC);
        assert_eq!(decompress(Compression::Snappy, &framed).unwrap(), data);
    }

    #[test]
    fn garbage_is_corrupt_message() {
        for codec in &ALL[1..] {
            let err = decompress(*codec, b"definitely not compressed data").unwrap_err();
            assert!(
                matches!(err, StorageError::CorruptMessage(_)),
                "{codec:?}: {err}"
            );
        }
    }
}
