//! Which Pod fields wpod acts on, and a warning for every other field that is set.
//!
//! A field wpod accepts but ignores would silently change what the pod does, so each one
//! gets a warning saying what happens instead. The tables below are the single place to
//! update as wpod learns more of the Pod API.

use super::diagnostic::Diagnostic;
use super::locate::is_within;
use super::strict::Field;

/// Fields wpod honours, subtree included. Paths are relative to the pod; `[]` stands for
/// any list index and `C` for any of `spec.containers[]` and `spec.initContainers[]`.
const HONOURED: &[&str] = &[
    "C.workingDir",
    // The kubelet's image manager logs in with them (src/pod/image_pull.rs).
    "spec.imagePullSecrets",
    "apiVersion",
    "kind",
    "metadata.name",
    "metadata.generateName",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.restartPolicy",
    "spec.activeDeadlineSeconds",
    "spec.terminationGracePeriodSeconds",
    "spec.hostname",
    "spec.subdomain",
    "spec.nodeName",
    // The pod shares the machine's network (wasmtime-wasi's host sockets), as in Kubernetes.
    "spec.hostNetwork",
    "spec.shareProcessNamespace",
    // The service account volume holds the namespace file (see plan::service_account).
    "spec.automountServiceAccountToken",
    "spec.enableServiceLinks",
    // The pod's resolv.conf, and on wasm its name lookup (see plan::dns).
    "spec.dnsPolicy",
    "spec.dnsConfig",
    // The pod's /etc/hosts, and on wasm its name lookup (see runtime::HostsConfig).
    "spec.hostAliases",
    "C.name",
    "C.image",
    "C.imagePullPolicy",
    "C.command",
    "C.args",
    "C.env[].name",
    "C.env[].value",
    "C.env[].valueFrom.fieldRef",
    "C.env[].valueFrom.resourceFieldRef",
    "C.env[].valueFrom.configMapKeyRef",
    "C.env[].valueFrom.secretKeyRef",
    "C.envFrom",
    "C.volumeMounts[].name",
    "C.volumeMounts[].mountPath",
    "C.volumeMounts[].readOnly",
    "C.volumeMounts[].subPath",
    "C.volumeMounts[].subPathExpr",
    "spec.volumes[].name",
    "spec.volumes[].emptyDir",
    "spec.volumes[].hostPath",
    "spec.volumes[].configMap",
    "spec.volumes[].secret",
    "spec.volumes[].downwardAPI",
    "spec.volumes[].projected.defaultMode",
    "spec.volumes[].projected.sources[].configMap",
    "spec.volumes[].projected.sources[].secret",
    "spec.volumes[].projected.sources[].downwardAPI",
    "spec.volumes[].projected.sources[].serviceAccountToken",
    "C.resources.limits[memory]",
    "C.resources.requests",
    // Informational, as in Kubernetes: a container listens wherever it likes.
    "C.ports[].containerPort",
    "C.ports[].name",
    "C.ports[].protocol",
    // Published on the host (TCP), as a CNI portmap does on a node.
    "C.ports[].hostPort",
    "C.ports[].hostIP",
    // Probes (the kubelet's prober; httpGet and tcpSocket connect to the pod's IP).
    "C.livenessProbe.exec",
    "C.livenessProbe.httpGet.path",
    "C.livenessProbe.httpGet.port",
    "C.livenessProbe.httpGet.scheme",
    "C.livenessProbe.httpGet.httpHeaders",
    "C.livenessProbe.tcpSocket.port",
    "C.livenessProbe.initialDelaySeconds",
    "C.livenessProbe.periodSeconds",
    "C.livenessProbe.timeoutSeconds",
    "C.livenessProbe.successThreshold",
    "C.livenessProbe.failureThreshold",
    "C.livenessProbe.terminationGracePeriodSeconds",
    "C.readinessProbe.exec",
    "C.readinessProbe.httpGet.path",
    "C.readinessProbe.httpGet.port",
    "C.readinessProbe.httpGet.scheme",
    "C.readinessProbe.httpGet.httpHeaders",
    "C.readinessProbe.tcpSocket.port",
    "C.readinessProbe.initialDelaySeconds",
    "C.readinessProbe.periodSeconds",
    "C.readinessProbe.timeoutSeconds",
    "C.readinessProbe.successThreshold",
    "C.readinessProbe.failureThreshold",
    "C.readinessProbe.terminationGracePeriodSeconds",
    "C.startupProbe.exec",
    "C.startupProbe.httpGet.path",
    "C.startupProbe.httpGet.port",
    "C.startupProbe.httpGet.scheme",
    "C.startupProbe.httpGet.httpHeaders",
    "C.startupProbe.tcpSocket.port",
    "C.startupProbe.initialDelaySeconds",
    "C.startupProbe.periodSeconds",
    "C.startupProbe.timeoutSeconds",
    "C.startupProbe.successThreshold",
    "C.startupProbe.failureThreshold",
    "C.startupProbe.terminationGracePeriodSeconds",
    // Lifecycle hooks.
    "C.lifecycle.postStart.exec",
    "C.lifecycle.postStart.httpGet.path",
    "C.lifecycle.postStart.httpGet.port",
    "C.lifecycle.postStart.httpGet.scheme",
    "C.lifecycle.postStart.httpGet.httpHeaders",
    "C.lifecycle.postStart.sleep",
    "C.lifecycle.preStop.exec",
    "C.lifecycle.preStop.httpGet.path",
    "C.lifecycle.preStop.httpGet.port",
    "C.lifecycle.preStop.httpGet.scheme",
    "C.lifecycle.preStop.httpGet.httpHeaders",
    "C.lifecycle.preStop.sleep",
    // Sidecars (validation allows only `Always`, on init containers).
    "C.restartPolicy",
    "C.terminationMessagePath",
    "C.terminationMessagePolicy",
    // Security contexts: applied by --backend linux as containerd and runc do; on the wasm
    // backend `wpod run` names the ones that are moot there (see plan::PodPlan::moot_on_wasm).
    "C.securityContext.privileged",
    "C.securityContext.capabilities.add",
    "C.securityContext.capabilities.drop",
    "C.securityContext.allowPrivilegeEscalation",
    "C.securityContext.runAsUser",
    "C.securityContext.runAsGroup",
    "C.securityContext.runAsNonRoot",
    "C.securityContext.readOnlyRootFilesystem",
    "spec.securityContext.runAsUser",
    "spec.securityContext.runAsGroup",
    "spec.securityContext.runAsNonRoot",
    "spec.securityContext.supplementalGroups",
];

