//! Where wpod keeps things, by each system's conventions (the `directories` crate): on Linux the
//! XDG directories (`~/.local/share/wpod`, `~/.cache/wpod`, `$XDG_RUNTIME_DIR/wpod`), on macOS
//! `~/Library/Application Support/wpod` and `~/Library/Caches/wpod`, on Windows
//! `%LOCALAPPDATA%\wpod\data` and `%LOCALAPPDATA%\wpod\cache`. Each can be set by an environment
//! variable, which wins.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "wpod")
}

fn env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Pod state, which does not outlive the run: `$WPOD_STATE_DIR`, else the user's run-time
/// directory (Linux), else a directory in the system's temporary directory.
pub fn state() -> PathBuf {
    env("WPOD_STATE_DIR")
        .or_else(|| Some(project()?.runtime_dir()?.to_path_buf()))
        .unwrap_or_else(|| std::env::temp_dir().join("wpod"))
}

/// What outlives a reboot (images, `wpod serve`'s objects): the user's data directory.
pub fn data() -> PathBuf {
    project()
        .map(|p| p.data_local_dir().to_path_buf())
        .unwrap_or_else(|| state().join("data"))
}

/// Compiled programs: `$WPOD_CACHE_DIR`, else the user's cache directory.
pub fn cache() -> Option<PathBuf> {
    env("WPOD_CACHE_DIR").or_else(|| Some(project()?.cache_dir().to_path_buf()))
}
