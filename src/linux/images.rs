//! The built-in images' native builds (compiled for the host by build.rs), written once to the
//! cache directory so container processes can exec them.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const NATIVE: &[(&str, &[u8])] = &[
    (
        "busybox",
        include_bytes!(concat!(env!("OUT_DIR"), "/native-busybox")),
    ),
    (
        "nginx",
        include_bytes!(concat!(env!("OUT_DIR"), "/native-nginx")),
    ),
    (
        "testkit",
        include_bytes!(concat!(env!("OUT_DIR"), "/native-testkit")),
    ),
];

/// Native programs found intact in this process: each is checked once, not at every start.
static VERIFIED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// The native program of a built-in image, as a file; written on first use, keyed by content so
/// a newer wpod never execs an older build. A file already there is exec'd only when its bytes
/// are the build's (checked once per process): a damaged one is written again, with a warning.
pub fn program(image: &str, cache_dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let (_, bytes) = NATIVE
        .iter()
        .find(|(n, _)| *n == image)
        .ok_or_else(|| anyhow::anyhow!("the built-in image {image} has no native build"))?;
    let sha = crate::runtime::images::sha256_hex(bytes);
    let dir = cache_dir.join("native");
    let path = dir.join(format!("{image}-{}", &sha[..16]));
    let mut verified = VERIFIED.lock().unwrap_or_else(|p| p.into_inner());
    if verified.contains(&path) {
        return Ok((path, sha));
    }
    match fs::metadata(&path) {
        Ok(m) if m.permissions().mode() & 0o111 != 0 && intact(&path, bytes) => {
            verified.insert(path.clone());
            return Ok((path, sha));
        }
        Ok(_) => crate::console::warning(&format!(
            "the native build of {image} cached in {} is damaged (its bytes are not the \
             build's): writing it again",
            path.display()
        )),
        Err(_) => {}
    }
    fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    // Written under a unique name and renamed: concurrent wpods never exec a half-written file.
    let tmp = dir.join(format!(".{image}-{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("renaming to {}: {e}", path.display()))?;
    verified.insert(path.clone());
    Ok((path, sha))
}

/// Whether the file at `path` holds exactly `bytes`.
fn intact(path: &Path, bytes: &[u8]) -> bool {
    crate::bounded::read_capped(path, bytes.len() as u64).is_ok_and(|found| found == bytes)
}
