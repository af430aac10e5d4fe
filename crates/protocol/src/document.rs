//! Rules over the whole received document, whatever a content model reads:
//! every key is unambiguous, no key is one of serde_json's reserved keys and
//! no text carries a control character.
//!
//! - An object that has the same key twice, exactly or differing only in ASCII
//!   case, is ambiguous: keys match case-insensitively, and no reader could
//!   tell which of the two the sender meant.
//! - [`RESERVED_KEYS`] are serde_json's private keys: with the
//!   `arbitrary_precision` feature the workspace enables, serde_json's `Value`
//!   reads an object whose first key is `$serde_json::private::Number` as the
//!   number its value spells, and with `raw_value` (which sqlx enables in the
//!   worker) one whose first key is `$serde_json::private::RawValue` as the
//!   JSON document its value holds, unchecked by these rules. A sender's
//!   object using either key, anywhere in the object and however escaped
//!   (`"\u0024serde_json::private::Number"`), is reported: once written out
//!   again, with that key first, it would be misread. The match is exact,
//!   as serde_json's is: `$SERDE_JSON::private::number` is an ordinary key.
//! - NUL (U+0000), the other C0 controls except TAB, LF and CR (U+0001–U+0008,
//!   U+000B, U+000C, U+000E–U+001F) and DEL (U+007F) are refused in keys and
//!   string values: PostgreSQL refuses NUL in text, and no identifier, code or
//!   name is meant to carry the others.
//!
//! The tree the content models read ([`crate::Json`], which reads these keys
//! as serde_json's `Value` does) holds what the models need, not these
//! findings, so [`scan`] reads the bytes again with a visitor that sees every
//! key as written. It runs on bytes that tree read (or refused only because of
//! a reserved key), so serde_json's nesting limit (128) has already turned
//! deeper documents into `INVALID_JSON`.
//!
//! That visitor must tell a sender's `$serde_json::private::Number` key from
//! serde_json's own number, which reaches it as a one-entry map under the
//! same key. serde_json 1.x hands its number key to the visitor with
//! `visit_borrowed_str` of a `&'static str` constant of its own, while a key
//! read from the input arrives either with `visit_borrowed_str` of a slice of
//! the input (written without escapes) or with `visit_str` of a copy
//! (written with escapes). So a key is serde_json's number only if it arrives
//! borrowed, spells the number key, and lies outside the input bytes: the
//! only text that can lie outside them is text the input did not supply.
//! Should a later serde_json hand its number key over in another way, every
//! number would be reported as a reserved key, which the tests would catch,
//! never a reserved key taken for a number.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::json::utf8;
use crate::node::MAX_TEXT_CHARS;

/// The key serde_json's `arbitrary_precision` feature hands a number to a
/// visitor under, as a one-entry map; serde_json's `Value` reads an object
/// whose first key this is as a number.
pub(crate) const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The key serde_json's `raw_value` feature reads an object whose first key
/// this is under as the JSON document its value holds.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The keys no object of a document may use: serde_json's `Value` mistakes an
/// object led by one of them for something else (see the module
/// documentation).
pub(crate) const RESERVED_KEYS: [&str; 2] = [NUMBER_TOKEN, RAW_VALUE_TOKEN];

/// One step of a JSON path: a key as received, or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `.Key`
    Key(String),
    /// `[3]`
    Index(usize),
}

/// Something [`scan`] found, with the path it was found at.
#[derive(Debug)]
pub(crate) enum Finding<'a> {
    /// `key` repeats `first`, an earlier key of the same object (the same
    /// text, or the same in another ASCII case).
    DuplicateKey {
        /// Where the repeated key is (its last step is `key`).
        path: &'a [Step],
        /// The repeated key, as received.
        key: &'a str,
        /// The earlier key, as received.
        first: &'a str,
    },
    /// A key of the object at `object` holds a control character.
    ControlInKey {
        /// The object holding the key.
        object: &'a [Step],
        /// The key, as received.
        key: &'a str,
    },
    /// The object at `object` uses `key`, one of [`RESERVED_KEYS`].
    ReservedKey {
        /// The object using the key.
        object: &'a [Step],
        /// The reserved key.
        key: &'static str,
        /// Whether it is the object's first key, where serde_json's `Value`
        /// mistakes the whole object for a number or an embedded document.
        first: bool,
    },
    /// The string value at `path` holds a control character.
    ControlInText {
        /// Where the string is.
        path: &'a [Step],
        /// The string, as received.
        text: &'a str,
    },
}

