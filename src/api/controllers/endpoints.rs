//! The endpoints and EndpointSlice controllers, and kube-proxy's view: for each Service with a
//! selector, the pods it selects (Ready ones receive traffic, the others are listed as not
//! ready), written as the `Endpoints` and `EndpointSlice` objects kubectl shows, and given to the
//! node's Service table that routes connections and answers DNS.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{Value, json};

use super::{deleting, labels, namespace, uid};
use crate::api::Api;
use crate::api::objects::{key, name_of, stamp};
use crate::net::netns::Proto;
use crate::net::services::{Endpoint, Service, ServicePort};

pub fn sync_all(api: &Api) {
    let (pods, _) = api.store.list("pods", None);
    sync_with(api, &pods);
}

/// The Services of the store with `pods` as their candidates.
pub fn sync_with(api: &Api, pods: &[Value]) {
    let (services, _) = api.store.list("services", None);
    let mut seen = HashSet::new();
    for svc in &services {
        let table_entry = sync(api, svc, pods);
        seen.insert((namespace(svc).to_string(), name_of(svc).to_string()));
        api.cluster.services.set(table_entry);
    }
    api.cluster.services.forget_terminating(|ns, pod| {
        !pods.iter().any(|p| namespace(p) == ns && name_of(p) == pod)
    });
    for gone in api.cluster.services.all() {
        if !seen.contains(&(gone.namespace.clone(), gone.name.clone())) {
            api.cluster.services.remove(&gone.namespace, &gone.name);
        }
    }
}

fn ports_of(svc: &Value) -> Vec<(ServicePort, Value)> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port =
                u16::try_from(p.get("port").and_then(Value::as_u64).unwrap_or(0)).unwrap_or(0);
            let protocol = match p.get("protocol").and_then(Value::as_str) {
                Some("UDP") => Proto::Udp,
                _ => Proto::Tcp,
            };
            let service_port = ServicePort {
                name: p.get("name").and_then(Value::as_str).map(str::to_string),
                port,
                protocol,
                node_port: p
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok()),
            };
            let target = p.get("targetPort").cloned().unwrap_or(json!(port));
            (service_port, target)
        })
        .collect()
}

