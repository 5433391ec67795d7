//! Everything that differs between wasm32-wasip2 and native builds: signals, processes, system
//! information.
//!
//! Signals: natively the shell installs a handler that sets a flag, checked between commands (and
//! by `sleep`/`wait`); on wasm wpod queues the signals a process catches (wpod:process) and makes
//! its blocking waits return early. Without a trap a TERM gets its default action, which a PID 1
//! (the shell as a container's main process) does not get, as with busybox sh.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disposition {
    Default,
    Ignore,
    Catch,
}

pub struct Uname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Disposition, Uname};
    use std::sync::atomic::{AtomicBool, Ordering};

    static PENDING: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];
    static ANY: AtomicBool = AtomicBool::new(false);
    /// Some signal has a handler: blocking waits must then wake for it.
    static CATCHING: AtomicBool = AtomicBool::new(false);

    pub fn catching() -> bool {
        CATCHING.load(Ordering::SeqCst)
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        if let Some(flag) = PENDING.get(sig as usize) {
            flag.store(true, Ordering::SeqCst);
            ANY.store(true, Ordering::SeqCst);
        }
    }

    pub fn set_disposition(sig: i32, d: Disposition) {
        if !(1..65).contains(&sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return;
        }
        if d == Disposition::Catch {
            CATCHING.store(true, Ordering::SeqCst);
        }
        // SAFETY: sigaction with a zeroed struct and a handler that only touches atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = match d {
                Disposition::Default => libc::SIG_DFL,
                Disposition::Ignore => libc::SIG_IGN,
                Disposition::Catch => on_signal as extern "C" fn(libc::c_int) as usize,
            };
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    pub fn take_pending() -> Vec<i32> {
        if !ANY.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        (1..65)
            .filter(|&s| PENDING[s as usize].swap(false, Ordering::SeqCst))
            .collect()
    }

    pub fn any_pending() -> bool {
        ANY.load(Ordering::SeqCst)
    }

    pub fn pid() -> u32 {
        std::process::id()
    }

    /// Whether stdin and stderr are terminals (what makes `sh` interactive).
    pub fn on_terminal() -> bool {
        // SAFETY: isatty takes an fd number.
        unsafe { libc::isatty(0) == 1 && libc::isatty(2) == 1 }
    }

    /// The terminal's settings before raw mode, to go back to.
    static COOKED: std::sync::Mutex<Option<libc::termios>> = std::sync::Mutex::new(None);

    /// Puts the terminal on stdin into raw mode (no echo, no line editing, no signals from keys;
    /// output processing stays) or back; false when stdin is not a terminal.
    pub fn terminal_raw(raw: bool) -> bool {
        let mut saved = COOKED.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios we own.
        unsafe {
            if !raw {
                return saved
                    .take()
                    .is_some_and(|t| libc::tcsetattr(0, libc::TCSANOW, &t) == 0);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return false;
            }
            *saved = Some(t);
            t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
            t.c_iflag &= !(libc::ICRNL | libc::IXON);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &t) == 0
        }
    }

    /// The terminal's (rows, columns).
    pub fn terminal_size() -> Option<(u16, u16)> {
        // SAFETY: TIOCGWINSZ fills a winsize we own.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            (libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0).then_some((ws.ws_row, ws.ws_col))
        }
    }

    pub fn ppid() -> u32 {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() as u32 }
    }

    pub fn kill(pid: i32, sig: i32) -> Result<(), String> {
        // SAFETY: plain syscall.
        let r = unsafe { libc::kill(pid, sig) };
        if r == 0 {
            Ok(())
        } else {
            Err(crate::io::errstr(&std::io::Error::last_os_error()))
        }
    }

    fn cstr(f: &[libc::c_char]) -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The processes in /proc (the container's PID namespace, or the pod's).
    pub fn processes() -> Vec<super::ProcessInfo> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut out: Vec<super::ProcessInfo> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // The command name is in parentheses and may hold spaces: split after the last.
                let (head, rest) = stat.rsplit_once(')')?;
                let comm = head.split_once('(')?.1.to_string();
                let f: Vec<&str> = rest.split_whitespace().collect();
                let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let mut argv: Vec<String> = cmdline
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                if argv.is_empty() {
                    argv.push(format!("[{comm}]"));
                }
                let uid = std::fs::metadata(format!("/proc/{pid}"))
                    .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                    .unwrap_or(0);
                Some(super::ProcessInfo {
                    pid,
                    ppid: field(1).and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
                    uid,
                    argv,
                    zombie: f.first() == Some(&"Z"),
                    cpu_ticks: Some(field(11).unwrap_or(0) + field(12).unwrap_or(0)),
                })
            })
            .collect();
        out.sort_by_key(|p| p.pid);
        out
    }

    /// Waits for `d` (at most a second); a caught signal ends it early (nanosleep's EINTR,
    /// which std's sleep would retry).
    pub fn wait_for(d: std::time::Duration) {
        let d = d.min(std::time::Duration::from_secs(1));
        let ts = libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        };
        // SAFETY: a valid timespec; the remainder is not wanted.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    }

    pub fn uname() -> Uname {
        // SAFETY: uname fills the zeroed struct.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        unsafe { libc::uname(&mut u) };
        Uname {
            sysname: cstr(&u.sysname),
            nodename: cstr(&u.nodename),
            release: cstr(&u.release),
            version: cstr(&u.version),
            machine: cstr(&u.machine),
        }
    }

    pub fn ids() -> (u32, u32) {
        // SAFETY: no preconditions.
        unsafe { (libc::getuid(), libc::getgid()) }
    }

    pub fn access(p: &std::path::Path, mode: char) -> bool {
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        let m = match mode {
            'r' => libc::R_OK,
            'w' => libc::W_OK,
            _ => libc::X_OK,
        };
        // SAFETY: valid C string.
        unsafe { libc::access(c.as_ptr(), m) == 0 }
    }

    pub fn file_kind(p: &std::path::Path) -> Option<char> {
        use std::os::unix::fs::FileTypeExt;
        let t = p.metadata().ok()?.file_type();
        Some(if t.is_block_device() {
            'b'
        } else if t.is_char_device() {
            'c'
        } else if t.is_fifo() {
            'p'
        } else if t.is_socket() {
            'S'
        } else {
            '-'
        })
    }

    /// (mode, nlink, uid, gid) of a file.
    pub fn stat(m: &std::fs::Metadata) -> (u32, u64, u32, u32) {
        use std::os::unix::fs::MetadataExt;
        (m.mode(), m.nlink(), m.uid(), m.gid())
    }

    pub fn symlink(target: &str, link: &std::path::Path) -> std::io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    /// (total, free, available) bytes of the filesystem holding `path`.
    pub fn statvfs(path: &str) -> Option<(u64, u64, u64)> {
        let c = std::ffi::CString::new(path).ok()?;
        // SAFETY: statvfs fills the zeroed struct.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        let f = s.f_frsize as u64;
        Some((
            s.f_blocks as u64 * f,
            s.f_bfree as u64 * f,
            s.f_bavail as u64 * f,
        ))
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Disposition, Uname};
    use crate::common::wit::wpod::process::{process, signals};

    pub fn set_disposition(sig: i32, d: Disposition) {
        let Ok(sig) = u8::try_from(sig) else { return };
        let d = match d {
            Disposition::Default => signals::Disposition::Default,
            Disposition::Ignore => signals::Disposition::Ignore,
            Disposition::Catch => signals::Disposition::Catch,
        };
        let _ = signals::set_disposition(sig, d);
    }

    pub fn take_pending() -> Vec<i32> {
        std::iter::from_fn(signals::take).map(i32::from).collect()
    }

    pub fn any_pending() -> bool {
        signals::subscribe().ready()
    }

    pub fn pid() -> u32 {
        process::getpid()
    }

    /// Whether stdin and stderr are terminals (what makes `sh` interactive).
    pub fn on_terminal() -> bool {
        use crate::common::wit::wasi::cli::{terminal_stderr, terminal_stdin};
        terminal_stdin::get_terminal_stdin().is_some()
            && terminal_stderr::get_terminal_stderr().is_some()
    }

    /// Raw or cooked mode of the terminal on stdin (wpod's line discipline); false when stdin is
    /// not a terminal.
    pub fn terminal_raw(raw: bool) -> bool {
        process::set_terminal_raw(raw).is_ok()
    }

    /// The terminal's (rows, columns).
    pub fn terminal_size() -> Option<(u16, u16)> {
        process::terminal_size().ok()
    }

    pub fn ppid() -> u32 {
        process::getppid()
    }

    pub fn kill(pid: i32, sig: i32) -> Result<(), String> {
        let (Ok(pid), Ok(sig)) = (u32::try_from(pid), u8::try_from(sig)) else {
            return Err("Invalid argument".into());
        };
        process::kill(pid, sig).map_err(|e| match e {
            process::ErrorCode::NoSuchProcess => "No such process".to_string(),
            _ => "Invalid argument".to_string(),
        })
    }

    /// Waits for `d`, or until a caught signal arrives (wpod makes the poll return early).
    pub fn wait_for(d: std::time::Duration) {
        use crate::common::wit::wasi::clocks::monotonic_clock;
        use crate::common::wit::wasi::io::poll;
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let timer = monotonic_clock::subscribe_duration(nanos);
        let signal = signals::subscribe();
        let _ = poll::poll(&[&timer, &signal]);
    }

    /// Whether `name` runs the container image's own program (see wpod:process).
    pub fn names_image_command(name: &str) -> bool {
        process::names_image_command(name)
    }

    /// The processes of this container (or pod, with shareProcessNamespace).
    pub fn processes() -> Vec<super::ProcessInfo> {
        process::list()
            .into_iter()
            .map(|p| super::ProcessInfo {
                pid: p.pid,
                ppid: p.ppid,
                uid: 0,
                argv: p.argv,
                zombie: p.state == process::State::Zombie,
                cpu_ticks: None,
            })
            .collect()
    }

    pub fn uname() -> Uname {
        Uname {
            sysname: "Linux".into(),
            nodename: String::new(),
            release: "6.0.0-wasi".into(),
            version: "#1 wpod WebAssembly".into(),
            machine: "wasm32".into(),
        }
    }

    pub fn ids() -> (u32, u32) {
        (0, 0)
    }

    pub fn statvfs(_path: &str) -> Option<(u64, u64, u64)> {
        None
    }

    /// WASI has no permission bits: readable if it exists, writable unless read-only, and
    /// "executable" for directories (searchable) only.
    pub fn access(p: &std::path::Path, mode: char) -> bool {
        match p.metadata() {
            Err(_) => false,
            Ok(m) => match mode {
                'r' => true,
                'w' => !m.permissions().readonly(),
                _ => m.is_dir(),
            },
        }
    }

    pub fn file_kind(_p: &std::path::Path) -> Option<char> {
        None
    }

    /// WASI reports no mode bits or owners: directories are 0755, files 0644 (0444 read-only),
    /// everything owned by root.
    pub fn stat(m: &std::fs::Metadata) -> (u32, u64, u32, u32) {
        let ro = m.permissions().readonly();
        let mode = if m.file_type().is_symlink() {
            0o120777
        } else if m.is_dir() {
            0o040755
        } else if ro {
            0o100444
        } else {
            0o100644
        };
        (mode, 1, 0, 0)
    }

    pub fn symlink(target: &str, link: &std::path::Path) -> std::io::Result<()> {
        let (Ok(t), Ok(l)) = (
            std::ffi::CString::new(target),
            std::ffi::CString::new(link.to_string_lossy().as_bytes()),
        ) else {
            return Err(std::io::ErrorKind::InvalidInput.into());
        };
        // SAFETY: valid C strings; wasi-libc resolves the path against the preopens.
        if unsafe { libc::symlink(t.as_ptr(), l.as_ptr()) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use imp::catching;
#[cfg(target_arch = "wasm32")]
pub use imp::names_image_command;
pub use imp::wait_for;
pub use imp::{
    access, any_pending, file_kind, ids, kill, on_terminal, pid, ppid, processes, set_disposition,
    stat, statvfs, symlink, take_pending, terminal_raw, terminal_size, uname,
};

/// A process as `ps` shows it.
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub argv: Vec<String>,
    pub zombie: bool,
    /// User plus system time in clock ticks, where the system counts it.
    pub cpu_ticks: Option<u64>,
}

/// Sleeps for `d`, returning early (false) when a trapped signal arrives.
pub fn sleep(d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if any_pending() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        wait_for(end - now);
    }
}

const SIGNALS: &[(&str, i32)] = &[
    ("EXIT", 0),
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("WINCH", 28),
];

/// `TERM`, `SIGTERM`, `term`, `15` -> 15; `EXIT`/`0` -> 0.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (0..65).contains(&n).then_some(n);
    }
    let up = name.to_ascii_uppercase();
    let up = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.iter().find(|(n, _)| *n == up).map(|&(_, s)| s)
}

pub fn signal_name(sig: i32) -> String {
    SIGNALS
        .iter()
        .find(|&&(_, s)| s == sig)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| sig.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_number("TERM"), Some(15));
        assert_eq!(signal_number("sigint"), Some(2));
        assert_eq!(signal_number("0"), Some(0));
        assert_eq!(signal_number("EXIT"), Some(0));
        assert_eq!(signal_number("nope"), None);
        assert_eq!(signal_name(15), "TERM");
    }
}
