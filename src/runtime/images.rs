//! Images as both real backends resolve them: what a reference names (with the same messages on
//! either), the `ImageInfo` it becomes, and each backend's own record of the images it pulled,
//! kept by image id, so nothing backend-private travels through the kubelet.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use super::containers::lock;
use super::{ImageError, ImageInfo};
use crate::images::stored::StoredImage;
use crate::images::{self, BuiltinImage, ImageRef};

/// What an image reference names.
pub enum Named<'a> {
    Builtin {
        image: &'static BuiltinImage,
        /// What the image was resolved to, for events.
        source: String,
    },
    /// A `.wasm` file, as the manifest gives it.
    File(&'a str),
    /// An image of the local store, by its name there.
    Stored(String),
}

/// Resolves `reference`; `build` says which build of a built-in image the backend runs
/// (`native build`), None for its WebAssembly one.
pub fn name<'a>(reference: &'a str, build: Option<&str>) -> Result<Named<'a>, ImageError> {
    let build = build.map(|b| format!(" ({b})")).unwrap_or_default();
    match images::resolve(reference) {
        ImageRef::Builtin(image) => Ok(Named::Builtin {
            image,
            source: format!("built-in image {}{build}", image.name),
        }),
        ImageRef::StandIn(image, name) => Ok(Named::Builtin {
            image,
            source: format!(
                "NOTE: not the real {name} image: wpod's built-in busybox toolbox{build} stands in for it"
            ),
        }),
        ImageRef::File(p) => Ok(Named::File(p)),
        ImageRef::Stored(name) => Ok(Named::Stored(name)),
        ImageRef::Unknown(name) => Err(ImageError::NotFound {
            image: reference.to_string(),
            detail: format!("wpod has no image named {name}; {}", images::available()),
        }),
    }
}

/// A built-in image's default command and environment, under the id the backend gives it.
pub fn builtin_info(image: &BuiltinImage, id: String, source: String) -> ImageInfo {
    ImageInfo {
        id,
        source,
        entrypoint: image.entrypoint.iter().map(|s| s.to_string()).collect(),
        cmd: image.cmd.iter().map(|s| s.to_string()).collect(),
        env: image
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        working_dir: None,
    }
}

/// A stored image (loaded: this reads the store, off the runtime's threads).
pub fn load_stored(reference: &str, name: &str) -> Result<StoredImage, ImageError> {
    let unusable = |detail: String| ImageError::Unusable {
        image: reference.to_string(),
        detail,
    };
    let store =
        images::store::Store::open(images::store::Store::default_dir()).map_err(unusable)?;
    let entry = store
        .find(name)
        .map_err(unusable)?
        .ok_or_else(|| ImageError::NotFound {
            image: reference.to_string(),
            detail: format!("{name} is no longer in wpod's image store"),
        })?;
    images::stored::load(&store, &entry).map_err(unusable)
}

/// A stored image's default command, environment and working directory; its id is its config's
/// digest, as containerd reports it.
pub fn stored_info(image: &StoredImage, build: Option<&str>) -> ImageInfo {
    let build = build.map(|b| format!(" ({b})")).unwrap_or_default();
    ImageInfo {
        id: image.id.clone(),
        source: format!(
            "image {}@{} from wpod's image store{build}",
            image.reference, image.digest
        ),
        entrypoint: image.entrypoint.clone(),
        cmd: image.cmd.clone(),
        env: image.env.clone(),
        working_dir: image.working_dir.clone(),
    }
}

/// A built-in image's files, as a pulled image keeps them.
pub fn builtin_files(image: Option<&BuiltinImage>) -> Vec<(String, Vec<u8>)> {
    image
        .map(|b| b.files)
        .unwrap_or_default()
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_vec()))
        .collect()
}

/// A `.wasm` file image (`given` as the manifest names it, found at `path`): its entrypoint is
/// the file's name, as an image's ENTRYPOINT names its program.
pub fn file_info(given: &str, path: &Path, id: String, source: String) -> ImageInfo {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| given.to_string());
    ImageInfo {
        id,
        source,
        entrypoint: vec![file_name],
        cmd: vec![],
        env: vec![],
        working_dir: None,
    }
}

/// An image id from the image's bytes: `sha256:` and the digest in hex.
pub fn image_id(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One pulled image as a backend keeps it.
pub struct Image<T> {
    /// The built-in image it is, if it is one.
    pub builtin: Option<&'static BuiltinImage>,
    /// Files it brings into each container's root file system: (path, contents).
    pub files: Vec<(String, Vec<u8>)>,
    pub backend: T,
}

/// A backend's pulled images, by image id.
pub struct Images<T> {
    images: Mutex<HashMap<String, Arc<Image<T>>>>,
}

impl<T> Default for Images<T> {
    fn default() -> Self {
        Images {
            images: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Images<T> {
    pub fn insert(&self, id: &str, image: Image<T>) -> Arc<Image<T>> {
        let image = Arc::new(image);
        lock(&self.images).insert(id.to_string(), image.clone());
        image
    }

    pub fn get(&self, id: &str) -> Option<Arc<Image<T>>> {
        lock(&self.images).get(id).cloned()
    }

    /// An image the kubelet pulled, for a container it creates.
    pub fn pulled(&self, id: &str) -> anyhow::Result<Arc<Image<T>>> {
        self.get(id)
            .ok_or_else(|| anyhow::anyhow!("image {id} was not pulled"))
    }
}

impl<T> Images<T> {
    /// The other built-in image whose program runs an exec of `argv` in a container of the
    /// image `id` (the toolbox standing in for an image's shell), None when the container's own
    /// program does.
    pub fn exec_image(
        &self,
        id: &str,
        argv: &[String],
    ) -> anyhow::Result<Option<&'static BuiltinImage>> {
        let command = argv.first().map_or("", String::as_str);
        Ok(exec_image(&*self.pulled(id)?, command))
    }
}

fn exec_image<T>(image: &Image<T>, command: &str) -> Option<&'static BuiltinImage> {
    let own = image.builtin?;
    let other = images::exec_image(own, command);
    (other != own).then_some(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_builds_are_named_alike() {
        let source = |r, build| match name(r, build) {
            Ok(Named::Builtin { source, .. }) => source,
            _ => panic!("{r} is built in"),
        };
        assert_eq!(source("busybox", None), "built-in image busybox");
        assert_eq!(
            source("busybox:1.36", Some("native build")),
            "built-in image busybox (native build)"
        );
        assert_eq!(
            source("alpine", Some("native build")),
            "NOTE: not the real alpine image: wpod's built-in busybox toolbox (native build) stands in for it"
        );
        assert!(matches!(
            name("./a.wasm", None),
            Ok(Named::File("./a.wasm"))
        ));
        assert!(matches!(
            name("acme/tool", None),
            Err(ImageError::NotFound { .. })
        ));
    }

    #[test]
    fn an_exec_in_nginx_runs_the_toolbox_unless_it_is_nginx() {
        let nginx = images::BUILTINS
            .iter()
            .find(|b| b.name == "nginx")
            .expect("nginx is built in");
        let image = Image {
            builtin: Some(nginx),
            files: Vec::new(),
            backend: (),
        };
        assert_eq!(exec_image(&image, "sh").map(|b| b.name), Some("busybox"));
        assert_eq!(exec_image(&image, "/usr/sbin/nginx"), None);
        let file = Image {
            builtin: None,
            files: Vec::new(),
            backend: (),
        };
        assert_eq!(exec_image(&file, "sh"), None);
    }
}
