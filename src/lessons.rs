//! The lessons `wpod lesson` teaches (the `lessons/` directory, embedded at build time): their
//! text in English and Chinese, their manifests, and the grading of a learner's manifest from the
//! outcome of running it (`wpod run -o json`: the pods' statuses, the containers' output).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The four files of one lesson directory, as build.rs embeds them.
pub struct Embedded {
    pub slug: &'static str,
    pub lesson: &'static str,
    pub pod: &'static str,
    pub start: &'static str,
    pub solution: &'static str,
}

const EMBEDDED: &[Embedded] = include!(concat!(env!("OUT_DIR"), "/lessons.rs"));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Chinese when the locale says so (LC_ALL, then LC_MESSAGES, then LANG), else English.
    pub fn from_locale() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if locale.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// A text in both languages.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => self.en.trim_end(),
            Lang::Zh => self.zh.trim_end(),
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    pub title: Text,
    pub concept: Text,
    pub docs: String,
    pub explain: Text,
    pub run: Run,
    pub observe: Text,
    pub exercise: Text,
    pub check: Check,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Check {
    #[serde(default)]
    pub args: Vec<String>,
    pub expect: Vec<Expect>,
}

/// One expectation: which pods and container it is about, one assertion, and the hint shown
/// when it does not hold.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    pub pod: Option<String>,
    pub container: Option<String>,
    pub phase: Option<String>,
    pub exit_code: Option<i64>,
    pub logs: Option<String>,
    pub restarts_at_least: Option<i64>,
    pub ready: Option<bool>,
    pub pods: Option<usize>,
    pub field: Option<String>,
    pub equals: Option<Value>,
    pub present: Option<bool>,
    pub hint: Text,
}

/// A lesson with its number and manifests.
pub struct Entry {
    pub number: usize,
    pub slug: &'static str,
    pub lesson: Lesson,
    pub pod: &'static str,
    pub start: &'static str,
    pub solution: &'static str,
}

/// Every lesson, in order; an embedded lesson that does not parse is a build defect the tests
/// catch, reported here with its directory.
pub fn all() -> Result<Vec<Entry>, String> {
    EMBEDDED
        .iter()
        .map(|e| {
            let number = e.slug[..2]
                .parse()
                .map_err(|_| format!("lessons/{}: no number", e.slug))?;
            let lesson: Lesson = serde_saphyr::from_str(e.lesson)
                .map_err(|err| format!("lessons/{}/lesson.yaml: {err}", e.slug))?;
            for (i, x) in lesson.check.expect.iter().enumerate() {
                if x.assertions() != 1 {
                    return Err(format!(
                        "lessons/{}/lesson.yaml: check.expect[{i}] needs exactly one assertion",
                        e.slug
                    ));
                }
            }
            Ok(Entry {
                number,
                slug: e.slug,
                lesson,
                pod: e.pod,
                start: e.start,
                solution: e.solution,
            })
        })
        .collect()
}

/// What a run of the learner's manifest left: the final pods and each container's output.
pub struct Outcome {
    pub pods: Vec<Value>,
    /// Output by (pod, container); the pod is None when a single-pod run left it out.
    pub output: BTreeMap<(Option<String>, String), String>,
}

impl Outcome {
    /// From `wpod run -o json`'s stdout (a Pod or a List) and stderr (container output as
    /// `[pod/]container | text`, events as `-- ...`).
    pub fn parse(stdout: &str, stderr: &str) -> Outcome {
        let pods = match serde_json::from_str::<Value>(stdout) {
            Ok(v) if v.get("kind").and_then(Value::as_str) == Some("List") => v
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Ok(v) if v.is_object() => vec![v],
            _ => Vec::new(),
        };
        let mut output: BTreeMap<(Option<String>, String), String> = BTreeMap::new();
        for line in stderr.lines() {
            let Some((prefix, text)) = line.split_once('|') else {
                continue;
            };
            let prefix = prefix.trim_end();
            let name = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
            };
            let (pod, container) = match prefix.split_once('/') {
                Some((p, c)) if name(p) && name(c) => (Some(p.to_string()), c.to_string()),
                None if name(prefix) => (None, prefix.to_string()),
                _ => continue,
            };
            let text = text.strip_prefix(' ').unwrap_or(text);
            let out = output.entry((pod, container)).or_default();
            out.push_str(text);
            out.push('\n');
        }
        Outcome { pods, output }
    }

    fn output_of(&self, pod: &str, container: Option<&str>) -> String {
        let single = self.pods.len() == 1;
        self.output
            .iter()
            .filter(|((p, c), _)| {
                (single || p.as_deref() == Some(pod)) && container.is_none_or(|want| c == want)
            })
            .map(|(_, text)| text.as_str())
            .collect()
    }
}

