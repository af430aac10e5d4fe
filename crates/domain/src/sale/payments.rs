//! Each payment line: the method resolves, the value is positive, and a
//! financial manager (card administrator) resolves where the method requires
//! one or where one is given.

use eai_protocol::{Code, Detail, RetailSale, SalePayment};
use rust_decimal::Decimal;

use super::{informed, FinancialManager, SaleMasterData};
use crate::mapping::Entity;

/// One payment after the payment rules; `None` fields had an error.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CheckedPayment<'a> {
    pub source: &'a SalePayment,
    /// The internal payment method code.
    pub method: Option<String>,
    /// `Some(None)`: no financial manager, and none required.
    pub manager: Option<Option<&'a FinancialManager>>,
    /// The value, when present and positive.
    pub value: Option<Decimal>,
}

/// Checks every payment line, in order.
pub(super) fn check<'a>(
    sale: &'a RetailSale,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Vec<CheckedPayment<'a>> {
    sale.payments
        .iter()
        .map(|payment| check_payment(payment, master, errors))
        .collect()
}

fn check_payment<'a>(
    payment: &'a SalePayment,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
) -> CheckedPayment<'a> {
    let path = &payment.path;
    let method = match informed(&payment.method) {
        None => {
            errors.push(Detail::error(
                Code::PaymentMethodNotFound,
                format!("{path}.PaymentMethodCode: the payment method is not informed"),
            ));
            None
        }
        Some(external) => {
            let found = master
                .directory
                .resolve(Entity::PaymentMethod, external)
                .and_then(|code| master.payment_methods.get_key_value(code));
            if found.is_none() {
                errors.push(Detail::error(
                    Code::PaymentMethodNotFound,
                    format!("{path}.PaymentMethodCode: payment method '{external}' has no de/para mapping and is not a payment method code"),
                ));
            }
            found
        }
    };
    let requires_manager = method.is_some_and(|(_, requires)| *requires);
    let manager = match informed(&payment.financial_manager) {
        Some(external) => {
            let found = master
                .directory
                .resolve(Entity::FinancialManager, external)
                .and_then(|code| master.financial_managers.get(code));
            if found.is_none() {
                errors.push(Detail::error(
                    Code::FinancialManagerNotFound,
                    format!("{path}.FinancialManagerCode: financial manager '{external}' has no de/para mapping and is not a financial manager code"),
                ));
            }
            found.map(Some)
        }
        None if requires_manager => {
            let method = method.map(|(code, _)| code.as_str()).unwrap_or_default();
            errors.push(Detail::error(
                Code::FinancialManagerNotFound,
                format!("{path}.FinancialManagerCode: payment method {method} requires a financial manager, and none is informed"),
            ));
            None
        }
        None => Some(None),
    };
    let value = match payment.value {
        Some(value) if value > Decimal::ZERO => Some(value),
        Some(value) => {
            errors.push(Detail::error(
                Code::PaymentValueInvalid,
                format!(
                    "{path}.PaymentValue: the payment value must be greater than zero, got {value}"
                ),
            ));
            None
        }
        None => {
            errors.push(Detail::error(
                Code::PaymentValueInvalid,
                format!("{path}.PaymentValue: the payment value is not informed"),
            ));
            None
        }
    };
    CheckedPayment {
        source: payment,
        method: method.map(|(code, _)| code.clone()),
        manager,
        value,
    }
}
