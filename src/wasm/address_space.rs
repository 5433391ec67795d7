//! Linear memories and fiber stacks that do not cost the node a memory mapping each (Linux).
//!
//! The kernel caps a process at `vm.max_map_count` mappings (65,530 unless raised). wasmtime's
//! defaults give every instance a 4 GiB reservation with guard regions, a copy-on-write image of
//! its data mapped over it and a stack below a protected guard page: six mappings or more per
//! instance, so a node stopped at about 3,400 pods of two containers. Here the compiled code
//! checks every memory access against the memory's length (no reservation, no guard region
//! beyond it), a memory is plain private anonymous memory with its data copied in, and a stack's
//! guard page is installed in the page tables (`MADV_GUARD_INSTALL`, Linux 6.13) rather than
//! protected: allocations with equal permissions that lie side by side are one mapping to the
//! kernel, however many instances they belong to. An older kernel gets a protected guard page
//! per stack, as wasmtime would make it. Untouched pages cost nothing (`MAP_NORESERVE`).

use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType, StackCreator, StackMemory};

/// `MADV_GUARD_INSTALL` from the kernel's uapi (libc does not have it yet).
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// A memory at least this large grows by moving its pages (`mremap`) instead of copying them:
/// it gets a mapping of its own, which few memories are large enough to need.
const MOVE_PAGES_FROM: usize = 8 << 20;

/// Sets `config` up for memories and stacks from this module.
pub fn configure(config: &mut wasmtime::Config) {
    config
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(0)
        .guard_before_linear_memory(false)
        // A copy-on-write image is a file mapping of its own in every instance.
        .memory_init_cow(false)
        .with_host_memory(Arc::new(Memories))
        .with_host_stack(Arc::new(Stacks));
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096)
}

fn round_up(bytes: usize, page: usize) -> Option<usize> {
    bytes.checked_next_multiple_of(page)
}

/// Fresh zeroed private memory of `len` bytes (a multiple of the page size), not yet charged.
fn map(len: usize) -> Result<NonNull<u8>, std::io::Error> {
    // SAFETY: a new anonymous mapping chosen by the kernel touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))
}

/// # Safety
/// `base..base + len` was mapped by `map` and nothing refers to it any more.
unsafe fn unmap(base: NonNull<u8>, len: usize) {
    // SAFETY: the caller's promise. A failure (EINVAL on a range never mapped) cannot happen for
    // such a range, and there is nothing to do about one.
    unsafe { libc::munmap(base.as_ptr().cast(), len) };
}

struct Memories;

// SAFETY: every memory is zero filled, takes no reservation or guard region (the config asks
// for neither, and any other request is refused) and keeps its bytes when it grows.
unsafe impl MemoryCreator for Memories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if reserved_size_in_bytes.unwrap_or(0) != 0 || guard_size_in_bytes != 0 {
            return Err("wpod's linear memories take no reservation or guard region".into());
        }
        let page = page_size();
        let capacity = round_up(minimum.max(1), page).ok_or("memory size overflows")?;
        let base = map(capacity).map_err(|e| format!("allocating a linear memory: {e}"))?;
        Ok(Box::new(Memory {
            base,
            capacity,
            size: minimum,
            maximum,
            page,
        }))
    }
}

struct Memory {
    base: NonNull<u8>,
    /// Bytes mapped at `base`; those past `size` were never accessible, so they are still zero.
    capacity: usize,
    size: usize,
    maximum: Option<usize>,
    page: usize,
}

// SAFETY: the memory is owned by this value alone; wasmtime synchronizes access to it.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

impl Memory {
    /// Room for `new_size` bytes at a new place or in place, at least doubling the capacity so
    /// a memory grown page by page is copied a bounded number of times.
    fn reallocate(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let wanted = new_size.max(self.capacity.saturating_mul(2));
        let wanted = self.maximum.map_or(wanted, |m| wanted.min(m).max(new_size));
        let new_capacity = round_up(wanted, self.page)
            .ok_or_else(|| wasmtime::format_err!("memory size overflows"))?;
        let old = self.base.as_ptr().cast();
        // SAFETY: growing our own mapping where it lies (no MREMAP_MAYMOVE) moves nothing.
        let grown = unsafe { libc::mremap(old, self.capacity, new_capacity, 0) };
        if grown != libc::MAP_FAILED {
            self.capacity = new_capacity;
            return Ok(());
        }
        if new_capacity >= MOVE_PAGES_FROM {
            // SAFETY: wasmtime reads the base again after a grow (the memory may move).
            let moved =
                unsafe { libc::mremap(old, self.capacity, new_capacity, libc::MREMAP_MAYMOVE) };
            if moved == libc::MAP_FAILED {
                wasmtime::bail!(
                    "growing a linear memory to {new_size} bytes: {}",
                    std::io::Error::last_os_error()
                );
            }
            self.base = NonNull::new(moved.cast())
                .ok_or_else(|| wasmtime::format_err!("mremap returned null"))?;
            self.capacity = new_capacity;
            return Ok(());
        }
        let new_base = map(new_capacity).map_err(|e| {
            wasmtime::format_err!("growing a linear memory to {new_size} bytes: {e}")
        })?;
        // SAFETY: both ranges are mapped, at least `self.size` long and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr(), new_base.as_ptr(), self.size);
            unmap(self.base, self.capacity);
        }
        self.base = new_base;
        self.capacity = new_capacity;
        Ok(())
    }
}

