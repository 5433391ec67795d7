//! Confinement: what a Linux container may do (capabilities, seccomp, no_new_privs, masked and
//! read-only /proc paths, its user), how `securityContext` changes it on both backends, that no
//! helper carries wpod's environment, and that nothing of a SIGKILLed wpod outlives it.
//!
//! The Linux tests need root; without it they skip and say so, unless `WPOD_REQUIRE_LINUX=1`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Scratch, container, linux_backend, run_json, wpod};

/// A one-container busybox pod running `script`, with `security` (YAML flow mapping) as its
/// securityContext.
fn pod(script: &str, security: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: conf}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, {script:?}]\n    securityContext: {security}\n"
    )
}

/// The container's output lines (stderr with `-o json`, prefixed `c | `).
fn lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("c | "))
        .collect()
}

/// The value of `Key:` in the container's /proc/self/status lines.
fn status_field<'a>(lines: &[&'a str], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

const PROBE: &str = "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
    for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/acpi /proc/scsi /proc/sys /proc/sysrq-trigger; do \
    if grep -q \" $p \" /proc/self/mounts; then echo mounted=$p; fi; done; \
    echo timer_list=$(wc -c < /proc/timer_list); \
    if echo wpod > /proc/sys/kernel/domainname; then echo sysctl=writable; else echo sysctl=read-only; fi";

/// runc's masked and read-only paths that exist on this machine (its kernel decides).
fn confined_paths() -> Vec<&'static str> {
    [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/acpi",
        "/proc/scsi",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect()
}

fn run_linux(manifest: &str) -> (crate::support::Run, Vec<String>) {
    let r = run_json(manifest, &["--backend", "linux", "--timeout", "30s"]);
    let out = lines(&r.stderr).into_iter().map(str::to_string).collect();
    (r, out)
}

/// Every capability wpod itself may hand out (its own bounding set: a privileged container gets
/// all of it, as runc gives what it holds).
fn all_caps() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim()
        .to_string()
}

#[test]
fn linux_containers_get_containerds_defaults() {
    if !linux_backend() {
        return;
    }
    let (r, out) = run_linux(&pod(PROBE, "{}"));
    assert_eq!(r.code, 0, "{r:?}");
    let out: Vec<&str> = out.iter().map(String::as_str).collect();
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&out, set), "00000000a80425fb", "{set}: {r:?}");
    }
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(
        status_field(&out, "Seccomp"),
        "2",
        "the runtime-default filter"
    );
    assert_eq!(
        status_field(&out, "NoNewPrivs"),
        "0",
        "as containerd by default"
    );
    // Masked (/dev/null or an empty tmpfs over them) and read-only paths are mounts of their own.
    for p in confined_paths() {
        assert!(out.contains(&format!("mounted={p}").as_str()), "{p}: {r:?}");
    }
    assert!(
        out.contains(&"timer_list=0"),
        "/proc/timer_list reads empty: {r:?}"
    );
    assert!(out.contains(&"sysctl=read-only"), "/proc/sys: {r:?}");
}

#[test]
fn privileged_containers_get_everything() {
    if !linux_backend() {
        return;
    }
    let (r, out) = run_linux(&pod(PROBE, "{privileged: true}"));
    assert_eq!(r.code, 0, "{r:?}");
    let out: Vec<&str> = out.iter().map(String::as_str).collect();
    assert_eq!(status_field(&out, "CapEff"), all_caps(), "{r:?}");
    assert_eq!(status_field(&out, "CapBnd"), all_caps(), "{r:?}");
    assert_eq!(status_field(&out, "Seccomp"), "0", "{r:?}");
    assert!(
        !out.iter().any(|l| l.starts_with("mounted=")),
        "nothing masked: {r:?}"
    );
    assert!(out.contains(&"sysctl=writable"), "{r:?}");
}

