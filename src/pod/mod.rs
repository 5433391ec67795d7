//! The pod lifecycle, backend-neutral: what the kubelet does for one pod, one rule per file.
//!
//! - `actions`: what the pod needs next, from its state alone (computePodActions)
//! - `worker`: the loop that performs it (podWorkers, SyncPod)
//! - `start`: pulling, config generation, create, start, postStart (startContainer)
//! - `restart`: restart policy and CrashLoopBackOff after an exit
//! - `probe_results`: what probe results and hooks do to a container
//! - `termination_order`: stopping containers, sidecars last (kuberuntime_termination_order.go)
//! - `eviction`: emptyDir sizeLimit and activeDeadlineSeconds
//! - `update`: a changed image restarts its container
//! - `status`: phase, conditions and the API status; `termination_message`, `backoff`, `probe`,
//!   `handler`, `events`, `clock`: the pieces they share

pub mod actions;
pub mod backoff;
pub mod clock;
pub mod events;
pub mod eviction;
pub mod handler;
pub mod image_pull;
pub mod probe;
mod probe_results;
pub mod restart;
mod start;
pub mod status;
pub mod termination_message;
pub mod termination_order;
mod update;
pub mod worker;

#[cfg(test)]
mod tests;

pub use status::Phase;
pub use worker::{Command, KubeletConfig, Located, Outcome, PodHandle, StopMode, spawn};
