//! The last resort behind `--timeout` and a second Ctrl-C: a plain thread, outside the async
//! runtime, that ends the process when wpod has not wound down by a deadline.
//!
//! The runtime's timers and signals only fire while its worker threads are free. wpod keeps
//! blocking work off them, but a bug there, or a guest's host call stuck in the kernel (a read of
//! a FIFO no one writes), must still not keep wpod alive past what the user asked for.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Ends the process at the earliest deadline it was armed with, unless it is dropped first.
pub struct Watchdog {
    tx: mpsc::Sender<Deadline>,
}

struct Deadline {
    at: Instant,
    code: u8,
    why: String,
}

impl Watchdog {
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Deadline>();
        let spawned = std::thread::Builder::new()
            .name("wpod-watchdog".into())
            .spawn(move || watch(&rx));
        if let Err(e) = spawned {
            eprintln!("warning: no watchdog thread ({e}): a stuck pod may keep wpod from exiting");
        }
        Watchdog { tx }
    }

    /// Exits with `code` `after` from now, saying `why`, unless wpod is done by then.
    pub fn arm(&self, after: Duration, code: u8, why: String) {
        // Too far to represent is as good as never.
        if let Some(at) = Instant::now().checked_add(after) {
            let _ = self.tx.send(Deadline { at, code, why });
        }
    }
}

/// How long the watchdog waits for its message to be written before it exits anyway.
const SAY_WAIT: Duration = Duration::from_secs(1);

fn watch(rx: &mpsc::Receiver<Deadline>) {
    let mut next: Option<Deadline> = None;
    loop {
        let received = match &next {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(d) => {
                if next.as_ref().is_none_or(|n| d.at < n.at) {
                    next = Some(d);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(d) = next.take() {
                    // A stderr nobody reads must not keep the watchdog from its one job.
                    let (said, done) = mpsc::channel();
                    let why = d.why;
                    let _ = std::thread::Builder::new().spawn(move || {
                        eprintln!("error: {why}");
                        let _ = said.send(());
                    });
                    let _ = done.recv_timeout(SAY_WAIT);
                    std::process::exit(i32::from(d.code));
                }
            }
            // wpod finished: nothing left to guard.
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
