//! `.wasm` images on the Linux backend, the way runwasi runs wasm in Kubernetes: the container
//! process (already in the pod's namespaces, after pivot_root) runs the program with wpod's own
//! embedded wasmtime, its sockets being the pod's real ones (wasmtime-wasi's host sockets, as for
//! `hostNetwork` pods on the wasm backend) and its volumes the real bind mounts.

use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::spec::ContainerSpec;
use crate::net::{Cluster, Trace};
use crate::runtime::{ContainerConfig, ImageInfo, LogSink, RuntimeService, SandboxConfig, Stream};
use crate::wasm::{WasmOptions, WasmRuntime};

/// wasmtime's own state, outside everything the guest can reach (its preopens).
pub const STATE: &str = "/.wpod";

/// Container output goes to this process's stdout/stderr, which wpod reads as the container's log.
struct Stdio;
impl LogSink for Stdio {
    fn line(&self, _: &str, stream: Stream, line: &str) {
        let _ = match stream {
            Stream::Stdout => writeln!(std::io::stdout(), "{line}"),
            Stream::Stderr => writeln!(std::io::stderr(), "{line}"),
        };
    }
}

/// The wasm image and its compiled form, opened while their host paths are still reachable
/// (before pivot_root, or before joining the container's mount namespace).
pub fn open_files(spec: &ContainerSpec) -> std::io::Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    let open = |p: &Option<PathBuf>| {
        p.as_deref()
            .map(|p| super::sys::open(p, libc::O_RDONLY))
            .transpose()
    };
    let wasm = open(&spec.wasm)?;
    // A compiled file that went away only costs a compile.
    let compiled = open(&spec.wasm_compiled).ok().flatten();
    Ok((wasm, compiled))
}

/// Runs the wasm program behind `wasm` (opened before pivot_root) to completion; its exit code.
/// `compiled` is wpod's compiled form of it, if any. `tag` names its state under /.wpod: the
/// container's own run, or one exec in it.
pub fn run(wasm: &OwnedFd, compiled: Option<&OwnedFd>, spec: &ContainerSpec, tag: &str) -> i32 {
    let result = run_inner(wasm, compiled, spec, tag);
    let _ = std::fs::remove_file(Path::new(STATE).join(format!("{tag}.wasm")));
    let _ = std::fs::remove_dir_all(Path::new(STATE).join(tag));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wpod: running the wasm image: {e:#}");
            128
        }
    }
}

fn run_inner(
    wasm: &OwnedFd,
    compiled: Option<&OwnedFd>,
    spec: &ContainerSpec,
    tag: &str,
) -> anyhow::Result<i32> {
    // wpod resolves file images by their .wasm suffix: a link to the open file gives it one.
    std::fs::create_dir_all(STATE)?;
    let link = Path::new(STATE).join(format!("{tag}.wasm"));
    std::os::unix::fs::symlink(format!("/proc/self/fd/{}", wasm.as_raw_fd()), &link)?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_string();
    // wpod's compiled form appears in this run's own cache, under the name the cache looks for.
    let cache_dir = match (compiled, &spec.wasm_compiled) {
        (Some(fd), Some(host)) => {
            let dir = Path::new(STATE).join(tag).join("cache");
            let entry = dir
                .join("compiled")
                .join(host.file_name().unwrap_or_default());
            std::fs::create_dir_all(dir.join("compiled"))?;
            std::os::unix::fs::symlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), &entry)?;
            Some(dir)
        }
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let runtime = WasmRuntime::new(WasmOptions {
            cache_dir: cache_dir.clone(),
            progress: false,
            cluster: Cluster::new(Trace::default()),
            // The container's root, as the Linux backend built it: its volumes are real mounts.
            shared_root: Some(PathBuf::from("/")),
        })?;
        let image: ImageInfo = runtime
            .pull_image(&link.to_string_lossy(), Path::new("/"))
            .await?;
        let sandbox = runtime
            .run_pod_sandbox(&SandboxConfig {
                pod_name: hostname.clone(),
                namespace: "default".into(),
                uid: String::new(),
                hostname,
                // The host, here, is the pod's own network namespace.
                host_network: true,
                share_process_namespace: false,
                state_dir: PathBuf::from(STATE).join(tag),
                port_mappings: Vec::new(),
            })
            .await?;
        let id = runtime
            .create_container(
                &sandbox,
                ContainerConfig {
                    name: "wasm".into(),
                    image,
                    argv: spec.argv.clone(),
                    env: spec.env.clone(),
                    working_dir: spec.working_dir.clone(),
                    // The container's memory cgroup already holds the limit.
                    memory_limit: None,
                    cpu_limit_millis: None,
                    // Already in the shared root, as bind mounts.
                    mounts: Vec::new(),
                    attempt: 0,
                    log: Arc::new(Stdio),
                    // The container process itself is already confined.
                    security: Default::default(),
                },
            )
            .await?;
        runtime.start_container(&id).await?;
        let status = runtime.wait_container(&id).await?;
        Ok(status.code)
    })
}
