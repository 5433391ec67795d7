//! Pods through the API: admission (wpod's own validation, with the apiserver's 422 Invalid),
//! the node running them, their status flowing back into the stored object, graceful deletion
//! (`deletionTimestamp`, then removal once the kubelet is done), and after a restart of
//! `wpod serve` the stored pods running again, as a kubelet's pods do after a node reboot.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::{Response, StatusCode};
use k8s_openapi::api::core::v1 as k8s;
use serde_json::{Value, json};

use super::discovery;
use super::logs::Instance;
use super::objects::{self, key};
use super::status::{self, Body};
use super::{Api, Call};
use crate::node::{Change, NodeError};
use crate::plan::PodPlan;

fn resource() -> &'static discovery::Resource {
    // The table always holds pods.
    discovery::find("", "pods").unwrap_or(&discovery::RESOURCES[0])
}

/// Why the API refuses a pod, as the apiserver words it.
pub struct Refusal {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    details: Option<Value>,
}

impl Refusal {
    fn response(self) -> Response<Body> {
        status::failure(self.code, self.reason, &self.message, self.details)
    }
}

/// Validates `object` as `wpod validate` would and turns it into the plan the node runs.
fn admit(api: &Api, object: &Value, name: &str) -> Result<PodPlan, Refusal> {
    let text = serde_json::to_string_pretty(object).unwrap_or_default();
    let m = crate::manifest::load_str("request body", api.base_dir.clone(), &text);
    let errors: Vec<(String, String)> = m
        .errors()
        .map(|d| {
            let message = match &d.help {
                Some(h) => format!("{} ({h})", d.message),
                None => d.message.clone(),
            };
            (d.path.clone(), message)
        })
        .collect();
    if !errors.is_empty() {
        let causes: Vec<Value> = errors
            .iter()
            .map(|(field, message)| json!({"reason": "FieldValueInvalid", "message": message, "field": field}))
            .collect();
        let listed: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let listed = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        return Err(Refusal {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("Pod \"{name}\" is invalid: {listed}"),
            details: Some(json!({"name": name, "kind": "Pod", "causes": causes})),
        });
    }
    let pod: k8s::Pod = match m.pods.into_iter().next() {
        Some(p) => p,
        None => {
            return Err(Refusal {
                code: StatusCode::BAD_REQUEST,
                reason: "BadRequest",
                message: "the body holds no Pod".into(),
                details: None,
            });
        }
    };
    let uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let (config_maps, _) = api.store.list("configmaps", Some(&ns));
    let (secrets, _) = api.store.list("secrets", Some(&ns));
    let config_maps: Vec<k8s::ConfigMap> = parse(config_maps);
    let secrets: Vec<k8s::Secret> = parse(secrets);
    Ok(PodPlan::from_pod(&pod, uid, api.base_dir.clone()).with_objects(&config_maps, &secrets))
}

