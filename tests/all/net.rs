//! The virtual pod network through the real binary: localhost, pod IPs, isolation, publishing.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn pod(name: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 0\n  containers:\n{containers}"
    )
}

fn c(name: &str, args: &str) -> String {
    format!("    - {{name: {name}, image: testkit, command: [testkit, {args}]}}\n")
}

/// Traces the pod network of a run whose containers all end by themselves.
fn run(manifest: &str) -> Run {
    run_json(manifest, &["--timeout", "20s", "--trace-net"])
}

/// Traces the pod network until the `clients` (`pod/container`) are done, then kills the
/// servers, which never end by themselves.
fn run_clients(manifest: &str, clients: &[&str]) -> Run {
    run_until_exited(manifest, &["--timeout", "20s", "--trace-net"], clients)
}

/// A container output line, whatever the prefix padding.
fn has_line(output: &str, prefix: &str, text: &str) -> bool {
    output.lines().any(|l| {
        l.split_once(" | ")
            .is_some_and(|(p, t)| p.trim_end() == prefix && t == text)
    })
}

fn exit_code(pod: &serde_json::Value, name: &str) -> Option<i64> {
    container(pod, name)["state"]["terminated"]["exitCode"].as_i64()
}

#[test]
fn containers_of_a_pod_share_localhost() {
    for (bind, target) in [
        ("0.0.0.0:8080", "localhost:8080"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("0.0.0.0:8080", "web:8080"),
    ] {
        let r = run_clients(
            &pod(
                "web",
                &format!(
                    "{}{}",
                    c("app", &format!("serve, \"{bind}\", hi")),
                    c("client", &format!("get, \"{target}\""))
                ),
            ),
            &["web/client"],
        );
        let pod = r.json();
        assert_eq!(
            exit_code(&pod, "client"),
            Some(0),
            "{bind} <- {target}: {r:?}"
        );
        assert!(r.stderr.contains("client | hi"), "{r:?}");
        assert!(
            r.stderr.contains("-> ") && r.stderr.contains("(web/app) connected"),
            "--trace-net shows the connection: {r:?}"
        );
    }
}

#[test]
fn pods_get_addresses_in_manifest_order() {
    let m = format!(
        "{}---\n{}",
        pod("first", &c("a", "exit, \"0\"")),
        pod("second", &c("a", "exit, \"0\""))
    );
    let r = run_json(&m, &[]);
    let list = r.json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items[0]["status"]["podIP"], "10.88.0.2", "{r:?}");
    assert_eq!(items[1]["status"]["podIP"], "10.88.0.3");
    assert_eq!(items[1]["status"]["podIPs"][0]["ip"], "10.88.0.3");
}

#[test]
fn address_in_use_inside_a_pod_names_both_containers() {
    let r = run(&pod(
        "clash",
        &format!(
            "{}{}",
            c("first", "bind, \"0.0.0.0:7000\", \"2\""),
            c("second", "bind, \"127.0.0.1:7000\", \"2\"")
        ),
    ));
    let pod = r.json();
    // Containers start in no particular order: whichever binds second gets the error.
    let (loser, winner, addr) = if exit_code(&pod, "second") == Some(2) {
        ("second", "first", "127.0.0.1:7000")
    } else {
        ("first", "second", "0.0.0.0:7000")
    };
    assert_eq!(exit_code(&pod, loser), Some(2), "{r:?}");
    assert_eq!(exit_code(&pod, winner), Some(0), "{r:?}");
    assert!(r.stderr.contains("AddrInUse"), "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "clash/{loser} bind {addr}: address already in use (held by clash/{winner})"
        )),
        "{r:?}"
    );
}

#[test]
fn the_same_port_in_two_pods_and_pod_to_pod_by_name_and_ip() {
    let m = format!(
        "{}---\n{}",
        pod(
            "server",
            &c("app", "serve, \"0.0.0.0:8080\", \"from server\"")
        ),
        pod(
            "client",
            &format!(
                "{}{}{}",
                c("own", "serve, \"0.0.0.0:8080\", \"from client pod\""),
                c("by-name", "get, \"server:8080\""),
                c("by-ip", "get, \"10.88.0.2:8080\"")
            )
        )
    );
    let r = run_clients(&m, &["client/by-name", "client/by-ip"]);
    let list = r.json();
    let client = &list["items"][1];
    assert_eq!(exit_code(client, "by-name"), Some(0), "{r:?}");
    assert_eq!(exit_code(client, "by-ip"), Some(0), "{r:?}");
    assert!(
        has_line(&r.stderr, "client/by-name", "from server"),
        "{r:?}"
    );
    assert!(has_line(&r.stderr, "client/by-ip", "from server"), "{r:?}");
    // Both pods bound 8080 at the same time without a conflict.
    assert!(!r.stderr.contains("address already in use"), "{r:?}");
    assert!(
        r.stderr.contains("client/by-ip 10.88.0.3:"),
        "the source is the pod IP: {r:?}"
    );
}

