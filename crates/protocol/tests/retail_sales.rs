//! Seed 001's RetailSales examples read into [`RetailSale`] with the values the
//! seed states, and the cancellation model on whole envelopes.
//!
//! The verbatim examples are refused as JSON (see `seed001.rs`); these tests read
//! the fixed copies: `full_example_1.fixed.json` is the first full example with
//! its one missing comma added, otherwise verbatim.

use chrono::NaiveDate;
use eai_protocol::{Code, Envelope, Event, RetailSale, SaleCancellation, Timestamp};
use rust_decimal::Decimal;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/seed001/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("valid decimal")
}

fn some_dec(text: &str) -> Option<Decimal> {
    Some(dec(text))
}

fn envelope(body: &str) -> Envelope<'static> {
    Envelope::parse(body.as_bytes())
        .unwrap_or_else(|rejection| panic!("{rejection}"))
        .detach()
}

/// Reads a whole envelope the way the worker does: its event, then its Content.
fn sale_from(body: &str) -> RetailSale {
    let env = envelope(body);
    let event = env.event().expect("a supported event");
    RetailSale::from_content(&env.content(), event)
        .unwrap_or_else(|details| panic!("refused: {details:?}"))
}

fn sale(name: &str) -> RetailSale {
    sale_from(&fixture(name))
}

/// `Σ ItemPrice − DiscountValue + FreightValue + IncreaseValue`, the NetPrice
/// the domain checks (SPEC §5), from the normalised values.
fn expected_net(sale: &RetailSale) -> Decimal {
    let items: Decimal = sale.items.iter().filter_map(|item| item.item_price).sum();
    items - sale.discount_value + sale.freight_value + sale.increase_value
}

#[test]
fn first_full_example_fixed_parses_and_its_totals_disagree_as_the_seed_says() {
    let verbatim = fixture("full_example_1.json");
    let fixed = fixture("full_example_1.fixed.json");
    assert_eq!(
        verbatim.replacen(
            "\"FreightValueProrated\": 5\n\"OperationCode\"",
            "\"FreightValueProrated\": 5,\n\"OperationCode\"",
            1
        ),
        fixed,
        "the fixed copy differs from the seed by the one missing comma"
    );
    let sale = sale_from(&fixed);
    assert_eq!(sale.net_price, some_dec("203"));
    assert_eq!(sale.total_price, some_dec("203"));
    assert_eq!(sale.gross_price, some_dec("203"));
    assert_eq!(sale.freight_value, dec("15"));
    assert_eq!(sale.discount_value, Decimal::ZERO);
    assert_eq!(sale.items.len(), 3);
    for (index, item) in sale.items.iter().enumerate() {
        assert_eq!(item.item_no as usize, index + 1);
        assert_eq!(item.freight_prorated, dec("5"));
        assert_eq!(item.discount_amount, Decimal::ZERO);
    }
    let freight: Decimal = sale.items.iter().map(|item| item.freight_prorated).sum();
    assert_eq!(
        freight, sale.freight_value,
        "FreightValue = Σ FreightValueProrated"
    );
    assert_eq!(
        expected_net(&sale),
        dec("218"),
        "items 203 + freight 15 ≠ NetPrice 203: the domain refuses it"
    );
    assert_eq!(sale.payments.len(), 1);
    assert_eq!(sale.payments[0].value, some_dec("203"));
}

