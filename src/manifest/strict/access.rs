//! Walking lists and mappings: field paths, unknown fields and duplicate keys.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess};

use super::node::NodeDe;
use super::{Error, Field, State};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::suggest::did_you_mean;
use crate::manifest::tree::{Node, Pos};

pub(super) struct SeqDe<'a, 's> {
    items: &'a [Node],
    index: usize,
    path: String,
    state: &'s RefCell<State<'a>>,
}

impl<'a, 's> SeqDe<'a, 's> {
    pub(super) fn new(items: &'a [Node], path: String, state: &'s RefCell<State<'a>>) -> Self {
        SeqDe {
            items,
            index: 0,
            path,
            state,
        }
    }
}

impl<'de, 'a, 's> SeqAccess<'de> for SeqDe<'a, 's> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.get(self.index) else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        self.state.borrow_mut().fields.push(Field {
            path: path.clone(),
            key: None,
            node,
        });
        seed.deserialize(NodeDe {
            node,
            path,
            state: self.state,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.index)
    }
}

/// Entries of a mapping: a struct's fields when `fields` is set, else a free-form map
/// such as `labels` whose entries get `[key]` paths.
pub(super) struct MapDe<'a, 's> {
    entries: &'a [(Node, Node)],
    index: usize,
    fields: Option<&'static [&'static str]>,
    seen: HashMap<String, Option<Pos>>,
    pending: Option<(&'a Node, String)>,
    path: String,
    state: &'s RefCell<State<'a>>,
}

impl<'a, 's> MapDe<'a, 's> {
    pub(super) fn new(
        entries: &'a [(Node, Node)],
        fields: Option<&'static [&'static str]>,
        path: String,
        state: &'s RefCell<State<'a>>,
    ) -> Self {
        MapDe {
            entries,
            index: 0,
            fields,
            seen: HashMap::new(),
            pending: None,
            path,
            state,
        }
    }

    fn child_path(&self, key: &str) -> String {
        match (self.fields, self.path.is_empty()) {
            (Some(_), true) => key.to_owned(),
            (Some(_), false) => format!("{}.{key}", self.path),
            (None, _) => format!("{}[{key}]", self.path),
        }
    }

    fn unknown_field(&self, key: &Node, name: &str, path: &str, fields: &[&str]) {
        let mut state = self.state.borrow_mut();
        let help = match did_you_mean(name, fields) {
            Some(known) => format!("did you mean `{known}`?"),
            None if fields.len() <= 8 => format!("known fields here: {}", fields.join(", ")),
            None => format!(
                "`kubectl explain {}` lists the known fields",
                explain_path(&state, &self.path)
            ),
        };
        let diagnostic =
            Diagnostic::error(&state.file, key.pos, path, "unknown field".into()).with_help(help);
        state.diagnostics.push(diagnostic);
    }

    fn duplicate_key(&self, key: &Node, path: &str, first: Option<Pos>) {
        let mut state = self.state.borrow_mut();
        let mut diagnostic = Diagnostic::error(&state.file, key.pos, path, "duplicate key".into());
        if let Some(first) = first {
            diagnostic = diagnostic.with_help(format!(
                "it is first set on line {}; Kubernetes rejects mappings that repeat a key",
                first.line
            ));
        }
        state.diagnostics.push(diagnostic);
    }
}

/// `spec.containers[0]` of a pod becomes `pod.spec.containers`, as `kubectl explain` wants.
pub(super) fn explain_path(state: &State<'_>, path: &str) -> String {
    let relative = path.strip_prefix(state.root.as_str()).unwrap_or(path);
    let mut out = state.kind.clone();
    let mut depth = 0usize;
    for c in relative.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 && !out.ends_with('.') => out.push('.'),
            '.' => {}
            c if depth == 0 => {
                if out == state.kind {
                    out.push('.');
                }
                out.push(c);
            }
            _ => {}
        }
    }
    out
}

impl<'de, 'a, 's> MapAccess<'de> for MapDe<'a, 's> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while let Some((key, value)) = self.entries.get(self.index) {
            self.index += 1;
            let name = key.key_text();
            let path = self.child_path(&name);
            if let Some(fields) = self.fields
                && !fields.contains(&name.as_str())
            {
                self.unknown_field(key, &name, &path, fields);
                continue;
            }
            if let Some(first) = self.seen.get(&name) {
                self.duplicate_key(key, &path, *first);
                continue;
            }
            self.seen.insert(name.clone(), key.pos);
            self.state.borrow_mut().fields.push(Field {
                path: path.clone(),
                key: key.pos,
                node: value,
            });
            self.pending = Some((value, path));
            let key_de: de::value::StringDeserializer<Error> = name.into_deserializer();
            return seed.deserialize(key_de).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (node, path) = self.pending.take().ok_or_else(|| {
            de::Error::custom("internal error: a map value was requested before its key")
        })?;
        seed.deserialize(NodeDe {
            node,
            path,
            state: self.state,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.index)
    }
}
