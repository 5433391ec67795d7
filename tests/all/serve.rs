//! `wpod serve` driven by the real kubectl: apply, get (table, wide, yaml), watch, apply again,
//! a typo'd field, a wrong token, restart persistence, delete with --wait, hostPorts.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, http_get, wpod};

/// The machine's kubectl; CI installs one, so its absence is a failure, not a skip.
pub(crate) fn kubectl(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(args)
        .output()
        .expect("kubectl runs (CI installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `wpod serve` and waits for its `export KUBECONFIG=...` line.
pub(crate) fn serve(dir: &Path, port: u16) -> (Server, PathBuf) {
    serve_with(dir, port, &[])
}

pub(crate) fn serve_with(dir: &Path, port: u16, extra: &[&str]) -> (Server, PathBuf) {
    let mut child = wpod()
        // Its own image store: what its pods pull stays with its data.
        .env("WPOD_IMAGE_STORE", dir.join("images"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wpod serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the first line");
    let config = line
        .trim()
        .strip_prefix("export KUBECONFIG=")
        .unwrap_or_else(|| panic!("wpod serve printed {line:?}"))
        .to_string();
    (Server(child), PathBuf::from(config))
}

/// A `wpod serve` that stops when dropped, so a failed assertion cannot leave it running (and
/// holding its data directory).
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        for _ in 0..2 {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn stop(server: Server) {
    drop(server);
}

pub(crate) fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn phase(config: &Path) -> String {
    kubectl(
        config,
        &["get", "pod", "nginx-pod", "-o", "jsonpath={.status.phase}"],
    )
    .1
}

#[test]
fn kubectl_applies_gets_watches_and_deletes_a_pod() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    let (server, config) = serve(&dir, free_port());

    let (ok, out, err) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok && out.contains("pod/nginx-pod created"), "{out}{err}");
    wait_for("nginx-pod Running", || phase(&config) == "Running");
    let (_, table, _) = kubectl(&config, &["get", "pods"]);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        row.get(..4),
        Some(&["nginx-pod", "1/1", "Running", "0"][..]),
        "{table}"
    );
    let (_, wide, _) = kubectl(&config, &["get", "pods", "-o", "wide"]);
    assert!(wide.contains("NODE") && wide.contains(" wpod"), "{wide}");
    let (_, yaml, _) = kubectl(&config, &["get", "pod", "nginx-pod", "-o", "yaml"]);
    assert!(
        yaml.contains("nodeName: wpod") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let (ok, out, _) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok && out.contains("pod/nginx-pod unchanged"), "{out}");
    let (ok, logs, err) = kubectl(&config, &["logs", "nginx-pod", "--tail", "1"]);
    assert!(ok && logs.contains("start worker process"), "{logs}{err}");
    let (_, described, _) = kubectl(&config, &["describe", "pod", "nginx-pod"]);
    assert!(
        described.contains("Scheduled") && described.contains("Started container nginx"),
        "the kubelet's events under the pod: {described}"
    );

    // A typo is refused with the field and a suggestion, and harms nothing else.
    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, "apiVersion: v1\nkind: Pod\nmetadata: {name: typo}\nspec:\n  containers:\n  - name: a\n    image: busybox\n    comand: [sh]\n").expect("write");
    let (ok, _, err) = kubectl(&config, &["apply", "-f", typo.to_str().unwrap_or_default()]);
    assert!(
        !ok && err.contains("spec.containers[0].comand") && err.contains("command"),
        "{err}"
    );
    let (ok, _, err) = kubectl(&config, &["--token", "wrong", "get", "pods"]);
    assert!(!ok && err.contains("Unauthorized"), "{err}");

    // A restart loses nothing: the pod runs again in a new sandbox.
    stop(server);
    let (server, config) = serve(&dir, free_port_again(&config));
    wait_for("nginx-pod Running after a restart", || {
        phase(&config) == "Running"
    });

    // get -w sees the deletion; delete waits until the pod is gone.
    let mut watch = Command::new("kubectl")
        .env("KUBECONFIG", &config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl get -w");
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out, err) = kubectl(&config, &["delete", "pod", "nginx-pod", "--grace-period=1"]);
    assert!(
        ok && out.contains("pod \"nginx-pod\" deleted"),
        "{out}{err}"
    );
    let (_, left, _) = kubectl(&config, &["get", "pods", "-o", "name"]);
    assert_eq!(left.trim(), "", "delete waited for the pod to go");
    let _ = watch.kill();
    let watched = watch.wait_with_output().expect("watch output");
    let watched = String::from_utf8_lossy(&watched.stdout);
    assert!(
        watched.contains("Running") && watched.contains("Terminating"),
        "{watched}"
    );
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The port of the server the kubeconfig names, to start the next one where clients expect it.
fn free_port_again(config: &Path) -> u16 {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server: https://127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(free_port)
}

#[test]
fn a_pods_host_port_lives_as_long_as_its_sandbox() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-hp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let host_port = free_port();
    let manifest = dir.join("hp.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: hp}}\nspec:\n  containers:\n  - name: web\n    image: testkit\n    \
             command: [testkit, serve, \"0.0.0.0:8080\", through-the-seam]\n    ports: [{{containerPort: 8080, hostPort: {host_port}}}]\n"
        ),
    )
    .expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    wait_for("hp Running", || {
        kubectl(
            &config,
            &["get", "pod", "hp", "-o", "jsonpath={.status.phase}"],
        )
        .1 == "Running"
    });
    let mut page = String::new();
    wait_for("the hostPort answers", || {
        page = http_get(host_port);
        page.contains("through-the-seam")
    });
    // It arrives from the node's address on the pod network, as through a CNI portmap.
    let (_, logs, _) = kubectl(&config, &["logs", "hp"]);
    assert!(
        logs.contains("10.88.0.1:") && logs.contains("GET / HTTP/1.1"),
        "{logs}"
    );
    let (ok, out, err) = kubectl(&config, &["delete", "pod", "hp", "--grace-period=1"]);
    assert!(ok, "{out}{err}");
    // The node keeps running; the deleted pod's port is free for the next one.
    std::net::TcpListener::bind(("127.0.0.1", host_port))
        .expect("the hostPort closed with the pod");
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kubectl_logs_previous_shows_the_instance_before_a_restart() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-prev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let manifest = dir.join("restarts.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: restarts}\nspec:\n  terminationGracePeriodSeconds: 0\n  \
         volumes: [{name: d, emptyDir: {}}]\n  containers:\n  - name: app\n    image: busybox\n    \
         volumeMounts: [{name: d, mountPath: /d}]\n    \
         command: [sh, -c, 'echo x >> /d/n; echo run $(wc -l < /d/n); [ $(wc -l < /d/n) -ge 2 ] && sleep 600; sleep 5; exit 1']\n",
    )
    .expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    // Before any restart (the first run lives 5 s) there is no previous instance, and kubectl
    // says so as with a kubelet.
    wait_for("the first run's line", || {
        kubectl(&config, &["logs", "restarts"]).1.contains("run 1")
    });
    let (ok, _, err) = kubectl(&config, &["logs", "restarts", "--previous"]);
    assert!(
        !ok && err.contains("previous terminated container \"app\" in pod \"restarts\" not found"),
        "{err}"
    );
    wait_for("the second run's line", || {
        kubectl(&config, &["logs", "restarts"]).1.contains("run 2")
    });
    let (_, current, _) = kubectl(&config, &["logs", "restarts"]);
    let (ok, previous, err) = kubectl(&config, &["logs", "restarts", "-p"]);
    assert_eq!(current.trim(), "run 2", "{current}");
    assert!(ok && previous.trim() == "run 1", "{previous}{err}");
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn field(config: &Path, pod: &str, path: &str) -> String {
    kubectl(
        config,
        &["get", "pod", pod, "-o", &format!("jsonpath={{{path}}}")],
    )
    .1
}

/// Every way kubectl changes an object: apply of a changed file, patch in its three kinds, edit,
/// and a replace that names a stale resourceVersion; a change Kubernetes forbids is refused.
#[test]
fn kubectl_apply_patch_and_edit_change_a_running_pod() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-patch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let manifest = dir.join("app.yaml");
    let pod = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: app}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {image}\n    command: [sleep, '3600']\n"
        )
    };
    let path = manifest.to_str().unwrap_or_default();
    std::fs::write(&manifest, pod("busybox:1.28")).expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", path]);
    assert!(ok && out.contains("pod/app created"), "{out}{err}");
    wait_for("app Running", || {
        field(&config, "app", ".status.phase") == "Running"
    });

    let (ok, out, _) = kubectl(&config, &["apply", "-f", path]);
    assert!(ok && out.contains("pod/app unchanged"), "{out}");
    std::fs::write(&manifest, pod("busybox:1.36")).expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", path]);
    assert!(ok && out.contains("pod/app configured"), "{out}{err}");
    assert_eq!(
        field(&config, "app", ".spec.containers[0].image"),
        "busybox:1.36"
    );
    wait_for("the container restarted with its new image", || {
        field(&config, "app", ".status.containerStatuses[0].restartCount") == "1"
            && field(&config, "app", ".status.containerStatuses[0].image") == "busybox:1.36"
    });

    let (ok, out, err) = kubectl(
        &config,
        &[
            "patch",
            "pod",
            "app",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"tier":"web"}}}"#,
        ],
    );
    assert!(ok && out.contains("pod/app patched"), "{out}{err}");
    assert_eq!(field(&config, "app", ".metadata.labels.tier"), "web");
    let (ok, out, err) = kubectl(
        &config,
        &[
            "patch",
            "pod",
            "app",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/metadata/annotations","value":{"note":"json"}}]"#,
        ],
    );
    assert!(ok && out.contains("pod/app patched"), "{out}{err}");
    assert_eq!(field(&config, "app", ".metadata.annotations.note"), "json");
    // A strategic merge patch merges containers by name: the command stays.
    let (ok, out, err) = kubectl(
        &config,
        &[
            "patch",
            "pod",
            "app",
            "-p",
            r#"{"spec":{"containers":[{"name":"app","image":"busybox:1.28"}]}}"#,
        ],
    );
    assert!(ok && out.contains("pod/app patched"), "{out}{err}");
    assert_eq!(
        field(&config, "app", ".spec.containers[0].image"),
        "busybox:1.28"
    );
    assert_eq!(
        field(&config, "app", ".spec.containers[0].command[0]"),
        "sleep"
    );

    let edited = Command::new("kubectl")
        .env("KUBECONFIG", &config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .env("KUBE_EDITOR", "sed -i s/busybox:1.28/busybox:1.36/")
        .args(["edit", "pod", "app"])
        .output()
        .expect("kubectl edit");
    let out = String::from_utf8_lossy(&edited.stdout);
    assert!(
        edited.status.success() && out.contains("pod/app edited"),
        "{out}{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        field(&config, "app", ".spec.containers[0].image"),
        "busybox:1.36"
    );

    // Only images may change in a pod's spec.
    let (ok, _, err) = kubectl(
        &config,
        &[
            "patch",
            "pod",
            "app",
            "-p",
            r#"{"spec":{"restartPolicy":"Never"}}"#,
        ],
    );
    assert!(!ok && err.contains("image"), "{err}");
    assert_ne!(field(&config, "app", ".spec.restartPolicy"), "Never");

    // A write based on an old read is a 409 Conflict.
    let (_, stale, _) = kubectl(&config, &["get", "pod", "app", "-o", "json"]);
    let (ok, _, _) = kubectl(&config, &["label", "pod", "app", "seen=yes"]);
    assert!(ok);
    let stale_file = dir.join("stale.json");
    std::fs::write(&stale_file, stale).expect("write");
    let (ok, _, err) = kubectl(
        &config,
        &["replace", "-f", stale_file.to_str().unwrap_or_default()],
    );
    assert!(
        !ok && err.contains("Operation cannot be fulfilled") && err.contains("has been modified"),
        "{err}"
    );
    // Server-side apply is not served; kubectl is told so instead of a wrong merge.
    let (ok, _, err) = kubectl(&config, &["apply", "--server-side", "-f", path]);
    assert!(!ok, "{err}");
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_node_its_namespaces_and_their_service_accounts_are_served() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-ns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());

    let (ok, nodes, err) = kubectl(&config, &["get", "nodes", "-o", "wide"]);
    let row: Vec<&str> = nodes
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert!(
        ok && row.get(..3) == Some(&["wpod", "Ready", "control-plane"][..]),
        "{nodes}{err}"
    );
    assert!(
        nodes.contains("127.0.0.1") && nodes.contains("wasm://"),
        "{nodes}"
    );
    let (_, described, _) = kubectl(&config, &["describe", "node", "wpod"]);
    assert!(
        described.contains("KubeletReady")
            && described
                .lines()
                .any(|l| l.split_whitespace().eq(["pods:", "110"])),
        "{described}"
    );

    let manifest = dir.join("ns.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept, namespace: demo, labels: {keep: \"yes\"}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone, namespace: demo, labels: {keep: \"no\"}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: talker, namespace: demo}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  \
         - name: c\n    image: busybox\n    command: [sh, -c, 'echo early; sleep 3; echo late; sleep 1000']\n",
    )
    .expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    let (_, sa, _) = kubectl(&config, &["get", "serviceaccounts", "-n", "demo"]);
    assert!(
        sa.lines().nth(1).is_some_and(|l| l.starts_with("default ")),
        "{sa}"
    );

    // DELETE on a collection takes the selected objects only.
    let (ok, out, err) = kubectl(
        &config,
        &[
            "delete",
            "--raw",
            "/api/v1/namespaces/demo/configmaps?labelSelector=keep%3Dno",
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, cms, _) = kubectl(&config, &["get", "cm", "-n", "demo", "-o", "name"]);
    // Every namespace also has the cluster CA's ConfigMap, as the root-ca-cert-publisher makes it.
    assert_eq!(
        cms.trim(),
        "configmap/kept\nconfigmap/kube-root-ca.crt",
        "{cms}"
    );

    wait_for("the late line", || {
        kubectl(&config, &["logs", "-n", "demo", "talker"])
            .1
            .contains("late")
    });
    let (_, recent, _) = kubectl(&config, &["logs", "-n", "demo", "talker", "--since=2s"]);
    // -f of a finished container prints its log and ends, as the kubelet's does.
    let manifest_done = dir.join("done.yaml");
    std::fs::write(
        &manifest_done,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: demo}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - {name: c, image: busybox, command: [sh, -c, 'echo first; sleep 1; echo last']}\n",
    )
    .expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest_done.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    wait_for("done Running", || {
        kubectl(
            &config,
            &[
                "get",
                "pod",
                "done",
                "-n",
                "demo",
                "-o",
                "jsonpath={.status.phase}",
            ],
        )
        .1 != "Pending"
    });
    let (ok, followed, err) = kubectl(&config, &["logs", "-f", "-n", "demo", "done"]);
    assert!(
        ok && followed == "first\nlast\n",
        "kubectl logs -f ends with the container: {followed:?}{err}"
    );
    assert!(
        !recent.contains("early"),
        "--since=2s leaves out what came 3 s before: {recent}"
    );
    let (_, all, _) = kubectl(&config, &["logs", "-n", "demo", "talker", "--since=1h"]);
    assert!(all.contains("early") && all.contains("late"), "{all}");

    // Deleting a namespace deletes what it holds, its pods gracefully, then itself.
    let (ok, out, err) = kubectl(&config, &["delete", "namespace", "demo", "--wait"]);
    assert!(ok, "{out}{err}");
    let (_, left, _) = kubectl(&config, &["get", "pods,cm,sa", "-A", "-o", "name"]);
    assert!(!left.contains("talker") && !left.contains("kept"), "{left}");
    let (ok, _, err) = kubectl(&config, &["delete", "namespace", "default"]);
    assert!(!ok && err.contains("may not be deleted"), "{err}");
    stop(server);
}

