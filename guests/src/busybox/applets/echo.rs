//! `echo`, `printf` and `yes`.

use std::io::Write;

use super::finish;
use crate::io::Ctx;

/// Interprets backslash escapes (`echo -e`, `%b`); `printf_style` takes `\NNN` octal rather than
/// `\0NNN`. Returns the bytes and whether `\c` stopped the output.
pub fn escapes(s: &str, printf_style: bool) -> (Vec<u8>, bool) {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'\\' => out.push(b'\\'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'c' => return (out, true),
            b'e' | b'E' => out.push(27),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                if n == 0 {
                    out.extend_from_slice(b"\\x");
                } else {
                    out.push(v as u8);
                }
            }
            b'0'..=b'7' => {
                // echo: `\0NNN`; printf: `\NNN`; up to three octal digits either way.
                let (mut v, mut n) = if c == b'0' && !printf_style {
                    (0u32, 0)
                } else {
                    (u32::from(c - b'0'), 1)
                };
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    (out, false)
}

pub fn echo(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut nl = true;
    let mut esc = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(f) = a.strip_prefix('-') else { break };
        if f.is_empty() || !f.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        for c in f.chars() {
            match c {
                'n' => nl = false,
                'e' => esc = true,
                _ => esc = false,
            }
        }
        i += 1;
    }
    let mut out = Vec::new();
    for (k, a) in args[i..].iter().enumerate() {
        if k > 0 {
            out.push(b' ');
        }
        if esc {
            let (b, stop) = escapes(a, false);
            out.extend_from_slice(&b);
            if stop {
                nl = false;
                break;
            }
        } else {
            out.extend_from_slice(a.as_bytes());
        }
    }
    if nl {
        out.push(b'\n');
    }
    let mut o = crate::io::Output(ctx.stdout.clone());
    let r = o.write_all(&out).and_then(|_| o.flush()).map(|_| 0);
    finish(ctx, "echo", r)
}

pub fn yes(ctx: &mut Ctx, args: &[String]) -> i32 {
    let line = if args.is_empty() {
        "y".to_string()
    } else {
        args.join(" ")
    };
    let mut chunk = Vec::new();
    while chunk.len() < 8192 {
        chunk.extend_from_slice(line.as_bytes());
        chunk.push(b'\n');
    }
    let mut o = crate::io::Output(ctx.stdout.clone());
    loop {
        if let Err(e) = o.write_all(&chunk).and_then(|_| o.flush()) {
            return finish(ctx, "yes", Err(e));
        }
    }
}

/// Parses a printf integer argument: numbers (decimal, 0x hex, 0 octal) or `'c` for a character
/// code. Returns the value and whether the whole argument was valid.
fn int_arg(a: &str) -> (i64, bool) {
    let t = a.trim_start();
    if let Some(r) = t.strip_prefix('\'').or_else(|| t.strip_prefix('"')) {
        return (r.chars().next().map(|c| c as i64).unwrap_or(0), true);
    }
    if t.is_empty() {
        return (0, true);
    }
    match crate::shell::arith::parse_num(t) {
        Some(v) => (v, true),
        None => {
            // Leading digits, like strtol.
            let (neg, d) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            let digits: String = d.chars().take_while(|c| c.is_ascii_digit()).collect();
            let v: i64 = digits.parse().unwrap_or(0);
            (if neg { -v } else { v }, false)
        }
    }
}

fn pad(s: &str, width: usize, left: bool, zero: bool) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let fill = width - len;
    if left {
        format!("{s}{}", " ".repeat(fill))
    } else if zero {
        let (sign, rest) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), &s[1..]),
            _ => (String::new(), s),
        };
        let (pre, rest) = if rest.starts_with("0x") || rest.starts_with("0X") {
            (&rest[..2], &rest[2..])
        } else {
            ("", rest)
        };
        format!("{sign}{pre}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

/// C-style `%e`.
fn fmt_e(v: f64, prec: usize, upper: bool) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{:.*e}", prec, v);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let r = format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    if upper { r.to_uppercase() } else { r }
}

