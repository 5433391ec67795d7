//! Deployments, ReplicaSets and Services through `wpod serve`, driven by the real kubectl: a
//! Service spreads a client's requests over the replicas, `kubectl scale`, `set image` with a
//! rolling update, `rollout status|history|undo`, and deletion taking the owned objects along.

use std::path::Path;

use crate::serve::{kubectl, serve, wait_for};
use crate::support::{
    Scratch, free_port, http_get, on_backends, run_args, run_ending_when, run_until_exited,
};

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

/// `wpod run` of `manifest` on `backend`, without colours.
fn run_on(backend: &str, manifest: &str) -> crate::support::Run {
    let s = Scratch::new("workloads");
    let file = s.write("manifest.yaml", manifest);
    run_args(&[
        "run",
        "--color",
        "never",
        "--backend",
        backend,
        &file.to_string_lossy(),
    ])
}

/// The lines of `text` under the output prefix `prefix` (`pod/container`), without it.
fn output_of(text: &str, prefix: &str) -> String {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|l| l.trim_start_matches([' ', '|']).to_string() + "\n")
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

    // `kubectl expose` as a NodePort: the node port answers on the host's loopback.
    ok(
        &config,
        &[
            "expose",
            "deployment",
            "nginx-deployment",
            "--type=NodePort",
            "--name=nginx-np",
            "--port=80",
        ],
    );
    let node_port = ok(
        &config,
        &[
            "get",
            "svc",
            "nginx-np",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ],
    );
    let node_port: u16 = node_port
        .parse()
        .unwrap_or_else(|_| panic!("a node port: {node_port:?}"));
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let mut reply = String::new();
    wait_for("the node port to answer", || {
        reply = http_get(node_port);
        reply.starts_with("HTTP/1.1 200")
    });
    assert!(reply.contains("Welcome to nginx"), "{reply}");

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

    // A Job from `kubectl create job` (sent in protobuf) runs to completion.
    ok(
        &config,
        &[
            "create",
            "job",
            "hello",
            "--image=busybox",
            "--",
            "echo",
            "hello from a job",
        ],
    );
    wait_for("the job to complete", || {
        kubectl(
            &config,
            &["get", "job", "hello", "-o", "jsonpath={.status.succeeded}"],
        )
        .1 == "1"
    });
    let jobs = ok(&config, &["get", "jobs"]);
    assert!(
        jobs.contains("hello") && jobs.contains("Complete") && jobs.contains("1/1"),
        "{jobs}"
    );
    let pod = ok(
        &config,
        &["get", "pods", "-l", "job-name=hello", "-o", "name"],
    );
    let log = ok(&config, &["logs", pod.trim()]);
    assert_eq!(log, "hello from a job\n");

    // Foreground deletion: the Deployment goes after its ReplicaSet and pods; orphaning leaves
    // them without an owner.
    ok(
        &config,
        &[
            "create",
            "deployment",
            "fg",
            "--image=nginx",
            "--replicas=2",
        ],
    );
    ok(
        &config,
        &["rollout", "status", "deployment/fg", "--timeout=60s"],
    );
    ok(
        &config,
        &["delete", "deployment", "fg", "--cascade=foreground"],
    );
    assert_eq!(
        ok(&config, &["get", "rs,pods", "-l", "app=fg", "-o", "name"]),
        ""
    );
    ok(&config, &["create", "deployment", "kept", "--image=nginx"]);
    ok(
        &config,
        &["rollout", "status", "deployment/kept", "--timeout=60s"],
    );
    ok(
        &config,
        &["delete", "deployment", "kept", "--cascade=orphan"],
    );
    let owners = ok(
        &config,
        &[
            "get",
            "rs",
            "-l",
            "app=kept",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences}",
        ],
    );
    assert!(
        owners.trim().is_empty() || owners.trim() == "[]",
        "{owners}"
    );
    assert_eq!(
        ok(&config, &["get", "pods", "-l", "app=kept", "-o", "name"])
            .lines()
            .count(),
        1
    );
    ok(&config, &["delete", "rs", "-l", "app=kept"]);

    // Deleting the Deployment takes its ReplicaSets and their pods.
    ok(&config, &["delete", "deployment", "nginx-deployment"]);
    wait_for("the ReplicaSets and pods to go", || {
        kubectl(&config, &["get", "rs", "-o", "name"]).1.is_empty()
            && nginx_pods(&config).is_empty()
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client of a Deployment's Service, in a `wpod run` of one file: its replicas take turns,
/// names resolve through the cluster DNS (a headless Service to each ready pod), a Service
/// without ready endpoints refuses, and the kubelet's variables and namespace file are there.
const RUN: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{name: http, containerPort: 80}]
---
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
      until wget -q -O /dev/null http://web:8080/; do sleep 0.2; done
      sleep 1
      echo "host=$WEB_SERVICE_HOST port=$WEB_SERVICE_PORT_HTTP namespace=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"
      nslookup web.default.svc.cluster.local
      nslookup web-pods
      i=0; while [ $i -lt 30 ]; do wget -q -O /dev/null http://web:8080/ || echo failed; i=$((i+1)); done
      wget -q -O /dev/null http://nobody/ || echo refused
"#;

#[test]
fn wpod_run_runs_a_deployment_behind_services_on_both_backends() {
    on_backends(|backend| {
        let r = run_until_exited(RUN, &["--backend", backend], &["client/client"]);
        let said = |prefix: &str| output_of(&format!("{}{}", r.stdout, r.stderr), prefix);
        let client = said("client/client");
        assert!(
            client.contains("host=10.96.0.11 port=8080 namespace=default"),
            "{backend}: {client}\n{}",
            r.stderr
        );
        assert!(
            client.contains("Address: 10.96.0.11"),
            "{backend}: {client}"
        );
        assert_eq!(
            client.matches("Address: 10.88.").count(),
            3,
            "{backend}: the headless Service names each ready pod: {client}"
        );
        assert!(!client.contains("failed"), "{backend}: {client}");
        assert!(client.contains("refused"), "{backend}: {client}");
        assert!(
            !r.stderr.contains("userspace proxy"),
            "{backend}: Services go through the kernel's rules: {}",
            r.stderr
        );
        let mut served = Vec::new();
        for line in r.stdout.lines().chain(r.stderr.lines()) {
            if let Some((pod, rest)) = line.split_once("/nginx")
                && pod.starts_with("web-")
                && rest.contains("\"GET / HTTP/1.1\" 200")
            {
                served.push(pod.to_string());
            }
        }
        let mut pods = served.clone();
        pods.sort();
        pods.dedup();
        assert_eq!(pods.len(), 3, "{backend}: every replica served: {served:?}");
        assert!(
            r.stderr
                .contains("-- deployment/web: ScalingReplicaSet: Scaled up replica set web-"),
            "{backend}: {}",
            r.stderr
        );
    });
}

/// The Kubernetes docs' init-containers example (concepts/workloads/pods/init-containers), with
/// its two Services, unchanged: each init container finds its Service by its DNS name in the
/// pod's namespace (read from the service account volume), so the app starts.
const DOCS_INIT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels:
    app.kubernetes.io/name: MyApp
spec:
  containers:
  - name: myapp-container
    image: busybox:1.28
    command: ['sh', '-c', 'echo The app is running! && sleep 3600']
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', "until nslookup myservice.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace).svc.cluster.local; do echo waiting for myservice; sleep 2; done"]
  - name: init-mydb
    image: busybox:1.28
    command: ['sh', '-c', "until nslookup mydb.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace).svc.cluster.local; do echo waiting for mydb; sleep 2; done"]
---
apiVersion: v1
kind: Service
metadata:
  name: myservice
spec:
  ports:
  - protocol: TCP
    port: 80
    targetPort: 9376
---
apiVersion: v1
kind: Service
metadata:
  name: mydb
spec:
  ports:
  - protocol: TCP
    port: 80
    targetPort: 9377
"#;

/// The docs' command-demo (inject-data-application/define-command-argument-container).
const DOCS_COMMAND: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: command-demo
  labels:
    purpose: demonstrate-command
spec:
  containers:
  - name: command-demo-container
    image: debian
    command: ["printenv"]
    args: ["HOSTNAME", "KUBERNETES_PORT"]
  restartPolicy: OnFailure
"#;

#[test]
fn the_docs_init_containers_and_command_demo_run_unchanged() {
    on_backends(|backend| {
        let r = run_ending_when(DOCS_INIT, &["--backend", backend], |line| {
            line.contains("| The app is running!")
        });
        // With -o json, container output goes to stderr.
        for service in ["myservice", "mydb"] {
            assert!(
                r.stderr
                    .contains(&format!("Name:\t{service}.default.svc.cluster.local")),
                "{backend}: {}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("waiting for"), "{backend}: {}", r.stderr);

        let r = run_on(backend, DOCS_COMMAND);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert!(
            r.stdout.contains("| command-demo\n") && r.stdout.contains("| tcp://10.96.0.1:443\n"),
            "{backend}: {r:?}"
        );
    });
}

/// Jobs in a `wpod run`: completions with parallelism, a Job that fails past its backoffLimit
/// (the run exits 1), and the run ends when both have.
const JOBS: &str = r#"apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: busybox, command: [sh, -c, "sleep 0.2; echo 3.14159"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: flaky}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: fail, image: busybox, command: [sh, -c, "echo trying; exit 3"]}
"#;

#[test]
fn wpod_run_runs_jobs_to_their_end_on_both_backends() {
    on_backends(|backend| {
        let r = run_on(backend, JOBS);
        assert_eq!(r.code, 1, "{backend}: a failed Job fails the run: {r:?}");
        assert_eq!(r.stdout.matches("| 3.14159").count(), 3, "{backend}: {r:?}");
        assert_eq!(r.stdout.matches("| trying").count(), 2, "{backend}: {r:?}");
        assert!(
            r.stderr.contains("-- job/pi: Completed: Job completed"),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr.contains(
                "-- job/flaky: BackoffLimitExceeded: Job has reached the specified backoff limit"
            ),
            "{backend}: {r:?}"
        );
        assert_eq!(
            r.stderr.matches("-- job/pi: SuccessfulCreate").count(),
            3,
            "{backend}: {r:?}"
        );
    });
}

/// `dnsPolicy: None` with a `dnsConfig`: the resolv.conf is that alone, and cluster names do not
/// resolve; `dnsConfig` on top of `ClusterFirst` adds to the cluster's.
const DNS: &str = r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: own}
spec:
  restartPolicy: Never
  dnsPolicy: None
  dnsConfig: {nameservers: [127.0.0.1], searches: [example.test], options: [{name: ndots, value: "2"}]}
  containers:
  - {name: c, image: busybox, command: [sh, -c, "cat /etc/resolv.conf; nslookup web >/dev/null 2>&1 || echo no-web"]}
---
apiVersion: v1
kind: Pod
metadata: {name: more}
spec:
  restartPolicy: Never
  dnsConfig: {searches: [example.test], options: [{name: edns0}]}
  containers:
  - {name: c, image: busybox, command: [sh, -c, "cat /etc/resolv.conf; nslookup web | grep -c '^Address: 10.96'"]}
"#;

#[test]
fn dns_policy_and_dns_config_make_the_resolv_conf() {
    on_backends(|backend| {
        let r = run_on(backend, DNS);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        let said = |pod: &str| output_of(&r.stdout, &format!("{pod}/c"));
        assert_eq!(
            said("own"),
            "search example.test\nnameserver 127.0.0.1\noptions ndots:2\nno-web\n",
            "{backend}: {r:?}"
        );
        assert_eq!(
            said("more"),
            "search default.svc.cluster.local svc.cluster.local cluster.local example.test\nnameserver 10.96.0.10\noptions ndots:5 edns0\n1\n",
            "{backend}: {r:?}"
        );
    });
}

const SRV: &str = r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: db
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sleep, "3"], ports: [{containerPort: 8080, name: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "sleep 1; nslookup -type=srv _http._tcp.web; nslookup -type=srv _http._tcp.db.default.svc.cluster.local; nslookup -type=srv _nope._tcp.web || echo nxdomain"]
"#;

/// SRV records for named ports: the ClusterIP Service's name with the Service port, each ready
/// pod of a headless Service by hostname with its own port; a query the search path applies to.
#[test]
fn srv_records_name_the_named_ports_on_both_backends() {
    on_backends(|backend| {
        let r = run_on(backend, SRV);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        let said = output_of(&r.stdout, "client/c");
        assert!(
            said.contains("_http._tcp.web.default.svc.cluster.local\tservice = 0 100 80 web.default.svc.cluster.local\n"),
            "{backend}: {said}"
        );
        assert!(
            said.contains("_http._tcp.db.default.svc.cluster.local\tservice = 0 100 8080 web-0.db.default.svc.cluster.local\n"),
            "{backend}: {said}"
        );
        assert!(
            said.contains("** server can't find _nope._tcp.web: NXDOMAIN\n"),
            "{backend}: {said}"
        );
        assert!(said.ends_with("nxdomain\n"), "{backend}: {said}");
    });
}

const NODE_PORT: &str = r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 31937}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: testkit, args: [serve, "0.0.0.0:8080", "hello through the node port"], ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "sleep 1; wget -q -O - http://10.88.0.1:31937/; wget -q -O - http://10.88.0.1:31938/ || echo refused"]
"#;

/// A pod reaches a NodePort Service at the node's address, as on a node (kube-proxy's
/// nodeports); a port no Service has refuses.
#[test]
fn a_node_port_answers_at_the_node_address_inside_the_pod_network() {
    on_backends(|backend| {
        let s = Scratch::new("node-port");
        let file = s.write("manifest.yaml", NODE_PORT);
        let r = run_args(&[
            "run",
            "--color",
            "never",
            "--backend",
            backend,
            "--timeout",
            "6s",
            &file.to_string_lossy(),
        ]);
        let said = output_of(&r.stdout, "client/c");
        assert_eq!(
            said, "hello through the node port\nrefused\n",
            "{backend}: {r:?}"
        );
    });
}
