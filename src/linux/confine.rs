//! Confinement of a Linux container's process, as containerd's defaults and runc apply them:
//! the default capability set (bounding, effective and permitted; nothing inheritable or ambient),
//! the runtime-default seccomp profile, no_new_privs for `allowPrivilegeEscalation: false`, the
//! container's user and groups, runc's masked and read-only /proc and /sys paths, and a read-only
//! root for `readOnlyRootFilesystem`.
//!
//! `resolve` runs in wpod (it only computes); `finish_root` and `enter` run in the container
//! process (and `enter` in an exec's command too), single-threaded, right before exec, in runc's
//! order (standard_init_linux.go, finalizeNamespace).

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::seccomp;
use super::sys;
use crate::runtime::{Cap, Seccomp, Security};

/// containerd's default set (pkg/oci/spec.go defaultUnixCaps): CapEff `00000000a80425fb`.
pub const DEFAULT_CAPS: u64 = {
    let caps = [
        Cap::CHOWN,
        Cap::DAC_OVERRIDE,
        Cap::FSETID,
        Cap::FOWNER,
        Cap::MKNOD,
        Cap::NET_RAW,
        Cap::SETGID,
        Cap::SETUID,
        Cap::SETFCAP,
        Cap::SETPCAP,
        Cap::NET_BIND_SERVICE,
        Cap::SYS_CHROOT,
        Cap::KILL,
        Cap::AUDIT_WRITE,
    ];
    let mut bits = 0;
    let mut i = 0;
    while i < caps.len() {
        bits |= 1 << caps[i] as u64;
        i += 1;
    }
    bits
};

/// runc's (and containerd's, pkg/oci/spec.go) masked paths: files get /dev/null over them,
/// directories an empty read-only tmpfs.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// Bound read-only over themselves.
const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What the container process does to itself before exec, decided by wpod.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Confinement {
    /// Capabilities kept in the bounding, effective and permitted sets (bit N = capability N).
    pub caps: u64,
    /// The kernel's highest capability number (`/proc/sys/kernel/cap_last_cap`).
    pub last_cap: u8,
    pub no_new_privs: bool,
    /// seccomp BPF programs, installed in order (packed, see seccomp::unpack); empty: unconfined.
    pub seccomp: Vec<Vec<u64>>,
    pub uid: u32,
    pub gid: u32,
    /// setgroups(2) to these; None where it is denied (a rootless user namespace).
    pub groups: Option<Vec<u32>>,
    /// Mask and make read-only runc's paths (all but privileged containers).
    pub mask_paths: bool,
    pub read_only_root: bool,
    /// In a user namespace of wpod's own: what the kernel refuses there is skipped.
    pub rootless: bool,
}

/// The highest capability number this kernel knows.
fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(Cap::CHECKPOINT_RESTORE as u8)
}

/// containerd's capability arithmetic (internal/cri/opts WithCapabilities): `add: [ALL]`, then
/// `drop: [ALL]`, then each named addition, then each named drop. Unknown names were refused
/// before (Security::refusal).
fn capabilities(s: &Security, all: u64) -> u64 {
    if s.privileged {
        return all;
    }
    let bits = |names: &[String]| -> u64 {
        names
            .iter()
            .filter_map(|n| Cap::named(n))
            .fold(0, |acc, c| acc | c.bit())
    };
    let mut caps = DEFAULT_CAPS;
    if s.add_caps.iter().any(|n| n == "ALL") {
        caps = all;
    }
    if s.drop_caps.iter().any(|n| n == "ALL") {
        caps = 0;
    }
    caps |= bits(&s.add_caps);
    caps &= !bits(&s.drop_caps);
    caps & all
}

