//! Process and system applets: `sleep`, `env`, `printenv`, `id`, `whoami`, `uname`, `kill`, `ps`,
//! `xargs`, `true`, `false`.

use std::time::Duration;

use super::opts;
use crate::io::Ctx;
use crate::sys;

pub fn true_(_ctx: &mut Ctx, _args: &[String]) -> i32 {
    0
}

pub fn false_(_ctx: &mut Ctx, _args: &[String]) -> i32 {
    1
}

/// `1.5`, `2m`, `1h`, `infinity` to seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    if s == "inf" || s == "infinity" {
        return Some(f64::INFINITY);
    }
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1.0),
        Some('m') => (&s[..s.len() - 1], 60.0),
        Some('h') => (&s[..s.len() - 1], 3600.0),
        Some('d') => (&s[..s.len() - 1], 86400.0),
        _ => (s, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * mult)
}

/// `stty [size | raw | -raw | sane | cooked]`: the terminal on stdin, as busybox's stty shows and
/// sets the part of it wpod's terminals have (their size, raw or cooked mode).
pub fn stty(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some((rows, cols)) = crate::sys::terminal_size() else {
        ctx.error("stty", "standard input: Not a tty");
        return 1;
    };
    match args.first().map(String::as_str) {
        None => {
            ctx.write_out(format!("speed 38400 baud; rows {rows}; columns {cols};\n").as_bytes())
        }
        Some("size") => ctx.write_out(format!("{rows} {cols}\n").as_bytes()),
        Some(mode @ ("raw" | "-raw" | "sane" | "cooked" | "-cooked")) => {
            crate::sys::terminal_raw(matches!(mode, "raw" | "-cooked"));
        }
        Some(other) => {
            ctx.error("stty", format!("invalid argument '{other}'"));
            return 1;
        }
    }
    0
}

pub fn sleep(ctx: &mut Ctx, args: &[String]) -> i32 {
    if args.is_empty() {
        ctx.error("sleep", "usage: sleep [N]...");
        return 1;
    }
    let mut total = 0.0;
    for a in args {
        match parse_duration(a) {
            Some(v) => total += v,
            None => {
                ctx.error("sleep", format!("invalid number '{a}'"));
                return 1;
            }
        }
    }
    let _ = ctx.stdout.flush();
    let mut left = total;
    while left > 0.0 {
        let step = left.min(86400.0);
        if !sys::sleep(Duration::from_secs_f64(step)) {
            // A trapped signal arrived: return so the shell can run the trap.
            return 128 + 15;
        }
        if left.is_finite() {
            left -= step;
        }
    }
    0
}

/// `timeout [-s SIG] [-k SECS] SECS PROG ARGS...`: runs PROG as a child process and sends it SIG
/// (TERM) after SECS, then KILL after -k SECS more if it is still there; 124 if it timed out.
pub fn timeout(ctx: &mut Ctx, args: &[String]) -> i32 {
    use crate::io::Fd;
    use crate::proc::{In, Out};
    let (mut sig, mut kill_after, mut i) = (15, None, 0);
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-s" => {
                i += 1;
                match args.get(i).and_then(|s| sys::signal_number(s)) {
                    Some(n) => sig = n,
                    None => {
                        ctx.error("timeout", "invalid signal");
                        return 125;
                    }
                }
            }
            "-k" => {
                i += 1;
                match args.get(i).and_then(|s| parse_duration(s)) {
                    Some(v) => kill_after = Some(v),
                    None => {
                        ctx.error("timeout", "invalid duration");
                        return 125;
                    }
                }
            }
            _ => break,
        }
        i += 1;
    }
    let Some(secs) = args.get(i).and_then(|s| parse_duration(s)) else {
        ctx.error(
            "timeout",
            "usage: timeout [-s SIG] [-k KILL_SECS] SECS PROG ARGS",
        );
        return 125;
    };
    let argv = &args[i + 1..];
    if argv.is_empty() {
        ctx.error(
            "timeout",
            "usage: timeout [-s SIG] [-k KILL_SECS] SECS PROG ARGS",
        );
        return 125;
    }
    let out = |fd: &Fd, own: bool| match fd {
        Fd::Null | Fd::Closed => Out::Null,
        _ if own => Out::Inherit,
        _ => Out::Pipe,
    };
    let stdout = out(&ctx.stdout, matches!(ctx.stdout, Fd::Stdout));
    let stderr = out(&ctx.stderr, matches!(ctx.stderr, Fd::Stderr));
    let stdin = match ctx.stdin {
        Fd::Stdin => In::Inherit,
        _ => In::Null,
    };
    let _ = ctx.stdout.flush();
    let mut child = match crate::proc::spawn_applet(ctx, argv, (stdin, stdout, stderr)) {
        Ok(c) => c,
        Err(e) => {
            ctx.error("timeout", format!("can't execute '{}': {e}", argv[0]));
            return 126;
        }
    };
    let limit = Duration::from_secs_f64(secs.min(1e9));
    let deadline = std::time::Instant::now() + limit;
    let mut from = Vec::new();
    if let Some(r) = child.take_stdout() {
        from.push((r, ctx.stdout.clone()));
    }
    if let Some(r) = child.take_stderr() {
        from.push((r, ctx.stderr.clone()));
    }
    if crate::proc::pump(None, from, Some(deadline)) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if let Some(code) = child.wait_timeout(left) {
            return code;
        }
    }
    child.kill(sig);
    if let Some(k) = kill_after
        && child
            .wait_timeout(Duration::from_secs_f64(k.min(1e9)))
            .is_none()
    {
        child.kill(9);
    }
    child.wait();
    124
}