fn parse<T: serde::de::DeserializeOwned>(objects: Vec<Value>) -> Vec<T> {
    objects
        .into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

pub fn create(api: &Api, object: Value, ns: &str, name: &str, dry_run: bool) -> Response<Body> {
    if dry_run {
        return match admit(api, &object, name) {
            Err(refused) => refused.response(),
            Ok(_) if api.store.get(&key("pods", ns, name)).is_some() => {
                objects::store_error(resource(), name, super::store::StoreError::AlreadyExists)
            }
            Ok(plan) => {
                let mut object = object;
                object["status"] = json!({"phase": "Pending", "qosClass": plan.qos_class.as_str()});
                status::json(StatusCode::CREATED, &object)
            }
        };
    }
    match insert(api, object, ns, name) {
        Ok(stored) => status::json(StatusCode::CREATED, &stored),
        Err(refused) => refused.response(),
    }
}

/// Admits a new pod, stores it and gives it to the node: what a create does, for the API and
/// for the controllers that make pods.
pub fn insert(api: &Api, mut object: Value, ns: &str, name: &str) -> Result<Value, Refusal> {
    // The ServiceAccount admission plugin: the volume is part of the stored pod.
    if let Ok(mut pod) = serde_json::from_value::<k8s::Pod>(object.clone())
        && crate::plan::service_account::inject(&mut pod, api.ca_pem.is_some())
        && let Ok(spec) = serde_json::to_value(&pod.spec)
    {
        object["spec"] = spec;
    }
    let plan = admit(api, &object, name)?;
    object["status"] = json!({"phase": "Pending", "qosClass": plan.qos_class.as_str()});
    let stored = api
        .store
        .create(key("pods", ns, name), object)
        .map_err(|e| match e {
            super::store::StoreError::AlreadyExists => Refusal {
                code: StatusCode::CONFLICT,
                reason: "AlreadyExists",
                message: format!("pods \"{name}\" already exists"),
                details: Some(json!({"name": name, "kind": "pods"})),
            },
            other => Refusal {
                code: StatusCode::INTERNAL_SERVER_ERROR,
                reason: "InternalError",
                message: other.to_string(),
                details: None,
            },
        })?;
    if let Err(e) = api.node.add(plan) {
        let _ = api.store.delete(&key("pods", ns, name));
        return Err(Refusal {
            code: StatusCode::CONFLICT,
            reason: "AlreadyExists",
            message: e.to_string(),
            details: None,
        });
    }
    Ok(stored)
}

/// PUT: the pod's spec may change only where Kubernetes lets it (container images).
pub fn update(api: &Api, object: Value, ns: &str, name: &str, dry_run: bool) -> Response<Body> {
    let Some(old) = api.store.get(&key("pods", ns, name)) else {
        return status::not_found("pods", name);
    };
    let expected = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    if expected.is_some_and(|rv| rv != super::store::resource_version(&old)) {
        return objects::store_error(resource(), name, super::store::StoreError::Conflict);
    }
    let node = |o: &Value| o.pointer("/spec/nodeName").cloned();
    if node(&old).is_some() && node(&object).is_some_and(|n| Some(n) != node(&old)) {
        return status::failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &format!(
                "Pod \"{name}\" is invalid: spec.nodeName: Forbidden: a scheduled pod stays on its node"
            ),
            None,
        );
    }
    let mut next = object;
    // Identity and status are the server's.
    next["metadata"]["uid"] = old["metadata"]["uid"].clone();
    next["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
    next["metadata"]["namespace"] = json!(ns);
    next["status"] = old["status"].clone();
    if let Some(n) = node(&old)
        && next["spec"].is_object()
    {
        next["spec"]["nodeName"] = n;
    }
    let plan = match admit(api, &next, name) {
        Ok(p) => p,
        Err(refused) => return refused.response(),
    };
    let changed = if dry_run {
        api.node.check_update(&plan)
    } else {
        api.node.update(plan)
    };
    match changed {
        Ok(()) | Err(NodeError::NotFound(_)) => {}
        Err(e) => {
            return status::failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                &e.to_string(),
                None,
            );
        }
    }
    if dry_run {
        return status::ok(&next);
    }
    match api.store.update(key("pods", ns, name), next, None) {
        Ok(o) => status::ok(&o),
        Err(e) => objects::store_error(resource(), name, e),
    }
}

/// Graceful deletion: the object gets its deletionTimestamp now and goes once the node has
/// stopped the pod; a pod the node no longer runs goes at once.
pub fn delete(api: &Api, ns: &str, name: &str, grace: Option<i64>) -> Response<Body> {
    let Some(object) = api.store.get(&key("pods", ns, name)) else {
        return status::not_found("pods", name);
    };
    let grace = grace.map(|g| Duration::from_secs(g.max(0).unsigned_abs()));
    api.cluster.services.pod_terminating(ns, name);
    match api.node.delete(ns, name, grace) {
        Ok(()) => {
            // The node's worker publishes the deletionTimestamp; until then the object is shown
            // as it is.
            status::ok(&object)
        }
        Err(_) => match api.store.delete(&key("pods", ns, name)) {
            Ok(o) => {
                super::namespaces::pod_gone(api, ns);
                status::ok(&o)
            }
            Err(e) => objects::store_error(resource(), name, e),
        },
    }
}

