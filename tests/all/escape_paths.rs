//! A container plants a symlink in a volume; wpod, preparing a following container, must never
//! follow it out of the volume: not for its terminationMessagePath, its workingDir, a nested
//! volume mount point, a nested hostPath file mount, nor a subPath (issue 11, classes 1, 2, 10).
//!
//! Every attempt runs beside a sentinel: a host directory tree the symlink points at. Afterwards
//! the sentinel is byte-for-byte what it was, and nothing new appeared beside the state directory.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{Run, Scratch, backends, container, on_backends, wpod};

/// Everything under a directory: path -> kind, mode and content (or link target).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let what = if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p).ok())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.permissions().mode())
            } else {
                format!(
                    "file {:o} nlink {} {:?}",
                    m.permissions().mode(),
                    m.nlink(),
                    std::fs::read(&p).ok()
                )
            };
            out.insert(p, what);
        }
    }
    out
}

/// The names in a directory (not recursive).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One attempt: a scratch directory with a sentinel tree, a state directory and a host file.
struct Attempt {
    s: Scratch,
    backend: &'static str,
}

impl Attempt {
    fn new(name: &str, backend: &'static str) -> Attempt {
        let s = Scratch::new(&format!("escape-{name}-{backend}"));
        let sentinel = s.dir.join("sentinel");
        std::fs::create_dir_all(sentinel.join("sub")).expect("sentinel");
        std::fs::write(sentinel.join("keep.txt"), "keep\n").expect("sentinel file");
        std::fs::write(sentinel.join("sub/inner.txt"), "inner\n").expect("sentinel file");
        std::fs::write(sentinel.join("termlog"), "host file\n").expect("sentinel file");
        std::fs::write(s.dir.join("hostfile.txt"), "mounted file\n").expect("host file");
        std::fs::create_dir_all(s.dir.join("state")).expect("state dir");
        Attempt { s, backend }
    }

    fn sentinel(&self) -> PathBuf {
        self.s.dir.join("sentinel")
    }

    /// What a container writes as the symlink's target: relative from the emptyDir's host
    /// directory (`state/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`) on wasm, whose
    /// preopens refuse absolute targets; absolute on linux, where `/` is the container's root.
    fn target(&self) -> String {
        match self.backend {
            "wasm" => "../../../../../../sentinel".into(),
            _ => self.sentinel().display().to_string(),
        }
    }

    /// Runs the pod (`{target}` and `{host}` replaced) and checks that nothing outside the
    /// volumes changed.
    fn run(&self, spec: &str) -> Run {
        self.run_with(spec, &["--timeout", "20s", "--backoff-base", "100ms"])
    }

    /// [`Attempt::run`] with these options instead of its timeout and back-off.
    fn run_with(&self, spec: &str, options: &[&str]) -> Run {
        self.run_racing(spec, options, |_, _| {})
    }

    /// [`Attempt::run_with`], `race` running beside wpod with the state directory and a test
    /// that says whether wpod still runs.
    fn run_racing(
        &self,
        spec: &str,
        options: &[&str],
        race: impl FnOnce(&Path, &mut dyn FnMut() -> bool),
    ) -> Run {
        let manifest =
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: escape\nspec:\n{spec}")
                .replace("{target}", &self.target())
                .replace("{host}", &self.s.dir.display().to_string());
        let file = self.s.write("pod.yaml", manifest);
        let before = snapshot(&self.sentinel());
        let beside = names(&self.s.dir);
        let state = self.s.dir.join("state");
        let mut child = wpod()
            .env("WPOD_STATE_DIR", &state)
            .args(["run", "--color", "never", "-o", "json"])
            .args(options)
            .args(["--backend", self.backend])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wpod");
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        race(&state, &mut || matches!(child.try_wait(), Ok(None)));
        let status = child.wait().expect("wait for wpod");
        let r = Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
        };
        assert_eq!(
            snapshot(&self.sentinel()),
            before,
            "{}: the sentinel changed\n{r:?}",
            self.backend
        );
        assert_eq!(
            names(&self.s.dir),
            beside,
            "{}: a new entry beside the state directory\n{r:?}",
            self.backend
        );
        assert_eq!(
            std::fs::read_to_string(self.s.dir.join("hostfile.txt"))
                .ok()
                .as_deref(),
            Some("mounted file\n"),
            "{}",
            self.backend
        );
        r
    }
}

/// The init containers that plant `/data/link` -> the sentinel.
const PLANT: &str = r#"  initContainers:
  - name: plant
    image: testkit
    command: [symlink, "{target}", /data/link]
    volumeMounts: [{name: data, mountPath: /data}]
"#;

