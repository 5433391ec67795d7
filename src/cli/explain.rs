//! `wpod explain FILE`: what `wpod run` will do with the manifest's pods, step by step, and
//! which of its fields wpod honours differently from Kubernetes. Nothing is run.

use clap::Args;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::exit;
use super::lesson::LangArg;
use super::run::Backend;
use crate::explain::{self, Backend as Drawn};
use crate::lessons::Lang;
use crate::manifest::{self, Workload};
use crate::plan::PodPlan;

#[derive(Args)]
pub struct ExplainArgs {
    /// Manifest file (YAML or JSON, several documents allowed); `-` reads stdin
    #[arg(value_name = "FILE")]
    file: String,
    /// Language (default: from the locale, LANG=zh_CN.UTF-8 gives Chinese)
    #[arg(long, value_enum)]
    lang: Option<LangArg>,
    /// The backend whose way of running the pod is explained
    #[arg(long, value_enum, default_value = "wasm")]
    backend: Backend,
}

pub fn explain(args: &ExplainArgs) -> u8 {
    let lang = args.lang.map_or_else(Lang::from_locale, LangArg::lang);
    let backend = args.backend.drawn();
    let m = match load_valid(&args.file) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let backend_name = match backend {
        Drawn::Wasm => "wasm",
        Drawn::Linux => "linux",
    };
    let mut out = String::new();
    for pod in &m.pods {
        let plan = PodPlan::from_pod(pod, &crate::plan::new_uid(pod), m.dir.clone());
        out.push_str(&match lang {
            Lang::En => format!(
                "# Pod {} (namespace {}): what `wpod run --backend {backend_name}` does with it\n\n",
                plan.name, plan.namespace
            ),
            Lang::Zh => format!(
                "# Pod {}(命名空间 {}):`wpod run --backend {backend_name}` 怎样运行它\n\n",
                plan.name, plan.namespace
            ),
        });
        out.push_str(&explain::render(
            &explain::steps(&plan, backend, lang),
            lang,
        ));
        if backend == Drawn::Wasm {
            for (container, fields) in plan.moot_on_wasm() {
                out.push_str(&match lang {
                    Lang::En => format!(
                        "Container {container}: securityContext {} mean nothing to a WebAssembly guest on this backend; --backend linux applies them.\n\n",
                        fields.join(", ")
                    ),
                    Lang::Zh => format!(
                        "容器 {container}:securityContext 的 {} 对 WebAssembly 程序没有意义;--backend linux 会应用它们。\n\n",
                        fields.join("、")
                    ),
                });
            }
        }
    }
    for w in &m.workloads {
        out.push_str(&workload(w, backend, &m.dir, lang));
    }
    out.push_str(&fields(&m, lang));
    print!("{out}");
    exit::SUCCEEDED
}

/// The manifest at `file`, or the exit code after its errors are printed.
pub(super) fn load_valid(file: &str) -> Result<manifest::Manifest, u8> {
    let m = manifest::load_path(file).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    if m.has_errors() {
        for d in m.errors() {
            eprintln!("{d}");
        }
        eprintln!("{}: invalid: fix the errors above first", m.file);
        return Err(exit::USAGE);
    }
    Ok(m)
}

/// A controller's pod template explained as the pods it makes, or a Service in a few lines.
fn workload(w: &Workload, backend: Drawn, dir: &std::path::Path, lang: Lang) -> String {
    let name = w.metadata().name.clone().unwrap_or_default();
    let header = match w {
        Workload::Deployment(d) => {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            match lang {
                Lang::En => format!(
                    "# Deployment {name}: keeps {replicas} replica(s) of its pod template, through a ReplicaSet; an update rolls out a new ReplicaSet. Each replica is this pod:\n\n"
                ),
                Lang::Zh => format!(
                    "# Deployment {name}:通过 ReplicaSet 保持 {replicas} 个 Pod 副本;更新时滚动创建新的 ReplicaSet。每个副本都是这样的 Pod:\n\n"
                ),
            }
        }
        Workload::ReplicaSet(r) => {
            let replicas = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            match lang {
                Lang::En => format!(
                    "# ReplicaSet {name}: keeps {replicas} replica(s) of its pod template. Each replica is this pod:\n\n"
                ),
                Lang::Zh => format!(
                    "# ReplicaSet {name}:保持 {replicas} 个 Pod 副本。每个副本都是这样的 Pod:\n\n"
                ),
            }
        }
        Workload::Job(j) => {
            let completions = j.spec.as_ref().and_then(|s| s.completions).unwrap_or(1);
            match lang {
                Lang::En => format!(
                    "# Job {name}: runs pods of its template until {completions} of them succeed. Each is this pod:\n\n"
                ),
                Lang::Zh => format!(
                    "# Job {name}:运行模板里的 Pod,直到有 {completions} 个成功。每个都是这样的 Pod:\n\n"
                ),
            }
        }
        Workload::Service(s) => return service(&name, s, lang),
    };
    let Some(pod) = template_pod(w) else {
        return header;
    };
    let plan = PodPlan::from_pod(&pod, &crate::plan::new_uid(&pod), dir.to_path_buf());
    format!(
        "{header}{}",
        explain::render(&explain::steps(&plan, backend, lang), lang)
    )
}

