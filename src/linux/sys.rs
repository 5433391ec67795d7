//! Thin wrappers over the raw system calls the Linux backend needs. They run in wpod's helper
//! processes (single-threaded, freshly exec'd), never in the multithreaded wpod process itself.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Turns a -1 return into the errno as an `io::Error` naming what failed.
fn check(ret: libc::c_long, what: impl FnOnce() -> String) -> io::Result<libc::c_long> {
    if ret == -1 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{}: {e}", what())))
    } else {
        Ok(ret)
    }
}

pub fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s:?} contains a NUL byte"),
        )
    })
}

/// An argv and an environment (`K=V`) as execve wants them, prepared before fork.
pub fn exec_strings(
    argv: &[String],
    env: &[(String, String)],
) -> io::Result<(Vec<CString>, Vec<CString>)> {
    let argv = argv.iter().map(|a| cstr(a)).collect::<io::Result<_>>()?;
    let env = env
        .iter()
        .map(|(k, v)| cstr(&format!("{k}={v}")))
        .collect::<io::Result<_>>()?;
    Ok((argv, env))
}

pub fn cpath(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", p.display()),
        )
    })
}

pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare only changes this process's namespace membership.
    check(unsafe { libc::unshare(flags) } as _, || {
        format!("unshare({flags:#x})")
    })
    .map(drop)
}

/// Joins the namespace behind `fd` (one of /proc/PID/ns/*).
pub fn setns(fd: &OwnedFd, kind: &str) -> io::Result<()> {
    // SAFETY: the fd is open; nstype 0 lets the kernel check it against the file.
    check(unsafe { libc::setns(fd.as_raw_fd(), 0) } as _, || {
        format!("joining the {kind} namespace")
    })
    .map(drop)
}

pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: c is a valid C string; the returned fd is owned by the OwnedFd.
    let fd = check(
        unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) } as _,
        || format!("opening {}", path.display()),
    )?;
    // SAFETY: fd was just returned by open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source_c = source.map(cstr).transpose()?;
    let fstype_c = fstype.map(cstr).transpose()?;
    let data_c = data.map(cstr).transpose()?;
    let target_c = cpath(target)?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is null or a valid C string living until the call returns.
    let ret = unsafe {
        libc::mount(
            ptr(&source_c),
            target_c.as_ptr(),
            ptr(&fstype_c),
            flags,
            ptr(&data_c).cast(),
        )
    };
    check(ret as _, || {
        format!(
            "mounting {} on {} (flags {flags:#x})",
            source.unwrap_or("-"),
            target.display()
        )
    })
    .map(drop)
}

/// Bind-mounts `source` on `target`, read-only when asked (a bind mount is made read-only by a
/// second, remounting call).
pub fn bind(source: &Path, target: &Path, read_only: bool) -> io::Result<()> {
    let src = source.to_string_lossy();
    mount(Some(&src), target, None, libc::MS_BIND | libc::MS_REC, None)?;
    if read_only {
        mount(
            None,
            target,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
            None,
        )?;
    }
    Ok(())
}

/// Makes `new_root` the root of this mount namespace and detaches the old one (youki's
/// `pivot_root(".", ".")` sequence, which needs no directory for the old root).
pub fn pivot_root(new_root: &Path) -> io::Result<()> {
    let c = cpath(new_root)?;
    let dot = c".";
    // SAFETY: plain system calls on valid C strings.
    unsafe {
        check(libc::chdir(c.as_ptr()) as _, || {
            format!("chdir {}", new_root.display())
        })?;
        check(
            libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()),
            || format!("pivot_root to {}", new_root.display()),
        )?;
        check(libc::umount2(dot.as_ptr(), libc::MNT_DETACH) as _, || {
            "detaching the old root".into()
        })?;
        check(libc::chdir(c"/".as_ptr()) as _, || "chdir /".into())?;
    }
    Ok(())
}

/// Executes the program behind `fd` (opened before pivot_root, so it need not be inside the root).
pub fn execveat(fd: &OwnedFd, argv: &[CString], env: &[CString]) -> io::Error {
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_p.push(std::ptr::null());
    let empty: &CStr = c"";
    // SAFETY: null-terminated arrays of valid C strings; on success this never returns.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv_p.as_ptr(),
            env_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    io::Error::last_os_error()
}

pub fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the helper processes are single-threaded, so the child may do anything.
    check(unsafe { libc::fork() } as _, || "fork".into()).map(|p| p as libc::pid_t)
}

/// Waits for one child; returns its pid and raw wait status.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return check(r as _, || format!("waiting for {pid}")).map(|p| (p as libc::pid_t, status));
    }
}

