//! `sed`: addresses (`N`, `$`, `/re/`, ranges, `!`), commands `s y p P d D q Q = a i c n N h H
//! g G x { } b t :`, options `-n -e -f -E -r -i -s`.

use std::io::{self, Write};

use super::opts;
use crate::io::{Ctx, errstr};
use crate::regex::Regex;

#[derive(Debug, Clone)]
enum Addr {
    Line(u64),
    Last,
    Re(Option<Regex>),
}

#[derive(Debug, Clone)]
enum Rep {
    Lit(String),
    Whole,
    Group(usize),
}

#[derive(Debug, Clone)]
enum Cmd {
    Subst {
        re: Option<Regex>,
        rep: Vec<Rep>,
        global: bool,
        nth: usize,
        print: bool,
    },
    Trans(Vec<char>, Vec<char>),
    Print,
    PrintFirst,
    Delete,
    DeleteFirst,
    Quit(i32, bool),
    LineNo,
    Append(String),
    Insert(String),
    Change(String),
    Next,
    NextAppend,
    Hold,
    HoldAppend,
    Get,
    GetAppend,
    Exchange,
    Block(usize),
    EndBlock,
    Branch(String, bool),
    Label(String),
}

#[derive(Debug, Clone)]
struct Inst {
    a1: Option<Addr>,
    a2: Option<Addr>,
    neg: bool,
    cmd: Cmd,
}

