//! Reading typed values out of a [`Node`] tree with serde.
//!
//! Scalars follow the rules a Kubernetes API client applies to YAML: any scalar can be read as a
//! string (`port: 8000` is the string "8000" where a string is wanted), plain scalars are typed by
//! the YAML core schema when the target accepts anything, and quoted scalars are never numbers or
//! booleans. Every error carries the span of the offending node and its JSON-pointer path; an
//! unknown field gets a "did you mean" suggestion.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Entry, Node, Span, Value, is_null_text};

/// A typed-read failure, located in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub span: Option<Span>,
    /// JSON-pointer segments from the root to the offending node, outermost first.
    pub path: Vec<String>,
    /// A suggestion for an unknown field.
    pub help: Option<String>,
}

impl DeError {
    fn at(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    fn under(mut self, seg: &str) -> Self {
        self.path.insert(0, seg.to_string());
        self
    }

    /// The path as a JSON pointer, e.g. `/spec/replicas`.
    pub fn pointer(&self) -> String {
        self.path.iter().map(|s| format!("/{s}")).collect()
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            span: None,
            path: Vec::new(),
            help: None,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::custom(format_args!("unknown field `{field}`"));
        e.help = Some(match closest(field, expected) {
            Some(best) => format!("did you mean `{best}`?"),
            None if expected.is_empty() => "this object takes no fields".to_string(),
            None => format!("known fields: {}", expected.join(", ")),
        });
        e
    }
}

/// The expected name closest to `field`, if it is plausibly a typo of it.
pub fn closest<'a>(field: &str, expected: &[&'a str]) -> Option<&'a str> {
    let lower = field.to_ascii_lowercase();
    expected
        .iter()
        .map(|e| (edit_distance(&lower, &e.to_ascii_lowercase()), *e))
        .filter(|(d, e)| *d <= (e.len().max(field.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Read a `T` from a node tree.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node<'de>) -> Result<T, DeError> {
    T::deserialize(NodeDe(node))
}

struct NodeDe<'a>(&'a Node<'a>);

impl<'de> NodeDe<'de> {
    fn scalar(&self) -> Option<(&'de str, bool)> {
        match &self.0.value {
            Value::Scalar(s) => Some((s.text.as_ref(), s.plain)),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.0.is_null()
    }

    fn unexpected(&self) -> de::Unexpected<'de> {
        match &self.0.value {
            Value::Scalar(s) if s.plain && is_null_text(&s.text) => de::Unexpected::Unit,
            Value::Scalar(s) => de::Unexpected::Str(&s.text),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn int<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match self.scalar() {
            Some((t, true)) => {
                if let Some(v) = parse_int(t) {
                    return match v {
                        Int::Neg(i) => visitor.visit_i64(i),
                        Int::Pos(u) => visitor.visit_u64(u),
                    }
                    .map_err(|e: DeError| e.at(span));
                }
                Err(de::Error::invalid_type(self.unexpected(), &visitor))
                    .map_err(|e: DeError| e.at(span))
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor))
                .map_err(|e: DeError| e.at(span)),
        }
    }
}

enum Int {
    Neg(i64),
    Pos(u64),
}

fn parse_int(t: &str) -> Option<Int> {
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = if let Some(h) = digits.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u64>().ok()?
    } else {
        return None;
    };
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some(Int::Neg((magnitude as i128).wrapping_neg() as i64))
    } else {
        Some(Int::Pos(magnitude))
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => {
            let ok = t
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
                && t.bytes().any(|b| b.is_ascii_digit());
            if ok { t.parse().ok() } else { None }
        }
    }
}

