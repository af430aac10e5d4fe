//! The EAI envelope `{"Header": {...}, "Content": {...}}` and the line between
//! bodies we can answer and bodies we cannot.
//!
//! Anything wrong once a usable `Header.UUID` is known is answered with a coded
//! receipt correlated by that UUID ([`Detail`]). A body with no usable UUID — too
//! large, not JSON, not an object, no Header, no UUID — cannot be correlated that
//! way: [`Envelope::parse`] returns a [`Rejection`], and the transport sends the
//! body to the dead-letter queue with that reason.

use serde_json::Value;

use crate::code::{Code, Detail};
use crate::node::{Node, NULL};
use crate::receipt::{InboundSummary, DEFAULT_VERSION};

/// Largest body accepted: RetailSales with thousands of items reach tens of
/// megabytes, and seed 001 configures Protheus for 30 MB.
pub const MAX_ENVELOPE_BYTES: usize = 30 * 1024 * 1024;

/// Some Windows senders prefix UTF-8 JSON with a byte-order mark, which JSON
/// forbids but which carries no meaning: it is skipped rather than rejected.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The transactions this worker processes (`Header.Transaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// Stock reservation (SPEC §4).
    ItemReserve,
    /// A sale (SPEC §5).
    RetailSales,
    /// Cancellation of an integrated sale.
    RetailSalesCancellation,
}

impl Transaction {
    /// Every transaction, to match names against.
    const ALL: [Transaction; 3] = [
        Transaction::ItemReserve,
        Transaction::RetailSales,
        Transaction::RetailSalesCancellation,
    ];

    /// Case-insensitive, surrounding blanks ignored: senders vary the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Transaction::ALL
            .into_iter()
            .find(|transaction| transaction.as_str().eq_ignore_ascii_case(s))
    }

    /// The canonical TOTVS name, e.g. `"RetailSales"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transaction::ItemReserve => "ItemReserve",
            Transaction::RetailSales => "RetailSales",
            Transaction::RetailSalesCancellation => "RetailSalesCancellation",
        }
    }

    /// The major `Header.Version` whose content model we implement.
    pub fn supported_major(self) -> u32 {
        2
    }
}

/// What the envelope asks for: create/replace or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Create, or replace what the same InternalId created before.
    Upsert,
    /// Remove what the InternalId created.
    Delete,
}

impl Event {
    /// The wire spelling, `"upsert"` or `"delete"`, as echoed in receipts.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Upsert => "upsert",
            Event::Delete => "delete",
        }
    }
}

/// Why a body cannot be answered by UUID: it goes to the dead-letter queue with
/// this reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// Not JSON (or not UTF-8); the position helps the sender find the fault.
    #[error("INVALID_JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What the parser found, without the position.
        message: String,
    },
    /// Larger than [`MAX_ENVELOPE_BYTES`]; refused before parsing.
    #[error("INVALID_ENVELOPE: body of {size} bytes exceeds the 30 MiB limit")]
    TooLarge {
        /// The body's size in bytes.
        size: usize,
    },
    /// JSON, but not an object, no Header object, or no usable `Header.UUID`
    /// (missing, not a string, empty).
    #[error("INVALID_ENVELOPE: {reason}")]
    InvalidEnvelope {
        /// What is missing, naming the JSON path.
        reason: String,
    },
}

impl Rejection {
    /// The stable code to report (dead-letter reason, error receipt to `reply_to`).
    pub fn code(&self) -> Code {
        match self {
            Rejection::InvalidJson { .. } => Code::InvalidJson,
            Rejection::TooLarge { .. } | Rejection::InvalidEnvelope { .. } => Code::InvalidEnvelope,
        }
    }
}

/// The size limit, BOM skipping and JSON parsing every body goes through, shared
/// by [`Envelope::parse`] and the tolerant reading of receipts sent back to us
/// ([`crate::received::receipt_status`]), which does not need a `Header.UUID`.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Rejection> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(Rejection::TooLarge { size: bytes.len() });
    }
    let json = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    serde_json::from_slice(json).map_err(|error| {
        let (line, column) = (error.line(), error.column());
        let full = error.to_string();
        let position = format!(" at line {line} column {column}");
        Rejection::InvalidJson {
            line,
            column,
            message: full.strip_suffix(&position).unwrap_or(&full).to_owned(),
        }
    })
}

