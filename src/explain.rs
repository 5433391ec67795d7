//! `wpod explain`: what wpod will do with a pod, step by step in the order the kubelet does it,
//! each step naming the Kubernetes concept at work and the documentation page that teaches it,
//! in English or Chinese (which keeps the English terms, as Chinese course material does).

use k8s_openapi::api::core::v1::{Container, Volume};

use crate::images::{self, ImageRef};
use crate::lessons::Lang;
use crate::plan::{ContainerPlan, Handler, PodPlan, Probe, RestartPolicy};

/// The backend a plan is explained for: the infra container and the isolation differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Wasm,
    Linux,
}

/// One step: what happens, the concept it shows, where the Kubernetes docs explain it.
pub struct Step {
    pub title: String,
    pub concept: String,
    pub docs: &'static str,
    pub lines: Vec<String>,
}

const DOCS_POD: &str = "https://kubernetes.io/docs/concepts/workloads/pods/";
const DOCS_MULTI: &str =
    "https://kubernetes.io/docs/concepts/workloads/pods/#how-pods-manage-multiple-containers";
const DOCS_VOLUMES: &str = "https://kubernetes.io/docs/concepts/storage/volumes/";
const DOCS_INIT: &str = "https://kubernetes.io/docs/concepts/workloads/pods/init-containers/";
const DOCS_SIDECAR: &str = "https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/";
const DOCS_PROBES: &str =
    "https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/";
const DOCS_LIFECYCLE: &str = "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/";
const DOCS_TERMINATION: &str =
    "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination";
const DOCS_QOS: &str = "https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/";

/// The English or the Chinese of a text.
fn t(lang: Lang, en: impl Into<String>, zh: impl Into<String>) -> String {
    match lang {
        Lang::En => en.into(),
        Lang::Zh => zh.into(),
    }
}

/// The steps for one pod.
pub fn steps(plan: &PodPlan, backend: Backend, lang: Lang) -> Vec<Step> {
    let mut steps = vec![schedule(plan, lang), infra(plan, backend, lang)];
    steps.push(volumes(plan, lang));
    let (sidecars, inits): (Vec<&ContainerPlan>, Vec<&ContainerPlan>) =
        plan.init_containers.iter().partition(|c| c.sidecar);
    if !plan.init_containers.is_empty() {
        steps.push(init_containers(plan, &inits, &sidecars, lang));
    }
    steps.push(app_containers(plan, backend, lang));
    if plan.all_containers().any(has_checks) {
        steps.push(probes_and_hooks(plan, lang));
    }
    steps.push(ending(plan, lang));
    steps.push(stopping(plan, lang));
    steps
}

fn schedule(plan: &PodPlan, lang: Lang) -> Step {
    let n = plan.init_containers.len() + plan.containers.len();
    let spec = plan.manifest.spec.as_ref();
    let mut lines = vec![t(
        lang,
        format!(
            "The pod goes to a node as one unit: its containers ({n}) land on the same machine \
             together, never split. wpod is a single node, `wpod`, so scheduling is only this \
             placement."
        ),
        format!(
            "Pod 作为一个整体被放到节点上:它的容器({n} 个)一定在同一台机器上,不会被拆开。\
             wpod 只有一个节点 `wpod`,所以调度就是把 Pod 放到这里。"
        ),
    )];
    let constraints: Vec<&str> = [
        (
            "nodeSelector",
            spec.is_some_and(|s| s.node_selector.is_some()),
        ),
        ("affinity", spec.is_some_and(|s| s.affinity.is_some())),
        ("tolerations", spec.is_some_and(|s| s.tolerations.is_some())),
        (
            "topologySpreadConstraints",
            spec.is_some_and(|s| s.topology_spread_constraints.is_some()),
        ),
    ]
    .into_iter()
    .filter_map(|(f, set)| set.then_some(f))
    .collect();
    if !constraints.is_empty() {
        lines.push(t(
            lang,
            format!(
                "{} choose among nodes; with one node there is no choice: wpod places the pod on it anyway.",
                constraints.join(", ")
            ),
            format!(
                "{} 是在多个节点之间做选择;只有一个节点时无从选择:wpod 照样把 Pod 放在这个节点上。",
                constraints.join("、")
            ),
        ));
    }
    let qos = plan.qos_class.as_str();
    lines.push(t(
        lang,
        format!("QoS class {qos}, from the containers' requests and limits ({DOCS_QOS})."),
        format!("QoS 类别为 {qos},由各容器的 requests 和 limits 决定({DOCS_QOS})。"),
    ));
    Step {
        title: t(lang, "Schedule the pod", "调度 Pod"),
        concept: t(
            lang,
            "the pod is the atomic unit of scheduling",
            "Pod 是 Kubernetes 的原子调度单位",
        ),
        docs: DOCS_POD,
        lines,
    }
}

