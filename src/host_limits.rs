//! The host's per-process limits that bound how many pods one wpod runs: open files and (on
//! Linux) memory mappings. Running out of either fails the container that could not start, with
//! a message naming the limit and how to raise it, and never the node: a `malloc` that finds no
//! mapping left aborts the whole process, so wpod stops starting wasm instances while some room
//! is left.

/// Raises the soft open-files limit as far as the process may (as Go's runtime and containerd
/// do): every pod holds a few descriptors (its volumes, its containers' roots and files), and the
/// usual soft limit of 1,024 would stop a node at a few hundred pods.
pub fn raise_open_files() {
    #[cfg(unix)]
    unix::raise_open_files();
}

/// Whether one more wasm instance (linear memory, stack, code) fits in this process's memory
/// mappings; the error says which limit is reached and how to raise it.
pub fn room_for_instance() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return maps::room_for_instance();
    #[cfg(not(target_os = "linux"))]
    Ok(())
}

/// An error message, with what to do when it is the process or the machine running out of
/// open files (EMFILE, ENFILE): the OS error alone does not say it is the node's limit.
pub fn explain(message: String) -> String {
    if message.contains("(os error 24)") || message.contains("(os error 23)") {
        format!(
            "{message} (the node ran out of open files: raise the limit, `ulimit -n` or \
             LimitNOFILE= in a systemd unit, or run fewer pods)"
        )
    } else {
        message
    }
}

#[cfg(unix)]
mod unix {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    /// The kernel's ceiling for RLIMIT_NOFILE, which root may raise its hard limit to.
    fn nr_open() -> Option<u64> {
        #[cfg(target_os = "linux")]
        return std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        #[cfg(not(target_os = "linux"))]
        None
    }

    pub(super) fn raise_open_files() {
        let current = getrlimit(Resource::Nofile);
        let hard = current.maximum;
        // Root may lift the hard limit itself, up to the kernel's ceiling.
        if let Some(ceiling) = nr_open()
            && hard.is_some_and(|h| h < ceiling)
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(ceiling),
                    maximum: Some(ceiling),
                },
            )
            .is_ok()
        {
            return;
        }
        // macOS refuses a soft limit above OPEN_MAX however high the hard limit is.
        #[cfg(target_os = "macos")]
        let hard = hard.map(|h| h.min(10_240));
        if current.current < hard {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: hard,
                    maximum: current.maximum,
                },
            );
        }
    }
}

#[cfg(target_os = "linux")]
mod maps {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Mappings kept free for everything that is not an instance: the allocator's arenas, thread
    /// stacks, the compile cache, a `wpod serve` request.
    const HEADROOM: usize = 2_048;
    /// What one instance can add at most before the next count: its linear memory and stack
    /// (usually merged with their neighbours' mappings, see wasm/address_space.rs; apart on
    /// a kernel without guard regions or for a memory grown past 8 MiB), and some to spare.
    const PER_INSTANCE: usize = 8;

    /// Instances started since the last count, and the count then.
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static COUNTED: Mutex<Counted> = Mutex::new(Counted {
        maps: 0,
        started: 0,
        limit: None,
    });

    struct Counted {
        maps: usize,
        /// `STARTED` when `maps` was read.
        started: usize,
        /// vm.max_map_count, once read.
        limit: Option<usize>,
    }

    fn max_map_count() -> usize {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65_530)
    }

    /// The mappings this process has now: one line each in /proc/self/maps.
    fn count_maps() -> Option<usize> {
        let text = std::fs::read("/proc/self/maps").ok()?;
        Some(text.iter().filter(|&&b| b == b'\n').count())
    }

    /// Counting reads the whole map list (some milliseconds at 60,000 mappings), so it is done
    /// only when an estimate from the last count could be near the limit.
    pub(super) fn room_for_instance() -> Result<(), String> {
        let started = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        let mut counted = COUNTED.lock().unwrap_or_else(|p| p.into_inner());
        let limit = *counted.limit.get_or_insert_with(max_map_count);
        let allowed = limit.saturating_sub(HEADROOM);
        let since = started.saturating_sub(counted.started);
        if counted.maps != 0 && counted.maps + since * PER_INSTANCE < allowed {
            return Ok(());
        }
        let Some(maps) = count_maps() else {
            return Ok(());
        };
        counted.maps = maps;
        counted.started = started;
        if maps + PER_INSTANCE < allowed {
            return Ok(());
        }
        // Count afresh next time: instances that end give their mappings back.
        counted.maps = 0;
        Err(format!(
            "the node is out of memory mappings: wpod has {maps} of the {limit} the kernel \
             allows a process (vm.max_map_count); raise the limit \
             (`sudo sysctl -w vm.max_map_count=1048576`) or run fewer pods"
        ))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_count_is_this_processs_mappings() {
            let n = count_maps().expect("/proc/self/maps");
            assert!(n > 10, "{n}");
            assert!(max_map_count() > n);
            assert_eq!(super::super::room_for_instance(), Ok(()));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn running_out_of_files_says_what_to_do() {
        let out = std::io::Error::from_raw_os_error(24);
        #[cfg(unix)]
        assert!(super::explain(format!("opening x: {out}")).contains("ulimit -n"));
        assert_eq!(super::explain("no such file".into()), "no such file");
    }
}
