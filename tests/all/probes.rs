//! Sidecars, probes, lifecycle hooks, termination messages and `--describe`, through the real binary.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

fn events_of<'a>(stderr: &'a str, container: &str, reason: &str) -> Vec<&'a str> {
    let prefix = format!("/{container}: {reason}:");
    stderr.lines().filter(|l| l.contains(&prefix)).collect()
}

#[test]
fn a_log_shipping_sidecar_runs_beside_the_app_and_is_stopped_after_it() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sidecar.yaml"
    ))
    .expect("examples/sidecar.yaml");
    let r = run_json(&manifest, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let pod = r.json();
    assert_eq!(phase(&pod), "Succeeded");
    for i in 1..=3 {
        assert!(
            r.stderr
                .contains(&format!("log-shipper | request {i} served")),
            "{r:?}"
        );
    }
    let app_exit = r.stderr.find("/app: exited with code 0").expect("app exit");
    let sidecar_stop = r
        .stderr
        .find("/log-shipper: Killing:")
        .expect("sidecar stop");
    assert!(app_exit < sidecar_stop, "{r:?}");
    let side = container(&pod, "log-shipper");
    assert_eq!(side["restartCount"], 0);
    assert_eq!(side["started"], false);
    assert_eq!(side["state"]["terminated"]["exitCode"], 137);
    let app = container(&pod, "app");
    assert_eq!(app["state"]["terminated"]["reason"], "Completed");
}

#[test]
fn a_failing_liveness_probe_restarts_the_container_with_back_off() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: liveness-exec}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: liveness
    image: busybox
    args: [/bin/sh, -c, "touch /tmp/healthy; sleep 1; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
"#,
        // Each kill gives the container the kubelet's minimum 2 s.
        &["--timeout", "12s", "--backoff-base", "2s"],
    );
    assert_eq!(r.code, 124, "{r:?}");
    let unhealthy = events_of(&r.stderr, "liveness", "Unhealthy");
    assert!(
        unhealthy.first().is_some_and(|l| l.ends_with(
            "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
        )),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("Killing: Container liveness failed liveness probe, will be restarted"),
        "{r:?}"
    );
    assert!(
        !events_of(&r.stderr, "liveness", "BackOff").is_empty(),
        "{r:?}"
    );
    let pod = r.json();
    let c = container(&pod, "liveness");
    // Killed at about 5 s (3 s of probes, 2 s of grace), restarted at once, killed again at about
    // 10 s: back-off 2 s.
    assert!(c["restartCount"].as_i64().unwrap_or_default() >= 1, "{c:#}");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 137);
}

#[test]
fn http_readiness_and_tcp_liveness_against_a_server_in_the_pod() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: server
    image: testkit
    command: [testkit, serve, "0.0.0.0:8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
  - name: idle
    image: testkit
    command: [testkit, sleep, "600"]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
"#,
        &["--timeout", "3s"],
    );
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    let server = container(&pod, "server");
    assert_eq!(
        (server["ready"].as_bool(), server["started"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(server["restartCount"], 0);
    assert!(
        r.stderr.contains("GET /healthz HTTP/1.1"),
        "the server saw the probe: {r:?}"
    );
    let idle = container(&pod, "idle");
    assert_eq!(idle["ready"], false);
    let ready = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .expect("Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [idle]");
    assert!(r.stderr.contains(
        "Unhealthy: Readiness probe failed: dial tcp 10.88.0.2:9999: connect: connection refused"
    ), "{r:?}");
}

#[test]
fn post_start_and_pre_stop_hooks_run_in_order() {
    let s = Scratch::new("hooks");
    let dir = s.dir.join("shared");
    std::fs::create_dir_all(&dir).expect("dir");
    // The deadline stops the pod gracefully: preStop, then the stop.
    let r = run_json(
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooks}}
spec:
  activeDeadlineSeconds: 2
  terminationGracePeriodSeconds: 2
  volumes: [{{name: shared, hostPath: {{path: "{}"}}}}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo main >> /shared/order; sleep 600"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "sleep 0.5; echo postStart >> /shared/order"]}}
      preStop:
        exec: {{command: [sh, -c, "echo preStop >> /shared/order"]}}
"#,
            dir.display()
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let order = std::fs::read_to_string(dir.join("order")).unwrap_or_default();
    assert_eq!(order, "main\npostStart\npreStop\n", "{r:?}");
    let started = r.stderr.find("/app: Started:").expect("Started");
    let killing = r.stderr.find("/app: Killing:").expect("Killing");
    assert!(started < killing);
}

#[test]
fn termination_messages_from_the_file_and_from_the_logs() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: messages}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    command: [sh, -c, "echo 'all done' > /dev/termination-log"]
  - name: custom
    image: busybox
    terminationMessagePath: /tmp/why
    command: [sh, -c, "printf 'bad config' > /tmp/why; exit 3"]
  - name: logs
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "echo starting; echo 'fatal: no database' >&2; exit 1"]
  - name: unterminated
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "printf DONE; exit 1"]
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    let message = |c: &str| container(&pod, c)["state"]["terminated"]["message"].clone();
    assert_eq!(message("file"), "all done\n");
    assert_eq!(message("custom"), "bad config");
    assert_eq!(message("logs"), "starting\nfatal: no database\n");
    assert_eq!(
        message("unterminated"),
        "DONE",
        "no newline the program never wrote"
    );
}

