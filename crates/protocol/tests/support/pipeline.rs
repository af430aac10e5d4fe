//! The receiver's path through this crate, from a body to its receipt bytes,
//! without the database: parse, validate, read the content, build and
//! serialize the receipt. Shared by the property tests (`tests/robustness.rs`)
//! and the cargo-fuzz target (`fuzz/fuzz_targets/envelope.rs`), which feed it
//! arbitrary bodies: any panic, here or in the crate, is a bug.

use chrono::DateTime;
use eai_protocol::{
    receipt_status, Detail, Envelope, Event, InboundSummary, ItemReserve, Receipt, ReceiptOrigin,
    RetailSale, SaleCancellation, StockRequest, Transaction, MAX_ENVELOPE_BYTES,
};

/// Answers `body` with a receipt listing at most `max_details` details and
/// checks what every receipt must be: JSON of at most [`MAX_ENVELOPE_BYTES`],
/// `error` exactly when a detail is, listing at most `max_details` (at least
/// one) plus the truncation note, and read back by [`receipt_status`] as
/// answering the envelope's UUID.
pub fn answer(body: &[u8], max_details: usize) {
    let origin = ReceiptOrigin {
        source_application: "EAIWORKER".into(),
        product_name: "EAIWORKER".into(),
        max_details,
    };
    let (inbound, details) = match Envelope::parse(body) {
        Ok(envelope) => {
            for key in ["CompanyId", "BranchId", "Transaction"] {
                let label = envelope.header_label(key);
                assert!(label.chars().count() <= eai_protocol::MAX_TEXT_CHARS);
                assert!(!label.contains('\0'));
            }
            assert!(!envelope.namespace().contains('\0'));
            (envelope.summary(), details_of(&envelope))
        }
        Err(rejection) => (
            InboundSummary::default(),
            vec![Detail::error(rejection.code(), rejection.to_string())],
        ),
    };
    let at = DateTime::UNIX_EPOCH;
    let receipt = Receipt::new(&origin, &inbound, at, at, details.clone(), Vec::new());
    let bytes = receipt.to_bytes();
    assert!(bytes.len() <= MAX_ENVELOPE_BYTES, "{} bytes", bytes.len());
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
    assert_eq!(receipt.is_ok(), !details.iter().any(Detail::is_error));
    assert!(receipt.details().len() <= max_details.max(1) + 1);
    let read_back = receipt_status(&bytes).map(|read| (read.received_uuid, read.ok));
    let expected = (!inbound.uuid.is_empty()).then(|| (inbound.uuid.clone(), receipt.is_ok()));
    assert_eq!(read_back, expected);
}

/// Every detail the envelope gets before the database: the validation's, then
/// the content model's for its transaction (every one when it is not one we
/// process), read for its event (upsert when it is not one we know).
fn details_of(envelope: &Envelope) -> Vec<Detail> {
    let mut details = envelope.validate().err().unwrap_or_default();
    let event = envelope.event().unwrap_or(Event::Upsert);
    let transactions = match envelope.transaction() {
        Ok(transaction) => vec![transaction],
        Err(_) => Transaction::ALL.to_vec(),
    };
    let content = envelope.content();
    for transaction in transactions {
        let refused = match transaction {
            Transaction::ItemReserve => ItemReserve::from_content(&content, event).err(),
            Transaction::RetailSales => RetailSale::from_content(&content, event).err(),
            Transaction::RetailSalesCancellation => SaleCancellation::from_content(&content).err(),
            Transaction::StockLevel => StockRequest::from_content(&content).err(),
            Transaction::EnvironmentTest => None,
        };
        details.extend(refused.unwrap_or_default());
    }
    details
}
