//! Termination messages: the file a container may write at `terminationMessagePath`, and the tail
//! of its log for `terminationMessagePolicy: FallbackToLogsOnError`, with Kubernetes' caps.
//!
//! As the kubelet does, wpod creates one empty host file per container instance under the pod's
//! directory and mounts it at the container's terminationMessagePath.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::bounded::{self, Links, Refused};
use crate::runtime::{LogSink, Stream};

/// At most this much of the file (its end) becomes the message.
pub const MAX_MESSAGE: usize = 4096;
/// The log fallback takes at most this many of the last lines ...
pub const MAX_LOG_LINES: usize = 80;
/// ... and at most this many bytes of them.
pub const MAX_LOG_BYTES: usize = 2048;

/// Passes a container's log on and keeps its last lines.
pub struct TailLog {
    inner: Arc<dyn LogSink>,
    /// Each line, and whether it ended in a newline.
    lines: Mutex<VecDeque<(String, bool)>>,
}

impl TailLog {
    pub fn new(inner: Arc<dyn LogSink>) -> Arc<Self> {
        Arc::new(TailLog {
            inner,
            lines: Mutex::new(VecDeque::new()),
        })
    }

    /// The last lines as the container wrote them (a newline only where it wrote one), cut to
    /// the last MAX_LOG_BYTES bytes.
    pub fn tail(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let text: String = lines
            .iter()
            .map(|(l, newline)| {
                if *newline {
                    format!("{l}\n")
                } else {
                    l.clone()
                }
            })
            .collect();
        last_bytes(&text, MAX_LOG_BYTES).to_string()
    }

    fn keep(&self, line: &str, newline: bool) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == MAX_LOG_LINES {
            lines.pop_front();
        }
        lines.push_back((line.to_string(), newline));
    }
}

impl LogSink for TailLog {
    fn line(&self, container: &str, stream: Stream, line: &str) {
        self.keep(line, true);
        self.inner.line(container, stream, line);
    }

    fn partial(&self, container: &str, stream: Stream, text: &str) {
        self.keep(text, false);
        self.inner.partial(container, stream, text);
    }

    fn poll_ready(
        &self,
        container: &str,
        stream: Stream,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.inner.poll_ready(container, stream, cx)
    }
}

/// The end of `s`, at most `max` bytes, starting on a character boundary.
fn last_bytes(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The message of a container that ended with `exit_code`: the file's content if there is any,
/// else the log tail when the policy says so and the container failed.
pub fn message(
    file: &Path,
    fallback_to_logs: bool,
    exit_code: i32,
    log: &TailLog,
) -> Option<String> {
    // The kubelet's bounds: the last 4096 bytes of a regular file. Read where a guest could have
    // put a FIFO, a device or a symlink in its place, so none of those are opened or followed.
    let bytes = match bounded::read_tail(file, MAX_MESSAGE as u64, Links::Refuse) {
        Ok(bytes) => bytes,
        Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Some(format!(
                "Error on reading termination log {}: {e}",
                file.display()
            ));
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = last_bytes(&text, MAX_MESSAGE);
    if !text.is_empty() {
        return Some(text.to_string());
    }
    if fallback_to_logs && exit_code != 0 {
        let tail = log.tail();
        return (!tail.is_empty()).then_some(tail);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl LogSink for Nothing {
        fn line(&self, _: &str, _: Stream, _: &str) {}
    }

    #[test]
    fn tail_keeps_the_last_80_lines_and_2048_bytes() {
        let t = TailLog::new(Arc::new(Nothing));
        for i in 0..100 {
            t.line("c", Stream::Stdout, &format!("{i}"));
        }
        assert!(t.tail().starts_with("20\n21\n"));
        assert!(t.tail().ends_with("98\n99\n"));
        let long = "x".repeat(100);
        for _ in 0..30 {
            t.line("c", Stream::Stderr, &long);
        }
        assert_eq!(t.tail().len(), MAX_LOG_BYTES);
    }

    #[test]
    fn file_first_then_logs_only_on_failure() {
        let dir = std::env::temp_dir().join(format!("wpod-term-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("msg");
        let log = TailLog::new(Arc::new(Nothing));
        log.line("c", Stream::Stderr, "boom");
        std::fs::write(&file, "").expect("write");
        assert_eq!(message(&file, true, 1, &log).as_deref(), Some("boom\n"));
        // `echo -n DONE; exit 1`: no newline the program never wrote.
        log.partial("c", Stream::Stdout, "DONE");
        assert_eq!(message(&file, true, 1, &log).as_deref(), Some("boom\nDONE"));
        assert_eq!(message(&file, true, 0, &log), None);
        assert_eq!(message(&file, false, 1, &log), None);
        std::fs::write(&file, "y".repeat(5000)).expect("write");
        assert_eq!(
            message(&file, true, 1, &log).map(|m| m.len()),
            Some(MAX_MESSAGE)
        );
        let sparse = std::fs::File::create(&file).expect("create");
        sparse.set_len(3 << 30).expect("a sparse 3 GiB file");
        drop(sparse);
        let m = message(&file, true, 1, &log).expect("a message");
        assert_eq!(m.len(), MAX_MESSAGE, "the last 4096 bytes, zeros");
        #[cfg(target_os = "linux")]
        {
            let fifo = dir.join("fifo");
            let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("path");
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let m = message(&fifo, true, 1, &log).expect("a message");
            assert!(
                m.ends_with("it is a FIFO (named pipe), not a regular file"),
                "{m}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
