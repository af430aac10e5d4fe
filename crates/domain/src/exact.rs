//! Exact arithmetic on the numbers an envelope carries.
//!
//! `rust_decimal`'s `+`, `-`, `*` and `Sum` panic when a result leaves the
//! range of a [`Decimal`] (±79228162514264337593543950335), and nothing stops
//! a sender from writing two `PaymentValue`s of that size. Every sum or
//! product of such values goes through here instead and comes back as an
//! [`Overflow`], which the rule the arithmetic serves reports under its own
//! code, its message ending in the overflow's text.

use std::fmt;

use rust_decimal::Decimal;

/// A sum or product beyond the range of a [`Decimal`]. Its text completes a
/// message such as "payments 1 + 2 are …": "too large to add up exactly
/// (beyond ±79228162514264337593543950335)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    Sum,
    Product,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operation = match self {
            Overflow::Sum => "add up",
            Overflow::Product => "multiply",
        };
        write!(
            f,
            "too large to {operation} exactly (beyond ±{})",
            Decimal::MAX
        )
    }
}

/// `a + b`, or [`Overflow::Sum`]. A difference is `add(a, -b)`: negating a
/// [`Decimal`] never overflows.
pub(crate) fn add(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_add(b).ok_or(Overflow::Sum)
}

/// `Σ values` (zero for none), or [`Overflow::Sum`] as soon as a partial sum
/// leaves the range.
pub(crate) fn sum(values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Overflow> {
    values.into_iter().try_fold(Decimal::ZERO, add)
}

/// `a × b`, or [`Overflow::Product`].
pub(crate) fn product(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_mul(b).ok_or(Overflow::Product)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_products_beyond_the_range_are_overflows_not_panics() {
        assert_eq!(sum([Decimal::MAX, Decimal::MAX]), Err(Overflow::Sum));
        assert_eq!(sum([Decimal::MIN, -Decimal::ONE]), Err(Overflow::Sum));
        assert_eq!(sum([Decimal::MAX, Decimal::MIN]), Ok(Decimal::ZERO));
        assert_eq!(sum([]), Ok(Decimal::ZERO));
        assert_eq!(add(Decimal::MAX, -Decimal::MAX), Ok(Decimal::ZERO));
        assert_eq!(product(Decimal::MAX, Decimal::TWO), Err(Overflow::Product));
        assert_eq!(product(Decimal::MIN, Decimal::TWO), Err(Overflow::Product));
        assert_eq!(
            product(Decimal::new(25, 1), Decimal::TWO),
            Ok(Decimal::from(5))
        );
    }

    #[test]
    fn an_overflow_says_what_could_not_be_done_and_where_the_range_ends() {
        assert_eq!(
            Overflow::Sum.to_string(),
            "too large to add up exactly (beyond ±79228162514264337593543950335)"
        );
        assert_eq!(
            Overflow::Product.to_string(),
            "too large to multiply exactly (beyond ±79228162514264337593543950335)"
        );
    }
}
