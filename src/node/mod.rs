//! The node wpod pretends to be: the facts every pod on it sees (`spec.nodeName`, `status.hostIP`).

/// The node's name, as `spec.nodeName`, the downward API and events show it.
pub const NODE_NAME: &str = "wpod";
/// The node's address, as `status.hostIP`: where the node's own connections to a pod come from.
pub const HOST_IP: &str = "127.0.0.1";