/// A pod as a controller makes it from its template, named as its pods are named.
pub(super) fn template_pod(w: &Workload) -> Option<Pod> {
    let name = w.metadata().name.clone().unwrap_or_default();
    let (template, pod_name) = match w {
        Workload::Deployment(d) => (
            d.spec.as_ref().map(|s| s.template.clone()),
            format!("{name}-<hash>-<random>"),
        ),
        Workload::ReplicaSet(r) => (
            r.spec.as_ref().and_then(|s| s.template.clone()),
            format!("{name}-<random>"),
        ),
        Workload::Job(j) => (
            j.spec.as_ref().map(|s| s.template.clone()),
            format!("{name}-<random>"),
        ),
        Workload::Service(_) => return None,
    };
    let PodTemplateSpec { metadata, spec } = template?;
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(pod_name),
            namespace: w.metadata().namespace.clone(),
            ..metadata.unwrap_or_default()
        },
        spec,
        status: None,
    })
}

fn service(name: &str, s: &k8s_openapi::api::core::v1::Service, lang: Lang) -> String {
    let spec = s.spec.clone().unwrap_or_default();
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let selector: Vec<String> = spec
        .selector
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(crate::diagram::service_port)
        .collect();
    let what = match (lang, headless) {
        (Lang::En, true) => "headless: DNS gives the ready pods' own addresses".to_string(),
        (Lang::En, false) => format!(
            "{kind}: one virtual IP from 10.96.0.0/12, each connection sent to one ready pod"
        ),
        (Lang::Zh, true) => "headless:DNS 直接返回就绪 Pod 的地址".to_string(),
        (Lang::Zh, false) => {
            format!("{kind}:从 10.96.0.0/12 分配一个虚拟 IP,每个连接转发给一个就绪的 Pod")
        }
    };
    match lang {
        Lang::En => format!(
            "# Service {name}: {what}; ports {}; pods selected by {}; name {name}.<namespace>.svc.cluster.local.\n   docs: https://kubernetes.io/docs/concepts/services-networking/service/\n\n",
            ports.join(", "),
            selector.join(",")
        ),
        Lang::Zh => format!(
            "# Service {name}:{what};端口 {};通过 {} 选择 Pod;域名 {name}.<namespace>.svc.cluster.local。\n   文档: https://kubernetes.io/docs/concepts/services-networking/service/\n\n",
            ports.join(", "),
            selector.join(",")
        ),
    }
}

/// The manifest's fields that wpod does not honour as Kubernetes does, where they are written.
fn fields(m: &manifest::Manifest, lang: Lang) -> String {
    let warnings: Vec<String> = m.warnings().map(|d| format!("   - {d}\n")).collect();
    match (lang, warnings.is_empty()) {
        (Lang::En, true) => {
            "# Fields\n   wpod honours every field this manifest sets.\n".to_string()
        }
        (Lang::Zh, true) => {
            "# 字段\n   这个清单里写的每个字段 wpod 都照 Kubernetes 的语义执行。\n".to_string()
        }
        (Lang::En, false) => format!(
            "# Fields\n   wpod honours every field this manifest sets except these, approximated or ignored as each says:\n{}",
            warnings.concat()
        ),
        (Lang::Zh, false) => format!(
            "# 字段\n   除下列字段外,这个清单里写的字段 wpod 都照 Kubernetes 的语义执行;下列字段或近似处理或被忽略,说明如下:\n{}",
            warnings.concat()
        ),
    }
}
