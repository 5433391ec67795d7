//! Volumes through the real binary: emptyDir, hostPath, mounts, ConfigMaps and Secrets, the
//! downward API, and the guest's confinement to what it mounts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{Run, Scratch, container, phase, said, wpod};

/// Runs `wpod run --color never [extra] pod.yaml` with the state directory inside `s`.
fn run(s: &Scratch, manifest: &str, extra: &[&str]) -> Run {
    let file = s.write("pod.yaml", manifest);
    let out = wpod()
        .env("WPOD_STATE_DIR", state(s))
        .args(["run", "--color", "never", "--backoff-base", "100ms"])
        .args(extra)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run wpod");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn state(s: &Scratch) -> PathBuf {
    s.dir.join("state")
}

/// Nothing of any pod is left in the state directory.
fn assert_cleaned_up(s: &Scratch) {
    let pods = state(s).join("pods");
    let left: Vec<_> = std::fs::read_dir(&pods)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn pod(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vol\n  labels:\n    app: demo\n  annotations:\n    note: \"say \\\"hi\\\"\"\nspec:\n{spec}"
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn an_init_container_writes_what_the_app_reads() {
    let s = Scratch::new("init-writes");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: Never
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: init
    image: testkit
    command: [write, /work/msg, hello from init]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: testkit
    command: [cat, /shared/msg]
    volumeMounts: [{name: work, mountPath: /shared}]
"#),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(said(&r, "app"), "hello from init\n", "{r:?}");
    assert_cleaned_up(&s);
}

#[test]
fn a_second_container_follows_a_log_in_a_shared_empty_dir() {
    let s = Scratch::new("log-share");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: Never
  volumes:
  - name: logs
    emptyDir: {}
  containers:
  - name: writer
    image: testkit
    command: [log, /var/log/app/app.log, "5", "30"]
    volumeMounts: [{name: logs, mountPath: /var/log/app}]
  - name: reader
    image: testkit
    command: [tail-f, /logs/app.log, "5"]
    volumeMounts: [{name: logs, mountPath: /logs, readOnly: true}]
"#),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        said(&r, "reader"),
        "line 1\nline 2\nline 3\nline 4\nline 5\n",
        "{r:?}"
    );
}

#[test]
fn empty_dir_survives_a_restart_but_the_container_file_system_does_not() {
    let s = Scratch::new("restart");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: OnFailure
  volumes:
  - name: data
    emptyDir: {}
  containers:
  - name: app
    image: testkit
    command: [mark, /data/m, /m, /tmp/t]
    volumeMounts: [{name: data, mountPath: /data}]
"#),
        &["-o", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        said(&r, "app"),
        "/data/m: created\n/m: created\n/tmp/t: created\n/data/m: existed\n/m: created\n/tmp/t: created\n",
        "{r:?}"
    );
    assert_eq!(container(&r.json(), "app")["restartCount"], 1);
    assert_cleaned_up(&s);
}

#[test]
fn keep_volumes_keeps_them_and_says_where() {
    let s = Scratch::new("keep");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: Never
  volumes:
  - name: data
    emptyDir: {}
  containers:
  - name: app
    image: testkit
    command: [write, /data/kept.txt, still here]
    volumeMounts: [{name: data, mountPath: /data}]
"#),
        &["--keep-volumes"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("volumes kept in "))
        .unwrap_or_else(|| panic!("{r:?}"));
    let dir = PathBuf::from(line.split("volumes kept in ").nth(1).unwrap_or_default());
    let data = dir.join("kubernetes.io~empty-dir/data");
    assert_eq!(mode(&data), 0o777);
    assert_eq!(
        std::fs::read_to_string(data.join("kept.txt"))
            .ok()
            .as_deref(),
        Some("still here\n")
    );
}

#[test]
fn the_container_sees_its_own_root_with_image_files_hostname_and_tmp() {
    let s = Scratch::new("rootfs");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: Never
  hostname: box
  volumes:
  - name: cache
    emptyDir: {}
  - name: data
    emptyDir: {}
  containers:
  - name: app
    image: testkit
    command: [cat, /etc/testkit.txt, /etc/hostname]
  - name: lister
    image: testkit
    command: [ls, /]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cache, mountPath: /data/cache}
  - name: nested
    image: testkit
    command: [write, /data/cache/c.txt, nested]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cache, mountPath: /data/cache}
