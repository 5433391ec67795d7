//! The parity suite: every scenario manifest runs on the wasm backend and on the Linux backend,
//! the outcomes are normalised (wpod::parity) and compared. Every accepted difference is listed,
//! with its reason, in tests/parity/allow.txt; any other difference fails, and so does an
//! allow-list entry that no longer matches anything (so the list stays true).
//!
//! Where the Linux backend cannot run (not Linux, no namespaces) the suite skips and says why;
//! `WPOD_REQUIRE_LINUX=1` (CI) turns the skip into a failure.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use wpod::parity::{self, Outcome};

use crate::support::*;

struct Scenario {
    name: &'static str,
    /// `{dir}` is replaced by a fresh hostPath directory per run, compared afterwards;
    /// `{busybox.wasm}` by the path of a `.wasm` file image.
    manifest: &'static str,
    args: &'static [&'static str],
    /// When the suite sends wpod a SIGTERM (a graceful stop of every pod).
    term: Term,
}

#[derive(Clone, Copy)]
enum Term {
    /// Never: the pods end by themselves.
    Never,
    /// This long after the start, for pods whose state at the stop is a matter of time.
    After(Duration),
    /// As soon as a stderr line (an event, or output with `-o json`) starts with this: once the
    /// pod is where the stop must find it, and not later.
    On(&'static str),
}

/// The manifest of scenario `name`, for tests that assert what it does on each backend too.
pub fn manifest(name: &str) -> &'static str {
    SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.manifest)
        .unwrap_or_else(|| panic!("no parity scenario {name}"))
}

const fn s(name: &'static str, manifest: &'static str) -> Scenario {
    Scenario {
        name,
        manifest,
        args: &[],
        term: Term::Never,
    }
}

const fn with_args(
    name: &'static str,
    manifest: &'static str,
    args: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        manifest,
        args,
        term: Term::Never,
    }
}

const fn stopped(name: &'static str, manifest: &'static str, after_ms: u64) -> Scenario {
    Scenario {
        name,
        manifest,
        args: &[],
        term: Term::After(Duration::from_millis(after_ms)),
    }
}

const fn stopped_on(name: &'static str, manifest: &'static str, line: &'static str) -> Scenario {
    Scenario {
        name,
        manifest,
        args: &[],
        term: Term::On(line),
    }
}

const SCENARIOS: &[Scenario] = &[
    s(
        "exit-0",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers: [{name: c, image: testkit, command: [testkit, exit, "0"]}]
"#,
    ),
    s(
        "exit-3-never",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers: [{name: c, image: testkit, args: [exit, "3"]}]
"#,
    ),
    s(
        "exit-255",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, "exit 255"]}]
"#,
    ),
    s(
        "two-containers-mixed",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: ok, image: testkit, command: [testkit, count, "3", "10"]}
    - {name: bad, image: testkit, command: [testkit, exit, "7"]}
"#,
    ),
    with_args(
        "onfailure-restarts-until-success",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: OnFailure
  volumes: [{name: d, emptyDir: {}}]
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "if [ -f /d/once ]; then echo second; exit 0; fi; touch /d/once; echo first; exit 1"]
      volumeMounts: [{name: d, mountPath: /d}]
"#,
        &["--backoff-base", "100ms"],
    ),
    with_args(
        "always-restarts-after-exit-0",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Always
  activeDeadlineSeconds: 3
  volumes: [{name: d, emptyDir: {}}]
  containers:
    # The third run outlasts the deadline and ends by itself within the grace period: Completed.
    - name: c
      image: busybox
      command: [sh, -c, "echo run >> /d/runs; if [ $(wc -l < /d/runs) -ge 3 ]; then sleep 4; fi; exit 0"]
      volumeMounts: [{name: d, mountPath: /d}]
"#,
        &["--backoff-base", "100ms", "--backoff-max", "100ms"],
    ),
    s(
        "never-does-not-restart",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, "echo once; exit 1"]}]
"#,
    ),
    s(
        "init-containers-in-order",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: d, emptyDir: {}}]
  initContainers:
    - {name: one, image: busybox, command: [sh, -c, "echo one > /d/order"], volumeMounts: [{name: d, mountPath: /d}]}
    - {name: two, image: busybox, command: [sh, -c, "echo two >> /d/order"], volumeMounts: [{name: d, mountPath: /d}]}
  containers:
    - {name: app, image: testkit, command: [testkit, cat, /d/order], volumeMounts: [{name: d, mountPath: /d}]}
