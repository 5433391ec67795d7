//! Unix permission bits where the system has them. Windows keeps access in ACLs: a new file
//! there inherits its directory's, which for wpod's own directories (under the user's profile)
//! leave it to that user, so these are no-ops there.

use std::fs::{Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// Sets the mode of `path` to exactly `mode`, whatever the umask.
pub fn set(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The permission bits of `meta` (`default` where the system has none).
pub fn of(meta: &Metadata, default: u32) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = default;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        default
    }
}

/// Makes `options` create a file that only its owner can read and write.
pub fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600)
    }
    #[cfg(not(unix))]
    {
        options
    }
}
