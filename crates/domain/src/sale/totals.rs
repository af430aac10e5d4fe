//! The sale's money, over the normalised items.
//!
//! Errors (SPEC §5, seed 001 "PERGUNTAS" 1 and 2):
//! `FreightValue = Σ FreightValueProrated`, `IncreaseValue = Σ IncreaseValueProrated`,
//! `NetPrice = Σ ItemPrice − DiscountValue + FreightValue + IncreaseValue`,
//! `Σ PaymentValue = NetPrice`.
//!
//! Warnings, only for a field that is present (seed 001 "Tags do JSON -
//! Cabeçalho", checked against §10.4.1–10.4.6):
//! `TotalPrice = Σ ItemPrice − DiscountValue`,
//! `GrossPrice = Σ ItemPrice − DiscountValue + FreightValue + IncreaseValue`,
//! `CommodityPrice = Σ ItemTablePrice × Quantity`.
//!
//! `ItemPrice` is already net of the item's own discount (`DiscountAmount`),
//! so only the header `DiscountValue` is subtracted. A difference larger than
//! the tolerance is a mismatch. Every message shows the received value, the
//! terms and the expected sum; a check whose inputs are missing is skipped
//! (the item or payment at fault has its own error).
//!
//! Sums and products are exact (`crate::exact`). One that leaves the decimal
//! range cannot equal any received value, so its check reports its own code
//! — an error or a warning as it always is — saying the terms are too large
//! to add up (or multiply): two `PaymentValue`s of 79228162514264337593543950335
//! are a `PAYMENTS_MISMATCH`, never a panic.

use eai_protocol::{Code, Detail, RetailSale, SaleItem};
use rust_decimal::Decimal;

use super::items::CheckedItem;
use super::CONTENT;
use crate::exact::{self, Overflow};

/// Terms listed in a message before the rest is summarised.
const MAX_TERMS: usize = 10;

/// A header charge that must equal the sum of its prorated item parts.
struct Charge {
    field: &'static str,
    prorated_field: &'static str,
    value: Decimal,
    part: fn(&SaleItem) -> Decimal,
    code: Code,
}

/// Pushes the totals errors.
pub(super) fn check(
    sale: &RetailSale,
    items: &[CheckedItem<'_>],
    tolerance: Decimal,
    errors: &mut Vec<Detail>,
) {
    if !items.is_empty() {
        let charges = [
            Charge {
                field: "FreightValue",
                prorated_field: "FreightValueProrated",
                value: sale.freight_value,
                part: |item| item.freight_prorated,
                code: Code::FreightMismatch,
            },
            Charge {
                field: "IncreaseValue",
                prorated_field: "IncreaseValueProrated",
                value: sale.increase_value,
                part: |item| item.increase_prorated,
                code: Code::IncreaseMismatch,
            },
        ];
        for charge in charges {
            let shares: Vec<Decimal> = items
                .iter()
                .map(|item| (charge.part)(item.source))
                .collect();
            let formula = format!(
                "Σ {} {}",
                charge.prorated_field,
                terms(shares.iter().map(|share| money(*share)))
            );
            let expected = exact::sum(shares.iter().copied());
            if let Some(message) =
                compare(charge.field, charge.value, &formula, expected, tolerance)
            {
                errors.push(Detail::error(charge.code, message));
            }
        }
        if let (Some(net), Some(total)) = (sale.net_price, ItemsTotal::new(sale, items)) {
            let (formula, expected) = total.with_charges();
            if let Some(message) = compare("NetPrice", net, &formula, expected, tolerance) {
                errors.push(Detail::error(Code::TotalsMismatch, message));
            }
        }
    }
    // A missing or non-positive payment value has its own error.
    let values: Option<Vec<Decimal>> = sale
        .payments
        .iter()
        .map(|payment| payment.value.filter(|value| *value > Decimal::ZERO))
        .collect();
    if let (Some(net), Some(values)) = (sale.net_price, values) {
        if !values.is_empty() {
            let listed = terms(values.iter().map(|value| money(*value)));
            let message = match exact::sum(values.iter().copied()) {
                Ok(paid) => differs(paid, net, tolerance).then(|| {
                    format!(
                        "payments {} ({listed}) ≠ NetPrice {}",
                        money(paid),
                        money(net)
                    )
                }),
                Err(overflow) => Some(beyond_range(
                    &format!("payments {listed}"),
                    overflow,
                    "NetPrice",
                    net,
                )),
            };
            if let Some(message) = message {
                errors.push(Detail::error(
                    Code::PaymentsMismatch,
                    format!("{CONTENT}.ListOfSaleCondition: {message}"),
                ));
            }
        }
    }
}

/// The warnings for header prices that disagree with their definitions.
pub(super) fn warnings(
    sale: &RetailSale,
    items: &[CheckedItem<'_>],
    tolerance: Decimal,
) -> Vec<Detail> {
    let mut warnings = Vec::new();
    if items.is_empty() {
        return warnings;
    }
    let informed = |value: Option<Decimal>| value.filter(|value| *value > Decimal::ZERO);
    let mut warn = |code: Code, message: Option<String>| {
        warnings.extend(message.map(|message| Detail::warning(code, message)));
    };
    if let Some(total) = ItemsTotal::new(sale, items) {
        if let Some(received) = informed(sale.total_price) {
            let (formula, expected) = total.less_discount();
            warn(
                Code::TotalPriceInconsistent,
                compare("TotalPrice", received, &formula, expected, tolerance),
            );
        }
        if let Some(received) = informed(sale.gross_price) {
            let (formula, expected) = total.with_charges();
            warn(
                Code::GrossPriceInconsistent,
                compare("GrossPrice", received, &formula, expected, tolerance),
            );
        }
    }
    let commodity_terms: Option<Vec<(Decimal, Decimal)>> = items
        .iter()
        .map(|item| item.table_price.zip(item.source.quantity))
        .collect();
    if let (Some(received), Some(commodity_terms)) =
        (informed(sale.commodity_price), commodity_terms)
    {
        let formula = format!(
            "Σ ItemTablePrice × Quantity {}",
            terms(commodity_terms.iter().map(|(price, quantity)| format!(
                "{} × {}",
                money(*price),
                quantity.normalize()
            )))
        );
        let expected = commodity_terms
            .iter()
            .try_fold(Decimal::ZERO, |sum, (price, quantity)| {
                exact::add(sum, exact::product(*price, *quantity)?)
            });
        warn(
            Code::CommodityPriceInconsistent,
            compare("CommodityPrice", received, &formula, expected, tolerance),
        );
    }
    warnings
}

/// `Σ ItemPrice` (normalised) with the header's discount and charges: what
/// `NetPrice`, `TotalPrice` and `GrossPrice` are checked against.
struct ItemsTotal<'a> {
    sale: &'a RetailSale,
    prices: Vec<Decimal>,
    sum: Result<Decimal, Overflow>,
}

impl<'a> ItemsTotal<'a> {
    /// `None` when an item has no price (its own error says why).
    fn new(sale: &'a RetailSale, items: &[CheckedItem<'_>]) -> Option<Self> {
        let prices: Vec<Decimal> = items
            .iter()
            .map(|item| item.item_price)
            .collect::<Option<_>>()?;
        let sum = exact::sum(prices.iter().copied());
        Some(ItemsTotal { sale, prices, sum })
    }

    /// "items X − discount D" and its value. The items show as their sum,
    /// or as their terms when they are too large to add up.
    fn less_discount(&self) -> (String, Result<Decimal, Overflow>) {
        let items = match self.sum {
            Ok(sum) => money(sum),
            Err(_) => format!("({})", terms(self.prices.iter().map(|price| money(*price)))),
        };
        let discount = self.sale.discount_value;
        (
            format!("items {items} − discount {}", money(discount)),
            self.sum.and_then(|sum| exact::add(sum, -discount)),
        )
    }

    /// "items X − discount D + freight F + increase I" and its value.
    fn with_charges(&self) -> (String, Result<Decimal, Overflow>) {
        let (formula, value) = self.less_discount();
        let (freight, increase) = (self.sale.freight_value, self.sale.increase_value);
        (
            format!(
                "{formula} + freight {} + increase {}",
                money(freight),
                money(increase)
            ),
            value.and_then(|value| exact::sum([value, freight, increase])),
        )
    }
}

