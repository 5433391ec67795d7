//! wasi:http figures: the first start of a wasi:http container (from `wpod run` to its first
//! answer through `--publish`, with the compiled code cached and without), and requests per
//! second to it next to the built-in nginx in the same run, over keep-alive connections from the
//! host. The component is wstd's published `http_server` example. Prints measurements; never
//! fails on time.
//!
//! Run with `cargo bench --bench wasi_http`.

#[path = "../tests/all/wstd_example.rs"]
mod wstd_example;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;

const STARTS: usize = 5;
const CONNECTIONS: usize = 8;
const LOAD_FOR: Duration = Duration::from_secs(5);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Run(Child);

impl Run {
    fn start(manifest: &Path, cache: &Path, publish: &[String]) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wpod"));
        c.env("WPOD_CACHE_DIR", cache).args(["run", "-q"]);
        for p in publish {
            c.args(["-p", p]);
        }
        Run(c
            .arg(manifest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run wpod"))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let pid = i32::try_from(self.0.id()).expect("pid");
        // SAFETY: signalling our own child, not yet waited for. Twice: the pods are killed.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(100));
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// Whether `GET /` on 127.0.0.1:`port` answers 200.
fn answers(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

fn first_answer(manifest: &Path, cache: &Path) -> Duration {
    let port = free_port();
    let started = Instant::now();
    let _run = Run::start(manifest, cache, &[format!("{port}:8080")]);
    while !answers(port) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never answered"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Requests per second over `CONNECTIONS` keep-alive connections for `LOAD_FOR`.
async fn load(port: u16) -> f64 {
    let deadline = tokio::time::Instant::now() + LOAD_FOR;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        workers.spawn(async move {
            let mut done = 0u64;
            // A server may close a keep-alive connection (nginx after 1,000 requests, as
            // `keepalive_requests` has it); the client connects again, as wrk does.
            while tokio::time::Instant::now() < deadline {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                while tokio::time::Instant::now() < deadline && sender.ready().await.is_ok() {
                    let req = hyper::Request::get("/")
                        .header("host", "bench")
                        .body(Empty::<bytes::Bytes>::new())
                        .expect("request");
                    let res = sender.send_request(req).await.expect("response");
                    assert_eq!(res.status(), 200);
                    res.into_body().collect().await.expect("body");
                    done += 1;
                }
            }
            done
        });
    }
    let mut total = 0;
    while let Some(done) = workers.join_next().await {
        total += done.expect("worker");
    }
    total as f64 / LOAD_FOR.as_secs_f64()
}

fn main() {
    let wasm = wstd_example::build();
    let dir = scratch("wasi-http");
    let server = dir.join("server.yaml");
    std::fs::write(
        &server,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: hello-http}}\nspec:\n  containers:\n  \
             - name: server\n    image: {}\n    ports:\n    - containerPort: 8080\n",
            wasm.display()
        ),
    )
    .expect("manifest");
    println!(
        "wstd's http_server example ({} KB), served by wpod run on the wasm backend",
        std::fs::metadata(&wasm)
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    );

    let cold: Vec<Duration> = (0..STARTS)
        .map(|i| first_answer(&server, &dir.join(format!("cache-{i}"))))
        .collect();
    println!(
        "{:<60} median {:>7.1} ms",
        "first start -> first answer, nothing compiled yet",
        median_ms(cold)
    );
    let warm_cache = dir.join("cache-0");
    let warm: Vec<Duration> = (0..STARTS)
        .map(|_| first_answer(&server, &warm_cache))
        .collect();
    println!(
        "{:<60} median {:>7.1} ms",
        "first start -> first answer, compiled code cached",
        median_ms(warm)
    );

    let both = dir.join("both.yaml");
    let nginx = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx-pod.yaml"),
    )
    .expect("the nginx example");
    std::fs::write(
        &both,
        format!(
            "{}---\n{nginx}",
            std::fs::read_to_string(&server).expect("server")
        ),
    )
    .expect("manifest");
    let (http_port, nginx_port) = (free_port(), free_port());
    let _run = Run::start(
        &both,
        &warm_cache,
        &[
            format!("{http_port}:8080@hello-http"),
            format!("{nginx_port}:80@nginx-pod"),
        ],
    );
    let up = Instant::now();
    while !(answers(http_port) && answers(nginx_port)) {
        assert!(up.elapsed() < Duration::from_secs(60), "no answers");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let http = rt.block_on(load(http_port));
    let nginx = rt.block_on(load(nginx_port));
    println!(
        "requests/s, GET / over {CONNECTIONS} keep-alive connections from the host through --publish, {}s each:",
        LOAD_FOR.as_secs()
    );
    println!(
        "  {:<40} {http:>9.0}",
        "wasi:http component (an instance each)"
    );
    println!("  {:<40} {nginx:>9.0}", "built-in nginx (wasm)");
    let _ = std::fs::remove_dir_all(&dir);
}
