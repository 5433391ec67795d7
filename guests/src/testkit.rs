//! `testkit`: a small multi-call program that the tests and examples use as a container image.
//!
//! The applet is picked from the basename of argv[0] when it names one (so `command: ["exit", "3"]`
//! works), otherwise from argv[1] (`command: ["testkit", "exit", "3"]`). The same source builds for
//! wasm32-wasip2 (embedded in wpod) and natively (for the Linux backend).

mod common;
mod net;

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

const APPLETS: &[(&str, &str)] = &[
    ("exit", "exit CODE            exit with CODE"),
    ("echo", "echo WORDS...        print WORDS to stdout"),
    ("stderr", "stderr WORDS...      print WORDS to stderr"),
    (
        "args",
        "args ARGS...         print argv, one `argv[i]=...` line each",
    ),
    (
        "env",
        "env                  print the environment, sorted, one KEY=VALUE line each",
    ),
    (
        "count",
        "count N [MS] [CODE]  print `1`..`N`, one every MS milliseconds, then exit CODE",
    ),
    (
        "sleep",
        "sleep SECONDS        sleep (fractions allowed), then exit 0",
    ),
    (
        "spin",
        "spin                 busy-loop forever without ever calling the host",
    ),
    (
        "alloc",
        "alloc SIZE [STEP]    allocate and touch SIZE bytes (Ki/Mi/Gi suffixes) in STEP chunks",
    ),
    (
        "serve",
        "serve ADDR:PORT TEXT  answer every HTTP request with TEXT, one client at a time",
    ),
    (
        "get",
        "get HOST:PORT [PATH]  HTTP GET, retrying refusals for 10 s; exit 1 unless 200",
    ),
    (
        "try-get",
        "try-get HOST:PORT PATH MS  one HTTP GET attempt after MS milliseconds",
    ),
    (
        "echo-server",
        "echo-server ADDR:PORT echo every TCP connection back until EOF",
    ),
    (
        "send",
        "send HOST:PORT TEXT   send TEXT, half-close, print the whole reply",
    ),
    (
        "bind",
        "bind ADDR:PORT        bind a TCP port and hold it for SECONDS (default: forever)",
    ),
    (
        "udp-echo",
        "udp-echo ADDR:PORT    echo UDP datagrams back to their sender",
    ),
    (
        "udp-send",
        "udp-send HOST:PORT TEXT  send a datagram, print the reply",
    ),
    (
        "ping-pong",
        "ping-pong HOST:PORT N SIZE  N request/response round trips; print timings",
    ),
    (
        "connects",
        "connects HOST:PORT N  N connections, each one 1-byte round trip then closed; print timings",
    ),
    (
        "bulk",
        "bulk HOST:PORT MIB    stream MIB MiB to a sink; print the throughput",
    ),
    (
        "sink",
        "sink ADDR:PORT        read connections to the end; print how many bytes",
    ),
    ("cat", "cat FILE...          print files"),
    (
        "write",
        "write FILE TEXT...   write TEXT and a newline to FILE (replacing it)",
    ),
    (
        "append",
        "append FILE TEXT...  append TEXT and a newline to FILE",
    ),
    (
        "sparse",
        "sparse FILE SIZE TEXT...  make FILE SIZE bytes (Ki/Mi/Gi): a hole, then TEXT and a newline",
    ),
    (
        "ls",
        "ls DIR               list DIR, sorted, `/` after directories",
    ),
    (
        "log",
        "log FILE N [MS]      append `line 1`..`line N` to FILE, one every MS milliseconds",
    ),
    (
        "tail-f",
        "tail-f FILE N        wait until FILE has N lines, print them (exit 1 after 30 s)",
    ),
    (
        "mark",
        "mark FILE...         say whether each FILE existed, create it; exit 1 if the first was new",
    ),
    ("symlink", "symlink TARGET LINK  create a symbolic link"),
    ("rename", "rename FROM TO       rename a file"),
    (
        "mkdir",
        "mkdir DIR            create a directory (and its parents)",
    ),
    ("help", "help                 list the applets"),
];

fn main() {
    common::enter_working_dir();
    let argv: Vec<String> = std::env::args().collect();
    let base = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let (applet, rest) = if APPLETS.iter().any(|(n, _)| *n == base) {
        (base.as_str(), &argv[1..])
    } else if argv.len() > 1 {
        (argv[1].as_str(), &argv[2..])
    } else {
        ("help", &argv[argv.len()..])
    };
    match run(applet, rest) {
        Ok(code) => common::exit(code),
        Err(msg) => {
            eprintln!("testkit {applet}: {msg}");
            common::exit(2)
        }
    }
}

