//! `wpod run`: load, validate, run every pod side by side, report.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1 as api;

use super::describe::{EventLog, describe};
use super::duration;
use super::exit;
use super::namespaces::ShowNamespaces;
use super::output::{PodLog, Printer};
use super::ui;
use super::watchdog::Watchdog;
use crate::console::{self, Channel};
use crate::manifest;
use crate::net::publish::{self, Mapping};
use crate::net::{Cluster, Trace};
use crate::node::{Node, NodeConfig};
use crate::plan::{self, PodPlan};
use crate::pod::backoff::BackoffPolicy;
use crate::pod::clock::Clock;
use crate::pod::{Outcome, Phase, StopMode};
use crate::runtime::{Protocol, RuntimeService};
use crate::wasm::{CompileCache, WasmOptions, WasmRuntime};

mod cluster;

/// How long killed pods may take to go before wpod exits without them. A kill takes milliseconds
/// on either backend; what is still there after this is stuck (a host call that cannot be
/// interrupted), and waiting longer would not free it.
const STOP_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Yaml,
}

/// Which runtime runs the containers.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Backend {
    /// Every container a WASI program in wasmtime, with a virtual pod network
    Wasm,
    /// Real Linux namespaces: a pause process per pod, containers as native processes
    Linux,
}

impl Backend {
    /// How `wpod explain` and the drawings name it.
    pub(super) fn drawn(self) -> crate::explain::Backend {
        match self {
            Backend::Wasm => crate::explain::Backend::Wasm,
            Backend::Linux => crate::explain::Backend::Linux,
        }
    }
}

/// Which clock the run keeps.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ClockKind {
    /// The machine's
    Real,
    /// One virtual clock for the kubelet's timers and the guests' clocks and sleeps, jumping
    /// ahead whenever everything waits on time
    Virtual,
}

/// Where virtual time starts (2026-01-01T00:00:00Z, in Unix seconds): timestamps are then the
/// same every run.
const VIRTUAL_START: i64 = 1_767_225_600;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Args)]
pub struct RunArgs {
    /// Manifest files (YAML or JSON, several documents allowed); `-` reads stdin
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Print the final Pod (a List for several pods) to stdout; container output then goes to stderr
    #[arg(short, long, value_enum)]
    output: Option<OutputFormat>,
    /// Stop after this long (e.g. 30s, 2m) and report the status as it was just before; exit 124
    #[arg(long, value_parser = duration::parse, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// First CrashLoopBackOff delay (Kubernetes: 10s); shorten it for demos and tests
    #[arg(long, value_parser = duration::parse, value_name = "DURATION", default_value = "10s")]
    backoff_base: Duration,
    /// Longest CrashLoopBackOff delay (Kubernetes: 5m)
    #[arg(long, value_parser = duration::parse, value_name = "DURATION", default_value = "5m")]
    backoff_max: Duration,
    /// Override every pod's terminationGracePeriodSeconds, like `kubectl delete --grace-period`
    #[arg(long, value_parser = duration::parse, value_name = "DURATION")]
    grace_period: Option<Duration>,
    /// Only container output and errors: no events, phases or exits on stderr
    #[arg(short, long)]
    quiet: bool,
    /// Colour the output prefixes
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Compile images afresh instead of using the compile cache
    #[arg(long)]
    no_cache: bool,
    /// Publish a pod port on the host, like `kubectl port-forward` (repeatable):
    /// [HOST_ADDR:]HOST_PORT:CONTAINER_PORT[@POD]; HOST_ADDR defaults to 127.0.0.1
    #[arg(short, long, value_name = "SPEC")]
    publish: Vec<String>,
    /// Print every bind, listen, connect, accept, refusal and close in the pod network
    #[arg(long)]
    trace_net: bool,
    /// Pull from this registry (HOST:PORT) over plain HTTP, as docker's insecure registries
    #[arg(long, value_name = "HOST:PORT")]
    insecure_registry: Vec<String>,
    /// Keep the pods' volumes (emptyDir, configMap, ...) when they end, and print where they are
    #[arg(long)]
    keep_volumes: bool,
    /// At the end, print a `kubectl describe pod` summary of each pod (stdout, or stderr with -o)
    #[arg(long)]
    describe: bool,
    /// Which runtime runs the containers (linux: real namespaces; Linux only)
    #[arg(long, value_enum, default_value = "wasm")]
    pub backend: Backend,
    /// Print the namespaces each pod's infra and each container are in, as they start
    #[arg(long)]
    show_namespaces: bool,
    /// For teaching: kill every pod's infra (pause) container this long after the start, as
    /// `kill -9` of the pause process on a node does, and watch the sandbox be recreated
    #[arg(long, value_parser = duration::parse, value_name = "DURATION")]
    kill_infra_after: Option<Duration>,
    /// `virtual`: back-offs, probe periods, grace periods, deadlines and the guests' sleeps take
    /// no wall time, and a run gives the same events and timestamps every time (wasm backend)
    #[arg(long, value_enum, default_value = "real")]
    pub clock: ClockKind,
    /// Serve a live view of the run in the browser: on loopback, behind a random token in the
    /// address wpod prints; it stays up after the pods end, until Ctrl-C
    #[arg(long)]
    ui: bool,
}

