//! The WebAssembly backend: every container is a WASI program (a p2 component or a p1 module) run
//! by wasmtime, each in its own Store, all on one Engine.

mod cache;
mod crossdev;
mod exec;
mod limits;
mod link;
mod rootfs;
mod stdio;

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder, WasiCtxView, WasiView};

pub use cache::CompileCache;
use limits::MemoryLimiter;
use stdio::LogStream;

use crate::hostfs;
use crate::images;
use crate::net::host::{NetCtx, NetView};
use crate::net::netns::Netns;
use crate::net::publish;
use crate::net::{Cluster, Trace};
use crate::runtime::containers::{Containers, lock, not_found};
use crate::runtime::images::{self as pulled, Image, Images, Named};
use crate::runtime::{
    ContainerConfig, ContainerId, ExecResult, ExecSync, ExitReason, ExitStatus, ImageError,
    ImageInfo, PodStream, Result, RuntimeService, SandboxConfig, SandboxId, SandboxStatus, Stream,
};

/// How often the epoch ticks: a busy guest yields to the scheduler (and can be stopped) this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Compiles longer than this show a progress line on a terminal.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
/// Exit code of a guest that trapped: 128 + SIGABRT, as the wasmtime CLI reports it.
const TRAP_EXIT: i32 = 134;

pub struct WasmOptions {
    /// Where compiled images are kept; None disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Print a progress line on stderr while a slow compile runs (only on a terminal).
    pub progress: bool,
    /// The network the pods of this run share.
    pub cluster: Arc<Cluster>,
    /// Every container's `/` is this directory as it is, instead of a private root wpod builds:
    /// for the Linux backend's `.wasm` images, whose container root (its volumes bind-mounted,
    /// read-only ones enforced by the kernel) is already built. Their mounts are then not used.
    pub shared_root: Option<PathBuf>,
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            cache_dir: CompileCache::default_dir(),
            progress: true,
            cluster: Cluster::new(Trace::default()),
            shared_root: None,
        }
    }
}

pub struct Host {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
    net: NetCtx,
    /// The container's stderr, for wpod's own notes to the guest's user.
    stderr: LogStream,
    p1_socket_noted: bool,
    /// Host directories of the container's root and its directory mounts.
    mount_roots: Vec<PathBuf>,
    /// `(st_dev, st_ino)` of its read-only single-file mounts (see crossdev.rs).
    read_only_files: Vec<(u64, u64)>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl wasmtime_wasi_io::IoView for Host {
    fn table(&mut self) -> &mut wasmtime::component::ResourceTable {
        self.wasi.ctx().table
    }
}

impl Host {
    fn net_view(&mut self) -> NetView<'_> {
        NetView {
            ctx: &self.net,
            table: self.wasi.ctx().table,
        }
    }
}

#[derive(Clone)]
enum Program {
    Component {
        /// Linked to the virtual pod network.
        pod_net: CommandPre<Host>,
        /// Linked to wasmtime-wasi's host sockets, for `hostNetwork: true` pods.
        host_net: CommandPre<Host>,
    },
    Module(InstancePre<Host>),
}

struct Sandbox {
    config: SandboxConfig,
    netns: Arc<Netns>,
    /// The pod's infra container: the sandbox lives as long as it runs.
    pause: tokio::task::JoinHandle<()>,
    /// The listeners of its hostPorts, closed when the sandbox stops.
    host_ports: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Ends what StopPodSandbox ends: the infra container and the pod's port mappings.
    fn stop(&self) {
        self.pause.abort();
        for listener in &self.host_ports {
            listener.abort();
        }
    }
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
    /// The guest's task, once started (until it is aborted).
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

type Container = crate::runtime::containers::Container<WasmContainer>;

/// Where a compiled program came from, for benchmarks and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileSource {
    Compiled,
    DiskCache,
    Memory,
}

