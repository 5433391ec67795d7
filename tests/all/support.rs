//! Running the wpod binary on manifests written to a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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
    // The user's image store never changes what a test runs; the store's tests give their own.
    c.env("WPOD_CACHE_DIR", cache_dir())
        .env(
            "WPOD_IMAGE_STORE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-image-store"),
        )
        .env_remove("NO_COLOR");
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

/// What container `name` printed (stdout and stderr), one line each.
pub fn said(r: &Run, name: &str) -> String {
    r.stdout
        .lines()
        .chain(r.stderr.lines())
        .filter_map(|l| {
            let (who, text) = l.split_once(" | ")?;
            (who.trim_end() == name).then(|| format!("{text}\n"))
        })
        .collect()
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

/// `wpod run -o json [extra] MANIFEST`, its pods killed once every container in `done`
/// (`pod/container`) has exited: for pods whose servers never end by themselves, so the run
/// takes as long as its clients and not a fixed `--timeout`. A `--timeout` in `extra` still
/// bounds a run whose clients never exit.
pub fn run_until_exited(manifest: &str, extra: &[&str], done: &[&str]) -> Run {
    let exits: Vec<String> = done
        .iter()
        .map(|c| format!("-- {c}: exited with code"))
        .collect();
    let mut seen = vec![false; exits.len()];
    run_ending_when(manifest, extra, |line| {
        for (seen, exit) in seen.iter_mut().zip(&exits) {
            *seen |= line.starts_with(exit.as_str());
        }
        seen.iter().all(|s| *s)
    })
}

/// `wpod run -o json [extra] MANIFEST`, its pods killed (see [`end_when`]) once `now` holds for a
/// line of its stderr.
pub fn run_ending_when(manifest: &str, extra: &[&str], now: impl FnMut(&str) -> bool) -> Run {
    let s = Scratch::new("until");
    let file = s.write("pod.yaml", manifest);
    let child = wpod()
        .args(["run", "-o", "json", "--color", "never"])
        .args(extra)
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wpod");
    end_when(child, now)
}

/// Reads a spawned `wpod run` (stdout and stderr piped) to its end, and kills its pods, as a
/// second Ctrl-C does, once `now` holds for a line of its stderr (`|_| true`: at once).
pub fn end_when(child: Child, now: impl FnMut(&str) -> bool) -> Run {
    signalled_when(child, now, true)
}

/// As [`end_when`], with one TERM only: the pods stop gracefully, each given its grace period.
pub fn stop_when(child: Child, now: impl FnMut(&str) -> bool) -> Run {
    signalled_when(child, now, false)
}

fn signalled_when(mut child: Child, mut now: impl FnMut(&str) -> bool, kill: bool) -> Run {
    use std::io::{BufRead as _, BufReader, Read as _};
    let mut stdout = child.stdout.take().expect("stdout piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let pid = i32::try_from(child.id()).expect("pid");
    // SIGTERM, as a service manager stops a process; wpod counts it as it counts Ctrl-C.
    let term = || {
        // SAFETY: signalling our own child, which has not been waited for yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    };
    let mut stderr = String::new();
    let mut ending = false;
    for line in BufReader::new(child.stderr.take().expect("stderr piped"))
        .lines()
        .map_while(Result::ok)
    {
        if !ending && now(&line) {
            ending = true;
            term();
        }
        // The second signal once wpod has taken the first, so the two are never read as one.
        if kill && line.starts_with("wpod: stopping the pods gracefully") {
            term();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().expect("wait for wpod");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr,
    }
}

/// Runs `test` on every backend of [`backends`] at once, each in its own thread: the runs wait
/// on their guests far more than they compute.
pub fn on_backends(test: impl Fn(&'static str) + Sync) {
    std::thread::scope(|scope| {
        for backend in backends() {
            let test = &test;
            scope.spawn(move || test(backend));
        }
    });
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One `GET /` to 127.0.0.1:`port`: the whole reply, empty when nothing answered.
pub fn http_get(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