/// Fields that are honoured only with their default value.
const DEFAULTS: &[(&str, &str)] = &[
    ("spec.schedulerName", "default-scheduler"),
    ("C.volumeMounts[].mountPropagation", "None"),
    ("C.volumeMounts[].recursiveReadOnly", "Disabled"),
    ("C.securityContext.seccompProfile.type", "RuntimeDefault"),
    ("C.securityContext.seccompProfile.type", "Unconfined"),
    ("spec.securityContext.seccompProfile.type", "RuntimeDefault"),
    ("spec.securityContext.seccompProfile.type", "Unconfined"),
];

const NO_PROFILE_FILES: &str = "wpod loads no seccomp profile files: a Localhost profile fails the container's creation (CreateContainerError); use RuntimeDefault or Unconfined";

const SINGLE_NODE: &str = "wpod runs pods on this machine only; there is nothing to schedule";

/// What wpod does instead, for fields that deserve more than the generic message.
/// The longest matching prefix wins.
const INSTEAD: &[(&str, &str)] = &[
    ("status", "status is set by wpod; the input's is ignored"),
    ("metadata", "wpod ignores this metadata field"),
    (
        "C.livenessProbe.grpc",
        "wpod does not run gRPC probes; this probe always succeeds",
    ),
    (
        "C.readinessProbe.grpc",
        "wpod does not run gRPC probes; this probe always succeeds",
    ),
    (
        "C.startupProbe.grpc",
        "wpod does not run gRPC probes; this probe always succeeds",
    ),
    (
        "C.livenessProbe.httpGet.host",
        "wpod's probes always connect to the pod's IP",
    ),
    (
        "C.readinessProbe.httpGet.host",
        "wpod's probes always connect to the pod's IP",
    ),
    (
        "C.startupProbe.httpGet.host",
        "wpod's probes always connect to the pod's IP",
    ),
    (
        "C.lifecycle.postStart.httpGet.host",
        "wpod's hooks always connect to the pod's IP",
    ),
    (
        "C.lifecycle.preStop.httpGet.host",
        "wpod's hooks always connect to the pod's IP",
    ),
    (
        "C.lifecycle.stopSignal",
        "wpod stops containers with TERM, as without this field; stopSignal is not applied",
    ),
    (
        "C.lifecycle",
        "wpod does not run this kind of hook (Kubernetes keeps tcpSocket hooks only for compatibility); it is skipped",
    ),
    (
        "C.securityContext",
        "wpod does not apply this security setting; the container runs without it",
    ),
    (
        "spec.securityContext",
        "wpod does not apply this security setting; containers run without it",
    ),
    ("C.securityContext.seccompProfile", NO_PROFILE_FILES),
    ("spec.securityContext.seccompProfile", NO_PROFILE_FILES),
    (
        "C.env[].valueFrom",
        "wpod does not support this source; the variable is not set",
    ),
    (
        "spec.volumes[]",
        "wpod does not provide this kind of volume; an empty directory is mounted in its place",
    ),
    (
        "spec.volumes[].projected.sources[]",
        "wpod does not provide this projected source; it adds no files",
    ),
    (
        "C.volumeMounts[].mountPropagation",
        "mounts are never propagated between wpod containers and the host",
    ),
    (
        "C.volumeMounts[].recursiveReadOnly",
        "a readOnly mount is read-only all the way down in wpod anyway",
    ),
    ("C.volumeDevices", "wpod does not attach block devices"),
    (
        "C.stdin",
        "only `kubectl attach` (through `wpod serve`) writes to it: under `wpod run` its reads wait",
    ),
    (
        "C.stdinOnce",
        "only `kubectl attach` (through `wpod serve`) writes to it: under `wpod run` its reads wait",
    ),
    (
        "C.tty",
        "the container gets a terminal, reached by `kubectl attach -it` through `wpod serve`; its output is logged as lines",
    ),
    (
        "C.resources.limits[cpu]",
        "accepted, but not enforced on the wasm backend",
    ),
    ("C.resources.limits", "wpod does not enforce this limit"),
    (
        "spec.ephemeralContainers",
        "wpod does not run ephemeral containers",
    ),
    ("spec.affinity", SINGLE_NODE),
    ("spec.tolerations", SINGLE_NODE),
    ("spec.nodeSelector", SINGLE_NODE),
    ("spec.topologySpreadConstraints", SINGLE_NODE),
    ("spec.schedulerName", SINGLE_NODE),
    ("spec.priority", SINGLE_NODE),
    ("spec.priorityClassName", SINGLE_NODE),
    ("spec.preemptionPolicy", SINGLE_NODE),
    ("spec.schedulingGates", SINGLE_NODE),
    ("spec.serviceAccountName", SERVICE_ACCOUNT),
    ("spec.serviceAccount", SERVICE_ACCOUNT),
    (
        "spec.hostPID",
        "containers run in the wasm sandbox and do not share the host's namespaces",
    ),
    (
        "spec.hostIPC",
        "containers run in the wasm sandbox and do not share the host's namespaces",
    ),
    (
        "spec.runtimeClassName",
        "every pod runs on wpod's own runtime (the --backend chosen); the RuntimeClass is not consulted",
    ),
];

