//! Reading request frames (`[i32 length][request]`) within bounds of memory and time.
//!
//! It exists so that what a client *claims* costs nothing until it is sent, and what it sends
//! slowly cannot hold the broker forever:
//! - the buffer grows in chunks of at most [`READ_CHUNK`] as bytes arrive, never to the size the
//!   length prefix claims (a client claiming 100 MB and sending 10 bytes costs one chunk);
//! - once the length is known, the frame takes a lease from the request memory pool
//!   (`queued.max.request.bytes`, see `memory.rs`) before more of it is read; while the pool is
//!   exhausted the connection stops reading its socket;
//! - with `connections.max.idle.ms` set, a connection that sends nothing for that long between
//!   requests is idle and closed (Kafka's selector closes idle channels), and a request whose
//!   bytes do not all arrive within that time from its first byte is closed too (a slowloris
//!   client trickling a frame). Time spent waiting for pool memory is the broker's, not the
//!   client's: the deadline restarts when the lease is granted.
//!
//! A partial frame at a clean close of the socket between requests is `Ok(None)`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use tracing::debug;

use super::memory::{MemoryLease, MemoryPool};

/// Most the read buffer grows by at a time while a frame arrives.
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// Smallest request: api key, api version, correlation id.
pub(super) const MIN_REQUEST: usize = 8;

/// Why reading a frame failed; each closes the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request size {size} is outside 8..={max} bytes (socket.request.max.bytes)")]
    BadSize { size: i64, max: usize },
    #[error("connection closed in the middle of a request ({have} of {want} bytes received)")]
    Truncated { have: usize, want: usize },
    #[error("idle for {ms} ms with no request in flight (connections.max.idle.ms)")]
    Idle { ms: u128 },
    #[error(
        "request not received in full within {ms} ms of its first byte ({have} of {want} bytes; \
         connections.max.idle.ms)"
    )]
    SlowRequest { ms: u128, have: usize, want: usize },
}

/// One whole request and the pool memory it holds until dropped.
#[derive(Debug)]
pub(super) struct Frame {
    /// The request, without its length prefix.
    pub(super) bytes: Bytes,
    /// Returned to the pool when the request has been handled.
    pub(super) lease: MemoryLease,
}

/// Reads one connection's frames.
#[derive(Debug)]
pub(super) struct FrameReader {
    buf: BytesMut,
    /// `socket.request.max.bytes`.
    max: usize,
    /// `connections.max.idle.ms`; `None` = no timeout.
    idle: Option<Duration>,
    memory: Arc<MemoryPool>,
}

impl FrameReader {
    /// A reader with an empty buffer.
    pub(super) fn new(max: usize, idle: Option<Duration>, memory: Arc<MemoryPool>) -> Self {
        FrameReader {
            buf: BytesMut::new(),
            max,
            idle,
            memory,
        }
    }

    /// Bytes received but not yet returned as frames (the start of the next requests).
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The claimed length of the buffered frame, once its prefix is in.
    fn claimed(&self) -> usize {
        if self.buf.len() < 4 {
            return 4;
        }
        usize::try_from(i32::from_be_bytes([
            self.buf[0],
            self.buf[1],
            self.buf[2],
            self.buf[3],
        ]))
        .unwrap_or(0)
    }

    /// Read the next whole frame. `Ok(None)` = the client closed cleanly between requests.
    pub(super) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<Option<Frame>, FrameError> {
        let restart = |idle: Option<Duration>| idle.map(|d| Instant::now() + d);
        let mut deadline = restart(self.idle);
        let mut started = !self.buf.is_empty();
        let mut lease: Option<MemoryLease> = None;
        loop {
            if let Some(len) = frame_len(&self.buf, self.max)? {
                let granted = match lease.take() {
                    Some(l) => l,
                    None => match self.memory.try_take(len) {
                        Some(l) => l,
                        None => {
                            debug!(
                                size = len,
                                "request memory exhausted (queued.max.request.bytes); waiting"
                            );
                            let l = self.memory.take(len).await;
                            deadline = restart(self.idle);
                            l
                        }
                    },
                };
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(Some(Frame {
                        bytes: self.buf.split_to(len).freeze(),
                        lease: granted,
                    }));
                }
                lease = Some(granted);
                let missing = 4 + len - self.buf.len();
                self.buf.reserve(missing.min(READ_CHUNK));
            } else if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            let read = stream.read_buf(&mut self.buf);
            let n = match deadline {
                None => read.await?,
                Some(at) => match tokio::time::timeout_at(at, read).await {
                    Ok(n) => n?,
                    Err(_) => return Err(self.timed_out(started)),
                },
            };
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated {
                    have: self.buf.len().saturating_sub(4),
                    want: self.claimed(),
                });
            }
            if !started {
                started = true;
                deadline = restart(self.idle);
            }
        }
    }

    fn timed_out(&self, started: bool) -> FrameError {
        let ms = self.idle.unwrap_or_default().as_millis();
        if started {
            FrameError::SlowRequest {
                ms,
                have: self.buf.len().saturating_sub(4),
                want: self.claimed(),
            }
        } else {
            FrameError::Idle { ms }
        }
    }
}

