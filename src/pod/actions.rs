//! What a pod needs next, computed from its state alone, as the kubelet's `computePodActions`
//! (pkg/kubelet/kuberuntime/kuberuntime_manager.go) does: no runtime, no awaits. The worker
//! performs one step and asks again, so each container starts only once the state that allows
//! it is real (a sidecar started, a postStart hook done).

use tokio::time::Instant;

use super::status::Phase;
use crate::plan::RestartPolicy;

/// A container of the pod: the n-th init container or the n-th app container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Init(usize),
    App(usize),
}

/// What the actions depend on for one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerState {
    pub sidecar: bool,
    /// An instance runs (or is being stopped).
    pub running: bool,
    /// It runs but its postStart hook has not finished.
    pub post_start_pending: bool,
    /// It cannot be created in this run (ErrImagePull, CreateContainerConfigError).
    pub blocked: bool,
    /// Instances created so far.
    pub attempts: u32,
    /// When its back-off ends and it starts again.
    pub restart_at: Option<Instant>,
    /// It started once (for a sidecar: the next init container may go).
    pub ever_started: bool,
    /// Its exit code while its state is Terminated.
    pub exit_code: Option<i32>,
    /// An init container that must run again: its pod's sandbox was recreated, and the kubelet
    /// starts a new sandbox from the first init container.
    pub rerun: bool,
}

impl ContainerState {
    fn due(&self, now: Instant) -> bool {
        // A container waiting out an image pull's back-off has a restart time before its
        // first attempt.
        !self.running
            && !self.blocked
            && self
                .restart_at
                .map_or(self.attempts == 0 || self.rerun, |t| t <= now)
    }

    /// Done for good: not running, no restart coming, terminated.
    fn finished(&self) -> bool {
        !self.running && self.restart_at.is_none() && self.exit_code.is_some()
    }

    /// An init container that let the pod go on: succeeded, or (a sidecar) started.
    fn init_done(&self) -> bool {
        if self.rerun {
            false
        } else if self.sidecar {
            self.ever_started
        } else {
            self.exit_code == Some(0)
        }
    }
}

/// The pod as the actions see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodState {
    pub init: Vec<ContainerState>,
    pub app: Vec<ContainerState>,
    pub phase: Phase,
    /// The pod is being stopped (deleted, its sidecars done, killed).
    pub terminating: bool,
    pub deadline_at: Option<Instant>,
    pub deadline_exceeded: bool,
    pub evicted: bool,
    /// When the volumes are looked after next: emptyDir usage compared with sizeLimit,
    /// projected tokens fetched again before they expire.
    pub upkeep_at: Option<Instant>,
    /// The pod's infra container ended: its containers are being stopped, then the sandbox is
    /// recreated (or the pod ends).
    pub sandbox_changed: bool,
    /// `restartPolicy` of the pod (not of its sidecars).
    pub restart_policy: RestartPolicy,
}

/// Why the pod stops all its containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// `activeDeadlineSeconds` passed (the kubelet's activeDeadlineHandler).
    DeadlineExceeded,
    /// The app containers are done for good (or a regular init container failed for good):
    /// the sidecars have nothing left to serve.
    SidecarsDone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actions {
    /// Look after the volumes now (an emptyDir over its limit evicts the pod).
    pub upkeep: bool,
    pub terminate: Option<Termination>,
    /// The next container to start.
    pub start: Option<Key>,
    /// When something becomes due without a report: a back-off ends, the deadline, a usage check.
    pub wake_at: Option<Instant>,
    /// Nothing runs in a sandbox that ended: stop it and create a new one.
    pub recreate_sandbox: bool,
    /// Nothing runs and nothing ever will: the pod's run is over.
    pub finished: bool,
}

