//! The Windows build, `wpod.exe`, run under Wine: a pod that Succeeds, the docs' nginx pod reached
//! through `-p`, a manifest typo with its line:column, and Ctrl-C stopping pods gracefully.
//!
//! `.ci/run` cross-builds `wpod.exe` (`--target x86_64-pc-windows-gnu`) and names it in
//! `WPOD_WINDOWS_EXE`, with `WPOD_REQUIRE_WINDOWS=1` so these tests can never be skipped there.
//! Elsewhere they run when `WPOD_WINDOWS_EXE` is set and are skipped, saying so, when it is not.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Scratch, free_port};

/// The `wpod.exe` to run, or None (with a note) when these tests are to be skipped. The first
/// call sets the Wine prefix up, once, before the tests use it side by side.
fn exe() -> Option<PathBuf> {
    static READY: std::sync::Once = std::sync::Once::new();
    match std::env::var_os("WPOD_WINDOWS_EXE").filter(|v| !v.is_empty()) {
        Some(exe) => {
            let exe = PathBuf::from(exe);
            READY.call_once(|| {
                let scratch = Scratch::new("wine-prefix-setup");
                let out = wine(&exe, &scratch)
                    .arg("--version")
                    .output()
                    .expect("run wine");
                assert!(
                    String::from_utf8_lossy(&out.stdout).starts_with("wpod "),
                    "wine {} --version: {}{}",
                    exe.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            });
            Some(exe)
        }
        None if std::env::var_os("WPOD_REQUIRE_WINDOWS").is_some_and(|v| v == "1") => {
            panic!("WPOD_REQUIRE_WINDOWS=1 but WPOD_WINDOWS_EXE names no wpod.exe")
        }
        None => {
            eprintln!("Windows tests SKIPPED: set WPOD_WINDOWS_EXE to a wpod.exe (see .ci/run)");
            None
        }
    }
}

/// `wine wpod.exe ARGS`, in a Wine prefix of the test run's own, with wpod's directories there.
fn wine(exe: &PathBuf, scratch: &Scratch) -> Command {
    let prefix = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wine-prefix");
    let mut c = Command::new("wine");
    c.arg(exe)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        // Wine would otherwise try to open a window to say it is setting the prefix up.
        .env("DISPLAY", "")
        .env("WPOD_STATE_DIR", scratch.dir.join("state"))
        .env("WPOD_CACHE_DIR", scratch.dir.join("cache"))
        .env("WPOD_IMAGE_STORE", scratch.dir.join("images"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    c
}

#[test]
fn the_two_container_example_succeeds_under_wine() {
    let Some(exe) = exe() else { return };
    let scratch = Scratch::new("wine-two");
    let started = Instant::now();
    let out = wine(&exe, &scratch)
        .args(["run", "--color", "never", "examples/two-containers.yaml"])
        .output()
        .expect("run wine");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("greeter | hello from the greeter container"),
        "{stdout}"
    );
    for n in 1..=5 {
        assert!(stdout.contains(&format!("counter | {n}")), "{stdout}");
    }
    assert!(
        stderr.contains("two-containers: phase Running -> Succeeded"),
        "{stderr}"
    );
    eprintln!(
        "wine wpod.exe run examples/two-containers.yaml: {:.2}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_typo_is_shown_with_its_line_and_column_under_wine() {
    let Some(exe) = exe() else { return };
    let scratch = Scratch::new("wine-validate");
    let file = scratch.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n    comand: [sh]\n",
    );
    let out = wine(&exe, &scratch)
        .arg("validate")
        .arg(&file)
        .output()
        .expect("run wine");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("pod.yaml:9:5: error: spec.containers[0].comand: unknown field"),
        "{said}"
    );
    assert!(said.contains("did you mean `command`?"), "{said}");
}

/// What needs Linux says so and exits 2, before running anything.
#[test]
fn the_linux_backend_and_parity_are_usage_errors_under_wine() {
    let Some(exe) = exe() else { return };
    let scratch = Scratch::new("wine-linux-only");
    for args in [
        &["run", "--backend", "linux", "examples/two-containers.yaml"][..],
        &["parity", "examples/two-containers.yaml"][..],
    ] {
        let out = wine(&exe, &scratch).args(args).output().expect("run wine");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("needs Linux (this is windows)"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("-- running"),
            "nothing runs first: {stderr}"
        );
    }
}

/// The docs' nginx pod, published with `-p`, answers a GET from the host; Ctrl-C (SIGINT, which
/// Wine turns into the console's CTRL_C_EVENT) then stops it gracefully.
#[test]
fn nginx_answers_through_publish_and_ctrl_c_stops_it_under_wine() {
    let Some(exe) = exe() else { return };
    let scratch = Scratch::new("wine-nginx");
    let port = free_port();
    let mut child = wine(&exe, &scratch)
        .args(["run", "--color", "never", "-p"])
        .arg(format!("{port}:80"))
        .arg("examples/nginx-pod.yaml")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wine");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        if let Some(body) = get(port) {
            break body;
        }
        if Instant::now() > deadline || child.try_wait().expect("wait").is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "nginx never answered on {port}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("nginx"), "{body}");
    let stopping = Instant::now();
    // SAFETY: signalling our own child (wine's loader, which runs wpod.exe in this process).
    let pid = i32::try_from(child.id()).expect("pid");
    assert_eq!(unsafe { kill(pid, 2) }, 0);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    let took = stopping.elapsed();
    assert!(
        stderr.contains("Killing: Stopping container nginx"),
        "a graceful stop: {stderr}"
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}\n{stderr}");
    eprintln!("wine wpod.exe: Ctrl-C to exit {:.2}s", took.as_secs_f64());
}

/// The body of `GET /` on the host's loopback at `port`, once it answers 200.
fn get(port: u16) -> Option<String> {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
