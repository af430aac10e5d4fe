//! The JSON examples of seed 001, verbatim, and what the worker makes of them.
//!
//! The seed's examples are what integrators copy: the first full RetailSales
//! example is missing a comma, and the 10.4.x fragments carry trailing commas,
//! so the worker must refuse them verbatim with a position the integrator can
//! act on, and accept the corrected versions with the exact numbers the seed
//! states.

use eai_protocol::{Code, Envelope, Event, Json, Node, Rejection, Timestamp, Transaction};
use rust_decimal::Decimal;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/seed001/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A verbatim fragment (`"Content": {...}` or `"ListOfSaleCondition": {...}`)
/// made into a document the way an integrator pastes it: inside `{` `}`.
fn wrapped(name: &str) -> String {
    format!("{{\n{}}}", fixture(name))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("valid decimal")
}

fn envelope(name: &str) -> Envelope<'static> {
    Envelope::parse(fixture(name).as_bytes())
        .unwrap_or_else(|rejection| panic!("{name}: {rejection}"))
        .detach()
}

/// Asserts each `(key, exact decimal)` of a node.
fn assert_decimals(node: &Node<'_>, expected: &[(&str, &str)]) {
    for (key, value) in expected {
        assert_eq!(
            node.decimal(key),
            Ok(Some(dec(value))),
            "{}",
            node.child_path(key)
        );
    }
}

fn list<'a>(node: &Node<'a>, key: &str, item: &str) -> Vec<Node<'a>> {
    node.list(key, item).expect("a list")
}

#[test]
fn first_full_example_is_refused_at_the_missing_comma() {
    let rejection =
        Envelope::parse(fixture("full_example_1.json").as_bytes()).expect_err("missing comma");
    // Line 49 is `"FreightValueProrated": 5` of the second item; the parser
    // notices at the first character of line 50, `"OperationCode": "01",`.
    assert_eq!(
        rejection,
        Rejection::InvalidJson {
            line: 50,
            column: 1,
            message: "expected `,` or `}`".into()
        }
    );
    assert_eq!(rejection.code(), Code::InvalidJson);
    assert_eq!(
        rejection.to_string(),
        "INVALID_JSON at line 50, column 1: expected `,` or `}`"
    );
}

#[test]
fn second_full_example_parses_with_exact_values() {
    let env = envelope("full_example_2.json");
    assert_eq!(env.uuid(), "61e91b9e-e030-40d6-b0fd-dcf63e81c966");
    assert_eq!(env.namespace(), "ECOMMERCE");
    assert_eq!(env.transaction(), Ok(Transaction::RetailSales));
    assert_eq!(env.check_version(Transaction::RetailSales), Ok(()));
    assert_eq!(env.event(), Ok(Event::Upsert));
    assert_eq!(env.check_shape(), Ok(()));

    let generated_on = env.header().timestamp("GeneratedOn");
    let Ok(Some(Timestamp::Zoned(generated_on))) = generated_on else {
        panic!("GeneratedOn is RFC 2822: {generated_on:?}");
    };
    assert_eq!(generated_on.to_rfc3339(), "2020-04-23T17:02:20+00:00");

    let content = env.content();
    assert_decimals(
        &content,
        &[
            ("NetPrice", "203"),
            ("GrossPrice", "203"),
            ("TotalPrice", "203"),
            ("FreightValue", "15"),
            ("DiscountValue", "15"),
        ],
    );
    let issued = content.timestamp("IssueDateDocument");
    let Ok(Some(Timestamp::Zoned(issued))) = issued else {
        panic!("IssueDateDocument is RFC 3339 with offset: {issued:?}");
    };
    assert_eq!(issued.to_rfc3339(), "2020-04-23T17:01:06.625349+00:00");
    assert_eq!(
        content.text("DocumentCode"),
        Ok(Some("1027293590055-01".into()))
    );

    let items = list(&content, "ListOfSaleItem", "SaleItem");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].path(), "$.Content.ListOfSaleItem.SaleItem[0]");
    assert_decimals(
        &items[0],
        &[
            ("UnitPrice", "18.6"),
            ("ItemPrice", "93"),
            ("Quantity", "5"),
            ("FreightValueProrated", "5"),
            ("DiscountAmount", "5"),
        ],
    );
    assert_eq!(
        items[0]
            .decimal("UnitPrice")
            .map(|d| d.map(|d| d.to_string())),
        Ok(Some("18.6".into()))
    );
    let item_total: Decimal = items
        .iter()
        .filter_map(|item| item.decimal("ItemPrice").ok().flatten())
        .sum();
    assert_eq!(item_total, dec("203"));

    let payments = list(&content, "ListOfSaleCondition", "SaleCondition");
    assert_eq!(payments.len(), 1);
    assert_decimals(&payments[0], &[("PaymentValue", "203")]);
    assert_eq!(
        payments[0].timestamp("DateOfPayment"),
        Ok(None),
        "null is absent"
    );
    assert_eq!(
        payments[0].text("UniqueSerialNumber"),
        Ok(Some("004112".into()))
    );
}