/// The length of the frame at the start of `buf` (without its 4-byte prefix), once the prefix
/// has arrived: an error when it is outside `MIN_REQUEST..=max` (`socket.request.max.bytes`).
pub(crate) fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let size = i64::from(i32::from_be_bytes(*prefix));
    match usize::try_from(size) {
        Ok(len) if (MIN_REQUEST..=max).contains(&len) => Ok(Some(len)),
        _ => Err(FrameError::BadSize { size, max }),
    }
}

/// Take the whole frame at the start of `buf` off it (without its length prefix), if it has
/// arrived; `Ok(None)` while bytes are missing. The reader above does the same with memory and
/// time bounds; this pure form is what the fuzz target `frame` drives.
#[cfg(feature = "fuzzing")]
pub(crate) fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    match frame_len(buf, max)? {
        Some(len) if buf.len() >= 4 + len => {
            buf.advance(4);
            Ok(Some(buf.split_to(len).freeze()))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    const IDLE: Option<Duration> = Some(Duration::from_millis(500));

    fn request(len: usize) -> Vec<u8> {
        let mut v = u32::try_from(len).unwrap().to_be_bytes().to_vec();
        v.resize(4 + len, 7);
        v
    }

    #[tokio::test(start_paused = true)]
    async fn a_claimed_length_costs_nothing_until_sent_and_a_trickle_is_closed() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(100 << 20, IDLE, MemoryPool::new(None));
        client
            .write_all(&(100u32 << 20).to_be_bytes())
            .await
            .unwrap();
        client.write_all(&[1; 10]).await.unwrap();
        let e = r.next(&mut server).await.unwrap_err();
        assert!(
            matches!(e, FrameError::SlowRequest { have: 10, want, .. } if want == 100 << 20),
            "{e}"
        );
        assert!(
            r.buf.capacity() <= 2 * READ_CHUNK,
            "buffer of {} bytes for 14 received",
            r.buf.capacity()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_between_requests_is_closed_and_whole_frames_pass() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut r = FrameReader::new(1024, IDLE, MemoryPool::new(None));
        let mut two = request(8);
        two.extend(request(20));
        client.write_all(&two).await.unwrap();
        assert_eq!(r.next(&mut server).await.unwrap().unwrap().bytes.len(), 8);
        assert_eq!(r.next(&mut server).await.unwrap().unwrap().bytes.len(), 20);
        let e = r.next(&mut server).await.unwrap_err();
        assert!(matches!(e, FrameError::Idle { ms: 500 }), "{e}");
        drop(client);
        assert!(r.next(&mut server).await.unwrap().is_none(), "clean close");
    }

    #[tokio::test]
    async fn bad_sizes_and_truncation_are_errors() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut r = FrameReader::new(1024, None, MemoryPool::new(None));
        client.write_all(&(-1i32).to_be_bytes()).await.unwrap();
        assert!(matches!(
            r.next(&mut server).await,
            Err(FrameError::BadSize { size: -1, .. })
        ));
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let mut r = FrameReader::new(1024, None, MemoryPool::new(None));
        client.write_all(&request(100)[..50]).await.unwrap();
        drop(client);
        assert!(matches!(
            r.next(&mut server).await,
            Err(FrameError::Truncated {
                have: 46,
                want: 100
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_pool_stops_reading_until_memory_frees() {
        let pool = MemoryPool::new(Some(64));
        let held = pool.try_take(64).unwrap();
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(&request(16)).await.unwrap();
        let mut r = FrameReader::new(64, IDLE, pool.clone());
        let reading = tokio::spawn(async move {
            let f = r.next(&mut server).await;
            f.map(|f| f.map(|f| (f.bytes.len(), f.lease.bytes())))
        });
        // Far past the idle timeout: waiting for memory is not the client being slow.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !reading.is_finished(),
            "read a frame the pool had no room for"
        );
        drop(held);
        assert_eq!(reading.await.unwrap().unwrap(), Some((16, 16)));
    }
}
