//! Running the wpod binary on manifests written to a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "wpod-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, contents).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The compile cache all tests share, so each guest is compiled once per test run.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wpod-test-cache")
}

pub fn wpod() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wpod"));
    c.env("WPOD_CACHE_DIR", cache_dir()).env_remove("NO_COLOR");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The outcome of a finished `wpod` command.
pub fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run_args(args: &[&str]) -> Run {
    finish(
        wpod()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run wpod"),
    )
}

/// `wpod run -o json [extra] MANIFEST` on a manifest given as text.
pub fn run_json(manifest: &str, extra: &[&str]) -> Run {
    let s = Scratch::new("run");
    let file = s.write("pod.yaml", manifest);
    let mut args = vec!["run", "-o", "json", "--color", "never"];
    args.extend_from_slice(extra);
    let file = file.to_string_lossy().into_owned();
    args.push(&file);
    run_args(&args)
}

/// The status of the named container (init or app) in a Pod object.
pub fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    let status = &pod["status"];
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|k| status[k].as_array())
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no status for container {name} in {pod:#}"))
}

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

/// Whether the Linux backend can be tested here (root on Linux); `WPOD_REQUIRE_LINUX=1` (CI)
/// turns its absence into a failure rather than a skip.
pub fn linux_backend() -> bool {
    // SAFETY: geteuid cannot fail.
    let ok = cfg!(target_os = "linux") && unsafe { libc::geteuid() } == 0;
    if !ok {
        assert!(
            std::env::var_os("WPOD_REQUIRE_LINUX").is_none_or(|v| v != "1"),
            "the Linux backend needs root on Linux and WPOD_REQUIRE_LINUX=1"
        );
        eprintln!("Linux backend test SKIPPED: it needs root on Linux");
    }
    ok
}

/// The backends to test on: wasm, and linux where it can run (see [`linux_backend`]).
pub fn backends() -> Vec<&'static str> {
    if linux_backend() {
        vec!["wasm", "linux"]
    } else {
        vec!["wasm"]
    }
}
