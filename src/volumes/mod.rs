//! The kubelet's volume manager: prepares every volume of a pod as a host directory (or file),
//! backend-neutral, and turns a container's volumeMounts into CRI-style [`Mount`]s.
//!
//! Layout under the pod's directory (`<state dir>/pods/<uid>/`), as the kubelet's:
//! `volumes/kubernetes.io~empty-dir/<name>`, `~configmap`, `~secret`, `~downward-api`,
//! `~projected`; `sandbox/` belongs to the backend (container root file systems).

pub mod downward;
pub mod env;
mod hostpath;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIVolumeFile, KeyToPath, SecretProjection, Volume,
};

use self::downward::PodFacts;
use self::hostpath::go_err;
use crate::expand;
use crate::hostfs::{Beneath, Resolve};
use crate::manifest::parse_memory_bytes;
use crate::plan::PodPlan;
use crate::plan::service_account::{Issued, TokenRequest, refresh_after};
use crate::runtime::Mount;

/// Where wpod keeps pod state (see `crate::dirs::state`).
pub fn default_state_dir() -> PathBuf {
    crate::dirs::state()
}

pub fn pod_dir(state_dir: &Path, uid: &str) -> PathBuf {
    state_dir.join("pods").join(uid)
}

/// One prepared volume.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub host_path: PathBuf,
    /// configMap, secret, downwardAPI and projected volumes are always mounted read-only.
    pub read_only: bool,
    /// An emptyDir's sizeLimit: bytes and the quantity as written.
    pub size_limit: Option<(u64, String)>,
    /// A hostPath: the machine's own files, not ones wpod wrote.
    pub host_owned: bool,
}

/// A volume that could not be set up: a FailedMount event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountError {
    pub volume: String,
    pub message: String,
}

impl MountError {
    /// The kubelet's event message.
    pub fn event_message(&self) -> String {
        crate::host_limits::explain(format!(
            "MountVolume.SetUp failed for volume {:?} : {}",
            self.volume, self.message
        ))
    }
}

/// The pod's volumes, set up.
#[derive(Debug, Default)]
pub struct PodVolumes {
    pub dir: PathBuf,
    pub volumes: BTreeMap<String, Prepared>,
    /// The service account tokens projected, to be fetched again before they expire.
    pub tokens: Vec<ProjectedToken>,
}

/// A service account token written into a projected volume.
#[derive(Debug, Clone)]
pub struct ProjectedToken {
    volume: String,
    dir: PathBuf,
    path: String,
    mode: u32,
    audience: Option<String>,
    asked: Duration,
    /// How long after it was written it is due to be fetched again.
    refresh_after: Duration,
}

/// Sets up every volume of the pod under `pod_dir`; returns those that failed.
pub fn setup(plan: &PodPlan, facts: &PodFacts, pod_dir: &Path) -> (PodVolumes, Vec<MountError>) {
    let mut out = PodVolumes {
        dir: pod_dir.to_path_buf(),
        volumes: BTreeMap::new(),
        tokens: Vec::new(),
    };
    let mut errors = Vec::new();
    let volumes = plan
        .manifest
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for v in &volumes {
        match setup_one(plan, facts, pod_dir, v, &mut out.tokens) {
            Ok(p) => {
                out.volumes.insert(v.name.clone(), p);
            }
            Err(message) => errors.push(MountError {
                volume: v.name.clone(),
                message,
            }),
        }
    }
    (out, errors)
}

fn plugin_dir(pod_dir: &Path, plugin: &str, name: &str) -> PathBuf {
    pod_dir
        .join("volumes")
        .join(format!("kubernetes.io~{plugin}"))
        .join(name)
}

fn make_dir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {}", path.display(), go_err(&e)))?;
    crate::modes::set(path, mode).map_err(|e| format!("chmod {}: {}", path.display(), go_err(&e)))
}

