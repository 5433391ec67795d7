//! What crosses the runtime seam (the kubelet <-> backend calls) reaches the user whole.

use std::os::unix::fs::MetadataExt as _;
use std::process::Stdio;

use crate::support::{Scratch, container, finish, wpod};

/// A backend's error reaches the user with its causes: on wasm a single-file hostPath is a hard
/// link into the container's root, which cannot cross file systems; the hint that says how to
/// fix it (and the kernel's own reason under it) must survive the seam and the kubelet.
#[test]
fn a_backend_error_reaches_the_user_with_its_causes() {
    let s = Scratch::new("seam-chain");
    let shm = std::path::Path::new("/dev/shm");
    let other_fs = std::fs::metadata(shm)
        .and_then(|m| Ok(m.dev() != std::fs::metadata(&s.dir)?.dev()))
        .unwrap_or(false);
    assert!(
        other_fs,
        "the test needs /dev/shm on another file system than {}",
        s.dir.display()
    );
    let state = tempdir_in(shm);
    let file = s.write("data.txt", "hello\n");
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: xdev}}\nspec:\n  restartPolicy: Never\n  volumes:\n  - name: f\n    hostPath: {{path: {}, type: File}}\n  containers:\n  - name: app\n    image: testkit\n    command: [cat, /data.txt]\n    volumeMounts: [{{name: f, mountPath: /data.txt}}]\n",
        file.display()
    );
    let pod = s.write("pod.yaml", manifest);
    let run = finish(
        wpod()
            .env("WPOD_STATE_DIR", &state.0)
            .args(["run", "--color", "never", "--timeout", "3s", "-o", "json"])
            .arg(&pod)
            .stdin(Stdio::null())
            .output()
            .expect("run wpod"),
    );
    let pod = run.json();
    let terminated = &container(&pod, "app")["state"]["terminated"];
    let message = terminated["message"].as_str().unwrap_or_default();
    assert_eq!(terminated["reason"], "StartError", "{run:?}");
    assert!(
        message.contains("(set WPOD_STATE_DIR): ")
            && message.ends_with("a hard link cannot cross file systems"),
        "the hint and its cause: {message}\n{run:?}"
    );
}

/// A directory removed with everything in it when the test ends.
struct TempDir(std::path::PathBuf);

fn tempdir_in(parent: &std::path::Path) -> TempDir {
    let dir = parent.join(format!("wpod-seam-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a state dir");
    TempDir(dir)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
