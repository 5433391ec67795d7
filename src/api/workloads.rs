//! What the apiserver adds to Deployments, ReplicaSets and Services: defaults on create, a new
//! `generation` when the spec changes, a status only the controllers write, Service ClusterIPs
//! and NodePorts allocated (and kept), and the `scale` subresource `kubectl scale` uses.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::controllers::{int, namespace, selector};
use super::objects::{key, name_of, stamp};
use super::status::{self, Body};
use super::{Api, Call};
use crate::net::services::{DNS_IP, KUBERNETES_IP, is_service_ip, service_ip};

const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// The apiserver's refusal of a write.
type Refused = Box<Response<Body>>;

fn invalid(kind: &str, name: &str, field: &str, message: &str) -> Refused {
    Box::new(status::failure(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{kind} \"{name}\" is invalid: {field}: {message}"),
        Some(json!({"name": name, "kind": kind,
                    "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})),
    ))
}

/// The object decodes as its kind (the apiserver's decoding): what the controllers read of it
/// has the types they expect.
fn decodes(resource: &str, object: &Value) -> Result<(), Refused> {
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    let (kind, result) = match resource {
        "deployments" => (
            "Deployment",
            serde_json::from_value::<apps::Deployment>(object.clone()).map(drop),
        ),
        "replicasets" => (
            "ReplicaSet",
            serde_json::from_value::<apps::ReplicaSet>(object.clone()).map(drop),
        ),
        "jobs" => (
            "Job",
            serde_json::from_value::<batch::Job>(object.clone()).map(drop),
        ),
        "services" => (
            "Service",
            serde_json::from_value::<core::Service>(object.clone()).map(drop),
        ),
        _ => return Ok(()),
    };
    result.map_err(|e| {
        Box::new(status::bad_request(&format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {e}"
        )))
    })
}

/// Defaults and checks of a new object; Err is the apiserver's refusal.
pub fn on_create(api: &Api, resource: &str, object: &mut Value) -> Result<(), Refused> {
    decodes(resource, object)?;
    match resource {
        "deployments" | "replicasets" => {
            workload_defaults(resource, object);
            check_selector(object)?;
            object["metadata"]["generation"] = json!(1);
            object["status"] = json!({});
        }
        "services" => service_defaults(api, object, None)?,
        "jobs" => {
            job_defaults(object)?;
            object["metadata"]["generation"] = json!(1);
            object["status"] = json!({});
        }
        _ => {}
    }
    Ok(())
}

/// A Job's defaults: one completion at a time, six retries, and a selector of its own uid that
/// the template's labels carry (`batch.kubernetes.io/controller-uid`).
fn job_defaults(o: &mut Value) -> Result<(), Refused> {
    let name = name_of(o).to_string();
    let uid = super::controllers::uid(o).to_string();
    if !o["spec"].is_object() || !o["spec"]["template"].is_object() {
        return Err(invalid("Job", &name, "spec.template", "Required value"));
    }
    let policy = o
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !matches!(policy.as_str(), "Never" | "OnFailure") {
        return Err(invalid(
            "Job",
            &name,
            "spec.template.spec.restartPolicy",
            &format!("Unsupported value: {policy:?}: supported values: \"OnFailure\", \"Never\""),
        ));
    }
    let spec = &mut o["spec"];
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec["completions"] = json!(1);
    }
    for (field, value) in [
        ("parallelism", json!(1)),
        ("backoffLimit", json!(6)),
        ("completionMode", json!("NonIndexed")),
        ("suspend", json!(false)),
    ] {
        if spec.get(field).is_none_or(Value::is_null) {
            spec[field] = value;
        }
    }
    if spec.get("selector").is_none_or(Value::is_null) {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        if !spec["template"]["metadata"].is_object() {
            spec["template"]["metadata"] = json!({});
        }
        let labels = &mut spec["template"]["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels[k] = json!(v);
        }
    }
    Ok(())
}

