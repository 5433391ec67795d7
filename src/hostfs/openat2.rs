//! The Linux implementation: `openat2(2)` with `RESOLVE_NO_MAGICLINKS` and either
//! `RESOLVE_BENEATH` (a symlink or `..` that would leave the directory is refused, as wasmtime-wasi
//! resolves a guest's paths inside a preopen) or `RESOLVE_IN_ROOT` (absolute symlinks and `..` stop
//! at the directory, as the kernel resolves them for a process whose root it is: runc's securejoin
//! and libpathrs do the same). An opened file or directory is handed on as its descriptor
//! (`/proc/self/fd/N`), so nothing is checked by path and then used by path (the kubelet's
//! CVE-2017-1002101, runc's CVE-2021-30465).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{MAX_TRIES, Refused, Resolve, components, split_last};

/// An open file or directory: an `O_PATH` descriptor.
pub type Handle = OwnedFd;

/// The path wasmtime-wasi preopens for the directory `h`: that very directory.
pub fn preopen_path(h: &Handle) -> PathBuf {
    fd_path(h)
}

/// Where `h` is on the host now, if the kernel can say.
pub fn host_path(h: &Handle) -> Option<PathBuf> {
    std::fs::read_link(fd_path(h)).ok()
}

/// The `(device, inode)` of `h`.
pub fn handle_id(h: &Handle) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(h)?;
    Ok((st.st_dev, st.st_ino))
}

/// An open directory that paths are resolved beneath, and what it is (for messages).
#[derive(Debug)]
pub struct Beneath {
    fd: OwnedFd,
    what: String,
    resolve: Resolve,
}

