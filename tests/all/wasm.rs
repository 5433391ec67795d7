//! The WebAssembly backend: p1 modules and p2 components, memory limits, stopping, the compile cache.

use std::time::{Duration, Instant};

use crate::support::*;

/// A WASI p1 core module that writes a line to stdout and exits with 7, written by hand.
const P1_MODULE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from a p1 module\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 23))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7))))
"#;

/// A module that uses each proposal `wasmtime run` enables by default beyond the MVP: exceptions,
/// tail calls, GC with typed function references, threads' atomics, multi-memory, memory64 and
/// extended constant expressions. It traps if any misbehaves. (Shared memories stay refused:
/// wasmtime grows them without asking the store's limiter, which enforces the memory limit.)
const PROPOSALS_MODULE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory $main (export "memory") 1)
  (memory $wide i64 1)
  (global $three i32 (i32.add (i32.const 1) (i32.const 2)))
  (data (memory $main) (i32.const 16) "every proposal works\n")
  (tag $oops (param i32))
  (type $point (struct (field i32)))
  (type $unary (func (param i32) (result i32)))
  (func $throw (param i32) (throw $oops (local.get 0)))
  (func $caught (result i32)
    (block $handler (result i32)
      (try_table (catch $oops $handler) (call $throw (i32.const 42)))
      (i32.const 0)))
  (func $same (type $unary) (local.get 0))
  (func $tail (param i32) (result i32) (return_call $same (local.get 0)))
  (elem declare func $same)
  (func (export "_start")
    (if (i32.ne (call $caught) (i32.const 42)) (then unreachable))
    (if (i32.ne (call $tail (i32.const 7)) (i32.const 7)) (then unreachable))
    (if (i32.ne (struct.get $point 0 (struct.new $point (i32.const 5))) (i32.const 5))
      (then unreachable))
    (if (i32.ne (call_ref $unary (i32.const 9) (ref.func $same)) (i32.const 9)) (then unreachable))
    (drop (i32.atomic.rmw.add $main (i32.const 64) (i32.const 1)))
    (if (i32.ne (i32.atomic.load $main (i32.const 64)) (i32.const 1)) (then unreachable))
    (i64.store $wide (i64.const 8) (i64.const 77))
    (if (i64.ne (i64.load $wide (i64.const 8)) (i64.const 77)) (then unreachable))
    (if (i32.ne (global.get $three) (i32.const 3)) (then unreachable))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 21))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

#[test]
fn modules_using_the_proposals_wasmtime_enables_by_default_run() {
    let s = Scratch::new("proposals");
    s.write(
        "all.wasm",
        wat::parse_str(PROPOSALS_MODULE).expect("valid wat"),
    );
    let manifest = s.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: proposals}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: ./all.wasm}]\n",
    );
    let r = run_args(&["run", &manifest.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("c | every proposal works"), "{r:?}");
    // A shared memory would grow past the container's memory limit unseen: it is refused.
    s.write(
        "shared.wasm",
        wat::parse_str("(module (memory 1 1 shared) (func (export \"_start\")))")
            .expect("valid wat"),
    );
    let manifest = s.write(
        "shared.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: shared}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: ./shared.wasm}]\n",
    );
    let r = run_args(&["run", &manifest.to_string_lossy()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("shared memory support is disabled"),
        "{r:?}"
    );
}

#[test]
fn p1_module_from_a_file_next_to_the_manifest() {
    let s = Scratch::new("p1");
    s.write("hello.wasm", wat::parse_str(P1_MODULE).expect("valid wat"));
    let manifest = s.write(
        "pod.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p1}
spec:
  restartPolicy: Never
  containers:
    - {name: hello, image: ./hello.wasm}
"#,
    );
    let r = run_args(&["run", "-o", "json", &manifest.to_string_lossy()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("hello | hello from a p1 module"), "{r:?}");
    let pod = r.json();
    let app = container(&pod, "hello");
    assert_eq!(app["state"]["terminated"]["exitCode"], 7);
    assert!(
        app["imageID"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:")
    );
}

#[test]
fn p2_component_builtin() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec:
  restartPolicy: Never
  containers:
    - {name: c, image: testkit, command: ["testkit", "echo", "component"]}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("c | component"));
}

#[test]
fn a_file_that_is_not_wasm_is_an_image_error() {
    let s = Scratch::new("notwasm");
    s.write("bogus.wasm", "#!/bin/sh\necho hi\n");
    let manifest = s.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bogus}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: bogus.wasm}]\n",
    );
    let r = run_args(&["run", "-o", "json", &manifest.to_string_lossy()]);
    assert_eq!(r.code, 3, "{r:?}");
    let pod = r.json();
    let msg = container(&pod, "c")["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("not a WebAssembly binary"), "{msg}");
}

