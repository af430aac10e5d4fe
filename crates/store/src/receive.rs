//! The one transaction every inbound envelope gets: look its UUID up in the
//! inbox, apply the business change, persist the receipt in the outbox and
//! the inbox row that claims the UUID.
//!
//! A business rejection rolls back to a savepoint, so the receipt and the
//! inbox row are still committed: the sender gets its error once, and a
//! re-send of the same UUID gets that same receipt again, byte for byte.
//!
//! An envelope that cannot be processed at all (the database refuses its
//! data, it kept failing, it arrived on no work queue) is still answered:
//! [`Store::refuse`] records its UUID with a coded error receipt in a
//! transaction of its own.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use eai_protocol::{
    Code, Detail, Envelope, Event, ItemReserve, Json, Receipt, ReceiptOrigin, RetailSale,
    ReturnContent, SaleCancellation, Transaction,
};
use rust_decimal::Decimal;
use sqlx::{Postgres, Row, Sqlite};

use crate::cancellation::{self, CancelOutcome};
use crate::db::{on_conn, on_pool, Conn, Pool, Texts};
use crate::directory::{self, Branch};
use crate::masters::Kept;
use crate::reservation::{self, Outcome, ReserveRequest};
use crate::sale::{self, SaleOutcome, SaleRequest};
use crate::stock_request;
use crate::stored_body::{self, StoredBody};
use crate::{Environment, Failure, Store, StoreError};

/// Who we are in the receipts we write.
pub type WorkerIdentity = ReceiptOrigin;

/// How many times a transaction that failed transiently (serialization
/// failure, deadlock, lock timeout) is run again at once, before the failure
/// goes back to the caller, which parks the envelope for a later try.
pub const IMMEDIATE_RETRIES: usize = 4;

/// Where the receipt of a delivery goes: the AMQP `reply_to` (default
/// exchange) or the receipts exchange keyed by the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRoute {
    pub exchange: String,
    pub routing_key: String,
    pub correlation_id: Option<String>,
}

/// An envelope as it arrived.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub envelope: &'a Envelope<'a>,
    /// The body as it arrived, kept in the message log for operators and
    /// for reprocessing.
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
    pub route: ReplyRoute,
    /// How many times a sale naming reservations not integrated yet may wait
    /// for them ([`Received::Waiting`]) before it is answered
    /// `RESERVE_NOT_FOUND`. The count is kept in the database by UUID.
    pub max_waits: usize,
}

/// The outcome of [`Store::receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Committed: publish this receipt.
    Answered(Answer),
    /// Nothing was written but the wait count: the envelope names these
    /// reservations, which were never integrated; try it again later. `wait`
    /// is 1 the first time.
    Waiting {
        reservations: Vec<String>,
        wait: usize,
    },
}

impl Received {
    /// The answer, when there is one.
    pub fn answered(self) -> Option<Answer> {
        match self {
            Received::Answered(answer) => Some(answer),
            Received::Waiting { .. } => None,
        }
    }
}

/// What to publish once the transaction committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The outbox row holding the receipt.
    pub receipt_id: i64,
    pub body: String,
    pub ok: bool,
    /// The UUID had been processed before; `body` is the stored receipt.
    pub duplicate: bool,
    pub route: ReplyRoute,
}

impl Store {
    /// Handles one envelope exactly once in effect. A transient failure is
    /// retried at once a few times ([`IMMEDIATE_RETRIES`]); an outage is
    /// returned at once, for the caller to wait for the database.
    #[tracing::instrument(skip_all, fields(uuid = inbound.envelope.uuid()))]
    pub async fn receive(
        &self,
        identity: &WorkerIdentity,
        inbound: &Inbound<'_>,
    ) -> Result<Received, StoreError> {
        self.with_retries(|| self.receive_once(identity, inbound))
            .await
    }

    /// The stored receipt of a UUID already answered, and whether it was ok.
    pub async fn stored_receipt(&self, uuid: &str) -> Result<Option<(String, bool)>, StoreError> {
        let row: Option<(String, String)> = on_pool!(&self.pool, pool => {
            sqlx::query_as(
                "SELECT o.body, i.status FROM inbox i JOIN outbox o ON o.id = i.receipt_id
                  WHERE i.uuid = $1 AND i.status IN ('ok', 'error')",
            )
            .bind(uuid)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(body, status)| (body, status == "ok")))
    }

