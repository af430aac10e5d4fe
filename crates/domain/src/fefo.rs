//! First-expiry-first-out allocation.
//!
//! Candidates are the lots with free stock whose expiry is on or after the
//! reservation's issue date; lots without an expiry date come last. Ties are
//! broken by received date, then lot and sub-lot code, then the lot's id, so
//! the same stock always yields the same lines — a property the receipts and
//! the tests rely on.

use std::cmp::Ordering;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One stock lot as the store read it (locked) from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotStock {
    pub id: i64,
    pub product: String,
    pub warehouse: String,
    pub lot: String,
    pub sublot: String,
    pub expires_on: Option<NaiveDate>,
    pub received_on: Option<NaiveDate>,
    pub on_hand: Decimal,
    pub reserved: Decimal,
}

impl LotStock {
    /// What can still be reserved; never negative even if the data says
    /// otherwise, and at most [`Decimal::MAX`] when `reserved` is so negative
    /// that the difference leaves the range (only corrupt rows come close).
    pub fn free(&self) -> Decimal {
        self.on_hand
            .saturating_sub(self.reserved)
            .max(Decimal::ZERO)
    }

    /// A lot expired before `on` may never be reserved.
    pub fn is_expired_on(&self, on: NaiveDate) -> bool {
        self.expires_on.is_some_and(|expiry| expiry < on)
    }
}

/// A quantity taken from one lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub lot_id: i64,
    pub quantity: Decimal,
}

/// The outcome of [`allocate`]: the lots taken and what could not be covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub takes: Vec<Take>,
    pub shortfall: Decimal,
}

