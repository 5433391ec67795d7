//! wpod's own stdout and stderr, each written by a dedicated thread from a queue, so that nothing
//! else in wpod (the kubelet, timers, probes, signal handling) ever waits on a terminal or pipe
//! that is not being read: a paused `| less`, a full pipe.
//!
//! Each container's output counts against a bound of its own, the size of a Linux pipe: above it,
//! [`poll_log_ready`] answers Pending for that container, and the backends stop taking output from
//! it, whose own writes then wait as on a full pipe; other containers and wpod go on. wpod's own lines (events, phases, notes, `-o json`) are always queued, up to a generous
//! cap past which they are counted and the count is printed once the reader reads again. At the
//! end of a run, [`finish`] lets the writers drain while the reader makes progress and returns
//! once it stops reading, so wpod exits (with the right code) even if nobody ever reads.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// One container's output queued per stream before it is told to wait (a Linux pipe's capacity).
const LOG_BOUND: usize = 64 * 1024;
/// Waiting producers are woken once the queue has drained below this.
const LOG_RESUME: usize = LOG_BOUND / 2;
/// Container output from producers that do not wait (a misbehaving backend) is dropped past this.
const LOG_HARD_BOUND: usize = 4 * LOG_BOUND;
/// wpod's own lines queued per stream before further ones are counted instead.
const OWN_BOUND: usize = 20_000;
/// One write(2) to a pipe of at most this many bytes is atomic, so a batch of whole lines up to
/// this size never leaves half a line behind when wpod exits with the reader stalled.
const ATOMIC_WRITE: usize = 4096;
/// At the end, the writers get this long without any progress before wpod gives up on a reader.
const FLUSH_STALL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }
}

enum Item {
    /// A container's line (its source, the text), counted against LOG_BOUND.
    Log(String, String),
    /// wpod's own text (one or more whole lines).
    Own(String),
    /// Where dropping began: says how many lines were dropped.
    Dropped,
}

#[derive(Default)]
struct State {
    items: VecDeque<Item>,
    /// Container output queued, by source.
    log_bytes: HashMap<String, usize>,
    own_items: usize,
    dropped_own: u64,
    dropped_log: u64,
    dropped_queued: bool,
    /// Producers waiting for room (see poll_log_ready), by source.
    waiters: Vec<(String, Waker)>,
    writer_started: bool,
    writer_waiting: bool,
    /// A batch is being written.
    busy: bool,
    /// The reader is gone (EPIPE, a closed terminal): everything is dropped from now on, as a
    /// container runtime drops output nobody can read.
    broken: bool,
    /// Bytes written so far: how `finish` sees progress.
    written: u64,
}

struct Queue {
    channel: Channel,
    state: Mutex<State>,
    /// Tells the writer there is something to write.
    more: Condvar,
    /// Tells `finish` the writer made progress.
    progress: Condvar,
}

