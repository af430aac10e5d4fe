//! The receiver: consume a work queue, let the store handle each envelope in
//! one transaction, publish the receipt with a confirm, then ack.
//!
//! The ack comes last. A crash before the commit redelivers an envelope with
//! no effect yet; a crash after it redelivers one whose UUID the inbox knows,
//! and the stored receipt is sent again instead of processing twice.
//!
//! A sale naming a reservation not integrated yet (its ItemReserve may be
//! behind it on another queue) is parked in a delay queue instead, up to the
//! configured number of times, and answered `RESERVE_NOT_FOUND` after that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use eai_protocol::Envelope;
use eai_store::{Inbound, Received, ReplyRoute, Store, WorkerIdentity};
use eai_transport::lapin::message::Delivery;
use eai_transport::lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use eai_transport::lapin::types::{AMQPValue, FieldTable};
use eai_transport::lapin::{Channel, Connection};
use eai_transport::{Outgoing, Publisher, Topology};
use futures_util::StreamExt;
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinSet;

use crate::dead_letter;
use crate::http::Readiness;
use crate::metrics::{
    ConsumerError, EnvelopeWaiting, MessageHandled, Metrics, ReceiptPublishFailed,
};

/// How long to wait before handing an envelope back when the database is unavailable,
/// so a down database does not turn into a hot redelivery loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(2);

/// The dead-letter code of an envelope the database refused for good (a bug
/// or a constraint no rule caught); it is not a receipt code.
pub const PROCESSING_FAILED: &str = "PROCESSING_FAILED";

/// The header counting how often an envelope waited in a delay queue.
pub const ATTEMPT_HEADER: &str = "x-eai-attempt";

/// What every delivery handler shares.
#[derive(Clone)]
pub struct Receiver {
    pub store: Store,
    pub publisher: Publisher,
    pub topology: Topology,
    pub identity: WorkerIdentity,
    pub metrics: Metrics,
}

