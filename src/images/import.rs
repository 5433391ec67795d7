//! `wpod image import` and `wpod image build`: images into the store, from an OCI image layout
//! directory, an OCI archive (a layout in a tar, as `skopeo copy oci-archive:` and `docker save`
//! of Docker 25+ write it), a docker-archive tarball (`docker save` before, `podman save`), each
//! optionally gzipped; or made from a `.wasm` file.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use oci_spec::distribution::Reference;
use oci_spec::image::{
    ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfigurationBuilder, ImageIndex,
    ImageManifest, ImageManifestBuilder, MediaType, RootFsBuilder,
};

use super::store::{MAX_BLOB, MAX_METADATA, REF_NAME, Store, normalize};

/// An archive, unpacked, at most (its blobs are each bounded too).
const MAX_ARCHIVE: u64 = 2 << 30;
const MAX_ENTRIES: usize = 100_000;
/// containerd's annotation for an image's full name, next to the OCI one (often just a tag).
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One image put in the store.
pub struct Imported {
    /// Its name (empty when neither the source nor `--name` gave one).
    pub reference: String,
    pub digest: String,
}

/// Where an image comes from: files by their path in a layout directory or an archive.
trait Source {
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, String>;
}

struct Dir<'a>(&'a Path);

impl Source for Dir<'_> {
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, String> {
        let path = self.0.join(rel);
        crate::bounded::read_capped(&path, max).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// An archive's regular files, by their cleaned path.
struct Archive(BTreeMap<String, Vec<u8>>);

impl Source for Archive {
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, String> {
        let rel = rel.trim_start_matches("./");
        let bytes = self
            .0
            .get(rel)
            .ok_or_else(|| format!("the archive has no {rel}"))?;
        if bytes.len() as u64 > max {
            return Err(format!("{rel} is larger than {max} bytes"));
        }
        Ok(bytes.clone())
    }
}

fn unpack_archive(path: &Path) -> Result<Archive, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut head = [0u8; 2];
    let gzip = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == [0x1f, 0x8b];
    let reader: Box<dyn std::io::Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader.take(MAX_ARCHIVE));
    let mut files = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: not a tar archive: {e}", path.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if files.len() >= MAX_ENTRIES {
            return Err(format!(
                "{}: more than {MAX_ENTRIES} files: not an image archive",
                path.display()
            ));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
        files.insert(name, bytes);
    }
    Ok(Archive(files))
}

/// Imports every image `path` holds; `name` names the image (there must be one then).
pub fn import(store: &Store, path: &Path, name: Option<&str>) -> Result<Vec<Imported>, String> {
    let name = name.map(normalize).transpose()?;
    let imported = if path.is_dir() {
        if !path.join("oci-layout").is_file() {
            return Err(format!(
                "{} is a directory without an oci-layout file: not an OCI image layout",
                path.display()
            ));
        }
        from_layout(store, &Dir(path), name.as_ref())?
    } else {
        let archive = unpack_archive(path)?;
        if archive.0.contains_key("oci-layout") {
            from_layout(store, &archive, name.as_ref())?
        } else if archive.0.contains_key("manifest.json") {
            from_docker_archive(store, &archive, name.as_ref())?
        } else {
            return Err(format!(
                "{} holds neither an OCI layout (oci-layout, index.json) nor a docker-archive \
                 (manifest.json)",
                path.display()
            ));
        }
    };
    if imported.is_empty() {
        return Err(format!("{} holds no image", path.display()));
    }
    Ok(imported)
}

/// Copies a blob to the store, checking it is what its descriptor says.
fn copy_blob(store: &Store, src: &dyn Source, d: &Descriptor, max: u64) -> Result<(), String> {
    let digest = d.digest().to_string();
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("malformed digest {digest}"))?;
    if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("unsupported digest {digest}: wpod takes sha256"));
    }
    let bytes = src.read(&format!("blobs/{alg}/{hex}"), max)?;
    store.put_expected(&digest, &bytes)
}

