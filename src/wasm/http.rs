//! wasi:http components as containers, run as `wasmtime serve` runs them. A component that
//! exports `wasi:http/incoming-handler` is served when its container declares a TCP
//! `containerPort` (chosen by what the manifest says, never guessed): HTTP/1.1 on each such port
//! of the pod network (the machine's, for a hostNetwork pod), every request handled by a fresh
//! instance of the component. TERM closes the listeners and lets the requests in flight finish
//! (a drain), then the container exits 0; the grace period's KILL ends whatever is left.
//!
//! The component's own outgoing requests (`wasi:http/outgoing-handler`) go through the pod
//! network as its sockets would: Service names, ClusterIPs and pods resolve, nothing else does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::engine::Host;
use super::process::signals::{Disposition, SIGINT, SIGTERM};
use super::process::table::Process;
use crate::net::host::NetCtx;
use crate::net::netns::{NetError, Proto};
use crate::runtime::{LogSink, Stream};

/// Connections waiting to be served per port, as nginx's default `listen ... backlog` (511).
const BACKLOG: usize = 511;
/// What an outgoing request waits for a connection or a first byte when the guest sets no
/// timeout: the default of wasmtime's own client.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A Store for one request: the container's environment, files, limits and logs.
pub type NewStore = Arc<dyn Fn() -> anyhow::Result<Store<Host>> + Send + Sync>;

/// Where a server listens and whose sockets carry it.
pub struct Serving {
    pub ports: Vec<u16>,
    pub net: NetCtx,
    pub host_network: bool,
    /// The container's name and log, for the errors of requests that failed.
    pub name: String,
    pub log: Arc<dyn LogSink>,
}

