//! What happens after a container exits: its restart policy and CrashLoopBackOff, as the kubelet
//! decides them (`ShouldContainerBeRestarted` in pkg/kubelet/container/helpers.go, the back-off in
//! kuberuntime_manager.go's doBackOff).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::actions::Key;
use super::backoff::{Backoff, BackoffPolicy};
use super::clock;
use super::events::EventType;
use super::status::{State, Terminated};
use super::termination_message;
use super::worker::PodWorker;
use crate::plan::{ContainerKind, RestartPolicy};
use crate::runtime::{ExitReason, ExitStatus};

/// What becomes of a container that exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// It stays terminated.
    Stay,
    /// It starts again after this long (zero: at once).
    Restart(Duration),
}

/// The decision for one exit: `terminating` pods restart nothing; a container whose definition
/// changed restarts whatever its policy, with a fresh back-off (its back-off key, the container's
/// hash, is new); otherwise the policy decides and the back-off grows with each quick exit.
pub fn after_exit(
    policy: RestartPolicy,
    terminating: bool,
    changed: bool,
    code: i32,
    backoff: &mut Backoff,
    backoff_policy: BackoffPolicy,
    ran: Duration,
) -> AfterExit {
    if terminating {
        return AfterExit::Stay;
    }
    if changed {
        *backoff = Backoff::default();
        return AfterExit::Restart(Duration::ZERO);
    }
    if !policy.restarts(code) {
        return AfterExit::Stay;
    }
    AfterExit::Restart(backoff.on_exit(backoff_policy, ran))
}

impl PodWorker {
    pub(super) fn on_exit(&mut self, key: Key, attempt: u32, status: ExitStatus) {
        let slot = self.slot_mut(key);
        // An exit of an earlier attempt was already dealt with (a failed start, say).
        if slot.attempts != attempt + 1 {
            return;
        }
        let Some(running) = slot.running.take() else {
            return;
        };
        let fallback = slot.plan.termination_message.fallback_to_logs;
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
        if let Some(m) = termination_message::message(
            &running.message_file,
            fallback,
            status.code,
            &running.tail,
        ) {
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

    pub(super) fn record_exit(&mut self, key: Key, since: Instant, now: Instant, exit: ExitStatus) {
        let clock = self.config.clock.clone();
        let backoff_policy = self.config.backoff;
        let terminating = self.terminating || self.deadline_exceeded;
        let pod_ref = self.pod_ref();
        let events = Arc::clone(&self.config.events);
        let pod_name = self.plan.name.clone();
        let pod_policy = self.plan.restart_policy;
        let slot = self.slot_mut(key);
        let policy = slot.plan.restart_policy(pod_policy);
        let terminated = Terminated {
            exit_code: exit.code,
            reason: exit.reason.as_str().to_string(),
            message: exit.message,
            started_at: Some(clock.wall(since)),
            finished_at: clock.wall(now),
            container_id: slot.status.container_id.clone(),
        };
        let container = slot.plan.name.clone();
        // A completed init container counts as ready; nothing else that exited does.
        slot.status.ready =
            slot.plan.kind == ContainerKind::Init && !slot.plan.sidecar && exit.code == 0;
        slot.status.started = false;
        let changed = std::mem::take(&mut slot.changed);
        let decision = after_exit(
            policy,
            terminating,
            changed,
            exit.code,
            &mut slot.backoff,
            backoff_policy,
            now.saturating_duration_since(since),
        );
        let backing_off = match decision {
            AfterExit::Restart(wait) if !wait.is_zero() => {
                slot.restart_at = Some(clock::later(now, wait));
                slot.status.last_state = Some(terminated.clone());
                slot.status.state = State::waiting(
                    "CrashLoopBackOff",
                    Some(format!(
                        "back-off {} restarting failed container={container} pod={pod_ref}",
                        go_duration(wait)
                    )),
                );
                true
            }
            AfterExit::Restart(wait) => {
                slot.restart_at = Some(clock::later(now, wait));
                slot.status.state = State::Terminated(terminated.clone());
                false
            }
            AfterExit::Stay => {
                slot.status.state = State::Terminated(terminated.clone());
                false
            }
        };
        // Whoever reads the exit on the console can already see it in the pod's status (a run
        // interrupted right after it reports the container as terminated, not running).
        let transition = self.refresh();
        events.exited(&pod_name, &container, &terminated);
        if backing_off {
            self.event(
                EventType::Warning,
                "BackOff",
                Some(&container),
                format!("Back-off restarting failed container {container} in pod {pod_ref}"),
            );
        }
        self.announce(transition);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(policy: RestartPolicy, terminating: bool, changed: bool, code: i32) -> AfterExit {
        after_exit(
            policy,
            terminating,
            changed,
            code,
            &mut Backoff::default(),
            BackoffPolicy::default(),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn policies_terminating_pods_and_changed_definitions() {
        assert_eq!(
            decide(RestartPolicy::Never, false, false, 1),
            AfterExit::Stay
        );
        assert_eq!(
            decide(RestartPolicy::OnFailure, false, false, 0),
            AfterExit::Stay
        );
        assert!(matches!(
            decide(RestartPolicy::OnFailure, false, false, 1),
            AfterExit::Restart(_)
        ));
        assert_eq!(
            decide(RestartPolicy::Always, true, false, 1),
            AfterExit::Stay
        );
        // A new image restarts a container even under Never, at once.
        assert_eq!(
            decide(RestartPolicy::Never, false, true, 0),
            AfterExit::Restart(Duration::ZERO)
        );
    }
}
