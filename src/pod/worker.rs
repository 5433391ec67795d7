//! One pod's worker: the loop that asks `actions` what is next, performs it, and waits for a
//! report (a container exit, a postStart hook's end, a probe result), a timer or a command (the
//! kubelet's podWorkers + SyncPod). Each rule lives in the file named for it: `actions` (what to
//! do next), `start`, `restart`, `probe_results`, `termination_order`, `eviction`, `status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::actions::{self, ContainerState, Key, PodState, Termination};
use super::backoff::{Backoff, BackoffPolicy};
use super::clock::{self, Clock};
use super::events::{Event, EventSink, EventType};
use super::handler::Target;
use super::probe::{Counter, ProbeKind, ProbeOutcome};
use super::status::{self, ContainerStatus, Phase};
use super::termination_message::TailLog;
use crate::node::NODE_NAME;
use crate::plan::{ContainerPlan, PodPlan};
use crate::runtime::{
    ContainerId, ExitStatus, ImageInfo, LogSink, RuntimeService, SandboxConfig, SandboxId,
};
use crate::volumes::{self, PodVolumes, downward::PodFacts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Like `kubectl delete`: stop within the grace period, then kill.
    Graceful,
    /// Kill what still runs, now.
    Kill,
}

/// What a pod's worker is told from outside.
#[derive(Debug)]
pub enum Command {
    /// Stop the pod (Ctrl-C, `--timeout`): its grace period, or a kill.
    Stop(StopMode),
    /// Graceful deletion: preStop hooks, TERM, the grace period (the pod's unless given), KILL;
    /// `metadata.deletionTimestamp` shows when the kill is due.
    Delete { grace: Option<Duration> },
    /// A new version of the pod. Only container images may change (as the API server allows); a
    /// container whose image changed is restarted with the new one.
    Update(Box<PodPlan>),
    /// Kill the pod's infra container, as `kill -9` of a pause process on a node does (for
    /// teaching): the kubelet notices, stops the containers and recreates the sandbox.
    KillInfra,
    /// Where a container of the pod runs now (for exec and port forwarding); `container` None
    /// asks for the sandbox only.
    Locate {
        container: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<Located, String>>,
    },
    /// Make a container's probe of `kind` fail (or pass its own way again), as a broken health
    /// endpoint would (for teaching): the probe keeps running on its schedule and the kubelet's
    /// rules decide what the failures do. Errs when the container has no such probe.
    FailProbe {
        container: String,
        kind: ProbeKind,
        fail: bool,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

/// A running container of the pod (or only its sandbox), as the runtime knows it.
#[derive(Clone, Debug)]
pub struct Located {
    pub sandbox: SandboxId,
    pub container: Option<ContainerId>,
}

/// How a pod's run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The pod reached Succeeded or Failed on its own.
    Completed(Phase),
    /// It was stopped or deleted from outside with this phase.
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
    /// The Services whose variables the containers get.
    pub services: Arc<crate::net::services::Services>,
    /// The API server's TokenRequest for service account tokens (`wpod serve`).
    pub tokens: Option<Arc<dyn crate::plan::service_account::TokenIssuer>>,
    /// A failed pull is tried again with back-off, as the kubelet does (`wpod serve`); else the
    /// container stays in ErrImagePull and a run gives up on the pod.
    pub retry_pulls: bool,
}

/// The kubelet's minimumGracePeriodInSeconds: a graceful stop never kills sooner than this after
/// the TERM, even when the grace period (or what a preStop hook or the wait for a sidecar's turn
/// left of it) is shorter.
pub(super) const MIN_GRACE: Duration = Duration::from_secs(2);

/// A running pod: its live status and a way to command it.
pub struct PodHandle {
    pub name: String,
    pub status: watch::Receiver<api::Pod>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<Outcome>,
}

impl PodHandle {
    pub fn stop(&self, mode: StopMode) {
        self.send(Command::Stop(mode));
    }