fn setup_one(
    plan: &PodPlan,
    facts: &PodFacts,
    pod_dir: &Path,
    v: &Volume,
    tokens: &mut Vec<ProjectedToken>,
) -> Result<Prepared, String> {
    let read_only = |host_path| Prepared {
        host_path,
        read_only: true,
        size_limit: None,
        host_owned: false,
    };
    if let Some(h) = &v.host_path {
        if cfg!(not(windows)) && crate::manifest::is_windows_path(&h.path) {
            return Err(format!(
                "hostPath {:?} is a Windows path, and this node runs {}: give a path of this machine",
                h.path,
                std::env::consts::OS
            ));
        }
        let path = PathBuf::from(&h.path);
        hostpath::check(&path, h.type_.as_deref().unwrap_or(""))?;
        return Ok(Prepared {
            host_path: path,
            read_only: false,
            size_limit: None,
            host_owned: true,
        });
    }
    if let Some(c) = &v.config_map {
        let dir = plugin_dir(pod_dir, "configmap", &v.name);
        let files = config_map_files(
            plan,
            &c.name,
            c.items.as_deref(),
            c.optional,
            c.default_mode,
        )?;
        write_files(&dir, &files)?;
        return Ok(read_only(dir));
    }
    if let Some(s) = &v.secret {
        let dir = plugin_dir(pod_dir, "secret", &v.name);
        let name = s.secret_name.clone().unwrap_or_default();
        let files = secret_files(plan, &name, s.items.as_deref(), s.optional, s.default_mode)?;
        write_files(&dir, &files)?;
        return Ok(read_only(dir));
    }
    if let Some(d) = &v.downward_api {
        let dir = plugin_dir(pod_dir, "downward-api", &v.name);
        let files = downward_files(plan, facts, d.items.as_deref(), d.default_mode)?;
        write_files(&dir, &files)?;
        return Ok(read_only(dir));
    }
    if let Some(p) = &v.projected {
        let dir = plugin_dir(pod_dir, "projected", &v.name);
        let mut files = Vec::new();
        for s in p.sources.iter().flatten() {
            if let Some(ConfigMapProjection {
                name,
                items,
                optional,
            }) = &s.config_map
            {
                files.extend(config_map_files(
                    plan,
                    name,
                    items.as_deref(),
                    *optional,
                    p.default_mode,
                )?);
            }
            if let Some(SecretProjection {
                name,
                items,
                optional,
            }) = &s.secret
            {
                files.extend(secret_files(
                    plan,
                    name,
                    items.as_deref(),
                    *optional,
                    p.default_mode,
                )?);
            }
            if let Some(d) = &s.downward_api {
                files.extend(downward_files(
                    plan,
                    facts,
                    d.items.as_deref(),
                    p.default_mode,
                )?);
            }
            if let Some(t) = &s.service_account_token {
                let asked = Duration::from_secs(t.expiration_seconds.unwrap_or(3600).max(0) as u64);
                let audience = t.audience.clone().filter(|a| !a.is_empty());
                let issued = issue_token(plan, facts, audience.as_deref(), asked, &t.path)?;
                // The kubelet writes tokens 0600 unless the pod sets a mode (here the projection's).
                let mode = p.default_mode.map_or(0o600, |m| m as u32 & 0o777);
                tokens.push(ProjectedToken {
                    volume: v.name.clone(),
                    dir: dir.clone(),
                    path: t.path.clone(),
                    mode,
                    audience,
                    asked,
                    refresh_after: refresh_after(asked, issued.lifetime),
                });
                files.push((t.path.clone(), issued.token.into_bytes(), mode));
            }
        }
        write_files(&dir, &files)?;
        return Ok(read_only(dir));
    }
    // emptyDir, and any source wpod does not provide (a warning said so).
    let dir = plugin_dir(pod_dir, "empty-dir", &v.name);
    make_dir(&dir, 0o777)?;
    let size_limit = v
        .empty_dir
        .as_ref()
        .and_then(|e| e.size_limit.as_ref())
        .and_then(|q| parse_memory_bytes(&q.0).ok().map(|b| (b, q.0.clone())));
    Ok(Prepared {
        host_path: dir,
        read_only: false,
        size_limit,
        host_owned: false,
    })
}

/// A token the API server issues for the pod's service account, as the kubelet requests one
/// with a TokenRequest to fill a `serviceAccountToken` projection (at `path`).
fn issue_token(
    plan: &PodPlan,
    facts: &PodFacts,
    audience: Option<&str>,
    asked: Duration,
    path: &str,
) -> Result<Issued, String> {
    let Some(issuer) = &facts.tokens else {
        return Err(format!(
            "a serviceAccountToken projection ({path}) needs an API server to issue the token: \
             `wpod run` has none; run the pod with `wpod serve` and kubectl, or drop the source"
        ));
    };
    let spec = plan.manifest.spec.as_ref();
    let account = spec
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    issuer.issue(&TokenRequest {
        namespace: &plan.namespace,
        pod: &plan.name,
        pod_uid: &plan.uid,
        service_account: account,
        audience,
        expiration: asked,
    })
}