/// The port a pod serves `target` on: a number, or the name of one of its container ports.
fn resolve_target(pod: &Value, target: &Value) -> Option<u16> {
    match target {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => {
            if let Ok(n) = s.parse::<u16>() {
                return Some(n);
            }
            pod.pointer("/spec/containers")?
                .as_array()?
                .iter()
                .flat_map(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .find(|p| p.get("name").and_then(Value::as_str) == Some(s))
                .and_then(|p| p.get("containerPort")?.as_u64())
                .and_then(|n| u16::try_from(n).ok())
        }
        _ => None,
    }
}

fn sync(api: &Api, svc: &Value, pods: &[Value]) -> Service {
    let ns = namespace(svc);
    let name = name_of(svc);
    let ports = ports_of(svc);
    let cluster_ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
    let affinity = (svc.pointer("/spec/sessionAffinity").and_then(Value::as_str)
        == Some("ClientIP"))
    .then(|| {
        let secs = svc
            .pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10800);
        Duration::from_secs(secs)
    });
    let selector = labels(svc, "/spec/selector");
    let mut endpoints = Vec::new();
    // (pod, endpoint) for the objects, in pod name order.
    let mut listed: Vec<(&Value, Endpoint)> = Vec::new();
    if !selector.is_empty() {
        for pod in pods.iter().filter(|p| namespace(p) == ns) {
            if !super::selector::matches_map(&selector, &labels(pod, "/metadata/labels")) {
                continue;
            }
            let phase = pod.pointer("/status/phase").and_then(Value::as_str);
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let Some(ip) = pod
                .pointer("/status/podIP")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let hostname = pod
                .pointer("/spec/hostname")
                .and_then(Value::as_str)
                .filter(|_| pod.pointer("/spec/subdomain").and_then(Value::as_str) == Some(name))
                .map(str::to_string);
            let endpoint = Endpoint {
                ip,
                pod: name_of(pod).to_string(),
                ready: super::replicaset::ready(pod) && !deleting(pod),
                hostname,
                targets: ports.iter().map(|(_, t)| resolve_target(pod, t)).collect(),
            };
            endpoints.push(endpoint.clone());
            listed.push((pod, endpoint));
        }
        listed.sort_by(|a, b| a.1.pod.cmp(&b.1.pod));
        write_endpoints(api, svc, &ports, &listed);
        write_slices(api, svc, &ports, &listed);
    } else if ns == "default" && name == "kubernetes" && api.ca_pem.is_some() {
        endpoints.push(api_server(api, &ports));
    }
    Service {
        namespace: ns.to_string(),
        name: name.to_string(),
        cluster_ip,
        ports: ports.into_iter().map(|(p, _)| p).collect(),
        endpoints,
        affinity,
        external_name: svc
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// `default/kubernetes` has no selector: the API server keeps its endpoints itself (upstream's
/// endpoint reconciler), the address it serves pods on.
fn api_server(api: &Api, ports: &[(ServicePort, Value)]) -> Endpoint {
    let ip = crate::net::cluster::NODE_IP;
    let port = crate::api::IN_CLUSTER_PORT;
    let port_list: Vec<Value> = ports
        .iter()
        .map(|(p, _)| json!({"name": p.name, "port": port, "protocol": protocol(p)}))
        .collect();
    let subsets = json!([{"addresses": [{"ip": ip.to_string()}], "ports": port_list}]);
    let k = key("endpoints", "default", "kubernetes");
    let current = api.store.get(&k);
    if current.as_ref().and_then(|c| c.get("subsets")) != Some(&subsets) {
        let object = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": subsets});
        let _ = match current {
            Some(mut current) => {
                current["subsets"] = object["subsets"].clone();
                api.store.update(k, current, None)
            }
            None => api.store.create(k, stamp(object)),
        };
    }
    let k = key("endpointslices", "default", "kubernetes");
    if api.store.get(&k).is_none() {
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
            "ports": port_list});
        let _ = api.store.create(k, stamp(slice));
    }
    Endpoint {
        ip,
        pod: "kube-apiserver".into(),
        ready: true,
        hostname: None,
        targets: vec![Some(port); ports.len()],
    }
}

fn target_ref(pod: &Value) -> Value {
    json!({"kind": "Pod", "namespace": namespace(pod), "name": name_of(pod), "uid": uid(pod)})
}

fn protocol(p: &ServicePort) -> &'static str {
    match p.protocol {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    }
}

