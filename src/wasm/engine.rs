//! wasmtime itself, apart from CRI bookkeeping (as runwasi's engine is apart from its shim's
//! instances): one Engine with its linkers and compile cache, programs compiled and linked once,
//! and a guest run to completion in a Store of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::CompileSource;
use super::cache::{self, CompileCache};
use super::limits::MemoryLimiter;
use super::link;
use super::process::signals::{Disposition, SIGINT, SIGKILL, SIGTERM};
use super::process::stdio::{Input, Output, Stdio};
use super::process::table::{NewProcess, PidNamespace, Process};
use super::process::{ChildCommand, ProcCtx, Spawner};
use super::rootfs;
use super::stdio::LogStream;
use crate::hostfs;
use crate::net::Trace;
use crate::net::host::{NetCtx, NetView};
use crate::net::netns::Netns;
use crate::runtime::{ContainerConfig, ExitReason, ExitStatus, LogSink, Stream};

/// How often the epoch ticks: a busy guest yields to the scheduler (and can be stopped) this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Exit code of a guest that trapped: 128 + SIGABRT, as the wasmtime CLI reports it.
const TRAP_EXIT: i32 = 134;

pub struct Host {
    pub(super) wasi: WasiP1Ctx,
    pub(super) limiter: MemoryLimiter,
    pub(super) net: NetCtx,
    /// The container's stderr, for wpod's own notes to the guest's user.
    pub(super) stderr: LogStream,
    pub(super) p1_socket_noted: bool,
    pub(super) mounts: Arc<rootfs::MountIds>,
    /// The process this Store runs.
    pub(super) proc: ProcCtx,
    pub(super) http: WasiHttpCtx,
    /// Where its outgoing wasi:http requests go.
    pub(super) outgoing: super::http::Outgoing,
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

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: self.wasi.ctx().table,
            hooks: &mut self.outgoing,
        }
    }
}

impl Host {
    pub(super) fn http_view(&mut self) -> WasiHttpCtxView<'_> {
        self.http()
    }

    pub(super) fn net_view(&mut self) -> NetView<'_> {
        NetView {
            ctx: &self.net,
            table: self.wasi.ctx().table,
        }
    }

    pub(super) fn proc_view(&mut self) -> super::process::ProcView<'_> {
        super::process::ProcView {
            ctx: &self.proc,
            table: self.wasi.ctx().table,
        }
    }

    pub(super) fn poll_view(&mut self) -> super::process::PollView<'_> {
        super::process::PollView {
            me: &self.proc.me,
            table: self.wasi.ctx().table,
        }
    }
}

#[derive(Clone)]
pub enum Program {
    Component {
        /// Linked to the virtual pod network.
        pod_net: Linked,
        /// Linked to wasmtime-wasi's host sockets, for `hostNetwork: true` pods.
        host_net: Linked,
    },
    Module(InstancePre<Host>),
}

/// A component linked, with what it exports: a command (`wasi:cli/run`), a server
/// (`wasi:http/incoming-handler`), or both.
#[derive(Clone)]
pub struct Linked {
    command: Option<CommandPre<Host>>,
    http: Option<ProxyPre<Host>>,
}

impl Linked {
    fn new(pre: wasmtime::component::InstancePre<Host>) -> anyhow::Result<Self> {
        let linked = Linked {
            command: CommandPre::new(pre.clone()).ok(),
            http: ProxyPre::new(pre).ok(),
        };
        if linked.command.is_none() && linked.http.is_none() {
            anyhow::bail!(
                "the component exports neither wasi:cli/run (a command) nor \
                 wasi:http/incoming-handler (an HTTP server), so there is nothing to run"
            );
        }
        Ok(linked)
    }
}

impl Program {
    /// Whether it is a wasi:http server (which is served when its container declares a port).
    pub fn serves_http(&self) -> bool {
        matches!(self, Program::Component { pod_net, .. } if pod_net.http.is_some())
    }
}