struct Parser<'a> {
    s: Vec<char>,
    i: usize,
    ere: bool,
    _p: std::marker::PhantomData<&'a ()>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.i += 1;
        }
    }
    /// Text up to an unescaped `delim`; `\n` becomes a newline, `\delim` the delimiter.
    fn delimited(&mut self, delim: char, keep_escapes: bool) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!("unterminated `{delim}' command"));
            };
            self.i += 1;
            if c == delim {
                return Ok(out);
            }
            if c == '\\' {
                let Some(n) = self.peek() else {
                    return Err("unterminated command".into());
                };
                self.i += 1;
                if n == delim {
                    out.push(n);
                } else if n == 'n' {
                    if keep_escapes {
                        out.push_str("\\n");
                    } else {
                        out.push('\n');
                    }
                } else {
                    out.push('\\');
                    out.push(n);
                }
                continue;
            }
            out.push(c);
        }
    }
    fn regex(&mut self, delim: char, icase: bool) -> Result<Option<Regex>, String> {
        let pat = self.delimited(delim, true)?;
        if pat.is_empty() {
            return Ok(None);
        }
        Regex::new(&pat, self.ere, icase).map(Some)
    }
    fn addr(&mut self) -> Result<Option<Addr>, String> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                let st = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let n: String = self.s[st..self.i].iter().collect();
                Ok(Some(Addr::Line(
                    n.parse().map_err(|_| "invalid line number")?,
                )))
            }
            Some('$') => {
                self.i += 1;
                Ok(Some(Addr::Last))
            }
            Some('/') => {
                self.i += 1;
                let re = self.regex('/', false)?;
                let re = self.addr_flags(re)?;
                Ok(Some(Addr::Re(re)))
            }
            Some('\\') => {
                self.i += 1;
                let d = self.peek().ok_or("unexpected end")?;
                self.i += 1;
                let re = self.regex(d, false)?;
                let re = self.addr_flags(re)?;
                Ok(Some(Addr::Re(re)))
            }
            _ => Ok(None),
        }
    }
    fn addr_flags(&mut self, re: Option<Regex>) -> Result<Option<Regex>, String> {
        // `/re/I` is case-insensitive; recompiling needs the source, so only the flag is eaten.
        if self.peek() == Some('I') {
            self.i += 1;
        }
        Ok(re)
    }
    /// The text of `a`, `i`, `c`: `a\` newline text, or GNU one-liner `a text`.
    fn text(&mut self) -> String {
        self.skip_ws();
        if self.peek() == Some('\\') {
            self.i += 1;
            if self.peek() == Some('\n') {
                self.i += 1;
            }
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == '\\' {
                match self.peek() {
                    Some('\n') => {
                        out.push('\n');
                        self.i += 1;
                    }
                    Some(n) => {
                        out.push(n);
                        self.i += 1;
                    }
                    None => {}
                }
                continue;
            }
            if c == '\n' {
                break;
            }
            out.push(c);
        }
        out
    }
    fn label(&mut self) -> String {
        self.skip_ws();
        let st = self.i;
        while self
            .peek()
            .is_some_and(|c| c != '\n' && c != ';' && c != '}')
        {
            self.i += 1;
        }
        self.s[st..self.i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }

    fn parse(&mut self) -> Result<Vec<Inst>, String> {
        let mut prog: Vec<Inst> = Vec::new();
        let mut blocks: Vec<usize> = Vec::new();
        loop {
            while self.peek().is_some_and(|c| c.is_whitespace() || c == ';') {
                self.i += 1;
            }
            let Some(_) = self.peek() else { break };
            if self.peek() == Some('#') {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                continue;
            }
            let a1 = self.addr()?;
            let mut a2 = None;
            if a1.is_some() && self.peek() == Some(',') {
                self.i += 1;
                a2 = Some(self.addr()?.ok_or("unexpected `,'")?);
            }
            self.skip_ws();
            let mut neg = false;
            while self.peek() == Some('!') {
                neg = true;
                self.i += 1;
                self.skip_ws();
            }
            let c = self.peek().ok_or("missing command")?;
            self.i += 1;
            let cmd = match c {
                's' => {
                    let d = self.peek().ok_or("unterminated `s' command")?;
                    self.i += 1;
                    let pat = self.delimited(d, true)?;
                    let rep_src = self.delimited(d, false)?;
                    let (mut global, mut nth, mut print, mut icase) = (false, 1, false, false);
                    while let Some(f) = self.peek() {
                        match f {
                            'g' => global = true,
                            'p' => print = true,
                            'i' | 'I' => icase = true,
                            '0'..='9' => {
                                let st = self.i;
                                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                                    self.i += 1;
                                }
                                let n: String = self.s[st..self.i].iter().collect();
                                nth = n.parse().unwrap_or(1).max(1);
                                continue;
                            }
                            _ => break,
                        }
                        self.i += 1;
                    }
                    let re = if pat.is_empty() {
                        None
                    } else {
                        Some(Regex::new(&pat, self.ere, icase)?)
                    };
                    Cmd::Subst {
                        re,
                        rep: parse_rep(&rep_src),
                        global,
                        nth,
                        print,
                    }
                }
                'y' => {
                    let d = self.peek().ok_or("unterminated `y' command")?;
                    self.i += 1;
                    let a: Vec<char> = self.delimited(d, false)?.chars().collect();
                    let b: Vec<char> = self.delimited(d, false)?.chars().collect();
                    if a.len() != b.len() {
                        return Err("strings for `y' command are different lengths".into());
                    }
                    Cmd::Trans(a, b)
                }
                'p' => Cmd::Print,
                'P' => Cmd::PrintFirst,
                'd' => Cmd::Delete,
                'D' => Cmd::DeleteFirst,
                'q' | 'Q' => {
                    self.skip_ws();
                    let st = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    let n: String = self.s[st..self.i].iter().collect();
                    Cmd::Quit(n.parse().unwrap_or(0), c == 'q')
                }
                '=' => Cmd::LineNo,
                'a' => Cmd::Append(self.text()),
                'i' => Cmd::Insert(self.text()),
                'c' => Cmd::Change(self.text()),
                'n' => Cmd::Next,
                'N' => Cmd::NextAppend,
                'h' => Cmd::Hold,
                'H' => Cmd::HoldAppend,
                'g' => Cmd::Get,
                'G' => Cmd::GetAppend,
                'x' => Cmd::Exchange,
                '{' => {
                    blocks.push(prog.len());
                    Cmd::Block(0)
                }
                '}' => {
                    let open = blocks.pop().ok_or("unexpected `}'")?;
                    let end = prog.len();
                    prog[open].cmd = Cmd::Block(end);
                    Cmd::EndBlock
                }
                'b' => Cmd::Branch(self.label(), false),
                't' => Cmd::Branch(self.label(), true),
                ':' => {
                    let l = self.label();
                    if l.is_empty() {
                        return Err("\":\" lacks a label".into());
                    }
                    Cmd::Label(l)
                }
                c => return Err(format!("unsupported command {c}")),
            };
            prog.push(Inst { a1, a2, neg, cmd });
        }
        if !blocks.is_empty() {
            return Err("unmatched `{'".into());
        }
        Ok(prog)
    }
}

