//! The Deployment controller (pkg/controller/deployment): a ReplicaSet per template, named
//! `<deployment>-<pod-template-hash>`; RollingUpdate within maxSurge/maxUnavailable or Recreate;
//! revisions in `deployment.kubernetes.io/revision` (what `kubectl rollout history|undo` read);
//! old ReplicaSets kept up to revisionHistoryLimit; the status counts and the Available and
//! Progressing conditions `kubectl rollout status` waits on.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{controller_ref, controller_uid, deleting, event, int, namespace, uid};
use crate::api::Api;
use crate::api::objects::{key, name_of, now, stamp};

const COMPONENT: &str = "deployment-controller";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";
/// Deployment annotations a ReplicaSet does not copy.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
];

pub fn sync_all(api: &Api) {
    let (deployments, _) = api.store.list("deployments", None);
    let (sets, _) = api.store.list("replicasets", None);
    for d in deployments.iter().filter(|d| !deleting(d)) {
        let ns = namespace(d);
        let mut owned: Vec<Value> = sets
            .iter()
            .filter(|rs| namespace(rs) == ns && controller_uid(rs) == Some(uid(d)))
            .cloned()
            .collect();
        owned.sort_by(|a, b| {
            created(a)
                .cmp(&created(b))
                .then_with(|| name_of(a).cmp(name_of(b)))
        });
        Rollout {
            api,
            d,
            sets: owned,
            created_new: None,
        }
        .sync();
    }
}

fn created(o: &Value) -> Timestamp {
    o.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

fn annotation<'a>(o: &'a Value, name: &str) -> Option<&'a str> {
    o.pointer("/metadata/annotations")?.get(name)?.as_str()
}

fn revision(o: &Value) -> i64 {
    annotation(o, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The template as `EqualIgnoreHash` compares it: without its `pod-template-hash` label, and
/// without empty values (a Go client sends `creationTimestamp: null` and `resources: {}` for
/// fields the stored template leaves out, as `kubectl rollout undo` does).
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    prune_empty(&mut t);
    t
}

/// Removes nulls and empty maps and lists, depth first; true when `v` itself is empty.
fn prune_empty(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => {
            m.retain(|_, x| !prune_empty(x));
            m.is_empty()
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                prune_empty(x);
            }
            a.is_empty()
        }
        _ => false,
    }
}

/// `ComputeHash`: FNV-32a of the template (and the collision count), its decimal digits spelled
/// in the apiserver's safe alphabet.
pub fn template_hash(template: &Value, collisions: i64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(without_hash(template).to_string().as_bytes());
    if collisions > 0 {
        feed(&(collisions as u64).to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|c| ALPHABET[usize::from(c) % ALPHABET.len()] as char)
        .collect()
}

/// An `intstr` of maxSurge/maxUnavailable: a count, or a percentage of `total` rounded up or
/// down.
fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let v = v.cloned().unwrap_or_else(|| json!(default));
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            if round_up {
                (p * total + 99) / 100
            } else {
                p * total / 100
            }
        }
        _ => 0,
    }
}

struct Rollout<'a> {
    api: &'a Api,
    d: &'a Value,
    /// The Deployment's ReplicaSets, oldest first, as last written.
    sets: Vec<Value>,
    /// The name of the ReplicaSet this pass made, for the Progressing condition.
    created_new: Option<String>,
}

