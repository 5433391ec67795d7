//! `wpod lesson list | show N | run N | check N FILE`: the lessons on what a pod is, in English
//! and Chinese. `run` and `check` run this same binary's `wpod run`, so a lesson shows exactly
//! what a learner's own runs show.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::exit;
use crate::lessons::{self, Entry, Lang, Outcome};

#[derive(Args, Debug)]
pub struct LessonArgs {
    #[command(subcommand)]
    command: LessonCommand,
    /// Language of the lesson texts (default: from the locale, LANG=zh_CN.UTF-8 gives Chinese)
    #[arg(long, global = true, value_enum)]
    lang: Option<LangArg>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum LangArg {
    En,
    Zh,
}

impl LangArg {
    pub(super) fn lang(self) -> Lang {
        match self {
            LangArg::En => Lang::En,
            LangArg::Zh => Lang::Zh,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Which {
    /// The demonstration `wpod lesson run` runs
    Pod,
    /// The exercise's starting point
    Start,
    /// A reference solution
    Solution,
}

#[derive(Subcommand, Debug)]
enum LessonCommand {
    /// List the lessons
    List,
    /// Print a lesson: the explanation, what to observe, the exercise and its starting manifest
    Show {
        number: usize,
        /// Print only this manifest, to save it: `wpod lesson show 10 --manifest start > my.yaml`
        #[arg(long, value_enum)]
        manifest: Option<Which>,
    },
    /// Run the lesson's pod with the flags it needs, then say what to look for in the output
    Run {
        number: usize,
        /// More `wpod run` flags, after `--` (e.g. `-- --backend linux`)
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Grade your manifest for the lesson's exercise: wpod runs it and reads the outcome
    Check { number: usize, file: PathBuf },
}

pub fn lesson(args: LessonArgs) -> u8 {
    let lang = args.lang.map_or_else(Lang::from_locale, LangArg::lang);
    let all = match lessons::all() {
        Ok(all) => all,
        Err(e) => {
            eprintln!("error: a built-in lesson is broken: {e}");
            return exit::INTERNAL;
        }
    };
    let find = |n: usize| -> Result<&Entry, u8> {
        all.iter().find(|e| e.number == n).ok_or_else(|| {
            eprintln!(
                "error: there is no lesson {n}: lessons are 1 to {} (`wpod lesson list`)",
                all.len()
            );
            exit::USAGE
        })
    };
    let result = match args.command {
        LessonCommand::List => {
            list(&all, lang);
            Ok(exit::SUCCEEDED)
        }
        LessonCommand::Show { number, manifest } => find(number).map(|e| {
            show(e, lang, manifest);
            exit::SUCCEEDED
        }),
        LessonCommand::Run { number, extra } => find(number).map(|e| run(e, lang, &extra)),
        LessonCommand::Check { number, file } => find(number).map(|e| check(e, lang, &file)),
    };
    result.unwrap_or_else(|code| code)
}

fn list(all: &[Entry], lang: Lang) {
    for e in all {
        println!("{:>2}  {}", e.number, e.lesson.title.get(lang));
    }
    println!();
    println!(
        "{}",
        match lang {
            Lang::En => "`wpod lesson show N` reads one; `wpod lesson run N` runs its pod.",
            Lang::Zh => "`wpod lesson show N` 阅读一课；`wpod lesson run N` 运行它的 Pod。",
        }
    );
}

fn show(e: &Entry, lang: Lang, manifest: Option<Which>) {
    let text = |which| match which {
        Which::Pod => e.pod,
        Which::Start => e.start,
        Which::Solution => e.solution,
    };
    if let Some(which) = manifest {
        print!("{}", text(which));
        return;
    }
    let l = &e.lesson;
    let (concept, docs, observe, exercise, start, check) = match lang {
        Lang::En => (
            "Concept",
            "Kubernetes docs",
            "Run it",
            "Exercise",
            "Starting manifest",
            "Check your answer",
        ),
        Lang::Zh => (
            "概念",
            "Kubernetes 文档",
            "运行",
            "练习",
            "起始清单",
            "检查答案",
        ),
    };
    let n = e.number;
    println!("# {n}. {}\n", l.title.get(lang));
    println!("{concept}: {}\n{docs}: {}\n", l.concept.get(lang), l.docs);
    println!("{}\n", l.explain.get(lang));
    println!(
        "## {observe}: `wpod lesson run {n}`\n\n{}\n",
        l.observe.get(lang)
    );
    println!("## {exercise}\n\n{}\n", l.exercise.get(lang));
    println!(
        "## {start} (`wpod lesson show {n} --manifest start > lesson-{n}.yaml`)\n\n{}",
        e.start.trim_end()
    );
    println!("\n## {check}: `wpod lesson check {n} lesson-{n}.yaml`");
}

/// The embedded manifest as a file `wpod run` can read, removed when dropped.
struct TempManifest(PathBuf);

impl TempManifest {
    fn new(slug: &str, text: &str) -> std::io::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("wpod-lesson-{}-{slug}.yaml", std::process::id()));
        std::fs::write(&path, text)?;
        Ok(TempManifest(path))
    }
}

impl Drop for TempManifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn wpod() -> Command {
    Command::new(std::env::current_exe().unwrap_or_else(|_| PathBuf::from("wpod")))
}

fn run(e: &Entry, lang: Lang, extra: &[String]) -> u8 {
    let file = match TempManifest::new(e.slug, e.pod) {
        Ok(f) => f,
        Err(err) => {
            eprintln!("error: writing the lesson's manifest: {err}");
            return exit::INTERNAL;
        }
    };
    let args: Vec<&str> = e.lesson.run.args.iter().map(String::as_str).collect();
    println!("# {}. {}", e.number, e.lesson.title.get(lang));
    println!(
        "$ wpod run {} lessons/{}/pod.yaml\n",
        args.iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        e.slug
    );
    let status = wpod()
        .arg("run")
        .args(&args)
        .args(extra)
        .arg(&file.0)
        .status();
    let code = match status {
        Ok(s) => s
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(exit::INTERNAL),
        Err(err) => {
            eprintln!("error: running wpod: {err}");
            return exit::INTERNAL;
        }
    };
    let heading = match lang {
        Lang::En => "What to observe",
        Lang::Zh => "观察要点",
    };
    println!("\n## {heading}\n\n{}", e.lesson.observe.get(lang));
    // A timeout is how the lesson bounds a server: that is the run working.
    if code == exit::TIMEOUT {
        exit::SUCCEEDED
    } else {
        code
    }
}

fn check(e: &Entry, lang: Lang, file: &Path) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("error: reading {}: {err}", file.display());
            return exit::USAGE;
        }
    };
    let out = match wpod()
        .args(["run", "-o", "json", "--color", "never"])
        .args(&e.lesson.check.args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(err) => {
            eprintln!("error: running wpod: {err}");
            return exit::INTERNAL;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(i32::from(exit::USAGE)) {
        // The manifest did not load: what `wpod validate` would say comes first.
        eprint!("{stderr}");
    }
    let outcome = Outcome::parse(&String::from_utf8_lossy(&out.stdout), &stderr);
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(&text, crate::manifest::tree::options())
            .unwrap_or_default();
    let spec = lessons::pod_spec_of(&documents);
    let (passed, failed) = match lang {
        Lang::En => ("passed", "Not yet. Hint: "),
        Lang::Zh => ("通过", "未通过。提示："),
    };
    println!(
        "# {}. {}: {}",
        e.number,
        e.lesson.title.get(lang),
        file.display()
    );
    let mut first_failure = None;
    for x in &e.lesson.check.expect {
        match x.failure(&outcome, &spec) {
            None => println!("  ok    {}", x.describe()),
            Some(found) => {
                println!("  FAIL  {}: {found}", x.describe());
                first_failure.get_or_insert(x);
            }
        }
    }
    match first_failure {
        None => {
            println!("\n{passed}");
            exit::SUCCEEDED
        }
        Some(x) => {
            println!("\n{failed}{}", x.hint.get(lang));
            exit::FAILED
        }
    }
}
