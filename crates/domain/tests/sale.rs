//! RetailSales rules (SPEC §5) as a sender sees them: the codes and messages
//! of rejected sales, the worked examples of seed 001 §10.4 and its two full
//! examples, and the plan (lots, payments, receivables, status) of accepted ones.

use std::str::FromStr;

use chrono::NaiveDate;
use eai_domain::mapping::Entity;
use eai_domain::sale::{
    judge, DebtorKind, FinancialManager, ItemLot, ReservationInfo, ReservedLot, SaleMasterData,
    SaleProduct, SaleStatus, SaleVerdict,
};
use eai_protocol::{
    CardPayment, Code, ItemInformation, RetailSale, SaleItem, SalePayment, Severity, Timestamp,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

const ITEMS: &str = "$.Content.ListOfSaleItem.SaleItem";
const PAYMENTS: &str = "$.Content.ListOfSaleCondition.SaleCondition";

/// The reservation of the seed's two full examples.
const FULL_RESERVE: &str = "15da928b-9e88-4947-a508-8cdd56beabd9";
/// The reservation of seed §10.4.6.
const INCREASE_RESERVE: &str = "b1e5d0d4-ceee-4e3b-9808-1db111c2f7FC";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("test decimal")
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

fn stamp(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("test timestamp")
}

fn item_path(index: usize) -> String {
    format!("{ITEMS}[{index}]")
}

fn payment_path(index: usize) -> String {
    format!("{PAYMENTS}[{index}]")
}

fn item(index: usize, product: &str, quantity: &str, unit: &str, price: &str) -> SaleItem {
    SaleItem {
        item_no: index as u32 + 1,
        path: item_path(index),
        product: Some(product.into()),
        warehouse: None,
        quantity: Some(dec(quantity)),
        unit_price: Some(dec(unit)),
        table_price: None,
        item_price: Some(dec(price)),
        discount_amount: Decimal::ZERO,
        freight_prorated: Decimal::ZERO,
        increase_prorated: Decimal::ZERO,
        operation_code: Some("01".into()),
        reserve_internal_id: None,
        delivery_type: Some("3".into()),
        information: ItemInformation::default(),
    }
}

fn payment(
    index: usize,
    method: &str,
    manager: Option<&str>,
    value: &str,
    date: Option<&str>,
) -> SalePayment {
    SalePayment {
        payment_no: index as u32 + 1,
        path: payment_path(index),
        method: Some(method.into()),
        financial_manager: manager.map(str::to_owned),
        value: Some(dec(value)),
        date: date.map(stamp),
        serial_number: None,
        instalment: None,
        card: CardPayment::default(),
    }
}

/// A header that passes every header rule; prices as given.
fn sale(total: &str, discount: &str, net: &str, gross: &str, freight: &str) -> RetailSale {
    RetailSale {
        internal_id: Some("30ed312c-9ff5-4939-a940-8b11021bfFA".into()),
        document_code: Some("000000595".into()),
        ecommerce_order: Some("1200873417041-01".into()),
        issue_date: Some(stamp("2021-06-18")),
        issue_date_raw: None,
        customer: Some("C001".into()),
        station: "AUTOMATICO".into(),
        operator: "AUTOMATICO".into(),
        carrier: None,
        sale_type: Some("V".into()),
        total_price: Some(dec(total)),
        net_price: Some(dec(net)),
        gross_price: Some(dec(gross)),
        commodity_price: None,
        discount_value: dec(discount),
        freight_value: dec(freight),
        increase_value: Decimal::ZERO,
        intermediary_code: None,
        presencial_indicator: None,
        items: Vec::new(),
        payments: Vec::new(),
    }
}

fn line(product: &str, warehouse: &str, lot_id: Option<i64>, quantity: &str) -> ReservedLot {
    ReservedLot {
        product: product.into(),
        warehouse: warehouse.into(),
        lot_id,
        lot: lot_id.map(|id| format!("L{id}")).unwrap_or_default(),
        sublot: String::new(),
        quantity: dec(quantity),
    }
}

fn reservation(id: i64, number: &str, lines: Vec<ReservedLot>) -> ReservationInfo {
    ReservationInfo {
        id,
        number: number.into(),
        status: "active".into(),
        lines,
    }
}

/// Master data under which every seed example resolves.
fn master() -> SaleMasterData {
    let mut master = SaleMasterData {
        closed_until: Some(day("2020-01-31")),
        released_payment_methods: vec!["FI".into(), "CC".into(), "R$".into()],
        ..SaleMasterData::default()
    };
    let directory = &mut master.directory;
    for (code, blocked, tes) in [
        ("P1", false, None),
        ("P2", false, None),
        ("P3", false, None),
        ("P4", false, None),
        ("P5", false, None),
        ("PT", false, Some("502")),
        ("PB", true, None),
    ] {
        directory.add_internal(Entity::Product, code);
        master.products.insert(
            code.into(),
            SaleProduct {
                code: code.into(),
                blocked,
                tes: tes.map(str::to_owned),
                default_warehouse: Some("01".into()),
            },
        );
    }
    for (external, internal) in [
        ("d077bf8a-bbbb-4549-9b00-1a203cfe4428", "P1"),
        ("69dbb151-bbe6-4547-853a-0342ace00eab", "P2"),
        ("79f93baf-39ac-40de-ae73-007a256dda31", "P3"),
        ("d077bf8a-bbbb-4549-9b00-1a203cfe6650", "P4"),
        ("30ed312c-9ff5-4939-a940-8b11021beb7e", "P5"),
    ] {
        directory.add_mapping(Entity::Product, external, internal);
    }
    for (code, blocked) in [("C001", false), ("CB", true)] {
        directory.add_internal(Entity::Customer, code);
        master.customers.insert(code.into(), blocked);
    }
    directory.add_mapping(
        Entity::Customer,
        "44dca035-dbbe-4aef-8c1e-c2a4acb4f88a",
        "C001",
    );
    directory.add_mapping(
        Entity::Customer,
        "c5a7a767-3bae-4f0c-af28-d1ed5ef58766",
        "C001",
    );
    directory.add_internal(Entity::Station, "AUTOMATICO");
    master.stations.insert("AUTOMATICO".into(), "A01".into());
    directory.add_internal(Entity::Operator, "AUTOMATICO");
    directory.add_internal(Entity::Carrier, "01");
    directory.add_internal(Entity::Warehouse, "01");
    directory.add_internal(Entity::Warehouse, "02");
    directory.add_mapping(Entity::Warehouse, "SOUTH", "03");
    for (code, requires) in [("CC", true), ("R$", false), ("BOL", false), ("FI", false)] {
        directory.add_internal(Entity::PaymentMethod, code);
        master.payment_methods.insert(code.into(), requires);
    }
    for (code, days, own_financing) in [
        ("CAR", 30, false),
        ("CARTAO", 30, false),
        ("PROPRIO", 15, true),
    ] {
        directory.add_internal(Entity::FinancialManager, code);
        master.financial_managers.insert(
            code.into(),
            FinancialManager {
                code: code.into(),
                days,
                own_financing,
            },
        );
    }
    directory.add_internal(Entity::Operation, "01");
    master.operations.insert("01".into(), "501".into());
    master.reservations.insert(
        FULL_RESERVE.into(),
        reservation(
            7,
            "000007",
            vec![
                line("P1", "01", Some(71), "5"),
                line("P2", "01", Some(72), "1"),
                line("P3", "01", Some(73), "1"),
            ],
        ),
    );
    master.reservations.insert(
        INCREASE_RESERVE.into(),
        reservation(
            9,
            "000009",
            vec![
                line("P4", "01", Some(91), "1"),
                line("P5", "01", Some(92), "1"),
            ],
        ),
    );
    master.reservations.insert(
        "R1".into(),
        reservation(1, "000001", vec![line("P1", "01", Some(11), "2")]),
    );
    master
}

/// An item's product, reservation and the lot ids it takes.
type ItemSummary<'a> = (&'a str, Option<i64>, Vec<Option<i64>>);

