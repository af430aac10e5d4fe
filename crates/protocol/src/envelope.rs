//! The EAI envelope `{"Header": {...}, "Content": {...}}` and the line between
//! bodies we can answer and bodies we cannot.
//!
//! Anything wrong once a usable `Header.UUID` is known is answered with a coded
//! receipt correlated by that UUID ([`Detail`]). A body with no usable UUID — too
//! large, not JSON, not an object, no Header, no UUID — cannot be correlated that
//! way: [`Envelope::parse`] returns a [`Rejection`], and the transport sends the
//! body to the dead-letter queue with that reason.
//!
//! Three rules hold for the whole document, Header, Content and anything else
//! (checked by the private `document` module):
//!
//! - **Keys appear once.** An object that has the same key twice, exactly or
//!   differing only in ASCII case, is ambiguous and refused. A second `Header`
//!   at the root or a second `UUID` in the Header leaves no usable UUID (a
//!   [`Rejection`]); any other repeated key is `INVALID_FIELD` at its path,
//!   expecting "each key once (keys are case-insensitive)".
//! - **serde_json's private keys are reserved.** serde_json, as this
//!   workspace builds it, reads an object whose first key is
//!   `$serde_json::private::Number` as a number
//!   (`{"$serde_json::private::Number": "1"}` is 1) and, in the worker, one
//!   whose first key is `$serde_json::private::RawValue` as the JSON document
//!   its value holds. An object using either key, first or not, however
//!   escaped (`"\u0024serde_json…"`), is `INVALID_FIELD` at the path of the
//!   object, expecting "an object without the reserved key
//!   \"$serde_json::private::Number\"" (or the RawValue key). When serde_json
//!   cannot read the body at all because of one
//!   (`{"$serde_json::private::Number": "garbage"}` is no number), there is no
//!   value to answer from; when one leads the root, the Header or the UUID,
//!   there is no UUID: a [`Rejection`] naming the object's path and the key,
//!   rather than the "invalid number" or "trailing comma" serde_json reports.
//! - **Text carries no control characters.** A key or string value holding NUL
//!   or another C0 control other than TAB, LF and CR, or DEL, is
//!   `INVALID_FIELD` at its path (a key at the path of its object), expecting
//!   "text without control characters": PostgreSQL refuses NUL in text. A
//!   `Header.UUID` holding one, or longer than [`MAX_UUID_BYTES`] (the AMQP
//!   limit of the `correlation_id` it comes back in), is not usable (a
//!   [`Rejection`]).
//!
//! [`Envelope::validate`] reports all three, with the Header checks, in one
//! call.
//!
//! A body can break these rules once per string: a 30 MiB array of `"\u0000"`
//! is 3.5 million problems. So that holding them stays cheap, an envelope keeps
//! the first 1,000 as details, each message cut to the 2,000 characters a
//! receipt shows (a path shows each key cut to
//! [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS) characters), and counts the rest
//! in one more `INVALID_FIELD` error at `$`: "$: 99000 more repeated or
//! reserved keys, or keys or strings with control characters, not listed
//! (only the first 1000 are)". That detail stands for the problems it counts,
//! so a receipt that leaves it out counts them in its `DETAILS_TRUNCATED`
//! warning: 100,000 bad strings give a receipt listing 100 and "99900 more
//! details not shown".

use std::borrow::Cow;

use crate::code::{counted, truncate_chars, Code, Detail};
use crate::document::{self, is_refused_control, label, render, Finding, Step, RAW_VALUE_TOKEN};
use crate::json::Json;
use crate::node::{Node, NULL};
use crate::receipt::{InboundSummary, DEFAULT_VERSION, MAX_MESSAGE_CHARS};

/// Longest usable `Header.UUID`, in UTF-8 bytes: it travels back as the
/// receipt's AMQP `correlation_id`, a short string of at most 255 bytes.
pub const MAX_UUID_BYTES: usize = 255;

/// Largest body accepted: RetailSales with thousands of items reach tens of
/// megabytes, and seed 001 configures Protheus for 30 MB.
pub const MAX_ENVELOPE_BYTES: usize = 30 * 1024 * 1024;

/// Some Windows senders prefix UTF-8 JSON with a byte-order mark, which JSON
/// forbids but which carries no meaning: it is skipped rather than rejected.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The Header fields read as text that end up in database columns, receipts
/// and routing: [`Envelope::validate`] refuses them longer than
/// [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS).
const HEADER_TEXT_FIELDS: [&str; 8] = [
    "Type",
    "Transaction",
    "Version",
    "SourceApplication",
    "ProductName",
    "CompanyId",
    "BranchId",
    "Event",
];

/// What an `INVALID_FIELD` on a repeated key says was expected.
const EXPECTED_UNIQUE_KEYS: &str = "each key once (keys are case-insensitive)";

/// What an `INVALID_FIELD` on a string value with a control character says
/// was expected.
const EXPECTED_PLAIN_TEXT: &str = "text without control characters";

/// What an `INVALID_FIELD` on a key with a control character says was
/// expected.
const EXPECTED_PLAIN_KEY: &str = "key names without control characters";

/// The transactions this worker processes (`Header.Transaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// Stock reservation (SPEC §4).
    ItemReserve,
    /// A sale (SPEC §5).
    RetailSales,
    /// Cancellation of an integrated sale.
    RetailSalesCancellation,
    /// A request for stock levels, answered in the receipt (StockLevel 3.003).
    StockLevel,
    /// A connection test from the other side, answered ok.
    EnvironmentTest,
}

