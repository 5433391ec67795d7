//! `resources.limits.memory` for a wasm container: the linear memories of all its processes,
//! as a memory cgroup counts every process in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wasmtime::ResourceLimiterAsync;

use super::process::table::{PidNamespace, Process};

/// One process's share of its container's memory limit.
pub struct MemoryLimiter {
    limit: Option<u64>,
    /// What the container's processes hold together.
    container: Arc<AtomicU64>,
    process: Arc<Process>,
    /// Where the container's other processes are, to choose the OOM killer's victim among.
    pids: Arc<PidNamespace>,
    /// Set when a grow was refused: the process then ends as OOMKilled (137).
    pub hit: Arc<AtomicBool>,
}

impl MemoryLimiter {
    pub fn new(
        limit: Option<u64>,
        container: Arc<AtomicU64>,
        process: Arc<Process>,
        pids: Arc<PidNamespace>,
    ) -> Self {
        MemoryLimiter {
            limit,
            container,
            process,
            pids,
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The process the kernel's OOM killer would take when the container is full: the largest
    /// of its cgroup. None when that is this one, the one asking for more (a tie goes to it).
    fn victim(&self) -> Option<Arc<Process>> {
        let mine = self.process.memory.load(Ordering::SeqCst);
        self.pids
            .list()
            .into_iter()
            .filter(|p| p.group == self.process.group && p.pid != self.process.pid && p.running())
            .max_by_key(|p| p.memory.load(Ordering::SeqCst))
            .filter(|p| p.memory.load(Ordering::SeqCst) > mine)
    }

    /// Takes `desired - current` more bytes of the container's limit, if it has them.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let extra = desired.saturating_sub(current) as u64;
        let granted = self
            .container
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                let after = used.saturating_add(extra);
                match self.limit {
                    Some(limit) if after > limit => None,
                    _ => Some(after),
                }
            })
            .is_ok();
        if granted {
            self.process.memory.fetch_add(extra, Ordering::SeqCst);
        }
        granted
    }
}

impl Drop for MemoryLimiter {
    /// The process's memory goes back to its container when its Store is gone.
    fn drop(&mut self) {
        let mine = self.process.memory.swap(0, Ordering::SeqCst);
        let _ = self
            .container
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(mine))
            });
    }
}

#[async_trait::async_trait]
impl ResourceLimiterAsync for MemoryLimiter {
    async fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the limit the kernel's OOM killer SIGKILLs the largest process of the cgroup,
        // and the allocation that found the cgroup full goes on once the victim's memory is
        // free; the guest never sees a failed grow to report.
        while !self.grow(current, desired) {
            match self.victim() {
                Some(victim) => {
                    victim.kill_for_oom();
                    victim.exited().await;
                }
                None => {
                    self.hit.store(true, Ordering::SeqCst);
                    return Err(wasmtime::Error::msg(
                        "the container's memory limit is reached",
                    ));
                }
            }
        }
        Ok(true)
    }

    async fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold references, not data; Kubernetes' memory limit is about bytes of data.
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::wasm::process::table::{NewProcess, PidNamespace};

    fn process(ns: &PidNamespace) -> Arc<Process> {
        ns.start(NewProcess {
            ppid: 0,
            container: "c".into(),
            group: "g".into(),
            argv: vec![],
            init: false,
            parent_waits: false,
        })
        .expect("room")
    }

    fn limiter(limit: Option<u64>, used: &Arc<AtomicU64>, ns: &Arc<PidNamespace>) -> MemoryLimiter {
        MemoryLimiter::new(limit, used.clone(), process(ns), ns.clone())
    }

    #[tokio::test]
    async fn refuses_growth_past_the_limit_and_remembers() {
        let ns = PidNamespace::new();
        let used = Arc::new(AtomicU64::new(0));
        let mut l = limiter(Some(100), &used, &ns);
        assert!(l.memory_growing(0, 60, None).await.is_ok());
        assert!(l.memory_growing(60, 100, None).await.is_ok());
        assert!(!l.hit.load(Ordering::SeqCst));
        assert!(l.memory_growing(100, 101, None).await.is_err());
        assert!(l.hit.load(Ordering::SeqCst));
        let mut unlimited = limiter(None, &Arc::default(), &ns);
        assert!(unlimited.grow(0, usize::MAX));
    }

    #[tokio::test]
    async fn the_largest_process_is_the_victim_and_the_grow_goes_on() {
        let ns = PidNamespace::new();
        let used = Arc::new(AtomicU64::new(0));
        let mut big = limiter(Some(100), &used, &ns);
        let mut small = limiter(Some(100), &used, &ns);
        assert!(big.memory_growing(0, 70, None).await.is_ok());
        assert!(small.memory_growing(0, 20, None).await.is_ok());
        let victim = big.process.clone();
        let pids = ns.clone();
        // What its runner does once it is killed: its Store goes, then it exits.
        let runner = tokio::spawn(async move {
            let sig = victim.killed().await;
            drop(big);
            pids.exit(&victim, 128 + sig);
        });
        assert!(
            small.memory_growing(20, 50, None).await.is_ok(),
            "grows once the victim is gone"
        );
        runner.await.expect("runner");
        assert!(!small.hit.load(Ordering::SeqCst));
        assert_eq!(used.load(Ordering::SeqCst), 50);
        // Alone, or the largest itself: the one that grows dies.
        assert!(small.memory_growing(50, 101, None).await.is_err());
        assert!(small.hit.load(Ordering::SeqCst));
    }

    #[test]
    fn the_limit_covers_every_process_of_the_container_and_is_freed_by_their_end() {
        let ns = PidNamespace::new();
        let used = Arc::new(AtomicU64::new(0));
        let mut a = limiter(Some(100), &used, &ns);
        let mut b = limiter(Some(100), &used, &ns);
        assert!(a.grow(0, 70));
        assert!(!b.grow(0, 40));
        drop(a);
        assert_eq!(used.load(Ordering::SeqCst), 0);
        assert!(b.grow(0, 40));
    }
}
