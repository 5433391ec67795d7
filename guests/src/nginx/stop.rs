//! Signals, as nginx's master handles them: TERM and INT are a fast shutdown, QUIT a graceful
//! one that stops listening and finishes the requests in progress (either way it exits 0), HUP a reload and USR1 a reopen of the logs (this nginx has no
//! configuration file or log files, so both only say so). Natively they come from the kernel; on
//! wasm from wpod (wpod:process), whose signals also make the serving loop's poll return early.
//! `nginx -s` finds the master through its PID file, as nginx does.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use crate::config::PID_FILE;

/// The stop signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Bit n: signal n arrived and was not handled yet (HUP, USR1).
static OTHERS: AtomicU64 = AtomicU64::new(0);

const STOP_SIGNALS: [i32; 3] = [15, 2, 3];
const HUP: i32 = 1;
const USR1: i32 = 10;

fn record(sig: i32) {
    if STOP_SIGNALS.contains(&sig) {
        let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    } else if (0..64).contains(&sig) {
        OTHERS.fetch_or(1 << sig, Ordering::SeqCst);
    }
}

#[cfg(not(target_arch = "wasm32"))]
extern "C" fn on_signal(sig: libc::c_int) {
    record(sig);
}

/// Installs the handlers. A signal interrupts the serving loop's poll (EINTR), which then acts.
pub fn install() {
    for sig in STOP_SIGNALS.into_iter().chain([HUP, USR1]) {
        #[cfg(not(target_arch = "wasm32"))]
        // SAFETY: the handler only touches atomics, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
        #[cfg(target_arch = "wasm32")]
        {
            use crate::common::wit::wpod::process::signals::{Disposition, set_disposition};
            let _ = set_disposition(sig as u8, Disposition::Catch);
        }
    }
}

/// Set once a graceful shutdown (QUIT) began.
static QUITTING: AtomicBool = AtomicBool::new(false);

/// Whether a graceful shutdown is under way: no new connections, no keep-alive, the open
/// requests are finished, then nginx exits.
pub fn quitting() -> bool {
    QUITTING.load(Ordering::SeqCst)
}

/// Exits as nginx does once it stops (its PID file removed).
pub fn exit() -> ! {
    let _ = std::fs::remove_file(PID_FILE);
    crate::log::error("notice", "exit");
    crate::common::exit(0)
}

/// Takes what arrived and acts on it: TERM and INT exit at once, as nginx's fast shutdown does;
/// QUIT starts a graceful one (see [`quitting`]), which the serving loop completes.
pub fn exit_if_requested() {
    #[cfg(target_arch = "wasm32")]
    while let Some(sig) = crate::common::wit::wpod::process::signals::take() {
        record(i32::from(sig));
    }
    let others = OTHERS.swap(0, Ordering::SeqCst);
    if others & (1 << HUP) != 0 {
        crate::log::error("notice", "signal 1 (SIGHUP) received, reconfiguring");
        crate::log::error(
            "notice",
            "nothing to reload: this nginx is configured by flags and environment only",
        );
    }
    if others & (1 << USR1) != 0 {
        crate::log::error("notice", "signal 10 (SIGUSR1) received, reopening logs");
    }
    let sig = RECEIVED.load(Ordering::SeqCst);
    if sig == 0 {
        return;
    }
    if sig == 3 {
        // A fast shutdown may still cut a graceful one short.
        RECEIVED.store(0, Ordering::SeqCst);
        if !QUITTING.swap(true, Ordering::SeqCst) {
            crate::log::error(
                "notice",
                "signal 3 (SIGQUIT) received, gracefully shutting down",
            );
        }
        return;
    }
    let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
    crate::log::error(
        "notice",
        &format!("signal {sig} ({name}) received, exiting"),
    );
    exit()
}

/// Writes the master's pid where `nginx -s` looks for it (whole, through a rename, so `-s`
/// never reads half of it); a read-only root only costs `-s`.
pub fn write_pid_file() {
    let tmp = format!("{PID_FILE}.tmp");
    let written = std::fs::write(&tmp, format!("{}\n", crate::log::pid()))
        .and_then(|()| std::fs::rename(&tmp, PID_FILE));
    if let Err(e) = written {
        crate::log::error(
            "warn",
            &format!(
                "open() \"{PID_FILE}\" failed ({}): nginx -s will not find this master",
                crate::log::os_err(&e)
            ),
        );
    }
}

fn kill(pid: u32, sig: u8) -> Result<(), String> {
    #[cfg(target_arch = "wasm32")]
    return crate::common::wit::wpod::process::process::kill(pid, sig)
        .map_err(|e| format!("{e:?}"));
    #[cfg(not(target_arch = "wasm32"))]
    {
        let pid = libc::pid_t::try_from(pid).map_err(|_| "pid out of range".to_string())?;
        // SAFETY: plain system call.
        if unsafe { libc::kill(pid, libc::c_int::from(sig)) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().to_string())
        }
    }
}

/// `nginx -s`: sends `sig` to the master named by the PID file; the exit code.
pub fn send(sig: u8) -> u8 {
    let text = match std::fs::read_to_string(PID_FILE) {
        Ok(t) => t,
        Err(e) => {
            crate::log::error(
                "error",
                &format!("open() \"{PID_FILE}\" failed ({})", crate::log::os_err(&e)),
            );
            return 1;
        }
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        crate::log::error(
            "error",
            &format!("invalid PID number \"{}\" in \"{PID_FILE}\"", text.trim()),
        );
        return 1;
    };
    match kill(pid, sig) {
        Ok(()) => 0,
        Err(e) => {
            crate::log::error("alert", &format!("kill({pid}, {sig}) failed ({e})"));
            1
        }
    }
}