/// A parsed envelope with a usable UUID: from here on every problem is answered
/// with a receipt.
#[derive(Debug, Clone)]
pub struct Envelope {
    root: Value,
    uuid: String,
}

impl Envelope {
    /// Parses a body, refusing what cannot be answered by UUID. Invalid UTF-8 is
    /// `InvalidJson` at serde_json's line/column; a leading UTF-8 BOM is skipped.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, Rejection> {
        let root = parse_json(bytes)?;
        let invalid = |reason: &str| Rejection::InvalidEnvelope {
            reason: reason.to_owned(),
        };
        if !root.is_object() {
            return Err(invalid("$: the body is not a JSON object"));
        }
        let header = Node::root(&root)
            .get("Header")
            .filter(|header| header.value().is_object())
            .ok_or_else(|| invalid("$.Header: missing or not an object"))?;
        let uuid = match header.get("UUID").map(|uuid| uuid.value()) {
            Some(Value::String(uuid)) if !uuid.trim().is_empty() => uuid.trim().to_owned(),
            Some(Value::String(_)) => return Err(invalid("$.Header.UUID: empty")),
            Some(_) => return Err(invalid("$.Header.UUID: not a string")),
            None => return Err(invalid("$.Header.UUID: missing")),
        };
        Ok(Envelope { root, uuid })
    }

    /// The inbound `Header.UUID` (trimmed): the idempotency key and the receipt's
    /// correlation.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The Header, path `$.Header`.
    pub fn header(&self) -> Node<'_> {
        self.root_node()
            .get("Header")
            .unwrap_or_else(|| Node::at(&NULL, "$.Header".to_owned()))
    }

    /// The Content, path `$.Content`; a node over `null` when Content is missing,
    /// so content models report their own missing fields with full paths.
    pub fn content(&self) -> Node<'_> {
        self.root_node()
            .get("Content")
            .unwrap_or_else(|| Node::at(&NULL, "$.Content".to_owned()))
    }

    /// A Header text field, lenient (non-text → `None`): for echoing and routing,
    /// where a malformed value must not stop the receipt.
    pub fn header_text(&self, key: &str) -> Option<String> {
        self.header().text(key).ok().flatten()
    }

    /// The de/para namespace: `ProductName` (the sender's brand), else
    /// `SourceApplication`, else `""`.
    pub fn namespace(&self) -> String {
        self.header_text("ProductName")
            .or_else(|| self.header_text("SourceApplication"))
            .unwrap_or_default()
    }

    /// `Header.Transaction`, one we process; else `UNSUPPORTED_TRANSACTION` naming
    /// the value received.
    pub fn transaction(&self) -> Result<Transaction, Detail> {
        let path = self.header().child_path("Transaction");
        let Some(name) = self.header_text("Transaction") else {
            return Err(Detail::error(
                Code::UnsupportedTransaction,
                format!("{path}: missing (expected ItemReserve, RetailSales or RetailSalesCancellation)"),
            ));
        };
        Transaction::parse(&name).ok_or_else(|| {
            Detail::error(
                Code::UnsupportedTransaction,
                format!("{path}: transaction {name:?} is not supported (expected ItemReserve, RetailSales or RetailSalesCancellation)"),
            )
        })
    }

    /// `Header.Version` (`"2.000"`, `"2"`, `2.0`): its major must be the
    /// transaction's supported major, since a new major may change the content
    /// model. Absent is accepted; anything else is `UNSUPPORTED_VERSION`.
    pub fn check_version(&self, transaction: Transaction) -> Result<(), Detail> {
        let header = self.header();
        let path = header.child_path("Version");
        let supported = transaction.supported_major();
        let unsupported = |shown: &str| {
            Detail::error(
                Code::UnsupportedVersion,
                format!(
                    "{path}: version {shown} is not supported for {} (expected major version {supported})",
                    transaction.as_str()
                ),
            )
        };
        let version = match header.text("Version") {
            Ok(Some(version)) => version,
            Ok(None) => return Ok(()),
            Err(_) => {
                let shown = header.get("Version").map(|v| v.value().to_string());
                return Err(unsupported(shown.as_deref().unwrap_or("?")));
            }
        };
        let major = version
            .split('.')
            .next()
            .and_then(|major| major.trim().parse::<u32>().ok());
        if major == Some(supported) {
            Ok(())
        } else {
            Err(unsupported(&format!("{version:?}")))
        }
    }

    /// The event: `Content.Event` wins over `Header.Event` (both any case);
    /// absent means upsert. Other values are `EVENT_NOT_SUPPORTED` naming the path
    /// they came from.
    pub fn event(&self) -> Result<Event, Detail> {
        let Some((path, raw)) = self.raw_event()? else {
            return Ok(Event::Upsert);
        };
        if raw.eq_ignore_ascii_case("upsert") {
            Ok(Event::Upsert)
        } else if raw.eq_ignore_ascii_case("delete") {
            Ok(Event::Delete)
        } else {
            Err(Detail::error(
                Code::EventNotSupported,
                format!("{path}: event {raw:?} is not supported (expected upsert or delete)"),
            ))
        }
    }

    /// `Header.Type` must be `BusinessMessage` (any case) when present — a
    /// ReceiptMessage or anything else is not a request — and Content must be an
    /// object. Otherwise `INVALID_ENVELOPE` naming the path.
    pub fn check_shape(&self) -> Result<(), Detail> {
        let header = self.header();
        if let Some(node) = header.get("Type") {
            let is_business = matches!(
                node.value(),
                Value::String(kind) if kind.trim().eq_ignore_ascii_case("BusinessMessage")
            );
            if !is_business {
                return Err(Detail::error(
                    Code::InvalidEnvelope,
                    format!(
                        "{}: expected BusinessMessage, got {}",
                        node.path(),
                        node.value()
                    ),
                ));
            }
        }
        let content = self.content();
        if !content.value().is_object() {
            return Err(Detail::error(
                Code::InvalidEnvelope,
                format!(
                    "{}: expected an object, got {}",
                    content.path(),
                    content.value()
                ),
            ));
        }
        Ok(())
    }

    /// What a receipt echoes about this envelope. Lenient: transaction and event
    /// are canonicalised when recognised and echoed as received otherwise, so
    /// even a refused envelope gets a faithful receipt.
    pub fn summary(&self) -> InboundSummary {
        let transaction = match self.transaction() {
            Ok(transaction) => transaction.as_str().to_owned(),
            Err(_) => self.header_text("Transaction").unwrap_or_default(),
        };
        let event = match self.event() {
            Ok(event) => event.as_str().to_owned(),
            Err(_) => self
                .raw_event()
                .ok()
                .flatten()
                .map(|(_, raw)| raw)
                .unwrap_or_else(|| Event::Upsert.as_str().to_owned()),
        };
        InboundSummary {
            uuid: self.uuid.clone(),
            transaction,
            version: self
                .header_text("Version")
                .unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            source_application: self.header_text("SourceApplication").unwrap_or_default(),
            company_id: self.header_text("CompanyId").unwrap_or_default(),
            branch_id: self.header_text("BranchId").unwrap_or_default(),
            event,
        }
    }

    /// The root as a node, path `$`.
    fn root_node(&self) -> Node<'_> {
        Node::root(&self.root)
    }

    /// The event as received, with the path it came from: `Content.Event` if it
    /// is not blank, else `Header.Event`. A non-string event is
    /// `EVENT_NOT_SUPPORTED`.
    fn raw_event(&self) -> Result<Option<(String, String)>, Detail> {
        for parent in [self.content(), self.header()] {
            let Some(event) = parent.get("Event") else {
                continue;
            };
            match event.value() {
                Value::String(raw) if raw.trim().is_empty() => continue,
                Value::String(raw) => {
                    return Ok(Some((event.path().to_owned(), raw.trim().to_owned())))
                }
                other => {
                    return Err(Detail::error(
                        Code::EventNotSupported,
                        format!("{}: expected upsert or delete, got {other}", event.path()),
                    ))
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope(value: Value) -> Envelope {
        Envelope::parse(value.to_string().as_bytes()).expect("valid envelope")
    }

    fn with_header(header: Value, content: Value) -> Envelope {
        envelope(json!({"Header": header, "Content": content}))
    }

    #[test]
    fn non_json_is_rejected_with_line_and_column() {
        let rejection =
            Envelope::parse(b"{\n  \"Header\": {\n    \"UUID\": x\n  }\n}").expect_err("not JSON");
        assert_eq!(
            rejection,
            Rejection::InvalidJson {
                line: 3,
                column: 13,
                message: "expected value".into()
            }
        );
        assert_eq!(rejection.code(), Code::InvalidJson);
        assert_eq!(
            rejection.to_string(),
            "INVALID_JSON at line 3, column 13: expected value"
        );
    }

    #[test]
    fn invalid_utf8_is_invalid_json() {
        let rejection =
            Envelope::parse(b"{\"Header\": {\"UUID\": \"a\xFFb\"}}").expect_err("not UTF-8");
        assert!(
            matches!(rejection, Rejection::InvalidJson { line: 1, .. }),
            "{rejection:?}"
        );
    }

    #[test]
    fn empty_body_is_invalid_json() {
        assert!(matches!(
            Envelope::parse(b""),
            Err(Rejection::InvalidJson {
                line: 1,
                column: 0,
                ..
            })
        ));
    }

    #[test]
    fn leading_byte_order_mark_is_skipped() {
        let body = b"\xEF\xBB\xBF{\"Header\": {\"UUID\": \"u-1\"}}";
        assert_eq!(
            Envelope::parse(body).map(|e| e.uuid().to_owned()),
            Ok("u-1".into())
        );
    }

    #[test]
    fn missing_empty_or_non_string_uuid_is_an_invalid_envelope() {
        let cases = [
            (json!({"Header": {}}), "$.Header.UUID: missing"),
            (json!({"Header": {"UUID": null}}), "$.Header.UUID: missing"),
            (json!({"Header": {"UUID": "  "}}), "$.Header.UUID: empty"),
            (
                json!({"Header": {"UUID": 42}}),
                "$.Header.UUID: not a string",
            ),
            (json!({"Content": {}}), "$.Header: missing or not an object"),
            (json!({"Header": "x"}), "$.Header: missing or not an object"),
            (json!([1, 2]), "$: the body is not a JSON object"),
        ];
        for (body, reason) in cases {
            let rejection = Envelope::parse(body.to_string().as_bytes()).expect_err(reason);
            assert_eq!(rejection.code(), Code::InvalidEnvelope);
            assert_eq!(
                rejection,
                Rejection::InvalidEnvelope {
                    reason: reason.into()
                }
            );
        }
    }

    #[test]
    fn header_keys_and_uuid_key_match_in_any_case() {
        let env = envelope(json!({"header": {"uuid": " abc "}, "CONTENT": {"X": 1}}));
        assert_eq!(env.uuid(), "abc");
        assert_eq!(env.content().path(), "$.Content");
        assert!(env.content().get("x").is_some());
    }

    #[test]
    fn too_large_bodies_are_refused_before_parsing() {
        let body = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        let rejection = Envelope::parse(&body).expect_err("too large");
        assert_eq!(
            rejection,
            Rejection::TooLarge {
                size: MAX_ENVELOPE_BYTES + 1
            }
        );
        assert_eq!(rejection.code(), Code::InvalidEnvelope);
    }

    #[test]
    fn namespace_is_product_name_else_source_application() {
        let both = with_header(
            json!({"UUID": "u", "ProductName": "ECOMMERCE", "SourceApplication": "VTEX"}),
            json!({}),
        );
        assert_eq!(both.namespace(), "ECOMMERCE");
        let source = with_header(json!({"UUID": "u", "SourceApplication": "VTEX"}), json!({}));
        assert_eq!(source.namespace(), "VTEX");
        let neither = with_header(json!({"UUID": "u", "ProductName": ""}), json!({}));
        assert_eq!(neither.namespace(), "");
    }

    #[test]
    fn transaction_is_case_insensitive_and_unknown_ones_are_named() {
        let env = with_header(
            json!({"UUID": "u", "Transaction": "retailsales"}),
            json!({}),
        );
        assert_eq!(env.transaction(), Ok(Transaction::RetailSales));
        let env = with_header(
            json!({"UUID": "u", "Transaction": "CustomerVendor"}),
            json!({}),
        );
        let detail = env.transaction().expect_err("unsupported");
        assert_eq!(detail.code, Code::UnsupportedTransaction);
        assert!(
            detail.message.contains("\"CustomerVendor\""),
            "{}",
            detail.message
        );
        let env = with_header(json!({"UUID": "u"}), json!({}));
        assert_eq!(
            env.transaction().map_err(|d| d.code),
            Err(Code::UnsupportedTransaction)
        );
    }

    #[test]
    fn version_major_must_match_and_absent_is_accepted() {
        let version = |v: Value| {
            with_header(json!({"UUID": "u", "Version": v}), json!({}))
                .check_version(Transaction::RetailSales)
                .map_err(|d| d.code)
        };
        assert_eq!(version(json!("2.000")), Ok(()));
        assert_eq!(version(json!("2")), Ok(()));
        assert_eq!(version(json!(2.0)), Ok(()));
        assert_eq!(version(Value::Null), Ok(()));
        assert_eq!(version(json!("3.000")), Err(Code::UnsupportedVersion));
        assert_eq!(version(json!("1.001")), Err(Code::UnsupportedVersion));
        assert_eq!(version(json!("v2")), Err(Code::UnsupportedVersion));
        assert_eq!(version(json!(true)), Err(Code::UnsupportedVersion));
    }

    #[test]
    fn content_event_wins_over_header_event_in_any_case() {
        let env = with_header(
            json!({"UUID": "u", "Event": "upsert"}),
            json!({"event": "DELETE"}),
        );
        assert_eq!(env.event(), Ok(Event::Delete));
        let env = with_header(json!({"UUID": "u", "EVENT": "Delete"}), json!({}));
        assert_eq!(env.event(), Ok(Event::Delete));
        let env = with_header(json!({"UUID": "u"}), json!({}));
        assert_eq!(env.event(), Ok(Event::Upsert));
        let env = with_header(
            json!({"UUID": "u", "Event": "delete"}),
            json!({"Event": ""}),
        );
        assert_eq!(
            env.event(),
            Ok(Event::Delete),
            "blank Content.Event is absent"
        );
    }

    #[test]
    fn unknown_event_names_its_path() {
        let env = with_header(json!({"UUID": "u"}), json!({"Event": "merge"}));
        let detail = env.event().expect_err("unsupported");
        assert_eq!(detail.code, Code::EventNotSupported);
        assert_eq!(
            detail.message,
            "$.Content.Event: event \"merge\" is not supported (expected upsert or delete)"
        );
        let env = with_header(json!({"UUID": "u", "Event": 7}), json!({}));
        let detail = env.event().expect_err("not text");
        assert_eq!(detail.code, Code::EventNotSupported);
        assert!(
            detail.message.starts_with("$.Header.Event: "),
            "{}",
            detail.message
        );
    }

    #[test]
    fn shape_requires_business_message_and_object_content() {
        let ok = with_header(json!({"UUID": "u", "Type": "businessmessage"}), json!({}));
        assert_eq!(ok.check_shape(), Ok(()));
        let receipt = with_header(json!({"UUID": "u", "Type": "ReceiptMessage"}), json!({}));
        let detail = receipt.check_shape().expect_err("not a request");
        assert_eq!(detail.code, Code::InvalidEnvelope);
        assert_eq!(
            detail.message,
            "$.Header.Type: expected BusinessMessage, got \"ReceiptMessage\""
        );
        let no_content = envelope(json!({"Header": {"UUID": "u"}}));
        assert_eq!(
            no_content.check_shape().map_err(|d| d.message),
            Err("$.Content: expected an object, got null".to_owned())
        );
    }

    #[test]
    fn summary_echoes_header_with_defaults() {
        let env = with_header(
            json!({"UUID": "u-1", "Transaction": "itemreserve", "SourceApplication": "VTEX",
                   "CompanyId": "T1", "BranchId": "D MG 01"}),
            json!({"Event": "Delete"}),
        );
        let summary = env.summary();
        assert_eq!(summary.uuid, "u-1");
        assert_eq!(summary.transaction, "ItemReserve");
        assert_eq!(summary.version, "2.000");
        assert_eq!(summary.source_application, "VTEX");
        assert_eq!(summary.company_id, "T1");
        assert_eq!(summary.branch_id, "D MG 01");
        assert_eq!(summary.event, "delete");
        let odd = with_header(
            json!({"UUID": "u", "Transaction": "Foo", "Version": "3.1"}),
            json!({"Event": "merge"}),
        );
        let summary = odd.summary();
        assert_eq!(summary.transaction, "Foo");
        assert_eq!(summary.version, "3.1");
        assert_eq!(summary.event, "merge");
    }
}
