//! Bodies that cannot be answered by UUID (not JSON, too large, no
//! `Header.UUID`): they go to the dead-letter exchange with the reason in
//! headers, and, when the message named a `reply_to`, an error receipt goes
//! there too, correlated by the AMQP `correlation_id` or `message_id`.
//! Envelopes the database refuses for a reason retrying cannot cure go there
//! as well, so one bad message never blocks a queue.

use chrono::Utc;
use eai_protocol::{Detail, InboundSummary, Receipt, Rejection};
use eai_transport::lapin::message::Delivery;
use eai_transport::{Outgoing, TransportError};

use crate::metrics::EnvelopeDeadLettered;
use crate::receiver::Receiver;

/// Dead-letters `delivery` and answers its `reply_to`, both with publisher confirms.
pub async fn reject(
    receiver: &Receiver,
    delivery: &Delivery,
    rejection: &Rejection,
) -> Result<(), TransportError> {
    let code = rejection.code().as_str();
    let reason = rejection.to_string();
    let correlation = correlation(delivery);
    dead_letter(receiver, delivery, code, &reason).await?;
    if let Some(reply_to) = delivery
        .properties
        .reply_to()
        .as_ref()
        .filter(|to| !to.as_str().is_empty())
    {
        let now = Utc::now();
        let inbound = InboundSummary {
            uuid: correlation.clone().unwrap_or_default(),
            transaction: delivery.routing_key.to_string(),
            ..InboundSummary::default()
        };
        let receipt = Receipt::new(
            &receiver.identity,
            &inbound,
            now,
            now,
            vec![Detail::error(rejection.code(), reason)],
            Vec::new(),
        );
        receiver
            .publisher
            .publish(&Outgoing {
                exchange: "",
                routing_key: reply_to.as_str(),
                body: &receipt.to_bytes(),
                correlation_id: correlation.as_deref(),
                ..Outgoing::default()
            })
            .await?;
    }
    Ok(())
}

/// Publishes the delivery unchanged to the dead-letter exchange with `code`
/// and `reason` in its headers, so the work queue never stalls on it and an
/// operator can see why and replay it.
pub async fn dead_letter(
    receiver: &Receiver,
    delivery: &Delivery,
    code: &str,
    reason: &str,
) -> Result<(), TransportError> {
    let correlation = correlation(delivery);
    receiver
        .publisher
        .publish(&Outgoing {
            exchange: &receiver.topology.dead_letter_exchange,
            routing_key: delivery.routing_key.as_str(),
            body: &delivery.data,
            correlation_id: correlation.as_deref(),
            mandatory: true,
            headers: vec![
                ("x-eai-code", code.to_owned()),
                ("x-eai-reason", reason.to_owned()),
                ("x-eai-exchange", delivery.exchange.to_string()),
                ("x-eai-routing-key", delivery.routing_key.to_string()),
            ],
            ..Outgoing::default()
        })
        .await?;
    EnvelopeDeadLettered {
        code,
        reason,
        message_id: correlation.as_deref(),
    }
    .emit(&receiver.metrics);
    Ok(())
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