fn infra(plan: &PodPlan, backend: Backend, lang: Lang) -> Step {
    let mut lines = vec![t(
        lang,
        "The infra container (image `pause`) starts first, before any container of the pod. \
         It runs nothing but holds the pod's namespaces; the pod lives exactly as long as it does.",
        "Infra 容器(镜像 `pause`)最先启动,早于 Pod 里的任何容器。\
         它什么也不做,只负责 Hold 住 Pod 的 Namespace;Pod 的生命周期与 Infra 容器一致。",
    )];
    if plan.host_network {
        lines.push(t(
            lang,
            "hostNetwork: true: the pod uses the machine's own network instead of a network \
             namespace of its own; its servers bind the host's ports.",
            "hostNetwork: true:Pod 直接使用宿主机的网络,不创建自己的 Network Namespace;\
             容器里的服务直接占用宿主机的端口。",
        ));
    } else {
        lines.push(t(
            lang,
            "It holds the pod's Network Namespace: one IP address (from 10.88.0.0/16, given when \
             the pod starts), one localhost, one set of ports, shared by every container.",
            "它 Hold 住 Pod 的 Network Namespace:一个 IP 地址(启动时从 10.88.0.0/16 分配)、\
             一个 localhost、一套端口,由所有容器共享。",
        ));
    }
    let fqdn = plan
        .hosts
        .domain
        .as_ref()
        .map(|d| format!(" ({}.{d})", plan.hostname))
        .unwrap_or_default();
    let server = plan
        .dns
        .servers
        .first()
        .map(|s| format!(" (nameserver {s})"))
        .unwrap_or_default();
    lines.push(t(
        lang,
        format!(
            "Hostname `{}`{fqdn}; the kubelet writes /etc/hosts and /etc/resolv.conf{server}.",
            plan.hostname
        ),
        format!(
            "主机名 `{}`{fqdn};kubelet 写好 /etc/hosts 和 /etc/resolv.conf{server}。",
            plan.hostname
        ),
    ));
    for (ip, names) in &plan.hosts.aliases {
        lines.push(t(
            lang,
            format!("hostAliases: {} → {ip} in /etc/hosts.", names.join(", ")),
            format!("hostAliases:/etc/hosts 里 {} → {ip}。", names.join("、")),
        ));
    }
    for p in &plan.host_ports {
        lines.push(t(
            lang,
            format!(
                "hostPort: {} on the host forwards to port {} of the pod ({}).",
                p.host, p.container_port, p.protocol
            ),
            format!(
                "hostPort:宿主机上的 {} 转发到 Pod 的 {} 端口({})。",
                p.host, p.container_port, p.protocol
            ),
        ));
    }
    if plan.share_process_namespace {
        lines.push(t(
            lang,
            "shareProcessNamespace: true: it also holds one PID namespace for the whole pod, \
             where it is PID 1; every container sees and can signal the others' processes.",
            "shareProcessNamespace: true:它还 Hold 住整个 Pod 共用的 PID Namespace,\
             自己是 PID 1;每个容器都能看到并向其他容器的进程发信号。",
        ));
    }
    lines.push(match backend {
        Backend::Wasm => t(
            lang,
            "On the wasm backend: a pause WebAssembly instance that owns the pod's place in \
             wpod's virtual pod network.",
            "在 wasm 后端:一个 pause WebAssembly 实例,占有 Pod 在 wpod 虚拟网络中的位置。",
        ),
        Backend::Linux => t(
            lang,
            "On the linux backend: a pause process in new network, IPC and UTS namespaces, \
             its end of a veth pair on the node's bridge.",
            "在 linux 后端:一个 pause 进程,运行在新建的 network、IPC、UTS Namespace 中,\
             通过 veth 连到节点的网桥上。",
        ),
    });
    Step {
        title: t(lang, "Start the infra container", "启动 Infra 容器"),
        concept: t(
            lang,
            "the infra (pause) container holds the pod's network namespace",
            "Infra 容器(pause)Hold 住 Pod 的 Network Namespace",
        ),
        docs: DOCS_MULTI,
        lines,
    }
}