pub struct WasmRuntime {
    engine: Engine,
    component_linker: ComponentLinker<Host>,
    host_net_linker: ComponentLinker<Host>,
    module_linker: Linker<Host>,
    cache: CompileCache,
    shared_root: Option<PathBuf>,
    progress: bool,
    /// Compiled and linked programs, by image id.
    images: Images<Program>,
    /// Image references already resolved in this process: like `imagePullPolicy: IfNotPresent`,
    /// a second container with the same image neither re-reads nor re-hashes it.
    resolved: Mutex<HashMap<(String, PathBuf), ImageInfo>>,
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    cluster: Arc<Cluster>,
    containers: Containers<WasmContainer>,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmRuntime {
    pub fn new(options: WasmOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine =
            Engine::new(&config).map_err(|e| wasm_err("creating the wasmtime engine", e))?;
        let mut component_linker = ComponentLinker::new(&engine);
        link::add_to_linker(&mut component_linker).map_err(|e| wasm_err("linking WASI p2", e))?;
        let mut host_net_linker = ComponentLinker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut host_net_linker)
            .map_err(|e| wasm_err("linking WASI p2 with host sockets", e))?;
        let mut module_linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut module_linker, |h: &mut Host| &mut h.wasi)
            .map_err(|e| wasm_err("linking WASI p1", e))?;
        link::explain_p1_sockets(&mut module_linker)
            .map_err(|e| wasm_err("linking WASI p1 sockets", e))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone())?;
        Ok(WasmRuntime {
            cache: CompileCache::new(&engine, options.cache_dir),
            shared_root: options.shared_root,
            engine,
            component_linker,
            host_net_linker,
            module_linker,
            progress: options.progress && std::io::stderr().is_terminal(),
            images: Images::default(),
            resolved: Mutex::new(HashMap::new()),
            sandboxes: Mutex::new(HashMap::new()),
            cluster: options.cluster,
            containers: Containers::default(),
            ticker_stop,
        })
    }

    /// Where the compiled form of a wasm (by its sha256) lives in the disk cache, if there is one.
    pub fn compiled_file(&self, wasm_sha256: &str) -> Option<PathBuf> {
        self.cache.path_for(wasm_sha256).filter(|p| p.is_file())
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
        // A file read blocks; off the runtime's threads, the timers and signals that stop wpod
        // keep running whatever the path turns out to be.
        let (name, dir) = (image.to_string(), base_dir.to_path_buf());
        let (bytes, info, builtin) = tokio::task::spawn_blocking(move || read_image(&name, &dir))
            .await
            .map_err(|e| ImageError::NotFound {
                image: image.to_string(),
                detail: format!("the task reading it failed: {e}"),
            })??;
        let sha = info.id.trim_start_matches("sha256:").to_string();
        if self.images.get(&info.id).is_some() {
            lock(&self.resolved).insert(key, info.clone());
            return Ok((info, CompileSource::Memory));
        }
        let invalid = |detail: String| ImageError::Invalid {
            image: image.to_string(),
            detail,
        };
        let engine = self.engine.clone();
        let cached = self.cache.path_for(&sha);
        let done = Arc::new(AtomicBool::new(false));
        if self.progress {
            show_progress(image.to_string(), bytes.len(), done.clone());
        }
        let compiled =
            tokio::task::spawn_blocking(move || load_or_compile(&engine, &bytes, cached))
                .await
                .map_err(|e| invalid(format!("compiler task failed: {e}")));
        done.store(true, Ordering::SeqCst);
        let (artifact, source) = compiled?.map_err(|e| invalid(format!("{e:#}")))?;
        let program = match artifact {
            Artifact::Component(c) => self
                .component_linker
                .instantiate_pre(&c)
                .and_then(CommandPre::new)
                .and_then(|pod_net| {
                    let host_net = self
                        .host_net_linker
                        .instantiate_pre(&c)
                        .and_then(CommandPre::new)?;
                    Ok(Program::Component { pod_net, host_net })
                }),
            Artifact::Module(m) => self.module_linker.instantiate_pre(&m).map(Program::Module),
        }
        .map_err(|e| invalid(format!("{e:#}")))?;
        self.images.insert(
            &info.id,
            Image {
                builtin,
                files: builtin.map_or(&[], |b| b.files),
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
    async fn start_pause(&self, netns: Arc<Netns>) -> Result<tokio::task::JoinHandle<()>> {
        let (info, _) = self
            .prepare("pause", Path::new("/"))
            .await
            .map_err(|e| anyhow::anyhow!("preparing the pause image: {e}"))?;
        let program = self.images.get(&info.id).map(|i| i.backend.clone());
        let Some(Program::Module(pre)) = program else {
            return Err(anyhow::anyhow!("the pause image is not a core module").into());
        };
        let stderr = LogStream::new("POD", Stream::Stderr, Arc::new(Discard));
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi: WasiCtxBuilder::new().build_p1(),
                limiter: MemoryLimiter::new(None),
                net: NetCtx {
                    netns,
                    container: "POD".into(),
                    trace: Trace::default(),
                },
                stderr,
                p1_socket_noted: false,
                mount_roots: Vec::new(),
                read_only_files: Vec::new(),
            },
        );
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(tokio::spawn(async move {
            if let Ok(instance) = pre.instantiate_async(&mut store).await
                && let Ok(start) = instance.get_typed_func::<(), ()>(&mut store, "_start")
            {
                let _ = start.call_async(&mut store, ()).await;
            }
        }))
    }
}