#[test]
fn capabilities_add_and_drop_and_no_new_privs_apply() {
    if !linux_backend() {
        return;
    }
    let security = "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE, CAP_KILL]}}";
    let (r, out) = run_linux(&pod(PROBE, security));
    assert_eq!(r.code, 0, "{r:?}");
    let out: Vec<&str> = out.iter().map(String::as_str).collect();
    // KILL is bit 5, NET_BIND_SERVICE bit 10.
    assert_eq!(status_field(&out, "CapEff"), "0000000000000420", "{r:?}");
    assert_eq!(status_field(&out, "CapBnd"), "0000000000000420", "{r:?}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1", "{r:?}");
    assert_eq!(status_field(&out, "Seccomp"), "2", "{r:?}");

    let (r, out) = run_linux(&pod(PROBE, "{capabilities: {drop: [NET_RAW, chown]}}"));
    let out: Vec<&str> = out.iter().map(String::as_str).collect();
    assert_eq!(status_field(&out, "CapEff"), "00000000a80405fa", "{r:?}");
}

#[test]
fn run_as_user_and_group_apply_with_no_capabilities_left() {
    if !linux_backend() {
        return;
    }
    let manifest = pod(PROBE, "{runAsUser: 1000, runAsGroup: 2000}").replace(
        "spec:\n",
        "spec:\n  securityContext: {supplementalGroups: [3000]}\n",
    );
    let manifest = manifest.replace("grep -E", "grep -E '^Groups:' /proc/self/status; grep -E");
    let (r, out) = run_linux(&manifest);
    assert_eq!(r.code, 0, "{r:?}");
    let out: Vec<&str> = out.iter().map(String::as_str).collect();
    assert_eq!(status_field(&out, "Uid"), "1000\t1000\t1000\t1000", "{r:?}");
    assert_eq!(status_field(&out, "Gid"), "2000\t2000\t2000\t2000", "{r:?}");
    assert_eq!(status_field(&out, "Groups"), "3000", "{r:?}");
    // The kernel empties a non-root user's sets at exec, as under runc; the bound stays.
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000", "{r:?}");
    assert_eq!(status_field(&out, "CapBnd"), "00000000a80425fb", "{r:?}");
}