#[test]
fn loopback_listeners_are_private_to_their_pod() {
    let m = format!(
        "{}---\n{}",
        pod("private", &c("app", "serve, \"127.0.0.1:9090\", secret")),
        pod(
            "outsider",
            &format!(
                "{}{}",
                c("by-ip", "try-get, \"10.88.0.2:9090\", /, \"1000\""),
                c("own-loopback", "try-get, \"127.0.0.1:9090\", /, \"1000\"")
            )
        )
    );
    let r = run_clients(&m, &["outsider/by-ip", "outsider/own-loopback"]);
    let list = r.json();
    let outsider = &list["items"][1];
    assert_eq!(exit_code(outsider, "by-ip"), Some(2), "{r:?}");
    assert_eq!(exit_code(outsider, "own-loopback"), Some(2), "{r:?}");
    assert!(r.stderr.contains("ConnectionRefused"), "{r:?}");
    assert!(!r.stderr.contains("secret"), "{r:?}");
    // The server was listening before the attempts, so the refusals are isolation, not timing.
    let listen = r.stderr.find("private/app listen 127.0.0.1:9090");
    let refused = r.stderr.find("outsider/by-ip 10.88.0.3:");
    assert!(listen.is_some() && listen < refused, "{r:?}");
}

#[test]
fn unknown_names_do_not_resolve() {
    let r = run(&pod("lonely", &c("c", "try-get, \"example.com:80\"")));
    assert_eq!(exit_code(&r.json(), "c"), Some(2), "{r:?}");
    assert!(
        r.stderr
            .contains("lookup example.com: name unknown in the pod network"),
        "{r:?}"
    );
}

#[test]
fn half_close_and_eof() {
    let r = run_clients(
        &pod(
            "halves",
            &format!(
                "{}{}",
                c("echo", "echo-server, \"0.0.0.0:7007\""),
                c("client", "send, \"localhost:7007\", \"ping pong\"")
            ),
        ),
        &["halves/client"],
    );
    assert_eq!(exit_code(&r.json(), "client"), Some(0), "{r:?}");
    assert!(r.stderr.contains("client | reply: ping pong"), "{r:?}");
}

#[test]
fn udp_round_trip_between_containers() {
    let r = run_clients(
        &pod(
            "udp",
            &format!(
                "{}{}",
                c("echo", "udp-echo, \"0.0.0.0:5353\""),
                c("client", "udp-send, \"localhost:5353\", hello-udp")
            ),
        ),
        &["udp/client"],
    );
    assert_eq!(exit_code(&r.json(), "client"), Some(0), "{r:?}");
    assert!(
        r.stderr
            .contains("client | reply from 127.0.0.1:5353: hello-udp"),
        "{r:?}"
    );
}

fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
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

fn spawn_run(manifest: &str, args: &[&str]) -> (Scratch, std::process::Child) {
    let s = Scratch::new("publish");
    let f = s.write("pod.yaml", manifest);
    let child = wpod()
        .arg("run")
        .args(args)
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wpod");
    (s, child)
}

fn stop(child: std::process::Child) -> (String, String) {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn published_nginx_answers_a_host_client() {
    let port = free_port();
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: nginx}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: nginx\n    image: nginx:1.14.2\n    ports:\n    - containerPort: 80\n";
    let (_s, child) = spawn_run(manifest, &["--publish", &format!("{port}:80")]);
    let page = http_get(port);
    let (stdout, stderr) = stop(child);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Welcome to nginx"), "{page}");
    assert!(
        stdout.contains("\"GET / HTTP/1.1\" 200"),
        "access log: {stdout}\n{stderr}"
    );
}

