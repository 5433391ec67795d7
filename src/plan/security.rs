//! A container's effective security settings, merged from its own and the pod's securityContext.

use k8s_openapi::api::core::v1::{Container, PodSecurityContext};

use crate::runtime::{Seccomp, Security};

/// A container's security settings: its own `securityContext`, the pod's for the fields a pod may
/// set (as the kubelet's DetermineEffectiveSecurityContext merges them). Ids validation let through
/// out of range are left unset.
pub(super) fn security(pod: Option<&PodSecurityContext>, c: &Container) -> Security {
    let own = c.security_context.as_ref();
    let id = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    let seccomp = own
        .and_then(|s| s.seccomp_profile.as_ref())
        .or_else(|| pod?.seccomp_profile.as_ref())
        .map(|p| match p.type_.as_str() {
            "Unconfined" => Seccomp::Unconfined,
            "Localhost" => Seccomp::Localhost(p.localhost_profile.clone().unwrap_or_default()),
            _ => Seccomp::RuntimeDefault,
        })
        .unwrap_or_default();
    let caps = own.and_then(|s| s.capabilities.as_ref());
    let names = |l: Option<&Vec<String>>| {
        l.into_iter()
            .flatten()
            .map(|n| Security::cap_name(n))
            .collect()
    };
    Security {
        privileged: own.and_then(|s| s.privileged).unwrap_or(false),
        add_caps: names(caps.and_then(|c| c.add.as_ref())),
        drop_caps: names(caps.and_then(|c| c.drop.as_ref())),
        no_new_privs: own.and_then(|s| s.allow_privilege_escalation) == Some(false),
        run_as_user: id(own.and_then(|s| s.run_as_user).or_else(|| pod?.run_as_user)),
        run_as_group: id(own
            .and_then(|s| s.run_as_group)
            .or_else(|| pod?.run_as_group)),
        supplemental_groups: pod
            .and_then(|p| p.supplemental_groups.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|g| u32::try_from(*g).ok())
            .collect(),
        read_only_root: own.and_then(|s| s.read_only_root_filesystem) == Some(true),
        seccomp,
    }
}
