//! The RetailSales content model (SPEC §5): the wire shape of a sale and its
//! normalisation, without business rules — presence and consistency are the
//! domain's to judge, so every field the rules read is kept as received.
//!
//! Reading refuses only what cannot be read at all: a field of the wrong type
//! (a number that is not a number, a list that is not a list…) is an
//! `INVALID_FIELD` naming its JSON path, and every one of them is reported at
//! once. Everything else — a missing document, a zero price, totals that do not
//! add up, an issue date that does not parse — reaches the domain, which
//! reports it with its own code.
//!
//! Normalisation (SPEC §5, seed 001 "Tags do JSON"): `ItemTablePrice` absent or
//! zero is `UnitPrice`; `ItemPrice` absent or zero is `Quantity × UnitPrice`;
//! cancelled items are dropped and the rest are numbered 1..n whatever
//! `ItemOrder` says (Protheus numbers items itself, so sales of more than 100
//! items work).

use rust_decimal::Decimal;

use crate::code::{Code, Detail};
use crate::envelope::Event;
use crate::json::Json;
use crate::node::Node;
use crate::reading::{first_text, kept, read_list, Problems};
use crate::timestamp::Timestamp;

/// The station and operator a sale gets when the sender names none: seed 001's
/// e-commerce flow sends `"AUTOMATICO"` for both, and that is the default
/// station Protheus integrates sales with.
pub const AUTOMATIC: &str = "AUTOMATICO";

/// One sale as received, after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct RetailSale {
    /// `InternalId`: the sender's id, the de/para key `RetailSales` → sale number.
    pub internal_id: Option<String>,
    /// `DocumentCode`.
    pub document_code: Option<String>,
    /// `ECommerceOrder`.
    pub ecommerce_order: Option<String>,
    /// `IssueDateDocument`, when present and parseable.
    pub issue_date: Option<Timestamp>,
    /// The text of `IssueDateDocument` when present but unparseable (the domain answers `ISSUE_DATE_INVALID`).
    pub issue_date_raw: Option<String>,
    /// `CustomerVendorInternalId`, else `CustomerCode`, else `CustomerVendorCode`.
    pub customer: Option<String>,
    /// `StationSalePointInternalId`, else `StationSalePointCode`, else
    /// `StationCode`, else [`AUTOMATIC`].
    pub station: String,
    /// `OperatorCode`, else `OperatorInternalId`, else [`AUTOMATIC`].
    pub operator: String,
    /// `CarrierInternalId`, else `CarrierCode`.
    pub carrier: Option<String>,
    /// `SaleType`.
    pub sale_type: Option<String>,
    /// `TotalPrice`.
    pub total_price: Option<Decimal>,
    /// `NetPrice`.
    pub net_price: Option<Decimal>,
    /// `GrossPrice`.
    pub gross_price: Option<Decimal>,
    /// `CommodityPrice`.
    pub commodity_price: Option<Decimal>,
    /// `DiscountValue` (absent: 0).
    pub discount_value: Decimal,
    /// `FreightValue` (absent: 0).
    pub freight_value: Decimal,
    /// `IncreaseValue` (absent: 0).
    pub increase_value: Decimal,
    /// `IntermediaryCode`: the marketplace that intermediated the sale (NT
    /// 2020.006, Protheus' `L1_INTERMD`), kept as sent.
    pub intermediary_code: Option<String>,
    /// `PresencialIndicator`: whether the buyer was present (NT 2020.006,
    /// `L1_INDPRES`), kept as sent.
    pub presencial_indicator: Option<String>,
    /// The items not cancelled, numbered 1..n in document order.
    pub items: Vec<SaleItem>,
    /// The payment lines, numbered 1..n in document order.
    pub payments: Vec<SalePayment>,
}

/// One item of a sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleItem {
    /// 1..n among the items kept; the received `ItemOrder` is ignored.
    pub item_no: u32,
    /// The item's JSON path (`$.Content.ListOfSaleItem.SaleItem[0]`), so domain
    /// errors can name it.
    pub path: String,
    /// `ItemCode`, else `ItemInternalId`.
    pub product: Option<String>,
    /// `WarehouseInternalId`, else `WarehouseCode`.
    pub warehouse: Option<String>,
    /// `Quantity`.
    pub quantity: Option<Decimal>,
    /// `UnitPrice`.
    pub unit_price: Option<Decimal>,
    /// `ItemTablePrice`; absent or zero → `unit_price`.
    pub table_price: Option<Decimal>,
    /// `ItemPrice`; absent or zero → `quantity × unit_price` when both are known.
    pub item_price: Option<Decimal>,
    /// `DiscountAmount` (absent: 0).
    pub discount_amount: Decimal,
    /// `FreightValueProrated` (absent: 0).
    pub freight_prorated: Decimal,
    /// `IncreaseValueProrated` (absent: 0).
    pub increase_prorated: Decimal,
    /// `OperationCode` (the TES rule's operation).
    pub operation_code: Option<String>,
    /// `ItemReserveInternalId`: the reservation this item sells from, if any.
    pub reserve_internal_id: Option<String>,
    /// `ItemDeliveryType`.
    pub delivery_type: Option<String>,
    /// What RetailSales 2.010 adds to an item, recorded as sent.
    pub information: ItemInformation,
}

