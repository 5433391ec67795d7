//! Prints a syntax tree back as shell source, for handing a piece of a script (a pipeline stage,
//! a background job, a subshell body) to a child `sh -c`.
//!
//! The output is written for this shell's own lexer and parser, not for a POSIX shell: parsing it
//! again gives an equal tree (apart from `Simple::line`) for every tree the parser produces. Each
//! command of a list goes on one line and here-document bodies follow that line, because the lexer
//! reads a body after the first newline token that follows its `<<`.
//!
//! A few trees the parser never builds have no exact spelling (adjacent `Lit`s, an empty `{ }`, a
//! `Redirected(Simple)`, ...); they are printed as source with the same meaning, e.g. `{ :; }` for
//! an empty list or a quoted character where an unquoted one would be misread.

use super::ast::{Node, POp, Param, Part, Redir, RedirOp, Simple, Word};

/// How the lexer reads the text being printed (mirrors the lexer's modes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A word of the command line.
    Top,
    /// The word of `${x:-word}` outside double quotes: blanks and operators are plain text.
    Whole,
    /// Inside double quotes.
    Dq,
    /// The word of `"${x:-word}"`: like `Dq`, but a bare `"` is dropped.
    DqWhole,
    /// Arithmetic text: only `$`, backquotes and `\` are special.
    Here,
}

/// Reserved words that start or end a compound command wherever a command may start.
const KEYWORDS: &[&str] = &[
    "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until",
    "for",
];

/// Prints `n` as a script. A `List` without background items becomes one line per item, so that
/// `Parser::parse_all` gives the same list back; any other node becomes a single line (which
/// `parse_all` returns wrapped in a one-item list).
pub fn source(n: &Node) -> String {
    let mut p = Printer::default();
    match n {
        Node::List(items) if items.iter().all(|(_, bg)| !bg) => {
            items.iter().map(|(item, _)| p.line(item)).collect()
        }
        n => p.line(n),
    }
}

#[derive(Default)]
struct Printer {
    /// Here-document bodies with their closing delimiter line, due after the current line.
    docs: Vec<String>,
}

impl Printer {
    fn line(&mut self, n: &Node) -> String {
        let mut out = self.inline(n);
        out.push('\n');
        for d in self.docs.drain(..) {
            out.push_str(&d);
        }
        out
    }

    /// A list on one line: `a; b & c`.
    fn inline(&mut self, n: &Node) -> String {
        let Node::List(items) = n else {
            return self.and_or(n);
        };
        if items.is_empty() {
            return ":".into();
        }
        let mut out = String::new();
        for (i, (item, bg)) in items.iter().enumerate() {
            out.push_str(&self.and_or(item));
            let last = i + 1 == items.len();
            out.push_str(match (bg, last) {
                (true, true) => " &",
                (true, false) => " & ",
                (false, true) => "",
                (false, false) => "; ",
            });
        }
        out
    }

    /// A list as the body of a compound command: every item is terminated (`a; b & `), so that a
    /// closing keyword may follow. The parser rejects empty bodies, hence `:` for an empty list.
    fn seq(&mut self, n: &Node) -> String {
        let Node::List(items) = n else {
            return format!("{}; ", self.and_or(n));
        };
        if items.is_empty() {
            return ":; ".into();
        }
        let mut out = String::new();
        for (item, bg) in items {
            out.push_str(&self.and_or(item));
            out.push_str(if *bg { " & " } else { "; " });
        }
        out
    }

    fn and_or(&mut self, n: &Node) -> String {
        match n {
            // The parser nests to the left, so only the left side may itself be an and-or list.
            Node::And(l, r) => format!("{} && {}", self.and_or(l), self.pipeline(r)),
            Node::Or(l, r) => format!("{} || {}", self.and_or(l), self.pipeline(r)),
            n => self.pipeline(n),
        }
    }

    fn pipeline(&mut self, n: &Node) -> String {
        let Node::Pipeline(cmds, bang) = n else {
            return self.command(n, true);
        };
        let mut out = String::from(if *bang { "! " } else { "" });
        if cmds.is_empty() {
            out.push(':');
        }
        for (i, c) in cmds.iter().enumerate() {
            if i > 0 {
                out.push_str(" | ");
            }
            out.push_str(&self.command(c, i == 0));
        }
        out
    }