#[test]
fn kubectl_get_watch_streams_a_pod_from_pending_to_running() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let mut watcher = Command::new("kubectl")
        .env("KUBECONFIG", &config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(["get", "pods", "--watch", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = watcher.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The watch is open once kubectl has listed (it prints nothing for no pods); give it time.
    std::thread::sleep(Duration::from_secs(1));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok, "{out}{err}");
    let mut rows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rows.iter().any(|r: &String| r.contains(" Running ")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => rows.push(line),
            Err(_) => panic!("no Running row within 30 s: {rows:#?}"),
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let first = rows
        .iter()
        .find(|r| r.contains("nginx-pod"))
        .cloned()
        .unwrap_or_default();
    assert!(
        first.starts_with("ADDED")
            && (first.contains(" Pending ") || first.contains(" ContainerCreating ")),
        "the first row is the new pod, not yet running: {rows:#?}"
    );
    assert!(
        rows.last()
            .is_some_and(|r| r.starts_with("MODIFIED") && r.contains(" 1/1 ")),
        "{rows:#?}"
    );
    stop(server);
}

#[test]
fn wpod_kubeconfig_merge_adds_the_context_and_keeps_the_others() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir.join("data"), free_port());
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".kube")).expect("mkdir");
    std::fs::write(
        home.join(".kube/config"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: \"https://192.0.2.1:6443\"}\n\
         users:\n- name: other\n  user: {token: abc}\ncontexts:\n- name: other\n  context: {cluster: other, user: other}\n\
         current-context: other\n",
    )
    .expect("write");
    // As a user who exported the KUBECONFIG wpod serve printed: the merge goes to their own.
    let merged = wpod()
        .env("KUBECONFIG", &config)
        .env("HOME", &home)
        .args(["kubeconfig", "--merge", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .expect("wpod kubeconfig --merge");
    assert!(merged.status.success(), "{merged:?}");
    let kubectl_home = |args: &[&str]| {
        let out = Command::new("kubectl")
            .env_remove("KUBECONFIG")
            .env("HOME", &home)
            .args(args)
            .output()
            .expect("kubectl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let contexts = kubectl_home(&["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        contexts.split_whitespace().collect::<Vec<_>>(),
        ["other", "wpod"]
    );
    assert_eq!(kubectl_home(&["config", "current-context"]).trim(), "wpod");
    assert!(kubectl_home(&["get", "nodes", "-o", "name"]).contains("node/wpod"));
    stop(server);
}

/// kubectl's typed commands send protobuf; `kubectl run` sends JSON.
#[test]
fn kubectl_create_and_run_make_their_objects() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-create-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    for args in [
        &["create", "namespace", "shop"][..],
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--from-literal=color=blue",
        ],
        &[
            "create",
            "secret",
            "generic",
            "login",
            "-n",
            "shop",
            "--from-literal=password=hunter2",
        ],
        &["create", "serviceaccount", "robot", "-n", "shop"],
        &[
            "run",
            "hello",
            "-n",
            "shop",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "echo $COLOR",
        ],
    ] {
        let (ok, out, err) = kubectl(&config, args);
        assert!(ok, "kubectl {args:?}: {out}{err}");
    }
    let get = |args: &[&str]| kubectl(&config, args).1;
    assert_eq!(
        get(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "blue"
    );
    assert_eq!(
        get(&[
            "get",
            "secret",
            "login",
            "-n",
            "shop",
            "-o",
            "jsonpath={.type} {.data.password}"
        ]),
        "Opaque aHVudGVyMg=="
    );
    assert!(get(&["get", "sa", "-n", "shop", "-o", "name"]).contains("serviceaccount/robot"));
    let secrets = get(&["get", "secrets", "-n", "shop"]);
    let row: Vec<&str> = secrets
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        row.get(..3),
        Some(&["login", "Opaque", "1"][..]),
        "{secrets}"
    );
    wait_for("hello Succeeded", || {
        get(&[
            "get",
            "pod",
            "hello",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.phase}",
        ]) == "Succeeded"
    });
    stop(server);
}

