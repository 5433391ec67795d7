//! A container's environment as the kubelet builds it: envFrom first (in order, each source's keys
//! sorted, with its prefix), then env in order; `$(VAR)` expands in `env[].value` only, against
//! everything defined before it. A later definition of a name replaces an earlier one.

use k8s_openapi::api::core::v1::Container;

use super::downward::{self, PodFacts};
use crate::expand;
use crate::plan::PodPlan;

/// Resolves the env of `c`; an error is the message of a CreateContainerConfigError.
pub fn resolve(
    plan: &PodPlan,
    facts: &PodFacts,
    c: &Container,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        env.retain(|(n, _)| *n != k);
        env.push((k, v));
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match plan.config_map(&r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        set(&mut env, format!("{prefix}{k}"), v.clone());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match plan.secret(&r.name) {
                Some(s) => {
                    for (k, v) in s.data.iter().flatten() {
                        set(&mut env, format!("{prefix}{k}"), lossy(&v.0));
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        }
    }
    for var in c.env.iter().flatten() {
        let value = match &var.value_from {
            None => {
                let raw = var.value.clone().unwrap_or_default();
                expand::expand(&raw, |n| {
                    expand::lookup(&env, n).or_else(|| expand::lookup(&facts.service_env, n))
                })
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    downward::field(plan, facts, f)?
                } else if let Some(r) = &from.resource_field_ref {
                    downward::resource(plan, &c.name, r)?
                } else if let Some(r) = &from.config_map_key_ref {
                    let Some(cm) = plan.config_map(&r.name) else {
                        if r.optional == Some(true) {
                            continue;
                        }
                        return Err(format!("configmap {:?} not found", r.name));
                    };
                    match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => v.clone(),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {}/{}",
                                r.key, plan.namespace, r.name
                            ));
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let Some(s) = plan.secret(&r.name) else {
                        if r.optional == Some(true) {
                            continue;
                        }
                        return Err(format!("secret {:?} not found", r.name));
                    };
                    match s.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => lossy(&v.0),
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in Secret {}/{}",
                                r.key, plan.namespace, r.name
                            ));
                        }
                    }
                } else {
                    // fileKeyRef: not supported (a warning said so); the variable is not set.
                    continue;
                }
            }
        };
        set(&mut env, var.name.clone(), value);
    }
    // The Services' variables, where the container does not set its own (as the kubelet).
    for (k, v) in &facts.service_env {
        if !env.iter().any(|(n, _)| n == k) {
            env.push((k.clone(), v.clone()));
        }
    }
    Ok(env)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