"#),
        &["--keep-volumes"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        said(&r, "app"),
        "testkit: a file that comes with the image\nbox\n",
        "{r:?}"
    );
    // /dev holds the termination-log file the kubelet mounts in every container, /var the
    // service account's volume.
    assert_eq!(
        said(&r, "lister"),
        "data/\ndev/\netc/\nrun/\ntmp/\nvar/\n",
        "{r:?}"
    );
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("volumes kept in "))
        .unwrap_or_default();
    let dir = PathBuf::from(line.split("volumes kept in ").nth(1).unwrap_or_default());
    // The longest mount wins: the file is in the cache volume, not in data/cache.
    assert!(
        dir.join("kubernetes.io~empty-dir/cache/c.txt").is_file(),
        "{r:?}"
    );
    assert!(
        !dir.join("kubernetes.io~empty-dir/data/cache/c.txt")
            .exists()
    );
}

#[test]
fn host_path_data_outlives_the_pod() {
    let s = Scratch::new("hostpath");
    let host = s.dir.join("host/made");
    std::fs::create_dir_all(s.dir.join("host")).expect("mkdir");
    let file = s.write("host/existing.txt", "first\n");
    let r = run(
        &s,
        &pod(&format!(
            r#"  restartPolicy: Never
  volumes:
  - name: made
    hostPath: {{path: {}, type: DirectoryOrCreate}}
  - name: file
    hostPath: {{path: {}, type: File}}
  - name: created
    hostPath: {{path: {}/new.txt, type: FileOrCreate}}
  containers:
  - name: app
    image: testkit
    command: [write, /h/out.txt, persisted]
    volumeMounts: [{{name: made, mountPath: /h}}]
  - name: file
    image: testkit
    command: [append, /etc/app/existing.txt, second]
    volumeMounts: [{{name: file, mountPath: /etc/app/existing.txt}}, {{name: created, mountPath: /new.txt}}]
"#,
            host.display(),
            file.display(),
            s.dir.join("host").display()
        )),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(mode(&host), 0o755);
    assert_eq!(
        std::fs::read_to_string(host.join("out.txt"))
            .ok()
            .as_deref(),
        Some("persisted\n")
    );
    assert_eq!(
        std::fs::read_to_string(&file).ok().as_deref(),
        Some("first\nsecond\n")
    );
    assert_eq!(mode(&s.dir.join("host/new.txt")), 0o644);
    assert_cleaned_up(&s);
}

#[test]
fn failed_host_path_type_checks_keep_the_pod_from_starting() {
    let s = Scratch::new("hostpath-types");
    let file = s.write("a-file", "x");
    let dir = s.dir.clone();
    let missing = s.dir.join("missing");
    let cases = [
        (
            dir.clone(),
            "File",
            format!("{} is not a file", dir.display()),
        ),
        (
            file.clone(),
            "Directory",
            format!("{} is not a directory", file.display()),
        ),
        (
            file.clone(),
            "DirectoryOrCreate",
            format!("{} is not a directory", file.display()),
        ),
        (
            dir.clone(),
            "FileOrCreate",
            format!("{} is not a file", dir.display()),
        ),
        (
            missing.clone(),
            "Directory",
            format!("{} is not a directory", missing.display()),
        ),
        (
            missing.join("f"),
            "FileOrCreate",
            format!("open {}/f: no such file or directory", missing.display()),
        ),
        (
            file.clone(),
            "Socket",
            format!("{} is not a socket file", file.display()),
        ),
        (
            file.clone(),
            "CharDevice",
            format!("{} is not a character device", file.display()),
        ),
        (
            PathBuf::from("/dev/null"),
            "BlockDevice",
            "/dev/null is not a block device".to_string(),
        ),
    ];
    for (path, type_, message) in cases {
        let r = run(
            &s,
            &pod(&format!(
                "  volumes:\n  - name: x\n    hostPath: {{path: {}, type: {type_}}}\n  containers:\n  - name: app\n    image: testkit\n    command: [echo, must not run]\n    volumeMounts: [{{name: x, mountPath: /x}}]\n",
                path.display()
            )),
            &[],
        );
        assert_eq!(r.code, 3, "{type_}: {r:?}");
        let expected = if message.starts_with("open ") {
            format!("MountVolume.SetUp failed for volume \"x\" : {message}")
        } else {
            format!(
                "MountVolume.SetUp failed for volume \"x\" : hostPath type check failed: {message}"
            )
        };
        assert!(r.stderr.contains(&expected), "{type_}: {r:?}");
        assert!(r.stderr.contains("FailedMount"), "{type_}: {r:?}");
        assert!(!r.stdout.contains("must not run"), "{r:?}");
    }
    assert!(!missing.exists(), "a failed check must not create anything");
}

/// A Windows node's hostPath validates (the API server takes it), but on this node it names no
/// path: the pod fails to mount it, saying so, and nothing is created.
#[test]
fn a_windows_host_path_fails_to_mount_here_saying_why() {
    let s = Scratch::new("hostpath-windows");
    let r = run(
        &s,
        &pod(
            "  restartPolicy: Never\n  volumes:\n  - name: x\n    hostPath: {path: 'C:\\site'}\n  containers:\n  - name: app\n    image: testkit\n    command: [echo, must not run]\n    volumeMounts: [{name: x, mountPath: /x}]\n",
        ),
        &[],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "MountVolume.SetUp failed for volume \"x\" : hostPath \"C:\\\\site\" is a Windows path, and this node runs {}: give a path of this machine",
            std::env::consts::OS
        )),
        "{r:?}"
    );
    assert!(!r.stdout.contains("must not run"), "{r:?}");
    assert!(!Path::new("C:\\site").exists());
}

