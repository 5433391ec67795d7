//! `pods/{name}/portforward`: connections to ports on the pod's localhost, as the kubelet makes
//! them, over the three transports clients use:
//! - kubectl 1.32: SPDY/3.1 tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`), or, when
//!   that upgrade fails, SPDY/3.1 over the raw connection (`Upgrade: SPDY/3.1`). Each local
//!   connection is a pair of streams (`error`, `data`) with `port` and `requestid` headers.
//! - the Python client: WebSocket channels (`v4.channel.k8s.io`); port i of `?ports=` has data
//!   channel 2i and error channel 2i+1, each opened with the port as two little-endian bytes.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::spdy::{self, Frame};
use super::status::{self, Body};
use super::websocket::{self, Socket};
use super::{Api, Call};
use crate::node::Node;

const SPDY_PROTOCOL: &str = "portforward.k8s.io";
const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
const CHANNELS: &str = "v4.channel.k8s.io";
/// What one read from the pod sends at most (kubectl's own chunks are 32 KiB).
const CHUNK: usize = 32 * 1024;

/// Who the connections go to, for the tasks that make them.
#[derive(Clone)]
struct Target {
    node: Arc<Node>,
    namespace: String,
    name: String,
    uid: String,
}

impl Target {
    /// The kubelet's words for a port it could not reach.
    fn failure(&self, port: u16, why: &str) -> String {
        format!(
            "error forwarding port {port} to pod {}, uid {}: {why}",
            self.name, self.uid
        )
    }
}

pub async fn serve(
    api: &Api,
    call: &Call,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let Some(pod) = api.store.get(&super::objects::key("pods", ns, name)) else {
        return status::not_found("pods", name);
    };
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if phase != Some("Running") {
        return status::bad_request(&format!(
            "unable to forward port because pod is not running. Current status={}",
            phase.unwrap_or("Unknown")
        ));
    }
    let target = Target {
        node: Arc::clone(&api.node),
        namespace: ns.to_string(),
        name: name.to_string(),
        uid: pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    if websocket::wanted(&req) {
        let offered = websocket::offered(&req);
        if offered.iter().any(|p| p == TUNNEL) {
            let (response, socket) = match websocket::accept(&mut req, TUNNEL) {
                Ok(a) => a,
                Err(r) => return *r,
            };
            tokio::spawn(async move {
                if let Some(socket) = socket.await {
                    let (sink, stream) = socket.split();
                    spdy_session(ws_reader(stream), FrameOut::WebSocket(sink), target).await;
                }
            });
            return response;
        }
        if offered.iter().any(|p| p == CHANNELS) {
            let ports = match ports(call) {
                Ok(p) => p,
                Err(why) => return status::bad_request(&why),
            };
            let (response, socket) = match websocket::accept(&mut req, CHANNELS) {
                Ok(a) => a,
                Err(r) => return *r,
            };
            tokio::spawn(async move {
                if let Some(socket) = socket.await {
                    channel_session(socket, ports, target).await;
                }
            });
            return response;
        }
        return status::bad_request(&format!(
            "none of the offered subprotocols {offered:?} is supported (wpod speaks {TUNNEL}, {CHANNELS})"
        ));
    }
    let protocol = match spdy::negotiate(&req, &[SPDY_PROTOCOL]) {
        Some(Ok(protocol)) => protocol,
        Some(Err(refused)) => return refused,
        None => {
            return status::bad_request(
                "port forwarding needs an upgrade to WebSocket or SPDY/3.1",
            );
        }
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let (read, write) = tokio::io::split(TokioIo::new(upgraded));
            spdy_session(read, FrameOut::Raw(Box::new(write)), target).await;
        }
    });
    spdy::switching(protocol)
}

/// `?ports=` (repeated and/or comma-separated), as the kubelet reads it.
fn ports(call: &Call) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (_, v) in call.query.iter().filter(|(k, _)| k == "ports") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return Err(format!(
                        "invalid port {p:?}: a port is a number from 1 to 65535"
                    ));
                }
            }
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"ports\" is required".into());
    }
    // Each port takes two channels, and a channel is one byte.
    if ports.len() > 128 {
        return Err(format!(
            "{} ports asked for: at most 128 fit one connection (two one-byte channels each)",
            ports.len()
        ));
    }
    Ok(ports)
}

/// Where SPDY frames go: the raw connection, or one binary WebSocket message each (so that a
/// header block is never split).
enum FrameOut {
    Raw(Box<dyn AsyncWrite + Send + Unpin>),
    WebSocket(SplitSink<Socket, Message>),
}