/// Serves `pre` until TERM (or INT) arrives and the requests in flight are done: the exit code.
/// A port that cannot be bound fails the start, as a server's own `bind` would.
pub async fn serve(
    pre: ProxyPre<Host>,
    serving: Serving,
    process: Arc<Process>,
    new_store: NewStore,
) -> anyhow::Result<i32> {
    for sig in [SIGTERM, SIGINT] {
        process.signals.set(sig, Disposition::Catch);
    }
    let mut listeners = JoinSet::new();
    let (conns_tx, mut conns) = tokio::sync::mpsc::channel::<Box<dyn Io>>(BACKLOG);
    for &port in &serving.ports {
        let accepted = conns_tx.clone();
        if serving.host_network {
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("serving wasi:http on {addr}: {e}"))?;
            listeners.spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    if accepted.send(Box::new(stream)).await.is_err() {
                        break;
                    }
                }
            });
        } else {
            let netns = serving.net.netns.clone();
            let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            let bound = netns
                .bind(Proto::Tcp, addr, &serving.net.container)
                .map_err(|e| match e {
                    NetError::AddressInUse { holder } => anyhow::anyhow!(
                        "serving wasi:http on port {port}: the port is in use by {holder}"
                    ),
                    other => anyhow::anyhow!("serving wasi:http on port {port}: {other:?}"),
                })?;
            let listener = netns.listen(&bound, &serving.net.container, BACKLOG);
            let label = netns.label(&serving.net.container);
            serving
                .net
                .trace
                .event(|| format!("{label} listening on {addr} (wasi:http)"));
            let trace = serving.net.trace.clone();
            listeners.spawn(async move {
                // The port is held as long as this task runs.
                let _bound = bound;
                loop {
                    listener.wait().await;
                    let Some(conn) = listener.accept() else {
                        // Closed: the pod's network is going away.
                        break;
                    };
                    trace.event(|| {
                        format!(
                            "{label} {} <- {} ({}) accepted",
                            conn.local, conn.remote, conn.peer
                        )
                    });
                    let stream = crate::net::pipe::duplex(conn.rx, conn.tx, ());
                    if accepted.send(Box::new(stream)).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
    drop(conns_tx);

    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let serving = Arc::new(serving);
    loop {
        tokio::select! {
            conn = conns.recv() => {
                let Some(io) = conn else { break };
                let (pre, new_store, serving) = (pre.clone(), new_store.clone(), serving.clone());
                let service = hyper::service::service_fn(move |req| {
                    handle(pre.clone(), new_store.clone(), serving.clone(), req)
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(io), service);
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    let _ = conn.await;
                });
            }
            () = process.signals.wait() => {
                process.signals.take();
                break;
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // The drain: no new connections; each open one ends after the response it is sending.
    listeners.abort_all();
    drop(conns);
    graceful.shutdown().await;
    while connections.join_next().await.is_some() {}
    Ok(0)
}

/// A byte stream hyper serves: a virtual connection of the pod network or a host socket.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// One request: a fresh instance's `handle`, as `wasmtime serve` calls it. Its response is
/// sent as soon as the guest sets it; the instance runs on while it writes the body.
async fn handle(
    pre: ProxyPre<Host>,
    new_store: NewStore,
    serving: Arc<Serving>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, std::convert::Infallible> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut store = new_store()?;
        let req = req.map(|body| body.map_err(HttpError::from).boxed_unsync());
        let req = store
            .data_mut()
            .http_view()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http_view().new_response_outparam(sender)?;
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await?;
        anyhow::Ok(())
    });
    let failure = match receiver.await {
        Ok(Ok(response)) => return Ok(response),
        Ok(Err(code)) => format!("the component answered with an error: {code:?}"),
        // The guest returned (or trapped) without setting a response.
        Err(_) => match task.await {
            Ok(Ok(())) => "the component returned without setting a response".to_string(),
            Ok(Err(e)) => format!("the component failed: {e:#}"),
            Err(e) => format!("the component's task ended: {e}"),
        },
    };
    serving
        .log
        .line(&serving.name, Stream::Stderr, &format!("wpod: {failure}"));
    Ok(error_response(&failure))
}

fn error_response(message: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = http_body_util::Full::new(bytes::Bytes::from(format!("{message}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// How a component's outgoing requests leave: through the pod network, or the machine's for a
/// hostNetwork pod. Plain HTTP only.
pub struct Outgoing {
    pub net: Option<NetCtx>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    hyper::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let net = self.net.clone();
        Box::new(async move {
            let (response, io) = send(net, request, options).await?;
            Ok((
                response,
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

async fn send(
    net: Option<NetCtx>,
    mut req: hyper::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<
    (
        hyper::Response<WasiBody>,
        impl Future<Output = Result<(), HttpError>> + Send,
    ),
    HttpError,
> {
    let uri = req.uri().clone();
    if uri.scheme() == Some(&hyper::http::uri::Scheme::HTTPS) {
        return Err(HttpError::InternalError(Some(
            "wpod: a wasi:http component's outgoing requests are plain HTTP; https is not supported"
                .into(),
        )));
    }
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let port = authority.port_u16().unwrap_or(80);
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let io: Box<dyn Io> = match net {
        None => {
            let connect = tokio::net::TcpStream::connect((authority.host(), port));
            let stream = tokio::time::timeout(connect_timeout, connect)
                .await
                .map_err(|_| HttpError::ConnectionTimeout)?
                .map_err(HttpError::Connect)?;
            Box::new(stream)
        }
        Some(net) => {
            let ip = net
                .resolve(authority.host())
                .into_iter()
                .flatten()
                .find_map(|ip| match ip {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .ok_or(HttpError::DnsError {
                    rcode: Some("NXDOMAIN".into()),
                    info_code: None,
                })?;
            let stream = net
                .connect_stream(SocketAddrV4::new(ip, port))
                .map_err(|e| match e {
                    NetError::ConnectionRefused => HttpError::ConnectionRefused,
                    NetError::RemoteUnreachable => HttpError::DestinationUnavailable,
                    other => HttpError::InternalError(Some(format!("{other:?}"))),
                })?;
            Box::new(stream)
        }
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    let driver = tokio::spawn(conn);
    // The request line names the path only; the authority is in the Host header.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *req.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(HttpError::from).boxed_unsync());
    Ok((response, async move {
        match driver.await {
            Ok(result) => result.map_err(HttpError::from),
            Err(_) => Ok(()),
        }
    }))
}
