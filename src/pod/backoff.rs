//! CrashLoopBackOff timing, as the kubelet's per-container back-off does it.
//!
//! The first restart is immediate; later ones wait `base`, `2*base`, ... up to `max`, counted from the
//! previous run's finish. A container that ran cleanly for `2*max` (10 minutes by default) starts over.

use std::time::Duration;

/// Kubernetes' defaults.
pub const DEFAULT_BASE: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: DEFAULT_BASE,
            max: DEFAULT_MAX,
        }
    }
}

/// One container's back-off entry.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    /// None until the first restart, like a missing entry in the kubelet's back-off table.
    next: Option<Duration>,
}

impl Backoff {
    /// The wait before restarting a container that just exited after running for `ran`.
    pub fn on_exit(&mut self, policy: BackoffPolicy, ran: Duration) -> Duration {
        if ran >= policy.max.saturating_mul(2) {
            self.next = None;
        }
        match self.next {
            None => {
                self.next = Some(policy.base.min(policy.max));
                Duration::ZERO
            }
            Some(wait) => {
                self.next = Some(wait.saturating_mul(2).min(policy.max));
                wait
            }
        }
    }
}

impl Backoff {
    /// The wait before the next pull of an image whose pull just failed: the kubelet's image
    /// back-off, on the same 10 s doubling to 5 min.
    pub fn on_pull_failure(&mut self, policy: BackoffPolicy) -> Duration {
        let wait = self
            .next
            .map_or(policy.base, |w| w.saturating_mul(2))
            .min(policy.max);
        self.next = Some(wait);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_sequence() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9)
            .map(|_| b.on_exit(p, Duration::from_secs(1)).as_secs())
            .collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn pulls_back_off_from_the_first_failure() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..7).map(|_| b.on_pull_failure(p).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn long_clean_run_resets() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        b.on_exit(p, Duration::from_secs(1));
        assert_eq!(
            b.on_exit(p, Duration::from_secs(1)),
            Duration::from_secs(10)
        );
        assert_eq!(
            b.on_exit(p, Duration::from_secs(599)),
            Duration::from_secs(20)
        );
        assert_eq!(b.on_exit(p, Duration::from_secs(600)), Duration::ZERO);
        assert_eq!(
            b.on_exit(p, Duration::from_secs(1)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn shortened_for_demos() {
        let p = BackoffPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(250),
        };
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..5)
            .map(|_| b.on_exit(p, Duration::ZERO).as_millis())
            .collect();
        assert_eq!(waits, [0, 100, 200, 250, 250]);
    }
}
