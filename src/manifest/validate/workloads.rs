//! The API server's validation of Deployments, ReplicaSets and Services: what makes the
//! controllers and the proxy able to act on them. A workload's pod template is checked as a
//! Pod is.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Checker, metadata_name};
use crate::manifest::names;

pub fn deployment(checker: &mut Checker<'_>, d: &Deployment) {
    metadata_name(checker, &d.metadata);
    let Some(spec) = &d.spec else {
        checker.required("spec", "add a `spec` with `selector` and `template`");
        return;
    };
    replicas(checker, spec.replicas);
    if let Some(s) = &spec.strategy {
        let types = ["RollingUpdate", "Recreate"];
        if let Some(t) = s.type_.as_deref()
            && !types.contains(&t)
        {
            checker.unsupported("spec.strategy.type", t, &types);
        }
        if s.type_.as_deref() == Some("Recreate") && s.rolling_update.is_some() {
            checker.forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            );
        }
        if let Some(ru) = &s.rolling_update {
            let surge = ru.max_surge.as_ref().map(amount);
            let unavailable = ru.max_unavailable.as_ref().map(amount);
            if surge == Some(Some(0)) && unavailable == Some(Some(0)) {
                checker.invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    0,
                    "may not be 0 when `maxSurge` is 0",
                );
            }
        }
    }
    workload(checker, Some(&spec.selector), &spec.template);
}

pub fn replica_set(checker: &mut Checker<'_>, rs: &ReplicaSet) {
    metadata_name(checker, &rs.metadata);
    let Some(spec) = &rs.spec else {
        checker.required("spec", "add a `spec` with `selector` and `template`");
        return;
    };
    replicas(checker, spec.replicas);
    match &spec.template {
        Some(t) => workload(checker, Some(&spec.selector), t),
        None => checker.required("spec.template", "add the pod `template`"),
    }
}

pub fn job(checker: &mut Checker<'_>, job: &Job) {
    metadata_name(checker, &job.metadata);
    let Some(spec) = &job.spec else {
        checker.required("spec", "add a `spec` with the pod `template`");
        return;
    };
    for (field, value) in [
        ("spec.completions", spec.completions),
        ("spec.parallelism", spec.parallelism),
        ("spec.backoffLimit", spec.backoff_limit),
    ] {
        if let Some(n) = value
            && n < 0
        {
            checker.invalid(field, n, "must be greater than or equal to 0");
        }
    }
    if let Some(n) = spec.active_deadline_seconds
        && n <= 0
    {
        checker.invalid("spec.activeDeadlineSeconds", n, "must be greater than 0");
    }
    let policies = ["OnFailure", "Never"];
    match spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
    {
        Some(p) if policies.contains(&p) => {}
        Some(p) => checker.unsupported("spec.template.spec.restartPolicy", p, &policies),
        None => checker.required(
            "spec.template.spec.restartPolicy",
            "a Job's pods end: add `restartPolicy: Never` (or OnFailure)",
        ),
    }
    let mut meta: ObjectMeta = spec.template.metadata.clone().unwrap_or_default();
    meta.name = Some("template".into());
    let mut pod_spec = spec.template.spec.clone();
    if let Some(s) = pod_spec.as_mut() {
        // Checked above with the Job's own rule.
        s.restart_policy = None;
    }
    let pod = Pod {
        metadata: meta,
        spec: pod_spec,
        status: None,
    };
    let prefix = checker.full("spec.template");
    let mut inner = Checker::new(checker.file, &prefix, checker.locator);
    super::pod(&mut inner, &pod);
    checker.diagnostics.extend(inner.into_diagnostics());
}

/// A count or a percentage of maxSurge/maxUnavailable, when it is zero-comparable.
fn amount(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => s.strip_suffix('%')?.parse().ok(),
    }
}

fn replicas(checker: &mut Checker<'_>, replicas: Option<i32>) {
    if let Some(n) = replicas
        && n < 0
    {
        checker.invalid("spec.replicas", n, "must be greater than or equal to 0");
    }
}

