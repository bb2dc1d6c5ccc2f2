//! Kafka's zig-zag variable-length integers (`ByteUtils.readVarint`/`readVarlong`) and a bounds-checked byte
//! reader for record parsing.
//!
//! Every "varint" in the v2 record format is zig-zag encoded, including lengths (so `-1`, meaning null, is one byte
//! `0x01`). An `int` varint has at most 5 bytes, a `long` varlong at most 10.

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
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| invalid("unexpected end inside a varint"))?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid("varint is too long"))
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

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
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
