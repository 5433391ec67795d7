//! File applets: `ls`, `mkdir`, `rm`, `rmdir`, `touch`, `cp`, `mv`, `ln`, `find`, `basename`,
//! `dirname`, `df`, `pwd`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::date;
use super::{finish, opts};
use crate::io::{Ctx, errstr};

fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let b = (mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        let x = b & 1 != 0;
        let special = match shift {
            6 => mode & 0o4000 != 0,
            3 => mode & 0o2000 != 0,
            _ => mode & 0o1000 != 0,
        };
        s.push(match (x, special, shift) {
            (true, true, 0) => 't',
            (false, true, 0) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => 'x',
            (false, false, _) => '-',
        });
    }
    s
}

fn human(n: u64) -> String {
    let units = ["", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        n.to_string()
    } else if v < 10.0 {
        format!("{v:.1}{}", units[u])
    } else {
        format!("{:.0}{}", v, units[u])
    }
}

fn user_name(uid: u32) -> String {
    if uid == 0 {
        "root".into()
    } else {
        uid.to_string()
    }
}

struct LsOpts {
    long: bool,
    all: bool,
    almost: bool,
    dir: bool,
    recursive: bool,
    human: bool,
    classify: bool,
    reverse: bool,
    by_time: bool,
    inode_size: bool,
}

fn ls_line(ctx: &Ctx, o: &LsOpts, path: &Path, name: &str, now: i64) -> String {
    let Ok(m) = path.symlink_metadata() else {
        return format!("{name}\n");
    };
    let mut suffix = String::new();
    if o.classify {
        if m.is_dir() {
            suffix.push('/');
        } else if m.file_type().is_symlink() {
            suffix.push('@');
        } else if crate::sys::stat(&m).0 & 0o111 != 0 {
            suffix.push('*');
        }
    }
    if !o.long {
        return format!("{name}{suffix}\n");
    }
    let (mode, nlink, uid, gid) = crate::sys::stat(&m);
    let t = m.modified().map(date::mtime).unwrap_or(0);
    let tm = date::tm(t, 0);
    let when = if (now - t).abs() > 182 * 86400 {
        date::format(&tm, "%b %e  %Y")
    } else {
        date::format(&tm, "%b %e %H:%M")
    };
    let size = if o.human {
        human(m.len())
    } else {
        m.len().to_string()
    };
    let mut line = format!(
        "{} {:>4} {:<8} {:<8} {:>9} {} {name}",
        mode_string(mode),
        nlink,
        user_name(uid),
        user_name(gid),
        size,
        when
    );
    if m.file_type().is_symlink() {
        if let Ok(target) = fs::read_link(path) {
            line.push_str(&format!(" -> {}", target.display()));
        }
    } else {
        line.push_str(&suffix);
    }
    let _ = ctx;
    line.push('\n');
    line
}

fn sorted_entries(o: &LsOpts, dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| o.all || o.almost || !n.starts_with('.'))
        .collect();
    if o.all {
        names.push(".".into());
        names.push("..".into());
    }
    sort_names(o, dir, &mut names);
    Ok(names)
}

fn sort_names(o: &LsOpts, dir: &Path, names: &mut [String]) {
    if o.by_time {
        names.sort_by_key(|n| {
            std::cmp::Reverse(
                dir.join(n)
                    .symlink_metadata()
                    .and_then(|m| m.modified())
                    .map(date::mtime)
                    .unwrap_or(0),
            )
        });
    } else {
        names.sort();
    }
    if o.reverse {
        names.reverse();
    }
}

