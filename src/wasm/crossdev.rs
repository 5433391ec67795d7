//! Renames and hard links between two mounts fail with EXDEV, as on Linux where every volume is its
//! own mount. wasmtime-wasi's preopens all sit on one host file system, so without this a guest
//! could move a file from an emptyDir into its own root (where it would vanish with the container)
//! or from a hostPath into an emptyDir.
//!
//! A read-only single-file mount is a hard link in a writable directory (see rootfs.rs), so
//! wasmtime-wasi's read-only preopens cannot protect it: opening it to write, create or truncate,
//! and setting its times, fail with `read-only` (EROFS), as writes to a read-only mount do on
//! Linux. The file is told by its inode, whatever path reaches it. Only components go through
//! this linker; p1 modules use wasmtime-wasi's own p1 functions, which cannot be taken over.

use std::path::PathBuf;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, HostDescriptor, NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi_io::IoView;

use super::engine::Host;
use super::erofs;

impl Host {
    /// The mount (its host directory) a directory descriptor lives in, when it can be told.
    fn mount_of(&mut self, fd: &Resource<Descriptor>) -> wasmtime::Result<Option<PathBuf>> {
        let Descriptor::Dir(dir) = self.table().get(fd)? else {
            return Ok(None);
        };
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let raw = dir.dir.as_raw_fd();
            let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{raw}")) else {
                return Ok(None);
            };
            Ok(self
                .mounts
                .roots
                .iter()
                .filter(|root| path.starts_with(root))
                .max_by_key(|root| root.as_os_str().len())
                .cloned())
        }
        // Elsewhere an open directory cannot be told apart by path: renames between mounts
        // are not refused there (the README lists it).
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            Ok(None)
        }
    }

    /// Whether `path` from the directory `fd` names a read-only single-file mount.
    fn read_only_at(
        &mut self,
        fd: &Resource<Descriptor>,
        path_flags: PathFlags,
        path: &str,
    ) -> wasmtime::Result<bool> {
        if self.mounts.read_only_files.is_empty() {
            return Ok(false);
        }
        let Descriptor::Dir(dir) = self.table().get(fd)? else {
            return Ok(false);
        };
        let Some(id) = id_at(
            &dir.dir,
            path,
            path_flags.contains(PathFlags::SYMLINK_FOLLOW),
        ) else {
            return Ok(false);
        };
        Ok(self.mounts.read_only_files.contains(&id))
    }

    /// Whether the open file `fd` is a read-only single-file mount.
    fn read_only_file(&mut self, fd: &Resource<Descriptor>) -> wasmtime::Result<bool> {
        if self.mounts.read_only_files.is_empty() {
            return Ok(false);
        }
        let Descriptor::File(file) = self.table().get(fd)? else {
            return Ok(false);
        };
        let Ok(id) = crate::hostfs::file_id(&file.file) else {
            return Ok(false);
        };
        Ok(self.mounts.read_only_files.contains(&id))
    }

    fn crosses_mounts(
        &mut self,
        a: &Resource<Descriptor>,
        b: &Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        let (a, b) = (self.mount_of(a)?, self.mount_of(b)?);
        Ok(matches!((a, b), (Some(a), Some(b)) if a != b))
    }
}

/// The identity (`hostfs::file_id`) of what `path` names from the directory `dir`, if it exists.
/// On Unix only a stat: a path that leads out of the preopen is refused by the open itself.
fn id_at(dir: &std::fs::File, path: &str, follow: bool) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let flags = if follow {
            rustix::fs::AtFlags::empty()
        } else {
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW
        };
        let st = rustix::fs::statat(dir, path, flags).ok()?;
        // As std's MetadataExt::dev() converts it (dev_t is signed on macOS).
        #[allow(clippy::unnecessary_cast)]
        Some((st.st_dev as u64, st.st_ino))
    }
    #[cfg(not(unix))]
    {
        use cap_primitives::fs::{FollowSymlinks, OpenOptions};
        let follow = if follow {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        };
        let file = cap_primitives::fs::open(
            dir,
            std::path::Path::new(path),
            OpenOptions::new().read(true)._cap_fs_ext_follow(follow),
        )
        .ok()?;
        crate::hostfs::file_id(&file).ok()
    }
}

