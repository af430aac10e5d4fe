//! A mixed stream of envelopes as a platform sends them — reservations, the
//! sales that consume them, some cancellations, some refused envelopes —
//! built on the seed 001 case 10.4.6 shapes, for the tests that push
//! thousands of envelopes through a worker.

use serde_json::{json, Value};

/// The product the stream sells (`P004` through the ECOMMERCE de/para).
pub const ITEM: &str = "d077bf8a-bbbb-4549-9b00-1a203cfe6650";

/// One envelope of a stream.
#[derive(Debug, Clone)]
pub struct StreamEnvelope {
    pub uuid: String,
    pub transaction: &'static str,
    pub body: Vec<u8>,
}

impl StreamEnvelope {
    fn new(transaction: &'static str, envelope: Value) -> StreamEnvelope {
        StreamEnvelope {
            uuid: envelope["Header"]["UUID"]
                .as_str()
                .expect("stream envelopes have a UUID")
                .to_owned(),
            transaction,
            body: envelope.to_string().into_bytes(),
        }
    }
}

/// Master data to import on top of the examples: enough stock of [`ITEM`]
/// for any stream.
pub fn bulk_stock() -> Value {
    json!({"lots": [{"branch": "D MG 01", "product": "P004", "warehouse": "01", "lot": "P4-BULK",
                     "sublot": "", "expires_on": "2099-12-31", "received_on": "2026-01-01",
                     "quantity": 1000000}]})
}

fn header(transaction: &str) -> Value {
    json!({"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
           "Transaction": transaction, "Version": "2.000", "SourceApplication": "ECOMMERCE",
           "ProductName": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01"})
}

/// An ItemReserve of `quantity` units of `item`.
pub fn reservation(internal_id: &str, item: &str, quantity: u32) -> Value {
    json!({"Header": header("ItemReserve"),
           "Content": {"InternalId": internal_id, "ReserveType": "VD", "DocumentReserve": internal_id,
                       "ReserveItemType": {"Item": [{"ItemCode": item, "WarehouseCode": "01",
                                                     "Quantity": quantity}]}}})
}

/// A sale of one unit of [`ITEM`] at 700.00 paid by card, consuming `reservation`.
pub fn sale(internal_id: &str, document: &str, reservation: &str) -> Value {
    json!({"Header": header("RetailSales"),
           "Content": {"InternalId": internal_id, "DocumentCode": document,
                       "IssueDateDocument": "2022-03-30T17:00:39+00:00",
                       "CustomerVendorInternalId": "c5a7a767-3bae-4f0c-af28-d1ed5ef58766",
                       "CarrierCode": "01", "StationSalePointInternalId": "AUTOMATICO",
                       "OperatorCode": "AUTOMATICO", "SaleType": "V",
                       "TotalPrice": 700, "NetPrice": 700, "GrossPrice": 700, "CommodityPrice": 700,
                       "DiscountValue": 0, "FreightValue": 0, "IncreaseValue": 0,
                       "ListOfSaleItem": {"SaleItem": [{
                           "ItemInternalId": ITEM, "ItemReserveInternalId": reservation,
                           "Quantity": 1, "UnitPrice": 700, "ItemPrice": 700,
                           "FreightValueProrated": 0, "IncreaseValueProrated": 0,
                           "OperationCode": "01"}]},
                       "ListOfSaleCondition": {"SaleCondition": [{
                           "DateOfPayment": "2022-03-30T00:00:00", "PaymentValue": "700",
                           "PaymentMethodCode": "CC", "FinancialManagerCode": "CARTAO"}]}}})
}

/// The cancellation of the sale integrated under `sale`.
pub fn cancellation(sale: &str) -> Value {
    json!({"Header": header("RetailSalesCancellation"),
           "Content": {"RetailSalesInternalId": sale, "CancelDate": "2022-03-31"}})
}

/// `pairs` reservation + sale pairs (`run` keeps the ids of two streams
/// apart); every tenth sale is cancelled and every seventh pair also brings
/// a reservation of an unknown product, refused with `PRODUCT_NOT_FOUND`.
pub fn mixed(run: &str, pairs: usize) -> Vec<StreamEnvelope> {
    let mut stream = Vec::new();
    for index in 0..pairs {
        let reserve_id = format!("{run}-r{index}");
        let sale_id = format!("{run}-s{index}");
        stream.push(StreamEnvelope::new(
            "ItemReserve",
            reservation(&reserve_id, ITEM, 1),
        ));
        stream.push(StreamEnvelope::new(
            "RetailSales",
            sale(&sale_id, &format!("{run}-{index}"), &reserve_id),
        ));
        if index % 10 == 9 {
            stream.push(StreamEnvelope::new(
                "RetailSalesCancellation",
                cancellation(&sale_id),
            ));
        }
        if index % 7 == 3 {
            stream.push(StreamEnvelope::new(
                "ItemReserve",
                reservation(&format!("{run}-bad{index}"), "no-such-product", 1),
            ));
        }
    }
    stream
}