impl Receiver {
    /// Consumes `queue` until `shutdown` fires, then lets in-flight envelopes
    /// finish (and be acked) before returning.
    pub async fn consume(
        &self,
        connection: &Connection,
        queue: &str,
        prefetch: u16,
        concurrency: usize,
        readiness: Arc<Readiness>,
        mut shutdown: broadcast::Receiver<()>,
    ) -> anyhow::Result<()> {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("eai-{}", uuid::Uuid::new_v4().simple());
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        readiness.set_broker(true);
        tracing::info!(queue, prefetch, concurrency, "consuming");
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        loop {
            let next = tokio::select! {
                _ = shutdown.recv() => break,
                next = consumer.next() => next,
            };
            match next {
                None => break,
                Some(Ok(delivery)) => {
                    let permit = Arc::clone(&permits).acquire_owned().await?;
                    let receiver = self.clone();
                    in_flight.spawn(async move {
                        receiver.handle(delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(error)) => {
                    readiness.set_broker(false);
                    ConsumerError {
                        queue,
                        error: &error.to_string(),
                    }
                    .emit(&self.metrics);
                    wait_for_recovery(&channel, error).await?;
                    readiness.set_broker(true);
                }
            }
            while in_flight.try_join_next().is_some() {}
        }
        readiness.set_broker(false);
        channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
            .ok();
        while in_flight.join_next().await.is_some() {}
        tracing::info!(queue, "consumer drained");
        Ok(())
    }

    /// Answers one delivery; never panics and always settles the delivery.
    #[tracing::instrument(skip_all, fields(delivery_tag = delivery.delivery_tag))]
    pub async fn handle(&self, delivery: Delivery) {
        let started = Instant::now();
        let received_at = Utc::now();
        let envelope = match Envelope::parse(&delivery.data) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                match dead_letter::reject(self, &delivery, &rejection).await {
                    Ok(()) => ack(&delivery).await,
                    Err(error) => {
                        tracing::error!(%error, "dead-lettering failed; requeueing");
                        requeue(&delivery).await;
                    }
                }
                return;
            }
        };
        let attempt = attempt_of(&delivery);
        let inbound = Inbound {
            envelope: &envelope,
            received_at,
            route: self.reply_route(&delivery, &envelope),
            may_wait: attempt < self.topology.retry_delays.len(),
        };
        let answer = match self.store.receive(&self.identity, &inbound).await {
            Ok(Received::Answered(answer)) => answer,
            Ok(Received::Waiting(reservations)) => {
                match self.retry_later(&delivery, &envelope, attempt + 1).await {
                    Ok(()) => {
                        EnvelopeWaiting {
                            uuid: envelope.uuid(),
                            transaction: &envelope.header_text("Transaction").unwrap_or_default(),
                            attempt: attempt + 1,
                            reservations: &reservations,
                        }
                        .emit(&self.metrics);
                        ack(&delivery).await;
                    }
                    Err(error) => {
                        tracing::error!(%error, "scheduling the retry failed; requeueing");
                        requeue(&delivery).await;
                    }
                }
                return;
            }
            Err(error) if error.is_retryable() => {
                tracing::error!(uuid = envelope.uuid(), %error, "database unavailable; envelope requeued");
                requeue(&delivery).await;
                return;
            }
            Err(error) => {
                let reason = format!("the database refused envelope {}: {error}", envelope.uuid());
                match dead_letter::dead_letter(self, &delivery, PROCESSING_FAILED, &reason).await {
                    Ok(()) => ack(&delivery).await,
                    Err(error) => {
                        tracing::error!(%error, "dead-lettering failed; requeueing");
                        requeue(&delivery).await;
                    }
                }
                return;
            }
        };
        let published = self
            .publisher
            .publish(&Outgoing {
                exchange: &answer.route.exchange,
                routing_key: &answer.route.routing_key,
                body: answer.body.as_bytes(),
                correlation_id: answer.route.correlation_id.as_deref(),
                mandatory: false,
                ..Outgoing::default()
            })
            .await;
        match published {
            Ok(()) if !answer.duplicate => {
                if let Err(error) = self.store.mark_published(answer.receipt_id).await {
                    tracing::warn!(%error, "receipt published but not marked; the relay may send it again");
                }
            }
            Ok(()) => {}
            Err(error) => {
                let error = error.to_string();
                ReceiptPublishFailed {
                    uuid: envelope.uuid(),
                    error: &error,
                }
                .emit(&self.metrics);
                self.store
                    .mark_publish_failed(answer.receipt_id, &error)
                    .await
                    .ok();
            }
        }
        ack(&delivery).await;
        MessageHandled {
            uuid: envelope.uuid(),
            transaction: &envelope.header_text("Transaction").unwrap_or_default(),
            ok: answer.ok,
            duplicate: answer.duplicate,
            elapsed: started.elapsed(),
        }
        .emit(&self.metrics);
    }

    /// Parks the delivery in the delay queue of `attempt`; it comes back to its
    /// work queue when the delay expires, with the same properties.
    async fn retry_later(
        &self,
        delivery: &Delivery,
        envelope: &Envelope,
        attempt: usize,
    ) -> Result<(), eai_transport::TransportError> {
        let transaction = envelope.header_text("Transaction").unwrap_or_default();
        let work_queue = self
            .topology
            .queue_for(&transaction)
            .unwrap_or(delivery.routing_key.as_str());
        let delay_queue = Topology::retry_queue(work_queue, attempt);
        let properties = &delivery.properties;
        let correlation_id = properties
            .correlation_id()
            .as_ref()
            .map(|id| id.to_string());
        let message_id = properties.message_id().as_ref().map(|id| id.to_string());
        let reply_to = properties.reply_to().as_ref().map(|to| to.to_string());
        self.publisher
            .publish(&Outgoing {
                exchange: "",
                routing_key: &delay_queue,
                body: &delivery.data,
                correlation_id: correlation_id.as_deref(),
                message_id: message_id.as_deref(),
                reply_to: reply_to.as_deref(),
                mandatory: true,
                headers: vec![(ATTEMPT_HEADER, attempt.to_string())],
            })
            .await
    }

    /// `reply_to` when the sender gave one, else the receipts exchange keyed by the sender.
    fn reply_route(&self, delivery: &Delivery, envelope: &Envelope) -> ReplyRoute {
        match delivery.properties.reply_to() {
            Some(reply_to) if !reply_to.as_str().is_empty() => ReplyRoute {
                exchange: String::new(),
                routing_key: reply_to.to_string(),
                correlation_id: Some(envelope.uuid().to_owned()),
            },
            _ => ReplyRoute {
                exchange: self.topology.receipts_exchange.clone(),
                routing_key: envelope
                    .header_text("SourceApplication")
                    .unwrap_or_else(|| "unknown".to_owned()),
                correlation_id: Some(envelope.uuid().to_owned()),
            },
        }
    }
}

/// How many times an envelope was already put back to wait (0 the first time).
fn attempt_of(delivery: &Delivery) -> usize {
    let value = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(ATTEMPT_HEADER).cloned());
    match value {
        Some(AMQPValue::LongString(text)) => text.to_string().parse().unwrap_or(0),
        _ => 0,
    }
}

async fn wait_for_recovery(
    channel: &Channel,
    error: eai_transport::lapin::Error,
) -> anyhow::Result<()> {
    channel
        .wait_for_recovery(error)
        .await
        .map_err(|error| anyhow::anyhow!("the broker connection could not be recovered: {error}"))
}

async fn ack(delivery: &Delivery) {
    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(%error, "ack failed; the broker will redeliver and the inbox will answer it");
    }
}

async fn requeue(delivery: &Delivery) {
    tokio::time::sleep(REQUEUE_PAUSE).await;
    let options = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    if let Err(error) = delivery.acker.nack(options).await {
        tracing::warn!(%error, "nack failed; the broker will redeliver when the channel closes");
    }
}
