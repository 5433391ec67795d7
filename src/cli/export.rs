//! `wpod export --target runwasi|spinkube|crun`: the manifests rewritten for a real cluster that
//! runs WebAssembly, with their images pushed to the registry it pulls from.
//!
//! - runwasi (containerd's wasmtime shim): a RuntimeClass `wasm` (handler `wasm`, as runwasi's
//!   guides configure containerd), every pod naming it, and each image an ordinary OCI image whose
//!   root holds the program, which the shim runs when the command's first word names it; a
//!   wasi:http component is served where the container declares its port
//!   (`WASMTIME_HTTP_PROXY_SOCKET_ADDR`).
//! - spinkube (containerd-shim-spin): the RuntimeClass `wasmtime-spin-v2` (handler `spin`);
//!   only wasi:http components, pushed as CNCF wasm artifacts (what `wkg oci push` makes, which
//!   the shim runs since v0.23), started with `command: ["/"]` and listening on the declared port
//!   (`SPIN_HTTP_LISTEN_ADDR`).
//! - crun (built with a wasm handler): the RuntimeClass `crun`, each pod annotated
//!   `module.wasm.image/variant: compat-smart`; crun runs WASI preview 1 modules only.
//!
//! Built-in images are exported too, as images named `wpod/<name>`; other objects (Services,
//! ConfigMaps, Secrets) go through unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1 as api;
use serde_json::{Value, json};

use super::exit;
use crate::images::import::{self, Build};
use crate::images::registry::{self, Access};
use crate::images::store::{Store, digest, normalize};
use crate::images::{self as builtin, ImageRef};
use crate::manifest::{self, Workload};

#[derive(Args)]
pub struct ExportArgs {
    /// The kind of cluster the manifests go to
    #[arg(long, value_enum)]
    target: Target,
    /// The registry the cluster pulls from, with an optional path (`localhost:5001/demo`): the
    /// images are pushed there
    #[arg(long, value_name = "HOST[:PORT][/PATH]")]
    registry: String,
    /// Speak plain HTTP to this registry (HOST:PORT), as docker's insecure registries
    #[arg(long, value_name = "HOST:PORT")]
    insecure_registry: Vec<String>,
    /// The RuntimeClass (and handler) the cluster's nodes configure, when not the target's usual
    #[arg(long, value_name = "NAME")]
    runtime_class: Option<String>,
    /// Manifest files; `-` reads stdin
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    Runwasi,
    Spinkube,
    Crun,
}

impl Target {
    /// The RuntimeClass name and handler its guides configure.
    fn runtime_class(self) -> (&'static str, &'static str) {
        match self {
            Target::Runwasi => ("wasm", "wasm"),
            Target::Spinkube => ("wasmtime-spin-v2", "spin"),
            Target::Crun => ("crun", "crun"),
        }
    }

    /// What a node needs, for the header of the output.
    fn node_setup(self) -> &'static str {
        match self {
            Target::Runwasi => {
                "containerd with runwasi's wasmtime shim (containerd-shim-wasmtime-v1) configured \
                 as runtime `wasm`: runtime_type = \"io.containerd.wasmtime.v1\""
            }
            Target::Spinkube => {
                "containerd-shim-spin v0.23 or later configured as runtime `spin`: runtime_type = \
                 \"io.containerd.spin.v2\" (SpinKube's runtime-class-manager installs it)"
            }
            Target::Crun => {
                "crun built with a wasm handler (wasmtime, wasmedge, wasmer or wamr) configured as \
                 runtime `crun`, with pod annotation module.wasm.image/variant passed through \
                 (CRI-O passes it; containerd needs it in pod_annotations)"
            }
        }
    }
}

/// What a container becomes: its new image, command and extra environment.
#[derive(Clone)]
struct Exported {
    image: String,
    /// The whole command (args are folded in), or None to keep the container's own.
    command: Option<Vec<String>>,
    env: Vec<(String, String)>,
}

/// One image to push: where it comes from and where it goes.
struct Push {
    store: Option<PathBuf>,
    local: String,
    remote: String,
}

