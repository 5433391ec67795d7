//! The inside of a pod, drawn: the infra container and the namespaces it holds, each container
//! joined to it with what it shares and what it keeps, the pod-level volumes and where each is
//! mounted, published ports and the Services in front. In the terminal with box drawing, and
//! as SVG for slides; labels in English or Chinese.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use unicode_width::UnicodeWidthStr;

use crate::explain::Backend;
use crate::lessons::Lang;
use crate::plan::{ContainerKind, PodPlan};

/// What is drawn for one pod.
pub struct Diagram {
    pub pod: String,
    pub namespace: String,
    /// The pod's address; None before it runs (it is given when the sandbox starts).
    pub ip: Option<String>,
    pub hostname: String,
    pub host_network: bool,
    /// The namespaces the infra container holds: kind, and its id when the pod runs on linux.
    pub infra: Vec<(String, Option<String>)>,
    /// The infra's process, when the pod runs on linux (what `nsenter -t PID` takes).
    pub infra_pid: Option<String>,
    /// What every container shares with the infra, and what each keeps to itself.
    pub shared: Vec<&'static str>,
    pub own: Vec<&'static str>,
    pub containers: Vec<Member>,
    pub volumes: Vec<(String, String)>,
    /// `hostIP:hostPort → containerPort/proto`.
    pub host_ports: Vec<String>,
    /// Services whose selector picks this pod: `name ClusterIP port→target`.
    pub services: Vec<String>,
    pub lang: Lang,
}

/// One container of the pod.
pub struct Member {
    pub name: String,
    pub image: String,
    pub role: Role,
    pub ports: Vec<String>,
    /// (volume, mount path, read-only).
    pub mounts: Vec<(String, String, bool)>,
    /// The ids of the namespaces it keeps to itself, when it runs on linux: (kind, id).
    pub own_ids: Vec<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    Sidecar,
    App,
}

impl Diagram {
    /// The pod as its plan says it will be; `services` are the manifest's, to find those in front.
    pub fn of(plan: &PodPlan, backend: Backend, services: &[Service], lang: Lang) -> Diagram {
        let share_pid = plan.share_process_namespace;
        let (mut shared, mut own) = match backend {
            Backend::Linux => (vec!["net", "ipc", "uts"], vec!["mnt"]),
            Backend::Wasm => (vec!["net", "uts"], vec!["mnt"]),
        };
        if plan.host_network {
            shared.retain(|n| *n != "net");
        }
        if share_pid {
            shared.push("pid");
        } else {
            own.push("pid");
        }
        let infra = shared.iter().map(|n| (n.to_string(), None)).collect();
        let volumes = plan
            .manifest
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .into_iter()
            .flatten()
            .map(|v| (v.name.clone(), volume_kind(v)))
            .collect();
        let containers = plan
            .all_containers()
            .map(|c| Member {
                name: c.name.clone(),
                image: c.image.clone(),
                role: match (c.kind, c.sidecar) {
                    (_, true) => Role::Sidecar,
                    (ContainerKind::Init, false) => Role::Init,
                    (ContainerKind::App, false) => Role::App,
                },
                ports: c.declared_ports(),
                mounts: c
                    .source
                    .volume_mounts
                    .iter()
                    .flatten()
                    .map(|m| {
                        (
                            m.name.clone(),
                            m.mount_path.clone(),
                            m.read_only == Some(true),
                        )
                    })
                    .collect(),
                own_ids: Vec::new(),
            })
            .collect();
        let labels = plan.manifest.metadata.labels.clone().unwrap_or_default();
        Diagram {
            pod: plan.name.clone(),
            namespace: plan.namespace.clone(),
            ip: None,
            hostname: plan.hostname.clone(),
            host_network: plan.host_network,
            infra,
            infra_pid: None,
            shared,
            own,
            containers,
            volumes,
            host_ports: plan
                .host_ports
                .iter()
                .map(|p| format!("{} → {}/{}", p.host, p.container_port, p.protocol))
                .collect(),
            services: services
                .iter()
                .filter(|s| selects(s, &labels, &plan.namespace))
                .map(service_label)
                .collect(),
            lang,
        }
    }

