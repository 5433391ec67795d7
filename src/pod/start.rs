//! Starting one container, as the kubelet's startContainer does (kuberuntime_container.go):
//! pull the image, generate the container's config (env, mounts, the termination message file),
//! create, start, then the postStart hook; the container runs once the hook is done.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::actions::Key;
use super::clock;
use super::events::EventType;
use super::handler;
use super::status::State;
use super::termination_message::TailLog;
use super::worker::{PodWorker, Report, Running};
use crate::expand;
use crate::plan;
use crate::runtime::{Console, ContainerConfig, ExitReason, ExitStatus, Mount};
use crate::volumes;

/// postStart hooks have no timeout in Kubernetes; this stands for "as long as it takes".
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// How soon after a failed pull the kubelet's sync shows ImagePullBackOff.
const PULL_RESYNC: Duration = Duration::from_secs(1);

impl PodWorker {
    /// Starts the container; whatever happens, it leaves the container either created (one more
    /// attempt) or blocked, so the next actions move on.
    pub(super) async fn start(&mut self, key: Key) {
        // As the kubelet's sync looks at the sandbox before any container: an exit may be
        // reported before the end of the infra container that caused it.
        if let Some(sandbox) = self.sandbox.clone()
            && self
                .runtime
                .pod_sandbox_status(&sandbox)
                .await
                .is_ok_and(|s| !s.ready)
        {
            self.on_sandbox_ended(sandbox);
            return;
        }
        let Some(image) = self.pull(key).await else {
            return;
        };
        if let Some(message) = self.non_root_refusal(key) {
            self.config_error(key, message);
            return;
        }
        // What a container runtime refuses (an unknown capability, a profile file) fails the
        // create the same way on every backend.
        if let Some(message) = self.slot(key).plan.security.refusal() {
            self.blocked(key, "CreateContainerError", message);
            return;
        }
        let Some(sandbox) = self.sandbox.clone() else {
            self.blocked(key, "CreateContainerError", "the pod has no sandbox".into());
            return;
        };
        let c = self.slot(key).plan.clone();
        let resolved = volumes::env::resolve(&self.plan, &self.facts(), &c.source)
            .and_then(|env| self.volumes.mounts(&c.source, &env).map(|m| (env, m)));
        let (env, mut mounts) = match resolved {
            Ok(r) => r,
            Err(message) => {
                self.config_error(key, message);
                return;
            }
        };
        let attempt = self.slot(key).attempts;
        // As the kubelet does: an empty file per container instance, mounted where the container
        // may leave its termination message.
        let message_file = self
            .pod_dir
            .join("containers")
            .join(&c.name)
            .join(attempt.to_string());
        if let Err(e) = create_message_file(&message_file) {
            self.config_error(
                key,
                format!(
                    "creating the termination message file {}: {e}",
                    message_file.display()
                ),
            );
            return;
        }
        mounts.push(Mount {
            host_path: message_file.clone(),
            sub_path: None,
            container_path: c.termination_message.path.clone(),
            read_only: false,
            host_owned: false,
        });
        let tail = TailLog::new(Arc::clone(&self.config.log));
        let argv: Vec<String> = plan::argv(
            c.command.as_deref(),
            c.args.as_deref(),
            &image.entrypoint,
            &image.cmd,
        )
        .iter()
        .map(|a| expand::expand(a, |n| expand::lookup(&env, n)))
        .collect();
        let working_dir = c.working_dir.clone().or(image.working_dir.clone());
        let config = ContainerConfig {
            name: c.name.clone(),
            image,
            argv,
            env,
            working_dir,
            memory_limit: c.memory_limit,
            cpu_limit_millis: c.cpu_limit_millis,
            mounts,
            attempt,
            log: tail.clone(),
            security: c.security.clone(),
            console: Console {
                stdin: c.source.stdin.unwrap_or(false),
                stdin_once: c.source.stdin_once.unwrap_or(false),
                tty: c.source.tty.unwrap_or(false),
            },
            ports: c.tcp_ports(),
        };

        self.config.log.began(&c.name);
        let runtime = Arc::clone(&self.runtime);
        let created = runtime.create_container(&sandbox, config).await;
        let now = self.config.clock.now();
        let slot = self.slot_mut(key);
        slot.attempts += 1;
        slot.restart_at = None;
        slot.rerun = false;
        if attempt > 0 {
            slot.status.restart_count += 1;
            if let State::Terminated(t) = &slot.status.state {
                slot.status.last_state = Some(t.clone());
            }
        }
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                self.config.log.ended(&c.name);
                let message =
                    crate::host_limits::explain(format!("failed to create container: {e}"));
                self.fail_start(key, now, message);
                return;
            }
        };
        self.slot_mut(key).status.container_id = Some(format!("{}://{}", runtime.name(), id));
        let name = c.name.clone();
        self.event(
            EventType::Normal,
            "Created",
            Some(&name),
            format!("Created container: {name}"),
        );
        if let Err(e) = runtime.start_container(&id).await {
            self.config.log.ended(&name);
            let message = crate::host_limits::explain(format!("failed to start container: {e}"));
            self.fail_start(key, now, message);
            return;
        }
        self.event(
            EventType::Normal,
            "Started",
            Some(&name),
            format!("Started container {name}"),
        );
        self.slot_mut(key).running = Some(Running {
            id: id.clone(),
            attempt,
            since: now,
            post_start: c.post_start.is_some(),
            killing: false,
            workers: Vec::new(),
            counters: BTreeMap::new(),
            message_file,
            tail,
        });
        match c.post_start {
            // The container is Running only once its postStart hook is done.
            Some(hook) => {
                self.slot_mut(key).status.state = State::waiting("ContainerCreating", None);
                if let Some(target) = self.target(key) {
                    let reports = self.reports.clone();
                    let pod_ref = self.pod_ref();
                    tokio::spawn(async move {
                        let result =
                            handler::hook(&hook, &target, &name, &pod_ref, NO_TIMEOUT).await;
                        let _ = reports.send(Report::PostStart {
                            key,
                            attempt,
                            result,
                        });
                    });
                }
            }
            None => self.mark_running(key),
        }
        let reports = self.reports.clone();
        let log = Arc::clone(&self.config.log);
        let name = c.name.clone();
        tokio::spawn(async move {
            let status = runtime
                .wait_container(&id)
                .await
                .unwrap_or_else(|e| ExitStatus {
                    code: 255,
                    reason: ExitReason::Error,
                    message: Some(format!("lost track of the container: {e}")),
                });
            log.ended(&name);
            let _ = reports.send(Report::Exit {
                key,
                attempt,
                status,
            });
        });
    }

    /// The image, resolved once per container (and again after its image changed); as the
    /// kubelet's EnsureImageExists, every start says it is present (`Pulled`, xN in describe).
    async fn pull(&mut self, key: Key) -> Option<crate::runtime::ImageInfo> {
        let (name, image_ref) = {
            let plan = &self.slot(key).plan;
            (plan.name.clone(), plan.image.clone())
        };
        let present = |image: &crate::runtime::ImageInfo| {
            format!(
                "Container image \"{image_ref}\" already present on machine ({})",
                image.source
            )
        };
        if let Some(image) = self.slot(key).image.clone() {
            self.event(EventType::Normal, "Pulled", Some(&name), present(&image));
            return Some(image);
        }
        if let Some(retry_at) = self.slot(key).pull_retry_at {
            if retry_at > self.config.clock.now() {
                self.pull_backing_off(key, retry_at);
                return None;
            }
            self.slot_mut(key).pull_retry_at = None;
        }
        let pulled = match self.ensure_image(key).await {
            Ok(pulled) => pulled,
            Err(failed) => {
                self.event(
                    EventType::Warning,
                    "Failed",
                    Some(&name),
                    failed.message.clone(),
                );
                self.event(
                    EventType::Warning,
                    "Failed",
                    Some(&name),
                    format!("Error: {}", failed.reason),
                );
                // A registry's answer can change; a pull that can never work cannot.
                let retry = self.config.retry_pulls && failed.reason == "ErrImagePull";
                let (policy, now) = (self.config.backoff, self.config.clock.now());
                let slot = self.slot_mut(key);
                slot.status.state = State::waiting(failed.reason, Some(failed.message));
                if retry {
                    let wait = slot.pull_backoff.on_pull_failure(policy);
                    slot.pull_retry_at = Some(clock::later(now, wait));
                    // The kubelet's next sync, soon after, finds the image in back-off.
                    slot.restart_at = Some(clock::later(now, PULL_RESYNC.min(wait)));
                } else {
                    slot.blocked = true;
                }
                return None;
            }
        };
        match self
            .runtime
            .pull_image(&image_ref, &self.plan.base_dir)
            .await
        {
            Ok(image) => {
                let said = pulled.unwrap_or_else(|| present(&image));
                self.event(EventType::Normal, "Pulled", Some(&name), said);
                let slot = self.slot_mut(key);
                slot.image = Some(image.clone());
                slot.status.image_id = Some(image.id.clone());
                Some(image)
            }
            Err(e) => {
                self.event(
                    EventType::Warning,
                    "Failed",
                    Some(&name),
                    format!("Failed to pull image \"{image_ref}\": {e}"),
                );
                self.event(
                    EventType::Warning,
                    "Failed",
                    Some(&name),
                    "Error: ErrImagePull".into(),
                );
                let slot = self.slot_mut(key);
                slot.blocked = true;
                slot.status.state = State::waiting("ErrImagePull", Some(e.to_string()));
                None
            }
        }
    }

    /// ImagePullBackOff: what the kubelet's sync says of an image whose pull failed, until the
    /// back-off lets the next pull go at `retry_at`.
    fn pull_backing_off(&mut self, key: Key, retry_at: tokio::time::Instant) {
        let (name, image) = {
            let plan = &self.slot(key).plan;
            (plan.name.clone(), plan.image.clone())
        };
        self.event(
            EventType::Normal,
            "BackOff",
            Some(&name),
            format!("Back-off pulling image \"{image}\""),
        );
        self.event(
            EventType::Warning,
            "Failed",
            Some(&name),
            "Error: ImagePullBackOff".into(),
        );
        let slot = self.slot_mut(key);
        let last = match &slot.status.state {
            State::Waiting {
                message: Some(m), ..
            } => format!(": ErrImagePull: {m}"),
            _ => String::new(),
        };
        let message = format!("Back-off pulling image \"{image}\"{last}");
        slot.status.state = State::waiting("ImagePullBackOff", Some(message));
        slot.restart_at = Some(retry_at);
    }

    /// The container runs (its postStart hook, if any, is done): start its probes.
    pub(super) fn mark_running(&mut self, key: Key) {
        let clock = self.config.clock.clone();
        let slot = self.slot_mut(key);
        let Some(running) = slot.running.as_mut() else {
            return;
        };
        running.post_start = false;
        slot.status.state = State::Running {
            started_at: clock.wall(running.since),
        };
        if slot.plan.startup_probe.is_some() {
            // A startupProbe holds back the other probes until it succeeds.
            self.spawn_probes(key, &[super::probe::ProbeKind::Startup]);
        } else {
            self.spawn_probes(
                key,
                &[
                    super::probe::ProbeKind::Liveness,
                    super::probe::ProbeKind::Readiness,
                ],
            );
            self.mark_started(key);
        }
    }

    /// The container counts as started (no startupProbe, or it succeeded).
    pub(super) fn mark_started(&mut self, key: Key) {
        let slot = self.slot_mut(key);
        slot.status.started = true;
        slot.ever_started = true;
        // Regular init containers are never ready while they run; others are once started,
        // unless a readiness probe says otherwise.
        slot.status.ready = slot.plan.kind == plan::ContainerKind::App || slot.plan.sidecar;
        if slot.plan.readiness_probe.is_some() {
            slot.status.ready = false;
        }
    }

    /// The kubelet's verifyRunAsNonRoot: with `runAsNonRoot`, a container must name a non-zero
    /// `runAsUser`, since every image wpod runs has no USER of its own (it would run as root).
    fn non_root_refusal(&self, key: Key) -> Option<String> {
        let plan = &self.slot(key).plan;
        if !plan.run_as_non_root {
            return None;
        }
        let (pod, name) = (self.pod_ref(), &plan.name);
        match plan.security.run_as_user {
            Some(0) => Some(format!(
                "container's runAsUser breaks non-root policy (pod: \"{pod}\", container: {name})"
            )),
            Some(_) => None,
            None => Some(format!(
                "container has runAsNonRoot and image will run as root (pod: \"{pod}\", container: {name})"
            )),
        }
    }

    /// The container's config cannot be generated (a missing ConfigMap key, a bad subPathExpr):
    /// it waits with CreateContainerConfigError.
    fn config_error(&mut self, key: Key, message: String) {
        self.blocked(key, "CreateContainerConfigError", message);
    }

    /// The container cannot be created and never will be in this run: it waits with `reason`.
    fn blocked(&mut self, key: Key, reason: &str, message: String) {
        self.failed(key, &message);
        let slot = self.slot_mut(key);
        slot.blocked = true;
        slot.status.state = State::waiting(reason, Some(message));
    }

    /// The kubelet's `Failed` event: `Error: <why>`.
    fn failed(&self, key: Key, message: &str) {
        let name = &self.slot(key).plan.name;
        self.event(
            EventType::Warning,
            "Failed",
            Some(name),
            format!("Error: {message}"),
        );
    }

    /// A container that could not start ends like Kubernetes' StartError: exit 128.
    fn fail_start(&mut self, key: Key, now: tokio::time::Instant, message: String) {
        self.failed(key, &message);
        self.record_exit(
            key,
            now,
            now,
            ExitStatus {
                code: 128,
                reason: ExitReason::StartError,
                message: Some(message),
            },
        );
    }
}

/// An empty file the container can write (whatever user it runs as), like the kubelet's.
fn create_message_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, b"")?;
    crate::modes::set(path, 0o666)
}
