//! The BusinessMessages the worker sends (SPEC §8), each valid against its
//! official TOTVS schema: `StockLevel` 3.003 when reservations change
//! availability, `DocumentTraceabilityOrder` 1.001 when a sale is integrated or
//! cancelled, and the `EAIEnvironmentTest` 1.000 connection test.
//!
//! Like [`crate::Receipt`], an outbound message is written once into the
//! outbound queue and re-sent byte for byte on every attempt, so each builder is
//! a pure function of its inputs: the UUID and `GeneratedOn` come from the caller
//! ([`Outbound`]), the codes already translated into the destination's own
//! (reverse de/para is the store's), and the list style is the destination's
//! ([`ListStyle`]). The field order of the structs below is the key order on the
//! wire. Amounts are exact decimals written as JSON numbers without trailing
//! zeros (`100`, not `100.0000` nor `"100"`), since the schemas type them
//! `number` and receivers compare them as such. An optional key with no value
//! is left out, never `null`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::header::{format_instant, MessageType, OutgoingHeader};
use crate::receipt::ReceiptOrigin;

/// `Transaction` of the connection test message.
pub const ENVIRONMENT_TEST_TRANSACTION: &str = "EAIEnvironmentTest";

/// `Version` of the connection test message.
pub const ENVIRONMENT_TEST_VERSION: &str = "1.000";

/// How a destination wants the lists of a message: as the schemas define
/// them, plain arrays (`"ListOfItem": [...]`), or wrapped in an object named
/// after the element, as Protheus traffic has them
/// (`"ListOfItem": {"Item": [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListStyle {
    /// Plain arrays, the schemas' shape (the default).
    #[default]
    Plain,
    /// Each list an object holding the array under the element's name.
    Wrapped,
}

impl ListStyle {
    pub const ALL: [ListStyle; 2] = [ListStyle::Plain, ListStyle::Wrapped];

    /// The name in configuration and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ListStyle::Plain => "plain",
            ListStyle::Wrapped => "wrapped",
        }
    }

    /// Case-insensitive.
    pub fn parse(text: &str) -> Option<ListStyle> {
        ListStyle::ALL
            .into_iter()
            .find(|style| style.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// A list on the wire, in a [`ListStyle`]: `element` names the array inside
/// the wrapper.
struct Listed<T> {
    style: ListStyle,
    element: &'static str,
    items: Vec<T>,
}

impl<T: Serialize> Serialize for Listed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.style {
            ListStyle::Plain => self.items.serialize(serializer),
            ListStyle::Wrapped => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(self.element, &self.items)?;
                map.end()
            }
        }
    }
}

/// The header fields of an outbound business message. The caller owns the UUID
/// and instant so the message can be persisted before it is sent and matched
/// with the destination's receipt by that UUID.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    /// Who we are: `SourceApplication` and `ProductName`.
    pub origin: &'a ReceiptOrigin,
    /// Our `Header.UUID`, which the destination's receipt echoes.
    pub uuid: &'a str,
    /// `Header.CompanyId`, as the destination knows the company.
    pub company: &'a str,
    /// `Header.BranchId`.
    pub branch: &'a str,
    /// `Header.GeneratedOn`, written as RFC 3339 UTC with microseconds.
    pub generated_on: DateTime<Utc>,
}

impl Outbound<'_> {
    /// An asynchronous upsert event: every message we send but the
    /// connection test, a request.
    fn header(&self, transaction: &str, version: &str) -> OutgoingHeader {
        OutgoingHeader {
            uuid: self.uuid.to_owned(),
            kind: MessageType::BusinessMessage,
            transaction: transaction.to_owned(),
            version: version.to_owned(),
            source_application: self.origin.source_application.clone(),
            product_name: self.origin.product_name.clone(),
            company_id: self.company.to_owned(),
            branch_id: self.branch.to_owned(),
            generated_on: format_instant(self.generated_on),
            delivery_type: "async",
            sub_type: Some("event"),
            event: Some("upsert"),
        }
    }
}