/// Starts guests on the runtime's Engine.
#[derive(Clone)]
pub struct Runner(Engine);

impl Runner {
    pub fn run(
        &self,
        program: Program,
        guest: Guest,
        process: Arc<Process>,
    ) -> impl Future<Output = ExitStatus> + Send + 'static + use<> {
        run_guest(self.0.clone(), program, guest, process)
    }
}

/// The Engine every Store of a runtime shares, its linkers and its compile cache.
pub struct WasmEngine {
    engine: Engine,
    component_linker: ComponentLinker<Host>,
    host_net_linker: ComponentLinker<Host>,
    module_linker: Linker<Host>,
    cache: CompileCache,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmEngine {
    /// `cache_dir` None compiles every program afresh.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Every process's exit unwinds as an error; a backtrace captured and symbolized for each
        // cost a spawn of `sh` about a tenth of its time, and wpod reports only a trap's cause.
        config.wasm_backtrace_max_frames(None);
        #[cfg(target_os = "linux")]
        super::address_space::configure(&mut config);
        let engine =
            Engine::new(&config).map_err(|e| wasm_err("creating the wasmtime engine", e))?;
        let mut component_linker = ComponentLinker::new(&engine);
        link::add_to_linker(&mut component_linker, link::Sockets::Pod)
            .map_err(|e| wasm_err("linking WASI p2", e))?;
        let mut host_net_linker = ComponentLinker::new(&engine);
        link::add_to_linker(&mut host_net_linker, link::Sockets::Host)
            .map_err(|e| wasm_err("linking WASI p2 with host sockets", e))?;
        let mut module_linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut module_linker, |h: &mut Host| &mut h.wasi)
            .map_err(|e| wasm_err("linking WASI p1", e))?;
        link::explain_p1_sockets(&mut module_linker)
            .map_err(|e| wasm_err("linking WASI p1 sockets", e))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone())?;
        Ok(WasmEngine {
            cache: CompileCache::new(&engine, cache_dir),
            engine,
            component_linker,
            host_net_linker,
            module_linker,
            ticker_stop,
        })
    }

    /// Where the compiled form of a wasm (by its sha256) is kept in the disk cache, if anywhere.
    pub fn cache_path(&self, wasm_sha256: &str) -> Option<PathBuf> {
        self.cache.path_for(wasm_sha256)
    }

    /// Compiles `bytes` (or loads them from `cached`, a cache entry) and links the result: a
    /// program to instantiate any number of times. Blocks while it compiles.
    pub fn program(
        &self,
        bytes: &[u8],
        cached: Option<PathBuf>,
    ) -> anyhow::Result<(Program, CompileSource)> {
        let (artifact, source) = load_or_compile(&self.engine, bytes, cached)?;
        let program = match artifact {
            Artifact::Component(c) => {
                let pod_net = self.component_linker.instantiate_pre(&c);
                let host_net = self.host_net_linker.instantiate_pre(&c);
                match (pod_net, host_net) {
                    (Ok(pod_net), Ok(host_net)) => Program::Component {
                        pod_net: Linked::new(pod_net)?,
                        host_net: Linked::new(host_net)?,
                    },
                    (Err(e), _) | (_, Err(e)) => anyhow::bail!("{e:#}"),
                }
            }
            Artifact::Module(m) => self
                .module_linker
                .instantiate_pre(&m)
                .map(Program::Module)
                .map_err(|e| anyhow::anyhow!("{e:#}"))?,
        };
        Ok((program, source))
    }

    /// Runs a guest as `process` to completion and says how it ended.
    pub fn run(
        &self,
        program: Program,
        guest: Guest,
        process: Arc<Process>,
    ) -> impl Future<Output = ExitStatus> + Send + 'static {
        self.runner().run(program, guest, process)
    }

    /// Makes the Store of a guest's process (its files opened, its limits set) without running
    /// it: a container whose Store cannot be made fails to start, as one whose process runc
    /// cannot create does, instead of starting and ending at once. The StartError it would end
    /// with is the error; the process is reaped then.
    pub fn prepare(
        &self,
        program: Program,
        guest: Guest,
        process: Arc<Process>,
    ) -> Result<Prepared, ExitStatus> {
        prepare(self.engine.clone(), program, guest.clone(), process.clone())
            .inspect_err(|status| reap(&guest, &process, status))
    }

    /// What starts runs, for a task that decides later what exactly it runs.
    pub fn runner(&self) -> Runner {
        Runner(self.engine.clone())
    }

    /// Runs the pause image in a pod's network as `process` (PID 1 of the pod's namespace): it
    /// holds nothing but the network, and never ends by itself.
    pub fn spawn_pause(
        &self,
        pre: InstancePre<Host>,
        netns: Arc<Netns>,
        stderr: LogStream,
        (process, pids): (Arc<Process>, Arc<PidNamespace>),
        ended: tokio::sync::watch::Sender<bool>,
    ) -> tokio::task::JoinHandle<()> {
        // As Kubernetes' pause does: TERM and INT end it with 0, anything else it ignores as PID 1.
        for sig in [SIGINT, SIGTERM] {
            process.signals.set(sig, Disposition::Catch);
        }
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi: WasiCtxBuilder::new().build_p1(),
                limiter: MemoryLimiter::new(None, Arc::default(), process.clone(), pids.clone()),
                net: NetCtx {
                    netns,
                    container: "POD".into(),
                    trace: Trace::default(),
                },
                stderr,
                p1_socket_noted: false,
                mounts: Arc::default(),
                proc: ProcCtx {
                    me: process,
                    pids,
                    stdio: Stdio {
                        stdin: Input::Null,
                        stdout: Output::Null,
                        stderr: Output::Null,
                    },
                    spawner: None,
                },
                http: WasiHttpCtx::new(),
                outgoing: super::http::Outgoing { net: None },
            },
        );
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        tokio::spawn(async move {
            let me = store.data().proc.me.clone();
            let pids = store.data().proc.pids.clone();
            let run = async {
                if let Ok(instance) = pre.instantiate_async(&mut store).await
                    && let Ok(start) = instance.get_typed_func::<(), ()>(&mut store, "_start")
                {
                    let _ = start.call_async(&mut store, ()).await;
                }
            };
            let code = tokio::select! {
                () = run => 0,
                () = me.signals.wait() => 0,
                sig = me.killed() => 128 + sig,
            };
            drop(store);
            pids.exit(&me, code);
            // The kernel kills what is left in a PID namespace whose init ended, before anyone
            // hears of the end (the kubelet's TERM must not get there first).
            for p in pids.list() {
                p.kill(SIGKILL);
            }
            ended.send_replace(true);
        })
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::SeqCst);
    }
}

