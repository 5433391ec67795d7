//! The seam between the pod lifecycle (the "kubelet") and a backend, shaped like the Kubernetes CRI
//! RuntimeService and ImageService. Backends never see manifests; the lifecycle never sees wasmtime.

pub mod attach;
pub mod containers;
pub mod fake;
pub mod images;
mod security;
pub mod stream;

pub use attach::Console;
pub use security::{Cap, Seccomp, Security};
pub use stream::{ExecRequest, ExecSession, TermSize};

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// Identifies a pod sandbox (the pod's infra: what owns its network and volumes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SandboxId(pub String);

/// Identifies one container instance; a restart creates a new one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerId(pub String);

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a pod's resolv.conf says (CRI's DNSConfig): the kubelet decides it, the runtime writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl DnsConfig {
    /// Reads a resolv.conf (nameserver, search/domain and options lines).
    pub fn parse(text: &str) -> Self {
        let mut dns = DnsConfig::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => dns.servers.extend(words.next().map(str::to_string)),
                Some("search" | "domain") => {
                    dns.searches = words.map(str::to_string).collect();
                }
                Some("options") => dns.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        dns
    }

    pub fn resolv_conf(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for s in &self.servers {
            text.push_str(&format!("nameserver {s}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }

    /// A name with fewer dots than this is tried with the search domains first (glibc: 1).
    pub fn ndots(&self) -> usize {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix("ndots:")?.parse().ok())
            .unwrap_or(1)
            .min(15)
    }
}

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub pod_name: String,
    pub namespace: String,
    pub uid: String,
    pub hostname: String,
    /// `hostNetwork: true`: the pod uses the machine's network instead of its own.
    pub host_network: bool,
    /// `shareProcessNamespace: true`: the pod's containers see each other's processes.
    pub share_process_namespace: bool,
    /// A directory the backend owns for this sandbox's state (its containers' root file systems),
    /// on the same file system as the pod's volumes; the kubelet removes it with the pod.
    pub state_dir: PathBuf,
    /// The pod's `hostPort`s: the backend binds each on the host while the sandbox runs and
    /// forwards what arrives to the pod's IP from the node, as a CNI portmap does.
    pub port_mappings: Vec<PortMapping>,
    /// Its resolv.conf.
    pub dns: DnsConfig,
    /// Its /etc/hosts.
    pub hosts: HostsConfig,
}

/// What the kubelet writes in a pod's /etc/hosts besides localhost and the pod's own address
/// (its managedHostsFileContent): the pod's FQDN under its subdomain, and `hostAliases`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsConfig {
    /// `<subdomain>.<namespace>.svc.<cluster domain>`, when the pod has a `subdomain`.
    pub domain: Option<String>,
    /// `hostAliases` in order: an address and its names.
    pub aliases: Vec<(String, Vec<String>)>,
}

impl HostsConfig {
    /// The file, for a pod at `ip` (127.0.1.1 without an address of its own).
    pub fn file(&self, ip: Option<&str>, hostname: &str) -> String {
        let mut hosts = String::from(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
        );
        let ip = ip.unwrap_or("127.0.1.1");
        match &self.domain {
            Some(domain) => hosts.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => hosts.push_str(&format!("{ip}\t{hostname}\n")),
        }
        if !self.aliases.is_empty() {
            hosts.push_str("\n# Entries added by HostAliases.\n");
            for (ip, names) in &self.aliases {
                hosts.push_str(&format!("{ip}\t{}\n", names.join("\t")));
            }
        }
        hosts
    }

    /// The addresses the file gives `name` (lower case, without a trailing dot) besides the
    /// pod's hostname: its FQDN, or those of every alias line that names it, as glibc's files
    /// lookup gathers them.
    pub fn lookup(&self, name: &str, hostname: &str, own: IpAddr) -> Option<Vec<IpAddr>> {
        if let Some(domain) = &self.domain
            && name
                .strip_suffix(domain.as_str())
                .and_then(|n| n.strip_suffix('.'))
                == Some(hostname)
        {
            return Some(vec![own]);
        }
        let ips: Vec<IpAddr> = self
            .aliases
            .iter()
            .filter(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .filter_map(|(ip, _)| ip.parse().ok())
            .collect();
        (!ips.is_empty()).then_some(ips)
    }
}

/// A port's transport, as `ports[].protocol` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// One `hostPort` of a sandbox (CRI's PortMapping). Backends publish TCP only; the others are
/// reported by the caller as not published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub protocol: Protocol,
    /// `hostIP` (wpod's default is 127.0.0.1, not every interface) and `hostPort`.
    pub host: std::net::SocketAddr,
    pub container_port: u16,
}

/// A host directory (or file) that the kubelet prepared, to appear inside a container: CRI's Mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The volume's host directory (or the host file).
    pub host_path: PathBuf,
    /// The part of the volume that is mounted (`subPath`), relative to `host_path`. A guest can
    /// change what it names: backends open it beneath `host_path` (see `hostfs`) when they mount
    /// it, never by a joined path.
    pub sub_path: Option<String>,
    /// Absolute path inside the container.
    pub container_path: String,
    pub read_only: bool,
    /// The machine's own files (a hostPath), which may hold FIFOs and devices: opening or reading
    /// one can block for as long as the host likes.
    pub host_owned: bool,
}

