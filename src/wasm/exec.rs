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

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Guest, Program, Role, WasmEngine};
use crate::net::cluster::NODE_IP;
use crate::net::netns::{NetError, Netns};
use crate::net::pipe::{Read as PipeRead, Room as PipeRoom};
use crate::runtime::{
    ExecResult, LogSink, MAX_EXEC_OUTPUT, PodStream, Result, RuntimeError, Stream,
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
        role: Role::Exec,
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
    let source = PROBE_PORTS.fetch_add(1, Ordering::Relaxed);
    let source = 50000 + source % 10000;
    let from = SocketAddrV4::new(NODE_IP, source);
    let to = SocketAddrV4::new(netns.ip, port);
    let (conn, _) = netns.connect(from, "kubelet", to).map_err(|e| match e {
        NetError::ConnectionRefused => RuntimeError::Refused,
        other => anyhow::anyhow!("connecting to {to}: {other:?}").into(),
    })?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (mut far_rx, mut far_tx) = tokio::io::split(far);
    let (to_pod, from_pod) = (conn.tx, conn.rx);
    tokio::spawn(async move {
        let upstream = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match far_rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut data = Bytes::copy_from_slice(&buf[..n]);
                        while !data.is_empty() {
                            match to_pod.room() {
                                PipeRoom::Bytes(0) => to_pod.wait_writable().await,
                                PipeRoom::Bytes(room) => {
                                    let chunk = data.split_to(room.min(data.len()));
                                    to_pod.write(chunk);
                                }
                                PipeRoom::Closed | PipeRoom::Reset => return,
                            }
                        }
                    }
                }
            }
            to_pod.close_write();
        };
        let downstream = async {
            loop {
                from_pod.wait_readable().await;
                match from_pod.read(usize::MAX) {
                    PipeRead::Data(b) => {
                        if far_tx.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    PipeRead::Empty => {}
                    PipeRead::Eof => break,
                }
            }
            from_pod.close_read();
            let _ = far_tx.shutdown().await;
        };
        tokio::join!(upstream, downstream);
    });
    Ok(Box::new(near))
}
