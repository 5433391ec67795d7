//! Pipelines and background jobs as child processes ([`crate::proc`]), as ash forks them: the
//! stages of `a | b` run at once with a pipe between them, so `tail -f log | grep x` streams and
//! `yes | head -c 1000` ends when head does; `cmd &` runs beside the script, `$!` is its pid and
//! `wait` reaps it.
//!
//! Natively a child is a fork of the shell. On wasm it is `sh -c SCRIPT`, SCRIPT being the piece
//! of syntax tree printed back as source (see [`super::print`]) after a prelude that recreates
//! what a fork would have copied: the functions, the unexported variables, the options and the
//! ignored signals; `$$`, `$?` and `$!` come through `WPOD_SH_FORK`.

use std::io::Write as _;

use super::ast::Node;
use super::{Shell, print};
use crate::io::Fd;
use crate::proc::{self, Child, In, Out};

/// The environment variable a child shell reads its parent's `$$ $? $!` from.
pub const FORK_ENV: &str = "WPOD_SH_FORK";
/// On wasm, where a child is a new instance rather than a fork, the piece of the script a child
/// shell runs and its `$0`: its argv stays its parent's, as a fork's does, so `ps` shows it so.
#[cfg(target_arch = "wasm32")]
pub const FORK_SCRIPT_ENV: &str = "WPOD_SH_FORK_SCRIPT";
#[cfg(target_arch = "wasm32")]
pub const FORK_ARG0_ENV: &str = "WPOD_SH_FORK_ARG0";

/// A background job: its process and its command line, for `jobs`.
pub struct Job {
    pub child: Child,
    pub command: String,
    /// Its status, once reaped.
    pub status: Option<i32>,
}

/// Statuses of jobs that left the table, so a later `wait PID` still gets them.
const REMEMBERED: usize = 1024;

/// The shell's jobs: `%N` is the Nth still in the table (numbers are reused, as in ash).
#[derive(Default)]
pub struct Jobs {
    table: Vec<Job>,
    reaped: std::collections::VecDeque<(u32, i32)>,
}

impl Jobs {
    /// Moves job `i` (reaped) out of the table, remembering its status.
    fn retire(&mut self, i: usize) {
        let job = self.table.remove(i);
        if let Some(st) = job.status {
            if self.reaped.len() == REMEMBERED {
                self.reaped.pop_front();
            }
            self.reaped.push_back((job.child.pid(), st));
        }
    }
}

impl Job {
    fn poll(&mut self) -> Option<i32> {
        if self.status.is_none() {
            self.status = self.child.try_wait();
        }
        self.status
    }
}

/// Variables a child shell sets for itself.
#[cfg(target_arch = "wasm32")]
const OWN: &[&str] = &["PPID", "OPTIND", "LINENO"];

