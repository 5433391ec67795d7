//! The single-threaded event loop (wasip2 has no threads).
//!
//! The listener and every connection are non-blocking. Each turn builds a `pollfd` array (the
//! listener with `POLLIN` while below [`MAX_CONNS`], each connection with `POLLIN` while it may
//! read and `POLLOUT` while a response is being written) and waits in `libc::poll` — on
//! wasm32-wasip2 that is wasi-libc's `poll`, which works on wasi:sockets — with a timeout of the
//! nearest connection deadline (at most 1 s). Ready connections then read what is there, parse
//! as many complete requests as they can answer in order (pipelining) and write responses until
//! the socket would block; files are read in 64 KiB chunks only as the socket takes them, and
//! one connection writes at most 1 MiB per turn, so nobody blocks anybody.
//!
//! If `poll` itself fails (e.g. a runtime without it), the loop falls back to trying every
//! socket each turn and sleeping 5 ms when a turn made no progress. `run`'s `no_poll` (env
//! `WPOD_NGINX_NO_POLL=1`, meant for tests) starts in that mode.

use crate::http::{self, Parse, ParseError, Request};
use crate::log::{self, Access};
use crate::serve::{Body, Response, Site};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

/// At most this many open connections; more wait in the listen backlog.
pub const MAX_CONNS: usize = 512;
/// Idle keep-alive connections are closed after this (nginx's `keepalive_timeout`).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// A partial request or a stalled response is given up after this much silence
/// (nginx's `client_header_timeout` / `send_timeout`).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// After a `Connection: close` response, unread input is drained this long before closing.
const LINGER: Duration = Duration::from_secs(5);
/// Requests per keep-alive connection (nginx's `keepalive_requests`).
const MAX_REQUESTS: u32 = 1000;
/// Reading stops while this much unanswered input is buffered.
const READ_LIMIT: usize = http::MAX_HEADER + 8192;
/// Request bodies larger than this are not skipped; the connection is closed instead.
const MAX_DISCARD: u64 = 1 << 20;
const FILE_CHUNK: usize = 64 * 1024;
/// Bytes one connection may read or write per turn, for fairness.
const IO_BUDGET: usize = 1 << 20;
const FALLBACK_SLEEP: Duration = Duration::from_millis(5);

struct InFlight {
    access: Access,
    keep_alive: bool,
    /// Header bytes still unsent (the rest of what is written is body).
    head_left: usize,
    body_sent: u64,
}

enum Flush {
    Done,
    Blocked,
    Failed,
}

struct Conn {
    id: u64,
    stream: TcpStream,
    client: String,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    file: Option<(File, u64)>,
    inflight: Option<InFlight>,
    /// Request-body bytes still to skip.
    discard: u64,
    eof: bool,
    /// Our side is shut down; input is read and dropped until EOF or [`LINGER`].
    lingering: bool,
    /// The client may still be sending (a refused body, an unparsable request): linger
    /// instead of closing at once after the response.
    must_linger: bool,
    served: u32,
    last: Instant,
    dead: bool,
}

impl Conn {
    fn new(id: u64, stream: TcpStream, client: String) -> Conn {
        Conn {
            id,
            stream,
            client,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            file: None,
            inflight: None,
            discard: 0,
            eof: false,
            lingering: false,
            must_linger: false,
            served: 0,
            last: Instant::now(),
            dead: false,
        }
    }

    fn wants_read(&self) -> bool {
        !self.dead && !self.eof && (self.lingering || self.inbuf.len() < READ_LIMIT)
    }

    /// Nothing in progress: no request being received or answered.
    fn idle(&self) -> bool {
        self.inflight.is_none() && self.inbuf.is_empty() && self.discard == 0 && !self.lingering
    }

    fn wants_write(&self) -> bool {
        !self.dead && !self.lingering && self.inflight.is_some()
    }

    fn deadline(&self) -> Instant {
        let timeout = if self.lingering {
            LINGER
        } else if self.inflight.is_some() || !self.inbuf.is_empty() || self.discard > 0 {
            CLIENT_TIMEOUT
        } else {
            KEEPALIVE_TIMEOUT
        };
        self.last + timeout
    }

    /// Closes the connection, logging a response that was cut short.
    fn close(&mut self) {
        if let Some(f) = self.inflight.take() {
            log::access(&f.access, f.body_sent);
        }
        self.file = None;
        self.dead = true;
    }

