//! Per-container cgroups for `limits.memory` and `limits.cpu`: cgroup v2 where the controller is on
//! the unified hierarchy, else v1 (this machine kind has hybrid cgroups with memory on v1).
//! OOMKilled comes from the kernel's `oom_kill` counter of the container's memory cgroup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
/// CFS period for cpu limits, as the kubelet uses (100 ms).
const CFS_PERIOD_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Where a controller lives on this machine: its hierarchy's mount and version.
fn controller(name: &str) -> Option<(PathBuf, Version)> {
    for unified in [Path::new(ROOT), &Path::new(ROOT).join("unified")] {
        if let Ok(list) = fs::read_to_string(unified.join("cgroup.controllers"))
            && list.split_whitespace().any(|c| c == name)
        {
            return Some((unified.to_path_buf(), Version::V2));
        }
    }
    // v1 hierarchies are mounted per controller, sometimes joined (`cpu,cpuacct`).
    let v1 = Path::new(ROOT).join(name);
    if v1.join("tasks").exists() {
        return Some((v1, Version::V1));
    }
    fs::read_dir(ROOT).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.split(',').any(|c| c == name) && e.path().join("tasks").exists())
            .then(|| (e.path(), Version::V1))
    })
}

/// The cgroups of one container instance; removed by `remove`.
#[derive(Debug, Default)]
pub struct Cgroups {
    dirs: Vec<PathBuf>,
    memory: Option<(PathBuf, Version)>,
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value} to {}: {e}", path.display()),
        )
    })
}

/// Creates the directory, enabling the controller on the way down for v2.
fn make(base: &Path, version: Version, controller: &str, id: &str) -> io::Result<PathBuf> {
    let parent = base.join("wpod");
    fs::create_dir_all(&parent)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", parent.display())))?;
    if version == Version::V2 {
        write(
            &base.join("cgroup.subtree_control"),
            &format!("+{controller}"),
        )?;
        write(
            &parent.join("cgroup.subtree_control"),
            &format!("+{controller}"),
        )?;
    }
    let dir = parent.join(id);
    fs::create_dir_all(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

impl Cgroups {
    /// None when nothing is limited; an error when a limit cannot be enforced.
    pub fn create(id: &str, memory: Option<u64>, cpu_millis: Option<u64>) -> io::Result<Cgroups> {
        let mut cg = Cgroups::default();
        if let Some(bytes) = memory {
            let (base, version) = controller("memory")
                .ok_or_else(|| io::Error::other("no memory cgroup controller on this machine"))?;
            let dir = make(&base, version, "memory", id)?;
            cg.dirs.push(dir.clone());
            match version {
                Version::V1 => {
                    write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    // Without swap accounting the limit alone is the whole story.
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &bytes.to_string())?;
                    }
                }
                Version::V2 => {
                    write(&dir.join("memory.max"), &bytes.to_string())?;
                    let swap = dir.join("memory.swap.max");
                    if swap.exists() {
                        write(&swap, "0")?;
                    }
                }
            }
            cg.memory = Some((dir, version));
        }
        if let Some(millis) = cpu_millis {
            let (base, version) = controller("cpu")
                .ok_or_else(|| io::Error::other("no cpu cgroup controller on this machine"))?;
            let dir = if cg
                .memory
                .as_ref()
                .is_some_and(|(d, _)| d.starts_with(&base))
            {
                // One v2 hierarchy: the same directory carries both limits.
                cg.dirs[0].clone()
            } else {
                let d = make(&base, version, "cpu", id)?;
                cg.dirs.push(d.clone());
                d
            };
            let quota = (millis * CFS_PERIOD_US / 1000).max(1000);
            match version {
                Version::V1 => {
                    write(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
                    write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
                Version::V2 => write(&dir.join("cpu.max"), &format!("{quota} {CFS_PERIOD_US}"))?,
            }
        }
        Ok(cg)
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// How often the kernel's OOM killer killed a process of this container.
    pub fn oom_kills(&self) -> u64 {
        let Some((dir, version)) = &self.memory else {
            return 0;
        };
        let file = match version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }

    /// Every process still in the container's cgroups (for a kill that reaches them all).
    pub fn pids(&self) -> Vec<i32> {
        self.dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Removes the directories; the kernel refuses while processes are still exiting, so retry.
    pub fn remove(&self) {
        for dir in &self.dirs {
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}
