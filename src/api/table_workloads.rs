//! `kubectl get` columns of Deployments, ReplicaSets, Services, Endpoints and EndpointSlices, as
//! the apiserver's printers (pkg/printers/internalversion) fill them.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::controllers::{int, replicaset_selector, selector};
use super::table::{age, col, name, row};

type Table = (Vec<Value>, Vec<Value>);
/// The cells of one row.
type Cells = fn(&Value, Timestamp) -> Vec<Value>;

pub fn table(resource: &str, items: &[Value], now: Timestamp) -> Option<Table> {
    let wide = || {
        [
            col("Containers", "string", "", 1),
            col("Images", "string", "", 1),
            col("Selector", "string", "", 1),
        ]
    };
    let (mut columns, cells): (Vec<Value>, Cells) = match resource {
        "deployments" => (
            vec![
                col("Name", "string", "name", 0),
                col("Ready", "string", "", 0),
                col("Up-to-date", "string", "", 0),
                col("Available", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            |d, now| {
                let mut cells = vec![
                    json!(name(d)),
                    json!(format!(
                        "{}/{}",
                        int(d, "/status/readyReplicas"),
                        replicas(d)
                    )),
                    json!(int(d, "/status/updatedReplicas")),
                    json!(int(d, "/status/availableReplicas")),
                    json!(age(d, now)),
                ];
                cells.extend(template_cells(d));
                cells
            },
        ),
        "replicasets" => (
            vec![
                col("Name", "string", "name", 0),
                col("Desired", "integer", "", 0),
                col("Current", "integer", "", 0),
                col("Ready", "integer", "", 0),
                col("Age", "string", "", 0),
            ],
            |rs, now| {
                let mut cells = vec![
                    json!(name(rs)),
                    json!(replicas(rs)),
                    json!(int(rs, "/status/replicas")),
                    json!(int(rs, "/status/readyReplicas")),
                    json!(age(rs, now)),
                ];
                cells.extend(template_cells(rs));
                cells
            },
        ),
        "jobs" => (
            vec![
                col("Name", "string", "name", 0),
                col("Status", "string", "", 0),
                col("Completions", "string", "", 0),
                col("Duration", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            |j, now| {
                let time = |p: &str| {
                    j.pointer(p)
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<Timestamp>().ok())
                };
                let status = super::controllers::job_finished(j).unwrap_or(
                    if j.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                        "Suspended"
                    } else {
                        "Running"
                    },
                );
                let completions = match j.pointer("/spec/completions").and_then(Value::as_i64) {
                    Some(n) => format!("{}/{n}", int(j, "/status/succeeded")),
                    None => format!(
                        "{}/1 of {}",
                        int(j, "/status/succeeded"),
                        int(j, "/spec/parallelism")
                    ),
                };
                let duration = match (time("/status/startTime"), time("/status/completionTime")) {
                    (Some(s), Some(c)) => super::table::human(c.as_second() - s.as_second()),
                    (Some(s), None) => super::table::human(now.as_second() - s.as_second()),
                    _ => String::new(),
                };
                let mut cells = vec![
                    json!(name(j)),
                    json!(status),
                    json!(completions),
                    json!(duration),
                    json!(age(j, now)),
                ];
                cells.extend(template_cells(j));
                cells
            },
        ),
        "services" => (
            vec![
                col("Name", "string", "name", 0),
                col("Type", "string", "", 0),
                col("Cluster-IP", "string", "", 0),
                col("External-IP", "string", "", 0),
                col("Port(s)", "string", "", 0),
                col("Age", "string", "", 0),
                col("Selector", "string", "", 1),
            ],
            service_cells,
        ),
        "endpoints" => (
            vec![
                col("Name", "string", "name", 0),
                col("Endpoints", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            |e, now| vec![json!(name(e)), json!(endpoints(e)), json!(age(e, now))],
        ),
        "endpointslices" => (
            vec![
                col("Name", "string", "name", 0),
                col("AddressType", "string", "", 0),
                col("Ports", "string", "", 0),
                col("Endpoints", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            |s, now| {
                let list = |items: Vec<String>| {
                    if items.is_empty() {
                        "<unset>".to_string()
                    } else {
                        at_most_three(items)
                    }
                };
                let ports = s
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| p.get("port").map_or("*".into(), Value::to_string))
                    .collect();
                let addresses = s
                    .get("endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|e| {
                        e.get("addresses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect();
                vec![
                    json!(name(s)),
                    json!(
                        s.get("addressType")
                            .and_then(Value::as_str)
                            .unwrap_or("IPv4")
                    ),
                    json!(list(ports)),
                    json!(list(addresses)),
                    json!(age(s, now)),
                ]
            },
        ),
        _ => return None,
    };
    if matches!(resource, "deployments" | "replicasets" | "jobs") {
        columns.extend(wide());
    }
    let rows = items.iter().map(|o| row(o, cells(o, now))).collect();
    Some((columns, rows))
}

fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// CONTAINERS, IMAGES and SELECTOR of a workload (the `-o wide` columns).
fn template_cells(o: &Value) -> [Value; 3] {
    let containers: Vec<&Value> = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let field = |f: &str| {
        containers
            .iter()
            .filter_map(|c| c.get(f).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(",")
    };
    [
        json!(field("name")),
        json!(field("image")),
        json!(selector::to_string(&replicaset_selector(o))),
    ]
}

fn service_cells(s: &Value, now: Timestamp) -> Vec<Value> {
    let str_at = |p: &str| s.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let type_ = str_at("/spec/type");
    let cluster_ip = match str_at("/spec/clusterIP") {
        "" => "<none>".to_string(),
        ip => ip.to_string(),
    };
    let external_ips: Vec<String> = s
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let external = match type_ {
        "ExternalName" => str_at("/spec/externalName").to_string(),
        "LoadBalancer" => {
            let mut ingress: Vec<String> = s
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            ingress.extend(external_ips);
            if ingress.is_empty() {
                "<pending>".into()
            } else {
                ingress.join(",")
            }
        }
        _ if external_ips.is_empty() => "<none>".into(),
        _ => external_ips.join(","),
    };
    let ports: Vec<String> = s
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_u64) {
                Some(n) if n > 0 => format!("{}:{n}/{proto}", p["port"]),
                _ => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    let mut selector: Vec<String> = s
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    selector.sort();
    let or_none = |v: String| if v.is_empty() { "<none>".into() } else { v };
    vec![
        json!(name(s)),
        json!(type_),
        json!(cluster_ip),
        json!(external),
        json!(or_none(ports.join(","))),
        json!(age(s, now)),
        json!(or_none(selector.join(","))),
    ]
}

/// The ready `ip:port`s of an Endpoints object, three at most.
fn endpoints(e: &Value) -> String {
    let Some(subsets) = e
        .get("subsets")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    else {
        return "<none>".into();
    };
    let mut all = Vec::new();
    for subset in subsets {
        let ports = subset
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let addresses = subset
            .get("addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for p in &ports {
            for a in &addresses {
                all.push(format!(
                    "{}:{}",
                    a["ip"].as_str().unwrap_or_default(),
                    p["port"]
                ));
            }
        }
    }
    at_most_three(all)
}

fn at_most_three(items: Vec<String>) -> String {
    if items.len() > 3 {
        format!("{} + {} more...", items[..3].join(","), items.len() - 3)
    } else {
        items.join(",")
    }
}
