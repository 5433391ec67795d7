//! `resources.limits.memory` for a wasm container: the sum of its linear memories and tables.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::ResourceLimiter;

pub struct MemoryLimiter {
    limit: Option<u64>,
    used: u64,
    /// Set when a grow was refused: the container then ends as OOMKilled.
    pub hit: Arc<AtomicBool>,
}

impl MemoryLimiter {
    pub fn new(limit: Option<u64>) -> Self {
        MemoryLimiter {
            limit,
            used: 0,
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let extra = desired.saturating_sub(current) as u64;
        match self.limit {
            Some(limit) if self.used.saturating_add(extra) > limit => {
                self.hit.store(true, Ordering::SeqCst);
                false
            }
            _ => {
                self.used = self.used.saturating_add(extra);
                true
            }
        }
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

    #[test]
    fn refuses_growth_past_the_limit_and_remembers() {
        let mut l = MemoryLimiter::new(Some(100));
        assert!(l.grow(0, 60));
        assert!(l.grow(60, 100));
        assert!(!l.hit.load(Ordering::SeqCst));
        assert!(!l.grow(100, 101));
        assert!(l.hit.load(Ordering::SeqCst));
        let mut unlimited = MemoryLimiter::new(None);
        assert!(unlimited.grow(0, usize::MAX));
    }
}
