//! The node: the facts every pod on it sees, and the pod manager that runs pods on it as they
//! come (`wpod run` adds a fixed set; an API server adds, updates and deletes them at run time).

mod manager;
#[cfg(test)]
mod tests;

pub use manager::{Change, Node, NodeConfig, NodeError};

/// The node's name, as `spec.nodeName`, the downward API and events show it.
pub const NODE_NAME: &str = "wpod";
/// The node's address, as `status.hostIP`: where the node's own connections to a pod come from.
pub const HOST_IP: &str = "127.0.0.1";