/// What the runtime reports about a sandbox (CRI's PodSandboxStatus).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxStatus {
    /// The pod's IP in its network, when the backend gives it one.
    pub ip: Option<String>,
    /// Its infra container still runs (CRI's SANDBOX_READY); once it has ended, the kubelet
    /// starts nothing more in it.
    pub ready: bool,
}

/// What an image resolved to: the runtime's identity for it plus its default command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// A stable identity, reported as `imageID` (`sha256:...`).
    pub id: String,
    /// What the image was resolved to, for events (`built-in image testkit`, a file path).
    pub source: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// The image's default environment (its `ENV`); the container's `env` overrides it.
    pub env: Vec<(String, String)>,
    /// The image's `WorkingDir`; the container's `workingDir` overrides it.
    pub working_dir: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives container output one line at a time (without the newline).
pub trait LogSink: Send + Sync {
    /// Takes one line; never blocks.
    fn line(&self, container: &str, stream: Stream, line: &str);

    /// Takes output that did not end in a newline: the last a container wrote before it ended,
    /// or a piece of an overlong line (the CRI log format tags such lines partial).
    fn partial(&self, container: &str, stream: Stream, text: &str) {
        self.line(container, stream, text);
    }

    /// A new instance of `container` is about to be created: what it prints from now on is a
    /// new log, as the kubelet starts a log file per attempt (`kubectl logs --previous`).
    fn began(&self, _container: &str) {}

    /// That instance of `container` has ended (or never started): its log is complete, so a
    /// follower of it stops, as `kubectl logs -f` does when the container exits.
    fn ended(&self, _container: &str) {}

