//! One process's signals: what it does with each (its dispositions) and the caught ones waiting
//! for it, as the kernel keeps them per process.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

pub const SIGINT: u8 = 2;
pub const SIGKILL: u8 = 9;
pub const SIGTERM: u8 = 15;
const SIGSTOP: u8 = 19;
/// Signals are 1..=64, as on Linux.
pub const MAX_SIGNAL: u8 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Default,
    Ignore,
    Catch,
}

/// What a signal sent to a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the process, which asked to catch it.
    Caught,
    Ignored,
    /// The process ends, with status 128 + the signal.
    Terminate,
}

/// The signals POSIX's default action ignores. STOP and its kin are here too: a wasm process
/// cannot be suspended, so wpod does not pretend to.
fn ignored_by_default(sig: u8) -> bool {
    matches!(sig, 17 | 18 | 19 | 20 | 21 | 22 | 23 | 28)
}

struct State {
    dispositions: [Disposition; MAX_SIGNAL as usize + 1],
    /// Caught signals not yet taken, oldest first; each at most once, as standard signals.
    pending: VecDeque<u8>,
    /// A signal arrived that no blocking call has returned early for yet.
    unseen: bool,
}

pub struct Signals {
    state: Mutex<State>,
    arrived: Notify,
    /// PID 1 of its namespace: the kernel never applies a default action to it for a signal
    /// sent from inside, so TERM without a handler does nothing.
    init: bool,
}

impl Signals {
    pub fn new(init: bool) -> Self {
        Signals {
            state: Mutex::new(State {
                dispositions: [Disposition::Default; MAX_SIGNAL as usize + 1],
                pending: VecDeque::new(),
                unseen: false,
            }),
            arrived: Notify::new(),
            init,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// sigaction(2): KILL and STOP keep their action; an out-of-range signal is refused.
    pub fn set(&self, sig: u8, d: Disposition) -> Option<Disposition> {
        if sig == 0 || sig > MAX_SIGNAL || sig == SIGKILL || sig == SIGSTOP {
            return None;
        }
        let mut s = self.lock();
        let old = std::mem::replace(&mut s.dispositions[sig as usize], d);
        if d != Disposition::Catch {
            s.pending.retain(|&p| p != sig);
        }
        Some(old)
    }

    /// What `sig` does to this process now; a caught one is queued and wakes the process.
    pub fn deliver(&self, sig: u8) -> Delivery {
        if sig == SIGKILL {
            return Delivery::Terminate;
        }
        let mut s = self.lock();
        match s.dispositions.get(sig as usize).copied() {
            Some(Disposition::Catch) => {
                if !s.pending.contains(&sig) {
                    s.pending.push_back(sig);
                }
                s.unseen = true;
                drop(s);
                self.arrived.notify_waiters();
                Delivery::Caught
            }
            Some(Disposition::Default) if !self.init && !ignored_by_default(sig) => {
                Delivery::Terminate
            }
            _ => Delivery::Ignored,
        }
    }

    pub fn take(&self) -> Option<u8> {
        let mut s = self.lock();
        let sig = s.pending.pop_front();
        if s.pending.is_empty() {
            s.unseen = false;
        }
        sig
    }

    pub fn pending(&self) -> bool {
        !self.lock().pending.is_empty()
    }

    /// Resolves once a caught signal is pending. Cancel-safe.
    pub async fn wait(&self) {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.pending() {
                return;
            }
            arrived.await;
        }
    }
}

impl Signals {
    /// Resolves when a caught signal arrives that no blocking call has returned early for, as
    /// a signal makes a blocking system call return EINTR once. Cancel-safe.
    pub async fn interrupted(&self) {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut s = self.lock();
                if s.unseen {
                    s.unseen = false;
                    return;
                }
            }
            arrived.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_defaults_and_the_init_exception() {
        let child = Signals::new(false);
        assert_eq!(child.deliver(SIGTERM), Delivery::Terminate);
        assert_eq!(child.deliver(17), Delivery::Ignored);
        let init = Signals::new(true);
        assert_eq!(init.deliver(SIGTERM), Delivery::Ignored);
        assert_eq!(init.deliver(2), Delivery::Ignored);
        assert_eq!(init.deliver(SIGKILL), Delivery::Terminate);
    }

    #[test]
    fn caught_signals_queue_once_each_in_order() {
        let s = Signals::new(true);
        assert_eq!(
            s.set(SIGTERM, Disposition::Catch),
            Some(Disposition::Default)
        );
        assert_eq!(s.set(1, Disposition::Catch), Some(Disposition::Default));
        assert_eq!(s.deliver(SIGTERM), Delivery::Caught);
        assert_eq!(s.deliver(1), Delivery::Caught);
        assert_eq!(s.deliver(SIGTERM), Delivery::Caught);
        assert_eq!((s.take(), s.take(), s.take()), (Some(15), Some(1), None));
    }

    #[test]
    fn kill_and_stop_cannot_be_changed() {
        let s = Signals::new(false);
        assert_eq!(s.set(SIGKILL, Disposition::Ignore), None);
        assert_eq!(s.set(SIGSTOP, Disposition::Catch), None);
        assert_eq!(s.set(0, Disposition::Catch), None);
        assert_eq!(s.set(65, Disposition::Catch), None);
        assert_eq!(s.set(3, Disposition::Ignore), Some(Disposition::Default));
        assert_eq!(s.deliver(3), Delivery::Ignored);
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_a_caught_signal() {
        let s = std::sync::Arc::new(Signals::new(true));
        s.set(SIGTERM, Disposition::Catch);
        let t = s.clone();
        let waiter = tokio::spawn(async move { t.wait().await });
        tokio::task::yield_now().await;
        s.deliver(SIGTERM);
        assert!(waiter.await.is_ok());
    }
}
