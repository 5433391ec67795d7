//! The kubelet's image manager (pkg/kubelet/images): the pull policy decides whether the registry
//! is asked for a container's image before the runtime takes it from the store. Built-in images
//! and `.wasm` files are on every node and never pulled.

use std::time::Instant;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;

use super::actions::Key;
use super::events::EventType;
use super::worker::PodWorker;
use crate::images::registry::{self, Access};
use crate::images::store::{Store, normalize};
use crate::plan::PodPlan;
use crate::runtime::ImagePresence;

/// Registries spoken to over plain HTTP, for every pod of this process (`--insecure-registry`).
static INSECURE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

pub fn set_insecure_registries(hosts: Vec<String>) {
    let _ = INSECURE.set(hosts);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Always,
    IfNotPresent,
    Never,
}

/// The policy a container's image is pulled by, as the API server defaults it.
pub fn policy_name(given: Option<&str>, image: &str) -> &'static str {
    match policy(given, image) {
        Policy::Always => "Always",
        Policy::IfNotPresent => "IfNotPresent",
        Policy::Never => "Never",
    }
}

/// The API server's default: Always for `:latest` or no tag (and no digest), else IfNotPresent.
fn policy(given: Option<&str>, image: &str) -> Policy {
    match given {
        Some("Always") => Policy::Always,
        Some("Never") => Policy::Never,
        Some("IfNotPresent") => Policy::IfNotPresent,
        _ => match normalize(image) {
            Ok(r) if r.digest().is_none() && r.tag().is_none_or(|t| t == "latest") => {
                Policy::Always
            }
            _ => Policy::IfNotPresent,
        },
    }
}

/// Credentials from the pod's imagePullSecrets (`kubernetes.io/dockerconfigjson`, or the older
/// `kubernetes.io/dockercfg`), by registry host.
fn credentials(plan: &PodPlan) -> Vec<(String, String, String)> {
    let names = plan
        .manifest
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for name in names.iter().map(|r| r.name.as_str()) {
        if let Some(secret) = plan.secret(name) {
            out.extend(docker_config(secret));
        }
    }
    out
}

fn docker_config(secret: &Secret) -> Vec<(String, String, String)> {
    let data = secret.data.clone().unwrap_or_default();
    let string_data = secret.string_data.clone().unwrap_or_default();
    let raw = [".dockerconfigjson", ".dockercfg"].iter().find_map(|k| {
        data.get(*k)
            .map(|b| b.0.clone())
            .or_else(|| string_data.get(*k).map(|s| s.clone().into_bytes()))
    });
    let Some(json) = raw.and_then(|r| serde_json::from_slice::<serde_json::Value>(&r).ok()) else {
        return Vec::new();
    };
    let auths = json.get("auths").unwrap_or(&json);
    let Some(auths) = auths.as_object() else {
        return Vec::new();
    };
    auths
        .iter()
        .filter_map(|(host, entry)| {
            let host = host
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()?
                .to_string();
            let user = entry.get("username").and_then(|v| v.as_str());
            let password = entry.get("password").and_then(|v| v.as_str());
            match (user, password) {
                (Some(u), Some(p)) => Some((host, u.to_string(), p.to_string())),
                _ => {
                    let auth = entry.get("auth")?.as_str()?;
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth)
                        .ok()?;
                    let (u, p) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
                    Some((host, u.to_string(), p.to_string()))
                }
            }
        })
        .collect()
}

/// Why a container's image could not be made present: the reason its waiting state shows.
pub struct PullFailed {
    pub reason: &'static str,
    pub message: String,
}

impl PodWorker {
    /// EnsureImageExists: asks the registry when the policy says so; Some(message) for the
    /// `Pulled` event of an image it pulled.
    pub(super) async fn ensure_image(&mut self, key: Key) -> Result<Option<String>, PullFailed> {
        let (name, image, given) = {
            let plan = &self.slot(key).plan;
            (
                plan.name.clone(),
                plan.image.clone(),
                plan.source.image_pull_policy.clone(),
            )
        };
        let present = match self.runtime.image_status(&image).await {
            ImagePresence::Pinned => return Ok(None),
            ImagePresence::Present => true,
            ImagePresence::Absent => false,
        };
        match (policy(given.as_deref(), &image), present) {
            (Policy::Never, true) | (Policy::IfNotPresent, true) => return Ok(None),
            (Policy::Never, false) => {
                return Err(PullFailed {
                    reason: "ErrImageNeverPull",
                    message: format!(
                        "Container image \"{image}\" is not present with pull policy of Never"
                    ),
                });
            }
            _ => {}
        }
        let reference = normalize(&image).map_err(|e| PullFailed {
            reason: "InvalidImageName",
            message: e,
        })?;
        self.event(
            EventType::Normal,
            "Pulling",
            Some(&name),
            format!("Pulling image \"{image}\""),
        );
        let access = Access {
            insecure: INSECURE.get().cloned().unwrap_or_default(),
            credentials: credentials(&self.plan),
        };
        let started = Instant::now();
        let store = Store::open(Store::default_dir()).map_err(|e| PullFailed {
            reason: "ErrImagePull",
            message: e,
        })?;
        match registry::pull(&store, &reference, &access).await {
            Ok(digest) => Ok(Some(format!(
                "Successfully pulled image \"{image}\" ({digest}) in {:.3}s",
                started.elapsed().as_secs_f64()
            ))),
            Err(e) => {
                let hint = if present {
                    " (the image is in wpod's image store, but its pull policy, Always, asks \
                     the registry: the default for :latest and untagged images; set \
                     imagePullPolicy: IfNotPresent to use the stored one)"
                        .to_string()
                } else {
                    format!("; {}", crate::images::available())
                };
                Err(PullFailed {
                    reason: "ErrImagePull",
                    message: format!("Failed to pull image \"{image}\": {e}{hint}"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_api_servers() {
        assert_eq!(policy(None, "app"), Policy::Always);
        assert_eq!(policy(None, "app:latest"), Policy::Always);
        assert_eq!(policy(None, "app:1.2"), Policy::IfNotPresent);
        let digest = format!("app@sha256:{}", "a".repeat(64));
        assert_eq!(policy(None, &digest), Policy::IfNotPresent);
        assert_eq!(policy(Some("Never"), "app"), Policy::Never);
        assert_eq!(policy(Some("IfNotPresent"), "app"), Policy::IfNotPresent);
    }

    #[test]
    fn pull_secrets_give_credentials_by_host() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "regcred"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": serde_json::json!({"auths": {
                "https://registry.example:5000/v2/": {"username": "ann", "password": "pw"},
                "other.example": {"auth": "Ym9iOnNlY3JldA=="},
            }}).to_string()},
        }))
        .expect("a secret");
        let mut got = docker_config(&secret);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("other.example".into(), "bob".into(), "secret".into()),
                ("registry.example:5000".into(), "ann".into(), "pw".into()),
            ]
        );
    }
}
