//! The ReceiptMessage we answer every inbound UUID with (SPEC §6).
//!
//! A receipt is built once, persisted with the message and re-sent byte for byte
//! on redelivery, so it is a plain value: its UUID and timestamps are fixed at
//! construction and [`Receipt::to_bytes`] is a pure function of it. The field
//! order of the structs below is the key order on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::code::Detail;

/// Version echoed when the inbound envelope states none.
pub(crate) const DEFAULT_VERSION: &str = "2.000";

/// Event echoed when the inbound summary carries none.
const DEFAULT_EVENT: &str = "upsert";

/// The fields of an inbound envelope a receipt echoes. [`crate::Envelope::summary`]
/// builds it; for a rejected body the transport fills what the AMQP properties
/// tell (empty `version`/`event` are echoed as `"2.000"`/`"upsert"`).
#[derive(Debug, Clone, Default)]
pub struct InboundSummary {
    /// Inbound `Header.UUID`.
    pub uuid: String,
    /// Inbound `Header.Transaction` (canonical name when recognised).
    pub transaction: String,
    /// Inbound `Header.Version`, `"2.000"` if absent.
    pub version: String,
    /// Inbound `Header.SourceApplication`: who the receipt is for.
    pub source_application: String,
    /// Inbound `Header.CompanyId`.
    pub company_id: String,
    /// Inbound `Header.BranchId`.
    pub branch_id: String,
    /// The event, `"upsert"` by default.
    pub event: String,
}

/// Who we are in the receipt header.
#[derive(Debug, Clone)]
pub struct ReceiptOrigin {
    /// Our `SourceApplication`.
    pub source_application: String,
    /// Our `ProductName`.
    pub product_name: String,
}

/// One `ReturnContent.ListOfInternalId` entry: the sender's id and ours, so the
/// sender can record its own de/para.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InternalIdEntry {
    /// The entity, e.g. `"ItemReserve"`, `"RetailSales"`.
    #[serde(rename = "Name")]
    pub name: String,
    /// The sender's InternalId.
    #[serde(rename = "Origin")]
    pub origin: String,
    /// Our id, e.g. `"T1|D MG 01|000123"`.
    #[serde(rename = "Destination")]
    pub destination: String,
}

