//! Builtins that act on the shell's own state (`cd`, `export`, `read`, `trap`, ...). Builtins
//! that do not (`echo`, `printf`, `test`) are applets run in-process.

use std::path::{Component, Path, PathBuf};

use super::exec::quote;
use super::{Ctrl, Res, Shell, Var};
use crate::sys;

const SPECIAL: &[&str] = &[
    ":", ".", "source", "eval", "exec", "exit", "export", "readonly", "return", "set", "shift",
    "trap", "unset", "break", "continue", "local",
];

const REGULAR: &[&str] = &[
    "cd", "pwd", "read", "wait", "type", "command", "umask", "ulimit", "alias", "unalias", "hash",
    "getopts", "jobs", "times",
];

pub fn is_special(name: &str) -> bool {
    SPECIAL.contains(&name)
}

pub fn is_builtin(name: &str) -> bool {
    REGULAR.contains(&name)
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Shell {
    fn out(&self, s: &str) -> Res {
        match self.fd(1).write_all_fd(s.as_bytes()) {
            Ok(()) => Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Ctrl::Exit(141)),
            Err(_) => Ok(1),
        }
    }
}

impl crate::io::Fd {
    pub fn write_all_fd(&self, mut b: &[u8]) -> std::io::Result<()> {
        while !b.is_empty() {
            match self.write(b) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => b = &b[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flush()
    }
}

/// `..` and `.` resolved textually (as `cd` does without -P).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

pub fn run(sh: &mut Shell, name: &str, argv: &[String]) -> Res {
    let args = &argv[1..];
    match name {
        ":" => Ok(0),
        "exit" => {
            let st = match args.first() {
                None => sh.status,
                Some(a) => match a.parse::<i64>() {
                    Ok(n) => (n & 0xff) as i32,
                    Err(_) => {
                        sh.err(&format!("exit: Illegal number: {a}"));
                        2
                    }
                },
            };
            Err(Ctrl::Exit(st))
        }
        "return" => {
            let st = match args.first() {
                None => sh.status,
                Some(a) => a.parse::<i64>().map(|n| (n & 0xff) as i32).unwrap_or(2),
            };
            Err(Ctrl::Return(st))
        }
        "break" | "continue" => {
            let n = match args.first().map(|a| a.parse::<usize>()) {
                None => 1,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => {
                    sh.err(&format!("{name}: Illegal number: {}", args[0]));
                    return Ok(2);
                }
            };
            if sh.loop_depth == 0 {
                return Ok(0);
            }
            let n = n.min(sh.loop_depth);
            Err(if name == "break" {
                Ctrl::Break(n)
            } else {
                Ctrl::Continue(n)
            })
        }
        "export" | "readonly" => {
            let args: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            if args.is_empty() {
                let mut names: Vec<(&String, &Var)> = sh
                    .vars
                    .iter()
                    .filter(|(_, v)| {
                        if name == "export" {
                            v.exported
                        } else {
                            v.readonly
                        }
                    })
                    .collect();
                names.sort_by(|a, b| a.0.cmp(b.0));
                let mut s = String::new();
                for (k, v) in names {
                    s.push_str(&format!("{name} {k}={}\n", quote(&v.value)));
                }
                return sh.out(&s);
            }
            let mut st = 0;
            for a in args {
                let (k, v) = match a.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (a.as_str(), None),
                };
                if !is_name(k) {
                    sh.err(&format!("{name}: {k}: bad variable name"));
                    st = 1;
                    continue;
                }
                if let Some(v) = v
                    && let Err(e) = sh.set_var(k, v)
                {
                    sh.err(&e);
                    st = 1;
                    continue;
                }
                let var = sh.vars.entry(k.to_string()).or_default();
                if name == "export" {
                    var.exported = true;
                } else {
                    var.readonly = true;
                }
            }
            Ok(st)
        }
        "unset" => {
            let funcs = args.iter().any(|a| a == "-f");
            let mut st = 0;
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                if funcs {
                    sh.funcs.remove(a);
                } else if sh.vars.get(a).is_some_and(|v| v.readonly) {
                    sh.err(&format!("unset: {a}: is read only"));
                    st = 1;
                } else {
                    sh.vars.remove(a);
                }
            }
            Ok(st)
        }
        "local" => {
            if sh.locals.is_empty() {
                sh.err("local: not in a function");
                return Ok(1);
            }
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                let (k, v) = match a.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (a.as_str(), None),
                };
                if !is_name(k) {
                    sh.err(&format!("local: {k}: bad variable name"));
                    return Ok(1);
                }
                let old = sh.vars.get(k).cloned();
                if let Some(frame) = sh.locals.last_mut()
                    && !frame.iter().any(|(n, _)| n == k)
                {
                    frame.push((k.to_string(), old));
                }
                if let Some(v) = v
                    && let Err(e) = sh.set_var(k, v)
                {
                    sh.err(&e);
                    return Ok(1);
                }
            }
            Ok(0)
        }
        "set" => set(sh, args),
        "shift" => {
            let n = match args.first().map(|a| a.parse::<usize>()) {
                None => 1,
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    sh.err(&format!("shift: Illegal number: {}", args[0]));
                    return Ok(2);
                }
            };
            if n > sh.params.len() {
                sh.err("shift: can't shift that many");
                return Ok(1);
            }
            sh.params.drain(..n);
            Ok(0)
        }
        "eval" => {
            let src = args.join(" ");
            sh.run_source(&src).inspect(|&s| {
                sh.status = s;
            })
        }
        "." | "source" => {
            let Some(file) = args.first() else {
                sh.err(&format!("{name}: filename argument required"));
                return Ok(2);
            };
            let mut cands = vec![file.clone()];
            if !file.contains('/') {
                for d in sh.get("PATH").unwrap_or_default().split(':') {
                    cands.push(format!("{d}/{file}"));
                }
            }
            let data = cands
                .iter()
                .find_map(|c| std::fs::read(crate::io::resolve(&sh.cwd, c)).ok());
            let Some(data) = data else {
                return Err(sh.fatal(&format!("{file}: not found")));
            };
            let src = String::from_utf8_lossy(&data).into_owned();
            let saved =
                (args.len() > 1).then(|| std::mem::replace(&mut sh.params, args[1..].to_vec()));
            sh.depth += 1;
            let r = sh.run_source(&src);
            sh.depth -= 1;
            if let Some(p) = saved {
                sh.params = p;
            }
            match r {
                Err(Ctrl::Return(s)) => Ok(s),
                r => r,
            }
        }
        "exec" => {
            if args.is_empty() {
                return Ok(0);
            }
            let st = sh.run_external(args, &[])?;
            Err(Ctrl::Exit(st))
        }
        "trap" => trap(sh, args),
        "cd" => cd(sh, args),
        "pwd" => {
            let s = format!("{}\n", sh.cwd.display());
            sh.out(&s)
        }
        "read" => read(sh, args),
        "wait" => Ok(sh.wait_jobs(args)),
        "jobs" => {
            let s = sh.list_jobs();
            sh.out(&s)
        }
        "type" => {
            let mut st = 0;
            let mut s = String::new();
            for a in args {
                match describe(sh, a) {
                    Some((kind, path)) => match kind {
                        Kind::Function => s.push_str(&format!("{a} is a function\n")),
                        Kind::Builtin => s.push_str(&format!("{a} is a shell builtin\n")),
                        Kind::Keyword => s.push_str(&format!("{a} is a shell keyword\n")),
                        Kind::File => s.push_str(&format!("{a} is {path}\n")),
                    },
                    None => {
                        sh.err(&format!("{a}: not found"));
                        st = 1;
                    }
                }
            }
            sh.out(&s)?;
            Ok(st)
        }
        "command" => {
            let mut i = 0;
            let mut mode = None;
            while let Some(a) = args.get(i) {
                match a.as_str() {
                    "-v" | "-V" => mode = Some(a.clone()),
                    "-p" => {}
                    "--" => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
                i += 1;
            }
            let rest = &args[i..];
            if let Some(m) = mode {
                let mut st = 0;
                let mut s = String::new();
                for a in rest {
                    match describe(sh, a) {
                        Some((Kind::File, path)) => s.push_str(&format!(
                            "{}\n",
                            if m == "-v" {
                                path
                            } else {
                                format!("{a} is {path}")
                            }
                        )),
                        Some(_) if m == "-v" => s.push_str(&format!("{a}\n")),
                        Some((Kind::Function, _)) => s.push_str(&format!("{a} is a function\n")),
                        Some(_) => s.push_str(&format!("{a} is a shell builtin\n")),
                        None => st = 1,
                    }
                }
                sh.out(&s)?;
                return Ok(st);
            }
            if rest.is_empty() {
                return Ok(0);
            }
            if is_special(&rest[0]) || is_builtin(&rest[0]) {
                return run(sh, &rest[0].clone(), rest);
            }
            sh.run_external(rest, &[])
        }
        "umask" => {
            if args.is_empty() {
                sh.out("0022\n")
            } else {
                Ok(0)
            }
        }
        "ulimit" => {
            if args.iter().all(|a| a.starts_with('-')) {
                sh.out("unlimited\n")
            } else {
                Ok(0)
            }
        }
        "getopts" => getopts(sh, args),
        _ => Ok(0),
    }
}

