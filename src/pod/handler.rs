//! Running the actions of probes and lifecycle hooks (`exec`, `httpGet`, `tcpSocket`, `sleep`)
//! against a container, as the kubelet's prober and hook runner do, with their messages.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::plan::Port;
use crate::plan::handler::{Handler, HttpGet, PortRef};
use crate::runtime::{ContainerId, ExecSync, RuntimeError, RuntimeService, SandboxId};

/// The container an action runs against.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn RuntimeService>,
    pub sandbox: SandboxId,
    pub container: ContainerId,
    /// Where httpGet and tcpSocket connect when they name no host.
    pub pod_ip: String,
    /// The container's `ports`, for ports given by name.
    pub ports: Vec<Port>,
}

/// A probe or hook port: a number, or the name of one of the container's ports.
fn resolve_port(target: &Target, port: &PortRef) -> Result<u16, String> {
    match port {
        PortRef::Number(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        PortRef::Name(name) => target
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("couldn't find port: {name} in container")),
    }
}

/// What one run of a probe found, as the kubelet's prober tells them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    /// The check ran and failed: it counts toward failureThreshold.
    Failure(String),
    /// The check could not run (the container went away meanwhile): the kubelet throws the
    /// result away and only records that the probe errored.
    Error(String),
}

/// Runs a probe's action once.
pub async fn probe(action: &Handler, target: &Target, timeout: Duration) -> ProbeResult {
    let failed = |r: Result<(), String>| match r {
        Ok(()) => ProbeResult::Success,
        Err(m) => ProbeResult::Failure(m),
    };
    match action {
        Handler::Exec(argv) => {
            match target
                .runtime
                .exec_sync(&target.container, ExecSync { argv, timeout })
                .await
            {
                Ok(r) if r.exit_code == 0 => ProbeResult::Success,
                Ok(r) => ProbeResult::Failure(r.output()),
                Err(RuntimeError::Timeout(_)) => {
                    ProbeResult::Failure(format!("command {:?} timed out", argv.join(" ")))
                }
                Err(e) => ProbeResult::Error(e.to_string()),
            }
        }
        Handler::HttpGet(h) => {
            let (url, result) = http_get(h, target, timeout).await;
            failed(match result {
                Ok(code) if (200..400).contains(&code) => Ok(()),
                Ok(code) => Err(format!("HTTP probe failed with statuscode: {code}")),
                Err(e) => Err(format!("Get {url:?}: {e}")),
            })
        }
        Handler::TcpSocket { host, port } => failed(tcp(host, port, target, timeout).await),
        Handler::Sleep(_) | Handler::Grpc { .. } => ProbeResult::Success,
    }
}

/// Runs a lifecycle hook to its end (bounded by `limit`); Err with the kubelet's event message.
pub async fn hook(
    action: &Handler,
    target: &Target,
    container: &str,
    pod: &str,
    limit: Duration,
) -> Result<(), String> {
    match action {
        Handler::Exec(argv) => {
            let failed = |err: String, output: String| {
                format!(
                    "Exec lifecycle hook ([{}]) for Container {container:?} in Pod {pod:?} failed - error: {err}, message: {output:?}",
                    argv.join(" ")
                )
            };
            match target
                .runtime
                .exec_sync(
                    &target.container,
                    ExecSync {
                        argv,
                        timeout: limit,
                    },
                )
                .await
            {
                Ok(r) if r.exit_code == 0 => Ok(()),
                Ok(r) => Err(failed(
                    format!("command '{}' exited with {}: ", argv.join(" "), r.exit_code),
                    r.output(),
                )),
                Err(e) => Err(failed(e.to_string(), String::new())),
            }
        }
        Handler::HttpGet(h) => {
            let (url, result) = http_get(h, target, limit).await;
            let failed = |err: String| {
                format!(
                    "HTTP lifecycle hook ({}) for Container {container:?} in Pod {pod:?} failed - error: {err}, message: \"\"",
                    h.path.as_deref().unwrap_or("")
                )
            };
            match result {
                Ok(code) if (200..400).contains(&code) => Ok(()),
                Ok(code) => Err(failed(format!("HTTP hook got status code {code}"))),
                Err(e) => Err(failed(format!("Get {url:?}: {e}"))),
            }
        }
        Handler::TcpSocket { host, port } => tcp(host, port, target, limit).await,
        Handler::Sleep(wanted) => {
            tokio::time::sleep((*wanted).min(limit)).await;
            Ok(())
        }
        Handler::Grpc { .. } => Ok(()),
    }
}

async fn tcp(
    host: &Option<String>,
    port: &PortRef,
    target: &Target,
    timeout: Duration,
) -> Result<(), String> {
    let port = resolve_port(target, port)?;
    let addr = format!("{}:{port}", host.as_deref().unwrap_or(&target.pod_ip));
    match tokio::time::timeout(timeout, target.runtime.dial(&target.sandbox, port)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// A GET with the kubelet's headers; the URL (for messages) and the response's status code.
async fn http_get(
    h: &HttpGet,
    target: &Target,
    timeout: Duration,
) -> (String, Result<u16, String>) {
    let host = h.host.clone().unwrap_or_else(|| target.pod_ip.clone());
    let path = match h.path.as_deref() {
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
        None => "/".into(),
    };
    let scheme = h.scheme.clone();
    let port = match resolve_port(target, &h.port) {
        Ok(p) => p,
        Err(e) => return (format!("{scheme}://{host}{path}"), Err(e)),
    };
    let url = format!("{scheme}://{host}:{port}{path}");
    if scheme != "http" {
        return (url, Err("wpod's prober speaks plain HTTP only".into()));
    }
    let exchange = async {
        let mut conn = target
            .runtime
            .dial(&target.sandbox, port)
            .await
            .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
        let headers = &h.headers;
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        if !has("Host") {
            req.push_str(&format!("Host: {host}:{port}\r\n"));
        }
        if !has("User-Agent") {
            req.push_str("User-Agent: kube-probe/1.34\r\n");
        }
        if !has("Accept") {
            req.push_str("Accept: */*\r\n");
        }
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        conn.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) => return Err("EOF".to_string()),
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| "malformed HTTP response".to_string())
    };
    let result = match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => {
            Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into())
        }
    };
    (url, result)
}
