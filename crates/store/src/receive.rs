//! The one transaction every inbound envelope gets: claim its UUID in the
//! inbox, apply the business change, persist the receipt in the outbox.
//!
//! A business rejection rolls back to a savepoint, so the receipt and the
//! inbox row are still committed: the sender gets its error once, and a
//! re-send of the same UUID gets that same receipt again, byte for byte.
//!
//! An envelope that cannot be processed at all (the database refuses its
//! data, it kept failing, it arrived on no work queue) is still answered:
//! [`Store::refuse`] records its UUID with a coded error receipt in a
//! transaction of its own.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use eai_protocol::{
    Code, Detail, Envelope, InternalIdEntry, ItemReserve, Receipt, ReceiptOrigin, RetailSale,
    SaleCancellation, Transaction,
};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection, Postgres};

use crate::cancellation::{self, CancelOutcome};
use crate::directory::{self, Branch};
use crate::reservation::{self, Outcome, ReserveContext};
use crate::sale::{self, SaleContext, SaleOutcome};
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
    pub envelope: &'a Envelope,
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
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT o.body, i.status FROM inbox i JOIN outbox o ON o.id = i.receipt_id
              WHERE i.uuid = $1 AND i.status IN ('ok', 'error')",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(body, status)| (body, status == "ok")))
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
            let mut tx = self.pool.begin().await?;
            if let Some(stored) = claim(&mut tx, inbound, self.environment).await? {
                tx.commit().await?;
                return Ok(stored);
            }
            let answer =
                record_answer(&mut tx, identity, inbound, vec![detail.clone()], Vec::new()).await?;
            tx.commit().await?;
            Ok(answer)
        })
        .await
    }

    /// Runs `operation` bounded by the transaction timeout, again at once on
    /// transient failures.
    async fn with_retries<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
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
        let mut tx = self.pool.begin().await?;
        if let Some(stored) = claim(&mut tx, inbound, self.environment).await? {
            tx.commit().await?;
            return Ok(Received::Answered(stored));
        }
        let (details, ids) = {
            let mut savepoint = tx.begin().await?;
            let processed = process(
                &mut savepoint,
                identity,
                envelope,
                inbound.received_at,
                self.tolerance,
            )
            .await?;
            let (details, ids) = match processed {
                Processed::Waiting(reservations, details) => {
                    savepoint.rollback().await?;
                    let waited: Option<i32> =
                        sqlx::query_scalar("SELECT waits FROM inbox_retries WHERE uuid = $1")
                            .bind(envelope.uuid())
                            .fetch_optional(&mut *tx)
                            .await?;
                    let waited = usize::try_from(waited.unwrap_or(0)).unwrap_or(0);
                    if waited < inbound.max_waits {
                        // Nothing is kept but the log's row saying it waits.
                        tx.rollback().await?;
                        self.log_waiting(inbound).await?;
                        let wait = self.record_wait(envelope.uuid()).await?;
                        return Ok(Received::Waiting { reservations, wait });
                    }
                    (details, Vec::new())
                }
                Processed::Answered(details, ids) => {
                    if details.iter().any(Detail::is_error) {
                        savepoint.rollback().await?;
                    } else {
                        savepoint.commit().await?;
                    }
                    (details, ids)
                }
            };
            (details, ids)
        };
        let answer = record_answer(&mut tx, identity, inbound, details, ids).await?;
        tx.commit().await?;
        Ok(Received::Answered(answer))
    }
}

/// The inbox row of an envelope, as the message log keeps it; `$11` is
/// the status (NULL while it is being processed).
const INSERT_INBOX: &str = "INSERT INTO inbox (uuid, transaction, namespace, company, branch,
        received_at, body, internal_id, document_code, environment, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

