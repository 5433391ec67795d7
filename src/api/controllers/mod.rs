//! The controllers of a control plane, in the API server's process as kube-controller-manager
//! runs them beside an apiserver: ReplicaSets keep their pods, Deployments roll out through
//! ReplicaSets, Services get endpoints (and the node's proxy and DNS learn them), and the
//! garbage collector deletes what an owner no longer holds. Each is level-triggered: a pass
//! looks at everything and writes only what differs, after any change and once a second (for
//! what time alone changes: minReadySeconds, progress deadlines).

mod deployment;
mod endpoints;
pub mod gc;
mod job;
mod replicaset;
pub use crate::manifest::selector;

pub use job::finished as job_finished;
pub use replicaset::selector_of as replicaset_selector;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Api;
use super::objects::{key, now};

/// How long a pass waits for more changes before it looks: a burst of writes is one pass.
const SETTLE: Duration = Duration::from_millis(15);
const RESYNC: Duration = Duration::from_secs(1);

/// What the controllers remember between passes.
#[derive(Default)]
pub struct State {
    /// Pods a controller asked to delete that are still stored: not counted again (upstream's
    /// "expectations"), so a slow graceful stop never makes a ReplicaSet delete one more.
    deleting: HashSet<(String, String)>,
}

/// Runs the controllers until the store closes.
pub async fn run(api: Arc<Api>) {
    let mut objects = api.store.subscribe();
    let mut pods = api.node.subscribe();
    let mut state = State::default();
    loop {
        pass(&api, &mut state);
        let woke = tokio::select! {
            e = objects.recv() => !matches!(e, Err(tokio::sync::broadcast::error::RecvError::Closed)),
            c = pods.recv() => !matches!(c, Err(tokio::sync::broadcast::error::RecvError::Closed)),
            () = tokio::time::sleep(RESYNC) => true,
        };
        if !woke {
            return;
        }
        tokio::time::sleep(SETTLE).await;
        // What came meanwhile is seen by the pass itself.
        while objects.try_recv().is_ok() {}
        while pods.try_recv().is_ok() {}
    }
}

/// One look at everything, in the order a change flows: Deployments make ReplicaSets, they
/// make pods, pods make endpoints; what lost its owner goes last.
pub fn pass(api: &Api, state: &mut State) {
    let (pods, _) = api.store.list("pods", None);
    state.deleting.retain(|(ns, name)| {
        pods.iter().any(|p| {
            p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                && super::objects::name_of(p) == name
        })
    });
    // One copy of the pods for the whole pass: what a controller changes in them now, the
    // next pass sees (every write wakes one).
    deployment::sync_all(api);
    replicaset::sync_all(api, state, &pods);
    job::sync_all(api, state, &pods);
    endpoints::sync_with(api, &pods);
    gc::collect(api, &pods);
}

/// Gives the node's Service table what the stored Services now say.
pub fn services_changed(api: &Api) {
    endpoints::sync_all(api);
}

/// The uid of the object's controller (the owner reference with `controller: true`).
pub fn controller_uid(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// An owner reference to `owner` as its controller, as `metav1.NewControllerRef` makes it.
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").cloned().unwrap_or(Value::Null),
        "kind": owner.get("kind").cloned().unwrap_or(Value::Null),
        "name": super::objects::name_of(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn uid(o: &Value) -> &str {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
}

pub fn deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Five characters of the apiserver's name generator alphabet (no vowels, no 0, 1 or 3).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let uid = crate::plan::new_uid(&Default::default()).replace('-', "");
    uid.as_bytes()
        .chunks(2)
        .take(5)
        .map(|pair| {
            let byte =
                u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("0"), 16).unwrap_or(0);
            ALPHABET[usize::from(byte) % ALPHABET.len()] as char
        })
        .collect()
}

/// Records an event about `object` as `component` reports it, and shows it on wpod's stderr as
/// the kubelet's pod events are shown.
pub fn event(api: &Api, object: &Value, type_: &str, reason: &str, message: &str, component: &str) {
    let ns = namespace(object).to_string();
    let name = super::objects::name_of(object).to_string();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let at = now().to_string();
    let event_name = format!("{name}.{:x}", api.store.revision() + 1);
    let record = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name, "namespace": ns, "creationTimestamp": at},
        "involvedObject": {"apiVersion": object.get("apiVersion").cloned().unwrap_or(Value::Null),
                           "kind": kind, "name": name, "namespace": ns, "uid": uid(object)},
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    });
    let _ = api.store.create(key("events", &ns, &event_name), record);
    (api.say)(&format!(
        "{}/{name}: {reason}: {message}",
        kind.to_ascii_lowercase()
    ));
}

/// The labels of an object or a pod template, as a map.
pub fn labels(o: &Value, pointer: &str) -> std::collections::BTreeMap<String, String> {
    o.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// An integer field, 0 when absent.
pub fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Writes `status` into the stored object when it differs (no generation change: a status
/// write through the status subresource).
pub fn write_status(api: &Api, resource: &str, object: &Value, status: Value) {
    if object.get("status") == Some(&status) {
        return;
    }
    let k = key(resource, namespace(object), super::objects::name_of(object));
    // The stored object may have moved on since it was read; the next pass looks again.
    let Some(mut current) = api.store.get(&k) else {
        return;
    };
    if uid(&current) != uid(object) {
        return;
    }
    current["status"] = status;
    let _ = api.store.update(k, current, None);
}
