//! Image figures: importing a 26 MB image, pushing it to and pulling it from a local registry
//! (Debian's docker-registry), and a pod's first start that pulls it vs one that finds it in the
//! store. Prints measurements; never fails on time.
//!
//! Run with `cargo bench --bench images` (needs `docker-registry`, which .ci/run installs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
/// What the image holds besides its program: incompressible bytes, so gzip does not shrink it.
const DATA_BYTES: usize = 25 << 20;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wpod-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn wpod(store: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .env("WPOD_IMAGE_STORE", store)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wpod");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "wpod {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn stats(name: &str, mut samples: Vec<Duration>, megabytes: Option<f64>) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let rate = megabytes
        .map(|mb| format!("   {:>7.1} MB/s", mb / median.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{name:<52} median {:>8.1} ms   min {:>8.1} ms{rate}   (n={})",
        median.as_secs_f64() * 1000.0,
        samples[0].as_secs_f64() * 1000.0,
        samples.len()
    );
}

/// A docker-archive of one image: the busybox toolbox as its program and 25 MB of data.
fn big_archive(dir: &Path) -> (PathBuf, f64) {
    let wasm = std::fs::read(Path::new(env!("OUT_DIR")).join("busybox.wasm")).expect("busybox");
    // xorshift: incompressible enough, and the same bytes every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..DATA_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut layer = tar::Builder::new(Vec::new());
    for (name, bytes) in [("busybox.wasm", &wasm[..]), ("data/blob.bin", &data[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        layer.append_data(&mut h, name, bytes).expect("layer");
    }
    let layer = layer.into_inner().expect("layer");
    let config = serde_json::json!({
        "architecture": "wasm", "os": "wasip2",
        "config": {"Entrypoint": ["/busybox.wasm"], "Cmd": ["sh", "-c", "echo big image"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["bench/big:1"], "Layers": ["layer.tar"],
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("manifest.json", manifest.as_bytes()),
        ("config.json", config.as_bytes()),
        ("layer.tar", &layer[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, name, bytes).expect("archive");
    }
    let path = dir.join("big.tar");
    let bytes = archive.into_inner().expect("archive");
    let megabytes = bytes.len() as f64 / 1e6;
    std::fs::write(&path, bytes).expect("write the archive");
    (path, megabytes)
}

struct Registry(std::process::Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn registry(dir: &Path) -> (Registry, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n\
             http: {{addr: \"{host}\"}}\n",
            dir.join("registry").display()
        ),
    )
    .expect("registry config");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian's package; .ci/run installs it)");
    let up = Instant::now();
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(20),
            "the registry did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (Registry(child), host)
}

fn main() {
    let dir = scratch("images");
    let (archive, megabytes) = big_archive(&dir);
    println!(
        "image: a docker-archive of {megabytes:.1} MB (the busybox program and 25 MB of data)"
    );
    let archive = archive.to_string_lossy().into_owned();
    let imports: Vec<Duration> = (0..RUNS)
        .map(|i| {
            wpod(
                &dir.join(format!("import-{i}")),
                &["image", "import", &archive],
            )
        })
        .collect();
    stats(
        "wpod image import (docker-archive, fresh store)",
        imports,
        Some(megabytes),
    );

    let (_registry, host) = registry(&dir);
    let store = dir.join("import-0");
    let insecure = ["--insecure-registry", host.as_str()];
    let pushes: Vec<Duration> = (0..RUNS)
        .map(|i| {
            let remote = format!("{host}/bench/big:{i}");
            wpod(
                &store,
                &[&["image", "push", "bench/big:1", &remote][..], &insecure].concat(),
            )
        })
        .collect();
    stats(
        "wpod image push (first: blobs; then: manifest only)",
        pushes,
        None,
    );
    let remote = format!("{host}/bench/big:0");
    let pulls: Vec<Duration> = (0..RUNS)
        .map(|i| {
            let store = dir.join(format!("pull-{i}"));
            wpod(
                &store,
                &[&["image", "pull", &remote][..], &insecure].concat(),
            )
        })
        .collect();
    stats(
        "wpod image pull (local registry, fresh store)",
        pulls,
        Some(megabytes),
    );

    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: big}}\nspec:\n  restartPolicy: Never\n  \
             containers:\n  - {{name: c, image: \"{remote}\"}}\n"
        ),
    )
    .expect("manifest");
    let manifest = manifest.to_string_lossy().into_owned();
    let run = |store: &Path| {
        wpod(
            store,
            &[&["run", "-q"][..], &insecure, &[&manifest]].concat(),
        )
    };
    let first: Vec<Duration> = (0..RUNS)
        .map(|i| run(&dir.join(format!("run-{i}"))))
        .collect();
    stats("wpod run: the image pulled by the kubelet", first, None);
    let present: Vec<Duration> = (0..RUNS)
        .map(|i| run(&dir.join(format!("run-{i}"))))
        .collect();
    stats("wpod run: the image already in the store", present, None);
    let _ = std::fs::remove_dir_all(&dir);
}