/// The container `victim` could not be made: it ended as a StartError (exit 128, Kubernetes'
/// failed-to-create), its message naming what was refused. Returns that message.
fn refused(r: &Run, backend: &str) -> String {
    let pod = r.json();
    let plant = &container(&pod, "plant")["state"]["terminated"];
    assert_eq!(
        plant["exitCode"], 0,
        "{backend}: the symlink was not planted: {r:?}"
    );
    let victim = &container(&pod, "victim")["state"];
    let message = victim["terminated"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(victim["terminated"]["exitCode"], 128, "{backend}: {r:?}");
    assert_eq!(
        victim["terminated"]["reason"], "StartError",
        "{backend}: {r:?}"
    );
    message
}

/// On wasm the host-side step is refused with a message that says why; on linux the path is
/// resolved in the container's own root, where the sentinel's path does not exist.
fn assert_says_why(message: &str, backend: &str) {
    let why = if backend == "wasm" {
        "leads outside the volume mounted at /data"
    } else {
        "in the container's root file system"
    };
    assert!(message.contains(why), "{backend}: {message}");
}

#[test]
fn termination_message_path_through_a_planted_symlink() {
    for backend in backends() {
        let a = Attempt::new("termlog", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes: [{{name: data, emptyDir: {{}}}}]
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [write, /data/link/termination-log, from the guest]
    terminationMessagePath: /data/link/termination-log
    volumeMounts: [{{name: data, mountPath: /data}}]
"#
        ));
        let message = refused(&r, backend);
        assert_says_why(&message, backend);
        assert!(
            message.contains("/link/termination-log"),
            "{backend}: {message}"
        );
    }
}

#[test]
fn working_dir_through_a_planted_symlink() {
    for backend in backends() {
        let a = Attempt::new("workdir", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes: [{{name: data, emptyDir: {{}}}}]
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [write, made-here, from the guest]
    workingDir: /data/link/work
    volumeMounts: [{{name: data, mountPath: /data}}]
"#
        ));
        // Both refuse: wasm's host-side mkdir will not leave the volume; on linux the container
        // creates it after pivot_root, in its own root, where the planted absolute link dangles.
        let pod = r.json();
        let state = &container(&pod, "victim")["state"]["terminated"];
        assert_eq!(state["exitCode"], 128, "{backend}: {r:?}");
        let message = state["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("creating the working directory /data/link/work"),
            "{backend}: {message}"
        );
        if backend == "wasm" {
            assert_says_why(message, backend);
        }
    }
}

#[test]
fn nested_volume_mount_through_a_planted_symlink() {
    for backend in backends() {
        let a = Attempt::new("nested", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes: [{{name: data, emptyDir: {{}}}}, {{name: cache, emptyDir: {{}}}}]
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [write, /data/link/cache/x, from the guest]
    volumeMounts: [{{name: data, mountPath: /data}}, {{name: cache, mountPath: /data/link/cache}}]
"#
        ));
        let message = refused(&r, backend);
        assert_says_why(&message, backend);
    }
}

#[test]
fn nested_host_path_file_mount_through_a_planted_symlink() {
    for backend in backends() {
        let a = Attempt::new("hostfile", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes:
  - {{name: data, emptyDir: {{}}}}
  - name: file
    hostPath: {{path: "{{host}}/hostfile.txt", type: File}}
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [cat, /data/link/mounted.txt]
    volumeMounts: [{{name: data, mountPath: /data}}, {{name: file, mountPath: /data/link/mounted.txt}}]
"#
        ));
        let message = refused(&r, backend);
        assert_says_why(&message, backend);
    }
}

#[test]
fn sub_path_through_a_planted_symlink_is_refused() {
    for backend in backends() {
        let a = Attempt::new("subpath", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes: [{{name: data, emptyDir: {{}}}}]
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [write, /sub/escaped, from the guest]
    volumeMounts: [{{name: data, mountPath: /sub, subPath: link/sub}}]
"#
        ));
        let pod = r.json();
        let waiting = &container(&pod, "victim")["state"]["waiting"];
        assert_eq!(
            waiting["reason"], "CreateContainerConfigError",
            "{backend}: {r:?}"
        );
        let message = waiting["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("failed to prepare subPath \"link/sub\" of volume \"data\""),
            "{backend}: {message}"
        );
        assert!(message.contains("leads outside"), "{backend}: {message}");
    }
}

#[test]
fn sub_path_expr_through_a_planted_symlink_is_refused() {
    for backend in backends() {
        let a = Attempt::new("subpathexpr", backend);
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes: [{{name: data, emptyDir: {{}}}}]
{PLANT}  containers:
  - name: victim
    image: testkit
    command: [write, /sub/escaped, from the guest]
    env: [{{name: WHERE, value: link}}]
    volumeMounts: [{{name: data, mountPath: /sub, subPathExpr: $(WHERE)/sub}}]
"#
        ));
        let pod = r.json();
        let waiting = &container(&pod, "victim")["state"]["waiting"];
        assert_eq!(
            waiting["reason"], "CreateContainerConfigError",
            "{backend}: {r:?}"
        );
        let message = waiting["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("failed to prepare subPath \"link/sub\" of volume \"data\""),
            "{backend}: {message}"
        );
        assert!(message.contains("leads outside"), "{backend}: {message}");
    }
}