impl Drop for WasmRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::SeqCst);
    }
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("wpod-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .context("starting the epoch ticker thread")?;
    Ok(())
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

/// An image's program (its bytes), what it resolves to and the built-in image it is, if it is one.
fn read_image(
    image: &str,
    base_dir: &Path,
) -> Result<(Vec<u8>, ImageInfo, Option<&'static images::BuiltinImage>), ImageError> {
    match pulled::name(image, None)? {
        Named::Builtin { image: b, source } => {
            let info = pulled::builtin_info(b, pulled::image_id(b.wasm), source);
            Ok((b.wasm.to_vec(), info, Some(b)))
        }
        Named::File(p) => {
            let path = base_dir.join(p);
            let bytes = images::read_file(image, &path)?;
            let source = format!("file {}", path.display());
            let info = pulled::file_info(p, &path, pulled::image_id(&bytes), source);
            Ok((bytes, info, None))
        }
    }
}

enum Artifact {
    Component(Component),
    Module(Module),
}

fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    cached: Option<PathBuf>,
) -> anyhow::Result<(Artifact, CompileSource)> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        anyhow::bail!("not a WebAssembly binary (it does not start with \\0asm)");
    }
    let is_component = bytes[4..8] == [0x0d, 0x00, 0x01, 0x00];
    if let Some(path) = cached.as_deref() {
        match CompileCache::load_at(path) {
            Ok(code) => {
                // SAFETY: the code is what `CompileCache::store_at` wrote from `serialize()`
                // output, its digest checked just now; wasmtime checks the header and refuses
                // code from other versions or configurations.
                let loaded = unsafe {
                    if is_component {
                        Component::deserialize(engine, &code).map(Artifact::Component)
                    } else {
                        Module::deserialize(engine, &code).map(Artifact::Module)
                    }
                };
                if let Ok(artifact) = loaded {
                    return Ok((artifact, CompileSource::DiskCache));
                }
            }
            Err(cache::Unusable::Missing) => {}
            Err(cache::Unusable::Corrupt(why)) => crate::console::warning(&format!(
                "the compiled code cached in {} is damaged ({why}): compiling it again",
                path.display()
            )),
        }
    }
    let compiled = if is_component {
        Component::new(engine, bytes)
            .and_then(|c| c.serialize().map(|s| (Artifact::Component(c), s)))
    } else {
        Module::new(engine, bytes).and_then(|m| m.serialize().map(|s| (Artifact::Module(m), s)))
    };
    let (artifact, serialized) = compiled.map_err(|e| wasm_err("compiling", e))?;
    if let Some(path) = cached {
        // A cache that cannot be written only costs the next run a compile.
        let _ = CompileCache::store_at(&path, &serialized);
    }
    Ok((artifact, CompileSource::Compiled))
}

