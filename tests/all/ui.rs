//! The live view (`wpod run --ui`, `wpod serve --ui`), driven in Debian's chromium by npm's
//! playwright-core (tests/ui/live.mjs, installed by .ci/run). Screenshots are kept under the
//! target directory, one folder per scenario.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::serve::{Server, kubectl};
use crate::support::{Scratch, free_port, linux_backend, wpod};

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
    readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 1}
  - name: client
    image: busybox
    volumeMounts: [{name: shared, mountPath: /data}]
    command: [sh, -c, 'echo hello from the volume > /data/index.html; sleep 1; wget -q -O - http://localhost/; sleep 1; exit 1']
"#;

const SERVED: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: nginx
    image: nginx
    ports: [{containerPort: 80}]
    readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"#;

const SLEEPER: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: ids}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: [sleep, "3600"]}
"#;

/// The test's browser and its script are there (.ci/run installs both).
fn browser_ready() -> PathBuf {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the live view's test needs Debian's chromium and `npm install` in tests/ui (.ci/run does both)"
    );
    ui
}

/// Reads the child's stderr until it prints the live view's address; returns it with the rest.
fn live_view(child: &mut Child) -> (String, Vec<String>, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no live view address: {said:?}"));
        if let Some(at) = line.find("live view: ") {
            let url = line[at + "live view: ".len()..].trim().to_string();
            assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            return (url, said, rx);
        }
        said.push(line);
    }
}

/// Runs one scenario of live.mjs against the page; its output, and whether it passed.
fn browse(scenario: &str, url: &str, extra: &[&Path]) -> (bool, String) {
    let ui = browser_ready();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-screenshots")
        .join(scenario);
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let browser = Command::new("node")
        .arg("live.mjs")
        .args([scenario, url])
        .arg(&shots)
        .args(extra)
        .current_dir(&ui)
        .output()
        .expect("run node (the live view's test needs Node.js)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    eprintln!("{out}screenshots in {}", shots.display());
    (browser.status.success(), out)
}

fn interrupt(child: &Child) {
    // SAFETY: signalling our own child, which has not been waited for yet.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT) };
}

fn shots(scenario: &str, names: &[&str]) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-screenshots")
        .join(scenario);
    for shot in names {
        assert!(dir.join(shot).is_file(), "no {scenario}/{shot}");
    }
}

#[test]
fn the_live_view_follows_the_pod_and_its_actions_work_in_a_real_browser() {
    browser_ready();
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
    let (url, said, rx) = live_view(&mut child);
    // Without its token the page is refused.
    let refused = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(url.split("?token=").next().unwrap_or_default())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if let Ok(code) = refused {
        assert_eq!(code, "403");
    }
    let (passed, out) = browse("run", &url, &[]);
    // The page outlives the pods, until Ctrl-C.
    interrupt(&child);
    let status = child.wait().expect("wpod exits");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(passed, "{out}\nwpod said: {said:?} {rest:?}");
    for step in [
        "the pod runs, its infra container and its IP are drawn",
        "the client's restart and its log are shown",
        "the readiness probe made to fail took the container out of Ready",
        "the probe let pass made it Ready again",
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
    shots(
        "run",
        &[
            "1-running.png",
            "2-restarted.png",
            "3-probe-failing.png",
            "4-zh.png",
            "5-deleted.png",
        ],
    );
}

/// `wpod serve --ui`: the page shows what kubectl applies, with the Service in front of the pod;
/// a probe made to fail from the page takes the pod out of the Service, as kubectl sees too.
#[test]
fn the_live_view_of_wpod_serve_shows_what_kubectl_applies() {
    browser_ready();
    let s = Scratch::new("ui-serve");
    let data = s.dir.join("data");
    let port = free_port();
    let mut child = wpod()
        .args(["serve", "--ui", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wpod serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the first line");
    let config = PathBuf::from(
        line.trim()
            .strip_prefix("export KUBECONFIG=")
            .unwrap_or_else(|| panic!("wpod serve printed {line:?}")),
    );
    let (url, said, rx) = live_view(&mut child);
    let server = Server(child);
    let manifest = s.write("web.yaml", SERVED);
    let path = manifest.to_string_lossy().into_owned();
    let (ok, _, err) = kubectl(&config, &["apply", "-f", &path]);
    assert!(ok, "{err}");
    let (passed, out) = browse("serve", &url, &[&config]);
    let (_, events, _) = kubectl(
        &config,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web",
        ],
    );
    drop(server);
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(passed, "{out}\nwpod said: {said:?} {rest:?}");
    for step in [
        "the pod kubectl applied is drawn behind its Service",
        "kubectl sees the pod not ready while its probe is made to fail",
        "the Service takes the pod back once the probe passes",
    ] {
        assert!(out.contains(step), "missing {step:?}: {out}");
    }
    assert!(
        events.contains("Readiness probe failed: made to fail on request"),
        "{events}"
    );
    shots("serve", &["1-service.png", "2-not-ready.png"]);
}

/// On linux the drawing names the namespaces by their kernel ids and the infra by its PID: the
/// same ids /proc shows for that process.
#[test]
fn the_live_view_shows_the_kernel_namespace_ids_on_linux() {
    if !linux_backend() {
        return;
    }
    browser_ready();
    let s = Scratch::new("ui-linux");
    let file = s.write("pod.yaml", SLEEPER);
    let mut child = wpod()
        .args(["run", "--ui", "--backend", "linux", "--color", "never"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wpod");
    let (url, said, rx) = live_view(&mut child);
    let (passed, out) = browse("linux", &url, &[]);
    let drawn = |what: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("ui: drawn {what} ")))
            .map(str::to_string)
    };
    let (pid, net, uts) = (drawn("pid"), drawn("net"), drawn("uts"));
    // Read while the pod still runs.
    let proc_ns = |kind: &str| {
        pid.as_ref()
            .and_then(|p| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).ok())
            .map(|l| l.to_string_lossy().into_owned())
    };
    let (real_net, real_uts) = (proc_ns("net"), proc_ns("uts"));
    interrupt(&child);
    let _ = child.wait();
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(passed, "{out}\nwpod said: {said:?} {rest:?}");
    assert!(net.is_some() && uts.is_some(), "{out}");
    assert_eq!(real_net, net.map(|n| format!("net:[{n}]")), "{out}");
    assert_eq!(real_uts, uts.map(|n| format!("uts:[{n}]")), "{out}");
    shots("linux", &["1-ids.png"]);
}
