//! `sh`: an ash-like shell.
//!
//! - applets and builtins are function calls on the shell's file descriptors ([`crate::io::Fd`]);
//! - subshells `( )` and `$(...)` run on a clone of the shell state, so their variable changes
//!   and `cd` do not leak out;
//! - pipeline stages and background jobs are child processes that run at once ([`jobs`]);
//! - signals are handled in [`crate::sys`]: a `trap` runs between commands, and a caught signal
//!   ends a `sleep` or `wait` early.

pub mod arith;
pub mod ast;
mod builtins;
mod exec;
mod expand;
pub mod glob;
mod jobs;
pub mod lexer;
mod lineedit;
pub mod parser;
mod print;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use crate::io::{Ctx, Fd};
use ast::Node;

#[derive(Clone, Debug, Default)]
pub struct Var {
    pub value: String,
    pub exported: bool,
    pub readonly: bool,
}

/// Non-local control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctrl {
    Break(usize),
    Continue(usize),
    Return(i32),
    Exit(i32),
}

pub type Res = Result<i32, Ctrl>;

#[derive(Clone)]
pub struct Shell {
    pub vars: HashMap<String, Var>,
    pub params: Vec<String>,
    pub arg0: String,
    pub funcs: HashMap<String, Rc<Node>>,
    pub status: i32,
    pub errexit: bool,
    pub xtrace: bool,
    pub nounset: bool,
    pub noglob: bool,
    pub cwd: PathBuf,
    /// Trap actions by signal number (0 is EXIT).
    pub traps: BTreeMap<i32, String>,
    pub fds: Vec<Fd>,
    /// Saved variables of the running functions' `local`s.
    pub locals: Vec<Vec<(String, Option<Var>)>>,
    pub last_bg: Option<u32>,
    /// Background jobs (none are shared with a subshell).
    pub jobs: Rc<RefCell<jobs::Jobs>>,
    /// Nonzero while running a condition (`if`, `while`, `&&`, `||`, `!`): `set -e` is off.
    pub no_errexit: usize,
    pub loop_depth: usize,
    pub depth: usize,
    pub pid: u32,
    pub cmdsub_status: Option<i32>,
    pub line: usize,
    /// Reads commands from a terminal: prompts, survives ^C and its own errors.
    pub interactive: bool,
    /// An error that ends a non-interactive shell happened (`fatal`).
    pub failed: bool,
    /// The interactive shell's command lines, oldest first.
    pub history: Vec<String>,
}

impl Var {
    fn new(value: String, exported: bool) -> Var {
        Var {
            value,
            exported,
            readonly: false,
        }
    }
}