impl Transaction {
    /// Every transaction, to match names against.
    pub const ALL: [Transaction; 5] = [
        Transaction::ItemReserve,
        Transaction::RetailSales,
        Transaction::RetailSalesCancellation,
        Transaction::StockLevel,
        Transaction::EnvironmentTest,
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
            Transaction::StockLevel => "StockLevel",
            Transaction::EnvironmentTest => "EAIEnvironmentTest",
        }
    }

    /// The major `Header.Version` whose content model we implement.
    pub fn supported_major(self) -> u32 {
        match self {
            Transaction::ItemReserve
            | Transaction::RetailSales
            | Transaction::RetailSalesCancellation => 2,
            Transaction::StockLevel => 3,
            Transaction::EnvironmentTest => 1,
        }
    }

    /// The names, for messages listing what is supported.
    fn listed() -> String {
        Transaction::ALL.map(Transaction::as_str).join(", ")
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
    /// JSON, but not an object, no Header object (or two), no usable
    /// `Header.UUID` (missing, not a string, empty, two of them, holding a
    /// control character, longer than [`MAX_UUID_BYTES`]), or not readable
    /// because an object uses one of serde_json's reserved keys (see the
    /// module documentation).
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
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Json<'_>, Rejection> {
    within_limit(bytes)?;
    Json::parse(without_bom(bytes)).map_err(invalid_json)
}

/// Refuses a body larger than [`MAX_ENVELOPE_BYTES`] before anything reads it.
fn within_limit(bytes: &[u8]) -> Result<(), Rejection> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(Rejection::TooLarge { size: bytes.len() });
    }
    Ok(())
}

/// The body without its leading UTF-8 BOM, if any.
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// serde_json's error as an `InvalidJson` rejection with its position.
fn invalid_json(error: serde_json::Error) -> Rejection {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let position = format!(" at line {line} column {column}");
    Rejection::InvalidJson {
        line,
        column,
        message: full.strip_suffix(&position).unwrap_or(&full).to_owned(),
    }
}

/// Most problems the whole-document rules keep as details, in document order;
/// the rest are only counted. A receipt lists 100 details by default, so a
/// thousand leave room to configure more, while a 30 MiB body made of nothing
/// but `"\u0000"` strings (3.5 million of them) holds a thousand details
/// of at most [`MAX_MESSAGE_CHARS`] characters instead of hundreds of
/// megabytes of them.
const MAX_DOCUMENT_PROBLEMS: usize = 1_000;

/// What the whole-document rules found in an envelope: why its UUID is not
/// usable, if a repeated or reserved key hides it, why serde_json may not
/// have read it at all, and every other finding as a detail, the first
/// [`MAX_DOCUMENT_PROBLEMS`] one by one, then one more counting the rest.
#[derive(Default)]
struct Scanned {
    unusable: Option<String>,
    /// The first object using a reserved key, as a rejection reason for a
    /// body serde_json could not read into a value.
    unreadable: Option<String>,
    problems: Vec<Detail>,
    /// Findings beyond the first [`MAX_DOCUMENT_PROBLEMS`]: counted, not kept.
    unlisted: usize,
}

impl Scanned {
    /// Scans the JSON body `json` ([`document::scan`]).
    fn of(json: &[u8]) -> Result<Scanned, Rejection> {
        let mut scanned = Scanned::default();
        document::scan(json, |finding| scanned.record(finding)).map_err(invalid_json)?;
        if scanned.unlisted > 0 {
            let more = counted(
                scanned.unlisted,
                "more repeated or reserved key, or key or string with control characters",
                "more repeated or reserved keys, or keys or strings with control characters",
            );
            scanned.problems.push(
                Detail::error(
                    Code::InvalidField,
                    format!("$: {more}, not listed (only the first {MAX_DOCUMENT_PROBLEMS} are)"),
                )
                .standing_for(scanned.unlisted),
            );
        }
        Ok(scanned)
    }

    /// Why serde_json refused the body the scan read with `refused`. An object
    /// using a reserved key makes serde_json fail where the key is (`"invalid
    /// number"`, `"trailing comma"`) although the body is JSON: then the body,
    /// which has no value to read a UUID from, is `INVALID_ENVELOPE` naming
    /// the first such object. Any other refusal is returned as it is.
    fn explain(&self, refused: Rejection) -> Rejection {
        match (&self.unreadable, refused) {
            (Some(reason), Rejection::InvalidJson { .. }) => Rejection::InvalidEnvelope {
                reason: reason.clone(),
            },
            (_, refused) => refused,
        }
    }