"#,
    ),
    s(
        "init-fails-under-never",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  initContainers: [{name: init, image: testkit, command: [testkit, exit, "4"]}]
  containers: [{name: app, image: testkit, command: [testkit, echo, never]}]
"#,
    ),
    with_args(
        "init-retried-under-onfailure",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: OnFailure
  volumes: [{name: d, emptyDir: {}}]
  initContainers:
    - name: init
      image: busybox
      command: [sh, -c, "[ -f /d/m ] && exit 0; touch /d/m; exit 2"]
      volumeMounts: [{name: d, mountPath: /d}]
  containers: [{name: app, image: testkit, command: [testkit, echo, started]}]
"#,
        &["--backoff-base", "100ms"],
    ),
    s(
        "env-and-expansion",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: [testkit, args, "$(GREETING) $(WHO)", "$$(WHO)", "$(NOPE)"]
      env:
        - {name: WHO, value: world}
        - {name: GREETING, value: "hello $(WHO)"}
"#,
    ),
    s(
        "env-listing",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: [testkit, env]
      env:
        - {name: A, value: "1"}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
"#,
    ),
    s(
        "command-and-args",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: args-only, image: testkit, args: [args, a, "b c"]}
    - {name: both, image: busybox, command: [echo], args: [x, y]}
"#,
    ),
    s(
        "configmap-env-and-volume",
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hi, file.txt: "from the configmap"}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: cfg, configMap: {name: cfg}}]
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "echo $G; cat /cfg/file.txt; echo"]
      env: [{name: G, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}]
      volumeMounts: [{name: cfg, mountPath: /cfg}]
"#,
    ),
    s(
        "missing-configmap",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      env: [{name: G, valueFrom: {configMapKeyRef: {name: nope, key: k}}}]
"#,
    ),
    s(
        "unknown-image",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers: [{name: c, image: no-such-image}]
"#,
    ),
    s(
        "shared-emptydir",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: d, emptyDir: {}}]
  containers:
    - {name: writer, image: busybox, command: [sh, -c, "echo shared > /d/tmp; mv /d/tmp /d/msg"], volumeMounts: [{name: d, mountPath: /d}]}
    - {name: reader, image: busybox, command: [sh, -c, "until [ -f /in/msg ]; do sleep 0.05; done; cat /in/msg"], volumeMounts: [{name: d, mountPath: /in}]}
"#,
    ),
    s(
        "hostpath-files-left",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: h, hostPath: {path: "{dir}", type: DirectoryOrCreate}}]
  initContainers:
    - {name: first, image: testkit, command: [testkit, write, /h/a.txt, alpha], volumeMounts: [{name: h, mountPath: /h}]}
  containers:
    - {name: second, image: busybox, command: [sh, -c, "mkdir -p /h/sub && echo beta > /h/sub/b.txt && cat /h/a.txt"], volumeMounts: [{name: h, mountPath: /h}]}
"#,
    ),
    s(
        "hostpath-file-mount",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: f, hostPath: {path: "{dir}/log.txt", type: FileOrCreate}}]
  containers:
    - {name: c, image: busybox, command: [sh, -c, "echo one >> /var/log.txt; echo two >> /var/log.txt; cat /var/log.txt"], volumeMounts: [{name: f, mountPath: /var/log.txt}]}
"#,
    ),
    s(
        "readonly-mount",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: h, hostPath: {path: "{dir}", type: DirectoryOrCreate}}]
  containers:
    - {name: c, image: testkit, command: [testkit, write, /ro/x, data], volumeMounts: [{name: h, mountPath: /ro, readOnly: true}]}
"#,
    ),
    s(
        "security-context",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: false}
  volumes: [{name: e, emptyDir: {}}]
  containers:
    - name: c
      image: testkit
      command: [testkit, write, /x, data]
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    - name: v
      image: testkit
      command: [testkit, write, /e/x, data]
      volumeMounts: [{name: e, mountPath: /e}]
      securityContext: {readOnlyRootFilesystem: true, capabilities: {drop: [NET_RAW]}, seccompProfile: {type: RuntimeDefault}}
"#,
    ),
    s(
        "subpath-and-nested-mounts",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: h, hostPath: {path: "{dir}", type: DirectoryOrCreate}}, {name: e, emptyDir: {}}]
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "echo in-sub > /data/x; echo in-cache > /data/cache/y; ls /data"]
      volumeMounts:
        - {name: h, mountPath: /data, subPath: sub}
        - {name: e, mountPath: /data/cache}
"#,
    ),
    s(
        "image-files-and-hostname",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: named-pod}
spec:
  restartPolicy: Never
  containers:
    - {name: c, image: testkit, command: [testkit, cat, /etc/testkit.txt]}
    - {name: h, image: busybox, command: [sh, -c, "cat /etc/hostname; hostname; echo $HOSTNAME"]}