    /// One command; `start`: at the start of a pipeline, where a leading `!` is an operator.
    fn command(&mut self, n: &Node, start: bool) -> String {
        match n {
            Node::Simple(s) => self.simple(s, start),
            Node::Group(b) => format!("{{ {}}}", self.seq(b)),
            Node::Subshell(b) => format!("({})", self.inline(b)),
            Node::If(arms, els) => {
                if arms.is_empty() {
                    return match els {
                        Some(e) => format!("{{ {}}}", self.seq(e)),
                        None => ":".into(),
                    };
                }
                let mut out = String::new();
                for (i, (cond, body)) in arms.iter().enumerate() {
                    out.push_str(if i == 0 { "if " } else { "elif " });
                    out.push_str(&self.seq(cond));
                    out.push_str("then ");
                    out.push_str(&self.seq(body));
                }
                if let Some(e) = els {
                    out.push_str("else ");
                    out.push_str(&self.seq(e));
                }
                out.push_str("fi");
                out
            }
            Node::Loop { cond, body, until } => {
                let kw = if *until { "until" } else { "while" };
                let cond = self.seq(cond);
                format!("{kw} {cond}do {}done", self.seq(body))
            }
            Node::For { var, words, body } => {
                let mut out = format!("for {var}");
                if let Some(ws) = words {
                    out.push_str(" in");
                    for w in ws {
                        out.push(' ');
                        out.push_str(&word(w));
                    }
                }
                // The `;` also ends the word list, which would otherwise swallow `do`.
                out.push_str("; do ");
                out.push_str(&self.seq(body));
                out.push_str("done");
                out
            }
            Node::Case(w, arms) => {
                let mut out = format!("case {} in ", word(w));
                for (pats, body) in arms {
                    // An arm without patterns never matches; `()` would not parse.
                    if pats.is_empty() {
                        continue;
                    }
                    // The `(` keeps a first pattern `esac` from closing the case.
                    out.push('(');
                    let pats: Vec<String> = pats.iter().map(word).collect();
                    out.push_str(&pats.join("|"));
                    out.push_str(") ");
                    if !matches!(body, Node::List(items) if items.is_empty()) {
                        out.push_str(&self.seq(body));
                    }
                    out.push_str(";; ");
                }
                out.push_str("esac");
                out
            }
            Node::Func(name, body) => format!("{name}() {}", self.command(body, false)),
            Node::Redirected(inner, redirs) => {
                let mut out = match **inner {
                    Node::Group(_)
                    | Node::Subshell(_)
                    | Node::If(..)
                    | Node::Loop { .. }
                    | Node::For { .. }
                    | Node::Case(..) => self.command(inner, start),
                    // Appending to a simple command would apply the redirections in another order.
                    _ => format!("{{ {}}}", self.seq(inner)),
                };
                for r in redirs {
                    out.push(' ');
                    out.push_str(&self.redir(r));
                }
                out
            }
            Node::And(..) | Node::Or(..) | Node::Pipeline(..) | Node::List(_) => {
                format!("{{ {}}}", self.seq(n))
            }
        }
    }

    fn simple(&mut self, s: &Simple, start: bool) -> String {
        let mut out: Vec<String> = Vec::new();
        for (name, value) in &s.assigns {
            out.push(format!(
                "{name}={}",
                parts(value, Mode::Top, false, None, true)
            ));
        }
        // `>f if` runs a command named `if`; with nothing to put before it, it has to be quoted.
        let keyword = match s.words.first().map(Vec::as_slice) {
            Some([Part::Lit(l)])
                if s.assigns.is_empty()
                    && (KEYWORDS.contains(&l.as_str()) || (start && l == "!")) =>
            {
                Some(l)
            }
            _ => None,
        };
        let redirs_first = keyword.is_some() && !s.redirs.is_empty();
        if redirs_first {
            for r in &s.redirs {
                out.push(self.redir(r));
            }
        }
        for (i, w) in s.words.iter().enumerate() {
            if i > 0 {
                out.push(word(w));
            } else if let Some(kw) = keyword.filter(|_| !redirs_first) {
                out.push(word(&vec![Part::Quoted(kw.clone())]));
            } else {
                out.push(word(&unassign(w)));
            }
        }
        if !redirs_first {
            for r in &s.redirs {
                out.push(self.redir(r));
            }
        }
        if out.is_empty() {
            return ":".into();
        }
        out.join(" ")
    }

    fn redir(&mut self, r: &Redir) -> String {
        let op = match r.op {
            RedirOp::In => "<",
            RedirOp::Out => ">",
            RedirOp::Append => ">>",
            RedirOp::DupIn => "<&",
            RedirOp::DupOut => ">&",
            RedirOp::ReadWrite => "<>",
            RedirOp::HereDoc => "<<",
            RedirOp::OutErr => "&>",
        };
        // `2&>f` does not parse as a redirection of fd 2 (the lexer wants a digit before `<`/`>`).
        let fd = match r.fd {
            Some(n) if r.op != RedirOp::OutErr => n.to_string(),
            _ => String::new(),
        };
        if r.op != RedirOp::HereDoc {
            return format!("{fd}{op}{}", word(&r.target));
        }
        let target = self.heredoc(r);
        // `<<-x` would be read as `<<-` and `x`.
        let sep = if target.starts_with('-') { " " } else { "" };
        format!("{fd}{op}{sep}{target}")
    }

