//! Child processes of the shell: on wasm, new instances of this program in the same container
//! (wpod:process `spawn`) running `sh -c SCRIPT`; natively, forked copies of the shell, as ash
//! makes them.
//!
//! A child's streams are the caller's own, nothing, a pipe the caller reads or writes without
//! blocking ([`Reader`], [`Writer`], [`wait_ready`]), or (stdin) the stdout pipe of an earlier
//! child, as a pipeline joins its stages.

use std::io;

use crate::io::Fd;

pub enum In<'a> {
    Inherit,
    Null,
    Pipe,
    /// What this earlier child writes to its stdout (spawned with `Out::Pipe`, not taken).
    From(&'a mut Child),
}

/// stdin, stdout, stderr of a new child.
pub type Streams<'a> = (In<'a>, Out, Out);

#[derive(Clone, Copy)]
pub enum Out {
    Inherit,
    Null,
    Pipe,
}

/// What a non-blocking read or write did.
pub enum Io {
    Done(usize),
    WouldBlock,
    /// EOF for a reader; EPIPE for a writer.
    Closed,
}

#[cfg(not(target_arch = "wasm32"))]
pub use imp::fork;
#[cfg(target_arch = "wasm32")]
pub use imp::spawn;
pub use imp::spawn_command;
pub use imp::{Child, Reader, Writer, spawn_applet, wait_ready};

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{In, Io, Out};
    use crate::common::wit::wasi::io::poll::{self, Pollable};
    use crate::common::wit::wasi::io::streams::{InputStream, OutputStream, StreamError};
    use crate::common::wit::wpod::process::{process, signals};

    pub struct Child {
        handle: process::Child,
    }

    pub struct Reader(InputStream);
    pub struct Writer(OutputStream);

    fn stdio<'a>(o: Out) -> process::Stdio<'a> {
        match o {
            Out::Inherit => process::Stdio::Inherit,
            Out::Null => process::Stdio::Null,
            Out::Pipe => process::Stdio::Pipe,
        }
    }

    fn error(e: process::ErrorCode) -> String {
        match e {
            process::ErrorCode::TooManyProcesses => "Resource temporarily unavailable".into(),
            process::ErrorCode::NoSuchDirectory => "No such file or directory".into(),
            process::ErrorCode::NoSuchProcess => "No such process".into(),
            process::ErrorCode::InvalidArgument => "Invalid argument".into(),
        }
    }

    pub fn spawn(
        argv: &[String],
        env: &[(String, String)],
        cwd: &str,
        stdin: In<'_>,
        stdout: Out,
        stderr: Out,
    ) -> Result<Child, String> {
        let stdin = match stdin {
            In::Inherit => process::Stdio::Inherit,
            In::Null => process::Stdio::Null,
            In::Pipe => process::Stdio::Pipe,
            In::From(c) => process::Stdio::ChildStdout(&c.handle),
        };
        let command = process::Command {
            argv: argv.to_vec(),
            env: env.to_vec(),
            cwd: Some(cwd.to_string()),
            stdin,
            stdout: stdio(stdout),
            stderr: stdio(stderr),
        };
        process::spawn(&command)
            .map(|handle| Child { handle })
            .map_err(error)
    }

    impl Child {
        pub fn pid(&self) -> u32 {
            self.handle.id()
        }

        pub fn take_stdin(&mut self) -> Option<Writer> {
            self.handle.take_stdin().map(Writer)
        }

        pub fn take_stdout(&mut self) -> Option<Reader> {
            self.handle.take_stdout().map(Reader)
        }

        pub fn take_stderr(&mut self) -> Option<Reader> {
            self.handle.take_stderr().map(Reader)
        }

        /// Waits for it to exit; None when a caught signal arrived first.
        pub fn wait_or_signal(&mut self) -> Option<i32> {
            if let Some(code) = self.handle.try_wait() {
                return Some(i32::from(code));
            }
            let exited = self.handle.subscribe_wait();
            let signal = signals::subscribe();
            let _ = poll::poll(&[&exited, &signal]);
            self.handle.try_wait().map(i32::from)
        }

        pub fn wait(&mut self) -> i32 {
            i32::from(self.handle.wait())
        }

        pub fn try_wait(&mut self) -> Option<i32> {
            self.handle.try_wait().map(i32::from)
        }

        /// Waits at most `d` for it to exit.
        pub fn wait_timeout(&mut self, d: std::time::Duration) -> Option<i32> {
            if let Some(code) = self.try_wait() {
                return Some(code);
            }
            use crate::common::wit::wasi::clocks::monotonic_clock;
            let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            let timer = monotonic_clock::subscribe_duration(nanos);
            let exited = self.handle.subscribe_wait();
            let _ = poll::poll(&[&exited, &timer]);
            self.try_wait()
        }

        pub fn kill(&mut self, sig: i32) {
            if let Ok(sig) = u8::try_from(sig) {
                let _ = self.handle.kill(sig);
            }
        }
    }

    /// Spawns `argv` (argv[0] picks the program: the container image's own, which is not a file
    /// here, so `_path` says nothing more) with this environment and working directory.
    pub fn spawn_command(
        _path: &str,
        argv: &[String],
        env: &[(String, String)],
        cwd: &str,
        streams: super::Streams,
    ) -> Result<Child, String> {
        spawn(argv, env, cwd, streams.0, streams.1, streams.2)
    }

    /// Spawns an applet (argv[0] picks it) with the caller's environment.
    pub fn spawn_applet(
        ctx: &crate::io::Ctx,
        argv: &[String],
        streams: super::Streams,
    ) -> Result<Child, String> {
        spawn(
            argv,
            &ctx.env,
            &ctx.cwd.display().to_string(),
            streams.0,
            streams.1,
            streams.2,
        )
    }

    impl Reader {
        pub fn read(&mut self, buf: &mut Vec<u8>, max: usize) -> Io {
            match self.0.read(max as u64) {
                Ok(b) if b.is_empty() => Io::WouldBlock,
                Ok(b) => {
                    buf.extend_from_slice(&b);
                    Io::Done(b.len())
                }
                Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => Io::Closed,
            }
        }

        fn pollable(&self) -> Pollable {
            self.0.subscribe()
        }
    }

    impl Writer {
        pub fn write(&mut self, data: &[u8]) -> Io {
            match self.0.check_write() {
                Ok(0) => Io::WouldBlock,
                Ok(n) => {
                    let n = data.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    match self.0.write(&data[..n]) {
                        Ok(()) => Io::Done(n),
                        Err(_) => Io::Closed,
                    }
                }
                Err(_) => Io::Closed,
            }
        }

        fn pollable(&self) -> Pollable {
            self.0.subscribe()
        }
    }

    /// Blocks until one of them can make progress, `limit` passes or a caught signal arrives.
    pub fn wait_ready(
        readers: &[&Reader],
        writers: &[&Writer],
        limit: Option<std::time::Duration>,
    ) {
        let mut list: Vec<Pollable> = readers.iter().map(|r| r.pollable()).collect();
        list.extend(writers.iter().map(|w| w.pollable()));
        if list.is_empty() {
            return;
        }
        if let Some(d) = limit {
            use crate::common::wit::wasi::clocks::monotonic_clock;
            let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            list.push(monotonic_clock::subscribe_duration(nanos));
        }
        let refs: Vec<&Pollable> = list.iter().collect();
        let _ = poll::poll(&refs);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{In, Io, Out};
    use crate::io::Fd;
    use std::fs::File;
    use std::io::{Read as _, Write as _};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A forked copy of the shell; the pipe ends the parent keeps.
    pub struct Child {
        pid: libc::pid_t,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        status: Option<i32>,
    }

    pub struct Reader(File);
    pub struct Writer(File);

    fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two descriptors, which we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(crate::io::errstr(&std::io::Error::last_os_error()));
        }
        // SAFETY: both were just created and are owned by nobody else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    fn nonblocking(fd: &OwnedFd) {
        // SAFETY: fcntl on a descriptor this process owns.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }

    /// Where one of the child's streams comes from: the child's end, and the parent's.
    type Wiring = (Option<OwnedFd>, Option<OwnedFd>);

    fn out(o: Out) -> Result<Wiring, String> {
        match o {
            Out::Inherit | Out::Null => Ok((None, None)),
            Out::Pipe => {
                let (r, w) = pipe()?;
                Ok((Some(w), Some(r)))
            }
        }
    }

    /// fork(2), after flushing what the shell has buffered (a child must not write it again).
    /// The caller's child side runs on a copy of everything and must leave with _exit or exec.
    fn fork_now() -> Result<libc::pid_t, String> {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: what the child runs is its caller's to keep safe, as documented above.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(crate::io::errstr(&std::io::Error::last_os_error()));
        }
        Ok(pid)
    }

    /// The pipes a child's three streams need: the child's end and the parent's of each.
    fn wire(stdin: In<'_>, stdout: Out, stderr: Out) -> Result<[Wiring; 3], String> {
        let input: Wiring = match stdin {
            In::Inherit | In::Null => (None, None),
            In::Pipe => {
                let (r, w) = pipe()?;
                (Some(r), Some(w))
            }
            In::From(c) => match c.stdout.take() {
                Some(r) => (Some(r), None),
                None => return Err("Invalid argument".into()),
            },
        };
        Ok([input, out(stdout)?, out(stderr)?])
    }

    /// Runs the executable file `path` (a program of the container's image, such as nginx) as a
    /// child: fork, the streams wired onto 0, 1 and 2, then execve. Everything the child needs is
    /// made before the fork.
    pub fn spawn_command(
        path: &str,
        argv: &[String],
        env: &[(String, String)],
        cwd: &str,
        (stdin, stdout, stderr): super::Streams,
    ) -> Result<Child, String> {
        use std::ffi::CString;
        let c = |s: &str| CString::new(s).map_err(|_| "Invalid argument".to_string());
        let path = c(path)?;
        let cwd = c(cwd)?;
        let argv: Vec<CString> = argv.iter().map(|a| c(a)).collect::<Result<_, _>>()?;
        let env: Vec<CString> = env
            .iter()
            .map(|(k, v)| c(&format!("{k}={v}")))
            .collect::<Result<_, _>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        let nulls = [
            matches!(stdin, In::Null),
            matches!(stdout, Out::Null),
            matches!(stderr, Out::Null),
        ];
        let wiring = wire(stdin, stdout, stderr)?;
        // The child only makes system calls on data prepared above, then execs or exits.
        let pid = fork_now()?;
        if pid == 0 {
            // SAFETY: async-signal-safe calls on descriptors and strings made before the fork.
            unsafe {
                for (n, ((mine, _), null)) in wiring.iter().zip(nulls).enumerate() {
                    let fd = match mine {
                        Some(fd) => fd.as_raw_fd(),
                        None if null => libc::open(c"/dev/null".as_ptr(), libc::O_RDWR),
                        None => continue,
                    };
                    libc::dup2(fd, n as libc::c_int);
                }
                if libc::chdir(cwd.as_ptr()) == 0 {
                    libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
                }
                let code = if *libc::__errno_location() == libc::ENOENT {
                    127
                } else {
                    126
                };
                libc::_exit(code)
            }
        }
        let [(_, stdin), (_, stdout), (_, stderr)] = wiring;
        Ok(Child {
            pid,
            stdin,
            stdout,
            stderr,
            status: None,
        })
    }

    /// Forks; the child runs `body` on the shell descriptors given (0, 1, 2) and exits with its
    /// status. The child writes through plain descriptors, never through std's locked stdout,
    /// which another thread of a test harness may hold at the fork.
    pub fn fork(
        stdin: In<'_>,
        stdout: Out,
        stderr: Out,
        body: impl FnOnce([Option<Fd>; 3]) -> i32,
    ) -> Result<Child, String> {
        let null_in = matches!(stdin, In::Null);
        let [
            (child_in, parent_in),
            (child_out, parent_out),
            (child_err, parent_err),
        ] = wire(stdin, stdout, stderr)?;
        // The child only runs the shell's own code on its copy of the state and leaves with
        // _exit, never returning into the caller's frames.
        let pid = fork_now()?;
        if pid == 0 {
            let fds = [
                child_in
                    .map(|f| Fd::reader(File::from(f)))
                    .or(null_in.then_some(Fd::Null)),
                child_out
                    .map(|f| Fd::writer(File::from(f)))
                    .or(matches!(stdout, Out::Null).then_some(Fd::Null)),
                child_err
                    .map(|f| Fd::writer(File::from(f)))
                    .or(matches!(stderr, Out::Null).then_some(Fd::Null)),
            ];
            drop((parent_in, parent_out, parent_err));
            let status = body(fds);
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(status & 0xff) }
        }
        Ok(Child {
            pid,
            stdin: parent_in,
            stdout: parent_out,
            stderr: parent_err,
            status: None,
        })
    }

    fn decode(status: libc::c_int) -> i32 {
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    }

    impl Child {
        pub fn pid(&self) -> u32 {
            self.pid as u32
        }

        /// Non-blocking from here on: only the shell's own end (a pipe handed to the next
        /// stage stays blocking for it).
        pub fn take_stdin(&mut self) -> Option<Writer> {
            let f = self.stdin.take()?;
            nonblocking(&f);
            Some(Writer(File::from(f)))
        }

        pub fn take_stdout(&mut self) -> Option<Reader> {
            let f = self.stdout.take()?;
            nonblocking(&f);
            Some(Reader(File::from(f)))
        }

        pub fn take_stderr(&mut self) -> Option<Reader> {
            let f = self.stderr.take()?;
            nonblocking(&f);
            Some(Reader(File::from(f)))
        }

        fn reap(&mut self, flags: libc::c_int) -> Option<i32> {
            if self.status.is_none() {
                let mut st = 0;
                // SAFETY: waits for our own child.
                let r = unsafe { libc::waitpid(self.pid, &mut st, flags) };
                if r == self.pid {
                    self.status = Some(decode(st));
                } else if r < 0
                    && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)
                {
                    self.status = Some(127);
                }
            }
            self.status
        }

        /// Waits for it to exit; None when a caught signal arrived first. Without a trap a
        /// blocking waitpid does; with one, waitpid restarts after the handler (SA_RESTART), so
        /// the wait looks for the signal between short sleeps that it interrupts.
        pub fn wait_or_signal(&mut self) -> Option<i32> {
            if !crate::sys::catching() {
                return Some(self.wait());
            }
            loop {
                if let Some(code) = self.try_wait() {
                    return Some(code);
                }
                if crate::sys::any_pending() {
                    return None;
                }
                crate::sys::wait_for(std::time::Duration::from_micros(200));
            }
        }

        pub fn wait(&mut self) -> i32 {
            loop {
                if let Some(code) = self.reap(0) {
                    return code;
                }
            }
        }

        pub fn try_wait(&mut self) -> Option<i32> {
            self.reap(libc::WNOHANG)
        }

        /// Waits at most `d` for it to exit.
        pub fn wait_timeout(&mut self, d: std::time::Duration) -> Option<i32> {
            let end = std::time::Instant::now() + d;
            loop {
                if let Some(code) = self.try_wait() {
                    return Some(code);
                }
                let now = std::time::Instant::now();
                if now >= end {
                    return None;
                }
                std::thread::sleep((end - now).min(std::time::Duration::from_millis(2)));
            }
        }

        pub fn kill(&mut self, sig: i32) {
            if self.status.is_none() {
                // SAFETY: signals our own child, not yet reaped (its pid is still ours).
                unsafe { libc::kill(self.pid, sig) };
            }
        }
    }

    /// Forks a copy that runs an applet (argv[0] picks it) on the streams given.
    pub fn spawn_applet(
        ctx: &crate::io::Ctx,
        argv: &[String],
        streams: super::Streams,
    ) -> Result<Child, String> {
        let Some((name, args)) = argv.split_first() else {
            return Err("Invalid argument".into());
        };
        fork(streams.0, streams.1, streams.2, |fds| {
            let mut ctx = ctx.clone();
            let [i, o, e] = fds;
            ctx.stdin = i.unwrap_or(ctx.stdin);
            ctx.stdout = o.unwrap_or(ctx.stdout);
            ctx.stderr = e.unwrap_or(ctx.stderr);
            if !crate::applets::exists(name) {
                ctx.error(name, "applet not found");
                return 127;
            }
            let st = crate::applets::run(&mut ctx, name, args);
            let _ = ctx.stdout.flush();
            st
        })
    }

    impl Reader {
        pub fn read(&mut self, buf: &mut Vec<u8>, max: usize) -> Io {
            let mut chunk = vec![0u8; max];
            match self.0.read(&mut chunk) {
                Ok(0) => Io::Closed,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    Io::Done(n)
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Io::WouldBlock,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Io::WouldBlock,
                Err(_) => Io::Closed,
            }
        }
    }

    impl Writer {
        pub fn write(&mut self, data: &[u8]) -> Io {
            match self.0.write(data) {
                Ok(n) => Io::Done(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Io::WouldBlock,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Io::WouldBlock,
                Err(_) => Io::Closed,
            }
        }
    }

    /// Blocks until one of them can make progress or `limit` passes (a signal interrupts it:
    /// EINTR).
    pub fn wait_ready(
        readers: &[&Reader],
        writers: &[&Writer],
        limit: Option<std::time::Duration>,
    ) {
        let mut fds: Vec<libc::pollfd> = readers
            .iter()
            .map(|r| libc::pollfd {
                fd: r.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        fds.extend(writers.iter().map(|w| libc::pollfd {
            fd: w.0.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }));
        if fds.is_empty() {
            return;
        }
        let ms = limit.map_or(1000, |d| {
            i32::try_from(d.as_millis()).unwrap_or(1000).min(1000)
        });
        // SAFETY: `fds` is a valid array of pollfd structs.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }
}

/// Copies `source` into `to` and each reader into its descriptor until all have ended: the
/// shell's side of children whose streams are the shell's own captured or redirected
/// descriptors (which only the shell can write).
///
/// With a `deadline`, it returns false if that passes first (what is left stays unread).
pub fn pump(
    mut to: Option<(Writer, Fd)>,
    mut from: Vec<(Reader, Fd)>,
    deadline: Option<std::time::Instant>,
) -> bool {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk = Vec::with_capacity(64 * 1024);
    while to.is_some() || !from.is_empty() {
        let mut progress = false;
        if let Some((w, source)) = &mut to {
            let mut open = true;
            if pending.is_empty() {
                match source.read(&mut buf) {
                    // EOF: dropping our end is the child's EOF.
                    Ok(0) | Err(_) => open = false,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
            if open {
                match w.write(&pending) {
                    Io::Done(n) => {
                        pending.drain(..n);
                        progress = true;
                    }
                    Io::WouldBlock => {}
                    Io::Closed => open = false,
                }
            }
            if !open {
                to = None;
                progress = true;
            }
        }
        let mut i = 0;
        while i < from.len() {
            chunk.clear();
            let (r, sink) = &mut from[i];
            let done = match r.read(&mut chunk, 64 * 1024) {
                Io::Done(_) => {
                    progress = true;
                    // Our reader is gone: stop reading, so the child gets EPIPE.
                    write_all(sink, &chunk).is_err()
                }
                Io::WouldBlock => false,
                Io::Closed => true,
            };
            if done {
                from.remove(i);
                progress = true;
            } else {
                i += 1;
            }
        }
        if !progress {
            let limit = match deadline {
                Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return false,
                },
                None => None,
            };
            let readers: Vec<&Reader> = from.iter().map(|(r, _)| r).collect();
            let writers: Vec<&Writer> = to.iter().map(|(w, _)| w).collect();
            wait_ready(&readers, &writers, limit);
        }
    }
    true
}

fn write_all(fd: &Fd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match fd.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