"#,
    ),
    s(
        "stdout-and-stderr",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    # stdout and stderr are two pipes on Linux: lines of different streams keep their order
    # only when written at different moments.
    - {name: c, image: busybox, command: [sh, -c, "echo out; sleep 0.2; echo err >&2; sleep 0.2; printf 'no newline'"]}
"#,
    ),
    s(
        "pod-ip-in-env",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: [testkit, args, "$(IP)"]
      env: [{name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
"#,
    ),
    s(
        "localhost-in-a-pod",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: server, image: busybox, command: [sh, -c, "nc -l -p 8080"]}
    - {name: client, image: testkit, command: [testkit, get, "localhost:8080"]}
"#,
    ),
    s(
        "loopback-address-in-a-pod",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: server, image: busybox, command: [sh, -c, "nc -l -p 9000"]}
    - {name: client, image: testkit, command: [testkit, get, "127.0.0.1:9000", /path]}
"#,
    ),
    s(
        "same-port-in-two-pods",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  restartPolicy: Never
  containers:
    - {name: server, image: busybox, command: [sh, -c, "nc -l -p 8080"]}
    - {name: client, image: testkit, command: [testkit, get, "localhost:8080", /a]}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  restartPolicy: Never
  containers:
    - {name: server, image: busybox, command: [sh, -c, "nc -l -p 8080"]}
    - {name: client, image: testkit, command: [testkit, get, "localhost:8080", /b]}
"#,
    ),
    s(
        "pod-to-pod-by-name",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  restartPolicy: Never
  containers:
    - {name: nc, image: busybox, command: [sh, -c, "nc -l -p 7070"]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
    - {name: get, image: testkit, command: [testkit, get, "server:7070", /by-name]}
"#,
    ),
    s(
        "address-in-use",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: holder, image: testkit, command: [testkit, bind, "0.0.0.0:7000", "2"]}
    - {name: late, image: busybox, command: [sh, -c, "sleep 0.5; nc -l -p 7000; echo exit=$?"]}
"#,
    ),
    s(
        "oom-killed",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: [testkit, alloc, 256Mi]
      resources: {limits: {memory: 32Mi}}
"#,
    ),
    s(
        "within-memory-limit",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: [testkit, alloc, 4Mi]
      resources: {limits: {memory: 64Mi, cpu: 500m}}
"#,
    ),
    s(
        "active-deadline",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 1
  # The container ignores the deadline's TERM and ends by itself within the grace period.
  containers: [{name: c, image: testkit, command: [testkit, sleep, "2.5"]}]
"#,
    ),
    stopped_on(
        "graceful-stop-ignored-term",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: testkit, command: [testkit, sleep, "30"]}]
"#,
        "-- p/c: Started:",
    ),
    stopped(
        "graceful-stop-exits-within-grace",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 10
  containers: [{name: c, image: busybox, command: [sh, -c, "sleep 2; echo done"]}]
"#,
        500,
    ),
    stopped_on(
        "graceful-stop-trap",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers: [{name: c, image: busybox, command: [sh, -c, "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]}]
"#,
        "c | ready",
    ),
    s(
        "nginx-and-wget",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  volumes: [{name: html, emptyDir: {}}]
  initContainers:
    - {name: page, image: busybox, command: [sh, -c, "echo 'hello from nginx' > /html/index.html"], volumeMounts: [{name: html, mountPath: /html}]}
    # A sidecar, so the pod ends when the client is done.
    - {name: nginx, image: nginx, restartPolicy: Always, volumeMounts: [{name: html, mountPath: /usr/share/nginx/html, readOnly: true}]}
  containers:
    - {name: client, image: busybox, command: [sh, -c, "until wget -q -O /tmp/page http://localhost/ 2>/dev/null; do sleep 0.1; done; cat /tmp/page"]}
"#,
    ),
    // Lifecycle: sidecars, probes, hooks, termination messages.
    s(
        "sidecar-log-shipper",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  volumes: [{name: logs, emptyDir: {}}]
  initContainers:
    - name: shipper
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "touch /logs/app.log; tail -f /logs/app.log"]
      volumeMounts: [{name: logs, mountPath: /logs}]
  containers:
    - name: app
      image: busybox
      command: [sh, -c, "for i in 1 2 3; do echo \"request $i served\" >> /logs/app.log; sleep 0.3; done"]
      volumeMounts: [{name: logs, mountPath: /logs}]
"#,
    ),
    s(
        "sidecar-started-before-next-init",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{name: out, hostPath: {path: "{dir}"}}]
  initContainers:
    - name: side
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "sleep 0.5; echo side >> /out/order; touch /tmp/started; sleep 600"]
      startupProbe: {exec: {command: [cat, /tmp/started]}, periodSeconds: 1}
      volumeMounts: [{name: out, mountPath: /out}]
    - {name: init, image: busybox, command: [sh, -c, "echo init >> /out/order"], volumeMounts: [{name: out, mountPath: /out}]}
  containers:
    - {name: app, image: busybox, command: [sh, -c, "echo app >> /out/order"], volumeMounts: [{name: out, mountPath: /out}]}
"#,
    ),
    with_args(
        "sidecar-restarts-in-never-pod",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{name: d, emptyDir: {}}]
  initContainers:
    - name: side
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "echo run >> /d/runs; if [ $(wc -l < /d/runs) -ge 3 ]; then sleep 600; fi; exit 1"]
      volumeMounts: [{name: d, mountPath: /d}]
  containers:
    - name: app
      image: busybox
      command: [sh, -c, "until [ -f /d/runs ] && [ $(wc -l < /d/runs) -ge 3 ]; do sleep 0.1; done; echo sidecar ran 3 times"]
      volumeMounts: [{name: d, mountPath: /d}]
