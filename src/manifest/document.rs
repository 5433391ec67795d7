//! One YAML document: which kind it is, and the pods (or ConfigMaps and Secrets) it holds.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::diagnostic::Diagnostic;
use super::honoured;
use super::locate::{Locator, is_within};
use super::strict;
use super::suggest::did_you_mean;
use super::tree::{Found, Kind, Node, Pos};
use super::validate::{self, Checker};

/// A pod that passed deserialization, with what is needed to tell it apart from others.
pub struct LoadedPod {
    pub pod: Pod,
    /// Field path of `metadata.name` and where it is, for cross-document checks.
    pub name_path: String,
    pub name_pos: Option<Pos>,
}

/// A ConfigMap or Secret that passed validation, with where its name is.
pub struct LoadedObject<T> {
    pub object: T,
    pub name_path: String,
    pub name_pos: Option<Pos>,
}

/// An object the control plane acts on: controllers make pods of Deployments and ReplicaSets,
/// the proxy and DNS serve Services.
#[derive(Debug, Clone)]
pub enum Workload {
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    Job(Job),
    Service(Service),
}

impl Workload {
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Deployment(_) => "Deployment",
            Workload::ReplicaSet(_) => "ReplicaSet",
            Workload::Job(_) => "Job",
            Workload::Service(_) => "Service",
        }
    }

    /// The Services among `workloads`.
    pub fn services(workloads: &[Workload]) -> Vec<Service> {
        workloads
            .iter()
            .filter_map(|w| match w {
                Workload::Service(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(o) => &o.metadata,
            Workload::ReplicaSet(o) => &o.metadata,
            Workload::Job(o) => &o.metadata,
            Workload::Service(o) => &o.metadata,
        }
    }
}

/// The objects of one document and everything found wrong or ignored in it.
#[derive(Default)]
pub struct Document {
    pub pods: Vec<LoadedPod>,
    pub config_maps: Vec<LoadedObject<ConfigMap>>,
    pub secrets: Vec<LoadedObject<Secret>>,
    pub workloads: Vec<LoadedObject<Workload>>,
    pub diagnostics: Vec<Diagnostic>,
}

const LIST_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "items"];

pub fn read(file: &str, root: &Node) -> Document {
    let mut doc = Document::default();
    match type_meta(file, root, "") {
        Err(mut diagnostics) => doc.diagnostics.append(&mut diagnostics),
        Ok(TypeMeta::Pod) => doc.pod(file, root, ""),
        Ok(TypeMeta::ConfigMap) => doc.config_map(file, root, ""),
        Ok(TypeMeta::Secret) => doc.secret(file, root, ""),
        Ok(TypeMeta::List) => doc.list(file, root),
        Ok(meta) => doc.workload(file, root, "", meta),
    }
    doc
}

#[derive(Clone, Copy)]
enum TypeMeta {
    Pod,
    ConfigMap,
    Secret,
    List,
    Deployment,
    ReplicaSet,
    Job,
    Service,
}

impl TypeMeta {
    fn name(&self) -> &'static str {
        match self {
            TypeMeta::Pod => "Pod",
            TypeMeta::ConfigMap => "ConfigMap",
            TypeMeta::Secret => "Secret",
            TypeMeta::List => "List",
            TypeMeta::Deployment => "Deployment",
            TypeMeta::ReplicaSet => "ReplicaSet",
            TypeMeta::Job => "Job",
            TypeMeta::Service => "Service",
        }
    }

    fn api_version(&self) -> &'static str {
        match self {
            TypeMeta::Deployment | TypeMeta::ReplicaSet => "apps/v1",
            TypeMeta::Job => "batch/v1",
            _ => "v1",
        }
    }
}

