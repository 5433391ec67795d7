//! Network applets: `wget`, `nc`, `nslookup`, `hostname`.
//!
//! They use std::net only (on wasm32-wasip2 that is wasi:sockets). `nc` relays both directions
//! at once when its stdin is the container's (an interactive session, a TLS handshake through
//! `kubectl exec -i`), waiting on both with poll(2) as busybox's does; with a file or a pipe of
//! the shell as stdin it first sends all of it, half-closes, then copies the socket to stdout.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{finish, opts};
use crate::io::{Ctx, errstr};

fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let mut v: Vec<SocketAddr> = (h, port).to_socket_addrs()?.collect();
    v.dedup();
    Ok(v)
}

fn connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, String> {
    let addrs = resolve(host, port).map_err(|_| format!("bad address '{host}'"))?;
    let mut last = String::from("no address");
    for a in &addrs {
        let r = match timeout {
            Some(t) => TcpStream::connect_timeout(a, t),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("can't connect to remote host ({}): {}", a.ip(), errstr(&e)),
        }
    }
    Err(last)
}

fn hostname_of(ctx: &Ctx) -> String {
    if let Some(h) = ctx.getenv("HOSTNAME").filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            return h.to_string();
        }
    }
    let n = crate::sys::uname().nodename;
    if n.is_empty() { "localhost".into() } else { n }
}

pub fn hostname(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "hostname", args, "isfdF:") else {
        return 1;
    };
    if !o.args.is_empty() || o.has('F') {
        ctx.error("hostname", "sethostname: Operation not permitted");
        return 1;
    }
    let name = hostname_of(ctx);
    if o.has('i') {
        if let Some(ip) = ctx.getenv("WPOD_POD_IP").filter(|i| !i.is_empty()) {
            ctx.write_out(format!("{ip}\n").as_bytes());
            return 0;
        }
        return match resolve(&name, 0) {
            Ok(a) if !a.is_empty() => {
                let ips: Vec<String> = a.iter().map(|a| a.ip().to_string()).collect();
                ctx.write_out(format!("{}\n", ips.join(" ")).as_bytes());
                0
            }
            _ => {
                ctx.error("hostname", format!("{name}: Unknown host"));
                1
            }
        };
    }
    let out = if o.has('s') {
        name.split('.').next().unwrap_or(&name).to_string()
    } else if o.has('d') {
        name.split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default()
    } else {
        name
    };
    ctx.write_out(format!("{out}\n").as_bytes());
    0
}

pub fn nslookup(ctx: &mut Ctx, args: &[String]) -> i32 {
    let ops: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let Some(name) = ops.first() else {
        ctx.error(
            "nslookup",
            "usage: nslookup [-type=a|srv] HOST [DNS_SERVER]",
        );
        return 1;
    };
    let conf = resolv_conf();
    let server = ops
        .get(1)
        .map_or(conf.nameserver.clone(), |s| s.to_string());
    let mut s = format!("Server:\t\t{server}\nAddress:\t{server}:53\n\n");
    let kind = args
        .iter()
        .find_map(|a| a.strip_prefix("-type=").or_else(|| a.strip_prefix("-q=")))
        .map(str::to_ascii_lowercase);
    match kind.as_deref() {
        None | Some("a") => {}
        Some("srv") => return srv_lookup(ctx, name, &server, &conf, s),
        Some(other) => {
            ctx.error(
                "nslookup",
                format!("unsupported query type {other} (a, srv)"),
            );
            return 1;
        }
    }
    let addrs = match resolve(name, 0) {
        Ok(a) if !a.is_empty() => a,
        _ => {
            s.push_str(&format!("** server can't find {name}: NXDOMAIN\n\n"));
            ctx.write_out(s.as_bytes());
            return 1;
        }
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    ips.sort_by_key(|ip| ip.is_ipv6());
    for ip in ips {
        s.push_str(&format!("Name:\t{name}\nAddress: {ip}\n\n"));
    }
    ctx.write_out(s.as_bytes());
    0
}

/// What /etc/resolv.conf says: the first name server, the search domains and ndots (the
/// kubelet's are 10.96.0.10, `<ns>.svc.cluster.local svc.cluster.local cluster.local` and 5).
struct ResolvConf {
    nameserver: String,
    searches: Vec<String>,
    ndots: usize,
}

fn resolv_conf() -> ResolvConf {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut conf = ResolvConf {
        nameserver: String::new(),
        searches: Vec::new(),
        ndots: 1,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") if conf.nameserver.is_empty() => {
                conf.nameserver = words.next().unwrap_or_default().to_string();
            }
            Some("search" | "domain") => conf.searches = words.map(str::to_string).collect(),
            Some("options") => {
                for o in words {
                    if let Some(n) = o.strip_prefix("ndots:").and_then(|n| n.parse().ok()) {
                        conf.ndots = n;
                    }
                }
            }
            _ => {}
        }
    }
    if conf.nameserver.is_empty() {
        conf.nameserver = "127.0.0.1".into();
    }
    conf
}

