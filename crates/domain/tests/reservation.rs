//! ItemReserve quantities at the edges, as a sender sees them: what the
//! stock columns (`numeric(18, 4)`) cannot hold is refused with
//! `QUANTITY_INVALID` naming the item and the limit, and no quantity, however
//! large or small, makes resolving or planning panic.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use eai_domain::fefo::LotStock;
use eai_domain::mapping::{Directory, Entity};
use eai_domain::reservation::{ProductInfo, RequestedItem, ReservationRequest};
use eai_protocol::{Code, Detail, ItemReserve, ReserveItem, ReserveType};
use proptest::prelude::*;
use rust_decimal::Decimal;

const TODAY: &str = "2026-11-22";

/// [`Decimal::MAX`] as a message prints it.
const MAX: &str = "79228162514264337593543950335";

/// The first quantity with 15 digits before the point.
const LIMIT: &str = "100000000000000";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("test decimal")
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

fn item_path(index: usize) -> String {
    format!("$.Content.ReserveItemType.Item[{index}]")
}

/// Item `index` of the envelope: `quantity` of `product` in warehouse 01.
fn reserve_item(index: usize, product: &str, quantity: Decimal) -> ReserveItem {
    ReserveItem {
        path: item_path(index),
        item_code: product.into(),
        warehouse: Some("01".into()),
        quantity,
        lot: None,
        sublot: None,
        expiration: None,
        issue_date: None,
        reserve_branch: None,
        is_canceled: false,
    }
}

fn envelope(items: Vec<ReserveItem>) -> ItemReserve {
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

/// Product P1 in warehouse 01.
fn master() -> (Directory, HashMap<String, ProductInfo>) {
    let mut directory = Directory::default();
    directory.add_internal(Entity::Product, "P1");
    directory.add_internal(Entity::Warehouse, "01");
    let product = ProductInfo {
        code: "P1".into(),
        blocked: false,
        default_warehouse: Some("01".into()),
    };
    (directory, HashMap::from([("P1".to_owned(), product)]))
}

fn resolve(items: Vec<ReserveItem>) -> Result<ReservationRequest, Vec<Detail>> {
    let (directory, products) = master();
    ReservationRequest::resolve(&envelope(items), &directory, &products, day(TODAY))
}

/// Lot `L<id>` of P1 in warehouse 01, expiring after today.
fn lot(id: i64, on_hand: Decimal, reserved: Decimal) -> LotStock {
    LotStock {
        id,
        product: "P1".into(),
        warehouse: "01".into(),
        lot: format!("L{id}"),
        sublot: String::new(),
        expires_on: Some(day("2027-01-31")),
        received_on: None,
        on_hand,
        reserved,
    }
}

/// Item `index`, already resolved: `quantity` of P1 in warehouse 01.
fn requested(index: usize, quantity: Decimal) -> RequestedItem {
    RequestedItem {
        path: item_path(index),
        item_no: index + 1,
        product: "P1".into(),
        warehouse: "01".into(),
        quantity,
        lot: None,
        sublot: None,
        issue_date: day(TODAY),
        expires_at: None,
    }
}

fn messages(details: &[Detail]) -> Vec<(Code, &str)> {
    details
        .iter()
        .map(|detail| (detail.code, detail.message.as_str()))
        .collect()
}

#[test]
fn a_quantity_the_stock_columns_cannot_hold_is_quantity_invalid_naming_the_limit() {
    let errors = resolve(vec![
        reserve_item(0, "P1", dec(LIMIT)),
        reserve_item(1, "P1", Decimal::MAX),
        reserve_item(2, "P1", dec("1.00005")),
        reserve_item(3, "P1", dec("99999999999999.9999")),
    ])
    .expect_err("three quantities the stock cannot hold");
    let too_large = "is too large for the stock (at most 14 digits before the decimal point: less than 100000000000000)";
    assert_eq!(
        messages(&errors),
        vec![
            (
                Code::QuantityInvalid,
                format!("{}.Quantity: {LIMIT} {too_large}", item_path(0)).as_str()
            ),
            (
                Code::QuantityInvalid,
                format!("{}.Quantity: {MAX} {too_large}", item_path(1)).as_str()
            ),
            (
                Code::QuantityInvalid,
                format!(
                    "{}.Quantity: 1.00005 is finer than the stock precision (at most 4 decimal places)",
                    item_path(2)
                )
                .as_str()
            ),
        ]
    );
}

#[test]
fn the_largest_quantity_the_stock_columns_hold_is_reserved() {
    let largest = dec("99999999999999.9999");
    let request =
        resolve(vec![reserve_item(0, "P1", largest)]).expect("the largest storable quantity");
    let plan = request
        .plan(&[lot(1, largest, Decimal::ZERO)], false)
        .expect("the lot holds it all");
    assert_eq!(plan.reserved_by_lot(), vec![(1, largest)]);
}

#[test]
fn lines_of_one_lot_too_large_to_add_up_are_quantity_invalid() {
    let overflow = |index: usize| {
        format!(
            "{}.Quantity: the quantities reserved from lot 'L1' of product P1 are too large to add up exactly (beyond ±{MAX})",
            item_path(index)
        )
    };
    // A corrupt lot (reserved below zero) offers Decimal::MAX to each of two
    // items: their lines cannot be added up.
    let corrupt = lot(1, Decimal::MAX, Decimal::MIN);
    let errors = ReservationRequest {
        items: vec![requested(0, Decimal::MAX), requested(1, Decimal::MAX)],
    }
    .plan(&[corrupt], false)
    .expect_err("the lot's lines cannot be added up");
    assert_eq!(
        messages(&errors),
        vec![(Code::QuantityInvalid, overflow(1).as_str())]
    );
    // Its free stock MAX − 343.5 rounds up to …949992, and 343.5 + …949992
    // is beyond MAX: the lot's own running reserved quantity cannot be
    // added up either.
    let rounded = lot(1, Decimal::MAX, dec("343.5"));
    let errors = ReservationRequest {
        items: vec![requested(0, dec("79228162514264337593543949992"))],
    }
    .plan(&[rounded], false)
    .expect_err("the lot's reserved quantity cannot be added up");
    assert_eq!(
        messages(&errors),
        vec![(Code::QuantityInvalid, overflow(0).as_str())]
    );
}

/// Any decimal, with the extremes often: ±[`Decimal::MAX`], zero, the
/// smallest step, the first quantity beyond the stock columns, and every
/// mantissa at every scale up to 28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(Decimal::new(1, 28)),
        Just(dec(LIMIT)),
        (-10_000i64..10_000, 0u32..5).prop_map(|(units, scale)| Decimal::new(units, scale)),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(
                lo, mid, hi, negative, scale
            )),
    ]
}

