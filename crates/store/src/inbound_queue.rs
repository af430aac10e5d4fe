//! The inbound queue of a worker that runs without a broker (migration
//! 0014). Envelopes are queued, claimed under a lease and settled exactly as
//! the broker's deliveries are: deleted once answered (the ack, after the
//! commit), visible again at once to be tried again (a requeue), or queued
//! again to come back later (a delay). A worker that dies holding a claim
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
        .execute(&self.pool)
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
        .fetch_all(&self.pool)
        .await?)
    }

    /// Takes an answered (or dead-lettered) envelope off the queue.
    pub async fn dequeue(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM inbound_queue WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives a claimed envelope back, to be claimed again at once (it will
    /// count as redelivered).
    pub async fn release_queued(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE inbound_queue SET visible_at = now() WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Envelopes queued, claimed or not.
    pub async fn queued_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM inbound_queue")
            .fetch_one(&self.pool)
            .await?)
    }
}
