//! An ItemReserve resolved against master data, then planned lot by lot.
//!
//! Two pure steps bracket the store's row locks: [`ReservationRequest::resolve`]
//! turns the envelope's external codes into products and warehouses (or coded
//! errors), and [`ReservationRequest::plan`] spends the locked lots' free stock
//! in FEFO order. Items are planned in envelope order against a running copy
//! of the stock, so two items of one envelope never count the same free
//! quantity twice.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use eai_protocol::{Code, Detail, ItemReserve};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::fefo::{allocate, candidates, LotStock};
use crate::mapping::{Directory, Entity};

/// What the store knows of a product that a reservation cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    pub code: String,
    pub blocked: bool,
    pub default_warehouse: Option<String>,
}

/// One item, resolved to internal codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedItem {
    /// JSON path of the item in the envelope, for error messages.
    pub path: String,
    /// The code the sender used, echoed back in shortfall details.
    pub item_code: String,
    pub product: String,
    pub warehouse: String,
    pub quantity: Decimal,
    pub lot: Option<String>,
    pub sublot: Option<String>,
    pub issue_date: NaiveDate,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The items of a reservation after de/para.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub items: Vec<RequestedItem>,
}

/// One reservation line to write: a lot and a quantity, or an unlotted back-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLine {
    /// Index into [`ReservationRequest::items`].
    pub item: usize,
    pub product: String,
    pub warehouse: String,
    /// `None` for the back-order line of a branch that reserves without stock.
    pub lot_id: Option<i64>,
    pub lot: String,
    pub sublot: String,
    pub quantity: Decimal,
}

/// Every line of a reservation, in item order then FEFO order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub lines: Vec<PlannedLine>,
}

impl Plan {
    /// The total to add to each lot's reserved quantity.
    pub fn reserved_by_lot(&self) -> Vec<(i64, Decimal)> {
        let mut totals: Vec<(i64, Decimal)> = Vec::new();
        for line in &self.lines {
            let Some(lot_id) = line.lot_id else { continue };
            match totals.iter_mut().find(|(id, _)| *id == lot_id) {
                Some((_, total)) => *total += line.quantity,
                None => totals.push((lot_id, line.quantity)),
            }
        }
        totals.sort_by_key(|(id, _)| *id);
        totals
    }
}

/// A candidate lot as the TOTVS `DetailedMessage` of a shortfall lists it.
#[derive(Debug, Serialize)]
struct AvailableLot<'a> {
    #[serde(rename = "ItemCode")]
    item_code: &'a str,
    #[serde(rename = "WarehouseCode")]
    warehouse_code: &'a str,
    #[serde(rename = "LotNumber")]
    lot_number: &'a str,
    #[serde(rename = "SubLotNumber")]
    sublot_number: &'a str,
    #[serde(rename = "ExpirationDate")]
    expiration_date: Option<String>,
    #[serde(
        rename = "AvailableStockAmount",
        with = "rust_decimal::serde::arbitrary_precision"
    )]
    available: Decimal,
}

impl ReservationRequest {
    /// Resolves products and warehouses through de/para; every failure becomes a coded detail.
    ///
    /// `directory` must hold the Product and Warehouse mappings of the sender's
    /// namespace and the internal warehouse codes of the reservation's branch;
    /// `products` the rows of every product those codes may resolve to.
    /// Items marked `IsCanceled` are left out.
    pub fn resolve(
        reserve: &ItemReserve,
        directory: &Directory,
        products: &HashMap<String, ProductInfo>,
        today: NaiveDate,
    ) -> Result<ReservationRequest, Vec<Detail>> {
        let mut errors = Vec::new();
        let mut items = Vec::new();
        for item in reserve.items.iter().filter(|item| !item.is_canceled) {
            let product = directory
                .resolve(Entity::Product, &item.item_code)
                .and_then(|code| products.get(code));
            let Some(product) = product else {
                errors.push(Detail::error(
                    Code::ProductNotFound,
                    format!(
                        "{}.ItemCode: product '{}' has no de/para mapping and is not a product code",
                        item.path, item.item_code
                    ),
                ));
                continue;
            };
            if product.blocked {
                errors.push(Detail::error(
                    Code::ProductBlocked,
                    format!(
                        "{}.ItemCode: product {} is blocked",
                        item.path, product.code
                    ),
                ));
                continue;
            }
            let warehouse = match &item.warehouse {
                Some(external) => directory.resolve(Entity::Warehouse, external),
                None => product
                    .default_warehouse
                    .as_deref()
                    .and_then(|code| directory.resolve(Entity::Warehouse, code)),
            };
            let Some(warehouse) = warehouse else {
                let named = item
                    .warehouse
                    .clone()
                    .or_else(|| product.default_warehouse.clone())
                    .unwrap_or_default();
                errors.push(Detail::error(
                    Code::WarehouseNotFound,
                    format!(
                        "{}.WarehouseCode: warehouse '{named}' is not a warehouse of the reservation's branch",
                        item.path
                    ),
                ));
                continue;
            };
            items.push(RequestedItem {
                path: item.path.clone(),
                item_code: item.item_code.clone(),
                product: product.code.clone(),
                warehouse: warehouse.to_owned(),
                quantity: item.quantity,
                lot: item.lot.clone(),
                sublot: item.sublot.clone(),
                issue_date: item.issue_date.map_or(today, |stamp| stamp.date()),
                expires_at: item.expiration.map(|stamp| stamp.to_utc()),
            });
        }
        if errors.is_empty() {
            Ok(ReservationRequest { items })
        } else {
            Err(errors)
        }
    }

