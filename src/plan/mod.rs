//! A resolved, backend-neutral description of a pod: what the lifecycle needs, nothing of YAML.
//! Every field the kubelet acts on is resolved here, with Kubernetes' defaults; the API objects
//! stay only as input to the volume manager and the downward API (src/volumes/) and to be echoed
//! back in the pod's status.

mod build;
pub mod dns;
pub mod handler;
mod qos;
mod security;
pub mod service_account;

pub use build::{Overrides, PlanError, Source, build, new_uid};
pub use handler::{Handler, Probe, Timings};
pub use qos::QosClass;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Container, ContainerPort, Pod, Secret};

use crate::manifest::{parse_cpu_millis, parse_memory_bytes};
use crate::runtime::{PortMapping, Protocol, Security};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            // Validation refuses anything else; Always is the API default.
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `code` is started again.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    App,
}

/// A named port of a container, for probes and hooks that give a port by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: Option<String>,
    pub container_port: i32,
}

/// Where a container may leave its termination message, and what stands in when it leaves none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminationMessage {
    /// `terminationMessagePath`, `/dev/termination-log` by default.
    pub path: String,
    /// `terminationMessagePolicy: FallbackToLogsOnError`.
    pub fallback_to_logs: bool,
}

/// The default `terminationMessagePath`.
pub const DEFAULT_MESSAGE_PATH: &str = "/dev/termination-log";

#[derive(Clone, Debug)]
pub struct ContainerPlan {
    pub name: String,
    pub image: String,
    pub kind: ContainerKind,
    /// An init container with `restartPolicy: Always`, which keeps running beside the app
    /// containers.
    pub sidecar: bool,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    /// Literal env values, in order, before `$(VAR)` expansion.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub memory_limit: Option<u64>,
    /// `limits.cpu` in millicores.
    pub cpu_limit_millis: Option<u64>,
    pub ports: Vec<Port>,
    pub startup_probe: Option<Probe>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
    pub termination_message: TerminationMessage,
    /// Its `securityContext` with the pod's as defaults.
    pub security: Security,
    /// `runAsNonRoot` (container or pod): the kubelet refuses to start it as root.
    pub run_as_non_root: bool,
    /// The container as written, for the volume manager only (env sources, envFrom,
    /// volumeMounts, the downward API's resource fields).
    pub source: Container,
}

impl ContainerPlan {
    /// Its declared TCP `containerPort`s, in order.
    pub fn tcp_ports(&self) -> Vec<u16> {
        self.source
            .ports
            .iter()
            .flatten()
            .filter(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"))
            .filter_map(|p| u16::try_from(p.container_port).ok())
            .collect()
    }

    /// Its declared ports as `80/TCP`.
    pub fn declared_ports(&self) -> Vec<String> {
        self.source
            .ports
            .iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.container_port,
                    p.protocol.as_deref().unwrap_or("TCP")
                )
            })
            .collect()
    }

    fn of(
        c: &Container,
        kind: ContainerKind,
        pod: Option<&k8s_openapi::api::core::v1::PodSecurityContext>,
    ) -> Self {
        let limit = |name: &str| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get(name))
                .map(|q| q.0.clone())
        };
        let lifecycle = c.lifecycle.as_ref();
        ContainerPlan {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            kind,
            sidecar: kind == ContainerKind::Init && c.restart_policy.as_deref() == Some("Always"),
            command: c.command.clone(),
            args: c.args.clone(),
            env: c
                .env
                .iter()
                .flatten()
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect(),
            working_dir: c.working_dir.clone(),
            memory_limit: limit("memory").and_then(|q| parse_memory_bytes(&q).ok()),
            cpu_limit_millis: limit("cpu").and_then(|q| parse_cpu_millis(&q).ok()),
            ports: c
                .ports
                .iter()
                .flatten()
                .map(|p| Port {
                    name: p.name.clone(),
                    container_port: p.container_port,
                })
                .collect(),
            startup_probe: c.startup_probe.as_ref().and_then(Probe::of),
            liveness_probe: c.liveness_probe.as_ref().and_then(Probe::of),
            readiness_probe: c.readiness_probe.as_ref().and_then(Probe::of),
            post_start: lifecycle
                .and_then(|l| l.post_start.as_ref())
                .and_then(Handler::of_hook),
            pre_stop: lifecycle
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(Handler::of_hook),
            termination_message: TerminationMessage {
                path: c
                    .termination_message_path
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MESSAGE_PATH.into()),
                fallback_to_logs: c.termination_message_policy.as_deref()
                    == Some("FallbackToLogsOnError"),
            },
            security: security::security(pod, c),
            run_as_non_root: c
                .security_context
                .as_ref()
                .and_then(|s| s.run_as_non_root)
                .or_else(|| pod?.run_as_non_root)
                .unwrap_or(false),
            source: c.clone(),
        }
    }

    /// A sidecar: an init container with `restartPolicy: Always`.
    pub fn is_sidecar(&self) -> bool {
        self.sidecar
    }

    /// The restart policy that applies to this container in a pod with `pod`'s: sidecars always
    /// restart, init containers restart under Always as under OnFailure.
    pub fn restart_policy(&self, pod: RestartPolicy) -> RestartPolicy {
        match (self.kind, pod) {
            _ if self.sidecar => RestartPolicy::Always,
            (ContainerKind::Init, RestartPolicy::Always) => RestartPolicy::OnFailure,
            (_, p) => p,
        }
    }
}