    /// Ready when the sink has room for more of `container`'s `stream`; Pending (the waker kept)
    /// while its reader lags behind. Backends wait for it before taking more output from a
    /// container, so that container's own writes wait, as on a full pipe, and nothing else does.
    fn poll_ready(
        &self,
        _container: &str,
        _stream: Stream,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// Waits until `sink` has room for more of `container`'s `stream` (see [`LogSink::poll_ready`]).
pub async fn log_ready(sink: &dyn LogSink, container: &str, stream: Stream) {
    std::future::poll_fn(|cx| sink.poll_ready(container, stream, cx)).await
}

#[derive(Clone)]
pub struct ContainerConfig {
    pub name: String,
    pub image: ImageInfo,
    /// The full argv: argv[0] is the first element of command (or of the image's entrypoint).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `workingDir`: where the program starts (created if missing, as runc does); None is `/`.
    pub working_dir: Option<String>,
    pub memory_limit: Option<u64>,
    /// `limits.cpu` in millicores (backends that can throttle enforce it).
    pub cpu_limit_millis: Option<u64>,
    /// The pod's volumes this container mounts, in spec order.
    pub mounts: Vec<Mount>,
    /// 0 for the first run, then the restart count.
    pub attempt: u32,
    pub log: Arc<dyn LogSink>,
    /// What `securityContext` asks of the container (capabilities, user, seccomp, read-only root).
    pub security: Security,
    /// `stdin`, `stdinOnce`, `tty`: what `kubectl attach` reaches.
    pub console: Console,
    /// Its TCP `containerPort`s. CRI keeps ports in the sandbox's config; the wasm backend needs
    /// them per container, to serve a wasi:http component on them.
    pub ports: Vec<u16>,
}

/// A container's environment as a container runtime builds it: HOSTNAME (the pod's hostname), then
/// the image's ENV, then the container's env, each replacing what came before under the same name.
pub fn container_env(hostname: &str, config: &ContainerConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![("HOSTNAME".into(), hostname.into())];
    for (k, v) in config.image.env.iter().chain(config.env.iter()) {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// A path inside a container, made absolute and lexical: `.` and `..` resolved without leaving `/`
/// (as a container runtime resolves them inside the container's root), no empty components.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// WaitContainer over a backend's exit channel (None while the container runs).
pub async fn wait_exit(
    mut exit: tokio::sync::watch::Receiver<Option<ExitStatus>>,
    id: &ContainerId,
) -> Result<ExitStatus> {
    let status = exit
        .wait_for(Option::is_some)
        .await
        .map_err(|_| anyhow::anyhow!("container {id} disappeared"))?;
    Ok(status.clone().unwrap_or_else(|| ExitStatus::from_code(0)))
}

/// Kills `ids` at once, for StopPodSandbox. A container the kubelet removed meanwhile (it exited)
/// counts as stopped, so stopping a sandbox stays idempotent.
pub async fn kill_all<R: RuntimeService + ?Sized>(
    runtime: &R,
    ids: Vec<ContainerId>,
) -> Result<()> {
    for id in ids {
        match runtime.stop_container(&id, Duration::ZERO).await {
            Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A sandbox that cannot join the pod network because every address of it is taken.
pub fn no_pod_address() -> anyhow::Error {
    anyhow::anyhow!(
        "the pod network {} has no address left",
        crate::net::cluster::POD_CIDR
    )
}

/// Why a container ended, in the vocabulary of Kubernetes' `state.terminated.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    Completed,
    Error,
    OomKilled,
    StartError,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
            ExitReason::StartError => "StartError",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: i32,
    pub reason: ExitReason,
    pub message: Option<String>,
}

impl ExitStatus {
    /// Kubernetes' reason follows the code, except for the reasons a runtime knows better.
    pub fn from_code(code: i32) -> Self {
        let reason = if code == 0 {
            ExitReason::Completed
        } else {
            ExitReason::Error
        };
        ExitStatus {
            code,
            reason,
            message: None,
        }
    }

    /// Killed by the runtime (SIGKILL, or a guest's Store dropped): 137.
    pub fn killed() -> Self {
        ExitStatus::from_code(137)
    }

    /// Killed for reaching its memory limit.
    pub fn oom_killed(limit: Option<u64>) -> Self {
        ExitStatus {
            code: 137,
            reason: ExitReason::OomKilled,
            message: limit.map(|l| format!("memory limit of {l} bytes reached")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image \"{image}\" not found: {detail}")]
    NotFound { image: String, detail: String },
    #[error("image \"{image}\" is not a valid WebAssembly program: {detail}")]
    Invalid { image: String, detail: String },
    /// A path that exists but cannot be an image: a directory, a device, a FIFO, too big.
    #[error("image \"{image}\" cannot be used: {detail}")]
    Unusable { image: String, detail: String },
}

/// What the node has of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePresence {
    /// On every node, never pulled: built-in images and `.wasm` files.
    Pinned,
    /// In the image store.
    Present,
    Absent,
}

/// The kubelet keeps at most this much of an exec's output (each stream), as its exec prober does.
pub const MAX_EXEC_OUTPUT: usize = 10 * 1024;

/// A command to run inside a container and how long it may take (CRI's ExecSyncRequest).
#[derive(Clone, Copy, Debug)]
pub struct ExecSync<'a> {
    pub argv: &'a [String],
    pub timeout: Duration,
}

/// What a command run inside a container by `exec_sync` printed and how it exited (CRI's
/// ExecSyncResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecResult {
    /// stdout then stderr, as the kubelet's exec prober reports a command's output.
    pub fn output(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.stdout).into_owned();
        out.push_str(&String::from_utf8_lossy(&self.stderr));
        out
    }
}

/// A byte stream into the pod network (a TCP connection to the pod's IP).
pub trait PodStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> PodStream for T {}

/// A host TCP connection as `dial` hands it out: without Nagle's delay (probes write small
/// requests), a refusal as `RuntimeError::Refused`.
pub fn dialed(
    port: u16,
    connected: std::io::Result<tokio::net::TcpStream>,
) -> Result<Box<dyn PodStream>> {
    match connected {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream))
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(RuntimeError::Refused),
        Err(e) => Err(anyhow::anyhow!("connecting to port {port}: {e}").into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no such {kind} {id}")]
    NotFound { kind: &'static str, id: String },
    /// An exec that did not finish in time (it was killed).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Nothing listens on the port (a refused connection).
    #[error("connect: connection refused")]
    Refused,
    /// The backend cannot do this at all.
    #[error("the {backend} backend does not support {what}")]
    Unsupported {
        backend: &'static str,
        what: &'static str,
    },
    /// Printed with its whole chain of causes: the kubelet puts errors into events and statuses
    /// with `{e}`, and a cause (a hint that says how to fix it) must not be lost on the way.
    #[error("{0:#}")]
    Backend(anyhow::Error),
}

// By hand rather than `#[from]`, which would also make the anyhow error the `source()`: the chain
// is already in the message, and a printer that follows sources would show it twice.
impl From<anyhow::Error> for RuntimeError {
    fn from(e: anyhow::Error) -> Self {
        RuntimeError::Backend(e)
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// The calls a kubelet makes on a container runtime. Stop and remove are idempotent.
#[async_trait]
pub trait RuntimeService: Send + Sync {
    /// Short name of the backend for messages (`wasm`, `linux`, `fake`).
    fn name(&self) -> &'static str;
    /// Resolves an image reference; relative file paths resolve against `base_dir`.
    async fn pull_image(&self, image: &str, base_dir: &Path) -> Result<ImageInfo, ImageError>;
    /// Whether the node has `image` (the CRI's ImageStatus), for the kubelet's pull policy.
    async fn image_status(&self, image: &str) -> ImagePresence {
        match crate::images::resolve(image) {
            crate::images::ImageRef::Stored(_) => ImagePresence::Present,
            crate::images::ImageRef::Unknown(_) => ImagePresence::Absent,
            _ => ImagePresence::Pinned,
        }
    }
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId>;
    async fn pod_sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus>;
    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId>;
    async fn start_container(&self, id: &ContainerId) -> Result<()>;
    /// Resolves once the container has exited; may be called while a stop is in progress.
    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus>;
    /// Asks the container to stop and kills it once `grace` has passed; returns when it is gone.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()>;
    async fn remove_container(&self, id: &ContainerId) -> Result<()>;
    /// Kills whatever still runs in the sandbox.
    async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()>;
    /// Resolves once the sandbox's infra container has ended by itself or been killed (not by
    /// StopPodSandbox alone: the caller ignores reports of sandboxes it stopped). The kubelet
    /// learns this from its relist (PLEG) and recreates the sandbox: `SandboxChanged`.
    async fn wait_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let _ = id;
        std::future::pending().await
    }
    /// Kills the sandbox's infra container at once, as `kill -9` of the pause process on a node
    /// does; its containers go on running until the kubelet notices. For teaching.
    async fn kill_pod_sandbox_infra(&self, id: &SandboxId) -> Result<()> {
        let _ = id;
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "killing the infra container",
        })
    }
    async fn remove_pod_sandbox(&self, id: &SandboxId) -> Result<()>;
    /// Runs `cmd.argv` inside a running container's context (its file system view, env and network)
    /// and waits for it: CRI's ExecSync, used by exec probes and hooks. Past `cmd.timeout` the
    /// command is killed and the result is `RuntimeError::Timeout`.
    async fn exec_sync(&self, id: &ContainerId, cmd: ExecSync<'_>) -> Result<ExecResult> {
        let _ = (id, cmd);
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "exec",
        })
    }
    /// Starts `req.argv` inside a running container as `exec_sync` does, with its streams
    /// connected to the caller for as long as it runs: CRI's Exec (`kubectl exec`, `kubectl cp`).
    /// The command is one of the container's processes and dies with it.
    async fn exec(&self, id: &ContainerId, req: ExecRequest) -> Result<ExecSession> {
        let _ = (id, req);
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "exec with streams",
        })
    }
    /// Connects to a running container's main process (CRI's Attach, `kubectl attach`): its
    /// output from now on and, for a container created with `stdin: true` and a client that
    /// asks for it (`stdin`), its stdin. `exit` resolves when the container ends.
    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<ExecSession> {
        let _ = (id, stdin);
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "attach",
        })
    }
    /// Connects to `port` on the pod's own localhost, as the kubelet's port forwarding does
    /// (CRI's PortForward): a server that listens on 127.0.0.1 only is reached too.
    async fn port_forward(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let _ = (sandbox, port);
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "port forwarding",
        })
    }
    /// Opens a TCP connection from the node to `port` on the pod's IP, as the kubelet's
    /// httpGet/tcpSocket probes and httpGet hooks connect. `RuntimeError::Refused` when nothing
    /// listens there.
    async fn dial(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let _ = (sandbox, port);
        Err(RuntimeError::Unsupported {
            backend: self.name(),
            what: "connections into the pod network",
        })
    }
    /// The namespaces a running container is in, as (kind, identity) pairs, for
    /// `wpod run --show-namespaces`; empty when the backend has nothing to show.
    async fn container_namespaces(&self, _id: &ContainerId) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The same for the sandbox (the pod's infra).
    async fn sandbox_namespaces(&self, _id: &SandboxId) -> Vec<(String, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::RuntimeError;

    #[test]
    fn a_backend_error_keeps_its_causes() {
        let cause = std::io::Error::from(std::io::ErrorKind::CrossesDevices);
        let e: RuntimeError = anyhow::Error::new(cause)
            .context("it must be on the same file system (set WPOD_STATE_DIR)")
            .context("mounting the file /a at /b")
            .into();
        let message = e.to_string();
        assert!(
            message.starts_with("mounting the file /a at /b: it must be on the same file system (set WPOD_STATE_DIR): "),
            "{message}"
        );
        assert!(
            std::error::Error::source(&e).is_none(),
            "the chain is printed once"
        );
    }

    #[test]
    fn clean_paths_stay_inside_the_root() {
        for (given, clean) in [
            ("/work", "/work"),
            ("work/", "/work"),
            ("/a/./b//c/", "/a/b/c"),
            ("/a/../../etc", "/etc"),
            ("..", "/"),
            ("", "/"),
        ] {
            assert_eq!(super::clean_path(given), clean, "{given}");
        }
    }
}
