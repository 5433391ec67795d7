//! testkit's network applets: small clients and servers over std::net, for pod network tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn io(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e} ({:?})", e.kind())
}

fn addr_arg(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| "missing HOST:PORT".to_string())
}

pub fn run(applet: &str, args: &[String]) -> Result<u8, String> {
    let addr = addr_arg(args, 0)?;
    match applet {
        "serve" => {
            let text = args.get(1).cloned().unwrap_or_else(|| "hello".into());
            let l = TcpListener::bind(addr).map_err(|e| io("bind", e))?;
            println!(
                "serving on {}",
                l.local_addr().map_err(|e| io("local_addr", e))?
            );
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let peer = c.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                println!("{peer} {line}");
                let body = format!("{text}\n");
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            Ok(0)
        }
        "get" | "try-get" => {
            let path = args.get(1).map(String::as_str).unwrap_or("/");
            let mut c = if applet == "get" {
                connect_retry(addr)?
            } else {
                let delay: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
                std::thread::sleep(Duration::from_millis(delay));
                TcpStream::connect(addr).map_err(|e| io("connect", e))?
            };
            let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
            write!(
                c,
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .map_err(|e| io("write", e))?;
            let mut resp = Vec::new();
            c.read_to_end(&mut resp).map_err(|e| io("read", e))?;
            let text = String::from_utf8_lossy(&resp);
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status = head.lines().next().unwrap_or("");
            print!("{body}");
            eprintln!("{status}");
            Ok(if status.split(' ').nth(1) == Some("200") {
                0
            } else {
                1
            })
        }
        "echo-server" => {
            let l = TcpListener::bind(addr).map_err(|e| io("bind", e))?;
            println!(
                "echoing on {}",
                l.local_addr().map_err(|e| io("local_addr", e))?
            );
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_nodelay(true);
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            Ok(0)
        }
        "send" => {
            let text = args.get(1).cloned().unwrap_or_default();
            let mut c = connect_retry(addr)?;
            c.write_all(text.as_bytes()).map_err(|e| io("write", e))?;
            c.shutdown(Shutdown::Write).map_err(|e| io("shutdown", e))?;
            let mut reply = String::new();
            c.read_to_string(&mut reply).map_err(|e| io("read", e))?;
            println!("reply: {reply}");
            Ok(0)
        }
        "bind" => {
            let l = TcpListener::bind(addr).map_err(|e| io("bind", e))?;
            println!("bound {}", l.local_addr().map_err(|e| io("local_addr", e))?);
            let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(f64::MAX);
            std::thread::sleep(Duration::from_secs_f64(secs.min(1e9)));
            Ok(0)
        }
        "udp-echo" => {
            let s = UdpSocket::bind(addr).map_err(|e| io("bind", e))?;
            println!(
                "udp echoing on {}",
                s.local_addr().map_err(|e| io("local_addr", e))?
            );
            let mut buf = [0u8; 65536];
            loop {
                let (n, from) = s.recv_from(&mut buf).map_err(|e| io("recv", e))?;
                println!("{n} bytes from {from}");
                s.send_to(&buf[..n], from).map_err(|e| io("send", e))?;
            }
        }
        "udp-send" => {
            let text = args.get(1).cloned().unwrap_or_default();
            let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| io("bind", e))?;
            s.set_nonblocking(true).map_err(|e| io("nonblocking", e))?;
            let mut buf = [0u8; 65536];
            // UDP drops datagrams nobody listens for yet: resend until a reply comes.
            for _ in 0..50 {
                s.send_to(text.as_bytes(), addr)
                    .map_err(|e| io("send", e))?;
                for _ in 0..10 {
                    match s.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            println!("reply from {from}: {}", String::from_utf8_lossy(&buf[..n]));
                            return Ok(0);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => return Err(io("recv", e)),
                    }
                }
            }
            Err("no reply".into())
        }
        "ping-pong" => {
            let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
            let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
            let mut c = connect_retry(addr)?;
            let _ = c.set_nodelay(true);
            let msg = vec![7u8; size];
            let mut back = vec![0u8; size];
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                c.write_all(&msg).map_err(|e| io("write", e))?;
                c.read_exact(&mut back).map_err(|e| io("read", e))?;
                times.push(t.elapsed());
            }
            times.sort();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "round trip {size} B: median {:.1} us p90 {:.1} us (n={n})",
                us(times[n / 2]),
                us(times[n * 9 / 10])
            );
            Ok(0)
        }
        "connects" => {
            let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
            drop(connect_retry(addr)?);
            let mut times = Vec::with_capacity(n);
            let mut byte = [0u8; 1];
            for _ in 0..n {
                let t = Instant::now();
                let mut c = TcpStream::connect(addr).map_err(|e| io("connect", e))?;
                let _ = c.set_nodelay(true);
                c.write_all(b"x").map_err(|e| io("write", e))?;
                c.read_exact(&mut byte).map_err(|e| io("read", e))?;
                drop(c);
                times.push(t.elapsed());
            }
            times.sort();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "connect + round trip: median {:.1} us p90 {:.1} us (n={n})",
                us(times[n / 2]),
                us(times[n * 9 / 10])
            );
            Ok(0)
        }
        "bulk" => {
            let mib: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(256);
            let mut c = connect_retry(addr)?;
            let chunk = vec![1u8; 256 * 1024];
            let t = Instant::now();
            for _ in 0..mib * 4 {
                c.write_all(&chunk).map_err(|e| io("write", e))?;
            }
            c.shutdown(Shutdown::Write).map_err(|e| io("shutdown", e))?;
            let mut ack = Vec::new();
            c.read_to_end(&mut ack).map_err(|e| io("read", e))?;
            let secs = t.elapsed().as_secs_f64();
            println!("bulk {mib} MiB: {:.0} MiB/s", mib as f64 / secs);
            Ok(0)
        }
        "sink" => {
            let l = TcpListener::bind(addr).map_err(|e| io("bind", e))?;
            println!(
                "sinking on {}",
                l.local_addr().map_err(|e| io("local_addr", e))?
            );
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0usize;
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n,
                    }
                }
                let _ = writeln!(c, "{total}");
                println!("received {total} bytes");
            }
            Ok(0)
        }
        other => Err(format!("unknown network applet {other}")),
    }
}

/// The server container may start a moment later than the client (containers of a pod start in
/// no particular order): retry refused connections for a while, as clients in pods must.
fn connect_retry(addr: &str) -> Result<TcpStream, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(addr) {
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.map_err(|e| io("connect", e)),
        }
    }
}
