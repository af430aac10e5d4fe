//! The inbound queue of a worker that runs without a broker (migration
//! 0014). Envelopes are queued, claimed under a lease (renewed while they
//! are handled) and settled exactly as the broker's deliveries are: deleted
//! once answered (the ack, after the commit), visible again at once to be
//! tried again (a requeue), or hidden until later (a delay). Every settlement
//! names its [`Claim`], so a worker whose lease ran out never settles what
//! another worker holds. A worker that dies holding a claim
//! leaves the envelope to come back, redelivered, when the lease ends; the
//! inbox answers it from there as it answers a broker's redelivery.
//!
//! On PostgreSQL a claim skips the rows another claim is locking (`SKIP
//! LOCKED`); on SQLite claims are transactions that run one at a time, so a
//! claim simply sees the rows earlier claims hid. Either way a lease is a
//! `visible_at` in the future.

use std::time::Duration;

use chrono::Utc;
use sqlx::FromRow;

use crate::db::{after, on_conn, on_pool, Conn, Pool};
use crate::{Store, StoreError};

/// An envelope to queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queued<'a> {
    /// Which work it is (its `Header.Transaction`), as a broker's routing key.
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    /// How long it stays out of sight before it can be claimed.
    pub delay: Duration,
}

/// Which claim of which queued envelope: a later claim of the same row (its
/// lease ran out) has another count, so an earlier one can no longer settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub deliveries: i32,
}

/// An envelope claimed from the queue, hidden from other claims until its
/// lease ends.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct QueuedEnvelope {
    pub id: i64,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    pub message_id: Option<String>,
    /// Claims so far, this one included: more than one means redelivered.
    pub deliveries: i32,
}

impl QueuedEnvelope {
    /// This claim of it.
    pub fn claim(&self) -> Claim {
        Claim {
            id: self.id,
            deliveries: self.deliveries,
        }
    }
}

impl Store {
    /// Queues an envelope; idle receivers are woken.
    pub async fn enqueue(&self, envelope: &Queued<'_>) -> Result<(), StoreError> {
        enqueue_in(&mut self.pool.acquire().await?.conn(), envelope).await?;
        self.written();
        Ok(())
    }

    /// Claims up to `limit` visible envelopes, oldest first, each hidden for
    /// `lease`; several workers never claim the same one at once.
    pub async fn claim_queued(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedEnvelope>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let pool = match &self.pool {
            Pool::Postgres(pool) => pool,
            Pool::Sqlite(_) => return self.claim_queued_in_sqlite(limit, lease).await,
        };
        Ok(sqlx::query_as(
            "UPDATE inbound_queue SET deliveries = deliveries + 1,
                    visible_at = now() + make_interval(secs => $2)
              WHERE id IN (SELECT id FROM inbound_queue
                            WHERE visible_at <= now()
                            ORDER BY visible_at, id LIMIT $1
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, routing_key, body, reply_to, correlation_id, message_id, deliveries",
        )
        .bind(limit)
        .bind(lease.as_secs_f64())
        .fetch_all(pool)
        .await?)
    }

    /// [`Store::claim_queued`] on SQLite: in a transaction, which no other
    /// claim runs beside, so nothing is locked or skipped.
    async fn claim_queued_in_sqlite(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<QueuedEnvelope>, StoreError> {
        let mut tx = self.begin().await?;
        let now = Utc::now();
        let claimed = on_conn!(&mut tx.conn(), conn => {
            sqlx::query_as(
                "UPDATE inbound_queue SET deliveries = deliveries + 1, visible_at = $2
                  WHERE id IN (SELECT id FROM inbound_queue
                                WHERE visible_at <= $3
                                ORDER BY visible_at, id LIMIT $1)
              RETURNING id, routing_key, body, reply_to, correlation_id, message_id, deliveries",
            )
            .bind(limit)
            .bind(after(now, lease))
            .bind(now)
            .fetch_all(conn)
            .await?
        });
        tx.commit().await?;
        Ok(claimed)
    }

    /// Takes an answered (or dead-lettered) envelope off the queue, if this
    /// claim still holds it: one whose lease ran out and that another worker
    /// claimed since is left to that worker (the inbox answers it there).
    pub async fn dequeue(&self, claim: Claim) -> Result<(), StoreError> {
        self.on_claim(Settling::Dequeue, claim).await.map(drop)
    }

    /// Gives a claimed envelope back, to be claimed again at once (it will
    /// count as redelivered), if this claim still holds it.
    pub async fn release_queued(&self, claim: Claim) -> Result<(), StoreError> {
        self.on_claim(Settling::Release, claim).await.map(drop)
    }

    /// Keeps a claimed envelope hidden for another `lease` while it is being
    /// handled; false when this claim no longer holds it.
    pub async fn renew_claim(&self, claim: Claim, lease: Duration) -> Result<bool, StoreError> {
        self.on_claim(Settling::Renew(lease), claim).await
    }

    /// Parks a claimed envelope: it comes back after `delay` as a fresh
    /// delivery (not a redelivery), in the same row, so there is never a
    /// second copy. The claim no longer holds it: settling it changes nothing.
    pub async fn park_queued(&self, claim: Claim, delay: Duration) -> Result<(), StoreError> {
        self.on_claim(Settling::Park(delay), claim).await.map(drop)
    }

    /// Does `settling` to `claim`'s row if the claim still holds it; true
    /// when it did.
    async fn on_claim(&self, settling: Settling, claim: Claim) -> Result<bool, StoreError> {
        let rows = match &self.pool {
            Pool::Postgres(pool) => {
                let sql = format!(
                    "{} WHERE id = $1 AND deliveries = $2",
                    settling.postgres_sql()
                );
                let mut query = sqlx::query(&sql).bind(claim.id).bind(claim.deliveries);
                if let Settling::Renew(seconds) | Settling::Park(seconds) = settling {
                    query = query.bind(seconds.as_secs_f64());
                }
                query.execute(pool).await?.rows_affected()
            }
            Pool::Sqlite(pool) => {
                let sql = format!(
                    "{} WHERE id = $1 AND deliveries = $2",
                    settling.sqlite_sql()
                );
                let mut query = sqlx::query(&sql).bind(claim.id).bind(claim.deliveries);
                if let Some(hidden_for) = settling.hidden_for() {
                    query = query.bind(after(Utc::now(), hidden_for));
                }
                query.execute(pool).await?.rows_affected()
            }
        };
        Ok(rows == 1)
    }

    /// Envelopes queued, claimed or not.
    pub async fn queued_count(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT count(*) FROM inbound_queue")
                .fetch_one(pool)
                .await?
        }))
    }
}

