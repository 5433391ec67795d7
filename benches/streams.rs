//! Into a running pod through `wpod serve`, on both backends in the same run, with the real
//! kubectl: the exec round trip (`kubectl exec -- true`, beside `kubectl get` as kubectl's own
//! floor), and port-forward latency and throughput (kubectl's WebSocket-tunnelled SPDY and its
//! plain SPDY fallback) beside the same requests to the pod's hostPort, the direct path a
//! `--publish` takes. Prints figures; never fails on time (every wait is bounded).
//!
//! Run with `cargo bench --bench streams` (kubectl on the PATH; root for the Linux column).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXECS: usize = 20;
const REQUESTS: usize = 200;
const BIG: u64 = 64 << 20;
const BIG_RUNS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() * 95 / 100).copied().unwrap_or(f64::NAN)
}

/// A child killed when dropped (the server, a port-forward), even when the bench panics.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    _server: Killed,
    config: PathBuf,
    host_port: u16,
}

impl Setup {
    fn kubectl(&self) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", &self.config)
            .env("KUBECACHEDIR", self.config.with_file_name("kube-cache"));
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn start(backend: &str, dir: &Path) -> Setup {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .args(["serve", "--backend", backend, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wpod serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the kubeconfig line");
    let config = PathBuf::from(line.trim().trim_start_matches("export KUBECONFIG="));
    let host_port = free_port();
    let manifest = dir.join("web.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n  - name: nginx\n    \
             image: nginx\n    ports: [{{containerPort: 80, hostPort: {host_port}}}]\n    \
             volumeMounts: [{{name: html, mountPath: /usr/share/nginx/html}}]\n  \
             volumes: [{{name: html, emptyDir: {{}}}}]\n"
        ),
    )
    .expect("manifest");
    let setup = Setup {
        _server: Killed(child),
        config,
        host_port,
    };
    setup.run(&["apply", "-f", &manifest.to_string_lossy()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.run(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]) != "Running" {
        assert!(Instant::now() < deadline, "{backend}: web never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    setup.run(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        &format!(
            "echo ok > /usr/share/nginx/html/small; \
             yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | \
             head -c {BIG} > /usr/share/nginx/html/big"
        ),
    ]);
    setup
}

/// `kubectl port-forward` to the pod's port 80 on a free local port, once it listens.
fn forward(setup: &Setup, websockets: bool) -> (Killed, u16) {
    let local = free_port();
    let mut child = setup
        .kubectl()
        .env(
            "KUBECTL_PORT_FORWARD_WEBSOCKETS",
            if websockets { "true" } else { "false" },
        )
        .args(["port-forward", "pod/web", &format!("{local}:80")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl port-forward");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("Forwarding from");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (Killed(child), local)
}

/// One GET on a new connection; the body's length.
fn get(port: u16, path: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: web\r\n\r\n").expect("request");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let mut head = Vec::new();
    loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096)]);
        }
        total += n as u64;
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "GET {path} on {port}");
    let header_len = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    total - header_len as u64
}

fn paths(setup: &Setup) -> (Killed, Killed, Vec<(&'static str, u16)>) {
    let (tunnel, tunnel_port) = forward(setup, true);
    let (spdy, spdy_port) = forward(setup, false);
    let list = vec![
        ("hostPort (direct)", setup.host_port),
        ("port-forward, WebSocket", tunnel_port),
        ("port-forward, SPDY", spdy_port),
    ];
    (tunnel, spdy, list)
}

fn main() {
    let root = std::env::temp_dir().join(format!("wpod-streambench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // SAFETY: geteuid cannot fail.
    let root_user = unsafe { libc::geteuid() } == 0;
    println!(
        "# into a running pod through wpod serve (kubectl {})",
        kubectl_version()
    );
    println!("# load average before: {}", load());
    for backend in ["wasm", "linux"] {
        if backend == "linux" && !(cfg!(target_os = "linux") && root_user) {
            println!("\n## linux: not measured (needs root on Linux)");
            continue;
        }
        let dir = root.join(backend);
        std::fs::create_dir_all(&dir).expect("dir");
        let setup = start(backend, &dir);
        println!("\n## {backend}");
        let mut exec = Vec::new();
        let mut get_pod = Vec::new();
        for _ in 0..EXECS {
            let t = Instant::now();
            setup.run(&["exec", "web", "--", "true"]);
            exec.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            setup.run(&["get", "pod", "web", "-o", "name"]);
            get_pod.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (e, g) = (median(exec), median(get_pod));
        println!(
            "kubectl exec web -- true: median {e:.1} ms; kubectl get pod: {g:.1} ms; exec beyond kubectl's own cost: {:.1} ms ({EXECS} runs each)",
            e - g
        );
        let (_tunnel, _spdy, paths) = paths(&setup);
        println!("| path | GET 3 bytes, new connection: median | p95 | 64 MiB GET | ");
        println!("| --- | --- | --- | --- |");
        for (name, port) in paths {
            for _ in 0..10 {
                get(port, "/small");
            }
            let mut lat = Vec::new();
            for _ in 0..REQUESTS {
                let t = Instant::now();
                get(port, "/small");
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let mut rates = Vec::new();
            for _ in 0..BIG_RUNS {
                let t = Instant::now();
                let n = get(port, "/big");
                assert_eq!(n, BIG, "{name}: the whole file");
                rates.push(n as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64);
            }
            println!(
                "| {name} | {:.3} ms | {:.3} ms | {:.0} MiB/s |",
                median(lat.clone()),
                p95(lat),
                median(rates)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

fn kubectl_version() -> String {
    Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| {
            v["clientVersion"]["gitVersion"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
