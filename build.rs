//! Compiles the programs in `guests/` to wasm32-wasip2 so the binary can embed them as built-in images,
//! and on Linux also for the host, so the Linux backend can run the same images as native processes.
//!
//! The nested cargo uses its own target directory: sharing the outer one would deadlock on its lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const GUESTS: &[&str] = &["testkit", "nginx", "busybox"];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=guests/src");
    println!("cargo:rerun-if-changed=guests/wit");
    println!("cargo:rerun-if-changed=wit/deps");
    println!("cargo:rerun-if-changed=guests/pause/pause.wat");
    embed_lessons(&root, &out);
    let pause = wat::parse_file(root.join("guests/pause/pause.wat"))
        .unwrap_or_else(|e| panic!("guests/pause/pause.wat: {e}"));
    std::fs::write(out.join("pause.wasm"), pause).expect("writing pause.wasm");
    println!("cargo:rerun-if-changed=guests/Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");
    // The guests' profile lives in the workspace manifest.
    println!("cargo:rerun-if-changed=Cargo.toml");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target();
    let target_dir = out.join("guest-target");
    build_guests(&cargo, &root, &target_dir, TARGET);
    for guest in GUESTS {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{guest}.wasm"));
        copy(&built, &out.join(format!("{guest}.wasm")));
    }
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let host = env::var("TARGET").expect("cargo sets TARGET");
        build_guests(&cargo, &root, &target_dir, &host);
        for guest in GUESTS {
            let built = target_dir.join(&host).join("release").join(guest);
            copy(&built, &out.join(format!("native-{guest}")));
        }
    }
}

/// `lessons.rs`: every lesson directory (`NN-slug`, in order) with its four files, for
/// `include!` by src/lessons.rs.
fn embed_lessons(root: &Path, out: &Path) {
    println!("cargo:rerun-if-changed=lessons");
    let dir = root.join("lessons");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.len() > 3 && n.as_bytes()[..2].iter().all(u8::is_ascii_digit) && &n[2..3] == "-"
        })
        .collect();
    names.sort();
    let mut code = String::from("&[\n");
    for name in names {
        let file = |f: &str| {
            let path = dir.join(&name).join(f);
            println!("cargo:rerun-if-changed={}", path.display());
            format!("include_str!({:?})", path.display().to_string())
        };
        code.push_str(&format!(
            "    Embedded {{ slug: {name:?}, lesson: {}, pod: {}, start: {}, solution: {} }},\n",
            file("lesson.yaml"),
            file("pod.yaml"),
            file("start.yaml"),
            file("solution.yaml")
        ));
    }
    code.push_str("]\n");
    std::fs::write(out.join("lessons.rs"), code).expect("writing lessons.rs");
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {} failed: {e}", from.display()));
}

fn build_guests(cargo: &str, root: &Path, target_dir: &Path, target: &str) {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "wpod-guests",
            "--target",
            target,
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for guest in GUESTS {
        cmd.args(["--bin", guest]);
    }
    // The outer build's flags and wrappers are for the host target, not for the guests.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run {cargo} to build the guests: {e}"));
    if !status.success() {
        panic!("building the guests for {target} failed (see the output above)");
    }
}

/// A toolchain installed before the project existed lacks the wasm target; add it, or say how.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(Path::is_dir) {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        panic!(
            "the Rust target {TARGET} is missing and could not be installed automatically; \
             run `rustup target add {TARGET}` and build again"
        );
    }
}
