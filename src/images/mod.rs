//! Images: the built-in ones (programs from `guests/`, compiled to wasm32-wasip2 by build.rs and
//! embedded here), `.wasm` files, and the images of the local store (`wpod image`).

pub mod import;
pub mod registry;
pub mod store;
pub mod stored;

use std::path::Path;

use crate::bounded::{self, Refused};
use crate::runtime::ImageError;

/// The largest `.wasm` file wpod takes as an image: ten times the largest real guests (a 26 MB
/// CPython), a quarter of what wasmtime's parser accepts at all (1 GiB), and little enough that
/// a mistaken path (a disk image, `/dev/zero`) is refused before it fills the memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The bytes of a `.wasm` image file. Only a regular file of at most MAX_FILE_BYTES is read, and
/// it is opened without blocking, so a FIFO or a device cannot hang or exhaust wpod. This does
/// blocking I/O: call it from a blocking thread.
pub fn read_file(image: &str, path: &Path) -> Result<Vec<u8>, ImageError> {
    bounded::read_capped(path, MAX_FILE_BYTES).map_err(|e| match e {
        Refused::Io(e) => ImageError::NotFound {
            image: image.to_string(),
            detail: format!("cannot read {}: {e}", path.display()),
        },
        refused => {
            // A size refusal already says what the limit is.
            let hint = match refused {
                Refused::TooBig { .. } => "",
                _ => "; an image path must name a .wasm file",
            };
            ImageError::Unusable {
                image: image.to_string(),
                detail: format!("{}: {refused}{hint}", path.display()),
            }
        }
    })
}

/// Files an image brings into each container's private file system: (absolute path, contents).
pub type ImageFiles = &'static [(&'static str, &'static [u8])];

/// One built-in image and its OCI-style default command.
pub struct BuiltinImage {
    pub name: &'static str,
    pub description: &'static str,
    pub entrypoint: &'static [&'static str],
    pub cmd: &'static [&'static str],
    pub wasm: &'static [u8],
    /// The image's `ENV`.
    pub env: &'static [(&'static str, &'static str)],
    /// Files the image brings into each container's private file system: (absolute path, contents).
    pub files: ImageFiles,
    /// None: an exec (probe, hook) of any command runs the image's program (a multi-call
    /// toolbox). Some: only these commands do; the others run the busybox toolbox, standing in for
    /// the shell and tools the real image has (`sh -c` in an nginx hook, as in the Kubernetes docs).
    pub exec_commands: Option<&'static [&'static str]>,
}

/// The image whose program runs an exec of `command` in a container of `image`.
pub fn exec_image(image: &'static BuiltinImage, command: &str) -> &'static BuiltinImage {
    let base = command.rsplit('/').next().unwrap_or(command);
    match image.exec_commands {
        Some(own) if !own.contains(&base) => toolbox(),
        _ => image,
    }
}

/// The busybox toolbox.
pub fn toolbox() -> &'static BuiltinImage {
    &BUILTINS[0]
}

pub const BUILTINS: &[BuiltinImage] = &[
    BuiltinImage {
        name: "busybox",
        description: "busybox-compatible toolbox: sh and ~80 applets (cat, grep, sed, wget, nc, ...)",
        entrypoint: &[],
        cmd: &["sh"],
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/busybox.wasm")),
        env: &[("PATH", PATH)],
        files: &[],
        exec_commands: None,
    },
    BuiltinImage {
        name: "nginx",
        description: "static HTTP/1.1 server on :80 serving /usr/share/nginx/html (nginx-compatible)",
        entrypoint: &[],
        cmd: &["nginx", "-g", "daemon off;"],
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/nginx.wasm")),
        env: &[("PATH", PATH)],
        // What the real image ships in its document root.
        files: &[
            (
                "/usr/share/nginx/html/index.html",
                include_bytes!("../../guests/src/nginx/welcome.html"),
            ),
            (
                "/usr/share/nginx/html/50x.html",
                include_bytes!("../../guests/src/nginx/50x.html"),
            ),
        ],
        exec_commands: Some(&["nginx"]),
    },
    BuiltinImage {
        name: "pause",
        description: "the pod's infra container: holds the sandbox and does nothing (registry.k8s.io/pause)",
        entrypoint: &["/pause"],
        cmd: &[],
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/pause.wasm")),
        env: &[("PATH", PATH)],
        files: &[],
        exec_commands: None,
    },
    BuiltinImage {
        name: "testkit",
        description: "small test programs: exit, echo, env, sleep, spin, alloc, files (cat, \
                      write, ls, tail-f ...), network (serve, get, echo-server, udp-echo ...); \
                      `testkit help` lists them",
        entrypoint: &["testkit"],
        cmd: &["help"],
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/testkit.wasm")),
        env: &[("PATH", PATH)],
        files: &[(
            "/etc/testkit.txt",
            b"testkit: a file that comes with the image\n",
        )],
        exec_commands: None,
    },
];

