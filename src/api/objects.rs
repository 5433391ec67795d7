//! The REST verbs over stored objects (get, list, watch, create, update, delete), for every
//! resource of `discovery::RESOURCES`; pods add their admission and the node (`pods`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use hyper::{Method, Response, StatusCode};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::discovery::{self, Resource};
use super::openapi::{self, FieldValidation};
use super::patch::{self, PatchError, PatchType};
use super::status::{self, Body};
use super::store::{ObjectKey, StoreError, WatchEvent};
use super::{Api, Call, namespaces, pods, table, workloads};

pub fn key(resource: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// `/api/v1/...` (group "") or `/apis/<group>/v1/...`, after the version.
pub async fn dispatch(api: &Api, call: &Call, group: &str, rest: &[&str]) -> Response<Body> {
    let (namespace, plural, name, sub) = match rest {
        ["namespaces"] => (None, "namespaces", None, None),
        ["namespaces", ns] => (None, "namespaces", Some(*ns), None),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
        _ => {
            return status::failure(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            );
        }
    };
    let Some(resource) = discovery::find(group, plural) else {
        return status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    };
    if !resource.namespaced && namespace.is_some() {
        return status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        );
    }
    if resource.namespaced && name.is_some() && namespace.is_none() {
        return status::bad_request("a namespaced resource needs a namespace");
    }
    let ns = namespace.unwrap_or("");
    match (sub, name, &call.method) {
        (Some("status"), Some(name), &Method::GET) => get(api, call, resource, ns, name),
        (Some("scale"), Some(name), _)
            if matches!(resource.name, "deployments" | "replicasets") =>
        {
            workloads::scale(api, call, resource.name, ns, name)
        }
        (Some("log"), Some(name), &Method::GET) if resource.name == "pods" => {
            pods::log(api, call, ns, name)
        }
        (Some(_), _, _) => status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
        (None, None, &Method::GET) if watching(call) => watch(api, call, resource, namespace),
        (None, None, &Method::GET) => list(api, call, resource, namespace),
        (None, None, &Method::POST) => create(api, call, resource, ns).await,
        (None, None, &Method::DELETE) => delete_collection(api, call, resource, namespace),
        (None, Some(name), &Method::GET) => get(api, call, resource, ns, name),
        (None, Some(name), &Method::PUT) => update(api, call, resource, ns, name),
        (None, Some(name), &Method::PATCH) => patch(api, call, resource, ns, name),
        (None, Some(name), &Method::DELETE) => delete(api, call, resource, ns, name),
        _ => status::failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        ),
    }
}

fn watching(call: &Call) -> bool {
    matches!(call.param("watch"), Some("true" | "1"))
}

fn get(api: &Api, call: &Call, r: &Resource, ns: &str, name: &str) -> Response<Body> {
    match api.store.get(&key(r.name, ns, name)) {
        Some(object) if table::wanted(call.accept.as_deref()) => status::ok(&table::table(
            r.name,
            &[object],
            api.store.revision(),
            now(),
        )),
        Some(object) => status::ok(&object),
        None => status::not_found(r.name, name),
    }
}

fn list(api: &Api, call: &Call, r: &Resource, namespace: Option<&str>) -> Response<Body> {
    let (items, rv) = api.store.list(r.name, namespace);
    let selector = Selector::of(call);
    let items: Vec<Value> = items.into_iter().filter(|o| selector.matches(o)).collect();
    if table::wanted(call.accept.as_deref()) {
        return status::ok(&table::table(r.name, &items, rv, now()));
    }
    status::ok(&json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

async fn create(api: &Api, call: &Call, r: &Resource, ns: &str) -> Response<Body> {
    let object: Value = match serde_json::from_slice(&call.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return status::bad_request("the body must be a JSON object"),
        Err(e) => return status::bad_request(&format!("the body is not valid JSON: {e}")),
    };
    if let Some(given) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        && r.namespaced
        && given != ns
    {
        return status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        );
    }
    let (mut object, name) = match prepare(api, r, ns, object) {
        Ok(prepared) => prepared,
        Err(refused) => return *refused,
    };
    let warnings = match check_fields(call, r, &mut object) {
        Ok(w) => w,
        Err(refused) => return *refused,
    };
    object = stamp(object);
    warned(
        create_checked(api, r, ns, &name, object, dry_run(call)),
        &warnings,
    )
}

/// Creates `object` as a POST of it would, for a client in the process (`wpod run`).
pub fn create_object(api: &Api, r: &Resource, ns: &str, object: Value) -> Response<Body> {
    match prepare(api, r, ns, object) {
        Ok((object, name)) => create_checked(api, r, ns, &name, stamp(object), false),
        Err(refused) => *refused,
    }
}

/// What every create does first: a name (from generateName), the namespace (which must
/// exist), the kind and apiVersion.
fn prepare(
    api: &Api,
    r: &Resource,
    ns: &str,
    mut object: Value,
) -> Result<(Value, String), Box<Response<Body>>> {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Err(Box::new(invalid(r, "", "metadata", "Required value")));
    };
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(g) if !g.is_empty() => {
                let suffix = &crate::plan::new_uid(&Default::default())[..5];
                meta.insert("name".into(), json!(format!("{g}{suffix}")));
            }
            _ => {
                return Err(Box::new(invalid(
                    r,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )));
            }
        }
    }
    if r.namespaced {
        meta.insert("namespace".into(), json!(ns));
        namespaces::admits(api, ns)?;
    }
    let name = name_of(&object).to_string();
    typed(&mut object, r);
    Ok((object, name))
}