fn queue(channel: Channel) -> &'static Queue {
    static OUT: OnceLock<Queue> = OnceLock::new();
    static ERR: OnceLock<Queue> = OnceLock::new();
    let cell = match channel {
        Channel::Stdout => &OUT,
        Channel::Stderr => &ERR,
    };
    cell.get_or_init(|| Queue {
        channel,
        state: Mutex::new(State::default()),
        more: Condvar::new(),
        progress: Condvar::new(),
    })
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&'static self, mut st: MutexGuard<'_, State>, item: Item) {
        if !st.writer_started {
            st.writer_started = true;
            let spawned = std::thread::Builder::new()
                .name(format!("wpod-{}", self.channel.name()))
                .spawn(move || self.writer());
            if spawned.is_err() {
                // Without a writer thread nothing could ever be written: drop, do not block.
                st.broken = true;
            }
        }
        if st.broken {
            return;
        }
        st.items.push_back(item);
        if st.writer_waiting {
            st.writer_waiting = false;
            self.more.notify_one();
        }
    }

    fn drop_line(&'static self, mut st: MutexGuard<'_, State>, own: bool) {
        if own {
            st.dropped_own += 1;
        } else {
            st.dropped_log += 1;
        }
        if !st.dropped_queued {
            st.dropped_queued = true;
            // The note goes where dropping began, past every line accepted before.
            st.own_items += 1;
            self.push(st, Item::Dropped);
        }
    }

    fn writer(&'static self) {
        let mut out = raw(self.channel);
        let mut batch: Vec<u8> = Vec::with_capacity(ATOMIC_WRITE);
        loop {
            let mut st = self.lock();
            while st.items.is_empty() {
                st.writer_waiting = true;
                st = self.more.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            batch.clear();
            while let Some(item) = st.items.front() {
                let len = match item {
                    Item::Log(_, s) | Item::Own(s) => s.len(),
                    Item::Dropped => 100,
                };
                if !batch.is_empty() && batch.len() + len > ATOMIC_WRITE {
                    break;
                }
                match st.items.pop_front() {
                    Some(Item::Log(source, s)) => {
                        if let Some(n) = st.log_bytes.get_mut(&source) {
                            *n = n.saturating_sub(s.len());
                            if *n == 0 {
                                st.log_bytes.remove(&source);
                            }
                        }
                        batch.extend_from_slice(s.as_bytes());
                    }
                    Some(Item::Own(s)) => {
                        st.own_items -= 1;
                        batch.extend_from_slice(s.as_bytes());
                    }
                    Some(Item::Dropped) => {
                        st.own_items -= 1;
                        let note = dropped_note(&mut st, self.channel);
                        batch.extend_from_slice(note.as_bytes());
                    }
                    None => break,
                }
            }
            st.busy = true;
            let wake = st.take_waiters(false);
            drop(st);
            wake.into_iter().for_each(Waker::wake);
            let ok = write_all(&mut *out, &batch);
            let mut st = self.lock();
            st.busy = false;
            if ok {
                st.written += batch.len() as u64;
            } else {
                st.broken = true;
                st.items.clear();
                st.log_bytes.clear();
                st.own_items = 0;
                let wake = st.take_waiters(true);
                drop(st);
                wake.into_iter().for_each(Waker::wake);
                self.progress.notify_all();
                return;
            }
            drop(st);
            self.progress.notify_all();
        }
    }

    /// Queued or being written.
    fn pending(st: &State) -> bool {
        !st.broken && (st.busy || !st.items.is_empty())
    }

    fn pending_bytes(st: &State) -> u64 {
        st.items
            .iter()
            .map(|i| match i {
                Item::Log(_, s) | Item::Own(s) => s.len() as u64,
                Item::Dropped => 0,
            })
            .sum()
    }
}

impl State {
    fn queued_by(&self, source: &str) -> usize {
        self.log_bytes.get(source).copied().unwrap_or(0)
    }

    /// The wakers of the sources whose output drained below LOG_RESUME (or all of them).
    fn take_waiters(&mut self, all: bool) -> Vec<Waker> {
        let (wake, keep) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(source, _)| all || self.queued_by(source) < LOG_RESUME);
        self.waiters = keep;
        wake.into_iter().map(|(_, w)| w).collect()
    }
}

fn dropped_note(st: &mut State, channel: Channel) -> String {
    let mut note = String::new();
    for (n, whose) in [
        (st.dropped_own, "wpod's own output"),
        (st.dropped_log, "container output"),
    ] {
        if n > 0 {
            let (lines, were) = if n == 1 {
                ("line", "was")
            } else {
                ("lines", "were")
            };
            note.push_str(&format!(
                "-- {n} {lines} of {whose} {were} dropped while {} was not read\n",
                channel.name()
            ));
        }
    }
    st.dropped_own = 0;
    st.dropped_log = 0;
    st.dropped_queued = false;
    note
}

/// Makes the console render ANSI colour sequences, and says whether it does. A Windows console
/// (conhost) renders them only once asked (ENABLE_VIRTUAL_TERMINAL_PROCESSING, Windows 10 and
/// later); where it refuses, colour is left off rather than printed as escape codes. Terminals
/// elsewhere always render them.
pub fn ansi_colours() -> bool {
    #[cfg(windows)]
    {
        use std::os::windows::io::AsRawHandle as _;
        use windows_sys::Win32::System::Console::{
            CONSOLE_MODE, ENABLE_VIRTUAL_TERMINAL_PROCESSING, GetConsoleMode, SetConsoleMode,
        };
        let enable = |handle: std::os::windows::io::RawHandle| {
            let mut mode: CONSOLE_MODE = 0;
            // SAFETY: the process's own standard handles, and a mode word the call fills in.
            unsafe {
                GetConsoleMode(handle, &mut mode) != 0
                    && (mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0
                        || SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0)
            }
        };
        let out = enable(std::io::stdout().as_raw_handle());
        let err = enable(std::io::stderr().as_raw_handle());
        out || err
    }
    #[cfg(not(windows))]
    {
        true
    }
}

/// The stream itself, written without std's lock (an `eprintln!` elsewhere never waits on the
/// writer) and never closed.
#[cfg(unix)]
fn raw(channel: Channel) -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::fd::FromRawFd as _;
    let fd = match channel {
        Channel::Stdout => 1,
        Channel::Stderr => 2,
    };
    // SAFETY: fds 1 and 2 stay open for the life of the process; ManuallyDrop never closes them.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) })
}

