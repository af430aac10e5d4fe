//! The message log and the pending items: what the operator monitors show
//! (seed 000's log and pending-item monitors, Protheus' EAI monitor).
//!
//! One log for both directions: every inbound envelope (its inbox row, with
//! the codes of its answer) and every outbound message to a destination.
//! Pending items are what needs a person: inbound errors no later `ok` for
//! the same document superseded, sales waiting for their reservations, dead
//! letters, outbound messages failed, blocked, not delivered or rejected.
//! Each comes with its reason and the suggested action
//! ([`eai_domain::remedy`]), and leaves the list when an operator discards
//! it with a note; the log keeps who, when and why ([`Store::discard`]).
//!
//! On SQLite the same lists are read with SQLite's SQL: no `LATERAL` (each
//! direction joins the filter row itself), an answer's error codes and the
//! lists of codes as JSON arrays, and the times an action writes computed
//! here and bound.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use eai_domain::remedy::{self, Advice};
use eai_protocol::Code;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{on_conn, on_pool, Conn, Pool, Texts};
use crate::export::{exported, ExportedSale};
use crate::inbound_queue::{enqueue_in, Queued};
use crate::page::{Cursor, Page};
use crate::stored_body::StoredBody;
use crate::{Store, StoreError};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl FromStr for Direction {
    type Err = String;

    fn from_str(text: &str) -> Result<Direction, String> {
        match text {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err("\"in\" or \"out\"".to_owned()),
        }
    }
}

/// A message's status in the log. Inbound: `processing` (claimed, not
/// answered yet), `ok`, `error`, `waiting`, `retrying` (an operator asked for
/// it again), `dead` (answered `PROCESSING_FAILED` and dead-lettered).
/// Outbound: the EAI statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Processing,
    Ok,
    Error,
    Waiting,
    Retrying,
    Dead,
    Running,
    Done,
    Failed,
    Blocked,
    NotDelivered,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Processing,
        Status::Ok,
        Status::Error,
        Status::Waiting,
        Status::Retrying,
        Status::Dead,
        Status::Running,
        Status::Done,
        Status::Failed,
        Status::Blocked,
        Status::NotDelivered,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Waiting => "waiting",
            Status::Retrying => "retrying",
            Status::Dead => "dead",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Blocked => "blocked",
            Status::NotDelivered => "not_delivered",
            Status::Rejected => "rejected",
        }
    }

    /// Every spelling, for an error message naming what is expected.
    pub fn expected() -> String {
        let names: Vec<&str> = Status::ALL.iter().map(|status| status.as_str()).collect();
        names.join(", ")
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("one of {}", Status::expected()))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status is stored as its text: read and written here, once.
impl<DB: sqlx::Database> sqlx::Type<DB> for Status
where
    for<'a> &'a str: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <&str as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <&str as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Status
where
    &'r str: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Status, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<DB>>::decode(value)?;
        Ok(text
            .parse()
            .map_err(|expected| format!("status {text:?}: expected {expected}"))?)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Status
where
    &'q str: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut DB::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        self.as_str().encode_by_ref(buf)
    }
}

/// What the log and the pending list name: `in-12` (an inbound envelope),
/// `out-7` (an outbound message), `dead-3` (a dead letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemId {
    Inbound(i64),
    Outbound(i64),
    DeadLetter(i64),
}

impl ItemId {
    fn key(self) -> &'static str {
        match self {
            ItemId::Inbound(_) => "in",
            ItemId::Outbound(_) => "out",
            ItemId::DeadLetter(_) => "dead",
        }
    }

    /// The row id behind it.
    pub fn number(self) -> i64 {
        match self {
            ItemId::Inbound(id) | ItemId::Outbound(id) | ItemId::DeadLetter(id) => id,
        }
    }

    fn of(key: &str, id: i64) -> ItemId {
        match key {
            "in" => ItemId::Inbound(id),
            "out" => ItemId::Outbound(id),
            _ => ItemId::DeadLetter(id),
        }
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.key(), self.number())
    }
}

impl FromStr for ItemId {
    type Err = String;

    fn from_str(text: &str) -> Result<ItemId, String> {
        let expected = || "an id such as in-12, out-7 or dead-3".to_owned();
        let (key, number) = text.split_once('-').ok_or_else(expected)?;
        let id: i64 = number
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(expected)?;
        match key {
            "in" | "out" | "dead" => Ok(ItemId::of(key, id)),
            _ => Err(expected()),
        }
    }
}