    /// The `(product, warehouse)` pairs whose lots the store must lock.
    pub fn stock_keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .items
            .iter()
            .map(|item| (item.product.clone(), item.warehouse.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Spends the lots' free stock item by item.
    ///
    /// A shortfall anywhere rejects the whole reservation with one
    /// `LOT_INSUFFICIENT` per short item, unless `reserve_without_stock` lets
    /// the rest become a back-order line.
    pub fn plan(
        &self,
        lots: &[LotStock],
        reserve_without_stock: bool,
    ) -> Result<Plan, Vec<Detail>> {
        let mut stock: Vec<LotStock> = lots.to_vec();
        let mut plan = Plan::default();
        let mut errors = Vec::new();
        for (index, item) in self.items.iter().enumerate() {
            let pool: Vec<LotStock> = stock
                .iter()
                .filter(|lot| lot.product == item.product && lot.warehouse == item.warehouse)
                .filter(|lot| item.lot.as_ref().is_none_or(|wanted| &lot.lot == wanted))
                .filter(|lot| {
                    item.sublot
                        .as_ref()
                        .is_none_or(|wanted| &lot.sublot == wanted)
                })
                .cloned()
                .collect();
            if let Some(wanted) = &item.lot {
                if pool.is_empty() {
                    errors.push(Detail::error(
                        Code::LotNotFound,
                        format!(
                            "{}.LotNumber: lot '{wanted}' does not exist for product {} in warehouse {}",
                            item.path, item.product, item.warehouse
                        ),
                    ));
                    continue;
                }
                if pool.iter().all(|lot| lot.is_expired_on(item.issue_date)) {
                    errors.push(Detail::error(
                        Code::LotExpired,
                        format!(
                            "{}.LotNumber: lot '{wanted}' of product {} expired before {}",
                            item.path, item.product, item.issue_date
                        ),
                    ));
                    continue;
                }
            }
            let allocation = allocate(item.quantity, &pool, item.issue_date);
            if !allocation.shortfall.is_zero() && !reserve_without_stock {
                errors.push(shortfall_detail(item, &pool, allocation.shortfall));
                continue;
            }
            for take in &allocation.takes {
                let Some(lot) = stock.iter_mut().find(|lot| lot.id == take.lot_id) else {
                    continue;
                };
                lot.reserved += take.quantity;
                plan.lines.push(PlannedLine {
                    item: index,
                    product: item.product.clone(),
                    warehouse: item.warehouse.clone(),
                    lot_id: Some(lot.id),
                    lot: lot.lot.clone(),
                    sublot: lot.sublot.clone(),
                    quantity: take.quantity,
                });
            }
            if !allocation.shortfall.is_zero() {
                plan.lines.push(PlannedLine {
                    item: index,
                    product: item.product.clone(),
                    warehouse: item.warehouse.clone(),
                    lot_id: None,
                    lot: String::new(),
                    sublot: String::new(),
                    quantity: allocation.shortfall,
                });
            }
        }
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(errors)
        }
    }
}

/// `LOT_INSUFFICIENT` with the candidate lots and their free quantity as TOTVS JSON.
fn shortfall_detail(item: &RequestedItem, pool: &[LotStock], shortfall: Decimal) -> Detail {
    let lots: Vec<AvailableLot<'_>> = candidates(pool, item.issue_date)
        .into_iter()
        .map(|lot| AvailableLot {
            item_code: &item.product,
            warehouse_code: &item.warehouse,
            lot_number: &lot.lot,
            sublot_number: &lot.sublot,
            expiration_date: lot.expires_on.map(|day| day.to_string()),
            available: lot.free(),
        })
        .collect();
    let available = item.quantity - shortfall;
    let detailed = serde_json::json!({ "Item": lots }).to_string();
    Detail::error(
        Code::LotInsufficient,
        format!(
            "{}.Quantity: no lot can serve the requested quantity ({}) of product {} in warehouse {}; {} available. Check the stock by lot.",
            item.path, item.quantity, item.product, item.warehouse, available
        ),
    )
    .with_detailed_message(detailed)
}