/// What settling a claim does to its row.
#[derive(Debug, Clone, Copy)]
enum Settling {
    /// Deletes it (answered, or dead-lettered).
    Dequeue,
    /// Makes it visible again at once.
    Release,
    /// Hides it for this much longer.
    Renew(Duration),
    /// Hides it for this long as a fresh delivery.
    Park(Duration),
}

impl Settling {
    /// How long the row stays out of sight from now, unless it is deleted.
    fn hidden_for(self) -> Option<Duration> {
        match self {
            Settling::Dequeue => None,
            Settling::Release => Some(Duration::ZERO),
            Settling::Renew(lease) => Some(lease),
            Settling::Park(delay) => Some(delay),
        }
    }

    /// The statement on PostgreSQL, `$3` the seconds hidden.
    fn postgres_sql(self) -> &'static str {
        match self {
            Settling::Dequeue => "DELETE FROM inbound_queue",
            Settling::Release => "UPDATE inbound_queue SET visible_at = now()",
            Settling::Renew(_) => {
                "UPDATE inbound_queue SET visible_at = now() + make_interval(secs => $3)"
            }
            Settling::Park(_) => {
                "UPDATE inbound_queue SET visible_at = now() + make_interval(secs => $3),
                    deliveries = 0"
            }
        }
    }

    /// The statement on SQLite, `$3` when the row becomes visible.
    fn sqlite_sql(self) -> &'static str {
        match self {
            Settling::Dequeue => "DELETE FROM inbound_queue",
            Settling::Release | Settling::Renew(_) => "UPDATE inbound_queue SET visible_at = $3",
            Settling::Park(_) => "UPDATE inbound_queue SET visible_at = $3, deliveries = 0",
        }
    }
}

/// Queues an envelope on `conn` (in the caller's transaction, if any).
pub(crate) async fn enqueue_in(
    conn: &mut Conn<'_>,
    envelope: &Queued<'_>,
) -> Result<(), StoreError> {
    match conn {
        Conn::Postgres(conn) => {
            sqlx::query(
                "INSERT INTO inbound_queue (routing_key, body, reply_to, correlation_id, message_id,
                                            visible_at)
                 VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
            )
            .bind(envelope.routing_key)
            .bind(envelope.body)
            .bind(envelope.reply_to)
            .bind(envelope.correlation_id)
            .bind(envelope.message_id)
            .bind(envelope.delay.as_secs_f64())
            .execute(&mut **conn)
            .await?;
        }
        Conn::Sqlite(conn) => {
            sqlx::query(
                "INSERT INTO inbound_queue (routing_key, body, reply_to, correlation_id, message_id,
                                            visible_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(envelope.routing_key)
            .bind(envelope.body)
            .bind(envelope.reply_to)
            .bind(envelope.correlation_id)
            .bind(envelope.message_id)
            .bind(after(Utc::now(), envelope.delay))
            .execute(&mut **conn)
            .await?;
        }
    }
    Ok(())
}