pub fn export(args: &ExportArgs) -> u8 {
    let mut objects: Vec<Value> = Vec::new();
    let mut work = Work {
        target: args.target,
        registry: args.registry.trim_end_matches('/').to_string(),
        scratch: std::env::temp_dir().join(format!("wpod-export-{}", std::process::id())),
        exported: BTreeMap::new(),
        pushes: Vec::new(),
        refused: Vec::new(),
        engine: None,
    };
    for file in &args.files {
        let m = match manifest::load_path(file) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
        for d in &m.diagnostics {
            eprintln!("{d}");
        }
        if m.has_errors() {
            eprintln!(
                "error: {}: the manifest has errors; nothing was exported",
                m.file
            );
            return exit::USAGE;
        }
        for o in m.config_maps.iter().map(serde_json::to_value) {
            objects.extend(o.ok());
        }
        for o in m.secrets.iter().map(serde_json::to_value) {
            objects.extend(o.ok());
        }
        for w in &m.workloads {
            let (value, template) = match w {
                Workload::Service(s) => (serde_json::to_value(s), false),
                Workload::Deployment(d) => (serde_json::to_value(d), true),
                Workload::ReplicaSet(r) => (serde_json::to_value(r), true),
                Workload::Job(j) => (serde_json::to_value(j), true),
            };
            let Ok(mut value) = value else { continue };
            if template {
                let name = object_name(&value);
                let template = &mut value["spec"]["template"];
                work.pod_template(template, &m.dir, &name);
            }
            objects.push(value);
        }
        for pod in &m.pods {
            let Ok(mut value) = serde_json::to_value(pod) else {
                continue;
            };
            let name = object_name(&value);
            work.pod_template(&mut value, &m.dir, &name);
            objects.push(value);
        }
    }
    if !work.refused.is_empty() {
        let _ = std::fs::remove_dir_all(&work.scratch);
        for why in &work.refused {
            eprintln!("error: {why}");
        }
        return exit::USAGE;
    }
    let access = Access {
        insecure: args.insecure_registry.clone(),
        credentials: Vec::new(),
    };
    let pushed = push_all(&work.pushes, &access);
    let _ = std::fs::remove_dir_all(&work.scratch);
    if let Err(e) = pushed {
        eprintln!("error: {e}");
        return exit::FAILED;
    }
    let (default_name, default_handler) = args.target.runtime_class();
    let (name, handler) = match &args.runtime_class {
        Some(n) => (n.as_str(), n.as_str()),
        None => (default_name, default_handler),
    };
    for o in &mut objects {
        set_runtime_class(o, name, args.target);
    }
    let runtime_class = json!({
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name},
        "handler": handler,
    });
    let target = match args.target {
        Target::Runwasi => "runwasi",
        Target::Spinkube => "spinkube",
        Target::Crun => "crun",
    };
    println!("# wpod export --target {target}: apply with `kubectl apply -f`.");
    println!("# The nodes need {}.", args.target.node_setup());
    for object in std::iter::once(&runtime_class).chain(&objects) {
        match serde_saphyr::to_string(object) {
            Ok(yaml) => print!("---\n{yaml}"),
            Err(e) => {
                eprintln!("error: writing YAML: {e}");
                return exit::INTERNAL;
            }
        }
    }
    exit::SUCCEEDED
}

fn object_name(o: &Value) -> String {
    o["metadata"]["name"].as_str().unwrap_or("?").to_string()
}

/// Every pod spec, bare or a controller's template, names the RuntimeClass (and on crun carries
/// the annotation that makes crun run the program as wasm).
fn set_runtime_class(o: &mut Value, name: &str, target: Target) {
    let pod = match o["kind"].as_str() {
        Some("Pod") => o,
        Some("Deployment" | "ReplicaSet" | "Job") => &mut o["spec"]["template"],
        _ => return,
    };
    pod["spec"]["runtimeClassName"] = json!(name);
    if target == Target::Crun {
        pod["metadata"]["annotations"]["module.wasm.image/variant"] = json!("compat-smart");
    }
}

struct Work {
    target: Target,
    registry: String,
    /// Where images made for the export are built before they are pushed.
    scratch: PathBuf,
    /// By the image as the manifest names it (and its directory).
    exported: BTreeMap<(String, PathBuf), Result<Image, String>>,
    pushes: Vec<Push>,
    refused: Vec<String>,
    /// Made at the first component, to see what it exports.
    engine: Option<crate::wasm::WasmEngine>,
}

/// An image made ready for the target, before a container's command is rewritten for it.
#[derive(Clone)]
struct Image {
    remote: String,
    /// The program's path in the image (the command's first word on runwasi and crun), for
    /// built-in images and `.wasm` files.
    program: Option<String>,
    /// Its ENTRYPOINT and CMD (for an image wpod made), to fold into the command.
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    /// The toolbox: its first argument names the applet, so it stays after the path.
    multicall: bool,
    /// A component that exports wasi:http/incoming-handler.
    serves_http: bool,
    component: bool,
}

