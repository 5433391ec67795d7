//! A container's security settings as the kubelet resolves them from the pod's and the container's
//! `securityContext` (container fields win, pod fields are the defaults): CRI's
//! LinuxContainerSecurityContext, without Kubernetes types. Each backend applies what exists for it.

/// The seccomp profile a container runs under.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// The container runtime's default profile (containerd's and Docker's). wpod's default for a
    /// pod that names none, as the kubelet's `--seccomp-default` makes it.
    #[default]
    RuntimeDefault,
    /// No filter at all.
    Unconfined,
    /// A profile file on the node (`localhostProfile`): wpod loads none, so the container is
    /// refused as a runtime refuses a profile it cannot find.
    Localhost(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// Every capability, no seccomp filter, no masked or read-only /proc paths.
    pub privileged: bool,
    /// `capabilities.add` and `.drop`, upper case without a `CAP_` prefix (`ALL` as written).
    pub add_caps: Vec<String>,
    pub drop_caps: Vec<String>,
    /// `allowPrivilegeEscalation: false`: the process gets no_new_privs.
    pub no_new_privs: bool,
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    /// The pod's `supplementalGroups`.
    pub supplemental_groups: Vec<u32>,
    /// `readOnlyRootFilesystem`: the container's root is read-only; its volumes keep their mode.
    pub read_only_root: bool,
    pub seccomp: Seccomp,
}

impl Security {
    /// A capability name as Kubernetes writes it (`NET_ADMIN`), normalised: upper case, without
    /// the `CAP_` prefix CRI adds.
    pub fn cap_name(name: &str) -> String {
        let upper = name.trim().to_ascii_uppercase();
        upper
            .strip_prefix("CAP_")
            .map(str::to_string)
            .unwrap_or(upper)
    }

    /// Why a container runtime would refuse to create the container (CreateContainerError): a
    /// capability name it does not know (the apiserver accepts any string), a Localhost seccomp
    /// profile. The same on both backends, so a manifest fails the same way on each.
    pub fn refusal(&self) -> Option<String> {
        let unknown = self
            .add_caps
            .iter()
            .chain(&self.drop_caps)
            .find(|n| *n != "ALL" && Cap::named(n).is_none());
        if let Some(name) = unknown {
            return Some(format!(
                "unknown capability \"CAP_{name}\" in securityContext.capabilities (capability names are as in capabilities(7), with or without CAP_, or ALL)"
            ));
        }
        if let Seccomp::Localhost(profile) = &self.seccomp {
            return Some(format!(
                "seccomp profile Localhost {profile:?} cannot be loaded: wpod loads no profile files (use seccompProfile.type RuntimeDefault or Unconfined)"
            ));
        }
        None
    }
}

/// Linux capabilities by number (linux/capability.h), named as Kubernetes writes them.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cap {
    CHOWN = 0,
    DAC_OVERRIDE,
    DAC_READ_SEARCH,
    FOWNER,
    FSETID,
    KILL,
    SETGID,
    SETUID,
    SETPCAP,
    LINUX_IMMUTABLE,
    NET_BIND_SERVICE,
    NET_BROADCAST,
    NET_ADMIN,
    NET_RAW,
    IPC_LOCK,
    IPC_OWNER,
    SYS_MODULE,
    SYS_RAWIO,
    SYS_CHROOT,
    SYS_PTRACE,
    SYS_PACCT,
    SYS_ADMIN,
    SYS_BOOT,
    SYS_NICE,
    SYS_RESOURCE,
    SYS_TIME,
    SYS_TTY_CONFIG,
    MKNOD,
    LEASE,
    AUDIT_WRITE,
    AUDIT_CONTROL,
    SETFCAP,
    MAC_OVERRIDE,
    MAC_ADMIN,
    SYSLOG,
    WAKE_ALARM,
    BLOCK_SUSPEND,
    AUDIT_READ,
    PERFMON,
    BPF,
    CHECKPOINT_RESTORE,
}

impl Cap {
    pub const ALL: &[Cap] = &[
        Cap::CHOWN,
        Cap::DAC_OVERRIDE,
        Cap::DAC_READ_SEARCH,
        Cap::FOWNER,
        Cap::FSETID,
        Cap::KILL,
        Cap::SETGID,
        Cap::SETUID,
        Cap::SETPCAP,
        Cap::LINUX_IMMUTABLE,
        Cap::NET_BIND_SERVICE,
        Cap::NET_BROADCAST,
        Cap::NET_ADMIN,
        Cap::NET_RAW,
        Cap::IPC_LOCK,
        Cap::IPC_OWNER,
        Cap::SYS_MODULE,
        Cap::SYS_RAWIO,
        Cap::SYS_CHROOT,
        Cap::SYS_PTRACE,
        Cap::SYS_PACCT,
        Cap::SYS_ADMIN,
        Cap::SYS_BOOT,
        Cap::SYS_NICE,
        Cap::SYS_RESOURCE,
        Cap::SYS_TIME,
        Cap::SYS_TTY_CONFIG,
        Cap::MKNOD,
        Cap::LEASE,
        Cap::AUDIT_WRITE,
        Cap::AUDIT_CONTROL,
        Cap::SETFCAP,
        Cap::MAC_OVERRIDE,
        Cap::MAC_ADMIN,
        Cap::SYSLOG,
        Cap::WAKE_ALARM,
        Cap::BLOCK_SUSPEND,
        Cap::AUDIT_READ,
        Cap::PERFMON,
        Cap::BPF,
        Cap::CHECKPOINT_RESTORE,
    ];

    /// The capability a normalised name (see `Security::cap_name`) stands for.
    pub fn named(name: &str) -> Option<Cap> {
        Cap::ALL.iter().copied().find(|c| format!("{c:?}") == name)
    }

    pub fn bit(self) -> u64 {
        1 << self as u64
    }
}