#[test]
fn host_port_reaches_the_pod_ip_only() {
    on_backends(|backend| {
        let (open, closed) = (free_port(), free_port());
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: hp}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  \
             - name: public\n    image: testkit\n    command: [testkit, serve, \"0.0.0.0:8080\", public]\n    ports: [{{containerPort: 8080, hostPort: {open}}}]\n  \
             - name: local\n    image: testkit\n    command: [testkit, serve, \"127.0.0.1:9090\", local]\n    ports: [{{containerPort: 9090, hostPort: {closed}}}]\n"
        );
        let (_s, child) = spawn_run(&manifest, &["--backend", backend]);
        let page = http_get(open);
        // A hostPort arrives at the pod IP: a server bound to the pod's loopback is not reachable.
        let mut s =
            std::net::TcpStream::connect(("127.0.0.1", closed)).expect("host side is bound");
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET / HTTP/1.1\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let r = end_when(child, |_| true);
        assert!(page.contains("public"), "{backend}: {page}\n{r:?}");
        assert!(out.is_empty(), "{backend}: {out}");
        assert!(
            r.stderr
                .contains(&format!("publishing 127.0.0.1:{open} -> hp:8080")),
            "{backend}: {r:?}"
        );
        // The sandbox's listeners close with it.
        std::net::TcpListener::bind(("127.0.0.1", open)).expect("the hostPort is free again");
    });
}

#[test]
fn a_busy_publish_port_is_refused_before_the_pod_starts() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let r = run_json(
        &pod("busy", &c("c", "exit, \"0\"")),
        &["--publish", &format!("{port}:80")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("cannot publish 127.0.0.1:{port}")),
        "{r:?}"
    );
    assert!(!r.stderr.contains("Started"), "{r:?}");
}

#[test]
fn a_busy_or_doubly_claimed_host_port_is_refused_before_any_pod_starts() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = holder.local_addr().expect("addr").port();
    let ported = |name: &str, port: u16| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  \
             containers:\n    - {{name: c, image: testkit, command: [testkit, exit, \"0\"], ports: [{{containerPort: 80, hostPort: {port}}}]}}\n"
        )
    };
    let r = run_json(&ported("busy", busy), &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "cannot publish 127.0.0.1:{busy} (hostPort of pod busy)"
        )),
        "{r:?}"
    );
    assert!(!r.stderr.contains("Started"), "{r:?}");
    // Two pods of one run asking for one port: the second cannot have it.
    let free = free_port();
    let both = format!("{}---\n{}", ported("first", free), ported("second", free));
    let r = run_json(&both, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "cannot publish 127.0.0.1:{free} (hostPort of pod second)"
        )),
        "{r:?}"
    );
}

/// Inodes of the AF_INET/AF_INET6 sockets in the machine's network namespace.
fn inet_inodes() -> std::collections::HashSet<String> {
    let mut set = std::collections::HashSet::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some(inode) = line.split_whitespace().nth(9) {
                set.insert(inode.to_string());
            }
        }
    }
    set
}

#[test]
fn guest_traffic_opens_no_host_socket() {
    if !std::path::Path::new("/proc/net/tcp").exists() {
        eprintln!("skipped: needs Linux /proc to inspect sockets");
        return;
    }
    let manifest = pod(
        "quiet",
        &format!(
            "{}{}",
            c("echo", "echo-server, \"0.0.0.0:7007\""),
            c(
                "client",
                "ping-pong, \"localhost:7007\", \"200000\", \"64\""
            )
        ),
    );
    let (_s, child) = spawn_run(&manifest, &["--timeout", "20s", "--trace-net"]);
    let pid = child.id();
    let mut sockets = Vec::new();
    let mut inet = std::collections::HashSet::new();
    // Looked at once the client is connected, while 200000 round trips keep the guests talking.
    let r = end_when(child, |line| {
        if !line.contains("(quiet/echo) connected") {
            return false;
        }
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd dir")
            .flatten()
        {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy().into_owned();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|x| x.strip_suffix(']')) {
                    sockets.push(inode.to_string());
                }
            }
        }
        inet = inet_inodes();
        true
    });
    assert!(
        r.stderr.contains("(quiet/echo) connected"),
        "the guests were talking while we looked: {r:?}"
    );
    let leaked: Vec<&String> = sockets.iter().filter(|i| inet.contains(*i)).collect();
    assert!(leaked.is_empty(), "wpod holds AF_INET sockets {leaked:?}");
}
