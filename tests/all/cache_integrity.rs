//! Cache integrity (issue 11, class 9): compiled code and native programs wpod finds damaged in
//! its cache are never executed; they are rebuilt, with a warning, and the run succeeds.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::support::{Run, Scratch, finish, linux_backend, wpod};

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: cached}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: testkit
    args: [echo, still fine]
";

fn run_with_cache(s: &Scratch, cache: &Path, extra: &[&str]) -> Run {
    let file = s.write("pod.yaml", POD);
    let out = wpod()
        .env("WPOD_CACHE_DIR", cache)
        .args(["run", "--color", "never"])
        .args(extra)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("run wpod");
    finish(out)
}

/// The one file in `dir` whose name starts with `prefix`.
fn entry(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    let found: Vec<PathBuf> = found
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "cache entries in {}: {found:?}",
        dir.display()
    );
    found[0].clone()
}

/// The largest file in `dir`: testkit's compiled code, beside the pause container's.
fn largest(dir: &Path) -> PathBuf {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| (e.metadata().map(|m| m.len()).unwrap_or(0), e.path()))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().map(|(_, p)| p).expect("a compiled entry")
}

/// Flips one byte in the middle of `path`, keeping its size.
fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).expect("write entry");
}

fn ran_fine(r: &Run) {
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("still fine"), "{r:?}");
    assert!(!r.stderr.contains("panicked"), "{r:?}");
}

#[test]
fn damaged_compiled_code_is_compiled_again_not_run() {
    let s = Scratch::new("cwasm");
    let cache = s.dir.join("cache");
    let first = run_with_cache(&s, &cache, &[]);
    ran_fine(&first);
    let cwasm = largest(&cache.join("compiled"));
    let size = std::fs::metadata(&cwasm).map(|m| m.len()).unwrap_or(0);

    flip_a_byte(&cwasm);
    let r = run_with_cache(&s, &cache, &[]);
    ran_fine(&r);
    assert!(
        r.stderr.contains("is damaged") && r.stderr.contains("compiling it again"),
        "{r:?}"
    );
    let again = run_with_cache(&s, &cache, &[]);
    ran_fine(&again);
    assert!(!again.stderr.contains("damaged"), "{again:?}");

    let half = std::fs::read(&cwasm).expect("entry");
    std::fs::write(&cwasm, &half[..half.len() / 2]).expect("truncate");
    let r = run_with_cache(&s, &cache, &[]);
    ran_fine(&r);
    assert!(r.stderr.contains("is damaged"), "{r:?}");
    assert_eq!(
        std::fs::metadata(&cwasm).map(|m| m.len()).unwrap_or(0),
        size,
        "rewritten whole"
    );
}

#[test]
fn a_damaged_native_program_is_written_again_not_execd() {
    if !linux_backend() {
        return;
    }
    let s = Scratch::new("native");
    let cache = s.dir.join("cache");
    let linux = ["--backend", "linux"];
    ran_fine(&run_with_cache(&s, &cache, &linux));
    let program = entry(&cache.join("native"), "testkit-");
    flip_a_byte(&program);
    let r = run_with_cache(&s, &cache, &linux);
    ran_fine(&r);
    assert!(
        r.stderr.contains("the native build of testkit") && r.stderr.contains("is damaged"),
        "{r:?}"
    );
    let again = run_with_cache(&s, &cache, &linux);
    ran_fine(&again);
    assert!(!again.stderr.contains("damaged"), "{again:?}");
}
