//! Time for the lifecycle: tokio's clock (virtual in tests) mapped onto wall-clock timestamps.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct Clock {
    base: Instant,
    wall: Timestamp,
}

impl Clock {
    pub fn system() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let now = Timestamp::from_nanosecond(since_epoch.as_nanos() as i128)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Self::starting_at(now)
    }

    /// A clock whose `now()` reads `wall`: timestamps in tests are then reproducible.
    pub fn starting_at(wall: Timestamp) -> Self {
        Clock {
            base: Instant::now(),
            wall,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time of `at`, truncated to seconds as Kubernetes' timestamps are.
    pub fn wall(&self, at: Instant) -> Timestamp {
        let since = at.saturating_duration_since(self.base);
        let t = self
            .wall
            .checked_add(SignedDuration::try_from(since).unwrap_or(SignedDuration::MAX))
            .unwrap_or(self.wall);
        Timestamp::from_second(t.as_second()).unwrap_or(t)
    }
}
