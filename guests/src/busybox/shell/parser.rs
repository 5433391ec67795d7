//! Recursive-descent parser from tokens to [`Node`]s.

use std::rc::Rc;

use super::ast::{Node, Part, Redir, RedirOp, Simple, Word};
use super::lexer::{HereDoc, Tok, tokenize};

pub struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    heredocs: Vec<HereDoc>,
    next_heredoc: usize,
}

const RESERVED_END: &[&str] = &["then", "fi", "do", "done", "esac", "}", "elif", "else"];

/// The text of a word that is a plain unquoted literal.
fn plain(w: &Word) -> Option<&str> {
    match w.as_slice() {
        [Part::Lit(s)] => Some(s),
        _ => None,
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Parser {
    pub fn new(src: &str) -> Result<Parser, String> {
        let l = tokenize(src)?;
        Ok(Parser {
            toks: l.toks,
            pos: 0,
            heredocs: l.heredocs,
            next_heredoc: 0,
        })
    }

    /// Parses a whole script.
    pub fn parse_all(src: &str) -> Result<Node, String> {
        let mut p = Parser::new(src)?;
        let mut items = Vec::new();
        while let Some(n) = p.next_command()? {
            items.push((n, false));
        }
        Ok(Node::List(items))
    }

    /// The next complete command (one line's worth), or None at the end.
    pub fn next_command(&mut self) -> Result<Option<Node>, String> {
        self.skip_newlines();
        if self.peek() == &Tok::Eof {
            return Ok(None);
        }
        let list = self.list(true)?;
        match self.peek() {
            Tok::Newline | Tok::Eof => Ok(Some(list)),
            _ => Err(self.unexpected()),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn line(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn unexpected(&self) -> String {
        match self.peek() {
            Tok::Eof => "syntax error: unexpected end of file".into(),
            Tok::Newline => "syntax error: unexpected newline".into(),
            Tok::Op(o) => format!("syntax error: unexpected \"{o}\""),
            Tok::IoNum(n) => format!("syntax error: unexpected \"{n}\""),
            Tok::Word(_, raw) => format!("syntax error: unexpected \"{raw}\""),
        }
    }
    fn skip_newlines(&mut self) {
        while self.peek() == &Tok::Newline {
            self.bump();
        }
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w, _) if plain(w) == Some(kw))
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.is_kw(kw) {
            self.bump();
            Ok(())
        } else {
            Err(format!("{} (expecting \"{kw}\")", self.unexpected()))
        }
    }
    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.is_op(op) {
            self.bump();
            Ok(())
        } else {
            Err(format!("{} (expecting \"{op}\")", self.unexpected()))
        }
    }
    fn at_list_end(&self) -> bool {
        match self.peek() {
            Tok::Eof => true,
            Tok::Op(o) => matches!(*o, ")" | ";;"),
            Tok::Word(w, _) => plain(w).is_some_and(|s| RESERVED_END.contains(&s)),
            _ => false,
        }
    }

    /// and_or ((`;` | `&` | newlines) and_or)*; at the top level, stops at a newline.
    fn list(&mut self, top: bool) -> Result<Node, String> {
        let mut items = Vec::new();
        loop {
            if !top {
                self.skip_newlines();
            }
            if self.at_list_end() || (top && self.peek() == &Tok::Newline) {
                break;
            }
            let n = self.and_or()?;
            let bg = self.is_op("&");
            items.push((n, bg));
            if self.is_op(";") || self.is_op("&") {
                self.bump();
            } else if self.peek() == &Tok::Newline {
                if top {
                    break;
                }
            } else {
                break;
            }
        }
        if items.is_empty() {
            return Err(self.unexpected());
        }
        if items.len() == 1 && !items[0].1 {
            return Ok(items
                .pop()
                .map(|(n, _)| n)
                .unwrap_or(Node::List(Vec::new())));
        }
        Ok(Node::List(items))
    }

    fn and_or(&mut self) -> Result<Node, String> {
        let mut left = self.pipeline()?;
        loop {
            let and = if self.is_op("&&") {
                true
            } else if self.is_op("||") {
                false
            } else {
                return Ok(left);
            };
            self.bump();
            self.skip_newlines();
            let right = self.pipeline()?;
            left = if and {
                Node::And(Box::new(left), Box::new(right))
            } else {
                Node::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn pipeline(&mut self) -> Result<Node, String> {
        let mut bang = false;
        while self.is_kw("!") {
            self.bump();
            bang = !bang;
        }
        let mut cmds = vec![self.command()?];
        while self.is_op("|") {
            self.bump();
            self.skip_newlines();
            cmds.push(self.command()?);
        }
        if cmds.len() == 1 && !bang {
            return Ok(cmds.pop().unwrap_or(Node::List(Vec::new())));
        }
        Ok(Node::Pipeline(cmds, bang))
    }

    fn command(&mut self) -> Result<Node, String> {
        let kw = match self.peek() {
            Tok::Word(w, _) => plain(w).map(str::to_string),
            Tok::Op("(") => Some("(".into()),
            _ => None,
        };
        let node = match kw.as_deref() {
            Some("{") => {
                self.bump();
                let body = self.list(false)?;
                self.expect_kw("}")?;
                Node::Group(Box::new(body))
            }
            Some("(") => {
                self.bump();
                let body = self.list(false)?;
                self.expect_op(")")?;
                Node::Subshell(Box::new(body))
            }
            Some("if") => self.if_clause()?,
            Some("while") | Some("until") => {
                self.bump();
                let cond = self.list(false)?;
                self.expect_kw("do")?;
                let body = self.list(false)?;
                self.expect_kw("done")?;
                Node::Loop {
                    cond: Box::new(cond),
                    body: Box::new(body),
                    until: kw.as_deref() == Some("until"),
                }
            }
            Some("for") => self.for_clause()?,
            Some("case") => self.case_clause()?,
            Some(s) if RESERVED_END.contains(&s) => return Err(self.unexpected()),
            Some(name)
                if is_name(name)
                    && matches!(self.toks.get(self.pos + 1), Some((Tok::Op("("), _)))
                    && matches!(self.toks.get(self.pos + 2), Some((Tok::Op(")"), _))) =>
            {
                let name = name.to_string();
                self.pos += 3;
                self.skip_newlines();
                let body = self.command()?;
                return Ok(Node::Func(name, Rc::new(body)));
            }
            _ => return self.simple(),
        };
        let mut redirs = Vec::new();
        while let Some(r) = self.redir()? {
            redirs.push(r);
        }
        Ok(if redirs.is_empty() {
            node
        } else {
            Node::Redirected(Box::new(node), redirs)
        })
    }

    fn if_clause(&mut self) -> Result<Node, String> {
        self.bump(); // if
        let mut arms = Vec::new();
        let mut els = None;
        loop {
            let cond = self.list(false)?;
            self.expect_kw("then")?;
            let body = self.list(false)?;
            arms.push((cond, body));
            if self.is_kw("elif") {
                self.bump();
                continue;
            }
            if self.is_kw("else") {
                self.bump();
                els = Some(Box::new(self.list(false)?));
            }
            self.expect_kw("fi")?;
            return Ok(Node::If(arms, els));
        }
    }

    fn for_clause(&mut self) -> Result<Node, String> {
        self.bump(); // for
        let var = match self.bump() {
            Tok::Word(w, raw) if plain(&w).is_some_and(is_name) => raw,
            _ => return Err("syntax error: bad for loop variable".into()),
        };
        self.skip_newlines();
        let mut words = None;
        if self.is_kw("in") {
            self.bump();
            let mut ws = Vec::new();
            while let Tok::Word(w, _) = self.peek() {
                ws.push(w.clone());
                self.bump();
            }
            words = Some(ws);
            if self.is_op(";") {
                self.bump();
            }
        } else if self.is_op(";") {
            self.bump();
        }
        self.skip_newlines();
        self.expect_kw("do")?;
        let body = self.list(false)?;
        self.expect_kw("done")?;
        Ok(Node::For {
            var,
            words,
            body: Box::new(body),
        })
    }

    fn case_clause(&mut self) -> Result<Node, String> {
        self.bump(); // case
        let word = match self.bump() {
            Tok::Word(w, _) => w,
            _ => return Err("syntax error: expected a word after case".into()),
        };
        self.skip_newlines();
        self.expect_kw("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines();
            if self.is_kw("esac") {
                self.bump();
                break;
            }
            if self.is_op("(") {
                self.bump();
            }
            let mut pats = Vec::new();
            loop {
                match self.bump() {
                    Tok::Word(w, _) => pats.push(w),
                    _ => return Err("syntax error: bad case pattern".into()),
                }
                if self.is_op("|") {
                    self.bump();
                    continue;
                }
                break;
            }
            self.expect_op(")")?;
            self.skip_newlines();
            let body = if self.is_op(";;") || self.is_kw("esac") {
                Node::List(Vec::new())
            } else {
                self.list(false)?
            };
            arms.push((pats, body));
            self.skip_newlines();
            if self.is_op(";;") {
                self.bump();
            } else if self.is_kw("esac") {
                self.bump();
                break;
            } else {
                return Err(self.unexpected());
            }
        }
        Ok(Node::Case(word, arms))
    }

    fn redir(&mut self) -> Result<Option<Redir>, String> {
        let fd = if let Tok::IoNum(n) = self.peek() {
            let n = *n;
            self.bump();
            Some(n)
        } else {
            None
        };
        let op = match self.peek() {
            Tok::Op(o) => match *o {
                "<" => RedirOp::In,
                ">" | ">|" => RedirOp::Out,
                ">>" => RedirOp::Append,
                "<&" => RedirOp::DupIn,
                ">&" => RedirOp::DupOut,
                "<>" => RedirOp::ReadWrite,
                "<<" | "<<-" => RedirOp::HereDoc,
                "&>" => RedirOp::OutErr,
                _ if fd.is_some() => return Err(self.unexpected()),
                _ => return Ok(None),
            },
            _ if fd.is_some() => return Err(self.unexpected()),
            _ => return Ok(None),
        };
        self.bump();
        let target = match self.bump() {
            Tok::Word(w, _) => w,
            _ => return Err(format!("{} (expecting a file name)", self.unexpected())),
        };
        let body = if op == RedirOp::HereDoc {
            let hd = self
                .heredocs
                .get(self.next_heredoc)
                .cloned()
                .unwrap_or_default();
            self.next_heredoc += 1;
            Some((hd.body, hd.expand))
        } else {
            None
        };
        Ok(Some(Redir {
            fd,
            op,
            target,
            body,
        }))
    }

    fn simple(&mut self) -> Result<Node, String> {
        let line = self.line();
        let mut s = Simple {
            assigns: Vec::new(),
            words: Vec::new(),
            redirs: Vec::new(),
            line,
        };
        loop {
            if let Some(r) = self.redir()? {
                s.redirs.push(r);
                continue;
            }
            let Tok::Word(w, _) = self.peek() else { break };
            let w = w.clone();
            self.bump();
            if s.words.is_empty()
                && let Some(Part::Lit(first)) = w.first()
                && let Some(eq) = first.find('=')
                && is_name(&first[..eq])
            {
                let name = first[..eq].to_string();
                let mut value = w.clone();
                let rest = first[eq + 1..].to_string();
                if rest.is_empty() {
                    value.remove(0);
                } else {
                    value[0] = Part::Lit(rest);
                }
                s.assigns.push((name, value));
                continue;
            }
            s.words.push(w);
        }
        if s.words.is_empty() && s.assigns.is_empty() && s.redirs.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Node::Simple(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Node {
        Parser::parse_all(s).unwrap()
    }

    fn first(s: &str) -> Node {
        match parse(s) {
            Node::List(mut v) => v.remove(0).0,
            n => n,
        }
    }

    #[test]
    fn and_or_pipeline() {
        match first("a | b && ! c || d") {
            Node::Or(l, _) => match *l {
                Node::And(p, n) => {
                    assert!(matches!(*p, Node::Pipeline(ref v, false) if v.len() == 2));
                    assert!(matches!(*n, Node::Pipeline(ref v, true) if v.len() == 1));
                }
                n => panic!("{n:?}"),
            },
            n => panic!("{n:?}"),
        }
    }

    #[test]
    fn compound() {
        assert!(
            matches!(first("if a; then b; elif c; then d; else e; fi"), Node::If(ref a, Some(_)) if a.len() == 2)
        );
        assert!(
            matches!(first("for i in 1 2 3; do echo $i; done"), Node::For { ref words, .. } if words.as_ref().map(|w| w.len()) == Some(3))
        );
        assert!(matches!(
            first("for i do echo; done"),
            Node::For { words: None, .. }
        ));
        assert!(matches!(
            first("while true\ndo\n:\ndone"),
            Node::Loop { until: false, .. }
        ));
        assert!(
            matches!(first("case $x in a|b) echo;; *) ;; esac"), Node::Case(_, ref arms) if arms.len() == 2)
        );
        assert!(matches!(first("f() { echo; }"), Node::Func(ref n, _) if n == "f"));
        assert!(matches!(first("( cd /; ls ) > out"), Node::Redirected(..)));
        assert!(matches!(first("{ a; b; } 2>&1"), Node::Redirected(..)));
    }

    #[test]
    fn simple_parts() {
        let Node::Simple(s) = first("A=1 B= cmd x 2>/dev/null <in") else {
            panic!()
        };
        assert_eq!(s.assigns.len(), 2);
        assert_eq!(s.words.len(), 2);
        assert_eq!(s.redirs.len(), 2);
        assert_eq!(s.redirs[0].fd, Some(2));
    }

    #[test]
    fn heredoc_attached() {
        let Node::Simple(s) = first("cat <<EOF\nhi\nEOF") else {
            panic!()
        };
        assert_eq!(s.redirs[0].body, Some(("hi\n".to_string(), true)));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "if true; then",
            "fi",
            "a &&",
            "(a",
            "for; do",
            "case x in",
            "a | | b",
            "done",
        ] {
            assert!(Parser::parse_all(bad).is_err(), "{bad}");
        }
    }
}