/// What one run of a program is given: a container's, an exec's in it, or a child's.
#[derive(Clone)]
pub struct Guest {
    /// The container's name, for its log lines.
    pub name: String,
    pub argv: Vec<String>,
    /// The complete environment (see `container_env`).
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub memory_limit: Option<u64>,
    /// readOnlyRootFilesystem.
    pub read_only_root: bool,
    pub log: Arc<dyn LogSink>,
    pub net: NetCtx,
    /// hostNetwork: the guest uses the machine's sockets instead of the pod network.
    pub host_network: bool,
    pub fs: Arc<rootfs::Filesystem>,
    /// Its container instance's PID namespace and id (its processes' group).
    pub pids: Arc<PidNamespace>,
    pub group: String,
    /// Bytes of linear memory all the container's processes hold, for its memory limit.
    pub memory_used: Arc<AtomicU64>,
    /// What this run is to its container.
    pub role: Role,
    /// For an exec that the toolbox runs in another built-in image's container: that image's
    /// program and the commands that name it, so the exec's children can run it.
    pub image_program: Option<(Program, &'static [&'static str])>,
    /// Its declared TCP containerPorts: where a wasi:http component is served.
    pub ports: Vec<u16>,
}

/// Where a container's main process reads and writes (see `console`).
#[derive(Clone)]
pub enum MainIo {
    /// Output to the log, stdin empty.
    Log,
    /// Output to the log, stdin from attached clients (`stdin: true`).
    Stdin(Input),
    /// A terminal for all three (`tty: true`).
    Tty(Stdio),
}

