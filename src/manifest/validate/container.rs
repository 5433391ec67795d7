//! Checks for one container: image, ports, env, probes, resources and mounts.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar};

use super::objects::config_key;
use super::volumes::{ENV_FIELDS, field_ref, relative_path, resource_ref};
use super::{Checker, probe, resources, security};
use crate::manifest::names;

/// `grace` is the pod's terminationGracePeriodSeconds, as the API server has defaulted it.
pub fn check(
    checker: &mut Checker<'_>,
    path: &str,
    c: &Container,
    init: bool,
    volumes: &HashSet<&str>,
    grace: i64,
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
    if let Some(p) = c.termination_message_path.as_deref() {
        termination_message_path(checker, &format!("{path}.terminationMessagePath"), p);
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
        if let Some(l) = &c.lifecycle {
            let hooks = [("postStart", &l.post_start), ("preStop", &l.pre_stop)];
            for (field, hook) in hooks {
                if let Some(sleep) = hook.as_ref().and_then(|h| h.sleep.as_ref())
                    && !(0..=grace).contains(&sleep.seconds)
                {
                    checker.invalid(
                        &format!("{path}.lifecycle.{field}.sleep"),
                        sleep.seconds,
                        &format!(
                            "must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                        ),
                    );
                }
            }
        }
    }
    ports(checker, path, c.ports.as_deref().unwrap_or_default());
    for (i, var) in c.env.iter().flatten().enumerate() {
        env(checker, &format!("{path}.env[{i}]"), var);
    }
    for (i, from) in c.env_from.iter().flatten().enumerate() {
        let p = format!("{path}.envFrom[{i}]");
        match (&from.config_map_ref, &from.secret_ref) {
            (Some(r), None) if r.name.is_empty() => {
                checker.required(&format!("{p}.configMapRef.name"), "name the ConfigMap")
            }
            (None, Some(r)) if r.name.is_empty() => {
                checker.required(&format!("{p}.secretRef.name"), "name the Secret")
            }
            (Some(_), None) | (None, Some(_)) => {}
            (None, None) => checker.required(&p, "set `configMapRef` or `secretRef`"),
            (Some(_), Some(_)) => checker.push(
                &p,
                "may not have more than one field specified at a time".into(),
                None,
            ),
        }
    }
    if let Some(r) = &c.resources {
        resources::check(checker, &format!("{path}.resources"), r);
    }
    if let Some(sc) = &c.security_context {
        security::container(checker, &format!("{path}.securityContext"), sc);
    }
    mounts(checker, path, c, volumes);
}

/// Where the runtime mounts the file for the container's termination message. The API server
/// takes any string here and leaves it to the runtime, which mounts a host file at that path:
/// containerd and runc refuse a destination that is not absolute, and wpod, which resolves it in
/// a root that guests share, refuses `..` as the API server does for every path it checks.
fn termination_message_path(checker: &mut Checker<'_>, path: &str, value: &str) {
    if value.is_empty() {
        // Unset, as the API server defaults it: /dev/termination-log.
    } else if !value.starts_with('/') {
        checker.invalid(path, value, "must be an absolute path");
    } else if value.split('/').any(|c| c == "..") {
        checker.invalid(path, value, "must not contain '..'");
    } else if value.ends_with('/') {
        checker.invalid(path, value, "must name a file, not a directory");
    }
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
        if let Some(ip) = port.host_ip.as_deref().filter(|ip| !ip.is_empty())
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            checker.invalid(
                &format!("{path}.hostIP"),
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
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
    if let Some(f) = &from.field_ref {
        field_ref(checker, &format!("{from_path}.fieldRef"), f, ENV_FIELDS);
    }
    if let Some(r) = &from.resource_field_ref {
        resource_ref(checker, &format!("{from_path}.resourceFieldRef"), r);
    }
    let keys = [
        (
            "configMapKeyRef",
            from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key)),
        ),
        (
            "secretKeyRef",
            from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key)),
        ),
    ];
    for (field, refs) in keys {
        let Some((name, key)) = refs else { continue };
        if name.is_empty() {
            checker.required(
                &format!("{from_path}.{field}.name"),
                "name the object to read from",
            );
        }
        if key.is_empty() {
            checker.required(&format!("{from_path}.{field}.key"), "name the key to read");
        } else if let Some(why) = config_key(key) {
            checker.invalid(&format!("{from_path}.{field}.key"), key, &why);
        }
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
        } else if !mount.mount_path.starts_with('/') {
            checker.invalid(
                &format!("{path}.mountPath"),
                &mount.mount_path,
                "must be an absolute path",
            );
        } else if mount.mount_path.split('/').any(|c| c == "..") {
            checker.invalid(
                &format!("{path}.mountPath"),
                &mount.mount_path,
                "must not contain '..'",
            );
        } else if mount.mount_path.trim_end_matches('/').is_empty() {
            checker.invalid(
                &format!("{path}.mountPath"),
                &mount.mount_path,
                "wpod cannot mount a volume over the container's root directory",
            );
        }
        let sub_path = mount.sub_path.as_deref().filter(|s| !s.is_empty());
        let sub_path_expr = mount.sub_path_expr.as_deref().filter(|s| !s.is_empty());
        if let Some(sub) = sub_path {
            relative_path(checker, &format!("{path}.subPath"), sub);
        }
        if let Some(expr) = sub_path_expr {
            if sub_path.is_some() {
                checker.invalid(
                    &format!("{path}.subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                );
            } else {
                relative_path(checker, &format!("{path}.subPathExpr"), expr);
            }
        }
    }
}
