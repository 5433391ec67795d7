//! Discovery as client-go reads it without aggregated discovery: `/api` (APIVersions), `/apis`
//! (APIGroupList; any error there is fatal to kubectl, so it always answers), `/api/v1`
//! (APIResourceList), `/version`, and OpenAPI answered empty as kubectl's own fake server does.

use serde_json::{Value, json};

/// A resource wpod serves: plural name, kind, whether namespaced, short names, verbs.
pub struct Resource {
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
        name: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
    },
    Resource {
        name: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
    },
    Resource {
        name: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
    },
    Resource {
        name: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
    },
    Resource {
        name: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
    },
    Resource {
        name: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short: &["no"],
    },
    Resource {
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
    },
];

pub fn find(plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == plural)
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
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
}

pub fn core_resources() -> Value {
    let mut list: Vec<Value> = Vec::new();
    for r in RESOURCES {
        let mut entry = json!({
            "name": r.name, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS, "shortNames": r.short,
        });
        if r.name == "pods" {
            entry["categories"] = json!(["all"]);
        }
        list.push(entry);
    }
    list.push(json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    list.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
    list.push(json!({"name": "nodes/status", "singularName": "", "namespaced": false, "kind": "Node", "verbs": ["get"]}));
    list.push(json!({"name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["get"]}));
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": list})
}
