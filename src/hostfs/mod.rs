//! Every host-side file operation on a path a guest can influence: mount points, single-file
//! mounts, `workingDir`, `subPath`, all inside a volume's host directory or a container's root.
//!
//! A guest can leave symlinks (`../../..`, `/`) in a volume; wpod, often running as root, must never
//! follow them out when it prepares the next container. So nothing here takes a joined string path:
//! a [`Beneath`] holds an open directory, and each step resolves beneath it, refusing a symlink or
//! `..` that would leave it. The last component is never followed when something is created,
//! replaced or removed.
//!
//! Linux resolves with `openat2(2)` (openat2.rs); other systems with cap-primitives, the
//! sandboxed resolution wasmtime-wasi gives guests (portable.rs), which is also tested on Linux.

use std::io;

#[cfg(target_os = "linux")]
mod openat2;
#[cfg(target_os = "linux")]
pub use openat2::*;

#[cfg(any(not(target_os = "linux"), test))]
mod portable;
#[cfg(not(target_os = "linux"))]
pub use portable::*;

/// How often a lookup that raced a rename is tried again before it fails.
pub(crate) const MAX_TRIES: u32 = 32;

/// The error of a path that was refused because it would lead outside its root.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `e` says a path was refused for leading outside its root (rather than failing as file
/// operations fail: missing, read-only, not permitted).
pub fn is_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

/// How a path is resolved beneath the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Leaving the root is an error (a volume's content, seen from the host).
    Beneath,
    /// The root is `/` for absolute symlinks and `..` (a container's root, seen from inside).
    InRoot,
}

/// The components of a guest path, `.` and empty ones dropped (`..` is left to the resolver).
pub(crate) fn components(rel: &str) -> Vec<&str> {
    rel.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// `rel` split into its parent and last component (None for the root itself).
pub(crate) fn split_last(rel: &str) -> Option<(String, &str)> {
    let parts = components(rel);
    let (last, parent) = parts.split_last()?;
    Some((parent.join("/"), last))
}

/// The identity of an open file, `(device, inode)` on Unix and `(volume serial number, file
/// index)` on Windows: whatever path reaches it.
pub fn file_id(file: &std::fs::File) -> io::Result<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = file.metadata()?;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle as _;
        use windows_sys::Win32::Storage::FileSystem::{
            BY_HANDLE_FILE_INFORMATION, GetFileInformationByHandle,
        };
        // SAFETY: a zeroed plain-data struct, filled in by the call from a handle we own.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
        Ok((u64::from(info.dwVolumeSerialNumber), index))
    }
}

/// A scratch tree for the tests: `root/in`, `outside`, and in `root` the symlinks `up` (out by
/// `..`), `abs` (out by an absolute path) and `inside` (to `in`).
#[cfg(test)]
fn test_tree(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wpod-hostfs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("root/in")).unwrap();
    std::fs::create_dir_all(d.join("outside")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink("../../outside", d.join("root/up")).unwrap();
        symlink(d.join("outside"), d.join("root/abs")).unwrap();
        symlink("in", d.join("root/inside")).unwrap();
    }
    d
}

/// The same cases for each implementation: every way out refused, staying inside allowed.
#[cfg(test)]
macro_rules! beneath_tests {
    ($imp:ident) => {
        mod $imp {
            use super::super::Resolve;
            use super::super::$imp::*;
            use std::path::PathBuf;

            fn tmp(name: &str) -> PathBuf {
                super::super::test_tree(&format!("{}-{name}", stringify!($imp)))
            }

            #[test]
            fn beneath_refuses_every_way_out() {
                let d = tmp("beneath");
                let b = Beneath::open(&d.join("root"), "the volume", Resolve::Beneath).unwrap();
                let e = b.create_file("up/f", 0o644, true).unwrap_err().to_string();
                assert!(e.contains("leads outside the volume"), "{e}");
                std::fs::write(d.join("root/in/file"), "x").unwrap();
                let file = open_trusted(&d.join("root/in/file")).unwrap();
                assert!(!is_dir(&file).unwrap());
                for rel in ["up/x", "abs/x", "../outside/x", "up", "abs"] {
                    let e = b.mkdir_all(rel, 0o755).unwrap_err().to_string();
                    assert!(e.contains("the volume"), "{rel}: {e}");
                    assert!(b.create_file(rel, 0o644, true).is_err(), "{rel}");
                    assert!(b.open_path(rel).is_err(), "{rel}");
                    if rel.contains('/') {
                        let e = b.link(&file, rel).unwrap_err();
                        assert!(super::super::is_refused(&e), "{rel}: {e}");
                    }
                }
                assert_eq!(std::fs::read_dir(d.join("outside")).unwrap().count(), 0);
                // A symlink as the last component is replaced, inside the root.
                b.link(&file, "up").unwrap();
                assert!(d.join("root/up").is_file());
                assert_eq!(std::fs::read(d.join("root/up")).unwrap(), b"x");
                // Staying inside is fine, as the kubelet allows it.
                let deeper = b.mkdir_all("inside/deeper", 0o700).unwrap();
                assert!(is_dir(&deeper).unwrap());
                assert!(d.join("root/in/deeper").is_dir());
                let again = Beneath::from_fd(&deeper, "a directory", Resolve::Beneath)
                    .and_then(|b| b.try_clone())
                    .unwrap();
                again.write_file("item", b"v", 0o640).unwrap();
                // A written file has exactly the mode asked for, whatever the umask.
                let meta = std::fs::metadata(d.join("root/in/deeper/item")).unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
                    let made = std::fs::metadata(d.join("root/in/deeper")).unwrap();
                    assert_eq!(made.permissions().mode() & 0o7777, 0o700);
                }
                assert!(meta.is_file());
                // Replaced at once, and the file found by its path is the new one.
                b.replace_file("inside/deeper/item", b"new", 0o644).unwrap();
                assert_eq!(
                    std::fs::read(d.join("root/in/deeper/item")).unwrap(),
                    b"new"
                );
                let found = b.open_path("inside/deeper/item").unwrap();
                assert!(!is_dir(&found).unwrap());
                let item = std::fs::File::open(d.join("root/in/deeper/item")).unwrap();
                assert_eq!(
                    handle_id(&found).unwrap(),
                    super::super::file_id(&item).unwrap()
                );
                let seen = host_path(&found).unwrap();
                assert!(seen.ends_with("deeper/item"), "{}", seen.display());
                // What a preopen gets is the directory that was opened.
                let preopened = preopen_path(&deeper);
                assert!(std::fs::metadata(preopened.join("item")).unwrap().is_file());
                // A symlink to nowhere is not made into a directory.
                #[cfg(unix)]
                {
                    std::os::unix::fs::symlink("nowhere", d.join("root/dangling")).unwrap();
                    let e = b.mkdir_all("dangling/x", 0o755).unwrap_err().to_string();
                    assert!(e.contains("symlink wpod does not follow"), "{e}");
                    assert!(!d.join("root/nowhere").exists());
                }
                std::fs::remove_dir_all(&d).unwrap();
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    beneath_tests!(openat2);
    beneath_tests!(portable);
}
