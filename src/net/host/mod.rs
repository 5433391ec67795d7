//! wasi:sockets for guests, served by the virtual pod network instead of host sockets.

mod lookup;
mod stream;
mod tcp;
mod udp;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use tokio::io::DuplexStream;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::wasi::sockets::network::{
    self, ErrorCode, IpAddress, IpSocketAddress, Ipv4SocketAddress,
};
use super::bindings::wasi::sockets::{
    instance_network, ip_name_lookup, tcp as wasi_tcp, tcp_create_socket, udp as wasi_udp,
    udp_create_socket,
};
use super::netns::{NetError, Netns};
use super::trace::Trace;

pub use lookup::ResolveAddressStream;
pub use tcp::TcpSocket;
pub use udp::{IncomingDatagramStream, OutgoingDatagramStream, UdpSocket};

/// A socket call's failure: an error code for the guest, or a trap (a host bug, a bad handle).
#[derive(Debug)]
pub enum SocketError {
    Code(ErrorCode),
    Trap(wasmtime::Error),
}

pub type SocketResult<T> = Result<T, SocketError>;

impl From<ErrorCode> for SocketError {
    fn from(code: ErrorCode) -> Self {
        SocketError::Code(code)
    }
}

impl From<wasmtime::component::ResourceTableError> for SocketError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        SocketError::Trap(e.into())
    }
}

/// The `network` resource: a capability for the pod's network; carries nothing itself.
pub struct Network;

/// What one container's sockets need: its pod's namespace and its own name.
#[derive(Clone)]
pub struct NetCtx {
    pub netns: Arc<Netns>,
    pub container: String,
    pub trace: Trace,
}

impl NetCtx {
    fn label(&self) -> String {
        self.netns.label(&self.container)
    }

    /// A TCP connection from this container to `remote` for a client wpod runs on the guest's
    /// behalf (wasi:http's outgoing requests): bound, routed and traced as a guest's own connect.
    pub fn connect_stream(&self, remote: SocketAddrV4) -> Result<DuplexStream, NetError> {
        let source = self.netns.source_for(Ipv4Addr::UNSPECIFIED, *remote.ip());
        let bound = self.netns.bind(
            super::netns::Proto::Tcp,
            SocketAddrV4::new(source, 0),
            &self.container,
        )?;
        let label = self.label();
        let local = bound.addr;
        match self.netns.connect(local, &label, remote) {
            Ok((conn, server)) => {
                self.trace
                    .event(|| format!("{label} {local} -> {remote} ({server}) connected"));
                Ok(super::pipe::duplex(conn.rx, conn.tx, bound))
            }
            Err(e) => {
                self.trace
                    .event(|| format!("{label} {local} -> {remote} failed: {e:?}"));
                Err(e)
            }
        }
    }
}

pub struct NetView<'a> {
    pub ctx: &'a NetCtx,
    pub table: &'a mut ResourceTable,
}

pub struct WpodSockets;

impl HasData for WpodSockets {
    type Data<'a> = NetView<'a>;
}

/// Links every wasi:sockets interface to the virtual network.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> NetView<'_>,
) -> wasmtime::Result<()> {
    network::add_to_linker::<T, WpodSockets>(linker, &Default::default(), view)?;
    instance_network::add_to_linker::<T, WpodSockets>(linker, view)?;
    wasi_tcp::add_to_linker::<T, WpodSockets>(linker, view)?;
    tcp_create_socket::add_to_linker::<T, WpodSockets>(linker, view)?;
    wasi_udp::add_to_linker::<T, WpodSockets>(linker, view)?;
    udp_create_socket::add_to_linker::<T, WpodSockets>(linker, view)?;
    ip_name_lookup::add_to_linker::<T, WpodSockets>(linker, view)?;
    Ok(())
}

/// An error on a socket stream, kept so `network-error-code` can tell the guest what happened.
#[derive(Debug)]
pub struct StreamFailure(pub ErrorCode);

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for StreamFailure {}

impl From<NetError> for ErrorCode {
    fn from(e: NetError) -> Self {
        match e {
            NetError::AddressInUse { .. } => ErrorCode::AddressInUse,
            NetError::AddressNotBindable => ErrorCode::AddressNotBindable,
            NetError::ConnectionRefused => ErrorCode::ConnectionRefused,
            NetError::RemoteUnreachable => ErrorCode::RemoteUnreachable,
            NetError::Down => ErrorCode::InvalidState,
        }
    }
}

fn err(code: ErrorCode) -> SocketError {
    SocketError::from(code)
}

/// Only IPv4 is routed in the pod network; an IPv6 socket is refused when it is created.
fn to_v4(addr: IpSocketAddress) -> SocketResult<SocketAddrV4> {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            Ok(SocketAddrV4::new(Ipv4Addr::new(x, y, z, w), a.port))
        }
        IpSocketAddress::Ipv6(_) => Err(err(ErrorCode::InvalidArgument)),
    }
}

fn from_v4(addr: SocketAddrV4) -> IpSocketAddress {
    let [x, y, z, w] = addr.ip().octets();
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: addr.port(),
        address: (x, y, z, w),
    })
}

fn ip_v4(ip: Ipv4Addr) -> IpAddress {
    let [x, y, z, w] = ip.octets();
    IpAddress::Ipv4((x, y, z, w))
}

impl network::Host for NetView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        match error {
            SocketError::Code(code) => Ok(code),
            SocketError::Trap(e) => Err(e),
        }
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<StreamFailure>().map(|f| f.0))
    }
}

impl network::HostNetwork for NetView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl instance_network::Host for NetView<'_> {
    fn instance_network(&mut self) -> wasmtime::Result<Resource<Network>> {
        Ok(self.table.push(Network)?)
    }
}