#[test]
fn host_path_types_that_pass() {
    let s = Scratch::new("hostpath-pass");
    let sock = s.dir.join("s.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let r = run(
        &s,
        &pod(&format!(
            "  restartPolicy: Never\n  volumes:\n  - name: sock\n    hostPath: {{path: {}, type: Socket}}\n  - name: dir\n    hostPath: {{path: {}, type: Directory}}\n  - name: plain\n    hostPath: {{path: {}/plain}}\n  containers:\n  - name: app\n    image: testkit\n    command: [ls, /run]\n    volumeMounts: [{{name: sock, mountPath: /run/s.sock}}, {{name: dir, mountPath: /d}}, {{name: plain, mountPath: /p}}]\n",
            sock.display(),
            s.dir.display(),
            s.dir.display()
        )),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(said(&r, "app"), "s.sock\n", "{r:?}");
    assert!(
        s.dir.join("plain").is_dir(),
        "type \"\" creates a missing directory"
    );
}

#[test]
fn read_only_mounts_refuse_writes() {
    let s = Scratch::new("readonly");
    let host = s.dir.join("ro");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("existing.txt"), "original\n").expect("write");
    let r = run(
        &s,
        &pod(&format!(
            r#"  restartPolicy: Never
  volumes:
  - name: ro
    hostPath: {{path: {}}}
  containers:
  - name: reader
    image: testkit
    command: [cat, /ro/existing.txt]
    volumeMounts: [{{name: ro, mountPath: /ro, readOnly: true}}]
  - name: creator
    image: testkit
    command: [write, /ro/new.txt, nope]
    volumeMounts: [{{name: ro, mountPath: /ro, readOnly: true}}]
  - name: overwriter
    image: testkit
    command: [append, /ro/existing.txt, nope]
    volumeMounts: [{{name: ro, mountPath: /ro, readOnly: true}}]
  - name: mkdir
    image: testkit
    command: [mkdir, /ro/sub]
    volumeMounts: [{{name: ro, mountPath: /ro, readOnly: true}}]
  - name: renamer
    image: testkit
    command: [rename, /ro/existing.txt, /ro/moved.txt]
    volumeMounts: [{{name: ro, mountPath: /ro, readOnly: true}}]
"#,
            host.display()
        )),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let pod = r.json();
    assert_eq!(
        container(&pod, "reader")["state"]["terminated"]["exitCode"],
        0
    );
    for c in ["creator", "overwriter", "mkdir", "renamer"] {
        assert_eq!(
            container(&pod, c)["state"]["terminated"]["exitCode"],
            2,
            "{c}: {r:?}"
        );
    }
    assert_eq!(said(&r, "reader"), "original\n", "{r:?}");
    // EROFS, as Linux refuses a change to a read-only mount (wasmtime-wasi's EPERM is converted).
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    assert!(r.stderr.contains("[ReadOnlyFilesystem]"), "{r:?}");
    assert!(!r.stderr.contains("not permitted"), "{r:?}");
    let mut names: Vec<String> = std::fs::read_dir(&host)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["existing.txt"]);
    assert_eq!(
        std::fs::read_to_string(host.join("existing.txt"))
            .ok()
            .as_deref(),
        Some("original\n")
    );
}