pub fn compute_actions(s: &PodState, now: Instant) -> Actions {
    let live = !s.terminating;
    // Nothing starts in a sandbox that ended; its containers are being stopped.
    let changed = live && s.sandbox_changed;
    let upkeep = live && s.upkeep_at.is_some_and(|t| t <= now);
    let mut terminate = (live && !s.deadline_exceeded && s.deadline_at.is_some_and(|d| d <= now))
        .then_some(Termination::DeadlineExceeded);
    let start = if live && !changed && !s.deadline_exceeded && !upkeep && terminate.is_none() {
        next_start(s, now)
    } else {
        None
    };
    if live && !upkeep && terminate.is_none() && start.is_none() && sidecars_done(s) {
        terminate = Some(Termination::SidecarsDone);
    }
    let restarts = s
        .init
        .iter()
        .chain(&s.app)
        .filter_map(|c| c.restart_at)
        // One already due that did not start waits for something else (init containers that
        // run again), which reports when it is done.
        .filter(|t| *t > now)
        .min()
        .filter(|_| !changed);
    let deadline = s.deadline_at.filter(|_| live && !s.deadline_exceeded);
    let upkeep_at = s.upkeep_at.filter(|_| live);
    let none_running = s.init.iter().chain(&s.app).all(|c| !c.running);
    let idle = none_running && s.init.iter().chain(&s.app).all(|c| c.restart_at.is_none());
    let quiet = !upkeep && terminate.is_none() && start.is_none();
    let recreate_sandbox = quiet && changed && none_running && sandbox_wanted(s);
    Actions {
        upkeep,
        terminate,
        start,
        wake_at: [restarts, deadline, upkeep_at].into_iter().flatten().min(),
        recreate_sandbox,
        finished: quiet
            && !recreate_sandbox
            && ((changed && none_running)
                || (idle
                    && (s.terminating
                        || s.deadline_exceeded
                        || s.evicted
                        || s.phase.is_terminal()
                        || !startable_left(s)))),
    }
}

/// Whether the kubelet creates a new sandbox for a pod whose sandbox ended
/// (`computePodActions`): never under `restartPolicy: Never`, and not once the pod was
/// initialized and none of its app containers would start again (under OnFailure, those that
/// succeeded do not).
fn sandbox_wanted(s: &PodState) -> bool {
    if s.restart_policy == RestartPolicy::Never {
        return false;
    }
    let initialized = s.app.iter().any(|c| c.attempts > 0);
    let to_start = s
        .app
        .iter()
        .any(|c| !(s.restart_policy == RestartPolicy::OnFailure && c.exit_code == Some(0)));
    !initialized || to_start
}

/// The first container due to start: sidecars that started once restart whenever their back-off
/// allows; init containers go in order (a regular one must succeed, a sidecar must have started);
/// then the app containers one by one, each after the previous one's postStart hook.
fn next_start(s: &PodState, now: Instant) -> Option<Key> {
    if let Some(i) = s
        .init
        .iter()
        .position(|c| c.ever_started && !c.rerun && c.due(now))
    {
        return Some(Key::Init(i));
    }
    for (i, c) in s.init.iter().enumerate() {
        if c.init_done() {
            continue;
        }
        return c.due(now).then_some(Key::Init(i));
    }
    for (i, c) in s.app.iter().enumerate() {
        if c.due(now) {
            return Some(Key::App(i));
        }
        if c.running && c.post_start_pending {
            return None;
        }
    }
    None
}

fn sidecars_done(s: &PodState) -> bool {
    let sidecar_left = s
        .init
        .iter()
        .any(|c| c.sidecar && (c.running || c.restart_at.is_some()));
    let apps_done = s.app.iter().all(ContainerState::finished);
    let init_failed = s
        .init
        .iter()
        .any(|c| !c.sidecar && c.finished() && c.exit_code != Some(0));
    sidecar_left && (apps_done || init_failed)
}

