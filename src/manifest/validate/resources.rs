//! Checks for container resource requests and limits.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::Checker;
use crate::manifest::quantity::{parse_cpu_millis, parse_memory_bytes};

pub fn check(checker: &mut Checker<'_>, path: &str, r: &ResourceRequirements) {
    let limits = parsed(checker, &format!("{path}.limits"), r.limits.as_ref());
    let requests = parsed(checker, &format!("{path}.requests"), r.requests.as_ref());
    for (name, request, text) in &requests {
        let Some((_, limit, limit_text)) = limits.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        if ["cpu", "memory"].contains(&name.as_str()) && request > limit {
            checker.invalid(
                &format!("{path}.requests[{name}]"),
                text,
                &format!("must be less than or equal to {name} limit of {limit_text}"),
            );
        }
    }
}

/// Parses each quantity (CPU in millicores, everything else in whole units), reporting
/// the ones that do not parse.
fn parsed<'r>(
    checker: &mut Checker<'_>,
    path: &str,
    map: Option<&'r BTreeMap<String, Quantity>>,
) -> Vec<(&'r String, u64, &'r str)> {
    let mut out = Vec::new();
    for (name, Quantity(text)) in map.into_iter().flatten() {
        let value = if name == "cpu" {
            parse_cpu_millis(text)
        } else {
            parse_memory_bytes(text)
        };
        match value {
            Ok(value) => out.push((name, value, text.as_str())),
            Err(why) => checker.push(&format!("{path}[{name}]"), why, None),
        }
    }
    out
}
