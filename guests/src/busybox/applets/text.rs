//! Text filters: `cat`, `head`, `tail`, `wc`, `tr`, `cut`, `sort`, `uniq`, `tee`, `seq`.

use std::io::{self, Write};
use std::time::Duration;

use super::{finish, opts};
use crate::io::{Ctx, Fd, Input, errstr};

/// Opens each operand (or stdin), reporting failures as `name: can't open 'f': ...`.
fn inputs(
    ctx: &Ctx,
    name: &str,
    files: &[String],
    mut f: impl FnMut(&str, Fd) -> io::Result<()>,
) -> io::Result<i32> {
    let default = ["-".to_string()];
    let files = if files.is_empty() {
        &default[..]
    } else {
        files
    };
    let mut st = 0;
    for file in files {
        match ctx.open(file) {
            Ok(fd) => f(file, fd)?,
            Err(e) => {
                ctx.error(name, format!("can't open '{file}': {}", errstr(&e)));
                st = 1;
            }
        }
    }
    Ok(st)
}

fn read_all(fd: &Fd) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    fd.read_all(&mut v)?;
    Ok(v)
}

/// Lines of `data` without their terminators (a final line without `\n` counts).
fn lines(data: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if data.ends_with(b"\n") || data.is_empty() {
        v.pop();
    }
    v
}

pub fn cat(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "cat", args, "nubAeEtTvs") else {
        return 1;
    };
    let number = o.has('n');
    let mut out = ctx.out();
    let mut lineno = 0u64;
    let r = inputs(ctx, "cat", &o.args, |_, fd| {
        if number {
            let mut inp = Input(fd);
            let mut buf = Vec::new();
            while inp.line(&mut buf)? {
                lineno += 1;
                write!(out, "{lineno:6}\t")?;
                out.write_all(&buf)?;
            }
            return out.flush();
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match fd.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        Ok(())
    });
    let r = r.and_then(|s| out.flush().map(|_| s));
    finish(ctx, "cat", r)
}

/// `-5` as `-n 5` for head and tail.
fn numeric_shorthand(args: &[String]) -> Vec<String> {
    args.iter()
        .flat_map(|a| {
            if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c.is_ascii_digit()) {
                vec!["-n".to_string(), a[1..].to_string()]
            } else {
                vec![a.clone()]
            }
        })
        .collect()
}

fn parse_count(ctx: &Ctx, name: &str, s: &str) -> Option<(u64, bool)> {
    let (plus, t) = match s.strip_prefix('+') {
        Some(t) => (true, t),
        None => (false, s.strip_prefix('-').unwrap_or(s)),
    };
    let (t, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1024),
        Some('m') => (&t[..t.len() - 1], 1024 * 1024),
        Some('b') => (&t[..t.len() - 1], 512),
        _ => (t, 1),
    };
    match t.parse::<u64>() {
        Ok(n) => Some((n.saturating_mul(mult), plus)),
        Err(_) => {
            ctx.error(name, format!("invalid number '{s}'"));
            None
        }
    }
}

pub fn head(ctx: &mut Ctx, args: &[String]) -> i32 {
    let args = numeric_shorthand(args);
    let Some(o) = opts(ctx, "head", &args, "n:c:qv") else {
        return 1;
    };
    let (n, _) = match parse_count(ctx, "head", o.val('n').unwrap_or("10")) {
        Some(v) => v,
        None => return 1,
    };
    let bytes = match o.val('c') {
        Some(c) => match parse_count(ctx, "head", c) {
            Some((c, _)) => Some(c),
            None => return 1,
        },
        None => None,
    };
    let many = o.args.len() > 1;
    let mut out = ctx.out();
    let mut first = true;
    let r = inputs(ctx, "head", &o.args, |file, fd| {
        if (many && !o.has('q')) || o.has('v') {
            if !first {
                writeln!(out)?;
            }
            writeln!(
                out,
                "==> {} <==",
                if file == "-" { "standard input" } else { file }
            )?;
        }
        first = false;
        if let Some(mut left) = bytes {
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                let want = (left as usize).min(buf.len());
                let got = fd.read(&mut buf[..want])?;
                if got == 0 {
                    break;
                }
                out.write_all(&buf[..got])?;
                left -= got as u64;
            }
            return Ok(());
        }
        let mut inp = Input(fd);
        let mut buf = Vec::new();
        for _ in 0..n {
            if !inp.line(&mut buf)? {
                break;
            }
            out.write_all(&buf)?;
        }
        Ok(())
    });
    let r = r.and_then(|s| out.flush().map(|_| s));
    finish(ctx, "head", r)
}

