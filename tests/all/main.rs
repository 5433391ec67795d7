//! Integration tests: the real `wpod` binary, real wasmtime, real guests.

mod lifecycle;
mod net;
mod output;
mod probes;
mod support;
mod validate;
mod volumes;
mod wasm;
