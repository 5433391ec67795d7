//! End-to-end tests of the native `busybox` binary with the scripts of the Kubernetes docs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BB: &str = env!("CARGO_BIN_EXE_busybox");

struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run_with(args: &[&str], stdin: &[u8], cwd: Option<&std::path::Path>) -> Out {
    let mut c = Command::new(BB);
    c.args(&args[1..])
        .arg0(args[0])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let mut child = c.spawn().expect("spawn busybox");
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = si.write_all(&data);
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

use std::os::unix::process::CommandExt;

fn sh(script: &str) -> Out {
    run_with(&["sh", "-c", script], b"", None)
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bb-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn hello_and_sleep() {
    let t = Instant::now();
    let o = sh("echo Hello Kubernetes! && sleep 1");
    assert_eq!(o.stdout, "Hello Kubernetes!\n");
    assert_eq!(o.code, 0);
    assert!(t.elapsed() >= Duration::from_millis(950));
}

#[test]
fn for_loop() {
    assert_eq!(sh("for i in 1 2 3; do echo $i; done").stdout, "1\n2\n3\n");
}

#[test]
fn counter_loop_with_date() {
    let o = sh(
        "i=0; while true; do echo \"$i: $(date)\"; i=$((i+1)); [ $i -ge 3 ] && break; sleep 0.1; done",
    );
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("{i}: ")), "{l}");
        assert!(l.ends_with(" UTC 2026") || l.contains(" UTC "), "{l}");
    }
}

#[test]
fn counter_to_file_and_tail() {
    let d = tempdir("tail");
    let o = run_with(
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 5 ]; do echo \"line $i\" >> /dev/null; echo \"$i: count\" >> log.txt; i=$((i+1)); done; tail -n 2 log.txt; wc -l < log.txt",
        ],
        b"",
        Some(&d),
    );
    assert_eq!(o.stdout, "3: count\n4: count\n5\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tail_follow_sees_appends() {
    let d = tempdir("follow");
    let f = d.join("log");
    std::fs::write(&f, "first\n").unwrap();
    let mut child = Command::new(BB)
        .args(["tail", "-f"])
        .arg(&f)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "first\n");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(b"second\n")
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "second\n");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn app_is_running_then_sleeps() {
    let mut child = Command::new(BB)
        .args(["-c", "echo The app is running! && sleep 3600"])
        .arg0("sh")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "The app is running!\n");
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn until_nslookup_loops_on_failure() {
    let o = sh(
        "n=0; until nslookup myservice.invalid >/dev/null; do echo waiting for myservice; n=$((n+1)); [ $n -ge 3 ] && exit 9; sleep 0.1; done; echo found",
    );
    assert_eq!(o.stdout, "waiting for myservice\n".repeat(3));
    assert_eq!(o.code, 9);
    let o = sh("until nslookup localhost >/dev/null; do sleep 1; done; echo found");
    assert_eq!(o.stdout, "found\n");
}

#[test]
fn heredocs_functions_case() {
    let o = sh(
        "name=pod\ncat <<EOF\nhello $name\n\tliteral\nEOF\ncat <<-'END'\n\t$name\n\tEND\ngreet() {\n  case \"$1\" in\n    a*) echo \"starts with a: $1\";;\n    *) echo \"other: $1\";;\n  esac\n}\ngreet apple\ngreet pear\n",
    );
    assert_eq!(
        o.stdout,
        "hello pod\n\tliteral\n$name\nstarts with a: apple\nother: pear\n"
    );
}

#[test]
fn ten_megabytes_through_a_pipeline() {
    let data = vec![b'x'; 10 * 1024 * 1024];
    let t = Instant::now();
    let o = run_with(&["sh", "-c", "cat | wc -c"], &data, None);
    assert_eq!(o.stdout.trim(), "10485760");
    let o2 = sh("yes 0123456789abcdef | head -c 10485760 | cat | cat | wc -c");
    assert_eq!(o2.stdout.trim(), "10485760");
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn large_output_to_stdout() {
    let o = sh("seq 1 200000");
    assert_eq!(o.stdout.lines().count(), 200000);
    assert!(o.stdout.ends_with("199999\n200000\n"));
}

#[test]
fn yes_head_terminates() {
    let o = sh("yes | head -n 3");
    assert_eq!(o.stdout, "y\ny\ny\n");
    assert_eq!(o.code, 0);
}

#[test]
fn exit_statuses() {
    assert_eq!(sh("exit 3").code, 3);
    let o = sh("nosuchcmd");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (127, "sh: nosuchcmd: not found\n")
    );
    assert_eq!(sh("false || exit 42").code, 42);
    assert_eq!(sh("exit 300").code, 44);
    assert_eq!(sh("if then").code, 2);
    let o = sh("cat /nonexistent");
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "cat: can't open '/nonexistent': No such file or directory\n"
        )
    );
}

