//! A RetailSales judged against master data (SPEC §5): every error at once,
//! the warnings, and — only when nothing is wrong — the plan the store persists.
//!
//! The store reads the rows one sale can name into a [`SaleMasterData`] and
//! calls [`judge`]; nothing here touches a database or a clock, so each rule
//! is tested with plain values. Items are normalised first (`ItemTablePrice`
//! absent or zero → `UnitPrice`; `ItemPrice` absent or zero → `Quantity ×
//! UnitPrice`, an `INVALID_FIELD` on `ItemPrice` when that product is beyond
//! the decimal range), so the rules read the same numbers whether or not the
//! parser already normalised them. No number panics: every sum and product
//! is checked, and one beyond the range is reported by the rule it serves.
//!
//! Errors come in a fixed order: header fields, then each item in item order,
//! then the reservations, then each payment, then the totals. A check whose
//! inputs are missing or already wrong is skipped rather than reported twice
//! (an unknown product gets `PRODUCT_NOT_FOUND`, not also `TES_NOT_FOUND`).
//!
//! # Layout
//!
//! - `mod.rs` (this file): the master data and verdict types and [`judge`].
//! - `header`: document, station, operator, customer, carrier, issue date,
//!   the header prices and the presence of items and payments.
//! - `items`: each item normalised and resolved: product, quantity, unit
//!   price, operation code, TES, warehouse.
//! - `lots`: the items checked against their reservations and given the
//!   reserved lots (greedy, in line order).
//! - `payments`: each payment line: method, value, financial manager.
//! - `totals`: the money identities (errors) and the seed's header
//!   definitions (warnings), with the messages that show both sides.
//! - `receivables`: the sale's status, the planned payments and their
//!   receivables (due dates and debtors).

mod header;
mod items;
mod lots;
mod payments;
mod receivables;
mod totals;

use std::collections::HashMap;

use chrono::NaiveDate;
use eai_protocol::{CardPayment, Detail, ItemInformation, RetailSale};
use rust_decimal::Decimal;

use crate::mapping::Directory;

/// JSON path of the sale's content, the prefix of every header message.
const CONTENT: &str = "$.Content";

/// Everything the store read for one sale (only the rows this sale can name).
#[derive(Debug, Clone, Default)]
pub struct SaleMasterData {
    /// Sender-namespace mappings for Customer, Station, Operator, Carrier,
    /// PaymentMethod, FinancialManager, Product, Warehouse and Operation, plus
    /// the internal codes of each entity that exist (the branch's own stations
    /// and warehouses). Operators and carriers are checked only here: a code
    /// (or a mapping's target) must be registered with `add_internal`.
    pub directory: Directory,
    /// The branch's closing date: the issue date must be after it.
    pub closed_until: Option<NaiveDate>,
    /// Branch parameter `MV_LJIFPLI`: payment methods whose sales are released.
    pub released_payment_methods: Vec<String>,
    /// Products by internal code.
    pub products: HashMap<String, SaleProduct>,
    /// Customers by internal code → blocked.
    pub customers: HashMap<String, bool>,
    /// The branch's stations by internal code → invoice series.
    pub stations: HashMap<String, String>,
    /// Payment methods by internal code → requires a financial manager.
    pub payment_methods: HashMap<String, bool>,
    /// Financial managers (card administrators) by internal code.
    pub financial_managers: HashMap<String, FinancialManager>,
    /// Operation rules ("TES Inteligente"): internal operation code → TES.
    pub operations: HashMap<String, String>,
    /// Reservations by the sender's `ItemReserveInternalId`; an absent key
    /// means that reservation was never integrated.
    pub reservations: HashMap<String, ReservationInfo>,
    /// `DocumentCode` is already used by a sale of this branch.
    pub document_used: bool,
    /// Largest accepted difference in the totals checks (default 0.00).
    pub tolerance: Decimal,
}

/// What a sale needs to know of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleProduct {
    pub code: String,
    pub blocked: bool,
    /// The product's own TES (`B1_TS`); wins over the operation rule.
    pub tes: Option<String>,
    pub default_warehouse: Option<String>,
}

/// A card administrator: its days move each due date, own financing makes
/// the customer the debtor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinancialManager {
    pub code: String,
    pub days: i32,
    pub own_financing: bool,
}

/// A reservation an item names, with its lines in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationInfo {
    pub id: i64,
    pub number: String,
    /// `active`, `used`, `cancelled` or `expired`.
    pub status: String,
    pub lines: Vec<ReservedLot>,
}

/// One reservation line: a lot, or (`lot_id` `None`) a back-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedLot {
    pub product: String,
    pub warehouse: String,
    pub lot_id: Option<i64>,
    pub lot: String,
    pub sublot: String,
    pub quantity: Decimal,
}

/// The outcome of [`judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct SaleVerdict {
    pub errors: Vec<Detail>,
    pub warnings: Vec<Detail>,
    /// `ItemReserveInternalId`s absent from [`SaleMasterData::reservations`]:
    /// the reservation may not have arrived yet (the caller may retry later).
    /// Each also has a `RESERVE_NOT_FOUND` error.
    pub missing_reservations: Vec<String>,
    /// The sale's only errors are those `RESERVE_NOT_FOUND`s: it may wait for
    /// its reservations. A sale with errors of its own is answered at once.
    pub may_wait: bool,
    /// `Some` only when `errors` is empty.
    pub plan: Option<SalePlan>,
}