fn error_codes(verdict: &SaleVerdict) -> Vec<Code> {
    verdict.errors.iter().map(|detail| detail.code).collect()
}

fn warning_codes(verdict: &SaleVerdict) -> Vec<Code> {
    verdict.warnings.iter().map(|detail| detail.code).collect()
}

fn assert_accepted(verdict: &SaleVerdict) {
    assert!(verdict.errors.is_empty(), "{:#?}", verdict.errors);
    assert!(verdict.plan.is_some());
    assert!(verdict
        .warnings
        .iter()
        .all(|warning| warning.severity == Severity::Warning));
}

// -- seed 001 §10.4 -----------------------------------------------------------

/// §10.4.1 to §10.4.5: one item of quantity 2, table price 10, paid in R$ on 2021-06-18.
fn seed_10_4(prices: [&str; 6], item_prices: [&str; 4], paid: &str) -> RetailSale {
    let [total, discount, net, gross, commodity, freight] = prices;
    let [unit, price, freight_prorated, discount_amount] = item_prices;
    RetailSale {
        commodity_price: Some(dec(commodity)),
        items: vec![SaleItem {
            table_price: Some(dec("10")),
            freight_prorated: dec(freight_prorated),
            discount_amount: dec(discount_amount),
            ..item(0, "P1", "2", unit, price)
        }],
        payments: vec![payment(0, "R$", Some(""), paid, Some("2021-06-18"))],
        ..sale(total, discount, net, gross, freight)
    }
}

#[test]
fn seed_10_4_1_discount_on_the_total_is_accepted_without_warnings() {
    let sale = seed_10_4(
        ["15", "5", "15", "15", "20", "0"],
        ["10", "20", "0", "0"],
        "15",
    );
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert!(verdict.warnings.is_empty(), "{:#?}", verdict.warnings);
    let plan = verdict.plan.expect("accepted");
    assert_eq!(plan.status, SaleStatus::Released);
    assert_eq!(plan.payments[0].date, day("2021-06-18"));
    assert_eq!(plan.payments[0].financial_manager, None);
    assert_eq!(plan.receivables[0].debtor_kind, DebtorKind::Customer);
    assert_eq!(plan.receivables[0].debtor, "C001");
    assert_eq!(plan.receivables[0].due_date, day("2021-06-18"));
    assert_eq!(plan.items[0].tes, "501", "the operation rule gives the TES");
    assert_eq!(plan.items[0].warehouse.as_deref(), Some("01"));
    assert!(plan.reservations_used.is_empty());
}

#[test]
fn seed_10_4_2_discount_on_the_item_is_accepted_without_warnings() {
    let sale = seed_10_4(
        ["15", "0", "15", "15", "20", "0"],
        ["7.5", "15", "0", "0"],
        "15",
    );
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert!(verdict.warnings.is_empty(), "{:#?}", verdict.warnings);
    let item = &verdict.plan.expect("accepted").items[0];
    assert_eq!(
        (item.table_price, item.unit_price, item.item_price),
        (dec("10"), dec("7.5"), dec("15"))
    );
}

#[test]
fn seed_10_4_3_freight_is_accepted_without_warnings() {
    let sale = seed_10_4(
        ["20", "0", "35", "35", "20", "15"],
        ["10", "20", "15", "0"],
        "35",
    );
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert!(verdict.warnings.is_empty(), "{:#?}", verdict.warnings);
    assert_eq!(
        verdict.plan.expect("accepted").items[0].freight_prorated,
        dec("15")
    );
}

#[test]
fn seed_10_4_4_payments_above_the_net_price_are_rejected() {
    let sale = seed_10_4(
        ["30", "5", "30", "30", "35", "15"],
        ["10", "20", "15", "0"],
        "35",
    );
    let verdict = judge(&sale, &master());
    assert_eq!(error_codes(&verdict), vec![Code::PaymentsMismatch]);
    assert_eq!(
        verdict.errors[0].message,
        "$.Content.ListOfSaleCondition: payments 35.00 (35.00) ≠ NetPrice 30.00"
    );
    assert_eq!(verdict.plan, None);
    assert_eq!(
        warning_codes(&verdict),
        vec![
            Code::TotalPriceInconsistent,
            Code::CommodityPriceInconsistent
        ]
    );
}

#[test]
fn seed_10_4_5_freight_and_item_discount_is_accepted_with_two_warnings() {
    let sale = seed_10_4(
        ["30", "0", "30", "30", "35", "15"],
        ["7.5", "15", "15", "5"],
        "30",
    );
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert_eq!(
        warning_codes(&verdict),
        vec![
            Code::TotalPriceInconsistent,
            Code::CommodityPriceInconsistent
        ]
    );
    assert_eq!(
        verdict.warnings[0].message,
        "$.Content.TotalPrice: TotalPrice 30.00 ≠ items 15.00 − discount 0.00 = 15.00"
    );
    assert_eq!(
        verdict.warnings[1].message,
        "$.Content.CommodityPrice: CommodityPrice 35.00 ≠ Σ ItemTablePrice × Quantity 10.00 × 2 = 20.00"
    );
}

/// §10.4.6: two items of one reservation with a prorated increase, paid by card.
fn seed_10_4_6() -> RetailSale {
    let mut first = item(0, "d077bf8a-bbbb-4549-9b00-1a203cfe6650", "1", "700", "700");
    first.increase_prorated = dec("41.92");
    first.reserve_internal_id = Some(INCREASE_RESERVE.into());
    let mut second = item(1, "30ed312c-9ff5-4939-a940-8b11021beb7e", "1", "135", "135");
    second.increase_prorated = dec("8.08");
    second.reserve_internal_id = Some(INCREASE_RESERVE.into());
    RetailSale {
        internal_id: Some("30ed312c-9ff5-4939-a940-8b11021bfFA".into()),
        document_code: Some("000000595".into()),
        issue_date: Some(stamp("2022-03-30T17:00:39.01118+00:00")),
        customer: Some("c5a7a767-3bae-4f0c-af28-d1ed5ef58766".into()),
        carrier: Some("01".into()),
        commodity_price: Some(dec("835")),
        increase_value: dec("50"),
        items: vec![first, second],
        payments: vec![SalePayment {
            serial_number: Some(String::new()),
            ..payment(0, "CC", Some("CARTAO"), "885", Some("2022-03-30T00:00:00"))
        }],
        ..sale("835", "0", "885", "885", "0")
    }
}

