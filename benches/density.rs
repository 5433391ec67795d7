//! How many idle pods one wpod runs, and what each costs. Prints figures; never fails on them.
//!
//! `cargo bench --bench density` runs the real `wpod run` on N pods of two busybox containers
//! (`sleep 3600`, grace period 2 s), in files of 1,000 documents, and prints for each N: how many
//! pods have both containers running and how long that took (pods/s), what the rest failed
//! with, RSS and PSS per pod, memory mappings and open files, CPU while idle, and how long Ctrl-C
//! takes to stop them all. wasm runs at 1k / 10k / 100k pods and the linux backend (as root) at
//! 100 and 1,000; `WPOD_DENSITY_WASM` and `WPOD_DENSITY_LINUX` (comma-separated counts, empty for
//! none) change that. Pod state goes where `wpod run` puts it (`$WPOD_STATE_DIR`, else the
//! run-time directory): removing it is most of a stop's time on a disk file system.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a run may take to settle before the figures are taken as they are.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);
const PER_FILE: usize = 1_000;
/// Containers per pod.
const CONTAINERS: usize = 2;

fn counts(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

fn manifests(dir: &Path, n: usize) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("scratch dir");
    (0..n)
        .step_by(PER_FILE)
        .map(|first| {
            let docs: Vec<String> = (first..n.min(first + PER_FILE))
                .map(|i| {
                    format!(
                        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: idle-{i}\nspec:\n  \
                         terminationGracePeriodSeconds: 2\n  containers:\n  - name: a\n    \
                         image: busybox\n    command: [sleep, \"3600\"]\n  - name: b\n    \
                         image: busybox\n    command: [sleep, \"3600\"]\n"
                    )
                })
                .collect();
            let path = dir.join(format!("pods-{}.yaml", first / PER_FILE));
            std::fs::write(&path, docs.join("---\n")).expect("writing a manifest");
            path
        })
        .collect()
}

/// What the run's stderr says about one pod's containers.
enum Said {
    Started(String),
    /// A container ended; with why when it could not start (a StartError can follow Started).
    Exited(String, Option<String>),
    Failed(String, String),
    Other,
}

fn parse(line: &str) -> Said {
    let pod_of = |rest: &str| {
        let end = rest.find([':', '/', ' ']).unwrap_or(rest.len());
        rest[..end].to_string()
    };
    if let Some(rest) = line.strip_prefix("-- ") {
        if let Some((subject, what)) = rest.split_once(": ")
            && subject.contains('/')
        {
            if what.starts_with("Started: ") {
                return Said::Started(pod_of(rest));
            }
            if what.starts_with("exited with code") {
                let why = line.contains("(StartError)").then(|| line.to_string());
                return Said::Exited(pod_of(rest), why);
            }
        }
        if line.contains(": FailedMount: ") {
            return Said::Failed(pod_of(rest), line.to_string());
        }
    }
    if let Some(rest) = line.strip_prefix("wpod: pod ")
        && line.contains("cannot make progress")
    {
        return Said::Failed(pod_of(rest), line.to_string());
    }
    Said::Other
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// User + system CPU seconds the process has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture wpod builds for.
    Some(ticks as f64 / 100.0)
}

fn count_entries(path: String) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

fn lines_of(path: String) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

struct Figures {
    backend: &'static str,
    pods: usize,
    running: usize,
    failed: usize,
    first_failure: Option<String>,
    to_running: Duration,
    rss_kib: u64,
    pss_kib: u64,
    maps: usize,
    fds: usize,
    idle_cpu: f64,
    stop: Option<(Duration, Option<i32>)>,
}

fn run(backend: &'static str, pods: usize, scratch: &Path) -> Figures {
    let files = manifests(&scratch.join(format!("{backend}-{pods}")), pods);
    let start = Instant::now();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .args(["run", "--color", "never", "--backend", backend])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting wpod");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Containers running per pod; a pod counts as Running when both of its containers are.
    let mut up: HashMap<String, usize> = HashMap::new();
    let (mut running, mut failed) = (HashSet::new(), HashSet::new());
    let mut first_failure = None;
    let mut to_running = Duration::ZERO;
    let mut settled: Option<Instant> = None;
    loop {
        if settled.is_none()
            && (running.len() + failed.len() >= pods || start.elapsed() >= SETTLE_LIMIT)
        {
            settled = Some(Instant::now());
        }
        // What the run says in the two seconds after still counts: a container that could not
        // start after all (a StartError) is reported after its Started.
        if settled.is_some_and(|at| at.elapsed() >= Duration::from_secs(2)) {
            break;
        }
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            continue;
        };
        match parse(&line) {
            Said::Started(pod) => {
                let n = up.entry(pod.clone()).or_default();
                *n += 1;
                if *n == CONTAINERS {
                    failed.remove(&pod);
                    running.insert(pod);
                    to_running = start.elapsed();
                }
            }
            Said::Exited(pod, why) => {
                if let Some(n) = up.get_mut(&pod) {
                    *n = n.saturating_sub(1);
                }
                running.remove(&pod);
                if let Some(why) = why {
                    first_failure.get_or_insert(why);
                    failed.insert(pod);
                }
            }
            Said::Failed(pod, why) => {
                first_failure.get_or_insert(why);
                if !running.contains(&pod) {
                    failed.insert(pod);
                }
            }
            _ => {}
        }
    }
    // Whatever it prints from now on is read and dropped, so it never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let rss_kib = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    let pss_kib = proc_field(pid, "smaps_rollup", "Pss:").unwrap_or(0);
    let maps = lines_of(format!("/proc/{pid}/maps"));
    let fds = count_entries(format!("/proc/{pid}/fd"));
    let idle_cpu = match cpu_seconds(pid) {
        Some(before) => {
            std::thread::sleep(Duration::from_secs(5));
            cpu_seconds(pid).map_or(0.0, |after| (after - before) / 5.0)
        }
        None => 0.0,
    };
    let stop = stop(&mut child);
    let _ = std::fs::remove_dir_all(scratch.join(format!("{backend}-{pods}")));
    Figures {
        backend,
        pods,
        running: running.len(),
        failed: failed.len(),
        first_failure,
        to_running,
        rss_kib,
        pss_kib,
        maps,
        fds,
        idle_cpu,
        stop,
    }
}