impl Store {
    /// Shows a sale parked for its reservations in the message log as
    /// `waiting`; its next delivery takes the row over.
    async fn log_waiting(&self, inbound: &Inbound<'_>) -> Result<(), StoreError> {
        let envelope = inbound.envelope;
        sqlx::query(&format!(
            "{INSERT_INBOX} ON CONFLICT (uuid) DO UPDATE SET status = 'waiting'
              WHERE inbox.status IN ('waiting', 'retrying')"
        ))
        .bind(envelope.uuid())
        .bind(envelope.header_label("Transaction"))
        .bind(envelope.namespace())
        .bind(envelope.header_label("CompanyId"))
        .bind(envelope.header_label("BranchId"))
        .bind(inbound.received_at)
        .bind(inbound.body)
        .bind(envelope.internal_id())
        .bind(envelope.content_label("DocumentCode"))
        .bind(self.environment.as_str())
        .bind("waiting")
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Claims the envelope's UUID in the inbox. `Some` is the stored answer of
/// a UUID claimed before (a redelivery or a re-send).
async fn claim(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    inbound: &Inbound<'_>,
    environment: Environment,
) -> Result<Option<Answer>, StoreError> {
    let envelope = inbound.envelope;
    let claimed = sqlx::query(&format!(
        "{INSERT_INBOX} ON CONFLICT (uuid) DO UPDATE
            SET status = NULL, discarded_at = NULL, discarded_by = NULL, discard_note = NULL
          WHERE inbox.status IN ('waiting', 'retrying')"
    ))
    .bind(envelope.uuid())
    .bind(envelope.header_label("Transaction"))
    .bind(envelope.namespace())
    .bind(envelope.header_label("CompanyId"))
    .bind(envelope.header_label("BranchId"))
    .bind(inbound.received_at)
    .bind(inbound.body)
    .bind(envelope.internal_id())
    .bind(envelope.content_label("DocumentCode"))
    .bind(environment.as_str())
    .bind(None::<&str>)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let (receipt_id, body, status): (i64, String, String) = sqlx::query_as(
        "SELECT o.id, o.body, i.status FROM inbox i JOIN outbox o ON o.id = i.receipt_id
          WHERE i.uuid = $1",
    )
    .bind(envelope.uuid())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(Answer {
        receipt_id,
        body,
        ok: status == "ok",
        duplicate: true,
        route: inbound.route.clone(),
    }))
}

/// Writes the receipt to the outbox and completes the inbox row, in one statement.
async fn record_answer(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    identity: &WorkerIdentity,
    inbound: &Inbound<'_>,
    details: Vec<Detail>,
    ids: Vec<InternalIdEntry>,
) -> Result<Answer, StoreError> {
    let envelope = inbound.envelope;
    let error_codes: Vec<&str> = details
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
    let body = String::from_utf8_lossy(&receipt.to_bytes()).into_owned();
    let status = if receipt.is_ok() { "ok" } else { "error" };
    let (receipt_id,): (i64,) = sqlx::query_as(
        "WITH receipt AS (
             INSERT INTO outbox (uuid, kind, transaction, exchange, routing_key, correlation_id, body)
             VALUES ($1, 'receipt', $2, $3, $4, $5, $6) RETURNING id)
         UPDATE inbox SET status = $8, processed_at = now(), receipt_id = receipt.id,
                          error_codes = $9
           FROM receipt
          WHERE inbox.uuid = $7
         RETURNING receipt.id",
    )
    .bind(receipt.uuid())
    .bind(envelope.header_label("Transaction"))
    .bind(&inbound.route.exchange)
    .bind(&inbound.route.routing_key)
    .bind(&inbound.route.correlation_id)
    .bind(&body)
    .bind(envelope.uuid())
    .bind(status)
    .bind(&error_codes)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Answer {
        receipt_id,
        body,
        ok: receipt.is_ok(),
        duplicate: false,
        route: inbound.route.clone(),
    })
}

/// What the business rules made of an envelope.
enum Processed {
    /// Details (errors roll the business change back) and ids to return.
    Answered(Vec<Detail>, Vec<InternalIdEntry>),
    /// Reservations never integrated, and the answer to give if waiting is not allowed.
    Waiting(Vec<String>, Vec<Detail>),
}