/// `nslookup -type=srv NAME`: an SRV query over UDP to the name server, through the search path
/// as busybox's does, printed as busybox prints it.
fn srv_lookup(ctx: &mut Ctx, name: &str, server: &str, conf: &ResolvConf, mut s: String) -> i32 {
    let mut candidates = Vec::new();
    if !name.ends_with('.') && name.matches('.').count() < conf.ndots {
        candidates.extend(conf.searches.iter().map(|d| format!("{name}.{d}")));
    }
    candidates.push(name.trim_end_matches('.').to_string());
    for fqdn in candidates {
        match dns_srv(server, &fqdn) {
            Ok(records) if !records.is_empty() => {
                for (priority, weight, port, target) in records {
                    s.push_str(&format!(
                        "{fqdn}\tservice = {priority} {weight} {port} {target}\n"
                    ));
                }
                s.push('\n');
                ctx.write_out(s.as_bytes());
                return 0;
            }
            Ok(_) => {}
            Err(e) => {
                ctx.error("nslookup", format!("{server}: {e}"));
                return 1;
            }
        }
    }
    s.push_str(&format!("** server can't find {name}: NXDOMAIN\n\n"));
    ctx.write_out(s.as_bytes());
    1
}

/// One SRV query: (priority, weight, port, target) of each answer; empty for NXDOMAIN.
fn dns_srv(server: &str, name: &str) -> io::Result<Vec<(u16, u16, u16, String)>> {
    const SRV: u16 = 33;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut query = vec![0x77, 0x70, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len()).map_err(|_| bad("label too long"))?;
        query.push(len);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 33, 0, 1]);
    let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
    socket.send_to(&query, (server, 53))?;
    // Waits with poll(2): wasi-libc has no receive timeout for UDP sockets.
    socket.set_nonblocking(true)?;
    let mut fd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&socket),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call's duration.
    if unsafe { libc::poll(&mut fd, 1, 5000) } <= 0 {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
    }
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf)?;
    let m = &buf[..n];
    if m.len() < 12 || m[..2] != query[..2] {
        return Err(bad("not an answer to the query"));
    }
    let u16_at = |i: usize| -> io::Result<u16> {
        m.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("truncated answer"))
    };
    if m[3] & 0x0f != 0 {
        return Ok(Vec::new());
    }
    let answers = u16_at(6)?;
    let (_, mut at) = dns_name(m, 12)?;
    at += 4;
    let mut records = Vec::new();
    for _ in 0..answers {
        let (_, after) = dns_name(m, at)?;
        let (kind, len) = (u16_at(after)?, usize::from(u16_at(after + 8)?));
        let data = after + 10;
        if kind == SRV {
            let (target, _) = dns_name(m, data + 6)?;
            records.push((u16_at(data)?, u16_at(data + 2)?, u16_at(data + 4)?, target));
        }
        at = data + len;
    }
    Ok(records)
}