impl Serialize for ItemId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The filters of the log and of the pending list; `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub direction: Option<Direction>,
    pub status: Option<Status>,
    pub transaction: Option<String>,
    pub company: Option<String>,
    pub branch: Option<String>,
    /// Received (inbound) or created (outbound) at or after.
    pub from: Option<DateTime<Utc>>,
    /// ... and before.
    pub to: Option<DateTime<Utc>>,
    pub uuid: Option<String>,
    /// An inbound `InternalId` or `DocumentCode`, an outbound document key.
    pub document: Option<String>,
    pub error_code: Option<Code>,
    /// Outbound messages to this destination only.
    pub destination: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// Who discarded an item, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Discarded {
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LogEntry {
    #[schema(value_type = String, example = "in-12")]
    pub id: ItemId,
    pub direction: Direction,
    pub uuid: String,
    pub transaction: String,
    pub company: String,
    pub branch: String,
    pub status: Status,
    pub internal_id: Option<String>,
    pub document_code: Option<String>,
    pub error_codes: Vec<String>,
    pub attempts: i32,
    /// Received (inbound) or created (outbound).
    pub at: DateTime<Utc>,
    pub destination: Option<String>,
    pub last_error: Option<String>,
    pub discarded: Option<Discarded>,
}

#[derive(FromRow)]
struct EntryRow {
    direction: String,
    id: i64,
    uuid: String,
    transaction: String,
    company: String,
    branch: String,
    status: Status,
    internal_id: Option<String>,
    document_code: Option<String>,
    error_codes: Texts,
    attempts: i32,
    at: DateTime<Utc>,
    destination: Option<String>,
    last_error: Option<String>,
    discarded_at: Option<DateTime<Utc>>,
    discarded_by: Option<String>,
    discard_note: Option<String>,
}

impl From<EntryRow> for LogEntry {
    fn from(row: EntryRow) -> LogEntry {
        let direction = if row.direction == "in" {
            Direction::In
        } else {
            Direction::Out
        };
        LogEntry {
            id: ItemId::of(&row.direction, row.id),
            direction,
            uuid: row.uuid,
            transaction: row.transaction,
            company: row.company,
            branch: row.branch,
            status: row.status,
            internal_id: row.internal_id,
            document_code: row.document_code,
            error_codes: row.error_codes.0,
            attempts: row.attempts,
            at: row.at,
            destination: row.destination,
            last_error: row.last_error,
            discarded: discarded(row.discarded_at, row.discarded_by, row.discard_note),
        }
    }
}

fn discarded(
    at: Option<DateTime<Utc>>,
    by: Option<String>,
    note: Option<String>,
) -> Option<Discarded> {
    Some(Discarded {
        at: at?,
        by: by.unwrap_or_default(),
        note: note.unwrap_or_default(),
    })
}

/// One attempt of an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub sender: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: Status,
    pub detail: String,
}

/// How often an inbound envelope was tried before its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, Default, ToSchema)]
pub struct InboundTries {
    pub waits: i32,
    pub failures: i32,
    pub redeliveries: i32,
    pub last_error: Option<String>,
}

/// Something an operator did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, ToSchema)]
pub struct OperatorAction {
    pub action: String,
    pub actor: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// Everything about one message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub entry: LogEntry,
    /// The body as received or sent: JSON when it is JSON, else text.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// The ReceiptMessage answering an inbound envelope, and whether it was delivered.
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<serde_json::Value>,
    pub receipt_status: Option<Status>,
    /// Outbound: every attempt. Inbound: how often it waited, failed, was redelivered.
    pub attempt_history: Vec<Attempt>,
    pub tries: Option<InboundTries>,
    pub actions: Vec<OperatorAction>,
    /// An inbound RetailSales answered ok: the sale it integrated, as the
    /// export shows it now (the fields kept as sent included).
    pub sale: Option<ExportedSale>,
}

/// What needs a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PendingItem {
    #[schema(value_type = String, example = "dead-3")]
    pub id: ItemId,
    /// `error`, `waiting`, `dead_letter` or `outbound`.
    pub kind: &'static str,
    pub direction: Direction,
    pub uuid: Option<String>,
    pub transaction: String,
    pub company: String,
    pub branch: String,
    pub document: Option<String>,
    pub status: String,
    pub codes: Vec<String>,
    pub reason: String,
    /// What to do about it (English; [`PendingItem::advice`] has it in Portuguese too).
    pub suggested_action: &'static str,
    #[serde(skip)]
    pub advice: Advice,
    pub since: DateTime<Utc>,
    /// What can be done to it: `retry`, `replay`, `unblock`, `discard`.
    pub actions: Vec<&'static str>,
    /// A dead letter's envelope in the log, when it was answered with an
    /// error: `retry` applies to that one.
    #[schema(value_type = Option<String>, example = "in-12")]
    pub related: Option<ItemId>,
}

#[derive(FromRow)]
struct PendingRow {
    key: String,
    id: i64,
    related: Option<i64>,
    uuid: Option<String>,
    transaction: String,
    company: String,
    branch: String,
    document: Option<String>,
    status: String,
    codes: Texts,
    reason: Option<String>,
    since: DateTime<Utc>,
}

impl From<PendingRow> for PendingItem {
    fn from(row: PendingRow) -> PendingItem {
        let id = ItemId::of(&row.key, row.id);
        let first_code = row.codes.0.first().map(String::as_str).unwrap_or_default();
        let (kind, direction, suggested_action, actions): (_, _, _, Vec<&'static str>) = match id {
            ItemId::Inbound(_) if row.status == "waiting" => {
                ("waiting", Direction::In, remedy::WAITING, vec!["discard"])
            }
            ItemId::Inbound(_) => (
                "error",
                Direction::In,
                Code::from_wire(first_code).map_or(remedy::UNKNOWN, remedy::for_code),
                vec!["retry", "discard"],
            ),
            ItemId::Outbound(_) => (
                "outbound",
                Direction::Out,
                remedy::for_outbound(&row.status),
                if row.status == "blocked" {
                    vec!["unblock", "retry", "discard"]
                } else {
                    vec!["retry", "discard"]
                },
            ),
            ItemId::DeadLetter(_) => (
                "dead_letter",
                if first_code == "RECEIPT_UNDELIVERABLE" {
                    Direction::Out
                } else {
                    Direction::In
                },
                remedy::for_dead_letter(first_code),
                if row.related.is_some() {
                    vec!["retry", "replay", "discard"]
                } else {
                    vec!["replay", "discard"]
                },
            ),
        };
        PendingItem {
            id,
            kind,
            direction,
            uuid: row.uuid,
            transaction: row.transaction,
            company: row.company,
            branch: row.branch,
            document: row.document,
            status: row.status,
            codes: row.codes.0,
            reason: row.reason.unwrap_or_default(),
            suggested_action: suggested_action.en,
            advice: suggested_action,
            since: row.since,
            actions,
            related: row.related.map(ItemId::Inbound),
        }
    }
}

/// How an operator action went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    Done,
    NotFound,
    /// Not applicable to the item as it is now; the text says why.
    Refused(String),
    /// The broker did not take what had to be published; nothing changed, try again.
    Unavailable(String),
}

/// What reprocessing an inbound envelope republishes: its body, answered
/// the way its first delivery was.
#[derive(Debug, Clone)]
pub struct Republish {
    pub body: Vec<u8>,
    pub transaction: String,
    /// The receipt's route: `""` (then `routing_key` is a reply queue) or the receipts exchange.
    pub reply_exchange: String,
    pub reply_routing_key: String,
}

impl Republish {
    /// The reply queue its receipt goes to, when it had one.
    pub fn reply_to(&self) -> Option<&str> {
        self.reply_exchange
            .is_empty()
            .then_some(self.reply_routing_key.as_str())
    }

    /// As the database's inbound queue keeps it.
    fn queued(&self) -> Queued<'_> {
        Queued {
            routing_key: &self.transaction,
            body: &self.body,
            reply_to: self.reply_to(),
            correlation_id: None,
            message_id: None,
            delay: std::time::Duration::ZERO,
        }
    }
}

/// The log's filters as SQL parameters `$1`..`$15`, shared by both lists.
const FILTERS: &str = "$1::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz,
    $7::timestamptz, $8::text, $9::text, $10::text, $11::text, $12::timestamptz, $13::text,
    $14::bigint, $15::bigint";

/// A query of either backend.
type Select<'q, DB, O> = sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>;

/// Binds `$1`..`$15`; `only` narrows to one row id (a message's detail).
fn bind_filter<'q, DB, O>(
    query: Select<'q, DB, O>,
    filter: &'q LogFilter,
    only: Option<i64>,
) -> Select<'q, DB, O>
where
    DB: sqlx::Database,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(filter.direction.map(Direction::as_str))
        .bind(filter.status.map(Status::as_str))
        .bind(&filter.transaction)
        .bind(&filter.company)
        .bind(&filter.branch)
        .bind(filter.from)
        .bind(filter.to)
        .bind(&filter.uuid)
        .bind(&filter.document)
        .bind(filter.error_code.map(Code::as_str))
        .bind(&filter.destination)
        .bind(filter.cursor.as_ref().map(|cursor| cursor.at))
        .bind(filter.cursor.as_ref().map(|cursor| cursor.key.clone()))
        .bind(filter.cursor.as_ref().map(|cursor| cursor.id))
        .bind(only)
}

/// Both directions as one relation, filtered by everything but status and
/// cursor (which apply to the computed columns).
const ENTRIES: &str = "
    SELECT 'in'::text AS direction, i.id, i.uuid, i.transaction, i.company, i.branch,
           CASE WHEN i.status IS NULL THEN 'processing'
                WHEN i.status = 'error' AND EXISTS (
                     SELECT 1 FROM dead_letters dl
                      WHERE dl.uuid = i.uuid AND dl.replayed_at IS NULL AND dl.discarded_at IS NULL) THEN 'dead'
                ELSE i.status END AS status,
           i.internal_id, i.document_code, i.error_codes,
           i.earlier_attempts + 1 + coalesce(r.waits + r.failures + r.redeliveries, 0) AS attempts,
           i.received_at AS at, NULL::text AS destination, r.last_error,
           i.discarded_at, i.discarded_by, i.discard_note
      FROM inbox i LEFT JOIN inbox_retries r ON r.uuid = i.uuid
     WHERE f.direction IS DISTINCT FROM 'out' AND f.destination IS NULL
       AND (f.transaction IS NULL OR i.transaction = f.transaction)
       AND (f.company IS NULL OR i.company = f.company)
       AND (f.branch IS NULL OR i.branch = f.branch)
       AND (f.since IS NULL OR i.received_at >= f.since)
       AND (f.until IS NULL OR i.received_at < f.until)
       AND (f.uuid IS NULL OR i.uuid = f.uuid)
       AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
       AND (f.code IS NULL OR f.code = ANY (i.error_codes))
       AND (f.only_id IS NULL OR i.id = f.only_id)
    UNION ALL
    SELECT 'out', o.id, o.uuid, o.transaction, coalesce(d.company, ''), coalesce(d.branch, ''),
           o.status, o.document_key, NULL, '{}'::text[], o.attempts, o.created_at, d.name,
           o.last_error, o.discarded_at, o.discarded_by, o.discard_note
      FROM outbox o LEFT JOIN destinations d ON d.id = o.destination_id
     WHERE o.kind = 'message' AND f.direction IS DISTINCT FROM 'in' AND f.code IS NULL
       AND (f.transaction IS NULL OR o.transaction = f.transaction)
       AND (f.company IS NULL OR d.company = f.company)
       AND (f.branch IS NULL OR d.branch = f.branch)
       AND (f.since IS NULL OR o.created_at >= f.since)
       AND (f.until IS NULL OR o.created_at < f.until)
       AND (f.uuid IS NULL OR o.uuid = f.uuid)
       AND (f.document IS NULL OR o.document_key = f.document)
       AND (f.destination IS NULL OR d.name = f.destination)
       AND (f.only_id IS NULL OR o.id = f.only_id)";

/// [`ENTRIES`] in SQLite's SQL: each direction joins the filter row `f`.
const SQLITE_ENTRIES: &str = "
    SELECT 'in' AS direction, i.id, i.uuid, i.\"transaction\", i.company, i.branch,
           CASE WHEN i.status IS NULL THEN 'processing'
                WHEN i.status = 'error' AND EXISTS (
                     SELECT 1 FROM dead_letters dl
                      WHERE dl.uuid = i.uuid AND dl.replayed_at IS NULL AND dl.discarded_at IS NULL) THEN 'dead'
                ELSE i.status END AS status,
           i.internal_id, i.document_code, i.error_codes,
           i.earlier_attempts + 1 + coalesce(r.waits + r.failures + r.redeliveries, 0) AS attempts,
           i.received_at AS at, NULL AS destination, r.last_error,
           i.discarded_at, i.discarded_by, i.discard_note
      FROM f, inbox i LEFT JOIN inbox_retries r ON r.uuid = i.uuid
     WHERE f.direction IS DISTINCT FROM 'out' AND f.destination IS NULL
       AND (f.\"transaction\" IS NULL OR i.\"transaction\" = f.\"transaction\")
       AND (f.company IS NULL OR i.company = f.company)
       AND (f.branch IS NULL OR i.branch = f.branch)
       AND (f.since IS NULL OR i.received_at >= f.since)
       AND (f.until IS NULL OR i.received_at < f.until)
       AND (f.uuid IS NULL OR i.uuid = f.uuid)
       AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
       AND (f.code IS NULL OR f.code IN (SELECT value FROM json_each(i.error_codes)))
       AND (f.only_id IS NULL OR i.id = f.only_id)
    UNION ALL
    SELECT 'out', o.id, o.uuid, o.\"transaction\", coalesce(d.company, ''), coalesce(d.branch, ''),
           o.status, o.document_key, NULL, '[]', o.attempts, o.created_at, d.name,
           o.last_error, o.discarded_at, o.discarded_by, o.discard_note
      FROM f, outbox o LEFT JOIN destinations d ON d.id = o.destination_id
     WHERE o.kind = 'message' AND f.direction IS DISTINCT FROM 'in' AND f.code IS NULL
       AND (f.\"transaction\" IS NULL OR o.\"transaction\" = f.\"transaction\")
       AND (f.company IS NULL OR d.company = f.company)
       AND (f.branch IS NULL OR d.branch = f.branch)
       AND (f.since IS NULL OR o.created_at >= f.since)
       AND (f.until IS NULL OR o.created_at < f.until)
       AND (f.uuid IS NULL OR o.uuid = f.uuid)
       AND (f.document IS NULL OR o.document_key = f.document)
       AND (f.destination IS NULL OR d.name = f.destination)
       AND (f.only_id IS NULL OR o.id = f.only_id)";

/// The pending items of both directions and the dead letters as one
/// relation in SQLite's SQL (the PostgreSQL one is in [`Store::pending`]),
/// filtered by everything but status and cursor.
const SQLITE_PENDING: &str = "
    SELECT 'in' AS key, i.id, NULL AS related, i.uuid, i.\"transaction\",
           i.company, i.branch,
           coalesce(i.internal_id, i.document_code) AS document, i.status,
           i.error_codes AS codes,
           CASE WHEN i.status = 'waiting'
                THEN 'waiting for its reservations: waited ' || coalesce(r.waits, 0) || ' time(s)'
                ELSE json_extract(o.body, '$.Content.ProcessingInformation.Details[0].Message') END AS reason,
           i.received_at AS since
      FROM f, inbox i
      LEFT JOIN inbox_retries r ON r.uuid = i.uuid
      LEFT JOIN outbox o ON o.id = i.receipt_id
     WHERE i.status IN ('error', 'waiting') AND i.discarded_at IS NULL
       AND f.direction IS DISTINCT FROM 'out' AND f.destination IS NULL
       AND NOT EXISTS (SELECT 1 FROM dead_letters dl
                        WHERE dl.uuid = i.uuid AND dl.replayed_at IS NULL AND dl.discarded_at IS NULL)
       AND NOT EXISTS (SELECT 1 FROM inbox later
                        WHERE i.internal_id IS NOT NULL AND later.status = 'ok'
                          AND later.namespace = i.namespace
                          AND later.\"transaction\" = i.\"transaction\"
                          AND later.internal_id = i.internal_id
                          AND later.received_at > i.received_at)
       AND (f.\"transaction\" IS NULL OR i.\"transaction\" = f.\"transaction\")
       AND (f.company IS NULL OR i.company = f.company)
       AND (f.branch IS NULL OR i.branch = f.branch)
       AND (f.since IS NULL OR i.received_at >= f.since)
       AND (f.until IS NULL OR i.received_at < f.until)
       AND (f.uuid IS NULL OR i.uuid = f.uuid)
       AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
       AND (f.code IS NULL OR f.code IN (SELECT value FROM json_each(i.error_codes)))
    UNION ALL
    SELECT 'dead', dl.id,
           CASE WHEN i.status = 'error' AND dl.code = 'PROCESSING_FAILED' THEN i.id END, dl.uuid,
           coalesce(i.\"transaction\", dl.routing_key),
           coalesce(i.company, ''), coalesce(i.branch, ''),
           coalesce(i.internal_id, i.document_code), 'dead', json_array(dl.code), dl.reason,
           dl.dead_at
      FROM f, dead_letters dl LEFT JOIN inbox i ON i.uuid = dl.uuid
     WHERE dl.replayed_at IS NULL AND dl.discarded_at IS NULL AND f.destination IS NULL
       AND (f.direction IS NULL OR f.direction =
            CASE WHEN dl.code = 'RECEIPT_UNDELIVERABLE' THEN 'out' ELSE 'in' END)
       AND (f.\"transaction\" IS NULL OR coalesce(i.\"transaction\", dl.routing_key) = f.\"transaction\")
       AND (f.company IS NULL OR i.company = f.company)
       AND (f.branch IS NULL OR i.branch = f.branch)
       AND (f.since IS NULL OR dl.dead_at >= f.since)
       AND (f.until IS NULL OR dl.dead_at < f.until)
       AND (f.uuid IS NULL OR dl.uuid = f.uuid)
       AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
       AND (f.code IS NULL OR f.code = dl.code)
    UNION ALL
    SELECT 'out', o.id, NULL, o.uuid, o.\"transaction\", coalesce(d.company, ''),
           coalesce(d.branch, ''), o.document_key, o.status, '[]',
           CASE WHEN o.status = 'blocked' AND o.held_at IS NULL
                THEN coalesce(d.blocked_reason, o.last_error)
                ELSE o.last_error END,
           o.created_at
      FROM f, outbox o LEFT JOIN destinations d ON d.id = o.destination_id
     WHERE o.kind = 'message' AND o.discarded_at IS NULL
       AND o.status IN ('failed', 'blocked', 'not_delivered', 'rejected')
       AND f.direction IS DISTINCT FROM 'in' AND f.code IS NULL
       AND (f.\"transaction\" IS NULL OR o.\"transaction\" = f.\"transaction\")
       AND (f.company IS NULL OR d.company = f.company)
       AND (f.branch IS NULL OR d.branch = f.branch)
       AND (f.since IS NULL OR o.created_at >= f.since)
       AND (f.until IS NULL OR o.created_at < f.until)
       AND (f.uuid IS NULL OR o.uuid = f.uuid)
       AND (f.document IS NULL OR o.document_key = f.document)
       AND (f.destination IS NULL OR d.name = f.destination)";

/// The filter parameters named, for [`ENTRIES`] and the pending query.
fn with_filter(body: &str) -> String {
    format!(
        "WITH f AS (SELECT v.* FROM (VALUES ({FILTERS})) AS v(direction, status, transaction,
             company, branch, since, until, uuid, document, code, destination, after_at,
             after_key, after_id, only_id))
         {body}"
    )
}

/// [`with_filter`] in SQLite's SQL.
fn with_filter_sqlite(body: &str) -> String {
    format!(
        "WITH f AS (SELECT $1 AS direction, $2 AS status, $3 AS \"transaction\", $4 AS company,
             $5 AS branch, $6 AS since, $7 AS until, $8 AS uuid, $9 AS document, $10 AS code,
             $11 AS destination, $12 AS after_at, $13 AS after_key, $14 AS after_id,
             $15 AS only_id)
         {body}"
    )
}

/// The page of the log among its entries `e`, once the filter row `f` is joined.
const ENTRY_PAGE: &str = "
              WHERE (f.status IS NULL OR e.status = f.status)
                AND (f.after_at IS NULL OR (e.at, e.direction, e.id) < (f.after_at, f.after_key, f.after_id))
              ORDER BY e.at DESC, e.direction DESC, e.id DESC
              LIMIT $16";

/// The page of the pending list among its items `p`, once the filter row `f` is joined.
const PENDING_PAGE: &str = "
             WHERE (f.status IS NULL OR p.status = f.status)
               AND (f.after_at IS NULL OR (p.since, p.key, p.id) < (f.after_at, f.after_key, f.after_id))
             ORDER BY p.since DESC, p.key DESC, p.id DESC
             LIMIT $16";

impl Store {
    /// The log, newest first, one page.
    pub async fn messages(&self, filter: &LogFilter) -> Result<Page<LogEntry>, StoreError> {
        let sql = match &self.pool {
            Pool::Postgres(_) => with_filter(&format!(
                "SELECT e.* FROM f, LATERAL ({ENTRIES}) e{ENTRY_PAGE}"
            )),
            Pool::Sqlite(_) => with_filter_sqlite(&format!(
                "SELECT e.* FROM f, ({SQLITE_ENTRIES}) e{ENTRY_PAGE}"
            )),
        };
        let rows: Vec<EntryRow> = on_pool!(&self.pool, pool => {
            bind_filter(sqlx::query_as(&sql), filter, None)
                .bind(filter.limit + 1)
                .fetch_all(pool)
                .await?
        });
        let entries = rows.into_iter().map(LogEntry::from).collect();
        Ok(Page::of(entries, filter.limit, |entry: &LogEntry| Cursor {
            at: entry.at,
            key: entry.direction.as_str().to_owned(),
            id: entry.id.number(),
        }))
    }

    /// One message of the log with its body, receipt, attempts and the
    /// operators' actions.
    pub async fn message_detail(&self, id: ItemId) -> Result<Option<MessageDetail>, StoreError> {
        let (direction, number) = match id {
            ItemId::Inbound(number) => (Direction::In, number),
            ItemId::Outbound(number) => (Direction::Out, number),
            ItemId::DeadLetter(_) => return Ok(None),
        };
        let sql = match &self.pool {
            Pool::Postgres(_) => with_filter(&format!("SELECT e.* FROM f, LATERAL ({ENTRIES}) e")),
            Pool::Sqlite(_) => {
                with_filter_sqlite(&format!("SELECT e.* FROM f, ({SQLITE_ENTRIES}) e"))
            }
        };
        let filter = LogFilter {
            direction: Some(direction),
            ..LogFilter::default()
        };
        let row: Option<EntryRow> = on_pool!(&self.pool, pool => {
            bind_filter(sqlx::query_as(&sql), &filter, Some(number))
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else {
            return Ok(None);
        };
        let entry = LogEntry::from(row);
        let actions = self.actions(id).await?;
        Ok(Some(match direction {
            Direction::In => {
                let (body, body_zstd, receipt, receipt_status): (
                    Option<Vec<u8>>,
                    bool,
                    Option<String>,
                    Option<Status>,
                ) = on_pool!(&self.pool, pool => {
                    sqlx::query_as(
                        "SELECT i.body, i.body_zstd, o.body, o.status FROM inbox i
                               LEFT JOIN outbox o ON o.id = i.receipt_id WHERE i.id = $1",
                    )
                    .bind(number)
                    .fetch_one(pool)
                    .await?
                });
                let body = StoredBody::read(body, body_zstd)?;
                let sale = self.recorded_sale(number).await?;
                let tries: Option<InboundTries> = on_pool!(&self.pool, pool => {
                    sqlx::query_as(
                        "SELECT waits, failures, redeliveries, last_error FROM inbox_retries WHERE uuid = $1",
                    )
                    .bind(&entry.uuid)
                    .fetch_optional(pool)
                    .await?
                });
                MessageDetail {
                    entry,
                    body: body.map_or(serde_json::Value::Null, |body| as_json(&body)),
                    receipt: receipt.map(|receipt| as_json(receipt.as_bytes())),
                    receipt_status,
                    attempt_history: Vec::new(),
                    tries: Some(tries.unwrap_or_default()),
                    actions,
                    sale,
                }
            }
            Direction::Out => {
                let body: String = on_pool!(&self.pool, pool => {
                    sqlx::query_scalar("SELECT body FROM outbox WHERE id = $1")
                        .bind(number)
                        .fetch_one(pool)
                        .await?
                });
                let attempt_history = on_pool!(&self.pool, pool => {
                    sqlx::query_as(
                        "SELECT attempt, sender, started_at, finished_at, status, detail
                           FROM outbox_attempts WHERE outbox_id = $1 ORDER BY id",
                    )
                    .bind(number)
                    .fetch_all(pool)
                    .await?
                });
                MessageDetail {
                    entry,
                    body: as_json(body.as_bytes()),
                    receipt: None,
                    receipt_status: None,
                    attempt_history,
                    tries: None,
                    actions,
                    sale: None,
                }
            }
        }))
    }

    /// The sale inbound message `number` integrated, if it is a RetailSales
    /// answered ok (a duplicate of an integrated document is answered with an
    /// error and shows none).
    async fn recorded_sale(&self, number: i64) -> Result<Option<ExportedSale>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let id: Option<i64> = match conn.conn() {
            Conn::Postgres(c) => {
                sqlx::query_scalar(
                    "SELECT s.id FROM inbox i
                       JOIN sales s ON s.namespace = i.namespace AND s.internal_id = i.internal_id
                      WHERE i.id = $1 AND lower(i.transaction) = 'retailsales' AND i.status = 'ok'",
                )
                .bind(number)
                .fetch_optional(c)
                .await?
            }
            Conn::Sqlite(c) => {
                sqlx::query_scalar(
                    "SELECT s.id FROM inbox i
                       JOIN sales s ON s.namespace = i.namespace AND s.internal_id = i.internal_id
                      WHERE i.id = $1 AND lower(i.\"transaction\") = 'retailsales' AND i.status = 'ok'",
                )
                .bind(number)
                .fetch_optional(c)
                .await?
            }
        };
        let Some(id) = id else {
            return Ok(None);
        };
        Ok(exported(&mut conn.conn(), &[id]).await?.pop())
    }

    /// What operators did to `id`, oldest first.
    pub async fn actions(&self, id: ItemId) -> Result<Vec<OperatorAction>, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as(
                "SELECT action, actor, note, at FROM operator_actions WHERE subject = $1 ORDER BY id",
            )
            .bind(id.to_string())
            .fetch_all(pool)
            .await?
        }))
    }

    /// The pending items, newest first, one page.
    pub async fn pending(&self, filter: &LogFilter) -> Result<Page<PendingItem>, StoreError> {
        let sql = match &self.pool {
            Pool::Postgres(_) => with_filter(&[
            "SELECT p.* FROM f, LATERAL (
                SELECT 'in'::text AS key, i.id, NULL::bigint AS related, i.uuid::text, i.transaction,
                       i.company, i.branch,
                       coalesce(i.internal_id, i.document_code) AS document, i.status,
                       i.error_codes AS codes,
                       CASE WHEN i.status = 'waiting'
                            THEN 'waiting for its reservations: waited ' || coalesce(r.waits, 0) || ' time(s)'
                            ELSE (o.body::jsonb #>> '{Content,ProcessingInformation,Details,0,Message}') END AS reason,
                       i.received_at AS since
                  FROM inbox i
                  LEFT JOIN inbox_retries r ON r.uuid = i.uuid
                  LEFT JOIN outbox o ON o.id = i.receipt_id
                 WHERE i.status IN ('error', 'waiting') AND i.discarded_at IS NULL
                   AND f.direction IS DISTINCT FROM 'out' AND f.destination IS NULL
                   AND NOT EXISTS (SELECT 1 FROM dead_letters dl
                                    WHERE dl.uuid = i.uuid AND dl.replayed_at IS NULL AND dl.discarded_at IS NULL)
                   AND NOT EXISTS (SELECT 1 FROM inbox later
                                    WHERE i.internal_id IS NOT NULL AND later.status = 'ok'
                                      AND later.namespace = i.namespace
                                      AND later.transaction = i.transaction
                                      AND later.internal_id = i.internal_id
                                      AND later.received_at > i.received_at)
                   AND (f.transaction IS NULL OR i.transaction = f.transaction)
                   AND (f.company IS NULL OR i.company = f.company)
                   AND (f.branch IS NULL OR i.branch = f.branch)
                   AND (f.since IS NULL OR i.received_at >= f.since)
                   AND (f.until IS NULL OR i.received_at < f.until)
                   AND (f.uuid IS NULL OR i.uuid = f.uuid)
                   AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
                   AND (f.code IS NULL OR f.code = ANY (i.error_codes))
                UNION ALL
                SELECT 'dead', dl.id,
                       CASE WHEN i.status = 'error' AND dl.code = 'PROCESSING_FAILED' THEN i.id END, dl.uuid,
                       coalesce(i.transaction, dl.routing_key),
                       coalesce(i.company, ''), coalesce(i.branch, ''),
                       coalesce(i.internal_id, i.document_code), 'dead', ARRAY[dl.code], dl.reason,
                       dl.dead_at
                  FROM dead_letters dl LEFT JOIN inbox i ON i.uuid = dl.uuid
                 WHERE dl.replayed_at IS NULL AND dl.discarded_at IS NULL AND f.destination IS NULL
                   AND (f.direction IS NULL OR f.direction =
                        CASE WHEN dl.code = 'RECEIPT_UNDELIVERABLE' THEN 'out' ELSE 'in' END)
                   AND (f.transaction IS NULL OR coalesce(i.transaction, dl.routing_key) = f.transaction)
                   AND (f.company IS NULL OR i.company = f.company)
                   AND (f.branch IS NULL OR i.branch = f.branch)
                   AND (f.since IS NULL OR dl.dead_at >= f.since)
                   AND (f.until IS NULL OR dl.dead_at < f.until)
                   AND (f.uuid IS NULL OR dl.uuid = f.uuid)
                   AND (f.document IS NULL OR i.internal_id = f.document OR i.document_code = f.document)
                   AND (f.code IS NULL OR f.code = dl.code)
                UNION ALL
                SELECT 'out', o.id, NULL, o.uuid, o.transaction, coalesce(d.company, ''),
                       coalesce(d.branch, ''), o.document_key, o.status, '{}'::text[],
                       CASE WHEN o.status = 'blocked' AND o.held_at IS NULL
                            THEN coalesce(d.blocked_reason, o.last_error)
                            ELSE o.last_error END,
                       o.created_at
                  FROM outbox o LEFT JOIN destinations d ON d.id = o.destination_id
                 WHERE o.kind = 'message' AND o.discarded_at IS NULL
                   AND o.status IN ('failed', 'blocked', 'not_delivered', 'rejected')
                   AND f.direction IS DISTINCT FROM 'in' AND f.code IS NULL
                   AND (f.transaction IS NULL OR o.transaction = f.transaction)
                   AND (f.company IS NULL OR d.company = f.company)
                   AND (f.branch IS NULL OR d.branch = f.branch)
                   AND (f.since IS NULL OR o.created_at >= f.since)
                   AND (f.until IS NULL OR o.created_at < f.until)
                   AND (f.uuid IS NULL OR o.uuid = f.uuid)
                   AND (f.document IS NULL OR o.document_key = f.document)
                   AND (f.destination IS NULL OR d.name = f.destination)
             ) p",
                PENDING_PAGE,
            ].concat()),
            Pool::Sqlite(_) => {
                with_filter_sqlite(&format!("SELECT p.* FROM f, ({SQLITE_PENDING}) p{PENDING_PAGE}"))
            }
        };
        let rows: Vec<PendingRow> = on_pool!(&self.pool, pool => {
            bind_filter(sqlx::query_as(&sql), filter, None)
                .bind(filter.limit + 1)
                .fetch_all(pool)
                .await?
        });
        let items = rows.into_iter().map(PendingItem::from).collect();
        Ok(Page::of(items, filter.limit, |item: &PendingItem| Cursor {
            at: item.since,
            key: item.id.key().to_owned(),
            id: item.id.number(),
        }))
    }

    /// Takes `id` off the pending list with `note`; the log keeps who, when and why.
    pub async fn discard(&self, id: ItemId, actor: &str, note: &str) -> Result<Acted, StoreError> {
        let (table, open) = match id {
            ItemId::Inbound(_) => ("inbox", "status IN ('error', 'waiting')"),
            ItemId::Outbound(_) => (
                "outbox",
                "kind = 'message' AND status IN ('waiting', 'failed', 'blocked', 'not_delivered', 'rejected')",
            ),
            ItemId::DeadLetter(_) => ("dead_letters", "replayed_at IS NULL"),
        };
        let sql = format!(
            "UPDATE {table} SET discarded_at = now(), discarded_by = $2, discard_note = $3
              WHERE id = $1 AND discarded_at IS NULL AND {open}"
        );
        let sqlite = format!(
            "UPDATE {table} SET discarded_at = $2, discarded_by = $3, discard_note = $4
              WHERE id = $1 AND discarded_at IS NULL AND {open}"
        );
        let change = sqlx::query(&sql).bind(id.number()).bind(actor).bind(note);
        self.act(id, actor, "discard", note, change, &sqlite).await
    }

    /// Holds an outbound message: the sender leaves it alone until it is unblocked.
    pub async fn hold(&self, id: ItemId, actor: &str, note: &str) -> Result<Acted, StoreError> {
        let ItemId::Outbound(number) = id else {
            return Ok(Acted::Refused(format!(
                "{id}: only outbound messages can be blocked"
            )));
        };
        let change = sqlx::query(
            "UPDATE outbox SET status = 'blocked', held_at = now(), lease_until = NULL
              WHERE id = $1 AND kind = 'message' AND status IN ('waiting', 'failed', 'not_delivered')",
        )
        .bind(number);
        let sqlite = "UPDATE outbox SET status = 'blocked', held_at = $2, lease_until = NULL
              WHERE id = $1 AND kind = 'message' AND status IN ('waiting', 'failed', 'not_delivered')";
        self.act(id, actor, "block", note, change, sqlite).await
    }

    /// Releases a blocked outbound message whose destination is not blocked.
    pub async fn release(&self, id: ItemId, actor: &str, note: &str) -> Result<Acted, StoreError> {
        let ItemId::Outbound(number) = id else {
            return Ok(Acted::Refused(format!(
                "{id}: only outbound messages can be unblocked"
            )));
        };
        let change = sqlx::query(
            "UPDATE outbox o SET status = 'waiting', held_at = NULL, next_attempt_at = now(),
                    attempts = LEAST(o.attempts, d.max_attempts - 1)
               FROM destinations d
              WHERE o.id = $1 AND d.id = o.destination_id AND o.status = 'blocked' AND NOT d.blocked",
        )
        .bind(number);
        let sqlite = "UPDATE outbox AS o SET status = 'waiting', held_at = NULL, next_attempt_at = $2,
                    attempts = min(o.attempts, d.max_attempts - 1)
               FROM destinations d
              WHERE o.id = $1 AND d.id = o.destination_id AND o.status = 'blocked' AND NOT d.blocked";
        self.act(id, actor, "unblock", note, change, sqlite).await
    }

    /// Sends an outbound message again now with its attempts reset: any
    /// message not done (one in flight keeps its sender's lease).
    pub async fn retry_outbound(
        &self,
        id: ItemId,
        actor: &str,
        note: &str,
    ) -> Result<Acted, StoreError> {
        let ItemId::Outbound(number) = id else {
            return Ok(Acted::Refused(format!("{id}: not an outbound message")));
        };
        let change = sqlx::query(
            "UPDATE outbox
                SET attempts = 0, next_attempt_at = now(), last_error = NULL, held_at = NULL,
                    discarded_at = NULL, discarded_by = NULL, discard_note = NULL,
                    status = CASE WHEN status = 'running' THEN status ELSE 'waiting' END,
                    lease_until = CASE WHEN status = 'running' THEN lease_until END
              WHERE id = $1 AND kind = 'message' AND status <> 'done'",
        )
        .bind(number);
        let sqlite = "UPDATE outbox
                SET attempts = 0, next_attempt_at = $2, last_error = NULL, held_at = NULL,
                    discarded_at = NULL, discarded_by = NULL, discard_note = NULL,
                    status = CASE WHEN status = 'running' THEN status ELSE 'waiting' END,
                    lease_until = CASE WHEN status = 'running' THEN lease_until END
              WHERE id = $1 AND kind = 'message' AND status <> 'done'";
        self.act(id, actor, "retry", note, change, sqlite).await
    }

    /// Processes an inbound envelope answered with an error again (the EAI's
    /// "reprocess"): the row is marked `retrying`, `publish` puts the stored
    /// body back on the inbound exchange, and only then is the mark
    /// committed, so the new delivery (which waits for this transaction)
    /// finds it and is processed instead of answered as a duplicate. On
    /// SQLite (no broker) the body is queued in the database in the same
    /// transaction instead.
    pub async fn reprocess<F, Fut>(
        &self,
        id: ItemId,
        actor: &str,
        note: &str,
        publish: F,
    ) -> Result<Acted, StoreError>
    where
        F: FnOnce(Republish) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let ItemId::Inbound(number) = id else {
            return Ok(Acted::Refused(format!("{id}: not an inbound envelope")));
        };
        let mut tx = self.begin().await?;
        type Kept = (
            String,
            Option<Vec<u8>>,
            bool,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<Kept> = match tx.conn() {
            Conn::Postgres(conn) => {
                sqlx::query_as(
                    "SELECT i.status, i.body, i.body_zstd, i.transaction, o.exchange, o.routing_key
                           FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
                          WHERE i.id = $1 FOR UPDATE OF i",
                )
                .bind(number)
                .fetch_optional(conn)
                .await?
            }
            Conn::Sqlite(conn) => sqlx::query_as(
                "SELECT i.status, i.body, i.body_zstd, i.\"transaction\", o.exchange, o.routing_key
                           FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
                          WHERE i.id = $1",
            )
            .bind(number)
            .fetch_optional(conn)
            .await?,
        };
        let Some((status, body, body_zstd, transaction, exchange, routing_key)) = row else {
            return Ok(Acted::NotFound);
        };
        let body = StoredBody::read(body, body_zstd)?;
        let Some(body) = body.filter(|_| status == "error") else {
            return Ok(Acted::Refused(format!(
                "{id} is {status}: only an envelope answered with an error (and whose body was kept) is processed again"
            )));
        };
        match tx.conn() {
            Conn::Postgres(conn) => {
                sqlx::query(
                    "UPDATE inbox i SET status = 'retrying',
                            earlier_attempts = i.earlier_attempts + 1 + coalesce(
                                (SELECT r.waits + r.failures + r.redeliveries FROM inbox_retries r
                                  WHERE r.uuid = i.uuid), 0),
                            discarded_at = NULL, discarded_by = NULL, discard_note = NULL
                      WHERE i.id = $1",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // A fresh budget of waits and failures for the new try.
                sqlx::query(
                    "DELETE FROM inbox_retries r USING inbox i WHERE i.id = $1 AND r.uuid = i.uuid",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // The answer being replaced is not sent any more if it was still waiting to be.
                sqlx::query(
                    "UPDATE outbox o SET status = 'rejected', lease_until = NULL,
                            last_error = 'superseded by a retry before it was delivered'
                       FROM inbox i
                      WHERE i.id = $1 AND o.id = i.receipt_id AND o.status = 'waiting'",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // Its dead letters need nobody any more: the retry answers it.
                sqlx::query(
                    "UPDATE dead_letters d SET discarded_at = now(), discarded_by = $2,
                            discard_note = 'retried as ' || $3
                       FROM inbox i
                      WHERE i.id = $1 AND d.uuid = i.uuid
                        AND d.replayed_at IS NULL AND d.discarded_at IS NULL",
                )
                .bind(number)
                .bind(actor)
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
            }
            Conn::Sqlite(conn) => {
                sqlx::query(
                    "UPDATE inbox SET status = 'retrying',
                            earlier_attempts = earlier_attempts + 1 + coalesce(
                                (SELECT r.waits + r.failures + r.redeliveries FROM inbox_retries r
                                  WHERE r.uuid = inbox.uuid), 0),
                            discarded_at = NULL, discarded_by = NULL, discard_note = NULL
                      WHERE id = $1",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // A fresh budget of waits and failures for the new try.
                sqlx::query(
                    "DELETE FROM inbox_retries WHERE uuid = (SELECT uuid FROM inbox WHERE id = $1)",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // The answer being replaced is not sent any more if it was still waiting to be.
                sqlx::query(
                    "UPDATE outbox SET status = 'rejected', lease_until = NULL,
                            last_error = 'superseded by a retry before it was delivered'
                      WHERE id = (SELECT receipt_id FROM inbox WHERE id = $1) AND status = 'waiting'",
                )
                .bind(number)
                .execute(&mut *conn)
                .await?;
                // Its dead letters need nobody any more: the retry answers it.
                sqlx::query(
                    "UPDATE dead_letters SET discarded_at = $4, discarded_by = $2,
                            discard_note = 'retried as ' || $3
                      WHERE uuid = (SELECT uuid FROM inbox WHERE id = $1)
                        AND replayed_at IS NULL AND discarded_at IS NULL",
                )
                .bind(number)
                .bind(actor)
                .bind(id.to_string())
                .bind(Utc::now())
                .execute(&mut *conn)
                .await?;
            }
        }
        record_action(&mut tx.conn(), id, actor, "retry", note).await?;
        let republish = Republish {
            body,
            transaction,
            reply_exchange: exchange.unwrap_or_default(),
            reply_routing_key: routing_key.unwrap_or_default(),
        };
        match tx.conn() {
            // SQLite runs without a broker (the configuration refuses one):
            // the envelope goes back on the database's queue in this very
            // transaction, whose write lock another connection would wait for.
            Conn::Sqlite(_) => enqueue_in(&mut tx.conn(), &republish.queued()).await?,
            Conn::Postgres(_) => {
                if let Err(error) = publish(republish).await {
                    return Ok(Acted::Unavailable(format!(
                        "publishing it again failed: {error}"
                    )));
                }
            }
        }
        tx.commit().await?;
        Ok(Acted::Done)
    }

    /// Runs `change` (an UPDATE of the item; on SQLite the statement
    /// `sqlite`, given `$1` the item's row id, `$2` the time, `$3` the actor
    /// and `$4` the note) and records the action in one transaction; no row
    /// changed means the action does not apply to the item as it is now, or
    /// there is no such item.
    async fn act(
        &self,
        id: ItemId,
        actor: &str,
        action: &str,
        note: &str,
        change: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        sqlite: &str,
    ) -> Result<Acted, StoreError> {
        let mut tx = self.begin().await?;
        let changed = match tx.conn() {
            Conn::Postgres(conn) => change.execute(conn).await?.rows_affected(),
            Conn::Sqlite(conn) => sqlx::query(sqlite)
                .bind(id.number())
                .bind(Utc::now())
                .bind(actor)
                .bind(note)
                .execute(conn)
                .await?
                .rows_affected(),
        };
        if changed == 0 {
            let exists = self.exists(&mut tx.conn(), id).await?;
            return Ok(if exists {
                Acted::Refused(format!("{id}: {action} does not apply to it as it is now"))
            } else {
                Acted::NotFound
            });
        }
        record_action(&mut tx.conn(), id, actor, action, note).await?;
        tx.commit().await?;
        Ok(Acted::Done)
    }

    async fn exists(&self, conn: &mut Conn<'_>, id: ItemId) -> Result<bool, StoreError> {
        let sql = match id {
            ItemId::Inbound(_) => "SELECT count(*) FROM inbox WHERE id = $1",
            ItemId::Outbound(_) => "SELECT count(*) FROM outbox WHERE id = $1 AND kind = 'message'",
            ItemId::DeadLetter(_) => "SELECT count(*) FROM dead_letters WHERE id = $1",
        };
        let count: i64 = on_conn!(conn, c => {
            sqlx::query_scalar(sql).bind(id.number()).fetch_one(c).await?
        });
        Ok(count > 0)
    }
}

/// Records what an operator did, inside the transaction that did it.
pub(crate) async fn record_action(
    conn: &mut Conn<'_>,
    id: ItemId,
    actor: &str,
    action: &str,
    note: &str,
) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "INSERT INTO operator_actions (subject, action, actor, note) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(action)
        .bind(actor)
        .bind(note)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// A stored body as JSON when it is JSON, else as text.
pub(crate) fn as_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_statuses_read_back_and_nonsense_names_what_is_expected() {
        for id in [
            ItemId::Inbound(12),
            ItemId::Outbound(7),
            ItemId::DeadLetter(3),
        ] {
            assert_eq!(id.to_string().parse::<ItemId>(), Ok(id));
        }
        for bad in ["12", "in-", "in-0", "in--1", "msg-4", "out-x"] {
            let error = bad.parse::<ItemId>().expect_err(bad);
            assert!(error.contains("in-12"), "{error}");
        }
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        let error = "bogus".parse::<Status>().expect_err("not a status");
        assert!(error.contains("not_delivered"), "{error}");
    }
}
