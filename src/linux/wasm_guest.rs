//! `.wasm` images on the Linux backend, the way runwasi runs wasm in Kubernetes: the container
//! process (already in the pod's namespaces, after pivot_root) runs the program with wpod's own
//! embedded wasmtime engine (no CRI bookkeeping: one program, one run), its sockets being the pod's real ones (wasmtime-wasi's host sockets, as for
//! `hostNetwork` pods on the wasm backend) and its volumes the real bind mounts.

use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use super::spec::ContainerSpec;
use crate::hostfs;
use crate::net::host::NetCtx;
use crate::net::{Cluster, Trace};
use crate::runtime::{LogSink, Stream};
use crate::wasm::{Filesystem, Guest, MainIo, PidNamespace, Process, Role, WasmEngine};

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
/// `compiled` is wpod's compiled form of it, if any.
pub fn run(wasm: &OwnedFd, compiled: Option<&OwnedFd>, spec: &ContainerSpec) -> i32 {
    match run_inner(wasm, compiled, spec) {
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
) -> anyhow::Result<i32> {
    let bytes = crate::images::read_file("the container's .wasm", &hostfs::fd_path(wasm))?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_string();
    // No cache of its own: wpod's compiled form is loaded from the descriptor, and a miss (an
    // engine of another version) only costs this run a compile.
    let engine = WasmEngine::new(None)?;
    let (program, _) = engine.program(&bytes, compiled.map(hostfs::fd_path))?;
    let mut env = vec![("HOSTNAME".to_string(), hostname.clone())];
    env.retain(|(k, _)| !spec.env.iter().any(|(name, _)| name == k));
    env.extend(spec.env.iter().cloned());
    let guest = Guest {
        name: "wasm".into(),
        argv: spec.argv.clone(),
        env,
        working_dir: spec.working_dir.clone(),
        // The container's memory cgroup already holds the limit.
        memory_limit: None,
        // The kernel enforces readOnlyRootFilesystem and read-only volumes on the real mounts.
        read_only_root: false,
        log: Arc::new(Stdio),
        net: NetCtx {
            netns: Cluster::detached_netns(
                &hostname,
                Default::default(),
                (&hostname, Default::default()),
            ),
            container: "wasm".into(),
            trace: Trace::default(),
        },
        // The host, here, is the pod's own network namespace: wasmtime-wasi's host sockets.
        host_network: true,
        // The container's root as the Linux backend built it, its volumes bind-mounted.
        fs: Arc::new(Filesystem::new(PathBuf::from("/"), Vec::new())),
        pids: PidNamespace::new(),
        group: "wasm".into(),
        memory_used: Arc::default(),
        role: Role::Main(MainIo::Log),
        image_program: None,
        ports: spec.ports.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let process = guest
            .new_process(true)
            .ok_or_else(|| anyhow::anyhow!("no room for the process"))?;
        forward_signals(&process)?;
        Ok(engine.run(program, guest, process).await.code)
    })
}

/// The signals this process gets (the kubelet's TERM, a `kill` from another container) go to
/// the wasm program, which catches them or, being PID 1, ignores them.
fn forward_signals(process: &Arc<Process>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        let mut stream = signal(SignalKind::from_raw(sig))?;
        let (process, sig) = (process.clone(), sig as u8);
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                process.signal(sig);
            }
        });
    }
    Ok(())
}
