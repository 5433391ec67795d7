//! exec and attach over SPDY/3.1, where a client falls back to it (kubectl with
//! `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`, or when the WebSocket upgrade fails): the client
//! opens one stream per channel (`streamtype` error, stdin, stdout, stderr, resize) and the
//! protocol is `v4.channel.k8s.io`, the same status JSON on the error stream as over WebSocket.

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

use super::spdy::{self, Frame};
use super::status::Body;
use crate::runtime::{ExecSession, TermSize};

/// The channel protocols wpod speaks over SPDY, in its order of preference.
const PROTOCOLS: [&str; 1] = ["v4.channel.k8s.io"];
/// The kubelet waits this long for a client's streams.
const STREAMS_TIMEOUT: Duration = Duration::from_secs(30);

/// The streams a session needs, as the request's parameters ask for them.
#[derive(Clone, Copy)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// None when the request does not ask for SPDY; else the protocol, or the refusal.
pub fn negotiate(
    req: &Request<hyper::body::Incoming>,
) -> Option<Result<&'static str, Response<Body>>> {
    spdy::negotiate(req, &PROTOCOLS)
}

/// The 101 answer; the session runs on the upgraded connection.
pub fn upgrade(
    req: &mut Request<hyper::body::Incoming>,
    protocol: &'static str,
    session: ExecSession,
    wanted: Wanted,
    ending: fn(crate::runtime::Result<i32>) -> Value,
) -> Response<Body> {
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            run(TokioIo::new(upgraded), session, wanted, ending).await;
        }
    });
    spdy::switching(protocol)
}

async fn run<S>(
    io: S,
    session: ExecSession,
    wanted: Wanted,
    ending: fn(crate::runtime::Result<i32>) -> Value,
) where
    S: AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut input, mut output) = tokio::io::split(io);
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if output.write_all(&frame).await.is_err() || output.flush().await.is_err() {
                return;
            }
        }
        let _ = output.shutdown().await;
    });
    let mut headers = spdy::Headers::new();
    let mut replies = spdy::Replies::new();
    // Stream ids by type, as the client opens them.
    let mut streams: HashMap<String, u32> = HashMap::new();
    let needed = |s: &HashMap<String, u32>| {
        s.contains_key("error")
            && (!wanted.stdin || s.contains_key("stdin"))
            && (!wanted.stdout || s.contains_key("stdout"))
            && (!wanted.stderr || s.contains_key("stderr"))
            && (!wanted.tty || s.contains_key("resize"))
    };
    let collected = tokio::time::timeout(STREAMS_TIMEOUT, async {
        while !needed(&streams) {
            match spdy::read_frame(&mut input).await {
                Ok(Some(Frame::Control {
                    kind: spdy::SYN_STREAM,
                    payload,
                    ..
                })) => {
                    let Ok((id, hdrs)) = spdy::syn_stream(&payload, &mut headers) else {
                        return false;
                    };
                    let kind = hdrs
                        .iter()
                        .find(|(k, _)| k == "streamtype")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let _ = tx.send(replies.syn_reply(id)).await;
                    streams.insert(kind, id);
                }
                Ok(Some(Frame::Control {
                    kind: spdy::PING,
                    payload,
                    ..
                })) => {
                    if let Some(id) = spdy::first_word(&payload).filter(|id| id % 2 == 1) {
                        let _ = tx.send(spdy::ping(id)).await;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return false,
            }
        }
        true
    })
    .await;
    if collected != Ok(true) {
        return;
    }
    let ExecSession {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let stdin_id = streams.get("stdin").copied();
    let resize_id = streams.get("resize").copied();
    let ping_tx = tx.clone();
    // The client's frames: stdin (FIN is its end), resizes, pings, its going away.
    let (gone_tx, gone) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let _gone = gone_tx;
        let mut stdin = stdin;
        let mut sizes = Vec::new();
        while let Ok(Some(frame)) = spdy::read_frame(&mut input).await {
            match frame {
                Frame::Data {
                    stream,
                    flags,
                    payload,
                } if Some(stream) == stdin_id => {
                    if let Some(s) = stdin.as_mut()
                        && s.write_all(&payload).await.is_err()
                    {
                        stdin = None;
                    }
                    if flags & spdy::FLAG_FIN != 0
                        && let Some(mut s) = stdin.take()
                    {
                        let _ = s.shutdown().await;
                    }
                }
                Frame::Data {
                    stream, payload, ..
                } if Some(stream) == resize_id => {
                    // Resizes are a stream of JSON objects: take the complete ones.
                    sizes.extend_from_slice(&payload);
                    let mut parsed =
                        serde_json::Deserializer::from_slice(&sizes).into_iter::<TermSize>();
                    let mut used = 0;
                    while let Some(Ok(size)) = parsed.next() {
                        used = parsed.byte_offset();
                        if let Some(resize) = &resize {
                            resize(size);
                        }
                    }
                    sizes.drain(..used);
                    sizes.truncate(64 * 1024);
                }
                Frame::Control {
                    kind: spdy::PING,
                    payload,
                    ..
                } => {
                    if let Some(id) = spdy::first_word(&payload).filter(|id| id % 2 == 1) {
                        let _ = ping_tx.send(spdy::ping(id)).await;
                    }
                }
                Frame::Control {
                    kind: spdy::GOAWAY, ..
                } => break,
                _ => {}
            }
        }
    });
    let out = pump(stdout, streams.get("stdout").copied(), tx.clone());
    let err = async {
        if let Some(e) = stderr {
            pump(e, streams.get("stderr").copied(), tx.clone()).await;
        }
    };
    let finished = async {
        tokio::join!(out, err);
        exit.await
    };
    // A client that went away takes the command with it (dropping `exit` kills it).
    let code = tokio::select! {
        code = finished => code,
        _ = gone => {
            writer.abort();
            return;
        }
    };
    if let Some(&error) = streams.get("error") {
        let _ = tx
            .send(spdy::data(error, 0, ending(code).to_string().as_bytes()))
            .await;
    }
    // Every stream ends; then the connection.
    for id in streams.values() {
        let _ = tx.send(spdy::data(*id, spdy::FLAG_FIN, &[])).await;
    }
    drop(tx);
    reader.abort();
    let _ = writer.await;
}

/// A stream of the command as DATA frames on `stream` (dropped when the client has no such
/// stream), to its end.
async fn pump(mut from: impl AsyncRead + Unpin, stream: Option<u32>, to: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if let Some(id) = stream {
            let _ = to.send(spdy::data(id, 0, &buf[..n])).await;
        }
    }
}