/// The tail of `data`: the last `n` lines, or from line `n` when `from`.
fn tail_lines(data: &[u8], n: u64, from: bool) -> &[u8] {
    if from {
        let mut line = 1;
        for (i, &b) in data.iter().enumerate() {
            if line >= n.max(1) {
                return &data[i..];
            }
            if b == b'\n' {
                line += 1;
            }
        }
        return if line >= n.max(1) {
            &data[data.len()..]
        } else {
            &[]
        };
    }
    if n == 0 {
        return &[];
    }
    let mut end = data.len();
    if data.ends_with(b"\n") {
        end -= 1;
    }
    let mut count = 0;
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            count += 1;
            if count == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

pub fn tail(ctx: &mut Ctx, args: &[String]) -> i32 {
    let args = numeric_shorthand(args);
    let Some(o) = opts(ctx, "tail", &args, "n:c:fFqvs:") else {
        return 1;
    };
    let (n, from) = match parse_count(ctx, "tail", o.val('n').unwrap_or("10")) {
        Some(v) => v,
        None => return 1,
    };
    let bytes = match o.val('c') {
        Some(c) => match parse_count(ctx, "tail", c) {
            Some(v) => Some(v),
            None => return 1,
        },
        None => None,
    };
    let follow = o.has('f') || o.has('F');
    let many = o.args.len() > 1;
    let mut out = ctx.out();
    let mut first = true;
    let mut seen: Vec<u64> = Vec::new();
    let r = inputs(ctx, "tail", &o.args, |file, fd| {
        if many && !o.has('q') {
            if !first {
                writeln!(out)?;
            }
            writeln!(
                out,
                "==> {} <==",
                if file == "-" { "standard input" } else { file }
            )?;
        }
        first = false;
        let data = read_all(&fd)?;
        seen.push(data.len() as u64);
        let t = match bytes {
            Some((c, true)) => &data[(c.saturating_sub(1) as usize).min(data.len())..],
            Some((c, false)) => &data[data.len().saturating_sub(c as usize)..],
            None => tail_lines(&data, n, from),
        };
        out.write_all(t)?;
        out.flush()
    });
    let mut r = r.and_then(|s| out.flush().map(|_| s));
    if follow && r.is_ok() {
        let files: Vec<String> = o.args.iter().filter(|f| *f != "-").cloned().collect();
        if !files.is_empty() && seen.len() == files.len() {
            r = follow_files(ctx, &files, &seen, &mut out);
        }
    }
    finish(ctx, "tail", r)
}

/// `tail -f`: polls the files for growth every 200 ms and prints what was appended, forever.
fn follow_files(
    ctx: &Ctx,
    files: &[String],
    seen: &[u64],
    out: &mut impl Write,
) -> io::Result<i32> {
    use std::io::{Read, Seek, SeekFrom};
    let mut sizes: Vec<u64> = seen.to_vec();
    let mut last = files.len() - 1;
    loop {
        if !crate::sys::sleep(Duration::from_millis(200)) {
            return Ok(0);
        }
        for (i, f) in files.iter().enumerate() {
            let p = ctx.path(f);
            let Ok(len) = std::fs::metadata(&p).map(|m| m.len()) else {
                continue;
            };
            if len < sizes[i] {
                ctx.error("tail", format!("{f}: file truncated"));
                sizes[i] = 0;
            }
            if len == sizes[i] {
                continue;
            }
            let mut file = std::fs::File::open(&p)?;
            file.seek(SeekFrom::Start(sizes[i]))?;
            let mut buf = Vec::new();
            file.take(len - sizes[i]).read_to_end(&mut buf)?;
            sizes[i] += buf.len() as u64;
            if files.len() > 1 && last != i {
                writeln!(out, "\n==> {f} <==")?;
                last = i;
            }
            out.write_all(&buf)?;
            out.flush()?;
        }
    }
}

pub fn wc(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "wc", args, "lwcmL") else {
        return 1;
    };
    let mut which: Vec<usize> = Vec::new();
    for (i, c) in ['l', 'w', 'c', 'L'].iter().enumerate() {
        if o.has(*c) || (*c == 'c' && o.has('m')) {
            which.push(i);
        }
    }
    if which.is_empty() {
        which = vec![0, 1, 2];
    }
    let mut out = ctx.out();
    let mut total = [0u64; 4];
    let mut nfiles = 0;
    let show = |out: &mut dyn Write, c: &[u64; 4], name: &str| -> io::Result<()> {
        let cols: Vec<String> = which
            .iter()
            .map(|&i| {
                if which.len() == 1 && name.is_empty() {
                    c[i].to_string()
                } else {
                    format!("{:>7}", c[i])
                }
            })
            .collect();
        let mut line = cols.join(" ");
        if !name.is_empty() {
            line.push(' ');
            line.push_str(name);
        }
        writeln!(
            out,
            "{}",
            if which.len() == 1 {
                line.trim_start().to_string()
            } else {
                line
            }
        )
    };
    let r = inputs(ctx, "wc", &o.args, |file, fd| {
        let mut c = [0u64; 4];
        let mut buf = vec![0u8; 64 * 1024];
        let mut in_word = false;
        let mut cur_len = 0u64;
        loop {
            let n = fd.read(&mut buf)?;
            if n == 0 {
                break;
            }
            c[2] += n as u64;
            for &b in &buf[..n] {
                if b == b'\n' {
                    c[0] += 1;
                    c[3] = c[3].max(cur_len);
                    cur_len = 0;
                } else {
                    cur_len += 1;
                }
                if b.is_ascii_whitespace() {
                    in_word = false;
                } else if !in_word {
                    in_word = true;
                    c[1] += 1;
                }
            }
        }
        c[3] = c[3].max(cur_len);
        for i in 0..3 {
            total[i] += c[i];
        }
        total[3] = total[3].max(c[3]);
        nfiles += 1;
        show(
            &mut out,
            &c,
            if file == "-" && o.args.is_empty() {
                ""
            } else {
                file
            },
        )
    });
    let r = r.and_then(|s| {
        if nfiles > 1 {
            show(&mut out, &total, "total")?;
        }
        out.flush().map(|_| s)
    });
    finish(ctx, "wc", r)
}

