//! Answers as the kube-apiserver gives them: JSON bodies, `metav1.Status` for errors.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub type Body = BoxBody<Bytes, Infallible>;

pub fn json(code: StatusCode, value: &Value) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

pub fn ok(value: &Value) -> Response<Body> {
    json(StatusCode::OK, value)
}

/// A `metav1.Status` failure: `reason` as the apiserver names it (NotFound, AlreadyExists,
/// Conflict, Invalid, BadRequest, MethodNotAllowed, Unauthorized, UnsupportedMediaType).
pub fn failure(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    json(code, &status)
}

pub fn not_found(resource: &str, name: &str) -> Response<Body> {
    failure(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        Some(json!({"name": name, "kind": resource})),
    )
}

pub fn bad_request(message: &str) -> Response<Body> {
    failure(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}
