//! `pods/{name}/exec` and `pods/{name}/attach`: a command in a running container, or its main
//! process, with the streams on a WebSocket in the channel protocol of kubectl
//! (`v5.channel.k8s.io`) and the Python client (`v4.channel.k8s.io`), or on SPDY streams where
//! kubectl falls back to them (see `exec_spdy`).
//!
//! Every message is one channel byte and data: 0 stdin, 1 stdout, 2 stderr, 3 the final status,
//! 4 terminal resizes; with v5 the client ends stdin with `255 0`. The server writes the status
//! (success, or `NonZeroExitCode` with the code as a cause) and then closes with 1000.

use futures_util::{SinkExt as _, StreamExt as _};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::exec_spdy;
use super::status::{self, Body};
use super::websocket::{self, Socket};
use super::{Api, Call, pods};
use crate::node::StreamError;
use crate::runtime::{ExecRequest, ExecSession, TermSize};

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
/// v5: the client closes one of its channels.
const CLOSE: u8 = 255;

/// A boolean query parameter as the apiserver reads one: absent, `0` and `false` are false.
pub fn flag(call: &Call, name: &str) -> bool {
    call.param(name)
        .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
}

pub async fn exec(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    let argv: Vec<String> = call
        .query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if argv.is_empty() {
        return status::bad_request("you must specify at least 1 command");
    }
    serve(api, call, req, ns, name, Some(argv)).await
}

/// `pods/{name}/attach`: the main process of a running container, as exec's streams.
pub async fn attach(
    api: &Api,
    call: &Call,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
) -> Response<Body> {
    serve(api, call, req, ns, name, None).await
}

/// An exec of `argv`, or an attach.
async fn serve(
    api: &Api,
    call: &Call,
    mut req: Request<Incoming>,
    ns: &str,
    name: &str,
    argv: Option<Vec<String>>,
) -> Response<Body> {
    let (pod, container) = match pods::container_for(api, call, ns, name) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let verb = if argv.is_some() { "exec" } else { "attach" };
    if let Some(phase @ ("Succeeded" | "Failed")) =
        pod.pointer("/status/phase").and_then(Value::as_str)
    {
        return status::bad_request(&format!(
            "cannot {verb} into a container in a completed pod; current phase is {phase}"
        ));
    }
    let tty = flag(call, "tty");
    let (stdin, stdout, stderr) = (
        flag(call, "stdin"),
        flag(call, "stdout"),
        // A terminal has one output stream (the kubelet drops stderr with a tty).
        flag(call, "stderr") && !tty,
    );
    if !(stdin || stdout || stderr) {
        return status::bad_request("you must specify at least 1 of stdin, stdout, stderr");
    }
    // kubectl 1.30+ and the Python client ask for a WebSocket; kubectl falls back to SPDY.
    let spdy = if websocket::wanted(&req) {
        None
    } else {
        match exec_spdy::negotiate(&req) {
            Some(Ok(protocol)) => Some(protocol),
            Some(Err(refused)) => return refused,
            None => {
                return status::bad_request(&format!(
                    "{verb} needs an upgrade to WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1"
                ));
            }
        }
    };
    let offered = websocket::offered(&req);
    let protocol = offered.iter().find(|p| PROTOCOLS.contains(&p.as_str()));
    if spdy.is_none() && protocol.is_none() {
        return status::bad_request(&format!(
            "none of the offered subprotocols {offered:?} is supported (wpod speaks {})",
            PROTOCOLS.join(", ")
        ));
    }
    let (started, ending): (_, fn(crate::runtime::Result<i32>) -> Value) = match argv {
        Some(argv) => {
            let request = ExecRequest { argv, stdin, tty };
            (
                api.node.exec(ns, name, &container, request).await,
                exit_status,
            )
        }
        None => (
            api.node.attach(ns, name, &container, stdin).await,
            attach_status,
        ),
    };
    let session = match started {
        Ok(s) => s,
        Err(e) => return stream_error(&e),
    };
    if let Some(protocol) = spdy {
        let wanted = exec_spdy::Wanted {
            stdin,
            stdout,
            stderr,
            tty,
        };
        return exec_spdy::upgrade(&mut req, protocol, session, wanted, ending);
    }
    let protocol = protocol.map(String::as_str).unwrap_or_default();
    let (response, socket) = match websocket::accept(&mut req, protocol) {
        Ok(accepted) => accepted,
        Err(response) => return *response,
    };
    tokio::spawn(async move {
        if let Some(socket) = socket.await {
            run(socket, session, (stdout, stderr), ending).await;
        }
    });
    response
}

