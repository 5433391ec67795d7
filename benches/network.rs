//! Pod network figures: the same guests over wpod's virtual network and over host loopback through
//! wasmtime-wasi's own sockets (a `hostNetwork: true` pod). Prints; never fails on time.
//!
//! Run with `cargo bench --bench network`.

use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs a two-container pod (server, client) and returns the client's output lines.
fn run(host_network: bool, server: &str, client: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("wpod-netbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: bench}}\nspec:\n  hostNetwork: {host_network}\n  \
             restartPolicy: Never\n  terminationGracePeriodSeconds: 0\n  containers:\n  \
             - {{name: server, image: testkit, command: [testkit, {server}]}}\n  \
             - {{name: client, image: testkit, command: [testkit, {client}]}}\n"
        ),
    )
    .expect("manifest");
    let out = Command::new(env!("CARGO_BIN_EXE_wpod"))
        .args(["run", "-q", "--color", "never", "--timeout", "60s"])
        .arg(&manifest)
        .output()
        .expect("wpod run");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("client | ").map(str::to_string))
        .collect()
}

/// The first number after `key` in the client's report.
fn figure(lines: &[String], key: &str) -> f64 {
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(key)? + key.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no `{key}` in client output {lines:?}"))
}

fn main() {
    let mut rows = Vec::new();
    for (name, host) in [
        ("virtual pod network", false),
        ("host loopback (wasmtime-wasi)", true),
    ] {
        let port = if host { free_port() } else { 7007 };
        let lines = run(
            host,
            &format!("echo-server, \"127.0.0.1:{port}\""),
            &format!("ping-pong, \"127.0.0.1:{port}\", \"20000\", \"64\""),
        );
        let rtt = figure(&lines, "median");
        let port = if host { free_port() } else { 7008 };
        let lines = run(
            host,
            &format!("sink, \"127.0.0.1:{port}\""),
            &format!("bulk, \"127.0.0.1:{port}\", \"1024\""),
        );
        let mibs = figure(&lines, "MiB:");
        println!("{name:<32} round trip (64 B) median {rtt:>8.1} us   bulk {mibs:>8.0} MiB/s");
        rows.push((rtt, mibs));
    }
    let (virt, host) = (rows[0], rows[1]);
    println!(
        "virtual/host: round trip {:.2}x (target <= 0.33), throughput {:.1}x (target >= 3)",
        virt.0 / host.0,
        virt.1 / host.1
    );
}
