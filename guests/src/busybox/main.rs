//! `busybox`: the built-in busybox-compatible image of wpod.
//!
//! A multi-call program: the applet is the basename of argv[0] (`sh`, `/bin/ls`), or argv[1] when
//! argv[0] is `busybox` (`busybox ls -l`). The shell (`sh`) is an ash-like interpreter:
//!
//! - applets and builtins are functions taking (args, stdin, stdout, stderr, env, cwd) and
//!   returning a status, run in the shell's own process;
//! - pipeline stages, subshells `( )` and background jobs (`cmd &`) are child processes running
//!   at once (see [`proc`]): forked natively, and on wasm new instances of this program started
//!   through wpod's `wpod:process` extension, so pipes stream and `$!`, `wait`, `jobs` and
//!   `kill %N` work;
//! - `$(...)` runs on a clone of the shell state in the same process;
//! - signals: `trap` catches what the kernel (natively) or wpod (on wasm) delivers (see [`sys`]).

#[path = "../common/mod.rs"]
mod common;

mod applets;
mod io;
mod proc;
mod regex;
mod shell;
mod sys;

fn main() {
    common::enter_working_dir();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = dispatch(&argv);
    common::exit((code & 0xff) as u8)
}

/// Picks the applet from argv and runs it with the process's stdio.
fn dispatch(argv: &[String]) -> i32 {
    let base = argv.first().map(|a| basename(a)).unwrap_or("busybox");
    let mut ctx = io::Ctx::process();
    if applets::exists(base) {
        return applets::run(&mut ctx, base, &argv[1..]);
    }
    // Started under another name (an exec of a command the image does not have): as a runtime
    // reports a missing executable, with the shell's status for it.
    // The toolbox itself is `busybox`, also as an image's program file (`/busybox.wasm`).
    if base != "busybox" && base != "busybox.wasm" {
        ctx.write_err(format!("exec: \"{base}\": executable file not found in $PATH\n").as_bytes());
        return 127;
    }
    match argv.get(1) {
        Some(name) if applets::exists(name) => applets::run(&mut ctx, name, &argv[2..]),
        Some(name) if name == "--list" => {
            let mut s = String::new();
            for a in applets::names() {
                s.push_str(a);
                s.push('\n');
            }
            ctx.write_out(s.as_bytes());
            0
        }
        Some(name) if !name.starts_with('-') => {
            ctx.write_err(format!("{name}: applet not found\n").as_bytes());
            127
        }
        _ => {
            ctx.write_out(applets::usage().as_bytes());
            0
        }
    }
}

fn basename(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}
