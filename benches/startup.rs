//! Start-up figures for wpod's WebAssembly backend. Prints measurements; never fails on time.
//!
//! Run with `cargo bench --bench startup`. Measures:
//! - compiling the built-in testkit image the first time vs loading it from the disk cache;
//! - one container's create + start + exit (instantiation of a cached program plus a trivial run);
//! - pod start latency: a two-container pod from `spawn` until both containers are running;
//! - the whole `wpod run` process for a two-container pod that exits at once (warm cache).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1 as api;
use wpod::net::{Cluster, Trace};
use wpod::plan::PodPlan;
use wpod::pod::backoff::BackoffPolicy;
use wpod::pod::clock::Clock;
use wpod::pod::events::RecordedEvents;
use wpod::pod::{self, KubeletConfig, Phase, StopMode};
use wpod::runtime::{ContainerConfig, LogSink, RuntimeService, SandboxConfig, Stream};
use wpod::wasm::{CompileSource, WasmOptions, WasmRuntime};

struct Discard;
impl LogSink for Discard {
    fn line(&self, _: &str, _: Stream, _: &str) {}
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn runtime(cache: &Path) -> WasmRuntime {
    WasmRuntime::new(WasmOptions {
        cache_dir: Some(cache.to_path_buf()),
        progress: false,
        cluster: Cluster::new(Trace::default()),
    })
    .expect("runtime")
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    let p90 = samples[(samples.len() * 9 / 10).min(samples.len() - 1)];
    println!(
        "{name:<48} median {:>8.3} ms   p90 {:>8.3} ms   min {:>8.3} ms   (n={})",
        ms(median),
        ms(p90),
        ms(samples[0]),
        samples.len()
    );
}

async fn compile_vs_cache() {
    for image in ["testkit", "busybox", "nginx"] {
        let mut first = Vec::new();
        let mut cached = Vec::new();
        for i in 0..3 {
            let cache = scratch(&format!("cache-{image}-{i}"));
            let rt = runtime(&cache);
            let t = Instant::now();
            let (_, source) = rt.prepare(image, Path::new(".")).await.expect("compile");
            first.push(t.elapsed());
            assert_eq!(source, CompileSource::Compiled);
            drop(rt);
            let rt = runtime(&cache);
            let t = Instant::now();
            let (_, source) = rt.prepare(image, Path::new(".")).await.expect("load");
            cached.push(t.elapsed());
            assert_eq!(source, CompileSource::DiskCache);
            let _ = std::fs::remove_dir_all(&cache);
        }
        stats(&format!("{image} image: first compile"), first);
        stats(&format!("{image} image: load from the disk cache"), cached);
    }
}

/// Notes when a container's first output line arrives.
struct FirstLine(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Instant>>>);

impl LogSink for FirstLine {
    fn line(&self, _: &str, _: Stream, _: &str) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(Instant::now());
        }
    }
}

/// The busybox toolbox from create to its first line of output, warm.
async fn toolbox_first_output(rt: &Arc<WasmRuntime>, sandbox: &wpod::runtime::SandboxId) {
    let image = rt
        .pull_image("busybox", Path::new("."))
        .await
        .expect("pull");
    let mut samples = Vec::new();
    for attempt in 0..100 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = ContainerConfig {
            name: "bb".into(),
            image: image.clone(),
            argv: vec!["sh".into(), "-c".into(), "echo ready".into()],
            env: vec![],
            working_dir: None,
            memory_limit: None,
            cpu_limit_millis: None,
            mounts: vec![],
            attempt,
            log: Arc::new(FirstLine(std::sync::Mutex::new(Some(tx)))),
            security: Default::default(),
            console: Default::default(),
            ports: vec![],
        };
        let t = Instant::now();
        let id = rt.create_container(sandbox, config).await.expect("create");
        rt.start_container(&id).await.expect("start");
        let first = rx.await.expect("output");
        samples.push(first - t);
        rt.wait_container(&id).await.expect("wait");
        rt.remove_container(&id).await.expect("remove");
    }
    stats(
        "busybox `sh -c 'echo ready'`: create -> first output",
        samples,
    );
}

