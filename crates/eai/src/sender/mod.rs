//! The sender: drains business messages from the outbox to their
//! destinations and settles each attempt with an EAI status.
//!
//! Claims are short transactions; a message is then delivered with no row
//! lock held, under a lease. Idle senders sleep until PostgreSQL notifies a
//! new message (the store's outbox wake-ups), a retry falls due, or the poll interval
//! passes — whichever comes first — so a lost notification costs at most one
//! interval.
//!
//! # Layout
//!
//! - `mod.rs` (this file): the claim loop, the retry policy and settling.
//! - [`http`]: POST to an HTTP destination and read its answer.
//! - [`amqp`]: publish to an AMQP destination and wait for its receipt.
//! - [`settling`]: recording the attempts that finished, several at a time.
//! - [`receipts_in`]: the consumer of the receipts destinations send back.

pub mod amqp;
pub mod http;
pub mod receipts_in;
pub mod settling;

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use eai_store::outbound::{Claimed, DestinationKind, Settlement};
use eai_store::{Store, StoreError, Wakeups};
use eai_transport::Publisher;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use settling::{Finished, Settler};

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
    /// `None` without a broker: AMQP destinations cannot be reached.
    pub publisher: Option<Publisher>,
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
    /// Claims go in batches of half the delivery slots: while more than
    /// half are busy, the sender waits for deliveries to finish instead of
    /// claiming one message per finished delivery, which would make the claim
    /// query the bottleneck. A claim always asks for the same number of
    /// messages, so its statement is one per sender, prepared and planned
    /// once per connection whatever `concurrency` is.
    pub async fn run(self, stop: CancellationToken) {
        let slots = self.concurrency.max(1);
        let batch = slots - slots / 2;
        let (settling, finished) = mpsc::channel(slots);
        let settler = tokio::spawn(
            Settler {
                store: self.store.clone(),
                metrics: self.metrics.clone(),
                sender: self.id.clone(),
                finished,
                batch: slots,
            }
            .run(),
        );
        let mut in_flight = JoinSet::new();
        let mut listener = None;
        let mut trouble = Trouble::default();
        tracing::info!(sender = %self.id, "sender started");
        'claiming: loop {
            if settler.is_finished() {
                tracing::error!(sender = %self.id, "the sender's settler stopped: no attempt could be recorded; the sender stops");
                break;
            }
            while in_flight.len() > slots / 2 {
                tokio::select! {
                    () = stop.cancelled() => break 'claiming,
                    _ = in_flight.join_next() => {}
                }
            }
            if listener.is_none() {
                listener = self
                    .listen()
                    .await
                    .map_err(|error| trouble.failed("listening for new messages", &error))
                    .ok();
            }
            let claimed = match self.store.claim_messages(&self.id, batch as i64).await {
                Ok(claimed) => {
                    trouble.recovered();
                    claimed
                }
                Err(error) => {
                    let pause = trouble.failed("claiming messages", &error);
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let saturated = claimed.len() == batch;
            for message in claimed {
                let (sender, settling) = (self.clone(), settling.clone());
                in_flight.spawn(async move { sender.deliver(message, settling).await });
            }
            if saturated {
                continue;
            }
            let wait = self.idle_wait().await;
            let notified = async {
                match listener.as_mut() {
                    Some(listening) => listening.next().await,
                    None => std::future::pending().await,
                }
            };
            let lost_listener = tokio::select! {
                () = stop.cancelled() => break,
                notification = notified => notification.err(),
                () = tokio::time::sleep(wait) => None,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => None,
            };
            if let Some(error) = lost_listener {
                listener = None;
                let pause = trouble.failed("listening for new messages", &error);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
        drop(settling);
        if let Err(error) = settler.await {
            tracing::error!(sender = %self.id, %error, "the sender's settler failed");
        }
        tracing::info!(sender = %self.id, "sender drained");
    }

    /// The outbox's wake-ups, listened for within the poll interval's bound.
    async fn listen(&self) -> Result<Wakeups, StoreError> {
        self.store.outbox_wakeups(LISTEN_TIMEOUT).await
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

    /// One attempt: deliver, then wait until the settler has recorded the
    /// EAI status it earned.
    async fn deliver(&self, message: Claimed, settling: mpsc::Sender<Finished>) {
        let started_at = Utc::now();
        let clock = Instant::now();
        let settlement = match message.destination.kind() {
            DestinationKind::Http => http::deliver(&self.http, &message).await,
            DestinationKind::Amqp => amqp::deliver(self, &message).await,
        };
        let (recorded, settled) = oneshot::channel();
        let finished = Finished {
            retry_in: self.policy.delay(message.attempt),
            message,
            started_at,
            settlement,
            elapsed: clock.elapsed(),
            recorded,
        };
        if let Err(unsent) = settling.send(finished).await {
            tracing::error!(uuid = %unsent.0.message.uuid, "the sender's settler stopped; the lease will expire and another attempt follows");
            return;
        }
        settled.await.ok();
    }
}

/// Longest the sender waits for its `LISTEN` connection.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// The sender's trouble with the database: how long to pause before the next
/// try (growing while it lasts), logged once when it starts and once when it
/// ends instead of at every try.
#[derive(Default)]
struct Trouble {
    delays: Option<backon::ExponentialBackoff>,
}

impl Trouble {
    /// Another failure; returns the pause before the next try.
    fn failed(&mut self, what: &str, error: &StoreError) -> Duration {
        let delays = self.delays.get_or_insert_with(|| {
            tracing::warn!(%error, what, "the sender cannot reach the database; backing off");
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_jitter()
                .without_max_times()
                .build()
        });
        delays.next().unwrap_or(Duration::from_secs(10))
    }

    /// The database answered again.
    fn recovered(&mut self) {
        if self.delays.take().is_some() {
            tracing::info!("the sender reaches the database again");
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
