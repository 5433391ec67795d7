//! wpod's manifest loader, compiled from its own sources, for the fuzz target.
//!
//! Depending on the wpod crate instead would build wasmtime and every built-in guest
//! (wpod's build script) with coverage instrumentation, minutes for code the loader never
//! calls; the loader uses nothing of wpod outside `src/manifest/`.

// Parts of the loader that only the rest of wpod calls.
#[allow(dead_code)]
#[path = "../../src/manifest/mod.rs"]
pub mod manifest;

#[path = "../../src/manifest/invariants.rs"]
mod invariants;

pub use invariants::check;
