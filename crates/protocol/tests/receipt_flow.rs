//! From inbound bytes to the acknowledgement bytes, as the receiver does it:
//! the receipt echoes the envelope and carries every coded problem.

use chrono::{DateTime, TimeZone, Utc};
use eai_protocol::{
    Code, Detail, Envelope, InboundSummary, InternalIdEntry, ItemReserve, Receipt, ReceiptOrigin,
    Transaction, DEFAULT_MAX_DETAILS,
};
use serde_json::Value;

fn origin() -> ReceiptOrigin {
    ReceiptOrigin {
        source_application: "EAIWORKER".into(),
        product_name: "EAIWORKER".into(),
        max_details: DEFAULT_MAX_DETAILS,
    }
}

fn instant(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .expect("valid instant")
}

/// Builds the receipt for an ItemReserve body the way the receiver does.
fn answer(body: &str) -> Receipt {
    let env = Envelope::parse(body.as_bytes()).expect("answerable");
    let details: Vec<Detail> = match env
        .transaction()
        .and_then(|t| env.check_version(t).map(|()| t))
        .and_then(|t| env.event().map(|e| (t, e)))
    {
        Err(detail) => vec![detail],
        Ok((Transaction::ItemReserve, event)) => {
            match ItemReserve::from_content(&env.content(), event) {
                Ok(_) => Vec::new(),
                Err(details) => details,
            }
        }
        Ok(_) => Vec::new(),
    };
    let ids = if details.is_empty() {
        vec![InternalIdEntry {
            name: "ItemReserve".into(),
            origin: "R-1".into(),
            destination: "T1|D MG 01|000001".into(),
        }]
    } else {
        Vec::new()
    };
    Receipt::new(
        &origin(),
        &env.summary(),
        instant(100),
        instant(101),
        details,
        ids,
    )
}

fn json(receipt: &Receipt) -> Value {
    serde_json::from_slice(&receipt.to_bytes()).expect("receipt is JSON")
}

#[test]
fn a_valid_reservation_is_acknowledged_ok_with_its_ids() {
    let receipt = answer(
        r#"{"Header": {"UUID": "in-1", "Transaction": "ItemReserve", "Version": "2.000",
                       "SourceApplication": "VTEX", "CompanyId": "T1", "BranchId": "D MG 01"},
            "Content": {"InternalId": "R-1", "ReserveType": "VD", "DocumentReserve": "D-1",
                        "ReserveItemType": {"Item": [{"ItemCode": "P001", "Quantity": 102}]}}}"#,
    );
    assert!(receipt.is_ok());
    let value = json(&receipt);
    assert_eq!(value["Header"]["Transaction"], "ItemReserve");
    assert_eq!(value["Header"]["CompanyId"], "T1");
    assert_eq!(value["Content"]["ReceivedMessage"]["UUID"], "in-1");
    assert_eq!(value["Content"]["ReceivedMessage"]["SentBy"], "VTEX");
    assert_eq!(value["Content"]["ProcessingInformation"]["Status"], "ok");
    assert_eq!(
        value["Content"]["ReturnContent"]["ListOfInternalId"][0]["Destination"],
        "T1|D MG 01|000001"
    );
}

#[test]
fn every_problem_of_a_reservation_reaches_the_receipt() {
    let receipt = answer(
        r#"{"Header": {"UUID": "in-2", "Transaction": "itemreserve"},
            "Content": {"Event": "UPSERT", "ReserveType": "XX",
                        "ReserveItemType": [{"Quantity": "0"}]}}"#,
    );
    assert!(!receipt.is_ok());
    let codes: Vec<Code> = receipt.details().iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            Code::InvalidField,
            Code::ReserveTypeInvalid,
            Code::DocumentReserveMissing,
            Code::ProductNotFound,
            Code::QuantityInvalid
        ]
    );
    let value = json(&receipt);
    let info = &value["Content"]["ProcessingInformation"];
    assert_eq!(info["Status"], "error");
    assert_eq!(info["Details"][4]["Code"], "QUANTITY_INVALID");
    assert_eq!(
        info["Details"][4]["Message"],
        "$.Content.ReserveItemType[0].Quantity: quantity 0 must be greater than zero"
    );
    assert!(value["Content"].get("ReturnContent").is_none());
    assert_eq!(
        value["Header"]["Transaction"], "ItemReserve",
        "canonical name echoed"
    );
    assert_eq!(
        value["Header"]["Version"], "2.000",
        "absent version echoed as 2.000"
    );
}

#[test]
fn an_unsupported_version_is_answered_by_uuid() {
    let receipt = answer(
        r#"{"Header": {"UUID": "in-3", "Transaction": "ItemReserve", "Version": "3.000"}, "Content": {}}"#,
    );
    assert_eq!(receipt.details().len(), 1);
    assert_eq!(receipt.details()[0].code, Code::UnsupportedVersion);
    let value = json(&receipt);
    assert_eq!(value["Header"]["Version"], "3.000");
    assert_eq!(value["Content"]["ReceivedMessage"]["UUID"], "in-3");
}

#[test]
fn a_rejected_body_can_still_get_an_error_receipt_from_amqp_properties() {
    let rejection = Envelope::parse(b"not json").expect_err("not JSON");
    let inbound = InboundSummary {
        uuid: "amqp-correlation-id".into(),
        ..InboundSummary::default()
    };
    let detail = Detail::error(rejection.code(), rejection.to_string());
    let receipt = Receipt::new(
        &origin(),
        &inbound,
        instant(1),
        instant(2),
        vec![detail],
        Vec::new(),
    );
    let value = json(&receipt);
    assert_eq!(
        value["Content"]["ReceivedMessage"]["UUID"],
        "amqp-correlation-id"
    );
    assert_eq!(
        value["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "INVALID_JSON"
    );
    assert_eq!(
        value["Content"]["ProcessingInformation"]["Details"][0]["Message"],
        "INVALID_JSON at line 1, column 2: expected ident"
    );
}

#[test]
fn the_persisted_bytes_are_re_sent_identically() {
    let receipt = answer(r#"{"Header": {"UUID": "in-4", "Transaction": "Nope"}, "Content": {}}"#);
    let stored = receipt.to_bytes();
    assert_eq!(receipt.to_bytes(), stored);
    let text = String::from_utf8(stored).expect("UTF-8");
    assert!(
        text.starts_with(r#"{"Header":{"UUID":""#),
        "compact, Header first: {text}"
    );
    assert!(text.contains(r#""Code":"UNSUPPORTED_TRANSACTION""#));
}
