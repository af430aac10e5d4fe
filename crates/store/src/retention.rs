//! Retention: the inbox and the outbox would otherwise keep every UUID and
//! every receipt body forever. Rows older than the dedup window go, oldest
//! first, in batches — the window must be longer than any redelivery or
//! re-send a sender may make, since a UUID purged from the inbox would be
//! processed again. What still needs someone is kept whatever its age: a
//! receipt not yet delivered, an outbound message not settled for good, a
//! dead letter neither replayed nor discarded, an alert not sent yet.
//!
//! On SQLite a pass is one transaction of simple statements (SQLite has no
//! `DELETE` in a `WITH`): the rows to go are chosen first, then deleted, and
//! the window's start is computed here and bound.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::SqliteConnection;

use crate::db::{Conn, Pool};
use crate::{Store, StoreError};

/// What one purge pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Inbox rows, each with its receipt.
    pub inbox: u64,
    /// Outbound messages `done` or `rejected`, with their attempt history.
    pub messages: u64,
    /// Retry counts of UUIDs no longer seen.
    pub retries: u64,
    /// Operator history: dead letters replayed or discarded, operator
    /// actions, receipts an inbound retry superseded, alerts sent or given up on.
    pub history: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.inbox + self.messages + self.retries + self.history
    }
}

impl Store {
    /// Deletes up to `batch` rows of each kind older than `older_than`.
    pub async fn purge(&self, older_than: Duration, batch: i64) -> Result<Purged, StoreError> {
        let pool = match &self.pool {
            Pool::Postgres(pool) => pool,
            Pool::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let Conn::Sqlite(conn) = tx.conn() else {
                    unreachable!("an SQLite pool begins SQLite transactions")
                };
                let purged = purge_sqlite(conn, older_than, batch).await?;
                tx.commit().await?;
                return Ok(purged);
            }
        };
        let age = older_than.as_secs_f64();
        let inbox = sqlx::query(
            "WITH gone AS (
                 DELETE FROM inbox WHERE uuid IN (
                     SELECT i.uuid FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
                      WHERE i.received_at < now() - make_interval(secs => $1)
                        AND (o.id IS NULL OR o.status <> 'waiting')
                      ORDER BY i.received_at LIMIT $2)
                 RETURNING receipt_id)
             DELETE FROM outbox WHERE id IN (SELECT receipt_id FROM gone)",
        )
        .bind(age)
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        let messages = sqlx::query(
            "WITH old AS (
                 SELECT id FROM outbox
                  WHERE kind = 'message' AND status IN ('done', 'rejected')
                    AND created_at < now() - make_interval(secs => $1)
                  ORDER BY created_at LIMIT $2),
             history AS (DELETE FROM outbox_attempts WHERE outbox_id IN (SELECT id FROM old))
             DELETE FROM outbox WHERE id IN (SELECT id FROM old)",
        )
        .bind(age)
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        let retries = sqlx::query(
            "DELETE FROM inbox_retries WHERE uuid IN (
                 SELECT uuid FROM inbox_retries
                  WHERE updated_at < now() - make_interval(secs => $1)
                  ORDER BY updated_at LIMIT $2)",
        )
        .bind(age)
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        let mut history = 0;
        for sql in [
            "DELETE FROM dead_letters WHERE id IN (
                 SELECT id FROM dead_letters
                  WHERE dead_at < now() - make_interval(secs => $1)
                    AND (replayed_at IS NOT NULL OR discarded_at IS NOT NULL)
                  ORDER BY dead_at LIMIT $2)",
            "DELETE FROM operator_actions WHERE id IN (
                 SELECT id FROM operator_actions
                  WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2)",
            "DELETE FROM outbox WHERE id IN (
                 SELECT o.id FROM outbox o
                  WHERE o.kind = 'receipt' AND o.status <> 'waiting'
                    AND o.created_at < now() - make_interval(secs => $1)
                    AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.receipt_id = o.id)
                  ORDER BY o.created_at LIMIT $2)",
            "DELETE FROM alerts WHERE id IN (
                 SELECT id FROM alerts
                  WHERE status <> 'waiting' AND created_at < now() - make_interval(secs => $1)
                  ORDER BY created_at LIMIT $2)",
        ] {
            history += sqlx::query(sql)
                .bind(age)
                .bind(batch)
                .execute(pool)
                .await?
                .rows_affected();
        }
        Ok(Purged {
            inbox,
            messages,
            retries,
            history,
        })
    }
}

/// [`Store::purge`] on SQLite, inside the pass's transaction.
async fn purge_sqlite(
    conn: &mut SqliteConnection,
    older_than: Duration,
    batch: i64,
) -> Result<Purged, StoreError> {
    let before = chrono::Duration::from_std(older_than)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let receipts: Vec<Option<i64>> = sqlx::query_scalar(
        "DELETE FROM inbox WHERE uuid IN (
             SELECT i.uuid FROM inbox i LEFT JOIN outbox o ON o.id = i.receipt_id
              WHERE i.received_at < $1
                AND (o.id IS NULL OR o.status <> 'waiting')
              ORDER BY i.received_at LIMIT $2)
         RETURNING receipt_id",
    )
    .bind(before)
    .bind(batch)
    .fetch_all(&mut *conn)
    .await?;
    let receipts: Vec<i64> = receipts.into_iter().flatten().collect();
    let inbox = sqlx::query("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1))")
        .bind(Json(&receipts))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let old: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox
          WHERE kind = 'message' AND status IN ('done', 'rejected') AND created_at < $1
          ORDER BY created_at LIMIT $2",
    )
    .bind(before)
    .bind(batch)
    .fetch_all(&mut *conn)
    .await?;
    let old = Json(&old);
    sqlx::query("DELETE FROM outbox_attempts WHERE outbox_id IN (SELECT value FROM json_each($1))")
        .bind(old)
        .execute(&mut *conn)
        .await?;
    let messages = sqlx::query("DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1))")
        .bind(old)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let retries = sqlx::query(
        "DELETE FROM inbox_retries WHERE uuid IN (
             SELECT uuid FROM inbox_retries WHERE updated_at < $1 ORDER BY updated_at LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let mut history = 0;
    for sql in [
        "DELETE FROM dead_letters WHERE id IN (
             SELECT id FROM dead_letters
              WHERE dead_at < $1 AND (replayed_at IS NOT NULL OR discarded_at IS NOT NULL)
              ORDER BY dead_at LIMIT $2)",
        "DELETE FROM operator_actions WHERE id IN (
             SELECT id FROM operator_actions WHERE at < $1 ORDER BY at LIMIT $2)",
        "DELETE FROM outbox WHERE id IN (
             SELECT o.id FROM outbox o
              WHERE o.kind = 'receipt' AND o.status <> 'waiting' AND o.created_at < $1
                AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.receipt_id = o.id)
              ORDER BY o.created_at LIMIT $2)",
        "DELETE FROM alerts WHERE id IN (
             SELECT id FROM alerts WHERE status <> 'waiting' AND created_at < $1
              ORDER BY created_at LIMIT $2)",
    ] {
        history += sqlx::query(sql)
            .bind(before)
            .bind(batch)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(Purged {
        inbox,
        messages,
        retries,
        history,
    })
}