    /// The stored receipts of those of `uuids` already answered, by UUID.
    pub async fn stored_receipts(
        &self,
        uuids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT i.uuid, o.body FROM inbox i JOIN outbox o ON o.id = i.receipt_id
                      WHERE i.uuid = ANY($1) AND i.status IN ('ok', 'error')",
                )
                .bind(uuids)
                .fetch_all(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT i.uuid, o.body FROM inbox i JOIN outbox o ON o.id = i.receipt_id
                      WHERE i.uuid IN (SELECT value FROM json_each($1))
                        AND i.status IN ('ok', 'error')",
                )
                .bind(Texts(uuids.to_vec()))
                .fetch_all(pool)
                .await?
            }
        })
    }

    /// Answers an envelope that cannot be processed with `detail` (an error),
    /// recording its UUID like any other: a UUID already answered gets its
    /// stored receipt instead.
    #[tracing::instrument(skip_all, fields(uuid = inbound.envelope.uuid()))]
    pub async fn refuse(
        &self,
        identity: &WorkerIdentity,
        inbound: &Inbound<'_>,
        detail: &Detail,
    ) -> Result<Answer, StoreError> {
        self.with_retries(|| async {
            let mut tx = self.begin().await?;
            let attempts = match look_up(&mut tx.conn(), inbound).await?.one() {
                Seen::Answered(stored) => {
                    tx.commit().await?;
                    return Ok(stored);
                }
                Seen::Open(attempts) => attempts,
            };
            let answer = record_answer(
                &mut tx.conn(),
                identity,
                self.environment,
                (
                    inbound,
                    attempts,
                    vec![detail.clone()],
                    ReturnContent::nothing(),
                ),
            )
            .await?;
            tx.commit().await?;
            Ok(answer)
        })
        .await
    }

    /// Runs `operation` bounded by the transaction timeout, again at once on
    /// transient failures.
    pub(crate) async fn with_retries<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let timeout = self.transaction_timeout;
        let bounded = || async {
            tokio::time::timeout(timeout, operation())
                .await
                .unwrap_or(Err(StoreError::TimedOut(timeout)))
        };
        bounded
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(10))
                    .with_max_delay(Duration::from_millis(500))
                    .with_max_times(IMMEDIATE_RETRIES)
                    .with_jitter(),
            )
            .when(|error: &StoreError| error.failure() == Failure::Transient)
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, "retrying the transaction");
            })
            .await
    }

    async fn receive_once(
        &self,
        identity: &WorkerIdentity,
        inbound: &Inbound<'_>,
    ) -> Result<Received, StoreError> {
        let envelope = inbound.envelope;
        let mut tx = self.begin().await?;
        let mut looked_up = look_up(&mut tx.conn(), inbound).await?;
        let attempts = match looked_up.one() {
            Seen::Answered(stored) => {
                tx.commit().await?;
                return Ok(Received::Answered(stored));
            }
            Seen::Open(attempts) => attempts,
        };
        let kept = self.masters.at(looked_up.masters_version);
        let processed = {
            let mut conn = tx.conn();
            let mut savepoint = conn.savepoint().await?;
            let processed = process(
                &mut savepoint.conn(),
                kept,
                identity,
                envelope,
                inbound.received_at,
                self.tolerance,
            )
            .await?;
            let keep = matches!(&processed, Processed::Answered(details, _)
                if !details.iter().any(Detail::is_error));
            if keep {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            processed
        };
        let (details, ids) = match processed {
            Processed::Waiting(reservations, details) => {
                let waited: Option<i32> = on_conn!(&mut tx.conn(), conn => {
                    sqlx::query_scalar("SELECT waits FROM inbox_retries WHERE uuid = $1")
                        .bind(envelope.uuid())
                        .fetch_optional(conn)
                        .await?
                });
                let waited = usize::try_from(waited.unwrap_or(0)).unwrap_or(0);
                if waited < inbound.max_waits {
                    // Nothing is kept but the log's row saying it waits.
                    tx.rollback().await?;
                    self.log_waiting(inbound).await?;
                    let wait = self.record_wait(envelope.uuid()).await?;
                    return Ok(Received::Waiting { reservations, wait });
                }
                (details, ReturnContent::nothing())
            }
            Processed::Answered(details, ids) => (details, ids),
        };
        let answer = record_answer(
            &mut tx.conn(),
            identity,
            self.environment,
            (inbound, attempts, details, ids),
        )
        .await?;
        tx.commit().await?;
        Ok(Received::Answered(answer))
    }
}

/// The inbox rows of envelopes, as the message log keeps them, in UUID
/// order (so two transactions writing overlapping sets queue up instead of
/// deadlocking): `$1`…`$10` are their columns ([`InboxRows`]), `$11` the
/// environment.
const INBOX_ROWS: &str = "SELECT u.*, $11
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::timestamptz[], $7::bytea[], $8::text[], $9::text[], $10::bool[])
         AS u(uuid, transaction, namespace, company, branch, received_at, body, internal_id,
              document_code, body_zstd)";

