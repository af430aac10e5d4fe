//! [`Node`]: tolerant, path-tracking access to a JSON value.
//!
//! Real senders disagree on key case (`ListOfInternalId` / `ListOfInternalID`),
//! on whether lists are wrapped (`ListOfSaleItem: {SaleItem: [...]}`) or plain,
//! on numbers as numbers or strings and on date forms. Every content model reads
//! through a `Node` so those tolerances live in one place, and every error it
//! reports names the JSON path of the field at fault, spelled with the canonical
//! key names so the sender can find it whatever case they used.
//!
//! Text fields are identifiers and codes that end up in database columns and
//! unique indexes, so [`Node::text`] refuses more than [`MAX_TEXT_CHARS`];
//! human text with no such use (a destination's receipt message) is read with
//! [`Node::long_text`].

use rust_decimal::Decimal;

use crate::code::{longer_than, Detail};
use crate::json::Json;
use crate::number::parse_decimal;
use crate::timestamp::Timestamp;

/// Longest text field, in characters (a JSON number read as text counts the
/// same): every identifier and code we read must fit a database column and
/// its unique index. `Header.UUID` has the same limit.
pub const MAX_TEXT_CHARS: usize = 255;

/// What an `INVALID_FIELD` on a text longer than [`MAX_TEXT_CHARS`] says was
/// expected.
const EXPECTED_SHORT_TEXT: &str = "a string of at most 255 characters";

/// What an `INVALID_FIELD` on a decimal says was expected.
pub(crate) const EXPECTED_DECIMAL: &str =
    "a decimal number with '.' or ',' as decimal separator and no thousands separator";

/// What an `INVALID_FIELD` on a date says was expected.
const EXPECTED_TIMESTAMP: &str =
    "a date/time (RFC 3339, YYYY-MM-DDTHH:MM:SS, YYYY-MM-DD or RFC 2822)";

/// What an `INVALID_FIELD` on a flag says was expected.
const EXPECTED_FLAG: &str = "a boolean (true/false, \"S\"/\"N\", \"Y\", 1/0)";

/// The value behind a missing field, so "missing" nodes need no allocation.
pub(crate) static NULL: Json<'static> = Json::Null;

/// A borrowed JSON value plus the JSON path it was reached by
/// (`$.Content.ReserveItemType.Item[1].Quantity`).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    value: &'a Json<'a>,
    path: String,
}

impl<'a> Node<'a> {
    /// The document root, path `$`.
    pub fn root(value: &'a Json<'a>) -> Self {
        Node::at(value, "$".to_owned())
    }

    /// A node at an explicit path, for views (like [`crate::Envelope::content`])
    /// that are not reached by a single lookup.
    pub(crate) fn at(value: &'a Json<'a>, path: String) -> Self {
        Node { value, path }
    }

    /// The JSON value itself.
    pub fn value(&self) -> &'a Json<'a> {
        self.value
    }

