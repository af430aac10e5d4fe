//! The receiver: each delivery of a work queue is handed to the store in one
//! transaction (ItemReserve and RetailSales envelopes through the
//! [`Batcher`], which puts those held at once in one transaction), its
//! receipt published with a confirm, and only then acked.
//!
//! The ack comes last. A crash before the commit redelivers an envelope with
//! no effect yet; a crash after it redelivers one whose UUID the inbox knows,
//! and the stored receipt is sent again instead of processing twice.
//!
//! Every envelope with a usable UUID is answered; none holds a consumer slot
//! for longer than its own processing:
//!
//! - **Waiting.** A sale whose only problem is a reservation not integrated
//!   yet (its ItemReserve may be behind it on another queue) is parked in a
//!   delay queue, up to `receiver.reserve_retry_delays`, then answered
//!   `RESERVE_NOT_FOUND`. The count is kept in the database by UUID.
//! - **Database unavailable** (an outage, not the envelope's fault): the
//!   delivery waits, unacked, until the database answers again, then runs
//!   again; never counted against it.
//! - **Failing** (the transaction keeps failing though the database is up:
//!   a lock held elsewhere, a statement timing out): after its immediate
//!   retries it is parked in a delay queue (`receiver.failure_retry_delays`),
//!   then, when those are spent, answered `PROCESSING_FAILED` and
//!   dead-lettered.
//! - **Refused for good** (the database cannot store its data): answered
//!   `PROCESSING_FAILED` and dead-lettered at once. So is an envelope that
//!   was redelivered after killing its worker `receiver.redelivery_limit` times.
//!
//! The paths few envelopes take (alone in the store, waiting, failing, given
//! up, dead-lettered) are boxed where [`Receiver::receive`] awaits them, so
//! the future every delivery carries holds only the common path: tokio copies
//! a task's whole future when it spawns it and again when it finishes
//! (BENCHMARKS.md, "What a delivery's task weighs").

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use eai_protocol::{Code, Detail, Envelope, Receipt, Transaction};
use eai_store::{
    Answer, Failure, Inbound, Received, ReplyRoute, Store, StoreError, WorkerIdentity,
};
use eai_transport::lapin::message::Delivery;
use eai_transport::{Handler, Settle, Topology, TransportError};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::batcher::Batcher;
use crate::dead_letter::DeadLetters;
use crate::health::Health;
use crate::inlet::{Incoming, Inlet, InletError};
use crate::memory::MemoryReturn;
use crate::metrics::{
    DatabaseUnavailable, EnvelopeFailed, EnvelopeWaiting, MessageHandled, Metrics,
    ReceiptPublishFailed,
};

/// How long a delivery whose dead-lettering failed (the broker is away)
/// waits before it goes back to its queue, so that is not a hot loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// The AMQP routing key limit (a short string): a receipt keyed by a longer
/// `SourceApplication` gets it cut.
pub(crate) const MAX_ROUTING_KEY_BYTES: usize = 255;

/// When envelopes wait and retry.
#[derive(Debug, Clone)]
pub struct RetryPlan {
    /// The delays a sale waits for reservations not integrated yet.
    pub reserve_delays: Vec<Duration>,
    /// The delays before each later try of a failing envelope.
    pub failure_delays: Vec<Duration>,
    /// Times a redelivered envelope may start again before it is refused.
    pub redelivery_limit: usize,
    /// The first delay of a receipt whose publication failed (the relay's).
    pub receipt_retry: Duration,
}

/// Everything the deliveries of one work queue share.
pub struct Receiver {
    pub store: Store,
    /// Where ItemReserve and RetailSales envelopes go, to be stored several to a transaction.
    pub batcher: Batcher,
    /// Where envelopes are parked and receipts delivered.
    pub inlet: Inlet,
    pub dead_letters: DeadLetters,
    pub topology: Topology,
    pub identity: WorkerIdentity,
    pub metrics: Metrics,
    pub health: Arc<Health>,
    pub retries: RetryPlan,
    /// The work queue consumed (a broker's delay queues lead back to it).
    pub queue: String,
    /// Cancelled when the worker shuts down: a delivery waiting for the
    /// database goes back to its queue instead.
    pub shutdown: CancellationToken,
    /// Shared by every receiver: memory is given back when none is busy.
    pub memory: Arc<MemoryReturn>,
}

impl Handler for Receiver {
    async fn handle(&self, delivery: &Delivery) -> Settle {
        self.handle_incoming(&Incoming::from(delivery)).await
    }
}

