//! What the kubelet's probes and lifecycle hooks need from the wasm backend: running a command in a
//! container's context (CRI ExecSync) and connecting from the node into the pod network.
//!
//! A wasm image is one program, so an exec is a fresh instance of the container's program with the
//! exec's argv (multi-call images pick the applet from argv[0]) and everything else of the
//! container: its env, its root file system directory and mounts, its pod network.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use super::process::stdio::{self, Input, Output, PipeIn, PipeOut, ReadEnd, Stdio};
use super::process::tty::Terminal;
use super::{Guest, Program, Role, WasmEngine};
use crate::net::cluster::NODE_IP;
use crate::net::netns::{NetError, Netns};
use crate::runtime::{
    ExecRequest, ExecResult, ExecSession, LogSink, MAX_EXEC_OUTPUT, PodStream, Result,
    RuntimeError, Stream, TermSize,
};

/// Collects an exec's output instead of sending it to the pod's log.
#[derive(Default)]
struct Capture {
    stdout: Mutex<Vec<u8>>,
    stderr: Mutex<Vec<u8>>,
}

impl LogSink for Capture {
    fn line(&self, _container: &str, stream: Stream, line: &str) {
        let buf = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        };
        let mut buf = buf.lock().unwrap_or_else(|p| p.into_inner());
        if buf.len() < MAX_EXEC_OUTPUT {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            buf.truncate(MAX_EXEC_OUTPUT);
        }
    }
}

/// Runs `program` (the container's own, or the toolbox standing in for the image's shell) with
/// `argv` in the context of a container (`guest`).
pub(super) async fn exec_sync(
    engine: &WasmEngine,
    program: Program,
    guest: Guest,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecResult> {
    let capture = Arc::new(Capture::default());
    let guest = Guest {
        argv: argv.to_vec(),
        log: capture.clone(),
        role: Role::Exec(None),
        ..guest
    };
    let pids = guest.pids.clone();
    let process = guest
        .new_process(false)
        .ok_or_else(|| anyhow::anyhow!("the container's PID namespace is full"))?;
    let run = engine.run(program, guest, process.clone());
    // Dropping the guest's future on timeout drops its Store: the instance is gone at once.
    let Ok(status) = tokio::time::timeout(timeout, run).await else {
        pids.exit(&process, 137);
        return Err(RuntimeError::Timeout(timeout));
    };
    let take =
        |m: &Mutex<Vec<u8>>| std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(ExecResult {
        exit_code: status.code,
        stdout: take(&capture.stdout),
        stderr: take(&capture.stderr),
    })
}

/// A terminal's size until the client says otherwise (a Linux pty starts at 0x0; wpod picks
/// the classic 80x24 so that guests reading COLUMNS and LINES get something usable).
const DEFAULT_SIZE: TermSize = TermSize {
    width: 80,
    height: 24,
};

/// How long a terminal's command waits for the client's size before it starts with 80x24.
const FIRST_SIZE: Duration = Duration::from_millis(200);

/// Starts `program` with `req.argv` in the context of a container with its streams connected to
/// the caller (`kubectl exec`): pipes, or a terminal with its line discipline.
pub(super) fn exec_stream(
    engine: &WasmEngine,
    program: Program,
    guest: Guest,
    req: ExecRequest,
) -> Result<ExecSession> {
    let terminal = req.tty.then(|| Terminal::new(DEFAULT_SIZE));
    let (near_in, far_in) = tokio::io::duplex(stdio::PIPE_BUF);
    let (near_out, far_out) = tokio::io::duplex(stdio::PIPE_BUF);
    let (stdio, stdin_pipe, out_pipe, err_pipe) = match &terminal {
        Some(t) => {
            let stdio = Stdio {
                stdin: Input::Tty(t.clone()),
                stdout: Output::Tty(t.clone()),
                stderr: Output::Tty(t.clone()),
            };
            (stdio, None, ReadEnd::of(t.output().clone()), None)
        }
        None => {
            let (out_r, out_w) = stdio::pipe();
            let (err_r, err_w) = stdio::pipe();
            let (stdin, stdin_pipe) = if req.stdin {
                let (r, w) = stdio::pipe();
                (Input::Pipe(r), Some(w))
            } else {
                (Input::Null, None)
            };
            let stdio = Stdio {
                stdin,
                stdout: Output::Pipe(out_w),
                stderr: Output::Pipe(err_w),
            };
            (stdio, stdin_pipe, out_r, Some(err_r))
        }
    };
    let mut guest = Guest {
        argv: req.argv,
        role: Role::Exec(Some(stdio)),
        ..guest
    };
    let process = guest
        .new_process(false)
        .ok_or_else(|| anyhow::anyhow!("the container's PID namespace is full"))?;
    if let Some(t) = &terminal {
        t.set_session(guest.pids.clone(), process.pid);
    }
    let (runner, started, sizing) = (engine.runner(), process.clone(), terminal.clone());
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        if let Some(t) = sizing {
            // kubectl tells the size right after the upgrade: the command starts knowing it.
            let _ = tokio::time::timeout(FIRST_SIZE, t.sized()).await;
            let size = t.size();
            guest.env.retain(|(k, _)| k != "COLUMNS" && k != "LINES");
            guest.env.push(("COLUMNS".into(), size.width.to_string()));
            guest.env.push(("LINES".into(), size.height.to_string()));
        }
        let status = runner.run(program, guest, started).await;
        let _ = done_tx.send(Some(status.code));
    });
    let ended = |mut rx: tokio::sync::watch::Receiver<Option<i32>>| async move {
        let _ = rx.wait_for(Option::is_some).await;
    };
    // The command's input: the terminal's keyboard, or a pipe.
    let stdin = match (&terminal, stdin_pipe) {
        (Some(t), _) if req.stdin => {
            let t = t.clone();
            tokio::spawn(async move {
                let mut far_in = far_in;
                let mut buf = vec![0u8; 4096];
                while let Ok(n @ 1..) = far_in.read(&mut buf).await {
                    t.type_keys(&buf[..n]);
                }
                t.hang_up();
            });
            Some(near_in)
        }
        (_, Some(pipe)) => {
            tokio::spawn(stdio::copy_in(far_in, Box::new(PipeOut(pipe))));
            Some(near_in)
        }
        _ => None,
    };
    tokio::spawn(stdio::copy_out(
        Box::new(PipeIn(out_pipe)),
        far_out,
        ended(done_rx.clone()),
    ));
    let stderr = err_pipe.map(|pipe| {
        let (near, far) = tokio::io::duplex(stdio::PIPE_BUF);
        tokio::spawn(stdio::copy_out(
            Box::new(PipeIn(pipe)),
            far,
            ended(done_rx.clone()),
        ));
        Box::new(near) as crate::runtime::stream::Reader
    });
    let resize = terminal
        .map(|t| Box::new(move |size| t.resize(size)) as Box<dyn Fn(TermSize) + Send + Sync>);
    let mut done = done_rx;
    // Made here, not in the future: a future dropped before its first poll must kill too.
    let kill = KillOnDrop(process);
    Ok(ExecSession {
        stdin: stdin.map(|s| Box::new(s) as crate::runtime::stream::Writer),
        stdout: Box::new(near_out),
        stderr,
        resize,
        exit: Box::pin(async move {
            let _kill = kill;
            let code = done
                .wait_for(Option::is_some)
                .await
                .map(|c| c.unwrap_or(137));
            Ok(code.unwrap_or(137))
        }),
    })
}

