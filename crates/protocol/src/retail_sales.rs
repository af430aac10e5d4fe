//! The RetailSales content model (SPEC §5): the wire shape of a sale and its
//! normalisation, without business rules — presence and consistency are the
//! domain's to judge, so every field the rules read is kept as received.

use rust_decimal::Decimal;

use crate::timestamp::Timestamp;

/// One sale as received, after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct RetailSale {
    pub internal_id: Option<String>,
    pub document_code: Option<String>,
    pub ecommerce_order: Option<String>,
    pub issue_date: Option<Timestamp>,
    /// The text of `IssueDateDocument` when present but unparseable (the domain answers `ISSUE_DATE_INVALID`).
    pub issue_date_raw: Option<String>,
    pub customer: Option<String>,
    pub station: String,
    pub operator: String,
    pub carrier: Option<String>,
    pub sale_type: Option<String>,
    pub total_price: Option<Decimal>,
    pub net_price: Option<Decimal>,
    pub gross_price: Option<Decimal>,
    pub commodity_price: Option<Decimal>,
    pub discount_value: Decimal,
    pub freight_value: Decimal,
    pub increase_value: Decimal,
    pub items: Vec<SaleItem>,
    pub payments: Vec<SalePayment>,
}

/// One item of a sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleItem {
    pub item_no: u32,
    pub path: String,
    pub product: Option<String>,
    pub warehouse: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub table_price: Option<Decimal>,
    pub item_price: Option<Decimal>,
    pub discount_amount: Decimal,
    pub freight_prorated: Decimal,
    pub increase_prorated: Decimal,
    pub operation_code: Option<String>,
    pub reserve_internal_id: Option<String>,
    pub delivery_type: Option<String>,
}

/// One payment line (a method, or one instalment of it).
#[derive(Debug, Clone, PartialEq)]
pub struct SalePayment {
    pub payment_no: u32,
    pub path: String,
    pub method: Option<String>,
    pub financial_manager: Option<String>,
    pub value: Option<Decimal>,
    pub date: Option<Timestamp>,
    pub serial_number: Option<String>,
    pub instalment: Option<String>,
}
