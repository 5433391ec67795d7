//! Into a running pod with the real kubectl, on both backends: `exec` with an exit code, with
//! piped stdin, with a terminal (driven through a pseudo-terminal), its errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::serve::{Server, kubectl, serve_with, stop, wait_for};
use crate::support::{backends, free_port};

/// `wpod serve` on `backend`, in a data directory of its own.
fn serve_on(backend: &str, test: &str) -> (Server, PathBuf) {
    let dir = std::env::temp_dir().join(format!("wpod-{test}-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    serve_with(&dir, free_port(), &["--backend", backend])
}

/// tests/python/terminal.py in `mode` (exec, attach, run) on `pod`: what the terminal showed,
/// a line per step, and the script's own errors.
fn terminal(config: &Path, mode: &str, pod: &str) -> (String, String) {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/terminal.py"
        ))
        .args([mode, pod])
        .env("KUBECONFIG", config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `wpod serve` on `backend` with the nginx example running.
fn nginx_pod(backend: &str, test: &str) -> (Server, PathBuf) {
    let (server, config) = serve_on(backend, test);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx-pod.yaml");
    let (ok, out, err) = kubectl(&config, &["apply", "-f", example]);
    assert!(ok, "{out}{err}");
    wait_for("nginx-pod Running", || {
        kubectl(
            &config,
            &["get", "pod", "nginx-pod", "-o", "jsonpath={.status.phase}"],
        )
        .1 == "Running"
    });
    (server, config)
}

/// kubectl with `input` on its stdin: (exit code, stdout, stderr).
fn kubectl_in(config: &Path, args: &[&str], input: &[u8]) -> (i32, String, String) {
    kubectl_with(config, &[], args, input)
}

fn kubectl_with(
    config: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    input: &[u8],
) -> (i32, String, String) {
    let mut child = Command::new("kubectl")
        .envs(env.iter().copied())
        .env("KUBECONFIG", config)
        .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs (CI installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("kubectl ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kubectl_exec_runs_commands_in_the_container() {
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "exec");
        let (code, out, err) = kubectl_in(
            &config,
            &[
                "exec",
                "nginx-pod",
                "--",
                "sh",
                "-c",
                "echo $HOSTNAME; echo oops >&2; exit 3",
            ],
            b"",
        );
        assert_eq!(code, 3, "{backend}: {out}{err}");
        assert_eq!(out, "nginx-pod\n", "{backend}");
        assert!(
            err.contains("oops\n") && err.contains("command terminated with exit code 3"),
            "{backend}: {err}"
        );

        let (code, out, err) = kubectl_in(
            &config,
            &[
                "exec",
                "-i",
                "nginx-pod",
                "--",
                "sh",
                "-c",
                "cat; echo done",
            ],
            b"one\ntwo\n",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "one\ntwo\ndone\n"),
            "{backend}: {err}"
        );

        // kubectl's SPDY fallback, forced.
        let spdy = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")];
        let script = "cat; echo oops >&2; exit 5";
        let (code, out, err) = kubectl_with(
            &config,
            &spdy,
            &["exec", "-i", "nginx-pod", "--", "sh", "-c", script],
            b"over spdy\n",
        );
        assert_eq!(code, 5, "{backend} (SPDY): {out}{err}");
        assert_eq!(out, "over spdy\n", "{backend} (SPDY)");
        assert!(
            err.contains("oops\n") && err.contains("command terminated with exit code 5"),
            "{backend} (SPDY): {err}"
        );

        // The exec is a process of the container, beside nginx.
        let (code, out, err) = kubectl_in(&config, &["exec", "nginx-pod", "--", "ps"], b"");
        assert_eq!(code, 0, "{backend}: {err}");
        assert!(
            out.contains("nginx") && out.contains("ps"),
            "{backend}: {out}"
        );

        let (code, _, err) = kubectl_in(&config, &["exec", "nginx-pod", "--", "nosuch"], b"");
        assert_eq!(code, 127, "{backend}: {err}");
        assert!(
            err.contains("\"nosuch\": executable file not found in $PATH"),
            "{backend}: {err}"
        );
        let (code, _, err) = kubectl_in(
            &config,
            &["exec", "nginx-pod", "-c", "nope", "--", "true"],
            b"",
        );
        assert_eq!(code, 1, "{backend}: {err}");
        assert!(
            err.contains("container nope is not valid for pod nginx-pod"),
            "{backend}: {err}"
        );
        stop(server);
    }
}

#[test]
fn kubectl_exec_it_gives_an_interactive_shell_on_a_terminal() {
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "exec-tty");
        let (shown, errors) = terminal(&config, "exec", "nginx-pod");
        let steps: Vec<&str> = shown.lines().collect();
        assert_eq!(steps.len(), 8, "{backend}: {shown}{errors}");
        // The prompt; the typed line echoed, its output; the line recalled and edited; ^C
        // shown and a new prompt.
        assert_eq!(steps[0], "b'# '", "{backend}");
        assert_eq!(steps[1], r"b'echo hi\r\nhi\r\n# '", "{backend}");
        assert!(
            steps[2].contains("echo Xhi") && steps[2].ends_with(r"\r\nXhi\r\n# '"),
            "{backend}: {shown}"
        );
        assert_eq!(steps[3], r"b'sleep 100\r\n^C\r\n# '", "{backend}");
        let seconds: f64 = steps[4]
            .strip_prefix("interrupted in ")
            .and_then(|s| s.strip_suffix(" s"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::MAX);
        assert!(
            seconds < 5.0,
            "{backend}: ^C did not end the sleep: {shown}"
        );
        // The window size kubectl sent.
        assert_eq!(steps[5], r"b'stty size\r\n33 111\r\n# '", "{backend}");
        assert!(
            steps[6].contains(r"exit 7\r\ncommand terminated with exit code 7"),
            "{backend}: {shown}"
        );
        assert_eq!(steps[7], "exit 7", "{backend}");
        stop(server);
    }
}