fn waiting(r: &crate::support::Run) -> (String, String) {
    let pod = r.json();
    let state = &container(&pod, "c")["state"]["waiting"];
    (
        state["reason"].as_str().unwrap_or_default().to_string(),
        state["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn run_as_non_root_and_unknown_capabilities_are_refused_on_both_backends() {
    let backends: &[&str] = if linux_backend() {
        &["wasm", "linux"]
    } else {
        &["wasm"]
    };
    for backend in backends {
        let args = ["--backend", backend, "--timeout", "20s"];
        let r = run_json(&pod("echo ran", "{runAsNonRoot: true}"), &args);
        let (reason, message) = waiting(&r);
        assert_eq!(reason, "CreateContainerConfigError", "{backend}: {r:?}");
        assert!(
            message.starts_with(
                "container has runAsNonRoot and image will run as root (pod: \"conf_default("
            ),
            "{backend}: {message}"
        );
        assert!(!r.stderr.contains("c | ran"), "{backend}: {r:?}");

        let r = run_json(
            &pod("echo ran", "{runAsNonRoot: true, runAsUser: 0}"),
            &args,
        );
        let (reason, message) = waiting(&r);
        assert_eq!(reason, "CreateContainerConfigError", "{backend}: {r:?}");
        assert!(
            message.starts_with("container's runAsUser breaks non-root policy"),
            "{backend}: {message}"
        );

        let r = run_json(
            &pod("echo ran", "{runAsNonRoot: true, runAsUser: 1000}"),
            &args,
        );
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert!(r.stderr.contains("c | ran"), "{backend}: {r:?}");

        let r = run_json(
            &pod("echo ran", "{capabilities: {add: [NOT_A_CAP]}}"),
            &args,
        );
        let (reason, message) = waiting(&r);
        assert_eq!(reason, "CreateContainerError", "{backend}: {r:?}");
        assert!(
            message.contains("unknown capability \"CAP_NOT_A_CAP\""),
            "{backend}: {message}"
        );

        let profile = "{seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}}";
        let r = run_json(&pod("echo ran", profile), &args);
        let (reason, message) = waiting(&r);
        assert_eq!(reason, "CreateContainerError", "{backend}: {r:?}");
        assert!(
            message.contains("profiles/audit.json"),
            "{backend}: {message}"
        );
    }
}

#[test]
fn read_only_root_file_system_on_both_backends() {
    let backends: &[&str] = if linux_backend() {
        &["wasm", "linux"]
    } else {
        &["wasm"]
    };
    let script = "if touch /made-by-guest; then echo root=writable; else echo root=read-only; fi; \
        if touch /tmp/made-by-guest; then echo tmp=writable; else echo tmp=read-only; fi; \
        if touch /scratch/ok; then echo volume=writable; else echo volume=read-only; fi";
    let manifest = pod(script, "{readOnlyRootFilesystem: true}").replace(
        "    securityContext:",
        "    volumeMounts: [{name: scratch, mountPath: /scratch}]\n    securityContext:",
    ) + "  volumes: [{name: scratch, emptyDir: {}}]\n";
    for backend in backends {
        let r = run_json(&manifest, &["--backend", backend, "--timeout", "20s"]);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        let out = lines(&r.stderr);
        for expected in ["root=read-only", "tmp=read-only", "volume=writable"] {
            assert!(out.contains(&expected), "{backend}: {expected}: {r:?}");
        }
    }
}

#[test]
fn wasm_says_which_security_fields_are_moot() {
    let r = run_json(
        &pod(
            "echo ran",
            "{privileged: true, capabilities: {add: [NET_ADMIN]}}",
        ),
        &["--timeout", "20s"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("warning: conf/c: privileged, capabilities set but moot on the wasm backend"),
        "{r:?}"
    );
}

/// Processes (pid, environ) that carry `needle` in their environment, but for this one.
fn environ_holding(needle: &[u8]) -> Vec<(u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            (pid != me && env.windows(needle.len()).any(|w| w == needle))
                .then(|| (pid, String::from_utf8_lossy(&env).replace('\0', " ")))
        })
        .collect()
}

#[test]
fn helpers_probes_and_hooks_never_see_wpods_environment() {
    if !linux_backend() {
        return;
    }
    const SECRET: &str = "wpod-test-secret-5f1c9a";
    let s = Scratch::new("environ");
    let data = s.dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: env}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    env: [{{name: MINE, value: container-env}}]\n    command: [sh, -c, 'sleep 3']\n    volumeMounts: [{{name: data, mountPath: /data}}]\n    lifecycle:\n      postStart:\n        exec:\n          command: [sh, -c, 'tr \"\\0\" \"\\n\" < /proc/self/environ > /data/hook-env']\n    readinessProbe:\n      periodSeconds: 1\n      exec:\n        command: [sh, -c, 'tr \"\\0\" \"\\n\" < /proc/self/environ > /data/probe-env']\n  volumes: [{{name: data, hostPath: {{path: {}}}}}]\n",
        data.display()
    );
    let file = s.write("pod.yaml", manifest);
    let child = wpod()
        .args(["run", "--backend", "linux", "--timeout", "20s"])
        .arg(&file)
        .env("WPOD_SECRET_FOR_TEST", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wpod");
    let wpod_pid = child.id();
    // While the pod runs: no process but wpod itself holds the secret (helpers start empty).
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut leaks = Vec::new();
    while Instant::now() < deadline {
        leaks.extend(
            environ_holding(SECRET.as_bytes())
                .into_iter()
                .filter(|(pid, _)| *pid != wpod_pid),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wpod");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(leaks.is_empty(), "wpod's environment reached: {leaks:#?}");
    for file in ["hook-env", "probe-env"] {
        let env = std::fs::read_to_string(data.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}\n{stderr}"));
        assert!(
            env.lines().any(|l| l == "MINE=container-env"),
            "{file}: {env}"
        );
        assert!(!env.contains(SECRET), "{file}: {env}");
        assert!(
            !env.contains("WPOD_"),
            "{file} holds a variable of wpod's: {env}"
        );
    }
}

/// The `*.proc` records (pid and start time) under `dir`, as the Linux backend writes them.
fn recorded(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "proc")
                && let Some(pid) = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| t.split_whitespace().next()?.parse().ok())
            {
                out.push((p, pid));
            }
        }
    }
    out
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].starts_with(|c| c != 'Z' && c != 'X')))
        .unwrap_or(false)
}

