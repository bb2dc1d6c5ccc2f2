//! Kafka's primitive types as the coordinators' record schemas use them, read and written in one
//! place: `group::records` (`__consumer_offsets`) and `txn::records` (`__transaction_state`).
//!
//! Why this exists: Kafka stores coordinator state as records whose keys and values are
//! generated message structs (`OffsetCommitValue`, `TransactionLogValue`, …). The
//! `kafka-protocol` crate holds none of these schemas, and its field codecs
//! (`protocol::types::{String, CompactString, …}` through the `Encoder`/`Decoder` traits) are
//! crate-private, so the schemas are written by hand on top of the primitives here:
//!
//! | primitive                     | classic versions         | flexible versions                   |
//! |-------------------------------|--------------------------|-------------------------------------|
//! | int8/16/32/64, uuid           | big-endian, fixed size   | same                                |
//! | string (`wide` false)         | int16 length, -1 = null  | unsigned varint of length + 1, 0 = null |
//! | bytes, array count (`wide`)   | int32 length, -1 = null  | unsigned varint of length + 1, 0 = null |
//! | tagged-field section          | (none)                   | count, then (tag, size, data) each unsigned varint + bytes |
//!
//! The unsigned varints are the storage crate's ([`minikafka_storage::batch::read_unsigned_varint`],
//! [`put_unsigned_varint`]), the broker's one implementation of them.
//!
//! [`Reader`] checks every length against the bytes left before reading: truncated input,
//! negative or oversized lengths, invalid UTF-8, a null in a non-nullable field and an overlong
//! varint are each a [`RecordError`], never a panic, and a count read from the input never
//! sizes an allocation beyond what the input can hold. Strings longer than 32767 bytes are
//! refused both ways, as Kafka's generated readers and writers do.
//!
//! ```ignore
//! let mut w = Writer::default();
//! w.i16(1);
//! w.string("group", false, "group")?;
//! let bytes = w.finish();
//! let mut r = Reader::new(&bytes);
//! assert_eq!(r.i16("type")?, 1);
//! assert_eq!(r.string(false, "group")?, "group");
//! ```

use bytes::{BufMut, Bytes};
use minikafka_storage::batch::{put_unsigned_varint, read_unsigned_varint, UnsignedVarintError};
use uuid::Uuid;

/// Longest string Kafka's generated readers and writers accept, compact or not.
pub(crate) const MAX_STRING_LEN: usize = 0x7fff;

