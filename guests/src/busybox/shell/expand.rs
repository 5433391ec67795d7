//! Word expansion: parameters, command substitution, arithmetic, field splitting on IFS, pathname
//! globbing and quote removal.

use super::ast::{POp, Param, Part, Word};
use super::{Ctrl, Shell, glob};

/// Fields being built. `pat` is the field as an escaped glob pattern.
#[derive(Default)]
struct Fields {
    out: Vec<(String, String, bool)>,
    cur: String,
    pat: String,
    glob: bool,
    exists: bool,
}

fn escape_pat(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

impl Fields {
    fn lit(&mut self, s: &str, quoted: bool) {
        self.cur.push_str(s);
        if quoted {
            escape_pat(s, &mut self.pat);
            self.exists = true;
        } else {
            self.pat.push_str(s);
            if s.contains(['*', '?', '[']) {
                self.glob = true;
            }
            if !s.is_empty() {
                self.exists = true;
            }
        }
    }
    fn end(&mut self) {
        if self.exists {
            self.out.push((
                std::mem::take(&mut self.cur),
                std::mem::take(&mut self.pat),
                self.glob,
            ));
        }
        self.cur.clear();
        self.pat.clear();
        self.glob = false;
        self.exists = false;
    }
    /// Adds the result of an unquoted expansion, split on `ifs`.
    fn split(&mut self, s: &str, ifs: &str) {
        let mut pending_break = false;
        let mut piece = String::new();
        for c in s.chars() {
            if ifs.contains(c) {
                if !piece.is_empty() {
                    self.lit(&piece, false);
                    piece.clear();
                }
                if c.is_whitespace() {
                    pending_break = true;
                } else {
                    // A non-blank separator always ends a field, even an empty one.
                    self.exists = true;
                    self.end();
                    pending_break = false;
                }
            } else {
                if pending_break {
                    self.end();
                    pending_break = false;
                }
                piece.push(c);
            }
        }
        if !piece.is_empty() {
            self.lit(&piece, false);
        }
        if pending_break {
            self.end();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Field splitting and globbing (command arguments, `for` words).
    Fields,
    /// One string, no splitting (assignments, redirection targets, here-documents).
    Str,
}

impl Shell {
    /// Expands a word into fields.
    pub fn expand_word(&mut self, w: &Word) -> Result<Vec<String>, Ctrl> {
        let mut f = Fields::default();
        self.expand_parts(w, false, &mut f, Mode::Fields, true)?;
        f.end();
        let mut out = Vec::new();
        for (text, pat, g) in f.out {
            if g && !self.noglob {
                let m = glob::expand(&pat, &self.cwd);
                if !m.is_empty() {
                    out.extend(m);
                    continue;
                }
            }
            out.push(text);
        }
        Ok(out)
    }

    pub fn expand_words(&mut self, ws: &[Word]) -> Result<Vec<String>, Ctrl> {
        let mut out = Vec::new();
        for w in ws {
            out.extend(self.expand_word(w)?);
        }
        Ok(out)
    }

    /// Expands a word into one string (no splitting, no globbing).
    pub fn expand_str(&mut self, w: &Word) -> Result<String, Ctrl> {
        let mut f = Fields::default();
        self.expand_parts(w, false, &mut f, Mode::Str, true)?;
        Ok(f.cur)
    }

    /// Expands a word into an escaped glob pattern (quoted parts match literally).
    pub fn expand_pattern(&mut self, w: &Word) -> Result<String, Ctrl> {
        let mut f = Fields::default();
        self.expand_parts(w, false, &mut f, Mode::Str, true)?;
        Ok(f.pat)
    }

    /// Expands a here-document body.
    pub fn expand_heredoc(&mut self, body: &str) -> Result<String, Ctrl> {
        let w = super::lexer::parse_here(body).map_err(|e| self.fatal(&e))?;
        self.expand_str(&w)
    }

    fn ifs(&self) -> String {
        self.get("IFS").unwrap_or_else(|| " \t\n".into())
    }

    fn expand_parts(
        &mut self,
        parts: &[Part],
        quoted: bool,
        f: &mut Fields,
        mode: Mode,
        word_start: bool,
    ) -> Result<(), Ctrl> {
        for (i, p) in parts.iter().enumerate() {
            match p {
                Part::Lit(s) => {
                    if i == 0 && word_start && !quoted && s.starts_with('~') {
                        let end = s.find('/').unwrap_or(s.len());
                        if end == 1 {
                            let home = self.get("HOME").unwrap_or_else(|| "/".into());
                            f.lit(&home, true);
                            f.lit(&s[1..], false);
                            continue;
                        }
                    }
                    f.lit(s, quoted);
                }
                Part::Quoted(s) => f.lit(s, true),
                Part::Dq(inner) => {
                    // `""` is a field; `"$@"` with no parameters is none.
                    let only_at = inner.iter().any(
                        |p| matches!(p, Part::Param(p) if p.name == "@" && p.op == POp::Plain),
                    );
                    if !only_at {
                        f.exists = true;
                    }
                    self.expand_parts(inner, true, f, mode, false)?;
                }
                Part::Param(p) => self.expand_param(p, quoted, f, mode)?,
                Part::Cmd(src) => {
                    let out = self.command_subst(src)?;
                    self.add(f, &out, quoted, mode);
                }
                Part::Arith(inner) => {
                    let mut g = Fields::default();
                    self.expand_parts(inner, true, &mut g, Mode::Str, false)?;
                    let v = super::arith::eval(&g.cur, self).map_err(|e| self.fatal(&e))?;
                    self.add(f, &v.to_string(), quoted, mode);
                }
            }
        }
        Ok(())
    }

    fn add(&self, f: &mut Fields, s: &str, quoted: bool, mode: Mode) {
        if quoted {
            f.lit(s, true);
        } else if mode == Mode::Fields {
            f.split(s, &self.ifs());
        } else {
            f.lit(s, false);
        }
    }

    /// The value of a parameter, special or not; None if unset.
    pub fn param(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "$" => Some(self.pid.to_string()),
            "#" => Some(self.params.len().to_string()),
            "!" => self.last_bg.map(|p| p.to_string()),
            "-" => {
                let mut s = String::new();
                for (on, c) in [
                    (self.errexit, 'e'),
                    (self.noglob, 'f'),
                    (self.nounset, 'u'),
                    (self.xtrace, 'x'),
                ] {
                    if on {
                        s.push(c);
                    }
                }
                Some(s)
            }
            "0" => Some(self.arg0.clone()),
            "@" | "*" => Some(self.params.join(" ")),
            n if n.chars().all(|c| c.is_ascii_digit()) => n
                .parse::<usize>()
                .ok()
                .and_then(|i| self.params.get(i.checked_sub(1)?).cloned()),
            n => self.get(n),
        }
    }

    fn expand_param(
        &mut self,
        p: &Param,
        quoted: bool,
        f: &mut Fields,
        mode: Mode,
    ) -> Result<(), Ctrl> {
        let name = p.name.as_str();
        if (name == "@" || name == "*") && p.op == POp::Plain {
            let params = self.params.clone();
            if quoted && name == "@" && mode == Mode::Fields {
                for (i, a) in params.iter().enumerate() {
                    if i > 0 {
                        f.exists = true;
                        f.end();
                    }
                    f.lit(a, true);
                }
            } else if quoted || mode == Mode::Str {
                let sep = if name == "*" {
                    self.ifs()
                        .chars()
                        .next()
                        .map(String::from)
                        .unwrap_or_default()
                } else {
                    " ".into()
                };
                f.lit(&params.join(&sep), quoted);
            } else {
                let ifs = self.ifs();
                for (i, a) in params.iter().enumerate() {
                    if i > 0 {
                        f.end();
                    }
                    f.split(a, &ifs);
                }
            }
            return Ok(());
        }
        let val = self.param(name);
        let set = match &val {
            None => false,
            Some(v) => !(p.colon && v.is_empty()),
        };
        match p.op {
            POp::Plain => {
                if val.is_none() && self.nounset && name != "!" {
                    return Err(self.fatal(&format!("{name}: parameter not set")));
                }
                self.add(f, &val.unwrap_or_default(), quoted, mode);
            }
            POp::Len => {
                if val.is_none() && self.nounset {
                    return Err(self.fatal(&format!("{name}: parameter not set")));
                }
                let n = match name {
                    "@" | "*" => self.params.len(),
                    _ => val.unwrap_or_default().chars().count(),
                };
                self.add(f, &n.to_string(), quoted, mode);
            }
            POp::Default => {
                if set {
                    self.add(f, &val.unwrap_or_default(), quoted, mode);
                } else {
                    self.expand_parts(&p.word, quoted, f, mode, false)?;
                }
            }
            POp::Alt => {
                if set {
                    self.expand_parts(&p.word, quoted, f, mode, false)?;
                }
            }
            POp::Assign => {
                let v = if set {
                    val.unwrap_or_default()
                } else {
                    let v = self.expand_str(&p.word)?;
                    if let Err(e) = self.set_var(name, &v) {
                        return Err(self.fatal(&e));
                    }
                    v
                };
                self.add(f, &v, quoted, mode);
            }
            POp::Error => {
                if set {
                    self.add(f, &val.unwrap_or_default(), quoted, mode);
                } else {
                    let msg = self.expand_str(&p.word)?;
                    let msg = if msg.is_empty() {
                        "parameter not set".into()
                    } else {
                        msg
                    };
                    return Err(self.fatal(&format!("{name}: {msg}")));
                }
            }
            POp::TrimPrefix | POp::TrimPrefixLong | POp::TrimSuffix | POp::TrimSuffixLong => {
                let v = val.unwrap_or_default();
                let pat = self.expand_pattern(&p.word)?;
                let r = trim(&v, &pat, p.op);
                self.add(f, &r, quoted, mode);
            }
        }
        Ok(())
    }

    /// `$(...)`: runs `src` in a subshell and returns its output without trailing newlines.
    pub fn command_subst(&mut self, src: &str) -> Result<String, Ctrl> {
        let mut sub = self.subshell();
        let (fd, pipe) = crate::io::Fd::pipe(usize::MAX);
        sub.set_fd(1, fd);
        let st = sub.run_sub_source(src);
        self.status = st;
        self.cmdsub_status = Some(st);
        let buf = std::mem::take(&mut pipe.borrow_mut().buf);
        let mut s = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }
}

/// `${v#pat}`, `${v##pat}`, `${v%pat}`, `${v%%pat}`.
pub fn trim(v: &str, pat: &str, op: POp) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    match op {
        POp::TrimPrefix => idx
            .iter()
            .find(|&&i| glob::matches(pat, &v[..i]))
            .map(|&i| v[i..].to_string()),
        POp::TrimPrefixLong => idx
            .iter()
            .rev()
            .find(|&&i| glob::matches(pat, &v[..i]))
            .map(|&i| v[i..].to_string()),
        POp::TrimSuffix => idx
            .iter()
            .rev()
            .find(|&&i| glob::matches(pat, &v[i..]))
            .map(|&i| v[..i].to_string()),
        POp::TrimSuffixLong => idx
            .iter()
            .find(|&&i| glob::matches(pat, &v[i..]))
            .map(|&i| v[..i].to_string()),
        _ => None,
    }
    .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims() {
        assert_eq!(trim("file.tar.gz", ".*", POp::TrimSuffix), "file.tar");
        assert_eq!(trim("file.tar.gz", ".*", POp::TrimSuffixLong), "file");
        assert_eq!(trim("/a/b/c", "*/", POp::TrimPrefix), "a/b/c");
        assert_eq!(trim("/a/b/c", "*/", POp::TrimPrefixLong), "c");
        assert_eq!(trim("abc", "x", POp::TrimPrefix), "abc");
    }

    #[test]
    fn splitting() {
        let mut f = Fields::default();
        f.split("  a b\t c  ", " \t\n");
        f.end();
        let v: Vec<_> = f.out.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(v, ["a", "b", "c"]);
        let mut f = Fields::default();
        f.split("a::b", ":");
        f.end();
        let v: Vec<_> = f.out.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(v, ["a", "", "b"]);
        let mut f = Fields::default();
        f.lit("x", false);
        f.split("1 2", " ");
        f.lit("y", true);
        f.end();
        let v: Vec<_> = f.out.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(v, ["x1", "2y"]);
    }
}