impl Shell {
    /// What a forked copy of this shell would start with, followed by `n`.
    #[cfg(target_arch = "wasm32")]
    fn fork_script(&self, n: &Node) -> String {
        let mut s = String::new();
        let mut funcs: Vec<_> = self.funcs.iter().collect();
        funcs.sort_by(|a, b| a.0.cmp(b.0));
        for (name, body) in funcs {
            s.push_str(&print::source(&Node::Func(name.clone(), body.clone())));
            s.push('\n');
        }
        let mut vars: Vec<_> = self.vars.iter().collect();
        vars.sort_by(|a, b| a.0.cmp(b.0));
        for (name, v) in vars {
            if !v.exported && !OWN.contains(&name.as_str()) {
                s.push_str(&format!("{name}={}\n", super::exec::quote(&v.value)));
            }
            if v.readonly {
                s.push_str(&format!("readonly {name}\n"));
            }
        }
        let flags: String = [
            (self.errexit, 'e'),
            (self.nounset, 'u'),
            (self.xtrace, 'x'),
            (self.noglob, 'f'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect();
        if !flags.is_empty() {
            s.push_str(&format!("set -{flags}\n"));
        }
        s.push_str("set --");
        for p in &self.params {
            s.push(' ');
            s.push_str(&super::exec::quote(p));
        }
        s.push('\n');
        for (sig, action) in &self.traps {
            if action.is_empty() {
                s.push_str(&format!("trap '' {}\n", crate::sys::signal_name(*sig)));
            }
        }
        s.push_str(&print::source(n));
        s
    }

    /// A child running `n`: natively a fork of this shell, on wasm `sh -c` with the script
    /// printed back.
    fn spawn_node(
        &self,
        n: &Node,
        stdin: In<'_>,
        stdout: Out,
        stderr: Out,
    ) -> Result<Child, String> {
        // The child is the subshell already (`(exit 0) &` is one child, as a shell forks once).
        let n = match n {
            Node::Subshell(body) => &**body,
            n => n,
        };
        #[cfg(not(target_arch = "wasm32"))]
        return proc::fork(stdin, stdout, stderr, |fds| {
            let mut sub = self.subshell();
            for (i, fd) in fds.into_iter().enumerate() {
                if let Some(fd) = fd {
                    sub.set_fd(i, fd);
                }
            }
            sub.run_sub(n)
        });
        #[cfg(target_arch = "wasm32")]
        {
            // The process's own argv, as a fork keeps it (`sh -c ...` with the whole script).
            let mut argv: Vec<String> = std::env::args().collect();
            if argv.is_empty() {
                argv.push("sh".into());
            }
            let last_bg = self.last_bg.map_or(String::new(), |p| p.to_string());
            let fork = format!("{} {} {last_bg}", self.pid, self.status);
            let env = self.env(&[
                (FORK_ENV.to_string(), fork),
                (FORK_SCRIPT_ENV.to_string(), self.fork_script(n)),
                (FORK_ARG0_ENV.to_string(), self.arg0.clone()),
            ]);
            proc::spawn(
                &argv,
                &env,
                &self.cwd.display().to_string(),
                stdin,
                stdout,
                stderr,
            )
        }
    }

    /// How a child's output stream `n` is wired: the shell's own stream, nothing, or a pipe the
    /// shell copies into its descriptor (a capture, a file, a duplicate).
    fn out_for(&self, n: usize) -> Out {
        match (n, self.fd(n)) {
            (_, Fd::Null | Fd::Closed) => Out::Null,
            (1, Fd::Stdout) | (2, Fd::Stderr) => Out::Inherit,
            _ => Out::Pipe,
        }
    }

    /// Copies what the shell must feed or collect for `children` until they close.
    fn pump(&self, children: &mut [Child], feed: bool, stdout: Out, stderr: Out) {
        let to = if feed {
            children
                .first_mut()
                .and_then(Child::take_stdin)
                .map(|w| (w, self.fd(0)))
        } else {
            None
        };
        let mut from = Vec::new();
        if matches!(stdout, Out::Pipe)
            && let Some(r) = children.last_mut().and_then(Child::take_stdout)
        {
            from.push((r, self.fd(1)));
        }
        if matches!(stderr, Out::Pipe) {
            for c in children.iter_mut() {
                if let Some(r) = c.take_stderr() {
                    from.push((r, self.fd(2)));
                }
            }
        }
        if to.is_some() || !from.is_empty() {
            proc::pump(to, from, None);
        }
    }

    fn flush_std(&self) {
        let _ = self.fd(1).flush();
        let _ = self.fd(2).flush();
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }

    /// Runs the stages of a pipeline as children at once; the last stage's status.
    pub(super) fn pipeline_children(&mut self, cmds: &[Node]) -> i32 {
        let (stdout, stderr) = (self.out_for(1), self.out_for(2));
        let feed = !matches!(self.fd(0), Fd::Stdin | Fd::Null | Fd::Closed);
        self.flush_std();
        let mut children: Vec<Child> = Vec::with_capacity(cmds.len());
        for (i, c) in cmds.iter().enumerate() {
            let last = i + 1 == cmds.len();
            let input = match children.last_mut() {
                Some(prev) => In::From(prev),
                None if feed => In::Pipe,
                None if matches!(self.fd(0), Fd::Stdin) => In::Inherit,
                None => In::Null,
            };
            let output = if last { stdout } else { Out::Pipe };
            match self.spawn_node(c, input, output, stderr) {
                Ok(child) => children.push(child),
                Err(e) => {
                    self.err(&format!("can't fork: {e}"));
                    // The stages already started see EOF and end.
                    drop(children);
                    return 2;
                }
            }
        }
        self.pump(&mut children, feed, stdout, stderr);
        let mut status = 0;
        for child in &mut children {
            status = child.wait();
        }
        status
    }

    /// A program that is not this one, as a child in the foreground: the container image's own
    /// (`nginx` in an exec whose shell is the toolbox standing in for the nginx image's; on wasm
    /// wpod runs it by name), or natively the executable file `path`.
    pub(super) fn image_command(
        &mut self,
        path: &str,
        argv: &[String],
        assigns: &[(String, String)],
    ) -> i32 {
        let (stdout, stderr) = (self.out_for(1), self.out_for(2));
        let feed = !matches!(self.fd(0), Fd::Stdin | Fd::Null | Fd::Closed);
        let stdin = match self.fd(0) {
            _ if feed => In::Pipe,
            Fd::Stdin => In::Inherit,
            _ => In::Null,
        };
        self.flush_std();
        let env = self.env(assigns);
        let cwd = self.cwd.display().to_string();
        match proc::spawn_command(path, argv, &env, &cwd, (stdin, stdout, stderr)) {
            Ok(child) => {
                let mut children = [child];
                self.pump(&mut children, feed, stdout, stderr);
                children[0].wait()
            }
            Err(e) => {
                self.err(&format!("{}: {e}", argv[0]));
                126
            }
        }
    }

    /// `cmd &`: a child beside the script, stdin from /dev/null as in a non-interactive shell.
    /// One whose output the shell must collect (in a `$(...)`, or a redirected group) is
    /// collected at once, as it has no other way out.
    pub(super) fn background_child(&mut self, n: &Node) -> i32 {
        let (stdout, stderr) = (self.out_for(1), self.out_for(2));
        self.flush_std();
        let mut child = match self.spawn_node(n, In::Null, stdout, stderr) {
            Ok(child) => child,
            Err(e) => {
                self.err(&format!("can't fork: {e}"));
                return 2;
            }
        };
        self.pump(std::slice::from_mut(&mut child), false, stdout, stderr);
        self.last_bg = Some(child.pid());
        self.jobs.borrow_mut().table.push(Job {
            child,
            command: print::source(n).trim_end().to_string(),
            status: None,
        });
        0
    }

    /// `wait [ID...]`: each job's status (127 for one that is not a child of this shell); a
    /// caught signal ends the wait at once with 128 + 15, and its trap runs next.
    pub(super) fn wait_jobs(&mut self, ids: &[String]) -> i32 {
        if ids.is_empty() {
            while !self.jobs.borrow().table.is_empty() {
                if self.wait_job(0).is_none() {
                    return 128 + 15;
                }
            }
            return 0;
        }
        let mut status = 0;
        for id in ids {
            if let Some(i) = self.job_index(id) {
                match self.wait_job(i) {
                    Some(s) => status = s,
                    None => return 128 + 15,
                }
                continue;
            }
            let reaped = id.parse::<u32>().ok().and_then(|pid| {
                let jobs = self.jobs.borrow();
                jobs.reaped
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == pid)
                    .map(|(_, s)| *s)
            });
            match reaped {
                Some(s) => status = s,
                None => {
                    self.err(&format!("wait: pid {id} is not a child of this shell"));
                    status = 127;
                }
            }
        }
        status
    }

    /// Waits for job `i` and takes it out of the table; None if a caught signal came first.
    fn wait_job(&mut self, i: usize) -> Option<i32> {
        let mut jobs = self.jobs.borrow_mut();
        let job = jobs.table.get_mut(i)?;
        let status = match job.status {
            Some(s) => s,
            None => job.child.wait_or_signal()?,
        };
        job.status = Some(status);
        jobs.retire(i);
        Some(status)
    }

    /// `%N`, `%%`/`%+` (the last job) or a pid.
    fn job_index(&self, id: &str) -> Option<usize> {
        let jobs = self.jobs.borrow();
        let table = &jobs.table;
        match id.strip_prefix('%') {
            Some("" | "%" | "+") => table.len().checked_sub(1),
            Some(n) => n
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .filter(|&n| n < table.len()),
            None => {
                let pid = id.parse::<u32>().ok()?;
                table.iter().position(|j| j.child.pid() == pid)
            }
        }
    }

    /// The pid of a `%N` job for `kill`; other words unchanged.
    pub(super) fn job_pid(&self, word: &str) -> String {
        if word.starts_with('%')
            && let Some(i) = self.job_index(word)
        {
            return self.jobs.borrow().table[i].child.pid().to_string();
        }
        word.to_string()
    }

    /// `jobs`: `[N]+  Running  command`; finished ones are reported once, as Done, and leave.
    pub(super) fn list_jobs(&mut self) -> String {
        let mut out = String::new();
        let mut jobs = self.jobs.borrow_mut();
        let count = jobs.table.len();
        for (i, job) in jobs.table.iter_mut().enumerate() {
            let mark = if i + 1 == count { '+' } else { ' ' };
            let state = match job.poll() {
                None => "Running".to_string(),
                Some(0) => "Done".to_string(),
                Some(s) => format!("Done({s})"),
            };
            out.push_str(&format!("[{}]{mark}  {state:<24}{}\n", i + 1, job.command));
        }
        for i in (0..count).rev() {
            if jobs.table[i].status.is_some() {
                jobs.retire(i);
            }
        }
        out
    }
}
