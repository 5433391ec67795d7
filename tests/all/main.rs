//! Integration tests: the real `wpod` binary, real wasmtime, real guests.

mod bounds;
mod busybox;
mod cache_integrity;
mod confinement;
mod escape_paths;
mod images;
mod in_cluster;
mod lessons;
mod lifecycle;
mod net;
mod output;
mod output_stall;
mod parity;
mod probes;
mod processes;
mod python_client;
mod readme;
mod sandbox;
mod seam;
mod serve;
mod streams;
mod support;
mod validate;
mod volumes;
mod wasm;
mod workloads;