/// Expands a `tr` set: ranges, escapes and `[:class:]`.
fn tr_set(s: &str) -> Vec<u8> {
    let (b, _) = super::echo::escapes(s, true);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'['
            && b.get(i + 1) == Some(&b':')
            && let Some(end) = b[i + 2..].windows(2).position(|w| w == b":]")
        {
            let name = String::from_utf8_lossy(&b[i + 2..i + 2 + end]).into_owned();
            for c in 0u8..128 {
                if crate::shell::glob::class_match(&name, c as char) {
                    out.push(c);
                }
            }
            i += end + 4;
            continue;
        }
        if i + 2 < b.len() && b[i + 1] == b'-' {
            let (lo, hi) = (b[i], b[i + 2]);
            if lo <= hi {
                out.extend(lo..=hi);
            }
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub fn tr(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "tr", args, "dscC") else {
        return 1;
    };
    let (del, squeeze, comp) = (o.has('d'), o.has('s'), o.has('c') || o.has('C'));
    let Some(s1) = o.args.first() else {
        ctx.error("tr", "missing operand");
        return 1;
    };
    let mut set1 = tr_set(s1);
    let set2 = o.args.get(1).map(|s| tr_set(s)).unwrap_or_default();
    if comp {
        set1 = (0u8..=255).filter(|c| !set1.contains(c)).collect();
    }
    if !del && !squeeze && set2.is_empty() {
        ctx.error("tr", "missing operand after set 1");
        return 1;
    }
    let mut map: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut in1 = [false; 256];
    for (i, &c) in set1.iter().enumerate() {
        in1[c as usize] = true;
        if !del && !set2.is_empty() {
            map[c as usize] = set2[i.min(set2.len() - 1)];
        }
    }
    let sq_set: Vec<u8> = if del || set2.is_empty() {
        if del { set2.clone() } else { set1.clone() }
    } else {
        set2.clone()
    };
    let mut insq = [false; 256];
    for &c in &sq_set {
        insq[c as usize] = true;
    }
    let mut out = ctx.out();
    let fd = ctx.stdin.clone();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last: Option<u8> = None;
    let r = (|| -> io::Result<i32> {
        let mut res = Vec::with_capacity(buf.len());
        loop {
            let n = fd.read(&mut buf)?;
            if n == 0 {
                break;
            }
            res.clear();
            for &c in &buf[..n] {
                if del && in1[c as usize] {
                    continue;
                }
                let m = map[c as usize];
                if squeeze && insq[m as usize] && last == Some(m) {
                    continue;
                }
                last = Some(m);
                res.push(m);
            }
            out.write_all(&res)?;
        }
        out.flush()?;
        Ok(0)
    })();
    finish(ctx, "tr", r)
}

/// A cut list: `1,3-5,7-`.
fn parse_list(s: &str) -> Option<Vec<(usize, usize)>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                if a.is_empty() { 1 } else { a.parse().ok()? },
                if b.is_empty() {
                    usize::MAX
                } else {
                    b.parse().ok()?
                },
            ),
            None => {
                let n = part.parse().ok()?;
                (n, n)
            }
        };
        if a == 0 || b < a {
            return None;
        }
        v.push((a, b));
    }
    Some(v)
}