impl Shell {
    pub fn new(ctx: &Ctx, arg0: &str, params: Vec<String>) -> Shell {
        let mut vars = HashMap::new();
        for (k, v) in &ctx.env {
            vars.insert(k.clone(), Var::new(v.clone(), true));
        }
        let pid = crate::sys::pid();
        let mut sh = Shell {
            vars,
            params,
            arg0: arg0.to_string(),
            funcs: HashMap::new(),
            status: 0,
            errexit: false,
            xtrace: false,
            nounset: false,
            noglob: false,
            cwd: ctx.cwd.clone(),
            traps: BTreeMap::new(),
            fds: vec![ctx.stdin.clone(), ctx.stdout.clone(), ctx.stderr.clone()],
            locals: Vec::new(),
            last_bg: None,
            jobs: Rc::default(),
            no_errexit: 0,
            loop_depth: 0,
            depth: 0,
            pid,
            cmdsub_status: None,
            line: 0,
            interactive: false,
            failed: false,
            history: Vec::new(),
        };
        let cwd = sh.cwd.display().to_string();
        sh.vars.insert("PWD".into(), Var::new(cwd, true));
        for (k, v) in [
            ("IFS", " \t\n"),
            ("PS1", "# "),
            ("PS2", "> "),
            ("PS4", "+ "),
            ("OPTIND", "1"),
        ] {
            sh.vars
                .entry(k.into())
                .or_insert_with(|| Var::new(v.into(), false));
        }
        sh.vars
            .entry("PATH".into())
            .or_insert_with(|| Var::new("/sbin:/usr/sbin:/bin:/usr/bin".into(), true));
        sh.vars
            .entry("HOME".into())
            .or_insert_with(|| Var::new("/root".into(), true));
        sh.vars.insert(
            "PPID".into(),
            Var::new(crate::sys::ppid().to_string(), false),
        );
        // A child running a piece of its parent's script: `$$`, `$?` and `$!` are the parent's.
        if let Some(fork) = sh.vars.remove(jobs::FORK_ENV) {
            let mut f = fork.value.split(' ');
            if let Some(pid) = f.next().and_then(|p| p.parse().ok()) {
                sh.pid = pid;
            }
            if let Some(st) = f.next().and_then(|s| s.parse().ok()) {
                sh.status = st;
            }
            sh.last_bg = f.next().and_then(|p| p.parse().ok());
        }
        sh
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.value.clone())
    }

    pub fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        let v = self.vars.entry(name.to_string()).or_default();
        if v.readonly {
            return Err(format!("{name}: is read only"));
        }
        v.value = value.to_string();
        Ok(())
    }

    pub fn fd(&self, n: usize) -> Fd {
        self.fds.get(n).cloned().unwrap_or(Fd::Closed)
    }

    pub fn set_fd(&mut self, n: usize, fd: Fd) {
        if n >= self.fds.len() {
            self.fds.resize(n + 1, Fd::Closed);
        }
        self.fds[n] = fd;
    }

    /// Prints `sh: msg` on the shell's stderr.
    pub fn err(&self, msg: &str) {
        let _ = self.fd(2).write(format!("sh: {msg}\n").as_bytes());
    }

    /// Reports an error that ends a non-interactive shell (exit status 2).
    pub fn fatal(&mut self, msg: &str) -> Ctrl {
        self.err(msg);
        self.status = 2;
        self.failed = true;
        Ctrl::Exit(2)
    }

    /// The environment given to applets: exported variables, plus `extra`.
    pub fn env(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = self
            .vars
            .iter()
            .filter(|(_, v)| v.exported)
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        for (k, v) in extra {
            env.insert(k.clone(), v.clone());
        }
        env.into_iter().collect()
    }

    pub fn ctx(&self, extra: &[(String, String)]) -> Ctx {
        Ctx {
            stdin: self.fd(0),
            stdout: self.fd(1),
            stderr: self.fd(2),
            env: self.env(extra),
            cwd: self.cwd.clone(),
        }
    }

    /// A copy of the shell for a subshell: traps other than ignored ones are reset.
    pub fn subshell(&self) -> Shell {
        let mut s = self.clone();
        s.traps.retain(|_, a| a.is_empty());
        s.jobs = Rc::default();
        s.loop_depth = 0;
        s
    }

    /// Runs a node as the body of a subshell, returning its exit status.
    pub fn run_sub(&mut self, n: &Node) -> i32 {
        let r = self.exec(n);
        let st = self.finish(r);
        let _ = self.fd(1).flush();
        st
    }

    pub fn run_sub_source(&mut self, src: &str) -> i32 {
        let r = self.run_source(src);
        let st = self.finish(r);
        let _ = self.fd(1).flush();
        st
    }

    /// The exit status of a shell whose script ended with `r`, after its EXIT trap.
    pub fn finish(&mut self, r: Res) -> i32 {
        let mut st = match r {
            Ok(s) => s,
            Err(Ctrl::Exit(s)) | Err(Ctrl::Return(s)) => s,
            Err(_) => self.status,
        };
        self.status = st;
        if let Some(action) = self.traps.remove(&0)
            && let Err(Ctrl::Exit(s)) = self.run_source(&action)
        {
            st = s;
        }
        st
    }

    /// Parses and runs `src` command by command in this shell.
    pub fn run_source(&mut self, src: &str) -> Res {
        let mut p = match parser::Parser::new(src) {
            Ok(p) => p,
            Err(e) => return Err(self.fatal(&e)),
        };
        let mut st = 0;
        loop {
            match p.next_command() {
                Ok(Some(n)) => st = self.exec_top(&n)?,
                Ok(None) => return Ok(st),
                Err(e) => return Err(self.fatal(&e)),
            }
        }
    }
}

/// The `sh` applet.
pub fn sh_main(ctx: &mut Ctx, args: &[String]) -> i32 {
    // A child of a shell on wasm: its argv is its parent's; what it runs comes in its env.
    #[cfg(target_arch = "wasm32")]
    if let Some(script) = take_env(ctx, jobs::FORK_SCRIPT_ENV) {
        let arg0 = take_env(ctx, jobs::FORK_ARG0_ENV).unwrap_or_else(|| "sh".into());
        let mut sh = Shell::new(ctx, &arg0, Vec::new());
        let r = sh.run_source(&script);
        return sh.end(r);
    }
    let mut opts: Vec<char> = Vec::new();
    let mut script: Option<String> = None;
    let mut i = 0;
    let mut cmd_mode = false;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
            for c in flags.chars() {
                match c {
                    'c' => cmd_mode = true,
                    'e' | 'x' | 'u' | 'f' => opts.push(c),
                    'i' => opts.push(c),
                    's' | 'l' | 'm' => {}
                    _ => {
                        ctx.error("sh", format!("-{c}: invalid option"));
                        return 2;
                    }
                }
            }
            i += 1;
            continue;
        }
        if a.starts_with('+') {
            i += 1;
            continue;
        }
        break;
    }
    if cmd_mode {
        match args.get(i) {
            Some(s) => {
                script = Some(s.clone());
                i += 1;
            }
            None => {
                ctx.error("sh", "-c requires an argument");
                return 2;
            }
        }
    }
    let (arg0, params, src_file) = if cmd_mode {
        let arg0 = args.get(i).cloned().unwrap_or_else(|| "sh".into());
        (arg0, args.get(i + 1..).unwrap_or(&[]).to_vec(), None)
    } else if let Some(f) = args.get(i) {
        (f.clone(), args[i + 1..].to_vec(), Some(f.clone()))
    } else {
        ("sh".into(), Vec::new(), None)
    };
    let mut sh = Shell::new(ctx, &arg0, params);
    for c in opts {
        match c {
            'e' => sh.errexit = true,
            'x' => sh.xtrace = true,
            'u' => sh.nounset = true,
            'f' => sh.noglob = true,
            'i' => sh.interactive = true,
            _ => {}
        }
    }
    let r = if let Some(src) = script {
        sh.run_source(&src)
    } else if let Some(f) = src_file {
        match std::fs::read(ctx.path(&f)) {
            Ok(b) => sh.run_source(&String::from_utf8_lossy(&b)),
            Err(e) => {
                ctx.error("sh", format!("can't open '{f}': {}", crate::io::errstr(&e)));
                return 127;
            }
        }
    } else {
        // As ash: reading commands from a terminal makes the shell interactive.
        sh.interactive |= crate::sys::on_terminal();
        if sh.interactive {
            sh.run_interactive()
        } else {
            sh.run_stdin()
        }
    };
    sh.end(r)
}

