//! `grep`, `egrep`, `fgrep`.

use std::io::{self, Write};

use super::opts;
use crate::io::{Ctx, Input, errstr};
use crate::regex::Regex;

pub fn egrep(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut a = vec!["-E".to_string()];
    a.extend_from_slice(args);
    grep(ctx, &a)
}

pub fn fgrep(ctx: &mut Ctx, args: &[String]) -> i32 {
    let mut a = vec!["-F".to_string()];
    a.extend_from_slice(args);
    grep(ctx, &a)
}

/// Compiles the grep patterns.
pub fn compile(
    pats: &[String],
    ere: bool,
    fixed: bool,
    icase: bool,
    word: bool,
    line: bool,
) -> Result<Vec<Regex>, String> {
    pats.iter()
        .map(|p| {
            if fixed && !word && !line {
                return Ok(Regex::literal(p, icase));
            }
            let body = if fixed {
                p.chars()
                    .map(|c| {
                        if "\\.[]*^$+?(){}|".contains(c) {
                            format!("\\{c}")
                        } else {
                            c.to_string()
                        }
                    })
                    .collect::<String>()
            } else {
                p.clone()
            };
            let ere = ere || fixed;
            let (open, close) = if ere { ("(", ")") } else { ("\\(", "\\)") };
            let body = if line {
                format!("^{open}{body}{close}$")
            } else if word {
                format!("\\<{open}{body}{close}\\>")
            } else {
                body
            };
            Regex::new(&body, ere, icase)
        })
        .collect()
}

pub fn grep(ctx: &mut Ctx, args: &[String]) -> i32 {
    let Some(o) = opts(ctx, "grep", args, "qvicnEFe:f:lLhHowxsrRaA:B:C:m:zGP") else {
        return 2;
    };
    let mut pats: Vec<String> = o.vals('e');
    for f in o.vals('f') {
        match std::fs::read_to_string(ctx.path(&f)) {
            Ok(s) => pats.extend(s.lines().map(str::to_string)),
            Err(e) => {
                ctx.error("grep", format!("{f}: {}", errstr(&e)));
                return 2;
            }
        }
    }
    let mut files = o.args.clone();
    if pats.is_empty() && o.vals('f').is_empty() {
        if files.is_empty() {
            ctx.error(
                "grep",
                "usage: grep [-qvicnEFlLhHowxs] [-e PATTERN]... PATTERN [FILE]...",
            );
            return 2;
        }
        pats.push(files.remove(0));
    }
    let pats: Vec<String> = pats
        .iter()
        .flat_map(|p| p.split('\n').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let res = match compile(
        &pats,
        o.has('E'),
        o.has('F'),
        o.has('i'),
        o.has('w'),
        o.has('x'),
    ) {
        Ok(r) => r,
        Err(e) => {
            ctx.error("grep", e);
            return 2;
        }
    };
    let invert = o.has('v');
    let quiet = o.has('q');
    let max: Option<u64> = o.val('m').and_then(|m| m.parse().ok());
    let recursive = o.has('r') || o.has('R');
    if recursive && files.is_empty() {
        files.push(".".into());
    }
    if recursive {
        let mut expanded = Vec::new();
        for f in &files {
            walk(ctx, f, &mut expanded);
        }
        files = expanded;
    }
    let show_name = (files.len() > 1 || recursive || o.has('H')) && !o.has('h');
    if files.is_empty() {
        files.push("-".into());
    }
    let mut out = ctx.out();
    let mut any = false;
    let mut err = false;
    let r = (|| -> io::Result<()> {
        for file in &files {
            let fd = match ctx.open(file) {
                Ok(fd) => fd,
                Err(e) => {
                    if !o.has('s') {
                        ctx.error("grep", format!("{file}: {}", errstr(&e)));
                    }
                    err = true;
                    continue;
                }
            };
            let name = if file == "-" {
                "(standard input)"
            } else {
                file.as_str()
            };
            let mut inp = Input(fd);
            let mut buf = Vec::new();
            let mut count = 0u64;
            let mut lineno = 0u64;
            while inp.line(&mut buf)? {
                lineno += 1;
                let text = String::from_utf8_lossy(&buf);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let chars: Vec<char> = text.chars().collect();
                let matched = res.iter().any(|r| r.find_at(&chars, 0).is_some());
                if matched == invert {
                    continue;
                }
                count += 1;
                any = true;
                if quiet {
                    return Ok(());
                }
                if o.has('l') || o.has('L') || o.has('c') {
                    if max.is_some_and(|m| count >= m) {
                        break;
                    }
                    if o.has('l') || o.has('L') {
                        break;
                    }
                    continue;
                }
                let prefix = |out: &mut dyn Write| -> io::Result<()> {
                    if show_name {
                        write!(out, "{name}:")?;
                    }
                    if o.has('n') {
                        write!(out, "{lineno}:")?;
                    }
                    Ok(())
                };
                if o.has('o') && !invert {
                    for r in &res {
                        let mut pos = 0;
                        while pos <= chars.len() {
                            let Some(c) = r.find_at(&chars, pos) else {
                                break;
                            };
                            let Some((s, e)) = c[0] else { break };
                            if e > s {
                                prefix(&mut out)?;
                                let m: String = chars[s..e].iter().collect();
                                writeln!(out, "{m}")?;
                                pos = e;
                            } else {
                                pos = s + 1;
                            }
                        }
                    }
                } else {
                    prefix(&mut out)?;
                    writeln!(out, "{text}")?;
                }
                if file == "-" {
                    // stdin may be a slow writer (`tail -f log | grep x`): each match goes out
                    // as it is found, as with GNU grep's --line-buffered.
                    out.flush()?;
                }
                if max.is_some_and(|m| count >= m) {
                    break;
                }
            }
            if o.has('c') {
                if show_name {
                    write!(out, "{name}:")?;
                }
                writeln!(out, "{count}")?;
            }
            if (o.has('l') && count > 0) || (o.has('L') && count == 0) {
                writeln!(out, "{name}")?;
            }
            out.flush()?;
        }
        out.flush()
    })();
    if let Err(e) = r {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return 141;
        }
        ctx.error("grep", errstr(&e));
        return 2;
    }
    if any && (quiet || !err) {
        0
    } else if err {
        2
    } else {
        1
    }
}

fn walk(ctx: &Ctx, f: &str, out: &mut Vec<String>) {
    let p = ctx.path(f);
    if p.is_dir() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            return;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            walk(ctx, &format!("{}/{n}", f.trim_end_matches('/')), out);
        }
    } else {
        out.push(f.to_string());
    }
}