/// Resolves a container's `securityContext` for this machine. The notes say what rootless mode
/// cannot do (they are printed, the container runs).
pub fn resolve(s: &Security, rootless: bool) -> Result<(Confinement, Vec<String>), String> {
    let last = last_cap();
    let all = if last >= 63 {
        u64::MAX
    } else {
        (1u64 << (last + 1)) - 1
    };
    if let Some(why) = s.refusal() {
        return Err(why);
    }
    let caps = capabilities(s, all);
    let mut notes = Vec::new();
    let seccomp = if s.privileged
        || matches!(s.seccomp, Seccomp::Unconfined | Seccomp::Localhost(_))
    {
        Vec::new()
    } else if seccomp::available() {
        seccomp::runtime_default(caps)?
    } else {
        notes.push(format!(
            "the runtime-default seccomp profile is not built for {}; the container runs without one",
            std::env::consts::ARCH
        ));
        Vec::new()
    };
    let (mut uid, mut gid) = (s.run_as_user.unwrap_or(0), s.run_as_group.unwrap_or(0));
    if rootless && (uid != 0 || gid != 0) {
        // The pod's user namespace maps only wpod's own user, as its root.
        notes.push(format!(
            "rootless: the user namespace maps only root, so runAsUser/runAsGroup ({uid}:{gid}) are not applied"
        ));
        (uid, gid) = (0, 0);
    }
    if rootless && !s.supplemental_groups.is_empty() {
        notes.push("rootless: setgroups is denied in the user namespace, so supplementalGroups are not applied".into());
    }
    Ok((
        Confinement {
            caps,
            last_cap: last,
            no_new_privs: s.no_new_privs,
            seccomp,
            uid,
            gid,
            groups: (!rootless).then(|| s.supplemental_groups.clone()),
            mask_paths: !s.privileged,
            read_only_root: s.read_only_root,
            rootless,
        },
        notes,
    ))
}

/// The mount flags of the file system at `path` that a bind remount must keep (the kernel
/// refuses to clear the locked ones in a user namespace).
fn kept_flags(path: &Path) -> io::Result<libc::c_ulong> {
    let c = sys::cpath(path)?;
    // SAFETY: statvfs writes into a zeroed struct of the right type.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut flags = 0;
    for (st_flag, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms;
        }
    }
    Ok(flags)
}

fn remount_read_only(path: &Path) -> io::Result<()> {
    let flags = kept_flags(path)?;
    sys::mount(
        None,
        path,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | flags,
        None,
    )
}

fn read_only_path(path: &Path) -> io::Result<()> {
    sys::mount(
        Some(&path.to_string_lossy()),
        path,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    remount_read_only(path)
}

fn mask_path(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        sys::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("size=0"),
        )
    } else {
        sys::bind(Path::new("/dev/null"), path, false)
    }
}

/// After pivot_root, in the container's mount namespace: runc's masked and read-only paths,
/// then the read-only root.
pub fn finish_root(c: &Confinement) -> io::Result<()> {
    if c.mask_paths {
        let paths = READ_ONLY
            .iter()
            .map(|p| (p, read_only_path as fn(&Path) -> io::Result<()>))
            .chain(MASKED.iter().map(|p| (p, mask_path as fn(&Path) -> _)));
        for (path, apply) in paths {
            let path = Path::new(path);
            if std::fs::symlink_metadata(path).is_err() {
                continue;
            }
            match apply(path) {
                Ok(()) => {}
                // What a user namespace does not allow is left as it is.
                Err(_) if c.rootless => {}
                Err(e) => return Err(e),
            }
        }
    }
    if c.read_only_root {
        remount_read_only(Path::new("/"))
            .map_err(|e| io::Error::new(e.kind(), format!("making the root read-only: {e}")))?;
    }
    Ok(())
}

fn prctl(what: &str, option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(option, arg, 0, 0, 0) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn install(program: &[u64]) -> io::Result<()> {
    let filter = seccomp::unpack(program);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: the kernel copies the program; `filter` outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("installing the seccomp filter: {e}"),
        ));
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

fn capget() -> io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a v3 header and two data structs, as the kernel expects.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data)
}

fn capset(caps: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (caps >> shift) as u32,
        permitted: (caps >> shift) as u32,
        inheritable: 0,
    };
    let data = [half(0), half(32)];
    // SAFETY: a v3 header and two data structs, as the kernel expects.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("capset: {e}")));
    }
    Ok(())
}