fn run(applet: &str, args: &[String]) -> Result<u8, String> {
    match applet {
        "exit" => {
            let code: u8 = arg(args, 0, "CODE")?;
            Ok(code)
        }
        "echo" => {
            println!("{}", args.join(" "));
            Ok(0)
        }
        "stderr" => {
            eprintln!("{}", args.join(" "));
            Ok(0)
        }
        "args" => {
            for (i, a) in std::env::args().enumerate() {
                println!("argv[{i}]={a}");
            }
            Ok(0)
        }
        "env" => {
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            for (k, v) in vars {
                println!("{k}={v}");
            }
            Ok(0)
        }
        "count" => {
            let n: u64 = arg(args, 0, "N")?;
            let ms: u64 = opt_arg(args, 1, "MS")?.unwrap_or(0);
            let code: u8 = opt_arg(args, 2, "CODE")?.unwrap_or(0);
            let mut out = std::io::stdout();
            for i in 1..=n {
                writeln!(out, "{i}").map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
                if ms > 0 && i < n {
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
            Ok(code)
        }
        "sleep" => {
            let secs: f64 = arg(args, 0, "SECONDS")?;
            if !(secs.is_finite() && secs >= 0.0) {
                return Err(format!("invalid SECONDS {secs}"));
            }
            std::thread::sleep(Duration::from_secs_f64(secs));
            Ok(0)
        }
        "spin" => {
            println!("spinning");
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "alloc" => {
            let size = parse_size(args.first().ok_or("missing SIZE")?)?;
            let step = match args.get(1) {
                Some(s) => parse_size(s)?.max(1),
                None => (1 << 20).min(size.max(1)),
            };
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            let mut total = 0usize;
            while total < size {
                let n = step.min(size - total);
                // Touch every page so the memory is really committed, not just reserved.
                chunks.push(vec![1u8; n]);
                total += n;
            }
            println!("allocated {total} bytes in {} chunks", chunks.len());
            Ok(0)
        }
        "serve" | "get" | "try-get" | "echo-server" | "send" | "bind" | "udp-echo" | "udp-send"
        | "ping-pong" | "connects" | "bulk" | "sink" => net::run(applet, args),
        "cat" => {
            let mut out = std::io::stdout();
            for f in args {
                let bytes = std::fs::read(f).map_err(|e| io_err(f, e))?;
                out.write_all(&bytes).map_err(|e| e.to_string())?;
            }
            Ok(0)
        }
        "write" | "append" => {
            let file = args.first().ok_or("missing FILE")?;
            let text = format!("{}\n", args[1..].join(" "));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(applet == "append")
                .truncate(applet == "write")
                .open(file)
                .map_err(|e| io_err(file, e))?;
            f.write_all(text.as_bytes()).map_err(|e| io_err(file, e))?;
            Ok(0)
        }
        "sparse" => {
            let file = args.first().ok_or("missing FILE")?;
            let size = parse_size(args.get(1).ok_or("missing SIZE")?)? as u64;
            let text = format!("{}\n", args[2..].join(" "));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(file)
                .map_err(|e| io_err(file, e))?;
            let hole = size.saturating_sub(text.len() as u64);
            f.set_len(hole).map_err(|e| io_err(file, e))?;
            f.seek(SeekFrom::Start(hole)).map_err(|e| io_err(file, e))?;
            f.write_all(text.as_bytes()).map_err(|e| io_err(file, e))?;
            Ok(0)
        }
        "ls" => {
            let dir = args.first().ok_or("missing DIR")?;
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| io_err(dir, e))?
                .filter_map(Result::ok)
                .map(|e| {
                    let slash = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        "/"
                    } else {
                        ""
                    };
                    format!("{}{slash}", e.file_name().to_string_lossy())
                })
                .collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
            Ok(0)
        }
        "log" => {
            let file = args.first().ok_or("missing FILE")?;
            let n: u64 = arg(args, 1, "N")?;
            let ms: u64 = opt_arg(args, 2, "MS")?.unwrap_or(0);
            for i in 1..=n {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .map_err(|e| io_err(file, e))?;
                // One write per line, as a logger does: a follower never sees half of one.
                f.write_all(format!("line {i}\n").as_bytes())
                    .map_err(|e| io_err(file, e))?;
                if ms > 0 && i < n {
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
            Ok(0)
        }
        "tail-f" => {
            let file = args.first().ok_or("missing FILE")?;
            let n: usize = arg(args, 1, "N")?;
            let start = std::time::Instant::now();
            loop {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                if lines.len() >= n {
                    for l in &lines[..n] {
                        println!("{l}");
                    }
                    return Ok(0);
                }
                if start.elapsed() > Duration::from_secs(30) {
                    return Err(format!("{file}: only {} lines after 30 s", lines.len()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        "mark" => {
            let mut first_new = false;
            for (i, f) in args.iter().enumerate() {
                let existed = std::fs::metadata(f).is_ok();
                if !existed {
                    std::fs::write(f, b"marked\n").map_err(|e| io_err(f, e))?;
                }
                println!("{f}: {}", if existed { "existed" } else { "created" });
                first_new |= i == 0 && !existed;
            }
            Ok(u8::from(first_new))
        }
        "symlink" => {
            let (target, link) = (
                arg::<String>(args, 0, "TARGET")?,
                arg::<String>(args, 1, "LINK")?,
            );
            symlink(&target, &link).map_err(|e| io_err(&link, e))?;
            Ok(0)
        }
        "rename" => {
            let (from, to) = (
                arg::<String>(args, 0, "FROM")?,
                arg::<String>(args, 1, "TO")?,
            );
            std::fs::rename(&from, &to).map_err(|e| io_err(&from, e))?;
            Ok(0)
        }
        "mkdir" => {
            let dir = args.first().ok_or("missing DIR")?;
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
            Ok(0)
        }
        "help" => {
            println!("testkit applets:");
            for (_, usage) in APPLETS {
                println!("  {usage}");
            }
            Ok(0)
        }
        other => Err(format!(
            "unknown applet `{other}`; run `testkit help` for the list"
        )),
    }
}

/// The error as the tests match it: the OS message and Rust's kind.
fn io_err(path: &str, e: std::io::Error) -> String {
    format!("{path}: {e} [{:?}]", e.kind())
}

/// Through libc: std's wasi symlink is unstable.
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    let c = |s: &str| {
        std::ffi::CString::new(s)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (t, l) = (c(target)?, c(link)?);
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    if unsafe { libc::symlink(t.as_ptr(), l.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T, String> {
    opt_arg(args, i, name)?.ok_or_else(|| format!("missing {name}"))
}

fn opt_arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    name: &str,
) -> Result<Option<T>, String> {
    match args.get(i) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid {name} `{s}`")),
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = [("Ki", 1usize << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
        .unwrap_or((s, 1));
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size `{s}`"))
}
