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

use crate::inlet::{Incoming, Inlet};
use crate::metrics::EnvelopeUnrouted;
use crate::receiver::Receiver;

/// The transactions the work queues take.
const RECEIVED: &str = "ItemReserve, RetailSales or RetailSalesCancellation";

/// Answers the deliveries of the unrouted queue, with a receiver's means.
pub struct Unrouted {
    pub receiver: Arc<Receiver>,
}

impl Handler for Unrouted {
    /// The unrouted queue has no dead-letter exchange, so the consumer's
    /// fallback for a panic (a reject) would drop the envelope: a panic is
    /// dead-lettered here instead, like every other refusal.
    async fn handle(&self, delivery: &Delivery) -> Settle {
        self.handle_incoming(&Incoming::from(delivery)).await
    }
}

impl Unrouted {
    /// Answers one envelope whose routing key matched no work queue, from
    /// the broker or the database's queue, and says how to settle it.
    pub async fn handle_incoming(&self, incoming: &Incoming<'_>) -> Settle {
        match AssertUnwindSafe(self.answer(incoming)).catch_unwind().await {
            Ok(settle) => settle,
            Err(_) => {
                let dead_letters = &self.receiver.dead_letters;
                let code = Code::ProcessingFailed.as_str();
                match dead_letters
                    .dead_letter(incoming, None, code, "answering it panicked")
                    .await
                {
                    Ok(()) => Settle::Ack,
                    Err(error) => self.receiver.requeue_after(&error).await,
                }
            }
        }
    }

    async fn answer(&self, incoming: &Incoming<'_>) -> Settle {
        let receiver = &self.receiver;
        let routing_key = incoming.routing_key;
        let envelope = match Envelope::parse(incoming.body) {
            Ok(envelope) => envelope,
            Err(rejection) => {
                EnvelopeUnrouted {
                    routing_key,
                    uuid: None,
                }
                .emit(&receiver.metrics);
                return match receiver.dead_letters.reject(incoming, &rejection).await {
                    Ok(()) => Settle::Ack,
                    Err(error) => receiver.requeue_after(&error).await,
                };
            }
        };
        let inbound = Inbound {
            envelope: &envelope,
            body: incoming.body,
            received_at: Utc::now(),
            route: receiver.reply_route(incoming, &envelope),
            max_waits: 0,
        };
        let message = match &receiver.inlet {
            Inlet::Broker {
                inbound_exchange, ..
            } => format!(
                "routing key {routing_key:?} matches no work queue: publish to {inbound_exchange:?} with the transaction as routing key ({RECEIVED})"
            ),
            Inlet::Database { .. } => format!(
                "Header.Transaction {routing_key:?} is not one this worker receives: expected one of {RECEIVED}"
            ),
        };
        let detail = Detail::error(Code::UnsupportedTransaction, message);
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
                    .dead_letter(
                        incoming,
                        Some(envelope.uuid()),
                        Code::UnsupportedTransaction.as_str(),
                        &reason,
                    )
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