pub fn env(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut env = ctx.env.clone();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-i" | "-" => env.clear(),
            "-u" => {
                i += 1;
                if let Some(n) = args.get(i) {
                    env.retain(|(k, _)| k != n);
                }
            }
            "--" => {
                i += 1;
                break;
            }
            s if s.contains('=') && !s.starts_with('=') => {
                let (k, v) = s.split_once('=').unwrap_or((s, ""));
                env.retain(|(n, _)| n != k);
                env.push((k.to_string(), v.to_string()));
            }
            _ => break,
        }
        i += 1;
    }
    while let Some(a) = args.get(i) {
        if let Some((k, v)) = a.split_once('=').filter(|(k, _)| !k.is_empty()) {
            env.retain(|(n, _)| n != k);
            env.push((k.to_string(), v.to_string()));
            i += 1;
        } else {
            break;
        }
    }
    if i >= args.len() {
        let s: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        ctx.write_out(s.as_bytes());
        return 0;
    }
    let name = args[i].rsplit('/').next().unwrap_or(&args[i]).to_string();
    if !super::exists(&name) {
        ctx.error(
            "env",
            format!("can't execute '{}': No such file or directory", args[i]),
        );
        return 127;
    }
    let mut sub = ctx.clone();
    sub.env = env;
    super::run(&mut sub, &name, &args[i + 1..])
}

pub fn printenv(ctx: &mut Ctx, args: &[String]) -> i32 {
    if args.is_empty() {
        let s: String = ctx.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        ctx.write_out(s.as_bytes());
        return 0;
    }
    let mut st = 0;
    let mut s = String::new();
    for a in args {
        match ctx.getenv(a) {
            Some(v) => {
                s.push_str(v);
                s.push('\n');
            }
            None => st = 1,
        }
    }
    ctx.write_out(s.as_bytes());
    st
}

fn name_of(id: u32) -> String {
    if id == 0 {
        return "root".into();
    }
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(id)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| id.to_string())
}

pub fn id(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "id", args, "ugGnr") else {
        return 1;
    };
    let (uid, gid) = sys::ids();
    let one = |id: u32| {
        if o.has('n') {
            name_of(id)
        } else {
            id.to_string()
        }
    };
    let s = if o.has('u') {
        one(uid)
    } else if o.has('g') || o.has('G') {
        one(gid)
    } else {
        format!(
            "uid={uid}({}) gid={gid}({}) groups={gid}({})",
            name_of(uid),
            name_of(gid),
            name_of(gid)
        )
    };
    ctx.write_out(format!("{s}\n").as_bytes());
    0
}

pub fn whoami(ctx: &mut Ctx, _args: &[String]) -> i32 {
    let s = name_of(sys::ids().0);
    ctx.write_out(format!("{s}\n").as_bytes());
    0
}