/// SIGINT, as Ctrl-C: how long until wpod has stopped every pod and exited, and its code.
fn stop(child: &mut Child) -> Option<(Duration, Option<i32>)> {
    if child.try_wait().ok().flatten().is_some() {
        return None;
    }
    let pid = i32::try_from(child.id()).ok()?;
    let sent = Instant::now();
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((sent.elapsed(), status.code()));
        }
        if sent.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return Some((sent.elapsed(), None));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn limit(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn open_files_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("Max open files"))?;
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(format!("soft {} / hard {}", f.get(3)?, f.get(4)?))
        })
        .unwrap_or_else(|| "?".into())
}

fn print(f: &Figures) {
    let per = |kib: u64| kib as f64 / f.running.max(1) as f64;
    let rate = f.running as f64 / f.to_running.as_secs_f64().max(1e-9);
    println!(
        "| {} | {} | {} | {:.2} s | {:.0} | {:.0} / {:.0} KiB | {} | {} | {:.2}% | {} |",
        f.backend,
        f.pods,
        f.running,
        f.to_running.as_secs_f64(),
        rate,
        per(f.rss_kib),
        per(f.pss_kib),
        f.maps,
        f.fds,
        f.idle_cpu * 100.0,
        match f.stop {
            Some((took, code)) => format!(
                "{:.2} s, exit {}",
                took.as_secs_f64(),
                code.map_or("killed".into(), |c| c.to_string())
            ),
            None => "(had exited)".into(),
        }
    );
    if f.failed > 0 {
        println!(
            "|   | {} pods did not start; the first: {} |",
            f.failed,
            f.first_failure.as_deref().unwrap_or("?")
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let is_root = proc_field(std::process::id(), "status", "Uid:") == Some(0);
    let wasm = counts("WPOD_DENSITY_WASM", "1000,10000,100000");
    let linux = if is_root {
        counts("WPOD_DENSITY_LINUX", "100,1000")
    } else {
        println!("(the linux rows need root; skipped)");
        Vec::new()
    };
    let scratch = std::env::temp_dir().join(format!("wpod-density-{}", std::process::id()));
    println!(
        "limits: open files {}, vm.max_map_count {}, fs.nr_open {}; {} CPUs; state in {}",
        open_files_limit(),
        limit("/proc/sys/vm/max_map_count"),
        limit("/proc/sys/fs/nr_open"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var("WPOD_STATE_DIR").unwrap_or_else(|_| "wpod's default directory".into())
    );
    println!(
        "| backend | pods | Running | all Running after | pods/s | RSS / PSS per pod | \
         mappings | open files | CPU idle (one core) | Ctrl-C (grace 2 s) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (backend, sizes) in [("wasm", &wasm), ("linux", &linux)] {
        for &pods in sizes {
            print(&run(backend, pods, &scratch));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