fn volumes(plan: &PodPlan, lang: Lang) -> Step {
    let spec = plan.manifest.spec.as_ref();
    let declared: &[Volume] = spec.and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    let mut lines = Vec::new();
    if declared.is_empty() {
        lines.push(t(
            lang,
            "The pod declares no volumes: each container sees only its own root file system.",
            "Pod 没有声明 Volume:每个容器只能看到自己的根文件系统。",
        ));
    } else {
        lines.push(t(
            lang,
            "Volumes are declared at pod level and made before any container starts; \
             containers share one by mounting it.",
            "Volume 定义在 Pod 层级,在任何容器启动之前准备好;容器通过挂载来共享同一个 Volume。",
        ));
    }
    for v in declared {
        lines.push(format!("{}: {}", v.name, volume_kind(v, lang)));
        let mounts: Vec<String> = plan
            .all_containers()
            .flat_map(|c| {
                c.source
                    .volume_mounts
                    .iter()
                    .flatten()
                    .filter(|m| m.name == v.name)
                    .map(|m| {
                        let ro = if m.read_only == Some(true) {
                            t(lang, " (read-only)", "(只读)")
                        } else {
                            String::new()
                        };
                        format!("{} → {}{ro}", c.name, m.mount_path)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.push(if mounts.is_empty() {
            t(lang, "    mounted by no container", "    没有容器挂载它")
        } else {
            t(
                lang,
                format!("    mounted by {}", mounts.join(", ")),
                format!("    挂载:{}", mounts.join("、")),
            )
        });
    }
    Step {
        title: t(lang, "Set up the pod's volumes", "准备 Pod 的 Volume"),
        concept: t(
            lang,
            "volumes belong to the pod, not to a container",
            "Volume 属于 Pod,而不属于某个容器",
        ),
        docs: DOCS_VOLUMES,
        lines,
    }
}

fn volume_kind(v: &Volume, lang: Lang) -> String {
    if let Some(e) = &v.empty_dir {
        let memory = e.medium.as_deref() == Some("Memory");
        let limit = e
            .size_limit
            .as_ref()
            .map(|q| t(lang, format!(", at most {}", q.0), format!(",上限 {}", q.0)))
            .unwrap_or_default();
        return t(
            lang,
            format!(
                "emptyDir{}: an empty directory made now, kept across container restarts, \
                 deleted with the pod{limit}",
                if memory { " (medium Memory)" } else { "" }
            ),
            format!(
                "emptyDir{}:现在创建的空目录,容器重启时保留,随 Pod 删除{limit}",
                if memory { "(medium Memory)" } else { "" }
            ),
        );
    }
    if let Some(h) = &v.host_path {
        return t(
            lang,
            format!(
                "hostPath {}: this machine's own directory, shared with the host and outliving the pod",
                h.path
            ),
            format!(
                "hostPath {}:宿主机自己的目录,与宿主机共享,Pod 删除后仍然存在",
                h.path
            ),
        );
    }
    if let Some(c) = &v.config_map {
        return t(
            lang,
            format!("configMap {}: one file per key, read-only", c.name.as_str()),
            format!("configMap {}:每个 key 一个文件,只读", c.name.as_str()),
        );
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.as_deref().unwrap_or_default();
        return t(
            lang,
            format!("secret {name}: one file per key, read-only"),
            format!("secret {name}:每个 key 一个文件,只读"),
        );
    }
    if v.downward_api.is_some() {
        return t(
            lang,
            "downwardAPI: files holding the pod's own fields (labels, name, ...), read-only",
            "downwardAPI:存放 Pod 自身字段(labels、name 等)的文件,只读",
        );
    }
    if v.projected.is_some() {
        return t(
            lang,
            "projected: files from several sources in one directory, read-only",
            "projected:把多个来源的文件投射到同一个目录,只读",
        );
    }
    t(
        lang,
        "a kind of volume wpod does not provide: an empty directory stands in for it",
        "wpod 不提供这种 Volume:用一个空目录代替",
    )
}

fn init_containers(
    plan: &PodPlan,
    inits: &[&ContainerPlan],
    sidecars: &[&ContainerPlan],
    lang: Lang,
) -> Step {
    let mut lines = Vec::new();
    if !inits.is_empty() {
        lines.push(t(
            lang,
            "Init containers run one at a time, in order, each to completion: the next starts \
             only after the previous one exited 0.",
            "Init 容器按顺序逐个运行,每个都要运行结束:前一个以 0 退出后,下一个才会启动。",
        ));
        lines.push(match plan.restart_policy {
            RestartPolicy::Never => t(
                lang,
                "restartPolicy Never: a failed init container fails the whole pod.",
                "restartPolicy 为 Never:任何一个 Init 容器失败,整个 Pod 就失败。",
            ),
            _ => t(
                lang,
                "A failed init container is restarted (with back-off) until it succeeds.",
                "失败的 Init 容器会被重启(带退避),直到成功为止。",
            ),
        });
    }
    if !sidecars.is_empty() {
        lines.push(t(
            lang,
            format!(
                "Sidecars (restartPolicy: Always): they start in their place among the init \
                 containers and keep running beside the app containers ({DOCS_SIDECAR})."
            ),
            format!(
                "Sidecar 容器(restartPolicy: Always):按顺序在 Init 容器之间启动,\
                 之后一直与应用容器并行运行({DOCS_SIDECAR})。"
            ),
        ));
    }
    for (i, c) in plan.init_containers.iter().enumerate() {
        let role = if c.sidecar {
            t(lang, " [sidecar]", " [sidecar]")
        } else {
            String::new()
        };
        lines.push(format!("{}. {}{role}: {}", i + 1, c.name, runs(c, lang)));
    }
    Step {
        title: t(lang, "Run the init containers", "运行 Init 容器"),
        concept: t(
            lang,
            "init containers prepare the pod, in order, before the app starts",
            "Init 容器在应用启动前按顺序为 Pod 做准备",
        ),
        docs: DOCS_INIT,
        lines,
    }
}

/// What a container runs: its image and command line.
fn runs(c: &ContainerPlan, lang: Lang) -> String {
    let (image, argv) = match images::resolve(&c.image) {
        ImageRef::Builtin(b) | ImageRef::StandIn(b, _) => {
            let own = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
            let argv = crate::plan::argv(
                c.command.as_deref(),
                c.args.as_deref(),
                &own(b.entrypoint),
                &own(b.cmd),
            );
            let stand_in = match images::resolve(&c.image) {
                ImageRef::StandIn(..) => t(
                    lang,
                    " (the built-in busybox stands in for it)",
                    "(由内置的 busybox 代替)",
                ),
                _ => String::new(),
            };
            (format!("{}{stand_in}", c.image), Some(argv))
        }
        ImageRef::File(_) => (
            c.image.clone(),
            Some(crate::plan::argv(
                c.command.as_deref(),
                c.args.as_deref(),
                &[],
                &[],
            )),
        ),
        ImageRef::Stored(name) => match crate::runtime::images::load_stored(&c.image, &name) {
            Ok(stored) => (
                format!(
                    "{}{}",
                    c.image,
                    t(lang, " (from wpod's image store)", "(来自 wpod 的镜像库)")
                ),
                Some(crate::plan::argv(
                    c.command.as_deref(),
                    c.args.as_deref(),
                    &stored.entrypoint,
                    &stored.cmd,
                )),
            ),
            Err(_) => (
                c.image.clone(),
                c.command.clone().or_else(|| c.args.clone()),
            ),
        },
        ImageRef::Unknown(_) => {
            let policy = crate::pod::image_pull::policy_name(
                c.source.image_pull_policy.as_deref(),
                &c.image,
            );
            (
                format!(
                    "{}{}",
                    c.image,
                    t(
                        lang,
                        format!(
                            " (not on this machine: pulled from its registry when the container \
                             starts, imagePullPolicy {policy})"
                        ),
                        format!("(本机没有:容器启动时从其镜像仓库拉取,imagePullPolicy {policy})"),
                    )
                ),
                c.command.clone().or_else(|| c.args.clone()),
            )
        }
    };
    let command = match argv.filter(|a| !a.is_empty()) {
        Some(argv) => format!("`{}`", argv.join(" ")),
        None => t(lang, "its image's default command", "镜像默认的命令"),
    };
    t(
        lang,
        format!("image {image}, runs {command}"),
        format!("镜像 {image},运行 {command}"),
    )
}

fn app_containers(plan: &PodPlan, backend: Backend, lang: Lang) -> Step {
    let mut lines = vec![if plan.init_containers.is_empty() {
        t(
            lang,
            "The app containers start together, right after the infra container.",
            "应用容器在 Infra 容器之后一起启动。",
        )
    } else {
        t(
            lang,
            "The app containers start together once the init containers are done.",
            "Init 容器完成后,应用容器一起启动。",
        )
    }];
    lines.push(t(
        lang,
        "Each joins the infra container's namespaces: same IP, same localhost, same ports, \
         same hostname.",
        "每个容器都加入 Infra 容器的 Namespace:同一个 IP、同一个 localhost、同一套端口、\
         同一个主机名。",
    ));
    lines.push(if plan.share_process_namespace {
        t(
            lang,
            "Each keeps its own root file system (mount namespace); processes are shared.",
            "每个容器保留自己的根文件系统(Mount Namespace);进程空间是共享的。",
        )
    } else {
        t(
            lang,
            "Each keeps its own root file system (mount namespace) and its own processes (PID \
             namespace): only what the pod shares is shared.",
            "每个容器保留自己的根文件系统(Mount Namespace)和自己的进程(PID Namespace):\
             只共享 Pod 层面共享的东西。",
        )
    });
    lines.push(match backend {
        Backend::Wasm => t(
            lang,
            "On the wasm backend each container is a WebAssembly program run by wasmtime, its \
             sockets in the pod's virtual network.",
            "在 wasm 后端,每个容器是一个由 wasmtime 运行的 WebAssembly 程序,\
             它的 socket 位于 Pod 的虚拟网络中。",
        ),
        Backend::Linux => t(
            lang,
            "On the linux backend each container is a process tree entering the pause process's \
             namespaces, in a cgroup of its own.",
            "在 linux 后端,每个容器是一棵进程树,进入 pause 进程的 Namespace,\
             并拥有自己的 cgroup。",
        ),
    });
    for c in &plan.containers {
        lines.push(format!("{}: {}", c.name, runs(c, lang)));
        let ports = c.declared_ports();
        if !ports.is_empty() {
            lines.push(t(
                lang,
                format!(
                    "    ports {}: for information; any port it listens on is reachable at the pod's IP",
                    ports.join(", ")
                ),
                format!(
                    "    端口 {}:仅作说明;容器监听的任何端口都能通过 Pod IP 访问",
                    ports.join(", ")
                ),
            ));
        }
        if let Some(limit) = memory_limit(&c.source) {
            lines.push(t(
                lang,
                format!("    memory limit {limit}: going over it kills the container (OOMKilled)"),
                format!("    内存上限 {limit}:超过它容器会被杀死(OOMKilled)"),
            ));
        }
        let env = c.source.env.as_ref().map_or(0, Vec::len);
        if env > 0 {
            lines.push(t(
                lang,
                format!(
                    "    {env} environment variable(s) of its own, besides the service variables"
                ),
                format!("    自己的环境变量 {env} 个,另有 Service 环境变量"),
            ));
        }
    }
    Step {
        title: t(lang, "Start the app containers", "启动应用容器"),
        concept: t(
            lang,
            "containers join the infra container's namespaces",
            "容器加入 Infra 容器的 Namespace",
        ),
        docs: DOCS_MULTI,
        lines,
    }
}

fn memory_limit(c: &Container) -> Option<String> {
    let limits = c.resources.as_ref()?.limits.as_ref()?;
    limits.get("memory").map(|q| q.0.clone())
}

fn has_checks(c: &ContainerPlan) -> bool {
    c.startup_probe.is_some()
        || c.liveness_probe.is_some()
        || c.readiness_probe.is_some()
        || c.post_start.is_some()
        || c.pre_stop.is_some()
}

fn probes_and_hooks(plan: &PodPlan, lang: Lang) -> Step {
    let mut lines = Vec::new();
    for c in plan.all_containers().filter(|c| has_checks(c)) {
        let probes = [
            (
                &c.startup_probe,
                "startupProbe",
                t(
                    lang,
                    "the other probes wait until it succeeds; failing it restarts the container",
                    "成功之前其他探针不运行;失败会重启容器",
                ),
            ),
            (
                &c.liveness_probe,
                "livenessProbe",
                t(lang, "failing it restarts the container", "失败会重启容器"),
            ),
            (
                &c.readiness_probe,
                "readinessProbe",
                t(
                    lang,
                    "failing it takes the pod out of its Services (not Ready), nothing is restarted",
                    "失败会让 Pod 不再 Ready,从 Service 中摘除,但不会重启",
                ),
            ),
        ];
        for (probe, name, meaning) in probes {
            if let Some(p) = probe {
                lines.push(format!(
                    "{}: {name} {}: {meaning}",
                    c.name,
                    probe_text(p, lang)
                ));
            }
        }
        if let Some(h) = &c.post_start {
            lines.push(t(
                lang,
                format!(
                    "{}: postStart {}: runs right after the container starts; it is not Running until the hook is done",
                    c.name,
                    h.describe()
                ),
                format!(
                    "{}:postStart {}:容器启动后立即运行;钩子完成前容器不算 Running",
                    c.name,
                    h.describe()
                ),
            ));
        }
        if let Some(h) = &c.pre_stop {
            lines.push(t(
                lang,
                format!(
                    "{}: preStop {}: runs before the container is sent TERM, within the grace period",
                    c.name,
                    h.describe()
                ),
                format!(
                    "{}:preStop {}:在向容器发送 TERM 之前运行,计入宽限期",
                    c.name,
                    h.describe()
                ),
            ));
        }
    }
    Step {
        title: t(
            lang,
            "Probe the containers, run their hooks",
            "探测容器,运行生命周期钩子",
        ),
        concept: t(
            lang,
            "the kubelet checks containers and tells them about their lifecycle",
            "kubelet 检查容器的健康,并通知它们生命周期事件",
        ),
        docs: DOCS_PROBES,
        lines,
    }
}

fn probe_text(p: &Probe, lang: Lang) -> String {
    let how = match &p.handler {
        Handler::Grpc { .. } => t(
            lang,
            " (not run by wpod: always succeeds)",
            "(wpod 不运行:总是成功)",
        ),
        _ => String::new(),
    };
    let tm = &p.timings;
    t(
        lang,
        format!(
            "{}{how}, every {}s after {}s, {} failure(s) in a row count",
            p.handler.describe(),
            tm.period.as_secs(),
            tm.initial_delay.as_secs(),
            tm.failure_threshold
        ),
        format!(
            "{}{how},{} 秒后开始,每 {} 秒一次,连续失败 {} 次才算失败",
            p.handler.describe(),
            tm.initial_delay.as_secs(),
            tm.period.as_secs(),
            tm.failure_threshold
        ),
    )
}

fn ending(plan: &PodPlan, lang: Lang) -> Step {
    let mut lines = vec![match plan.restart_policy {
        RestartPolicy::Always => t(
            lang,
            "restartPolicy Always: a container that exits is started again (back-off 10 s, \
             doubling up to 5 min); the pod never ends by itself: it runs until it is stopped.",
            "restartPolicy 为 Always:退出的容器会被重新启动(退避 10 秒起,翻倍直到 5 分钟);\
             Pod 不会自己结束,一直运行到被停止。",
        ),
        RestartPolicy::OnFailure => t(
            lang,
            "restartPolicy OnFailure: a container that fails is started again; the pod \
             Succeeds once every app container has exited 0.",
            "restartPolicy 为 OnFailure:失败的容器会被重新启动;所有应用容器都以 0 退出后,\
             Pod 进入 Succeeded。",
        ),
        RestartPolicy::Never => t(
            lang,
            "restartPolicy Never: nothing is restarted; once every app container has exited the \
             pod Succeeds if all exited 0, and Fails otherwise.",
            "restartPolicy 为 Never:不重启任何容器;所有应用容器退出后,全部为 0 则 Pod \
             Succeeded,否则 Failed。",
        ),
    }];
    if let Some(d) = plan.active_deadline {
        lines.push(t(
            lang,
            format!(
                "activeDeadlineSeconds: after {}s the pod is stopped and Failed (DeadlineExceeded).",
                d.as_secs()
            ),
            format!(
                "activeDeadlineSeconds:{} 秒后 Pod 被停止并进入 Failed(DeadlineExceeded)。",
                d.as_secs()
            ),
        ));
    }
    lines.push(t(
        lang,
        "If the infra container dies, the pod's sandbox is gone: the kubelet kills the \
         containers, makes a new sandbox (SandboxChanged) and starts them again as \
         restartPolicy allows.",
        "如果 Infra 容器死掉,Pod 的沙箱就没了:kubelet 杀掉所有容器,重建沙箱(SandboxChanged),\
         再按 restartPolicy 重新启动容器。",
    ));
    Step {
        title: t(lang, "What ends the pod", "Pod 何时结束"),
        concept: t(
            lang,
            "the pod's lifecycle and phases",
            "Pod 的生命周期与 phase",
        ),
        docs: DOCS_LIFECYCLE,
        lines,
    }
}

fn stopping(plan: &PodPlan, lang: Lang) -> Step {
    let grace = plan.grace_period.as_secs();
    let mut lines = vec![t(
        lang,
        format!(
            "On Ctrl-C (or a delete): preStop hooks run, then each container gets TERM; one \
             still running after the grace period of {grace}s gets KILL (exit code 137)."
        ),
        format!(
            "按下 Ctrl-C(或删除 Pod)时:先运行 preStop 钩子,再向每个容器发送 TERM;\
             宽限期 {grace} 秒后仍在运行的容器收到 KILL(退出码 137)。"
        ),
    )];
    if plan.init_containers.iter().any(|c| c.sidecar) {
        lines.push(t(
            lang,
            "Sidecars are stopped after the app containers, in reverse order.",
            "Sidecar 容器在应用容器之后按相反顺序停止。",
        ));
    }
    lines.push(t(
        lang,
        "The infra container stops last; the pod's network and its emptyDir volumes go with it.",
        "Infra 容器最后停止;Pod 的网络和 emptyDir Volume 随之删除。",
    ));
    Step {
        title: t(lang, "Stop the pod", "停止 Pod"),
        concept: t(
            lang,
            "graceful termination",
            "优雅终止(graceful termination)",
        ),
        docs: DOCS_TERMINATION,
        lines,
    }
}

/// The steps as text: numbered, each with its concept and docs page.
pub fn render(steps: &[Step], lang: Lang) -> String {
    let (concept, docs) = match lang {
        Lang::En => ("concept", "docs"),
        Lang::Zh => ("概念", "文档"),
    };
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, s.title));
        out.push_str(&format!(
            "   {concept}: {}\n   {docs}: {}\n",
            s.concept, s.docs
        ));
        for line in &s.lines {
            // An indented line continues the item above it.
            match line.strip_prefix("    ") {
                Some(more) => out.push_str(&format!("     {more}\n")),
                None => out.push_str(&format!("   - {line}\n")),
            }
        }
        out.push('\n');
    }
    out
}
