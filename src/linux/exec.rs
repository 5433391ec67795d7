//! CRI's ExecSync on the Linux backend, as runc exec does it: a helper process
//! (`wpod __wpod-exec SPEC PID PROGRAM ARGV...`) joins the running container's cgroups and namespaces —
//! its mount namespace last, so it sees the container's root, volumes and /etc files — then forks
//! the command (the image's program with the new argv and the container's env) and exits with its
//! exit code. wpod collects the output and kills the whole helper process group on timeout.

use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncReadExt as _;

use super::spec::ContainerSpec;
use super::{pty, sys};
use crate::runtime::stream::{Reader, Writer};
use crate::runtime::{ExecRequest, ExecResult, ExecSession, MAX_EXEC_OUTPUT, Result, RuntimeError};

pub const EXEC: &str = "__wpod-exec";

/// Exit code of the helper when it could not get into the container (as runc's for an exec that
/// cannot start); its stderr says why.
const CANNOT_ENTER: i32 = 126;

/// How the helper's own complaints start (as opposed to the command's output).
const HELPER_SAYS: &str = "wpod exec: ";

/// The PROGRAM argument for the container's own program.
const SAME_PROGRAM: &str = "-";

/// The helper's first argument when the command gets the terminal on its stdio as its
/// controlling terminal.
const TTY: &str = "--tty";

/// What to run where.
pub struct Exec<'a> {
    /// The container's spec (its namespaces' owner, cgroups, env, program).
    pub spec_file: &'a Path,
    /// The container's main process.
    pub pid: i32,
    /// Another program than the container's own (the toolbox standing in for the image's shell).
    pub program: Option<&'a Path>,
    pub argv: &'a [String],
}

