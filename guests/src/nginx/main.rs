//! `nginx`: wpod's built-in nginx-compatible image, a static HTTP/1.1 file server.
//!
//! Manifests from the Kubernetes docs (`image: nginx`, `containerPort: 80`, command
//! `["nginx", "-g", "daemon off;"]`) run unchanged: it listens on `0.0.0.0:80` and serves
//! `/usr/share/nginx/html` (index `index.html`), with a built-in welcome page for `/` when that
//! directory or its `index.html` is missing and a built-in `/50x.html`.
//!
//! Configuration (flags win over the environment):
//! - `NGINX_LISTEN` (or `PORT`), `-p PORT`: the port on 0.0.0.0 (default 80). Not `NGINX_PORT`:
//!   the kubelet sets that to `tcp://<ip>:<port>` in every pod of a namespace with a Service
//!   named `nginx`.
//! - `NGINX_ROOT`, `-r ROOT`: the document root (default `/usr/share/nginx/html`).
//! - `NGINX_AUTOINDEX=on`: list directories without `index.html` (default 403, as nginx).
//! - `-g DIRECTIVES` is accepted and ignored; `-h`/`--help`, `-v`/`-V`.
//! - `WPOD_NGINX_NO_POLL=1` (for tests): use the fallback loop instead of `poll`.
//!
//! Only GET and HEAD are served (others get 405). Keep-alive, pipelining, `Connection: close`,
//! `If-Modified-Since` (exact match) and lingering close are supported. The access log goes to
//! stdout in nginx's combined format (UTC), the error log to stderr in nginx's style.
//!
//! There are no threads on wasip2: one event loop over non-blocking sockets and `poll` serves
//! every connection (see [`conn`]). The same source builds natively and for wasm32-wasip2.

#[path = "../common/mod.rs"]
mod common;

mod autoindex;
mod config;
mod conn;
mod http;
mod log;
mod mime;
mod pages;
mod serve;
mod stop;

use std::net::{SocketAddr, TcpListener};
use std::time::SystemTime;

fn main() {
    common::enter_working_dir();
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match config::parse(&args, |k| std::env::var(k).ok()) {
        Ok(config::Command::Help) => {
            print!("{}", config::USAGE);
            common::exit(0)
        }
        Ok(config::Command::Version) => {
            eprintln!("{}", config::VERSION);
            common::exit(0)
        }
        Ok(config::Command::Run(cfg)) => run(&cfg),
        Ok(config::Command::Signal(sig)) => common::exit(stop::send(sig)),
        Err(msg) => {
            log::error("emerg", &msg);
            eprintln!("Try `nginx --help`.");
            common::exit(1)
        }
    }
}

fn run(cfg: &config::Config) -> ! {
    // Before anything else: a stop signal that comes while nginx starts is not lost.
    stop::install();
    let addr = SocketAddr::from(([0, 0, 0, 0], cfg.port));
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            log::error(
                "emerg",
                &format!("bind() to {addr} failed ({})", log::os_err(&e)),
            );
            common::exit(1)
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        log::error(
            "emerg",
            &format!("set_nonblocking() on {addr} failed ({})", log::os_err(&e)),
        );
        common::exit(1)
    }
    let local = listener.local_addr().unwrap_or(addr);
    let root = cfg.root.display();
    match std::fs::metadata(&cfg.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => log::error(
            "warn",
            &format!("document root \"{root}\" is not a directory"),
        ),
        Err(e) => log::error(
            "notice",
            &format!(
                "document root \"{root}\" is not available ({}), serving the built-in welcome page",
                log::os_err(&e)
            ),
        ),
    }
    log::error(
        "notice",
        &format!("nginx (wpod) listening on {local}, root \"{root}\""),
    );
    // Before nginx says it is up, so `nginx -s` finds it from then on.
    stop::write_pid_file();
    log::error("notice", "start worker process");
    let site = serve::Site {
        root: cfg.root.clone(),
        autoindex: cfg.autoindex,
        started: SystemTime::now(),
    };
    let no_poll = std::env::var("WPOD_NGINX_NO_POLL").is_ok_and(|v| v == "1");
    conn::run(listener, &site, no_poll)
}
