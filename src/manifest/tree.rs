//! A YAML stream parsed into trees whose every node remembers where it came from.
//!
//! Parsing into our own tree first (instead of straight into k8s-openapi types) is what
//! lets later stages report unknown fields, type mismatches and invalid values with the
//! line and column of the offending node.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, Spanned};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    fn from_location(loc: Location) -> Option<Pos> {
        (loc.line() > 0).then(|| Pos {
            line: loc.line(),
            column: loc.column(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Option<Pos>,
    /// The scalar as written in the source (quotes included), so messages can echo it.
    pub raw: Option<String>,
    pub kind: Kind,
    /// Byte range of the scalar's definition; aliases point back at their anchor.
    span: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Null,
    Bool(bool),
    /// Only negative integers; non-negative ones are `UInt`, as serde-saphyr reports them.
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error or a budget breach: the whole stream is unusable.
#[derive(Debug)]
pub struct SyntaxError {
    pub pos: Option<Pos>,
    pub message: String,
    pub help: Option<&'static str>,
}

const MAX_ALIASES: usize = 1_000;
const MAX_NODES: usize = 100_000;
const MAX_DEPTH: usize = 64;
const MAX_DOCUMENTS: usize = 1_000;
const MAX_REPLAYED_EVENTS: usize = 100_000;

/// Limits that keep hostile input (alias bombs, deep nesting) cheap to refuse; a real
/// Pod manifest is orders of magnitude below all of them.
pub(crate) fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_nodes = MAX_NODES;
    budget.max_depth = MAX_DEPTH;
    budget.max_documents = MAX_DOCUMENTS;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    // Duplicates are reported by the strict deserializer, with a field path and without
    // giving up on the rest of the document.
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.with_snippet = false;
    options
}

/// Parses every non-empty document of a YAML (or JSON) stream.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut docs: Vec<Node> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|err| {
            let (message, help) = describe(&err);
            SyntaxError {
                pos: err.location().and_then(Pos::from_location),
                message,
                help,
            }
        })?;
    for doc in &mut docs {
        doc.fill_raw(text);
    }
    Ok(docs)
}

/// Turns serde-saphyr's error into our wording; limits get a plain explanation instead of
/// the library's internal counters.
fn describe(err: &serde_saphyr::Error) -> (String, Option<&'static str>) {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;

    const TOO_BIG: &str =
        "wpod refuses documents this large or this deeply nested; a Pod manifest needs far less";
    const BOMB: &str = "this looks like an alias bomb (\"billion laughs\"); if the document is real, write the repeated parts out";
    let mut inner = err;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let (message, help) = match inner {
        E::Budget { breach, .. } => match breach {
            B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => (
                format!("too many aliases or anchors (at most {MAX_ALIASES})"),
                BOMB,
            ),
            B::Depth { .. } => (
                format!("nested too deeply (at most {MAX_DEPTH} levels)"),
                TOO_BIG,
            ),
            B::Nodes { .. } => (format!("too many nodes (at most {MAX_NODES})"), TOO_BIG),
            B::Documents { .. } => (
                format!("too many documents (at most {MAX_DOCUMENTS})"),
                TOO_BIG,
            ),
            other => (
                format!("input exceeds wpod's parsing limits ({other:?})"),
                TOO_BIG,
            ),
        },
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => (
            format!("aliases expand to too many nodes (at most {MAX_REPLAYED_EVENTS})"),
            BOMB,
        ),
        other => {
            return (
                format!("invalid YAML: {}", strip_location(&other.to_string())),
                None,
            );
        }
    };
    (message, Some(help))
}

/// serde-saphyr appends the position to its messages; ours carry it separately.
fn strip_location(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    message.trim_end_matches('.').to_owned()
}

impl Node {
    fn fill_raw(&mut self, text: &str) {
        match &mut self.kind {
            Kind::Seq(items) => items.iter_mut().for_each(|n| n.fill_raw(text)),
            Kind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.fill_raw(text);
                v.fill_raw(text);
            }),
            _ => {
                self.raw = self
                    .span
                    .and_then(|(start, len)| text.get(start..start.checked_add(len)?))
                    .filter(|raw| !raw.is_empty())
                    .map(str::to_owned);
            }
        }
    }

    /// The entries of a mapping node.
    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A mapping key as Kubernetes sees it: sigs.k8s.io/yaml turns every key into a
    /// string. Plain keys are taken as written so that `n:` or `on:` stay text.
    pub fn key_text(&self) -> String {
        match (&self.kind, &self.raw) {
            (Kind::Str(s), _) => s.clone(),
            (_, Some(raw)) => raw.clone(),
            (Kind::Null, None) => String::new(),
            (kind, None) => kind.scalar_text().unwrap_or_default(),
        }
    }

    /// The node as it was written, for echoing back in messages.
    pub fn source_text(&self) -> String {
        match &self.raw {
            Some(raw) => raw.clone(),
            None => self.kind.scalar_text().unwrap_or_default(),
        }
    }

    /// Whether the node says nothing: null, `false`, or an empty list or mapping.
    /// Kubernetes treats such fields like unset ones.
    pub fn is_unset(&self) -> bool {
        match &self.kind {
            Kind::Null | Kind::Bool(false) => true,
            Kind::Seq(items) => items.is_empty(),
            Kind::Map(entries) => entries.is_empty(),
            _ => false,
        }
    }
}

