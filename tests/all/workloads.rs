//! Deployments, ReplicaSets and Services through `wpod serve`, driven by the real kubectl: a
//! Service spreads a client's requests over the replicas, `kubectl scale`, `set image` with a
//! rolling update, `rollout status|history|undo`, and deletion taking the owned objects along.

use std::path::Path;

use crate::serve::{kubectl, serve, wait_for};
use crate::support::free_port;

fn ok(config: &Path, args: &[&str]) -> String {
    let (success, out, err) = kubectl(config, args);
    assert!(success, "kubectl {args:?} failed: {err}{out}");
    out
}

fn nginx_pods(config: &Path) -> Vec<String> {
    ok(config, &["get", "pods", "-l", "app=nginx", "-o", "name"])
        .lines()
        .map(str::to_string)
        .collect()
}

const CLIENT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: busybox
    command: ["sh", "-c", "env | grep _SERVICE_ | sort; i=0; while [ $i -lt 300 ]; do wget -q -O /dev/null http://nginx/ || echo failed; i=$((i+1)); done; echo done"]
"#;

#[test]
fn a_deployment_behind_a_service_scales_rolls_out_and_rolls_back() {
    let dir = std::env::temp_dir().join(format!("wpod-serve-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve(&dir, free_port());
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/nginx-deployment.yaml"
    );
    let out = ok(&config, &["apply", "-f", manifest]);
    assert!(
        out.contains("deployment.apps/nginx-deployment created"),
        "{out}"
    );
    assert!(out.contains("service/nginx created"), "{out}");
    let status = ok(
        &config,
        &[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=60s",
        ],
    );
    assert!(status.contains("successfully rolled out"), "{status}");
    assert_eq!(nginx_pods(&config).len(), 3);
    let rs = ok(&config, &["get", "rs", "-o", "name"]);
    let hash = rs
        .trim()
        .strip_prefix("replicaset.apps/nginx-deployment-")
        .unwrap_or_else(|| panic!("one ReplicaSet named after the Deployment: {rs}"));
    for pod in nginx_pods(&config) {
        assert!(
            pod.starts_with(&format!("pod/nginx-deployment-{hash}-")),
            "{pod}"
        );
    }

    // A client pod reaches the Service by its DNS name, 300 times.
    let client = dir.join("client.yaml");
    std::fs::write(&client, CLIENT).expect("write client");
    ok(&config, &["apply", "-f", client.to_str().expect("utf-8")]);
    wait_for("the client to finish", || {
        kubectl(
            &config,
            &["get", "pod", "client", "-o", "jsonpath={.status.phase}"],
        )
        .1 == "Succeeded"
    });
    let log = ok(&config, &["logs", "client"]);
    assert!(log.ends_with("done\n") && !log.contains("failed"), "{log}");
    let cluster_ip = ok(
        &config,
        &["get", "svc", "nginx", "-o", "jsonpath={.spec.clusterIP}"],
    );
    assert!(cluster_ip.starts_with("10.96."), "{cluster_ip}");
    assert!(
        log.contains(&format!("NGINX_SERVICE_HOST={cluster_ip}\n")),
        "{log}"
    );
    assert!(log.contains("KUBERNETES_SERVICE_HOST=10.96.0.1\n"), "{log}");
    let mut served = Vec::new();
    for pod in nginx_pods(&config) {
        let log = ok(&config, &["logs", &pod]);
        served.push(log.matches("\"GET / HTTP/1.1\" 200").count());
    }
    assert_eq!(served.iter().sum::<usize>(), 300, "{served:?}");
    assert!(
        served.iter().all(|n| *n > 0),
        "every replica served: {served:?}"
    );
    let endpoints = ok(&config, &["get", "endpoints", "nginx"]);
    assert_eq!(endpoints.matches(":80").count(), 3, "{endpoints}");

    // Scale through the scale subresource.
    let out = ok(
        &config,
        &["scale", "deployment", "nginx-deployment", "--replicas=5"],
    );
    assert!(out.contains("scaled"), "{out}");
    wait_for("five ready replicas", || {
        kubectl(
            &config,
            &[
                "get",
                "deployment",
                "nginx-deployment",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ],
        )
        .1 == "5"
    });

    // A rolling update to a new image, then back.
    ok(
        &config,
        &[
            "set",
            "image",
            "deployment/nginx-deployment",
            "nginx=nginx:1.16.1",
        ],
    );
    let status = ok(
        &config,
        &[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=60s",
        ],
    );
    assert!(status.contains("successfully rolled out"), "{status}");
    let images = ok(
        &config,
        &[
            "get",
            "pods",
            "-l",
            "app=nginx",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ],
    );
    assert_eq!(
        images.split(' ').filter(|i| *i == "nginx:1.16.1").count(),
        5,
        "{images}"
    );
    let history = ok(
        &config,
        &["rollout", "history", "deployment/nginx-deployment"],
    );
    assert!(
        history.contains("\n1 ") && history.contains("\n2 "),
        "{history}"
    );
    let out = ok(&config, &["rollout", "undo", "deployment/nginx-deployment"]);
    assert!(out.contains("rolled back"), "{out}");
    ok(
        &config,
        &[
            "rollout",
            "status",
            "deployment/nginx-deployment",
            "--timeout=60s",
        ],
    );
    let image = ok(
        &config,
        &[
            "get",
            "deployment",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(image, "nginx:1.14.2");
    let history = ok(
        &config,
        &["rollout", "history", "deployment/nginx-deployment"],
    );
    assert!(
        history.contains("\n2 ") && history.contains("\n3 ") && !history.contains("\n1 "),
        "{history}"
    );
    let revision = ok(
        &config,
        &[
            "get",
            "rs",
            &format!("nginx-deployment-{hash}"),
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
    );
    assert_eq!(
        revision, "3",
        "the first ReplicaSet is the newest revision again"
    );
    let events = ok(
        &config,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=Deployment",
        ],
    );
    assert!(events.contains("ScalingReplicaSet"), "{events}");

    // Deleting the Deployment takes its ReplicaSets and their pods.
    ok(&config, &["delete", "deployment", "nginx-deployment"]);
    wait_for("the ReplicaSets and pods to go", || {
        kubectl(&config, &["get", "rs", "-o", "name"]).1.is_empty()
            && nginx_pods(&config).is_empty()
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
