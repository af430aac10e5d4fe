//! Receipts in the outbox: marked done once the broker confirmed them, and
//! picked up by the relay when their first publication did not happen (a
//! worker died between commit and publish) or failed (the broker was away,
//! or returned the receipt because no queue took it). A receipt that keeps
//! failing is finally marked `failed`, once the relay has dead-lettered it.

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
    /// Publication attempts that failed so far.
    pub attempts: i32,
}

/// Which waiting receipts a relay pass takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayPass {
    /// Those never published `stale_after` after their commit (their worker
    /// is presumably gone) and failed ones whose retry is due.
    Due { stale_after: Duration },
    /// Every receipt whose publication failed, retry due or not: a worker
    /// shutting down flushes them.
    Failed,
}

impl Store {
    /// Records that the broker confirmed these receipts (one statement for
    /// all of them: the receiver marks what was confirmed meanwhile together).
    pub async fn mark_published(&self, receipt_ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'done', sent_at = now(), attempts = attempts + 1,
                    lease_until = NULL, last_error = NULL
              WHERE id = ANY($1)",
        )
        .bind(receipt_ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed publication attempt; the relay tries again after `retry_in`.
    pub async fn mark_publish_failed(
        &self,
        receipt_id: i64,
        error: &str,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, lease_until = NULL,
                    next_attempt_at = now() + make_interval(secs => $3)
              WHERE id = $1 AND status = 'waiting'",
        )
        .bind(receipt_id)
        .bind(error)
        .bind(retry_in.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up on a receipt that could not be delivered: it was dead-lettered
    /// with `reason`, and is `failed` from now on.
    pub async fn mark_receipt_failed(
        &self,
        receipt_id: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = $2, lease_until = NULL
              WHERE id = $1 AND status = 'waiting'",
        )
        .bind(receipt_id)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leases up to `limit` waiting receipts of `pass`, so that of several
    /// relays only one republishes each.
    pub async fn lease_receipts(
        &self,
        pass: RelayPass,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingReceipt>, StoreError> {
        let (stale_after, failed_only) = match pass {
            RelayPass::Due { stale_after } => (stale_after, false),
            RelayPass::Failed => (Duration::ZERO, true),
        };
        Ok(sqlx::query_as(
            "UPDATE outbox SET lease_until = now() + make_interval(secs => $2)
              WHERE id IN (SELECT id FROM outbox
                            WHERE status = 'waiting' AND kind = 'receipt'
                              AND (lease_until IS NULL OR lease_until < now())
                              AND CASE WHEN $4 THEN attempts > 0
                                       ELSE (attempts = 0 AND created_at < now() - make_interval(secs => $1))
                                         OR (attempts > 0 AND next_attempt_at <= now())
                                  END
                            ORDER BY id LIMIT $3
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, exchange, routing_key, correlation_id, body, attempts",
        )
        .bind(stale_after.as_secs_f64())
        .bind(lease.as_secs_f64())
        .bind(limit)
        .bind(failed_only)
        .fetch_all(&self.pool)
        .await?)
    }
}
