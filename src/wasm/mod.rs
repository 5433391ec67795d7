//! The WebAssembly backend: every container is a WASI program (a p2 component or a p1 module) run
//! by wasmtime, each in its own Store, all on one Engine. This module is the CRI bookkeeping
//! (sandboxes, containers, images); `engine` runs the programs.

#[cfg(target_os = "linux")]
mod address_space;
mod cache;
pub mod clocks;
mod console;
mod crossdev;
mod engine;
mod erofs;
mod exec;
mod http;
mod limits;
mod link;
mod process;
mod rootfs;
mod stdio;

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;

pub use cache::CompileCache;
pub use engine::{Guest, MainIo, Program, Role, WasmEngine};
use process::signals::SIGTERM;
pub use process::table::{PidNamespace, Process};
pub use rootfs::Filesystem;
use stdio::LogStream;

use crate::images;
use crate::net::host::NetCtx;
use crate::net::netns::Netns;
use crate::net::publish;
use crate::net::{Cluster, Trace};
use crate::runtime::containers::{self, Containers, lock, not_found};
use crate::runtime::images::{self as pulled, Image, Images, Named};
use crate::runtime::{
    ContainerConfig, ContainerId, ExecRequest, ExecResult, ExecSession, ExecSync, ExitStatus,
    ImageError, ImageInfo, PodStream, Result, RuntimeService, SandboxConfig, SandboxId,
    SandboxStatus, Stream,
};

/// Compiles longer than this show a progress line on a terminal.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
pub struct WasmOptions {
    /// Where compiled images are kept; None disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Print a progress line on stderr while a slow compile runs (only on a terminal).
    pub progress: bool,
    /// The network the pods of this run share.
    pub cluster: Arc<Cluster>,
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            cache_dir: CompileCache::default_dir(),
            progress: true,
            cluster: Cluster::new(Trace::default()),
        }
    }
}

struct Sandbox {
    config: SandboxConfig,
    netns: Arc<Netns>,
    /// The pod's infra container: the sandbox lives as long as it runs.
    pause: Pause,
    /// The pod's PID namespace, where pause is PID 1: its containers' with
    /// `shareProcessNamespace: true`, else only pause's own.
    pids: Arc<PidNamespace>,
    /// The listeners of its hostPorts, closed when the sandbox stops.
    host_ports: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Ends what StopPodSandbox ends: the infra container and the pod's port mappings.
    fn stop(&self) {
        self.pause.task.abort();
        for listener in &self.host_ports {
            listener.abort();
        }
    }
}

/// A running infra container.
struct Pause {
    task: tokio::task::JoinHandle<()>,
    /// Its process, PID 1 of the sandbox's PID namespace.
    process: Arc<Process>,
    /// True once it has ended (its sender goes with its task).
    ended: tokio::sync::watch::Receiver<bool>,
}

/// The pause container prints nothing; anything it might say goes nowhere.
struct Discard;

impl crate::runtime::LogSink for Discard {
    fn line(&self, _: &str, _: Stream, _: &str) {}
}

/// What the wasm backend keeps of a container (the rest is in the shared table).
struct WasmContainer {
    hostname: String,
    netns: Arc<Netns>,
    host_network: bool,
    /// This instance's private directory.
    dir: PathBuf,
    /// The guest's `/` (`rootfs` in `dir`, or the shared root) and its mounts.
    fs: Arc<rootfs::Filesystem>,
    program: Program,
    /// Its PID namespace: its own, or the pod's with `shareProcessNamespace: true`.
    pids: Arc<PidNamespace>,
    /// Its main process is PID 1 of its namespace (in the pod's, pause is).
    pid1: bool,
    /// What all its processes hold, for its memory limit.
    memory_used: Arc<AtomicU64>,
    /// Its main process, once started.
    main: Mutex<Option<Arc<Process>>>,
    /// The guest's task, once started (until it is aborted).
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Its main process's stdin and terminal, and the copy of its output for `attach`.
    console: console::Console,
}

type Container = crate::runtime::containers::Container<WasmContainer>;

/// Where a compiled program came from, for benchmarks and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileSource {
    Compiled,
    DiskCache,
    Memory,
}

/// An image as a container names it, with the directory a relative path resolves against.
type ImageRef = (String, PathBuf);