#[test]
fn sub_path_and_sub_path_expr() {
    let s = Scratch::new("subpath");
    let r = run(
        &s,
        &pod(r#"  restartPolicy: Never
  volumes:
  - name: data
    emptyDir: {}
  initContainers:
  - name: sub
    image: testkit
    command: [write, /sub/f, in a/b]
    volumeMounts: [{name: data, mountPath: /sub, subPath: a/b}]
  - name: expr
    image: testkit
    command: [write, /out/x, per pod]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    volumeMounts: [{name: data, mountPath: /out, subPathExpr: logs/$(POD_NAME)}]
  containers:
  - name: app
    image: testkit
    command: [cat, /all/a/b/f, /all/logs/vol/x]
    volumeMounts: [{name: data, mountPath: /all}]
"#),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(said(&r, "app"), "in a/b\nper pod\n", "{r:?}");
}

#[test]
fn a_bad_sub_path_expr_is_a_create_container_config_error() {
    let s = Scratch::new("subpath-bad");
    let r = run(
        &s,
        &pod(r#"  volumes:
  - name: data
    emptyDir: {}
  containers:
  - name: app
    image: testkit
    command: [echo, must not run]
    volumeMounts: [{name: data, mountPath: /out, subPathExpr: logs/$(MISSING)}]
"#),
        &["-o", "json"],
    );
    assert_eq!(r.code, 3, "{r:?}");
    let pod = r.json();
    let waiting = &container(&pod, "app")["state"]["waiting"];
    assert_eq!(waiting["reason"], "CreateContainerConfigError", "{r:?}");
    assert_eq!(waiting["message"], "missing value for MISSING", "{r:?}");
    assert_eq!(phase(&r.json()), "Pending");
    assert_cleaned_up(&s);
}

const OBJECTS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
  app.conf: "a=1\n"
binaryData:
  bin: AAEC
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  password: czNjcmV0
stringData:
  user: admin
---
"#;

#[test]
fn config_maps_and_secrets_as_files_and_env() {
    let s = Scratch::new("configmap");
    let manifest = OBJECTS.to_string()
        + &pod(r#"  restartPolicy: Never
  volumes:
  - name: all
    configMap: {name: settings}
  - name: items
    configMap:
      name: settings
      items: [{key: greeting, path: sub/greet.txt, mode: 0600}]
  - name: secret
    secret: {secretName: creds, defaultMode: 0400}
  - name: optional
    configMap: {name: absent, optional: true}
  containers:
  - name: files
    image: testkit
    command: [cat, /etc/config/greeting, /etc/config/app.conf, /etc/items/sub/greet.txt, /etc/secret/password, /etc/secret/user]
    volumeMounts:
    - {name: all, mountPath: /etc/config}
    - {name: items, mountPath: /etc/items}
    - {name: secret, mountPath: /etc/secret}
    - {name: optional, mountPath: /etc/optional}
  - name: env
    image: testkit
    command: [env]
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    - secretRef: {name: creds}
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: PASS
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    - name: BOTH
      value: $(GREETING)-$(user)-$(CFG_greeting)
    - name: ABSENT
      valueFrom: {configMapKeyRef: {name: settings, key: nope, optional: true}}
  - name: readonly
    image: testkit
    command: [write, /etc/config/greeting, changed]
    volumeMounts: [{name: all, mountPath: /etc/config}]
"#);
    let r = run(&s, &manifest, &["--keep-volumes"]);
    assert_eq!(r.code, 1, "only `readonly` fails: {r:?}");
    assert_eq!(said(&r, "files"), "helloa=1\nhellos3cretadmin\n", "{r:?}");
    let env = said(&r, "env");
    for line in [
        "GREETING=hello",
        "PASS=s3cret",
        "BOTH=hello-admin-hello",
        "CFG_greeting=hello",
        "CFG_app.conf=a=1",
        "user=admin",
        "password=s3cret",
    ] {
        assert!(env.lines().any(|l| l == line), "{line}: {r:?}");
    }
    assert!(!env.contains("ABSENT"), "{r:?}");
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("volumes kept in "))
        .unwrap_or_default();
    let dir = PathBuf::from(line.split("volumes kept in ").nth(1).unwrap_or_default());
    assert_eq!(
        mode(&dir.join("kubernetes.io~configmap/items/sub/greet.txt")),
        0o600
    );
    assert_eq!(
        mode(&dir.join("kubernetes.io~configmap/all/greeting")),
        0o644
    );
    assert_eq!(
        mode(&dir.join("kubernetes.io~secret/secret/password")),
        0o400
    );
    assert_eq!(
        std::fs::read(dir.join("kubernetes.io~configmap/all/bin")).ok(),
        Some(vec![0, 1, 2])
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("kubernetes.io~configmap/all/greeting"))
            .ok()
            .as_deref(),
        Some("hello")
    );
}

#[test]
fn missing_config_maps_secrets_and_keys() {
    let s = Scratch::new("configmap-missing");
    let env = |from: &str| {
        OBJECTS.to_string()
            + &pod(&format!(
                "  containers:\n  - name: app\n    image: testkit\n    command: [echo, must not run]\n    env:\n    - name: X\n      valueFrom: {from}\n"
            ))
    };
    let cases = [
        (
            env("{configMapKeyRef: {name: nope, key: k}}"),
            "configmap \"nope\" not found",
        ),
        (
            env("{configMapKeyRef: {name: settings, key: nope}}"),
            "couldn't find key nope in ConfigMap default/settings",
        ),
        (
            env("{secretKeyRef: {name: nope, key: k}}"),
            "secret \"nope\" not found",
        ),
        (
            env("{secretKeyRef: {name: creds, key: nope}}"),
            "couldn't find key nope in Secret default/creds",
        ),
    ];
    for (manifest, message) in cases {
        let r = run(&s, &manifest, &["-o", "json"]);
        assert_eq!(r.code, 3, "{r:?}");
        let pod = r.json();
        let waiting = &container(&pod, "app")["state"]["waiting"];
        assert_eq!(waiting["reason"], "CreateContainerConfigError", "{r:?}");
        assert_eq!(waiting["message"], message, "{r:?}");
    }
    let volume = |source: &str| {
        OBJECTS.to_string()
            + &pod(&format!(
                "  volumes:\n  - name: cfg\n    {source}\n  containers:\n  - name: app\n    image: testkit\n    command: [echo, must not run]\n    volumeMounts: [{{name: cfg, mountPath: /cfg}}]\n"
            ))
    };
    let cases = [
        (
            volume("configMap: {name: nope}"),
            "configmap \"nope\" not found",
        ),
        (
            volume("secret: {secretName: nope}"),
            "secret \"nope\" not found",
        ),
        (
            volume("configMap: {name: settings, items: [{key: nope, path: x}]}"),
            "configmap references non-existent config key: nope",
        ),
    ];
    for (manifest, message) in cases {
        let r = run(&s, &manifest, &["-o", "json"]);
        assert_eq!(r.code, 3, "{r:?}");
        assert!(
            r.stderr.contains(&format!(
                "MountVolume.SetUp failed for volume \"cfg\" : {message}"
            )),
            "{r:?}"
        );
        assert_eq!(
            container(&r.json(), "app")["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
    }
}

#[test]
fn downward_api_env_and_files() {
    let s = Scratch::new("downward");
    let manifest = OBJECTS.to_string()
        + &pod(r#"  restartPolicy: Never
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: env, resource: limits.memory, divisor: 1Mi}}
  - name: all-in-one
    projected:
      sources:
      - configMap: {name: settings, items: [{key: greeting, path: greeting}]}
      - secret: {name: creds, items: [{key: user, path: creds/user}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  containers:
  - name: env
    image: testkit
    command: [env]
    resources:
      limits: {memory: 64Mi, cpu: 500m}
      requests: {cpu: 250m}
    env:
    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: NOTE, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
  - name: files
    image: testkit
    command: [cat, /info/labels, /info/annotations, /info/name, /info/mem, /p/greeting, /p/creds/user, /p/ns]
    volumeMounts: [{name: info, mountPath: /info}, {name: all-in-one, mountPath: /p}]
"#);
    let r = run(&s, &manifest, &["-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let uid = r.json()["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let env = said(&r, "env");
    for line in [
        "NAME=vol".to_string(),
        "NS=default".into(),
        format!("UID={uid}"),
        "APP=demo".into(),
        "NOTE=say \"hi\"".into(),
        "NODE=wpod".into(),
        "SA=default".into(),
        // Known before the first container starts, as in Kubernetes.
        "POD_IP=10.88.0.2".into(),
        "HOST_IP=127.0.0.1".into(),
        "MEM_MI=64".into(),
        "CPU_M=250".into(),
        "CPU=1".into(),
    ] {
        assert!(env.lines().any(|l| l == line), "{line}: {r:?}");
    }
    // Files hold the value without a newline: cat runs them together.
    assert_eq!(
        said(&r, "files"),
        "app=\"demo\"note=\"say \\\"hi\\\"\"vol64helloadmindefault\n",
        "{r:?}"
    );
}

#[test]
fn a_guest_cannot_reach_outside_its_mounts() {
    let s = Scratch::new("confine");
    let vol = s.dir.join("vol");
    std::fs::create_dir_all(&vol).expect("mkdir");
    let secret = s.write("secret.txt", "host secret\n");
    std::fs::write(vol.join("file.txt"), "in the volume\n").expect("write");
    std::os::unix::fs::symlink("../secret.txt", vol.join("up")).expect("symlink");
    std::os::unix::fs::symlink(&secret, vol.join("abs")).expect("symlink");
    let attempts: Vec<(&str, Vec<String>)> = vec![
        (
            "dotdot-read",
            vec!["cat".into(), "/vol/../secret.txt".into()],
        ),
        (
            "dotdot-root",
            vec![
                "cat".into(),
                "/../../../../".to_string() + &secret.display().to_string(),
            ],
        ),
        ("absolute", vec!["cat".into(), secret.display().to_string()]),
        ("symlink-up", vec!["cat".into(), "/vol/up".into()]),
        ("symlink-abs", vec!["cat".into(), "/vol/abs".into()]),
        (
            "write-up",
            vec!["write".into(), "/vol/up".into(), "pwned".into()],
        ),
        (
            "write-dotdot",
            vec!["write".into(), "/vol/../outside.txt".into(), "pwned".into()],
        ),
        (
            "new-symlink",
            vec![
                "symlink".into(),
                secret.display().to_string(),
                "/vol/mine".into(),
            ],
        ),
        (
            "tmp-dotdot",
            vec![
                "write".into(),
                "/tmp/../../outside.txt".into(),
                "pwned".into(),
            ],
        ),
    ];
    let mut spec = format!(
        "  restartPolicy: Never\n  volumes:\n  - name: vol\n    hostPath: {{path: {}}}\n  containers:\n",
        vol.display()
    );
    for (name, argv) in &attempts {
        let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
        spec += &format!(
            "  - name: {name}\n    image: testkit\n    command: [{}]\n    volumeMounts: [{{name: vol, mountPath: /vol}}]\n",
            argv.join(", ")
        );
    }
    let r = run(&s, &pod(&spec), &["-o", "json"]);
    let pod = r.json();
    for (name, _) in &attempts {
        assert_eq!(
            container(&pod, name)["state"]["terminated"]["exitCode"],
            2,
            "{name} must fail: {r:?}"
        );
    }
    assert!(!r.stderr.contains("| host secret"), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&secret).ok().as_deref(),
        Some("host secret\n")
    );
    assert!(!s.dir.join("outside.txt").exists());
    let mut names: Vec<String> = std::fs::read_dir(&vol)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["abs", "file.txt", "up"], "{r:?}");
}

#[test]
fn renames_and_links_across_mounts_fail_like_exdev() {
    let r = crate::support::run_json(
        "apiVersion: v1
kind: Pod
metadata: {name: xdev}
spec:
  restartPolicy: Never
  volumes: [{name: a, emptyDir: {}}, {name: b, emptyDir: {}}]
  initContainers:
  - {name: seed, image: busybox, command: [sh, -c, 'echo data > /a/f; echo data > /a/g'], volumeMounts: [{name: a, mountPath: /a}]}
  containers:
  - name: to-root
    image: testkit
    command: [rename, /a/f, /moved]
    volumeMounts: [{name: a, mountPath: /a}]
  - name: to-other-volume
    image: testkit
    command: [rename, /a/g, /b/g]
    volumeMounts: [{name: a, mountPath: /a}, {name: b, mountPath: /b}]
  - name: within-a-volume
    image: busybox
    command: [sh, -c, 'sleep 0.3; mv /a/f /a/f2 && ls /a']
    volumeMounts: [{name: a, mountPath: /a}]
",
        &[],
    );
    let pod = r.json();
    for c in ["to-root", "to-other-volume"] {
        assert_eq!(
            container(&pod, c)["state"]["terminated"]["exitCode"],
            2,
            "{c}: {r:?}"
        );
    }
    assert!(r.stderr.contains("CrossesDevices"), "{r:?}");
    // A rename inside one volume still works, and the files that could not move are still there.
    assert_eq!(
        container(&pod, "within-a-volume")["state"]["terminated"]["exitCode"],
        0,
        "{r:?}"
    );
    assert!(r.stderr.contains("within-a-volume | f2"), "{r:?}");
    assert!(r.stderr.contains("within-a-volume | g"), "{r:?}");
}