pub fn cut(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "cut", args, "d:f:c:b:sn") else {
        return 1;
    };
    let (list, fields) = match (o.val('f'), o.val('c').or(o.val('b'))) {
        (Some(f), _) => (f, true),
        (None, Some(c)) => (c, false),
        _ => {
            ctx.error("cut", "expected a list of bytes, characters, or fields");
            return 1;
        }
    };
    let Some(ranges) = parse_list(list) else {
        ctx.error("cut", format!("invalid list '{list}'"));
        return 1;
    };
    let delim = o
        .val('d')
        .map(|d| d.chars().next().unwrap_or('\t'))
        .unwrap_or('\t');
    let want = |i: usize| ranges.iter().any(|&(a, b)| a <= i && i <= b);
    let mut out = ctx.out();
    let r = inputs(ctx, "cut", &o.args, |_, fd| {
        let mut inp = Input(fd);
        let mut buf = Vec::new();
        while inp.line(&mut buf)? {
            let line = String::from_utf8_lossy(&buf);
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if fields {
                if !line.contains(delim) {
                    if !o.has('s') {
                        writeln!(out, "{line}")?;
                    }
                    continue;
                }
                let sel: Vec<&str> = line
                    .split(delim)
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, f)| f)
                    .collect();
                writeln!(out, "{}", sel.join(&delim.to_string()))?;
            } else {
                let sel: String = line
                    .chars()
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, c)| c)
                    .collect();
                writeln!(out, "{sel}")?;
            }
        }
        Ok(())
    });
    let r = r.and_then(|s| out.flush().map(|_| s));
    finish(ctx, "cut", r)
}

