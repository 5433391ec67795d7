//! The pod lifecycle: one task per pod that drives a [`RuntimeService`] the way the kubelet does.
//!
//! The loop is event-driven: start what is due, publish the status, then wait for a report (a
//! container exit, a postStart hook's end, a probe result), a timer (back-off, deadline) or a stop
//! request. Rules live in `status` (phase, conditions), `backoff`, `probe` and `termination`; the
//! actions of probes and hooks in `handler`; this file only sequences them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffPolicy};
use super::clock::{self, Clock};
use super::events::{Event, EventSink, EventType};
use super::handler::{self, Action, ProbeResult, Target};
use super::probe::{self, Counter, ProbeKind, ProbeOutcome, Timings};
use super::status::{self, ContainerStatus, Phase, State, Terminated};
use super::termination::{self, TailLog};
use crate::expand;
use crate::node::{HOST_IP, NODE_NAME};
use crate::plan::{self, ContainerKind, ContainerPlan, PodPlan, RestartPolicy};
use crate::runtime::{
    ContainerConfig, ContainerId, ExitReason, ExitStatus, ImageInfo, LogSink, Mount,
    RuntimeService, SandboxConfig, SandboxId,
};
use crate::volumes::{self, PodVolumes, downward::PodFacts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Like `kubectl delete`: stop within the grace period, then kill.
    Graceful,
    /// Kill what still runs, now.
    Kill,
}

/// How a pod's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The pod reached Succeeded or Failed on its own.
    Completed(Phase),
    /// It was stopped from outside (Ctrl-C, --timeout) with this phase.
    Stopped(Phase),
    /// Nothing can make progress any more (an image that does not exist, say).
    Stuck(String),
    /// The backend failed.
    RuntimeFailed(String),
}

#[derive(Clone)]
pub struct KubeletConfig {
    pub backoff: BackoffPolicy,
    pub clock: Clock,
    pub events: Arc<dyn EventSink>,
    pub log: Arc<dyn LogSink>,
    /// Where pod directories (volumes, container file systems) go: `<state_dir>/pods/<uid>`.
    pub state_dir: PathBuf,
    /// Keep the pod's volumes when it ends (`wpod run --keep-volumes`).
    pub keep_volumes: bool,
}

/// How often emptyDir usage is compared with sizeLimit.
pub const USAGE_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// The kubelet's minimumGracePeriodInSeconds: a graceful stop never kills sooner than this after
/// the TERM, even when the grace period (or what a preStop hook or the wait for a sidecar's turn
/// left of it) is shorter.
const MIN_GRACE: Duration = Duration::from_secs(2);
/// postStart hooks have no timeout in Kubernetes; this stands for "as long as it takes".
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// A running pod: its live status and a way to stop it.
pub struct PodHandle {
    pub name: String,
    pub status: watch::Receiver<api::Pod>,
    stop: mpsc::UnboundedSender<StopMode>,
    task: tokio::task::JoinHandle<Outcome>,
}

impl PodHandle {
    pub fn stop(&self, mode: StopMode) {
        // A pod that already finished has nothing left to stop.
        let _ = self.stop.send(mode);
    }

    /// A handle for stopping the pod while something else awaits it.
    pub fn stop_sender(&self) -> mpsc::UnboundedSender<StopMode> {
        self.stop.clone()
    }

    pub async fn wait(self) -> Outcome {
        self.task
            .await
            .unwrap_or_else(|e| Outcome::RuntimeFailed(format!("pod task failed: {e}")))
    }
}

