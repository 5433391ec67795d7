//! PID namespaces of wasm containers: the processes one can see and signal, with their ids,
//! parents and exit statuses, as the kernel's process table keeps them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{Notify, watch};

use super::signals::{Delivery, Signals};

/// Processes one namespace may hold (Linux's `pids.max` for the pod's cgroup): a guest that
/// spawns in a loop is refused (EAGAIN) instead of exhausting the host.
pub const MAX_PROCESSES: usize = 1024;
/// Linux's default pid_max: ids wrap around below it, skipping those in use.
const PID_MAX: u32 = 4_194_304;

pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// Its container's name, for `ps`.
    pub container: String,
    /// Its container instance: the processes ended together when its main process ends.
    pub group: String,
    pub argv: Vec<String>,
    pub started: SystemTime,
    pub signals: Signals,
    /// Bytes of linear memory it holds.
    pub memory: AtomicU64,
    /// Set once it has exited: its status (the code, or 128 + the signal that killed it).
    status: watch::Sender<Option<u8>>,
    /// The signal that killed it, 0 until one does; the runner then drops its Store.
    killed_by: AtomicU8,
    kill: Notify,
    /// A parent holds its handle: after it exits it stays (a zombie) until it is waited for.
    parent_waits: AtomicBool,
    /// The memory limit's OOM killer chose it: its SIGKILL is an OOMKilled end.
    oom_victim: AtomicBool,
}

impl Process {
    /// Sends `sig`: queued if it catches it, ignored, or the process is killed by it.
    pub fn signal(&self, sig: u8) -> Delivery {
        let delivery = self.signals.deliver(sig);
        if delivery == Delivery::Terminate {
            self.kill(sig);
        }
        delivery
    }

    /// Ends the process now, as a signal's default action does.
    pub fn kill(&self, sig: u8) {
        if self
            .killed_by
            .compare_exchange(0, sig.max(1), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.kill.notify_waiters();
        }
    }

    /// Kills it for its container's memory limit, as the kernel's OOM killer does (SIGKILL).
    pub fn kill_for_oom(&self) {
        self.oom_victim.store(true, Ordering::SeqCst);
        self.kill(super::signals::SIGKILL);
    }

    /// Whether the OOM killer took it.
    pub fn oom_victim(&self) -> bool {
        self.oom_victim.load(Ordering::SeqCst)
    }

    /// Resolves with the signal once the process is killed. Cancel-safe.
    pub async fn killed(&self) -> u8 {
        loop {
            let notified = self.kill.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sig = self.killed_by.load(Ordering::SeqCst);
            if sig != 0 {
                return sig;
            }
            notified.await;
        }
    }

    pub fn status(&self) -> Option<u8> {
        *self.status.borrow()
    }

    pub fn running(&self) -> bool {
        self.status().is_none()
    }

    /// Resolves with its status once it has exited.
    pub async fn exited(&self) -> u8 {
        let mut rx = self.status.subscribe();
        loop {
            if let Some(code) = *rx.borrow_and_update() {
                return code;
            }
            if rx.changed().await.is_err() {
                return 137;
            }
        }
    }
}

/// What a new process is.
pub struct NewProcess {
    pub ppid: u32,
    pub container: String,
    pub group: String,
    pub argv: Vec<String>,
    /// PID 1 of the namespace.
    pub init: bool,
    /// Its parent will wait for it.
    pub parent_waits: bool,
}

#[derive(Default)]
struct Table {
    last: u32,
    procs: BTreeMap<u32, Arc<Process>>,
}

/// One PID namespace: a container's own, or its pod's with `shareProcessNamespace: true`.
#[derive(Default)]
pub struct PidNamespace {
    table: Mutex<Table>,
}

