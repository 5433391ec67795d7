//! What `wpod run` shows while pods run: container output prefixed with the container's name (like
//! `docker compose up`), and events, phase changes and container exits on stderr.

use std::collections::HashMap;
use std::sync::Mutex;
use std::task::{Context, Poll};

use crate::console::{self, Channel};
use crate::pod::Phase;
use crate::pod::events::{Event, EventSink, EventType};
use crate::pod::status::Terminated;
use crate::runtime::{LogSink, Stream};

const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

pub struct Printer {
    color: bool,
    /// Container output goes to stderr too, keeping stdout for `-o json|yaml`.
    logs_to_stderr: bool,
    quiet: bool,
    /// Several pods: prefixes read `pod/container`.
    multi_pod: bool,
    width: usize,
    colors: Mutex<HashMap<String, &'static str>>,
}

impl Printer {
    pub fn new(
        color: bool,
        logs_to_stderr: bool,
        quiet: bool,
        prefixes: &[(String, String)],
    ) -> Self {
        let multi_pod = prefixes
            .iter()
            .map(|(p, _)| p)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1;
        let width = prefixes
            .iter()
            .map(|(p, c)| {
                if multi_pod {
                    p.len() + 1 + c.len()
                } else {
                    c.len()
                }
            })
            .max()
            .unwrap_or(0);
        Printer {
            color,
            logs_to_stderr,
            quiet,
            multi_pod,
            width,
            colors: Mutex::new(HashMap::new()),
        }
    }

    /// For pods that come and go (a control plane makes them): prefixes always name the pod,
    /// `width` wide.
    pub fn for_cluster(color: bool, logs_to_stderr: bool, quiet: bool, width: usize) -> Self {
        Printer {
            color,
            logs_to_stderr,
            quiet,
            multi_pod: true,
            width,
            colors: Mutex::new(HashMap::new()),
        }
    }

    /// A line of what the control plane does, shown as pod events are.
    pub fn control(&self, line: &str) {
        if self.quiet {
            return;
        }
        let line = self.paint("2", &format!("-- {line}"));
        console::own(Channel::Stderr, format!("{line}\n"));
    }

    fn label(&self, pod: &str, container: &str) -> String {
        if self.multi_pod {
            format!("{pod}/{container}")
        } else {
            container.to_string()
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn color_of(&self, label: &str) -> &'static str {
        let mut colors = self.colors.lock().unwrap_or_else(|p| p.into_inner());
        let n = colors.len();
        colors
            .entry(label.to_string())
            .or_insert(PALETTE[n % PALETTE.len()])
    }

    /// A container's output line.
    pub fn log(&self, pod: &str, container: &str, stream: Stream, line: &str) {
        let label = self.label(pod, container);
        let prefix = format!("{label:<width$} |", width = self.width);
        let prefix = self.paint(self.color_of(&label), &prefix);
        console::log(
            self.channel_of(stream),
            &label,
            format!("{prefix} {line}\n"),
        );
    }

    fn channel_of(&self, stream: Stream) -> Channel {
        if stream == Stream::Stderr || self.logs_to_stderr {
            Channel::Stderr
        } else {
            Channel::Stdout
        }
    }

    /// Whether there is room for more of a container's `stream` (see LogSink::poll_ready).
    pub fn poll_ready(
        &self,
        pod: &str,
        container: &str,
        stream: Stream,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let label = self.label(pod, container);
        console::poll_log_ready(self.channel_of(stream), &label, cx)
    }

    /// A note from wpod itself, always on stderr.
    pub fn note(&self, text: &str) {
        let line = self.paint("2", &format!("wpod: {text}"));
        console::own(Channel::Stderr, format!("{line}\n"));
    }

    /// An error from wpod itself, always on stderr, after everything queued before it.
    pub fn error(&self, text: &str) {
        console::own(Channel::Stderr, format!("error: {text}\n"));
    }

    /// A line of the pod network's trace.
    pub fn net(&self, text: &str) {
        let line = self.paint("36", &format!("net: {text}"));
        console::own(Channel::Stderr, format!("{line}\n"));
    }

    fn status_line(&self, subject: &str, text: String, warning: bool) {
        if self.quiet {
            return;
        }
        let line = format!("-- {subject}: {text}");
        let line = if warning {
            self.paint("33", &line)
        } else {
            self.paint("2", &line)
        };
        console::own(Channel::Stderr, format!("{line}\n"));
    }
}

/// The printer seen from one pod: a LogSink for its containers.
pub struct PodLog {
    pub printer: std::sync::Arc<Printer>,
    pub pod: String,
}

impl LogSink for PodLog {
    fn line(&self, container: &str, stream: Stream, line: &str) {
        self.printer.log(&self.pod, container, stream, line);
    }

    fn poll_ready(&self, container: &str, stream: Stream, cx: &mut Context<'_>) -> Poll<()> {
        self.printer.poll_ready(&self.pod, container, stream, cx)
    }
}

impl EventSink for Printer {
    fn event(&self, pod: &str, event: &Event) {
        let subject = match &event.container {
            Some(c) => format!("{pod}/{c}"),
            None => pod.to_string(),
        };
        self.status_line(
            &subject,
            format!("{}: {}", event.reason, one_line(&event.message)),
            event.type_ == EventType::Warning,
        );
    }

    fn phase(&self, pod: &str, from: Option<Phase>, to: Phase) {
        let text = match from {
            Some(from) => format!("phase {} -> {}", from.as_str(), to.as_str()),
            None => format!("phase {}", to.as_str()),
        };
        self.status_line(pod, text, to == Phase::Failed);
    }

    fn exited(&self, pod: &str, container: &str, how: &Terminated) {
        let mut text = format!("exited with code {} ({})", how.exit_code, how.reason);
        if let Some(m) = how
            .message
            .as_deref()
            .map(one_line)
            .filter(|m| !m.is_empty())
        {
            text.push_str(": ");
            text.push_str(&m);
        }
        self.status_line(&format!("{pod}/{container}"), text, how.exit_code != 0);
    }
}

/// Longest message shown on a live status line; `-o json` and `--describe` show all of it.
const LINE_MESSAGE_MAX: usize = 400;

/// A message as one status line: newlines shown as `\n` (probe output, termination messages),
/// a trailing one dropped, and cut at LINE_MESSAGE_MAX characters.
fn one_line(message: &str) -> String {
    let escaped = message.trim_end().replace('\n', "\\n");
    match escaped.char_indices().nth(LINE_MESSAGE_MAX) {
        Some((cut, _)) => format!("{}… (see --describe)", &escaped[..cut]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fit_one_status_line() {
        assert_eq!(one_line("done\n"), "done");
        assert_eq!(one_line("a\nb\n"), "a\\nb");
        let long = one_line(&"é".repeat(1000));
        assert!(long.starts_with(&"é".repeat(LINE_MESSAGE_MAX)));
        assert!(long.ends_with("… (see --describe)"));
    }
}
