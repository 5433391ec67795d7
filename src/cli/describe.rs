//! `wpod run --describe`: a `kubectl describe pod` summary of each pod once it ended, from its
//! final status and the events recorded while it ran. Layout follows kubectl's describe.go
//! (the same sections, field names and probe syntax, aligned like Go's tabwriter).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1 as api;
use k8s_openapi::jiff::Timestamp;

use crate::plan::{Handler, Timings};
use crate::pod::Phase;
use crate::pod::events::{Event, EventSink};
use crate::pod::status::Terminated;

/// Passes events on and keeps them per pod, for the summary.
pub struct EventLog {
    inner: Arc<dyn EventSink>,
    events: Mutex<HashMap<String, Vec<Event>>>,
}

impl EventLog {
    pub fn new(inner: Arc<dyn EventSink>) -> Self {
        EventLog {
            inner,
            events: Mutex::new(HashMap::new()),
        }
    }

    pub fn of(&self, pod: &str) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.get(pod).cloned().unwrap_or_default()
    }
}

impl EventSink for EventLog {
    fn event(&self, pod: &str, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(pod.to_string())
            .or_default()
            .push(event.clone());
        self.inner.event(pod, event);
    }

    fn phase(&self, pod: &str, from: Option<Phase>, to: Phase) {
        self.inner.phase(pod, from, to);
    }

    fn exited(&self, pod: &str, container: &str, how: &Terminated) {
        self.inner.exited(pod, container, how);
    }
}

/// Lines with tab-separated cells, aligned on output.
#[derive(Default)]
struct Out {
    lines: Vec<String>,
}

impl Out {
    fn w(&mut self, level: usize, text: impl AsRef<str>) {
        let indent = "  ".repeat(level);
        for line in text.as_ref().split_terminator('\n') {
            self.lines.push(format!("{indent}{line}"));
        }
    }
}

/// The pod as `kubectl describe pod` shows it, `now` being the time ages are counted to.
pub fn describe(pod: &api::Pod, events: &[Event], now: Timestamp) -> String {
    let mut o = Out::default();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    o.w(0, format!("Name:\t{}", meta.name.as_deref().unwrap_or("")));
    o.w(
        0,
        format!(
            "Namespace:\t{}",
            meta.namespace.as_deref().unwrap_or("default")
        ),
    );
    o.w(0, "Priority:\t0");
    o.w(
        0,
        format!(
            "Service Account:\t{}",
            spec.service_account_name.as_deref().unwrap_or("default")
        ),
    );
    o.w(
        0,
        format!(
            "Node:\t{}/{}",
            spec.node_name.as_deref().unwrap_or("<none>"),
            status.host_ip.as_deref().unwrap_or("")
        ),
    );
    if let Some(t) = &status.start_time {
        o.w(0, format!("Start Time:\t{}", rfc1123z(t.0)));
    }
    map_lines(&mut o, "Labels", meta.labels.as_ref());
    map_lines(&mut o, "Annotations", meta.annotations.as_ref());
    o.w(
        0,
        format!("Status:\t{}", status.phase.as_deref().unwrap_or("")),
    );
    if let Some(r) = &status.reason {
        o.w(0, format!("Reason:\t{r}"));
    }
    if let Some(m) = &status.message {
        o.w(0, format!("Message:\t{m}"));
    }
    o.w(
        0,
        format!("IP:\t{}", status.pod_ip.as_deref().unwrap_or("")),
    );
    match status.pod_ips.as_deref() {
        Some(ips) if !ips.is_empty() => {
            o.w(0, "IPs:");
            for ip in ips {
                o.w(1, format!("IP:\t{}", ip.ip));
            }
        }
        _ => o.w(0, "IPs:\t<none>"),
    }
    if let Some(init) = spec.init_containers.as_ref().filter(|c| !c.is_empty()) {
        containers(
            &mut o,
            "Init Containers",
            init,
            status.init_container_statuses.as_deref(),
        );
    }
    containers(
        &mut o,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref(),
    );
    if let Some(conditions) = status.conditions.as_ref().filter(|c| !c.is_empty()) {
        o.w(0, "Conditions:");
        o.w(1, "Type\tStatus");
        for c in conditions {
            o.w(1, format!("{} \t{} ", c.type_, c.status));
        }
    }
    volumes(&mut o, spec.volumes.as_deref().unwrap_or_default());
    o.w(
        0,
        format!("QoS Class:\t{}", status.qos_class.as_deref().unwrap_or("")),
    );
    map_lines(&mut o, "Node-Selectors", spec.node_selector.as_ref());
    o.w(0, "Tolerations:\t<none>");
    let mut text = align(&o.lines);
    // kubectl flushes its tabwriter before the events: the table is aligned on its own.
    text.push_str(&align(&events_table(events, now)));
    text
}