    /// Keeps `finding` as a detail (its message cut to what a receipt
    /// shows), or only counts it once [`MAX_DOCUMENT_PROBLEMS`] are kept, and
    /// remembers the first repeated or reserved key that leaves the UUID
    /// unusable and the first reserved key serde_json may have failed on.
    fn record(&mut self, finding: Finding<'_>) {
        match &finding {
            Finding::DuplicateKey { path, key, first } if leads_to_the_uuid(path) => {
                self.unusable.get_or_insert_with(|| {
                    format!(
                        "{}: {key:?} repeats {first:?} (keys are case-insensitive), so the UUID is ambiguous",
                        render(path)
                    )
                });
                return;
            }
            Finding::ReservedKey { object, key, first } => {
                let reason = || {
                    format!(
                        "{}: uses the reserved key {key:?}, so the body cannot be read",
                        render(object)
                    )
                };
                if (*first && leads_to_the_uuid(object)) || *key == RAW_VALUE_TOKEN {
                    self.unusable.get_or_insert_with(reason);
                }
                self.unreadable.get_or_insert_with(reason);
            }
            _ => {}
        }
        if self.problems.len() == MAX_DOCUMENT_PROBLEMS {
            self.unlisted += 1;
            return;
        }
        let detail = match finding {
            Finding::DuplicateKey { path, key, first } => Detail::error(
                Code::InvalidField,
                format!(
                    "{}: expected {EXPECTED_UNIQUE_KEYS}, got {key:?} after {first:?}",
                    render(path)
                ),
            ),
            Finding::ReservedKey { object, key, .. } => Detail::error(
                Code::InvalidField,
                format!(
                    "{}: expected an object without the reserved key {key:?}, got an object with it",
                    render(object)
                ),
            ),
            Finding::ControlInKey { object, key } => Detail::invalid_field(
                &render(object),
                EXPECTED_PLAIN_KEY,
                &Json::String(Cow::Borrowed(key)),
            ),
            Finding::ControlInText { path, text } => Detail::invalid_field(
                &render(path),
                EXPECTED_PLAIN_TEXT,
                &Json::String(Cow::Borrowed(text)),
            ),
        };
        self.problems.push(Detail {
            message: truncate_chars(&detail.message, MAX_MESSAGE_CHARS),
            ..detail
        });
    }
}

/// Whether `path` is one the UUID is read through: the root, the Header or
/// the UUID (any case). A repeated key there (a second `Header` at the root,
/// a second `UUID` in the Header) leaves the UUID ambiguous; a reserved key
/// leading one of those objects makes serde_json read it as something else.
fn leads_to_the_uuid(path: &[Step]) -> bool {
    let is =
        |step: &Step, name: &str| matches!(step, Step::Key(key) if key.eq_ignore_ascii_case(name));
    match path {
        [] => true,
        [header] => is(header, "Header"),
        [header, uuid] => is(header, "Header") && is(uuid, "UUID"),
        _ => false,
    }
}

/// A parsed envelope with a usable UUID: from here on every problem is answered
/// with a receipt. It borrows its strings from the body it was parsed from
/// ([`Json`]); [`Envelope::detach`] copies it off.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    root: Json<'a>,
    uuid: String,
    /// Repeated keys and control characters, for [`Envelope::validate`].
    document_problems: Vec<Detail>,
}

impl<'a> Envelope<'a> {
    /// Parses a body, refusing what cannot be answered by UUID. Invalid UTF-8 is
    /// `InvalidJson` at serde_json's line/column; a leading UTF-8 BOM is skipped.
    /// Nesting deeper than 128 is `InvalidJson` (serde_json's limit, which also
    /// keeps the stack bounded).
    ///
    /// The whole document is scanned for repeated and reserved keys and
    /// control characters here; those that leave the UUID usable are reported
    /// by [`Envelope::validate`]. A body serde_json refuses only because an
    /// object uses a reserved key is `InvalidEnvelope` naming that object.
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, Rejection> {
        within_limit(bytes)?;
        // The scan comes first: serde_json's value reader would take an
        // object led by `$serde_json::private::RawValue` for a document of
        // its own, read with a fresh nesting limit, which no rule here sees.
        let scanned = Scanned::of(without_bom(bytes))?;
        let invalid = |reason: String| Rejection::InvalidEnvelope { reason };
        if let Some(reason) = scanned.unusable.clone() {
            return Err(invalid(reason));
        }
        let root = parse_json(bytes).map_err(|refused| scanned.explain(refused))?;
        if !root.is_object() {
            return Err(invalid("$: the body is not a JSON object".to_owned()));
        }
        let header = Node::root(&root)
            .get("Header")
            .filter(|header| header.value().is_object())
            .ok_or_else(|| invalid("$.Header: missing or not an object".to_owned()))?;
        let uuid = match header.get("UUID").map(|uuid| uuid.value()) {
            Some(Json::String(uuid)) if !uuid.trim().is_empty() => uuid,
            Some(Json::String(_)) => return Err(invalid("$.Header.UUID: empty".to_owned())),
            Some(_) => return Err(invalid("$.Header.UUID: not a string".to_owned())),
            None => return Err(invalid("$.Header.UUID: missing".to_owned())),
        };
        if let Some(control) = uuid.chars().find(|c| is_refused_control(*c)) {
            return Err(invalid(format!(
                "$.Header.UUID: contains a control character (U+{:04X})",
                u32::from(control)
            )));
        }
        let uuid = uuid.trim();
        if uuid.len() > MAX_UUID_BYTES {
            return Err(invalid(format!(
                "$.Header.UUID: longer than {MAX_UUID_BYTES} bytes"
            )));
        }
        Ok(Envelope {
            uuid: uuid.to_owned(),
            root,
            document_problems: scanned.problems,
        })
    }

