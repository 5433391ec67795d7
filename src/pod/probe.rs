//! Liveness, readiness and startup probes: their timings (with Kubernetes' defaults), the
//! threshold counting of the kubelet's probe workers, and the worker task itself.

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::handler::{self, Target};
use crate::plan::{ContainerPlan, Probe, Timings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    /// As the kubelet writes it in events: `Liveness probe failed: ...`.
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    pub fn of(self, c: &ContainerPlan) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

/// One probe's run of results, as the kubelet's worker counts them.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    successes: u32,
    failures: u32,
    /// The current result once a threshold was reached; None before that.
    pub result: Option<bool>,
}

impl Counter {
    /// Counts one outcome; returns the new result when it changed.
    pub fn record(&mut self, ok: bool, t: &Timings) -> Option<bool> {
        let reached = if ok {
            self.failures = 0;
            self.successes += 1;
            self.successes >= t.success_threshold
        } else {
            self.successes = 0;
            self.failures += 1;
            self.failures >= t.failure_threshold
        };
        if reached && self.result != Some(ok) {
            self.result = Some(ok);
            Some(ok)
        } else {
            None
        }
    }
}

/// What a worker reports after each probe.
pub struct ProbeOutcome {
    pub kind: ProbeKind,
    pub result: handler::ProbeResult,
}

/// Probes every `period`, the first time `initial_delay` after `started` (the container's start),
/// and sends each outcome until aborted or the receiver is gone.
pub async fn worker<T: Send + 'static>(
    kind: ProbeKind,
    probe: Probe,
    target: Target,
    started: Instant,
    tx: mpsc::UnboundedSender<T>,
    wrap: impl Fn(ProbeOutcome) -> T + Send + 'static,
) {
    let t = probe.timings;
    let first = super::clock::later(started, t.initial_delay).max(Instant::now());
    let mut ticks = tokio::time::interval_at(first, t.period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = handler::probe(&probe.handler, &target, t.timeout).await;
        if tx.send(wrap(ProbeOutcome { kind, result })).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn timings(success: u32, failure: u32) -> Timings {
        Timings {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
            grace: None,
        }
    }

    #[test]
    fn thresholds_need_consecutive_results() {
        let t = timings(2, 3);
        let mut c = Counter::default();
        let seen: Vec<Option<bool>> = [false, false, true, false, false, false, true, true, true]
            .iter()
            .map(|ok| c.record(*ok, &t))
            .collect();
        assert_eq!(
            seen,
            [
                None,
                None,
                None,
                None,
                None,
                Some(false),
                None,
                Some(true),
                None
            ]
        );
    }
}