impl PidNamespace {
    pub fn new() -> Arc<Self> {
        Arc::new(PidNamespace::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enters a new process; None when the namespace is full.
    pub fn start(&self, new: NewProcess) -> Option<Arc<Process>> {
        let mut t = self.lock();
        if t.procs.len() >= MAX_PROCESSES {
            return None;
        }
        let mut pid = t.last;
        loop {
            pid = if pid + 1 >= PID_MAX { 2 } else { pid + 1 };
            if !t.procs.contains_key(&pid) {
                break;
            }
        }
        t.last = pid;
        let p = Arc::new(Process {
            pid,
            ppid: new.ppid,
            container: new.container,
            group: new.group,
            argv: new.argv,
            started: SystemTime::now(),
            signals: Signals::new(new.init),
            memory: AtomicU64::new(0),
            status: watch::Sender::new(None),
            killed_by: AtomicU8::new(0),
            kill: Notify::new(),
            parent_waits: AtomicBool::new(new.parent_waits),
            oom_victim: AtomicBool::new(false),
        });
        t.procs.insert(pid, p.clone());
        Some(p)
    }

    pub fn get(&self, pid: u32) -> Option<Arc<Process>> {
        self.lock().procs.get(&pid).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Process>> {
        self.lock().procs.values().cloned().collect()
    }

    /// Records that `p` exited. Without a parent waiting for it, it leaves the table at once.
    pub fn exit(&self, p: &Process, code: u8) {
        p.status.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(code);
                true
            } else {
                false
            }
        });
        if !p.parent_waits.load(Ordering::SeqCst) {
            self.lock().procs.remove(&p.pid);
        }
    }

    /// The parent reaped it, or let go of its handle: it leaves once it has exited.
    pub fn release(&self, p: &Process) {
        let mut t = self.lock();
        p.parent_waits.store(false, Ordering::SeqCst);
        if !p.running() {
            t.procs.remove(&p.pid);
        }
    }

    /// Sends `sig` to `leader` and every process descended from it, as a terminal signals its
    /// session's foreground processes.
    pub fn signal_tree(&self, leader: u32, sig: u8) {
        let procs = self.list();
        let mut tree = vec![leader];
        let mut i = 0;
        while let Some(&pid) = tree.get(i) {
            tree.extend(
                procs
                    .iter()
                    .filter(|p| p.ppid == pid && p.running())
                    .map(|p| p.pid),
            );
            i += 1;
        }
        for p in procs
            .iter()
            .filter(|p| tree.contains(&p.pid) && p.running())
        {
            p.signal(sig);
        }
    }

    /// Kills every process of a container instance but `except`, as the kernel kills a PID
    /// namespace's processes when its init exits (and the kubelet a container's cgroup).
    pub fn kill_group(&self, group: &str, except: u32) {
        for p in self.list() {
            if p.group == group && p.pid != except {
                p.kill(super::signals::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(ns: &PidNamespace, parent_waits: bool) -> Arc<Process> {
        ns.start(NewProcess {
            ppid: 0,
            container: "c".into(),
            group: "g".into(),
            argv: vec!["sh".into()],
            init: false,
            parent_waits,
        })
        .expect("room")
    }

    #[test]
    fn pids_count_up_and_zombies_wait_for_their_parent() {
        let ns = PidNamespace::new();
        let (a, b) = (new(&ns, false), new(&ns, true));
        assert_eq!((a.pid, b.pid), (1, 2));
        ns.exit(&a, 0);
        ns.exit(&b, 3);
        assert!(ns.get(1).is_none());
        assert_eq!(ns.get(2).and_then(|p| p.status()), Some(3));
        ns.release(&b);
        assert!(ns.get(2).is_none());
        assert_eq!(new(&ns, false).pid, 3);
    }

    #[test]
    fn a_full_namespace_refuses_new_processes() {
        let ns = PidNamespace::new();
        let all: Vec<_> = (0..MAX_PROCESSES).map(|_| new(&ns, false)).collect();
        assert!(
            ns.start(NewProcess {
                ppid: 0,
                container: "c".into(),
                group: "g".into(),
                argv: vec![],
                init: false,
                parent_waits: false,
            })
            .is_none()
        );
        drop(all);
    }

    #[tokio::test]
    async fn a_default_terminating_signal_kills() {
        let ns = PidNamespace::new();
        let p = new(&ns, false);
        assert_eq!(p.signal(15), Delivery::Terminate);
        assert_eq!(p.killed().await, 15);
    }
}