/// What a StockLevel answers (the schema's `ReturnContent`): pushed as an
/// event when reservations change a product's availability, and returned in
/// the receipt of a StockLevel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockReturn {
    /// `ClosingStockDate`: the branch's last closed day, when it has one.
    pub closing_stock_date: Option<NaiveDate>,
    /// `ListOfReturnItem`: one product each.
    pub items: Vec<StockLevel>,
}

/// Stock of one product in a branch, warehouse by warehouse and lot by lot
/// (StockLevel 3.003's `ReturnItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    /// `CompanyId`, as the receiver knows the company.
    pub company: String,
    /// `BranchId`.
    pub branch: String,
    /// `ItemInternalId`.
    pub product: String,
    /// The day the amounts refer to: `ReferenceDate`.
    pub reference_date: NaiveDate,
    /// `ListOfWarehouseStock` (and, flattened, `ListOfLotStock`).
    pub warehouses: Vec<WarehouseLevel>,
}

/// A product's lots in one warehouse; none when nothing is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseLevel {
    /// `WarehouseInternalId`.
    pub warehouse: String,
    /// The lots, in the order given.
    pub lots: Vec<LotLevel>,
}

/// One lot's amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotLevel {
    /// `LotNumber`.
    pub lot: String,
    /// `SubLotCode`, left out when the lot has no sub-lots (`""`).
    pub sublot: String,
    /// `LotExpirationDate`, left out when the lot does not expire.
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

/// Current, available and booked amounts summed lot by lot (available
/// summed lot by lot, so one over-booked lot does not hide another's stock).
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    current: Decimal,
    available: Decimal,
    booked: Decimal,
}

impl Totals {
    fn of_lots<'a>(lots: impl Iterator<Item = &'a LotLevel>, on: NaiveDate) -> Totals {
        lots.fold(Totals::default(), |totals, lot| Totals {
            current: totals.current.saturating_add(lot.on_hand),
            available: totals.available.saturating_add(lot.available(on)),
            booked: totals.booked.saturating_add(lot.booked),
        })
    }
}

impl StockReturn {
    /// `Header.Transaction` of a StockLevel.
    pub const TRANSACTION: &'static str = "StockLevel";
    /// `Header.Version` of a StockLevel.
    pub const VERSION: &'static str = "3.003";

    /// The schema's `ReturnContent`, lists in `style`.
    pub(crate) fn content(&self, style: ListStyle) -> impl Serialize + '_ {
        StockContent {
            closing_stock_date: self.closing_stock_date.map(format_date),
            list_of_return_item: Listed {
                style,
                element: "ReturnItem",
                items: self
                    .items
                    .iter()
                    .map(|item| item.return_item(style))
                    .collect(),
            },
        }
    }

    /// The compact JSON envelope to persist and send as an event.
    pub fn envelope(&self, header: &Outbound<'_>, style: ListStyle) -> Vec<u8> {
        to_bytes(
            header.header(Self::TRANSACTION, Self::VERSION),
            self.content(style),
        )
    }
}

