//! The ReplicaSet controller (pkg/controller/replicaset): as many active pods as `replicas`,
//! made from the template with the ReplicaSet as their controller, the ones upstream's ranking
//! puts first deleted on scale-down, and the status counts.

use std::cmp::Ordering;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{State, controller_ref, controller_uid, deleting, event, int, labels, namespace};
use crate::api::Api;
use crate::api::objects::{name_of, now, stamp};

const COMPONENT: &str = "replicaset-controller";

pub fn sync_all(api: &Api, state: &mut State, pods: &[Value]) {
    let (sets, _) = api.store.list("replicasets", None);
    for rs in &sets {
        sync(api, state, rs, pods);
    }
}

/// A pod that counts: not finished and not being deleted (`IsPodActive`).
pub fn active(pod: &Value, state: &State) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    !matches!(phase, Some("Succeeded" | "Failed"))
        && !deleting(pod)
        && !state
            .deleting
            .contains(&(namespace(pod).to_string(), name_of(pod).to_string()))
}

fn condition_true(pod: &Value, type_: &str) -> Option<Timestamp> {
    let c = pod
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")?;
    Some(
        c.get("lastTransitionTime")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

pub fn ready(pod: &Value) -> bool {
    condition_true(pod, "Ready").is_some()
}

/// Ready for at least `min_ready` seconds (`IsPodAvailable`).
fn available(pod: &Value, min_ready: i64, now: Timestamp) -> bool {
    condition_true(pod, "Ready").is_some_and(|since| {
        min_ready <= 0 || since.as_second().saturating_add(min_ready) < now.as_second()
    })
}

fn sync(api: &Api, state: &mut State, rs: &Value, all_pods: &[Value]) {
    let uid = super::uid(rs);
    let ns = namespace(rs);
    let owned: Vec<&Value> = all_pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid))
        .collect();
    let live: Vec<&Value> = owned.iter().copied().filter(|p| active(p, state)).collect();
    let want = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let mut failure = None;
    if !deleting(rs) {
        let have = live.len() as i64;
        if have < want {
            for _ in have..want {
                if let Err(why) = create_pod(api, rs, COMPONENT) {
                    event(
                        api,
                        rs,
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {why}"),
                        COMPONENT,
                    );
                    failure = Some(("FailedCreate", why));
                    break;
                }
            }
        } else if have > want {
            let mut victims = live.clone();
            let now = now();
            victims.sort_by(|a, b| rank(a, b, now));
            for pod in victims.into_iter().take((have - want) as usize) {
                let name = name_of(pod).to_string();
                let response = crate::api::pods::delete(api, ns, &name, None);
                if response.status().is_success() {
                    state.deleting.insert((ns.to_string(), name.clone()));
                    event(
                        api,
                        rs,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                        COMPONENT,
                    );
                } else {
                    failure = Some(("FailedDelete", format!("deleting pod {name}")));
                }
            }
        }
    }
    let (pods, _) = api.store.list("pods", Some(ns));
    let live: Vec<&Value> = pods
        .iter()
        .filter(|p| controller_uid(p) == Some(uid) && active(p, state))
        .collect();
    let template_labels = labels(rs, "/spec/template/metadata/labels");
    let min_ready = int(rs, "/spec/minReadySeconds");
    let now = now();
    let mut status = json!({
        "replicas": live.len(),
        "fullyLabeledReplicas": live.iter().filter(|p| {
            let have = labels(p, "/metadata/labels");
            template_labels.iter().all(|(k, v)| have.get(k) == Some(v))
        }).count(),
        "readyReplicas": live.iter().filter(|p| ready(p)).count(),
        "availableReplicas": live.iter().filter(|p| available(p, min_ready, now)).count(),
        "observedGeneration": int(rs, "/metadata/generation"),
    });
    if let Some((reason, message)) = failure {
        status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
            "reason": reason, "message": message, "lastTransitionTime": now.to_string()}]);
    }
    super::write_status(api, "replicasets", rs, status);
}

/// The pod an owner's template makes (`GetPodFromTemplate`), named `<owner>-<5 random>`, with
/// the owner as its controller; `component` reports it.
pub fn create_pod(api: &Api, rs: &Value, component: &str) -> Result<(), String> {
    let ns = namespace(rs);
    let base = name_of(rs);
    let prefix = if base.len() > 57 {
        format!("{}-", &base[..57])
    } else {
        format!("{base}-")
    };
    let template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let meta = template.get("metadata").cloned().unwrap_or(json!({}));
    if meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(|l| l.is_empty())
    {
        return Err("unable to create pods, no labels".into());
    }
    let name = format!("{prefix}{}", super::random_suffix());
    let mut metadata = json!({
        "name": name, "generateName": prefix, "namespace": ns,
        "labels": meta["labels"], "ownerReferences": [controller_ref(rs)],
    });
    if let Some(a) = meta.get("annotations").filter(|a| a.is_object()) {
        metadata["annotations"] = a.clone();
    }
    let pod = stamp(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    }));
    crate::api::pods::insert(api, pod, ns, &name).map_err(|r| r.message)?;
    event(
        api,
        rs,
        "Normal",
        "SuccessfulCreate",
        &format!("Created pod: {name}"),
        component,
    );
    Ok(())
}

/// Upstream's `ActivePodsWithRanks.Less`: the pod to delete first sorts first.
fn rank(a: &Value, b: &Value, now: Timestamp) -> Ordering {
    let node = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    let phase = |p: &Value| match p.pointer("/status/phase").and_then(Value::as_str) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    };
    let cost = |p: &Value| {
        p.pointer("/metadata/annotations/controller.kubernetes.io~1pod-deletion-cost")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let restarts = |p: &Value| {
        p.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .map_or(0, |cs| {
                cs.iter()
                    .map(|c| int(c, "/restartCount"))
                    .max()
                    .unwrap_or(0)
            })
    };
    let created = |p: &Value| {
        p.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    // Times in the same power-of-two bucket of age count as equal (LogarithmicScaleDown).
    let bucket = |t: Timestamp| {
        let age = now.as_second().saturating_sub(t.as_second()).max(1);
        63 - age.leading_zeros()
    };
    node(a)
        .cmp(&node(b))
        .then(phase(a).cmp(&phase(b)))
        .then(ready(a).cmp(&ready(b)))
        .then(cost(a).cmp(&cost(b)))
        .then_with(
            || match (condition_true(a, "Ready"), condition_true(b, "Ready")) {
                (Some(x), Some(y)) => bucket(x).cmp(&bucket(y)),
                _ => Ordering::Equal,
            },
        )
        .then(restarts(b).cmp(&restarts(a)))
        .then(bucket(created(a)).cmp(&bucket(created(b))))
        .then_with(|| super::uid(a).cmp(super::uid(b)))
}

/// `spec.selector` of a ReplicaSet or Deployment.
pub fn selector_of(o: &Value) -> LabelSelector {
    o.pointer("/spec/selector")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok())
        .unwrap_or_default()
}