#[test]
fn second_full_example_reads_with_the_seed_values() {
    let sale = sale("full_example_2.json");
    assert_eq!(
        sale.internal_id.as_deref(),
        Some("15da928b-9e88-4947-a508-8cdd56beabd9")
    );
    assert_eq!(sale.document_code.as_deref(), Some("1027293590055-01"));
    assert_eq!(sale.ecommerce_order.as_deref(), Some("1027293590055-01"));
    let Some(Timestamp::Zoned(issued)) = sale.issue_date else {
        panic!("IssueDateDocument is zoned: {:?}", sale.issue_date);
    };
    assert_eq!(issued.to_rfc3339(), "2020-04-23T17:01:06.625349+00:00");
    assert_eq!(sale.issue_date_raw, None);
    assert_eq!(
        sale.customer.as_deref(),
        Some("44dca035-dbbe-4aef-8c1e-c2a4acb4f88a")
    );
    assert_eq!(sale.station, "AUTOMATICO");
    assert_eq!(sale.operator, "AUTOMATICO");
    assert_eq!(sale.carrier.as_deref(), Some("01"));
    assert_eq!(sale.sale_type.as_deref(), Some("V"));
    assert_eq!(sale.net_price, some_dec("203"));
    assert_eq!(sale.discount_value, dec("15"));
    assert_eq!(sale.freight_value, dec("15"));
    assert_eq!(sale.increase_value, Decimal::ZERO);
    assert_eq!(sale.commodity_price, None);

    assert_eq!(sale.items.len(), 3);
    let first = &sale.items[0];
    assert_eq!(first.item_no, 1);
    assert_eq!(first.path, "$.Content.ListOfSaleItem.SaleItem[0]");
    assert_eq!(
        first.product.as_deref(),
        Some("d077bf8a-bbbb-4549-9b00-1a203cfe4428")
    );
    assert_eq!(first.quantity, some_dec("5"));
    assert_eq!(first.unit_price, some_dec("18.6"));
    assert_eq!(first.unit_price.map(|p| p.to_string()), Some("18.6".into()));
    assert_eq!(first.table_price, some_dec("18.6"), "no ItemTablePrice");
    assert_eq!(first.item_price, some_dec("93"));
    assert_eq!(first.discount_amount, dec("5"));
    assert_eq!(first.freight_prorated, dec("5"));
    assert_eq!(first.operation_code.as_deref(), Some("01"));
    assert_eq!(
        first.reserve_internal_id.as_deref(),
        Some("15da928b-9e88-4947-a508-8cdd56beabd9")
    );
    assert_eq!(first.delivery_type.as_deref(), Some("1"), "pickup order");
    assert_eq!(first.warehouse, None);
    let numbers: Vec<u32> = sale.items.iter().map(|item| item.item_no).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(sale
        .items
        .iter()
        .all(|item| item.discount_amount == dec("5")));
    assert_eq!(
        expected_net(&sale),
        dec("203"),
        "203 − 15 + 15 = NetPrice: accepted"
    );

    let [payment] = sale.payments.as_slice() else {
        panic!("one payment: {:?}", sale.payments);
    };
    assert_eq!(payment.payment_no, 1);
    assert_eq!(payment.value, some_dec("203"));
    assert_eq!(payment.method.as_deref(), Some("CC"));
    assert_eq!(payment.financial_manager.as_deref(), Some("CAR"));
    assert_eq!(payment.serial_number.as_deref(), Some("004112"));
    assert_eq!(payment.date, None, "null DateOfPayment");
}