/// The FEFO order: expiry (none last), received date (none last), lot, sub-lot, id.
pub fn fefo_cmp(a: &LotStock, b: &LotStock) -> Ordering {
    fn none_last(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    none_last(a.expires_on, b.expires_on)
        .then_with(|| none_last(a.received_on, b.received_on))
        .then_with(|| a.lot.cmp(&b.lot))
        .then_with(|| a.sublot.cmp(&b.sublot))
        .then_with(|| a.id.cmp(&b.id))
}

/// The lots that may serve a reservation issued on `issue_date`, in FEFO order.
pub fn candidates(lots: &[LotStock], issue_date: NaiveDate) -> Vec<&LotStock> {
    let mut eligible: Vec<&LotStock> = lots
        .iter()
        .filter(|lot| lot.free() > Decimal::ZERO && !lot.is_expired_on(issue_date))
        .collect();
    eligible.sort_by(|a, b| fefo_cmp(a, b));
    eligible
}

/// Takes `quantity` greedily from the FEFO candidates, one [`Take`] per lot used.
pub fn allocate(quantity: Decimal, lots: &[LotStock], issue_date: NaiveDate) -> Allocation {
    let mut remaining = quantity.max(Decimal::ZERO);
    let mut takes = Vec::new();
    for lot in candidates(lots, issue_date) {
        if remaining.is_zero() {
            break;
        }
        let taken = remaining.min(lot.free());
        takes.push(Take {
            lot_id: lot.id,
            quantity: taken,
        });
        // Cannot overflow: 0 ≤ taken ≤ remaining.
        remaining -= taken;
    }
    Allocation {
        takes,
        shortfall: remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(units: i64) -> Decimal {
        Decimal::from(units)
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn lot(id: i64, code: &str, expires: Option<&str>, on_hand: i64, reserved: i64) -> LotStock {
        LotStock {
            id,
            product: "P001".into(),
            warehouse: "01".into(),
            lot: code.into(),
            sublot: String::new(),
            expires_on: expires.map(day),
            received_on: Some(day("2026-01-02")),
            on_hand: dec(on_hand),
            reserved: dec(reserved),
        }
    }

    #[test]
    fn seed_001_splits_100_and_2_over_the_two_nearest_expiries() {
        let lots = [
            lot(1, "L-LATE", Some("2027-06-30"), 500, 0),
            lot(2, "L-NEAR", Some("2027-01-31"), 100, 0),
        ];
        let allocation = allocate(dec(102), &lots, day("2026-11-22"));
        assert_eq!(
            allocation.takes,
            vec![
                Take {
                    lot_id: 2,
                    quantity: dec(100)
                },
                Take {
                    lot_id: 1,
                    quantity: dec(2)
                },
            ]
        );
        assert_eq!(allocation.shortfall, Decimal::ZERO);
    }

    #[test]
    fn expired_lots_are_never_taken_and_lots_without_expiry_come_last() {
        let lots = [
            lot(1, "NO-EXPIRY", None, 10, 0),
            lot(2, "EXPIRED", Some("2026-11-21"), 10, 0),
            lot(3, "TODAY", Some("2026-11-22"), 10, 0),
        ];
        let allocation = allocate(dec(15), &lots, day("2026-11-22"));
        assert_eq!(
            allocation.takes,
            vec![
                Take {
                    lot_id: 3,
                    quantity: dec(10)
                },
                Take {
                    lot_id: 1,
                    quantity: dec(5)
                },
            ]
        );
    }

    #[test]
    fn shortfall_is_what_the_free_stock_cannot_cover() {
        let lots = [lot(1, "A", Some("2027-01-01"), 10, 8)];
        let allocation = allocate(dec(5), &lots, day("2026-11-22"));
        assert_eq!(
            allocation.takes,
            vec![Take {
                lot_id: 1,
                quantity: dec(2)
            }]
        );
        assert_eq!(allocation.shortfall, dec(3));
    }

    fn arb_lot() -> impl Strategy<Value = LotStock> {
        (
            0i64..40,
            prop::option::of(0u32..30),
            prop::option::of(0u32..30),
            0i64..50,
            0i64..50,
            prop::sample::select(vec!["A", "B", "C"]),
        )
            .prop_map(|(id, expiry, received, on_hand, reserved, code)| {
                let base = day("2026-11-10");
                LotStock {
                    id,
                    product: "P".into(),
                    warehouse: "01".into(),
                    lot: code.into(),
                    sublot: String::new(),
                    expires_on: expiry.map(|d| base + chrono::Days::new(d.into())),
                    received_on: received.map(|d| base - chrono::Days::new(d.into())),
                    on_hand: Decimal::from(on_hand),
                    reserved: Decimal::from(reserved.min(on_hand)),
                }
            })
    }

    fn unique_ids(mut lots: Vec<LotStock>) -> Vec<LotStock> {
        for (index, lot) in lots.iter_mut().enumerate() {
            lot.id = index as i64;
        }
        lots
    }

    proptest! {
        #[test]
        fn never_over_reserves_nor_takes_expired_lots(
            lots in prop::collection::vec(arb_lot(), 0..12).prop_map(unique_ids),
            quantity in 0i64..300,
            issue_offset in 0u64..20,
        ) {
            let issue = day("2026-11-10") + chrono::Days::new(issue_offset);
            let quantity = Decimal::from(quantity);
            let allocation = allocate(quantity, &lots, issue);
            let taken: Decimal = allocation.takes.iter().map(|t| t.quantity).sum();
            prop_assert_eq!(taken + allocation.shortfall, quantity);
            let mut seen = std::collections::HashSet::new();
            for take in &allocation.takes {
                prop_assert!(seen.insert(take.lot_id), "one line per lot");
                let lot = lots.iter().find(|l| l.id == take.lot_id).expect("taken lot exists");
                prop_assert!(take.quantity > Decimal::ZERO);
                prop_assert!(take.quantity <= lot.free());
                prop_assert!(!lot.is_expired_on(issue));
            }
            let free_total: Decimal = candidates(&lots, issue).iter().map(|l| l.free()).sum();
            prop_assert_eq!(allocation.shortfall, (quantity - free_total).max(Decimal::ZERO));
        }

        #[test]
        fn takes_follow_fefo_order_whatever_the_input_order(
            lots in prop::collection::vec(arb_lot(), 0..12).prop_map(unique_ids),
            quantity in 0i64..300,
            seed in any::<u64>(),
        ) {
            let issue = day("2026-11-12");
            let quantity = Decimal::from(quantity);
            let mut shuffled = lots.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % len);
            shuffled.reverse();
            let a = allocate(quantity, &lots, issue);
            let b = allocate(quantity, &shuffled, issue);
            prop_assert_eq!(&a, &b);
            let order: Vec<&LotStock> = a.takes.iter()
                .map(|t| lots.iter().find(|l| l.id == t.lot_id).expect("lot"))
                .collect();
            for pair in order.windows(2) {
                prop_assert_eq!(fefo_cmp(pair[0], pair[1]), Ordering::Less);
            }
            // Every lot skipped before the last one used must have had nothing free.
            if let Some(last) = order.last() {
                for lot in candidates(&lots, issue) {
                    if fefo_cmp(lot, last) == Ordering::Less {
                        prop_assert!(a.takes.iter().any(|t| t.lot_id == lot.id && t.quantity == lot.free()),
                            "an earlier lot was not emptied first");
                    }
                }
            }
        }
    }
}
