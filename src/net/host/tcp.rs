//! The `tcp-socket` resource over the virtual network, with WASI's start/finish state machine.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use super::stream::{Reader, Writer};
use super::{NetView, Network, SocketResult, err, from_v4, to_v4};
use crate::net::bindings::wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress};
use crate::net::bindings::wasi::sockets::tcp::{Duration, Host, HostTcpSocket, ShutdownType};
use crate::net::bindings::wasi::sockets::tcp_create_socket;
use crate::net::netns::{Bound, Conn, Listener, NetError, Proto};
use crate::net::pipe::Pipe;

/// Linux's default somaxconn.
const DEFAULT_BACKLOG: usize = 4096;

enum State {
    Unbound,
    BindStarted,
    Bound,
    ListenStarted(Arc<Listener>),
    Listening(Arc<Listener>),
    ConnectStarted(Result<Conn, ErrorCode>),
    Connected {
        local: SocketAddrV4,
        remote: SocketAddrV4,
        rx: Arc<Pipe>,
        tx: Arc<Pipe>,
        peer: String,
    },
    Closed,
}

pub struct TcpSocket {
    state: State,
    /// The port this socket holds (explicitly bound, listening, or picked for a connect).
    bound: Option<Bound>,
    backlog: usize,
    keep_alive: bool,
    keep_alive_idle: Duration,
    keep_alive_interval: Duration,
    keep_alive_count: u32,
    hop_limit: u8,
    receive_buffer: u64,
    send_buffer: u64,
}

#[async_trait::async_trait]
impl Pollable for TcpSocket {
    async fn ready(&mut self) {
        if let State::Listening(l) | State::ListenStarted(l) = &self.state {
            l.wait().await;
        }
    }
}

impl tcp_create_socket::Host for NetView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        if family == IpAddressFamily::Ipv6 {
            // The pod network is IPv4 only (documented); a guest then falls back to IPv4.
            return Err(err(ErrorCode::NotSupported));
        }
        Ok(self.table.push(TcpSocket {
            state: State::Unbound,
            bound: None,
            backlog: DEFAULT_BACKLOG,
            keep_alive: false,
            keep_alive_idle: 7200 * 1_000_000_000,
            keep_alive_interval: 75 * 1_000_000_000,
            keep_alive_count: 9,
            hop_limit: 64,
            receive_buffer: crate::net::pipe::WINDOW as u64,
            send_buffer: crate::net::pipe::WINDOW as u64,
        })?)
    }
}

impl Host for NetView<'_> {}

fn positive(v: u64) -> SocketResult<u64> {
    if v == 0 {
        Err(err(ErrorCode::InvalidArgument))
    } else {
        Ok(v)
    }
}

impl NetView<'_> {
    pub(super) fn bind_error(&self, addr: SocketAddrV4, e: &NetError) {
        let who = self.ctx.label();
        match e {
            NetError::AddressInUse { holder } => self.ctx.trace.always(|| {
                format!(
                    "{who} bind {addr}: address already in use (held by {})",
                    self.ctx.netns.label(holder)
                )
            }),
            other => self
                .ctx
                .trace
                .event(|| format!("{who} bind {addr}: {:?}", ErrorCode::from(other.clone()))),
        }
    }
}

