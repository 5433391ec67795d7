//! The node object: the kubelet registers its node at start (capacity, allocatable, addresses,
//! nodeInfo) and posts its status again every `nodeStatusReportFrequency` (5 minutes), so
//! `kubectl get nodes` and `describe node` show the one node that runs every pod.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Api;
use super::objects::{self, key};

/// The kubelet's default `nodeStatusReportFrequency`.
const REPORT_EVERY: Duration = Duration::from_secs(300);
/// The kubelet's default `maxPods`.
const MAX_PODS: u32 = 110;

/// Reports the node's status every five minutes after the first report at start (and
/// registers it again if someone deleted it).
pub async fn keep_reporting(api: Arc<Api>) {
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + REPORT_EVERY, REPORT_EVERY);
    loop {
        every.tick().await;
        report(&api);
    }
}

/// Registers the node, or refreshes the registered one's status, as the kubelet does.
pub fn report(api: &Api) {
    let k = key("nodes", "", crate::node::NODE_NAME);
    let status = status(api.node.runtime_name());
    match api.store.get(&k) {
        Some(mut node) => {
            // The first Ready time stays: it is when the node became ready.
            node["status"] = keep_transitions(&node["status"], status);
            let _ = api.store.update(k, node, None);
        }
        None => {
            let node = objects::stamp(json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": crate::node::NODE_NAME, "labels": labels()},
                "spec": {},
                "status": status,
            }));
            let _ = api.store.create(k, node);
        }
    }
}

fn labels() -> Value {
    let (os, arch) = platform();
    json!({
        "kubernetes.io/hostname": crate::node::NODE_NAME,
        "kubernetes.io/os": os,
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": os,
        "beta.kubernetes.io/arch": arch,
        // One process is both the control plane and the node, as a single-node k3s is.
        "node-role.kubernetes.io/control-plane": "",
    })
}

/// GOOS/GOARCH spelling, as nodes are labelled.
fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

fn status(backend: &str) -> Value {
    let now = objects::now().to_string();
    let (os, arch) = platform();
    let resources = json!({
        "cpu": crate::node::cpus().to_string(),
        "memory": format!("{}Ki", crate::node::memory_bytes() / 1024),
        "pods": MAX_PODS.to_string(),
        "ephemeral-storage": "0",
    });
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    // As containerd's `containerd://1.7.x`: the runtime's name, which here is the backend.
    let runtime = format!("{backend}://wpod-{}", env!("CARGO_PKG_VERSION"));
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": crate::node::HOST_IP},
            {"type": "Hostname", "address": crate::node::NODE_NAME},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": kernel_version(),
            "osImage": os_image(),
            "containerRuntimeVersion": runtime,
            "kubeletVersion": super::discovery::git_version(),
            "kubeProxyVersion": "",
            "operatingSystem": os,
            "architecture": arch,
        },
    })
}

/// A condition whose status did not change keeps its lastTransitionTime.
fn keep_transitions(old: &Value, mut new: Value) -> Value {
    let before = old.get("conditions").and_then(Value::as_array);
    if let (Some(before), Some(after)) = (before, new["conditions"].as_array_mut()) {
        for c in after {
            let same = before
                .iter()
                .find(|b| b["type"] == c["type"] && b["status"] == c["status"]);
            if let Some(b) = same {
                c["lastTransitionTime"] = b["lastTransitionTime"].clone();
            }
        }
    }
    new
}

fn kernel_version() -> String {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        String::new()
    }
}

/// `PRETTY_NAME` of os-release, as the kubelet reports it.
fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let old = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}]});
        let new = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t1"},
                                        {"type": "DiskPressure", "status": "False", "lastTransitionTime": "t1"}]});
        let kept = super::keep_transitions(&old, new);
        assert_eq!(kept["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(kept["conditions"][1]["lastTransitionTime"], "t1");
    }
}