#[test]
fn sub_path_through_a_symlink_inside_the_volume_is_followed() {
    for backend in backends() {
        let a = Attempt::new("subpath-inside", backend);
        let r = a.run(
            r#"  restartPolicy: Never
  volumes: [{name: data, emptyDir: {}}]
  initContainers:
  - name: mkdir
    image: testkit
    command: [mkdir, /data/real]
    volumeMounts: [{name: data, mountPath: /data}]
  - name: plant
    image: testkit
    command: [symlink, real, /data/inside]
    volumeMounts: [{name: data, mountPath: /data}]
  - name: writer
    image: testkit
    command: [write, /sub/f, through the link]
    volumeMounts: [{name: data, mountPath: /sub, subPath: inside}]
  containers:
  - name: reader
    image: testkit
    command: [cat, /data/real/f]
    volumeMounts: [{name: data, mountPath: /data}]
"#,
        );
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        let pod = r.json();
        assert_eq!(
            container(&pod, "reader")["state"]["terminated"]["exitCode"],
            0,
            "{backend}: {r:?}"
        );
    }
}

/// Victims of the subPath race: each restarts until a check sees the symlink and blocks it.
const RACE_VICTIMS: usize = 16;
/// At most this many runs of the race (of [`RACE_SECONDS`] each), until enough attempts have raced.
const RACE_ROUNDS: usize = 12;
/// How long one run of the race lasts.
const RACE_SECONDS: &str = "4s";

