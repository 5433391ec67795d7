//! `wpod serve` figures beside the targets of its issue: the real kubectl applying 1,000 pods,
//! GET and LIST latency, watch delivery to 100 watchers, and the server's memory per idle pod.
//! Prints; never fails on time (only on a broken server, and every wait is bounded).
//!
//! Run with `cargo bench --bench serve` (needs `kubectl` on the PATH).
//!
//! Requests go through a minimal HTTP/1.1 keep-alive client over TLS (tokio-rustls, trusting the
//! data directory's `ca.crt`, sending the bearer token in `token`): the package's hyper is built
//! without its client side, and a client that does no more than write a request and parse
//! `Content-Length` / chunked bodies keeps the figures the server's.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader as Buf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const PODS: usize = 1000;
const REQUESTS: usize = 1000;
const TABLE_REQUESTS: usize = 100;
const WATCHERS: usize = 100;
const CHANGES: usize = 100;
/// Changes made (and awaited by every watcher) before the measured ones.
const WARM_UP_CHANGES: usize = 5;

/// The longest any single step may take before the bench gives up with a message.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const APPLY_TIMEOUT: Duration = Duration::from_secs(300);
/// From the start of the apply until every pod runs (figures over 2 minutes have been seen).
const RUNNING_TIMEOUT: Duration = Duration::from_secs(600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-servebench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A `wpod serve` child that is always stopped: SIGINT (graceful), SIGINT again (kill the pods),
/// then SIGKILL if it has still not exited, even when the bench panics.
struct Server {
    child: Child,
    dir: PathBuf,
    kubeconfig: PathBuf,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(dir.join("serve.log")).expect("serve.log");
        let data = dir.join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wpod"))
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn wpod serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // The first line says it is ready; the rest (container output) is drained so the server
        // never waits for this bench to read.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = tx.send(first);
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let mut server = Server {
            child,
            dir: dir.to_path_buf(),
            kubeconfig: PathBuf::new(),
            addr,
        };
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_else(|_| {
            panic!("wpod serve did not say it was ready within {READY_TIMEOUT:?}")
        });
        let config = line
            .trim()
            .strip_prefix("export KUBECONFIG=")
            .unwrap_or_else(|| panic!("wpod serve printed {line:?}"));
        server.kubeconfig = PathBuf::from(config);
        server
    }

    /// CPU time (user + system) the server process has used so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/<pid>/stat of wpod serve");
        // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
        let fields: Vec<u64> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse().ok())
            .collect();
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Duration::from_secs_f64(fields.iter().sum::<u64>() as f64 / ticks)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// VmRSS of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status of wpod serve");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        for _ in 0..2 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            std::thread::sleep(Duration::from_millis(500));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("last lines of wpod serve's stderr:");
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fails with `what` rather than waiting past `limit`.
async fn bounded<T>(what: &str, limit: Duration, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Opens keep-alive connections to the server.
#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    tls: TlsConnector,
    token: Arc<str>,
}

