//! A scripted in-memory backend: lifecycle rules are tested against it in virtual time.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::*;

/// What one run of a fake container does.
#[derive(Clone, Debug)]
pub enum FakeRun {
    /// Prints nothing and exits with `code` after `after`.
    Exit { code: i32, after: Duration },
    /// Runs until stopped and, like a wasm guest or a shell as PID 1, ignores the stop request.
    Forever,
    /// Hits its memory limit after `after`.
    Oom { after: Duration },
    /// Runs until asked to stop, then exits with `code` at once (a process that handles SIGTERM).
    UntilStopped { code: i32 },
    /// Writes `content` to the file mounted at `path` (if it is mounted), prints `log` to stderr
    /// and exits with `code` after `after`.
    Write {
        path: String,
        content: String,
        log: Vec<String>,
        code: i32,
        after: Duration,
    },
}

/// What one exec in a fake container does.
#[derive(Clone, Debug)]
pub struct FakeExec {
    pub code: i32,
    pub output: String,
    /// How long the command takes (an exec past its timeout fails with a timeout).
    pub takes: Duration,
}

impl FakeExec {
    pub fn exit(code: i32) -> Self {
        FakeExec {
            code,
            output: String::new(),
            takes: Duration::ZERO,
        }
    }
}

/// What a fake pod port answers: a bare TCP accept (0), or an HTTP status.
pub type FakeAnswer = u16;

struct FakeContainer {
    name: String,
    run: FakeRun,
    config: ContainerConfig,
    exit: watch::Sender<Option<ExitStatus>>,
    stop: watch::Sender<bool>,
}

/// Scripts are per container name; each start takes the next run, the last one repeats.
#[derive(Default)]
pub struct FakeRuntime {
    scripts: Mutex<HashMap<String, VecDeque<FakeRun>>>,
    containers: Mutex<HashMap<String, FakeContainer>>,
    journal: std::sync::Arc<Mutex<Vec<String>>>,
    next_id: Mutex<u64>,
    execs: Mutex<HashMap<String, VecDeque<FakeExec>>>,
    ports: Mutex<HashMap<u16, VecDeque<FakeAnswer>>>,
    /// Each sandbox's infra: true once it has ended (killed for a test).
    infra: Mutex<HashMap<String, watch::Sender<bool>>>,
}

/// Takes the next scripted item; the last one repeats.
fn next<T: Clone>(q: &mut VecDeque<T>) -> Option<T> {
    if q.len() > 1 {
        q.pop_front()
    } else {
        q.front().cloned()
    }
}

