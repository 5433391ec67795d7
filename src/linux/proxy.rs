//! kube-proxy and the cluster DNS on the Linux backend, in the node's network namespace, so a
//! pod reaches Services as it does on the wasm backend.
//!
//! Service traffic is DNATed by the kernel (nft.rs). With `--trace-net`, or without `nft`, it
//! goes through this proxy instead: the Service range is a local route there (the node helper
//! adds it with the bridge), the proxy binds a listener on each ClusterIP:port that has a ready
//! endpoint (and on the node's address at its `nodePort`), as kube-proxy's userspace mode did,
//! and forwards each connection from the node to
//! the endpoint the Service table picks (round-robin, ClientIP affinity). A port without a ready
//! endpoint has no listener and refuses, as kube-proxy's REJECT rule makes it. The backend sees
//! the node's address (10.88.0.1) as the client's, as with kube-proxy's masquerading. The DNS
//! server answers on the kube-dns address from the same table.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::publish::{connect_from, request_socket};
use super::{NodeSlot, helper, nft, node_call_with, node_socket};
use crate::net::Cluster;
use crate::net::cluster::{NODE_IP, NodeConn};
use crate::net::netns::Proto;
use crate::net::services::{DNS_IP, Route};

/// Starts the cluster DNS on a UDP socket of the node's network (`dns`, bound before the first
/// pod starts, so its first lookup finds it), then keeps the node's Service data path in step
/// with the Service table for as long as the node helper lives: the kernel's nftables rules,
/// or this proxy when `--trace-net` asks to see each connection or `nft` is missing.
pub async fn run(
    node: Arc<NodeSlot>,
    cluster: Arc<Cluster>,
    dns: std::io::Result<tokio::net::UdpSocket>,
) {
    match dns {
        Ok(socket) => {
            tokio::spawn(serve_dns(socket, cluster.clone()));
        }
        Err(e) => eprintln!("warning: the cluster DNS cannot listen on {DNS_IP}:53: {e}"),
    }
    for (port, to) in cluster.node_servers() {
        let addr = SocketAddrV4::new(NODE_IP, port);
        match listen(&node, addr).await {
            Ok(listener) => {
                tokio::spawn(hand_over(listener, to));
            }
            Err(e) => eprintln!("warning: the node cannot listen on {addr} for the pods: {e}"),
        }
    }
    if !cluster.trace.verbose() {
        match kernel(&node, &cluster).await {
            Ok(()) => return,
            Err(e) => eprintln!(
                "warning: Services go through wpod's userspace proxy, slower than kube-proxy's \
                 kernel rules: {e:#} (install nftables for them)"
            ),
        }
    }
    userspace(node, cluster).await;
}

/// Programs the kernel's rules at every change of the Service table. Err when the first
/// programming fails (no `nft`), so the proxy takes over before any pod has used a Service.
async fn kernel(node: &NodeSlot, cluster: &Cluster) -> anyhow::Result<()> {
    let mut changes = cluster.services.subscribe();
    let mut first = true;
    loop {
        changes.borrow_and_update();
        let generation = cluster.services.generation();
        let rules = nft::ruleset(&cluster.services.all());
        let applied = {
            let mut guard = node.lock().await;
            let Some(node) = guard.as_mut() else {
                return Ok(());
            };
            node_call_with(node, format!("nft {}", rules.len()), rules.as_bytes()).await
        };
        match applied {
            Ok(()) => cluster.services.applied(generation),
            Err(e) if first => return Err(e),
            // The old rules stay; the next change tries again.
            Err(e) => eprintln!("warning: updating the Service rules: {e:#}"),
        }
        first = false;
        if changes.changed().await.is_err() {
            return Ok(());
        }
    }
}

/// kube-proxy's userspace mode: a listener on each ClusterIP:port with a ready endpoint.
async fn userspace(node: Arc<NodeSlot>, cluster: Arc<Cluster>) {
    let mut changes = cluster.services.subscribe();
    let mut listeners: HashMap<SocketAddrV4, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let wanted = cluster.services.served_tcp();
        listeners.retain(|addr, task| {
            let keep = wanted.contains(addr) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for addr in wanted {
            if listeners.contains_key(&addr) {
                continue;
            }
            match listen(&node, addr).await {
                Ok(listener) => {
                    let task = tokio::spawn(forward(listener, node.clone(), cluster.clone()));
                    listeners.insert(addr, task);
                }
                Err(e) => eprintln!("warning: the Service proxy cannot listen on {addr}: {e}"),
            }
        }
        if changes.changed().await.is_err() {
            break;
        }
    }
    for (_, task) in listeners {
        task.abort();
    }
}

/// The DNS server's socket: UDP in the node's network, bound to the kube-dns address.
pub fn dns_socket(
    control: &std::os::unix::net::UnixStream,
) -> std::io::Result<tokio::net::UdpSocket> {
    bind_dns(request_socket(control, helper::UDP_SOCKET_REQUEST)?)
}

async fn listen(node: &NodeSlot, addr: SocketAddrV4) -> std::io::Result<tokio::net::TcpListener> {
    let fd = node_socket(node)
        .await
        .unwrap_or_else(|| Err(std::io::Error::other("the node helper is gone")))?;
    let stream = std::net::TcpStream::from(fd);
    stream.set_nonblocking(true)?;
    let socket = tokio::net::TcpSocket::from_std_stream(stream);
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::V4(addr))?;
    socket.listen(1024)
}

async fn forward(listener: tokio::net::TcpListener, node: Arc<NodeSlot>, cluster: Arc<Cluster>) {
    loop {
        let Ok((mut client, peer)) = listener.accept().await else {
            return;
        };
        let (Ok(SocketAddr::V4(vip)), SocketAddr::V4(peer)) = (client.local_addr(), peer) else {
            continue;
        };
        let (node, cluster) = (node.clone(), cluster.clone());
        tokio::spawn(async move {
            let Route::To { addr, service, pod } =
                cluster.services.route(vip, Proto::Tcp, *peer.ip())
            else {
                return;
            };
            let connected = match node_socket(&node).await {
                Some(Ok(fd)) => connect_from(fd, *addr.ip(), addr.port()).await,
                Some(Err(e)) => Err(e),
                None => return,
            };
            let trace = &cluster.trace;
            match connected {
                Ok(mut backend) => {
                    trace.event(|| {
                        format!("{peer} -> {service} {vip} -> pod {pod} {addr} connected")
                    });
                    let _ = client.set_nodelay(true);
                    let _ = backend.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
                }
                Err(e) => trace
                    .event(|| format!("{peer} -> {service} {vip} -> pod {pod} {addr} failed: {e}")),
            }
        });
    }
}

/// Gives each connection to a node server (the API server) to it.
async fn hand_over(listener: tokio::net::TcpListener, to: tokio::sync::mpsc::Sender<NodeConn>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        if to.send(Box::new(stream)).await.is_err() {
            return;
        }
    }
}

fn bind_dns(fd: OwnedFd) -> std::io::Result<tokio::net::UdpSocket> {
    bind_udp(&fd, SocketAddrV4::new(DNS_IP, 53))?;
    let std_socket = std::net::UdpSocket::from(fd);
    std_socket.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(std_socket)
}

async fn serve_dns(socket: tokio::net::UdpSocket, cluster: Arc<Cluster>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        if let Some(reply) = crate::net::dns::answer(&buf[..n], &cluster.services) {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// Binds a UDP socket made elsewhere (std only binds the sockets it makes itself).
fn bind_udp(fd: &OwnedFd, addr: SocketAddrV4) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: binding a live socket to a sockaddr_in of the size passed.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sin).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
