//! What `kubectl attach` reaches of a running container (CRI's Attach): the output of its main
//! process from now on, and its stdin when the container was created with `stdin: true`.
//! Output goes to the container's log as always; attached clients get a copy.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::{LogSink, Stream};

/// How much output an attached client may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// `stdin`, `stdinOnce` and `tty` of a container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Console {
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
}

/// The copy of a container's output for attached clients. The channel is made by the first
/// client: most containers are never attached to, and a node runs many.
#[derive(Clone, Default)]
pub struct Output(Arc<OnceLock<broadcast::Sender<(Stream, Bytes)>>>);

impl Output {
    pub fn new() -> Self {
        Output::default()
    }

    /// Output from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<(Stream, Bytes)> {
        self.0
            .get_or_init(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    /// Bytes the container wrote, to whoever is attached.
    pub fn send(&self, stream: Stream, parts: &[&[u8]]) {
        if let Some(tx) = self.0.get().filter(|tx| tx.receiver_count() > 0) {
            let _ = tx.send((stream, Bytes::from(parts.concat())));
        }
    }
}

/// A log sink that also hands each line to attached clients.
pub struct Tee {
    pub inner: Arc<dyn LogSink>,
    pub output: Output,
}

impl LogSink for Tee {
    fn line(&self, container: &str, stream: Stream, line: &str) {
        self.inner.line(container, stream, line);
        self.output.send(stream, &[line.as_bytes(), b"\n"]);
    }

    fn partial(&self, container: &str, stream: Stream, text: &str) {
        self.inner.partial(container, stream, text);
        self.output.send(stream, &[text.as_bytes()]);
    }

    fn began(&self, container: &str) {
        self.inner.began(container);
    }

    fn ended(&self, container: &str) {
        self.inner.ended(container);
    }

    fn poll_ready(
        &self,
        container: &str,
        stream: Stream,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.inner.poll_ready(container, stream, cx)
    }
}

/// An attached client's view of the output: its streams as readers (stderr merged into stdout
/// with a terminal), ending when `ended` resolves.
pub fn readers(
    output: &Output,
    tty: bool,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) -> (super::stream::Reader, Option<super::stream::Reader>) {
    use tokio::io::AsyncWriteExt as _;
    let mut rx = output.subscribe();
    let (out_near, mut out_far) = tokio::io::duplex(64 * 1024);
    let (err_near, mut err_far) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        tokio::pin!(ended);
        let mut ending = false;
        loop {
            let got = if ending {
                // The container has ended: what it wrote before that still goes out.
                match rx.try_recv() {
                    Ok(m) => Ok(m),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(broadcast::error::RecvError::Lagged(n))
                    }
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    biased;
                    got = rx.recv() => got,
                    () = &mut ended => {
                        ending = true;
                        continue;
                    }
                }
            };
            let (stream, data) = match got {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            let to = if stream == Stream::Stderr && !tty {
                &mut err_far
            } else {
                &mut out_far
            };
            if to.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = out_far.shutdown().await;
        let _ = err_far.shutdown().await;
    });
    let stderr = (!tty).then(|| Box::new(err_near) as super::stream::Reader);
    (Box::new(out_near), stderr)
}