/// Reads the JSON `json` once more, reporting every [`Finding`] to `found` in
/// document order.
pub(crate) fn scan(json: &[u8], found: impl FnMut(Finding<'_>)) -> Result<(), serde_json::Error> {
    let mut scan = Scan {
        json,
        path: Vec::new(),
        found,
    };
    match utf8(json) {
        Some(text) => scan.read(serde_json::Deserializer::from_str(text)),
        None => scan.read(serde_json::Deserializer::from_slice(json)),
    }
}

/// The path `$.Content.ReserveItemType.Item[3].ItemCode`, keys as received,
/// each as a [`label`]: a control character in a key is shown as U+FFFD so
/// the path itself is always safe to store and log, and a key is cut to
/// [`MAX_TEXT_CHARS`] characters so rendering the path of each of a thousand
/// findings under one 10 MiB key costs no more than under a short one.
pub(crate) fn render(path: &[Step]) -> String {
    let mut rendered = String::from("$");
    for step in path {
        match step {
            Step::Key(key) => {
                rendered.push('.');
                rendered.push_str(&label(key));
            }
            Step::Index(index) => rendered.push_str(&format!("[{index}]")),
        }
    }
    rendered
}

/// True for the characters text may not carry: C0 controls other than TAB,
/// LF and CR, and DEL.
pub(crate) fn is_refused_control(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_refused_byte)
}

/// True for the bytes that are, on their own, a character [`is_refused_control`].
fn is_refused_byte(byte: u8) -> bool {
    byte.is_ascii_control() && !matches!(byte, b'\t' | b'\n' | b'\r')
}

/// Whether `text` holds a character [`is_refused_control`]. Each is ASCII,
/// and in UTF-8 an ASCII byte is never part of another character, so the
/// bytes are read in blocks the compiler checks many at once: the
/// descriptions of a 30 MiB sale took 40 ms read character by character.
pub(crate) fn has_refused_control(text: &str) -> bool {
    text.as_bytes().chunks(64).any(|block| {
        block
            .iter()
            .fold(false, |found, &byte| found | is_refused_byte(byte))
    })
}

/// `text` fit for a database column or a log line whatever was received:
/// refused control characters replaced by U+FFFD, cut to [`MAX_TEXT_CHARS`]
/// characters (ending in `…` when cut). Reads at most that many characters
/// and one more, however long `text` is.
pub(crate) fn label(text: &str) -> String {
    let mut chars = text.chars().map(visible);
    let mut label: String = chars.by_ref().take(MAX_TEXT_CHARS).collect();
    if chars.next().is_some() {
        label.pop();
        label.push('…');
    }
    label
}

/// `c`, or U+FFFD when it is a refused control character.
fn visible(c: char) -> char {
    if is_refused_control(c) {
        char::REPLACEMENT_CHARACTER
    } else {
        c
    }
}

/// The visitor of [`scan`]: `path` is where it stands in the document `json`.
struct Scan<'j, F> {
    json: &'j [u8],
    path: Vec<Step>,
    found: F,
}

impl<F: FnMut(Finding<'_>)> Scan<'_, F> {
    /// Visits the whole document `deserializer` reads, and nothing after it.
    fn read<'de, R: serde_json::de::Read<'de>>(
        &mut self,
        mut deserializer: serde_json::Deserializer<R>,
    ) -> Result<(), serde_json::Error> {
        self.deserialize(&mut deserializer)?;
        deserializer.end()
    }
}

impl<'de, F: FnMut(Finding<'_>)> DeserializeSeed<'de> for &mut Scan<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Finding<'_>)> Visitor<'de> for &mut Scan<'_, F> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        if has_refused_control(text) {
            (self.found)(Finding::ControlInText {
                path: &self.path,
                text,
            });
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            self.path.push(Step::Index(index));
            let element = seq.next_element_seed(&mut *self)?;
            self.path.pop();
            if element.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SeenKeys::Few(Vec::new());
        while let Some(key) = map.next_key_seed(KeySeed { json: self.json })? {
            let key = match key {
                Key::Number => return map.next_value::<IgnoredAny>().map(drop),
                Key::Document(key) => key,
            };
            if has_refused_control(&key) {
                (self.found)(Finding::ControlInKey {
                    object: &self.path,
                    key: &key,
                });
            }
            let opens_object = seen.is_empty();
            let first = seen.first_or_insert(&key);
            let reserved = RESERVED_KEYS.into_iter().find(|reserved| *reserved == key);
            if let (None, Some(reserved)) = (&first, reserved) {
                (self.found)(Finding::ReservedKey {
                    object: &self.path,
                    key: reserved,
                    first: opens_object,
                });
            }
            self.path.push(Step::Key(key));
            if let (Some(first), Some(Step::Key(key))) = (&first, self.path.last()) {
                (self.found)(Finding::DuplicateKey {
                    path: &self.path,
                    key,
                    first,
                });
            }
            map.next_value_seed(&mut *self)?;
            self.path.pop();
        }
        Ok(())
    }
}

