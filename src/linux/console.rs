//! A Linux container's console: its main process's stdin (`stdin: true`, a pipe) or terminal
//! (`tty: true`, a pseudo-terminal whose slave is the process's controlling terminal), and the
//! copy of its output that `kubectl attach` clients get.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::runtime::attach::{self, Console as Wanted};
use crate::runtime::stream::{Reader, Writer};
use crate::runtime::{ExecSession, LogSink, Result, Stream, TermSize};

type Resize = Arc<dyn Fn(TermSize) + Send + Sync>;

pub struct Console {
    pub wanted: Wanted,
    pub output: attach::Output,
    /// Where attached clients' input goes, once the container runs (until `stdinOnce` closes it).
    input: Arc<tokio::sync::Mutex<Option<Writer>>>,
    resize: Mutex<Option<Resize>>,
}

impl Console {
    pub fn new(wanted: Wanted) -> Self {
        Console {
            wanted,
            output: attach::Output::new(),
            input: Arc::default(),
            resize: Mutex::new(None),
        }
    }

    /// The container's log sink, copied to attached clients.
    pub fn log(&self, log: Arc<dyn LogSink>) -> Arc<dyn LogSink> {
        Arc::new(attach::Tee {
            inner: log,
            output: self.output.clone(),
        })
    }

    /// The started container's stdin (its pipe, or its terminal's input).
    pub fn set_input(&self, input: Writer) {
        if let Ok(mut slot) = self.input.try_lock() {
            *slot = Some(input);
        }
    }

    pub fn set_resize(&self, resize: Resize) {
        *self.resize.lock().unwrap_or_else(|p| p.into_inner()) = Some(resize);
    }

    /// A terminal's output: as it is to attached clients, as lines (without `\r`) to the log.
    pub async fn tty_output(&self, mut from: Reader, name: String, log: Arc<dyn LogSink>) {
        let mut buf = vec![0u8; 16 * 1024];
        let mut line = Vec::new();
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            self.output.send(Stream::Stdout, &[&buf[..n]]);
            for &b in &buf[..n] {
                if b == b'\n' {
                    let text = line.strip_suffix(b"\r").unwrap_or(&line);
                    log.line(&name, Stream::Stdout, &String::from_utf8_lossy(text));
                    line.clear();
                } else if line.len() < 16 * 1024 {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            log.partial(&name, Stream::Stdout, &String::from_utf8_lossy(&line));
        }
    }

    /// An attached client: output from now on until `ended`, its input to the container's
    /// stdin when it asks for it and the container has one.
    pub fn attach(
        &self,
        stdin: bool,
        ended: impl std::future::Future<Output = ()> + Send + 'static,
        exit: impl std::future::Future<Output = Result<i32>> + Send + 'static,
    ) -> ExecSession {
        let (stdout, stderr) = attach::readers(&self.output, self.wanted.tty, ended);
        let input = (stdin && self.wanted.stdin).then(|| {
            let (near, mut far) = tokio::io::duplex(4096);
            let (slot, once) = (self.input.clone(), self.wanted.stdin_once);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = far.read(&mut buf).await {
                    let mut to = slot.lock().await;
                    let Some(w) = to.as_mut() else { break };
                    if w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // stdinOnce: the container's stdin closes with the first client.
                if once && let Some(mut w) = slot.lock().await.take() {
                    let _ = w.shutdown().await;
                }
            });
            Box::new(near) as Writer
        });
        let resize = self
            .resize
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(|r| Box::new(move |s| r(s)) as Box<dyn Fn(TermSize) + Send + Sync>);
        ExecSession {
            stdin: input,
            stdout,
            stderr,
            resize,
            exit: Box::pin(exit),
        }
    }
}