/// The item fields of RetailSales 2.010, kept with the sale, shown and
/// exported as sent (text; a value that is not a string as its JSON text):
/// no rule reads them (the lots an item takes come from its reservation), so
/// none can refuse the sale.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemInformation {
    /// `ItemDeliveryDate`.
    pub delivery_date: Option<String>,
    /// `LotNumber`.
    pub lot: Option<String>,
    /// `SubLotNumber`.
    pub sublot: Option<String>,
    /// `SeriesItem`: the product's serial number.
    pub serial: Option<String>,
    /// `AddressItem`: where the product is stored.
    pub address: Option<String>,
    /// `ItemCarrierInternalId`, else `ItemCarrierCode`.
    pub carrier: Option<String>,
}

/// The card (EFT) data of a payment line, kept as sent (like
/// [`ItemInformation`]) for card reconciliation; its NSU is
/// [`SalePayment::serial_number`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardPayment {
    /// `EftAutorization` (sic): the authorisation code.
    pub authorization: Option<String>,
    /// `EftInstitute`: the card brand or acquirer.
    pub institute: Option<String>,
    /// `EftDocument`.
    pub document: Option<String>,
    /// `EftDate`.
    pub date: Option<String>,
}

/// One payment line (a method, or one instalment of it).
#[derive(Debug, Clone, PartialEq)]
pub struct SalePayment {
    /// 1..n in document order.
    pub payment_no: u32,
    /// The payment's JSON path (`$.Content.ListOfSaleCondition.SaleCondition[0]`).
    pub path: String,
    /// `PaymentMethodCode`, else `PaymentMethodInternalId`.
    pub method: Option<String>,
    /// `FinancialManagerCode`.
    pub financial_manager: Option<String>,
    /// `PaymentValue`.
    pub value: Option<Decimal>,
    /// `DateOfPayment`.
    pub date: Option<Timestamp>,
    /// `UniqueSerialNumber` (the TEF NSU).
    pub serial_number: Option<String>,
    /// `EftParcel`.
    pub instalment: Option<String>,
    /// The card data, when paid by card.
    pub card: CardPayment,
}

impl RetailSale {
    /// Reads a RetailSales `Content`. Items come from `ListOfSaleItem` (wrapped
    /// with `SaleItem`, or plain), payments from `ListOfSaleCondition` (wrapped
    /// with `SaleCondition`, or plain).
    ///
    /// Collects every `INVALID_FIELD` (a field of the wrong type, a list that is
    /// not a list, an item or payment that is not an object), each naming its
    /// JSON path; `Err` only when there is at least one. An unparseable
    /// `IssueDateDocument` is not one of them: it is kept in
    /// [`RetailSale::issue_date_raw`] for the domain to answer
    /// `ISSUE_DATE_INVALID`.
    ///
    /// A delete is refused with `EVENT_NOT_SUPPORTED` naming `$.Content.Event`:
    /// sales are cancelled by their own transaction, RetailSalesCancellation.
    pub fn from_content(content: &Node<'_>, event: Event) -> Result<RetailSale, Vec<Detail>> {
        if let Event::Delete = event {
            return Err(vec![Detail::error(
                Code::EventNotSupported,
                format!(
                    "{}: event delete is not supported for RetailSales; a sale is cancelled by its own transaction, RetailSalesCancellation",
                    content.child_path("Event")
                ),
            )]);
        }
        let mut problems = Problems::default();
        let (issue_date, issue_date_raw) = read_issue_date(content);
        let sale = RetailSale {
            internal_id: problems.take(content.text("InternalId")),
            document_code: problems.take(content.text("DocumentCode")),
            ecommerce_order: problems.take(content.text("ECommerceOrder")),
            issue_date,
            issue_date_raw,
            customer: problems.take(first_text(
                content,
                &[
                    "CustomerVendorInternalId",
                    "CustomerCode",
                    "CustomerVendorCode",
                ],
            )),
            station: problems
                .take(first_text(
                    content,
                    &[
                        "StationSalePointInternalId",
                        "StationSalePointCode",
                        "StationCode",
                    ],
                ))
                .unwrap_or_else(|| AUTOMATIC.to_owned()),
            operator: problems
                .take(first_text(content, &["OperatorCode", "OperatorInternalId"]))
                .unwrap_or_else(|| AUTOMATIC.to_owned()),
            carrier: problems.take(first_text(content, &["CarrierInternalId", "CarrierCode"])),
            sale_type: problems.take(content.text("SaleType")),
            total_price: problems.take(content.decimal("TotalPrice")),
            net_price: problems.take(content.decimal("NetPrice")),
            gross_price: problems.take(content.decimal("GrossPrice")),
            commodity_price: problems.take(content.decimal("CommodityPrice")),
            discount_value: amount(content, "DiscountValue", &mut problems),
            freight_value: amount(content, "FreightValue", &mut problems),
            increase_value: amount(content, "IncreaseValue", &mut problems),
            intermediary_code: kept(content, "IntermediaryCode"),
            presencial_indicator: kept(content, "PresencialIndicator"),
            items: read_items(content, &mut problems),
            payments: read_payments(content, &mut problems),
        };
        problems.into_result(sale)
    }
}

