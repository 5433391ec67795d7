//! `wpod:process` (wit/deps/wpod-process.wit): processes and signals inside a wasm container.
//!
//! Every run of a program in a container is a process with a pid in its PID namespace: the
//! container's main process, an exec, and the children processes start with `spawn`. A child is
//! a new instance of the container's program in its own Store, with the container's root,
//! volumes, network and memory limit. Signals reach a process that catches them through a
//! queue; a blocking `wasi:io/poll` returns early when one arrives (as a system call returns
//! EINTR), so built-in guests need no polling loop to notice TERM.

mod poll;
pub mod signals;
pub mod stdio;
pub mod table;
pub mod tty;

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

pub use bindings::wpod::process::process::ErrorCode;
use bindings::wpod::process::process::{self as wit, Command, ProcessInfo, State};
use bindings::wpod::process::signals::{self as wit_signals, Disposition as WitDisposition};
use signals::{Disposition, MAX_SIGNAL};
use stdio::{Input, Output, PipeIn, PipeOut, ReadEnd, Stdio, WriteEnd};
use table::{PidNamespace, Process};

pub use poll::{PollView, add_to_linker as add_io_to_linker};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "wpod:process/imports",
        imports: {
            "wpod:process/process.[method]child.wait": async | trappable,
            default: trappable,
        },
        require_store_data_send: true,
        with: {
            "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
            "wasi:io/streams": wasmtime_wasi_io::bindings::wasi::io::streams,
            "wasi:io/error": wasmtime_wasi_io::bindings::wasi::io::error,
            "wpod:process/process.child": super::Child,
        },
    });
}

/// What a new child is: its command line and where its standard streams go.
pub struct ChildCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub stdio: Stdio,
}

/// Starts children from what a process runs (its container's program and context).
pub trait Spawner: Send + Sync {
    /// Enters the child into `parent`'s namespace and starts it running.
    fn spawn(&self, parent: &ProcCtx, command: ChildCommand) -> Result<Arc<Process>, ErrorCode>;

    /// Whether argv[0] `name` runs the container image's program rather than the caller's.
    fn names_image_command(&self, name: &str) -> bool;
}

/// One process's view of processes: itself, its namespace, its stdio (for children that
/// inherit it) and how to start a child.
pub struct ProcCtx {
    pub me: Arc<Process>,
    pub pids: Arc<PidNamespace>,
    pub stdio: Stdio,
    /// None for the pause container, whose program starts nothing.
    pub spawner: Option<Arc<dyn Spawner>>,
}

/// The `child` resource: a child process and the caller's ends of its pipes.
pub struct Child {
    process: Arc<Process>,
    pids: Arc<PidNamespace>,
    stdin: Option<Arc<WriteEnd>>,
    stdout: Option<Arc<ReadEnd>>,
    stderr: Option<Arc<ReadEnd>>,
}

#[async_trait::async_trait]
impl Pollable for Child {
    async fn ready(&mut self) {
        self.process.exited().await;
    }
}

/// The `pollable` behind `signals.subscribe`.
struct SignalWatch(Arc<Process>);

#[async_trait::async_trait]
impl Pollable for SignalWatch {
    async fn ready(&mut self) {
        self.0.signals.wait().await;
    }
}

pub struct ProcView<'a> {
    pub ctx: &'a ProcCtx,
    pub table: &'a mut ResourceTable,
}

struct WpodProcess;

impl HasData for WpodProcess {
    type Data<'a> = ProcView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ProcView<'_>,
) -> wasmtime::Result<()> {
    wit_signals::add_to_linker::<T, WpodProcess>(linker, view)?;
    wit::add_to_linker::<T, WpodProcess>(linker, view)?;
    Ok(())
}

fn signal_number(sig: u8) -> Result<u8, ErrorCode> {
    if sig <= MAX_SIGNAL {
        Ok(sig)
    } else {
        Err(ErrorCode::InvalidArgument)
    }
}

