//! No helper outlives wpod, even when wpod is killed with SIGKILL, and none carries wpod's
//! environment or its open files. Every helper starts with an empty environment but for
//! `WPOD_PID` (wpod's pid) and closes the fds it inherited; the container and exec helpers wait
//! for their child and for wpod at once (pidfds) and kill what they run the moment wpod is gone. The pause and node
//! helpers hold a socket whose other end only wpod has: its end-of-file ends them, and the pause
//! process is PID 1 of the pod's PID namespace, so everything in it goes too.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::Path;
use std::time::Duration;

use super::sys;

/// The environment variable that names wpod's pid to its helpers.
pub const WPOD_PID: &str = "WPOD_PID";

/// A helper process: wpod's binary with an empty environment (nothing of wpod's own, a secret in
/// the shell that started it included, reaches a helper or a container).
pub fn command(exe: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(exe);
    c.env_clear().env(WPOD_PID, std::process::id().to_string());
    c
}

fn pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    // SAFETY: fd was just returned by pidfd_open.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In a helper: waits for its child `child` (as waitpid), but if wpod dies first, calls
/// `on_death` (which kills the child) and waits on. The helper's own thread does this: after
/// unshare(CLONE_NEWPID) or a setns into a PID namespace the kernel refuses to create threads.
pub fn wait_child(
    child: libc::pid_t,
    on_death: impl FnOnce(),
) -> io::Result<(libc::pid_t, libc::c_int)> {
    let Some(wpod) = std::env::var(WPOD_PID)
        .ok()
        .and_then(|p| p.parse::<libc::pid_t>().ok())
    else {
        // Started by hand, not by wpod: nothing to watch.
        return sys::waitpid(child, 0);
    };
    let mut on_death = Some(on_death);
    let mut died = || {
        if let Some(f) = on_death.take() {
            f();
        }
    };
    let wpod_fd = pidfd(wpod);
    // SAFETY: getppid cannot fail.
    let orphaned = || unsafe { libc::getppid() } != wpod;
    // Reparented already: wpod died before its pidfd could be opened.
    if orphaned() {
        died();
    }
    let (Some(wpod_fd), Some(child_fd)) = (wpod_fd, pidfd(child)) else {
        // No pidfds (Linux < 5.3): being reparented is wpod's death.
        loop {
            let (p, status) = sys::waitpid(child, libc::WNOHANG)?;
            if p == child {
                return Ok((p, status));
            }
            if orphaned() {
                died();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut watching = true;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: child_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // A negative fd is ignored by poll: wpod's death is acted on once.
                fd: if watching { wpod_fd.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds; a pidfd turns readable when its process exits.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents != 0 {
            return sys::waitpid(child, 0);
        }
        if fds[1].revents != 0 {
            watching = false;
            died();
        }
    }
}

/// Closes every fd a helper inherited beyond stdin, stdout and stderr: whatever the shell or
/// test harness that started wpod left open (a lock file, a pipe) must not reach a container,
/// nor be held open by a helper (as runc closes them before the container's exec).
pub fn close_inherited_fds() {
    // SAFETY: close_range on a range of fd numbers; nothing else in this single-threaded
    // process owns them yet.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r != 0 {
        // Linux < 5.9: one by one, as far as the fd table goes.
        for e in std::fs::read_dir("/proc/self/fd")
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok())
                && fd > 2
            {
                // SAFETY: closing an fd this process does not otherwise use.
                unsafe { libc::close(fd) };
            }
        }
    }
}
