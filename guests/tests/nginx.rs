//! End-to-end tests of the native `nginx` guest: each test starts the binary on an ephemeral
//! loopback port with a temporary document root and talks HTTP to it over std::net.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Server {
    child: Child,
    port: u16,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn start(root: &Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nginx"));
    cmd.args(["-g", "daemon off;", "-p", "0", "-r"])
        .arg(root)
        .env_remove("NGINX_PORT")
        .env_remove("PORT")
        .env_remove("NGINX_ROOT")
        .env_remove("NGINX_AUTOINDEX")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn nginx");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let mut server = Server {
        child,
        port: 0,
        stdout,
        stderr,
    };
    loop {
        let line = server
            .stderr
            .recv_timeout(TIMEOUT)
            .expect("nginx did not report its port");
        if let Some(rest) = line.split("listening on 0.0.0.0:").nth(1) {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            server.port = port.parse().expect("port");
            break;
        }
    }
    server
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("wpod-nginx-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("html")).expect("mkdir");
        TempDir(dir)
    }

    fn root(&self) -> PathBuf {
        self.0.join("html")
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let path = self.root().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, data).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `s`; `buf` carries bytes across pipelined responses.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head: bool) -> Resp {
    let mut chunk = [0u8; 65536];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).expect("read head");
        assert!(n > 0, "connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8(buf[..end].to_vec()).expect("utf8 head");
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(": ").expect("header");
            (n.to_string(), v.to_string())
        })
        .collect();
    buf.drain(..end);
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "Content-Length")
        .map_or(0, |(_, v)| v.parse().expect("length"));
    let len = if head || status == 304 { 0 } else { len };
    while buf.len() < len {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Resp {
        status,
        headers,
        body,
    }
}

fn request(port: u16, raw: &str) -> Resp {
    let mut s = connect(port);
    s.write_all(raw.as_bytes()).expect("write");
    read_response(&mut s, &mut Vec::new(), raw.starts_with("HEAD "))
}

fn get(port: u16, path: &str) -> Resp {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 16];
    assert_eq!(s.read(&mut b).expect("read after close"), 0, "expected EOF");
}

