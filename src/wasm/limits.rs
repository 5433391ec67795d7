//! `resources.limits.memory` for a wasm container: the linear memories of all its processes,
//! as a memory cgroup counts every process in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

use super::process::table::Process;

/// One process's share of its container's memory limit.
pub struct MemoryLimiter {
    limit: Option<u64>,
    /// What the container's processes hold together.
    container: Arc<AtomicU64>,
    process: Arc<Process>,
    /// Set when a grow was refused: the process then ends as OOMKilled (137).
    pub hit: Arc<AtomicBool>,
}

impl MemoryLimiter {
    pub fn new(limit: Option<u64>, container: Arc<AtomicU64>, process: Arc<Process>) -> Self {
        MemoryLimiter {
            limit,
            container,
            process,
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The process that asks for more is the one that dies when the container is full: with
    /// one process per program run that is the kernel's choice too, the largest being the one
    /// that grows.
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
        } else {
            self.hit.store(true, Ordering::SeqCst);
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

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the limit the container dies at the allocation, as the kernel's OOM killer
        // SIGKILLs a process in its cgroup: the guest never sees a failed grow to report.
        if self.grow(current, desired) {
            Ok(true)
        } else {
            Err(wasmtime::Error::msg(
                "the container's memory limit is reached",
            ))
        }
    }

    fn table_growing(
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

    #[test]
    fn refuses_growth_past_the_limit_and_remembers() {
        let ns = PidNamespace::new();
        let used = Arc::new(AtomicU64::new(0));
        let mut l = MemoryLimiter::new(Some(100), used.clone(), process(&ns));
        assert!(l.grow(0, 60));
        assert!(l.grow(60, 100));
        assert!(!l.hit.load(Ordering::SeqCst));
        assert!(!l.grow(100, 101));
        assert!(l.hit.load(Ordering::SeqCst));
        let mut unlimited = MemoryLimiter::new(None, Arc::default(), process(&ns));
        assert!(unlimited.grow(0, usize::MAX));
    }

    #[test]
    fn the_limit_covers_every_process_of_the_container_and_is_freed_by_their_end() {
        let ns = PidNamespace::new();
        let used = Arc::new(AtomicU64::new(0));
        let mut a = MemoryLimiter::new(Some(100), used.clone(), process(&ns));
        let mut b = MemoryLimiter::new(Some(100), used.clone(), process(&ns));
        assert!(a.grow(0, 70));
        assert!(!b.grow(0, 40));
        drop(a);
        assert_eq!(used.load(Ordering::SeqCst), 0);
        assert!(b.grow(0, 40));
    }
}
