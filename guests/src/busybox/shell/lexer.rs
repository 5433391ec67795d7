//! Tokenizer: words (already split into quoted/unquoted/expansion parts), operators, newlines and
//! here-document bodies.

use super::ast::{POp, Param, Part, Word};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word and its source text.
    Word(Word, String),
    Op(&'static str),
    IoNum(u32),
    Newline,
    Eof,
}

/// A here-document: its body and whether it is expanded (delimiter unquoted).
#[derive(Debug, Clone, Default)]
pub struct HereDoc {
    pub body: String,
    pub expand: bool,
}

pub struct Lexed {
    /// Tokens with their line numbers.
    pub toks: Vec<(Tok, usize)>,
    /// Here-document bodies, in the order of their `<<` operators.
    pub heredocs: Vec<HereDoc>,
}

const OPS: &[&str] = &[
    "<<-", "&&", "||", ";;", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "&", "|", ";", "(", ")",
    "<", ">",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A word of the command line: ends at blanks and operators.
    Top,
    /// A whole string parsed like an unquoted word (e.g. the word of `${x:-word}`).
    Whole,
    /// Inside double quotes: ends at the closing `"`.
    Dq,
    /// The word of `"${x:-word}"`: like `Dq` up to the end of the string (inner `"` are removed).
    DqWhole,
    /// A here-document body or arithmetic: only `$`, backquotes and `\` are special.
    Here,
}