// SAFETY: `as_ptr` is valid for `byte_capacity` bytes, which grow_to keeps zero past `size`.
unsafe impl LinearMemory for Memory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            self.reallocate(new_size)?;
        }
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the instance that used the memory is gone.
        unsafe { unmap(self.base, self.capacity) };
    }
}

struct Stacks;

// SAFETY: every stack is page aligned, zero filled and has a guard page below it.
unsafe impl StackCreator for Stacks {
    fn new_stack(&self, size: usize, _zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let page = page_size();
        let len = round_up(size, page)
            .and_then(|s| s.checked_add(page))
            .ok_or_else(|| wasmtime::format_err!("stack size overflows"))?;
        let base = map(len).map_err(|e| wasmtime::format_err!("allocating a stack: {e}"))?;
        let guard = base.as_ptr().cast();
        // SAFETY: the first page of our own new mapping, which nothing uses yet.
        let guarded = unsafe { libc::madvise(guard, page, MADV_GUARD_INSTALL) } == 0
            // SAFETY: the same page, on a kernel without guard regions.
            || unsafe { libc::mprotect(guard, page, libc::PROT_NONE) } == 0;
        if !guarded {
            let e = std::io::Error::last_os_error();
            // SAFETY: just mapped above and never handed out.
            unsafe { unmap(base, len) };
            wasmtime::bail!("protecting a stack's guard page: {e}");
        }
        Ok(Box::new(Stack { base, len, page }))
    }
}

struct Stack {
    base: NonNull<u8>,
    len: usize,
    page: usize,
}

// SAFETY: the stack is owned by this value alone and used by one fiber at a time.
unsafe impl Send for Stack {}
// SAFETY: as above.
unsafe impl Sync for Stack {}

// SAFETY: top, range and guard_range describe the mapping made in new_stack.
unsafe impl StackMemory for Stack {
    fn top(&self) -> *mut u8 {
        self.base.as_ptr().wrapping_add(self.len)
    }

    fn range(&self) -> Range<usize> {
        let base = self.base.as_ptr() as usize;
        base + self.page..base + self.len
    }

    fn guard_range(&self) -> Range<*mut u8> {
        self.base.as_ptr()..self.base.as_ptr().wrapping_add(self.page)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the fiber that ran on the stack is gone.
        unsafe { unmap(self.base, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mappings() -> usize {
        std::fs::read_to_string("/proc/self/maps")
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    fn guard_regions() -> bool {
        let page = page_size();
        let p = map(page).expect("a page");
        // SAFETY: a page of our own.
        let ok = unsafe { libc::madvise(p.as_ptr().cast(), page, MADV_GUARD_INSTALL) } == 0;
        // SAFETY: mapped above, used by nothing.
        unsafe { unmap(p, page) };
        ok
    }

    #[test]
    fn memories_keep_their_bytes_and_read_zero_where_they_grew() {
        let mut m = Memories
            .new_memory(MemoryType::new(1, None), 65536, None, Some(0), 0)
            .expect("memory");
        // SAFETY: the memory is 64 KiB long.
        unsafe { m.as_ptr().add(65535).write(7) };
        for size in [2, 3, 200, 400].map(|pages| pages * 65536) {
            m.grow_to(size).expect("grow");
            assert!(m.byte_capacity() >= size);
            // SAFETY: within the new size.
            unsafe {
                assert_eq!(
                    m.as_ptr().add(65535).read(),
                    7,
                    "kept across growth to {size}"
                );
                assert_eq!(m.as_ptr().add(size - 1).read(), 0, "zero at {size}");
                m.as_ptr().add(size - 1).write(1);
            }
        }
    }

    #[test]
    fn a_memory_with_a_guard_region_is_refused() {
        let r = Memories.new_memory(MemoryType::new(1, None), 65536, None, Some(1 << 32), 0);
        assert!(r.is_err());
    }

    #[test]
    fn many_stacks_and_memories_take_few_mappings() {
        let before = mappings();
        let stacks: Vec<_> = (0..200)
            .map(|_| Stacks.new_stack(256 << 10, false).expect("stack"))
            .collect();
        let memories: Vec<_> = (0..200)
            .map(|_| {
                Memories
                    .new_memory(MemoryType::new(2, None), 2 * 65536, None, Some(0), 0)
                    .expect("memory")
            })
            .collect();
        for s in &stacks {
            // SAFETY: the top word of each stack.
            unsafe { s.top().cast::<u64>().sub(1).write(1) };
            assert_eq!(s.range().end, s.top() as usize);
        }
        let added = mappings().saturating_sub(before);
        // Other tests of this process map and unmap meanwhile: allow them some. A kernel
        // without guard regions (before 6.13) splits a mapping at each stack's guard page.
        let per_stack = if guard_regions() { 0 } else { 2 };
        assert!(
            added < 50 + per_stack * stacks.len(),
            "400 allocations added {added} mappings"
        );
        drop((stacks, memories));
    }
}
