//! Kafka's zig-zag variable-length integers (`ByteUtils.readVarint`/`readVarlong`) and a bounds-checked byte
//! reader for record parsing, and Kafka's unsigned varints (`ByteUtils.readUnsignedVarint`/`writeUnsignedVarint`).
//!
//! Every "varint" in the v2 record format is zig-zag encoded, including lengths (so `-1`, meaning null, is one byte
//! `0x01`). An `int` varint has at most 5 bytes, a `long` varlong at most 10.
//!
//! The flexible versions of Kafka's message schemas (compact strings, bytes and arrays, tagged fields) use unsigned
//! varints instead, without zig-zag: [`put_unsigned_varint`] and [`read_unsigned_varint`] are the one
//! implementation the broker uses for them (the coordinators' record codec, the zero-copy fetch path).
//!
//! ```
//! use minikafka_storage::batch::{put_unsigned_varint, read_unsigned_varint};
//! let mut out = Vec::new();
//! put_unsigned_varint(&mut out, 300);
//! assert_eq!(out, [0xac, 0x02]);
//! assert_eq!(read_unsigned_varint(&out), Ok((300, 2)));
//! ```

use bytes::BufMut;

use crate::error::{Result, StorageError};

/// Bounds-checked cursor over a byte slice; every failure is a [`StorageError::InvalidRecord`].
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn invalid(what: &str) -> StorageError {
    StorageError::InvalidRecord(format!("malformed record: {what}"))
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Current position from the start of the buffer.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Read one signed byte.
    pub(crate) fn i8(&mut self) -> Result<i8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| invalid("unexpected end reading a byte"))?;
        self.pos += 1;
        Ok(i8::from_ne_bytes([b]))
    }

    /// Read `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(invalid("length runs past the end of the record"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn unsigned(&mut self, max_bytes: usize) -> Result<u64> {
        let (value, used) =
            decode_unsigned(&self.buf[self.pos..], max_bytes).map_err(|e| match e {
                UnsignedVarintError::Truncated => invalid("unexpected end inside a varint"),
                UnsignedVarintError::TooLong => invalid("varint is too long"),
            })?;
        self.pos += used;
        Ok(value)
    }

    /// Read a zig-zag varint (at most 5 bytes) as `i32`.
    pub(crate) fn varint(&mut self) -> Result<i32> {
        let raw = self.unsigned(5)?;
        let raw = u32::try_from(raw).map_err(|_| invalid("varint overflows 32 bits"))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Read a zig-zag varlong (at most 10 bytes) as `i64`.
    pub(crate) fn varlong(&mut self) -> Result<i64> {
        let raw = self.unsigned(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Read a varint length followed by that many bytes; a negative length means null.
    pub(crate) fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        // `len` is non-negative here, so the conversion is lossless.
        self.bytes(len as usize).map(Some)
    }
}

/// Append `v` as a zig-zag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Append `v` as a zig-zag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_unsigned(out: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Why [`read_unsigned_varint`] could not read an unsigned varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsignedVarintError {
    /// The input ended before the varint's last byte.
    Truncated,
    /// More than 5 bytes, or a value above `u32::MAX` (Kafka's `readUnsignedVarint` refuses both).
    TooLong,
}

/// Reads the little-endian base-128 groups of an unsigned varint of at most `max_bytes` bytes off the front of
/// `buf`: the value and the bytes it took.
fn decode_unsigned(
    buf: &[u8],
    max_bytes: usize,
) -> std::result::Result<(u64, usize), UnsignedVarintError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(i).ok_or(UnsignedVarintError::Truncated)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(UnsignedVarintError::TooLong)
}

/// Reads an unsigned varint (Kafka's `ByteUtils.readUnsignedVarint`: at most 5 bytes, no zig-zag) off the front
/// of `buf`; returns the value and the number of bytes it took. A value above `u32::MAX` is
/// [`UnsignedVarintError::TooLong`].
pub fn read_unsigned_varint(buf: &[u8]) -> std::result::Result<(u32, usize), UnsignedVarintError> {
    let (value, used) = decode_unsigned(buf, 5)?;
    let value = u32::try_from(value).map_err(|_| UnsignedVarintError::TooLong)?;
    Ok((value, used))
}

/// Appends `v` as an unsigned varint (Kafka's `ByteUtils.writeUnsignedVarint`: 1 to 5 bytes, no zig-zag).
pub fn put_unsigned_varint(out: &mut impl BufMut, v: u32) {
    put_unsigned(out, u64::from(v));
}

/// Append a nullable byte string as varint length (`-1` for null) + bytes.
pub(crate) fn put_nullable_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, varint_len_of(b.len()));
            out.extend_from_slice(b);
        }
    }
}

/// A length as the `i32` the format stores. Lengths come from in-memory buffers, which this crate never lets grow
/// past `i32::MAX` in one record (a batch is at most `max.message.bytes`); saturating keeps this total anyway.
fn varint_len_of(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // Values from Kafka's ByteUtilsTest.
        let mut out = Vec::new();
        put_varint(&mut out, 0);
        put_varint(&mut out, -1);
        put_varint(&mut out, 1);
        put_varint(&mut out, 63);
        put_varint(&mut out, -64);
        put_varint(&mut out, 64);
        assert_eq!(out, [0x00, 0x01, 0x02, 0x7e, 0x7f, 0x80, 0x01]);
        let mut r = Reader::new(&out);
        for v in [0, -1, 1, 63, -64, 64] {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .varint()
            .is_err());
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varlong().is_err());
        assert!(Reader::new(&[0x04, 1]).nullable_bytes().is_err());
    }

    #[test]
    fn unsigned_known_encodings_and_malformed_input() {
        // Values from Kafka's ByteUtilsTest.testUnsignedVarintSerde.
        for (v, bytes) in [
            (0u32, &[0x00][..]),
            (0x7f, &[0x7f]),
            (0x80, &[0x80, 0x01]),
            (0x3fff, &[0xff, 0x7f]),
            (0x4000, &[0x80, 0x80, 0x01]),
            (u32::MAX, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            put_unsigned_varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(read_unsigned_varint(bytes), Ok((v, bytes.len())));
        }
        assert_eq!(
            read_unsigned_varint(&[]),
            Err(UnsignedVarintError::Truncated)
        );
        assert_eq!(
            read_unsigned_varint(&[0x80, 0x80]),
            Err(UnsignedVarintError::Truncated)
        );
        // Above u32::MAX in five bytes, and six bytes.
        assert_eq!(
            read_unsigned_varint(&[0xff, 0xff, 0xff, 0xff, 0x10]),
            Err(UnsignedVarintError::TooLong)
        );
        assert_eq!(
            read_unsigned_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(UnsignedVarintError::TooLong)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn unsigned_varint_round_trip(v in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            put_unsigned_varint(&mut out, v);
            let used = out.len();
            out.extend_from_slice(&tail);
            prop_assert_eq!(read_unsigned_varint(&out), Ok((v, used)));
        }

        #[test]
        fn varint_round_trip(a in any::<i32>(), b in any::<i64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, a);
            put_varlong(&mut out, b);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.varint().unwrap(), a);
            prop_assert_eq!(r.varlong().unwrap(), b);
            prop_assert_eq!(r.remaining(), 0);
        }
    }
}