/// Leading number of `s` (after blanks), as sort -n reads it.
fn num_prefix(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    for (i, c) in t.char_indices() {
        if c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')) {
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    t[..end].parse().unwrap_or(0.0)
}

struct Key {
    start: usize,
    end: Option<usize>,
    numeric: bool,
    reverse: bool,
}

fn field_spans(line: &str, sep: Option<char>) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    match sep {
        Some(c) => {
            let mut st = 0;
            for (i, ch) in line.char_indices() {
                if ch == c {
                    spans.push((st, i));
                    st = i + ch.len_utf8();
                }
            }
            spans.push((st, line.len()));
        }
        None => {
            // A field is leading blanks plus non-blanks.
            let b = line.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let st = i;
                while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                    i += 1;
                }
                while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                    i += 1;
                }
                spans.push((st, i));
            }
        }
    }
    spans
}

fn key_text<'a>(line: &'a str, k: &Key, sep: Option<char>) -> &'a str {
    let spans = field_spans(line, sep);
    let Some(&(s, _)) = spans.get(k.start - 1) else {
        return "";
    };
    let e = match k.end {
        Some(e) => spans.get(e - 1).map(|&(_, e)| e).unwrap_or(line.len()),
        None => line.len(),
    };
    if e < s { "" } else { &line[s..e] }
}

