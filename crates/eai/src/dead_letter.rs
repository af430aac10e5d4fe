//! Dead letters: whatever the worker cannot finish goes to the dead-letter
//! exchange with the reason in its headers (or, without a broker, straight
//! into the database), so no queue ever stalls on it and an operator can see
//! why and replay it (each carries an id, and [`crate::dead_letter_queue`]
//! records the broker's in the database):
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
use eai_transport::Outgoing;

use crate::inlet::{DeadLetter, Incoming, Inlet, InletError};
use crate::metrics::{EnvelopeDeadLettered, Metrics};

/// The code of a receipt dead-lettered by the relay (an `x-eai-code`, not a receipt code).
pub const RECEIPT_UNDELIVERABLE: &str = "RECEIPT_UNDELIVERABLE";

/// Keeps what the worker gives up on, through the inbound queue's dead letters.
#[derive(Clone)]
pub struct DeadLetters {
    pub inlet: Inlet,
    pub identity: WorkerIdentity,
    pub metrics: Metrics,
}

impl DeadLetters {
    /// Dead-letters a body that cannot be answered by UUID and, on a broker,
    /// answers its `reply_to`, if any, with an error receipt.
    pub async fn reject(
        &self,
        incoming: &Incoming<'_>,
        rejection: &Rejection,
    ) -> Result<(), InletError> {
        let reason = rejection.to_string();
        self.dead_letter(incoming, None, rejection.code().as_str(), &reason)
            .await?;
        let (Inlet::Broker { publisher, .. }, Some(reply_to)) =
            (&self.inlet, incoming.reply_to.filter(|to| !to.is_empty()))
        else {
            return Ok(());
        };
        let correlation = correlation(incoming);
        let receipt = rejection_receipt(
            &self.identity,
            correlation.unwrap_or_default(),
            incoming.routing_key,
            rejection,
        );
        Ok(publisher
            .publish(&Outgoing {
                exchange: "",
                routing_key: reply_to,
                body: &receipt.to_bytes(),
                correlation_id: correlation,
                ..Outgoing::default()
            })
            .await?)
    }

    /// Dead-letters the envelope unchanged with `code` and `reason`, and
    /// where it came from; filed under `uuid` when it has one.
    pub async fn dead_letter(
        &self,
        incoming: &Incoming<'_>,
        uuid: Option<&str>,
        code: &str,
        reason: &str,
    ) -> Result<(), InletError> {
        let correlation = correlation(incoming);
        self.inlet
            .dead_letter(&DeadLetter {
                code,
                reason,
                uuid: uuid.or(correlation),
                exchange: incoming.exchange,
                routing_key: incoming.routing_key,
                body: incoming.body,
                correlation_id: correlation,
                message_id: incoming.message_id,
                reply_to: incoming.reply_to,
            })
            .await?;
        EnvelopeDeadLettered {
            code,
            reason,
            message_id: correlation,
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// Dead-letters a receipt nobody could be given, with its route.
    pub async fn receipt(&self, receipt: &PendingReceipt, reason: &str) -> Result<(), InletError> {
        self.inlet
            .dead_letter(&DeadLetter {
                code: RECEIPT_UNDELIVERABLE,
                reason,
                uuid: receipt.correlation_id.as_deref(),
                exchange: &receipt.exchange,
                routing_key: &receipt.routing_key,
                body: receipt.body.as_bytes(),
                correlation_id: receipt.correlation_id.as_deref(),
                message_id: None,
                reply_to: None,
            })
            .await
    }
}

/// The error receipt of a body that cannot be answered by UUID: it answers
/// `correlation` (what the sender matches it by) for `transaction`.
pub fn rejection_receipt(
    identity: &WorkerIdentity,
    correlation: &str,
    transaction: &str,
    rejection: &Rejection,
) -> Receipt {
    let now = Utc::now();
    let inbound = InboundSummary {
        uuid: correlation.to_owned(),
        transaction: transaction.to_owned(),
        ..InboundSummary::default()
    };
    Receipt::new(
        identity,
        &inbound,
        now,
        now,
        vec![Detail::error(rejection.code(), rejection.to_string())],
        Vec::new(),
    )
}

/// The AMQP `correlation_id`, else `message_id`: how a sender matches an answer
/// to a body that had no usable UUID.
fn correlation<'a>(incoming: &Incoming<'a>) -> Option<&'a str> {
    incoming.correlation_id.or(incoming.message_id)
}