impl wit_signals::Host for ProcView<'_> {
    fn set_disposition(
        &mut self,
        signal: u8,
        disposition: WitDisposition,
    ) -> wasmtime::Result<Result<WitDisposition, ()>> {
        let d = match disposition {
            WitDisposition::Default => Disposition::Default,
            WitDisposition::Ignore => Disposition::Ignore,
            WitDisposition::Catch => Disposition::Catch,
        };
        Ok(match self.ctx.me.signals.set(signal, d) {
            Some(Disposition::Default) => Ok(WitDisposition::Default),
            Some(Disposition::Ignore) => Ok(WitDisposition::Ignore),
            Some(Disposition::Catch) => Ok(WitDisposition::Catch),
            None => Err(()),
        })
    }

    fn subscribe(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let watch = self.table.push(SignalWatch(self.ctx.me.clone()))?;
        subscribe(self.table, watch)
    }

    fn take(&mut self) -> wasmtime::Result<Option<u8>> {
        Ok(self.ctx.me.signals.take())
    }
}

fn info(p: &Process) -> ProcessInfo {
    ProcessInfo {
        pid: p.pid,
        ppid: p.ppid,
        container: p.container.clone(),
        argv: p.argv.clone(),
        state: if p.running() {
            State::Running
        } else {
            State::Zombie
        },
        start_time: p
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        memory: p.memory.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Sends a signal as kill(2) does; 0 only checks that the process is there.
fn send(p: &Process, signal: u8) -> Result<(), ErrorCode> {
    let signal = signal_number(signal)?;
    if !p.running() {
        // A zombie accepts signals and does nothing with them.
        return Ok(());
    }
    if signal != 0 {
        p.signal(signal);
    }
    Ok(())
}

impl wit::Host for ProcView<'_> {
    fn getpid(&mut self) -> wasmtime::Result<u32> {
        Ok(self.ctx.me.pid)
    }

    fn getppid(&mut self) -> wasmtime::Result<u32> {
        Ok(self.ctx.me.ppid)
    }

    fn list(&mut self) -> wasmtime::Result<Vec<ProcessInfo>> {
        Ok(self.ctx.pids.list().iter().map(|p| info(p)).collect())
    }

    fn kill(&mut self, pid: u32, signal: u8) -> wasmtime::Result<Result<(), ErrorCode>> {
        Ok(match self.ctx.pids.get(pid) {
            Some(p) => send(&p, signal),
            None => Err(ErrorCode::NoSuchProcess),
        })
    }

    fn set_terminal_raw(&mut self, raw: bool) -> wasmtime::Result<Result<(), ErrorCode>> {
        Ok(match &self.ctx.stdio.stdin {
            stdio::Input::Tty(t) => {
                t.set_raw(raw);
                Ok(())
            }
            _ => Err(ErrorCode::InvalidArgument),
        })
    }

    fn terminal_size(&mut self) -> wasmtime::Result<Result<(u16, u16), ErrorCode>> {
        Ok(match &self.ctx.stdio.stdin {
            stdio::Input::Tty(t) => {
                let size = t.size();
                Ok((size.height, size.width))
            }
            _ => Err(ErrorCode::InvalidArgument),
        })
    }

    fn names_image_command(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.image_command(&name))
    }

    fn spawn(&mut self, command: Command) -> wasmtime::Result<Result<Resource<Child>, ErrorCode>> {
        if command.argv.is_empty() {
            return Ok(Err(ErrorCode::InvalidArgument));
        }
        let mut pipes = (None, None, None);
        let stdin = match command.stdin {
            wit::Stdio::Inherit => self.ctx.stdio.stdin.clone(),
            wit::Stdio::Null => Input::Null,
            wit::Stdio::Pipe => {
                let (r, w) = stdio::pipe();
                pipes.0 = Some(w);
                Input::Pipe(r)
            }
            wit::Stdio::ChildStdout(other) => {
                let other = self.table.get_mut(&other)?;
                match other.stdout.take() {
                    Some(r) => Input::Pipe(r),
                    None => return Ok(Err(ErrorCode::InvalidArgument)),
                }
            }
        };
        let output = |s: wit::Stdio, inherited: &Output| -> Result<_, ErrorCode> {
            Ok(match s {
                wit::Stdio::Inherit => (inherited.clone(), None),
                wit::Stdio::Null => (Output::Null, None),
                wit::Stdio::Pipe => {
                    let (r, w) = stdio::pipe();
                    (Output::Pipe(w), Some(r))
                }
                wit::Stdio::ChildStdout(_) => return Err(ErrorCode::InvalidArgument),
            })
        };
        let (stdout, stderr) = match (
            output(command.stdout, &self.ctx.stdio.stdout),
            output(command.stderr, &self.ctx.stdio.stderr),
        ) {
            (Ok(o), Ok(e)) => (o, e),
            (Err(code), _) | (_, Err(code)) => return Ok(Err(code)),
        };
        pipes.1 = stdout.1;
        pipes.2 = stderr.1;
        let Some(spawner) = &self.ctx.spawner else {
            return Ok(Err(ErrorCode::InvalidArgument));
        };
        let spawned = spawner.spawn(
            self.ctx,
            ChildCommand {
                argv: command.argv,
                env: command.env,
                cwd: command.cwd,
                stdio: Stdio {
                    stdin,
                    stdout: stdout.0,
                    stderr: stderr.0,
                },
            },
        );
        let process = match spawned {
            Ok(p) => p,
            Err(code) => return Ok(Err(code)),
        };
        let child = Child {
            process,
            pids: self.ctx.pids.clone(),
            stdin: pipes.0,
            stdout: pipes.1,
            stderr: pipes.2,
        };
        Ok(Ok(self.table.push(child)?))
    }
}