impl Processed {
    fn refused(details: Vec<Detail>) -> Processed {
        Processed::Answered(details, Vec::new())
    }
}

/// Envelope checks, then the transaction's business rules.
async fn process(
    conn: &mut PgConnection,
    origin: &ReceiptOrigin,
    envelope: &Envelope,
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
            let reserve = match ItemReserve::from_content(&content, event) {
                Ok(reserve) => reserve,
                Err(details) => return Ok(Processed::refused(details)),
            };
            let item_branch = reserve.items.iter().find_map(|item| {
                let branch = item.reserve_branch.clone()?;
                Some((branch, format!("{}.ReserveBranch", item.path)))
            });
            let branch = match locate(conn, envelope, &namespace, item_branch).await? {
                Ok(branch) => branch,
                Err(detail) => return Ok(Processed::refused(vec![detail])),
            };
            let ctx = ReserveContext {
                origin,
                namespace: &namespace,
                branch: &branch,
                today: received_at.date_naive(),
            };
            Ok(
                match reservation::apply(conn, &ctx, &reserve, event).await? {
                    Outcome::Done(ids) => Processed::Answered(Vec::new(), ids),
                    Outcome::Rejected(details) => Processed::refused(details),
                },
            )
        }
        Transaction::RetailSales => {
            let sale = match RetailSale::from_content(&content, event) {
                Ok(sale) => sale,
                Err(details) => return Ok(Processed::refused(details)),
            };
            let branch = match locate(conn, envelope, &namespace, None).await? {
                Ok(branch) => branch,
                Err(detail) => return Ok(Processed::refused(vec![detail])),
            };
            let ctx = SaleContext {
                origin,
                namespace: &namespace,
                branch: &branch,
                tolerance,
            };
            Ok(match sale::integrate(conn, &ctx, &sale).await? {
                SaleOutcome::Integrated(ids, warnings) => Processed::Answered(warnings, ids),
                SaleOutcome::Rejected(details) => Processed::refused(details),
                SaleOutcome::Waiting(reservations, details) => {
                    Processed::Waiting(reservations, details)
                }
            })
        }
        Transaction::RetailSalesCancellation => {
            let cancellation = match SaleCancellation::from_content(&content) {
                Ok(cancellation) => cancellation,
                Err(details) => return Ok(Processed::refused(details)),
            };
            Ok(
                match cancellation::cancel(conn, origin, &namespace, &cancellation).await? {
                    CancelOutcome::Cancelled(ids) => Processed::Answered(Vec::new(), ids),
                    CancelOutcome::Rejected(details) => Processed::refused(details),
                },
            )
        }
    }
}

/// The branch an envelope is about: `Header.CompanyId` through the Company
/// de/para, and the branch named by `item_branch` (its value and JSON path)
/// or else `Header.BranchId`.
async fn locate(
    conn: &mut PgConnection,
    envelope: &Envelope,
    namespace: &str,
    item_branch: Option<(String, String)>,
) -> Result<Result<Branch, Detail>, StoreError> {
    let Some(company) = envelope.header_text("CompanyId") else {
        return Ok(Err(missing_header("CompanyId")));
    };
    let (branch_code, path) = match item_branch {
        Some(named) => named,
        None => match envelope.header_text("BranchId") {
            Some(branch) => (branch, "$.Header.BranchId".to_owned()),
            None => return Ok(Err(missing_header("BranchId"))),
        },
    };
    let (company, branch) = directory::locate(conn, namespace, &company, &branch_code).await?;
    Ok(branch.ok_or_else(|| {
        Detail::error(
            Code::BranchNotFound,
            format!("{path}: branch '{branch_code}' of company '{company}' is not registered"),
        )
    }))
}

fn missing_header(field: &str) -> Detail {
    Detail::invalid_field(
        &format!("$.Header.{field}"),
        "a non-empty string",
        &serde_json::Value::Null,
    )
}
