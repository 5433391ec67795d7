//! `expr`: integer arithmetic, comparisons, `:` regex match, `length`, `substr`, `index`,
//! `match`.

use crate::io::Ctx;
use crate::regex::Regex;

#[derive(Debug, Clone, PartialEq)]
enum V {
    I(i64),
    S(String),
}

impl V {
    fn text(&self) -> String {
        match self {
            V::I(i) => i.to_string(),
            V::S(s) => s.clone(),
        }
    }
    fn int(&self) -> Option<i64> {
        match self {
            V::I(i) => Some(*i),
            V::S(s) => s.trim().parse().ok(),
        }
    }
    fn null(&self) -> bool {
        match self {
            V::I(i) => *i == 0,
            V::S(s) => s.is_empty() || s == "0",
        }
    }
}

struct P<'a> {
    a: &'a [String],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&str> {
        self.a.get(self.i).map(String::as_str)
    }
    fn next(&mut self) -> Result<String, String> {
        let t = self.a.get(self.i).cloned().ok_or("syntax error")?;
        self.i += 1;
        Ok(t)
    }
    fn or(&mut self) -> Result<V, String> {
        let mut l = self.and()?;
        while self.peek() == Some("|") {
            self.i += 1;
            let r = self.and()?;
            l = if !l.null() {
                l
            } else if !r.null() {
                r
            } else {
                V::I(0)
            };
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<V, String> {
        let mut l = self.cmp()?;
        while self.peek() == Some("&") {
            self.i += 1;
            let r = self.cmp()?;
            l = if l.null() || r.null() { V::I(0) } else { l };
        }
        Ok(l)
    }
    fn cmp(&mut self) -> Result<V, String> {
        let mut l = self.add()?;
        while let Some(op) = self
            .peek()
            .filter(|o| ["=", "==", "!=", "<", "<=", ">", ">="].contains(o))
        {
            let op = op.to_string();
            self.i += 1;
            let r = self.add()?;
            let ord = match (l.int(), r.int()) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => l.text().cmp(&r.text()),
            };
            use std::cmp::Ordering::*;
            let v = match op.as_str() {
                "=" | "==" => ord == Equal,
                "!=" => ord != Equal,
                "<" => ord == Less,
                "<=" => ord != Greater,
                ">" => ord == Greater,
                _ => ord != Less,
            };
            l = V::I(i64::from(v));
        }
        Ok(l)
    }
    fn add(&mut self) -> Result<V, String> {
        let mut l = self.mul()?;
        while let Some(op) = self.peek().filter(|o| *o == "+" || *o == "-") {
            let plus = op == "+";
            self.i += 1;
            let r = self.mul()?;
            let (a, b) = (
                l.int().ok_or("non-numeric argument")?,
                r.int().ok_or("non-numeric argument")?,
            );
            l = V::I(if plus {
                a.wrapping_add(b)
            } else {
                a.wrapping_sub(b)
            });
        }
        Ok(l)
    }
    fn mul(&mut self) -> Result<V, String> {
        let mut l = self.colon()?;
        while let Some(op) = self.peek().filter(|o| ["*", "/", "%"].contains(o)) {
            let op = op.to_string();
            self.i += 1;
            let r = self.colon()?;
            let (a, b) = (
                l.int().ok_or("non-numeric argument")?,
                r.int().ok_or("non-numeric argument")?,
            );
            if op != "*" && b == 0 {
                return Err("division by zero".into());
            }
            l = V::I(match op.as_str() {
                "*" => a.wrapping_mul(b),
                "/" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            });
        }
        Ok(l)
    }
    fn colon(&mut self) -> Result<V, String> {
        let mut l = self.primary()?;
        while self.peek() == Some(":") {
            self.i += 1;
            let r = self.primary()?;
            l = matchre(&l.text(), &r.text())?;
        }
        Ok(l)
    }
    fn primary(&mut self) -> Result<V, String> {
        let t = self.next()?;
        match t.as_str() {
            "(" => {
                let v = self.or()?;
                if self.next()? != ")" {
                    return Err("syntax error".into());
                }
                Ok(v)
            }
            "length" => Ok(V::I(self.next()?.chars().count() as i64)),
            "match" => {
                let s = self.next()?;
                let r = self.next()?;
                matchre(&s, &r)
            }
            "substr" => {
                let s: Vec<char> = self.next()?.chars().collect();
                let p: i64 = self.next()?.parse().unwrap_or(0);
                let n: i64 = self.next()?.parse().unwrap_or(0);
                if p < 1 || n < 1 || p as usize > s.len() {
                    return Ok(V::S(String::new()));
                }
                Ok(V::S(
                    s.iter().skip(p as usize - 1).take(n as usize).collect(),
                ))
            }
            "index" => {
                let s = self.next()?;
                let chars = self.next()?;
                let pos = s
                    .chars()
                    .position(|c| chars.contains(c))
                    .map(|p| p as i64 + 1)
                    .unwrap_or(0);
                Ok(V::I(pos))
            }
            "+" => Ok(V::S(self.next()?)),
            _ => Ok(match t.parse::<i64>() {
                Ok(i) => V::I(i),
                Err(_) => V::S(t),
            }),
        }
    }
}

