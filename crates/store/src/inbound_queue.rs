//! The inbound queue of a worker that runs without a broker (migration
//! 0014). Envelopes are queued, claimed under a lease (renewed while they
//! are handled) and settled exactly as the broker's deliveries are: deleted
//! once answered (the ack, after the commit), visible again at once to be
//! tried again (a requeue), or hidden until later (a delay). Every settlement
//! names its [`Claim`], so a worker whose lease ran out never settles what
//! another worker holds. A worker that dies holding a claim
//! leaves the envelope to come back, redelivered, when the lease ends; the
//! inbox answers it from there as it answers a broker's redelivery.

use std::time::Duration;

use sqlx::FromRow;

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
        .execute(self.pool.postgres()?)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` visible envelopes, oldest first, each hidden for
    /// `lease`; several workers never claim the same one at once.
    pub async fn claim_queued(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<QueuedEnvelope>, StoreError> {
        Ok(sqlx::query_as(
            "UPDATE inbound_queue SET deliveries = deliveries + 1,
                    visible_at = now() + make_interval(secs => $2)
              WHERE id IN (SELECT id FROM inbound_queue
                            WHERE visible_at <= now()
                            ORDER BY visible_at, id LIMIT $1
                              FOR UPDATE SKIP LOCKED)
          RETURNING id, routing_key, body, reply_to, correlation_id, message_id, deliveries",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(lease.as_secs_f64())
        .fetch_all(self.pool.postgres()?)
        .await?)
    }

    /// Takes an answered (or dead-lettered) envelope off the queue, if this
    /// claim still holds it: one whose lease ran out and that another worker
    /// claimed since is left to that worker (the inbox answers it there).
    pub async fn dequeue(&self, claim: Claim) -> Result<(), StoreError> {
        self.on_claim("DELETE FROM inbound_queue", claim, None)
            .await
            .map(drop)
    }

    /// Gives a claimed envelope back, to be claimed again at once (it will
    /// count as redelivered), if this claim still holds it.
    pub async fn release_queued(&self, claim: Claim) -> Result<(), StoreError> {
        self.on_claim("UPDATE inbound_queue SET visible_at = now()", claim, None)
            .await
            .map(drop)
    }

    /// Keeps a claimed envelope hidden for another `lease` while it is being
    /// handled; false when this claim no longer holds it.
    pub async fn renew_claim(&self, claim: Claim, lease: Duration) -> Result<bool, StoreError> {
        self.on_claim(
            "UPDATE inbound_queue SET visible_at = now() + make_interval(secs => $3)",
            claim,
            Some(lease),
        )
        .await
    }

    /// Parks a claimed envelope: it comes back after `delay` as a fresh
    /// delivery (not a redelivery), in the same row, so there is never a
    /// second copy. The claim no longer holds it: settling it changes nothing.
    pub async fn park_queued(&self, claim: Claim, delay: Duration) -> Result<(), StoreError> {
        self.on_claim(
            "UPDATE inbound_queue SET visible_at = now() + make_interval(secs => $3),
                    deliveries = 0",
            claim,
            Some(delay),
        )
        .await
        .map(drop)
    }

    /// Runs `statement` (`$3`: `seconds`) on `claim`'s row if the claim
    /// still holds it; true when it did.
    async fn on_claim(
        &self,
        statement: &str,
        claim: Claim,
        seconds: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let sql = format!("{statement} WHERE id = $1 AND deliveries = $2");
        let mut query = sqlx::query(&sql).bind(claim.id).bind(claim.deliveries);
        if let Some(seconds) = seconds {
            query = query.bind(seconds.as_secs_f64());
        }
        Ok(query.execute(self.pool.postgres()?).await?.rows_affected() == 1)
    }

    /// Envelopes queued, claimed or not.
    pub async fn queued_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM inbound_queue")
            .fetch_one(self.pool.postgres()?)
            .await?)
    }
}
