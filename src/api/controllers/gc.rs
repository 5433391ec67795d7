//! The garbage collector. Background propagation (what kubectl asks by default): an object whose
//! owners are all gone is deleted, so deleting a Deployment takes its ReplicaSets, and they
//! their pods, one level per pass. Foreground: the owner stays, with a deletionTimestamp and the
//! `foregroundDeletion` finalizer, until its dependents are gone (each deleted in the foreground
//! too). Orphan: the dependents lose their reference to the owner and stay.

use std::collections::HashSet;

use serde_json::{Value, json};

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

const FOREGROUND: &str = "foregroundDeletion";
/// What can depend on an owner.
const DEPENDENTS: [&str; 3] = ["replicasets", "pods", "endpointslices"];

/// A DELETE with `propagationPolicy` Foreground or Orphan: what the object is then (None when it
/// does not exist).
pub fn delete_with(api: &Api, resource: &str, ns: &str, name: &str, policy: &str) -> Option<Value> {
    let k = key(resource, ns, name);
    let mut object = api.store.get(&k)?;
    if policy == "Orphan" {
        let owner = uid(&object).to_string();
        for r in DEPENDENTS {
            let (objects, _) = api.store.list(r, Some(ns));
            for mut o in objects {
                let Some(refs) = o
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                let before = refs.len();
                refs.retain(|r| r["uid"].as_str() != Some(&owner));
                if refs.len() != before {
                    let dk = key(r, ns, name_of(&o));
                    let _ = api.store.update(dk, o, None);
                }
            }
        }
        return api.store.delete(&k).ok();
    }
    if !deleting(&object) {
        object["metadata"]["deletionTimestamp"] = json!(crate::api::objects::now().to_string());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if generation > 0 {
            object["metadata"]["generation"] = json!(generation + 1);
        }
    }
    let finalizers = object["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FOREGROUND) {
        let mut finalizers = finalizers;
        finalizers.push(json!(FOREGROUND));
        object["metadata"]["finalizers"] = json!(finalizers);
    }
    api.store.update(k, object, None).ok()
}

/// Owners deleted in the foreground: their dependents go first (in the foreground too), then
/// the owner.
fn foreground(api: &Api) {
    for (_, resource) in OWNERS {
        let (owners, _) = api.store.list(resource, None);
        for owner in owners.iter().filter(|o| {
            deleting(o)
                && o.pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|f| f == FOREGROUND))
        }) {
            let (ns, id) = (namespace(owner), uid(owner));
            let mut left = 0;
            for r in DEPENDENTS {
                let (objects, _) = api.store.list(r, Some(ns));
                for o in objects.iter().filter(|o| {
                    o.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(id)))
                }) {
                    left += 1;
                    if deleting(o) {
                        continue;
                    }
                    if r == "pods" {
                        crate::api::pods::delete(api, ns, name_of(o), None);
                    } else if r == "replicasets" {
                        delete_with(api, r, ns, name_of(o), "Foreground");
                    } else {
                        let _ = api.store.delete(&key(r, ns, name_of(o)));
                    }
                }
            }
            if left == 0 {
                let _ = api.store.delete(&key(resource, ns, name_of(owner)));
            }
        }
    }
}

pub fn collect(api: &Api, pods: &[Value]) {
    foreground(api);
    let mut alive: HashSet<String> = HashSet::new();
    for (_, resource) in OWNERS {
        let (objects, _) = api.store.list(resource, None);
        alive.extend(objects.iter().map(|o| uid(o).to_string()));
    }
    for resource in DEPENDENTS {
        let listed;
        let objects = if resource == "pods" {
            pods
        } else {
            listed = api.store.list(resource, None).0;
            &listed
        };
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