#[test]
fn get_and_head() {
    let dir = TempDir::new("get");
    dir.write("index.html", b"<h1>hi</h1>");
    dir.write("style.css", b"body{}");
    dir.write("app.wasm", b"\0asm");
    let srv = start(&dir.root(), &[]);
    let r = get(srv.port, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>hi</h1>");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.header("Content-Length"), Some("11"));
    assert_eq!(r.header("Server"), Some("nginx (wpod)"));
    assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")));
    assert!(r.header("Last-Modified").is_some());
    assert_eq!(r.header("Connection"), Some("close"));
    let r = get(srv.port, "/style.css?v=3");
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("text/css"))
    );
    let r = get(srv.port, "/app.wasm");
    assert_eq!(r.header("Content-Type"), Some("application/wasm"));

    // HEAD: same headers, no body; the connection stays usable.
    let mut s = connect(srv.port);
    let mut buf = Vec::new();
    s.write_all(b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let r = read_response(&mut s, &mut buf, true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("11"));
    let lm = r.header("Last-Modified").expect("lm").to_string();
    s.write_all(
        format!("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {lm}\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 304);
    assert!(buf.is_empty());
}

#[test]
fn errors_404_405_400() {
    let dir = TempDir::new("errors");
    dir.write("index.html", b"x");
    let srv = start(&dir.root(), &[]);
    let r = get(srv.port, "/missing.txt");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text().replace("\r\n", ""),
        "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx (wpod)</center></body></html>"
    );
    let r = request(
        srv.port,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    assert!(r.text().contains("405 Not Allowed"));
    let r = request(srv.port, "DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
    let r = request(srv.port, "GARBAGE\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let r = request(srv.port, &big);
    assert_eq!(r.status, 431);
    // A 405 with a body keeps the connection: the body is skipped.
    let mut s = connect(srv.port);
    let mut buf = Vec::new();
    s.write_all(b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).status, 405);
    assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
}

#[test]
fn directories() {
    let dir = TempDir::new("dirs");
    dir.write("sub/index.html", b"sub index");
    dir.write("empty/file.txt", b"f");
    let srv = start(&dir.root(), &[]);
    let r = get(srv.port, "/sub?a=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/sub/?a=1"));
    let r = get(srv.port, "/sub/");
    assert_eq!((r.status, r.text().as_str()), (200, "sub index"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = get(srv.port, "/empty/");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("403 Forbidden"));
    let r = get(srv.port, "/empty/file.txt");
    assert_eq!(
        (r.header("Content-Type"), r.text().as_str()),
        (Some("text/plain"), "f")
    );
    drop(srv);

    let srv = start(&dir.root(), &[("NGINX_AUTOINDEX", "on")]);
    let r = get(srv.port, "/empty/");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("<a href=\"file.txt\">file.txt</a>"),
        "{}",
        r.text()
    );
}

#[test]
fn traversal_is_refused() {
    let dir = TempDir::new("traversal");
    dir.write("index.html", b"ok");
    std::fs::write(dir.0.join("secret.txt"), b"SECRET").expect("write");
    let srv = start(&dir.root(), &[]);
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/a/../../secret.txt",
        "/..%2fsecret.txt",
        "/./../secret.txt",
        "/index.html%00.txt",
        "/%zz",
        "secret.txt",
    ] {
        let r = get(srv.port, path);
        assert!(
            matches!(r.status, 400 | 404),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("SECRET"), "{path}");
    }
    // `..` that stays inside the root is fine.
    let r = get(srv.port, "/a/../index.html");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let r = get(srv.port, "http://evil/../secret.txt");
    assert_eq!(r.status, 400);
}

#[test]
fn keep_alive_and_pipelining() {
    let dir = TempDir::new("keepalive");
    dir.write("a.txt", b"AAA");
    dir.write("b.txt", b"BB");
    let srv = start(&dir.root(), &[]);
    let mut s = connect(srv.port);
    let mut buf = Vec::new();
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(
        (r.text().as_str(), r.header("Connection")),
        ("AAA", Some("keep-alive"))
    );
    s.write_all(b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).text(), "BB");

    // Three pipelined requests in one write, answered in order; the last closes.
    s.write_all(
        b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).text(), "BB");
    let r = read_response(&mut s, &mut buf, true);
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("3")));
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(
        (r.text().as_str(), r.header("Connection")),
        ("AAA", Some("close"))
    );
    assert!(buf.is_empty());
    assert_closed(&mut s);

    // HTTP/1.0 closes unless asked to keep alive.
    let mut s = connect(srv.port);
    s.write_all(b"GET /a.txt HTTP/1.0\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.header("Connection"), Some("close"));
    assert_closed(&mut s);
    let mut s = connect(srv.port);
    s.write_all(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect("write");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    s.write_all(b"GET /b.txt HTTP/1.0\r\n\r\n").expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).text(), "BB");
    assert_closed(&mut s);
}

#[test]
fn slow_client_does_not_block_others() {
    let dir = TempDir::new("slow");
    dir.write("index.html", b"fast");
    let srv = start(&dir.root(), &[]);
    slow_client_checks(&srv);
}

/// The fallback loop (used when `poll` is unavailable) serves concurrent clients too.
#[test]
fn fallback_loop_without_poll() {
    let dir = TempDir::new("nopoll");
    dir.write("index.html", b"fast");
    dir.write("small.txt", b"small");
    let srv = start(&dir.root(), &[("WPOD_NGINX_NO_POLL", "1")]);
    slow_client_checks(&srv);
    large_file_checks(&srv, &dir);
}