async fn container_start(rt: &Arc<WasmRuntime>) {
    let image = rt
        .pull_image("testkit", Path::new("."))
        .await
        .expect("pull");
    let sandbox = rt
        .run_pod_sandbox(&SandboxConfig {
            pod_name: "bench".into(),
            namespace: "default".into(),
            uid: "uid".into(),
            hostname: "bench".into(),
            host_network: false,
            share_process_namespace: false,
            dns: Default::default(),
            hosts: Default::default(),
            state_dir: std::env::temp_dir().join(format!("wpod-bench-{}", std::process::id())),
            port_mappings: Vec::new(),
        })
        .await
        .expect("sandbox");
    let mut samples = Vec::new();
    for attempt in 0..200 {
        let config = ContainerConfig {
            name: "c".into(),
            image: image.clone(),
            argv: vec!["testkit".into(), "exit".into(), "0".into()],
            env: vec![],
            working_dir: None,
            memory_limit: None,
            cpu_limit_millis: None,
            mounts: vec![],
            attempt,
            log: Arc::new(Discard),
            security: Default::default(),
            console: Default::default(),
            ports: vec![],
        };
        let t = Instant::now();
        let id = rt.create_container(&sandbox, config).await.expect("create");
        rt.start_container(&id).await.expect("start");
        let status = rt.wait_container(&id).await.expect("wait");
        samples.push(t.elapsed());
        assert_eq!(status.code, 0);
        rt.remove_container(&id).await.expect("remove");
    }
    stats("container create + start + exit (testkit exit 0)", samples);
    toolbox_first_output(rt, &sandbox).await;
}

fn two_container_pod() -> PodPlan {
    let pod: api::Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench"},
        "spec": {"containers": [
            {"name": "a", "image": "testkit", "command": ["testkit", "sleep", "60"]},
            {"name": "b", "image": "testkit", "command": ["testkit", "sleep", "60"]}
        ]}
    }))
    .expect("pod");
    PodPlan::from_pod(&pod, "uid", ".".into())
}

async fn pod_start(rt: &Arc<WasmRuntime>) {
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let handle = pod::spawn(
            two_container_pod(),
            rt.clone(),
            KubeletConfig {
                backoff: BackoffPolicy::default(),
                clock: Clock::system(),
                events: Arc::new(RecordedEvents::default()),
                log: Arc::new(Discard),
                state_dir: std::env::temp_dir().join(format!("wpod-bench-{}", std::process::id())),
                keep_volumes: false,
                services: Default::default(),
                tokens: None,
                retry_pulls: false,
            },
        );
        let mut status = handle.status.clone();
        status
            .wait_for(|p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(Phase::Running.as_str())
            })
            .await
            .expect("pod reaches Running");
        samples.push(t.elapsed());
        handle.stop(StopMode::Kill);
        handle.wait().await;
    }
    stats("2-container pod: spawn -> both running (warm)", samples);
}

fn whole_process(cache: &Path) {
    let dir = scratch("process");
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bench}\nspec:\n  restartPolicy: Never\n  containers:\n  \
         - {name: a, image: testkit, command: [testkit, exit, \"0\"]}\n  \
         - {name: b, image: testkit, command: [testkit, exit, \"0\"]}\n",
    )
    .expect("manifest");
    let bin = env!("CARGO_BIN_EXE_wpod");
    let run = || {
        std::process::Command::new(bin)
            .env("WPOD_CACHE_DIR", cache)
            .args(["run", "-q"])
            .arg(&manifest)
            .output()
            .expect("wpod run")
    };
    assert!(run().status.success(), "warm-up run failed");
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let out = run();
        samples.push(t.elapsed());
        assert!(out.status.success());
    }
    stats("`wpod run` 2-container pod, whole process (warm)", samples);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let cache = scratch("shared-cache");
    rt.block_on(async {
        compile_vs_cache().await;
        let wasm = Arc::new(runtime(&cache));
        container_start(&wasm).await;
        pod_start(&wasm).await;
    });
    whole_process(&cache);
    let _ = std::fs::remove_dir_all(&cache);
}
