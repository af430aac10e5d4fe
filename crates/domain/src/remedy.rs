//! What a person does about a problem: the "Ação" column of the error table
//! of the Protheus RetailSales documentation (seed 001), one suggestion per
//! receipt code, and the same for outbound statuses and dead letters. The
//! pending-item monitor shows these next to each item.

use eai_protocol::Code;

/// The suggested action for an inbound envelope answered with `code`.
pub fn for_code(code: Code) -> &'static str {
    match code {
        Code::InvalidJson | Code::InvalidEnvelope | Code::InvalidField => {
            "fix the field named in the message at the sender and send the envelope again"
        }
        Code::UnsupportedTransaction | Code::UnsupportedVersion | Code::EventNotSupported => {
            "check the sender's Transaction, Version and Event: this worker takes ItemReserve, RetailSales and RetailSalesCancellation"
        }
        Code::BranchNotFound => {
            "register the branch (eai import) or map the company (de/para Company), then retry"
        }
        Code::ReserveTypeInvalid | Code::DocumentReserveMissing => {
            "fix ReserveType / DocumentReserve at the sender and send the reservation again"
        }
        Code::ReserveBranchMismatch => {
            "check the item's ReserveBranch against the envelope's branch at the sender"
        }
        Code::ProductNotFound => "map the product (de/para Product) or import it, then retry",
        Code::ProductBlocked => "unblock the product in the master data, then retry",
        Code::WarehouseNotFound => {
            "map the warehouse (de/para Warehouse) or import it for the branch, then retry"
        }
        Code::QuantityInvalid => "fix the item's Quantity at the sender",
        Code::LotNotFound | Code::LotExpired | Code::LotInsufficient => {
            "check the stock per lot (DetailedMessage lists what is available); load stock, then retry"
        }
        Code::ReserveNotFound => {
            "integrate the ItemReserve first (or fix its de/para), then retry the sale"
        }
        Code::ReserveAlreadyUsed | Code::ReserveQuantityMismatch => {
            "check the reservation's quantity and whether it was already used or cancelled"
        }
        Code::ReserveWarehouseMismatch => {
            "send the reservation's warehouse in WarehouseInternalId (de/para Warehouse)"
        }
        Code::DocumentMissing | Code::DocumentDuplicate => {
            "check DocumentCode at the sender: missing, or already used by another sale"
        }
        Code::StationNotFound => {
            "register the station or map it (de/para Station); AUTOMATICO is the default"
        }
        Code::OperatorNotFound => "register the operator or map it (de/para Operator), then retry",
        Code::CustomerMissing | Code::CustomerNotFound => {
            "check CustomerVendorInternalId and map the customer (de/para Customer) or import it, then retry"
        }
        Code::CustomerBlocked => "unblock the customer in the master data, then retry",
        Code::CarrierNotFound => "register the carrier or map it (de/para Carrier), then retry",
        Code::IssueDateInvalid => "fix IssueDateDocument at the sender",
        Code::IssueDateClosedPeriod => {
            "the period is closed: reopen it (closed_until of the branch) or fix IssueDateDocument"
        }
        Code::TotalPriceZero | Code::NetPriceZero | Code::GrossPriceZero => {
            "fix TotalPrice / NetPrice / GrossPrice at the sender"
        }
        Code::ItemsMissing | Code::UnitPriceMissing | Code::OperationCodeMissing => {
            "fix ListOfSaleItem at the sender (ItemOrder, Quantity, UnitPrice, OperationCode)"
        }
        Code::TesNotFound => {
            "give the product a default TES or add an operation-code rule, then retry"
        }
        Code::PaymentsMissing | Code::PaymentValueInvalid => {
            "fix ListOfSalePayment at the sender"
        }
        Code::PaymentMethodNotFound | Code::FinancialManagerNotFound => {
            "map the payment method / financial manager (de/para) or register it, then retry"
        }
        Code::FreightMismatch
        | Code::IncreaseMismatch
        | Code::TotalsMismatch
        | Code::PaymentsMismatch => "fix the sale's totals at the sender: they do not add up",
        Code::SaleNotFound => "integrate the sale first (or fix its de/para), then retry the cancellation",
        Code::SaleAlreadyCancelled => "nothing to do: the sale was already cancelled; discard",
        Code::TotalPriceInconsistent
        | Code::GrossPriceInconsistent
        | Code::CommodityPriceInconsistent => "nothing blocks the sale; tell the sender",
        Code::ProcessingFailed => {
            "read the reason; fix what it names (database, locks), then retry"
        }
        Code::DetailsTruncated => "read the listed details first; fix them and retry",
    }
}

/// The suggested action for an outbound message left in `status`.
pub fn for_outbound(status: &str) -> &'static str {
    match status {
        "blocked" => {
            "fix the destination's credentials, then unblock the destination (its messages go out again)"
        }
        "rejected" => "read the destination's answer; fix the data and retry, or discard",
        "not_delivered" => {
            "the destination did not confirm in time: check whether it got it, then retry or discard"
        }
        "failed" => "check that the destination is reachable (destinations test), then retry",
        _ => "retry, or discard",
    }
}

/// The suggested action for an error whose code this worker does not know.
pub const UNKNOWN: &str = "read the receipt's details, fix what they name, then retry";

/// The suggested action for a sale parked until its reservations arrive.
pub const WAITING: &str =
    "nothing yet: it is retried by itself; integrate the ItemReserve it names if it never comes";

/// The suggested action for a dead letter with `code` (an `x-eai-code`).
pub fn for_dead_letter(code: &str) -> &'static str {
    match code {
        "PROCESSING_FAILED" => {
            "fix what the reason names, then retry its envelope (related); a replay only re-sends its stored receipt"
        }
        "RECEIPT_UNDELIVERABLE" => {
            "create the sender's reply queue or binding, then replay the receipt"
        }
        _ => {
            "the body is not an envelope that can be answered: have the sender fix it, then discard"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_action_and_the_seed_s_examples_read_as_documented() {
        for code in Code::ALL {
            assert!(!for_code(code).is_empty(), "{code}");
        }
        assert_eq!(
            for_code(Code::ProductNotFound),
            "map the product (de/para Product) or import it, then retry"
        );
        assert!(for_code(Code::LotInsufficient).contains("DetailedMessage"));
        assert!(for_outbound("blocked").contains("credentials"));
        assert!(for_dead_letter("INVALID_JSON").contains("discard"));
    }
}