/// `kubectl port-forward` in its two transports (SPDY tunnelled in a WebSocket, kubectl's
/// default, and plain SPDY, its fallback), then HTTP to nginx through the forwarded port; a port
/// nothing listens on gives the kubelet's error and ends the forward.
#[test]
fn kubectl_port_forward_reaches_the_pod() {
    use std::io::{BufRead as _, BufReader};
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "port-forward");
        for websockets in ["true", "false"] {
            let local = free_port();
            let mut forward = Command::new("kubectl")
                .env("KUBECONFIG", &config)
                .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
                .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", websockets)
                .args(["port-forward", "pod/nginx-pod", &format!("{local}:80")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("kubectl runs");
            let mut line = String::new();
            let mut stdout = BufReader::new(forward.stdout.take().expect("stdout"));
            stdout.read_line(&mut line).expect("a line");
            assert!(line.starts_with("Forwarding from"), "{backend}: {line}");
            // kubectl reports each connection on stdout: keep reading it.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            for _ in 0..3 {
                let page = crate::support::http_get(local);
                assert!(
                    page.starts_with("HTTP/1.1 200") && page.contains("Welcome to nginx"),
                    "{backend} websockets={websockets}: {page}"
                );
            }
            let _ = forward.kill();
            let _ = forward.wait();
        }
        let local = free_port();
        let forward = Command::new("kubectl")
            .env("KUBECONFIG", &config)
            .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
            .args(["port-forward", "pod/nginx-pod", &format!("{local}:81")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let connected = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", local)).is_ok()
        });
        assert!(connected, "{backend}: kubectl listens");
        let out = forward.wait_with_output().expect("kubectl ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains("error forwarding port 81 to pod nginx-pod")
                && err.contains("connection refused")
                && err.contains("lost connection to pod"),
            "{backend}: {err}"
        );
        stop(server);
    }
}

