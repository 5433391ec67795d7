//! The API server's validation of a Pod, so mistakes surface before anything runs.
//!
//! Messages follow Kubernetes' `field: Kind: detail` shape (lowercased) so that what
//! people learn here carries over to a real cluster.

mod container;
mod objects;
mod probe;
mod resources;
mod security;
mod volumes;
pub use volumes::is_windows_path;
mod workloads;

pub use objects::{config_map, secret};
pub use workloads::{deployment, job, replica_set, service};

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::diagnostic::Diagnostic;
use super::locate::Locator;
use super::names;

/// Collects the diagnostics for one pod; paths are relative to the pod.
pub struct Checker<'c> {
    file: &'c str,
    /// Path of the pod within its document: empty, or `items[3]` inside a List.
    prefix: &'c str,
    locator: &'c Locator<'c>,
    diagnostics: Vec<Diagnostic>,
}

impl<'c> Checker<'c> {
    pub fn new(file: &'c str, prefix: &'c str, locator: &'c Locator<'c>) -> Self {
        Checker {
            file,
            prefix,
            locator,
            diagnostics: Vec::new(),
        }
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    fn full(&self, path: &str) -> String {
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_owned(),
            (false, true) => self.prefix.to_owned(),
            (false, false) => format!("{}.{path}", self.prefix),
        }
    }

    fn push(&mut self, path: &str, message: String, help: Option<&str>) {
        let full = self.full(path);
        let mut diagnostic =
            Diagnostic::error(self.file, self.locator.value(&full), &full, message);
        diagnostic.help = help.map(str::to_owned);
        self.diagnostics.push(diagnostic);
    }

    fn required(&mut self, path: &str, help: &str) {
        self.push(path, "required value".into(), Some(help));
    }

    fn invalid(&mut self, path: &str, value: impl Debug, why: &str) {
        self.push(path, format!("invalid value {value:?}: {why}"), None);
    }

    fn unsupported(&mut self, path: &str, value: &str, supported: &[&str]) {
        let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        let message = format!(
            "unsupported value {value:?}: supported values: {}",
            supported.join(", ")
        );
        self.push(path, message, None);
    }

    fn duplicate(&mut self, path: &str, value: &str) {
        self.push(path, format!("duplicate value {value:?}"), None);
    }

    /// An error about a map key rather than its value.
    fn push_key(&mut self, path: &str, message: String) {
        let full = self.full(path);
        let pos = self.locator.key(&full);
        self.diagnostics
            .push(Diagnostic::error(self.file, pos, &full, message));
    }

    fn forbidden(&mut self, path: &str, why: &str) {
        let full = self.full(path);
        // Point at the key: the problem is that the field is there at all.
        let pos = self.locator.key(&full);
        let diagnostic = Diagnostic::error(self.file, pos, &full, format!("forbidden: {why}"));
        self.diagnostics.push(diagnostic);
    }

    /// Reports `name` at `path` if `check` finds it malformed.
    fn name(&mut self, path: &str, name: &str, check: fn(&str) -> Option<String>) {
        if let Some(why) = check(name) {
            self.invalid(path, name, &why);
        }
    }
}

pub fn pod(checker: &mut Checker<'_>, pod: &Pod) {
    metadata(checker, &pod.metadata);
    match &pod.spec {
        Some(spec) => self::spec(checker, spec),
        None => checker.required("spec", "add a `spec` with at least one container"),
    }
}

/// The name and namespace of a ConfigMap or Secret.
fn metadata_name(checker: &mut Checker<'_>, meta: &ObjectMeta) {
    match meta.name.as_deref() {
        Some(name) if !name.is_empty() => {
            checker.name("metadata.name", name, names::dns1123_subdomain)
        }
        _ => checker.required(
            "metadata.name",
            "name it, e.g. `metadata: {name: settings}`",
        ),
    }
    if let Some(namespace) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
        checker.name("metadata.namespace", namespace, names::dns1123_label);
    }
}

fn metadata(checker: &mut Checker<'_>, meta: &ObjectMeta) {
    let name = meta.name.as_deref().unwrap_or_default();
    let generate_name = meta.generate_name.as_deref().unwrap_or_default();
    if !name.is_empty() {
        checker.name("metadata.name", name, names::dns1123_subdomain);
    } else if !generate_name.is_empty() {
        // A generated name appends random characters, so a trailing '-' is fine.
        let masked = generate_name
            .strip_suffix('-')
            .map_or(generate_name.to_owned(), |s| format!("{s}a"));
        if let Some(why) = names::dns1123_subdomain(&masked) {
            checker.invalid("metadata.generateName", generate_name, &why);
        }
    } else {
        checker.required(
            "metadata.name",
            "name the pod, e.g. `metadata: {name: my-pod}`",
        );
    }
    if let Some(namespace) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
        checker.name("metadata.namespace", namespace, names::dns1123_label);
    }
    labels(checker, "metadata.labels", meta.labels.as_ref(), true);
    labels(
        checker,
        "metadata.annotations",
        meta.annotations.as_ref(),
        false,
    );
}

fn labels(
    checker: &mut Checker<'_>,
    path: &str,
    map: Option<&BTreeMap<String, String>>,
    check_values: bool,
) {
    for (key, value) in map.into_iter().flatten() {
        let entry = format!("{path}[{key}]");
        if let Some(why) = names::qualified_name(key) {
            let full = checker.full(&entry);
            let pos = checker.locator.key(&full);
            let message = format!("invalid key {key:?}: {why}");
            checker
                .diagnostics
                .push(Diagnostic::error(checker.file, pos, &full, message));
        }
        if check_values && let Some(why) = names::label_value(value) {
            checker.invalid(&entry, value, &why);
        }
    }
}

