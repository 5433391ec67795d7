//! The implementation for systems without `openat2(2)` (macOS, Windows): cap-primitives, the
//! sandboxed resolution that wasmtime-wasi gives guests. Each path is resolved beneath an open
//! directory, following only symlinks that stay inside it; an escape fails with cap-primitives'
//! own error.
//!
//! What differs from Linux: wasmtime-wasi preopens a directory by path, and only Linux can name an
//! open directory by a path (`/proc/self/fd/N`). Here a directory mount is preopened by the host
//! path it was found at, resolved beneath its volume an instant before; a guest that swapped a
//! symlink in between would have the preopen follow it. (On Windows a guest cannot make symlinks
//! without the machine's developer mode; the README says so.) A single-file mount is hard-linked by
//! its parent directory and name, and checked afterwards to be the file that was opened.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_primitives::fs::{DirOptions, FollowSymlinks, OpenOptions};

use super::{MAX_TRIES, Refused, Resolve, components, split_last};

/// An open file or directory, with the host path it was found at and, for a file, the directory
/// that holds it and its name there.
#[derive(Debug)]
pub struct Handle {
    file: Arc<File>,
    path: PathBuf,
    dir: bool,
    parent: Option<(Arc<File>, String)>,
}

/// The path wasmtime-wasi preopens for the directory `h`.
pub fn preopen_path(h: &Handle) -> PathBuf {
    h.path.clone()
}

/// Where `h` is on the host.
pub fn host_path(h: &Handle) -> Option<PathBuf> {
    Some(h.path.clone())
}

/// The identity of `h` (see [`super::file_id`]).
pub fn handle_id(h: &Handle) -> io::Result<(u64, u64)> {
    super::file_id(&h.file)
}

/// Opens `path`. Only for paths the guest cannot influence (a volume's host directory, a hostPath
/// the manifest names, wpod's own state).
pub fn open_trusted(path: &Path) -> io::Result<Handle> {
    let fail = |e: io::Error| io::Error::new(e.kind(), format!("opening {}: {e}", path.display()));
    let dir = std::fs::metadata(path).map_err(fail)?.is_dir();
    let file = if dir {
        cap_primitives::fs::open_ambient_dir(path, cap_primitives::ambient_authority())
    } else {
        File::open(path)
    }
    .map_err(fail)?;
    let parent = match (dir, path.parent(), path.file_name()) {
        (false, Some(parent), Some(name)) => {
            let parent = cap_primitives::fs::open_ambient_dir(
                if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                },
                cap_primitives::ambient_authority(),
            )
            .map_err(fail)?;
            Some((Arc::new(parent), name.to_string_lossy().into_owned()))
        }
        _ => None,
    };
    Ok(Handle {
        file: Arc::new(file),
        path: path.to_path_buf(),
        dir,
        parent,
    })
}

/// Whether `h` is a directory.
pub fn is_dir(h: &Handle) -> io::Result<bool> {
    Ok(h.dir)
}

/// Whether cap-primitives refused `e` for leading outside its start directory: it says so only in
/// its message.
fn escaped(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
        && e.to_string() == "a path led outside of the filesystem"
}

/// Whether `e` says a symlink was met where none is followed, or one leads nowhere.
fn looped(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return true;
    }
    e.get_ref().is_some_and(|inner| inner.is::<Dangling>())
}

/// A path that exists but cannot be reached: a symlink to a path that is not there.
#[derive(Debug)]
struct Dangling;

impl std::fmt::Display for Dangling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a symlink to a path that does not exist")
    }
}

impl std::error::Error for Dangling {}

/// An open directory that paths are resolved beneath, and what it is (for messages).
#[derive(Debug)]
pub struct Beneath {
    dir: Arc<File>,
    path: PathBuf,
    what: String,
}