/// The keys of one object read so far, to find one written twice: each as
/// first received, matched ignoring ASCII case. Most objects have a handful
/// of keys, searched in order with no hash and no lower-cased copy; past
/// [`SeenKeys::FEW`] they go into a map, so an object of a hundred thousand
/// keys is not searched key by key.
enum SeenKeys {
    Few(Vec<String>),
    /// Lower-cased key → the key as first received.
    Many(HashMap<String, String>),
}

impl SeenKeys {
    /// The most keys searched in order.
    const FEW: usize = 16;

    fn is_empty(&self) -> bool {
        match self {
            SeenKeys::Few(keys) => keys.is_empty(),
            SeenKeys::Many(keys) => keys.is_empty(),
        }
    }

    /// The key as first received that `key` matches; `None`, and `key`
    /// kept, when it matches none read before.
    fn first_or_insert(&mut self, key: &str) -> Option<String> {
        match self {
            SeenKeys::Few(keys) => {
                if let Some(seen) = keys.iter().find(|seen| seen.eq_ignore_ascii_case(key)) {
                    return Some(seen.clone());
                }
                if keys.len() < Self::FEW {
                    keys.push(key.to_owned());
                } else {
                    let mut many: HashMap<String, String> = keys
                        .drain(..)
                        .map(|seen| (seen.to_ascii_lowercase(), seen))
                        .collect();
                    many.insert(key.to_ascii_lowercase(), key.to_owned());
                    *self = SeenKeys::Many(many);
                }
                None
            }
            SeenKeys::Many(keys) => match keys.entry(key.to_ascii_lowercase()) {
                Entry::Occupied(seen) => Some(seen.get().clone()),
                Entry::Vacant(slot) => {
                    slot.insert(key.to_owned());
                    None
                }
            },
        }
    }
}

/// An object key as [`KeySeed`] reads it.
enum Key {
    /// serde_json's own number key: the map is a number, not an object.
    Number,
    /// A key of the document, as received (escapes resolved).
    Document(String),
}