fn map_lines(o: &mut Out, title: &str, map: Option<&BTreeMap<String, String>>) {
    match map.filter(|m| !m.is_empty()) {
        None => o.w(0, format!("{title}:\t<none>")),
        Some(m) => {
            for (i, (k, v)) in m.iter().enumerate() {
                if i == 0 {
                    o.w(0, format!("{title}:\t{k}={v}"));
                } else {
                    o.w(0, format!("\t{k}={v}"));
                }
            }
        }
    }
}

fn containers(
    o: &mut Out,
    title: &str,
    specs: &[api::Container],
    statuses: Option<&[api::ContainerStatus]>,
) {
    o.w(0, format!("{title}:"));
    for c in specs {
        let st = statuses.into_iter().flatten().find(|s| s.name == c.name);
        o.w(1, format!("{}:", c.name));
        if let Some(s) = st {
            o.w(
                2,
                format!("Container ID:\t{}", s.container_id.as_deref().unwrap_or("")),
            );
        }
        o.w(2, format!("Image:\t{}", c.image.as_deref().unwrap_or("")));
        if let Some(s) = st {
            o.w(2, format!("Image ID:\t{}", s.image_id));
        }
        let ports: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let proto = p.protocol.as_deref().unwrap_or("TCP");
                match &p.name {
                    Some(n) => format!("{}/{proto} ({n})", p.container_port),
                    None => format!("{}/{proto}", p.container_port),
                }
            })
            .collect();
        let host_ports: Vec<String> = c
            .ports
            .iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.host_port.unwrap_or(0),
                    p.protocol.as_deref().unwrap_or("TCP")
                )
            })
            .collect();
        let join = |v: &[String]| {
            if v.is_empty() {
                "<none>".to_string()
            } else {
                v.join(", ")
            }
        };
        o.w(
            2,
            format!(
                "{}:\t{}",
                if ports.len() > 1 { "Ports" } else { "Port" },
                join(&ports)
            ),
        );
        o.w(
            2,
            format!(
                "{}:\t{}",
                if host_ports.len() > 1 {
                    "Host Ports"
                } else {
                    "Host Port"
                },
                join(&host_ports)
            ),
        );
        for (title, list) in [("Command", &c.command), ("Args", &c.args)] {
            if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
                o.w(2, format!("{title}:"));
                for a in list {
                    o.w(3, a);
                }
            }
        }
        if let Some(s) = st {
            if let Some(state) = &s.state {
                container_state(o, "State", state);
            }
            if let Some(last) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
                container_state(o, "Last State", last);
            }
            o.w(
                2,
                format!("Ready:\t{}", if s.ready { "True" } else { "False" }),
            );
            o.w(2, format!("Restart Count:\t{}", s.restart_count));
        }
        if let Some(r) = &c.resources {
            for (title, list) in [("Limits", &r.limits), ("Requests", &r.requests)] {
                if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
                    o.w(2, format!("{title}:"));
                    for (k, v) in list {
                        o.w(3, format!("{k}:\t{}", v.0));
                    }
                }
            }
        }
        for (title, p) in [
            ("Liveness", &c.liveness_probe),
            ("Readiness", &c.readiness_probe),
            ("Startup", &c.startup_probe),
        ] {
            if let Some(p) = p {
                o.w(2, format!("{title}:\t{}", probe(p)));
            }
        }
        if c.env.as_ref().is_none_or(|e| e.is_empty()) {
            o.w(2, "Environment:\t<none>");
        } else {
            o.w(2, "Environment:");
            for e in c.env.iter().flatten() {
                o.w(3, format!("{}:\t{}", e.name, env_value(e)));
            }
        }
        let mut mounts: Vec<&api::VolumeMount> = c.volume_mounts.iter().flatten().collect();
        if mounts.is_empty() {
            o.w(2, "Mounts:\t<none>");
        } else {
            o.w(2, "Mounts:");
            mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
            for m in mounts {
                let mut flags = vec![
                    if m.read_only == Some(true) {
                        "ro"
                    } else {
                        "rw"
                    }
                    .to_string(),
                ];
                if let Some(p) = m.sub_path.as_ref().filter(|p| !p.is_empty()) {
                    flags.push(format!("path={p:?}"));
                }
                o.w(
                    3,
                    format!("{} from {} ({})", m.mount_path, m.name, flags.join(",")),
                );
            }
        }
    }
}

