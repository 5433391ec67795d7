//! Pod lifecycle through the real binary: phases, exit codes, restarts, init containers, deadlines.

use crate::support::*;

#[test]
fn single_container_success() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  restartPolicy: Never
  containers:
    - {name: app, image: testkit, command: ["testkit", "echo", "done"]}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let pod = r.json();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(phase(&pod), "Succeeded");
    let t = &container(&pod, "app")["state"]["terminated"];
    assert_eq!(t["exitCode"], 0);
    assert_eq!(t["reason"], "Completed");
    assert!(t["startedAt"].is_string() && t["finishedAt"].is_string());
    let ready = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .expect("Ready condition");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "PodCompleted");
    assert!(r.stderr.contains("app | done"), "{r:?}");
}

#[test]
fn single_container_failure() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  restartPolicy: Never
  containers:
    - {name: app, image: testkit, command: ["testkit", "exit", "3"]}
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Failed");
    let t = &container(&pod, "app")["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(3), Some("Error"))
    );
}

#[test]
fn init_containers_run_in_order_then_the_app() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: init-order}
spec:
  restartPolicy: Never
  initContainers:
    - {name: first, image: testkit, command: ["testkit", "sleep", "0.2"]}
    - {name: second, image: testkit, command: ["testkit", "echo", "second"]}
  containers:
    - {name: app, image: testkit, command: ["testkit", "echo", "app"]}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let started: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.split("Started: Started container ").nth(1))
        .collect();
    assert_eq!(started, ["first", "second", "app"], "{r:?}");
    let pod = r.json();
    let first_done = container(&pod, "first")["state"]["terminated"]["finishedAt"].as_str();
    let second_start = container(&pod, "second")["state"]["terminated"]["startedAt"].as_str();
    assert!(first_done <= second_start);
    assert_eq!(container(&pod, "first")["ready"], true);
}

#[test]
fn failing_init_container_under_never_fails_the_pod() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: init-fails}
spec:
  restartPolicy: Never
  initContainers:
    - {name: init, image: testkit, command: ["testkit", "exit", "1"]}
  containers:
    - {name: app, image: testkit, command: ["testkit", "echo", "never printed"]}
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Failed");
    assert_eq!(
        container(&pod, "init")["state"]["terminated"]["exitCode"],
        1
    );
    assert_eq!(
        container(&pod, "app")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert!(!r.stderr.contains("never printed"));
}

#[test]
fn failing_init_container_under_always_is_retried_and_the_pod_stays_pending() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: init-retries}
spec:
  initContainers:
    - {name: init, image: testkit, command: ["testkit", "exit", "1"]}
  containers:
    - {name: app, image: testkit, command: ["testkit", "echo", "never printed"]}
"#,
        &[
            "--backoff-base",
            "100ms",
            "--backoff-max",
            "200ms",
            "--timeout",
            "2s",
        ],
    );
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Pending");
    let init = container(&pod, "init");
    assert!(init["restartCount"].as_i64().unwrap_or(0) >= 3, "{init:#}");
    assert_eq!(init["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(
        container(&pod, "app")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    let initialized = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Initialized"))
        .cloned()
        .expect("Initialized");
    assert_eq!(initialized["reason"], "ContainersNotInitialized");
}

fn restart_pod(policy: &str, code: u8) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: restarts}}
spec:
  restartPolicy: {policy}
  containers:
    - {{name: app, image: testkit, command: ["testkit", "exit", "{code}"]}}
"#
    )
}

const SHORT_BACKOFF: &[&str] = &[
    "--backoff-base",
    "100ms",
    "--backoff-max",
    "400ms",
    "--timeout",
    "2s",
];

#[test]
fn always_restarts_even_after_success() {
    let r = run_json(&restart_pod("Always", 0), SHORT_BACKOFF);
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Running");
    let app = container(&pod, "app");
    assert!(app["restartCount"].as_i64().unwrap_or(0) >= 2, "{app:#}");
    assert_eq!(app["lastState"]["terminated"]["reason"], "Completed");
    assert!(
        r.stderr
            .contains("BackOff: Back-off restarting failed container app"),
        "{r:?}"
    );
}

#[test]
fn on_failure_restarts_failures_in_crash_loop_backoff() {
    let r = run_json(&restart_pod("OnFailure", 2), SHORT_BACKOFF);
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Running");
    let app = container(&pod, "app");
    assert!(app["restartCount"].as_i64().unwrap_or(0) >= 2, "{app:#}");
    let last = &app["lastState"]["terminated"];
    assert_eq!(
        (last["exitCode"].as_i64(), last["reason"].as_str()),
        (Some(2), Some("Error"))
    );
}