/// Runs the exec, killing it when `timeout` has passed.
pub async fn exec_sync(exe: &Path, exec: Exec<'_>, timeout: Duration) -> Result<ExecResult> {
    let mut child = super::lifeline::command(exe)
        .arg(EXEC)
        .arg(exec.spec_file)
        .arg(exec.pid.to_string())
        .arg(exec.program.unwrap_or(Path::new(SAME_PROGRAM)))
        .args(exec.argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // One process group for the helper and the command, so a timeout kills both.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("starting the exec helper")?;
    let group = child.id().map(|p| p as i32);
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(anyhow::anyhow!("the exec helper has no pipes").into());
    };
    let run = async {
        let (stdout, stderr, status) =
            tokio::join!(read_capped(&mut out), read_capped(&mut err), child.wait());
        let (stdout, stderr) = (stdout?, stderr?);
        let status = status.context("waiting for the exec helper")?;
        use std::os::unix::process::ExitStatusExt as _;
        let exit_code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if exit_code == CANNOT_ENTER
            && let Some(why) = String::from_utf8_lossy(&stderr).strip_prefix(HELPER_SAYS)
        {
            anyhow::bail!("{}", why.trim_end());
        }
        anyhow::Ok(ExecResult {
            exit_code,
            stdout,
            stderr,
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            if let Some(g) = group {
                let _ = sys::kill_group(g, libc::SIGKILL);
            }
            Err(RuntimeError::Timeout(timeout))
        }
    }
}

/// Starts the exec with its streams connected to the caller (`kubectl exec`): pipes, or a
/// pseudo-terminal that becomes the command's controlling terminal.
pub fn exec_stream(exe: &Path, exec: Exec<'_>, req: &ExecRequest) -> Result<ExecSession> {
    let mut command = super::lifeline::command(exe);
    command.arg(EXEC);
    let terminal = if req.tty {
        command.arg(TTY);
        Some(pty::open(pty::DEFAULT_SIZE).context("starting the exec")?)
    } else {
        None
    };
    command
        .arg(exec.spec_file)
        .arg(exec.pid.to_string())
        .arg(exec.program.unwrap_or(Path::new(SAME_PROGRAM)))
        .args(exec.argv)
        .kill_on_drop(true);
    match &terminal {
        Some((_, slave)) => pty::give(&mut command, slave).context("the exec's terminal")?,
        None => {
            command
                .stdin(if req.stdin {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
    }
    let mut child = command.spawn().context("starting the exec helper")?;
    let pipes = (
        child_stdin(&mut child),
        child.stdout.take(),
        child.stderr.take(),
    );
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    let exit = async move {
        let status = child.wait().await.context("waiting for the exec helper");
        use std::os::unix::process::ExitStatusExt as _;
        let code = status.map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
        if let Ok(code) = &code {
            let _ = done_tx.send(Some(*code));
        }
        Ok(code?)
    };
    let Some((master, slave)) = terminal else {
        let (stdin, Some(stdout), Some(stderr)) = pipes else {
            return Err(anyhow::anyhow!("the exec helper has no pipes").into());
        };
        return Ok(ExecSession {
            stdin,
            stdout: Box::new(stdout),
            stderr: Some(Box::new(stderr) as Reader),
            resize: None,
            exit: Box::pin(exit),
        });
    };
    // Only the command holds the slave now: its end is the terminal's hang-up.
    drop(slave);
    let (near_in, far_in) = tokio::io::duplex(64 * 1024);
    let (near_out, far_out) = tokio::io::duplex(64 * 1024);
    let mut done = done_rx;
    let ended = async move {
        let _ = done.wait_for(Option::is_some).await;
    };
    let resize = pty::serve(master, req.stdin.then_some(far_in), far_out, ended)
        .context("serving the exec's terminal")?;
    Ok(ExecSession {
        stdin: req.stdin.then(|| Box::new(near_in) as Writer),
        stdout: Box::new(near_out),
        stderr: None,
        resize: Some(resize),
        exit: Box::pin(exit),
    })
}

fn child_stdin(child: &mut tokio::process::Child) -> Option<Writer> {
    child.stdin.take().map(|s| Box::new(s) as Writer)
}

/// Reads a stream to its end, keeping at most what the kubelet keeps of an exec's output
/// (10 KiB); the rest is read and dropped, so the command never blocks on a full pipe.
async fn read_capped(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> anyhow::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r
            .read(&mut buf)
            .await
            .context("reading the exec's output")?;
        if n == 0 {
            return Ok(kept);
        }
        let room = MAX_EXEC_OUTPUT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The helper: `args` are SPEC PID PROGRAM ARGV...; returns the command's exit code.
pub fn helper_main(args: &[String]) -> i32 {
    match enter_and_run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{HELPER_SAYS}{e}");
            CANNOT_ENTER
        }
    }
}

fn enter_and_run(args: &[String]) -> io::Result<i32> {
    let (tty, args) = match args.split_first() {
        Some((first, rest)) if first == TTY => (true, rest),
        _ => (false, args),
    };
    let [spec_path, pid, program, argv @ ..] = args else {
        return Err(io::Error::other(
            "usage: __wpod-exec SPEC PID PROGRAM ARGV...",
        ));
    };
    if argv.is_empty() {
        return Err(io::Error::other("no command given"));
    }
    let mut spec: ContainerSpec = std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| io::Error::other(format!("reading {spec_path}: {e}")))?;
    spec.argv = argv.to_vec();
    if program != SAME_PROGRAM {
        spec.program = program.into();
        spec.wasm = None;
        spec.wasm_compiled = None;
    }
    for cg in &spec.cgroups {
        // The container's cgroups go when it exits; an exec racing that still runs, unlimited.
        let _ = std::fs::write(cg.join("cgroup.procs"), std::process::id().to_string());
    }
    let mut kinds = Vec::new();
    if spec.user_ns {
        kinds.push("user");
    }
    kinds.extend(["pid", "uts", "ipc"]);
    if spec.join_net {
        kinds.push("net");
    }
    kinds.push("mnt");
    // Everything is opened before the first setns: the container's /proc is not the host's.
    let ns = kinds
        .iter()
        .map(|k| {
            sys::open(
                &Path::new("/proc").join(pid).join("ns").join(k),
                libc::O_RDONLY,
            )
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io::Error::new(e.kind(), format!("the container is not running: {e}")))?;
    let program = sys::open(&spec.program, libc::O_PATH)?;
    let (wasm, compiled) = super::wasm_guest::open_files(&spec)?;
    let (c_argv, env) = sys::exec_strings(&spec.argv, &spec.env)?;
    for (fd, kind) in ns.iter().zip(&kinds) {
        sys::setns(fd, kind)?;
    }
    // Joining a PID namespace applies to children: the command is forked into it.
    match sys::fork()? {
        0 => {
            let _ = sys::set_pdeathsig(libc::SIGKILL);
            if tty && let Err(e) = sys::take_terminal() {
                eprintln!("{HELPER_SAYS}{e}");
                // SAFETY: leaving the forked child without running the parent's exit handlers.
                unsafe { libc::_exit(CANNOT_ENTER) }
            }
            // The container's working directory, as runc exec uses the process's cwd.
            let dir = spec.working_dir.as_deref().unwrap_or("/");
            if std::env::set_current_dir(dir).is_err() {
                let _ = std::env::set_current_dir("/");
            }
            // The command is confined as the container is (runc exec does the same).
            if let Err(e) = super::confine::enter(&spec.confine) {
                eprintln!("{HELPER_SAYS}confining the command: {e}");
                // SAFETY: leaving the forked child without running the parent's exit handlers.
                unsafe { libc::_exit(CANNOT_ENTER) }
            }
            sys::reset_signals();
            let code = match wasm {
                Some(wasm) => {
                    let code = super::wasm_guest::run(&wasm, compiled.as_ref(), &spec);
                    let _ = io::Write::flush(&mut io::stdout());
                    code
                }
                None => {
                    let e = sys::execveat(&program, &c_argv, &env);
                    eprintln!("wpod exec: {}: {e}", spec.argv[0]);
                    127
                }
            };
            // SAFETY: leaving the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        child => {
            // wpod gone: the command and all it started go too (the helper's process group).
            let (_, status) = super::lifeline::wait_child(child, || {
                let _ = sys::kill_own_group(libc::SIGKILL);
            })?;
            Ok(sys::exit_code(status))
        }
    }
}