#[test]
fn multicall_names() {
    assert_eq!(
        run_with(&["echo", "hi", "there"], b"", None).stdout,
        "hi there\n"
    );
    assert_eq!(run_with(&["/bin/echo", "x"], b"", None).stdout, "x\n");
    assert_eq!(run_with(&["busybox", "echo", "y"], b"", None).stdout, "y\n");
    let o = run_with(&["busybox"], b"", None);
    assert!(o.stdout.contains("Currently defined functions"));
    let o = run_with(&["busybox", "nope"], b"", None);
    assert_eq!(o.code, 127);
    let o = run_with(&["sh"], b"echo from stdin\nexit 5\n", None);
    assert_eq!((o.stdout.as_str(), o.code), ("from stdin\n", 5));
}

#[test]
fn script_file_with_args() {
    let d = tempdir("script");
    std::fs::write(
        d.join("s.sh"),
        "#!/bin/sh\nset -e\necho \"args: $# $1 $2\"\nfor a in \"$@\"; do echo \"[$a]\"; done\n",
    )
    .unwrap();
    let o = run_with(&["sh", "s.sh", "one", "two words"], b"", Some(&d));
    assert_eq!(o.stdout, "args: 2 one two words\n[one]\n[two words]\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn file_applets() {
    let d = tempdir("files");
    let o = run_with(
        &[
            "sh",
            "-c",
            "mkdir -p a/b/c && touch a/b/c/f && echo data > a/x && cp -r a b && ls -R b | head -n 3; find b -type f | sort; mv b/x b/y; ls b; ln -s y b/link; cat b/link; rm -rf a b; ls",
        ],
        b"",
        Some(&d),
    );
    assert_eq!(o.stdout, "b:\nb\nx\nb/b/c/f\nb/x\nb\ny\ndata\n");
    assert_eq!(o.stderr, "");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn text_applets() {
    let o = sh(
        "printf 'b 2\\na 10\\nc 1\\n' | sort -k2 -n | cut -d' ' -f1 | tr '\\n' ,; echo; echo 'a,b,c' | cut -d, -f2-; printf 'x\\nx\\ny\\n' | uniq -c; echo hello | grep -c l; echo Hello | grep -i hello; echo abc | grep -E 'a(b|x)c' && echo re-ok; echo 'a1b22' | sed -E 's/[0-9]+/<&>/g'; expr 6 \\* 7; basename /a/b/c.txt .txt; dirname /a/b/c.txt; echo foo | sha256sum",
    );
    assert_eq!(
        o.stdout,
        "c,b,a,\nb,c\n      2 x\n      1 y\n1\nHello\nabc\nre-ok\na<1>b<22>\n42\nc\n/a/b\nb5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c  -\n"
    );
}

#[test]
fn xargs_and_env() {
    let o = sh(
        "echo a b c | xargs -n 1 echo item; printf '1\\n2\\n' | xargs -I X sh -c 'echo got X'; env -i FOO=bar env",
    );
    assert_eq!(o.stdout, "item a\nitem b\nitem c\ngot 1\ngot 2\nFOO=bar\n");
}

#[test]
fn term_trap_runs_natively() {
    let mut child = Command::new(BB)
        .args([
            "-c",
            "trap 'echo got TERM; exit 7' TERM; echo ready; sleep 30; echo not-here",
        ])
        .arg0("sh")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    // SAFETY: plain kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(st.code(), Some(7));
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn serve_once(responses: Vec<Vec<u8>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for resp in responses {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(&resp);
        }
    });
    port
}

#[test]
fn wget_fetches_and_reports_errors() {
    let port = serve_once(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
            .to_vec(),
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ]);
    let o = sh(&format!(
        "wget -qO- http://127.0.0.1:{port}/; wget -q -O - http://127.0.0.1:{port}/c; echo; wget -qO- http://127.0.0.1:{port}/missing; echo status=$?"
    ));
    assert_eq!(o.stdout, "hello\nabcde\nstatus=1\n");
    assert_eq!(
        o.stderr,
        "wget: server returned error: HTTP/1.1 404 Not Found\n"
    );
}

#[test]
fn nc_client_and_server() {
    // Client: sends stdin, prints the reply.
    let port = serve_once(vec![b"pong\n".to_vec()]);
    let o = run_with(
        &["nc", "127.0.0.1", &port.to_string()],
        b"GET / HTTP/1.0\r\n\r\n",
        None,
    );
    assert_eq!(o.stdout, "pong\n");
    // Server: `nc -l -p PORT` answers one client.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let child = Command::new(BB)
        .args(["-c", &format!("echo served | nc -l -p {port}")])
        .arg0("sh")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut s = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{e}"),
        }
    };
    s.write_all(b"from client\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "served\n");
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "from client\n");
}