fn fmt_g(v: f64, prec: usize, alt: bool, upper: bool) -> String {
    let p = if prec == 0 { 1 } else { prec };
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let s = if exp < -4 || exp >= p as i32 {
        let e = fmt_e(v, p - 1, upper);
        if alt {
            return e;
        }
        let (m, x) = e
            .split_once(if upper { 'E' } else { 'e' })
            .unwrap_or((&e, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        return format!("{m}{}{x}", if upper { 'E' } else { 'e' });
    } else {
        format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v)
    };
    if !alt && s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Formats `fmt` with `args` as printf(1) does, reusing the format while arguments remain.
/// Returns the output, whether an argument was invalid, and an error message if any.
pub fn format(fmt: &str, args: &[String]) -> (Vec<u8>, bool, Option<String>) {
    let mut out = Vec::new();
    let mut bad = false;
    let f: Vec<char> = fmt.chars().collect();
    let mut ai = 0;
    loop {
        let start_ai = ai;
        let mut i = 0;
        while i < f.len() {
            let c = f[i];
            if c == '\\' {
                let mut j = i + 1;
                // Take the escape sequence and hand it to `escapes`.
                if j < f.len() {
                    if f[j] == 'x' {
                        j += 1;
                        while j < f.len() && j < i + 4 && f[j].is_ascii_hexdigit() {
                            j += 1;
                        }
                    } else if f[j].is_digit(8) {
                        while j < f.len() && j < i + 4 && f[j].is_digit(8) {
                            j += 1;
                        }
                    } else {
                        j += 1;
                    }
                }
                let seq: String = f[i..j].iter().collect();
                let (b, stop) = escapes(&seq, true);
                out.extend_from_slice(&b);
                if stop {
                    return (out, bad, None);
                }
                i = j;
                continue;
            }
            if c != '%' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += 1;
                continue;
            }
            i += 1;
            if f.get(i) == Some(&'%') {
                out.push(b'%');
                i += 1;
                continue;
            }
            let (mut left, mut zero, mut plus, mut space, mut alt) =
                (false, false, false, false, false);
            while let Some(&fl) = f.get(i) {
                match fl {
                    '-' => left = true,
                    '0' => zero = true,
                    '+' => plus = true,
                    ' ' => space = true,
                    '#' => alt = true,
                    '\'' => {}
                    _ => break,
                }
                i += 1;
            }
            let next_arg = |ai: &mut usize| {
                let a = args.get(*ai).cloned();
                *ai += 1;
                a
            };
            let mut width: usize = 0;
            if f.get(i) == Some(&'*') {
                i += 1;
                let (w, _) = int_arg(&next_arg(&mut ai).unwrap_or_default());
                if w < 0 {
                    left = true;
                }
                width = w.unsigned_abs() as usize;
            } else {
                while let Some(d) = f.get(i).and_then(|c| c.to_digit(10)) {
                    width = width.saturating_mul(10).saturating_add(d as usize);
                    i += 1;
                }
            }
            let mut prec: Option<usize> = None;
            if f.get(i) == Some(&'.') {
                i += 1;
                if f.get(i) == Some(&'*') {
                    i += 1;
                    let (p, _) = int_arg(&next_arg(&mut ai).unwrap_or_default());
                    prec = Some(p.max(0) as usize);
                } else {
                    let mut p = 0usize;
                    while let Some(d) = f.get(i).and_then(|c| c.to_digit(10)) {
                        p = p.saturating_mul(10).saturating_add(d as usize);
                        i += 1;
                    }
                    prec = Some(p);
                }
            }
            width = width.min(1 << 20);
            // Length modifiers are accepted and ignored.
            while matches!(f.get(i), Some('l' | 'h' | 'L' | 'q' | 'j' | 'z' | 't')) {
                i += 1;
            }
            let Some(&conv) = f.get(i) else {
                return (out, true, Some(format!("%{}: invalid format", "")));
            };
            i += 1;
            let arg = next_arg(&mut ai);
            let s = match conv {
                's' => {
                    let mut s = arg.unwrap_or_default();
                    if let Some(p) = prec {
                        s = s.chars().take(p).collect();
                    }
                    pad(&s, width, left, false)
                }
                'b' => {
                    let (b, stop) = escapes(&arg.unwrap_or_default(), false);
                    let s = String::from_utf8_lossy(&b).into_owned();
                    out.extend_from_slice(pad(&s, width, left, false).as_bytes());
                    if stop {
                        return (out, bad, None);
                    }
                    continue;
                }
                'c' => {
                    let s: String = arg.unwrap_or_default().chars().take(1).collect();
                    pad(&s, width, left, false)
                }
                'd' | 'i' | 'u' | 'o' | 'x' | 'X' => {
                    let a = arg.unwrap_or_default();
                    let (v, ok) = int_arg(&a);
                    if !ok {
                        bad = true;
                        return (out, bad, Some(format!("invalid number '{a}'")));
                    }
                    let mut digits = match conv {
                        'd' | 'i' => v.unsigned_abs().to_string(),
                        'u' => (v as u64).to_string(),
                        'o' => format!("{:o}", v as u64),
                        'x' => format!("{:x}", v as u64),
                        _ => format!("{:X}", v as u64),
                    };
                    if let Some(p) = prec
                        && digits.len() < p
                    {
                        digits = format!("{}{digits}", "0".repeat(p - digits.len()));
                    }
                    if alt && v != 0 {
                        match conv {
                            'o' => digits = format!("0{digits}"),
                            'x' => digits = format!("0x{digits}"),
                            'X' => digits = format!("0X{digits}"),
                            _ => {}
                        }
                    }
                    let sign = if matches!(conv, 'd' | 'i') {
                        if v < 0 {
                            "-"
                        } else if plus {
                            "+"
                        } else if space {
                            " "
                        } else {
                            ""
                        }
                    } else {
                        ""
                    };
                    pad(
                        &format!("{sign}{digits}"),
                        width,
                        left,
                        zero && prec.is_none(),
                    )
                }
                'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'a' => {
                    let a = arg.unwrap_or_default();
                    let v: f64 = if a.trim().is_empty() {
                        0.0
                    } else {
                        match a.trim().parse() {
                            Ok(v) => v,
                            Err(_) => {
                                let (iv, _) = int_arg(&a);
                                bad = true;
                                iv as f64
                            }
                        }
                    };
                    let p = prec.unwrap_or(6);
                    let mut s = match conv {
                        'f' | 'F' => format!("{:.*}", p, v),
                        'e' | 'E' => fmt_e(v, p, conv == 'E'),
                        _ => fmt_g(v, p, alt, conv == 'G'),
                    };
                    if v >= 0.0 && plus {
                        s = format!("+{s}");
                    } else if v >= 0.0 && space {
                        s = format!(" {s}");
                    }
                    pad(&s, width, left, zero)
                }
                other => {
                    return (out, true, Some(format!("%{other}: invalid format")));
                }
            };
            out.extend_from_slice(s.as_bytes());
        }
        if ai >= args.len() || ai == start_ai {
            break;
        }
    }
    (out, bad, None)
}

