//! Finds the source position for a field path, falling back to the closest enclosing
//! field that was written down, so every diagnostic points somewhere useful.

use std::collections::HashMap;

use super::strict::Field;
use super::tree::Pos;

pub struct Locator<'f> {
    /// Field path → (position of its key, position of its value).
    fields: HashMap<&'f str, (Option<Pos>, Option<Pos>)>,
    root: Option<Pos>,
}

impl<'f> Locator<'f> {
    pub fn new(fields: &'f [Field<'_>], root: Option<Pos>) -> Self {
        let fields = fields
            .iter()
            .map(|f| (f.path.as_str(), (f.key, f.node.pos)))
            .collect();
        Locator { fields, root }
    }

    /// Where the value at `path` is, or the nearest written ancestor.
    pub fn value(&self, path: &str) -> Option<Pos> {
        self.find(path, |(key, value)| value.or(key))
    }

    /// Where the key of `path` is: the better place for "this field should not be here".
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.find(path, |(key, value)| key.or(value))
    }

    fn find(
        &self,
        mut path: &str,
        pick: impl Fn((Option<Pos>, Option<Pos>)) -> Option<Pos>,
    ) -> Option<Pos> {
        loop {
            if let Some(pos) = self.fields.get(path).and_then(|&found| pick(found)) {
                return Some(pos);
            }
            path = parent(path)?;
            if path.is_empty() {
                return self.root;
            }
        }
    }
}

/// Whether field path `path` lies strictly inside `ancestor`.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// `a.b[0]` → `a.b`, `a.b` → `a`, `labels[x.y/z]` → `labels`, `a` → ``.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    // Map keys in brackets may hold dots (`app.kubernetes.io/name`), so a trailing
    // bracket is cut as a whole.
    let cut = if path.ends_with(']') {
        path.rfind('[')
    } else {
        path.rfind('.')
    };
    Some(&path[..cut.unwrap_or(0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(
            parent("spec.containers[0].name"),
            Some("spec.containers[0]")
        );
        assert_eq!(parent("spec.containers[0]"), Some("spec.containers"));
        assert_eq!(
            parent("metadata.labels[app.kubernetes.io/name]"),
            Some("metadata.labels")
        );
        assert_eq!(parent("spec"), Some(""));
        assert_eq!(parent(""), None);
    }

    #[test]
    fn within() {
        assert!(is_within("a.env[0].name", "a.env"));
        assert!(is_within("a.env[0].name", "a.env[0]"));
        assert!(!is_within("a.envFrom", "a.env"));
        assert!(!is_within("a.env", "a.env"));
    }
}
