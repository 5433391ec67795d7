//! `wpod explain`: the steps of a pod in the kubelet's order, with concepts and docs, in both
//! languages, and the fields wpod does not honour where they are written.

use crate::support::{Run, Scratch, run_args};

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Where each of `needles` is in `haystack`, failing on a missing one.
fn positions(r: &Run, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            r.stdout
                .find(n)
                .unwrap_or_else(|| panic!("missing {n:?}: {r:?}"))
        })
        .collect()
}

fn assert_in_order(r: &Run, needles: &[&str]) {
    let at = positions(r, needles);
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "not in the order {needles:?}: {r:?}"
    );
}

#[test]
fn the_seed_pod_is_explained_step_by_step_in_english_and_chinese() {
    let file = example("nginx-shared-volume.yaml");
    let r = run_args(&["explain", "--lang", "en", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_in_order(
        &r,
        &[
            "# Pod two-containers (namespace default)",
            "1. Schedule the pod",
            "the pod is the atomic unit of scheduling",
            "2. Start the infra container",
            "holds the pod's Network Namespace",
            "3. Set up the pod's volumes",
            "shared-data: emptyDir",
            "mounted by nginx-container → /usr/share/nginx/html, busybox-container → /pod-data",
            "4. Start the app containers",
            "nginx-container: image nginx, runs `nginx -g daemon off;`",
            "busybox-container: image busybox, runs `/bin/sh -c echo Hello from the busybox container > /pod-data/index.html`",
            "5. What ends the pod",
            "restartPolicy Never",
            "6. Stop the pod",
            "grace period of 30s",
            "# Fields",
            "wpod honours every field this manifest sets.",
        ],
    );
    for docs in [
        "docs: https://kubernetes.io/docs/concepts/workloads/pods/\n",
        "docs: https://kubernetes.io/docs/concepts/storage/volumes/\n",
        "docs: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/\n",
    ] {
        assert!(r.stdout.contains(docs), "missing {docs:?}: {r:?}");
    }
    assert!(r.stdout.contains("a pause WebAssembly instance"), "{r:?}");

    let zh = run_args(&["explain", "--lang", "zh", &file]);
    assert_eq!(zh.code, 0, "{zh:?}");
    assert_in_order(
        &zh,
        &[
            "1. 调度 Pod",
            "Pod 是 Kubernetes 的原子调度单位",
            "2. 启动 Infra 容器",
            "Hold 住 Pod 的 Network Namespace",
            "3. 准备 Pod 的 Volume",
            "4. 启动应用容器",
            "# 字段",
        ],
    );
    // The locale chooses when --lang does not.
    let by_locale = crate::support::finish(
        crate::support::wpod()
            .args(["explain", &file])
            .env("LANG", "zh_CN.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .output()
            .expect("run wpod"),
    );
    assert_eq!(by_locale.stdout, zh.stdout);

    let linux = run_args(&["explain", "--lang", "en", "--backend", "linux", &file]);
    assert!(
        linux
            .stdout
            .contains("a pause process in new network, IPC and UTS namespaces"),
        "{linux:?}"
    );
}

#[test]
fn init_containers_sidecars_probes_and_ignored_fields_are_explained() {
    let s = Scratch::new("explain");
    let file = s.write(
        "pod.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeSelector: {disktype: ssd}
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [db.local]}
  initContainers:
  - name: fetch
    image: busybox
    command: [sh, -c, "echo fetched"]
  - name: log-shipper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "sleep 3600"]
  - name: migrate
    image: busybox
    command: [sh, -c, "echo migrated"]
  containers:
  - name: app
    image: nginx
    ports: [{containerPort: 80}]
    resources: {limits: {memory: 64Mi}}
    readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 2}
    lifecycle: {preStop: {exec: {command: [nginx, -s, quit]}}}
"#,
    );
    let file = file.to_string_lossy();
    let r = run_args(&["explain", "--lang", "en", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_in_order(
        &r,
        &[
            "nodeSelector choose among nodes",
            "hostAliases: db.local → 10.1.2.3",
            "4. Run the init containers",
            "one at a time, in order",
            "Sidecars (restartPolicy: Always)",
            "1. fetch: image busybox, runs `sh -c echo fetched`",
            "2. log-shipper [sidecar]",
            "3. migrate: image busybox",
            "5. Start the app containers",
            "app: image nginx",
            "ports 80/TCP",
            "memory limit 64Mi",
            "6. Probe the containers, run their hooks",
            "app: readinessProbe http-get http://:80/, every 2s after 0s, 3 failure(s) in a row count",
            "app: preStop exec [nginx -s quit]",
            "restartPolicy Always",
            "Sidecars are stopped after the app containers",
            "# Fields",
        ],
    );
    // The field list points at where the ignored field is written.
    assert!(
        r.stdout
            .contains(":6:3: warning: spec.nodeSelector: wpod runs pods on this machine only"),
        "{r:?}"
    );
}

#[test]
fn deployments_and_services_are_explained_through_their_pods() {
    let r = run_args(&["explain", "--lang", "en", &example("nginx-deployment.yaml")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("# Deployment "), "{r:?}");
    assert!(r.stdout.contains("replica(s) of its pod template"), "{r:?}");
    assert!(r.stdout.contains("2. Start the infra container"), "{r:?}");
}

#[test]
fn an_invalid_manifest_is_refused_with_where_and_exit_2() {
    let s = Scratch::new("explain-bad");
    let file = s.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    imagee: busybox\n",
    );
    let r = run_args(&["explain", &file.to_string_lossy()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("pod.yaml:7:5"), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
}

/// Display columns of a terminal line: CJK characters take two.
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

fn assert_aligned(r: &Run) {
    let widths: Vec<usize> = r.stdout.lines().map(columns).collect();
    assert!(
        widths.windows(2).all(|w| w[0] == w[1]),
        "the frame's lines differ in width {widths:?}: {r:?}"
    );
}

#[test]
fn inspect_draws_the_pod_in_the_terminal_and_as_svg() {
    let s = Scratch::new("inspect");
    let svg = s.dir.join("pod.svg");
    let svg_arg = svg.to_string_lossy().into_owned();
    let file = example("nginx-shared-volume.yaml");
    let r = run_args(&["inspect", "--lang", "en", &file, "--svg", &svg_arg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_in_order(
        &r,
        &[
            "╔═ Pod two-containers · namespace default",
            "infra container · pause",
            "Network Namespace: IP given when the pod starts · localhost",
            "hostname two-containers",
            "holds: net uts",
            "├─ nginx-container · nginx",
            "joins: net uts",
            "own: mnt pid",
            "/usr/share/nginx/html ← shared-data",
            "└─ busybox-container · busybox",
            "/pod-data ← shared-data",
            "volumes (pod level):",
            "shared-data (emptyDir) → nginx-container, busybox-container",
        ],
    );
    assert_aligned(&r);

    let drawing = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(
        drawing.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{drawing}"
    );
    assert!(drawing.trim_end().ends_with("</svg>"), "{drawing}");
    assert_eq!(
        drawing.matches("<rect class=\"infra\"").count(),
        1,
        "{drawing}"
    );
    assert_eq!(
        drawing.matches("<rect class=\"container\"").count(),
        2,
        "{drawing}"
    );
    assert_eq!(
        drawing.matches("<line class=\"join\"").count(),
        2,
        "{drawing}"
    );
    // Both containers mount the volume: two wires to it.
    assert_eq!(
        drawing.matches("<line class=\"mount\"").count(),
        2,
        "{drawing}"
    );
    assert!(drawing.contains(">shared-data</text>"), "{drawing}");

    let zh = run_args(&["inspect", "--lang", "zh", "--backend", "linux", &file]);
    assert_eq!(zh.code, 0, "{zh:?}");
    assert!(zh.stdout.contains("Infra 容器 · pause"), "{zh:?}");
    assert!(zh.stdout.contains("加入: net ipc uts"), "{zh:?}");
    assert!(zh.stdout.contains("Volume(Pod 层级)"), "{zh:?}");
    assert_aligned(&zh);
}

#[test]
fn inspect_shows_a_shared_pid_namespace_services_in_front_and_read_only_mounts() {
    let s = Scratch::new("inspect-shared");
    let file = s.write(
        "pod.yaml",
        r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  shareProcessNamespace: true
  volumes:
  - {name: conf, configMap: {name: web-conf}}
  containers:
  - name: app
    image: busybox
    ports: [{containerPort: 8080}]
    volumeMounts: [{name: conf, mountPath: /etc/web, readOnly: true}]
"#,
    );
    let r = run_args(&["inspect", "--lang", "en", &file.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_in_order(
        &r,
        &[
            "▼ Service web (ClusterIP) 80→8080",
            "holds: net uts pid",
            "joins: net uts pid",
            "own: mnt",
            "ports: 8080/TCP",
            "/etc/web ← conf (read-only)",
            "conf (configMap) → app",
        ],
    );
    assert_aligned(&r);
}