/// `dryRun=All`: everything a write does (validation, defaulting, conflicts) but the write.
fn dry_run(call: &Call) -> bool {
    call.param("dryRun") == Some("All")
}

fn create_checked(
    api: &Api,
    r: &Resource,
    ns: &str,
    name: &str,
    mut object: Value,
    dry_run: bool,
) -> Response<Body> {
    match r.name {
        "pods" => return pods::create(api, object, ns, name, dry_run),
        "namespaces" => namespaces::defaults(&mut object),
        // The apiserver's defaulting.
        "secrets" if object.get("type").is_none_or(|t| t.as_str() == Some("")) => {
            object["type"] = json!("Opaque");
        }
        other => {
            if let Err(refused) = workloads::on_create(api, other, &mut object) {
                return *refused;
            }
        }
    }
    if dry_run {
        return match api.store.get(&key(r.name, ns, name)) {
            Some(_) => store_error(r, name, StoreError::AlreadyExists),
            None => status::json(StatusCode::CREATED, &object),
        };
    }
    match api.store.create(key(r.name, ns, name), object) {
        Ok(o) => {
            if r.name == "namespaces" {
                namespaces::created(api, name);
            }
            // The node learns a Service at once: a pod created right after it gets its
            // variables, as the kubelet's informer has it by then.
            if r.name == "services" {
                super::controllers::services_changed(api);
            }
            status::json(StatusCode::CREATED, &o)
        }
        Err(e) => store_error(r, name, e),
    }
}

fn update(api: &Api, call: &Call, r: &Resource, ns: &str, name: &str) -> Response<Body> {
    let object: Value = match serde_json::from_slice(&call.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return status::bad_request("the body must be a JSON object"),
    };
    put(api, call, r, ns, name, object)
}

/// Stores `object` in place of `name` if its resourceVersion (when given) is the current one.
fn put(
    api: &Api,
    call: &Call,
    r: &Resource,
    ns: &str,
    name: &str,
    mut object: Value,
) -> Response<Body> {
    let warnings = match check_fields(call, r, &mut object) {
        Ok(w) => w,
        Err(refused) => return *refused,
    };
    warned(
        put_checked(api, r, ns, name, object, dry_run(call)),
        &warnings,
    )
}

fn put_checked(
    api: &Api,
    r: &Resource,
    ns: &str,
    name: &str,
    mut object: Value,
    dry_run: bool,
) -> Response<Body> {
    if !object["metadata"].is_object() {
        return invalid(
            r,
            name,
            "metadata",
            "Required value: an object with the name",
        );
    }
    typed(&mut object, r);
    if r.name == "pods" {
        return pods::update(api, object, ns, name, dry_run);
    }
    let Some(old) = api.store.get(&key(r.name, ns, name)) else {
        return status::not_found(r.name, name);
    };
    // Identity is the server's, whatever the body says.
    for field in ["uid", "creationTimestamp"] {
        object["metadata"][field] = old["metadata"][field].clone();
    }
    if r.namespaced {
        object["metadata"]["namespace"] = json!(ns);
    }
    if let Err(refused) = workloads::on_update(api, r.name, &old, &mut object) {
        return *refused;
    }
    let expected = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    if dry_run {
        if expected
            .as_deref()
            .is_some_and(|rv| rv != super::store::resource_version(&old))
        {
            return store_error(r, name, StoreError::Conflict);
        }
        return status::ok(&object);
    }
    match api
        .store
        .update(key(r.name, ns, name), object, expected.as_deref())
    {
        Ok(o) => status::ok(&o),
        Err(e) => store_error(r, name, e),
    }
}