#[test]
fn seed_10_4_6_increase_is_accepted_and_consumes_its_reservation() {
    let verdict = judge(&seed_10_4_6(), &master());
    assert_accepted(&verdict);
    assert!(verdict.warnings.is_empty(), "{:#?}", verdict.warnings);
    let plan = verdict.plan.expect("accepted");
    assert_eq!(plan.customer, "C001");
    assert_eq!(plan.carrier.as_deref(), Some("01"));
    assert_eq!(
        (plan.station.as_str(), plan.series.as_str()),
        ("AUTOMATICO", "A01")
    );
    assert_eq!(plan.issue_date, day("2022-03-30"));
    assert_eq!(plan.reservations_used, vec![9]);
    let products: Vec<ItemSummary<'_>> = plan
        .items
        .iter()
        .map(|item| {
            (
                item.product.as_str(),
                item.reservation_id,
                item.lots.iter().map(|lot| lot.lot_id).collect(),
            )
        })
        .collect();
    assert_eq!(
        products,
        vec![
            ("P4", Some(9), vec![Some(91)]),
            ("P5", Some(9), vec![Some(92)])
        ]
    );
    assert_eq!(
        plan.payments[0].serial_number, None,
        "blank is not a serial number"
    );
    let receivable = &plan.receivables[0];
    assert_eq!(
        (
            receivable.debtor_kind,
            receivable.debtor.as_str(),
            receivable.amount
        ),
        (DebtorKind::FinancialManager, "CARTAO", dec("885"))
    );
    assert_eq!(
        receivable.due_date,
        day("2022-04-29"),
        "payment date + 30 days"
    );
    assert_eq!(plan.status, SaleStatus::Released);
}

/// The seed's full RetailSales examples (the first with its missing comma fixed).
fn full_example(item_discount: &str, discount_value: &str) -> RetailSale {
    let codes = [
        ("d077bf8a-bbbb-4549-9b00-1a203cfe4428", "5", "18.6", "93"),
        ("69dbb151-bbe6-4547-853a-0342ace00eab", "1", "55", "55"),
        ("79f93baf-39ac-40de-ae73-007a256dda31", "1", "55", "55"),
    ];
    let items = codes
        .iter()
        .enumerate()
        .map(|(index, (code, quantity, unit, price))| SaleItem {
            freight_prorated: dec("5"),
            discount_amount: dec(item_discount),
            reserve_internal_id: Some(FULL_RESERVE.into()),
            ..item(index, code, quantity, unit, price)
        })
        .collect();
    RetailSale {
        internal_id: Some(FULL_RESERVE.into()),
        document_code: Some("1027293590055-01".into()),
        ecommerce_order: Some("1027293590055-01".into()),
        issue_date: Some(stamp("2020-04-23T17:01:06.625349+00:00")),
        customer: Some("44dca035-dbbe-4aef-8c1e-c2a4acb4f88a".into()),
        carrier: Some("01".into()),
        items,
        payments: vec![SalePayment {
            serial_number: Some("004112".into()),
            ..payment(0, "CC", Some("CAR"), "203", None)
        }],
        ..sale("203", discount_value, "203", "203", "15")
    }
}

#[test]
fn the_first_full_example_is_rejected_because_the_freight_is_missing_from_the_net_price() {
    let verdict = judge(&full_example("0", "0"), &master());
    assert_eq!(error_codes(&verdict), vec![Code::TotalsMismatch]);
    assert_eq!(
        verdict.errors[0].message,
        "$.Content.NetPrice: NetPrice 203.00 ≠ items 203.00 − discount 0.00 + freight 15.00 + increase 0.00 = 218.00"
    );
    assert_eq!(verdict.plan, None);
    assert!(verdict.missing_reservations.is_empty());
    assert_eq!(warning_codes(&verdict), vec![Code::GrossPriceInconsistent]);
}

#[test]
fn the_second_full_example_with_item_discounts_is_accepted_with_a_total_price_warning() {
    let verdict = judge(&full_example("5", "15"), &master());
    assert_accepted(&verdict);
    assert_eq!(warning_codes(&verdict), vec![Code::TotalPriceInconsistent]);
    assert_eq!(
        verdict.warnings[0].message,
        "$.Content.TotalPrice: TotalPrice 203.00 ≠ items 203.00 − discount 15.00 = 188.00"
    );
    let plan = verdict.plan.expect("accepted");
    assert_eq!(plan.reservations_used, vec![7]);
    assert_eq!(
        plan.items
            .iter()
            .map(|item| (item.item_no, item.product.as_str(), item.quantity))
            .collect::<Vec<_>>(),
        vec![
            (1, "P1", dec("5")),
            (2, "P2", dec("1")),
            (3, "P3", dec("1"))
        ]
    );
    assert_eq!(
        plan.items[0].lots,
        vec![ItemLot {
            lot_id: Some(71),
            lot: "L71".into(),
            sublot: String::new(),
            quantity: dec("5"),
        }]
    );
    // DateOfPayment null: the issue date, plus the administrator's 30 days.
    assert_eq!(plan.payments[0].date, day("2020-04-23"));
    assert_eq!(plan.payments[0].serial_number.as_deref(), Some("004112"));
    let receivable = &plan.receivables[0];
    assert_eq!(receivable.due_date, day("2020-05-23"));
    assert_eq!(
        (receivable.debtor_kind, receivable.debtor.as_str()),
        (DebtorKind::FinancialManager, "CAR")
    );
}

// -- one rejected sale per code -------------------------------------------------

/// A sale that passes every rule: one item of R1 (2 of P1 in 01), paid by card.
fn base() -> RetailSale {
    let mut sold = item(0, "P1", "2", "10", "20");
    sold.table_price = Some(dec("10"));
    sold.reserve_internal_id = Some("R1".into());
    RetailSale {
        commodity_price: Some(dec("20")),
        items: vec![sold],
        payments: vec![payment(0, "CC", Some("CAR"), "15", Some("2021-06-18"))],
        ..sale("15", "5", "15", "15", "0")
    }
}

/// Judges `base()` changed by `change`, expecting exactly `code` with `path` in its message.
fn rejects(
    change: impl FnOnce(&mut RetailSale, &mut SaleMasterData),
    code: Code,
    path: &str,
) -> SaleVerdict {
    let mut sale = base();
    let mut master = master();
    change(&mut sale, &mut master);
    let verdict = judge(&sale, &master);
    assert_eq!(error_codes(&verdict), vec![code], "{:#?}", verdict.errors);
    let message = &verdict.errors[0].message;
    assert!(message.starts_with(path), "{message:?} names {path}");
    assert_eq!(verdict.errors[0].severity, Severity::Error);
    assert_eq!(verdict.plan, None);
    verdict
}

fn first_item(sale: &mut RetailSale) -> &mut SaleItem {
    &mut sale.items[0]
}

#[test]
fn the_base_sale_is_accepted_without_warnings() {
    let verdict = judge(&base(), &master());
    assert_accepted(&verdict);
    assert!(verdict.warnings.is_empty(), "{:#?}", verdict.warnings);
}

#[test]
fn document_missing_and_duplicate() {
    rejects(
        |sale, _| sale.document_code = None,
        Code::DocumentMissing,
        "$.Content.DocumentCode",
    );
    rejects(
        |sale, _| sale.document_code = Some("  ".into()),
        Code::DocumentMissing,
        "$.Content.DocumentCode",
    );
    let verdict = rejects(
        |_, master| master.document_used = true,
        Code::DocumentDuplicate,
        "$.Content.DocumentCode",
    );
    assert!(verdict.errors[0].message.contains("000000595"));
}

