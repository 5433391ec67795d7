//! The `udp-socket` resource and its datagram streams over the virtual network.

use std::net::SocketAddrV4;
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

use super::{NetView, Network, SocketResult, err, from_v4, to_v4};
use crate::net::bindings::wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress};
use crate::net::bindings::wasi::sockets::udp::{
    Host, HostIncomingDatagramStream, HostOutgoingDatagramStream, HostUdpSocket, IncomingDatagram,
    OutgoingDatagram,
};
use crate::net::bindings::wasi::sockets::udp_create_socket;
use crate::net::netns::{Bound, Netns, Proto, UdpEndpoint};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65507;
/// Datagrams one `check-send` permits.
const SEND_PERMIT: u64 = 64;

pub struct UdpSocket {
    bound: Option<Bound>,
    bind_pending: bool,
    endpoint: Option<Arc<UdpEndpoint>>,
    remote: Option<SocketAddrV4>,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
}

pub struct IncomingDatagramStream {
    endpoint: Arc<UdpEndpoint>,
    remote: Option<SocketAddrV4>,
}

pub struct OutgoingDatagramStream {
    netns: Arc<Netns>,
    local: SocketAddrV4,
    remote: Option<SocketAddrV4>,
}

#[async_trait::async_trait]
impl Pollable for UdpSocket {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl Pollable for IncomingDatagramStream {
    async fn ready(&mut self) {
        self.endpoint.wait().await;
    }
}

#[async_trait::async_trait]
impl Pollable for OutgoingDatagramStream {
    async fn ready(&mut self) {}
}

impl udp_create_socket::Host for NetView<'_> {
    fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        if family == IpAddressFamily::Ipv6 {
            return Err(err(ErrorCode::NotSupported));
        }
        Ok(self.table.push(UdpSocket {
            bound: None,
            bind_pending: false,
            endpoint: None,
            remote: None,
            hop_limit: 64,
            receive_buffer: 212_992,
            send_buffer: 212_992,
        })?)
    }
}

impl Host for NetView<'_> {}

impl HostUdpSocket for NetView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<UdpSocket>,
        _network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let addr = to_v4(local_address)?;
        let netns = self.ctx.netns.clone();
        let container = self.ctx.container.clone();
        let socket = self.table.get_mut(&this)?;
        if socket.bound.is_some() {
            return Err(err(ErrorCode::InvalidState));
        }
        let bound = match netns.bind(Proto::Udp, addr, &container) {
            Ok(b) => b,
            Err(e) => {
                self.bind_error(addr, &e);
                return Err(err(e.into()));
            }
        };
        socket.endpoint = Some(netns.udp_endpoint(&bound));
        let actual = bound.addr;
        socket.bound = Some(bound);
        socket.bind_pending = true;
        self.ctx
            .trace
            .event(|| format!("{} bind udp {actual}", self.ctx.label()));
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        let socket = self.table.get_mut(&this)?;
        if !socket.bind_pending {
            return Err(err(ErrorCode::NotInProgress));
        }
        socket.bind_pending = false;
        Ok(())
    }

    fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(
        Resource<IncomingDatagramStream>,
        Resource<OutgoingDatagramStream>,
    )> {
        let remote = remote_address.map(to_v4).transpose()?;
        if remote.is_some_and(|r| r.ip().is_unspecified() || r.port() == 0) {
            return Err(err(ErrorCode::InvalidArgument));
        }
        let netns = self.ctx.netns.clone();
        let socket = self.table.get_mut(&this)?;
        let (Some(bound), Some(endpoint)) = (&socket.bound, &socket.endpoint) else {
            return Err(err(ErrorCode::InvalidState));
        };
        let local = bound.addr;
        let endpoint = endpoint.clone();
        socket.remote = remote;
        let incoming = IncomingDatagramStream { endpoint, remote };
        let outgoing = OutgoingDatagramStream {
            netns,
            local,
            remote,
        };
        let incoming = self.table.push_child(incoming, &this)?;
        let outgoing = self.table.push_child(outgoing, &this)?;
        Ok((incoming, outgoing))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        match &self.table.get(&this)?.bound {
            Some(b) => Ok(from_v4(b.addr)),
            None => Err(err(ErrorCode::InvalidState)),
        }
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        match self.table.get(&this)?.remote {
            Some(r) => Ok(from_v4(r)),
            None => Err(err(ErrorCode::InvalidState)),
        }
    }

    fn address_family(&mut self, _this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(IpAddressFamily::Ipv4)
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        Ok(self.table.get(&this)?.hop_limit)
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        if value == 0 {
            return Err(err(ErrorCode::InvalidArgument));
        }
        self.table.get_mut(&this)?.hop_limit = value;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.receive_buffer)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<UdpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        if value == 0 {
            return Err(err(ErrorCode::InvalidArgument));
        }
        self.table.get_mut(&this)?.receive_buffer = value;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        if value == 0 {
            return Err(err(ErrorCode::InvalidArgument));
        }
        self.table.get_mut(&this)?.send_buffer = value;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        let socket = self.table.delete(this)?;
        if let Some(b) = &socket.bound {
            let addr = b.addr;
            self.ctx
                .trace
                .event(|| format!("{} udp {addr} closed", self.ctx.label()));
        }
        Ok(())
    }
}