fn from_layout(
    store: &Store,
    src: &dyn Source,
    name: Option<&Reference>,
) -> Result<Vec<Imported>, String> {
    let index: ImageIndex = serde_json::from_slice(&src.read("index.json", MAX_METADATA)?)
        .map_err(|e| format!("index.json: {e}"))?;
    let mut out = Vec::new();
    for d in index.manifests() {
        let annotations = d.annotations().clone().unwrap_or_default();
        let given = annotations
            .get(CONTAINERD_NAME)
            .or(annotations.get(REF_NAME))
            .filter(|n| !n.is_empty())
            .and_then(|n| normalize(n).ok());
        let reference = name.cloned().or(given);
        out.push(import_manifest(store, src, d, reference.as_ref())?);
        if name.is_some() {
            break;
        }
    }
    Ok(out)
}

/// A manifest (or, for an index of platforms, the wasm one) and its blobs, named.
fn import_manifest(
    store: &Store,
    src: &dyn Source,
    d: &Descriptor,
    reference: Option<&Reference>,
) -> Result<Imported, String> {
    let digest = d.digest().to_string();
    if matches!(d.media_type(), MediaType::ImageIndex) {
        copy_blob(store, src, d, MAX_METADATA)?;
        let nested: ImageIndex = serde_json::from_slice(&store.blob(&digest, MAX_METADATA)?)
            .map_err(|e| format!("index {digest}: {e}"))?;
        let m =
            super::stored::wasm_platform(&nested).map_err(|e| format!("index {digest}: {e}"))?;
        return import_manifest(store, src, m, reference);
    }
    copy_blob(store, src, d, MAX_METADATA)?;
    let manifest: ImageManifest = serde_json::from_slice(&store.blob(&digest, MAX_METADATA)?)
        .map_err(|e| format!("manifest {digest}: {e}"))?;
    copy_blob(store, src, manifest.config(), MAX_METADATA)?;
    for layer in manifest.layers() {
        copy_blob(store, src, layer, MAX_BLOB)?;
    }
    let entry = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(d.digest().clone())
        .size(d.size())
        .build()
        .map_err(|e| e.to_string())?;
    store.tag(reference, &entry)?;
    Ok(Imported {
        reference: reference.map(|r| r.whole()).unwrap_or_default(),
        digest,
    })
}

/// `docker save`'s format: manifest.json lists each image's config file, layer files and tags.
fn from_docker_archive(
    store: &Store,
    src: &Archive,
    name: Option<&Reference>,
) -> Result<Vec<Imported>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Saved {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let saved: Vec<Saved> = serde_json::from_slice(&src.read("manifest.json", MAX_METADATA)?)
        .map_err(|e| format!("manifest.json: {e}"))?;
    let mut out = Vec::new();
    for s in saved {
        let config = src.read(&s.config, MAX_METADATA)?;
        let mut layers = Vec::new();
        for l in &s.layers {
            let bytes = src.read(l, MAX_BLOB)?;
            let media = if bytes.starts_with(&[0x1f, 0x8b]) {
                MediaType::ImageLayerGzip
            } else {
                MediaType::ImageLayer
            };
            layers.push(descriptor(media, store.put(&bytes)?, bytes.len())?);
        }
        let entry = store_manifest(store, &config, layers)?;
        let digest = entry.digest().to_string();
        let tags: Vec<Reference> = match name {
            Some(n) => vec![n.clone()],
            None => s
                .repo_tags
                .iter()
                .flatten()
                .filter_map(|t| normalize(t).ok())
                .collect(),
        };
        if tags.is_empty() {
            store.tag(None, &entry)?;
            out.push(Imported {
                reference: String::new(),
                digest: digest.clone(),
            });
        }
        for t in &tags {
            store.tag(Some(t), &entry)?;
            out.push(Imported {
                reference: t.whole(),
                digest: digest.clone(),
            });
        }
        if name.is_some() {
            break;
        }
    }
    Ok(out)
}

fn descriptor(media: MediaType, digest: String, size: usize) -> Result<Descriptor, String> {
    DescriptorBuilder::default()
        .media_type(media)
        .digest(
            digest
                .parse::<oci_spec::image::Digest>()
                .map_err(|e| e.to_string())?,
        )
        .size(size as u64)
        .build()
        .map_err(|e| e.to_string())
}

