//! The items checked against the reservations they name, and the reserved
//! lots each item takes.
//!
//! A reservation must exist, be active (not used, cancelled or expired) and
//! hold the item's product in the item's warehouse. Per (reservation,
//! product), the sale's quantities must add up to the reserved quantity of
//! that product (back-order lines included), and every product the
//! reservation holds must be sold: a reservation is consumed whole, so a
//! product left out would stay reserved for ever. The items of a (reservation,
//! product) then take its lines in line order, greedily, in item order: an
//! item may span two lines, and each line is spent at most once.

use std::collections::{BTreeSet, HashSet};

use eai_protocol::{Code, Detail};
use rust_decimal::Decimal;

use super::items::CheckedItem;
use super::{informed, ItemLot, ReservationInfo, ReservedLot, SaleMasterData, CONTENT};
use crate::exact::{self, Overflow};

/// What an item takes from its reservation.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Taken {
    pub reservation_id: Option<i64>,
    /// The warehouse of the first line taken.
    pub warehouse: Option<String>,
    pub lots: Vec<ItemLot>,
}

/// The items of one sale that name one product of one reservation.
struct Group<'a> {
    reserve_id: &'a str,
    reservation: &'a ReservationInfo,
    product: &'a str,
    items: Vec<usize>,
    warehouse_ok: bool,
}

/// Reservations an item names that were never integrated, and how many
/// errors say so: a sale whose only errors are these may wait for them.
#[derive(Debug, Default)]
pub(super) struct Missing {
    pub(super) reservations: Vec<String>,
    pub(super) errors: usize,
}

/// Checks the reservations and plans the lots; one [`Taken`] per item.
pub(super) fn check(
    items: &[CheckedItem<'_>],
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
    missing: &mut Missing,
) -> Vec<Taken> {
    let mut taken = vec![Taken::default(); items.len()];
    let mut groups: Vec<Group<'_>> = Vec::new();
    // Reservations referred to by an item whose product is unknown: which
    // products they must sell cannot be judged.
    let mut unjudged: HashSet<&str> = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let Some(reserve_id) = informed(&item.source.reserve_internal_id) else {
            continue;
        };
        let path = &item.source.path;
        let Some(reservation) = active_reservation(reserve_id, path, master, errors, missing)
        else {
            continue;
        };
        taken[index].reservation_id = Some(reservation.id);
        let Some(product) = item.product else {
            unjudged.insert(reserve_id);
            continue;
        };
        let lines: Vec<&ReservedLot> = lines_of(reservation, &product.code).collect();
        let Some(first) = lines.first() else {
            errors.push(Detail::error(
                Code::ReserveQuantityMismatch,
                format!(
                    "{path}.ItemCode: reservation {} ('{reserve_id}') holds no product {}",
                    reservation.number, product.code
                ),
            ));
            continue;
        };
        let mut warehouse_ok = true;
        if let Some(warehouse) = &item.warehouse {
            if !lines.iter().any(|line| &line.warehouse == warehouse) {
                warehouse_ok = false;
                errors.push(Detail::error(
                    Code::ReserveWarehouseMismatch,
                    format!(
                        "{path}.WarehouseInternalId: Armazém {warehouse} retornado no de/para não é o mesmo armazém {} da reserva número {} (product {})",
                        first.warehouse, reservation.number, product.code
                    ),
                ));
            }
        }
        match groups
            .iter_mut()
            .find(|group| group.reserve_id == reserve_id && group.product == product.code)
        {
            Some(group) => {
                group.items.push(index);
                group.warehouse_ok &= warehouse_ok;
            }
            None => groups.push(Group {
                reserve_id,
                reservation,
                product: &product.code,
                items: vec![index],
                warehouse_ok,
            }),
        }
    }
    for group in &groups {
        take_group(group, items, &mut taken, errors);
    }
    check_unsold(&groups, &unjudged, errors);
    taken
}

/// The reservation named `reserve_id` when it can be sold from, else its error.
fn active_reservation<'a>(
    reserve_id: &str,
    path: &str,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
    missing: &mut Missing,
) -> Option<&'a ReservationInfo> {
    let path = format!("{path}.ItemReserveInternalId");
    let Some(reservation) = master.reservations.get(reserve_id) else {
        if !missing.reservations.iter().any(|id| id == reserve_id) {
            missing.reservations.push(reserve_id.to_owned());
        }
        missing.errors += 1;
        errors.push(Detail::error(
            Code::ReserveNotFound,
            format!("{path}: reservation '{reserve_id}' was not found (no ItemReserve with this InternalId was integrated)"),
        ));
        return None;
    };
    match reservation.status.as_str() {
        "active" => Some(reservation),
        "used" => {
            errors.push(Detail::error(
                Code::ReserveAlreadyUsed,
                format!(
                    "{path}: reservation {} ('{reserve_id}') was already used by another sale",
                    reservation.number
                ),
            ));
            None
        }
        status => {
            errors.push(Detail::error(
                Code::ReserveNotFound,
                format!(
                    "{path}: no active reservation '{reserve_id}': reservation {} is {status}",
                    reservation.number
                ),
            ));
            None
        }
    }
}