pub struct Lexer {
    s: Vec<char>,
    pos: usize,
    line: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn tokenize(src: &str) -> Result<Lexed, String> {
    let mut lx = Lexer {
        s: src.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut toks = Vec::new();
    let mut heredocs: Vec<HereDoc> = Vec::new();
    // Here-documents whose bodies start at the next newline: (index, delimiter, strip tabs).
    let mut pending: Vec<(usize, String, bool)> = Vec::new();
    let mut want_delim: Option<bool> = None;
    loop {
        // Blanks and line continuations.
        loop {
            match lx.peek() {
                Some(' ') | Some('\t') | Some('\r') => lx.pos += 1,
                Some('\\') if lx.peek_at(1) == Some('\n') => {
                    lx.pos += 2;
                    lx.line += 1;
                }
                _ => break,
            }
        }
        let Some(c) = lx.peek() else {
            toks.push((Tok::Eof, lx.line));
            break;
        };
        if c == '#' {
            while lx.peek().is_some_and(|c| c != '\n') {
                lx.pos += 1;
            }
            continue;
        }
        if c == '\n' {
            toks.push((Tok::Newline, lx.line));
            lx.pos += 1;
            lx.line += 1;
            for (idx, delim, strip) in pending.drain(..) {
                heredocs[idx].body = lx.heredoc_body(&delim, strip);
            }
            continue;
        }
        if let Some(op) = OPS.iter().find(|op| lx.starts_with(op)) {
            lx.pos += op.chars().count();
            if *op == "<<" || *op == "<<-" {
                want_delim = Some(*op == "<<-");
            }
            toks.push((Tok::Op(op), lx.line));
            continue;
        }
        let start = lx.pos;
        let line = lx.line;
        let word = lx.parts(Mode::Top)?;
        let raw: String = lx.s[start..lx.pos].iter().collect();
        if let Some(strip) = want_delim.take() {
            let quoted = raw.contains(['\'', '"', '\\']);
            let delim: String = raw
                .chars()
                .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                .collect();
            heredocs.push(HereDoc {
                body: String::new(),
                expand: !quoted,
            });
            pending.push((heredocs.len() - 1, delim, strip));
            toks.push((Tok::Word(word, raw), line));
            continue;
        }
        if !raw.is_empty()
            && raw.chars().all(|c| c.is_ascii_digit())
            && matches!(lx.peek(), Some('<') | Some('>'))
            && let Ok(n) = raw.parse()
        {
            toks.push((Tok::IoNum(n), line));
            continue;
        }
        toks.push((Tok::Word(word, raw), line));
    }
    Ok(Lexed { toks, heredocs })
}

/// Parses a here-document body (or arithmetic text): only `$`, backquotes and `\` are special.
pub fn parse_here(s: &str) -> Result<Word, String> {
    Lexer::new(s).parts(Mode::Here)
}

impl Lexer {
    fn new(s: &str) -> Lexer {
        Lexer {
            s: s.chars().collect(),
            pos: 0,
            line: 1,
        }
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.pos + n).copied()
    }
    fn starts_with(&self, p: &str) -> bool {
        p.chars()
            .enumerate()
            .all(|(k, c)| self.s.get(self.pos + k) == Some(&c))
    }

    fn heredoc_body(&mut self, delim: &str, strip: bool) -> String {
        let mut body = String::new();
        while self.pos < self.s.len() {
            let start = self.pos;
            while self.peek().is_some_and(|c| c != '\n') {
                self.pos += 1;
            }
            let mut line: String = self.s[start..self.pos].iter().collect();
            if self.peek() == Some('\n') {
                self.pos += 1;
            }
            self.line += 1;
            if strip {
                line = line.trim_start_matches('\t').to_string();
            }
            if line == delim || line.strip_suffix('\r') == Some(delim) {
                break;
            }
            body.push_str(&line);
            body.push('\n');
        }
        body
    }

    fn parts(&mut self, mode: Mode) -> Result<Word, String> {
        let mut parts: Word = Vec::new();
        let quoted_lits = matches!(mode, Mode::Dq | Mode::DqWhole | Mode::Here);
        let push = |parts: &mut Word, c: char, quoted: bool| match (parts.last_mut(), quoted) {
            (Some(Part::Lit(s)), false) | (Some(Part::Quoted(s)), true) => s.push(c),
            _ => parts.push(if quoted {
                Part::Quoted(c.to_string())
            } else {
                Part::Lit(c.to_string())
            }),
        };
        loop {
            let Some(c) = self.peek() else {
                if mode == Mode::Dq {
                    return Err("unterminated quoted string".into());
                }
                break;
            };
            match c {
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
                    if mode == Mode::Top =>
                {
                    break;
                }
                '"' if mode == Mode::Dq => {
                    self.pos += 1;
                    break;
                }
                '"' if mode == Mode::DqWhole => self.pos += 1,
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        None => push(&mut parts, '\\', quoted_lits),
                        Some('\n') => {
                            self.pos += 1;
                            self.line += 1;
                        }
                        Some(n) => {
                            let special = match mode {
                                Mode::Dq | Mode::DqWhole => matches!(n, '$' | '`' | '"' | '\\'),
                                Mode::Here => matches!(n, '$' | '`' | '\\'),
                                _ => true,
                            };
                            if !special {
                                push(&mut parts, '\\', true);
                            }
                            self.pos += 1;
                            push(&mut parts, n, true);
                        }
                    }
                }
                '\'' if matches!(mode, Mode::Top | Mode::Whole) => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '\'') {
                        if self.peek() == Some('\n') {
                            self.line += 1;
                        }
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err("unterminated quoted string".into());
                    }
                    let s: String = self.s[start..self.pos].iter().collect();
                    self.pos += 1;
                    parts.push(Part::Quoted(s));
                }
                '"' if matches!(mode, Mode::Top | Mode::Whole) => {
                    self.pos += 1;
                    let inner = self.parts(Mode::Dq)?;
                    parts.push(Part::Dq(inner));
                }
                '$' => {
                    let p = self.dollar(quoted_lits)?;
                    match p {
                        Part::Lit(s) | Part::Quoted(s) => {
                            for ch in s.chars() {
                                push(&mut parts, ch, quoted_lits);
                            }
                        }
                        p => parts.push(p),
                    }
                }
                '`' => {
                    self.pos += 1;
                    let mut src = String::new();
                    loop {
                        match self.peek() {
                            None => return Err("unterminated `".into()),
                            Some('`') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\\') if matches!(self.peek_at(1), Some('`' | '\\' | '$')) => {
                                src.push(self.s[self.pos + 1]);
                                self.pos += 2;
                            }
                            Some(c) => {
                                if c == '\n' {
                                    self.line += 1;
                                }
                                src.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                    parts.push(Part::Cmd(src));
                }
                _ => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    self.pos += 1;
                    push(&mut parts, c, quoted_lits);
                }
            }
        }
        Ok(parts)
    }

    /// Finds the end of a `(`...`)` or `{`...`}` group starting after the opener; returns the
    /// index of the closer. Skips quotes and escapes.
    fn find_close(&self, from: usize, open: char, close: char) -> Option<usize> {
        let mut depth = 0usize;
        let mut i = from;
        while i < self.s.len() {
            let c = self.s[i];
            match c {
                '\\' => i += 1,
                '\'' if open == '(' || open == '{' => {
                    i += 1;
                    while i < self.s.len() && self.s[i] != '\'' {
                        i += 1;
                    }
                }
                '"' => {
                    i += 1;
                    while i < self.s.len() && self.s[i] != '"' {
                        if self.s[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    if depth == 0 {
                        return Some(i);
                    }
                    depth -= 1;
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    fn dollar(&mut self, in_dq: bool) -> Result<Part, String> {
        self.pos += 1; // `$`
        let simple = |name: String| {
            Part::Param(Box::new(Param {
                name,
                op: POp::Plain,
                colon: false,
                word: Vec::new(),
            }))
        };
        match self.peek() {
            Some('{') => self.brace_param(in_dq),
            Some('(') if self.peek_at(1) == Some('(') => {
                // Arithmetic: up to the matching `))`.
                let start = self.pos + 2;
                let mut depth = 0usize;
                let mut i = start;
                while i < self.s.len() {
                    match self.s[i] {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            if self.s.get(i + 1) == Some(&')') {
                                let text: String = self.s[start..i].iter().collect();
                                self.pos = i + 2;
                                return Ok(Part::Arith(parse_here(&text)?));
                            }
                            break;
                        }
                        ')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                // Not arithmetic after all: a command substitution starting with a subshell.
                self.cmdsub()
            }
            Some('(') => self.cmdsub(),
            Some(c) if is_name_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_name_char) {
                    self.pos += 1;
                }
                Ok(simple(self.s[start..self.pos].iter().collect()))
            }
            Some(c) if c.is_ascii_digit() || "?$#@*!-".contains(c) => {
                self.pos += 1;
                Ok(simple(c.to_string()))
            }
            _ => Ok(if in_dq {
                Part::Quoted("$".into())
            } else {
                Part::Lit("$".into())
            }),
        }
    }

    fn cmdsub(&mut self) -> Result<Part, String> {
        let start = self.pos + 1;
        let end = self.find_close(start, '(', ')').ok_or("unterminated $(")?;
        let src: String = self.s[start..end].iter().collect();
        self.line += src.matches('\n').count();
        self.pos = end + 1;
        Ok(Part::Cmd(src))
    }

    fn brace_param(&mut self, in_dq: bool) -> Result<Part, String> {
        self.pos += 1; // `{`
        let end = self
            .find_close(self.pos, '{', '}')
            .ok_or("bad substitution")?;
        let body: Vec<char> = self.s[self.pos..end].to_vec();
        self.pos = end + 1;
        let bad = || format!("{{{}}}: bad substitution", body.iter().collect::<String>());
        let mut i = 0;
        let mut len = false;
        if body.first() == Some(&'#') && body.len() > 1 {
            len = true;
            i = 1;
        }
        let start = i;
        match body.get(i) {
            Some(&c) if is_name_start(c) => {
                while body.get(i).is_some_and(|&c| is_name_char(c)) {
                    i += 1;
                }
            }
            Some(&c) if c.is_ascii_digit() => {
                while body.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    i += 1;
                }
            }
            Some(&c) if "?$#@*!-".contains(c) => i += 1,
            _ => return Err(bad()),
        }
        let name: String = body[start..i].iter().collect();
        if len {
            if i != body.len() {
                return Err(bad());
            }
            return Ok(Part::Param(Box::new(Param {
                name,
                op: POp::Len,
                colon: false,
                word: Vec::new(),
            })));
        }
        let rest: String = body[i..].iter().collect();
        let (op, colon, word) = if rest.is_empty() {
            (POp::Plain, false, "")
        } else {
            let (colon, r) = match rest.strip_prefix(':') {
                Some(r) => (true, r),
                None => (false, rest.as_str()),
            };
            let two = |p: &str| r.starts_with(p);
            if two("%%") {
                (POp::TrimSuffixLong, false, &r[2..])
            } else if two("##") {
                (POp::TrimPrefixLong, false, &r[2..])
            } else {
                let op = match r.chars().next() {
                    Some('-') => POp::Default,
                    Some('=') => POp::Assign,
                    Some('+') => POp::Alt,
                    Some('?') => POp::Error,
                    Some('%') if !colon => POp::TrimSuffix,
                    Some('#') if !colon => POp::TrimPrefix,
                    _ => return Err(bad()),
                };
                (op, colon, &r[1..])
            }
        };
        let word = Lexer::new(word).parts(if in_dq { Mode::DqWhole } else { Mode::Whole })?;
        Ok(Part::Param(Box::new(Param {
            name,
            op,
            colon,
            word,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<Tok> {
        tokenize(src)
            .unwrap()
            .toks
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn ops_and_words() {
        let t = words("echo a&&b|c; d 2>&1 >>f");
        let kinds: Vec<String> = t
            .iter()
            .map(|t| match t {
                Tok::Word(_, raw) => raw.clone(),
                Tok::Op(o) => format!("<{o}>"),
                Tok::IoNum(n) => format!("#{n}"),
                Tok::Newline => "NL".into(),
                Tok::Eof => "EOF".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "echo", "a", "<&&>", "b", "<|>", "c", "<;>", "d", "#2", "<>&>", "1", "<>>>", "f",
                "EOF"
            ]
        );
    }

    #[test]
    fn quotes_and_params() {
        let t = words(r#"a'b c'"$x ${y:-z}"\$"#);
        let Tok::Word(w, _) = &t[0] else { panic!() };
        assert_eq!(w[0], Part::Lit("a".into()));
        assert_eq!(w[1], Part::Quoted("b c".into()));
        let Part::Dq(inner) = &w[2] else { panic!() };
        assert_eq!(inner.len(), 3);
        assert_eq!(w[3], Part::Quoted("$".into()));
    }

    #[test]
    fn heredoc_bodies() {
        let l = tokenize("cat <<EOF; cat <<-'E2'\nhello $x\nEOF\n\tworld\n\tE2\necho\n").unwrap();
        assert_eq!(l.heredocs[0].body, "hello $x\n");
        assert!(l.heredocs[0].expand);
        assert_eq!(l.heredocs[1].body, "world\n");
        assert!(!l.heredocs[1].expand);
    }

    #[test]
    fn comments_and_subst() {
        let t = words("echo $(echo ')' \"(\") `a \\`b\\`` # c\n");
        let Tok::Word(w, _) = &t[1] else { panic!() };
        assert_eq!(w[0], Part::Cmd("echo ')' \"(\"".into()));
        let Tok::Word(w, _) = &t[2] else { panic!() };
        assert_eq!(w[0], Part::Cmd("a `b`".into()));
        assert_eq!(t[3], Tok::Newline);
    }

    #[test]
    fn arith_and_len() {
        let t = words("$((1 + (2*3))) ${#v} ${v%%.*}");
        let Tok::Word(w, _) = &t[0] else { panic!() };
        assert!(matches!(w[0], Part::Arith(_)));
        let Tok::Word(w, _) = &t[1] else { panic!() };
        let Part::Param(p) = &w[0] else { panic!() };
        assert_eq!(p.op, POp::Len);
        let Tok::Word(w, _) = &t[2] else { panic!() };
        let Part::Param(p) = &w[0] else { panic!() };
        assert_eq!(p.op, POp::TrimSuffixLong);
        assert_eq!(p.word, vec![Part::Lit(".*".into())]);
    }

    #[test]
    fn errors() {
        assert!(tokenize("echo 'abc").is_err());
        assert!(tokenize("echo \"abc").is_err());
        assert!(tokenize("echo ${").is_err());
    }
}
