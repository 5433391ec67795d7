//! Processes inside containers, on both backends in the same run, beside the targets of their
//! issue. Prints figures; never fails on time (only on a pod that does not run, and every wait is
//! bounded).
//!
//! Run as root with `cargo bench --bench processes`. Measures, on the wasm backend (a child is a
//! new wasmtime instance started through `wpod:process` spawn) and on the Linux backend (a child
//! is a fork of the native busybox shell):
//! - spawn -> exit -> wait of a child process, timed inside a busybox container with
//!   `date +%s%N`: N iterations of `(exit 0) &` + `wait` (one child each) and of `true | true`
//!   (two children each), minus an empty loop of N iterations, divided;
//! - pipe throughput between two processes of one container (`yes | head -c 1GiB >/dev/null`),
//!   with what bounds it: the three-stage `yes | head | wc -c`, a file-fed pipe against the same
//!   file read without a pipe, `wc -c` alone, and on Linux `/dev/zero` with and without a pipe
//!   (a wasm container has no /dev/zero);
//! - a TERM-trapping native sidecar: from the main container's exit (the `exited` event on
//!   wpod's stderr) to the sidecar's exit and to the end of `wpod run`;
//! - Ctrl-C on the seed's nginx pod (examples/nginx-pod.yaml): SIGINT to `wpod run` once nginx
//!   has logged `start worker process`, until wpod exits; nginx must exit 0.
//!
//! Without the Linux backend (not Linux, not root, no namespaces) its column says why it is empty.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Iterations of each spawn loop, and how many times each loop is timed.
const SPAWNS: usize = 1000;
const SPAWN_RUNS: usize = 5;
/// Bytes through `yes | head -c` (the headline pipe figure), and through the slower variants.
const PIPE_BYTES: u64 = 1 << 30;
const SMALL_BYTES: u64 = 256 << 20;
const PIPE_RUNS: usize = 3;
/// Pods started for the stop figures, per backend.
const STOPS: usize = 5;
const BACKENDS: [&str; 2] = ["wasm", "linux"];

fn wpod() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wpod"))
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-procbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> Option<T> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied()
}

/// A one-container busybox pod running `script`, as a JSON manifest in `dir`.
fn script_pod(dir: &Path, name: &str, script: &str) -> PathBuf {
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "sh", "image": "busybox", "command": ["sh", "-c", script]}]
        }
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&pod).expect("json")).expect("manifest");
    path
}

/// Runs a pod to its end; its container's output lines, or why it did not succeed.
fn run_script(backend: &str, manifest: &Path) -> Result<Vec<String>, String> {
    let out = wpod()
        .args(["run", "-q", "--color", "never", "--timeout", "120s"])
        .args(["--backend", backend])
        .arg(manifest)
        .output()
        .map_err(|e| format!("running wpod: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!(
            "wpod run exited with {}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sh | ").map(str::to_string))
        .collect())
}

/// Lines `KEY n n n ...` of a container's output, as numbers.
fn rows(lines: &[String], key: &str) -> Vec<Vec<f64>> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. spawn -> exit -> wait

#[derive(Clone, Copy)]
struct Spawn {
    /// Per child of `(exit 0) &` + `wait`, and of `true | true`, microseconds.
    background_us: f64,
    pipeline_us: f64,
    /// An empty iteration of the `for` loop (subtracted from both), microseconds.
    loop_us: f64,
}

fn spawn_script() -> String {
    format!(
        "for r in $(seq {SPAWN_RUNS}); do \
           a=$(date +%s%N); for i in $(seq {SPAWNS}); do :; done; \
           b=$(date +%s%N); for i in $(seq {SPAWNS}); do (exit 0) & wait; done; \
           c=$(date +%s%N); for i in $(seq {SPAWNS}); do true | true; done; \
           d=$(date +%s%N); echo \"spawn $((b-a)) $((c-b)) $((d-c))\"; \
         done"
    )
}