/// Ages, times, ids and the pod's uid vary from run to run.
fn normalise(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_events = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let key = trimmed.split(':').next().unwrap_or("");
        let line = if [
            "Start Time",
            "Started",
            "Finished",
            "Container ID",
            "Image ID",
        ]
        .contains(&key)
        {
            let indent = &line[..line.len() - trimmed.len()];
            format!("{indent}{key}: <varies>")
        } else if in_events
            && line.starts_with("  ")
            && !trimmed.starts_with("Type")
            && !trimmed.starts_with("----")
        {
            let cols: Vec<&str> = trimmed
                .split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect();
            let mut cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
            if cols.len() > 2 {
                cols[2] = "<age>".into();
            }
            format!("  {}", cols.join(" | "))
        } else {
            line.to_string()
        };
        if line.starts_with("Events:") {
            in_events = true;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

#[test]
fn describe_golden() {
    let s = Scratch::new("describe");
    let file = s.write(
        "pod.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: described
  labels: {app: demo, tier: web}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {}
  initContainers:
  - name: setup
    image: testkit
    command: ["testkit", "write", "/shared/ready", "yes"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: helper
    image: testkit
    restartPolicy: Always
    command: ["testkit", "sleep", "600"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe:
      exec: {command: ["testkit", "cat", "/shared/ready"]}
      periodSeconds: 30
  containers:
  - name: app
    image: testkit
    command: ["testkit", "exit", "0"]
    env: [{name: MODE, value: demo}]
    ports: [{containerPort: 8080, name: http}]
    livenessProbe:
      tcpSocket: {port: http}
      initialDelaySeconds: 30
    volumeMounts: [{name: shared, mountPath: /shared, readOnly: true}]
"#,
    );
    let r = run_args(&[
        "run",
        "--describe",
        "--color",
        "never",
        &file.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let got = normalise(&r.stdout[r.stdout.find("Name:").unwrap_or(0)..]);
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/describe/described.txt");
    if std::env::var_os("WPOD_BLESS").is_some() {
        std::fs::write(&golden, &got).expect("bless");
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(got, want, "re-bless with WPOD_BLESS=1");
}

#[test]
fn the_docs_lifecycle_hooks_example_runs_unchanged() {
    on_backends(|backend| {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lifecycle-hooks.yaml");
        let child = wpod()
            .args([
                "run",
                "-o",
                "json",
                "--color",
                "never",
                "--grace-period",
                "2s",
            ])
            .args(["--backend", backend])
            .arg(&example)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Long enough for the postStart hook; Ctrl-C then stops the pod gracefully (preStop first).
        std::thread::sleep(Duration::from_millis(1500));
        let ok = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -INT");
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{backend}: {stderr}");
        // Both `/bin/sh -c` hooks ran in the busybox toolbox, and the preStop's `nginx -s quit`
        // (the image's own command, run from that shell) made nginx shut down gracefully.
        assert!(
            !stderr.contains("FailedPostStartHook"),
            "{backend}: {stderr}"
        );
        assert!(
            stderr.contains("signal 3 (SIGQUIT) received, gracefully shutting down"),
            "{backend}: {stderr}"
        );
        assert!(
            stderr.contains("/lifecycle-demo-container: exited with code 0 (Completed)"),
            "{backend}: {stderr}"
        );
        // nginx may end before the hook's shell does: the kernel then kills the shell with the
        // container's PID 1 and the kubelet reports the hook as failed with 137, as on a
        // cluster. Any other failure (a command not found, say) is a bug.
        for line in stderr.lines().filter(|l| l.contains("FailedPreStopHook")) {
            assert!(
                line.ends_with("exited with 137: , message: \"\"")
                    || line.contains("CONTAINER_EXITED"),
                "{backend}: {stderr}"
            );
        }
        assert!(
            stderr.contains("/lifecycle-demo-container: Started:"),
            "{backend}: {stderr}"
        );
        assert!(
            stderr.contains("/lifecycle-demo-container: Killing:"),
            "{backend}: {stderr}"
        );
        let pod: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let c = container(&pod, "lifecycle-demo-container");
        assert_eq!(c["started"], false, "{backend}: {c}");
    });
}

#[test]
fn a_shell_hook_in_nginx_sees_the_image_files() {
    let s = Scratch::new("nginx-shell-hook");
    let out = s.dir.join("out");
    std::fs::create_dir_all(&out).expect("dir");
    let r = run_json(
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  volumes: [{{name: out, hostPath: {{path: "{}"}}}}]
  containers:
  - name: nginx
    image: nginx
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec: {{command: ["/bin/sh", "-c", "grep -c 'Welcome to nginx' /usr/share/nginx/html/index.html > /out/found"]}}
"#,
            out.display()
        ),
        &["--timeout", "2s"],
    );
    assert_eq!(r.code, 124, "{r:?}");
    let found = std::fs::read_to_string(out.join("found")).unwrap_or_default();
    // The page's <title> and <h1>, as in the real image.
    assert_eq!(found.trim(), "2", "{r:?}");
}

/// Three probe kinds times three handlers, each failing in one pod and passing in another, on
/// every backend that runs here.
#[test]
fn every_probe_kind_with_every_handler() {
    let handlers = |pass: bool| {
        [
            (
                "exec",
                if pass {
                    "exec: {command: [cat, /etc/hostname]}"
                } else {
                    "exec: {command: [cat, /missing]}"
                },
            ),
            (
                "http",
                if pass {
                    "httpGet: {path: /, port: 80}"
                } else {
                    "httpGet: {path: /missing, port: 80}"
                },
            ),
            (
                "tcp",
                if pass {
                    "tcpSocket: {port: 80}"
                } else {
                    "tcpSocket: {port: 9}"
                },
            ),
        ]
    };
    let kinds = [
        ("liveness", "livenessProbe"),
        ("readiness", "readinessProbe"),
        ("startup", "startupProbe"),
    ];
    let mut manifest = String::new();
    for (pod, pass) in [("pass", true), ("fail", false)] {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: web, image: nginx}}\n"
        ));
        // Passing probes wait for nginx to listen.
        let delay = if pass { "initialDelaySeconds: 1, " } else { "" };
        for (h, handler) in handlers(pass) {
            for (k, field) in kinds {
                manifest.push_str(&format!(
                    "  - name: {h}-{k}\n    image: busybox\n    command: [sleep, \"600\"]\n    \
                     {field}: {{{handler}, {delay}periodSeconds: 1, failureThreshold: 100}}\n"
                ));
            }
        }
    }
    on_backends(|backend| {
        let r = run_json(&manifest, &["--backend", backend, "--timeout", "3s"]);
        assert_eq!(r.code, 124, "{backend}: {r:?}");
        let list = r.json();
        let items = list["items"].as_array().expect("a List of two pods");
        let pod = |name: &str| {
            items
                .iter()
                .find(|p| p["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("pod {name}"))
                .clone()
        };
        let (pass, fail) = (pod("pass"), pod("fail"));
        assert_eq!(
            condition(&pass, "Ready")["status"],
            "True",
            "{backend}: {r:?}"
        );
        assert_eq!(condition(&fail, "Ready")["status"], "False", "{backend}");
        for (h, _) in handlers(true) {
            for (k, _) in kinds {
                let name = format!("{h}-{k}");
                // Where the machine is loaded nginx may not listen yet at the first probe; a
                // passing probe is one whose container ends up started and ready.
                let ok = container(&pass, &name);
                assert_eq!(
                    (ok["started"].clone(), ok["ready"].clone()),
                    (true.into(), true.into()),
                    "{backend}: pass/{name}"
                );
                let bad = container(&fail, &name);
                // A failing startup probe keeps the container unstarted (so unready); a failing
                // readiness probe keeps it unready; a failing liveness probe (far from its
                // threshold) changes neither.
                let expected = match k {
                    "startup" => (false, false),
                    "readiness" => (true, false),
                    _ => (true, true),
                };
                assert_eq!(
                    (bad["started"].clone(), bad["ready"].clone()),
                    (expected.0.into(), expected.1.into()),
                    "{backend}: fail/{name}"
                );
                assert_eq!(bad["restartCount"], 0, "{backend}: fail/{name}");
                let kind = format!("{}{}", k[..1].to_uppercase(), &k[1..]);
                let prefix = format!("-- fail/{name}: Unhealthy: {kind} probe failed: ");
                let message = r
                    .stderr
                    .lines()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .unwrap_or_else(|| panic!("{backend}: no `{prefix}` in {r:?}"));
                let why = match h {
                    "exec" => "can't open '/missing'",
                    "http" => "HTTP probe failed with statuscode: 404",
                    _ => ":9: connect: connection refused",
                };
                assert!(message.contains(why), "{backend}: {name}: {message}");
            }
        }
    });
}

fn condition(pod: &serde_json::Value, type_: &str) -> serde_json::Value {
    pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition"))
}