macro_rules! int_methods {
    ($($m:ident),*) => {
        $(fn $m<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.int(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        let r = match &self.0.value {
            Value::Scalar(s) if !s.plain => visitor.visit_borrowed_str(&s.text),
            Value::Scalar(s) => {
                let t = s.text.as_ref();
                if is_null_text(t) {
                    visitor.visit_unit()
                } else if let Some(b) = match t {
                    "true" | "True" | "TRUE" => Some(true),
                    "false" | "False" | "FALSE" => Some(false),
                    _ => None,
                } {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(t) {
                    match i {
                        Int::Neg(i) => visitor.visit_i64(i),
                        Int::Pos(u) => visitor.visit_u64(u),
                    }
                } else if let Some(f) = parse_float(t) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_borrowed_str(t)
                }
            }
            Value::Seq(items) => visitor.visit_seq(SeqDe { items, index: 0 }),
            Value::Map(entries) => visitor.visit_map(MapDe { entries, index: 0 }),
        };
        r.map_err(|e: DeError| e.at(span))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match self.scalar() {
            Some((t, true)) if parse_bool(t).is_some() => {
                visitor.visit_bool(parse_bool(t).unwrap_or_default())
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    int_methods!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match self.scalar() {
            Some((t, true)) if parse_float(t).is_some() => {
                visitor.visit_f64(parse_float(t).unwrap_or_default())
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.value {
            Value::Scalar(s) if !(s.plain && is_null_text(&s.text)) => {
                visitor.visit_borrowed_str(&s.text)
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        if self.is_null() {
            visitor.visit_none().map_err(|e: DeError| e.at(span))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        if self.is_null() {
            visitor.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &visitor))
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(SeqDe { items, index: 0 }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.value {
            Value::Map(entries) => visitor.visit_map(MapDe { entries, index: 0 }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let span = self.0.span;
        match &self.0.value {
            Value::Scalar(s) => visitor.visit_enum(s.text.as_ref().into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumDe(&entries[0])),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
        .map_err(|e: DeError| e.at(span))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a> {
    items: &'a [Node<'a>],
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.index) else {
            return Ok(None);
        };
        let i = self.index;
        self.index += 1;
        seed.deserialize(NodeDe(node))
            .map(Some)
            .map_err(|e| e.at(node.span).under(&i.to_string()))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.index)
    }
}

struct MapDe<'a> {
    entries: &'a [Entry<'a>],
    index: usize,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.get(self.index) else {
            return Ok(None);
        };
        seed.deserialize(KeyDe(&entry.key)).map(Some).map_err(|e| {
            e.at(entry.key_span)
                .under(&super::escape_segment(&entry.key))
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.entries.get(self.index) else {
            return Err(de::Error::custom("a map value was read without its key"));
        };
        self.index += 1;
        seed.deserialize(NodeDe(&entry.value)).map_err(|e| {
            e.at(entry.value.span)
                .under(&super::escape_segment(&entry.key))
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.index)
    }
}

struct KeyDe<'a>(&'a str);

impl<'de> de::Deserializer<'de> for KeyDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct EnumDe<'a>(&'a Entry<'a>);

impl<'de> de::EnumAccess<'de> for EnumDe<'de> {
    type Error = DeError;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'de>), DeError> {
        let v = seed.deserialize(KeyDe(&self.0.key))?;
        Ok((v, NodeDe(&self.0.value)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_documents};
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct T {
        replicas: Option<i32>,
        name: Option<String>,
        enabled: Option<bool>,
    }

    fn one(text: &str) -> Node<'_> {
        parse_documents(text, Limits::default()).unwrap().remove(0)
    }

    #[test]
    fn lenient_strings_strict_numbers() {
        let n = one("replicas: 3\nname: 8000\nenabled: true\n");
        let t: T = from_node(&n).unwrap();
        assert_eq!(t.replicas, Some(3));
        assert_eq!(t.enabled, Some(true));
        assert_eq!(t.name.as_deref(), Some("8000"));
        let n = one("replicas: '3'\n");
        let e = from_node::<T>(&n).unwrap_err();
        assert_eq!(e.pointer(), "/replicas");
        assert_eq!(e.span.unwrap().start.line, 1);
    }

    #[test]
    fn unknown_fields_suggest() {
        let n = one("name: x\nreplica: 2\n");
        let e = from_node::<T>(&n).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `replicas`?"));
        assert_eq!(e.span.unwrap().start.line, 2);
    }

    #[test]
    fn quantities_accept_numbers() {
        let n = one("limits:\n  nvidia.com/gpu: 1\n");
        let r: k8s_openapi::api::core::v1::ResourceRequirements = from_node(&n).unwrap();
        assert_eq!(r.limits.unwrap()["nvidia.com/gpu"].0, "1");
    }
}
