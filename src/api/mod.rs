//! `wpod serve`: a local Kubernetes API over the node, for kubectl and client libraries. One
//! process holds the API server (TLS, bearer token, objects in SQLite) and the node agent: pods
//! created through the API run on the node, their status flows back into the stored objects.

mod controllers;
mod discovery;
mod exec;
mod exec_spdy;
mod kubeconfig;
pub mod logs;
mod namespaces;
mod nodes;
mod objects;
mod openapi;
mod patch;
mod pods;
mod portforward;
mod protobuf;
mod spdy;
mod status;
mod store;
mod table;
mod table_workloads;
mod tls;
mod tokens;
mod websocket;
mod workloads;

pub use control_plane::ControlPlane;

mod control_plane;

pub use kubeconfig::{kubeconfig, merge as merge_kubeconfig};
pub use objects::name_of;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::net::Cluster;
use crate::node::Node;
use status::Body;
use store::Store;

/// The apiserver refuses request bodies larger than this (its default limit of 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything a request handler reaches.
pub struct Api {
    store: Store,
    node: Arc<Node>,
    token: String,
    /// Issues and checks service account tokens; None without an API to reach (`wpod run`).
    signer: Option<Arc<tokens::Signer>>,
    /// The cluster CA (PEM) that every namespace's `kube-root-ca.crt` ConfigMap holds.
    ca_pem: Option<String>,
    /// Where relative image paths of pods resolve (the data directory).
    base_dir: PathBuf,
    logs: Arc<logs::LogStore>,
    /// The pod network: its Service table is the controllers' to fill.
    cluster: Arc<Cluster>,
    /// Where the controllers' events are shown.
    say: Say,
}

/// Shows a line of what the control plane does.
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// From `token_signer` of the same directory; the node's TokenRequest uses it too.
    pub signer: Arc<tokens::Signer>,
    /// Where the node's log sinks keep container output (see `LogStore::sink`).
    pub logs: Arc<logs::LogStore>,
    pub cluster: Arc<Cluster>,
    pub say: Say,
}