#[test]
fn on_failure_does_not_restart_success() {
    let r = run_json(&restart_pod("OnFailure", 0), SHORT_BACKOFF);
    assert_eq!(r.code, 0, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Succeeded");
    assert_eq!(container(&pod, "app")["restartCount"], 0);
}

#[test]
fn never_does_not_restart() {
    let r = run_json(&restart_pod("Never", 2), SHORT_BACKOFF);
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Failed");
    assert_eq!(container(&pod, "app")["restartCount"], 0);
}

#[test]
fn crash_loop_backoff_is_visible_while_waiting() {
    let r = run_json(
        &restart_pod("Always", 1),
        &["--backoff-base", "5s", "--timeout", "1500ms"],
    );
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    let app = container(&pod, "app");
    // Run 1 fails, restarts at once; run 2 fails and waits 5 s in CrashLoopBackOff.
    assert_eq!(app["restartCount"], 1, "{app:#}");
    let waiting = &app["state"]["waiting"];
    assert_eq!(waiting["reason"], "CrashLoopBackOff");
    let msg = waiting["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("back-off 5s restarting failed container=app pod=restarts_default("),
        "{msg}"
    );
}

#[test]
fn env_and_command_expansion() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: expand}
spec:
  restartPolicy: Never
  containers:
    - name: app
      image: testkit
      command: ["testkit", "args"]
      args: ["$(GREETING)", "$(UNDEFINED)", "$$(GREETING)", "$HOME"]
      env:
        - {name: WHO, value: world}
        - {name: GREETING, value: "hello $(WHO)"}
        - {name: LATER, value: "$(AFTER)"}
        - {name: AFTER, value: x}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    for expected in [
        "app | argv[0]=testkit",
        "app | argv[1]=args",
        "app | argv[2]=hello world",
        "app | argv[3]=$(UNDEFINED)",
        "app | argv[4]=$(GREETING)",
        "app | argv[5]=$HOME",
    ] {
        assert!(r.stderr.contains(expected), "missing {expected:?} in {r:?}");
    }
}

#[test]
fn env_reaches_the_guest_with_hostname() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: envpod}
spec:
  restartPolicy: Never
  containers:
    - name: app
      image: testkit
      command: ["testkit", "env"]
      env:
        - {name: WHO, value: world}
        - {name: LATER, value: "$(AFTER)"}
        - {name: AFTER, value: x}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    for expected in [
        "app | WHO=world",
        "app | LATER=$(AFTER)",
        "app | HOSTNAME=envpod",
    ] {
        assert!(r.stderr.contains(expected), "missing {expected:?} in {r:?}");
    }
}

#[test]
fn active_deadline_fails_the_pod() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 1
  terminationGracePeriodSeconds: 0
  containers:
    - {name: app, image: testkit, command: ["testkit", "sleep", "60"]}
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Failed");
    assert_eq!(pod["status"]["reason"], "DeadlineExceeded");
    assert_eq!(
        container(&pod, "app")["state"]["terminated"]["exitCode"],
        137
    );
}

#[test]
fn unknown_image_waits_in_err_image_pull() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  restartPolicy: Never
  containers:
    - {name: app, image: "example.com/no/such-image:1.0"}
"#,
        &[],
    );
    assert_eq!(r.code, 3, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Pending");
    let waiting = &container(&pod, "app")["state"]["waiting"];
    assert_eq!(waiting["reason"], "ErrImagePull");
    let msg = waiting["message"].as_str().unwrap_or_default();
    assert!(msg.contains("testkit") && msg.contains(".wasm"), "{msg}");
}

#[test]
fn several_pods_run_side_by_side_and_print_a_list() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  restartPolicy: Never
  containers: [{name: app, image: testkit, command: ["testkit", "sleep", "0.3"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  restartPolicy: Never
  containers: [{name: app, image: testkit, command: ["testkit", "exit", "4"]}]
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let list = r.json();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(phase(&items[0]), "Succeeded");
    assert_eq!(phase(&items[1]), "Failed");
    assert!(
        r.stderr.contains("one/app") && r.stderr.contains("two/app"),
        "{r:?}"
    );
}

#[test]
fn working_dir_is_created_and_entered_by_programs_and_probes() {
    let s = Scratch::new("workdir");
    let host = s.dir.join("host");
    std::fs::create_dir_all(&host).expect("dir");
    let r = run_json(
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  restartPolicy: Never
  volumes: [{{name: out, hostPath: {{path: "{}"}}}}]
  containers:
    - name: shell
      image: busybox
      workingDir: /srv/app/../work
      command: [sh, -c, "pwd; echo relative > note; cat /srv/work/note; touch ready; sleep 1.5"]
      readinessProbe: {{exec: {{command: [cat, ready]}}, initialDelaySeconds: 1, periodSeconds: 1}}
    - name: in-a-volume
      image: testkit
      workingDir: /out/a/b
      args: [write, here, "written relative to the working directory"]
      volumeMounts: [{{name: out, mountPath: /out}}]
"#,
            host.display()
        ),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let shell: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("shell"))
        .filter_map(|l| l.split_once("| ").map(|(_, text)| text))
        .collect();
    assert_eq!(shell, ["/srv/work", "relative"], "{r:?}");
    // The readiness probe's relative path resolved in the working directory.
    assert!(!r.stderr.contains("Unhealthy"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(host.join("a/b/here")).unwrap_or_default(),
        "written relative to the working directory\n"
    );
}
