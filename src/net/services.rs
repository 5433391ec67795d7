//! Services as the node's proxy and DNS see them: each Service's virtual address and ports, the
//! pod endpoints behind it (from its EndpointSlices), which endpoint a new connection goes to
//! (kube-proxy's per-connection balancing and `sessionAffinity: ClientIP`), the cluster DNS names
//! (`<svc>.<ns>.svc.cluster.local`, pod records) and the environment variables the kubelet gives
//! each container.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::netns::Proto;

pub use crate::manifest::{SERVICE_CIDR, is_service_ip, service_ip};
/// `default/kubernetes`, the API server's Service, has the first address of the range.
pub const KUBERNETES_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// The cluster DNS Service (`kube-system/kube-dns`), as kubeadm places it.
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const CLUSTER_DOMAIN: &str = "cluster.local";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Proto,
    pub node_port: Option<u16>,
}

/// One pod behind a Service: its address, whether it is Ready, and the port it serves each of
/// the Service's ports on (by index; None where a named targetPort is not declared by the pod).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub pod: String,
    pub ready: bool,
    /// `hostname` of a pod whose `subdomain` is this (headless) Service.
    pub hostname: Option<String>,
    pub targets: Vec<Option<u16>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// None for a headless Service (`clusterIP: None`) and an ExternalName one.
    pub cluster_ip: Option<Ipv4Addr>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
    /// `sessionAffinity: ClientIP` with its timeout.
    pub affinity: Option<Duration>,
    pub external_name: Option<String>,
}

impl Service {
    fn ready(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.ready)
    }
}

/// Where a connection to a Service address goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Not a Service's address and port: the connection goes where it was sent.
    Direct,
    /// A Service port without a Ready endpoint: refused, as kube-proxy's REJECT rule does.
    NoEndpoints { service: String },
    To {
        addr: SocketAddrV4,
        /// `svc/<name>`, for traces.
        service: String,
        pod: String,
    },
}

#[derive(Default)]
struct Table {
    services: BTreeMap<(String, String), Service>,
    by_ip: HashMap<Ipv4Addr, (String, String)>,
    /// The next endpoint of each (service, port) in turn.
    turns: HashMap<(Ipv4Addr, u16), usize>,
    /// ClientIP affinity: (service ip, client) -> (endpoint ip, last used).
    sticky: HashMap<(Ipv4Addr, Ipv4Addr), (Ipv4Addr, Instant)>,
    /// Pods being deleted: never ready again, whatever their last status said.
    terminating: std::collections::HashSet<(String, String)>,
}

pub struct Services {
    table: Mutex<Table>,
    /// Counts changes, for a proxy that follows them (the Linux backend's).
    changes: tokio::sync::watch::Sender<u64>,
    /// The change count the kernel's rules reflect, once a proxy programs them (None: the
    /// table itself routes every connection, nothing lags behind it).
    applied: tokio::sync::watch::Sender<Option<u64>>,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            table: Mutex::default(),
            changes: tokio::sync::watch::channel(0).0,
            applied: tokio::sync::watch::channel(None).0,
        }
    }
}