#[test]
fn memory_hog_is_oom_killed() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
    - name: hog
      image: testkit
      command: ["testkit", "alloc", "256Mi"]
      resources:
        limits: {memory: 32Mi}
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    let t = &container(&pod, "hog")["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(137), Some("OOMKilled"))
    );
    // Killed at the allocation, as by the kernel: the guest reports no failed allocation.
    assert!(
        !r.stderr.contains("hog | memory allocation") && !r.stderr.contains("RUST_BACKTRACE"),
        "{r:?}"
    );
}

#[test]
fn allocation_within_the_limit_succeeds() {
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: fits}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: testkit
      command: ["testkit", "alloc", "8Mi"]
      resources:
        limits: {memory: 64Mi}
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn busy_loop_is_stopped_by_timeout_and_reported_as_it_was() {
    let start = Instant::now();
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: spinner}
spec:
  containers:
    - {name: spin, image: testkit, command: ["testkit", "spin"]}
    - {name: other, image: testkit, command: ["testkit", "count", "3", "100"]}
"#,
        &["--timeout", "1s"],
    );
    let took = start.elapsed();
    assert_eq!(r.code, 124, "{r:?}");
    let pod = r.json();
    // The snapshot is from just before the stop: the spinner was still running.
    assert!(
        container(&pod, "spin")["state"]["running"].is_object(),
        "{pod:#}"
    );
    // The spinner did not starve the other container on the same engine.
    assert!(r.stderr.contains("other | 3"), "{r:?}");
    // Not a timing assertion on speed: a stop that failed would hang for the 30 s grace period.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn the_compile_cache_is_used_on_the_second_run() {
    let s = Scratch::new("cache");
    let cache = s.dir.join("cache");
    s.write("m.wasm", wat::parse_str(P1_MODULE).expect("valid wat"));
    let manifest = s.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: cached}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: m.wasm}]\n",
    );
    let run = || {
        wpod()
            .env("WPOD_CACHE_DIR", &cache)
            .args(["run", "-q", &manifest.to_string_lossy()])
            .output()
            .expect("wpod")
    };
    let snapshot = || -> Vec<(String, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(cache.join("compiled"))
            .expect("cache dir was created")
            .filter_map(Result::ok)
            .map(|e| {
                let mtime = e.metadata().and_then(|m| m.modified()).expect("mtime");
                (e.file_name().to_string_lossy().into_owned(), mtime)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(run().status.code(), Some(1));
    let before = snapshot();
    // The module and the pause image the sandbox runs.
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before.iter().all(|(n, _)| n.ends_with(".cwasm")));
    assert_eq!(run().status.code(), Some(1));
    assert_eq!(
        before,
        snapshot(),
        "the cached artifacts were reused, not rewritten"
    );
}

#[test]
fn p1_socket_calls_are_refused_with_an_explanation() {
    let s = Scratch::new("p1sock");
    let module = r#"
(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $exit (call $accept (i32.const 3) (i32.const 0) (i32.const 0)))))
"#;
    s.write("sock.wasm", wat::parse_str(module).expect("valid wat"));
    let manifest = s.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p1sock}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: sock.wasm}]\n",
    );
    let r = run_args(&["run", "-o", "json", &manifest.to_string_lossy()]);
    let pod = r.json();
    // ENOTSUP (58) came back to the guest, which exited with it.
    assert_eq!(
        container(&pod, "c")["state"]["terminated"]["exitCode"],
        58,
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("WASI preview 1 modules have no socket API"),
        "{r:?}"
    );
}

#[test]
fn a_trap_is_reported_once_with_its_cause() {
    // `(module (memory (export "memory") 1) (func (export "_start") unreachable))`
    let s = Scratch::new("trap");
    let wasm = s.write(
        "trap.wasm",
        [
            &b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x05\x03\x01\0\x01"[..],
            b"\x07\x13\x02\x06_start\0\0\x06memory\x02\0\x0a\x05\x01\x03\0\0\x0b",
        ]
        .concat(),
    );
    let r = run_json(
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: t}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: {}}}]\n",
            wasm.display()
        ),
        &[],
    );
    let pod = r.json();
    let t = &container(&pod, "c")["state"]["terminated"];
    assert_eq!(t["exitCode"], 134, "{pod:#}");
    assert_eq!(
        t["message"], "wasm trap: wasm `unreachable` instruction executed",
        "{pod:#}"
    );
}
