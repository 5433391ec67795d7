//! The deserializer for one node: type checks with a neutral fallback value.

use std::cell::RefCell;

use serde::de::{self, Visitor};

use super::access::{MapDe, SeqDe};
use super::{Error, State};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::tree::{Found, Kind, Node};

pub(super) struct NodeDe<'a, 's> {
    pub(super) node: &'a Node,
    pub(super) path: String,
    pub(super) state: &'s RefCell<State<'a>>,
}

static EMPTY_SEQ: [Node; 0] = [];
static EMPTY_MAP: [(Node, Node); 0] = [];

impl<'a, 's> NodeDe<'a, 's> {
    fn locate<V>(&self, result: Result<V, Error>) -> Result<V, Error> {
        result.map_err(|mut err| {
            err.at
                .get_or_insert_with(|| (self.path.clone(), self.node.pos));
            err
        })
    }

    fn report(&self, message: String, help: Option<String>) {
        let mut state = self.state.borrow_mut();
        let mut diagnostic = Diagnostic::error(&state.file, self.node.pos, &self.path, message);
        diagnostic.help = help;
        state.diagnostics.push(diagnostic);
    }

    fn mismatch(&self, expected: &str, help: Option<String>) {
        self.report(
            format!("expected {expected}, found {}", Found(self.node)),
            help,
        );
    }

    fn seq(&self, items: &'a [Node]) -> SeqDe<'a, 's> {
        SeqDe::new(items, self.path.clone(), self.state)
    }

    fn map(
        &self,
        entries: &'a [(Node, Node)],
        fields: Option<&'static [&'static str]>,
    ) -> MapDe<'a, 's> {
        MapDe::new(entries, fields, self.path.clone(), self.state)
    }

    /// Reads an integer, reporting (and replacing with 0) anything else.
    fn integer(&self, bits: &str, min: i128, max: i128) -> i128 {
        let value = match &self.node.kind {
            Kind::Int(i) => i128::from(*i),
            Kind::UInt(u) => i128::from(*u),
            Kind::Null => 0,
            // `0644`: YAML 1.1 octal, as Kubernetes' YAML reader (and every file-mode example) has it.
            Kind::Float(_) if legacy_octal(&self.node.source_text()).is_some() => {
                legacy_octal(&self.node.source_text()).unwrap_or(0)
            }
            Kind::Str(s) => {
                let help = s
                    .trim()
                    .parse::<i128>()
                    .ok()
                    .map(|n| format!("remove the quotes: {n}"));
                self.mismatch("an integer", help);
                return 0;
            }
            _ => {
                self.mismatch("an integer", None);
                return 0;
            }
        };
        if (min..=max).contains(&value) {
            value
        } else {
            self.report(
                format!("{value} is out of range for a {bits} integer ({min} to {max})"),
                None,
            );
            0
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident $visit:ident $ty:ty, $bits:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value = self.integer($bits, <$ty>::MIN.into(), <$ty>::MAX.into());
            let result = visitor.$visit(<$ty>::try_from(value).unwrap_or_default());
            self.locate(result)
        }
    )*};
}