fn wasm_err(what: &str, e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {e:#}")
}

/// Runs a guest to completion and says how it ended.
async fn run_guest(
    engine: Engine,
    program: Program,
    config: ContainerConfig,
    hostname: String,
    net: NetCtx,
    host_network: bool,
    fs: Arc<rootfs::Filesystem>,
) -> ExitStatus {
    let stdout = LogStream::new(&config.name, Stream::Stdout, config.log.clone());
    let stderr = LogStream::new(&config.name, Stream::Stderr, config.log.clone());
    let env = crate::runtime::container_env(&hostname, &config);
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&config.argv)
        .envs(&env)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    if host_network {
        // hostNetwork: true — the pod shares the machine's network, as in Kubernetes.
        builder
            .inherit_network()
            .allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(true);
    }
    let (rootfs, sources) = (&fs.root, &fs.sources);
    if let Err(e) = preopens(&mut builder, rootfs, &config, sources)
        .and_then(|()| working_dir(&mut builder, rootfs, sources, &config))
    {
        return ExitStatus {
            code: 128,
            reason: ExitReason::StartError,
            message: Some(format!("{e:#}")),
        };
    }
    let limiter = MemoryLimiter::new(config.memory_limit);
    let oom = limiter.hit.clone();
    let mount_roots = rootfs
        .canonicalize()
        .ok()
        .into_iter()
        .chain(sources.iter().filter(|s| s.is_dir).map(|s| s.host.clone()))
        .collect();
    let read_only_files = sources.iter().filter_map(|s| s.read_only_file()).collect();
    let mut store = Store::new(
        &engine,
        Host {
            wasi: builder.build_p1(),
            limiter,
            net,
            stderr: stderr.clone(),
            p1_socket_noted: false,
            mount_roots,
            read_only_files,
        },
    );
    store.limiter(|h| &mut h.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);

    let outcome = run_program(&mut store, program, host_network).await;
    stdout.flush_partial();
    stderr.flush_partial();
    match outcome {
        Ok(code) => ExitStatus::from_code(code),
        Err(Failure::Start(e)) => ExitStatus {
            code: 128,
            reason: ExitReason::StartError,
            message: Some(format!("{e:#}")),
        },
        Err(Failure::Run(e)) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                ExitStatus::from_code(exit.0)
            } else if oom.load(Ordering::SeqCst) {
                ExitStatus::oom_killed(config.memory_limit)
            } else {
                let message = format!("wasm trap: {}", e.root_cause());
                config.log.line(&config.name, Stream::Stderr, &message);
                ExitStatus {
                    code: TRAP_EXIT,
                    reason: ExitReason::Error,
                    message: Some(message),
                }
            }
        }
    }
}

/// `workingDir`: created if missing (as runc does), in the root or in the mount that holds it, and
/// given to the guest as WASI's initial-cwd. wasi-libc does not apply initial-cwd by itself; the
/// built-in images do, at start.
fn working_dir(
    builder: &mut WasiCtxBuilder,
    root_dir: &Path,
    sources: &[rootfs::Source],
    config: &ContainerConfig,
) -> anyhow::Result<()> {
    let Some(dir) = config.working_dir.as_deref() else {
        return Ok(());
    };
    let dir = crate::runtime::clean_path(dir);
    let root = rootfs::open_root(root_dir)?;
    let (base, inside) = rootfs::location(&root, sources, &dir, true)?;
    base.mkdir_all(inside, 0o755)
        .map_err(|e| anyhow::anyhow!("creating the working directory {dir}: {e}"))?;
    builder.initial_cwd(&dir);
    Ok(())
}

/// The guest's file system: its private root at `/` and each directory mount at its path (wasi-libc
/// resolves a path against the longest matching preopen, so nested mounts work). Single-file mounts
/// are hard links inside the root (see rootfs.rs). Nothing else of the host is reachable. A mount
/// is preopened from the descriptor opened when the container was created (wasmtime-wasi takes a
/// path: `/proc/self/fd/N` is that very directory), never by its path again.
fn preopens(
    builder: &mut WasiCtxBuilder,
    rootfs: &Path,
    config: &ContainerConfig,
    sources: &[rootfs::Source],
) -> anyhow::Result<()> {
    // readOnlyRootFilesystem: the root (with its /tmp) is read-only; volumes keep their own mode.
    let root_perms = if config.security.read_only_root {
        FsPerms::ReadOnly
    } else {
        FsPerms::ReadWrite
    };
    builder
        .preopened_dir(rootfs, "/", root_perms)
        .map_err(|e| anyhow::anyhow!("opening the root file system {}: {e:#}", rootfs.display()))?;
    for m in sources.iter().filter(|m| m.is_dir) {
        let perms = if m.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(hostfs::fd_path(&m.fd), &m.container_path, perms)
            .map_err(|e| {
                anyhow::anyhow!(
                    "mounting {} at {} in container {}: {e:#}",
                    m.host.display(),
                    m.container_path,
                    config.name
                )
            })?;
    }
    Ok(())
}