impl FakeRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn script(self, container: &str, runs: impl IntoIterator<Item = FakeRun>) -> Self {
        lock(&self.scripts).insert(container.to_string(), runs.into_iter().collect());
        self
    }

    /// Exec results per container name, in order; the last one repeats. Without a script an
    /// exec exits 0.
    pub fn exec(self, container: &str, results: impl IntoIterator<Item = FakeExec>) -> Self {
        lock(&self.execs).insert(container.to_string(), results.into_iter().collect());
        self
    }

    /// Makes `port` of every pod answer connections with these answers in turn (the last
    /// repeats); ports not listed refuse connections.
    pub fn listen(self, port: u16, answers: impl IntoIterator<Item = FakeAnswer>) -> Self {
        lock(&self.ports).insert(port, answers.into_iter().collect());
        self
    }

    /// The calls made so far, e.g. `start init-a`, `stop app`.
    pub fn journal(&self) -> Vec<String> {
        lock(&self.journal).clone()
    }

    fn record(&self, entry: String) {
        lock(&self.journal).push(entry);
    }

    fn with<T>(&self, id: &ContainerId, f: impl FnOnce(&FakeContainer) -> T) -> Result<T> {
        let containers = lock(&self.containers);
        let c = containers
            .get(&id.0)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "container",
                id: id.0.clone(),
            })?;
        Ok(f(c))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn pull_image(&self, image: &str, _base_dir: &Path) -> Result<ImageInfo, ImageError> {
        if image.starts_with("missing") {
            return Err(ImageError::NotFound {
                image: image.to_string(),
                detail: "the fake runtime has every image except missing*".into(),
            });
        }
        Ok(ImageInfo {
            id: format!("sha256:{image}"),
            source: format!("fake image {image}"),
            entrypoint: vec![format!("/{image}")],
            cmd: vec!["default-cmd".into()],
            env: vec![],
            working_dir: None,
        })
    }

    async fn image_status(&self, _image: &str) -> super::ImagePresence {
        // The fake has every image but missing*, which fails its pull as an unknown name does.
        super::ImagePresence::Pinned
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId> {
        self.record(format!("sandbox {}", config.pod_name));
        let mut infra = lock(&self.infra);
        // The first sandbox of a pod is named after it, a recreated one gets a number.
        let mut id = config.pod_name.clone();
        let mut n = 1;
        while infra.contains_key(&id) {
            n += 1;
            id = format!("{}.{n}", config.pod_name);
        }
        infra.insert(id.clone(), watch::Sender::new(false));
        Ok(SandboxId(id))
    }

    async fn wait_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        let ended = lock(&self.infra).get(&id.0).map(watch::Sender::subscribe);
        match ended {
            Some(mut rx) => {
                let _ = rx.wait_for(|e| *e).await;
                Ok(())
            }
            None => Err(RuntimeError::NotFound {
                kind: "sandbox",
                id: id.0.clone(),
            }),
        }
    }

    async fn kill_pod_sandbox_infra(&self, id: &SandboxId) -> Result<()> {
        self.record(format!("kill-infra {}", id.0));
        match lock(&self.infra).get(&id.0) {
            Some(ended) => {
                ended.send_replace(true);
                Ok(())
            }
            None => Err(RuntimeError::NotFound {
                kind: "sandbox",
                id: id.0.clone(),
            }),
        }
    }

    async fn pod_sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus> {
        let ended = lock(&self.infra).get(&id.0).is_none_or(|e| *e.borrow());
        Ok(SandboxStatus {
            ip: Some("10.88.0.2".into()),
            ready: !ended,
        })
    }

    async fn create_container(
        &self,
        _sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let run = {
            let mut scripts = lock(&self.scripts);
            let q = scripts.entry(config.name.clone()).or_default();
            next(q).unwrap_or(FakeRun::Exit {
                code: 0,
                after: Duration::ZERO,
            })
        };
        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            format!("fake-{n}")
        };
        self.record(format!("create {} {}", config.name, config.argv.join(" ")));
        for m in &config.mounts {
            self.record(format!(
                "mount {} {} {}{}{}",
                config.name,
                m.container_path,
                m.host_path.display(),
                m.sub_path
                    .as_deref()
                    .map(|s| format!(" sub {s}"))
                    .unwrap_or_default(),
                if m.read_only { " ro" } else { "" }
            ));
        }
        let (exit, _) = watch::channel(None);
        let (stop, _) = watch::channel(false);
        lock(&self.containers).insert(
            id.clone(),
            FakeContainer {
                name: config.name.clone(),
                run,
                config,
                exit,
                stop,
            },
        );
        Ok(ContainerId(id))
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let (name, run, exit, config, stop) = self.with(id, |c| {
            (
                c.name.clone(),
                c.run.clone(),
                c.exit.clone(),
                c.config.clone(),
                c.stop.subscribe(),
            )
        })?;
        self.record(format!("start {name}"));
        let outcome = match run {
            FakeRun::UntilStopped { code } => {
                let (mut stop, exit) = (stop, exit.clone());
                tokio::spawn(async move {
                    // A stop request ends the run; the fake container going away ends it too.
                    let _ = stop.wait_for(|s| *s).await;
                    set_once(&exit, ExitStatus::from_code(code));
                });
                None
            }
            FakeRun::Write {
                path,
                content,
                log,
                code,
                after,
            } => {
                if let Some(m) = config.mounts.iter().find(|m| m.container_path == path) {
                    // A write the test did not expect to fail shows up as a missing message.
                    let _ = std::fs::write(&m.host_path, content);
                }
                for line in &log {
                    config.log.line(&name, Stream::Stderr, line);
                }
                Some((after, ExitStatus::from_code(code)))
            }
            FakeRun::Exit { code, after } => Some((after, ExitStatus::from_code(code))),
            FakeRun::Oom { after } => Some((
                after,
                ExitStatus {
                    code: 137,
                    reason: ExitReason::OomKilled,
                    message: None,
                },
            )),
            FakeRun::Forever => None,
        };
        if let Some((after, status)) = outcome {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                set_once(&exit, status);
            });
        }
        Ok(())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        super::wait_exit(self.with(id, |c| c.exit.subscribe())?, id).await
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let (name, exit, stop) =
            self.with(id, |c| (c.name.clone(), c.exit.clone(), c.stop.clone()))?;
        self.record(format!("stop {name}"));
        stop.send_replace(true);
        let mut rx = exit.subscribe();
        if tokio::time::timeout(grace, rx.wait_for(Option::is_some))
            .await
            .is_err()
        {
            set_once(&exit, ExitStatus::from_code(137));
        }
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        lock(&self.containers).remove(&id.0);
        Ok(())
    }

    async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        self.record(format!("stop-sandbox {}", id.0));
        Ok(())
    }

    async fn remove_pod_sandbox(&self, _id: &SandboxId) -> Result<()> {
        Ok(())
    }

    async fn exec_sync(&self, id: &ContainerId, cmd: ExecSync<'_>) -> Result<ExecResult> {
        let ExecSync { argv, timeout } = cmd;
        let (name, exited) = self.with(id, |c| (c.name.clone(), c.exit.borrow().is_some()))?;
        if exited {
            return Err(anyhow::anyhow!("container {id} is not running").into());
        }
        self.record(format!("exec {name} {}", argv.join(" ")));
        let result = {
            let mut execs = lock(&self.execs);
            execs.get_mut(&name).and_then(next)
        }
        .unwrap_or_else(|| FakeExec::exit(0));
        if result.takes > timeout {
            tokio::time::sleep(timeout).await;
            return Err(RuntimeError::Timeout(timeout));
        }
        tokio::time::sleep(result.takes).await;
        Ok(ExecResult {
            exit_code: result.code,
            stdout: result.output.into_bytes(),
            stderr: Vec::new(),
        })
    }

    async fn dial(&self, _sandbox: &SandboxId, port: u16) -> Result<Box<dyn PodStream>> {
        let answer = {
            let mut ports = lock(&self.ports);
            ports.get_mut(&port).and_then(next)
        };
        let Some(answer) = answer else {
            self.record(format!("dial {port} refused"));
            return Err(RuntimeError::Refused);
        };
        let (near, mut far) = tokio::io::duplex(4096);
        if answer == 0 {
            self.record(format!("dial {port}"));
            return Ok(Box::new(near));
        }
        let journal = self.journal.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match far.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let head: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            lock(&journal).push(format!("dial {port} {}", head.join(" | ")));
            let reply = format!("HTTP/1.1 {answer} Fake\r\nContent-Length: 0\r\n\r\n");
            let _ = far.write_all(reply.as_bytes()).await;
        });
        Ok(Box::new(near))
    }
}

fn set_once(exit: &watch::Sender<Option<ExitStatus>>, status: ExitStatus) {
    exit.send_if_modified(|s| {
        if s.is_none() {
            *s = Some(status);
            true
        } else {
            false
        }
    });
}
