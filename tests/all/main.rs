//! Integration tests: the real `wpod` binary, real wasmtime, real guests.

mod lifecycle;
mod net;
mod output;
mod parity;
mod support;
mod validate;
mod volumes;
mod wasm;
