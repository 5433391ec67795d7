//! The virtual pod network: one `localhost`, one IP and one port space per pod, pod-to-pod
//! traffic by IP or name, all in memory. Guests reach it through wasi:sockets, which wpod
//! implements itself; no guest ever touches a host socket unless a port is published.

pub mod bindings;
pub mod cluster;
pub mod dns;
pub mod host;
pub mod netns;
pub mod pipe;
pub mod publish;
pub mod services;
pub mod trace;

pub use cluster::Cluster;
pub use trace::Trace;
