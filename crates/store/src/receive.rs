//! The one transaction every inbound envelope gets: claim its UUID in the
//! inbox, apply the business change, persist the receipt in the outbox.
//!
//! A business rejection rolls back to a savepoint, so the receipt and the
//! inbox row are still committed: the sender gets its error once, and a
//! re-send of the same UUID gets that same receipt again, byte for byte.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use eai_protocol::{
    Code, Detail, Envelope, InternalIdEntry, ItemReserve, Receipt, ReceiptOrigin, Transaction,
};
use sqlx::{Connection, PgConnection};

use crate::directory;
use crate::reservation::{self, Outcome, ReserveContext};
use crate::{Store, StoreError};

/// Who we are in the receipts we write.
pub type WorkerIdentity = ReceiptOrigin;

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
    pub received_at: DateTime<Utc>,
    pub route: ReplyRoute,
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
    /// Handles one envelope exactly once in effect, retrying the transaction
    /// on serialization failures, deadlocks and lost connections.
    #[tracing::instrument(skip_all, fields(uuid = inbound.envelope.uuid()))]
    pub async fn receive(
        &self,
        identity: &WorkerIdentity,
        inbound: &Inbound<'_>,
    ) -> Result<Answer, StoreError> {
        let attempt = || async { self.receive_once(identity, inbound).await };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(10))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(10)
                    .with_jitter(),
            )
            .when(StoreError::is_retryable)
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, "retrying the receive transaction");
            })
            .await
    }

    async fn receive_once(
        &self,
        identity: &WorkerIdentity,
        inbound: &Inbound<'_>,
    ) -> Result<Answer, StoreError> {
        let envelope = inbound.envelope;
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO inbox (uuid, transaction, namespace, company, branch, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uuid) DO NOTHING",
        )
        .bind(envelope.uuid())
        .bind(envelope.header_text("Transaction").unwrap_or_default())
        .bind(envelope.namespace())
        .bind(envelope.header_text("CompanyId").unwrap_or_default())
        .bind(envelope.header_text("BranchId").unwrap_or_default())
        .bind(inbound.received_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            let (receipt_id, body, status): (i64, String, String) = sqlx::query_as(
                "SELECT o.id, o.body, i.status FROM inbox i JOIN outbox o ON o.id = i.receipt_id
                  WHERE i.uuid = $1",
            )
            .bind(envelope.uuid())
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Answer {
                receipt_id,
                body,
                ok: status == "ok",
                duplicate: true,
                route: inbound.route.clone(),
            });
        }
        let (details, ids) = {
            let mut savepoint = tx.begin().await?;
            let result = process(&mut savepoint, envelope, inbound.received_at).await?;
            if result.0.iter().any(Detail::is_error) {
                savepoint.rollback().await?;
            } else {
                savepoint.commit().await?;
            }
            result
        };
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
            "INSERT INTO outbox (uuid, kind, transaction, exchange, routing_key, correlation_id, body)
             VALUES ($1, 'receipt', $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(receipt.uuid())
        .bind(envelope.header_text("Transaction").unwrap_or_default())
        .bind(&inbound.route.exchange)
        .bind(&inbound.route.routing_key)
        .bind(&inbound.route.correlation_id)
        .bind(&body)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE inbox SET status = $2, processed_at = now(), receipt_id = $3 WHERE uuid = $1",
        )
        .bind(envelope.uuid())
        .bind(status)
        .bind(receipt_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Answer {
            receipt_id,
            body,
            ok: receipt.is_ok(),
            duplicate: false,
            route: inbound.route.clone(),
        })
    }
}

/// Envelope checks, then the transaction's business rules.
async fn process(
    conn: &mut PgConnection,
    envelope: &Envelope,
    received_at: DateTime<Utc>,
) -> Result<(Vec<Detail>, Vec<InternalIdEntry>), StoreError> {
    let checked = envelope.check_shape().and_then(|()| {
        let transaction = envelope.transaction()?;
        envelope.check_version(transaction)?;
        Ok((transaction, envelope.event()?))
    });
    let (transaction, event) = match checked {
        Ok(checked) => checked,
        Err(detail) => return Ok((vec![detail], Vec::new())),
    };
    match transaction {
        Transaction::ItemReserve => {
            let reserve = match ItemReserve::from_content(&envelope.content(), event) {
                Ok(reserve) => reserve,
                Err(details) => return Ok((details, Vec::new())),
            };
            let Some(company) = envelope.header_text("CompanyId") else {
                return Ok((vec![missing_header("CompanyId")], Vec::new()));
            };
            let Some(branch_code) = reserve
                .reserve_branch()
                .map(str::to_owned)
                .or_else(|| envelope.header_text("BranchId"))
            else {
                return Ok((vec![missing_header("BranchId")], Vec::new()));
            };
            let namespace = envelope.namespace();
            let company = directory::resolve_company(conn, &namespace, &company).await?;
            let Some(branch) = directory::branch(conn, &company, &branch_code).await? else {
                let path = reserve
                    .items
                    .iter()
                    .find(|item| item.reserve_branch.is_some())
                    .map_or_else(
                        || "$.Header.BranchId".to_owned(),
                        |item| format!("{}.ReserveBranch", item.path),
                    );
                return Ok((
                    vec![Detail::error(
                        Code::BranchNotFound,
                        format!("{path}: branch '{branch_code}' of company '{company}' is not registered"),
                    )],
                    Vec::new(),
                ));
            };
            let ctx = ReserveContext {
                namespace: &namespace,
                branch: &branch,
                today: received_at.date_naive(),
            };
            Ok(
                match reservation::apply(conn, &ctx, &reserve, event).await? {
                    Outcome::Done(ids) => (Vec::new(), ids),
                    Outcome::Rejected(details) => (details, Vec::new()),
                },
            )
        }
        Transaction::RetailSales | Transaction::RetailSalesCancellation => Ok((
            vec![Detail::error(
                Code::UnsupportedTransaction,
                format!(
                    "$.Header.Transaction: {} is not handled by this worker version",
                    transaction.as_str()
                ),
            )],
            Vec::new(),
        )),
    }
}

fn missing_header(field: &str) -> Detail {
    Detail::invalid_field(
        &format!("$.Header.{field}"),
        "a non-empty string",
        &serde_json::Value::Null,
    )
}