impl Client {
    fn new(server: &Server) -> Client {
        let data = server.data_dir();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(data.join("ca.crt")).expect("ca.crt") {
            roots
                .add(cert.expect("a CA certificate"))
                .expect("trust ca.crt");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let token = std::fs::read_to_string(data.join("token")).expect("token");
        Client {
            addr: server.addr,
            tls: TlsConnector::from(Arc::new(config)),
            token: token.trim().into(),
        }
    }

    async fn connect(&self) -> Conn {
        let tcp = bounded("connecting", REQUEST_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .expect("connect to wpod serve");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = bounded(
            "the TLS handshake",
            REQUEST_TIMEOUT,
            self.tls.connect(name, tcp),
        )
        .await
        .expect("TLS handshake with wpod serve");
        Conn {
            io: Buf::with_capacity(64 * 1024, tls),
            host: self.addr.to_string(),
            token: self.token.clone(),
        }
    }
}

struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
}

/// One HTTP/1.1 connection, used for one request after another.
struct Conn {
    io: Buf<TlsStream<TcpStream>>,
    host: String,
    token: Arc<str>,
}

impl Conn {
    async fn send(&mut self, method: &str, path: &str, accept: &str, body: Option<(&str, &[u8])>) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: {accept}\r\n\
             User-Agent: wpod-bench\r\n",
            self.host, self.token
        );
        if let Some((content_type, bytes)) = body {
            req += &format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            );
        }
        req += "\r\n";
        let mut bytes = req.into_bytes();
        if let Some((_, b)) = body {
            bytes.extend_from_slice(b);
        }
        let io = self.io.get_mut();
        io.write_all(&bytes).await.expect("write a request");
        io.flush().await.expect("send a request");
    }

    async fn line(&mut self) -> String {
        let mut line = Vec::new();
        let n = self
            .io
            .read_until(b'\n', &mut line)
            .await
            .expect("read a response");
        assert!(n > 0, "wpod serve closed the connection");
        String::from_utf8_lossy(&line).trim_end().to_string()
    }

    async fn head(&mut self) -> Head {
        let status_line = self.line().await;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
        Head {
            status,
            length,
            chunked,
        }
    }

    /// The next chunk of a chunked body; None after the last.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = self.line().await;
        let hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .unwrap_or_else(|_| panic!("not a chunk size: {size_line:?}"));
        if size == 0 {
            while !self.line().await.is_empty() {}
            return None;
        }
        let mut data = vec![0; size + 2];
        self.io.read_exact(&mut data).await.expect("read a chunk");
        data.truncate(size);
        Some(data)
    }

    async fn body(&mut self, head: &Head) -> Vec<u8> {
        if head.chunked {
            let mut body = Vec::new();
            while let Some(c) = self.chunk().await {
                body.extend_from_slice(&c);
            }
            body
        } else {
            let mut body = vec![0; head.length.unwrap_or(0)];
            self.io.read_exact(&mut body).await.expect("read a body");
            body
        }
    }

    /// One request and its whole response.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<(&str, &[u8])>,
    ) -> (u16, Vec<u8>) {
        bounded(&format!("{method} {path}"), REQUEST_TIMEOUT, async {
            self.send(method, path, accept, body).await;
            let head = self.head().await;
            let body = self.body(&head).await;
            (head.status, body)
        })
        .await
    }

    async fn get_json(&mut self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, JSON, None).await;
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).expect("a JSON response")
    }
}

const JSON: &str = "application/json";
/// What `kubectl get` asks for.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const PODS_PATH: &str = "/api/v1/namespaces/default/pods";

fn pod_name(i: usize) -> String {
    format!("bench-{i:04}")
}

fn manifest(path: &Path) {
    let mut text = String::new();
    for i in 0..PODS {
        text += &format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  labels: {{app: bench}}\nspec:\n  \
             containers:\n  - name: pause\n    image: pause\n",
            pod_name(i)
        );
    }
    std::fs::write(path, text).expect("write the manifest");
}

