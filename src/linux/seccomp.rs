//! The runtime-default seccomp profile, as containerd ships it (contrib/seccomp/seccomp_default.go;
//! Docker's is the same list), expressed as data and compiled to BPF with seccompiler: an allow
//! list whose default answer is EPERM, plus its argument-conditioned rules (no AF_VSOCK sockets,
//! personality, clone without namespace flags) and the syscalls it adds for capabilities the
//! container keeps. Built in wpod's process; the helpers only install the finished programs.
//!
//! Differences from containerd's, both forced by seccompiler building one architecture's filter:
//! only the native (x86_64) system call table is allowed, so 32-bit (`int 0x80`) and x32 calls are
//! refused with EPERM instead of being matched against the same names; and the kernel-version
//! gate on ptrace/process_vm_* (4.8) is taken as met, as on every kernel wpod supports.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::runtime::Cap;

/// A system call by number (libc's table for this architecture).
type Nr = libc::c_long;

/// containerd's unconditional allow list, every name of it that exists on this architecture.
#[cfg(target_arch = "x86_64")]
const ALLOW: &[Nr] = {
    use libc::*;
    &[
        SYS_accept,
        SYS_accept4,
        SYS_access,
        SYS_adjtimex,
        SYS_alarm,
        SYS_bind,
        SYS_brk,
        SYS_capget,
        SYS_capset,
        SYS_chdir,
        SYS_chmod,
        SYS_chown,
        SYS_clock_adjtime,
        SYS_clock_getres,
        SYS_clock_gettime,
        SYS_clock_nanosleep,
        SYS_close,
        SYS_close_range,
        SYS_connect,
        SYS_copy_file_range,
        SYS_creat,
        SYS_dup,
        SYS_dup2,
        SYS_dup3,
        SYS_epoll_create,
        SYS_epoll_create1,
        SYS_epoll_ctl,
        SYS_epoll_ctl_old,
        SYS_epoll_pwait,
        SYS_epoll_pwait2,
        SYS_epoll_wait,
        SYS_epoll_wait_old,
        SYS_eventfd,
        SYS_eventfd2,
        SYS_execve,
        SYS_execveat,
        SYS_exit,
        SYS_exit_group,
        SYS_faccessat,
        SYS_faccessat2,
        SYS_fadvise64,
        SYS_fallocate,
        SYS_fanotify_mark,
        SYS_fchdir,
        SYS_fchmod,
        SYS_fchmodat,
        SYS_fchmodat2,
        SYS_fchown,
        SYS_fchownat,
        SYS_fcntl,
        SYS_fdatasync,
        SYS_fgetxattr,
        SYS_flistxattr,
        SYS_flock,
        SYS_fork,
        SYS_fremovexattr,
        SYS_fsetxattr,
        SYS_fstat,
        SYS_fstatfs,
        SYS_fsync,
        SYS_ftruncate,
        SYS_futex,
        SYS_futex_waitv,
        SYS_futimesat,
        SYS_getcpu,
        SYS_getcwd,
        SYS_getdents,
        SYS_getdents64,
        SYS_getegid,
        SYS_geteuid,
        SYS_getgid,
        SYS_getgroups,
        SYS_getitimer,
        SYS_getpeername,
        SYS_getpgid,
        SYS_getpgrp,
        SYS_getpid,
        SYS_getppid,
        SYS_getpriority,
        SYS_getrandom,
        SYS_getresgid,
        SYS_getresuid,
        SYS_getrlimit,
        SYS_get_robust_list,
        SYS_getrusage,
        SYS_getsid,
        SYS_getsockname,
        SYS_getsockopt,
        SYS_get_thread_area,
        SYS_gettid,
        SYS_gettimeofday,
        SYS_getuid,
        SYS_getxattr,
        SYS_inotify_add_watch,
        SYS_inotify_init,
        SYS_inotify_init1,
        SYS_inotify_rm_watch,
        SYS_io_cancel,
        SYS_ioctl,
        SYS_io_destroy,
        SYS_io_getevents,
        SYS_ioprio_get,
        SYS_ioprio_set,
        SYS_io_setup,
        SYS_io_submit,
        SYS_kill,
        SYS_landlock_add_rule,
        SYS_landlock_create_ruleset,
        SYS_landlock_restrict_self,
        SYS_lchown,
        SYS_lgetxattr,
        SYS_link,
        SYS_linkat,
        SYS_listen,
        SYS_listxattr,
        SYS_llistxattr,
        SYS_lremovexattr,
        SYS_lseek,
        SYS_lsetxattr,
        SYS_lstat,
        SYS_madvise,
        SYS_membarrier,
        SYS_memfd_create,
        SYS_memfd_secret,
        SYS_mincore,
        SYS_mkdir,
        SYS_mkdirat,
        SYS_mknod,
        SYS_mknodat,
        SYS_mlock,
        SYS_mlock2,
        SYS_mlockall,
        SYS_mmap,
        SYS_mprotect,
        SYS_mq_getsetattr,
        SYS_mq_notify,
        SYS_mq_open,
        SYS_mq_timedreceive,
        SYS_mq_timedsend,
        SYS_mq_unlink,
        SYS_mremap,
        SYS_mseal,
        SYS_msgctl,
        SYS_msgget,
        SYS_msgrcv,
        SYS_msgsnd,
        SYS_msync,
        SYS_munlock,
        SYS_munlockall,
        SYS_munmap,
        SYS_name_to_handle_at,
        SYS_nanosleep,
        SYS_newfstatat,
        SYS_open,
        SYS_openat,
        SYS_openat2,
        SYS_pause,
        SYS_pidfd_open,
        SYS_pidfd_send_signal,
        SYS_pipe,
        SYS_pipe2,
        SYS_pkey_alloc,
        SYS_pkey_free,
        SYS_pkey_mprotect,
        SYS_poll,
        SYS_ppoll,
        SYS_prctl,
        SYS_pread64,
        SYS_preadv,
        SYS_preadv2,
        SYS_prlimit64,
        SYS_process_mrelease,
        SYS_pselect6,
        SYS_pwrite64,
        SYS_pwritev,
        SYS_pwritev2,
        SYS_read,
        SYS_readahead,
        SYS_readlink,
        SYS_readlinkat,
        SYS_readv,
        SYS_recvfrom,
        SYS_recvmmsg,
        SYS_recvmsg,
        SYS_remap_file_pages,
        SYS_removexattr,
        SYS_rename,
        SYS_renameat,
        SYS_renameat2,
        SYS_restart_syscall,
        SYS_rmdir,
        SYS_rseq,
        SYS_rt_sigaction,
        SYS_rt_sigpending,
        SYS_rt_sigprocmask,
        SYS_rt_sigqueueinfo,
        SYS_rt_sigreturn,
        SYS_rt_sigsuspend,
        SYS_rt_sigtimedwait,
        SYS_rt_tgsigqueueinfo,
        SYS_sched_getaffinity,
        SYS_sched_getattr,
        SYS_sched_getparam,
        SYS_sched_get_priority_max,
        SYS_sched_get_priority_min,
        SYS_sched_getscheduler,
        SYS_sched_rr_get_interval,
        SYS_sched_setaffinity,
        SYS_sched_setattr,
        SYS_sched_setparam,
        SYS_sched_setscheduler,
        SYS_sched_yield,
        SYS_seccomp,
        SYS_select,
        SYS_semctl,
        SYS_semget,
        SYS_semop,
        SYS_semtimedop,
        SYS_sendfile,
        SYS_sendmmsg,
        SYS_sendmsg,
        SYS_sendto,
        SYS_setfsgid,
        SYS_setfsuid,
        SYS_setgid,
        SYS_setgroups,
        SYS_setitimer,
        SYS_setpgid,
        SYS_setpriority,
        SYS_setregid,
        SYS_setresgid,
        SYS_setresuid,
        SYS_setreuid,
        SYS_setrlimit,
        SYS_set_robust_list,
        SYS_setsid,
        SYS_setsockopt,
        SYS_set_thread_area,
        SYS_set_tid_address,
        SYS_setuid,
        SYS_setxattr,
        SYS_shmat,
        SYS_shmctl,
        SYS_shmdt,
        SYS_shmget,
        SYS_shutdown,
        SYS_sigaltstack,
        SYS_signalfd,
        SYS_signalfd4,
        SYS_socketpair,
        SYS_splice,
        SYS_stat,
        SYS_statfs,
        SYS_statx,
        SYS_symlink,
        SYS_symlinkat,
        SYS_sync,
        SYS_sync_file_range,
        SYS_syncfs,
        SYS_sysinfo,
        SYS_tee,
        SYS_tgkill,
        SYS_time,
        SYS_timer_create,
        SYS_timer_delete,
        SYS_timer_getoverrun,
        SYS_timer_gettime,
        SYS_timer_settime,
        SYS_timerfd_create,
        SYS_timerfd_gettime,
        SYS_timerfd_settime,
        SYS_times,
        SYS_tkill,
        SYS_truncate,
        SYS_umask,
        SYS_uname,
        SYS_unlink,
        SYS_unlinkat,
        SYS_utime,
        SYS_utimensat,
        SYS_utimes,
        SYS_vfork,
        SYS_vmsplice,
        SYS_wait4,
        SYS_waitid,
        SYS_write,
        SYS_writev, // Only on x86 (containerd's "include by arch").
        SYS_arch_prctl,
        SYS_modify_ldt,
        // containerd's kernel >= 4.8 additions.
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_ptrace,
        // Newer than libc's table; numbers are the same on every architecture since Linux 5.1.
        451, // cachestat
        453, // map_shadow_stack
        454, // futex_wake
        455, // futex_wait
        456, // futex_requeue
        457, // statmount
        458, // listmount
        459, // lsm_get_self_attr
        460, // lsm_set_self_attr
        461, // lsm_list_modules
        463, // setxattrat
        464, // getxattrat
        465, // listxattrat
        466, // removexattrat
        333, // io_pgetevents (x86_64)
        335, // uretprobe (x86_64)
    ]
};