"#,
        &["--backoff-base", "100ms"],
    ),
    stopped_on(
        "shutdown-order-with-sidecars",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: out, hostPath: {path: "{dir}"}}]
  initContainers:
    - name: side1
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "while true; do sleep 0.1; done"]
      lifecycle: {preStop: {exec: {command: [sh, -c, "echo hook ran > /out/side1"]}}}
      volumeMounts: [{name: out, mountPath: /out}]
    - name: side2
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "while true; do sleep 0.1; done"]
      lifecycle: {preStop: {exec: {command: [sh, -c, "echo hook ran > /out/side2"]}}}
      volumeMounts: [{name: out, mountPath: /out}]
  containers:
    - name: app
      image: busybox
      command: [sh, -c, "while [ ! -f /tmp/stop ]; do sleep 0.1; done; echo app exited > /out/app"]
      lifecycle: {preStop: {exec: {command: [touch, /tmp/stop]}}}
      volumeMounts: [{name: out, mountPath: /out}]
"#,
        "-- p/app: Started:",
    ),
    with_args(
        "liveness-exec-restarts",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  volumes: [{name: d, emptyDir: {}}]
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "echo run >> /d/runs; if [ $(wc -l < /d/runs) -ge 3 ]; then echo healthy at last; exit 0; fi; sleep 600"]
      livenessProbe:
        exec: {command: [sh, -c, "[ $(wc -l < /d/runs) -ge 3 ]"]}
        initialDelaySeconds: 1
        periodSeconds: 1
        failureThreshold: 1
      volumeMounts: [{name: d, mountPath: /d}]
"#,
        &["--backoff-base", "100ms"],
    ),
    s(
        "readiness-toggles-without-restarts",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "touch /tmp/ready; sleep 1.5; rm /tmp/ready; sleep 2; touch /tmp/ready; sleep 1.5"]
      readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
"#,
    ),
    stopped(
        "http-and-tcp-probes",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: nginx
      ports: [{name: http, containerPort: 80}]
      startupProbe:
        httpGet: {path: /index.html, port: http, httpHeaders: [{name: X-Probe, value: startup}]}
        initialDelaySeconds: 1
      readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 30}
      livenessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
    - name: nothing-listens
      image: busybox
      command: [sleep, "600"]
      readinessProbe: {tcpSocket: {port: 8080}, initialDelaySeconds: 1}
      livenessProbe: {httpGet: {path: /healthz, port: 8081}, initialDelaySeconds: 1, failureThreshold: 5}
"#,
        2500,
    ),
    stopped(
        "hooks-order",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 3
  volumes: [{name: out, hostPath: {path: "{dir}"}}]
  containers:
    - name: c
      image: busybox
      command: [sh, -c, "echo main >> /out/order; while [ ! -f /tmp/stop ]; do sleep 0.1; done; echo bye >> /out/order"]
      lifecycle:
        postStart: {exec: {command: [sh, -c, "sleep 0.3; echo postStart >> /out/order"]}}
        preStop: {exec: {command: [sh, -c, "echo preStop >> /out/order; touch /tmp/stop"]}}
      volumeMounts: [{name: out, mountPath: /out}]
    - name: sleeper
      image: busybox
      command: [sh, -c, "while [ ! -f /out/order ]; do sleep 0.1; done; sleep 600"]
      lifecycle: {preStop: {sleep: {seconds: 1}}}
      volumeMounts: [{name: out, mountPath: /out}]
"#,
        1500,
    ),
    s(
        "failing-poststart-hook",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: busybox
      command: [sleep, "600"]
      lifecycle: {postStart: {exec: {command: [sh, -c, "echo cannot start; exit 3"]}}}
"#,
    ),
    s(
        "termination-messages",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - {name: file, image: busybox, command: [sh, -c, "echo all done > /dev/termination-log"]}
    - name: custom-path
      image: busybox
      terminationMessagePath: /tmp/why
      command: [sh, -c, "echo custom path > /tmp/why; exit 2"]
    - name: fallback
      image: busybox
      terminationMessagePolicy: FallbackToLogsOnError
      command: [sh, -c, "echo line one; echo line two; exit 1"]
    - name: no-fallback-on-success
      image: busybox
      terminationMessagePolicy: FallbackToLogsOnError
      command: [sh, -c, "echo fine"]
"#,
    ),
    s(
        "working-dir",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: d, emptyDir: {}}, {name: out, hostPath: {path: "{dir}"}}]
  containers:
    - name: shell
      image: busybox
      workingDir: /app/data
      command: [sh, -c, "pwd; echo relative > file; cat /app/data/file; touch ready; sleep 1.5"]
      readinessProbe: {exec: {command: [cat, ready]}, initialDelaySeconds: 1, periodSeconds: 1}
    - {name: testkit, image: testkit, workingDir: /etc, args: [cat, testkit.txt]}
    - name: in-a-volume
      image: busybox
      workingDir: /out/made/here
      command: [sh, -c, "pwd > where; ls /out/made"]
      volumeMounts: [{name: out, mountPath: /out}]
"#,
    ),
    s(
        "wasm-file-image",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: out, hostPath: {path: "{dir}"}}]
  containers:
    - name: c
      image: "{busybox.wasm}"
      workingDir: /out/work
      command: [sh, -c, "echo from a wasm file > note; cat /etc/hostname; touch /tmp/ready; sleep 1.5; echo bye > /dev/termination-log; exit 4"]
      readinessProbe: {exec: {command: [cat, /tmp/ready]}, initialDelaySeconds: 1, periodSeconds: 1}
      volumeMounts: [{name: out, mountPath: /out}]
