//! A container instance's private file system: the writable layer a new container gets.
//!
//! `/` is a fresh directory per container instance (so a restarted container starts clean) with
//! `/tmp`, `/etc/hostname`, `/etc/hosts`, the image's own files and a mount point for each mount.
//! WASI preopens are directories, so a single-file mount (a file hostPath, a subPath naming a file,
//! the termination-message file) is a hard link at its path: the guest reads and writes the very
//! same inode as the host, nothing is copied and nothing can be lost. A hard link needs the file on
//! the same file system as wpod's state directory (`WPOD_STATE_DIR`); otherwise the container
//! cannot be created.
//!
//! A mount point or link inside a volume is made in that volume's host directory, which earlier
//! containers may have filled with symlinks: every such step goes through `hostfs`, beneath the
//! volume's (or the root's) directory, and a path leading out of it fails the container.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};

use crate::hostfs::{self, Beneath, Resolve};
use crate::runtime::Mount;

/// A mount's source, opened when the container is created: what the guest gets at its path, even
/// if the volume's content is renamed or replaced later.
#[derive(Debug)]
pub struct Source {
    pub container_path: String,
    pub read_only: bool,
    pub is_dir: bool,
    /// A directory is preopened and a file linked from it (see hostfs).
    pub fd: hostfs::Handle,
    /// Where it is on the host now, for messages and for telling mounts apart (see crossdev.rs).
    pub host: PathBuf,
    /// See `Mount::host_owned`.
    pub host_owned: bool,
}

impl Source {
    fn open(m: &Mount) -> Result<Source> {
        let fd = match &m.sub_path {
            Some(sub) => {
                Beneath::open(&m.host_path, volume_at(&m.container_path), Resolve::Beneath)
                    .and_then(|volume| volume.open_path(sub))
            }
            None => hostfs::open_trusted(&m.host_path),
        }
        .with_context(|| format!("mounting {}", m.container_path))?;
        let is_dir =
            hostfs::is_dir(&fd).with_context(|| format!("reading {}", m.host_path.display()))?;
        let host = hostfs::host_path(&fd).unwrap_or_else(|| m.host_path.clone());
        Ok(Source {
            container_path: m.container_path.clone(),
            read_only: m.read_only,
            is_dir,
            fd,
            host,
            host_owned: m.host_owned,
        })
    }

    /// The identity of a read-only single-file mount: writes to that file are refused.
    fn read_only_file(&self) -> Option<(u64, u64)> {
        if self.is_dir || !self.read_only {
            return None;
        }
        hostfs::handle_id(&self.fd).ok()
    }
}

/// A container's file system: its root directory and its mounts' sources.
#[derive(Debug)]
pub struct Filesystem {
    pub root: PathBuf,
    /// The directory mounts: a single-file mount is a link in the root once created, and its
    /// handle is let go (a node runs out of open files long before it runs out of memory).
    pub sources: Vec<Source>,
    /// What every process of the container checks its file operations against, found once.
    pub mounts: Arc<MountIds>,
}

/// How a process tells the container's mounts apart (see crossdev.rs).
#[derive(Debug, Default)]
pub struct MountIds {
    /// Host directories of the root and of the directory mounts.
    pub roots: Vec<PathBuf>,
    /// Identities (`hostfs::file_id`) of the read-only single-file mounts.
    pub read_only_files: Vec<(u64, u64)>,
    /// Some mount holds the machine's own files (see `Mount::host_owned`).
    pub host_owned: bool,
}

impl Filesystem {
    pub fn new(root: PathBuf, mut sources: Vec<Source>) -> Filesystem {
        let mounts = MountIds {
            roots: root
                .canonicalize()
                .ok()
                .into_iter()
                .chain(sources.iter().filter(|s| s.is_dir).map(|s| s.host.clone()))
                .collect(),
            read_only_files: sources.iter().filter_map(|s| s.read_only_file()).collect(),
            host_owned: sources.iter().any(|s| s.host_owned),
        };
        sources.retain(|s| s.is_dir);
        Filesystem {
            root,
            sources,
            mounts: Arc::new(mounts),
        }
    }
}