/// PATCH: the stored object with the body applied, then stored as a PUT of it would be. A
/// patch that names a resourceVersion (as `kubectl edit` does not, and `kubectl patch
/// --resource-version` does) must name the current one.
fn patch(api: &Api, call: &Call, r: &Resource, ns: &str, name: &str) -> Response<Body> {
    let Some(patch_type) = PatchType::of(call.content_type.as_deref()) else {
        return status::failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                patch::ACCEPTED
            ),
            None,
        );
    };
    let Some(original) = api.store.get(&key(r.name, ns, name)) else {
        return status::not_found(r.name, name);
    };
    let kind = original
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut patched = match patch::apply(kind, &original, patch_type, &call.body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return status::bad_request("the patched object is not a JSON object"),
        Err(e @ PatchError::Malformed(_)) => return status::bad_request(&e.to_string()),
        Err(e @ PatchError::Unapplicable(_)) => {
            return status::failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                &e.to_string(),
                None,
            );
        }
    };
    if !patched["metadata"].is_object() {
        return invalid(
            r,
            name,
            "metadata",
            "Required value: an object with the name",
        );
    }
    // The object's identity is the server's, whatever the patch said.
    for field in ["name", "namespace", "uid", "creationTimestamp"] {
        match original["metadata"].get(field) {
            Some(v) => patched["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = patched["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    if patched["metadata"].get("resourceVersion").is_none() {
        patched["metadata"]["resourceVersion"] = original["metadata"]["resourceVersion"].clone();
    }
    put(api, call, r, ns, name, patched)
}

fn delete(api: &Api, call: &Call, r: &Resource, ns: &str, name: &str) -> Response<Body> {
    let DeleteOptions {
        grace,
        dry_run,
        propagation,
    } = DeleteOptions::of(call);
    if dry_run {
        return match api.store.get(&key(r.name, ns, name)) {
            Some(o) => status::ok(&o),
            None => status::not_found(r.name, name),
        };
    }
    match propagation.as_deref() {
        Some(policy @ ("Foreground" | "Orphan")) if r.name != "pods" && r.name != "namespaces" => {
            match super::controllers::gc::delete_with(api, r.name, ns, name, policy) {
                Some(o) => status::ok(&o),
                None => status::not_found(r.name, name),
            }
        }
        Some(other) if !matches!(other, "Background" | "Foreground" | "Orphan") => {
            status::bad_request(&format!(
                "propagationPolicy {other:?} is not one of Orphan, Background, Foreground"
            ))
        }
        _ => delete_one(api, r, ns, name, grace),
    }
}

fn delete_one(api: &Api, r: &Resource, ns: &str, name: &str, grace: Option<i64>) -> Response<Body> {
    match r.name {
        "pods" => pods::delete(api, ns, name, grace),
        "namespaces" => namespaces::delete(api, name),
        _ => match api.store.delete(&key(r.name, ns, name)) {
            Ok(o) => status::ok(&o),
            Err(e) => store_error(r, name, e),
        },
    }
}

/// What a DELETE asks, from its query or else its DeleteOptions body (kubectl sends the body).
struct DeleteOptions {
    grace: Option<i64>,
    dry_run: bool,
    /// `propagationPolicy`: Background (kubectl's default), Foreground or Orphan.
    propagation: Option<String>,
}

impl DeleteOptions {
    fn of(call: &Call) -> Self {
        let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
        let grace = call
            .param("gracePeriodSeconds")
            .and_then(|g| g.parse::<i64>().ok())
            .or_else(|| body.get("gracePeriodSeconds").and_then(Value::as_i64));
        let in_body = body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
        let propagation = call
            .param("propagationPolicy")
            .map(str::to_string)
            .or_else(|| {
                body.get("propagationPolicy")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                // The old form: `orphanDependents: true` is Orphan.
                (body.get("orphanDependents").and_then(Value::as_bool) == Some(true))
                    .then(|| "Orphan".to_string())
            });
        DeleteOptions {
            grace,
            dry_run: dry_run(call) || in_body,
            propagation,
        }
    }
}

/// DELETE on a collection: every object the selectors match is deleted as a DELETE of it would
/// be; the answer lists them as they were when deleted.
fn delete_collection(
    api: &Api,
    call: &Call,
    r: &Resource,
    namespace: Option<&str>,
) -> Response<Body> {
    let (items, _) = api.store.list(r.name, namespace);
    let selector = Selector::of(call);
    let DeleteOptions { grace, dry_run, .. } = DeleteOptions::of(call);
    let mut deleted = Vec::new();
    for item in items.iter().filter(|o| selector.matches(o)) {
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if r.name == "namespaces" && namespaces::DEFAULTS.contains(&name_of(item)) {
            continue;
        }
        if dry_run {
            deleted.push(item.clone());
            continue;
        }
        let answer = delete_one(api, r, ns, name_of(item), grace);
        if answer.status().is_success() {
            deleted.push(item.clone());
        }
    }
    status::ok(&json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": api.store.revision().to_string()},
        "items": deleted,
    }))
}

