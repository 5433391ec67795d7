//! Bounded reads and numeric extremes (issue 11, classes 6 and 7): images that are not regular
//! files, grace periods at i64::MAX, huge flags. Each must end promptly, without a panic.

use std::time::{Duration, Instant};

use super::support::{Scratch, run_args, run_json};

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
    // timeout ends the run with its own code.
    let start = Instant::now();
    let run = run_json(EXTREMES, &["--timeout", "4s"]);
    assert_eq!(run.code, 124, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(start.elapsed() < Duration::from_secs(20), "{run:?}");
    let run = run_json(
        EXTREMES,
        &["--timeout", "3s", "--grace-period", "1000000000h"],
    );
    assert_eq!(run.code, 124, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
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