#[cfg(not(target_arch = "x86_64"))]
const ALLOW: &[Nr] = &[];

/// Whether this architecture has the profile (x86_64 only, for now).
pub fn available() -> bool {
    !ALLOW.is_empty()
}

/// System calls the profile allows only while the container keeps a capability.
fn for_capability(cap: Cap) -> &'static [Nr] {
    use libc::*;
    match cap {
        Cap::DAC_READ_SEARCH => &[SYS_open_by_handle_at],
        Cap::SYS_ADMIN => &[
            SYS_bpf,
            SYS_clone,
            SYS_clone3,
            SYS_fanotify_init,
            SYS_fsconfig,
            SYS_fsmount,
            SYS_fsopen,
            SYS_fspick,
            SYS_lookup_dcookie,
            SYS_mount,
            SYS_mount_setattr,
            SYS_move_mount,
            SYS_open_tree,
            SYS_perf_event_open,
            SYS_quotactl,
            SYS_quotactl_fd,
            SYS_setdomainname,
            SYS_sethostname,
            SYS_setns,
            SYS_syslog,
            SYS_umount2,
            SYS_unshare,
        ],
        Cap::SYS_BOOT => &[SYS_reboot],
        Cap::SYS_CHROOT => &[SYS_chroot],
        Cap::SYS_MODULE => &[SYS_delete_module, SYS_init_module, SYS_finit_module],
        Cap::SYS_PACCT => &[SYS_acct],
        Cap::SYS_PTRACE => &[
            SYS_kcmp,
            SYS_pidfd_getfd,
            SYS_process_madvise,
            SYS_process_vm_readv,
            SYS_process_vm_writev,
            SYS_ptrace,
        ],
        Cap::SYS_RAWIO => &[SYS_iopl, SYS_ioperm],
        Cap::SYS_TIME => &[SYS_settimeofday, SYS_clock_settime],
        Cap::SYS_TTY_CONFIG => &[SYS_vhangup],
        Cap::SYS_NICE => &[
            SYS_get_mempolicy,
            SYS_mbind,
            SYS_set_mempolicy,
            SYS_set_mempolicy_home_node,
        ],
        Cap::SYSLOG => &[SYS_syslog],
        Cap::BPF => &[SYS_bpf],
        Cap::PERFMON => &[SYS_perf_event_open],
        _ => &[],
    }
}