/// An envelope being answered: what every step needs to know about it.
struct Arrival<'a> {
    incoming: &'a Incoming<'a>,
    envelope: &'a Envelope<'a>,
    inbound: Inbound<'a>,
    transaction: String,
    started: Instant,
}

impl Receiver {
    /// Answers one envelope, from the broker or the database's queue, and
    /// says how to settle it.
    pub async fn handle_incoming(&self, incoming: &Incoming<'_>) -> Settle {
        let _handling = self.memory.handling(incoming.body.len());
        self.receive(incoming).await
    }

    /// Answers one delivery and says how to settle it; never panics.
    #[tracing::instrument(skip_all, fields(queue = %self.queue, delivery_tag = incoming.tag))]
    async fn receive(&self, incoming: &Incoming<'_>) -> Settle {
        let started = Instant::now();
        let received_at = Utc::now();
        let envelope = match Envelope::parse(incoming.body) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                return match Box::pin(self.dead_letters.reject(incoming, &rejection)).await {
                    Ok(()) => Settle::Ack,
                    Err(error) => self.requeue_after(&error).await,
                }
            }
        };
        let arrival = Arrival {
            incoming,
            envelope: &envelope,
            inbound: Inbound {
                envelope: &envelope,
                body: incoming.body,
                received_at,
                route: self.reply_route(incoming, &envelope),
                max_waits: self.retries.reserve_delays.len(),
            },
            transaction: envelope.header_label("Transaction"),
            started,
        };
        if incoming.redelivered {
            match self
                .until_database(envelope.uuid(), || {
                    self.store.record_redelivery(envelope.uuid())
                })
                .await
            {
                Some(Ok(starts)) if starts > self.retries.redelivery_limit => {
                    // One already answered (its workers died after the
                    // commit, or its receipt could not be published) is no
                    // poison: its stored receipt goes out again below.
                    match self
                        .until_database(envelope.uuid(), || {
                            self.store.stored_receipt(envelope.uuid())
                        })
                        .await
                    {
                        Some(Ok(Some(_))) => {}
                        Some(_) => {
                            let reason = format!(
                                "redelivered and started {starts} times without finishing: it may be what stops the workers that take it"
                            );
                            return Box::pin(self.give_up(&arrival, &reason)).await;
                        }
                        None => return Settle::Requeue,
                    }
                }
                Some(_) => {}
                None => return Settle::Requeue,
            }
        }
        let batched = incoming.body.len() <= Batcher::MAX_BODY
            && matches!(
                envelope.transaction(),
                Ok(Transaction::ItemReserve | Transaction::RetailSales)
            );
        let processed = AssertUnwindSafe(self.until_database(envelope.uuid(), || async {
            if batched {
                self.batcher.receive(&arrival.inbound).await
            } else {
                Box::pin(self.store.receive(&self.identity, &arrival.inbound)).await
            }
        }))
        .catch_unwind()
        .await;
        match processed {
            Ok(Some(Ok(Received::Answered(answer)))) => self.answer(&arrival, answer).await,
            Ok(Some(Ok(Received::Waiting { reservations, wait }))) => {
                Box::pin(self.wait(&arrival, &reservations, wait)).await
            }
            Ok(Some(Err(error))) if error.failure() == Failure::Permanent => {
                let reason = format!("the database refused it: {error}");
                Box::pin(self.give_up(&arrival, &reason)).await
            }
            Ok(Some(Err(error))) => Box::pin(self.failed(&arrival, &error)).await,
            Ok(None) => Settle::Requeue,
            Err(panic) => {
                let reason = format!("processing panicked: {}", panic_message(panic.as_ref()));
                Box::pin(self.give_up(&arrival, &reason)).await
            }
        }
    }

    /// Publishes the receipt (the outbox has it whatever happens) and acks.
    async fn answer(&self, arrival: &Arrival<'_>, answer: Answer) -> Settle {
        let settle = self.publish_receipt(arrival.envelope.uuid(), &answer).await;
        MessageHandled {
            uuid: arrival.envelope.uuid(),
            transaction: &arrival.transaction,
            ok: answer.ok,
            duplicate: answer.duplicate,
            receipt: &answer.body,
            elapsed: arrival.started.elapsed(),
        }
        .emit(&self.metrics);
        settle
    }

    /// Parks a sale waiting for its reservations in the delay queue of its wait.
    async fn wait(&self, arrival: &Arrival<'_>, reservations: &[String], wait: usize) -> Settle {
        let Some(delay) = self.retries.reserve_delays.get(wait.saturating_sub(1)) else {
            return Settle::Requeue;
        };
        match self
            .inlet
            .park(
                arrival.incoming,
                &self.queue,
                *delay,
                "waiting for its reservations",
            )
            .await
        {
            Ok(()) => {
                EnvelopeWaiting {
                    uuid: arrival.envelope.uuid(),
                    transaction: &arrival.transaction,
                    wait,
                    reservations,
                }
                .emit(&self.metrics);
                Settle::Ack
            }
            Err(error) => self.requeue_after(&error).await,
        }
    }

    /// Processing failed though the database is up: park it for a later try,
    /// or give up when its tries are spent.
    async fn failed(&self, arrival: &Arrival<'_>, error: &StoreError) -> Settle {
        let uuid = arrival.envelope.uuid();
        let error = error.to_string();
        let failures = match self
            .until_database(uuid, || self.store.record_failure(uuid, &error))
            .await
        {
            Some(Ok(failures)) => failures,
            Some(Err(_)) | None => return Settle::Requeue,
        };
        let Some(delay) = self
            .retries
            .failure_delays
            .get(failures.saturating_sub(1))
            .copied()
        else {
            let reason = format!("failed {failures} times: {error}");
            return self.give_up(arrival, &reason).await;
        };
        match self
            .inlet
            .park(arrival.incoming, &self.queue, delay, "processing failed")
            .await
        {
            Ok(()) => {
                EnvelopeFailed {
                    uuid,
                    transaction: &arrival.transaction,
                    failures,
                    retry_in: Some(delay),
                    error: &error,
                }
                .emit(&self.metrics);
                Settle::Ack
            }
            Err(publish) => self.requeue_after(&publish).await,
        }
    }

    /// Answers `PROCESSING_FAILED` with `reason` and dead-letters the envelope.
    async fn give_up(&self, arrival: &Arrival<'_>, reason: &str) -> Settle {
        let uuid = arrival.envelope.uuid();
        let detail = Detail::error(Code::ProcessingFailed, reason);
        if let Err(error) = self
            .dead_letters
            .dead_letter(
                arrival.incoming,
                Some(uuid),
                Code::ProcessingFailed.as_str(),
                reason,
            )
            .await
        {
            return self.requeue_after(&error).await;
        }
        let refused = self
            .until_database(uuid, || {
                self.store.refuse(&self.identity, &arrival.inbound, &detail)
            })
            .await;
        match refused {
            Some(Ok(answer)) => {
                if self.publish_receipt(uuid, &answer).await == Settle::Requeue {
                    return Settle::Requeue;
                }
            }
            Some(Err(error)) => {
                // Even the refusal could not be stored: answer without the
                // outbox (the dead letter keeps the envelope for an operator).
                tracing::error!(uuid, %error, "the refusal could not be stored; answering directly");
                let receipt = Receipt::new(
                    &self.identity,
                    &arrival.envelope.summary(),
                    arrival.inbound.received_at,
                    Utc::now(),
                    vec![detail],
                    Vec::new(),
                );
                if let Err(error) = self
                    .inlet
                    .deliver_unstored(&arrival.inbound.route, &receipt.to_bytes())
                    .await
                {
                    tracing::error!(uuid, %error, "the direct answer was not delivered either");
                }
            }
            None => return Settle::Requeue,
        }
        EnvelopeFailed {
            uuid,
            transaction: &arrival.transaction,
            failures: 0,
            retry_in: None,
            error: reason,
        }
        .emit(&self.metrics);
        Settle::Ack
    }

    /// Runs a store operation; while the database is unavailable, waits for
    /// it and runs it again. `None` when the worker shuts down meanwhile.
    pub(crate) async fn until_database<T, F, Fut>(
        &self,
        uuid: &str,
        operation: F,
    ) -> Option<Result<T, StoreError>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        loop {
            match operation().await {
                Err(error) if error.failure() == Failure::Outage => {
                    DatabaseUnavailable {
                        uuid,
                        error: &error.to_string(),
                    }
                    .emit(&self.metrics);
                    self.health.database_down();
                    if !self.health.database_back(&self.shutdown).await {
                        return None;
                    }
                }
                outcome => return Some(outcome),
            }
        }
    }

    /// Delivers a receipt (on a broker: publishes it `mandatory` with a
    /// confirm) and says how to settle its delivery.
    ///
    /// The receipt was stored as delivered when its envelope was answered: a
    /// confirmed publication needs no second write. One the broker returned
    /// or did not confirm is handed to the relay (marked `waiting`), never
    /// counted as delivered, and the delivery is acked. When even that mark
    /// cannot be written, the delivery goes back to its queue: it comes back
    /// answered, and the stored receipt is published again, byte for byte.
    pub(crate) async fn publish_receipt(&self, uuid: &str, answer: &Answer) -> Settle {
        let published = self
            .inlet
            .deliver(&answer.route, answer.body.as_bytes())
            .await;
        let Err(error) = published else {
            if answer.duplicate {
                // A re-sent UUID may reach its sender where the first
                // publication could not (a new reply_to): the relay stops.
                if let Err(error) = self.store.mark_published(answer.receipt_id).await {
                    tracing::warn!(uuid, %error, "the republished receipt was not marked published; the relay may send it again");
                }
            }
            return Settle::Ack;
        };
        let error_text = error.to_string();
        ReceiptPublishFailed {
            uuid,
            returned: matches!(error, InletError::Broker(TransportError::Unroutable { .. })),
            error: &error_text,
        }
        .emit(&self.metrics);
        match self
            .store
            .mark_publish_failed(answer.receipt_id, &error_text, self.retries.receipt_retry)
            .await
        {
            Ok(()) => Settle::Ack,
            Err(error) => {
                tracing::warn!(uuid, %error, "the failed publication was not recorded; the envelope goes back to its queue to be answered again");
                self.pause().await;
                Settle::Requeue
            }
        }
    }

    /// The broker would not take what had to be published: give the delivery
    /// back after a pause.
    pub(crate) async fn requeue_after(&self, error: &InletError) -> Settle {
        tracing::error!(%error, "publishing failed; the delivery goes back to its queue");
        self.pause().await;
        Settle::Requeue
    }

    /// Waits [`REQUEUE_PAUSE`] (less when the worker shuts down) before a
    /// delivery goes back to its queue, so that is not a hot loop.
    async fn pause(&self) {
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = tokio::time::sleep(REQUEUE_PAUSE) => {}
        }
    }

    /// `reply_to` when the sender gave one, else the receipts exchange keyed by the sender.
    pub(crate) fn reply_route(
        &self,
        incoming: &Incoming<'_>,
        envelope: &Envelope<'_>,
    ) -> ReplyRoute {
        reply_route(&self.topology, envelope, incoming.reply_to)
    }
}

