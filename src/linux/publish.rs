//! `--publish` and `hostPort` on the Linux backend: a listener on the host forwards each connection
//! into the pod's network namespace through a socket the pod's pause process created there (sent
//! over a unix socket with SCM_RIGHTS), so wpod itself never enters a namespace.
//! `--publish` connects to the pod's 127.0.0.1 (like `kubectl port-forward`), a hostPort from the
//! node to the pod's IP (so a server bound only to 127.0.0.1 is not reachable that way, as with a
//! CNI portmap).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use super::{LinuxRuntime, NodeSlot, node_socket};
use crate::net::publish::Mapping;

/// One socket from a helper that makes them (the pause process, the node helper: see helper.rs),
/// asked for with `request`.
pub fn request_socket(factory: &UnixStream, request: &[u8]) -> io::Result<OwnedFd> {
    let fd = factory.as_raw_fd();
    // SAFETY: the request written from a live buffer; recvmsg fills a CMSG_SPACE-sized buffer and
    // the control message is only read when the kernel says it holds an SCM_RIGHTS fd.
    unsafe {
        if libc::write(fd, request.as_ptr().cast(), request.len()) != request.len() as isize {
            return Err(io::Error::last_os_error());
        }
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
        let mut cbuf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        if libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) != 1 || byte[0] != 1 {
            return Err(io::Error::other("the helper could not create a socket"));
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("the helper sent no socket"));
        }
        let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
        Ok(OwnedFd::from_raw_fd(raw))
    }
}

/// `--publish`: binds the host side now (a busy port is an error before any pod starts) and
/// forwards every connection that arrives later to the named pod's 127.0.0.1.
pub fn publish(runtime: &Arc<LinuxRuntime>, mapping: Mapping) -> Result<SocketAddr, String> {
    let (local, listener) = crate::net::publish::bind_host(mapping.host)?;
    let runtime = runtime.clone();
    drop(serve(listener, move || {
        let runtime = runtime.clone();
        let (pod, port) = (mapping.pod.clone(), mapping.container_port);
        async move {
            let fd = runtime.pod_socket(&pod)?;
            connect_from(fd, Ipv4Addr::LOCALHOST, port).await
        }
    }));
    Ok(local)
}

/// A sandbox's `hostPort`: binds `host` now and forwards each connection from the node's
/// namespace to the pod's IP, as a CNI portmap does, until the returned task is aborted.
pub(super) fn publish_host_port(
    node: Arc<NodeSlot>,
    ip: Ipv4Addr,
    host: SocketAddr,
    container_port: u16,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (_, listener) = crate::net::publish::bind_host(host)?;
    Ok(serve(listener, move || {
        let node = node.clone();
        async move {
            let fd = node_socket(&node).await.ok_or_else(|| {
                io::Error::other("the pod network's node helper is not running")
            })??;
            connect_from(fd, ip, container_port).await
        }
    }))
}

/// Accepts connections and joins each to one that `connect` opens inside the pod network.
fn serve<F, Fut>(listener: tokio::net::TcpListener, connect: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<tokio::net::TcpStream>> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((mut outside, _)) = listener.accept().await {
            let inside = connect();
            tokio::spawn(async move {
                let Ok(mut inside) = inside.await else {
                    return;
                };
                let _ = outside.set_nodelay(true);
                let _ = inside.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
            });
        }
    })
}

/// Connects a socket the pod's pause process made (so it lives in the pod's network namespace).
pub async fn connect_from(
    fd: OwnedFd,
    ip: Ipv4Addr,
    port: u16,
) -> io::Result<tokio::net::TcpStream> {
    let std_stream = std::net::TcpStream::from(fd);
    std_stream.set_nonblocking(true)?;
    let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    socket
        .connect(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        .await
}