fn env_value(e: &api::EnvVar) -> String {
    let Some(from) = &e.value_from else {
        return e.value.clone().unwrap_or_default();
    };
    if let Some(f) = &from.field_ref {
        format!(
            " ({}:{})",
            f.api_version.as_deref().unwrap_or("v1"),
            f.field_path
        )
    } else if let Some(r) = &from.resource_field_ref {
        format!(" ({})", r.resource)
    } else if let Some(k) = &from.config_map_key_ref {
        format!(
            "<set to the key '{}' of config map '{}'>\tOptional: {}",
            k.key,
            k.name,
            k.optional.unwrap_or(false)
        )
    } else if let Some(k) = &from.secret_key_ref {
        format!(
            "<set to the key '{}' in secret '{}'>\tOptional: {}",
            k.key,
            k.name,
            k.optional.unwrap_or(false)
        )
    } else {
        String::new()
    }
}

fn container_state(o: &mut Out, title: &str, s: &api::ContainerState) {
    if let Some(r) = &s.running {
        o.w(2, format!("{title}:\tRunning"));
        if let Some(t) = &r.started_at {
            o.w(3, format!("Started:\t{}", rfc1123z(t.0)));
        }
    } else if let Some(t) = &s.terminated {
        o.w(2, format!("{title}:\tTerminated"));
        if let Some(r) = &t.reason {
            o.w(3, format!("Reason:\t{r}"));
        }
        if let Some(m) = t.message.as_ref().filter(|m| !m.is_empty()) {
            o.w(3, format!("Message:\t{}", m.trim_end()));
        }
        o.w(3, format!("Exit Code:\t{}", t.exit_code));
        if let Some(at) = &t.started_at {
            o.w(3, format!("Started:\t{}", rfc1123z(at.0)));
        }
        if let Some(at) = &t.finished_at {
            o.w(3, format!("Finished:\t{}", rfc1123z(at.0)));
        }
    } else {
        o.w(2, format!("{title}:\tWaiting"));
        if let Some(r) = s.waiting.as_ref().and_then(|w| w.reason.as_ref()) {
            o.w(3, format!("Reason:\t{r}"));
        }
    }
}

/// kubectl's DescribeProbe: `exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3`.
fn probe(p: &api::Probe) -> String {
    let t = Timings::of(p);
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        t.initial_delay.as_secs(),
        t.timeout.as_secs(),
        t.period.as_secs(),
        t.success_threshold,
        t.failure_threshold
    );
    match Handler::of_probe(p) {
        Some(a) => format!("{} {attrs}", a.describe()),
        None => attrs,
    }
}

fn volumes(o: &mut Out, volumes: &[api::Volume]) {
    if volumes.is_empty() {
        o.w(0, "Volumes:\t<none>");
        return;
    }
    o.w(0, "Volumes:");
    for v in volumes {
        o.w(1, format!("{}:", v.name));
        if let Some(e) = &v.empty_dir {
            o.w(
                2,
                "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
            );
            o.w(2, format!("Medium:\t{}", e.medium.as_deref().unwrap_or("")));
            let limit = e
                .size_limit
                .as_ref()
                .map_or("<unset>".to_string(), |q| q.0.clone());
            o.w(2, format!("SizeLimit:\t{limit}"));
        } else if let Some(h) = &v.host_path {
            o.w(2, "Type:\tHostPath (bare host directory volume)");
            o.w(2, format!("Path:\t{}", h.path));
            o.w(
                2,
                format!("HostPathType:\t{}", h.type_.as_deref().unwrap_or("")),
            );
        } else if let Some(c) = &v.config_map {
            o.w(2, "Type:\tConfigMap (a volume populated by a ConfigMap)");
            o.w(2, format!("Name:\t{}", c.name));
            o.w(2, format!("Optional:\t{}", c.optional.unwrap_or(false)));
        } else if let Some(s) = &v.secret {
            o.w(2, "Type:\tSecret (a volume populated by a Secret)");
            o.w(
                2,
                format!("SecretName:\t{}", s.secret_name.as_deref().unwrap_or("")),
            );
            o.w(2, format!("Optional:\t{}", s.optional.unwrap_or(false)));
        } else if v.downward_api.is_some() {
            o.w(
                2,
                "Type:\tDownwardAPI (a volume populated by information about the pod)",
            );
        } else if v.projected.is_some() {
            o.w(
                2,
                "Type:\tProjected (a volume that contains injected data from multiple sources)",
            );
        } else {
            o.w(2, "Type:\t<unknown>");
        }
    }
}

