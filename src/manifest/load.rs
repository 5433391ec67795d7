//! Reading a manifest from a file or stdin, refusing input that is too big or not text.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Real Pod manifests are a few KiB; anything this large is a mistake or an attack.
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// Why the input could not be read at all. Problems with its content are diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {file}: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file} is larger than 4 MiB; wpod does not read manifests that big")]
    TooLarge { file: String },
    #[error(
        "{file} is not UTF-8 text (invalid byte at line {line}, column {column}); save it as UTF-8"
    )]
    NotUtf8 {
        file: String,
        line: u64,
        column: u64,
    },
}

/// The bytes of `path` (`-` for stdin), its display name and the directory that relative
/// paths in it resolve against.
pub fn read(path: &str) -> Result<(String, PathBuf, Vec<u8>), LoadError> {
    if path == "-" {
        let file = "<stdin>".to_owned();
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let bytes = read_limited(&file, std::io::stdin().lock())?;
        return Ok((file, dir, bytes));
    }
    let file = path.to_owned();
    let opened = std::fs::File::open(path).map_err(|error| LoadError::Read {
        file: file.clone(),
        error,
    })?;
    // Checking the size first spares reading a huge file only to refuse it.
    if opened.metadata().is_ok_and(|m| m.len() > MAX_INPUT_BYTES) {
        return Err(LoadError::TooLarge { file });
    }
    let bytes = read_limited(&file, opened)?;
    let parent = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    let dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    Ok((file, dir, bytes))
}

/// Reads at most the limit plus one byte, so that `decode` notices going over.
fn read_limited(file: &str, input: impl Read) -> Result<Vec<u8>, LoadError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| LoadError::Read {
            file: file.to_owned(),
            error,
        })?;
    Ok(bytes)
}

/// The manifest's text: within the size limit and UTF-8, or the reason it is not.
pub fn decode(file: &str, bytes: Vec<u8>) -> Result<String, LoadError> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(LoadError::TooLarge {
            file: file.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count() as u64
            + 1;
        LoadError::NotUtf8 {
            file: file.to_owned(),
            line,
            column,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wpod-manifest-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        let written = std::fs::write(&path, bytes);
        assert!(written.is_ok(), "{written:?}");
        path
    }

    #[test]
    fn huge_input_is_refused() {
        let mut big = b"apiVersion: v1\nkind: Pod\n".to_vec();
        big.resize(
            usize::try_from(MAX_INPUT_BYTES).unwrap_or(usize::MAX) + 10,
            b'#',
        );
        let path = scratch_file("huge.yaml", &big);
        let err = read(&path.to_string_lossy()).err();
        let _ = std::fs::remove_file(&path);
        assert!(matches!(err, Some(LoadError::TooLarge { .. })), "{err:?}");
        let err = read_limited("<stdin>", big.as_slice())
            .and_then(|bytes| decode("<stdin>", bytes))
            .err();
        assert!(matches!(err, Some(LoadError::TooLarge { .. })), "{err:?}");
    }

    #[test]
    fn invalid_utf8_is_refused_with_position() {
        let err = decode("x.yaml", b"a: 1\nb: \xc3\x28\n".to_vec()).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("x.yaml is not UTF-8 text (invalid byte at line 2, column 4); save it as UTF-8")
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = read("/nonexistent/wpod/pod.yaml").err();
        assert!(matches!(err, Some(LoadError::Read { .. })), "{err:?}");
    }

    #[test]
    fn directory_of_a_relative_path_is_absolute() {
        let path = scratch_file("dir.yaml", b"a: 1\n");
        let read = read(&path.to_string_lossy()).ok();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            read.map(|(_, dir, _)| dir),
            path.parent().map(Path::to_path_buf)
        );
    }
}
