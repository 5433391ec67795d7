//! A process's stdin, stdout and stderr: the container's log, nothing, or one end of a pipe.
//!
//! A pipe end closes when its last holder is gone (the process's WASI context and any stream
//! it opened on it), as a file descriptor closes when the last process holding it exits: the
//! reader then sees EOF, the writer EPIPE.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

use super::tty::{Terminal, TtyIn, TtyOut};
use crate::net::pipe::{Pipe, Read, Room};
use crate::wasm::stdio::LogStream;

/// As a Linux pipe holds: a writer waits once this much is unread.
pub const PIPE_BUF: usize = 64 * 1024;

pub struct ReadEnd(Arc<Pipe>);
pub struct WriteEnd(Arc<Pipe>);

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.0.close_read();
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.0.close_write();
    }
}

impl ReadEnd {
    /// The reading end of `pipe`, for the host.
    pub fn of(pipe: Arc<Pipe>) -> Arc<ReadEnd> {
        Arc::new(ReadEnd(pipe))
    }

    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

/// A new pipe's two ends.
pub fn pipe() -> (Arc<ReadEnd>, Arc<WriteEnd>) {
    let p = Pipe::with_window(PIPE_BUF);
    (Arc::new(ReadEnd(p.clone())), Arc::new(WriteEnd(p)))
}

#[derive(Clone)]
pub enum Input {
    Null,
    Pipe(Arc<ReadEnd>),
    Tty(Arc<Terminal>),
}

#[derive(Clone)]
pub enum Output {
    Null,
    Log(LogStream),
    Pipe(Arc<WriteEnd>),
    Tty(Arc<Terminal>),
}

#[derive(Clone)]
pub struct Stdio {
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
}

/// A wasi:io input stream reading a pipe.
pub struct PipeIn(pub Arc<ReadEnd>);
/// A wasi:io output stream writing a pipe.
pub struct PipeOut(pub Arc<WriteEnd>);

#[async_trait::async_trait]
impl Pollable for PipeIn {
    async fn ready(&mut self) {
        self.0.0.wait_readable().await;
    }
}

impl InputStream for PipeIn {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.0.read(size) {
            Read::Data(b) => Ok(b),
            Read::Empty => Ok(Bytes::new()),
            Read::Eof => Err(StreamError::Closed),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for PipeOut {
    async fn ready(&mut self) {
        self.0.0.wait_writable().await;
    }
}

impl OutputStream for PipeOut {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        match self.0.0.write(bytes) {
            Room::Bytes(_) => Ok(()),
            // The reader is gone: EPIPE.
            Room::Closed | Room::Reset => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.0.0.room() {
            Room::Bytes(n) => Ok(n),
            Room::Closed | Room::Reset => Err(StreamError::Closed),
        }
    }
}

impl IsTerminal for Input {
    fn is_terminal(&self) -> bool {
        matches!(self, Input::Tty(_))
    }
}

impl IsTerminal for Output {
    fn is_terminal(&self) -> bool {
        matches!(self, Output::Tty(_))
    }
}

impl StdinStream for Input {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        match self {
            Input::Null => StdinStream::p2_stream(&tokio::io::empty()),
            Input::Pipe(end) => Box::new(PipeIn(end.clone())),
            Input::Tty(t) => Box::new(TtyIn(t.clone())),
        }
    }

    /// For core modules (WASI p1), which read through tokio's traits: a task copies the stream.
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        if matches!(self, Input::Null) {
            return Box::new(tokio::io::empty());
        }
        let (near, far) = tokio::io::duplex(PIPE_BUF);
        tokio::spawn(copy_out(self.p2_stream(), far, std::future::pending()));
        Box::new(near)
    }
}

impl StdoutStream for Output {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        match self {
            Output::Null => StdoutStream::p2_stream(&tokio::io::empty()),
            Output::Log(log) => log.p2_stream(),
            Output::Pipe(end) => Box::new(PipeOut(end.clone())),
            Output::Tty(t) => Box::new(TtyOut(t.clone())),
        }
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        match self {
            Output::Null => Box::new(tokio::io::empty()),
            Output::Log(log) => log.async_stream(),
            Output::Pipe(_) | Output::Tty(_) => {
                let (near, far) = tokio::io::duplex(PIPE_BUF);
                tokio::spawn(copy_in(far, self.p2_stream()));
                Box::new(near)
            }
        }
    }
}

/// Copies what a guest-side stream gives to `to` until its EOF, or until `until` resolves and
/// what it held then is written: an exec's output ends with its process, even while a child
/// it left behind still holds the stream.
pub async fn copy_out(
    mut from: Box<dyn InputStream>,
    mut to: impl AsyncWrite + Unpin,
    until: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(until);
    let mut ending = false;
    loop {
        if !ending {
            tokio::select! {
                () = from.ready() => {}
                () = &mut until => ending = true,
            }
        }
        match from.read(PIPE_BUF) {
            Ok(b) if b.is_empty() && ending => break,
            Ok(b) if b.is_empty() => {}
            Ok(b) => {
                if to.write_all(&b).await.is_err() {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    let _ = to.shutdown().await;
}

/// Copies `from` into a guest-side stream until `from` ends (then the guest reads EOF once
/// `to` and every other holder of its pipe are gone) or the guest stops reading.
pub async fn copy_in(mut from: impl AsyncRead + Unpin, mut to: Box<dyn OutputStream>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let mut data = Bytes::copy_from_slice(&buf[..n]);
        while !data.is_empty() {
            match to.check_write() {
                Ok(0) => to.ready().await,
                Ok(room) => {
                    if to.write(data.split_to(room.min(data.len()))).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_gives_eof_when_its_writers_are_gone_and_epipe_when_its_readers_are() {
        let (r, w) = pipe();
        let mut out = PipeOut(w.clone());
        let mut inp = PipeIn(r.clone());
        assert_eq!(out.check_write().ok(), Some(PIPE_BUF));
        assert!(out.write(Bytes::from_static(b"hi")).is_ok());
        drop((out, w));
        assert_eq!(inp.read(10).ok(), Some(Bytes::from_static(b"hi")));
        assert!(matches!(inp.read(10), Err(StreamError::Closed)));

        let (r, w) = pipe();
        drop(r);
        let mut out = PipeOut(w);
        assert!(matches!(out.check_write(), Err(StreamError::Closed)));
    }
}
