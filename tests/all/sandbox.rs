//! The pod's infra container: the pod's sandbox lives as long as it does. When it dies, the
//! kubelet stops the containers, creates a new sandbox and starts them again (SandboxChanged).

use crate::support::*;

fn events(r: &Run, reason: &str) -> usize {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("-- ") && l.contains(&format!(": {reason}:")))
        .count()
}

#[test]
fn a_killed_infra_container_is_recreated_and_the_containers_restart() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: init, image: busybox, command: [sh, -c, 'echo init ran']}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'trap "echo got TERM; exit 0" TERM; echo up; sleep 60 & wait']
"#,
            &[
                "--backend",
                backend,
                "--kill-infra-after",
                "1500ms",
                "--timeout",
                "4s",
            ],
        );
        assert_eq!(r.code, 124, "{backend}: {}", r.stderr);
        assert_eq!(events(&r, "SandboxChanged"), 1, "{backend}: {}", r.stderr);
        // The kubelet stops the containers gracefully (TERM), then starts the pod again from its
        // first init container in the new sandbox.
        // (And TERM again when --timeout stops the pod.)
        assert!(
            said(&r, "app").starts_with("up\ngot TERM\nup\n"),
            "{backend}: {}",
            r.stderr
        );
        assert_eq!(said(&r, "init"), "init ran\ninit ran\n", "{backend}");
        let pod = r.json();
        assert_eq!(phase(&pod), "Running", "{backend}: {pod:#}");
        let app = container(&pod, "app");
        assert_eq!(app["restartCount"], 1, "{backend}: {app:#}");
        assert_eq!(
            app["lastState"]["terminated"]["exitCode"], 0,
            "{backend}: {app:#}"
        );
        assert!(app["state"]["running"].is_object(), "{backend}: {app:#}");
        assert!(pod["status"]["podIP"].is_string(), "{backend}: {pod:#}");
    });
}

#[test]
fn kill_1_in_a_shared_process_namespace_ends_the_sandbox() {
    // With shareProcessNamespace the pause container is PID 1 of the pod: TERM ends it (as the
    // real pause does), and the kernel then kills every process of the namespace.
    on_backends(|backend| {
        let s = Scratch::new("kill-1");
        let marker = s.dir.join("marker");
        let r = run_json(
            &format!(
                r#"
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
  shareProcessNamespace: true
  restartPolicy: OnFailure
  volumes: [{{name: v, hostPath: {{path: "{}", type: DirectoryOrCreate}}}}]
  containers:
  - name: app
    image: busybox
    volumeMounts: [{{name: v, mountPath: /v}}]
    command: [sh, -c, 'if [ -e /v/killed ]; then echo second life; exit 0; fi; echo PID 1 is $(ps -o pid,comm | grep "^ *1 " | tr -s " " | cut -d" " -f3); touch /v/killed; kill 1; sleep 30']
"#,
                marker.display()
            ),
            &["--backend", backend, "--timeout", "20s"],
        );
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
        assert_eq!(events(&r, "SandboxChanged"), 1, "{backend}: {}", r.stderr);
        assert_eq!(
            said(&r, "app"),
            "PID 1 is pause\nsecond life\n",
            "{backend}: {}",
            r.stderr
        );
        let pod = r.json();
        assert_eq!(phase(&pod), "Succeeded", "{backend}: {pod:#}");
        let app = container(&pod, "app");
        assert_eq!(app["restartCount"], 1, "{backend}: {app:#} {}", r.stderr);
        // Killed by the kernel with the namespace's init, not by the kubelet's TERM.
        assert_eq!(
            app["lastState"]["terminated"]["exitCode"], 137,
            "{backend}: {app:#}"
        );
    });
}

#[test]
fn a_dead_infra_container_ends_a_never_restarting_pod() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'trap "exit 143" TERM; sleep 60 & wait']
"#,
            &[
                "--backend",
                backend,
                "--kill-infra-after",
                "1s",
                "--timeout",
                "20s",
            ],
        );
        assert_eq!(events(&r, "SandboxChanged"), 1, "{backend}: {}", r.stderr);
        let pod = r.json();
        assert_eq!(phase(&pod), "Failed", "{backend}: {pod:#}");
        let app = container(&pod, "app");
        assert_eq!(app["restartCount"], 0, "{backend}: {app:#}");
        assert_eq!(
            app["state"]["terminated"]["exitCode"], 143,
            "{backend}: {app:#}"
        );
    });
}

#[test]
fn a_recreated_sandbox_publishes_its_host_port_again() {
    on_backends(|backend| {
        let port = free_port();
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n    ports: [{{containerPort: 80, hostPort: {port}}}]\n"
        );
        let extra = [
            "--backend",
            backend,
            "--kill-infra-after",
            "1s",
            "--timeout",
            "30s",
        ];
        let mut starts = 0;
        let mut answer = String::new();
        let r = run_ending_when(&manifest, &extra, |line| {
            // The second nginx is in the new sandbox: its hostPort must answer again. (Its log
            // and the Started event come in either order.)
            if line.contains("start worker process") {
                starts += 1;
                if starts == 2 {
                    answer = http_get(port);
                    return true;
                }
            }
            false
        });
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{backend}: {answer:?} {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("FailedCreatePodSandBox"),
            "{backend}: {}",
            r.stderr
        );
    });
}
