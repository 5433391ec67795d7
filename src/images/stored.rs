//! What a stored image runs: its wasm program and, as the image config says, its ENTRYPOINT,
//! CMD, ENV, WorkingDir and Labels, and the other files of its root file system.
//!
//! Two kinds of image hold a program wpod runs, as containerd's runwasi shims take them:
//! - the CNCF wasm OCI artifact: config `application/vnd.wasm.config.v0+json` and one layer
//!   `application/wasm`, the component itself (what `wkg oci push` makes);
//! - an ordinary image (`docker buildx --platform wasi/wasm`, `wpod image build`) whose layers
//!   hold a `.wasm` file that ENTRYPOINT (else CMD) names.

use std::collections::BTreeMap;
use std::io::Read as _;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};

use super::store::{Entry, MAX_BLOB, MAX_METADATA, Store};

pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
/// What the retired wasm-to-oci tool used; wpod says why it does not run them.
const OLD_WASM_CONFIG: &str = "application/vnd.wasm.config.v1+json";
const OLD_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The root file system of an image, all its layers unpacked, at most.
const MAX_ROOTFS: u64 = 512 << 20;
const MAX_FILES: usize = 100_000;

/// A stored image, ready to run.
pub struct StoredImage {
    /// The config's digest: the image id (`imageID` of the container status).
    pub id: String,
    /// The manifest's digest (the `@sha256:` of the reference).
    pub digest: String,
    pub reference: String,
    pub wasm: Vec<u8>,
    /// Where the program is in the image (`/app.wasm`), or the artifact's layer digest.
    pub program: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The other regular files of its root file system: (absolute path, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

/// The manifest of an index's wasm platform (architecture `wasm`, or os `wasi*`), as the
/// runwasi shims choose it; the error says there is none.
pub fn wasm_platform(index: &oci_spec::image::ImageIndex) -> Result<&Descriptor, String> {
    index
        .manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.architecture().to_string() == "wasm" || p.os().to_string().starts_with("wasi")
            })
        })
        .ok_or_else(|| {
            "its index has no wasm platform (architecture wasm, os wasip1/wasip2): wpod runs \
             WebAssembly images only"
                .to_string()
        })
}

fn media(m: &MediaType) -> String {
    m.to_string()
}

/// Loads the image `entry` names.
pub fn load(store: &Store, entry: &Entry) -> Result<StoredImage, String> {
    let digest = entry.manifest.digest().to_string();
    let manifest: ImageManifest = serde_json::from_slice(&store.blob(&digest, MAX_METADATA)?)
        .map_err(|e| format!("the image's manifest {digest}: {e}"))?;
    let config = manifest.config();
    let config_type = media(config.media_type());
    let id = config.digest().to_string();
    let reference = entry.reference.clone();
    if config_type == OLD_WASM_CONFIG
        || manifest
            .layers()
            .iter()
            .any(|l| media(l.media_type()) == OLD_WASM_LAYER)
    {
        return Err(format!(
            "it has the media types of the retired wasm-to-oci tool ({OLD_WASM_CONFIG}, \
             {OLD_WASM_LAYER}), which runwasi and wpod do not run: publish it as a CNCF wasm OCI \
             artifact ({WASM_CONFIG} with an {WASM_LAYER} layer, as `wkg oci push` does), or as \
             an image whose ENTRYPOINT names a .wasm file (`wpod image build`)"
        ));
    }
    if config_type == WASM_CONFIG {
        let layers: Vec<&Descriptor> = manifest
            .layers()
            .iter()
            .filter(|l| media(l.media_type()) == WASM_LAYER)
            .collect();
        let [layer] = layers.as_slice() else {
            return Err(format!(
                "a wasm artifact must have one {WASM_LAYER} layer; this one has {}",
                layers.len()
            ));
        };
        let wasm = store.blob(layer.digest().as_ref(), MAX_BLOB)?;
        // Named for its repository, as a file image is for its file: `command` overrides it.
        let name = reference
            .rsplit('/')
            .next()
            .and_then(|n| n.split(':').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("app")
            .to_string();
        return Ok(StoredImage {
            id,
            digest,
            reference,
            wasm,
            program: layer.digest().to_string(),
            entrypoint: vec![name],
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            labels: BTreeMap::new(),
            files: Vec::new(),
        });
    }
    if !matches!(config.media_type(), MediaType::ImageConfig) && config_type != DOCKER_CONFIG {
        return Err(format!(
            "its config has the media type {config_type}: wpod runs OCI and Docker images and wasm \
             artifacts ({WASM_CONFIG})"
        ));
    }
    let image: ImageConfiguration = serde_json::from_slice(&store.blob(&id, MAX_METADATA)?)
        .map_err(|e| format!("the image's config {id}: {e}"))?;
    let c = image.config().clone().unwrap_or_default();
    let env: Vec<(String, String)> = c
        .env()
        .iter()
        .flatten()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let entrypoint = c.entrypoint().clone().unwrap_or_default();
    let cmd = c.cmd().clone().unwrap_or_default();
    let mut rootfs = unpack(store, &manifest)?;
    let named = entrypoint.first().or(cmd.first()).ok_or_else(|| {
        "the image has neither ENTRYPOINT nor CMD, so nothing names its program".to_string()
    })?;
    let path = find_program(&rootfs, named, &env).ok_or_else(|| {
        format!("its ENTRYPOINT names {named:?}, which is not a file in the image")
    })?;
    let wasm = rootfs.remove(&path).unwrap_or_default();
    if !wasm.starts_with(b"\0asm") {
        return Err(format!(
            "its program {path} is not WebAssembly (an image for {}/{}): wpod runs wasm images, \
             such as those built with `docker buildx --platform wasi/wasm` or `wpod image build`",
            image.os(),
            image.architecture()
        ));
    }
    Ok(StoredImage {
        id,
        digest,
        reference,
        wasm,
        program: path,
        entrypoint,
        cmd,
        env,
        working_dir: c.working_dir().clone().filter(|d| !d.is_empty()),
        labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
        files: rootfs.into_iter().collect(),
    })
}

/// The file ENTRYPOINT names: an absolute path, or a name looked up along the image's PATH.
fn find_program(
    rootfs: &BTreeMap<String, Vec<u8>>,
    named: &str,
    env: &[(String, String)],
) -> Option<String> {
    if named.starts_with('/') {
        let path = clean(named)?;
        return rootfs.contains_key(&path).then_some(path);
    }
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str());
    std::iter::once("/")
        .chain(path_var.split(':'))
        .filter_map(|dir| clean(&format!("{dir}/{named}")))
        .find(|p| rootfs.contains_key(p))
}

