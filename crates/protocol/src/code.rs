//! The stable codes of SPEC §6, the worker's own receipt codes
//! (`PROCESSING_FAILED`, `DETAILS_TRUNCATED`) and [`Detail`], one line of a
//! receipt.
//!
//! Senders automate on the code, never on the human message (which may be
//! Portuguese or English and may be reworded), so the code set and its
//! SCREAMING_SNAKE spelling are part of the wire contract.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::json::Json;

/// Longest rendering of an offending value quoted in an `INVALID_FIELD` message:
/// enough to recognise the value, short enough that a 30 MiB array cannot end up
/// inside a receipt.
const GOT_MAX_CHARS: usize = 80;

/// Every stable code: SPEC §6 (envelope, reservation, sale groups and
/// warnings), then the worker's own.
///
/// Serialized as its [`Code::as_str`] text so receipts carry exactly the
/// documented spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The body is not JSON (or not UTF-8).
    InvalidJson,
    /// The body is JSON but not a usable envelope.
    InvalidEnvelope,
    /// A field has the wrong type or shape; the message names its JSON path.
    InvalidField,
    /// `Header.Transaction` is missing or not one we process.
    UnsupportedTransaction,
    /// `Header.Version` has a major version we do not speak.
    UnsupportedVersion,
    /// The company/branch pair is unknown.
    BranchNotFound,
    /// The event is neither `upsert` nor `delete`.
    EventNotSupported,
    /// `ReserveType` is missing or not one of VD, CL, PD, LB, NF, LJ.
    ReserveTypeInvalid,
    /// `DocumentReserve` is missing.
    DocumentReserveMissing,
    /// Items of one reservation name different `ReserveBranch`es.
    ReserveBranchMismatch,
    /// The product is not informed or not found.
    ProductNotFound,
    /// The product is blocked for use.
    ProductBlocked,
    /// The warehouse is unknown.
    WarehouseNotFound,
    /// A quantity is missing, unparseable or not positive.
    QuantityInvalid,
    /// An explicit lot does not exist.
    LotNotFound,
    /// An explicit lot is past its expiry date.
    LotExpired,
    /// The lots cannot cover the requested quantity.
    LotInsufficient,
    /// The reservation referred to does not exist.
    ReserveNotFound,
    /// The reservation was already consumed by a sale.
    ReserveAlreadyUsed,
    /// The sale has no document number.
    DocumentMissing,
    /// The sale's document number was already used.
    DocumentDuplicate,
    /// The point-of-sale station is unknown.
    StationNotFound,
    /// The operator is unknown.
    OperatorNotFound,
    /// The sale names no customer.
    CustomerMissing,
    /// The customer is unknown.
    CustomerNotFound,
    /// The customer is blocked.
    CustomerBlocked,
    /// The carrier is unknown.
    CarrierNotFound,
    /// The issue date is missing or unparseable.
    IssueDateInvalid,
    /// The issue date is not after the branch's closing date.
    IssueDateClosedPeriod,
    /// `TotalPrice` is zero.
    TotalPriceZero,
    /// `NetPrice` is zero.
    NetPriceZero,
    /// `GrossPrice` is zero.
    GrossPriceZero,
    /// The sale has no items.
    ItemsMissing,
    /// An item has no unit price.
    UnitPriceMissing,
    /// An item has no operation code.
    OperationCodeMissing,
    /// No TES could be determined for an item.
    TesNotFound,
    /// A sale item's quantity differs from its reservation.
    ReserveQuantityMismatch,
    /// A sale item's warehouse differs from its reservation.
    ReserveWarehouseMismatch,
    /// The sale has no payments.
    PaymentsMissing,
    /// The payment method is unknown.
    PaymentMethodNotFound,
    /// The financial manager (card administrator) is unknown.
    FinancialManagerNotFound,
    /// A payment value is not positive.
    PaymentValueInvalid,
    /// Header freight differs from the sum of the items' freight.
    FreightMismatch,
    /// Header increase differs from the sum of the items' increase.
    IncreaseMismatch,
    /// `NetPrice` differs from items − discount + freight + increase.
    TotalsMismatch,
    /// The payments do not add up to `NetPrice`.
    PaymentsMismatch,
    /// The sale to cancel does not exist.
    SaleNotFound,
    /// The sale to cancel is already cancelled.
    SaleAlreadyCancelled,
    /// Warning: `TotalPrice` disagrees with its definition in seed 001.
    TotalPriceInconsistent,
    /// Warning: `GrossPrice` disagrees with its definition in seed 001.
    GrossPriceInconsistent,
    /// Warning: `CommodityPrice` disagrees with its definition in seed 001.
    CommodityPriceInconsistent,
    /// The envelope could not be processed: the database refused it for a
    /// reason no retry cures, or it kept failing until its retries were spent;
    /// the message says why.
    ProcessingFailed,
    /// Warning: the receipt lists only its first details; this one counts the
    /// details left out, by severity.
    DetailsTruncated,
}

