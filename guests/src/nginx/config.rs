//! Command-line flags and environment variables.

use std::path::PathBuf;

pub const DEFAULT_PORT: u16 = 80;
pub const DEFAULT_ROOT: &str = "/usr/share/nginx/html";

pub const USAGE: &str = "\
nginx (wpod): a static HTTP/1.1 file server, wpod's built-in nginx-compatible image

Usage: nginx [-p PORT] [-r ROOT] [-g DIRECTIVES] [-s SIGNAL] [-h] [-v]

Options:
  -p PORT        listen on 0.0.0.0:PORT (default 80)
  -r ROOT        serve files from ROOT (default /usr/share/nginx/html)
  -g DIRECTIVES  accepted and ignored (the image's CMD is `nginx -g 'daemon off;'`)
  -s SIGNAL      send SIGNAL to the running master (its pid is in /run/nginx.pid):
                 stop (TERM), quit (QUIT, graceful), reload (HUP), reopen (USR1)
  -h, --help     print this help
  -v, -V         print the version

Environment (flags win):
  NGINX_LISTEN, PORT  port to listen on (NGINX_LISTEN wins over PORT)
  NGINX_ROOT          document root
  NGINX_AUTOINDEX     `on` to list directories without index.html (default: 403)

When ROOT or ROOT/index.html is missing, `/` serves a built-in welcome page.
The access log (combined format) goes to stdout, the error log to stderr.
";

pub const VERSION: &str = "nginx version: nginx/1.27 (wpod)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub port: u16,
    pub root: PathBuf,
    pub autoindex: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    /// `-s NAME`: the signal to send to the master.
    Signal(u8),
    Help,
    Version,
}

/// PID file of the master, where the official image's nginx.conf puts it.
pub const PID_FILE: &str = "/run/nginx.pid";

fn signal(name: &str) -> Result<u8, String> {
    match name {
        "stop" => Ok(15),
        "quit" => Ok(3),
        "reload" => Ok(1),
        "reopen" => Ok(10),
        _ => Err(format!("invalid option: \"-s {name}\"")),
    }
}

fn port(s: &str, from: &str) -> Result<u16, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("invalid port \"{s}\" in {from}"))
}

/// Parses `args` (without argv[0]) with `env` looking up environment variables.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Command, String> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut cfg = Config {
        port: DEFAULT_PORT,
        root: PathBuf::from(DEFAULT_ROOT),
        autoindex: false,
    };
    if let Some(v) = env("NGINX_LISTEN") {
        cfg.port = port(&v, "NGINX_LISTEN")?;
    } else if let Some(v) = env("PORT") {
        cfg.port = port(&v, "PORT")?;
    }
    if let Some(v) = env("NGINX_ROOT") {
        cfg.root = PathBuf::from(v);
    }
    if let Some(v) = env("NGINX_AUTOINDEX") {
        cfg.autoindex = matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "on" | "1" | "true" | "yes"
        );
    }
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.as_str() {
            a if a.starts_with("--") => match a.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (a, None),
            },
            a if a.len() > 2 && a.starts_with('-') && a.is_char_boundary(2) => {
                (&a[..2], Some(a[2..].to_string()))
            }
            a => (a, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("option \"{name}\" requires a value")),
            }
        };
        match flag {
            "-h" | "-?" | "--help" => return Ok(Command::Help),
            "-v" | "-V" | "--version" => return Ok(Command::Version),
            "-p" | "--port" => cfg.port = port(&value(flag)?, flag)?,
            "-r" | "--root" => cfg.root = PathBuf::from(value(flag)?),
            "-g" => {
                value(flag)?;
            }
            "-s" => return Ok(Command::Signal(signal(&value(flag)?)?)),
            _ => return Err(format!("invalid option: \"{arg}\"")),
        }
    }
    Ok(Command::Run(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&args, |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn cfg(port: u16, root: &str, autoindex: bool) -> Result<Command, String> {
        Ok(Command::Run(Config {
            port,
            root: root.into(),
            autoindex,
        }))
    }

    #[test]
    fn defaults_and_cmd() {
        assert_eq!(run(&[], &[]), cfg(80, DEFAULT_ROOT, false));
        assert_eq!(
            run(&["-g", "daemon off;"], &[]),
            cfg(80, DEFAULT_ROOT, false)
        );
    }

    #[test]
    fn env_and_flags() {
        assert_eq!(
            run(
                &[],
                &[
                    ("PORT", "81"),
                    ("NGINX_ROOT", "/srv"),
                    ("NGINX_AUTOINDEX", "on")
                ]
            ),
            cfg(81, "/srv", true)
        );
        assert_eq!(
            run(&[], &[("PORT", "81"), ("NGINX_LISTEN", "82")]),
            cfg(82, DEFAULT_ROOT, false)
        );
        assert_eq!(
            run(&["-p", "8080", "-r", "/x"], &[("NGINX_LISTEN", "82")]),
            cfg(8080, "/x", false)
        );
        assert_eq!(run(&["-p8081", "--root=/y"], &[]), cfg(8081, "/y", false));
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-v"], &[]), Ok(Command::Version));
    }

    #[test]
    fn errors() {
        assert!(run(&["-p"], &[]).is_err());
        assert!(run(&["-p", "x"], &[]).is_err());
        assert!(run(&["-p", "70000"], &[]).is_err());
        assert!(run(&["-x"], &[]).is_err());
        assert!(run(&["extra"], &[]).is_err());
        assert!(run(&[], &[("NGINX_LISTEN", "http")]).is_err());
    }
}
