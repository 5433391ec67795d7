//! OpenAPI v3 as kubectl reads it: `/openapi/v3` lists one group-version, `/openapi/v3/api/v1`
//! holds the schemas of the served kinds (from k8s-openapi's, so `kubectl explain` shows their
//! fields and documentation) and a path per resource whose operations name their kind and take
//! `fieldValidation`, which is how kubectl learns the server validates fields itself.
//! `/openapi/v2` stays empty: kubectl asks for it in protobuf only, and an empty answer is an
//! empty document to it.
//!
//! The same schemas drive field validation: an unknown field is an error with
//! `fieldValidation=Strict` (kubectl's default), a `Warning:` header with `Warn` (the default of
//! other clients), and with either of those or `Ignore` it is dropped, as the apiserver's decoder
//! drops it.

use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::discovery::{GROUPS, RESOURCES, Resource};

/// The schemas of every served kind, and one document per group-version with its paths.
struct Spec {
    schemas: Value,
    /// (group, document, hash of the document).
    documents: Vec<(&'static str, Value, String)>,
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    let schemas = schemas();
    let documents = std::iter::once("")
        .chain(GROUPS.iter().copied())
        .map(|group| {
            let document = document(group, &schemas);
            let hash =
                hex(&sha2::Sha512::digest(document.to_string().as_bytes()))[..64].to_string();
            (group, document, hash)
        })
        .collect();
    Spec { schemas, documents }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn group_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".into()
    } else {
        format!("apis/{group}/v1")
    }
}

