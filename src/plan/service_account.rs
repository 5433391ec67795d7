//! The ServiceAccount admission plugin's volume: every pod that does not opt out
//! (`automountServiceAccountToken: false`) gets a projected volume `kube-api-access-<5>` mounted
//! read-only at /var/run/secrets/kubernetes.io/serviceaccount in each of its containers. With an
//! API server (`wpod serve`) it projects what upstream's does: a service account `token` the
//! server accepts, the cluster's `ca.crt` (from the `kube-root-ca.crt` ConfigMap every namespace
//! has) and the `namespace`. `wpod run` has no API server to issue tokens or sign certificates:
//! its pods get the `namespace` file only.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, Pod, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume,
    VolumeMount, VolumeProjection,
};

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const PREFIX: &str = "kube-api-access-";
/// The ConfigMap with the cluster's CA that the root-ca-cert-publisher puts in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The token lifetime the admission plugin asks for (an hour and 7 s, as upstream's).
const TOKEN_SECONDS: i64 = 3607;

/// What the kubelet asks the API server for (a TokenRequest) to fill a `serviceAccountToken`
/// projection.
pub struct TokenRequest<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub pod_uid: &'a str,
    pub service_account: &'a str,
    pub audience: Option<&'a str>,
    pub expiration: Duration,
}

/// The API server's TokenRequest: issues a token for a pod's service account.
pub trait TokenIssuer: Send + Sync {
    fn issue(&self, request: &TokenRequest<'_>) -> Result<Issued, String>;
}

/// A token and how long it is valid (its `exp` less its `iat`: longer than asked for when the
/// API server extends it).
pub struct Issued {
    pub token: String,
    pub lifetime: Duration,
}

/// The kubelet's token manager's rule: a token is fetched again once it is within 20% of the
/// lifetime asked for of its expiry, or a day old, whichever comes first.
pub fn refresh_after(asked: Duration, lifetime: Duration) -> Duration {
    const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
    lifetime.saturating_sub(asked / 5).min(MAX_AGE)
}

/// Adds the volume and its mounts, once: a pod that has it already (a stored pod admitted
/// again) is left as it is. `with_api`: the cluster has an API server (token and CA projected).
/// True when it changed the pod.
pub fn inject(pod: &mut Pod, with_api: bool) -> bool {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(spec) = pod.spec.as_mut() else {
        return false;
    };
    if spec.automount_service_account_token == Some(false)
        || spec
            .volumes
            .iter()
            .flatten()
            .any(|v| v.name.starts_with(PREFIX))
    {
        return false;
    }
    let volume = format!("{PREFIX}{}", suffix(&name));
    let mut sources = Vec::new();
    if with_api {
        sources.push(VolumeProjection {
            service_account_token: Some(ServiceAccountTokenProjection {
                path: "token".into(),
                expiration_seconds: Some(TOKEN_SECONDS),
                audience: None,
            }),
            ..Default::default()
        });
        sources.push(VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: ROOT_CA_CONFIG_MAP.into(),
                items: Some(vec![KeyToPath {
                    key: "ca.crt".into(),
                    path: "ca.crt".into(),
                    mode: None,
                }]),
                optional: None,
            }),
            ..Default::default()
        });
    }
    sources.push(VolumeProjection {
        downward_api: Some(DownwardAPIProjection {
            items: Some(vec![DownwardAPIVolumeFile {
                path: "namespace".into(),
                field_ref: Some(ObjectFieldSelector {
                    api_version: Some("v1".into()),
                    field_path: "metadata.namespace".into(),
                }),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    });
    spec.volumes.get_or_insert_default().push(Volume {
        name: volume.clone(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o644),
            sources: Some(sources),
        }),
        ..Default::default()
    });
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        let mounts = c.volume_mounts.get_or_insert_default();
        if !mounts
            .iter()
            .any(|m| m.mount_path.trim_end_matches('/') == MOUNT_PATH)
        {
            mounts.push(VolumeMount {
                name: volume.clone(),
                mount_path: MOUNT_PATH.into(),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }
    true
}

/// Five characters of the apiserver's generated-name alphabet, stable for a pod name, so that a
/// run shows the same volume name every time.
fn suffix(pod: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    for b in pod.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (0..5)
        .map(|i| ALPHABET[((h >> (i * 6)) as usize) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: serde_json::Value) -> Pod {
        serde_json::from_value(yaml).expect("pod")
    }

    #[test]
    fn every_container_gets_the_namespace_once() {
        let mut p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [{"name": "a", "image": "busybox"}]}}));
        inject(&mut p, false);
        inject(&mut p, false);
        let spec = p.spec.as_ref().expect("spec");
        let volumes = spec.volumes.as_ref().expect("volumes");
        assert_eq!(volumes.len(), 1);
        assert!(volumes[0].name.starts_with(PREFIX));
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            let mounts = c.volume_mounts.as_ref().expect("mounts");
            assert_eq!(mounts.len(), 1);
            assert_eq!(mounts[0].mount_path, MOUNT_PATH);
            assert_eq!(mounts[0].read_only, Some(true));
        }
    }

    #[test]
    fn with_an_api_server_the_token_and_ca_come_first() {
        let mut p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "a", "image": "busybox"}]}}));
        inject(&mut p, true);
        let volumes = p.spec.and_then(|s| s.volumes).expect("volumes");
        let sources = volumes[0]
            .projected
            .as_ref()
            .and_then(|p| p.sources.clone())
            .expect("sources");
        let token = sources[0].service_account_token.as_ref().expect("token");
        assert_eq!(
            (token.path.as_str(), token.expiration_seconds),
            ("token", Some(3607))
        );
        let ca = sources[1].config_map.as_ref().expect("ca");
        assert_eq!(ca.name, ROOT_CA_CONFIG_MAP);
        assert!(sources[2].downward_api.is_some());
    }

    #[test]
    fn a_pod_may_opt_out() {
        let mut p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "automountServiceAccountToken": false,
            "containers": [{"name": "a", "image": "busybox"}]}}));
        inject(&mut p, true);
        assert!(p.spec.expect("spec").volumes.is_none());
    }
}
