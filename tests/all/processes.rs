//! Processes and signals inside containers (wpod:process on wasm, the kernel on Linux): what a
//! user of the built-in images sees, on every backend.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// `wpod run --backend BACKEND MANIFEST`, sent SIGINT (Ctrl-C) once lines of its output
/// (container logs or events) have contained each of `markers`; the run and when the signal went.
fn interrupt_when(manifest: &str, backend: &str, markers: &[&str]) -> (Run, Option<Instant>) {
    use std::io::{BufRead as _, BufReader};
    let s = Scratch::new("interrupt");
    let file = s.write("pod.yaml", manifest);
    let mut child = wpod()
        .args(["run", "--color", "never", "--backend", backend])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wpod");
    let pid = i32::try_from(child.id()).expect("pid");
    let (tx, rx) = std::sync::mpsc::channel::<(bool, String)>();
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let readers = [
        (true, Box::new(out) as Box<dyn std::io::Read + Send>),
        (false, Box::new(err)),
    ]
    .map(|(is_out, stream)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send((is_out, line));
            }
        })
    });
    drop(tx);
    let (mut stdout, mut stderr, mut sent) = (String::new(), String::new(), None);
    let mut seen = vec![false; markers.len()];
    for (is_out, line) in rx {
        for (seen, marker) in seen.iter_mut().zip(markers) {
            *seen |= line.contains(marker);
        }
        if sent.is_none() && seen.iter().all(|s| *s) {
            // SAFETY: signalling our own child, not yet waited for.
            unsafe { libc::kill(pid, libc::SIGINT) };
            sent = Some(Instant::now());
        }
        let text = if is_out { &mut stdout } else { &mut stderr };
        text.push_str(&line);
        text.push('\n');
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().expect("wait for wpod");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    };
    (run, sent)
}

#[test]
fn a_sidecar_that_traps_term_stops_when_the_main_container_ends() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 1; done"]
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "sleep 0.3; echo main done"]
"#,
            &["--backend", backend],
        );
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        let pod = r.json();
        assert_eq!(phase(&pod), "Succeeded", "{backend}: {pod:#}");
        let side = container(&pod, "side");
        assert_eq!(
            side["state"]["terminated"]["exitCode"], 0,
            "{backend}: the trap's exit 0, not a kill after the grace period: {side:#}"
        );
        assert!(said(&r, "side").contains("got TERM"), "{backend}: {r:?}");
    });
}

#[test]
fn ctrl_c_on_nginx_ends_it_with_exit_0() {
    on_backends(|backend| {
        let (r, sent) = interrupt_when(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: nginx, image: nginx}\n",
            backend,
            &["start worker process", "Started container"],
        );
        let took = sent.map(|t| t.elapsed());
        assert!(took.is_some(), "{backend}: nginx never started: {r:?}");
        assert_eq!(r.code, 130, "{backend}: interrupted: {r:?}");
        assert!(
            said(&r, "nginx").contains("(SIGTERM) received, exiting"),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr.contains("-- web/nginx: exited with code 0"),
            "{backend}: nginx stops on the signal and exits 0: {r:?}"
        );
        // Far below the 30 s grace period it used to wait out: it was told, and it stopped.
        assert!(
            took.is_some_and(|t| t < Duration::from_secs(10)),
            "{backend}: {took:?}"
        );
    });
}

#[test]
fn pipelines_stream_and_background_jobs_run_beside_the_script() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command:
    - sh
    - -c
    - |
      yes | head -c 400000000 | wc -c
      f() { echo "f:$1"; }
      v=unexported
      f one | cat
      echo "$v" | tr a-z A-Z
      x=$(seq 1 1000 | grep 7 | wc -l); echo "sevens=$x"
      sleep 0.3 & p=$!
      echo "started"
      [ -n "$p" ] && echo "has pid"
      jobs
      wait $p; echo "waited $?"
      (exit 3) & wait $!; echo "status $?"
      sleep 100 &
      kill %1; wait $!; echo "killed $?"
      timeout 0.2 sleep 5; echo "timeout $?"
      timeout 5 echo quick; echo "timeout $?"
"#,
            &["--backend", backend],
        );
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert_eq!(
            said(&r, "c"),
            "400000000\nf:one\nUNEXPORTED\nsevens=271\nstarted\nhas pid\n[1]+  Running                 sleep 0.3\nwaited 0\nstatus 3\nkilled 143\ntimeout 124\nquick\ntimeout 0\n",
            "{backend}: {r:?}"
        );
    });
}

#[test]
fn tail_f_into_grep_streams_while_the_writer_runs() {
    on_backends(|backend| {
        let r = run_until_exited(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes: [{name: logs, emptyDir: {}}]
  containers:
  - name: reader
    image: busybox
    command: [sh, -c, "until [ -f /logs/app.log ]; do sleep 0.05; done; tail -f /logs/app.log | grep x"]
    volumeMounts: [{name: logs, mountPath: /logs}]
  - name: writer
    image: busybox
    command: [sh, -c, "echo 'line 1 x' > /logs/app.log; echo noise >> /logs/app.log; sleep 1; echo 'wrote more'; echo 'line 2 x' >> /logs/app.log; sleep 1"]
    volumeMounts: [{name: logs, mountPath: /logs}]
"#,
            &["--backend", backend, "--timeout", "60s"],
            &["p/writer"],
        );
        assert_eq!(
            said(&r, "reader"),
            "line 1 x\nline 2 x\n",
            "{backend}: {r:?}"
        );
        // The first match was in the log before the writer went on: the pipeline streamed.
        let first = r.stderr.find("reader | line 1 x");
        let later = r.stderr.find("writer | wrote more");
        assert!(
            first.is_some() && later.is_some() && first < later,
            "{backend}: {r:?}"
        );
    });
}

