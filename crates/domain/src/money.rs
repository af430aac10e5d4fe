//! Money as the systems we export to read it (seed 003, "campos
//! numéricos"): exactly two decimals, a point, no thousands separator —
//! `350.20`, never `350.2` or `1,350.20`. A value with more decimals is
//! rounded half away from zero, as a cashier would.

use rust_decimal::{Decimal, RoundingStrategy};

/// `value` with exactly two decimals.
pub fn two_decimals(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_seed_s_examples() {
        assert_eq!(two_decimals(Decimal::new(35020, 2)), "350.20");
        assert_eq!(two_decimals(Decimal::new(3502, 1)), "350.20");
        assert_eq!(two_decimals(Decimal::new(35000020, 3)), "35000.02");
        assert_eq!(two_decimals(Decimal::new(700, 0)), "700.00");
        assert_eq!(two_decimals(Decimal::new(5, 3)), "0.01");
        assert_eq!(two_decimals(Decimal::new(-5, 3)), "-0.01");
        assert_eq!(two_decimals(Decimal::ZERO), "0.00");
    }

    proptest! {
        #[test]
        fn always_two_decimals_no_separator_and_within_half_a_cent(
            mantissa in -10_000_000_000_000i64..10_000_000_000_000i64,
            scale in 0u32..8,
        ) {
            let value = Decimal::new(mantissa, scale);
            let text = two_decimals(value);
            let (units, cents) = text.split_once('.').expect("a point");
            prop_assert_eq!(cents.len(), 2);
            prop_assert!(!text.contains(','));
            prop_assert!(units.trim_start_matches('-').chars().all(|c| c.is_ascii_digit()));
            let back: Decimal = text.parse().expect("reads back");
            prop_assert!((back - value).abs() <= Decimal::new(5, 3));
        }
    }
}
