//! `wpod serve` driven by the official Python Kubernetes client (PyPI `kubernetes`):
//! tests/python/client.py lists, creates, watches, reads logs, conflicts, deletes by label.
//! The client is a CI requirement (`.ci/run` installs it), so its absence fails the test.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::serve::{serve, stop};
use crate::support::free_port;

/// Every wait in the script is bounded; this bounds the script as a whole.
const SCRIPT_LIMIT: Duration = Duration::from_secs(300);

/// `WPOD_PYTHON`, else the venv `.ci/run` makes (made here, as `.ci/run` makes it, when it is
/// not there yet, so the README's test command works on a fresh machine); it must be able to
/// `import kubernetes`.
pub(crate) fn python() -> String {
    let python = match std::env::var("WPOD_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => venv(),
    };
    let probe = Command::new(&python)
        .args(["-c", "import kubernetes"])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => return python,
        Ok(out) => String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("cannot run it: {e}"),
    };
    panic!(
        "{python} cannot `import kubernetes` ({why}). Install the official client with \
         `python3 -m venv ~/.cache/wpod/venv && ~/.cache/wpod/venv/bin/pip install kubernetes` \
         and run with WPOD_PYTHON=~/.cache/wpod/venv/bin/python (.ci/run does this)"
    );
}

/// `~/.cache/wpod/venv` with the `kubernetes` package, made if missing.
fn venv() -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let dir = std::path::Path::new(&home).join(".cache/wpod/venv");
    let python = dir.join("bin/python");
    let has_client = || {
        Command::new(&python)
            .args(["-c", "import kubernetes"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has_client() {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&dir)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "python3 -m venv {} failed",
            dir.display()
        );
        let installed = Command::new(dir.join("bin/pip"))
            .args(["install", "-q", "kubernetes"])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "pip install kubernetes into {} failed (PyPI must be reachable)",
            dir.display()
        );
    }
    python.to_string_lossy().into_owned()
}

#[test]
fn the_official_python_client_drives_wpod_serve() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("wpod-serve-python-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    let mut child = Command::new(&python)
        .arg(script)
        .arg(&config)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {python} {script}: {e}"));
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = r.read_to_string(&mut out);
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + SCRIPT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    stop(server);

    let Some(status) = status else {
        panic!(
            "client.py did not finish within {SCRIPT_LIMIT:?}\n--- stdout\n{stdout}--- stderr\n{stderr}"
        );
    };
    assert!(
        status.success() && stdout.trim_end().ends_with("PASS"),
        "client.py exited with {status}\n--- stdout\n{stdout}--- stderr\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