/// Whether a container that never ran could still be started.
fn startable_left(s: &PodState) -> bool {
    let inits_done = s.init.iter().all(ContainerState::init_done);
    let fresh = |c: &ContainerState| c.attempts == 0 && !c.blocked;
    s.init.iter().any(fresh) || (inits_done && s.app.iter().any(fresh))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pod(init: Vec<ContainerState>, app: Vec<ContainerState>) -> PodState {
        PodState {
            init,
            app,
            phase: Phase::Pending,
            terminating: false,
            deadline_at: None,
            deadline_exceeded: false,
            evicted: false,
            upkeep_at: None,
            sandbox_changed: false,
            restart_policy: RestartPolicy::Always,
        }
    }

    fn fresh() -> ContainerState {
        ContainerState::default()
    }

    fn sidecar() -> ContainerState {
        ContainerState {
            sidecar: true,
            ..fresh()
        }
    }

    fn running() -> ContainerState {
        ContainerState {
            running: true,
            attempts: 1,
            ever_started: true,
            ..fresh()
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState {
            attempts: 1,
            ever_started: true,
            exit_code: Some(code),
            ..fresh()
        }
    }

    #[test]
    fn init_containers_go_one_at_a_time() {
        let now = Instant::now();
        let s = pod(vec![fresh(), fresh()], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::Init(0)));
        let s = pod(vec![running(), fresh()], vec![fresh()]);
        let a = compute_actions(&s, now);
        assert_eq!((a.start, a.finished), (None, false));
        let s = pod(vec![exited(0), fresh()], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::Init(1)));
        let s = pod(vec![exited(0), exited(0)], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::App(0)));
    }

    #[test]
    fn a_started_sidecar_lets_the_next_go_and_restarts_in_any_stage() {
        let now = Instant::now();
        let started = ContainerState {
            sidecar: true,
            ..running()
        };
        let s = pod(vec![started.clone(), fresh()], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::Init(1)));
        let backing_off = ContainerState {
            running: false,
            restart_at: Some(now),
            exit_code: Some(1),
            ..started
        };
        let s = pod(vec![backing_off, running()], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::Init(0)));
        // A sidecar that never started holds the init sequence.
        let s = pod(vec![sidecar(), fresh()], vec![fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::Init(0)));
    }

    #[test]
    fn app_containers_wait_for_a_post_start_hook() {
        let now = Instant::now();
        let hooked = ContainerState {
            post_start_pending: true,
            ..running()
        };
        let s = pod(vec![], vec![hooked, fresh()]);
        assert_eq!(compute_actions(&s, now).start, None);
        let s = pod(vec![], vec![running(), fresh()]);
        assert_eq!(compute_actions(&s, now).start, Some(Key::App(1)));
    }

    #[test]
    fn back_off_wakes_the_pod_and_the_deadline_ends_it() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let waiting = ContainerState {
            restart_at: Some(later),
            ..exited(1)
        };
        let mut s = pod(vec![], vec![waiting]);
        s.phase = Phase::Running;
        let a = compute_actions(&s, now);
        assert_eq!((a.start, a.wake_at, a.finished), (None, Some(later), false));
        assert_eq!(compute_actions(&s, later).start, Some(Key::App(0)));
        s.deadline_at = Some(now);
        let a = compute_actions(&s, now);
        assert_eq!(
            (a.terminate, a.start),
            (Some(Termination::DeadlineExceeded), None)
        );
    }

    #[test]
    fn sidecars_stop_once_the_apps_are_done() {
        let now = Instant::now();
        let side = ContainerState {
            sidecar: true,
            ..running()
        };
        let s = pod(vec![side.clone()], vec![exited(0)]);
        assert_eq!(
            compute_actions(&s, now).terminate,
            Some(Termination::SidecarsDone)
        );
        let s = pod(vec![side], vec![running()]);
        assert_eq!(compute_actions(&s, now).terminate, None);
    }

    #[test]
    fn a_pod_is_finished_when_nothing_runs_or_can_start() {
        let now = Instant::now();
        let blocked = ContainerState {
            blocked: true,
            ..fresh()
        };
        let s = pod(vec![], vec![blocked]);
        assert!(compute_actions(&s, now).finished);
        let mut s = pod(vec![], vec![exited(0)]);
        s.phase = Phase::Succeeded;
        assert!(compute_actions(&s, now).finished);
        let mut s = pod(vec![], vec![running()]);
        s.terminating = true;
        assert!(!compute_actions(&s, now).finished);
    }
}
