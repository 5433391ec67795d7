//! A wasm container's console: what its main process reads and writes when the container has
//! `stdin: true` or `tty: true`, and what `kubectl attach` connects to.
//!
//! With `tty`, the main process gets a terminal (the same line discipline as `exec -it`); its
//! output goes to the log (lines, `\r` dropped) and to attached clients as it is. With `stdin`
//! alone, it reads a pipe that attached clients write; `stdinOnce` closes the pipe when the
//! first client detaches, as the CRI does.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::engine::MainIo;
use super::process::stdio::{self, Input, Output, PipeOut, ReadEnd, Stdio, WriteEnd};
use super::process::table::{PidNamespace, Process};
use super::process::tty::Terminal;
use super::stdio::LogStream;
use crate::net::pipe::Read;
use crate::runtime::attach::{self, Console as Wanted};
use crate::runtime::stream::Writer;
use crate::runtime::{ExecSession, LogSink, Result, Stream, TermSize};

pub struct Console {
    pub wanted: Wanted,
    pub output: attach::Output,
    /// The main process's stdin pipe (`stdin` without `tty`), until `stdinOnce` closes it.
    stdin: Mutex<Option<Arc<WriteEnd>>>,
    terminal: Option<Arc<Terminal>>,
}

impl Console {
    pub fn new(wanted: Wanted) -> Self {
        Console {
            wanted,
            output: attach::Output::new(),
            stdin: Mutex::new(None),
            terminal: wanted.tty.then(|| {
                Terminal::new(TermSize {
                    width: 80,
                    height: 24,
                })
            }),
        }
    }

    /// The log sink of the main process: the container's, copied to attached clients.
    pub fn log(&self, log: Arc<dyn LogSink>) -> Arc<dyn LogSink> {
        Arc::new(attach::Tee {
            inner: log,
            output: self.output.clone(),
        })
    }

    /// The main process's streams.
    pub fn main_io(&self) -> MainIo {
        if let Some(t) = &self.terminal {
            return MainIo::Tty(Stdio {
                stdin: Input::Tty(t.clone()),
                stdout: Output::Tty(t.clone()),
                stderr: Output::Tty(t.clone()),
            });
        }
        if !self.wanted.stdin {
            return MainIo::Log;
        }
        let (r, w) = stdio::pipe();
        *self.stdin.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
        MainIo::Stdin(Input::Pipe(r))
    }

    /// Once the main process runs: the terminal's session, and its output to the log and to
    /// attached clients until the process ends (the returned task: the container has ended
    /// once it has, so an attached client gets the last of the output).
    pub fn started(
        &self,
        process: &Arc<Process>,
        pids: Arc<PidNamespace>,
        log: LogStream,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let t = self.terminal.clone()?;
        t.set_session(pids, process.pid);
        let (process, output) = (process.clone(), self.output.clone());
        Some(tokio::spawn(async move {
            let out = ReadEnd::of(t.output().clone());
            let exited = process.exited();
            tokio::pin!(exited);
            let mut ending = false;
            loop {
                if !ending {
                    tokio::select! {
                        () = out.pipe().wait_readable() => {}
                        _ = &mut exited => ending = true,
                    }
                }
                match out.pipe().read(stdio::PIPE_BUF) {
                    Read::Data(b) => {
                        let mut log = log.clone();
                        let _ = log.write_all(&b).await;
                        output.send(Stream::Stdout, &[&b]);
                    }
                    Read::Empty if ending => break,
                    Read::Empty => {}
                    Read::Eof => break,
                }
            }
            log.flush_partial();
        }))
    }

    /// An attached client: the output from now on, its keys or bytes to the main process when
    /// it asks for stdin and the container has it.
    pub fn attach(
        &self,
        stdin: bool,
        ended: impl std::future::Future<Output = ()> + Send + 'static,
        exit: impl std::future::Future<Output = Result<i32>> + Send + 'static,
    ) -> ExecSession {
        let (stdout, stderr) = attach::readers(&self.output, self.wanted.tty, ended);
        let once = self.wanted.stdin_once;
        let input: Option<Writer> = match (&self.terminal, stdin && self.wanted.stdin) {
            (_, false) => None,
            (Some(t), true) => {
                let t = t.clone();
                let (near, mut far) = tokio::io::duplex(4096);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n @ 1..) = far.read(&mut buf).await {
                        t.type_keys(&buf[..n]);
                    }
                    if once {
                        t.hang_up();
                    }
                });
                Some(Box::new(near))
            }
            (None, true) => {
                let pipe = self.stdin.lock().unwrap_or_else(|p| p.into_inner()).clone();
                pipe.map(|pipe| {
                    let (near, far) = tokio::io::duplex(4096);
                    let slot = if once {
                        self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take()
                    } else {
                        None
                    };
                    tokio::spawn(async move {
                        stdio::copy_in(far, Box::new(PipeOut(pipe))).await;
                        // stdinOnce: the pipe's last writer goes with the first client.
                        drop(slot);
                    });
                    Box::new(near) as Writer
                })
            }
        };
        let resize = self
            .terminal
            .clone()
            .map(|t| Box::new(move |size| t.resize(size)) as Box<dyn Fn(TermSize) + Send + Sync>);
        ExecSession {
            stdin: input,
            stdout,
            stderr,
            resize,
            exit: Box::pin(exit),
        }
    }
}
