//! The image store: `wpod image build | import | ls | inspect | rm`, and pods that name its
//! images, on both backends: ENTRYPOINT, CMD, ENV and WorkingDir applied as Kubernetes applies
//! them; OCI layouts, OCI archives, docker-archives and wasm artifacts imported; images wpod
//! cannot run refused with the reason.

use std::path::{Path, PathBuf};

use crate::support::*;

/// The built-in busybox toolbox's program, as any `.wasm` file a user has.
fn busybox_wasm() -> PathBuf {
    Path::new(env!("OUT_DIR")).join("busybox.wasm")
}

/// `wpod ARGS` with its own image store.
fn wpod_in(store: &Path, args: &[&str]) -> Run {
    finish(
        wpod()
            .env("WPOD_IMAGE_STORE", store)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run wpod"),
    )
}

fn pod(image: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: img}}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: c\n    image: {image}\n{command}"
    )
}

fn run_pod(store: &Path, s: &Scratch, manifest: &str, backend: &str) -> Run {
    let file = s.write("pod.yaml", manifest);
    let file = file.to_string_lossy();
    wpod_in(store, &["run", "--backend", backend, "-o", "json", &file])
}

fn build_busybox(store: &Path, name: &str) {
    let wasm = busybox_wasm();
    let r = wpod_in(
        store,
        &[
            "image",
            "build",
            &wasm.to_string_lossy(),
            "-t",
            name,
            "--cmd",
            "sh",
            "--cmd",
            "-c",
            "--cmd",
            "echo cmd from the image; pwd; echo $GREETING",
            "-e",
            "GREETING=hello",
            "-w",
            "/etc",
            "-l",
            "org.example.lesson=images",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("built docker.io/{name}")),
        "{r:?}"
    );
}

#[test]
fn a_built_image_runs_with_its_entrypoint_cmd_env_and_workdir_on_both_backends() {
    let s = Scratch::new("image-build");
    let store = s.dir.join("store");
    build_busybox(&store, "learn/shell:1");
    let ls = wpod_in(&store, &["image", "ls"]);
    assert!(
        ls.stdout.contains("docker.io/learn/shell") && ls.stdout.contains("1 "),
        "{ls:?}"
    );
    let inspect = wpod_in(&store, &["image", "inspect", "learn/shell:1"]);
    let config: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/busybox.wasm"]));
    assert_eq!(config["WorkingDir"], "/etc");
    assert_eq!(config["Labels"]["org.example.lesson"], "images");
    on_backends(|backend| {
        // The image's own command, environment and working directory.
        let r = run_pod(&store, &s, &pod("learn/shell:1", ""), backend);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        for line in ["c | cmd from the image", "c | /etc", "c | hello"] {
            assert!(r.stderr.contains(line), "{backend}: {line}: {r:?}");
        }
        let json = r.json();
        let c = container(&json, "c");
        assert!(
            c["imageID"]
                .as_str()
                .is_some_and(|id| id.starts_with("sha256:")),
            "{c}"
        );
        // The manifest's command, env and workingDir go before the image's.
        let mine = pod(
            "docker.io/learn/shell:1",
            "    command: [sh, -c, 'pwd; echo $GREETING']\n    workingDir: /tmp\n    \
             env: [{name: GREETING, value: from the pod}]\n",
        );
        let r = run_pod(&store, &s, &mine, backend);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert!(r.stderr.contains("c | /tmp"), "{backend}: {r:?}");
        assert!(r.stderr.contains("c | from the pod"), "{backend}: {r:?}");
    });
}

