//! The BusinessMessages the worker sends (SPEC §8): `StockLevel` when
//! reservations change availability, `DocumentTraceabilityOrder` when a sale is
//! integrated or cancelled, and the `EAIEnvironmentTest` connection test.
//!
//! Like [`crate::Receipt`], an outbound message is written once into the
//! outbound queue and re-sent byte for byte on every attempt, so each builder is
//! a pure function of its inputs: the UUID and `GeneratedOn` come from the caller
//! ([`Outbound`]). The field order of the structs below is the key order on the
//! wire. Amounts are exact decimals written as JSON numbers without trailing
//! zeros (`100`, not `100.0000` nor `"100"`), since the schemas type them
//! `number` and receivers compare them as such.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::receipt::{format_instant, ReceiptOrigin};

/// `Transaction` of the connection test message.
pub const ENVIRONMENT_TEST_TRANSACTION: &str = "EAIEnvironmentTest";

/// `Version` of the connection test message.
pub const ENVIRONMENT_TEST_VERSION: &str = "1.000";

/// The header fields of an outbound business message. The caller owns the UUID
/// and instant so the message can be persisted before it is sent and matched
/// with the destination's receipt by that UUID.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// Who we are: `SourceApplication` and `ProductName`.
    pub origin: &'a ReceiptOrigin,
    /// Our `Header.UUID`, which the destination's receipt echoes.
    pub uuid: &'a str,
    /// `Header.CompanyId` (and the content's company).
    pub company: &'a str,
    /// `Header.BranchId` (and the content's branch).
    pub branch: &'a str,
    /// `Header.GeneratedOn`, written as RFC 3339 UTC with microseconds.
    pub generated_on: DateTime<Utc>,
}

/// Stock of one product in one warehouse of a branch, lot by lot (StockLevel
/// 3.003, the `ReturnItem` shape pushed as an event, so receivers reuse the
/// parser of their StockLevel requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// The product's code: `ItemInternalId`.
    pub product: String,
    /// The warehouse's code: `WarehouseInternalId`.
    pub warehouse: String,
    /// The day the amounts refer to: `ReferenceDate`.
    pub reference_date: NaiveDate,
    /// The lots of the product in the warehouse; empty when none is left.
    pub lots: Vec<LotLevel>,
}

/// One lot's amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotLevel {
    /// `LotNumber`.
    pub lot: String,
    /// `SubLotCode` (`""` when the lot has no sub-lots).
    pub sublot: String,
    /// `LotExpirationDate`; `null` on the wire when the lot does not expire.
    pub expires_on: Option<NaiveDate>,
    /// What is physically there: `CurrentStockAmount`.
    pub on_hand: Decimal,
    /// What reservations hold: `BookedStockAmount`.
    pub booked: Decimal,
}

impl LotLevel {
    /// `on_hand − booked`, never negative: a lot booked beyond what it holds
    /// (a stale count) has nothing to offer, it does not owe stock to others.
    /// A lot expired before `on` offers nothing either: it can never be reserved.
    pub fn available(&self, on: NaiveDate) -> Decimal {
        if self.expires_on.is_some_and(|expiry| expiry < on) {
            return Decimal::ZERO;
        }
        self.on_hand.saturating_sub(self.booked).max(Decimal::ZERO)
    }
}

impl StockLevel {
    /// `Header.Transaction` of this event.
    pub const TRANSACTION: &'static str = "StockLevel";
    /// `Header.Version` of this event.
    pub const VERSION: &'static str = "3.003";

