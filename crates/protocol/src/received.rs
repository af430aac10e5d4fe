//! Reading the ReceiptMessage a destination sends back for a message we sent
//! (SPEC §8): an AMQP destination's delivery is confirmed by the receipt
//! echoing our UUID on `eai.receipts.in`, an HTTP one by an ok receipt in the
//! response body.
//!
//! Destinations are other products with their own habits, so this reader is
//! more tolerant than the inbound one: keys in any case (through [`Node`]), a
//! leading BOM, `Details` plain or wrapped, and no requirement beyond what the
//! outcome needs (a ReceiptMessage type and the UUID it answers). The envelope
//! rules do not apply: text of any length is read ([`Node::long_text`]), and
//! of a key repeated in the same object the first in document order is read.

use crate::envelope::parse_json;
use crate::node::Node;

/// What a destination's receipt says about one of our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReceipt {
    /// `Content.ReceivedMessage.UUID`: the UUID of our message it answers.
    pub received_uuid: String,
    /// `ProcessingInformation.Status` is `ok` (any case); anything else,
    /// missing included, is a rejection.
    pub ok: bool,
    /// Why it was rejected: the first error detail's `Code: Message` (the first
    /// detail when none is typed error), or the status when there is no detail;
    /// `""` when ok.
    pub message: String,
}

/// Reads a destination's receipt; `None` when the body is not JSON, not a
/// ReceiptMessage (`Header.Type`, any case) or names no
/// `Content.ReceivedMessage.UUID`, since such a body confirms nothing.
pub fn receipt_status(body: &[u8]) -> Option<ReceivedReceipt> {
    let root = parse_json(body).ok()?;
    let root = Node::root(&root);
    let kind = root.get("Header")?.long_text("Type").ok().flatten()?;
    if !kind.eq_ignore_ascii_case("ReceiptMessage") {
        return None;
    }
    let content = root.get("Content")?;
    let received_uuid = content
        .get("ReceivedMessage")?
        .long_text("UUID")
        .ok()
        .flatten()?;
    let info = content.get("ProcessingInformation");
    let status = info
        .as_ref()
        .and_then(|info| info.long_text("Status").ok().flatten());
    let ok = status
        .as_deref()
        .is_some_and(|status| status.eq_ignore_ascii_case("ok"));
    let message = if ok {
        String::new()
    } else {
        rejection_message(info.as_ref(), status.as_deref())
    };
    Some(ReceivedReceipt {
        received_uuid,
        ok,
        message,
    })
}

