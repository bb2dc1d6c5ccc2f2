//! Record-batch compression codecs (attributes bits 0–2): compressing for the batch builder and for a topic's
//! `compression.type` ([`super::recompress`]), at Kafka's KIP-390 levels ([`Compression::default_level`]), and
//! bounded streaming decoders ([`decoder`], at most [`decompressed_limit`] bytes per batch) for everything that
//! reads records ([`super::stream`]).
//!
//! * gzip: a gzip stream (`flate2`) at `compression.gzip.level` (1–9, or -1 for zlib's default, 6, as Java's
//!   `Deflater.DEFAULT_COMPRESSION`); concatenated members are accepted on decode.
//! * snappy: Java clients write the xerial `SnappyOutputStream` framing (magic `\x82SNAPPY\0`, two big-endian
//!   version ints, then `[len: i32][raw snappy block]`*); librdkafka may write one raw snappy block. Both decode;
//!   [`compress`] writes the xerial framing so Java consumers can read it.
//! * lz4: the LZ4 frame format with independent 64 KiB blocks (`lz4_flex`), as Kafka's `Lz4BlockOutputStream`.
//!   `compression.lz4.level` (1–17) is accepted and validated but not applied: `lz4_flex` has only LZ4's fast
//!   compressor. That is what Kafka uses at its default level 9 (`Lz4BlockOutputStream` picks the fast compressor
//!   for the default and LZ4-HC for any other level), so only a non-default level differs from Kafka: Kafka's
//!   LZ4-HC batches would be smaller and slower to write.
//! * zstd: a zstd frame (`zstd`) at `compression.zstd.level` (-131072–22, default 3).

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
    /// Every codec, uncompressed first (in id order).
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

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

    /// Kafka's default compression level of the codec (KIP-390; `CompressionType.defaultLevel()`): gzip -1
    /// (zlib's default), lz4 9, zstd 3; 0 for the codecs without levels.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Gzip => -1,
            Compression::Lz4 => 9,
            Compression::Zstd => 3,
            Compression::None | Compression::Snappy => 0,
        }
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

/// Compress `data` with `codec` at its default level (the identity for [`Compression::None`]).
pub(crate) fn compress(codec: Compression, data: &[u8]) -> std::io::Result<Vec<u8>> {
    compress_with_level(codec, codec.default_level(), data)
}

/// Compress `data` with `codec` at `level` (see the module doc for what each codec does with it; codecs without
/// levels ignore it). The caller has checked the level against Kafka's bounds; gzip clamps to 0–9 anyway.
pub(crate) fn compress_with_level(
    codec: Compression,
    level: i32,
    data: &[u8],
) -> std::io::Result<Vec<u8>> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let level = u32::try_from(level.clamp(-1, 9))
                .map_or_else(|_| flate2::Compression::default(), flate2::Compression::new);
            let mut enc =
                flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
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
        Compression::Zstd => zstd::bulk::compress(data, level),
    }
}

/// Decompressed bytes any one batch may expand to when no topic limit is at hand (tools, coordinator replay), and
/// the floor of [`decompressed_limit`]: 64 MiB.
pub const DEFAULT_DECOMPRESSED_LIMIT: usize = 64 << 20;

/// How many times `max.message.bytes` the records of one compressed batch may expand to (above the floor).
pub const DECOMPRESSED_LIMIT_FACTOR: usize = 16;

/// The decompressed-size limit of one batch in a log whose `max.message.bytes` is `max_message_bytes`:
/// `max(64 MiB, 16 × max.message.bytes)`, i.e. 64 MiB with Kafka's default of 1 MiB.
///
/// Kafka bounds a batch's compressed size by `max.message.bytes` and its producers bound each batch's
/// uncompressed size (librdkafka's `batch.size`, the Java producer's `max.request.size`), but the broker itself
/// does not cap the expansion; a fixed multiple keeps every legitimate batch (ratios above 16 need more than
/// 64 MiB of records to matter) and refuses a compression bomb before it costs more than that much work.
/// Memory stays lower still: produce validation streams the records, holding one record at a time.
pub fn decompressed_limit(max_message_bytes: u32) -> usize {
    DEFAULT_DECOMPRESSED_LIMIT
        .max((max_message_bytes as usize).saturating_mul(DECOMPRESSED_LIMIT_FACTOR))
}

/// The error for a payload that expands beyond `limit` bytes.
pub(crate) fn too_large(codec: Compression, limit: usize) -> StorageError {
    StorageError::CorruptMessage(format!(
        "{} batch decompresses to more than the limit of {limit} bytes",
        codec.name()
    ))
}

/// A reader that yields at most `left` bytes of `inner` and remembers if `inner` had more (a bomb).
pub(crate) struct Limited<R> {
    inner: R,
    left: usize,
    /// `inner` produced more than the limit.
    pub(crate) exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed size limit exceeded"));
        }
        let max = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..max]).inspect_err(|e| {
            self.exceeded |= e.get_ref().is_some_and(|e| e.is::<LimitExceeded>());
        })?;
        self.left -= n;
        Ok(n)
    }
}

/// The error a decoder that knows its output size up front (snappy) returns instead of producing a bomb.
#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