impl Beneath {
    /// The directory at `path` (trusted: see [`open_trusted`]); `what` names it in messages.
    /// Only [`Resolve::Beneath`] exists here: resolving in a root is the Linux backend's.
    pub fn open(path: &Path, what: impl Into<String>, resolve: Resolve) -> io::Result<Self> {
        if resolve != Resolve::Beneath {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "resolving a path in a container's root needs Linux",
            ));
        }
        let dir = cap_primitives::fs::open_ambient_dir(path, cap_primitives::ambient_authority())
            .map_err(|e| {
            io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
        })?;
        Ok(Beneath {
            dir: Arc::new(dir),
            path: path.to_path_buf(),
            what: what.into(),
        })
    }

    /// A directory already open (one this module opened beneath another root).
    pub fn from_fd(h: &Handle, what: impl Into<String>, resolve: Resolve) -> io::Result<Self> {
        if !h.dir || resolve != Resolve::Beneath {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", h.path.display()),
            ));
        }
        Ok(Beneath {
            dir: h.file.clone(),
            path: h.path.clone(),
            what: what.into(),
        })
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Beneath {
            dir: self.dir.clone(),
            path: self.path.clone(),
            what: self.what.clone(),
        })
    }

    /// An error about `rel` that says where it is and, for an escape, why it was refused.
    fn err(&self, op: &str, rel: &str, e: io::Error) -> io::Error {
        let shown = format!("/{}", components(rel).join("/"));
        let (why, refused) = if escaped(&e) {
            (
                format!(
                    "a symlink (or ..) in it leads outside {}; wpod does not follow it",
                    self.what
                ),
                true,
            )
        } else if looped(&e) {
            (
                "it goes through a symlink wpod does not follow (one to a path that does not \
                 exist there, a loop, or one that is the last component)"
                    .to_string(),
                true,
            )
        } else {
            (e.to_string(), false)
        };
        let message = format!("{op} {shown} in {}: {why}", self.what);
        if refused {
            io::Error::new(e.kind(), Refused(message))
        } else {
            io::Error::new(e.kind(), message)
        }
    }

    /// The host path of `rel`, as found now (for preopens and messages).
    fn host(&self, rel: &str) -> PathBuf {
        components(rel)
            .iter()
            .fold(self.path.clone(), |p, c| p.join(c))
    }

    fn rel_path(rel: &str) -> PathBuf {
        let path = components(rel).join("/");
        PathBuf::from(if path.is_empty() { "." } else { path.as_str() })
    }

    /// Runs `op` again while a rename races it, as the Linux implementation does.
    fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted && tries < MAX_TRIES => continue,
                other => return other,
            }
        }
    }

    fn open_dir_raw(&self, rel: &str) -> io::Result<File> {
        Self::retry(|| cap_primitives::fs::open_dir(&self.dir, &Self::rel_path(rel)))
    }

    /// Opens `rel`, following symlinks that stay inside (as a subPath through an in-volume
    /// symlink is followed by the kubelet).
    pub fn open_path(&self, rel: &str) -> io::Result<Handle> {
        let path = Self::rel_path(rel);
        let fail = |e| self.err("opening", rel, e);
        let meta = cap_primitives::fs::stat(&self.dir, &path, FollowSymlinks::Yes).map_err(fail)?;
        if meta.is_dir() {
            let file = self.open_dir_raw(rel).map_err(fail)?;
            return Ok(Handle {
                file: Arc::new(file),
                path: self.host(rel),
                dir: true,
                parent: None,
            });
        }
        let file = cap_primitives::fs::open(&self.dir, &path, OpenOptions::new().read(true))
            .map_err(fail)?;
        let (parent, name) = match split_last(rel) {
            Some((parent, name)) => (self.open_dir_raw(&parent).map_err(fail)?, name),
            None => return Err(fail(io::Error::from(io::ErrorKind::IsADirectory))),
        };
        Ok(Handle {
            file: Arc::new(file),
            path: self.host(rel),
            dir: false,
            parent: Some((Arc::new(parent), name.to_string())),
        })
    }

    /// Creates the directory `rel` and any missing parent (each with `mode` on Unix, whatever the
    /// umask), and returns it opened.
    pub fn mkdir_all(&self, rel: &str, mode: u32) -> io::Result<Handle> {
        let parts = components(rel);
        for i in 0..parts.len() {
            let prefix = parts[..=i].join("/");
            match self.open_dir_raw(&prefix) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err("creating", &prefix, e)),
            }
            let parent = self
                .open_dir_raw(&parts[..i].join("/"))
                .map_err(|e| self.err("creating", &prefix, e))?;
            #[cfg(unix)]
            let options = {
                use cap_primitives::fs::DirBuilderExt as _;
                let mut options = DirOptions::new();
                options.mode(mode);
                options
            };
            #[cfg(not(unix))]
            let options = DirOptions::new();
            // create_dir never follows its last component; a racing creator is fine.
            match cap_primitives::fs::create_dir(&parent, Path::new(parts[i]), &options) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.err("creating", &prefix, e)),
            }
            self.open_dir_raw(&prefix).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    // It exists but cannot be reached: a symlink to a path that is not there.
                    // It is not created.
                    self.err("creating", &prefix, io::Error::other(Dangling))
                } else {
                    self.err("creating", &prefix, e)
                }
            })?;
            self.chmod(&prefix, mode)
                .map_err(|e| self.err("setting the mode of", &prefix, e))?;
        }
        let dir = self
            .open_dir_raw(rel)
            .map_err(|e| self.err("creating", rel, e))?;
        Ok(Handle {
            file: Arc::new(dir),
            path: self.host(rel),
            dir: true,
            parent: None,
        })
    }

    /// Sets the Unix mode of the directory `rel` (opened directories cannot take one: on Linux
    /// cap-primitives opens them `O_PATH`); Windows has no modes to set.
    fn chmod(&self, rel: &str, mode: u32) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let perm =
                cap_primitives::fs::Permissions::from_std(std::fs::Permissions::from_mode(mode));
            cap_primitives::fs::set_permissions(&self.dir, &Self::rel_path(rel), perm)
        }
        #[cfg(not(unix))]
        {
            let _ = (rel, mode);
            Ok(())
        }
    }

    /// The parent of `rel`, created if missing, and the last component.
    fn parent<'a>(&self, op: &str, rel: &'a str) -> io::Result<(File, &'a str)> {
        let Some((parent, name)) = split_last(rel) else {
            return Err(self.err(op, rel, io::Error::from(io::ErrorKind::IsADirectory)));
        };
        if name == ".." {
            return Err(self.err(op, rel, io::Error::from(io::ErrorKind::InvalidInput)));
        }
        self.mkdir_all(&parent, 0o755)?;
        let dir = self
            .open_dir_raw(&parent)
            .map_err(|e| self.err(op, rel, e))?;
        Ok((dir, name))
    }

    /// Opens the file `rel` for writing, creating it (and its parents) if missing; with
    /// `truncate`, empties it. A symlink as the last component is refused, never followed.
    pub fn create_file(&self, rel: &str, mode: u32, truncate: bool) -> io::Result<File> {
        let (dir, name) = self.parent("creating", rel)?;
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create(true)
            .truncate(truncate)
            ._cap_fs_ext_follow(FollowSymlinks::No);
        #[cfg(unix)]
        {
            use cap_primitives::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        cap_primitives::fs::open(&dir, Path::new(name), &options)
            .map_err(|e| self.err("creating", rel, e))
    }

    /// Writes `bytes` as the whole content of the file `rel`, whose mode is then `mode` whatever
    /// the umask (on Unix).
    pub fn write_file(&self, rel: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write as _;
        let mut file = self.create_file(rel, mode, true)?;
        set_mode(&file, mode).map_err(|e| self.err("setting the mode of", rel, e))?;
        file.write_all(bytes)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {rel} in {}: {e}", self.what)))
    }

    /// Replaces the file `rel` by `bytes` at once (a new file renamed over it): a reader sees the
    /// old content or the new, never a part, as with the kubelet's atomic writer.
    pub fn replace_file(&self, rel: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let Some((parent, name)) = split_last(rel) else {
            return Err(self.err(
                "replacing",
                rel,
                io::Error::from(io::ErrorKind::IsADirectory),
            ));
        };
        let staged = format!("{parent}/.{name}.wpod-new");
        self.write_file(&staged, bytes, mode)?;
        let (dir, staged_name) = self.parent("replacing", &staged)?;
        cap_primitives::fs::rename(&dir, Path::new(staged_name), &dir, Path::new(name))
            .map_err(|e| self.err("replacing", rel, e))
    }

    /// Puts the file `file` at `rel` as a hard link (replacing a file there), creating the
    /// parents; then checks that what is linked is the file that was opened.
    pub fn link(&self, file: &Handle, rel: &str) -> io::Result<()> {
        let (dir, name) = self.parent("linking", rel)?;
        let Some((from, from_name)) = &file.parent else {
            return Err(self.err("linking", rel, io::Error::from(io::ErrorKind::IsADirectory)));
        };
        // A directory (or anything removal refuses) stays; the link then says it exists.
        let _ = cap_primitives::fs::remove_file(&dir, Path::new(name));
        cap_primitives::fs::hard_link(from, Path::new(from_name), &dir, Path::new(name)).map_err(
            |e| {
                if e.kind() == io::ErrorKind::CrossesDevices {
                    io::Error::new(
                        io::ErrorKind::CrossesDevices,
                        format!(
                            "linking /{} in {}: the file is on another file system, and a hard \
                             link cannot cross file systems",
                            components(rel).join("/"),
                            self.what
                        ),
                    )
                } else {
                    self.err("linking", rel, e)
                }
            },
        )?;
        let linked = cap_primitives::fs::open(
            &dir,
            Path::new(name),
            OpenOptions::new()
                .read(true)
                ._cap_fs_ext_follow(FollowSymlinks::No),
        )
        .map_err(|e| self.err("linking", rel, e))?;
        if super::file_id(&linked)? != super::file_id(&file.file)? {
            let _ = cap_primitives::fs::remove_file(&dir, Path::new(name));
            return Err(io::Error::other(Refused(format!(
                "linking /{} in {}: {} was replaced while it was linked",
                components(rel).join("/"),
                self.what,
                file.path.display()
            ))));
        }
        Ok(())
    }
}

/// Sets the Unix mode of an open file or directory; Windows has no modes to set.
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}
