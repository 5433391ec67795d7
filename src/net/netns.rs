//! One pod's network namespace: its address, its port space, its TCP listeners and UDP endpoints.
//!
//! Rules follow a Linux stack: a socket may bind 0.0.0.0, a loopback address or the pod's IP; two
//! bindings of one port conflict when their addresses overlap; a listener on 127.0.0.1 is reachable
//! only from inside the pod, one on 0.0.0.0 or the pod IP also from other pods.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use tokio::sync::Notify;

use super::cluster::Cluster;
use super::pipe::Pipe;
use super::services::{DNS_IP, Route};

/// Linux's default ephemeral port range.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;
/// Datagrams queued per UDP socket before new ones are dropped, as a full receive buffer does.
const UDP_QUEUE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    AddressInUse {
        holder: String,
    },
    AddressNotBindable,
    ConnectionRefused,
    RemoteUnreachable,
    /// The pod's network is gone (the pod is shutting down).
    Down,
}

struct Binding {
    proto: Proto,
    addr: SocketAddrV4,
    owner: String,
}

#[derive(Default)]
struct State {
    bindings: HashMap<u64, Binding>,
    listeners: HashMap<u64, Arc<Listener>>,
    udp: HashMap<u64, Arc<UdpEndpoint>>,
    next_id: u64,
    next_ephemeral: u16,
    down: bool,
}

pub struct Netns {
    pub pod: String,
    /// Its resolv.conf: whether names go to the cluster DNS, and through which search path.
    pub dns: crate::runtime::DnsConfig,
    pub hostname: String,
    /// Its /etc/hosts entries, which name lookups try before the cluster DNS.
    pub hosts: crate::runtime::HostsConfig,
    pub ip: Ipv4Addr,
    cluster: Weak<Cluster>,
    state: Mutex<State>,
}

/// A port held by a socket; released when dropped.
pub struct Bound {
    pub addr: SocketAddrV4,
    id: u64,
    netns: Arc<Netns>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let mut s = self.netns.lock();
        s.bindings.remove(&self.id);
        if let Some(l) = s.listeners.remove(&self.id) {
            l.close();
        }
        s.udp.remove(&self.id);
    }
}

/// A connection waiting in a listener's backlog, or just accepted.
pub struct Conn {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Bytes arriving at this end.
    pub rx: Arc<Pipe>,
    /// Bytes leaving this end.
    pub tx: Arc<Pipe>,
    /// `pod/container` of the other end, for traces.
    pub peer: String,
}

pub struct Listener {
    pub addr: SocketAddrV4,
    pub owner: String,
    backlog: Mutex<(VecDeque<Conn>, usize, bool)>,
    notify: Notify,
}

impl Listener {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Conn>, usize, bool)> {
        self.backlog.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_backlog(&self, n: usize) {
        self.lock().1 = n.max(1);
    }

    fn enqueue(&self, conn: Conn) -> Result<(), NetError> {
        let mut q = self.lock();
        if q.2 || q.0.len() >= q.1 {
            return Err(NetError::ConnectionRefused);
        }
        q.0.push_back(conn);
        drop(q);
        self.notify.notify_waiters();
        Ok(())
    }

    pub fn accept(&self) -> Option<Conn> {
        self.lock().0.pop_front()
    }

    /// Resolves once `accept` would return a connection. Cancel-safe.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                if !q.0.is_empty() || q.2 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Connections still in the backlog are reset, as when a listening socket is closed.
    fn close(&self) {
        let mut q = self.lock();
        q.2 = true;
        for c in q.0.drain(..) {
            c.rx.close_read();
            c.tx.close_write();
        }
        drop(q);
        self.notify.notify_waiters();
    }
}

pub struct UdpEndpoint {
    pub addr: SocketAddrV4,
    queue: Mutex<VecDeque<(Bytes, SocketAddrV4)>>,
    notify: Notify,
}

impl UdpEndpoint {
    pub fn receive(&self, max: usize) -> Vec<(Bytes, SocketAddrV4)> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(q.len());
        q.drain(..n).collect()
    }

    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                return;
            }
            notified.await;
        }
    }

    fn deliver(&self, data: Bytes, from: SocketAddrV4) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() < UDP_QUEUE {
            q.push_back((data, from));
            drop(q);
            self.notify.notify_waiters();
        }
    }
}