#[test]
fn the_linux_backend_serves_the_same_pod() {
    if !crate::support::linux_backend() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wpod-serve-linux-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve_with(&dir, free_port(), &["--backend", "linux"]);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok, "{out}{err}");
    wait_for("nginx-pod Running", || phase(&config) == "Running");
    let runtime = kubectl(
        &config,
        &[
            "get",
            "node",
            "wpod",
            "-o",
            "jsonpath={.status.nodeInfo.containerRuntimeVersion}",
        ],
    )
    .1;
    assert!(runtime.starts_with("linux://"), "{runtime}");
    assert!(field(&config, "nginx-pod", ".status.podIP").starts_with("10."));
    let (ok, logs, err) = kubectl(&config, &["logs", "nginx-pod"]);
    assert!(ok && logs.contains("start worker process"), "{logs}{err}");
    let (ok, out, err) = kubectl(&config, &["delete", "pod", "nginx-pod", "--wait"]);
    assert!(ok, "{out}{err}");
    stop(server);
}

/// OpenAPI v3 (explain, and kubectl learning the server validates fields), fieldValidation's
/// three modes, and dry runs that change nothing.
#[test]
fn kubectl_explain_field_validation_and_dry_runs() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-openapi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let (ok, explained, err) =
        kubectl(&config, &["explain", "pod.spec.containers.imagePullPolicy"]);
    assert!(
        ok && explained.contains("FIELD: imagePullPolicy <string>"),
        "{explained}{err}"
    );
    assert!(
        explained.contains("IfNotPresent"),
        "the field's documentation: {explained}"
    );

    let typo = dir.join("cm.yaml");
    std::fs::write(
        &typo,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndta: {a: b}\n",
    )
    .expect("write");
    let file = typo.to_string_lossy().into_owned();
    let (ok, _, err) = kubectl(&config, &["apply", "-f", &file]);
    assert!(
        !ok && err.contains("strict decoding error: unknown field \"dta\""),
        "kubectl's default is Strict: {err}"
    );
    let (ok, _, err) = kubectl(&config, &["apply", "-f", &file, "--validate=warn"]);
    assert!(
        ok && err.contains("Warning: unknown field \"dta\""),
        "{err}"
    );
    let (_, stored, _) = kubectl(&config, &["get", "cm", "t", "-o", "json"]);
    assert!(
        !stored.contains("dta\""),
        "the unknown field is dropped: {stored}"
    );

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", example, "--dry-run=server"]);
    assert!(ok && out.contains("(server dry run)"), "{out}{err}");
    let (_, pods, _) = kubectl(&config, &["get", "pods", "-o", "name"]);
    assert_eq!(pods.trim(), "", "a dry run creates nothing");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok, "{out}{err}");
    wait_for("nginx-pod Running", || phase(&config) == "Running");
    let changed = dir.join("nginx.yaml");
    let text = std::fs::read_to_string(example).expect("read");
    std::fs::write(&changed, text.replace("image: nginx", "image: nginx:1.27")).expect("write");
    let (ok, diff, _) = kubectl(&config, &["diff", "-f", &changed.to_string_lossy()]);
    assert!(
        !ok && diff.contains("+  - image: nginx:1.27"),
        "kubectl diff: {diff}"
    );
    let (ok, out, err) = kubectl(&config, &["delete", "pod", "nginx-pod", "--dry-run=server"]);
    assert!(ok && out.contains("(server dry run)"), "{out}{err}");
    assert_eq!(phase(&config), "Running");
    assert!(
        field(&config, "nginx-pod", ".metadata.deletionTimestamp").is_empty(),
        "a dry-run delete leaves the pod alone"
    );
    assert_eq!(
        field(&config, "nginx-pod", ".spec.containers[0].image"),
        "nginx:latest"
    );

    // A quiet watch gets a bookmark before its timeout ends it.
    let (ok, watched, err) = kubectl(
        &config,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=3",
        ],
    );
    assert!(
        ok && watched.contains(r#""type":"BOOKMARK""#),
        "{watched}{err}"
    );
    stop(server);
}