/// `--clock virtual` where it can work: the guests' clocks become the runtime's paused one.
fn start_virtual_time(args: &RunArgs) -> Result<(), u8> {
    if args.clock == ClockKind::Real {
        return Ok(());
    }
    if args.backend == Backend::Linux {
        eprintln!(
            "error: --clock virtual needs the wasm backend: Linux processes read the kernel's clock and sleep in the kernel, which wpod cannot make jump ahead"
        );
        return Err(exit::USAGE);
    }
    if args.ui {
        eprintln!(
            "error: --clock virtual cannot be combined with --ui: the virtual clock jumps ahead whenever wpod only waits, and waiting for the browser is such a wait"
        );
        return Err(exit::USAGE);
    }
    if !args.publish.is_empty() {
        eprintln!(
            "error: --clock virtual cannot be combined with --publish: the virtual clock jumps ahead whenever wpod only waits, and waiting for connections from the host is such a wait"
        );
        return Err(exit::USAGE);
    }
    crate::pod::clock::use_virtual(
        k8s_openapi::jiff::Timestamp::from_second(VIRTUAL_START)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    );
    Ok(())
}

pub async fn run(args: RunArgs) -> u8 {
    crate::pod::image_pull::set_insecure_registries(args.insecure_registry.clone());
    if args.backoff_max < args.backoff_base {
        eprintln!("error: --backoff-max must not be shorter than --backoff-base");
        return exit::USAGE;
    }
    if let Err(code) = start_virtual_time(&args) {
        return code;
    }
    let loaded = match load(&args) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if !loaded.workloads.is_empty() {
        return cluster::run(args, loaded).await;
    }
    let plans = match build_plans(&args, &loaded.source) {
        Ok(plans) => plans,
        Err(code) => return code,
    };
    let printer_for_net = NetPrinter::default();
    let hub = args.ui.then(|| Arc::new(ui::Hub::default()));
    // The live view shows the network trace whether or not the terminal does.
    let trace = ui::trace_sink(printer_for_net.sink(), hub.clone(), args.trace_net);
    let cluster = Cluster::new(Trace::new(trace, args.trace_net || args.ui));
    // Every cluster has the API server's Service; the kubelet gives every container its variables.
    cluster.services.set(crate::net::services::kubernetes());
    // Addresses in manifest order, so every run gives the same pod the same IP.
    for plan in &plans {
        let _ = cluster.address_of(&plan.name);
    }
    let mappings = match port_mappings(&args, &plans) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let (runtime, published) = match make_runtime(&args, &cluster, &plans, mappings) {
        Ok(r) => r,
        Err((code, message)) => {
            eprintln!("error: {message}");
            return code;
        }
    };

    let logs_to_stderr = args.output.is_some();
    let color = color(&args);
    let prefixes: Vec<(String, String)> = plans
        .iter()
        .flat_map(|p| {
            p.init_containers
                .iter()
                .chain(p.containers.iter())
                .map(|c| (p.name.clone(), c.name.clone()))
        })
        .collect();
    let printer = Arc::new(Printer::new(color, logs_to_stderr, args.quiet, &prefixes));
    printer_for_net.attach(printer.clone());
    let runtime: Arc<dyn RuntimeService> = if args.show_namespaces {
        Arc::new(ShowNamespaces::new(runtime, printer.clone()))
    } else {
        runtime
    };
    for p in &published {
        printer.note(&format!("publishing {p}"));
    }
    let backoff = BackoffPolicy {
        base: args.backoff_base,
        max: args.backoff_max,
    };

    let state_dir = crate::volumes::default_state_dir();
    let pod_dirs: Vec<std::path::PathBuf> = plans
        .iter()
        .map(|p| crate::volumes::pod_dir(&state_dir, &p.uid))
        .collect();
    // What a killed earlier run left goes first; this run is recorded so the next can do the same.
    #[cfg(target_os = "linux")]
    let _run_record = {
        use crate::linux::leftovers;
        leftovers::reap(&state_dir)
            .lines()
            .iter()
            .for_each(|l| eprintln!("{l}"));
        leftovers::register(&state_dir, &pod_dirs, args.keep_volumes)
    };
    let event_log = Arc::new(EventLog::new(printer.clone()));
    let log_printer = printer.clone();
    let log_hub = hub.clone();
    let node = Arc::new(Node::new(
        runtime,
        NodeConfig {
            backoff,
            clock: Clock::current(),
            events: event_log.clone(),
            logs: Arc::new(move |plan: &PodPlan| -> Arc<dyn crate::runtime::LogSink> {
                let log = Arc::new(PodLog {
                    printer: log_printer.clone(),
                    pod: plan.name.clone(),
                });
                ui::log_sink(log, &log_hub, &plan.name)
            }),
            state_dir: state_dir.clone(),
            keep_volumes: args.keep_volumes,
            services: cluster.services.clone(),
            tokens: None,
            retry_pulls: false,
        },
    ));
    // wpod run is the node's client with a fixed set of pods.
    let pods: Vec<(String, String)> = plans
        .iter()
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect();
    // Before the first pod starts: a signal sent once a container has started must find the
    // handler in place, not the default action that would kill wpod and leave the pods behind.
    let mut signals = Signals::new();
    for plan in plans {
        if let Err(e) = node.add(plan) {
            printer.error(&e.to_string());
            return exit::INTERNAL;
        }
    }
    let statuses: Vec<_> = pods
        .iter()
        .filter_map(|(ns, name)| node.status(ns, name))
        .collect();
    if let Err(code) = ui::start(
        &hub,
        &node,
        &event_log,
        &cluster.services,
        args.backend.drawn(),
        &printer,
    )
    .await
    {
        return code;
    }
    let mut waits = tokio::task::JoinSet::new();
    for (i, (ns, name)) in pods.iter().cloned().enumerate() {
        let node = Arc::clone(&node);
        waits.spawn(async move { (i, node.wait(&ns, &name).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; statuses.len()];
    let mut snapshot: Option<Vec<api::Pod>> = None;
    let mut interrupted = false;
    let timeout = sleep_opt(args.timeout);
    tokio::pin!(timeout);
    let kill_infra = sleep_opt(args.kill_infra_after);
    tokio::pin!(kill_infra);
    let mut infra_killed = false;
    // Once the pods are being killed, how long wpod waits for them before it exits anyway.
    let give_up = sleep_opt(None);
    tokio::pin!(give_up);
    let watchdog = Watchdog::start();
    if let Some(t) = args.timeout {
        watchdog.arm(
            t.saturating_add(STOP_WAIT * 2),
            exit::TIMEOUT,
            format!(
                "--timeout {}s reached and the pods did not stop: exiting without them",
                t.as_secs_f64()
            ),
        );
    }
    loop {
        tokio::select! {
            done = waits.join_next() => match done {
                Some(Ok((i, outcome))) => outcomes[i] = outcome,
                Some(Err(e)) => {
                    printer.error(&format!("a pod task failed: {e}"));
                    return exit::INTERNAL;
                }
                None => break,
            },
            _ = &mut kill_infra, if !infra_killed => {
                infra_killed = true;
                for (ns, name) in &pods {
                    printer.note(&format!("killing the infra container of pod {name}"));
                    // A pod that already ended has no infra left to kill.
                    let _ = node.kill_infra(ns, name);
                }
            },
            _ = &mut timeout, if snapshot.is_none() => {
                snapshot = Some(statuses.iter().map(|s| s.borrow().clone()).collect());
                let after = args.timeout.unwrap_or_default();
                printer.note(&format!("--timeout {}s reached: stopping the pods", after.as_secs_f64()));
                node.stop_all(StopMode::Kill);
                give_up.set(sleep_opt(Some(STOP_WAIT)));
            },
            n = signals.next() => {
                interrupted = true;
                let mode = if n == 1 { StopMode::Graceful } else { StopMode::Kill };
                if n > 2 {
                    printer.note("exiting without waiting for the pods");
                    break;
                }
                if mode == StopMode::Graceful {
                    printer.note("stopping the pods gracefully (press Ctrl-C again to kill them now)");
                } else {
                    printer.note("killing the pods");
                    give_up.set(sleep_opt(Some(STOP_WAIT)));
                    watchdog.arm(
                        STOP_WAIT * 2,
                        exit::INTERRUPTED,
                        "interrupted and the pods did not stop: exiting without them".into(),
                    );
                }
                node.stop_all(mode);
            },
            _ = &mut give_up => {
                printer.note(&format!(
                    "the pods did not stop within {}s of being killed: exiting without them",
                    STOP_WAIT.as_secs()
                ));
                break;
            },
        }
    }
    if hub.is_some() && !interrupted {
        printer.note("the pods have ended; the live view stays up until Ctrl-C");
        signals.next().await;
    }
    let finals: Vec<api::Pod> = snapshot
        .clone()
        .unwrap_or_else(|| statuses.iter().map(|s| s.borrow().clone()).collect());
    if let Err(code) = report(&args, &finals, &event_log, &printer) {
        return code;
    }
    if args.keep_volumes {
        for ((_, name), dir) in pods.iter().zip(&pod_dirs) {
            let volumes = dir.join("volumes");
            if volumes.exists() {
                printer.note(&format!(
                    "pod {name}: volumes kept in {}",
                    volumes.display()
                ));
            }
        }
    }
    let mut code = exit::SUCCEEDED;
    for ((_, name), outcome) in pods.iter().zip(&outcomes) {
        let pod_code = match outcome {
            Some(Outcome::Completed(Phase::Succeeded))
            | Some(Outcome::Stopped(Phase::Succeeded)) => exit::SUCCEEDED,
            Some(Outcome::Completed(_)) | Some(Outcome::Stopped(_)) => exit::FAILED,
            Some(Outcome::Stuck(why)) => {
                printer.note(&format!(
                    "pod {name} cannot make progress, giving up: {why}"
                ));
                exit::STUCK
            }
            Some(Outcome::RuntimeFailed(why)) => {
                printer.error(&format!("pod {name}: {why}"));
                exit::INTERNAL
            }
            None => exit::INTERNAL,
        };
        code = worse(code, pod_code);
    }
    if snapshot.is_some() {
        exit::TIMEOUT
    } else if interrupted {
        exit::INTERRUPTED
    } else {
        code
    }
}

/// Whether prefixes are coloured: `--color`, else a terminal where the logs go and no NO_COLOR.
fn color(args: &RunArgs) -> bool {
    match args.color {
        ColorChoice::Always => {
            crate::console::ansi_colours();
            true
        }
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none()
                && if args.output.is_some() {
                    std::io::stderr().is_terminal()
                } else {
                    std::io::stdout().is_terminal()
                }
                && crate::console::ansi_colours()
        }
    }
}

/// The final pods as `-o` and `--describe` ask; Err is the exit code when printing failed.
fn report(
    args: &RunArgs,
    finals: &[api::Pod],
    event_log: &EventLog,
    printer: &Printer,
) -> Result<(), u8> {
    if let Some(format) = args.output
        && let Err(e) = print_pods(format, finals)
    {
        printer.error(&e);
        return Err(exit::INTERNAL);
    }
    if args.describe {
        let now = Clock::current().wall(tokio::time::Instant::now());
        let text: Vec<String> = finals
            .iter()
            .map(|p| {
                describe(
                    p,
                    &event_log.of(p.metadata.name.as_deref().unwrap_or("")),
                    now,
                )
            })
            .collect();
        let channel = if args.output.is_some() {
            Channel::Stderr
        } else {
            Channel::Stdout
        };
        console::own(channel, text.join("\n\n"));
    }
    Ok(())
}

type Published = Vec<String>;

/// The chosen backend, with the ports published into its pods.
fn make_runtime(
    args: &RunArgs,
    cluster: &Arc<Cluster>,
    plans: &[PodPlan],
    mappings: Vec<Mapping>,
) -> Result<(Arc<dyn RuntimeService>, Published), (u8, String)> {
    let mut published = Vec::new();
    match args.backend {
        Backend::Wasm => {
            for plan in plans {
                for (container, fields) in plan.moot_on_wasm() {
                    eprintln!(
                        "warning: {}/{container}: {} set but moot on the wasm backend (a wasm guest has no Linux capabilities, users or system calls to filter); --backend linux applies them",
                        plan.name,
                        fields.join(", ")
                    );
                }
            }
            for m in mappings {
                let addr = publish::publish(cluster, m.clone()).map_err(|e| (exit::USAGE, e))?;
                published.push(format!("{addr} -> {}:{}", m.pod, m.container_port));
            }
            published.extend(host_ports(plans)?);
            let rt = WasmRuntime::new(WasmOptions {
                cache_dir: if args.no_cache {
                    None
                } else {
                    CompileCache::default_dir()
                },
                progress: true,
                cluster: cluster.clone(),
            })
            .map_err(|e| (exit::INTERNAL, format!("{e:#}")))?;
            Ok((Arc::new(rt), published))
        }
        #[cfg(target_os = "linux")]
        Backend::Linux => {
            let rt = linux_runtime(cluster)?;
            if rt.mode() != crate::linux::Mode::Rootless {
                for m in mappings {
                    let addr = crate::linux::publish::publish(&rt, m.clone())
                        .map_err(|e| (exit::USAGE, e))?;
                    published.push(format!("{addr} -> {}:{}", m.pod, m.container_port));
                }
                published.extend(host_ports(plans)?);
            }
            Ok((rt, published))
        }
        #[cfg(not(target_os = "linux"))]
        Backend::Linux => {
            let _ = (plans, mappings);
            Err((
                exit::USAGE,
                format!(
                    "--backend linux needs Linux (this is {}); use --backend wasm",
                    std::env::consts::OS
                ),
            ))
        }
    }
}

/// The Linux backend, with a warning of what it cannot do without root.
#[cfg(target_os = "linux")]
pub fn linux_runtime(
    cluster: &Arc<Cluster>,
) -> Result<Arc<crate::linux::LinuxRuntime>, (u8, String)> {
    use crate::linux::{LinuxOptions, LinuxRuntime, Mode};
    let exe = std::env::current_exe()
        .map_err(|e| (exit::INTERNAL, format!("cannot find the wpod binary: {e}")))?;
    let rt = LinuxRuntime::new(LinuxOptions {
        cluster: cluster.clone(),
        exe,
        cache_dir: CompileCache::default_dir()
            .unwrap_or_else(|| std::env::temp_dir().join("wpod-cache")),
    })
    .map_err(|why| {
        (
            exit::USAGE,
            format!("the linux backend cannot run here: {why}"),
        )
    })?;
    if rt.mode() == Mode::Rootless {
        eprintln!(
            "warning: linux backend without root: pods run in user namespaces; memory and cpu \
             limits are not enforced, pods get no IP (no pod-to-pod traffic), hostPorts and \
             --publish are unavailable"
        );
    }
    Ok(Arc::new(rt))
}

/// `--publish` flags, checked before anything runs.
fn port_mappings(args: &RunArgs, plans: &[PodPlan]) -> Result<Vec<Mapping>, String> {
    let mut out = Vec::new();
    for spec in &args.publish {
        let (host, container_port, pod) = publish::parse(spec)?;
        let pod = match pod {
            Some(p) if plans.iter().any(|plan| plan.name == p) => p,
            Some(p) => return Err(format!("--publish {spec}: there is no pod named {p}")),
            // Without @POD: the pod that declares the port, else the first pod.
            None => plans
                .iter()
                .find(|p| p.declares_port(container_port))
                .or(plans.first())
                .map(|p| p.name.clone())
                .unwrap_or_default(),
        };
        out.push(Mapping {
            host,
            pod,
            container_port,
        });
    }
    Ok(out)
}

/// The pods' hostPorts as they will be published, each bound once now (all at a time, so two
/// pods asking for one port conflict too) so that a busy port is a usage error before any pod
/// starts; each sandbox binds its own when it starts.
fn host_ports(plans: &[PodPlan]) -> Result<Published, (u8, String)> {
    let mut probes = Vec::new();
    let mut published = Vec::new();
    for plan in plans {
        for hp in &plan.host_ports {
            if hp.protocol != Protocol::Tcp {
                eprintln!(
                    "warning: pod {}: hostPort {}/{} is not published: wpod publishes TCP ports only",
                    plan.name,
                    hp.host.port(),
                    hp.protocol
                );
                continue;
            }
            let probe = std::net::TcpListener::bind(hp.host).map_err(|e| {
                (
                    exit::USAGE,
                    format!(
                        "cannot publish {} (hostPort of pod {}): {e}; is another program using that port? pick another hostPort",
                        hp.host, plan.name
                    ),
                )
            })?;
            probes.push(probe);
            published.push(format!(
                "{} -> {}:{}",
                hp.host, plan.name, hp.container_port
            ));
        }
    }
    Ok(published)
}

/// Net trace lines go to the printer, which exists only after the network is set up.
#[derive(Clone, Default)]
struct NetPrinter(Arc<std::sync::OnceLock<Arc<Printer>>>);

impl NetPrinter {
    fn attach(&self, printer: Arc<Printer>) {
        let _ = self.0.set(printer);
    }

    fn sink(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let cell = self.0.clone();
        move |line| {
            if let Some(p) = cell.get() {
                p.net(line);
            }
        }
    }
}

/// Which of two pod results decides the exit code: internal > stuck > failed > succeeded.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        exit::INTERNAL => 3,
        exit::STUCK => 2,
        exit::FAILED => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// What the manifests hold: pods with their ConfigMaps and Secrets, and the objects the
/// control plane acts on (Deployments, ReplicaSets, Services).
struct Loaded {
    source: plan::Source,
    workloads: Vec<manifest::Workload>,
}

fn build_plans(args: &RunArgs, source: &plan::Source) -> Result<Vec<PodPlan>, u8> {
    let overrides = plan::Overrides {
        grace_period: args.grace_period,
    };
    plan::build(source, overrides).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

fn load(args: &RunArgs) -> Result<Loaded, u8> {
    let mut source = plan::Source::default();
    let mut workloads = Vec::new();
    let mut errors = 0;
    for file in &args.files {
        let m = match manifest::load_path(file) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(exit::USAGE);
            }
        };
        for d in &m.diagnostics {
            eprintln!("{d}");
        }
        errors += m.errors().count();
        source.config_maps.extend(m.config_maps.iter().cloned());
        source.secrets.extend(m.secrets.iter().cloned());
        source
            .pods
            .extend(m.pods.iter().map(|p| (p.clone(), m.dir.clone())));
        workloads.extend(m.workloads.iter().cloned());
    }
    if errors > 0 {
        eprintln!(
            "error: the manifest has {errors} error{}; nothing was run (see `wpod validate`)",
            if errors == 1 { "" } else { "s" }
        );
        return Err(exit::USAGE);
    }
    Ok(Loaded { source, workloads })
}

fn print_pods(format: OutputFormat, pods: &[api::Pod]) -> Result<(), String> {
    let value = if pods.len() == 1 {
        serde_json::to_value(&pods[0])
    } else {
        serde_json::to_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": pods,
        }))
    }
    .map_err(|e| format!("serializing the pod: {e}"))?;
    let text = match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&value).map_err(|e| format!("serializing the pod: {e}"))?
                + "\n"
        }
        OutputFormat::Yaml => {
            serde_saphyr::to_string(&value).map_err(|e| format!("serializing the pod: {e}"))?
        }
    };
    console::own(Channel::Stdout, text);
    Ok(())
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C and SIGTERM, counted: the first stops gracefully, the next kills. Each stream is made
/// once, so a second Ctrl-C that arrives while the first is handled is counted, not lost between
/// two registrations.
struct Signals {
    count: u32,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    /// A console's Ctrl-C and Ctrl-Break on Windows.
    #[cfg(windows)]
    c: Option<tokio::signal::windows::CtrlC>,
    #[cfg(windows)]
    brk: Option<tokio::signal::windows::CtrlBreak>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            count: 0,
            #[cfg(unix)]
            int: signal(SignalKind::interrupt()).ok(),
            #[cfg(unix)]
            term: signal(SignalKind::terminate()).ok(),
            #[cfg(windows)]
            c: tokio::signal::windows::ctrl_c().ok(),
            #[cfg(windows)]
            brk: tokio::signal::windows::ctrl_break().ok(),
        }
    }

    async fn next(&mut self) -> u32 {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(self.int.as_mut()) => {},
                _ = recv(self.term.as_mut()) => {},
            }
        }
        #[cfg(windows)]
        {
            async fn recv<T>(s: Option<&mut T>, f: impl AsyncFn(&mut T) -> Option<()>) {
                match s {
                    Some(s) => {
                        f(s).await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(self.c.as_mut(), async |s| s.recv().await) => {},
                _ = recv(self.brk.as_mut(), async |s| s.recv().await) => {},
            }
        }
        self.count += 1;
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_priority() {
        assert_eq!(worse(exit::SUCCEEDED, exit::FAILED), exit::FAILED);
        assert_eq!(worse(exit::STUCK, exit::FAILED), exit::STUCK);
        assert_eq!(worse(exit::FAILED, exit::INTERNAL), exit::INTERNAL);
    }
}