impl Kind {
    fn scalar_text(&self) -> Option<String> {
        match self {
            Kind::Null => Some("null".into()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::UInt(u) => Some(u.to_string()),
            Kind::Float(x) => Some(x.to_string()),
            Kind::Str(s) => Some(s.clone()),
            Kind::Seq(_) | Kind::Map(_) => None,
        }
    }
}

/// Longer strings (scripts, certificates) are cut short in messages.
const QUOTE_MAX: usize = 40;

/// Describes a node for "expected X, found Y" messages.
pub struct Found<'a>(pub &'a Node);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.0;
        match &node.kind {
            Kind::Null => f.write_str("null"),
            Kind::Bool(_) => write!(f, "the boolean {}", node.source_text()),
            Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) => {
                write!(f, "the number {}", node.source_text())
            }
            Kind::Str(s) if s.chars().count() > QUOTE_MAX => {
                let start: String = s.chars().take(QUOTE_MAX).collect();
                write!(f, "the string {:?}", format!("{start}..."))
            }
            Kind::Str(s) => write!(f, "the string {s:?}"),
            Kind::Seq(_) => f.write_str("a list"),
            Kind::Map(_) => f.write_str("a mapping"),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        let span = spanned.defined.span();
        let span = span
            .byte_offset()
            .zip(span.byte_len())
            .and_then(|(start, len)| {
                Some((usize::try_from(start).ok()?, usize::try_from(len).ok()?))
            });
        Ok(Node {
            pos: Pos::from_location(spanned.referenced),
            raw: None,
            kind: spanned.value,
            span,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        match parse(text) {
            Ok(mut docs) if docs.len() == 1 => docs.remove(0),
            other => panic!("expected one document, got {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_yaml_type() {
        let doc = one("a: 80\nb: \"80\"\nc: true\nd: ~\ne:\nf: null\ng: 0.5\nh: -3\n");
        assert!(matches!(
            doc.get("a").map(|n| &n.kind),
            Some(Kind::UInt(80))
        ));
        assert_eq!(doc.get("b").and_then(Node::as_str), Some("80"));
        assert!(matches!(
            doc.get("c").map(|n| &n.kind),
            Some(Kind::Bool(true))
        ));
        for key in ["d", "e", "f"] {
            assert!(
                matches!(doc.get(key).map(|n| &n.kind), Some(Kind::Null)),
                "{key}"
            );
        }
        assert!(matches!(
            doc.get("g").map(|n| &n.kind),
            Some(Kind::Float(_))
        ));
        assert!(matches!(doc.get("h").map(|n| &n.kind), Some(Kind::Int(-3))));
    }

    #[test]
    fn nodes_and_keys_carry_positions_and_raw_text() {
        let doc = one("spec:\n  containers:\n  - name: 'x'\n    port: 0x50\n");
        let Some(Kind::Seq(items)) = doc
            .get("spec")
            .and_then(|s| s.get("containers"))
            .map(|n| &n.kind)
        else {
            panic!("no containers");
        };
        let entries = items[0].entries().unwrap_or_default();
        assert_eq!(entries[0].0.pos, Some(Pos { line: 3, column: 5 }));
        assert_eq!(entries[0].1.raw.as_deref(), Some("'x'"));
        assert_eq!(entries[1].1.raw.as_deref(), Some("0x50"));
    }

    #[test]
    fn plain_keys_stay_text() {
        let doc = one("n: 1\non: 2\n80: 3\n");
        let keys: Vec<String> = doc
            .entries()
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| k.key_text())
            .collect();
        assert_eq!(keys, ["n", "on", "80"]);
    }

    #[test]
    fn empty_documents_are_skipped() {
        let docs = parse("---\n---\na: 1\n---\n# nothing\n").map(|d| d.len());
        assert_eq!(docs.ok(), Some(1));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\n").err();
        assert_eq!(err.as_ref().and_then(|e| e.pos).map(|p| p.line), Some(1));
        assert!(err.is_some_and(|e| !e.message.contains(" at line ")));
    }
}