/// Per 10.4.x case: (fixture, total, discount, net, gross, commodity, freight,
/// unit price, item price, freight prorated, discount amount, payment).
type Case = (
    &'static str,
    [&'static str; 6],
    [&'static str; 4],
    &'static str,
);

const CASES: [Case; 5] = [
    (
        "case_10_4_1.fixed.json",
        ["15", "5", "15", "15", "20", "0"],
        ["10", "20", "0", "0"],
        "15",
    ),
    (
        "case_10_4_2.fixed.json",
        ["15", "0", "15", "15", "20", "0"],
        ["7.5", "15", "0", "0"],
        "15",
    ),
    (
        "case_10_4_3.fixed.json",
        ["20", "0", "35", "35", "20", "15"],
        ["10", "20", "15", "0"],
        "35",
    ),
    (
        "case_10_4_4.fixed.json",
        ["30", "5", "30", "30", "35", "15"],
        ["10", "20", "15", "0"],
        "35",
    ),
    (
        "case_10_4_5.fixed.json",
        ["30", "0", "30", "30", "35", "15"],
        ["7.5", "15", "15", "5"],
        "30",
    ),
];

#[test]
fn fixed_10_4_1_to_5_read_with_the_seed_numbers() {
    let paid = Timestamp::Date(NaiveDate::from_ymd_opt(2021, 6, 18).expect("valid date"));
    for (
        name,
        [total, discount, net, gross, commodity, freight],
        [unit, price, prorated, amount],
        payment,
    ) in CASES
    {
        let sale = sale(name);
        assert_eq!(sale.total_price, some_dec(total), "{name}");
        assert_eq!(sale.discount_value, dec(discount), "{name}");
        assert_eq!(sale.net_price, some_dec(net), "{name}");
        assert_eq!(sale.gross_price, some_dec(gross), "{name}");
        assert_eq!(sale.commodity_price, some_dec(commodity), "{name}");
        assert_eq!(sale.freight_value, dec(freight), "{name}");
        assert_eq!(sale.station, "AUTOMATICO", "{name}: no station given");
        assert_eq!(sale.operator, "AUTOMATICO", "{name}: no operator given");
        assert_eq!(sale.customer, None, "{name}: cut from the fragment");
        let [item] = sale.items.as_slice() else {
            panic!("{name}: one item: {:?}", sale.items);
        };
        assert_eq!(item.item_no, 1);
        assert_eq!(item.quantity, some_dec("2"), "{name}");
        assert_eq!(item.table_price, some_dec("10"), "{name}");
        assert_eq!(item.unit_price, some_dec(unit), "{name}");
        assert_eq!(item.item_price, some_dec(price), "{name}");
        assert_eq!(item.freight_prorated, dec(prorated), "{name}");
        assert_eq!(item.discount_amount, dec(amount), "{name}");
        let [line] = sale.payments.as_slice() else {
            panic!("{name}: one payment: {:?}", sale.payments);
        };
        assert_eq!(line.value, some_dec(payment), "{name}");
        assert_eq!(line.method.as_deref(), Some("R$"));
        assert_eq!(line.financial_manager, None, "\"\" is absent");
        assert_eq!(line.serial_number, None, "null is absent");
        assert_eq!(line.date, Some(paid));
    }
}

#[test]
fn seed_totals_accept_every_10_4_case_but_10_4_4() {
    for (name, ..) in CASES {
        let sale = sale(name);
        let payments: Option<Decimal> = sale.payments.iter().map(|p| p.value).sum();
        let net = sale.net_price.expect("NetPrice");
        let consistent = expected_net(&sale) == net && payments == Some(net);
        assert_eq!(consistent, name != "case_10_4_4.fixed.json", "{name}");
    }
}

#[test]
fn fixed_10_4_6_reads_increase_and_string_payment_exactly() {
    let sale = sale("case_10_4_6.fixed.json");
    assert_eq!(
        sale.internal_id.as_deref(),
        Some("30ed312c-9ff5-4939-a940-8b11021bfFA")
    );
    assert_eq!(sale.document_code.as_deref(), Some("000000595"));
    assert_eq!(sale.ecommerce_order.as_deref(), Some("1200873417041-01"));
    assert!(matches!(sale.issue_date, Some(Timestamp::Zoned(_))));
    assert_eq!(
        sale.customer.as_deref(),
        Some("c5a7a767-3bae-4f0c-af28-d1ed5ef58766")
    );
    assert_eq!(sale.station, "AUTOMATICO");
    assert_eq!(sale.operator, "AUTOMATICO");
    assert_eq!(sale.carrier.as_deref(), Some("01"), "CarrierCode");
    assert_eq!(sale.gross_price, some_dec("885"));
    assert_eq!(sale.net_price, some_dec("885"));
    assert_eq!(sale.total_price, some_dec("835"));
    assert_eq!(sale.commodity_price, some_dec("835"));
    assert_eq!(sale.increase_value, dec("50"));
    assert_eq!(sale.freight_value, Decimal::ZERO);
    assert_eq!(sale.discount_value, Decimal::ZERO);

    let [first, second] = sale.items.as_slice() else {
        panic!("two items: {:?}", sale.items);
    };
    assert_eq!(
        (first.item_no, second.item_no),
        (1, 2),
        "both sent ItemOrder 1"
    );
    assert_eq!(
        first.product.as_deref(),
        Some("d077bf8a-bbbb-4549-9b00-1a203cfe6650"),
        "ItemInternalId when no ItemCode"
    );
    assert_eq!(
        second.product.as_deref(),
        Some("30ed312c-9ff5-4939-a940-8b11021beb7e")
    );
    assert_eq!(first.unit_price, some_dec("700"));
    assert_eq!(first.table_price, some_dec("700"));
    assert_eq!(first.item_price, some_dec("700"));
    assert_eq!(second.unit_price, some_dec("135"));
    assert_eq!(second.item_price, some_dec("135"));
    assert_eq!(first.increase_prorated, dec("41.92"));
    assert_eq!(second.increase_prorated, dec("8.08"));
    assert_eq!(first.increase_prorated.to_string(), "41.92");
    assert_eq!(
        first.increase_prorated + second.increase_prorated,
        sale.increase_value,
        "41.92 + 8.08 = 50 exactly"
    );
    assert_eq!(first.delivery_type.as_deref(), Some("3"));
    assert_eq!(
        first.reserve_internal_id.as_deref(),
        Some("b1e5d0d4-ceee-4e3b-9808-1db111c2f7FC")
    );
    assert_eq!(expected_net(&sale), dec("885"), "700 + 135 + 50");

    let [payment] = sale.payments.as_slice() else {
        panic!("one payment: {:?}", sale.payments);
    };
    assert_eq!(payment.value, some_dec("885"), "sent as the string \"885\"");
    assert_eq!(payment.method.as_deref(), Some("CC"));
    assert_eq!(payment.financial_manager.as_deref(), Some("CARTAO"));
    assert_eq!(payment.serial_number, None, "\"\" is absent");
    assert_eq!(payment.instalment, None);
    assert_eq!(
        payment.date,
        NaiveDate::from_ymd_opt(2022, 3, 30)
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(Timestamp::Local),
        "DateOfPayment in the local form"
    );
}

#[test]
fn a_delete_envelope_for_a_sale_is_event_not_supported() {
    let body = fixture("case_10_4_6.fixed.json").replacen(
        "\"Event\": \"upsert\"",
        "\"Event\": \"DELETE\"",
        1,
    );
    let env = envelope(&body);
    let event = env.event().expect("delete is an event");
    assert_eq!(event, Event::Delete);
    let details = RetailSale::from_content(&env.content(), event).expect_err("refused");
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].code, Code::EventNotSupported);
    assert!(details[0].message.starts_with("$.Content.Event: "));
}