/// The 10.4.x fragments with a trailing comma after `"DiscountAmount"`; the
/// `}` that follows it is line 16 of the fragment, line 17 once wrapped.
const TRAILING_COMMA_CASES: [&str; 5] = [
    "case_10_4_1.json",
    "case_10_4_2.json",
    "case_10_4_3.json",
    "case_10_4_4.json",
    "case_10_4_5.json",
];

#[test]
fn verbatim_10_4_fragments_with_trailing_comma_are_invalid_json_at_the_comma() {
    for name in TRAILING_COMMA_CASES {
        let rejection = Envelope::parse(wrapped(name).as_bytes()).expect_err(name);
        assert_eq!(
            rejection,
            Rejection::InvalidJson {
                line: 17,
                column: 1,
                message: "trailing comma".into()
            },
            "{name}"
        );
    }
}

#[test]
fn verbatim_fragments_without_trailing_comma_are_json_but_not_envelopes() {
    for name in [
        "case_10_4_6.json",
        "payment_one_method.json",
        "payment_two_instalments.json",
        "payment_mixed.json",
        "de_para_sale_condition.json",
    ] {
        let text = wrapped(name);
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "{name} is valid JSON once wrapped"
        );
        assert_eq!(
            Envelope::parse(text.as_bytes()).expect_err(name),
            Rejection::InvalidEnvelope {
                reason: "$.Header: missing or not an object".into()
            },
            "{name}: a fragment has no Header.UUID to answer"
        );
    }
}

/// Per fixed case: Content decimals, first item decimals, payment values.
struct FixedCase {
    name: &'static str,
    content: [(&'static str, &'static str); 6],
    item: [(&'static str, &'static str); 6],
    payment: &'static str,
}

