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

use eai_protocol::{Code, Detail, RetailSale, SaleItem};
use rust_decimal::Decimal;

use super::items::CheckedItem;
use super::CONTENT;

/// Terms listed in a message before the rest is summarised.
const MAX_TERMS: usize = 10;

/// Pushes the totals errors.
/// A header charge that must equal the sum of its prorated item parts.
struct Charge {
    field: &'static str,
    prorated_field: &'static str,
    value: Decimal,
    part: fn(&SaleItem) -> Decimal,
    code: Code,
}

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
            let parts: Vec<Decimal> = items
                .iter()
                .map(|item| (charge.part)(item.source))
                .collect();
            let mismatch = prorated(
                charge.field,
                charge.prorated_field,
                charge.value,
                &parts,
                tolerance,
                charge.code,
            );
            errors.extend(mismatch);
        }
        if let (Some(net), Some(items)) = (sale.net_price, items_sum(items)) {
            let expected = items - sale.discount_value + sale.freight_value + sale.increase_value;
            if differs(net, expected, tolerance) {
                errors.push(Detail::error(
                    Code::TotalsMismatch,
                    format!(
                        "{CONTENT}.NetPrice: NetPrice {} ≠ {}",
                        money(net),
                        with_charges(sale, items, expected)
                    ),
                ));
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
            let paid: Decimal = values.iter().sum();
            if differs(paid, net, tolerance) {
                errors.push(Detail::error(
                    Code::PaymentsMismatch,
                    format!(
                        "{CONTENT}.ListOfSaleCondition: payments {} ({}) ≠ NetPrice {}",
                        money(paid),
                        terms(values.iter().map(|value| money(*value))),
                        money(net)
                    ),
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
    if let Some(items_total) = items_sum(items) {
        if let Some(total) = informed(sale.total_price) {
            let expected = items_total - sale.discount_value;
            if differs(total, expected, tolerance) {
                warnings.push(Detail::warning(
                    Code::TotalPriceInconsistent,
                    format!(
                        "{CONTENT}.TotalPrice: TotalPrice {} ≠ items {} − discount {} = {}",
                        money(total),
                        money(items_total),
                        money(sale.discount_value),
                        money(expected)
                    ),
                ));
            }
        }
        if let Some(gross) = informed(sale.gross_price) {
            let expected =
                items_total - sale.discount_value + sale.freight_value + sale.increase_value;
            if differs(gross, expected, tolerance) {
                warnings.push(Detail::warning(
                    Code::GrossPriceInconsistent,
                    format!(
                        "{CONTENT}.GrossPrice: GrossPrice {} ≠ {}",
                        money(gross),
                        with_charges(sale, items_total, expected)
                    ),
                ));
            }
        }
    }
    let commodity_terms: Option<Vec<(Decimal, Decimal)>> = items
        .iter()
        .map(|item| item.table_price.zip(item.source.quantity))
        .collect();
    if let (Some(commodity), Some(commodity_terms)) =
        (informed(sale.commodity_price), commodity_terms)
    {
        let expected: Decimal = commodity_terms
            .iter()
            .map(|(price, quantity)| price * quantity)
            .sum();
        if differs(commodity, expected, tolerance) {
            warnings.push(Detail::warning(
                Code::CommodityPriceInconsistent,
                format!(
                    "{CONTENT}.CommodityPrice: CommodityPrice {} ≠ Σ ItemTablePrice × Quantity {} = {}",
                    money(commodity),
                    terms(
                        commodity_terms
                            .iter()
                            .map(|(price, quantity)| format!("{} × {}", money(*price), quantity.normalize()))
                    ),
                    money(expected)
                ),
            ));
        }
    }
    warnings
}

/// A header value against the sum of the items' prorated shares.
fn prorated(
    field: &str,
    item_field: &str,
    received: Decimal,
    shares: &[Decimal],
    tolerance: Decimal,
    code: Code,
) -> Option<Detail> {
    let expected: Decimal = shares.iter().sum();
    differs(received, expected, tolerance).then(|| {
        Detail::error(
            code,
            format!(
                "{CONTENT}.{field}: {field} {} ≠ Σ {item_field} {} = {}",
                money(received),
                terms(shares.iter().map(|share| money(*share))),
                money(expected)
            ),
        )
    })
}

/// `Σ ItemPrice` (normalised), when every item has one.
fn items_sum(items: &[CheckedItem<'_>]) -> Option<Decimal> {
    items.iter().map(|item| item.item_price).sum()
}

/// "items X − discount D + freight F + increase I = E".
fn with_charges(sale: &RetailSale, items: Decimal, expected: Decimal) -> String {
    format!(
        "items {} − discount {} + freight {} + increase {} = {}",
        money(items),
        money(sale.discount_value),
        money(sale.freight_value),
        money(sale.increase_value),
        money(expected)
    )
}

fn differs(received: Decimal, expected: Decimal, tolerance: Decimal) -> bool {
    (received - expected).abs() > tolerance
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
