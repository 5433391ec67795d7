//! PATCH bodies as the apiserver takes them: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
//! and the strategic merge patch `kubectl apply`, `edit` and `patch` send for built-in kinds,
//! with the merge keys those kinds declare (`patchMergeKey` in the API's Go types) and the
//! directives apimachinery's `strategicpatch` understands (`$patch`, `$retainKeys`,
//! `$setElementOrder/`, `$deleteFromPrimitiveList/`). Server-side apply is not served: its media
//! type is refused with 415, so kubectl says the server does not support it.

use serde_json::{Map, Value};

/// The kinds of body a PATCH may carry, by its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
}

/// The media types a PATCH is accepted in, as the apiserver lists them when it refuses one.
pub const ACCEPTED: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json";

impl PatchType {
    pub fn of(content_type: Option<&str>) -> Option<Self> {
        let media = content_type?.split(';').next()?.trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body itself is malformed (400).
    #[error("{0}")]
    Malformed(String),
    /// The body is well formed but cannot be applied to this object (422).
    #[error("{0}")]
    Unapplicable(String),
}

/// `original` with `body` applied; `kind` selects the merge keys of a strategic merge patch.
pub fn apply(
    kind: &str,
    original: &Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| PatchError::Malformed(format!("the patch is not valid JSON: {e}")))?;
    let mut doc = original.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| PatchError::Malformed(format!("the JSON patch is malformed: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                PatchError::Unapplicable(format!("the JSON patch cannot be applied: {e}"))
            })?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(PatchError::Malformed(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchType::Strategic => {
            let Value::Object(patch) = patch else {
                return Err(PatchError::Malformed(
                    "a strategic merge patch must be a JSON object".into(),
                ));
            };
            let Value::Object(target) = &mut doc else {
                return Err(PatchError::Unapplicable("the object is not a map".into()));
            };
            let mut path = Vec::new();
            if merge_map(kind, target, &patch, &mut path)? == Outcome::Delete {
                return Err(PatchError::Unapplicable(
                    "a patch may not delete the whole object".into(),
                ));
            }
        }
    }
    Ok(doc)
}

/// How a list field merges in a strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListMerge {
    /// Elements are maps matched by this field; unmatched ones are appended.
    ByKey(&'static str),
    /// A list of scalars merged as a set (metadata.finalizers).
    Set,
}

/// The `patchStrategy:"merge"` lists of the kinds wpod serves, by the field names leading to
/// them (list indices left out). Every other list is replaced whole, as apimachinery does.
fn list_merge(kind: &str, path: &[String]) -> Option<ListMerge> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["metadata", "finalizers"] => return Some(ListMerge::Set),
        ["metadata", "ownerReferences"] => return Some(ListMerge::ByKey("uid")),
        _ => {}
    }
    match kind {
        "Pod" => match p.as_slice() {
            ["spec", rest @ ..] => pod_spec(rest),
            ["status", "conditions"] => Some(ListMerge::ByKey("type")),
            ["status", "podIPs" | "hostIPs"] => Some(ListMerge::ByKey("ip")),
            _ => None,
        },
        "Node" => match p.as_slice() {
            ["status", "conditions" | "addresses"] => Some(ListMerge::ByKey("type")),
            _ => None,
        },
        "Deployment" | "ReplicaSet" | "Job" => match p.as_slice() {
            ["spec", "template", "spec", rest @ ..] => pod_spec(rest),
            ["status", "conditions"] => Some(ListMerge::ByKey("type")),
            _ => None,
        },
        "Service" => match p.as_slice() {
            ["spec", "ports"] => Some(ListMerge::ByKey("port")),
            _ => None,
        },
        "ServiceAccount" => match p.as_slice() {
            ["secrets"] => Some(ListMerge::ByKey("name")),
            _ => None,
        },
        _ => None,
    }
}

