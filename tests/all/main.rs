//! Integration tests: the real `wpod` binary, real wasmtime, real guests.

mod lifecycle;
mod output;
mod support;
mod validate;
mod volumes;
mod wasm;