    /// Queues the body of a here-document and returns the delimiter word to print after `<<`.
    fn heredoc(&mut self, r: &Redir) -> String {
        let (mut body, expand) = r.body.clone().unwrap_or_default();
        // The lexer ends every body line with a newline.
        if !body.is_empty() && !body.ends_with('\n') {
            body.push('\n');
        }
        // Keep the original delimiter word if it still reads back as the same kind of
        // here-document and does not occur in the body; the executor never looks at it anyway.
        let raw = word(&r.target);
        let quoted = raw.contains(['\'', '"', '\\']);
        let delim: String = raw
            .chars()
            .filter(|c| !matches!(c, '\'' | '"' | '\\'))
            .collect();
        let (target, delim) =
            if !r.target.is_empty() && quoted != expand && usable_delim(&body, &delim) {
                (raw, delim)
            } else {
                let mut k = 0usize;
                let delim = loop {
                    let d = if k == 0 {
                        "EOF".to_string()
                    } else {
                        format!("EOF{k}")
                    };
                    if usable_delim(&body, &d) {
                        break d;
                    }
                    k += 1;
                };
                let target = if expand {
                    delim.clone()
                } else {
                    format!("'{delim}'")
                };
                (target, delim)
            };
        self.docs.push(format!("{body}{delim}\n"));
        target
    }
}

/// Whether `delim` can close a here-document holding `body` (the lexer also accepts a `\r` after
/// the delimiter, and a delimiter with a newline would never match a line).
fn usable_delim(body: &str, delim: &str) -> bool {
    !delim.contains('\n')
        && !body
            .split_terminator('\n')
            .any(|l| l == delim || l.strip_suffix('\r') == Some(delim))
}

