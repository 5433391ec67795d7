//! ip-name-lookup inside a pod: `localhost`, the pod's own name and hostname, its /etc/hosts
//! entries (its FQDN under a subdomain, `hostAliases`), the cluster DNS
//! names of Services and pods (through the pod's search path), the other pods of the run by
//! name, and IP literals. Nothing reaches a real resolver.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

use super::{NetView, Network, SocketResult, err, ip_v4};
use crate::net::bindings::wasi::sockets::ip_name_lookup::{Host, HostResolveAddressStream};
use crate::net::bindings::wasi::sockets::network::{ErrorCode, IpAddress};
use crate::net::services::DNS_IP;

pub struct ResolveAddressStream(VecDeque<IpAddress>);

#[async_trait::async_trait]
impl Pollable for ResolveAddressStream {
    async fn ready(&mut self) {}
}

impl super::NetCtx {
    /// The addresses `name` has from inside this pod, in the order a guest's lookup sees them.
    pub fn resolve(&self, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if let Ok(ip) = name
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            return Some(vec![ip]);
        }
        let netns = &self.netns;
        if name == "localhost" || name.ends_with(".localhost") {
            return Some(vec![Ipv4Addr::LOCALHOST.into()]);
        }
        if name == netns.pod || name == netns.hostname {
            return Some(vec![netns.ip.into()]);
        }
        // /etc/hosts first, as `hosts: files dns` in nsswitch.conf has it.
        if let Some(ips) = netns.hosts.lookup(&name, &netns.hostname, netns.ip.into()) {
            return Some(ips);
        }
        let cluster = netns.cluster()?;
        let dns = &netns.dns;
        if dns.servers.iter().any(|s| *s == DNS_IP.to_string())
            && let Some(ips) = cluster.services.resolve(&name, &dns.searches, dns.ndots())
        {
            return Some(ips.into_iter().map(IpAddr::V4).collect());
        }
        cluster.resolve_pod(&name).map(|ip| vec![ip.into()])
    }
}

fn ip_address(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(v4) => ip_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    }
}

impl Host for NetView<'_> {
    fn resolve_addresses(
        &mut self,
        _network: Resource<Network>,
        name: String,
    ) -> SocketResult<Resource<ResolveAddressStream>> {
        if name.is_empty() || name.len() > 253 || name.contains(['/', ' ', '\0']) {
            return Err(err(ErrorCode::InvalidArgument));
        }
        let found = self
            .ctx
            .resolve(&name)
            .map(|ips| ips.into_iter().map(ip_address).collect::<Vec<_>>());
        self.ctx.trace.event(|| {
            format!(
                "{} lookup {name}: {}",
                self.ctx.label(),
                match &found {
                    Some(_) => "found",
                    None => "name unknown in the pod network",
                }
            )
        });
        let addrs = found.ok_or_else(|| err(ErrorCode::NameUnresolvable))?;
        Ok(self.table.push(ResolveAddressStream(addrs.into()))?)
    }
}

impl HostResolveAddressStream for NetView<'_> {
    fn resolve_next_address(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> SocketResult<Option<IpAddress>> {
        Ok(self.table.get_mut(&this)?.0.pop_front())
    }

    fn subscribe(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
