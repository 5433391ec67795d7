//! `wpod run --ui`: the live view, driven in Debian's chromium by npm's playwright-core
//! (tests/ui/live.mjs, installed by .ci/run). Screenshots are kept under the target directory.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{Scratch, wpod};

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: demo}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - {name: shared, emptyDir: {}}
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80}]
    volumeMounts: [{name: shared, mountPath: /usr/share/nginx/html}]
  - name: client
    image: busybox
    volumeMounts: [{name: shared, mountPath: /data}]
    command: [sh, -c, 'echo hello from the volume > /data/index.html; sleep 1; wget -q -O - http://localhost/; sleep 1; exit 1']
"#;

#[test]
fn the_live_view_follows_the_pod_and_its_actions_work_in_a_real_browser() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the live view's test needs Debian's chromium and `npm install` in tests/ui (.ci/run does both)"
    );
    let s = Scratch::new("ui");
    let file = s.write("pod.yaml", POD);
    let mut child = wpod()
        .args(["run", "--ui", "--backoff-base", "1s", "--color", "never"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wpod");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no live view address: {said:?}"));
        if let Some(at) = line.find("live view: ") {
            break line[at + "live view: ".len()..].trim().to_string();
        }
        said.push(line);
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Without its token the page is refused.
    let refused = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(url.split("?token=").next().unwrap_or_default())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if let Ok(code) = refused {
        assert_eq!(code, "403");
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let browser = Command::new("node")
        .arg("live.mjs")
        .arg(&url)
        .arg(&shots)
        .current_dir(&ui)
        .output()
        .expect("run node (the live view's test needs Node.js)");
    let out = String::from_utf8_lossy(&browser.stdout);
    let err = String::from_utf8_lossy(&browser.stderr);
    eprintln!("{out}{err}screenshots in {}", shots.display());
    // The page outlives the pods, until Ctrl-C.
    // SAFETY: signalling our own child, which has not been waited for yet.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT) };
    let status = child.wait().expect("wpod exits");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        browser.status.success(),
        "{out}{err}\nwpod said: {said:?} {rest:?}"
    );
    for step in [
        "the pod runs, its infra container and its IP are drawn",
        "the client's restart and its log are shown",
        "killing the infra container recreated the sandbox (SandboxChanged)",
        "the page speaks Chinese",
        "the delete action ended the pod",
    ] {
        assert!(out.contains(step), "missing {step:?}: {out}");
    }
    assert!(
        rest.iter()
            .any(|l| l.contains("the live view stays up until Ctrl-C")),
        "{rest:?}"
    );
    assert!(status.code().is_some(), "{status:?}");
    for shot in [
        "1-running.png",
        "2-restarted.png",
        "3-zh.png",
        "4-deleted.png",
    ] {
        assert!(shots.join(shot).is_file(), "no {shot}");
    }
}
