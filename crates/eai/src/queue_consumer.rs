//! The database's inbound queue, consumed when the worker runs without a
//! broker: claims envelopes, hands each to the receiver (or, for a
//! transaction no work queue takes, to [`Unrouted`]) and settles it as told —
//! taken off the queue once answered, given back to be tried again, or
//! dead-lettered when its handling panicked.
//!
//! At most `concurrency` envelopes are handled at once, so the batcher sees
//! as many together as over a broker. An idle consumer sleeps until an
//! envelope is queued (a notification) or its poll interval passes. A claim
//! is a lease, renewed while the envelope is handled: a worker that dies
//! holding an envelope leaves it to come back, redelivered, when the lease
//! ends, and the inbox answers it from there. On
//! shutdown it stops claiming and lets every envelope in flight finish and
//! settle.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use eai_protocol::Code;
use eai_store::inbound_queue::{Claim, QueuedEnvelope};
use eai_store::{Store, Wakeups};
use eai_transport::{Settle, Subscription};
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::inlet::Incoming;
use crate::receiver::{panic_message, Receiver};
use crate::unrouted::Unrouted;

/// Longest wait for the connection that listens for queued envelopes.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

/// The database's inbound queue and who answers its envelopes.
pub struct QueueConsumer {
    pub store: Store,
    pub receiver: Arc<Receiver>,
    pub unrouted: Arc<Unrouted>,
    /// The routing keys the work queues take (the received transactions).
    pub work: Vec<String>,
    /// Envelopes handled at once.
    pub concurrency: usize,
    /// How long a claimed envelope stays hidden from other claims.
    pub lease: Duration,
    /// Longest an idle consumer waits before it looks again.
    pub poll: Duration,
    /// Up while claims succeed: readiness and liveness follow it.
    pub subscription: Subscription,
}

impl QueueConsumer {
    /// Consumes until `shutdown` is cancelled, then drains (see the module docs).
    pub async fn run(self, shutdown: CancellationToken) {
        let consumer = Arc::new(self);
        let permits = Arc::new(Semaphore::new(consumer.concurrency));
        let mut in_flight = JoinSet::new();
        let mut wakeups: Option<Wakeups> = None;
        while !shutdown.is_cancelled() {
            while in_flight.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = in_flight.join_next() => continue,
                }
            }
            if wakeups.is_none() {
                wakeups = consumer
                    .store
                    .inbound_queue_wakeups(LISTEN_TIMEOUT)
                    .await
                    .ok();
            }
            match consumer.store.claim_queued(free, consumer.lease).await {
                Ok(claimed) => {
                    consumer.subscription.set(true);
                    if !claimed.is_empty() {
                        for envelope in claimed {
                            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                                break;
                            };
                            let consumer = Arc::clone(&consumer);
                            // Boxed, as the broker's consumer does: tokio
                            // copies a task's future when it spawns and
                            // when it finishes; a box is copied as a pointer.
                            in_flight.spawn(Box::pin(async move {
                                consumer.handle(envelope).await;
                                drop(permit);
                            }));
                        }
                        continue;
                    }
                }
                Err(error) => {
                    consumer.subscription.set(false);
                    tracing::warn!(%error, "the inbound queue could not be read; trying again");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(consumer.poll) => {}
                woke = next_wakeup(&mut wakeups) => {
                    if woke.is_err() {
                        wakeups = None;
                    }
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Answers one envelope, renewing its lease meanwhile, and settles it.
    async fn handle(&self, envelope: QueuedEnvelope) {
        let incoming = Incoming::from(&envelope);
        let claim = envelope.claim();
        let handling = AssertUnwindSafe(async {
            if self.work.iter().any(|key| key == incoming.routing_key) {
                self.receiver.handle_incoming(&incoming).await
            } else {
                self.unrouted.handle_incoming(&incoming).await
            }
        })
        .catch_unwind();
        tokio::pin!(handling);
        let handled = tokio::select! {
            handled = &mut handling => handled,
            () = self.renew(claim) => handling.await,
        };
        let settle = match handled {
            Ok(settle) => settle,
            Err(panic) => {
                let reason = format!("answering it panicked: {}", panic_message(panic.as_ref()));
                self.dead_letter(&incoming, &reason).await
            }
        };
        let settled = match settle {
            Settle::Ack => self.store.dequeue(claim).await,
            Settle::Requeue => self.store.release_queued(claim).await,
            Settle::Reject => match self.dead_letter(&incoming, "refused by its handler").await {
                Settle::Ack => self.store.dequeue(claim).await,
                _ => self.store.release_queued(claim).await,
            },
        };
        if let Err(error) = settled {
            tracing::warn!(id = envelope.id, %error, "a queued envelope was not settled; it comes back when its lease ends");
        }
    }

    /// Renews `claim`'s lease every third of it; returns once the claim no
    /// longer holds the envelope (it was parked, or another worker claimed it
    /// after a lease that could not be renewed: both answer it, the inbox
    /// makes sure only once).
    async fn renew(&self, claim: Claim) {
        let every = self.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self.store.renew_claim(claim, self.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(id = claim.id, %error, "a queued envelope's lease could not be renewed")
                }
            }
        }
    }

    /// Keeps an envelope nobody could answer as a dead letter; says how to settle it.
    async fn dead_letter(&self, incoming: &Incoming<'_>, reason: &str) -> Settle {
        let code = Code::ProcessingFailed.as_str();
        match self
            .receiver
            .dead_letters
            .dead_letter(incoming, None, code, reason)
            .await
        {
            Ok(()) => Settle::Ack,
            Err(error) => self.receiver.requeue_after(&error).await,
        }
    }
}

/// The next notification, or never while nobody listens.
async fn next_wakeup(wakeups: &mut Option<Wakeups>) -> Result<(), eai_store::StoreError> {
    match wakeups {
        Some(wakeups) => wakeups.next().await,
        None => std::future::pending().await,
    }
}
