//! Namespaces as the apiserver and its controllers keep them: the defaults every cluster has,
//! a `default` ServiceAccount in each (the serviceaccount controller), and deletion that first
//! empties the namespace (the namespace controller: phase Terminating, its objects deleted, its
//! pods gracefully) and then removes it.

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::discovery::RESOURCES;
use super::objects::{self, key};
use super::status::{self, Body};
use super::{Api, pods};

/// The namespaces every cluster has; they cannot be deleted.
pub const DEFAULTS: [&str; 3] = ["default", "kube-system", "kube-public"];

pub fn ensure_defaults(api: &Api) -> anyhow::Result<()> {
    for ns in DEFAULTS {
        let k = key("namespaces", "", ns);
        if api.store.get(&k).is_none() {
            let object = json!({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]},
                                "status": {"phase": "Active"}});
            api.store
                .create(k, objects::stamp(object))
                .map_err(|e| anyhow::anyhow!("creating namespace {ns}: {e}"))?;
        }
    }
    let (all, _) = api.store.list("namespaces", None);
    for ns in &all {
        let name = objects::name_of(ns);
        if terminating(ns) {
            // A deletion a restart interrupted goes on.
            empty(api, name);
        } else {
            created(api, name);
        }
    }
    Ok(())
}

/// What a new namespace gets: its `default` ServiceAccount and, with an API server to trust,
/// the `kube-root-ca.crt` ConfigMap (the root-ca-cert-publisher's) that pods' service account
/// volumes project `ca.crt` from.
pub fn created(api: &Api, ns: &str) {
    let k = key("serviceaccounts", ns, "default");
    if api.store.get(&k).is_none() {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": ns}});
        let _ = api.store.create(k, objects::stamp(sa));
    }
    let Some(ca) = &api.ca_pem else {
        return;
    };
    let name = crate::plan::service_account::ROOT_CA_CONFIG_MAP;
    let k = key("configmaps", ns, name);
    let current = api.store.get(&k);
    if current.as_ref().and_then(|c| c.pointer("/data/ca.crt")) == Some(&json!(ca)) {
        return;
    }
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": ns},
                        "data": {"ca.crt": ca}});
    let _ = match current {
        // A CA made afresh (new names for the server) replaces the old bundle.
        Some(current) => {
            cm["metadata"] = current["metadata"].clone();
            api.store.update(k, cm, None)
        }
        None => api.store.create(k, objects::stamp(cm)),
    };
}

/// Fills in what the apiserver defaults on a namespace being created.
pub fn defaults(object: &mut Value) {
    if object.pointer("/spec/finalizers").is_none() {
        object["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    object["status"] = json!({"phase": "Active"});
}

fn terminating(ns: &Value) -> bool {
    ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
}

/// Whether new objects may go into `ns`: it exists and is not being deleted.
pub fn admits(api: &Api, ns: &str) -> Result<(), Box<Response<Body>>> {
    match api.store.get(&key("namespaces", "", ns)) {
        None => Err(Box::new(status::not_found("namespaces", ns))),
        Some(n) if terminating(&n) => Err(Box::new(status::failure(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
            Some(json!({"name": ns, "kind": "namespaces"})),
        ))),
        Some(_) => Ok(()),
    }
}

/// DELETE of a namespace: marked Terminating at once, removed once it is empty.
pub fn delete(api: &Api, name: &str) -> Response<Body> {
    if DEFAULTS.contains(&name) {
        return status::failure(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("namespace \"{name}\" is forbidden: this namespace may not be deleted"),
            Some(json!({"name": name, "kind": "namespaces"})),
        );
    }
    let k = key("namespaces", "", name);
    let Some(mut ns) = api.store.get(&k) else {
        return status::not_found("namespaces", name);
    };
    if !terminating(&ns) {
        ns["metadata"]["deletionTimestamp"] = json!(objects::now().to_string());
        ns["status"]["phase"] = json!("Terminating");
        if let Ok(stored) = api.store.update(k, ns.clone(), None) {
            ns = stored;
        }
    }
    empty(api, name);
    // Answered as the apiserver does for an object with finalizers: the object, terminating.
    status::ok(&api.store.get(&key("namespaces", "", name)).unwrap_or(ns))
}

/// Deletes what `ns` holds (pods gracefully) and the namespace itself once no pod is left.
fn empty(api: &Api, ns: &str) {
    for r in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = api.store.list(r.name, Some(ns));
        for item in &items {
            let name = objects::name_of(item);
            if r.name == "pods" {
                let _ = pods::delete(api, ns, name, None);
            } else {
                let _ = api.store.delete(&key(r.name, ns, name));
            }
        }
    }
    pod_gone(api, ns);
}

/// After a pod of `ns` is gone: a terminating namespace with no pod left goes too.
pub fn pod_gone(api: &Api, ns: &str) {
    let k = key("namespaces", "", ns);
    if api.store.get(&k).is_some_and(|n| terminating(&n))
        && api.store.list("pods", Some(ns)).0.is_empty()
    {
        let _ = api.store.delete(&k);
    }
}
