//! The actions of probes and lifecycle hooks (`exec`, `httpGet`, `tcpSocket`, `sleep`) and probe
//! timings, resolved from the API objects with Kubernetes' defaults filled in.

use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A port a probe or hook names: a number, or the name of one of the container's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    Number(i32),
    Name(String),
}

impl PortRef {
    fn of(p: &IntOrString) -> Self {
        match p {
            IntOrString::Int(n) => PortRef::Number(*n),
            IntOrString::String(s) => PortRef::Name(s.clone()),
        }
    }
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGet {
    /// Lowercase, as it goes into the URL: `http` unless the manifest says otherwise.
    pub scheme: String,
    /// None: the pod's IP.
    pub host: Option<String>,
    pub port: PortRef,
    /// As written (the prober adds a leading `/`); None is `/`.
    pub path: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// One action of a probe or a hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler {
    Exec(Vec<String>),
    HttpGet(HttpGet),
    TcpSocket {
        host: Option<String>,
        port: PortRef,
    },
    Sleep(Duration),
    /// gRPC probes are not run (the manifest gets a warning): they always succeed.
    Grpc {
        port: i32,
        service: Option<String>,
    },
}

impl Handler {
    pub fn of_probe(p: &api::Probe) -> Option<Self> {
        if let Some(e) = &p.exec {
            Some(Handler::exec(e))
        } else if let Some(h) = &p.http_get {
            Some(Handler::http(h))
        } else if let Some(t) = &p.tcp_socket {
            Some(Handler::tcp(t))
        } else {
            p.grpc.as_ref().map(|g| Handler::Grpc {
                port: g.port,
                service: g.service.clone(),
            })
        }
    }

    pub fn of_hook(h: &api::LifecycleHandler) -> Option<Self> {
        if let Some(e) = &h.exec {
            Some(Handler::exec(e))
        } else if let Some(g) = &h.http_get {
            Some(Handler::http(g))
        } else if let Some(t) = &h.tcp_socket {
            Some(Handler::tcp(t))
        } else {
            h.sleep
                .as_ref()
                .map(|s| Handler::Sleep(Duration::from_secs(s.seconds.max(0).unsigned_abs())))
        }
    }

    fn exec(e: &api::ExecAction) -> Self {
        Handler::Exec(e.command.clone().unwrap_or_default())
    }

    fn http(h: &api::HTTPGetAction) -> Self {
        Handler::HttpGet(HttpGet {
            scheme: h.scheme.as_deref().unwrap_or("HTTP").to_lowercase(),
            host: h.host.clone(),
            port: PortRef::of(&h.port),
            path: h.path.clone(),
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect(),
        })
    }

    fn tcp(t: &api::TCPSocketAction) -> Self {
        Handler::TcpSocket {
            host: t.host.clone(),
            port: PortRef::of(&t.port),
        }
    }

    /// How `kubectl describe` shows the action: `exec [cat /tmp/healthy]`,
    /// `http-get http://:8080/healthz`, `tcp-socket :8080`.
    pub fn describe(&self) -> String {
        match self {
            Handler::Exec(argv) => format!("exec [{}]", argv.join(" ")),
            Handler::HttpGet(h) => format!(
                "http-get {}://{}:{}{}",
                h.scheme,
                h.host.as_deref().unwrap_or(""),
                h.port,
                h.path.as_deref().unwrap_or("")
            ),
            Handler::TcpSocket { host, port } => {
                format!("tcp-socket {}:{port}", host.as_deref().unwrap_or(""))
            }
            Handler::Sleep(d) => format!("sleep {}s", d.as_secs()),
            Handler::Grpc { port, service } => {
                format!("grpc <pod>:{port} {}", service.as_deref().unwrap_or(""))
            }
        }
    }
}

/// A probe's timings with the API defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// The probe's own terminationGracePeriodSeconds, for kills it causes.
    pub grace: Option<Duration>,
}

impl Timings {
    pub fn of(p: &api::Probe) -> Self {
        let secs = |v: Option<i32>, default: u64| {
            Duration::from_secs(v.map_or(default, |v| u64::from(v.max(0).unsigned_abs())))
        };
        let count = |v: Option<i32>, default: u32| v.map_or(default, |v| v.max(1).unsigned_abs());
        Timings {
            initial_delay: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: count(p.success_threshold, 1),
            failure_threshold: count(p.failure_threshold, 3),
            grace: p
                .termination_grace_period_seconds
                .map(|s| Duration::from_secs(s.max(1).unsigned_abs())),
        }
    }
}

/// A probe, resolved: what it runs and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub handler: Handler,
    pub timings: Timings,
}

impl Probe {
    /// None for a probe without an action (validation refuses those).
    pub fn of(p: &api::Probe) -> Option<Self> {
        Some(Probe {
            handler: Handler::of_probe(p)?,
            timings: Timings::of(p),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_defaults() {
        let t = Timings::of(&api::Probe::default());
        assert_eq!(
            t,
            Timings {
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
                grace: None,
            }
        );
    }
}
