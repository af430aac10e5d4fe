//! What an accepted sale owes: its status, its planned payments and one
//! receivable (title) per payment line.
//!
//! A payment's date is its `DateOfPayment`, else the issue date. The due date
//! adds the financial manager's days (`AE_DIAS`; none without a manager).
//! The debtor is the financial manager, unless it is own financing
//! (`AE_FINPRO`) or there is none: then the customer owes.

use chrono::{Days, NaiveDate};

use super::payments::CheckedPayment;
use super::{informed, DebtorKind, PlannedPayment, Receivable, SaleStatus};

/// `released` when every payment method is released for invoicing (`MV_LJIFPLI`).
pub(super) fn status(payments: &[PlannedPayment], released: &[String]) -> SaleStatus {
    let all_released = payments
        .iter()
        .all(|payment| released.iter().any(|code| code.trim() == payment.method));
    if all_released {
        SaleStatus::Released
    } else {
        SaleStatus::CreditBlocked
    }
}

/// The payments with internal codes and dates; `None` if any is unresolved.
pub(super) fn plan_payments(
    payments: &[CheckedPayment<'_>],
    issue_date: NaiveDate,
) -> Option<Vec<PlannedPayment>> {
    payments
        .iter()
        .map(|payment| {
            let source = payment.source;
            Some(PlannedPayment {
                payment_no: source.payment_no,
                method: payment.method.clone()?,
                financial_manager: payment.manager?.map(|manager| manager.code.clone()),
                value: payment.value?,
                date: source.date.map_or(issue_date, |stamp| stamp.date()),
                serial_number: informed(&source.serial_number).map(str::to_owned),
                instalment: informed(&source.instalment).map(str::to_owned),
                card: source.card.clone(),
            })
        })
        .collect()
}

/// One receivable per planned payment (`planned` and `checked` in the same order).
pub(super) fn receivables(
    planned: &[PlannedPayment],
    checked: &[CheckedPayment<'_>],
    customer: &str,
) -> Vec<Receivable> {
    planned
        .iter()
        .zip(checked)
        .map(|(payment, checked)| {
            let manager = checked.manager.flatten();
            let days = manager.map_or(0, |manager| manager.days);
            let (debtor_kind, debtor) = match manager {
                Some(manager) if !manager.own_financing => {
                    (DebtorKind::FinancialManager, manager.code.clone())
                }
                _ => (DebtorKind::Customer, customer.to_owned()),
            };
            Receivable {
                payment_no: payment.payment_no,
                debtor_kind,
                debtor,
                amount: payment.value,
                due_date: add_days(payment.date, days),
            }
        })
        .collect()
}

/// `date` moved by `days` (either way); a date beyond the calendar stays put.
fn add_days(date: NaiveDate, days: i32) -> NaiveDate {
    let moved = if days >= 0 {
        date.checked_add_days(Days::new(u64::from(days.unsigned_abs())))
    } else {
        date.checked_sub_days(Days::new(u64::from(days.unsigned_abs())))
    };
    moved.unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    #[test]
    fn days_move_the_due_date_across_months_and_years() {
        assert_eq!(add_days(day("2021-12-05"), 30), day("2022-01-04"));
        assert_eq!(add_days(day("2021-12-05"), 0), day("2021-12-05"));
        assert_eq!(add_days(day("2021-03-01"), -1), day("2021-02-28"));
    }

    #[test]
    fn a_sale_is_released_only_when_every_method_is_released() {
        let payment = |method: &str| PlannedPayment {
            payment_no: 1,
            method: method.into(),
            financial_manager: None,
            value: rust_decimal::Decimal::ONE,
            date: day("2021-06-18"),
            serial_number: None,
            instalment: None,
            card: eai_protocol::CardPayment::default(),
        };
        let released = vec!["FI".to_owned(), "CC".to_owned(), "R$".to_owned()];
        assert_eq!(
            status(&[payment("CC"), payment("R$")], &released),
            SaleStatus::Released
        );
        assert_eq!(
            status(&[payment("CC"), payment("BOL")], &released),
            SaleStatus::CreditBlocked
        );
        assert_eq!(status(&[payment("CC")], &[]), SaleStatus::CreditBlocked);
    }
}