pub struct WasmRuntime {
    engine: Arc<WasmEngine>,
    progress: bool,
    /// Compiled and linked programs, by image id.
    images: Images<Program>,
    /// Image references already resolved in this process: like `imagePullPolicy: IfNotPresent`,
    /// a second container with the same image neither re-reads nor re-hashes it.
    resolved: Mutex<HashMap<ImageRef, ImageInfo>>,
    /// One lock per image reference being prepared: pods started together wait for one load
    /// instead of each loading (and keeping) its own copy of the compiled code.
    preparing: Mutex<HashMap<ImageRef, Arc<tokio::sync::Mutex<()>>>>,
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    cluster: Arc<Cluster>,
    containers: Containers<WasmContainer>,
}

impl WasmRuntime {
    pub fn new(options: WasmOptions) -> anyhow::Result<Self> {
        Ok(WasmRuntime {
            engine: Arc::new(WasmEngine::new(options.cache_dir)?),
            progress: options.progress && std::io::stderr().is_terminal(),
            images: Images::default(),
            resolved: Mutex::new(HashMap::new()),
            preparing: Mutex::new(HashMap::new()),
            sandboxes: Mutex::new(HashMap::new()),
            cluster: options.cluster,
            containers: Containers::default(),
        })
    }

    /// Where the compiled form of a wasm (by its sha256) lives in the disk cache, if there is one.
    pub fn compiled_file(&self, wasm_sha256: &str) -> Option<PathBuf> {
        self.engine.cache_path(wasm_sha256).filter(|p| p.is_file())
    }

    /// Compiles (or loads from the caches) the program of an image and links it.
    pub async fn prepare(
        &self,
        image: &str,
        base_dir: &Path,
    ) -> Result<(ImageInfo, CompileSource), ImageError> {
        let key = (image.to_string(), base_dir.to_path_buf());
        if let Some(info) = lock(&self.resolved).get(&key) {
            return Ok((info.clone(), CompileSource::Memory));
        }
        let flight = lock(&self.preparing)
            .entry(key.clone())
            .or_default()
            .clone();
        let _only_one = flight.lock().await;
        if let Some(info) = lock(&self.resolved).get(&key) {
            return Ok((info.clone(), CompileSource::Memory));
        }
        let prepared = self.load(image, base_dir, key.clone()).await;
        lock(&self.preparing).remove(&key);
        prepared
    }

    async fn load(
        &self,
        image: &str,
        base_dir: &Path,
        key: ImageRef,
    ) -> Result<(ImageInfo, CompileSource), ImageError> {
        // A file read blocks; off the runtime's threads, the timers and signals that stop wpod
        // keep running whatever the path turns out to be.
        let (name, dir) = (image.to_string(), base_dir.to_path_buf());
        let read = tokio::task::spawn_blocking(move || read_image(&name, &dir))
            .await
            .map_err(|e| ImageError::NotFound {
                image: image.to_string(),
                detail: format!("the task reading it failed: {e}"),
            })??;
        let Read {
            wasm: bytes,
            files,
            info,
            builtin,
        } = read;
        // The compiled program is cached by the program's own digest: a stored image's id is
        // its config's.
        let sha = pulled::sha256_hex(&bytes);
        if self.images.get(&info.id).is_some() {
            lock(&self.resolved).insert(key, info.clone());
            return Ok((info, CompileSource::Memory));
        }
        let invalid = |detail: String| ImageError::Invalid {
            image: image.to_string(),
            detail,
        };
        let engine = self.engine.clone();
        let cached = engine.cache_path(&sha);
        let done = Arc::new(AtomicBool::new(false));
        if self.progress {
            show_progress(image.to_string(), bytes.len(), done.clone());
        }
        let compiled = tokio::task::spawn_blocking(move || engine.program(&bytes, cached))
            .await
            .map_err(|e| invalid(format!("compiler task failed: {e}")));
        done.store(true, Ordering::SeqCst);
        let (program, source) = compiled?.map_err(|e| invalid(format!("{e:#}")))?;
        self.images.insert(
            &info.id,
            Image {
                builtin,
                files,
                backend: program,
            },
        );
        lock(&self.resolved).insert(key, info.clone());
        Ok((info, source))
    }
}

