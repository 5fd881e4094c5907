//! A serde `Deserializer` over a [`Node`] tree.
//!
//! Errors carry the span of the node they concern: an unknown field points at
//! its key (with a "did you mean" hint), a missing field at the key of the
//! mapping that lacks it, a wrong type at the value.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use super::{Node, Resolved, Value};
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::source::Span;

/// A deserialization error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
    pub span: Option<Span>,
}

impl Error {
    fn new(code: Code, message: String) -> Self {
        Self {
            code,
            message,
            help: None,
            span: None,
        }
    }

    fn or_at(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    /// As a diagnostic.
    #[must_use]
    pub fn into_diagnostic(self) -> Diagnostic {
        let mut d = Diagnostic::error(self.code, self.message).at(self.span);
        if let Some(help) = self.help {
            d = d.help(help);
        }
        d
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(Code::InvalidValue, msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = exp.to_string();
        let mut e = Self::new(
            Code::InvalidValue,
            format!(
                "expected {}, found {}",
                in_spec_terms(&expected),
                describe(&unexp)
            ),
        );
        e.help = Some(type_hint(&expected).to_string());
        e
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(
            Code::InvalidValue,
            format!(
                "invalid value {}: expected {}",
                describe(&unexp),
                in_spec_terms(&exp.to_string())
            ),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::new(Code::InvalidValue, format!("unknown value `{variant}`"));
        e.help = Some(match did_you_mean(variant, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? expected one of {}", list(expected)),
            None => format!("expected one of {}", list(expected)),
        });
        e
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::new(Code::UnknownField, format!("unknown field `{field}`"));
        e.help = Some(match did_you_mean(field, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if expected.is_empty() => "this mapping takes no fields".to_string(),
            None => format!("expected one of {}", list(expected)),
        });
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Self::new(Code::MissingField, format!("missing field `{field}`"));
        e.help = Some(format!("add `{field}:` here"));
        e
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(Code::DuplicateKey, format!("duplicate field `{field}`"))
    }
}

/// What serde calls the expected type, in the spec's words: YAML's names
/// for shapes rather than Rust's types (`struct Chain`, `u32`).
fn in_spec_terms(expected: &str) -> String {
    let word = expected.split_whitespace().next().unwrap_or("");
    match word {
        "struct" | "map" => "a mapping".to_string(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "enum" => "one of the values this field takes".to_string(),
        _ => match expected {
            "a sequence" | "sequence" => "a list".to_string(),
            "a map" => "a mapping".to_string(),
            "a borrowed string" => "a string".to_string(),
            "a boolean" => "`true` or `false`".to_string(),
            other => other.to_string(),
        },
    }
}

/// How to write a value of the expected type.
fn type_hint(expected: &str) -> &'static str {
    if expected.contains("sequence") {
        "write a list: `[a, b]`, or one `- item` per line"
    } else if expected.starts_with("struct") || expected.contains("map") {
        "write a mapping: `key: value` lines, indented under this key"
    } else if expected.contains("bool") {
        "write `true` or `false`"
    } else if expected.starts_with('u') || expected.starts_with('i') || expected.starts_with('f') {
        "write a number, without quotes"
    } else if expected.contains("string") || expected.contains("char") {
        "write a single value; quote it if it starts with a special character"
    } else {
        "see `schemas/orchctl.schema.json` for the expected shape"
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(u: &Unexpected<'_>) -> String {
    match u {
        Unexpected::Str(s) => format!("string \"{s}\""),
        Unexpected::Unit => "null".to_string(),
        Unexpected::Map => "a mapping".to_string(),
        Unexpected::Seq => "a list".to_string(),
        other => other.to_string(),
    }
}

/// Deserialize a `T` from a node.
///
/// # Errors
/// The first error met, with its location.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    T::deserialize(NodeDeserializer {
        node,
        key_span: None,
    })
}

/// Deserializes one node. `key_span` is the span of the key this node is the
/// value of, used for errors about the node as a whole.
#[derive(Clone, Copy)]
pub struct NodeDeserializer<'de> {
    pub node: &'de Node,
    pub key_span: Option<Span>,
}

impl<'de> NodeDeserializer<'de> {
    fn whole_span(&self) -> Span {
        match self.node.value {
            Value::Scalar(_) => self.node.span,
            _ => self.key_span.unwrap_or(self.node.span),
        }
    }

