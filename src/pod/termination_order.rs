//! Stopping containers as the kubelet does (killContainer in kuberuntime_container.go, the order
//! in kuberuntime_termination_order.go): every container gets its Killing event and preStop hook
//! at once; the app containers (and a running regular init container) are stopped at once, the
//! sidecars in reverse order, each once the containers after it have exited, all within one grace
//! period; TERM, then KILL no sooner than the kubelet's 2 s minimum.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::actions::Key;
use super::clock;
use super::events::EventType;
use super::handler::{self, Target};
use super::probe::ProbeKind;
use super::worker::{MIN_GRACE, PodWorker, Recorder, StopMode};
use crate::plan::Handler;
use crate::runtime::ContainerId;

/// The order containers stop in: the ones stopped at once, then the sidecars, last first.
pub fn order(sidecar: &[bool], apps: usize) -> (Vec<Key>, Vec<Key>) {
    let first = (0..apps)
        .map(Key::App)
        .chain((0..sidecar.len()).filter(|i| !sidecar[*i]).map(Key::Init))
        .collect();
    let sidecars = (0..sidecar.len())
        .rev()
        .filter(|i| sidecar[*i])
        .map(Key::Init)
        .collect();
    (first, sidecars)
}

/// Stopping one container: its preStop hook, then (once it is its turn) a stop within what is
/// left of the grace period.
struct StopJob {
    name: String,
    id: ContainerId,
    /// The message of the Killing event.
    message: String,
    pre_stop: Option<Handler>,
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

    /// `turn` resolves when the containers that must exit first have; the hook does not wait.
    async fn run(
        self,
        rec: Recorder,
        pod_ref: String,
        deadline: Instant,
        turn: Option<oneshot::Receiver<()>>,
    ) {
        let mut grace = deadline.saturating_duration_since(Instant::now());
        if let Some(action) = self.pre_stop.as_ref().filter(|_| !grace.is_zero()) {
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

impl PodWorker {
    /// A management kill of one container (failed probe or hook, changed image): preStop, then
    /// stop; the restart policy applies to its exit.
    pub(super) fn kill(&mut self, key: Key, message: String, grace: Duration) {
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
            pre_stop: slot.plan.pre_stop.clone(),
            target,
            minimum: MIN_GRACE,
        };
        let deadline = clock::later(Instant::now(), grace);
        job.announce(&rec);
        tokio::spawn(job.run(rec, pod_ref, deadline, None));
    }

    /// Stops every running container within `grace` (zero with a kill), in the kubelet's order.
    pub(super) fn stop_all(&mut self, mode: StopMode, grace: Duration) {
        self.terminating = true;
        for slot in self.init.iter_mut().chain(self.app.iter_mut()) {
            slot.restart_at = None;
        }
        self.stop_in_order(mode, grace);
    }

    /// Stops every running container within `grace`, in the kubelet's order; what becomes of
    /// each afterwards is the caller's business (a terminating pod restarts nothing).
    pub(super) fn stop_in_order(&mut self, mode: StopMode, grace: Duration) {
        let sidecar: Vec<bool> = self.init.iter().map(|s| s.plan.sidecar).collect();
        let (first, sidecars) = order(&sidecar, self.app.len());
        let first = self.stop_jobs(first, mode, grace);
        let sidecars = self.stop_jobs(sidecars, mode, grace);
        let (rec, pod_ref) = (self.rec.clone(), self.pod_ref());
        for job in first.iter().chain(&sidecars) {
            job.announce(&rec);
        }
        let deadline = clock::later(Instant::now(), grace);
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

    fn stop_jobs(&mut self, keys: Vec<Key>, mode: StopMode, grace: Duration) -> Vec<StopJob> {
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
                    slot.plan.pre_stop.clone()
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_and_regular_init_first_then_sidecars_last_first() {
        let (first, sidecars) = order(&[true, false, true], 2);
        assert_eq!(first, [Key::App(0), Key::App(1), Key::Init(1)]);
        assert_eq!(sidecars, [Key::Init(2), Key::Init(0)]);
    }
}
