//! Renames and hard links between two mounts fail with EXDEV, as on Linux where every volume is its
//! own mount. wasmtime-wasi's preopens all sit on one host file system, so without this a guest
//! could move a file from an emptyDir into its own root (where it would vanish with the container)
//! or from a hostPath into an emptyDir.

use std::path::PathBuf;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{self, ErrorCode, HostDescriptor, PathFlags};
use wasmtime_wasi_io::IoView;

use super::Host;

impl Host {
    /// The mount (its host directory) a directory descriptor lives in, when it can be told.
    fn mount_of(&mut self, fd: &Resource<Descriptor>) -> wasmtime::Result<Option<PathBuf>> {
        let Descriptor::Dir(dir) = self.table().get(fd)? else {
            return Ok(None);
        };
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let raw = dir.dir.as_raw_fd();
            let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{raw}")) else {
                return Ok(None);
            };
            Ok(self
                .mount_roots
                .iter()
                .filter(|root| path.starts_with(root))
                .max_by_key(|root| root.as_os_str().len())
                .cloned())
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(None)
        }
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
                    Err(e) => Err(types::Host::convert_error_code(&mut view, e)?),
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
                        Err(e) => Err(types::Host::convert_error_code(&mut view, e)?),
                    };
                Ok((result,))
            })
        },
    )?;
    l.allow_shadowing(false);
    Ok(())
}
