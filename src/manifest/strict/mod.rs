//! A serde `Deserializer` over a [`Node`] tree that is stricter than Kubernetes' generated
//! types and never loses a position.
//!
//! k8s-openapi's `Deserialize` impls silently skip unknown fields and take whatever the
//! deserializer hands them. This deserializer instead reports unknown fields (with a
//! suggestion), duplicate keys and type mismatches as diagnostics, then carries on with a
//! neutral value so that one run shows every problem in the document.

mod access;
mod node;

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeOwned};

use self::node::NodeDe;
use super::diagnostic::Diagnostic;
use super::tree::{Node, Pos};

/// A field (or list item, or map entry) that the target type knows about.
pub struct Field<'a> {
    pub path: String,
    /// Position of the mapping key; `None` for list items.
    pub key: Option<Pos>,
    pub node: &'a Node,
}

pub struct Parsed<'a, T> {
    /// `None` when any error was reported.
    pub value: Option<T>,
    /// Every known field in source order, so later stages can find positions and
    /// tell which fields were set.
    pub fields: Vec<Field<'a>>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Deserializes `root`, found at field path `path` of `file`, into `T`.
/// `kind` names the resource for `kubectl explain` hints (e.g. `pod`).
pub fn from_node<'a, T: DeserializeOwned>(
    file: &str,
    kind: &str,
    root: &'a Node,
    path: &str,
) -> Parsed<'a, T> {
    let state = RefCell::new(State {
        file: file.to_owned(),
        kind: kind.to_owned(),
        root: path.to_owned(),
        diagnostics: Vec::new(),
        fields: Vec::new(),
    });
    let result = T::deserialize(NodeDe {
        node: root,
        path: path.to_owned(),
        state: &state,
    });
    let mut state = state.into_inner();
    let value = match result {
        Ok(value) => Some(value),
        Err(err) => {
            let (path, pos) = err.at.unwrap_or_else(|| (path.to_owned(), root.pos));
            state
                .diagnostics
                .push(Diagnostic::error(&state.file, pos, &path, err.message));
            None
        }
    };
    let failed = state.diagnostics.iter().any(Diagnostic::is_error);
    Parsed {
        value: value.filter(|_| !failed),
        fields: state.fields,
        diagnostics: state.diagnostics,
    }
}

struct State<'a> {
    file: String,
    kind: String,
    root: String,
    diagnostics: Vec<Diagnostic>,
    fields: Vec<Field<'a>>,
}

/// An error a visitor raised that we could not recover from; it ends the document.
#[derive(Debug)]
pub struct Error {
    message: String,
    at: Option<(String, Option<Pos>)>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            at: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!("invalid value {unexp}: expected {exp}"))
    }
}

#[cfg(test)]
mod tests {
    use super::access::explain_path;
    use super::*;
    use crate::manifest::tree;
    use k8s_openapi::api::core::v1::Pod;

    fn parse_pod(text: &str) -> (Option<Pod>, Vec<String>, Vec<String>) {
        let docs = tree::parse(text).unwrap_or_default();
        let Some(doc) = docs.first() else {
            return (None, vec!["no document".into()], Vec::new());
        };
        let parsed = from_node::<Pod>("pod.yaml", "pod", doc, "");
        let paths = parsed.fields.iter().map(|f| f.path.clone()).collect();
        let messages = parsed.diagnostics.iter().map(ToString::to_string).collect();
        (parsed.value, messages, paths)
    }

    #[test]
    fn unknown_field_is_reported_with_position_and_suggestion() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    image: b\n    imagePullPolcy: Always\n";
        let (pod, messages, _) = parse_pod(text);
        assert!(pod.is_none());
        assert_eq!(
            messages,
            [
                "pod.yaml:9:5: error: spec.containers[0].imagePullPolcy: unknown field\n  help: did you mean `imagePullPolicy`?"
            ]
        );
    }

    #[test]
    fn unquoted_number_for_a_string_says_quote_it() {
        let text =
            "spec:\n  containers:\n  - name: a\n    env:\n    - name: PORT\n      value: 80\n";
        let (_, messages, _) = parse_pod(text);
        assert_eq!(
            messages,
            [
                "pod.yaml:6:14: error: spec.containers[0].env[0].value: expected a string, found the number 80\n  help: quote it: \"80\""
            ]
        );
    }

    #[test]
    fn quantities_and_int_or_string_take_both_forms() {
        let text = "spec:\n  containers:\n  - name: a\n    resources:\n      limits: {memory: 64Mi, cpu: 1}\n      requests: {cpu: 0.5}\n    livenessProbe:\n      httpGet: {port: http}\n    readinessProbe:\n      tcpSocket: {port: 8080}\n";
        let (pod, messages, paths) = parse_pod(text);
        assert!(messages.is_empty(), "{messages:?}");
        let c = pod
            .and_then(|p| p.spec)
            .map(|s| s.containers)
            .unwrap_or_default();
        let limits = c[0]
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default();
        assert_eq!(limits.get("cpu").map(|q| q.0.as_str()), Some("1"));
        assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("64Mi"));
        assert!(paths.contains(&"spec.containers[0].resources.limits[memory]".to_string()));
    }

    #[test]
    fn duplicate_keys_and_type_errors_are_all_collected() {
        let text = "metadata:\n  name: a\n  name: b\nspec:\n  containers: {name: x}\n  activeDeadlineSeconds: \"5\"\n  hostNetwork: yes\n";
        let (pod, messages, _) = parse_pod(text);
        assert!(pod.is_none());
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("pod.yaml:3:3: error: metadata.name: duplicate key"));
        assert!(messages[1].contains("spec.containers: expected a list, found a mapping"));
        assert!(messages[2].contains("help: remove the quotes: 5"));
    }

    #[test]
    fn explain_path_drops_indices_and_list_prefix() {
        let state = State {
            file: String::new(),
            kind: "pod".into(),
            root: "items[1]".into(),
            diagnostics: Vec::new(),
            fields: Vec::new(),
        };
        assert_eq!(
            explain_path(&state, "items[1].spec.containers[0]"),
            "pod.spec.containers"
        );
        assert_eq!(explain_path(&state, "items[1]"), "pod");
    }
}
