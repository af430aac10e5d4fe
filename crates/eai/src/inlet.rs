//! Where envelopes come in: the broker's inbound exchange, or the
//! database's inbound queue when the worker runs without a broker. Both are
//! used the same way, so the receiver, the API, `eai publish` and the
//! operator's repairs have one path whichever carries the envelopes.
//!
//! - [`Incoming`]: one envelope as it arrived, whatever carried it.
//! - [`Inlet::submit`]: puts an envelope on the inbound queue (the API,
//!   `eai publish`, an operator's retry or replay).
//! - [`Inlet::park`], [`Inlet::dead_letter`], [`Inlet::deliver`]: what the
//!   receiver asks of the queue — bring an envelope back after a delay, keep
//!   one it gave up on for an operator, hand a receipt to its sender. Without
//!   a broker a receipt is delivered by being stored: its sender fetches it
//!   by UUID (`GET /api/eai/v1/transactions/{uuid}`, `eai publish --wait`).

use std::time::Duration;

use eai_protocol::Envelope;
use eai_store::dead_letters::DeadLetterIn;
use eai_store::inbound_queue::{Claim, Queued, QueuedEnvelope};
use eai_store::{ReplyRoute, Store, StoreError};
use eai_transport::lapin::message::Delivery;
use eai_transport::{Outgoing, Publisher, Topology, TransportError};

use crate::dead_letter_queue::DEAD_LETTER_ID;
use crate::receiver::{cut_bytes, MAX_ROUTING_KEY_BYTES};

/// One envelope as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub body: &'a [u8],
    /// Delivered before, to a worker that did not settle it.
    pub redelivered: bool,
    /// Where it was published, and with which routing key (its transaction).
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    /// The broker's delivery tag, or the queue row's id: for the logs.
    pub tag: u64,
    /// Which claim of the database's queue it came by, if it did.
    pub claim: Option<Claim>,
}

impl<'a> From<&'a Delivery> for Incoming<'a> {
    fn from(delivery: &'a Delivery) -> Incoming<'a> {
        let properties = &delivery.properties;
        Incoming {
            body: &delivery.data,
            redelivered: delivery.redelivered,
            exchange: delivery.exchange.as_str(),
            routing_key: delivery.routing_key.as_str(),
            reply_to: properties.reply_to().as_ref().map(|to| to.as_str()),
            correlation_id: properties.correlation_id().as_ref().map(|id| id.as_str()),
            message_id: properties.message_id().as_ref().map(|id| id.as_str()),
            tag: delivery.delivery_tag,
            claim: None,
        }
    }
}

impl<'a> From<&'a QueuedEnvelope> for Incoming<'a> {
    fn from(queued: &'a QueuedEnvelope) -> Incoming<'a> {
        Incoming {
            body: &queued.body,
            redelivered: queued.deliveries > 1,
            exchange: "",
            routing_key: &queued.routing_key,
            reply_to: queued.reply_to.as_deref(),
            correlation_id: queued.correlation_id.as_deref(),
            message_id: queued.message_id.as_deref(),
            tag: u64::try_from(queued.id).unwrap_or_default(),
            claim: Some(queued.claim()),
        }
    }
}

/// An envelope to put on the inbound queue.
#[derive(Debug, Clone, Default)]
pub struct Submission<'a> {
    /// The exchange it goes to on a broker; `None` for the inbound exchange.
    pub exchange: Option<&'a str>,
    /// Its transaction, which picks the work queue.
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub reply_to: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    /// A header saying where it comes from (a retry, a replay), on a broker.
    pub origin: Option<(&'a str, String)>,
}

/// Why the inbound queue did not take something.
#[derive(Debug, thiserror::Error)]
pub enum InletError {
    #[error(transparent)]
    Broker(#[from] TransportError),
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(
        "without a broker a receipt is delivered only by being stored, and this one could not be"
    )]
    Unstored,
}

/// A dead letter: an envelope given up on, or a receipt nobody could be given.
pub struct DeadLetter<'a> {
    pub code: &'a str,
    pub reason: &'a str,
    /// The UUID it is filed under.
    pub uuid: Option<&'a str>,
    /// Where it was going when it died.
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub reply_to: Option<&'a str>,
}

/// The inbound queue the worker runs on.
#[derive(Clone)]
pub enum Inlet {
    /// The broker's exchanges and queues.
    Broker {
        publisher: Publisher,
        /// Where envelopes are published (`eai.inbound`).
        inbound_exchange: String,
        /// Where dead letters go (`eai.dlx`).
        dead_letter_exchange: String,
    },
    /// The database's inbound queue.
    Database { store: Store },
}