impl Expect {
    fn assertions(&self) -> usize {
        [
            self.phase.is_some(),
            self.exit_code.is_some(),
            self.logs.is_some(),
            self.restarts_at_least.is_some(),
            self.ready.is_some(),
            self.pods.is_some(),
            self.field.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    /// What the expectation asks, for the report.
    pub fn describe(&self) -> String {
        let who = match (self.pod.as_deref().unwrap_or("*"), &self.container) {
            ("*", Some(c)) => format!("container {c}"),
            ("*", None) => "every pod".to_string(),
            (p, Some(c)) => format!("{p}/{c}"),
            (p, None) => format!("pod {p}"),
        };
        if let Some(p) = &self.phase {
            format!("{who}: phase {p}")
        } else if let Some(c) = self.exit_code {
            format!("{who}: exit code {c}")
        } else if let Some(l) = &self.logs {
            format!("{who}: output contains {l:?}")
        } else if let Some(r) = self.restarts_at_least {
            format!("{who}: restarted at least {r} times")
        } else if let Some(r) = self.ready {
            format!("{who}: ready {r}")
        } else if let Some(n) = self.pods {
            format!("{n} pod(s)")
        } else {
            let field = self.field.as_deref().unwrap_or_default();
            match (&self.equals, self.present) {
                (Some(v), _) => format!("the manifest's {field} is {v}"),
                (None, Some(false)) => format!("the manifest has no {field}"),
                _ => format!("the manifest sets {field}"),
            }
        }
    }

    /// None when it holds for the outcome and the learner's manifest (`spec`: the first Pod, or
    /// the pod template of a workload), else what was found instead.
    pub fn failure(&self, outcome: &Outcome, spec: &Value) -> Option<String> {
        if let Some(n) = self.pods {
            let found = outcome.pods.len();
            return (found != n).then(|| format!("the run made {found} pod(s)"));
        }
        if let Some(field) = &self.field {
            let found = field
                .split('.')
                .try_fold(spec, |v, part| match part.parse::<usize>() {
                    Ok(i) if v.is_array() => v.get(i),
                    _ => v.get(part),
                });
            return match (&self.equals, self.present) {
                (Some(want), _) => (found != Some(want)).then(|| match found {
                    Some(v) => format!("{field} is {v}"),
                    None => format!("{field} is not set"),
                }),
                (None, present) => (found.is_some() != present.unwrap_or(true)).then(|| {
                    if found.is_some() {
                        format!("{field} is set")
                    } else {
                        format!("{field} is not set")
                    }
                }),
            };
        }
        let want_pod = self.pod.as_deref().unwrap_or("*");
        let container = self.container.as_deref();
        let chosen: Vec<&Value> = outcome
            .pods
            .iter()
            .filter(|p| want_pod == "*" || name_of(p) == want_pod)
            .filter(|p| container.is_none_or(|c| status_of(p, c).is_some()))
            .collect();
        if chosen.is_empty() {
            return Some(match container {
                Some(c) if outcome.pods.is_empty() => {
                    format!("no pod ran (so no container {c})")
                }
                Some(c) => format!("no pod has a container {c}"),
                None => format!("no pod {want_pod}"),
            });
        }
        for pod in chosen {
            let name = name_of(pod);
            let status = container.and_then(|c| status_of(pod, c));
            let at = match container {
                Some(c) => format!("{name}/{c}"),
                None => name.to_string(),
            };
            if let Some(want) = &self.phase {
                let phase = pod.pointer("/status/phase").and_then(Value::as_str);
                if phase != Some(want) {
                    return Some(format!("{name} is {}", phase.unwrap_or("without a phase")));
                }
            }
            if let Some(text) = &self.logs
                && !outcome.output_of(name, container).contains(text.as_str())
            {
                return Some(format!("{at} did not print it"));
            }
            if let Some(want) = self.exit_code {
                let code = status.and_then(|s| {
                    s.pointer("/state/terminated/exitCode")
                        .or_else(|| s.pointer("/lastState/terminated/exitCode"))
                        .and_then(Value::as_i64)
                });
                if code != Some(want) {
                    return Some(match code {
                        Some(c) => format!("{at} exited with {c}"),
                        None => format!("{at} has not exited"),
                    });
                }
            }
            if let Some(want) = self.restarts_at_least {
                let n = status
                    .and_then(|s| s.get("restartCount")?.as_i64())
                    .unwrap_or(0);
                if n < want {
                    return Some(format!("{at} restarted {n} times"));
                }
            }
            if let Some(want) = self.ready {
                let ready = status
                    .and_then(|s| s.get("ready")?.as_bool())
                    .unwrap_or(false);
                if ready != want {
                    return Some(format!("{at} is ready: {ready}"));
                }
            }
        }
        None
    }
}

fn name_of(pod: &Value) -> &str {
    pod.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn status_of<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p)?.as_array())
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
}