impl StockLevel {
    fn return_item(&self, style: ListStyle) -> ReturnItem<'_> {
        let on = self.reference_date;
        let all = Totals::of_lots(
            self.warehouses.iter().flat_map(|warehouse| &warehouse.lots),
            on,
        );
        ReturnItem {
            company_id: &self.company,
            branch_id: &self.branch,
            company_internal_id: format!("{}|{}", self.company, self.branch),
            item_internal_id: &self.product,
            reference_date: format_date(on),
            current_stock_amount: Amount(all.current),
            available_stock_amount: Amount(all.available),
            booked_stock_amount: Amount(all.booked),
            list_of_warehouse_stock: Listed {
                style,
                element: "WarehouseStock",
                items: self
                    .warehouses
                    .iter()
                    .map(|warehouse| {
                        let totals = Totals::of_lots(warehouse.lots.iter(), on);
                        WarehouseStock {
                            warehouse_internal_id: &warehouse.warehouse,
                            current_stock_amount: Amount(totals.current),
                            available_stock_amount: Amount(totals.available),
                            booked_stock_amount: Amount(totals.booked),
                        }
                    })
                    .collect(),
            },
            list_of_lot_stock: Listed {
                style,
                element: "LotStock",
                items: self
                    .warehouses
                    .iter()
                    .flat_map(|warehouse| {
                        warehouse.lots.iter().map(|lot| LotStock {
                            warehouse_internal_id: &warehouse.warehouse,
                            lot_number: &lot.lot,
                            sub_lot_code: (!lot.sublot.is_empty()).then_some(lot.sublot.as_str()),
                            lot_expiration_date: lot.expires_on.map(format_date),
                            current_stock_amount: Amount(lot.on_hand),
                            available_stock_amount: Amount(lot.available(on)),
                            booked_stock_amount: Amount(lot.booked),
                        })
                    })
                    .collect(),
            },
        }
    }
}

/// A sale's traceability when it is integrated or cancelled
/// (DocumentTraceabilityOrder 1.001, the `ReturnContent` shape): the sale as
/// our sales order, and in `ListOfTraceability` the retail document that
/// carries the shop's own id (`RetailSalesInternalId`), so the destination
/// can follow the order it sent through to our document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceability {
    /// `CompanyId`, as the receiver knows the company.
    pub company: String,
    /// `BranchId`.
    pub branch: String,
    /// Our id: `InternalId`, `<company>|<branch>|<number>` in our codes.
    pub internal_id: String,
    /// Our sale number: `Number`.
    pub number: String,
    /// `Status`: `released`, `credit_blocked` or `cancelled`.
    pub status: String,
    /// When the sale was registered here: `RegisterDate`.
    pub registered_at: DateTime<Utc>,
    /// The day the sale was issued: the retail document's `IssueDate` (at
    /// 00:00 UTC, the schema wanting a date-time).
    pub issue_date: NaiveDate,
    /// The retail document's series: `Serie`.
    pub series: String,
    /// `CustomerVendorInternalId`.
    pub customer: String,
    /// The sale's net total: `Value`.
    pub value: Decimal,
    /// The id the shop gave the sale: `RetailSalesInternalId`.
    pub retail_sales_internal_id: String,
    /// The sale's lines: `ListOfItem`.
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
    /// `WarehouseInternalId`, left out when the line has none.
    pub warehouse: Option<String>,
}

/// `Type` of a sales order and of an outgoing invoice.
const SALES_TYPE: &str = "001";

impl Traceability {
    /// `Header.Transaction` of this event.
    pub const TRANSACTION: &'static str = "DocumentTraceabilityOrder";
    /// `Header.Version` of this event.
    pub const VERSION: &'static str = "1.001";