/// Namespace flags a `clone` may not carry without CAP_SYS_ADMIN.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// personality(2) values the profile allows: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE and both,
/// and the query 0xffffffff.
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, String> {
    // Dword: the kernel reads these arguments as 32-bit ints, so must the filter, or high
    // garbage bits would pass a comparison the kernel then ignores.
    let len = match op {
        SeccompCmpOp::MaskedEq(_) => SeccompCmpArgLen::Qword,
        _ => SeccompCmpArgLen::Dword,
    };
    SeccompCondition::new(arg, len, op, value)
        .and_then(|c| SeccompRule::new(vec![c]))
        .map_err(|e| format!("building the seccomp profile: {e}"))
}

/// The profile for a container keeping the capabilities in `caps`: BPF programs to install in
/// this order. Instructions are packed into u64s (see `unpack`) to travel in the container spec.
pub fn runtime_default(caps: u64) -> Result<Vec<Vec<u64>>, String> {
    let has = |c: Cap| caps & (1 << c as u64) != 0;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut allow = |nr: Nr| {
        rules.insert(nr, Vec::new());
    };
    ALLOW.iter().copied().for_each(&mut allow);
    for cap in Cap::ALL {
        if has(*cap) {
            for_capability(*cap).iter().copied().for_each(&mut allow);
        }
    }
    let mut conditional = |nr: Nr, rule: SeccompRule| {
        // An unconditional allow (an empty rule list) already covers it.
        if let Some(list) = rules.get_mut(&(nr)) {
            if !list.is_empty() {
                list.push(rule);
            }
        } else {
            rules.insert(nr, vec![rule]);
        }
    };
    // socket(2) for every family but AF_VSOCK (the host's vsock), as two ranges.
    for op in [SeccompCmpOp::Lt, SeccompCmpOp::Gt] {
        conditional(libc::SYS_socket, condition(0, op, libc::AF_VSOCK as u64)?);
    }
    for p in PERSONALITIES {
        conditional(libc::SYS_personality, condition(0, SeccompCmpOp::Eq, *p)?);
    }
    let admin = has(Cap::SYS_ADMIN);
    if !admin {
        conditional(
            libc::SYS_clone,
            condition(0, SeccompCmpOp::MaskedEq(NAMESPACE_FLAGS), 0)?,
        );
    }
    let arch = TargetArch::x86_64;
    let build = |rules, mismatch, matched, foreign: u32| -> Result<Vec<u64>, String> {
        let filter = SeccompFilter::new(rules, mismatch, matched, arch)
            .map_err(|e| format!("building the seccomp profile: {e}"))?;
        let mut program: BpfProgram = filter
            .try_into()
            .map_err(|e| format!("compiling the seccomp profile: {e}"))?;
        // seccompiler kills a process making a call of another architecture (instruction 2 is
        // that verdict); this profile answers it as it answers any call it does not list.
        if let Some(verdict) = program.get_mut(2) {
            verdict.k = foreign;
        }
        Ok(program.iter().map(pack).collect())
    };
    let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let mut programs = vec![build(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        eperm,
    )?];
    if !admin {
        // clone3 answers ENOSYS, so that libc falls back to clone (whose flags the filter can
        // see). A second filter, installed last: among equal verdicts the newest filter's wins.
        let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
        programs.push(build(
            clone3,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            libc::SECCOMP_RET_ALLOW,
        )?);
    }
    Ok(programs)
}

fn pack(i: &seccompiler::sock_filter) -> u64 {
    (u64::from(i.code) << 48) | (u64::from(i.jt) << 40) | (u64::from(i.jf) << 32) | u64::from(i.k)
}

/// A packed program as the kernel takes it.
pub fn unpack(program: &[u64]) -> Vec<libc::sock_filter> {
    program
        .iter()
        .map(|x| libc::sock_filter {
            code: (x >> 48) as u16,
            jt: (x >> 40) as u8,
            jf: (x >> 32) as u8,
            k: *x as u32,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_compile_and_pack_losslessly() {
        let default = runtime_default(super::super::confine::DEFAULT_CAPS).expect("profile");
        assert_eq!(default.len(), 2, "clone3 gets its own ENOSYS filter");
        let all = runtime_default(u64::MAX >> 23).expect("profile");
        assert_eq!(all.len(), 1, "with CAP_SYS_ADMIN clone3 is allowed");
        for p in &default {
            let back: Vec<u64> = unpack(p)
                .iter()
                .map(|i| {
                    pack(&seccompiler::sock_filter {
                        code: i.code,
                        jt: i.jt,
                        jf: i.jf,
                        k: i.k,
                    })
                })
                .collect();
            assert_eq!(&back, p);
        }
    }
}
