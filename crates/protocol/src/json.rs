//! [`Json`]: a JSON document read in place, its strings borrowed from the
//! body wherever they were written without escapes.
//!
//! A `serde_json::Value` owns a copy of every string and a hash map per
//! object: a 30 MiB RetailSales became about twice its size again in memory
//! while it was read, mostly for fields no content model reads (an item's
//! description). A [`Json`] keeps objects as their entries in document order
//! and strings as slices of the body, so reading an envelope costs a small
//! fraction of its size; [`Json::detach`] copies one off its body where it
//! must outlive it.
//!
//! It reads what `Value` reads, as the workspace builds serde_json
//! (`arbitrary_precision`): a number keeps its text as serde_json spells it
//! (`1e0` is `1e+0`), and an object whose first key is serde_json's private
//! number or raw-value key is read as `Value` reads it, failing where it
//! fails. The envelope rules (`crate::document`) refuse both keys anyway.
//! One difference: of a key written twice in one object both entries are
//! kept and readers ([`crate::Node`]) take the first, where `Value` kept the
//! last. Envelopes with a repeated key are refused; a destination's receipt,
//! read tolerantly, is read by its first.

use std::borrow::Cow;
use std::fmt::{self, Write};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::document::{NUMBER_TOKEN, RAW_VALUE_TOKEN};

/// `text` as a `str` when it is UTF-8, checked whole at once: serde_json
/// reads a `str` without checking each string again, and checking a 30 MiB
/// sale's strings one by one took 20 ms per read (its descriptions are
/// Portuguese, off the ASCII fast path). `None` when it is not, for
/// serde_json to read the bytes and say at which line and column it fails.
pub(crate) fn utf8(text: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(text).ok()
}

/// A JSON value whose strings may borrow from the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Json<'a> {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json spells it (no precision lost).
    Number(Cow<'a, str>),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object's entries in document order.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Reads `text`, borrowing its strings.
    pub fn parse(text: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        match utf8(text) {
            Some(text) => serde_json::from_str(text),
            None => serde_json::from_slice(text),
        }
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// A copy owning its strings, to outlive the text it was read from.
    pub fn detach(&self) -> Json<'static> {
        let owned = |text: &Cow<'a, str>| Cow::Owned(text.to_string());
        match self {
            Json::Null => Json::Null,
            Json::Bool(flag) => Json::Bool(*flag),
            Json::Number(text) => Json::Number(owned(text)),
            Json::String(text) => Json::String(owned(text)),
            Json::Array(values) => Json::Array(values.iter().map(Json::detach).collect()),
            Json::Object(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(key, value)| (owned(key), value.detach()))
                    .collect(),
            ),
        }
    }

    /// The compact JSON text, cut after about `max_chars` characters: what
    /// a message quotes of a value that may be megabytes long. The cut is
    /// the caller's to mark.
    pub fn to_string_within(&self, max_chars: usize) -> String {
        let mut out = Within {
            text: String::new(),
            max_bytes: max_chars.saturating_mul(4).saturating_add(4),
        };
        // Stops with an error once the text holds enough.
        let _ = write_json(self, &mut out);
        out.text
    }
}

/// A writer that refuses more than `max_bytes`, so rendering stops early.
struct Within {
    text: String,
    max_bytes: usize,
}

impl Write for Within {
    fn write_str(&mut self, part: &str) -> fmt::Result {
        if self.text.len() >= self.max_bytes {
            return Err(fmt::Error);
        }
        self.text.push_str(part);
        Ok(())
    }
}

/// Compact JSON, as `serde_json::Value` displays it.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_json(self, f)
    }
}

fn write_json(value: &Json<'_>, out: &mut impl Write) -> fmt::Result {
    match value {
        Json::Null => out.write_str("null"),
        Json::Bool(flag) => out.write_str(if *flag { "true" } else { "false" }),
        Json::Number(text) => out.write_str(text),
        Json::String(text) => write_string(text, out),
        Json::Array(values) => {
            out.write_char('[')?;
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.write_char(',')?;
                }
                write_json(value, out)?;
            }
            out.write_char(']')
        }
        Json::Object(entries) => {
            out.write_char('{')?;
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 {
                    out.write_char(',')?;
                }
                write_string(key, out)?;
                out.write_char(':')?;
                write_json(value, out)?;
            }
            out.write_char('}')
        }
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn write_string(text: &str, out: &mut impl Write) -> fmt::Result {
    let quoted = serde_json::to_string(text).map_err(|_| fmt::Error)?;
    out.write_str(&quoted)
}

