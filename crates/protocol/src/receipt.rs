//! The ReceiptMessage we answer every inbound UUID with (SPEC §6).
//!
//! A receipt is built once, persisted with the message and re-sent byte for byte
//! on redelivery, so it is a plain value: its UUID and timestamps are fixed at
//! construction and [`Receipt::to_bytes`] is a pure function of it. The field
//! order of the structs below is the key order on the wire.
//!
//! A receipt is bounded whatever it reports, so that one envelope with a
//! hundred thousand bad items cannot produce a receipt nobody can read (or a
//! body larger than the broker and the sender accept):
//!
//! - it lists at most [`ReceiptOrigin::max_details`] details, in the order
//!   given, then one `DETAILS_TRUNCATED` warning counting the rest by
//!   severity; `Status` is still computed from every detail. A detail that
//!   already counts problems too many to list (the envelope's "N more
//!   problems" line) is counted as those N, so the warning's figure is the
//!   number of problems left out, however they reached the receipt;
//! - a detail's `Message` is cut to 2,000 characters (ending in `…`), and a
//!   `DetailedMessage` over 64 KiB is left out, the message saying so;
//! - echoed Header fields are cut to [`MAX_TEXT_CHARS`] characters;
//! - [`Receipt::to_bytes`] never exceeds [`MAX_ENVELOPE_BYTES`]: should the
//!   listed details not fit, fewer are listed.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::code::{counted, truncate_chars, Code, Detail};
use crate::envelope::MAX_ENVELOPE_BYTES;
use crate::events::{ListStyle, StockReturn};
use crate::header::{format_instant, MessageType, OutgoingHeader};
use crate::node::MAX_TEXT_CHARS;

/// Version echoed when the inbound envelope states none and its transaction
/// is not one we know (a known one echoes its supported major, `3.000`).
pub(crate) const DEFAULT_VERSION: &str = "2.000";

/// Event echoed when the inbound summary carries none.
const DEFAULT_EVENT: &str = "upsert";

/// Details a receipt lists unless configured otherwise
/// ([`ReceiptOrigin::max_details`]).
pub const DEFAULT_MAX_DETAILS: usize = 100;

/// Longest `Message` of a listed detail, in characters.
pub(crate) const MAX_MESSAGE_CHARS: usize = 2_000;

/// Largest `DetailedMessage` a listed detail keeps, in bytes.
const MAX_DETAILED_MESSAGE_BYTES: usize = 64 * 1024;

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

/// Who we are in the receipt header, and how much a receipt lists.
#[derive(Debug, Clone)]
pub struct ReceiptOrigin {
    /// Our `SourceApplication`.
    pub source_application: String,
    /// Our `ProductName`.
    pub product_name: String,
    /// How many details a receipt lists at most (at least one is always
    /// listed); the rest are counted in one `DETAILS_TRUNCATED` warning.
    /// [`DEFAULT_MAX_DETAILS`] unless configured.
    pub max_details: usize,
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
/// present only when there is something to return (ids, or a StockLevel
/// request's stock); `Details` is always present.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    #[serde(rename = "Header")]
    header: OutgoingHeader,
    #[serde(rename = "Content")]
    content: Content,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Content {
    received_message: ReceivedMessage,
    receipt_data: ReceiptData,
    processing_information: ProcessingInformation,
    #[serde(skip_serializing_if = "ReturnContent::is_empty")]
    return_content: ReturnContent,
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

/// `Content.ReturnContent`: what the processing gives back, left out when
/// there is nothing.
#[derive(Debug, Clone)]
pub enum ReturnContent {
    /// The ids a business message created, so the sender records its de/para
    /// (`ListOfInternalId`); left out when empty.
    InternalIds(Vec<InternalIdEntry>),
    /// The stock a StockLevel request asked for (the schema's `ReturnContent`),
    /// its lists in the requester's style.
    Stock(StockReturn, ListStyle),
}

impl ReturnContent {
    /// Nothing to return: the receipt has no `ReturnContent`.
    pub fn nothing() -> ReturnContent {
        ReturnContent::InternalIds(Vec::new())
    }

    fn is_empty(&self) -> bool {
        matches!(self, ReturnContent::InternalIds(ids) if ids.is_empty())
    }
}

impl From<Vec<InternalIdEntry>> for ReturnContent {
    fn from(ids: Vec<InternalIdEntry>) -> ReturnContent {
        ReturnContent::InternalIds(ids)
    }
}

impl Serialize for ReturnContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ReturnContent::InternalIds(ids) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("ListOfInternalId", ids)?;
                map.end()
            }
            ReturnContent::Stock(stock, style) => stock.content(*style).serialize(serializer),
        }
    }
}

