//! A small backtracking regex engine for `grep`, `sed` and `expr`: POSIX basic (BRE) and extended
//! (ERE) syntax: `. * ^ $ [...] [^...] [[:class:]] \( \) \{n,m\} \1` and ERE `+ ? | ( ) {n,m}`,
//! plus the GNU extensions `\+ \? \| \w \W \s \S \b \< \>`.
//!
//! Matching is leftmost, with backtracking preferring longer repetitions (like Perl rather than
//! POSIX leftmost-longest, which gives the same results for ordinary patterns). Without back
//! references a visited set bounds the work to O(program × text).

use crate::shell::glob::class_match;

#[derive(Debug, Clone)]
struct Class {
    items: Vec<Item>,
    neg: bool,
}

#[derive(Debug, Clone)]
enum Item {
    Ch(char),
    Range(char, char),
    Named(String),
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    WordB,
    NotWordB,
    Group(Box<Node>, usize),
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
    Backref(usize),
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Class(Box<Class>),
    Start,
    End,
    WordB,
    NotWordB,
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Backref(usize),
    Match,
}

#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Inst>,
    ngroups: usize,
    icase: bool,
    backrefs: bool,
    anchored: bool,
}

pub type Caps = Vec<Option<(usize, usize)>>;

struct P<'a> {
    c: &'a [char],
    i: usize,
    ere: bool,
    ngroups: usize,
    backrefs: bool,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    fn at(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, ch)| self.c.get(self.i + k) == Some(&ch))
    }
    fn at_alt(&self) -> bool {
        if self.ere {
            self.peek() == Some('|')
        } else {
            self.at("\\|")
        }
    }
    fn at_close(&self) -> bool {
        if self.ere {
            self.peek() == Some(')')
        } else {
            self.at("\\)")
        }
    }

    fn alt(&mut self, depth: usize) -> Result<Node, String> {
        let mut alts = vec![self.seq(depth)?];
        while self.at_alt() {
            self.i += if self.ere { 1 } else { 2 };
            alts.push(self.seq(depth)?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    fn seq(&mut self, depth: usize) -> Result<Node, String> {
        let mut items: Vec<Node> = Vec::new();
        let seq_start = self.i;
        while self.i < self.c.len() && !self.at_alt() && !(depth > 0 && self.at_close()) {
            if self.ere && self.peek() == Some(')') && depth == 0 {
                // An unmatched `)` in an ERE is an ordinary character.
                self.i += 1;
                items.push(Node::Char(')'));
                continue;
            }
            let atom_start = self.i == seq_start;
            let atom = self.atom(depth, atom_start)?;
            let atom = self.postfix(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Cat(items),
        })
    }

    fn atom(&mut self, depth: usize, seq_start: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Ok(Node::Empty);
        };
        self.i += 1;
        Ok(match c {
            '.' => Node::Any,
            '[' => Node::Class(self.class()?),
            '^' if self.ere || seq_start => Node::Start,
            '$' if self.ere || self.i == self.c.len() || self.at("\\)") || self.at("\\|") => {
                Node::End
            }
            '*' if seq_start => Node::Char('*'),
            '*' | '+' | '?' if self.ere && seq_start => Node::Char(c),
            '(' if self.ere => {
                self.ngroups += 1;
                let n = self.ngroups;
                let inner = self.alt(depth + 1)?;
                if self.peek() != Some(')') {
                    return Err("Unmatched ( or \\(".into());
                }
                self.i += 1;
                Node::Group(Box::new(inner), n)
            }
            '{' if self.ere && seq_start => Node::Char('{'),
            '\\' => {
                let Some(e) = self.peek() else {
                    return Err("Trailing backslash".into());
                };
                self.i += 1;
                match e {
                    '(' if !self.ere => {
                        self.ngroups += 1;
                        let n = self.ngroups;
                        let inner = self.alt(depth + 1)?;
                        if !self.at("\\)") {
                            return Err("Unmatched ( or \\(".into());
                        }
                        self.i += 2;
                        Node::Group(Box::new(inner), n)
                    }
                    '1'..='9' => {
                        self.backrefs = true;
                        let n = e as usize - '0' as usize;
                        if n > self.ngroups {
                            return Err("Invalid back reference".into());
                        }
                        Node::Backref(n)
                    }
                    'w' | 'W' | 's' | 'S' | 'd' | 'D' => {
                        let name = match e.to_ascii_lowercase() {
                            'w' => "word",
                            's' => "space",
                            _ => "digit",
                        };
                        Node::Class(Class {
                            items: vec![Item::Named(name.into())],
                            neg: e.is_ascii_uppercase(),
                        })
                    }
                    'b' | '<' | '>' => Node::WordB,
                    'B' => Node::NotWordB,
                    'n' => Node::Char('\n'),
                    't' => Node::Char('\t'),
                    c => Node::Char(c),
                }
            }
            c => Node::Char(c),
        })
    }

    fn postfix(&mut self, mut atom: Node) -> Result<Node, String> {
        loop {
            let (min, max) = match self.peek() {
                Some('*') => {
                    self.i += 1;
                    (0, None)
                }
                Some('+') if self.ere => {
                    self.i += 1;
                    (1, None)
                }
                Some('?') if self.ere => {
                    self.i += 1;
                    (0, Some(1))
                }
                Some('\\') if !self.ere && matches!(self.c.get(self.i + 1), Some('+' | '?')) => {
                    let q = self.c[self.i + 1];
                    self.i += 2;
                    if q == '+' { (1, None) } else { (0, Some(1)) }
                }
                Some('{') if self.ere => {
                    let save = self.i;
                    self.i += 1;
                    match self.bounds()? {
                        Some(b) => b,
                        None => {
                            self.i = save;
                            return Ok(atom);
                        }
                    }
                }
                Some('\\') if !self.ere && self.c.get(self.i + 1) == Some(&'{') => {
                    self.i += 2;
                    self.bounds()?.ok_or("Invalid content of \\{\\}")?
                }
                _ => return Ok(atom),
            };
            if matches!(atom, Node::Start | Node::End) {
                return Ok(atom);
            }
            atom = Node::Repeat(Box::new(atom), min, max);
        }
    }

    /// After `{`: `n}`, `n,}`, `n,m}` (or `\}` in a BRE).
    fn bounds(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let num = |p: &mut Self| {
            let st = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            let s: String = p.c[st..p.i].iter().collect();
            if s.is_empty() {
                None
            } else {
                s.parse::<u32>().ok()
            }
        };
        let Some(min) = num(self) else {
            return Ok(None);
        };
        let max = if self.peek() == Some(',') {
            self.i += 1;
            num(self)
        } else {
            Some(min)
        };
        let close = if self.ere { "}" } else { "\\}" };
        if !self.at(close) {
            return Ok(None);
        }
        self.i += close.len();
        if max.is_some_and(|m| m < min) || min > 1000 || max.is_some_and(|m| m > 1000) {
            return Err("Invalid content of \\{\\}".into());
        }
        Ok(Some((min, max)))
    }

    fn class(&mut self) -> Result<Class, String> {
        let mut cls = Class {
            items: Vec::new(),
            neg: false,
        };
        if self.peek() == Some('^') {
            cls.neg = true;
            self.i += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("Unmatched [, [^, [:, [., or [=".into());
            };
            self.i += 1;
            if c == ']' && !first {
                return Ok(cls);
            }
            first = false;
            if c == '[' && matches!(self.peek(), Some(':' | '.' | '=')) {
                let kind = self.c[self.i];
                let rest: String = self.c[self.i + 1..].iter().collect();
                let end = rest
                    .find(&format!("{kind}]"))
                    .ok_or("Unmatched [, [^, [:, [., or [=")?;
                let name = rest[..end].to_string();
                self.i += 1 + name.chars().count() + 2;
                if kind == ':' {
                    cls.items.push(Item::Named(name));
                } else {
                    for ch in name.chars() {
                        cls.items.push(Item::Ch(ch));
                    }
                }
                continue;
            }
            if self.peek() == Some('-') && self.c.get(self.i + 1).is_some_and(|&e| e != ']') {
                let hi = self.c[self.i + 1];
                self.i += 2;
                cls.items.push(Item::Range(c, hi));
            } else {
                cls.items.push(Item::Ch(c));
            }
        }
    }
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn upper(c: char) -> char {
    c.to_uppercase().next().unwrap_or(c)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Class {
    fn matches1(&self, c: char) -> bool {
        self.items.iter().any(|it| match it {
            Item::Ch(x) => *x == c,
            Item::Range(a, b) => *a <= c && c <= *b,
            Item::Named(n) if n == "word" => is_word(c),
            Item::Named(n) => class_match(n, c),
        })
    }
    fn matches(&self, c: char, icase: bool) -> bool {
        let m = self.matches1(c) || (icase && (self.matches1(upper(c)) || self.matches1(lower(c))));
        m != self.neg
    }
}

struct Compiler {
    prog: Vec<Inst>,
    icase: bool,
}

impl Compiler {
    fn emit(&mut self, n: &Node) -> Result<(), String> {
        if self.prog.len() > 200_000 {
            return Err("Regular expression too big".into());
        }
        match n {
            Node::Empty => {}
            Node::Char(c) => self
                .prog
                .push(Inst::Char(if self.icase { lower(*c) } else { *c })),
            Node::Any => self.prog.push(Inst::Any),
            Node::Class(c) => self.prog.push(Inst::Class(Box::new(c.clone()))),
            Node::Start => self.prog.push(Inst::Start),
            Node::End => self.prog.push(Inst::End),
            Node::WordB => self.prog.push(Inst::WordB),
            Node::NotWordB => self.prog.push(Inst::NotWordB),
            Node::Backref(i) => self.prog.push(Inst::Backref(*i)),
            Node::Group(inner, i) => {
                self.prog.push(Inst::Save(2 * i));
                self.emit(inner)?;
                self.prog.push(Inst::Save(2 * i + 1));
            }
            Node::Cat(v) => {
                for x in v {
                    self.emit(x)?;
                }
            }
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (k, x) in v.iter().enumerate() {
                    if k + 1 < v.len() {
                        let split = self.prog.len();
                        self.prog.push(Inst::Split(split + 1, 0));
                        self.emit(x)?;
                        jumps.push(self.prog.len());
                        self.prog.push(Inst::Jmp(0));
                        let next = self.prog.len();
                        self.prog[split] = Inst::Split(split + 1, next);
                    } else {
                        self.emit(x)?;
                    }
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat(x, min, max) => {
                for _ in 0..*min {
                    self.emit(x)?;
                }
                match max {
                    None => {
                        let l = self.prog.len();
                        self.prog.push(Inst::Split(l + 1, 0));
                        self.emit(x)?;
                        self.prog.push(Inst::Jmp(l));
                        let out = self.prog.len();
                        self.prog[l] = Inst::Split(l + 1, out);
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.prog.len());
                            self.prog.push(Inst::Split(0, 0));
                            self.emit(x)?;
                        }
                        let end = self.prog.len();
                        for s in splits {
                            self.prog[s] = Inst::Split(s + 1, end);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

enum Step {
    Try(usize, usize),
    Restore(usize, Option<usize>),
}

impl Regex {
    pub fn new(pat: &str, ere: bool, icase: bool) -> Result<Regex, String> {
        let chars: Vec<char> = pat.chars().collect();
        let mut p = P {
            c: &chars,
            i: 0,
            ere,
            ngroups: 0,
            backrefs: false,
        };
        let node = p.alt(0)?;
        if p.i < chars.len() {
            return Err("Unmatched ) or \\)".into());
        }
        let mut c = Compiler {
            prog: vec![Inst::Save(0)],
            icase,
        };
        c.emit(&node)?;
        c.prog.push(Inst::Save(1));
        c.prog.push(Inst::Match);
        let anchored = matches!(c.prog.get(1), Some(Inst::Start));
        Ok(Regex {
            prog: c.prog,
            ngroups: p.ngroups,
            icase,
            backrefs: p.backrefs,
            anchored,
        })
    }

    /// A regex matching `s` literally.
    pub fn literal(s: &str, icase: bool) -> Regex {
        let mut prog = vec![Inst::Save(0)];
        for c in s.chars() {
            prog.push(Inst::Char(if icase { lower(c) } else { c }));
        }
        prog.push(Inst::Save(1));
        prog.push(Inst::Match);
        Regex {
            prog,
            ngroups: 0,
            icase,
            backrefs: false,
            anchored: false,
        }
    }

    pub fn groups(&self) -> usize {
        self.ngroups
    }

    pub fn is_match(&self, s: &str) -> bool {
        let t: Vec<char> = s.chars().collect();
        self.find_at(&t, 0).is_some()
    }

    /// The leftmost match starting at or after `start`; group 0 is the whole match.
    pub fn find_at(&self, text: &[char], start: usize) -> Option<Caps> {
        let folded;
        let text = if self.icase {
            folded = text.iter().map(|&c| lower(c)).collect::<Vec<_>>();
            &folded[..]
        } else {
            text
        };
        let mut visited = if self.backrefs {
            Vec::new()
        } else {
            vec![0u64; (self.prog.len() * (text.len() + 1)).div_ceil(64)]
        };
        let first = match self.prog.get(1) {
            Some(Inst::Char(c)) => Some(*c),
            _ => None,
        };
        let mut s = start;
        while s <= text.len() {
            if self.anchored && s > 0 {
                return None;
            }
            if let Some(f) = first {
                match text[s..].iter().position(|&c| c == f) {
                    Some(off) => s += off,
                    None => return None,
                }
            }
            if let Some(c) = self.run(text, s, &mut visited) {
                return Some(c);
            }
            s += 1;
        }
        None
    }

    fn run(&self, text: &[char], start: usize, visited: &mut [u64]) -> Option<Caps> {
        let mut caps: Vec<Option<usize>> = vec![None; 2 * (self.ngroups + 1)];
        let mut stack = vec![Step::Try(0, start)];
        let mut budget: u64 = 50_000_000;
        let width = text.len() + 1;
        while let Some(step) = stack.pop() {
            let (mut pc, mut pos) = match step {
                Step::Restore(slot, old) => {
                    caps[slot] = old;
                    continue;
                }
                Step::Try(pc, pos) => (pc, pos),
            };
            loop {
                if !visited.is_empty() {
                    let k = pc * width + pos;
                    if visited[k / 64] & (1 << (k % 64)) != 0 {
                        break;
                    }
                    visited[k / 64] |= 1 << (k % 64);
                } else {
                    budget = budget.saturating_sub(1);
                    if budget == 0 {
                        return None;
                    }
                }
                match &self.prog[pc] {
                    Inst::Char(c) => {
                        if text.get(pos) == Some(c) {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Any => {
                        if pos < text.len() {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Class(cls) => {
                        if text.get(pos).is_some_and(|&c| cls.matches(c, self.icase)) {
                            pc += 1;
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Start => {
                        if pos == 0 {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::End => {
                        if pos == text.len() {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::WordB | Inst::NotWordB => {
                        let a = pos > 0 && is_word(text[pos - 1]);
                        let b = pos < text.len() && is_word(text[pos]);
                        if (a != b) == matches!(self.prog[pc], Inst::WordB) {
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Split(x, y) => {
                        stack.push(Step::Try(*y, pos));
                        pc = *x;
                    }
                    Inst::Jmp(x) => pc = *x,
                    Inst::Save(slot) => {
                        stack.push(Step::Restore(*slot, caps[*slot]));
                        caps[*slot] = Some(pos);
                        pc += 1;
                    }
                    Inst::Backref(n) => {
                        let (Some(a), Some(b)) = (caps[2 * n], caps[2 * n + 1]) else {
                            break;
                        };
                        let len = b - a;
                        if pos + len <= text.len() && text[a..b] == text[pos..pos + len] {
                            pos += len;
                            pc += 1;
                        } else {
                            break;
                        }
                    }
                    Inst::Match => {
                        return Some(
                            (0..=self.ngroups)
                                .map(|g| match (caps[2 * g], caps[2 * g + 1]) {
                                    (Some(a), Some(b)) if a <= b => Some((a, b)),
                                    _ => None,
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, ere: bool, s: &str) -> Option<String> {
        let r = Regex::new(p, ere, false).unwrap();
        let t: Vec<char> = s.chars().collect();
        r.find_at(&t, 0)
            .and_then(|c| c[0])
            .map(|(a, b)| t[a..b].iter().collect())
    }

    #[test]
    fn basics() {
        assert_eq!(m("b.d", false, "abcde").as_deref(), Some("bcd"));
        assert_eq!(m("^ab*", false, "abbbc").as_deref(), Some("abbb"));
        assert_eq!(m("^b", false, "abc"), None);
        assert_eq!(m("c$", false, "abc").as_deref(), Some("c"));
        assert_eq!(m("[0-9][0-9]*", false, "ab123c").as_deref(), Some("123"));
        assert_eq!(m("[^a-c]", false, "abcd").as_deref(), Some("d"));
        assert_eq!(
            m("[[:digit:]]\\{2\\}", false, "a1b23").as_deref(),
            Some("23")
        );
        assert_eq!(m("a\\.b", false, "axb a.b").as_deref(), Some("a.b"));
        assert_eq!(m("*a", false, "x*a").as_deref(), Some("*a"));
        assert_eq!(m("a+", false, "aa a+").as_deref(), Some("a+"));
        assert_eq!(m("a\\+", false, "baa").as_deref(), Some("aa"));
        assert_eq!(m("[]x]", false, "a]").as_deref(), Some("]"));
    }

    #[test]
    fn extended() {
        assert_eq!(m("ab+c", true, "xabbbc").as_deref(), Some("abbbc"));
        assert_eq!(m("colou?r", true, "color").as_deref(), Some("color"));
        assert_eq!(m("cat|dog", true, "hotdog").as_deref(), Some("dog"));
        assert_eq!(m("(ab){2,3}", true, "abababab").as_deref(), Some("ababab"));
        assert_eq!(m("^(a|b)*$", true, "abba").as_deref(), Some("abba"));
        assert_eq!(m("x{2}", true, "xxx").as_deref(), Some("xx"));
        assert_eq!(m("a{,", true, "a{,").as_deref(), Some("a{,"));
        assert_eq!(m("(a*)*b", true, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), None);
        assert_eq!(m("\\bis\\b", true, "this is").as_deref(), Some("is"));
    }

    #[test]
    fn groups_backrefs_icase() {
        let r = Regex::new("\\([a-z]*\\)-\\1", false, false).unwrap();
        let t: Vec<char> = "x abc-abc".chars().collect();
        let c = r.find_at(&t, 0).unwrap();
        assert_eq!(c[0], Some((2, 9)));
        assert_eq!(c[1], Some((2, 5)));
        let r = Regex::new("HeLLo", false, true).unwrap();
        assert!(r.is_match("say hello"));
        let r = Regex::new("[a-z]+", true, true).unwrap();
        assert!(r.is_match("ABC"));
    }

    #[test]
    fn errors() {
        assert!(Regex::new("\\(a", false, false).is_err());
        assert!(Regex::new("(a", true, false).is_err());
        assert!(Regex::new("[a", false, false).is_err());
        assert!(Regex::new("a\\", false, false).is_err());
        assert!(Regex::new("\\1", false, false).is_err());
    }
}