const SERVICE_ACCOUNT: &str = "`wpod run` has no API server and mounts no token for it; under `wpod serve` \
the pod's token names this account, and (wpod has no RBAC) may do what the admin may";
const GENERIC: &str = "wpod does not support this field yet; it is ignored";

/// One warning per set field that wpod does not honour. `prefix` is the pod's path in
/// its document (`items[0]` in a List) and `fields` the pod's fields in source order.
pub fn warnings(file: &str, prefix: &str, fields: &[Field<'_>]) -> Vec<Diagnostic> {
    let honoured: Vec<String> = HONOURED.iter().flat_map(|h| expand(h)).collect();
    let defaults: Vec<(String, &str)> = DEFAULTS
        .iter()
        .flat_map(|(p, d)| expand(p).map(move |p| (p, *d)))
        .collect();
    let instead: Vec<(String, &str)> = INSTEAD
        .iter()
        .flat_map(|(p, m)| expand(p).map(move |p| (p, *m)))
        .collect();
    let mut out = Vec::new();
    // The subtree already dealt with (honoured as a whole, or warned about once). Fields
    // come in source order, a field's descendants right after it, so one is enough.
    let mut closed: Option<&str> = None;
    for field in fields {
        let Some(relative) = relative_path(prefix, &field.path) else {
            continue;
        };
        if closed.is_some_and(|c| is_within(&field.path, c)) {
            continue;
        }
        closed = Some(&field.path);
        let pattern = pattern(relative);
        let is_default = || {
            let value = field
                .node
                .as_str()
                .map_or_else(|| field.node.source_text(), str::to_owned);
            defaults.iter().any(|(p, d)| *p == pattern && value == *d)
        };
        if honoured.contains(&pattern) || field.node.is_unset() || is_default() {
            continue;
        }
        if honoured.iter().any(|h| is_within(h, &pattern))
            || defaults.iter().any(|(d, _)| is_within(d, &pattern))
        {
            closed = None;
            continue;
        }
        let message = instead
            .iter()
            .filter(|(p, _)| pattern == *p || is_within(&pattern, p))
            .max_by_key(|(p, _)| p.len())
            .map_or(GENERIC, |(_, m)| m);
        let pos = field.key.or(field.node.pos);
        out.push(Diagnostic::warning(
            file,
            pos,
            &field.path,
            message.to_owned(),
        ));
    }
    out
}

/// `C.x` stands for the same field of app and init containers.
fn expand(entry: &str) -> impl Iterator<Item = String> + '_ {
    let lists: &[&str] = match entry.strip_prefix("C.") {
        Some(_) => &["spec.containers[]", "spec.initContainers[]"],
        None => &[""],
    };
    lists.iter().map(move |list| match entry.strip_prefix('C') {
        Some(tail) if !list.is_empty() => format!("{list}{tail}"),
        _ => entry.to_owned(),
    })
}

fn relative_path<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    if prefix.is_empty() {
        return Some(path);
    }
    path.strip_prefix(prefix)?.strip_prefix('.')
}

/// `spec.containers[2].env[0].name` → `spec.containers[].env[].name`; map keys stay.
fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        let inside = &rest[open + 1..close];
        if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("[]");
        } else {
            out.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(
            pattern("spec.initContainers[2].env[10].name"),
            "spec.initContainers[].env[].name"
        );
        assert_eq!(
            pattern("spec.containers[0].resources.limits[cpu]"),
            "spec.containers[].resources.limits[cpu]"
        );
        assert_eq!(pattern("spec.containers"), "spec.containers");
        assert_eq!(pattern("metadata.labels[a.b/c]"), "metadata.labels[a.b/c]");
        assert_eq!(pattern("spec.volumes[0]"), "spec.volumes[]");
    }

    #[test]
    fn container_entries_cover_both_lists() {
        let expanded: Vec<String> = expand("C.env[].name").collect();
        assert_eq!(
            expanded,
            [
                "spec.containers[].env[].name",
                "spec.initContainers[].env[].name"
            ]
        );
        assert_eq!(
            expand("spec.hostname").collect::<Vec<_>>(),
            ["spec.hostname"]
        );
    }
}
