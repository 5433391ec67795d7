//! The Linux backend: a pod is a pause process holding real net, ipc, uts and pid namespaces; each
//! container is a native process (a built-in image's host build) that joins them, in its own mount
//! namespace with a private root, its volumes bind-mounted and its limits in cgroups.
//!
//! All namespace work happens in helper processes (wpod re-executed with a hidden argument, see
//! helper.rs), never in this multithreaded process.

mod cgroup;
mod confine;
mod console;
mod exec;
mod helper;
mod images;
pub mod leftovers;
mod lifeline;
mod nft;
mod proxy;
mod pty;
pub mod publish;
mod rootfs;
mod seccomp;
mod spec;
mod sys;
mod wasm_guest;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub use helper::dispatch as helper_main;

use crate::images as builtin;
use crate::net::Cluster;
use crate::net::cluster::NODE_IP;
use crate::runtime::containers::{Container, Containers, State, lock, not_found};
use crate::runtime::images::{self as pulled, Image, Images, Named};
use crate::runtime::{
    ContainerConfig, ContainerId, ExecRequest, ExecResult, ExecSession, ExecSync, ExitReason,
    ExitStatus, ImageError, ImageInfo, LogSink, PodStream, Result, RuntimeService, SandboxConfig,
    SandboxId, SandboxStatus, Stream,
};
use crate::wasm::{WasmOptions, WasmRuntime};
use cgroup::Cgroups;
use spec::{ContainerSpec, SpecMount};

/// The bridge in the node namespace that every pod's veth is attached to.
const BRIDGE: &str = "wpod0";
/// How long a container process may take from start to existing (fork in its namespaces).
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// After the container exits, how long its output may still drain (from processes it left behind
/// in a shared PID namespace).
const DRAIN: Duration = Duration::from_millis(300);

/// Whether this machine can run the Linux backend, and how: Err says why not, plainly.
pub fn probe() -> std::result::Result<Mode, String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(Mode::Root);
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        return Err(
            "not root, and user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"
                .into(),
        );
    }
    if std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .is_ok_and(|s| s.trim() == "0")
    {
        return Err("not root, and unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)".into());
    }
    Ok(Mode::Rootless)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Root,
    /// In user namespaces: no cgroup limits, no pod IPs or pod-to-pod traffic, no hostPort.
    Rootless,
}

pub struct LinuxOptions {
    /// Pod addresses and names, shared with the rest of the run.
    pub cluster: Arc<Cluster>,
    /// The wpod binary: helper processes are re-executions of it.
    pub exe: PathBuf,
    /// Where the native builds of built-in images are written.
    pub cache_dir: PathBuf,
}