#[derive(Clone, Debug)]
pub struct PodPlan {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub hostname: String,
    pub host_network: bool,
    /// `shareProcessNamespace: true`: the pod's containers see each other's processes.
    pub share_process_namespace: bool,
    pub qos_class: QosClass,
    pub restart_policy: RestartPolicy,
    pub init_containers: Vec<ContainerPlan>,
    pub containers: Vec<ContainerPlan>,
    pub active_deadline: Option<Duration>,
    pub grace_period: Duration,
    /// Directory that relative image paths resolve against.
    pub base_dir: PathBuf,
    /// `ports[].hostPort` of every container (none for a `hostNetwork` pod, whose servers bind
    /// the host's ports themselves).
    pub host_ports: Vec<PortMapping>,
    /// Its resolv.conf, from `dnsPolicy` and `dnsConfig`.
    pub dns: crate::runtime::DnsConfig,
    /// Its /etc/hosts entries, from `subdomain` and `hostAliases`.
    pub hosts: crate::runtime::HostsConfig,
    /// The pod as the user wrote it, echoed back (with status) by `-o json`.
    pub manifest: Pod,
    /// The ConfigMaps and Secrets of the pod's namespace that came with the manifests.
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
}

/// A container port's `hostPort` as the sandbox publishes it; None without one. Validation has
/// checked the numbers and `hostIP`; an empty `hostIP` is wpod's default, the host's loopback.
fn host_port(p: &ContainerPort) -> Option<PortMapping> {
    let host_port = u16::try_from(p.host_port?).ok().filter(|h| *h > 0)?;
    let ip = match p.host_ip.as_deref() {
        None | Some("") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(ip) => ip.parse().ok()?,
    };
    Some(PortMapping {
        protocol: match p.protocol.as_deref() {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        },
        host: SocketAddr::new(ip, host_port),
        container_port: u16::try_from(p.container_port).ok()?,
    })
}

/// Kubernetes' default terminationGracePeriodSeconds.
pub const DEFAULT_GRACE: Duration =
    Duration::from_secs(crate::manifest::DEFAULT_GRACE_SECONDS.unsigned_abs());

impl PodPlan {
    /// Builds the plan of a pod that passed validation; `uid` is the one wpod assigned.
    pub fn from_pod(pod: &Pod, uid: &str, base_dir: PathBuf) -> Self {
        let meta = &pod.metadata;
        let name = meta
            .name
            .clone()
            .or_else(|| {
                meta.generate_name
                    .as_ref()
                    .map(|g| format!("{g}{}", uid.get(..5).unwrap_or(uid)))
            })
            .unwrap_or_else(|| "pod".into());
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_security = spec.security_context.as_ref();
        let container = |c: &Container, kind| ContainerPlan::of(c, kind, pod_security);
        let mut manifest = pod.clone();
        manifest.metadata.name = Some(name.clone());
        manifest.metadata.uid = Some(uid.to_string());
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        manifest.metadata.namespace = Some(namespace.clone());
        let host_network = spec.host_network.unwrap_or(false);
        PodPlan {
            dns: dns::config(&spec, &namespace),
            hosts: dns::hosts(&spec, &namespace),
            hostname: spec.hostname.clone().unwrap_or_else(|| name.clone()),
            host_network,
            share_process_namespace: spec.share_process_namespace.unwrap_or(false),
            qos_class: QosClass::of(&spec),
            name,
            namespace,
            uid: uid.to_string(),
            restart_policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(|c| container(c, ContainerKind::Init))
                .collect(),
            containers: spec
                .containers
                .iter()
                .map(|c| container(c, ContainerKind::App))
                .collect(),
            active_deadline: spec
                .active_deadline_seconds
                .map(|s| Duration::from_secs(s.max(1).unsigned_abs())),
            grace_period: spec
                .termination_grace_period_seconds
                .map(|s| Duration::from_secs(s.max(0).unsigned_abs()))
                .unwrap_or(DEFAULT_GRACE),
            host_ports: spec
                .init_containers
                .iter()
                .flatten()
                .chain(spec.containers.iter())
                .flat_map(|c| c.ports.iter().flatten())
                .filter(|_| !host_network)
                .filter_map(host_port)
                .collect(),
            base_dir,
            manifest,
            config_maps: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The `securityContext` fields each container has set (its own or the pod's) that mean
    /// nothing to a wasm guest; readOnlyRootFilesystem and runAsNonRoot apply on both backends.
    pub fn moot_on_wasm(&self) -> Vec<(String, Vec<&'static str>)> {
        let pod = self
            .manifest
            .spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref());
        self.init_containers
            .iter()
            .chain(&self.containers)
            .filter_map(|c| {
                let own = c.source.security_context.as_ref();
                let fields: Vec<&'static str> = [
                    ("privileged", own.is_some_and(|s| s.privileged.is_some())),
                    (
                        "capabilities",
                        own.is_some_and(|s| s.capabilities.is_some()),
                    ),
                    (
                        "allowPrivilegeEscalation",
                        own.is_some_and(|s| s.allow_privilege_escalation.is_some()),
                    ),
                    (
                        "runAsUser",
                        own.is_some_and(|s| s.run_as_user.is_some())
                            || pod.is_some_and(|p| p.run_as_user.is_some()),
                    ),
                    (
                        "runAsGroup",
                        own.is_some_and(|s| s.run_as_group.is_some())
                            || pod.is_some_and(|p| p.run_as_group.is_some()),
                    ),
                    (
                        "supplementalGroups",
                        pod.is_some_and(|p| p.supplemental_groups.is_some()),
                    ),
                    (
                        "seccompProfile",
                        own.is_some_and(|s| s.seccomp_profile.is_some())
                            || pod.is_some_and(|p| p.seccomp_profile.is_some()),
                    ),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                (!fields.is_empty()).then(|| (c.name.clone(), fields))
            })
            .collect()
    }

    /// Whether some app container lists `port` among its `ports[].containerPort`.
    pub fn declares_port(&self, port: u16) -> bool {
        self.containers
            .iter()
            .flat_map(|c| &c.ports)
            .any(|p| p.container_port == i32::from(port))
    }

    /// Every container, init containers first.
    pub fn all_containers(&self) -> impl Iterator<Item = &ContainerPlan> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// Gives the pod the ConfigMaps and Secrets of its namespace from `config_maps` and `secrets`.
    pub fn with_objects(mut self, config_maps: &[ConfigMap], secrets: &[Secret]) -> Self {
        let ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace.as_deref().unwrap_or("default") == self.namespace
        };
        self.config_maps = config_maps
            .iter()
            .filter(|c| ns(&c.metadata))
            .cloned()
            .collect();
        self.secrets = secrets
            .iter()
            .filter(|s| ns(&s.metadata))
            .cloned()
            .collect();
        self
    }

    pub fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
    }
}

