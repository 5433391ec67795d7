//! The local image store: an OCI image layout directory (`$XDG_DATA_HOME/wpod/images`, or
//! `$WPOD_IMAGE_STORE`) holding every image imported or built, each blob under its digest, and
//! `index.json` naming each image's manifest by its full reference
//! (`docker.io/library/hello:latest`), as containerd and podman keep theirs. Any OCI tool reads
//! it (`skopeo inspect oci:DIR:REF`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use oci_spec::distribution::Reference;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType};
use sha2::{Digest as _, Sha256};

use crate::bounded;

/// Manifests, indexes and configs: containerd's limit for what it takes as metadata.
pub const MAX_METADATA: u64 = 4 << 20;
/// A layer or a wasm program.
pub const MAX_BLOB: u64 = super::MAX_FILE_BYTES;
/// The annotation naming an image in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct Store {
    dir: PathBuf,
}

/// One name of a stored image.
pub struct Entry {
    pub reference: String,
    pub manifest: Descriptor,
}

/// `sha256:` and the hex digest of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The full form of an image reference, as the kubelet's runtime normalizes it: `hello` is
/// `docker.io/library/hello:latest`.
pub fn normalize(reference: &str) -> Result<Reference, String> {
    reference
        .trim()
        .parse::<Reference>()
        .map_err(|e| format!("{reference:?} is not an image reference: {e}"))
}

/// A reference as stored: registry, repository and tag, without a digest.
fn stored_name(r: &Reference) -> String {
    format!(
        "{}/{}:{}",
        r.registry(),
        r.repository(),
        r.tag().unwrap_or("latest")
    )
}

