//! `wpod run --clock virtual`: the kubelet's timers and the guests' clocks and sleeps on one
//! virtual clock that jumps ahead when everything waits, the same on every run.

use std::time::{Duration, Instant};

use crate::support::{Run, Scratch, run_args};

const CRASH_LOOP: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  activeDeadlineSeconds: 600
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'date +%s; sleep 2; echo failing; exit 1']
"#;

/// What must be the same on every run: identities that are random by design (the pod's uid, as
/// the API server assigns it; container IDs) masked.
fn trace(r: &Run) -> String {
    let mut out = String::new();
    for line in r.stdout.lines().chain(r.stderr.lines()) {
        if line.contains("\"uid\"")
            || line.contains("containerID")
            || line.contains("Container ID:")
        {
            continue;
        }
        let masked = match (line.find("crash_default("), line.rfind(')')) {
            (Some(a), Some(b)) if b > a => format!("{}<uid>{}", &line[..a + 14], &line[b..]),
            _ => line.to_string(),
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

#[test]
fn a_ten_minute_crash_loop_plays_at_once_and_the_same_on_every_run() {
    let s = Scratch::new("virtual");
    let file = s.write("pod.yaml", CRASH_LOOP);
    let file = file.to_string_lossy();
    let args = [
        "run",
        "--clock",
        "virtual",
        "--describe",
        "-o",
        "json",
        "--color",
        "never",
        &file,
    ];
    let started = Instant::now();
    let first = run_args(&args);
    let wall = started.elapsed();
    let second = run_args(&args);
    assert_eq!(first.code, 1, "{first:?}");
    let pod = first.json();
    // Ten minutes of the pod's life, by its own timestamps: the deadline ended it.
    assert_eq!(
        pod["status"]["startTime"], "2026-01-01T00:00:00Z",
        "{first:?}"
    );
    assert_eq!(pod["status"]["reason"], "DeadlineExceeded", "{first:?}");
    assert!(first.stderr.contains("(x6 over 9m56s)"), "{first:?}");
    // The back-off doubled between restarts (10 s, 20 s, 40 s ...), as the guest's own clock saw.
    let starts: Vec<u64> = first
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("c | ")?.parse().ok())
        .collect();
    let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(starts.first(), Some(&1_767_225_600), "{first:?}");
    assert_eq!(gaps, [2, 12, 22, 42, 82, 162], "{first:?}");
    // A real run would take those ten minutes; this one takes a moment.
    assert!(wall < Duration::from_secs(60), "{wall:?}");
    eprintln!("a 10-minute crash loop in virtual time took {wall:?} of wall time");
    assert_eq!(trace(&first), trace(&second));
}

#[test]
fn virtual_time_refuses_what_it_cannot_drive() {
    let s = Scratch::new("virtual-refused");
    let file = s.write("pod.yaml", CRASH_LOOP);
    let file = file.to_string_lossy();
    let r = run_args(&["run", "--clock", "virtual", "--backend", "linux", &file]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--clock virtual needs the wasm backend"),
        "{r:?}"
    );
    let r = run_args(&["run", "--clock", "virtual", "-p", "18080:80", &file]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("cannot be combined with --publish"),
        "{r:?}"
    );
}