impl Work {
    fn pod_template(&mut self, pod: &mut Value, dir: &Path, owner: &str) {
        for list in ["initContainers", "containers"] {
            // `get_mut`, not indexing: a missing list must stay missing, not become null.
            let Some(containers) = pod
                .get_mut("spec")
                .and_then(|spec| spec.get_mut(list))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for c in containers {
                let Ok(container) = serde_json::from_value::<api::Container>(c.clone()) else {
                    continue;
                };
                match self.container(&container, dir, owner) {
                    Ok(e) => apply(c, &e),
                    Err(why) => self.refused.push(why),
                }
            }
        }
    }

    fn container(
        &mut self,
        c: &api::Container,
        dir: &Path,
        owner: &str,
    ) -> Result<Exported, String> {
        let reference = c.image.clone().unwrap_or_default();
        let key = (reference.clone(), dir.to_path_buf());
        let image = match self.exported.get(&key) {
            Some(done) => done.clone(),
            None => {
                let made = self.image(&reference, dir);
                self.exported.insert(key, made.clone());
                made
            }
        }
        .map_err(|e| format!("{owner}/{}: image {reference:?}: {e}", c.name))?;
        let port = c
            .ports
            .iter()
            .flatten()
            .find(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"))
            .map(|p| p.container_port);
        let mut env = Vec::new();
        match self.target {
            Target::Spinkube => {
                if !image.serves_http {
                    return Err(format!(
                        "{owner}/{}: SpinKube runs Spin applications, and the image {reference:?} \
                         is not a wasi:http component; export this pod with --target runwasi",
                        c.name
                    ));
                }
                let port = port.unwrap_or(80);
                env.push((
                    "SPIN_HTTP_LISTEN_ADDR".to_string(),
                    format!("0.0.0.0:{port}"),
                ));
                return Ok(Exported {
                    image: image.remote,
                    command: Some(vec!["/".into()]),
                    env,
                });
            }
            Target::Crun if image.component => {
                return Err(format!(
                    "{owner}/{}: crun runs WASI preview 1 modules only (containers/crun#1871), and \
                     the image {reference:?} is a component; export this pod with --target runwasi",
                    c.name
                ));
            }
            Target::Runwasi if image.serves_http => {
                if let Some(port) = port {
                    env.push((
                        "WASMTIME_HTTP_PROXY_SOCKET_ADDR".to_string(),
                        format!("0.0.0.0:{port}"),
                    ));
                }
            }
            _ => {}
        }
        // The shims find the program by the command's first word: it becomes the program's
        // path, and the name it stood for moves on for the toolbox, whose applet it names.
        let command = image.program.as_ref().map(|path| {
            let argv = crate::plan::argv(
                c.command.as_deref(),
                c.args.as_deref(),
                &image.entrypoint,
                &image.cmd,
            );
            let rest = if image.multicall {
                &argv[..]
            } else {
                argv.get(1..).unwrap_or_default()
            };
            std::iter::once(path.clone())
                .chain(rest.iter().cloned())
                .collect()
        });
        Ok(Exported {
            image: image.remote,
            command,
            env,
        })
    }

    /// Makes `reference` ready for the target and queues its push.
    fn image(&mut self, reference: &str, dir: &Path) -> Result<Image, String> {
        let scratch = Store::open(self.scratch.join("store"))?;
        let (wasm, name, tag, builtin) = match builtin::resolve(reference) {
            ImageRef::Builtin(b) | ImageRef::StandIn(b, _) => (
                b.wasm.to_vec(),
                format!("wpod/{}", b.name),
                env!("CARGO_PKG_VERSION").to_string(),
                Some(b),
            ),
            ImageRef::File(path) => {
                let full = dir.join(path);
                let bytes = builtin::read_file(reference, &full).map_err(|e| e.to_string())?;
                let stem = full
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                let stem: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "._-".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let sha = digest(&bytes);
                let short = sha.trim_start_matches("sha256:").get(..12).unwrap_or("");
                (bytes, stem, short.to_string(), None)
            }
            ImageRef::Stored(stored) => return self.stored_image(&stored),
            ImageRef::Unknown(name) => {
                return Err(format!(
                    "wpod does not know {name:?}, so it cannot export it; {}",
                    builtin::available()
                ));
            }
        };
        let remote = format!("{}/{name}:{tag}", self.registry);
        let (component, serves_http) = self.inspect_program(&wasm)?;
        let file_name = format!("{}.wasm", name.rsplit('/').next().unwrap_or("app"));
        let local = format!("wpod-export/{name}:{tag}");
        let program = format!("/{file_name}");
        let (entrypoint, cmd, multicall) = match builtin {
            Some(b) => (
                b.entrypoint.iter().map(|s| s.to_string()).collect(),
                b.cmd.iter().map(|s| s.to_string()).collect(),
                b.name == "busybox",
            ),
            None => (Vec::new(), Vec::new(), false),
        };
        if self.target == Target::Spinkube {
            import::artifact(&scratch, &wasm, &local)?;
        } else {
            let env: Vec<String> = builtin
                .map(|b| b.env.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            let files: Vec<(&str, &[u8])> = builtin.map(|b| b.files.to_vec()).unwrap_or_default();
            let mut labels = BTreeMap::new();
            labels.insert(
                "org.opencontainers.image.source".to_string(),
                format!("wpod export of {reference}"),
            );
            import::build(
                &scratch,
                &Build {
                    wasm: &wasm,
                    file_name: &file_name,
                    entrypoint: None,
                    cmd: Vec::new(),
                    env,
                    working_dir: None,
                    labels,
                    files: &files,
                },
                &local,
            )?;
        }
        self.pushes.push(Push {
            store: Some(self.scratch.join("store")),
            local,
            remote: remote.clone(),
        });
        Ok(Image {
            remote,
            program: Some(program),
            entrypoint,
            cmd,
            multicall,
            serves_http,
            component,
        })
    }

    /// An image of the store goes as it is: it already says what it runs.
    fn stored_image(&mut self, stored: &str) -> Result<Image, String> {
        let reference = normalize(stored)?;
        let tag = match (reference.tag(), reference.digest()) {
            (Some(t), _) => t.to_string(),
            (None, Some(d)) => d.replace(':', "-"),
            (None, None) => "latest".to_string(),
        };
        let remote = format!("{}/{}:{tag}", self.registry, reference.repository());
        let store = Store::existing().ok_or("wpod's image store is gone")?;
        let entry = store
            .find(stored)?
            .ok_or_else(|| format!("no image {stored:?} in wpod's image store"))?;
        let image = crate::images::stored::load(&store, &entry)?;
        let (component, serves_http) = self.inspect_program(&image.wasm)?;
        if self.target == Target::Spinkube {
            let local = format!("wpod-export/{}:{tag}", reference.repository());
            import::artifact(
                &Store::open(self.scratch.join("store"))?,
                &image.wasm,
                &local,
            )?;
            self.pushes.push(Push {
                store: Some(self.scratch.join("store")),
                local,
                remote: remote.clone(),
            });
        } else {
            self.pushes.push(Push {
                store: None,
                local: stored.to_string(),
                remote: remote.clone(),
            });
        }
        Ok(Image {
            remote,
            program: None,
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            multicall: false,
            serves_http,
            component,
        })
    }

    /// Whether a program is a component, and whether it serves wasi:http: compiled (or loaded
    /// from wpod's compile cache) and linked as wpod would run it, on one engine for the export.
    fn inspect_program(&mut self, wasm: &[u8]) -> Result<(bool, bool), String> {
        if !builtin::is_component(wasm) {
            return Ok((false, false));
        }
        if self.engine.is_none() {
            let engine = crate::wasm::WasmEngine::new(crate::wasm::CompileCache::default_dir())
                .map_err(|e| format!("{e:#}"))?;
            self.engine = Some(engine);
        }
        let Some(engine) = &self.engine else {
            return Err("no wasm engine".into());
        };
        let sha = digest(wasm);
        let cached = engine.cache_path(sha.trim_start_matches("sha256:"));
        let (program, _) = engine.program(wasm, cached).map_err(|e| format!("{e:#}"))?;
        Ok((true, program.serves_http()))
    }
}

/// Rewrites one container as exported.
fn apply(c: &mut Value, e: &Exported) {
    c["image"] = json!(e.image);
    if let Some(command) = &e.command {
        c["command"] = json!(command);
        if let Some(o) = c.as_object_mut() {
            o.remove("args");
        }
    }
    for (name, value) in &e.env {
        let env = c["env"].as_array().cloned().unwrap_or_default();
        let mut env: Vec<Value> = env
            .into_iter()
            .filter(|v| v["name"].as_str() != Some(name))
            .collect();
        env.push(json!({"name": name, "value": value}));
        c["env"] = json!(env);
    }
}

fn push_all(pushes: &[Push], access: &Access) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        for p in pushes {
            let store = match &p.store {
                Some(dir) => Store::open(dir.clone())?,
                None => Store::existing().ok_or("wpod's image store is gone")?,
            };
            let remote = normalize(&p.remote)?;
            registry::push(&store, &p.local, &remote, access)
                .await
                .map_err(|e| format!("pushing {}: {e}", p.remote))?;
            eprintln!("pushed {}", p.remote);
        }
        Ok(())
    })
}
