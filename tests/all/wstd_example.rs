//! wstd's `http_server` example, an unmodified wasi:http component from crates.io: `cargo
//! metadata` on tests/wasi-http finds the published crate's source, which is built for
//! wasm32-wasip2. Shared by the tests and the wasi_http bench.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Builds the example (once per process) and says where its `.wasm` is.
pub fn build() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_once).clone()
}

fn build_once() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasi-http/Cargo.toml");
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&fixture)
        .output()
        .expect("cargo metadata");
    assert!(meta.status.success(), "{meta:?}");
    let meta: Value = serde_json::from_slice(&meta.stdout).expect("cargo metadata's JSON");
    let manifest = meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "wstd"))
        .and_then(|p| p["manifest_path"].as_str())
        .expect("wstd among the fixture's packages");
    let source = Path::new(manifest).parent().expect("wstd's directory");
    // Built in a copy (cargo's registry is no place for build output), outside wpod's
    // workspace, which would otherwise claim it.
    let copy = std::env::temp_dir().join(format!("wpod-wstd-src-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(source, &copy);
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wstd-target");
    let build = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--example",
            "http_server",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(&copy)
        .output()
        .expect("cargo build of wstd's example");
    let _ = std::fs::remove_dir_all(&copy);
    assert!(build.status.success(), "{build:?}");
    target.join("wasm32-wasip2/release/examples/http_server.wasm")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).expect("copy");
        }
    }
}
