//! Container and pod status as the kubelet computes them: phase, conditions, container states.

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::plan::RestartPolicy;

#[derive(Clone, Debug, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
    },
    Terminated(Terminated),
}

impl State {
    pub fn waiting(reason: &str, message: Option<String>) -> Self {
        State::Waiting {
            reason: reason.to_string(),
            message,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, State::Running { .. })
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            State::Terminated(t) => Some(t.exit_code),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub container_id: Option<String>,
    pub state: State,
    pub last_state: Option<Terminated>,
    pub restart_count: i32,
    pub ready: bool,
    pub started: bool,
    /// An init container with restartPolicy Always (not part of the API's container status).
    pub sidecar: bool,
}

impl ContainerStatus {
    pub fn new(name: &str, image: &str, waiting_reason: &str) -> Self {
        ContainerStatus {
            name: name.to_string(),
            image: image.to_string(),
            image_id: None,
            container_id: None,
            state: State::waiting(waiting_reason, None),
            last_state: None,
            restart_count: 0,
            ready: false,
            started: false,
            sidecar: false,
        }
    }

    pub fn sidecar(mut self, sidecar: bool) -> Self {
        self.sidecar = sidecar;
        self
    }

    /// Whether an app container ever got going (kubecontainer.HasAnyRegularContainerStarted).
    fn has_run(&self) -> bool {
        self.started || self.last_state.is_some() || !matches!(self.state, State::Waiting { .. })
    }