    fn unexpected(&self) -> Unexpected<'de> {
        match &self.node.value {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => Unexpected::Unit,
                Resolved::Bool(b) => Unexpected::Bool(b),
                Resolved::Int(i) => Unexpected::Signed(i),
                Resolved::Uint(u) => Unexpected::Unsigned(u),
                Resolved::Float(f) => Unexpected::Float(f),
                Resolved::Str(_) => Unexpected::Str(&s.text),
            },
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn type_error(&self, exp: &dyn de::Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), exp)
    }

    fn number<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let span = self.node.span;
        match &self.node.value {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Uint(u) => visitor.visit_u64(u),
                Resolved::Float(f) => visitor.visit_f64(f),
                _ => Err(self.type_error(&visitor)),
            },
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e| e.or_at(span))
    }
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let span = self.whole_span();
        match &self.node.value {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Uint(u) => visitor.visit_u64(u),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(t) => visitor.visit_borrowed_str(t),
            },
            Value::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter(),
            }),
            Value::Map(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
        }
        .map_err(|e| e.or_at(span))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Bool(b) => visitor.visit_bool(b),
                _ => Err(self.type_error(&visitor)),
            },
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e| e.or_at(self.node.span))
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.number(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    /// Any non-null scalar is a string as written: `tag: 1.10` stays `"1.10"`.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s) if s.resolve() != Resolved::Null => {
                visitor.visit_borrowed_str(&s.text)
            }
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e| e.or_at(self.node.span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Err(self.type_error(&visitor).or_at(self.node.span))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s) if s.resolve() == Resolved::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar(s) if s.resolve() == Resolved::Null => visitor.visit_unit(),
            _ => Err(self.type_error(&visitor).or_at(self.node.span)),
        }
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
        let span = self.whole_span();
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter(),
            }),
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e| e.or_at(span))
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
        let span = self.whole_span();
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e| e.or_at(span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let span = self.node.span;
        match &self.node.value {
            Value::Scalar(s) if s.resolve() != Resolved::Null => {
                visitor.visit_enum(s.text.as_str().into_deserializer())
            }
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(Enum {
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            _ => Err(self.type_error(&visitor)),
        }
        .map_err(|e: Error| e.or_at(span))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Seq<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some(node) => seed
                .deserialize(NodeDeserializer {
                    node,
                    key_span: None,
                })
                .map(Some)
                .map_err(|e| e.or_at(node.span)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<(&'de Node, &'de Node)>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(NodeDeserializer {
                    node: key,
                    key_span: None,
                })
                .map(Some)
                .map_err(|e| e.or_at(key.span))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("value without a key"))?;
        seed.deserialize(NodeDeserializer {
            node: value,
            key_span: Some(key.span),
        })
        .map_err(|e| e.or_at(value.span))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Enum<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = Variant<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Variant<'de>), Error> {
        let v = seed
            .deserialize(NodeDeserializer {
                node: self.key,
                key_span: None,
            })
            .map_err(|e| e.or_at(self.key.span))?;
        Ok((
            v,
            Variant {
                key: self.key,
                value: self.value,
            },
        ))
    }
}

struct Variant<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self.deserializer())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.deserializer())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.deserializer(), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self.deserializer(), visitor)
    }
}

impl<'de> Variant<'de> {
    fn deserializer(&self) -> NodeDeserializer<'de> {
        NodeDeserializer {
            node: self.value,
            key_span: Some(self.key.span),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::source::FileId;
    use crate::yaml::parse;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Thing {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        extra: BTreeMap<String, String>,
    }

    fn load<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, Error> {
        let node = parse(text, FileId(0)).unwrap().unwrap();
        let node: &'static Node = Box::leak(Box::new(node));
        from_node(node)
    }

    #[test]
    fn reads_structs() {
        let t: Thing = load("name: x\ncount: 3\ntags: [a, 1.10]\nextra: {k: v}\n").unwrap();
        assert_eq!(t.name, "x");
        assert_eq!(t.count, 3);
        assert_eq!(t.tags, vec!["a", "1.10"]);
        assert_eq!(t.extra["k"], "v");
    }

    #[test]
    fn unknown_field_points_at_key_with_hint() {
        let e = load::<Thing>("name: x\ncuont: 3\n").unwrap_err();
        assert_eq!(e.code, Code::UnknownField);
        let s = e.span.unwrap();
        assert_eq!((s.line, s.col, s.len), (2, 1, 5));
        assert_eq!(e.help.as_deref(), Some("did you mean `count`?"));
    }

    #[test]
    fn missing_field_points_at_parent_key() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Outer {
            inner: Thing,
        }
        let e = load::<Outer>("inner:\n  count: 1\n").unwrap_err();
        assert_eq!(e.code, Code::MissingField);
        assert_eq!(e.span.unwrap().line, 1);
    }

    #[test]
    fn wrong_type_points_at_value() {
        let e = load::<Thing>("name: x\ncount: many\n").unwrap_err();
        assert_eq!(e.code, Code::InvalidValue);
        assert_eq!(
            e.message,
            "expected a whole number, 0 or more, found string \"many\""
        );
        assert_eq!(e.span.unwrap().col, 8);
    }
}