/// The ReceiptMessage, exactly the JSON shape of SPEC §6 in its key order.
/// Status is `ok` when no detail is an error, else `error`; `ReturnContent` is
/// present only when there are ids to return; `Details` is always present.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    #[serde(rename = "Header")]
    header: Header,
    #[serde(rename = "Content")]
    content: Content,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Header {
    #[serde(rename = "UUID")]
    uuid: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    transaction: String,
    version: String,
    source_application: String,
    product_name: String,
    company_id: String,
    branch_id: String,
    generated_on: String,
    delivery_type: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Content {
    received_message: ReceivedMessage,
    receipt_data: ReceiptData,
    processing_information: ProcessingInformation,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_content: Option<ReturnContent>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceivedMessage {
    #[serde(rename = "UUID")]
    uuid: String,
    sent_by: String,
    event: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiptData {
    received_on: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessingInformation {
    processed_on: String,
    status: &'static str,
    details: Vec<Detail>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReturnContent {
    list_of_internal_id: Vec<InternalIdEntry>,
}

impl Receipt {
    /// Builds the receipt for one inbound envelope, with a fresh v4 UUID.
    /// `GeneratedOn`/`ProcessedOn` are `processed_on` and `ReceivedOn` is
    /// `received_on`, as RFC 3339 UTC with microseconds and `+00:00`.
    pub fn new(
        origin: &ReceiptOrigin,
        inbound: &InboundSummary,
        received_on: DateTime<Utc>,
        processed_on: DateTime<Utc>,
        details: Vec<Detail>,
        list_of_internal_id: Vec<InternalIdEntry>,
    ) -> Receipt {
        let processed_on = format_instant(processed_on);
        let status = if details.iter().any(Detail::is_error) {
            "error"
        } else {
            "ok"
        };
        Receipt {
            header: Header {
                uuid: uuid::Uuid::new_v4().to_string(),
                kind: "ReceiptMessage",
                transaction: inbound.transaction.clone(),
                version: or_default(&inbound.version, DEFAULT_VERSION),
                source_application: origin.source_application.clone(),
                product_name: origin.product_name.clone(),
                company_id: inbound.company_id.clone(),
                branch_id: inbound.branch_id.clone(),
                generated_on: processed_on.clone(),
                delivery_type: "async",
            },
            content: Content {
                received_message: ReceivedMessage {
                    uuid: inbound.uuid.clone(),
                    sent_by: inbound.source_application.clone(),
                    event: or_default(&inbound.event, DEFAULT_EVENT),
                },
                receipt_data: ReceiptData {
                    received_on: format_instant(received_on),
                },
                processing_information: ProcessingInformation {
                    processed_on,
                    status,
                    details,
                },
                return_content: (!list_of_internal_id.is_empty()).then_some(ReturnContent {
                    list_of_internal_id,
                }),
            },
        }
    }

    /// Our `Header.UUID`, by which the sender may refer to this receipt.
    pub fn uuid(&self) -> &str {
        &self.header.uuid
    }

    /// True when the Status is `ok` (warnings only, or no details).
    pub fn is_ok(&self) -> bool {
        self.content.processing_information.status == "ok"
    }

    /// The details reported.
    pub fn details(&self) -> &[Detail] {
        &self.content.processing_information.details
    }

    /// The compact JSON to persist and publish; the same receipt always gives
    /// the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .expect("a receipt holds only strings and string-keyed structs, which always serialize")
    }
}

/// RFC 3339 in UTC with microseconds and `+00:00`, the form TOTVS senders emit;
/// shared with the business messages we send ([`crate::events`]).
pub(crate) fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// `value`, or `default` when it is blank.
fn or_default(value: &str, default: &str) -> String {
    if value.trim().is_empty() {
        default.to_owned()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::Value;

    use super::*;
    use crate::code::Code;

    fn origin() -> ReceiptOrigin {
        ReceiptOrigin {
            source_application: "EAIWORKER".into(),
            product_name: "EAI Worker".into(),
        }
    }

    fn inbound() -> InboundSummary {
        InboundSummary {
            uuid: "61e91b9e-e030-40d6-b0fd-dcf63e81c966".into(),
            transaction: "RetailSales".into(),
            version: "2.000".into(),
            source_application: "ECOMMERCE".into(),
            company_id: "T1".into(),
            branch_id: "D MG 01".into(),
            event: "upsert".into(),
        }
    }

    fn at(seconds: i64, micros: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, micros * 1000)
            .single()
            .expect("valid instant")
    }

    fn receipt(details: Vec<Detail>, ids: Vec<InternalIdEntry>) -> Receipt {
        Receipt::new(
            &origin(),
            &inbound(),
            at(1_587_661_340, 0),
            at(1_587_661_341, 625_349),
            details,
            ids,
        )
    }

    fn json(receipt: &Receipt) -> Value {
        serde_json::from_slice(&receipt.to_bytes()).expect("receipt is JSON")
    }

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn keys_follow_the_spec_order_and_shape() {
        let entry = InternalIdEntry {
            name: "RetailSales".into(),
            origin: "15da928b".into(),
            destination: "T1|D MG 01|000001".into(),
        };
        let value = json(&receipt(Vec::new(), vec![entry]));
        assert_eq!(keys(&value), ["Header", "Content"]);
        assert_eq!(
            keys(&value["Header"]),
            [
                "UUID",
                "Type",
                "Transaction",
                "Version",
                "SourceApplication",
                "ProductName",
                "CompanyId",
                "BranchId",
                "GeneratedOn",
                "DeliveryType"
            ]
        );
        assert_eq!(
            keys(&value["Content"]),
            [
                "ReceivedMessage",
                "ReceiptData",
                "ProcessingInformation",
                "ReturnContent"
            ]
        );
        assert_eq!(
            keys(&value["Content"]["ReceivedMessage"]),
            ["UUID", "SentBy", "Event"]
        );
        assert_eq!(keys(&value["Content"]["ReceiptData"]), ["ReceivedOn"]);
        assert_eq!(
            keys(&value["Content"]["ProcessingInformation"]),
            ["ProcessedOn", "Status", "Details"]
        );
        assert_eq!(
            keys(&value["Content"]["ReturnContent"]),
            ["ListOfInternalId"]
        );
        assert_eq!(
            keys(&value["Content"]["ReturnContent"]["ListOfInternalId"][0]),
            ["Name", "Origin", "Destination"]
        );
    }

    #[test]
    fn header_and_echo_values() {
        let receipt = receipt(Vec::new(), Vec::new());
        let value = json(&receipt);
        let header = &value["Header"];
        assert_eq!(header["UUID"].as_str(), Some(receipt.uuid()));
        assert!(uuid::Uuid::parse_str(receipt.uuid()).is_ok_and(|u| u.get_version_num() == 4));
        assert_eq!(header["Type"], "ReceiptMessage");
        assert_eq!(header["Transaction"], "RetailSales");
        assert_eq!(header["Version"], "2.000");
        assert_eq!(header["SourceApplication"], "EAIWORKER");
        assert_eq!(header["ProductName"], "EAI Worker");
        assert_eq!(header["CompanyId"], "T1");
        assert_eq!(header["BranchId"], "D MG 01");
        assert_eq!(header["GeneratedOn"], "2020-04-23T17:02:21.625349+00:00");
        assert_eq!(header["DeliveryType"], "async");
        let content = &value["Content"];
        assert_eq!(
            content["ReceivedMessage"]["UUID"],
            "61e91b9e-e030-40d6-b0fd-dcf63e81c966"
        );
        assert_eq!(content["ReceivedMessage"]["SentBy"], "ECOMMERCE");
        assert_eq!(content["ReceivedMessage"]["Event"], "upsert");
        assert_eq!(
            content["ReceiptData"]["ReceivedOn"],
            "2020-04-23T17:02:20.000000+00:00"
        );
        assert_eq!(
            content["ProcessingInformation"]["ProcessedOn"],
            "2020-04-23T17:02:21.625349+00:00"
        );
    }

    #[test]
    fn no_details_is_ok_with_empty_details_and_no_return_content() {
        let receipt = receipt(Vec::new(), Vec::new());
        assert!(receipt.is_ok());
        let value = json(&receipt);
        let info = &value["Content"]["ProcessingInformation"];
        assert_eq!(info["Status"], "ok");
        assert_eq!(info["Details"], Value::Array(Vec::new()));
        assert!(value["Content"].get("ReturnContent").is_none());
    }

    #[test]
    fn warnings_only_is_still_ok() {
        let warning = Detail::warning(Code::TotalPriceInconsistent, "TotalPrice 20 ≠ 15");
        let receipt = receipt(vec![warning.clone()], Vec::new());
        assert!(receipt.is_ok());
        assert_eq!(receipt.details(), [warning]);
        assert_eq!(
            json(&receipt)["Content"]["ProcessingInformation"]["Details"][0]["Type"],
            "warning"
        );
    }

    #[test]
    fn any_error_makes_status_error() {
        let details = vec![
            Detail::warning(Code::GrossPriceInconsistent, "w"),
            Detail::error(Code::FreightMismatch, "FreightValue 15 ≠ Σ 10")
                .with_detailed_message("{\"a\":1}"),
        ];
        let receipt = receipt(details, Vec::new());
        assert!(!receipt.is_ok());
        let value = json(&receipt);
        let info = &value["Content"]["ProcessingInformation"];
        assert_eq!(info["Status"], "error");
        assert_eq!(
            keys(&info["Details"][1]),
            ["Type", "Code", "Message", "DetailedMessage"]
        );
        assert_eq!(info["Details"][1]["Code"], "FREIGHT_MISMATCH");
        assert_eq!(info["Details"][1]["DetailedMessage"], "{\"a\":1}");
    }

    #[test]
    fn empty_version_and_event_are_echoed_as_defaults() {
        let bare = InboundSummary {
            uuid: "u".into(),
            ..InboundSummary::default()
        };
        let receipt = Receipt::new(&origin(), &bare, at(0, 0), at(0, 0), Vec::new(), Vec::new());
        let value = json(&receipt);
        assert_eq!(value["Header"]["Version"], "2.000");
        assert_eq!(value["Content"]["ReceivedMessage"]["Event"], "upsert");
        assert_eq!(value["Header"]["Transaction"], "");
    }

    #[test]
    fn to_bytes_is_deterministic_and_receipts_get_fresh_uuids() {
        let one = receipt(vec![Detail::error(Code::LotInsufficient, "x")], Vec::new());
        assert_eq!(one.to_bytes(), one.to_bytes());
        assert_eq!(one.clone().to_bytes(), one.to_bytes());
        let other = receipt(vec![Detail::error(Code::LotInsufficient, "x")], Vec::new());
        assert_ne!(one.uuid(), other.uuid());
    }
}
