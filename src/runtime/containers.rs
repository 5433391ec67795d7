//! The container bookkeeping both real backends share: ids, a table of containers with an
//! explicit state (youki's `ContainerStatus` with its `can_start()` guards) and each one's exit
//! cell. A backend keeps in `T` only what it needs to run, signal and clean up its containers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::{ContainerConfig, ContainerId, ExitStatus, Result, RuntimeError, SandboxId};

/// Locks `m`, recovering it from a panicked holder: every value behind these locks stays
/// consistent between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a container is in its life. The only ways forward are Created -> Running -> Exited and
/// Created -> Exited (stopped before it started); nothing goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited,
}

impl State {
    fn can_start(self) -> bool {
        self == State::Created
    }

    /// Why a container in this state cannot start.
    fn why_not_startable(self) -> &'static str {
        match self {
            State::Created => "",
            State::Running => "it was already started",
            State::Exited => "it has exited",
        }
    }
}

/// One container: what the kubelet asked for, its state, its exit, and the backend's part.
pub struct Container<T> {
    pub id: ContainerId,
    pub sandbox: SandboxId,
    pub config: ContainerConfig,
    state: Mutex<State>,
    exit: watch::Sender<Option<ExitStatus>>,
    pub backend: T,
}

impl<T> Container<T> {
    pub fn state(&self) -> State {
        *lock(&self.state)
    }

    /// Created -> Running: an error for a container that was already started or has exited.
    /// The backend then starts it; should that fail, it reports the failure with [`exited`].
    ///
    /// [`exited`]: Container::exited
    pub fn start(&self) -> Result<()> {
        let mut state = lock(&self.state);
        if !state.can_start() {
            return Err(anyhow::anyhow!(
                "container {} cannot be started: {}",
                self.id,
                state.why_not_startable()
            )
            .into());
        }
        *state = State::Running;
        Ok(())
    }

    /// The container has ended: its first exit status stays, later ones (a kill racing a natural
    /// exit) are ignored.
    pub fn exited(&self, status: ExitStatus) {
        *lock(&self.state) = State::Exited;
        self.exit.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(status);
                true
            } else {
                false
            }
        });
    }

    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<ExitStatus>> {
        self.exit.subscribe()
    }

    /// Resolves once the container has exited (for tasks that outlive a borrow of it).
    pub fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.subscribe();
        async move {
            let _ = rx.wait_for(Option::is_some).await;
        }
    }

    /// WaitContainer: resolves once the container has exited.
    pub async fn wait(&self) -> Result<ExitStatus> {
        super::wait_exit(self.subscribe(), &self.id).await
    }

    /// Waits until the container has exited or `within` has passed; whether it has.
    pub async fn exits_within(&self, within: std::time::Duration) -> bool {
        let mut rx = self.subscribe();
        tokio::time::timeout(within, rx.wait_for(Option::is_some))
            .await
            .is_ok()
    }
}

/// The containers and sandboxes of one backend, by id.
pub struct Containers<T> {
    containers: Mutex<HashMap<String, Arc<Container<T>>>>,
    next_id: AtomicU64,
}

