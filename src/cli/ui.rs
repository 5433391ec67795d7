//! `wpod run --ui`: a live view of the run in the browser, served on loopback behind a random
//! token. One page (embedded, no CDN) follows a stream of snapshots (server-sent events): the
//! pods with their phase and conditions, the inside of each pod drawn as `wpod inspect` draws it
//! (with its IP once it has one), container states and restarts, the event timeline, each
//! container's log and the pod network's connections; and it offers a teacher's actions: delete
//! a pod, kill a container, kill the pod's infra container, make a probe fail. `wpod run --ui`
//! and `wpod serve --ui` serve it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1 as api;
use serde_json::{Value, json};

use super::describe::EventLog;
use crate::diagram::Diagram;
use crate::explain::Backend;
use crate::lessons::Lang;
use crate::net::services::Services;
use crate::node::Node;
use crate::plan::PodPlan;
use crate::pod::probe::ProbeKind;
use crate::runtime::{LogSink, Stream};

const PAGE: &str = include_str!("ui/index.html");
/// Lines kept per container log and of the network trace.
const KEEP_LINES: usize = 500;
/// How often a client's stream looks for a change.
const TICK: Duration = Duration::from_millis(200);
/// Deleted pods still shown (with their logs and events), the most recent ones.
const KEEP_GONE: usize = 50;

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
    seen: BTreeSet<(String, String)>,
    /// The deleted pods still shown, oldest first.
    gone: VecDeque<(String, String)>,
    /// The drawing of each pod (in both languages) and what it was drawn from.
    drawn: BTreeMap<String, (Drawn, Value)>,
    /// The probes made to fail from the page: pod, container, probe kind.
    failing: BTreeSet<(String, String, &'static str)>,
}

/// What a pod's drawing shows that can change while it lives: its IP, the Services in front
/// (their generation), the container instances (their namespaces on linux).
#[derive(PartialEq, Eq)]
struct Drawn {
    ip: Option<String>,
    services: u64,
    instances: Vec<String>,
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
    services: Arc<Services>,
    backend: Backend,
    token: String,
}

/// Serves the page when there is a hub, and says where; an error is the run's exit code.
pub async fn start(
    hub: &Option<Arc<Hub>>,
    node: &Arc<Node>,
    events: &Arc<EventLog>,
    services: &Arc<Services>,
    backend: Backend,
    printer: &super::output::Printer,
) -> Result<(), u8> {
    let Some(hub) = hub else {
        return Ok(());
    };
    let services = Arc::clone(services);
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
    services: Arc<Services>,
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

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
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
    let (pod, container) = (arg("pod"), arg("container"));
    let ns = q
        .get("ns")
        .cloned()
        .unwrap_or_else(|| namespace(view, &pod));
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (&Method::GET, "/state") => full(
            StatusCode::OK,
            "application/json",
            snapshot(view).await.to_string(),
        ),
        (&Method::GET, "/events") => events(Arc::clone(view)),
        (&Method::POST, "/api/delete") => {
            act(view.node.delete(&ns, &pod, None).map_err(|e| e.to_string()))
        }
        (&Method::POST, "/api/kill-infra") => {
            act(view.node.kill_infra(&ns, &pod).map_err(|e| e.to_string()))
        }
        (&Method::POST, "/api/kill") => act(view
            .node
            .kill_container(&ns, &pod, &container)
            .await
            .map_err(|e| e.to_string())),
        (&Method::POST, "/api/fail-probe") => {
            let Some(kind) = probe_kind(&arg("probe")) else {
                return act(Err(format!(
                    "unknown probe \"{}\": startup, liveness or readiness",
                    arg("probe")
                )));
            };
            let fail = arg("fail") != "false";
            let done = view
                .node
                .fail_probe(&ns, &pod, &container, kind, fail)
                .await
                .map_err(|e| e.to_string());
            if done.is_ok() {
                let key = (pod, container, kind.title());
                let mut hub = view.hub.lock();
                if fail {
                    hub.failing.insert(key);
                } else {
                    hub.failing.remove(&key);
                }
            }
            act(done)
        }
        _ => full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    }
}

