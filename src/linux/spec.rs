//! What wpod hands to its container helper process (`wpod __wpod-container SPEC`), as JSON in a
//! file of the container's state directory: everything is decided before the helper starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::confine::Confinement;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpecMount {
    /// The volume's host directory (or the host file).
    pub host_path: PathBuf,
    /// What of the volume is mounted (`subPath`): opened beneath `host_path` by the container
    /// process itself, just before it mounts it (see `hostfs`).
    pub sub_path: Option<String>,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The pause process whose namespaces the container joins.
    pub pause_pid: u32,
    /// Join the pause process's network namespace (false for `hostNetwork: true`).
    pub join_net: bool,
    /// `shareProcessNamespace: true`: join the pod's PID namespace instead of getting one.
    pub share_pid: bool,
    /// Rootless: join the pod's user namespace first.
    pub user_ns: bool,
    /// cgroup directories the container's processes go into (memory and cpu limits).
    pub cgroups: Vec<PathBuf>,
    /// The native program to run (a built-in image's host build).
    pub program: PathBuf,
    /// A `.wasm` image: run by wpod's wasmtime inside the container instead of `program`.
    pub wasm: Option<PathBuf>,
    /// That wasm compiled by wpod into its disk cache (named as the cache names it), so the
    /// container does not compile it again.
    pub wasm_compiled: Option<PathBuf>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `workingDir`, cleaned (see runtime::clean_path); created if missing.
    pub working_dir: Option<String>,
    /// Where the container's private tmpfs root is mounted before pivot_root.
    pub root: PathBuf,
    /// Files written into the root: /etc/hosts, /etc/hostname, the image's own files.
    pub files: Vec<(String, Vec<u8>)>,
    /// Host directories bound read-only so the program can run (its shared libraries).
    pub system_binds: Vec<PathBuf>,
    /// Where `program` is bound read-only inside the root, as the real image has it
    /// (`/usr/sbin/nginx`), so a shell in the container runs it by name.
    pub program_paths: Vec<String>,
    pub mounts: Vec<SpecMount>,
    /// The helper writes the container process's pid here once it exists.
    pub pid_file: PathBuf,
    /// The helper writes why the container could not start here (then exits 128).
    pub error_file: PathBuf,
    /// Capabilities, seccomp, user and masked paths, applied right before exec (execs too).
    pub confine: Confinement,
    /// `tty: true`: stdio is a terminal, made the process's controlling terminal.
    #[serde(default)]
    pub tty: bool,
    /// Its TCP containerPorts: where a wasi:http component in `wasm` is served.
    #[serde(default)]
    pub ports: Vec<u16>,
}
