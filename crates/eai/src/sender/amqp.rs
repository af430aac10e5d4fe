//! Delivery to an AMQP destination: publish with a confirm, then wait for the
//! destination's ReceiptMessage naming our UUID. Whichever worker consumes
//! that receipt settles the message in the database ([`super::receipts_in`]);
//! the attempt watches for it until its timeout.

use std::time::Duration;

use eai_store::log::Status;
use eai_store::outbound::{Claimed, Settlement};
use eai_transport::{Outgoing, TransportError};

use super::{timed_out, Sender};

/// The `correlation_id` of a message to a destination: our UUID and the
/// destination's name, so a receipt that echoes it settles that copy only
/// (one envelope routed to several destinations has one UUID).
pub fn correlation(uuid: &str, destination: &str) -> String {
    format!("{uuid}{CORRELATION_SEPARATOR}{destination}")
}

/// The destination a receipt's echoed `correlation_id` names, if it names our `uuid`.
pub fn correlated_destination<'a>(correlation_id: &'a str, uuid: &str) -> Option<&'a str> {
    let (echoed, destination) = correlation_id.split_once(CORRELATION_SEPARATOR)?;
    (echoed == uuid).then_some(destination)
}

const CORRELATION_SEPARATOR: char = '#';

/// How often an attempt looks for its receipt.
const RECEIPT_POLL: Duration = Duration::from_millis(100);

/// One attempt to `message`'s AMQP destination.
pub async fn deliver(sender: &Sender, message: &Claimed) -> Settlement {
    let destination = &message.destination;
    let Some(exchange) = destination.exchange.as_deref() else {
        return Settlement::Rejected(format!("destination {} has no exchange", destination.name));
    };
    let Some(publisher) = &sender.publisher else {
        return Settlement::Failed(format!(
            "destination {} is an AMQP destination and this worker runs without a broker (set EAI_AMQP_URL)",
            destination.name
        ));
    };
    let correlation = correlation(&message.uuid, &destination.name);
    let published = publisher
        .publish(&Outgoing {
            exchange,
            routing_key: &destination.routing_key,
            body: message.body.as_bytes(),
            correlation_id: Some(&correlation),
            message_id: Some(&message.uuid),
            reply_to: Some(&sender.receipts_queue),
            mandatory: true,
            ..Outgoing::default()
        })
        .await;
    match published {
        Ok(()) => {}
        Err(TransportError::Unroutable { reason, .. }) => {
            return Settlement::Failed(format!("no queue takes it ({reason})"));
        }
        Err(error) => return Settlement::Failed(error.to_string()),
    }
    let deadline = tokio::time::Instant::now() + destination.timeout();
    loop {
        match sender.store.message_status(message.id).await {
            Ok(Some(Status::Done)) => return Settlement::Done,
            Ok(Some(Status::Rejected)) => {
                return Settlement::Rejected("error receipt from the destination".to_owned());
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return timed_out(message);
        }
        tokio::time::sleep(RECEIPT_POLL).await;
    }
}