impl Document {
    fn pod(&mut self, file: &str, root: &Node, prefix: &str) {
        let parsed = strict::from_node::<Pod>(file, "pod", root, prefix);
        let mut errors = parsed.diagnostics;
        let locator = Locator::new(&parsed.fields, root.pos);
        let pod = parsed.value.inspect(|pod| {
            let mut checker = Checker::new(file, prefix, &locator);
            validate::pod(&mut checker, pod);
            errors.extend(checker.into_diagnostics());
        });
        // A field that is wrong needs fixing before it matters whether wpod honours it.
        let warnings = honoured::warnings(file, prefix, &parsed.fields)
            .into_iter()
            .filter(|w| {
                !errors
                    .iter()
                    .any(|e| e.path == w.path || is_within(&e.path, &w.path))
            });
        self.diagnostics.extend(warnings);
        self.diagnostics.append(&mut errors);
        let Some(pod) = pod else {
            return;
        };
        let name_path = join(prefix, "metadata.name");
        let name_pos = locator.value(&name_path);
        self.pods.push(LoadedPod {
            pod,
            name_path,
            name_pos,
        });
    }

    fn config_map(&mut self, file: &str, root: &Node, prefix: &str) {
        let parsed = strict::from_node::<ConfigMap>(file, "configmap", root, prefix);
        let mut errors = parsed.diagnostics;
        let locator = Locator::new(&parsed.fields, root.pos);
        let object = parsed.value.inspect(|cm| {
            let mut checker = Checker::new(file, prefix, &locator);
            validate::config_map(&mut checker, cm);
            errors.extend(checker.into_diagnostics());
        });
        let failed = errors.iter().any(Diagnostic::is_error);
        self.diagnostics.append(&mut errors);
        if let Some(object) = object.filter(|_| !failed) {
            let name_path = join(prefix, "metadata.name");
            let name_pos = locator.value(&name_path);
            self.config_maps.push(LoadedObject {
                object,
                name_path,
                name_pos,
            });
        }
    }

    fn secret(&mut self, file: &str, root: &Node, prefix: &str) {
        let parsed = strict::from_node::<Secret>(file, "secret", root, prefix);
        let mut errors = parsed.diagnostics;
        let locator = Locator::new(&parsed.fields, root.pos);
        let object = parsed.value.inspect(|secret| {
            let mut checker = Checker::new(file, prefix, &locator);
            validate::secret(&mut checker, secret);
            errors.extend(checker.into_diagnostics());
        });
        let failed = errors.iter().any(Diagnostic::is_error);
        self.diagnostics.append(&mut errors);
        if let Some(mut object) = object.filter(|_| !failed) {
            // The API server merges stringData into data (stringData wins) and never stores it.
            if let Some(strings) = object.string_data.take() {
                let data = object.data.get_or_insert_with(Default::default);
                for (k, v) in strings {
                    data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
                }
            }
            let name_path = join(prefix, "metadata.name");
            let name_pos = locator.value(&name_path);
            self.secrets.push(LoadedObject {
                object,
                name_path,
                name_pos,
            });
        }
    }

