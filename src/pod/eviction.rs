//! What ends a pod from the node's side: the eviction manager's emptyDir sizeLimit check
//! (pkg/kubelet/eviction/eviction_manager.go, localStorageEviction) and the active deadline
//! (pkg/kubelet/active_deadline.go); and the volumes' other upkeep, projected tokens fetched
//! again before they expire (pkg/kubelet/token).

use std::time::Duration;

use super::clock;
use super::events::EventType;
use super::worker::{PodWorker, StopMode};

/// How often emptyDir usage is compared with sizeLimit.
pub const USAGE_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// How soon a token that could not be fetched is tried again.
const TOKEN_RETRY: Duration = Duration::from_secs(10);

impl PodWorker {
    /// What is due of the volumes' upkeep.
    pub(super) fn volume_upkeep(&mut self) {
        let now = self.config.clock.now();
        if self.token_refresh_at.is_some_and(|t| t <= now) {
            self.refresh_tokens();
        }
        if self.usage_check_at.is_some_and(|t| t <= now) {
            self.check_usage();
        }
    }

    /// The projected tokens, fetched again; one that cannot be is tried again 10 s later.
    fn refresh_tokens(&mut self) {
        let now = self.config.clock.now();
        let failed = self.volumes.refresh_tokens(&self.plan, &self.facts());
        for f in &failed {
            self.event(EventType::Warning, "FailedMount", None, f.event_message());
        }
        let next = if failed.is_empty() {
            self.volumes.tokens_due()
        } else {
            Some(TOKEN_RETRY)
        };
        self.token_refresh_at = next.map(|d| clock::later(now, d));
    }

    /// An emptyDir over its sizeLimit evicts the pod: killed at once (grace period 0), Failed.
    fn check_usage(&mut self) {
        let now = self.config.clock.now();
        self.usage_check_at = Some(clock::later(now, USAGE_CHECK_PERIOD));
        if let Some((volume, limit)) = self.volumes.over_limit() {
            let message =
                format!("Usage of EmptyDir volume {volume:?} exceeds the limit {limit:?}.");
            self.event(EventType::Warning, "Evicted", None, message.clone());
            self.evicted = Some(message);
            self.usage_check_at = None;
            self.stop_all(StopMode::Kill, Duration::ZERO);
        }
    }

    /// `activeDeadlineSeconds` passed: the pod stops gracefully and ends Failed.
    pub(super) fn deadline_exceeded(&mut self) {
        self.deadline_exceeded = true;
        self.event(
            EventType::Normal,
            "DeadlineExceeded",
            None,
            "Pod was active on the node longer than the specified deadline".into(),
        );
        self.stop_all(StopMode::Graceful, self.plan.grace_period);
    }
}