"#,
    ),
    // Processes and signals: TERM reaches a container's main process, pipelines and `&` run
    // child processes, `ps`/`kill` see the container's (or the pod's) processes, `nginx -s`
    // signals the master, and a memory limit covers every process of a container. The pods
    // synchronise through files, never through timing, and print only what must agree: no pids,
    // no process lists (the pause process's command line differs between the backends).
    s(
        "sidecar-traps-term",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  volumes: [{name: d, emptyDir: {}}]
  initContainers:
    # Stopped when the main container is done: the trap runs and exits 0 at once, no kill
    # after the grace period (137 Error).
    - name: side
      image: busybox
      restartPolicy: Always
      # `ready` before the file: a TERM right after the file would run the trap first.
      command: [sh, -c, "trap 'echo got TERM; exit 0' TERM; echo ready; touch /d/trapped; while true; do sleep 1; done"]
      volumeMounts: [{name: d, mountPath: /d}]
  containers:
    - name: main
      image: busybox
      command: [sh, -c, "until [ -f /d/trapped ]; do sleep 0.05; done; echo main done"]
      volumeMounts: [{name: d, mountPath: /d}]
"#,
    ),
    s(
        "nginx-prestop-signals-the-master",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
    # The pod's end stops the sidecar: the preStop hook's `nginx -s` finds the master through
    # /run/nginx.pid and signals it (HUP: it logs the reload and goes on), then TERM stops it
    # (exit 0). Not `nginx -s quit`: this nginx exits on QUIT at once, sometimes before the
    # hook's own `nginx -s` process has exited, and the container's end kills that process, so
    # the Linux hook fails now and then (FailedPreStopHook: CONTAINER_EXITED).
    - name: nginx
      image: nginx
      restartPolicy: Always
      lifecycle: {preStop: {exec: {command: [nginx, -s, reload]}}}
  containers:
    - {name: client, image: busybox, command: [sh, -c, "until wget -q -O /tmp/page http://localhost/ 2>/dev/null; do sleep 0.1; done; grep -o '<h1>.*</h1>' /tmp/page"]}
"#,
    ),
    s(
        "nginx-quits-gracefully",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
    # QUIT while two requests are half sent: nginx stops listening (a new connection is
    # refused), answers the first with Connection: close, and exits 0 once the second client
    # gives up (half a second later, so that its access log line on stdout and its `exit` on
    # stderr, two pipes on Linux, cannot arrive in either order).
    - {name: nginx, image: nginx}
    - name: client
      image: busybox
      command:
        - sh
        - -c
        - |
          until wget -q -O /dev/null http://localhost/ 2>/dev/null; do sleep 0.1; done
          (printf 'GET / HTTP/1.1\r\nHost: x\r\n'; sleep 1; printf '\r\n') | nc localhost 80 > /tmp/resp &
          (printf 'GET / HTTP/1.1\r\n'; sleep 1.5) | nc localhost 80 > /dev/null &
          sleep 0.3
          kill -QUIT $(ps -o pid,comm | grep nginx | tr -s ' ' | cut -d' ' -f2)
          sleep 0.2
          if wget -q -O /dev/null http://localhost/ 2>/dev/null; then echo served; else echo refused; fi
          wait
          head -1 /tmp/resp
          grep -i '^connection:' /tmp/resp
"#,
    ),
    s(
        "tail-f-into-grep-streams",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
    # busybox grep has no --line-buffered: a match read from a pipe goes out as it is found.
    # The app writes its second match only once the first came out of the pipeline, so the
    # pipeline must stream. As in ash, the TERM trap waits for the foreground pipeline, which
    # never ends: the sidecar is killed at the end of the grace period.
    - name: filter
      image: busybox
      restartPolicy: Always
      command: [sh, -c, "trap 'echo filter got TERM; exit 0' TERM; touch /shared/log; tail -f /shared/log | grep x | tee /shared/seen"]
      volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
    - name: app
      image: busybox
      command:
        - sh
        - -c
        - |
          echo "1 x first" >> /shared/log; echo noise >> /shared/log
          until grep -q first /shared/seen 2>/dev/null; do sleep 0.05; done
          echo "first match out while tail -f runs"
          echo "2 x second" >> /shared/log; echo "more noise" >> /shared/log
          until grep -q second /shared/seen; do sleep 0.05; done
          echo "second match out"
      volumeMounts: [{name: shared, mountPath: /shared}]
"#,
    ),
    s(
        "background-jobs-and-wait",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: busybox
      command:
        - sh
        - -c
        - |
          sleep 0.2 & p=$!
          echo started
          [ "$p" -gt 1 ] && echo "\$! is a pid"
          wait $p; echo "waited $?"
          (exit 3) & wait $!; echo "status $?"
          sleep 100 &
          jobs
          kill %1; wait $!; echo "killed $?"
          jobs
          sleep 0.1 & (sleep 0.2; exit 4) & wait; echo "wait for all $?"
          sh -c 'exit 5' & wait $!; echo "child sh $?"
          yes | head -n 2
"#,
    ),
    s(
        "shared-process-namespace-ps-and-kill",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  shareProcessNamespace: true
  volumes: [{name: d, emptyDir: {}}]
  containers:
    # Run as `ash`, so the finder (`sh`) can tell it by its command name.
    - name: target
      image: busybox
      command: [ash, -c, "trap 'echo target got TERM; exit 0' TERM; touch /d/trapped; while true; do sleep 1; done"]
      volumeMounts: [{name: d, mountPath: /d}]
    - name: finder
      image: busybox
      command:
        - sh
        - -c
        - |
          until [ -f /d/trapped ]; do sleep 0.05; done
          ps -o pid,comm | grep '^ *1 ' | grep -qv 'sh$' && echo "PID 1 is the pod's, not a shell"
          pid=$(ps -o pid,comm | grep ' ash$' | head -n 1 | sed 's/^ *//; s/ .*//')
          [ -n "$pid" ] && echo "found ash"
          kill "$pid"; echo "kill $?"
      volumeMounts: [{name: d, mountPath: /d}]
"#,
    ),
    s(
        "child-oom-spares-the-main-process",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
    # printf builds its whole output before writing it: the child asking for 100 MB is by far
    # the largest process (the one the kernel's OOM killer picks on Linux) and dies with 137;
    # the shell goes on and exits 0 (Completed, not OOMKilled). No other process allocates
    # meanwhile: with `yes | head -c N | sort`, head's next pipe write could find the cgroup
    # still full while sort's memory was being uncharged, and the Linux OOM killer then took a
    # second victim (the container's wpod supervisor or its shell), killing the container.
    - name: c
      image: busybox
      resources: {limits: {memory: 32Mi}}
      command:
        - sh
        - -c
        - |
          printf '%1000000s' $(seq 1 3) | wc -c
          true | printf '%1000000s' $(seq 1 100) > /dev/null; echo "pipeline stage: $?"
          printf '%1000000s' $(seq 1 100) > /dev/null & wait $!; echo "background job: $?"
          echo "the main process goes on"
"#,
    ),
    // Services: a ClusterIP in front of three ready pods and one whose readiness probe fails,
    // its DNS names, a headless Service's records, the kubelet's variables, a Service without
    // endpoints refusing, the service account's namespace file.
    stopped_on(
        "service-three-pods",
        r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-pods}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nothing}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: html, emptyDir: {}}]
  initContainers:
  - {name: page, image: busybox, command: [sh, -c, "echo $HOSTNAME > /html/index.html"], volumeMounts: [{name: html, mountPath: /html}]}
  containers:
  - name: nginx
    image: nginx
    ports: [{name: http, containerPort: 80}]
    readinessProbe: {httpGet: {path: /, port: http}, initialDelaySeconds: 1, periodSeconds: 1}
    volumeMounts: [{name: html, mountPath: /usr/share/nginx/html, readOnly: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: html, emptyDir: {}}]
  initContainers:
  - {name: page, image: busybox, command: [sh, -c, "echo $HOSTNAME > /html/index.html"], volumeMounts: [{name: html, mountPath: /html}]}
  containers:
  - name: nginx
    image: nginx
    ports: [{name: http, containerPort: 80}]
    readinessProbe: {httpGet: {path: /, port: http}, initialDelaySeconds: 1, periodSeconds: 1}
    volumeMounts: [{name: html, mountPath: /usr/share/nginx/html, readOnly: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-c, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: html, emptyDir: {}}]
  initContainers:
  - {name: page, image: busybox, command: [sh, -c, "echo $HOSTNAME > /html/index.html"], volumeMounts: [{name: html, mountPath: /html}]}
  containers:
  - name: nginx
    image: nginx
    ports: [{name: http, containerPort: 80}]
    readinessProbe: {httpGet: {path: /, port: http}, initialDelaySeconds: 1, periodSeconds: 1}
    volumeMounts: [{name: html, mountPath: /usr/share/nginx/html, readOnly: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-down, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    ports: [{name: http, containerPort: 80}]
    # Never ready: neither the Service nor the headless one sends it anything.
    readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: busybox
    command:
    - sh
    - -c
    - |
      until [ "$(nslookup web-pods | grep -c '^Address: 10.88')" = 3 ]; do sleep 0.2; done
      # DNS and the Service's data path are programmed apart (CoreDNS and kube-proxy on a
      # cluster, the nft rules here): wait until three requests in a row reach three pods.
      until [ "$(for i in 1 2 3; do wget -q -O - http://web:8080/; done | sort -u | wc -l)" = 3 ]; do sleep 0.2; done
      echo "$WEB_SERVICE_HOST $WEB_SERVICE_PORT_HTTP $WEB_PORT"
      cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo
      nslookup web.default.svc.cluster.local | grep '^Address: '
      nslookup web-pods | grep '^Address: 10.88' | sort
      for i in 1 2 3 4 5 6; do wget -q -O - http://web:8080/; done | sort | uniq -c
      wget -q -O /dev/null http://nobody/ 2>/dev/null || echo refused
"#,
        "-- client/client: exited with code",
    ),
    // A NodePort reached from a pod at the node's address (kube-proxy's nodeports), and a port of
    // the node no Service has refusing.
    s(
        "node-port",
        r#"
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  type: NodePort
  selector: {app: greeter}
  ports: [{port: 80, targetPort: 9000, nodePort: 31941}]
---
apiVersion: v1
kind: Pod
metadata: {name: greeter, labels: {app: greeter}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "echo hello through the node port | nc -l -p 9000"]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command:
    - sh
    - -c
    - |
      # Until the greeter listens and kube-proxy's rules for the node port are in place.
      until out=$(nc 10.88.0.1 31941 < /dev/null 2>/dev/null) && [ -n "$out" ]; do sleep 0.2; done
      echo "$out"
      nc 10.88.0.1 31942 < /dev/null 2>/dev/null || echo refused
"#,
    ),
    // The kubelet's /etc/hosts: the pod's FQDN under its subdomain and `hostAliases`, which
    // name lookups find before the cluster DNS.
    s(
        "hosts-file",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: named}
spec:
  hostname: db-0
  subdomain: db
  restartPolicy: Never
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [foo.local, bar.local]}
  - {ip: 10.1.2.4, hostnames: [foo.local]}
  containers:
  - name: c
    image: busybox
    command:
    - sh
    - -c
    - |
      cat /etc/hosts
      for n in db-0.db.default.svc.cluster.local bar.local foo.local; do
        echo "$n: $(nslookup $n | grep '^Address: ' | tr '\n' ' ')"
      done