    /// The compact JSON envelope to persist and send. Totals are the sums over
    /// the lots (available summed lot by lot, so one over-booked lot does not
    /// hide another's stock).
    pub fn envelope(&self, header: &Outbound<'_>) -> Vec<u8> {
        let lots: Vec<LotStock<'_>> = self
            .lots
            .iter()
            .map(|lot| LotStock {
                warehouse_internal_id: &self.warehouse,
                lot_number: &lot.lot,
                sub_lot_code: &lot.sublot,
                lot_expiration_date: lot.expires_on.map(format_date),
                current_stock_amount: Amount(lot.on_hand),
                available_stock_amount: Amount(lot.available(self.reference_date)),
                booked_stock_amount: Amount(lot.booked),
            })
            .collect();
        let current = sum(self.lots.iter().map(|lot| lot.on_hand));
        let available = sum(self
            .lots
            .iter()
            .map(|lot| lot.available(self.reference_date)));
        let booked = sum(self.lots.iter().map(|lot| lot.booked));
        let content = StockContent {
            company_id: header.company,
            branch_id: header.branch,
            item_internal_id: &self.product,
            reference_date: format_date(self.reference_date),
            current_stock_amount: Amount(current),
            available_stock_amount: Amount(available),
            booked_stock_amount: Amount(booked),
            list_of_warehouse_stock: WarehouseList {
                warehouse_stock: vec![WarehouseStock {
                    warehouse_internal_id: &self.warehouse,
                    current_stock_amount: Amount(current),
                    available_stock_amount: Amount(available),
                    booked_stock_amount: Amount(booked),
                }],
            },
            list_of_lot_stock: LotList { lot_stock: lots },
        };
        to_bytes(header.header(Self::TRANSACTION, Self::VERSION), content)
    }
}

/// A sale's traceability when it is integrated or cancelled
/// (DocumentTraceabilityOrder 1.001, the `ReturnContent` shape), so the
/// destination can follow the order it sent through to our document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceability {
    /// `InternalId`, e.g. `"T1|D MG 01|000123"`.
    pub internal_id: String,
    /// The order number: `Number`.
    pub number: String,
    /// `Status`, e.g. integrated or cancelled, as the caller names it.
    pub status: String,
    /// `RegisterDate`.
    pub register_date: NaiveDate,
    /// `CustomerVendorInternalId`.
    pub customer: String,
    /// The order's total: `Value`.
    pub value: Decimal,
    /// The order's lines: `ListOfItem.Item`.
    pub items: Vec<TracedItem>,
}

/// One traced order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedItem {
    /// The line number, written zero-padded to two digits (`"01"`) as ERP item
    /// numbers are.
    pub number: u32,
    /// `ItemInternalId`.
    pub product: String,
    /// `Quantity`.
    pub quantity: Decimal,
    /// `UnitPrice`.
    pub unit_price: Decimal,
    /// `TotalPrice`.
    pub total_price: Decimal,
    /// `WarehouseInternalId`; `null` on the wire when the line has none.
    pub warehouse: Option<String>,
}

impl Traceability {
    /// `Header.Transaction` of this event.
    pub const TRANSACTION: &'static str = "DocumentTraceabilityOrder";
    /// `Header.Version` of this event.
    pub const VERSION: &'static str = "1.001";

    /// The compact JSON envelope to persist and send. `Type` is always `"001"`
    /// (sales order): the worker traces sales only.
    pub fn envelope(&self, header: &Outbound<'_>) -> Vec<u8> {
        let content = TraceabilityContent {
            internal_id: &self.internal_id,
            company_internal_id: format!("{}|{}", header.company, header.branch),
            company_id: header.company,
            branch_id: header.branch,
            number: &self.number,
            status: &self.status,
            register_date: format_date(self.register_date),
            customer_vendor_internal_id: &self.customer,
            value: Amount(self.value),
            kind: "001",
            list_of_item: ItemList {
                item: self
                    .items
                    .iter()
                    .map(|item| TracedLine {
                        number: format!("{:02}", item.number),
                        item_internal_id: &item.product,
                        quantity: Amount(item.quantity),
                        unit_price: Amount(item.unit_price),
                        total_price: Amount(item.total_price),
                        warehouse_internal_id: item.warehouse.as_deref(),
                    })
                    .collect(),
            },
        };
        to_bytes(header.header(Self::TRANSACTION, Self::VERSION), content)
    }
}

/// The connection test message (EAIEnvironmentTest 1.000): a header and an
/// empty Content object, so a destination can be checked end to end (route,
/// credentials, receipt) without touching business data.
pub fn environment_test(header: &Outbound<'_>) -> Vec<u8> {
    to_bytes(
        header.header(ENVIRONMENT_TEST_TRANSACTION, ENVIRONMENT_TEST_VERSION),
        Empty {},
    )
}