const FIXED_CASES: [FixedCase; 5] = [
    FixedCase {
        name: "case_10_4_1.fixed.json",
        content: [
            ("TotalPrice", "15"),
            ("DiscountValue", "5"),
            ("NetPrice", "15"),
            ("GrossPrice", "15"),
            ("CommodityPrice", "20"),
            ("FreightValue", "0"),
        ],
        item: [
            ("Quantity", "2"),
            ("ItemTablePrice", "10"),
            ("UnitPrice", "10"),
            ("ItemPrice", "20"),
            ("FreightValueProrated", "0"),
            ("DiscountAmount", "0"),
        ],
        payment: "15",
    },
    FixedCase {
        name: "case_10_4_2.fixed.json",
        content: [
            ("TotalPrice", "15"),
            ("DiscountValue", "0"),
            ("NetPrice", "15"),
            ("GrossPrice", "15"),
            ("CommodityPrice", "20"),
            ("FreightValue", "0"),
        ],
        item: [
            ("Quantity", "2"),
            ("ItemTablePrice", "10"),
            ("UnitPrice", "7.5"),
            ("ItemPrice", "15"),
            ("FreightValueProrated", "0"),
            ("DiscountAmount", "0"),
        ],
        payment: "15",
    },
    FixedCase {
        name: "case_10_4_3.fixed.json",
        content: [
            ("TotalPrice", "20"),
            ("DiscountValue", "0"),
            ("NetPrice", "35"),
            ("GrossPrice", "35"),
            ("CommodityPrice", "20"),
            ("FreightValue", "15"),
        ],
        item: [
            ("Quantity", "2"),
            ("ItemTablePrice", "10"),
            ("UnitPrice", "10"),
            ("ItemPrice", "20"),
            ("FreightValueProrated", "15"),
            ("DiscountAmount", "0"),
        ],
        payment: "35",
    },
    FixedCase {
        name: "case_10_4_4.fixed.json",
        content: [
            ("TotalPrice", "30"),
            ("DiscountValue", "5"),
            ("NetPrice", "30"),
            ("GrossPrice", "30"),
            ("CommodityPrice", "35"),
            ("FreightValue", "15"),
        ],
        item: [
            ("Quantity", "2"),
            ("ItemTablePrice", "10"),
            ("UnitPrice", "10"),
            ("ItemPrice", "20"),
            ("FreightValueProrated", "15"),
            ("DiscountAmount", "0"),
        ],
        payment: "35",
    },
    FixedCase {
        name: "case_10_4_5.fixed.json",
        content: [
            ("TotalPrice", "30"),
            ("DiscountValue", "0"),
            ("NetPrice", "30"),
            ("GrossPrice", "30"),
            ("CommodityPrice", "35"),
            ("FreightValue", "15"),
        ],
        item: [
            ("Quantity", "2"),
            ("ItemTablePrice", "10"),
            ("UnitPrice", "7.5"),
            ("ItemPrice", "15"),
            ("FreightValueProrated", "15"),
            ("DiscountAmount", "5"),
        ],
        payment: "30",
    },
];

#[test]
fn fixed_10_4_1_to_5_parse_with_the_seed_numbers() {
    for case in FIXED_CASES {
        let env = envelope(case.name);
        assert_eq!(
            env.transaction(),
            Ok(Transaction::RetailSales),
            "{}",
            case.name
        );
        assert_eq!(env.check_version(Transaction::RetailSales), Ok(()));
        assert_eq!(env.check_shape(), Ok(()));
        assert_eq!(env.event(), Ok(Event::Upsert), "absent event is upsert");
        let content = env.content();
        assert_decimals(&content, &case.content);
        let items = list(&content, "ListOfSaleItem", "SaleItem");
        assert_eq!(items.len(), 1, "{}", case.name);
        assert_decimals(&items[0], &case.item);
        let payments = list(&content, "ListOfSaleCondition", "SaleCondition");
        assert_eq!(payments.len(), 1, "{}", case.name);
        let payment = &payments[0];
        assert_decimals(payment, &[("PaymentValue", case.payment)]);
        assert_eq!(payment.text("PaymentMethodCode"), Ok(Some("R$".into())));
        assert_eq!(
            payment.text("FinancialManagerCode"),
            Ok(None),
            "\"\" is absent"
        );
        assert_eq!(
            payment.text("UniqueSerialNumber"),
            Ok(None),
            "null is absent"
        );
        assert_eq!(
            payment.timestamp("DateOfPayment"),
            Ok(Some(Timestamp::Date(
                chrono::NaiveDate::from_ymd_opt(2021, 6, 18).expect("valid date")
            )))
        );
    }
}

