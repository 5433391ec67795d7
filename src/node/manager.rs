//! The pod manager (the kubelet's pod manager and pod workers): one independent worker per pod,
//! so one pod's slow stop never delays another's, and one stream of what changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use tokio::sync::{broadcast, mpsc, watch};

use crate::net::services::Services;
use crate::plan::PodPlan;
use crate::pod::backoff::BackoffPolicy;
use crate::pod::clock::Clock;
use crate::pod::events::{Event, EventSink};
use crate::pod::probe::ProbeKind;
use crate::pod::status::{Phase, Terminated};
use crate::pod::{self, Command, KubeletConfig, Outcome, StopMode};
use crate::runtime::{ExecRequest, ExecSession, LogSink, PodStream, RuntimeService};

/// How many changes a slow subscriber may fall behind before it misses some (it is told so).
const CHANGE_BACKLOG: usize = 4096;

/// (kind, identity) pairs, as `RuntimeService::sandbox_namespaces` gives them.
pub type Namespaces = Vec<(String, String)>;

/// Gives each pod the sink its containers' output goes to.
pub type LogsFor = Arc<dyn Fn(&PodPlan) -> Arc<dyn LogSink> + Send + Sync>;

/// What every pod on the node shares.
#[derive(Clone)]
pub struct NodeConfig {
    pub backoff: BackoffPolicy,
    pub clock: Clock,
    pub events: Arc<dyn EventSink>,
    /// The log sink of each pod's containers.
    pub logs: LogsFor,
    /// Where pod directories go: `<state_dir>/pods/<uid>`.
    pub state_dir: PathBuf,
    pub keep_volumes: bool,
    /// The Services the node's proxy knows: their variables go into every container.
    pub services: Arc<Services>,
    /// The API server's TokenRequest for service account tokens (`wpod serve`).
    pub tokens: Option<Arc<dyn crate::plan::service_account::TokenIssuer>>,
    /// Failed image pulls are tried again with back-off (see `KubeletConfig::retry_pulls`).
    pub retry_pulls: bool,
}

/// What happens on the node, in order, for watchers (an API server's watch, a live view).
#[derive(Clone, Debug)]
pub enum Change {
    /// A pod's status changed (the first one when it is added).
    Pod(Box<api::Pod>),
    Event {
        namespace: String,
        pod: String,
        event: Event,
    },
    /// A pod's worker ended with this outcome; the pod is gone from the node if it was deleted.
    Finished {
        namespace: String,
        name: String,
        outcome: Outcome,
        deleted: bool,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("pods \"{0}\" already exists")]
    AlreadyExists(String),
    #[error("pods \"{0}\" not found")]
    NotFound(String),
    /// An update that changes more than Kubernetes lets a pod's spec change.
    #[error(
        "pod \"{name}\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations): {what}"
    )]
    Forbidden { name: String, what: String },
}

/// Why an exec or a port forward could not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    #[error("pods \"{0}\" not found")]
    NotFound(String),
    /// The pod or the container does not run (now).
    #[error("{0}")]
    NotRunning(String),
    #[error("{0}")]
    Runtime(String),
}

struct Entry {
    plan: PodPlan,
    status: watch::Receiver<api::Pod>,
    commands: mpsc::UnboundedSender<Command>,
    outcome: watch::Receiver<Option<Outcome>>,
    deleted: bool,
}

type Key = (String, String);

pub struct Node {
    runtime: Arc<dyn RuntimeService>,
    config: NodeConfig,
    pods: Arc<Mutex<BTreeMap<Key, Entry>>>,
    changes: broadcast::Sender<Change>,
}