#[test]
fn station_operator_and_carrier_must_resolve() {
    rejects(
        |sale, _| sale.station = "CAIXA9".into(),
        Code::StationNotFound,
        "$.Content.StationSalePointInternalId",
    );
    // A station known, but not of this branch, is not in `stations`.
    rejects(
        |sale, master| {
            master
                .directory
                .add_mapping(Entity::Station, "OTHER", "ST2");
            sale.station = "OTHER".into();
        },
        Code::StationNotFound,
        "$.Content.StationSalePointInternalId",
    );
    rejects(
        |sale, _| sale.operator = "NOBODY".into(),
        Code::OperatorNotFound,
        "$.Content.OperatorCode",
    );
    rejects(
        |sale, _| sale.carrier = Some("99".into()),
        Code::CarrierNotFound,
        "$.Content.CarrierCode",
    );
}

#[test]
fn a_mapped_station_gives_its_series() {
    let mut sale = base();
    let mut master = master();
    master.directory.add_internal(Entity::Station, "ST2");
    master
        .directory
        .add_mapping(Entity::Station, "LOJA2", "ST2");
    master.stations.insert("ST2".into(), "B02".into());
    sale.station = "LOJA2".into();
    let plan = judge(&sale, &master).plan.expect("accepted");
    assert_eq!(
        (plan.station.as_str(), plan.series.as_str()),
        ("ST2", "B02")
    );
}

#[test]
fn customer_missing_unknown_or_blocked() {
    let path = "$.Content.CustomerVendorInternalId";
    rejects(|sale, _| sale.customer = None, Code::CustomerMissing, path);
    rejects(
        |sale, _| sale.customer = Some(String::new()),
        Code::CustomerMissing,
        path,
    );
    rejects(
        |sale, _| sale.customer = Some("C999".into()),
        Code::CustomerNotFound,
        path,
    );
    rejects(
        |sale, _| sale.customer = Some("CB".into()),
        Code::CustomerBlocked,
        path,
    );
}

#[test]
fn issue_date_missing_unparseable_or_in_a_closed_period() {
    let path = "$.Content.IssueDateDocument";
    rejects(
        |sale, _| sale.issue_date = None,
        Code::IssueDateInvalid,
        path,
    );
    let verdict = rejects(
        |sale, _| {
            sale.issue_date = None;
            sale.issue_date_raw = Some("31/02/2021".into());
        },
        Code::IssueDateInvalid,
        path,
    );
    assert!(verdict.errors[0].message.contains("31/02/2021"));
    let verdict = rejects(
        |sale, _| sale.issue_date = Some(stamp("2020-01-31T23:59:59-03:00")),
        Code::IssueDateClosedPeriod,
        path,
    );
    assert!(verdict.errors[0].message.contains("2020-01-31"));
    // The day after the closing date is open.
    let mut sale = base();
    sale.issue_date = Some(stamp("2020-02-01"));
    assert_accepted(&judge(&sale, &master()));
}

#[test]
fn header_prices_must_be_positive() {
    rejects(
        |sale, _| sale.total_price = Some(Decimal::ZERO),
        Code::TotalPriceZero,
        "$.Content.TotalPrice",
    );
    rejects(
        |sale, _| sale.net_price = None,
        Code::NetPriceZero,
        "$.Content.NetPrice",
    );
    rejects(
        |sale, _| sale.gross_price = Some(dec("-1")),
        Code::GrossPriceZero,
        "$.Content.GrossPrice",
    );
}

#[test]
fn items_and_payments_must_be_present() {
    rejects(
        |sale, _| sale.items.clear(),
        Code::ItemsMissing,
        "$.Content.ListOfSaleItem",
    );
    rejects(
        |sale, _| sale.payments.clear(),
        Code::PaymentsMissing,
        "$.Content.ListOfSaleCondition",
    );
}

#[test]
fn the_product_must_resolve_and_not_be_blocked() {
    let path = format!("{}.ItemCode", item_path(0));
    rejects(
        |sale, _| first_item(sale).product = Some("UNKNOWN".into()),
        Code::ProductNotFound,
        &path,
    );
    rejects(
        |sale, _| first_item(sale).product = None,
        Code::ProductNotFound,
        &path,
    );
    rejects(
        |sale, _| {
            let item = first_item(sale);
            item.product = Some("PB".into());
            item.reserve_internal_id = None;
        },
        Code::ProductBlocked,
        &path,
    );
}

#[test]
fn the_quantity_must_be_present_positive_and_storable() {
    let path = format!("{}.Quantity", item_path(0));
    for quantity in [None, Some(dec("0")), Some(dec("-2")), Some(dec("2.00001"))] {
        rejects(
            |sale, _| first_item(sale).quantity = quantity,
            Code::QuantityInvalid,
            &path,
        );
    }
}

#[test]
fn unit_price_and_operation_code_must_be_present() {
    rejects(
        |sale, _| first_item(sale).unit_price = None,
        Code::UnitPriceMissing,
        &format!("{}.UnitPrice", item_path(0)),
    );
    rejects(
        |sale, _| first_item(sale).operation_code = Some(String::new()),
        Code::OperationCodeMissing,
        &format!("{}.OperationCode", item_path(0)),
    );
}

#[test]
fn the_tes_comes_from_the_product_else_the_operation_rule() {
    let verdict = rejects(
        |sale, _| first_item(sale).operation_code = Some("99".into()),
        Code::TesNotFound,
        &item_path(0),
    );
    let message = &verdict.errors[0].message;
    assert!(
        message.contains("TES não informada") && message.contains("B1_TS"),
        "{message}"
    );

    // The product's own TES wins, whatever the operation.
    let mut sale = base();
    let item = first_item(&mut sale);
    item.product = Some("PT".into());
    item.operation_code = Some("99".into());
    item.reserve_internal_id = None;
    let plan = judge(&sale, &master()).plan.expect("PT has its TES");
    assert_eq!(plan.items[0].tes, "502");
    assert_eq!(plan.items[0].operation_code, "99");

    // An operation code mapped by de/para finds its rule.
    let mut sale = base();
    let mut master = master();
    master
        .directory
        .add_mapping(Entity::Operation, "VENDA", "01");
    first_item(&mut sale).operation_code = Some("VENDA".into());
    let plan = judge(&sale, &master).plan.expect("VENDA → 01 → 501");
    assert_eq!(
        (
            plan.items[0].operation_code.as_str(),
            plan.items[0].tes.as_str()
        ),
        ("01", "501")
    );
}

#[test]
fn an_item_warehouse_must_be_a_warehouse_of_the_branch() {
    let path = format!("{}.WarehouseInternalId", item_path(0));
    rejects(
        |sale, _| first_item(sale).warehouse = Some("99".into()),
        Code::WarehouseNotFound,
        &path,
    );
    rejects(
        |sale, _| first_item(sale).warehouse = Some("SOUTH".into()),
        Code::WarehouseNotFound,
        &path,
    );
}

#[test]
fn an_unknown_reservation_is_reported_and_listed_for_a_later_retry() {
    let verdict = rejects(
        |sale, _| first_item(sale).reserve_internal_id = Some("NOT-YET".into()),
        Code::ReserveNotFound,
        &format!("{}.ItemReserveInternalId", item_path(0)),
    );
    assert_eq!(verdict.missing_reservations, vec!["NOT-YET".to_owned()]);
    assert!(verdict.may_wait, "its only problem is the reservation");
}