/// Kubernetes' rules for the argv of a container from command/args and the image's ENTRYPOINT/CMD.
pub fn argv(
    command: Option<&[String]>,
    args: Option<&[String]>,
    entrypoint: &[String],
    cmd: &[String],
) -> Vec<String> {
    match (command, args) {
        (None, None) => [entrypoint, cmd].concat(),
        (Some(c), None) => c.to_vec(),
        (None, Some(a)) => [entrypoint, a].concat(),
        (Some(c), Some(a)) => [c, a].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_and_args_against_entrypoint_and_cmd() {
        let ep = v(&["/ep"]);
        let cmd = v(&["default"]);
        assert_eq!(argv(None, None, &ep, &cmd), v(&["/ep", "default"]));
        assert_eq!(argv(Some(&v(&["c"])), None, &ep, &cmd), v(&["c"]));
        assert_eq!(argv(None, Some(&v(&["a"])), &ep, &cmd), v(&["/ep", "a"]));
        assert_eq!(
            argv(Some(&v(&["c"])), Some(&v(&["a"])), &ep, &cmd),
            v(&["c", "a"])
        );
        // An explicitly empty args list still replaces CMD.
        assert_eq!(argv(None, Some(&[]), &ep, &cmd), v(&["/ep"]));
    }

    #[test]
    fn host_ports_resolve_to_port_mappings() {
        let port = |host_ip: Option<&str>, number: Option<i32>, protocol: Option<&str>| {
            host_port(&ContainerPort {
                container_port: 80,
                host_ip: host_ip.map(str::to_string),
                host_port: number,
                protocol: protocol.map(str::to_string),
                ..Default::default()
            })
        };
        let local = SocketAddr::from(([127, 0, 0, 1], 8080));
        let tcp = |host| {
            Some(PortMapping {
                protocol: Protocol::Tcp,
                host,
                container_port: 80,
            })
        };
        // wpod publishes on the host's loopback unless hostIP says otherwise.
        assert_eq!(port(None, Some(8080), None), tcp(local));
        assert_eq!(port(Some(""), Some(8080), None), tcp(local));
        assert_eq!(
            port(Some("0.0.0.0"), Some(8080), None),
            tcp(SocketAddr::from(([0, 0, 0, 0], 8080)))
        );
        assert_eq!(
            port(None, Some(53), Some("UDP")).map(|m| m.protocol),
            Some(Protocol::Udp)
        );
        assert_eq!(port(None, None, None), None);
        assert_eq!(port(None, Some(0), None), None);
    }

    #[test]
    fn restart_policies() {
        assert!(RestartPolicy::Always.restarts(0));
        assert!(RestartPolicy::OnFailure.restarts(1));
        assert!(!RestartPolicy::OnFailure.restarts(0));
        assert!(!RestartPolicy::Never.restarts(1));
    }
}
