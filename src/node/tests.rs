//! The node against the fake backend, in tokio's virtual time: pods added, updated and deleted
//! while others run.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::plan::PodPlan;
use crate::pod::backoff::BackoffPolicy;
use crate::pod::clock::Clock;
use crate::pod::events::RecordedEvents;
use crate::pod::{Outcome, Phase};
use crate::runtime::fake::{FakeRun, FakeRuntime};
use crate::runtime::{LogSink, Stream};

struct NoLogs;
impl LogSink for NoLogs {
    fn line(&self, _: &str, _: Stream, _: &str) {}
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn plan(name: &str, spec: serde_json::Value) -> PodPlan {
    let pod: api::Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("test pod");
    PodPlan::from_pod(&pod, &format!("uid-{name}"), ".".into())
}

fn one(name: &str, container: &str, image: &str) -> PodPlan {
    plan(
        name,
        json!({"terminationGracePeriodSeconds": 5,
               "containers": [{"name": container, "image": image}]}),
    )
}

fn node(fake: FakeRuntime) -> (Node, Arc<FakeRuntime>, Arc<RecordedEvents>) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let fake = Arc::new(fake);
    let events = Arc::new(RecordedEvents::default());
    let state_dir = std::env::temp_dir().join(format!(
        "wpod-node-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let node = Node::new(
        fake.clone(),
        NodeConfig {
            backoff: BackoffPolicy::default(),
            clock: Clock::starting_at(Timestamp::UNIX_EPOCH),
            events: events.clone(),
            logs: Arc::new(|_: &PodPlan| -> Arc<dyn LogSink> { Arc::new(NoLogs) }),
            state_dir,
            keep_volumes: false,
            services: Default::default(),
            tokens: None,
            retry_pulls: false,
        },
    );
    (node, fake, events)
}

fn phase(node: &Node, name: &str) -> Option<String> {
    node.status("default", name)?
        .borrow()
        .status
        .as_ref()?
        .phase
        .clone()
}

fn state_of(node: &Node, pod: &str) -> api::ContainerState {
    node.status("default", pod)
        .and_then(|s| s.borrow().status.clone())
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.state)
        .expect("a container state")
}