/// An update through the main resource: the status stays the controllers', the generation
/// moves when the spec (or, for a Deployment, the annotations) changed.
pub fn on_update(
    api: &Api,
    resource: &str,
    old: &Value,
    object: &mut Value,
) -> Result<(), Refused> {
    decodes(resource, object)?;
    match resource {
        "deployments" | "replicasets" => {
            workload_defaults(resource, object);
            check_selector(object)?;
            if old.pointer("/spec/selector") != object.pointer("/spec/selector") {
                let kind = old["kind"].as_str().unwrap_or_default();
                return Err(invalid(
                    kind,
                    name_of(old),
                    "spec.selector",
                    "Invalid value: field is immutable",
                ));
            }
            let annotations = |o: &Value| {
                let mut a = o
                    .pointer("/metadata/annotations")
                    .cloned()
                    .unwrap_or(json!({}));
                if let Some(m) = a.as_object_mut() {
                    m.remove("deployment.kubernetes.io/revision");
                }
                a
            };
            let changed = old.get("spec") != object.get("spec")
                || (resource == "deployments" && annotations(old) != annotations(object));
            let generation = int(old, "/metadata/generation").max(1);
            object["metadata"]["generation"] = json!(generation + i64::from(changed));
            object["status"] = old.get("status").cloned().unwrap_or(json!({}));
        }
        "services" => {
            service_defaults(api, object, Some(old))?;
            object["status"] = old.get("status").cloned().unwrap_or(json!({}));
        }
        "jobs" => {
            if !object["spec"].is_object() {
                return Err(invalid("Job", name_of(old), "spec", "Required value"));
            }
            for field in ["selector", "template", "completions", "completionMode"] {
                if old["spec"].get(field) != object["spec"].get(field)
                    && object["spec"].get(field).is_some()
                {
                    return Err(invalid(
                        "Job",
                        name_of(old),
                        &format!("spec.{field}"),
                        "Invalid value: field is immutable",
                    ));
                }
            }
            for field in ["selector", "template", "completions", "completionMode"] {
                if object["spec"].get(field).is_none()
                    && let Some(v) = old["spec"].get(field)
                {
                    object["spec"][field] = v.clone();
                }
            }
            let changed = old.get("spec") != object.get("spec");
            let generation = int(old, "/metadata/generation").max(1);
            object["metadata"]["generation"] = json!(generation + i64::from(changed));
            object["status"] = old.get("status").cloned().unwrap_or(json!({}));
        }
        _ => {}
    }
    Ok(())
}

fn workload_defaults(resource: &str, o: &mut Value) {
    if !o["spec"].is_object() {
        o["spec"] = json!({});
    }
    let spec = &mut o["spec"];
    if spec.get("replicas").is_none_or(Value::is_null) {
        spec["replicas"] = json!(1);
    }
    if resource == "deployments" {
        if spec.get("revisionHistoryLimit").is_none_or(Value::is_null) {
            spec["revisionHistoryLimit"] = json!(10);
        }
        if spec
            .get("progressDeadlineSeconds")
            .is_none_or(Value::is_null)
        {
            spec["progressDeadlineSeconds"] = json!(600);
        }
        // `kubectl rollout resume` sends `paused: null`.
        if spec.get("paused").is_some_and(Value::is_null)
            && let Some(m) = spec.as_object_mut()
        {
            m.remove("paused");
        }
        if !spec["strategy"].is_object() {
            spec["strategy"] = json!({});
        }
        let strategy = &mut spec["strategy"];
        if strategy.get("type").is_none_or(Value::is_null) {
            strategy["type"] = json!("RollingUpdate");
        }
        if strategy["type"] == "RollingUpdate" {
            if !strategy["rollingUpdate"].is_object() {
                strategy["rollingUpdate"] = json!({});
            }
            for field in ["maxSurge", "maxUnavailable"] {
                if strategy["rollingUpdate"]
                    .get(field)
                    .is_none_or(Value::is_null)
                {
                    strategy["rollingUpdate"][field] = json!("25%");
                }
            }
        }
    }
}

/// `spec.selector` must be given and select the template's labels.
fn check_selector(o: &Value) -> Result<(), Refused> {
    let kind = o["kind"].as_str().unwrap_or_default();
    let name = name_of(o);
    let Some(sel) = o.pointer("/spec/selector").cloned() else {
        return Err(invalid(kind, name, "spec.selector", "Required value"));
    };
    let Ok(sel) = serde_json::from_value(sel) else {
        return Err(invalid(
            kind,
            name,
            "spec.selector",
            "Invalid value: not a label selector",
        ));
    };
    let sel: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector = sel;
    if sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty())
    {
        return Err(invalid(
            kind,
            name,
            "spec.selector",
            "Invalid value: empty selector is invalid for deployment",
        ));
    }
    let labels = super::controllers::labels(o, "/spec/template/metadata/labels");
    if !selector::matches(&sel, &labels) {
        return Err(invalid(
            kind,
            name,
            "spec.template.metadata.labels",
            &format!(
                "Invalid value: {:?}: `selector` does not match template `labels`",
                labels
            ),
        ));
    }
    Ok(())
}