impl<T> Default for Containers<T> {
    fn default() -> Self {
        Containers {
            containers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl<T> Containers<T> {
    /// A new sandbox's id: the pod's name and a number unique in this process.
    pub fn sandbox_id(&self, pod_name: &str) -> SandboxId {
        SandboxId(format!("{pod_name}-{}", self.next()))
    }

    /// A new container's id: wpod's pid and a number, so that ids of concurrent runs (and the
    /// cgroups and directories named after them) never collide and say whose they are.
    pub fn new_id(&self) -> ContainerId {
        ContainerId(format!("{:08x}{:06x}", std::process::id(), self.next()))
    }

    fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Records a created container under `id` (from [`Containers::new_id`]).
    pub fn insert(
        &self,
        id: ContainerId,
        sandbox: &SandboxId,
        config: ContainerConfig,
        backend: T,
    ) -> Arc<Container<T>> {
        let (exit, _) = watch::channel(None);
        let container = Arc::new(Container {
            id: id.clone(),
            sandbox: sandbox.clone(),
            config,
            state: Mutex::new(State::Created),
            exit,
            backend,
        });
        lock(&self.containers).insert(id.0, container.clone());
        container
    }

    pub fn get(&self, id: &ContainerId) -> Result<Arc<Container<T>>> {
        lock(&self.containers)
            .get(&id.0)
            .cloned()
            .ok_or_else(|| not_found("container", &id.0))
    }

    /// The container `id`, moved from Created to Running (StartContainer's bookkeeping): an
    /// unknown id is NotFound, a container that ran already cannot be started again.
    pub fn start(&self, id: &ContainerId) -> Result<Arc<Container<T>>> {
        let c = self.get(id)?;
        c.start()?;
        Ok(c)
    }

    /// Takes a container out of the table (RemoveContainer); None if it is not there.
    pub fn remove(&self, id: &ContainerId) -> Option<Arc<Container<T>>> {
        lock(&self.containers).remove(&id.0)
    }

    /// The containers of a sandbox, for stopping or removing them all.
    pub fn of_sandbox(&self, sandbox: &SandboxId) -> Vec<ContainerId> {
        lock(&self.containers)
            .values()
            .filter(|c| c.sandbox == *sandbox)
            .map(|c| c.id.clone())
            .collect()
    }
}

pub fn not_found(kind: &'static str, id: &str) -> RuntimeError {
    RuntimeError::NotFound {
        kind,
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::{ExitStatus, LogSink, Security, Stream};

    struct Quiet;
    impl LogSink for Quiet {
        fn line(&self, _: &str, _: Stream, _: &str) {}
    }

    fn config() -> ContainerConfig {
        ContainerConfig {
            name: "app".into(),
            image: crate::runtime::ImageInfo {
                id: "sha256:0".into(),
                source: String::new(),
                entrypoint: vec![],
                cmd: vec![],
                env: vec![],
                working_dir: None,
            },
            argv: vec!["app".into()],
            env: vec![],
            working_dir: None,
            memory_limit: None,
            cpu_limit_millis: None,
            mounts: vec![],
            attempt: 0,
            log: Arc::new(Quiet),
            security: Security::default(),
            console: Default::default(),
            ports: vec![],
        }
    }

    #[test]
    fn a_container_starts_once_and_never_after_it_exited() {
        let table = Containers::<()>::default();
        let sandbox = table.sandbox_id("p");
        let c = table.insert(table.new_id(), &sandbox, config(), ());
        assert_eq!(c.state(), State::Created);
        c.start().expect("created -> running");
        let again = c.start().expect_err("running -> running is refused");
        assert!(
            again.to_string().ends_with("it was already started"),
            "{again}"
        );
        c.exited(ExitStatus::from_code(3));
        c.exited(ExitStatus::from_code(137));
        assert_eq!(c.state(), State::Exited);
        assert_eq!(c.subscribe().borrow().as_ref().map(|s| s.code), Some(3));
        let after = c.start().expect_err("exited -> running is refused");
        assert!(after.to_string().ends_with("it has exited"), "{after}");
    }

    #[test]
    fn a_container_stopped_before_it_started_cannot_start() {
        let table = Containers::<()>::default();
        let sandbox = table.sandbox_id("p");
        let c = table.insert(table.new_id(), &sandbox, config(), ());
        c.exited(ExitStatus::from_code(137));
        assert!(c.start().is_err());
        assert_eq!(table.of_sandbox(&sandbox), vec![c.id.clone()]);
        assert!(table.remove(&c.id).is_some());
        assert!(matches!(
            table.get(&c.id),
            Err(RuntimeError::NotFound { .. })
        ));
    }
}
