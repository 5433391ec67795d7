//! Shell patterns (`*`, `?`, `[...]`, `\` escapes) for `case`, `${x%pat}`, `find -name` and
//! pathname expansion.

use std::path::Path;

/// Whether `s` matches the whole `pat`.
pub fn matches(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    match_at(&p, &s)
}

fn match_at(p: &[char], s: &[char]) -> bool {
    // Iterative with backtracking to the last `*` (linear-ish for typical patterns).
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = bracket(p, pi, s[si]) {
                        if ok {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == '[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == s[si] {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[si] {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the bracket expression at `p[start]`; returns (matched, index after `]`),
/// or None if the bracket is not closed (then `[` is literal).
pub fn bracket(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let neg = matches!(p.get(i), Some('!') | Some('^'));
    if neg {
        i += 1;
    }
    let mut ok = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((ok != neg, i + 1));
        }
        first = false;
        if ch == '[' && p.get(i + 1) == Some(&':') {
            let rest: String = p[i + 2..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let class = &rest[..end];
                ok |= class_match(class, c);
                i += 2 + rest[..end].chars().count() + 2;
                continue;
            }
        }
        let lo = if ch == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            ch
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = p[i + 2];
            ok |= lo <= c && c <= hi;
            i += 3;
        } else {
            ok |= lo == c;
            i += 1;
        }
    }
}

pub fn class_match(class: &str, c: char) -> bool {
    match class {
        "alpha" => c.is_alphabetic(),
        "digit" => c.is_ascii_digit(),
        "alnum" => c.is_alphanumeric(),
        "upper" => c.is_uppercase(),
        "lower" => c.is_lowercase(),
        "space" => c.is_whitespace(),
        "blank" => c == ' ' || c == '\t',
        "punct" => c.is_ascii_punctuation(),
        "xdigit" => c.is_ascii_hexdigit(),
        "cntrl" => c.is_control(),
        "print" => !c.is_control(),
        "graph" => !c.is_control() && c != ' ',
        _ => false,
    }
}

/// Whether an (escaped) pattern has unescaped glob characters.
pub fn has_magic(pat: &str) -> bool {
    let mut esc = false;
    for c in pat.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if matches!(c, '*' | '?' | '[') {
            return true;
        }
    }
    false
}

/// Removes the escapes of a pattern.
pub fn unescape(pat: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in pat.chars() {
        if !esc && c == '\\' {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    out
}

/// Pathname expansion of an escaped pattern, relative to `cwd`; sorted, empty if nothing matches.
pub fn expand(pat: &str, cwd: &Path) -> Vec<String> {
    let absolute = pat.starts_with('/');
    let comps: Vec<&str> = pat.split('/').filter(|c| !c.is_empty()).collect();
    let mut results: Vec<String> = vec![if absolute { "/".into() } else { String::new() }];
    for (i, comp) in comps.iter().enumerate() {
        let last = i == comps.len() - 1;
        let mut next = Vec::new();
        for base in &results {
            let dir = if base.is_empty() {
                cwd.to_path_buf()
            } else {
                super::super::io::resolve(cwd, base)
            };
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_string()
                } else if base.ends_with('/') {
                    format!("{base}{name}")
                } else {
                    format!("{base}/{name}")
                }
            };
            if !has_magic(comp) {
                let name = unescape(comp);
                let cand = join(&name);
                if last {
                    if super::super::io::resolve(cwd, &cand)
                        .symlink_metadata()
                        .is_ok()
                    {
                        next.push(cand);
                    }
                } else {
                    next.push(cand);
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || comp.starts_with('.')) && matches(comp, n))
                .collect();
            names.sort();
            for n in names {
                let cand = join(&n);
                if last || super::super::io::resolve(cwd, &cand).is_dir() {
                    next.push(cand);
                }
            }
        }
        results = next;
        if results.is_empty() {
            break;
        }
    }
    if pat.ends_with('/') {
        results = results
            .into_iter()
            .filter(|r| super::super::io::resolve(cwd, r).is_dir())
            .map(|r| format!("{r}/"))
            .collect();
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbb"));
        assert!(matches("?.txt", "a.txt"));
        assert!(matches("[abc]x", "bx"));
        assert!(!matches("[!abc]x", "bx"));
        assert!(matches("[a-z]*", "hello"));
        assert!(matches("[[:digit:]]*", "1x"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        assert!(matches("*.tar.gz", "x.tar.gz"));
        assert!(matches("[", "["));
        assert!(matches("a|b", "a|b"));
    }

    #[test]
    fn expansion() {
        let d = std::env::temp_dir().join(format!("bbglob{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for f in ["a.txt", "b.txt", "c.log", ".hidden.txt", "sub/x.txt"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        assert_eq!(expand("*.txt", &d), ["a.txt", "b.txt"]);
        assert_eq!(expand("*/*.txt", &d), ["sub/x.txt"]);
        assert_eq!(expand("*/", &d), ["sub/"]);
        assert!(expand("*.none", &d).is_empty());
        let abs = format!("{}/?.log", d.display());
        assert_eq!(expand(&abs, &d), [format!("{}/c.log", d.display())]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
