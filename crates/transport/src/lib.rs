//! AMQP plumbing on lapin: the SPEC §7 topology and a publisher that only
//! reports success once the broker confirmed the message.
//!
//! Connections are opened with lapin's automatic recovery, which reconnects
//! with backoff and replays the topology, QoS, confirms and consumers.
//!
//! # Layout
//!
//! - [`topology`]: exchange and queue names, declared idempotently (and deleted by tests).
//! - [`publisher`]: [`Publisher`], publishing with publisher confirms.
//! - [`connect`]: a recovering connection.

pub mod publisher;
pub mod topology;

pub use lapin;
pub use publisher::{Outgoing, Publisher};
pub use topology::{QueueType, Topology};

use lapin::{Connection, ConnectionProperties};

/// What can go wrong on the broker side.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("a publisher's lock was poisoned by a panic")]
    Poisoned,
    #[error("the broker refused (nacked) the message published to exchange {exchange:?}")]
    Nacked { exchange: String },
    #[error("the message published to exchange {exchange:?} with routing key {routing_key:?} was returned: {reason}")]
    Unroutable {
        exchange: String,
        routing_key: String,
        reason: String,
    },
}

/// Opens a connection that recovers by itself after network failures.
pub async fn connect(url: &str, name: &str) -> Result<Connection, TransportError> {
    let properties = ConnectionProperties::default()
        .with_connection_name(name.into())
        .enable_auto_recover();
    Ok(Connection::connect(url, properties).await?)
}