    /// The JSON path this node was reached by.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Case-insensitive key lookup; the first match in document order wins.
    /// `None` when absent, when JSON `null` (senders use `null` for "not
    /// informed"), or when this node is not an object.
    ///
    /// An envelope never has two matches: [`crate::Envelope`] refuses objects
    /// whose keys repeat in any case. Documents read tolerantly (a
    /// destination's receipt) may, and then the first one is read.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.lookup(key)
            .map(|value| Node::at(value, self.child_path(key)))
    }

    /// The value under `key` as received, JSON `null` when absent: what a
    /// message quotes.
    pub fn raw(&self, key: &str) -> &'a Json<'a> {
        self.lookup(key).unwrap_or(&NULL)
    }

    /// The path a missing child would have had, for "missing field" errors.
    pub fn child_path(&self, key: &str) -> String {
        let mut path = String::with_capacity(self.path.len() + 1 + key.len());
        path.push_str(&self.path);
        path.push('.');
        path.push_str(key);
        path
    }

    /// The value [`Node::get`] finds, without the path it would build.
    fn lookup(&self, key: &str) -> Option<&'a Json<'a>> {
        let Json::Object(entries) = self.value else {
            return None;
        };
        entries
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
    }

    /// The field `key` for a reader of one value: its path is only built if
    /// the value is refused, so reading a valid envelope builds none.
    fn field<'n>(&'n self, key: &'n str) -> Option<Field<'n, 'a>> {
        self.lookup(key).map(|value| Field {
            parent: self,
            key,
            value,
        })
    }

    /// A list that may arrive wrapped or plain: `key: [..]`, `key: {item: [..]}`,
    /// or `key: {item: {..}}` (a single wrapped object).
    ///
    /// Absent, `null`, a wrapper without `item`, or `item: null` give an empty
    /// list (senders write all of these for "no elements"). Anything else is
    /// `INVALID_FIELD` expecting "a list". Element paths are
    /// `$.Content.ReserveItemType.Item[0]` when wrapped,
    /// `$.Content.ReserveItemType[0]` when plain and
    /// `$.Content.ReserveItemType.Item` for a single wrapped object (the path
    /// that reaches it in the received document).
    pub fn list(&self, key: &str, item: &str) -> Result<Vec<Node<'a>>, Detail> {
        let Some(outer) = self.get(key) else {
            return Ok(Vec::new());
        };
        match outer.value {
            Json::Array(values) => Ok(elements(values, &outer.path)),
            Json::Object(_) => match outer.get(item) {
                None => Ok(Vec::new()),
                Some(inner) => match inner.value {
                    Json::Array(values) => Ok(elements(values, &inner.path)),
                    Json::Object(_) => Ok(vec![inner]),
                    other => Err(Detail::invalid_field(&inner.path, "a list", other)),
                },
            },
            other => Err(Detail::invalid_field(&outer.path, "a list", other)),
        }
    }

    /// A text field: a JSON string, trimmed (empty → `None`), or a JSON number as
    /// written (senders send codes like `ItemOrder` either way). Other types are
    /// `INVALID_FIELD` expecting "a string"; more than [`MAX_TEXT_CHARS`]
    /// characters once trimmed is `INVALID_FIELD` expecting "a string of at
    /// most 255 characters".
    pub fn text(&self, key: &str) -> Result<Option<String>, Detail> {
        let Some(field) = self.field(key) else {
            return Ok(None);
        };
        match field.text()? {
            Some(text) if longer_than(&text, MAX_TEXT_CHARS) => {
                Err(field.invalid(EXPECTED_SHORT_TEXT))
            }
            text => Ok(text),
        }
    }

    /// [`Node::text`] without the length limit, for human text that is never
    /// a key or a column: a destination's receipt message, a Header field
    /// echoed in a receipt.
    pub fn long_text(&self, key: &str) -> Result<Option<String>, Detail> {
        self.field(key).map_or(Ok(None), |field| field.text())
    }

    /// An exact decimal (see [`crate::number::parse_decimal`]); absent, `null`
    /// and `""` are `None`. Anything unparseable is `INVALID_FIELD` with the path.
    pub fn decimal(&self, key: &str) -> Result<Option<Decimal>, Detail> {
        let Some(field) = self.field(key) else {
            return Ok(None);
        };
        parse_decimal(field.value).map_err(|_| field.invalid(EXPECTED_DECIMAL))
    }

    /// A date/time in one of the accepted forms ([`Timestamp::parse`]); absent,
    /// `null` and `""` are `None`.
    pub fn timestamp(&self, key: &str) -> Result<Option<Timestamp>, Detail> {
        let Some(field) = self.field(key) else {
            return Ok(None);
        };
        let invalid = || field.invalid(EXPECTED_TIMESTAMP);
        match field.value {
            Json::String(text) if text.trim().is_empty() => Ok(None),
            Json::String(text) => Timestamp::parse(text).map(Some).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }

    /// A flag: `true`/`false`, the strings `"true"`/`"false"`/`"1"`/`"0"`/`"S"`/
    /// `"N"`/`"Y"` (any case; Protheus writes S/N), or the numbers 1/0.
    /// Absent, `null` and `""` are `None`.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, Detail> {
        let Some(field) = self.field(key) else {
            return Ok(None);
        };
        let invalid = || field.invalid(EXPECTED_FLAG);
        match field.value {
            Json::Bool(flag) => Ok(Some(*flag)),
            Json::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "1" | "s" | "y" => Ok(Some(true)),
                "false" | "0" | "n" => Ok(Some(false)),
                _ => Err(invalid()),
            },
            Json::Number(_) => match parse_decimal(field.value) {
                Ok(Some(number)) if number == Decimal::ONE => Ok(Some(true)),
                Ok(Some(number)) if number.is_zero() => Ok(Some(false)),
                _ => Err(invalid()),
            },
            _ => Err(invalid()),
        }
    }
}

/// One value read under a key of a [`Node`].
struct Field<'n, 'a> {
    parent: &'n Node<'a>,
    key: &'n str,
    value: &'a Json<'a>,
}

