//! The node: the facts every pod on it sees, and the pod manager that runs pods on it as they
//! come (`wpod run` adds a fixed set; an API server adds, updates and deletes them at run time).

mod manager;
pub mod node_ports;
#[cfg(test)]
mod tests;

pub use manager::{Change, Node, NodeConfig, NodeError, StreamError};

/// The node's name, as `spec.nodeName`, the downward API and events show it.
pub const NODE_NAME: &str = "wpod";
/// The node's address, as `status.hostIP`: where the node's own connections to a pod come from.
pub const HOST_IP: &str = "127.0.0.1";

/// The node's CPUs, as its capacity and a container's unlimited `limits.cpu` count them.
pub fn cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The node's memory in bytes (8 GiB where the system does not say).
pub fn memory_bytes() -> u64 {
    const UNKNOWN: u64 = 8 << 30;
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(UNKNOWN, |kb| kb * 1024)
    }
    #[cfg(not(target_os = "linux"))]
    {
        UNKNOWN
    }
}
