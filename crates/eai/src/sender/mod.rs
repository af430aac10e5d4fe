//! The sender: drains business messages from the outbox to their
//! destinations and settles each attempt with an EAI status.
//!
//! Claims are short transactions; a message is then delivered with no row
//! lock held, under a lease. Idle senders sleep until PostgreSQL notifies a
//! new message (`LISTEN eai_outbox`), a retry falls due, or the poll interval
//! passes — whichever comes first — so a lost notification costs at most one
//! interval.
//!
//! # Layout
//!
//! - `mod.rs` (this file): the claim loop, the retry policy and settling.
//! - [`http`]: POST to an HTTP destination and read its answer.
//! - [`amqp`]: publish to an AMQP destination and wait for its receipt.
//! - [`receipts_in`]: the consumer of the receipts destinations send back.

pub mod amqp;
pub mod http;
pub mod receipts_in;

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use eai_store::outbound::{Claimed, DestinationKind, Settlement};
use eai_store::Store;
use eai_transport::Publisher;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use crate::metrics::{DestinationBlocked, MessageAttempted, Metrics};

/// When a failed or undelivered message is tried again: exponential from
/// `min` (doubling per attempt) up to `max`, with jitter so a destination
/// coming back is not hit by every message at once.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay after attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: i32) -> Duration {
        let steps = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
        ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(steps)
            .unwrap_or(self.max)
    }
}

/// Everything a sender needs.
#[derive(Clone)]
pub struct Sender {
    pub store: Store,
    pub publisher: Publisher,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    /// This sender's name in leases and attempt history.
    pub id: String,
    pub policy: RetryPolicy,
    pub concurrency: usize,
    pub poll: Duration,
    /// Where AMQP destinations are asked to send their receipts.
    pub receipts_queue: String,
}

impl Sender {
    /// Claims and delivers until `shutdown` fires, then lets deliveries in flight settle.
    ///
    /// Claims go in batches: while more than half the delivery slots are
    /// busy, the sender waits for deliveries to finish instead of claiming
    /// one message per finished delivery, which would make the claim query
    /// the bottleneck.
    pub async fn run(self, mut shutdown: broadcast::Receiver<()>) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(self.store.pool()).await?;
        listener.listen("eai_outbox").await?;
        let slots = self.concurrency.max(1);
        let mut in_flight = JoinSet::new();
        tracing::info!(sender = %self.id, "sender started");
        'claiming: loop {
            while in_flight.len() > slots / 2 {
                tokio::select! {
                    _ = shutdown.recv() => break 'claiming,
                    _ = in_flight.join_next() => {}
                }
            }
            let free = slots - in_flight.len();
            let claimed = match self.store.claim_messages(&self.id, free as i64).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming messages failed");
                    Vec::new()
                }
            };
            let saturated = claimed.len() == free;
            for message in claimed {
                let sender = self.clone();
                in_flight.spawn(async move { sender.deliver(message).await });
            }
            if saturated {
                continue;
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = listener.recv() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        tracing::info!(sender = %self.id, "sender drained");
        Ok(())
    }

    /// Until the next retry falls due, at most the poll interval.
    async fn idle_wait(&self) -> Duration {
        match self.store.next_retry_at().await {
            Ok(Some(due)) => (due - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(10), self.poll),
            _ => self.poll,
        }
    }

    /// One attempt: deliver, then settle with the EAI status it earned.
    async fn deliver(&self, message: Claimed) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let settlement = match message.destination.kind() {
            DestinationKind::Http => http::deliver(&self.http, &message).await,
            DestinationKind::Amqp => amqp::deliver(self, &message).await,
        };
        let retry_in = self.policy.delay(message.attempt);
        let settled = self
            .store
            .settle(&message, &self.id, started_at, &settlement, retry_in)
            .await;
        match settled {
            Ok(settled) => {
                MessageAttempted {
                    uuid: &message.uuid,
                    destination: &message.destination.name,
                    transaction: &message.transaction,
                    attempt: message.attempt,
                    status: settlement.status(),
                    detail: settlement.detail(),
                    elapsed: clock.elapsed(),
                }
                .emit(&self.metrics);
                if settled.blocked_destination {
                    DestinationBlocked {
                        destination: &message.destination.name,
                        reason: settlement.detail(),
                    }
                    .emit(&self.metrics);
                }
            }
            Err(error) => {
                tracing::warn!(uuid = %message.uuid, %error, "settling failed; the lease will expire and another attempt follows");
            }
        }
    }
}

/// The settlement of an answer that timed out.
fn timed_out(message: &Claimed) -> Settlement {
    Settlement::NotDelivered(format!(
        "no answer from {} within {} ms",
        message.destination.name, message.destination.timeout_ms
    ))
}