fn matchre(s: &str, re: &str) -> Result<V, String> {
    let r = Regex::new(&format!("^\\({re}\\)"), false, false)?;
    let t: Vec<char> = s.chars().collect();
    match r.find_at(&t, 0) {
        Some(c) => {
            if r.groups() > 1 {
                Ok(V::S(
                    c.get(2)
                        .copied()
                        .flatten()
                        .map(|(a, b)| t[a..b].iter().collect())
                        .unwrap_or_default(),
                ))
            } else {
                Ok(V::I(c[0].map(|(a, b)| (b - a) as i64).unwrap_or(0)))
            }
        }
        None => Ok(if r.groups() > 1 {
            V::S(String::new())
        } else {
            V::I(0)
        }),
    }
}

fn eval(args: &[String]) -> Result<V, String> {
    let mut p = P { a: args, i: 0 };
    let v = p.or()?;
    if p.i < args.len() {
        return Err("syntax error".into());
    }
    Ok(v)
}

pub fn expr(ctx: &mut Ctx, args: &[String]) -> i32 {
    if args.is_empty() {
        ctx.error("expr", "too few arguments");
        return 2;
    }
    match eval(args) {
        Ok(v) => {
            ctx.write_out(format!("{}\n", v.text()).as_bytes());
            i32::from(v.null())
        }
        Err(e) => {
            ctx.error("expr", e);
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Result<String, String> {
        let a: Vec<String> = s.split(' ').map(str::to_string).collect();
        eval(&a).map(|v| v.text())
    }

    #[test]
    fn exprs() {
        assert_eq!(e("1 + 2 * 3").as_deref(), Ok("7"));
        assert_eq!(e("( 1 + 2 ) * 3").as_deref(), Ok("9"));
        assert_eq!(e("10 / 3").as_deref(), Ok("3"));
        assert_eq!(e("10 % 3").as_deref(), Ok("1"));
        assert_eq!(e("2 < 10").as_deref(), Ok("1"));
        assert_eq!(e("abc = abc").as_deref(), Ok("1"));
        assert_eq!(e("hello : hel").as_deref(), Ok("3"));
        assert_eq!(e("hello : \\(h.l\\)").as_deref(), Ok("hel"));
        assert_eq!(e("hello : x").as_deref(), Ok("0"));
        assert_eq!(e("length hello").as_deref(), Ok("5"));
        assert_eq!(e("substr hello 2 3").as_deref(), Ok("ell"));
        assert_eq!(e("index hello l").as_deref(), Ok("3"));
        assert_eq!(e("0 | 5").as_deref(), Ok("5"));
        assert_eq!(e("3 & 0").as_deref(), Ok("0"));
        assert!(e("1 / 0").is_err());
        assert!(e("a + 1").is_err());
        assert!(e("1 +").is_err());
    }
}