/// An exact decimal written as a JSON number, normalised (no trailing zeros,
/// no `-0`), through serde_json's arbitrary precision so no digit is lost to a
/// float.
#[derive(Debug, Clone, Copy)]
struct Amount(Decimal);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&self.0.normalize(), serializer)
    }
}

/// A whole business message in the key order of SPEC §8.
#[derive(Serialize)]
struct Message<'a, C> {
    #[serde(rename = "Header")]
    header: Header<'a>,
    #[serde(rename = "Content")]
    content: C,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Header<'a> {
    #[serde(rename = "UUID")]
    uuid: &'a str,
    #[serde(rename = "Type")]
    kind: &'static str,
    transaction: &'static str,
    version: &'static str,
    source_application: &'a str,
    product_name: &'a str,
    company_id: &'a str,
    branch_id: &'a str,
    generated_on: String,
    delivery_type: &'static str,
    sub_type: &'static str,
    event: &'static str,
}

impl<'a> Outbound<'a> {
    /// Every message we send is an asynchronous upsert event.
    fn header(&self, transaction: &'static str, version: &'static str) -> Header<'a> {
        Header {
            uuid: self.uuid,
            kind: "BusinessMessage",
            transaction,
            version,
            source_application: &self.origin.source_application,
            product_name: &self.origin.product_name,
            company_id: self.company,
            branch_id: self.branch,
            generated_on: format_instant(self.generated_on),
            delivery_type: "async",
            sub_type: "event",
            event: "upsert",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StockContent<'a> {
    company_id: &'a str,
    branch_id: &'a str,
    item_internal_id: &'a str,
    reference_date: String,
    current_stock_amount: Amount,
    available_stock_amount: Amount,
    booked_stock_amount: Amount,
    list_of_warehouse_stock: WarehouseList<'a>,
    list_of_lot_stock: LotList<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WarehouseList<'a> {
    warehouse_stock: Vec<WarehouseStock<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WarehouseStock<'a> {
    warehouse_internal_id: &'a str,
    current_stock_amount: Amount,
    available_stock_amount: Amount,
    booked_stock_amount: Amount,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LotList<'a> {
    lot_stock: Vec<LotStock<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LotStock<'a> {
    warehouse_internal_id: &'a str,
    lot_number: &'a str,
    sub_lot_code: &'a str,
    lot_expiration_date: Option<String>,
    current_stock_amount: Amount,
    available_stock_amount: Amount,
    booked_stock_amount: Amount,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TraceabilityContent<'a> {
    internal_id: &'a str,
    company_internal_id: String,
    company_id: &'a str,
    branch_id: &'a str,
    number: &'a str,
    status: &'a str,
    register_date: String,
    customer_vendor_internal_id: &'a str,
    value: Amount,
    #[serde(rename = "Type")]
    kind: &'static str,
    list_of_item: ItemList<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ItemList<'a> {
    item: Vec<TracedLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TracedLine<'a> {
    number: String,
    item_internal_id: &'a str,
    quantity: Amount,
    unit_price: Amount,
    total_price: Amount,
    warehouse_internal_id: Option<&'a str>,
}

/// The connection test's Content: `{}`.
#[derive(Serialize)]
struct Empty {}

/// `YYYY-MM-DD`, the schemas' `date` format.
fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A sum that saturates instead of panicking on overflow (amounts come from
/// the database, which does not bound them to `Decimal`'s range).
fn sum(amounts: impl Iterator<Item = Decimal>) -> Decimal {
    amounts.fold(Decimal::ZERO, Decimal::saturating_add)
}

/// The compact JSON of one message.
fn to_bytes<C: Serialize>(header: Header<'_>, content: C) -> Vec<u8> {
    serde_json::to_vec(&Message { header, content }).expect(
        "a business message holds only strings, string-keyed structs and decimals \
         (whose Display is always a valid JSON number), which always serialize",
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;
    use serde_json::{json, Value};

    use super::*;
    use crate::receipt::DEFAULT_MAX_DETAILS;

    fn origin() -> ReceiptOrigin {
        ReceiptOrigin {
            source_application: "EAIWORKER".into(),
            product_name: "EAI Worker".into(),
            max_details: DEFAULT_MAX_DETAILS,
        }
    }

    fn outbound(origin: &ReceiptOrigin) -> Outbound<'_> {
        Outbound {
            origin,
            uuid: "0b7f6c1e-5d0a-4f1e-9c55-3f2a1b0c9d8e",
            company: "T1",
            branch: "D MG 01",
            generated_on: Utc
                .timestamp_opt(1_587_661_341, 625_349_000)
                .single()
                .expect("valid instant"),
        }
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("valid decimal")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn header_json(transaction: &str, version: &str) -> Value {
        json!({
            "UUID": "0b7f6c1e-5d0a-4f1e-9c55-3f2a1b0c9d8e",
            "Type": "BusinessMessage",
            "Transaction": transaction,
            "Version": version,
            "SourceApplication": "EAIWORKER",
            "ProductName": "EAI Worker",
            "CompanyId": "T1",
            "BranchId": "D MG 01",
            "GeneratedOn": "2020-04-23T17:02:21.625349+00:00",
            "DeliveryType": "async",
            "SubType": "event",
            "Event": "upsert"
        })
    }

    /// Checks the bytes against `expected` both as values and as text, so the
    /// key order (kept by serde_json's `preserve_order`) is checked too.
    fn assert_json(bytes: &[u8], expected: &Value) {
        let parsed: Value = serde_json::from_slice(bytes).expect("envelope is JSON");
        assert_eq!(&parsed, expected);
        assert_eq!(
            std::str::from_utf8(bytes).expect("UTF-8"),
            serde_json::to_string(expected).expect("serializable")
        );
    }

    fn stock(lots: Vec<LotLevel>) -> StockLevel {
        StockLevel {
            product: "000123".into(),
            warehouse: "01".into(),
            reference_date: date(2024, 3, 5),
            lots,
        }
    }

    fn lot(lot: &str, expires_on: Option<NaiveDate>, on_hand: &str, booked: &str) -> LotLevel {
        LotLevel {
            lot: lot.into(),
            sublot: String::new(),
            expires_on,
            on_hand: dec(on_hand),
            booked: dec(booked),
        }
    }

    #[test]
    fn stock_level_envelope_is_exact() {
        let origin = origin();
        let level = stock(vec![
            LotLevel {
                sublot: "A1".into(),
                ..lot("L001", Some(date(2025, 1, 31)), "100.0000", "2.500")
            },
            lot("L002", None, "3", "5"),
        ]);
        let expected = json!({
            "Header": header_json("StockLevel", "3.003"),
            "Content": {
                "CompanyId": "T1",
                "BranchId": "D MG 01",
                "ItemInternalId": "000123",
                "ReferenceDate": "2024-03-05",
                "CurrentStockAmount": 103,
                "AvailableStockAmount": 97.5,
                "BookedStockAmount": 7.5,
                "ListOfWarehouseStock": {
                    "WarehouseStock": [{
                        "WarehouseInternalId": "01",
                        "CurrentStockAmount": 103,
                        "AvailableStockAmount": 97.5,
                        "BookedStockAmount": 7.5
                    }]
                },
                "ListOfLotStock": {
                    "LotStock": [
                        {
                            "WarehouseInternalId": "01",
                            "LotNumber": "L001",
                            "SubLotCode": "A1",
                            "LotExpirationDate": "2025-01-31",
                            "CurrentStockAmount": 100,
                            "AvailableStockAmount": 97.5,
                            "BookedStockAmount": 2.5
                        },
                        {
                            "WarehouseInternalId": "01",
                            "LotNumber": "L002",
                            "SubLotCode": "",
                            "LotExpirationDate": null,
                            "CurrentStockAmount": 3,
                            "AvailableStockAmount": 0,
                            "BookedStockAmount": 5
                        }
                    ]
                }
            }
        });
        assert_json(&level.envelope(&outbound(&origin)), &expected);
    }

    #[test]
    fn available_is_on_hand_minus_booked_floored_at_zero() {
        assert_eq!(
            lot("L", None, "10", "4").available(date(2026, 1, 1)),
            dec("6")
        );
        assert_eq!(
            lot("L", None, "4", "4").available(date(2026, 1, 1)),
            Decimal::ZERO
        );
        assert_eq!(
            lot("L", None, "4", "10").available(date(2026, 1, 1)),
            Decimal::ZERO
        );
        assert_eq!(
            lot("L", None, "-2", "0").available(date(2026, 1, 1)),
            Decimal::ZERO
        );
        assert_eq!(
            lot("L", None, "0.3", "0.1").available(date(2026, 1, 1)),
            dec("0.2")
        );
        let expired = lot("L", Some(date(2025, 12, 31)), "10", "0");
        assert_eq!(
            expired.available(date(2026, 1, 1)),
            Decimal::ZERO,
            "expired lots offer nothing"
        );
        assert_eq!(
            expired.available(date(2025, 12, 31)),
            dec("10"),
            "still good on its last day"
        );
    }

    #[test]
    fn totals_sum_lot_by_lot() {
        let origin = origin();
        let level = stock(vec![
            lot("A", None, "0.1", "0"),
            lot("B", None, "0.2", "0.05"),
            lot("C", None, "1", "3"),
        ]);
        let value: Value =
            serde_json::from_slice(&level.envelope(&outbound(&origin))).expect("JSON");
        let content = &value["Content"];
        // Exact decimal sums: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
        assert_eq!(content["CurrentStockAmount"], json!(1.3));
        assert_eq!(content["BookedStockAmount"], json!(3.05));
        // 0.1 + 0.15 + 0: the over-booked lot C does not eat A's and B's stock.
        assert_eq!(content["AvailableStockAmount"], json!(0.25));
        let warehouse = &content["ListOfWarehouseStock"]["WarehouseStock"][0];
        assert_eq!(warehouse["CurrentStockAmount"], json!(1.3));
        assert_eq!(warehouse["AvailableStockAmount"], json!(0.25));
        assert_eq!(warehouse["BookedStockAmount"], json!(3.05));
    }

    #[test]
    fn amounts_are_numbers_without_trailing_zeros() {
        let origin = origin();
        let level = stock(vec![lot("L", None, "100.0000", "0.000")]);
        let text = String::from_utf8(level.envelope(&outbound(&origin))).expect("UTF-8");
        assert!(text.contains(r#""CurrentStockAmount":100,"#), "{text}");
        assert!(text.contains(r#""BookedStockAmount":0,"#), "{text}");
        assert!(text.contains(r#""AvailableStockAmount":100,"#), "{text}");
        assert!(!text.contains("100.0"), "{text}");
        assert!(!text.contains(r#""100""#), "{text}");

        let exact = stock(vec![lot("L", None, "12345678901234567890.123456789", "0")]);
        let text = String::from_utf8(exact.envelope(&outbound(&origin))).expect("UTF-8");
        assert!(
            text.contains(r#""CurrentStockAmount":12345678901234567890.123456789,"#),
            "no digit is lost to a float: {text}"
        );
    }

    #[test]
    fn negative_zero_is_written_as_zero() {
        let origin = origin();
        let level = stock(vec![lot("L", None, "-0.00", "0")]);
        let text = String::from_utf8(level.envelope(&outbound(&origin))).expect("UTF-8");
        assert!(text.contains(r#""CurrentStockAmount":0,"#), "{text}");
        assert!(!text.contains(":-0"), "{text}");
    }

    #[test]
    fn stock_level_without_lots_reports_zero_in_the_warehouse() {
        let origin = origin();
        let value: Value =
            serde_json::from_slice(&stock(Vec::new()).envelope(&outbound(&origin))).expect("JSON");
        let content = &value["Content"];
        assert_eq!(content["CurrentStockAmount"], json!(0));
        assert_eq!(content["AvailableStockAmount"], json!(0));
        assert_eq!(content["BookedStockAmount"], json!(0));
        assert_eq!(
            content["ListOfWarehouseStock"],
            json!({"WarehouseStock": [{
                "WarehouseInternalId": "01",
                "CurrentStockAmount": 0,
                "AvailableStockAmount": 0,
                "BookedStockAmount": 0
            }]})
        );
        assert_eq!(content["ListOfLotStock"], json!({"LotStock": []}));
    }

    #[test]
    fn sums_saturate_instead_of_panicking() {
        let origin = origin();
        let level = stock(vec![
            lot("A", None, &Decimal::MAX.to_string(), "0"),
            lot(
                "B",
                None,
                &Decimal::MAX.to_string(),
                &Decimal::MIN.to_string(),
            ),
        ]);
        let value: Value =
            serde_json::from_slice(&level.envelope(&outbound(&origin))).expect("JSON");
        assert_eq!(
            value["Content"]["CurrentStockAmount"].to_string(),
            Decimal::MAX.to_string()
        );
    }

    fn traceability(items: Vec<TracedItem>) -> Traceability {
        Traceability {
            internal_id: "T1|D MG 01|000123".into(),
            number: "000123".into(),
            status: "integrated".into(),
            register_date: date(2024, 3, 5),
            customer: "C00042".into(),
            value: dec("150.50"),
            items,
        }
    }

    fn item(number: u32, warehouse: Option<&str>) -> TracedItem {
        TracedItem {
            number,
            product: "000777".into(),
            quantity: dec("2.000"),
            unit_price: dec("75.2500"),
            total_price: dec("150.50"),
            warehouse: warehouse.map(str::to_owned),
        }
    }

    #[test]
    fn traceability_envelope_is_exact() {
        let origin = origin();
        let trace = traceability(vec![item(1, Some("01")), item(12, None)]);
        let line = |number: &str, warehouse: Value| {
            json!({
                "Number": number,
                "ItemInternalId": "000777",
                "Quantity": 2,
                "UnitPrice": 75.25,
                "TotalPrice": 150.5,
                "WarehouseInternalId": warehouse
            })
        };
        let expected = json!({
            "Header": header_json("DocumentTraceabilityOrder", "1.001"),
            "Content": {
                "InternalId": "T1|D MG 01|000123",
                "CompanyInternalId": "T1|D MG 01",
                "CompanyId": "T1",
                "BranchId": "D MG 01",
                "Number": "000123",
                "Status": "integrated",
                "RegisterDate": "2024-03-05",
                "CustomerVendorInternalId": "C00042",
                "Value": 150.5,
                "Type": "001",
                "ListOfItem": {
                    "Item": [line("01", json!("01")), line("12", Value::Null)]
                }
            }
        });
        assert_json(&trace.envelope(&outbound(&origin)), &expected);
    }

    #[test]
    fn item_numbers_are_zero_padded_to_two_digits_at_least() {
        let origin = origin();
        let trace = traceability(vec![item(0, None), item(9, None), item(100, None)]);
        let value: Value =
            serde_json::from_slice(&trace.envelope(&outbound(&origin))).expect("JSON");
        let numbers: Vec<&Value> = value["Content"]["ListOfItem"]["Item"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| &item["Number"])
            .collect();
        assert_eq!(numbers, [&json!("00"), &json!("09"), &json!("100")]);
    }

    #[test]
    fn traceability_without_items_has_an_empty_item_list() {
        let origin = origin();
        let value: Value =
            serde_json::from_slice(&traceability(Vec::new()).envelope(&outbound(&origin)))
                .expect("JSON");
        assert_eq!(value["Content"]["ListOfItem"], json!({"Item": []}));
    }

    #[test]
    fn environment_test_envelope_is_exact() {
        let origin = origin();
        let expected = json!({
            "Header": header_json("EAIEnvironmentTest", "1.000"),
            "Content": {}
        });
        assert_json(&environment_test(&outbound(&origin)), &expected);
    }

    #[test]
    fn envelopes_are_deterministic() {
        let origin = origin();
        let header = outbound(&origin);
        let level = stock(vec![lot("L", None, "1", "0")]);
        assert_eq!(level.envelope(&header), level.envelope(&header));
        let trace = traceability(vec![item(1, None)]);
        assert_eq!(trace.envelope(&header), trace.envelope(&header));
        assert_eq!(environment_test(&header), environment_test(&header));
    }
}
