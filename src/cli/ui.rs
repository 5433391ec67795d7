//! `wpod run --ui`: a live view of the run in the browser, served on loopback behind a random
//! token. One page (embedded, no CDN) follows a stream of snapshots (server-sent events): the
//! pods with their phase and conditions, the inside of each pod drawn as `wpod inspect` draws it
//! (with its IP once it has one), container states and restarts, the event timeline, each
//! container's log and the pod network's connections; and it offers a teacher's actions: delete
//! a pod, kill a container, kill the pod's infra container.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use super::describe::EventLog;
use crate::diagram::Diagram;
use crate::explain::Backend;
use crate::lessons::Lang;
use crate::node::Node;
use crate::plan::PodPlan;
use crate::runtime::{LogSink, Stream};

const PAGE: &str = include_str!("ui/index.html");
/// Lines kept per container log and of the network trace.
const KEEP_LINES: usize = 500;
/// How often a client's stream looks for a change.
const TICK: Duration = Duration::from_millis(200);

/// What the page shows besides the node's own state: logs and the network trace.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    logs: BTreeMap<String, VecDeque<String>>,
    trace: VecDeque<String>,
    /// Every pod the page has shown (namespace, name), the deleted ones included.
    seen: std::collections::BTreeSet<(String, String)>,
    /// The drawing of each pod (in both languages) and the IP it shows; kept for those gone.
    drawn: BTreeMap<String, (Option<String>, Value)>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self, pod: &str, container: &str, line: &str) {
        let mut s = self.lock();
        let lines = s.logs.entry(format!("{pod}/{container}")).or_default();
        if lines.len() == KEEP_LINES {
            lines.pop_front();
        }
        lines.push_back(line.to_string());
    }

    pub fn net(&self, line: &str) {
        let mut s = self.lock();
        if s.trace.len() == KEEP_LINES {
            s.trace.pop_front();
        }
        s.trace.push_back(line.to_string());
    }
}

/// The network trace's sink: the terminal's (with `--trace-net`) and the page's.
pub fn trace_sink(
    print: impl Fn(&str) + Send + Sync + 'static,
    hub: Option<Arc<Hub>>,
    on_terminal: bool,
) -> impl Fn(&str) + Send + Sync + 'static {
    move |line: &str| {
        if on_terminal {
            print(line);
        }
        if let Some(hub) = &hub {
            hub.net(line);
        }
    }
}

/// A pod's log, also to the page when there is one.
pub fn log_sink(log: Arc<dyn LogSink>, hub: &Option<Arc<Hub>>, pod: &str) -> Arc<dyn LogSink> {
    match hub {
        Some(hub) => Arc::new(TeeLog {
            inner: log,
            hub: hub.clone(),
            pod: pod.to_string(),
        }),
        None => log,
    }
}

/// A pod's log going to the terminal and to the page.
struct TeeLog {
    inner: Arc<dyn LogSink>,
    hub: Arc<Hub>,
    pod: String,
}

impl LogSink for TeeLog {
    fn line(&self, container: &str, stream: Stream, line: &str) {
        self.hub.log(&self.pod, container, line);
        self.inner.line(container, stream, line);
    }

    fn partial(&self, container: &str, stream: Stream, text: &str) {
        self.hub.log(&self.pod, container, text);
        self.inner.partial(container, stream, text);
    }

    fn began(&self, container: &str) {
        self.inner.began(container);
    }

    fn poll_ready(
        &self,
        container: &str,
        stream: Stream,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.inner.poll_ready(container, stream, cx)
    }
}

/// Everything a request needs.
pub struct View {
    node: Arc<Node>,
    events: Arc<EventLog>,
    hub: Arc<Hub>,
    services: Vec<Service>,
    backend: Backend,
    token: String,
}

/// Serves the page when there is a hub, and says where; an error is the run's exit code.
pub async fn start(
    hub: &Option<Arc<Hub>>,
    node: &Arc<Node>,
    events: &Arc<EventLog>,
    services: Vec<Service>,
    backend: Backend,
    printer: &super::output::Printer,
) -> Result<(), u8> {
    let Some(hub) = hub else {
        return Ok(());
    };
    match serve(node.clone(), events.clone(), hub.clone(), services, backend).await {
        Ok(url) => {
            printer.note(&format!("live view: {url}"));
            Ok(())
        }
        Err(e) => {
            printer.error(&format!("cannot serve the live view: {e}"));
            Err(super::exit::INTERNAL)
        }
    }
}

