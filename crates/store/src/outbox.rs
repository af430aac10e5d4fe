//! Receipts in the outbox: marked done once the broker confirmed them, and
//! picked up again by the relay when a worker died between commit and publish.

use std::time::Duration;

use sqlx::FromRow;

use crate::{Store, StoreError};

/// A receipt committed but not (known to be) published.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PendingReceipt {
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub correlation_id: Option<String>,
    pub body: String,
}

impl Store {
    /// Records that the broker confirmed the receipt.
    pub async fn mark_published(&self, receipt_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'done', sent_at = now(), attempts = attempts + 1,
                    lease_until = NULL, last_error = NULL
              WHERE id = $1",
        )
        .bind(receipt_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed publication attempt; the relay will try again.
    pub async fn mark_publish_failed(
        &self,
        receipt_id: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1 AND status = 'waiting'",
        )
        .bind(receipt_id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leases up to `limit` receipts still waiting `older_than` after commit,
    /// so that of several relays only one republishes each.
    pub async fn lease_stale_receipts(
        &self,
        older_than: Duration,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        Ok(sqlx::query_as(
            "UPDATE outbox SET lease_until = now() + make_interval(secs => $2)
              WHERE id IN (SELECT id FROM outbox
                            WHERE status = 'waiting' AND kind = 'receipt'
                              AND created_at < now() - make_interval(secs => $1)
                              AND (lease_until IS NULL OR lease_until < now())
                            ORDER BY id LIMIT $3
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, exchange, routing_key, correlation_id, body",
        )
        .bind(older_than.as_secs_f64())
        .bind(lease.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