/// The PATH the real images set.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Common shell images that manifests use only for `sh -c ...`; the toolbox stands in for them,
/// and says so where the image is pulled.
const STAND_INS: &[&str] = &["alpine", "debian", "ubuntu"];

/// What an image reference names.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageRef<'a> {
    Builtin(&'static BuiltinImage),
    /// busybox, standing in for a common shell image of this name.
    StandIn(&'static BuiltinImage, String),
    /// A `.wasm` file (absolute, or relative to the manifest's directory).
    File(&'a str),
    /// An image of the local store, by the name it has there.
    Stored(String),
    Unknown(String),
}

impl PartialEq for BuiltinImage {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for BuiltinImage {}
impl std::fmt::Debug for BuiltinImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuiltinImage({})", self.name)
    }
}

/// Resolves `busybox`, `busybox:1.36`, `docker.io/library/busybox@sha256:...` alike: registry,
/// `library/` namespace, tag and digest do not matter for an image that ships inside wpod.
pub fn resolve(reference: &str) -> ImageRef<'_> {
    let reference = reference.trim();
    if reference.ends_with(".wasm") {
        return ImageRef::File(reference.strip_prefix("file://").unwrap_or(reference));
    }
    // What the user imported or built goes before what ships inside wpod.
    if let Some(store) = store::Store::existing()
        && let Ok(Some(entry)) = store.find(reference)
    {
        return ImageRef::Stored(entry.reference);
    }
    let name = short_name(reference);
    let builtin = |n: &str| BUILTINS.iter().find(|b| b.name == n);
    if let Some(b) = builtin(&name) {
        return ImageRef::Builtin(b);
    }
    match builtin("busybox") {
        Some(b) if STAND_INS.contains(&name.as_str()) => ImageRef::StandIn(b, name),
        _ => ImageRef::Unknown(name),
    }
}

fn short_name(reference: &str) -> String {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    // A colon after the last slash starts the tag; one before it belongs to a registry host:port.
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let repo = last.split(':').next().unwrap_or(last);
    let path: Vec<&str> = no_digest.split('/').collect();
    let mut parts: Vec<&str> = path[..path.len() - 1].to_vec();
    // Drop a registry host (has a dot or a port, or is localhost) and Docker Hub's `library/`.
    if parts
        .first()
        .is_some_and(|h| h.contains('.') || h.contains(':') || *h == "localhost")
    {
        parts.remove(0);
    }
    if parts.first() == Some(&"library") {
        parts.remove(0);
    }
    parts.push(repo);
    parts.join("/")
}

/// Whether a WebAssembly binary is a component (its layer field), not a core module.
pub fn is_component(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00][..])
}

/// The list shown when an image is not found, and by `wpod images`.
pub fn available() -> String {
    let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
    format!(
        "built-in images are: {} (busybox also stands in for alpine, debian and ubuntu); \
         any other image must be in wpod's image store (`wpod image import`, `wpod image \
         build`; `wpod image ls` lists them) or be a path to a .wasm file",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        for r in [
            "testkit",
            "testkit:1.0",
            "docker.io/library/testkit:latest",
            "library/testkit",
            "testkit@sha256:abcd",
            "localhost:5000/testkit:v2",
        ] {
            assert!(
                matches!(resolve(r), ImageRef::Builtin(b) if b.name == "testkit"),
                "{r}"
            );
        }
        assert_eq!(resolve("./app.wasm"), ImageRef::File("./app.wasm"));
        assert_eq!(resolve("file:///tmp/a.wasm"), ImageRef::File("/tmp/a.wasm"));
        assert_eq!(
            resolve("ghcr.io/acme/tool:1"),
            ImageRef::Unknown("acme/tool".into())
        );
    }

    #[test]
    fn embedded_guests_are_wasm() {
        for b in BUILTINS {
            assert_eq!(&b.wasm[..4], b"\0asm", "{}", b.name);
            // pause is a tiny core module; the others are components (they need wasi:sockets).
            let version: &[u8] = if b.name == "pause" {
                &[1, 0, 0, 0]
            } else {
                &[0x0d, 0, 1, 0]
            };
            assert_eq!(&b.wasm[4..8], version, "{}", b.name);
            for (path, _) in b.files {
                assert!(path.starts_with('/') && !path.contains(".."), "{path}");
            }
        }
    }
}