    /// Sends a command; a pod that already finished has nothing left to do with it.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A handle for commanding the pod while something else awaits it.
    pub fn commands(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }

    pub async fn wait(self) -> Outcome {
        self.task
            .await
            .unwrap_or_else(|e| Outcome::RuntimeFailed(format!("pod task failed: {e}")))
    }
}

/// Starts the pod's worker in the background.
pub fn spawn(plan: PodPlan, runtime: Arc<dyn RuntimeService>, config: KubeletConfig) -> PodHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let worker = PodWorker::new(plan, runtime, config, report_tx);
    worker.status_tx.send_replace(worker.api_pod());
    let status_rx = worker.status_tx.subscribe();
    let name = worker.plan.name.clone();
    let task = tokio::spawn(worker.run(command_rx, report_rx));
    PodHandle {
        name,
        status: status_rx,
        commands: command_tx,
        task,
    }
}

/// What the worker's helper tasks report about one container instance (`attempt`).
pub(super) enum Report {
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
    /// The infra container of this sandbox ended.
    SandboxEnded(SandboxId),
}

/// A container instance the runtime runs.
pub(super) struct Running {
    pub(super) id: ContainerId,
    pub(super) attempt: u32,
    pub(super) since: Instant,
    /// The postStart hook still runs: the container shows ContainerCreating.
    pub(super) post_start: bool,
    /// A management stop (failed probe or hook, changed image, pod shutdown) is under way.
    pub(super) killing: bool,
    /// Probe workers, aborted with the instance.
    pub(super) workers: Vec<(ProbeKind, tokio::task::AbortHandle)>,
    pub(super) counters: BTreeMap<ProbeKind, Counter>,
    /// The host file mounted at terminationMessagePath.
    pub(super) message_file: PathBuf,
    pub(super) tail: Arc<TailLog>,
}

