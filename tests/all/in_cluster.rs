//! A pod talks to `wpod serve` the way in-cluster clients do: through the `default/kubernetes`
//! Service (10.96.0.1:443, `kubernetes.default.svc`), trusting the `ca.crt` and sending the
//! `token` of its service account volume. The TLS client is rustls in this test, its bytes carried
//! by the pod's own `nc` through `kubectl exec -i`, so the connection really starts in the pod.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use crate::serve::{kubectl, serve_with, stop, wait_for};
use crate::support::free_port;

const SA: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The child's stdout and stdin as one duplex stream.
struct Exec(ChildStdout, ChildStdin);

impl Read for Exec {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Exec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.1.flush()
    }
}

/// `GET path` from inside pod `box` to `host`:443 over TLS verified with `ca_pem` for the name
/// `kubernetes.default.svc`; the response head and body.
fn get_from_pod(config: &Path, host: &str, ca_pem: &str, token: &str, path: &str) -> String {
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(["exec", "-i", "box", "--", "nc", host, "443"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl exec runs");
    let io = Exec(
        child.stdout.take().expect("stdout"),
        child.stdin.take().expect("stdin"),
    );
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).expect("a CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "kubernetes.default.svc".try_into().expect("a DNS name");
    let conn = rustls::ClientConnection::new(Arc::new(tls_config), name).expect("a TLS client");
    let mut tls = rustls::StreamOwned::new(conn, io);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: kubernetes.default.svc\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request goes through the pod");
    let mut response = Vec::new();
    // The server closes after its response; a close without close_notify still ends the read.
    let _ = tls.read_to_end(&mut response);
    drop(tls);
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&response).into_owned()
}

fn in_cluster_client_reaches_the_api(backend: &str) {
    let dir =
        std::env::temp_dir().join(format!("wpod-in-cluster-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (server, config) = serve_with(&dir, free_port(), &["--backend", backend]);
    let (ok, out, err) = kubectl(
        &config,
        &[
            "run",
            "box",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sleep",
            "3600",
        ],
    );
    assert!(ok, "{out}{err}");
    wait_for("box Running", || {
        kubectl(
            &config,
            &["get", "pod", "box", "-o", "jsonpath={.status.phase}"],
        )
        .1 == "Running"
    });
    // The apiserver's own endpoint, as `kubectl get endpoints kubernetes` shows on kubeadm.
    let (_, endpoint, _) = kubectl(
        &config,
        &[
            "get",
            "endpoints",
            "kubernetes",
            "-o",
            "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
        ],
    );
    assert_eq!(endpoint, "10.88.0.1:6443");
    let file = |name: &str| {
        let (ok, out, err) = kubectl(
            &config,
            &["exec", "box", "--", "cat", &format!("{SA}/{name}")],
        );
        assert!(ok, "{name}: {err}");
        out
    };
    let (ca, token, namespace) = (file("ca.crt"), file("token"), file("namespace"));
    assert_eq!(namespace, "default");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // The token is a JWT naming the pod's service account.
    use base64::Engine as _;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .expect("a JWT");
    let claims: serde_json::Value = serde_json::from_slice(&claims).expect("JSON claims");
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "box");

    for host in ["kubernetes.default.svc", "10.96.0.1"] {
        let response = get_from_pod(
            &config,
            host,
            &ca,
            token.trim(),
            "/api/v1/namespaces/default/pods/box",
        );
        assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
        assert!(response.contains(r#""name":"box""#), "{host}: {response}");
    }
    let refused = get_from_pod(
        &config,
        "kubernetes",
        &ca,
        "not-a-token",
        "/api/v1/namespaces",
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pod_reaches_wpod_serve_through_the_kubernetes_service_with_its_token() {
    in_cluster_client_reaches_the_api("wasm");
}

#[test]
fn on_linux_a_pod_reaches_wpod_serve_through_the_kubernetes_service() {
    if crate::support::linux_backend() {
        in_cluster_client_reaches_the_api("linux");
    }
}