/// `IssueDateDocument` as `(parsed, raw)`: absent, `null` and blank are
/// `(None, None)`; a parseable date is `(Some, None)`; anything else keeps its
/// text (a string, trimmed) or its JSON text (any other type) in `raw`, since
/// the domain — not the reader — answers `ISSUE_DATE_INVALID` for it.
fn read_issue_date(content: &Node<'_>) -> (Option<Timestamp>, Option<String>) {
    let Some(node) = content.get("IssueDateDocument") else {
        return (None, None);
    };
    match node.value() {
        Json::String(text) if text.trim().is_empty() => (None, None),
        Json::String(text) => match Timestamp::parse(text) {
            Ok(timestamp) => (Some(timestamp), None),
            Err(_) => (None, Some(text.trim().to_owned())),
        },
        other => (None, Some(other.to_string())),
    }
}

/// An amount where absent means zero (discounts, freight, increase).
fn amount(node: &Node<'_>, key: &str, problems: &mut Problems) -> Decimal {
    problems.take(node.decimal(key)).unwrap_or(Decimal::ZERO)
}

/// The items not cancelled, numbered 1..n in document order.
fn read_items(content: &Node<'_>, problems: &mut Problems) -> Vec<SaleItem> {
    read_list(content, "ListOfSaleItem", "SaleItem", problems, read_item)
}

/// One item, numbered `item_no`; `None` when `IsCanceled` is true. A cancelled
/// line is not part of the sale, so its other fields are not read: stale
/// content in it never blocks the sale.
fn read_item(node: &Node<'_>, item_no: u32, problems: &mut Problems) -> Option<SaleItem> {
    if problems.take(node.flag("IsCanceled")).unwrap_or(false) {
        return None;
    }
    let quantity = problems.take(node.decimal("Quantity"));
    let unit_price = problems.take(node.decimal("UnitPrice"));
    let table_price = problems
        .take(node.decimal("ItemTablePrice"))
        .filter(|price| !price.is_zero())
        .or(unit_price);
    let item_price = match problems
        .take(node.decimal("ItemPrice"))
        .filter(|price| !price.is_zero())
    {
        Some(price) => Some(price),
        None => computed_item_price(node, quantity, unit_price, problems),
    };
    Some(SaleItem {
        item_no,
        path: node.path().to_owned(),
        product: problems.take(first_text(node, &["ItemCode", "ItemInternalId"])),
        warehouse: problems.take(first_text(node, &["WarehouseInternalId", "WarehouseCode"])),
        quantity,
        unit_price,
        table_price,
        item_price,
        discount_amount: amount(node, "DiscountAmount", problems),
        freight_prorated: amount(node, "FreightValueProrated", problems),
        increase_prorated: amount(node, "IncreaseValueProrated", problems),
        operation_code: problems.take(node.text("OperationCode")),
        reserve_internal_id: problems.take(node.text("ItemReserveInternalId")),
        delivery_type: problems.take(node.text("ItemDeliveryType")),
        information: ItemInformation {
            delivery_date: kept(node, "ItemDeliveryDate"),
            lot: kept(node, "LotNumber"),
            sublot: kept(node, "SubLotNumber"),
            serial: kept(node, "SeriesItem"),
            address: kept(node, "AddressItem"),
            carrier: kept(node, "ItemCarrierInternalId").or_else(|| kept(node, "ItemCarrierCode")),
        },
    })
}

/// `Quantity × UnitPrice`, exactly, for an item whose `ItemPrice` is absent or
/// zero; `None` when either is unknown. A product beyond the exact decimal
/// range (only absurd inputs reach it) is an `INVALID_FIELD` on `ItemPrice`
/// rather than a guess.
fn computed_item_price(
    node: &Node<'_>,
    quantity: Option<Decimal>,
    unit_price: Option<Decimal>,
    problems: &mut Problems,
) -> Option<Decimal> {
    let (quantity, unit_price) = (quantity?, unit_price?);
    let price = quantity.checked_mul(unit_price);
    if price.is_none() {
        problems.push(Detail::invalid_field(
            &node.child_path("ItemPrice"),
            "ItemPrice, or Quantity × UnitPrice within the exact decimal range",
            node.raw("ItemPrice"),
        ));
    }
    price
}

/// The payment lines, numbered 1..n in document order.
fn read_payments(content: &Node<'_>, problems: &mut Problems) -> Vec<SalePayment> {
    read_list(
        content,
        "ListOfSaleCondition",
        "SaleCondition",
        problems,
        read_payment,
    )
}

