//! The garbage collector, in background propagation (what kubectl asks by default): an object
//! whose owners are all gone is deleted, so deleting a Deployment takes its ReplicaSets, and
//! they their pods, one level per pass.

use std::collections::HashSet;

use serde_json::Value;

use super::{deleting, namespace, uid};
use crate::api::Api;
use crate::api::objects::{key, name_of};

/// The owner kinds wpod serves; a reference to another kind is left alone.
const OWNERS: [(&str, &str); 4] = [
    ("Deployment", "deployments"),
    ("ReplicaSet", "replicasets"),
    ("Job", "jobs"),
    ("Service", "services"),
];

pub fn collect(api: &Api) {
    let mut alive: HashSet<String> = HashSet::new();
    for (_, resource) in OWNERS {
        let (objects, _) = api.store.list(resource, None);
        alive.extend(objects.iter().map(|o| uid(o).to_string()));
    }
    for resource in ["replicasets", "pods", "endpointslices"] {
        let (objects, _) = api.store.list(resource, None);
        for o in objects.iter().filter(|o| !deleting(o)) {
            let Some(refs) = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
            else {
                continue;
            };
            let known: Vec<&Value> = refs
                .iter()
                .filter(|r| OWNERS.iter().any(|(kind, _)| r["kind"] == *kind))
                .collect();
            let orphaned = !known.is_empty()
                && known.len() == refs.len()
                && known
                    .iter()
                    .all(|r| r["uid"].as_str().is_none_or(|u| !alive.contains(u)));
            if !orphaned {
                continue;
            }
            let (ns, name) = (namespace(o), name_of(o));
            if resource == "pods" {
                crate::api::pods::delete(api, ns, name, None);
            } else {
                let _ = api.store.delete(&key(resource, ns, name));
            }
        }
    }
}