pub fn ls(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(op) = opts(ctx, "ls", args, "laA1dRhFrtCnei") else {
        return 1;
    };
    let o = LsOpts {
        long: op.has('l') || op.has('n'),
        all: op.has('a'),
        almost: op.has('A'),
        dir: op.has('d'),
        recursive: op.has('R'),
        human: op.has('h'),
        classify: op.has('F'),
        reverse: op.has('r'),
        by_time: op.has('t'),
        inode_size: op.has('i'),
    };
    let _ = o.inode_size;
    let mut operands = op.args.clone();
    if operands.is_empty() {
        operands.push(".".into());
    }
    let now = date::now().0;
    let mut out = ctx.out();
    let mut st = 0;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for a in &operands {
        let p = ctx.path(a);
        match p.symlink_metadata() {
            Err(e) => {
                ctx.error("ls", format!("{a}: {}", errstr(&e)));
                st = 2;
            }
            Ok(m) => {
                let is_dir = m.is_dir() || (m.file_type().is_symlink() && p.is_dir() && !o.long);
                if is_dir && !o.dir {
                    dirs.push(a.clone());
                } else {
                    files.push(a.clone());
                }
            }
        }
    }
    files.sort();
    dirs.sort();
    let r = (|| -> io::Result<()> {
        for f in &files {
            out.write_all(ls_line(ctx, &o, &ctx.path(f), f, now).as_bytes())?;
        }
        let headers = operands.len() > 1 || o.recursive;
        let mut first = files.is_empty();
        let mut queue: Vec<String> = dirs.clone();
        queue.reverse();
        while let Some(d) = queue.pop() {
            let p = ctx.path(&d);
            if !first {
                writeln!(out)?;
            }
            first = false;
            if headers {
                writeln!(out, "{d}:")?;
            }
            let names = match sorted_entries(&o, &p) {
                Ok(n) => n,
                Err(e) => {
                    ctx.error("ls", format!("can't open '{d}': {}", errstr(&e)));
                    st = 2;
                    continue;
                }
            };
            if o.long {
                let blocks: u64 = names
                    .iter()
                    .filter_map(|n| p.join(n).symlink_metadata().ok())
                    .map(|m| m.len().div_ceil(1024))
                    .sum();
                writeln!(out, "total {blocks}")?;
            }
            let mut subdirs = Vec::new();
            for n in &names {
                let child = p.join(n);
                out.write_all(ls_line(ctx, &o, &child, n, now).as_bytes())?;
                if o.recursive
                    && n != "."
                    && n != ".."
                    && child.symlink_metadata().is_ok_and(|m| m.is_dir())
                {
                    subdirs.push(if d.ends_with('/') {
                        format!("{d}{n}")
                    } else {
                        format!("{d}/{n}")
                    });
                }
            }
            for s in subdirs.into_iter().rev() {
                queue.push(s);
            }
        }
        out.flush()
    })();
    match r {
        Ok(()) => st,
        Err(e) => finish(ctx, "ls", Err(e)),
    }
}

pub fn mkdir(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "mkdir", args, "pm:v") else {
        return 1;
    };
    if o.args.is_empty() {
        ctx.error("mkdir", "missing operand");
        return 1;
    }
    let mut st = 0;
    for d in &o.args {
        let p = ctx.path(d);
        let r = if o.has('p') {
            fs::create_dir_all(&p)
        } else {
            fs::create_dir(&p)
        };
        if let Err(e) = r {
            ctx.error(
                "mkdir",
                format!("can't create directory '{d}': {}", errstr(&e)),
            );
            st = 1;
        }
    }
    st
}

pub fn rm(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "rm", args, "rRfiv") else {
        return 1;
    };
    let force = o.has('f');
    let rec = o.has('r') || o.has('R');
    if o.args.is_empty() && !force {
        ctx.error("rm", "missing operand");
        return 1;
    }
    let mut st = 0;
    for f in &o.args {
        let p = ctx.path(f);
        let m = match p.symlink_metadata() {
            Ok(m) => m,
            Err(e) => {
                if !force {
                    ctx.error("rm", format!("can't remove '{f}': {}", errstr(&e)));
                    st = 1;
                }
                continue;
            }
        };
        let r = if m.is_dir() {
            if !rec {
                ctx.error("rm", format!("'{f}' is a directory"));
                st = 1;
                continue;
            }
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        if let Err(e) = r {
            ctx.error("rm", format!("can't remove '{f}': {}", errstr(&e)));
            st = 1;
        }
    }
    st
}