/// The Service defaults of the apiserver, its ClusterIP and NodePorts.
fn service_defaults(api: &Api, o: &mut Value, old: Option<&Value>) -> Result<(), Refused> {
    let name = name_of(o).to_string();
    if !o["spec"].is_object() {
        o["spec"] = json!({});
    }
    let type_ = o
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if !matches!(
        type_.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        return Err(invalid(
            "Service",
            &name,
            "spec.type",
            &format!(
                "Unsupported value: {type_:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
            ),
        ));
    }
    let spec = &mut o["spec"];
    spec["type"] = json!(type_);
    if type_ != "ExternalName" {
        for (field, value) in [
            ("sessionAffinity", json!("None")),
            ("internalTrafficPolicy", json!("Cluster")),
            ("ipFamilies", json!(["IPv4"])),
            ("ipFamilyPolicy", json!("SingleStack")),
        ] {
            if spec.get(field).is_none_or(Value::is_null) {
                spec[field] = value;
            }
        }
    }
    if type_ == "ExternalName"
        && spec
            .get("externalName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(invalid(
            "Service",
            &name,
            "spec.externalName",
            "Required value",
        ));
    }
    let ports = spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    if ports.is_empty() && type_ != "ExternalName" && spec.get("clusterIP") != Some(&json!("None"))
    {
        return Err(invalid("Service", &name, "spec.ports", "Required value"));
    }
    let (services, _) = api.store.list("services", None);
    let mut used_node_ports: HashSet<u64> = services
        .iter()
        .filter(|s| super::controllers::uid(s) != old.map_or("", super::controllers::uid))
        .flat_map(|s| {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .collect::<Vec<_>>()
        })
        .collect();
    let needs_node_port = matches!(type_.as_str(), "NodePort" | "LoadBalancer");
    let mut out = Vec::new();
    for (i, mut p) in ports.into_iter().enumerate() {
        let Some(port) = p
            .get("port")
            .and_then(Value::as_u64)
            .filter(|p| (1..=65535).contains(p))
        else {
            return Err(invalid(
                "Service",
                &name,
                &format!("spec.ports[{i}].port"),
                "Invalid value: must be between 1 and 65535, inclusive",
            ));
        };
        if p.get("protocol").is_none_or(Value::is_null) {
            p["protocol"] = json!("TCP");
        }
        if p.get("targetPort").is_none_or(Value::is_null) {
            p["targetPort"] = json!(port);
        }
        if needs_node_port {
            match p.get("nodePort").and_then(Value::as_u64) {
                Some(n) if used_node_ports.contains(&n) => {
                    return Err(invalid(
                        "Service",
                        &name,
                        &format!("spec.ports[{i}].nodePort"),
                        &format!("Invalid value: {n}: provided port is already allocated"),
                    ));
                }
                Some(n) if !NODE_PORTS.contains(&(n as u16)) || n > 65535 => {
                    return Err(invalid(
                        "Service",
                        &name,
                        &format!("spec.ports[{i}].nodePort"),
                        &format!(
                            "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                        ),
                    ));
                }
                Some(n) => {
                    used_node_ports.insert(n);
                }
                None => {
                    let kept = old.and_then(|o| {
                        o.pointer("/spec/ports")?
                            .as_array()?
                            .iter()
                            .find(|q| q.get("port") == p.get("port"))?
                            .get("nodePort")?
                            .as_u64()
                    });
                    let free = kept.or_else(|| {
                        NODE_PORTS
                            .map(u64::from)
                            .find(|n| !used_node_ports.contains(n))
                    });
                    let Some(n) = free else {
                        return Err(invalid(
                            "Service",
                            &name,
                            &format!("spec.ports[{i}].nodePort"),
                            "Internal error: range is full",
                        ));
                    };
                    used_node_ports.insert(n);
                    p["nodePort"] = json!(n);
                }
            }
        }
        out.push(p);
    }
    if !out.is_empty() || type_ != "ExternalName" {
        spec["ports"] = json!(out);
    }
    if type_ == "ExternalName" {
        return Ok(());
    }
    let asked = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let kept = old.and_then(|o| o.pointer("/spec/clusterIP")?.as_str().map(str::to_string));
    if let (Some(kept), Some(asked)) = (&kept, &asked)
        && kept != asked
    {
        return Err(invalid(
            "Service",
            &name,
            "spec.clusterIPs[0]",
            "Invalid value: field is immutable",
        ));
    }
    let ip = match asked.or(kept) {
        Some(ip) if ip == "None" => "None".to_string(),
        Some(ip) => {
            let parsed: Option<Ipv4Addr> = ip.parse().ok();
            let taken = services.iter().any(|s| {
                s.pointer("/spec/clusterIP").and_then(Value::as_str) == Some(&ip)
                    && old.is_none_or(|o| super::controllers::uid(o) != super::controllers::uid(s))
            });
            match parsed {
                Some(a) if is_service_ip(a) && !taken => ip,
                Some(a) if is_service_ip(a) => {
                    return Err(invalid(
                        "Service",
                        &name,
                        "spec.clusterIPs",
                        &format!(
                            "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
                        ),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "Service",
                        &name,
                        "spec.clusterIPs",
                        &format!(
                            "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                            crate::net::services::SERVICE_CIDR
                        ),
                    ));
                }
            }
        }
        None => {
            let used: HashSet<&str> = services
                .iter()
                .filter_map(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str))
                .collect();
            // .1 is the API server's and .10 the DNS Service's, as on kubeadm clusters.
            let free = (11..)
                .map_while(service_ip)
                .map(|ip| ip.to_string())
                .find(|ip| !used.contains(ip.as_str()));
            free.ok_or_else(|| {
                invalid(
                    "Service",
                    &name,
                    "spec.clusterIPs",
                    "Internal error: range is full",
                )
            })?
        }
    };
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if old.is_none() {
        o["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

/// The Services every cluster has: `default/kubernetes` (the API server) and
/// `kube-system/kube-dns` (the cluster DNS).
pub fn ensure_cluster_services(api: &Api) {
    let fixed = [
        (
            "default",
            "kubernetes",
            KUBERNETES_IP,
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]),
            json!({"component": "apiserver", "provider": "kubernetes"}),
        ),
        (
            "kube-system",
            "kube-dns",
            DNS_IP,
            json!([{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                   {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]),
            json!({"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}),
        ),
    ];
    for (ns, name, ip, ports, labels) in fixed {
        let k = key("services", ns, name);
        if api.store.get(&k).is_some() {
            continue;
        }
        let object = stamp(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"type": "ClusterIP", "clusterIP": ip.to_string(), "clusterIPs": [ip.to_string()],
                     "ports": ports, "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
            "status": {"loadBalancer": {}},
        }));
        let _ = api.store.create(k, object);
    }
}

/// `deployments/<name>/scale` and `replicasets/<name>/scale`: an autoscaling/v1 Scale over the
/// object's `spec.replicas`.
pub fn scale(api: &Api, call: &Call, resource: &str, ns: &str, name: &str) -> Response<Body> {
    let k = key(resource, ns, name);
    let Some(object) = api.store.get(&k) else {
        return status::not_found(resource, name);
    };
    let replicas = match call.method {
        Method::GET => None,
        Method::PUT | Method::PATCH => {
            let current = view(&object);
            let body: Result<Value, String> = if call.method == Method::PUT {
                serde_json::from_slice(&call.body).map_err(|e| e.to_string())
            } else {
                let Some(t) = super::patch::PatchType::of(call.content_type.as_deref()) else {
                    return status::bad_request("unsupported patch type");
                };
                super::patch::apply("Scale", &current, t, &call.body).map_err(|e| e.to_string())
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => return status::bad_request(&e),
            };
            if let Some(rv) = body
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                && call.method == Method::PUT
                && rv != super::store::resource_version(&object)
            {
                return super::objects::store_error(
                    super::discovery::find(group(resource), resource)
                        .unwrap_or(&super::discovery::RESOURCES[0]),
                    name,
                    super::store::StoreError::Conflict,
                );
            }
            match body.pointer("/spec/replicas").and_then(Value::as_i64) {
                Some(n) if n >= 0 && n <= i64::from(i32::MAX) => Some(n),
                _ => {
                    return *invalid(
                        "Scale",
                        name,
                        "spec.replicas",
                        "Invalid value: must be greater than or equal to 0",
                    );
                }
            }
        }
        _ => {
            return status::failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            );
        }
    };
    let object = match replicas {
        Some(n) if object.pointer("/spec/replicas").and_then(Value::as_i64) != Some(n) => {
            let mut next = object.clone();
            next["spec"]["replicas"] = json!(n);
            next["metadata"]["generation"] = json!(int(&object, "/metadata/generation") + 1);
            match api.store.update(k, next, None) {
                Ok(o) => o,
                Err(e) => return status::bad_request(&e.to_string()),
            }
        }
        _ => object,
    };
    status::ok(&view(&object))
}

fn group(resource: &str) -> &'static str {
    match resource {
        "deployments" | "replicasets" => "apps",
        _ => "",
    }
}

fn view(object: &Value) -> Value {
    let sel = super::controllers::replicaset_selector(object);
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name_of(object), "namespace": namespace(object),
                     "uid": object.pointer("/metadata/uid"),
                     "resourceVersion": object.pointer("/metadata/resourceVersion"),
                     "creationTimestamp": object.pointer("/metadata/creationTimestamp")},
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": int(object, "/status/replicas"), "selector": selector::to_string(&sel)},
    })
}