#[test]
fn with_share_process_namespace_containers_see_and_signal_each_other() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  shareProcessNamespace: true
  containers:
  - name: target
    image: busybox
    command: [sh, -c, "trap 'echo target got USR1; exit 0' USR1; : TARGETMARK; while true; do sleep 1; done"]
  - name: finder
    image: busybox
    command:
    - sh
    - -c
    - |
      sleep 0.5
      ps -o pid,comm | grep '^ *1 ' | grep -vq ' sh$' && echo "PID 1 is the pod's, not a shell"
      pid=$(ps -o pid,args | grep '[T]ARGETMARK' | head -n 1 | sed 's/^ *//; s/ .*//')
      [ -n "$pid" ] && echo "found target"
      kill -USR1 "$pid" && echo "signalled"
"#,
            &["--backend", backend],
        );
        assert_eq!(r.code, 0, "{backend}: {r:?}");
        assert_eq!(
            said(&r, "finder"),
            "PID 1 is the pod's, not a shell\nfound target\nsignalled\n",
            "{backend}: {r:?}"
        );
        assert_eq!(said(&r, "target"), "target got USR1\n", "{backend}: {r:?}");
    });
}

#[test]
fn nginx_s_quit_from_a_pre_stop_hook_stops_the_master_gracefully() {
    on_backends(|backend| {
        let (r, sent) = interrupt_when(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 20
  containers:
  - name: web
    image: nginx
    lifecycle:
      preStop:
        exec:
          command: [nginx, -s, quit]
"#,
            backend,
            &["start worker process", "Started container"],
        );
        assert!(
            said(&r, "web").contains("signal 3 (SIGQUIT) received, gracefully shutting down"),
            "{backend}: {r:?}"
        );
        assert!(
            r.stderr.contains("-- p/web: exited with code 0"),
            "{backend}: {r:?}"
        );
        // The hook stopped it: the 20 s grace period was not waited out.
        assert!(
            sent.is_some_and(|t| t.elapsed() < Duration::from_secs(15)),
            "{backend}: {r:?}"
        );
    });
}

#[test]
fn nginx_quits_gracefully_finishing_the_request_in_progress() {
    on_backends(|backend| {
        let r = run_json(
            crate::parity::manifest("nginx-quits-gracefully"),
            &["--backend", backend, "--timeout", "30s"],
        );
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
        // The request half sent when QUIT came is answered (and the connection then closed),
        // the other half-sent one ends with its client; a connection after it is refused.
        assert_eq!(
            said(&r, "client"),
            "refused\nHTTP/1.1 200 OK\nConnection: close\n",
            "{backend}: {}",
            r.stderr
        );
        let nginx = said(&r, "nginx");
        assert!(
            nginx.contains("signal 3 (SIGQUIT) received, gracefully shutting down"),
            "{backend}: {nginx}"
        );
        let pod = r.json();
        assert_eq!(
            container(&pod, "nginx")["state"]["terminated"]["exitCode"],
            0,
            "{backend}: {pod:#}"
        );
    });
}

#[test]
fn the_oom_killer_takes_the_largest_process_of_the_container() {
    // The main shell holds 15 MB when its `sort` child fills the 64Mi limit: as the kernel's OOM
    // killer takes the largest process of the cgroup, the main process dies (the container is
    // OOMKilled) and the growing child does not get to report anything.
    let r = run_json(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    resources: {limits: {memory: 64Mi}}
    command: [sh, -c, 'x=$(yes | head -c 15000000); echo held ${#x}; yes | head -c 60000000 | sort > /dev/null; echo "pipeline ended $?"']
"#,
        &["--timeout", "60s"],
    );
    assert_eq!(said(&r, "c"), "held 14999999\n", "{}", r.stderr);
    let pod = r.json();
    let t = &container(&pod, "c")["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(137), Some("OOMKilled")),
        "{pod:#}"
    );
}

#[test]
fn pidof_and_killall_find_processes_by_name_across_containers() {
    on_backends(|backend| {
        let r = run_json(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
  - {name: web, image: nginx}
  - name: c
    image: busybox
    command:
    - sh
    - -c
    - |
      until wget -q -O /dev/null http://localhost/ 2>/dev/null; do sleep 0.1; done
      pidof nginx
      pidof nope; echo "pidof nope: $?"
      killall -0 nginx && echo "nginx runs"
      killall nope 2>/dev/null; echo "killall nope: $?"
      killall -QUIT nginx
      while killall -0 nginx 2>/dev/null; do sleep 0.1; done
      echo "nginx is gone"
"#,
            &["--backend", backend, "--timeout", "30s"],
        );
        assert_eq!(r.code, 0, "{backend}: {}", r.stderr);
        assert_eq!(
            said(&r, "c"),
            "2\npidof nope: 1\nnginx runs\nkillall nope: 1\nnginx is gone\n",
            "{backend}: {}",
            r.stderr
        );
        assert!(
            said(&r, "web").contains("signal 3 (SIGQUIT) received"),
            "{backend}: {}",
            r.stderr
        );
    });
}
