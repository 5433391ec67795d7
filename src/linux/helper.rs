//! wpod's helper processes for the Linux backend: `/proc/self/exe` re-executed with a hidden first
//! argument. Each is single-threaded (no async runtime), so it may unshare, setns and fork freely —
//! the multithreaded wpod process never does namespace work itself.
//!
//! - `__wpod-pause HOSTNAME NET` — the pod's infra: new net (unless NET is 0), ipc, uts and pid
//!   namespaces. It forks the real pause process (PID 1 of the pod's PID namespace), prints its
//!   pid, and forwards TERM to it. The pause brings `lo` up, reaps children, hands out sockets made
//!   in the pod's network namespace (over its stdin, a unix socket) and exits 0 on TERM or INT.
//! - `__wpod-container SPEC` — joins the pause's namespaces, unshares a pid namespace (unless shared),
//!   forks the container process (which unshares its mount namespace, builds its root and execs), and exits with
//!   the container's exit code (128 + signal for a signal).
//! - `__wpod-exec SPEC PID PROGRAM ARGV...` — runs a command inside a running container (see exec.rs).
//! - `__wpod-node` — holds the private "node" network namespace with the pod bridge and wires pods
//!   to it, on request, one line per command on stdin.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::confine;
use super::rootfs;
use super::spec::ContainerSpec;
use super::sys;

pub const PAUSE: &str = "__wpod-pause";
pub const CONTAINER: &str = "__wpod-container";
pub const NODE: &str = "__wpod-node";
/// Asks the node helper for a TCP socket of the node's network namespace.
pub const SOCKET_REQUEST: &[u8] = b"socket\n";
/// The same for a UDP socket (the node's DNS server).
pub const UDP_SOCKET_REQUEST: &[u8] = b"udpsocket\n";

/// Runs a helper when wpod was started as one; None for an ordinary command line.
pub fn dispatch() -> Option<u8> {
    let args: Vec<String> = std::env::args().collect();
    let helper = [PAUSE, CONTAINER, NODE, super::exec::EXEC];
    if args.get(1).is_some_and(|a| helper.contains(&a.as_str())) {
        super::lifeline::close_inherited_fds();
    }
    let code = match args.get(1).map(String::as_str) {
        Some(PAUSE) => pause_main(
            args.get(2).map_or("pod", String::as_str),
            args.get(3).is_none_or(|n| n != "0"),
        ),
        Some(CONTAINER) => container_main(Path::new(args.get(2).map_or("", String::as_str))),
        Some(NODE) => node_main(),
        Some(super::exec::EXEC) => super::exec::helper_main(&args[2..]),
        _ => return None,
    };
    Some(code.clamp(0, 255) as u8)
}

fn fail(what: &str, e: io::Error) -> i32 {
    eprintln!("wpod {what}: {e}");
    1
}

/// Maps the caller's uid/gid to root in a fresh user namespace (rootless mode).
fn enter_user_namespace() -> io::Result<()> {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    sys::unshare(libc::CLONE_NEWUSER)?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
}

fn pause_main(hostname: &str, own_net: bool) -> i32 {
    // SAFETY: geteuid cannot fail.
    let rootless = unsafe { libc::geteuid() } != 0;
    if rootless && let Err(e) = enter_user_namespace() {
        return fail("pause: creating a user namespace", e);
    }
    let mut flags = libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWPID;
    if own_net {
        flags |= libc::CLONE_NEWNET;
    }
    if let Err(e) = sys::unshare(flags) {
        return fail("pause", e);
    }
    if let Err(e) = sys::sethostname(hostname) {
        return fail("pause", e);
    }
    if own_net && let Err(e) = sys::loopback_up() {
        return fail("pause", e);
    }
    // Blocked before the fork, so the pause process inherits the mask with the signalfd.
    let signals = match sys::signalfd(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD]) {
        Ok(fd) => fd,
        Err(e) => return fail("pause", e),
    };
    let pid = match sys::fork() {
        Ok(0) => {
            let _ = sys::set_pdeathsig(libc::SIGKILL);
            // Named as Kubernetes' infra container is, for `ps` in a shared PID namespace.
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, c"pause".as_ptr()) };
            pause_loop(&signals);
            // SAFETY: leaving the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        Ok(pid) => pid,
        Err(e) => return fail("pause", e),
    };
    // The sockets are the pause's business; this process only waits.
    // SAFETY: fd 0 is ours; replacing it by /dev/null keeps the number taken.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        libc::dup2(null, 0);
        libc::close(null);
    }
    println!("{pid}");
    let _ = io::stdout().flush();
    loop {
        match sys::read_signal(&signals) {
            Ok(libc::SIGTERM) | Ok(libc::SIGINT) => {
                let _ = sys::kill(pid, libc::SIGTERM);
            }
            Ok(_) => {
                if let Ok((p, status)) = sys::waitpid(pid, libc::WNOHANG)
                    && p == pid
                {
                    return sys::exit_code(status);
                }
            }
            Err(e) => return fail("pause", e),
        }
    }
}

