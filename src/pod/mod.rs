//! The pod lifecycle, backend-neutral: what the kubelet does for one pod.

pub mod backoff;
pub mod clock;
pub mod events;
pub mod handler;
pub mod kubelet;
pub mod probe;
pub mod status;
pub mod termination;

#[cfg(test)]
mod tests;

pub use kubelet::{KubeletConfig, Outcome, PodHandle, StopMode, spawn};
pub use status::Phase;