fn parse_rep(s: &str) -> Vec<Rep> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '&' => {
                if !lit.is_empty() {
                    out.push(Rep::Lit(std::mem::take(&mut lit)));
                }
                out.push(Rep::Whole);
            }
            '\\' => match it.next() {
                Some(d @ '0'..='9') => {
                    if !lit.is_empty() {
                        out.push(Rep::Lit(std::mem::take(&mut lit)));
                    }
                    out.push(Rep::Group(d as usize - '0' as usize));
                }
                Some('n') => lit.push('\n'),
                Some('t') => lit.push('\t'),
                Some(o) => lit.push(o),
                None => lit.push('\\'),
            },
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Rep::Lit(lit));
    }
    out
}

/// Replaces matches of `re` in `ps`: the `nth` one, or it and all following with `global`.
fn substitute(re: &Regex, ps: &str, rep: &[Rep], global: bool, nth: usize) -> Option<String> {
    let t: Vec<char> = ps.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    let mut count = 0;
    let mut did = false;
    let mut last_end: Option<usize> = None;
    while pos <= t.len() {
        let Some(caps) = re.find_at(&t, pos) else {
            break;
        };
        let Some((s, e)) = caps[0] else { break };
        if s == e && last_end == Some(s) {
            // No empty match right after the previous match.
            if s < t.len() {
                out.push(t[s]);
            }
            pos = s + 1;
            last_end = None;
            continue;
        }
        count += 1;
        out.extend(&t[pos..s]);
        if count >= nth {
            for r in rep {
                match r {
                    Rep::Lit(l) => out.push_str(l),
                    Rep::Whole => out.extend(&t[s..e]),
                    Rep::Group(g) => {
                        if let Some(Some((a, b))) = caps.get(*g) {
                            out.extend(&t[*a..*b]);
                        }
                    }
                }
            }
            did = true;
        } else {
            out.extend(&t[s..e]);
        }
        last_end = Some(e);
        if s == e {
            if s < t.len() {
                out.push(t[s]);
            }
            pos = s + 1;
        } else {
            pos = e;
        }
        if did && !global {
            break;
        }
    }
    if !did {
        return None;
    }
    if pos < t.len() {
        out.extend(&t[pos..]);
    }
    Some(out)
}

struct State {
    lines: Vec<String>,
    next: usize,
    lineno: u64,
    hold: String,
    last_re: Option<Regex>,
    range_active: Vec<bool>,
    quiet: bool,
}

impl State {
    fn matches(&mut self, a: &Addr, ps: &str) -> bool {
        match a {
            Addr::Line(n) => self.lineno == *n,
            Addr::Last => self.next >= self.lines.len(),
            Addr::Re(re) => {
                if let Some(r) = re {
                    self.last_re = Some(r.clone());
                }
                match re.as_ref().or(self.last_re.as_ref()) {
                    Some(r) => r.is_match(ps),
                    None => false,
                }
            }
        }
    }