/// Follows the node: status changes into the stored pods, finished deletions out of the store.
pub async fn follow(api: Arc<Api>) {
    let mut changes = api.node.subscribe();
    let mut events: std::collections::VecDeque<super::store::ObjectKey> = Default::default();
    loop {
        let change = match changes.recv().await {
            Ok(c) => c,
            // Changes were missed: take every pod's current status from the node instead.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                resync(&api);
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        match change {
            Change::Pod(pod) => store_status(&api, &pod),
            Change::Finished {
                namespace,
                name,
                deleted: true,
                ..
            } => {
                let _ = api.store.delete(&key("pods", &namespace, &name));
                api.logs.forget(&namespace, &name);
                super::namespaces::pod_gone(&api, &namespace);
            }
            Change::Event {
                namespace,
                pod,
                event,
            } => {
                if let Some(k) = record_event(&api, &namespace, &pod, &event) {
                    events.push_back(k);
                    // The apiserver lets events expire (an hour); wpod keeps the latest ones.
                    while events.len() > MAX_EVENTS {
                        if let Some(old) = events.pop_front() {
                            let _ = api.store.delete(&old);
                        }
                    }
                }
            }
            Change::Finished { .. } => {}
        }
    }
}

/// Writes what the node says of a pod (status, nodeName, deletionTimestamp) into its object.
fn store_status(api: &Api, pod: &k8s::Pod) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let k = key("pods", ns, name);
    let Some(mut stored) = api.store.get(&k) else {
        return;
    };
    let before = stored.clone();
    stored["status"] = serde_json::to_value(&pod.status).unwrap_or(Value::Null);
    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
        stored["spec"]["nodeName"] = json!(node);
    }
    if let Some(at) = &pod.metadata.deletion_timestamp {
        stored["metadata"]["deletionTimestamp"] = serde_json::to_value(at).unwrap_or(Value::Null);
        stored["metadata"]["deletionGracePeriodSeconds"] =
            json!(pod.metadata.deletion_grace_period_seconds);
    }
    if stored != before {
        let _ = api.store.update(k, stored, None);
    }
}

/// After missed changes: every pod's status from the node, and the deleted pods the node no
/// longer has out of the store.
fn resync(api: &Api) {
    let running = api.node.pods();
    for pod in &running {
        store_status(api, pod);
    }
    let (stored, _) = api.store.list("pods", None);
    for pod in stored {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = objects::name_of(&pod);
        let on_node = running.iter().any(|p| {
            p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name.as_deref() == Some(name)
        });
        if !on_node
            && pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null())
        {
            let _ = api.store.delete(&key("pods", ns, name));
            api.logs.forget(ns, name);
            super::namespaces::pod_gone(api, ns);
        }
    }
}

/// How many events are kept, all namespaces together.
const MAX_EVENTS: usize = 1000;

/// Stores a kubelet event as the core/v1 Event `kubectl describe` lists under the pod.
fn record_event(
    api: &Api,
    ns: &str,
    pod: &str,
    event: &crate::pod::events::Event,
) -> Option<super::store::ObjectKey> {
    let object = api.store.get(&key("pods", ns, pod))?;
    let uid = object
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    let name = format!("{pod}.{:x}", api.store.revision() + 1);
    let at = event.at.to_string();
    let mut involved =
        json!({"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": ns, "uid": uid});
    if let Some(c) = &event.container {
        involved["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
    }
    let object = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": at},
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.type_.as_str(),
        "source": {"component": "kubelet", "host": crate::node::NODE_NAME},
        "reportingComponent": "kubelet",
        "reportingInstance": crate::node::NODE_NAME,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    });
    let k = key("events", ns, &name);
    api.store.create(k.clone(), object).ok()?;
    Some(k)
}

/// After a restart: every stored pod runs again in a new sandbox; one that was being deleted
/// is gone.
pub fn resume(api: &Api) {
    let (pods, _) = api.store.list("pods", None);
    for pod in pods {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
        {
            let _ = api.store.delete(&key("pods", &ns, &name));
            continue;
        }
        if let Ok(plan) = admit(api, &pod, &name) {
            let _ = api.node.add(plan);
        }
    }
}

