//! How often an inbound UUID waited, failed or was redelivered, counted in
//! the database so that the worker — not a header a sender can set — decides
//! when an envelope has waited or failed enough. On SQLite the time of the
//! change is bound rather than read from the database's clock.

use chrono::Utc;

use crate::db::{storable, Pool};
use crate::{Store, StoreError};

/// Which count to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Waits,
    Failures,
    Redeliveries,
}

impl Count {
    fn column(self) -> &'static str {
        match self {
            Count::Waits => "waits",
            Count::Failures => "failures",
            Count::Redeliveries => "redeliveries",
        }
    }
}

impl Store {
    /// A sale was parked to wait for its reservations; returns how many
    /// times it has waited now (1 the first time).
    pub async fn record_wait(&self, uuid: &str) -> Result<usize, StoreError> {
        self.raise(uuid, Count::Waits, None).await
    }

    /// Processing failed after its immediate retries; returns how many times
    /// it has failed now.
    pub async fn record_failure(&self, uuid: &str, error: &str) -> Result<usize, StoreError> {
        let error = storable(error);
        self.raise(uuid, Count::Failures, Some(&error)).await
    }

    /// A redelivered envelope (its worker died holding it) is about to be
    /// processed again; returns how many times that has happened, so an
    /// envelope that kills every worker that takes it can be told apart.
    pub async fn record_redelivery(&self, uuid: &str) -> Result<usize, StoreError> {
        self.raise(uuid, Count::Redeliveries, None).await
    }

    async fn raise(
        &self,
        uuid: &str,
        count: Count,
        error: Option<&str>,
    ) -> Result<usize, StoreError> {
        let column = count.column();
        let raised: i32 = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_scalar(&format!(
                    "INSERT INTO inbox_retries (uuid, {column}, last_error) VALUES ($1, 1, $2)
                     ON CONFLICT (uuid) DO UPDATE
                        SET {column} = inbox_retries.{column} + 1,
                            last_error = coalesce(EXCLUDED.last_error, inbox_retries.last_error),
                            updated_at = now()
                     RETURNING {column}"
                ))
                .bind(uuid)
                .bind(error)
                .fetch_one(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(&format!(
                    "INSERT INTO inbox_retries (uuid, {column}, last_error, updated_at)
                     VALUES ($1, 1, $2, $3)
                     ON CONFLICT (uuid) DO UPDATE
                        SET {column} = inbox_retries.{column} + 1,
                            last_error = coalesce(excluded.last_error, inbox_retries.last_error),
                            updated_at = excluded.updated_at
                     RETURNING {column}"
                ))
                .bind(uuid)
                .bind(error)
                .bind(Utc::now())
                .fetch_one(pool)
                .await?
            }
        };
        Ok(usize::try_from(raised).unwrap_or(0))
    }
}
