//! wpod: run Kubernetes v1 Pod manifests locally, each container a WebAssembly program.

pub mod api;
pub mod bounded;
pub mod cli;
pub mod console;
pub mod diagram;
pub mod dirs;
pub mod expand;
pub mod explain;
pub mod host_limits;
pub mod hostfs;
pub mod images;
pub mod lessons;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod manifest;
pub mod modes;
pub mod net;
pub mod node;
pub mod parity;
pub mod plan;
pub mod pod;
pub mod runtime;
pub mod volumes;
pub mod wasm;
