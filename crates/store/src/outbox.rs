//! Receipts in the outbox. A receipt is stored delivered (`done`) with its
//! envelope's answer: the envelope's delivery is acked only once the broker
//! confirmed the receipt, so a receipt whose first publication did not happen
//! (its worker died after the commit) comes back with its envelope and is
//! published again from the inbox. One whose publication failed (the broker
//! was away, or returned it because no queue took it) is marked `waiting` and
//! published again by the relay; one that keeps failing is finally marked
//! `failed`, once the relay has dead-lettered it.
//!
//! Relays lease the receipts they publish again: on PostgreSQL skipping the
//! rows another relay is leasing (`SKIP LOCKED`), on SQLite in a transaction
//! no other runs beside.

use std::time::Duration;

use chrono::Utc;
use sqlx::FromRow;

use crate::db::after;
use crate::db::{on_conn, on_pool, Pool};
use crate::{Store, StoreError};

/// A receipt whose publication failed, leased by a relay to publish it again.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PendingReceipt {
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub correlation_id: Option<String>,
    pub body: String,
    /// Publications started, the one this lease is for included.
    pub attempts: i32,
}

/// Which receipts whose publication failed a relay pass takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayPass {
    /// Those whose retry is due.
    Due,
    /// Every one, retry due or not: a worker shutting down flushes them.
    All,
}

impl Store {
    /// Records that the broker confirmed a receipt published again (by the
    /// relay, or for a re-sent UUID) whose first publication had failed; a
    /// receipt an operator's retry superseded meanwhile stays as it is.
    pub async fn mark_published(&self, receipt_id: i64) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query(
                    "UPDATE outbox SET status = 'done', sent_at = now(), lease_until = NULL,
                    last_error = NULL
              WHERE id = $1 AND status IN ('waiting', 'failed')",
                )
                .bind(receipt_id)
                .execute(pool)
                .await?;
            }
            Pool::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE outbox SET status = 'done', sent_at = $2, lease_until = NULL,
                        last_error = NULL
                  WHERE id = $1 AND status IN ('waiting', 'failed')",
                )
                .bind(receipt_id)
                .bind(Utc::now())
                .execute(pool)
                .await?;
            }
        };
        Ok(())
    }

    /// Records a failed publication: the receipt is not delivered, and the
    /// relay tries again after `retry_in`. Only the current answer of its
    /// UUID: one an operator's retry is replacing is not sent again.
    pub async fn mark_publish_failed(
        &self,
        receipt_id: i64,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query(
                    "UPDATE outbox SET status = 'waiting', sent_at = NULL, last_error = $2,
                    lease_until = NULL, next_attempt_at = now() + make_interval(secs => $3)
              WHERE id = $1 AND status IN ('done', 'waiting')
                AND EXISTS (SELECT 1 FROM inbox i
                             WHERE i.receipt_id = outbox.id AND i.status IN ('ok', 'error'))",
                )
                .bind(receipt_id)
                .bind(error)
                .bind(retry_in.as_secs_f64())
                .execute(pool)
                .await?;
            }
            Pool::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE outbox SET status = 'waiting', sent_at = NULL, last_error = $2,
                        lease_until = NULL, next_attempt_at = $3
                  WHERE id = $1 AND status IN ('done', 'waiting')
                    AND EXISTS (SELECT 1 FROM inbox i
                                 WHERE i.receipt_id = outbox.id AND i.status IN ('ok', 'error'))",
                )
                .bind(receipt_id)
                .bind(error)
                .bind(after(Utc::now(), retry_in))
                .execute(pool)
                .await?;
            }
        };
        Ok(())
    }

    /// Gives up on a receipt that could not be delivered: it was dead-lettered
    /// with `reason`, and is `failed` from now on.
    pub async fn mark_receipt_failed(
        &self,
        receipt_id: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        on_pool!(&self.pool, pool => {
            sqlx::query(
                "UPDATE outbox SET status = 'failed', last_error = $2, lease_until = NULL
                  WHERE id = $1 AND status = 'waiting'",
            )
            .bind(receipt_id)
            .bind(reason)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Leases up to `limit` receipts of `pass` whose publication failed, so
    /// that of several relays only one publishes each again, and counts the
    /// attempt.
    pub async fn lease_receipts(
        &self,
        pass: RelayPass,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        let pool = match &self.pool {
            Pool::Postgres(pool) => pool,
            Pool::Sqlite(_) => return self.lease_receipts_in_sqlite(pass, lease, limit).await,
        };
        Ok(sqlx::query_as(
            "UPDATE outbox SET lease_until = now() + make_interval(secs => $1),
                    attempts = attempts + 1
              WHERE id IN (SELECT id FROM outbox
                            WHERE status = 'waiting' AND kind = 'receipt'
                              AND (lease_until IS NULL OR lease_until < now())
                              AND ($3 OR next_attempt_at <= now())
                            ORDER BY id LIMIT $2
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, exchange, routing_key, correlation_id, body, attempts",
        )
        .bind(lease.as_secs_f64())
        .bind(limit)
        .bind(pass == RelayPass::All)
        .fetch_all(pool)
        .await?)
    }

    /// [`Store::lease_receipts`] on SQLite: in a transaction, which no other
    /// relay's runs beside, so nothing is locked or skipped.
    async fn lease_receipts_in_sqlite(
        &self,
        pass: RelayPass,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        let mut tx = self.begin().await?;
        let now = Utc::now();
        let leased = on_conn!(&mut tx.conn(), conn => {
            sqlx::query_as(
                "UPDATE outbox SET lease_until = $1, attempts = attempts + 1
                  WHERE id IN (SELECT id FROM outbox
                                WHERE status = 'waiting' AND kind = 'receipt'
                                  AND (lease_until IS NULL OR lease_until < $4)
                                  AND ($3 OR next_attempt_at <= $4)
                                ORDER BY id LIMIT $2)
              RETURNING id, exchange, routing_key, correlation_id, body, attempts",
            )
            .bind(after(now, lease))
            .bind(limit)
            .bind(pass == RelayPass::All)
            .bind(now)
            .fetch_all(conn)
            .await?
        });
        tx.commit().await?;
        Ok(leased)
    }
}