fn slow_client_checks(srv: &Server) {
    let mut slow = connect(srv.port);
    slow.write_all(b"GET /index.html HTTP/1.1\r\nHo")
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..3 {
        let r = get(srv.port, "/");
        assert_eq!(r.text(), "fast");
    }
    // A client that only connects and says nothing does not block either.
    let _silent = connect(srv.port);
    assert_eq!(get(srv.port, "/").text(), "fast");
    slow.write_all(b"st: x\r\n\r\n").expect("write");
    let r = read_response(&mut slow, &mut Vec::new(), false);
    assert_eq!(r.text(), "fast");
    // The client half-closes after its request: it still gets the answer.
    let mut s = connect(srv.port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(read_response(&mut s, &mut Vec::new(), false).text(), "fast");
    assert_closed(&mut s);
}

#[test]
fn large_file_streams_while_others_are_served() {
    let dir = TempDir::new("large");
    dir.write("small.txt", b"small");
    let srv = start(&dir.root(), &[]);
    large_file_checks(&srv, &dir);
}

fn large_file_checks(srv: &Server, dir: &TempDir) {
    let big: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    dir.write("big.bin", &big);
    let mut s = connect(srv.port);
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    // Read only a little of the big response, then get something else on another connection.
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).expect("read");
    assert!(n > 0);
    buf.truncate(n);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(srv.port, "/small.txt").text(), "small");
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.header("Content-Length"), Some("5242880"));
    assert!(r.body == big, "body differs");
    // The same connection still works after the big response.
    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert_eq!(read_response(&mut s, &mut buf, false).text(), "small");
}

fn is_access_line(line: &str, rest: &str) -> bool {
    // 127.0.0.1 - - [27/Nov/2026:06:18:04 +0000] "..."
    let Some(after) = line.strip_prefix("127.0.0.1 - - [") else {
        return false;
    };
    let b = after.as_bytes();
    b.len() > 28
        && b[2] == b'/'
        && b[6] == b'/'
        && b[11] == b':'
        && &after[20..28] == " +0000] "
        && after[..2].bytes().all(|c| c.is_ascii_digit())
        && after[7..11].bytes().all(|c| c.is_ascii_digit())
        && &after[28..] == rest
}

#[test]
fn access_and_error_log() {
    let dir = TempDir::new("log");
    dir.write("hello.txt", b"hello");
    let srv = start(&dir.root(), &[]);
    let r = request(
        srv.port,
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nReferer: http://ref/\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let line = srv.stdout.recv_timeout(TIMEOUT).expect("access line");
    assert!(
        is_access_line(
            &line,
            "\"GET /hello.txt HTTP/1.1\" 200 5 \"http://ref/\" \"curl/8.5.0\""
        ),
        "{line}"
    );
    request(srv.port, "HEAD /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
    let line = srv.stdout.recv_timeout(TIMEOUT).expect("access line");
    assert!(
        is_access_line(&line, "\"HEAD /nope HTTP/1.1\" 404 0 \"-\" \"-\""),
        "{line}"
    );
    let err = loop {
        let l = srv.stderr.recv_timeout(TIMEOUT).expect("error line");
        if l.contains(" [error] ") {
            break l;
        }
    };
    assert!(
        err.contains(" [error] ") && err.contains("open() \"") && err.contains("No such file"),
        "{err}"
    );
    assert!(
        err.as_bytes()[4] == b'/' && err.as_bytes()[7] == b'/',
        "{err}"
    );
}

#[test]
fn welcome_page_without_docroot() {
    let srv = start(Path::new("/nonexistent/wpod-nginx"), &[]);
    for path in ["/", "/index.html"] {
        let r = get(srv.port, path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("text/html"));
        assert!(r.text().contains("<title>Welcome to nginx (wpod)!</title>"));
    }
    assert!(
        get(srv.port, "/50x.html")
            .text()
            .contains("An error occurred.")
    );
    assert_eq!(get(srv.port, "/other").status, 404);
}

#[test]
fn bind_failure_and_bad_flags_exit_1() {
    let taken = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_nginx"))
        .args(["-p", &port])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[emerg]") && err.contains("bind() to 0.0.0.0:"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nginx"))
        .args(["-x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(env!("CARGO_BIN_EXE_nginx"))
        .arg("--help")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NGINX_ROOT"));
}