/// PID 1 of the pod: reaps orphans, answers socket requests, exits on TERM/INT or when wpod is gone.
fn pause_loop(signals: &OwnedFd) {
    let factory = 0;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: factory,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            match sys::read_signal(signals) {
                Ok(libc::SIGCHLD) => {
                    while matches!(sys::waitpid(-1, libc::WNOHANG), Ok((p, _)) if p > 0) {}
                }
                _ => return,
            }
        }
        if fds[1].revents != 0 && !serve_socket(factory) {
            return;
        }
    }
}

/// One request on the factory socket: any byte asks for a TCP socket of the pod's network, sent
/// back with SCM_RIGHTS. False when wpod has gone away.
fn serve_socket(conn: i32) -> bool {
    let mut byte = [0u8; 1];
    // SAFETY: reading one byte into a live buffer.
    if unsafe { libc::read(conn, byte.as_mut_ptr().cast(), 1) } != 1 {
        return false;
    }
    serve_socket_now(conn, libc::SOCK_STREAM)
}

/// Sends a new TCP socket of this process's network namespace over `conn`.
fn serve_socket_now(conn: i32, type_: i32) -> bool {
    // SAFETY: creating a socket; it is closed after sending.
    let sock = unsafe { libc::socket(libc::AF_INET, type_ | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return send_fd(conn, None);
    }
    // SAFETY: sock was just created.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    send_fd(conn, Some(&sock))
}

fn send_fd(conn: i32, fd: Option<&OwnedFd>) -> bool {
    let byte = [u8::from(fd.is_some())];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut _,
        iov_len: 1,
    };
    // SAFETY: a msghdr with one iovec and, when sending, one SCM_RIGHTS control message in a
    // buffer sized by CMSG_SPACE.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
        let mut cbuf = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd.as_raw_fd());
        }
        libc::sendmsg(conn, &msg, libc::MSG_NOSIGNAL) == 1
    }
}

fn container_main(spec_path: &Path) -> i32 {
    let spec: ContainerSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "wpod container helper: reading {}: {e}",
                spec_path.display()
            );
            return 128;
        }
    };
    match run_container(&spec) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::fs::write(&spec.error_file, e.to_string());
            128
        }
    }
}

