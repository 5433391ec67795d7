//! Comparing what one manifest does on two backends: each run's observable outcome is normalised
//! to a flat map of facts (phase, conditions, per-container states, exit codes, reasons, restart
//! counts, ready and started flags, termination messages, which events were recorded, log lines,
//! files left in hostPath directories) and the maps are compared key by key.
//! Used by `wpod parity FILE` and by the parity test suite.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Fact name -> value, e.g. `web.app.state` -> `terminated 0 Completed`.
pub type Outcome = BTreeMap<String, String>;

/// One fact that differs: its name and the value on each side (None: absent there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub key: String,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// Normalises a `wpod run -o json --color never` result: its exit code, stdout (the Pod or List)
/// and stderr (prefixed container output and wpod's `-- ` notes).
pub fn outcome(exit_code: i32, stdout: &str, stderr: &str) -> Outcome {
    let mut out = Outcome::new();
    out.insert("exit".into(), exit_code.to_string());
    // Which events each pod and container got (not how many: probe timing may add one).
    let mut events: BTreeMap<String, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for line in stderr.lines() {
        let Some((who, rest)) = line.strip_prefix("-- ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        let Some((reason, _)) = rest.split_once(": ") else {
            continue;
        };
        let is_reason = reason.starts_with(|c: char| c.is_ascii_uppercase())
            && reason.chars().all(|c| c.is_ascii_alphanumeric());
        if is_reason {
            events
                .entry(format!("{}.events", who.replace('/', ".")))
                .or_default()
                .insert(reason);
        }
    }
    for (key, reasons) in events {
        out.insert(key, reasons.into_iter().collect::<Vec<_>>().join(" "));
    }
    let json: Value = serde_json::from_str(stdout).unwrap_or(Value::Null);
    let pods: Vec<&Value> = match json["items"].as_array() {
        Some(items) => items.iter().collect(),
        None if json.is_object() => vec![&json],
        None => Vec::new(),
    };
    let single = pods.len() == 1;
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?");
        let status = &pod["status"];
        out.insert(format!("{name}.phase"), text(&status["phase"]));
        if let Some(r) = status["reason"].as_str() {
            out.insert(format!("{name}.reason"), r.to_string());
        }
        if status["podIP"].is_string() {
            out.insert(format!("{name}.podIP"), text(&status["podIP"]));
        }
        for c in status["conditions"].as_array().into_iter().flatten() {
            let value = format!("{} {}", text(&c["status"]), text(&c["reason"]));
            out.insert(
                format!("{name}.condition.{}", text(&c["type"])),
                value.trim().to_string(),
            );
        }
        for key in ["initContainerStatuses", "containerStatuses"] {
            for c in status[key].as_array().into_iter().flatten() {
                let cname = text(&c["name"]);
                out.insert(format!("{name}.{cname}.state"), state(&c["state"]));
                out.insert(format!("{name}.{cname}.restarts"), text(&c["restartCount"]));
                out.insert(format!("{name}.{cname}.ready"), text(&c["ready"]));
                out.insert(format!("{name}.{cname}.started"), text(&c["started"]));
                if let Some(m) = c["state"]["terminated"]["message"].as_str() {
                    out.insert(format!("{name}.{cname}.message"), m.to_string());
                }
                if c["lastState"]["terminated"].is_object() {
                    out.insert(format!("{name}.{cname}.last"), state(&c["lastState"]));
                }
                if let Some(m) = c["lastState"]["terminated"]["message"].as_str() {
                    out.insert(format!("{name}.{cname}.last-message"), m.to_string());
                }
            }
        }
        // Container output: `name | line` for one pod, `pod/name | line` for several.
        let mut logs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for line in stderr.lines() {
            let Some((prefix, text)) = line.split_once(" | ") else {
                continue;
            };
            let prefix = prefix.trim_end();
            let container = if single {
                Some(prefix)
            } else {
                prefix.strip_prefix(&format!("{name}/"))
            };
            if let Some(c) = container.filter(|c| !c.starts_with("-- ")) {
                logs.entry(c.to_string()).or_default().push(text);
            }
        }
        for (c, lines) in logs {
            let lines: Vec<String> = lines.iter().map(|l| scrub_times(l)).collect();
            out.insert(format!("{name}.{c}.log"), lines.join("\n"));
        }
    }
    out
}

/// Timestamp shapes in log lines (nginx's error and access logs): `d` a digit, `A` a letter.
const TIME_SHAPES: &[&str] = &["dddd/dd/dd dd:dd:dd", "dd/AAA/dddd:dd:dd:dd +dddd"];