/// A command name such as `a=b` would read as an assignment: quote its `=`.
fn unassign(w: &Word) -> Word {
    if let Some(Part::Lit(first)) = w.first()
        && let Some(eq) = first.find('=')
        && is_name(&first[..eq])
    {
        let mut out = vec![Part::Lit(first[..eq].to_string()), Part::Quoted("=".into())];
        if eq + 1 < first.len() {
            out.push(Part::Lit(first[eq + 1..].to_string()));
        }
        out.extend(w[1..].iter().cloned());
        return out;
    }
    w.clone()
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `$` followed by `c` starts an expansion.
fn starts_expansion(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || "{(?$#@*!-".contains(c)
}

/// A whole word of the command line (it starts a token).
fn word(w: &Word) -> String {
    let s = parts(w, Mode::Top, true, None, true);
    if s.is_empty() { "''".into() } else { s }
}

/// Prints `ps` as read in mode `m`. `first`: the text starts a token; `next`: the first character
/// printed after it, which decides whether a `$` or a `$name` may stay bare; `bare`: see
/// [`quoted_text`].
fn parts(ps: &[Part], m: Mode, first: bool, next: Option<char>, bare: bool) -> String {
    let mut pieces: Vec<String> = Vec::with_capacity(ps.len());
    let mut next = next;
    for (i, p) in ps.iter().enumerate().rev() {
        let s = part(p, m, first && i == 0, next, bare);
        if let Some(c) = s.chars().next() {
            next = Some(c);
        }
        pieces.push(s);
    }
    pieces.reverse();
    pieces.concat()
}

fn part(p: &Part, m: Mode, first: bool, next: Option<char>, bare: bool) -> String {
    let unquoted = matches!(m, Mode::Top | Mode::Whole);
    match p {
        Part::Lit(s) if unquoted => lit(s, m, first, next),
        Part::Quoted(s) if unquoted => single_quoted(s),
        Part::Lit(s) | Part::Quoted(s) => quoted_text(s, m, bare),
        Part::Param(p) => param(p, m, next, bare),
        Part::Cmd(src) => cmd(src, bare),
        Part::Arith(ps) => format!("$(({}))", parts(ps, Mode::Here, false, None, bare)),
        Part::Dq(ps) if unquoted => format!("\"{}\"", parts(ps, Mode::Dq, false, None, bare)),
        // Double quotes cannot nest; the contents are already quoted here.
        Part::Dq(ps) => parts(ps, m, false, next, bare),
    }
}

/// Unquoted text: printed bare where the lexer would read it back as one `Lit`, so globs stay
/// globs; any character that would be misread is escaped (and so becomes quoted text).
fn lit(s: &str, m: Mode, first: bool, next: Option<char>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '$'
            && chars
                .get(i + 1)
                .copied()
                .or(next)
                .is_some_and(starts_expansion)
        {
            // A line continuation keeps the `$` bare and unexpanded (`\$` would quote it).
            out.push_str("$\\\n");
            continue;
        }
        let special = match c {
            '\'' | '"' | '\\' | '`' => true,
            ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => m == Mode::Top,
            // At the start of a token `#` opens a comment and `\r` is skipped as a blank.
            '#' | '\r' => m == Mode::Top && first && i == 0,
            _ => false,
        };
        if !special {
            out.push(c);
        } else if c == '\n' {
            // A backslash before a newline is a line continuation.
            out.push_str("'\n'");
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

/// A `Quoted` part outside double quotes. `'...'` always starts a new part, while backslash
/// escapes join the part before them: so the text up to its first `'` goes in single quotes and
/// the rest is escaped character by character, giving exactly one part. (The usual `'\''` idiom
/// would split it in two.)
fn single_quoted(s: &str) -> String {
    let k = s.find('\'').unwrap_or(s.len());
    let (head, tail) = s.split_at(k);
    if tail.contains('\n') {
        // A newline cannot be backslash-escaped: split into several parts with the same text.
        return format!("'{}'", s.replace('\'', "'\\''"));
    }
    let mut out = format!("'{head}'");
    for c in tail.chars() {
        out.push('\\');
        out.push(c);
    }
    out
}

/// Literal text inside double quotes, a `${x:-word}` inside double quotes, or arithmetic.
///
/// A backslash before an ordinary character is kept by the lexer as it is, so it may be printed
/// bare (`bare`) or doubled: both read back the same, but the search for the end of an enclosing
/// `${...}` sees them differently (`\'` vs `"\\"`), so [`param`] picks whichever closes right.
fn quoted_text(s: &str, m: Mode, bare: bool) -> String {
    let special = |c: char| matches!(c, '$' | '`' | '\\') || (c == '"' && m != Mode::Here);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\\' {
            let bare = bare && chars.get(i + 1).is_some_and(|&n| !special(n) && n != '\n');
            out.push_str(if bare { "\\" } else { "\\\\" });
        } else if special(c) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

fn param(p: &Param, m: Mode, next: Option<char>, bare: bool) -> String {
    let name = &p.name;
    let (sym, colon_ok) = match p.op {
        POp::Plain => {
            // `$x` and `${x}` parse the same; braces only where a name character follows.
            let special = name.chars().count() == 1
                && name
                    .chars()
                    .all(|c| c.is_ascii_digit() || "?$#@*!-".contains(c));
            let unbraced =
                is_name(name) && !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            return if special || unbraced {
                format!("${name}")
            } else {
                format!("${{{name}}}")
            };
        }
        POp::Len => return format!("${{#{name}}}"),
        POp::Default => ("-", true),
        POp::Assign => ("=", true),
        POp::Alt => ("+", true),
        POp::Error => ("?", true),
        POp::TrimSuffix => ("%", false),
        POp::TrimSuffixLong => ("%%", false),
        POp::TrimPrefix => ("#", false),
        POp::TrimPrefixLong => ("##", false),
    };
    let inner = if matches!(m, Mode::Top | Mode::Whole) {
        Mode::Whole
    } else {
        Mode::DqWhole
    };
    let mut w = parts(&p.word, inner, false, None, bare);
    if !closes(&w, '{', '}') {
        let other = parts(&p.word, inner, false, None, !bare);
        if closes(&other, '{', '}') {
            w = other;
        }
    }
    // `${x%%y}` is the long form: a short trim whose pattern starts with its own operator
    // character needs that character quoted (in `"${...}"` a bare `"` pair is dropped).
    if matches!(p.op, POp::TrimSuffix | POp::TrimPrefix) && w.starts_with(sym) {
        w = if inner == Mode::Whole {
            format!("\\{w}")
        } else {
            format!("\"{sym}\"{}", &w[sym.len()..])
        };
    }
    let colon = if p.colon && colon_ok { ":" } else { "" };
    format!("${{{name}{colon}{sym}{w}}}")
}

/// A command substitution: `$(...)` where the lexer finds the same closing parenthesis (and
/// does not take `$((` for arithmetic), backquotes otherwise, which hold any text once `` ` `` and
/// `\` are escaped. `bare` as in [`quoted_text`]: inside backquotes a backslash before anything
/// but `` ` ``, `\` and `$` is kept as it is.
fn cmd(src: &str, bare: bool) -> String {
    if closes(src, '(', ')') && !(src.starts_with('(') && arith_end(&src[1..])) {
        return format!("$({src})");
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::from("`");
    for (i, &c) in chars.iter().enumerate() {
        let kept = c == '\\'
            && bare
            && chars
                .get(i + 1)
                .is_some_and(|n| !matches!(n, '`' | '\\' | '$'));
        if matches!(c, '`' | '\\') && !kept {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// Whether `$((` followed by `text` and `)` reads as arithmetic: the lexer's scan meets `))` at
/// depth 0 before any other `)` at depth 0.
fn arith_end(text: &str) -> bool {
    let mut depth = 0usize;
    let mut it = text.chars().chain([')']).peekable();
    while let Some(c) = it.next() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return it.peek() == Some(&')'),
            ')' => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Whether the lexer, looking for the end of `text` followed by `close`, finds that `close`.
fn closes(text: &str, open: char, close: char) -> bool {
    let mut chars: Vec<char> = text.chars().collect();
    let len = chars.len();
    chars.push(close);
    find_close(&chars, open, close) == Some(len)
}

/// The lexer's search for the end of `$(...)` or `${...}`: the index of the unmatched `close`,
/// skipping quotes and escapes.
fn find_close(s: &[char], open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            '\\' => i += 1,
            '\'' => {
                i += 1;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
            }
            '"' => {
                i += 1;
                while i < s.len() && s[i] != '"' {
                    if s[i] == '\\' {
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

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::super::parser::Parser;
    use super::*;

    /// Zeroes `Simple::line`, which records where a command was in the source.
    fn norm(n: &Node) -> Node {
        let b = |n: &Node| Box::new(norm(n));
        match n {
            Node::Simple(s) => Node::Simple(Simple {
                line: 0,
                ..s.clone()
            }),
            Node::Pipeline(v, bang) => Node::Pipeline(v.iter().map(norm).collect(), *bang),
            Node::And(l, r) => Node::And(b(l), b(r)),
            Node::Or(l, r) => Node::Or(b(l), b(r)),
            Node::List(v) => Node::List(v.iter().map(|(n, bg)| (norm(n), *bg)).collect()),
            Node::Group(x) => Node::Group(b(x)),
            Node::Subshell(x) => Node::Subshell(b(x)),
            Node::If(arms, els) => Node::If(
                arms.iter().map(|(c, t)| (norm(c), norm(t))).collect(),
                els.as_ref().map(|e| b(e)),
            ),
            Node::Loop { cond, body, until } => Node::Loop {
                cond: b(cond),
                body: b(body),
                until: *until,
            },
            Node::For { var, words, body } => Node::For {
                var: var.clone(),
                words: words.clone(),
                body: b(body),
            },
            Node::Case(w, arms) => Node::Case(
                w.clone(),
                arms.iter().map(|(p, n)| (p.clone(), norm(n))).collect(),
            ),
            Node::Func(name, body) => Node::Func(name.clone(), Rc::new(norm(body))),
            Node::Redirected(x, r) => Node::Redirected(b(x), r.clone()),
        }
    }

    fn parse(src: &str) -> Node {
        match Parser::parse_all(src) {
            Ok(n) => norm(&n),
            Err(e) => panic!("{src:?}: {e}"),
        }
    }

    /// parse -> print -> parse gives the same tree, and printing is stable.
    fn round_trip(src: &str) -> String {
        let a = parse(src);
        let printed = source(&a);
        let b = match Parser::parse_all(&printed) {
            Ok(n) => norm(&n),
            Err(e) => panic!("{src:?} printed as {printed:?}: {e}"),
        };
        assert_eq!(a, b, "{src:?} printed as {printed:?}");
        assert_eq!(source(&b), printed, "{src:?}");
        printed
    }

    /// Every node inside `n`, including `n`.
    fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Node>) {
        out.push(n);
        match n {
            Node::Simple(_) => {}
            Node::Pipeline(v, _) => v.iter().for_each(|n| walk(n, out)),
            Node::And(l, r) | Node::Or(l, r) => {
                walk(l, out);
                walk(r, out);
            }
            Node::List(v) => v.iter().for_each(|(n, _)| walk(n, out)),
            Node::Group(x) | Node::Subshell(x) | Node::Redirected(x, _) => walk(x, out),
            Node::If(arms, els) => {
                for (c, t) in arms {
                    walk(c, out);
                    walk(t, out);
                }
                if let Some(e) = els {
                    walk(e, out);
                }
            }
            Node::Loop { cond, body, .. } => {
                walk(cond, out);
                walk(body, out);
            }
            Node::For { body, .. } => walk(body, out),
            Node::Case(_, arms) => arms.iter().for_each(|(_, n)| walk(n, out)),
            Node::Func(_, body) => walk(body, out),
        }
    }

    /// Pieces printed on their own (as the executor does for a stage, a job or a body) parse
    /// back to themselves: a list without background items as is, anything else as the only
    /// command of the script.
    fn pieces_round_trip(src: &str) {
        let top = parse(src);
        let mut nodes = Vec::new();
        walk(&top, &mut nodes);
        for n in nodes {
            // A command named `!` (as in `a | ! b`) cannot start a script unquoted.
            if let Node::Simple(s) = n
                && s.assigns.is_empty()
                && s.redirs.is_empty()
                && s.words.first() == Some(&vec![Part::Lit("!".into())])
            {
                continue;
            }
            let printed = source(n);
            let back = match Parser::parse_all(&printed) {
                Ok(b) => norm(&b),
                Err(e) => panic!("{src:?}: {n:?} printed as {printed:?}: {e}"),
            };
            let want = match n {
                Node::List(items) if items.iter().all(|(_, bg)| !bg) => n.clone(),
                n => Node::List(vec![(n.clone(), false)]),
            };
            assert_eq!(back, want, "{src:?}: piece printed as {printed:?}");
        }
    }

    const CORPUS: &[&str] = &[
        // Simple commands, assignments, quoting.
        "echo hello world",
        "",
        "a=1 b= c='x y' cmd arg",
        "a=b=c",
        "x=$y z=\"$w\" env",
        "echo a'b'c \"d\"e\\f",
        "echo 'it'\\''s' \"it's\" it\\'s",
        "echo '\\' \\\\ '\\\\'",
        "echo 'multi\nline' \"also\nmulti\" x",
        "echo *.txt a?c [ab]* ~/x ~",
        "echo \\*.txt '*'.txt \"*\".txt",
        "echo \"$@\" \"$*\" $# $? $$ $! $- $0 $1 ${1} ${10} $10",
        "echo \"a\\$b \\`c\\` \\\"d\\\" \\\\e \\f\"",
        "echo \"$x\"y \"${x}y\" ${x}y $x.y ${x}_ $x-",
        "echo $ a$ \"$\" '$' $/ \"a$\"",
        "echo a#b '#' \\#c \"#\" x#",
        "echo { } {a,b} !x \"!\" a=b",
        "echo if then fi do done esac in",
        "'if' true; \"while\" x",
        ">out if; 2>&1 then x",
        "echo 'a\"b' \"a'b\" '\"' \"'\"",
        "echo \"\" '' a\"\"b",
        "echo \"tab\there\" 'back\\slash'",
        // Parameters.
        "echo ${x:-w} ${x-w} ${x:=w} ${x=w} ${x:+w} ${x+w} ${x:?err msg} ${x?e}",
        "echo ${#x} ${#} ${##} ${#1} ${#@}",
        "echo ${x%.*} ${x%%.*} ${x#*/} ${x##*/} ${x%\\%} ${x#\\#a}",
        "echo \"${x%\"%\"y}\" \"${x#\"#\"}\"",
        "echo ${x:-a b  c} ${x:-'q w'} ${x:-\"$y\"} ${x:-$y} ${x:-${y:-z}}",
        "echo \"${x:-a b}\" \"${x:-'q'}\" \"${x:-$(echo hi)}\" \"${x:+\\\"}\"",
        "echo ${x:-{a}} \"${x:-{b}}\" ${x:-\\}}",
        "echo ${10:-ten} ${?:-q} ${@:+all} ${--x}",
        // Command substitution and arithmetic.
        "echo $(echo hi) \"$(echo \"a b\")\" `echo old` \"`echo x`\"",
        "echo $(echo ')' \"(\") `a \\`b\\``",
        "echo $(echo $(echo nested 'q)') \"$(echo in dq)\")",
        "echo `echo )` `(cd /; pwd)` $( (echo sub) ) $((echo a) | cat) `(a)`",
        "echo $(cat <<EOF\nin cmd\nEOF\n)",
        "echo $((1 + 2)) $(( (1+2)*3 )) $(($x + ${y:-1})) \"$((x*2))\"",
        "echo $(( $(echo 4) / 2 )) $((1 $ 2)) $((a\\$b))",
        // Redirections.
        "cmd >out 2>err <in >>app 3<>rw",
        "cmd 2>&1 >&2 <&0 >&- 3<&- 1>|force",
        "cmd &>both; cmd 2>/dev/null",
        "echo 2 >f; echo 2>f; echo x 12>f",
        "cat <f >'out file' 2>\"$log\"",
        "cat <<EOF\nhello $x\n`date` $(id)\nEOF",
        "cat <<'EOF'\nno $expand here\nEOF",
        "cat <<\"E\"\n$x\nE\necho after",
        "cat <<-EOF\n\tstripped\n\tEOF",
        "cat <<EOF\nEOF1\n EOF\nEOF\n",
        "cat <<EOF; cat <<'TWO'\none\nEOF\ntwo $x\nTWO\necho done",
        "cat <<EOF | tr a b && cat <<X\nbody1\nEOF\nbody2\nX",
        "cat <<E\\OF\nEOF\nreally $x\nEOF",
        "cat <<''\nbody\n\nafter",
        "cat <<-x\nabc\nx",
        "f() { cat <<EOF\n$1\nEOF\n}",
        "if true; then cat <<EOF; fi\ninside if\nEOF",
        "cat <<EOF\nunterminated",
        "cat <<EOF\ncr line\r\nEOF\r\n",
        // Lists, and-or, pipelines.
        "a; b; c",
        "a\nb\nc",
        "a & b & c",
        "a &\nb; c &",
        "a && b || c && d",
        "a || b\nc && d",
        "a | b | c",
        "! a | b",
        "! ! a",
        "! a && ! b || ! c | d",
        "a | ! b",
        "a |\n b &&\n c",
        // Compound commands.
        "{ a; b; }",
        "{ a & }",
        "{ a; b & } > out 2>&1",
        "( a; b )",
        "( a & b & )",
        "( cd /; ls ) > out",
        "((a) ; (b))",
        "(a) | (b) && { c; }",
        "if a; then b; fi",
        "if a; then b; elif c; then d; elif e; then f; else g; fi",
        "if a\nthen\nb\nelse\nc\nfi",
        "if ! a | b; then :; fi",
        "if a && b; then if c; then d; fi; fi > log",
        "while true; do echo; break; done",
        "until false; do continue; done < in",
        "while read -r l\ndo echo \"$l\"\ndone <<EOF\nx\ny\nEOF",
        "for i in 1 2 3; do echo $i; done",
        "for i in *.txt \"a b\" $x; do echo \"$i\"; done",
        "for i in; do :; done",
        "for i do echo $i; done",
        "for i; do echo $i; done",
        "for in in in; do echo; done",
        "for i in a do; do echo $i; done",
        "case $x in a|b) echo ab;; *.txt) echo txt;; *) ;; esac",
        "case x in (a) echo;; (b|c) echo bc\nesac",
        "case \"$x\" in 'a b') x;; \"c\"*) y &\n;; esac",
        "case x in esac",
        "case x in (esac) echo;; in) echo in;; esac",
        "case x in *) ;;\nesac 2>/dev/null",
        "case $1 in -h|--help) usage; exit 0;; -*) echo \"bad: $1\" >&2; exit 1;; esac",
        // Functions.
        "f() { echo \"$@\"; }",
        "f() { a; } > out",
        "f()\n{\n  local x=1\n  echo $x\n}\nf a b",
        "f() ( cd /; pwd )",
        "f() if a; then b; fi",
        "f() echo hi",
        "f() ! x",
        "f() g() { a; }",
        "f() { a; } | b && g() { c; }",
        "f() { a; } &",
        // Mixed.
        "x=$(ls *.txt | wc -l) && [ \"$x\" -gt 0 ] || echo none >&2",
        "trap 'echo bye' EXIT; set -e; cd \"${HOME:-/}\" || exit 1",
        "while :; do case $(cat f) in done) break;; *) sleep 1 & wait $!;; esac; done",
        "{ echo a; echo b; } | while read x; do echo \"<$x>\"; done > out &",
        "PATH=/bin:$PATH exec \"$0\" \"$@\" 2>&1",
        "echo \"${x:-$(echo \"$(echo deep)\")}\" done",
        "test -n \"$a\" -a \"$b\" = '' && echo \"ok: '$a'\"",
    ];

    #[test]
    fn corpus_round_trips() {
        assert!(CORPUS.len() >= 60);
        for src in CORPUS {
            round_trip(src);
        }
    }

    #[test]
    fn pieces_print_on_their_own() {
        for src in CORPUS {
            pieces_round_trip(src);
        }
    }

    #[test]
    fn output_shape() {
        assert_eq!(round_trip("a;b"), "a; b\n");
        assert_eq!(round_trip("a\nb"), "a\nb\n");
        assert_eq!(round_trip("a&"), "a &\n");
        assert_eq!(round_trip("{ a;b; }"), "{ a; b; }\n");
        assert_eq!(round_trip("echo ${x} $x ${x}y"), "echo $x $x ${x}y\n");
        assert_eq!(round_trip("echo *.txt"), "echo *.txt\n");
        assert_eq!(round_trip("echo \"it's\""), "echo \"it's\"\n");
        // Exactly one `Quoted` part, where `'it'\''s'` would give two.
        assert_eq!(round_trip("echo 'it'\\'\\s"), "echo 'it'\\'\\s\n");
        assert_eq!(round_trip("echo it\\'s"), "echo it''\\'s\n");
        assert_eq!(round_trip("cat <<'EOF'\n$x\nEOF"), "cat <<'EOF'\n$x\nEOF\n");
        assert_eq!(round_trip("f() { a; }"), "f() { a; }\n");
        assert_eq!(
            round_trip("case x in a) ;; esac"),
            "case x in (a) ;; esac\n"
        );
    }

    #[test]
    fn heredoc_delimiter_avoids_body() {
        let Node::List(items) = parse("cat <<EOF\nx\nEOF") else {
            panic!()
        };
        let Node::Simple(mut s) = items[0].0.clone() else {
            panic!()
        };
        // A body that holds the original delimiter (as a tree built by hand could).
        s.redirs[0].body = Some(("EOF\nEOF1\r\nmid\n".into(), false));
        let printed = source(&Node::Simple(s.clone()));
        let back = parse(&printed);
        let Node::List(items) = back else { panic!() };
        let Node::Simple(b) = &items[0].0 else {
            panic!()
        };
        assert_eq!(b.redirs[0].body, s.redirs[0].body, "{printed:?}");
        assert_eq!(b.redirs[0].target, vec![Part::Quoted("EOF2".into())]);
    }

    #[test]
    fn hand_built_trees_keep_their_meaning() {
        let lit = |s: &str| vec![Part::Lit(s.into())];
        let cmd = |w: &[&str]| {
            Node::Simple(Simple {
                assigns: Vec::new(),
                words: w.iter().map(|s| lit(s)).collect(),
                redirs: Vec::new(),
                line: 0,
            })
        };
        // Trees without an exact spelling print as something that parses (and means the same).
        let cases = [
            Node::Group(Box::new(Node::List(Vec::new()))),
            Node::Redirected(
                Box::new(cmd(&["echo", "x"])),
                vec![Redir {
                    fd: None,
                    op: RedirOp::Out,
                    target: lit("f"),
                    body: None,
                }],
            ),
            Node::And(
                Box::new(cmd(&["a"])),
                Box::new(Node::Or(Box::new(cmd(&["b"])), Box::new(cmd(&["c"])))),
            ),
            Node::List(vec![
                (
                    Node::List(vec![(cmd(&["a"]), false), (cmd(&["b"]), false)]),
                    true,
                ),
                (cmd(&["c"]), false),
            ]),
            cmd(&["a;b", "#c", "x y", "$x", "a=b"]),
            cmd(&["a=b", "c"]),
            Node::Simple(Simple {
                assigns: Vec::new(),
                words: vec![lit("if")],
                redirs: Vec::new(),
                line: 0,
            }),
        ];
        let expected = [
            "{ :; }\n",
            "{ echo x; } >f\n",
            "a && { b || c; }\n",
            "{ a; b; } & c\n",
            "a\\;b \\#c x\\ y $\\\nx a=b\n",
            "a'='b c\n",
            "'if'\n",
        ];
        for (n, want) in cases.iter().zip(expected) {
            let printed = source(n);
            assert_eq!(printed, want);
            assert!(Parser::parse_all(&printed).is_ok(), "{printed:?}");
        }
    }

    /// Scripts glued from random fragments: whatever parses must round-trip.
    #[test]
    fn random_scripts_round_trip() {
        const FRAGS: &[&str] = &[
            "echo",
            " ",
            " ",
            "\n",
            "; ",
            " & ",
            " && ",
            " || ",
            " | ",
            "a",
            "b=1 ",
            "x",
            "'q'",
            "'it'\\''s'",
            "\"",
            "\"d $x\"",
            "\\",
            "\\n",
            "$",
            "$x",
            "${x}",
            "${x:-w}",
            "${x%%.*}",
            "${#x}",
            "$1",
            "$@",
            "\"$@\"",
            "$(echo a)",
            "`b`",
            "$((1+2))",
            "*",
            "?",
            "#c\n",
            ">f",
            "2>&1",
            "<in",
            ">>o",
            ">&-",
            "&>e",
            "<<EOF\nbody $x\nEOF\n",
            "<<'E'\nraw\nE\n",
            "{ ",
            "; }",
            "( ",
            " )",
            "if ",
            "; then ",
            "; else ",
            "; fi",
            "while ",
            "; do ",
            "; done",
            "for i in a b",
            "case $x in ",
            "a|b) ",
            ";; ",
            "esac",
            "f() ",
            "!",
            "=",
            "~",
            "\t",
            "'\n'",
            "\"\n\"",
            "$'",
            "\"${x:-\"y\"}\"",
            "${x#\\#}",
            "in ",
            "do ",
            "$(",
            ")",
            "}",
            "{",
            "\"${x:-'a'}\"",
            "\\'",
            "<<-X\n\tb\n\tX\n",
            "EOF\n",
            "\r",
            "((",
            "`",
            "$((",
            "))",
            "${",
            "${x:-",
            "%",
            "#",
            "-",
            "'",
            "\\$",
            "\\\n",
            "\"\\\\\"",
            "${x:-$(echo '}')}",
            "\"`echo \\\"q\\\"`\"",
            "$(( $x + 1 ))",
            "<<X;cat<<Y\n1\nX\n2\nY\n",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut parsed = 0;
        for i in 0..20000 {
            let len = 1 + rnd(if i % 2 == 0 { 8 } else { 30 });
            let src: String = (0..len).map(|_| FRAGS[rnd(FRAGS.len())]).collect();
            // A backslash as the very last character stays in a `Lit`; after the printed
            // line's newline it would be a continuation, so the printer quotes it.
            if !src.ends_with('\\') && Parser::parse_all(&src).is_ok() {
                parsed += 1;
                round_trip(&src);
                pieces_round_trip(&src);
            }
        }
        assert!(parsed > 1000, "only {parsed} scripts parsed");
    }

    /// Printed scripts do what the originals do (only commands that run in this process, so
    /// that the test does not depend on how child processes are started).
    #[test]
    fn printed_scripts_run_the_same() {
        use crate::io::{Ctx, Fd};
        let run = |script: &str| {
            let (out, op) = Fd::pipe(usize::MAX);
            let (err, ep) = Fd::pipe(usize::MAX);
            let mut ctx = Ctx {
                stdin: Fd::mem(Vec::new()),
                stdout: out,
                stderr: err,
                env: vec![("PATH".into(), "/bin:/usr/bin".into())],
                cwd: std::env::temp_dir(),
            };
            let st = super::super::sh_main(&mut ctx, &["-c".to_string(), script.to_string()]);
            let o = String::from_utf8_lossy(&op.borrow().buf).into_owned();
            let e = String::from_utf8_lossy(&ep.borrow().buf).into_owned();
            (o, e, st)
        };
        for src in [
            "x='a b'; echo \"$x\" $x ${x:-no} ${#x} \"${x%% *}\"",
            "echo 'it'\\''s' \"q\\\"uote\" \\$HOME '$HOME' \"\\\\\"",
            "set -- 1 2 3; for i; do echo \"<$i>\"; done; echo $# \"$*\"",
            "f() { echo \"f:$1\"; return 3; }; f x || echo \"st=$?\"",
            "case ab in a*) echo A;; *) echo other;; esac",
            "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done",
            "read a <<EOF; echo \"$a\"; read b <<'EOF'; echo \"$b\"\nv=$((2*3)) $a\nEOF\n$raw\nEOF",
            "{ echo a; echo b; } >/dev/null; echo $?",
            "if ! false; then echo yes; elif true; then echo no; else echo never; fi",
        ] {
            let printed = source(&parse(src));
            assert_eq!(run(&printed), run(src), "{src:?} printed as {printed:?}");
        }
    }
}