impl Running {
    pub(super) fn abort(&mut self, kinds: &[ProbeKind]) {
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

/// Records events, also from the worker's helper tasks.
#[derive(Clone)]
pub(super) struct Recorder {
    events: Arc<dyn EventSink>,
    clock: Clock,
    pod: String,
}

impl Recorder {
    pub(super) fn event(
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

pub(super) struct Slot {
    pub(super) plan: ContainerPlan,
    pub(super) status: ContainerStatus,
    pub(super) backoff: Backoff,
    pub(super) attempts: u32,
    pub(super) restart_at: Option<Instant>,
    pub(super) running: Option<Running>,
    /// A sidecar that started once: the next init container may go.
    pub(super) ever_started: bool,
    pub(super) image: Option<ImageInfo>,
    /// The container cannot be created (ErrImagePull, CreateContainerConfigError): nothing it
    /// depends on changes while it runs, unless an update gives it a new image.
    pub(super) blocked: bool,
    /// Its definition changed (a new image): the next exit restarts it whatever the policy.
    pub(super) changed: bool,
    /// An init container to run again in a recreated sandbox.
    pub(super) rerun: bool,
    /// The image manager's back-off for this container's image (`wpod serve`).
    pub(super) pull_backoff: Backoff,
    /// A failed pull: when the next may go. Until then the container is in ImagePullBackOff.
    pub(super) pull_retry_at: Option<Instant>,
}

impl Slot {
    fn state(&self) -> ContainerState {
        ContainerState {
            sidecar: self.plan.sidecar,
            running: self.running.is_some(),
            post_start_pending: self.running.as_ref().is_some_and(|r| r.post_start),
            blocked: self.blocked,
            attempts: self.attempts,
            restart_at: self.restart_at,
            ever_started: self.ever_started,
            exit_code: self.status.state.exit_code(),
            rerun: self.rerun,
        }
    }
}

pub(super) struct PodWorker {
    pub(super) plan: Arc<PodPlan>,
    pub(super) runtime: Arc<dyn RuntimeService>,
    pub(super) config: KubeletConfig,
    pub(super) reports: mpsc::UnboundedSender<Report>,
    /// The pod's API status, as the node and the API server read it.
    pub(super) status_tx: watch::Sender<api::Pod>,
    pub(super) rec: Recorder,
    pub(super) pod_dir: PathBuf,
    pub(super) sandbox: Option<SandboxId>,
    /// Waits for the sandbox's infra container to end (aborted with the sandbox).
    sandbox_watch: Option<tokio::task::AbortHandle>,
    /// The sandbox's infra container ended: the containers are being stopped before a new one.
    pub(super) sandbox_changed: bool,
    /// Why the pod's run failed where no container did (a sandbox that could not be recreated).
    failure: Option<Outcome>,
    pub(super) pod_ip: Option<String>,
    pub(super) init: Vec<Slot>,
    pub(super) app: Vec<Slot>,
    pub(super) started_at: Option<Timestamp>,
    /// When the worker started the pod: its active deadline counts from here.
    pub(super) started: Option<Instant>,
    pub(super) deadline_at: Option<Instant>,
    pub(super) deadline_exceeded: bool,
    pub(super) terminating: bool,
    /// Set by a graceful deletion: when the pod is due to be killed.
    pub(super) deletion: Option<(Timestamp, Duration)>,
    pub(super) phase: Option<Phase>,
    pub(super) conditions: BTreeMap<&'static str, (status::Condition, Timestamp)>,
    pub(super) volumes: PodVolumes,
    /// When emptyDir usage is checked next (only for pods with a sizeLimit).
    pub(super) usage_check_at: Option<Instant>,
    /// When the projected service account tokens are fetched again.
    pub(super) token_refresh_at: Option<Instant>,
    /// Why the pod was evicted, if it was.
    pub(super) evicted: Option<String>,
    /// The probes (container, kind) made to fail on request.
    pub(super) failing: BTreeSet<(String, ProbeKind)>,
}

impl PodWorker {
    fn new(
        plan: PodPlan,
        runtime: Arc<dyn RuntimeService>,
        config: KubeletConfig,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Self {
        let app_waiting = if plan.init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        PodWorker {
            init: plan
                .init_containers
                .iter()
                .map(|c| Slot::new(c, "PodInitializing"))
                .collect(),
            app: plan
                .containers
                .iter()
                .map(|c| Slot::new(c, app_waiting))
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
            status_tx: watch::Sender::new(api::Pod::default()),
            sandbox: None,
            sandbox_watch: None,
            sandbox_changed: false,
            failure: None,
            pod_ip: None,
            started_at: None,
            started: None,
            deadline_at: None,
            deadline_exceeded: false,
            terminating: false,
            deletion: None,
            phase: None,
            conditions: BTreeMap::new(),
            volumes: PodVolumes::default(),
            usage_check_at: None,
            token_refresh_at: None,
            evicted: None,
            failing: BTreeSet::new(),
        }
    }

    /// SyncPod's steps for a new pod (volumes, then the sandbox), then the worker's loop, then
    /// the teardown of the sandbox and the pod's directory.
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut reports: mpsc::UnboundedReceiver<Report>,
    ) -> Outcome {
        let now = self.config.clock.now();
        self.started_at = Some(self.config.clock.wall(now));
        self.started = Some(now);
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
        let pod_dir = self.pod_dir.clone();
        if let Err(outcome) = self.setup().await {
            volumes::cleanup(&pod_dir, self.config.keep_volumes);
            return outcome;
        }
        self.publish();
        let mut stopped = false;
        loop {
            let actions = actions::compute_actions(&self.state(), self.config.clock.now());
            if actions.upkeep {
                self.volume_upkeep();
                continue;
            }
            match actions.terminate {
                Some(Termination::DeadlineExceeded) => {
                    self.deadline_exceeded();
                    continue;
                }
                Some(Termination::SidecarsDone) => {
                    self.stop_all(StopMode::Graceful, self.plan.grace_period);
                    continue;
                }
                None => {}
            }
            if let Some(key) = actions.start {
                self.start(key).await;
                continue;
            }
            if actions.recreate_sandbox {
                self.recreate_sandbox().await;
                continue;
            }
            self.publish();
            if actions.finished {
                break;
            }
            tokio::select! {
                Some(report) = reports.recv() => self.on_report(report),
                _ = sleep_until(actions.wake_at) => {},
                Some(command) = commands.recv() => {
                    let stops = matches!(command, Command::Stop(_) | Command::Delete { .. });
                    self.on_command(command, stopped);
                    stopped |= stops;
                }
            }
        }
        let outcome = self.teardown().await.or(self.failure.take());
        volumes::cleanup(&pod_dir, self.config.keep_volumes);
        let phase = self.current_phase();
        match outcome {
            Some(failed) => failed,
            None if stopped => Outcome::Stopped(phase),
            None if phase.is_terminal() => Outcome::Completed(phase),
            None => Outcome::Stuck(self.stuck_reason()),
        }
    }

    /// As the kubelet does, every volume is set up before the sandbox and any container.
    async fn setup(&mut self) -> Result<(), Outcome> {
        let now = self.config.clock.now();
        let (prepared, failed) = volumes::setup(&self.plan, &self.facts(), &self.pod_dir);
        self.volumes = prepared;
        if !failed.is_empty() {
            for f in &failed {
                self.event(EventType::Warning, "FailedMount", None, f.event_message());
            }
            self.publish();
            let why: Vec<String> = failed.iter().map(|f| f.event_message()).collect();
            return Err(Outcome::Stuck(why.join("; ")));
        }
        if self.volumes.has_limits() {
            self.usage_check_at = Some(clock::later(now, super::eviction::USAGE_CHECK_PERIOD));
        }
        self.token_refresh_at = self.volumes.tokens_due().map(|d| clock::later(now, d));
        if let Err(e) = self.create_sandbox().await {
            self.publish();
            return Err(Outcome::RuntimeFailed(e));
        }
        Ok(())
    }

    /// RunPodSandbox, then a watch on its infra container. Its error is for the pod's outcome.
    async fn create_sandbox(&mut self) -> Result<(), String> {
        let sandbox = SandboxConfig {
            pod_name: self.plan.name.clone(),
            namespace: self.plan.namespace.clone(),
            uid: self.plan.uid.clone(),
            hostname: self.plan.hostname.clone(),
            host_network: self.plan.host_network,
            share_process_namespace: self.plan.share_process_namespace,
            state_dir: self.pod_dir.join("sandbox"),
            port_mappings: self.plan.host_ports.clone(),
            dns: self.plan.dns.clone(),
            hosts: self.plan.hosts.clone(),
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
                let (runtime, reports, watched) =
                    (Arc::clone(&self.runtime), self.reports.clone(), id.clone());
                let watch = tokio::spawn(async move {
                    if runtime.wait_pod_sandbox(&watched).await.is_ok() {
                        let _ = reports.send(Report::SandboxEnded(watched));
                    }
                });
                self.sandbox_watch = Some(watch.abort_handle());
                self.sandbox = Some(id);
                Ok(())
            }
            Err(e) => {
                self.event(
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    None,
                    format!("Failed to create pod sandbox: {e}"),
                );
                Err(format!("creating the pod sandbox failed: {e}"))
            }
        }
    }

    /// The infra container of the current sandbox ended by itself: as the kubelet's next sync
    /// does, say so and stop every container within the grace period (their exits follow the
    /// restart policy); the sandbox is recreated once none runs.
    pub(super) fn on_sandbox_ended(&mut self, id: SandboxId) {
        if self.terminating || self.sandbox_changed || self.sandbox.as_ref() != Some(&id) {
            return;
        }
        self.sandbox_changed = true;
        self.event(
            EventType::Normal,
            "SandboxChanged",
            None,
            "Pod sandbox changed, it will be killed and re-created.".into(),
        );
        self.stop_in_order(StopMode::Graceful, self.plan.grace_period);
    }

    /// Replaces a sandbox whose infra ended by a new one (a new IP, perhaps), from the first init
    /// container on, as the kubelet's SyncPod does after a SandboxChanged.
    async fn recreate_sandbox(&mut self) {
        if let Some(failed) = self.teardown().await {
            self.failure = Some(failed);
            self.terminating = true;
            return;
        }
        self.sandbox_changed = false;
        for slot in &mut self.init {
            slot.rerun = true;
        }
        if let Err(e) = self.create_sandbox().await {
            self.failure = Some(Outcome::RuntimeFailed(e));
            self.terminating = true;
        }
    }

    async fn teardown(&mut self) -> Option<Outcome> {
        if let Some(watch) = self.sandbox_watch.take() {
            watch.abort();
        }
        let id = self.sandbox.take()?;
        if let Err(e) = self.runtime.stop_pod_sandbox(&id).await {
            return Some(Outcome::RuntimeFailed(format!(
                "stopping the pod sandbox failed: {e}"
            )));
        }
        if let Err(e) = self.runtime.remove_pod_sandbox(&id).await {
            return Some(Outcome::RuntimeFailed(format!(
                "removing the pod sandbox failed: {e}"
            )));
        }
        None
    }

    fn on_command(&mut self, command: Command, stopped: bool) {
        match command {
            // A second graceful stop changes nothing; a kill always goes through.
            Command::Stop(StopMode::Graceful) | Command::Delete { .. } if stopped => {}
            Command::Stop(mode) => {
                let grace = match mode {
                    StopMode::Graceful => self.plan.grace_period,
                    StopMode::Kill => Duration::ZERO,
                };
                self.stop_all(mode, grace);
            }
            Command::Delete { grace } => {
                let grace = grace.unwrap_or(self.plan.grace_period);
                let now = self.config.clock.now();
                let due = self.config.clock.wall(clock::later(now, grace));
                self.deletion = Some((due, grace));
                let mode = if grace.is_zero() {
                    StopMode::Kill
                } else {
                    StopMode::Graceful
                };
                self.stop_all(mode, grace);
            }
            Command::Update(plan) => self.update(*plan),
            Command::Locate { container, reply } => {
                let _ = reply.send(self.locate(container.as_deref()));
            }
            Command::FailProbe {
                container,
                kind,
                fail,
                reply,
            } => {
                let _ = reply.send(self.fail_probe(container, kind, fail));
            }
            Command::KillInfra => {
                let Some(sandbox) = self.sandbox.clone() else {
                    return;
                };
                let (runtime, rec) = (Arc::clone(&self.runtime), self.rec.clone());
                tokio::spawn(async move {
                    if let Err(e) = runtime.kill_pod_sandbox_infra(&sandbox).await {
                        rec.event(
                            EventType::Warning,
                            "FailedKillInfra",
                            None,
                            format!("Killing the infra container failed: {e}"),
                        );
                    }
                });
            }
        }
    }

    /// The pod as `actions` sees it.
    fn state(&self) -> PodState {
        PodState {
            init: self.init.iter().map(Slot::state).collect(),
            app: self.app.iter().map(Slot::state).collect(),
            phase: self.current_phase(),
            terminating: self.terminating,
            deadline_at: self.deadline_at,
            deadline_exceeded: self.deadline_exceeded,
            evicted: self.evicted.is_some(),
            upkeep_at: self
                .usage_check_at
                .into_iter()
                .chain(self.token_refresh_at)
                .min(),
            sandbox_changed: self.sandbox_changed,
            restart_policy: self.plan.restart_policy,
        }
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
            } => self.on_post_start(key, attempt, result),
            Report::Probe {
                key,
                attempt,
                outcome,
            } => self.on_probe(key, attempt, outcome),
            Report::SandboxEnded(id) => self.on_sandbox_ended(id),
        }
    }

    pub(super) fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.init.iter().chain(self.app.iter())
    }