"#,
    ),
];

/// One allow-list entry: `SCENARIO KEY -- REASON`.
struct Allowed {
    scenario: String,
    key: String,
    used: std::cell::Cell<bool>,
}

fn allow_list() -> Vec<Allowed> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/allow.txt");
    let text = std::fs::read_to_string(&path).expect("tests/parity/allow.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (entry, reason) = l
                .split_once(" -- ")
                .unwrap_or_else(|| panic!("allow.txt: `{l}` has no ` -- reason`"));
            assert!(
                !reason.trim().is_empty(),
                "allow.txt: `{l}` gives no reason"
            );
            let mut words = entry.split_whitespace();
            let (Some(scenario), Some(key), None) = (words.next(), words.next(), words.next())
            else {
                panic!("allow.txt: `{l}` is not `SCENARIO KEY -- REASON`");
            };
            Allowed {
                scenario: scenario.into(),
                key: key.into(),
                used: std::cell::Cell::new(false),
            }
        })
        .collect()
}

/// One backend's run of a scenario: its normalised outcome, and what wpod printed to stderr (shown
/// when the scenario fails, so a failure on a loaded CI machine can be read from its log).
struct Run {
    outcome: Outcome,
    stderr: String,
}

fn run_on(backend: &str, sc: &Scenario) -> Run {
    let scratch = Scratch::new(&format!("parity-{backend}-{}", sc.name));
    let host = scratch.dir.join("host");
    std::fs::create_dir_all(&host).expect("host dir");
    // `{busybox.wasm}`: the toolbox as a `.wasm` file image (wasmtime inside the Linux container).
    let wasm = scratch.dir.join("busybox.wasm");
    std::fs::copy(concat!(env!("OUT_DIR"), "/busybox.wasm"), &wasm).expect("busybox.wasm");
    let manifest = sc
        .manifest
        .replace("{dir}", &host.to_string_lossy())
        .replace("{busybox.wasm}", &wasm.to_string_lossy());
    let file = scratch.write("pod.yaml", manifest);
    let mut cmd = wpod();
    cmd.args([
        "run",
        "-o",
        "json",
        "--color",
        "never",
        "--timeout",
        "30s",
        "--backend",
        backend,
    ])
    .args(sc.args)
    .arg(&file)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().expect("run wpod");
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signalling our own child process, not waited for until its output has ended.
    let term = move || unsafe { libc_kill(pid, 15) };
    let mut stdout = child.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let timer = match sc.term {
        Term::After(after) => Some(std::thread::spawn(move || {
            std::thread::sleep(after);
            term();
        })),
        Term::Never | Term::On(_) => None,
    };
    let mut stderr = String::new();
    let mut sent = false;
    for line in BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .map_while(Result::ok)
    {
        if let Term::On(start) = sc.term
            && !sent
            && line.starts_with(start)
        {
            sent = true;
            term();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    if let Some(timer) = timer {
        timer.join().expect("timer");
    }
    let status = child.wait().expect("wait for wpod");
    let stdout = stdout.join().expect("stdout reader");
    // Shown with --nocapture: where the suite's time goes.
    eprintln!(
        "parity: {} on {backend} took {:.2}s",
        sc.name,
        started.elapsed().as_secs_f64()
    );
    let mut outcome = parity::outcome(status.code().unwrap_or(-1), &stdout, &stderr);
    parity::add_files(&mut outcome, &host);
    Run { outcome, stderr }
}

// The C library's, declared here: the test binary has no libc crate of its own.
unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    fn geteuid() -> u32;
}

/// The last `n` lines of `text`, leaving out nginx's access log lines of probe requests (one a
/// second per pod would fill them).
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"kube-probe/"))
        .collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    out.push('\n');
    out
}