/// The pods grouped by the ports they serve on (a subset or a slice each), in first-seen order.
/// Pods (with their endpoint) that serve the Service's ports on the same pod ports.
type Group<'a> = (Vec<Option<u16>>, Vec<&'a (&'a Value, Endpoint)>);

fn groups<'a>(listed: &'a [(&'a Value, Endpoint)]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group> = Vec::new();
    for entry in listed {
        match groups.iter_mut().find(|(t, _)| *t == entry.1.targets) {
            Some((_, members)) => members.push(entry),
            None => groups.push((entry.1.targets.clone(), vec![entry])),
        }
    }
    groups
}

fn port_list(ports: &[(ServicePort, Value)], targets: &[Option<u16>]) -> Vec<Value> {
    ports
        .iter()
        .zip(targets)
        .filter_map(|((p, _), t)| {
            let mut entry = json!({"port": (*t)?, "protocol": protocol(p)});
            if let Some(name) = &p.name {
                entry["name"] = json!(name);
            }
            Some(entry)
        })
        .collect()
}

fn write_endpoints(
    api: &Api,
    svc: &Value,
    ports: &[(ServicePort, Value)],
    listed: &[(&Value, Endpoint)],
) {
    let subsets: Vec<Value> = groups(listed)
        .into_iter()
        .filter_map(|(targets, members)| {
            let ports = port_list(ports, &targets);
            if ports.is_empty() {
                return None;
            }
            let address = |(pod, e): &(&Value, Endpoint)| {
                let mut a = json!({"ip": e.ip.to_string(), "nodeName": crate::node::NODE_NAME, "targetRef": target_ref(pod)});
                if let Some(h) = &e.hostname {
                    a["hostname"] = json!(h);
                }
                a
            };
            let ready: Vec<Value> = members.iter().filter(|m| m.1.ready).map(|m| address(m)).collect();
            let not_ready: Vec<Value> = members.iter().filter(|m| !m.1.ready).map(|m| address(m)).collect();
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            Some(subset)
        })
        .collect();
    let (ns, name) = (namespace(svc), name_of(svc));
    let k = key("endpoints", ns, name);
    let current = api.store.get(&k);
    let want = if subsets.is_empty() {
        None
    } else {
        Some(json!(subsets))
    };
    if let Some(current) = &current
        && current.get("subsets").cloned() == want
    {
        return;
    }
    let mut object = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns, "labels": svc.pointer("/metadata/labels").cloned().unwrap_or(json!({}))},
    });
    if let Some(subsets) = want {
        object["subsets"] = subsets;
    }
    let _ = match current {
        Some(current) => {
            object["metadata"] = current["metadata"].clone();
            api.store.update(k, object, None)
        }
        None => api.store.create(k, stamp(object)),
    };
}

fn write_slices(
    api: &Api,
    svc: &Value,
    ports: &[(ServicePort, Value)],
    listed: &[(&Value, Endpoint)],
) {
    let (ns, name) = (namespace(svc), name_of(svc));
    let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
    let mut groups = groups(listed);
    if groups.is_empty() {
        // A Service without pods still has its (empty) slice, as upstream's controller keeps one.
        groups.push((vec![None; ports.len()], Vec::new()));
    }
    for (i, (targets, members)) in groups.into_iter().enumerate() {
        let slice_name = format!("{name}-{}", slice_suffix(uid(svc), i));
        let endpoints: Vec<Value> = members
            .iter()
            .map(|(pod, e)| {
                let terminating = deleting(pod);
                let mut entry = json!({
                    "addresses": [e.ip.to_string()],
                    "conditions": {"ready": e.ready, "serving": super::replicaset::ready(pod), "terminating": terminating},
                    "nodeName": crate::node::NODE_NAME,
                    "targetRef": target_ref(pod),
                });
                if let Some(h) = &e.hostname {
                    entry["hostname"] = json!(h);
                }
                entry
            })
            .collect();
        let body = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name, "namespace": ns,
                         "generateName": format!("{name}-"),
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "ownerReferences": [super::controller_ref(svc)]},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": port_list(ports, &targets),
        });
        wanted.insert(slice_name, body);
    }
    let (existing, _) = api.store.list("endpointslices", Some(ns));
    for slice in existing
        .iter()
        .filter(|s| super::controller_uid(s) == Some(uid(svc)))
    {
        if !wanted.contains_key(name_of(slice)) {
            let _ = api.store.delete(&key("endpointslices", ns, name_of(slice)));
        }
    }
    for (slice_name, mut body) in wanted {
        let k = key("endpointslices", ns, &slice_name);
        match api.store.get(&k) {
            Some(current) => {
                if current.get("endpoints") == body.get("endpoints")
                    && current.get("ports") == body.get("ports")
                {
                    continue;
                }
                body["metadata"] = current["metadata"].clone();
                let _ = api.store.update(k, body, None);
            }
            None => {
                let _ = api.store.create(k, stamp(body));
            }
        }
    }
}

/// A stable five-character suffix per Service and slice.
fn slice_suffix(uid: &str, index: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    for b in uid.bytes().chain(index.to_le_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (0..5)
        .map(|i| ALPHABET[((h >> (i * 5)) as usize) % ALPHABET.len()] as char)
        .collect()
}
