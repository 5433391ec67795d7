//! What probe results and postStart hooks do to a container (the kubelet's prober manager and
//! the liveness/startup handling of computePodActions): readiness flips `ready`, a startup probe
//! that succeeds lets the other probes begin, a failed liveness or startup probe or postStart hook
//! kills the container and its restart policy decides the rest.

use super::actions::Key;
use super::events::EventType;
use super::handler::ProbeResult;
use super::probe::{self, ProbeKind, ProbeOutcome};
use super::worker::{PodWorker, Report};
use crate::plan::RestartPolicy;

impl PodWorker {
    /// Starts the workers of `kinds` that the container has, for its current instance.
    pub(super) fn spawn_probes(&mut self, key: Key, kinds: &[ProbeKind]) {
        let Some(target) = self.target(key) else {
            return;
        };
        let reports = self.reports.clone();
        let slot = self.slot_mut(key);
        let Some(running) = slot.running.as_mut() else {
            return;
        };
        let attempt = running.attempt;
        for kind in kinds {
            if let Some(p) = kind.of(&slot.plan) {
                let worker = tokio::spawn(probe::worker(
                    *kind,
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
                running.workers.push((*kind, worker.abort_handle()));
            }
        }
    }

    pub(super) fn on_post_start(&mut self, key: Key, attempt: u32, result: Result<(), String>) {
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

    pub(super) fn on_probe(&mut self, key: Key, attempt: u32, outcome: ProbeOutcome) {
        if !self.is_current(key, attempt) {
            return;
        }
        let kind = outcome.kind;
        let plan = &self.slot(key).plan;
        let name = plan.name.clone();
        let Some(probe) = kind.of(plan) else {
            return;
        };
        let timings = probe.timings;
        let policy = plan.restart_policy(self.plan.restart_policy);
        let grace = timings.grace.unwrap_or(self.plan.grace_period);
        let forced = self.failing.contains(&(name.clone(), kind)).then(|| {
            ProbeResult::Failure("made to fail on request (wpod's live view)".to_string())
        });
        let passed = match forced.as_ref().unwrap_or(&outcome.result) {
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
                self.spawn_probes(key, &[ProbeKind::Liveness, ProbeKind::Readiness]);
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
}