enum Kind {
    Function,
    Builtin,
    Keyword,
    File,
}

fn describe(sh: &Shell, name: &str) -> Option<(Kind, String)> {
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
        "{", "}", "!", "in",
    ];
    if KEYWORDS.contains(&name) {
        return Some((Kind::Keyword, String::new()));
    }
    if sh.funcs.contains_key(name) {
        return Some((Kind::Function, String::new()));
    }
    if is_special(name)
        || is_builtin(name)
        || ["echo", "printf", "test", "[", "true", "false", "kill"].contains(&name)
    {
        return Some((Kind::Builtin, String::new()));
    }
    if name.contains('/') {
        return crate::io::resolve(&sh.cwd, name)
            .is_file()
            .then(|| (Kind::File, name.to_string()));
    }
    if crate::applets::exists(name) {
        let dir = if [
            "sh", "ls", "cat", "date", "echo", "hostname", "kill", "ps", "mkdir", "rm", "sleep",
            "touch", "uname", "ln", "cp", "mv", "sed", "grep", "df", "pwd", "rmdir", "mount",
            "true", "false", "printenv",
        ]
        .contains(&name)
        {
            "/bin"
        } else {
            "/usr/bin"
        };
        return Some((Kind::File, format!("{dir}/{name}")));
    }
    None
}

