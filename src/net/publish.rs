//! Bridges from host TCP ports into a pod's virtual network: `hostPort` and `--publish`.
//!
//! `--publish` behaves like `kubectl port-forward`: it reaches the port on the pod's own
//! `localhost`, so a server bound to 127.0.0.1 inside the pod is reachable too. A `hostPort`
//! arrives from the node (10.88.0.1) at the pod's IP, as a CNI portmap does: a server bound only to
//! 127.0.0.1 in the pod is not reachable that way.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::net::TcpStream;

use super::cluster::{Cluster, NODE_IP};
use super::netns::{Netns, Proto};
use crate::runtime::{PortMapping, Protocol};

/// A `--publish` flag: a host address forwarded to a pod's localhost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub host: SocketAddr,
    pub pod: String,
    pub container_port: u16,
}

impl std::fmt::Display for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}:{}", self.host, self.pod, self.container_port)
    }
}

/// Binds `host` now, so a busy port is an error before anything depends on it.
pub fn bind_host(host: SocketAddr) -> Result<(SocketAddr, tokio::net::TcpListener), String> {
    let listener = std::net::TcpListener::bind(host)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| {
            format!(
                "cannot publish {host}: {e}; is another program using that port? pick another host port"
            )
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot publish {host}: {e}"))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| format!("cannot publish {host}: {e}"))?;
    Ok((local, listener))
}

/// Where the connections of one listener go.
#[derive(Clone)]
enum Route {
    /// `--publish`: the named pod's localhost, whichever sandbox the pod has when one arrives.
    Forward(Mapping),
    /// A sandbox's `hostPort`: its IP, from the node.
    HostPort {
        netns: Arc<Netns>,
        container_port: u16,
    },
}

/// `--publish`: binds the host side now and forwards every connection that arrives later.
pub fn publish(cluster: &Arc<Cluster>, mapping: Mapping) -> Result<SocketAddr, String> {
    let (local, listener) = bind_host(mapping.host)?;
    drop(serve(cluster.clone(), listener, Route::Forward(mapping)));
    Ok(local)
}

/// A sandbox's `hostPort`: binds `host` now and forwards each connection to the pod's IP from
/// the node until the returned task is aborted (when the sandbox stops).
pub fn publish_host_port(
    cluster: &Arc<Cluster>,
    netns: Arc<Netns>,
    host: SocketAddr,
    container_port: u16,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (_, listener) = bind_host(host)?;
    let route = Route::HostPort {
        netns,
        container_port,
    };
    Ok(serve(cluster.clone(), listener, route))
}

/// Publishes a sandbox's TCP hostPorts with `publish`, all or none: when one cannot be bound,
/// those bound so far are closed again. Other protocols are not published.
pub fn publish_all(
    mappings: &[PortMapping],
    mut publish: impl FnMut(&PortMapping) -> Result<tokio::task::JoinHandle<()>, String>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut listeners: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    for m in mappings.iter().filter(|m| m.protocol == Protocol::Tcp) {
        match publish(m) {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                listeners.iter().for_each(|l| l.abort());
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

fn serve(
    cluster: Arc<Cluster>,
    listener: tokio::net::TcpListener,
    route: Route,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(forward(cluster.clone(), route.clone(), stream, peer));
        }
    })
}

/// Ports the node uses for its side of hostPort connections.
static NODE_PORTS: AtomicU16 = AtomicU16::new(40000);

async fn forward(cluster: Arc<Cluster>, route: Route, stream: TcpStream, peer: SocketAddr) {
    // Small writes from the guest must not wait for Nagle's algorithm on the host side.
    let _ = stream.set_nodelay(true);
    let (netns, label, _bound, from, to) = match route {
        Route::Forward(mapping) => {
            let Some(netns) = cluster.netns_named(&mapping.pod) else {
                cluster.trace.event(|| {
                    format!("host {peer} -> {mapping}: the pod is not running; connection closed")
                });
                return;
            };
            let Ok(bound) = netns.bind(
                Proto::Tcp,
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
                "port-forward",
            ) else {
                return;
            };
            let from = bound.addr;
            let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, mapping.container_port);
            let label = format!("host {peer} (port-forward)");
            (netns, label, Some(bound), from, to)
        }
        Route::HostPort {
            netns,
            container_port,
        } => {
            let port = NODE_PORTS.fetch_add(1, Ordering::Relaxed).max(40000);
            let from = SocketAddrV4::new(NODE_IP, port);
            let to = SocketAddrV4::new(netns.ip, container_port);
            let label = format!("host {peer} (hostPort)");
            (netns, label, None, from, to)
        }
    };
    let conn = match netns.connect(from, &label, to) {
        Ok((conn, server)) => {
            cluster
                .trace
                .event(|| format!("{label} {from} -> {to} ({server}) connected"));
            conn
        }
        Err(e) => {
            cluster
                .trace
                .event(|| format!("{label} {from} -> {to} refused: {e:?}"));
            return;
        }
    };
    super::pipe::splice(conn.tx, conn.rx, stream).await;
    cluster
        .trace
        .event(|| format!("{label} {from} -> {to} closed"));
}

/// Parses `[HOST_ADDR:]HOST_PORT:CONTAINER_PORT[@POD]`.
pub fn parse(spec: &str) -> Result<(SocketAddr, u16, Option<String>), String> {
    let bad = || {
        format!(
            "invalid --publish `{spec}`: use [HOST_ADDR:]HOST_PORT:CONTAINER_PORT[@POD], e.g. 8080:80"
        )
    };
    let (ports, pod) = match spec.rsplit_once('@') {
        Some((p, pod)) if !pod.is_empty() => (p, Some(pod.to_string())),
        Some(_) => return Err(bad()),
        None => (spec, None),
    };
    let (rest, container) = ports.rsplit_once(':').ok_or_else(bad)?;
    let container: u16 = container.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let (addr, host_port) = match rest.rsplit_once(':') {
        Some((addr, port)) => (addr.trim_matches(|c| c == '[' || c == ']'), port),
        None => ("127.0.0.1", rest),
    };
    let host_port: u16 = host_port.parse().map_err(|_| bad())?;
    let ip = addr.parse().map_err(|_| bad())?;
    Ok((SocketAddr::new(ip, host_port), container, pod))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let local = |p| SocketAddr::from(([127, 0, 0, 1], p));
        assert_eq!(parse("8080:80"), Ok((local(8080), 80, None)));
        assert_eq!(parse("0:80"), Ok((local(0), 80, None)));
        assert_eq!(
            parse("0.0.0.0:8080:80@web"),
            Ok((
                SocketAddr::from(([0, 0, 0, 0], 8080)),
                80,
                Some("web".into())
            ))
        );
        for bad in [
            "80",
            "x:80",
            "8080:0",
            "8080:80@",
            "1.2.3:8080:80",
            "70000:80",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