#[test]
fn a_cancelled_or_expired_reservation_is_not_found_and_a_used_one_is_refused() {
    let path = format!("{}.ItemReserveInternalId", item_path(0));
    for status in ["cancelled", "expired"] {
        let verdict = rejects(
            |_, master| {
                if let Some(reservation) = master.reservations.get_mut("R1") {
                    reservation.status = status.into();
                }
            },
            Code::ReserveNotFound,
            &path,
        );
        assert!(verdict.errors[0].message.contains("no active reservation"));
        assert!(
            verdict.missing_reservations.is_empty(),
            "it exists: no retry"
        );
        assert!(!verdict.may_wait);
    }
    rejects(
        |_, master| {
            if let Some(reservation) = master.reservations.get_mut("R1") {
                reservation.status = "used".into();
            }
        },
        Code::ReserveAlreadyUsed,
        &path,
    );
}

#[test]
fn the_sold_quantity_must_match_the_reserved_quantity() {
    let verdict = rejects(
        |sale, _| first_item(sale).quantity = Some(dec("3")),
        Code::ReserveQuantityMismatch,
        &format!("{}.Quantity", item_path(0)),
    );
    let message = &verdict.errors[0].message;
    assert!(
        message.contains("takes 3") && message.contains("holds 2"),
        "{message}"
    );

    // A reservation that does not hold the product at all.
    rejects(
        |_, master| {
            master.reservations.insert(
                "R1".into(),
                reservation(1, "000001", vec![line("P2", "01", Some(12), "2")]),
            );
        },
        Code::ReserveQuantityMismatch,
        &format!("{}.ItemCode", item_path(0)),
    );
}

#[test]
fn two_items_of_one_product_add_up_to_the_reservation() {
    let mut sale = base();
    let mut second = sale.items[0].clone();
    second.item_no = 2;
    second.path = item_path(1);
    second.quantity = Some(dec("1"));
    second.item_price = Some(dec("10"));
    sale.items[0].quantity = Some(dec("1"));
    sale.items[0].item_price = Some(dec("10"));
    sale.items.push(second);
    let plan = judge(&sale, &master()).plan.expect("1 + 1 = 2");
    assert_eq!(plan.reservations_used, vec![1]);
    assert!(plan
        .items
        .iter()
        .all(|item| item.lots.len() == 1 && item.lots[0].quantity == dec("1")));

    sale.items.truncate(1);
    sale.items[0].item_price = Some(dec("20"));
    let verdict = judge(&sale, &master());
    assert_eq!(error_codes(&verdict), vec![Code::ReserveQuantityMismatch]);
}

#[test]
fn a_reserved_product_the_sale_leaves_out_is_a_quantity_mismatch() {
    let mut sale = full_example("5", "15");
    sale.items.truncate(2);
    sale.items[1].item_price = Some(dec("110"));
    sale.items[1].freight_prorated = dec("10");
    let verdict = judge(&sale, &master());
    assert_eq!(error_codes(&verdict), vec![Code::ReserveQuantityMismatch]);
    assert!(verdict.errors[0].message.contains("P3"));
}

#[test]
fn the_item_warehouse_must_be_the_reservations() {
    let verdict = rejects(
        |sale, _| first_item(sale).warehouse = Some("02".into()),
        Code::ReserveWarehouseMismatch,
        &format!("{}.WarehouseInternalId", item_path(0)),
    );
    assert!(
        verdict.errors[0].message.contains(
            "Armazém 02 retornado no de/para não é o mesmo armazém 01 da reserva número 000001"
        ),
        "{}",
        verdict.errors[0].message
    );
    // The same warehouse, named through de/para, is fine.
    let mut sale = base();
    let mut master = master();
    master
        .directory
        .add_mapping(Entity::Warehouse, "CENTRAL", "01");
    first_item(&mut sale).warehouse = Some("CENTRAL".into());
    let plan = judge(&sale, &master).plan.expect("CENTRAL is 01");
    assert_eq!(plan.items[0].warehouse.as_deref(), Some("01"));
}

#[test]
fn payment_method_and_financial_manager_must_resolve() {
    rejects(
        |sale, _| sale.payments[0].method = Some("PIX".into()),
        Code::PaymentMethodNotFound,
        &format!("{}.PaymentMethodCode", payment_path(0)),
    );
    let path = format!("{}.FinancialManagerCode", payment_path(0));
    rejects(
        |sale, _| sale.payments[0].financial_manager = Some("NOPE".into()),
        Code::FinancialManagerNotFound,
        &path,
    );
    // CC requires an administrator.
    let verdict = rejects(
        |sale, _| sale.payments[0].financial_manager = Some(String::new()),
        Code::FinancialManagerNotFound,
        &path,
    );
    assert!(verdict.errors[0].message.contains("requires"));
    // A method that does not require one still has a given one checked.
    rejects(
        |sale, _| {
            sale.payments[0].method = Some("R$".into());
            sale.payments[0].financial_manager = Some("NOPE".into());
        },
        Code::FinancialManagerNotFound,
        &path,
    );
}

#[test]
fn a_payment_value_must_be_positive() {
    let path = format!("{}.PaymentValue", payment_path(0));
    for value in [None, Some(Decimal::ZERO), Some(dec("-15"))] {
        rejects(
            |sale, _| sale.payments[0].value = value,
            Code::PaymentValueInvalid,
            &path,
        );
    }
}

#[test]
fn freight_and_increase_must_match_their_prorated_shares() {
    let verdict = rejects(
        |sale, _| {
            sale.freight_value = dec("15");
            first_item(sale).freight_prorated = dec("10");
            sale.net_price = Some(dec("30"));
            sale.gross_price = Some(dec("30"));
            sale.payments[0].value = Some(dec("30"));
        },
        Code::FreightMismatch,
        "$.Content.FreightValue",
    );
    assert_eq!(
        verdict.errors[0].message,
        "$.Content.FreightValue: FreightValue 15.00 ≠ Σ FreightValueProrated 10.00 = 10.00"
    );
    let verdict = rejects(
        |sale, _| {
            sale.increase_value = dec("2.5");
            first_item(sale).increase_prorated = dec("2.49");
            sale.net_price = Some(dec("17.5"));
            sale.gross_price = Some(dec("17.5"));
            sale.payments[0].value = Some(dec("17.5"));
        },
        Code::IncreaseMismatch,
        "$.Content.IncreaseValue",
    );
    assert!(verdict.errors[0]
        .message
        .contains("2.50 ≠ Σ IncreaseValueProrated 2.49 = 2.49"));
}

#[test]
fn the_tolerance_accepts_a_cent_only_when_configured() {
    let mut sale = base();
    sale.payments[0].value = Some(dec("15.01"));
    let mut master = master();
    let verdict = judge(&sale, &master);
    assert_eq!(error_codes(&verdict), vec![Code::PaymentsMismatch]);
    assert!(verdict.errors[0]
        .message
        .contains("payments 15.01 (15.01) ≠ NetPrice 15.00"));
    master.tolerance = dec("0.01");
    assert_accepted(&judge(&sale, &master));
    sale.payments[0].value = Some(dec("15.02"));
    assert_eq!(
        error_codes(&judge(&sale, &master)),
        vec![Code::PaymentsMismatch]
    );
}

#[test]
fn warnings_only_for_fields_present_and_never_block_the_sale() {
    let mut sale = base();
    sale.commodity_price = None;
    sale.total_price = Some(dec("16"));
    sale.gross_price = Some(dec("14"));
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert_eq!(
        warning_codes(&verdict),
        vec![Code::TotalPriceInconsistent, Code::GrossPriceInconsistent]
    );
    assert_eq!(
        verdict.warnings[1].message,
        "$.Content.GrossPrice: GrossPrice 14.00 ≠ items 20.00 − discount 5.00 + freight 0.00 + increase 0.00 = 15.00"
    );
}