#[test]
fn a_sigkilled_wpod_leaves_nothing_after_the_next_start() {
    if !linux_backend() {
        return;
    }
    let s = Scratch::new("sigkill");
    let state = s.dir.join("state");
    let data = s.dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: victim}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'while true; do date >> /data/alive; sleep 0.2; done']\n    resources: {{limits: {{memory: 64Mi}}}}\n    volumeMounts: [{{name: data, mountPath: /data}}]\n  - name: d\n    image: busybox\n    command: [sleep, '1000']\n  volumes: [{{name: data, hostPath: {{path: {}}}}}]\n",
        data.display()
    );
    let file = s.write("pod.yaml", manifest);
    let mut child = wpod()
        .args(["run", "--backend", "linux"])
        .arg(&file)
        .env("WPOD_STATE_DIR", &state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run wpod");
    let killed = child.id();
    // Both containers and the pause recorded: the pod is up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let procs = loop {
        let r = recorded(&state);
        if r.iter()
            .filter(|(p, _)| p.ends_with("container.proc"))
            .count()
            == 2
            && data.join("alive").exists()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "the pod did not start: {r:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let cgroups: Vec<PathBuf> = glob_cgroups(killed);
    assert!(!cgroups.is_empty(), "the memory limit makes a cgroup");
    child.kill().expect("SIGKILL wpod");
    let _ = child.wait();

    // The lifeline: every process of the pod goes with wpod, none waits for the next run.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<&(PathBuf, u32)> = procs.iter().filter(|(_, pid)| alive(*pid)).collect();
        let helpers = environ_holding(format!("WPOD_PID={killed}\0").as_bytes());
        if left.is_empty() && helpers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running after wpod's SIGKILL: {left:?}, helpers {helpers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let size = std::fs::metadata(data.join("alive")).expect("alive").len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        std::fs::metadata(data.join("alive")).expect("alive").len(),
        size,
        "a container still writes to its hostPath volume"
    );
    let pods = state.join("pods");
    assert_eq!(
        std::fs::read_dir(&pods).expect("pods").count(),
        1,
        "left behind"
    );

    // The next start removes the rest and says so.
    let again = s.write(
        "again.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: next}\nspec:\n  restartPolicy: Never\n  containers: [{name: c, image: busybox, command: [\"true\"]}]\n",
    );
    let out = wpod()
        .args(["run", "--backend", "linux", "--timeout", "20s"])
        .arg(&again)
        .env("WPOD_STATE_DIR", &state)
        .stdin(Stdio::null())
        .output()
        .expect("run wpod");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "wpod: removed 1 pod directory left by an earlier wpod that was killed (pid {killed})"
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&pods).expect("pods").count(),
        0,
        "pod directories left: {stderr}"
    );
    // Any run may have removed them (they are the machine's): they are gone.
    for cg in &cgroups {
        assert!(!cg.exists(), "{} left: {stderr}", cg.display());
    }
    assert!(
        std::fs::read_dir(state.join("runs"))
            .expect("runs")
            .next()
            .is_none(),
        "run records left"
    );
}

/// The cgroup directories of wpod `pid`'s containers (named `wpod/<pid as 8 hex digits>...`).
fn glob_cgroups(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("{pid:08x}");
    let root = Path::new("/sys/fs/cgroup");
    let mut parents = vec![root.join("wpod"), root.join("unified/wpod")];
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        parents.push(e.path().join("wpod"));
    }
    parents
        .iter()
        .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}
