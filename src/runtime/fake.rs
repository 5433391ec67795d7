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
}

struct FakeContainer {
    name: String,
    run: FakeRun,
    exit: watch::Sender<Option<ExitStatus>>,
}

/// Scripts are per container name; each start takes the next run, the last one repeats.
#[derive(Default)]
pub struct FakeRuntime {
    scripts: Mutex<HashMap<String, VecDeque<FakeRun>>>,
    containers: Mutex<HashMap<String, FakeContainer>>,
    journal: Mutex<Vec<String>>,
    next_id: Mutex<u64>,
}

impl FakeRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn script(self, container: &str, runs: impl IntoIterator<Item = FakeRun>) -> Self {
        lock(&self.scripts).insert(container.to_string(), runs.into_iter().collect());
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
        })
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId> {
        self.record(format!("sandbox {}", config.pod_name));
        Ok(SandboxId(config.pod_name.clone()))
    }

    async fn pod_sandbox_status(&self, _id: &SandboxId) -> Result<SandboxStatus> {
        Ok(SandboxStatus {
            ip: Some("10.88.0.2".into()),
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
            let run = if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            };
            run.unwrap_or(FakeRun::Exit {
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
                "mount {} {} {}{}",
                config.name,
                m.container_path,
                m.host_path.display(),
                if m.read_only { " ro" } else { "" }
            ));
        }
        let (exit, _) = watch::channel(None);
        lock(&self.containers).insert(
            id.clone(),
            FakeContainer {
                name: config.name,
                run,
                exit,
            },
        );
        Ok(ContainerId(id))
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let (name, run, exit) =
            self.with(id, |c| (c.name.clone(), c.run.clone(), c.exit.clone()))?;
        self.record(format!("start {name}"));
        let outcome = match run {
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
                exit.send_if_modified(|s| {
                    if s.is_none() {
                        *s = Some(status);
                        true
                    } else {
                        false
                    }
                });
            });
        }
        Ok(())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        let mut rx = self.with(id, |c| c.exit.subscribe())?;
        let status = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| anyhow::anyhow!("fake container {id} vanished"))?;
        Ok(status.clone().unwrap_or_else(|| ExitStatus::from_code(0)))
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let (name, exit) = self.with(id, |c| (c.name.clone(), c.exit.clone()))?;
        self.record(format!("stop {name}"));
        let mut rx = exit.subscribe();
        if tokio::time::timeout(grace, rx.wait_for(Option::is_some))
            .await
            .is_err()
        {
            exit.send_if_modified(|s| {
                if s.is_none() {
                    *s = Some(ExitStatus::from_code(137));
                    true
                } else {
                    false
                }
            });
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
}