/// The official Python client's `stream(connect_get_namespaced_pod_exec, ...)` and
/// `portforward(...)` (tests/python/streams.py).
#[test]
fn the_python_client_execs_and_forwards_ports() {
    let python = crate::python_client::python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/streams.py");
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "python-streams");
        let out = Command::new(&python)
            .arg(script)
            .arg(&config)
            .arg("nginx-pod")
            .output()
            .expect("python runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{backend}: {stdout}{stderr}");
        assert_eq!(stdout.matches("ok ").count(), 4, "{backend}: {stdout}");
        stop(server);
    }
}

/// `kubectl cp` both ways: exec of the toolbox's `tar` (`tar -xmf - -C DIR` in, `tar cf - PATH`
/// out), a directory tree with a binary file arriving byte for byte.
#[test]
fn kubectl_cp_copies_files_in_and_out() {
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "cp");
        let local = config.with_file_name("cp-local");
        let _ = std::fs::remove_dir_all(&local);
        std::fs::create_dir_all(local.join("src/sub")).expect("mkdir");
        std::fs::write(local.join("src/a.txt"), "hello\n").expect("write");
        let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(local.join("src/sub/data.bin"), &binary).expect("write");
        let long = "n".repeat(120);
        std::fs::write(local.join("src").join(&long), "long name\n").expect("write");
        let run = |args: &[&str]| {
            let out = Command::new("kubectl")
                .current_dir(&local)
                .env("KUBECONFIG", &config)
                .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
                .args(args)
                .output()
                .expect("kubectl runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{backend} {args:?}: {text}");
            text
        };
        run(&["cp", "src", "nginx-pod:/tmp/dest"]);
        let inside = run(&["exec", "nginx-pod", "--", "cat", "/tmp/dest/a.txt"]);
        assert_eq!(inside, "hello\n", "{backend}");
        let sums = run(&[
            "exec",
            "nginx-pod",
            "--",
            "md5sum",
            "/tmp/dest/sub/data.bin",
        ]);
        assert!(sums.contains("/tmp/dest/sub/data.bin"), "{backend}: {sums}");
        run(&["cp", "nginx-pod:/tmp/dest", "back"]);
        assert_eq!(
            std::fs::read(local.join("back/sub/data.bin")).ok(),
            Some(binary),
            "{backend}"
        );
        assert_eq!(
            std::fs::read_to_string(local.join("back").join(&long))
                .ok()
                .as_deref(),
            Some("long name\n"),
            "{backend}"
        );
        run(&["cp", "nginx-pod:/tmp/dest/a.txt", "one.txt"]);
        assert_eq!(
            std::fs::read_to_string(local.join("one.txt"))
                .ok()
                .as_deref(),
            Some("hello\n"),
            "{backend}"
        );
        stop(server);
    }
}

