//! The numbers an operator checks first: envelopes per transaction and
//! status over the last hour and day, the outbound backlog and its oldest
//! message, the blocked destinations, what is pending. On SQLite the last
//! hour and day start at times computed here and bound.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{on_pool, Pool};
use crate::{Store, StoreError};

/// Envelopes of one transaction and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, ToSchema)]
pub struct EnvelopeCount {
    pub transaction: String,
    pub status: String,
    pub last_hour: i64,
    pub last_day: i64,
}

/// The overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Overview {
    pub envelopes: Vec<EnvelopeCount>,
    /// Outbound messages and receipts not delivered yet (waiting, running, failed, not delivered).
    pub backlog: i64,
    /// When the oldest of them was created.
    pub oldest: Option<DateTime<Utc>>,
    pub blocked_destinations: Vec<String>,
    /// Inbound errors, waiting sales and open dead letters not discarded (a cheap count of what is pending inbound).
    pub inbound_problems: i64,
}

impl Store {
    /// The overview, now.
    pub async fn overview(&self) -> Result<Overview, StoreError> {
        let envelopes: Vec<EnvelopeCount> = match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT transaction, coalesce(status, 'processing') AS status,
                            count(*) FILTER (WHERE received_at > now() - interval '1 hour') AS last_hour,
                            count(*) AS last_day
                       FROM inbox WHERE received_at > now() - interval '1 day'
                      GROUP BY 1, 2 ORDER BY 1, 2",
                )
                .fetch_all(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                let now = Utc::now();
                sqlx::query_as(
                    "SELECT \"transaction\", coalesce(status, 'processing') AS status,
                            count(*) FILTER (WHERE received_at > $1) AS last_hour,
                            count(*) AS last_day
                       FROM inbox WHERE received_at > $2
                      GROUP BY 1, 2 ORDER BY 1, 2",
                )
                .bind(now - TimeDelta::hours(1))
                .bind(now - TimeDelta::days(1))
                .fetch_all(pool)
                .await?
            }
        };
        let outbound = self.backlog().await?;
        let blocked_destinations: Vec<String> = on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT name FROM destinations WHERE blocked ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        let inbound_problems: i64 = on_pool!(&self.pool, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM inbox
                          WHERE status IN ('error', 'waiting') AND discarded_at IS NULL)
                      + (SELECT count(*) FROM dead_letters
                          WHERE replayed_at IS NULL AND discarded_at IS NULL)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(Overview {
            envelopes,
            backlog: outbound.pending_count(None),
            oldest: outbound.oldest_pending(None),
            blocked_destinations,
            inbound_problems,
        })
    }
}
