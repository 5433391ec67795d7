//! Stop signals, as nginx handles them: TERM and INT are a fast shutdown, QUIT a graceful one;
//! either way the master exits 0. Only the native build (the Linux backend) gets signals: WASI
//! has none, so on wasm the container runs until it is killed.

use std::sync::atomic::{AtomicI32, Ordering};

/// The stop signal received, 0 while none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

#[cfg(not(target_arch = "wasm32"))]
extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Installs the handlers. A signal interrupts the serving loop's poll (EINTR), which then stops.
pub fn install() {
    #[cfg(not(target_arch = "wasm32"))]
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Exits, as nginx does, once a stop signal has arrived.
pub fn exit_if_requested() {
    let sig = RECEIVED.load(Ordering::SeqCst);
    if sig == 0 {
        return;
    }
    let (name, what) = match sig {
        3 => ("SIGQUIT", "gracefully shutting down"),
        2 => ("SIGINT", "exiting"),
        _ => ("SIGTERM", "exiting"),
    };
    crate::log::error("notice", &format!("signal {sig} ({name}) received, {what}"));
    crate::log::error("notice", "exit");
    crate::common::exit(0)
}