    fn selected(&mut self, idx: usize, inst: &Inst, ps: &str) -> bool {
        let sel = match (&inst.a1, &inst.a2) {
            (None, _) => true,
            (Some(a), None) => self.matches(a, ps),
            (Some(a1), Some(a2)) => {
                if self.range_active[idx] {
                    let end = match a2 {
                        Addr::Line(n) => self.lineno >= *n,
                        a => self.matches(a, ps),
                    };
                    if end {
                        self.range_active[idx] = false;
                    }
                    true
                } else if self.matches(a1, ps) {
                    let ends_now = match a2 {
                        Addr::Line(n) => *n <= self.lineno,
                        _ => false,
                    };
                    self.range_active[idx] = !ends_now;
                    true
                } else {
                    false
                }
            }
        };
        sel != inst.neg
    }
}

/// Runs `prog` over `lines`; returns the exit code if `q`/`Q` asked for one.
fn run(
    prog: &[Inst],
    lines: Vec<String>,
    quiet: bool,
    out: &mut dyn Write,
) -> io::Result<Option<i32>> {
    let mut st = State {
        lines,
        next: 0,
        lineno: 0,
        hold: String::new(),
        last_re: None,
        range_active: vec![false; prog.len()],
        quiet,
    };
    while st.next < st.lines.len() {
        let mut ps = std::mem::take(&mut st.lines[st.next]);
        st.next += 1;
        st.lineno += 1;
        let mut append: Vec<String> = Vec::new();
        let mut pc = 0;
        let mut subst_flag = false;
        let mut autoprint = !st.quiet;
        let mut restart = false;
        while pc < prog.len() {
            let inst = &prog[pc];
            if matches!(inst.cmd, Cmd::EndBlock | Cmd::Label(_)) {
                pc += 1;
                continue;
            }
            if !st.selected(pc, inst, &ps) {
                pc = match inst.cmd {
                    Cmd::Block(end) => end + 1,
                    _ => pc + 1,
                };
                continue;
            }
            pc += 1;
            match &inst.cmd {
                Cmd::Subst {
                    re,
                    rep,
                    global,
                    nth,
                    print,
                } => {
                    if let Some(r) = re {
                        st.last_re = Some(r.clone());
                    }
                    let Some(r) = re.as_ref().or(st.last_re.as_ref()) else {
                        continue;
                    };
                    if let Some(new) = substitute(r, &ps, rep, *global, *nth) {
                        ps = new;
                        subst_flag = true;
                        if *print {
                            writeln!(out, "{ps}")?;
                        }
                    }
                }
                Cmd::Trans(a, b) => {
                    ps = ps
                        .chars()
                        .map(|c| a.iter().position(|&x| x == c).map(|i| b[i]).unwrap_or(c))
                        .collect();
                }
                Cmd::Print => writeln!(out, "{ps}")?,
                Cmd::PrintFirst => writeln!(out, "{}", ps.split('\n').next().unwrap_or(""))?,
                Cmd::Delete => {
                    autoprint = false;
                    break;
                }
                Cmd::DeleteFirst => {
                    if let Some(i) = ps.find('\n') {
                        ps = ps[i + 1..].to_string();
                        restart = true;
                    }
                    autoprint = false;
                    break;
                }
                Cmd::Quit(code, print) => {
                    if *print && autoprint {
                        writeln!(out, "{ps}")?;
                    }
                    for a in &append {
                        writeln!(out, "{a}")?;
                    }
                    return Ok(Some(*code));
                }
                Cmd::LineNo => writeln!(out, "{}", st.lineno)?,
                Cmd::Append(t) => append.push(t.clone()),
                Cmd::Insert(t) => writeln!(out, "{t}")?,
                Cmd::Change(t) => {
                    if !st.range_active[pc - 1] {
                        writeln!(out, "{t}")?;
                    }
                    autoprint = false;
                    break;
                }
                Cmd::Next => {
                    if st.next >= st.lines.len() {
                        break;
                    }
                    if !st.quiet {
                        writeln!(out, "{ps}")?;
                    }
                    for a in append.drain(..) {
                        writeln!(out, "{a}")?;
                    }
                    ps = std::mem::take(&mut st.lines[st.next]);
                    st.next += 1;
                    st.lineno += 1;
                }
                Cmd::NextAppend => {
                    if st.next >= st.lines.len() {
                        break;
                    }
                    ps.push('\n');
                    ps.push_str(&std::mem::take(&mut st.lines[st.next]));
                    st.next += 1;
                    st.lineno += 1;
                }
                Cmd::Hold => st.hold = ps.clone(),
                Cmd::HoldAppend => {
                    st.hold.push('\n');
                    st.hold.push_str(&ps);
                }
                Cmd::Get => ps = st.hold.clone(),
                Cmd::GetAppend => {
                    ps.push('\n');
                    ps.push_str(&st.hold);
                }
                Cmd::Exchange => std::mem::swap(&mut ps, &mut st.hold),
                Cmd::Block(_) | Cmd::EndBlock | Cmd::Label(_) => {}
                Cmd::Branch(label, cond) => {
                    if *cond && !subst_flag {
                        continue;
                    }
                    if *cond {
                        subst_flag = false;
                    }
                    if label.is_empty() {
                        pc = prog.len();
                    } else if let Some(t) = prog
                        .iter()
                        .position(|i| matches!(&i.cmd, Cmd::Label(l) if l == label))
                    {
                        pc = t + 1;
                    } else {
                        pc = prog.len();
                    }
                }
            }
        }
        if autoprint {
            writeln!(out, "{ps}")?;
        }
        for a in append {
            writeln!(out, "{a}")?;
        }
        if restart {
            // `D`: start the next cycle with what is left, without reading a new line.
            st.next -= 1;
            st.lineno -= 1;
            st.lines[st.next] = ps;
        }
    }
    Ok(None)
}