/// `fieldValidation`: unknown fields are refused (Strict), or dropped with a warning (Warn, the
/// default) or silently (Ignore), as the apiserver's decoder drops them.
fn check_fields(
    call: &Call,
    r: &Resource,
    object: &mut Value,
) -> Result<Vec<String>, Box<Response<Body>>> {
    let mode = FieldValidation::of(call.param("fieldValidation"))
        .map_err(|e| Box::new(status::bad_request(&e)))?;
    let found = openapi::unknown_fields(r, object);
    match mode {
        FieldValidation::Strict if !found.is_empty() => {
            Err(Box::new(status::bad_request(&format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}",
                found.join(", "),
                kind = r.kind
            ))))
        }
        FieldValidation::Warn => Ok(found),
        _ => Ok(Vec::new()),
    }
}

/// Adds each warning as the apiserver does: `Warning: 299 - "<text>"`, which kubectl prints.
fn warned(mut response: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text: String = w
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        let value = format!(
            "299 - \"{}\"",
            text.replace('\\', "\\\\").replace('"', "\\\"")
        );
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            response.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    response
}

/// Fills in the kind and apiVersion the URL names, as the apiserver's decoder does for a body
/// that leaves them out (client libraries often do).
fn typed(object: &mut Value, r: &Resource) {
    for (field, value) in [
        ("kind", r.kind.to_string()),
        ("apiVersion", r.api_version()),
    ] {
        if object
            .get(field)
            .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
        {
            object[field] = json!(value);
        }
    }
}

/// An object's `metadata.name`.
pub fn name_of(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn store_error(r: &Resource, name: &str, e: StoreError) -> Response<Body> {
    let details = Some(json!({"name": name, "kind": r.name}));
    match e {
        StoreError::AlreadyExists => status::failure(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", r.name),
            details,
        ),
        StoreError::NotFound => status::not_found(r.name, name),
        StoreError::Conflict => status::failure(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {} \"{name}\": {e}",
                r.name
            ),
            details,
        ),
        StoreError::Storage(e) => status::failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &format!("{e:#}"),
            None,
        ),
    }
}

/// 422 Invalid with one field cause, as the apiserver reports a validation error.
pub fn invalid(r: &Resource, name: &str, field: &str, message: &str) -> Response<Body> {
    status::failure(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{} \"{name}\" is invalid: {field}: {message}", r.kind),
        Some(json!({"name": name, "kind": r.name,
                    "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})),
    )
}

/// The wall-clock time in whole seconds, as Kubernetes' timestamps are.
pub fn now() -> Timestamp {
    let clock = crate::pod::clock::Clock::system();
    clock.wall(clock.now())
}

/// Sets what the apiserver sets on every new object: uid and creationTimestamp.
pub fn stamp(mut object: Value) -> Value {
    let uid = crate::plan::new_uid(&Default::default());
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), json!(uid));
        let now = now()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap_or(now());
        meta.insert("creationTimestamp".into(), json!(now.to_string()));
        meta.remove("resourceVersion");
    }
    object
}

/// `labelSelector` (equality: `a=b`, `a==b`, `a!=b`, `a`) and `fieldSelector` (`metadata.name`,
/// `metadata.namespace`, `status.phase`, `spec.nodeName`).
struct Selector {
    labels: Vec<(String, Option<String>, bool)>,
    fields: Vec<(String, String, bool)>,
}

