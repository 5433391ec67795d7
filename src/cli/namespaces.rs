//! `wpod run --show-namespaces`: a runtime wrapper that, as each sandbox and container starts,
//! prints the namespaces it is in (Linux: /proc/PID/ns/*; wasm: the pod's virtual network and
//! file system identities) and marks those shared with the pod's infra.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::output::Printer;
use crate::runtime::{
    ContainerConfig, ContainerId, ExitStatus, ImageError, ImageInfo, Result, RuntimeService,
    SandboxConfig, SandboxId, SandboxStatus,
};

/// (kind, identity) pairs, as `RuntimeService::container_namespaces` gives them.
type Namespaces = Vec<(String, String)>;

pub struct ShowNamespaces {
    inner: Arc<dyn RuntimeService>,
    printer: Arc<Printer>,
    /// Per sandbox: the pod's name and its infra's namespaces.
    sandboxes: Mutex<HashMap<String, (String, Namespaces)>>,
    /// Per container: its sandbox and name.
    containers: Mutex<HashMap<String, (String, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShowNamespaces {
    pub fn new(inner: Arc<dyn RuntimeService>, printer: Arc<Printer>) -> Self {
        ShowNamespaces {
            inner,
            printer,
            sandboxes: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
        }
    }
}

/// `net:[4026532179] ipc:[...]`, each shared one followed by `=infra`.
fn render(ns: &[(String, String)], infra: &[(String, String)]) -> String {
    ns.iter()
        .map(|(k, v)| {
            let shared = infra.iter().any(|(ik, iv)| ik == k && iv == v);
            let v = if v.starts_with(&format!("{k}:")) {
                v.clone()
            } else {
                format!("{k}:{v}")
            };
            if shared { format!("{v}=infra") } else { v }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl RuntimeService for ShowNamespaces {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn pull_image(&self, image: &str, base_dir: &Path) -> Result<ImageInfo, ImageError> {
        self.inner.pull_image(image, base_dir).await
    }
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId> {
        let id = self.inner.run_pod_sandbox(config).await?;
        let ns = self.inner.sandbox_namespaces(&id).await;
        self.printer.note(&format!(
            "{}: infra ({} backend) {}",
            config.pod_name,
            self.inner.name(),
            render(&ns, &[])
        ));
        lock(&self.sandboxes).insert(id.0.clone(), (config.pod_name.clone(), ns));
        Ok(id)
    }
    async fn pod_sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus> {
        self.inner.pod_sandbox_status(id).await
    }
    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let name = config.name.clone();
        let id = self.inner.create_container(sandbox, config).await?;
        lock(&self.containers).insert(id.0.clone(), (sandbox.0.clone(), name));
        Ok(id)
    }
    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        self.inner.start_container(id).await?;
        let ns = self.inner.container_namespaces(id).await;
        let known = lock(&self.containers).get(&id.0).cloned();
        if let Some((sandbox, name)) = known {
            let (pod, infra) = lock(&self.sandboxes)
                .get(&sandbox)
                .cloned()
                .unwrap_or_default();
            let shown = if ns.is_empty() {
                "(already exited)".to_string()
            } else {
                render(&ns, &infra)
            };
            self.printer.note(&format!("{pod}/{name}: {shown}"));
        }
        Ok(())
    }
    async fn wait_container(&self, id: &ContainerId) -> Result<ExitStatus> {
        self.inner.wait_container(id).await
    }
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        self.inner.stop_container(id, grace).await
    }
    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        lock(&self.containers).remove(&id.0);
        self.inner.remove_container(id).await
    }
    async fn stop_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        self.inner.stop_pod_sandbox(id).await
    }
    async fn wait_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        self.inner.wait_pod_sandbox(id).await
    }
    async fn kill_pod_sandbox_infra(&self, id: &SandboxId) -> Result<()> {
        self.inner.kill_pod_sandbox_infra(id).await
    }
    async fn remove_pod_sandbox(&self, id: &SandboxId) -> Result<()> {
        lock(&self.sandboxes).remove(&id.0);
        self.inner.remove_pod_sandbox(id).await
    }
    async fn container_namespaces(&self, id: &ContainerId) -> Vec<(String, String)> {
        self.inner.container_namespaces(id).await
    }
    async fn sandbox_namespaces(&self, id: &SandboxId) -> Vec<(String, String)> {
        self.inner.sandbox_namespaces(id).await
    }
}
