//! What a killed wpod leaves behind, and its removal by the next `wpod run`.
//!
//! Each run records itself in `<state dir>/runs/<pid>`: its start time, whether it keeps its
//! volumes, and its pod directories; the record goes when the run ends. A record whose wpod is
//! gone is a run that was killed (SIGKILL, a crash, the watchdog's exit). The helpers' lifeline
//! takes its containers down at once; what the next run still finds is reaped here: processes
//! it recorded (`*.proc` files: pid and start time, so a reused pid is never hit), helpers that
//! carry its pid in `WPOD_PID`, the cgroups it created (named after its pid) and its pod
//! directories. The pod network needs nothing: its namespaces are anonymous and die with the
//! pause and node helpers.
//!
//! Only files owned by wpod's own user are believed: a record planted in a shared state dir
//! (`/tmp/wpod`) by another user cannot make a root wpod kill or delete anything.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::sys;

/// A process's start time in clock ticks since boot (`/proc/PID/stat` field 22): with the pid,
/// it names one process for the machine's uptime.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Records `pid` (a process wpod started) in `path`, for a later run to reap if this one is
/// killed before it could stop it.
pub fn record_process(path: &Path, pid: u32) -> io::Result<()> {
    let start =
        start_time(pid).ok_or_else(|| io::Error::other(format!("process {pid} is gone")))?;
    fs::write(path, format!("{pid} {start}\n"))
}

/// This run's record; dropping it (the run ended) removes it.
pub struct RunRecord {
    path: PathBuf,
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes this run's record. Without one (an unwritable state dir) a killed run is not reaped
/// later; that is said, and the run goes on.
pub fn register(state_dir: &Path, pod_dirs: &[PathBuf], keep_volumes: bool) -> Option<RunRecord> {
    let me = std::process::id();
    let dir = state_dir.join("runs");
    let path = dir.join(me.to_string());
    let mut text = format!("{} {}\n", start_time(me)?, u8::from(keep_volumes));
    for d in pod_dirs {
        text.push_str(&d.to_string_lossy());
        text.push('\n');
    }
    match fs::create_dir_all(&dir).and_then(|()| fs::write(&path, text)) {
        Ok(()) => Some(RunRecord { path }),
        Err(e) => {
            eprintln!(
                "warning: cannot record this run in {}: {e}; if wpod is killed, the next run will not clean up after it",
                path.display()
            );
            None
        }
    }
}

/// What the reaping found; each kind is said on one line.
#[derive(Debug, Default)]
pub struct Reaped {
    pub processes: usize,
    pub cgroups: usize,
    pub pod_dirs: usize,
    /// The killed runs' pids.
    pub runs: Vec<u32>,
}

impl Reaped {
    pub fn lines(&self) -> Vec<String> {
        let runs: Vec<String> = self.runs.iter().map(u32::to_string).collect();
        let from = if runs.is_empty() {
            "an earlier wpod that was killed".to_string()
        } else {
            format!("an earlier wpod that was killed (pid {})", runs.join(", "))
        };
        [
            (self.processes, "process", "processes", "killed"),
            (self.cgroups, "cgroup", "cgroups", "removed"),
            (self.pod_dirs, "pod directory", "pod directories", "removed"),
        ]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many, verb)| {
            let what = if n == 1 { one } else { many };
            format!("wpod: {verb} {n} {what} left by {from}")
        })
        .collect()
    }
}

fn mine(meta: &fs::Metadata) -> bool {
    // SAFETY: geteuid cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}

/// A file of wpod's own user, read; None for anything else.
fn read_own(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    (meta.is_file() && mine(&meta))
        .then(|| fs::read_to_string(path).ok())
        .flatten()
}

struct DeadRun {
    pid: u32,
    start: u64,
    keep_volumes: bool,
    pod_dirs: Vec<PathBuf>,
}

/// The recorded runs whose wpod is gone.
fn dead_runs(state_dir: &Path) -> Vec<(PathBuf, DeadRun)> {
    let Ok(entries) = fs::read_dir(state_dir.join("runs")) else {
        return Vec::new();
    };
    let pods = state_dir.join("pods");
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let text = read_own(&e.path())?;
            let mut lines = text.lines();
            let mut head = lines.next()?.split_whitespace();
            let start: u64 = head.next()?.parse().ok()?;
            let keep_volumes = head.next() == Some("1");
            if start_time(pid) == Some(start) {
                return None;
            }
            // Only pod directories where wpod makes them: `<state dir>/pods/<uid>`.
            let pod_dirs = lines
                .map(PathBuf::from)
                .filter(|d| {
                    d.parent() == Some(pods.as_path())
                        && matches!(d.components().next_back(), Some(Component::Normal(_)))
                })
                .collect();
            Some((
                e.path(),
                DeadRun {
                    pid,
                    start,
                    keep_volumes,
                    pod_dirs,
                },
            ))
        })
        .collect()
}