pub fn uname(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "uname", args, "asnrvmpio") else {
        return 1;
    };
    let u = sys::uname();
    let node = ctx
        .getenv("HOSTNAME")
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            if u.nodename.is_empty() {
                "localhost".into()
            } else {
                u.nodename.clone()
            }
        });
    let all = o.has('a');
    let mut parts: Vec<String> = Vec::new();
    if all || o.has('s') || o.flags.is_empty() {
        parts.push(u.sysname.clone());
    }
    if all || o.has('n') {
        parts.push(node);
    }
    if all || o.has('r') {
        parts.push(u.release.clone());
    }
    if all || o.has('v') {
        parts.push(u.version.clone());
    }
    if all || o.has('m') {
        parts.push(u.machine.clone());
    }
    if o.has('p') || o.has('i') {
        parts.push(u.machine.clone());
    }
    if all || o.has('o') {
        parts.push("GNU/Linux".into());
    }
    ctx.write_out(format!("{}\n", parts.join(" ")).as_bytes());
    0
}

pub fn kill(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut sig = 15;
    let mut i = 0;
    if let Some(a) = args.first() {
        if a == "-l" || a == "-L" {
            let s: String = (1..32)
                .map(sys::signal_name)
                .filter(|n| n.parse::<i32>().is_err())
                .collect::<Vec<_>>()
                .join(" ");
            ctx.write_out(format!("{s}\n").as_bytes());
            return 0;
        }
        if a == "-s" || a == "-n" {
            i = 2;
            match args.get(1).and_then(|s| sys::signal_number(s)) {
                Some(n) => sig = n,
                None => {
                    ctx.error(
                        "kill",
                        format!(
                            "bad signal name '{}'",
                            args.get(1).map(String::as_str).unwrap_or("")
                        ),
                    );
                    return 1;
                }
            }
        } else if let Some(s) = a.strip_prefix('-') {
            i = 1;
            match sys::signal_number(s) {
                Some(n) => sig = n,
                None => {
                    ctx.error("kill", format!("bad signal name '{s}'"));
                    return 1;
                }
            }
        }
    }
    let pids = &args[i..];
    if pids.is_empty() {
        ctx.error("kill", "usage: kill [-s SIG | -SIG] PID...");
        return 1;
    }
    let mut st = 0;
    for p in pids {
        let Ok(pid) = p.parse::<i32>() else {
            ctx.error("kill", format!("bad pid '{p}'"));
            st = 1;
            continue;
        };
        if let Err(e) = sys::kill(pid, sig) {
            ctx.error("kill", format!("can't kill pid {pid}: {e}"));
            st = 1;
        }
    }
    st
}

/// The live processes (zombies aside) but the caller whose command (argv[0]'s basename) is
/// `name`, in pid order, as busybox's find_pid_by_name finds them.
fn named(name: &str) -> Vec<u32> {
    let me = sys::pid();
    let mut pids: Vec<u32> = sys::processes()
        .into_iter()
        .filter(|p| p.pid != me && !p.zombie)
        .filter(|p| {
            p.argv
                .first()
                .is_some_and(|a| a.rsplit('/').next() == Some(name))
        })
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids
}

/// `pidof [-s] [-o PID] NAME...`: the pids running NAME; 1 when there are none.
pub fn pidof(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "pidof", args, "so:") else {
        return 1;
    };
    let omit: Vec<u32> = o
        .val('o')
        .and_then(|p| p.parse().ok())
        .into_iter()
        .collect();
    let mut found: Vec<String> = Vec::new();
    for name in &o.args {
        let pids = named(name).into_iter().filter(|p| !omit.contains(p));
        found.extend(pids.map(|p| p.to_string()));
        if o.has('s') && !found.is_empty() {
            found.truncate(1);
            break;
        }
    }
    if found.is_empty() {
        return 1;
    }
    ctx.write_out(format!("{}\n", found.join(" ")).as_bytes());
    0
}