impl Receipt {
    /// Builds the receipt for one inbound envelope, with a fresh v4 UUID.
    /// `GeneratedOn`/`ProcessedOn` are `processed_on` and `ReceivedOn` is
    /// `received_on`, as RFC 3339 UTC with microseconds and `+00:00`.
    ///
    /// `Status` is `error` when any of `details` is an error, listed or not.
    /// The first `origin.max_details` details are listed (at least one), each
    /// bounded (see the module documentation), then a `DETAILS_TRUNCATED`
    /// warning counting the problems left out, if any; fewer are listed if
    /// that is what it takes for [`Receipt::to_bytes`] to stay within
    /// [`MAX_ENVELOPE_BYTES`].
    /// Echoed header fields are cut to [`MAX_TEXT_CHARS`] characters.
    pub fn new(
        origin: &ReceiptOrigin,
        inbound: &InboundSummary,
        received_on: DateTime<Utc>,
        processed_on: DateTime<Utc>,
        details: Vec<Detail>,
        return_content: impl Into<ReturnContent>,
    ) -> Receipt {
        let processed_on = format_instant(processed_on);
        let status = if details.iter().any(Detail::is_error) {
            "error"
        } else {
            "ok"
        };
        let mut receipt = Receipt {
            header: OutgoingHeader {
                uuid: uuid::Uuid::new_v4().to_string(),
                kind: MessageType::ReceiptMessage,
                transaction: echo(&inbound.transaction),
                version: echo(&or_default(&inbound.version, DEFAULT_VERSION)),
                source_application: echo(&origin.source_application),
                product_name: echo(&origin.product_name),
                company_id: echo(&inbound.company_id),
                branch_id: echo(&inbound.branch_id),
                generated_on: processed_on.clone(),
                delivery_type: "async",
                sub_type: None,
                event: None,
            },
            content: Content {
                received_message: ReceivedMessage {
                    uuid: echo(&inbound.uuid),
                    sent_by: echo(&inbound.source_application),
                    event: echo(&or_default(&inbound.event, DEFAULT_EVENT)),
                },
                receipt_data: ReceiptData {
                    received_on: format_instant(received_on),
                },
                processing_information: ProcessingInformation {
                    processed_on,
                    status,
                    details: Vec::new(),
                },
                return_content: return_content.into(),
            },
        };
        let mut listed = origin.max_details.min(details.len()).max(1);
        loop {
            receipt.content.processing_information.details = listing(&details, listed);
            if listed == 1 || receipt.to_bytes().len() <= MAX_ENVELOPE_BYTES {
                return receipt;
            }
            listed /= 2;
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

/// The distinct codes of the error details of one of our own receipts, in
/// the order listed — what the metrics count an error receipt by. A body
/// that is not one of our receipts gives none.
pub fn error_codes(body: &[u8]) -> Vec<Code> {
    let Ok(receipt) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let details = receipt
        .pointer("/Content/ProcessingInformation/Details")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut codes = Vec::new();
    for detail in details {
        let is_error = detail.get("Type").and_then(serde_json::Value::as_str) == Some("error");
        let code = detail
            .get("Code")
            .and_then(serde_json::Value::as_str)
            .and_then(Code::from_wire);
        if let (true, Some(code)) = (is_error, code) {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    codes
}

/// The first `listed` of `details`, each bounded, then a `DETAILS_TRUNCATED`
/// warning counting the problems the others stand for by severity, if any.
fn listing(details: &[Detail], listed: usize) -> Vec<Detail> {
    let (shown, hidden) = details.split_at(listed.min(details.len()));
    let mut listing: Vec<Detail> = shown.iter().map(bounded).collect();
    if !hidden.is_empty() {
        let all = problems(hidden.iter());
        let errors = problems(hidden.iter().filter(|detail| detail.is_error()));
        listing.push(Detail::warning(
            Code::DetailsTruncated,
            format!(
                "{} not shown ({}, {}): the receipt lists the first {}",
                counted(all, "more detail", "more details"),
                counted(errors, "error", "errors"),
                counted(all - errors, "warning", "warnings"),
                shown.len()
            ),
        ));
    }
    listing
}

/// How many problems `details` stand for ([`Detail::standing_for`]).
fn problems<'a>(details: impl Iterator<Item = &'a Detail>) -> usize {
    details.fold(0, |sum, detail| sum.saturating_add(detail.stands_for))
}

/// `detail` as a receipt lists it: a `DetailedMessage` over
/// [`MAX_DETAILED_MESSAGE_BYTES`] left out (the message says so), the message
/// cut to [`MAX_MESSAGE_CHARS`] characters, the note included.
fn bounded(detail: &Detail) -> Detail {
    let (detailed_message, note) = match &detail.detailed_message {
        Some(detailed) if detailed.len() > MAX_DETAILED_MESSAGE_BYTES => (
            None,
            format!(" (DetailedMessage of {} bytes omitted)", detailed.len()),
        ),
        kept => (kept.clone(), String::new()),
    };
    let room = MAX_MESSAGE_CHARS - note.chars().count();
    Detail {
        severity: detail.severity,
        code: detail.code,
        message: truncate_chars(&detail.message, room) + &note,
        detailed_message,
        stands_for: detail.stands_for,
    }
}

/// An echoed header field, cut to [`MAX_TEXT_CHARS`] characters.
fn echo(text: &str) -> String {
    truncate_chars(text, MAX_TEXT_CHARS)
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
            max_details: DEFAULT_MAX_DETAILS,
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

    fn receipt_listing(max_details: usize, details: Vec<Detail>) -> Receipt {
        let origin = ReceiptOrigin {
            max_details,
            ..origin()
        };
        Receipt::new(&origin, &inbound(), at(0, 0), at(0, 0), details, Vec::new())
    }

    /// `count` details as a content model reports bad items: every tenth a warning.
    fn item_problems(count: usize) -> Vec<Detail> {
        (0..count)
            .map(|index| {
                let message = format!(
                    "$.Content.ListOfSaleItem.SaleItem[{index}].Quantity: expected a decimal number, got \"x\""
                );
                if index % 10 == 0 {
                    Detail::warning(Code::TotalPriceInconsistent, message)
                } else {
                    Detail::error(Code::InvalidField, message)
                }
            })
            .collect()
    }

    #[test]
    fn a_hundred_thousand_details_give_a_small_receipt_counting_the_rest() {
        let receipt = receipt_listing(DEFAULT_MAX_DETAILS, item_problems(100_000));
        assert!(
            receipt.to_bytes().len() < 512 * 1024,
            "{} bytes",
            receipt.to_bytes().len()
        );
        assert!(!receipt.is_ok());
        let details = receipt.details();
        assert_eq!(details.len(), 101);
        assert_eq!(details[..100], item_problems(100)[..]);
        let last = &details[100];
        assert_eq!(last.code, Code::DetailsTruncated);
        assert!(!last.is_error());
        assert_eq!(
            last.message,
            "99900 more details not shown (89910 errors, 9990 warnings): the receipt lists the first 100"
        );
        let value = json(&receipt);
        assert_eq!(value["Content"]["ProcessingInformation"]["Status"], "error");
        assert_eq!(
            value["Content"]["ProcessingInformation"]["Details"][100]["Code"],
            "DETAILS_TRUNCATED"
        );
    }

    #[test]
    fn errors_beyond_the_cap_still_make_status_error() {
        let details = vec![
            Detail::warning(Code::TotalPriceInconsistent, "w1"),
            Detail::warning(Code::GrossPriceInconsistent, "w2"),
            Detail::error(Code::FreightMismatch, "e"),
        ];
        let receipt = receipt_listing(2, details);
        assert!(!receipt.is_ok());
        let codes: Vec<Code> = receipt.details().iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                Code::TotalPriceInconsistent,
                Code::GrossPriceInconsistent,
                Code::DetailsTruncated
            ]
        );
        assert_eq!(
            receipt.details()[2].message,
            "1 more detail not shown (1 error, 0 warnings): the receipt lists the first 2"
        );
    }

    #[test]
    fn a_detail_counting_unlisted_problems_counts_them_when_left_out() {
        let summary =
            Detail::error(Code::InvalidField, "$: 500 more, not listed").standing_for(500);
        let mut details = item_problems(3);
        details.push(summary.clone());
        details.push(Detail::warning(Code::TotalPriceInconsistent, "w"));
        let short = receipt_listing(2, details.clone());
        assert_eq!(short.details()[..2], details[..2]);
        assert_eq!(
            short.details()[2].message,
            "502 more details not shown (501 errors, 1 warning): the receipt lists the first 2"
        );
        let long = receipt_listing(DEFAULT_MAX_DETAILS, details.clone());
        assert_eq!(long.details(), details, "listed, it speaks for itself");
        assert_eq!(
            json(&long)["Content"]["ProcessingInformation"]["Details"][3],
            serde_json::json!({"Type": "error", "Code": "INVALID_FIELD", "Message": "$: 500 more, not listed"})
        );
    }

    #[test]
    fn at_least_one_detail_is_listed_and_no_note_when_nothing_is_left_out() {
        let receipt = receipt_listing(0, item_problems(3));
        assert_eq!(receipt.details().len(), 2);
        assert_eq!(
            receipt.details()[1].message,
            "2 more details not shown (2 errors, 0 warnings): the receipt lists the first 1"
        );
        let exact = receipt_listing(3, item_problems(3));
        assert_eq!(exact.details(), item_problems(3));
    }

    #[test]
    fn long_messages_are_cut_and_huge_detailed_messages_left_out_with_a_note() {
        let long = Detail::error(Code::LotInsufficient, "é".repeat(5_000));
        let huge = Detail::error(Code::LotInsufficient, "short")
            .with_detailed_message("d".repeat(100 * 1024));
        let fits = Detail::error(Code::LotInsufficient, "kept")
            .with_detailed_message("d".repeat(64 * 1024));
        let huge_and_long = Detail::error(Code::LotInsufficient, "m".repeat(5_000))
            .with_detailed_message("d".repeat(64 * 1024 + 1));
        let receipt = receipt(vec![long, huge, fits.clone(), huge_and_long], Vec::new());
        let [long, huge, kept, both] = receipt.details() else {
            panic!("four details expected, got {}", receipt.details().len());
        };
        assert_eq!(long.message.chars().count(), 2_000);
        assert!(long.message.starts_with("éé") && long.message.ends_with('…'));
        assert_eq!(huge.detailed_message, None);
        assert_eq!(
            huge.message,
            "short (DetailedMessage of 102400 bytes omitted)"
        );
        assert_eq!(kept, &fits);
        assert_eq!(both.detailed_message, None);
        assert_eq!(both.message.chars().count(), 2_000);
        assert!(both
            .message
            .ends_with("m… (DetailedMessage of 65537 bytes omitted)"));
    }

    #[test]
    fn an_enormous_max_details_still_fits_the_envelope_limit() {
        let details: Vec<Detail> = (0..700)
            .map(|index| {
                Detail::error(Code::LotInsufficient, format!("item {index}"))
                    .with_detailed_message("d".repeat(60 * 1024))
            })
            .collect();
        let receipt = receipt_listing(usize::MAX, details);
        let bytes = receipt.to_bytes();
        assert!(bytes.len() <= MAX_ENVELOPE_BYTES, "{} bytes", bytes.len());
        assert!(!receipt.is_ok());
        let listed = receipt.details().len() - 1;
        assert!((1..700).contains(&listed), "{listed}");
        let last = receipt.details().last().expect("a note");
        assert_eq!(last.code, Code::DetailsTruncated);
        assert_eq!(
            last.message,
            format!(
                "{} more details not shown ({} errors, 0 warnings): the receipt lists the first {listed}",
                700 - listed,
                700 - listed
            )
        );
        assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
    }

    #[test]
    fn echoed_header_fields_are_cut_to_255_characters() {
        let inbound = InboundSummary {
            company_id: "c".repeat(10_000),
            event: "e".repeat(300),
            ..inbound()
        };
        let receipt = Receipt::new(
            &origin(),
            &inbound,
            at(0, 0),
            at(0, 0),
            Vec::new(),
            Vec::new(),
        );
        let value = json(&receipt);
        let company = value["Header"]["CompanyId"].as_str().unwrap_or_default();
        assert_eq!(company.chars().count(), MAX_TEXT_CHARS);
        assert!(company.ends_with('…'));
        assert_eq!(
            value["Content"]["ReceivedMessage"]["Event"]
                .as_str()
                .map(|e| e.chars().count()),
            Some(MAX_TEXT_CHARS)
        );
        assert_eq!(value["Header"]["BranchId"], "D MG 01");
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

    #[test]
    fn error_codes_lists_each_error_code_once_and_no_warning() {
        let receipt = receipt(
            vec![
                Detail::warning(Code::TotalPriceInconsistent, "w"),
                Detail::error(Code::LotInsufficient, "a"),
                Detail::error(Code::ProductNotFound, "b"),
                Detail::error(Code::LotInsufficient, "c"),
            ],
            Vec::new(),
        );
        assert_eq!(
            error_codes(&receipt.to_bytes()),
            vec![Code::LotInsufficient, Code::ProductNotFound]
        );
        assert!(error_codes(b"not json").is_empty());
    }
}
