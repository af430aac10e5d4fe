//! Envelopes shaped on seed 001's case 10.4.6 (ECOMMERCE selling P004 in
//! company T1, branch D MG 01 of the example master data), for the store's
//! tests and the end-to-end ones alike.

use serde_json::{json, Value};

/// The product the envelopes sell (`P004` through the ECOMMERCE de/para).
pub const ITEM: &str = "d077bf8a-bbbb-4549-9b00-1a203cfe6650";

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