/// Kills the exec's process if its session is dropped before the process ended (the client
/// went away), as the Linux backend's exec helper dies with its handle.
struct KillOnDrop(Arc<super::Process>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.running() {
            self.0.kill(super::process::signals::SIGKILL);
        }
    }
}

/// Source ports the node uses for its probe connections.
static PROBE_PORTS: AtomicU16 = AtomicU16::new(50000);

/// Connects from the node (10.88.0.1) to `port` on the pod's IP and hands back one end of an
/// in-process duplex stream bridged to the virtual connection.
pub(super) async fn dial(
    netns: &Arc<Netns>,
    host_network: bool,
    port: u16,
) -> Result<Box<dyn PodStream>> {
    if host_network {
        // A hostNetwork pod listens on the machine's own sockets.
        let connected = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await;
        return crate::runtime::dialed(port, connected);
    }
    let from = SocketAddrV4::new(NODE_IP, source_port());
    let to = SocketAddrV4::new(netns.ip, port);
    bridge(netns, from, "kubelet", to)
}

fn source_port() -> u16 {
    50000 + PROBE_PORTS.fetch_add(1, Ordering::Relaxed) % 10000
}

/// Connects to `port` on the pod's own 127.0.0.1, as the kubelet's port forwarding enters the
/// pod's network namespace and dials localhost there.
pub(super) async fn dial_localhost(
    netns: &Arc<Netns>,
    host_network: bool,
    port: u16,
) -> Result<Box<dyn PodStream>> {
    if host_network {
        return dial(netns, true, port).await;
    }
    let from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, source_port());
    let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    bridge(netns, from, "port-forward", to)
}

/// A virtual connection from `from` (named `who` in traces) to `to`, bridged to one end of an
/// in-process duplex stream.
fn bridge(
    netns: &Arc<Netns>,
    from: SocketAddrV4,
    who: &str,
    to: SocketAddrV4,
) -> Result<Box<dyn PodStream>> {
    let (conn, _) = netns.connect(from, who, to).map_err(|e| match e {
        NetError::ConnectionRefused => RuntimeError::Refused,
        other => anyhow::anyhow!("connecting to {to}: {other:?}").into(),
    })?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    tokio::spawn(crate::net::pipe::splice(conn.tx, conn.rx, far));
    Ok(Box::new(near))
}