    /// A copy owning its strings, to outlive its body.
    pub fn detach(&self) -> Envelope<'static> {
        Envelope {
            root: self.root.detach(),
            uuid: self.uuid.clone(),
            document_problems: self.document_problems.clone(),
        }
    }

    /// Every check an envelope gets before its content model reads it, so the
    /// receipt reports every problem at once:
    ///
    /// 1. [`Envelope::check_shape`], [`Envelope::transaction`],
    ///    [`Envelope::check_version`] and [`Envelope::event`], in that order,
    ///    the first failure only (each needs the one before it);
    /// 2. every repeated key, every object using a reserved key and every key
    ///    or string value with a control character, anywhere in the document,
    ///    in document order
    ///    (`INVALID_FIELD` naming its path, keys spelled as received), the
    ///    first 1,000 one by one and, when there are more, one last
    ///    `INVALID_FIELD` at `$` counting the rest (see the module
    ///    documentation);
    /// 3. every Header text field (`Type`, `Transaction`, `Version`,
    ///    `SourceApplication`, `ProductName`, `CompanyId`, `BranchId`, `Event`)
    ///    longer than [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS) (`INVALID_FIELD`).
    ///
    /// `Ok` with what the content model needs only when nothing was found.
    pub fn validate(&self) -> Result<(Transaction, Event), Vec<Detail>> {
        let checked = self.check_shape().and_then(|()| {
            let transaction = self.transaction()?;
            self.check_version(transaction)?;
            Ok((transaction, self.event()?))
        });
        let mut problems: Vec<Detail> = checked.as_ref().err().cloned().into_iter().collect();
        problems.extend(self.document_problems.iter().cloned());
        problems.extend(self.header_too_long());
        match checked {
            Ok(checked) if problems.is_empty() => Ok(checked),
            _ => Err(problems),
        }
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

    /// A Header text field, lenient (non-text → `None`, any length, as
    /// received): for echoing and routing, where a malformed value must not stop
    /// the receipt.
    pub fn header_text(&self, key: &str) -> Option<String> {
        self.header().long_text(key).ok().flatten()
    }

    /// A Header text field fit for a database column or a log line whatever was
    /// received: [`Envelope::header_text`] with control characters replaced by
    /// U+FFFD and cut to [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS) characters (ending in `…` when
    /// cut); `""` when absent or not text. For a valid envelope it is the
    /// field as received (trimmed), so an envelope refused for a NUL in
    /// `CompanyId` can still be recorded and answered.
    pub fn header_label(&self, key: &str) -> String {
        label(&self.header_text(key).unwrap_or_default())
    }

    /// A Content text field as a [`Envelope::header_label`]: what the
    /// message log shows and searches (`InternalId`, `DocumentCode`), `None`
    /// when absent, blank or not text.
    pub fn content_label(&self, key: &str) -> Option<String> {
        let text = self.content().long_text(key).ok().flatten()?;
        Some(label(&text)).filter(|text| !text.is_empty())
    }

    /// The document an envelope is about, as the message log names it: the
    /// Content's `InternalId` (a cancellation's `RetailSalesInternalId`).
    pub fn internal_id(&self) -> Option<String> {
        self.content_label("InternalId")
            .or_else(|| self.content_label("RetailSalesInternalId"))
    }

    /// The de/para namespace: `ProductName` (the sender's brand), else
    /// `SourceApplication`, else `""`; as a [`Envelope::header_label`], so it
    /// is a safe column value even for a refused envelope.
    pub fn namespace(&self) -> String {
        let product = self.header_label("ProductName");
        if product.is_empty() {
            self.header_label("SourceApplication")
        } else {
            product
        }
    }

    /// `Header.Transaction`, one we process; else `UNSUPPORTED_TRANSACTION` naming
    /// the value received.
    pub fn transaction(&self) -> Result<Transaction, Detail> {
        let path = self.header().child_path("Transaction");
        let Some(name) = self.header_text("Transaction") else {
            return Err(Detail::error(
                Code::UnsupportedTransaction,
                format!(
                    "{path}: missing (expected one of {})",
                    Transaction::listed()
                ),
            ));
        };
        Transaction::parse(&name).ok_or_else(|| {
            Detail::error(
                Code::UnsupportedTransaction,
                format!(
                    "{path}: transaction {name:?} is not supported (expected one of {})",
                    Transaction::listed()
                ),
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
        let version = match header.long_text("Version") {
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
    /// object (an EAIEnvironmentTest's may be anything: its schema's is a
    /// string). Otherwise `INVALID_ENVELOPE` naming the path.
    pub fn check_shape(&self) -> Result<(), Detail> {
        let header = self.header();
        if let Some(node) = header.get("Type") {
            let is_business = matches!(
                node.value(),
                Json::String(kind) if kind.trim().eq_ignore_ascii_case("BusinessMessage")
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
        // A connection test's Content is a string (its schema's), or anything;
        // the transaction is only read for a Content that is not an object.
        if !content.value().is_object() && self.transaction() != Ok(Transaction::EnvironmentTest) {
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
        let known = self.transaction().ok();
        let transaction = match known {
            Some(transaction) => transaction.as_str().to_owned(),
            None => self.header_text("Transaction").unwrap_or_default(),
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
            version: self.header_text("Version").unwrap_or_else(|| {
                known.map_or(DEFAULT_VERSION.to_owned(), |transaction| {
                    format!("{}.000", transaction.supported_major())
                })
            }),
            source_application: self.header_text("SourceApplication").unwrap_or_default(),
            company_id: self.header_text("CompanyId").unwrap_or_default(),
            branch_id: self.header_text("BranchId").unwrap_or_default(),
            event,
        }
    }

    /// The Header text fields longer than [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS), each an
    /// `INVALID_FIELD`. Only the length: a value of the wrong type is the
    /// shape, transaction, version and event checks' to report.
    fn header_too_long(&self) -> Vec<Detail> {
        let header = self.header();
        HEADER_TEXT_FIELDS
            .into_iter()
            .filter(|key| header.long_text(key).is_ok())
            .filter_map(|key| header.text(key).err())
            .collect()
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
                Json::String(raw) if raw.trim().is_empty() => continue,
                Json::String(raw) => {
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
    use serde_json::{json, Value};

    use std::time::{Duration, Instant};

    use super::*;
    use crate::receipt::{Receipt, ReceiptOrigin, DEFAULT_MAX_DETAILS};
    use crate::MAX_TEXT_CHARS;

    fn envelope(value: Value) -> Envelope<'static> {
        Envelope::parse(value.to_string().as_bytes())
            .expect("valid envelope")
            .detach()
    }

    fn with_header(header: Value, content: Value) -> Envelope<'static> {
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

    /// The envelope of `body`, which must parse.
    fn parsed(body: &str) -> Envelope<'static> {
        Envelope::parse(body.as_bytes())
            .unwrap_or_else(|r| panic!("{r}: {body}"))
            .detach()
    }

    /// The reason `body` is refused as an unusable envelope.
    fn refused(body: &str) -> String {
        match Envelope::parse(body.as_bytes()) {
            Err(Rejection::InvalidEnvelope { reason }) => reason,
            other => panic!("expected InvalidEnvelope for {body}, got {other:?}"),
        }
    }

    /// The (code, message) pairs `validate` reports.
    fn problems(env: &Envelope) -> Vec<(Code, String)> {
        env.validate()
            .expect_err("refused")
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    /// A valid ItemReserve envelope whose Content has `content` merged in.
    fn reserve(content: &str) -> String {
        format!(
            r#"{{"Header": {{"UUID": "u-1", "Type": "BusinessMessage", "Transaction": "ItemReserve",
                 "Version": "2.000", "CompanyId": "T1", "BranchId": "D MG 01"}},
               "Content": {{"InternalId": "R1", {content}}}}}"#
        )
    }

    #[test]
    fn a_valid_envelope_validates_to_its_transaction_and_event() {
        let env = parsed(&reserve(r#""Event": "Delete""#));
        assert_eq!(
            env.validate(),
            Ok((Transaction::ItemReserve, Event::Delete))
        );
    }

    #[test]
    fn validate_reports_the_first_header_check_that_fails() {
        let env = with_header(
            json!({"UUID": "u", "Transaction": "ItemReserve", "Version": "3.000"}),
            json!({}),
        );
        assert_eq!(
            env.validate()
                .map_err(|d| d.into_iter().map(|d| d.code).collect::<Vec<_>>()),
            Err(vec![Code::UnsupportedVersion])
        );
    }

    #[test]
    fn nul_in_item_code_is_an_invalid_field_at_its_indexed_path() {
        let items = r#"{"ItemCode": "A", "Quantity": 1}, {"ItemCode": "B", "Quantity": 1},
                       {"ItemCode": "C", "Quantity": 1}, {"ItemCode": "P\u00000", "Quantity": 1}"#;
        let env = parsed(&reserve(&format!(
            r#""ReserveItemType": {{"Item": [{items}]}}"#
        )));
        assert_eq!(
            problems(&env),
            [(
                Code::InvalidField,
                r#"$.Content.ReserveItemType.Item[3].ItemCode: expected text without control characters, got "P\u00000""#
                    .to_owned()
            )]
        );
    }

    #[test]
    fn every_string_with_a_control_character_is_reported_in_document_order() {
        let env = parsed(
            r#"{"Header": {"UUID": "u", "Transaction": "ItemReserve", "CompanyId": "T\u00001"},
                "Content": {"DocumentReserve": "D\u0000", "Note": "del\u007f", "Ok": "tab\there\r\n",
                            "bad\u0001key": 1}}"#,
        );
        let found = problems(&env);
        assert!(
            found.iter().all(|(code, _)| *code == Code::InvalidField),
            "{found:?}"
        );
        let messages: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                r#"$.Header.CompanyId: expected text without control characters, got "T\u00001""#,
                r#"$.Content.DocumentReserve: expected text without control characters, got "D\u0000""#,
                "$.Content.Note: expected text without control characters, got \"del\u{7f}\"",
                r#"$.Content: expected key names without control characters, got "bad\u0001key""#,
            ]
        );
    }

    /// `count` copies of a JSON string holding a NUL, comma-separated.
    fn nul_strings(count: usize) -> String {
        vec![r#""\u0000""#; count].join(",")
    }

    #[test]
    fn a_hundred_thousand_bad_strings_keep_a_thousand_details_and_count_the_rest() {
        let notes: Vec<String> = (0..100_000)
            .map(|index| format!(r#""note\u0000{index:06}""#))
            .collect();
        let body = reserve(&format!(r#""Notes": [{}]"#, notes.join(",")));
        assert!(body.len() > 1_900_000, "{} bytes", body.len());
        let started = Instant::now();
        let details = parsed(&body).validate().expect_err("refused");
        let elapsed = started.elapsed();
        assert_eq!(details.len(), MAX_DOCUMENT_PROBLEMS + 1);
        assert_eq!(
            details[999].message,
            r#"$.Content.Notes[999]: expected text without control characters, got "note\u0000000999""#
        );
        let last = &details[MAX_DOCUMENT_PROBLEMS];
        assert_eq!(
            (last.code, last.is_error(), last.message.as_str()),
            (
                Code::InvalidField,
                true,
                "$: 99000 more repeated or reserved keys, or keys or strings with control characters, not listed (only the first 1000 are)"
            )
        );
        let origin = ReceiptOrigin {
            source_application: "EAIWORKER".into(),
            product_name: "EAI Worker".into(),
            max_details: DEFAULT_MAX_DETAILS,
        };
        let at = chrono::DateTime::UNIX_EPOCH;
        let receipt = Receipt::new(
            &origin,
            &parsed(&body).summary(),
            at,
            at,
            details,
            Vec::new(),
        );
        assert_eq!(receipt.details().len(), DEFAULT_MAX_DETAILS + 1);
        assert_eq!(
            receipt.details()[DEFAULT_MAX_DETAILS].message,
            "99900 more details not shown (99900 errors, 0 warnings): the receipt lists the first 100"
        );
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    #[test]
    fn one_problem_past_the_thousand_is_counted_in_the_singular() {
        let body = reserve(&format!(r#""Notes": [{}]"#, nul_strings(1_001)));
        let details = parsed(&body).validate().expect_err("refused");
        assert_eq!(
            details.last().map(|d| d.message.as_str()),
            Some("$: 1 more repeated or reserved key, or key or string with control characters, not listed (only the first 1000 are)")
        );
        let body = reserve(&format!(r#""Notes": [{}]"#, nul_strings(1_000)));
        let details = parsed(&body).validate().expect_err("refused");
        assert_eq!(details.len(), 1_000);
        assert!(details[999].message.starts_with("$.Content.Notes[999]: "));
    }

    #[test]
    fn a_huge_key_is_cut_in_the_path_of_every_problem_under_it() {
        let key = "k".repeat(1024 * 1024);
        let body = reserve(&format!(r#""{key}": [{}]"#, nul_strings(2_000)));
        let started = Instant::now();
        let details = parsed(&body).validate().expect_err("refused");
        let elapsed = started.elapsed();
        let cut = format!("{}…", "k".repeat(MAX_TEXT_CHARS - 1));
        assert_eq!(
            details[0].message,
            format!(
                r#"$.Content.{cut}[0]: expected text without control characters, got "\u0000""#
            )
        );
        assert_eq!(details.len(), MAX_DOCUMENT_PROBLEMS + 1);
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    #[test]
    fn a_problem_deep_under_long_keys_has_its_message_cut_to_what_a_receipt_shows() {
        let key = "k".repeat(MAX_TEXT_CHARS);
        let body = reserve(&format!(
            r#""Deep": {}"\u0000"{}"#,
            format!(r#"{{"{key}": "#).repeat(20),
            "}".repeat(20)
        ));
        let details = parsed(&body).validate().expect_err("refused");
        let [detail] = details.as_slice() else {
            panic!("one detail expected, got {details:?}");
        };
        assert_eq!(detail.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(detail.message.starts_with("$.Content.Deep.kkk"));
        assert!(detail.message.ends_with('…'));
    }

    #[test]
    fn a_repeated_header_after_the_thousandth_problem_still_leaves_no_usable_uuid() {
        assert_eq!(
            refused(&format!(
                r#"{{"Content": [{}], "Header": {{"UUID": "a"}}, "HEADER": {{"UUID": "b"}}}}"#,
                nul_strings(1_500)
            )),
            r#"$.HEADER: "HEADER" repeats "Header" (keys are case-insensitive), so the UUID is ambiguous"#
        );
    }

    #[test]
    fn tab_lf_and_cr_are_allowed() {
        let env = parsed(&reserve(r#""Requester": "a\tb", "Note": "line\r\nline""#));
        assert!(env.validate().is_ok(), "{:?}", env.validate());
    }

    #[test]
    fn a_nul_in_a_header_field_keeps_the_envelope_answerable_with_a_safe_label() {
        let env = parsed(
            r#"{"Header": {"UUID": "u", "CompanyId": " T\u00001 ", "ProductName": "VT\u0000EX"}}"#,
        );
        assert_eq!(env.uuid(), "u");
        assert_eq!(env.header_label("CompanyId"), "T\u{FFFD}1");
        assert_eq!(env.header_label("companyid"), "T\u{FFFD}1");
        assert_eq!(env.header_label("BranchId"), "");
        assert_eq!(env.namespace(), "VT\u{FFFD}EX");
        assert_eq!(env.header_text("CompanyId").as_deref(), Some("T\u{0}1"));
    }

    #[test]
    fn header_labels_are_cut_to_255_characters() {
        let env = with_header(
            json!({"UUID": "u", "BranchId": "b".repeat(10_000), "CompanyId": 42}),
            json!({}),
        );
        let label = env.header_label("BranchId");
        assert_eq!(label.chars().count(), MAX_TEXT_CHARS);
        assert!(label.starts_with("bbb") && label.ends_with('…'));
        assert_eq!(env.header_label("CompanyId"), "42");
    }

    #[test]
    fn header_text_fields_longer_than_255_characters_are_invalid_fields() {
        let env = with_header(
            json!({"UUID": "u", "Transaction": "ItemReserve", "CompanyId": "c".repeat(256),
                   "BranchId": "b".repeat(255), "SourceApplication": "s".repeat(10_000)}),
            json!({}),
        );
        let found = problems(&env);
        let paths: Vec<(Code, &str)> = found
            .iter()
            .map(|(code, message)| (*code, message.split(": ").next().unwrap_or_default()))
            .collect();
        assert_eq!(
            paths,
            [
                (Code::InvalidField, "$.Header.SourceApplication"),
                (Code::InvalidField, "$.Header.CompanyId"),
            ]
        );
        assert!(found[1]
            .1
            .starts_with("$.Header.CompanyId: expected a string of at most 255 characters"));
        assert_eq!(env.header_text("CompanyId"), Some("c".repeat(256)));
    }

    #[test]
    fn a_uuid_with_a_control_character_or_too_long_is_not_usable() {
        assert_eq!(
            refused(r#"{"Header": {"UUID": "61e9\u0000b9e"}}"#),
            "$.Header.UUID: contains a control character (U+0000)"
        );
        assert_eq!(
            refused(r#"{"Header": {"UUID": "abc\u007f"}}"#),
            "$.Header.UUID: contains a control character (U+007F)"
        );
        let long = "u".repeat(MAX_UUID_BYTES + 1);
        assert_eq!(
            refused(&format!(r#"{{"Header": {{"UUID": "{long}"}}}}"#)),
            "$.Header.UUID: longer than 255 bytes"
        );
        let wide = "é".repeat(128);
        assert_eq!(
            refused(&format!(r#"{{"Header": {{"UUID": "{wide}"}}}}"#)),
            "$.Header.UUID: longer than 255 bytes",
            "128 characters, 256 bytes: too long for an AMQP correlation_id"
        );
        let fits = "u".repeat(MAX_UUID_BYTES);
        assert_eq!(
            parsed(&format!(r#"{{"Header": {{"UUID": " {fits} "}}}}"#)).uuid(),
            fits
        );
    }

    #[test]
    fn a_repeated_header_or_uuid_key_leaves_no_usable_uuid() {
        assert_eq!(
            refused(r#"{"Header": {"UUID": "a"}, "Header": {"UUID": "b"}}"#),
            r#"$.Header: "Header" repeats "Header" (keys are case-insensitive), so the UUID is ambiguous"#
        );
        assert_eq!(
            refused(r#"{"Header": {"UUID": "a"}, "Content": {}, "HEADER": {"UUID": "b"}}"#),
            r#"$.HEADER: "HEADER" repeats "Header" (keys are case-insensitive), so the UUID is ambiguous"#
        );
        assert_eq!(
            refused(r#"{"header": {"UUID": "a", "Type": "BusinessMessage", "UUID": "a"}}"#),
            r#"$.header.UUID: "UUID" repeats "UUID" (keys are case-insensitive), so the UUID is ambiguous"#
        );
        assert_eq!(
            refused(r#"{"Header": {"uuid": "a", "Uuid": "b"}}"#),
            r#"$.Header.Uuid: "Uuid" repeats "uuid" (keys are case-insensitive), so the UUID is ambiguous"#
        );
    }

    #[test]
    fn other_repeated_keys_are_invalid_fields_at_the_repeated_key() {
        let env = parsed(
            r#"{"Header": {"UUID": "u", "Transaction": "ItemReserve", "CompanyId": "T1", "companyid": "T2",
                           "BranchId": "B", "BranchId": "B"},
                "Content": {"InternalId": "R1", "ReserveItemType": {"Item": [
                    {"ItemCode": "A", "Quantity": 1, "Quantity": 2},
                    {"ItemCode": "B", "quantity": 1, "QUANTITY": 2}]}}}"#,
        );
        assert_eq!(
            problems(&env),
            [
                (
                    Code::InvalidField,
                    r#"$.Header.companyid: expected each key once (keys are case-insensitive), got "companyid" after "CompanyId""#
                        .to_owned()
                ),
                (
                    Code::InvalidField,
                    r#"$.Header.BranchId: expected each key once (keys are case-insensitive), got "BranchId" after "BranchId""#
                        .to_owned()
                ),
                (
                    Code::InvalidField,
                    r#"$.Content.ReserveItemType.Item[0].Quantity: expected each key once (keys are case-insensitive), got "Quantity" after "Quantity""#
                        .to_owned()
                ),
                (
                    Code::InvalidField,
                    r#"$.Content.ReserveItemType.Item[1].QUANTITY: expected each key once (keys are case-insensitive), got "QUANTITY" after "quantity""#
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn numbers_are_not_mistaken_for_repeated_or_reserved_keys() {
        let env = parsed(
            r#"{"Header": {"UUID": "u-1", "Transaction": "ItemReserve", "Version": 2.000,
                           "CompanyId": 1, "BranchId": -10.5e0, "GeneratedOn": 1700000000},
                "Content": {"InternalId": 42, "Total": 123456789012345678901234567890.123456789,
                            "ReserveItemType": [{"ItemCode": 1, "Quantity": 2.5, "WarehouseCode": 1e2},
                                                {"ItemCode": -0, "Quantity": 3, "Lots": [[1, 2E-3], {"n": 0}]}],
                            "Tiny": 1e-400, "Huge": 1E+400}}"#,
        );
        assert_eq!(
            env.validate(),
            Ok((Transaction::ItemReserve, Event::Upsert))
        );
    }

    /// What `validate` says of an object at `path` using serde_json's private
    /// number key.
    fn uses_number_token(path: &str) -> (Code, String) {
        (
            Code::InvalidField,
            format!(
                r#"{path}: expected an object without the reserved key "$serde_json::private::Number", got an object with it"#
            ),
        )
    }

    #[test]
    fn a_number_spelled_with_serde_json_private_key_is_an_invalid_field_at_its_object() {
        let item = |quantity: &str| {
            reserve(&format!(
                r#""ReserveItemType": {{"Item": [{{"ItemCode": "P004", "Quantity": {quantity}}}]}}"#
            ))
        };
        for quantity in [
            r#"{"$serde_json::private::Number": "1"}"#,
            r#"{"\u0024serde_json::private::Number": "1"}"#,
            r#"{"$serde_json\u003a\u003aprivate::Number": "1"}"#,
        ] {
            let env = parsed(&item(quantity));
            assert_eq!(env.uuid(), "u-1");
            assert_eq!(
                problems(&env),
                [uses_number_token(
                    "$.Content.ReserveItemType.Item[0].Quantity"
                )],
                "{quantity}"
            );
        }
    }

    #[test]
    fn a_raw_value_key_anywhere_leaves_the_body_unread() {
        // serde_json's value reader would read the string as a document of its
        // own, with a fresh nesting limit and none of the rules here.
        let nested = r#""Note": {"$serde_json::private::RawValue": "[1, 2]"}"#;
        assert_eq!(
            refused(&reserve(nested)),
            r#"$.Content.Note: uses the reserved key "$serde_json::private::RawValue", so the body cannot be read"#
        );
    }

    #[test]
    fn serde_json_private_key_in_the_header_is_an_invalid_field_while_the_uuid_is_usable() {
        let env = parsed(
            r#"{"Header": {"UUID": "u", "Transaction": "ItemReserve",
                           "CompanyId": {"$serde_json::private::Number": "7"},
                           "$serde_json::private::Number": "garbage"},
                "Content": {}}"#,
        );
        assert_eq!(env.uuid(), "u");
        assert_eq!(
            problems(&env),
            [
                uses_number_token("$.Header.CompanyId"),
                uses_number_token("$.Header"),
            ]
        );
    }

    #[test]
    fn a_body_serde_json_cannot_read_for_its_private_key_is_an_invalid_envelope_naming_it() {
        let cannot_read = |path: &str| {
            format!(
                r#"{path}: uses the reserved key "$serde_json::private::Number", so the body cannot be read"#
            )
        };
        for (note, path) in [
            (
                r#"{"$serde_json::private::Number": "garbage"}"#,
                "$.Content.Note",
            ),
            (
                r#"{"\u0024serde_json::private::Number": 7}"#,
                "$.Content.Note",
            ),
            (
                r#"{"$serde_json::private::Number": "1", "More": 2}"#,
                "$.Content.Note",
            ),
            (
                r#"[{"Ok": 1}, {"$serde_json::private::Number": " 1"}]"#,
                "$.Content.Note[1]",
            ),
        ] {
            let body = reserve(&format!(r#""Note": {note}"#));
            let rejection = Envelope::parse(body.as_bytes());
            assert_eq!(
                rejection.as_ref().map_err(Rejection::code).err(),
                Some(Code::InvalidEnvelope),
                "{note}"
            );
            assert_eq!(
                rejection.err().map(|r| r.to_string()),
                Some(format!("INVALID_ENVELOPE: {}", cannot_read(path))),
                "{note}"
            );
        }
        // Leading the root, the Header or the UUID, it leaves no UUID to read.
        for (body, path) in [
            (r#"{"$serde_json::private::Number": "1"}"#, "$"),
            (
                r#"{"Header": {"$serde_json::private::Number": "1"}}"#,
                "$.Header",
            ),
            (
                r#"{"Header": {"$serde_json::private::Number": "1", "UUID": "u"}}"#,
                "$.Header",
            ),
            (
                r#"{"Header": {"UUID": {"$serde_json::private::Number": "1"}}}"#,
                "$.Header.UUID",
            ),
        ] {
            assert_eq!(refused(body), cannot_read(path), "{body}");
        }
    }

    #[test]
    fn a_syntax_error_after_serde_json_private_key_is_invalid_json_where_it_is() {
        let rejection = Envelope::parse(
            br#"{"Header": {"UUID": "u"}, "Note": {"$serde_json::private::Number": "x"}, "Bad": x}"#,
        )
        .expect_err("not JSON");
        assert_eq!(
            rejection,
            Rejection::InvalidJson {
                line: 1,
                column: 81,
                message: "expected value".into()
            }
        );
    }

    #[test]
    fn deep_nesting_is_invalid_json_without_exhausting_the_stack() {
        for depth in [129, 100_000] {
            let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let rejection = Envelope::parse(body.as_bytes()).expect_err("too deep");
            assert_eq!(rejection.code(), Code::InvalidJson);
            assert!(
                rejection.to_string().contains("recursion limit exceeded"),
                "{rejection}"
            );
        }
        let objects = format!(
            r#"{{"Header": {{"UUID": "u"}}, "Content": {}1{}}}"#,
            r#"{"a":"#.repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(matches!(
            Envelope::parse(objects.as_bytes()),
            Err(Rejection::InvalidJson { .. })
        ));
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