/// Why the Linux backend cannot run here, if it cannot.
fn linux_unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("the Linux backend needs Linux".into());
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { geteuid() } != 0 {
        return Some(
            "not root: rootless Linux pods have no memory limits and no pod IPs, so parity needs root"
                .into(),
        );
    }
    let r = run_json(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: probe}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: testkit, command: [testkit, exit, \"0\"]}]\n",
        &["--backend", "linux"],
    );
    (r.code != 0).then(|| {
        format!(
            "a trivial pod fails on the Linux backend: {}",
            r.stderr.trim()
        )
    })
}

#[test]
fn parity_suite() {
    assert!(
        SCENARIOS.len() >= 30,
        "the suite promises at least 30 scenarios"
    );
    if let Some(why) = linux_unavailable() {
        if std::env::var_os("WPOD_REQUIRE_LINUX").is_some_and(|v| v == "1") {
            panic!("parity suite cannot run and WPOD_REQUIRE_LINUX=1: {why}");
        }
        eprintln!("parity suite SKIPPED: {why}");
        return;
    }
    // `WPOD_PARITY_SCENARIOS=a,b` runs only those (while working on them).
    let only = std::env::var("WPOD_PARITY_SCENARIOS").ok();
    let chosen: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|sc| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == sc.name))
        })
        .collect();
    assert!(
        !chosen.is_empty(),
        "WPOD_PARITY_SCENARIOS names no scenario"
    );
    let allowed: Vec<Allowed> = allow_list()
        .into_iter()
        .filter(|a| only.is_none() || chosen.iter().any(|sc| sc.name == a.scenario))
        .collect();
    // Three scenarios at a time, each on both backends at once: the runs mostly wait on their
    // guests, but timing-sensitive ones must not starve.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, Run, Run)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(sc) = chosen.get(i) else { break };
                        let (wasm, linux) = std::thread::scope(|both| {
                            let wasm = both.spawn(|| run_on("wasm", sc));
                            let linux = run_on("linux", sc);
                            (wasm.join().expect("wasm run"), linux)
                        });
                        mine.push((i, wasm, linux));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut failures = String::new();
    let mut logs = String::new();
    for (i, wasm, linux) in results {
        let sc = chosen[i];
        let before = failures.len();
        for d in parity::differences(&wasm.outcome, &linux.outcome) {
            match allowed
                .iter()
                .find(|a| a.scenario == sc.name && a.key == d.key)
            {
                Some(a) => a.used.set(true),
                None => failures.push_str(&format!(
                    "scenario {}:\n{}",
                    sc.name,
                    parity::render(std::slice::from_ref(&d), "wasm", "linux")
                )),
            }
        }
        if failures.len() > before {
            for (backend, run) in [("wasm", &wasm), ("linux", &linux)] {
                logs.push_str(&format!(
                    "--- {} on {backend}, the last lines wpod printed:\n{}",
                    sc.name,
                    tail(&run.stderr, 30)
                ));
            }
        }
    }
    for a in allowed.iter().filter(|a| !a.used.get()) {
        failures.push_str(&format!(
            "allow.txt: `{} {}` matches no difference any more: remove it\n",
            a.scenario, a.key
        ));
    }
    assert!(
        failures.is_empty(),
        "parity differences not in tests/parity/allow.txt:\n{failures}{logs}"
    );
}