    /// The running pod's namespace ids (as the runtime gives them: `net:[4026532179]`) on what
    /// the infra holds and on what each container keeps to itself, and the infra's PID.
    pub fn with_namespaces(
        &mut self,
        infra: &[(String, String)],
        containers: &[(String, Vec<(String, String)>)],
    ) {
        for (kind, id) in &mut self.infra {
            *id = id_of(infra, kind);
        }
        self.infra_pid = infra
            .iter()
            .find(|(k, _)| k == "pause pid")
            .map(|(_, v)| v.clone());
        for m in &mut self.containers {
            if let Some((_, ns)) = containers.iter().find(|(name, _)| *name == m.name) {
                m.own_ids = self
                    .own
                    .iter()
                    .filter_map(|k| id_of(ns, k).map(|id| (k.to_string(), id)))
                    .collect();
            }
        }
    }

    /// The Services in front of the running pod, as the node's proxy routes them: those whose
    /// endpoints include it, with the port each sends to and whether the pod gets traffic.
    pub fn front_live(&mut self, services: &[crate::net::services::Service]) {
        let mut front = Vec::new();
        for s in services.iter().filter(|s| s.namespace == self.namespace) {
            let Some(e) = s.endpoints.iter().find(|e| e.pod == self.pod) else {
                continue;
            };
            let address = s.cluster_ip.map_or_else(
                || self.t("headless", "Headless").to_string(),
                |ip| ip.to_string(),
            );
            let ports: Vec<String> = s
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let to = e.targets.get(i).copied().flatten();
                    let mut label = match to {
                        Some(t) => format!("{}→{t}", p.port),
                        None => p.port.to_string(),
                    };
                    if let Some(n) = p.node_port {
                        label.push_str(&format!(" (NodePort {n})"));
                    }
                    label
                })
                .collect();
            let mut label = format!("{} {address} {}", s.name, ports.join(" "));
            if !e.ready {
                label.push_str(self.t(" · not ready: gets no traffic", " · 未就绪:不接收流量"));
            }
            front.push(label);
        }
        self.services = front;
    }

    fn t<'a>(&self, en: &'a str, zh: &'a str) -> &'a str {
        match self.lang {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    fn address(&self) -> String {
        if self.host_network {
            return self
                .t(
                    "the host's network (hostNetwork)",
                    "宿主机的网络(hostNetwork)",
                )
                .into();
        }
        match &self.ip {
            Some(ip) => format!("IP {ip}"),
            None => self
                .t("IP given when the pod starts", "IP 在 Pod 启动时分配")
                .into(),
        }
    }

    fn holds(&self) -> String {
        self.infra
            .iter()
            .map(|(kind, id)| match id {
                Some(id) => format!("{kind}:[{id}]"),
                None => kind.clone(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn infra_title(&self) -> String {
        let title = format!("{} · pause", self.t("infra container", "Infra 容器"));
        match &self.infra_pid {
            Some(pid) => format!("{title} · PID {pid}"),
            None => title,
        }
    }

    fn role_label(&self, role: Role) -> &'static str {
        match (role, self.lang) {
            (Role::Init, Lang::En) => "init",
            (Role::Init, Lang::Zh) => "Init 容器",
            (Role::Sidecar, Lang::En) => "sidecar",
            (Role::Sidecar, Lang::Zh) => "Sidecar",
            (Role::App, _) => "",
        }
    }

    /// The lines of one container, after its title.
    fn member_lines(&self, c: &Member) -> Vec<String> {
        let mut lines = vec![format!(
            "{} {}",
            self.t("joins:", "加入:"),
            self.shared.join(" ")
        )];
        if c.own_ids.is_empty() {
            lines.push(format!(
                "{} {}",
                self.t("own:", "独有:"),
                self.own.join(" ")
            ));
        } else {
            for (kind, id) in &c.own_ids {
                lines.push(format!("{} {kind}:[{id}]", self.t("own:", "独有:")));
            }
        }
        if !c.ports.is_empty() {
            lines.push(format!(
                "{} {}",
                self.t("ports:", "端口:"),
                c.ports.join(" ")
            ));
        }
        for (volume, path, ro) in &c.mounts {
            let ro = if *ro {
                self.t(" (read-only)", "(只读)")
            } else {
                ""
            };
            lines.push(format!("{path} ← {volume}{ro}"));
        }
        lines
    }

    fn member_title(&self, c: &Member) -> String {
        let role = self.role_label(c.role);
        if role.is_empty() {
            format!("{} · {}", c.name, c.image)
        } else {
            format!("{} · {} [{role}]", c.name, c.image)
        }
    }

    /// Box drawing for a terminal.
    pub fn text(&self) -> String {
        let mut body: Vec<String> = Vec::new();
        for s in &self.services {
            body.push(format!("▼ Service {s}"));
        }
        for p in &self.host_ports {
            body.push(format!("▼ hostPort {p}"));
        }
        let infra = [
            self.infra_title(),
            format!(
                "Network Namespace: {} · localhost · {}",
                self.address(),
                self.t("one port space", "同一套端口")
            ),
            format!("{} {}", self.t("hostname", "主机名"), self.hostname),
            format!("{} {}", self.t("holds:", "持有:"), self.holds()),
        ];
        body.extend(framed(&infra, 1));
        for (i, c) in self.containers.iter().enumerate() {
            let last = i + 1 == self.containers.len();
            let (branch, rail) = if last {
                ("└─", "  ")
            } else {
                ("├─", "│ ")
            };
            body.push(format!("  {branch} {}", self.member_title(c)));
            for l in self.member_lines(c) {
                body.push(format!("  {rail}    {l}"));
            }
        }
        if !self.volumes.is_empty() {
            body.push(
                self.t("volumes (pod level):", "Volume(Pod 层级):")
                    .to_string(),
            );
            for (name, kind) in &self.volumes {
                let users: Vec<&str> = self
                    .containers
                    .iter()
                    .filter(|c| c.mounts.iter().any(|(v, _, _)| v == name))
                    .map(|c| c.name.as_str())
                    .collect();
                body.push(format!(
                    "  {name} ({kind}) → {}",
                    if users.is_empty() {
                        "-".to_string()
                    } else {
                        users.join(", ")
                    }
                ));
            }
        }
        let title = format!(
            "Pod {} · {} {}",
            self.pod,
            self.t("namespace", "命名空间"),
            self.namespace
        );
        let mut out = String::new();
        for l in framed_lines(&title, &body) {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    /// An SVG drawing: Services and host ports on top, the pod around the infra container, its
    /// containers joined to it below, and the volumes at the bottom wired to where they are mounted.
    pub fn svg(&self) -> String {
        const PAD: f64 = 20.0;
        const LINE: f64 = 18.0;
        const BOX_W: f64 = 250.0;
        const GAP: f64 = 24.0;
        let n = self.containers.len().max(1) as f64;
        let width = (PAD * 2.0 + n * BOX_W + (n - 1.0) * GAP).max(640.0);
        let mut svg = Svg::default();
        let mut y = PAD;
        // What is in front of the pod.
        let front: Vec<String> = self
            .services
            .iter()
            .map(|s| format!("Service {s}"))
            .chain(self.host_ports.iter().map(|p| format!("hostPort {p}")))
            .collect();
        for f in &front {
            svg.rect(PAD, y, width - 2.0 * PAD, LINE + 10.0, "front", None);
            svg.text(PAD + 10.0, y + LINE, f, "label");
            y += LINE + 16.0;
        }
        let pod_top = y;
        // The infra container.
        let infra_top = pod_top + 36.0;
        let infra_lines = [
            format!(
                "Network Namespace: {} · localhost · {}",
                self.address(),
                self.t("one port space", "同一套端口")
            ),
            format!("{} {}", self.t("hostname", "主机名"), self.hostname),
            format!("{} {}", self.t("holds:", "持有:"), self.holds()),
        ];
        let infra_h = 30.0 + LINE * infra_lines.len() as f64;
        svg.rect(
            PAD * 2.0,
            infra_top,
            width - 4.0 * PAD,
            infra_h,
            "infra",
            None,
        );
        svg.text(
            PAD * 2.0 + 10.0,
            infra_top + 20.0,
            &self.infra_title(),
            "title",
        );
        for (i, l) in infra_lines.iter().enumerate() {
            svg.text(
                PAD * 2.0 + 10.0,
                infra_top + 20.0 + LINE * (i as f64 + 1.0),
                l,
                "label",
            );
        }
        // The containers, joined to the infra.
        let row_top = infra_top + infra_h + 56.0;
        let tallest = self
            .containers
            .iter()
            .map(|c| self.member_lines(c).len())
            .max()
            .unwrap_or(0) as f64;
        let box_h = 30.0 + LINE * tallest + 10.0;
        let inner = width - 2.0 * PAD;
        let box_w = ((inner - 2.0 * PAD - (n - 1.0) * GAP) / n).min(BOX_W * 1.6);
        let row_w = n * box_w + (n - 1.0) * GAP;
        let row_x = (width - row_w) / 2.0;
        let mut centers: BTreeMap<&str, f64> = BTreeMap::new();
        for (i, c) in self.containers.iter().enumerate() {
            let x = row_x + i as f64 * (box_w + GAP);
            let cx = x + box_w / 2.0;
            centers.insert(&c.name, cx);
            svg.line(cx, infra_top + infra_h, cx, row_top, "join", false);
            svg.text(
                cx + 6.0,
                infra_top + infra_h + 32.0,
                &format!("{} {}", self.t("joins", "加入"), self.shared.join(" ")),
                "small",
            );
            let class = match c.role {
                Role::App => "container",
                Role::Init | Role::Sidecar => "init",
            };
            svg.rect(x, row_top, box_w, box_h, class, None);
            let fit = |text: &str, px: f64| fit(text, (box_w - 20.0) / px);
            svg.text(
                x + 10.0,
                row_top + 20.0,
                &fit(&self.member_title(c), 8.5),
                "title",
            );
            for (j, l) in self.member_lines(c).iter().enumerate() {
                let y = row_top + 20.0 + LINE * (j as f64 + 1.0);
                svg.text(x + 10.0, y, &fit(l, 7.5), "label");
            }
        }
        // The volumes, wired to each container that mounts them.
        let vol_top = row_top + box_h + 60.0;
        let nv = self.volumes.len() as f64;
        let vol_w = if nv > 0.0 {
            ((inner - 2.0 * PAD - (nv - 1.0) * GAP) / nv).min(BOX_W)
        } else {
            0.0
        };
        let vols_x = (width - (nv * vol_w + (nv - 1.0).max(0.0) * GAP)) / 2.0;
        for (i, (name, kind)) in self.volumes.iter().enumerate() {
            let x = vols_x + i as f64 * (vol_w + GAP);
            let vx = x + vol_w / 2.0;
            for c in &self.containers {
                for (_, _, ro) in c.mounts.iter().filter(|(v, _, _)| v == name) {
                    if let Some(cx) = centers.get(c.name.as_str()) {
                        svg.line(*cx, row_top + box_h, vx, vol_top, "mount", *ro);
                    }
                }
            }
            svg.rect(x, vol_top, vol_w, 46.0, "volume", None);
            svg.text(
                x + 10.0,
                vol_top + 20.0,
                &fit(name, (vol_w - 20.0) / 8.5),
                "title",
            );
            svg.text(x + 10.0, vol_top + 38.0, kind, "small");
        }
        let pod_bottom = if nv > 0.0 {
            vol_top + 46.0 + PAD
        } else {
            row_top + box_h + PAD
        };
        let caption = format!(
            "Pod {} · {} {}",
            self.pod,
            self.t("namespace", "命名空间"),
            self.namespace
        );
        svg.rect(
            PAD,
            pod_top,
            width - 2.0 * PAD,
            pod_bottom - pod_top,
            "pod",
            Some(0),
        );
        svg.text(PAD + 10.0, pod_top + 22.0, &caption, "pod-title");
        if nv > 0.0 {
            svg.text(
                PAD + 10.0,
                vol_top - 10.0,
                self.t("volumes (pod level)", "Volume(Pod 层级)"),
                "small",
            );
        }
        svg.finish(width, pod_bottom + PAD)
    }
}

/// Lines framed in a light box, indented by `indent` spaces.
fn framed(lines: &[String], indent: usize) -> Vec<String> {
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(0);
    let pad = " ".repeat(indent);
    let mut out = vec![format!("{pad}┌{}┐", "─".repeat(w + 2))];
    for l in lines {
        out.push(format!("{pad}│ {l}{} │", " ".repeat(w - l.width())));
    }
    out.push(format!("{pad}└{}┘", "─".repeat(w + 2)));
    out
}

/// The pod's heavy frame with its title in the top edge.
fn framed_lines(title: &str, body: &[String]) -> Vec<String> {
    let w = body
        .iter()
        .map(|l| l.width())
        .max()
        .unwrap_or(0)
        .max(title.width() + 2);
    let mut out = vec![format!(
        "╔═ {title} {}╗",
        "═".repeat(w + 2 - title.width() - 3)
    )];
    for l in body {
        out.push(format!("║ {}{} ║", l, " ".repeat(w - l.width())));
    }
    out.push(format!("╚{}╝", "═".repeat(w + 2)));
    out
}

fn volume_kind(v: &k8s_openapi::api::core::v1::Volume) -> String {
    let kinds = [
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("configMap", v.config_map.is_some()),
        ("secret", v.secret.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("projected", v.projected.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
    ];
    kinds
        .iter()
        .find(|(_, set)| *set)
        .map_or("volume", |(k, _)| k)
        .to_string()
}

/// `4026532179` from the runtime's `net:[4026532179]` for kind `net`.
fn id_of(list: &[(String, String)], kind: &str) -> Option<String> {
    let (_, value) = list.iter().find(|(k, _)| k == kind)?;
    let bare = value
        .strip_prefix(kind)
        .and_then(|v| v.strip_prefix(":["))
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    Some(bare.to_string())
}

fn selects(s: &Service, labels: &BTreeMap<String, String>, namespace: &str) -> bool {
    let ns = s.metadata.namespace.as_deref().unwrap_or("default");
    let selector = s.spec.as_ref().and_then(|sp| sp.selector.as_ref());
    ns == namespace
        && selector
            .is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A Service port as `80→8080` (`80→http` for a named target, `80` without one).
pub fn service_port(p: &k8s_openapi::api::core::v1::ServicePort) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match &p.target_port {
        Some(IntOrString::Int(t)) => format!("{}→{t}", p.port),
        Some(IntOrString::String(t)) => format!("{}→{t}", p.port),
        None => p.port.to_string(),
    }
}

fn service_label(s: &Service) -> String {
    let name = s.metadata.name.clone().unwrap_or_default();
    let spec = s.spec.clone().unwrap_or_default();
    let ports: Vec<String> = spec.ports.iter().flatten().map(service_port).collect();
    format!(
        "{name} ({}) {}",
        spec.type_.as_deref().unwrap_or("ClusterIP"),
        ports.join(" ")
    )
}

/// A small SVG writer: elements in drawing order, the pod's frame behind everything.
#[derive(Default)]
struct Svg {
    back: Vec<String>,
    body: Vec<String>,
}

impl Svg {
    /// A rectangle; `layer` Some(0) draws it behind everything drawn so far.
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str, layer: Option<u8>) {
        let e = format!(
            r#"<rect class="{class}" x="{x:.0}" y="{y:.0}" width="{w:.0}" height="{h:.0}" rx="8"/>"#
        );
        match layer {
            Some(_) => self.back.push(e),
            None => self.body.push(e),
        }
    }

    fn text(&mut self, x: f64, y: f64, text: &str, class: &str) {
        self.body.push(format!(
            r#"<text class="{class}" x="{x:.0}" y="{y:.0}">{}</text>"#,
            escape(text)
        ));
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str, dashed: bool) {
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        self.body.push(format!(
            r#"<line class="{class}" x1="{x1:.0}" y1="{y1:.0}" x2="{x2:.0}" y2="{y2:.0}"{dash}/>"#
        ));
    }

    fn finish(self, width: f64, height: f64) -> String {
        let mut out = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="wpod-diagram" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">
<style>
.wpod-diagram text {{ font-family: "DejaVu Sans", "Noto Sans CJK SC", "Noto Sans", sans-serif; fill: #1f2933; stroke: none; }}
.wpod-diagram .title {{ font-size: 14px; font-weight: bold; }}
.wpod-diagram .pod-title {{ font-size: 16px; font-weight: bold; fill: #243b53; }}
.wpod-diagram .label {{ font-size: 13px; }}
.wpod-diagram .small {{ font-size: 11px; fill: #52606d; }}
.wpod-diagram .pod {{ fill: #f0f4f8; stroke: #243b53; stroke-width: 2; }}
.wpod-diagram .infra {{ fill: #fff3c4; stroke: #b44d12; stroke-width: 2; }}
.wpod-diagram .container {{ fill: #e3f8ff; stroke: #0b69a3; stroke-width: 1.5; }}
.wpod-diagram .init {{ fill: #f0e6ff; stroke: #6b21a8; stroke-width: 1.5; }}
.wpod-diagram .volume {{ fill: #e3f9e5; stroke: #207227; stroke-width: 1.5; }}
.wpod-diagram .front {{ fill: #ffe3e3; stroke: #ab091e; stroke-width: 1.5; }}
.wpod-diagram .join {{ stroke: #b44d12; stroke-width: 2; }}
.wpod-diagram .mount {{ stroke: #207227; stroke-width: 1.5; }}
</style>
"#
        );
        for e in self.back.iter().chain(&self.body) {
            out.push_str(e);
            out.push('\n');
        }
        out.push_str("</svg>\n");
        out
    }
}

/// `text` cut to about `columns` average characters (CJK count double), with an ellipsis.
fn fit(text: &str, columns: f64) -> String {
    let max = columns.max(4.0) as usize;
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for ch in text.chars() {
        if out.width() + 2 > max {
            break;
        }
        out.push(ch);
    }
    out.push('…');
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_containers() -> PodPlan {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [
                {"name": "nginx", "image": "nginx"},
                {"name": "sidecar", "image": "busybox"},
            ]},
        }))
        .expect("a valid pod");
        PodPlan::from_pod(&pod, "", std::path::PathBuf::new())
    }

    fn ns(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_running_linux_pod_shows_its_namespace_ids_and_the_infra_pid() {
        let mut d = Diagram::of(&two_containers(), Backend::Linux, &[], Lang::En);
        let infra = ns(&[
            ("pause pid", "4242"),
            ("net", "net:[4026532179]"),
            ("ipc", "ipc:[4026532177]"),
            ("uts", "uts:[4026532176]"),
            ("mnt", "mnt:[4026532175]"),
        ]);
        let nginx = ns(&[
            ("net", "net:[4026532179]"),
            ("mnt", "mnt:[4026532301]"),
            ("pid", "pid:[4026532302]"),
        ]);
        d.with_namespaces(&infra, &[("nginx".to_string(), nginx)]);
        let text = d.text();
        assert!(text.contains("pause · PID 4242"), "{text}");
        assert!(
            text.contains("net:[4026532179] ipc:[4026532177] uts:[4026532176]"),
            "{text}"
        );
        assert!(text.contains("own: mnt:[4026532301]"), "{text}");
        assert!(text.contains("own: pid:[4026532302]"), "{text}");
        // The sidecar runs no instance the runtime told of: its line stays without ids.
        assert!(text.contains("own: mnt pid"), "{text}");
        assert!(d.svg().contains("PID 4242"));
    }

    #[test]
    fn a_pod_not_yet_running_is_drawn_without_ids() {
        let d = Diagram::of(&two_containers(), Backend::Linux, &[], Lang::Zh);
        let text = d.text();
        assert!(text.contains("持有: net ipc uts"), "{text}");
        assert!(!text.contains("PID"), "{text}");
    }
}
