//! Time for the lifecycle: tokio's clock (virtual in tests) mapped onto wall-clock timestamps.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

/// Further out than any pod lives. Grace periods, deadlines and back-offs come from manifests and
/// flags (`terminationGracePeriodSeconds: 9223372036854775807`, `--grace-period 1000000000h`);
/// a deadline beyond this is this far away instead, so `Instant + Duration` can never overflow.
pub const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `at + d`, saturating at FAR_FUTURE after `at`.
pub fn later(at: Instant, d: Duration) -> Instant {
    // 100 years fit any Instant a running system has; `at` itself is the last resort.
    at.checked_add(d.min(FAR_FUTURE)).unwrap_or(at)
}

/// Whole seconds from a manifest (an `int64`), negatives as zero.
pub fn seconds(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// Where virtual time started (`wpod run --clock virtual`): the paused runtime's Instant then, and
/// the wall time it stands for.
static VIRTUAL: std::sync::OnceLock<(Instant, Timestamp)> = std::sync::OnceLock::new();

/// Starts virtual time at `wall`; called once, inside the paused runtime, before any pod starts.
pub fn use_virtual(wall: Timestamp) {
    let _ = VIRTUAL.set((Instant::now(), wall));
}

/// Where virtual time started, if it did.
pub fn virtual_start() -> Option<(Instant, Timestamp)> {
    VIRTUAL.get().copied()
}

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

    /// The run's clock: virtual time when it was started, else the machine's.
    pub fn current() -> Self {
        match virtual_start() {
            Some((base, wall)) => Clock { base, wall },
            None => Self::system(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_saturates() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(later(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(later(now, seconds(i64::MAX)), now + FAR_FUTURE);
        assert!(later(now, seconds(i64::MAX)) > later(now, Duration::from_secs(3600 * 24 * 365)));
    }

    #[test]
    fn seconds_clamp_negatives() {
        assert_eq!(seconds(-1), Duration::ZERO);
        assert_eq!(seconds(i64::MIN), Duration::ZERO);
        assert_eq!(seconds(30), Duration::from_secs(30));
        assert_eq!(seconds(i64::MAX), Duration::from_secs(i64::MAX as u64));
    }
}
