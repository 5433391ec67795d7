//! Compiled images on disk, so the second run of an image skips compilation.
//!
//! Entries are keyed by the wasm's sha256 and the engine's compatibility hash (wasmtime version and
//! the settings that affect code). Machine code from disk is executed, so each entry starts with
//! the sha256 of the serialized code it holds, recorded when it was written: an entry whose bytes
//! no longer match (a disk error, a truncated write, a stray edit) is never deserialized.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::bounded;

/// What every entry starts with, then the 32-byte sha256 of the rest.
const MAGIC: &[u8] = b"wpod-cwasm-sha256\n";
/// Compiled code larger than this is not believed to be an entry (images are at most 256 MiB).
const MAX_ENTRY: u64 = 2 << 30;

/// Why a cache entry cannot be used.
#[derive(Debug)]
pub enum Unusable {
    /// There is none (or it cannot be opened): compile, nothing to say.
    Missing,
    /// It exists and is damaged: compile, and say so.
    Corrupt(String),
}

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

    /// The default location (see `crate::dirs::cache`).
    pub fn default_dir() -> Option<PathBuf> {
        crate::dirs::cache()
    }

    pub fn path_for(&self, wasm_sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(
            dir.join("compiled")
                // `-d`: entries with a digest; older ones are not read, so not reported damaged.
                .join(format!("{wasm_sha256}-{}-d.cwasm", self.engine_key)),
        )
    }

    /// Stores serialized code with its digest, atomically: a crash mid-write leaves no half file
    /// behind.
    pub fn store_at(path: &Path, code: &[u8]) -> anyhow::Result<()> {
        let dir = path.parent().context("cache path has no parent")?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating cache directory {}", dir.display()))?;
        let mut entry = Vec::with_capacity(MAGIC.len() + 32 + code.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&Sha256::digest(code));
        entry.extend_from_slice(code);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &entry).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// The serialized code of the entry at `path`, if its digest still matches.
    pub fn load_at(path: &Path) -> Result<Vec<u8>, Unusable> {
        let entry = match bounded::read_capped(path, MAX_ENTRY) {
            Ok(entry) => entry,
            Err(bounded::Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unusable::Missing);
            }
            Err(e) => return Err(Unusable::Corrupt(e.to_string())),
        };
        let Some(rest) = entry.strip_prefix(MAGIC) else {
            return Err(Unusable::Corrupt(
                "it does not start as wpod writes entries".into(),
            ));
        };
        let Some((digest, code)) = rest.split_at_checked(32) else {
            return Err(Unusable::Corrupt("it is truncated".into()));
        };
        if Sha256::digest(code).as_slice() != digest {
            return Err(Unusable::Corrupt(
                "its content no longer matches the digest recorded when it was written".into(),
            ));
        }
        Ok(code.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_loads_only_while_its_bytes_match_their_digest() {
        let dir = std::env::temp_dir().join(format!("wpod-cache-test-{}", std::process::id()));
        let path = dir.join("compiled/x.cwasm");
        assert!(CompileCache::store_at(&path, b"machine code").is_ok());
        assert_eq!(
            CompileCache::load_at(&path).ok().as_deref(),
            Some(&b"machine code"[..])
        );
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let _ = std::fs::write(&path, &bytes);
        assert!(matches!(
            CompileCache::load_at(&path),
            Err(Unusable::Corrupt(_))
        ));
        let _ = std::fs::write(&path, &bytes[..MAGIC.len() + 5]);
        assert!(matches!(
            CompileCache::load_at(&path),
            Err(Unusable::Corrupt(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            CompileCache::load_at(&path),
            Err(Unusable::Missing)
        ));
    }
}