/// The spec fields Kubernetes lets a running pod change besides images: a new or shorter
/// activeDeadlineSeconds (which the kubelet then enforces) and added tolerations.
#[test]
fn a_running_pods_deadline_and_tolerations_may_change_as_kubernetes_allows() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-deadline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let manifest = dir.join("sleeper.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  activeDeadlineSeconds: 3600\n  \
         terminationGracePeriodSeconds: 1\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    \
         command: [sleep, '1000']\n",
    )
    .expect("write");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    wait_for("sleeper Running", || {
        field(&config, "sleeper", ".status.phase") == "Running"
    });
    let patch = |body: &str| {
        kubectl(
            &config,
            &["patch", "pod", "sleeper", "--type=merge", "-p", body],
        )
    };
    let (ok, _, err) = patch(r#"{"spec":{"activeDeadlineSeconds":7200}}"#);
    assert!(
        !ok && err.contains("activeDeadlineSeconds may only be shortened"),
        "{err}"
    );
    let (ok, out, err) = patch(r#"{"spec":{"tolerations":[{"key":"k","operator":"Exists"}]}}"#);
    assert!(ok, "adding a toleration: {out}{err}");
    let (ok, _, err) = patch(r#"{"spec":{"tolerations":[]}}"#);
    assert!(!ok && err.contains("tolerations"), "removing one: {err}");
    let (ok, out, err) = patch(r#"{"spec":{"activeDeadlineSeconds":1}}"#);
    assert!(ok, "shortening the deadline: {out}{err}");
    wait_for("sleeper Failed by its deadline", || {
        field(&config, "sleeper", ".status.phase") == "Failed"
    });
    assert_eq!(
        field(&config, "sleeper", ".status.reason"),
        "DeadlineExceeded"
    );
    stop(server);
}

/// The same manifest gives the same pod status through `wpod run` and through `wpod serve`.
#[test]
fn wpod_run_and_wpod_serve_agree_on_a_pods_status() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-agree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: agree}\nspec:\n  restartPolicy: Never\n  initContainers:\n  \
         - name: setup\n    image: busybox\n    command: [sh, -c, 'echo ready']\n  containers:\n  \
         - name: good\n    image: busybox\n    command: [sh, -c, 'echo fine']\n    resources: {limits: {memory: 64Mi, cpu: 100m}}\n  \
         - name: bad\n    image: busybox\n    command: [sh, -c, 'exit 3']\n    resources: {limits: {memory: 64Mi, cpu: 100m}}\n",
    )
    .expect("write");
    let run = wpod()
        .args(["run", "-o", "json"])
        .arg(&manifest)
        .output()
        .expect("wpod run");
    let from_run: serde_json::Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));

    let (server, config) = serve(&dir.join("data"), free_port());
    let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    wait_for("agree Failed", || {
        field(&config, "agree", ".status.phase") == "Failed"
    });
    let (_, json, _) = kubectl(&config, &["get", "pod", "agree", "-o", "json"]);
    let from_serve: serde_json::Value = serde_json::from_str(&json).expect("json");
    stop(server);

    // What either shows of the pod, without times, ids and addresses.
    let observed = |pod: &serde_json::Value| {
        let s = &pod["status"];
        let containers = |f: &str| -> Vec<String> {
            s[f].as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let t = &c["state"]["terminated"];
                    format!(
                        "{} ready={} restarts={} exit={} reason={}",
                        c["name"], c["ready"], c["restartCount"], t["exitCode"], t["reason"]
                    )
                })
                .collect()
        };
        let mut conditions: Vec<String> = s["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{}={} {}", c["type"], c["status"], c["reason"]))
            .collect();
        conditions.sort();
        (
            s["phase"].clone(),
            s["qosClass"].clone(),
            containers("initContainerStatuses"),
            containers("containerStatuses"),
            conditions,
        )
    };
    let (run_view, serve_view) = (observed(&from_run), observed(&from_serve));
    assert_eq!(run_view.0, "Failed", "{from_run}");
    assert_eq!(run_view, serve_view);
}