/// The (possibly compressed) name at `at`, and where the record continues after it.
fn dns_name(m: &[u8], mut at: usize) -> io::Result<(String, usize)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad name in the answer");
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    // Bounded: a pointer loop cannot hang the lookup.
    for _ in 0..128 {
        let len = *m.get(at).ok_or_else(bad)?;
        match len {
            0 => {
                let name = labels.join(".");
                return Ok((name, end.unwrap_or(at + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let low = *m.get(at + 1).ok_or_else(bad)?;
                end.get_or_insert(at + 2);
                at = usize::from(l & 0x3f) << 8 | usize::from(low);
            }
            l => {
                let label = m.get(at + 1..at + 1 + usize::from(l)).ok_or_else(bad)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                at += 1 + usize::from(l);
            }
        }
    }
    Err(bad())
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(u: &str) -> Result<Url, String> {
    let rest = if let Some(r) = u.strip_prefix("http://") {
        r
    } else if u.starts_with("https://") {
        return Err(format!(
            "unsupported protocol (https is not available here): {u}"
        ));
    } else if u.contains("://") {
        return Err(format!("not an http or ftp url: {u}"));
    } else {
        u
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(i) => (
                hostport[..=i].to_string(),
                hostport[i + 1..]
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(80),
            ),
            None => return Err(format!("bad address '{hostport}'")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("bad port spec '{p}'"))?,
            ),
            None => (hostport.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(format!("bad address '{u}'"));
    }
    Ok(Url { host, port, path })
}

/// Reads an HTTP body (chunked, Content-Length or to EOF) into `out`.
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    out: &mut dyn Write,
) -> io::Result<u64> {
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim().to_string())
    };
    let mut total = 0u64;
    if h("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed prematurely",
                ));
            }
            let size_hex = line
                .trim()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let size = u64::from_str_radix(&size_hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l)? == 0 || l.trim().is_empty() {
                        break;
                    }
                }
                return Ok(total);
            }
            let n = io::copy(&mut r.by_ref().take(size), out)?;
            if n < size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed prematurely",
                ));
            }
            total += n;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    }
    if let Some(len) = h("content-length").and_then(|v| v.parse::<u64>().ok()) {
        let n = io::copy(&mut r.by_ref().take(len), out)?;
        if n < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed prematurely",
            ));
        }
        return Ok(n);
    }
    total += io::copy(r, out)?;
    Ok(total)
}