fn run_container(spec: &ContainerSpec) -> io::Result<i32> {
    let me = std::process::id().to_string();
    for cg in &spec.cgroups {
        std::fs::write(cg.join("cgroup.procs"), &me).map_err(|e| {
            io::Error::new(e.kind(), format!("joining cgroup {}: {e}", cg.display()))
        })?;
    }
    // Join order matters: the user namespace first (it owns the others), mount last.
    let mut kinds = Vec::new();
    if spec.user_ns {
        kinds.push("user");
    }
    if spec.share_pid {
        kinds.push("pid");
    }
    kinds.extend(["uts", "ipc"]);
    if spec.join_net {
        kinds.push("net");
    }
    let fds = kinds
        .iter()
        .map(|k| {
            sys::open(
                &Path::new("/proc")
                    .join(spec.pause_pid.to_string())
                    .join("ns")
                    .join(k),
                libc::O_RDONLY,
            )
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io::Error::new(e.kind(), format!("the pod's pause process is gone: {e}")))?;
    for (fd, kind) in fds.iter().zip(&kinds) {
        sys::setns(fd, kind)?;
    }
    // A new PID namespace applies to the children: the container process will be its PID 1.
    if !spec.share_pid {
        sys::unshare(libc::CLONE_NEWPID)?;
    }
    // Opened before pivot_root: the program need not be inside the container's root.
    let program = sys::open(&spec.program, libc::O_PATH)?;
    let (argv, env) = sys::exec_strings(&spec.argv, &spec.env)?;
    let (mut report_r, report_w) = io::pipe()?;
    // This helper waits in the container's memory cgroup: the kernel's OOM killer must take the
    // container's processes, never it (a runc shim lives outside the cgroup). Rootless it may
    // not lower its score, and only stays as likely a victim as before.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    match sys::fork()? {
        0 => {
            // The container's processes are ordinary victims again.
            let _ = std::fs::write("/proc/self/oom_score_adj", "0");
            drop(report_r);
            let mut report = Some(report_w);
            let e = container_process(spec, &program, &argv, &env, &mut report);
            if let Some(mut w) = report {
                let _ = w.write_all(e.to_string().as_bytes());
            }
            // SAFETY: leaving the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(127) }
        }
        pid => {
            drop(report_w);
            let record = spec.pid_file.with_file_name("container.proc");
            let _ = super::leftovers::record_process(&record, pid as u32);
            let cgroups = spec.cgroups.clone();
            // wpod gone: the container goes (as PID 1 of its PID namespace it takes all of it;
            // in a shared one, its process group and cgroups), then this helper.
            let kill_all = move || {
                let _ = sys::kill_group(pid, libc::SIGKILL);
                let _ = sys::kill(pid, libc::SIGKILL);
                for cg in &cgroups {
                    let procs =
                        std::fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
                    procs
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .for_each(|p| {
                            let _ = sys::kill(p, libc::SIGKILL);
                        });
                }
            };
            // The child says (a NUL byte) once its namespaces and root are final: from then on
            // wpod may show them and exec into it.
            let mut first = [0u8; 1];
            let mut report = String::new();
            if matches!(report_r.read(&mut first), Ok(1) if first[0] == 0) {
                let tmp = spec.pid_file.with_extension("tmp");
                std::fs::write(&tmp, pid.to_string())
                    .and_then(|()| std::fs::rename(&tmp, &spec.pid_file))?;
            } else {
                report.push(char::from(first[0]));
            }
            // EOF comes with the successful exec (close-on-exec) or the child's exit.
            let _ = report_r.read_to_string(&mut report);
            let (_, status) = super::lifeline::wait_child(pid, kill_all)?;
            if !report.is_empty() {
                return Err(io::Error::other(report));
            }
            Ok(sys::exit_code(status))
        }
    }
}

/// The container process: builds its root and execs the program; returns only on failure.
fn container_process(
    spec: &ContainerSpec,
    program: &OwnedFd,
    argv: &[std::ffi::CString],
    env: &[std::ffi::CString],
    report: &mut Option<io::PipeWriter>,
) -> io::Error {
    // The helper forwards nothing: when it is killed, the container goes with it.
    if let Err(e) = sys::set_pdeathsig(libc::SIGKILL) {
        return e;
    }
    // Its own session and process group, so a kill can reach all its descendants at once.
    // SAFETY: setsid has no memory effects.
    unsafe { libc::setsid() };
    // The mount namespace is the container process's alone: had the helper shared it, the
    // container's pivot_root would move the helper's root too, under its pid and error files.
    if let Err(e) = sys::unshare(libc::CLONE_NEWNS) {
        return e;
    }
    // Opened before pivot_root, like the native program.
    let (wasm, compiled) = match super::wasm_guest::open_files(spec) {
        Ok(files) => files,
        Err(e) => return e,
    };
    // The container is said to exist (its pid published, so execs may join it) only once its
    // root is complete: an exec joining earlier would see the host's file system.
    let said = |r: &mut Option<io::PipeWriter>| r.as_mut().map_or(Ok(()), |w| w.write_all(&[0]));
    if let Err(e) = rootfs::build(spec)
        .and_then(|()| rootfs::enter_working_dir(spec))
        .and_then(|()| confine::finish_root(&spec.confine))
        .and_then(|()| said(report))
    {
        return e;
    }
    // The session (setsid above) gets its terminal, as runc's `terminal: true`.
    if spec.tty
        && let Err(e) = sys::controlling_terminal()
    {
        return e;
    }
    if let Err(e) = confine::enter(&spec.confine) {
        return e;
    }
    if let Some(wasm) = wasm {
        sys::reset_signals();
        // Nothing is exec'd: close the report pipe so the helper sees the start succeed.
        report.take();
        let code = super::wasm_guest::run(&wasm, compiled.as_ref(), spec);
        let _ = std::io::stdout().flush();
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) }
    }
    sys::reset_signals();
    sys::execveat(program, argv, env)
}