fn volume_at(container_path: &str) -> String {
    format!("the volume mounted at {container_path}")
}

pub fn create(
    rootfs: &Path,
    hostname: &str,
    files: &[(&str, &[u8])],
    mounts: &[Mount],
) -> Result<Vec<Source>> {
    fs::create_dir_all(rootfs).with_context(|| format!("creating {}", rootfs.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(rootfs, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {}", rootfs.display()))?;
    }
    let root = open_root(rootfs)?;
    root.mkdir_all("tmp", 0o1777)?;
    // Where daemons keep their PID files (nginx's /run/nginx.pid), as in every Linux image.
    root.mkdir_all("run", 0o755)?;
    root.mkdir_all("etc", 0o755)?;
    root.write_file("etc/hostname", format!("{hostname}\n").as_bytes(), 0o644)?;
    for (path, bytes) in files {
        root.write_file(path, bytes, 0o644)?;
    }
    let sources = mounts
        .iter()
        .map(Source::open)
        .collect::<Result<Vec<_>>>()?;
    for s in &sources {
        let (dir, rel) = location(&root, &sources, &s.container_path, false)?;
        if s.is_dir {
            // A mount point inside a read-only volume may not be creatable; the preopen works
            // anyway. One that leads out of its volume is never made.
            if let Err(e) = dir.mkdir_all(rel, 0o755)
                && hostfs::is_refused(&e)
            {
                return Err(anyhow::Error::new(e)
                    .context(format!("creating the mount point {}", s.container_path)));
            }
        } else {
            dir.link(&s.fd, rel).map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::CrossesDevices
                    && !hostfs::is_refused(&e)
                {
                    ": it must be on the same file system as wpod's state directory (set WPOD_STATE_DIR)"
                } else {
                    ""
                };
                anyhow::Error::new(e).context(format!(
                    "mounting the file {} at {}{hint}",
                    s.host.display(),
                    s.container_path
                ))
            })?;
        }
    }
    Ok(sources)
}

pub fn open_root(rootfs: &Path) -> Result<Beneath> {
    Beneath::open(rootfs, "the container's root file system", Resolve::Beneath)
        .with_context(|| format!("opening {}", rootfs.display()))
}

/// Whether `dir` (a clean path in the container) is a directory the guest can enter.
pub fn is_dir(fs: &Filesystem, dir: &str) -> bool {
    let found = open_root(&fs.root)
        .and_then(|root| location(&root, &fs.sources, dir, true))
        .and_then(|(base, inside)| Ok(base.open_path(inside)?));
    found.is_ok_and(|fd| crate::hostfs::is_dir(&fd).unwrap_or(false))
}

/// Where `path` (in the container) lies on the host: inside the innermost directory mount that
/// contains it (or, with `itself`, is it), else in the root file system; and the rest of the path
/// from there.
pub fn location<'a>(
    root: &Beneath,
    sources: &[Source],
    path: &'a str,
    itself: bool,
) -> Result<(Beneath, &'a str)> {
    let within = |outer: &str| {
        let rest = path.strip_prefix(outer.trim_end_matches('/'))?;
        let inside = rest.starts_with('/') && rest.len() > 1;
        (inside || (itself && rest.is_empty())).then_some(rest)
    };
    let innermost = sources
        .iter()
        .filter(|o| o.is_dir)
        .filter_map(|o| within(&o.container_path).map(|rest| (o, rest)))
        .min_by_key(|(_, rest)| rest.len());
    match innermost {
        Some((o, rest)) => {
            let dir = Beneath::from_fd(&o.fd, volume_at(&o.container_path), Resolve::Beneath)
                .with_context(|| format!("opening {}", o.host.display()))?;
            Ok((dir, rest))
        }
        None => Ok((root.try_clone()?, path)),
    }
}
