//! `testkit`: a small multi-call program that the tests and examples use as a container image.
//!
//! The applet is picked from the basename of argv[0] when it names one (so `command: ["exit", "3"]`
//! works), otherwise from argv[1] (`command: ["testkit", "exit", "3"]`). The same source builds for
//! wasm32-wasip2 (embedded in wpod) and natively (for the Linux backend).

mod common;
mod net;

use std::io::Write;
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
    ("serve", "serve ADDR:PORT TEXT  answer every HTTP request with TEXT, one client at a time"),
    ("get", "get HOST:PORT [PATH]  HTTP GET, retrying refusals for 10 s; exit 1 unless 200"),
    ("try-get", "try-get HOST:PORT PATH MS  one HTTP GET attempt after MS milliseconds"),
    ("echo-server", "echo-server ADDR:PORT echo every TCP connection back until EOF"),
    ("send", "send HOST:PORT TEXT   send TEXT, half-close, print the whole reply"),
    ("bind", "bind ADDR:PORT        bind a TCP port and hold it for SECONDS (default: forever)"),
    ("udp-echo", "udp-echo ADDR:PORT    echo UDP datagrams back to their sender"),
    ("udp-send", "udp-send HOST:PORT TEXT  send a datagram, print the reply"),
    ("ping-pong", "ping-pong HOST:PORT N SIZE  N request/response round trips; print timings"),
    ("bulk", "bulk HOST:PORT MIB    stream MIB MiB to a sink; print the throughput"),
    ("sink", "sink ADDR:PORT        read connections to the end; print how many bytes"),
    ("help", "help                 list the applets"),
];

fn main() {
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
        | "ping-pong" | "bulk" | "sink" => net::run(applet, args),
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