fn set(sh: &mut Shell, args: &[String]) -> Res {
    if args.is_empty() {
        let mut v: Vec<(&String, &Var)> = sh.vars.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        let s: String = v
            .iter()
            .map(|(k, v)| format!("{k}={}\n", quote(&v.value)))
            .collect();
        return sh.out(&s);
    }
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            sh.params = args[i + 1..].to_vec();
            return Ok(0);
        }
        let (on, flags) = if let Some(f) = a.strip_prefix('-') {
            (true, f)
        } else if let Some(f) = a.strip_prefix('+') {
            (false, f)
        } else {
            sh.params = args[i..].to_vec();
            return Ok(0);
        };
        if flags == "o" {
            i += 1;
            let opt = args.get(i).map(String::as_str).unwrap_or("");
            match opt {
                "errexit" => sh.errexit = on,
                "xtrace" => sh.xtrace = on,
                "nounset" => sh.nounset = on,
                "noglob" => sh.noglob = on,
                "pipefail" | "noclobber" | "monitor" | "posix" | "" => {}
                o => {
                    sh.err(&format!("set: illegal option -o {o}"));
                    return Ok(2);
                }
            }
        } else if flags.is_empty() {
            // `set -` : turn off -x and -v.
            sh.xtrace = false;
        } else {
            for c in flags.chars() {
                match c {
                    'e' => sh.errexit = on,
                    'x' => sh.xtrace = on,
                    'u' => sh.nounset = on,
                    'f' => sh.noglob = on,
                    'v' | 'm' | 'C' | 'h' | 'a' | 'b' | 'n' => {}
                    _ => {
                        sh.err(&format!("set: illegal option -{c}"));
                        return Ok(2);
                    }
                }
            }
        }
        i += 1;
    }
    Ok(0)
}