impl HostTcpSocket for NetView<'_> {
    fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        _network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let addr = to_v4(local_address)?;
        let netns = self.ctx.netns.clone();
        let container = self.ctx.container.clone();
        let socket = self.table.get_mut(&this)?;
        if !matches!(socket.state, State::Unbound) {
            return Err(err(ErrorCode::InvalidState));
        }
        let bound = match netns.bind(Proto::Tcp, addr, &container) {
            Ok(b) => b,
            Err(e) => {
                self.bind_error(addr, &e);
                return Err(err(e.into()));
            }
        };
        let actual = bound.addr;
        socket.bound = Some(bound);
        socket.state = State::BindStarted;
        self.ctx
            .trace
            .event(|| format!("{} bind {actual}", self.ctx.label()));
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.table.get_mut(&this)?;
        match socket.state {
            State::BindStarted => {
                socket.state = State::Bound;
                Ok(())
            }
            _ => Err(err(ErrorCode::NotInProgress)),
        }
    }

    fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        _network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let remote = to_v4(remote_address)?;
        if remote.ip().is_unspecified() || remote.port() == 0 || remote.ip().is_broadcast() {
            return Err(err(ErrorCode::InvalidArgument));
        }
        let netns = self.ctx.netns.clone();
        let label = self.ctx.label();
        let container = self.ctx.container.clone();
        let socket = self.table.get_mut(&this)?;
        match socket.state {
            State::Unbound | State::Bound => {}
            State::Listening(_) | State::ListenStarted(_) => {
                return Err(err(ErrorCode::InvalidState));
            }
            State::ConnectStarted(_) => return Err(err(ErrorCode::ConcurrencyConflict)),
            _ => return Err(err(ErrorCode::InvalidState)),
        }
        if socket.bound.is_none() {
            let source = netns.source_for(Ipv4Addr::UNSPECIFIED, *remote.ip());
            let bound = netns
                .bind(Proto::Tcp, SocketAddrV4::new(source, 0), &container)
                .map_err(|e| err(e.into()))?;
            socket.bound = Some(bound);
        }
        let local = socket
            .bound
            .as_ref()
            .map(|b| SocketAddrV4::new(netns.source_for(*b.addr.ip(), *remote.ip()), b.addr.port()))
            .ok_or_else(|| err(ErrorCode::InvalidState))?;
        let result = netns.connect(local, &label, remote);
        let trace = &self.ctx.trace;
        match &result {
            Ok((_, server)) => {
                trace.event(|| format!("{label} {local} -> {remote} ({server}) connected"))
            }
            Err(e) => trace.event(|| {
                format!(
                    "{label} {local} -> {remote} {}",
                    match e {
                        NetError::ConnectionRefused => "refused: nothing listens there".to_string(),
                        NetError::RemoteUnreachable =>
                            "unreachable: no pod has that address".to_string(),
                        other => format!("failed: {:?}", ErrorCode::from(other.clone())),
                    }
                )
            }),
        }
        socket.state = State::ConnectStarted(result.map(|(c, _)| c).map_err(ErrorCode::from));
        Ok(())
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let socket = self.table.get_mut(&this)?;
        let state = std::mem::replace(&mut socket.state, State::Closed);
        let conn = match state {
            State::ConnectStarted(Ok(conn)) => conn,
            State::ConnectStarted(Err(code)) => {
                // A failed connect leaves the socket unusable, as on Linux.
                socket.bound = None;
                return Err(err(code));
            }
            other => {
                socket.state = other;
                return Err(err(ErrorCode::NotInProgress));
            }
        };
        let (rx, tx) = (conn.rx.clone(), conn.tx.clone());
        socket.state = State::Connected {
            local: conn.local,
            remote: conn.remote,
            rx: conn.rx,
            tx: conn.tx,
            peer: conn.peer,
        };
        let input: DynInputStream = Box::new(Reader(rx));
        let output: DynOutputStream = Box::new(Writer(tx));
        let input = self.table.push_child(input, &this)?;
        let output = self.table.push_child(output, &this)?;
        Ok((input, output))
    }

    fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let netns = self.ctx.netns.clone();
        let container = self.ctx.container.clone();
        let socket = self.table.get_mut(&this)?;
        match socket.state {
            State::Bound => {}
            State::ListenStarted(_) => return Err(err(ErrorCode::ConcurrencyConflict)),
            _ => return Err(err(ErrorCode::InvalidState)),
        }
        let Some(bound) = &socket.bound else {
            return Err(err(ErrorCode::InvalidState));
        };
        // The listener takes connections from here on; finish-listen only confirms it.
        let listener = netns.listen(bound, &container, socket.backlog);
        let addr = listener.addr;
        socket.state = State::ListenStarted(listener);
        self.ctx
            .trace
            .event(|| format!("{} listen {addr}", self.ctx.label()));
        Ok(())
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.table.get_mut(&this)?;
        match std::mem::replace(&mut socket.state, State::Closed) {
            State::ListenStarted(l) => {
                socket.state = State::Listening(l);
                Ok(())
            }
            other => {
                socket.state = other;
                Err(err(ErrorCode::NotInProgress))
            }
        }
    }

    fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    )> {
        let socket = self.table.get_mut(&this)?;
        let State::Listening(listener) = &socket.state else {
            return Err(err(ErrorCode::InvalidState));
        };
        let conn = listener
            .accept()
            .ok_or_else(|| err(ErrorCode::WouldBlock))?;
        let (keep_alive, hop_limit) = (socket.keep_alive, socket.hop_limit);
        self.ctx.trace.event(|| {
            format!(
                "{} accept {} <- {} ({})",
                self.ctx.label(),
                conn.local,
                conn.remote,
                conn.peer
            )
        });
        let (rx, tx) = (conn.rx.clone(), conn.tx.clone());
        let accepted = TcpSocket {
            state: State::Connected {
                local: conn.local,
                remote: conn.remote,
                rx: conn.rx,
                tx: conn.tx,
                peer: conn.peer,
            },
            bound: None,
            backlog: DEFAULT_BACKLOG,
            keep_alive,
            keep_alive_idle: 7200 * 1_000_000_000,
            keep_alive_interval: 75 * 1_000_000_000,
            keep_alive_count: 9,
            hop_limit,
            receive_buffer: crate::net::pipe::WINDOW as u64,
            send_buffer: crate::net::pipe::WINDOW as u64,
        };
        let accepted = self.table.push(accepted)?;
        let input: DynInputStream = Box::new(Reader(rx));
        let output: DynOutputStream = Box::new(Writer(tx));
        let input = self.table.push_child(input, &accepted)?;
        let output = self.table.push_child(output, &accepted)?;
        Ok((accepted, input, output))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        let socket = self.table.get(&this)?;
        match (&socket.state, &socket.bound) {
            (State::Connected { local, .. }, _) => Ok(from_v4(*local)),
            (State::BindStarted | State::Unbound, _) | (_, None) => {
                Err(err(ErrorCode::InvalidState))
            }
            (_, Some(b)) => Ok(from_v4(b.addr)),
        }
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        match &self.table.get(&this)?.state {
            State::Connected { remote, .. } => Ok(from_v4(*remote)),
            _ => Err(err(ErrorCode::InvalidState)),
        }
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(matches!(self.table.get(&this)?.state, State::Listening(_)))
    }

    fn address_family(&mut self, _this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(IpAddressFamily::Ipv4)
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        let value = positive(value)?;
        let socket = self.table.get_mut(&this)?;
        socket.backlog = usize::try_from(value)
            .unwrap_or(usize::MAX)
            .min(DEFAULT_BACKLOG);
        if let State::Listening(l) = &socket.state {
            l.set_backlog(socket.backlog);
        }
        Ok(())
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        Ok(self.table.get(&this)?.keep_alive)
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.keep_alive = value;
        Ok(())
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(self.table.get(&this)?.keep_alive_idle)
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: Duration,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.keep_alive_idle = positive(value)?;
        Ok(())
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(self.table.get(&this)?.keep_alive_interval)
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: Duration,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.keep_alive_interval = positive(value)?;
        Ok(())
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        Ok(self.table.get(&this)?.keep_alive_count)
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        self.table.get_mut(&this)?.keep_alive_count = positive(value.into())? as u32;
        Ok(())
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        Ok(self.table.get(&this)?.hop_limit)
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        self.table.get_mut(&this)?.hop_limit = positive(value.into())? as u8;
        Ok(())
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.receive_buffer)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.table.get_mut(&this)?.receive_buffer = positive(value)?;
        Ok(())
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.table.get(&this)?.send_buffer)
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        self.table.get_mut(&this)?.send_buffer = positive(value)?;
        Ok(())
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, how: ShutdownType) -> SocketResult<()> {
        let socket = self.table.get(&this)?;
        let State::Connected {
            rx,
            tx,
            local,
            remote,
            ..
        } = &socket.state
        else {
            return Err(err(ErrorCode::InvalidState));
        };
        if matches!(how, ShutdownType::Receive | ShutdownType::Both) {
            rx.close_read();
        }
        if matches!(how, ShutdownType::Send | ShutdownType::Both) {
            tx.close_write();
        }
        let (local, remote) = (*local, *remote);
        let what = match how {
            ShutdownType::Receive => "shutdown read",
            ShutdownType::Send => "shutdown write (FIN)",
            ShutdownType::Both => "shutdown read and write",
        };
        self.ctx
            .trace
            .event(|| format!("{} {local} -> {remote} {what}", self.ctx.label()));
        Ok(())
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        let socket = self.table.delete(this)?;
        let label = self.ctx.label();
        match &socket.state {
            State::Connected {
                local,
                remote,
                rx,
                tx,
                peer,
            } => {
                rx.close_read();
                tx.close_write();
                self.ctx
                    .trace
                    .event(|| format!("{label} {local} -> {remote} ({peer}) closed"));
            }
            State::Listening(l) => {
                let addr = l.addr;
                self.ctx
                    .trace
                    .event(|| format!("{label} listen {addr} closed"));
            }
            _ => {}
        }
        Ok(())
    }
}