/// Reads an object key of the document `json`, telling serde_json's number
/// key from a key of the document (see the module documentation).
struct KeySeed<'j> {
    json: &'j [u8],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key, E> {
        let input = self.json.as_ptr_range();
        let text = key.as_bytes().as_ptr_range();
        let from_input = input.start <= text.start && text.end <= input.end;
        Ok(if key == NUMBER_TOKEN && !from_input {
            Key::Number
        } else {
            Key::Document(key.to_owned())
        })
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(Key::Document(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every finding of `json` as `(kind, path, text)`, in report order.
    fn findings(json: &str) -> Vec<(&'static str, String, String)> {
        let mut found = Vec::new();
        scan(json.as_bytes(), |finding| {
            found.push(match finding {
                Finding::DuplicateKey { path, key, first } => {
                    ("duplicate", render(path), format!("{key} after {first}"))
                }
                Finding::ControlInKey { object, key } => {
                    ("control key", render(object), key.to_owned())
                }
                Finding::ReservedKey { object, key, first } => (
                    if first { "reserved first" } else { "reserved" },
                    render(object),
                    key.to_owned(),
                ),
                Finding::ControlInText { path, text } => {
                    ("control text", render(path), text.to_owned())
                }
            });
        })
        .expect("valid JSON");
        found
    }

    #[test]
    fn exact_and_case_variant_duplicates_are_found_at_their_own_path() {
        assert_eq!(
            findings(
                r#"{"A": {"Item": [{"Code": 1, "Code": 2}, {"code": 1, "CODE": 2, "x": 3}]}}"#
            ),
            [
                (
                    "duplicate",
                    "$.A.Item[0].Code".to_owned(),
                    "Code after Code".to_owned()
                ),
                (
                    "duplicate",
                    "$.A.Item[1].CODE".to_owned(),
                    "CODE after code".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn duplicates_are_found_among_many_keys_too() {
        // Keys past the first sixteen are kept in a map: a key repeated from
        // before that point and one from after it are both found, once each.
        let keys: Vec<String> = (0..40).map(|n| format!("\"Key{n}\": {n}")).collect();
        let json = format!(
            "{{{}, \"KEY3\": 0, \"key30\": 0, \"Key40\": 0, \"key3\": 0}}",
            keys.join(", ")
        );
        assert_eq!(
            findings(&json),
            [
                (
                    "duplicate",
                    "$.KEY3".to_owned(),
                    "KEY3 after Key3".to_owned()
                ),
                (
                    "duplicate",
                    "$.key30".to_owned(),
                    "key30 after Key30".to_owned()
                ),
                (
                    "duplicate",
                    "$.key3".to_owned(),
                    "key3 after Key3".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        assert_eq!(
            findings(r#"{"A": {"Code": 1}, "B": {"Code": 1}, "C": [{"Code": 1}, {"Code": 2}]}"#),
            []
        );
    }

    #[test]
    fn numbers_are_values_not_one_entry_objects() {
        // With `arbitrary_precision`, each number reaches the visitor as a map
        // under serde_json's private key: neither a reserved key, nor a
        // duplicate, nor hiding one.
        assert_eq!(
            findings(
                r#"{"Q": 1, "P": -0, "R": 1e400, "S": [1.5, 2, -3E-2], "T": {"n": 0.1}, "q": 2.50}"#
            ),
            [("duplicate", "$.q".to_owned(), "q after Q".to_owned())]
        );
        assert_eq!(findings("[1, 2.0, -1e-400]"), []);
        assert_eq!(findings("7"), []);
    }

    #[test]
    fn serde_json_private_keys_are_reserved_wherever_and_however_written() {
        let number = NUMBER_TOKEN.to_owned();
        assert_eq!(
            findings(r#"{"Q": {"$serde_json::private::Number": "1"}}"#),
            [("reserved first", "$.Q".to_owned(), number.clone())]
        );
        // Not first, with a value serde_json could not read as a number, and
        // spelled with escapes: the same key, and its value is still scanned.
        assert_eq!(
            findings(
                r#"{"a": [{"b": 1, "\u0024serde_json::private::Number": "\u0000"}],
                    "c": {"$serde_json\u003A:private::Number": {"d": 1}}}"#
            ),
            [
                ("reserved", "$.a[0]".to_owned(), number.clone()),
                (
                    "control text",
                    "$.a[0].$serde_json::private::Number".to_owned(),
                    "\0".to_owned()
                ),
                ("reserved first", "$.c".to_owned(), number.clone()),
            ]
        );
        assert_eq!(
            findings(r#"{"$serde_json::private::RawValue": "[1, 2]"}"#),
            [("reserved first", "$".to_owned(), RAW_VALUE_TOKEN.to_owned())]
        );
        // Reported once per object: the second is a repeated key.
        assert_eq!(
            findings(r#"{"$serde_json::private::Number": 1, "$serde_json::private::Number": 2}"#),
            [
                ("reserved first", "$".to_owned(), number.clone()),
                (
                    "duplicate",
                    "$.$serde_json::private::Number".to_owned(),
                    format!("{number} after {number}")
                ),
            ]
        );
        // serde_json matches the exact spelling only, and so do we.
        assert_eq!(
            findings(r#"{"$SERDE_JSON::private::number": "1", "serde_json::private::Number": 2}"#),
            []
        );
    }

    #[test]
    fn control_characters_in_values_and_keys_are_found_and_tab_lf_cr_are_not() {
        assert_eq!(
            findings(r#"{"A": ["ok", "n\u0000l", "t\tl\nc\r"], "B": {"k\u001fy": "d\u007fl"}}"#),
            [
                ("control text", "$.A[1]".to_owned(), "n\0l".to_owned()),
                ("control key", "$.B".to_owned(), "k\u{1f}y".to_owned()),
                (
                    "control text",
                    "$.B.k\u{FFFD}y".to_owned(),
                    "d\u{7f}l".to_owned()
                ),
            ]
        );
    }

    proptest! {
        /// The blocks of bytes find a refused control exactly where a
        /// character-by-character reading does, among multi-byte characters
        /// and across the blocks' edges.
        #[test]
        fn refused_controls_are_found_by_bytes_as_by_characters(
            text in prop::collection::vec(
                prop_oneof![any::<char>(), (0u8..0x80).prop_map(char::from), Just('ç')],
                0..300,
            )
            .prop_map(String::from_iter),
        ) {
            prop_assert_eq!(
                has_refused_control(&text),
                text.chars().any(is_refused_control)
            );
        }
    }

    #[test]
    fn refused_controls_are_c0_but_tab_lf_cr_and_del() {
        let refused: Vec<u32> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| is_refused_control(*c))
            .map(u32::from)
            .collect();
        let expected: Vec<u32> = (0x00..=0x08)
            .chain([0x0B, 0x0C])
            .chain(0x0E..=0x1F)
            .chain([0x7F])
            .collect();
        assert_eq!(refused, expected);
    }

    #[test]
    fn labels_replace_controls_and_are_cut_to_255_characters() {
        assert_eq!(label("T\u{0}1\tx"), "T\u{FFFD}1\tx");
        let cut = label(&"é".repeat(300));
        assert_eq!(cut.chars().count(), MAX_TEXT_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(label(&"é".repeat(255)), "é".repeat(255));
    }
}