    pub(super) fn slot_mut(&mut self, key: Key) -> &mut Slot {
        match key {
            Key::Init(i) => &mut self.init[i],
            Key::App(i) => &mut self.app[i],
        }
    }

    pub(super) fn slot(&self, key: Key) -> &Slot {
        match key {
            Key::Init(i) => &self.init[i],
            Key::App(i) => &self.app[i],
        }
    }

    pub(super) fn event(
        &self,
        type_: EventType,
        reason: &'static str,
        container: Option<&str>,
        message: String,
    ) {
        self.rec.event(type_, reason, container, message);
    }

    /// What the downward API reads beyond the plan: the pod's IP, known once the sandbox runs
    /// (before any container starts, as in Kubernetes).
    pub(super) fn facts(&self) -> PodFacts {
        let links = self
            .plan
            .manifest
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        PodFacts {
            pod_ip: self.pod_ip.clone(),
            service_env: self.config.services.env(&self.plan.namespace, links),
            tokens: self.config.tokens.clone(),
        }
    }

    /// `name_namespace(uid)`, as the kubelet names a pod in messages.
    pub(super) fn pod_ref(&self) -> String {
        format!(
            "{}_{}({})",
            self.plan.name, self.plan.namespace, self.plan.uid
        )
    }

    /// What probes and hooks of this container instance run against.
    pub(super) fn target(&self, key: Key) -> Option<Target> {
        let slot = self.slot(key);
        Some(Target {
            runtime: Arc::clone(&self.runtime),
            sandbox: self.sandbox.clone()?,
            container: slot.running.as_ref()?.id.clone(),
            pod_ip: self.pod_ip.clone().unwrap_or_default(),
            ports: slot.plan.ports.clone(),
        })
    }

