//! The interactive shell's line editing, as busybox's lineedit offers it: the terminal in raw
//! mode while a command line is read, the cursor moved with the arrows (and ^B/^F, ^A/^E, Home,
//! End), history with up and down, ^U/^K/^W to cut, Delete and backspace, ^L to clear the
//! screen, ^C to abandon the line, ^D to end the shell on an empty line.

use crate::io::Fd;

/// What reading a line gave.
pub enum Edited {
    /// A line, with its newline.
    Line(String),
    /// ^D on an empty line, or the terminal gone.
    Eof,
    /// ^C: the line is dropped.
    Interrupted,
    /// stdin is not a terminal that can go raw: read it as it comes.
    Cooked,
}

/// Reads one command line after `prompt`, with `history` (oldest first) for up and down.
pub fn read_line(input: &Fd, out: &Fd, prompt: &str, history: &[String]) -> Edited {
    if !crate::sys::terminal_raw(true) {
        return Edited::Cooked;
    }
    let mut editor = Editor {
        out,
        prompt,
        line: Vec::new(),
        cursor: 0,
        history,
        at: history.len(),
        draft: Vec::new(),
    };
    editor.write(prompt.as_bytes());
    let edited = editor.run(input);
    crate::sys::terminal_raw(false);
    edited
}

struct Editor<'a> {
    out: &'a Fd,
    prompt: &'a str,
    line: Vec<char>,
    cursor: usize,
    history: &'a [String],
    /// The history entry shown (`history.len()` for the line being written).
    at: usize,
    /// The line being written, kept while history is browsed.
    draft: Vec<char>,
}

/// Keys are bytes; an escape sequence or a UTF-8 character spans several.
enum Key {
    Char(char),
    Ctrl(u8),
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Delete,
    Unknown,
}

impl Editor<'_> {
    fn write(&self, b: &[u8]) {
        let _ = self.out.write(b);
        let _ = self.out.flush();
    }

    fn run(&mut self, input: &Fd) -> Edited {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) | Err(_) => return Edited::Eof,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some((key, used)) = parse(&pending) {
                pending.drain(..used);
                if let Some(done) = self.key(key) {
                    return done;
                }
            }
            // A lone ESC or a cut sequence waits for the rest; garbage does not pile up.
            if pending.len() > 16 {
                pending.clear();
            }
        }
    }

    fn key(&mut self, key: Key) -> Option<Edited> {
        match key {
            Key::Char(c) => {
                self.line.insert(self.cursor, c);
                self.cursor += 1;
                if self.cursor == self.line.len() {
                    // At the end of the line, echo as the terminal would.
                    let mut b = [0u8; 4];
                    self.write(c.encode_utf8(&mut b).as_bytes());
                } else {
                    self.redraw();
                }
            }
            // The terminal's output processing (ONLCR) makes each `\n` a `\r\n`.
            Key::Ctrl(b'\r' | b'\n') => {
                self.write(b"\n");
                let mut line: String = self.line.iter().collect();
                line.push('\n');
                return Some(Edited::Line(line));
            }
            Key::Ctrl(0x03) => {
                self.write(b"^C\n");
                return Some(Edited::Interrupted);
            }
            Key::Ctrl(0x04) if self.line.is_empty() => {
                self.write(b"\n");
                return Some(Edited::Eof);
            }
            Key::Ctrl(0x04) | Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
                self.redraw();
            }
            Key::Ctrl(0x7f | 0x08) if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
                if self.cursor == self.line.len() {
                    self.write(b"\x08 \x08");
                } else {
                    self.redraw();
                }
            }
            Key::Ctrl(0x01) | Key::Home => self.move_to(0),
            Key::Ctrl(0x05) | Key::End => self.move_to(self.line.len()),
            Key::Ctrl(0x02) | Key::Left => self.move_to(self.cursor.saturating_sub(1)),
            Key::Ctrl(0x06) | Key::Right => self.move_to((self.cursor + 1).min(self.line.len())),
            Key::Ctrl(0x0b) => {
                self.line.truncate(self.cursor);
                self.redraw();
            }
            Key::Ctrl(0x15) => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
                self.redraw();
            }
            Key::Ctrl(0x17) => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != ' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
                self.redraw();
            }
            Key::Ctrl(0x0c) => {
                self.write(b"\x1b[H\x1b[2J");
                self.redraw();
            }
            Key::Up if self.at > 0 => {
                if self.at == self.history.len() {
                    self.draft = self.line.clone();
                }
                self.at -= 1;
                self.show(self.history[self.at].chars().collect());
            }
            Key::Down if self.at < self.history.len() => {
                self.at += 1;
                let line = match self.history.get(self.at) {
                    Some(h) => h.chars().collect(),
                    None => std::mem::take(&mut self.draft),
                };
                self.show(line);
            }
            _ => {}
        }
        None
    }

    fn show(&mut self, line: Vec<char>) {
        self.line = line;
        self.cursor = self.line.len();
        self.redraw();
    }

    fn move_to(&mut self, to: usize) {
        if to != self.cursor {
            self.cursor = to;
            self.redraw();
        }
    }

    /// The prompt and the line again, the rest of the row cleared, the cursor put back.
    fn redraw(&self) {
        let mut s = String::from("\r");
        s.push_str(self.prompt);
        s.extend(self.line.iter());
        s.push_str("\x1b[K");
        let back = self.line.len() - self.cursor;
        if back > 0 {
            s.push_str(&format!("\x1b[{back}D"));
        }
        self.write(s.as_bytes());
    }
}

/// The first key in `b` and how many bytes it took; None when more bytes are needed.
fn parse(b: &[u8]) -> Option<(Key, usize)> {
    let first = *b.first()?;
    if first == 0x1b {
        let second = *b.get(1)?;
        if second != b'[' && second != b'O' {
            return Some((Key::Unknown, 1));
        }
        // CSI: parameters, then a final byte in 0x40..=0x7e.
        let end = b[2..].iter().position(|c| (0x40..=0x7e).contains(c))? + 2;
        let key = match (&b[2..end], b[end]) {
            (_, b'A') => Key::Up,
            (_, b'B') => Key::Down,
            (_, b'C') => Key::Right,
            (_, b'D') => Key::Left,
            (_, b'H') | (b"1" | b"7", b'~') => Key::Home,
            (_, b'F') | (b"4" | b"8", b'~') => Key::End,
            (b"3", b'~') => Key::Delete,
            _ => Key::Unknown,
        };
        return Some((key, end + 1));
    }
    if first < 0x20 || first == 0x7f {
        return Some((Key::Ctrl(first), 1));
    }
    let len = match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    let bytes = b.get(..len)?;
    let key = std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.chars().next())
        .map_or(Key::Unknown, Key::Char);
    Some((key, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((k, n)) = parse(&b[at..]) {
            out.push(match k {
                Key::Char(c) => c.to_string(),
                Key::Ctrl(c) => format!("^{c}"),
                Key::Up => "up".into(),
                Key::Down => "down".into(),
                Key::Left => "left".into(),
                Key::Right => "right".into(),
                Key::Home => "home".into(),
                Key::End => "end".into(),
                Key::Delete => "del".into(),
                Key::Unknown => "?".into(),
            });
            at += n;
        }
        out
    }

    #[test]
    fn keys_parse_from_escape_sequences_and_utf8() {
        assert_eq!(
            keys("a\x1b[A\x1b[3~é\x1bOH\r".as_bytes()),
            ["a", "up", "del", "é", "home", "^13"]
        );
        // A cut sequence waits for the rest.
        assert_eq!(keys(b"\x1b["), Vec::<String>::new());
    }
}