/// The store is itself an OCI image layout: copied, tarred (and gzipped), it imports elsewhere.
#[test]
fn oci_layouts_and_oci_archives_import_and_run() {
    let s = Scratch::new("image-import");
    let first = s.dir.join("first");
    build_busybox(&first, "learn/shell:1");
    let second = s.dir.join("second");
    let r = wpod_in(
        &second,
        &[
            "image",
            "import",
            &first.to_string_lossy(),
            "--name",
            "copied/shell:2",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("imported docker.io/copied/shell:2 sha256:"),
        "{r:?}"
    );
    let r = run_pod(&second, &s, &pod("copied/shell:2", ""), "wasm");
    assert!(r.stderr.contains("c | cmd from the image"), "{r:?}");

    // The same layout as a gzipped tarball keeps the names it has.
    let archive = s.dir.join("layout.tar.gz");
    let tar = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&first)
        .arg(".")
        .status()
        .expect("tar");
    assert!(tar.success());
    let third = s.dir.join("third");
    let r = wpod_in(&third, &["image", "import", &archive.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("imported docker.io/learn/shell:1"),
        "{r:?}"
    );
}

/// `docker save`'s format, made here as docker writes it: manifest.json, the config, a layer.
#[test]
fn a_docker_archive_imports_with_its_repo_tags() {
    let s = Scratch::new("image-docker");
    let wasm = std::fs::read(busybox_wasm()).expect("busybox.wasm");
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(wasm.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    layer
        .append_data(&mut header, "bin/busybox.wasm", &wasm[..])
        .expect("layer");
    let layer = layer.into_inner().expect("layer");
    let config = serde_json::json!({
        "architecture": "wasm", "os": "wasip2",
        "config": {"Entrypoint": ["busybox.wasm"], "Cmd": ["sh", "-c", "echo saved by docker"],
                   "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    })
    .to_string();
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["saved/app:v3"], "Layers": ["abc/layer.tar"],
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("manifest.json", manifest.as_bytes()),
        ("config.json", config.as_bytes()),
        ("abc/layer.tar", &layer[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, name, bytes).expect("archive");
    }
    let path = s.write("saved.tar", archive.into_inner().expect("archive"));
    let store = s.dir.join("store");
    let r = wpod_in(&store, &["image", "import", &path.to_string_lossy()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("imported docker.io/saved/app:v3"),
        "{r:?}"
    );
    // ENTRYPOINT names the program along the image's PATH.
    let r = run_pod(&store, &s, &pod("saved/app:v3", ""), "wasm");
    assert!(r.stderr.contains("c | saved by docker"), "{r:?}");
}

/// Writes an OCI layout with one manifest of these blobs; returns its directory.
fn layout(dir: &Path, config_type: &str, config: &[u8], layers: &[(&str, &[u8])]) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout");
    let put = |bytes: &[u8]| {
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (config_digest, config_size) = put(config);
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(media, bytes)| {
            let (digest, size) = put(bytes);
            serde_json::json!({"mediaType": media, "digest": digest, "size": size})
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_size},
        "layers": layers,
    })
    .to_string();
    let (digest, size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest, "size": size}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index");
    dir.to_path_buf()
}

/// The CNCF wasm OCI artifact (what `wkg oci push` makes) runs; the retired wasm-to-oci media
/// types and a Linux program are refused, each with its reason, at import and at run.
#[test]
fn wasm_artifacts_run_and_what_wpod_cannot_run_is_refused_with_the_reason() {
    let s = Scratch::new("image-artifact");
    let store = s.dir.join("store");
    let wasm = std::fs::read(busybox_wasm()).expect("busybox.wasm");
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let dir = layout(
        &s.dir.join("artifact"),
        "application/vnd.wasm.config.v0+json",
        config,
        &[("application/wasm", &wasm)],
    );
    let r = wpod_in(
        &store,
        &[
            "image",
            "import",
            &dir.to_string_lossy(),
            "--name",
            "ghcr.io/learn/tool:0.1",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    on_backends(|backend| {
        let r = run_pod(
            &store,
            &s,
            &pod(
                "ghcr.io/learn/tool:0.1",
                "    command: [sh, -c, 'echo an artifact']\n",
            ),
            backend,
        );
        assert!(r.stderr.contains("c | an artifact"), "{backend}: {r:?}");
    });

    let old = layout(
        &s.dir.join("old"),
        "application/vnd.wasm.config.v1+json",
        b"{}",
        &[("application/vnd.wasm.content.layer.v1+wasm", &wasm)],
    );
    let r = wpod_in(
        &store,
        &[
            "image",
            "import",
            &old.to_string_lossy(),
            "--name",
            "old/tool:1",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("retired wasm-to-oci"), "{r:?}");
    let r = run_pod(&store, &s, &pod("old/tool:1", ""), "wasm");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("ErrImagePull") && r.stderr.contains("wasm-to-oci"),
        "{r:?}"
    );

    // An ordinary Linux image: its ENTRYPOINT is an ELF program.
    let mut layer = tar::Builder::new(Vec::new());
    let elf = b"\x7fELF\x02\x01\x01\0rest of a linux program";
    let mut header = tar::Header::new_gnu();
    header.set_size(elf.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    layer
        .append_data(&mut header, "bin/sh", &elf[..])
        .expect("layer");
    let layer = layer.into_inner().expect("layer");
    let linux = layout(
        &s.dir.join("linux"),
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        &[("application/vnd.oci.image.layer.v1.tar", &layer)],
    );
    let r = wpod_in(
        &store,
        &[
            "image",
            "import",
            &linux.to_string_lossy(),
            "--name",
            "debian:12",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("/bin/sh is not WebAssembly (an image for linux/amd64)"),
        "{r:?}"
    );
}

#[test]
fn rm_untags_and_removes_what_no_name_keeps() {
    let s = Scratch::new("image-rm");
    let store = s.dir.join("store");
    build_busybox(&store, "learn/shell:1");
    build_busybox(&store, "learn/shell:2");
    let blobs = || std::fs::read_dir(store.join("blobs/sha256")).map_or(0, |d| d.count());
    let before = blobs();
    let r = wpod_in(&store, &["image", "rm", "learn/shell:1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("untagged docker.io/learn/shell:1"),
        "{r:?}"
    );
    // The same image is still named learn/shell:2: nothing of it goes.
    assert_eq!(blobs(), before);
    let r = wpod_in(&store, &["image", "rm", "learn/shell:2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(blobs(), 0);
    let r = wpod_in(&store, &["image", "rm", "learn/shell:2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("no image"), "{r:?}");
    // The built-in images are still there, and are not in the store.
    let r = run_pod(
        &store,
        &s,
        &pod("busybox", "    command: [sh, -c, 'echo built in']\n"),
        "wasm",
    );
    assert!(r.stderr.contains("c | built in"), "{r:?}");
}

/// Debian's docker-registry (the CNCF distribution registry) on a free loopback port, with its
/// storage in `dir`; stopped when dropped. .ci/run installs it: its absence fails the test.
pub(crate) struct Registry {
    child: std::process::Child,
    pub(crate) host: String,
}

impl Registry {
    pub(crate) fn start(dir: &Path) -> Registry {
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::create_dir_all(dir).expect("registry dir");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n\
                 http: {{addr: \"{host}\"}}\n",
                dir.join("data").display()
            ),
        )
        .expect("registry config");
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry runs (.ci/run installs Debian's docker-registry)");
        let registry = Registry { child, host };
        let up = std::time::Instant::now();
        while std::net::TcpStream::connect(&registry.host).is_err() {
            assert!(up.elapsed().as_secs() < 20, "docker-registry did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn images_go_to_a_registry_and_pods_pull_them_with_the_kubelets_policy() {
    let s = Scratch::new("image-registry");
    let registry = Registry::start(&s.dir.join("registry"));
    let host = registry.host.clone();
    let remote = format!("{host}/learn/shell:1");
    let insecure = ["--insecure-registry", host.as_str()];
    let built = s.dir.join("built");
    build_busybox(&built, "learn/shell:1");
    let push = [
        &["image", "push", "learn/shell:1", remote.as_str()][..],
        &insecure,
    ]
    .concat();
    let r = wpod_in(&built, &push);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("pushed {remote}")), "{r:?}");

    // A node that has never seen it pulls it when a pod needs it, with the kubelet's events.
    on_backends(|backend| {
        let node = s.dir.join(format!("node-{backend}"));
        let file = s.write(&format!("pull-{backend}.yaml"), pod(&remote, ""));
        let file = file.to_string_lossy();
        let args = [
            &["run", "--backend", backend, "-o", "json"][..],
            &insecure,
            &[&file],
        ]
        .concat();
        let r = wpod_in(&node, &args);
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("Pulling: Pulling image \"{remote}\"")),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr
                .contains(&format!("Pulled: Successfully pulled image \"{remote}\"")),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr.contains("c | cmd from the image"),
            "{backend}: {r:?}"
        );
        // Now it is present: IfNotPresent (the default for a tag) does not ask again.
        let r = wpod_in(&node, &args);
        assert!(
            !r.stderr.contains("Pulling image") && r.stderr.contains("already present"),
            "{backend}: {r:?}"
        );
    });

    // Built, pushed, deleted from the store, and pulled again by the manifest that names it by
    // tag: it runs with its image's ENTRYPOINT, CMD and ENV.
    let rm = wpod_in(&built, &["image", "rm", "learn/shell:1"]);
    assert_eq!(rm.code, 0, "{rm:?}");
    let file = s.write("again.yaml", pod(&remote, ""));
    let file = file.to_string_lossy();
    let again = [&["run"][..], &insecure, &[&file]].concat();
    let r = wpod_in(&built, &again);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("Pulling image"), "{r:?}");
    // Without -o json the containers' output is on stdout.
    assert!(
        r.stdout.contains("c | cmd from the image") && r.stdout.contains("c | hello"),
        "{r:?}"
    );

    // `wpod image pull` by hand; Never does not pull what is not there.
    let other = s.dir.join("other");
    let pull = [&["image", "pull", remote.as_str()][..], &insecure].concat();
    let r = wpod_in(&other, &pull);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!("pulled {remote} sha256:")),
        "{r:?}"
    );
    let never = pod(
        &format!("{host}/learn/absent:1"),
        "    imagePullPolicy: Never\n",
    );
    let r = run_pod(&other, &s, &never, "wasm");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("is not present with pull policy of Never")
            && r.stderr.contains("ErrImageNeverPull"),
        "{r:?}"
    );
    // One the registry does not have: ErrImagePull with the registry's answer.
    let r = run_pod(
        &other,
        &s,
        &pod(&format!("{host}/learn/absent:1"), ""),
        "wasm",
    );
    assert!(r.stderr.contains("ErrImagePull"), "{r:?}");
    drop(registry);
}

/// Under `wpod serve` a failed pull is tried again with the kubelet's back-off: the container
/// shows ErrImagePull, then ImagePullBackOff, and starts once the image reaches the registry.
#[test]
fn under_serve_a_failed_pull_backs_off_until_the_image_is_pushed() {
    use crate::serve::{kubectl, serve_with, wait_for};
    let s = Scratch::new("image-backoff");
    let registry = Registry::start(&s.dir.join("registry"));
    let host = registry.host.clone();
    let remote = format!("{host}/learn/later:1");
    let built = s.dir.join("built");
    build_busybox(&built, "learn/later:1");
    let (server, config) = serve_with(
        &s.dir.join("serve"),
        free_port(),
        &["--insecure-registry", &host],
    );
    let file = s.write("later.yaml", pod(&remote, ""));
    let (ok, _, err) = kubectl(&config, &["apply", "-f", &file.to_string_lossy()]);
    assert!(ok, "{err}");
    let waiting = || {
        kubectl(
            &config,
            &[
                "get",
                "pod",
                "img",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
            ],
        )
        .1
    };
    wait_for("ImagePullBackOff", || waiting() == "ImagePullBackOff");
    let (_, described, _) = kubectl(&config, &["describe", "pod", "img"]);
    for said in [
        "Failed to pull image",
        "Error: ErrImagePull",
        &format!("Back-off pulling image \"{remote}\""),
        "Error: ImagePullBackOff",
    ] {
        assert!(described.contains(said), "{said}:\n{described}");
    }
    // The image appears in the registry: the next pull, after the back-off, gets it.
    let push = [
        "image",
        "push",
        "learn/later:1",
        &remote,
        "--insecure-registry",
        &host,
    ];
    let r = wpod_in(&built, &push);
    assert_eq!(r.code, 0, "{r:?}");
    wait_for("the pod to succeed", || {
        kubectl(
            &config,
            &["get", "pod", "img", "-o", "jsonpath={.status.phase}"],
        )
        .1 == "Succeeded"
    });
    let (_, logs, _) = kubectl(&config, &["logs", "img"]);
    assert!(logs.contains("cmd from the image"), "{logs}");
    drop(server);
    drop(registry);
}
