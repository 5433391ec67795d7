//! The Linux backend beside the wasm backend, for the same pod. Prints figures; never fails on time.
//!
//! Run as root with `cargo bench --bench backends`. Measures, on each backend:
//! - pod start: the infra (pause process / virtual network) plus two containers running;
//! - localhost round trip inside a pod: testkit `ping-pong` against `echo-server` (64 B messages);
//! - what a probe costs: an `exec` of busybox `cat` in a running container (CRI ExecSync), and a
//!   connection from the node to a server on the pod's IP (what httpGet/tcpSocket probes open).
//!
//! Without the Linux backend (not Linux, no namespaces) only the wasm figures are printed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wpod::net::{Cluster, Trace};
use wpod::runtime::{ContainerConfig, ExecSync, LogSink, RuntimeService, SandboxConfig, Stream};
use wpod::wasm::{WasmOptions, WasmRuntime};

const STARTS: usize = 20;

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);
impl LogSink for Collect {
    fn line(&self, _: &str, _: Stream, line: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.to_string());
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn sandbox(name: &str, dir: &Path) -> SandboxConfig {
    SandboxConfig {
        pod_name: name.into(),
        namespace: "default".into(),
        uid: "uid".into(),
        hostname: name.into(),
        host_network: false,
        share_process_namespace: false,
        dns: Default::default(),
        hosts: Default::default(),
        state_dir: dir.join(name),
        port_mappings: Vec::new(),
    }
}

fn container(
    name: &str,
    image: &wpod::runtime::ImageInfo,
    argv: &[&str],
    log: Arc<Collect>,
) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        image: image.clone(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        working_dir: None,
        memory_limit: None,
        cpu_limit_millis: None,
        mounts: vec![],
        attempt: 0,
        log,
        security: Default::default(),
        console: Default::default(),
        ports: vec![],
    }
}

