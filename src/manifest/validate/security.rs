//! The API server's checks of the pod's and each container's `securityContext`: user and group
//! ids in range, seccomp profile types, and the combinations it forbids. Capability names are
//! not checked here: the API server takes any string and leaves them to the runtime.

use k8s_openapi::api::core::v1::{PodSecurityContext, SeccompProfile, SecurityContext};

use super::Checker;

/// The largest user or group id the API server accepts (Linux ids are 31-bit there).
const MAX_ID: i64 = i32::MAX as i64;

pub fn pod(checker: &mut Checker<'_>, path: &str, sc: &PodSecurityContext) {
    id(checker, &format!("{path}.runAsUser"), sc.run_as_user);
    id(checker, &format!("{path}.runAsGroup"), sc.run_as_group);
    id(checker, &format!("{path}.fsGroup"), sc.fs_group);
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        id(
            checker,
            &format!("{path}.supplementalGroups[{i}]"),
            Some(*g),
        );
    }
    if let Some(p) = &sc.seccomp_profile {
        seccomp(checker, &format!("{path}.seccompProfile"), p);
    }
}

pub fn container(checker: &mut Checker<'_>, path: &str, sc: &SecurityContext) {
    id(checker, &format!("{path}.runAsUser"), sc.run_as_user);
    id(checker, &format!("{path}.runAsGroup"), sc.run_as_group);
    if let Some(p) = &sc.seccomp_profile {
        seccomp(checker, &format!("{path}.seccompProfile"), p);
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            checker.push(
                path,
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true".into(),
                None,
            );
        }
        let adds_sys_admin = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|add| add.iter().any(|c| c == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            checker.push(
                path,
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"
                    .into(),
                None,
            );
        }
    }
}

fn id(checker: &mut Checker<'_>, path: &str, value: Option<i64>) {
    if let Some(v) = value
        && !(0..=MAX_ID).contains(&v)
    {
        checker.invalid(path, v, "must be between 0 and 2147483647, inclusive");
    }
}

fn seccomp(checker: &mut Checker<'_>, path: &str, p: &SeccompProfile) {
    let types = ["Localhost", "RuntimeDefault", "Unconfined"];
    if !types.contains(&p.type_.as_str()) {
        checker.unsupported(&format!("{path}.type"), &p.type_, &types);
    }
    match (p.type_.as_str(), p.localhost_profile.as_deref()) {
        ("Localhost", None | Some("")) => checker.required(
            &format!("{path}.localhostProfile"),
            "must be set when seccomp type is Localhost",
        ),
        ("Localhost", _) => {}
        (_, Some(profile)) => checker.invalid(
            &format!("{path}.localhostProfile"),
            profile,
            "can only be set when seccomp type is Localhost",
        ),
        (_, None) => {}
    }
}
