//! The dead-letter queue (`eai.dead`), drained into the database so that
//! operators can list, replay and discard dead letters through the API and
//! the CLI. Each is acked only once recorded; the worker's own dead letters
//! carry an id, so a redelivery is recorded once. Messages the broker
//! dead-lettered by itself (a rejected delivery) are recorded with the
//! broker's reason, identified by their content and where they died.

use std::future::Future;
use std::time::Duration;

use eai_protocol::Envelope;
use eai_store::dead_letters::DeadLetterIn;
use eai_store::{Failure, Store};
use eai_transport::lapin::message::Delivery;
use eai_transport::lapin::types::AMQPValue;
use eai_transport::{Handler, Settle};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::dead_letter::RECEIPT_UNDELIVERABLE;

/// The header carrying the id a worker gives each dead letter it sends.
pub const DEAD_LETTER_ID: &str = "x-eai-dead-letter-id";

/// How long a dead letter that could not be recorded waits before it is requeued.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Records each dead letter, then acks it.
pub struct DeadLetterLog {
    pub store: Store,
    pub shutdown: CancellationToken,
}

impl Handler for DeadLetterLog {
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Settle> + Send {
        self.record(delivery)
    }
}

/// A string header, if the message has it.
fn header(delivery: &Delivery, name: &str) -> Option<String> {
    match delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}

impl DeadLetterLog {
    async fn record(&self, delivery: &Delivery) -> Settle {
        let broker_reason = header(delivery, "x-first-death-reason");
        let code = header(delivery, "x-eai-code").unwrap_or_else(|| {
            format!(
                "BROKER_{}",
                broker_reason
                    .as_deref()
                    .unwrap_or("dead_lettered")
                    .to_ascii_uppercase()
            )
        });
        let reason = header(delivery, "x-eai-reason").unwrap_or_else(|| {
            format!(
                "dead-lettered by the broker ({}) from queue {}",
                broker_reason.as_deref().unwrap_or("no reason given"),
                header(delivery, "x-first-death-queue").unwrap_or_default()
            )
        });
        let exchange = header(delivery, "x-eai-exchange")
            .or_else(|| header(delivery, "x-first-death-exchange"))
            .unwrap_or_default();
        let routing_key = header(delivery, "x-eai-routing-key")
            .unwrap_or_else(|| delivery.routing_key.to_string());
        let properties = &delivery.properties;
        let correlation_id = properties
            .correlation_id()
            .as_ref()
            .map(|id| id.to_string());
        // An undelivered receipt is filed under the envelope it answers
        // (its correlation), an envelope under its own UUID.
        let uuid = if code == RECEIPT_UNDELIVERABLE {
            correlation_id.clone()
        } else {
            Envelope::parse(&delivery.data)
                .ok()
                .map(|envelope| envelope.uuid().to_owned())
                .or_else(|| correlation_id.clone())
        };
        // What the broker dead-lettered by itself carries no id of ours:
        // its content and where it died stand in, so a redelivery from the
        // dead-letter queue is still recorded once.
        let dead_letter_id = header(delivery, DEAD_LETTER_ID).or_else(|| {
            let mut digest = Sha256::new();
            digest.update(&delivery.data);
            digest.update(reason.as_bytes());
            digest.update(routing_key.as_bytes());
            let hex: String = digest
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Some(format!("broker:{hex}"))
        });
        let message_id = properties.message_id().as_ref().map(|id| id.to_string());
        let reply_to = properties.reply_to().as_ref().map(|to| to.to_string());
        let dead = DeadLetterIn {
            dead_letter_id: dead_letter_id.as_deref(),
            uuid: uuid.as_deref(),
            code: &code,
            reason: &reason,
            exchange: &exchange,
            routing_key: &routing_key,
            correlation_id: correlation_id.as_deref(),
            message_id: message_id.as_deref(),
            reply_to: reply_to.as_deref(),
            body: &delivery.data,
        };
        match self.store.record_dead_letter(&dead).await {
            Ok(()) => Settle::Ack,
            Err(error) if error.failure() == Failure::Permanent => {
                tracing::error!(%error, code, "a dead letter could not be recorded: the database refuses it; it stays only in the broker's log");
                Settle::Reject
            }
            Err(error) => {
                tracing::warn!(%error, "a dead letter could not be recorded yet; it goes back to its queue");
                tokio::select! {
                    () = self.shutdown.cancelled() => {}
                    () = tokio::time::sleep(REQUEUE_PAUSE) => {}
                }
                Settle::Requeue
            }
        }
    }
}