/// `/a/b` from a layer's `./a//b` (None for one that climbs out with `..`).
fn clean(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// The regular files of the image's root file system: its layers applied in order, whiteouts
/// (`.wh.NAME`, `.wh..wh..opq`) removing what the layers below had.
fn unpack(store: &Store, manifest: &ImageManifest) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total = 0u64;
    for layer in manifest.layers() {
        let kind = media(layer.media_type());
        let digest = layer.digest().to_string();
        let bytes = store.blob(&digest, MAX_BLOB)?;
        let gzip = match layer.media_type() {
            MediaType::ImageLayer => false,
            MediaType::ImageLayerGzip => true,
            _ if kind == DOCKER_LAYER => false,
            _ if kind == DOCKER_LAYER_GZIP => true,
            _ if kind == WASM_LAYER => {
                return Err(format!(
                    "a {WASM_LAYER} layer belongs in a wasm artifact (config {WASM_CONFIG}), not \
                     in an image with a runnable config"
                ));
            }
            _ => {
                return Err(format!(
                    "layer {digest} has the media type {kind}, which wpod does not unpack \
                     (it takes tar and tar+gzip layers)"
                ));
            }
        };
        let reader: Box<dyn std::io::Read> = if gzip || bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(&bytes[..]))
        } else {
            Box::new(&bytes[..])
        };
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| format!("layer {digest}: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("layer {digest}: {e}"))?;
            let raw = entry
                .path()
                .map_err(|e| format!("layer {digest}: {e}"))?
                .to_string_lossy()
                .into_owned();
            let Some(path) = clean(&raw) else {
                continue;
            };
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                files.retain(|p, _| !p.starts_with(&prefix));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                let gone = format!("{dir}/{gone}");
                let under = format!("{gone}/");
                files.retain(|p, _| *p != gone && !p.starts_with(&under));
                continue;
            }
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let size = entry.header().size().unwrap_or(0);
            total = total.saturating_add(size);
            if total > MAX_ROOTFS || files.len() >= MAX_FILES {
                return Err(format!(
                    "its root file system is larger than wpod unpacks ({} in {MAX_FILES} files \
                     at most): a wasm image needs little besides its program",
                    crate::bounded::human(MAX_ROOTFS)
                ));
            }
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| format!("layer {digest}: {path}: {e}"))?;
            files.insert(path, bytes);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_layers_are_cleaned_and_never_climb_out() {
        assert_eq!(clean("./app.wasm").as_deref(), Some("/app.wasm"));
        assert_eq!(clean("usr//bin/./x").as_deref(), Some("/usr/bin/x"));
        assert_eq!(clean("../etc/passwd"), None);
        assert_eq!(clean("a/../../b"), None);
    }

    #[test]
    fn the_program_is_found_by_path_or_along_path() {
        let rootfs: BTreeMap<String, Vec<u8>> = [
            ("/app.wasm".to_string(), b"\0asm".to_vec()),
            ("/usr/bin/tool.wasm".to_string(), b"\0asm".to_vec()),
        ]
        .into();
        let env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        assert_eq!(
            find_program(&rootfs, "/app.wasm", &env).as_deref(),
            Some("/app.wasm")
        );
        assert_eq!(
            find_program(&rootfs, "app.wasm", &env).as_deref(),
            Some("/app.wasm")
        );
        assert_eq!(
            find_program(&rootfs, "tool.wasm", &env).as_deref(),
            Some("/usr/bin/tool.wasm")
        );
        assert_eq!(find_program(&rootfs, "/missing.wasm", &env), None);
    }
}
