//! A container instance's private file system: the writable layer a new container gets.
//!
//! `/` is a fresh directory per container instance (so a restarted container starts clean) with
//! `/tmp`, `/etc/hostname`, `/etc/hosts`, the image's own files and a mount point for each mount.
//! WASI preopens are directories, so a single-file mount (a file hostPath, a subPath naming a file)
//! is a hard link at its path: the guest reads and writes the very same inode as the host, nothing
//! is copied and nothing can be lost. A hard link needs the file on the same file system as wpod's
//! state directory (`WPOD_STATE_DIR`); otherwise the container cannot be created.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::runtime::Mount;

pub fn create(
    rootfs: &Path,
    hostname: &str,
    files: &[(&str, &[u8])],
    mounts: &[Mount],
) -> Result<()> {
    dir(rootfs, 0o755)?;
    dir(&rootfs.join("tmp"), 0o1777)?;
    dir(&rootfs.join("etc"), 0o755)?;
    write(
        &rootfs.join("etc/hostname"),
        format!("{hostname}\n").as_bytes(),
    )?;
    let hosts = format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    );
    write(&rootfs.join("etc/hosts"), hosts.as_bytes())?;
    for (path, bytes) in files {
        let target = rootfs.join(path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        write(&target, bytes)?;
    }
    for m in mounts {
        let target = host_location(rootfs, mounts, m);
        if m.host_path.is_dir() {
            // A mount point inside a read-only volume may not be creatable; the preopen works anyway.
            let _ = fs::create_dir_all(&target);
        } else {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let _ = fs::remove_file(&target);
            fs::hard_link(&m.host_path, &target).with_context(|| {
                format!(
                    "mounting the file {} at {}: it must be on the same file system as wpod's state directory (set WPOD_STATE_DIR)",
                    m.host_path.display(),
                    m.container_path
                )
            })?;
        }
    }
    Ok(())
}

/// Where `m`'s container path lies on the host: inside the innermost directory mount that contains
/// it, else in the root file system.
fn host_location(rootfs: &Path, mounts: &[Mount], m: &Mount) -> PathBuf {
    let within = |outer: &str| {
        outer != m.container_path && m.container_path.starts_with(&format!("{outer}/"))
    };
    let parent = mounts
        .iter()
        .filter(|o| o.host_path.is_dir() && within(&o.container_path))
        .max_by_key(|o| o.container_path.len());
    match parent {
        Some(o) => o
            .host_path
            .join(&m.container_path[o.container_path.len() + 1..]),
        None => rootfs.join(m.container_path.trim_start_matches('/')),
    }
}

fn dir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