pub fn sort(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "sort", args, "nrufbk:t:so:gcmzdh") else {
        return 1;
    };
    let numeric = o.has('n') || o.has('g') || o.has('h');
    let reverse = o.has('r');
    let fold = o.has('f');
    let sep = o.val('t').and_then(|t| t.chars().next());
    let mut keys = Vec::new();
    for k in o.vals('k') {
        let (a, b) = match k.split_once(',') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (k.clone(), None),
        };
        let parse = |s: &str| -> (Option<usize>, String) {
            let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
            let n = digits.split('.').next().and_then(|d| d.parse().ok());
            let flags: String = s
                .chars()
                .skip_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            (n, flags)
        };
        let (Some(start), f1) = parse(&a) else {
            ctx.error("sort", format!("invalid key '{k}'"));
            return 1;
        };
        let (end, f2) = match b {
            Some(b) => parse(&b),
            None => (None, String::new()),
        };
        let flags = f1 + &f2;
        keys.push(Key {
            start: start.max(1),
            end,
            numeric: numeric || flags.contains('n') || flags.contains('g'),
            reverse: flags.contains('r'),
        });
    }
    let mut data = Vec::new();
    let r = inputs(ctx, "sort", &o.args, |_, fd| {
        fd.read_all(&mut data).map(|_| ())
    });
    let st = match r {
        Ok(s) => s,
        Err(e) => return finish(ctx, "sort", Err(e)),
    };
    let text = String::from_utf8_lossy(&data).into_owned();
    let mut ls: Vec<&str> = lines(text.as_bytes())
        .into_iter()
        .map(|l| std::str::from_utf8(l).unwrap_or(""))
        .collect();
    let cmp_text = |a: &str, b: &str, num: bool| {
        if num {
            num_prefix(a)
                .partial_cmp(&num_prefix(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        } else if fold {
            a.to_lowercase().cmp(&b.to_lowercase())
        } else {
            a.cmp(b)
        }
    };
    let cmp = |a: &&str, b: &&str| {
        use std::cmp::Ordering::Equal;
        for k in &keys {
            let mut c = cmp_text(key_text(a, k, sep), key_text(b, k, sep), k.numeric);
            if k.reverse {
                c = c.reverse();
            }
            if c != Equal {
                return c;
            }
        }
        if keys.is_empty() {
            let c = cmp_text(a, b, numeric);
            if c != Equal {
                return c;
            }
        }
        if o.has('u') || o.has('s') {
            Equal
        } else {
            a.cmp(b)
        }
    };
    ls.sort_by(|a, b| {
        let c = cmp(a, b);
        if reverse { c.reverse() } else { c }
    });
    if o.has('u') {
        ls.dedup_by(|a, b| cmp(a, b) == std::cmp::Ordering::Equal);
    }
    let mut out: Box<dyn Write> = match o.val('o') {
        Some(f) => match ctx.create(f, false) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                ctx.error("sort", format!("can't open '{f}': {}", errstr(&e)));
                return 1;
            }
        },
        None => Box::new(ctx.out()),
    };
    let r = (|| {
        for l in &ls {
            out.write_all(l.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(st)
    })();
    finish(ctx, "sort", r)
}

pub fn uniq(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "uniq", args, "cduif:s:") else {
        return 1;
    };
    let skip_f: usize = o.val('f').and_then(|v| v.parse().ok()).unwrap_or(0);
    let skip_c: usize = o.val('s').and_then(|v| v.parse().ok()).unwrap_or(0);
    let key = |l: &str| -> String {
        let mut s = l;
        for _ in 0..skip_f {
            s = s.trim_start_matches([' ', '\t']);
            s = s.trim_start_matches(|c| c != ' ' && c != '\t');
        }
        let s: String = s.chars().skip(skip_c).collect();
        if o.has('i') { s.to_lowercase() } else { s }
    };
    let input = match o.args.first() {
        Some(f) => match ctx.open(f) {
            Ok(fd) => fd,
            Err(e) => {
                ctx.error("uniq", format!("can't open '{f}': {}", errstr(&e)));
                return 1;
            }
        },
        None => ctx.stdin.clone(),
    };
    let mut out: Box<dyn Write> = match o.args.get(1) {
        Some(f) => match ctx.create(f, false) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                ctx.error("uniq", format!("can't open '{f}': {}", errstr(&e)));
                return 1;
            }
        },
        None => Box::new(ctx.out()),
    };
    let r = (|| -> io::Result<i32> {
        let mut inp = Input(input);
        let mut buf = Vec::new();
        let mut prev: Option<(String, String, u64)> = None;
        let emit = |out: &mut dyn Write, p: &(String, String, u64)| -> io::Result<()> {
            if (o.has('d') && p.2 < 2) || (o.has('u') && p.2 > 1) {
                return Ok(());
            }
            if o.has('c') {
                writeln!(out, "{:>7} {}", p.2, p.0)
            } else {
                writeln!(out, "{}", p.0)
            }
        };
        while inp.line(&mut buf)? {
            let l = String::from_utf8_lossy(&buf);
            let l = l.strip_suffix('\n').unwrap_or(&l).to_string();
            let k = key(&l);
            match &mut prev {
                Some(p) if p.1 == k => p.2 += 1,
                _ => {
                    if let Some(p) = prev.take() {
                        emit(&mut out, &p)?;
                    }
                    prev = Some((l, k, 1));
                }
            }
        }
        if let Some(p) = prev {
            emit(&mut out, &p)?;
        }
        out.flush()?;
        Ok(0)
    })();
    finish(ctx, "uniq", r)
}

pub fn tee(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "tee", args, "ai") else {
        return 1;
    };
    let mut st = 0;
    let mut files = Vec::new();
    for f in &o.args {
        match ctx.create(f, o.has('a')) {
            Ok(file) => files.push(file),
            Err(e) => {
                ctx.error("tee", format!("can't open '{f}': {}", errstr(&e)));
                st = 1;
            }
        }
    }
    let mut out = crate::io::Output(ctx.stdout.clone());
    let fd = ctx.stdin.clone();
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdout_ok = true;
    loop {
        let n = match fd.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return finish(ctx, "tee", Err(e)),
        };
        for f in &mut files {
            if f.write_all(&buf[..n]).is_err() {
                st = 1;
            }
        }
        if stdout_ok && out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
            stdout_ok = false;
            st = 1;
        }
    }
    st
}

