//! `wpod run` of manifests with Deployments, ReplicaSets or Services: the objects go to an
//! in-process control plane (the API's store and controllers, without the HTTP server), as
//! `kubectl apply` would send them to a cluster. Controllers' pods run until Ctrl-C (or
//! `--timeout`), as `docker compose up` runs services; a run with only Services and bare pods
//! ends when its pods do.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use serde_json::Value;

use super::{
    Loaded, NetPrinter, RunArgs, STOP_WAIT, Signals, build_plans, color, exit, make_runtime,
    port_mappings, sleep_opt, worse,
};
use crate::api::{ControlPlane, Say};
use crate::cli::describe::EventLog;
use crate::cli::output::{PodLog, Printer};
use crate::cli::ui;
use crate::manifest::Workload;
use crate::net::{Cluster, Trace};
use crate::node::{Node, NodeConfig};
use crate::plan::PodPlan;
use crate::pod::backoff::BackoffPolicy;
use crate::pod::{Outcome, Phase, StopMode};
use crate::runtime::RuntimeService;

/// How often a run without controllers looks whether its pods are done.
const POLL: Duration = Duration::from_millis(100);

pub(super) async fn run(args: RunArgs, loaded: Loaded) -> u8 {
    if args.kill_infra_after.is_some() {
        eprintln!(
            "error: --kill-infra-after names pods, and a controller's pods get their names as they are made; run the manifest with `wpod serve` and use `kubectl delete pod`"
        );
        return exit::USAGE;
    }
    // Bare pods are checked and warned about as in any run; the control plane admits them.
    let plans = if loaded.source.pods.is_empty() {
        Vec::new()
    } else {
        match build_plans(&args, &loaded.source) {
            Ok(p) => p,
            Err(code) => return code,
        }
    };
    let printer_for_net = NetPrinter::default();
    let hub = args.ui.then(|| Arc::new(ui::Hub::default()));
    let trace = ui::trace_sink(printer_for_net.sink(), hub.clone(), args.trace_net);
    let cluster = Cluster::new(Trace::new(trace, args.trace_net || args.ui));
    // The manifest's own pods get addresses in manifest order, as in any run; a controller's
    // pods get theirs as they come.
    for plan in &plans {
        let _ = cluster.address_of(&plan.name);
    }
    // `--publish` reaches the manifest's own pods; a controller's pods are named as they are
    // made, so they are reached with `wpod serve` and `kubectl port-forward`.
    let mappings = match port_mappings(&args, &plans) {
        Ok(m) if m.iter().all(|m| !m.pod.is_empty()) => m,
        Ok(_) => {
            eprintln!(
                "error: --publish reaches the manifest's own pods, and it has none (a controller's pods get their names as they are made); run the manifest with `wpod serve` and use `kubectl port-forward deployment/NAME`"
            );
            return exit::USAGE;
        }
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
    let printer = Arc::new(Printer::for_cluster(
        color(&args),
        args.output.is_some(),
        args.quiet,
        prefix_width(&loaded),
    ));
    printer_for_net.attach(printer.clone());
    let runtime: Arc<dyn RuntimeService> = if args.show_namespaces {
        Arc::new(crate::cli::namespaces::ShowNamespaces::new(
            runtime,
            printer.clone(),
        ))
    } else {
        runtime
    };
    for p in &published {
        printer.note(&format!("publishing {p}"));
    }
    let state_dir = crate::volumes::default_state_dir();
    #[cfg(target_os = "linux")]
    crate::linux::leftovers::reap(&state_dir)
        .lines()
        .iter()
        .for_each(|l| eprintln!("{l}"));
    let event_log = Arc::new(EventLog::new(printer.clone()));
    let log_printer = printer.clone();
    let log_hub = hub.clone();
    let node = Arc::new(Node::new(
        runtime,
        NodeConfig {
            backoff: BackoffPolicy {
                base: args.backoff_base,
                max: args.backoff_max,
            },
            clock: crate::pod::clock::Clock::current(),
            events: event_log.clone(),
            logs: Arc::new(move |plan: &PodPlan| -> Arc<dyn crate::runtime::LogSink> {
                let log = Arc::new(PodLog {
                    printer: log_printer.clone(),
                    pod: plan.name.clone(),
                });
                ui::log_sink(log, &log_hub, &plan.name)
            }),
            state_dir,
            keep_volumes: args.keep_volumes,
            services: cluster.services.clone(),
            tokens: None,
            retry_pulls: false,
        },
    ));
    let noted = printer.clone();
    tokio::spawn(crate::node::node_ports::run(
        node.clone(),
        cluster.services.clone(),
        Arc::new(move |line: &str| noted.note(line)),
    ));
    let said = printer.clone();
    let say: Say = Arc::new(move |line: &str| said.control(line));
    let base_dir = loaded
        .source
        .pods
        .first()
        .map(|(_, dir)| dir.clone())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let control = match ControlPlane::start(node.clone(), cluster.clone(), base_dir, say) {
        Ok(c) => c,
        Err(e) => {
            printer.error(&format!("{e:#}"));
            return exit::INTERNAL;
        }
    };
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
    let mut signals = Signals::new();
    // Deployments and ReplicaSets keep pods running; Jobs and bare pods end.
    let controlled = loaded
        .workloads
        .iter()
        .any(|w| matches!(w, Workload::Deployment(_) | Workload::ReplicaSet(_)));
    let jobs: Vec<(String, String)> = loaded
        .workloads
        .iter()
        .filter(|w| matches!(w, Workload::Job(_)))
        .map(|w| {
            let m = w.metadata();
            (
                m.namespace.clone().unwrap_or_else(|| "default".into()),
                m.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let bare: Vec<(String, String)> = plans
        .iter()
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect();
    for object in objects(&loaded) {
        let what = format!(
            "{} {}",
            object["kind"].as_str().unwrap_or_default(),
            crate::api::name_of(&object)
        );
        match control.apply(object).await {
            Ok(line) => printer.note(&line),
            Err(why) => {
                printer.error(&format!("{what}: {why}"));
                control.stop_controllers();
                node.stop_all(StopMode::Kill);
                return exit::USAGE;
            }
        }
    }
    if controlled && !args.quiet {
        printer.note("running until Ctrl-C (the controllers keep their pods running)");
    }

    let timeout = sleep_opt(args.timeout);
    tokio::pin!(timeout);
    let give_up = sleep_opt(None);
    tokio::pin!(give_up);
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    let mut snapshot: Option<Vec<api::Pod>> = None;
    let mut interrupted = false;
    let mut timed_out = false;
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let mut failed_jobs = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL), if !controlled && stopping.is_none() => {
                let finished = bare.iter().all(|(ns, name)| {
                    node.status(ns, name).is_none_or(|s| {
                        matches!(s.borrow().status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
                    })
                });
                let jobs_done: Option<Vec<&'static str>> = jobs
                    .iter()
                    .map(|(ns, name)| control.job_outcome(ns, name))
                    .collect();
                if let (true, Some(jobs_done)) = (finished, jobs_done) {
                    for (ns, name) in &bare {
                        outcomes.push(node.wait(ns, name).await);
                    }
                    failed_jobs = jobs_done.iter().filter(|o| **o == "Failed").count();
                    break;
                }
            },
            _ = &mut timeout, if stopping.is_none() => {
                timed_out = true;
                snapshot = Some(node.pods());
                printer.note(&format!("--timeout {}s reached: stopping the pods", args.timeout.unwrap_or_default().as_secs_f64()));
                stopping = Some(stop(&control, &node, StopMode::Kill));
                give_up.set(sleep_opt(Some(STOP_WAIT)));
            },
            n = signals.next() => {
                interrupted = true;
                if n > 2 {
                    printer.note("exiting without waiting for the pods");
                    break;
                }
                if n == 1 {
                    printer.note("stopping the pods gracefully (press Ctrl-C again to kill them now)");
                    snapshot = Some(node.pods());
                    stopping = Some(stop(&control, &node, StopMode::Graceful));
                } else {
                    printer.note("killing the pods");
                    node.stop_all(StopMode::Kill);
                    give_up.set(sleep_opt(Some(STOP_WAIT)));
                }
            },
            _ = async { if let Some(s) = stopping.as_mut() { let _ = s.await; } }, if stopping.is_some() => break,
            _ = &mut give_up => {
                printer.note(&format!(
                    "the pods did not stop within {}s of being killed: exiting without them",
                    STOP_WAIT.as_secs()
                ));
                break;
            },
        }
    }
    let finals = snapshot.unwrap_or_else(|| node.pods());
    if hub.is_some() && !interrupted {
        printer.note("the pods have ended; the live view stays up until Ctrl-C");
        signals.next().await;
    }
    if let Err(code) = super::report(&args, &finals, &event_log, &printer) {
        return code;
    }
    if timed_out {
        return exit::TIMEOUT;
    }
    if interrupted {
        return exit::INTERRUPTED;
    }
    let start = if failed_jobs > 0 {
        exit::FAILED
    } else {
        exit::SUCCEEDED
    };
    outcomes.iter().fold(start, |code, outcome| {
        worse(
            code,
            match outcome {
                Some(Outcome::Completed(Phase::Succeeded) | Outcome::Stopped(Phase::Succeeded)) => {
                    exit::SUCCEEDED
                }
                Some(Outcome::Completed(_) | Outcome::Stopped(_)) => exit::FAILED,
                Some(Outcome::Stuck(_)) => exit::STUCK,
                Some(Outcome::RuntimeFailed(_)) | None => exit::INTERNAL,
            },
        )
    })
}

/// Stops the controllers, then every pod; the task ends when the last pod has.
fn stop(control: &ControlPlane, node: &Arc<Node>, mode: StopMode) -> tokio::task::JoinHandle<()> {
    control.stop_controllers();
    node.stop_all(mode);
    let node = node.clone();
    tokio::spawn(async move {
        for pod in node.pods() {
            let (ns, name) = (
                pod.metadata.namespace.unwrap_or_default(),
                pod.metadata.name.unwrap_or_default(),
            );
            node.wait(&ns, &name).await;
        }
    })
}

/// The manifests' objects in the order a cluster wants them: what pods use and select them
/// first, then the pods, then what makes pods.
fn objects(loaded: &Loaded) -> Vec<Value> {
    let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    let mut out: Vec<Value> = Vec::new();
    out.extend(
        loaded
            .source
            .config_maps
            .iter()
            .map(|o| json(serde_json::to_value(o))),
    );
    out.extend(
        loaded
            .source
            .secrets
            .iter()
            .map(|o| json(serde_json::to_value(o))),
    );
    let rank = |w: &Workload| match w {
        Workload::Service(_) => 0,
        Workload::ReplicaSet(_) | Workload::Job(_) => 1,
        Workload::Deployment(_) => 2,
    };
    let mut workloads: Vec<&Workload> = loaded.workloads.iter().collect();
    workloads.sort_by_key(|w| rank(w));
    let value = |w: &Workload| match w {
        Workload::Deployment(o) => json(serde_json::to_value(o)),
        Workload::ReplicaSet(o) => json(serde_json::to_value(o)),
        Workload::Job(o) => json(serde_json::to_value(o)),
        Workload::Service(o) => json(serde_json::to_value(o)),
    };
    out.extend(
        workloads
            .iter()
            .take_while(|w| rank(w) == 0)
            .map(|w| value(w)),
    );
    out.extend(
        loaded
            .source
            .pods
            .iter()
            .map(|(p, _)| json(serde_json::to_value(p))),
    );
    out.extend(
        workloads
            .iter()
            .skip_while(|w| rank(w) == 0)
            .map(|w| value(w)),
    );
    out.into_iter().filter(|o| !o.is_null()).collect()
}

/// How wide a `pod/container` prefix gets: a Deployment's pods are `<name>-<hash>-<5>`.
fn prefix_width(loaded: &Loaded) -> usize {
    let containers = |t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>| {
        t.and_then(|t| t.spec.as_ref())
            .map(|s| s.containers.iter().map(|c| c.name.len()).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let mut width = 0;
    for w in &loaded.workloads {
        let name = w.metadata().name.as_deref().unwrap_or_default().len();
        let (generated, longest) = match w {
            Workload::Deployment(d) => {
                (name + 17, containers(d.spec.as_ref().map(|s| &s.template)))
            }
            Workload::ReplicaSet(rs) => (
                name + 6,
                containers(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
            ),
            Workload::Job(j) => (name + 6, containers(j.spec.as_ref().map(|s| &s.template))),
            Workload::Service(_) => continue,
        };
        width = width.max(generated + 1 + longest);
    }
    for (pod, _) in &loaded.source.pods {
        let name = pod.metadata.name.as_deref().unwrap_or_default().len();
        let longest = pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.len()).max().unwrap_or(0))
            .unwrap_or(0);
        width = width.max(name + 1 + longest);
    }
    width
}