impl Store {
    /// Where images are kept: `$WPOD_IMAGE_STORE`, else with the user's data (`images` in
    /// `crate::dirs::data`).
    pub fn default_dir() -> PathBuf {
        std::env::var_os("WPOD_IMAGE_STORE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::dirs::data().join("images"))
    }

    /// The store at `dir`, made if it is not there.
    pub fn open(dir: PathBuf) -> Result<Store, String> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)
            .map_err(|e| format!("creating the image store {}: {e}", dir.display()))?;
        let store = Store { dir };
        let layout = store.dir.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(store)
    }

    /// The default store, if anything was ever put there (looking never creates it).
    pub fn existing() -> Option<Store> {
        let dir = Self::default_dir();
        dir.join("index.json").is_file().then_some(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, String> {
        match digest.split_once(':') {
            Some(("sha256", hex))
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Ok(self.dir.join("blobs/sha256").join(hex.to_ascii_lowercase()))
            }
            _ => Err(format!(
                "unsupported digest {digest:?}: wpod's store takes sha256 digests"
            )),
        }
    }

    /// Writes through a new file renamed into place: a reader (another wpod) sees all or
    /// nothing.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        // Unique to this writer: two pods pulling the same image at once write the same blobs.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staged = path.with_extension(format!("new-{}-{n}", std::process::id()));
        let written = std::fs::File::create(&staged)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&staged, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            format!("writing {}: {e}", path.display())
        })
    }

    /// Keeps `bytes` under their digest; returns it.
    pub fn put(&self, bytes: &[u8]) -> Result<String, String> {
        let digest = digest(bytes);
        let path = self.blob_path(&digest)?;
        if !path.is_file() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Keeps `bytes`, which must be what `expected` (a descriptor's digest) says.
    pub fn put_expected(&self, expected: &str, bytes: &[u8]) -> Result<(), String> {
        let got = self.put(bytes)?;
        if got != expected.to_ascii_lowercase() {
            return Err(format!(
                "a blob does not match its digest: expected {expected}, got {got}"
            ));
        }
        Ok(())
    }

    /// A blob's bytes, at most `max`.
    pub fn blob(&self, digest: &str, max: u64) -> Result<Vec<u8>, String> {
        let path = self.blob_path(digest)?;
        bounded::read_capped(&path, max).map_err(|e| format!("reading blob {digest}: {e}"))
    }

    /// Where a blob is kept (for the linux backend, which runs a wasm program from a file).
    pub fn blob_file(&self, digest: &str) -> Result<PathBuf, String> {
        self.blob_path(digest)
    }

    fn index(&self) -> Result<ImageIndex, String> {
        let path = self.dir.join("index.json");
        if !path.exists() {
            return ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(Vec::new())
                .build()
                .map_err(|e| e.to_string());
        }
        let bytes = bounded::read_capped(&path, MAX_METADATA)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn save_index(&self, index: &ImageIndex) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(index).map_err(|e| e.to_string())?;
        self.write_atomic(&self.dir.join("index.json"), &json)
    }

    /// Every name and the manifest it names, in the index's order.
    pub fn entries(&self) -> Result<Vec<Entry>, String> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .map(|d| Entry {
                reference: d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .cloned()
                    .unwrap_or_default(),
                manifest: d.clone(),
            })
            .collect())
    }

    /// Names `manifest` `reference` (a name it had goes to this manifest); an empty reference
    /// keeps the manifest without a name.
    pub fn tag(&self, reference: Option<&Reference>, manifest: &Descriptor) -> Result<(), String> {
        let _held = self.lock()?;
        let mut index = self.index()?;
        let name = reference.map(stored_name).unwrap_or_default();
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                let named = d.annotations().as_ref().and_then(|a| a.get(REF_NAME));
                match named {
                    Some(n) if !n.is_empty() => *n != name,
                    // An unnamed entry for the same manifest is replaced.
                    _ => d.digest() != manifest.digest(),
                }
            })
            .cloned()
            .collect();
        let mut entry = manifest.clone();
        let mut annotations = entry.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_string(), name);
        entry.set_annotations(Some(annotations));
        manifests.push(entry);
        index.set_manifests(manifests);
        self.save_index(&index)
    }

    /// The stored image a reference names: by name (`hello`, `hello:1`), by digest
    /// (`hello@sha256:...`, the manifest's), or by its id or a prefix of it (`sha256:ab12`,
    /// `ab12`, the config's digest, as `docker images` shows it).
    pub fn find(&self, reference: &str) -> Result<Option<Entry>, String> {
        let entries = self.entries()?;
        let reference = reference.trim();
        let bare = reference.strip_prefix("sha256:").unwrap_or(reference);
        if bare.len() >= 12 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
            for e in &entries {
                let config = self.config_digest(&e.manifest).unwrap_or_default();
                let id = config.trim_start_matches("sha256:");
                if id.starts_with(bare) || e.manifest.digest().digest().starts_with(bare) {
                    return Ok(Some(Entry {
                        reference: e.reference.clone(),
                        manifest: e.manifest.clone(),
                    }));
                }
            }
        }
        let Ok(r) = normalize(reference) else {
            return Ok(None);
        };
        let found = match r.digest() {
            Some(d) => entries.into_iter().find(|e| {
                e.manifest.digest().to_string() == d
                    && (e.reference.is_empty()
                        || e.reference.starts_with(&format!(
                            "{}/{}:",
                            r.registry(),
                            r.repository()
                        )))
            }),
            None => {
                let name = stored_name(&r);
                entries.into_iter().find(|e| e.reference == name)
            }
        };
        Ok(found)
    }

    /// The digest of a stored image's config (its image id).
    pub fn config_digest(&self, manifest: &Descriptor) -> Result<String, String> {
        let bytes = self.blob(manifest.digest().as_ref(), MAX_METADATA)?;
        let m: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("manifest {}: {e}", manifest.digest()))?;
        Ok(m.config().digest().to_string())
    }

    /// Takes a name away; a manifest no name keeps is removed with the blobs only it used.
    /// Returns the names removed.
    pub fn remove(&self, reference: &str) -> Result<Vec<String>, String> {
        let Some(entry) = self.find(reference)? else {
            return Ok(Vec::new());
        };
        let by_id = !reference.contains('/') && !reference.contains(':')
            || reference.starts_with("sha256:");
        let _held = self.lock()?;
        let mut index = self.index()?;
        let mut removed = Vec::new();
        let kept: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| {
                let name = d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME))
                    .cloned()
                    .unwrap_or_default();
                // An id removes every name of the image; a name only itself.
                let goes = if by_id && entry.reference != name {
                    d.digest() == entry.manifest.digest()
                } else {
                    name == entry.reference && d.digest() == entry.manifest.digest()
                };
                if goes {
                    removed.push(name);
                }
                !goes
            })
            .cloned()
            .collect();
        index.set_manifests(kept);
        self.save_index(&index)?;
        self.collect_garbage(&self.blobs_of(&entry.manifest))?;
        Ok(removed)
    }

    /// Held while index.json is read, changed and written: two wpod processes naming images at
    /// once each keep their names.
    fn lock(&self) -> Result<std::fs::File, String> {
        let path = self.dir.join("index.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("locking {}: {e}", path.display()))?;
        Ok(file)
    }

    /// The blobs of a manifest: itself, its config and its layers.
    fn blobs_of(&self, manifest: &Descriptor) -> Vec<String> {
        let digest = manifest.digest().to_string();
        let mut out = vec![digest.clone()];
        if let Ok(bytes) = self.blob(&digest, MAX_METADATA)
            && let Ok(m) = serde_json::from_slice::<ImageManifest>(&bytes)
        {
            out.push(m.config().digest().to_string());
            out.extend(m.layers().iter().map(|l| l.digest().to_string()));
        }
        out
    }

    /// Removes those of `candidates` (the blobs of the images removed) that no manifest of the
    /// index reaches any more. Only those: another wpod importing or pulling stores its blobs
    /// before it names its image, and they must not go meanwhile.
    fn collect_garbage(&self, candidates: &[String]) -> Result<(), String> {
        let live: std::collections::BTreeSet<String> = self
            .entries()?
            .iter()
            .flat_map(|e| self.blobs_of(&e.manifest))
            .collect();
        for digest in candidates.iter().filter(|d| !live.contains(*d)) {
            let path = self.blob_path(digest)?;
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(format!("removing {}: {e}", path.display()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_given_at_once_by_several_writers_are_all_kept() {
        let dir = std::env::temp_dir().join(format!("wpod-image-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = std::sync::Arc::new(Store::open(dir.clone()).expect("a store"));
        let manifest = oci_spec::image::DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(
                digest(b"{}")
                    .parse::<oci_spec::image::Digest>()
                    .expect("a digest"),
            )
            .size(2u64)
            .build()
            .expect("a descriptor");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (store, manifest) = (store.clone(), manifest.clone());
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let name = normalize(&format!("w{w}/image:{i}")).expect("a name");
                        store.tag(Some(&name), &manifest).expect("tagged");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("a writer");
        }
        assert_eq!(store.entries().expect("entries").len(), 100);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn references_are_normalized_as_the_runtime_does() {
        let full = |r: &str| stored_name(&normalize(r).expect("a reference"));
        assert_eq!(full("hello"), "docker.io/library/hello:latest");
        assert_eq!(full("hello:1.0"), "docker.io/library/hello:1.0");
        assert_eq!(full("acme/tool"), "docker.io/acme/tool:latest");
        assert_eq!(full("localhost:5000/tool:v2"), "localhost:5000/tool:v2");
        assert_eq!(full("ghcr.io/acme/tool:1"), "ghcr.io/acme/tool:1");
        assert!(normalize("not a ref!").is_err());
        assert!(normalize("hello@sha256:abc").is_err());
    }
}
