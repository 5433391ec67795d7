//! Golden tests over `tests/data/manifests`: every `invalid/*` manifest must render
//! exactly its `.err` file; every `valid/*` one must load without errors, and its
//! warnings must match its `.warn` file (absent when there are none).
//! `WPOD_BLESS=1` rewrites the golden files from the current output.

use std::path::{Path, PathBuf};

use super::load_path;

/// `tests/data/manifests` of the wpod source tree. `file!()` is relative to the package
/// in wpod but absolute when another crate includes this module by path, so both work.
fn data_dir() -> PathBuf {
    let source = Path::new(file!());
    let source = if source.is_absolute() {
        source.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(source)
    };
    let root = source.ancestors().nth(3).unwrap_or(Path::new("."));
    root.join("tests/data/manifests")
}

fn manifests(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"));
    files.sort();
    assert!(!files.is_empty(), "no manifests under {}", dir.display());
    files
}

/// What `wpod validate` would print, with the directory stripped for stable output.
fn render(path: &Path) -> (String, bool) {
    let dir = path
        .parent()
        .map(|d| format!("{}/", d.display()))
        .unwrap_or_default();
    let (text, failed) = match load_path(&path.to_string_lossy()) {
        Ok(manifest) => (
            manifest
                .diagnostics
                .iter()
                .map(|d| format!("{d}\n"))
                .collect(),
            manifest.has_errors(),
        ),
        Err(err) => (format!("{err}\n"), true),
    };
    (text.replace(&dir, ""), failed)
}

/// Compares `actual` with the golden file, or rewrites it when blessing.
fn check_golden(golden: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("WPOD_BLESS").is_some() {
        let result = if actual.is_empty() {
            std::fs::remove_file(golden).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
        } else {
            std::fs::write(golden, actual)
        };
        if let Err(err) = result {
            failures.push(format!("{}: {err}", golden.display()));
        }
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    if actual != expected {
        failures.push(format!(
            "{}:\n--- expected\n{expected}--- actual\n{actual}",
            golden.display()
        ));
    }
}

#[test]
fn invalid_manifests_render_their_golden_diagnostics() {
    let mut failures = Vec::new();
    for path in manifests(&data_dir().join("invalid")) {
        let (actual, failed) = render(&path);
        if !failed {
            failures.push(format!("{}: loaded without errors", path.display()));
        }
        check_golden(&path.with_extension("err"), &actual, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with WPOD_BLESS=1 to accept)",
        failures.join("\n")
    );
}

#[test]
fn valid_manifests_load_with_only_their_golden_warnings() {
    let mut failures = Vec::new();
    for path in manifests(&data_dir().join("valid")) {
        let (actual, failed) = render(&path);
        if failed {
            failures.push(format!("{}: errors:\n{actual}", path.display()));
        }
        match load_path(&path.to_string_lossy()) {
            Ok(manifest) if manifest.pods.is_empty() => {
                failures.push(format!("{}: no pods", path.display()))
            }
            _ => {}
        }
        check_golden(&path.with_extension("warn"), &actual, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with WPOD_BLESS=1 to accept)",
        failures.join("\n")
    );
}