impl Code {
    /// Every code, in SPEC §6 order followed by the worker's own receipt codes,
    /// so callers (documentation, metrics labels, tests) can enumerate the
    /// contract without repeating it.
    pub const ALL: [Code; 53] = [
        Code::InvalidJson,
        Code::InvalidEnvelope,
        Code::InvalidField,
        Code::UnsupportedTransaction,
        Code::UnsupportedVersion,
        Code::BranchNotFound,
        Code::EventNotSupported,
        Code::ReserveTypeInvalid,
        Code::DocumentReserveMissing,
        Code::ReserveBranchMismatch,
        Code::ProductNotFound,
        Code::ProductBlocked,
        Code::WarehouseNotFound,
        Code::QuantityInvalid,
        Code::LotNotFound,
        Code::LotExpired,
        Code::LotInsufficient,
        Code::ReserveNotFound,
        Code::ReserveAlreadyUsed,
        Code::DocumentMissing,
        Code::DocumentDuplicate,
        Code::StationNotFound,
        Code::OperatorNotFound,
        Code::CustomerMissing,
        Code::CustomerNotFound,
        Code::CustomerBlocked,
        Code::CarrierNotFound,
        Code::IssueDateInvalid,
        Code::IssueDateClosedPeriod,
        Code::TotalPriceZero,
        Code::NetPriceZero,
        Code::GrossPriceZero,
        Code::ItemsMissing,
        Code::UnitPriceMissing,
        Code::OperationCodeMissing,
        Code::TesNotFound,
        Code::ReserveQuantityMismatch,
        Code::ReserveWarehouseMismatch,
        Code::PaymentsMissing,
        Code::PaymentMethodNotFound,
        Code::FinancialManagerNotFound,
        Code::PaymentValueInvalid,
        Code::FreightMismatch,
        Code::IncreaseMismatch,
        Code::TotalsMismatch,
        Code::PaymentsMismatch,
        Code::SaleNotFound,
        Code::SaleAlreadyCancelled,
        Code::TotalPriceInconsistent,
        Code::GrossPriceInconsistent,
        Code::CommodityPriceInconsistent,
        Code::ProcessingFailed,
        Code::DetailsTruncated,
    ];