fn spawn(backend: &str, dir: &Path) -> Result<Spawn, String> {
    let lines = run_script(backend, &script_pod(dir, "spawn", &spawn_script()))?;
    let runs = rows(&lines, "spawn");
    let n = SPAWNS as f64;
    let mut bg = Vec::new();
    let mut pipe = Vec::new();
    let mut empty = Vec::new();
    for r in runs.iter().filter(|r| r.len() == 3) {
        empty.push(r[0] / n / 1e3);
        bg.push((r[1] - r[0]) / n / 1e3);
        pipe.push((r[2] - r[0]) / (2.0 * n) / 1e3);
    }
    match (median(bg), median(pipe), median(empty)) {
        (Some(background_us), Some(pipeline_us), Some(loop_us)) => Ok(Spawn {
            background_us,
            pipeline_us,
            loop_us,
        }),
        _ => Err(format!("no figures in the container's output {lines:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. pipe throughput

/// Median GiB/s of each measured command; None where it could not run (no /dev/zero).
#[derive(Clone, Copy, Default)]
struct Pipes {
    /// `yes | head -c 1GiB > /dev/null`: two processes, one pipe.
    yes_head: Option<f64>,
    /// `yes | head -c 256MiB | wc -c`: three processes, two pipes.
    yes_head_wc: Option<f64>,
    /// `wc -c < file`: the consumer of the above alone, no pipe.
    wc_alone: Option<f64>,
    /// `cat file | cat > /dev/null` and `cat file > /dev/null`: the same producer with and
    /// without a pipe.
    cat_cat: Option<f64>,
    cat_alone: Option<f64>,
    /// `head -c 1GiB /dev/zero | cat > /dev/null` and without the pipe (Linux only).
    zero_cat: Option<f64>,
    zero_alone: Option<f64>,
}

fn pipe_script() -> String {
    format!(
        "t() {{ a=$(date +%s%N); eval \"$2\"; b=$(date +%s%N); echo \"$1 $3 $((b-a))\"; }}; \
         yes | head -c {SMALL_BYTES} > /tmp/f; \
         for r in $(seq {PIPE_RUNS}); do \
           t yes_head 'yes | head -c {PIPE_BYTES} > /dev/null' {PIPE_BYTES}; \
           t yes_head_wc 'yes | head -c {SMALL_BYTES} | wc -c > /dev/null' {SMALL_BYTES}; \
           t wc_alone 'wc -c < /tmp/f > /dev/null' {SMALL_BYTES}; \
           t cat_cat 'cat /tmp/f | cat > /dev/null' {SMALL_BYTES}; \
           t cat_alone 'cat /tmp/f > /dev/null' {SMALL_BYTES}; \
           if test -e /dev/zero; then \
             t zero_cat 'head -c {PIPE_BYTES} /dev/zero | cat > /dev/null' {PIPE_BYTES}; \
             t zero_alone 'head -c {PIPE_BYTES} /dev/zero > /dev/null' {PIPE_BYTES}; \
           fi; \
         done; rm -f /tmp/f"
    )
}

fn pipes(backend: &str, dir: &Path) -> Result<Pipes, String> {
    let lines = run_script(backend, &script_pod(dir, "pipes", &pipe_script()))?;
    let gib_s = |key: &str| {
        let rates = rows(&lines, key)
            .into_iter()
            .filter(|r| r.len() == 2 && r[1] > 0.0)
            .map(|r| r[0] / (r[1] / 1e9) / f64::from(1u32 << 30))
            .collect();
        median(rates)
    };
    let p = Pipes {
        yes_head: gib_s("yes_head"),
        yes_head_wc: gib_s("yes_head_wc"),
        wc_alone: gib_s("wc_alone"),
        cat_cat: gib_s("cat_cat"),
        cat_alone: gib_s("cat_alone"),
        zero_cat: gib_s("zero_cat"),
        zero_alone: gib_s("zero_alone"),
    };
    if p.yes_head.is_none() {
        return Err(format!("no figures in the container's output {lines:?}"));
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// 3 and 4: stopping, timed from wpod's own output

/// A `wpod run` child whose output lines arrive with the time they were read; it is always
/// stopped (SIGINT, SIGINT again, SIGKILL), even when the bench panics.
struct Run {
    child: Child,
    lines: mpsc::Receiver<(Instant, bool, String)>,
    seen: Vec<(Instant, bool, String)>,
}

impl Run {
    fn start(args: &[&str], backend: &str) -> Run {
        let mut child = wpod()
            .args(["run", "--color", "never", "--backend", backend])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wpod run");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, is_err) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, false),
            (Box::new(stderr), true),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((Instant::now(), is_err, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits at most `limit` for a line containing `needle`; when it was read.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Option<Instant> {
        if let Some((t, _, _)) = self.seen.iter().find(|(_, _, l)| l.contains(needle)) {
            return Some(*t);
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (t, is_err, line) = self.lines.recv_timeout(left).ok()?;
            let hit = line.contains(needle);
            self.seen.push((t, is_err, line));
            if hit {
                return Some(t);
            }
        }
    }

    /// Waits at most `limit` for the process to exit: when, and its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<(Instant, Option<i32>)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((Instant::now(), status.code()));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The lines still on their way once the process has exited (until both streams close or
    /// go quiet: a container process may still hold them).
    fn drain(&mut self) {
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(300)) {
            self.seen.push(l);
        }
    }

    fn find(&self, needle: &str) -> Option<&(Instant, bool, String)> {
        self.seen.iter().find(|(_, _, l)| l.contains(needle))
    }

    fn interrupt(&self) {
        let pid = self.child.id();
        #[cfg(target_os = "linux")]
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped (a reaped pid
        // is only reused after wait, which Drop does last).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGINT);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for _ in 0..2 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            self.interrupt();
            std::thread::sleep(Duration::from_millis(500));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn sidecar_pod(dir: &Path) -> PathBuf {
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sidecar"},
        "spec": {
            "restartPolicy": "Never",
            // What the sidecar would wait for if TERM were not delivered (or not trapped).
            "terminationGracePeriodSeconds": 5,
            "initContainers": [{
                "name": "sidecar", "image": "busybox", "restartPolicy": "Always",
                "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
            }],
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 0.3"]}]
        }
    });
    let path = dir.join("sidecar.json");
    std::fs::write(&path, serde_json::to_string_pretty(&pod).expect("json")).expect("manifest");
    path
}

#[derive(Clone, Default)]
struct Stops {
    /// Milliseconds from the event to the sidecar's exit, and to the end of wpod.
    to_sidecar_ms: Vec<f64>,
    to_end_ms: Vec<f64>,
    /// Exit codes of the sidecar, as the events say.
    codes: Vec<String>,
}

fn sidecar(backend: &str, dir: &Path) -> Result<Stops, String> {
    let manifest = sidecar_pod(dir);
    let mut s = Stops::default();
    for _ in 0..STOPS {
        let mut run = Run::start(&[&manifest.display().to_string()], backend);
        let main = run
            .wait_for("sidecar/main: exited with code", Duration::from_secs(30))
            .ok_or("the main container never exited")?;
        let side = run.wait_for("sidecar/sidecar: exited with code", Duration::from_secs(30));
        let (end, _) = run
            .wait_exit(Duration::from_secs(30))
            .ok_or("wpod run did not end")?;
        run.drain();
        let side = side.ok_or("the sidecar never exited")?;
        s.to_sidecar_ms
            .push(side.duration_since(main).as_secs_f64() * 1e3);
        s.to_end_ms
            .push(end.duration_since(main).as_secs_f64() * 1e3);
        let code = run
            .find("sidecar/sidecar: exited with code")
            .and_then(|(_, _, l)| l.split("exited with code ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        s.codes.push(code);
    }
    Ok(s)
}

#[derive(Clone, Default)]
struct CtrlC {
    ms: Vec<f64>,
    /// wpod's own exit codes, and nginx's as its `exited` event says.
    wpod_codes: Vec<String>,
    nginx_codes: Vec<String>,
}

fn ctrl_c(backend: &str, manifest: &Path) -> Result<CtrlC, String> {
    let mut c = CtrlC::default();
    for _ in 0..STOPS {
        let mut run = Run::start(&[&manifest.display().to_string()], backend);
        run.wait_for("start worker process", Duration::from_secs(60))
            .ok_or("nginx never logged `start worker process`")?;
        // Serving, as a user pressing Ctrl-C would find it.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        run.interrupt();
        let ended = match run.wait_exit(Duration::from_secs(10)) {
            Some(e) => Some(e),
            None => {
                // Not stopped gracefully in 10 s: the second Ctrl-C kills the pods.
                run.interrupt();
                run.wait_exit(Duration::from_secs(10))
            }
        };
        let (end, code) = ended.ok_or("wpod run did not end after two SIGINTs")?;
        run.drain();
        c.ms.push(end.duration_since(t).as_secs_f64() * 1e3);
        c.wpod_codes
            .push(code.map_or("signal".into(), |c| c.to_string()));
        let nginx = run
            .find("nginx-pod/nginx: exited with code")
            .and_then(|(_, _, l)| l.split("exited with code ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("none")
            .to_string();
        c.nginx_codes.push(nginx);
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// The table

/// The distinct values of `v`, joined (`0`, or `0,137`).
fn distinct(v: &[String]) -> String {
    let mut d: Vec<&str> = Vec::new();
    for s in v {
        if !d.contains(&s.as_str()) {
            d.push(s);
        }
    }
    d.join(",")
}

type Cell<T> = Result<T, String>;

fn cell<T>(c: &Cell<T>, f: impl Fn(&T) -> String) -> String {
    match c {
        Ok(v) => f(v),
        Err(_) => "n/a".into(),
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("n/a".into(), f)
}

fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1e3)
    } else {
        format!("{v:.1} us")
    }
}

fn gib(v: f64) -> String {
    format!("{v:.2} GiB/s")
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

/// `ok` or `MISS` for a figure with a target.
fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "ok",
        Some(false) => "MISS",
        None => "",
    }
}

struct Row {
    name: String,
    wasm: String,
    linux: String,
    target: String,
}

fn row(name: &str, wasm: String, linux: String, target: &str) -> Row {
    Row {
        name: name.into(),
        wasm,
        linux,
        target: target.into(),
    }
}

struct Backend {
    spawn: Cell<Spawn>,
    pipes: Cell<Pipes>,
    sidecar: Cell<Stops>,
    ctrl_c: Cell<CtrlC>,
}

fn report<T>(backend: &str, what: &str, r: &Cell<T>) {
    if let Err(e) = r {
        println!("{backend:<5}: {what}: {e}");
    }
}

fn measure(backend: &str, dir: &Path, nginx: &Path) -> Backend {
    let t = Instant::now();
    let spawn = spawn(backend, dir);
    report(backend, "spawn", &spawn);
    let pipes = pipes(backend, dir);
    report(backend, "pipes", &pipes);
    let sidecar = sidecar(backend, dir);
    report(backend, "sidecar", &sidecar);
    let ctrl_c = ctrl_c(backend, nginx);
    report(backend, "Ctrl-C", &ctrl_c);
    println!(
        "{backend:<5}: measured in {:.1} s (load average now {})",
        t.elapsed().as_secs_f64(),
        load()
    );
    Backend {
        spawn,
        pipes,
        sidecar,
        ctrl_c,
    }
}

fn main() {
    let dir = scratch();
    let nginx = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx-pod.yaml");
    println!(
        "load average before: {} (figures are wall time on a shared machine)",
        load()
    );

    // Warm the compile cache and find out whether the Linux backend can run here.
    let warm = script_pod(&dir, "warm", "true");
    let mut available = Vec::new();
    for backend in BACKENDS {
        match run_script(backend, &warm) {
            Ok(_) => available.push(Ok(())),
            Err(e) => {
                println!("{backend:<5}: skipped: {e}");
                available.push(Err(e));
            }
        }
    }
    let results: Vec<Backend> = BACKENDS
        .iter()
        .zip(&available)
        .map(|(backend, ok)| match ok {
            Ok(()) => measure(backend, &dir, &nginx),
            Err(e) => Backend {
                spawn: Err(e.clone()),
                pipes: Err(e.clone()),
                sidecar: Err(e.clone()),
                ctrl_c: Err(e.clone()),
            },
        })
        .collect();
    let (w, l) = (&results[0], &results[1]);

    let mut rows = Vec::new();
    let spawn_target = |s: &Cell<Spawn>, f: fn(&Spawn) -> f64| {
        format!(
            "<= 50 us (wasm) {}",
            mark(s.as_ref().ok().map(|s| f(s) <= 50.0))
        )
    };
    rows.push(row(
        &format!(
            "spawn->exit->wait: `(exit 0) & wait`, per child, median of {SPAWN_RUNS}x{SPAWNS}"
        ),
        cell(&w.spawn, |s| us(s.background_us)),
        cell(&l.spawn, |s| us(s.background_us)),
        &spawn_target(&w.spawn, |s| s.background_us),
    ));
    rows.push(row(
        "spawn->exit->wait: `true | true`, per child (2 per pipeline)",
        cell(&w.spawn, |s| us(s.pipeline_us)),
        cell(&l.spawn, |s| us(s.pipeline_us)),
        &spawn_target(&w.spawn, |s| s.pipeline_us),
    ));
    rows.push(row(
        "  (subtracted: an empty `for` iteration)",
        cell(&w.spawn, |s| us(s.loop_us)),
        cell(&l.spawn, |s| us(s.loop_us)),
        "",
    ));

    let pipe_cell = |b: &Backend, f: fn(&Pipes) -> Option<f64>| cell(&b.pipes, |p| opt(f(p), gib));
    let pipe_ok = |b: &Backend| b.pipes.as_ref().ok().and_then(|p| p.yes_head);
    let target = |v: Option<f64>| mark(v.map(|v| v >= 1.0)).to_string();
    rows.push(row(
        &format!("pipe: `yes | head -c 1GiB >/dev/null` (2 procs), median of {PIPE_RUNS}"),
        pipe_cell(w, |p| p.yes_head),
        pipe_cell(l, |p| p.yes_head),
        &format!(
            ">= 1 GiB/s  wasm {} linux {}",
            target(pipe_ok(w)),
            target(pipe_ok(l))
        ),
    ));
    rows.push(row(
        "pipe: `yes | head -c 256MiB | wc -c` (3 procs, 2 pipes)",
        pipe_cell(w, |p| p.yes_head_wc),
        pipe_cell(l, |p| p.yes_head_wc),
        "",
    ));
    rows.push(row(
        "  consumer alone, no pipe: `wc -c < 256MiB file`",
        pipe_cell(w, |p| p.wc_alone),
        pipe_cell(l, |p| p.wc_alone),
        "",
    ));
    rows.push(row(
        "pipe: `cat 256MiB-file | cat >/dev/null`",
        pipe_cell(w, |p| p.cat_cat),
        pipe_cell(l, |p| p.cat_cat),
        "",
    ));
    rows.push(row(
        "  producer alone, no pipe: `cat 256MiB-file >/dev/null`",
        pipe_cell(w, |p| p.cat_alone),
        pipe_cell(l, |p| p.cat_alone),
        "",
    ));
    rows.push(row(
        "pipe: `head -c 1GiB /dev/zero | cat >/dev/null`",
        pipe_cell(w, |p| p.zero_cat),
        pipe_cell(l, |p| p.zero_cat),
        "(no /dev/zero in wasm)",
    ));
    rows.push(row(
        "  producer alone, no pipe: `head -c 1GiB /dev/zero >/dev/null`",
        pipe_cell(w, |p| p.zero_alone),
        pipe_cell(l, |p| p.zero_alone),
        "",
    ));

    let stop_cell =
        |s: &Cell<Stops>, f: fn(&Stops) -> &Vec<f64>| cell(s, |s| opt(median(f(s).clone()), ms));
    let stop_ok = |s: &Cell<Stops>| {
        mark(
            s.as_ref()
                .ok()
                .and_then(|s| median(s.to_sidecar_ms.clone()))
                .map(|v| v <= 100.0),
        )
    };
    rows.push(row(
        &format!("TERM-trapping sidecar: main exited -> sidecar exited, median of {STOPS}"),
        stop_cell(&w.sidecar, |s| &s.to_sidecar_ms),
        stop_cell(&l.sidecar, |s| &s.to_sidecar_ms),
        &format!(
            "<= 100 ms  wasm {} linux {}",
            stop_ok(&w.sidecar),
            stop_ok(&l.sidecar)
        ),
    ));
    rows.push(row(
        "  main exited -> `wpod run` ended",
        stop_cell(&w.sidecar, |s| &s.to_end_ms),
        stop_cell(&l.sidecar, |s| &s.to_end_ms),
        "",
    ));
    rows.push(row(
        "  sidecar exit code(s)",
        cell(&w.sidecar, |s| distinct(&s.codes)),
        cell(&l.sidecar, |s| distinct(&s.codes)),
        "0 (its trap ran)",
    ));

    let cc_ok = |c: &Cell<CtrlC>| {
        mark(c.as_ref().ok().map(|c| {
            median(c.ms.clone()).is_some_and(|m| m < 1000.0)
                && c.nginx_codes.iter().all(|n| n == "0")
        }))
    };
    rows.push(row(
        &format!("Ctrl-C on examples/nginx-pod.yaml: SIGINT -> wpod exit, median of {STOPS}"),
        cell(&w.ctrl_c, |c| opt(median(c.ms.clone()), ms)),
        cell(&l.ctrl_c, |c| opt(median(c.ms.clone()), ms)),
        &format!(
            "< 1 s, nginx exits 0  wasm {} linux {}",
            cc_ok(&w.ctrl_c),
            cc_ok(&l.ctrl_c)
        ),
    ));
    rows.push(row(
        "  nginx exit code(s) / wpod exit code(s)",
        cell(&w.ctrl_c, |c| {
            format!("{} / {}", distinct(&c.nginx_codes), distinct(&c.wpod_codes))
        }),
        cell(&l.ctrl_c, |c| {
            format!("{} / {}", distinct(&c.nginx_codes), distinct(&c.wpod_codes))
        }),
        "0 / 130 (interrupted)",
    ));

    println!();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    println!(
        "{:<width$}  {:>12}  {:>12}  target",
        "figure", "wasm", "linux"
    );
    for r in &rows {
        println!(
            "{:<width$}  {:>12}  {:>12}  {}",
            r.name, r.wasm, r.linux, r.target
        );
    }
    println!();

    // What bounds the pipe figures, from the figures themselves.
    for (backend, b) in BACKENDS.iter().zip(&results) {
        let Ok(p) = &b.pipes else { continue };
        if let (Some(three), Some(wc)) = (p.yes_head_wc, p.wc_alone)
            && wc <= three * 1.25
        {
            println!(
                "{backend:<5}: `| wc -c` runs at what wc -c alone does without a pipe ({} vs {}): \
                 that figure is wc's byte-counting loop, not the pipe's",
                gib(three),
                gib(wc)
            );
        }
        if let (Some(piped), Some(alone)) = (p.cat_cat, p.cat_alone) {
            println!(
                "{backend:<5}: the same producer (cat of a file) through a pipe runs at {:.0}% of \
                 its no-pipe rate",
                piped / alone * 100.0
            );
        }
        if p.zero_alone.is_none() {
            println!(
                "{backend:<5}: `yes` alone cannot be timed without a pipe here (no /dev/zero, and \
                 `yes >/dev/null` never ends): `yes | head` is compared with the file-fed pipe above"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
