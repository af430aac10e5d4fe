//! The sale's header: document number, station, operator, customer, carrier,
//! issue date, the three prices that must be positive, and the presence of
//! items and payments.

use chrono::NaiveDate;
use eai_protocol::{Code, Detail, RetailSale};
use rust_decimal::Decimal;

use super::{informed, SaleMasterData, CONTENT};
use crate::mapping::Entity;

/// The header resolved to internal codes; `None` where an error was reported.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    /// `(station, series)`.
    pub station: Option<(String, String)>,
    pub operator: Option<String>,
    pub customer: Option<String>,
    /// `Some(None)`: no carrier given.
    pub carrier: Option<Option<String>>,
    pub issue_date: Option<NaiveDate>,
}

/// Checks the header, pushing one error per fault.
pub(super) fn check(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Header {
    check_document(sale, master, errors);
    let header = Header {
        station: station(sale, master, errors),
        operator: operator(sale, master, errors),
        customer: customer(sale, master, errors),
        carrier: carrier(sale, master, errors),
        issue_date: issue_date(sale, master, errors),
    };
    for (field, value, code) in [
        ("TotalPrice", sale.total_price, Code::TotalPriceZero),
        ("NetPrice", sale.net_price, Code::NetPriceZero),
        ("GrossPrice", sale.gross_price, Code::GrossPriceZero),
    ] {
        check_positive(field, value, code, errors);
    }
    if sale.items.is_empty() {
        errors.push(Detail::error(
            Code::ItemsMissing,
            format!("{CONTENT}.ListOfSaleItem: the sale has no item"),
        ));
    }
    if sale.payments.is_empty() {
        errors.push(Detail::error(
            Code::PaymentsMissing,
            format!("{CONTENT}.ListOfSaleCondition: the sale has no payment"),
        ));
    }
    header
}

fn check_document(sale: &RetailSale, master: &SaleMasterData, errors: &mut Vec<Detail>) {
    match informed(&sale.document_code) {
        None => errors.push(Detail::error(
            Code::DocumentMissing,
            format!("{CONTENT}.DocumentCode: the sale's document number is not informed"),
        )),
        Some(document) if master.document_used => errors.push(Detail::error(
            Code::DocumentDuplicate,
            format!(
                "{CONTENT}.DocumentCode: document {document} was already used by a sale of this branch"
            ),
        )),
        Some(_) => {}
    }
}

fn station(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<(String, String)> {
    let found = master
        .directory
        .resolve(Entity::Station, &sale.station)
        .and_then(|code| master.stations.get_key_value(code));
    if found.is_none() {
        errors.push(Detail::error(
            Code::StationNotFound,
            format!(
                "{CONTENT}.StationSalePointInternalId: station '{}' has no de/para mapping and is not a station of this branch",
                sale.station
            ),
        ));
    }
    found.map(|(code, series)| (code.clone(), series.clone()))
}

fn operator(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<String> {
    let found = master
        .directory
        .resolve(Entity::Operator, &sale.operator)
        .filter(|code| master.directory.is_internal(Entity::Operator, code));
    if found.is_none() {
        errors.push(Detail::error(
            Code::OperatorNotFound,
            format!(
                "{CONTENT}.OperatorCode: operator '{}' has no de/para mapping and is not an operator code",
                sale.operator
            ),
        ));
    }
    found.map(str::to_owned)
}

fn customer(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<String> {
    let path = format!("{CONTENT}.CustomerVendorInternalId");
    let Some(external) = informed(&sale.customer) else {
        errors.push(Detail::error(
            Code::CustomerMissing,
            format!("{path}: the customer is not informed"),
        ));
        return None;
    };
    let found = master
        .directory
        .resolve(Entity::Customer, external)
        .and_then(|code| master.customers.get_key_value(code));
    match found {
        None => {
            errors.push(Detail::error(
                Code::CustomerNotFound,
                format!("{path}: customer '{external}' has no de/para mapping and is not a customer code"),
            ));
            None
        }
        Some((code, true)) => {
            errors.push(Detail::error(
                Code::CustomerBlocked,
                format!("{path}: customer {code} is blocked"),
            ));
            None
        }
        Some((code, false)) => Some(code.clone()),
    }
}

fn carrier(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<Option<String>> {
    let Some(external) = informed(&sale.carrier) else {
        return Some(None);
    };
    let found = master
        .directory
        .resolve(Entity::Carrier, external)
        .filter(|code| master.directory.is_internal(Entity::Carrier, code));
    if found.is_none() {
        errors.push(Detail::error(
            Code::CarrierNotFound,
            format!(
                "{CONTENT}.CarrierCode: carrier '{external}' has no de/para mapping and is not a carrier code"
            ),
        ));
    }
    found.map(|code| Some(code.to_owned()))
}

fn issue_date(
    sale: &RetailSale,
    master: &SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<NaiveDate> {
    let path = format!("{CONTENT}.IssueDateDocument");
    if let Some(raw) = &sale.issue_date_raw {
        errors.push(Detail::error(
            Code::IssueDateInvalid,
            format!("{path}: '{raw}' is not a date"),
        ));
        return None;
    }
    let Some(stamp) = sale.issue_date else {
        errors.push(Detail::error(
            Code::IssueDateInvalid,
            format!("{path}: the issue date is not informed"),
        ));
        return None;
    };
    let date = stamp.date();
    if let Some(closed) = master.closed_until.filter(|closed| date <= *closed) {
        errors.push(Detail::error(
            Code::IssueDateClosedPeriod,
            format!("{path}: issue date {date} is not after the branch's closing date {closed}"),
        ));
        return None;
    }
    Some(date)
}

fn check_positive(field: &str, value: Option<Decimal>, code: Code, errors: &mut Vec<Detail>) {
    let message = match value {
        None => format!("{CONTENT}.{field}: {field} is not informed"),
        Some(value) if value <= Decimal::ZERO => {
            format!("{CONTENT}.{field}: {field} must be greater than zero, got {value}")
        }
        Some(_) => return,
    };
    errors.push(Detail::error(code, message));
}