/// The reason to record for a rejected message: the detail an operator needs
/// first (an error rather than a warning listed before it), else the status.
fn rejection_message(info: Option<&Node<'_>>, status: Option<&str>) -> String {
    let details = info
        .and_then(|info| info.list("Details", "Detail").ok())
        .unwrap_or_default();
    let is_error = |detail: &&Node<'_>| {
        detail
            .long_text("Type")
            .ok()
            .flatten()
            .is_some_and(|kind| kind.eq_ignore_ascii_case("error"))
    };
    let described = details
        .iter()
        .find(is_error)
        .or_else(|| details.first())
        .map(|detail| {
            let code = detail.long_text("Code").ok().flatten();
            let message = detail.long_text("Message").ok().flatten();
            match (code, message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(only), None) | (None, Some(only)) => only,
                (None, None) => String::new(),
            }
        })
        .filter(|described| !described.is_empty());
    described.unwrap_or_else(|| match status {
        Some(status) => format!("receipt status {status:?} without details"),
        None => "receipt without ProcessingInformation.Status".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::code::{Code, Detail};
    use crate::receipt::{InboundSummary, Receipt, ReceiptOrigin, DEFAULT_MAX_DETAILS};

    const OUR_UUID: &str = "0b7f6c1e-5d0a-4f1e-9c55-3f2a1b0c9d8e";

    fn receipt(details: Vec<Detail>) -> Vec<u8> {
        let origin = ReceiptOrigin {
            source_application: "PROTHEUS".into(),
            product_name: "Protheus".into(),
            max_details: DEFAULT_MAX_DETAILS,
        };
        let inbound = InboundSummary {
            uuid: OUR_UUID.into(),
            transaction: "StockLevel".into(),
            version: "3.003".into(),
            source_application: "EAIWORKER".into(),
            company_id: "T1".into(),
            branch_id: "D MG 01".into(),
            event: "upsert".into(),
        };
        let at = Utc.timestamp_opt(0, 0).single().expect("valid instant");
        Receipt::new(&origin, &inbound, at, at, details, Vec::new()).to_bytes()
    }

    fn read(value: &serde_json::Value) -> Option<ReceivedReceipt> {
        receipt_status(value.to_string().as_bytes())
    }

    #[test]
    fn ok_receipt() {
        let received = receipt_status(&receipt(Vec::new())).expect("a receipt");
        assert_eq!(
            received,
            ReceivedReceipt {
                received_uuid: OUR_UUID.into(),
                ok: true,
                message: String::new(),
            }
        );
    }

    #[test]
    fn warnings_only_receipt_is_ok_without_message() {
        let warning = Detail::warning(Code::TotalPriceInconsistent, "w");
        let received = receipt_status(&receipt(vec![warning])).expect("a receipt");
        assert!(received.ok);
        assert_eq!(received.message, "");
    }

    #[test]
    fn error_receipt_reports_the_first_error_detail() {
        let details = vec![
            Detail::warning(Code::TotalPriceInconsistent, "just a warning"),
            Detail::error(Code::LotInsufficient, "lot L1 has 2, 5 requested"),
            Detail::error(Code::FreightMismatch, "second error"),
        ];
        let received = receipt_status(&receipt(details)).expect("a receipt");
        assert_eq!(received.received_uuid, OUR_UUID);
        assert!(!received.ok);
        assert_eq!(
            received.message,
            "LOT_INSUFFICIENT: lot L1 has 2, 5 requested"
        );
    }

    #[test]
    fn lower_case_keys_and_values_are_read() {
        let body = json!({
            "header": {"uuid": "theirs", "type": "receiptmessage"},
            "content": {
                "receivedmessage": {"uuid": " abc-123 "},
                "processinginformation": {
                    "status": "ERROR",
                    "details": [{"code": "E42", "message": "warehouse unknown"}]
                }
            }
        });
        assert_eq!(
            read(&body),
            Some(ReceivedReceipt {
                received_uuid: "abc-123".into(),
                ok: false,
                message: "E42: warehouse unknown".into(),
            })
        );
        let ok = json!({
            "HEADER": {"TYPE": "RECEIPTMESSAGE"},
            "CONTENT": {
                "RECEIVEDMESSAGE": {"UUID": "abc"},
                "PROCESSINGINFORMATION": {"STATUS": "OK"}
            }
        });
        assert_eq!(read(&ok).map(|r| r.ok), Some(true));
    }

    #[test]
    fn wrapped_details_and_a_leading_bom_are_accepted() {
        let body = json!({
            "Header": {"Type": "ReceiptMessage"},
            "Content": {
                "ReceivedMessage": {"UUID": "abc"},
                "ProcessingInformation": {
                    "Status": "error",
                    "Details": {"Detail": {"Message": "only a message"}}
                }
            }
        });
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(body.to_string().into_bytes());
        let received = receipt_status(&bytes).expect("a receipt");
        assert!(!received.ok);
        assert_eq!(received.message, "only a message");
    }

    #[test]
    fn rejection_without_details_names_the_status() {
        let error = json!({
            "Header": {"Type": "ReceiptMessage"},
            "Content": {
                "ReceivedMessage": {"UUID": "abc"},
                "ProcessingInformation": {"Status": "error", "Details": []}
            }
        });
        let received = read(&error).expect("a receipt");
        assert!(!received.ok);
        assert_eq!(received.message, "receipt status \"error\" without details");

        let no_status = json!({
            "Header": {"Type": "ReceiptMessage"},
            "Content": {"ReceivedMessage": {"UUID": "abc"}}
        });
        let received = read(&no_status).expect("a receipt");
        assert!(!received.ok);
        assert_eq!(
            received.message,
            "receipt without ProcessingInformation.Status"
        );
    }

    #[test]
    fn not_a_receipt_is_none() {
        let business = json!({
            "Header": {"UUID": "u", "Type": "BusinessMessage", "Transaction": "StockLevel"},
            "Content": {"ReceivedMessage": {"UUID": "abc"}}
        });
        assert_eq!(read(&business), None);
        let untyped = json!({
            "Header": {"UUID": "u"},
            "Content": {"ReceivedMessage": {"UUID": "abc"}}
        });
        assert_eq!(read(&untyped), None);
        assert_eq!(receipt_status(b"not json"), None);
        assert_eq!(receipt_status(b""), None);
        assert_eq!(receipt_status(b"[1, 2]"), None);
        assert_eq!(receipt_status(b"null"), None);
    }

    #[test]
    fn receipt_without_received_uuid_is_none() {
        for content in [
            json!({}),
            json!({"ReceivedMessage": {}}),
            json!({"ReceivedMessage": {"UUID": ""}}),
            json!({"ReceivedMessage": {"UUID": "   "}}),
            json!({"ReceivedMessage": {"UUID": null}}),
            json!({"ReceivedMessage": {"UUID": {"x": 1}}}),
            json!({"ReceivedMessage": "abc"}),
        ] {
            let body = json!({
                "Header": {"Type": "ReceiptMessage"},
                "Content": content
            });
            assert_eq!(read(&body), None, "{body}");
        }
    }
}
