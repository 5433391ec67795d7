//! Streaming calls of the seam: an exec whose streams stay open (CRI's Exec, behind `kubectl exec`
//! and `kubectl cp`) and a connection to a port on the pod's localhost (CRI's PortForward).

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use super::Result;

/// A terminal's size in characters, as kubectl's resize messages carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct TermSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// What to run and which streams to give it (CRI's ExecRequest).
#[derive(Clone, Debug)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// The command reads what the caller sends; without it, its stdin is empty.
    pub stdin: bool,
    /// A terminal: stdout and stderr are one stream, the terminal's line discipline echoes and
    /// edits input and turns ^C into SIGINT for the command.
    pub tty: bool,
}

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A running exec: its streams, its terminal's size and its end.
pub struct ExecSession {
    /// None unless the request asked for stdin. Shutting it down is EOF for the command.
    pub stdin: Option<Writer>,
    /// With a terminal, everything the command writes.
    pub stdout: Reader,
    /// None with a terminal.
    pub stderr: Option<Reader>,
    /// Sets the terminal's size (the command sees SIGWINCH); None without a terminal.
    pub resize: Option<Box<dyn Fn(TermSize) + Send + Sync>>,
    /// The command's exit code once it (and everything it writes to its streams) is done.
    pub exit: Pin<Box<dyn Future<Output = Result<i32>> + Send>>,
}
