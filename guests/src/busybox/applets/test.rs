//! `test` and `[`.

use crate::io::Ctx;

pub fn test(ctx: &mut Ctx, args: &[String]) -> i32 {
    run(ctx, "test", args)
}

pub fn bracket(ctx: &mut Ctx, args: &[String]) -> i32 {
    match args.split_last() {
        Some((last, rest)) if last == "]" => run(ctx, "[", rest),
        _ => {
            ctx.error("[", "missing ]");
            2
        }
    }
}

pub fn bracket2(ctx: &mut Ctx, args: &[String]) -> i32 {
    match args.split_last() {
        Some((last, rest)) if last == "]]" => run(ctx, "[[", rest),
        _ => {
            ctx.error("[[", "missing ]]");
            2
        }
    }
}

fn run(ctx: &Ctx, _name: &str, args: &[String]) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match eval(ctx, &a) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            ctx.error("sh", e);
            2
        }
    }
}

const UNARY: &[&str] = &[
    "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-z", "-n", "-L", "-h", "-b", "-c", "-p", "-S", "-t",
    "-g", "-u", "-k", "-O", "-G",
];
const BINARY: &[&str] = &[
    "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef",
];

/// Evaluates a test expression.
pub fn eval(ctx: &Ctx, a: &[&str]) -> Result<bool, String> {
    // POSIX rules by argument count first; they settle `[ "$x" = "!" ]`-like cases.
    match a.len() {
        0 => return Ok(false),
        1 => return Ok(!a[0].is_empty()),
        2 => {
            if a[0] == "!" {
                return Ok(a[1].is_empty());
            }
            if UNARY.contains(&a[0]) {
                return unary(ctx, a[0], a[1]);
            }
        }
        3 => {
            if BINARY.contains(&a[1]) {
                return binary(ctx, a[0], a[1], a[2]);
            }
            if a[0] == "!" {
                return eval(ctx, &a[1..]).map(|v| !v);
            }
            if a[0] == "(" && a[2] == ")" {
                return Ok(!a[1].is_empty());
            }
        }
        4 => {
            if a[0] == "!" {
                return eval(ctx, &a[1..]).map(|v| !v);
            }
            if a[0] == "(" && a[3] == ")" {
                return eval(ctx, &a[1..3]);
            }
        }
        _ => {}
    }
    let mut p = P { ctx, a, i: 0 };
    let v = p.or()?;
    if p.i < a.len() {
        return Err(format!("{}: unknown operand", a[p.i]));
    }
    Ok(v)
}

