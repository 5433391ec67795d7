//! A terminal for a wasm exec (`kubectl exec -it`): the line discipline a Linux pty applies in its
//! default (cooked) mode, since a wasm guest has no kernel terminal to do it.
//!
//! Input from the client is edited into lines (erase, ^U, ^W), echoed, and handed to readers a
//! line at a time; ^C and ^\ become SIGINT and SIGQUIT for the session's processes, ^D ends a read
//! as EOF once (the terminal stays usable, as with a real one). Output gets `\n` -> `\r\n`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{InputStream, OutputStream, StreamError, StreamResult};

use super::table::PidNamespace;
use crate::net::pipe::{Pipe, Room};
use crate::runtime::TermSize;

/// A line longer than this is cut (Linux's N_TTY_BUF_SIZE): a client cannot grow it without end.
const MAX_LINE: usize = 4096;
/// Complete lines not read yet, in bytes: input beyond it is dropped, as a full tty drops it.
const MAX_QUEUED: usize = 64 * 1024;
/// What the guest's output may hold before it waits for the client to read.
const OUTPUT_WINDOW: usize = 64 * 1024;

const SIGHUP: u8 = 1;
const SIGINT: u8 = 2;
const SIGQUIT: u8 = 3;
const SIGWINCH: u8 = 28;

enum Item {
    Data(Bytes),
    /// ^D on an empty line: one read returns EOF.
    Eof,
}

#[derive(Default)]
struct Input {
    /// The line being edited.
    line: Vec<u8>,
    ready: VecDeque<Item>,
    queued: usize,
    /// The client is gone: reads see EOF from now on.
    hung_up: bool,
    /// No line discipline: keys go to the reader as they come.
    raw: bool,
}

pub struct Terminal {
    input: Mutex<Input>,
    readable: Notify,
    /// To the client: the guest's output and the echo of its input.
    output: Arc<Pipe>,
    size: Mutex<TermSize>,
    /// The session's leader (the exec's process) in its PID namespace: signals from the keyboard
    /// go to it and its descendants.
    session: Mutex<Option<(Arc<PidNamespace>, u32)>>,
    /// The client has told the size once.
    sized: std::sync::atomic::AtomicBool,
    resized: Notify,
}