/// Starts the pod's lifecycle in the background.
pub fn spawn(plan: PodPlan, runtime: Arc<dyn RuntimeService>, config: KubeletConfig) -> PodHandle {
    let (stop_tx, stop_rx) = mpsc::unbounded_channel();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let kubelet = Kubelet::new(plan, runtime, config, report_tx);
    let (status_tx, status_rx) = watch::channel(kubelet.api_pod());
    let name = kubelet.plan.name.clone();
    let task = tokio::spawn(kubelet.run(status_tx, stop_rx, report_rx));
    PodHandle {
        name,
        status: status_rx,
        stop: stop_tx,
        task,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind_order: u8,
    index: usize,
}

/// What the lifecycle's helper tasks report about one container instance (`attempt`).
enum Report {
    Exit {
        key: Key,
        attempt: u32,
        status: ExitStatus,
    },
    PostStart {
        key: Key,
        attempt: u32,
        result: Result<(), String>,
    },
    Probe {
        key: Key,
        attempt: u32,
        outcome: ProbeOutcome,
    },
}

/// A container instance the runtime runs.
struct Running {
    id: ContainerId,
    attempt: u32,
    since: Instant,
    /// The postStart hook still runs: the container shows ContainerCreating.
    post_start: bool,
    /// A management stop (failed probe or hook, pod shutdown) is under way.
    killing: bool,
    /// Probe workers, aborted with the instance.
    workers: Vec<(ProbeKind, tokio::task::AbortHandle)>,
    counters: BTreeMap<ProbeKind, Counter>,
    /// The host file mounted at terminationMessagePath.
    message_file: PathBuf,
    tail: Arc<TailLog>,
}

impl Running {
    fn abort(&mut self, kinds: &[ProbeKind]) {
        self.workers.retain(|(k, w)| {
            let stop = kinds.contains(k);
            if stop {
                w.abort();
            }
            !stop
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for (_, w) in &self.workers {
            w.abort();
        }
    }
}

/// Records events, also from the lifecycle's helper tasks.
#[derive(Clone)]
struct Recorder {
    events: Arc<dyn EventSink>,
    clock: Clock,
    pod: String,
}

impl Recorder {
    fn event(
        &self,
        type_: EventType,
        reason: &'static str,
        container: Option<&str>,
        message: String,
    ) {
        let event = Event {
            type_,
            reason,
            container: container.map(str::to_string),
            message,
            at: self.clock.wall(self.clock.now()),
        };
        self.events.event(&self.pod, &event);
    }
}

/// Stopping one container: its preStop hook, then (once it is its turn) a stop within what is
/// left of the grace period.
struct StopJob {
    name: String,
    id: ContainerId,
    /// The message of the Killing event.
    message: String,
    pre_stop: Option<api::LifecycleHandler>,
    target: Target,
    /// The least time between the stop and the kill: MIN_GRACE, or zero for a kill now.
    minimum: Duration,
}

impl StopJob {
    /// The Killing event, recorded when the kill is decided (before the job runs, so the events
    /// of one stop come in a stable order).
    fn announce(&self, rec: &Recorder) {
        rec.event(
            EventType::Normal,
            "Killing",
            Some(&self.name),
            self.message.clone(),
        );
    }

    /// `turn` resolves when the containers that must exit first have (the kubelet's
    /// terminationOrdering for sidecars); the hook does not wait for it.
    async fn run(
        self,
        rec: Recorder,
        pod_ref: String,
        deadline: Instant,
        turn: Option<oneshot::Receiver<()>>,
    ) {
        let mut grace = deadline.saturating_duration_since(Instant::now());
        if let Some(action) = self
            .pre_stop
            .as_ref()
            .and_then(Action::of_hook)
            .filter(|_| !grace.is_zero())
        {
            let hook = handler::hook(action, &self.target, &self.name, &pod_ref, grace);
            // A hook that runs out of time is cut short; the container still gets its 2 s.
            if let Ok(Err(message)) = tokio::time::timeout(grace, hook).await {
                rec.event(
                    EventType::Warning,
                    "FailedPreStopHook",
                    Some(&self.name),
                    message,
                );
            }
        }
        if let Some(turn) = turn {
            let left = deadline.saturating_duration_since(Instant::now());
            // A sender dropped without a word also means it is this container's turn.
            let _ = tokio::time::timeout(left, turn).await;
        }
        grace = deadline
            .saturating_duration_since(Instant::now())
            .max(self.minimum);
        // The exit is reported through wait_container; nothing to do with an error here.
        let _ = self.target.runtime.stop_container(&self.id, grace).await;
    }
}

struct Slot {
    plan: ContainerPlan,
    status: ContainerStatus,
    backoff: Backoff,
    attempts: u32,
    restart_at: Option<Instant>,
    running: Option<Running>,
    /// A sidecar (an init container with restartPolicy Always) that started once: the next init
    /// container may go.
    ever_started: bool,
    image: Option<ImageInfo>,
    /// The container cannot be created (ErrImagePull, CreateContainerConfigError): wpod's objects
    /// and images do not change while it runs, so a retry could not succeed.
    blocked: bool,
}

struct Kubelet {
    plan: Arc<PodPlan>,
    runtime: Arc<dyn RuntimeService>,
    config: KubeletConfig,
    reports: mpsc::UnboundedSender<Report>,
    rec: Recorder,
    pod_dir: PathBuf,
    sandbox: Option<SandboxId>,
    pod_ip: Option<String>,
    init: Vec<Slot>,
    app: Vec<Slot>,
    started_at: Option<Timestamp>,
    deadline_at: Option<Instant>,
    deadline_exceeded: bool,
    terminating: bool,
    phase: Option<Phase>,
    conditions: BTreeMap<&'static str, (status::Condition, Timestamp)>,
    volumes: PodVolumes,
    facts: PodFacts,
    /// When emptyDir usage is checked next (only for pods with a sizeLimit).
    usage_check_at: Option<Instant>,
    /// Why the pod was evicted, if it was.
    evicted: Option<String>,
}

impl Kubelet {
    fn new(
        plan: PodPlan,
        runtime: Arc<dyn RuntimeService>,
        config: KubeletConfig,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Self {
        let slot = |c: &ContainerPlan, waiting: &str| Slot {
            status: ContainerStatus::new(&c.name, &c.image, waiting).sidecar(c.is_sidecar()),
            plan: c.clone(),
            backoff: Backoff::default(),
            attempts: 0,
            restart_at: None,
            running: None,
            ever_started: false,
            image: None,
            blocked: false,
        };
        let app_waiting = if plan.init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        Kubelet {
            init: plan
                .init_containers
                .iter()
                .map(|c| slot(c, "PodInitializing"))
                .collect(),
            app: plan
                .containers
                .iter()
                .map(|c| slot(c, app_waiting))
                .collect(),
            rec: Recorder {
                events: Arc::clone(&config.events),
                clock: config.clock.clone(),
                pod: plan.name.clone(),
            },
            pod_dir: volumes::pod_dir(&config.state_dir, &plan.uid),
            plan: Arc::new(plan),
            runtime,
            config,
            reports,
            sandbox: None,
            pod_ip: None,
            started_at: None,
            deadline_at: None,
            deadline_exceeded: false,
            terminating: false,
            phase: None,
            conditions: BTreeMap::new(),
            volumes: PodVolumes::default(),
            facts: PodFacts::default(),
            usage_check_at: None,
            evicted: None,
        }
    }

    async fn run(
        mut self,
        status_tx: watch::Sender<api::Pod>,
        mut stop_rx: mpsc::UnboundedReceiver<StopMode>,
        mut report_rx: mpsc::UnboundedReceiver<Report>,
    ) -> Outcome {
        let now = self.config.clock.now();
        self.started_at = Some(self.config.clock.wall(now));
        self.deadline_at = self.plan.active_deadline.map(|d| clock::later(now, d));
        self.event(
            EventType::Normal,
            "Scheduled",
            None,
            format!(
                "Successfully assigned {}/{} to {NODE_NAME}",
                self.plan.namespace, self.plan.name
            ),
        );
        // As the kubelet does, every volume is set up before the sandbox and any container.
        let pod_dir = self.pod_dir.clone();
        let (prepared, failed) = volumes::setup(&self.plan, &self.facts, &pod_dir);
        self.volumes = prepared;
        if !failed.is_empty() {
            for f in &failed {
                self.event(EventType::Warning, "FailedMount", None, f.event_message());
            }
            self.publish(&status_tx);
            volumes::cleanup(&pod_dir, self.config.keep_volumes);
            let why: Vec<String> = failed.iter().map(|f| f.event_message()).collect();
            return Outcome::Stuck(why.join("; "));
        }
        if self.volumes.has_limits() {
            self.usage_check_at = Some(clock::later(now, USAGE_CHECK_PERIOD));
        }
        let sandbox = SandboxConfig {
            pod_name: self.plan.name.clone(),
            namespace: self.plan.namespace.clone(),
            uid: self.plan.uid.clone(),
            hostname: self.plan.hostname.clone(),
            host_network: self.plan.host_network,
            share_process_namespace: self
                .plan
                .manifest
                .spec
                .as_ref()
                .and_then(|s| s.share_process_namespace)
                .unwrap_or(false),
            state_dir: pod_dir.join("sandbox"),
        };
        match self.runtime.run_pod_sandbox(&sandbox).await {
            Ok(id) => {
                // Without an address the pod still runs; status then simply has no podIP.
                self.pod_ip = self
                    .runtime
                    .pod_sandbox_status(&id)
                    .await
                    .ok()
                    .and_then(|s| s.ip);
                self.sandbox = Some(id);
            }
            Err(e) => {
                self.event(
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    None,
                    format!("Failed to create pod sandbox: {e}"),
                );
                self.publish(&status_tx);
                volumes::cleanup(&pod_dir, self.config.keep_volumes);
                return Outcome::RuntimeFailed(format!("creating the pod sandbox failed: {e}"));
            }
        }
        self.publish(&status_tx);
        let mut stop_requested = false;
        loop {
            if !self.terminating {
                self.start_due().await;
                self.stop_sidecars_when_done();
            }
            self.publish(&status_tx);
            if self.nothing_left_to_do() {
                break;
            }
            let timer = self.next_timer();
            tokio::select! {
                Some(report) = report_rx.recv() => self.on_report(report),
                _ = sleep_until(timer) => self.on_timer(),
                Some(mode) = stop_rx.recv() => {
                    // A second graceful stop changes nothing; a kill always goes through.
                    if !(stop_requested && mode == StopMode::Graceful) {
                        stop_requested = true;
                        self.stop_all(mode);
                    }
                }
            }
        }
        if let Some(id) = self.sandbox.take() {
            if let Err(e) = self.runtime.stop_pod_sandbox(&id).await {
                volumes::cleanup(&pod_dir, self.config.keep_volumes);
                return Outcome::RuntimeFailed(format!("stopping the pod sandbox failed: {e}"));
            }
            if let Err(e) = self.runtime.remove_pod_sandbox(&id).await {
                volumes::cleanup(&pod_dir, self.config.keep_volumes);
                return Outcome::RuntimeFailed(format!("removing the pod sandbox failed: {e}"));
            }
        }
        volumes::cleanup(&pod_dir, self.config.keep_volumes);
        let phase = self.current_phase();
        if stop_requested {
            Outcome::Stopped(phase)
        } else if phase.is_terminal() {
            Outcome::Completed(phase)
        } else {
            Outcome::Stuck(self.stuck_reason())
        }
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.init.iter().chain(self.app.iter())
    }

    fn slot_mut(&mut self, key: Key) -> &mut Slot {
        match key.kind_order {
            0 => &mut self.init[key.index],
            _ => &mut self.app[key.index],
        }
    }

    fn slot(&self, key: Key) -> &Slot {
        match key.kind_order {
            0 => &self.init[key.index],
            _ => &self.app[key.index],
        }
    }

    fn event(
        &self,
        type_: EventType,
        reason: &'static str,
        container: Option<&str>,
        message: String,
    ) {
        self.rec.event(type_, reason, container, message);
    }

    /// `name_namespace(uid)`, as the kubelet names a pod in messages.
    fn pod_ref(&self) -> String {
        format!(
            "{}_{}({})",
            self.plan.name, self.plan.namespace, self.plan.uid
        )
    }

    /// What probes and hooks of this container instance run against.
    fn target(&self, key: Key) -> Option<Target> {
        let slot = self.slot(key);
        Some(Target {
            runtime: Arc::clone(&self.runtime),
            sandbox: self.sandbox.clone()?,
            container: slot.running.as_ref()?.id.clone(),
            pod_ip: self.pod_ip.clone().unwrap_or_default(),
            ports: slot.plan.spec.ports.clone().unwrap_or_default(),
        })
    }

    /// Starts whichever containers are due: the first unfinished init container, else the app ones.
    async fn start_due(&mut self) {
        if self.deadline_exceeded {
            return;
        }
        let now = self.config.clock.now();
        let due = |s: &Slot| {
            s.running.is_none()
                && !s.blocked
                && (s.attempts == 0 || s.restart_at.is_some_and(|t| t <= now))
        };
        // Sidecars that started once restart whenever their back-off allows, in any stage.
        for i in 0..self.init.len() {
            if self.init[i].ever_started && due(&self.init[i]) {
                self.start(Key {
                    kind_order: 0,
                    index: i,
                })
                .await;
            }
        }
        // Init containers in order: a regular one must succeed, a sidecar must have started.
        for i in 0..self.init.len() {
            let s = &self.init[i];
            let done = if s.plan.is_sidecar() {
                s.ever_started
            } else {
                s.status.state.exit_code() == Some(0)
            };
            if done {
                continue;
            }
            if due(s) {
                self.start(Key {
                    kind_order: 0,
                    index: i,
                })
                .await;
            }
            // A sidecar that is started now lets the next init container go at once.
            if !(self.init[i].plan.is_sidecar() && self.init[i].ever_started) {
                return;
            }
        }
        for i in 0..self.app.len() {
            if due(&self.app[i]) {
                self.start(Key {
                    kind_order: 1,
                    index: i,
                })
                .await;
            }
            // The kubelet starts containers one by one and waits for each postStart hook.
            if self.app[i].running.as_ref().is_some_and(|r| r.post_start) {
                return;
            }
        }
    }

    async fn start(&mut self, key: Key) {
        let plan = Arc::clone(&self.plan);
        let runtime = Arc::clone(&self.runtime);
        let clock = self.config.clock.clone();
        let log = Arc::clone(&self.config.log);
        let name = self.slot_mut(key).plan.name.clone();
        let image_ref = self.slot_mut(key).plan.image.clone();

        let image = match self.slot_mut(key).image.clone() {
            Some(image) => image,
            None => match runtime.pull_image(&image_ref, &plan.base_dir).await {
                Ok(image) => {
                    self.event(
                        EventType::Normal,
                        "Pulled",
                        Some(&name),
                        format!(
                            "Container image \"{image_ref}\" already present on machine ({})",
                            image.source
                        ),
                    );
                    let slot = self.slot_mut(key);
                    slot.image = Some(image.clone());
                    slot.status.image_id = Some(image.id.clone());
                    image
                }
                Err(e) => {
                    self.event(
                        EventType::Warning,
                        "Failed",
                        Some(&name),
                        format!("Failed to pull image \"{image_ref}\": {e}"),
                    );
                    self.event(
                        EventType::Warning,
                        "Failed",
                        Some(&name),
                        "Error: ErrImagePull".into(),
                    );
                    let slot = self.slot_mut(key);
                    slot.blocked = true;
                    slot.status.state = State::waiting("ErrImagePull", Some(e.to_string()));
                    return;
                }
            },
        };

        let spec = self.slot_mut(key).plan.spec.clone();
        if let Some(message) = self.non_root_refusal(key) {
            self.config_error(key, message);
            return;
        }
        // What a container runtime refuses (an unknown capability, a profile file) fails the
        // create the same way on every backend.
        if let Some(message) = self.slot(key).plan.security.refusal() {
            self.blocked(key, "CreateContainerError", message);
            return;
        }
        let resolved = volumes::env::resolve(&plan, &self.facts, &spec)
            .and_then(|env| self.volumes.mounts(&spec, &env).map(|m| (env, m)));
        let (env, mut mounts) = match resolved {
            Ok(r) => r,
            Err(message) => {
                self.config_error(key, message);
                return;
            }
        };
        let attempt = self.slot_mut(key).attempts;
        // As the kubelet does: an empty file per container instance, mounted where the container
        // may leave its termination message.
        let message_file = self
            .pod_dir
            .join("containers")
            .join(&name)
            .join(attempt.to_string());
        let message_path = spec
            .termination_message_path
            .clone()
            .unwrap_or_else(|| termination::DEFAULT_PATH.into());
        if let Err(e) = create_message_file(&message_file) {
            self.config_error(
                key,
                format!(
                    "creating the termination message file {}: {e}",
                    message_file.display()
                ),
            );
            return;
        }
        mounts.push(Mount {
            host_path: message_file.clone(),
            sub_path: None,
            container_path: message_path,
            read_only: false,
        });
        let tail = TailLog::new(log);
        let slot = self.slot_mut(key);
        let argv: Vec<String> = plan::argv(
            slot.plan.command.as_deref(),
            slot.plan.args.as_deref(),
            &image.entrypoint,
            &image.cmd,
        )
        .iter()
        .map(|a| expand::expand(a, |n| expand::lookup(&env, n)))
        .collect();
        let config = ContainerConfig {
            name: name.clone(),
            image,
            argv,
            env,
            working_dir: slot.plan.spec.working_dir.clone(),
            memory_limit: slot.plan.memory_limit,
            cpu_limit_millis: slot
                .plan
                .spec
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref()?.get("cpu"))
                .and_then(|q| crate::manifest::parse_cpu_millis(&q.0).ok()),
            mounts,
            attempt,
            log: tail.clone(),
            security: slot.plan.security.clone(),
        };

        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let created = runtime.create_container(&sandbox, config).await;
        let now = clock.now();
        let slot = self.slot_mut(key);
        slot.attempts += 1;
        slot.restart_at = None;
        if attempt > 0 {
            slot.status.restart_count += 1;
            if let State::Terminated(t) = &slot.status.state {
                slot.status.last_state = Some(t.clone());
            }
        }
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                self.fail_start(key, now, format!("failed to create container: {e}"));
                return;
            }
        };
        self.slot_mut(key).status.container_id = Some(format!("{}://{}", runtime.name(), id));
        self.event(
            EventType::Normal,
            "Created",
            Some(&name),
            format!("Created container: {name}"),
        );
        if let Err(e) = runtime.start_container(&id).await {
            self.fail_start(key, now, format!("failed to start container: {e}"));
            return;
        }
        self.event(
            EventType::Normal,
            "Started",
            Some(&name),
            format!("Started container {name}"),
        );
        let post_start = spec.lifecycle.as_ref().and_then(|l| l.post_start.clone());
        self.slot_mut(key).running = Some(Running {
            id: id.clone(),
            attempt,
            since: now,
            post_start: post_start.is_some(),
            killing: false,
            workers: Vec::new(),
            counters: BTreeMap::new(),
            message_file,
            tail,
        });
        match post_start {
            // The container is Running only once its postStart hook is done.
            Some(hook) => {
                self.slot_mut(key).status.state = State::waiting("ContainerCreating", None);
                if let Some(target) = self.target(key) {
                    let reports = self.reports.clone();
                    let pod_ref = self.pod_ref();
                    tokio::spawn(async move {
                        let result = match Action::of_hook(&hook) {
                            Some(action) => {
                                handler::hook(action, &target, &name, &pod_ref, NO_TIMEOUT).await
                            }
                            None => Ok(()),
                        };
                        let _ = reports.send(Report::PostStart {
                            key,
                            attempt,
                            result,
                        });
                    });
                }
            }
            None => self.mark_running(key),
        }
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let status = runtime
                .wait_container(&id)
                .await
                .unwrap_or_else(|e| ExitStatus {
                    code: 255,
                    reason: ExitReason::Error,
                    message: Some(format!("lost track of the container: {e}")),
                });
            let _ = reports.send(Report::Exit {
                key,
                attempt,
                status,
            });
        });
    }

    /// The container runs (its postStart hook, if any, is done): start its probes.
    fn mark_running(&mut self, key: Key) {
        let Some(target) = self.target(key) else {
            return;
        };
        let clock = self.config.clock.clone();
        let reports = self.reports.clone();
        let slot = self.slot_mut(key);
        let Some(running) = slot.running.as_mut() else {
            return;
        };
        running.post_start = false;
        slot.status.state = State::Running {
            started_at: clock.wall(running.since),
        };
        let spec = &slot.plan.spec;
        let (since, attempt) = (running.since, running.attempt);
        let kinds: &[ProbeKind] = if spec.startup_probe.is_some() {
            // A startupProbe holds back the other probes until it succeeds.
            &[ProbeKind::Startup]
        } else {
            &[ProbeKind::Liveness, ProbeKind::Readiness]
        };
        for kind in kinds {
            if let Some(p) = kind.of(spec) {
                let worker = tokio::spawn(probe::worker(
                    *kind,
                    p.clone(),
                    target.clone(),
                    since,
                    reports.clone(),
                    move |outcome| Report::Probe {
                        key,
                        attempt,
                        outcome,
                    },
                ));
                running.workers.push((*kind, worker.abort_handle()));
            }
        }
        if spec.startup_probe.is_none() {
            self.mark_started(key);
        }
    }

    /// The container counts as started (no startupProbe, or it succeeded).
    fn mark_started(&mut self, key: Key) {
        let slot = self.slot_mut(key);
        slot.status.started = true;
        slot.ever_started = true;
        // Regular init containers are never ready while they run; others are once started,
        // unless a readiness probe says otherwise.
        slot.status.ready = slot.plan.kind == ContainerKind::App || slot.plan.is_sidecar();
        if slot.plan.spec.readiness_probe.is_some() {
            slot.status.ready = false;
        }
    }

    /// The kubelet's verifyRunAsNonRoot: with `runAsNonRoot`, a container must name a non-zero
    /// `runAsUser`, since every image wpod runs has no USER of its own (it would run as root).
    fn non_root_refusal(&self, key: Key) -> Option<String> {
        let plan = &self.slot(key).plan;
        if !plan.run_as_non_root {
            return None;
        }
        let (pod, name) = (self.pod_ref(), &plan.name);
        match plan.security.run_as_user {
            Some(0) => Some(format!(
                "container's runAsUser breaks non-root policy (pod: \"{pod}\", container: {name})"
            )),
            Some(_) => None,
            None => Some(format!(
                "container has runAsNonRoot and image will run as root (pod: \"{pod}\", container: {name})"
            )),
        }
    }

    /// The container's config cannot be generated (a missing ConfigMap key, a bad subPathExpr):
    /// it waits with CreateContainerConfigError.
    fn config_error(&mut self, key: Key, message: String) {
        self.blocked(key, "CreateContainerConfigError", message);
    }

    /// The container cannot be created and never will be in this run: it waits with `reason`.
    fn blocked(&mut self, key: Key, reason: &str, message: String) {
        let name = self.slot_mut(key).plan.name.clone();
        self.event(
            EventType::Warning,
            "Failed",
            Some(&name),
            format!("Error: {message}"),
        );
        let slot = self.slot_mut(key);
        slot.blocked = true;
        slot.status.state = State::waiting(reason, Some(message));
    }

    /// A container that could not start ends like Kubernetes' StartError: exit 128.
    fn fail_start(&mut self, key: Key, now: Instant, message: String) {
        let name = self.slot_mut(key).plan.name.clone();
        self.event(
            EventType::Warning,
            "Failed",
            Some(&name),
            format!("Error: {message}"),
        );
        self.record_exit(
            key,
            now,
            now,
            ExitStatus {
                code: 128,
                reason: ExitReason::StartError,
                message: Some(message),
            },
        );
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::Exit {
                key,
                attempt,
                status,
            } => self.on_exit(key, attempt, status),
            Report::PostStart {
                key,
                attempt,
                result,
            } => {
                if !self.is_current(key, attempt) {
                    return;
                }
                match result {
                    Ok(()) => self.mark_running(key),
                    Err(message) => {
                        let name = self.slot(key).plan.name.clone();
                        self.event(
                            EventType::Warning,
                            "FailedPostStartHook",
                            Some(&name),
                            message,
                        );
                        let grace = self.plan.grace_period;
                        self.kill(key, "FailedPostStartHook".into(), grace);
                    }
                }
            }
            Report::Probe {
                key,
                attempt,
                outcome,
            } => self.on_probe(key, attempt, outcome),
        }
    }

    /// Whether `attempt` is the instance of the container that runs now.
    fn is_current(&self, key: Key, attempt: u32) -> bool {
        self.slot(key)
            .running
            .as_ref()
            .is_some_and(|r| r.attempt == attempt)
    }

    fn on_probe(&mut self, key: Key, attempt: u32, outcome: ProbeOutcome) {
        if !self.is_current(key, attempt) {
            return;
        }
        let kind = outcome.kind;
        let name = self.slot(key).plan.name.clone();
        let Some(probe) = kind.of(&self.slot(key).plan.spec).cloned() else {
            return;
        };
        let timings = Timings::of(&probe);
        let policy = if self.slot(key).plan.is_sidecar() {
            RestartPolicy::Always
        } else {
            self.plan.policy_for(self.slot(key).plan.kind)
        };
        let grace = timings.grace.unwrap_or(self.plan.grace_period);
        let passed = match &outcome.result {
            ProbeResult::Success => true,
            ProbeResult::Failure(message) => {
                self.event(
                    EventType::Warning,
                    "Unhealthy",
                    Some(&name),
                    format!("{} probe failed: {message}", kind.title()),
                );
                false
            }
            ProbeResult::Error(message) => {
                self.event(
                    EventType::Warning,
                    "Unhealthy",
                    Some(&name),
                    format!("{} probe errored: {message}", kind.title()),
                );
                return;
            }
        };
        let slot = self.slot_mut(key);
        let Some(running) = slot.running.as_mut() else {
            return;
        };
        let changed = running
            .counters
            .entry(kind)
            .or_default()
            .record(passed, &timings);
        let Some(ok) = changed else {
            return;
        };
        match (kind, ok) {
            (ProbeKind::Readiness, ready) => {
                slot.status.ready = ready && slot.status.started;
            }
            (ProbeKind::Startup, true) => {
                running.abort(&[ProbeKind::Startup]);
                self.mark_started(key);
                let Some(target) = self.target(key) else {
                    return;
                };
                let reports = self.reports.clone();
                let slot = self.slot_mut(key);
                let Some(running) = slot.running.as_mut() else {
                    return;
                };
                for kind in [ProbeKind::Liveness, ProbeKind::Readiness] {
                    if let Some(p) = kind.of(&slot.plan.spec) {
                        let worker = tokio::spawn(probe::worker(
                            kind,
                            p.clone(),
                            target.clone(),
                            running.since,
                            reports.clone(),
                            move |outcome| Report::Probe {
                                key,
                                attempt,
                                outcome,
                            },
                        ));
                        running.workers.push((kind, worker.abort_handle()));
                    }
                }
            }
            (ProbeKind::Liveness, true) => {}
            (ProbeKind::Liveness | ProbeKind::Startup, false) => {
                if running.killing {
                    return;
                }
                let mut message = format!(
                    "Container {name} failed {} probe",
                    kind.title().to_lowercase()
                );
                // A killed container exits with 137, which every policy but Never restarts.
                if policy != RestartPolicy::Never {
                    message.push_str(", will be restarted");
                }
                self.kill(key, message, grace);
            }
        }
    }

    /// A management kill of one container (failed probe or hook): preStop, then stop; the
    /// restart policy applies to its exit.
    fn kill(&mut self, key: Key, message: String, grace: Duration) {
        let Some(target) = self.target(key) else {
            return;
        };
        let pod_ref = self.pod_ref();
        let rec = self.rec.clone();
        let slot = self.slot_mut(key);
        let Some(running) = slot.running.as_mut() else {
            return;
        };
        running.killing = true;
        running.abort(&[ProbeKind::Liveness, ProbeKind::Startup]);
        let job = StopJob {
            name: slot.plan.name.clone(),
            id: running.id.clone(),
            message,
            pre_stop: slot
                .plan
                .spec
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.clone()),
            target,
            minimum: MIN_GRACE,
        };
        let deadline = clock::later(Instant::now(), grace);
        job.announce(&rec);
        tokio::spawn(job.run(rec, pod_ref, deadline, None));
    }

    fn on_exit(&mut self, key: Key, attempt: u32, status: ExitStatus) {
        let slot = self.slot_mut(key);
        // An exit of an earlier attempt was already dealt with (a failed start, say).
        if slot.attempts != attempt + 1 {
            return;
        }
        let Some(running) = slot.running.take() else {
            return;
        };
        let fallback =
            slot.plan.spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
        if status.reason == ExitReason::OomKilled {
            // Kubernetes records this on the node (node-problem-detector's kernel monitor); wpod
            // has no node object, so it goes with the pod's events.
            let name = slot.plan.name.clone();
            let why = status
                .message
                .as_deref()
                .unwrap_or("its memory limit was reached");
            self.event(
                EventType::Warning,
                "OOMKilling",
                Some(&name),
                format!("Memory cgroup out of memory: killed container {name:?} ({why})"),
            );
        }
        let mut status = status;
        if let Some(m) =
            termination::message(&running.message_file, fallback, status.code, &running.tail)
        {
            status.message = Some(m);
        }
        let runtime = Arc::clone(&self.runtime);
        let id = running.id.clone();
        tokio::spawn(async move {
            // Removal frees the instance; a failure here changes nothing the user can observe.
            let _ = runtime.remove_container(&id).await;
        });
        let now = self.config.clock.now();
        self.record_exit(key, running.since, now, status);
    }

    fn record_exit(&mut self, key: Key, since: Instant, now: Instant, exit: ExitStatus) {
        let clock = self.config.clock.clone();
        let kind = self.slot_mut(key).plan.kind;
        // Sidecars always restart, whatever the pod's policy.
        let policy = if self.slot_mut(key).plan.is_sidecar() {
            RestartPolicy::Always
        } else {
            self.plan.policy_for(kind)
        };
        let backoff = self.config.backoff;
        let terminating = self.terminating || self.deadline_exceeded;
        let pod_ref = format!(
            "{}_{}({})",
            self.plan.name, self.plan.namespace, self.plan.uid
        );
        let events = Arc::clone(&self.config.events);
        let pod_name = self.plan.name.clone();
        let slot = self.slot_mut(key);
        let terminated = Terminated {
            exit_code: exit.code,
            reason: exit.reason.as_str().to_string(),
            message: exit.message,
            started_at: Some(clock.wall(since)),
            finished_at: clock.wall(now),
            container_id: slot.status.container_id.clone(),
        };
        events.exited(&pod_name, &slot.plan.name, &terminated);
        // A completed init container counts as ready; nothing else that exited does.
        slot.status.ready =
            kind == ContainerKind::Init && !slot.plan.is_sidecar() && exit.code == 0;
        slot.status.started = false;
        if terminating || !policy.restarts(exit.code) {
            slot.status.state = State::Terminated(terminated);
            return;
        }
        let wait = slot
            .backoff
            .on_exit(backoff, now.saturating_duration_since(since));
        slot.restart_at = Some(clock::later(now, wait));
        if wait.is_zero() {
            slot.status.state = State::Terminated(terminated);
            return;
        }
        let name = slot.plan.name.clone();
        slot.status.last_state = Some(terminated);
        slot.status.state = State::waiting(
            "CrashLoopBackOff",
            Some(format!(
                "back-off {} restarting failed container={name} pod={pod_ref}",
                go_duration(wait)
            )),
        );
        self.event(
            EventType::Warning,
            "BackOff",
            Some(&name),
            format!("Back-off restarting failed container {name} in pod {pod_ref}"),
        );
    }

    fn next_timer(&self) -> Option<Instant> {
        let restarts = self.slots().filter_map(|s| s.restart_at).min();
        let deadline = self
            .deadline_at
            .filter(|_| !self.deadline_exceeded && !self.terminating);
        let usage = self.usage_check_at.filter(|_| !self.terminating);
        [restarts, deadline, usage].into_iter().flatten().min()
    }

    fn on_timer(&mut self) {
        let now = self.config.clock.now();
        if let Some(at) = self.usage_check_at
            && at <= now
            && !self.terminating
        {
            self.usage_check_at = Some(clock::later(now, USAGE_CHECK_PERIOD));
            if let Some((volume, limit)) = self.volumes.over_limit() {
                // The eviction manager kills at once (grace period 0) and fails the pod.
                let message =
                    format!("Usage of EmptyDir volume {volume:?} exceeds the limit {limit:?}.");
                self.event(EventType::Warning, "Evicted", None, message.clone());
                self.evicted = Some(message);
                self.usage_check_at = None;
                self.stop_all(StopMode::Kill);
                return;
            }
        }
        if !self.deadline_exceeded && self.deadline_at.is_some_and(|d| d <= now) {
            self.deadline_exceeded = true;
            self.event(
                EventType::Normal,
                "DeadlineExceeded",
                None,
                "Pod was active on the node longer than the specified deadline".into(),
            );
            self.stop_all(StopMode::Graceful);
        }
    }

    /// Stops every running container as the kubelet does: the app containers (and a running
    /// regular init container) at once, then the sidecars in reverse order, each after the
    /// previous one exited, all within one grace period. Every preStop hook starts at once.
    fn stop_all(&mut self, mode: StopMode) {
        self.terminating = true;
        let grace = match mode {
            StopMode::Graceful => self.plan.grace_period,
            StopMode::Kill => Duration::ZERO,
        };
        for slot in self.init.iter_mut().chain(self.app.iter_mut()) {
            slot.restart_at = None;
        }
        let key = |kind_order, index| Key { kind_order, index };
        let first: Vec<Key> = (0..self.app.len())
            .map(|i| key(1, i))
            .chain(
                (0..self.init.len())
                    .filter(|i| !self.init[*i].plan.is_sidecar())
                    .map(|i| key(0, i)),
            )
            .collect();
        let sidecars: Vec<Key> = (0..self.init.len())
            .rev()
            .filter(|i| self.init[*i].plan.is_sidecar())
            .map(|i| key(0, i))
            .collect();
        let mut jobs = |keys: Vec<Key>| -> Vec<StopJob> {
            keys.into_iter()
                .filter_map(|k| {
                    let target = self.target(k)?;
                    let slot = self.slot_mut(k);
                    let running = slot.running.as_mut()?;
                    let name = slot.plan.name.clone();
                    // Liveness stops during termination; readiness goes on.
                    running.abort(&[ProbeKind::Liveness, ProbeKind::Startup]);
                    // A container already being killed has had its preStop hook.
                    let pre_stop = if running.killing || mode == StopMode::Kill {
                        None
                    } else {
                        slot.plan
                            .spec
                            .lifecycle
                            .as_ref()
                            .and_then(|l| l.pre_stop.clone())
                    };
                    running.killing = true;
                    Some(StopJob {
                        message: match mode {
                            StopMode::Graceful => format!(
                                "Stopping container {name} (grace period {}s)",
                                grace.as_secs()
                            ),
                            StopMode::Kill => format!("Killing container {name} now"),
                        },
                        name,
                        id: running.id.clone(),
                        pre_stop,
                        target,
                        minimum: match mode {
                            StopMode::Graceful => MIN_GRACE,
                            StopMode::Kill => Duration::ZERO,
                        },
                    })
                })
                .collect()
        };
        let first = jobs(first);
        let sidecars = jobs(sidecars);
        let (rec, pod_ref) = (self.rec.clone(), self.pod_ref());
        for job in first.iter().chain(&sidecars) {
            job.announce(&rec);
        }
        let deadline = clock::later(Instant::now(), grace);
        // As the kubelet does: every container gets its Killing event and preStop hook at once;
        // a sidecar is stopped once the app containers and the sidecars after it have exited.
        tokio::spawn(async move {
            let mut apps = tokio::task::JoinSet::new();
            for job in first {
                apps.spawn(job.run(rec.clone(), pod_ref.clone(), deadline, None));
            }
            let (apps_done, mut turn) = oneshot::channel();
            let mut rest = tokio::task::JoinSet::new();
            for job in sidecars {
                let (done, next) = oneshot::channel();
                let mine = std::mem::replace(&mut turn, next);
                let (rec, pod_ref) = (rec.clone(), pod_ref.clone());
                rest.spawn(async move {
                    job.run(rec, pod_ref, deadline, Some(mine)).await;
                    let _ = done.send(());
                });
            }
            while apps.join_next().await.is_some() {}
            let _ = apps_done.send(());
            while rest.join_next().await.is_some() {}
        });
    }

    /// Once the app containers are done for good (or a regular init container failed for
    /// good), the sidecars have nothing left to serve: the pod stops them and ends.
    fn stop_sidecars_when_done(&mut self) {
        let sidecar_left = self
            .init
            .iter()
            .any(|s| s.plan.is_sidecar() && (s.running.is_some() || s.restart_at.is_some()));
        if !sidecar_left {
            return;
        }
        let finished = |s: &Slot| {
            s.running.is_none()
                && s.restart_at.is_none()
                && matches!(s.status.state, State::Terminated(_))
        };
        let apps_done = self.app.iter().all(finished);
        let init_failed = self
            .init
            .iter()
            .any(|s| !s.plan.is_sidecar() && finished(s) && s.status.state.exit_code() != Some(0));
        if apps_done || init_failed {
            self.stop_all(StopMode::Graceful);
        }
    }

    fn nothing_left_to_do(&self) -> bool {
        self.slots()
            .all(|s| s.running.is_none() && s.restart_at.is_none())
            && (self.terminating
                || self.deadline_exceeded
                || self.evicted.is_some()
                || self.current_phase().is_terminal()
                || !self.slots().any(|s| self.startable(s)))
    }

    /// Whether start_due could still start this container.
    fn startable(&self, s: &Slot) -> bool {
        s.attempts == 0 && !s.blocked && {
            // App containers wait for every init container to succeed (or, for a sidecar, start).
            s.plan.kind == ContainerKind::Init
                || self.init.iter().all(|i| {
                    i.status.state.exit_code() == Some(0) || (i.plan.is_sidecar() && i.ever_started)
                })
        }
    }

    fn stuck_reason(&self) -> String {
        let waiting: Vec<String> = self
            .slots()
            .filter_map(|s| match &s.status.state {
                State::Waiting { reason, message } => Some(match message {
                    Some(m) => format!("{}: {reason}: {m}", s.plan.name),
                    None => format!("{}: {reason}", s.plan.name),
                }),
                _ => None,
            })
            .collect();
        if waiting.is_empty() {
            "the pod cannot make progress".into()
        } else {
            waiting.join("; ")
        }
    }

    fn current_phase(&self) -> Phase {
        let init: Vec<ContainerStatus> = self.init.iter().map(|s| s.status.clone()).collect();
        let app: Vec<ContainerStatus> = self.app.iter().map(|s| s.status.clone()).collect();
        if self.deadline_exceeded || self.evicted.is_some() {
            return Phase::Failed;
        }
        let torn_down = self.terminating && self.slots().all(|s| s.running.is_none());
        let phase = status::phase(self.plan.restart_policy, &init, &app, torn_down);
        // A pod torn down before it could finish ends Failed, as the kubelet reports deleted pods.
        if torn_down && !phase.is_terminal() {
            return Phase::Failed;
        }
        // A terminal phase stays terminal.
        match self.phase {
            Some(p) if p.is_terminal() => p,
            _ => phase,
        }
    }

    fn publish(&mut self, tx: &watch::Sender<api::Pod>) {
        let phase = self.current_phase();
        if self.phase != Some(phase) {
            self.config.events.phase(&self.plan.name, self.phase, phase);
            self.phase = Some(phase);
        }
        let now = self.config.clock.wall(self.config.clock.now());
        let init: Vec<ContainerStatus> = self.init.iter().map(|s| s.status.clone()).collect();
        let app: Vec<ContainerStatus> = self.app.iter().map(|s| s.status.clone()).collect();
        for c in status::conditions(phase, self.sandbox.is_some(), &init, &app) {
            match self.conditions.get(c.type_) {
                Some((old, _)) if old.status == c.status => {
                    let since = self.conditions[c.type_].1;
                    self.conditions.insert(c.type_, (c, since));
                }
                _ => {
                    self.conditions.insert(c.type_, (c, now));
                }
            }
        }
        tx.send_replace(self.api_pod());
    }

    /// The pod as `kubectl get pod -o json` would show it.
    fn api_pod(&self) -> api::Pod {
        let mut pod = self.plan.manifest.clone();
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(NODE_NAME.into());
        let phase = self.phase.unwrap_or(Phase::Pending);
        let (reason, message) = if let Some(m) = &self.evicted {
            (Some("Evicted".to_string()), Some(m.clone()))
        } else if self.deadline_exceeded {
            (
                Some("DeadlineExceeded".to_string()),
                Some("Pod was active on the node longer than the specified deadline".to_string()),
            )
        } else {
            (None, None)
        };
        let order = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ];
        let mut init: Vec<_> = self
            .init
            .iter()
            .chain(&self.app)
            .map(|s| s.status.to_api())
            .collect();
        status::cap_termination_messages(&mut init);
        let app = init.split_off(self.init.len());
        pod.status = Some(api::PodStatus {
            phase: Some(phase.as_str().into()),
            conditions: Some(
                order
                    .iter()
                    .filter_map(|t| self.conditions.get(t))
                    .map(|(c, since)| status::condition_api(c, *since))
                    .collect(),
            ),
            host_ip: Some(HOST_IP.into()),
            host_ips: Some(vec![api::HostIP { ip: HOST_IP.into() }]),
            pod_ip: self.pod_ip.clone(),
            pod_ips: self
                .pod_ip
                .as_ref()
                .map(|ip| vec![api::PodIP { ip: ip.clone() }]),
            start_time: self
                .started_at
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            init_container_statuses: (!init.is_empty()).then_some(init),
            container_statuses: Some(app),
            qos_class: Some(qos_class(&self.plan.manifest).into()),
            reason,
            message,
            ..Default::default()
        });
        pod
    }
}

/// An empty file the container can write (whatever user it runs as), like the kubelet's.
fn create_message_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, b"")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Formats like Go's time.Duration, which is how the kubelet writes back-off messages (`1m20s`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Guaranteed when every container has equal cpu and memory requests and limits, BestEffort
/// when none sets any, Burstable otherwise.
fn qos_class(pod: &api::Pod) -> &'static str {
    let containers: Vec<&api::Container> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .collect();
    let resources = |c: &api::Container| c.resources.clone().unwrap_or_default();
    let any = containers.iter().any(|c| {
        let r = resources(c);
        r.limits.is_some_and(|l| !l.is_empty()) || r.requests.is_some_and(|l| !l.is_empty())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let r = resources(c);
        let limits = r.limits.unwrap_or_default();
        let requests = r.requests.unwrap_or_default();
        // A request left out defaults to the limit.
        ["cpu", "memory"]
            .iter()
            .all(|k| match (limits.get(*k), requests.get(*k)) {
                (Some(limit), Some(request)) => limit == request,
                (Some(_), None) => true,
                (None, _) => false,
            })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