/// The last steps before exec, in runc's order: no_new_privs; the seccomp filter now if it needs
/// CAP_SYS_ADMIN to be installed (no no_new_privs), else last; the bounding set; the user (caps
/// kept across setuid); the final effective and permitted sets, nothing inheritable or ambient.
/// For a non-root user the kernel then empties effective and permitted at exec, as with runc.
pub fn enter(c: &Confinement) -> io::Result<()> {
    if c.no_new_privs {
        prctl("prctl(PR_SET_NO_NEW_PRIVS)", libc::PR_SET_NO_NEW_PRIVS, 1)?;
    } else {
        c.seccomp.iter().try_for_each(|p| install(p))?;
    }
    // What the process may hold at all (a user namespace's root, a restricted wpod).
    let held = capget()
        .map(|d| u64::from(d[0].permitted) | (u64::from(d[1].permitted) << 32))
        .unwrap_or(u64::MAX);
    let caps = c.caps & held;
    for cap in 0..=c.last_cap {
        if caps & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
            if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("dropping capability {cap} from the bounding set: {e}"),
                ));
            }
        }
    }
    prctl("prctl(PR_SET_KEEPCAPS)", libc::PR_SET_KEEPCAPS, 1)?;
    set_user(c)?;
    prctl("prctl(PR_SET_KEEPCAPS)", libc::PR_SET_KEEPCAPS, 0)?;
    capset(caps)?;
    // EINVAL: a kernel without ambient capabilities has none to clear.
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // A change of credentials clears the parent-death signal: the helper's death must still
    // take the container with it.
    sys::set_pdeathsig(libc::SIGKILL)?;
    if c.no_new_privs {
        c.seccomp.iter().try_for_each(|p| install(p))?;
    }
    Ok(())
}

fn set_user(c: &Confinement) -> io::Result<()> {
    let fail = |what: String| {
        let e = io::Error::last_os_error();
        io::Error::new(e.kind(), format!("{what}: {e}"))
    };
    // SAFETY: plain system calls on integers and a live slice.
    unsafe {
        if let Some(groups) = &c.groups
            && libc::setgroups(groups.len(), groups.as_ptr()) != 0
        {
            return Err(fail(format!("setgroups({groups:?})")));
        }
        if libc::setresgid(c.gid, c.gid, c.gid) != 0 {
            return Err(fail(format!("setting the group to {}", c.gid)));
        }
        if libc::setresuid(c.uid, c.uid, c.uid) != 0 {
            return Err(fail(format!("setting the user to {}", c.uid)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(add: &[&str], drop: &[&str]) -> Security {
        Security {
            add_caps: add.iter().map(|s| s.to_string()).collect(),
            drop_caps: drop.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn capability_arithmetic_is_containerds() {
        let all = (1u64 << 41) - 1;
        assert_eq!(DEFAULT_CAPS, 0xa80425fb);
        assert_eq!(capabilities(&sec(&[], &[]), all), 0xa80425fb);
        assert_eq!(capabilities(&sec(&[], &["ALL"]), all), 0);
        assert_eq!(
            capabilities(&sec(&["NET_ADMIN"], &["ALL"]), all),
            Cap::NET_ADMIN.bit()
        );
        assert_eq!(
            capabilities(&sec(&["ALL"], &["CHOWN"]), all),
            all & !Cap::CHOWN.bit()
        );
        assert_eq!(
            capabilities(&sec(&[], &["NET_RAW"]), all),
            0xa80425fb & !Cap::NET_RAW.bit()
        );
        let privileged = Security {
            privileged: true,
            ..sec(&[], &["ALL"])
        };
        assert_eq!(capabilities(&privileged, all), all);
    }

    #[test]
    fn unknown_capabilities_and_profile_files_are_refused() {
        assert!(resolve(&sec(&["NOT_A_CAP"], &[]), false).is_err());
        assert!(resolve(&sec(&[], &["NOT_A_CAP"]), false).is_err());
        let localhost = Security {
            seccomp: Seccomp::Localhost("profiles/audit.json".into()),
            ..Default::default()
        };
        let why = resolve(&localhost, false).expect_err("refused");
        assert!(why.contains("profiles/audit.json"), "{why}");
    }
}