#[test]
fn cancellation_envelopes_name_the_sale_by_either_key() {
    let body = |content: &str| {
        format!(
            r#"{{"Header": {{"UUID": "c-1", "Transaction": "RetailSalesCancellation", "Version": "2.000"}}, "Content": {content}}}"#
        )
    };
    for content in [
        r#"{"RetailSalesInternalId": "15da928b", "CancelDate": "2020-04-24"}"#,
        r#"{"InternalId": "15da928b", "CancelDate": "2020-04-24"}"#,
        r#"{"retailsalesinternalid": " 15da928b ", "canceldate": "2020-04-24"}"#,
    ] {
        let env = envelope(&body(content));
        let cancellation = SaleCancellation::from_content(&env.content()).expect(content);
        assert_eq!(cancellation.sale_internal_id, "15da928b", "{content}");
        assert_eq!(
            cancellation.cancel_date,
            NaiveDate::from_ymd_opt(2020, 4, 24).map(Timestamp::Date)
        );
    }
    let env = envelope(&body(r#"{"CancelDate": "2020-04-24"}"#));
    let details = SaleCancellation::from_content(&env.content()).expect_err("no sale named");
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].code, Code::InvalidField);
    assert!(details[0]
        .message
        .starts_with("$.Content.RetailSalesInternalId: expected a non-empty string"));
}