/// The columns [`INBOX_ROWS`] fills.
const INBOX_COLUMNS: &str = "uuid, \"transaction\", namespace, company, branch, received_at, body,
        internal_id, document_code, body_zstd, environment";

/// The placeholders of one inbox row in SQLite, in [`INBOX_COLUMNS`]' order.
const SQLITE_INBOX_VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11";

/// One envelope's inbox row, for SQLite's one-row statements.
struct InboxRow<'r> {
    uuid: &'r str,
    transaction: &'r str,
    namespace: &'r str,
    company: &'r str,
    branch: &'r str,
    received_at: DateTime<Utc>,
    body: &'r [u8],
    internal_id: Option<&'r str>,
    document_code: Option<&'r str>,
}

impl<'r> InboxRow<'r> {
    /// `query` with the row bound as `$1`…`$11` ([`SQLITE_INBOX_VALUES`]),
    /// its body as [`StoredBody`] stores it.
    fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        environment: Environment,
    ) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>
    where
        'r: 'q,
    {
        let body = StoredBody::of(self.body);
        query
            .bind(self.uuid)
            .bind(self.transaction)
            .bind(self.namespace)
            .bind(self.company)
            .bind(self.branch)
            .bind(self.received_at)
            .bind(body.bytes)
            .bind(self.internal_id)
            .bind(self.document_code)
            .bind(body.zstd)
            .bind(environment.as_str())
    }
}

/// The columns of [`INBOX_ROWS`], one entry per envelope.
#[derive(Default)]
struct InboxRows<'a> {
    uuid: Vec<&'a str>,
    transaction: Vec<String>,
    namespace: Vec<String>,
    company: Vec<String>,
    branch: Vec<String>,
    received_at: Vec<DateTime<Utc>>,
    /// As received: [`InboxRows::bind`] and [`InboxRow::bind`] store them.
    body: Vec<&'a [u8]>,
    internal_id: Vec<Option<String>>,
    document_code: Vec<Option<String>>,
}

impl<'a> InboxRows<'a> {
    fn of(inbounds: &[&'a Inbound<'a>]) -> InboxRows<'a> {
        let mut rows = InboxRows::default();
        for inbound in inbounds {
            let envelope = inbound.envelope;
            rows.uuid.push(envelope.uuid());
            rows.transaction.push(envelope.header_label("Transaction"));
            rows.namespace.push(envelope.namespace());
            rows.company.push(envelope.header_label("CompanyId"));
            rows.branch.push(envelope.header_label("BranchId"));
            rows.received_at.push(inbound.received_at);
            rows.body.push(inbound.body);
            rows.internal_id.push(envelope.internal_id());
            rows.document_code
                .push(envelope.content_label("DocumentCode"));
        }
        rows
    }

    /// The rows one by one, for SQLite.
    fn rows(&self) -> Vec<InboxRow<'_>> {
        (0..self.uuid.len())
            .map(|n| InboxRow {
                uuid: self.uuid[n],
                transaction: &self.transaction[n],
                namespace: &self.namespace[n],
                company: &self.company[n],
                branch: &self.branch[n],
                received_at: self.received_at[n],
                body: self.body[n],
                internal_id: self.internal_id[n].as_deref(),
                document_code: self.document_code[n].as_deref(),
            })
            .collect()
    }

    /// `sql` (built on [`INBOX_ROWS`]) with the rows bound as `$1`…`$11`:
    /// the bodies as [`StoredBody`] stores them, except those
    /// [`stored_body::streamed`], which [`InboxRows::stream_bodies`] writes
    /// after the statement.
    fn bind<'q>(
        &'q self,
        sql: &'q str,
        environment: Environment,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        let (bodies, zstd): (Vec<Option<Vec<u8>>>, Vec<bool>) = self
            .body
            .iter()
            .map(|body| {
                if stored_body::streamed(body) {
                    (None, true)
                } else {
                    let stored = StoredBody::of(body);
                    (Some(stored.bytes), stored.zstd)
                }
            })
            .unzip();
        sqlx::query(sql)
            .bind(&self.uuid)
            .bind(&self.transaction)
            .bind(&self.namespace)
            .bind(&self.company)
            .bind(&self.branch)
            .bind(&self.received_at)
            .bind(bodies)
            .bind(&self.internal_id)
            .bind(&self.document_code)
            .bind(zstd)
            .bind(environment.as_str())
    }

    /// Writes the bodies [`InboxRows::bind`] left out into the rows its
    /// statement inserted, in the same transaction ([`stored_body::stream`]).
    async fn stream_bodies(&self, conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        let large: Vec<(&str, &[u8])> = self
            .uuid
            .iter()
            .zip(&self.body)
            .filter(|(_, body)| stored_body::streamed(body))
            .map(|(uuid, body)| (*uuid, *body))
            .collect();
        stored_body::stream(conn, &large).await
    }
}