fn node_main() -> i32 {
    if let Err(e) = sys::unshare(libc::CLONE_NEWNET).and_then(|()| sys::loopback_up()) {
        return fail("node", e);
    }
    let own = match sys::open(Path::new("/proc/self/ns/net"), libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) => return fail("node", e),
    };
    let mut out = io::stdout();
    let mut reply = |r: io::Result<()>| {
        let line = match r {
            Ok(()) => "ok\n".to_string(),
            Err(e) => format!("error: {}\n", e.to_string().replace('\n', " ")),
        };
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let mut input = io::stdin().lock();
    loop {
        let mut line = String::new();
        if !matches!(input.read_line(&mut line), Ok(1..)) {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            // The Service range is local to the node, as kube-proxy's virtual addresses are:
            // its proxy binds each ClusterIP:port there.
            ["bridge", name, cidr] => reply(ip_batch(&format!(
                "link add {name} type bridge\naddr add {cidr} dev {name}\nlink set {name} up\nroute add local {} dev lo\n",
                crate::manifest::SERVICE_CIDR
            ))),
            ["pod", pid, veth, bridge, cidr, gateway] => {
                reply(wire_pod(&own, pid, veth, bridge, cidr, gateway))
            }
            // Answered over stdin (a unix socket) itself, with the socket attached.
            ["socket"] => {
                if !serve_socket_now(0, libc::SOCK_STREAM) {
                    break;
                }
            }
            ["udpsocket"] => {
                if !serve_socket_now(0, libc::SOCK_DGRAM) {
                    break;
                }
            }
            // `nft LEN` and LEN bytes of `nft -f` input: the Service rules (see nft.rs).
            ["nft", len] => {
                let Some(len) = len.parse::<usize>().ok().filter(|l| *l <= NFT_MAX) else {
                    reply(Err(io::Error::other("bad nft request")));
                    break;
                };
                let mut rules = vec![0; len];
                if input.read_exact(&mut rules).is_err() {
                    break;
                }
                // DNATed packets are routed from the bridge back onto it.
                let forwarding = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                    .map_err(|e| io::Error::other(format!("enabling IP forwarding: {e}")));
                reply(forwarding.and_then(|()| {
                    run_with_input("nft", &["-f", "-"], &rules, "the Service rules")
                }));
            }
            _ => reply(Err(io::Error::other(format!("unknown request {line:?}")))),
        }
    }
    0
}

/// A veth pair: one end on the bridge, the other `eth0` in the pod's network namespace with the
/// pod's address and a default route through the bridge.
fn wire_pod(
    own: &OwnedFd,
    pid: &str,
    veth: &str,
    bridge: &str,
    cidr: &str,
    gateway: &str,
) -> io::Result<()> {
    ip_batch(&format!(
        "link add {veth} type veth peer name eth0 netns {pid}\nlink set {veth} master {bridge}\nlink set {veth} up\n"
    ))?;
    let pod = sys::open(&Path::new("/proc").join(pid).join("ns/net"), libc::O_RDONLY)?;
    sys::setns(&pod, "pod network")?;
    let configured = ip_batch(&format!(
        "addr add {cidr} dev eth0\nlink set eth0 up\nroute add default via {gateway}\n"
    ));
    sys::setns(own, "node network")?;
    configured?;
    // A pod recreated with its address (SandboxChanged) has a new MAC: a neighbour entry left by
    // its old sandbox would send the node's packets nowhere until it went stale. Best effort: an
    // entry that stays only delays the first connections.
    let addr = cidr.split('/').next().unwrap_or(cidr);
    let _ = ip_batch(&format!("neigh flush to {addr}\n"));
    Ok(())
}

/// The largest ruleset the node helper takes (a few hundred bytes per endpoint).
const NFT_MAX: usize = 64 << 20;

/// Runs iproute2's `ip -batch -` in this process's network namespace.
fn ip_batch(commands: &str) -> io::Result<()> {
    run_with_input(
        "ip",
        &["-batch", "-"],
        commands.as_bytes(),
        "the pod network",
    )
}

/// Runs a system tool (`ip`, `nft`) with `input` on its stdin, its stderr the error.
fn run_with_input(program: &str, args: &[&str], input: &[u8], purpose: &str) -> io::Result<()> {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("running `{program}` for {purpose}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input)?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