impl Inlet {
    /// Puts an envelope on the inbound queue: published with a confirm, or
    /// committed to the database.
    pub async fn submit(&self, submission: &Submission<'_>) -> Result<(), InletError> {
        match self {
            Inlet::Broker {
                publisher,
                inbound_exchange,
                ..
            } => Ok(publisher
                .publish(&Outgoing {
                    exchange: submission.exchange.unwrap_or(inbound_exchange),
                    routing_key: submission.routing_key,
                    body: submission.body,
                    correlation_id: submission.correlation_id,
                    message_id: submission.message_id,
                    reply_to: submission.reply_to,
                    mandatory: true,
                    headers: submission.origin.iter().cloned().collect(),
                })
                .await?),
            Inlet::Database { store } => Ok(store
                .enqueue(&Queued {
                    routing_key: submission.routing_key,
                    body: submission.body,
                    reply_to: submission.reply_to,
                    correlation_id: submission.correlation_id,
                    message_id: submission.message_id,
                    delay: Duration::ZERO,
                })
                .await?),
        }
    }

    /// Puts a parsed envelope on the inbound queue, routed by its
    /// transaction and correlated by its UUID (the ingress, the spool).
    pub async fn submit_envelope(
        &self,
        envelope: &Envelope<'_>,
        body: &[u8],
    ) -> Result<(), InletError> {
        // The label is cut by characters; a routing key is at most 255 bytes.
        let transaction = envelope.header_label("Transaction");
        self.submit(&Submission {
            routing_key: cut_bytes(&transaction, MAX_ROUTING_KEY_BYTES),
            body,
            correlation_id: Some(envelope.uuid()),
            message_id: Some(envelope.uuid()),
            ..Submission::default()
        })
        .await
    }

    /// Brings `incoming` back after `delay`, with the same body and
    /// properties (on a broker, through `work_queue`'s delay queue; from the
    /// database's queue, the same row hidden until then); the delivery
    /// itself is then acked.
    pub async fn park(
        &self,
        incoming: &Incoming<'_>,
        work_queue: &str,
        delay: Duration,
        why: &str,
    ) -> Result<(), InletError> {
        match self {
            Inlet::Broker { publisher, .. } => Ok(publisher
                .publish(&Outgoing {
                    exchange: "",
                    routing_key: &Topology::delay_queue(work_queue, delay),
                    body: incoming.body,
                    correlation_id: incoming.correlation_id,
                    message_id: incoming.message_id,
                    reply_to: incoming.reply_to,
                    mandatory: true,
                    headers: vec![("x-eai-parked", why.to_owned())],
                })
                .await?),
            Inlet::Database { store } => match incoming.claim {
                Some(claim) => Ok(store.park_queued(claim, delay).await?),
                None => Ok(store
                    .enqueue(&Queued {
                        routing_key: incoming.routing_key,
                        body: incoming.body,
                        reply_to: incoming.reply_to,
                        correlation_id: incoming.correlation_id,
                        message_id: incoming.message_id,
                        delay,
                    })
                    .await?),
            },
        }
    }

    /// Keeps a dead letter for an operator: published to the dead-letter
    /// exchange (whose queue the worker records in the database), or
    /// recorded at once.
    pub async fn dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), InletError> {
        let id = uuid::Uuid::now_v7().to_string();
        match self {
            Inlet::Broker {
                publisher,
                dead_letter_exchange,
                ..
            } => Ok(publisher
                .publish(&Outgoing {
                    exchange: dead_letter_exchange,
                    routing_key: letter.routing_key,
                    body: letter.body,
                    correlation_id: letter.correlation_id,
                    message_id: letter.message_id,
                    reply_to: letter.reply_to,
                    mandatory: true,
                    headers: vec![
                        ("x-eai-code", letter.code.to_owned()),
                        ("x-eai-reason", letter.reason.to_owned()),
                        ("x-eai-exchange", letter.exchange.to_owned()),
                        ("x-eai-routing-key", letter.routing_key.to_owned()),
                        (DEAD_LETTER_ID, id),
                    ],
                })
                .await?),
            Inlet::Database { store } => Ok(store
                .record_dead_letter(&DeadLetterIn {
                    dead_letter_id: Some(&id),
                    uuid: letter.uuid,
                    code: letter.code,
                    reason: letter.reason,
                    exchange: letter.exchange,
                    routing_key: letter.routing_key,
                    correlation_id: letter.correlation_id,
                    message_id: letter.message_id,
                    reply_to: letter.reply_to,
                    body: letter.body,
                })
                .await?),
        }
    }

    /// Hands a receipt that could not be stored straight to its sender:
    /// only a broker can.
    pub async fn deliver_unstored(
        &self,
        route: &ReplyRoute,
        body: &[u8],
    ) -> Result<(), InletError> {
        match self {
            Inlet::Broker { .. } => self.deliver(route, body).await,
            Inlet::Database { .. } => Err(InletError::Unstored),
        }
    }

    /// Hands a stored receipt to its sender: published `mandatory` with a
    /// confirm on a broker; without one it is delivered already, stored for
    /// its sender to fetch.
    pub async fn deliver(&self, route: &ReplyRoute, body: &[u8]) -> Result<(), InletError> {
        match self {
            Inlet::Broker { publisher, .. } => Ok(publisher
                .publish(&Outgoing {
                    exchange: &route.exchange,
                    routing_key: &route.routing_key,
                    body,
                    correlation_id: route.correlation_id.as_deref(),
                    mandatory: true,
                    ..Outgoing::default()
                })
                .await?),
            Inlet::Database { .. } => Ok(()),
        }
    }
}