/// `killall [-q] [-SIG | -s SIG] NAME...`: signals every process running NAME (`-0` only asks
/// whether there is one); 1 when a NAME matched none.
pub fn killall(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut sig = 15;
    let mut quiet = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let given = match a.as_str() {
            "-q" => {
                quiet = true;
                i += 1;
                continue;
            }
            "-s" => {
                i += 1;
                args.get(i).map(String::as_str)
            }
            "--" => {
                i += 1;
                break;
            }
            a => match a.strip_prefix('-') {
                Some(s) => Some(s),
                None => break,
            },
        };
        match given.and_then(sys::signal_number) {
            Some(n) => sig = n,
            None => {
                ctx.error(
                    "killall",
                    format!("bad signal name '{}'", given.unwrap_or("")),
                );
                return 1;
            }
        }
        i += 1;
    }
    let names = &args[i..];
    if names.is_empty() {
        ctx.error("killall", "usage: killall [-q] [-SIG | -s SIG] NAME...");
        return 1;
    }
    let mut st = 0;
    for name in names {
        let pids = named(name);
        if pids.is_empty() {
            if !quiet {
                ctx.error("killall", format!("{name}: no process killed"));
            }
            st = 1;
        }
        for pid in pids {
            // A signal 0 only asks; one that finds the process gone has nothing left to do.
            let Ok(pid) = i32::try_from(pid) else {
                continue;
            };
            let _ = sys::kill(pid, sig);
        }
    }
    st
}

/// busybox's `ps`: PID, USER, TIME (CPU minutes:seconds, where the system counts it) and the
/// command line of every process in the PID namespace; `-o pid,ppid,user,comm,args` picks columns.
pub fn ps(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut columns = vec!["pid", "user", "time", "args"];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-o" => {
                i += 1;
                let Some(list) = args.get(i) else {
                    ctx.error("ps", "option requires an argument -- 'o'");
                    return 1;
                };
                let picked: Vec<&str> = list.split(',').map(str::trim).collect();
                if let Some(bad) = picked
                    .iter()
                    .find(|c| !["pid", "ppid", "user", "time", "comm", "args", "stat"].contains(c))
                {
                    ctx.error("ps", format!("bad -o argument '{bad}'"));
                    return 1;
                }
                columns = picked.iter().map(|c| COLUMNS[column(c)]).collect();
            }
            // Every process is shown anyway: the namespace is the container's (or pod's).
            "-e" | "-A" | "-a" | "-x" | "aux" | "ax" | "-ef" | "-w" | "w" => {}
            other => {
                ctx.error("ps", format!("unknown option '{other}'"));
                return 1;
            }
        }
        i += 1;
    }
    let header: Vec<String> = columns.iter().map(|c| heading(c)).collect();
    let mut out = header.join(" ").trim_end().to_string() + "\n";
    for p in sys::processes() {
        let cells: Vec<String> = columns.iter().map(|c| cell(c, &p)).collect();
        out.push_str(cells.join(" ").trim_end());
        out.push('\n');
    }
    ctx.write_out(out.as_bytes());
    0
}

const COLUMNS: [&str; 7] = ["pid", "ppid", "user", "time", "comm", "args", "stat"];

fn column(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap_or(0)
}

fn heading(c: &str) -> String {
    match c {
        "pid" => format!("{:>5}", "PID"),
        "ppid" => format!("{:>5}", "PPID"),
        "user" => format!("{:<8}", "USER"),
        "time" => format!("{:>5}", "TIME"),
        "stat" => "STAT".into(),
        "comm" => "COMMAND".into(),
        _ => "COMMAND".into(),
    }
}

fn cell(c: &str, p: &sys::ProcessInfo) -> String {
    match c {
        "pid" => format!("{:>5}", p.pid),
        "ppid" => format!("{:>5}", p.ppid),
        "user" => format!("{:<8}", name_of(p.uid)),
        "time" => {
            let secs = p.cpu_ticks.unwrap_or(0) / 100;
            format!("{:>5}", format!("{}:{:02}", secs / 60, secs % 60))
        }
        "stat" => if p.zombie { "Z" } else { "S" }.into(),
        "comm" => p
            .argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
            .unwrap_or_default(),
        // As busybox's read_cmdline: control characters (a script's newlines) show as '?'.
        _ => p
            .argv
            .join(" ")
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect(),
    }
}

