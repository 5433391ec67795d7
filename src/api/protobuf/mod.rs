//! Request bodies in Kubernetes' protobuf encoding, as JSON. kubectl's typed commands (`run`,
//! `create namespace|configmap|secret|deployment`, `expose`) send built-in kinds as
//! `application/vnd.kubernetes.protobuf`, and client-go does not fall back to JSON when a server
//! refuses it, so wpod reads it: the `k8s\0` magic, a `runtime.Unknown` envelope naming the kind,
//! and the object, decoded against the schema of the upstream `generated.proto` files.
//!
//! `k8s.desc` is a FileDescriptorSet (no source info) of core/v1, apps/v1, batch/v1 and the
//! apimachinery types they use, compiled from the `generated.proto` files that kube-rs/k8s-pb
//! vendors for API 1.34:
//! `protoc -I protos --include_imports --descriptor_set_out=k8s.desc api/{core,apps,batch}/v1/generated.proto apimachinery/pkg/apis/meta/v1/generated.proto`.

use std::sync::LazyLock;

use base64::Engine as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, ReflectMessage as _, Value as Pb};
use serde_json::{Map, Value, json};

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(include_bytes!("k8s.desc").as_slice()).ok());

/// Whether a Content-Type names the protobuf encoding.
pub fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// The JSON object a protobuf request body encodes, with its apiVersion and kind.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let pool = POOL
        .as_ref()
        .ok_or("wpod's protobuf schema does not load; send the object as JSON")?;
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic \"k8s\\0\"")?;
    let envelope = pool
        .get_message_by_name("apimachinery.pkg.runtime.Unknown")
        .ok_or("wpod's protobuf schema has no runtime.Unknown")?;
    let envelope = DynamicMessage::decode(envelope, unknown)
        .map_err(|e| format!("the protobuf envelope does not decode: {e}"))?;
    let text = |m: &DynamicMessage, f: &str| match m.get_field_by_name(f).as_deref() {
        Some(Pb::String(s)) => s.clone(),
        _ => String::new(),
    };
    let type_meta = match envelope.get_field_by_name("typeMeta").as_deref() {
        Some(Pb::Message(m)) => m.clone(),
        _ => return Err("the protobuf envelope names no apiVersion and kind".into()),
    };
    let (api_version, kind) = (text(&type_meta, "apiVersion"), text(&type_meta, "kind"));
    let raw = match envelope.get_field_by_name("raw").as_deref() {
        Some(Pb::Bytes(b)) => b.clone(),
        _ => Default::default(),
    };
    let package = match api_version.split_once('/') {
        None => format!("api.core.{api_version}"),
        Some((group, version)) => format!("api.{group}.{version}"),
    };
    let descriptor = pool
        .get_message_by_name(&format!("{package}.{kind}"))
        .ok_or_else(|| {
            format!("wpod cannot read {kind} ({api_version}) in protobuf; send it as JSON")
        })?;
    let object = DynamicMessage::decode(descriptor, raw)
        .map_err(|e| format!("the protobuf {kind} does not decode: {e}"))?;
    let mut json = message(&object);
    if let Value::Object(o) = &mut json {
        o.insert("apiVersion".into(), json!(api_version));
        o.insert("kind".into(), json!(kind));
    }
    Ok(json)
}

/// Fields that are pointers in the Go types, where an explicit zero or false differs from
/// unset (the protobuf form cannot tell, and the others are omitted when zero, as Go's JSON
/// `omitempty` does).
const ZERO_MEANS_SOMETHING: &[&str] = &[
    "activeDeadlineSeconds",
    "allowPrivilegeEscalation",
    "automountServiceAccountToken",
    "backoffLimit",
    "completions",
    "enableServiceLinks",
    "fsGroup",
    "gracePeriodSeconds",
    "hostUsers",
    "parallelism",
    "replicas",
    "runAsGroup",
    "runAsUser",
    "suspend",
    "terminationGracePeriodSeconds",
    "ttlSecondsAfterFinished",
];

fn message(m: &DynamicMessage) -> Value {
    let name = m.descriptor().full_name().to_string();
    let field = |f: &str| m.get_field_by_name(f).map(|v| v.into_owned());
    match name.as_str() {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let seconds = match field("seconds") {
                Some(Pb::I64(s)) => s,
                _ => 0,
            };
            let nanos = match field("nanos") {
                Some(Pb::I32(n)) => n,
                _ => 0,
            };
            if seconds == 0 && nanos == 0 {
                return Value::Null;
            }
            k8s_openapi::jiff::Timestamp::new(seconds, nanos)
                .map_or(Value::Null, |t| json!(t.to_string()))
        }
        "apimachinery.pkg.api.resource.Quantity" => match field("string") {
            Some(Pb::String(s)) => json!(s),
            _ => Value::Null,
        },
        "apimachinery.pkg.util.intstr.IntOrString" => {
            match (field("type"), field("intVal"), field("strVal")) {
                (Some(Pb::I64(1)), _, Some(Pb::String(s))) => json!(s),
                (_, Some(Pb::I32(i)), _) => json!(i),
                _ => json!(0),
            }
        }
        // Embedded objects and managed fields travel as JSON bytes.
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            match field("raw").or_else(|| field("Raw")) {
                Some(Pb::Bytes(b)) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                _ => Value::Null,
            }
        }
        _ => {
            let mut out = Map::new();
            for (f, v) in m.fields() {
                let v = value(v);
                if !omitted(&v) || (ZERO_MEANS_SOMETHING.contains(&f.name()) && !v.is_null()) {
                    out.insert(f.name().to_string(), v);
                }
            }
            Value::Object(out)
        }
    }
}

/// What Go's `omitempty` leaves out (and a zero Time, which is null).
fn omitted(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

fn value(v: &Pb) -> Value {
    match v {
        Pb::Bool(b) => json!(b),
        Pb::I32(i) | Pb::EnumNumber(i) => json!(i),
        Pb::I64(i) => json!(i),
        Pb::U32(u) => json!(u),
        Pb::U64(u) => json!(u),
        Pb::F32(f) => json!(f),
        Pb::F64(f) => json!(f),
        Pb::String(s) => json!(s),
        // As Go's JSON encodes []byte (a Secret's data, a ConfigMap's binaryData).
        Pb::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        Pb::Message(m) => message(m),
        Pb::List(items) => Value::Array(items.iter().map(value).collect()),
        Pb::Map(entries) => {
            let mut out: Vec<(String, Value)> =
                entries.iter().map(|(k, v)| (key(k), value(v))).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(out.into_iter().collect())
        }
    }
}

fn key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(i) => i.to_string(),
        MapKey::I64(i) => i.to_string(),
        MapKey::U32(u) => u.to_string(),
        MapKey::U64(u) => u.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests;