fn kubectl(server: &Server) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.env("KUBECONFIG", &server.kubeconfig)
        .env("KUBECACHEDIR", server.dir.join("kube-cache"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs kubectl to the end (bounded); its stdout, and its stderr.
async fn run_kubectl(server: &Server, args: &[&str], limit: Duration) -> (String, String) {
    let out = bounded(
        &format!("kubectl {}", args.join(" ")),
        limit,
        kubectl(server).args(args).output(),
    )
    .await
    .expect("kubectl runs (put it on the PATH)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "kubectl {} failed: {stderr}",
        args.join(" ")
    );
    (stdout, stderr)
}

fn resource_version(list: &Value) -> String {
    list.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .expect("a list's resourceVersion")
        .to_string()
}

/// Reads a watch's lines (chunk by chunk) and hands each, with the time its chunk arrived, to
/// `each`; returns when `each` says so or the stream ends.
async fn follow_watch(conn: &mut Conn, path: &str, mut each: impl FnMut(&[u8], Instant) -> bool) {
    conn.send("GET", path, JSON, None).await;
    let head = bounded("the watch's response head", REQUEST_TIMEOUT, conn.head()).await;
    assert!(
        head.status == 200 && head.chunked,
        "GET {path}: status {}",
        head.status
    );
    let mut pending = Vec::new();
    while let Some(chunk) = conn.chunk().await {
        let at = Instant::now();
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if !each(&line, at) {
                return;
            }
        }
    }
}

struct Apply {
    kubectl: Duration,
    all_added: Duration,
    all_running: Duration,
    /// Per pod: from its ADDED event to its Running one, as one watcher saw them.
    to_running: Vec<Duration>,
    throttled: bool,
    /// The server's CPU time while kubectl ran, and from then until every pod ran.
    cpu_apply: Duration,
    cpu_running: Duration,
}

/// `kubectl apply -f` of one file of 1,000 pods, timed until a watch has seen every one Running.
async fn apply(server: &Server, client: &Client, file: &Path) -> Apply {
    let mut conn = client.connect().await;
    let rv = resource_version(&conn.get_json(PODS_PATH).await);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let path = format!("{PODS_PATH}?watch=true&resourceVersion={rv}");
    let watching = tokio::spawn(async move {
        let mut added: HashMap<String, Instant> = HashMap::new();
        let mut running: HashMap<String, Instant> = HashMap::new();
        let mut last_added = None;
        follow_watch(&mut conn, &path, |line, at| {
            let event: Value = serde_json::from_slice(line).expect("a watch event");
            let object = &event["object"];
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if event["type"] == "ADDED" {
                added.entry(name.clone()).or_insert(at);
                last_added = Some(at);
            }
            if object.pointer("/status/phase").and_then(Value::as_str) == Some("Running") {
                running.entry(name).or_insert(at);
            }
            running.len() < PODS
        })
        .await;
        let to_running = running
            .iter()
            .filter_map(|(name, at)| Some(at.duration_since(*added.get(name)?)))
            .collect();
        let last_running = running.values().max().copied();
        let _ = done_tx.send((last_added, last_running, to_running));
    });
    let (t, cpu_start) = (Instant::now(), server.cpu());
    let file = file.to_str().expect("a UTF-8 path");
    let (out, err) = run_kubectl(server, &["apply", "-f", file], APPLY_TIMEOUT).await;
    let (kubectl, cpu_applied) = (t.elapsed(), server.cpu());
    let created = out.lines().filter(|l| l.ends_with(" created")).count();
    assert_eq!(created, PODS, "kubectl apply said: {out}{err}");
    let left = RUNNING_TIMEOUT.saturating_sub(t.elapsed());
    let (last_added, last_running, to_running) =
        bounded("all 1,000 pods Running (seen by a watch)", left, done_rx)
            .await
            .expect("the watch ended before every pod ran");
    watching.abort();
    let cpu_running = server.cpu().saturating_sub(cpu_applied);
    let since = |at: Option<Instant>| at.map_or(Duration::ZERO, |at| at.duration_since(t));
    Apply {
        kubectl,
        all_added: since(last_added),
        all_running: since(last_running),
        to_running,
        throttled: err.contains("throttling"),
        cpu_apply: cpu_applied.saturating_sub(cpu_start),
        cpu_running,
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// p50 and p99 of `samples`.
fn p50_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (percentile(&samples, 50), percentile(&samples, 99))
}

async fn latencies(conn: &mut Conn, path: &str, accept: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = conn.request("GET", path, accept, None).await;
        samples.push(t.elapsed());
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    samples
}

/// The `bench-seq` label's value in a watch line, if it has one.
fn seq_of(line: &[u8]) -> Option<usize> {
    const KEY: &[u8] = br#""bench-seq":""#;
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// 100 watches of the pods; each change is a merge-patched label on one pod, timed from just before
/// the PATCH is sent to each watcher's reading of its event.
async fn watch_delivery(client: &Client) -> Vec<Duration> {
    let mut conn = client.connect().await;
    let rv = resource_version(&conn.get_json(&format!("{PODS_PATH}?limit=1")).await);
    let path = format!("{PODS_PATH}?watch=true&resourceVersion={rv}");
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let mut watchers = Vec::new();
    for id in 0..WATCHERS {
        let mut watch = client.connect().await;
        let (tx, path) = (tx.clone(), path.clone());
        watchers.push(tokio::spawn(async move {
            follow_watch(&mut watch, &path, |line, at| {
                if let Some(seq) = seq_of(line) {
                    let _ = tx.send((id, seq, at));
                }
                true
            })
            .await;
        }));
    }
    let target = format!("{PODS_PATH}/{}", pod_name(0));
    let mut samples = Vec::with_capacity(WATCHERS * CHANGES);
    for seq in 0..WARM_UP_CHANGES + CHANGES {
        let patch = format!(r#"{{"metadata":{{"labels":{{"bench-seq":"{seq}"}}}}}}"#);
        let t = Instant::now();
        let (status, body) = conn
            .request(
                "PATCH",
                &target,
                JSON,
                Some(("application/merge-patch+json", patch.as_bytes())),
            )
            .await;
        assert_eq!(status, 200, "PATCH: {}", String::from_utf8_lossy(&body));
        let mut seen = HashSet::new();
        bounded(
            &format!("change {seq} reaching all {WATCHERS} watchers"),
            CHANGE_TIMEOUT,
            async {
                while seen.len() < WATCHERS {
                    let (id, s, at) = rx.recv().await.expect("the watchers went away");
                    if s == seq && seen.insert(id) && seq >= WARM_UP_CHANGES {
                        samples.push(at.duration_since(t));
                    }
                }
            },
        )
        .await;
    }
    for w in watchers {
        w.abort();
    }
    samples
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        return secs(d);
    }
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn verdict(measured: Duration, target: Duration) -> &'static str {
    if measured <= target { "met" } else { "MISSED" }
}

fn row(what: &str, measured: &str, target: &str) {
    println!("{what:<60} {measured:>20}   {target}");
}

fn main() {
    let dir = scratch();
    let file = dir.join("pods.yaml");
    manifest(&file);
    let server = Server::start(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let client = Client::new(&server);
        // kubectl's discovery (and its cache) once, as any session's first command does.
        run_kubectl(&server, &["get", "pods"], REQUEST_TIMEOUT).await;
        let rss_before = server.rss_kib();

        let applied = apply(&server, &client, &file).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = server.rss_kib();

        let mut conn = client.connect().await;
        let list = conn.get_json(PODS_PATH).await;
        let items = list["items"].as_array().expect("items");
        let running = items
            .iter()
            .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
            .count();
        assert_eq!((items.len(), running), (PODS, PODS), "LIST after the apply");
        let list_bytes = serde_json::to_vec(&list).map_or(0, |b| b.len());

        let one = format!("{PODS_PATH}/{}", pod_name(PODS / 2));
        latencies(&mut conn, &one, JSON, 10).await;
        let get = p50_p99(latencies(&mut conn, &one, JSON, REQUESTS).await);
        let list = p50_p99(latencies(&mut conn, PODS_PATH, JSON, REQUESTS).await);
        let table = p50_p99(latencies(&mut conn, PODS_PATH, TABLE, TABLE_REQUESTS).await);
        let t = Instant::now();
        let (rows, _) =
            run_kubectl(&server, &["get", "pods", "--no-headers"], REQUEST_TIMEOUT).await;
        let kubectl_get = t.elapsed();
        assert_eq!(rows.lines().count(), PODS, "kubectl get pods --no-headers");

        let watch = p50_p99(watch_delivery(&client).await);
        let rss_end = server.rss_kib();

        let (to_running_p50, to_running_p99) = p50_p99(applied.to_running.clone());
        println!();
        println!(
            "`wpod serve` (wasm backend), {PODS} pods of the built-in `pause` image, real kubectl:"
        );
        println!();
        row("what", "measured", "target");
        row(
            "kubectl apply -f (one file, 1,000 pods): kubectl returns",
            &secs(applied.kubectl),
            "",
        );
        row(
            "  ... until the watch has seen all 1,000 ADDED",
            &secs(applied.all_added),
            "",
        );
        row(
            "  ... until all 1,000 are Running",
            &secs(applied.all_running),
            &format!(
                "<= 5 s: {}",
                verdict(applied.all_running, Duration::from_secs(5))
            ),
        );
        row(
            "  CPU of wpod serve: while kubectl ran / then until Running",
            &format!(
                "{} / {}",
                secs(applied.cpu_apply),
                secs(applied.cpu_running)
            ),
            "",
        );
        row(
            "  one pod, ADDED -> Running (p50 / p99)",
            &format!("{} / {}", ms(to_running_p50), ms(to_running_p99)),
            "",
        );
        row(
            &format!("GET one pod (p50 / p99 of {REQUESTS})"),
            &format!("{} / {}", ms(get.0), ms(get.1)),
            &format!("p99 <= 2 ms: {}", verdict(get.1, Duration::from_millis(2))),
        );
        row(
            &format!(
                "LIST 1,000 pods, JSON, {} KiB (p50 / p99 of {REQUESTS})",
                list_bytes / 1024
            ),
            &format!("{} / {}", ms(list.0), ms(list.1)),
            "",
        );
        row(
            &format!("LIST 1,000 pods as a Table (p50 / p99 of {TABLE_REQUESTS})"),
            &format!("{} / {}", ms(table.0), ms(table.1)),
            "",
        );
        row(
            "`kubectl get pods --no-headers`, whole process",
            &ms(kubectl_get),
            "",
        );
        row(
            &format!("watch: change -> {WATCHERS} watchers (p50 / p99 of {CHANGES}x{WATCHERS})"),
            &format!("{} / {}", ms(watch.0), ms(watch.1)),
            &format!(
                "p99 <= 10 ms: {}",
                verdict(watch.1, Duration::from_millis(10))
            ),
        );
        row(
            "RSS of wpod serve: before / after 1,000 idle pods",
            &format!("{} / {} MiB", rss_before / 1024, rss_after / 1024),
            "",
        );
        row(
            "  per idle pod",
            &format!(
                "{:.1} KiB",
                (rss_after.saturating_sub(rss_before)) as f64 / PODS as f64
            ),
            "",
        );
        row(
            "  after the GET/LIST/watch runs",
            &format!("{} MiB", rss_end / 1024),
            "",
        );
        if applied.throttled {
            println!("(kubectl reported client-side throttling during the apply)");
        }
    });
    drop(rt);
    drop(server);
}