/// Where an envelope's receipt goes: `reply_to` when the sender gave one,
/// else the receipts exchange keyed by its `SourceApplication`.
pub fn reply_route(
    topology: &Topology,
    envelope: &Envelope<'_>,
    reply_to: Option<&str>,
) -> ReplyRoute {
    match reply_to {
        Some(reply_to) if !reply_to.is_empty() => ReplyRoute {
            exchange: String::new(),
            routing_key: reply_to.to_owned(),
            correlation_id: Some(envelope.uuid().to_owned()),
        },
        _ => {
            let mut sender = envelope.header_label("SourceApplication");
            if sender.is_empty() {
                sender = "unknown".to_owned();
            }
            ReplyRoute {
                exchange: topology.receipts_exchange.clone(),
                routing_key: cut_bytes(&sender, MAX_ROUTING_KEY_BYTES).to_owned(),
                correlation_id: Some(envelope.uuid().to_owned()),
            }
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut_bytes(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The text a panic carried, when it carried one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_s_text_is_read_whatever_its_type() {
        let from_str: Box<dyn std::any::Any + Send> = Box::new("lost a lot");
        let from_string: Box<dyn std::any::Any + Send> = Box::new(String::from("overflow"));
        let opaque: Box<dyn std::any::Any + Send> = Box::new(42_u8);
        assert_eq!(panic_message(from_str.as_ref()), "lost a lot");
        assert_eq!(panic_message(from_string.as_ref()), "overflow");
        assert_eq!(panic_message(opaque.as_ref()), "no message");
    }

    #[test]
    fn routing_keys_are_cut_at_a_character_boundary() {
        assert_eq!(cut_bytes("ECOMMERCE", 255), "ECOMMERCE");
        let wide = "é".repeat(200);
        let cut = cut_bytes(&wide, 255);
        assert_eq!(cut.len(), 254, "127 two-byte characters");
    }
}
