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

use super::discovery::{RESOURCES, Resource};

struct Spec {
    document: Value,
    hash: String,
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    let document = document();
    let hash = hex(&sha2::Sha512::digest(document.to_string().as_bytes()))[..64].to_string();
    Spec { document, hash }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `/openapi/v3`: where each group-version's document is.
pub fn root() -> Value {
    json!({"paths": {"api/v1": {"serverRelativeURL": format!("/openapi/v3/api/v1?hash={}", SPEC.hash)}}})
}

/// `/openapi/v3/api/v1`.
pub fn core() -> &'static Value {
    &SPEC.document
}

/// The schema name (as upstream names it) of each served kind.
fn schema_name(kind: &str) -> String {
    format!("io.k8s.api.core.v1.{kind}")
}

fn document() -> Value {
    use k8s_openapi::api::core::v1 as k;
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<k::Pod>();
    generator.subschema_for::<k::ConfigMap>();
    generator.subschema_for::<k::Secret>();
    generator.subschema_for::<k::Event>();
    generator.subschema_for::<k::Namespace>();
    generator.subschema_for::<k::Node>();
    generator.subschema_for::<k::ServiceAccount>();
    let mut schemas = generator.take_definitions(true);
    let mut paths = Map::new();
    for r in RESOURCES {
        if let Some(Value::Object(schema)) = schemas.get_mut(&schema_name(r.kind)) {
            schema.insert("x-kubernetes-group-version-kind".into(), json!([gvk(r)]));
        }
        let (collection, item) = if r.namespaced {
            (
                format!("/api/v1/namespaces/{{namespace}}/{}", r.name),
                format!("/api/v1/namespaces/{{namespace}}/{}/{{name}}", r.name),
            )
        } else {
            (
                format!("/api/v1/{}", r.name),
                format!("/api/v1/{}/{{name}}", r.name),
            )
        };
        let body = json!({"$ref": format!("#/components/schemas/{}", schema_name(r.kind))});
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
    json!({"group": "", "version": "v1", "kind": r.kind})
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
    json!({
        "operationId": format!("{action}CoreV1{}", r.kind),
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
pub fn unknown_fields(kind: &str, object: &mut Value) -> Vec<String> {
    let schemas = &SPEC.document["components"]["schemas"];
    let Some(schema) = schemas.get(schema_name(kind)) else {
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
        let found = super::unknown_fields("Pod", &mut pod);
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
            super::unknown_fields("ConfigMap", &mut cm),
            ["unknown field \"dta\""]
        );
    }

    #[test]
    fn every_served_kind_has_a_schema_and_a_patch_path_kubectl_can_find() {
        let doc = super::core();
        for r in super::RESOURCES {
            let schema = &doc["components"]["schemas"][super::schema_name(r.kind)];
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