    /// The code spelled `text` on the wire, if there is one.
    pub fn from_wire(text: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == text)
    }

    /// The wire spelling, e.g. `Code::LotInsufficient.as_str() == "LOT_INSUFFICIENT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "INVALID_JSON",
            Code::InvalidEnvelope => "INVALID_ENVELOPE",
            Code::InvalidField => "INVALID_FIELD",
            Code::UnsupportedTransaction => "UNSUPPORTED_TRANSACTION",
            Code::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Code::BranchNotFound => "BRANCH_NOT_FOUND",
            Code::EventNotSupported => "EVENT_NOT_SUPPORTED",
            Code::ReserveTypeInvalid => "RESERVE_TYPE_INVALID",
            Code::DocumentReserveMissing => "DOCUMENT_RESERVE_MISSING",
            Code::ReserveBranchMismatch => "RESERVE_BRANCH_MISMATCH",
            Code::ProductNotFound => "PRODUCT_NOT_FOUND",
            Code::ProductBlocked => "PRODUCT_BLOCKED",
            Code::WarehouseNotFound => "WAREHOUSE_NOT_FOUND",
            Code::QuantityInvalid => "QUANTITY_INVALID",
            Code::LotNotFound => "LOT_NOT_FOUND",
            Code::LotExpired => "LOT_EXPIRED",
            Code::LotInsufficient => "LOT_INSUFFICIENT",
            Code::ReserveNotFound => "RESERVE_NOT_FOUND",
            Code::ReserveAlreadyUsed => "RESERVE_ALREADY_USED",
            Code::DocumentMissing => "DOCUMENT_MISSING",
            Code::DocumentDuplicate => "DOCUMENT_DUPLICATE",
            Code::StationNotFound => "STATION_NOT_FOUND",
            Code::OperatorNotFound => "OPERATOR_NOT_FOUND",
            Code::CustomerMissing => "CUSTOMER_MISSING",
            Code::CustomerNotFound => "CUSTOMER_NOT_FOUND",
            Code::CustomerBlocked => "CUSTOMER_BLOCKED",
            Code::CarrierNotFound => "CARRIER_NOT_FOUND",
            Code::IssueDateInvalid => "ISSUE_DATE_INVALID",
            Code::IssueDateClosedPeriod => "ISSUE_DATE_CLOSED_PERIOD",
            Code::TotalPriceZero => "TOTAL_PRICE_ZERO",
            Code::NetPriceZero => "NET_PRICE_ZERO",
            Code::GrossPriceZero => "GROSS_PRICE_ZERO",
            Code::ItemsMissing => "ITEMS_MISSING",
            Code::UnitPriceMissing => "UNIT_PRICE_MISSING",
            Code::OperationCodeMissing => "OPERATION_CODE_MISSING",
            Code::TesNotFound => "TES_NOT_FOUND",
            Code::ReserveQuantityMismatch => "RESERVE_QUANTITY_MISMATCH",
            Code::ReserveWarehouseMismatch => "RESERVE_WAREHOUSE_MISMATCH",
            Code::PaymentsMissing => "PAYMENTS_MISSING",
            Code::PaymentMethodNotFound => "PAYMENT_METHOD_NOT_FOUND",
            Code::FinancialManagerNotFound => "FINANCIAL_MANAGER_NOT_FOUND",
            Code::PaymentValueInvalid => "PAYMENT_VALUE_INVALID",
            Code::FreightMismatch => "FREIGHT_MISMATCH",
            Code::IncreaseMismatch => "INCREASE_MISMATCH",
            Code::TotalsMismatch => "TOTALS_MISMATCH",
            Code::PaymentsMismatch => "PAYMENTS_MISMATCH",
            Code::SaleNotFound => "SALE_NOT_FOUND",
            Code::SaleAlreadyCancelled => "SALE_ALREADY_CANCELLED",
            Code::TotalPriceInconsistent => "TOTAL_PRICE_INCONSISTENT",
            Code::GrossPriceInconsistent => "GROSS_PRICE_INCONSISTENT",
            Code::CommodityPriceInconsistent => "COMMODITY_PRICE_INCONSISTENT",
            Code::ProcessingFailed => "PROCESSING_FAILED",
            Code::DetailsTruncated => "DETAILS_TRUNCATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Whether a [`Detail`] fails the message (`error`) or only informs (`warning`).
///
/// A receipt's Status is `error` as soon as one detail is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The message was not applied.
    Error,
    /// The message was applied; something the sender should fix was noticed.
    Warning,
}

/// One line of a receipt's `ProcessingInformation.Details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// Error or warning.
    #[serde(rename = "Type")]
    pub severity: Severity,
    /// The stable code senders automate on.
    #[serde(rename = "Code")]
    pub code: Code,
    /// A human explanation, naming the JSON path at fault where there is one.
    #[serde(rename = "Message")]
    pub message: String,
    /// Machine-readable context (e.g. the lots available for a `LOT_INSUFFICIENT`).
    #[serde(rename = "DetailedMessage", skip_serializing_if = "Option::is_none")]
    pub detailed_message: Option<String>,
    /// How many problems this line stands for: one, or more for a line that
    /// counts problems too many to list one by one ([`Detail::standing_for`]).
    /// A receipt's `DETAILS_TRUNCATED` warning adds these up for the lines it
    /// leaves out, so it counts problems, not lines.
    #[serde(skip)]
    pub(crate) stands_for: usize,
}

