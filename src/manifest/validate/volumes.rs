//! Checks for volume sources, the way the API server validates `spec.volumes`.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector, ResourceFieldSelector, Volume,
};

use super::Checker;
use super::objects::config_key;

/// The shortest lifetime a projected service account token may ask for (the apiserver's rule).
const MIN_TOKEN_SECONDS: i64 = 600;

/// The volume sources wpod provides; any other is mounted as an empty directory (with a warning).
const SUPPORTED: &[&str] = &[
    "emptyDir",
    "hostPath",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
];

pub const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

/// Field paths a downwardAPI volume item may select.
const VOLUME_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
];

/// Field paths an env variable may select.
pub const ENV_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

pub const RESOURCES: &[&str] = &[
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
];

/// Names of the sources a volume sets, from its JSON form (k8s-openapi has one field per source).
fn sources(volume: &Volume) -> Vec<String> {
    let value = serde_json::to_value(volume).unwrap_or_default();
    value
        .as_object()
        .map(|o| o.keys().filter(|k| *k != "name").cloned().collect())
        .unwrap_or_default()
}

pub fn source(checker: &mut Checker<'_>, path: &str, volume: &Volume, containers: &HashSet<&str>) {
    let set = sources(volume);
    match set.len() {
        0 => {
            checker.required(path, "give the volume a source, e.g. `emptyDir: {}`");
            return;
        }
        1 => {}
        _ => {
            checker.forbidden(
                &format!("{path}.{}", set[1]),
                "may not specify more than 1 volume type",
            );
            return;
        }
    }
    if !SUPPORTED.contains(&set[0].as_str()) {
        return;
    }
    if let Some(e) = &volume.empty_dir {
        if let Some(medium) = e.medium.as_deref().filter(|m| !m.is_empty())
            && medium != "Memory"
        {
            checker.unsupported(&format!("{path}.emptyDir.medium"), medium, &["", "Memory"]);
        }
        if let Some(limit) = &e.size_limit
            && crate::manifest::parse_memory_bytes(&limit.0).is_err()
        {
            checker.invalid(
                &format!("{path}.emptyDir.sizeLimit"),
                &limit.0,
                "must be a quantity such as `1Mi`",
            );
        }
    }
    if let Some(h) = &volume.host_path {
        let p = format!("{path}.hostPath.path");
        if h.path.is_empty() {
            checker.required(&p, "give an absolute host path, e.g. `path: /var/log`");
        } else if !h.path.starts_with('/') && !is_windows_path(&h.path) {
            checker.invalid(
                &p,
                &h.path,
                "must be an absolute path (`/var/log`, or `C:\\logs` for a node that runs Windows)",
            );
        } else if h
            .path
            .split(|c| c == '/' || (c == '\\' && is_windows_path(&h.path)))
            .any(|c| c == "..")
        {
            checker.invalid(&p, &h.path, "must not contain '..'");
        }
        if let Some(t) = &h.type_
            && !HOST_PATH_TYPES.contains(&t.as_str())
        {
            checker.unsupported(&format!("{path}.hostPath.type"), t, HOST_PATH_TYPES);
        }
    }
    if let Some(c) = &volume.config_map {
        let p = format!("{path}.configMap");
        if c.name.is_empty() {
            checker.required(&format!("{p}.name"), "name the ConfigMap");
        }
        mode(checker, &format!("{p}.defaultMode"), c.default_mode);
        items(checker, &p, c.items.as_deref().unwrap_or_default());
    }
    if let Some(s) = &volume.secret {
        let p = format!("{path}.secret");
        if s.secret_name.as_deref().unwrap_or_default().is_empty() {
            checker.required(&format!("{p}.secretName"), "name the Secret");
        }
        mode(checker, &format!("{p}.defaultMode"), s.default_mode);
        items(checker, &p, s.items.as_deref().unwrap_or_default());
    }
    if let Some(d) = &volume.downward_api {
        let p = format!("{path}.downwardAPI");
        mode(checker, &format!("{p}.defaultMode"), d.default_mode);
        downward_items(
            checker,
            &p,
            d.items.as_deref().unwrap_or_default(),
            containers,
        );
    }
    if let Some(pr) = &volume.projected {
        let p = format!("{path}.projected");
        mode(checker, &format!("{p}.defaultMode"), pr.default_mode);
        let mut paths = HashSet::new();
        for (i, s) in pr.sources.iter().flatten().enumerate() {
            let sp = format!("{p}.sources[{i}]");
            let value = serde_json::to_value(s).unwrap_or_default();
            let n = value.as_object().map_or(0, |o| o.len());
            if n == 0 {
                checker.required(
                    &sp,
                    "set one of `configMap`, `secret`, `downwardAPI` or `serviceAccountToken`",
                );
            } else if n > 1 {
                checker.push(
                    &sp,
                    "may not specify more than 1 volume type per source".into(),
                    None,
                );
            }
            if let Some(c) = &s.config_map {
                if c.name.is_empty() {
                    checker.required(&format!("{sp}.configMap.name"), "name the ConfigMap");
                }
                items(
                    checker,
                    &format!("{sp}.configMap"),
                    c.items.as_deref().unwrap_or_default(),
                );
                paths.extend(c.items.iter().flatten().map(|i| i.path.clone()));
            }
            if let Some(c) = &s.secret {
                if c.name.is_empty() {
                    checker.required(&format!("{sp}.secret.name"), "name the Secret");
                }
                items(
                    checker,
                    &format!("{sp}.secret"),
                    c.items.as_deref().unwrap_or_default(),
                );
            }
            if let Some(d) = &s.downward_api {
                downward_items(
                    checker,
                    &format!("{sp}.downwardAPI"),
                    d.items.as_deref().unwrap_or_default(),
                    containers,
                );
            }
            if let Some(t) = &s.service_account_token {
                let tp = format!("{sp}.serviceAccountToken");
                if t.path.is_empty() {
                    checker.required(&format!("{tp}.path"), "name the token's file");
                }
                let min = MIN_TOKEN_SECONDS;
                if let Some(e) = t.expiration_seconds
                    && !(min..=1 << 32).contains(&e)
                {
                    checker.push(
                        &format!("{tp}.expirationSeconds"),
                        format!(
                            "may not be less than {min} seconds (10 minutes) nor more than 2^32"
                        ),
                        None,
                    );
                }
            }
        }
    }
}

