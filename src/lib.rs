//! wpod: run Kubernetes v1 Pod manifests locally, each container a WebAssembly program.

pub mod expand;
// TEMP pub mod manifest;
pub mod plan;
pub mod pod;
pub mod runtime;