pub fn printf(ctx: &mut Ctx, args: &[String]) -> i32 {
    let args = match args.first() {
        Some(a) if a == "--" => &args[1..],
        _ => args,
    };
    let Some(fmt) = args.first() else {
        ctx.error("printf", "usage: printf FORMAT [ARGUMENT...]");
        return 1;
    };
    let (out, bad, err) = format(fmt, &args[1..]);
    let mut o = crate::io::Output(ctx.stdout.clone());
    if let Err(e) = o.write_all(&out).and_then(|_| o.flush()) {
        return finish(ctx, "printf", Err(e));
    }
    if let Some(e) = err {
        ctx.error("printf", e);
        return 1;
    }
    i32::from(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[&str]) -> String {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        String::from_utf8(format(fmt, &a).0).unwrap()
    }

    #[test]
    fn printf_formats() {
        assert_eq!(f("%s-%d\\n", &["a", "5"]), "a-5\n");
        assert_eq!(f("%5s|%-5s|", &["ab", "cd"]), "   ab|cd   |");
        assert_eq!(
            f("%05d %x %X %o %c", &["42", "255", "255", "8", "hello"]),
            "00042 ff FF 10 h"
        );
        assert_eq!(f("%.2f %.3s", &["3.14159", "abcdef"]), "3.14 abc");
        assert_eq!(f("%s\\n", &["a", "b", "c"]), "a\nb\nc\n");
        assert_eq!(f("%d%%\\n", &["50"]), "50%\n");
        assert_eq!(f("%b", &["a\\tb\\n"]), "a\tb\n");
        assert_eq!(f("%d", &["'A"]), "65");
        assert_eq!(f("%+d % d %.3d", &["5", "5", "7"]), "+5  5 007");
        assert_eq!(f("\\101\\x42", &[]), "AB");
        assert_eq!(f("%e", &["12345"]), "1.234500e+04");
        assert_eq!(f("%g %g", &["0.0001", "1000000"]), "0.0001 1e+06");
        assert_eq!(f("%*d", &["4", "7"]), "   7");
        assert_eq!(f("no args %s.", &[]), "no args .");
        assert_eq!(f("a\\cb", &[]), "a");
        let (_, bad, err) = format("%d", &["x".into()]);
        assert!(bad && err.is_some());
    }

    #[test]
    fn echo_escapes() {
        assert_eq!(escapes("a\\nb\\tc", false).0, b"a\nb\tc");
        assert_eq!(escapes("\\0101", false).0, b"A");
        assert_eq!(escapes("\\101", true).0, b"A");
        assert!(escapes("x\\cy", false).1);
        assert_eq!(escapes("\\q", false).0, b"\\q");
    }
}
