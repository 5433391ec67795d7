//! kube-proxy's nftables mode, in the node's network namespace: each ClusterIP:port with ready
//! endpoints is DNATed in the kernel to one of them, so Service traffic costs what a routed
//! packet costs instead of a copy through wpod.
//!
//! The table mirrors upstream's layout in miniature: a `services` verdict map keyed by
//! address . protocol . port jumps to one chain per Service port, which picks an endpoint
//! chain (`numgen inc`, the round-robin the wasm backend and the userspace proxy use; ClientIP
//! affinity first through a timed set per endpoint, as upstream's `affinity` sets), and each
//! endpoint chain marks the packet for masquerading and DNATs it. A `nodePort` is also an entry
//! of the map, at the node's address (kube-proxy's nodeports), so pods reach it as on a node.
//! Every Service connection is masqueraded to the node's address (kube-proxy's
//! `--masquerade-all`): the pods share one bridge, so a reply sent straight back over it would
//! miss the conntrack entry that undoes the DNAT. A port without a ready endpoint matches nothing
//! and meets the Service range's local route, which refuses it as kube-proxy's REJECT does.
//!
//! The whole table is replaced in one `nft -f` transaction at every change, so a packet sees
//! the old rules or the new, never half of them.

use std::fmt::Write as _;

use crate::net::cluster::NODE_IP;
use crate::net::netns::Proto;
use crate::net::services::Service;

pub const TABLE: &str = "wpod";
/// The mark an endpoint chain sets for the postrouting chain to masquerade (upstream's bit).
const MASQUERADE: u32 = 0x4000;
/// The `dstnat` priority, by number: nft 1.0.6 knows the name only for prerouting.
const DSTNAT: i32 = -100;

