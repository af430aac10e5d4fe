//! Bodies that cannot be answered by UUID (not JSON, too large, no
//! `Header.UUID`): they go to the dead-letter exchange with the reason in
//! headers, and, when the message named a `reply_to`, an error receipt goes
//! there too, correlated by the AMQP `correlation_id` or `message_id`.

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
    let properties = &delivery.properties;
    let correlation = properties
        .correlation_id()
        .as_ref()
        .or(properties.message_id().as_ref())
        .map(|id| id.to_string());
    let code = rejection.code().as_str();
    let reason = rejection.to_string();
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
                ("x-eai-reason", reason.clone()),
                ("x-eai-exchange", delivery.exchange.to_string()),
                ("x-eai-routing-key", delivery.routing_key.to_string()),
            ],
            ..Outgoing::default()
        })
        .await?;
    if let Some(reply_to) = properties
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
            vec![Detail::error(rejection.code(), reason.clone())],
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
    EnvelopeDeadLettered {
        code,
        reason: &reason,
        message_id: correlation.as_deref(),
    }
    .emit(&receiver.metrics);
    Ok(())
}
