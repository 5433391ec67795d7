//! Bounded reads and numeric extremes (issue 11, classes 6 and 7): images that are not regular
//! files, a 3 GiB termination log, guests blocked in the kernel, grace periods at i64::MAX,
//! huge flags. Each must end promptly, without a panic, and without a process left.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::support::{Run, Scratch, container, linux_backend, run_args, run_json, wpod};

fn image_pod(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: img}}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: app\n    image: {image}\n"
    )
}

fn refused_quickly(image: &str, expected: &str) {
    let start = Instant::now();
    let run = run_json(&image_pod(image), &["--timeout", "20s"]);
    assert!(start.elapsed() < Duration::from_secs(10), "{run:?}");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(expected), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
}

#[test]
fn device_directory_and_fifo_images_are_refused_at_once() {
    refused_quickly("/dev/zero.wasm", "");
    let s = Scratch::new("images");
    let dir = s.dir.join("dir.wasm");
    std::fs::create_dir(&dir).expect("dir");
    refused_quickly(
        &dir.to_string_lossy(),
        "it is a directory, not a regular file",
    );
    let fifo = s.dir.join("fifo.wasm");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused_quickly(
        &fifo.to_string_lossy(),
        "it is a FIFO (named pipe), not a regular file",
    );
    let link = s.dir.join("zero.wasm");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
    refused_quickly(
        &link.to_string_lossy(),
        "it is a character device, not a regular file",
    );
}

const EXTREMES: &str = "apiVersion: v1
kind: Pod
metadata: {name: extremes}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 2147483647
  terminationGracePeriodSeconds: 9223372036854775807
  containers:
  - name: app
    image: testkit
    args: [sleep, \"60\"]
    livenessProbe:
      exec:
        command: [testkit, exit, \"1\"]
      periodSeconds: 1
      failureThreshold: 1
      terminationGracePeriodSeconds: 9223372036854775807
";

#[test]
fn grace_periods_at_i64_max_do_not_panic() {
    // The probe kills the container with a grace of i64::MAX seconds: saturated, then the
    // timeout ends the run with its own code. The two runs wait side by side.
    std::thread::scope(|both| {
        both.spawn(|| {
            let start = Instant::now();
            let run = run_json(EXTREMES, &["--timeout", "4s"]);
            assert_eq!(run.code, 124, "{run:?}");
            assert!(!run.stderr.contains("panicked"), "{run:?}");
            assert!(start.elapsed() < Duration::from_secs(20), "{run:?}");
        });
        let run = run_json(
            EXTREMES,
            &["--timeout", "3s", "--grace-period", "1000000000h"],
        );
        assert_eq!(run.code, 124, "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    });
}

#[test]
fn huge_durations_on_the_command_line_are_usage_errors() {
    let max = u64::MAX.to_string();
    let too_long = format!("{max}h");
    let run = run_args(&["run", "--grace-period", &too_long, "pod.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("too long"), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
}

/// Processes whose command line holds `needle` (NUL-separated arguments).
fn processes_with(needle: &[u8]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            cmdline
                .windows(needle.len())
                .any(|w| w == needle)
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn grace_periods_at_i64_max_on_linux_leave_no_process() {
    if !linux_backend() {
        return;
    }
    // A sleep no other test uses, to find leftovers by.
    let manifest = EXTREMES.replace("sleep, \"60\"", "sleep, \"4711\"");
    let start = Instant::now();
    let run = run_json(&manifest, &["--backend", "linux", "--timeout", "4s"]);
    assert_eq!(run.code, 124, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(start.elapsed() < Duration::from_secs(25), "{run:?}");
    let left = processes_with(b"sleep\x004711");
    assert!(
        left.is_empty(),
        "container processes left: {left:?}\n{run:?}"
    );
}

/// A pod whose container blocks in the kernel opening a FIFO that nobody writes.
fn fifo_pod(s: &Scratch) -> String {
    let fifo = s.dir.join("data/fifo");
    std::fs::create_dir_all(s.dir.join("data")).expect("data dir");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: fifo}}\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 1\n  volumes:\n  - name: data\n    hostPath: {{path: {}}}\n  \
         containers:\n  - name: reader\n    image: testkit\n    args: [cat, /data/fifo]\n    \
         volumeMounts: [{{name: data, mountPath: /data}}]\n",
        s.dir.join("data").display()
    )
}

#[test]
fn a_guest_blocked_in_the_kernel_cannot_outlast_the_timeout() {
    let s = Scratch::new("fifo-timeout");
    let manifest = fifo_pod(&s);
    let start = Instant::now();
    let run = run_json(&manifest, &["--timeout", "2s"]);
    assert_eq!(run.code, 124, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(start.elapsed() < Duration::from_secs(15), "{run:?}");
}

#[test]
fn two_interrupts_end_a_run_whose_guest_is_blocked_in_the_kernel() {
    let s = Scratch::new("fifo-sigint");
    let file = s.write("pod.yaml", fifo_pod(&s));
    let child = wpod()
        .args(["run", "--color", "never"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wpod");
    let pid = i32::try_from(child.id()).expect("pid");
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    for _ in 0..2 {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().expect("wait for wpod");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(15), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const SPARSE: &str = "apiVersion: v1
kind: Pod
metadata: {name: sparse}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: testkit
    args: [sparse, /dev/termination-log, 3Gi, the end]
";

/// `wpod run -o json` on `manifest` with its peak resident set size in KiB.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its rusage"
)]
fn run_measured(manifest: &str, extra: &[&str]) -> (Run, i64) {
    let s = Scratch::new("measured");
    let file = s.write("pod.yaml", manifest);
    let stdout = std::fs::File::create(s.dir.join("stdout")).expect("stdout file");
    let stderr = std::fs::File::create(s.dir.join("stderr")).expect("stderr file");
    let child = wpod()
        .args(["run", "-o", "json", "--color", "never"])
        .args(extra)
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start wpod");
    let pid = i32::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers; `child` is not waited again.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let read = |name: &str| std::fs::read_to_string(s.dir.join(name)).unwrap_or_default();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let run = Run {
        code,
        stdout: read("stdout"),
        stderr: read("stderr"),
    };
    (run, usage.ru_maxrss)
}

fn sparse_termination_log_costs_no_memory(extra: &[&str]) {
    // Once unmeasured, so that compiling the guest into the cache is not counted.
    let _ = run_json(SPARSE, extra);
    let (run, max_rss_kib) = run_measured(SPARSE, extra);
    assert_eq!(run.code, 0, "{run:?}");
    let pod = run.json();
    let app = container(&pod, "app");
    let message = app["state"]["terminated"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.ends_with("the end\n"), "{app:#}");
    assert!(message.len() <= 4096, "message of {} bytes", message.len());
    eprintln!(
        "3 GiB sparse termination log {extra:?}: peak RSS {} MiB",
        max_rss_kib / 1024
    );
    assert!(max_rss_kib < 100 * 1024, "peak RSS {max_rss_kib} KiB");
}

#[test]
fn a_3_gib_termination_log_costs_no_memory() {
    sparse_termination_log_costs_no_memory(&[]);
}

#[test]
fn a_3_gib_termination_log_costs_no_memory_on_linux() {
    if linux_backend() {
        sparse_termination_log_costs_no_memory(&["--backend", "linux"]);
    }
}