    /// Reads what the socket has. Returns whether anything happened.
    fn read(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut progress = false;
        let mut budget = IO_BUDGET;
        while self.wants_read() && budget > 0 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    if self.lingering {
                        self.dead = true;
                    }
                    return true;
                }
                Ok(n) => {
                    progress = true;
                    budget = budget.saturating_sub(n);
                    // Lingering lasts LINGER in total, however much the client sends.
                    if !self.lingering {
                        self.last = Instant::now();
                        self.inbuf.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close();
                    return true;
                }
            }
        }
        progress
    }

    /// Answers buffered requests and writes responses until done or blocked.
    fn drive(&mut self, site: &Site) -> bool {
        let mut progress = false;
        let mut budget = IO_BUDGET;
        while !self.dead && !self.lingering {
            if self.inflight.is_some() {
                match self.flush(&mut budget, &mut progress) {
                    Flush::Done => {
                        self.finish();
                        progress = true;
                        continue;
                    }
                    Flush::Blocked => break,
                    Flush::Failed => {
                        self.close();
                        return true;
                    }
                }
            }
            if self.discard > 0 {
                let n = self
                    .inbuf
                    .len()
                    .min(usize::try_from(self.discard).unwrap_or(usize::MAX));
                self.inbuf.drain(..n);
                self.discard -= n as u64;
                progress |= n > 0;
                if self.discard > 0 {
                    if self.eof {
                        self.close();
                    }
                    break;
                }
            }
            match http::parse(&self.inbuf) {
                Parse::Incomplete => {
                    if self.eof {
                        self.close();
                        progress = true;
                    }
                    break;
                }
                Parse::Done(req, used) => {
                    self.inbuf.drain(..used);
                    self.start(site, &req);
                    progress = true;
                }
                Parse::Error(e) => {
                    self.inbuf.clear();
                    self.start_error(&e);
                    progress = true;
                }
            }
        }
        progress
    }

    fn start(&mut self, site: &Site, req: &Request) {
        let mut keep_alive =
            req.keep_alive() && self.served + 1 < MAX_REQUESTS && !crate::stop::quitting();
        match req.body_len() {
            Ok(n) if n <= MAX_DISCARD => self.discard = n,
            _ => {
                keep_alive = false;
                self.must_linger = true;
            }
        }
        let mut resp = crate::serve::respond(site, req);
        if let Some(msg) = resp.error.take() {
            let host = req
                .header("host")
                .map(|h| format!(", host: \"{}\"", log::escape(h)))
                .unwrap_or_default();
            log::error(
                "error",
                &format!(
                    "*{} {msg}, client: {}, server: localhost, request: \"{}\"{host}",
                    self.id,
                    self.client,
                    log::escape(&req.line)
                ),
            );
        }
        if req.method == "HEAD" {
            resp.strip_body();
        }
        let access = Access {
            client: self.client.clone(),
            request: req.line.clone(),
            status: resp.status,
            referer: req.header("referer").map(<[u8]>::to_vec),
            user_agent: req.header("user-agent").map(<[u8]>::to_vec),
        };
        self.queue(resp, access, keep_alive);
    }

    fn start_error(&mut self, e: &ParseError) {
        self.must_linger = true;
        let access = Access {
            client: self.client.clone(),
            request: e.line.clone(),
            status: e.status,
            referer: None,
            user_agent: None,
        };
        self.queue(Response::error(e.status), access, false);
    }

    fn queue(&mut self, resp: Response, access: Access, keep_alive: bool) {
        self.served += 1;
        self.out = resp.head(&log::http_date(SystemTime::now()), keep_alive);
        self.out_pos = 0;
        let head_left = self.out.len();
        match resp.body {
            Body::Empty => {}
            Body::Bytes(b) => self.out.extend_from_slice(&b),
            Body::File(f, n) => self.file = Some((f, n)),
        }
        self.inflight = Some(InFlight {
            access,
            keep_alive,
            head_left,
            body_sent: 0,
        });
    }

    /// Writes the in-flight response, refilling from its file as the socket accepts data.
    fn flush(&mut self, budget: &mut usize, progress: &mut bool) -> Flush {
        loop {
            if self.out_pos >= self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                let Some((file, left)) = &mut self.file else {
                    return Flush::Done;
                };
                if *left == 0 {
                    self.file = None;
                    return Flush::Done;
                }
                let want = usize::try_from(*left).unwrap_or(FILE_CHUNK).min(FILE_CHUNK);
                self.out.resize(want, 0);
                match file.read(&mut self.out) {
                    Ok(0) => {
                        log::error(
                            "error",
                            &format!("*{} file shrank while it was being sent", self.id),
                        );
                        return Flush::Failed;
                    }
                    Ok(n) => {
                        self.out.truncate(n);
                        *left -= n as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {
                        self.out.clear();
                        continue;
                    }
                    Err(e) => {
                        log::error(
                            "error",
                            &format!("*{} read() failed ({})", self.id, log::os_err(&e)),
                        );
                        return Flush::Failed;
                    }
                }
            }
            if *budget == 0 {
                return Flush::Blocked;
            }
            let end = self.out.len().min(self.out_pos + *budget);
            match self.stream.write(&self.out[self.out_pos..end]) {
                Ok(0) => return Flush::Failed,
                Ok(n) => {
                    self.out_pos += n;
                    *budget -= n;
                    *progress = true;
                    self.last = Instant::now();
                    if let Some(f) = &mut self.inflight {
                        let head = n.min(f.head_left);
                        f.head_left -= head;
                        f.body_sent += (n - head) as u64;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flush::Blocked,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Flush::Failed,
            }
        }
    }

    /// A response was fully written: log it, then keep going or close.
    fn finish(&mut self) {
        let Some(f) = self.inflight.take() else {
            return;
        };
        log::access(&f.access, f.body_sent);
        self.last = Instant::now();
        if !f.keep_alive {
            let unread = self.must_linger || self.discard > 0 || !self.inbuf.is_empty();
            self.inbuf.clear();
            if self.eof || !unread {
                self.dead = true;
            } else {
                // Lingering close: stop sending, drain what the client still sends so that
                // the kernel does not reset the connection before our response is read.
                let _ = self.stream.shutdown(Shutdown::Write);
                self.lingering = true;
            }
        }
    }
}

/// `poll(2)` over `fds`; `Ok(n)` ready descriptors.
fn sys_poll(fds: &mut [libc::pollfd], timeout: Duration) -> std::io::Result<usize> {
    let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Accepts pending connections. Returns false when accepting failed and should pause.
fn accept(listener: &TcpListener, conns: &mut Vec<Conn>, next_id: &mut u64) -> bool {
    while conns.len() < MAX_CONNS {
        match listener.accept() {
            Ok((stream, addr)) => {
                if let Err(e) = stream.set_nonblocking(true) {
                    log::error(
                        "alert",
                        &format!("set_nonblocking() failed ({})", log::os_err(&e)),
                    );
                    continue;
                }
                let _ = stream.set_nodelay(true);
                conns.push(Conn::new(*next_id, stream, addr.ip().to_string()));
                *next_id += 1;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                log::error("alert", &format!("accept() failed ({})", log::os_err(&e)));
                return false;
            }
        }
    }
    true
}

/// Serves `site` on `listener` (already non-blocking) until a stop signal; a graceful one closes
/// the listener and idle connections, lets the requests in progress finish, then exits.
pub fn run(listener: TcpListener, site: &Site, no_poll: bool) -> ! {
    let mut listener = Some(listener);
    let mut conns: Vec<Conn> = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut fallback = no_poll;
    let mut next_id = 1u64;
    let mut accept_pause: Option<Instant> = None;
    loop {
        crate::stop::exit_if_requested();
        let now = Instant::now();
        let quitting = crate::stop::quitting();
        for c in &mut conns {
            if now >= c.deadline() || (quitting && c.idle()) {
                c.close();
            }
        }
        conns.retain(|c| !c.dead);
        if quitting {
            // New connections are refused from now on, as when nginx closes its listeners.
            listener = None;
            if conns.is_empty() {
                crate::stop::exit();
            }
        }
        if accept_pause.is_some_and(|t| now >= t) {
            accept_pause = None;
        }
        let accepting = listener.is_some() && conns.len() < MAX_CONNS && accept_pause.is_none();

        let polled = if fallback {
            0
        } else {
            let mut wait = Duration::from_secs(1);
            for c in &conns {
                wait = wait.min(c.deadline().saturating_duration_since(now));
            }
            if let Some(t) = accept_pause {
                wait = wait.min(t.saturating_duration_since(now));
            }
            fds.clear();
            let listen_events = if accepting { libc::POLLIN } else { 0 };
            if let Some(l) = &listener {
                fds.push(pollfd(l.as_raw_fd(), listen_events));
            }
            for c in &conns {
                let mut events = 0;
                if c.wants_read() {
                    events |= libc::POLLIN;
                }
                if c.wants_write() {
                    events |= libc::POLLOUT;
                }
                fds.push(pollfd(c.stream.as_raw_fd(), events));
            }
            match sys_poll(&mut fds, wait) {
                Ok(_) => conns.len(),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error(
                        "notice",
                        &format!(
                            "poll() failed ({}), falling back to polling every socket",
                            log::os_err(&e)
                        ),
                    );
                    fallback = true;
                    continue;
                }
            }
        };

        let mut progress = false;
        if let Some(listener) = listener.as_ref().filter(|_| accepting)
            && (fallback || fds[0].revents != 0)
        {
            let before = conns.len();
            if !accept(listener, &mut conns, &mut next_id) {
                accept_pause = Some(Instant::now() + Duration::from_millis(100));
            }
            progress |= conns.len() > before;
        }
        for (i, c) in conns.iter_mut().enumerate() {
            // Connections accepted this turn (i >= polled) are tried right away.
            let revents = if fallback || i >= polled {
                libc::POLLIN | libc::POLLOUT
            } else {
                fds[i + usize::from(listener.is_some())].revents
            };
            if revents == 0 {
                continue;
            }
            let mut p = c.read();
            p |= c.drive(site);
            if !p
                && !fallback
                && i < polled
                && revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
            {
                c.close();
                p = true;
            }
            progress |= p;
        }
        conns.retain(|c| !c.dead);
        if fallback && !progress {
            std::thread::sleep(FALLBACK_SLEEP);
        }
    }
}
