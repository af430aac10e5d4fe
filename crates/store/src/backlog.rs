//! What the outbox holds that is not delivered yet, and how old the oldest
//! of it is: the numbers behind the outbound backlog gauges. Database-wide,
//! so every worker of a fleet reads the same.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::on_pool;
use crate::log::Status;
use crate::{Store, StoreError};

/// Outbox rows of one kind (`message` or `receipt`) and status, not done
/// and not discarded.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BacklogCount {
    pub kind: String,
    pub status: Status,
    pub count: i64,
    /// When the oldest of them was created.
    pub oldest: Option<DateTime<Utc>>,
}

impl BacklogCount {
    /// Whether these rows are still to be delivered by someone (a sender or
    /// the relay), rather than waiting for a person (blocked, rejected).
    pub fn is_pending(&self) -> bool {
        matches!(
            self.status,
            Status::Waiting | Status::Running | Status::Failed | Status::NotDelivered
        )
    }
}

/// The outbound backlog now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub counts: Vec<BacklogCount>,
    /// Destinations blocked now.
    pub blocked_destinations: i64,
}

impl Backlog {
    /// Rows of `kind` (any kind when `None`) still to be delivered.
    fn pending<'a>(&'a self, kind: Option<&'a str>) -> impl Iterator<Item = &'a BacklogCount> {
        self.counts
            .iter()
            .filter(move |row| row.is_pending() && kind.is_none_or(|kind| row.kind == kind))
    }

    /// How many rows of `kind` (any when `None`) are still to be delivered.
    pub fn pending_count(&self, kind: Option<&str>) -> i64 {
        self.pending(kind).map(|row| row.count).sum()
    }

    /// When the oldest row of `kind` (any when `None`) still to be delivered was created.
    pub fn oldest_pending(&self, kind: Option<&str>) -> Option<DateTime<Utc>> {
        self.pending(kind).filter_map(|row| row.oldest).min()
    }
}

impl Store {
    /// The outbound backlog, by kind and status, and the blocked destinations.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let counts: Vec<BacklogCount> = on_pool!(&self.pool, pool => {
            sqlx::query_as(
                "SELECT kind, status, count(*) AS count, min(created_at) AS oldest FROM outbox
                  WHERE discarded_at IS NULL AND status <> 'done'
                  GROUP BY kind, status ORDER BY kind, status",
            )
            .fetch_all(pool)
            .await?
        });
        let blocked_destinations: i64 = on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT count(*) FROM destinations WHERE blocked")
                .fetch_one(pool)
                .await?
        });
        Ok(Backlog {
            counts,
            blocked_destinations,
        })
    }
}
