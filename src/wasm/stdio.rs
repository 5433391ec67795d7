//! A guest's stdout or stderr, split into lines for the pod's log sink.
//!
//! wasmtime-wasi asks for a fresh stream on every `get-stdout`, so the partial line lives in state
//! shared by all of them, and is flushed when the container ends.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::runtime::{LogSink, Stream};

/// A line longer than this is passed on in pieces rather than buffered without bound.
const MAX_LINE: usize = 16 * 1024;

#[derive(Clone)]
pub struct LogStream {
    inner: Arc<Shared>,
}

struct Shared {
    container: String,
    stream: Stream,
    sink: Arc<dyn LogSink>,
    partial: Mutex<Vec<u8>>,
}

impl LogStream {
    pub fn new(container: &str, stream: Stream, sink: Arc<dyn LogSink>) -> Self {
        LogStream {
            inner: Arc::new(Shared {
                container: container.to_string(),
                stream,
                sink,
                partial: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A whole line from wpod itself, after whatever the guest wrote so far.
    pub fn note(&self, text: &str) {
        self.flush_partial();
        self.inner.emit(text.as_bytes(), true);
    }

    /// Emits a last line that had no newline.
    pub fn flush_partial(&self) {
        let rest = std::mem::take(&mut *self.inner.lock());
        if !rest.is_empty() {
            self.inner.emit(&rest, false);
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.partial.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Passes on a line that ended in a newline (`whole`), or text that did not.
    fn emit(&self, line: &[u8], whole: bool) {
        if !whole {
            let text = String::from_utf8_lossy(line);
            self.sink.partial(&self.container, self.stream, &text);
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.sink
            .line(&self.container, self.stream, &String::from_utf8_lossy(line));
    }

    fn write(&self, mut buf: &[u8]) {
        let mut partial = self.lock();
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            partial.extend_from_slice(&buf[..nl]);
            let line = std::mem::take(&mut *partial);
            self.emit(&line, true);
            buf = &buf[nl + 1..];
        }
        partial.extend_from_slice(buf);
        if partial.len() >= MAX_LINE {
            let line = std::mem::take(&mut *partial);
            self.emit(&line, false);
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A reader that lags behind holds up this guest's write (and only this guest).
        let ready = (self.inner.sink).poll_ready(&self.inner.container, self.inner.stream, cx);
        if ready.is_pending() {
            return Poll::Pending;
        }
        self.inner.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl LogSink for Lines {
        fn line(&self, c: &str, s: Stream, l: &str) {
            self.0.lock().expect("lines").push(format!("{c} {s:?} {l}"));
        }
    }

    #[test]
    fn splits_lines_across_writes_and_streams() {
        let sink = Arc::new(Lines::default());
        let a = LogStream::new("app", Stream::Stdout, sink.clone());
        let b = a.clone();
        a.inner.write(b"hel");
        b.inner.write(b"lo\r\nwor");
        a.inner.write(b"ld\n\ntail");
        a.flush_partial();
        assert_eq!(
            *sink.0.lock().expect("lines"),
            [
                "app Stdout hello",
                "app Stdout world",
                "app Stdout ",
                "app Stdout tail"
            ]
        );
    }
}
