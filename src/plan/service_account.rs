//! The ServiceAccount admission plugin's volume: every pod that does not opt out
//! (`automountServiceAccountToken: false`) gets a projected volume `kube-api-access-<5>` mounted
//! read-only at /var/run/secrets/kubernetes.io/serviceaccount in each of its containers. wpod
//! projects the `namespace` file (what the Kubernetes docs' examples read); the token and the
//! cluster's `ca.crt` are not there yet.

use k8s_openapi::api::core::v1::{
    DownwardAPIProjection, DownwardAPIVolumeFile, ObjectFieldSelector, Pod, ProjectedVolumeSource,
    Volume, VolumeMount, VolumeProjection,
};

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const PREFIX: &str = "kube-api-access-";

/// Adds the volume and its mounts, once: a pod that has it already (a stored pod admitted
/// again) is left as it is. True when it changed the pod.
pub fn inject(pod: &mut Pod) -> bool {
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
    spec.volumes.get_or_insert_default().push(Volume {
        name: volume.clone(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o644),
            sources: Some(vec![VolumeProjection {
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
            }]),
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
        inject(&mut p);
        inject(&mut p);
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
    fn a_pod_may_opt_out() {
        let mut p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "automountServiceAccountToken": false,
            "containers": [{"name": "a", "image": "busybox"}]}}));
        inject(&mut p);
        assert!(p.spec.expect("spec").volumes.is_none());
    }
}