#[test]
fn a_sale_with_many_faults_gets_every_error_at_once() {
    let mut sale = base();
    sale.document_code = None;
    sale.station = "X".into();
    sale.operator = "Y".into();
    sale.customer = None;
    sale.carrier = Some("Z".into());
    sale.issue_date = None;
    sale.issue_date_raw = Some("ontem".into());
    sale.total_price = None;
    sale.gross_price = Some(Decimal::ZERO);
    let mut broken = item(1, "NOPE", "0", "1", "1");
    broken.unit_price = None;
    broken.item_price = None;
    broken.operation_code = None;
    sale.items.push(broken);
    sale.items[0].reserve_internal_id = Some("LATER".into());
    sale.payments.push(SalePayment {
        value: Some(Decimal::ZERO),
        ..payment(1, "PIX", None, "0", None)
    });
    let verdict = judge(&sale, &master());
    assert_eq!(
        error_codes(&verdict),
        vec![
            Code::DocumentMissing,
            Code::StationNotFound,
            Code::OperatorNotFound,
            Code::CustomerMissing,
            Code::CarrierNotFound,
            Code::IssueDateInvalid,
            Code::TotalPriceZero,
            Code::GrossPriceZero,
            Code::ProductNotFound,
            Code::QuantityInvalid,
            Code::UnitPriceMissing,
            Code::OperationCodeMissing,
            Code::ReserveNotFound,
            Code::PaymentMethodNotFound,
            Code::PaymentValueInvalid,
        ]
    );
    assert_eq!(verdict.missing_reservations, vec!["LATER".to_owned()]);
    assert!(
        !verdict.may_wait,
        "errors of its own: answered at once, not after the waits"
    );
    assert_eq!(verdict.plan, None);
    for detail in &verdict.errors {
        assert!(detail.message.starts_with("$.Content."), "{detail:?}");
    }
}

// -- the plan -------------------------------------------------------------------

#[test]
fn items_take_the_reserved_lots_in_line_order_spanning_two_lots() {
    let mut master = master();
    master.reservations.insert(
        "R2".into(),
        reservation(
            2,
            "000002",
            vec![
                line("P1", "01", Some(21), "100"),
                line("P1", "01", Some(22), "2"),
            ],
        ),
    );
    let mut first = item(0, "P1", "101", "1", "101");
    first.reserve_internal_id = Some("R2".into());
    let mut second = item(1, "P1", "1", "1", "1");
    second.reserve_internal_id = Some("R2".into());
    let sale = RetailSale {
        items: vec![first, second],
        payments: vec![payment(0, "R$", None, "102", None)],
        ..sale("102", "0", "102", "102", "0")
    };
    let plan = judge(&sale, &master).plan.expect("102 reserved, 102 sold");
    let lots: Vec<Vec<(Option<i64>, Decimal)>> = plan
        .items
        .iter()
        .map(|item| {
            item.lots
                .iter()
                .map(|lot| (lot.lot_id, lot.quantity))
                .collect()
        })
        .collect();
    assert_eq!(
        lots,
        vec![
            vec![(Some(21), dec("100")), (Some(22), dec("1"))],
            vec![(Some(22), dec("1"))],
        ]
    );
    assert_eq!(plan.items[0].reservation_id, Some(2));
    assert_eq!(plan.items[0].warehouse.as_deref(), Some("01"));
    assert_eq!(plan.reservations_used, vec![2]);
}

#[test]
fn a_back_order_line_is_taken_without_a_lot() {
    let mut master = master();
    master.reservations.insert(
        "R3".into(),
        reservation(
            3,
            "000003",
            vec![line("P1", "02", Some(31), "4"), line("P1", "02", None, "6")],
        ),
    );
    let mut sold = item(0, "P1", "10", "1", "10");
    sold.reserve_internal_id = Some("R3".into());
    let sale = RetailSale {
        items: vec![sold],
        payments: vec![payment(0, "R$", None, "10", None)],
        ..sale("10", "0", "10", "10", "0")
    };
    let plan = judge(&sale, &master).plan.expect("4 + 6 back-ordered");
    let item = &plan.items[0];
    assert_eq!(
        item.lots,
        vec![
            ItemLot {
                lot_id: Some(31),
                lot: "L31".into(),
                sublot: String::new(),
                quantity: dec("4"),
            },
            ItemLot {
                lot_id: None,
                lot: String::new(),
                sublot: String::new(),
                quantity: dec("6"),
            },
        ]
    );
    assert_eq!(
        item.warehouse.as_deref(),
        Some("02"),
        "the reservation's warehouse"
    );
}

#[test]
fn receivables_follow_the_administrator_and_the_payment_date() {
    let mut sale = base();
    sale.payments = vec![
        payment(0, "CC", Some("CAR"), "5", Some("2021-07-18T00:00:00")),
        payment(1, "CC", Some("PROPRIO"), "5", None),
        payment(2, "R$", None, "5", None),
    ];
    let plan = judge(&sale, &master()).plan.expect("accepted");
    let receivables: Vec<(u32, DebtorKind, &str, Decimal, NaiveDate)> = plan
        .receivables
        .iter()
        .map(|receivable| {
            (
                receivable.payment_no,
                receivable.debtor_kind,
                receivable.debtor.as_str(),
                receivable.amount,
                receivable.due_date,
            )
        })
        .collect();
    assert_eq!(
        receivables,
        vec![
            (
                1,
                DebtorKind::FinancialManager,
                "CAR",
                dec("5"),
                day("2021-08-17")
            ),
            (2, DebtorKind::Customer, "C001", dec("5"), day("2021-07-03")),
            (3, DebtorKind::Customer, "C001", dec("5"), day("2021-06-18")),
        ]
    );
    assert_eq!(DebtorKind::FinancialManager.as_str(), "financial_manager");
    assert_eq!(DebtorKind::Customer.as_str(), "customer");
    assert_eq!(
        plan.payments[1].financial_manager.as_deref(),
        Some("PROPRIO")
    );
    assert_eq!(
        plan.payments[1].date,
        day("2021-06-18"),
        "issue date when DateOfPayment is null"
    );
}

#[test]
fn a_method_outside_the_released_list_blocks_the_credit() {
    let mut sale = base();
    sale.payments = vec![
        payment(0, "CC", Some("CAR"), "10", None),
        payment(1, "BOL", None, "5", None),
    ];
    let plan = judge(&sale, &master()).plan.expect("accepted");
    assert_eq!(plan.status, SaleStatus::CreditBlocked);
    assert_eq!(plan.status.as_str(), "credit_blocked");
    sale.payments.truncate(1);
    sale.payments[0].value = Some(dec("15"));
    let plan = judge(&sale, &master()).plan.expect("accepted");
    assert_eq!(plan.status, SaleStatus::Released);
    assert_eq!(plan.status.as_str(), "released");
}

#[test]
fn normalisation_fills_table_and_item_prices() {
    let mut sale = base();
    let item = first_item(&mut sale);
    item.table_price = Some(Decimal::ZERO);
    item.item_price = None;
    let plan = judge(&sale, &master()).plan.expect("accepted");
    assert_eq!(
        (plan.items[0].table_price, plan.items[0].item_price),
        (dec("10"), dec("20"))
    );
}