#[test]
fn fixed_10_4_6_parses_string_payment_and_increase_exactly() {
    let env = envelope("case_10_4_6.fixed.json");
    assert_eq!(env.event(), Ok(Event::Upsert), "Content.Event upsert");
    let content = env.content();
    assert_decimals(
        &content,
        &[
            ("GrossPrice", "885"),
            ("NetPrice", "885"),
            ("CommodityPrice", "835"),
            ("TotalPrice", "835"),
            ("IncreaseValue", "50"),
            ("FreightValue", "0"),
            ("DiscountValue", "0"),
        ],
    );
    assert!(content.get("items").is_none(), "\"items\": null is absent");
    let issued = content.timestamp("IssueDateDocument");
    let Ok(Some(Timestamp::Zoned(issued))) = issued else {
        panic!("IssueDateDocument is zoned: {issued:?}");
    };
    assert_eq!(issued.to_rfc3339(), "2022-03-30T17:00:39.011180+00:00");

    let items = list(&content, "ListOfSaleItem", "SaleItem");
    assert_eq!(items.len(), 2);
    assert_decimals(
        &items[0],
        &[("UnitPrice", "700"), ("IncreaseValueProrated", "41.92")],
    );
    assert_decimals(
        &items[1],
        &[("UnitPrice", "135"), ("IncreaseValueProrated", "8.08")],
    );
    assert_eq!(
        items[0].text("ItemInternalId"),
        Ok(Some("d077bf8a-bbbb-4549-9b00-1a203cfe6650".into()))
    );
    let increase: Decimal = items
        .iter()
        .filter_map(|item| item.decimal("IncreaseValueProrated").ok().flatten())
        .sum();
    assert_eq!(increase, dec("50"), "41.92 + 8.08 exactly, no float drift");

    let payments = list(&content, "ListOfSaleCondition", "SaleCondition");
    assert_eq!(payments.len(), 1);
    assert_eq!(
        payments[0].raw("PaymentValue"),
        &Json::String("885".into()),
        "sent as a string"
    );
    assert_decimals(&payments[0], &[("PaymentValue", "885")]);
    assert_eq!(
        payments[0].timestamp("DateOfPayment"),
        Ok(Some(Timestamp::Local(
            chrono::NaiveDate::from_ymd_opt(2022, 3, 30)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("valid date-time")
        )))
    );
    assert_eq!(payments[0].timestamp("EftDate"), Ok(None), "\"\" is absent");
    assert_eq!(
        payments[0].text("FinancialManagerCode"),
        Ok(Some("CARTAO".into()))
    );
}

#[test]
fn payment_fragments_read_as_wrapped_lists() {
    let cases = [
        ("payment_one_method.json", vec!["50"]),
        ("payment_two_instalments.json", vec!["25", "25"]),
        ("payment_mixed.json", vec!["20", "20", "10"]),
    ];
    for (name, values) in cases {
        let doc: Value = serde_json::from_str(&wrapped(name)).expect("valid once wrapped");
        let doc = Json::from(&doc);
        let root = Node::root(&doc);
        let payments = list(&root, "ListOfSaleCondition", "SaleCondition");
        assert_eq!(payments.len(), values.len(), "{name}");
        for (index, (payment, value)) in payments.iter().zip(&values).enumerate() {
            assert_eq!(
                payment.path(),
                format!("$.ListOfSaleCondition.SaleCondition[{index}]")
            );
            assert_decimals(payment, &[("PaymentValue", value)]);
            assert!(matches!(
                payment.timestamp("DateOfPayment"),
                Ok(Some(Timestamp::Local(_)))
            ));
        }
        if let Some(first) = payments.first() {
            assert!(matches!(
                first.timestamp("EftDate"),
                Ok(Some(Timestamp::Local(_)))
            ));
            assert_eq!(first.text("EftParcel"), Ok(Some("1".into())));
        }
    }
    let mixed: Value = serde_json::from_str(&wrapped("payment_mixed.json")).expect("valid");
    let mixed = Json::from(&mixed);
    let mixed_root = Node::root(&mixed);
    let last = &list(&mixed_root, "ListOfSaleCondition", "SaleCondition")[2];
    assert_eq!(last.text("PaymentMethodCode"), Ok(Some("R$".into())));
    assert_eq!(
        last.text("FinancialManagerCode"),
        Ok(None),
        "cash has no manager"
    );
}

#[test]
fn de_para_fragment_is_a_plain_payment_list() {
    let doc: Value =
        serde_json::from_str(&wrapped("de_para_sale_condition.json")).expect("valid once wrapped");
    let doc = Json::from(&doc);
    let root = Node::root(&doc);
    let payments = list(&root, "SaleCondition", "SaleCondition");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].path(), "$.SaleCondition[0]");
    assert_decimals(&payments[0], &[("PaymentValue", "105")]);
    assert_eq!(payments[0].timestamp("DateOfPayment"), Ok(None));
    assert_eq!(
        payments[0].text("UniqueSerialNumber"),
        Ok(Some("745492".into()))
    );
    assert_eq!(
        payments[0].text("FinancialManagerCode"),
        Ok(Some("CAR".into()))
    );
}