pub fn rmdir(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "rmdir", args, "p") else {
        return 1;
    };
    let mut st = 0;
    for d in &o.args {
        let mut p = PathBuf::from(d.trim_end_matches('/'));
        loop {
            if let Err(e) = fs::remove_dir(ctx.path(&p.to_string_lossy())) {
                ctx.error("rmdir", format!("'{}': {}", p.display(), errstr(&e)));
                st = 1;
                break;
            }
            if !o.has('p') || !p.pop() || p.as_os_str().is_empty() {
                break;
            }
        }
    }
    st
}

pub fn touch(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "touch", args, "cd:t:r:am") else {
        return 1;
    };
    let mut st = 0;
    let when = match o.val('d') {
        Some(d) => match date::parse(d, date::now().0) {
            Some(t) if t >= 0 => std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64),
            _ => {
                ctx.error("touch", format!("invalid date '{d}'"));
                return 1;
            }
        },
        None => std::time::SystemTime::now(),
    };
    for f in &o.args {
        let p = ctx.path(f);
        if !p.exists() && o.has('c') {
            continue;
        }
        let r = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .and_then(|file| file.set_modified(when));
        if let Err(e) = r {
            ctx.error("touch", format!("{f}: {}", errstr(&e)));
            st = 1;
        }
    }
    st
}

fn copy_tree(src: &Path, dst: &Path, rec: bool) -> Result<(), String> {
    let m = src
        .symlink_metadata()
        .map_err(|e| format!("can't stat '{}': {}", src.display(), errstr(&e)))?;
    if m.is_dir() {
        if !rec {
            return Err(format!("omitting directory '{}'", src.display()));
        }
        if !dst.is_dir() {
            fs::create_dir(dst).map_err(|e| {
                format!("can't create directory '{}': {}", dst.display(), errstr(&e))
            })?;
        }
        let rd = fs::read_dir(src)
            .map_err(|e| format!("can't open '{}': {}", src.display(), errstr(&e)))?;
        for e in rd.flatten() {
            copy_tree(&e.path(), &dst.join(e.file_name()), rec)?;
        }
        return Ok(());
    }
    if m.file_type().is_symlink()
        && rec
        && let Ok(t) = fs::read_link(src)
    {
        let _ = fs::remove_file(dst);
        return crate::sys::symlink(&t.to_string_lossy(), dst)
            .map_err(|e| format!("can't create symlink '{}': {}", dst.display(), errstr(&e)));
    }
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(|e| format!("can't create '{}': {}", dst.display(), errstr(&e)))
}

/// The destination of each source for `cp`/`mv`/`ln`: into DIR if the last operand is one.
fn targets(ctx: &Ctx, name: &str, ops: &[String]) -> Option<Vec<(String, PathBuf)>> {
    if ops.len() < 2 {
        ctx.error(name, "missing destination file operand");
        return None;
    }
    let (srcs, dst) = ops.split_at(ops.len() - 1);
    let dpath = ctx.path(&dst[0]);
    if dpath.is_dir() {
        Some(
            srcs.iter()
                .map(|s| {
                    let base = Path::new(s.trim_end_matches('/'))
                        .file_name()
                        .map(|b| b.to_os_string())
                        .unwrap_or_default();
                    (s.clone(), dpath.join(base))
                })
                .collect(),
        )
    } else if srcs.len() > 1 {
        ctx.error(name, format!("'{}' is not a directory", dst[0]));
        None
    } else {
        Some(vec![(srcs[0].clone(), dpath)])
    }
}

pub fn cp(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "cp", args, "rRapfdPLiunv") else {
        return 1;
    };
    let rec = o.has('r') || o.has('R') || o.has('a');
    let Some(t) = targets(ctx, "cp", &o.args) else {
        return 1;
    };
    let mut st = 0;
    for (src, dst) in t {
        if let Err(e) = copy_tree(&ctx.path(&src), &dst, rec) {
            ctx.error("cp", e);
            st = 1;
        }
    }
    st
}