/// The Events table, identical events folded into one row with a count, as the API server does.
fn events_table(events: &[Event], now: Timestamp) -> Vec<String> {
    if events.is_empty() {
        return vec!["Events:\t<none>".into()];
    }
    struct Row<'a> {
        event: &'a Event,
        first: Timestamp,
        count: u32,
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    for e in events {
        let same = |r: &&mut Row<'_>| {
            r.event.reason == e.reason
                && r.event.type_ == e.type_
                && r.event.container == e.container
                && r.event.message == e.message
        };
        match rows.iter_mut().find(|r| same(r)) {
            Some(r) => {
                r.count += 1;
                r.event = e;
            }
            None => rows.push(Row {
                event: e,
                first: e.at,
                count: 1,
            }),
        }
    }
    let mut out = vec![
        "Events:".to_string(),
        "  Type\tReason\tAge\tFrom\tMessage".to_string(),
        "  ----\t------\t----\t----\t-------".to_string(),
    ];
    for r in rows {
        let age = if r.count > 1 {
            format!(
                "{} (x{} over {})",
                human_age(r.event.at, now),
                r.count,
                human_age(r.first, now)
            )
        } else {
            human_age(r.first, now)
        };
        let from = if r.event.reason == "Scheduled" {
            "default-scheduler"
        } else {
            "kubelet"
        };
        out.push(format!(
            "  {}\t{}\t{age}\t{from}\t{}",
            r.event.type_.as_str(),
            r.event.reason,
            r.event.message.trim()
        ));
    }
    out
}

/// Go's duration.HumanDuration, as kubectl prints ages.
fn human_age(at: Timestamp, now: Timestamp) -> String {
    let s = now.as_second() - at.as_second();
    if s < 0 {
        return "0s".into();
    }
    let m = s / 60;
    let h = m / 60;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else {
        format!("{}d", h / 24)
    }
}

/// Go's time.RFC1123Z in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
fn rfc1123z(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Go's text/tabwriter with kubectl's settings (minwidth 0, padding 2, spaces): a column of
/// tab-terminated cells is as wide as its widest cell plus 2 within each block of consecutive
/// lines that have that column.
fn align(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = cells
        .iter()
        .map(|c| vec![0; c.len().saturating_sub(1)])
        .collect();
    fn format(cells: &[Vec<&str>], widths: &mut [Vec<usize>], col: usize, from: usize, to: usize) {
        let mut i = from;
        while i < to {
            if cells[i].len() - 1 <= col {
                i += 1;
                continue;
            }
            let start = i;
            let mut width = 0;
            while i < to && cells[i].len() - 1 > col {
                width = width.max(cells[i][col].chars().count() + 2);
                i += 1;
            }
            for w in &mut widths[start..i] {
                w[col] = width;
            }
            format(cells, widths, col + 1, start, i);
        }
    }
    format(&cells, &mut widths, 0, 0, cells.len());
    let mut out = String::new();
    for (line, w) in cells.iter().zip(&widths) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = w.get(j) {
                out.push_str(&" ".repeat(width.saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_blocks() {
        let lines: Vec<String> = ["Name:\tp", "Namespace:\tdefault", "IPs:", "  IP:\t10.0.0.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            align(&lines),
            "Name:       p\nNamespace:  default\nIPs:\n  IP:  10.0.0.1\n"
        );
    }

    #[test]
    fn ages() {
        let t = |s| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(human_age(t(0), t(5)), "5s");
        assert_eq!(human_age(t(0), t(150)), "2m30s");
        assert_eq!(human_age(t(0), t(3600)), "60m");
    }
}