impl Detail {
    /// An error detail: the message is not applied.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Detail {
            severity: Severity::Error,
            code,
            message: message.into(),
            detailed_message: None,
            stands_for: 1,
        }
    }

    /// A warning detail: the message is applied, the sender should still look.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Detail {
            severity: Severity::Warning,
            code,
            message: message.into(),
            detailed_message: None,
            stands_for: 1,
        }
    }

    /// Attaches the `DetailedMessage` (TOTVS puts structured context there).
    pub fn with_detailed_message(self, detailed: impl Into<String>) -> Self {
        Detail {
            detailed_message: Some(detailed.into()),
            ..self
        }
    }

    /// This line as the count of `problems` problems that are not listed one
    /// by one, its message saying so.
    pub(crate) fn standing_for(self, problems: usize) -> Self {
        Detail {
            stands_for: problems,
            ..self
        }
    }

    /// `INVALID_FIELD` naming the JSON path and what was expected, so the sender
    /// can find the field without our logs:
    /// `"{path}: expected {expected}, got {got}"`, where `got` is the compact JSON
    /// of the received value, cut to 80 characters (ending in `…` when cut).
    pub fn invalid_field(path: &str, expected: &str, got: &Json<'_>) -> Self {
        let got = truncate_chars(&got.to_string_within(GOT_MAX_CHARS), GOT_MAX_CHARS);
        Detail::error(
            Code::InvalidField,
            format!("{path}: expected {expected}, got {got}"),
        )
    }

    /// True for errors, which make the receipt's Status `error`.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `"1 error"`, `"2 errors"`: `count` followed by the noun that fits it.
pub(crate) fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Cuts `text` to at most `max` characters (not bytes, so multi-byte
/// characters are never split), marking the cut with `…`.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if !longer_than(text, max) {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// True when `text` has more than `max` characters; reads at most `max + 1`
/// of them, so a 30 MiB string costs no more than a short one.
pub(crate) fn longer_than(text: &str, max: usize) -> bool {
    text.chars().nth(max).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;

    #[test]
    fn every_code_has_a_distinct_screaming_snake_spelling() {
        let spellings: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(spellings.len(), Code::ALL.len());
        for code in Code::ALL {
            assert_eq!(Code::from_wire(code.as_str()), Some(code));
        }
        assert_eq!(Code::from_wire("lot_insufficient"), None);
        for code in Code::ALL {
            let text = code.as_str();
            assert!(
                text.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{text}"
            );
            assert_eq!(code.to_string(), text);
        }
    }

    #[test]
    fn the_workers_own_codes_are_part_of_the_contract() {
        let spellings: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            spellings[spellings.len() - 2..],
            ["PROCESSING_FAILED", "DETAILS_TRUNCATED"]
        );
    }

    #[test]
    fn code_serializes_as_its_wire_spelling() {
        assert_eq!(
            serde_json::to_string(&Code::LotInsufficient)
                .ok()
                .as_deref(),
            Some("\"LOT_INSUFFICIENT\"")
        );
    }

    #[test]
    fn detail_serializes_with_receipt_key_names_and_omits_absent_detailed_message() {
        let plain = Detail::warning(Code::TotalPriceInconsistent, "recomputed");
        assert_eq!(
            serde_json::to_string(&plain).ok().as_deref(),
            Some(r#"{"Type":"warning","Code":"TOTAL_PRICE_INCONSISTENT","Message":"recomputed"}"#)
        );
        let detailed = Detail::error(Code::LotInsufficient, "short").with_detailed_message("{}");
        assert_eq!(
            serde_json::to_string(&detailed).ok().as_deref(),
            Some(
                r#"{"Type":"error","Code":"LOT_INSUFFICIENT","Message":"short","DetailedMessage":"{}"}"#
            )
        );
        assert!(detailed.is_error());
        assert!(!plain.is_error());
    }

    #[test]
    fn invalid_field_names_path_expectation_and_received_value() {
        let detail = Detail::invalid_field(
            "$.Content.Quantity",
            "a number",
            &Json::from(&json!({"a": true})),
        );
        assert_eq!(detail.code, Code::InvalidField);
        assert!(detail.is_error());
        assert_eq!(
            detail.message,
            r#"$.Content.Quantity: expected a number, got {"a":true}"#
        );
    }

    #[test]
    fn invalid_field_cuts_huge_values_to_eighty_characters() {
        let huge = json!("é".repeat(500));
        let detail = Detail::invalid_field("$.X", "a list", &Json::from(&huge));
        let got = detail
            .message
            .strip_prefix("$.X: expected a list, got ")
            .unwrap_or_default();
        assert_eq!(got.chars().count(), 80);
        assert!(got.starts_with("\"éé"));
        assert!(got.ends_with('…'));
    }
}