impl FrameOut {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        match self {
            FrameOut::Raw(w) => w.write_all(&frame).await.is_ok() && w.flush().await.is_ok(),
            FrameOut::WebSocket(s) => s.send(Message::binary(frame)).await.is_ok(),
        }
    }

    async fn close(&mut self) {
        match self {
            FrameOut::Raw(w) => {
                let _ = w.shutdown().await;
            }
            FrameOut::WebSocket(s) => {
                let _ = s.send(normal_close()).await;
            }
        }
    }
}

fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// The tunnel's SPDY bytes: binary messages are one byte stream (their boundaries mean nothing).
fn ws_reader(
    mut stream: futures_util::stream::SplitStream<Socket>,
) -> tokio::io::ReadHalf<tokio::io::DuplexStream> {
    let (near, mut far) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Binary(b) if far.write_all(&b).await.is_err() => return,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = far.shutdown().await;
    });
    tokio::io::split(near).0
}

/// What the client sends on a data stream.
enum Inbound {
    Data(Vec<u8>),
    /// Its half-close (FIN).
    Fin,
}

/// Both streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
}

/// One SPDY connection: streams come in pairs, each pair one connection to a port of the pod.
async fn spdy_session(mut input: impl AsyncRead + Unpin, mut out: FrameOut, target: Target) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if !out.send(frame).await {
                return;
            }
        }
        out.close().await;
    });
    let mut headers = spdy::Headers::new();
    let mut replies = spdy::Replies::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut inbound: HashMap<u32, mpsc::Sender<Inbound>> = HashMap::new();
    while let Ok(Some(frame)) = spdy::read_frame(&mut input).await {
        match frame {
            Frame::Control {
                kind: spdy::SYN_STREAM,
                payload,
                ..
            } => {
                let Ok((id, hdrs)) = spdy::syn_stream(&payload, &mut headers) else {
                    break;
                };
                let get = |n: &str| hdrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
                let port = get("port")
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|&p| p > 0);
                let (Some(port), Some(kind @ ("error" | "data"))) = (port, get("streamtype"))
                else {
                    let _ = tx.send(spdy::rst_stream(id, spdy::CANCEL)).await;
                    continue;
                };
                // Without a requestid (old clients) the ids pair up: error n, data n + 2.
                let request = get("requestid").map(str::to_string).unwrap_or_else(|| {
                    if kind == "error" {
                        id
                    } else {
                        id.saturating_sub(2)
                    }
                    .to_string()
                });
                if tx.send(replies.syn_reply(id)).await.is_err() {
                    break;
                }
                let pair = pairs.entry(request.clone()).or_default();
                let slot = if kind == "error" {
                    &mut pair.error
                } else {
                    &mut pair.data
                };
                if slot.replace(id).is_some() {
                    let _ = tx.send(spdy::rst_stream(id, spdy::PROTOCOL_ERROR)).await;
                    continue;
                }
                if let (Some(error), Some(data)) = (pair.error, pair.data) {
                    pairs.remove(&request);
                    let (in_tx, in_rx) = mpsc::channel(16);
                    inbound.insert(data, in_tx);
                    let ends = (error, data);
                    tokio::spawn(forward(target.clone(), port, ends, in_rx, tx.clone()));
                }
            }
            Frame::Control {
                kind: spdy::RST_STREAM,
                payload,
                ..
            } => {
                // Dropping the sender ends the forwarding without a FIN: the connection goes.
                if let Some(id) = spdy::first_word(&payload) {
                    inbound.remove(&id);
                }
            }
            Frame::Control {
                kind: spdy::PING,
                payload,
                ..
            } => {
                // Only the client's own (odd) pings are echoed; an even one would be a reply.
                if let Some(id) = spdy::first_word(&payload).filter(|id| id % 2 == 1) {
                    let _ = tx.send(spdy::ping(id)).await;
                }
            }
            Frame::Control {
                kind: spdy::GOAWAY, ..
            } => break,
            Frame::Control { .. } => {}
            Frame::Data {
                stream,
                flags,
                payload,
            } => {
                let Some(sender) = inbound.get(&stream) else {
                    continue;
                };
                if !payload.is_empty() && sender.send(Inbound::Data(payload)).await.is_err() {
                    inbound.remove(&stream);
                    continue;
                }
                if flags & spdy::FLAG_FIN != 0
                    && let Some(sender) = inbound.remove(&stream)
                {
                    let _ = sender.send(Inbound::Fin).await;
                }
            }
        }
    }
    drop(inbound);
    drop(tx);
    let _ = writer.await;
}