struct Sandbox {
    config: SandboxConfig,
    /// The helper that created the namespaces; its child is the pause process.
    outer_pid: u32,
    /// True once that helper has exited, which it does when the pause process ends.
    ended: tokio::sync::watch::Receiver<bool>,
    /// The pause process (PID 1 of the pod's PID namespace): its namespaces are the pod's.
    pid: u32,
    ip: Option<Ipv4Addr>,
    /// Asks the pause process for sockets in the pod's network (published ports).
    factory: Mutex<UnixStream>,
    /// The listeners of its hostPorts, closed when the sandbox stops.
    host_ports: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What a container process of an image execs.
struct LinuxImage {
    program: PathBuf,
    /// A `.wasm` file image, run by wpod's wasmtime inside the container.
    wasm: Option<PathBuf>,
    /// Its compiled form in wpod's disk cache.
    compiled: Option<PathBuf>,
}

/// What the Linux backend keeps of a container (the rest is in the shared table).
struct LinuxContainer {
    dir: PathBuf,
    spec_file: PathBuf,
    pid_file: PathBuf,
    error_file: PathBuf,
    cgroups: Arc<Cgroups>,
    /// The container's main process, once it exists.
    pid: Mutex<Option<i32>>,
    /// The helper process, once started.
    helper_pid: Mutex<Option<u32>>,
    /// Its stdin or terminal, and the copy of its output for `attach`.
    console: console::Console,
}

/// The process holding the pod network's private "node" namespace (the bridge).
struct Node {
    _child: tokio::process::Child,
    /// Requests go here (its stdin); sockets made in the node namespace come back the same way.
    control: UnixStream,
    stdout: BufReader<tokio::process::ChildStdout>,
    next_veth: u32,
}

/// The node helper, started by the first pod that joins the pod network.
type NodeSlot = tokio::sync::Mutex<Option<Node>>;

/// A TCP socket in the node's network namespace (its address on the pod bridge is the node's
/// IP), once a pod has started the node helper.
async fn node_socket(node: &NodeSlot) -> Option<std::io::Result<OwnedFd>> {
    let guard = node.lock().await;
    let node = guard.as_ref()?;
    Some(publish::request_socket(
        &node.control,
        helper::SOCKET_REQUEST,
    ))
}

pub struct LinuxRuntime {
    options: LinuxOptions,
    mode: Mode,
    images: Images<LinuxImage>,
    sandboxes: Mutex<HashMap<String, Arc<Sandbox>>>,
    containers: Containers<LinuxContainer>,
    node: Arc<NodeSlot>,
    /// Compiles `.wasm` images into the disk cache (made on first use).
    compiler: std::sync::OnceLock<Option<WasmRuntime>>,
}

impl LinuxRuntime {
    pub fn new(options: LinuxOptions) -> std::result::Result<Self, String> {
        let mode = probe()?;
        Ok(LinuxRuntime {
            options,
            mode,
            images: Images::default(),
            sandboxes: Mutex::new(HashMap::new()),
            containers: Containers::default(),
            node: Arc::new(tokio::sync::Mutex::new(None)),
            compiler: std::sync::OnceLock::new(),
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Compiles a `.wasm` image into wpod's disk cache (the one the wasm backend uses), once per
    /// run and image, so its containers and exec probes load it instead of compiling it. None
    /// when that cannot be done: the container then compiles it itself.
    async fn precompile(&self, wasm: &Path, sha: &str) -> Option<PathBuf> {
        let compiler = self
            .compiler
            .get_or_init(|| {
                WasmRuntime::new(WasmOptions {
                    cache_dir: Some(self.options.cache_dir.clone()),
                    progress: true,
                    cluster: self.options.cluster.clone(),
                })
                .ok()
            })
            .as_ref()?;
        if compiler.compiled_file(sha).is_none() {
            let image = wasm.to_string_lossy().into_owned();
            compiler.prepare(&image, Path::new("/")).await.ok()?;
        }
        compiler.compiled_file(sha)
    }

    /// The running container's main process and the program an exec of `argv` runs (None for
    /// the container's own).
    fn exec_target(
        &self,
        c: &Container<LinuxContainer>,
        argv: &[String],
    ) -> Result<(i32, Option<PathBuf>)> {
        let pid = *lock(&c.backend.pid);
        let (Some(pid), false) = (pid, c.has_exited()) else {
            return Err(anyhow::anyhow!("container {} is not running", c.config.name).into());
        };
        let program = match self.images.exec_image(&c.config.image.id, argv)? {
            Some(other) => Some(
                images::program(other.name, &self.options.cache_dir)
                    .map(|(path, _)| path)
                    .with_context(|| format!("preparing the {} image", other.name))?,
            ),
            None => None,
        };
        Ok((pid, program))
    }

    fn sandbox(&self, id: &SandboxId) -> Result<Arc<Sandbox>> {
        lock(&self.sandboxes)
            .get(&id.0)
            .cloned()
            .ok_or_else(|| not_found("sandbox", &id.0))
    }

    /// The running sandbox of a pod, by pod name (for published ports).
    fn sandbox_of_pod(&self, pod: &str) -> Option<Arc<Sandbox>> {
        lock(&self.sandboxes)
            .values()
            .find(|s| s.config.pod_name == pod)
            .cloned()
    }

    /// A TCP socket created inside a pod's network namespace by its pause process.
    pub fn pod_socket(&self, pod: &str) -> std::io::Result<OwnedFd> {
        let sandbox = self
            .sandbox_of_pod(pod)
            .ok_or_else(|| std::io::Error::other(format!("pod {pod} is not running")))?;
        publish::request_socket(&lock(&sandbox.factory), b"t")
    }

    /// Sends a request to the node helper, starting it (and the bridge) on first use.
    async fn node_request(&self, line: String) -> anyhow::Result<()> {
        let mut guard = self.node.lock().await;
        if guard.is_none() {
            let (ours, theirs) = UnixStream::pair().context("creating the node helper's socket")?;
            let mut child = lifeline::command(&self.options.exe)
                // `ip` (iproute2) is found on the usual system path, not wpod's.
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .arg(helper::NODE)
                .stdin(Stdio::from(OwnedFd::from(theirs)))
                .stdout(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .context("starting the pod network's node helper")?;
            let Some(stdout) = child.stdout.take() else {
                anyhow::bail!("the node helper has no pipes");
            };
            let mut node = Node {
                _child: child,
                control: ours,
                stdout: BufReader::new(stdout),
                next_veth: 0,
            };
            node_call(&mut node, format!("bridge {BRIDGE} {NODE_IP}/16")).await?;
            let dns = proxy::dns_socket(&node.control);
            *guard = Some(node);
            tokio::spawn(proxy::run(
                self.node.clone(),
                self.options.cluster.clone(),
                dns,
            ));
        }
        let node = guard.as_mut().context("the node helper is gone")?;
        let veth = format!("wpv{}", node.next_veth);
        node.next_veth += 1;
        node_call(node, line.replace("{veth}", &veth)).await
    }

    fn hosts_file(&self, config: &SandboxConfig, own_ip: Option<Ipv4Addr>) -> String {
        let ip = own_ip.map(|ip| ip.to_string());
        let mut hosts = config.hosts.file(ip.as_deref(), &config.hostname);
        // Other pods by name, as the wasm backend's name lookup resolves them.
        let others: Vec<_> = match own_ip {
            Some(own) => self
                .options
                .cluster
                .addresses()
                .into_iter()
                .filter(|(_, ip)| *ip != own)
                .collect(),
            None => Vec::new(),
        };
        if !others.is_empty() {
            hosts.push_str("\n# The other pods of this wpod node, by name.\n");
            for (pod, ip) in others {
                hosts.push_str(&format!("{ip}\t{pod}\n"));
            }
        }
        hosts
    }

    async fn kill_container(&self, c: &LinuxContainer) {
        let pid = *lock(&c.pid);
        match pid {
            Some(pid) => {
                // The container process leads its own process group; cgroups catch the rest.
                let _ = sys::kill_group(pid, libc::SIGKILL);
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            None => {
                if let Some(h) = *lock(&c.helper_pid) {
                    let _ = sys::kill(h as i32, libc::SIGKILL);
                }
            }
        }
        for p in c.cgroups.pids() {
            let _ = sys::kill(p, libc::SIGKILL);
        }
    }
}

async fn node_call(node: &mut Node, line: String) -> anyhow::Result<()> {
    node_call_with(node, line, &[]).await
}

/// A request followed by `payload` (which the line announces).
async fn node_call_with(node: &mut Node, line: String, payload: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    // A write to a local socket the helper always reads: it does not block for long.
    (&node.control)
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| (&node.control).write_all(payload))
        .context("talking to the node helper")?;
    let mut reply = String::new();
    node.stdout
        .read_line(&mut reply)
        .await
        .context("reading from the node helper")?;
    match reply.trim() {
        "ok" => Ok(()),
        "" => anyhow::bail!("the node helper exited"),
        other => anyhow::bail!("{}", other.trim_start_matches("error: ")),
    }
}

/// Forwards a pipe's lines to the log sink; a last line without a newline counts too, and a line
/// longer than MAX_LINE is passed on in pieces rather than buffered without bound.
async fn pump(reader: impl AsyncRead + Unpin, name: String, stream: Stream, log: Arc<dyn LogSink>) {
    const MAX_LINE: u64 = 16 * 1024;
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        // While wpod's own output lags behind, the pipe is left to fill: the container waits.
        crate::runtime::log_ready(&*log, &name, stream).await;
        buf.clear();
        match tokio::io::AsyncReadExt::take(&mut reader, MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => match buf.strip_suffix(b"\n") {
                Some(line) => log.line(&name, stream, &String::from_utf8_lossy(line)),
                None => log.partial(&name, stream, &String::from_utf8_lossy(&buf)),
            },
        }
    }
}

impl LinuxRuntime {
    /// An image of the store: its program is written to the cache (by its digest) for the
    /// container process, wpod itself, to run with wasmtime inside the pod's namespaces.
    async fn pull_stored(&self, image: &str, name: String) -> Result<ImageInfo, ImageError> {
        let (reference, cache) = (image.to_string(), self.options.cache_dir.join("programs"));
        let loaded = tokio::task::spawn_blocking(move || {
            let stored = pulled::load_stored(&reference, &name)?;
            let sha = pulled::sha256_hex(&stored.wasm);
            let path = cache.join(format!("{sha}.wasm"));
            if !path.is_file() {
                let staged = cache.join(format!("{sha}.wasm.new-{}", std::process::id()));
                std::fs::create_dir_all(&cache)
                    .and_then(|()| std::fs::write(&staged, &stored.wasm))
                    .and_then(|()| std::fs::rename(&staged, &path))
                    .map_err(|e| ImageError::Unusable {
                        image: reference.clone(),
                        detail: format!("writing its program to {}: {e}", path.display()),
                    })?;
            }
            Ok::<_, ImageError>((stored, path, sha))
        })
        .await
        .map_err(|e| ImageError::NotFound {
            image: image.to_string(),
            detail: format!("the task reading it failed: {e}"),
        })??;
        let (stored, path, sha) = loaded;
        let compiled = self.precompile(&path, &sha).await;
        let info = pulled::stored_info(&stored, Some("wasmtime inside the pod's namespaces"));
        self.images.insert(
            &info.id,
            Image {
                builtin: None,
                files: stored.files,
                backend: LinuxImage {
                    program: self.options.exe.clone(),
                    wasm: Some(path),
                    compiled,
                },
            },
        );
        Ok(info)
    }

    /// A `.wasm` image: the container process is wpod itself, running the wasm in-process with
    /// wasmtime inside the pod's namespaces.
    async fn pull_wasm_file(
        &self,
        image: &str,
        p: &str,
        base_dir: &Path,
    ) -> Result<ImageInfo, ImageError> {
        let path = base_dir.join(p);
        // Read and hashed off the runtime's threads: the timers and signals that stop wpod keep
        // running whatever the path turns out to be.
        let (name, file) = (image.to_string(), path.clone());
        let sha = tokio::task::spawn_blocking(move || {
            builtin::read_file(&name, &file).map(|bytes| pulled::sha256_hex(&bytes))
        })
        .await
        .map_err(|e| ImageError::NotFound {
            image: image.to_string(),
            detail: format!("the task reading it failed: {e}"),
        })??;
        let id = format!("sha256:{sha}");
        let compiled = self.precompile(&path, &sha).await;
        self.images.insert(
            &id,
            Image {
                builtin: None,
                files: Vec::new(),
                backend: LinuxImage {
                    // The container process is wpod itself, running the wasm in-process.
                    program: self.options.exe.clone(),
                    wasm: Some(path.clone()),
                    compiled,
                },
            },
        );
        let source = format!(
            "file {} (wasmtime inside the pod's namespaces)",
            path.display()
        );
        Ok(pulled::file_info(p, &path, id, source))
    }
}

#[async_trait]
impl RuntimeService for LinuxRuntime {
    fn name(&self) -> &'static str {
        "linux"
    }

    async fn pull_image(&self, image: &str, base_dir: &Path) -> Result<ImageInfo, ImageError> {
        let (b, source) = match pulled::name(image, Some("native build"))? {
            Named::Builtin { image, source } => (image, source),
            Named::File(p) => return self.pull_wasm_file(image, p, base_dir).await,
            Named::Stored(name) => return self.pull_stored(image, name).await,
        };
        let (program, sha) =
            images::program(b.name, &self.options.cache_dir).map_err(|e| ImageError::Invalid {
                image: image.to_string(),
                detail: format!("{e:#}"),
            })?;
        let id = format!("sha256:{sha}");
        self.images.insert(
            &id,
            Image {
                builtin: Some(b),
                files: pulled::builtin_files(Some(b)),
                backend: LinuxImage {
                    program,
                    wasm: None,
                    compiled: None,
                },
            },
        );
        Ok(pulled::builtin_info(b, id, source))
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId> {
        let id = self.containers.sandbox_id(&config.pod_name);
        std::fs::create_dir_all(&config.state_dir)
            .with_context(|| format!("creating {}", config.state_dir.display()))?;
        let (ours, theirs) = UnixStream::pair().context("creating the pause process's socket")?;
        let mut outer = lifeline::command(&self.options.exe)
            // What `ps` in a shared PID namespace shows for PID 1, as in Kubernetes.
            .arg0("pause")
            .arg(helper::PAUSE)
            .arg(&config.hostname)
            .arg(if config.host_network { "0" } else { "1" })
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Not in wpod's process group: Ctrl-C is wpod's to handle (gracefully), not the pod's.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the pause process of pod {}", config.pod_name))?;
        // Without its pid the pause could be neither recorded nor stopped (and 0 would signal
        // wpod's own process group).
        let outer_pid = outer.id().with_context(|| {
            format!(
                "the pause process of pod {} exited at once",
                config.pod_name
            )
        })?;
        let mut line = String::new();
        if let Some(out) = outer.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line).await;
        }
        let pid: u32 = match line.trim().parse() {
            Ok(pid) => pid,
            Err(_) => {
                let mut err = String::new();
                if let Some(mut e) = outer.stderr.take() {
                    use tokio::io::AsyncReadExt as _;
                    let _ = e.read_to_string(&mut err).await;
                }
                return Err(anyhow::anyhow!(
                    "the pause process of pod {} failed: {}",
                    config.pod_name,
                    err.trim()
                )
                .into());
            }
        };
        // Reaped by the next run should this one be killed before it stops the pod.
        for (file, p) in [("pause.proc", pid), ("outer.proc", outer_pid)] {
            let _ = leftovers::record_process(&config.state_dir.join(file), p);
        }
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        // The task owns the helper (killed on drop, should wpod end without stopping the pod).
        tokio::spawn(async move {
            let _ = outer.wait().await;
            ended_tx.send_replace(true);
        });
        let mut ip = None;
        if !config.host_network && self.mode == Mode::Root {
            let addr = self
                .options
                .cluster
                .address_of(&config.pod_name)
                .ok_or_else(crate::runtime::no_pod_address)?;
            if let Err(e) = self
                .node_request(format!("pod {pid} {{veth}} {BRIDGE} {addr}/16 {NODE_IP}"))
                .await
            {
                let _ = sys::kill(outer_pid as i32, libc::SIGKILL);
                return Err(e
                    .context(format!(
                        "connecting pod {} to the pod network",
                        config.pod_name
                    ))
                    .into());
            }
            ip = Some(addr);
        }
        // Rootless pods have no IP to forward to (the CLI says hostPorts are unavailable then).
        let host_ports = match ip {
            Some(ip) => crate::net::publish::publish_all(&config.port_mappings, |m| {
                publish::publish_host_port(self.node.clone(), ip, m.host, m.container_port)
            }),
            None => Ok(Vec::new()),
        };
        let host_ports = match host_ports {
            Ok(listeners) => listeners,
            Err(e) => {
                let _ = sys::kill(outer_pid as i32, libc::SIGKILL);
                return Err(anyhow::anyhow!(e).into());
            }
        };
        lock(&self.sandboxes).insert(
            id.0.clone(),
            Arc::new(Sandbox {
                config: config.clone(),
                outer_pid,
                ended,
                pid,
                ip,
                factory: Mutex::new(ours),
                host_ports: Mutex::new(host_ports),
            }),
        );
        Ok(id)
    }

    async fn pod_sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus> {
        let s = self.sandbox(id)?;
        let ip = if s.config.host_network {
            Some(crate::node::HOST_IP.to_string())
        } else {
            s.ip.map(|ip| ip.to_string())
        };
        Ok(SandboxStatus {
            ip,
            ready: !*s.ended.borrow() && sys::process_alive(s.pid),
        })
    }

    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let s = self.sandbox(sandbox)?;
        let image = self.images.pulled(&config.image.id)?;
        let id = self.containers.new_id();
        let dir = s.config.state_dir.join(&id.0);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let cgroups = if self.mode == Mode::Root {
            Cgroups::create(&id.0, config.memory_limit, config.cpu_limit_millis).with_context(
                || format!("setting the resource limits of container {}", config.name),
            )?
        } else {
            Cgroups::default()
        };
        let (confinement, notes) = confine::resolve(&config.security, self.mode == Mode::Rootless)
            .map_err(|e| anyhow::anyhow!("confining container {}: {e}", config.name))?;
        for note in notes {
            eprintln!("warning: container {}: {note}", config.name);
        }
        let hostname = s.config.hostname.clone();
        let env = crate::runtime::container_env(&hostname, &config);
        let mut files = vec![
            (
                "/etc/hostname".to_string(),
                format!("{hostname}\n").into_bytes(),
            ),
            (
                "/etc/hosts".to_string(),
                self.hosts_file(&s.config, s.ip).into_bytes(),
            ),
            // glibc's default without this file asks DNS first; pods resolve each other by /etc/hosts.
            (
                "/etc/nsswitch.conf".to_string(),
                b"hosts: files dns\n".to_vec(),
            ),
            // Every address /etc/hosts gives a name, as Debian's images and musl answer (glibc
            // alone stops at the first line).
            ("/etc/host.conf".to_string(), b"multi on\n".to_vec()),
        ];
        // The kubelet's resolv.conf: the cluster DNS in the node's network answers it.
        files.push((
            "/etc/resolv.conf".to_string(),
            s.config.dns.resolv_conf().into_bytes(),
        ));
        files.extend(image.files.iter().cloned());
        let spec = ContainerSpec {
            pause_pid: s.pid,
            join_net: !s.config.host_network,
            share_pid: s.config.share_process_namespace,
            user_ns: self.mode == Mode::Rootless,
            cgroups: cgroups.dirs().to_vec(),
            program: image.backend.program.clone(),
            wasm: image.backend.wasm.clone(),
            wasm_compiled: image.backend.compiled.clone(),
            argv: config.argv.clone(),
            env,
            working_dir: config
                .working_dir
                .as_deref()
                .map(crate::runtime::clean_path),
            root: dir.join("root"),
            files,
            system_binds: rootfs::SYSTEM_DIRS
                .iter()
                .map(PathBuf::from)
                .filter(|p| std::fs::symlink_metadata(p).is_ok())
                .collect(),
            program_paths: image
                .builtin
                .and_then(|b| b.exec_commands)
                .into_iter()
                .flatten()
                .map(|name| format!("/usr/sbin/{name}"))
                .collect(),
            mounts: config
                .mounts
                .iter()
                .map(|m| SpecMount {
                    host_path: m.host_path.clone(),
                    sub_path: m.sub_path.clone(),
                    container_path: m.container_path.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            pid_file: dir.join("pid"),
            error_file: dir.join("start-error"),
            confine: confinement,
            tty: config.console.tty,
            ports: config.ports.clone(),
        };
        let spec_file = dir.join("spec.json");
        let json = serde_json::to_vec(&spec).context("serializing the container spec")?;
        std::fs::write(&spec_file, json)
            .with_context(|| format!("writing {}", spec_file.display()))?;
        let backend = LinuxContainer {
            pid_file: spec.pid_file,
            error_file: spec.error_file,
            dir,
            spec_file,
            cgroups: Arc::new(cgroups),
            pid: Mutex::new(None),
            helper_pid: Mutex::new(None),
            console: console::Console::new(config.console),
        };
        self.containers.insert(id.clone(), sandbox, config, backend);
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let c = self.containers.start(id)?;
        let console = &c.backend.console;
        let mut command = lifeline::command(&self.options.exe);
        command
            .arg(helper::CONTAINER)
            .arg(&c.backend.spec_file)
            .process_group(0);
        let terminal = console
            .wanted
            .tty
            .then(|| pty::open(pty::DEFAULT_SIZE))
            .transpose()
            .with_context(|| format!("a terminal for container {}", c.config.name))?;
        match &terminal {
            Some((_, slave)) => {
                pty::give(&mut command, slave).context("the container's terminal")?
            }
            None => {
                let stdin = if console.wanted.stdin {
                    Stdio::piped()
                } else {
                    Stdio::null()
                };
                command
                    .stdin(stdin)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
        }
        let spawned = command
            .spawn()
            .with_context(|| format!("starting container {}", c.config.name));
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                // Running without a process: it has ended before it began.
                c.exited(ExitStatus {
                    code: 128,
                    reason: ExitReason::StartError,
                    message: Some(format!("{e:#}")),
                });
                return Err(e.into());
            }
        };
        *lock(&c.backend.helper_pid) = child.id();
        let name = c.config.name.clone();
        let mut pumps = Vec::new();
        if let Some(stdin) = child.stdin.take() {
            console.set_input(Box::new(stdin));
        }
        if let Some((master, slave)) = terminal {
            // Only the container holds the slave now: its end is the terminal's hang-up.
            drop(slave);
            let (near_in, far_in) = tokio::io::duplex(64 * 1024);
            let (near_out, far_out) = tokio::io::duplex(64 * 1024);
            let resize = pty::serve(master, Some(far_in), far_out, c.ended())
                .with_context(|| format!("the terminal of container {}", c.config.name))?;
            console.set_input(Box::new(near_in));
            console.set_resize(Arc::from(resize));
            let (c2, log, name) = (c.clone(), c.config.log.clone(), name.clone());
            pumps.push(tokio::spawn(async move {
                c2.backend
                    .console
                    .tty_output(Box::new(near_out), name, log)
                    .await;
            }));
        }
        let log = console.log(c.config.log.clone());
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(
                out,
                name.clone(),
                Stream::Stdout,
                log.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(
                err,
                name.clone(),
                Stream::Stderr,
                log.clone(),
            )));
        }
        let waiter = c.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            for p in pumps {
                let abort = p.abort_handle();
                if tokio::time::timeout(DRAIN, p).await.is_err() {
                    abort.abort();
                }
            }
            let code = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt as _;
                    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
                }
                Err(_) => 128,
            };
            let w = &waiter.backend;
            let result = if let Ok(why) = std::fs::read_to_string(&w.error_file) {
                ExitStatus {
                    code: 128,
                    reason: ExitReason::StartError,
                    message: Some(why),
                }
            } else if code == 137 && w.cgroups.oom_kills() > 0 {
                ExitStatus::oom_killed(waiter.config.memory_limit)
            } else {
                ExitStatus::from_code(code)
            };
            let cgroups = w.cgroups.clone();
            let _ = tokio::task::spawn_blocking(move || cgroups.remove()).await;
            waiter.exited(result);
        });
        // Started means the container process exists in its namespaces (or has already ended).
        let mut rx = c.subscribe();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(pid) = std::fs::read_to_string(&c.backend.pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                *lock(&c.backend.pid) = Some(pid);
                return Ok(());
            }
            if rx.borrow().is_some() || tokio::time::Instant::now() > deadline {
                return Ok(());
            }
            let _ = tokio::time::timeout(Duration::from_millis(1), rx.changed()).await;
        }
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        self.containers.get(id)?.wait().await
    }

    /// TERM to the container's main process, KILL to all of it once `grace` has passed. As PID 1
    /// of its PID namespace, a process without a TERM handler ignores TERM (as in Kubernetes).
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let c = self.containers.get(id)?;
        match c.state() {
            State::Exited => return Ok(()),
            State::Created => {
                // Never started: nothing runs.
                c.exited(ExitStatus::killed());
                return Ok(());
            }
            State::Running => {}
        }
        if !grace.is_zero() {
            // A pod leaving its Services must be out of the kernel's rules before its TERM.
            self.options.cluster.services.settled().await;
            let pid = *lock(&c.backend.pid);
            if let Some(pid) = pid {
                let _ = sys::kill(pid, libc::SIGTERM);
            }
            if c.exits_within(grace).await {
                return Ok(());
            }
        }
        self.kill_container(&c.backend).await;
        c.exits_within(START_TIMEOUT).await;
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        let Some(c) = self.containers.remove(id) else {
            return Ok(());
        };
        if c.state() == State::Running {
            self.kill_container(&c.backend).await;
            c.exits_within(START_TIMEOUT).await;
        }
        let w = &c.backend;
        w.cgroups.remove();
        if let Err(e) = std::fs::remove_dir_all(&w.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(anyhow::anyhow!("removing {}: {e}", w.dir.display()).into());
        }
        Ok(())
    }

    async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        crate::runtime::kill_all(self, self.containers.of_sandbox(id)).await?;
        if let Ok(s) = self.sandbox(id) {
            // Free once the listeners are gone, not when told to go: a sandbox recreated for
            // the same pod binds them again at once.
            let listeners = std::mem::take(&mut *lock(&s.host_ports));
            for listener in listeners {
                listener.abort();
                let _ = listener.await;
            }
            let mut ended = s.ended.clone();
            // Signalled only while it runs: once reaped, its pid may be another process's.
            for sig in [libc::SIGTERM, libc::SIGKILL] {
                if *ended.borrow() {
                    break;
                }
                let _ = sys::kill(s.outer_pid as i32, sig);
                if tokio::time::timeout(Duration::from_secs(2), ended.wait_for(|e| *e))
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn wait_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let mut ended = self.sandbox(id)?.ended.clone();
        // A sender gone with its task is an end too.
        let _ = ended.wait_for(|e| *e).await;
        Ok(())
    }

    async fn kill_pod_sandbox_infra(&self, id: &SandboxId) -> Result<()> {
        let s = self.sandbox(id)?;
        if !*s.ended.borrow() {
            sys::kill(s.pid as i32, libc::SIGKILL)
                .with_context(|| format!("killing the pause process {}", s.pid))?;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        self.stop_pod_sandbox(id).await?;
        for cid in self.containers.of_sandbox(id) {
            self.remove_container(&cid).await?;
        }
        let removed = lock(&self.sandboxes).remove(&id.0);
        if let Some(s) = removed {
            let _ = std::fs::remove_dir_all(&s.config.state_dir);
        }
        Ok(())
    }

    async fn exec_sync(&self, id: &ContainerId, cmd: ExecSync<'_>) -> Result<ExecResult> {
        let ExecSync { argv, timeout } = cmd;
        let c = self.containers.get(id)?;
        let (pid, program) = self.exec_target(&c, argv)?;
        let exec = exec::Exec {
            spec_file: &c.backend.spec_file,
            pid,
            program: program.as_deref(),
            argv,
        };
        let result = exec::exec_sync(&self.options.exe, exec, timeout).await?;
        // When a container's PID 1 exits, the kernel kills everything in its PID namespace, an
        // exec too: that is the container's end, not the command's (CRI says so as an error).
        if result.exit_code == 128 + libc::SIGKILL && c.exits_within(DRAIN * 2).await {
            return Err(anyhow::anyhow!(
                "failed to exec in container: container is in CONTAINER_EXITED state"
            )
            .into());
        }
        Ok(result)
    }

    async fn exec(&self, id: &ContainerId, req: ExecRequest) -> Result<ExecSession> {
        let c = self.containers.get(id)?;
        let (pid, program) = self.exec_target(&c, &req.argv)?;
        let exec = exec::Exec {
            spec_file: &c.backend.spec_file,
            pid,
            program: program.as_deref(),
            argv: &req.argv,
        };
        exec::exec_stream(&self.options.exe, exec, &req)
    }

    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<ExecSession> {
        let c = self.containers.get(id)?;
        if lock(&c.backend.pid).is_none() || c.has_exited() {
            return Err(anyhow::anyhow!("container {} is not running", c.config.name).into());
        }
        let waiter = c.clone();
        let exit = async move { waiter.wait().await.map(|s| s.code) };
        Ok(c.backend.console.attach(stdin, c.ended(), exit))
    }

    /// To 127.0.0.1 inside the pod's network namespace, through a socket its pause process
    /// made there, as the kubelet's port forwarding enters the namespace and dials localhost.
    async fn port_forward(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let s = self.sandbox(sandbox)?;
        let connected = if s.config.host_network {
            tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await
        } else {
            let fd = publish::request_socket(&lock(&s.factory), b"t")
                .context("asking the pod's pause process for a socket")?;
            publish::connect_from(fd, Ipv4Addr::LOCALHOST, port).await
        };
        crate::runtime::dialed(port, connected)
    }

    /// From the node (10.88.0.1 on the pod bridge) to the pod's IP, through a socket the node
    /// helper made in its network namespace: wpod's own has no route to the pod bridge. Without a
    /// pod IP (rootless) the pod's own 127.0.0.1 stands in for it, from inside the pod.
    async fn dial(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let s = self.sandbox(sandbox)?;
        let connected = match (s.config.host_network, s.ip) {
            (true, _) => tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await,
            (false, Some(ip)) => {
                let fd = node_socket(&self.node)
                    .await
                    .context("the pod network's node helper is not running")?
                    .context("asking the node helper for a socket")?;
                publish::connect_from(fd, ip, port).await
            }
            (false, None) => {
                let fd = publish::request_socket(&lock(&s.factory), b"t")
                    .context("asking the pod's pause process for a socket")?;
                publish::connect_from(fd, Ipv4Addr::LOCALHOST, port).await
            }
        };
        crate::runtime::dialed(port, connected)
    }

    async fn container_namespaces(&self, id: &ContainerId) -> Vec<(String, String)> {
        let Ok(c) = self.containers.get(id) else {
            return Vec::new();
        };
        let pid = *lock(&c.backend.pid);
        pid.map(|p| namespaces(p as u32)).unwrap_or_default()
    }

    async fn sandbox_namespaces(&self, id: &SandboxId) -> Vec<(String, String)> {
        self.sandbox(id)
            .map(|s| {
                let mut ns = vec![("pause pid".to_string(), s.pid.to_string())];
                ns.extend(namespaces(s.pid));
                ns
            })
            .unwrap_or_default()
    }
}

/// The namespaces of a process as /proc/PID/ns shows them.
fn namespaces(pid: u32) -> Vec<(String, String)> {
    ["net", "ipc", "uts", "pid", "mnt", "user", "cgroup"]
        .iter()
        .filter_map(|k| sys::ns_link(pid, k).map(|v| (k.to_string(), v)))
        .collect()
}
