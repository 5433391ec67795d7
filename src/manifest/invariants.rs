//! What loading must satisfy whatever the input: no panic, and every diagnostic points
//! inside the input. The fuzz target (`fuzz/`, which includes this file by path) runs it on
//! every generated input; the test below runs it on the committed corpus, so a crash once
//! found stays fixed without the fuzzer.

use std::path::PathBuf;

use crate::manifest::tree::{self, Kind, Node};
use crate::manifest::{Diagnostic, LoadError, Manifest, load_bytes};

const FILE: &str = "fuzz.yaml";

/// Loads `bytes` as `wpod validate` would, then the documents it parsed written as JSON;
/// panics saying what is wrong when an invariant breaks.
pub fn check(bytes: &[u8]) {
    let loaded = load_bytes(FILE, PathBuf::from("/"), bytes.to_vec());
    let text = match loaded {
        Ok(manifest) => {
            // Only decoded input gets this far, so the lossy conversion is exact.
            let text = String::from_utf8_lossy(bytes);
            check_manifest(&text, &manifest);
            text
        }
        Err(err) => {
            check_load_error(bytes, &err);
            return;
        }
    };
    for json in as_json(&text) {
        if let Ok(manifest) = load_bytes(FILE, PathBuf::from("/"), json.clone().into_bytes()) {
            check_manifest(&json, &manifest);
        }
    }
}

fn check_load_error(bytes: &[u8], err: &LoadError) {
    let message = err.to_string();
    assert!(!message.is_empty(), "empty load error");
    if let LoadError::NotUtf8 { line, column, .. } = err {
        let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert!(
            (1..=lines).contains(line) && *column >= 1,
            "{message}: position outside the input of {lines} lines"
        );
    }
}

fn check_manifest(text: &str, manifest: &Manifest) {
    let lines = line_lengths(text);
    for d in &manifest.diagnostics {
        let rendered = d.to_string();
        assert!(!d.message.is_empty(), "empty message: {rendered}");
        assert_eq!(d.file, FILE, "{rendered}");
        assert!(d.column.is_none() || d.line.is_some(), "{rendered}");
        if let Some(line) = d.line {
            check_position(d, line, &lines, text);
        }
    }
    if !manifest.has_errors() {
        assert!(
            !manifest.pods.is_empty()
                || !manifest.config_maps.is_empty()
                || !manifest.secrets.is_empty()
                || manifest.diagnostics.iter().any(|d| !d.is_error()),
            "valid input without any object: {:?}",
            manifest.diagnostics
        );
    }
}

/// A position is 1-based and lies on a line of the input, at most one column past its end
/// (where "expected more" errors point).
fn check_position(d: &Diagnostic, line: u64, lines: &[u64], text: &str) {
    let inside = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .and_then(|index| lines.get(index))
        .is_some_and(|length| d.column.is_none_or(|c| c >= 1 && c <= length + 1));
    assert!(
        inside,
        "{d}\nposition outside the input ({} lines: {:?})",
        lines.len(),
        text.get(..text.len().min(400))
    );
}

/// The length in characters of each line, with YAML's line breaks (LF, CRLF, CR).
fn line_lengths(text: &str) -> Vec<u64> {
    let mut lengths = Vec::new();
    let mut current = 0u64;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                lengths.push(current);
                current = 0;
            }
            '\r' => {
                chars.next_if_eq(&'\n');
                lengths.push(current);
                current = 0;
            }
            _ => current += 1,
        }
    }
    lengths.push(current);
    lengths
}

/// Each document the loader parsed out of `text`, written as JSON with one key or item a
/// line (so positions differ from the YAML's), duplicate keys kept; `None` for documents
/// that JSON cannot hold (infinite or NaN numbers).
fn as_json(text: &str) -> Vec<String> {
    let docs = tree::parse(text).unwrap_or_default();
    docs.iter()
        .filter_map(|doc| {
            let mut out = String::new();
            write_json(doc, 0, &mut out).then_some(out)
        })
        .collect()
}

fn write_json(node: &Node, indent: usize, out: &mut String) -> bool {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match &node.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(b) => out.push_str(&b.to_string()),
        Kind::Int(i) => out.push_str(&i.to_string()),
        Kind::UInt(u) => out.push_str(&u.to_string()),
        Kind::Float(x) if x.is_finite() => out.push_str(&format!("{x:?}")),
        Kind::Float(_) => return false,
        Kind::Str(s) => out.push_str(&quoted(s)),
        Kind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&" ".repeat(indent + 1));
                if !write_json(item, indent + 1, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Kind::Map(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&" ".repeat(indent + 1));
                out.push_str(&quoted(&key.key_text()));
                out.push_str(": ");
                if !write_json(value, indent + 1, out) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_fuzz_corpus_loads_without_breaking_an_invariant() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/manifest");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        assert!(files.len() > 100, "corpus missing under {}", dir.display());
        for path in files {
            let bytes = std::fs::read(&path);
            assert!(bytes.is_ok(), "{}: {bytes:?}", path.display());
            let bytes = bytes.unwrap_or_default();
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(outcome.is_ok(), "{} broke an invariant", path.display());
        }
    }

    #[test]
    fn line_lengths_know_every_line_break() {
        assert_eq!(line_lengths("ab\r\nc\rdéf\n"), [2, 1, 3, 0]);
        assert_eq!(line_lengths(""), [0]);
    }

    #[test]
    fn a_position_past_the_input_is_caught() {
        let d = Diagnostic::error(FILE, Some(tree::Pos { line: 3, column: 1 }), "", "x".into());
        let lines = line_lengths("a: 1");
        let outcome = std::panic::catch_unwind(|| check_position(&d, 3, &lines, "a: 1"));
        assert!(outcome.is_err());
        check_position(&d, 1, &lines, "a: 1");
    }
}