fn probe_kind(name: &str) -> Option<ProbeKind> {
    [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ]
    .into_iter()
    .find(|k| k.title().eq_ignore_ascii_case(name))
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
            let now = snapshot(&view).await.to_string();
            if now != last {
                let frame = Frame::data(Bytes::from(format!("data: {now}\n\n")));
                return Some((Ok::<_, Infallible>(frame), (view, now)));
            }
            tokio::time::sleep(TICK).await;
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
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
async fn snapshot(view: &View) -> Value {
    let pods = view.node.pods();
    let generation = view.services.generation();
    let stale: Vec<(&api::Pod, Drawn)> = {
        let mut hub = view.hub.lock();
        let current: BTreeSet<(String, String)> = pods.iter().map(key).collect();
        hub.remember(&current);
        pods.iter()
            .map(|pod| (pod, drawn_from(pod, generation)))
            .filter(|(pod, now)| {
                let name = key(pod).1;
                hub.drawn.get(&name).is_none_or(|(was, _)| was != now)
            })
            .collect()
    };
    // Drawn again only when what it shows changed, not at every look for a change.
    for (pod, drawn) in stale {
        let (ns, name) = key(pod);
        let plan = PodPlan::from_pod(pod, "", std::path::PathBuf::new());
        let ids = match view.backend {
            Backend::Linux => {
                let containers: Vec<String> =
                    plan.all_containers().map(|c| c.name.clone()).collect();
                Some(view.node.namespaces(&ns, &name, &containers).await)
            }
            Backend::Wasm => None,
        };
        let services = view.services.all();
        let draw = |lang| {
            let mut d = Diagram::of(&plan, view.backend, &[], lang);
            d.front_live(&services);
            d.ip = drawn.ip.clone();
            if let Some((infra, each)) = &ids {
                d.with_namespaces(infra, each);
            }
            d.svg()
        };
        let both = json!({"en": draw(Lang::En), "zh": draw(Lang::Zh)});
        view.hub.lock().drawn.insert(name, (drawn, both));
    }
    let hub = view.hub.lock();
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
    let failing: Vec<Value> = hub
        .failing
        .iter()
        .map(|(pod, container, kind)| json!({"pod": pod, "container": container, "probe": kind}))
        .collect();
    json!({
        "pods": pods,
        "diagrams": hub.drawn.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
        "events": events,
        "logs": hub.logs,
        "trace": hub.trace,
        "failing": failing,
    })
}

fn key(pod: &api::Pod) -> (String, String) {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn drawn_from(pod: &api::Pod, services: u64) -> Drawn {
    let status = pod.status.as_ref();
    let instances = status
        .into_iter()
        .flat_map(|s| {
            let init = s.init_container_statuses.iter().flatten();
            init.chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.container_id.clone().unwrap_or_default())
        .collect();
    Drawn {
        ip: status.and_then(|s| s.pod_ip.clone()),
        services,
        instances,
    }
}

impl HubState {
    /// Notes the pods there are now; of those deleted, the page keeps the most recent ones.
    fn remember(&mut self, current: &BTreeSet<(String, String)>) {
        self.seen.extend(current.iter().cloned());
        self.gone.retain(|k| !current.contains(k));
        let newly: Vec<(String, String)> = self
            .seen
            .iter()
            .filter(|k| !current.contains(*k) && !self.gone.contains(k))
            .cloned()
            .collect();
        self.gone.extend(newly);
        while self.gone.len() > KEEP_GONE {
            let Some((ns, name)) = self.gone.pop_front() else {
                break;
            };
            self.seen.remove(&(ns, name.clone()));
            self.drawn.remove(&name);
            let prefix = format!("{name}/");
            self.logs.retain(|k, _| !k.starts_with(&prefix));
            self.failing.retain(|(pod, _, _)| *pod != name);
        }
    }
}
