//! `kubectl get`'s tables (`meta.k8s.io/v1` Table): kubectl prints the cells the server computes,
//! so the STATUS of a pod here is what kubectl's printPod (pkg/printers/internalversion) makes of it.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// Whether the client asked for a Table (`Accept: application/json;as=Table;...`).
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.split(',').any(|m| m.contains("as=Table")))
}

pub fn table(resource: &str, items: &[Value], rv: u64, now: Timestamp) -> Value {
    let (columns, rows): (Vec<Value>, Vec<Value>) = match resource {
        "pods" => (
            vec![
                col("Name", "string", "name", 0),
                col("Ready", "string", "", 0),
                col("Status", "string", "", 0),
                col("Restarts", "string", "", 0),
                col("Age", "string", "", 0),
                col("IP", "string", "", 1),
                col("Node", "string", "", 1),
            ],
            items.iter().map(|p| row(p, pod_cells(p, now))).collect(),
        ),
        "secrets" => (
            vec![
                col("Name", "string", "name", 0),
                col("Type", "string", "", 0),
                col("Data", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            items
                .iter()
                .map(|o| {
                    let type_ = o.get("type").and_then(Value::as_str).unwrap_or("Opaque");
                    let cells = vec![
                        json!(name(o)),
                        json!(type_),
                        json!(data_count(o).to_string()),
                        json!(age(o, now)),
                    ];
                    row(o, cells)
                })
                .collect(),
        ),
        "configmaps" => (
            vec![
                col("Name", "string", "name", 0),
                col("Data", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            items
                .iter()
                .map(|o| {
                    let cells = vec![
                        json!(name(o)),
                        json!(data_count(o).to_string()),
                        json!(age(o, now)),
                    ];
                    row(o, cells)
                })
                .collect(),
        ),
        "events" => (
            vec![
                col("Last Seen", "string", "", 0),
                col("Type", "string", "", 0),
                col("Reason", "string", "", 0),
                col("Object", "string", "", 0),
                col("Message", "string", "", 0),
            ],
            items
                .iter()
                .map(|e| {
                    let seen = e
                        .get("lastTimestamp")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<Timestamp>().ok())
                        .map_or_else(
                            || "<unknown>".into(),
                            |t| human(now.as_second() - t.as_second()),
                        );
                    let object = format!(
                        "{}/{}",
                        str_at(e, "/involvedObject/kind")
                            .unwrap_or("")
                            .to_lowercase(),
                        str_at(e, "/involvedObject/name").unwrap_or("")
                    );
                    let cells = ["type", "reason", "message"]
                        .map(|f| json!(e.get(f).and_then(Value::as_str).unwrap_or("")));
                    let [type_, reason, message] = cells;
                    row(e, vec![json!(seen), type_, reason, json!(object), message])
                })
                .collect(),
        ),
        "nodes" => (
            vec![
                col("Name", "string", "name", 0),
                col("Status", "string", "", 0),
                col("Roles", "string", "", 0),
                col("Age", "string", "", 0),
                col("Version", "string", "", 0),
                col("Internal-IP", "string", "", 1),
                col("External-IP", "string", "", 1),
                col("OS-Image", "string", "", 1),
                col("Kernel-Version", "string", "", 1),
                col("Container-Runtime", "string", "", 1),
            ],
            items.iter().map(|n| row(n, node_cells(n, now))).collect(),
        ),
        "serviceaccounts" => (
            vec![
                col("Name", "string", "name", 0),
                col("Secrets", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            items
                .iter()
                .map(|o| {
                    let secrets = o
                        .get("secrets")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    row(
                        o,
                        vec![
                            json!(name(o)),
                            json!(secrets.to_string()),
                            json!(age(o, now)),
                        ],
                    )
                })
                .collect(),
        ),
        "namespaces" => (
            vec![
                col("Name", "string", "name", 0),
                col("Status", "string", "", 0),
                col("Age", "string", "", 0),
            ],
            items
                .iter()
                .map(|o| {
                    let phase = o
                        .pointer("/status/phase")
                        .and_then(Value::as_str)
                        .unwrap_or("Active");
                    row(o, vec![json!(name(o)), json!(phase), json!(age(o, now))])
                })
                .collect(),
        ),
        other if let Some(t) = super::table_workloads::table(other, items, now) => t,
        _ => (
            vec![
                col("Name", "string", "name", 0),
                col("Age", "string", "", 0),
            ],
            items
                .iter()
                .map(|o| row(o, vec![json!(name(o)), json!(age(o, now))]))
                .collect(),
        ),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The keys of `data` and `binaryData`, as the DATA column counts them.
fn data_count(o: &Value) -> usize {
    ["data", "binaryData"]
        .iter()
        .filter_map(|f| o.get(f).and_then(Value::as_object))
        .map(|d| d.len())
        .sum()
}

pub fn col(name: &str, type_: &str, format: &str, priority: u8) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": "", "priority": priority})
}

pub fn row(object: &Value, cells: Vec<Value>) -> Value {
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        },
    })
}

pub fn name(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn age(o: &Value, now: Timestamp) -> String {
    o.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(
            || "<unknown>".into(),
            |t| human(now.as_second() - t.as_second()),
        )
}

/// kubectl's HumanDuration, as `kubectl get` shows ages.
pub fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        format!("{d}d{}h", h % 24)
    } else {
        format!("{d}d")
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let statuses = |field: &str| -> Vec<Value> {
        pod.pointer(&format!("/status/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let init = statuses("initContainerStatuses");
    let app = statuses("containerStatuses");
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let restarts: i64 = init
        .iter()
        .chain(&app)
        .filter_map(|c| c.get("restartCount")?.as_i64())
        .sum();
    let ready = app
        .iter()
        .filter(|c| c.get("ready") == Some(&json!(true)))
        .count();
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    vec![
        json!(name(pod)),
        json!(format!("{ready}/{total}")),
        json!(pod_status(pod, &init, &app)),
        json!(restarts.to_string()),
        json!(age(pod, now)),
        json!(ip),
        json!(node),
    ]
}

/// kubectl's printNode: Ready/NotReady/Unknown (`,SchedulingDisabled` when cordoned), the roles
/// its `node-role.kubernetes.io/*` labels name.
fn node_cells(n: &Value, now: Timestamp) -> Vec<Value> {
    let ready = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str());
    let mut status = match ready {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_string();
    if n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<&str> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role),
                    _ if k == "kubernetes.io/role" => v.as_str(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let address = |type_: &str| {
        n.pointer("/status/addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["type"] == type_))
            .and_then(|x| x["address"].as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    let info = |f: &str| str_at(n, &format!("/status/nodeInfo/{f}")).unwrap_or("<unknown>");
    vec![
        json!(name(n)),
        json!(status),
        json!(roles),
        json!(age(n, now)),
        json!(info("kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The STATUS column: the pod's reason or phase, refined by its init containers and containers.
fn pod_status(pod: &Value, init: &[Value], app: &[Value]) -> String {
    let mut reason = str_at(pod, "/status/reason")
        .or_else(|| str_at(pod, "/status/phase"))
        .unwrap_or("Pending")
        .to_string();
    let init_specs = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in init.iter().enumerate() {
        let sidecar_started = c.get("started") == Some(&json!(true))
            && pod
                .pointer(&format!("/spec/initContainers/{i}/restartPolicy"))
                .and_then(Value::as_str)
                == Some("Always");
        if let Some(t) = c.pointer("/state/terminated") {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = match str_at(t, "/reason") {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!(
                    "Init:ExitCode:{}",
                    t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                ),
            };
            initializing = true;
        } else if sidecar_started {
            continue;
        } else if let Some(r) =
            str_at(c, "/state/waiting/reason").filter(|r| *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
            initializing = true;
        } else {
            reason = format!("Init:{i}/{init_specs}");
            initializing = true;
        }
        break;
    }
    if !initializing {
        let mut running = false;
        for c in app.iter().rev() {
            if let Some(r) = str_at(c, "/state/waiting/reason").filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = c.pointer("/state/terminated") {
                reason = match str_at(t, "/reason") {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => format!(
                        "ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    ),
                };
            } else if c.get("ready") == Some(&json!(true)) && c.pointer("/state/running").is_some()
            {
                running = true;
            }
        }
        // A pod whose containers run but which has not reported Ready yet, or is completed.
        if reason == "Completed" && running {
            reason = "Running".into();
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = "Terminating".into();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_column() {
        let pod = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
                         "status": {"phase": "Pending",
                                    "initContainerStatuses": [{"state": {"running": {}}}],
                                    "containerStatuses": [{"state": {"waiting": {"reason": "PodInitializing"}}}]}});
        let cells = pod_cells(&pod, Timestamp::UNIX_EPOCH);
        assert_eq!(cells[2], json!("Init:0/1"));
        let crash = json!({"spec": {"containers": [{"name": "a"}]},
                           "status": {"phase": "Running",
                                      "containerStatuses": [{"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        let cells = pod_cells(&crash, Timestamp::UNIX_EPOCH);
        assert_eq!(
            (cells[2].clone(), cells[3].clone()),
            (json!("CrashLoopBackOff"), json!("3"))
        );
        assert_eq!(human(59), "59s");
        assert_eq!(human(150), "2m30s");
        assert_eq!(human(3600 * 5 + 60), "5h1m");
    }
}
