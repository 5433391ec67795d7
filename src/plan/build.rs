//! Building the plans of one run in one place: pod identities (uid, generated names), the
//! ConfigMaps and Secrets each pod sees, and what the command line overrides.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use sha2::{Digest, Sha256};

use super::PodPlan;

/// The objects of a run, as the manifests held them.
#[derive(Default)]
pub struct Source {
    /// Each pod with the directory its relative image paths resolve against.
    pub pods: Vec<(Pod, PathBuf)>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
}

/// What the command line changes in every pod.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    /// `--grace-period`: every pod's terminationGracePeriodSeconds, as `kubectl delete` overrides it.
    pub grace_period: Option<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("two pods are named {0}: pod names must be unique in one run")]
    DuplicateName(String),
    #[error("the manifest holds no pod")]
    NoPod,
}

/// The plans of every pod in `source`, in manifest order. Objects may come from any of the files,
/// before or after the pods that use them.
pub fn build(source: &Source, overrides: Overrides) -> Result<Vec<PodPlan>, PlanError> {
    let plans: Vec<PodPlan> = source
        .pods
        .iter()
        .map(|(pod, dir)| {
            let mut pod = pod.clone();
            super::service_account::inject(&mut pod, false);
            let mut plan = PodPlan::from_pod(&pod, &new_uid(&pod), dir.clone())
                .with_objects(&source.config_maps, &source.secrets);
            if let Some(g) = overrides.grace_period {
                plan.grace_period = g;
            }
            plan
        })
        .collect();
    let mut names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(PlanError::DuplicateName(w[0].to_string()));
    }
    if plans.is_empty() {
        return Err(PlanError::NoPod);
    }
    Ok(plans)
}

/// A random-looking UUID (version 4 layout), as the API server assigns to every object.
pub fn new_uid(pod: &Pod) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .to_le_bytes(),
    );
    h.update(pod.metadata.name.as_deref().unwrap_or_default());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> (Pod, PathBuf) {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        (p, ".".into())
    }

    #[test]
    fn uids_look_like_uuids() {
        let pod = Pod::default();
        let (a, b) = (new_uid(&pod), new_uid(&pod));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn names_are_unique_and_overrides_apply() {
        let source = Source {
            pods: vec![pod("a"), pod("b")],
            ..Source::default()
        };
        let grace = Duration::from_secs(3);
        let plans = build(
            &source,
            Overrides {
                grace_period: Some(grace),
            },
        )
        .expect("plans");
        assert!(plans.iter().all(|p| p.grace_period == grace));
        let twice = Source {
            pods: vec![pod("a"), pod("a")],
            ..Source::default()
        };
        assert_eq!(
            build(&twice, Overrides::default()).err(),
            Some(PlanError::DuplicateName("a".into()))
        );
        assert_eq!(
            build(&Source::default(), Overrides::default()).err(),
            Some(PlanError::NoPod)
        );
    }
}