/// Swaps the emptyDir `data`'s `x` between a directory (900 us) and a symlink to `target`
/// (100 us) with renameat2(RENAME_EXCHANGE), so `x` is never missing, while `running` says so.
/// Only the short symlink phase is held by spinning (a sleep that short overshoots): the
/// directory phase sleeps, so the swap leaves the victims and wpod a core.
/// A container could do the same with a native renameat2; the toolbox shell cannot (its `mv`
/// leaves `x` missing half the time, which blocks the victims before they race).
fn swap_subpath(state: &Path, target: &Path, running: &mut dyn FnMut() -> bool) -> u64 {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use std::time::{Duration, Instant};
    let data = loop {
        if !running() {
            return 0;
        }
        let pods = names(&state.join("pods"));
        if let Some(pod) = pods.first() {
            let data = state.join(format!("pods/{pod}/volumes/kubernetes.io~empty-dir/data"));
            if data.is_dir() {
                break data;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let (x, l) = (data.join("x"), data.join("l"));
    let _ = std::fs::create_dir(&x);
    std::os::unix::fs::symlink(target, &l).expect("the swapped symlink");
    let hold = |d: Duration| {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    };
    let mut swaps = 0;
    while running() {
        // x becomes the symlink, then the directory again; an error ends it (the pod is gone).
        if renameat_with(CWD, &x, CWD, &l, RenameFlags::EXCHANGE).is_err() {
            break;
        }
        hold(Duration::from_micros(100));
        if renameat_with(CWD, &x, CWD, &l, RenameFlags::EXCHANGE).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_micros(900));
        swaps += 1;
    }
    swaps
}

/// The subPath race of CVE-2017-1002101 / CVE-2021-30465: `x` in the volume is swapped between a
/// directory and a symlink to the sentinel (see [`swap_subpath`]) while [`RACE_VICTIMS`]
/// containers with subPath `x` restart every 10 ms. An attempt that finds the symlink when the
/// kubelet checks the subPath blocks that victim (CreateContainerConfigError); one that finds
/// the directory races the swap until it is mounted. Measured on linux against the code before
/// this fix (canonicalise, then bind by path): 109 attempts, 13 of 16 victims wrote into the
/// sentinel.
/// Here the mount is made from the directory opened beneath the volume: whatever a victim gets
/// is inside the volume. At least 3 attempts per victim must race (about 7 do on linux), so that
/// the test means something. On wasm the subPath is opened beneath the volume when the container
/// is created and preopened from that descriptor. The backends race side by side.
#[test]
fn sub_path_race_with_a_symlink_swapped_in_between_check_and_mount() {
    on_backends(|backend| {
        let a = Attempt::new("race", backend);
        let victims: String = (0..RACE_VICTIMS)
            .map(|i| {
                format!(
                    "  - name: victim-{i}
    image: busybox
    command: [sh, -c, 'echo escaped > /sub/keep.txt; echo escaped > /sub/new-{i}.txt']
    volumeMounts: [{{name: data, mountPath: /sub, subPath: x}}]
"
                )
            })
            .collect();
        let target = a.target();
        // A victim that meets the symlink at the kubelet's check stays blocked, so how many
        // attempts race in one run is luck; runs repeat (each asserting the sentinel unchanged)
        // until enough have.
        let (mut swaps, mut attempts, mut refusals) = (0, 0, 0);
        for _ in 0..RACE_ROUNDS {
            let r = a.run_racing(
                &format!(
                    r#"  restartPolicy: Always
  volumes: [{{name: data, emptyDir: {{}}}}]
  containers:
{victims}"#
                ),
                &[
                    "--timeout",
                    RACE_SECONDS,
                    "--backoff-base",
                    "10ms",
                    "--backoff-max",
                    "10ms",
                ],
                |state, running| swaps += swap_subpath(state, Path::new(&target), running),
            );
            let pod = r.json();
            // Every restart is one attempt that got past the kubelet's check: it got the
            // directory, or found the symlink when it opened the subPath beneath the volume and
            // was refused.
            attempts += (0..RACE_VICTIMS)
                .map(|i| {
                    container(&pod, &format!("victim-{i}"))["restartCount"]
                        .as_u64()
                        .unwrap_or(0)
                })
                .sum::<u64>();
            refusals += r
                .stderr
                .matches("leads outside the volume mounted at /sub")
                .count();
            if attempts >= 3 * RACE_VICTIMS as u64 {
                break;
            }
        }
        eprintln!(
            "{backend}: subPath race: {swaps} swaps, {attempts} attempts raced, {refusals} refused"
        );
        assert!(
            attempts >= 3 * RACE_VICTIMS as u64,
            "{backend}: too few attempts raced the swap in {RACE_ROUNDS} runs ({attempts})"
        );
    });
}

/// A readOnly single-file hostPath mount: append, truncate and overwrite are refused with EROFS
/// on both backends, as Linux refuses them, and the host file is unchanged.
#[test]
fn read_only_single_file_mounts_refuse_writes() {
    for backend in backends() {
        let a = Attempt::new("ro-file", backend);
        let mount = r#"
    volumeMounts: [{name: file, mountPath: /etc/ro.txt, readOnly: true}]"#;
        let r = a.run(&format!(
            r#"  restartPolicy: Never
  volumes:
  - name: file
    hostPath: {{path: "{{host}}/hostfile.txt", type: File}}
  containers:
  - name: reader
    image: testkit
    command: [cat, /etc/ro.txt]{mount}
  - name: appender
    image: testkit
    command: [append, /etc/ro.txt, appended]{mount}
  - name: overwriter
    image: testkit
    command: [write, /etc/ro.txt, overwritten]{mount}
  - name: truncater
    image: busybox
    command: [sh, -c, ': > /etc/ro.txt']{mount}
  - name: toucher
    image: busybox
    command: [touch, -d, '2001-01-01', /etc/ro.txt]{mount}
"#
        ));
        let pod = r.json();
        assert_eq!(
            container(&pod, "reader")["state"]["terminated"]["exitCode"],
            0,
            "{backend}: {r:?}"
        );
        for c in ["appender", "overwriter", "truncater", "toucher"] {
            assert_ne!(
                container(&pod, c)["state"]["terminated"]["exitCode"],
                0,
                "{backend}: {c}: {r:?}"
            );
        }
        assert!(
            r.stderr.contains("[ReadOnlyFilesystem]"),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr.contains("Read-only file system"),
            "{backend}: {r:?}"
        );
        assert!(!r.stderr.contains("not permitted"), "{backend}: {r:?}");
        let meta = std::fs::metadata(a.s.dir.join("hostfile.txt")).expect("host file");
        assert_ne!(
            meta.mtime(),
            978307200,
            "{backend}: the guest set the host file's times"
        );
    }
}

/// A configMap item mounted alone by subPath (read-only, as configMap volumes are): appending,
/// truncating and overwriting it fail in the guest, and it still holds what wpod wrote.
#[test]
fn read_only_config_map_item_with_sub_path_refuses_writes() {
    for backend in backends() {
        let a = Attempt::new("ro-item", backend);
        let r = a.run(
            r#"  restartPolicy: Never
  volumes: [{name: settings, configMap: {name: settings}}]
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, 'if echo x >> /etc/greeting; then exit 1; fi; if : > /etc/greeting; then exit 2; fi; if echo y > /etc/greeting; then exit 3; fi; grep -qx hello /etc/greeting || exit 4']
    volumeMounts: [{name: settings, mountPath: /etc/greeting, subPath: greeting}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
"#,
        );
        let pod = r.json();
        assert_eq!(
            container(&pod, "writer")["state"]["terminated"]["exitCode"],
            0,
            "{backend}: {r:?}"
        );
    }
}