/// `kubectl attach` to a container's main process: `-i` with piped stdin to a container with
/// `stdin: true` (and `stdinOnce`: its stdin closes with the client), and `-it` to a shell in a
/// container with `tty: true`, driven through a pseudo-terminal.
#[test]
fn kubectl_attach_reaches_the_main_process() {
    for backend in backends() {
        let (server, config) = serve_on(backend, "attach");
        let manifest = config.with_file_name("attach.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: reader}\nspec:\n  restartPolicy: Never\n  \
             containers:\n  - name: c\n    image: busybox\n    stdin: true\n    stdinOnce: true\n    \
             command: [sh, -c, 'while read line; do echo got $line; done; echo eof']\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: shell}\nspec:\n  restartPolicy: Never\n  \
             containers:\n  - name: c\n    image: busybox\n    stdin: true\n    tty: true\n    \
             command: [sh]\n",
        )
        .expect("write");
        let (ok, out, err) = kubectl(&config, &["apply", "-f", &manifest.to_string_lossy()]);
        assert!(ok, "{out}{err}");
        let phase = |pod: &str| {
            kubectl(
                &config,
                &["get", "pod", pod, "-o", "jsonpath={.status.phase}"],
            )
            .1
        };
        wait_for("both pods Running", || {
            phase("reader") == "Running" && phase("shell") == "Running"
        });
        let (code, out, err) = kubectl_in(&config, &["attach", "-i", "reader"], b"one\ntwo\n");
        assert_eq!(code, 0, "{backend}: {out}{err}");
        assert_eq!(out, "got one\ngot two\neof\n", "{backend}: {err}");
        wait_for("reader Succeeded", || phase("reader") == "Succeeded");
        let (_, logs, _) = kubectl(&config, &["logs", "reader"]);
        assert_eq!(logs, "got one\ngot two\neof\n", "{backend}");

        let (shown, errors) = terminal(&config, "attach", "shell");
        let steps: Vec<&str> = shown.lines().collect();
        assert_eq!(steps.len(), 9, "{backend}: {shown}{errors}");
        assert!(
            steps[0].contains("If you don't see a command prompt, try pressing enter."),
            "{backend}: {shown}"
        );
        // Enter gives a prompt (the shell's first one may come too, if it started late).
        assert!(steps[1].ends_with(r"\r\n# '"), "{backend}: {shown}");
        assert_eq!(steps[2], r"b'echo hi\r\nhi\r\n# '", "{backend}: {shown}");
        assert!(steps[3].ends_with(r"Xhi\r\n# '"), "{backend}: {shown}");
        assert_eq!(steps[4], r"b'sleep 100\r\n^C\r\n# '", "{backend}: {shown}");
        assert_eq!(steps[6], r"b'stty size\r\n33 111\r\n# '", "{backend}");
        assert_eq!(steps[8], "exit 0", "{backend}: {shown}");
        wait_for("shell Failed with 7", || {
            kubectl(
                &config,
                &[
                    "get",
                    "pod",
                    "shell",
                    "-o",
                    "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
                ],
            )
            .1 == "7"
        });
        stop(server);
    }
}

/// `kubectl run -it --rm --restart=Never --image=busybox NAME -- sh`: the pod is created with
/// stdin, stdinOnce and tty, kubectl waits for it to run, attaches, and when the shell exits
/// with 7 deletes the pod and exits 7 itself.
#[test]
fn kubectl_run_it_gives_a_shell_in_a_new_pod() {
    for backend in backends() {
        let (server, config) = serve_on(backend, "run-it");
        let (shown, errors) = terminal(&config, "run", "scratch");
        let steps: Vec<&str> = shown.lines().collect();
        assert_eq!(steps.len(), 9, "{backend}: {shown}{errors}");
        assert!(steps[1].ends_with(r"\r\n# '"), "{backend}: {shown}");
        assert_eq!(steps[2], r"b'echo hi\r\nhi\r\n# '", "{backend}: {shown}");
        assert!(steps[3].ends_with(r"Xhi\r\n# '"), "{backend}: {shown}");
        assert_eq!(steps[4], r"b'sleep 100\r\n^C\r\n# '", "{backend}: {shown}");
        assert_eq!(steps[6], r"b'stty size\r\n33 111\r\n# '", "{backend}");
        assert!(
            steps[7].contains(r#"pod "scratch" deleted"#),
            "{backend}: {shown}"
        );
        assert_eq!(steps[8], "exit 7", "{backend}: {shown}");
        wait_for("the pod deleted", || {
            kubectl(&config, &["get", "pods", "-o", "name"])
                .1
                .is_empty()
        });
        stop(server);
    }
}

/// A client that goes away takes its exec's command with it: nothing is left running in the
/// container (kubectl killed in the middle of `sleep 1000`).
#[test]
fn an_exec_ends_when_its_client_goes_away() {
    for backend in backends() {
        let (server, config) = nginx_pod(backend, "exec-gone");
        let mut client = Command::new("kubectl")
            .env("KUBECONFIG", &config)
            .env("KUBECACHEDIR", config.with_file_name("kube-cache"))
            .args(["exec", "nginx-pod", "--", "sh", "-c", "sleep 1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl runs");
        let sleeping = || {
            let (_, ps, _) = kubectl_in(&config, &["exec", "nginx-pod", "--", "ps"], b"");
            ps.contains("sleep 1000")
        };
        wait_for("the exec's sleep in ps", sleeping);
        let _ = client.kill();
        let _ = client.wait();
        wait_for("the exec's sleep gone", || !sleeping());
        stop(server);
    }
}
