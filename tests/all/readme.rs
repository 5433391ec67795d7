//! What the README's first screen promises a newcomer: the explainer's nginx pod, run unchanged
//! from `examples/`, answers a browser on the host through `-p 8080:80` (another free port here).

use std::io::{Read as _, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{backends, free_port, wpod};

fn get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            );
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answered on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_explainers_nginx_pod_answers_on_the_host() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    for backend in backends() {
        let port = free_port();
        let child = wpod()
            .args(["run", "--backend", backend, "--grace-period", "0s", "-p"])
            .arg(format!("{port}:80"))
            .arg(example)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wpod");
        let page = get(port);
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("wait");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{backend}: {page}");
        assert!(page.contains("Welcome to nginx"), "{backend}: {page}");
        assert!(
            stdout.contains("nginx | ") && stdout.contains("\"GET / HTTP/1.1\" 200"),
            "{backend}: the access log shows the request: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("publishing 127.0.0.1:"),
            "{backend}: {stderr}"
        );
    }
}