// -- numbers beyond the decimal range ---------------------------------------------

/// [`Decimal::MAX`] as a message prints it.
const MAX: &str = "79228162514264337593543950335";

/// How a message ends when its values leave the decimal range.
fn too_large(operation: &str) -> String {
    format!("too large to {operation} exactly (beyond ±{MAX})")
}

#[test]
fn two_payments_of_the_largest_decimal_are_a_payments_mismatch() {
    let verdict = rejects(
        |sale, _| {
            sale.payments = vec![
                payment(0, "R$", None, MAX, None),
                payment(1, "R$", None, MAX, None),
            ];
        },
        Code::PaymentsMismatch,
        "$.Content.ListOfSaleCondition",
    );
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "$.Content.ListOfSaleCondition: payments {MAX} + {MAX} are {}, so they cannot equal NetPrice 15.00",
            too_large("add up")
        )
    );
}

#[test]
fn item_prices_too_large_to_add_up_are_a_totals_mismatch_and_warn_about_the_header() {
    let mut sale = base();
    sale.commodity_price = None;
    first_item(&mut sale).item_price = Some(Decimal::MAX);
    sale.items.push(item(1, "P2", "1", "10", MAX));
    let verdict = judge(&sale, &master());
    assert_eq!(error_codes(&verdict), vec![Code::TotalsMismatch]);
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "$.Content.NetPrice: items ({MAX} + {MAX}) − discount 5.00 + freight 0.00 + increase 0.00 are {}, so they cannot equal NetPrice 15.00",
            too_large("add up")
        )
    );
    assert_eq!(
        warning_codes(&verdict),
        vec![Code::TotalPriceInconsistent, Code::GrossPriceInconsistent]
    );
    assert_eq!(
        verdict.warnings[0].message,
        format!(
            "$.Content.TotalPrice: items ({MAX} + {MAX}) − discount 5.00 are {}, so they cannot equal TotalPrice 15.00",
            too_large("add up")
        )
    );
    assert_eq!(verdict.plan, None);
}

#[test]
fn an_item_price_too_large_to_multiply_is_an_invalid_item_price() {
    let path = format!("{}.ItemPrice", item_path(0));
    let verdict = rejects(
        |sale, _| {
            let sold = first_item(sale);
            sold.item_price = None;
            sold.unit_price = Some(Decimal::MAX);
        },
        Code::InvalidField,
        &path,
    );
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "{path}: ItemPrice is not informed, and Quantity 2 × UnitPrice {MAX} is {}",
            too_large("multiply")
        )
    );
    assert!(
        verdict.warnings.is_empty(),
        "an item without a price is not totalled again: {:#?}",
        verdict.warnings
    );
}

#[test]
fn a_table_price_too_large_to_multiply_only_warns_about_the_commodity_price() {
    let mut sale = base();
    first_item(&mut sale).table_price = Some(Decimal::MAX);
    let verdict = judge(&sale, &master());
    assert_accepted(&verdict);
    assert_eq!(
        warning_codes(&verdict),
        vec![Code::CommodityPriceInconsistent]
    );
    assert_eq!(
        verdict.warnings[0].message,
        format!(
            "$.Content.CommodityPrice: Σ ItemTablePrice × Quantity {MAX} × 2 are {}, so they cannot equal CommodityPrice 20.00",
            too_large("multiply")
        )
    );
}

#[test]
fn the_most_negative_decimals_overflow_into_their_rules_codes() {
    let mut sale = base();
    sale.discount_value = Decimal::MIN;
    let verdict = judge(&sale, &master());
    assert_eq!(error_codes(&verdict), vec![Code::TotalsMismatch]);
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "$.Content.NetPrice: items 20.00 − discount -{MAX} + freight 0.00 + increase 0.00 are {}, so they cannot equal NetPrice 15.00",
            too_large("add up")
        )
    );
    assert_eq!(
        warning_codes(&verdict),
        vec![Code::TotalPriceInconsistent, Code::GrossPriceInconsistent]
    );

    // A second item of price 0 keeps the totals right; only the shares overflow.
    let mut sale = base();
    sale.items.push(item(1, "P2", "1", "0", "0"));
    for sold in &mut sale.items {
        sold.freight_prorated = Decimal::MIN;
        sold.increase_prorated = Decimal::MAX;
    }
    let verdict = judge(&sale, &master());
    assert_eq!(
        error_codes(&verdict),
        vec![Code::FreightMismatch, Code::IncreaseMismatch]
    );
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "$.Content.FreightValue: Σ FreightValueProrated -{MAX} + -{MAX} are {}, so they cannot equal FreightValue 0.00",
            too_large("add up")
        )
    );
    assert!(verdict.errors[1].message.starts_with(&format!(
        "$.Content.IncreaseValue: Σ IncreaseValueProrated {MAX} + {MAX} are"
    )));
}

#[test]
fn reserved_quantities_too_large_to_add_up_are_a_reserve_quantity_mismatch() {
    let verdict = rejects(
        |_, master| {
            master.reservations.insert(
                "R1".into(),
                reservation(
                    1,
                    "000001",
                    vec![
                        line("P1", "01", Some(11), MAX),
                        line("P1", "01", Some(12), MAX),
                    ],
                ),
            );
        },
        Code::ReserveQuantityMismatch,
        &format!("{}.Quantity", item_path(0)),
    );
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "{}.Quantity: the sale takes 2 of product P1 from reservation 000001 ('R1') (item 1), but the reservation holds quantities {}",
            item_path(0),
            too_large("add up")
        )
    );
    let verdict = rejects(
        |_, master| {
            master.reservations.insert(
                "R1".into(),
                reservation(
                    1,
                    "000001",
                    vec![
                        line("P1", "01", Some(11), "2"),
                        line("P2", "01", Some(12), MAX),
                        line("P2", "01", Some(13), MAX),
                    ],
                ),
            );
        },
        Code::ReserveQuantityMismatch,
        "$.Content.ListOfSaleItem",
    );
    assert_eq!(
        verdict.errors[0].message,
        format!(
            "$.Content.ListOfSaleItem: reservation 000001 ('R1') also holds quantities {} of product P2, which no item of the sale takes",
            too_large("add up")
        )
    );
}

#[test]
fn a_quantity_beyond_the_stock_columns_is_refused_naming_the_limit() {
    let path = format!("{}.Quantity", item_path(0));
    for quantity in ["100000000000000", MAX] {
        let verdict = rejects(
            |sale, _| first_item(sale).quantity = Some(dec(quantity)),
            Code::QuantityInvalid,
            &path,
        );
        assert_eq!(
            verdict.errors[0].message,
            format!("{path}: {quantity} is too large for the stock (at most 14 digits before the decimal point: less than 100000000000000)")
        );
    }
    let verdict = rejects(
        |sale, _| first_item(sale).quantity = Some(dec("2.00001")),
        Code::QuantityInvalid,
        &path,
    );
    assert_eq!(
        verdict.errors[0].message,
        format!("{path}: 2.00001 is finer than the stock precision (at most 4 decimal places)")
    );

    // The largest quantity numeric(18, 4) holds is sold.
    let largest = "99999999999999.9999";
    let mut sale = base();
    sale.commodity_price = None;
    first_item(&mut sale).quantity = Some(dec(largest));
    let mut master = master();
    master.reservations.insert(
        "R1".into(),
        reservation(1, "000001", vec![line("P1", "01", Some(11), largest)]),
    );
    let plan = judge(&sale, &master).plan.expect("accepted");
    assert_eq!(plan.items[0].quantity, dec(largest));
    assert_eq!(plan.items[0].lots[0].quantity, dec(largest));
}