/// The `/proc/self/fd/N` path of an open descriptor: the very file it refers to, whatever has
/// been renamed or replaced since (mount(2), linkat(2) and preopens take paths).
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` as an `O_PATH` descriptor. Only for paths the guest cannot influence (a volume's
/// host directory, a hostPath the manifest names, wpod's own state).
pub fn open_trusted(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("opening {}: {e}", path.display()),
        )
    })
}

/// Whether `fd` is a directory.
pub fn is_dir(fd: &impl AsFd) -> io::Result<bool> {
    let st = rustix::fs::fstat(fd)?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

impl Beneath {
    /// The directory at `path` (trusted: see [`open_trusted`]); `what` names it in messages, e.g.
    /// `the volume mounted at /data`.
    pub fn open(path: &Path, what: impl Into<String>, resolve: Resolve) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("opening {}: {e}", path.display()),
            )
        })?;
        Ok(Beneath {
            fd,
            what: what.into(),
            resolve,
        })
    }

    /// A directory already open (one this module opened beneath another root).
    pub fn from_fd(fd: &OwnedFd, what: impl Into<String>, resolve: Resolve) -> io::Result<Self> {
        Ok(Beneath {
            fd: fd.try_clone()?,
            what: what.into(),
            resolve,
        })
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Beneath::from_fd(&self.fd, self.what.clone(), self.resolve)
    }

    fn flags(&self) -> ResolveFlags {
        ResolveFlags::NO_MAGICLINKS
            | match self.resolve {
                Resolve::Beneath => ResolveFlags::BENEATH,
                Resolve::InRoot => ResolveFlags::IN_ROOT,
            }
    }

    /// An error about `rel` that says where it is and, for an escape, why it was refused.
    fn err(&self, op: &str, rel: &str, e: Errno) -> io::Error {
        let rel = format!("/{}", components(rel).join("/"));
        let why = match e {
            Errno::XDEV => format!(
                "a symlink (or ..) in it leads outside {}; wpod does not follow it",
                self.what
            ),
            Errno::LOOP => "it goes through a symlink wpod does not follow (one to a path \
                            that does not exist there, a loop, one that is the last component, \
                            or a /proc magic link)"
                .to_string(),
            Errno::AGAIN => "it was renamed while wpod resolved it; try again".to_string(),
            Errno::NOSYS => "this kernel has no openat2(2), which wpod needs to resolve paths \
                             beneath a volume safely (Linux 5.6 or later)"
                .to_string(),
            e => e.to_string(),
        };
        let message = format!("{op} {rel} in {}: {why}", self.what);
        let kind = io::Error::from(e).kind();
        if matches!(e, Errno::XDEV | Errno::LOOP) {
            io::Error::new(kind, Refused(message))
        } else {
            io::Error::new(kind, message)
        }
    }

    fn open_raw(&self, rel: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
        let path = components(rel).join("/");
        let path = if path.is_empty() { "." } else { path.as_str() };
        let mut tries = 0;
        loop {
            let opened = rustix::fs::openat2(
                &self.fd,
                path,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                self.flags(),
            );
            tries += 1;
            match opened {
                // The kernel asks for a retry when a rename raced the lookup of a `..`.
                Err(Errno::AGAIN | Errno::INTR) if tries < MAX_TRIES => continue,
                other => return other,
            }
        }
    }

    /// Opens `rel` as an `O_PATH` descriptor, following symlinks that stay inside (as a subPath
    /// through an in-volume symlink is followed by the kubelet).
    pub fn open_path(&self, rel: &str) -> io::Result<OwnedFd> {
        self.open_raw(rel, OFlags::PATH)
            .map_err(|e| self.err("opening", rel, e))
    }

    /// Creates the directory `rel` and any missing parent (each with `mode`, whatever the umask),
    /// and returns it opened.
    pub fn mkdir_all(&self, rel: &str, mode: u32) -> io::Result<OwnedFd> {
        let parts = components(rel);
        let mut dir = self
            .open_raw("", OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| self.err("opening", "", e))?;
        for i in 0..parts.len() {
            let prefix = parts[..=i].join("/");
            let flags = OFlags::PATH | OFlags::DIRECTORY;
            dir = match self.open_raw(&prefix, flags) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    // mkdirat never follows its last component; a racing creator is fine.
                    match rustix::fs::mkdirat(&dir, parts[i], Mode::from_raw_mode(mode)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.err("creating", &prefix, e)),
                    }
                    let created = self
                        .open_raw(&prefix, OFlags::RDONLY | OFlags::DIRECTORY)
                        .map_err(|e| match e {
                            // It exists but cannot be reached: a symlink to a path that is
                            // not there (in the root it is resolved in). It is not created.
                            Errno::NOENT => self.err("creating", &prefix, Errno::LOOP),
                            e => self.err("creating", &prefix, e),
                        })?;
                    rustix::fs::fchmod(&created, Mode::from_raw_mode(mode))
                        .map_err(|e| self.err("setting the mode of", &prefix, e))?;
                    self.open_raw(&prefix, flags)
                        .map_err(|e| self.err("creating", &prefix, e))?
                }
                Err(e) => return Err(self.err("creating", &prefix, e)),
            };
        }
        Ok(dir)
    }

    /// Sets the mode of the directory `rel`.
    pub fn chmod_dir(&self, rel: &str, mode: u32) -> io::Result<()> {
        let fd = self
            .open_raw(rel, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| self.err("opening", rel, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| self.err("setting the mode of", rel, e))
    }

    /// The parent of `rel`, created if missing, and the last component.
    fn parent<'a>(&self, op: &str, rel: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let Some((parent, name)) = split_last(rel) else {
            return Err(self.err(op, rel, Errno::ISDIR));
        };
        if name == ".." {
            return Err(self.err(op, rel, Errno::INVAL));
        }
        Ok((self.mkdir_all(&parent, 0o755)?, name))
    }

    /// Opens the file `rel` for writing, creating it (and its parents) if missing; with
    /// `truncate`, empties it. A symlink as the last component is refused, never followed.
    pub fn create_file(&self, rel: &str, mode: u32, truncate: bool) -> io::Result<OwnedFd> {
        let (dir, name) = self.parent("creating", rel)?;
        let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if truncate {
            flags |= OFlags::TRUNC;
        }
        rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(mode))
            .map_err(|e| self.err("creating", rel, e))
    }

    /// Writes `bytes` as the whole content of the file `rel`, whose mode is then `mode` whatever
    /// the umask (WASI guests cannot chmod: the host file carries the mode they see).
    pub fn write_file(&self, rel: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write as _;
        let fd = self.create_file(rel, mode, true)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| self.err("setting the mode of", rel, e))?;
        std::fs::File::from(fd)
            .write_all(bytes)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {rel} in {}: {e}", self.what)))
    }

    /// Replaces the file `rel` by `bytes` at once (a new file renamed over it): a reader sees the
    /// old content or the new, never a part, as with the kubelet's atomic writer.
    pub fn replace_file(&self, rel: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let Some((parent, name)) = split_last(rel) else {
            return Err(self.err("replacing", rel, Errno::ISDIR));
        };
        let staged = format!("{parent}/.{name}.wpod-new");
        self.write_file(&staged, bytes, mode)?;
        let (dir, staged_name) = self.parent("replacing", &staged)?;
        rustix::fs::renameat(&dir, staged_name, &dir, name)
            .map_err(|e| self.err("replacing", rel, e))
    }

    /// Puts the open file `file` at `rel` as a hard link (replacing a file there), creating the
    /// parents. The link is made from the descriptor, so it is the file that was opened.
    pub fn link(&self, file: &OwnedFd, rel: &str) -> io::Result<()> {
        let (dir, name) = self.parent("linking", rel)?;
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            // A directory (or anything unlink refuses) stays; linkat then says it exists.
            Err(_) => {}
        }
        rustix::fs::linkat(CWD, fd_path(file), &dir, name, AtFlags::SYMLINK_FOLLOW).map_err(|e| {
            if e == Errno::XDEV {
                // Here the parent was resolved: the file is on another file system.
                io::Error::new(
                    io::ErrorKind::CrossesDevices,
                    format!(
                        "linking /{} in {}: the file is on another file system, and a hard link cannot cross file systems",
                        components(rel).join("/"),
                        self.what
                    ),
                )
            } else {
                self.err("linking", rel, e)
            }
        })
    }

    /// Creates a directory or an empty file at `rel` to mount something on, and returns it opened
    /// as `O_PATH`; what is already there is kept if it is of the right kind.
    pub fn mount_point(&self, rel: &str, dir: bool) -> io::Result<OwnedFd> {
        if dir {
            return self.mkdir_all(rel, 0o755);
        }
        // A symlink is followed as the root's resolution allows (in the container's root on
        // Linux, as runc does); one that leads nowhere is refused by the creation below.
        match self.open_raw(rel, OFlags::PATH) {
            Ok(fd) if !is_dir(&fd)? => return Ok(fd),
            Ok(_) => return Err(self.err("mounting a file on", rel, Errno::ISDIR)),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(self.err("opening", rel, e)),
        }
        drop(self.create_file(rel, 0o644, false)?);
        self.open_raw(rel, OFlags::PATH)
            .map_err(|e| self.err("opening", rel, e))
    }
}

/// Bind-mounts the open `source` on `target` in `root` (a directory, or with `dir` false an empty
/// file, made there if missing), read-only when asked. Both ends are named by descriptor, as runc
/// mounts: what was opened is what is mounted, and where.
pub fn bind(
    source: &OwnedFd,
    root: &Beneath,
    target: &str,
    dir: bool,
    read_only: bool,
) -> io::Result<()> {
    use rustix::mount::{MountFlags, mount_bind_recursive, mount_remount};
    let point = root.mount_point(target, dir)?;
    let fail = |what: &str, e: Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{what} {target} in {}: {e}", root.what),
        )
    };
    mount_bind_recursive(fd_path(source), fd_path(&point)).map_err(|e| fail("bind-mounting", e))?;
    if read_only {
        // A remount must name the new mount, which `point` (the directory under it) is not: the
        // path is resolved again, and must lead to what was just mounted.
        let mounted = root.open_path(target)?;
        let (a, b) = (rustix::fs::fstat(source)?, rustix::fs::fstat(&mounted)?);
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
            return Err(io::Error::other(Refused(format!(
                "making {target} in {} read-only: it was replaced while it was mounted",
                root.what
            ))));
        }
        mount_remount(fd_path(&mounted), MountFlags::BIND | MountFlags::RDONLY, "")
            .map_err(|e| fail("making read-only", e))?;
    }
    Ok(())
}

impl AsFd for Beneath {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn in_root_resolves_as_the_container_sees_it() {
        let d = super::super::test_tree("inroot");
        std::fs::create_dir(d.join("root/outside")).unwrap();
        let b = Beneath::open(&d.join("root"), "the container's root", Resolve::InRoot).unwrap();
        // Both symlinks mean the container's own paths, never the host's: `up` is its
        // /outside, and `abs` a path that does not exist in it.
        b.mount_point("up/y", true).unwrap();
        b.mount_point("up/f", false).unwrap();
        assert!(d.join("root/outside/y").is_dir());
        assert!(d.join("root/outside/f").is_file());
        assert!(b.mount_point("abs/x", false).is_err());
        assert_eq!(std::fs::read_dir(d.join("outside")).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
