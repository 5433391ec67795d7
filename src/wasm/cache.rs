//! Compiled images on disk, so the second run of an image skips compilation.
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility hash (wasmtime version and
//! the settings that affect code). Only files this module wrote are ever deserialized.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmtime::Engine;

pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    /// `dir` None disables the cache (nothing is read or written).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        CompileCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    /// The default location: `$WPOD_CACHE_DIR`, else the user's cache dir (`~/.cache/wpod`).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("WPOD_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("wpod"))
    }

    pub fn path_for(&self, wasm_sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(
            dir.join("compiled")
                .join(format!("{wasm_sha256}-{}.cwasm", self.engine_key)),
        )
    }

    /// Stores serialized code atomically: a crash mid-write leaves no half file behind.
    pub fn store_at(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = path.parent().context("cache path has no parent")?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating cache directory {}", dir.display()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }
}