    /// The running sandbox and, when asked, the running instance of container `name`, in the
    /// words the kubelet's streaming server uses when it cannot find them.
    fn locate(&self, name: Option<&str>) -> Result<Located, String> {
        let Some(sandbox) = self.sandbox.clone() else {
            return Err("the pod's sandbox is not running".into());
        };
        let Some(name) = name else {
            return Ok(Located {
                sandbox,
                container: None,
            });
        };
        let slot = self
            .slots()
            .find(|s| s.plan.name == name)
            .ok_or_else(|| format!("container not found (\"{name}\")"))?;
        match &slot.running {
            Some(r) => Ok(Located {
                sandbox,
                container: Some(r.id.clone()),
            }),
            _ => Err(format!("container not found (\"{name}\")")),
        }
    }

    fn fail_probe(&mut self, container: String, kind: ProbeKind, fail: bool) -> Result<(), String> {
        let slot = self
            .slots()
            .find(|s| s.plan.name == container)
            .ok_or_else(|| format!("container not found (\"{container}\")"))?;
        if kind.of(&slot.plan).is_none() {
            return Err(format!(
                "container \"{container}\" has no {} probe",
                kind.title().to_lowercase()
            ));
        }
        if fail {
            self.failing.insert((container, kind));
        } else {
            self.failing.remove(&(container, kind));
        }
        Ok(())
    }

    /// Whether `attempt` is the instance of the container that runs now.
    pub(super) fn is_current(&self, key: Key, attempt: u32) -> bool {
        self.slot(key)
            .running
            .as_ref()
            .is_some_and(|r| r.attempt == attempt)
    }

    fn stuck_reason(&self) -> String {
        let waiting: Vec<String> = self
            .slots()
            .filter_map(|s| match &s.status.state {
                status::State::Waiting { reason, message } => Some(match message {
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
}

impl Slot {
    pub(super) fn new(c: &ContainerPlan, waiting: &str) -> Self {
        Slot {
            status: ContainerStatus::new(&c.name, &c.image, waiting).sidecar(c.sidecar),
            plan: c.clone(),
            backoff: Backoff::default(),
            attempts: 0,
            restart_at: None,
            running: None,
            ever_started: false,
            image: None,
            blocked: false,
            changed: false,
            rerun: false,
            pull_backoff: Backoff::default(),
            pull_retry_at: None,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
