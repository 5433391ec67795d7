//! The kubelet's DNS configuration of a pod (pkg/kubelet/network/dns): what its resolv.conf
//! says, from `dnsPolicy` and `dnsConfig`.

use k8s_openapi::api::core::v1::PodSpec;

use crate::net::services::{CLUSTER_DOMAIN, DNS_IP, search_domains};
use crate::runtime::{DnsConfig, HostsConfig};

/// `ClusterFirst` (the default) gives the cluster DNS and the namespace's search path, except to
/// a `hostNetwork` pod, which gets the node's own resolv.conf as with `Default`, unless it asks
/// for `ClusterFirstWithHostNet`; `None` starts empty. `dnsConfig` is then added: nameservers and
/// searches appended (without duplicates), options by name, its own winning.
pub fn config(spec: &PodSpec, namespace: &str) -> DnsConfig {
    let host_network = spec.host_network.unwrap_or(false);
    let mut dns = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "ClusterFirst" if host_network => host(),
        "Default" => host(),
        "None" => DnsConfig::default(),
        _ => DnsConfig {
            servers: vec![DNS_IP.to_string()],
            searches: search_domains(namespace).to_vec(),
            options: vec!["ndots:5".into()],
        },
    };
    if let Some(extra) = &spec.dns_config {
        for server in extra.nameservers.iter().flatten() {
            if !dns.servers.contains(server) {
                dns.servers.push(server.clone());
            }
        }
        for search in extra.searches.iter().flatten() {
            if !dns.searches.contains(search) {
                dns.searches.push(search.clone());
            }
        }
        for option in extra.options.iter().flatten() {
            let text = match &option.value {
                Some(v) => format!("{}:{v}", option.name.as_deref().unwrap_or_default()),
                None => option.name.clone().unwrap_or_default(),
            };
            let name = text.split(':').next().unwrap_or_default().to_string();
            dns.options
                .retain(|o| o.split(':').next().unwrap_or_default() != name);
            dns.options.push(text);
        }
    }
    dns
}

/// The pod's /etc/hosts entries: its FQDN when it has a `subdomain` (the kubelet writes it even
/// when no Service of that name exists), and `hostAliases`.
pub fn hosts(spec: &PodSpec, namespace: &str) -> HostsConfig {
    HostsConfig {
        domain: spec
            .subdomain
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| format!("{s}.{namespace}.svc.{CLUSTER_DOMAIN}")),
        aliases: spec
            .host_aliases
            .iter()
            .flatten()
            .map(|a| (a.ip.clone(), a.hostnames.clone().unwrap_or_default()))
            .collect(),
    }
}

/// The node's resolv.conf, as `dnsPolicy: Default` passes it on (the machine's own).
fn host() -> DnsConfig {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| DnsConfig::parse(&text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: serde_json::Value) -> PodSpec {
        serde_json::from_value(yaml).expect("spec")
    }

    #[test]
    fn cluster_first_then_dns_config() {
        let s = spec(serde_json::json!({"containers": [],
            "dnsConfig": {"nameservers": ["192.0.2.1"], "searches": ["example.com"],
                          "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}));
        let dns = config(&s, "shop");
        assert_eq!(dns.servers, ["10.96.0.10", "192.0.2.1"]);
        assert_eq!(
            dns.searches,
            [
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "example.com"
            ]
        );
        assert_eq!(dns.options, ["ndots:2", "edns0"]);
        assert_eq!(dns.ndots(), 2);
        assert!(
            dns.resolv_conf()
                .starts_with("search shop.svc.cluster.local ")
        );
    }

    #[test]
    fn hosts_name_the_fqdn_and_the_aliases_as_the_kubelet_writes_them() {
        let s = spec(
            serde_json::json!({"containers": [], "hostname": "db-0", "subdomain": "db",
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]},
                            {"ip": "fd00::1", "hostnames": ["foo.local"]}]}),
        );
        let hosts = super::hosts(&s, "shop");
        assert_eq!(
            hosts.file(Some("10.88.0.5"), "db-0"),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.88.0.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\nfd00::1\tfoo.local\n"
        );
        let own: std::net::IpAddr = "10.88.0.5".parse().expect("ip");
        let found = |name| {
            hosts
                .lookup(name, "db-0", own)
                .map(|ips| ips.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(
            found("db-0.db.shop.svc.cluster.local"),
            Some(vec!["10.88.0.5".into()])
        );
        assert_eq!(found("db-1.db.shop.svc.cluster.local"), None);
        assert_eq!(
            found("foo.local"),
            Some(vec!["10.1.2.3".into(), "fd00::1".into()])
        );
        assert_eq!(found("bar.local"), Some(vec!["10.1.2.3".into()]));
        // Without a subdomain: the hostname alone, and no alias section.
        let plain = super::hosts(&spec(serde_json::json!({"containers": []})), "shop");
        assert!(
            plain
                .file(None, "web")
                .ends_with("fe00::2\tip6-allrouters\n127.0.1.1\tweb\n")
        );
    }

    #[test]
    fn none_is_only_dns_config() {
        let s = spec(serde_json::json!({"containers": [], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["192.0.2.1"]}}));
        let dns = config(&s, "default");
        assert_eq!(dns.servers, ["192.0.2.1"]);
        assert!(dns.searches.is_empty());
        assert_eq!(dns.resolv_conf(), "nameserver 192.0.2.1\n");
    }
}
