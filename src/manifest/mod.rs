//! Kubernetes manifest loading: YAML or JSON in, typed Pods and diagnostics out.
//!
//! Loading never stops at the first problem: every unknown field, type mismatch and
//! invalid value is reported with its file, line and column, the way the API server
//! would reject it, plus a warning for each set field that wpod does not honour yet.

mod diagnostic;
mod document;
mod honoured;
mod load;
mod locate;
mod names;
mod quantity;
pub mod selector;
mod strict;
mod suggest;
// Visible to the fuzz target's invariants (src/manifest/invariants.rs), compiled in by path.
pub(crate) mod tree;
mod validate;
pub use validate::is_windows_path;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod invariants;

use std::collections::HashMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};

pub use diagnostic::{Diagnostic, Severity};
pub use document::Workload;
pub use load::LoadError;
pub use quantity::{parse_cpu_millis, parse_memory_bytes};
pub use suggest::did_you_mean;

/// The apiserver's default terminationGracePeriodSeconds. It lives with the manifest code
/// (validation needs it) so that the loader builds on its own, as the fuzz target does.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

/// The Service CIDR of kubeadm and kind: ClusterIPs come from 10.96.0.0/12.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
const SERVICE_NET: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_MASK: u32 = 0xfff0_0000;

pub fn is_service_ip(ip: std::net::Ipv4Addr) -> bool {
    u32::from(ip) & SERVICE_MASK == SERVICE_NET
}

/// The `n`-th address of the Service range (1-based), if it is in it.
pub fn service_ip(n: u32) -> Option<std::net::Ipv4Addr> {
    (n > 0 && n < !SERVICE_MASK).then(|| std::net::Ipv4Addr::from(SERVICE_NET + n))
}

/// Everything read from one manifest file.
#[derive(Debug)]
pub struct Manifest {
    /// Display name: the path as given, or `<stdin>`.
    pub file: String,
    /// Directory of the file (the working directory for stdin): relative image paths
    /// resolve against it.
    pub dir: PathBuf,
    /// Pods from documents without errors, in input order.
    pub pods: Vec<Pod>,
    /// ConfigMaps and Secrets from documents without errors: what the pods' volumes and env use.
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    /// Deployments, ReplicaSets and Services from documents without errors.
    pub workloads: Vec<Workload>,
    /// Errors and warnings in input order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Manifest {
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
}

/// Loads the manifest at `path`, or stdin for `-`.
pub fn load_path(path: &str) -> Result<Manifest, LoadError> {
    let (file, dir, bytes) = load::read(path)?;
    load_bytes(&file, dir, bytes)
}

/// Loads a manifest from raw bytes, refusing them as `load_path` does when they are too
/// large or not UTF-8; `file` is its display name.
pub fn load_bytes(file: &str, dir: PathBuf, bytes: Vec<u8>) -> Result<Manifest, LoadError> {
    let text = load::decode(file, bytes)?;
    Ok(load_str(file, dir, &text))
}

