//! wpod: run Kubernetes v1 Pod manifests locally, each container a WebAssembly program.

pub mod cli;
pub mod expand;
pub mod images;
pub mod manifest;
pub mod net;
pub mod plan;
pub mod pod;
pub mod runtime;
pub mod volumes;
pub mod wasm;
