//! Bad input must become a coded rejection or detail, never a panic: the
//! worker consumes whatever the queue delivers.

use eai_protocol::number::parse_decimal_str;
use eai_protocol::{Envelope, Event, ItemReserve, Node, RetailSale, SaleCancellation};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Envelope::parse(&bytes);
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
        prop_assert_eq!(eai_protocol::number::parse_decimal(&number), Ok(Some(expected)));
    }
}