impl Store {
    /// Shows a sale parked for its reservations in the message log as
    /// `waiting`; its next delivery takes the row over.
    async fn log_waiting(&self, inbound: &Inbound<'_>) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO inbox ({INBOX_COLUMNS}, status) SELECT r.*, 'waiting' FROM ({INBOX_ROWS}) r
             ON CONFLICT (uuid) DO UPDATE SET status = 'waiting'
              WHERE inbox.status IN ('waiting', 'retrying')"
        );
        let rows = InboxRows::of(&[inbound]);
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                rows.bind(&sql, self.environment).execute(&mut *tx).await?;
                rows.stream_bodies(&mut tx).await?;
                tx.commit().await?;
            }
            Pool::Sqlite(pool) => {
                let sql = format!(
                    "INSERT INTO inbox ({INBOX_COLUMNS}, status)
                     VALUES ({SQLITE_INBOX_VALUES}, 'waiting')
                     ON CONFLICT (uuid) DO UPDATE SET status = 'waiting'
                      WHERE inbox.status IN ('waiting', 'retrying')"
                );
                for row in rows.rows() {
                    row.bind(sqlx::query(&sql), self.environment)
                        .execute(pool)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// What the inbox held for a UUID when its transaction looked it up.
pub(crate) enum Seen {
    /// Answered before (a redelivery or a re-send): its stored answer.
    Answered(Answer),
    /// Not answered: no row yet, or one waiting for its reservations or
    /// being retried, after this many earlier attempts (an operator's
    /// retries). The answer recorded now takes the row over only if it is
    /// still so ([`record_answers`]).
    Open(i32),
}

/// What the inbox holds for the envelope's UUID.
async fn look_up(conn: &mut Conn<'_>, inbound: &Inbound<'_>) -> Result<LookedUp, StoreError> {
    look_up_all(conn, &[inbound]).await
}

/// What [`look_up_all`] found: each envelope's UUID as the inbox has it,
/// and the master data's version, which says what of the master data kept
/// from earlier transactions this one may use ([`crate::masters`]).
pub(crate) struct LookedUp {
    pub(crate) seen: Vec<Seen>,
    pub(crate) masters_version: Option<i64>,
}

impl LookedUp {
    /// The one envelope's, for a look-up of one.
    fn one(&mut self) -> Seen {
        self.seen.pop().unwrap_or(Seen::Open(0))
    }
}

/// [`look_up`] for several envelopes in one statement, in their order. A
/// new UUID is not locked: it is claimed when the answers are recorded
/// ([`record_answers`]). A row is read under a share lock, so an operator's
/// retry that is marking it `retrying` (and republishing its body before it
/// commits) is waited for and then seen. The same statement reads the
/// master data's version.
pub(crate) async fn look_up_all(
    conn: &mut Conn<'_>,
    inbounds: &[&Inbound<'_>],
) -> Result<LookedUp, StoreError> {
    let uuids: Vec<&str> = inbounds
        .iter()
        .map(|inbound| inbound.envelope.uuid())
        .collect();
    type Row = (
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<i32>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = match conn {
        Conn::Postgres(conn) => {
            sqlx::query_as(
                "WITH seen AS (
                     SELECT i.uuid, i.status, i.earlier_attempts, o.id, o.body
                       FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
                      WHERE i.uuid = ANY($1)
                        FOR KEY SHARE OF i)
                 SELECT (SELECT version FROM master_data_version), seen.*
                   FROM (SELECT) AS one LEFT JOIN seen ON true",
            )
            .bind(&uuids)
            .fetch_all(&mut **conn)
            .await?
        }
        // The transaction holds the writer lock: no operator's retry runs meanwhile.
        Conn::Sqlite(conn) => {
            sqlx::query_as(
                "WITH seen AS (
                     SELECT i.uuid, i.status, i.earlier_attempts, o.id, o.body
                       FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
                      WHERE i.uuid IN (SELECT value FROM json_each($1)))
                 SELECT (SELECT version FROM master_data_version), seen.*
                   FROM (SELECT 1) AS one LEFT JOIN seen ON 1",
            )
            .bind(Texts(uuids.iter().map(|uuid| (*uuid).to_owned()).collect()))
            .fetch_all(&mut **conn)
            .await?
        }
    };
    let masters_version = rows.first().and_then(|row| row.0);
    let mut rows: HashMap<String, Row> = rows
        .into_iter()
        .filter_map(|row| Some((row.1.clone()?, row)))
        .collect();
    let seen = inbounds
        .iter()
        .map(|inbound| match rows.remove(inbound.envelope.uuid()) {
            None => Seen::Open(0),
            Some((_, _, status, attempts, receipt_id, body)) => {
                let answered = matches!(status.as_deref(), Some("ok" | "error"));
                match (receipt_id, body) {
                    (Some(receipt_id), Some(body)) if answered => Seen::Answered(Answer {
                        receipt_id,
                        body,
                        ok: status.as_deref() == Some("ok"),
                        duplicate: true,
                        route: inbound.route.clone(),
                    }),
                    _ => Seen::Open(attempts.unwrap_or(0)),
                }
            }
        })
        .collect();
    Ok(LookedUp {
        seen,
        masters_version,
    })
}

/// An envelope to answer: its delivery, the earlier attempts its inbox row
/// had when it was looked up ([`Seen::Open`]), its details and its ids.
pub(crate) type Answering<'a> = (&'a Inbound<'a>, i32, Vec<Detail>, ReturnContent);

/// Writes the receipt to the outbox and the inbox row.
async fn record_answer(
    conn: &mut Conn<'_>,
    identity: &WorkerIdentity,
    environment: Environment,
    answering: Answering<'_>,
) -> Result<Answer, StoreError> {
    record_answers(conn, identity, environment, vec![answering])
        .await?
        .pop()
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// Writes the receipts of envelopes to the outbox and their inbox rows, in
/// one statement; answers in their order. The inbox row is written once,
/// answered: a row an earlier delivery left `waiting` or an operator set
/// `retrying` is taken over if it is as this transaction saw it. A UUID
/// another delivery answered while this transaction ran, or an operator
/// retried meanwhile, fails it with [`StoreError::Raced`] (its retry finds
/// that answer, or processes the envelope again).
pub(crate) async fn record_answers(
    conn: &mut Conn<'_>,
    identity: &WorkerIdentity,
    environment: Environment,
    answered: Vec<Answering<'_>>,
) -> Result<Vec<Answer>, StoreError> {
    let count = answered.len();
    let mut receipt_uuid: Vec<String> = Vec::with_capacity(count);
    let mut exchange: Vec<&str> = Vec::with_capacity(count);
    let mut routing_key: Vec<&str> = Vec::with_capacity(count);
    let mut correlation_id: Vec<Option<&str>> = Vec::with_capacity(count);
    let mut body: Vec<String> = Vec::with_capacity(count);
    let mut status: Vec<&str> = Vec::with_capacity(count);
    let mut error_codes: Vec<String> = Vec::with_capacity(count);
    let mut ok: Vec<bool> = Vec::with_capacity(count);
    let mut inbounds: Vec<&Inbound<'_>> = Vec::with_capacity(count);
    let mut attempts: Vec<i32> = Vec::with_capacity(count);
    for (inbound, seen_attempts, details, ids) in answered {
        attempts.push(seen_attempts);
        let envelope = inbound.envelope;
        let codes: Vec<&str> = details
            .iter()
            .filter(|detail| detail.is_error())
            .map(|detail| detail.code.as_str())
            .collect();
        let receipt = Receipt::new(
            identity,
            &envelope.summary(),
            inbound.received_at,
            Utc::now(),
            details,
            ids,
        );
        inbounds.push(inbound);
        receipt_uuid.push(receipt.uuid().to_owned());
        exchange.push(&inbound.route.exchange);
        routing_key.push(&inbound.route.routing_key);
        correlation_id.push(inbound.route.correlation_id.as_deref());
        body.push(String::from_utf8_lossy(&receipt.to_bytes()).into_owned());
        status.push(if receipt.is_ok() { "ok" } else { "error" });
        error_codes.push(codes.join(" "));
        ok.push(receipt.is_ok());
    }
    let rows = InboxRows::of(&inbounds);
    let sql = format!(
        "WITH receipt AS (
             INSERT INTO outbox (uuid, kind, transaction, exchange, routing_key, correlation_id, body,
                                 status, sent_at, attempts)
             SELECT r.uuid, 'receipt', r.transaction, r.exchange, r.routing_key, r.correlation_id,
                    r.body, 'done', now(), 1
               FROM unnest($12::text[], $2::text[], $13::text[], $14::text[], $15::text[],
                           $16::text[])
                 WITH ORDINALITY
                 AS r(uuid, transaction, exchange, routing_key, correlation_id, body, position)
              ORDER BY r.position
             RETURNING id, uuid),
         answer AS (
             SELECT a.uuid, a.status, a.codes, a.attempts, receipt.id AS receipt_id
               FROM unnest($1::text[], $12::text[], $17::text[], $18::text[], $19::int[])
                 AS a(uuid, receipt_uuid, status, codes, attempts)
               JOIN receipt ON receipt.uuid = a.receipt_uuid)
         INSERT INTO inbox ({INBOX_COLUMNS}, status, processed_at, receipt_id, error_codes,
                            earlier_attempts)
         SELECT r.*, answer.status, now(), answer.receipt_id, string_to_array(answer.codes, ' '),
                answer.attempts
           FROM ({INBOX_ROWS}) r JOIN answer ON answer.uuid = r.uuid
          ORDER BY r.uuid
         ON CONFLICT (uuid) DO UPDATE
            SET status = EXCLUDED.status, processed_at = EXCLUDED.processed_at,
                receipt_id = EXCLUDED.receipt_id, error_codes = EXCLUDED.error_codes,
                discarded_at = NULL, discarded_by = NULL, discard_note = NULL
          WHERE inbox.status IN ('waiting', 'retrying')
            AND inbox.earlier_attempts = EXCLUDED.earlier_attempts
         RETURNING uuid, receipt_id"
    );
    let written: Vec<(String, i64)> = match conn {
        Conn::Postgres(conn) => {
            let written = rows
                .bind(&sql, environment)
                .bind(&receipt_uuid)
                .bind(&exchange)
                .bind(&routing_key)
                .bind(&correlation_id)
                .bind(&body)
                .bind(&status)
                .bind(&error_codes)
                .bind(&attempts)
                .try_map(|row: sqlx::postgres::PgRow| Ok((row.try_get(0)?, row.try_get(1)?)))
                .fetch_all(&mut **conn)
                .await?;
            rows.stream_bodies(conn).await?;
            written
        }
        Conn::Sqlite(conn) => {
            let now = Utc::now();
            let inbox = format!(
                "INSERT INTO inbox ({INBOX_COLUMNS}, status, processed_at, receipt_id, error_codes,
                                    earlier_attempts)
                 VALUES ({SQLITE_INBOX_VALUES}, $12, $13, $14, $15, $16)
                 ON CONFLICT (uuid) DO UPDATE
                    SET status = excluded.status, processed_at = excluded.processed_at,
                        receipt_id = excluded.receipt_id, error_codes = excluded.error_codes,
                        discarded_at = NULL, discarded_by = NULL, discard_note = NULL
                  WHERE inbox.status IN ('waiting', 'retrying')
                    AND inbox.earlier_attempts = excluded.earlier_attempts
                 RETURNING uuid, receipt_id"
            );
            let mut written = Vec::with_capacity(count);
            for (n, row) in rows.rows().iter().enumerate() {
                let receipt_id: i64 = sqlx::query_scalar(
                    "INSERT INTO outbox (uuid, kind, \"transaction\", exchange, routing_key,
                                         correlation_id, body, status, sent_at, attempts)
                     VALUES ($1, 'receipt', $2, $3, $4, $5, $6, 'done', $7, 1)
                     RETURNING id",
                )
                .bind(&receipt_uuid[n])
                .bind(row.transaction)
                .bind(exchange[n])
                .bind(routing_key[n])
                .bind(correlation_id[n])
                .bind(&body[n])
                .bind(now)
                .fetch_one(&mut **conn)
                .await?;
                let codes: Vec<String> = error_codes[n]
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                let answered: Option<(String, i64)> = row
                    .bind(sqlx::query(&inbox), environment)
                    .bind(status[n])
                    .bind(now)
                    .bind(receipt_id)
                    .bind(Texts(codes))
                    .bind(attempts[n])
                    .try_map(|row: sqlx::sqlite::SqliteRow| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .fetch_optional(&mut **conn)
                    .await?;
                written.extend(answered);
            }
            written
        }
    };
    let written: HashMap<String, i64> = written.into_iter().collect();
    inbounds
        .into_iter()
        .zip(body)
        .zip(ok)
        .map(|((inbound, body), ok)| {
            let uuid = inbound.envelope.uuid();
            let receipt_id = *written
                .get(uuid)
                .ok_or_else(|| StoreError::Raced(uuid.to_owned()))?;
            Ok(Answer {
                receipt_id,
                body,
                ok,
                duplicate: false,
                route: inbound.route.clone(),
            })
        })
        .collect()
}

/// What the business rules made of an envelope.
pub(crate) enum Processed {
    /// Details (errors roll the business change back) and what to return.
    Answered(Vec<Detail>, ReturnContent),
    /// Reservations never integrated, and the answer to give if waiting is not allowed.
    Waiting(Vec<String>, Vec<Detail>),
}

impl Processed {
    pub(crate) fn refused(details: Vec<Detail>) -> Processed {
        Processed::Answered(details, ReturnContent::nothing())
    }

    /// The answer to give now: a waiting envelope's is the one it gets when
    /// it may wait no more.
    pub(crate) fn into_answer(self) -> (Vec<Detail>, ReturnContent) {
        match self {
            Processed::Answered(details, returned) => (details, returned),
            Processed::Waiting(_, details) => (details, ReturnContent::nothing()),
        }
    }
}

/// Envelope checks, then the transaction's business rules.
async fn process(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    origin: &ReceiptOrigin,
    envelope: &Envelope<'_>,
    received_at: DateTime<Utc>,
    tolerance: Decimal,
) -> Result<Processed, StoreError> {
    let (transaction, event) = match envelope.validate() {
        Ok(checked) => checked,
        Err(details) => return Ok(Processed::refused(details)),
    };
    let namespace = envelope.namespace();
    let content = envelope.content();
    match transaction {
        Transaction::ItemReserve => {
            one(reserve_all(conn, kept, origin, &[(envelope, event, received_at)]).await?)
        }
        Transaction::RetailSales => {
            one(sell_all(conn, kept, origin, tolerance, &[(envelope, event)]).await?)
        }
        Transaction::StockLevel => one(stock_request::answer_all(conn, kept, &[envelope]).await?),
        Transaction::EnvironmentTest => {
            Ok(Processed::Answered(Vec::new(), ReturnContent::nothing()))
        }
        Transaction::RetailSalesCancellation => {
            let cancellation = match SaleCancellation::from_content(&content) {
                Ok(cancellation) => cancellation,
                Err(details) => return Ok(Processed::refused(details)),
            };
            Ok(
                match cancellation::cancel(conn, origin, &namespace, &cancellation).await? {
                    CancelOutcome::Cancelled(ids) => Processed::Answered(Vec::new(), ids.into()),
                    CancelOutcome::Rejected(details) => Processed::refused(details),
                },
            )
        }
    }
}

/// ItemReserve envelopes, checked and their `event` read, through the
/// reservation rules in the caller's transaction: the envelopes' branches
/// located in one statement, then [`reservation::apply_all`]. What each
/// came to, in their order.
pub(crate) async fn reserve_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    origin: &ReceiptOrigin,
    envelopes: &[(&Envelope<'_>, Event, DateTime<Utc>)],
) -> Result<Vec<Processed>, StoreError> {
    let (mut processed, parsed) = read_all(
        envelopes
            .iter()
            .map(|(envelope, event, _)| (*envelope, *event)),
        |envelope, event| {
            let reserve = ItemReserve::from_content(&envelope.content(), event)?;
            let item_branch = reserve.items.iter().find_map(|item| {
                let branch = item.reserve_branch.clone()?;
                Some((branch, format!("{}.ReserveBranch", item.path)))
            });
            Ok((reserve, item_branch))
        },
    );
    let found = locate_all(conn, kept, &parsed, &mut processed).await?;
    if found.is_empty() {
        return Ok(processed);
    }
    let requests: Vec<ReserveRequest<'_>> = found
        .iter()
        .map(|(index, reserve, namespace, branch)| {
            let (_, event, received_at) = envelopes[*index];
            ReserveRequest {
                namespace,
                branch,
                reserve,
                event,
                today: received_at.date_naive(),
            }
        })
        .collect();
    let outcomes = reservation::apply_all(conn, kept, origin, &requests).await?;
    for ((index, ..), outcome) in found.iter().zip(outcomes) {
        processed[*index] = match outcome {
            Outcome::Done(ids) => Processed::Answered(Vec::new(), ids.into()),
            Outcome::Rejected(details) => Processed::refused(details),
        };
    }
    Ok(processed)
}

/// An envelope's content model as `read` made it, with its index, namespace
/// and named branch.
pub(crate) type Read<T> = (usize, T, String, BranchNamed);

/// Reads each envelope's content model with `read` (which also gives the
/// ReserveBranch an item names, with its path) and names its branch: a
/// placeholder outcome for every envelope (the refusal of those that could
/// not be read), and the others.
pub(crate) fn read_all<'e, T>(
    envelopes: impl Iterator<Item = (&'e Envelope<'e>, Event)>,
    read: impl Fn(&Envelope, Event) -> Result<(T, Option<(String, String)>), Vec<Detail>>,
) -> (Vec<Processed>, Vec<Read<T>>) {
    let mut processed: Vec<Processed> = Vec::new();
    let mut parsed: Vec<Read<T>> = Vec::new();
    for (index, (envelope, event)) in envelopes.enumerate() {
        let outcome = read(envelope, event).and_then(|(model, item_branch)| {
            let named = BranchNamed::of(envelope, item_branch).map_err(|detail| vec![detail])?;
            Ok((model, named))
        });
        // Every envelope's outcome is completed later; this is the refusal's or a placeholder.
        match outcome {
            Ok((model, named)) => {
                processed.push(Processed::refused(Vec::new()));
                parsed.push((index, model, envelope.namespace(), named));
            }
            Err(details) => processed.push(Processed::refused(details)),
        }
    }
    (processed, parsed)
}

/// RetailSales envelopes, checked and their `event` read, through the sale
/// rules in the caller's transaction: the envelopes' branches located in
/// one statement, then [`sale::integrate_all`]. What each came to, in their order.
pub(crate) async fn sell_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    origin: &ReceiptOrigin,
    tolerance: Decimal,
    envelopes: &[(&Envelope<'_>, Event)],
) -> Result<Vec<Processed>, StoreError> {
    let (mut processed, parsed) = read_all(envelopes.iter().copied(), |envelope, event| {
        Ok((RetailSale::from_content(&envelope.content(), event)?, None))
    });
    let found = locate_all(conn, kept, &parsed, &mut processed).await?;
    if found.is_empty() {
        return Ok(processed);
    }
    let requests: Vec<SaleRequest<'_>> = found
        .iter()
        .map(|(_, sale, namespace, branch)| SaleRequest {
            namespace,
            branch,
            sale,
        })
        .collect();
    let outcomes = sale::integrate_all(conn, kept, origin, tolerance, &requests).await?;
    for ((index, ..), outcome) in found.iter().zip(outcomes) {
        processed[*index] = match outcome {
            SaleOutcome::Integrated(ids, warnings) => Processed::Answered(warnings, ids.into()),
            SaleOutcome::Rejected(details) => Processed::refused(details),
            SaleOutcome::Waiting(reservations, details) => {
                Processed::Waiting(reservations, details)
            }
        };
    }
    Ok(processed)
}

/// Locates the branches of parsed envelopes in one statement: those found
/// with their branch; an unknown one's refusal goes into `processed`.
pub(crate) async fn locate_all<'p, T>(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    parsed: &'p [Read<T>],
    processed: &mut [Processed],
) -> Result<Vec<(usize, &'p T, &'p str, Branch)>, StoreError> {
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<(&str, &str, &str)> = parsed
        .iter()
        .map(|(_, _, namespace, named)| {
            (
                namespace.as_str(),
                named.company.as_str(),
                named.branch.as_str(),
            )
        })
        .collect();
    let located = directory::locate_all(conn, kept, &wanted).await?;
    let mut found = Vec::with_capacity(parsed.len());
    for ((index, parsed, namespace, named), (company, branch)) in parsed.iter().zip(located) {
        match branch {
            Some(branch) => found.push((*index, parsed, namespace.as_str(), branch)),
            None => processed[*index] = Processed::refused(vec![named.not_found(&company)]),
        }
    }
    Ok(found)
}

/// The one outcome of a batch of one.
fn one(mut processed: Vec<Processed>) -> Result<Processed, StoreError> {
    processed
        .pop()
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// The company and branch an envelope is about: `Header.CompanyId`, and the
/// branch named by an item (its value and JSON path) or else `Header.BranchId`.
pub(crate) struct BranchNamed {
    pub(crate) company: String,
    branch: String,
    path: String,
}

impl BranchNamed {
    fn of(
        envelope: &Envelope<'_>,
        item_branch: Option<(String, String)>,
    ) -> Result<BranchNamed, Detail> {
        let Some(company) = envelope.header_text("CompanyId") else {
            return Err(missing_header("CompanyId"));
        };
        let (branch, path) = match item_branch {
            Some(named) => named,
            None => match envelope.header_text("BranchId") {
                Some(branch) => (branch, "$.Header.BranchId".to_owned()),
                None => return Err(missing_header("BranchId")),
            },
        };
        Ok(BranchNamed {
            company,
            branch,
            path,
        })
    }

    /// The answer when the branch is not registered for `company` (the internal company).
    fn not_found(&self, company: &str) -> Detail {
        Detail::error(
            Code::BranchNotFound,
            format!(
                "{}: branch '{}' of company '{company}' is not registered",
                self.path, self.branch
            ),
        )
    }
}

fn missing_header(field: &str) -> Detail {
    Detail::invalid_field(
        &format!("$.Header.{field}"),
        "a non-empty string",
        &Json::Null,
    )
}
