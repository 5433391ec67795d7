//! The command line: one file per subcommand.

mod describe;
mod duration;
mod explain;
mod export;
mod images;
mod inspect;
mod lesson;
mod namespaces;
mod output;
mod parity;
mod run;
mod serve;
mod ui;
mod validate;
mod watchdog;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// How long wpod waits, once done, for blocking tasks still running to finish.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Exit codes of `wpod`, documented in the README.
pub mod exit {
    pub const SUCCEEDED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const STUCK: u8 = 3;
    pub const INTERNAL: u8 = 4;
    pub const TIMEOUT: u8 = 124;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "wpod",
    version,
    about = "Run Kubernetes v1 Pod manifests locally, each container a WebAssembly program",
    after_help = "Exit codes: 0 pod Succeeded, 1 pod Failed, 2 usage error or invalid manifest, \
                  3 pod cannot start (e.g. unknown image), 4 internal error, 124 --timeout expired, \
                  130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pods of one or more manifests until they finish (or until interrupted)
    Run(run::RunArgs),
    /// Check manifests and print every problem found, without running anything
    Validate(validate::ValidateArgs),
    /// List the built-in images and those of the store (`wpod image ls`)
    Images,
    /// Manage the local image store: ls, import, build, inspect, rm
    Image(images::ImageArgs),
    /// Run a manifest on the wasm and the Linux backend and print the differences side by side
    Parity(parity::ParityArgs),
    /// Serve a local Kubernetes API that kubectl and client libraries drive; pods run on this node
    Serve(serve::ServeArgs),
    /// Print the kubeconfig of `wpod serve` (its data directory's `kubeconfig`)
    Kubeconfig(serve::KubeconfigArgs),
    /// Lessons on what a pod is, in English and Chinese: read, run, and check your exercise
    Lesson(lesson::LessonArgs),
    /// Say what `wpod run` will do with a manifest, step by step, naming each Kubernetes concept
    Explain(explain::ExplainArgs),
    /// Draw the inside of a manifest's pods (infra container, namespaces, volumes), also as SVG
    Inspect(inspect::InspectArgs),
    /// Rewrite manifests for a cluster that runs wasm (runwasi, SpinKube or crun) and push their
    /// images to its registry
    Export(export::ExportArgs),
}

pub fn main() -> ExitCode {
    // The Linux backend's helper processes are this binary re-executed with a hidden argument.
    #[cfg(target_os = "linux")]
    if let Some(code) = crate::linux::helper_main() {
        return ExitCode::from(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCEEDED
            });
        }
    };
    crate::host_limits::raise_open_files();
    let code = match cli.command {
        Command::Validate(args) => validate::validate(&args),
        Command::Images => images::list(),
        Command::Image(args) => images::image(args),
        Command::Parity(args) => parity::parity(&args),
        Command::Kubeconfig(args) => serve::kubeconfig(args),
        Command::Lesson(args) => lesson::lesson(args),
        Command::Explain(args) => explain::explain(&args),
        Command::Inspect(args) => inspect::inspect(&args),
        Command::Export(args) => export::export(&args),
        Command::Run(args) if args.clock == run::ClockKind::Virtual => {
            in_virtual_runtime(run::run(args))
        }
        Command::Run(args) => in_runtime(run::run(args)),
        Command::Serve(args) => in_runtime(serve::run(args)),
    };
    ExitCode::from(code)
}

/// Runs an async subcommand on a multi-threaded runtime.
fn in_runtime(command: impl std::future::Future<Output = u8>) -> u8 {
    run_on(
        tokio::runtime::Builder::new_multi_thread().enable_all(),
        command,
    )
}

/// Runs `wpod run --clock virtual` on one thread with tokio's clock paused: it jumps to the next
/// timer whenever no task is ready (a paused clock needs the current-thread scheduler). Work on
/// the blocking pool holds it back until done, so compiling takes no virtual time.
fn in_virtual_runtime(command: impl std::future::Future<Output = u8>) -> u8 {
    run_on(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true),
        command,
    )
}

fn run_on(
    builder: &mut tokio::runtime::Builder,
    command: impl std::future::Future<Output = u8>,
) -> u8 {
    match builder.build() {
        Ok(rt) => {
            let code = rt.block_on(command);
            // Whatever a reader left unread must not keep wpod from exiting with the run's code,
            // nor may a blocking task stuck in the kernel (a guest reading a FIFO no one writes)
            // keep a plain drop of the runtime waiting for ever.
            crate::console::finish();
            rt.shutdown_timeout(RUNTIME_SHUTDOWN);
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::INTERNAL
        }
    }
}