impl<'de, 'a, 's> de::Deserializer<'de> for NodeDe<'a, 's> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Int(i) => visitor.visit_i64(*i),
            Kind::UInt(u) => visitor.visit_u64(*u),
            Kind::Float(x) => visitor.visit_f64(*x),
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Seq(items) => visitor.visit_seq(self.seq(items)),
            Kind::Map(entries) => visitor.visit_map(self.map(entries, None)),
        };
        self.locate(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match &self.node.kind {
            Kind::Bool(b) => *b,
            Kind::Null => false,
            Kind::Str(s) if s == "true" || s == "false" => {
                self.mismatch("true or false", Some(format!("remove the quotes: {s}")));
                false
            }
            _ => {
                self.mismatch("true or false", None);
                false
            }
        };
        let result = visitor.visit_bool(value);
        self.locate(result)
    }

    integer_methods! {
        deserialize_i8 visit_i8 i8, "8-bit";
        deserialize_i16 visit_i16 i16, "16-bit";
        deserialize_i32 visit_i32 i32, "32-bit";
        deserialize_i64 visit_i64 i64, "64-bit";
        deserialize_u8 visit_u8 u8, "8-bit unsigned";
        deserialize_u16 visit_u16 u16, "16-bit unsigned";
        deserialize_u32 visit_u32 u32, "32-bit unsigned";
        deserialize_u64 visit_u64 u64, "64-bit unsigned";
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = match &self.node.kind {
            Kind::Int(i) => *i as f64,
            Kind::UInt(u) => *u as f64,
            Kind::Float(x) => *x,
            Kind::Null => 0.0,
            _ => {
                self.mismatch("a number", None);
                0.0
            }
        };
        let result = visitor.visit_f64(value);
        self.locate(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.kind {
            Kind::Str(s) => visitor.visit_str(s),
            // Go decodes null into a string as "", and so does Kubernetes.
            Kind::Null => visitor.visit_str(""),
            Kind::Bool(_) | Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) => {
                // Kubernetes refuses these too: `value: 80` is a number, not the text "80".
                let raw = self.node.source_text();
                self.mismatch("a string", Some(format!("quote it: \"{raw}\"")));
                visitor.visit_str(&raw)
            }
            Kind::Seq(_) | Kind::Map(_) => {
                self.mismatch("a string", None);
                visitor.visit_str("")
            }
        };
        self.locate(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if matches!(self.node.kind, Kind::Null) {
            let result = visitor.visit_none();
            self.locate(result)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if !matches!(self.node.kind, Kind::Null) {
            self.mismatch("null", None);
        }
        let result = visitor.visit_unit();
        self.locate(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let items: &'a [Node] = match &self.node.kind {
            Kind::Seq(items) => items,
            Kind::Null => &EMPTY_SEQ,
            Kind::Map(_) => {
                self.mismatch("a list", Some("start each item of a list with `- `".into()));
                &EMPTY_SEQ
            }
            Kind::Str(s) if s.contains(char::is_whitespace) && !s.contains(['"', '\'', '\\']) => {
                let words: Vec<String> = s.split_whitespace().map(|w| format!("{w:?}")).collect();
                let help = format!(
                    "write a list with one item per argument, e.g. [{}]",
                    words.join(", ")
                );
                self.mismatch("a list", Some(help));
                &EMPTY_SEQ
            }
            _ => {
                let help = format!("write a list, e.g. [{}]", self.node.source_text());
                self.mismatch("a list", Some(help));
                &EMPTY_SEQ
            }
        };
        let result = visitor.visit_seq(self.seq(items));
        self.locate(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = self.entries_or_report("a mapping");
        let result = visitor.visit_map(self.map(entries, None));
        self.locate(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let entries = self.entries_or_report(&format!("a mapping ({name})"));
        let result = visitor.visit_map(self.map(entries, Some(fields)));
        self.locate(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        // No Kubernetes core type is a serde enum; refuse rather than guess a representation.
        self.locate(Err(de::Error::custom(format_args!(
            "cannot read {name} here"
        ))))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_unit();
        self.locate(result)
    }

    serde::forward_to_deserialize_any! { i128 u128 }
}

impl<'a> NodeDe<'a, '_> {
    fn entries_or_report(&self, expected: &str) -> &'a [(Node, Node)] {
        match &self.node.kind {
            Kind::Map(entries) => entries,
            Kind::Null => &EMPTY_MAP,
            Kind::Seq(_) => {
                self.mismatch(
                    expected,
                    Some("remove the leading `- `: this is not a list".into()),
                );
                &EMPTY_MAP
            }
            _ => {
                self.mismatch(expected, None);
                &EMPTY_MAP
            }
        }
    }
}

/// `0644` → 420: a leading zero and octal digits only.
fn legacy_octal(text: &str) -> Option<i128> {
    let digits = text.trim().strip_prefix('0')?;
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    i128::from_str_radix(digits, 8).ok()
}