/// The merge lists of a PodSpec, from the PodSpec down.
fn pod_spec(p: &[&str]) -> Option<ListMerge> {
    match p {
        ["containers" | "initContainers" | "ephemeralContainers"]
        | ["volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"] => {
            Some(ListMerge::ByKey("name"))
        }
        ["hostAliases"] => Some(ListMerge::ByKey("ip")),
        ["topologySpreadConstraints"] => Some(ListMerge::ByKey("topologyKey")),
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "env" => Some(ListMerge::ByKey("name")),
            "ports" => Some(ListMerge::ByKey("containerPort")),
            "volumeMounts" => Some(ListMerge::ByKey("mountPath")),
            "volumeDevices" => Some(ListMerge::ByKey("devicePath")),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    /// The map carried `$patch: delete`: its parent removes it.
    Delete,
}

const ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

fn merge_map(
    kind: &str,
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Outcome, PatchError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None => {}
        Some(Some("delete")) => return Ok(Outcome::Delete),
        Some(Some("replace")) => {
            *target = strip(patch);
            return Ok(Outcome::Keep);
        }
        Some(Some("merge")) => {}
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "unknown patch type {}",
                other.map_or_else(|| "(not a string)".to_string(), str::to_string)
            )));
        }
    }
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (field, value) in patch {
        if field == "$patch" || field == "$retainKeys" {
            continue;
        }
        if let Some(list) = field.strip_prefix(ORDER) {
            let Value::Array(order) = value else {
                return Err(PatchError::Malformed(format!("{field} must be a list")));
            };
            orders.push((list, order));
            continue;
        }
        if let Some(list) = field.strip_prefix(DELETE_FROM) {
            let Value::Array(gone) = value else {
                return Err(PatchError::Malformed(format!("{field} must be a list")));
            };
            if let Some(Value::Array(items)) = target.get_mut(list) {
                items.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if value.is_null() {
            target.remove(field);
            continue;
        }
        path.push(field.clone());
        let merged = merge_value(kind, target.get_mut(field), value, path);
        path.pop();
        match merged? {
            Merged::Into => {}
            Merged::Set(v) => {
                target.insert(field.clone(), v);
            }
            Merged::Remove => {
                target.remove(field);
            }
        }
    }
    for (list, order) in orders {
        path.push(list.to_string());
        let how = list_merge(kind, path);
        path.pop();
        if let (Some(Value::Array(items)), Some(ListMerge::ByKey(k))) = (target.get_mut(list), how)
        {
            reorder(items, order, |item| item.get(k));
        } else if let (Some(Value::Array(items)), Some(ListMerge::Set)) =
            (target.get_mut(list), how)
        {
            reorder(items, order, |v: &Value| Some(v));
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let Value::Array(keep) = retain else {
            return Err(PatchError::Malformed("$retainKeys must be a list".into()));
        };
        target.retain(|k, _| keep.iter().any(|v| v.as_str() == Some(k)));
    }
    Ok(Outcome::Keep)
}

enum Merged {
    /// Merged into the existing value.
    Into,
    Set(Value),
    Remove,
}

fn merge_value(
    kind: &str,
    target: Option<&mut Value>,
    patch: &Value,
    path: &mut Vec<String>,
) -> Result<Merged, PatchError> {
    match (target, patch) {
        (Some(Value::Object(t)), Value::Object(p)) => Ok(match merge_map(kind, t, p, path)? {
            Outcome::Keep => Merged::Into,
            Outcome::Delete => Merged::Remove,
        }),
        (target, Value::Object(p)) => {
            // A new map: applied to an empty one, so its directives take effect too.
            if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                return Ok(Merged::Remove);
            }
            let mut fresh = Map::new();
            merge_map(kind, &mut fresh, p, path)?;
            let _ = target;
            Ok(Merged::Set(Value::Object(fresh)))
        }
        (target, Value::Array(items)) => match list_merge(kind, path) {
            Some(how) => {
                let mut list = match target {
                    Some(Value::Array(existing)) => std::mem::take(existing),
                    _ => Vec::new(),
                };
                merge_list(kind, &mut list, items, how, path)?;
                Ok(Merged::Set(Value::Array(list)))
            }
            None => Ok(Merged::Set(Value::Array(
                items.iter().map(strip_value).collect(),
            ))),
        },
        (_, scalar) => Ok(Merged::Set(scalar.clone())),
    }
}

fn merge_list(
    kind: &str,
    list: &mut Vec<Value>,
    patch: &[Value],
    how: ListMerge,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    // `[{"$patch": "replace"}, ...rest]`: the list becomes the rest.
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *list = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(strip_value)
            .collect();
        return Ok(());
    }
    match how {
        ListMerge::Set => {
            for item in patch {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        }
        ListMerge::ByKey(key) => {
            for item in patch {
                let Value::Object(fields) = item else {
                    return Err(PatchError::Unapplicable(format!(
                        "{}: the elements of this list are maps merged by {key:?}",
                        path.join(".")
                    )));
                };
                let Some(id) = fields.get(key) else {
                    return Err(PatchError::Unapplicable(format!(
                        "{}: an element has no merge key {key:?}",
                        path.join(".")
                    )));
                };
                let at = list.iter().position(|e| e.get(key) == Some(id));
                if fields.get("$patch").and_then(Value::as_str) == Some("delete") {
                    list.retain(|e| e.get(key) != Some(id));
                    continue;
                }
                match at.and_then(|i| list.get_mut(i)) {
                    Some(Value::Object(existing)) => {
                        if merge_map(kind, existing, fields, path)? == Outcome::Delete
                            && let Some(i) = at
                        {
                            list.remove(i);
                        }
                    }
                    _ => list.push(strip_value(item)),
                }
            }
        }
    }
    Ok(())
}

/// `$setElementOrder`: the listed elements in the given order, then the others as they were.
fn reorder(items: &mut Vec<Value>, order: &[Value], id: impl Fn(&Value) -> Option<&Value>) {
    let wanted: Vec<&Value> = order
        .iter()
        .map(|o| match o {
            Value::Object(m) if m.len() == 1 => m.values().next().unwrap_or(o),
            other => other,
        })
        .collect();
    let rank = |item: &Value| {
        id(item)
            .and_then(|v| wanted.iter().position(|w| *w == v))
            .unwrap_or(usize::MAX)
    };
    let mut ranked: Vec<(usize, Value)> = items.drain(..).map(|v| (rank(&v), v)).collect();
    ranked.sort_by_key(|(r, _)| *r);
    items.extend(ranked.into_iter().map(|(_, v)| v));
}

/// A patch value without its directives, where it lands as new content.
fn strip(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip(m)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(original: Value, patch: Value) -> Value {
        apply(
            "Pod",
            &original,
            PatchType::Strategic,
            patch.to_string().as_bytes(),
        )
        .expect("applies")
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
               "spec": {"containers": [
                   {"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 80}]},
                   {"name": "side", "image": "busybox", "args": ["sleep", "1"]}]}})
    }

    #[test]
    fn containers_merge_by_name_and_other_lists_are_replaced() {
        let out = smp(
            pod(),
            json!({"spec": {"containers": [
                {"name": "side", "args": ["sleep", "2"]},
                {"name": "app", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}}),
        );
        let containers = &out["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:2");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(containers[0]["ports"], json!([{"containerPort": 80}]));
        assert_eq!(containers[1]["args"], json!(["sleep", "2"]));
        assert_eq!(containers[1]["image"], "busybox");
    }

    #[test]
    fn directives_delete_replace_order_and_primitive_lists() {
        let out = smp(
            pod(),
            json!({"metadata": {"labels": {"a": null, "c": "3"}, "finalizers": ["y"],
                                "$deleteFromPrimitiveList/finalizers": ["x"]},
                   "spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                            "containers": [{"name": "app", "$patch": "delete"},
                                           {"name": "new", "image": "pause"}]}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["side", "new"]);
        let replaced = smp(
            pod(),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}),
        );
        assert_eq!(
            replaced["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        let retained = smp(
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"},
                                         "$retainKeys": ["hostPath", "name"]}]}}),
        );
        assert_eq!(
            retained["spec"]["volumes"],
            json!([{"name": "v", "hostPath": {"path": "/x"}}])
        );
    }

    #[test]
    fn json_and_merge_patches_and_their_errors() {
        let doc = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let out = apply(
            "Pod",
            &doc,
            PatchType::Json,
            br#"[{"op":"replace","path":"/spec/containers/0/image","value":"y"}]"#,
        )
        .expect("applies");
        assert_eq!(out["spec"]["containers"][0]["image"], "y");
        let merged = apply(
            "Pod",
            &doc,
            PatchType::Merge,
            br#"{"spec":{"containers":[{"name":"b"}]}}"#,
        )
        .expect("applies");
        assert_eq!(merged["spec"]["containers"], json!([{"name": "b"}]));
        assert!(matches!(
            apply(
                "Pod",
                &doc,
                PatchType::Json,
                br#"[{"op":"test","path":"/spec/x","value":1}]"#
            ),
            Err(PatchError::Unapplicable(_))
        ));
        assert!(matches!(
            apply("Pod", &doc, PatchType::Strategic, b"[1]"),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            apply("Pod", &doc, PatchType::Strategic, b"{\"spec\":"),
            Err(PatchError::Malformed(_))
        ));
        assert_eq!(
            PatchType::of(Some(
                "application/strategic-merge-patch+json; charset=utf-8"
            )),
            Some(PatchType::Strategic)
        );
        assert_eq!(PatchType::of(Some("application/apply-patch+yaml")), None);
    }
}