enum Failure {
    Start(wasmtime::Error),
    Run(wasmtime::Error),
}

async fn run_program(
    store: &mut Store<Host>,
    program: Program,
    host_network: bool,
) -> std::result::Result<i32, Failure> {
    match program {
        Program::Component { pod_net, host_net } => {
            let pre = if host_network { host_net } else { pod_net };
            let command = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Start)?;
            match command.wasi_cli_run().call_run(&mut *store).await {
                Ok(Ok(())) => Ok(0),
                Ok(Err(())) => Ok(1),
                Err(e) => Err(Failure::Run(e)),
            }
        }
        Program::Module(pre) => {
            let instance = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(Failure::Start)?;
            let start = instance
                .get_typed_func::<(), ()>(&mut *store, "_start")
                .map_err(|e| {
                    Failure::Start(e.context("the module has no WASI `_start` function"))
                })?;
            start
                .call_async(&mut *store, ())
                .await
                .map_err(Failure::Run)?;
            Ok(0)
        }
    }
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
            Some(Cluster::detached_netns(&config.pod_name, &config.hostname))
        } else {
            self.cluster
                .create_netns(&config.pod_name, &config.hostname)
        }
        .ok_or_else(crate::runtime::no_pod_address)?;
        let started = match self.publish_host_ports(config, &netns) {
            Ok(host_ports) => self
                .start_pause(netns.clone())
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
        Ok(SandboxStatus { ip: Some(ip) })
    }

    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let (hostname, netns, host_network, state_dir) = lock(&self.sandboxes)
            .get(&sandbox.0)
            .map(|s| {
                (
                    s.config.hostname.clone(),
                    s.netns.clone(),
                    s.config.host_network,
                    s.config.state_dir.clone(),
                )
            })
            .ok_or_else(|| not_found("sandbox", &sandbox.0))?;
        let image = self.images.pulled(&config.image.id)?;
        let id = self.containers.new_id();
        let dir = state_dir.join(&id.0);
        let (root, sources) = match &self.shared_root {
            Some(root) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                (root.clone(), Vec::new())
            }
            None => {
                let root = dir.join("rootfs");
                let sources = rootfs::create(&root, &hostname, image.files, &config.mounts)
                    .inspect_err(|_| {
                        let _ = std::fs::remove_dir_all(&dir);
                    })
                    .with_context(|| {
                        format!("creating the file system of container {}", config.name)
                    })?;
                (root, sources)
            }
        };
        let backend = WasmContainer {
            hostname,
            netns,
            host_network,
            dir,
            fs: Arc::new(rootfs::Filesystem { root, sources }),
            program: image.backend.clone(),
            task: Mutex::new(None),
        };
        self.containers.insert(id.clone(), sandbox, config, backend);
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let c = self.containers.start(id)?;
        let engine = self.engine.clone();
        let w = &c.backend;
        let net = NetCtx {
            netns: w.netns.clone(),
            container: c.config.name.clone(),
            trace: self.cluster.trace.clone(),
        };
        let (program, config, hostname, host_network, fs) = (
            w.program.clone(),
            c.config.clone(),
            w.hostname.clone(),
            w.host_network,
            w.fs.clone(),
        );
        let container = c.clone();
        *lock(&w.task) = Some(tokio::spawn(async move {
            let status = run_guest(engine, program, config, hostname, net, host_network, fs).await;
            container.exited(status);
        }));
        Ok(())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        self.containers.get(id)?.wait().await
    }

    /// WASI has no signals: the guest cannot be told to stop, so it runs on for the grace period
    /// (as a process that ignores SIGTERM does) and is then killed: exit 137.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let c = self.containers.get(id)?;
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
        // The writable layer goes with the container instance.
        let dir = &c.backend.dir;
        if let Err(e) = std::fs::remove_dir_all(dir)
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
        let c = self.containers.get(id)?;
        let program = match self.images.exec_image(&c.config.image.id, argv)? {
            Some(other) => {
                let (info, _) = self
                    .prepare(other.name, Path::new("/"))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                self.images.pulled(&info.id)?.backend.clone()
            }
            None => c.backend.program.clone(),
        };
        exec::exec_sync(
            self.engine.clone(),
            program,
            &c,
            self.cluster.trace.clone(),
            argv,
            timeout,
        )
        .await
    }
}