fn any_lots() -> impl Strategy<Value = Vec<LotStock>> {
    prop::collection::vec((any_decimal(), any_decimal()), 0..4).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(index, (on_hand, reserved))| lot(index as i64 + 1, on_hand, reserved))
            .collect()
    })
}

proptest! {
    /// An envelope's quantities, whatever they are, are resolved and planned
    /// without a panic; what resolves fits the stock columns, and a plan
    /// never reserves more of a lot than it has free.
    #[test]
    fn any_quantities_are_resolved_and_planned_without_a_panic(
        quantities in prop::collection::vec(
            (any_decimal(), prop::sample::select(vec!["P1", "NOPE"])),
            1..4,
        ),
        lots in any_lots(),
        without_stock in any::<bool>(),
    ) {
        let items = quantities
            .iter()
            .enumerate()
            .map(|(index, (quantity, product))| reserve_item(index, product, *quantity))
            .collect();
        let request = match resolve(items) {
            Ok(request) => request,
            Err(errors) => {
                for detail in &errors {
                    prop_assert!(
                        matches!(detail.code, Code::QuantityInvalid | Code::ProductNotFound),
                        "{:?}", detail
                    );
                }
                return Ok(());
            }
        };
        let limit = dec(LIMIT);
        for item in &request.items {
            prop_assert!(item.quantity.abs() < limit, "{} resolved", item.quantity);
            prop_assert!(item.quantity.normalize().scale() <= 4);
        }
        match request.plan(&lots, without_stock) {
            Ok(plan) => {
                for line in &plan.lines {
                    prop_assert!(line.quantity > Decimal::ZERO && line.quantity < limit);
                }
                for (id, total) in plan.reserved_by_lot() {
                    let lot = lots.iter().find(|lot| lot.id == id).expect("a known lot");
                    prop_assert!(total <= lot.free(), "lot {} over-reserved", id);
                }
            }
            Err(errors) => {
                for detail in &errors {
                    prop_assert_eq!(detail.code, Code::LotInsufficient, "{:?}", detail);
                    prop_assert!(!without_stock, "no shortfall when reserving without stock");
                }
            }
        }
    }

    /// Planning answers even items that never went through `resolve`, with
    /// any quantity against lots holding any numbers.
    #[test]
    fn planning_any_quantities_against_any_stock_never_panics(
        quantities in prop::collection::vec(any_decimal(), 1..4),
        lots in any_lots(),
        without_stock in any::<bool>(),
    ) {
        let request = ReservationRequest {
            items: quantities
                .iter()
                .enumerate()
                .map(|(index, quantity)| requested(index, *quantity))
                .collect(),
        };
        match request.plan(&lots, without_stock) {
            Ok(plan) => {
                prop_assert!(plan.lines.iter().all(|line| line.quantity > Decimal::ZERO));
                prop_assert!(plan.reserved_by_lot().iter().all(|(_, total)| *total > Decimal::ZERO));
            }
            Err(errors) => {
                for detail in &errors {
                    prop_assert!(
                        matches!(detail.code, Code::LotInsufficient | Code::QuantityInvalid),
                        "{:?}", detail
                    );
                    prop_assert!(detail.message.starts_with("$.Content.ReserveItemType.Item["));
                }
            }
        }
    }
}
