//! `wpod validate`: every diagnostic at once, exit 0 when the manifests can run.

use clap::Args;

use super::exit;
use crate::manifest;

#[derive(Args)]
pub struct ValidateArgs {
    /// Manifest files (YAML or JSON, several documents allowed); `-` reads stdin
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

pub fn validate(args: &ValidateArgs) -> u8 {
    let mut failed = false;
    for file in &args.files {
        let m = match manifest::load_path(file) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        for d in &m.diagnostics {
            eprintln!("{d}");
        }
        let errors = m.errors().count();
        let warnings = m.warnings().count();
        if errors > 0 {
            failed = true;
            eprintln!(
                "{}: invalid: {}",
                m.file,
                counted(errors, "error", warnings)
            );
        } else {
            let pods: Vec<&str> = m
                .pods
                .iter()
                .map(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .or(p.metadata.generate_name.as_deref())
                        .unwrap_or("?")
                })
                .collect();
            let mut parts = vec![format!(
                "{} ({})",
                if pods.len() == 1 {
                    "1 pod".to_string()
                } else {
                    format!("{} pods", pods.len())
                },
                pods.join(", ")
            )];
            // Deployments, ReplicaSets and Services, as `kubectl apply` names them.
            parts.extend(m.workloads.iter().map(|w| {
                format!(
                    "{} {}",
                    w.kind().to_ascii_lowercase(),
                    w.metadata().name.as_deref().unwrap_or("?")
                )
            }));
            println!(
                "{}: valid: {}{}",
                m.file,
                parts.join(", "),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
        }
    }
    if failed { exit::USAGE } else { exit::SUCCEEDED }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn counted(errors: usize, what: &str, warnings: usize) -> String {
    let mut s = plural(errors, what);
    if warnings > 0 {
        s.push_str(&format!(", {}", plural(warnings, "warning")));
    }
    s
}