pub fn add_to_linker(l: &mut Linker<Host>) -> wasmtime::Result<()> {
    l.allow_shadowing(true);
    let mut types_instance = l.instance("wasi:filesystem/types@0.2.12")?;
    types_instance.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store,
         (fd, old, new_fd, new): (Resource<Descriptor>, String, Resource<Descriptor>, String)| {
            Box::new(async move {
                let host = store.data_mut();
                if host.crosses_mounts(&fd, &new_fd)? {
                    return Ok((Err(ErrorCode::CrossDevice),));
                }
                let mut view = host.filesystem();
                let result = match HostDescriptor::rename_at(&mut view, fd, old, new_fd, new).await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(erofs::error_code(&mut view, e)?),
                };
                Ok((result,))
            })
        },
    )?;
    types_instance.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store,
         (fd, flags, old, new_fd, new): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let host = store.data_mut();
                if host.crosses_mounts(&fd, &new_fd)? {
                    return Ok((Err(ErrorCode::CrossDevice),));
                }
                let mut view = host.filesystem();
                let result =
                    match HostDescriptor::link_at(&mut view, fd, flags, old, new_fd, new).await {
                        Ok(()) => Ok(()),
                        Err(e) => Err(erofs::error_code(&mut view, e)?),
                    };
                Ok((result,))
            })
        },
    )?;
    types_instance.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let host = store.data_mut();
                let writes = flags.contains(DescriptorFlags::WRITE)
                    || oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE);
                if writes && host.read_only_at(&fd, path_flags, &path)? {
                    return Ok((Err(ErrorCode::ReadOnly),));
                }
                // The path is checked again on the opened file (a sibling may rename things in a
                // shared volume meanwhile), so truncation waits until then.
                let truncate = writes
                    && !host.mounts.read_only_files.is_empty()
                    && oflags.contains(OpenFlags::TRUNCATE)
                    && !oflags.contains(OpenFlags::DIRECTORY);
                let (oflags, flags) = if truncate {
                    (
                        oflags & !OpenFlags::TRUNCATE,
                        flags | DescriptorFlags::WRITE,
                    )
                } else {
                    (oflags, flags)
                };
                let mut view = host.filesystem();
                let opened =
                    match HostDescriptor::open_at(&mut view, fd, path_flags, path, oflags, flags)
                        .await
                    {
                        Ok(opened) => opened,
                        Err(e) => {
                            return Ok((Err(erofs::error_code(&mut view, e)?),));
                        }
                    };
                if writes && host.read_only_file(&opened)? {
                    host.table().delete(opened)?;
                    return Ok((Err(ErrorCode::ReadOnly),));
                }
                if truncate {
                    let mut view = host.filesystem();
                    let borrowed = Resource::new_borrow(opened.rep());
                    if let Err(e) = HostDescriptor::set_size(&mut view, borrowed, 0).await {
                        let code = erofs::error_code(&mut view, e)?;
                        host.table().delete(opened)?;
                        return Ok((Err(code),));
                    }
                }
                Ok((Ok(opened),))
            })
        },
    )?;
    types_instance.func_wrap_async(
        "[method]descriptor.set-times-at",
        |mut store,
         (fd, path_flags, path, atim, mtim): (
            Resource<Descriptor>,
            PathFlags,
            String,
            NewTimestamp,
            NewTimestamp,
        )| {
            Box::new(async move {
                let host = store.data_mut();
                if host.read_only_at(&fd, path_flags, &path)? {
                    return Ok((Err(ErrorCode::ReadOnly),));
                }
                let mut view = host.filesystem();
                let result =
                    match HostDescriptor::set_times_at(&mut view, fd, path_flags, path, atim, mtim)
                        .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) => Err(erofs::error_code(&mut view, e)?),
                    };
                Ok((result,))
            })
        },
    )?;
    types_instance.func_wrap_async(
        "[method]descriptor.set-times",
        |mut store, (fd, atim, mtim): (Resource<Descriptor>, NewTimestamp, NewTimestamp)| {
            Box::new(async move {
                let host = store.data_mut();
                if host.read_only_file(&fd)? {
                    return Ok((Err(ErrorCode::ReadOnly),));
                }
                let mut view = host.filesystem();
                let result = match HostDescriptor::set_times(&mut view, fd, atim, mtim).await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(erofs::error_code(&mut view, e)?),
                };
                Ok((result,))
            })
        },
    )?;
    l.allow_shadowing(false);
    Ok(())
}