/// One forwarded connection: the pod's port to the data stream and back; failures as text on
/// the error stream; both streams end with FIN.
async fn forward(
    target: Target,
    port: u16,
    (error, data): (u32, u32),
    mut inbound: mpsc::Receiver<Inbound>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let conn = target
        .node
        .port_forward(&target.namespace, &target.name, port)
        .await;
    match conn {
        Err(e) => {
            let text = target.failure(port, &e.to_string());
            let _ = out.send(spdy::data(error, 0, text.as_bytes())).await;
        }
        Ok(conn) => {
            let (mut from_pod, mut to_pod) = tokio::io::split(conn);
            let up = async {
                while let Some(m) = inbound.recv().await {
                    match m {
                        Inbound::Data(b) => {
                            if to_pod.write_all(&b).await.is_err() {
                                return false;
                            }
                        }
                        Inbound::Fin => {
                            let _ = to_pod.shutdown().await;
                            return true;
                        }
                    }
                }
                // A reset (or the whole connection gone): stop at once.
                false
            };
            let down = async {
                let mut buf = vec![0u8; CHUNK];
                while let Ok(n @ 1..) = from_pod.read(&mut buf).await {
                    if out.send(spdy::data(data, 0, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            };
            tokio::pin!(down);
            tokio::select! {
                half_closed = up => if half_closed { down.await },
                () = &mut down => {}
            }
        }
    }
    let _ = out.send(spdy::data(data, spdy::FLAG_FIN, &[])).await;
    let _ = out.send(spdy::data(error, spdy::FLAG_FIN, &[])).await;
}

/// The Python client's protocol: one connection per port for the life of the WebSocket.
async fn channel_session(socket: Socket, ports: Vec<u16>, target: Target) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(normal_close()).await;
    });
    let frame = |channel: usize, data: &[u8]| {
        let mut f = vec![channel as u8];
        f.extend_from_slice(data);
        Message::binary(f)
    };
    // Every channel opens with its port, before anything else.
    for (i, port) in ports.iter().enumerate() {
        for channel in [2 * i, 2 * i + 1] {
            let _ = tx.send(frame(channel, &port.to_le_bytes())).await;
        }
    }
    let mut inbound = Vec::new();
    let mut forwards = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let (in_tx, mut in_rx) = mpsc::channel::<Vec<u8>>(16);
        inbound.push(in_tx);
        let (tx, target) = (tx.clone(), target.clone());
        forwards.push(tokio::spawn(async move {
            let conn = target
                .node
                .port_forward(&target.namespace, &target.name, port)
                .await;
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    let text = target.failure(port, &e.to_string());
                    let _ = tx.send(frame(2 * i + 1, text.as_bytes())).await;
                    return;
                }
            };
            let (mut from_pod, mut to_pod) = tokio::io::split(conn);
            let up = async {
                while let Some(b) = in_rx.recv().await {
                    if to_pod.write_all(&b).await.is_err() {
                        break;
                    }
                }
                let _ = to_pod.shutdown().await;
            };
            let down = async {
                let mut buf = vec![0u8; CHUNK];
                while let Ok(n @ 1..) = from_pod.read(&mut buf).await {
                    if tx.send(frame(2 * i, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            };
            tokio::pin!(up);
            tokio::select! {
                () = &mut up => {}
                () = down => {}
            }
        }));
    }
    drop(tx);
    let aborts: Vec<_> = forwards.iter().map(|f| f.abort_handle()).collect();
    let reader = async {
        while let Some(Ok(message)) = stream.next().await {
            let data = match message {
                Message::Binary(b) => b.to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, data)) = data.split_first() else {
                continue;
            };
            let channel = usize::from(channel);
            if channel % 2 == 0
                && let Some(sender) = inbound.get(channel / 2)
            {
                let _ = sender.send(data.to_vec()).await;
            }
        }
        inbound.clear();
    };
    let all_done = async {
        for f in forwards {
            let _ = f.await;
        }
    };
    // The WebSocket closes when every port's connection has ended or the client went away.
    tokio::select! {
        () = reader => {}
        () = all_done => {}
    }
    for a in aborts {
        a.abort();
    }
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(query: &[(&str, &str)]) -> Call {
        Call {
            method: hyper::Method::GET,
            path: Vec::new(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            accept: None,
            content_type: None,
            body: bytes::Bytes::new(),
        }
    }

    #[test]
    fn ports_are_read_as_the_kubelet_reads_them() {
        assert_eq!(
            ports(&call(&[("ports", "80,81"), ("ports", "8080")])),
            Ok(vec![80, 81, 8080])
        );
        assert!(ports(&call(&[])).is_err());
        assert!(ports(&call(&[("ports", "0")])).is_err());
        assert!(ports(&call(&[("ports", "70000")])).is_err());
        let many: Vec<String> = (1..=129).map(|p| p.to_string()).collect();
        assert!(ports(&call(&[("ports", &many.join(","))])).is_err());
    }
}