/// One payment line, numbered `payment_no`.
fn read_payment(node: &Node<'_>, payment_no: u32, problems: &mut Problems) -> Option<SalePayment> {
    Some(SalePayment {
        payment_no,
        path: node.path().to_owned(),
        method: problems.take(first_text(
            node,
            &["PaymentMethodCode", "PaymentMethodInternalId"],
        )),
        financial_manager: problems.take(node.text("FinancialManagerCode")),
        value: problems.take(node.decimal("PaymentValue")),
        date: problems.take(node.timestamp("DateOfPayment")),
        serial_number: problems.take(node.text("UniqueSerialNumber")),
        instalment: problems.take(node.text("EftParcel")),
        card: CardPayment {
            authorization: kept(node, "EftAutorization"),
            institute: kept(node, "EftInstitute"),
            document: kept(node, "EftDocument"),
            date: kept(node, "EftDate"),
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::json::Json;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("valid decimal")
    }

    fn read(content: &Value) -> Result<RetailSale, Vec<Detail>> {
        RetailSale::from_content(
            &Node::at(&Json::from(content), "$.Content".to_owned()),
            Event::Upsert,
        )
    }

    fn sale(content: Value) -> RetailSale {
        read(&content).unwrap_or_else(|details| panic!("refused: {details:?}"))
    }

    /// The (code, message) pairs of a refused content, in report order.
    fn problems(content: Value) -> Vec<(Code, String)> {
        read(&content)
            .expect_err("refused")
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    /// A content with one item and one payment, every field given.
    fn valid() -> Value {
        json!({
            "InternalId": "S-1",
            "DocumentCode": "000000595",
            "ECommerceOrder": "1200873417041-01",
            "IssueDateDocument": "2022-03-30T17:00:39.01118+00:00",
            "CustomerVendorInternalId": "C-1",
            "StationSalePointInternalId": "EST01",
            "OperatorCode": "OP1",
            "CarrierInternalId": "T-1",
            "SaleType": "V",
            "TotalPrice": 20, "NetPrice": 35, "GrossPrice": 35, "CommodityPrice": 20,
            "DiscountValue": 0, "FreightValue": 15, "IncreaseValue": 0,
            "IntermediaryCode": "000001", "PresencialIndicator": "1",
            "ListOfSaleItem": {"SaleItem": [{
                "ItemOrder": 1, "ItemCode": "P001", "WarehouseInternalId": "01",
                "Quantity": 2, "ItemTablePrice": 10, "UnitPrice": 10, "ItemPrice": 20,
                "DiscountAmount": 0, "FreightValueProrated": 15, "IncreaseValueProrated": 0,
                "OperationCode": "01", "ItemReserveInternalId": "R-1", "ItemDeliveryType": "3",
                "ItemDeliveryDate": "2022-04-02T10:00:00", "LotNumber": "L1", "SubLotNumber": "A",
                "SeriesItem": "SN-9", "AddressItem": "R1-P2", "ItemCarrierCode": "01"
            }]},
            "ListOfSaleCondition": {"SaleCondition": [{
                "PaymentValue": 35, "PaymentMethodCode": "CC", "FinancialManagerCode": "CAR",
                "DateOfPayment": "2021-06-18", "UniqueSerialNumber": "745492", "EftParcel": "1",
                "EftDate": "2020-11-26T13:45:02", "EftAutorization": "123456789",
                "EftInstitute": "VISA", "EftDocument": "9985"
            }]}
        })
    }

    /// `valid()` with its single item's fields replaced by `item`.
    fn with_item(item: Value) -> Value {
        let mut content = valid();
        content["ListOfSaleItem"] = json!({"SaleItem": [item]});
        content
    }

    #[test]
    fn every_field_of_a_complete_sale_is_read() {
        let sale = sale(valid());
        assert_eq!(sale.internal_id.as_deref(), Some("S-1"));
        assert_eq!(sale.document_code.as_deref(), Some("000000595"));
        assert_eq!(sale.ecommerce_order.as_deref(), Some("1200873417041-01"));
        assert!(matches!(sale.issue_date, Some(Timestamp::Zoned(_))));
        assert_eq!(sale.issue_date_raw, None);
        assert_eq!(sale.customer.as_deref(), Some("C-1"));
        assert_eq!(sale.station, "EST01");
        assert_eq!(sale.operator, "OP1");
        assert_eq!(sale.carrier.as_deref(), Some("T-1"));
        assert_eq!(sale.sale_type.as_deref(), Some("V"));
        assert_eq!(sale.total_price, Some(dec("20")));
        assert_eq!(sale.net_price, Some(dec("35")));
        assert_eq!(sale.gross_price, Some(dec("35")));
        assert_eq!(sale.commodity_price, Some(dec("20")));
        assert_eq!(sale.discount_value, Decimal::ZERO);
        assert_eq!(sale.freight_value, dec("15"));
        assert_eq!(sale.increase_value, Decimal::ZERO);
        assert_eq!(sale.intermediary_code.as_deref(), Some("000001"));
        assert_eq!(sale.presencial_indicator.as_deref(), Some("1"));
        let [item] = sale.items.as_slice() else {
            panic!("one item expected, got {:?}", sale.items);
        };
        assert_eq!(
            *item,
            SaleItem {
                item_no: 1,
                path: "$.Content.ListOfSaleItem.SaleItem[0]".into(),
                product: Some("P001".into()),
                warehouse: Some("01".into()),
                quantity: Some(dec("2")),
                unit_price: Some(dec("10")),
                table_price: Some(dec("10")),
                item_price: Some(dec("20")),
                discount_amount: Decimal::ZERO,
                freight_prorated: dec("15"),
                increase_prorated: Decimal::ZERO,
                operation_code: Some("01".into()),
                reserve_internal_id: Some("R-1".into()),
                delivery_type: Some("3".into()),
                information: ItemInformation {
                    delivery_date: Some("2022-04-02T10:00:00".into()),
                    lot: Some("L1".into()),
                    sublot: Some("A".into()),
                    serial: Some("SN-9".into()),
                    address: Some("R1-P2".into()),
                    carrier: Some("01".into()),
                },
            }
        );
        let [payment] = sale.payments.as_slice() else {
            panic!("one payment expected, got {:?}", sale.payments);
        };
        assert_eq!(
            *payment,
            SalePayment {
                payment_no: 1,
                path: "$.Content.ListOfSaleCondition.SaleCondition[0]".into(),
                method: Some("CC".into()),
                financial_manager: Some("CAR".into()),
                value: Some(dec("35")),
                date: Timestamp::parse("2021-06-18").ok(),
                serial_number: Some("745492".into()),
                instalment: Some("1".into()),
                card: CardPayment {
                    authorization: Some("123456789".into()),
                    institute: Some("VISA".into()),
                    document: Some("9985".into()),
                    date: Some("2020-11-26T13:45:02".into()),
                },
            }
        );
    }

    #[test]
    fn fields_kept_as_sent_never_refuse_a_sale() {
        let mut content = valid();
        let long = "x".repeat(300);
        content["IntermediaryCode"] = json!(12);
        content["ListOfSaleItem"]["SaleItem"][0]["ItemDeliveryDate"] = json!("25/04/2020");
        content["ListOfSaleItem"]["SaleItem"][0]["AddressItem"] = json!(long);
        content["ListOfSaleItem"]["SaleItem"][0]["SeriesItem"] = json!({"n": 1});
        content["ListOfSaleCondition"]["SaleCondition"][0]["EftDate"] = json!("20201126");
        let sale = sale(content);
        assert_eq!(sale.intermediary_code.as_deref(), Some("12"));
        let information = &sale.items[0].information;
        assert_eq!(information.delivery_date.as_deref(), Some("25/04/2020"));
        assert_eq!(information.address.as_deref(), Some(long.as_str()));
        assert_eq!(information.serial.as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(sale.payments[0].card.date.as_deref(), Some("20201126"));
    }

    #[test]
    fn keys_match_in_any_case() {
        let sale = sale(json!({
            "internalid": "S-1", "NETPRICE": "10", "customervendorinternalid": "C",
            "listofsaleitem": {"saleitem": [{"itemcode": "P", "QUANTITY": 1, "unitprice": 10}]},
            "LISTOFSALECONDITION": {"SALECONDITION": [{"paymentvalue": 10}]}
        }));
        assert_eq!(sale.internal_id.as_deref(), Some("S-1"));
        assert_eq!(sale.net_price, Some(dec("10")));
        assert_eq!(sale.customer.as_deref(), Some("C"));
        assert_eq!(sale.items[0].product.as_deref(), Some("P"));
        assert_eq!(sale.items[0].item_price, Some(dec("10")));
        assert_eq!(sale.payments[0].value, Some(dec("10")));
    }

    #[test]
    fn customer_is_internal_id_else_customer_code_else_customer_vendor_code() {
        let all = json!({"CustomerVendorInternalId": "A", "CustomerCode": "B", "CustomerVendorCode": "C"});
        assert_eq!(sale(all).customer.as_deref(), Some("A"));
        let two =
            json!({"CustomerVendorInternalId": "", "CustomerCode": "B", "CustomerVendorCode": "C"});
        assert_eq!(sale(two).customer.as_deref(), Some("B"), "\"\" is absent");
        let last = json!({"CustomerVendorInternalId": null, "CustomerVendorCode": "C"});
        assert_eq!(sale(last).customer.as_deref(), Some("C"));
        assert_eq!(
            sale(json!({})).customer,
            None,
            "the domain says CUSTOMER_MISSING"
        );
    }

    #[test]
    fn station_falls_back_through_its_aliases_to_automatico() {
        let cases = [
            (
                json!({"StationSalePointInternalId": "A", "StationSalePointCode": "B", "StationCode": "C"}),
                "A",
            ),
            (
                json!({"StationSalePointCode": "B", "StationCode": "C"}),
                "B",
            ),
            (
                json!({"StationSalePointInternalId": " ", "StationCode": "C"}),
                "C",
            ),
            (json!({"StationSalePointInternalId": ""}), AUTOMATIC),
            (json!({}), "AUTOMATICO"),
        ];
        for (content, station) in cases {
            assert_eq!(sale(content.clone()).station, station, "{content}");
        }
    }

    #[test]
    fn operator_is_code_else_internal_id_else_automatico() {
        let both = json!({"OperatorCode": "A", "OperatorInternalId": "B"});
        assert_eq!(sale(both).operator, "A");
        assert_eq!(sale(json!({"OperatorInternalId": "B"})).operator, "B");
        assert_eq!(sale(json!({"OperatorCode": null})).operator, "AUTOMATICO");
    }

    #[test]
    fn carrier_is_internal_id_else_code() {
        let both = json!({"CarrierInternalId": "01", "CarrierCode": "02"});
        assert_eq!(sale(both).carrier.as_deref(), Some("01"));
        assert_eq!(
            sale(json!({"CarrierCode": "02"})).carrier.as_deref(),
            Some("02")
        );
        assert_eq!(sale(json!({})).carrier, None);
    }

    #[test]
    fn an_empty_content_reads_with_absent_fields_and_zero_amounts() {
        let sale = sale(json!({}));
        assert_eq!(sale.internal_id, None);
        assert_eq!(sale.document_code, None);
        assert_eq!(sale.issue_date, None);
        assert_eq!(sale.issue_date_raw, None);
        assert_eq!(
            (
                sale.total_price,
                sale.net_price,
                sale.gross_price,
                sale.commodity_price
            ),
            (None, None, None, None)
        );
        assert_eq!(
            (sale.discount_value, sale.freight_value, sale.increase_value),
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO)
        );
        assert!(sale.items.is_empty(), "the domain says ITEMS_MISSING");
        assert!(sale.payments.is_empty(), "the domain says PAYMENTS_MISSING");
    }

    #[test]
    fn item_product_and_warehouse_aliases() {
        let coded = with_item(
            json!({"ItemCode": "A", "ItemInternalId": "B", "WarehouseInternalId": "01", "WarehouseCode": "02"}),
        );
        let item = &sale(coded).items[0];
        assert_eq!(item.product.as_deref(), Some("A"));
        assert_eq!(item.warehouse.as_deref(), Some("01"));
        let internal = with_item(json!({"ItemInternalId": "B", "WarehouseCode": "02"}));
        let item = &sale(internal).items[0];
        assert_eq!(item.product.as_deref(), Some("B"));
        assert_eq!(item.warehouse.as_deref(), Some("02"));
        let bare = &sale(with_item(json!({})));
        assert_eq!(
            bare.items[0].product, None,
            "the domain says PRODUCT_NOT_FOUND"
        );
        assert_eq!(
            bare.items[0].warehouse, None,
            "the product's default warehouse"
        );
    }

    #[test]
    fn item_table_price_absent_or_zero_is_the_unit_price() {
        let cases = [
            (json!({"UnitPrice": 7.5}), Some("7.5")),
            (json!({"UnitPrice": 7.5, "ItemTablePrice": 0}), Some("7.5")),
            (
                json!({"UnitPrice": 7.5, "ItemTablePrice": "0,00"}),
                Some("7.5"),
            ),
            (json!({"UnitPrice": 7.5, "ItemTablePrice": ""}), Some("7.5")),
            (
                json!({"UnitPrice": 7.5, "ItemTablePrice": null}),
                Some("7.5"),
            ),
            (json!({"UnitPrice": 7.5, "ItemTablePrice": 10}), Some("10")),
            (json!({"ItemTablePrice": 10}), Some("10")),
            (json!({"ItemTablePrice": 0}), None),
            (json!({}), None),
        ];
        for (item, expected) in cases {
            let read = sale(with_item(item.clone())).items[0].table_price;
            assert_eq!(read, expected.map(dec), "{item}");
        }
    }

    #[test]
    fn item_price_absent_or_zero_is_quantity_times_unit_price() {
        let cases = [
            (json!({"Quantity": 5, "UnitPrice": 18.6}), Some("93")),
            (
                json!({"Quantity": 5, "UnitPrice": 18.6, "ItemPrice": 0}),
                Some("93"),
            ),
            (
                json!({"Quantity": "2,5", "UnitPrice": "0.1", "ItemPrice": "0.00"}),
                Some("0.25"),
            ),
            (
                json!({"Quantity": 5, "UnitPrice": 18.6, "ItemPrice": 88}),
                Some("88"),
            ),
            (json!({"Quantity": 5, "ItemPrice": 88}), Some("88")),
            (json!({"Quantity": 5}), None),
            (json!({"UnitPrice": 18.6, "ItemPrice": 0}), None),
            (json!({"ItemPrice": 0}), None),
        ];
        for (item, expected) in cases {
            let read = sale(with_item(item.clone())).items[0].item_price;
            assert_eq!(read, expected.map(dec), "{item}");
        }
    }

    #[test]
    fn computed_item_price_keeps_every_digit() {
        let item = &sale(with_item(json!({"Quantity": 3, "UnitPrice": "0.333"}))).items[0];
        assert_eq!(item.item_price.map(|p| p.to_string()), Some("0.999".into()));
    }

    #[test]
    fn an_item_price_beyond_the_decimal_range_is_an_invalid_field() {
        let huge = "79228162514264337593543950335";
        assert_eq!(
            problems(with_item(json!({"Quantity": huge, "UnitPrice": huge}))),
            [(
                Code::InvalidField,
                "$.Content.ListOfSaleItem.SaleItem[0].ItemPrice: expected ItemPrice, or Quantity × UnitPrice within the exact decimal range, got null"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn items_are_numbered_one_to_n_ignoring_item_order() {
        let items: Vec<Value> = (0..150)
            .map(|index| {
                let mut item =
                    json!({"ItemCode": format!("P{index}"), "Quantity": 1, "UnitPrice": 1});
                match index % 3 {
                    0 => item["ItemOrder"] = json!(1),
                    1 => item["ItemOrder"] = json!(format!("{}", 500 - index)),
                    _ => {}
                }
                item
            })
            .collect();
        let mut content = valid();
        content["ListOfSaleItem"] = json!({"SaleItem": items});
        let sale = sale(content);
        assert_eq!(sale.items.len(), 150);
        for (index, item) in sale.items.iter().enumerate() {
            assert_eq!(item.item_no as usize, index + 1);
            assert_eq!(item.product, Some(format!("P{index}")));
            assert_eq!(
                item.path,
                format!("$.Content.ListOfSaleItem.SaleItem[{index}]")
            );
        }
    }

    #[test]
    fn cancelled_items_are_dropped_and_the_rest_renumbered() {
        let mut content = valid();
        content["ListOfSaleItem"] = json!({"SaleItem": [
            {"ItemCode": "A", "ItemOrder": 1, "IsCanceled": false},
            {"ItemCode": "B", "ItemOrder": 2, "IsCanceled": true},
            {"ItemCode": "C", "ItemOrder": 3, "IsCanceled": "S"},
            {"ItemCode": "D", "ItemOrder": 4, "IsCanceled": "N"},
            {"ItemCode": "E", "ItemOrder": 5, "IsCanceled": 1, "Quantity": "not read"},
            {"ItemCode": "F", "ItemOrder": 6}
        ]});
        let sale = sale(content);
        let kept: Vec<(u32, Option<&str>, &str)> = sale
            .items
            .iter()
            .map(|item| (item.item_no, item.product.as_deref(), item.path.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                (1, Some("A"), "$.Content.ListOfSaleItem.SaleItem[0]"),
                (2, Some("D"), "$.Content.ListOfSaleItem.SaleItem[3]"),
                (3, Some("F"), "$.Content.ListOfSaleItem.SaleItem[5]"),
            ]
        );
    }

    #[test]
    fn lists_come_wrapped_plain_or_as_a_single_wrapped_object() {
        let mut plain = valid();
        plain["ListOfSaleItem"] = json!([{"ItemCode": "A"}, {"ItemCode": "B"}]);
        plain["ListOfSaleCondition"] = json!([{"PaymentValue": 1}, {"PaymentValue": 2}]);
        let sale_plain = sale(plain);
        assert_eq!(sale_plain.items.len(), 2);
        assert_eq!(sale_plain.items[1].item_no, 2);
        assert_eq!(sale_plain.items[1].path, "$.Content.ListOfSaleItem[1]");
        assert_eq!(sale_plain.payments.len(), 2);
        assert_eq!(sale_plain.payments[1].payment_no, 2);
        assert_eq!(
            sale_plain.payments[1].path,
            "$.Content.ListOfSaleCondition[1]"
        );

        let mut single = valid();
        single["ListOfSaleItem"] = json!({"SaleItem": {"ItemCode": "A"}});
        single["ListOfSaleCondition"] = json!({"SaleCondition": {"PaymentValue": 1}});
        let sale_single = sale(single);
        assert_eq!(
            sale_single.items[0].path,
            "$.Content.ListOfSaleItem.SaleItem"
        );
        assert_eq!(
            sale_single.payments[0].path,
            "$.Content.ListOfSaleCondition.SaleCondition"
        );

        let mut empty = valid();
        empty["ListOfSaleItem"] = json!({"SaleItem": []});
        empty["ListOfSaleCondition"] = Value::Null;
        let sale_empty = sale(empty);
        assert!(sale_empty.items.is_empty());
        assert!(sale_empty.payments.is_empty());
    }

    #[test]
    fn numbers_may_be_strings_with_either_separator() {
        let mut content = valid();
        content["NetPrice"] = json!("885");
        content["IncreaseValue"] = json!("50,00");
        content["ListOfSaleItem"] = json!({"SaleItem": [
            {"Quantity": "1", "UnitPrice": "700", "IncreaseValueProrated": "41,92"},
            {"Quantity": "1", "UnitPrice": "135.0", "IncreaseValueProrated": "8.08"}
        ]});
        content["ListOfSaleCondition"] = json!({"SaleCondition": [{"PaymentValue": "885"}]});
        let sale = sale(content);
        assert_eq!(sale.net_price, Some(dec("885")));
        assert_eq!(sale.increase_value, dec("50"));
        assert_eq!(sale.items[0].increase_prorated, dec("41.92"));
        assert_eq!(sale.items[1].increase_prorated, dec("8.08"));
        let increase: Decimal = sale.items.iter().map(|i| i.increase_prorated).sum();
        assert_eq!(increase, sale.increase_value);
        assert_eq!(sale.items[0].item_price, Some(dec("700")));
        assert_eq!(sale.payments[0].value, Some(dec("885")));
    }

    #[test]
    fn payment_method_is_code_else_internal_id_and_lines_are_numbered() {
        let mut content = valid();
        content["ListOfSaleCondition"] = json!({"SaleCondition": [
            {"PaymentMethodCode": "CC", "PaymentMethodInternalId": "X", "PaymentValue": 25, "EftParcel": "1",
             "DateOfPayment": "2020-11-26T00:00:00"},
            {"PaymentMethodInternalId": "CC", "PaymentValue": 25, "EftParcel": 2},
            {"PaymentMethodCode": "R$", "FinancialManagerCode": "", "UniqueSerialNumber": null}
        ]});
        let payments = sale(content).payments;
        let read: Vec<(u32, Option<&str>, Option<&str>)> = payments
            .iter()
            .map(|p| (p.payment_no, p.method.as_deref(), p.instalment.as_deref()))
            .collect();
        assert_eq!(
            read,
            [
                (1, Some("CC"), Some("1")),
                (2, Some("CC"), Some("2")),
                (3, Some("R$"), None)
            ]
        );
        assert!(matches!(payments[0].date, Some(Timestamp::Local(_))));
        assert_eq!(payments[2].financial_manager, None);
        assert_eq!(payments[2].serial_number, None);
        assert_eq!(
            payments[2].value, None,
            "the domain says PAYMENT_VALUE_INVALID"
        );
    }

    #[test]
    fn an_unparseable_issue_date_is_kept_raw_for_the_domain() {
        let cases = [
            (json!("30/03/2022"), None, Some("30/03/2022")),
            (json!(" 2022-13-45 "), None, Some("2022-13-45")),
            (json!(20220330), None, Some("20220330")),
            (json!(true), None, Some("true")),
            (json!({"d": 1}), None, Some(r#"{"d":1}"#)),
            (json!("   "), None, None),
            (Value::Null, None, None),
            (
                json!("2021-06-18"),
                Timestamp::parse("2021-06-18").ok(),
                None,
            ),
        ];
        for (value, parsed, raw) in cases {
            let mut content = valid();
            content["IssueDateDocument"] = value.clone();
            let sale = sale(content);
            assert_eq!(sale.issue_date, parsed, "{value}");
            assert_eq!(sale.issue_date_raw.as_deref(), raw, "{value}");
        }
    }

    #[test]
    fn every_type_error_is_reported_at_once_with_its_path() {
        let content = json!({
            "DocumentCode": ["x"],
            "CustomerVendorInternalId": {"id": 1},
            "NetPrice": "1.234,5",
            "FreightValue": true,
            "ListOfSaleItem": {"SaleItem": [
                {"ItemCode": "A", "Quantity": "abc", "UnitPrice": [1]},
                "not an item",
                {"ItemCode": "B", "IsCanceled": "maybe", "DiscountAmount": "5%"}
            ]},
            "ListOfSaleCondition": "CC"
        });
        let found = problems(content);
        assert!(
            found.iter().all(|(code, _)| *code == Code::InvalidField),
            "{found:?}"
        );
        let paths: Vec<&str> = found
            .iter()
            .filter_map(|(_, message)| message.split(": ").next())
            .collect();
        assert_eq!(
            paths,
            [
                "$.Content.DocumentCode",
                "$.Content.CustomerVendorInternalId",
                "$.Content.NetPrice",
                "$.Content.FreightValue",
                "$.Content.ListOfSaleItem.SaleItem[0].Quantity",
                "$.Content.ListOfSaleItem.SaleItem[0].UnitPrice",
                "$.Content.ListOfSaleItem.SaleItem[1]",
                "$.Content.ListOfSaleItem.SaleItem[2].IsCanceled",
                "$.Content.ListOfSaleItem.SaleItem[2].DiscountAmount",
                "$.Content.ListOfSaleCondition",
            ]
        );
        assert_eq!(
            found[6].1,
            "$.Content.ListOfSaleItem.SaleItem[1]: expected an object, got \"not an item\""
        );
        assert_eq!(
            found[9].1,
            "$.Content.ListOfSaleCondition: expected a list, got \"CC\""
        );
    }

    #[test]
    fn a_malformed_alias_is_reported_not_replaced() {
        let content = json!({"StationSalePointInternalId": false, "StationCode": "C"});
        assert_eq!(
            problems(content),
            [(
                Code::InvalidField,
                "$.Content.StationSalePointInternalId: expected a string, got false".to_owned()
            )]
        );
    }

    #[test]
    fn delete_is_event_not_supported_naming_content_event() {
        let content = valid();
        let details = RetailSale::from_content(
            &Node::at(&Json::from(&content), "$.Content".to_owned()),
            Event::Delete,
        )
        .expect_err("refused");
        let [detail] = details.as_slice() else {
            panic!("one detail expected, got {details:?}");
        };
        assert_eq!(detail.code, Code::EventNotSupported);
        assert!(detail.is_error());
        assert!(
            detail.message.starts_with("$.Content.Event: "),
            "{}",
            detail.message
        );
        assert!(
            detail.message.contains("RetailSalesCancellation"),
            "{}",
            detail.message
        );
    }
}