/// Why an exec or port forward could not start, as the apiserver reports a kubelet's refusal.
pub fn stream_error(e: &StreamError) -> Response<Body> {
    match e {
        StreamError::NotFound(name) => status::not_found("pods", name),
        StreamError::NotRunning(why) | StreamError::Runtime(why) => status::failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &format!("Internal error occurred: unable to upgrade connection: {why}"),
            None,
        ),
    }
}

/// What goes out on the socket.
enum Out {
    Data(u8, Vec<u8>),
    /// Flushes the pong tungstenite queued for a ping.
    Flush,
}

async fn run(
    socket: Socket,
    session: ExecSession,
    (want_stdout, want_stderr): (bool, bool),
    ending: fn(crate::runtime::Result<i32>) -> Value,
) {
    let (mut sink, mut incoming) = socket.split();
    let ExecSession {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(16);
    // The client's messages: stdin, resizes, the end of its stdin, pings, its going away.
    let (gone_tx, gone) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn({
        let out_tx = out_tx.clone();
        async move {
            let _gone = gone_tx;
            let mut stdin = stdin;
            while let Some(Ok(message)) = incoming.next().await {
                let data = match message {
                    Message::Binary(b) => b.to_vec(),
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Ping(_) => {
                        let _ = out_tx.send(Out::Flush).await;
                        continue;
                    }
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some((&channel, data)) = data.split_first() else {
                    continue;
                };
                match channel {
                    STDIN => {
                        if let Some(s) = stdin.as_mut()
                            && s.write_all(data).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    RESIZE => {
                        if let Some(resize) = &resize {
                            let sizes =
                                serde_json::Deserializer::from_slice(data).into_iter::<TermSize>();
                            for size in sizes.map_while(Result::ok) {
                                resize(size);
                            }
                        }
                    }
                    CLOSE if data == [STDIN] => {
                        if let Some(mut s) = stdin.take() {
                            let _ = s.shutdown().await;
                        }
                    }
                    _ => {}
                }
            }
            // The client is gone (or done): the command's stdin ends.
            if let Some(mut s) = stdin.take() {
                let _ = s.shutdown().await;
            }
        }
    });
    let pumps = async {
        let out = pump(stdout, STDOUT, want_stdout, out_tx.clone());
        let err = async {
            if let Some(e) = stderr {
                pump(e, STDERR, want_stderr, out_tx.clone()).await;
            }
        };
        let finished = async {
            tokio::join!(out, err);
            exit.await
        };
        // A client that went away takes the command with it (dropping `exit` kills it).
        let code = tokio::select! {
            code = finished => code,
            _ = gone => return,
        };
        let _ = out_tx
            .send(Out::Data(STATUS, ending(code).to_string().into_bytes()))
            .await;
        drop(out_tx);
    };
    let writer = async {
        while let Some(out) = out_rx.recv().await {
            let sent = match out {
                Out::Data(channel, data) => {
                    let mut frame = Vec::with_capacity(data.len() + 1);
                    frame.push(channel);
                    frame.extend_from_slice(&data);
                    let sent = sink.send(Message::binary(frame)).await;
                    // The status is the last message (the reader still holds a sender).
                    if channel == STATUS {
                        return sent.is_ok();
                    }
                    sent
                }
                Out::Flush => sink.flush().await,
            };
            if sent.is_err() {
                return false;
            }
        }
        false
    };
    let (_, open) = tokio::join!(pumps, writer);
    if open {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
    }
    // The client answers the close; give it a moment, then let the connection go.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
}

/// Sends what a stream of the command gives on `channel` (or drops it when the client did not
/// ask for that stream) until its end.
async fn pump(mut from: impl AsyncRead + Unpin, channel: u8, wanted: bool, to: mpsc::Sender<Out>) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if wanted
            && to
                .send(Out::Data(channel, buf[..n].to_vec()))
                .await
                .is_err()
        {
            // The client is gone; the command must not block on a full pipe.
            while let Ok(1..) = from.read(&mut buf).await {}
            return;
        }
    }
}

/// An attach ends when the container does (or the client leaves): success, as the kubelet says.
fn attach_status(end: crate::runtime::Result<i32>) -> Value {
    match end {
        Ok(_) => json!({"metadata": {}, "status": "Success"}),
        Err(e) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("Internal error occurred: error attaching to container: {e}"),
            "reason": "InternalError",
            "code": 500,
        }),
    }
}

/// The status message for the command's end, as the kubelet's streaming server writes it.
fn exit_status(code: crate::runtime::Result<i32>) -> Value {
    match code {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(e) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("Internal error occurred: error executing command in container: {e}"),
            "reason": "InternalError",
            "details": {"causes": [{"message": format!("error executing command in container: {e}")}]},
            "code": 500,
        }),
    }
}
