//! Bad input must become a coded rejection or detail, never a panic: the
//! worker consumes whatever the queue delivers.

#[path = "support/pipeline.rs"]
mod pipeline;

use eai_protocol::number::parse_decimal_str;
use eai_protocol::{Envelope, Event, ItemReserve, Json, Node, RetailSale, SaleCancellation};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Arbitrary JSON, biased toward the keys the content models read.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("InternalId".to_owned()),
        Just("ReserveType".to_owned()),
        Just("DocumentReserve".to_owned()),
        Just("ReserveItemType".to_owned()),
        Just("Item".to_owned()),
        Just("ItemCode".to_owned()),
        Just("Quantity".to_owned()),
        Just("ReserveBranch".to_owned()),
        Just("IsCanceled".to_owned()),
        Just("ReserveExpiration".to_owned()),
        Just("ListOfSaleItem".to_owned()),
        Just("SaleItem".to_owned()),
        Just("ListOfSaleCondition".to_owned()),
        Just("SaleCondition".to_owned()),
        Just("UnitPrice".to_owned()),
        Just("ItemPrice".to_owned()),
        Just("ItemTablePrice".to_owned()),
        Just("IssueDateDocument".to_owned()),
        Just("PaymentValue".to_owned()),
        Just("RetailSalesInternalId".to_owned()),
        Just("CancelDate".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[0-9.,eE+ -]{0,12}".prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Text that trips the envelope rules: control characters, TAB/LF/CR, DEL,
/// and more than 255 characters.
fn awkward_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 -]{0,12}",
        "[a-z\\x00-\\x1f\\x7f]{0,6}",
        (250usize..260).prop_map(|length| "x".repeat(length)),
    ]
}

/// An envelope around `json_value()` content, serialized, then edited: a
/// member inserted at the start of some object (repeating a key, often in
/// another case) or raw bytes inserted anywhere. Most edits keep it JSON.
fn json_ish_body() -> impl Strategy<Value = Vec<u8>> {
    let transaction = prop_oneof![
        Just("ItemReserve"),
        Just("RetailSales"),
        Just("RetailSalesCancellation"),
        Just("Unknown"),
    ];
    let member = (
        prop_oneof![
            Just("Header"),
            Just("UUID"),
            Just("Content"),
            Just("InternalId"),
            Just("Quantity"),
            Just("ItemCode")
        ],
        any::<bool>(),
        prop_oneof![
            Just("1e400"),
            Just("-0"),
            Just("\"\\u0000\""),
            Just("{}"),
            Just("[1,2]"),
            Just("\"u\"")
        ],
    )
        .prop_map(|(key, upper, value)| {
            let key = if upper {
                key.to_ascii_uppercase()
            } else {
                key.to_owned()
            };
            format!("\"{key}\":{value},").into_bytes()
        });
    let raw = prop_oneof![
        Just(b"\\u0000".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"\x00".to_vec()),
        Just(b"[[[[".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
    ];
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), member).prop_map(|(at, bytes)| (true, at, bytes)),
        (any::<prop::sample::Index>(), raw).prop_map(|(at, bytes)| (false, at, bytes)),
    ];
    (
        awkward_text(),
        transaction,
        awkward_text(),
        json_value(),
        prop::collection::vec(edit, 0..3),
    )
        .prop_map(|(uuid, transaction, company, content, edits)| {
            let mut body = serde_json::json!({
                "Header": {"UUID": uuid, "Transaction": transaction, "CompanyId": company},
                "Content": content
            })
            .to_string()
            .into_bytes();
            for (after_brace, at, bytes) in edits {
                let position = if after_brace {
                    let braces: Vec<usize> = body
                        .iter()
                        .enumerate()
                        .filter(|(_, byte)| **byte == b'{')
                        .map(|(index, _)| index + 1)
                        .collect();
                    braces
                        .get(at.index(braces.len().max(1)))
                        .copied()
                        .unwrap_or(0)
                } else {
                    at.index(body.len() + 1)
                };
                body.splice(position..position, bytes);
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_ish_bodies_get_a_bounded_json_receipt(body in json_ish_body(), max_details in 0usize..4) {
        pipeline::answer(&body, max_details);
    }

    #[test]
    fn arbitrary_bytes_get_a_bounded_json_receipt(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        pipeline::answer(&bytes, 1);
    }

    #[test]
    fn arbitrary_content_is_read_or_refused_with_details(content in json_value(), delete in any::<bool>()) {
        let body = serde_json::json!({"Header": {"UUID": "u"}, "Content": content}).to_string();
        let env = Envelope::parse(body.as_bytes()).expect("has a UUID");
        let event = if delete { Event::Delete } else { Event::Upsert };
        if let Err(details) = ItemReserve::from_content(&env.content(), event) {
            prop_assert!(!details.is_empty());
            prop_assert!(details.iter().all(|d| d.is_error() && d.message.starts_with("$.Content")));
        }
        match RetailSale::from_content(&env.content(), event) {
            Ok(sale) => {
                let numbers: Vec<u32> = sale.items.iter().map(|item| item.item_no).collect();
                prop_assert_eq!(numbers, (1..=sale.items.len() as u32).collect::<Vec<_>>());
                prop_assert!(!sale.station.is_empty() && !sale.operator.is_empty());
            }
            Err(details) => {
                prop_assert!(!details.is_empty());
                prop_assert!(details.iter().all(|d| d.is_error() && d.message.starts_with("$.Content")));
            }
        }
        if let Err(details) = SaleCancellation::from_content(&env.content()) {
            prop_assert!(!details.is_empty());
            prop_assert!(details.iter().all(|d| d.is_error() && d.message.starts_with("$.Content")));
        }
        let _ = (env.event(), env.check_shape(), env.summary(), env.transaction());
    }

    #[test]
    fn every_field_reader_survives_arbitrary_values(value in json_value()) {
        let doc = serde_json::json!({"F": value});
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        let _ = (root.text("F"), root.decimal("F"), root.timestamp("F"), root.flag("F"), root.list("F", "Item"));
    }

    #[test]
    fn decimals_written_with_either_separator_read_back_exactly(
        mantissa in -10_000_000_000i64..10_000_000_000,
        scale in 0u32..8,
    ) {
        let expected = Decimal::new(mantissa, scale);
        let dotted = expected.to_string();
        prop_assert_eq!(parse_decimal_str(&dotted), Ok(expected));
        prop_assert_eq!(parse_decimal_str(&dotted.replace('.', ",")), Ok(expected));
        let number: Value = serde_json::from_str(&dotted).expect("a JSON number");
        prop_assert_eq!(eai_protocol::number::parse_decimal(&Json::from(&number)), Ok(Some(expected)));
    }
}