/// Loads a manifest already in memory; `file` is its display name.
pub fn load_str(file: &str, dir: PathBuf, text: &str) -> Manifest {
    let mut manifest = Manifest {
        file: file.to_owned(),
        dir,
        pods: Vec::new(),
        config_maps: Vec::new(),
        secrets: Vec::new(),
        workloads: Vec::new(),
        diagnostics: Vec::new(),
    };
    let roots = match tree::parse(text) {
        Ok(roots) => roots,
        Err(err) => {
            let mut d = Diagnostic::error(file, err.pos, "", err.message);
            d.help = err.help.map(str::to_owned);
            manifest.diagnostics.push(d);
            return manifest;
        }
    };
    if roots.is_empty() {
        let d = Diagnostic::error(
            file,
            None,
            "",
            "no manifest found: the input is empty".into(),
        )
        .with_help("a Pod manifest starts with `apiVersion: v1` and `kind: Pod`");
        manifest.diagnostics.push(d);
        return manifest;
    }
    // Pod name → line of its first definition; pods run side by side, so names must differ.
    let mut names: HashMap<String, Option<u64>> = HashMap::new();
    // (kind, namespace, name) → line, for ConfigMaps and Secrets.
    let mut objects: HashMap<(&str, String, String), Option<u64>> = HashMap::new();
    for root in &roots {
        let mut doc = document::read(file, root);
        let found = doc
            .config_maps
            .iter()
            .map(|o| ("ConfigMap", &o.object.metadata, &o.name_path, o.name_pos))
            .chain(
                doc.secrets
                    .iter()
                    .map(|o| ("Secret", &o.object.metadata, &o.name_path, o.name_pos)),
            )
            .chain(doc.workloads.iter().map(|o| {
                (
                    o.object.kind(),
                    o.object.metadata(),
                    &o.name_path,
                    o.name_pos,
                )
            }));
        let mut duplicates = Vec::new();
        for (kind, meta, path, pos) in found {
            let name = meta.name.clone().unwrap_or_default();
            let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
            let key = (kind, ns, name.clone());
            if let Some(first) = objects.get(&key) {
                let mut d =
                    Diagnostic::error(file, pos, path, format!("duplicate {kind} name {name:?}"));
                if let Some(first) = first {
                    d = d.with_help(format!(
                        "a {kind} named {name:?} is already defined on line {first}"
                    ));
                }
                duplicates.push(d);
            } else {
                objects.insert(key, pos.map(|p| p.line));
            }
        }
        doc.diagnostics.append(&mut duplicates);
        for loaded in &doc.pods {
            let Some(name) = loaded.pod.metadata.name.clone().filter(|n| !n.is_empty()) else {
                continue;
            };
            let line = loaded.name_pos.map(|p| p.line);
            if let Some(first) = names.get(&name) {
                let mut d = Diagnostic::error(
                    file,
                    loaded.name_pos,
                    &loaded.name_path,
                    format!("duplicate pod name {name:?}"),
                );
                if let Some(first) = first {
                    d = d.with_help(format!("a pod named {name:?} is already defined on line {first}; give each pod its own name"));
                }
                doc.diagnostics.push(d);
            } else {
                names.insert(name, line);
            }
        }
        doc.diagnostics
            .sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
        if !doc.diagnostics.iter().any(Diagnostic::is_error) {
            manifest
                .pods
                .extend(doc.pods.into_iter().map(|loaded| loaded.pod));
            manifest
                .config_maps
                .extend(doc.config_maps.into_iter().map(|o| o.object));
            manifest
                .secrets
                .extend(doc.secrets.into_iter().map(|o| o.object));
            manifest
                .workloads
                .extend(doc.workloads.into_iter().map(|o| o.object));
        }
        manifest.diagnostics.append(&mut doc.diagnostics);
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Manifest {
        load_str("pod.yaml", PathBuf::from("/tmp"), text)
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: NAME\nspec:\n  containers:\n  - name: app\n    image: ./app.wasm\n";

    #[test]
    fn a_document_with_errors_contributes_no_pod() {
        let text = format!(
            "{}---\n{}  stdin: 1\n",
            POD.replace("NAME", "good"),
            POD.replace("NAME", "bad")
        );
        let m = load(&text);
        let names: Vec<_> = m
            .pods
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        assert_eq!(names, ["good"]);
        assert_eq!(m.errors().count(), 1);
        assert!(m.has_errors());
    }

    #[test]
    fn byte_order_mark_and_crlf_are_fine() {
        let text = format!(
            "\u{feff}{}",
            POD.replace("NAME", "crlf").replace('\n', "\r\n")
        );
        let m = load(&text);
        assert!(m.diagnostics.is_empty(), "{:?}", m.diagnostics);
        assert_eq!(m.pods.len(), 1);
    }

    #[test]
    fn warnings_alone_keep_the_pod() {
        let text = POD.replace("NAME", "warned") + "    tty: true\n";
        let m = load(&text);
        assert!(!m.has_errors());
        assert_eq!(m.warnings().count(), 1);
        assert_eq!(m.pods.len(), 1);
        assert_eq!(m.dir, PathBuf::from("/tmp"));
    }

    #[test]
    fn misspelled_type_fields_are_pointed_out() {
        let m = load(
            &POD.replace("NAME", "x")
                .replace("apiVersion", "apiversion")
                .replace("kind: Pod", "kind: pod"),
        );
        let rendered: Vec<String> = m.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                "pod.yaml:1:1: error: apiversion: unknown field\n  help: did you mean `apiVersion`?",
                "pod.yaml:2:7: error: kind: unsupported kind \"pod\"\n  help: did you mean `Pod`? kinds are case-sensitive",
            ]
        );
    }
}
