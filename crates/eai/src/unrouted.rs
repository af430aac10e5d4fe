//! Envelopes whose routing key matched no work queue: the inbound exchange's
//! alternate exchange puts them in `eai.unrouted`, and this consumer answers
//! each one with a usable UUID `UNSUPPORTED_TRANSACTION` (recorded in the
//! inbox like any answer, so a re-send gets the same receipt) and
//! dead-letters the others with their routing key. Nothing waits there
//! unanswered.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::Utc;
use eai_protocol::{Code, Detail, Envelope};
use eai_store::Inbound;
use eai_transport::lapin::message::Delivery;
use eai_transport::{Handler, Settle};
use futures_util::FutureExt;

use crate::metrics::EnvelopeUnrouted;
use crate::receiver::Receiver;

/// Answers the deliveries of the unrouted queue, with a receiver's means.
pub struct Unrouted {
    pub receiver: Arc<Receiver>,
}

impl Handler for Unrouted {
    /// The unrouted queue has no dead-letter exchange, so the consumer's
    /// fallback for a panic (a reject) would drop the envelope: a panic is
    /// dead-lettered here instead, like every other refusal.
    async fn handle(&self, delivery: &Delivery) -> Settle {
        match AssertUnwindSafe(self.answer(delivery)).catch_unwind().await {
            Ok(settle) => settle,
            Err(_) => {
                let dead_letters = &self.receiver.dead_letters;
                let code = Code::ProcessingFailed.as_str();
                match dead_letters
                    .dead_letter(delivery, code, "answering it panicked")
                    .await
                {
                    Ok(()) => Settle::Ack,
                    Err(error) => self.receiver.requeue_after(&error).await,
                }
            }
        }
    }
}

impl Unrouted {
    async fn answer(&self, delivery: &Delivery) -> Settle {
        let receiver = &self.receiver;
        let routing_key = delivery.routing_key.as_str();
        let envelope = match Envelope::parse(&delivery.data) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                EnvelopeUnrouted {
                    routing_key,
                    uuid: None,
                }
                .emit(&receiver.metrics);
                return match receiver.dead_letters.reject(delivery, &rejection).await {
                    Ok(()) => Settle::Ack,
                    Err(error) => receiver.requeue_after(&error).await,
                };
            }
        };
        let inbound = Inbound {
            envelope: &envelope,
            body: &delivery.data,
            received_at: Utc::now(),
            route: receiver.reply_route(delivery, &envelope),
            max_waits: 0,
        };
        let detail = Detail::error(
            Code::UnsupportedTransaction,
            format!(
                "routing key {routing_key:?} matches no work queue: publish to {:?} with the transaction as routing key (ItemReserve, RetailSales or RetailSalesCancellation)",
                receiver.topology.inbound_exchange
            ),
        );
        EnvelopeUnrouted {
            routing_key,
            uuid: Some(envelope.uuid()),
        }
        .emit(&receiver.metrics);
        match receiver
            .until_database(envelope.uuid(), || {
                receiver.store.refuse(&receiver.identity, &inbound, &detail)
            })
            .await
        {
            Some(Ok(answer)) => receiver.publish_receipt(envelope.uuid(), &answer).await,
            Some(Err(error)) => {
                let reason = format!("the database refused its answer: {error}");
                match receiver
                    .dead_letters
                    .dead_letter(delivery, Code::UnsupportedTransaction.as_str(), &reason)
                    .await
                {
                    Ok(()) => Settle::Ack,
                    Err(error) => receiver.requeue_after(&error).await,
                }
            }
            None => Settle::Requeue,
        }
    }
}