pub fn mv(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "mv", args, "finTv") else {
        return 1;
    };
    let Some(t) = targets(ctx, "mv", &o.args) else {
        return 1;
    };
    let mut st = 0;
    for (src, dst) in t {
        let sp = ctx.path(&src);
        if let Err(e) = sp.symlink_metadata() {
            ctx.error("mv", format!("can't rename '{src}': {}", errstr(&e)));
            st = 1;
            continue;
        }
        if fs::rename(&sp, &dst).is_err() {
            // Across filesystems: copy, then remove.
            let r = copy_tree(&sp, &dst, true).and_then(|_| {
                if sp.is_dir() {
                    fs::remove_dir_all(&sp)
                } else {
                    fs::remove_file(&sp)
                }
                .map_err(|e| format!("can't remove '{src}': {}", errstr(&e)))
            });
            if let Err(e) = r {
                ctx.error("mv", e);
                st = 1;
            }
        }
    }
    st
}

pub fn ln(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "ln", args, "sfnTv") else {
        return 1;
    };
    let ops = if o.args.len() == 1 {
        let base = Path::new(&o.args[0])
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![o.args[0].clone(), base]
    } else {
        o.args.clone()
    };
    let Some(t) = targets(ctx, "ln", &ops) else {
        return 1;
    };
    let mut st = 0;
    for (src, dst) in t {
        if o.has('f') {
            let _ = fs::remove_file(&dst);
        }
        let r = if o.has('s') {
            crate::sys::symlink(&src, &dst)
        } else {
            fs::hard_link(ctx.path(&src), &dst)
        };
        if let Err(e) = r {
            ctx.error("ln", format!("{}: {}", dst.display(), errstr(&e)));
            st = 1;
        }
    }
    st
}

pub fn basename(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(p) = args.first() else {
        ctx.error("basename", "missing operand");
        return 1;
    };
    let t = p.trim_end_matches('/');
    let mut b = if t.is_empty() && p.starts_with('/') {
        "/".to_string()
    } else {
        t.rsplit('/').next().unwrap_or(t).to_string()
    };
    if let Some(suf) = args.get(1)
        && b != *suf
        && let Some(s) = b.strip_suffix(suf.as_str())
    {
        b = s.to_string();
    }
    ctx.write_out(format!("{b}\n").as_bytes());
    0
}

pub fn dirname(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(p) = args.first() else {
        ctx.error("dirname", "missing operand");
        return 1;
    };
    let t = p.trim_end_matches('/');
    let d = match t.rfind('/') {
        None if p.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
        Some(i) => {
            let d = t[..i].trim_end_matches('/');
            if d.is_empty() {
                "/".to_string()
            } else {
                d.to_string()
            }
        }
    };
    ctx.write_out(format!("{d}\n").as_bytes());
    0
}

pub fn pwd(ctx: &mut Ctx, _args: &[String]) -> i32 {
    ctx.write_out(format!("{}\n", ctx.cwd.display()).as_bytes());
    0
}