#[cfg(not(unix))]
fn raw(channel: Channel) -> Box<dyn Write> {
    match channel {
        Channel::Stdout => Box::new(std::io::stdout()),
        Channel::Stderr => Box::new(std::io::stderr()),
    }
}

/// Writes all of `buf`; false once the reader is gone. A non-blocking stream (a terminal another
/// program set O_NONBLOCK on) is retried, not given up.
fn write_all(out: &mut dyn Write, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match out.write(buf) {
            Ok(0) => return false,
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return false,
        }
    }
    true
}

/// Ready when `channel` has room for more output of `source` (one container); Pending (the waker
/// kept) while LOG_BOUND of its output waits for the reader. Always ready once the reader is gone.
pub fn poll_log_ready(channel: Channel, source: &str, cx: &mut Context<'_>) -> Poll<()> {
    let q = queue(channel);
    let mut st = q.lock();
    if st.broken || st.queued_by(source) < LOG_BOUND {
        return Poll::Ready(());
    }
    if !st
        .waiters
        .iter()
        .any(|(s, w)| s == source && w.will_wake(cx.waker()))
    {
        st.waiters.push((source.to_string(), cx.waker().clone()));
    }
    Poll::Pending
}

/// Queues a line of `source`'s output (`text` ends with its newline). Never blocks; past the hard
/// bound (producers that do not wait for poll_log_ready) the line is dropped and counted.
pub fn log(channel: Channel, source: &str, text: String) {
    let q = queue(channel);
    let mut st = q.lock();
    if st.broken {
        return;
    }
    if st.queued_by(source) >= LOG_HARD_BOUND {
        q.drop_line(st, false);
        return;
    }
    *st.log_bytes.entry(source.to_string()).or_default() += text.len();
    q.push(st, Item::Log(source.to_string(), text));
}

/// Queues wpod's own text (whole lines, each with its newline). Never blocks.
pub fn own(channel: Channel, text: String) {
    let q = queue(channel);
    let mut st = q.lock();
    if st.broken {
        return;
    }
    if st.own_items >= OWN_BOUND {
        q.drop_line(st, true);
        return;
    }
    st.own_items += 1;
    q.push(st, Item::Own(text));
}

/// A warning from wpod on stderr, as `warning: TEXT`.
pub fn warning(text: &str) {
    own(Channel::Stderr, format!("warning: {text}\n"));
}

/// Lets both writers drain what is queued, for as long as the readers keep reading; returns once
/// everything is written or no byte went out for FLUSH_STALL. Output given up on stdout is
/// reported on stderr (when stderr still reads).
pub fn finish() {
    let given_up = drain(&[Channel::Stdout, Channel::Stderr]);
    if given_up.contains(&Channel::Stdout) && !given_up.contains(&Channel::Stderr) {
        let bytes = Queue::pending_bytes(&queue(Channel::Stdout).lock());
        own(
            Channel::Stderr,
            format!(
                "wpod: stdout was not read for {}s at exit: {bytes} bytes of output were not written\n",
                FLUSH_STALL.as_secs_f64()
            ),
        );
        drain(&[Channel::Stderr]);
    }
}

/// Waits for the channels to drain; the ones given up on.
fn drain(channels: &[Channel]) -> Vec<Channel> {
    let mut last: Vec<_> = channels.iter().map(|c| queued_state(*c)).collect();
    let mut since = Instant::now();
    loop {
        let Some(&busy) = channels.iter().find(|c| Queue::pending(&queue(**c).lock())) else {
            return Vec::new();
        };
        let q = queue(busy);
        {
            let st = q.lock();
            if Queue::pending(&st) {
                let _ = q.progress.wait_timeout(st, Duration::from_millis(20));
            }
        }
        let now: Vec<_> = channels.iter().map(|c| queued_state(*c)).collect();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= FLUSH_STALL {
            return channels
                .iter()
                .copied()
                .filter(|c| Queue::pending(&queue(*c).lock()))
                .collect();
        }
    }
}

/// What changes while a writer makes progress.
fn queued_state(channel: Channel) -> (u64, bool) {
    let st = queue(channel).lock();
    (st.written, Queue::pending(&st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_lines_are_counted_in_one_note() {
        let mut st = State {
            dropped_own: 3,
            dropped_log: 1,
            dropped_queued: true,
            ..State::default()
        };
        assert_eq!(
            dropped_note(&mut st, Channel::Stdout),
            "-- 3 lines of wpod's own output were dropped while stdout was not read\n\
             -- 1 line of container output was dropped while stdout was not read\n"
        );
        assert!(!st.dropped_queued && st.dropped_own == 0 && st.dropped_log == 0);
    }
}
