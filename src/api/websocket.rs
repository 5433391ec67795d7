//! The WebSocket upgrade of the streaming subresources (exec, attach, portforward), as the
//! apiserver offers it: RFC 6455 over the request's own connection, with a subprotocol that the
//! client offers and wpod speaks.

use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::status::{self, Body};

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
/// The socket, once the client has the 101 (None when the connection went away first).
pub type Pending = std::pin::Pin<Box<dyn Future<Output = Option<Socket>> + Send>>;

/// The largest message wpod takes from a client (the Python client sends up to 1 MiB).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Whether the request asks for a WebSocket.
pub fn wanted(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The subprotocols the client offers, in its order of preference.
pub fn offered(req: &Request<Incoming>) -> Vec<String> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Answers the upgrade with `protocol`, and the socket to come.
pub fn accept(
    req: &mut Request<Incoming>,
    protocol: &str,
) -> Result<(Response<Body>, Pending), Box<Response<Body>>> {
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
        .ok_or_else(|| {
            Box::new(status::bad_request(
                "a WebSocket upgrade needs Sec-WebSocket-Key",
            ))
        })?;
    let protocol = HeaderValue::from_str(protocol).map_err(|_| {
        Box::new(status::bad_request(
            "the subprotocol is not a valid header value",
        ))
    })?;
    let upgrade = hyper::upgrade::on(req);
    let mut response = Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(key) = HeaderValue::from_str(&key) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, key);
    }
    h.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    let socket = async move {
        let upgraded = upgrade.await.ok()?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        Some(
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await,
        )
    };
    Ok((response, Box::pin(socket)))
}