/// `/openapi/v3`: where each group-version's document is.
pub fn root() -> Value {
    let paths: Map<String, Value> = SPEC
        .documents
        .iter()
        .map(|(group, _, hash)| {
            let path = group_path(group);
            let url = format!("/openapi/v3/{path}?hash={hash}");
            (path, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` (group "") or `/openapi/v3/apis/<group>/v1`.
pub fn group(group: &str) -> Option<&'static Value> {
    SPEC.documents
        .iter()
        .find(|(g, _, _)| *g == group)
        .map(|(_, d, _)| d)
}

fn schemas() -> Value {
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as k, discovery::v1 as discovery};
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<k::Pod>();
    generator.subschema_for::<k::ConfigMap>();
    generator.subschema_for::<k::Secret>();
    generator.subschema_for::<k::Event>();
    generator.subschema_for::<k::Namespace>();
    generator.subschema_for::<k::Node>();
    generator.subschema_for::<k::ServiceAccount>();
    generator.subschema_for::<k::Service>();
    generator.subschema_for::<k::Endpoints>();
    generator.subschema_for::<apps::Deployment>();
    generator.subschema_for::<apps::ReplicaSet>();
    generator.subschema_for::<k8s_openapi::api::batch::v1::Job>();
    generator.subschema_for::<discovery::EndpointSlice>();
    generator.subschema_for::<k8s_openapi::api::node::v1::RuntimeClass>();
    generator.subschema_for::<k8s_openapi::api::autoscaling::v1::Scale>();
    let mut schemas = generator.take_definitions(true);
    for r in RESOURCES {
        if let Some(Value::Object(schema)) = schemas.get_mut(&r.schema_name()) {
            schema.insert("x-kubernetes-group-version-kind".into(), json!([gvk(r)]));
        }
    }
    Value::Object(schemas)
}

fn document(group: &str, schemas: &Value) -> Value {
    let mut paths = Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let base = format!("/{}", group_path(group));
        let (collection, item) = if r.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", r.name),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.name),
            )
        } else {
            (
                format!("{base}/{}", r.name),
                format!("{base}/{}/{{name}}", r.name),
            )
        };
        let body = json!({"$ref": format!("#/components/schemas/{}", r.schema_name())});
        paths.insert(
            collection,
            json!({
                "get": operation(r, "list", false),
                "post": operation(r, "post", true),
                "delete": operation(r, "deletecollection", false),
            }),
        );
        let mut item_ops = json!({
            "get": operation(r, "get", false),
            "put": operation(r, "put", true),
            "patch": operation(r, "patch", true),
            "delete": operation(r, "delete", false),
        });
        for verb in ["put", "post"] {
            if let Some(op) = item_ops.get_mut(verb) {
                op["requestBody"] = json!({"content": {"application/json": {"schema": body}}});
            }
        }
        paths.insert(item, item_ops);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::discovery::git_version()},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn gvk(r: &Resource) -> Value {
    json!({"group": r.group, "version": "v1", "kind": r.kind})
}

fn operation(r: &Resource, action: &str, writes: bool) -> Value {
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut parameters = vec![query("pretty")];
    if writes {
        parameters.extend([
            query("dryRun"),
            query("fieldManager"),
            query("fieldValidation"),
        ]);
    }
    let group: String = r
        .group
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { c.to_ascii_uppercase() } else { c })
        .collect();
    let group = if group.is_empty() {
        "Core".into()
    } else {
        group
    };
    json!({
        "operationId": format!("{action}{group}V1{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
    })
}

/// How a request wants unknown fields treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// The query's value; the apiserver's default is Warn.
    pub fn of(param: Option<&str>) -> Result<Self, String> {
        match param {
            None | Some("" | "Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(format!(
                "fieldValidation {other:?} is not one of Ignore, Warn, Strict"
            )),
        }
    }
}

/// Removes from `object` the fields its kind's schema does not have, returning them as the
/// apiserver words them (`unknown field "spec.containers[0].imagePullPolcy"`), with wpod's
/// suggestion of the field meant, in the order found.
pub fn unknown_fields(r: &Resource, object: &mut Value) -> Vec<String> {
    let schemas = &SPEC.schemas;
    let Some(schema) = schemas.get(r.schema_name()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    prune(schemas, schema, object, "", &mut found, 0);
    found
}

/// Deeper than any Kubernetes type nests; a body that goes deeper is not walked further.
const MAX_DEPTH: usize = 64;

fn prune(
    schemas: &Value,
    schema: &Value,
    value: &mut Value,
    at: &str,
    found: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = resolve(schemas, schema);
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let unknown: Vec<String> = fields
                    .keys()
                    .filter(|k| !props.contains_key(*k))
                    .cloned()
                    .collect();
                let known: Vec<&str> = props.keys().map(String::as_str).collect();
                for k in unknown {
                    fields.remove(&k);
                    let mut message = format!("unknown field {:?}", join(at, &k));
                    if let Some(meant) = crate::manifest::did_you_mean(&k, &known) {
                        message.push_str(&format!(" (did you mean {meant:?}?)"));
                    }
                    found.push(message);
                }
                for (k, v) in fields.iter_mut() {
                    if let Some(s) = props.get(k) {
                        prune(schemas, s, v, &join(at, k), found, depth + 1);
                    }
                }
            } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for (k, v) in fields.iter_mut() {
                    prune(schemas, s, v, &join(at, k), found, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter_mut().enumerate() {
                    prune(schemas, s, v, &format!("{at}[{i}]"), found, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Follows `$ref` and a lone `allOf` (how a described reference is written) to the schema.
fn resolve<'a>(schemas: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            match schemas.get(name) {
                Some(s) => schema = s,
                None => return schema,
            }
        } else if let Some([one]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = one;
        } else {
            return schema;
        }
    }
    schema
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_at_any_depth_and_dropped() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"any": "label"}, "colour": "red"},
            "spec": {"containers": [{"name": "a", "image": "busybox", "imagePullPolcy": "Always",
                                     "resources": {"limits": {"cpu": "1"}}}]}});
        let resource = |plural| super::super::discovery::find("", plural).unwrap();
        let found = super::unknown_fields(resource("pods"), &mut pod);
        assert_eq!(
            found,
            [
                "unknown field \"metadata.colour\"",
                "unknown field \"spec.containers[0].imagePullPolcy\" (did you mean \"imagePullPolicy\"?)"
            ]
        );
        assert!(pod["spec"]["containers"][0].get("imagePullPolcy").is_none());
        assert_eq!(pod["metadata"]["labels"]["any"], "label");
        let mut cm =
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}, "dta": {}});
        assert_eq!(
            super::unknown_fields(resource("configmaps"), &mut cm),
            ["unknown field \"dta\""]
        );
    }

    #[test]
    fn every_served_kind_has_a_schema_and_a_patch_path_kubectl_can_find() {
        for r in super::RESOURCES {
            let doc = super::group(r.group).unwrap();
            let schema = &doc["components"]["schemas"][r.schema_name()];
            assert_eq!(schema["x-kubernetes-group-version-kind"][0]["kind"], r.kind);
            let has_patch = doc["paths"]
                .as_object()
                .into_iter()
                .flatten()
                .any(|(_, p)| {
                    p["patch"]["x-kubernetes-group-version-kind"]["kind"] == r.kind
                        && p["patch"]["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|q| q["name"] == "fieldValidation")
                });
            assert!(has_patch, "{}", r.kind);
        }
    }
}