impl Rollout<'_> {
    fn rolling(&self) -> bool {
        self.d
            .pointer("/spec/strategy/type")
            .and_then(Value::as_str)
            != Some("Recreate")
    }

    /// (maxSurge, maxUnavailable) resolved against the replicas (`ResolveFenceposts`).
    fn fenceposts(&self) -> (i64, i64) {
        if !self.rolling() {
            return (0, 0);
        }
        let n = replicas(self.d);
        let ru = self.d.pointer("/spec/strategy/rollingUpdate");
        let surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), n, true, "25%");
        let mut unavailable =
            int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), n, false, "25%");
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        (surge, unavailable.min(n))
    }

    fn template(&self) -> Value {
        self.d
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn new_index(&self) -> Option<usize> {
        let want = without_hash(&self.template());
        self.sets.iter().position(|rs| {
            rs.pointer("/spec/template")
                .is_some_and(|t| without_hash(t) == want)
        })
    }

    fn sync(mut self) {
        let paused = self
            .d
            .pointer("/spec/paused")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !paused {
            if self.rolling() {
                self.roll();
            } else {
                self.recreate();
            }
        }
        let complete = self.status();
        if complete || paused {
            self.clean_up();
        }
    }

    /// `rolloutRolling`: one step, then the status.
    fn roll(&mut self) {
        let n = replicas(self.d);
        let new = match self.new_index() {
            Some(i) => i,
            None => {
                let count = self.new_replicas(0);
                match self.create_new(count) {
                    Some(i) => i,
                    None => return,
                }
            }
        };
        let have = replicas(&self.sets[new]);
        if have != n {
            let target = if have > n { n } else { self.new_replicas(have) };
            if target != have {
                self.scale(new, target);
                return;
            }
        }
        self.scale_down_old(new);
    }

    /// `NewRSNewReplicas`: how far the new ReplicaSet may grow within maxSurge.
    fn new_replicas(&self, current: i64) -> i64 {
        let n = replicas(self.d);
        let (surge, _) = self.fenceposts();
        let total: i64 = self.sets.iter().map(replicas).sum();
        let max_total = n + surge;
        if total >= max_total {
            return current;
        }
        current + (max_total - total).min(n - current).max(0)
    }

    /// `reconcileOldReplicaSets`: old pods go as far as availability allows.
    fn scale_down_old(&mut self, new: usize) {
        let old: Vec<usize> = (0..self.sets.len())
            .filter(|i| *i != new && replicas(&self.sets[*i]) > 0)
            .collect();
        if old.is_empty() {
            return;
        }
        let (_, unavailable) = self.fenceposts();
        let min_available = replicas(self.d) - unavailable;
        let all: i64 = self.sets.iter().map(replicas).sum();
        let new_unavailable =
            replicas(&self.sets[new]) - int(&self.sets[new], "/status/availableReplicas");
        let mut budget = all - min_available - new_unavailable;
        if budget <= 0 {
            return;
        }
        // Unhealthy old replicas first: they serve nobody.
        let mut scaled = false;
        for &i in &old {
            let (have, ok) = (
                replicas(&self.sets[i]),
                int(&self.sets[i], "/status/availableReplicas"),
            );
            if budget <= 0 || have == ok {
                continue;
            }
            let down = budget.min(have - ok).max(0);
            if down > 0 {
                self.scale(i, have - down);
                budget -= down;
                scaled = true;
            }
        }
        if scaled {
            return;
        }
        let available: i64 = self
            .sets
            .iter()
            .map(|rs| int(rs, "/status/availableReplicas"))
            .sum();
        let mut total = available - min_available;
        for &i in &old {
            if total <= 0 {
                break;
            }
            let have = replicas(&self.sets[i]);
            let down = have.min(total);
            if down > 0 {
                self.scale(i, have - down);
                total -= down;
            }
        }
    }

    /// `rolloutRecreate`: every old pod gone before the new ReplicaSet grows.
    fn recreate(&mut self) {
        let new = self.new_index();
        let mut scaled = false;
        for i in 0..self.sets.len() {
            if Some(i) != new && replicas(&self.sets[i]) > 0 {
                self.scale(i, 0);
                scaled = true;
            }
        }
        let old_running: i64 = (0..self.sets.len())
            .filter(|i| Some(*i) != new)
            .map(|i| int(&self.sets[i], "/status/replicas"))
            .sum();
        if scaled || old_running > 0 {
            return;
        }
        let n = replicas(self.d);
        match new {
            Some(i) if replicas(&self.sets[i]) != n => self.scale(i, n),
            Some(_) => {}
            None => {
                self.create_new(n);
            }
        }
    }

    /// Creates the ReplicaSet of the current template with `count` replicas.
    fn create_new(&mut self, count: i64) -> Option<usize> {
        let (api, d) = (self.api, self.d);
        let ns = namespace(d);
        let collisions = int(d, "/status/collisionCount");
        let hash = template_hash(&self.template(), collisions);
        let name = format!("{}-{hash}", name_of(d));
        let mut template = self.template();
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let mut labels = template["metadata"]["labels"].clone();
        labels[HASH_LABEL] = json!(hash);
        let next_revision = self.sets.iter().map(revision).max().unwrap_or(0) + 1;
        let mut annotations = copied_annotations(d);
        annotations.insert(REVISION.into(), json!(next_revision.to_string()));
        annotations.insert(DESIRED.into(), json!(replicas(d).to_string()));
        annotations.insert(
            MAX.into(),
            json!((replicas(d) + self.fenceposts().0).to_string()),
        );
        let mut spec = json!({"replicas": count, "selector": selector, "template": template});
        if let Some(m) = d.pointer("/spec/minReadySeconds") {
            spec["minReadySeconds"] = m.clone();
        }
        let rs = stamp(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "generation": 1,
                         "annotations": annotations, "ownerReferences": [controller_ref(d)]},
            "spec": spec,
            "status": {"replicas": 0},
        }));
        match api.store.create(key("replicasets", ns, &name), rs) {
            Ok(stored) => {
                if count > 0 {
                    event(
                        api,
                        d,
                        "Normal",
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {name} from 0 to {count}"),
                        COMPONENT,
                    );
                }
                self.created_new = Some(name);
                self.set_revision(next_revision);
                self.sets.push(stored);
                Some(self.sets.len() - 1)
            }
            Err(_) => {
                // A ReplicaSet of that name with another template: hash again with one more
                // collision (`status.collisionCount`), next pass.
                if let Some(mut current) = api.store.get(&key("deployments", ns, name_of(d))) {
                    current["status"]["collisionCount"] = json!(collisions + 1);
                    let _ = api
                        .store
                        .update(key("deployments", ns, name_of(d)), current, None);
                }
                None
            }
        }
    }

    /// Sets a ReplicaSet's replicas (and its desired/max annotations), with the event.
    fn scale(&mut self, i: usize, to: i64) {
        let (api, d) = (self.api, self.d);
        let rs = &self.sets[i];
        let from = replicas(rs);
        let k = key("replicasets", namespace(rs), name_of(rs));
        let Some(mut current) = api.store.get(&k) else {
            return;
        };
        current["spec"]["replicas"] = json!(to);
        current["metadata"]["generation"] = json!(int(&current, "/metadata/generation") + 1);
        current["metadata"]["annotations"][DESIRED] = json!(replicas(d).to_string());
        current["metadata"]["annotations"][MAX] =
            json!((replicas(d) + self.fenceposts().0).to_string());
        if let Ok(stored) = api.store.update(k, current, None) {
            let direction = if to > from { "up" } else { "down" };
            event(
                api,
                d,
                "Normal",
                "ScalingReplicaSet",
                &format!(
                    "Scaled {direction} replica set {} from {from} to {to}",
                    name_of(&stored)
                ),
                COMPONENT,
            );
            self.sets[i] = stored;
        }
    }

    /// The Deployment's own revision annotation, written as the status subresource writes it
    /// (no new generation).
    fn set_revision(&self, revision: i64) {
        let (api, d) = (self.api, self.d);
        let k = key("deployments", namespace(d), name_of(d));
        if let Some(mut current) = api.store.get(&k)
            && annotation(&current, REVISION) != Some(&revision.to_string())
        {
            current["metadata"]["annotations"][REVISION] = json!(revision.to_string());
            let _ = api.store.update(k, current, None);
        }
    }

    /// A template that came back (`kubectl rollout undo`) makes its old ReplicaSet the newest
    /// revision again, the revisions it had kept in `revision-history`.
    fn bump_revision(&mut self, new: usize) {
        let top = self
            .sets
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != new)
            .map(|(_, rs)| revision(rs))
            .max()
            .unwrap_or(0);
        let had = revision(&self.sets[new]);
        if had > top {
            self.set_revision(had);
            return;
        }
        let api = self.api;
        let rs = &self.sets[new];
        let k = key("replicasets", namespace(rs), name_of(rs));
        let Some(mut current) = api.store.get(&k) else {
            return;
        };
        let mut history: Vec<String> = annotation(&current, REVISION_HISTORY)
            .map(|h| h.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        if had > 0 {
            history.push(had.to_string());
        }
        let next = top + 1;
        current["metadata"]["annotations"][REVISION] = json!(next.to_string());
        if !history.is_empty() {
            current["metadata"]["annotations"][REVISION_HISTORY] = json!(history.join(","));
        }
        for (k2, v) in copied_annotations(self.d) {
            current["metadata"]["annotations"][k2] = v;
        }
        if let Ok(stored) = api.store.update(k, current, None) {
            self.sets[new] = stored;
        }
        self.set_revision(next);
    }

    /// Writes the status and conditions; true when the rollout is complete.
    fn status(&mut self) -> bool {
        let (api, d) = (self.api, self.d);
        let new = self.new_index();
        if let Some(i) = new {
            self.bump_revision(i);
        }
        let sum = |p: &str| -> i64 { self.sets.iter().map(|rs| int(rs, p)).sum() };
        let n = replicas(d);
        let spec_total: i64 = self.sets.iter().map(replicas).sum();
        let updated = new.map_or(0, |i| int(&self.sets[i], "/status/replicas"));
        let available = sum("/status/availableReplicas");
        let mut status = json!({
            "observedGeneration": int(d, "/metadata/generation"),
            "replicas": sum("/status/replicas"),
            "updatedReplicas": updated,
            "readyReplicas": sum("/status/readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": (spec_total - available).max(0),
        });
        if let Some(c) = d.pointer("/status/collisionCount") {
            status["collisionCount"] = c.clone();
        }
        let now = now().to_string();
        let mut conditions: Vec<Value> = d
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let (_, unavailable) = self.fenceposts();
        let (ok, reason, message) = if available >= n - unavailable {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        set_condition(
            &mut conditions,
            "Available",
            ok,
            reason,
            message,
            &now,
            false,
        );
        let rs_name = new.map(|i| name_of(&self.sets[i]).to_string());
        let complete = updated == n
            && int(&status, "/replicas") == n
            && available == n
            && int(&status, "/observedGeneration") >= int(d, "/metadata/generation");
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let progressing = conditions
            .iter()
            .find(|c| c["type"] == "Progressing")
            .cloned();
        let reason_now = progressing.as_ref().and_then(|c| c["reason"].as_str());
        let subject = match &rs_name {
            Some(name) => format!("ReplicaSet \"{name}\""),
            None => format!("Deployment \"{}\"", name_of(d)),
        };
        if paused {
            if reason_now != Some("ProgressDeadlineExceeded") {
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused",
                    &now,
                    false,
                );
            }
        } else if reason_now == Some("DeploymentPaused") {
            set_condition(
                &mut conditions,
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
                &now,
                false,
            );
        } else if let Some(name) = &self.created_new {
            set_condition(
                &mut conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                &format!("Created new replica set \"{name}\""),
                &now,
                false,
            );
        } else if complete {
            if reason_now != Some("NewReplicaSetAvailable") {
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("{subject} has successfully progressed."),
                    &now,
                    false,
                );
            }
        } else if progressing.is_none() && rs_name.is_some() {
            set_condition(
                &mut conditions,
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                &format!("Found new replica set \"{}\"", rs_name.unwrap_or_default()),
                &now,
                false,
            );
        } else if moved(d.get("status"), &status) {
            set_condition(
                &mut conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("{subject} is progressing."),
                &now,
                true,
            );
        } else if let Some(c) = &progressing
            && c["status"] == "True"
            && timed_out(c, d)
        {
            set_condition(
                &mut conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("{subject} has timed out progressing."),
                &now,
                false,
            );
        }
        status["conditions"] = json!(conditions);
        super::write_status(api, "deployments", d, status);
        complete
    }

    /// `cleanupDeployment`: old ReplicaSets beyond revisionHistoryLimit, oldest revision first.
    fn clean_up(&self) {
        let Some(limit) = self
            .d
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
        else {
            return;
        };
        let new = self.new_index();
        let mut old: Vec<&Value> = self
            .sets
            .iter()
            .enumerate()
            .filter(|(i, rs)| Some(*i) != new && !deleting(rs))
            .map(|(_, rs)| rs)
            .collect();
        let extra = old.len() as i64 - limit.max(0);
        if extra <= 0 {
            return;
        }
        old.sort_by_key(|rs| (revision(rs), created(rs)));
        for rs in old.into_iter().take(extra as usize) {
            let idle = replicas(rs) == 0
                && int(rs, "/status/replicas") == 0
                && int(rs, "/status/observedGeneration") >= int(rs, "/metadata/generation");
            if idle {
                let _ = self
                    .api
                    .store
                    .delete(&key("replicasets", namespace(rs), name_of(rs)));
            }
        }
    }
}