/// Splits xargs input into arguments: blanks separate, quotes and backslashes group.
fn xargs_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            c if c.is_whitespace() => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            '\'' | '"' => {
                have = true;
                for d in it.by_ref() {
                    if d == c {
                        break;
                    }
                    cur.push(d);
                }
            }
            '\\' => {
                have = true;
                if let Some(d) = it.next() {
                    cur.push(d);
                }
            }
            c => {
                have = true;
                cur.push(c);
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

pub fn xargs(ctx: &mut Ctx, args: &[String]) -> i32 {
    // Options stop at the command.
    let mut i = 0;
    let mut n: Option<usize> = None;
    let mut repl: Option<String> = None;
    let mut zero = false;
    let mut trace = false;
    let mut no_empty = false;
    while let Some(a) = args.get(i) {
        let val = |i: &mut usize, inline: &str| -> Option<String> {
            if !inline.is_empty() {
                Some(inline.to_string())
            } else {
                *i += 1;
                args.get(*i).cloned()
            }
        };
        if let Some(v) = a.strip_prefix("-n") {
            n = val(&mut i, v)
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0);
        } else if let Some(v) = a.strip_prefix("-I") {
            repl = val(&mut i, v);
        } else if a == "-0" {
            zero = true;
        } else if a == "-t" {
            trace = true;
        } else if a == "-r" || a == "--no-run-if-empty" {
            no_empty = true;
        } else if let Some(v) = a
            .strip_prefix("-P")
            .or(a.strip_prefix("-s"))
            .or(a.strip_prefix("-L"))
        {
            if a.starts_with("-L") {
                n = val(&mut i, v)
                    .and_then(|v| v.parse().ok())
                    .filter(|v| *v > 0);
            } else {
                let _ = val(&mut i, v);
            }
        } else if a == "--" {
            i += 1;
            break;
        } else {
            break;
        }
        i += 1;
    }
    let cmd: Vec<String> = if i < args.len() {
        args[i..].to_vec()
    } else {
        vec!["echo".into()]
    };
    let mut data = Vec::new();
    if let Err(e) = ctx.stdin.read_all(&mut data) {
        return super::finish(ctx, "xargs", Err(e));
    }
    let text = String::from_utf8_lossy(&data);
    let items: Vec<String> = if zero {
        text.split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    } else if repl.is_some() {
        text.lines()
            .map(|l| l.trim_start().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        xargs_words(&text)
    };
    let name = cmd[0].rsplit('/').next().unwrap_or(&cmd[0]).to_string();
    if !super::exists(&name) {
        ctx.error("xargs", format!("{}: No such file or directory", cmd[0]));
        return 127;
    }
    let mut batches: Vec<Vec<String>> = Vec::new();
    if let Some(r) = &repl {
        for it in &items {
            batches.push(cmd[1..].iter().map(|a| a.replace(r.as_str(), it)).collect());
        }
    } else {
        let per = n.unwrap_or(usize::MAX);
        if items.is_empty() {
            if !no_empty {
                batches.push(cmd[1..].to_vec());
            }
        } else {
            for chunk in items.chunks(per.min(items.len()).max(1)) {
                let mut a = cmd[1..].to_vec();
                a.extend_from_slice(chunk);
                batches.push(a);
            }
        }
    }
    let mut st = 0;
    for b in batches {
        if trace {
            ctx.write_err(format!("{} {}\n", name, b.join(" ")).as_bytes());
        }
        let mut sub = ctx.clone();
        sub.stdin = crate::io::Fd::Null;
        let r = super::run(&mut sub, &name, &b);
        if r == 255 {
            return 124;
        }
        if r == 141 && ctx.stdout.is_broken_pipe() {
            return 141;
        }
        if r != 0 {
            st = 123;
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5"), Some(1.5));
        assert_eq!(parse_duration("2m"), Some(120.0));
        assert_eq!(parse_duration("infinity"), Some(f64::INFINITY));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1"), None);
    }

    #[test]
    fn words() {
        assert_eq!(
            xargs_words("a  'b c'\n\"d\" e\\ f"),
            ["a", "b c", "d", "e f"]
        );
    }
}