/// The Kubernetes exit code of a wait status: the exit status, or 128 + the signal.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// Whether the process runs: it exists, is not a zombie waiting to be reaped, and has not begun
/// to exit. A PID namespace's init that exits kills the rest of its namespace and waits for them
/// before it becomes a zombie: their deaths are reported while it still looks alive but for its
/// PF_EXITING flag, and a container started then would find its namespaces gone.
pub fn process_alive(pid: u32) -> bool {
    /// PF_EXITING, from the kernel's include/linux/sched.h.
    const EXITING: u64 = 0x4;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The fields follow the command name, which is in parentheses and may hold any byte: the
    // state first, the flags seventh.
    let mut fields = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_ascii_whitespace())
        .into_iter()
        .flatten();
    let state = fields.next();
    let flags = fields.nth(5).and_then(|f| f.parse::<u64>().ok());
    !matches!(state, None | Some("Z" | "X")) && flags.is_some_and(|f| f & EXITING == 0)
}

/// Signals one process. A pid <= 0 is refused: kill(2) would read it as a process group (0 is
/// wpod's own, -1 every process it may signal), which a missing or garbled pid must never reach.
/// A process already gone is not an error.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    if pid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal pid {pid}: not a single process"),
        ));
    }
    signal(pid, sig)
}

/// Signals every process of the group `pgid` leads; a pgid <= 0 is refused as in [`kill`].
pub fn kill_group(pgid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    if pgid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process group {pgid}"),
        ));
    }
    signal(-pgid, sig)
}

/// Signals the caller's own process group (a helper taking its descendants down with it).
pub fn kill_own_group(sig: libc::c_int) -> io::Result<()> {
    signal(0, sig)
}

fn signal(target: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: sending a signal has no memory effects.
    if unsafe { libc::kill(target, sig) } == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        e => Err(e),
    }
}

pub fn set_pdeathsig(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } as _,
        || "prctl(PR_SET_PDEATHSIG)".into(),
    )
    .map(drop)
}

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length of a live byte slice.
    check(
        unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } as _,
        || format!("setting the hostname to {name}"),
    )
    .map(drop)
}

/// Blocks `signals` for this process and returns a signalfd that reads them.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        check(
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) as _,
            || "sigprocmask".into(),
        )?;
        let fd = check(libc::signalfd(-1, &set, libc::SFD_CLOEXEC) as _, || {
            "signalfd".into()
        })?;
        Ok(OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// Reads one signal number from a signalfd.
pub fn read_signal(fd: &OwnedFd) -> io::Result<libc::c_int> {
    // SAFETY: signalfd_siginfo is plain data and the read is bounded by its size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let n = libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            std::mem::size_of::<libc::signalfd_siginfo>(),
        );
        check(n as _, || "reading the signalfd".into())?;
        Ok(info.ssi_signo as libc::c_int)
    }
}

/// Makes the terminal on stdin the controlling terminal of a new session led by the caller, as
/// runc does for a process with `terminal: true`: ^C on it signals the caller's process group.
pub fn take_terminal() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    check(unsafe { libc::setsid() } as _, || "setsid".into())?;
    controlling_terminal()
}

/// Makes the terminal on stdin the controlling terminal of the caller's session (it leads one).
pub fn controlling_terminal() -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument, no pointer.
    check(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } as _, || {
        "making the terminal the controlling one".into()
    })?;
    Ok(())
}

/// Unblocks every signal and restores default dispositions, for a child about to exec.
pub fn reset_signals() {
    // SAFETY: plain data and system calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Brings the loopback interface up in the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: an ifreq for "lo" is filled before use; the socket is closed by OwnedFd.
    unsafe {
        let sock = check(
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) as _,
            || "opening a socket to configure lo".into(),
        )?;
        let sock = OwnedFd::from_raw_fd(sock as RawFd);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        check(
            libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) as _,
            || "reading the flags of lo".into(),
        )?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(
            libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) as _,
            || "bringing lo up".into(),
        )?;
    }
    Ok(())
}

/// The namespace identity behind /proc/PID/ns/KIND, e.g. `net:[4026532179]`.
pub fn ns_link(pid: u32, kind: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_running_process_is_alive_and_a_reaped_one_is_not() {
        assert!(super::process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!super::process_alive(pid));
    }

    #[test]
    fn kill_refuses_what_is_not_one_process() {
        // Signal 0 only checks: were the guard missing, these would still harm nothing.
        for pid in [0, -1, -12345] {
            let e = super::kill(pid, 0).expect_err("refused");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{pid}");
            let e = super::kill_group(pid, 0).expect_err("refused");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{pid}");
        }
        super::kill(std::process::id() as i32, 0).expect("wpod may signal itself");
    }
}