pub fn df(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "df", args, "hkPmaT") else {
        return 1;
    };
    let mut mounts: Vec<String> = vec!["/".into()];
    if let Some(m) = ctx.getenv("WPOD_MOUNTS") {
        for p in m
            .split([',', ':', ' ', '\n'])
            .filter(|p| p.starts_with('/'))
        {
            if !mounts.iter().any(|x| x == p) {
                mounts.push(p.to_string());
            }
        }
    }
    if !o.args.is_empty() {
        mounts = o.args.clone();
    }
    let h = o.has('h');
    let mut s = format!(
        "{:<20} {:>9} {:>9} {:>9} {:>4} Mounted on\n",
        "Filesystem",
        if h { "Size" } else { "1K-blocks" },
        "Used",
        "Available",
        "Use%"
    );
    for m in &mounts {
        let fsname = if m == "/" { "overlay" } else { "wpod" };
        match crate::sys::statvfs(&ctx.path(m).to_string_lossy()) {
            Some((total, free, avail)) => {
                let used = total.saturating_sub(free);
                let pct = if used + avail == 0 {
                    0
                } else {
                    (used * 100).div_ceil(used + avail)
                };
                let f = |b: u64| if h { human(b) } else { (b / 1024).to_string() };
                s.push_str(&format!(
                    "{:<20} {:>9} {:>9} {:>9} {:>3}% {m}\n",
                    fsname,
                    f(total),
                    f(used),
                    f(avail),
                    pct
                ));
            }
            None => s.push_str(&format!(
                "{fsname:<20} {:>9} {:>9} {:>9} {:>4} {m}\n",
                "-", "-", "-", "-"
            )),
        }
    }
    ctx.write_out(s.as_bytes());
    0
}

#[derive(Debug)]
enum FExpr {
    Name(String, bool),
    Type(char),
    Print,
    Exec(Vec<String>),
    Not(Box<FExpr>),
    And(Box<FExpr>, Box<FExpr>),
    Or(Box<FExpr>, Box<FExpr>),
    True,
}

struct FindP<'a> {
    a: &'a [String],
    i: usize,
}

