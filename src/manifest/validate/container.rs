//! Checks for one container: image, ports, env, probes, resources and mounts.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar};

use super::{Checker, probe, resources};
use crate::manifest::names;

pub fn check(
    checker: &mut Checker<'_>,
    path: &str,
    c: &Container,
    init: bool,
    volumes: &HashSet<&str>,
) {
    match c.image.as_deref() {
        None | Some("") => checker.required(
            &format!("{path}.image"),
            "say which image to run, e.g. `image: ./hello.wasm`",
        ),
        Some(image) if image.trim() != image => {
            checker.invalid(
                &format!("{path}.image"),
                image,
                "must not have leading or trailing whitespace",
            );
        }
        Some(_) => {}
    }
    if let Some(policy) = &c.image_pull_policy {
        let supported = ["Always", "IfNotPresent", "Never"];
        if !supported.contains(&policy.as_str()) {
            checker.unsupported(&format!("{path}.imagePullPolicy"), policy, &supported);
        }
    }
    if let Some(policy) = &c.termination_message_policy {
        let supported = ["File", "FallbackToLogsOnError"];
        if !supported.contains(&policy.as_str()) {
            checker.unsupported(
                &format!("{path}.terminationMessagePolicy"),
                policy,
                &supported,
            );
        }
    }
    let sidecar = restart_policy(checker, path, c, init);
    if init && !sidecar {
        let probes = [
            ("livenessProbe", c.liveness_probe.is_some()),
            ("readinessProbe", c.readiness_probe.is_some()),
            ("startupProbe", c.startup_probe.is_some()),
            ("lifecycle", c.lifecycle.is_some()),
        ];
        for (field, set) in probes {
            if set {
                checker.forbidden(
                    &format!("{path}.{field}"),
                    "may not be set for init containers without restartPolicy=Always",
                );
            }
        }
    } else {
        let probes = [
            ("livenessProbe", &c.liveness_probe, probe::Which::Liveness),
            (
                "readinessProbe",
                &c.readiness_probe,
                probe::Which::Readiness,
            ),
            ("startupProbe", &c.startup_probe, probe::Which::Startup),
        ];
        for (field, p, which) in probes {
            if let Some(p) = p {
                probe::check(checker, &format!("{path}.{field}"), p, which);
            }
        }
    }
    ports(checker, path, c.ports.as_deref().unwrap_or_default());
    for (i, var) in c.env.iter().flatten().enumerate() {
        env(checker, &format!("{path}.env[{i}]"), var);
    }
    if let Some(r) = &c.resources {
        resources::check(checker, &format!("{path}.resources"), r);
    }
    mounts(checker, path, c, volumes);
}

/// Returns whether the container is a sidecar (an init container that keeps running).
fn restart_policy(checker: &mut Checker<'_>, path: &str, c: &Container, init: bool) -> bool {
    let Some(policy) = &c.restart_policy else {
        return false;
    };
    let field = format!("{path}.restartPolicy");
    if !init {
        checker.forbidden(&field, "may not be set for non-init containers");
        false
    } else if policy != "Always" {
        checker.unsupported(&field, policy, &["Always"]);
        false
    } else {
        true
    }
}

fn ports(checker: &mut Checker<'_>, path: &str, ports: &[ContainerPort]) {
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("{path}.ports[{i}]");
        match port.container_port {
            0 => checker.required(
                &format!("{path}.containerPort"),
                "give the port number, e.g. `containerPort: 8080`",
            ),
            p if !(1..=65535).contains(&p) => {
                checker.invalid(
                    &format!("{path}.containerPort"),
                    p,
                    "must be between 1 and 65535, inclusive",
                );
            }
            _ => {}
        }
        if let Some(host) = port.host_port
            && !(0..=65535).contains(&host)
        {
            checker.invalid(
                &format!("{path}.hostPort"),
                host,
                "must be between 0 and 65535, inclusive",
            );
        }
        if let Some(protocol) = &port.protocol {
            let supported = ["TCP", "UDP", "SCTP"];
            if !supported.contains(&protocol.as_str()) {
                checker.unsupported(&format!("{path}.protocol"), protocol, &supported);
            }
        }
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let field = format!("{path}.name");
            if !names.insert(name) {
                checker.duplicate(&field, name);
            } else {
                checker.name(&field, name, names::iana_svc_name);
            }
        }
    }
}

fn env(checker: &mut Checker<'_>, path: &str, var: &EnvVar) {
    let name_path = format!("{path}.name");
    if var.name.is_empty() {
        checker.required(&name_path, "name the variable, e.g. `name: GREETING`");
    } else {
        checker.name(&name_path, &var.name, names::env_var_name);
    }
    let Some(from) = &var.value_from else {
        return;
    };
    let from_path = format!("{path}.valueFrom");
    if var.value.as_deref().is_some_and(|v| !v.is_empty()) {
        checker.forbidden(&from_path, "may not be specified when `value` is not empty");
    }
    let sources = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
        from.file_key_ref.is_some(),
    ];
    match sources.iter().filter(|set| **set).count() {
        0 => checker.required(
            &from_path,
            "set one of `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`",
        ),
        1 => {}
        _ => checker.push(&from_path, "may not have more than one field specified at a time".into(), None),
    }
}

fn mounts(checker: &mut Checker<'_>, path: &str, c: &Container, volumes: &HashSet<&str>) {
    let mut paths = HashSet::new();
    for (i, mount) in c.volume_mounts.iter().flatten().enumerate() {
        let path = format!("{path}.volumeMounts[{i}]");
        if mount.name.is_empty() {
            checker.required(
                &format!("{path}.name"),
                "name one of the pod's `spec.volumes`",
            );
        } else if !volumes.contains(mount.name.as_str()) {
            let field = format!("{path}.name");
            let help = format!(
                "declare it under `spec.volumes`, e.g. `- name: {}` with `emptyDir: {{}}`",
                mount.name
            );
            checker.push(&field, format!("not found: {:?}", mount.name), Some(&help));
        }
        if mount.mount_path.is_empty() {
            checker.required(
                &format!("{path}.mountPath"),
                "say where to mount it, e.g. `mountPath: /data`",
            );
        } else if !paths.insert(mount.mount_path.as_str()) {
            checker.invalid(
                &format!("{path}.mountPath"),
                &mount.mount_path,
                "must be unique",
            );
        }
    }
}