/// The quantity of `product` a reservation holds, back-orders included.
fn reserved_of(reservation: &ReservationInfo, product: &str) -> Result<Decimal, Overflow> {
    exact::sum(lines_of(reservation, product).map(|line| line.quantity))
}

/// A quantity as a message shows it, or why there is none.
fn quantity_text(quantity: Result<Decimal, Overflow>) -> String {
    match quantity {
        Ok(quantity) => quantity.normalize().to_string(),
        Err(overflow) => format!("quantities {overflow}"),
    }
}

fn lines_of<'a>(
    reservation: &'a ReservationInfo,
    product: &'a str,
) -> impl Iterator<Item = &'a ReservedLot> + 'a {
    reservation
        .lines
        .iter()
        .filter(move |line| line.product == product)
}

/// Checks the quantities of one group, then hands its lines to its items.
fn take_group(
    group: &Group<'_>,
    items: &[CheckedItem<'_>],
    taken: &mut [Taken],
    errors: &mut Vec<Detail>,
) {
    // An item with an invalid quantity already has its own error.
    let Some(quantities) = group
        .items
        .iter()
        .map(|&index| items[index].quantity)
        .collect::<Option<Vec<Decimal>>>()
    else {
        return;
    };
    let reserved = reserved_of(group.reservation, group.product);
    let sold = exact::sum(quantities.iter().copied());
    let first = &items[group.items[0]].source;
    // Quantities too large to add up cannot be shown to match.
    if !matches!((sold, reserved), (Ok(sold), Ok(reserved)) if sold == reserved) {
        let numbers: Vec<String> = group
            .items
            .iter()
            .map(|&index| items[index].source.item_no.to_string())
            .collect();
        errors.push(Detail::error(
            Code::ReserveQuantityMismatch,
            format!(
                "{}.Quantity: the sale takes {} of product {} from reservation {} ('{}') (item {}), but the reservation holds {}",
                first.path,
                quantity_text(sold),
                group.product,
                group.reservation.number,
                group.reserve_id,
                numbers.join(", "),
                quantity_text(reserved)
            ),
        ));
        return;
    }
    if !group.warehouse_ok {
        return;
    }
    let lines: Vec<&ReservedLot> = lines_of(group.reservation, group.product).collect();
    let demands: Vec<Demand<'_>> = group
        .items
        .iter()
        .zip(&quantities)
        .map(|(&index, &quantity)| Demand {
            quantity,
            warehouse: items[index].warehouse.as_deref(),
        })
        .collect();
    for ((&index, split), demand) in group
        .items
        .iter()
        .zip(split(&lines, &demands))
        .zip(&demands)
    {
        if split.short > Decimal::ZERO {
            let item = items[index].source;
            // Cannot overflow: the shortfall is part of the demand (0 < short ≤ quantity).
            errors.push(Detail::error(
                Code::ReserveQuantityMismatch,
                format!(
                    "{}.Quantity: reservation {} holds only {} of product {} in warehouse {} for this item's {}",
                    item.path,
                    group.reservation.number,
                    (demand.quantity - split.short).normalize(),
                    group.product,
                    demand.warehouse.unwrap_or_default(),
                    demand.quantity.normalize()
                ),
            ));
        }
        taken[index].warehouse = split.warehouse;
        taken[index].lots = split.lots;
    }
}

/// Every product of an active reservation the sale names must be sold.
fn check_unsold(groups: &[Group<'_>], unjudged: &HashSet<&str>, errors: &mut Vec<Detail>) {
    let mut seen: Vec<&str> = Vec::new();
    for group in groups {
        if seen.contains(&group.reserve_id) || unjudged.contains(group.reserve_id) {
            continue;
        }
        seen.push(group.reserve_id);
        let sold: HashSet<&str> = groups
            .iter()
            .filter(|other| other.reserve_id == group.reserve_id)
            .map(|other| other.product)
            .collect();
        let unsold: BTreeSet<&str> = group
            .reservation
            .lines
            .iter()
            .map(|line| line.product.as_str())
            .filter(|product| !sold.contains(product))
            .collect();
        for product in unsold {
            let reserved = reserved_of(group.reservation, product);
            errors.push(Detail::error(
                Code::ReserveQuantityMismatch,
                format!(
                    "{CONTENT}.ListOfSaleItem: reservation {} ('{}') also holds {} of product {}, which no item of the sale takes",
                    group.reservation.number,
                    group.reserve_id,
                    quantity_text(reserved),
                    product
                ),
            ));
        }
    }
}

/// What one item asks of a product's reservation lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Demand<'a> {
    pub quantity: Decimal,
    /// Only lines of this warehouse serve the item, when given.
    pub warehouse: Option<&'a str>,
}

/// What one item got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Split {
    pub lots: Vec<ItemLot>,
    pub warehouse: Option<String>,
    /// What the item's eligible lines could not cover.
    pub short: Decimal,
}