impl ProcView<'_> {
    fn image_command(&self, name: &str) -> bool {
        self.ctx
            .spawner
            .as_ref()
            .is_some_and(|s| s.names_image_command(name))
    }
}

impl wit::HostChild for ProcView<'_> {
    fn id(&mut self, this: Resource<Child>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&this)?.process.pid)
    }

    fn take_stdin(
        &mut self,
        this: Resource<Child>,
    ) -> wasmtime::Result<Option<Resource<DynOutputStream>>> {
        let Some(end) = self.table.get_mut(&this)?.stdin.take() else {
            return Ok(None);
        };
        let stream: DynOutputStream = Box::new(PipeOut(end));
        Ok(Some(self.table.push(stream)?))
    }

    fn take_stdout(
        &mut self,
        this: Resource<Child>,
    ) -> wasmtime::Result<Option<Resource<DynInputStream>>> {
        let Some(end) = self.table.get_mut(&this)?.stdout.take() else {
            return Ok(None);
        };
        let stream: DynInputStream = Box::new(PipeIn(end));
        Ok(Some(self.table.push(stream)?))
    }

    fn take_stderr(
        &mut self,
        this: Resource<Child>,
    ) -> wasmtime::Result<Option<Resource<DynInputStream>>> {
        let Some(end) = self.table.get_mut(&this)?.stderr.take() else {
            return Ok(None);
        };
        let stream: DynInputStream = Box::new(PipeIn(end));
        Ok(Some(self.table.push(stream)?))
    }

    fn subscribe_wait(&mut self, this: Resource<Child>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    async fn wait(&mut self, this: Resource<Child>) -> wasmtime::Result<u8> {
        let child = self.table.get(&this)?;
        let (process, pids) = (child.process.clone(), child.pids.clone());
        let code = process.exited().await;
        pids.release(&process);
        Ok(code)
    }

    fn try_wait(&mut self, this: Resource<Child>) -> wasmtime::Result<Option<u8>> {
        let child = self.table.get(&this)?;
        let code = child.process.status();
        if code.is_some() {
            child.pids.release(&child.process);
        }
        Ok(code)
    }

    fn kill(
        &mut self,
        this: Resource<Child>,
        signal: u8,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        Ok(send(&self.table.get(&this)?.process, signal))
    }

    fn drop(&mut self, this: Resource<Child>) -> wasmtime::Result<()> {
        let child = self.table.delete(this)?;
        // Orphaned: it runs on, and leaves the table when it exits.
        child.pids.release(&child.process);
        Ok(())
    }
}