/// The Deployment annotations a new ReplicaSet carries (`kubernetes.io/change-cause`, ...).
fn copied_annotations(d: &Value) -> Map<String, Value> {
    d.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the rollout moved since the last status (`DeploymentProgressing`).
fn moved(old: Option<&Value>, new: &Value) -> bool {
    let old = old.cloned().unwrap_or(json!({}));
    let old_pending = int(&old, "/replicas") - int(&old, "/updatedReplicas");
    let new_pending = int(new, "/replicas") - int(new, "/updatedReplicas");
    int(new, "/updatedReplicas") > int(&old, "/updatedReplicas")
        || new_pending < old_pending
        || int(new, "/readyReplicas") > int(&old, "/readyReplicas")
        || int(new, "/availableReplicas") > int(&old, "/availableReplicas")
}

fn timed_out(condition: &Value, d: &Value) -> bool {
    let deadline = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600);
    let since = condition["lastUpdateTime"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    since.is_some_and(|t| t.as_second().saturating_add(deadline) < now().as_second())
}

/// `SetDeploymentCondition`: nothing changes when status and reason are the same (unless
/// `refresh`, which renews lastUpdateTime); the transition time stays while the status does.
fn set_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    refresh: bool,
) {
    let existing = conditions.iter().position(|c| c["type"] == type_);
    let mut transition = now.to_string();
    if let Some(i) = existing {
        let c = &conditions[i];
        if c["status"] == status && c["reason"] == reason && !refresh {
            return;
        }
        if c["status"] == status
            && let Some(t) = c["lastTransitionTime"].as_str()
        {
            transition = t.to_string();
        }
        conditions.remove(i);
    }
    conditions.push(json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": transition,
    }));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_template_hash_ignores_its_own_label_and_uses_the_safe_alphabet() {
        let t = json!({"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "n", "image": "nginx"}]}});
        let mut labelled = t.clone();
        labelled["metadata"]["labels"]["pod-template-hash"] = json!("x");
        labelled["metadata"]["creationTimestamp"] = json!(null);
        labelled["spec"]["containers"][0]["resources"] = json!({});
        let h = super::template_hash(&t, 0);
        assert_eq!(h, super::template_hash(&labelled, 0));
        assert_ne!(h, super::template_hash(&t, 1));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn surge_rounds_up_and_unavailability_down() {
        assert_eq!(super::int_or_percent(None, 10, true, "25%"), 3);
        assert_eq!(super::int_or_percent(None, 10, false, "25%"), 2);
        assert_eq!(super::int_or_percent(Some(&json!(0)), 10, true, "25%"), 0);
    }
}
