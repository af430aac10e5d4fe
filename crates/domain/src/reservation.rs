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

use crate::exact::{self, Overflow};
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
    /// The item's 1-based position in the envelope (cancelled items count).
    pub item_no: usize,
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
    /// Σ quantity of the lines of each lot, in lot id order, added up
    /// exactly as the lines were planned.
    reserved: Vec<(i64, Decimal)>,
}

impl Plan {
    /// The total to add to each lot's reserved quantity, in lot id order
    /// (back-order lines hold no lot).
    pub fn reserved_by_lot(&self) -> Vec<(i64, Decimal)> {
        self.reserved.clone()
    }

    /// Counts `quantity` more against lot `lot_id`.
    fn reserve(&mut self, lot_id: i64, quantity: Decimal) -> Result<(), Overflow> {
        match self.reserved.binary_search_by_key(&lot_id, |(id, _)| *id) {
            Ok(index) => {
                let total = &mut self.reserved[index].1;
                *total = exact::add(*total, quantity)?;
            }
            Err(index) => self.reserved.insert(index, (lot_id, quantity)),
        }
        Ok(())
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
        let active = reserve
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.is_canceled);
        for (position, item) in active {
            if let Err(detail) = check_quantity(item.quantity, &item.path) {
                errors.push(detail);
                continue;
            }
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
            // A mapping may name a warehouse of another branch: only the
            // reservation branch's own warehouses count.
            let warehouse = item
                .warehouse
                .as_deref()
                .or(product.default_warehouse.as_deref())
                .and_then(|code| directory.resolve(Entity::Warehouse, code))
                .filter(|code| directory.is_internal(Entity::Warehouse, code));
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
                item_no: position + 1,
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
                // Near the edge of the decimal range a lot's free stock is
                // rounded, and a corrupt lot (reserved below zero) offers more
                // than it holds: both running sums are added up exactly or refused.
                let counted = exact::add(lot.reserved, take.quantity)
                    .map(|reserved| lot.reserved = reserved)
                    .and_then(|()| plan.reserve(lot.id, take.quantity));
                if let Err(overflow) = counted {
                    errors.push(Detail::error(
                        Code::QuantityInvalid,
                        format!(
                            "{}.Quantity: the quantities reserved from lot '{}' of product {} are {overflow}",
                            item.path, lot.lot, item.product
                        ),
                    ));
                }
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

/// Decimal places a stock quantity may have (the `numeric(18, 4)` columns).
pub const MAX_QUANTITY_SCALE: u32 = 4;

/// Digits before the decimal point a stock quantity may have: 18 − 4.
pub const MAX_QUANTITY_INTEGER_DIGITS: u32 = 14;

/// The stock precision and magnitude rules of an item's `Quantity`, shared
/// by ItemReserve and RetailSales: the `numeric(18, 4)` stock columns hold at
/// most [`MAX_QUANTITY_SCALE`] decimal places and
/// [`MAX_QUANTITY_INTEGER_DIGITS`] digits before the point. A quantity they
/// cannot hold is `QUANTITY_INVALID`, refused here rather than rounded or
/// left for the database to reject. Being positive is each caller's rule.
pub(crate) fn check_quantity(quantity: Decimal, path: &str) -> Result<(), Detail> {
    let limit = Decimal::from(10_i64.pow(MAX_QUANTITY_INTEGER_DIGITS));
    let problem = if quantity.normalize().scale() > MAX_QUANTITY_SCALE {
        format!(
            "{quantity} is finer than the stock precision (at most {MAX_QUANTITY_SCALE} decimal places)"
        )
    } else if quantity.abs() >= limit {
        format!(
            "{quantity} is too large for the stock (at most {MAX_QUANTITY_INTEGER_DIGITS} digits before the decimal point: less than {limit})"
        )
    } else {
        return Ok(());
    };
    Err(Detail::error(
        Code::QuantityInvalid,
        format!("{path}.Quantity: {problem}"),
    ))
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
    // Cannot overflow: the shortfall is part of the quantity (0 < shortfall ≤ quantity).
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

#[cfg(test)]
mod tests {
    use super::*;
    use eai_protocol::{ReserveItem, ReserveType, Timestamp};
    use proptest::prelude::*;

    const TODAY: &str = "2026-11-22";

    fn dec(units: i64) -> Decimal {
        Decimal::from(units)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn item_path(index: usize) -> String {
        format!("$.Content.ReserveItemType.Item[{index}]")
    }

    /// A lot of `product` in warehouse 01, received before any expiry.
    fn lot(
        id: i64,
        product: &str,
        code: (&str, &str),
        expires: Option<&str>,
        on_hand: i64,
        reserved: i64,
    ) -> LotStock {
        LotStock {
            id,
            product: product.into(),
            warehouse: "01".into(),
            lot: code.0.into(),
            sublot: code.1.into(),
            expires_on: expires.map(day),
            received_on: Some(day("2026-01-02")),
            on_hand: dec(on_hand),
            reserved: dec(reserved),
        }
    }

    /// Item `index` of the envelope: `quantity` of `product` in warehouse 01, issued today.
    fn item(index: usize, product: &str, quantity: i64) -> RequestedItem {
        RequestedItem {
            path: item_path(index),
            item_no: index + 1,
            product: product.into(),
            warehouse: "01".into(),
            quantity: dec(quantity),
            lot: None,
            sublot: None,
            issue_date: day(TODAY),
            expires_at: None,
        }
    }

    fn request(items: Vec<RequestedItem>) -> ReservationRequest {
        ReservationRequest { items }
    }

    /// `(item, lot_id, quantity)` of each planned line.
    fn takes(plan: &Plan) -> Vec<(usize, Option<i64>, Decimal)> {
        plan.lines
            .iter()
            .map(|line| (line.item, line.lot_id, line.quantity))
            .collect()
    }

    fn codes(details: &[Detail]) -> Vec<Code> {
        details.iter().map(|detail| detail.code).collect()
    }

    #[test]
    fn two_items_sharing_lots_never_count_the_same_free_stock_twice() {
        let lots = [
            lot(1, "P", ("A", ""), Some("2027-01-31"), 10, 2),
            lot(2, "P", ("B", ""), Some("2027-06-30"), 10, 0),
        ];
        let plan = request(vec![item(0, "P", 6), item(1, "P", 6)])
            .plan(&lots, false)
            .expect("18 free covers 12");
        assert_eq!(
            takes(&plan),
            vec![
                (0, Some(1), dec(6)),
                (1, Some(1), dec(2)),
                (1, Some(2), dec(4)),
            ]
        );
        assert_eq!(plan.reserved_by_lot(), vec![(1, dec(8)), (2, dec(4))]);

        let short = request(vec![item(0, "P", 10), item(1, "P", 10)])
            .plan(&lots, false)
            .expect_err("18 free cannot cover 20");
        assert_eq!(codes(&short), vec![Code::LotInsufficient]);
        assert!(short[0].message.starts_with(&item_path(1)), "{short:?}");
    }

    #[test]
    fn an_explicit_lot_and_sublot_reserve_from_that_sublot_only() {
        let lots = [
            lot(1, "P", ("L0", ""), Some("2027-01-31"), 50, 0),
            lot(2, "P", ("L1", "S1"), Some("2027-03-31"), 10, 0),
            lot(3, "P", ("L1", "S2"), Some("2027-06-30"), 10, 0),
            lot(4, "Q", ("L1", "S2"), Some("2027-01-01"), 10, 0),
        ];
        let sublot = RequestedItem {
            lot: Some("L1".into()),
            sublot: Some("S2".into()),
            ..item(0, "P", 3)
        };
        let plan = request(vec![sublot]).plan(&lots, false).expect("served");
        assert_eq!(takes(&plan), vec![(0, Some(3), dec(3))]);
        assert_eq!(
            (plan.lines[0].lot.as_str(), plan.lines[0].sublot.as_str()),
            ("L1", "S2")
        );

        let whole_lot = RequestedItem {
            lot: Some("L1".into()),
            ..item(0, "P", 12)
        };
        let plan = request(vec![whole_lot]).plan(&lots, false).expect("served");
        assert_eq!(
            takes(&plan),
            vec![(0, Some(2), dec(10)), (0, Some(3), dec(2))],
            "the lot's sub-lots in FEFO order, never L0 although it expires first"
        );
    }

    #[test]
    fn lot_not_found_and_lot_expired_name_the_item_path() {
        let lots = [
            lot(1, "P", ("OLD", ""), Some("2026-01-31"), 10, 0),
            lot(2, "P", ("NEW", ""), Some("2027-01-31"), 10, 0),
            lot(3, "Q", ("OTHER", ""), Some("2027-01-31"), 10, 0),
        ];
        let errors = request(vec![
            item(0, "P", 1),
            RequestedItem {
                lot: Some("NOPE".into()),
                ..item(1, "P", 1)
            },
            RequestedItem {
                lot: Some("OLD".into()),
                ..item(2, "P", 1)
            },
            RequestedItem {
                lot: Some("OTHER".into()),
                ..item(3, "P", 1)
            },
        ])
        .plan(&lots, false)
        .expect_err("bad lots");
        assert_eq!(
            codes(&errors),
            vec![Code::LotNotFound, Code::LotExpired, Code::LotNotFound]
        );
        for (detail, index) in errors.iter().zip([1, 2, 3]) {
            let path = format!("{}.LotNumber", item_path(index));
            assert!(detail.message.starts_with(&path), "{detail:?}");
            assert!(detail.is_error());
        }
    }

    #[test]
    fn an_explicit_lot_expiring_on_the_issue_date_is_still_valid() {
        let lots = [lot(1, "P", ("EDGE", ""), Some(TODAY), 10, 0)];
        let edge = RequestedItem {
            lot: Some("EDGE".into()),
            ..item(0, "P", 4)
        };
        let plan = request(vec![edge]).plan(&lots, false).expect("served");
        assert_eq!(takes(&plan), vec![(0, Some(1), dec(4))]);
    }

    #[test]
    fn reserving_without_stock_turns_the_shortfall_into_a_back_order_line() {
        let lots = [
            lot(1, "P", ("A", ""), Some("2027-01-31"), 10, 6),
            lot(2, "P", ("GONE", ""), Some("2026-01-01"), 10, 0),
        ];
        let plan = request(vec![item(0, "P", 10), item(1, "NOLOTS", 3)])
            .plan(&lots, true)
            .expect("a branch that reserves without stock never runs short");
        assert_eq!(
            takes(&plan),
            vec![(0, Some(1), dec(4)), (0, None, dec(6)), (1, None, dec(3))]
        );
        let back_order = &plan.lines[1];
        assert_eq!(
            (
                back_order.lot.as_str(),
                back_order.sublot.as_str(),
                back_order.product.as_str()
            ),
            ("", "", "P")
        );
        assert_eq!(plan.reserved_by_lot(), vec![(1, dec(4))]);

        let refused = request(vec![item(0, "P", 10)])
            .plan(&lots, false)
            .expect_err("no back-orders otherwise");
        assert_eq!(codes(&refused), vec![Code::LotInsufficient]);
    }

    #[test]
    fn reserved_by_lot_sums_each_lot_in_id_order_and_skips_back_orders() {
        // Lot 5 expires first, so FEFO takes it before lot 3.
        let lots = [
            lot(3, "P", ("LATE", ""), Some("2027-06-30"), 10, 0),
            lot(5, "P", ("NEAR", ""), Some("2027-01-31"), 10, 8),
        ];
        let plan = request(vec![item(0, "P", 3), item(1, "P", 4), item(2, "NOLOTS", 7)])
            .plan(&lots, true)
            .expect("served");
        assert_eq!(
            takes(&plan),
            vec![
                (0, Some(5), dec(2)),
                (0, Some(3), dec(1)),
                (1, Some(3), dec(4)),
                (2, None, dec(7)),
            ]
        );
        assert_eq!(plan.reserved_by_lot(), vec![(3, dec(5)), (5, dec(2))]);
        assert!(Plan::default().reserved_by_lot().is_empty());
    }

    #[test]
    fn a_shortfall_lists_only_unexpired_lots_with_free_stock_in_fefo_order() {
        let lots = [
            lot(1, "P", ("LATE", ""), None, 10, 8),
            lot(2, "P", ("FULL", ""), Some("2027-01-31"), 10, 10),
            lot(3, "P", ("EXPIRED", ""), Some("2026-11-21"), 10, 0),
            lot(4, "P", ("NEAR", "S1"), Some("2027-02-28"), 10, 7),
            lot(5, "Q", ("OTHER", ""), Some("2027-01-31"), 10, 0),
        ];
        let errors = request(vec![item(0, "P", 10)])
            .plan(&lots, false)
            .expect_err("5 free");
        assert_eq!(codes(&errors), vec![Code::LotInsufficient]);
        let detailed: serde_json::Value = serde_json::from_str(
            errors[0]
                .detailed_message
                .as_deref()
                .expect("a DetailedMessage"),
        )
        .expect("JSON");
        let listed = detailed["Item"].as_array().expect("Item list");
        let summary: Vec<(String, String, String, Decimal)> = listed
            .iter()
            .map(|entry| {
                (
                    entry["ItemCode"].as_str().unwrap_or_default().to_owned(),
                    entry["LotNumber"].as_str().unwrap_or_default().to_owned(),
                    entry["SubLotNumber"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    Decimal::from_str_exact(&entry["AvailableStockAmount"].to_string())
                        .expect("a decimal amount"),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("P".into(), "NEAR".into(), "S1".into(), dec(3)),
                ("P".into(), "LATE".into(), String::new(), dec(2)),
            ]
        );
        assert_eq!(listed[0]["WarehouseCode"], "01");
        assert_eq!(listed[0]["ExpirationDate"], "2027-02-28");
        assert!(errors[0].message.starts_with(&item_path(0)));
    }

    // -- resolve ----------------------------------------------------------

    fn reserve_item(index: usize, code: &str, warehouse: Option<&str>) -> ReserveItem {
        ReserveItem {
            path: item_path(index),
            item_code: code.into(),
            warehouse: warehouse.map(str::to_owned),
            quantity: dec(2),
            lot: None,
            sublot: None,
            expiration: None,
            issue_date: None,
            reserve_branch: None,
            is_canceled: false,
        }
    }

    fn item_reserve(items: Vec<ReserveItem>) -> ItemReserve {
        ItemReserve {
            internal_id: "R1".into(),
            reserve_type: Some(ReserveType::Vd),
            document_reserve: Some("DOC".into()),
            requester: None,
            request_branch: None,
            reserve_number: None,
            items,
        }
    }

    /// Products P1, P2 (default warehouse 01), P3 (no default), PB (blocked);
    /// warehouses 01 and 02; de/para EXT-1 → P1 and CENTRAL → 02.
    fn master() -> (Directory, HashMap<String, ProductInfo>) {
        let mut directory = Directory::default();
        let mut products = HashMap::new();
        for (code, blocked, default_warehouse) in [
            ("P1", false, Some("01")),
            ("P2", false, Some("01")),
            ("P3", false, None),
            ("PB", true, Some("01")),
        ] {
            directory.add_internal(Entity::Product, code);
            products.insert(
                code.to_owned(),
                ProductInfo {
                    code: code.into(),
                    blocked,
                    default_warehouse: default_warehouse.map(str::to_owned),
                },
            );
        }
        directory.add_internal(Entity::Warehouse, "01");
        directory.add_internal(Entity::Warehouse, "02");
        directory.add_mapping(Entity::Product, "EXT-1", "P1");
        directory.add_mapping(Entity::Warehouse, "CENTRAL", "02");
        (directory, products)
    }

    #[test]
    fn resolve_maps_codes_defaults_the_warehouse_and_leaves_out_canceled_items() {
        let (directory, products) = master();
        let canceled = ReserveItem {
            is_canceled: true,
            ..reserve_item(0, "UNKNOWN", Some("99"))
        };
        let issued = ReserveItem {
            issue_date: Some(Timestamp::Date(day("2026-12-01"))),
            ..reserve_item(2, "P2", Some("CENTRAL"))
        };
        let request = ReservationRequest::resolve(
            &item_reserve(vec![canceled, reserve_item(1, "EXT-1", None), issued]),
            &directory,
            &products,
            day(TODAY),
        )
        .expect("resolves");
        let resolved: Vec<(&str, usize, &str, &str, NaiveDate)> = request
            .items
            .iter()
            .map(|item| {
                (
                    item.path.as_str(),
                    item.item_no,
                    item.product.as_str(),
                    item.warehouse.as_str(),
                    item.issue_date,
                )
            })
            .collect();
        assert_eq!(
            resolved,
            vec![
                (
                    "$.Content.ReserveItemType.Item[1]",
                    2,
                    "P1",
                    "01",
                    day(TODAY)
                ),
                (
                    "$.Content.ReserveItemType.Item[2]",
                    3,
                    "P2",
                    "02",
                    day("2026-12-01")
                ),
            ]
        );
        assert_eq!(
            request.stock_keys(),
            vec![("P1".into(), "01".into()), ("P2".into(), "02".into())]
        );
    }

    #[test]
    fn resolve_reports_every_unknown_or_blocked_product_and_unknown_warehouse() {
        let (directory, products) = master();
        let errors = ReservationRequest::resolve(
            &item_reserve(vec![
                reserve_item(0, "NOPE", Some("01")),
                reserve_item(1, "PB", Some("01")),
                reserve_item(2, "P1", Some("99")),
                reserve_item(3, "P3", None),
                reserve_item(4, "P2", Some("01")),
            ]),
            &directory,
            &products,
            day(TODAY),
        )
        .expect_err("four bad items");
        assert_eq!(
            codes(&errors),
            vec![
                Code::ProductNotFound,
                Code::ProductBlocked,
                Code::WarehouseNotFound,
                Code::WarehouseNotFound,
            ]
        );
        for (detail, index) in errors.iter().zip(0..) {
            assert!(
                detail.message.starts_with(&item_path(index)),
                "{detail:?} names item {index}"
            );
        }
    }

    #[test]
    fn resolve_refuses_a_warehouse_mapped_outside_the_branch() {
        // The directory holds the branch's warehouses (01, 02); de/para that
        // names another warehouse must not slip through as if it existed.
        let (mut directory, products) = master();
        directory.add_mapping(Entity::Warehouse, "SOUTH", "03");
        let errors = ReservationRequest::resolve(
            &item_reserve(vec![reserve_item(0, "P1", Some("SOUTH"))]),
            &directory,
            &products,
            day(TODAY),
        )
        .expect_err("03 is not a warehouse of the branch");
        assert_eq!(codes(&errors), vec![Code::WarehouseNotFound]);
    }

    #[test]
    fn resolve_of_only_canceled_items_reports_nothing() {
        let (directory, products) = master();
        let canceled = ReserveItem {
            is_canceled: true,
            ..reserve_item(0, "PB", None)
        };
        let request = ReservationRequest::resolve(
            &item_reserve(vec![canceled]),
            &directory,
            &products,
            day(TODAY),
        )
        .expect("a canceled item is not checked");
        assert!(request.items.is_empty());
    }

    // -- properties ---------------------------------------------------------

    fn arb_lots() -> impl Strategy<Value = Vec<LotStock>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["A", "B"]),
                prop::sample::select(vec!["L1", "L2", "L3"]),
                prop::option::of(0u64..40),
                0i64..30,
                0i64..30,
            ),
            0..10,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(
                    |(index, (product, code, expiry, on_hand, reserved))| LotStock {
                        id: index as i64 + 1,
                        product: product.into(),
                        warehouse: "01".into(),
                        lot: code.into(),
                        sublot: format!("{index}"),
                        expires_on: expiry.map(|days| day("2026-11-02") + chrono::Days::new(days)),
                        received_on: None,
                        on_hand: dec(on_hand),
                        reserved: dec(reserved.min(on_hand)),
                    },
                )
                .collect()
        })
    }

    fn arb_items() -> impl Strategy<Value = Vec<RequestedItem>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["A", "B"]),
                1i64..40,
                prop::option::of(prop::sample::select(vec!["L1", "L2", "L3"])),
            ),
            1..5,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(index, (product, quantity, lot))| RequestedItem {
                    lot: lot.map(str::to_owned),
                    ..item(index, product, quantity)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn a_plan_serves_each_item_exactly_from_its_own_unexpired_lots_within_their_free_stock(
            lots in arb_lots(),
            items in arb_items(),
            without_stock in any::<bool>(),
        ) {
            let request = request(items);
            let today = day(TODAY);
            match request.plan(&lots, without_stock) {
                Ok(plan) => {
                    for (index, item) in request.items.iter().enumerate() {
                        let lines: Vec<&PlannedLine> =
                            plan.lines.iter().filter(|line| line.item == index).collect();
                        let total: Decimal = lines.iter().map(|line| line.quantity).sum();
                        prop_assert_eq!(total, item.quantity, "item {} is served exactly", index);
                        for line in lines {
                            prop_assert!(line.quantity > Decimal::ZERO);
                            prop_assert_eq!(&line.product, &item.product);
                            match line.lot_id {
                                None => prop_assert!(without_stock, "back-orders only when allowed"),
                                Some(id) => {
                                    let lot = lots.iter().find(|lot| lot.id == id).expect("a known lot");
                                    prop_assert_eq!(&lot.product, &item.product);
                                    prop_assert!(!lot.is_expired_on(today));
                                    if let Some(wanted) = &item.lot {
                                        prop_assert_eq!(&lot.lot, wanted);
                                    }
                                }
                            }
                        }
                    }
                    for (id, total) in plan.reserved_by_lot() {
                        let lot = lots.iter().find(|lot| lot.id == id).expect("a known lot");
                        prop_assert!(total <= lot.free(), "lot {} over-reserved: {} > {}", id, total, lot.free());
                    }
                }
                Err(details) => {
                    prop_assert!(!details.is_empty());
                    for detail in &details {
                        prop_assert!(
                            matches!(detail.code, Code::LotInsufficient | Code::LotNotFound | Code::LotExpired),
                            "unexpected {:?}", detail
                        );
                        if without_stock {
                            prop_assert!(detail.code != Code::LotInsufficient, "no shortfall when reserving without stock");
                        }
                    }
                }
            }
        }
    }
}