/// Takes `name` out of the environment the shell starts with (it is not exported further).
#[cfg(target_arch = "wasm32")]
fn take_env(ctx: &mut Ctx, name: &str) -> Option<String> {
    let i = ctx.env.iter().position(|(k, _)| k == name)?;
    Some(ctx.env.remove(i).1)
}

impl Shell {
    /// The shell's exit status once its script ended with `r` (EXIT trap run, output flushed).
    fn end(&mut self, r: Res) -> i32 {
        let st = self.finish(r);
        let _ = self.fd(1).flush();
        let _ = self.fd(2).flush();
        st
    }

    /// Reads commands from a terminal: a prompt before each (PS1, PS2 to go on), ^C ends the
    /// command that runs (the shell itself catches it), an error ends the command, not the
    /// shell, and EOF (^D) or `exit` ends the shell.
    fn run_interactive(&mut self) -> Res {
        /// As busybox's default history size.
        const MAX_HISTORY: usize = 255;
        const SIGINT: i32 = 2;
        crate::sys::set_disposition(SIGINT, crate::sys::Disposition::Catch);
        for ignored in [3, 15] {
            crate::sys::set_disposition(ignored, crate::sys::Disposition::Ignore);
        }
        let input = self.fd(0);
        let mut buf = String::new();
        let mut line = Vec::new();
        loop {
            let prompt = if buf.is_empty() { "PS1" } else { "PS2" };
            let prompt = self
                .vars
                .get(prompt)
                .map(|v| v.value.clone())
                .unwrap_or_default();
            let history = &self.history;
            match lineedit::read_line(&input, &self.fd(2), &prompt, history) {
                lineedit::Edited::Line(text) => line = text.into_bytes(),
                lineedit::Edited::Eof => return Ok(self.status),
                lineedit::Edited::Interrupted => {
                    buf.clear();
                    continue;
                }
                lineedit::Edited::Cooked => {
                    let _ = self.fd(2).write(prompt.as_bytes());
                    let _ = self.fd(2).flush();
                    line.clear();
                    if input.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                        return Ok(self.status);
                    }
                    // ^C at the prompt: the terminal dropped the line; start over on a new one.
                    if crate::sys::take_pending().contains(&SIGINT) {
                        let _ = self.fd(2).write(b"\n");
                        buf.clear();
                    }
                }
            }
            let entry = String::from_utf8_lossy(&line).trim_end().to_string();
            if !entry.is_empty() && self.history.last() != Some(&entry) {
                if self.history.len() >= MAX_HISTORY {
                    self.history.remove(0);
                }
                self.history.push(entry);
            }
            buf.push_str(&String::from_utf8_lossy(&line));
            match parser::Parser::parse_all(&buf) {
                Err(e) if e.contains("end of file") || e.contains("unterminated") => continue,
                _ => {}
            }
            let src = std::mem::take(&mut buf);
            self.failed = false;
            match self.run_source(&src) {
                Ok(st) => self.status = st,
                Err(Ctrl::Exit(130)) if self.failed => {
                    let _ = self.fd(2).write(b"\n");
                }
                Err(Ctrl::Exit(_)) if self.failed => {}
                Err(Ctrl::Exit(st)) => return Err(Ctrl::Exit(st)),
                Err(_) => {}
            }
        }
    }

    /// Reads commands from stdin, running each as soon as it is complete.
    fn run_stdin(&mut self) -> Res {
        let input = self.fd(0);
        let mut buf = String::new();
        let mut line = Vec::new();
        let mut st = 0;
        loop {
            line.clear();
            let n = input.read_until(b'\n', &mut line).unwrap_or(0);
            if n == 0 {
                if !buf.trim().is_empty() {
                    st = self.run_source(&buf)?;
                }
                return Ok(st);
            }
            buf.push_str(&String::from_utf8_lossy(&line));
            match parser::Parser::parse_all(&buf) {
                Err(e) if e.contains("end of file") || e.contains("unterminated") => continue,
                _ => {
                    let src = std::mem::take(&mut buf);
                    st = self.run_source(&src)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