/// `kubectl logs [-c C] [--tail N] [--timestamps] [-f]`: the container's kept lines as text.
/// The pod and the container a subresource call (log, exec, attach) names with `container`:
/// the only app container when none is named.
pub fn container_for(
    api: &Api,
    call: &Call,
    ns: &str,
    name: &str,
) -> Result<(Value, String), Box<Response<Body>>> {
    let Some(pod) = api.store.get(&key("pods", ns, name)) else {
        return Err(Box::new(status::not_found("pods", name)));
    };
    let names: Vec<String> = ["initContainers", "containers"]
        .iter()
        .flat_map(|f| {
            pod.pointer(&format!("/spec/{f}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let app: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let container = match call.param("container") {
        Some(c) if names.iter().any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(Box::new(status::bad_request(&format!(
                "container {c} is not valid for pod {name}"
            ))));
        }
        None if app.len() == 1 => app[0]
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => {
            return Err(Box::new(status::bad_request(&format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            ))));
        }
    };
    Ok((pod, container))
}

pub fn log(api: &Api, call: &Call, ns: &str, name: &str) -> Response<Body> {
    let container = match container_for(api, call, ns, name) {
        Ok((_, c)) => c,
        Err(response) => return *response,
    };
    let tail = call
        .param("tailLines")
        .and_then(|t| t.parse::<usize>().ok());
    // `--since-time` names an instant, `--since` a span back from now (the kubelet reads both).
    let since = match (call.param("sinceTime"), call.param("sinceSeconds")) {
        (Some(t), _) => match t.parse::<k8s_openapi::jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                return status::bad_request(&format!(
                    "sinceTime {t:?} is not an RFC 3339 time: {e}"
                ));
            }
        },
        (None, Some(s)) => match s.parse::<i64>() {
            Ok(s) if s > 0 => Some(
                objects::now()
                    .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(s))
                    .unwrap_or(k8s_openapi::jiff::Timestamp::MIN),
            ),
            _ => {
                return status::bad_request(&format!(
                    "sinceSeconds {s:?} must be a positive number of seconds"
                ));
            }
        },
        (None, None) => None,
    };
    let stamps = matches!(call.param("timestamps"), Some("true" | "1"));
    let follow = matches!(call.param("follow"), Some("true" | "1"));
    let previous = matches!(call.param("previous"), Some("true" | "1"));
    let instance = if previous {
        Instance::Previous
    } else {
        Instance::Current
    };
    let render = move |lines: &[(u64, k8s_openapi::jiff::Timestamp, String)]| {
        let mut text = String::new();
        for (_, at, line) in lines {
            if stamps {
                text.push_str(&format!("{at} "));
            }
            text.push_str(line);
            text.push('\n');
        }
        bytes::Bytes::from(text)
    };
    let k = (ns.to_string(), name.to_string(), container);
    let Some(first) = api.logs.lines(&k, instance, 0, since, tail) else {
        return status::bad_request(&format!(
            "previous terminated container {:?} in pod {name:?} not found",
            k.2
        ));
    };
    // A previous instance's log is complete: following it ends at its end, as the kubelet's.
    if !follow || previous {
        let mut r = Response::new(http_body_util::Full::new(render(&first)).boxed());
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        return r;
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let logs = Arc::clone(&api.logs);
    let mut changes = logs.changes();
    // The instance followed: the current one, or the first to begin if none has yet.
    let mut followed = logs.instance(&k).map(|(n, _)| n);
    tokio::spawn(async move {
        let mut after = first.last().map_or(0, |(s, _, _)| *s);
        if tx.send(render(&first)).await.is_err() {
            return;
        }
        loop {
            let now = logs.instance(&k);
            // A new instance began (a restart), or the pod's logs are gone: this one is done.
            let over = match (followed, now) {
                (Some(f), Some((n, _))) if n != f => true,
                (Some(_), None) => true,
                (None, Some((n, _))) => {
                    followed = Some(n);
                    false
                }
                _ => false,
            };
            if !over {
                let more = logs
                    .lines(&k, Instance::Current, after, None, None)
                    .unwrap_or_default();
                if let Some((s, _, _)) = more.last() {
                    after = *s;
                    if tx.send(render(&more)).await.is_err() {
                        return;
                    }
                }
            }
            // It ended: everything it printed has been sent.
            if over || now.is_some_and(|(_, ended)| ended) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(objects::ChannelBody(rx).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    r
}
