//! The container's file system view, built in its own mount namespace by the container process
//! itself (after fork, before exec): a private tmpfs root holding the pod's files, read-only binds
//! of the host's shared-library directories the native program needs, the pod's volumes at their
//! mountPaths, a fresh /proc, a minimal /dev; then pivot_root into it.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::spec::{ContainerSpec, SpecMount};
use super::sys;
use crate::hostfs::{self, Beneath, Resolve};

/// Device nodes a container gets, bound from the host's /dev (as runc's default set).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Directories the host's native programs load libraries from; symlinks (merged /usr) are copied
/// as symlinks, directories are bound read-only.
pub const SYSTEM_DIRS: &[&str] = &[
    "/lib",
    "/lib64",
    "/lib32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
];

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn ctx(e: io::Error, what: impl FnOnce() -> String) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", what()))
}

fn mkdir(p: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir_all(p).map_err(|e| ctx(e, || format!("creating {}", p.display())))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .map_err(|e| ctx(e, || format!("chmod {}", p.display())))
}

fn touch(p: &Path) -> io::Result<()> {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| ctx(e, || format!("creating {}", parent.display())))?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(drop)
        .map_err(|e| ctx(e, || format!("creating {}", p.display())))
}

/// After pivot_root: `workingDir`, created if missing (as runc does), becomes the current directory.
pub fn enter_working_dir(spec: &ContainerSpec) -> io::Result<()> {
    let dir = spec.working_dir.as_deref().unwrap_or("/");
    fs::create_dir_all(dir)
        .map_err(|e| ctx(e, || format!("creating the working directory {dir}")))?;
    std::env::set_current_dir(dir)
        .map_err(|e| ctx(e, || format!("entering the working directory {dir}")))
}

/// Mounts one volume: its source (the subPath opened beneath the volume's directory, with no
/// symlink leading out of it) on its mount point in the new root, both by descriptor.
fn mount_one(new_root: &Beneath, m: &SpecMount) -> io::Result<()> {
    let source = match &m.sub_path {
        Some(sub) => Beneath::open(
            &m.host_path,
            format!("the volume mounted at {}", m.container_path),
            Resolve::Beneath,
        )?
        .open_path(sub)?,
        None => hostfs::open_trusted(&m.host_path)?,
    };
    let dir = hostfs::is_dir(&source)?;
    hostfs::bind(&source, new_root, &m.container_path, dir, m.read_only)
        .map_err(|e| ctx(e, || format!("mounting {}", m.container_path)))
}

/// Runs in the container process, inside its new mount (and PID) namespace.
pub fn build(spec: &ContainerSpec) -> io::Result<()> {
    // Nothing mounted from here on may propagate back to the host.
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;
    let root = &spec.root;
    fs::create_dir_all(root).map_err(|e| ctx(e, || format!("creating {}", root.display())))?;
    sys::mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        libc::MS_NOSUID,
        Some("mode=755"),
    )?;
    mkdir(&root.join("tmp"), 0o1777)?;
    // Where daemons keep their PID files (nginx's /run/nginx.pid), as in every Linux image.
    mkdir(&root.join("run"), 0o755)?;
    mkdir(&root.join("etc"), 0o755)?;
    for (path, bytes) in &spec.files {
        let target = inside(root, path);
        touch(&target)?;
        fs::write(&target, bytes).map_err(|e| ctx(e, || format!("writing {path}")))?;
    }
    for dir in &spec.system_binds {
        let target = root.join(dir.strip_prefix("/").unwrap_or(dir));
        let meta = fs::symlink_metadata(dir)
            .map_err(|e| ctx(e, || format!("reading {}", dir.display())))?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| ctx(e, || format!("creating {}", parent.display())))?;
        }
        if meta.file_type().is_symlink() {
            let to =
                fs::read_link(dir).map_err(|e| ctx(e, || format!("reading {}", dir.display())))?;
            symlink(&to, &target)
                .map_err(|e| ctx(e, || format!("linking {}", target.display())))?;
        } else {
            mkdir(&target, 0o755)?;
            sys::bind(dir, &target, true)?;
        }
    }
    for path in &spec.program_paths {
        let target = inside(root, path);
        touch(&target)?;
        sys::bind(&spec.program, &target, true)?;
    }
    let proc_dir = root.join("proc");
    mkdir(&proc_dir, 0o555)?;
    sys::mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    let dev = root.join("dev");
    mkdir(&dev, 0o755)?;
    sys::mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID,
        Some("mode=755"),
    )?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if host.exists() {
            let target = dev.join(name);
            touch(&target)?;
            sys::bind(&host, &target, false)?;
        }
    }
    mkdir(&dev.join("shm"), 0o1777)?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(link)).map_err(|e| ctx(e, || format!("linking /dev/{link}")))?;
    }
    // After /proc and /dev, which would hide a volume under them (/dev/termination-log).
    // Shallow mount paths first, so a volume at /data/cache lands inside the one at /data.
    let mut mounts: Vec<_> = spec.mounts.iter().collect();
    mounts.sort_by_key(|m| m.container_path.matches('/').count());
    // The new root, in which a mount point is resolved as the container will see it: a symlink
    // an earlier container left in a volume means a path in this root, never on the host.
    let new_root = Beneath::open(root, "the container's root file system", Resolve::InRoot)?;
    for m in mounts {
        mount_one(&new_root, m)?;
    }
    sys::pivot_root(root)
}