/// The selector (given, not empty, selecting the template's labels) and the template as a pod.
fn workload(
    checker: &mut Checker<'_>,
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
) {
    let labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    match selector {
        None => checker.required(
            "spec.selector",
            "add `selector: {matchLabels: ...}` naming the template's labels",
        ),
        Some(s)
            if s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty) =>
        {
            checker.invalid(
                "spec.selector",
                "{}",
                "empty selector is invalid for deployment",
            )
        }
        Some(s) if !crate::manifest::selector::matches(s, &labels) => checker.invalid(
            "spec.template.metadata.labels",
            &labels,
            "`selector` does not match template `labels`",
        ),
        Some(_) => {}
    }
    if let Some(policy) = template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        && policy != "Always"
    {
        checker.unsupported("spec.template.spec.restartPolicy", policy, &["Always"]);
    }
    // The template is a pod without a name (its pods get generated ones).
    let mut meta: ObjectMeta = template.metadata.clone().unwrap_or_default();
    meta.name = Some("template".into());
    let pod = Pod {
        metadata: meta,
        spec: template.spec.clone(),
        status: None,
    };
    let prefix = checker.full("spec.template");
    let mut inner = Checker::new(checker.file, &prefix, checker.locator);
    super::pod(&mut inner, &pod);
    checker.diagnostics.extend(inner.into_diagnostics());
}

pub fn service(checker: &mut Checker<'_>, svc: &Service) {
    match svc.metadata.name.as_deref() {
        Some(name) if !name.is_empty() => checker.name("metadata.name", name, names::dns1035_label),
        _ => checker.required("metadata.name", "name it, e.g. `metadata: {name: web}`"),
    }
    let Some(spec) = &svc.spec else {
        checker.required("spec", "add a `spec` with `selector` and `ports`");
        return;
    };
    let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !types.contains(&type_) {
        checker.unsupported("spec.type", type_, &types);
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && type_ != "ExternalName" && !headless {
        checker.required(
            "spec.ports",
            "add the `ports` the Service forwards, e.g. `- port: 80`",
        );
    }
    if type_ == "ExternalName" && spec.external_name.as_deref().is_none_or(str::is_empty) {
        checker.required(
            "spec.externalName",
            "name the host, e.g. `externalName: db.example.com`",
        );
    }
    let mut names_seen = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let at = |f: &str| format!("spec.ports[{i}].{f}");
        if !(1..=65535).contains(&p.port) {
            checker.invalid(
                &at("port"),
                p.port,
                "must be between 1 and 65535, inclusive",
            );
        }
        match p.name.as_deref() {
            Some(name) if !name.is_empty() => {
                checker.name(&at("name"), name, names::dns1123_label);
                if names_seen.contains(&name) {
                    checker.duplicate(&at("name"), name);
                }
                names_seen.push(name);
            }
            _ if ports.len() > 1 => {
                checker.required(&at("name"), "a Service with several ports names each")
            }
            _ => {}
        }
        let protocols = ["TCP", "UDP", "SCTP"];
        if let Some(proto) = p.protocol.as_deref()
            && !protocols.contains(&proto)
        {
            checker.unsupported(&at("protocol"), proto, &protocols);
        }
        match &p.target_port {
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => checker.invalid(
                &at("targetPort"),
                n,
                "must be between 1 and 65535, inclusive",
            ),
            Some(IntOrString::String(name)) => {
                checker.name(&at("targetPort"), name, names::iana_svc_name)
            }
            _ => {}
        }
        if let Some(n) = p.node_port {
            if !matches!(type_, "NodePort" | "LoadBalancer") {
                checker.forbidden(
                    &at("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            } else if !(30000..=32767).contains(&n) {
                checker.invalid(&at("nodePort"), n, "provided port is not in the valid range. The range of valid ports is 30000-32767");
            }
        }
    }
    if let Some(ip) = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")
    {
        let in_range = ip
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(crate::manifest::is_service_ip);
        if !in_range {
            checker.invalid(
                "spec.clusterIP",
                ip,
                &format!(
                    "must be an address of the Service range {} or `None`",
                    crate::manifest::SERVICE_CIDR
                ),
            );
        }
    }
}