impl WasmRuntime {
    /// Binds the sandbox's hostPorts (a hostNetwork pod's servers bind the host's ports
    /// themselves); a busy one fails the sandbox.
    fn publish_host_ports(
        &self,
        config: &SandboxConfig,
        netns: &Arc<Netns>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>> {
        if config.host_network {
            return Ok(Vec::new());
        }
        publish::publish_all(&config.port_mappings, |m| {
            publish::publish_host_port(&self.cluster, netns.clone(), m.host, m.container_port)
        })
        .map_err(|e| anyhow::anyhow!(e).into())
    }

    /// Starts the built-in pause image in the pod's network: the wasm counterpart of the process
    /// that holds a Linux pod's namespaces.
    async fn start_pause(&self, netns: Arc<Netns>, pids: &Arc<PidNamespace>) -> Result<Pause> {
        crate::host_limits::room_for_instance().map_err(|e| anyhow::anyhow!(e))?;
        let (info, _) = self
            .prepare("pause", Path::new("/"))
            .await
            .map_err(|e| anyhow::anyhow!("preparing the pause image: {e}"))?;
        let program = self.images.get(&info.id).map(|i| i.backend.clone());
        let Some(Program::Module(pre)) = program else {
            return Err(anyhow::anyhow!("the pause image is not a core module").into());
        };
        let stderr = LogStream::new("POD", Stream::Stderr, Arc::new(Discard));
        let process = pids
            .start(process::table::NewProcess {
                ppid: 0,
                container: "POD".into(),
                group: "POD".into(),
                argv: vec!["/pause".into()],
                init: true,
                parent_waits: false,
            })
            .ok_or_else(|| anyhow::anyhow!("the pod's PID namespace is full"))?;
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        let task = self.engine.spawn_pause(
            pre,
            netns,
            stderr,
            (process.clone(), pids.clone()),
            ended_tx,
        );
        Ok(Pause {
            task,
            process,
            ended,
        })
    }
}

fn show_progress(image: String, size: usize, done: Arc<AtomicBool>) {
    tokio::spawn(async move {
        tokio::time::sleep(PROGRESS_AFTER).await;
        let frames = ['|', '/', '-', '\\'];
        let start = Instant::now();
        let mut i = 0;
        // Through the console's queue: a terminal paused with ^S stalls no runtime thread.
        while !done.load(Ordering::SeqCst) {
            let line = format!(
                "\r{} compiling image {image} ({} KiB) {:.0}s",
                frames[i % frames.len()],
                size / 1024,
                start.elapsed().as_secs_f64() + PROGRESS_AFTER.as_secs_f64()
            );
            crate::console::own(crate::console::Channel::Stderr, line);
            i += 1;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        crate::console::own(crate::console::Channel::Stderr, "\r\x1b[2K".into());
    });
}

/// What an image gives a container: its program (the bytes), its files, what it resolves to
/// and the built-in image it is, if it is one.
struct Read {
    wasm: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
    info: ImageInfo,
    builtin: Option<&'static images::BuiltinImage>,
}

fn read_image(image: &str, base_dir: &Path) -> Result<Read, ImageError> {
    match pulled::name(image, None)? {
        Named::Builtin { image: b, source } => Ok(Read {
            wasm: b.wasm.to_vec(),
            files: pulled::builtin_files(Some(b)),
            info: pulled::builtin_info(b, pulled::image_id(b.wasm), source),
            builtin: Some(b),
        }),
        Named::File(p) => {
            let path = base_dir.join(p);
            let bytes = images::read_file(image, &path)?;
            let source = format!("file {}", path.display());
            let info = pulled::file_info(p, &path, pulled::image_id(&bytes), source);
            Ok(Read {
                wasm: bytes,
                files: Vec::new(),
                info,
                builtin: None,
            })
        }
        Named::Stored(name) => {
            let stored = pulled::load_stored(image, &name)?;
            Ok(Read {
                info: pulled::stored_info(&stored, None),
                wasm: stored.wasm,
                files: stored.files,
                builtin: None,
            })
        }
    }
}

/// A run of `c`'s program in its context: its own, or an exec's.
impl WasmRuntime {
    /// What an exec of `argv` in container `id` runs (the container's program, or the toolbox
    /// standing in for the image's shell) and in which context.
    async fn exec_context(&self, id: &ContainerId, argv: &[String]) -> Result<(Program, Guest)> {
        let c = self.containers.get(id)?;
        if c.state() != containers::State::Running {
            return Err(anyhow::anyhow!("container {} is not running", c.config.name).into());
        }
        let mut guest = guest_of(&c, id, &self.cluster.trace);
        let program = match self.images.exec_image(&c.config.image.id, argv)? {
            Some(other) => {
                let (info, _) = self
                    .prepare(other.name, Path::new("/"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                // The toolbox stands in for the image's shell; the image's own commands still
                // run the image's program (`/bin/sh -c "nginx -s quit"`).
                let own = self.images.pulled(&c.config.image.id)?.builtin;
                guest.image_program = own
                    .and_then(|b| b.exec_commands)
                    .map(|names| (c.backend.program.clone(), names));
                self.images.pulled(&info.id)?.backend.clone()
            }
            None => c.backend.program.clone(),
        };
        Ok((program, guest))
    }
}

fn guest_of(c: &Container, id: &ContainerId, trace: &Trace) -> Guest {
    let w = &c.backend;
    let net = NetCtx {
        netns: w.netns.clone(),
        container: c.config.name.clone(),
        trace: trace.clone(),
    };
    let processes = (w.pids.clone(), id.0.clone(), w.memory_used.clone());
    Guest::of(
        &c.config,
        &w.hostname,
        net,
        w.host_network,
        w.fs.clone(),
        processes,
    )
}

/// The identity of a pod's virtual network for `--show-namespaces`.
fn virtual_net(netns: &Netns, host_network: bool) -> String {
    if host_network {
        "net:[host]".into()
    } else {
        format!("net:[virtual {} {}]", netns.ip, netns.pod)
    }
}

#[async_trait]
impl RuntimeService for WasmRuntime {
    fn name(&self) -> &'static str {
        "wasm"
    }

    async fn pull_image(&self, image: &str, base_dir: &Path) -> Result<ImageInfo, ImageError> {
        self.prepare(image, base_dir).await.map(|(info, _)| info)
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId> {
        let id = self.containers.sandbox_id(&config.pod_name);
        let netns = if config.host_network {
            Some(Cluster::detached_netns(
                &config.pod_name,
                config.dns.clone(),
                (&config.hostname, config.hosts.clone()),
            ))
        } else {
            self.cluster.create_netns(
                &config.pod_name,
                config.dns.clone(),
                (&config.hostname, config.hosts.clone()),
            )
        }
        .ok_or_else(crate::runtime::no_pod_address)?;
        let pids = PidNamespace::new();
        let started = match self.publish_host_ports(config, &netns) {
            Ok(host_ports) => self
                .start_pause(netns.clone(), &pids)
                .await
                .map(|pause| (pause, host_ports)),
            Err(e) => Err(e),
        };
        let (pause, host_ports) = match started {
            Ok(started) => started,
            Err(e) => {
                if !config.host_network {
                    self.cluster.remove_netns(netns.ip);
                }
                return Err(e);
            }
        };
        lock(&self.sandboxes).insert(
            id.0.clone(),
            Sandbox {
                config: config.clone(),
                netns,
                pause,
                pids,
                host_ports,
            },
        );
        Ok(id)
    }

    async fn pod_sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus> {
        let sandboxes = lock(&self.sandboxes);
        let sandbox = sandboxes
            .get(&id.0)
            .ok_or_else(|| not_found("sandbox", &id.0))?;
        let ip = if sandbox.config.host_network {
            crate::node::HOST_IP.to_string()
        } else {
            sandbox.netns.ip.to_string()
        };
        Ok(SandboxStatus {
            ip: Some(ip),
            // Not ready from the moment its infra process has exited: the end is reported only
            // once what was left in its PID namespace is killed, and a container must not be
            // started in the meantime.
            ready: !*sandbox.pause.ended.borrow() && sandbox.pause.process.running(),
        })
    }

    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let (hostname, netns, host_network, state_dir, pod_pids) = lock(&self.sandboxes)
            .get(&sandbox.0)
            .map(|s| {
                (
                    s.config.hostname.clone(),
                    s.netns.clone(),
                    s.config.host_network,
                    s.config.state_dir.clone(),
                    s.config.share_process_namespace.then(|| s.pids.clone()),
                )
            })
            .ok_or_else(|| not_found("sandbox", &sandbox.0))?;
        let image = self.images.pulled(&config.image.id)?;
        let id = self.containers.new_id();
        let dir = state_dir.join(&id.0);
        let root = dir.join("rootfs");
        // As the kubelet writes /etc/hosts and resolv.conf; the pod network's name lookup
        // follows both.
        let own_ip = (!host_network).then(|| netns.ip.to_string());
        let hosts = netns.hosts.file(own_ip.as_deref(), &hostname);
        let resolv = netns.dns.resolv_conf();
        let mut files: Vec<(&str, &[u8])> = image
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        files.push(("etc/resolv.conf", resolv.as_bytes()));
        files.push(("etc/hosts", hosts.as_bytes()));
        let sources = rootfs::create(&root, &hostname, &files, &config.mounts)
            .inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&dir);
            })
            .with_context(|| format!("creating the file system of container {}", config.name))?;
        let backend = WasmContainer {
            hostname,
            netns,
            host_network,
            dir,
            fs: Arc::new(rootfs::Filesystem::new(root, sources)),
            program: image.backend.clone(),
            pid1: pod_pids.is_none(),
            pids: pod_pids.unwrap_or_else(PidNamespace::new),
            memory_used: Arc::default(),
            main: Mutex::new(None),
            task: Mutex::new(None),
            console: console::Console::new(config.console),
        };
        self.containers.insert(id.clone(), sandbox, config, backend);
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let c = self.containers.start(id)?;
        let engine = self.engine.clone();
        let mut guest = guest_of(&c, id, &self.cluster.trace);
        guest.log = c.backend.console.log(guest.log);
        guest.role = Role::Main(c.backend.console.main_io());
        let Some(process) = guest.new_process(c.backend.pid1) else {
            c.exited(ExitStatus {
                code: 128,
                reason: crate::runtime::ExitReason::StartError,
                message: Some("the pod's PID namespace is full".into()),
            });
            return Ok(());
        };
        let pids = guest.pids.clone();
        let prepared = match engine.prepare(c.backend.program.clone(), guest, process.clone()) {
            Ok(prepared) => prepared,
            Err(status) => {
                let why = status.message.clone().unwrap_or_default();
                c.exited(status);
                return Err(crate::runtime::RuntimeError::Backend(anyhow::anyhow!(
                    "{why}"
                )));
            }
        };
        *lock(&c.backend.main) = Some(process.clone());
        // The terminal's own pump copies its output to attached clients: the log alone here.
        let log = LogStream::new(&c.config.name, Stream::Stdout, c.config.log.clone());
        let terminal = c.backend.console.started(&process, pids, log);
        let container = c.clone();
        *lock(&c.backend.task) = Some(tokio::spawn(async move {
            let status = prepared.run().await;
            if let Some(pump) = terminal {
                let _ = tokio::time::timeout(Duration::from_secs(1), pump).await;
            }
            container.exited(status);
        }));
        Ok(())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        self.containers.get(id)?.wait().await
    }

