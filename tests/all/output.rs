//! What the user sees: prefixed, interleaved output; stdout and stderr kept apart; signals.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

const TWO: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: duo}
spec:
  restartPolicy: Never
  containers:
    - {name: left, image: testkit, command: ["testkit", "count", "6", "100"]}
    - {name: right, image: testkit, command: ["testkit", "count", "6", "100"]}
    - {name: err, image: testkit, command: ["testkit", "stderr", "to stderr"]}
"#;

#[test]
fn two_containers_interleave_with_prefixes() {
    let s = Scratch::new("two");
    let f = s.write("pod.yaml", TWO);
    let r = run_args(&["run", "--color", "never", &f.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let pos = |l: &str| lines.iter().position(|x| *x == l);
    for n in 1..=6 {
        assert!(pos(&format!("left  | {n}")).is_some(), "{r:?}");
        assert!(pos(&format!("right | {n}")).is_some(), "{r:?}");
    }
    // Both ran at once: the right container printed before the left one finished.
    assert!(pos("right | 1") < pos("left  | 6"), "{r:?}");
    // Container stderr stays on stderr.
    assert!(!r.stdout.contains("to stderr"));
    assert!(r.stderr.contains("err   | to stderr"), "{r:?}");
}

#[test]
fn colour_on_request_and_quiet_mode() {
    let s = Scratch::new("color");
    let f = s.write("pod.yaml", TWO);
    let r = run_args(&["run", "--color", "always", "-q", &f.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("\x1b["), "{r:?}");
    assert!(!r.stderr.contains("Started"), "quiet hides events: {r:?}");
}

#[test]
fn manifest_from_stdin() {
    use std::io::Write;
    let mut child = wpod()
        .args(["run", "-o", "yaml", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"json\"},\
              \"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"testkit\",\
              \"args\":[\"echo\",\"hi\"]}]}}",
        )
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    let pod: serde_json::Value = serde_saphyr::from_str(&yaml).expect("-o yaml parses");
    assert_eq!(pod["status"]["phase"], "Succeeded");
}

#[test]
fn ctrl_c_stops_gracefully_then_a_second_kills() {
    let s = Scratch::new("sigint");
    let f = s.write(
        "pod.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 60
  containers:
    - {name: app, image: testkit, command: ["testkit", "sleep", "600"]}
"#,
    );
    let child = wpod()
        .args(["run", "-o", "json", &f.to_string_lossy()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let kill = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    };
    std::thread::sleep(Duration::from_millis(800));
    kill("-INT");
    std::thread::sleep(Duration::from_millis(300));
    kill("-INT");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopping the pods gracefully"), "{stderr}");
    assert!(
        stderr.contains("Killing: Stopping container app (grace period 60s)"),
        "{stderr}"
    );
    let pod: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        container(&pod, "app")["state"]["terminated"]["exitCode"],
        137
    );
    assert_eq!(phase(&pod), "Failed");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run_args(&["run"]).code, 2);
    assert_eq!(run_args(&["frobnicate"]).code, 2);
    let r = run_args(&["run", "/no/such/file.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("/no/such/file.yaml"), "{r:?}");
    let r = run_args(&["run", "--timeout", "soon", "x.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("invalid duration"), "{r:?}");
}

#[test]
fn images_lists_the_builtins() {
    let r = run_args(&["images"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("testkit"));
}