pub fn wget(ctx: &mut Ctx, args: &[String]) -> i32 {
    // Long options first.
    let mut a = Vec::new();
    let mut headers_extra: Vec<String> = Vec::new();
    let mut spider = false;
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--spider" => spider = true,
            "--quiet" => a.push("-q".to_string()),
            "--header" => {
                if let Some(h) = it.next() {
                    headers_extra.push(h.clone());
                }
            }
            s if s.starts_with("--header=") => headers_extra.push(s[9..].to_string()),
            s if s.starts_with("--output-document=") => {
                a.push("-O".into());
                a.push(s[18..].to_string());
            }
            s if s.starts_with("--timeout=") => {
                a.push("-T".into());
                a.push(s[10..].to_string());
            }
            s if s.starts_with("--user-agent=") => {
                a.push("-U".into());
                a.push(s[13..].to_string());
            }
            "--no-check-certificate" | "-nv" | "--no-verbose" => {}
            _ => a.push(x.clone()),
        }
    }
    let Some(o) = opts(ctx, "wget", &a, "qO:ST:U:cY:P:s") else {
        return 1;
    };
    let Some(url) = o.args.first() else {
        ctx.error("wget", "missing URL");
        return 1;
    };
    let quiet = o.has('q');
    let spider = spider || o.has('s');
    let timeout = o
        .val('T')
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64);
    let agent = o.val('U').unwrap_or("Wget").to_string();
    let mut url_s = url.clone();
    let mut err = ctx.err();
    for _redirect in 0..10 {
        let u = match parse_url(&url_s) {
            Ok(u) => u,
            Err(e) => {
                ctx.error("wget", e);
                return 1;
            }
        };
        let mut stream = match connect(&u.host, u.port, timeout.or(Some(Duration::from_secs(30)))) {
            Ok(s) => s,
            Err(e) => {
                ctx.error("wget", e);
                return 1;
            }
        };
        if !quiet {
            let peer = stream
                .peer_addr()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let _ = writeln!(err, "Connecting to {}:{} ({peer})", u.host, u.port);
        }
        let _ = stream.set_read_timeout(timeout.or(Some(Duration::from_secs(900))));
        let host_hdr = if u.port == 80 {
            u.host.clone()
        } else {
            format!("{}:{}", u.host, u.port)
        };
        let mut req = format!(
            "{} {} HTTP/1.1\r\nHost: {host_hdr}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n",
            if spider { "HEAD" } else { "GET" },
            u.path
        );
        for h in &headers_extra {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        if let Err(e) = stream.write_all(req.as_bytes()) {
            ctx.error("wget", errstr(&e));
            return 1;
        }
        let mut r = BufReader::new(stream);
        let mut status = String::new();
        if r.read_line(&mut status).unwrap_or(0) == 0 {
            ctx.error("wget", "error getting response: Connection reset by peer");
            return 1;
        }
        let status = status.trim_end().to_string();
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if o.has('S') {
            let _ = writeln!(err, "  {status}");
        }
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                break;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if o.has('S') {
                let _ = writeln!(err, "  {l}");
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if (300..400).contains(&code)
            && let Some((_, loc)) = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        {
            url_s = if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.clone()
            } else if loc.starts_with('/') {
                format!("http://{host_hdr}{loc}")
            } else {
                let base = u.path.rsplit_once('/').map(|(b, _)| b).unwrap_or("");
                format!("http://{host_hdr}{base}/{loc}")
            };
            continue;
        }
        if !(200..300).contains(&code) {
            ctx.error("wget", format!("server returned error: {status}"));
            return 1;
        }
        if spider {
            if !quiet {
                let _ = writeln!(err, "remote file exists");
            }
            return 0;
        }
        let target = o.val('O').map(str::to_string).unwrap_or_else(|| {
            let p = u.path.split(['?', '#']).next().unwrap_or("");
            let b = p.rsplit('/').next().unwrap_or("");
            if b.is_empty() {
                "index.html".into()
            } else {
                b.to_string()
            }
        });
        let to_stdout = target == "-";
        if !quiet {
            if to_stdout {
                let _ = writeln!(err, "writing to stdout");
            } else {
                let _ = writeln!(err, "saving to '{target}'");
            }
        }
        let mut sink: Box<dyn Write> = if to_stdout {
            Box::new(ctx.out())
        } else {
            match ctx.create(&target, false) {
                Ok(f) => Box::new(io::BufWriter::new(f)),
                Err(e) => {
                    ctx.error("wget", format!("can't open '{target}': {}", errstr(&e)));
                    return 1;
                }
            }
        };
        let res = read_body(&mut r, &headers, &mut sink).and_then(|n| sink.flush().map(|_| n));
        drop(sink);
        return match res {
            Ok(n) => {
                if !quiet {
                    let shown = if to_stdout { "stdout" } else { target.as_str() };
                    let _ = writeln!(
                        err,
                        "{shown:<20} 100% |*******************************| {n:>7}  0:00:00 ETA"
                    );
                    if !to_stdout {
                        let _ = writeln!(err, "'{target}' saved");
                    }
                }
                0
            }
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 141,
            Err(e) => {
                ctx.error("wget", errstr(&e));
                1
            }
        };
    }
    ctx.error("wget", "too many redirections");
    1
}

