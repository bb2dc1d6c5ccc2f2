//! Zero-copy fetch responses: record bytes go from the segment files to the socket with `sendfile(2)`, never
//! through a user-space buffer (Kafka's `FileRecords.writeTo` → `transferTo`).
//!
//! The response is still encoded by `kafka-protocol`. The fetch handler leaves a [`placeholder`] (16 bytes random
//! per process) as each zero-copy partition's `records`, and hands the matching [`FileSlice`]s, in encoding order,
//! next to the response ([`Reply`]). [`splice`] then cuts the encoded frame at each placeholder, rewrites the
//! `records` length in front of it (a 4-byte `INT32` before Fetch v12, an unsigned varint of length + 1 from v12),
//! fixes the frame length, and yields memory and file [`Part`]s; [`write_parts`] sends them in order. A placeholder
//! not found exactly where expected is an encoding error: the connection is closed rather than a corrupt frame
//! sent.
//!
//! Small slices are cheaper to copy than to send with a syscall of their own, so the fetch handler copies those
//! below `fetch.zero.copy.min.bytes`.

use std::io;
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseKind;
use minikafka_storage::batch::put_unsigned_varint;
use minikafka_storage::FileSlice;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::net::stream::Stream;

/// A handler's answer: the response, and the file ranges standing behind its placeholders, in encoding order.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The response to encode.
    pub(crate) body: ResponseKind,
    /// One file range per placeholder in `body`, in the order the encoder writes them.
    pub(crate) files: Vec<FileSlice>,
}

impl<T: Into<ResponseKind>> From<T> for Reply {
    fn from(body: T) -> Self {
        Reply {
            body: body.into(),
            files: Vec::new(),
        }
    }
}

/// One piece of an outgoing frame.
#[derive(Debug)]
pub(crate) enum Part {
    /// Encoded bytes.
    Mem(Bytes),
    /// Record batches sent from their segment file.
    File(FileSlice),
}

impl Part {
    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Part::Mem(b) => b.len(),
            Part::File(f) => f.len(),
        }
    }
}

const TOKEN_LEN: usize = 16;

fn token() -> &'static Bytes {
    static TOKEN: OnceLock<Bytes> = OnceLock::new();
    TOKEN.get_or_init(|| Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes()))
}

/// The `records` value that stands for the next file slice of the reply.
pub(crate) fn placeholder() -> Bytes {
    token().clone()
}

/// The encoded `records` length field of `len` bytes: `INT32` (`compact` false) or unsigned varint of `len + 1`.
fn length_field(len: usize, compact: bool, out: &mut BytesMut) -> Result<(), String> {
    if compact {
        let v = u32::try_from(len + 1).map_err(|_| format!("records of {len} bytes"))?;
        put_unsigned_varint(out, v);
    } else {
        out.put_i32(i32::try_from(len).map_err(|_| format!("records of {len} bytes"))?);
    }
    Ok(())
}

/// Cut an encoded frame (its 4-byte size first) at the placeholders standing for `files`, in order. `compact`:
/// the response version encodes `records` as compact bytes (Fetch v12+).
pub(crate) fn splice(
    mut frame: BytesMut,
    files: Vec<FileSlice>,
    compact: bool,
) -> Result<Vec<Part>, String> {
    let token = token();
    let mut placeholder_prefix = BytesMut::new();
    length_field(TOKEN_LEN, compact, &mut placeholder_prefix)?;
    let prefix_len = placeholder_prefix.len();
    // The real length fields, and from them the frame size, known before cutting.
    let mut fields = Vec::with_capacity(files.len());
    let mut body_len = frame.len() - 4;
    for file in &files {
        let mut field = BytesMut::new();
        length_field(file.len(), compact, &mut field)?;
        body_len = body_len - prefix_len - TOKEN_LEN + field.len() + file.len();
        fields.push(field);
    }
    let size = i32::try_from(body_len).map_err(|_| "response larger than 2 GiB".to_string())?;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    let frame = frame.freeze();
    let mut parts = Vec::with_capacity(files.len() * 3 + 1);
    let mut start = 0usize;
    for (file, field) in files.into_iter().zip(fields) {
        let found = frame[start..]
            .windows(TOKEN_LEN)
            .position(|w| w == &token[..])
            .map(|i| start + i)
            .ok_or("a records placeholder is missing from the encoded response")?;
        if found < start + prefix_len || frame[found - prefix_len..found] != placeholder_prefix[..]
        {
            return Err("a records placeholder is not preceded by its length".into());
        }
        parts.push(Part::Mem(frame.slice(start..found - prefix_len)));
        parts.push(Part::Mem(field.freeze()));
        parts.push(Part::File(file));
        start = found + TOKEN_LEN;
    }
    parts.push(Part::Mem(frame.slice(start..)));
    Ok(parts)
}

/// Send `parts` in order: runs of memory parts gathered into one `write` (small ones copied
/// together, so many small responses cost one syscall), files with `sendfile` straight from the
/// page cache.
pub(crate) async fn write_parts(stream: &mut Stream, parts: &[Part]) -> io::Result<()> {
    /// Memory parts up to this size are gathered into one buffer before writing.
    const GATHER: usize = 64 * 1024;
    if let [Part::Mem(b)] = parts {
        return stream.write_all(b).await;
    }
    let mut gathered = BytesMut::new();
    for part in parts {
        match part {
            Part::Mem(b) if b.len() <= GATHER => {
                if gathered.len() + b.len() > GATHER {
                    stream.write_all(&gathered).await?;
                    gathered.clear();
                }
                gathered.extend_from_slice(b);
            }
            Part::Mem(b) => {
                if !gathered.is_empty() {
                    stream.write_all(&gathered).await?;
                    gathered.clear();
                }
                stream.write_all(b).await?;
            }
            Part::File(f) => {
                if !gathered.is_empty() {
                    stream.write_all(&gathered).await?;
                    gathered.clear();
                }
                match stream {
                    Stream::Plain(s) => send_file(s, f).await?,
                    // TLS encrypts in user space: the bytes are read and written through it.
                    Stream::Tls(_) | Stream::TlsClient(_) => copy_file(stream, f).await?,
                }
            }
        }
    }
    if !gathered.is_empty() {
        stream.write_all(&gathered).await?;
    }
    Ok(())
}

/// Copy `f`'s range through `stream` in 64 KiB reads (`pread` of what is almost always in the
/// page cache: the fetch that found it has just read its index).
async fn copy_file(stream: &mut Stream, f: &FileSlice) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 64 * 1024;
    let mut offset = f.position();
    let end = offset + f.len() as u64;
    let mut buf = vec![0u8; CHUNK.min(f.len())];
    while offset < end {
        let want = usize::try_from(end - offset)
            .unwrap_or(usize::MAX)
            .min(CHUNK);
        let n = f.file().read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "segment file is shorter than the fetched range",
            ));
        }
        stream.write_all(&buf[..n]).await?;
        offset += n as u64;
    }
    Ok(())
}

async fn send_file(stream: &TcpStream, f: &FileSlice) -> io::Result<()> {
    let mut offset = f.position();
    let end = offset + f.len() as u64;
    while offset < end {
        stream.writable().await?;
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &**f.file(), Some(&mut offset), want)
                .map_err(io::Error::from)
        });
        match sent {
            // The file ends before the range: it was truncated after the read. The frame cannot be completed.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file is shorter than the fetched range",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
