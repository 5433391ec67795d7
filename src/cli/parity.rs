//! `wpod parity FILE`: runs a manifest on the wasm backend and on the Linux backend and prints how
//! the outcomes differ, side by side (or "no differences").

use std::process::{Command, Stdio};

use clap::Args;

use super::exit;
use crate::manifest;
use crate::parity;

#[derive(Args)]
pub struct ParityArgs {
    /// The manifest to run on both backends
    #[arg(value_name = "FILE")]
    file: String,
    /// Passed to both runs: stop after DURATION (pods that never end need it)
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Passed to both runs: override terminationGracePeriodSeconds
    #[arg(long, value_name = "DURATION")]
    grace_period: Option<String>,
    /// Passed to both runs: first CrashLoopBackOff delay
    #[arg(long, value_name = "DURATION")]
    backoff_base: Option<String>,
}

pub fn parity(args: &ParityArgs) -> u8 {
    // Said before anything runs: the comparison needs both backends.
    if !cfg!(target_os = "linux") {
        eprintln!(
            "error: wpod parity compares the wasm backend with the Linux one, which needs Linux (this is {})",
            std::env::consts::OS
        );
        return exit::USAGE;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the wpod binary: {e}");
            return exit::INTERNAL;
        }
    };
    // hostPath directories are compared as the runs leave them; each run sees the previous one's.
    let host_paths: Vec<String> = manifest::load_path(&args.file)
        .map(|m| {
            m.pods
                .iter()
                .flat_map(|p| p.spec.iter().flat_map(|s| s.volumes.iter().flatten()))
                .filter_map(|v| v.host_path.as_ref().map(|h| h.path.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut outcomes = Vec::new();
    for backend in ["wasm", "linux"] {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "run",
            "-o",
            "json",
            "--color",
            "never",
            "--backend",
            backend,
        ]);
        for (flag, value) in [
            ("--timeout", &args.timeout),
            ("--grace-period", &args.grace_period),
            ("--backoff-base", &args.backoff_base),
        ] {
            if let Some(v) = value {
                cmd.args([flag, v]);
            }
        }
        cmd.arg(&args.file).stdin(Stdio::null());
        eprintln!("-- running {} on the {backend} backend", args.file);
        let out = match cmd.output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: running wpod: {e}");
                return exit::INTERNAL;
            }
        };
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if code == i32::from(exit::USAGE) {
            eprint!("{stderr}");
            return exit::USAGE;
        }
        let mut o = parity::outcome(code, &stdout, &stderr);
        for dir in &host_paths {
            parity::add_files(&mut o, std::path::Path::new(dir));
        }
        outcomes.push(o);
    }
    let diffs = parity::differences(&outcomes[0], &outcomes[1]);
    if diffs.is_empty() {
        println!("no differences");
        exit::SUCCEEDED
    } else {
        print!("{}", parity::render(&diffs, "wasm", "linux"));
        exit::FAILED
    }
}