pub fn sed(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "sed", args, "ne:f:Erisu") else {
        return 1;
    };
    let mut script = o.vals('e').join("\n");
    for f in o.vals('f') {
        match std::fs::read_to_string(ctx.path(&f)) {
            Ok(s) => {
                if !script.is_empty() {
                    script.push('\n');
                }
                script.push_str(&s);
            }
            Err(e) => {
                ctx.error("sed", format!("can't open '{f}': {}", errstr(&e)));
                return 1;
            }
        }
    }
    let mut files = o.args.clone();
    if o.vals('e').is_empty() && o.vals('f').is_empty() {
        if files.is_empty() {
            ctx.error("sed", "usage: sed [-inrE] [-e SCRIPT]... SCRIPT [FILE]...");
            return 1;
        }
        script = files.remove(0);
    }
    let mut p = Parser {
        s: script.chars().collect(),
        i: 0,
        ere: o.has('E') || o.has('r'),
        _p: std::marker::PhantomData,
    };
    let prog = match p.parse() {
        Ok(p) => p,
        Err(e) => {
            ctx.error("sed", e);
            return 1;
        }
    };
    let read_lines = |data: Vec<u8>| -> Vec<String> {
        let text = match String::from_utf8(data) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let mut v: Vec<String> = text.split('\n').map(str::to_string).collect();
        if v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
        v
    };
    if o.has('i') {
        let mut st = 0;
        for f in &files {
            let path = ctx.path(f);
            let data = match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => {
                    ctx.error("sed", format!("can't open '{f}': {}", errstr(&e)));
                    st = 1;
                    continue;
                }
            };
            let mut buf = Vec::new();
            match run(&prog, read_lines(data), o.has('n'), &mut buf) {
                Ok(_) => {
                    if let Err(e) = std::fs::write(&path, &buf) {
                        ctx.error("sed", format!("{f}: {}", errstr(&e)));
                        st = 1;
                    }
                }
                Err(e) => return super::finish(ctx, "sed", Err(e)),
            }
        }
        return st;
    }
    let mut data = Vec::new();
    let mut st = 0;
    if files.is_empty() {
        files.push("-".into());
    }
    for f in &files {
        match ctx.open(f) {
            Ok(fd) => {
                if let Err(e) = fd.read_all(&mut data) {
                    return super::finish(ctx, "sed", Err(e));
                }
                if !data.is_empty() && !data.ends_with(b"\n") {
                    data.push(b'\n');
                }
            }
            Err(e) => {
                ctx.error("sed", format!("can't open '{f}': {}", errstr(&e)));
                st = 1;
            }
        }
    }
    let mut out = ctx.out();
    let r = run(&prog, read_lines(data), o.has('n'), &mut out).and_then(|q| {
        out.flush()?;
        Ok(q.unwrap_or(st))
    });
    super::finish(ctx, "sed", r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sed_run(script: &str, input: &str, quiet: bool, ere: bool) -> String {
        let mut p = Parser {
            s: script.chars().collect(),
            i: 0,
            ere,
            _p: std::marker::PhantomData,
        };
        let prog = p.parse().unwrap();
        let lines = input.lines().map(str::to_string).collect();
        let mut out = Vec::new();
        run(&prog, lines, quiet, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn substitutions() {
        assert_eq!(sed_run("s/a/b/", "aaa\n", false, false), "baa\n");
        assert_eq!(sed_run("s/a/b/g", "aaa\n", false, false), "bbb\n");
        assert_eq!(sed_run("s/a/b/2", "aaa\n", false, false), "aba\n");
        assert_eq!(sed_run("s/[0-9]*/<&>/", "12ab\n", false, false), "<12>ab\n");
        assert_eq!(
            sed_run("s/\\(a*\\)b\\(c\\)/\\2\\1/", "aabc\n", false, false),
            "caa\n"
        );
        assert_eq!(
            sed_run("s/(x+)y/[\\1]/g", "xxy xy\n", false, true),
            "[xx] [x]\n"
        );
        assert_eq!(sed_run("s/x*/-/g", "abc\n", false, false), "-a-b-c-\n");
        assert_eq!(sed_run("s/x*/-/g", "xab\n", false, false), "-a-b-\n");
        assert_eq!(sed_run("s|/|:|g", "/a/b\n", false, false), ":a:b\n");
        assert_eq!(sed_run("s/^/> /", "a\nb\n", false, false), "> a\n> b\n");
        assert_eq!(sed_run("s/A/x/I", "a\n", false, false), "x\n");
    }

    #[test]
    fn addresses_and_commands() {
        let input = "one\ntwo\nthree\nfour\n";
        assert_eq!(sed_run("2p", input, true, false), "two\n");
        assert_eq!(sed_run("$p", input, true, false), "four\n");
        assert_eq!(sed_run("2,3d", input, false, false), "one\nfour\n");
        assert_eq!(sed_run("/t/d", input, false, false), "one\nfour\n");
        assert_eq!(
            sed_run("/two/,/three/!d", input, false, false),
            "two\nthree\n"
        );
        assert_eq!(sed_run("2q", input, false, false), "one\ntwo\n");
        assert_eq!(sed_run("/o/{p;p}", "xo\ny\n", true, false), "xo\nxo\n");
        assert_eq!(sed_run("1i\\\nhead", "a\n", false, false), "head\na\n");
        assert_eq!(sed_run("a tail", "a\n", false, false), "a\ntail\n");
        assert_eq!(sed_run("=", "a\n", false, false), "1\na\n");
        assert_eq!(sed_run("y/abc/xyz/", "aabbcc\n", false, false), "xxyyzz\n");
        assert_eq!(sed_run("s/a/b/;s/b/c/", "a\n", false, false), "c\n");
        assert_eq!(
            sed_run("$!N;s/\\n/ /", "a\nb\nc\n", false, false),
            "a b\nc\n"
        );
        assert_eq!(sed_run(":a;s/x//;ta", "xxxy\n", false, false), "y\n");
        assert_eq!(
            sed_run("2c\\\nnew", input, false, false),
            "one\nnew\nthree\nfour\n"
        );
    }

    #[test]
    fn parse_errors() {
        for bad in ["s/a/b", "k", "{p", "}", "y/ab/c/"] {
            let mut p = Parser {
                s: bad.chars().collect(),
                i: 0,
                ere: false,
                _p: std::marker::PhantomData,
            };
            assert!(p.parse().is_err(), "{bad}");
        }
    }
}
