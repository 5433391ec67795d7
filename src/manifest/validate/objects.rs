//! The API server's validation of ConfigMaps and Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::{Checker, metadata_name};

/// Both kinds are limited to 1 MiB of data in total.
const MAX_BYTES: usize = 1024 * 1024;

pub fn config_map(checker: &mut Checker<'_>, cm: &ConfigMap) {
    metadata_name(checker, &cm.metadata);
    let mut total = 0;
    for (key, value) in cm.data.iter().flatten() {
        key_name(checker, "data", key);
        total += value.len();
    }
    for (key, value) in cm.binary_data.iter().flatten() {
        key_name(checker, "binaryData", key);
        if cm.data.as_ref().is_some_and(|d| d.contains_key(key)) {
            checker.invalid(
                &format!("binaryData[{key}]"),
                key,
                "duplicate of key present in data",
            );
        }
        total += value.0.len();
    }
    too_big(checker, "data", total);
}

pub fn secret(checker: &mut Checker<'_>, secret: &Secret) {
    metadata_name(checker, &secret.metadata);
    let mut total = 0;
    for (key, value) in secret.data.iter().flatten() {
        key_name(checker, "data", key);
        total += value.0.len();
    }
    let empty = BTreeMap::new();
    for (key, value) in secret.string_data.as_ref().unwrap_or(&empty) {
        key_name(checker, "stringData", key);
        if !secret.data.as_ref().is_some_and(|d| d.contains_key(key)) {
            total += value.len();
        }
    }
    if let Some(t) = &secret.type_
        && t.is_empty()
    {
        checker.required("type", "leave `type` out, or use `type: Opaque`");
    }
    too_big(checker, "data", total);
}

fn too_big(checker: &mut Checker<'_>, path: &str, total: usize) {
    if total > MAX_BYTES {
        checker.push(
            path,
            format!("too long: may not be more than {MAX_BYTES} bytes"),
            None,
        );
    }
}

/// Kubernetes' `IsConfigMapKey`, shared by ConfigMap and Secret keys.
pub fn config_key(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("a valid config key must not be empty".into());
    }
    if key.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    if key == "." || key == ".." || key.starts_with("..") {
        return Some("must not be '.' or '..' or start with '..'".into());
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Some("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    None
}

fn key_name(checker: &mut Checker<'_>, map: &str, key: &str) {
    if let Some(why) = config_key(key) {
        checker.push_key(
            &format!("{map}[{key}]"),
            format!("invalid key {key:?}: {why}"),
        );
    }
}