/// The pod a field expectation reads in the learner's manifest: the first Pod, else the pod
/// template of the first workload.
pub fn pod_spec_of(documents: &[Value]) -> Value {
    let kind = |d: &&Value| d.get("kind").and_then(Value::as_str).map(str::to_string);
    if let Some(pod) = documents.iter().find(|d| kind(d).as_deref() == Some("Pod")) {
        return pod.clone();
    }
    documents
        .iter()
        .find(|d| {
            matches!(
                kind(d).as_deref(),
                Some("Deployment" | "ReplicaSet" | "Job" | "StatefulSet" | "DaemonSet")
            )
        })
        .and_then(|d| d.pointer("/spec/template").cloned())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_parses_and_has_both_languages() {
        let lessons = all().expect("the embedded lessons parse");
        assert!(lessons.len() >= 16, "{}", lessons.len());
        for (i, e) in lessons.iter().enumerate() {
            assert_eq!(
                e.number,
                i + 1,
                "{}: lessons are numbered 01, 02, ...",
                e.slug
            );
            let l = &e.lesson;
            let texts = [&l.title, &l.concept, &l.explain, &l.observe, &l.exercise];
            for t in texts
                .into_iter()
                .chain(l.check.expect.iter().map(|x| &x.hint))
            {
                assert!(
                    !t.en.trim().is_empty(),
                    "{}: an English text is missing",
                    e.slug
                );
                assert!(
                    !t.zh.trim().is_empty(),
                    "{}: a Chinese text is missing",
                    e.slug
                );
                // A translation, not a copy: Chinese text has CJK characters.
                assert!(
                    t.zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "{}: not translated: {}",
                    e.slug,
                    t.zh
                );
            }
            assert!(l.docs.starts_with("https://kubernetes.io/"), "{}", e.slug);
        }
    }

    #[test]
    fn output_is_read_from_both_prefix_forms() {
        let o = Outcome::parse(
            r#"{"kind":"List","items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}"#,
            "-- a: phase Pending\na/web   | hello | world\nb/c     | bye\nnot output\n",
        );
        assert_eq!(o.pods.len(), 2);
        assert_eq!(o.output_of("a", Some("web")), "hello | world\n");
        assert_eq!(o.output_of("b", None), "bye\n");
        let single = Outcome::parse(r#"{"metadata":{"name":"p"}}"#, "web | hi\n");
        assert_eq!(single.output_of("p", Some("web")), "hi\n");
    }
}