fn trap(sh: &mut Shell, args: &[String]) -> Res {
    if args.is_empty() || args[0] == "-p" {
        let s: String = sh
            .traps
            .iter()
            .map(|(sig, a)| format!("trap -- {} {}\n", quote(a), sys::signal_name(*sig)))
            .collect();
        return sh.out(&s);
    }
    if args[0] == "-l" {
        return sh.out(
            "0) EXIT 1) HUP 2) INT 3) QUIT 9) KILL 10) USR1 12) USR2 13) PIPE 14) ALRM 15) TERM\n",
        );
    }
    let (action, sigs) = if args.len() == 1
        || sys::signal_number(&args[0]).is_some() && args[0].parse::<i32>().is_ok()
    {
        // `trap SIG...` (or a lone number) resets.
        (None, args)
    } else {
        (Some(args[0].as_str()).filter(|a| *a != "-"), &args[1..])
    };
    let mut st = 0;
    for s in sigs {
        let Some(n) = sys::signal_number(s) else {
            sh.err(&format!("trap: {s}: bad trap"));
            st = 1;
            continue;
        };
        match action {
            None => {
                sh.traps.remove(&n);
                if n != 0 {
                    sys::set_disposition(n, sys::Disposition::Default);
                }
            }
            Some(a) => {
                sh.traps.insert(n, a.to_string());
                if n != 0 {
                    let d = if a.is_empty() {
                        sys::Disposition::Ignore
                    } else {
                        sys::Disposition::Catch
                    };
                    sys::set_disposition(n, d);
                }
            }
        }
    }
    Ok(st)
}

fn cd(sh: &mut Shell, args: &[String]) -> Res {
    let args: Vec<&String> = args.iter().filter(|a| *a != "-L" && *a != "-P").collect();
    let mut print = false;
    let target = match args.first().map(|s| s.as_str()) {
        None => sh.get("HOME").unwrap_or_else(|| "/".into()),
        Some("-") => {
            print = true;
            sh.get("OLDPWD")
                .unwrap_or_else(|| sh.cwd.display().to_string())
        }
        Some(t) => t.to_string(),
    };
    let new = normalize(&crate::io::resolve(&sh.cwd, &target));
    let ok = new == Path::new("/") || new.is_dir();
    if !ok {
        let why = match std::fs::metadata(&new) {
            Ok(_) => "Not a directory".to_string(),
            Err(e) => crate::io::errstr(&e),
        };
        sh.err(&format!("cd: can't cd to {target}: {why}"));
        return Ok(2);
    }
    let old = sh.cwd.display().to_string();
    sh.cwd = new;
    let _ = sh.set_var("OLDPWD", &old);
    let pwd = sh.cwd.display().to_string();
    let _ = sh.set_var("PWD", &pwd);
    if print {
        sh.out(&format!("{pwd}\n"))?;
    }
    Ok(0)
}

fn read(sh: &mut Shell, args: &[String]) -> Res {
    let mut raw = false;
    let mut names = Vec::new();
    let mut i = 0;
    let mut prompt = None;
    let mut nchars: Option<usize> = None;
    let mut delim = b'\n';
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-r" => raw = true,
            "-s" => {}
            "-p" => {
                i += 1;
                prompt = args.get(i).cloned();
            }
            "-t" | "-u" => i += 1,
            "-n" => {
                i += 1;
                nchars = args.get(i).and_then(|n| n.parse().ok());
            }
            "-d" => {
                i += 1;
                delim = args.get(i).and_then(|d| d.bytes().next()).unwrap_or(0);
            }
            "--" => {
                names.extend(args[i + 1..].iter().cloned());
                break;
            }
            a if a.starts_with('-') && a.len() > 1 => {
                for c in a[1..].chars() {
                    if c == 'r' {
                        raw = true;
                    }
                }
            }
            _ => names.push(a.clone()),
        }
        i += 1;
    }
    if let Some(p) = prompt {
        let _ = sh.fd(2).write(p.as_bytes());
    }
    if names.is_empty() {
        names.push("REPLY".into());
    }
    let input = sh.fd(0);
    let mut line = String::new();
    let mut eof = false;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let n = if let Some(k) = nchars {
            let mut b = vec![0u8; k.saturating_sub(line.len())];
            let r = input.read(&mut b).unwrap_or(0);
            bytes.extend_from_slice(&b[..r]);
            r
        } else {
            input.read_until(delim, &mut bytes).unwrap_or(0)
        };
        if n == 0 {
            eof = true;
            break;
        }
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        let had_delim = s.ends_with(delim as char);
        if had_delim {
            s.pop();
        }
        if !raw && s.ends_with('\\') && had_delim {
            s.pop();
            line.push_str(&s);
            continue;
        }
        line.push_str(&s);
        if !had_delim && nchars.is_none() {
            eof = true;
        }
        break;
    }
    if !raw {
        let mut out = String::new();
        let mut it = line.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                if let Some(n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        line = out;
    }
    let ifs = sh.get("IFS").unwrap_or_else(|| " \t\n".into());
    let values = split_read(&line, &ifs, names.len());
    for (k, v) in names
        .iter()
        .zip(values.into_iter().chain(std::iter::repeat(String::new())))
    {
        if let Err(e) = sh.set_var(k, &v) {
            sh.err(&e);
            return Ok(1);
        }
    }
    Ok(i32::from(eof))
}

