//! The downward API: pod fields and container resources as strings, as the kubelet renders them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, ResourceFieldSelector};

use crate::manifest::{parse_cpu_millis, parse_memory_bytes};
use crate::node::{HOST_IP, NODE_NAME};
use crate::plan::PodPlan;

/// What the kubelet knows about the pod beyond its plan.
#[derive(Clone, Default)]
pub struct PodFacts {
    /// The pod's IP, once a network gives it one; empty until then.
    pub pod_ip: Option<String>,
    /// The variables of the Services the pod sees (`<NAME>_SERVICE_HOST`, ...).
    pub service_env: Vec<(String, String)>,
    /// The API server's TokenRequest, when there is one (`wpod serve`).
    pub tokens: Option<std::sync::Arc<dyn crate::plan::service_account::TokenIssuer>>,
}

/// The value of a `fieldRef`, or an error message for a field the kubelet does not know.
pub fn field(plan: &PodPlan, facts: &PodFacts, f: &ObjectFieldSelector) -> Result<String, String> {
    let meta = &plan.manifest.metadata;
    let spec = plan.manifest.spec.as_ref();
    let path = f.field_path.as_str();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    if let Some(key) = subscript("metadata.labels['") {
        return Ok(map_get(meta.labels.as_ref(), &key));
    }
    if let Some(key) = subscript("metadata.annotations['") {
        return Ok(map_get(meta.annotations.as_ref(), &key));
    }
    Ok(match path {
        "metadata.name" => plan.name.clone(),
        "metadata.namespace" => plan.namespace.clone(),
        "metadata.uid" => plan.uid.clone(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => NODE_NAME.to_string(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
        "status.hostIP" | "status.hostIPs" => HOST_IP.to_string(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone().unwrap_or_default(),
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

fn map_get(map: Option<&BTreeMap<String, String>>, key: &str) -> String {
    map.and_then(|m| m.get(key)).cloned().unwrap_or_default()
}

/// `key="value"` lines in key order, values quoted as Go's %q does (the kubelet's FormatMap).
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a `resourceFieldRef` for `container`: limits left unset are the node's allocatable
/// (as the kubelet reports them), requests left unset default to the limit if one is set, else 0.
pub fn resource(
    plan: &PodPlan,
    default_container: &str,
    r: &ResourceFieldSelector,
) -> Result<String, String> {
    let name = r
        .container_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(default_container);
    let spec = plan.manifest.spec.as_ref();
    let container: Option<&Container> = spec.and_then(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .find(|c| c.name == name)
    });
    let Some(container) = container else {
        return Err(format!("container {name} not found"));
    };
    let (kind, resource) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {}", r.resource))?;
    let res = container.resources.clone().unwrap_or_default();
    let limit = res.limits.as_ref().and_then(|l| l.get(resource)).cloned();
    let request = res.requests.as_ref().and_then(|l| l.get(resource)).cloned();
    let quantity = match kind {
        "limits" => limit.map(|q| q.0),
        _ => request.or(limit).map(|q| q.0),
    };
    let divisor = r
        .divisor
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or("1".into());
    let bad = |q: &str| format!("invalid quantity {q:?}");
    if resource == "cpu" {
        let millis = match (&quantity, kind) {
            (Some(q), _) => parse_cpu_millis(q).map_err(|_| bad(q))?,
            (None, "limits") => crate::node::cpus() * 1000,
            (None, _) => 0,
        };
        let div = parse_cpu_millis(&divisor)
            .map_err(|_| bad(&divisor))?
            .max(1);
        Ok(millis.div_ceil(div).to_string())
    } else {
        let bytes = match (&quantity, kind, resource) {
            (Some(q), _, _) => parse_memory_bytes(q).map_err(|_| bad(q))?,
            (None, "limits", "memory") => crate::node::memory_bytes(),
            _ => 0,
        };
        let div = parse_memory_bytes(&divisor)
            .map_err(|_| bad(&divisor))?
            .max(1);
        Ok(bytes.div_ceil(div).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_formatted_like_the_kubelet() {
        let m: BTreeMap<String, String> = [("b", "x\"y"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(format_map(Some(&m)), "a=\"1\"\nb=\"x\\\"y\"");
        assert_eq!(format_map(None), "");
    }
}
