//! File descriptors of the in-process shell and the context applets run in.
//!
//! Everything runs in one process, so a "file descriptor" is an [`Fd`]: the process's stdio, an
//! open file, an in-memory buffer being read, or an in-memory pipe being written. Clones share the
//! underlying stream (like `dup`), so `2>&1` and a `while read` loop over one file work.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A readable source.
pub enum Source {
    File(BufReader<File>),
    Mem { data: Vec<u8>, pos: usize },
}

/// An in-memory pipe: what a pipeline stage wrote, for the next stage to read.
pub struct Pipe {
    pub buf: Vec<u8>,
    pub cap: usize,
    pub broken: bool,
}

#[derive(Clone)]
pub enum Fd {
    Closed,
    Null,
    Stdin,
    Stdout,
    Stderr,
    In(Rc<RefCell<Source>>),
    File(Rc<RefCell<File>>),
    Pipe(Rc<RefCell<Pipe>>),
}

thread_local! {
    /// Descriptors (real pipes) whose reader is gone.
    static BROKEN: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

fn ebadf() -> io::Error {
    io::Error::other("Bad file descriptor")
}

impl Fd {
    pub fn mem(data: Vec<u8>) -> Fd {
        Fd::In(Rc::new(RefCell::new(Source::Mem { data, pos: 0 })))
    }
    pub fn reader(file: File) -> Fd {
        Fd::In(Rc::new(RefCell::new(Source::File(
            BufReader::with_capacity(64 * 1024, file),
        ))))
    }
    pub fn writer(file: File) -> Fd {
        Fd::File(Rc::new(RefCell::new(file)))
    }
    pub fn pipe(cap: usize) -> (Fd, Rc<RefCell<Pipe>>) {
        let p = Rc::new(RefCell::new(Pipe {
            buf: Vec::new(),
            cap,
            broken: false,
        }));
        (Fd::Pipe(p.clone()), p)
    }
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Fd::Pipe(p) => p.borrow().broken,
            Fd::File(f) => BROKEN.with(|b| b.borrow().contains(&f.borrow().as_raw_fd())),
            _ => false,
        }
    }
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Fd::Null => Ok(0),
            Fd::Stdin => io::stdin().read(buf),
            Fd::In(s) => match &mut *s.borrow_mut() {
                Source::File(f) => f.read(buf),
                Source::Mem { data, pos } => {
                    let n = buf.len().min(data.len() - *pos);
                    buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    Ok(n)
                }
            },
            Fd::File(f) => f.borrow_mut().read(buf),
            _ => Err(ebadf()),
        }
    }

    /// Reads up to and including `delim`; returns the number of bytes read (0 at EOF).
    pub fn read_until(&self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Fd::Null => Ok(0),
            Fd::Stdin => io::stdin().lock().read_until(delim, out),
            Fd::In(s) => match &mut *s.borrow_mut() {
                Source::File(f) => f.read_until(delim, out),
                Source::Mem { data, pos } => {
                    let rest = &data[*pos..];
                    let n = match rest.iter().position(|&b| b == delim) {
                        Some(i) => i + 1,
                        None => rest.len(),
                    };
                    out.extend_from_slice(&rest[..n]);
                    *pos += n;
                    Ok(n)
                }
            },
            Fd::File(f) => {
                // Unbuffered: one byte at a time so nothing past the line is consumed.
                let mut f = f.borrow_mut();
                let mut n = 0;
                let mut b = [0u8];
                while f.read(&mut b)? == 1 {
                    out.push(b[0]);
                    n += 1;
                    if b[0] == delim {
                        break;
                    }
                }
                Ok(n)
            }
            _ => Err(ebadf()),
        }
    }

    /// Reads everything that is left.
    pub fn read_all(&self, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Fd::In(s) => {
                if let Source::Mem { data, pos } = &mut *s.borrow_mut() {
                    let n = data.len() - *pos;
                    if *pos == 0 && out.is_empty() {
                        // Hand the buffer over without copying.
                        *out = std::mem::take(data);
                    } else {
                        out.extend_from_slice(&data[*pos..]);
                    }
                    *pos = data.len();
                    return Ok(n);
                }
            }
            Fd::Stdin => return io::stdin().lock().read_to_end(out),
            _ => {}
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match self.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Fd::Null => Ok(buf.len()),
            Fd::Stdout => io::stdout().write(buf),
            Fd::Stderr => io::stderr().write(buf),
            Fd::File(f) => {
                let mut f = f.borrow_mut();
                let r = f.write(buf);
                if matches!(&r, Err(e) if e.kind() == io::ErrorKind::BrokenPipe) {
                    // The reader is gone: a shell-level command then ends the shell, as
                    // SIGPIPE would.
                    BROKEN.with(|b| b.borrow_mut().push(f.as_raw_fd()));
                }
                r
            }
            Fd::Pipe(p) => {
                let mut p = p.borrow_mut();
                if p.broken {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                let room = p.cap.saturating_sub(p.buf.len());
                if room == 0 && !buf.is_empty() {
                    p.broken = true;
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                let n = room.min(buf.len());
                p.buf.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            _ => Err(ebadf()),
        }
    }

    pub fn flush(&self) -> io::Result<()> {
        match self {
            Fd::Stdout => io::stdout().flush(),
            Fd::Stderr => io::stderr().flush(),
            Fd::File(f) => f.borrow_mut().flush(),
            _ => Ok(()),
        }
    }
}

/// `Read` over an [`Fd`].
pub struct Input(pub Fd);

impl Input {
    /// Reads one line (with its `\n`, if any) into `buf`, which is cleared first.
    pub fn line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        Ok(self.0.read_until(b'\n', buf)? > 0)
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// `Write` over an [`Fd`].
pub struct Output(pub Fd);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// What an applet runs with: its three standard streams, its environment and working directory.
#[derive(Clone)]
pub struct Ctx {
    pub stdin: Fd,
    pub stdout: Fd,
    pub stderr: Fd,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl Ctx {
    /// The context of the process itself.
    pub fn process() -> Ctx {
        let mut env: Vec<(String, String)> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        env.sort();
        let cwd = std::env::current_dir()
            .ok()
            .filter(|p| p.is_absolute())
            .or_else(|| {
                env.iter()
                    .find(|(k, v)| k == "PWD" && v.starts_with('/'))
                    .map(|(_, v)| PathBuf::from(v))
            })
            .unwrap_or_else(|| PathBuf::from("/"));
        Ctx {
            stdin: Fd::Stdin,
            stdout: Fd::Stdout,
            stderr: Fd::Stderr,
            env,
            cwd,
        }
    }

    /// A buffered stdout; flush it (or let it drop) when done.
    pub fn out(&self) -> BufWriter<Output> {
        BufWriter::with_capacity(64 * 1024, Output(self.stdout.clone()))
    }
    pub fn err(&self) -> Output {
        Output(self.stderr.clone())
    }
    pub fn write_out(&self, b: &[u8]) {
        let mut o = Output(self.stdout.clone());
        let _ = o.write_all(b);
        let _ = o.flush();
    }
    pub fn write_err(&self, b: &[u8]) {
        let _ = Output(self.stderr.clone()).write_all(b);
    }
    /// Prints `applet: msg` on stderr.
    pub fn error(&self, applet: &str, msg: impl std::fmt::Display) {
        self.write_err(format!("{applet}: {msg}\n").as_bytes());
    }
    pub fn getenv(&self, k: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    /// `p` resolved against the working directory.
    pub fn path(&self, p: &str) -> PathBuf {
        resolve(&self.cwd, p)
    }
    /// Opens `name` for writing (truncating, or appending). `/dev/null`, `/dev/stdout` and
    /// `/dev/stderr` work even where there is no /dev: a WASI container has no device files.
    pub fn create(&self, name: &str, append: bool) -> io::Result<Output> {
        let fd = match name {
            "/dev/null" => Fd::Null,
            "/dev/stdout" | "/dev/fd/1" => self.stdout.clone(),
            "/dev/stderr" | "/dev/fd/2" => self.stderr.clone(),
            _ => {
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create(true);
                if append {
                    o.append(true);
                } else {
                    o.truncate(true);
                }
                Fd::writer(o.open(self.path(name))?)
            }
        };
        Ok(Output(fd))
    }
    /// Opens `name` for reading (`-` is stdin; `/dev/null` is empty, as above).
    pub fn open(&self, name: &str) -> io::Result<Fd> {
        if name == "-" || name == "/dev/stdin" {
            return Ok(self.stdin.clone());
        }
        if name == "/dev/null" {
            return Ok(Fd::Null);
        }
        let p = self.path(name);
        if p.is_dir() {
            return Err(io::Error::other("Is a directory"));
        }
        File::open(p).map(Fd::reader)
    }
}

pub fn resolve(cwd: &Path, p: &str) -> PathBuf {
    if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        cwd.join(p)
    }
}

/// The C-library wording of an I/O error, without Rust's " (os error N)".
pub fn errstr(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        NotFound => "No such file or directory".into(),
        PermissionDenied => "Permission denied".into(),
        AlreadyExists => "File exists".into(),
        IsADirectory => "Is a directory".into(),
        NotADirectory => "Not a directory".into(),
        DirectoryNotEmpty => "Directory not empty".into(),
        BrokenPipe => "Broken pipe".into(),
        ConnectionRefused => "Connection refused".into(),
        TimedOut | WouldBlock => "Connection timed out".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_breaks_at_cap() {
        let (fd, p) = Fd::pipe(4);
        assert_eq!(fd.write(b"abc").unwrap(), 3);
        assert_eq!(fd.write(b"de").unwrap(), 1);
        assert!(fd.write(b"f").is_err());
        assert!(p.borrow().broken);
        assert_eq!(p.borrow().buf, b"abcd");
    }

    #[test]
    fn mem_lines() {
        let fd = Fd::mem(b"a\nbb\nc".to_vec());
        let mut i = Input(fd.clone());
        let mut b = Vec::new();
        assert!(i.line(&mut b).unwrap());
        assert_eq!(b, b"a\n");
        let mut rest = Vec::new();
        fd.read_all(&mut rest).unwrap();
        assert_eq!(rest, b"bb\nc");
    }
}
