//! `wpod inspect FILE`: the inside of each pod of a manifest, drawn in the terminal, and with
//! `--svg OUT` as an SVG picture for slides. Nothing is run.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::explain::{load_valid, template_pod};
use super::lesson::LangArg;
use super::run::Backend;
use crate::diagram::Diagram;
use crate::lessons::Lang;
use crate::manifest::Workload;
use crate::plan::PodPlan;

#[derive(Args)]
pub struct InspectArgs {
    /// Manifest file (YAML or JSON, several documents allowed); `-` reads stdin
    #[arg(value_name = "FILE")]
    file: String,
    /// Also draw it as SVG into this file (several pods: one file each, `OUT-2.svg`, ...)
    #[arg(long, value_name = "OUT")]
    svg: Option<PathBuf>,
    /// Language of the labels (default: from the locale)
    #[arg(long, value_enum)]
    lang: Option<LangArg>,
    /// The backend whose isolation is drawn
    #[arg(long, value_enum, default_value = "wasm")]
    backend: Backend,
}

pub fn inspect(args: &InspectArgs) -> u8 {
    let lang = args.lang.map_or_else(Lang::from_locale, LangArg::lang);
    let m = match load_valid(&args.file) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let services = Workload::services(&m.workloads);
    let pods = m
        .pods
        .iter()
        .cloned()
        .chain(m.workloads.iter().filter_map(template_pod));
    let mut drawn = 0;
    for pod in pods {
        let plan = PodPlan::from_pod(&pod, &crate::plan::new_uid(&pod), m.dir.clone());
        let diagram = Diagram::of(&plan, args.backend.drawn(), &services, lang);
        print!("{}", diagram.text());
        drawn += 1;
        if let Some(out) = &args.svg {
            let path = numbered(out, drawn);
            if let Err(e) = std::fs::write(&path, diagram.svg()) {
                eprintln!("error: writing {}: {e}", path.display());
                return exit::FAILED;
            }
            eprintln!("wrote {}", path.display());
        }
    }
    if drawn == 0 {
        eprintln!("{}: no pod or pod template to draw", m.file);
        return exit::USAGE;
    }
    exit::SUCCEEDED
}

/// `out` for the first pod, `out-N.ext` for the Nth.
fn numbered(out: &std::path::Path, n: usize) -> PathBuf {
    if n == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    out.with_file_name(name)
}
