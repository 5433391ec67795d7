//! wpod's own output never stalls the node: a reader that stops reading wpod's stdout holds up
//! only the containers whose output waits for it, never the kubelet, probes, `--timeout` or the
//! other containers; and a reader that reads gets every line, in order.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// A container that prints without end, one that prints a little and exits, and a quiet one whose
/// liveness probe fails every second (failures are events on stderr; it is never killed).
const STALL: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: stall}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: chatty
    image: testkit
    command: [testkit, count, "1000000000"]
  - name: brief
    image: testkit
    command: [testkit, count, "5", "100"]
  - name: quiet
    image: testkit
    command: [testkit, sleep, "600"]
    livenessProbe:
      exec: {command: [testkit, exit, "1"]}
      periodSeconds: 1
      failureThreshold: 1000
"#;

const TIMEOUT: u64 = 5;

#[test]
fn an_unread_stdout_stalls_neither_timeout_nor_probes_nor_other_containers() {
    on_backends(|backend| {
        let s = Scratch::new("stall");
        let f = s.write("pod.yaml", STALL);
        let start = Instant::now();
        let mut child = wpod()
            .args([
                "run",
                "--color",
                "never",
                "--backend",
                backend,
                "--timeout",
                &format!("{TIMEOUT}s"),
                &f.to_string_lossy(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wpod");
        // Held open and never read while wpod runs: the pipe fills, as under a paused `| less`.
        let mut stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let lines = std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .map(|l| (start.elapsed(), l))
                .collect::<Vec<_>>()
        });
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code();
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = start.elapsed();
        let mut unread = String::new();
        stdout.read_to_string(&mut unread).expect("read stdout");
        let stderr = lines.join().expect("stderr reader");
        let shown: String = stderr
            .iter()
            .map(|(t, l)| format!("{:>6.2}s {l}\n", t.as_secs_f64()))
            .collect();
        let context = format!("backend {backend}, exit {code:?} after {took:?}\n{shown}");
        assert_eq!(code, Some(124), "the timeout's exit code: {context}");
        // The timeout, the 1 s grace period, at most 1 s for the unread stdout, and start-up.
        assert!(
            took < Duration::from_secs(TIMEOUT + 5),
            "wpod must end soon after --timeout: {context}"
        );
        // The probe kept running while stdout was stalled (it was full within milliseconds).
        let failures = stderr
            .iter()
            .filter(|(t, l)| {
                *t < Duration::from_secs(TIMEOUT)
                    && l.contains("stall/quiet: Unhealthy: Liveness probe failed")
            })
            .count();
        assert!(failures >= 2, "the liveness probe ran on: {context}");
        // Another container's few lines did not wait behind the chatty one's.
        assert!(
            stderr.iter().any(|(t, l)| *t < Duration::from_secs(TIMEOUT)
                && l.contains("stall/brief: exited with code 0")),
            "the brief container ran to its end: {context}"
        );
        assert!(
            stderr
                .iter()
                .any(|(_, l)| l.contains("stdout was not read") && l.contains("not written")),
            "wpod says what it could not write: {context}"
        );
        // What did reach the pipe is whole lines, each container's in order.
        let mut next = [1u64, 1];
        for line in unread.lines() {
            let (name, n) = line.split_once(" | ").unwrap_or_else(|| {
                panic!("a partial or foreign line {line:?} on stdout: {context}")
            });
            let i = match name.trim() {
                "chatty" => 0,
                "brief" => 1,
                other => panic!("output of {other} on stdout: {context}"),
            };
            assert_eq!(n.parse::<u64>().ok(), Some(next[i]), "{line:?}: {context}");
            next[i] += 1;
        }
        assert!(
            next[0] > 1000,
            "the chatty container filled the pipe: {context}"
        );
    });
}

const TWO_CHATTY: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: both}
spec:
  restartPolicy: Never
  containers:
  - {name: a, image: testkit, command: [testkit, count, "30000"]}
  - {name: b, image: testkit, command: [testkit, count, "30000"]}
"#;

#[test]
fn a_reader_that_reads_gets_every_line_in_order() {
    for backend in backends() {
        let s = Scratch::new("complete");
        let f = s.write("pod.yaml", TWO_CHATTY);
        let r = run_args(&[
            "run",
            "--color",
            "never",
            "--backend",
            backend,
            "--timeout",
            "60s",
            &f.to_string_lossy(),
        ]);
        assert_eq!(r.code, 0, "backend {backend}: {}", r.stderr);
        let mut next = [1u64, 1];
        for line in r.stdout.lines() {
            let (name, n) = line
                .split_once(" | ")
                .unwrap_or_else(|| panic!("backend {backend}: a foreign line {line:?}"));
            let i = usize::from(name.trim() == "b");
            assert_eq!(
                n.parse::<u64>().ok(),
                Some(next[i]),
                "backend {backend}: {line:?} out of order"
            );
            next[i] += 1;
        }
        assert_eq!(next, [30001, 30001], "backend {backend}: lines lost");
        assert!(
            !r.stderr.contains("dropped") && !r.stderr.contains("not written"),
            "backend {backend}: {}",
            r.stderr
        );
    }
}
