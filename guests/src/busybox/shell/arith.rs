//! Arithmetic expansion `$((...))`: 64-bit signed integers, C operators and precedence,
//! variables (read recursively as expressions) and assignments.

pub trait Vars {
    fn get_var(&self, name: &str) -> Option<String>;
    fn set_var(&mut self, name: &str, value: String) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq)]
enum T {
    Num(i64),
    Name(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=",
    "%=", "&=", "|=", "^=", "++", "--", "+", "-", "*", "/", "%", "<", ">", "!", "~", "&", "|", "^",
    "?", ":", "(", ")", "=",
];

fn lex(s: &str) -> Result<Vec<T>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit() {
            let st = i;
            while i < c.len() && c[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let t: String = c[st..i].iter().collect();
            out.push(T::Num(
                parse_num(&t).ok_or_else(|| format!("{t}: bad number"))?,
            ));
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let st = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(T::Name(c[st..i].iter().collect()));
        } else {
            let rest: String = c[i..c.len().min(i + 3)].iter().collect();
            let op = OPS
                .iter()
                .find(|o| rest.starts_with(*o))
                .ok_or_else(|| format!("syntax error: invalid character '{ch}'"))?;
            out.push(T::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

/// `10`, `0x1f`, `017` (octal), `2#101`.
pub fn parse_num(t: &str) -> Option<i64> {
    let t = t.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some((b, d)) = t.split_once('#') {
        i64::from_str_radix(d, b.parse().ok().filter(|b| (2..=36).contains(b))?).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse().ok()?
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

struct P<'a> {
    t: Vec<T>,
    i: usize,
    vars: &'a mut dyn Vars,
    /// Nonzero while evaluating the untaken side of `&&`, `||` or `?:`: no side effects.
    skip: usize,
    depth: usize,
}

pub fn eval(s: &str, vars: &mut dyn Vars) -> Result<i64, String> {
    eval_depth(s, vars, 0)
}

fn eval_depth(s: &str, vars: &mut dyn Vars, depth: usize) -> Result<i64, String> {
    if depth > 64 {
        return Err("expression recursion loop detected".into());
    }
    let t = lex(s)?;
    if t.is_empty() {
        return Ok(0);
    }
    let mut p = P {
        t,
        i: 0,
        vars,
        skip: 0,
        depth,
    };
    let v = p.assign()?;
    if p.i < p.t.len() {
        return Err(format!("syntax error: {s}"));
    }
    Ok(v)
}

impl P<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.t.get(self.i) {
            Some(T::Op(o)) => Some(o),
            _ => None,
        }
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op() == Some(op) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn var(&mut self, n: &str) -> Result<i64, String> {
        match self.vars.get_var(n) {
            None => Ok(0),
            Some(v) if v.trim().is_empty() => Ok(0),
            Some(v) => match parse_num(&v) {
                Some(x) => Ok(x),
                None => eval_depth(&v, self.vars, self.depth + 1),
            },
        }
    }
    fn set(&mut self, n: &str, v: i64) -> Result<(), String> {
        if self.skip == 0 {
            self.vars.set_var(n, v.to_string())?;
        }
        Ok(())
    }

    fn assign(&mut self) -> Result<i64, String> {
        if let (Some(T::Name(n)), Some(T::Op(op))) = (self.t.get(self.i), self.t.get(self.i + 1)) {
            let (n, op) = (n.clone(), *op);
            if op.ends_with('=') && !matches!(op, "==" | "!=" | "<=" | ">=") {
                self.i += 2;
                let rhs = self.assign()?;
                let v = if op == "=" {
                    rhs
                } else {
                    let cur = self.var(&n)?;
                    binop(&op[..op.len() - 1], cur, rhs)?
                };
                self.set(&n, v)?;
                return Ok(v);
            }
        }
        self.ternary()
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binary(0)?;
        if !self.eat("?") {
            return Ok(c);
        }
        if c == 0 {
            self.skip += 1;
        }
        let a = self.assign()?;
        if c == 0 {
            self.skip -= 1;
        }
        if !self.eat(":") {
            return Err("syntax error: expected ':'".into());
        }
        if c != 0 {
            self.skip += 1;
        }
        let b = self.ternary()?;
        if c != 0 {
            self.skip -= 1;
        }
        Ok(if c != 0 { a } else { b })
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        const LEVELS: &[&[&str]] = &[
            &["||"],
            &["&&"],
            &["|"],
            &["^"],
            &["&"],
            &["==", "!="],
            &["<", ">", "<=", ">="],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.power();
        }
        let mut l = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|o| LEVELS[level].contains(o)) {
            self.i += 1;
            let short = (op == "&&" && l == 0) || (op == "||" && l != 0);
            if short {
                self.skip += 1;
            }
            let r = self.binary(level + 1)?;
            if short {
                self.skip -= 1;
            }
            l = match op {
                "&&" => i64::from(l != 0 && r != 0),
                "||" => i64::from(l != 0 || r != 0),
                _ if self.skip > 0 && matches!(op, "/" | "%") && r == 0 => 0,
                _ => binop(op, l, r)?,
            };
        }
        Ok(l)
    }

    fn power(&mut self) -> Result<i64, String> {
        let b = self.unary()?;
        if self.eat("**") {
            let e = self.power()?;
            return binop("**", b, e);
        }
        Ok(b)
    }

    fn unary(&mut self) -> Result<i64, String> {
        match self.peek_op() {
            Some("-") => {
                self.i += 1;
                Ok(self.unary()?.wrapping_neg())
            }
            Some("+") => {
                self.i += 1;
                self.unary()
            }
            Some("!") => {
                self.i += 1;
                Ok(i64::from(self.unary()? == 0))
            }
            Some("~") => {
                self.i += 1;
                Ok(!self.unary()?)
            }
            Some(op @ ("++" | "--")) => {
                self.i += 1;
                let Some(T::Name(n)) = self.t.get(self.i).cloned() else {
                    return Err(format!("syntax error: {op} needs a variable"));
                };
                self.i += 1;
                let v = self.var(&n)? + if op == "++" { 1 } else { -1 };
                self.set(&n, v)?;
                Ok(v)
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<i64, String> {
        match self.t.get(self.i).cloned() {
            Some(T::Num(n)) => {
                self.i += 1;
                Ok(n)
            }
            Some(T::Name(n)) => {
                self.i += 1;
                let v = self.var(&n)?;
                if let Some(op @ ("++" | "--")) = self.peek_op() {
                    self.i += 1;
                    self.set(&n, if op == "++" { v + 1 } else { v - 1 })?;
                }
                Ok(v)
            }
            Some(T::Op("(")) => {
                self.i += 1;
                let v = self.assign()?;
                if !self.eat(")") {
                    return Err("syntax error: missing ')'".into());
                }
                Ok(v)
            }
            _ => Err("syntax error: expression expected".into()),
        }
    }
}

fn binop(op: &str, l: i64, r: i64) -> Result<i64, String> {
    Ok(match op {
        "+" => l.wrapping_add(r),
        "-" => l.wrapping_sub(r),
        "*" => l.wrapping_mul(r),
        "/" | "%" if r == 0 => return Err("divide by zero".into()),
        "/" => l.wrapping_div(r),
        "%" => l.wrapping_rem(r),
        "**" => {
            if r < 0 {
                return Err("exponent less than 0".into());
            }
            l.wrapping_pow(r.min(u32::MAX as i64) as u32)
        }
        "<<" => l.wrapping_shl(r as u32),
        ">>" => l.wrapping_shr(r as u32),
        "&" => l & r,
        "|" => l | r,
        "^" => l ^ r,
        "<" => i64::from(l < r),
        ">" => i64::from(l > r),
        "<=" => i64::from(l <= r),
        ">=" => i64::from(l >= r),
        "==" => i64::from(l == r),
        "!=" => i64::from(l != r),
        _ => return Err(format!("syntax error: bad operator {op}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct M(HashMap<String, String>);
    impl Vars for M {
        fn get_var(&self, n: &str) -> Option<String> {
            self.0.get(n).cloned()
        }
        fn set_var(&mut self, n: &str, v: String) -> Result<(), String> {
            self.0.insert(n.into(), v);
            Ok(())
        }
    }

    fn ev(s: &str, m: &mut M) -> Result<i64, String> {
        eval(s, m)
    }

    #[test]
    fn arithmetic() {
        let mut m = M(HashMap::new());
        m.0.insert("i".into(), "4".into());
        m.0.insert("e".into(), "i*2".into());
        assert_eq!(ev("1 + 2 * 3", &mut m), Ok(7));
        assert_eq!(ev("(1 + 2) * 3", &mut m), Ok(9));
        assert_eq!(ev("i+1", &mut m), Ok(5));
        assert_eq!(ev("e+1", &mut m), Ok(9));
        assert_eq!(ev("-7 / 2", &mut m), Ok(-3));
        assert_eq!(ev("7 % 3", &mut m), Ok(1));
        assert_eq!(ev("3 > 2 && 1 < 0", &mut m), Ok(0));
        assert_eq!(ev("0 || 5", &mut m), Ok(1));
        assert_eq!(ev("i == 4 ? 10 : 20", &mut m), Ok(10));
        assert_eq!(ev("0x10 + 010", &mut m), Ok(24));
        assert_eq!(ev("2 ** 10", &mut m), Ok(1024));
        assert_eq!(ev("!0", &mut m), Ok(1));
        assert_eq!(ev("", &mut m), Ok(0));
        assert_eq!(ev("unset_var + 1", &mut m), Ok(1));
        assert!(ev("1 / 0", &mut m).is_err());
        assert!(ev("1 +", &mut m).is_err());
        assert!(ev("(1", &mut m).is_err());
        assert_eq!(ev("0 && 1/0", &mut m), Ok(0));
    }

    #[test]
    fn assignments() {
        let mut m = M(HashMap::new());
        assert_eq!(ev("x = 5", &mut m), Ok(5));
        assert_eq!(ev("x += 2", &mut m), Ok(7));
        assert_eq!(ev("x++", &mut m), Ok(7));
        assert_eq!(m.0["x"], "8");
        assert_eq!(ev("++x", &mut m), Ok(9));
        assert_eq!(ev("1 || (x = 100)", &mut m), Ok(1));
        assert_eq!(m.0["x"], "9");
        m.0.insert("loop".into(), "loop".into());
        assert!(ev("loop", &mut m).is_err());
    }
}