/// A file to project: path relative to the volume, contents, mode.
type File = (String, Vec<u8>, u32);

const DEFAULT_MODE: i32 = 0o644;

fn mode(item: Option<i32>, default: Option<i32>) -> u32 {
    item.or(default).unwrap_or(DEFAULT_MODE) as u32 & 0o777
}

fn project(
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    optional: bool,
    default_mode: Option<i32>,
    missing_key: impl Fn(&str) -> String,
) -> Result<Vec<File>, String> {
    match items.filter(|i| !i.is_empty()) {
        None => Ok(data
            .into_iter()
            .map(|(k, v)| (k, v, mode(None, default_mode)))
            .collect()),
        Some(items) => {
            let mut out = Vec::new();
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        out.push((item.path.clone(), v.clone(), mode(item.mode, default_mode)))
                    }
                    None if optional => {}
                    None => return Err(missing_key(&item.key)),
                }
            }
            Ok(out)
        }
    }
}

fn config_map_files(
    plan: &PodPlan,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: Option<i32>,
) -> Result<Vec<File>, String> {
    let optional = optional == Some(true);
    let Some(cm) = plan.config_map(name) else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(format!("configmap {name:?} not found"))
        };
    };
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in cm.data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    project(data, items, optional, default_mode, |k| {
        format!("configmap references non-existent config key: {k}")
    })
}

fn secret_files(
    plan: &PodPlan,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: Option<i32>,
) -> Result<Vec<File>, String> {
    let optional = optional == Some(true);
    let Some(s) = plan.secret(name) else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(format!("secret {name:?} not found"))
        };
    };
    let data = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    project(data, items, optional, default_mode, |k| {
        format!("secret references non-existent secret key: {k}")
    })
}

fn downward_files(
    plan: &PodPlan,
    facts: &PodFacts,
    items: Option<&[DownwardAPIVolumeFile]>,
    default_mode: Option<i32>,
) -> Result<Vec<File>, String> {
    let mut out = Vec::new();
    for item in items.into_iter().flatten() {
        let value = if let Some(f) = &item.field_ref {
            downward::field(plan, facts, f)?
        } else if let Some(r) = &item.resource_field_ref {
            downward::resource(plan, "", r)?
        } else {
            continue;
        };
        out.push((
            item.path.clone(),
            value.into_bytes(),
            mode(item.mode, default_mode),
        ));
    }
    Ok(out)
}

