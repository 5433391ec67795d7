//! `wpod image ls | import | build | inspect | rm` (and `wpod images`): the built-in images and
//! those of the local store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::exit;
use crate::images::import::{self, Build};
use crate::images::registry::{self, Access};
use crate::images::store::{Entry, Store};
use crate::images::{BUILTINS, stored};

#[derive(Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List the built-in images and those of the store
    #[command(alias = "list")]
    Ls,
    /// Put the images of an OCI layout directory, an OCI archive or a docker-archive tarball
    /// (gzipped or not) in the store
    Import {
        path: PathBuf,
        /// Name the image (else the names the source gives it)
        #[arg(long, value_name = "NAME[:TAG]")]
        name: Option<String>,
    },
    /// Make an image of a .wasm file: one layer with the program, and the default command,
    /// environment and working directory a Dockerfile would give it
    Build {
        /// The program
        wasm: PathBuf,
        /// The image's name
        #[arg(long, short = 't', value_name = "NAME[:TAG]")]
        tag: String,
        /// ENTRYPOINT, one argument each time (default: the program, `/NAME.wasm`)
        #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
        entrypoint: Vec<String>,
        /// CMD, one argument each time
        #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
        cmd: Vec<String>,
        /// ENV, as NAME=VALUE
        #[arg(long, short = 'e', value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// WORKDIR
        #[arg(long, short = 'w', value_name = "DIR")]
        workdir: Option<String>,
        /// LABEL, as KEY=VALUE
        #[arg(long, short = 'l', value_name = "KEY=VALUE")]
        label: Vec<String>,
    },
    /// Pull an image from a registry into the store (its wasm platform, for a multi-platform
    /// index)
    Pull {
        image: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Push an image of the store to a registry (as REMOTE, else under its own name)
    Push {
        image: String,
        remote: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Print what an image runs (its config) as JSON
    Inspect { image: String },
    /// Remove an image's name (by name), or the image with all its names (by id)
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
}

#[derive(Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to this registry (HOST:PORT), as docker's insecure registries
    #[arg(long, value_name = "HOST:PORT")]
    insecure_registry: Vec<String>,
    /// Log in with these credentials
    #[arg(long, value_name = "USER:PASSWORD")]
    creds: Option<String>,
}

impl RegistryArgs {
    fn access(&self, registry: &str) -> Result<Access, u8> {
        let mut access = Access {
            insecure: self.insecure_registry.clone(),
            credentials: Vec::new(),
        };
        if let Some(creds) = &self.creds {
            let Some((user, password)) = creds.split_once(':') else {
                eprintln!("error: --creds: give them as USER:PASSWORD");
                return Err(exit::USAGE);
            };
            access
                .credentials
                .push((registry.to_string(), user.to_string(), password.to_string()));
        }
        Ok(access)
    }
}

/// Runs a registry operation on a runtime of its own.
fn on_runtime<T>(work: impl std::future::Future<Output = T>) -> Result<T, u8> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Ok(rt.block_on(work)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::INTERNAL)
        }
    }
}

fn pull(image: &str, registry: &RegistryArgs) -> u8 {
    let reference = match crate::images::store::normalize(image) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let (access, store) = match (registry.access(reference.resolve_registry()), store()) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    match on_runtime(registry::pull(&store, &reference, &access)) {
        Ok(Ok(digest)) => {
            println!("pulled {} {digest}", reference.whole());
            match store.find(&reference.whole()) {
                Ok(Some(e)) => match stored::load(&store, &e) {
                    Ok(_) => exit::SUCCEEDED,
                    Err(why) => {
                        eprintln!("warning: wpod cannot run it: {why}");
                        exit::FAILED
                    }
                },
                _ => exit::SUCCEEDED,
            }
        }
        Ok(Err(e)) => {
            eprintln!("error: pulling {}: {e}", reference.whole());
            exit::FAILED
        }
        Err(code) => code,
    }
}

fn push(image: &str, remote: Option<&str>, registry: &RegistryArgs) -> u8 {
    let store = match store() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let target = match store.find(image) {
        Ok(Some(e)) => remote.unwrap_or(&e.reference).to_string(),
        Ok(None) => {
            eprintln!("error: no image {image:?} in wpod's image store");
            return exit::FAILED;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let reference = match crate::images::store::normalize(&target) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let access = match registry.access(reference.resolve_registry()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match on_runtime(registry::push(&store, image, &reference, &access)) {
        Ok(Ok(url)) => {
            println!("pushed {} ({url})", reference.whole());
            exit::SUCCEEDED
        }
        Ok(Err(e)) => {
            eprintln!("error: pushing {}: {e}", reference.whole());
            exit::FAILED
        }
        Err(code) => code,
    }
}

fn size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        crate::bounded::human(bytes)
    }
}

fn store() -> Result<Store, u8> {
    Store::open(Store::default_dir()).map_err(|e| {
        eprintln!("error: {e}");
        exit::INTERNAL
    })
}

pub fn image(args: ImageArgs) -> u8 {
    match args.command {
        ImageCommand::Ls => list(),
        ImageCommand::Import { path, name } => import_images(&path, name.as_deref()),
        ImageCommand::Build {
            wasm,
            tag,
            entrypoint,
            cmd,
            env,
            workdir,
            label,
        } => {
            let mut labels = BTreeMap::new();
            for l in &label {
                let Some((k, v)) = l.split_once('=') else {
                    eprintln!("error: --label {l:?}: give it as KEY=VALUE");
                    return exit::USAGE;
                };
                labels.insert(k.to_string(), v.to_string());
            }
            if let Some(e) = env.iter().find(|e| !e.contains('=')) {
                eprintln!("error: --env {e:?}: give it as NAME=VALUE");
                return exit::USAGE;
            }
            let bytes = match crate::images::read_file(&wasm.to_string_lossy(), &wasm) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
            };
            let file_name = wasm
                .file_name()
                .map_or_else(|| "app.wasm".into(), |n| n.to_string_lossy().into_owned());
            let store = match store() {
                Ok(s) => s,
                Err(code) => return code,
            };
            let build = Build {
                wasm: &bytes,
                file_name: &file_name,
                entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
                cmd,
                env,
                working_dir: workdir,
                labels,
                files: &[],
            };
            match import::build(&store, &build, &tag) {
                Ok(built) => {
                    println!("built {} {}", built.reference, built.digest);
                    exit::SUCCEEDED
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::USAGE
                }
            }
        }
        ImageCommand::Pull { image, registry } => pull(&image, &registry),
        ImageCommand::Push {
            image,
            remote,
            registry,
        } => push(&image, remote.as_deref(), &registry),
        ImageCommand::Inspect { image } => inspect(&image),
        ImageCommand::Rm { images } => remove(&images),
    }
}