    /// A Deployment, ReplicaSet or Service: strictly parsed and validated as the apiserver
    /// does, the pod template as a pod (with warnings for its fields wpod ignores).
    fn workload(&mut self, file: &str, root: &Node, prefix: &str, meta: TypeMeta) {
        fn parse<T: serde::de::DeserializeOwned>(
            file: &str,
            kind: &str,
            root: &Node,
            prefix: &str,
            check: fn(&mut Checker<'_>, &T),
            wrap: fn(T) -> Workload,
        ) -> (
            Option<Workload>,
            Vec<Diagnostic>,
            Vec<Diagnostic>,
            Option<Pos>,
        ) {
            let parsed = strict::from_node::<T>(file, kind, root, prefix);
            let mut errors = parsed.diagnostics;
            let locator = Locator::new(&parsed.fields, root.pos);
            let object = parsed.value.inspect(|o| {
                let mut checker = Checker::new(file, prefix, &locator);
                check(&mut checker, o);
                errors.extend(checker.into_diagnostics());
            });
            let template = join(prefix, "spec.template");
            let warnings = honoured::warnings(file, &template, &parsed.fields)
                .into_iter()
                .filter(|w| {
                    !errors
                        .iter()
                        .any(|e| e.path == w.path || is_within(&e.path, &w.path))
                })
                .collect();
            let name_pos = locator.value(&join(prefix, "metadata.name"));
            (object.map(wrap), errors, warnings, name_pos)
        }
        let (object, mut errors, mut warnings, name_pos) = match meta {
            TypeMeta::Deployment => parse(
                file,
                "deployment",
                root,
                prefix,
                validate::deployment,
                Workload::Deployment,
            ),
            TypeMeta::ReplicaSet => parse(
                file,
                "replicaset",
                root,
                prefix,
                validate::replica_set,
                Workload::ReplicaSet,
            ),
            TypeMeta::Job => parse(file, "job", root, prefix, validate::job, Workload::Job),
            _ => parse(
                file,
                "service",
                root,
                prefix,
                validate::service,
                Workload::Service,
            ),
        };
        let failed = errors.iter().any(Diagnostic::is_error);
        self.diagnostics.append(&mut warnings);
        self.diagnostics.append(&mut errors);
        if let Some(object) = object.filter(|_| !failed) {
            self.workloads.push(LoadedObject {
                object,
                name_path: join(prefix, "metadata.name"),
                name_pos,
            });
        }
    }

    /// `kind: List`, as `kubectl get -o yaml` prints several objects.
    fn list(&mut self, file: &str, root: &Node) {
        for (key, _) in root.entries().unwrap_or_default() {
            let name = key.key_text();
            if !LIST_FIELDS.contains(&name.as_str()) {
                let mut d = Diagnostic::error(file, key.pos, &name, "unknown field".into());
                if let Some(known) = did_you_mean(&name, LIST_FIELDS) {
                    d = d.with_help(format!("did you mean `{known}`?"));
                }
                self.diagnostics.push(d);
            }
        }
        let items = match root.get("items").map(|n| &n.kind) {
            Some(Kind::Seq(items)) => items.as_slice(),
            Some(Kind::Null) | None => &[],
            Some(_) => {
                let node = root.get("items").unwrap_or(root);
                let message = format!("expected a list of pods, found {}", Found(node));
                self.diagnostics
                    .push(Diagnostic::error(file, node.pos, "items", message));
                return;
            }
        };
        if items.is_empty() {
            // kubectl refuses such a file ("no objects passed to apply"); among other documents
            // it only says nothing, so here it is a warning.
            let pos = root.get("items").and_then(|n| n.pos).or(root.pos);
            self.diagnostics.push(
                Diagnostic::warning(file, pos, "items", "the List has no items".into())
                    .with_help("add the Pods (or ConfigMaps, Secrets) under `items:`"),
            );
        }
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("items[{i}]");
            match type_meta(file, item, &prefix) {
                Ok(TypeMeta::Pod) => self.pod(file, item, &prefix),
                Ok(TypeMeta::ConfigMap) => self.config_map(file, item, &prefix),
                Ok(TypeMeta::Secret) => self.secret(file, item, &prefix),
                Ok(
                    meta @ (TypeMeta::Deployment
                    | TypeMeta::ReplicaSet
                    | TypeMeta::Job
                    | TypeMeta::Service),
                ) => self.workload(file, item, &prefix, meta),
                Ok(TypeMeta::List) => {
                    let message = "a List may not contain another List".to_owned();
                    let pos = item.get("kind").and_then(|k| k.pos);
                    self.diagnostics.push(Diagnostic::error(
                        file,
                        pos,
                        &join(&prefix, "kind"),
                        message,
                    ));
                }
                Err(mut diagnostics) => self.diagnostics.append(&mut diagnostics),
            }
        }
    }
}

fn join(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("{prefix}.{path}")
    }
}