/// File modes are octal 0..=0777.
fn mode(checker: &mut Checker<'_>, path: &str, mode: Option<i32>) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        checker.invalid(
            path,
            m,
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

/// A path inside a volume: relative, without `..`.
pub fn relative_path(checker: &mut Checker<'_>, path: &str, value: &str) {
    if value.is_empty() {
        checker.required(path, "give a relative path, e.g. `path: config.txt`");
    } else if value.starts_with('/') {
        checker.invalid(path, value, "must be a relative path");
    } else if value.split('/').any(|c| c == "..") {
        checker.invalid(path, value, "must not contain '..'");
    }
}

/// A file a configMap, secret or downwardAPI volume projects: a relative path without `..`, not
/// starting with `..` either (the API server's validateLocalNonReservedPath: the kubelet's atomic
/// writer keeps its `..data` and timestamped directories there).
fn item_path(checker: &mut Checker<'_>, path: &str, value: &str) {
    if value.starts_with("..") && !value.starts_with('/') && !value.split('/').any(|c| c == "..") {
        checker.invalid(path, value, "must not start with '..'");
    } else {
        relative_path(checker, path, value);
    }
}

fn items(checker: &mut Checker<'_>, path: &str, items: &[KeyToPath]) {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}.items[{i}]");
        if item.key.is_empty() {
            checker.required(&format!("{p}.key"), "name the key to project");
        } else if let Some(why) = config_key(&item.key) {
            checker.invalid(&format!("{p}.key"), &item.key, &why);
        }
        item_path(checker, &format!("{p}.path"), &item.path);
        if !item.path.is_empty() && !seen.insert(item.path.as_str()) {
            checker.duplicate(&format!("{p}.path"), &item.path);
        }
        mode(checker, &format!("{p}.mode"), item.mode);
    }
}

fn downward_items(
    checker: &mut Checker<'_>,
    path: &str,
    items: &[DownwardAPIVolumeFile],
    containers: &HashSet<&str>,
) {
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}.items[{i}]");
        item_path(checker, &format!("{p}.path"), &item.path);
        mode(checker, &format!("{p}.mode"), item.mode);
        match (&item.field_ref, &item.resource_field_ref) {
            (Some(f), None) => field_ref(checker, &format!("{p}.fieldRef"), f, VOLUME_FIELDS),
            (None, Some(r)) => {
                let rp = format!("{p}.resourceFieldRef");
                match r.container_name.as_deref().filter(|c| !c.is_empty()) {
                    None => checker.required(
                        &format!("{rp}.containerName"),
                        "name the container whose resources to show",
                    ),
                    Some(c) if !containers.contains(c) => {
                        checker.invalid(&format!("{rp}.containerName"), c, "no such container")
                    }
                    Some(_) => {}
                }
                resource_ref(checker, &rp, r);
            }
            (None, None) => checker.required(&p, "set `fieldRef` or `resourceFieldRef`"),
            (Some(_), Some(_)) => checker.push(
                &p,
                "fieldRef and resourceFieldRef can not be specified simultaneously".into(),
                None,
            ),
        }
    }
}

/// `metadata.labels['key']` and `metadata.annotations['key']` are allowed besides the plain paths.
pub fn field_ref(checker: &mut Checker<'_>, path: &str, f: &ObjectFieldSelector, allowed: &[&str]) {
    if let Some(v) = f.api_version.as_deref().filter(|v| !v.is_empty())
        && v != "v1"
    {
        checker.unsupported(&format!("{path}.apiVersion"), v, &["v1"]);
    }
    let fp = f.field_path.as_str();
    let subscript = ["metadata.labels['", "metadata.annotations['"]
        .iter()
        .any(|p| fp.starts_with(p) && fp.ends_with("']") && fp.len() > p.len() + 2);
    if fp.is_empty() {
        checker.required(
            &format!("{path}.fieldPath"),
            "e.g. `fieldPath: metadata.name`",
        );
    } else if !subscript && !allowed.contains(&fp) {
        checker.unsupported(&format!("{path}.fieldPath"), fp, allowed);
    }
}

pub fn resource_ref(checker: &mut Checker<'_>, path: &str, r: &ResourceFieldSelector) {
    if !RESOURCES.contains(&r.resource.as_str()) {
        checker.unsupported(&format!("{path}.resource"), &r.resource, RESOURCES);
    }
    if let Some(d) = &r.divisor {
        let ok = if r.resource.ends_with("cpu") {
            crate::manifest::parse_cpu_millis(&d.0).is_ok_and(|m| m > 0)
        } else {
            crate::manifest::parse_memory_bytes(&d.0).is_ok_and(|b| b > 0)
        };
        if !ok {
            checker.invalid(
                &format!("{path}.divisor"),
                &d.0,
                "must be a positive quantity",
            );
        }
    }
}

/// Whether `path` is an absolute Windows path: a drive (`C:\`, `C:/`) or a share (`\\server`).
pub fn is_windows_path(path: &str) -> bool {
    let b = path.as_bytes();
    let drive =
        b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    drive || path.starts_with("\\\\")
}