/// Whether the sale may be invoiced at once or waits for its payment (`MV_LJIFPLI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleStatus {
    Released,
    CreditBlocked,
}

impl SaleStatus {
    /// The `sales.status` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Released => "released",
            SaleStatus::CreditBlocked => "credit_blocked",
        }
    }
}

/// Who owes a receivable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebtorKind {
    FinancialManager,
    Customer,
}

impl DebtorKind {
    /// The `receivables.debtor_kind` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            DebtorKind::FinancialManager => "financial_manager",
            DebtorKind::Customer => "customer",
        }
    }
}

/// What the store writes for an accepted sale, with internal codes throughout.
#[derive(Debug, Clone, PartialEq)]
pub struct SalePlan {
    pub customer: String,
    pub station: String,
    pub series: String,
    pub operator: String,
    pub carrier: Option<String>,
    pub issue_date: NaiveDate,
    pub status: SaleStatus,
    pub items: Vec<PlannedItem>,
    pub payments: Vec<PlannedPayment>,
    pub receivables: Vec<Receivable>,
    /// Ids of the reservations the sale consumes, sorted and deduplicated.
    pub reservations_used: Vec<i64>,
}

/// One normalised, resolved item.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedItem {
    pub item_no: u32,
    pub product: String,
    /// The item's warehouse, else its reservation's, else the product's default.
    pub warehouse: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub table_price: Decimal,
    pub item_price: Decimal,
    pub discount_amount: Decimal,
    pub freight_prorated: Decimal,
    pub increase_prorated: Decimal,
    /// The internal operation code when de/para resolves it, else as received.
    pub operation_code: String,
    pub tes: String,
    pub reservation_id: Option<i64>,
    /// The reserved lots this item takes (empty without a reservation).
    pub lots: Vec<ItemLot>,
    /// `ItemDeliveryType`, as sent.
    pub delivery_type: Option<String>,
    /// The 2.010 item fields, as sent.
    pub information: ItemInformation,
}

/// A quantity an item takes from one reservation line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLot {
    /// `None` for a back-order line.
    pub lot_id: Option<i64>,
    pub lot: String,
    pub sublot: String,
    pub quantity: Decimal,
}

/// One payment line with internal codes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPayment {
    pub payment_no: u32,
    pub method: String,
    pub financial_manager: Option<String>,
    pub value: Decimal,
    /// `DateOfPayment`, else the issue date.
    pub date: NaiveDate,
    pub serial_number: Option<String>,
    pub instalment: Option<String>,
    /// The card data, as sent.
    pub card: CardPayment,
}

/// One receivable (title), one per payment line.
#[derive(Debug, Clone, PartialEq)]
pub struct Receivable {
    pub payment_no: u32,
    pub debtor_kind: DebtorKind,
    pub debtor: String,
    pub amount: Decimal,
    pub due_date: NaiveDate,
}

/// Judges a sale: collects every error (not just the first) and every
/// warning, and plans the persistence when there is no error.
pub fn judge(sale: &RetailSale, master: &SaleMasterData) -> SaleVerdict {
    let mut errors = Vec::new();
    let header = header::check(sale, master, &mut errors);
    let items = items::check(sale, master, &mut errors);
    let mut missing = lots::Missing::default();
    let taken = lots::check(&items, master, &mut errors, &mut missing);
    let payments = payments::check(sale, master, &mut errors);
    totals::check(sale, &items, master.tolerance, &mut errors);
    let warnings = totals::warnings(sale, &items, master.tolerance);
    let plan = if errors.is_empty() {
        plan(&header, &items, &taken, &payments, master)
    } else {
        None
    };
    SaleVerdict {
        may_wait: !missing.reservations.is_empty() && errors.len() == missing.errors,
        errors,
        warnings,
        missing_reservations: missing.reservations,
        plan,
    }
}

/// Assembles the plan from parts that are all resolved once no error was found.
fn plan(
    header: &header::Header,
    items: &[items::CheckedItem<'_>],
    taken: &[lots::Taken],
    payments: &[payments::CheckedPayment<'_>],
    master: &SaleMasterData,
) -> Option<SalePlan> {
    let customer = header.customer.clone()?;
    let issue_date = header.issue_date?;
    let (station, series) = header.station.clone()?;
    let planned_items = items
        .iter()
        .zip(taken)
        .map(|(item, taken)| item.plan(taken))
        .collect::<Option<Vec<_>>>()?;
    let planned_payments = receivables::plan_payments(payments, issue_date)?;
    let mut reservations_used: Vec<i64> = taken.iter().filter_map(|t| t.reservation_id).collect();
    reservations_used.sort_unstable();
    reservations_used.dedup();
    Some(SalePlan {
        status: receivables::status(&planned_payments, &master.released_payment_methods),
        receivables: receivables::receivables(&planned_payments, payments, &customer),
        customer,
        station,
        series,
        operator: header.operator.clone()?,
        carrier: header.carrier.clone()?,
        issue_date,
        items: planned_items,
        payments: planned_payments,
        reservations_used,
    })
}

/// The text of an optional field, `None` when absent or blank (senders
/// write `""` for "not informed"). Not trimmed: codes are looked up exactly
/// as the store loaded them.
fn informed(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.trim().is_empty())
}