impl Node {
    pub fn new(runtime: Arc<dyn RuntimeService>, config: NodeConfig) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        Node {
            runtime,
            config,
            pods: Arc::new(Mutex::new(BTreeMap::new())),
            changes,
        }
    }

    /// The backend the node runs pods on (`wasm`, `linux`), as its nodeInfo names it.
    pub fn runtime_name(&self) -> &'static str {
        self.runtime.name()
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Starts running a pod; its name must be free in its namespace.
    pub fn add(&self, plan: PodPlan) -> Result<(), NodeError> {
        let key = (plan.namespace.clone(), plan.name.clone());
        let mut pods = self.lock();
        if pods.contains_key(&key) {
            return Err(NodeError::AlreadyExists(plan.name));
        }
        let config = KubeletConfig {
            backoff: self.config.backoff,
            clock: self.config.clock.clone(),
            events: Arc::new(Tee {
                inner: self.config.events.clone(),
                changes: self.changes.clone(),
                namespace: plan.namespace.clone(),
            }),
            log: (self.config.logs)(&plan),
            state_dir: self.config.state_dir.clone(),
            keep_volumes: self.config.keep_volumes,
            services: self.config.services.clone(),
            tokens: self.config.tokens.clone(),
            retry_pulls: self.config.retry_pulls,
        };
        let handle = pod::spawn(plan.clone(), Arc::clone(&self.runtime), config);
        let (outcome_tx, outcome_rx) = watch::channel(None);
        let mut status = handle.status.clone();
        pods.insert(
            key.clone(),
            Entry {
                plan,
                status: handle.status.clone(),
                commands: handle.commands(),
                outcome: outcome_rx,
                deleted: false,
            },
        );
        drop(pods);
        let changes = self.changes.clone();
        let registry = Arc::clone(&self.pods);
        tokio::spawn(async move {
            let _ = changes.send(Change::Pod(Box::new(status.borrow_and_update().clone())));
            let task = handle.wait();
            tokio::pin!(task);
            let outcome = loop {
                tokio::select! {
                    outcome = &mut task => break outcome,
                    Ok(()) = status.changed() => {
                        let pod = status.borrow_and_update().clone();
                        let _ = changes.send(Change::Pod(Box::new(pod)));
                    }
                }
            };
            let pod = status.borrow().clone();
            let _ = changes.send(Change::Pod(Box::new(pod)));
            // A deleted pod leaves the node once its worker is done, as the API object goes once
            // the kubelet confirms the deletion.
            let deleted = {
                let mut pods = registry.lock().unwrap_or_else(|p| p.into_inner());
                // Under the lock, so a deletion sees either a running pod or a finished one.
                outcome_tx.send_replace(Some(outcome.clone()));
                let deleted = pods.get(&key).is_some_and(|e| e.deleted);
                if deleted {
                    pods.remove(&key);
                }
                deleted
            };
            let _ = changes.send(Change::Finished {
                namespace: key.0,
                name: key.1,
                outcome,
                deleted,
            });
        });
        Ok(())
    }

    /// A new version of a pod: only container images may change; each changed one restarts.
    pub fn update(&self, plan: PodPlan) -> Result<(), NodeError> {
        let key = (plan.namespace.clone(), plan.name.clone());
        let mut pods = self.lock();
        let entry = pods
            .get_mut(&key)
            .ok_or_else(|| NodeError::NotFound(plan.name.clone()))?;
        allowed(&entry.plan, &plan)?;
        entry.plan = plan.clone();
        let _ = entry.commands.send(Command::Update(Box::new(plan)));
        Ok(())
    }

    /// Whether `update` would take this plan (a dry run's answer); Ok for a pod not on the node.
    pub fn check_update(&self, plan: &PodPlan) -> Result<(), NodeError> {
        let pods = self.lock();
        match pods.get(&(plan.namespace.clone(), plan.name.clone())) {
            Some(entry) => allowed(&entry.plan, plan),
            None => Ok(()),
        }
    }

    /// Graceful deletion (`kubectl delete`): preStop hooks, TERM, the grace period (the pod's
    /// unless given; zero kills at once), KILL; the pod leaves the node when its worker is done.
    pub fn delete(
        &self,
        namespace: &str,
        name: &str,
        grace: Option<Duration>,
    ) -> Result<(), NodeError> {
        let mut pods = self.lock();
        let entry = pods
            .get_mut(&(namespace.to_string(), name.to_string()))
            .ok_or_else(|| NodeError::NotFound(name.to_string()))?;
        entry.deleted = true;
        let finished = entry.outcome.borrow().clone();
        if let Some(outcome) = finished {
            // Its worker is already done: only the record goes, and watchers hear it is gone
            // (an API server then removes the object, as for any other finished deletion).
            pods.remove(&(namespace.to_string(), name.to_string()));
            let _ = self.changes.send(Change::Finished {
                namespace: namespace.to_string(),
                name: name.to_string(),
                outcome,
                deleted: true,
            });
            return Ok(());
        }
        let _ = entry.commands.send(Command::Delete { grace });
        Ok(())
    }

    /// Kills the pod's infra container, as `kill -9` of its pause process on a node does (for
    /// teaching): the pod's worker then recreates its sandbox.
    pub fn kill_infra(&self, namespace: &str, name: &str) -> Result<(), NodeError> {
        let pods = self.lock();
        let entry = pods
            .get(&(namespace.to_string(), name.to_string()))
            .ok_or_else(|| NodeError::NotFound(name.to_string()))?;
        let _ = entry.commands.send(Command::KillInfra);
        Ok(())
    }

    /// Kills one container of the pod at once, as `kill -9` of its main process does (for
    /// teaching): it ends with 137 and its pod's restartPolicy decides what follows.
    pub async fn kill_container(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
    ) -> Result<(), StreamError> {
        let id = self.running(namespace, name, container).await?;
        self.runtime
            .stop_container(&id, Duration::ZERO)
            .await
            .map_err(|e| StreamError::Runtime(e.to_string()))
    }

    /// Makes a container's probe of `kind` fail from now on, or lets it pass its own way again
    /// (for teaching): the kubelet's rules decide what the failures do.
    pub async fn fail_probe(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        kind: ProbeKind,
        fail: bool,
    ) -> Result<(), StreamError> {
        self.ask(namespace, name, |reply| Command::FailProbe {
            container: container.to_string(),
            kind,
            fail,
            reply,
        })
        .await
    }

    /// The namespaces the pod's infra holds and those of each named container that runs, as
    /// the runtime shows them (`net:[4026532179]` on linux); empty for what does not run.
    pub async fn namespaces(
        &self,
        namespace: &str,
        name: &str,
        containers: &[String],
    ) -> (Namespaces, Vec<(String, Namespaces)>) {
        let infra = match self.locate(namespace, name, None).await {
            Ok(at) => self.runtime.sandbox_namespaces(&at.sandbox).await,
            Err(_) => Vec::new(),
        };
        let mut each = Vec::new();
        for c in containers {
            if let Ok(Some(id)) = self
                .locate(namespace, name, Some(c))
                .await
                .map(|at| at.container)
            {
                each.push((c.clone(), self.runtime.container_namespaces(&id).await));
            }
        }
        (infra, each)
    }

    /// Where the pod's sandbox and (if named) container run now.
    async fn locate(
        &self,
        namespace: &str,
        name: &str,
        container: Option<&str>,
    ) -> Result<pod::Located, StreamError> {
        self.ask(namespace, name, |reply| Command::Locate {
            container: container.map(str::to_string),
            reply,
        })
        .await
    }

    /// Sends the pod's worker a command that answers, and waits for the answer.
    async fn ask<T>(
        &self,
        namespace: &str,
        name: &str,
        command: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, String>>) -> Command,
    ) -> Result<T, StreamError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self
            .lock()
            .get(&(namespace.to_string(), name.to_string()))
            .ok_or_else(|| StreamError::NotFound(name.to_string()))?
            .commands
            .send(command(reply));
        let gone = || StreamError::NotRunning("the pod is not running".into());
        sent.map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(StreamError::NotRunning)
    }

    /// The running instance of `container`.
    async fn running(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
    ) -> Result<crate::runtime::ContainerId, StreamError> {
        let at = self.locate(namespace, name, Some(container)).await?;
        at.container.ok_or_else(|| {
            StreamError::NotRunning(format!("container not found (\"{container}\")"))
        })
    }

    /// Runs a command in a running container of the pod with its streams connected to the
    /// caller (the kubelet's streaming server behind `kubectl exec`).
    pub async fn exec(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        req: ExecRequest,
    ) -> Result<ExecSession, StreamError> {
        let id = self.running(namespace, name, container).await?;
        self.runtime
            .exec(&id, req)
            .await
            .map_err(|e| StreamError::Runtime(e.to_string()))
    }

    /// Connects to a running container's main process (`kubectl attach`).
    pub async fn attach(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        stdin: bool,
    ) -> Result<ExecSession, StreamError> {
        let id = self.running(namespace, name, container).await?;
        self.runtime
            .attach(&id, stdin)
            .await
            .map_err(|e| StreamError::Runtime(e.to_string()))
    }

    /// A connection to `port` on the pod's localhost (`kubectl port-forward`).
    pub async fn port_forward(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
    ) -> Result<Box<dyn PodStream>, StreamError> {
        let at = self.locate(namespace, name, None).await?;
        self.runtime
            .port_forward(&at.sandbox, port)
            .await
            .map_err(|e| StreamError::Runtime(e.to_string()))
    }

    /// A connection from the node to `port` on the pod's IP (as a Service's traffic arrives).
    pub async fn dial(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
    ) -> Result<Box<dyn PodStream>, StreamError> {
        let at = self.locate(namespace, name, None).await?;
        self.runtime
            .dial(&at.sandbox, port)
            .await
            .map_err(|e| StreamError::Runtime(e.to_string()))
    }

    /// Stops every pod (Ctrl-C, `--timeout`); they stay on the node with their final status.
    pub fn stop_all(&self, mode: StopMode) {
        for entry in self.lock().values() {
            let _ = entry.commands.send(Command::Stop(mode));
        }
    }

    /// The pod's live status.
    pub fn status(&self, namespace: &str, name: &str) -> Option<watch::Receiver<api::Pod>> {
        self.lock()
            .get(&(namespace.to_string(), name.to_string()))
            .map(|e| e.status.clone())
    }

    /// Every pod's current status, ordered by namespace and name.
    pub fn pods(&self) -> Vec<api::Pod> {
        self.lock()
            .values()
            .map(|e| e.status.borrow().clone())
            .collect()
    }

    /// Waits until the pod's worker is done; None for a pod the node does not have.
    pub async fn wait(&self, namespace: &str, name: &str) -> Option<Outcome> {
        let mut outcome = self
            .lock()
            .get(&(namespace.to_string(), name.to_string()))?
            .outcome
            .clone();
        let done = outcome.wait_for(Option::is_some).await.ok()?;
        done.clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Entry>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What `new` changes beyond container images, as the API server's pod update validation sees
/// it; None when the update is allowed.
fn allowed(old: &PodPlan, new: &PodPlan) -> Result<(), NodeError> {
    match forbidden_change(old, new) {
        Some(what) => Err(NodeError::Forbidden {
            name: new.name.clone(),
            what,
        }),
        None => Ok(()),
    }
}

fn forbidden_change(old: &PodPlan, new: &PodPlan) -> Option<String> {
    let names =
        |p: &PodPlan| -> Vec<String> { p.all_containers().map(|c| c.name.clone()).collect() };
    if names(old) != names(new) {
        return Some("the containers (their names or number) changed".into());
    }
    let (before, after) = (
        old.manifest.spec.clone().unwrap_or_default(),
        new.manifest.spec.clone().unwrap_or_default(),
    );
    // ValidatePodUpdate: the deadline may be set or shortened, never lengthened or removed.
    match (
        before.active_deadline_seconds,
        after.active_deadline_seconds,
    ) {
        (Some(_), None) => return Some("spec.activeDeadlineSeconds may not be removed".into()),
        (Some(a), Some(b)) if b > a => {
            return Some(format!(
                "spec.activeDeadlineSeconds may only be shortened (from {a} to at most {a}, not {b})"
            ));
        }
        _ => {}
    }
    // Tolerations may only be added to.
    let (had, has) = (
        before.tolerations.clone().unwrap_or_default(),
        after.tolerations.clone().unwrap_or_default(),
    );
    if had.iter().any(|t| !has.contains(t)) {
        return Some("existing tolerations may not be changed or removed, only added to".into());
    }
    let spec_without_images = |p: &PodPlan| {
        let mut spec = p.manifest.spec.clone().unwrap_or_default();
        // The node's own name, which the scheduler wrote into the stored object.
        spec.node_name = None;
        spec.active_deadline_seconds = None;
        spec.tolerations = None;
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            c.image = None;
        }
        spec
    };
    (spec_without_images(old) != spec_without_images(new)).then(|| {
        "only container images, activeDeadlineSeconds and (additions to) tolerations may change"
            .into()
    })
}

/// Passes events on and into the node's stream of changes.
struct Tee {
    inner: Arc<dyn EventSink>,
    changes: broadcast::Sender<Change>,
    /// The pod's namespace: the kubelet's events name only the pod.
    namespace: String,
}

impl EventSink for Tee {
    fn event(&self, pod: &str, event: &Event) {
        self.inner.event(pod, event);
        let _ = self.changes.send(Change::Event {
            namespace: self.namespace.clone(),
            pod: pod.to_string(),
            event: event.clone(),
        });
    }

    fn phase(&self, pod: &str, from: Option<Phase>, to: Phase) {
        self.inner.phase(pod, from, to);
    }

    fn exited(&self, pod: &str, container: &str, how: &Terminated) {
        self.inner.exited(pod, container, how);
    }
}