#[tokio::test(start_paused = true)]
async fn pods_come_and_go_while_others_run() {
    let (node, fake, _) = node(
        FakeRuntime::new()
            .script("a", [FakeRun::Forever])
            .script("b", [FakeRun::Forever]),
    );
    node.add(one("first", "a", "img")).expect("added");
    tokio::time::sleep(secs(1)).await;
    assert_eq!(phase(&node, "first").as_deref(), Some("Running"));
    // A second pod arrives while the first runs.
    node.add(one("second", "b", "img")).expect("added");
    assert_eq!(
        node.add(one("second", "b", "img")),
        Err(NodeError::AlreadyExists("second".into()))
    );
    tokio::time::sleep(secs(1)).await;
    assert_eq!(phase(&node, "second").as_deref(), Some("Running"));
    // Deleting the first leaves the second running; the first is gone once it stopped.
    node.delete("default", "first", Some(secs(3)))
        .expect("deleted");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let deleting = node
        .status("default", "first")
        .expect("still there while it stops");
    let meta = deleting.borrow().metadata.clone();
    assert!(
        meta.deletion_timestamp.is_some(),
        "deletionTimestamp is set"
    );
    assert_eq!(meta.deletion_grace_period_seconds, Some(3));
    let outcome = node.wait("default", "first").await;
    assert_eq!(outcome, Some(Outcome::Stopped(Phase::Failed)));
    assert!(
        node.status("default", "first").is_none(),
        "a deleted pod leaves the node"
    );
    assert_eq!(phase(&node, "second").as_deref(), Some("Running"));
    assert_eq!(
        node.delete("default", "first", None),
        Err(NodeError::NotFound("first".into()))
    );
    assert!(fake.journal().contains(&"stop-sandbox first".to_string()));
    node.stop_all(crate::pod::StopMode::Kill);
    assert_eq!(
        node.wait("default", "second").await,
        Some(Outcome::Stopped(Phase::Failed))
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_image_restarts_its_container_and_nothing_else_may_change() {
    let (node, fake, events) =
        node(FakeRuntime::new().script("web", [FakeRun::Forever, FakeRun::Forever]));
    let mut changes = node.subscribe();
    node.add(one("p", "web", "v1")).expect("added");
    tokio::time::sleep(secs(1)).await;
    node.update(one("p", "web", "v2"))
        .expect("an image may change");
    tokio::time::sleep(secs(10)).await;
    let creates: Vec<String> = fake
        .journal()
        .into_iter()
        .filter(|l| l.starts_with("create"))
        .collect();
    assert_eq!(
        creates,
        ["create web /v1 default-cmd", "create web /v2 default-cmd"]
    );
    assert!(state_of(&node, "p").running.is_some(), "runs again");
    assert!(
        events
            .events
            .lock()
            .expect("events")
            .iter()
            .any(|e| e.reason == "Killing"
                && e.message == "Container web definition changed, will be restarted")
    );
    let renamed = one("p", "other", "v2");
    assert!(matches!(
        node.update(renamed),
        Err(NodeError::Forbidden { .. })
    ));
    let mut more = one("p", "web", "v2");
    more.manifest.spec.as_mut().expect("spec").containers[0].args = Some(vec!["x".into()]);
    assert!(matches!(
        node.update(more),
        Err(NodeError::Forbidden { .. })
    ));
    // The stream saw the pod and its events.
    let mut saw_pod = false;
    let mut saw_event = false;
    while let Ok(change) = changes.try_recv() {
        match change {
            Change::Pod(_) => saw_pod = true,
            Change::Event { .. } => saw_event = true,
            Change::Finished { .. } => {}
        }
    }
    assert!(saw_pod && saw_event);
    node.stop_all(crate::pod::StopMode::Kill);
    node.wait("default", "p").await;
}

#[tokio::test(start_paused = true)]
async fn a_new_image_ends_err_image_pull_and_back_off_at_once() {
    let (node, fake, _) = node(
        FakeRuntime::new()
            .script("w", [FakeRun::Forever])
            .script("side", [FakeRun::Forever])
            .script(
                "crash",
                [
                    FakeRun::Exit {
                        code: 1,
                        after: secs(1),
                    },
                    FakeRun::Exit {
                        code: 1,
                        after: secs(1),
                    },
                    FakeRun::Forever,
                ],
            ),
    );
    let pod = |image: &str, crash: &str| {
        plan(
            "p",
            json!({"containers": [{"name": "w", "image": image},
                                  {"name": "side", "image": "img"},
                                  {"name": "crash", "image": crash}]}),
        )
    };
    node.add(pod("missing-image", "img")).expect("added");
    tokio::time::sleep(secs(5)).await;
    let statuses = |node: &Node| {
        node.status("default", "p")
            .and_then(|s| s.borrow().status.clone())
            .and_then(|s| s.container_statuses)
            .expect("statuses")
    };
    let reason = |c: &api::ContainerStatus| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
    };
    let now = statuses(&node);
    assert_eq!(reason(&now[0]).as_deref(), Some("ErrImagePull"));
    assert_eq!(reason(&now[2]).as_deref(), Some("CrashLoopBackOff"));
    node.update(pod("img", "img2")).expect("updated");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let now = statuses(&node);
    assert!(
        now[0]
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some()
    );
    assert!(
        now[2]
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some(),
        "no back-off wait"
    );
    assert!(
        fake.journal()
            .contains(&"create crash /img2 default-cmd".to_string())
    );
    node.delete("default", "p", Some(Duration::ZERO))
        .expect("deleted");
    assert_eq!(
        node.wait("default", "p").await,
        Some(Outcome::Stopped(Phase::Failed))
    );
}

#[tokio::test(start_paused = true)]
async fn delete_during_start_up_and_during_a_back_off_wait() {
    let (node, _, _) = node(
        FakeRuntime::new()
            .script("init", [FakeRun::Forever])
            .script(
                "crash",
                std::iter::repeat_n(
                    FakeRun::Exit {
                        code: 1,
                        after: secs(1),
                    },
                    3,
                ),
            ),
    );
    // Deleted before its worker even ran: the init container never gets to the app.
    node.add(plan(
        "starting",
        json!({"initContainers": [{"name": "init", "image": "img"}],
               "containers": [{"name": "never", "image": "img"}]}),
    ))
    .expect("added");
    node.delete("default", "starting", None).expect("deleted");
    // A crash-looping pod deleted while it waits out its back-off.
    node.add(one("looping", "crash", "img")).expect("added");
    tokio::time::sleep(secs(5)).await;
    let waiting = state_of(&node, "looping").waiting.expect("in back-off");
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    let started = tokio::time::Instant::now();
    node.delete("default", "looping", None).expect("deleted");
    assert_eq!(
        node.wait("default", "looping").await,
        Some(Outcome::Stopped(Phase::Failed))
    );
    assert!(
        started.elapsed() < secs(1),
        "nothing runs, so nothing waits for the grace period"
    );
    assert_eq!(
        node.wait("default", "starting").await,
        Some(Outcome::Stopped(Phase::Failed))
    );
    assert!(node.pods().is_empty());
}
