//! wasi:http components as containers: wstd's published `http_server` example, built unmodified
//! from crates.io, served on its declared port on both backends, reached from a busybox in the
//! pod, from another pod through a Service, from the host through `--publish`, and by an httpGet
//! readiness probe; a TERM lets the request in flight finish before the container exits 0.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;
use crate::wstd_example;

/// wstd's `http_server` example (a `wasi:http/incoming-handler` component that also exports
/// `wasi:cli/run`), built once per test run.
fn wstd_http_server() -> PathBuf {
    wstd_example::build()
}

/// The server and a busybox client in its pod; `then` is what the client does after its requests.
fn server_pod(wasm: &Path, then: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: hello-http
  labels: {{app: hello-http}}
spec:
  restartPolicy: Never
  containers:
  - name: server
    image: {}
    ports:
    - containerPort: 8080
    readinessProbe:
      httpGet: {{path: /, port: 8080}}
      periodSeconds: 1
  - name: client
    image: busybox
    command: ['sh', '-c', 'until wget -q -O- http://localhost:8080/; do sleep 0.2; done; wget -q -O- http://hello-http:8080/wait-response{}']
",
        wasm.display(),
        then
    )
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: the whole reply, empty when nothing answered.
fn request(port: u16, method: &str, path: &str, body: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn spawn_run(manifest: &str, backend: &str, port: u16, s: &Scratch) -> std::process::Child {
    let file = s.write("pods.yaml", manifest);
    wpod()
        .args([
            "run",
            "-o",
            "json",
            "--color",
            "never",
            "--backend",
            backend,
        ])
        .args(["-p", &format!("{port}:8080")])
        // A run that never reaches what the test waits for ends anyway, and says so.
        .args(["--timeout", "120s"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wpod")
}

fn container_of<'a>(pods: &'a Value, pod: &str, name: &str) -> &'a Value {
    pods.as_array()
        .and_then(|ps| ps.iter().find(|p| p["metadata"]["name"] == pod))
        .map(|p| container(p, name))
        .unwrap_or_else(|| panic!("no pod {pod} in {pods}"))
}

#[test]
fn an_unmodified_wasi_http_component_answers_in_its_pod_through_a_service_and_publish() {
    let wasm = wstd_http_server();
    on_backends(|backend| {
        let s = Scratch::new("wasi-http");
        let port = free_port();
        let manifest = format!(
            "{}---
apiVersion: v1
kind: Service
metadata: {{name: hello}}
spec:
  selector: {{app: hello-http}}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata: {{name: visitor}}
spec:
  restartPolicy: Never
  containers:
  - name: visitor
    image: busybox
    command: ['sh', '-c', 'until wget -q -O- http://hello/; do sleep 0.2; done']
",
            server_pod(&wasm, "; sleep 3600")
        );
        let mut from_host = (String::new(), String::new());
        // The client stays: a pod with a container that ended is not Ready, and a Service sends
        // nothing to it.
        let (mut client_done, mut visitor_done) = (false, false);
        let r = end_when(spawn_run(&manifest, backend, port, &s), |line| {
            client_done |= line.starts_with("hello-http/client | slept for");
            visitor_done |= line.starts_with("-- visitor/visitor: exited with code");
            if !(client_done && visitor_done) {
                return false;
            }
            from_host = (
                request(port, "GET", "/", ""),
                request(port, "POST", "/echo", "a body from the host"),
            );
            true
        });
        let pods = &r.json()["items"];
        let greeting = "Hello, wasi:http/proxy world!";
        let client = said(&r, "hello-http/client");
        assert!(
            client.contains(greeting) && client.contains("slept for "),
            "{backend}: {r:?}"
        );
        assert!(
            said(&r, "visitor/visitor").contains(greeting),
            "{backend}: {r:?}"
        );
        assert!(
            from_host.0.starts_with("HTTP/1.1 200") && from_host.0.contains(greeting),
            "{backend}: {from_host:?}\n{r:?}"
        );
        assert!(
            from_host.1.starts_with("HTTP/1.1 200")
                && from_host.1.contains("\r\na body from the host\r\n"),
            "{backend}: {from_host:?}\n{r:?}"
        );
        let server = container_of(pods, "hello-http", "server");
        assert_eq!(server["ready"], true, "{backend}: {r:?}");
        // Every request the component served is in its log.
        let served = said(&r, "hello-http/server");
        assert!(
            served.contains("serving /echo") && served.contains("serving /wait-response"),
            "{backend}: {r:?}"
        );
    });
}

#[test]
fn a_request_in_flight_finishes_before_the_stopped_server_exits_zero() {
    let wasm = wstd_http_server();
    on_backends(|backend| {
        let s = Scratch::new("wasi-http-drain");
        let port = free_port();
        let manifest = server_pod(&wasm, "");
        let mut in_flight = None;
        let r = stop_when(spawn_run(&manifest, backend, port, &s), |line| {
            // One pod: its containers' lines are not prefixed with its name.
            if !line.starts_with("client | slept for") {
                return false;
            }
            // The server answers; then a request that takes a second is sent, and the pod
            // is stopped while the component sleeps in it.
            assert!(request(port, "GET", "/", "").starts_with("HTTP/1.1 200"));
            in_flight = Some(std::thread::spawn(move || {
                request(port, "GET", "/wait-response", "")
            }));
            std::thread::sleep(Duration::from_millis(300));
            true
        });
        let answer = in_flight
            .expect("the request was sent")
            .join()
            .expect("request thread");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.contains("slept for"),
            "{backend}: {answer:?}\n{r:?}"
        );
        let pod = r.json();
        let server = container(&pod, "server");
        // Drained, not killed at the end of the grace period (137).
        let ended = &server["state"]["terminated"];
        assert_eq!(ended["exitCode"], 0, "{backend}: {r:?}");
        assert_eq!(ended["reason"], "Completed", "{backend}: {r:?}");
    });
}

#[test]
fn a_component_that_could_be_served_but_declares_no_port_is_run_and_told_so() {
    let wasm = wstd_http_server();
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: no-port}}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: server\n    image: {}\n",
        wasm.display()
    );
    let r = run_json(&manifest, &[]);
    let pod = r.json();
    let ended = &container(&pod, "server")["state"]["terminated"];
    // wstd's `run` traps: its servers are meant to be served.
    assert_eq!(ended["exitCode"], 134, "{r:?}");
    assert!(
        ended["message"]
            .as_str()
            .is_some_and(|m| m.contains("wasi:http/incoming-handler")
                && m.contains("declares a TCP containerPort")),
        "{r:?}"
    );
}