// -- properties -----------------------------------------------------------------

/// Any decimal, with the extremes often: ±[`Decimal::MAX`], zero, the
/// smallest step, the first quantity beyond the stock columns, and every
/// mantissa at every scale up to 28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(Decimal::new(1, 28)),
        Just(dec("100000000000000")),
        (-10_000i64..10_000, 0u32..5).prop_map(|(units, scale)| Decimal::new(units, scale)),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(
                lo, mid, hi, negative, scale
            )),
    ]
}

/// Items of known, unknown or reserved products with any numbers.
fn any_items() -> impl Strategy<Value = Vec<SaleItem>> {
    let prices = (
        prop::option::of(any_decimal()),
        prop::option::of(any_decimal()),
        prop::option::of(any_decimal()),
    );
    let shares = (any_decimal(), any_decimal(), any_decimal());
    prop::collection::vec(
        (
            prop::sample::select(vec!["P1", "P2", "NOPE"]),
            prop::option::of(any_decimal()),
            prices,
            shares,
            prop::option::of(prop::sample::select(vec!["R1", "LATER"])),
        ),
        0..4,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(
                |(index, (product, quantity, (unit, table, price), shares, reserve))| SaleItem {
                    quantity,
                    unit_price: unit,
                    table_price: table,
                    item_price: price,
                    discount_amount: shares.0,
                    freight_prorated: shares.1,
                    increase_prorated: shares.2,
                    reserve_internal_id: reserve.map(str::to_owned),
                    ..item(index, product, "1", "1", "1")
                },
            )
            .collect()
    })
}

fn any_payments() -> impl Strategy<Value = Vec<SalePayment>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["R$", "CC"]),
            prop::option::of(any_decimal()),
        ),
        0..4,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(index, (method, value))| SalePayment {
                value,
                ..payment(index, method, (method == "CC").then_some("CAR"), "1", None)
            })
            .collect()
    })
}

proptest! {
    /// Whatever the reservation's lines and however the sale splits its
    /// quantity over items, the lots taken add up to what each item sells and
    /// never spend a line beyond its quantity.
    #[test]
    fn reserved_lots_are_spent_exactly_and_never_beyond_a_line(
        lines in prop::collection::vec((1u32..200, any::<bool>()), 1..6),
        cuts in prop::collection::vec(any::<u32>(), 0..5),
    ) {
        // Quantities in quarters, to exercise decimals.
        let quarter = dec("0.25");
        let reserved: Vec<ReservedLot> = lines
            .iter()
            .enumerate()
            .map(|(index, &(size, back_order))| {
                let lot_id = (!back_order).then_some(index as i64 + 100);
                let mut reserved = line("P1", "01", lot_id, "0");
                reserved.quantity = Decimal::from(size) * quarter;
                reserved.lot = format!("LOT{index}");
                reserved
            })
            .collect();
        let total: u32 = lines.iter().map(|(size, _)| size).sum();
        let mut points: Vec<u32> = cuts.iter().map(|cut| cut % (total + 1)).collect();
        points.extend([0, total]);
        points.sort_unstable();
        points.dedup();
        let quantities: Vec<Decimal> = points
            .windows(2)
            .map(|pair| Decimal::from(pair[1] - pair[0]) * quarter)
            .collect();
        let mut master = master();
        master.reservations.insert("RP".into(), reservation(5, "000005", reserved.clone()));
        let items: Vec<SaleItem> = quantities
            .iter()
            .enumerate()
            .map(|(index, quantity)| {
                let text = quantity.to_string();
                let mut sold = item(index, "P1", &text, "1", &text);
                sold.reserve_internal_id = Some("RP".into());
                sold
            })
            .collect();
        let amount = (Decimal::from(total) * quarter).to_string();
        let sale = RetailSale {
            items,
            payments: vec![payment(0, "R$", None, &amount, None)],
            ..sale(&amount, "0", &amount, &amount, "0")
        };
        let verdict = judge(&sale, &master);
        prop_assert!(verdict.errors.is_empty(), "{:#?}", verdict.errors);
        let plan = verdict.plan.expect("accepted");
        for (item, quantity) in plan.items.iter().zip(&quantities) {
            let taken: Decimal = item.lots.iter().map(|lot| lot.quantity).sum();
            prop_assert_eq!(taken, *quantity);
            prop_assert!(item.lots.iter().all(|lot| lot.quantity > Decimal::ZERO));
        }
        for line in &reserved {
            let spent: Decimal = plan
                .items
                .iter()
                .flat_map(|item| &item.lots)
                .filter(|lot| lot.lot == line.lot)
                .map(|lot| {
                    assert_eq!(lot.lot_id, line.lot_id);
                    lot.quantity
                })
                .sum();
            prop_assert!(spent <= line.quantity, "{} spent from a line of {}", spent, line.quantity);
            prop_assert_eq!(spent, line.quantity, "the whole reservation is sold");
        }
        prop_assert_eq!(plan.reservations_used, vec![5]);
    }

    /// Whatever numbers a sale carries, even beyond any sum or product a
    /// decimal holds, it is judged, never a panic: a plan exactly when there
    /// is no error, every detail naming its path, and only storable
    /// quantities in a plan.
    #[test]
    fn any_numbers_are_judged_without_a_panic(
        items in any_items(),
        payments in any_payments(),
        prices in prop::collection::vec(prop::option::of(any_decimal()), 4),
        charges in prop::collection::vec(any_decimal(), 3),
        reserved in prop::collection::vec(any_decimal(), 1..3),
        tolerance in any_decimal(),
    ) {
        let sale = RetailSale {
            items,
            payments,
            total_price: prices[0],
            net_price: prices[1],
            gross_price: prices[2],
            commodity_price: prices[3],
            discount_value: charges[0],
            freight_value: charges[1],
            increase_value: charges[2],
            ..base()
        };
        let mut master = master();
        master.tolerance = tolerance;
        let lines = reserved
            .iter()
            .enumerate()
            .map(|(index, quantity)| ReservedLot {
                quantity: *quantity,
                ..line("P1", "01", Some(index as i64 + 11), "1")
            })
            .collect();
        master.reservations.insert("R1".into(), reservation(1, "000001", lines));
        let verdict = judge(&sale, &master);
        prop_assert_eq!(verdict.plan.is_some(), verdict.errors.is_empty(), "{:#?}", verdict.errors);
        for detail in &verdict.errors {
            prop_assert_eq!(detail.severity, Severity::Error);
            prop_assert!(detail.message.starts_with("$.Content."), "{:?}", detail);
        }
        for detail in &verdict.warnings {
            prop_assert_eq!(detail.severity, Severity::Warning);
            prop_assert!(detail.message.starts_with("$.Content."), "{:?}", detail);
        }
        let limit = dec("100000000000000");
        for item in verdict.plan.iter().flat_map(|plan| &plan.items) {
            prop_assert!(item.quantity > Decimal::ZERO && item.quantity < limit);
            prop_assert!(item.quantity.normalize().scale() <= 4);
            prop_assert!(item.lots.iter().all(|lot| lot.quantity > Decimal::ZERO));
        }
    }
}
