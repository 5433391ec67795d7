//! One direction of a virtual TCP connection (or a pipe between two processes of a wasm
//! container): an in-memory byte queue with a bounded window.
//!
//! Written chunks are kept as `Bytes` and handed to the reader without copying. The writer closing
//! (shutdown or drop) is EOF for the reader once the queue is drained; the reader going away makes
//! further writes fail like a reset connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

/// Bytes in flight per direction before the writer has to wait, like a socket buffer.
pub const WINDOW: usize = 256 * 1024;

#[derive(Default)]
struct State {
    chunks: VecDeque<Bytes>,
    len: usize,
    write_closed: bool,
    read_closed: bool,
}

pub struct Pipe {
    state: Mutex<State>,
    window: usize,
    /// Woken when data arrives or the writer closes.
    readable: Notify,
    /// Woken when room frees up or the reader closes.
    writable: Notify,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Data(Bytes),
    /// Nothing yet; the writer is still there.
    Empty,
    Eof,
}

/// What a writer may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Room {
    Bytes(usize),
    /// The writer was shut down on this side.
    Closed,
    /// The reader is gone: writing would be a reset.
    Reset,
}

impl Pipe {
    pub fn new() -> Arc<Self> {
        Pipe::with_window(WINDOW)
    }

    pub fn with_window(window: usize) -> Arc<Self> {
        Arc::new(Pipe {
            state: Mutex::new(State::default()),
            window,
            readable: Notify::new(),
            writable: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn read(&self, max: usize) -> Read {
        let mut s = self.lock();
        let Some(front) = s.chunks.front_mut() else {
            return if s.write_closed {
                Read::Eof
            } else {
                Read::Empty
            };
        };
        let chunk = if front.len() <= max {
            s.chunks.pop_front().unwrap_or_default()
        } else {
            front.split_to(max)
        };
        s.len -= chunk.len();
        drop(s);
        self.writable.notify_waiters();
        Read::Data(chunk)
    }

    pub fn room(&self) -> Room {
        let s = self.lock();
        if s.read_closed {
            Room::Reset
        } else if s.write_closed {
            Room::Closed
        } else {
            Room::Bytes(self.window.saturating_sub(s.len))
        }
    }

    /// Queues `data`; callers stay within `room()`, as WASI's check-write permits require.
    pub fn write(&self, data: Bytes) -> Room {
        let mut s = self.lock();
        if s.read_closed {
            return Room::Reset;
        }
        if s.write_closed {
            return Room::Closed;
        }
        if !data.is_empty() {
            s.len += data.len();
            s.chunks.push_back(data);
        }
        let left = self.window.saturating_sub(s.len);
        drop(s);
        self.readable.notify_waiters();
        Room::Bytes(left)
    }

    pub fn close_write(&self) {
        self.lock().write_closed = true;
        self.readable.notify_waiters();
    }

    pub fn close_read(&self) {
        let mut s = self.lock();
        s.read_closed = true;
        s.chunks.clear();
        s.len = 0;
        drop(s);
        self.writable.notify_waiters();
    }

    /// Resolves once a read would not return `Empty`. Cancel-safe.
    pub async fn wait_readable(&self) {
        loop {
            let notified = self.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.lock();
                if !s.chunks.is_empty() || s.write_closed {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Resolves once `room()` is not `Bytes(0)`. Cancel-safe.
    pub async fn wait_writable(&self) {
        loop {
            let notified = self.writable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.room() != Room::Bytes(0) {
                return;
            }
            notified.await;
        }
    }
}

/// Joins a virtual connection (`to_pod` carries bytes into the pod network, `from_pod` out of
/// it) to a host-side stream until both directions have ended, with the pipes' back-pressure and
/// half-close: a host EOF closes `to_pod` for writing, the pod's EOF shuts the stream's write side.
pub async fn splice<S>(to_pod: Arc<Pipe>, from_pod: Arc<Pipe>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (mut host_rx, mut host_tx) = tokio::io::split(stream);
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        'reading: loop {
            // A pod that closed its end takes nothing more: stop reading the host.
            if to_pod.room() == Room::Reset {
                break;
            }
            let n = match host_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut data = Bytes::copy_from_slice(&buf[..n]);
            while !data.is_empty() {
                match to_pod.room() {
                    Room::Bytes(0) => to_pod.wait_writable().await,
                    Room::Bytes(room) => {
                        let chunk = data.split_to(room.min(data.len()));
                        if matches!(to_pod.write(chunk), Room::Reset | Room::Closed) {
                            break 'reading;
                        }
                    }
                    Room::Closed | Room::Reset => break 'reading,
                }
            }
        }
        to_pod.close_write();
    };
    let downstream = async {
        loop {
            from_pod.wait_readable().await;
            match from_pod.read(usize::MAX) {
                Read::Data(b) => {
                    if host_tx.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Read::Empty => {}
                Read::Eof => break,
            }
        }
        from_pod.close_read();
        let _ = host_tx.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// A host-side stream over a virtual connection, for wpod's own HTTP server and client: `rx`
/// brings the peer's bytes, `tx` takes this end's. `keep` (the port it holds) lives as long as
/// the connection.
pub fn duplex(rx: Arc<Pipe>, tx: Arc<Pipe>, keep: impl Send + 'static) -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(WINDOW);
    tokio::spawn(async move {
        let _keep = keep;
        splice(tx, rx, theirs).await;
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_then_eof() {
        let p = Pipe::new();
        assert_eq!(p.read(10), Read::Empty);
        p.write(Bytes::from_static(b"hello "));
        p.write(Bytes::from_static(b"world"));
        assert_eq!(p.read(3), Read::Data(Bytes::from_static(b"hel")));
        assert_eq!(p.read(100), Read::Data(Bytes::from_static(b"lo ")));
        p.close_write();
        assert_eq!(p.read(100), Read::Data(Bytes::from_static(b"world")));
        assert_eq!(p.read(100), Read::Eof);
        assert_eq!(p.room(), Room::Closed);
    }

    #[test]
    fn window_and_reset() {
        let p = Pipe::new();
        p.write(Bytes::from(vec![0u8; WINDOW]));
        assert_eq!(p.room(), Room::Bytes(0));
        p.read(1000);
        assert_eq!(p.room(), Room::Bytes(1000));
        p.close_read();
        assert_eq!(p.write(Bytes::from_static(b"x")), Room::Reset);
    }

    #[tokio::test]
    async fn waiting_reader_is_woken() {
        let p = Pipe::new();
        let q = p.clone();
        let reader = tokio::spawn(async move {
            q.wait_readable().await;
            q.read(10)
        });
        tokio::task::yield_now().await;
        p.write(Bytes::from_static(b"ping"));
        assert_eq!(
            reader.await.ok(),
            Some(Read::Data(Bytes::from_static(b"ping")))
        );
    }
}