    fn succeeded(&self) -> bool {
        self.state.exit_code() == Some(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// The kubelet's getPhase. `terminal` is true once the pod is being torn down (deleted, stopped,
/// deadline passed): its containers then won't restart whatever the policy says.
pub fn phase(
    policy: RestartPolicy,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    terminal: bool,
) -> Phase {
    let (mut pending_init, mut failed_init) = (0, 0);
    let mut running = 0;
    // Sidecars never decide the phase by their exits; one not started yet keeps the pod
    // initializing, and one that runs keeps it Running.
    for c in init.iter().filter(|c| c.sidecar) {
        match &c.state {
            State::Running { .. } => {
                if !c.started {
                    pending_init += 1;
                }
                running += 1;
            }
            State::Terminated(_) => {}
            State::Waiting { .. } => {
                if c.last_state.is_none() {
                    pending_init += 1;
                }
            }
        }
    }
    for c in init.iter().filter(|c| !c.sidecar) {
        match &c.state {
            State::Running { .. } => pending_init += 1,
            State::Terminated(t) if t.exit_code == 0 => {}
            State::Terminated(_) => failed_init += 1,
            State::Waiting { .. } => {
                if c.last_state.as_ref().is_some_and(|t| t.exit_code != 0) {
                    failed_init += 1;
                } else {
                    pending_init += 1;
                }
            }
        }
    }
    let (mut waiting, mut stopped, mut succeeded) = (0, 0, 0);
    for c in app {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } => {
                if c.last_state.is_some() {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return Phase::Failed;
    }
    let any_app_started = app.iter().any(ContainerStatus::has_run);
    if (pending_init > 0 && !any_app_started) || waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 {
        return Phase::Running;
    }
    if stopped == 0 {
        return Phase::Pending;
    }
    let all_succeeded = stopped == succeeded;
    match (terminal, policy) {
        (true, _) | (false, RestartPolicy::Never) if !all_succeeded => Phase::Failed,
        (true, _) => Phase::Succeeded,
        (false, RestartPolicy::Always) => Phase::Running,
        (false, _) if all_succeeded => Phase::Succeeded,
        (false, _) => Phase::Running,
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: bool,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady and Ready.
pub fn conditions(
    phase: Phase,
    sandbox_ready: bool,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
) -> Vec<Condition> {
    let cond = |type_, status, reason: Option<&str>, message: Option<String>| Condition {
        type_,
        status,
        reason: reason.map(str::to_string),
        message,
    };
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|c| {
            if c.sidecar {
                !c.started
            } else {
                !c.succeeded()
            }
        })
        .map(|c| c.name.as_str())
        .collect();
    let initialized = if phase == Phase::Succeeded {
        cond("Initialized", true, Some("PodCompleted"), None)
    } else if incomplete.is_empty() || app.iter().any(ContainerStatus::has_run) {
        // Once an app container ran, the pod stays initialized while sidecars restart.
        cond("Initialized", true, None, None)
    } else {
        cond(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        )
    };
    // Sidecars count towards readiness, before the app containers.
    let unready: Vec<&str> = init
        .iter()
        .filter(|c| c.sidecar)
        .chain(app)
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let ready = |type_| match phase {
        Phase::Succeeded => cond(type_, false, Some("PodCompleted"), None),
        Phase::Failed => cond(type_, false, Some("PodFailed"), None),
        _ if unready.is_empty() => cond(type_, true, None, None),
        _ => cond(
            type_,
            false,
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        ),
    };
    vec![
        cond("PodReadyToStartContainers", sandbox_ready, None, None),
        initialized,
        ready("Ready"),
        ready("ContainersReady"),
        cond("PodScheduled", true, None, None),
    ]
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn terminated_api(t: &Terminated) -> api::ContainerStateTerminated {
    api::ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: t.container_id.clone(),
        ..Default::default()
    }
}

impl ContainerStatus {
    pub fn to_api(&self) -> api::ContainerStatus {
        let state = match &self.state {
            State::Waiting { reason, message } => api::ContainerState {
                waiting: Some(api::ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..Default::default()
            },
            State::Running { started_at } => api::ContainerState {
                running: Some(api::ContainerStateRunning {
                    started_at: Some(time(*started_at)),
                }),
                ..Default::default()
            },
            State::Terminated(t) => api::ContainerState {
                terminated: Some(terminated_api(t)),
                ..Default::default()
            },
        };
        api::ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone().unwrap_or_default(),
            container_id: self.container_id.clone(),
            state: Some(state),
            last_state: Some(api::ContainerState {
                terminated: self.last_state.as_ref().map(terminated_api),
                ..Default::default()
            }),
            ready: self.ready,
            started: Some(self.started),
            restart_count: self.restart_count,
            ..Default::default()
        }
    }
}

pub fn condition_api(c: &Condition, since: Timestamp) -> api::PodCondition {
    api::PodCondition {
        type_: c.type_.to_string(),
        status: if c.status { "True" } else { "False" }.to_string(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: Some(time(since)),
        ..Default::default()
    }
}

/// All termination messages of a pod together get at most this many bytes ...
pub const MAX_POD_MESSAGES: usize = 12 * 1024;

/// ... split evenly among its containers: the kubelet's status manager keeps the start of each
/// message (`state` and `lastState` alike) within that share, so a pod's status stays small.
pub fn cap_termination_messages(statuses: &mut [api::ContainerStatus]) {
    let share = MAX_POD_MESSAGES / statuses.len().max(1);
    for s in statuses.iter_mut() {
        let states = [s.state.as_mut(), s.last_state.as_mut()];
        for t in states
            .into_iter()
            .flatten()
            .filter_map(|st| st.terminated.as_mut())
        {
            if let Some(m) = t.message.as_mut()
                && m.len() > share
            {
                let mut end = share;
                while !m.is_char_boundary(end) {
                    end -= 1;
                }
                m.truncate(end);
            }
        }
    }
}

/// The pod's API status, as the kubelet's status manager publishes it.
impl super::worker::PodWorker {
    pub(super) fn current_phase(&self) -> Phase {
        let init: Vec<ContainerStatus> = self.init.iter().map(|s| s.status.clone()).collect();
        let app: Vec<ContainerStatus> = self.app.iter().map(|s| s.status.clone()).collect();
        if self.deadline_exceeded || self.evicted.is_some() {
            return Phase::Failed;
        }
        let torn_down = self.terminating && self.slots().all(|s| s.running.is_none());
        let phase = phase(self.plan.restart_policy, &init, &app, torn_down);
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

    /// Recomputes phase and conditions (each condition keeps the time its status last changed),
    /// publishes the pod when it changed, and then says so when its phase changed.
    pub(super) fn publish(&mut self) {
        let transition = self.refresh();
        self.announce(transition);
    }

    /// Publishes the pod as it is now; returns its phase change, for `announce` to print once
    /// the new status can be read.
    pub(super) fn refresh(&mut self) -> Option<(Option<Phase>, Phase)> {
        let phase = self.current_phase();
        let transition = (self.phase != Some(phase)).then_some((self.phase, phase));
        self.phase = Some(phase);
        let now = self.config.clock.wall(self.config.clock.now());
        let init: Vec<ContainerStatus> = self.init.iter().map(|s| s.status.clone()).collect();
        let app: Vec<ContainerStatus> = self.app.iter().map(|s| s.status.clone()).collect();
        for c in conditions(
            phase,
            self.sandbox.is_some() && !self.sandbox_changed,
            &init,
            &app,
        ) {
            let since = match self.conditions.get(c.type_) {
                Some((old, since)) if old.status == c.status => *since,
                _ => now,
            };
            self.conditions.insert(c.type_, (c, since));
        }
        let pod = self.api_pod();
        self.status_tx.send_if_modified(|old| {
            let changed = *old != pod;
            if changed {
                *old = pod;
            }
            changed
        });
        transition
    }

    pub(super) fn announce(&self, transition: Option<(Option<Phase>, Phase)>) {
        if let Some((from, to)) = transition {
            self.config.events.phase(&self.plan.name, from, to);
        }
    }

    /// The pod as `kubectl get pod -o json` would show it.
    pub(super) fn api_pod(&self) -> api::Pod {
        use crate::node::{HOST_IP, NODE_NAME};
        let mut pod = self.plan.manifest.clone();
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(NODE_NAME.into());
        if let Some((at, grace)) = self.deletion {
            pod.metadata.deletion_timestamp = Some(Time(at));
            pod.metadata.deletion_grace_period_seconds =
                Some(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX));
        }
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
        let mut init: Vec<_> = self.slots().map(|s| s.status.to_api()).collect();
        cap_termination_messages(&mut init);
        let app = init.split_off(self.init.len());
        pod.status = Some(api::PodStatus {
            phase: Some(phase.as_str().into()),
            conditions: Some(
                order
                    .iter()
                    .filter_map(|t| self.conditions.get(t))
                    .map(|(c, since)| condition_api(c, *since))
                    .collect(),
            ),
            host_ip: Some(HOST_IP.into()),
            host_ips: Some(vec![api::HostIP { ip: HOST_IP.into() }]),
            pod_ip: self.pod_ip.clone(),
            pod_ips: self
                .pod_ip
                .as_ref()
                .map(|ip| vec![api::PodIP { ip: ip.clone() }]),
            start_time: self.started_at.map(Time),
            init_container_statuses: (!init.is_empty()).then_some(init),
            container_statuses: Some(app),
            qos_class: Some(self.plan.qos_class.as_str().into()),
            reason,
            message,
            ..Default::default()
        });
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    fn waiting(name: &str) -> ContainerStatus {
        ContainerStatus::new(name, "img", "ContainerCreating")
    }

    fn running(name: &str) -> ContainerStatus {
        let mut c = waiting(name);
        c.state = State::Running { started_at: ts() };
        c.started = true;
        c.ready = true;
        c
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        let mut c = waiting(name);
        c.state = State::Terminated(term(code));
        c
    }

    fn term(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: Some(ts()),
            finished_at: ts(),
            container_id: None,
        }
    }

    fn backing_off(name: &str, code: i32) -> ContainerStatus {
        let mut c = waiting(name);
        c.state = State::waiting("CrashLoopBackOff", None);
        c.last_state = Some(term(code));
        c
    }

    use Phase::*;
    use RestartPolicy::*;

    #[test]
    fn app_containers() {
        assert_eq!(phase(Always, &[], &[waiting("a")], false), Pending);
        assert_eq!(
            phase(Always, &[], &[running("a"), exited("b", 1)], false),
            Running
        );
        assert_eq!(
            phase(Never, &[], &[exited("a", 0), exited("b", 0)], false),
            Succeeded
        );
        assert_eq!(
            phase(Never, &[], &[exited("a", 0), exited("b", 3)], false),
            Failed
        );
        assert_eq!(phase(OnFailure, &[], &[exited("a", 0)], false), Succeeded);
        assert_eq!(
            phase(OnFailure, &[], &[backing_off("a", 1)], false),
            Running
        );
        assert_eq!(phase(Always, &[], &[exited("a", 0)], false), Running);
        // No fail-fast: one failure under Never while a sibling runs keeps the pod Running.
        assert_eq!(
            phase(Never, &[], &[exited("a", 1), running("b")], false),
            Running
        );
    }

    #[test]
    fn init_containers() {
        assert_eq!(
            phase(Never, &[running("i")], &[waiting("a")], false),
            Pending
        );
        assert_eq!(
            phase(Never, &[exited("i", 1)], &[waiting("a")], false),
            Failed
        );
        assert_eq!(
            phase(Always, &[backing_off("i", 1)], &[waiting("a")], false),
            Pending
        );
        assert_eq!(
            phase(OnFailure, &[exited("i", 0)], &[running("a")], false),
            Running
        );
    }

    #[test]
    fn torn_down_pods_are_terminal() {
        assert_eq!(phase(Always, &[], &[exited("a", 0)], true), Succeeded);
        assert_eq!(phase(Always, &[], &[exited("a", 137)], true), Failed);
        assert_eq!(phase(OnFailure, &[], &[backing_off("a", 1)], true), Failed);
    }

    #[test]
    fn termination_messages_share_12_kib_per_pod() {
        let with_message = |len: usize| {
            let mut s = exited("c", 1);
            let State::Terminated(t) = &mut s.state else {
                unreachable!("exited() is terminated")
            };
            t.message = Some("é".repeat(len / 2));
            s.last_state = Some(t.clone());
            s.to_api()
        };
        let mut four: Vec<_> = (0..4).map(|_| with_message(4096)).collect();
        cap_termination_messages(&mut four);
        for s in &four {
            for st in [&s.state, &s.last_state] {
                let m = st
                    .as_ref()
                    .and_then(|st| st.terminated.as_ref())
                    .and_then(|t| t.message.as_ref());
                assert_eq!(m.map(String::len), Some(3072));
            }
        }
        let mut one = vec![with_message(4096)];
        cap_termination_messages(&mut one);
        let t = one[0].state.as_ref().and_then(|st| st.terminated.as_ref());
        assert_eq!(
            t.and_then(|t| t.message.as_ref()).map(String::len),
            Some(4096)
        );
        // Seven containers: 1755 bytes each, cut back to a character boundary.
        let mut seven: Vec<_> = (0..7).map(|_| with_message(4096)).collect();
        cap_termination_messages(&mut seven);
        let t = seven[6]
            .state
            .as_ref()
            .and_then(|st| st.terminated.as_ref());
        assert_eq!(
            t.and_then(|t| t.message.as_ref()).map(String::len),
            Some(1754)
        );
    }

    #[test]
    fn condition_messages() {
        let c = conditions(
            Pending,
            true,
            &[running("i1"), waiting("i2")],
            &[waiting("a")],
        );
        let init = c
            .iter()
            .find(|c| c.type_ == "Initialized")
            .expect("Initialized");
        assert!(!init.status);
        assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            init.message.as_deref(),
            Some("containers with incomplete status: [i1 i2]")
        );
        let ready = c.iter().find(|c| c.type_ == "Ready").expect("Ready");
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [a]")
        );
        let done = conditions(Succeeded, true, &[], &[exited("a", 0)]);
        let ready = done
            .iter()
            .find(|c| c.type_ == "ContainersReady")
            .expect("ContainersReady");
        assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
    }
}