/// Runs the API server until `shutdown` resolves; the node's pods stop with it.
pub async fn serve(
    options: ServeOptions,
    node: Arc<Node>,
    ready: impl FnOnce(&str),
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let dir = &options.data_dir;
    private_dir(dir)?;
    let creds = tls::credentials(dir, &[options.listen.ip().to_string()])?;
    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let local = listener.local_addr().context("the listening address")?;
    let server = format!("https://{local}");
    let config = kubeconfig::write(dir, &server, &creds.ca_pem, &creds.token)?;
    let api = Arc::new(Api {
        store: Store::open(dir)?,
        node,
        token: creds.token.clone(),
        signer: Some(options.signer),
        ca_pem: Some(creds.ca_pem.clone()),
        base_dir: dir.clone(),
        logs: options.logs,
        cluster: options.cluster.clone(),
        say: options.say,
    });
    // The `kubernetes` Service's endpoint: the API on the node's address, as kubeadm's
    // apiserver advertises the node's IP.
    let mut in_cluster = options
        .cluster
        .serve_on_node(IN_CLUSTER_PORT, "kube-apiserver");
    namespaces::ensure_defaults(&api)?;
    workloads::ensure_cluster_services(&api);
    nodes::report(&api);
    pods::resume(&api);
    tokio::spawn(pods::follow(Arc::clone(&api)));
    tokio::spawn(nodes::keep_reporting(Arc::clone(&api)));
    tokio::spawn(controllers::run(Arc::clone(&api)));
    ready(&config.display().to_string());
    let acceptor = tokio_rustls::TlsAcceptor::from(creds.server);
    tokio::pin!(shutdown);
    loop {
        let stream: Box<dyn crate::runtime::PodStream> = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    Box::new(tcp)
                }
                Err(_) => continue,
            },
            Some(from_pod) = in_cluster.recv() => from_pod,
            () = &mut shutdown => break,
        };
        let (acceptor, api) = (acceptor.clone(), Arc::clone(&api));
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let api = Arc::clone(&api);
                async move { Ok::<_, std::convert::Infallible>(handle(&api, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
    // The pods stop (the shutdown asked them to) and stay stored: the next start runs them again.
    for pod in api.node.pods() {
        let (ns, name) = (
            pod.metadata.namespace.unwrap_or_default(),
            pod.metadata.name.unwrap_or_default(),
        );
        api.node.wait(&ns, &name).await;
    }
    Ok(())
}

/// Where the API listens on the node's address for pods (kubeadm's default secure port).
pub const IN_CLUSTER_PORT: u16 = 6443;

/// The data directory, made private: it holds the token, the keys and every Secret.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::modes::set(dir, 0o700).with_context(|| format!("making {} private", dir.display()))
}

/// The service account token signer of the data directory `dir` (made if new).
pub fn token_signer(dir: &std::path::Path) -> anyhow::Result<Arc<tokens::Signer>> {
    private_dir(dir)?;
    Ok(Arc::new(tokens::Signer::load(dir)?))
}

/// One request, parsed into what the handlers need.
pub struct Call {
    pub method: Method,
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn handle(api: &Api, req: Request<Incoming>) -> Response<Body> {
    // The admin's token, or a service account's: wpod has no RBAC, so a pod's token may do what
    // the admin may, as on a cluster that binds its service accounts to cluster-admin.
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let authorized = bearer.is_some_and(|t| {
        same(t.as_bytes(), api.token.as_bytes())
            || api
                .signer
                .as_ref()
                .is_some_and(|s| s.verify(t, std::time::SystemTime::now()).is_some())
    });
    if !authorized {
        return status::failure(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        );
    }
    let header = |name: hyper::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (accept, content_type) = (
        header(hyper::header::ACCEPT),
        header(hyper::header::CONTENT_TYPE),
    );
    let method = req.method().clone();
    let path: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query = req.uri().query().map(parse_query).unwrap_or_default();
    // The streaming subresources take over the connection: the request stays whole for that.
    if let [
        "api",
        "v1",
        "namespaces",
        ns,
        "pods",
        name,
        sub @ ("exec" | "attach" | "portforward"),
    ] = path
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
        && matches!(method, Method::GET | Method::POST)
    {
        let (ns, name, sub) = (ns.to_string(), name.to_string(), sub.to_string());
        let call = Call {
            method,
            path: path.clone(),
            query,
            accept,
            content_type,
            body: Bytes::new(),
        };
        return match sub.as_str() {
            "exec" => exec::exec(api, &call, req, &ns, &name).await,
            "attach" => exec::attach(api, &call, req, &ns, &name).await,
            _ => portforward::serve(api, &call, req, &ns, &name).await,
        };
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return status::failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "the request body is too large (the limit is 3 MiB)",
                None,
            );
        }
    };
    // kubectl's typed commands send built-in kinds in protobuf; the handlers read JSON.
    // Only the core API reads bodies; elsewhere the route's own answer (404) comes first.
    let core = (path.len() > 2 && path[0] == "api" && path[1] == "v1")
        || (path.len() > 3 && path[0] == "apis" && discovery::GROUPS.contains(&path[1].as_str()));
    let (content_type, body) = if core && protobuf::is_protobuf(content_type.as_deref()) {
        match protobuf::to_json(&body) {
            Ok(object) => (
                Some("application/json".to_string()),
                Bytes::from(serde_json::to_vec(&object).unwrap_or_default()),
            ),
            Err(why) => return status::bad_request(&why),
        }
    } else {
        (content_type, body)
    };
    let call = Call {
        method,
        path,
        query,
        accept,
        content_type,
        body,
    };
    route(api, &call).await
}

async fn route(api: &Api, call: &Call) -> Response<Body> {
    let p: Vec<&str> = call.path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["version"] => status::ok(&discovery::version()),
        ["healthz" | "readyz" | "livez"] => plain("ok"),
        ["api"] => status::ok(&discovery::api_versions()),
        ["apis"] => status::ok(&discovery::api_groups()),
        ["api", "v1"] => found(discovery::resources("")),
        ["apis", group, "v1"] => found(discovery::resources(group)),
        ["openapi", "v3"] => status::ok(&openapi::root()),
        ["openapi", "v3", "api", "v1"] => found(openapi::group("")),
        ["openapi", "v3", "apis", group, "v1"] => found(openapi::group(group)),
        ["openapi", ..] => plain(""),
        ["api", "v1", rest @ ..] => objects::dispatch(api, call, "", rest).await,
        ["apis", group, "v1", rest @ ..] => objects::dispatch(api, call, group, rest).await,
        _ => status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

fn found(document: Option<impl std::borrow::Borrow<serde_json::Value>>) -> Response<Body> {
    match document {
        Some(d) => status::ok(d.borrow()),
        None => status::failure(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

fn plain(text: &'static str) -> Response<Body> {
    Response::new(http_body_util::Full::new(Bytes::from_static(text.as_bytes())).boxed())
}

/// Compares without an early exit, so the time taken says nothing about the token.
/// Compares secrets in time independent of where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A URL's query as decoded pairs, in order.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_decode() {
        assert_eq!(
            super::parse_query("fieldSelector=metadata.name%3Dnginx&watch=true"),
            [
                (
                    "fieldSelector".to_string(),
                    "metadata.name=nginx".to_string()
                ),
                ("watch".to_string(), "true".to_string())
            ]
        );
        assert!(super::same(b"abc", b"abc") && !super::same(b"abc", b"abd"));
    }
}