/// A streaming decoder of a batch payload compressed with `codec`, yielding at most `limit` bytes (reading past
/// them is an error with [`Limited::exceeded`] set). Decoders hold bounded state: gzip a 32 KiB window, lz4 one
/// block of at most 4 MiB, snappy one block (its announced length is checked against the limit before any
/// allocation), zstd its frame's window (at most 128 MiB, the library's default cap).
pub(crate) fn decoder<'a>(
    codec: Compression,
    data: &'a [u8],
    limit: usize,
) -> Result<Limited<Box<dyn Read + 'a>>> {
    let inner: Box<dyn Read + 'a> = match codec {
        Compression::None => Box::new(data),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        Compression::Snappy => Box::new(SnappyReader::new(data, limit)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt(codec, e))?)
        }
    };
    Ok(Limited {
        inner,
        left: limit,
        exceeded: false,
    })
}

/// Decompress a whole batch payload into memory, refusing (with [`StorageError::CorruptMessage`]) one that expands
/// beyond `limit` bytes; other failures are [`StorageError::CorruptMessage`] too. For the log cleaner, which keeps
/// records of one batch across the rewrite; everything else streams ([`super::stream`]).
pub(crate) fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut d = decoder(codec, data, limit)?;
    if let Err(e) = d.read_to_end(&mut out) {
        return Err(if d.exceeded {
            too_large(codec, limit)
        } else {
            corrupt(codec, e)
        });
    }
    Ok(out)
}

/// Snappy as a stream: one raw block (librdkafka) or the xerial framing (Java), one block in memory at a time.
struct SnappyReader<'a> {
    rest: &'a [u8],
    xerial: bool,
    block: Vec<u8>,
    pos: usize,
    left: usize,
    dec: snap::raw::Decoder,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8], limit: usize) -> Self {
        let xerial = data.len() >= XERIAL_HEADER_LEN && &data[..8] == XERIAL_MAGIC;
        SnappyReader {
            rest: if xerial {
                &data[XERIAL_HEADER_LEN..]
            } else {
                data
            },
            xerial,
            block: Vec::new(),
            pos: 0,
            left: limit,
            dec: snap::raw::Decoder::new(),
        }
    }

    /// Decompress the next block into `self.block`; `false` at the end.
    fn next_block(&mut self) -> std::io::Result<bool> {
        let err = std::io::Error::other;
        if self.rest.is_empty() {
            return Ok(false);
        }
        let block = if self.xerial {
            let Some((len, tail)) = self.rest.split_first_chunk::<4>() else {
                return Err(err("truncated xerial block length"));
            };
            let len = usize::try_from(i32::from_be_bytes(*len))
                .map_err(|_| err("negative xerial block length"))?;
            if len > tail.len() {
                return Err(err("truncated xerial block"));
            }
            let (block, tail) = tail.split_at(len);
            self.rest = tail;
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let n = snap::raw::decompress_len(block).map_err(std::io::Error::other)?;
        if n > self.left {
            return Err(std::io::Error::other(LimitExceeded));
        }
        self.left -= n;
        self.block.resize(n, 0);
        self.dec
            .decompress(block, &mut self.block)
            .map_err(std::io::Error::other)?;
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Test helper (bomb tests, fuzz seeds): a zstd frame that decodes to `prefix` followed by `fill_len` copies of
/// `fill`, built by hand from one raw block and run-length blocks of 128 KiB, so it costs about 4 bytes per
/// 128 KiB of output and no compression work. `prefix` must be at most 128 KiB.
#[doc(hidden)]
pub fn zstd_rle_frame(prefix: &[u8], fill: u8, fill_len: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    fn block_header(out: &mut Vec<u8>, last: bool, kind: u32, size: u64) {
        // Block_Header: bit 0 Last_Block, bits 1-2 Block_Type (0 raw, 1 RLE), bits 3-23 Block_Size.
        let v = u32::from(last) | (kind << 1) | ((size as u32) << 3);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    }
    // Magic, Frame_Header_Descriptor 0 (no content size, no checksum, not single-segment), Window_Descriptor
    // 0x38 (2^17 = 128 KiB).
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    block_header(&mut out, fill_len == 0, 0, prefix.len() as u64);
    out.extend_from_slice(prefix);
    let mut left = fill_len;
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        block_header(&mut out, left == 0, 1, n);
        out.push(fill);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = Compression::ALL;

    #[test]
    fn round_trip_all_codecs() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for codec in ALL {
            let c = compress(codec, &data).unwrap();
            assert_eq!(decompress(codec, &c, 1 << 30).unwrap(), data, "{codec:?}");
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
        }
        assert_eq!(Compression::from_id(5), None);
    }

    #[test]
    fn snappy_raw_and_xerial_both_decode() {
        let data = b"hello hello hello hello snappy".repeat(100);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20).unwrap(),
            data
        );
        let framed = compress(Compression::Snappy, &data).unwrap();
        assert_eq!(&framed[..8], XERIAL_MAGIC);
        assert_eq!(
            decompress(Compression::Snappy, &framed, 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn garbage_is_corrupt_message() {
        for codec in &ALL[1..] {
            let err = decompress(*codec, b"definitely not compressed data", 1 << 20).unwrap_err();
            assert!(
                matches!(err, StorageError::CorruptMessage(_)),
                "{codec:?}: {err}"
            );
        }
    }
}