/// Why a coordinator record key or value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// The input ended inside a field.
    #[error("{field}: record truncated")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length or count prefix is negative (other than the null marker) or too large.
    #[error("{field}: invalid length {len}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length as read.
        len: i64,
    },
    /// A null where the schema does not allow one.
    #[error("{field}: null in a non-nullable field")]
    UnexpectedNull {
        /// The field being read.
        field: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("{field}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// An unsigned varint longer than 5 bytes or above `u32::MAX`.
    #[error("{field}: invalid unsigned varint")]
    InvalidVarint {
        /// The field being read.
        field: &'static str,
    },
    /// A value version this broker does not know (Kafka's `UnknownRecordVersionException`).
    #[error("{schema}: unknown version {version} (known 0..={max})")]
    UnknownVersion {
        /// The value schema.
        schema: &'static str,
        /// The version read.
        version: i16,
        /// The highest known version.
        max: i16,
    },
    /// A tagged field whose size does not match its type.
    #[error("{field}: tagged field of {size} bytes, expected {expected}")]
    InvalidTaggedField {
        /// The field being read.
        field: &'static str,
        /// The size as read.
        size: usize,
        /// The size of the field's type.
        expected: usize,
    },
    /// A field too long for its length prefix (strings: 32767 bytes, as in Kafka).
    #[error("{field}: {len} bytes do not fit the field")]
    TooLong {
        /// The field being written.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// [`crate::group::records::RecordKey::Other`] names a record type that cannot be encoded.
    #[error("record type {0} cannot be encoded here")]
    NotEncodable(i16),
}

/// `Ok` when `version` is in `0..=max`, else [`RecordError::UnknownVersion`] of `schema`.
pub(crate) fn check_version(
    schema: &'static str,
    version: i16,
    max: i16,
) -> Result<(), RecordError> {
    if (0..=max).contains(&version) {
        Ok(())
    } else {
        Err(RecordError::UnknownVersion {
            schema,
            version,
            max,
        })
    }
}

/// The content of a known tagged field, which must have exactly its type's size `N`.
pub(crate) fn exact<const N: usize>(
    data: &[u8],
    field: &'static str,
) -> Result<[u8; N], RecordError> {
    data.try_into()
        .map_err(|_| RecordError::InvalidTaggedField {
            field,
            size: data.len(),
            expected: N,
        })
}

/// A cursor over the input; every read checks the remaining length first. `field` names what
/// is being read, for the error.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        let Some((head, tail)) = self.buf.split_at_checked(n) else {
            return Err(RecordError::Truncated { field });
        };
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// An int8.
    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, RecordError> {
        self.array(field).map(i8::from_be_bytes)
    }

    /// An int16.
    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        self.array(field).map(i16::from_be_bytes)
    }

    /// An int32.
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// An int64.
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// A uuid (16 bytes).
    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<Uuid, RecordError> {
        self.array(field).map(Uuid::from_bytes)
    }

    /// Unsigned varint of at most 5 bytes that fits a `u32` (Kafka's `readUnsignedVarint`).
    pub(crate) fn uvarint(&mut self, field: &'static str) -> Result<u32, RecordError> {
        let (value, used) = read_unsigned_varint(self.buf).map_err(|e| match e {
            UnsignedVarintError::Truncated => RecordError::Truncated { field },
            UnsignedVarintError::TooLong => RecordError::InvalidVarint { field },
        })?;
        self.buf = &self.buf[used..];
        Ok(value)
    }

    /// The int16 version of a value schema, which must be in `0..=max`.
    pub(crate) fn version(&mut self, schema: &'static str, max: i16) -> Result<i16, RecordError> {
        let version = self.i16(schema)?;
        check_version(schema, version, max)?;
        Ok(version)
    }

    /// A length prefix: int16 (`wide` false: strings) or int32 in classic versions, unsigned
    /// varint + 1 in flexible ones. `None` is the null marker. A negative length other than -1
    /// is an error, and so is a string longer than 32767 bytes, as Kafka's generated readers
    /// have it.
    pub(crate) fn length(
        &mut self,
        flexible: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<Option<usize>, RecordError> {
        let len = if flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if wide {
            i64::from(self.i32(field)?)
        } else {
            i64::from(self.i16(field)?)
        };
        let max = if wide {
            i32::MAX as usize
        } else {
            MAX_STRING_LEN
        };
        match len {
            -1 => Ok(None),
            len => usize::try_from(len)
                .ok()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or(RecordError::InvalidLength { field, len }),
        }
    }

    /// A nullable string.
    pub(crate) fn nullable_string(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        let Some(len) = self.length(flexible, false, field)? else {
            return Ok(None);
        };
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| RecordError::InvalidUtf8 { field })
    }

    /// A non-nullable string.
    pub(crate) fn string(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<String, RecordError> {
        self.nullable_string(flexible, field)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    /// Non-nullable bytes.
    pub(crate) fn bytes(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<Bytes, RecordError> {
        let len = self
            .length(flexible, true, field)?
            .ok_or(RecordError::UnexpectedNull { field })?;
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }

    /// The element count of a non-nullable array.
    pub(crate) fn array_len(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<usize, RecordError> {
        self.length(flexible, true, field)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    /// The element count of a nullable array whose elements take at least `elem_min` bytes
    /// each: a count that cannot fit the bytes left is [`RecordError::InvalidLength`] before
    /// anything is read or allocated.
    pub(crate) fn count(
        &mut self,
        flexible: bool,
        elem_min: usize,
        field: &'static str,
    ) -> Result<Option<usize>, RecordError> {
        let n = self.length(flexible, true, field)?;
        if let Some(n) = n {
            if n.saturating_mul(elem_min) > self.remaining() {
                return Err(RecordError::InvalidLength {
                    field,
                    len: n as i64,
                });
            }
        }
        Ok(n)
    }

    /// A non-nullable compact array whose elements take at least `min_size` bytes each (which
    /// bounds the allocation by the input, not by the count read), each read by `element`.
    pub(crate) fn compact_array<T>(
        &mut self,
        field: &'static str,
        min_size: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, RecordError>,
    ) -> Result<Vec<T>, RecordError> {
        let count = self.array_len(true, field)?;
        let mut out = Vec::with_capacity(count.min(self.remaining() / min_size));
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }

    /// A non-nullable compact array of int32.
    pub(crate) fn i32_array(&mut self, field: &'static str) -> Result<Vec<i32>, RecordError> {
        self.compact_array(field, 4, |r| r.i32(field))
    }

    /// A nullable compact array of int32.
    pub(crate) fn nullable_i32_array(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Vec<i32>>, RecordError> {
        let Some(count) = self.length(true, true, field)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(count.min(self.remaining() / 4));
        for _ in 0..count {
            out.push(self.i32(field)?);
        }
        Ok(Some(out))
    }

    /// Reads the data of a tagged field with `read`, which must consume all of it.
    pub(crate) fn whole<T>(
        mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let size = self.remaining();
        let value = read(&mut self)?;
        match self.remaining() {
            0 => Ok(value),
            left => Err(RecordError::InvalidTaggedField {
                field,
                size,
                expected: size - left,
            }),
        }
    }

    /// A tagged-field section whose only known field is an int64 at `tag` (default 0).
    pub(crate) fn tagged_i64(&mut self, tag: u32, field: &'static str) -> Result<i64, RecordError> {
        let mut value = 0;
        self.tagged_fields(field, |t, data| {
            if t == tag {
                value = i64::from_be_bytes(exact(data, field)?);
            }
            Ok(())
        })?;
        Ok(value)
    }

    /// A tagged-field section whose fields are all skipped.
    pub(crate) fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), RecordError> {
        self.tagged_fields(field, |_, _| Ok(()))
    }

    /// Reads a tagged-field section, handing each field's tag and data to `on_field`.
    pub(crate) fn tagged_fields(
        &mut self,
        field: &'static str,
        mut on_field: impl FnMut(u32, &'a [u8]) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        let count = self.uvarint(field)?;
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let data = self.take(size, field)?;
            on_field(tag, data)?;
        }
        Ok(())
    }
}

/// Output buffer with the same primitives as [`Reader`].
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
        }
    }

    /// The bytes written.
    pub(crate) fn finish(self) -> Bytes {
        Bytes::from(self.out)
    }

    /// The bytes written, as a vector.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.out
    }

    /// An int8.
    pub(crate) fn i8(&mut self, v: i8) {
        self.out.put_i8(v);
    }

    /// An int16.
    pub(crate) fn i16(&mut self, v: i16) {
        self.out.put_i16(v);
    }

    /// An int32.
    pub(crate) fn i32(&mut self, v: i32) {
        self.out.put_i32(v);
    }

    /// An int64.
    pub(crate) fn i64(&mut self, v: i64) {
        self.out.put_i64(v);
    }

    /// A uuid (16 bytes).
    pub(crate) fn uuid(&mut self, id: Uuid) {
        self.out.put_slice(id.as_bytes());
    }

    /// An unsigned varint.
    pub(crate) fn uvarint(&mut self, v: u32) {
        put_unsigned_varint(&mut self.out, v);
    }

    /// A length prefix, or the null marker for `None` (the inverse of [`Reader::length`]).
    pub(crate) fn length(
        &mut self,
        len: Option<usize>,
        flexible: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        let max = if wide {
            i32::MAX as usize - 1
        } else {
            MAX_STRING_LEN
        };
        let prefix = match len {
            Some(len) if len > max => return Err(RecordError::TooLong { field, len }),
            // `len <= max < i32::MAX`, so the casts below are lossless.
            Some(len) => len as i32,
            None => -1,
        };
        if flexible {
            self.uvarint((prefix + 1) as u32);
        } else if wide {
            self.i32(prefix);
        } else {
            self.i16(prefix as i16);
        }
        Ok(())
    }

    /// A nullable string.
    pub(crate) fn nullable_string(
        &mut self,
        s: Option<&str>,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.length(s.map(str::len), flexible, false, field)?;
        self.out.put_slice(s.unwrap_or_default().as_bytes());
        Ok(())
    }

    /// A non-nullable string.
    pub(crate) fn string(
        &mut self,
        s: &str,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.nullable_string(Some(s), flexible, field)
    }

    /// Non-nullable bytes.
    pub(crate) fn bytes(
        &mut self,
        b: &[u8],
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.length(Some(b.len()), flexible, true, field)?;
        self.out.put_slice(b);
        Ok(())
    }

    /// The element count of a non-nullable array.
    pub(crate) fn array_len(
        &mut self,
        len: usize,
        flexible: bool,
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.length(Some(len), flexible, true, field)
    }

    /// A non-nullable compact array of int32.
    pub(crate) fn i32_array(
        &mut self,
        values: &[i32],
        field: &'static str,
    ) -> Result<(), RecordError> {
        self.array_len(values.len(), true, field)?;
        for v in values {
            self.i32(*v);
        }
        Ok(())
    }

    /// One tagged field: tag, size, data (the section's count is the caller's).
    pub(crate) fn tagged_field(
        &mut self,
        tag: u32,
        data: &[u8],
        field: &'static str,
    ) -> Result<(), RecordError> {
        let size = u32::try_from(data.len())
            .ok()
            .filter(|&n| n <= i32::MAX as u32)
            .ok_or(RecordError::TooLong {
                field,
                len: data.len(),
            })?;
        self.uvarint(tag);
        self.uvarint(size);
        self.out.put_slice(data);
        Ok(())
    }

    /// A tagged-field section holding the int64 at `tag` unless it is the default 0.
    pub(crate) fn tagged_i64(&mut self, tag: u32, value: i64) {
        if value == 0 {
            self.uvarint(0);
        } else {
            self.uvarint(1);
            self.uvarint(tag);
            self.uvarint(8);
            self.i64(value);
        }
    }
}

