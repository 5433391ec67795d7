//! Discovery as client-go reads it without aggregated discovery: `/api` (APIVersions), `/apis`
//! (APIGroupList; any error there is fatal to kubectl, so it always answers), `/api/v1`
//! (APIResourceList), `/version`, and OpenAPI answered empty as kubectl's own fake server does.

use serde_json::{Value, json};

/// A resource wpod serves: API group (empty for the core group), plural name, kind, whether
/// namespaced, short names.
pub struct Resource {
    pub group: &'static str,
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
}

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        name: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
    },
    Resource {
        group: "",
        name: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
    },
    Resource {
        group: "",
        name: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
    },
    Resource {
        group: "",
        name: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
    },
    Resource {
        group: "",
        name: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
    },
    Resource {
        group: "",
        name: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short: &["no"],
    },
    Resource {
        group: "",
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
    },
    Resource {
        group: "",
        name: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
    },
    Resource {
        group: "",
        name: "endpoints",
        singular: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short: &["ep"],
    },
    Resource {
        group: "apps",
        name: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
    },
    Resource {
        group: "apps",
        name: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
    },
    Resource {
        group: "batch",
        name: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short: &[],
    },
    Resource {
        group: "node.k8s.io",
        name: "runtimeclasses",
        singular: "runtimeclass",
        kind: "RuntimeClass",
        namespaced: false,
        short: &[],
    },
    Resource {
        group: "discovery.k8s.io",
        name: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short: &[],
    },
];

/// The API groups besides the core one, each served at version v1.
pub const GROUPS: &[&str] = &["apps", "batch", "discovery.k8s.io", "node.k8s.io"];

impl Resource {
    /// `v1` for the core group, `<group>/v1` for the others.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".into()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// The name upstream's OpenAPI gives the kind's schema.
    pub fn schema_name(&self) -> String {
        let package = match self.group {
            "" => "core",
            "discovery.k8s.io" => "discovery",
            "node.k8s.io" => "node",
            other => other,
        };
        format!("io.k8s.api.{package}.v1.{}", self.kind)
    }

    /// Which kubectl categories (`kubectl get all`) the resource is in.
    fn categories(&self) -> &'static [&'static str] {
        match self.name {
            "pods" | "services" | "deployments" | "replicasets" | "jobs" => &["all"],
            _ => &[],
        }
    }

    /// Subresources served besides the object itself, with the kind each holds.
    fn subresources(&self) -> &'static [(&'static str, &'static str)] {
        match self.name {
            "pods" => &[("status", "Pod"), ("log", "Pod")],
            "nodes" => &[("status", "Node")],
            "namespaces" => &[("status", "Namespace")],
            "services" => &[("status", "Service")],
            "deployments" => &[("status", "Deployment"), ("scale", "Scale")],
            "replicasets" => &[("status", "ReplicaSet"), ("scale", "Scale")],
            "jobs" => &[("status", "Job")],
            _ => &[],
        }
    }
}

/// The resource of a kind, as a manifest names it.
pub fn of_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource `plural` of API group `group` ("" for the core group).
pub fn find(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.name == plural)
}

/// The Kubernetes version wpod's API follows, with wpod's own.
pub fn git_version() -> String {
    format!("v1.34.0-wpod.{}", env!("CARGO_PKG_VERSION"))
}

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "34",
        "gitVersion": git_version(),
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
        "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

pub fn api_groups() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            let version = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [version], "preferredVersion": version})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1` (group "") or `/apis/<group>/v1`: the group's resources and subresources.
pub fn resources(group: &str) -> Option<Value> {
    if !group.is_empty() && !GROUPS.contains(&group) {
        return None;
    }
    let mut list: Vec<Value> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let mut entry = json!({
            "name": r.name, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS, "shortNames": r.short,
        });
        if !r.categories().is_empty() {
            entry["categories"] = json!(r.categories());
        }
        list.push(entry);
        for (sub, kind) in r.subresources() {
            let mut entry = json!({"name": format!("{}/{sub}", r.name), "singularName": "",
                                   "namespaced": r.namespaced, "kind": kind});
            match *sub {
                "scale" => {
                    entry["group"] = json!("autoscaling");
                    entry["version"] = json!("v1");
                    entry["verbs"] = json!(["get", "patch", "update"]);
                }
                "status" if !r.group.is_empty() || r.name == "services" => {
                    entry["verbs"] = json!(["get", "patch", "update"]);
                }
                _ => entry["verbs"] = json!(["get"]),
            }
            list.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}),
    )
}