/// The message of a header `field` whose `received` value is not its
/// `formula` (worth `expected`) within the tolerance: "F received ≠ formula
/// = expected", or, when the formula leaves the decimal range, why it cannot
/// equal it. `None` when they agree.
fn compare(
    field: &str,
    received: Decimal,
    formula: &str,
    expected: Result<Decimal, Overflow>,
    tolerance: Decimal,
) -> Option<String> {
    let message = match expected {
        Ok(expected) => {
            if !differs(received, expected, tolerance) {
                return None;
            }
            format!(
                "{field} {} ≠ {formula} = {}",
                money(received),
                money(expected)
            )
        }
        Err(overflow) => beyond_range(formula, overflow, field, received),
    };
    Some(format!("{CONTENT}.{field}: {message}"))
}

/// "terms are too large to add up exactly (beyond ±…), so they cannot equal
/// field received".
fn beyond_range(terms: &str, overflow: Overflow, field: &str, received: Decimal) -> String {
    format!(
        "{terms} are {overflow}, so they cannot equal {field} {}",
        money(received)
    )
}

/// More than `tolerance` apart; two values whose difference leaves the
/// decimal range certainly are.
fn differs(received: Decimal, expected: Decimal, tolerance: Decimal) -> bool {
    !exact::add(received, -expected).is_ok_and(|difference| difference.abs() <= tolerance)
}

/// Money with 2 decimals, or more when it has more (a sub-cent difference
/// must not print as two equal numbers).
pub(super) fn money(value: Decimal) -> String {
    let mut value = value.normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    value.to_string()
}

/// "a + b + c", the first [`MAX_TERMS`] then a count of the rest.
fn terms(values: impl Iterator<Item = String>) -> String {
    let values: Vec<String> = values.collect();
    if values.len() <= MAX_TERMS {
        return values.join(" + ");
    }
    format!(
        "{} + … ({} more)",
        values[..MAX_TERMS].join(" + "),
        values.len() - MAX_TERMS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("test decimal")
    }

    #[test]
    fn money_shows_two_decimals_and_never_hides_a_sub_cent_difference() {
        assert_eq!(money(dec("203")), "203.00");
        assert_eq!(money(dec("41.92")), "41.92");
        assert_eq!(money(dec("7.500")), "7.50");
        assert_eq!(money(dec("0.005")), "0.005");
        assert_eq!(money(dec("-5")), "-5.00");
    }

    #[test]
    fn long_sums_are_cut_after_ten_terms() {
        let listed = terms((1..=12).map(|n| n.to_string()));
        assert_eq!(
            listed,
            "1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + … (2 more)"
        );
        assert_eq!(terms(["35.00".to_owned()].into_iter()), "35.00");
    }

    #[test]
    fn a_difference_within_the_tolerance_is_no_mismatch() {
        assert!(!differs(dec("10.01"), dec("10.00"), dec("0.01")));
        assert!(differs(dec("10.02"), dec("10.00"), dec("0.01")));
        assert!(differs(dec("10.01"), dec("10.00"), Decimal::ZERO));
        assert!(!differs(dec("10.00"), dec("10"), Decimal::ZERO));
    }
}