/// Listens on a free loopback port; returns the page's address (token included).
async fn serve(
    node: Arc<Node>,
    events: Arc<EventLog>,
    hub: Arc<Hub>,
    services: Vec<Service>,
    backend: Backend,
) -> std::io::Result<String> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let token = token()?;
    let url = format!("http://{}/?token={token}", listener.local_addr()?);
    let view = Arc::new(View {
        node,
        events,
        hub,
        services,
        backend,
        token,
    });
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let view = Arc::clone(&view);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let view = Arc::clone(&view);
                    async move { Ok::<_, Infallible>(handle(&view, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok(url)
}

/// 128 random bits, as hex.
fn token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("no randomness for the page's token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

async fn handle(view: &Arc<View>, req: Request<Incoming>) -> Response<Body> {
    let q: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(crate::api::parse_query)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let token = q.get("token").map_or(&[][..], |t| t.as_bytes());
    if !crate::api::same(token, view.token.as_bytes()) {
        return full(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "open the address wpod printed: it carries the page's token\n",
        );
    }
    let arg = |k: &str| q.get(k).cloned().unwrap_or_default();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (&Method::GET, "/state") => full(
            StatusCode::OK,
            "application/json",
            snapshot(view).to_string(),
        ),
        (&Method::GET, "/events") => events(Arc::clone(view)),
        (&Method::POST, "/api/delete") => act(view
            .node
            .delete(&namespace(view, &arg("pod")), &arg("pod"), None)
            .map_err(|e| e.to_string())),
        (&Method::POST, "/api/kill-infra") => act(view
            .node
            .kill_infra(&namespace(view, &arg("pod")), &arg("pod"))
            .map_err(|e| e.to_string())),
        (&Method::POST, "/api/kill") => act(view
            .node
            .kill_container(
                &namespace(view, &arg("pod")),
                &arg("pod"),
                &arg("container"),
            )
            .await
            .map_err(|e| e.to_string())),
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    }
}

fn namespace(view: &View, pod: &str) -> String {
    view.hub
        .lock()
        .seen
        .iter()
        .find(|(_, name)| name == pod)
        .map_or_else(|| "default".to_string(), |(ns, _)| ns.clone())
}

fn act(result: Result<(), String>) -> Response<Body> {
    match result {
        Ok(()) => full(
            StatusCode::OK,
            "application/json",
            json!({"ok": true}).to_string(),
        ),
        Err(e) => full(
            StatusCode::CONFLICT,
            "application/json",
            json!({"ok": false, "error": e}).to_string(),
        ),
    }
}

/// A stream of snapshots: the first at once, then one whenever something changed.
fn events(view: Arc<View>) -> Response<Body> {
    let stream = futures_util::stream::unfold((view, String::new()), |(view, last)| async move {
        loop {
            let now = snapshot(&view).to_string();
            if now != last {
                let frame = Frame::data(Bytes::from(format!("data: {now}\n\n")));
                return Some((Ok::<_, Infallible>(frame), (view, now)));
            }
            tokio::time::sleep(TICK).await;
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Everything the page shows, now.
fn snapshot(view: &View) -> Value {
    let pods = view.node.pods();
    let mut hub = view.hub.lock();
    for pod in &pods {
        let (ns, name) = (
            pod.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        // The pod as its plan draws it, with its IP once it has one: drawn again only when that
        // changes (a pod's spec does not), not at every look for a change.
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
        if hub.drawn.get(&name).is_none_or(|(shown, _)| *shown != ip) {
            let plan = PodPlan::from_pod(pod, "", std::path::PathBuf::new());
            let draw = |lang| {
                let mut d = Diagram::of(&plan, view.backend, &view.services, lang);
                d.ip = ip.clone();
                d.svg()
            };
            let both = json!({"en": draw(Lang::En), "zh": draw(Lang::Zh)});
            hub.drawn.insert(name.clone(), (ip, both));
        }
        hub.seen.insert((ns, name));
    }
    let events: serde_json::Map<String, Value> = hub
        .seen
        .iter()
        .map(|(_, name)| {
            let list: Vec<Value> = view
                .events
                .of(name)
                .iter()
                .map(|e| {
                    json!({
                        "type": e.type_.as_str(),
                        "reason": e.reason,
                        "container": e.container,
                        "message": e.message,
                        "at": e.at.to_string(),
                    })
                })
                .collect();
            (name.clone(), Value::Array(list))
        })
        .collect();
    json!({
        "pods": pods,
        "diagrams": hub.drawn.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
        "events": events,
        "logs": hub.logs,
        "trace": hub.trace,
    })
}