impl FindP<'_> {
    fn or(&mut self) -> Result<FExpr, String> {
        let mut l = self.and()?;
        while matches!(self.a.get(self.i).map(String::as_str), Some("-o" | "-or")) {
            self.i += 1;
            let r = self.and()?;
            l = FExpr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<FExpr, String> {
        let mut l = self.not()?;
        loop {
            match self.a.get(self.i).map(String::as_str) {
                None | Some("-o" | "-or" | ")") => return Ok(l),
                Some("-a" | "-and") => self.i += 1,
                _ => {}
            }
            let r = self.not()?;
            l = FExpr::And(Box::new(l), Box::new(r));
        }
    }
    fn not(&mut self) -> Result<FExpr, String> {
        if matches!(self.a.get(self.i).map(String::as_str), Some("!" | "-not")) {
            self.i += 1;
            return Ok(FExpr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<FExpr, String> {
        let t = self.a.get(self.i).cloned().ok_or("missing argument")?;
        self.i += 1;
        let mut arg = || {
            let v = self.a.get(self.i).cloned();
            self.i += 1;
            v.ok_or(format!("{t}: requires an argument"))
        };
        Ok(match t.as_str() {
            "(" => {
                let e = self.or()?;
                if self.a.get(self.i).map(String::as_str) != Some(")") {
                    return Err("missing )".into());
                }
                self.i += 1;
                e
            }
            "-name" => FExpr::Name(arg()?, false),
            "-iname" => FExpr::Name(arg()?.to_lowercase(), true),
            "-type" => FExpr::Type(arg()?.chars().next().unwrap_or('f')),
            "-print" | "-print0" => FExpr::Print,
            "-maxdepth" | "-mindepth" => {
                arg()?;
                FExpr::True
            }
            "-exec" => {
                let mut cmd = Vec::new();
                loop {
                    let Some(x) = self.a.get(self.i).cloned() else {
                        return Err("-exec: missing ';'".into());
                    };
                    self.i += 1;
                    if x == ";" || x == "+" {
                        break;
                    }
                    cmd.push(x);
                }
                if cmd.is_empty() {
                    return Err("-exec: missing command".into());
                }
                FExpr::Exec(cmd)
            }
            other => return Err(format!("unrecognized: {other}")),
        })
    }
}

fn has_action(e: &FExpr) -> bool {
    match e {
        FExpr::Print | FExpr::Exec(_) => true,
        FExpr::Not(x) => has_action(x),
        FExpr::And(a, b) | FExpr::Or(a, b) => has_action(a) || has_action(b),
        _ => false,
    }
}

fn eval_find(ctx: &mut Ctx, e: &FExpr, path: &str, m: &fs::Metadata, out: &mut Vec<u8>) -> bool {
    match e {
        FExpr::True => true,
        FExpr::Name(p, icase) => {
            let base = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(path);
            let base = if *icase {
                base.to_lowercase()
            } else {
                base.to_string()
            };
            crate::shell::glob::matches(p, &base)
        }
        FExpr::Type(t) => match t {
            'f' => m.is_file(),
            'd' => m.is_dir(),
            'l' => m.file_type().is_symlink(),
            _ => false,
        },
        FExpr::Print => {
            out.extend_from_slice(path.as_bytes());
            out.push(b'\n');
            true
        }
        FExpr::Exec(cmd) => {
            let argv: Vec<String> = cmd.iter().map(|a| a.replace("{}", path)).collect();
            ctx.write_out(out);
            out.clear();
            if !super::exists(&argv[0]) {
                ctx.error("find", format!("{}: No such file or directory", argv[0]));
                return false;
            }
            super::run(ctx, &argv[0], &argv[1..]) == 0
        }
        FExpr::Not(x) => !eval_find(ctx, x, path, m, out),
        FExpr::And(a, b) => eval_find(ctx, a, path, m, out) && eval_find(ctx, b, path, m, out),
        FExpr::Or(a, b) => eval_find(ctx, a, path, m, out) || eval_find(ctx, b, path, m, out),
    }
}

pub fn find(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() && !args[i].starts_with('-') && args[i] != "!" && args[i] != "(" {
        paths.push(args[i].clone());
        i += 1;
    }
    if paths.is_empty() {
        paths.push(".".into());
    }
    let rest = &args[i..];
    let mut maxdepth = usize::MAX;
    let mut mindepth = 0;
    for w in rest.windows(2) {
        if w[0] == "-maxdepth" {
            maxdepth = w[1].parse().unwrap_or(usize::MAX);
        }
        if w[0] == "-mindepth" {
            mindepth = w[1].parse().unwrap_or(0);
        }
    }
    let expr = if rest.is_empty() {
        FExpr::Print
    } else {
        let mut p = FindP { a: rest, i: 0 };
        match p.or() {
            Ok(e) if p.i == rest.len() => {
                if has_action(&e) {
                    e
                } else {
                    FExpr::And(Box::new(e), Box::new(FExpr::Print))
                }
            }
            Ok(_) => {
                ctx.error("find", format!("unrecognized: {}", rest[p.i]));
                return 1;
            }
            Err(e) => {
                ctx.error("find", e);
                return 1;
            }
        }
    };
    let mut st = 0;
    let mut out = Vec::new();
    for p in &paths {
        let mut stack = vec![(p.clone(), 0usize)];
        while let Some((path, depth)) = stack.pop() {
            let full = ctx.path(&path);
            let m = match full.symlink_metadata() {
                Ok(m) => m,
                Err(e) => {
                    ctx.error("find", format!("{path}: {}", errstr(&e)));
                    st = 1;
                    continue;
                }
            };
            if depth >= mindepth {
                eval_find(ctx, &expr, &path, &m, &mut out);
            }
            if out.len() > 64 * 1024 {
                ctx.write_out(&out);
                out.clear();
            }
            if m.is_dir() && depth < maxdepth {
                match fs::read_dir(&full) {
                    Ok(rd) => {
                        let mut names: Vec<String> = rd
                            .flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        names.sort();
                        for n in names.into_iter().rev() {
                            let child = if path.ends_with('/') {
                                format!("{path}{n}")
                            } else {
                                format!("{path}/{n}")
                            };
                            stack.push((child, depth + 1));
                        }
                    }
                    Err(e) => {
                        ctx.error("find", format!("{path}: {}", errstr(&e)));
                        st = 1;
                    }
                }
            }
        }
    }
    ctx.write_out(&out);
    if ctx.stdout.is_broken_pipe() {
        return 141;
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(human(1536), "1.5K");
        assert_eq!(human(100), "100");
    }
}