/// Hands the lines (in line order) to the demands (in order), greedily,
/// never spending a line twice.
pub(super) fn split(lines: &[&ReservedLot], demands: &[Demand<'_>]) -> Vec<Split> {
    let mut left: Vec<Decimal> = lines.iter().map(|line| line.quantity).collect();
    demands
        .iter()
        .map(|demand| {
            let mut need = demand.quantity;
            let mut result = Split::default();
            for (line, left) in lines.iter().zip(left.iter_mut()) {
                if need <= Decimal::ZERO {
                    break;
                }
                let eligible = demand
                    .warehouse
                    .is_none_or(|warehouse| line.warehouse == warehouse);
                if !eligible || *left <= Decimal::ZERO {
                    continue;
                }
                let take = need.min(*left);
                // Cannot overflow: 0 < take ≤ both.
                *left -= take;
                need -= take;
                result
                    .warehouse
                    .get_or_insert_with(|| line.warehouse.clone());
                result.lots.push(ItemLot {
                    lot_id: line.lot_id,
                    lot: line.lot.clone(),
                    sublot: line.sublot.clone(),
                    quantity: take,
                });
            }
            result.short = need.max(Decimal::ZERO);
            result
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(lot_id: Option<i64>, warehouse: &str, quantity: i64) -> ReservedLot {
        ReservedLot {
            product: "P".into(),
            warehouse: warehouse.into(),
            lot_id,
            lot: lot_id.map(|id| format!("L{id}")).unwrap_or_default(),
            sublot: String::new(),
            quantity: Decimal::from(quantity),
        }
    }

    fn demand(quantity: i64) -> Demand<'static> {
        Demand {
            quantity: Decimal::from(quantity),
            warehouse: None,
        }
    }

    fn takes(split: &Split) -> Vec<(Option<i64>, Decimal)> {
        split
            .lots
            .iter()
            .map(|lot| (lot.lot_id, lot.quantity))
            .collect()
    }

    #[test]
    fn an_item_spans_two_lines_and_the_next_item_continues_where_it_stopped() {
        let lines = [line(Some(1), "01", 100), line(Some(2), "01", 2)];
        let refs: Vec<&ReservedLot> = lines.iter().collect();
        let splits = split(&refs, &[demand(101), demand(1)]);
        assert_eq!(
            takes(&splits[0]),
            vec![(Some(1), Decimal::from(100)), (Some(2), Decimal::ONE)]
        );
        assert_eq!(takes(&splits[1]), vec![(Some(2), Decimal::ONE)]);
        assert!(splits.iter().all(|split| split.short.is_zero()));
        assert_eq!(splits[0].warehouse.as_deref(), Some("01"));
    }

    #[test]
    fn an_item_bound_to_a_warehouse_takes_only_that_warehouses_lines() {
        let lines = [line(Some(1), "01", 5), line(Some(2), "02", 5)];
        let refs: Vec<&ReservedLot> = lines.iter().collect();
        let in_02 = Demand {
            quantity: Decimal::from(8),
            warehouse: Some("02"),
        };
        let splits = split(&refs, &[in_02, demand(2)]);
        assert_eq!(takes(&splits[0]), vec![(Some(2), Decimal::from(5))]);
        assert_eq!(splits[0].short, Decimal::from(3));
        assert_eq!(takes(&splits[1]), vec![(Some(1), Decimal::from(2))]);
    }

    proptest! {
        #[test]
        fn splitting_never_spends_a_line_twice_and_serves_what_the_lines_hold(
            sizes in prop::collection::vec(1i64..50, 1..6),
            cuts in prop::collection::vec(1i64..60, 1..6),
        ) {
            let lines: Vec<ReservedLot> = sizes
                .iter()
                .enumerate()
                .map(|(index, &size)| line(Some(index as i64), "01", size))
                .collect();
            let refs: Vec<&ReservedLot> = lines.iter().collect();
            let demands: Vec<Demand<'_>> = cuts.iter().map(|&cut| demand(cut)).collect();
            let splits = split(&refs, &demands);
            for (line_index, line) in lines.iter().enumerate() {
                let spent: Decimal = splits
                    .iter()
                    .flat_map(|split| &split.lots)
                    .filter(|lot| lot.lot_id == Some(line_index as i64))
                    .map(|lot| lot.quantity)
                    .sum();
                prop_assert!(spent <= line.quantity);
            }
            for (split, demand) in splits.iter().zip(&demands) {
                let served: Decimal = split.lots.iter().map(|lot| lot.quantity).sum();
                prop_assert_eq!(served + split.short, demand.quantity);
                prop_assert!(split.lots.iter().all(|lot| lot.quantity > Decimal::ZERO));
            }
            let total_lines: Decimal = lines.iter().map(|line| line.quantity).sum();
            let total_demand: Decimal = demands.iter().map(|demand| demand.quantity).sum();
            let total_short: Decimal = splits.iter().map(|split| split.short).sum();
            prop_assert_eq!(total_short, (total_demand - total_lines).max(Decimal::ZERO));
        }
    }
}