impl Selector {
    fn of(call: &Call) -> Self {
        let split = |term: &str| -> Option<(String, Option<String>, bool)> {
            let term = term.trim();
            if term.is_empty() {
                return None;
            }
            if let Some((k, v)) = term.split_once("!=") {
                return Some((k.trim().into(), Some(v.trim().into()), false));
            }
            if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                return Some((k.trim().into(), Some(v.trim().into()), true));
            }
            Some((term.into(), None, true))
        };
        let terms = |p: &str| {
            call.param(p)
                .map(|s| s.split(',').filter_map(split).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        Selector {
            labels: terms("labelSelector"),
            fields: terms("fieldSelector")
                .into_iter()
                .filter_map(|(k, v, eq)| Some((k, v?, eq)))
                .collect(),
        }
    }

    fn matches(&self, o: &Value) -> bool {
        let labels = o.pointer("/metadata/labels").and_then(Value::as_object);
        let label_ok = self.labels.iter().all(|(k, v, eq)| {
            let have = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
            match v {
                None => have.is_some(),
                Some(v) => (have == Some(v.as_str())) == *eq,
            }
        });
        let field_ok = self.fields.iter().all(|(k, v, eq)| {
            let pointer = format!("/{}", k.replace('.', "/"));
            let have = o.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
            (have == v) == *eq
        });
        label_ok && field_ok
    }
}

/// `?watch=true`: the events after `resourceVersion` (all current objects as ADDED when it is
/// absent or 0), one JSON object per line, for as long as the client listens.
fn watch(api: &Api, call: &Call, r: &Resource, namespace: Option<&str>) -> Response<Body> {
    let since: Option<u64> = call
        .param("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0);
    let as_table = table::wanted(call.accept.as_deref());
    let selector = Selector::of(call);
    let timeout = call
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let resource = r.name;
    let namespace = namespace.map(str::to_string);
    let render = move |type_: &str, object: &Value, rv: u64| -> Bytes {
        let object = if as_table {
            table::table(resource, std::slice::from_ref(object), rv, now())
        } else {
            object.clone()
        };
        let mut line =
            serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let wanted = move |e: &WatchEvent| {
        e.key.resource == resource
            && namespace.as_deref().is_none_or(|ns| ns == e.key.namespace)
            && selector.matches(&e.object)
    };
    // Bookmarks tell a client how far the watch has come when nothing it wants changed; a
    // Table watch (kubectl get -w) never asks for them.
    let bookmarks = matches!(call.param("allowWatchBookmarks"), Some("true" | "1")) && !as_table;
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let (kind, api_version) = (r.kind, r.api_version());
    let start_rv = api.store.revision();
    match api.store.watch_from(resource, since) {
        Err(rv) => {
            let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": format!("too old resource version: {} ({rv})", since.unwrap_or(0)),
                              "reason": "Expired", "code": 410});
            let _ = tx.try_send(render("ERROR", &gone, rv));
        }
        Ok((backlog, mut events)) => {
            let stream = async move {
                for e in backlog.iter().filter(|e| wanted(e)) {
                    if tx.send(render(e.type_, &e.object, e.rv)).await.is_err() {
                        return;
                    }
                }
                let mut seen = backlog.last().map_or(start_rv, |e| e.rv.max(start_rv));
                loop {
                    let next_bookmark = bookmark_due(deadline);
                    let event = tokio::select! {
                        event = events.recv() => match event {
                            Ok(e) => e,
                            // A watcher too slow for the backlog ends; the client lists again.
                            Err(_) => return,
                        },
                        () = tokio::time::sleep_until(next_bookmark), if bookmarks => {
                            let mark = json!({"kind": kind, "apiVersion": api_version,
                                              "metadata": {"resourceVersion": seen.to_string()}});
                            if tx.send(render("BOOKMARK", &mark, seen)).await.is_err() {
                                return;
                            }
                            continue;
                        }
                    };
                    seen = seen.max(event.rv);
                    if wanted(&event)
                        && tx
                            .send(render(event.type_, &event.object, event.rv))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            };
            // `timeoutSeconds` ends the watch cleanly; clients then watch again from where
            // they were.
            tokio::spawn(async move {
                match timeout {
                    Some(t) => {
                        let _ = tokio::time::timeout(t, stream).await;
                    }
                    None => stream.await,
                }
            });
        }
    }
    let mut response = Response::new(ChannelBody(rx).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// How often a quiet watch gets a bookmark (the apiserver's cacher: about a minute).
const BOOKMARK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// When the next bookmark is due: a minute from now, or two seconds before the watch's
/// timeout if that comes first, so the client resumes from a recent version.
fn bookmark_due(deadline: Option<tokio::time::Instant>) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let regular = now + BOOKMARK_EVERY;
    let before_end = deadline
        .and_then(|d| d.checked_sub(std::time::Duration::from_secs(2)))
        .filter(|t| *t > now);
    before_end.map_or(regular, |t| t.min(regular))
}

/// A streamed response body, fed line by line.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}