/// Keeps `config` and a manifest of it and `layers` (already stored); the manifest's descriptor.
fn store_manifest(
    store: &Store,
    config: &[u8],
    layers: Vec<Descriptor>,
) -> Result<Descriptor, String> {
    let config = descriptor(MediaType::ImageConfig, store.put(config)?, config.len())?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    descriptor(MediaType::ImageManifest, store.put(&json)?, json.len())
}

/// What `wpod image build` makes an image of.
pub struct Build<'a> {
    pub wasm: &'a [u8],
    /// The program's name in the image (`/app.wasm`).
    pub file_name: &'a str,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Other files of its root file system (absolute paths), as more `COPY` lines.
    pub files: &'a [(&'a str, &'a [u8])],
}

/// An image with one layer holding the program, as `docker buildx --platform wasi/wasm` makes
/// from `FROM scratch` + `COPY app.wasm /` + `ENTRYPOINT ["/app.wasm"]`.
pub fn build(store: &Store, b: &Build<'_>, name: &str) -> Result<Imported, String> {
    let reference = normalize(name)?;
    if !b.wasm.starts_with(b"\0asm") {
        return Err(format!("{} is not a WebAssembly file", b.file_name));
    }
    let path = format!("/{}", b.file_name.trim_start_matches('/'));
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(b.wasm.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    layer
        .append_data(&mut header, path.trim_start_matches('/'), b.wasm)
        .map_err(|e| e.to_string())?;
    for (file, bytes) in b.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        layer
            .append_data(&mut header, file.trim_start_matches('/'), *bytes)
            .map_err(|e| e.to_string())?;
    }
    let layer = layer.into_inner().map_err(|e| e.to_string())?;
    let layer_digest = store.put(&layer)?;
    let entrypoint = b.entrypoint.clone().unwrap_or_else(|| vec![path.clone()]);
    let mut config = ConfigBuilder::default()
        .entrypoint(entrypoint)
        .env(b.env.clone())
        .labels(
            b.labels
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    if !b.cmd.is_empty() {
        config = config.cmd(b.cmd.clone());
    }
    if let Some(w) = &b.working_dir {
        config = config.working_dir(w.clone());
    }
    let image = ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::Wasm)
        .os(oci_spec::image::Os::Other("wasip2".into()))
        .config(config.build().map_err(|e| e.to_string())?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer_digest.clone()])
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build()
        .map_err(|e| e.to_string())?;
    let config_json = serde_json::to_vec(&image).map_err(|e| e.to_string())?;
    let layer = descriptor(MediaType::ImageLayer, layer_digest, layer.len())?;
    let entry = store_manifest(store, &config_json, vec![layer])?;
    let digest = entry.digest().to_string();
    store.tag(Some(&reference), &entry)?;
    Ok(Imported {
        reference: reference.whole(),
        digest,
    })
}

/// The CNCF wasm OCI artifact of a program, as `wkg oci push` makes it: a config of media type
/// `application/vnd.wasm.config.v0+json` and one `application/wasm` layer, the program itself.
pub fn artifact(store: &Store, wasm: &[u8], name: &str) -> Result<Imported, String> {
    let reference = normalize(name)?;
    if !wasm.starts_with(b"\0asm") {
        return Err(format!("{name} is not a WebAssembly program"));
    }
    let component = super::is_component(wasm);
    let layer_digest = store.put(wasm)?;
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": if component { "wasip2" } else { "wasip1" },
        "layerDigests": [layer_digest],
    });
    let config = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    let config = descriptor(
        MediaType::Other(super::stored::WASM_CONFIG.into()),
        store.put(&config)?,
        config.len(),
    )?;
    let layer = descriptor(
        MediaType::Other(super::stored::WASM_LAYER.into()),
        layer_digest,
        wasm.len(),
    )?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![layer])
        .build()
        .map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let entry = descriptor(MediaType::ImageManifest, store.put(&json)?, json.len())?;
    let digest = entry.digest().to_string();
    store.tag(Some(&reference), &entry)?;
    Ok(Imported {
        reference: reference.whole(),
        digest,
    })
}