/// Views a `serde_json::Value` (configuration, imports, tests) as a [`Json`].
impl<'a> From<&'a Value> for Json<'a> {
    fn from(value: &'a Value) -> Json<'a> {
        match value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) => Json::Number(Cow::Owned(number.to_string())),
            Value::String(text) => Json::String(Cow::Borrowed(text)),
            Value::Array(values) => Json::Array(values.iter().map(Json::from).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(key, value)| (Cow::Borrowed(key.as_str()), Json::from(value)))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Cow::Owned(number.to_string())))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Cow::Owned(number.to_string())))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Json<'de>, E> {
        serde_json::Number::from_f64(number)
            .map(|number| Json::Number(Cow::Owned(number.to_string())))
            .ok_or_else(|| E::custom("not a JSON number"))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(inner)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(value) = seq.next_element()? {
            values.push(value);
        }
        Ok(Json::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let Some(first) = map.next_key::<Json<'de>>()? else {
            return Ok(Json::Object(Vec::new()));
        };
        let first = text(first)?;
        // What serde_json's `Value` does with its private keys.
        match first.as_ref() {
            NUMBER_TOKEN => {
                let number: serde_json::Number = text(map.next_value()?)?
                    .parse()
                    .map_err(de::Error::custom)?;
                return Ok(Json::Number(Cow::Owned(number.to_string())));
            }
            RAW_VALUE_TOKEN => {
                let raw = text(map.next_value()?)?;
                let value: Json<'_> = serde_json::from_str(&raw).map_err(de::Error::custom)?;
                return Ok(value.detach());
            }
            _ => {}
        }
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096) + 1);
        entries.push((first, map.next_value()?));
        while let Some(key) = map.next_key::<Json<'de>>()? {
            entries.push((text(key)?, map.next_value()?));
        }
        Ok(Json::Object(entries))
    }
}

/// The text of a key, or of the value of one of serde_json's private keys:
/// borrowed from the input when it was written without escapes.
fn text<'de, E: de::Error>(value: Json<'de>) -> Result<Cow<'de, str>, E> {
    match value {
        Json::String(text) => Ok(text),
        _ => Err(E::custom("expected a string")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    proptest! {
        /// A document checked as UTF-8 first reads exactly as its bytes do:
        /// the same value, or the same error at the same line and column.
        #[test]
        fn a_document_reads_as_its_bytes_read(
            text in r#"\{"A": \["é\\n", 1\.50, \{"b": "x\\u0001"\}\], "C": "ção"\}"#,
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            let from_bytes: Result<Json<'_>, serde_json::Error> = serde_json::from_slice(&bytes);
            match (Json::parse(&bytes), from_bytes) {
                (Ok(read), Ok(expected)) => prop_assert_eq!(read, expected),
                (Err(read), Err(expected)) => prop_assert_eq!(read.to_string(), expected.to_string()),
                (read, expected) => prop_assert!(false, "{:?} against {:?}", read, expected),
            }
        }
    }

    fn read(text: &str) -> Json<'_> {
        Json::parse(text.as_bytes()).expect("valid JSON")
    }

    #[test]
    fn strings_written_without_escapes_are_borrowed_from_the_text() {
        let text = r#"{"Plain": "abc", "Escaped": "a\"b"}"#;
        let Json::Object(entries) = read(text) else {
            panic!("an object")
        };
        assert!(matches!(&entries[0].0, Cow::Borrowed("Plain")));
        assert!(matches!(&entries[0].1, Json::String(Cow::Borrowed("abc"))));
        assert_eq!(entries[1].1, Json::String(Cow::Owned("a\"b".to_owned())));
    }

    #[test]
    fn it_displays_as_serde_json_displays_the_same_document() {
        let text = r#"{"a": [1, 2.50, -3e0, 0.1000000000000000055511151231257827], "b": null,
                       "c": {"d": "é\n\u0001\"", "e": true, "f": false}, "g": {}, "h": []}"#;
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(read(text).to_string(), value.to_string());
        assert_eq!(Json::from(&value), read(text));
    }

    #[test]
    fn every_entry_of_a_repeated_key_is_kept_in_document_order() {
        let Json::Object(entries) = read(r#"{"k": 1, "K": 2, "k": 3}"#) else {
            panic!("an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(keys, ["k", "K", "k"]);
    }

    #[test]
    fn serde_json_private_keys_read_as_value_reads_them() {
        assert_eq!(
            read(r#"{"$serde_json::private::Number": "12.50"}"#),
            Json::Number(Cow::Borrowed("12.50"))
        );
        assert!(Json::parse(br#"{"$serde_json::private::Number": "garbage"}"#).is_err());
        assert_eq!(
            read(r#"{"$serde_json::private::RawValue": "[1, \"x\"]"}"#),
            Json::from(&json!([1, "x"]))
        );
    }

    #[test]
    fn a_long_value_is_rendered_only_as_far_as_asked() {
        let huge = json!({"Items": vec!["x".repeat(1000); 10_000]});
        let rendered = Json::from(&huge).to_string_within(80);
        assert!(rendered.starts_with(r#"{"Items":["xxx"#), "{rendered}");
        assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    }

    #[test]
    fn a_detached_copy_keeps_the_value() {
        let text = r#"{"a": ["b", 1, {"c": null}]}"#.to_owned();
        let owned = read(&text).detach();
        drop(text);
        assert_eq!(owned, Json::from(&json!({"a": ["b", 1, {"c": null}]})));
    }
}