/// Writes projected files with their modes (WASI has no chmod: the host file carries the mode),
/// beneath the volume's directory: an item path never leads out of it, whatever is there.
fn write_files(dir: &Path, files: &[File]) -> Result<(), String> {
    make_dir(dir, 0o755)?;
    let volume = Beneath::open(
        dir,
        format!("the volume directory {}", dir.display()),
        Resolve::Beneath,
    )
    .map_err(|e| e.to_string())?;
    for (rel, bytes, mode) in files {
        volume
            .write_file(rel, bytes, *mode)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl PodVolumes {
    /// When the projected tokens are due to be fetched again, from when they were written.
    pub fn tokens_due(&self) -> Option<Duration> {
        self.tokens.iter().map(|t| t.refresh_after).min()
    }

    /// Fetches every projected token again and replaces each file at once (a reader never sees
    /// half a token), as the kubelet's token manager and atomic writer do before a token
    /// expires. The failures are the kubelet's FailedMount messages.
    pub fn refresh_tokens(&mut self, plan: &PodPlan, facts: &PodFacts) -> Vec<MountError> {
        let mut failed = Vec::new();
        for t in &mut self.tokens {
            let written = issue_token(plan, facts, t.audience.as_deref(), t.asked, &t.path)
                .map_err(|e| format!("failed to fetch token: {e}"))
                .and_then(|issued| {
                    Beneath::open(
                        &t.dir,
                        format!("the volume directory {}", t.dir.display()),
                        Resolve::Beneath,
                    )
                    .and_then(|v| v.replace_file(&t.path, issued.token.as_bytes(), t.mode))
                    .map_err(|e| e.to_string())?;
                    Ok(issued.lifetime)
                });
            match written {
                Ok(lifetime) => t.refresh_after = refresh_after(t.asked, lifetime),
                Err(message) => failed.push(MountError {
                    volume: t.volume.clone(),
                    message,
                }),
            }
        }
        failed
    }

    /// The mounts of one container; an error is the message of a CreateContainerConfigError.
    pub fn mounts(&self, c: &Container, env: &[(String, String)]) -> Result<Vec<Mount>, String> {
        let mut out = Vec::new();
        for m in c.volume_mounts.iter().flatten() {
            let Some(v) = self.volumes.get(&m.name) else {
                return Err(format!(
                    "cannot find volume {:?} to mount into container {:?}",
                    m.name, c.name
                ));
            };
            let sub = match m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
                Some(expr) => Some(sub_path_expr(expr, env)?),
                None => m.sub_path.clone().filter(|s| !s.is_empty()),
            };
            if let Some(sub) = &sub {
                if Path::new(sub).is_absolute() {
                    return Err(format!(
                        "error SubPath `{sub}` must not be an absolute path"
                    ));
                }
                if sub.split('/').any(|c| c == "..") {
                    return Err(format!("error SubPath `{sub}` must not contain '..'"));
                }
                prepare_sub_path(&v.host_path, sub, &m.name)?;
            }
            let container_path = format!("/{}", m.mount_path.trim_matches('/'));
            out.push(Mount {
                host_path: v.host_path.clone(),
                sub_path: sub,
                container_path,
                read_only: v.read_only || m.read_only == Some(true),
                host_owned: v.host_owned,
            });
        }
        Ok(out)
    }

    /// emptyDirs above their sizeLimit: (volume, limit as written).
    pub fn over_limit(&self) -> Option<(String, String)> {
        self.volumes.iter().find_map(|(name, v)| {
            let (limit, text) = v.size_limit.as_ref()?;
            (usage(&v.host_path) > *limit).then(|| (name.clone(), text.clone()))
        })
    }

    pub fn has_limits(&self) -> bool {
        self.volumes.values().any(|v| v.size_limit.is_some())
    }
}

/// The kubelet's `ExpandContainerVolumeMounts`: every reference must name a non-empty variable.
fn sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let expanded = expand::expand(expr, |n| match expand::lookup(env, n) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            missing.borrow_mut().insert(n.to_string());
            Some(String::new())
        }
    });
    let missing = missing.into_inner();
    if missing.is_empty() {
        Ok(expanded)
    } else {
        Err(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// Creates the subPath inside a volume when it is missing (with the volume's mode), as the kubelet
/// does. Symlinks inside the volume are followed, those leading out of it are refused; nothing is
/// checked here that the backend then uses by path: it opens the subPath again beneath the volume
/// (see `hostfs`), when it mounts it.
fn prepare_sub_path(root: &Path, sub: &str, volume: &str) -> Result<(), String> {
    let fail =
        |e: std::io::Error| format!("failed to prepare subPath {sub:?} of volume {volume:?}: {e}");
    let dir = Beneath::open(root, format!("volume {volume:?}"), Resolve::Beneath).map_err(fail)?;
    match dir.open_path(sub) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mode = fs::metadata(root).map_or(0o755, |m| crate::modes::of(&m, 0o755));
            dir.mkdir_all(sub, mode).map(drop).map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}

/// Bytes used under `dir` (apparent sizes, symlinks not followed).
pub fn usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Removes what the pod left in its directory; with `keep`, keeps `volumes/` and returns it.
pub fn cleanup(pod_dir: &Path, keep: bool) -> Option<PathBuf> {
    if keep {
        let _ = fs::remove_dir_all(pod_dir.join("sandbox"));
        let volumes = pod_dir.join("volumes");
        volumes.exists().then_some(volumes)
    } else {
        let _ = fs::remove_dir_all(pod_dir);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_expressions() {
        let env = vec![
            ("POD".to_string(), "p1".to_string()),
            ("E".into(), "".into()),
        ];
        assert_eq!(sub_path_expr("logs/$(POD)", &env).as_deref(), Ok("logs/p1"));
        assert_eq!(
            sub_path_expr("$(NOPE)/$(E)", &env),
            Err("missing value for E, NOPE".into())
        );
        assert_eq!(sub_path_expr("$$(POD)", &env).as_deref(), Ok("$(POD)"));
    }
}