pub fn seq(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut sep = "\n".to_string();
    let mut width = false;
    let mut nums = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a.as_str() {
            "-s" => {
                i += 1;
                sep = args.get(i).cloned().unwrap_or_default();
            }
            "-w" => width = true,
            s if s.starts_with("-s") => sep = s[2..].to_string(),
            _ => nums.push(a.clone()),
        }
        i += 1;
    }
    let parsed: Option<Vec<f64>> = nums.iter().map(|n| n.trim().parse().ok()).collect();
    let (first, incr, last) = match (parsed.as_deref(), nums.len()) {
        (Some([l]), 1) => (1.0, 1.0, *l),
        (Some([f, l]), 2) => (*f, 1.0, *l),
        (Some([f, s, l]), 3) => (*f, *s, *l),
        (None, _) => {
            let bad = nums
                .iter()
                .find(|n| n.trim().parse::<f64>().is_err())
                .cloned()
                .unwrap_or_default();
            ctx.error("seq", format!("invalid number '{bad}'"));
            return 1;
        }
        _ => {
            ctx.error("seq", "usage: seq [-w] [-s SEP] [FIRST [INC]] LAST");
            return 1;
        }
    };
    if incr == 0.0 {
        ctx.error("seq", "invalid increment 0");
        return 1;
    }
    let decimals = nums
        .iter()
        .map(|n| n.split_once('.').map(|(_, d)| d.len()).unwrap_or(0))
        .max()
        .unwrap_or(0);
    let fmt = |v: f64| format!("{:.*}", decimals, v);
    let w = if width {
        fmt(first).len().max(fmt(last).len())
    } else {
        0
    };
    let mut out = ctx.out();
    let r = (|| -> io::Result<i32> {
        let mut k = 0u64;
        loop {
            let v = first + incr * k as f64;
            if (incr > 0.0 && v > last + 1e-9) || (incr < 0.0 && v < last - 1e-9) {
                break;
            }
            if k > 0 {
                out.write_all(sep.as_bytes())?;
            }
            let s = fmt(v);
            if width && s.len() < w {
                let (neg, digits) = match s.strip_prefix('-') {
                    Some(d) => ("-", d),
                    None => ("", s.as_str()),
                };
                write!(out, "{neg}{}{digits}", "0".repeat(w - s.len()))?;
            } else {
                out.write_all(s.as_bytes())?;
            }
            k += 1;
        }
        if k > 0 {
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(0)
    })();
    finish(ctx, "seq", r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(tail_lines(b"a\nb\nc\n", 2, false), b"b\nc\n");
        assert_eq!(tail_lines(b"a\nb\nc", 2, false), b"b\nc");
        assert_eq!(tail_lines(b"a\nb\n", 5, false), b"a\nb\n");
        assert_eq!(tail_lines(b"a\nb\nc\n", 2, true), b"b\nc\n");
        assert_eq!(tail_lines(b"a\n", 0, false), b"");
    }

    #[test]
    fn sets_and_lists() {
        assert_eq!(tr_set("a-e"), b"abcde");
        assert_eq!(tr_set("\\n"), b"\n");
        assert_eq!(tr_set("[:digit:]"), b"0123456789");
        assert_eq!(
            parse_list("1,3-4,6-"),
            Some(vec![(1, 1), (3, 4), (6, usize::MAX)])
        );
        assert_eq!(parse_list("0"), None);
    }

    #[test]
    fn sort_keys() {
        let k = Key {
            start: 2,
            end: Some(2),
            numeric: true,
            reverse: false,
        };
        assert_eq!(key_text("a 10 x", &k, None), " 10");
        assert_eq!(key_text("a:10:x", &k, Some(':')), "10");
        assert_eq!(num_prefix(" -3.5abc"), -3.5);
    }
}