/// Helpers the record schemas' tests share.
#[cfg(test)]
pub(crate) mod test_util {
    /// The bytes of a hex string (spaces ignored).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s = s.replace(' ', "");
        assert_eq!(s.len() % 2, 0, "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// xorshift64* from `state`: a deterministic stream of random numbers, so that a failure of
    /// a random-input test reproduces.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err<T: std::fmt::Debug>(r: Result<T, RecordError>) -> RecordError {
        r.expect_err("malformed input must be an error")
    }

    #[test]
    fn truncated_input_is_an_error_for_every_primitive() {
        let f = "f";
        assert_eq!(
            err(Reader::new(&[]).i8(f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0]).i16(f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0; 3]).i32(f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0; 7]).i64(f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0; 15]).uuid(f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0x80]).uvarint(f)),
            RecordError::Truncated { field: f }
        );
        // A length prefix promising more bytes than there are.
        assert_eq!(
            err(Reader::new(&[0, 3, b'a']).string(false, f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[4, b'a']).string(true, f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[0, 0, 0, 2, 1]).bytes(false, f)),
            RecordError::Truncated { field: f }
        );
        assert_eq!(
            err(Reader::new(&[3, 0, 0, 0, 1]).i32_array(f)),
            RecordError::Truncated { field: f }
        );
        // A tagged field whose size runs past the end.
        assert_eq!(
            err(Reader::new(&[1, 0, 5, 1]).skip_tagged_fields(f)),
            RecordError::Truncated { field: f }
        );
    }

    #[test]
    fn negative_and_oversized_lengths_are_errors() {
        let f = "f";
        let invalid = |len| RecordError::InvalidLength { field: f, len };
        // Negative lengths other than the null marker -1.
        assert_eq!(
            err(Reader::new(&[0xff, 0xfe]).nullable_string(false, f)),
            invalid(-2)
        );
        assert_eq!(
            err(Reader::new(&[0xff, 0xff, 0xff, 0xfe]).bytes(false, f)),
            invalid(-2)
        );
        assert_eq!(
            err(Reader::new(&[0x80, 0, 0, 0]).array_len(false, f)),
            invalid(-2_147_483_648)
        );
        // A string longer than Kafka's 32767 bytes, classic (int16 cannot say more) and compact.
        let mut w = Writer::default();
        w.uvarint(0x8000 + 1);
        assert_eq!(
            err(Reader::new(&w.finish()).string(true, f)),
            invalid(0x8000)
        );
        // A compact length above i32::MAX.
        let mut w = Writer::default();
        w.uvarint(u32::MAX);
        assert_eq!(
            err(Reader::new(&w.finish()).array_len(true, f)),
            invalid(i64::from(u32::MAX) - 1)
        );
        // A count that cannot fit the bytes left is refused before reading its elements.
        assert_eq!(
            err(Reader::new(&[0, 0, 0, 3, 0, 0, 0, 0]).count(false, 4, f)),
            invalid(3)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff]).count(false, 4, f),
            Ok(None)
        );
        // Writing what does not fit the prefix.
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert_eq!(
            err(Writer::default().string(&long, false, f)),
            RecordError::TooLong {
                field: f,
                len: MAX_STRING_LEN + 1
            }
        );
        let mut w = Writer::default();
        w.string(&long[1..], false, f).expect("32767 bytes fit");
        assert_eq!(
            Reader::new(&w.finish()).string(false, f).as_deref(),
            Ok(&long[1..])
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let f = "f";
        assert_eq!(
            err(Reader::new(&[0, 2, 0xc3, 0x28]).string(false, f)),
            RecordError::InvalidUtf8 { field: f }
        );
        assert_eq!(
            err(Reader::new(&[2, 0xff]).nullable_string(true, f)),
            RecordError::InvalidUtf8 { field: f }
        );
    }

    #[test]
    fn null_in_a_non_nullable_field_is_an_error() {
        let f = "f";
        let null = RecordError::UnexpectedNull { field: f };
        assert_eq!(err(Reader::new(&[0xff, 0xff]).string(false, f)), null);
        assert_eq!(err(Reader::new(&[0]).string(true, f)), null);
        assert_eq!(err(Reader::new(&[0xff; 4]).bytes(false, f)), null);
        assert_eq!(err(Reader::new(&[0]).bytes(true, f)), null);
        assert_eq!(err(Reader::new(&[0xff; 4]).array_len(false, f)), null);
        assert_eq!(err(Reader::new(&[0]).i32_array(f)), null);
        // The nullable forms accept the same bytes.
        assert_eq!(
            Reader::new(&[0xff, 0xff]).nullable_string(false, f),
            Ok(None)
        );
        assert_eq!(Reader::new(&[0]).nullable_string(true, f), Ok(None));
        assert_eq!(Reader::new(&[0]).nullable_i32_array(f), Ok(None));
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let f = "f";
        let invalid = RecordError::InvalidVarint { field: f };
        // Six bytes, and five bytes above u32::MAX.
        assert_eq!(
            err(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0]).uvarint(f)),
            invalid
        );
        assert_eq!(
            err(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x10]).uvarint(f)),
            invalid
        );
        // Through a compact length and a tagged-field section.
        assert_eq!(err(Reader::new(&[0xff; 6]).string(true, f)), invalid);
        assert_eq!(
            err(Reader::new(&[1, 0xff, 0xff, 0xff, 0xff, 0x7f]).skip_tagged_fields(f)),
            invalid
        );
    }

    #[test]
    fn versions_and_tagged_field_sizes_are_checked() {
        assert_eq!(Reader::new(&[0, 2]).version("S", 4), Ok(2));
        assert_eq!(
            err(Reader::new(&[0, 5]).version("S", 4)),
            RecordError::UnknownVersion {
                schema: "S",
                version: 5,
                max: 4
            }
        );
        assert_eq!(
            err(Reader::new(&[0xff, 0xff]).version("S", 4)),
            RecordError::UnknownVersion {
                schema: "S",
                version: -1,
                max: 4
            }
        );
        // An int64 tag of 4 bytes; an unknown tag is skipped.
        assert_eq!(
            err(Reader::new(&[1, 0, 4, 0, 0, 0, 1]).tagged_i64(0, "h")),
            RecordError::InvalidTaggedField {
                field: "h",
                size: 4,
                expected: 8
            }
        );
        assert_eq!(Reader::new(&[1, 3, 1, 9]).tagged_i64(0, "h"), Ok(0));
        // A tagged struct that leaves bytes unread.
        assert_eq!(
            err(Reader::new(&[0, 0, 0, 1, 9]).whole("s", |r| r.i32("i"))),
            RecordError::InvalidTaggedField {
                field: "s",
                size: 5,
                expected: 4
            }
        );
    }

    /// One primitive, with what its reader must give back.
    #[derive(Debug, Clone)]
    enum Prim {
        I8(i8),
        I16(i16),
        I32(i32),
        I64(i64),
        Uuid(u128),
        Uvarint(u32),
        Str(Option<String>, bool),
        Bytes(Vec<u8>, bool),
        I32s(Option<Vec<i32>>),
        Tagged(Vec<(u32, Vec<u8>)>),
        TaggedI64(i64),
    }

    fn prim() -> impl Strategy<Value = Prim> {
        prop_oneof![
            any::<i8>().prop_map(Prim::I8),
            any::<i16>().prop_map(Prim::I16),
            any::<i32>().prop_map(Prim::I32),
            any::<i64>().prop_map(Prim::I64),
            any::<u128>().prop_map(Prim::Uuid),
            any::<u32>().prop_map(Prim::Uvarint),
            (proptest::option::of(".{0,40}"), any::<bool>()).prop_map(|(s, f)| Prim::Str(s, f)),
            (
                proptest::collection::vec(any::<u8>(), 0..300),
                any::<bool>()
            )
                .prop_map(|(b, f)| Prim::Bytes(b, f)),
            proptest::option::of(proptest::collection::vec(any::<i32>(), 0..20))
                .prop_map(Prim::I32s),
            proptest::collection::vec(
                (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..20)),
                0..4
            )
            .prop_map(Prim::Tagged),
            any::<i64>().prop_map(Prim::TaggedI64),
        ]
    }

    fn write(w: &mut Writer, p: &Prim) {
        match p {
            Prim::I8(v) => w.i8(*v),
            Prim::I16(v) => w.i16(*v),
            Prim::I32(v) => w.i32(*v),
            Prim::I64(v) => w.i64(*v),
            Prim::Uuid(v) => w.uuid(Uuid::from_u128(*v)),
            Prim::Uvarint(v) => w.uvarint(*v),
            Prim::Str(s, flexible) => w
                .nullable_string(s.as_deref(), *flexible, "s")
                .expect("short"),
            Prim::Bytes(b, flexible) => w.bytes(b, *flexible, "b").expect("short"),
            Prim::I32s(Some(v)) => w.i32_array(v, "a").expect("short"),
            Prim::I32s(None) => w.length(None, true, true, "a").expect("null"),
            Prim::Tagged(fields) => {
                w.uvarint(u32::try_from(fields.len()).expect("few"));
                for (tag, data) in fields {
                    w.tagged_field(*tag, data, "t").expect("short");
                }
            }
            Prim::TaggedI64(v) => w.tagged_i64(0, *v),
        }
    }

    fn check(r: &mut Reader<'_>, p: &Prim) -> Result<(), TestCaseError> {
        match p {
            Prim::I8(v) => prop_assert_eq!(r.i8("x"), Ok(*v)),
            Prim::I16(v) => prop_assert_eq!(r.i16("x"), Ok(*v)),
            Prim::I32(v) => prop_assert_eq!(r.i32("x"), Ok(*v)),
            Prim::I64(v) => prop_assert_eq!(r.i64("x"), Ok(*v)),
            Prim::Uuid(v) => prop_assert_eq!(r.uuid("x"), Ok(Uuid::from_u128(*v))),
            Prim::Uvarint(v) => prop_assert_eq!(r.uvarint("x"), Ok(*v)),
            Prim::Str(s, flexible) => {
                prop_assert_eq!(&r.nullable_string(*flexible, "s"), &Ok(s.clone()))
            }
            Prim::Bytes(b, flexible) => {
                prop_assert_eq!(r.bytes(*flexible, "b"), Ok(Bytes::from(b.clone())))
            }
            Prim::I32s(v) => prop_assert_eq!(&r.nullable_i32_array("a"), &Ok(v.clone())),
            Prim::Tagged(fields) => {
                let mut read = Vec::new();
                r.tagged_fields("t", |tag, data| {
                    read.push((tag, data.to_vec()));
                    Ok(())
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&read, fields);
            }
            Prim::TaggedI64(v) => prop_assert_eq!(r.tagged_i64(0, "x"), Ok(*v)),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn primitives_round_trip(prims in proptest::collection::vec(prim(), 0..12)) {
            let mut w = Writer::default();
            for p in &prims {
                write(&mut w, p);
            }
            let bytes = w.finish();
            let mut r = Reader::new(&bytes);
            for p in &prims {
                check(&mut r, p)?;
            }
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), flexible in any::<bool>()) {
            // Every reader on arbitrary input returns, Ok or Err; none panics or over-allocates.
            let mut r = Reader::new(&bytes);
            let _ = r.nullable_string(flexible, "s");
            let _ = r.bytes(flexible, "b");
            let _ = r.count(flexible, 4, "c");
            let _ = r.compact_array("a", 1, |r| r.string(true, "e"));
            let _ = r.nullable_i32_array("n");
            let _ = r.tagged_i64(0, "t");
            let _ = r.skip_tagged_fields("t");
            let _ = Reader::new(&bytes).whole("w", |r| r.i32_array("i"));
        }
    }
}