/// `wpod images`, as before: the same list.
pub fn list() -> u8 {
    println!(
        "{:<40} {:<10} {:<14} {:>9}  DEFAULT COMMAND",
        "IMAGE", "TAG", "IMAGE ID", "SIZE"
    );
    for b in BUILTINS {
        let command = [b.entrypoint, b.cmd].concat().join(" ");
        println!(
            "{:<40} {:<10} {:<14} {:>9}  {command}",
            b.name,
            "built-in",
            "-",
            size(b.wasm.len() as u64),
        );
    }
    if let Some(store) = Store::existing() {
        match store.entries() {
            Ok(entries) => {
                for e in entries {
                    print_entry(&store, &e);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INTERNAL;
            }
        }
    }
    println!(
        "\nbusybox also stands in for alpine, debian and ubuntu (with a notice when pulled). Images \
         of the store ({}) go before the built-in ones of the same name; any other image is a path \
         to a .wasm file, relative to the manifest's directory.",
        Store::default_dir().display()
    );
    exit::SUCCEEDED
}

fn print_entry(store: &Store, e: &Entry) {
    let (repo, tag) = match e.reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ if e.reference.is_empty() => ("<none>".to_string(), "<none>".to_string()),
        _ => (e.reference.clone(), String::new()),
    };
    let id = store.config_digest(&e.manifest).unwrap_or_default();
    let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
    match stored::load(store, e) {
        Ok(image) => {
            let total: u64 = image.wasm.len() as u64
                + image.files.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
            let command = [image.entrypoint, image.cmd].concat().join(" ");
            println!(
                "{repo:<40} {tag:<10} {short:<14} {:>9}  {command}",
                size(total)
            );
        }
        Err(why) => println!(
            "{repo:<40} {tag:<10} {short:<14} {:>9}  (cannot run: {why})",
            "-"
        ),
    }
}

fn import_images(path: &std::path::Path, name: Option<&str>) -> u8 {
    let store = match store() {
        Ok(s) => s,
        Err(code) => return code,
    };
    match import::import(&store, path, name) {
        Ok(imported) => {
            for i in &imported {
                if i.reference.is_empty() {
                    println!(
                        "imported {} (without a name: give it one with --name)",
                        i.digest
                    );
                } else {
                    println!("imported {} {}", i.reference, i.digest);
                }
            }
            // An image that cannot run is said at once, not when a pod first uses it.
            let mut code = exit::SUCCEEDED;
            for i in &imported {
                let found = store.find(if i.reference.is_empty() {
                    &i.digest
                } else {
                    &i.reference
                });
                if let Ok(Some(e)) = found
                    && let Err(why) = stored::load(&store, &e)
                {
                    eprintln!("warning: {}: wpod cannot run it: {why}", e.reference);
                    code = exit::FAILED;
                }
            }
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

fn inspect(reference: &str) -> u8 {
    let store = match store() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let entry = match store.find(reference) {
        Ok(Some(e)) => e,
        Ok(None) => {
            eprintln!(
                "error: no image {reference:?} in wpod's image store ({})",
                store.dir().display()
            );
            return exit::FAILED;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let names: Vec<String> = store
        .entries()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.manifest.digest() == entry.manifest.digest() && !e.reference.is_empty())
        .map(|e| e.reference)
        .collect();
    match stored::load(&store, &entry) {
        Ok(image) => {
            let out = json!({
                "Id": image.id,
                "RepoTags": names,
                "Digest": image.digest,
                "Program": image.program,
                "ProgramSize": image.wasm.len(),
                "Entrypoint": image.entrypoint,
                "Cmd": image.cmd,
                "Env": image.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "WorkingDir": image.working_dir,
                "Labels": image.labels,
                "Files": image.files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            exit::SUCCEEDED
        }
        Err(why) => {
            eprintln!("error: {reference}: wpod cannot run it: {why}");
            exit::FAILED
        }
    }
}

fn remove(images: &[String]) -> u8 {
    let store = match store() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut code = exit::SUCCEEDED;
    for image in images {
        match store.remove(image) {
            Ok(names) if names.is_empty() => {
                eprintln!("error: no image {image:?} in wpod's image store");
                code = exit::FAILED;
            }
            Ok(names) => {
                for n in names {
                    println!(
                        "untagged {}",
                        if n.is_empty() { image.as_str() } else { &n }
                    );
                }
            }
            Err(e) => {
                eprintln!("error: {image}: {e}");
                code = exit::FAILED;
            }
        }
    }
    code
}