impl Field<'_, '_> {
    /// `INVALID_FIELD` at this field's path, expecting `expected`.
    fn invalid(&self, expected: &str) -> Detail {
        Detail::invalid_field(&self.parent.child_path(self.key), expected, self.value)
    }

    /// This value as text, trimmed, of any length (see [`Node::text`]).
    fn text(&self) -> Result<Option<String>, Detail> {
        match self.value {
            Json::String(text) => {
                let text = text.trim();
                Ok((!text.is_empty()).then(|| text.to_owned()))
            }
            Json::Number(number) => Ok(Some(number.to_string())),
            _ => Err(self.invalid("a string")),
        }
    }
}

/// The elements of the array reached by `path`, each with its indexed path.
fn elements<'a>(values: &'a [Json<'a>], path: &str) -> Vec<Node<'a>> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| Node::at(value, format!("{path}[{index}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::code::Code;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("valid decimal")
    }

    #[test]
    fn keys_match_case_insensitively_and_paths_use_the_canonical_name() {
        let doc = json!({"ReturnContent": {"ListOfInternalID": [{"Name": "x"}]}, "STATUS": "OK"});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        let list = root
            .get("returncontent")
            .and_then(|n| n.get("ListOfInternalId"))
            .expect("found regardless of case");
        assert_eq!(list.path(), "$.returncontent.ListOfInternalId");
        assert_eq!(root.text("Status"), Ok(Some("OK".into())));
    }

    #[test]
    fn case_variant_keys_read_the_first_in_document_order() {
        // Envelopes with such keys are refused (`Envelope::validate`); documents
        // read tolerantly, like a destination's receipt, read the first.
        let doc: Value =
            serde_json::from_str(r#"{"quantity": 1, "Quantity": 2}"#).expect("valid JSON");
        let doc = Json::from(&doc);
        assert_eq!(Node::root(&doc).decimal("Quantity"), Ok(Some(dec("1"))));
        let exact = Json::parse(br#"{"Quantity": 1, "Quantity": 2}"#).expect("valid JSON");
        assert_eq!(
            Node::root(&exact).decimal("Quantity"),
            Ok(Some(dec("1"))),
            "the first of an exact repeat too"
        );
    }

    #[test]
    fn text_is_limited_to_255_characters_once_trimmed() {
        let doc = json!({
            "Fits": format!("  {}  ", "é".repeat(MAX_TEXT_CHARS)),
            "Long": "x".repeat(MAX_TEXT_CHARS + 1),
            "Huge": "y".repeat(10_000),
        });
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert_eq!(
            root.text("Fits").map(|t| t.map(|t| t.chars().count())),
            Ok(Some(255))
        );
        let long = root.text("Long").expect_err("256 characters");
        assert_eq!(long.code, Code::InvalidField);
        assert!(
            long.message
                .starts_with("$.Long: expected a string of at most 255 characters, got \"xxx"),
            "{}",
            long.message
        );
        assert!(
            long.message.chars().count() < 200,
            "the value is quoted cut"
        );
        assert_eq!(
            root.text("Huge").map_err(|d| d.code),
            Err(Code::InvalidField)
        );
    }

    #[test]
    fn a_number_read_as_text_has_the_same_limit() {
        let digits = "9".repeat(MAX_TEXT_CHARS);
        let doc: Value = serde_json::from_str(&format!(r#"{{"A": {digits}, "B": {digits}1}}"#))
            .expect("valid JSON");
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert_eq!(root.text("A"), Ok(Some(digits)));
        assert_eq!(root.text("B").map_err(|d| d.code), Err(Code::InvalidField));
    }

    #[test]
    fn long_text_has_no_limit_but_the_same_types() {
        let doc = json!({"Message": format!(" {} ", "m".repeat(10_000)), "N": 5, "B": true});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert_eq!(root.long_text("Message"), Ok(Some("m".repeat(10_000))));
        assert_eq!(root.long_text("N"), Ok(Some("5".into())));
        assert_eq!(root.long_text("Missing"), Ok(None));
        assert_eq!(
            root.long_text("B").map_err(|d| d.message),
            Err("$.B: expected a string, got true".to_owned())
        );
    }

    #[test]
    fn null_and_non_objects_have_no_children() {
        let doc = json!({"A": null, "B": [1]});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert!(root.get("A").is_none());
        assert!(root.get("B").and_then(|b| b.get("x")).is_none());
        assert_eq!(root.child_path("A"), "$.A");
    }

    #[test]
    fn wrapped_list_elements_carry_indexed_paths() {
        let doc = json!({"Content": {"ReserveItemType": {"Item": [{"Q": 1}, {"Q": 2}]}}});
        let doc = Json::from(&doc);
        let content = Node::root(&doc).get("Content").expect("content");
        let items = content.list("ReserveItemType", "Item").expect("a list");
        let paths: Vec<&str> = items.iter().map(Node::path).collect();
        assert_eq!(
            paths,
            [
                "$.Content.ReserveItemType.Item[0]",
                "$.Content.ReserveItemType.Item[1]"
            ]
        );
    }

    #[test]
    fn plain_list_elements_carry_indexed_paths() {
        let doc = json!({"Content": {"ReserveItemType": [{"Q": 1}, {"Q": 2}]}});
        let doc = Json::from(&doc);
        let content = Node::root(&doc).get("Content").expect("content");
        let items = content.list("ReserveItemType", "Item").expect("a list");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].path(), "$.Content.ReserveItemType[1]");
    }

    #[test]
    fn wrapper_and_item_keys_match_in_any_case() {
        let doc = json!({"listofsaleitem": {"SALEITEM": [{"Q": 1}]}});
        let doc = Json::from(&doc);
        let items = Node::root(&doc)
            .list("ListOfSaleItem", "SaleItem")
            .expect("a list");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].path(), "$.ListOfSaleItem.SaleItem[0]");
    }

    #[test]
    fn single_wrapped_object_is_a_one_element_list() {
        let doc = json!({"ListOfSaleItem": {"SaleItem": {"Quantity": 3}}});
        let doc = Json::from(&doc);
        let items = Node::root(&doc)
            .list("ListOfSaleItem", "SaleItem")
            .expect("a list");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].path(), "$.ListOfSaleItem.SaleItem");
        assert_eq!(items[0].decimal("Quantity"), Ok(Some(dec("3"))));
    }

    #[test]
    fn absent_null_and_empty_wrappers_are_empty_lists() {
        let doc = json!({"B": null, "C": {}, "D": {"Item": null}, "E": []});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        for key in ["A", "B", "C", "D", "E"] {
            assert_eq!(root.list(key, "Item").map(|l| l.len()), Ok(0), "{key}");
        }
    }

    #[test]
    fn scalars_where_a_list_is_expected_are_invalid_fields_with_path() {
        let doc = json!({"Content": {"A": "x", "B": {"Item": 5}}});
        let doc = Json::from(&doc);
        let content = Node::root(&doc).get("Content").expect("content");
        let a = content.list("A", "Item").expect_err("scalar list");
        assert_eq!(a.code, Code::InvalidField);
        assert_eq!(a.message, r#"$.Content.A: expected a list, got "x""#);
        let b = content.list("B", "Item").expect_err("scalar item");
        assert_eq!(b.message, "$.Content.B.Item: expected a list, got 5");
    }

    #[test]
    fn text_trims_strings_reads_numbers_and_treats_blank_as_absent() {
        let doc: Value = serde_json::from_str(
            r#"{"A": "  D MG 01 ", "B": "   ", "C": 1, "D": 0.10, "E": true, "F": null}"#,
        )
        .expect("valid JSON");
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert_eq!(root.text("A"), Ok(Some("D MG 01".into())));
        assert_eq!(root.text("B"), Ok(None));
        assert_eq!(root.text("C"), Ok(Some("1".into())));
        assert_eq!(
            root.text("D"),
            Ok(Some("0.10".into())),
            "number text as written"
        );
        assert_eq!(root.text("F"), Ok(None));
        assert_eq!(root.text("Missing"), Ok(None));
        assert_eq!(
            root.text("E").map_err(|d| d.message),
            Err("$.E: expected a string, got true".to_owned())
        );
    }

    #[test]
    fn decimals_come_as_numbers_or_strings_with_either_separator() {
        let doc = json!({"A": 18.6, "B": "350,20", "C": "885", "D": "", "E": null, "F": "350.20"});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert_eq!(root.decimal("A"), Ok(Some(dec("18.6"))));
        assert_eq!(root.decimal("B"), Ok(Some(dec("350.20"))));
        assert_eq!(root.decimal("C"), Ok(Some(dec("885"))));
        assert_eq!(root.decimal("D"), Ok(None));
        assert_eq!(root.decimal("E"), Ok(None));
        assert_eq!(root.decimal("F"), root.decimal("B"));
    }

    #[test]
    fn decimals_with_thousands_separators_are_invalid_fields_with_path() {
        let doc = json!({"Content": {"ListOfSaleCondition": {"SaleCondition": [{"PaymentValue": "1.234,5"}, {"PaymentValue": "1,234.5"}]}}});
        let doc = Json::from(&doc);
        let content = Node::root(&doc).get("Content").expect("content");
        let payments = content
            .list("ListOfSaleCondition", "SaleCondition")
            .expect("a list");
        let first = payments[0].decimal("PaymentValue").expect_err("rejected");
        assert_eq!(first.code, Code::InvalidField);
        assert_eq!(
            first.message,
            format!(
                "$.Content.ListOfSaleCondition.SaleCondition[0].PaymentValue: expected {EXPECTED_DECIMAL}, got \"1.234,5\""
            )
        );
        let second = payments[1].decimal("paymentvalue").expect_err("rejected");
        assert!(second
            .message
            .starts_with("$.Content.ListOfSaleCondition.SaleCondition[1].paymentvalue: "));
    }

    #[test]
    fn an_inexact_exponent_form_is_the_same_invalid_field_as_its_plain_form() {
        let digits = "0.1000000000000000055511151231257827";
        let doc: Value = serde_json::from_str(&format!(
            r#"{{"Plain": {digits}, "Exponent": {digits}e0, "Exact": 1.5e2}}"#
        ))
        .expect("valid JSON");
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        let refused = |key: &str| root.decimal(key).map_err(|d| (d.code, d.message));
        assert_eq!(
            refused("Plain"),
            Err((
                Code::InvalidField,
                format!("$.Plain: expected {EXPECTED_DECIMAL}, got {digits}")
            ))
        );
        assert_eq!(
            refused("Exponent"),
            Err((
                Code::InvalidField,
                format!("$.Exponent: expected {EXPECTED_DECIMAL}, got {digits}e+0")
            ))
        );
        assert_eq!(root.decimal("Exact"), Ok(Some(dec("150"))));
    }

    #[test]
    fn timestamps_in_every_form_and_blank_as_absent() {
        let doc = json!({
            "A": "2020-04-23T17:01:06.625349+00:00",
            "B": "2022-03-30T00:00:00",
            "C": "2021-06-18",
            "D": "Thu, 23 Apr 2020 17:02:20 GMT",
            "E": "",
            "F": null,
            "G": "30/03/2022",
            "H": 20220330
        });
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        assert!(matches!(root.timestamp("A"), Ok(Some(Timestamp::Zoned(_)))));
        assert!(matches!(root.timestamp("B"), Ok(Some(Timestamp::Local(_)))));
        assert!(matches!(root.timestamp("C"), Ok(Some(Timestamp::Date(_)))));
        assert!(matches!(root.timestamp("D"), Ok(Some(Timestamp::Zoned(_)))));
        assert_eq!(root.timestamp("E"), Ok(None));
        assert_eq!(root.timestamp("F"), Ok(None));
        let bad = root.timestamp("G").expect_err("rejected");
        assert_eq!(
            bad.message,
            format!("$.G: expected {EXPECTED_TIMESTAMP}, got \"30/03/2022\"")
        );
        assert!(root.timestamp("H").is_err());
    }

    #[test]
    fn flags_accept_booleans_protheus_letters_and_digits() {
        let doc = json!({
            "a": true, "b": "FALSE", "c": "S", "d": "n", "e": "Y", "f": "1", "g": 0, "h": 1,
            "i": "", "j": "maybe", "k": 2
        });
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        let read = |k: &str| root.flag(k).map_err(|d| d.code);
        assert_eq!(read("a"), Ok(Some(true)));
        assert_eq!(read("b"), Ok(Some(false)));
        assert_eq!(read("c"), Ok(Some(true)));
        assert_eq!(read("d"), Ok(Some(false)));
        assert_eq!(read("e"), Ok(Some(true)));
        assert_eq!(read("f"), Ok(Some(true)));
        assert_eq!(read("g"), Ok(Some(false)));
        assert_eq!(read("h"), Ok(Some(true)));
        assert_eq!(read("i"), Ok(None));
        assert_eq!(read("absent"), Ok(None));
        assert_eq!(read("j"), Err(Code::InvalidField));
        assert_eq!(read("k"), Err(Code::InvalidField));
    }
}