/// A run's place in its container.
#[derive(Clone)]
pub enum Role {
    /// The container's main process: when it ends, the container's other processes are killed.
    Main(MainIo),
    /// A process an exec started: with its output in its log sink (probes, hooks), or with
    /// streams of its own (`kubectl exec`).
    Exec(Option<Stdio>),
    /// A child of another process, its standard streams as its parent chose.
    Child(Stdio),
}

impl Guest {
    /// Enters this run into its PID namespace; None when the namespace is full.
    pub fn new_process(&self, init: bool) -> Option<Arc<Process>> {
        self.pids.start(NewProcess {
            ppid: 0,
            container: self.name.clone(),
            group: self.group.clone(),
            argv: self.argv.clone(),
            init,
            parent_waits: false,
        })
    }
}

impl Guest {
    /// A container's run, as `config` and its sandbox describe it.
    pub fn of(
        config: &ContainerConfig,
        hostname: &str,
        net: NetCtx,
        host_network: bool,
        fs: Arc<rootfs::Filesystem>,
        (pids, group, memory_used): (Arc<PidNamespace>, String, Arc<AtomicU64>),
    ) -> Guest {
        Guest {
            name: config.name.clone(),
            argv: config.argv.clone(),
            env: crate::runtime::container_env(hostname, config),
            working_dir: config.working_dir.clone(),
            memory_limit: config.memory_limit,
            read_only_root: config.security.read_only_root,
            log: config.log.clone(),
            net,
            host_network,
            fs,
            pids,
            group,
            memory_used,
            role: Role::Main(MainIo::Log),
            image_program: None,
            ports: config.ports.clone(),
        }
    }
}

/// Starts children from a process's program and context.
struct Template {
    engine: Engine,
    program: Program,
    guest: Guest,
}

impl Spawner for Template {
    fn spawn(
        &self,
        parent: &ProcCtx,
        command: ChildCommand,
    ) -> Result<Arc<Process>, super::process::ErrorCode> {
        use super::process::ErrorCode;
        let working_dir = match command.cwd {
            Some(dir) => {
                let dir = crate::runtime::clean_path(&dir);
                if !rootfs::is_dir(&self.guest.fs, &dir) {
                    return Err(ErrorCode::NoSuchDirectory);
                }
                Some(dir)
            }
            None => self.guest.working_dir.clone(),
        };
        let process = parent
            .pids
            .start(NewProcess {
                ppid: parent.me.pid,
                container: parent.me.container.clone(),
                group: parent.me.group.clone(),
                argv: command.argv.clone(),
                init: false,
                parent_waits: true,
            })
            .ok_or(ErrorCode::TooManyProcesses)?;
        let guest = Guest {
            argv: command.argv,
            env: command.env,
            working_dir,
            role: Role::Child(command.stdio),
            ..self.guest.clone()
        };
        let program = guest.argv.first().and_then(|a| self.image_program(a));
        let program = program.unwrap_or(&self.program).clone();
        tokio::spawn(run_guest(
            self.engine.clone(),
            program,
            guest,
            process.clone(),
        ));
        Ok(process)
    }

    fn names_image_command(&self, name: &str) -> bool {
        self.image_program(name).is_some()
    }
}