/// The ruleset that replaces the table: `nft -f` input, one command per line.
pub fn ruleset(services: &[Service]) -> String {
    let mut out = String::new();
    // `add` first: `delete` of a table that does not exist would fail the whole transaction.
    let _ = writeln!(out, "add table ip {TABLE}");
    let _ = writeln!(out, "delete table ip {TABLE}");
    let _ = writeln!(out, "add table ip {TABLE}");
    let _ = writeln!(
        out,
        "add chain ip {TABLE} prerouting {{ type nat hook prerouting priority {DSTNAT}; policy accept; }}"
    );
    let _ = writeln!(
        out,
        "add chain ip {TABLE} output {{ type nat hook output priority {DSTNAT}; policy accept; }}"
    );
    let _ = writeln!(
        out,
        "add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}"
    );
    let _ = writeln!(
        out,
        "add rule ip {TABLE} postrouting meta mark & {MASQUERADE:#x} == {MASQUERADE:#x} masquerade"
    );
    let mut map = Vec::new();
    let mut chains = String::new();
    for (s, svc) in services.iter().enumerate() {
        let Some(ip) = svc.cluster_ip else { continue };
        for (p, port) in svc.ports.iter().enumerate() {
            let ready: Vec<(std::net::Ipv4Addr, u16)> = svc
                .endpoints
                .iter()
                .filter(|e| e.ready)
                .filter_map(|e| Some((e.ip, e.targets.get(p).copied().flatten()?)))
                .collect();
            if ready.is_empty() {
                continue;
            }
            let proto = match port.protocol {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            };
            let chain = format!("svc-{s}-{p}");
            map.push(format!("{ip} . {proto} . {} : goto {chain}", port.port));
            // kube-proxy's nodeports: the node's own address at the node port, for the pods.
            if let Some(node_port) = port.node_port {
                map.push(format!("{NODE_IP} . {proto} . {node_port} : goto {chain}"));
            }
            let _ = writeln!(chains, "add chain ip {TABLE} {chain}");
            let mut picks = Vec::new();
            for (e, (to, target)) in ready.iter().enumerate() {
                let endpoint = format!("{chain}-ep-{e}");
                let _ = writeln!(chains, "add chain ip {TABLE} {endpoint}");
                let _ = writeln!(
                    chains,
                    "add rule ip {TABLE} {endpoint} meta mark set meta mark | {MASQUERADE:#x}"
                );
                if let Some(timeout) = svc.affinity {
                    let set = format!("{endpoint}-affinity");
                    let _ = writeln!(
                        chains,
                        "add set ip {TABLE} {set} {{ type ipv4_addr; flags dynamic,timeout; timeout {}s; }}",
                        timeout.as_secs().max(1)
                    );
                    let _ = writeln!(
                        chains,
                        "add rule ip {TABLE} {chain} ip saddr @{set} goto {endpoint}"
                    );
                    let _ = writeln!(
                        chains,
                        "add rule ip {TABLE} {endpoint} update @{set} {{ ip saddr }}"
                    );
                }
                let _ = writeln!(
                    chains,
                    "add rule ip {TABLE} {endpoint} meta l4proto {proto} dnat to {to}:{target}"
                );
                picks.push(format!("{e} : goto {endpoint}"));
            }
            let _ = writeln!(
                chains,
                "add rule ip {TABLE} {chain} numgen inc mod {} vmap {{ {} }}",
                ready.len(),
                picks.join(", ")
            );
        }
    }
    out.push_str(&chains);
    if !map.is_empty() {
        let _ = writeln!(
            out,
            "add map ip {TABLE} services {{ type ipv4_addr . inet_proto . inet_service : verdict; }}"
        );
        let _ = writeln!(
            out,
            "add element ip {TABLE} services {{ {} }}",
            map.join(", ")
        );
        for hook in ["prerouting", "output"] {
            let _ = writeln!(
                out,
                "add rule ip {TABLE} {hook} ip daddr . meta l4proto . th dport vmap @services"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::services::{Endpoint, ServicePort};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn web(affinity: Option<Duration>) -> Service {
        let endpoint = |last: u8, ready: bool| Endpoint {
            ip: Ipv4Addr::new(10, 88, 0, last),
            pod: format!("web-{last}"),
            ready,
            hostname: None,
            targets: vec![Some(8080), None],
        };
        Service {
            namespace: "default".into(),
            name: "web".into(),
            cluster_ip: Some(Ipv4Addr::new(10, 96, 0, 12)),
            ports: vec![
                ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Proto::Tcp,
                    node_port: Some(30080),
                },
                ServicePort {
                    name: Some("metrics".into()),
                    port: 9090,
                    protocol: Proto::Tcp,
                    node_port: None,
                },
            ],
            endpoints: vec![endpoint(5, true), endpoint(6, false), endpoint(7, true)],
            affinity,
            external_name: None,
        }
    }

    #[test]
    fn ready_endpoints_of_served_ports_only() {
        let rules = ruleset(&[web(None)]);
        assert!(
            rules.contains("10.96.0.12 . tcp . 80 : goto svc-0-0"),
            "{rules}"
        );
        assert!(
            rules.contains("10.88.0.1 . tcp . 30080 : goto svc-0-0"),
            "{rules}"
        );
        // No endpoint declares the named target of port 9090: it refuses, so no entry.
        assert!(!rules.contains("9090"), "{rules}");
        assert!(rules.contains("dnat to 10.88.0.5:8080"), "{rules}");
        assert!(!rules.contains("10.88.0.6"), "{rules}");
        assert!(
            rules
                .contains("numgen inc mod 2 vmap { 0 : goto svc-0-0-ep-0, 1 : goto svc-0-0-ep-1 }"),
            "{rules}"
        );
        assert!(!rules.contains("affinity"), "{rules}");
    }

    #[test]
    fn affinity_is_checked_before_the_turn() {
        let rules = ruleset(&[web(Some(Duration::from_secs(10800)))]);
        let check = rules
            .find("ip saddr @svc-0-0-ep-0-affinity goto svc-0-0-ep-0")
            .expect("affinity rule");
        let turn = rules.find("numgen").expect("numgen rule");
        assert!(check < turn, "{rules}");
        assert!(rules.contains("timeout 10800s"), "{rules}");
    }

    #[test]
    fn no_services_no_map() {
        let rules = ruleset(&[]);
        assert!(!rules.contains("vmap"), "{rules}");
        assert!(rules.contains("masquerade"), "{rules}");
    }
}