/// `dnsPolicy` and `dnsConfig`, within the resolver's limits.
fn dns(checker: &mut Checker<'_>, spec: &PodSpec) {
    let policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    if let Some(p) = spec.dns_policy.as_deref()
        && !policies.contains(&p)
    {
        checker.unsupported("spec.dnsPolicy", p, &policies);
    }
    let servers = spec
        .dns_config
        .as_ref()
        .and_then(|c| c.nameservers.as_ref())
        .map_or(0, Vec::len);
    if spec.dns_policy.as_deref() == Some("None") && servers == 0 {
        checker.required(
            "spec.dnsConfig.nameservers",
            "with `dnsPolicy: None` the pod's resolv.conf is `dnsConfig` alone: give at least one nameserver",
        );
    }
    if servers > 3 {
        checker.invalid(
            "spec.dnsConfig.nameservers",
            servers,
            "must not have more than 3 nameservers",
        );
    }
    let searches = spec
        .dns_config
        .as_ref()
        .and_then(|c| c.searches.as_ref())
        .map_or(0, Vec::len);
    if searches > 32 {
        checker.invalid(
            "spec.dnsConfig.searches",
            searches,
            "must not have more than 32 search paths",
        );
    }
}

/// `hostAliases`: an address and valid names each, as the API server checks them.
fn host_aliases(checker: &mut Checker<'_>, spec: &PodSpec) {
    for (i, alias) in spec.host_aliases.iter().flatten().enumerate() {
        let ip = format!("spec.hostAliases[{i}].ip");
        if alias.ip.is_empty() {
            checker.required(
                &ip,
                "give the address the names stand for, e.g. `ip: 10.1.2.3`",
            );
        } else if alias.ip.parse::<std::net::IpAddr>().is_err() {
            checker.invalid(
                &ip,
                &alias.ip,
                "must be a valid IP address, e.g. 10.1.2.3 or 2001:db8::1",
            );
        }
        for (j, name) in alias.hostnames.iter().flatten().enumerate() {
            let path = format!("spec.hostAliases[{i}].hostnames[{j}]");
            checker.name(&path, name, names::dns1123_subdomain);
        }
    }
}

fn spec(checker: &mut Checker<'_>, spec: &PodSpec) {
    dns(checker, spec);
    host_aliases(checker, spec);
    if spec.containers.is_empty() {
        checker.required("spec.containers", "a pod needs at least one container");
    }
    container_names(checker, spec);
    let policies = ["Always", "OnFailure", "Never"];
    if let Some(policy) = &spec.restart_policy
        && !policies.contains(&policy.as_str())
    {
        checker.unsupported("spec.restartPolicy", policy, &policies);
    }
    if let Some(seconds) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&seconds)
    {
        checker.invalid(
            "spec.activeDeadlineSeconds",
            seconds,
            "must be between 1 and 2147483647, inclusive",
        );
    }
    if let Some(seconds) = spec.termination_grace_period_seconds
        && seconds < 0
    {
        checker.invalid(
            "spec.terminationGracePeriodSeconds",
            seconds,
            "must be greater than or equal to 0",
        );
    }
    if let Some(hostname) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        checker.name("spec.hostname", hostname, names::dns1123_label);
    }
    if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        checker.name("spec.nodeName", node, names::dns1123_subdomain);
    }
    if let Some(sc) = &spec.security_context {
        security::pod(checker, "spec.securityContext", sc);
    }
    let volumes = volumes(checker, spec);
    let grace = spec
        .termination_grace_period_seconds
        .unwrap_or(crate::manifest::DEFAULT_GRACE_SECONDS);
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        container::check(
            checker,
            &format!("spec.initContainers[{i}]"),
            c,
            true,
            &volumes,
            grace,
        );
    }
    for (i, c) in spec.containers.iter().enumerate() {
        container::check(
            checker,
            &format!("spec.containers[{i}]"),
            c,
            false,
            &volumes,
            grace,
        );
    }
}

/// Container names must be unique across init, app and ephemeral containers.
fn container_names(checker: &mut Checker<'_>, spec: &PodSpec) {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str());
    let app = spec.containers.iter().map(|c| c.name.as_str());
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str());
    let paths = [
        ("spec.initContainers", init.collect::<Vec<_>>()),
        ("spec.containers", app.collect()),
        ("spec.ephemeralContainers", ephemeral.collect()),
    ];
    let mut seen = HashSet::new();
    for (list, names) in paths {
        for (i, name) in names.into_iter().enumerate() {
            let path = format!("{list}[{i}].name");
            if name.is_empty() {
                checker.required(&path, "name the container, e.g. `name: app`");
            } else if !seen.insert(name) {
                checker.duplicate(&path, name);
            } else {
                checker.name(&path, name, names::dns1123_label);
            }
        }
    }
}

/// Checks volume names and sources and returns the names, for volumeMounts to refer to.
fn volumes<'p>(checker: &mut Checker<'_>, spec: &'p PodSpec) -> HashSet<&'p str> {
    let mut declared = HashSet::new();
    let containers: HashSet<&str> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let path = format!("spec.volumes[{i}].name");
        if volume.name.is_empty() {
            checker.required(&path, "name the volume, e.g. `name: data`");
        } else if !declared.insert(volume.name.as_str()) {
            checker.duplicate(&path, &volume.name);
        } else {
            checker.name(&path, &volume.name, names::dns1123_label);
        }
        volumes::source(checker, &format!("spec.volumes[{i}]"), volume, &containers);
    }
    declared
}
