//! Running the syntax tree: lists, pipelines, compound commands, redirections and simple
//! commands (functions, builtins, applets).

use std::fs::OpenOptions;
use std::rc::Rc;

use super::ast::{Node, Redir, RedirOp, Simple};
use super::{Ctrl, Res, Shell, glob};
use crate::io::{Fd, errstr};
use crate::{applets, sys};

/// Applets that ash implements as builtins: a write to a closed pipe kills the shell (SIGPIPE).
const SHELL_LEVEL: &[&str] = &["echo", "printf", "test", "[", "[[", "true", "false", "kill"];

pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// ^C.
const SIGINT: i32 = 2;

impl Shell {
    /// Runs a top-level command (after checking for signals).
    pub fn exec_top(&mut self, n: &Node) -> Res {
        self.exec(n)
    }

    fn check_errexit(&mut self, st: i32) -> Res {
        self.status = st;
        if st != 0 && self.errexit && self.no_errexit == 0 {
            return Err(Ctrl::Exit(st));
        }
        Ok(st)
    }

    /// Runs the traps of signals that arrived. In an interactive shell a ^C without a trap
    /// abandons the command line that runs (status 130), as ash's interrupt does.
    pub fn check_signals(&mut self) -> Result<(), Ctrl> {
        for sig in sys::take_pending() {
            match self.traps.get(&sig).cloned() {
                Some(action) if !action.is_empty() => {
                    let saved = self.status;
                    self.run_source(&action)?;
                    self.status = saved;
                }
                None if sig == SIGINT && self.interactive => {
                    self.status = 130;
                    self.failed = true;
                    return Err(Ctrl::Exit(130));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn cond(&mut self, n: &Node) -> Res {
        self.no_errexit += 1;
        let r = self.exec(n);
        self.no_errexit -= 1;
        r
    }

    pub fn exec(&mut self, n: &Node) -> Res {
        self.check_signals()?;
        let st = match n {
            Node::Simple(s) => {
                let r = self.exec_simple(s);
                // A signal that interrupted it (a `sleep`, a `wait`) is handled now, as a shell
                // runs a trap when the command it was waiting for returns.
                self.check_signals()?;
                return r;
            }
            Node::Pipeline(cmds, bang) => {
                if *bang {
                    let st = if cmds.len() == 1 {
                        self.cond(&cmds[0])?
                    } else {
                        self.no_errexit += 1;
                        let st = self.pipeline(cmds);
                        self.no_errexit -= 1;
                        st
                    };
                    let st = i32::from(st == 0);
                    self.status = st;
                    return Ok(st);
                }
                let st = self.pipeline(cmds);
                return self.check_errexit(st);
            }
            Node::And(a, b) => {
                let st = self.cond(a)?;
                if st == 0 { self.exec(b)? } else { st }
            }
            Node::Or(a, b) => {
                let st = self.cond(a)?;
                if st != 0 { self.exec(b)? } else { st }
            }
            Node::List(items) => {
                let mut st = self.status;
                if items.is_empty() {
                    st = 0;
                }
                for (n, bg) in items {
                    st = if *bg {
                        self.background(n)
                    } else {
                        self.exec(n)?
                    };
                }
                st
            }
            Node::Group(b) => self.exec(b)?,
            Node::Subshell(b) => {
                // A child process, as a shell forks one: `ps` shows it, `$$` stays the parent's.
                let st = self.pipeline_children(std::slice::from_ref(&**b));
                return self.check_errexit(st);
            }
            Node::If(arms, els) => {
                let mut st = 0;
                let mut done = false;
                for (c, body) in arms {
                    if self.cond(c)? == 0 {
                        st = self.exec(body)?;
                        done = true;
                        break;
                    }
                }
                if !done && let Some(e) = els {
                    st = self.exec(e)?;
                }
                st
            }
            Node::Loop { cond, body, until } => {
                self.loop_depth += 1;
                let r = self.run_loop(cond, body, *until);
                self.loop_depth -= 1;
                r?
            }
            Node::For { var, words, body } => {
                let items = match words {
                    Some(ws) => self.expand_words(ws)?,
                    None => self.params.clone(),
                };
                self.loop_depth += 1;
                let r = self.run_for(var, &items, body);
                self.loop_depth -= 1;
                r?
            }
            Node::Case(w, arms) => {
                let word = self.expand_str(w)?;
                let mut st = 0;
                'arms: for (pats, body) in arms {
                    for p in pats {
                        let pat = self.expand_pattern(p)?;
                        if glob::matches(&pat, &word) {
                            st = self.exec(body)?;
                            break 'arms;
                        }
                    }
                }
                st
            }
            Node::Func(name, body) => {
                self.funcs.insert(name.clone(), Rc::clone(body));
                0
            }
            Node::Redirected(inner, redirs) => {
                let saved = self.fds.clone();
                match self.redirect(redirs)? {
                    Some(msg) => {
                        self.fds = saved;
                        self.err(&msg);
                        return self.check_errexit(1);
                    }
                    None => {
                        let r = self.exec(inner);
                        let _ = self.fd(1).flush();
                        self.fds = saved;
                        r?
                    }
                }
            }
        };
        self.status = st;
        Ok(st)
    }

    fn run_loop(&mut self, cond: &Node, body: &Node, until: bool) -> Res {
        let mut st = 0;
        loop {
            let c = match self.cond(cond) {
                Ok(c) => c,
                Err(Ctrl::Break(n)) => {
                    return if n > 1 {
                        Err(Ctrl::Break(n - 1))
                    } else {
                        Ok(st)
                    };
                }
                Err(Ctrl::Continue(n)) if n > 1 => return Err(Ctrl::Continue(n - 1)),
                Err(Ctrl::Continue(_)) => continue,
                Err(e) => return Err(e),
            };
            if (c == 0) == until {
                return Ok(st);
            }
            match self.exec(body) {
                Ok(s) => st = s,
                Err(Ctrl::Break(n)) => {
                    return if n > 1 {
                        Err(Ctrl::Break(n - 1))
                    } else {
                        Ok(st)
                    };
                }
                Err(Ctrl::Continue(n)) if n > 1 => return Err(Ctrl::Continue(n - 1)),
                Err(Ctrl::Continue(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn run_for(&mut self, var: &str, items: &[String], body: &Node) -> Res {
        let mut st = 0;
        for it in items {
            if let Err(e) = self.set_var(var, it) {
                return Err(self.fatal(&e));
            }
            match self.exec(body) {
                Ok(s) => st = s,
                Err(Ctrl::Break(n)) => {
                    return if n > 1 {
                        Err(Ctrl::Break(n - 1))
                    } else {
                        Ok(st)
                    };
                }
                Err(Ctrl::Continue(n)) if n > 1 => return Err(Ctrl::Continue(n - 1)),
                Err(Ctrl::Continue(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(st)
    }

    fn pipeline(&mut self, cmds: &[Node]) -> i32 {
        self.pipeline_children(cmds)
    }

    fn background(&mut self, n: &Node) -> i32 {
        let st = self.background_child(n);
        self.status = st;
        st
    }

    /// Applies redirections to `self.fds`; Ok(Some(message)) if one fails.
    pub fn redirect(&mut self, redirs: &[Redir]) -> Result<Option<String>, Ctrl> {
        for r in redirs {
            let default = match r.op {
                RedirOp::In | RedirOp::DupIn | RedirOp::ReadWrite | RedirOp::HereDoc => 0,
                _ => 1,
            };
            let n = r.fd.map(|n| n as usize).unwrap_or(default);
            if r.op == RedirOp::HereDoc {
                let (body, expand) = r.body.clone().unwrap_or_default();
                let text = if expand {
                    self.expand_heredoc(&body)?
                } else {
                    body
                };
                self.set_fd(n, Fd::mem(text.into_bytes()));
                continue;
            }
            let target = self.expand_str(&r.target)?;
            let fd = match r.op {
                RedirOp::DupIn | RedirOp::DupOut => {
                    if target == "-" {
                        Fd::Closed
                    } else if let Ok(m) = target.parse::<usize>() {
                        match self.fd(m) {
                            Fd::Closed => return Ok(Some(format!("{m}: bad file descriptor"))),
                            fd => fd,
                        }
                    } else if r.op == RedirOp::DupOut && r.fd.is_none() {
                        // `>&file` is `>file 2>&1`.
                        let fd = match self.open_out(&target, false) {
                            Ok(fd) => fd,
                            Err(m) => return Ok(Some(m)),
                        };
                        self.set_fd(2, fd.clone());
                        fd
                    } else {
                        return Ok(Some(format!("{target}: bad file descriptor")));
                    }
                }
                RedirOp::In | RedirOp::ReadWrite => match self.open_in(&target, r.op) {
                    Ok(fd) => fd,
                    Err(m) => return Ok(Some(m)),
                },
                RedirOp::Out | RedirOp::Append | RedirOp::OutErr => {
                    match self.open_out(&target, r.op == RedirOp::Append) {
                        Ok(fd) => {
                            if r.op == RedirOp::OutErr {
                                self.set_fd(2, fd.clone());
                            }
                            fd
                        }
                        Err(m) => return Ok(Some(m)),
                    }
                }
                RedirOp::HereDoc => Fd::Null,
            };
            self.set_fd(n, fd);
        }
        Ok(None)
    }

    fn special_file(&self, path: &str) -> Option<Fd> {
        match path {
            "/dev/null" => Some(Fd::Null),
            "/dev/stdin" | "/dev/fd/0" => Some(self.fd(0)),
            "/dev/stdout" | "/dev/fd/1" => Some(self.fd(1)),
            "/dev/stderr" | "/dev/fd/2" => Some(self.fd(2)),
            _ => None,
        }
    }

    fn open_in(&self, target: &str, op: RedirOp) -> Result<Fd, String> {
        if let Some(fd) = self.special_file(target) {
            return Ok(fd);
        }
        let p = crate::io::resolve(&self.cwd, target);
        let r = if op == RedirOp::ReadWrite {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
                .map(Fd::writer)
        } else {
            std::fs::File::open(&p).map(Fd::reader)
        };
        r.map_err(|e| format!("can't open '{target}': {}", errstr(&e)))
    }

    fn open_out(&self, target: &str, append: bool) -> Result<Fd, String> {
        if let Some(fd) = self.special_file(target) {
            return Ok(fd);
        }
        let p = crate::io::resolve(&self.cwd, target);
        let mut o = OpenOptions::new();
        o.write(true).create(true);
        if append {
            o.append(true);
        } else {
            o.truncate(true);
        }
        o.open(&p).map(Fd::writer).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("can't create {target}: nonexistent directory")
            } else {
                format!("can't create {target}: {}", errstr(&e))
            }
        })
    }

    fn exec_simple(&mut self, s: &Simple) -> Res {
        self.line = s.line;
        self.cmdsub_status = None;
        let argv = self.expand_words(&s.words)?;
        let mut assigns = Vec::new();
        for (name, w) in &s.assigns {
            let v = self.expand_str(w)?;
            assigns.push((name.clone(), v));
        }
        if self.xtrace {
            let mut line: Vec<String> = assigns
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(v)))
                .collect();
            line.extend(argv.iter().map(|a| quote(a)));
            let ps4 = self.get("PS4").unwrap_or_else(|| "+ ".into());
            let _ = self
                .fd(2)
                .write(format!("{ps4}{}\n", line.join(" ")).as_bytes());
        }
        if argv.is_empty() {
            for (k, v) in &assigns {
                if let Err(e) = self.set_var(k, v) {
                    return Err(self.fatal(&e));
                }
            }
            let mut st = self.cmdsub_status.unwrap_or(0);
            if !s.redirs.is_empty() {
                let saved = self.fds.clone();
                let r = self.redirect(&s.redirs);
                self.fds = saved;
                if let Some(msg) = r? {
                    self.err(&msg);
                    st = 1;
                }
            }
            return self.check_errexit(st);
        }
        let saved = self.fds.clone();
        if let Some(msg) = self.redirect(&s.redirs)? {
            self.fds = saved;
            self.err(&msg);
            return self.check_errexit(1);
        }
        let keep_fds = argv.len() == 1 && argv[0] == "exec";
        let r = self.run_command(&argv, &assigns);
        let _ = self.fd(1).flush();
        if !keep_fds {
            self.fds = saved;
        }
        let st = r?;
        self.check_errexit(st)
    }

    /// Runs a command by name: special builtin, function, builtin, applet or script file.
    pub fn run_command(&mut self, argv: &[String], assigns: &[(String, String)]) -> Res {
        let name = argv[0].as_str();
        if name == "kill" && argv.iter().any(|a| a.starts_with('%')) {
            let argv: Vec<String> = argv.iter().map(|a| self.job_pid(a)).collect();
            return self.run_external(&argv, assigns);
        }
        if builtins::is_special(name) {
            for (k, v) in assigns {
                if let Err(e) = self.set_var(k, v) {
                    self.err(&e);
                    return Ok(1);
                }
            }
            return builtins::run(self, name, argv);
        }
        if let Some(body) = self.funcs.get(name).cloned() {
            return self.with_temp_vars(assigns, |sh| sh.call_function(&body, argv));
        }
        if builtins::is_builtin(name) {
            return self.with_temp_vars(assigns, |sh| builtins::run(sh, name, argv));
        }
        self.run_external(argv, assigns)
    }

    /// Runs an applet or a script file (no functions or builtins).
    pub fn run_external(&mut self, argv: &[String], assigns: &[(String, String)]) -> Res {
        let name = argv[0].as_str();
        let base = name.rsplit('/').next().unwrap_or(name);
        let is_path = name.contains('/');
        let std_dir = [
            "/bin/",
            "/sbin/",
            "/usr/bin/",
            "/usr/sbin/",
            "/usr/local/bin/",
        ]
        .iter()
        .any(|d| name.strip_prefix(d) == Some(base));
        if (!is_path || std_dir) && applets::exists(base) {
            let mut ctx = self.ctx(assigns);
            let st = applets::run(&mut ctx, base, &argv[1..]);
            if st == 141 && SHELL_LEVEL.contains(&base) && self.fd(1).is_broken_pipe() {
                return Err(Ctrl::Exit(141));
            }
            return Ok(st);
        }
        if !is_path {
            // A script found on PATH runs as a shell script.
            let path = self.get("PATH").unwrap_or_default();
            for dir in path.split(':').filter(|d| !d.is_empty()) {
                let cand = format!("{dir}/{name}");
                if crate::io::resolve(&self.cwd, &cand).is_file() {
                    return self.run_script_file(&cand, argv, assigns);
                }
            }
            // On wasm the image's own programs are not files: wpod says which names run them.
            #[cfg(target_arch = "wasm32")]
            if crate::sys::names_image_command(name) {
                return Ok(self.image_command(name, argv, assigns));
            }
            self.err(&format!("{name}: not found"));
            return Ok(127);
        }
        let p = crate::io::resolve(&self.cwd, name);
        match p.metadata() {
            Err(_) => {
                self.err(&format!("{name}: not found"));
                Ok(127)
            }
            Ok(m) if m.is_dir() => {
                self.err(&format!("{name}: Permission denied"));
                Ok(126)
            }
            Ok(_) => self.run_script_file(name, argv, assigns),
        }
    }

    /// Runs a file as a script: `#!` naming an applet (`#!/bin/sh`, `#!/bin/busybox sh`) or no
    /// `#!` at all runs in a new shell; anything else is not executable here.
    fn run_script_file(
        &mut self,
        path: &str,
        argv: &[String],
        assigns: &[(String, String)],
    ) -> Res {
        let p = crate::io::resolve(&self.cwd, path);
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) => {
                self.err(&format!("{path}: {}", errstr(&e)));
                return Ok(126);
            }
        };
        // A native program (the image's own nginx in a Linux container): executed, not read.
        #[cfg(not(target_arch = "wasm32"))]
        if data.starts_with(b"\x7fELF") {
            return Ok(self.image_command(&p.display().to_string(), argv, assigns));
        }
        let mut args: Vec<String> = Vec::new();
        let interp = if let Some(rest) = data.strip_prefix(b"#!") {
            let line = String::from_utf8_lossy(rest.split(|&b| b == b'\n').next().unwrap_or(&[]))
                .trim()
                .to_string();
            let mut parts = line.split_whitespace().map(str::to_string);
            let prog = parts.next().unwrap_or_default();
            let mut base = prog.rsplit('/').next().unwrap_or("").to_string();
            if base == "env" || base == "busybox" {
                base = parts.next().unwrap_or_default();
            }
            args.extend(parts);
            base
        } else if data.contains(&0) {
            self.err(&format!("{path}: Permission denied"));
            return Ok(126);
        } else {
            "sh".to_string()
        };
        let interp = match interp.as_str() {
            "bash" | "ash" | "dash" => "sh".to_string(),
            _ => interp,
        };
        if !applets::exists(&interp) {
            self.err(&format!("{path}: {interp}: not found"));
            return Ok(127);
        }
        args.push(path.to_string());
        args.extend(argv[1..].iter().cloned());
        let mut ctx = self.ctx(assigns);
        Ok(applets::run(&mut ctx, &interp, &args))
    }

    fn with_temp_vars(
        &mut self,
        assigns: &[(String, String)],
        f: impl FnOnce(&mut Shell) -> Res,
    ) -> Res {
        let mut saved = Vec::new();
        for (k, v) in assigns {
            saved.push((k.clone(), self.vars.get(k).cloned()));
            let var = self.vars.entry(k.clone()).or_default();
            if var.readonly {
                self.err(&format!("{k}: is read only"));
                return Ok(1);
            }
            var.value = v.clone();
            var.exported = true;
        }
        let r = f(self);
        for (k, old) in saved.into_iter().rev() {
            match old {
                Some(v) => {
                    self.vars.insert(k, v);
                }
                None => {
                    self.vars.remove(&k);
                }
            }
        }
        r
    }

    pub fn call_function(&mut self, body: &Node, argv: &[String]) -> Res {
        if self.depth > 500 {
            return Err(self.fatal("function recursion too deep"));
        }
        let saved = std::mem::replace(&mut self.params, argv[1..].to_vec());
        self.locals.push(Vec::new());
        self.depth += 1;
        let loops = std::mem::replace(&mut self.loop_depth, 0);
        let r = self.exec(body);
        self.loop_depth = loops;
        self.depth -= 1;
        if let Some(frame) = self.locals.pop() {
            for (k, old) in frame.into_iter().rev() {
                match old {
                    Some(v) => {
                        self.vars.insert(k, v);
                    }
                    None => {
                        self.vars.remove(&k);
                    }
                }
            }
        }
        self.params = saved;
        match r {
            Err(Ctrl::Return(s)) => {
                self.status = s;
                Ok(s)
            }
            r => r,
        }
    }
}

use super::builtins;

impl super::arith::Vars for Shell {
    fn get_var(&self, name: &str) -> Option<String> {
        self.param(name)
    }
    fn set_var(&mut self, name: &str, value: String) -> Result<(), String> {
        Shell::set_var(self, name, &value)
    }
}