fn overlaps(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

impl Netns {
    pub(super) fn new(
        pod: &str,
        dns: crate::runtime::DnsConfig,
        (hostname, hosts): (&str, crate::runtime::HostsConfig),
        ip: Ipv4Addr,
        cluster: Weak<Cluster>,
    ) -> Arc<Self> {
        Arc::new(Netns {
            pod: pod.to_string(),
            dns,
            hostname: hostname.to_string(),
            hosts,
            ip,
            cluster,
            state: Mutex::new(State {
                next_ephemeral: *EPHEMERAL.start(),
                ..Default::default()
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cluster(&self) -> Option<Arc<Cluster>> {
        self.cluster.upgrade()
    }

    pub fn label(&self, container: &str) -> String {
        format!("{}/{container}", self.pod)
    }

    /// Whether `ip` is one of this pod's own addresses.
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || ip == self.ip
    }

    /// Claims a port; port 0 picks a free ephemeral one.
    pub fn bind(
        self: &Arc<Self>,
        proto: Proto,
        addr: SocketAddrV4,
        owner: &str,
    ) -> Result<Bound, NetError> {
        let ip = *addr.ip();
        if !(ip.is_unspecified() || self.is_local(ip)) {
            return Err(NetError::AddressNotBindable);
        }
        let mut s = self.lock();
        if s.down {
            return Err(NetError::Down);
        }
        let clash = |s: &State, port: u16| {
            s.bindings
                .values()
                .find(|b| b.proto == proto && b.addr.port() == port && overlaps(*b.addr.ip(), ip))
                .map(|b| b.owner.clone())
        };
        let port = if addr.port() == 0 {
            let span = (EPHEMERAL.end() - EPHEMERAL.start()) as u32 + 1;
            let mut found = None;
            for _ in 0..span {
                let p = s.next_ephemeral;
                s.next_ephemeral = if p == *EPHEMERAL.end() {
                    *EPHEMERAL.start()
                } else {
                    p + 1
                };
                if clash(&s, p).is_none() {
                    found = Some(p);
                    break;
                }
            }
            found.ok_or(NetError::AddressInUse {
                holder: "ephemeral ports exhausted".into(),
            })?
        } else {
            if let Some(holder) = clash(&s, addr.port()) {
                return Err(NetError::AddressInUse { holder });
            }
            addr.port()
        };
        let id = s.next_id;
        s.next_id += 1;
        let addr = SocketAddrV4::new(ip, port);
        s.bindings.insert(
            id,
            Binding {
                proto,
                addr,
                owner: owner.to_string(),
            },
        );
        Ok(Bound {
            addr,
            id,
            netns: self.clone(),
        })
    }

    pub fn listen(&self, bound: &Bound, owner: &str, backlog: usize) -> Arc<Listener> {
        let listener = Arc::new(Listener {
            addr: bound.addr,
            owner: owner.to_string(),
            backlog: Mutex::new((VecDeque::new(), backlog.max(1), false)),
            notify: Notify::new(),
        });
        self.lock().listeners.insert(bound.id, listener.clone());
        listener
    }

    pub fn udp_endpoint(&self, bound: &Bound) -> Arc<UdpEndpoint> {
        let ep = Arc::new(UdpEndpoint {
            addr: bound.addr,
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
        });
        self.lock().udp.insert(bound.id, ep.clone());
        ep
    }

    /// The source address a socket bound to `local` uses towards `remote`.
    pub fn source_for(&self, local: Ipv4Addr, remote: Ipv4Addr) -> Ipv4Addr {
        if !local.is_unspecified() {
            local
        } else if remote.is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            self.ip
        }
    }

    /// The namespace that owns `ip` as seen from this pod.
    fn route(&self, ip: Ipv4Addr) -> Result<Arc<Netns>, NetError> {
        let cluster = self.cluster().ok_or(NetError::Down)?;
        if self.is_local(ip) {
            return cluster.netns_at(self.ip).ok_or(NetError::Down);
        }
        cluster
            .netns_at(ip)
            .ok_or(if ip == super::cluster::NODE_IP {
                // The node is always there; a port of it nothing serves refuses.
                NetError::ConnectionRefused
            } else {
                NetError::RemoteUnreachable
            })
    }

    /// Where a packet to `to` goes: a Service's address becomes one of its endpoints, as
    /// kube-proxy's DNAT does, with `svc/<name> <vip> -> pod <pod> <ip:port>` for traces.
    fn translate(
        &self,
        to: SocketAddrV4,
        proto: Proto,
        client: Ipv4Addr,
    ) -> Result<(SocketAddrV4, Option<String>), NetError> {
        let Some(cluster) = self.cluster() else {
            return Ok((to, None));
        };
        match cluster.services.route(to, proto, client) {
            Route::Direct => Ok((to, None)),
            Route::NoEndpoints { .. } => Err(NetError::ConnectionRefused),
            Route::To { addr, service, pod } => {
                Ok((addr, Some(format!("{service} {to} -> pod {pod} {addr}"))))
            }
        }
    }

    fn find_listener(&self, to: SocketAddrV4) -> Option<Arc<Listener>> {
        let s = self.lock();
        let candidates = s.listeners.values().filter(|l| l.addr.port() == to.port());
        let mut wildcard = None;
        for l in candidates {
            if *l.addr.ip() == *to.ip() {
                return Some(l.clone());
            }
            if l.addr.ip().is_unspecified() {
                wildcard = Some(l.clone());
            }
        }
        wildcard
    }

    /// Opens a connection from `from` (a bound local address) to `to`: queued in the listener's
    /// backlog at once, as a kernel completes the handshake before the server calls accept.
    pub fn connect(
        &self,
        from: SocketAddrV4,
        from_label: &str,
        to: SocketAddrV4,
    ) -> Result<(Conn, String), NetError> {
        let (dest, via) = self.translate(to, Proto::Tcp, *from.ip())?;
        let target = self.route(*dest.ip())?;
        let listener = target
            .find_listener(dest)
            .ok_or(NetError::ConnectionRefused)?;
        let up = Pipe::new();
        let down = Pipe::new();
        let server_label = match via {
            Some(via) => format!("{via}, {}", target.label(&listener.owner)),
            None => target.label(&listener.owner),
        };
        listener.enqueue(Conn {
            local: dest,
            remote: from,
            rx: up.clone(),
            tx: down.clone(),
            peer: from_label.to_string(),
        })?;
        Ok((
            Conn {
                local: from,
                remote: to,
                rx: down,
                tx: up,
                peer: server_label.clone(),
            },
            server_label,
        ))
    }

    /// Sends a datagram; like UDP, one that reaches no socket is dropped without a word.
    pub fn send_udp(
        &self,
        from: SocketAddrV4,
        to: SocketAddrV4,
        data: Bytes,
    ) -> Result<(), NetError> {
        if to == SocketAddrV4::new(DNS_IP, 53)
            && let Some(cluster) = self.cluster()
        {
            // The cluster DNS answers at once, from its address, as CoreDNS behind kube-dns does.
            if let Some(reply) = super::dns::answer(&data, &cluster.services) {
                self.deliver_udp(from, Bytes::from(reply), to);
            }
            return Ok(());
        }
        let (to, _) = self.translate(to, Proto::Udp, *from.ip())?;
        let target = self.route(*to.ip())?;
        let s = target.lock();
        let mut wildcard = None;
        for ep in s.udp.values().filter(|e| e.addr.port() == to.port()) {
            if *ep.addr.ip() == *to.ip() {
                ep.deliver(data, from);
                return Ok(());
            }
            if ep.addr.ip().is_unspecified() {
                wildcard = Some(ep.clone());
            }
        }
        if let Some(ep) = wildcard {
            ep.deliver(data, from);
        }
        Ok(())
    }

    /// Hands a datagram from `source` to this namespace's socket bound to `to`.
    fn deliver_udp(&self, to: SocketAddrV4, data: Bytes, source: SocketAddrV4) {
        let s = self.lock();
        let found = s
            .udp
            .values()
            .filter(|e| e.addr.port() == to.port())
            .find(|e| overlaps(*e.addr.ip(), *to.ip()));
        if let Some(ep) = found {
            ep.deliver(data, source);
        }
    }

    /// The pod is going away: listeners close, new binds fail.
    pub(super) fn shut_down(&self) {
        let mut s = self.lock();
        s.down = true;
        for l in s.listeners.values() {
            l.close();
        }
    }
}
