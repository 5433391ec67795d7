//! `wpod serve` and `wpod kubeconfig`: a local Kubernetes API over the node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::describe::EventLog;
use super::exit;
use super::output::{PodLog, Printer};
use super::run::Backend;
use crate::api::{ServeOptions, serve};
use crate::net::Cluster;
use crate::node::{Node, NodeConfig};
use crate::plan::PodPlan;
use crate::pod::backoff::BackoffPolicy;
use crate::pod::clock::Clock;
use crate::runtime::RuntimeService;
use crate::wasm::{CompileCache, WasmOptions, WasmRuntime};

#[derive(Args)]
pub struct ServeArgs {
    /// Where the API listens (loopback unless told otherwise)
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Where objects, credentials and the kubeconfig are kept
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Which runtime runs the pods
    #[arg(long, value_enum, default_value = "wasm")]
    backend: Backend,
    /// Print every bind, listen, connect, accept, refusal and close in the pod network (wasm):
    /// port-forwarded connections show as from `port-forward`
    #[arg(long)]
    trace_net: bool,
    /// Serve a live view of the node's pods in the browser (on loopback, behind a random token
    /// in the address printed), next to what kubectl shows
    #[arg(long)]
    ui: bool,
    /// Pull from this registry (HOST:PORT) over plain HTTP, as docker's insecure registries
    #[arg(long, value_name = "HOST:PORT")]
    insecure_registry: Vec<String>,
}

#[derive(Args)]
pub struct KubeconfigArgs {
    /// The data directory of the `wpod serve` whose kubeconfig to print
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Add the `wpod` context to your kubeconfig (the first file of $KUBECONFIG, else
    /// ~/.kube/config) and make it the current one, instead of printing it
    #[arg(long)]
    merge: bool,
}

/// The stored objects outlive a reboot, so they go where data goes (`serve` in
/// `crate::dirs::data`), not with the pods' run-time state.
fn data_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| crate::dirs::data().join("serve"))
}

fn runtime(
    backend: Backend,
    cluster: Arc<Cluster>,
) -> Result<Arc<dyn RuntimeService>, (u8, String)> {
    match backend {
        Backend::Wasm => WasmRuntime::new(WasmOptions {
            cache_dir: CompileCache::default_dir(),
            progress: false,
            cluster,
        })
        .map(|r| Arc::new(r) as Arc<dyn RuntimeService>)
        .map_err(|e| (exit::INTERNAL, format!("{e:#}"))),
        #[cfg(target_os = "linux")]
        Backend::Linux => Ok(super::run::linux_runtime(&cluster)?),
        #[cfg(not(target_os = "linux"))]
        Backend::Linux => Err((
            exit::USAGE,
            format!(
                "--backend linux needs Linux (this is {}); use --backend wasm",
                std::env::consts::OS
            ),
        )),
    }
}

/// The kubeconfig kubectl writes to: the first file of $KUBECONFIG, else ~/.kube/config;
/// wpod's own kubeconfig (`ours`), which `wpod serve` tells users to export, is skipped:
/// merging into it would change nothing kubectl reads without it.
fn user_kubeconfig(ours: &std::path::Path) -> Option<PathBuf> {
    let same = |p: &std::path::Path| {
        p == ours
            || matches!(
                (std::fs::canonicalize(p), std::fs::canonicalize(ours)),
                (Ok(a), Ok(b)) if a == b
            )
    };
    let listed = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty() && !same(p)));
    listed.or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".kube/config"))
    })
}

pub async fn run(args: ServeArgs) -> u8 {
    let dir = data_dir(args.data_dir);
    crate::pod::image_pull::set_insecure_registries(args.insecure_registry.clone());
    let printer = Arc::new(Printer::new(false, true, false, &[]));
    let trace = |line: &str| {
        crate::console::own(crate::console::Channel::Stderr, format!("net: {line}\n"));
    };
    let hub = args.ui.then(|| Arc::new(super::ui::Hub::default()));
    // The live view shows the network trace whether or not the terminal does.
    let trace = super::ui::trace_sink(trace, hub.clone(), args.trace_net);
    let cluster = Cluster::new(crate::net::Trace::new(trace, args.trace_net || args.ui));
    let runtime = match runtime(args.backend, cluster.clone()) {
        Ok(r) => r,
        Err((code, why)) => {
            eprintln!("error: {why}");
            return code;
        }
    };
    let signer = match crate::api::token_signer(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit::USAGE;
        }
    };
    let log_printer = printer.clone();
    let logs = Arc::new(crate::api::logs::LogStore::default());
    let kept = Arc::clone(&logs);
    let event_log = Arc::new(EventLog::new(printer.clone()));
    let log_hub = hub.clone();
    let node = Arc::new(Node::new(
        runtime,
        NodeConfig {
            backoff: BackoffPolicy::default(),
            clock: Clock::system(),
            events: event_log.clone(),
            logs: Arc::new(move |plan: &PodPlan| -> Arc<dyn crate::runtime::LogSink> {
                let printed = Arc::new(PodLog {
                    printer: log_printer.clone(),
                    pod: plan.name.clone(),
                });
                let shown = super::ui::log_sink(printed, &log_hub, &plan.name);
                kept.sink(&plan.namespace, &plan.name, shown)
            }),
            state_dir: crate::volumes::default_state_dir(),
            keep_volumes: false,
            services: cluster.services.clone(),
            tokens: Some(signer.clone()),
            retry_pulls: true,
        },
    ));
    if let Err(code) = super::ui::start(
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
    tokio::spawn(crate::node::node_ports::run(
        node.clone(),
        cluster.services.clone(),
        Arc::new(|line: &str| eprintln!("wpod serve: {line}")),
    ));
    let stopping = Arc::clone(&node);
    // Ctrl-C stops the pods gracefully and then the server; a second one kills them.
    let shutdown = async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("wpod serve: stopping the pods gracefully (press Ctrl-C again to kill them now)");
        stopping.stop_all(crate::pod::StopMode::Graceful);
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stopping.stop_all(crate::pod::StopMode::Kill);
        });
    };
    let ready = |kubeconfig: &str| {
        eprintln!("wpod serve: listening on https://{}", args.listen);
        println!("export KUBECONFIG={kubeconfig}");
    };
    match serve(
        ServeOptions {
            listen: args.listen,
            data_dir: dir,
            signer,
            logs,
            cluster,
            say: Arc::new(|line: &str| {
                crate::console::own(crate::console::Channel::Stderr, format!("-- {line}\n"))
            }),
        },
        node,
        ready,
        shutdown,
    )
    .await
    {
        Ok(()) => exit::SUCCEEDED,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::USAGE
        }
    }
}

pub fn kubeconfig(args: KubeconfigArgs) -> u8 {
    let dir = data_dir(args.data_dir);
    if args.merge {
        let Some(target) = user_kubeconfig(&dir.join("kubeconfig")) else {
            eprintln!(
                "error: neither KUBECONFIG nor HOME is set, so there is no kubeconfig to merge into"
            );
            return exit::USAGE;
        };
        return match crate::api::merge_kubeconfig(&dir, &target) {
            Ok(()) => {
                println!(
                    "merged the context \"wpod\" into {} and made it the current context",
                    target.display()
                );
                exit::SUCCEEDED
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                exit::USAGE
            }
        };
    }
    match crate::api::kubeconfig(&dir) {
        Ok(text) => {
            print!("{text}");
            exit::SUCCEEDED
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::USAGE
        }
    }
}