pub fn nc(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "nc", args, "lp:w:vznuq:s:ki:") else {
        return 1;
    };
    if o.has('u') {
        ctx.error("nc", "UDP is not supported");
        return 1;
    }
    let timeout = o
        .val('w')
        .and_then(|w| w.parse::<f64>().ok())
        .filter(|w| *w > 0.0)
        .map(Duration::from_secs_f64);
    let verbose = o.has('v');
    let stream = if o.has('l') {
        let port = o
            .val('p')
            .or(o.args.last().map(String::as_str))
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            ctx.error("nc", "missing port number");
            return 1;
        };
        let bind = o.val('s').unwrap_or("0.0.0.0");
        let l = match TcpListener::bind((bind, port)) {
            Ok(l) => l,
            Err(e) => {
                ctx.error("nc", format!("bind: {}", errstr(&e)));
                return 1;
            }
        };
        if verbose {
            ctx.error("nc", format!("listening on {bind}:{port} ..."));
        }
        match l.accept() {
            Ok((s, peer)) => {
                if verbose {
                    ctx.error("nc", format!("connect to {bind}:{port} from {peer}"));
                }
                s
            }
            Err(e) => {
                ctx.error("nc", format!("accept: {}", errstr(&e)));
                return 1;
            }
        }
    } else {
        let (Some(host), Some(port)) = (
            o.args.first(),
            o.args.get(1).or(o.val('p').map(|_| &o.args[0])),
        ) else {
            ctx.error(
                "nc",
                "usage: nc [-l] [-p PORT] [-w SECS] [-z] [HOST] [PORT]",
            );
            return 1;
        };
        let Ok(port) = port.parse::<u16>() else {
            ctx.error("nc", format!("bad port '{port}'"));
            return 1;
        };
        match connect(host, port, timeout.or(Some(Duration::from_secs(60)))) {
            Ok(s) => {
                if verbose {
                    ctx.error("nc", format!("{host} ({port}) open"));
                }
                if o.has('z') {
                    return 0;
                }
                s
            }
            Err(e) => {
                if verbose || !o.has('z') {
                    ctx.error("nc", e);
                }
                return 1;
            }
        }
    };
    if matches!(ctx.stdin, crate::io::Fd::Stdin) {
        let r = duplex(ctx, stream, timeout);
        return finish(ctx, "nc", r);
    }
    let r = (|| -> io::Result<i32> {
        let mut s = stream;
        // 1. stdin to the socket, then half-close.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = ctx.stdin.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s.shutdown(Shutdown::Write);
        // 2. the socket to stdout until EOF or the timeout.
        let _ = s.set_read_timeout(timeout);
        let mut out = crate::io::Output(ctx.stdout.clone());
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        Ok(0)
    })();
    finish(ctx, "nc", r)
}

/// Copies stdin to the socket and the socket to stdout as each has data, until both ends are done
/// (or the peer is silent for `timeout`). stdin's EOF half-closes the connection; the peer's EOF
/// is a half-close too: what stdin still brings is sent (`echo hi | nc -l` answers a client that
/// closed its side at once).
fn duplex(ctx: &Ctx, mut s: TcpStream, timeout: Option<Duration>) -> io::Result<i32> {
    use std::os::fd::AsRawFd as _;
    s.set_nonblocking(true)?;
    let mut out = crate::io::Output(ctx.stdout.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdin_open = true;
    let mut net_open = true;
    let wait_ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    loop {
        if !stdin_open && !net_open {
            return Ok(0);
        }
        let mut fds = [
            libc::pollfd {
                fd: s.as_raw_fd(),
                events: if net_open { libc::POLLIN } else { 0 },
                revents: 0,
            },
            libc::pollfd {
                fd: 0,
                events: if stdin_open { libc::POLLIN } else { 0 },
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of pollfd structs for the call's duration.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if ready == 0 {
            return Ok(0);
        }
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            let n = ctx.stdin.read(&mut buf)?;
            if n == 0 {
                stdin_open = false;
                let _ = s.shutdown(Shutdown::Write);
            } else if send_all(&mut s, &buf[..n]).is_err() {
                stdin_open = false;
            }
        }
        if net_open && fds[0].revents != 0 {
            match s.read(&mut buf) {
                Ok(0) => net_open = false,
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes all of `data` to a non-blocking socket, waiting for room with poll(2).
fn send_all(s: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                let mut fd = libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the call's duration.
                unsafe { libc::poll(&mut fd, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://example.com:8080/a/b?c=d").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 8080, "/a/b?c=d")
        );
        let u = parse_url("example.com").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 80, "/")
        );
        assert!(parse_url("https://x").is_err());
        assert!(parse_url("ftp://x").is_err());
    }

    #[test]
    fn bodies() {
        let hdr = vec![("Transfer-Encoding".to_string(), "chunked".to_string())];
        let mut r = BufReader::new(&b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"[..]);
        let mut out = Vec::new();
        assert_eq!(read_body(&mut r, &hdr, &mut out).unwrap(), 11);
        assert_eq!(out, b"hello world");
        let hdr = vec![("Content-Length".to_string(), "3".to_string())];
        let mut r = BufReader::new(&b"abcdef"[..]);
        let mut out = Vec::new();
        read_body(&mut r, &hdr, &mut out).unwrap();
        assert_eq!(out, b"abc");
        let mut r = BufReader::new(&b"ab"[..]);
        assert!(read_body(&mut r, &hdr, &mut Vec::new()).is_err());
    }
}