struct P<'a> {
    ctx: &'a Ctx,
    a: &'a [&'a str],
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.a.get(self.i).copied()
    }
    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek() == Some("-o") {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek() == Some("-a") {
            self.i += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<bool, String> {
        if self.peek() == Some("!") {
            self.i += 1;
            return self.not().map(|v| !v);
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<bool, String> {
        let Some(t) = self.peek() else {
            return Err("argument expected".into());
        };
        if t == "(" {
            self.i += 1;
            let v = self.or()?;
            if self.peek() != Some(")") {
                return Err("missing )".into());
            }
            self.i += 1;
            return Ok(v);
        }
        if let Some(op) = self
            .a
            .get(self.i + 1)
            .copied()
            .filter(|o| BINARY.contains(o))
            && let Some(r) = self.a.get(self.i + 2).copied()
        {
            self.i += 3;
            return binary(self.ctx, t, op, r);
        }
        if UNARY.contains(&t)
            && let Some(x) = self.a.get(self.i + 1).copied()
        {
            self.i += 2;
            return unary(self.ctx, t, x);
        }
        self.i += 1;
        Ok(!t.is_empty())
    }
}

fn num(s: &str) -> Result<i64, String> {
    let t = s.trim();
    t.parse::<i64>().map_err(|_| format!("{s}: bad number"))
}

fn unary(ctx: &Ctx, op: &str, x: &str) -> Result<bool, String> {
    if op == "-z" {
        return Ok(x.is_empty());
    }
    if op == "-n" {
        return Ok(!x.is_empty());
    }
    if op == "-t" {
        return Ok(false);
    }
    let p = ctx.path(x);
    if x.is_empty() {
        return Ok(false);
    }
    Ok(match op {
        "-L" | "-h" => p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()),
        "-e" => {
            p.metadata().is_ok()
                || matches!(
                    x,
                    "/dev/null" | "/dev/stdin" | "/dev/stdout" | "/dev/stderr"
                )
        }
        "-f" => p.is_file(),
        "-d" => p.is_dir(),
        "-s" => p.metadata().is_ok_and(|m| m.len() > 0),
        "-r" => crate::sys::access(&p, 'r'),
        "-w" => crate::sys::access(&p, 'w'),
        "-x" => crate::sys::access(&p, 'x'),
        "-b" | "-c" | "-p" | "-S" => crate::sys::file_kind(&p) == op.chars().nth(1),
        _ => false,
    })
}

fn binary(ctx: &Ctx, l: &str, op: &str, r: &str) -> Result<bool, String> {
    Ok(match op {
        "=" | "==" => l == r,
        "!=" => l != r,
        "<" => l < r,
        ">" => l > r,
        "-eq" => num(l)? == num(r)?,
        "-ne" => num(l)? != num(r)?,
        "-lt" => num(l)? < num(r)?,
        "-le" => num(l)? <= num(r)?,
        "-gt" => num(l)? > num(r)?,
        "-ge" => num(l)? >= num(r)?,
        "-nt" | "-ot" => {
            let m = |s: &str| ctx.path(s).metadata().and_then(|m| m.modified()).ok();
            match (m(l), m(r)) {
                (Some(a), Some(b)) => {
                    if op == "-nt" {
                        a > b
                    } else {
                        a < b
                    }
                }
                (Some(_), None) => op == "-nt",
                (None, Some(_)) => op == "-ot",
                _ => false,
            }
        }
        "-ef" => {
            let (a, b) = (ctx.path(l).canonicalize(), ctx.path(r).canonicalize());
            matches!((a, b), (Ok(a), Ok(b)) if a == b)
        }
        _ => return Err(format!("{op}: unknown operand")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(a: &[&str]) -> Result<bool, String> {
        let ctx = Ctx::process();
        eval(&ctx, a)
    }

    #[test]
    fn strings_and_numbers() {
        assert_eq!(t(&[]), Ok(false));
        assert_eq!(t(&["x"]), Ok(true));
        assert_eq!(t(&[""]), Ok(false));
        assert_eq!(t(&["-z", ""]), Ok(true));
        assert_eq!(t(&["-n", ""]), Ok(false));
        assert_eq!(t(&["a", "=", "a"]), Ok(true));
        assert_eq!(t(&["a", "!=", "a"]), Ok(false));
        assert_eq!(t(&["3", "-gt", "2"]), Ok(true));
        assert_eq!(t(&["3", "-le", "2"]), Ok(false));
        assert_eq!(t(&["!", "3", "-le", "2"]), Ok(true));
        assert_eq!(t(&["a", "-a", ""]), Ok(false));
        assert_eq!(t(&["a", "-o", ""]), Ok(true));
        assert_eq!(t(&["(", "1", "-eq", "1", ")", "-a", "x"]), Ok(true));
        assert_eq!(t(&["!", "="]), Ok(false));
        assert_eq!(t(&["=", "=", "="]), Ok(true));
        assert!(t(&["x", "-eq", "1"]).is_err());
    }

    #[test]
    fn files() {
        let d = std::env::temp_dir();
        let ds = d.to_string_lossy().into_owned();
        assert_eq!(t(&["-d", &ds]), Ok(true));
        assert_eq!(t(&["-f", &ds]), Ok(false));
        assert_eq!(t(&["-e", "/nonexistent/x"]), Ok(false));
        assert_eq!(t(&["-r", &ds]), Ok(true));
    }
}