/// Kills the process a `*.proc` record names if it is still that process.
fn kill_recorded(path: &Path) -> bool {
    let Some(text) = read_own(path) else {
        return false;
    };
    let mut words = text.split_whitespace();
    let (Some(Ok(pid)), Some(Ok(start))) = (
        words.next().map(str::parse::<u32>),
        words.next().map(str::parse::<u64>),
    ) else {
        return false;
    };
    if pid <= 1 || start_time(pid) != Some(start) {
        return false;
    }
    sys::kill(pid as i32, libc::SIGKILL).is_ok()
}

/// The `*.proc` records under a pod's sandbox directory (the pause's, each container's).
fn recorded_processes(sandbox: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![(sandbox.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            if kind.is_dir() && depth < 1 {
                dirs.push((path, depth + 1));
            } else if kind.is_file() && path.extension().is_some_and(|x| x == "proc") {
                out.push(path);
            }
        }
    }
    out
}

/// Helpers of a wpod `pid` that is entirely gone (no process has its pid): each carries it in
/// its environment.
fn kill_helpers_of(run: &DeadRun) -> usize {
    if Path::new("/proc").join(run.pid.to_string()).exists() {
        // The pid is someone else's now, maybe a new wpod's: its helpers would match too.
        return 0;
    }
    let needle = format!("{}={}\0", super::lifeline::WPOD_PID, run.pid);
    let mut killed = 0;
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(environ) = fs::read(e.path().join("environ")) else {
            continue;
        };
        let started_after = start_time(pid).is_some_and(|s| s >= run.start);
        if started_after
            && environ
                .split_inclusive(|b| *b == 0)
                .any(|v| v == needle.as_bytes())
            && sys::kill(pid as i32, libc::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// cgroups of wpods that are gone: `wpod/<id>` under each hierarchy, where a container id starts
/// with its wpod's pid (8 hex digits). Their processes are killed, then the directories removed.
fn reap_cgroups(processes: &mut usize) -> usize {
    let root = Path::new("/sys/fs/cgroup");
    let mut parents = vec![root.join("wpod"), root.join("unified/wpod")];
    for e in fs::read_dir(root).into_iter().flatten().flatten() {
        parents.push(e.path().join("wpod"));
    }
    parents.sort();
    parents.dedup();
    let mut removed = 0;
    for parent in parents {
        for e in fs::read_dir(&parent).into_iter().flatten().flatten() {
            let name = e.file_name();
            let Some(owner) = name
                .to_str()
                .and_then(|n| n.get(..8))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            if Path::new("/proc").join(owner.to_string()).exists() {
                continue;
            }
            let dir = e.path();
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if sys::kill(pid, libc::SIGKILL).is_ok() {
                    *processes += 1;
                }
            }
            // A killed process leaves its cgroup a moment after the signal.
            for _ in 0..50 {
                match fs::remove_dir(&dir) {
                    Ok(()) => {
                        removed += 1;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }
    removed
}

/// Reaps what killed runs left in `state_dir` and the machine's cgroups.
pub fn reap(state_dir: &Path) -> Reaped {
    let mut reaped = Reaped::default();
    for (record, run) in dead_runs(state_dir) {
        for dir in &run.pod_dirs {
            for proc_file in recorded_processes(&dir.join("sandbox")) {
                reaped.processes += usize::from(kill_recorded(&proc_file));
            }
        }
        reaped.processes += kill_helpers_of(&run);
        for dir in &run.pod_dirs {
            // --keep-volumes: the volumes stay, as that run promised; its sandbox goes.
            let target = if run.keep_volumes {
                dir.join("sandbox")
            } else {
                dir.clone()
            };
            if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir())
                && fs::remove_dir_all(&target).is_ok()
            {
                reaped.pod_dirs += 1;
            }
        }
        let _ = fs::remove_file(record);
        reaped.runs.push(run.pid);
    }
    reaped.cgroups = reap_cgroups(&mut reaped.processes);
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_names_this_process() {
        let me = std::process::id();
        assert!(start_time(me).is_some());
        assert_eq!(start_time(me), start_time(me));
        assert_eq!(start_time(u32::MAX), None);
    }

    #[test]
    fn a_dead_run_is_found_and_a_live_one_is_not() {
        let dir = std::env::temp_dir().join(format!("wpod-leftovers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let pod = dir.join("pods").join("uid-1");
        fs::create_dir_all(pod.join("sandbox")).expect("pod dir");
        let live = register(&dir, std::slice::from_ref(&pod), false).expect("record");
        assert!(dead_runs(&dir).is_empty(), "this run is alive");
        // A run whose process is gone; its record also names a directory outside pods/.
        fs::write(
            dir.join("runs/999999999"),
            format!("999999999 0\n{}\n/etc\n", pod.display()),
        )
        .expect("record");
        let dead = dead_runs(&dir);
        assert_eq!(dead.len(), 1);
        assert_eq!(
            dead[0].1.pod_dirs,
            vec![pod.clone()],
            "only dirs under pods/"
        );
        let reaped = reap(&dir);
        assert_eq!(reaped.pod_dirs, 1);
        assert!(!pod.exists());
        assert!(Path::new("/etc").exists());
        drop(live);
        assert!(
            !dir.join("runs")
                .join(std::process::id().to_string())
                .exists()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