/// Splits a line read by `read` into at most `n` fields; the last gets the rest.
fn split_read(line: &str, ifs: &str, n: usize) -> Vec<String> {
    let ws = |c: char| ifs.contains(c) && c.is_whitespace();
    let mut out = Vec::new();
    let mut rest = line.trim_start_matches(ws);
    while out.len() + 1 < n && !rest.is_empty() {
        match rest.find(|c| ifs.contains(c)) {
            Some(i) => {
                out.push(rest[..i].to_string());
                let mut r = &rest[i..];
                let mut seen_nonws = false;
                while let Some(c) = r.chars().next() {
                    if ws(c) {
                        r = &r[c.len_utf8()..];
                    } else if ifs.contains(c) && !seen_nonws {
                        seen_nonws = true;
                        r = &r[c.len_utf8()..];
                    } else {
                        break;
                    }
                }
                rest = r;
            }
            None => {
                out.push(rest.to_string());
                rest = "";
            }
        }
    }
    if out.len() < n && (!rest.is_empty() || out.is_empty()) {
        out.push(rest.trim_end_matches(ws).to_string());
    }
    out
}

fn getopts(sh: &mut Shell, args: &[String]) -> Res {
    let (Some(spec), Some(var)) = (args.first(), args.get(1)) else {
        sh.err("getopts: usage: getopts optstring var [arg...]");
        return Ok(2);
    };
    let list: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        sh.params.clone()
    };
    let optind: usize = sh
        .get("OPTIND")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pos: usize = sh
        .get("_GETOPTS_POS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let Some(arg) = list.get(optind - 1) else {
        let _ = sh.set_var(var, "?");
        return Ok(1);
    };
    if !arg.starts_with('-') || arg == "-" || pos >= arg.len() && pos == 1 {
        let _ = sh.set_var(var, "?");
        return Ok(1);
    }
    if arg == "--" {
        let _ = sh.set_var("OPTIND", &(optind + 1).to_string());
        let _ = sh.set_var(var, "?");
        return Ok(1);
    }
    let chars: Vec<char> = arg.chars().collect();
    let c = chars.get(pos).copied().unwrap_or('?');
    let next = |sh: &mut Shell, consumed_next: bool| {
        let _ = sh.set_var(
            "OPTIND",
            &(optind + 1 + usize::from(consumed_next)).to_string(),
        );
        let _ = sh.set_var("_GETOPTS_POS", "1");
    };
    let idx = spec.find(c).filter(|_| c != ':');
    match idx {
        None => {
            let _ = sh.set_var(var, "?");
            if !spec.starts_with(':') {
                sh.err(&format!("illegal option -- {c}"));
            }
            if pos + 1 >= chars.len() {
                next(sh, false);
            } else {
                let _ = sh.set_var("_GETOPTS_POS", &(pos + 1).to_string());
            }
        }
        Some(i) => {
            let _ = sh.set_var(var, &c.to_string());
            if spec[i + 1..].starts_with(':') {
                if pos + 1 < chars.len() {
                    let v: String = chars[pos + 1..].iter().collect();
                    let _ = sh.set_var("OPTARG", &v);
                    next(sh, false);
                } else if let Some(v) = list.get(optind) {
                    let _ = sh.set_var("OPTARG", v);
                    next(sh, true);
                } else {
                    sh.err(&format!("option requires an argument -- {c}"));
                    let _ = sh.set_var(var, "?");
                    next(sh, false);
                }
            } else if pos + 1 >= chars.len() {
                next(sh, false);
            } else {
                let _ = sh.set_var("_GETOPTS_POS", &(pos + 1).to_string());
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_split() {
        assert_eq!(split_read("  a b  c  ", " \t\n", 2), ["a", "b  c"]);
        assert_eq!(split_read("a b", " \t\n", 3), ["a", "b"]);
        assert_eq!(split_read("a:b:c", ":", 2), ["a", "b:c"]);
        assert_eq!(split_read("  x  ", " \t\n", 1), ["x"]);
        assert_eq!(split_read("", " ", 1), [""]);
    }

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("/..")), PathBuf::from("/"));
    }
}
