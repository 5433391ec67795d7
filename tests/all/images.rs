//! The built-in busybox and nginx images running manifests from the Kubernetes docs.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn busybox(script: &str) -> Run {
    run_json(
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: bb}}\nspec:\n  restartPolicy: Never\n  containers:\n  \
             - name: c\n    image: busybox:1.28\n    command: ['sh', '-c', {}]\n",
            serde_json::to_string(script).expect("json string")
        ),
        &[],
    )
}

fn terminated(r: &Run) -> serde_json::Value {
    container(&r.json(), "c")["state"]["terminated"].clone()
}

#[test]
fn the_docs_busybox_one_liner() {
    let r = busybox("echo The app is running! && sleep 0.2");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("c | The app is running!"), "{r:?}");
}

#[test]
fn shell_exit_statuses_reach_the_pod_status() {
    let r = busybox("echo before; exit 3");
    assert_eq!(terminated(&r)["exitCode"], 3, "{r:?}");
    let r = busybox("nosuchcommand");
    assert_eq!(terminated(&r)["exitCode"], 127, "{r:?}");
    assert!(r.stderr.contains("sh: nosuchcommand: not found"), "{r:?}");
}

#[test]
fn loops_pipelines_and_substitution() {
    let r = busybox(
        "for i in 1 2 3; do echo \"line $i\"; done | grep -c line; \
         n=$(seq 1 100 | wc -l); echo \"n=$n\"; yes | head -n 2; \
         case $HOSTNAME in bb) echo host-ok;; *) echo host-bad;; esac",
    );
    assert_eq!(r.code, 0, "{r:?}");
    for line in ["c | 3", "c | n=100", "c | y", "c | host-ok"] {
        assert!(r.stderr.contains(line), "missing {line:?}: {r:?}");
    }
}

#[test]
fn hostname_and_pod_ip() {
    let r = busybox("hostname; hostname -i; grep bb /etc/hosts");
    assert!(r.stderr.contains("c | bb\n"), "{r:?}");
    assert!(r.stderr.contains("c | 10.88.0.2"), "{r:?}");
    // The kubelet's hosts file names the pod at its IP.
    assert!(r.stderr.contains("c | 10.88.0.2\tbb\n"), "{r:?}");
}

#[test]
fn busybox_fetches_from_nginx_over_localhost() {
    // nginx serves until it is stopped: the run ends once the client is done.
    let r = run_until_exited(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/localhost.yaml"
        ))
        .expect("example"),
        &["--timeout", "20s"],
        &["localhost-demo/client"],
    );
    let pod = r.json();
    assert_eq!(
        container(&pod, "client")["state"]["terminated"]["exitCode"],
        0,
        "{r:?}"
    );
    assert!(
        r.stderr.contains("client | my pod IP is 10.88.0.2"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("<title>Welcome to nginx (wpod)!</title>"),
        "{r:?}"
    );
}

#[test]
fn nginx_serves_what_busybox_wrote_into_a_shared_volume() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = wpod()
        .args([
            "run",
            "--grace-period",
            "0",
            "--publish",
            &format!("{port}:80"),
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/nginx-shared-volume.yaml"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut page = String::new();
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            page.clear();
            let _ = s.read_to_string(&mut page);
            if page.contains("Hello from the busybox container") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(page.contains("Hello from the busybox container"), "{page}");
}