    /// The compact JSON envelope to persist and send, lists in `style`.
    pub fn envelope(&self, header: &Outbound<'_>, style: ListStyle) -> Vec<u8> {
        let company_internal_id = format!("{}|{}", self.company, self.branch);
        let content = TraceabilityContent {
            internal_id: &self.internal_id,
            company_internal_id: &company_internal_id,
            company_id: &self.company,
            branch_id: &self.branch,
            number: &self.number,
            status: &self.status,
            register_date: format_instant(self.registered_at),
            customer_vendor_internal_id: &self.customer,
            value: Amount(self.value),
            kind: SALES_TYPE,
            list_of_item: Listed {
                style,
                element: "Item",
                items: self
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
            list_of_traceability: Listed {
                style,
                element: "Traceability",
                items: vec![RetailDocument {
                    internal_id: &self.internal_id,
                    company_internal_id: &company_internal_id,
                    company_id: &self.company,
                    branch_id: &self.branch,
                    number: &self.number,
                    serie: &self.series,
                    status: &self.status,
                    issue_date: format_instant(self.issue_date.and_time(NaiveTime::MIN).and_utc()),
                    customer_vendor_internal_id: &self.customer,
                    value: Amount(self.value),
                    kind: SALES_TYPE,
                    retail_sales_internal_id: &self.retail_sales_internal_id,
                }],
            },
        };
        to_bytes(header.header(Self::TRANSACTION, Self::VERSION), content)
    }
}

/// The connection test message (EAIEnvironmentTest 1.000, a request, as its
/// schema defines it): a header and, as the schema wants, a string Content, so
/// a destination can be checked end to end (route, credentials, receipt)
/// without touching business data.
pub fn environment_test(header: &Outbound<'_>) -> Vec<u8> {
    let mut outgoing = header.header(ENVIRONMENT_TEST_TRANSACTION, ENVIRONMENT_TEST_VERSION);
    outgoing.sub_type = Some("request");
    to_bytes(outgoing, "connection test")
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
struct Message<C> {
    #[serde(rename = "Header")]
    header: OutgoingHeader,
    #[serde(rename = "Content")]
    content: C,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StockContent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    closing_stock_date: Option<String>,
    list_of_return_item: Listed<ReturnItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReturnItem<'a> {
    company_id: &'a str,
    branch_id: &'a str,
    company_internal_id: String,
    item_internal_id: &'a str,
    reference_date: String,
    current_stock_amount: Amount,
    available_stock_amount: Amount,
    booked_stock_amount: Amount,
    list_of_warehouse_stock: Listed<WarehouseStock<'a>>,
    list_of_lot_stock: Listed<LotStock<'a>>,
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
struct LotStock<'a> {
    warehouse_internal_id: &'a str,
    lot_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_lot_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lot_expiration_date: Option<String>,
    current_stock_amount: Amount,
    available_stock_amount: Amount,
    booked_stock_amount: Amount,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TraceabilityContent<'a> {
    internal_id: &'a str,
    company_internal_id: &'a str,
    company_id: &'a str,
    branch_id: &'a str,
    number: &'a str,
    status: &'a str,
    register_date: String,
    customer_vendor_internal_id: &'a str,
    value: Amount,
    #[serde(rename = "Type")]
    kind: &'static str,
    list_of_item: Listed<TracedLine<'a>>,
    list_of_traceability: Listed<RetailDocument<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TracedLine<'a> {
    number: String,
    item_internal_id: &'a str,
    quantity: Amount,
    unit_price: Amount,
    total_price: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    warehouse_internal_id: Option<&'a str>,
}

/// The schema's `InvoiceType`: our retail document, with the shop's id.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RetailDocument<'a> {
    internal_id: &'a str,
    company_internal_id: &'a str,
    company_id: &'a str,
    branch_id: &'a str,
    number: &'a str,
    serie: &'a str,
    status: &'a str,
    issue_date: String,
    customer_vendor_internal_id: &'a str,
    value: Amount,
    #[serde(rename = "Type")]
    kind: &'static str,
    retail_sales_internal_id: &'a str,
}

/// `YYYY-MM-DD`, the schemas' `date` format.
fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The compact JSON of one message.
fn to_bytes<C: Serialize>(header: OutgoingHeader, content: C) -> Vec<u8> {
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

    fn instant() -> DateTime<Utc> {
        Utc.timestamp_opt(1_587_661_341, 625_349_000)
            .single()
            .expect("valid instant")
    }

    fn outbound(origin: &ReceiptOrigin) -> Outbound<'_> {
        Outbound {
            origin,
            uuid: "0b7f6c1e-5d0a-4f1e-9c55-3f2a1b0c9d8e",
            company: "T1",
            branch: "D MG 01",
            generated_on: instant(),
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

    fn stock(lots: Vec<LotLevel>) -> StockReturn {
        StockReturn {
            closing_stock_date: None,
            items: vec![StockLevel {
                company: "T1".into(),
                branch: "D MG 01".into(),
                product: "000123".into(),
                reference_date: date(2024, 3, 5),
                warehouses: vec![WarehouseLevel {
                    warehouse: "01".into(),
                    lots,
                }],
            }],
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

    /// The first ReturnItem of a plain StockLevel envelope.
    fn return_item(stock: &StockReturn) -> Value {
        let origin = origin();
        let value: Value =
            serde_json::from_slice(&stock.envelope(&outbound(&origin), ListStyle::Plain))
                .expect("JSON");
        value["Content"]["ListOfReturnItem"][0].clone()
    }

    #[test]
    fn stock_level_envelope_is_exact_with_plain_lists() {
        let origin = origin();
        let mut level = stock(vec![
            LotLevel {
                sublot: "A1".into(),
                ..lot("L001", Some(date(2025, 1, 31)), "100.0000", "2.500")
            },
            lot("L002", None, "3", "5"),
        ]);
        level.closing_stock_date = Some(date(2024, 1, 31));
        let expected = json!({
            "Header": header_json("StockLevel", "3.003"),
            "Content": {
                "ClosingStockDate": "2024-01-31",
                "ListOfReturnItem": [{
                    "CompanyId": "T1",
                    "BranchId": "D MG 01",
                    "CompanyInternalId": "T1|D MG 01",
                    "ItemInternalId": "000123",
                    "ReferenceDate": "2024-03-05",
                    "CurrentStockAmount": 103,
                    "AvailableStockAmount": 97.5,
                    "BookedStockAmount": 7.5,
                    "ListOfWarehouseStock": [{
                        "WarehouseInternalId": "01",
                        "CurrentStockAmount": 103,
                        "AvailableStockAmount": 97.5,
                        "BookedStockAmount": 7.5
                    }],
                    "ListOfLotStock": [
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
                            "CurrentStockAmount": 3,
                            "AvailableStockAmount": 0,
                            "BookedStockAmount": 5
                        }
                    ]
                }]
            }
        });
        assert_json(
            &level.envelope(&outbound(&origin), ListStyle::Plain),
            &expected,
        );
    }

    #[test]
    fn wrapped_lists_hold_the_array_under_the_element_name() {
        let origin = origin();
        let level = stock(vec![lot("L001", None, "1", "0")]);
        let value: Value =
            serde_json::from_slice(&level.envelope(&outbound(&origin), ListStyle::Wrapped))
                .expect("JSON");
        let item = &value["Content"]["ListOfReturnItem"]["ReturnItem"][0];
        assert_eq!(item["ItemInternalId"], "000123");
        assert_eq!(
            item["ListOfWarehouseStock"]["WarehouseStock"][0]["WarehouseInternalId"],
            "01"
        );
        assert_eq!(item["ListOfLotStock"]["LotStock"][0]["LotNumber"], "L001");
        assert!(value["Content"].get("ClosingStockDate").is_none());
    }

    #[test]
    fn list_styles_parse_case_insensitively() {
        for style in ListStyle::ALL {
            assert_eq!(
                ListStyle::parse(&style.as_str().to_uppercase()),
                Some(style)
            );
        }
        assert_eq!(ListStyle::parse("nested"), None);
        assert_eq!(ListStyle::default(), ListStyle::Plain);
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
        let item = return_item(&stock(vec![
            lot("A", None, "0.1", "0"),
            lot("B", None, "0.2", "0.05"),
            lot("C", None, "1", "3"),
        ]));
        // Exact decimal sums: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
        assert_eq!(item["CurrentStockAmount"], json!(1.3));
        assert_eq!(item["BookedStockAmount"], json!(3.05));
        // 0.1 + 0.15 + 0: the over-booked lot C does not eat A's and B's stock.
        assert_eq!(item["AvailableStockAmount"], json!(0.25));
        let warehouse = &item["ListOfWarehouseStock"][0];
        assert_eq!(warehouse["CurrentStockAmount"], json!(1.3));
        assert_eq!(warehouse["AvailableStockAmount"], json!(0.25));
        assert_eq!(warehouse["BookedStockAmount"], json!(3.05));
    }

    #[test]
    fn a_product_in_two_warehouses_sums_both_and_lists_each() {
        let mut level = stock(vec![lot("A", None, "2", "1")]);
        level.items[0].warehouses.push(WarehouseLevel {
            warehouse: "02".into(),
            lots: vec![lot("B", None, "5", "0")],
        });
        let item = return_item(&level);
        assert_eq!(item["CurrentStockAmount"], json!(7));
        assert_eq!(item["AvailableStockAmount"], json!(6));
        assert_eq!(item["ListOfWarehouseStock"][1]["WarehouseInternalId"], "02");
        assert_eq!(
            item["ListOfWarehouseStock"][1]["CurrentStockAmount"],
            json!(5)
        );
        assert_eq!(item["ListOfLotStock"][1]["WarehouseInternalId"], "02");
    }

    #[test]
    fn amounts_are_numbers_without_trailing_zeros() {
        let origin = origin();
        let level = stock(vec![lot("L", None, "100.0000", "0.000")]);
        let text =
            String::from_utf8(level.envelope(&outbound(&origin), ListStyle::Plain)).expect("UTF-8");
        assert!(text.contains(r#""CurrentStockAmount":100,"#), "{text}");
        assert!(text.contains(r#""BookedStockAmount":0,"#), "{text}");
        assert!(text.contains(r#""AvailableStockAmount":100,"#), "{text}");
        assert!(!text.contains("100.0"), "{text}");
        assert!(!text.contains(r#""100""#), "{text}");

        let exact = stock(vec![lot("L", None, "12345678901234567890.123456789", "0")]);
        let text =
            String::from_utf8(exact.envelope(&outbound(&origin), ListStyle::Plain)).expect("UTF-8");
        assert!(
            text.contains(r#""CurrentStockAmount":12345678901234567890.123456789,"#),
            "no digit is lost to a float: {text}"
        );
    }

    #[test]
    fn negative_zero_is_written_as_zero() {
        let origin = origin();
        let level = stock(vec![lot("L", None, "-0.00", "0")]);
        let text =
            String::from_utf8(level.envelope(&outbound(&origin), ListStyle::Plain)).expect("UTF-8");
        assert!(text.contains(r#""CurrentStockAmount":0,"#), "{text}");
        assert!(!text.contains(":-0"), "{text}");
    }

    #[test]
    fn stock_level_without_lots_reports_zero_in_the_warehouse() {
        let item = return_item(&stock(Vec::new()));
        assert_eq!(item["CurrentStockAmount"], json!(0));
        assert_eq!(item["AvailableStockAmount"], json!(0));
        assert_eq!(item["BookedStockAmount"], json!(0));
        assert_eq!(
            item["ListOfWarehouseStock"],
            json!([{
                "WarehouseInternalId": "01",
                "CurrentStockAmount": 0,
                "AvailableStockAmount": 0,
                "BookedStockAmount": 0
            }])
        );
        assert_eq!(item["ListOfLotStock"], json!([]));
    }

    #[test]
    fn sums_saturate_instead_of_panicking() {
        let item = return_item(&stock(vec![
            lot("A", None, &Decimal::MAX.to_string(), "0"),
            lot(
                "B",
                None,
                &Decimal::MAX.to_string(),
                &Decimal::MIN.to_string(),
            ),
        ]));
        assert_eq!(
            item["CurrentStockAmount"].to_string(),
            Decimal::MAX.to_string()
        );
    }

    fn traceability(items: Vec<TracedItem>) -> Traceability {
        Traceability {
            company: "T1".into(),
            branch: "D MG 01".into(),
            internal_id: "T1|D MG 01|000123".into(),
            number: "000123".into(),
            status: "released".into(),
            registered_at: instant(),
            issue_date: date(2024, 3, 5),
            series: "A01".into(),
            customer: "C00042".into(),
            value: dec("150.50"),
            retail_sales_internal_id: "shop-order-77".into(),
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
        let expected = json!({
            "Header": header_json("DocumentTraceabilityOrder", "1.001"),
            "Content": {
                "InternalId": "T1|D MG 01|000123",
                "CompanyInternalId": "T1|D MG 01",
                "CompanyId": "T1",
                "BranchId": "D MG 01",
                "Number": "000123",
                "Status": "released",
                "RegisterDate": "2020-04-23T17:02:21.625349+00:00",
                "CustomerVendorInternalId": "C00042",
                "Value": 150.5,
                "Type": "001",
                "ListOfItem": [
                    {
                        "Number": "01",
                        "ItemInternalId": "000777",
                        "Quantity": 2,
                        "UnitPrice": 75.25,
                        "TotalPrice": 150.5,
                        "WarehouseInternalId": "01"
                    },
                    {
                        "Number": "12",
                        "ItemInternalId": "000777",
                        "Quantity": 2,
                        "UnitPrice": 75.25,
                        "TotalPrice": 150.5
                    }
                ],
                "ListOfTraceability": [{
                    "InternalId": "T1|D MG 01|000123",
                    "CompanyInternalId": "T1|D MG 01",
                    "CompanyId": "T1",
                    "BranchId": "D MG 01",
                    "Number": "000123",
                    "Serie": "A01",
                    "Status": "released",
                    "IssueDate": "2024-03-05T00:00:00.000000+00:00",
                    "CustomerVendorInternalId": "C00042",
                    "Value": 150.5,
                    "Type": "001",
                    "RetailSalesInternalId": "shop-order-77"
                }]
            }
        });
        assert_json(
            &trace.envelope(&outbound(&origin), ListStyle::Plain),
            &expected,
        );
    }

    #[test]
    fn traceability_wraps_its_lists_on_request() {
        let origin = origin();
        let value: Value = serde_json::from_slice(
            &traceability(vec![item(1, None)]).envelope(&outbound(&origin), ListStyle::Wrapped),
        )
        .expect("JSON");
        assert_eq!(value["Content"]["ListOfItem"]["Item"][0]["Number"], "01");
        assert_eq!(
            value["Content"]["ListOfTraceability"]["Traceability"][0]["RetailSalesInternalId"],
            "shop-order-77"
        );
    }

    #[test]
    fn item_numbers_are_zero_padded_to_two_digits_at_least() {
        let origin = origin();
        let trace = traceability(vec![item(0, None), item(9, None), item(100, None)]);
        let value: Value =
            serde_json::from_slice(&trace.envelope(&outbound(&origin), ListStyle::Plain))
                .expect("JSON");
        let numbers: Vec<&str> = value["Content"]["ListOfItem"]
            .as_array()
            .expect("array")
            .iter()
            .map(|line| line["Number"].as_str().expect("string"))
            .collect();
        assert_eq!(numbers, ["00", "09", "100"]);
    }

    #[test]
    fn traceability_without_items_has_an_empty_item_list() {
        let origin = origin();
        let value: Value = serde_json::from_slice(
            &traceability(Vec::new()).envelope(&outbound(&origin), ListStyle::Plain),
        )
        .expect("JSON");
        assert_eq!(value["Content"]["ListOfItem"], json!([]));
    }

    #[test]
    fn environment_test_content_is_a_string() {
        let origin = origin();
        let mut header = header_json("EAIEnvironmentTest", "1.000");
        header["SubType"] = json!("request");
        let expected = json!({
            "Header": header,
            "Content": "connection test"
        });
        assert_json(&environment_test(&outbound(&origin)), &expected);
    }

    #[test]
    fn envelopes_are_deterministic() {
        let origin = origin();
        let header = outbound(&origin);
        let trace = traceability(vec![item(1, None)]);
        assert_eq!(
            trace.envelope(&header, ListStyle::Plain),
            trace.envelope(&header, ListStyle::Plain)
        );
        assert_eq!(environment_test(&header), environment_test(&header));
    }
}