    /// TERM to the main process, as the kubelet's StopContainer does: a guest that catches it
    /// (through wpod:process) stops as it likes; one that does not ignores it, as PID 1 without
    /// a handler does, and runs on for the grace period. Then it is killed: exit 137.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let c = self.containers.get(id)?;
        let main = lock(&c.backend.main).clone();
        if let Some(main) = main {
            main.signal(SIGTERM);
        }
        if c.exits_within(grace).await {
            return Ok(());
        }
        let task = lock(&c.backend.task).take();
        if let Some(task) = task {
            task.abort();
            // Wait until the guest's Store is really gone before reporting it dead.
            let _ = task.await;
        }
        c.exited(ExitStatus::killed());
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        let Some(c) = self.containers.remove(id) else {
            return Ok(());
        };
        let task = lock(&c.backend.task).take();
        if let Some(task) = task {
            task.abort();
            // The Store holds the preopened directories: let it go before removing them.
            let _ = task.await;
        }
        // The writable layer goes with the container instance, once nothing holds its files
        // open (Windows removes no file or directory that is open).
        let dir = c.backend.dir.clone();
        drop(c);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(anyhow::anyhow!("removing {}: {e}", dir.display()).into());
        }
        Ok(())
    }

    async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        crate::runtime::kill_all(self, self.containers.of_sandbox(id)).await?;
        // Then the infra container, as the kubelet's StopPodSandbox stops pause last.
        if let Some(s) = lock(&self.sandboxes).get(&id.0) {
            s.stop();
        }
        Ok(())
    }

    async fn wait_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let ended = lock(&self.sandboxes)
            .get(&id.0)
            .map(|s| s.pause.ended.clone());
        let Some(mut ended) = ended else {
            return Err(not_found("sandbox", &id.0));
        };
        // A sender gone with its task is an end too.
        let _ = ended.wait_for(|e| *e).await;
        Ok(())
    }

    async fn kill_pod_sandbox_infra(&self, id: &SandboxId) -> Result<()> {
        let sandboxes = lock(&self.sandboxes);
        let s = sandboxes
            .get(&id.0)
            .ok_or_else(|| not_found("sandbox", &id.0))?;
        s.pause.process.kill(process::signals::SIGKILL);
        Ok(())
    }

    /// WebAssembly has no kernel namespaces: a container's equivalents are the pod's virtual
    /// network (one per pod, named by its address), the pod's hostname and its own root directory.
    async fn container_namespaces(&self, id: &ContainerId) -> Vec<(String, String)> {
        let Ok(c) = self.containers.get(id) else {
            return Vec::new();
        };
        let w = &c.backend;
        vec![
            ("net".into(), virtual_net(&w.netns, w.host_network)),
            ("uts".into(), format!("uts:[{}]", w.hostname)),
            ("mnt".into(), format!("mnt:[rootfs {}]", id.0)),
        ]
    }

    async fn sandbox_namespaces(&self, id: &SandboxId) -> Vec<(String, String)> {
        let sandboxes = lock(&self.sandboxes);
        let Some(s) = sandboxes.get(&id.0) else {
            return Vec::new();
        };
        vec![
            ("net".into(), virtual_net(&s.netns, s.config.host_network)),
            ("uts".into(), format!("uts:[{}]", s.config.hostname)),
        ]
    }

    async fn remove_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        for cid in self.containers.of_sandbox(id) {
            self.remove_container(&cid).await?;
        }
        let removed = lock(&self.sandboxes).remove(&id.0);
        if let Some(sandbox) = removed {
            sandbox.stop();
            // Its host ports are free once their listeners are gone, not when they are told to
            // go: a sandbox recreated for the same pod binds them again at once.
            for listener in sandbox.host_ports {
                let _ = listener.await;
            }
            let _ = std::fs::remove_dir_all(&sandbox.config.state_dir);
            if !sandbox.config.host_network {
                self.cluster.remove_netns(sandbox.netns.ip);
            }
        }
        Ok(())
    }

    async fn dial(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let (netns, host_network) = lock(&self.sandboxes)
            .get(&sandbox.0)
            .map(|s| (s.netns.clone(), s.config.host_network))
            .ok_or_else(|| not_found("sandbox", &sandbox.0))?;
        exec::dial(&netns, host_network, port).await
    }

    async fn exec_sync(&self, id: &ContainerId, cmd: ExecSync<'_>) -> Result<ExecResult> {
        let ExecSync { argv, timeout } = cmd;
        let (program, guest) = self.exec_context(id, argv).await?;
        exec::exec_sync(&self.engine, program, guest, argv, timeout).await
    }

    async fn exec(&self, id: &ContainerId, req: ExecRequest) -> Result<ExecSession> {
        let (program, guest) = self.exec_context(id, &req.argv).await?;
        exec::exec_stream(&self.engine, program, guest, req)
    }

    async fn attach(&self, id: &ContainerId, stdin: bool) -> Result<ExecSession> {
        let c = self.containers.get(id)?;
        if c.state() != containers::State::Running {
            return Err(anyhow::anyhow!("container {} is not running", c.config.name).into());
        }
        let waiter = c.clone();
        let exit = async move { waiter.wait().await.map(|s| s.code) };
        Ok(c.backend.console.attach(stdin, c.ended(), exit))
    }

    async fn port_forward(&self, sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let (netns, host_network) = lock(&self.sandboxes)
            .get(&sandbox.0)
            .map(|s| (s.netns.clone(), s.config.host_network))
            .ok_or_else(|| not_found("sandbox", &sandbox.0))?;
        exec::dial_localhost(&netns, host_network, port).await
    }
}