#[test]
fn parity_command_prints_differences_side_by_side() {
    if let Some(why) = linux_unavailable() {
        if std::env::var_os("WPOD_REQUIRE_LINUX").is_some_and(|v| v == "1") {
            panic!("wpod parity cannot be tested and WPOD_REQUIRE_LINUX=1: {why}");
        }
        eprintln!("wpod parity test SKIPPED: {why}");
        return;
    }
    let s = Scratch::new("parity-cli");
    let same = s.write(
        "same.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: testkit, args: [echo, hi]}]\n",
    );
    let r = run_args(&["parity", &same.to_string_lossy()]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no differences\n"),
        "{r:?}"
    );
    // A write to a readOnly mount: EROFS on both, but WASI numbers it 69 and Linux 30 (allow.txt).
    let host = s.dir.join("host");
    std::fs::create_dir_all(&host).expect("host dir");
    let differs = s.write(
        "ro.yaml",
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  restartPolicy: Never\n  volumes: [{{name: h, hostPath: {{path: \"{}\"}}}}]\n  containers: [{{name: c, image: testkit, command: [testkit, write, /ro/x, data], volumeMounts: [{{name: h, mountPath: /ro, readOnly: true}}]}}]\n",
            host.display()
        ),
    );
    let r = run_args(&["parity", &differs.to_string_lossy()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.starts_with("p.c.log\n"), "{r:?}");
    assert!(
        r.stdout.contains("| linux") && r.stdout.contains("Read-only file system"),
        "{r:?}"
    );
}
