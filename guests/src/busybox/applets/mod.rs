//! The applets: functions taking a context (stdio, env, cwd) and arguments, returning a status.

use std::io;

use crate::io::{Ctx, errstr};

mod date;
mod echo;
mod expr;
mod fs;
mod grep;
mod hash;
mod net;
mod sed;
mod system;
mod tar;
mod test;
mod text;

pub type Applet = fn(&mut Ctx, &[String]) -> i32;

const APPLETS: &[(&str, Applet)] = &[
    ("[", test::bracket),
    ("[[", test::bracket2),
    ("basename", fs::basename),
    ("cat", text::cat),
    ("cp", fs::cp),
    ("cut", text::cut),
    ("date", date::date),
    ("df", fs::df),
    ("dirname", fs::dirname),
    ("echo", echo::echo),
    ("env", system::env),
    ("expr", expr::expr),
    ("false", system::false_),
    ("find", fs::find),
    ("grep", grep::grep),
    ("egrep", grep::egrep),
    ("fgrep", grep::fgrep),
    ("head", text::head),
    ("hostname", net::hostname),
    ("id", system::id),
    ("kill", system::kill),
    ("killall", system::killall),
    ("ln", fs::ln),
    ("ls", fs::ls),
    ("md5sum", hash::md5sum),
    ("mkdir", fs::mkdir),
    ("mv", fs::mv),
    ("nc", net::nc),
    ("nslookup", net::nslookup),
    ("pidof", system::pidof),
    ("printenv", system::printenv),
    ("printf", echo::printf),
    ("ps", system::ps),
    ("pwd", fs::pwd),
    ("rm", fs::rm),
    ("rmdir", fs::rmdir),
    ("sed", sed::sed),
    ("seq", text::seq),
    ("sh", sh),
    ("ash", sh),
    ("sha256sum", hash::sha256sum),
    ("sleep", system::sleep),
    ("stty", system::stty),
    ("sort", text::sort),
    ("tail", text::tail),
    ("tar", tar::tar),
    ("timeout", system::timeout),
    ("tee", text::tee),
    ("test", test::test),
    ("touch", fs::touch),
    ("tr", text::tr),
    ("true", system::true_),
    ("uname", system::uname),
    ("uniq", text::uniq),
    ("wc", text::wc),
    ("wget", net::wget),
    ("whoami", system::whoami),
    ("xargs", system::xargs),
    ("yes", echo::yes),
];

fn sh(ctx: &mut Ctx, args: &[String]) -> i32 {
    crate::shell::sh_main(ctx, args)
}

pub fn exists(name: &str) -> bool {
    APPLETS.iter().any(|(n, _)| *n == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    let mut v: Vec<&str> = APPLETS.iter().map(|(n, _)| *n).collect();
    v.sort();
    v.into_iter()
}

pub fn usage() -> String {
    let mut s = String::from(
        "BusyBox-compatible multi-call binary (wpod built-in image).\n\n\
         Usage: busybox [function [arguments]...]\n   or: function [arguments]...\n\n\
         Currently defined functions:\n",
    );
    let list: Vec<&str> = names().collect();
    for chunk in list.chunks(8) {
        s.push('\t');
        s.push_str(&chunk.join(", "));
        s.push_str(",\n");
    }
    s
}

/// Runs applet `name`; unknown names give 127.
pub fn run(ctx: &mut Ctx, name: &str, args: &[String]) -> i32 {
    match APPLETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => f(ctx, args),
        None => {
            ctx.error("sh", format!("{name}: not found"));
            127
        }
    }
}

/// Turns an applet's I/O result into a status: EPIPE is 141 (as if killed by SIGPIPE), other
/// errors are printed.
pub fn finish(ctx: &Ctx, name: &str, r: io::Result<i32>) -> i32 {
    match r {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 141,
        Err(e) => {
            ctx.error(name, errstr(&e));
            1
        }
    }
}

/// Parsed command-line options.
pub struct Opts {
    pub flags: Vec<(char, Option<String>)>,
    pub args: Vec<String>,
}

impl Opts {
    pub fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }
    /// The last value of option `c`.
    pub fn val(&self, c: char) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == c)
            .and_then(|(_, v)| v.as_deref())
    }
    pub fn vals(&self, c: char) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(f, _)| *f == c)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }
}

/// getopt-style parsing: `spec` lists the flag letters, `:` after one that takes a value.
/// Options may appear anywhere before `--`; `-` alone is an operand.
pub fn getopt(args: &[String], spec: &str) -> Result<Opts, String> {
    let mut o = Opts {
        flags: Vec::new(),
        args: Vec::new(),
    };
    let takes = |c: char| {
        spec.find(c)
            .map(|i| spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            o.args.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            o.args.push(a.clone());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match takes(c) {
                None => return Err(format!("invalid option -- '{c}'")),
                Some(false) => o.flags.push((c, None)),
                Some(true) => {
                    let v: String = chars[j + 1..].iter().collect();
                    if !v.is_empty() {
                        o.flags.push((c, Some(v)));
                    } else if let Some(v) = args.get(i) {
                        o.flags.push((c, Some(v.clone())));
                        i += 1;
                    } else {
                        return Err(format!("option requires an argument -- '{c}'"));
                    }
                    break;
                }
            }
            j += 1;
        }
    }
    Ok(o)
}

/// Parses options or prints the error (busybox prints usage; status 1).
pub fn opts(ctx: &Ctx, name: &str, args: &[String], spec: &str) -> Option<Opts> {
    match getopt(args, spec) {
        Ok(o) => Some(o),
        Err(e) => {
            ctx.error(name, e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn getopt_parses() {
        let o = getopt(&v(&["-ab", "x", "-n5", "-c", "7", "--", "-z"]), "abn:c:").unwrap();
        assert!(o.has('a') && o.has('b'));
        assert_eq!(o.val('n'), Some("5"));
        assert_eq!(o.val('c'), Some("7"));
        assert_eq!(o.args, ["x", "-z"]);
        assert!(getopt(&v(&["-q"]), "a").is_err());
        assert!(getopt(&v(&["-n"]), "n:").is_err());
    }

    #[test]
    fn table_sorted_unique() {
        let n: Vec<&str> = names().collect();
        let mut d = n.clone();
        d.dedup();
        assert_eq!(n.len(), d.len());
        assert!(exists("sh") && exists("ls") && !exists("bash"));
    }
}