impl HostIncomingDatagramStream for NetView<'_> {
    fn receive(
        &mut self,
        this: Resource<IncomingDatagramStream>,
        max_results: u64,
    ) -> SocketResult<Vec<IncomingDatagram>> {
        let stream = self.table.get(&this)?;
        let max = usize::try_from(max_results).unwrap_or(usize::MAX);
        Ok(stream
            .endpoint
            .receive(max)
            .into_iter()
            // A connected socket only hears from its peer, as after connect(2).
            .filter(|(_, from)| stream.remote.is_none_or(|r| r == *from))
            .map(|(data, from)| IncomingDatagram {
                data: data.to_vec(),
                remote_address: from_v4(from),
            })
            .collect())
    }

    fn subscribe(
        &mut self,
        this: Resource<IncomingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<IncomingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HostOutgoingDatagramStream for NetView<'_> {
    fn check_send(&mut self, this: Resource<OutgoingDatagramStream>) -> SocketResult<u64> {
        self.table.get(&this)?;
        Ok(SEND_PERMIT)
    }

    fn send(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
        datagrams: Vec<OutgoingDatagram>,
    ) -> SocketResult<u64> {
        let stream = self.table.get(&this)?;
        let mut sent = 0;
        for d in datagrams {
            let to = match (d.remote_address.map(to_v4).transpose()?, stream.remote) {
                (Some(to), Some(connected)) if to != connected => {
                    return if sent == 0 {
                        Err(err(ErrorCode::InvalidArgument))
                    } else {
                        Ok(sent)
                    };
                }
                (Some(to), _) | (None, Some(to)) => to,
                (None, None) => {
                    return if sent == 0 {
                        Err(err(ErrorCode::InvalidArgument))
                    } else {
                        Ok(sent)
                    };
                }
            };
            if d.data.len() > MAX_DATAGRAM {
                return if sent == 0 {
                    Err(err(ErrorCode::DatagramTooLarge))
                } else {
                    Ok(sent)
                };
            }
            let from = SocketAddrV4::new(
                stream.netns.source_for(*stream.local.ip(), *to.ip()),
                stream.local.port(),
            );
            if let Err(e) = stream.netns.send_udp(from, to, d.data.into()) {
                return if sent == 0 {
                    Err(err(e.into()))
                } else {
                    Ok(sent)
                };
            }
            sent += 1;
        }
        Ok(sent)
    }

    fn subscribe(
        &mut self,
        this: Resource<OutgoingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn drop(&mut self, this: Resource<OutgoingDatagramStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
