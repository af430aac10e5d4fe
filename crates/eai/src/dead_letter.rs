//! The dead-letter exchange, where whatever the worker cannot finish goes
//! with the reason in its headers, so no queue ever stalls on it and an
//! operator can see why and replay it (each carries an id, and
//! [`crate::dead_letter_queue`] records it in the database):
//!
//! - bodies that cannot be answered by UUID (not JSON, too large, no usable
//!   `Header.UUID`): when the message named a `reply_to`, an error receipt
//!   goes there too, correlated by the AMQP `correlation_id` or `message_id`;
//! - envelopes answered `PROCESSING_FAILED` (refused by the database for
//!   good, failing until their retries were spent, killing every worker);
//! - receipts the relay could not deliver after `receipts.max_attempts`.

use chrono::Utc;
use eai_protocol::{Detail, InboundSummary, Receipt, Rejection};
use eai_store::{PendingReceipt, WorkerIdentity};
use eai_transport::lapin::message::Delivery;
use eai_transport::{Outgoing, Publisher, TransportError};

use crate::dead_letter_queue::DEAD_LETTER_ID;
use crate::metrics::{EnvelopeDeadLettered, Metrics};

/// The code of a receipt dead-lettered by the relay (an `x-eai-code`, not a receipt code).
pub const RECEIPT_UNDELIVERABLE: &str = "RECEIPT_UNDELIVERABLE";

/// Publishes to the dead-letter exchange, with confirms.
#[derive(Clone)]
pub struct DeadLetters {
    pub publisher: Publisher,
    /// The dead-letter exchange (`eai.dlx`).
    pub exchange: String,
    pub identity: WorkerIdentity,
    pub metrics: Metrics,
}

impl DeadLetters {
    /// Dead-letters a body that cannot be answered by UUID and answers its
    /// `reply_to`, if any, with an error receipt.
    pub async fn reject(
        &self,
        delivery: &Delivery,
        rejection: &Rejection,
    ) -> Result<(), TransportError> {
        let reason = rejection.to_string();
        let correlation = correlation(delivery);
        self.dead_letter(delivery, rejection.code().as_str(), &reason)
            .await?;
        let Some(reply_to) = delivery
            .properties
            .reply_to()
            .as_ref()
            .filter(|to| !to.as_str().is_empty())
        else {
            return Ok(());
        };
        let now = Utc::now();
        let inbound = InboundSummary {
            uuid: correlation.clone().unwrap_or_default(),
            transaction: delivery.routing_key.to_string(),
            ..InboundSummary::default()
        };
        let receipt = Receipt::new(
            &self.identity,
            &inbound,
            now,
            now,
            vec![Detail::error(rejection.code(), reason)],
            Vec::new(),
        );
        self.publisher
            .publish(&Outgoing {
                exchange: "",
                routing_key: reply_to.as_str(),
                body: &receipt.to_bytes(),
                correlation_id: correlation.as_deref(),
                ..Outgoing::default()
            })
            .await
    }

    /// Publishes the delivery unchanged with `code` and `reason` in its
    /// headers, and where it came from.
    pub async fn dead_letter(
        &self,
        delivery: &Delivery,
        code: &str,
        reason: &str,
    ) -> Result<(), TransportError> {
        let correlation = correlation(delivery);
        self.publisher
            .publish(&Outgoing {
                exchange: &self.exchange,
                routing_key: delivery.routing_key.as_str(),
                body: &delivery.data,
                correlation_id: correlation.as_deref(),
                message_id: delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str()),
                reply_to: delivery
                    .properties
                    .reply_to()
                    .as_ref()
                    .map(|to| to.as_str()),
                mandatory: true,
                headers: vec![
                    ("x-eai-code", code.to_owned()),
                    ("x-eai-reason", reason.to_owned()),
                    ("x-eai-exchange", delivery.exchange.to_string()),
                    ("x-eai-routing-key", delivery.routing_key.to_string()),
                    (DEAD_LETTER_ID, uuid::Uuid::now_v7().to_string()),
                ],
            })
            .await?;
        EnvelopeDeadLettered {
            code,
            reason,
            message_id: correlation.as_deref(),
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// Dead-letters a receipt nobody could be given, with its route.
    pub async fn receipt(
        &self,
        receipt: &PendingReceipt,
        reason: &str,
    ) -> Result<(), TransportError> {
        self.publisher
            .publish(&Outgoing {
                exchange: &self.exchange,
                routing_key: &receipt.routing_key,
                body: receipt.body.as_bytes(),
                correlation_id: receipt.correlation_id.as_deref(),
                mandatory: true,
                headers: vec![
                    ("x-eai-code", RECEIPT_UNDELIVERABLE.to_owned()),
                    ("x-eai-reason", reason.to_owned()),
                    ("x-eai-exchange", receipt.exchange.clone()),
                    ("x-eai-routing-key", receipt.routing_key.clone()),
                    (DEAD_LETTER_ID, uuid::Uuid::now_v7().to_string()),
                ],
                ..Outgoing::default()
            })
            .await
    }
}

/// The AMQP `correlation_id`, else `message_id`: how a sender matches an answer
/// to a body that had no usable UUID.
fn correlation(delivery: &Delivery) -> Option<String> {
    let properties = &delivery.properties;
    properties
        .correlation_id()
        .as_ref()
        .or(properties.message_id().as_ref())
        .map(|id| id.to_string())
}