impl Services {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes when a Service or its endpoints change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The change count now, for a proxy about to apply the table.
    pub fn generation(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Says the kernel's rules now reflect change `generation`.
    pub fn applied(&self, generation: u64) {
        self.applied.send_replace(Some(generation));
    }

    /// Waits (a second at most) until the kernel's rules reflect every change so far, so that
    /// a pod taken out of its Services gets no new connection once its TERM is sent.
    pub async fn settled(&self) {
        let now = self.generation();
        let mut applied = self.applied.subscribe();
        let caught_up = applied.wait_for(|a| a.is_none_or(|a| a >= now));
        let _ = tokio::time::timeout(Duration::from_secs(1), caught_up).await;
    }

    /// Adds or replaces a Service with its endpoints.
    pub fn set(&self, mut service: Service) {
        let mut t = self.lock();
        for e in &mut service.endpoints {
            if t.terminating
                .contains(&(service.namespace.clone(), e.pod.clone()))
            {
                e.ready = false;
            }
        }
        let key = (service.namespace.clone(), service.name.clone());
        if t.services.get(&key) == Some(&service) {
            return;
        }
        self.changes.send_modify(|n| *n += 1);
        if let Some(old) = t.services.remove(&key)
            && let Some(ip) = old.cluster_ip
        {
            t.by_ip.remove(&ip);
        }
        if let Some(ip) = service.cluster_ip {
            t.by_ip.insert(ip, key.clone());
        }
        t.services.insert(key, service);
    }

    pub fn remove(&self, namespace: &str, name: &str) {
        let mut t = self.lock();
        let Some(old) = t
            .services
            .remove(&(namespace.to_string(), name.to_string()))
        else {
            return;
        };
        self.changes.send_modify(|n| *n += 1);
        if let Some(ip) = old.cluster_ip {
            t.by_ip.remove(&ip);
            t.sticky.retain(|(svc, _), _| *svc != ip);
        }
    }

    /// The (address, port) of every Service port over TCP with a ready endpoint, at its
    /// ClusterIP and, for a `nodePort`, at the node's address: where the Linux backend's proxy
    /// listens (a port without one refuses connections, as kube-proxy's REJECT rule makes it).
    pub fn served_tcp(&self) -> Vec<SocketAddrV4> {
        let t = self.lock();
        let mut out = Vec::new();
        for svc in t.services.values() {
            let Some(ip) = svc.cluster_ip else { continue };
            for (i, p) in svc.ports.iter().enumerate() {
                let reachable = svc
                    .ready()
                    .any(|e| e.targets.get(i).copied().flatten().is_some());
                if p.protocol == Proto::Tcp && reachable {
                    out.push(SocketAddrV4::new(ip, p.port));
                    if let Some(n) = p.node_port {
                        out.push(SocketAddrV4::new(super::cluster::NODE_IP, n));
                    }
                }
            }
        }
        out
    }

    /// A pod being deleted stops receiving new connections at once, before the kubelet's TERM
    /// reaches it (upstream's endpoints controller marks it terminating; here it cannot lose the
    /// race to the stop).
    pub fn pod_terminating(&self, namespace: &str, pod: &str) {
        let mut t = self.lock();
        t.terminating
            .insert((namespace.to_string(), pod.to_string()));
        let mut changed = false;
        for svc in t.services.values_mut().filter(|s| s.namespace == namespace) {
            for e in svc.endpoints.iter_mut().filter(|e| e.pod == pod && e.ready) {
                e.ready = false;
                changed = true;
            }
        }
        if changed {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Every NodePort: (node port, the Service port's ClusterIP address, the Service's
    /// namespace and name).
    pub fn node_ports(&self) -> Vec<(u16, SocketAddrV4, String, String)> {
        let t = self.lock();
        let mut out = Vec::new();
        for svc in t.services.values() {
            let Some(ip) = svc.cluster_ip else { continue };
            for p in svc.ports.iter().filter(|p| p.protocol == Proto::Tcp) {
                if let Some(n) = p.node_port {
                    out.push((
                        n,
                        SocketAddrV4::new(ip, p.port),
                        svc.namespace.clone(),
                        svc.name.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Forgets the deleted pods `gone` says are gone (their names may come back).
    pub fn forget_terminating(&self, mut gone: impl FnMut(&str, &str) -> bool) {
        self.lock().terminating.retain(|(ns, pod)| !gone(ns, pod));
    }

    /// The Services, in namespace and name order.
    pub fn all(&self) -> Vec<Service> {
        self.lock().services.values().cloned().collect()
    }

    /// Chooses the endpoint of a new connection from `client` to `to`: a ClusterIP:port, or the
    /// node's address at a Service's `nodePort`, as kube-proxy's nodeports chain DNATs it.
    pub fn route(&self, to: SocketAddrV4, proto: Proto, client: Ipv4Addr) -> Route {
        let node = *to.ip() == super::cluster::NODE_IP;
        if !is_service_ip(*to.ip()) && !node {
            return Route::Direct;
        }
        let mut guard = self.lock();
        let t = &mut *guard;
        let serves = |p: &ServicePort| {
            p.protocol == proto
                && if node {
                    p.node_port == Some(to.port())
                } else {
                    p.port == to.port()
                }
        };
        let found = if node {
            t.services
                .values()
                .find_map(|svc| Some((svc, svc.ports.iter().position(serves)?)))
        } else {
            t.by_ip
                .get(to.ip())
                .and_then(|key| t.services.get(key))
                .and_then(|svc| Some((svc, svc.ports.iter().position(serves)?)))
        };
        let Some((svc, index)) = found else {
            return Route::Direct;
        };
        let label = format!("svc/{}", svc.name);
        let ready: Vec<(&Endpoint, u16)> = svc
            .ready()
            .filter_map(|e| Some((e, e.targets.get(index).copied().flatten()?)))
            .collect();
        if ready.is_empty() {
            return Route::NoEndpoints { service: label };
        }
        let now = Instant::now();
        let sticky_key = (*to.ip(), client);
        let kept = svc.affinity.and_then(|timeout| {
            let (ip, at) = t.sticky.get(&sticky_key)?;
            (now.duration_since(*at) < timeout)
                .then(|| ready.iter().position(|(e, _)| e.ip == *ip))
                .flatten()
        });
        let chosen = kept.unwrap_or_else(|| {
            let turn = t.turns.entry((*to.ip(), to.port())).or_insert(0);
            let i = *turn % ready.len();
            *turn = turn.wrapping_add(1);
            i
        });
        let (endpoint, port) = ready[chosen];
        if svc.affinity.is_some() {
            t.sticky.insert(sticky_key, (endpoint.ip, now));
        }
        Route::To {
            addr: SocketAddrV4::new(endpoint.ip, port),
            service: label,
            pod: endpoint.pod.clone(),
        }
    }

    /// What the cluster DNS answers for `name` asked by a resolver with these search domains,
    /// trying them first when the name has fewer than `ndots` dots, as a stub resolver does.
    pub fn resolve(&self, name: &str, searches: &[String], ndots: usize) -> Option<Vec<Ipv4Addr>> {
        let absolute = name.ends_with('.');
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let t = self.lock();
        if !absolute && name.matches('.').count() < ndots {
            for domain in searches {
                if let Some(found) = lookup(&t, &format!("{name}.{domain}"), 0) {
                    return Some(found);
                }
            }
        }
        lookup(&t, &name, 0)
    }

    /// What the cluster DNS answers for a fully qualified name (a resolver's own search path
    /// already applied).
    pub fn resolve_fqdn(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        lookup(&self.lock(), &name, 0)
    }

    /// The SRV records of a fully qualified `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: a named
    /// port of a Service, pointing at its name (ClusterIP) or at each ready pod (headless, by
    /// `hostname` or dashed address, on the pod's port), each with its address.
    pub fn srv(&self, name: &str) -> Option<Vec<SrvRecord>> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let rest = name.strip_suffix(CLUSTER_DOMAIN)?.strip_suffix('.')?;
        let [port, proto, svc, ns, "svc"] = rest.split('.').collect::<Vec<_>>()[..] else {
            return None;
        };
        let (port, proto) = (port.strip_prefix('_')?, proto.strip_prefix('_')?);
        let t = self.lock();
        let s = t.services.get(&(ns.to_string(), svc.to_string()))?;
        let index = s.ports.iter().position(|p| {
            p.name.as_deref() == Some(port)
                && matches!(
                    (p.protocol, proto),
                    (Proto::Tcp, "tcp") | (Proto::Udp, "udp")
                )
        })?;
        let service_name = format!("{svc}.{ns}.svc.{CLUSTER_DOMAIN}.");
        let records: Vec<SrvRecord> = match s.cluster_ip {
            Some(ip) => vec![SrvRecord {
                port: s.ports[index].port,
                target: service_name,
                ip,
                weight: 100,
            }],
            None => {
                let ready: Vec<(&Endpoint, u16)> = s
                    .ready()
                    .filter_map(|e| Some((e, e.targets.get(index).copied().flatten()?)))
                    .collect();
                let weight = u16::try_from(100 / ready.len().max(1)).unwrap_or(100);
                ready
                    .into_iter()
                    .map(|(e, port)| SrvRecord {
                        port,
                        target: format!("{}.{service_name}", endpoint_label(e)),
                        ip: e.ip,
                        weight,
                    })
                    .collect()
            }
        };
        (!records.is_empty()).then_some(records)
    }

    /// The variables the kubelet sets for the Services of `namespace` (and for `kubernetes` of
    /// the default namespace in every pod), `service_links` false leaving out all but that one.
    pub fn env(&self, namespace: &str, service_links: bool) -> Vec<(String, String)> {
        let t = self.lock();
        let mut env = Vec::new();
        for svc in t.services.values() {
            let Some(ip) = svc.cluster_ip else {
                continue;
            };
            let master = svc.namespace == "default" && svc.name == "kubernetes";
            if !(master || (service_links && svc.namespace == namespace)) {
                continue;
            }
            env.extend(service_env(svc, ip));
        }
        env
    }
}

/// One SRV answer: the port, the target name (fully qualified) and its address.
pub struct SrvRecord {
    pub port: u16,
    pub target: String,
    pub ip: Ipv4Addr,
    /// CoreDNS shares 100 among the records of one name.
    pub weight: u16,
}

/// A headless Service's name for an endpoint: its pod's `hostname` under this subdomain, or its
/// address with dashes, as CoreDNS names endpoints.
fn endpoint_label(e: &Endpoint) -> String {
    e.hostname
        .clone()
        .unwrap_or_else(|| e.ip.to_string().replace('.', "-"))
}

/// `default/kubernetes`, the API server's Service, as every cluster has it.
pub fn kubernetes() -> Service {
    Service {
        namespace: "default".into(),
        name: "kubernetes".into(),
        cluster_ip: Some(KUBERNETES_IP),
        ports: vec![ServicePort {
            name: Some("https".into()),
            port: 443,
            protocol: Proto::Tcp,
            node_port: None,
        }],
        endpoints: Vec::new(),
        affinity: None,
        external_name: None,
    }
}

/// `<ns>.svc.cluster.local svc.cluster.local cluster.local`, as the kubelet writes resolv.conf.
pub fn search_domains(namespace: &str) -> [String; 3] {
    [
        format!("{namespace}.svc.{CLUSTER_DOMAIN}"),
        format!("svc.{CLUSTER_DOMAIN}"),
        CLUSTER_DOMAIN.to_string(),
    ]
}

/// How many ExternalName aliases a lookup follows (one naming itself ends there).
const ALIASES: usize = 8;

/// A fully qualified name in the cluster domain; an ExternalName Service is an alias (a CNAME)
/// of its `externalName`, which resolves here only when it is a cluster name itself: wpod has no
/// resolver beyond the cluster.
fn lookup(t: &Table, name: &str, depth: usize) -> Option<Vec<Ipv4Addr>> {
    let rest = name.strip_suffix(CLUSTER_DOMAIN)?.strip_suffix('.')?;
    let labels: Vec<&str> = rest.split('.').collect();
    match labels.as_slice() {
        [svc, ns, "svc"] => {
            let s = t.services.get(&(ns.to_string(), svc.to_string()))?;
            match (s.cluster_ip, &s.external_name) {
                (Some(ip), _) => Some(vec![ip]),
                (None, Some(alias)) if depth < ALIASES => {
                    let alias = alias
                        .strip_suffix('.')
                        .unwrap_or(alias)
                        .to_ascii_lowercase();
                    lookup(t, &alias, depth + 1)
                }
                (None, Some(_)) => None,
                // Headless: a record per ready pod.
                (None, None) => {
                    let ips: Vec<Ipv4Addr> = s.ready().map(|e| e.ip).collect();
                    (!ips.is_empty()).then_some(ips)
                }
            }
        }
        // `hostname.subdomain.ns.svc`: a pod named by its hostname under a headless Service (a
        // Service with a ClusterIP gives its endpoints no names).
        [host, svc, ns, "svc"] => {
            let s = t.services.get(&(ns.to_string(), svc.to_string()))?;
            if s.cluster_ip.is_some() {
                return None;
            }
            s.endpoints
                .iter()
                .find(|e| endpoint_label(e) == *host)
                .map(|e| vec![e.ip])
        }
        // `a-b-c-d.ns.pod`: any address of the pod network, as CoreDNS' `pods insecure` answers.
        [dashed, _ns, "pod"] => {
            let ip: Ipv4Addr = dashed.replace('-', ".").parse().ok()?;
            Some(vec![ip])
        }
        _ => None,
    }
}

/// The kubelet's variables for one Service (envvars.FromServices): `<NAME>_SERVICE_HOST`,
/// `_SERVICE_PORT` (and one per named port), and the Docker-link `<NAME>_PORT...` ones.
fn service_env(svc: &Service, ip: Ipv4Addr) -> Vec<(String, String)> {
    let prefix = svc.name.to_ascii_uppercase().replace('-', "_");
    let mut env = vec![(format!("{prefix}_SERVICE_HOST"), ip.to_string())];
    let Some(first) = svc.ports.first() else {
        return env;
    };
    env.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
    for p in &svc.ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            let name = name.to_ascii_uppercase().replace('-', "_");
            env.push((format!("{prefix}_SERVICE_PORT_{name}"), p.port.to_string()));
        }
    }
    let proto = |p: &ServicePort| match p.protocol {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    };
    env.push((
        format!("{prefix}_PORT"),
        format!("{}://{ip}:{}", proto(first), first.port),
    ));
    for p in &svc.ports {
        let (lower, port) = (proto(p), p.port);
        let base = format!("{prefix}_PORT_{port}_{}", lower.to_ascii_uppercase());
        env.push((base.clone(), format!("{lower}://{ip}:{port}")));
        env.push((format!("{base}_PROTO"), lower.to_string()));
        env.push((format!("{base}_PORT"), port.to_string()));
        env.push((format!("{base}_ADDR"), ip.to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(ready: &[bool]) -> Service {
        Service {
            namespace: "default".into(),
            name: "web".into(),
            cluster_ip: Some(Ipv4Addr::new(10, 96, 0, 12)),
            ports: vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Proto::Tcp,
                node_port: None,
            }],
            endpoints: ready
                .iter()
                .enumerate()
                .map(|(i, r)| Endpoint {
                    ip: Ipv4Addr::new(10, 88, 0, 2 + i as u8),
                    pod: format!("web-{i}"),
                    ready: *r,
                    hostname: None,
                    targets: vec![Some(8080)],
                })
                .collect(),
            affinity: None,
            external_name: None,
        }
    }

    #[test]
    fn connections_take_the_ready_endpoints_in_turn() {
        let s = Services::default();
        s.set(web(&[true, false, true]));
        let vip = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 12), 80);
        let client = Ipv4Addr::new(10, 88, 0, 9);
        let picked: Vec<String> = (0..4)
            .map(|_| match s.route(vip, Proto::Tcp, client) {
                Route::To { addr, .. } => addr.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            picked,
            [
                "10.88.0.2:8080",
                "10.88.0.4:8080",
                "10.88.0.2:8080",
                "10.88.0.4:8080"
            ]
        );
        assert_eq!(
            s.route(SocketAddrV4::new(*vip.ip(), 81), Proto::Tcp, client),
            Route::Direct
        );
        s.set(web(&[false]));
        assert!(matches!(
            s.route(vip, Proto::Tcp, client),
            Route::NoEndpoints { .. }
        ));
    }

    #[test]
    fn client_ip_affinity_keeps_a_client_on_one_endpoint() {
        let s = Services::default();
        let mut svc = web(&[true, true, true]);
        svc.affinity = Some(Duration::from_secs(10800));
        s.set(svc);
        let vip = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 12), 80);
        let first = s.route(vip, Proto::Tcp, Ipv4Addr::new(10, 88, 0, 9));
        for _ in 0..5 {
            assert_eq!(s.route(vip, Proto::Tcp, Ipv4Addr::new(10, 88, 0, 9)), first);
        }
    }

    #[test]
    fn names_resolve_through_the_search_path() {
        let s = Services::default();
        s.set(web(&[true]));
        let mut headless = web(&[true, true, false]);
        headless.name = "db".into();
        headless.cluster_ip = None;
        headless.endpoints[1].hostname = Some("db-1".into());
        s.set(headless);
        let vip = Some(vec![Ipv4Addr::new(10, 96, 0, 12)]);
        let path = |ns: &str| search_domains(ns).to_vec();
        assert_eq!(s.resolve("web", &path("default"), 5), vip);
        assert_eq!(s.resolve("web.default", &path("other"), 5), vip);
        assert_eq!(
            s.resolve("web.default.svc.cluster.local.", &path("other"), 5),
            vip
        );
        assert_eq!(s.resolve("web", &path("other"), 5), None);
        assert_eq!(s.resolve("web", &[], 5), None);
        assert_eq!(
            s.resolve("db", &path("default"), 5),
            Some(vec![
                Ipv4Addr::new(10, 88, 0, 2),
                Ipv4Addr::new(10, 88, 0, 3)
            ])
        );
        assert_eq!(
            s.resolve("db-1.db", &path("default"), 5),
            Some(vec![Ipv4Addr::new(10, 88, 0, 3)])
        );
        assert_eq!(
            s.resolve("10-88-0-7.default.pod.cluster.local", &path("x"), 5),
            Some(vec![Ipv4Addr::new(10, 88, 0, 7)])
        );
    }

    #[test]
    fn an_external_name_is_an_alias() {
        let s = Services::default();
        s.set(web(&[true]));
        let mut alias = web(&[]);
        alias.name = "front".into();
        alias.cluster_ip = None;
        alias.external_name = Some("web.default.svc.cluster.local".into());
        s.set(alias.clone());
        alias.name = "loop".into();
        alias.external_name = Some("loop.default.svc.cluster.local".into());
        s.set(alias);
        let path = search_domains("default").to_vec();
        assert_eq!(
            s.resolve("front", &path, 5),
            Some(vec![Ipv4Addr::new(10, 96, 0, 12)])
        );
        assert_eq!(s.resolve("loop", &path, 5), None);
    }

    #[test]
    fn service_variables_are_the_kubelets() {
        let s = Services::default();
        let mut svc = web(&[true]);
        svc.name = "redis-primary".into();
        s.set(svc);
        let env = s.env("default", true);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("REDIS_PRIMARY_SERVICE_HOST"), Some("10.96.0.12"));
        assert_eq!(get("REDIS_PRIMARY_SERVICE_PORT"), Some("80"));
        assert_eq!(get("REDIS_PRIMARY_SERVICE_PORT_HTTP"), Some("80"));
        assert_eq!(get("REDIS_PRIMARY_PORT"), Some("tcp://10.96.0.12:80"));
        assert_eq!(
            get("REDIS_PRIMARY_PORT_80_TCP"),
            Some("tcp://10.96.0.12:80")
        );
        assert_eq!(get("REDIS_PRIMARY_PORT_80_TCP_ADDR"), Some("10.96.0.12"));
        assert!(s.env("default", false).is_empty());
        assert!(s.env("other", true).is_empty());
    }
}
