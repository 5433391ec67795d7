//! All pods of one `wpod run`: their addresses, names and network namespaces.
//!
//! Pods get addresses from the pod CIDR 10.88.0.0/16 (the default of containerd's CNI bridge),
//! in manifest order from 10.88.0.2; 10.88.0.1 is the node's side, where published ports and
//! hostPorts come from.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::netns::{Netns, Proto};
use super::services::Services;
use super::trace::Trace;

pub const POD_CIDR: &str = "10.88.0.0/16";
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
const FIRST_POD: u32 = u32::from_be_bytes([10, 88, 0, 2]);
const LAST_POD: u32 = u32::from_be_bytes([10, 88, 255, 254]);

#[derive(Default)]
struct Registry {
    /// Addresses handed out, by pod name (kept after the pod ends: a name keeps its address).
    addresses: HashMap<String, Ipv4Addr>,
    next: u32,
    /// Running pods.
    pods: HashMap<Ipv4Addr, Arc<Netns>>,
    /// Servers of the node reached at its address, by port.
    node_servers: Vec<(u16, mpsc::Sender<NodeConn>)>,
}

/// A connection from the pod network to a server the node runs, as a host-side stream.
pub type NodeConn = Box<dyn crate::runtime::PodStream>;

/// The node's side of the wasm pod network: what answers at 10.88.0.1.
const NODE: &str = "node";

pub struct Cluster {
    registry: Mutex<Registry>,
    pub trace: Trace,
    pub services: Arc<Services>,
}

impl Cluster {
    pub fn new(trace: Trace) -> Arc<Self> {
        Arc::new(Cluster {
            registry: Mutex::new(Registry {
                next: FIRST_POD,
                ..Default::default()
            }),
            trace,
            services: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address of a pod, assigned on first use: call it in manifest order for stable IPs.
    pub fn address_of(&self, pod: &str) -> Option<Ipv4Addr> {
        let mut r = self.lock();
        if let Some(ip) = r.addresses.get(pod) {
            return Some(*ip);
        }
        if r.next > LAST_POD {
            return None;
        }
        let ip = Ipv4Addr::from(r.next);
        r.next += 1;
        r.addresses.insert(pod.to_string(), ip);
        Some(ip)
    }

    /// Every pod name with an address so far, in address order: the pods a run declared (they
    /// are given addresses in manifest order before any starts) and those added since.
    pub fn addresses(&self) -> Vec<(String, Ipv4Addr)> {
        let mut all: Vec<(String, Ipv4Addr)> = self
            .lock()
            .addresses
            .iter()
            .map(|(pod, ip)| (pod.clone(), *ip))
            .collect();
        all.sort_by_key(|(_, ip)| *ip);
        all
    }

    /// Creates a pod's network namespace (its sandbox's network).
    pub fn create_netns(
        self: &Arc<Self>,
        pod: &str,
        dns: crate::runtime::DnsConfig,
        names: (&str, crate::runtime::HostsConfig),
    ) -> Option<Arc<Netns>> {
        let ip = self.address_of(pod)?;
        let netns = Netns::new(pod, dns, names, ip, Arc::downgrade(self));
        self.lock().pods.insert(ip, netns.clone());
        Some(netns)
    }

    /// A namespace of no cluster, for a `hostNetwork` pod whose containers use the host's sockets.
    pub fn detached_netns(
        pod: &str,
        dns: crate::runtime::DnsConfig,
        names: (&str, crate::runtime::HostsConfig),
    ) -> Arc<Netns> {
        Netns::new(
            pod,
            dns,
            names,
            std::net::Ipv4Addr::LOCALHOST,
            std::sync::Weak::new(),
        )
    }

    pub fn remove_netns(&self, ip: Ipv4Addr) {
        let removed = self.lock().pods.remove(&ip);
        if let Some(netns) = removed {
            netns.shut_down();
        }
    }

    /// Serves `port` on the node's address for the pods, as an API server's in-cluster endpoint
    /// listens on the node: each connection a pod opens to 10.88.0.1:`port` comes out of the
    /// returned channel. The wasm pod network accepts it here; the Linux backend's node namespace
    /// listens for the ports in `node_servers` when it starts.
    pub fn serve_on_node(self: &Arc<Self>, port: u16, server: &str) -> mpsc::Receiver<NodeConn> {
        let (tx, rx) = mpsc::channel(128);
        let node = {
            let mut r = self.lock();
            r.node_servers.push((port, tx.clone()));
            r.pods
                .entry(NODE_IP)
                .or_insert_with(|| {
                    let dns = crate::runtime::DnsConfig::default();
                    Netns::new(
                        NODE,
                        dns,
                        (NODE, Default::default()),
                        NODE_IP,
                        Arc::downgrade(self),
                    )
                })
                .clone()
        };
        let Ok(bound) = node.bind(Proto::Tcp, SocketAddrV4::new(NODE_IP, port), server) else {
            return rx;
        };
        let listener = node.listen(&bound, server, 1024);
        tokio::spawn(async move {
            let _bound = bound;
            loop {
                listener.wait().await;
                while let Some(conn) = listener.accept() {
                    let (near, far) = tokio::io::duplex(64 * 1024);
                    tokio::spawn(super::pipe::splice(conn.tx, conn.rx, far));
                    if tx.send(Box::new(near)).await.is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }

    /// The ports `serve_on_node` serves, with where their connections go.
    pub fn node_servers(&self) -> Vec<(u16, mpsc::Sender<NodeConn>)> {
        self.lock().node_servers.clone()
    }

    pub fn netns_at(&self, ip: Ipv4Addr) -> Option<Arc<Netns>> {
        self.lock().pods.get(&ip).cloned()
    }

    pub fn netns_named(&self, pod: &str) -> Option<Arc<Netns>> {
        let r = self.lock();
        let ip = r.addresses.get(pod)?;
        r.pods.get(ip).cloned()
    }

    /// The address of a running pod by its name or hostname.
    pub fn resolve_pod(&self, name: &str) -> Option<Ipv4Addr> {
        let r = self.lock();
        r.pods
            .values()
            .filter(|n| n.ip != NODE_IP)
            .find(|n| n.pod == name || n.hostname == name)
            .map(|n| n.ip)
    }
}
