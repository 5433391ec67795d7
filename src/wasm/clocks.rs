//! `wpod run --clock virtual`: the guests' clocks read the runtime's paused tokio clock, which
//! jumps to the next timer whenever nothing is ready to run (tokio's auto-advance). Their sleeps
//! are tokio timers already (wasmtime-wasi's `subscribe-duration`), so a guest asleep for a minute
//! costs no wall time, and `date` inside it reads the same virtual time as the pod's events.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The clocks a guest gets: None for the machine's own.
pub(super) fn virtual_clocks() -> Option<(Monotonic, Wall)> {
    let (base, wall) = crate::pod::clock::virtual_start()?;
    let wall = Duration::try_from(wall.duration_since(Timestamp::UNIX_EPOCH)).unwrap_or_default();
    Some((Monotonic(base), Wall(base, wall)))
}

pub(super) struct Monotonic(Instant);

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(Instant::now().saturating_duration_since(self.0).as_nanos())
            .unwrap_or(u64::MAX)
    }
}

pub(super) struct Wall(Instant, Duration);

impl HostWallClock for Wall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.1
            .saturating_add(Instant::now().saturating_duration_since(self.0))
    }
}