/// Checks `apiVersion` and `kind`, the two fields that decide how to read the rest.
fn type_meta(file: &str, root: &Node, prefix: &str) -> Result<TypeMeta, Vec<Diagnostic>> {
    if root.entries().is_none() {
        let message = format!(
            "expected a mapping with apiVersion, kind, metadata and spec, found {}",
            Found(root)
        );
        return Err(vec![Diagnostic::error(file, root.pos, prefix, message)]);
    }
    let mut errors = Vec::new();
    let kind = string_field(file, root, prefix, "kind", "add `kind: Pod`", &mut errors);
    let api_version = string_field(
        file,
        root,
        prefix,
        "apiVersion",
        "add `apiVersion: v1`",
        &mut errors,
    );
    let meta = match kind {
        Some(("Pod", _)) => Some(TypeMeta::Pod),
        Some(("ConfigMap", _)) => Some(TypeMeta::ConfigMap),
        Some(("Secret", _)) => Some(TypeMeta::Secret),
        Some(("List", _)) => Some(TypeMeta::List),
        Some(("Deployment", _)) => Some(TypeMeta::Deployment),
        Some(("ReplicaSet", _)) => Some(TypeMeta::ReplicaSet),
        Some(("Job", _)) => Some(TypeMeta::Job),
        Some(("Service", _)) => Some(TypeMeta::Service),
        Some((kind, pos)) => {
            errors.push(unsupported_kind(file, pos, &join(prefix, "kind"), kind));
            return Err(errors);
        }
        None => None,
    };
    if let (Some(meta), Some((version, pos))) = (&meta, api_version)
        && version != meta.api_version()
    {
        let (kind, expected) = (meta.name(), meta.api_version());
        let message = format!("invalid value {version:?}: {kind} is in apiVersion {expected}");
        let d = Diagnostic::error(file, pos, &join(prefix, "apiVersion"), message)
            .with_help(format!("use `apiVersion: {expected}`"));
        errors.push(d);
    }
    match meta {
        Some(meta) if errors.is_empty() => Ok(meta),
        _ => Err(errors),
    }
}

/// A required string field of the document root, reporting when it is missing or not a string.
fn string_field<'n>(
    file: &str,
    root: &'n Node,
    prefix: &str,
    name: &str,
    help: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<(&'n str, Option<Pos>)> {
    let path = join(prefix, name);
    match root.get(name) {
        None => {
            // `apiversion: v1` is a typo of the field, not a missing one.
            let misspelled = root.entries().unwrap_or_default().iter().find(|(key, _)| {
                let key = key.key_text();
                key != name && did_you_mean(&key, &[name]).is_some()
            });
            let d = match misspelled {
                Some((key, _)) => {
                    let path = join(prefix, &key.key_text());
                    Diagnostic::error(file, key.pos, &path, "unknown field".into())
                        .with_help(format!("did you mean `{name}`?"))
                }
                None => Diagnostic::error(file, root.pos, &path, "required value".into())
                    .with_help(help),
            };
            errors.push(d);
            None
        }
        Some(node) => match node.as_str() {
            Some(s) if !s.is_empty() => Some((s, node.pos)),
            _ => {
                let message = format!("expected a string, found {}", Found(node));
                errors.push(Diagnostic::error(file, node.pos, &path, message).with_help(help));
                None
            }
        },
    }
}

fn unsupported_kind(file: &str, pos: Option<Pos>, path: &str, kind: &str) -> Diagnostic {
    let known_kinds = [
        "Pod",
        "List",
        "ConfigMap",
        "Secret",
        "Deployment",
        "ReplicaSet",
        "Job",
        "Service",
    ];
    if let Some(known) = did_you_mean(kind, &known_kinds) {
        let message = format!("unsupported kind {kind:?}");
        return Diagnostic::error(file, pos, path, message)
            .with_help(format!("did you mean `{known}`? kinds are case-sensitive"));
    }
    let help = match kind {
        "StatefulSet" | "DaemonSet" | "ReplicationController" => {
            "wpod runs Pods, Deployments, ReplicaSets, Jobs and Services, with the ConfigMaps and Secrets they use; copy `spec.template` into a manifest with `apiVersion: v1` and `kind: Pod`"
        }
        "CronJob" => {
            "wpod runs Pods, Deployments, ReplicaSets, Jobs and Services, with the ConfigMaps and Secrets they use; copy `spec.jobTemplate` into a manifest with `apiVersion: batch/v1` and `kind: Job`"
        }
        _ => {
            "wpod runs Pods, Deployments, ReplicaSets, Jobs and Services, with the ConfigMaps and Secrets they use"
        }
    };
    Diagnostic::error(file, pos, path, format!("unsupported kind {kind:?}")).with_help(help)
}