/// Replaces timestamps in a log line by `<time>`: when a line was written never says anything
/// about parity.
fn scrub_times(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let fits = |at: usize, shape: &str| {
        shape.chars().enumerate().all(|(i, p)| {
            chars.get(at + i).is_some_and(|c| match p {
                'd' => c.is_ascii_digit(),
                'A' => c.is_ascii_alphabetic(),
                other => *c == other,
            })
        })
    };
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(shape) = TIME_SHAPES.iter().find(|s| fits(i, s)) {
            out.push_str("<time>");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `terminated 137 OOMKilled`, `waiting CrashLoopBackOff`, `running`.
fn state(s: &Value) -> String {
    if let Some(t) = s["terminated"].as_object() {
        format!(
            "terminated {} {}",
            t.get("exitCode").map(text).unwrap_or_default(),
            t.get("reason").map(text).unwrap_or_default()
        )
    } else if let Some(w) = s["waiting"].as_object() {
        format!("waiting {}", w.get("reason").map(text).unwrap_or_default())
    } else if s["running"].is_object() {
        "running".into()
    } else {
        "unknown".into()
    }
}

/// Adds every regular file under `dir` as `file:REL` -> its contents (lossy UTF-8).
pub fn add_files(out: &mut Outcome, dir: &Path) {
    fn walk(out: &mut Outcome, root: &Path, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(out, root, &p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                out.insert(
                    format!("file:{rel}"),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
            }
        }
    }
    walk(out, dir, dir);
}

pub fn differences(left: &Outcome, right: &Outcome) -> Vec<Difference> {
    let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| left.get(*k) != right.get(*k))
        .map(|k| Difference {
            key: k.clone(),
            left: left.get(k).cloned(),
            right: right.get(k).cloned(),
        })
        .collect()
}

/// The differences side by side, one block per fact; multi-line values (logs) line by line.
pub fn render(diffs: &[Difference], left_name: &str, right_name: &str) -> String {
    const W: usize = 44;
    let mut s = String::new();
    for d in diffs {
        s.push_str(&format!("{}\n", d.key));
        s.push_str(&format!("  {left_name:<W$} | {right_name}\n"));
        let l: Vec<&str> = d
            .left
            .as_deref()
            .map_or(vec!["(absent)"], |v| v.lines().collect());
        let r: Vec<&str> = d
            .right
            .as_deref()
            .map_or(vec!["(absent)"], |v| v.lines().collect());
        for i in 0..l.len().max(r.len()) {
            let a = l.get(i).copied().unwrap_or("");
            let b = r.get(i).copied().unwrap_or("");
            let mark = if a == b { ' ' } else { '*' };
            s.push_str(&format!("{mark} {a:<W$} | {b}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_a_pod() {
        let pod = r#"{"metadata":{"name":"p"},"status":{"phase":"Failed","conditions":[
            {"type":"Ready","status":"False","reason":"PodFailed"}],
            "containerStatuses":[{"name":"c","restartCount":0,
            "ready":false,"started":false,
            "state":{"terminated":{"exitCode":3,"reason":"Error","message":"bad\n"}}}]}}"#;
        let o = outcome(
            1,
            pod,
            "-- p: phase Running -> Failed\n-- p/c: Started: Started container c\n\
             -- p/c: exited with code 3 (Error): bad\n-- p/c: BackOff: Back-off: x\n\
             -- p/c: Started: again\nc | hello\nc | bye\n",
        );
        assert_eq!(o["p.phase"], "Failed");
        assert_eq!(o["p.c.events"], "BackOff Started");
        assert!(!o.contains_key("p.events"), "a phase change is no event");
        assert_eq!(
            (o["p.c.ready"].as_str(), o["p.c.started"].as_str()),
            ("false", "false")
        );
        assert_eq!(o["p.c.message"], "bad\n");
        assert_eq!(o["p.condition.Ready"], "False PodFailed");
        assert_eq!(o["p.c.state"], "terminated 3 Error");
        assert_eq!(o["p.c.log"], "hello\nbye");
        let mut other = o.clone();
        other.insert("p.c.state".into(), "terminated 137 Error".into());
        let d = differences(&o, &other);
        assert_eq!(d.len(), 1);
        assert!(render(&d, "wasm", "linux").contains("* terminated 3 Error"));
        assert_eq!(
            scrub_times("2026/11/27 08:02:12 [notice] x [27/Nov/2026:08:02:42 +0000] y"),
            "<time> [notice] x [<time>] y"
        );
    }
}