impl Terminal {
    pub fn new(size: TermSize) -> Arc<Self> {
        Arc::new(Terminal {
            input: Mutex::new(Input::default()),
            readable: Notify::new(),
            output: Pipe::with_window(OUTPUT_WINDOW),
            size: Mutex::new(size),
            session: Mutex::new(None),
            sized: std::sync::atomic::AtomicBool::new(false),
            resized: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Input> {
        self.input.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The terminal's controlling session: `leader` and what it starts.
    pub fn set_session(&self, pids: Arc<PidNamespace>, leader: u32) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some((pids, leader));
    }

    fn signal(&self, sig: u8) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((pids, leader)) = session {
            pids.signal_tree(leader, sig);
        }
    }

    pub fn size(&self) -> TermSize {
        *self.size.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves once the client has told the terminal's size.
    pub async fn sized(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.resized.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.sized.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// A new window size: the session gets SIGWINCH, as from TIOCSWINSZ.
    pub fn resize(&self, size: TermSize) {
        self.sized.store(true, std::sync::atomic::Ordering::SeqCst);
        self.resized.notify_waiters();
        let old = std::mem::replace(
            &mut *self.size.lock().unwrap_or_else(|p| p.into_inner()),
            size,
        );
        if old != size {
            self.signal(SIGWINCH);
        }
    }

    /// What the guest wrote and the terminal echoed, for the client.
    pub fn output(&self) -> &Arc<Pipe> {
        &self.output
    }

    /// Raw mode (a full-screen program, a shell editing its own line) or cooked (the default).
    pub fn set_raw(&self, raw: bool) {
        let mut input = self.lock();
        input.raw = raw;
        // What was typed of a line so far goes to the reader as it is.
        if raw && !input.line.is_empty() {
            let line = std::mem::take(&mut input.line);
            input.push(Item::Data(line.into()));
        }
        drop(input);
        self.readable.notify_waiters();
    }

    /// The client went away: readers see EOF and the session gets SIGHUP, as when a terminal
    /// closes.
    pub fn hang_up(&self) {
        self.lock().hung_up = true;
        self.readable.notify_waiters();
        self.signal(SIGHUP);
    }

    /// Echo is dropped while the client does not read, so typing cannot grow the output.
    fn echo(&self, bytes: &[u8]) {
        if !bytes.is_empty() && !matches!(self.output.room(), Room::Bytes(0)) {
            self.output.write(Bytes::copy_from_slice(bytes));
        }
    }

    /// Keys typed by the client, through the line discipline.
    pub fn type_keys(&self, keys: &[u8]) {
        let mut echo = Vec::new();
        let mut signals = Vec::new();
        {
            let mut input = self.lock();
            if input.raw {
                input.push(Item::Data(keys.to_vec().into()));
                drop(input);
                self.readable.notify_waiters();
                return;
            }
            for &key in keys {
                match key {
                    0x03 | 0x1c => {
                        input.line.clear();
                        echo.extend_from_slice(if key == 0x03 { b"^C" } else { b"^\\" });
                        signals.push(if key == 0x03 { SIGINT } else { SIGQUIT });
                    }
                    0x7f | 0x08 => {
                        if erase_char(&mut input.line) {
                            echo.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x15 => {
                        while erase_char(&mut input.line) {
                            echo.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x17 => {
                        while input.line.last().is_some_and(|c| c.is_ascii_whitespace()) {
                            erase_char(&mut input.line);
                            echo.extend_from_slice(b"\x08 \x08");
                        }
                        while input.line.last().is_some_and(|c| !c.is_ascii_whitespace()) {
                            erase_char(&mut input.line);
                            echo.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    0x04 => {
                        let line = std::mem::take(&mut input.line);
                        let item = if line.is_empty() {
                            Item::Eof
                        } else {
                            Item::Data(line.into())
                        };
                        input.push(item);
                    }
                    b'\r' | b'\n' => {
                        echo.extend_from_slice(b"\r\n");
                        let mut line = std::mem::take(&mut input.line);
                        line.push(b'\n');
                        input.push(Item::Data(line.into()));
                    }
                    c if c < 0x20 && c != b'\t' => {
                        // ECHOCTL: other control characters show as ^X and go to the reader.
                        if input.add(c) {
                            echo.extend_from_slice(&[b'^', c + 0x40]);
                        }
                    }
                    c => {
                        if input.add(c) {
                            echo.push(c);
                        }
                    }
                }
            }
        }
        self.echo(&echo);
        self.readable.notify_waiters();
        for sig in signals {
            self.signal(sig);
        }
    }
}

impl Input {
    /// Adds a character to the line; false when the line is full (it is not echoed then).
    fn add(&mut self, c: u8) -> bool {
        let room = self.line.len() < MAX_LINE;
        if room {
            self.line.push(c);
        }
        room
    }

    fn push(&mut self, item: Item) {
        let len = match &item {
            Item::Data(b) => b.len(),
            Item::Eof => 0,
        };
        if self.queued + len <= MAX_QUEUED {
            self.queued += len;
            self.ready.push_back(item);
        }
    }
}

/// Removes the last character (all bytes of a UTF-8 one); false when the line was empty.
fn erase_char(line: &mut Vec<u8>) -> bool {
    let Some(_) = line.pop() else {
        return false;
    };
    while line.last().is_some_and(|&b| b & 0xc0 == 0x80) {
        line.pop();
    }
    true
}

/// The guest's stdin on the terminal.
pub struct TtyIn(pub Arc<Terminal>);
/// The guest's stdout or stderr on the terminal.
pub struct TtyOut(pub Arc<Terminal>);

#[async_trait::async_trait]
impl Pollable for TtyIn {
    async fn ready(&mut self) {
        loop {
            let notified = self.0.readable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let input = self.0.lock();
                if !input.ready.is_empty() || input.hung_up {
                    return;
                }
            }
            notified.await;
        }
    }
}

impl InputStream for TtyIn {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let mut input = self.0.lock();
        match input.ready.pop_front() {
            Some(Item::Data(mut data)) => {
                if data.len() > size {
                    let rest = data.split_off(size);
                    input.ready.push_front(Item::Data(rest));
                }
                input.queued -= data.len();
                Ok(data)
            }
            Some(Item::Eof) => Err(StreamError::Closed),
            None if input.hung_up => Err(StreamError::Closed),
            None => Ok(Bytes::new()),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for TtyOut {
    async fn ready(&mut self) {
        self.0.output.wait_writable().await;
    }
}

impl OutputStream for TtyOut {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // OPOST|ONLCR.
        let data = if bytes.contains(&b'\n') {
            let mut out = Vec::with_capacity(bytes.len() + 16);
            for &b in &bytes {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
            Bytes::from(out)
        } else {
            bytes
        };
        match self.0.output.write(data) {
            Room::Bytes(_) => Ok(()),
            Room::Closed | Room::Reset => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match self.0.output.room() {
            Room::Bytes(n) => Ok(n),
            Room::Closed | Room::Reset => Err(StreamError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::pipe::Read;

    fn term() -> Arc<Terminal> {
        Terminal::new(TermSize {
            width: 80,
            height: 24,
        })
    }

    fn echoed(t: &Terminal) -> Vec<u8> {
        let mut all = Vec::new();
        while let Read::Data(b) = t.output.read(usize::MAX) {
            all.extend_from_slice(&b);
        }
        all
    }

    #[test]
    fn lines_are_edited_echoed_and_read_whole() {
        let t = term();
        let mut reader = TtyIn(t.clone());
        t.type_keys(b"ecx\x7fho hi");
        assert_eq!(reader.read(100).ok(), Some(Bytes::new()), "no line yet");
        t.type_keys(b"\r");
        assert_eq!(
            reader.read(100).ok(),
            Some(Bytes::from_static(b"echo hi\n"))
        );
        assert_eq!(echoed(&t), b"ecx\x08 \x08ho hi\r\n");
        t.type_keys("héllo wörld\x17\x17x\x15ok\n".as_bytes());
        assert_eq!(reader.read(100).ok(), Some(Bytes::from_static(b"ok\n")));
    }

    #[test]
    fn raw_mode_hands_keys_over_as_they_come() {
        let t = term();
        let mut reader = TtyIn(t.clone());
        t.type_keys(b"ab");
        t.set_raw(true);
        assert_eq!(reader.read(10).ok(), Some(Bytes::from_static(b"ab")));
        t.type_keys(b"\x1b[A\x03\r");
        assert_eq!(
            reader.read(10).ok(),
            Some(Bytes::from_static(b"\x1b[A\x03\r")),
            "no signal, no translation"
        );
        assert_eq!(echoed(&t), b"ab", "only the cooked keys were echoed");
        t.set_raw(false);
        t.type_keys(b"x\r");
        assert_eq!(reader.read(10).ok(), Some(Bytes::from_static(b"x\n")));
    }

    #[test]
    fn ctrl_d_is_one_eof_and_the_terminal_goes_on() {
        let t = term();
        let mut reader = TtyIn(t.clone());
        t.type_keys(b"\x04abc\x04");
        assert!(matches!(reader.read(10), Err(StreamError::Closed)));
        assert_eq!(reader.read(10).ok(), Some(Bytes::from_static(b"abc")));
        assert_eq!(reader.read(10).ok(), Some(Bytes::new()));
        t.hang_up();
        assert!(matches!(reader.read(10), Err(StreamError::Closed)));
    }

    #[test]
    fn output_gets_carriage_returns_and_lines_are_bounded() {
        let t = term();
        let mut out = TtyOut(t.clone());
        out.write(Bytes::from_static(b"a\nb\n")).ok();
        assert_eq!(echoed(&t), b"a\r\nb\r\n");
        t.type_keys(&vec![b'x'; MAX_LINE * 2]);
        t.type_keys(b"\n");
        let _ = echoed(&t);
        let mut reader = TtyIn(t.clone());
        assert_eq!(
            reader.read(usize::MAX).map(|b| b.len()).ok(),
            Some(MAX_LINE + 1)
        );
    }
}
