//! Services: connection setup and round trip through a ClusterIP next to the same directly to
//! the pod's IP, on both backends in one run (target: the ClusterIP costs <= 10% more); and a
//! rolling update of a 10-replica Deployment behind a Service through `wpod serve` and kubectl
//! while a client loops requests (target: 0 failed requests), with the rollout's time.
//! Prints; never fails on time.
//!
//! Run with `cargo bench --bench services` (the linux rows need root).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server pod first: it gets 10.88.0.2, and the Service the first free ClusterIP, 10.96.0.11.
const PODS: &str = r#"apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 7000}]
---
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: echo}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: echo, image: testkit, command: [testkit, echo-server, "0.0.0.0:7000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  # One measurement at a time: run side by side, each took CPU from the other on a 2-core machine.
  initContainers:
  - name: rtt
    image: testkit
    command: [testkit, ping-pong, "TARGET", "20000", "64"]
  containers:
  - name: client
    image: testkit
    command: [testkit, connects, "TARGET", "2000"]
"#;

/// The client's two figures (connect + round trip, round trip on one connection), in us.
fn measure(backend: &str, target: &str) -> Option<(f64, f64)> {
    let dir = std::env::temp_dir().join(format!("wpod-svcbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let manifest = dir.join("pods.yaml");
    std::fs::write(&manifest, PODS.replace("TARGET", target)).ok()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .args([
            "run",
            "--color",
            "never",
            "--timeout",
            "120s",
            "--backend",
            backend,
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let (mut connect, mut rtt) = (None, None);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let median = || {
            let rest = &line[line.find("median ")? + 7..];
            rest.split_whitespace().next()?.parse::<f64>().ok()
        };
        if line.contains("connect + round trip") {
            connect = median();
        } else if line.contains("round trip 64 B") {
            rtt = median();
        }
        if connect.is_some() && rtt.is_some() {
            // SAFETY: signalling our own child, not yet waited for.
            unsafe { libc_kill(child.id() as i32, 15) };
        }
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Some((connect?, rtt?))
}

const ROUNDS: usize = 5;

/// The middle of each figure over the runs (None when a run failed).
fn middle(mut runs: Vec<(f64, f64)>) -> Option<(f64, f64)> {
    if runs.len() < ROUNDS {
        return None;
    }
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut a: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let mut b: Vec<f64> = runs.drain(..).map(|r| r.1).collect();
    Some((mid(&mut a), mid(&mut b)))
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn kubectl(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(args)
        .output()
        .expect("kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
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
      ok=0; failed=0
      while [ ! -f /tmp/stop ]; do
        if wget -q -O /dev/null http://web/; then ok=$((ok+1)); else failed=$((failed+1)); fi
        echo "$ok $failed" > /tmp/counts
      done
"#;

/// The rollout while the client loops; (seconds, requests, failed).
fn rollout() -> Option<(f64, u64, u64)> {
    let dir = std::env::temp_dir().join(format!("wpod-rolloutbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(serve.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let config = std::path::PathBuf::from(line.trim().strip_prefix("export KUBECONFIG=")?);
    let manifest = dir.join("web.yaml");
    std::fs::write(&manifest, DEPLOYMENT).ok()?;
    let result = (|| {
        kubectl(&config, &["apply", "-f", manifest.to_str()?]);
        let (ok, _) = kubectl(
            &config,
            &["rollout", "status", "deployment/web", "--timeout=120s"],
        );
        if !ok {
            return None;
        }
        let counts = || -> Option<(u64, u64)> {
            let (ok, text) = kubectl(&config, &["exec", "client", "--", "cat", "/tmp/counts"]);
            let mut it = text
                .split_whitespace()
                .filter_map(|n| n.parse::<u64>().ok());
            ok.then_some((it.next()?, it.next()?))
        };
        // The client rewrites the file after every request: a read can find it empty.
        let settled_counts = || {
            (0..100).find_map(|_| {
                counts().or_else(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    None
                })
            })
        };
        let (ok_before, failed_before) = settled_counts()?;
        let t = Instant::now();
        kubectl(
            &config,
            &["set", "image", "deployment/web", "nginx=nginx:1.16.1"],
        );
        let (ok, _) = kubectl(
            &config,
            &["rollout", "status", "deployment/web", "--timeout=120s"],
        );
        let seconds = t.elapsed().as_secs_f64();
        let (ok_after, failed_after) = settled_counts()?;
        kubectl(&config, &["exec", "client", "--", "touch", "/tmp/stop"]);
        let (done, failed) = (ok_after - ok_before, failed_after - failed_before);
        ok.then_some((seconds, done + failed, failed))
    })();
    // SAFETY: signalling our own child, not yet waited for.
    unsafe { libc_kill(serve.id() as i32, 2) };
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc_kill(serve.id() as i32, 2) };
    let _ = serve.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn main() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let backends: &[&str] = if root { &["wasm", "linux"] } else { &["wasm"] };
    println!(
        "{:<8} {:<26} {:>22} {:>22}",
        "backend", "path", "connect + 1 B rtt (us)", "64 B round trip (us)"
    );
    for backend in backends {
        // Runs alternate between the two paths, and each figure is the middle of five runs' medians:
        // one run alone varies by a third on this machine.
        let mut samples: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, target) in ["10.88.0.2:7000", "10.96.0.11:80"].iter().enumerate() {
                if let Some(f) = measure(backend, target) {
                    samples[i].push(f);
                }
            }
        }
        let [direct, service] = samples.map(middle);
        for (path, figures) in [
            ("pod IP 10.88.0.2:7000", direct),
            ("ClusterIP 10.96.0.11:80", service),
        ] {
            match figures {
                Some((c, r)) => println!("{backend:<8} {path:<26} {c:>22.1} {r:>22.1}"),
                None => println!("{backend:<8} {path:<26} {:>22} {:>22}", "failed", "failed"),
            }
        }
        if let (Some(d), Some(s)) = (direct, service) {
            println!(
                "{backend:<8} ClusterIP overhead: connect {:+.0}%, round trip {:+.0}% (target <= +10%)",
                (s.0 / d.0 - 1.0) * 100.0,
                (s.1 / d.1 - 1.0) * 100.0
            );
        }
    }
    match rollout() {
        Some((seconds, requests, failed)) => println!(
            "rolling update of 10 nginx replicas behind a Service (wasm, kubectl set image): {seconds:.1} s, {requests} requests during it, {failed} failed (target 0)"
        ),
        None => println!("rolling update: failed to run"),
    }
}
