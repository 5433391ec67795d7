//! The Job controller (pkg/controller/job): pods from the template until `completions` of them
//! succeeded, at most `parallelism` at a time; the Job fails once more pods failed than
//! `backoffLimit` allows, or when it outlives `activeDeadlineSeconds`, and a `podFailurePolicy`
//! rule on exit codes can fail it at once or not count a failure. A finished Job's running pods
//! are deleted; its finished pods stay, as upstream keeps them.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::replicaset::{active, create_pod, ready};
use super::{State, controller_uid, deleting, event, int, namespace, uid};

/// The restarts of a pod's containers: failures too, for a Job whose pods restart `OnFailure`.
fn restarts(pod: &Value) -> i64 {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().map(|c| int(c, "/restartCount")).sum())
}
use crate::api::Api;
use crate::api::objects::{name_of, now};

const COMPONENT: &str = "job-controller";

pub fn sync_all(api: &Api, state: &mut State, pods: &[Value]) {
    let (jobs, _) = api.store.list("jobs", None);
    for job in jobs.iter().filter(|j| !deleting(j)) {
        sync(api, state, job, pods);
    }
}

/// Whether the Job has its final condition (Complete or Failed).
pub fn finished(job: &Value) -> Option<&'static str> {
    let conditions = job.pointer("/status/conditions")?.as_array()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c["type"] == *t && c["status"] == "True")
    })
}

fn phase(pod: &Value) -> Option<&str> {
    pod.pointer("/status/phase").and_then(Value::as_str)
}

/// What a `podFailurePolicy` rule says of a failed pod: `FailJob`, `Ignore` or `Count` (the
/// default when no rule matches).
fn failure_action(job: &Value, pod: &Value) -> &'static str {
    let rules = job
        .pointer("/spec/podFailurePolicy/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let exits: Vec<(String, i64)> = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let code = c.pointer("/state/terminated/exitCode")?.as_i64()?;
            Some((c["name"].as_str().unwrap_or_default().to_string(), code))
        })
        .collect();
    for rule in &rules {
        let Some(on) = rule.get("onExitCodes") else {
            continue;
        };
        let container = on.get("containerName").and_then(Value::as_str);
        let values: Vec<i64> = on
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        let inside = on.get("operator").and_then(Value::as_str) != Some("NotIn");
        let hit = exits.iter().any(|(name, code)| {
            container.is_none_or(|c| c == name) && *code != 0 && values.contains(code) == inside
        });
        if hit {
            return match rule.get("action").and_then(Value::as_str) {
                Some("FailJob") => "FailJob",
                Some("Ignore") => "Ignore",
                _ => "Count",
            };
        }
    }
    "Count"
}

fn sync(api: &Api, state: &mut State, job: &Value, all_pods: &[Value]) {
    let ns = namespace(job);
    let owned: Vec<&Value> = all_pods
        .iter()
        .filter(|p| namespace(p) == ns && controller_uid(p) == Some(uid(job)))
        .collect();
    let succeeded = owned
        .iter()
        .filter(|p| phase(p) == Some("Succeeded"))
        .count() as i64;
    let failed_pods: Vec<&&Value> = owned
        .iter()
        .filter(|p| phase(p) == Some("Failed"))
        .collect();
    let fail_job = failed_pods
        .iter()
        .any(|p| failure_action(job, p) == "FailJob");
    let on_failure = job
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        == Some("OnFailure");
    let failed = failed_pods
        .iter()
        .filter(|p| failure_action(job, p) == "Count")
        .count() as i64
        + if on_failure {
            owned.iter().map(|p| restarts(p)).sum::<i64>()
        } else {
            0
        };
    let live: Vec<&Value> = owned.iter().copied().filter(|p| active(p, state)).collect();
    let completions = job
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let parallelism = job
        .pointer("/spec/parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let backoff_limit = job
        .pointer("/spec/backoffLimit")
        .and_then(Value::as_i64)
        .unwrap_or(6);
    let now = now();
    let started = job
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let mut status = job.get("status").cloned().unwrap_or(json!({}));
    let done = finished(job);
    let mut ending: Option<(&str, &str, String)> = None;
    if done.is_none() {
        if succeeded >= completions {
            ending = Some(("Complete", "Completed", "Job completed".into()));
        } else if fail_job {
            ending = Some((
                "Failed",
                "PodFailurePolicy",
                "Container failed with an exit code matching a FailJob rule of the pod failure policy".into(),
            ));
        } else if failed > backoff_limit {
            ending = Some((
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".into(),
            ));
        } else if let Some(deadline) = job
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_i64)
            && now.as_second() - started.as_second() >= deadline
        {
            ending = Some((
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline".into(),
            ));
        }
    }
    if done.is_some() || ending.is_some() || suspended {
        // A finished (or suspended) Job's running pods go.
        for pod in &live {
            let name = name_of(pod).to_string();
            if crate::api::pods::delete(api, ns, &name, None)
                .status()
                .is_success()
            {
                state.deleting.insert((ns.to_string(), name));
            }
        }
    } else {
        let want = parallelism.min(completions - succeeded).max(0);
        for _ in (live.len() as i64)..want {
            if let Err(why) = create_pod(api, job, COMPONENT) {
                event(
                    api,
                    job,
                    "Warning",
                    "FailedCreate",
                    &format!("Error creating: {why}"),
                    COMPONENT,
                );
                break;
            }
        }
    }
    let (pods, _) = api.store.list("pods", Some(ns));
    let running: Vec<&Value> = pods
        .iter()
        .filter(|p| controller_uid(p) == Some(uid(job)) && active(p, state))
        .collect();
    status["active"] = json!(running.len());
    status["ready"] = json!(running.iter().filter(|p| ready(p)).count());
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["terminating"] = json!(
        pods.iter()
            .filter(|p| controller_uid(p) == Some(uid(job)) && deleting(p))
            .count()
    );
    if status.get("startTime").is_none_or(Value::is_null) && !suspended {
        status["startTime"] = json!(started.to_string());
    }
    if let Some((type_, reason, message)) = ending {
        let at = now.to_string();
        // Upstream first says what decided the end (SuccessCriteriaMet, FailureTarget), then
        // the end itself.
        let first = if type_ == "Complete" {
            "SuccessCriteriaMet"
        } else {
            "FailureTarget"
        };
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in [first, type_] {
            conditions.push(
                json!({"type": t, "status": "True", "reason": reason, "message": message,
                                   "lastProbeTime": at, "lastTransitionTime": at}),
            );
        }
        status["conditions"] = json!(conditions);
        if type_ == "Complete" {
            status["completionTime"] = json!(at);
            event(api, job, "Normal", "Completed", &message, COMPONENT);
        } else {
            event(api, job, "Warning", reason, &message, COMPONENT);
        }
    }
    super::write_status(api, "jobs", job, status);
}