impl Template {
    /// The container image's own program, when `name` is one of its commands and this is the
    /// toolbox standing in for the image's shell.
    fn image_program(&self, name: &str) -> Option<&Program> {
        let (own, names) = self.guest.image_program.as_ref()?;
        let base = name.rsplit('/').next().unwrap_or(name);
        names.contains(&base).then_some(own)
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
    let is_component = crate::images::is_component(bytes);
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

/// Runs `config` as `process` and records how it ended in its PID namespace.
async fn run_guest(
    engine: Engine,
    program: Program,
    config: Guest,
    process: Arc<Process>,
) -> ExitStatus {
    let status = match prepare(engine, program, config.clone(), process.clone()) {
        Ok(prepared) => run_prepared(prepared).await,
        Err(status) => status,
    };
    reap(&config, &process, &status);
    status
}

/// Records the end of `process` in its PID namespace.
fn reap(config: &Guest, process: &Arc<Process>, status: &ExitStatus) {
    let pids = &config.pids;
    pids.exit(process, u8::try_from(status.code).unwrap_or(u8::MAX));
    if matches!(config.role, Role::Main(_)) {
        // The rest of the container goes with it, as its cgroup does.
        pids.kill_group(&config.group, process.pid);
    }
}

/// A process whose Store is made (its files opened, its limits set), ready to run.
pub struct Prepared {
    program: Program,
    config: Guest,
    process: Arc<Process>,
    log: (LogStream, LogStream),
    runs: Runs,
    store: Store<Host>,
    oom: Arc<AtomicBool>,
}

impl Prepared {
    /// Runs the process to completion and records its end in its PID namespace.
    pub async fn run(self) -> ExitStatus {
        let (config, process) = (self.config.clone(), self.process.clone());
        let status = run_prepared(self).await;
        reap(&config, &process, &status);
        status
    }
}

/// Makes the process's Store; the StartError when that fails (the process is reaped then).
fn prepare(
    engine: Engine,
    program: Program,
    config: Guest,
    process: Arc<Process>,
) -> Result<Prepared, ExitStatus> {
    let log = (
        LogStream::new(&config.name, Stream::Stdout, config.log.clone()),
        LogStream::new(&config.name, Stream::Stderr, config.log.clone()),
    );
    let stdio = match &config.role {
        Role::Child(stdio) | Role::Exec(Some(stdio)) | Role::Main(MainIo::Tty(stdio)) => {
            stdio.clone()
        }
        Role::Main(MainIo::Stdin(stdin)) => Stdio {
            stdin: stdin.clone(),
            stdout: Output::Log(log.0.clone()),
            stderr: Output::Log(log.1.clone()),
        },
        Role::Main(MainIo::Log) | Role::Exec(None) => Stdio {
            stdin: Input::Null,
            stdout: Output::Log(log.0.clone()),
            stderr: Output::Log(log.1.clone()),
        },
    };
    let start_error = |e: anyhow::Error| ExitStatus {
        code: 128,
        reason: ExitReason::StartError,
        message: Some(format!("{e:#}")),
    };
    let runs = Runs {
        engine,
        program: program.clone(),
        config: config.clone(),
        process: process.clone(),
        stderr: log.1.clone(),
    };
    let make_dir = !matches!(config.role, Role::Child(_));
    let (store, oom) = runs.store(stdio.clone(), make_dir).map_err(start_error)?;
    Ok(Prepared {
        program,
        config,
        process,
        log,
        runs,
        store,
        oom,
    })
}

async fn run_prepared(prepared: Prepared) -> ExitStatus {
    let Prepared {
        program,
        config,
        process,
        log,
        runs,
        mut store,
        oom,
    } = prepared;
    let served = match (&program, &config.role) {
        (Program::Component { pod_net, host_net }, Role::Main(_))
            if pod_net.http.is_some() && !config.ports.is_empty() =>
        {
            let linked = if config.host_network {
                host_net
            } else {
                pod_net
            };
            linked.http.clone()
        }
        _ => None,
    };
    // A command that fails while it could have been served: say how to serve it.
    let serve_hint = program.serves_http() && config.ports.is_empty();
    let request_log = log.clone();
    let run = async {
        match served {
            Some(pre) => {
                // Each request gets a Store of its own; the first one only checked the start.
                drop(store);
                let serving = super::http::Serving {
                    ports: config.ports.clone(),
                    net: config.net.clone(),
                    host_network: config.host_network,
                    name: config.name.clone(),
                    log: config.log.clone(),
                };
                let runs = Arc::new(runs);
                let new_store: super::http::NewStore = Arc::new(move || {
                    let stdio = Stdio {
                        stdin: Input::Null,
                        stdout: Output::Log(request_log.0.clone()),
                        stderr: Output::Log(request_log.1.clone()),
                    };
                    runs.store(stdio, false).map(|(store, _)| store)
                });
                super::http::serve(pre, serving, process.clone(), new_store)
                    .await
                    .map_err(|e| Failure::Start(wasmtime::Error::msg(format!("{e:#}"))))
            }
            None => {
                let outcome = run_program(&mut store, program, &config).await;
                // Its file descriptors close with it: pipes see EOF (or EPIPE) now, not when
                // it is reaped.
                drop(store);
                outcome
            }
        }
    };
    // A process that has ended on its own ends so, even if a kill came meanwhile: an exec
    // whose file ended the container's main process (which kills the rest) had already exited.
    let outcome = tokio::select! {
        biased;
        outcome = run => Ok(outcome),
        signal = process.killed() => Err(signal),
    };
    if !matches!(config.role, Role::Child(_)) {
        log.0.flush_partial();
        log.1.flush_partial();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        // The largest process of a container that reached its memory limit.
        Err(_) if process.oom_victim() => return ExitStatus::oom_killed(config.memory_limit),
        Err(signal) => return ExitStatus::from_code(128 + i32::from(signal)),
    };
    match outcome {
        Ok(code) => ExitStatus::from_code(code),
        // Its initial memory alone is over the limit.
        Err(Failure::Start(_)) if oom.load(Ordering::SeqCst) => {
            ExitStatus::oom_killed(config.memory_limit)
        }
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
                // A trap says "wasm trap: ..." by itself; a host error that ended the guest does not.
                let mut message = match e.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => trap.to_string(),
                    None => format!("wasm trap: {}", e.root_cause()),
                };
                if serve_hint && matches!(config.role, Role::Main(_)) {
                    message.push_str(
                        " (it ran as a command, wasi:cli/run; the component also exports \
                         wasi:http/incoming-handler, which wpod serves when the container \
                         declares a TCP containerPort)",
                    );
                }
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

/// What a Store for one run of a program is made from: its process, with its container's
/// arguments, environment, files, limits and network.
struct Runs {
    engine: Engine,
    program: Program,
    config: Guest,
    process: Arc<Process>,
    stderr: LogStream,
}

impl Runs {
    /// A Store with `stdio`, and the flag its memory limiter raises when the limit is hit.
    /// `make_dir` creates the working directory when it is missing.
    fn store(
        &self,
        stdio: Stdio,
        make_dir: bool,
    ) -> anyhow::Result<(Store<Host>, Arc<AtomicBool>)> {
        crate::host_limits::room_for_instance().map_err(anyhow::Error::msg)?;
        let config = &self.config;
        let (host_network, fs) = (config.host_network, &config.fs);
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&config.argv)
            .envs(&config.env)
            .stdin(stdio.stdin.clone())
            .stdout(stdio.stdout.clone())
            .stderr(stdio.stderr.clone())
            // A file operation handed to tokio's blocking pool costs two thread switches, most
            // of a short process's life; wpod's own files (the root, emptyDirs, configMaps, ...)
            // never block for long, while a hostPath may hold a FIFO or a device that blocks
            // forever and would take a scheduler thread with it.
            .allow_blocking_current_thread(!fs.mounts.host_owned);
        if let Some((monotonic, wall)) = super::clocks::virtual_clocks() {
            builder.monotonic_clock(monotonic).wall_clock(wall);
        }
        if host_network {
            // hostNetwork: true — the pod shares the machine's network, as in Kubernetes.
            builder
                .inherit_network()
                .allow_tcp(true)
                .allow_udp(true)
                .allow_ip_name_lookup(true);
        }
        let (rootfs, sources) = (&fs.root, &fs.sources);
        preopens(&mut builder, rootfs, config, sources)?;
        working_dir(
            &mut builder,
            rootfs,
            sources,
            config.working_dir.as_deref(),
            make_dir,
        )?;
        let limiter = MemoryLimiter::new(
            config.memory_limit,
            config.memory_used.clone(),
            self.process.clone(),
            config.pids.clone(),
        );
        let oom = limiter.hit.clone();
        let spawner = Template {
            engine: self.engine.clone(),
            program: self.program.clone(),
            guest: config.clone(),
        };
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi: builder.build_p1(),
                limiter,
                net: config.net.clone(),
                stderr: self.stderr.clone(),
                p1_socket_noted: false,
                mounts: fs.mounts.clone(),
                proc: ProcCtx {
                    me: self.process.clone(),
                    pids: config.pids.clone(),
                    stdio,
                    spawner: Some(Arc::new(spawner)),
                },
                http: WasiHttpCtx::new(),
                outgoing: super::http::Outgoing {
                    net: (!host_network).then(|| config.net.clone()),
                },
            },
        );
        store.limiter_async(|h| &mut h.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Ok((store, oom))
    }
}

/// `workingDir`: created if missing (as runc does; a child's was checked by its spawn), in the
/// root or in the mount that holds it, and given to the guest as WASI's initial-cwd. wasi-libc does not apply initial-cwd by itself; the
/// built-in images do, at start.
fn working_dir(
    builder: &mut WasiCtxBuilder,
    root_dir: &Path,
    sources: &[rootfs::Source],
    working_dir: Option<&str>,
    make: bool,
) -> anyhow::Result<()> {
    let Some(dir) = working_dir else {
        return Ok(());
    };
    let dir = crate::runtime::clean_path(dir);
    if make {
        let root = rootfs::open_root(root_dir)?;
        let (base, inside) = rootfs::location(&root, sources, &dir, true)?;
        base.mkdir_all(inside, 0o755)
            .map_err(|e| anyhow::anyhow!("creating the working directory {dir}: {e}"))?;
    }
    builder.initial_cwd(&dir);
    Ok(())
}

/// The guest's file system: its private root at `/` and each directory mount at its path (wasi-libc
/// resolves a path against the longest matching preopen, so nested mounts work). Single-file mounts
/// are hard links inside the root (see rootfs.rs). Nothing else of the host is reachable. A mount
/// is preopened from the handle opened when the container was created (wasmtime-wasi takes a
/// path: on Linux `/proc/self/fd/N` is that very directory; see hostfs for other systems).
fn preopens(
    builder: &mut WasiCtxBuilder,
    rootfs: &Path,
    config: &Guest,
    sources: &[rootfs::Source],
) -> anyhow::Result<()> {
    // readOnlyRootFilesystem: the root (with its /tmp) is read-only; volumes keep their own mode.
    let root_perms = if config.read_only_root {
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
            .preopened_dir(hostfs::preopen_path(&m.fd), &m.container_path, perms)
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
    config: &Guest,
) -> std::result::Result<i32, Failure> {
    match program {
        Program::Component { pod_net, host_net } => {
            let linked = if config.host_network {
                host_net
            } else {
                pod_net
            };
            let Some(pre) = linked.command else {
                let why = if matches!(config.role, Role::Main(_)) {
                    format!(
                        "container {} declares no TCP port to serve it on: add \
                         `ports: [{{containerPort: 8080}}]` to the container",
                        config.name
                    )
                } else {
                    "it has no command to run here".to_string()
                };
                return Err(Failure::Start(wasmtime::Error::msg(format!(
                    "the component is a wasi:http server only (it exports \
                     wasi:http/incoming-handler, not wasi:cli/run): {why}"
                ))));
            };
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