/// Median time from nothing to a sandbox with two running containers.
async fn pod_start(rt: &dyn RuntimeService, dir: &Path) -> Duration {
    let image = rt
        .pull_image("testkit", Path::new("."))
        .await
        .expect("pull");
    let mut samples = Vec::new();
    for i in 0..STARTS {
        let log = Arc::new(Collect::default());
        let t = Instant::now();
        let sb = rt
            .run_pod_sandbox(&sandbox(&format!("start{i}"), dir))
            .await
            .expect("sandbox");
        let a = rt
            .create_container(
                &sb,
                container("a", &image, &["testkit", "sleep", "30"], log.clone()),
            )
            .await
            .expect("create a");
        let b = rt
            .create_container(
                &sb,
                container("b", &image, &["testkit", "sleep", "30"], log),
            )
            .await
            .expect("create b");
        rt.start_container(&a).await.expect("start a");
        rt.start_container(&b).await.expect("start b");
        samples.push(t.elapsed());
        rt.stop_pod_sandbox(&sb).await.expect("stop");
        rt.remove_pod_sandbox(&sb).await.expect("remove");
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// The round-trip line testkit's ping-pong prints.
async fn round_trip(rt: &dyn RuntimeService, dir: &Path) -> String {
    let image = rt
        .pull_image("testkit", Path::new("."))
        .await
        .expect("pull");
    let log = Arc::new(Collect::default());
    let sb = rt
        .run_pod_sandbox(&sandbox("rtt", dir))
        .await
        .expect("sandbox");
    let server = rt
        .create_container(
            &sb,
            container(
                "server",
                &image,
                &["testkit", "echo-server", "127.0.0.1:9000"],
                log.clone(),
            ),
        )
        .await
        .expect("create server");
    let client = rt
        .create_container(
            &sb,
            container(
                "client",
                &image,
                &["testkit", "ping-pong", "127.0.0.1:9000", "5000", "64"],
                log.clone(),
            ),
        )
        .await
        .expect("create client");
    rt.start_container(&server).await.expect("start server");
    rt.start_container(&client).await.expect("start client");
    rt.wait_container(&client).await.expect("wait client");
    rt.stop_pod_sandbox(&sb).await.expect("stop");
    rt.remove_pod_sandbox(&sb).await.expect("remove");
    let lines = log.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lines
        .into_iter()
        .find(|l| l.starts_with("round trip"))
        .unwrap_or_else(|| "no figure (the client printed none)".into())
}

/// Median cost of an exec probe (busybox `cat /etc/hostname` in a running busybox container) and
/// of a probe connection from the node to a listening port on the pod's IP.
async fn probe_costs(rt: &dyn RuntimeService, dir: &Path) -> (Duration, Duration) {
    let busybox = rt
        .pull_image("busybox", Path::new("."))
        .await
        .expect("pull busybox");
    let testkit = rt
        .pull_image("testkit", Path::new("."))
        .await
        .expect("pull testkit");
    let log = Arc::new(Collect::default());
    let sb = rt
        .run_pod_sandbox(&sandbox("probes", dir))
        .await
        .expect("sandbox");
    let shell = rt
        .create_container(
            &sb,
            container("shell", &busybox, &["sleep", "60"], log.clone()),
        )
        .await
        .expect("create shell");
    let server = rt
        .create_container(
            &sb,
            container(
                "server",
                &testkit,
                &["testkit", "echo-server", "0.0.0.0:8080"],
                log,
            ),
        )
        .await
        .expect("create server");
    rt.start_container(&shell).await.expect("start shell");
    rt.start_container(&server).await.expect("start server");
    let argv = vec!["cat".to_string(), "/etc/hostname".to_string()];
    let mut execs = Vec::new();
    let mut dials = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        let r = rt
            .exec_sync(
                &shell,
                ExecSync {
                    argv: &argv,
                    timeout: Duration::from_secs(5),
                },
            )
            .await
            .expect("exec");
        execs.push(t.elapsed());
        assert_eq!(r.exit_code, 0, "{}", r.output());
        let t = Instant::now();
        // The server may still be starting: retry refusals, time the successful connect.
        loop {
            let t_try = Instant::now();
            match rt.dial(&sb, 8080).await {
                Ok(_) => {
                    dials.push(t_try.elapsed());
                    break;
                }
                Err(_) if t.elapsed() < Duration::from_secs(5) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("dial: {e}"),
            }
        }
    }
    rt.stop_pod_sandbox(&sb).await.expect("stop");
    rt.remove_pod_sandbox(&sb).await.expect("remove");
    execs.sort();
    dials.sort();
    (execs[execs.len() / 2], dials[dials.len() / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let dir = scratch("backends");
        let cluster = Cluster::new(Trace::default());
        let wasm = WasmRuntime::new(WasmOptions {
            cache_dir: Some(dir.join("cache")),
            progress: false,
            cluster: cluster.clone(),
        })
        .expect("wasm runtime");
        let wasm_start = pod_start(&wasm, &dir).await;
        let wasm_rtt = round_trip(&wasm, &dir).await;
        println!("wasm : pod start (infra + 2 containers running), median of {STARTS}: {:.2} ms", wasm_start.as_secs_f64() * 1e3);
        println!("wasm : localhost {wasm_rtt}");
        let (wasm_exec, wasm_dial) = probe_costs(&wasm, &dir).await;
        println!(
            "wasm : exec probe (busybox cat), median of {STARTS}: {}; probe connection: {}",
            ms(wasm_exec),
            ms(wasm_dial)
        );
        #[cfg(target_os = "linux")]
        {
            use wpod::linux::{LinuxOptions, LinuxRuntime};
            match LinuxRuntime::new(LinuxOptions {
                cluster,
                exe: PathBuf::from(env!("CARGO_BIN_EXE_wpod")),
                cache_dir: dir.join("cache"),
            }) {
                Ok(linux) => {
                    let linux_start = pod_start(&linux, &dir).await;
                    let linux_rtt = round_trip(&linux, &dir).await;
                    println!(
                        "linux: pod start (infra + 2 containers running), median of {STARTS}: {:.2} ms ({:.1}x wasm)",
                        linux_start.as_secs_f64() * 1e3,
                        linux_start.as_secs_f64() / wasm_start.as_secs_f64()
                    );
                    println!("linux: localhost {linux_rtt}");
                    let (linux_exec, linux_dial) = probe_costs(&linux, &dir).await;
                    println!(
                        "linux: exec probe (busybox cat), median of {STARTS}: {}; probe connection: {}",
                        ms(linux_exec),
                        ms(linux_dial)
                    );
                }
                Err(why) => println!("linux: skipped: {why}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
