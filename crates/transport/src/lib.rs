//! AMQP plumbing on lapin: the SPEC §7 topology, one connection kept alive
//! with bounded steps, the consumer loop every queue of the worker goes
//! through, and a publisher that only reports success once the broker
//! confirmed the message.
//!
//! # Layout
//!
//! - [`endpoint`]: [`Endpoint`], the broker's address and one bounded connection attempt.
//! - [`broker`]: [`Broker`], the connection kept alive: probe, heartbeat, reconnection.
//! - [`consumer`]: [`Consumer`], QoS, concurrency, re-subscription, ack/nack, drain.
//! - [`publisher`]: [`Publisher`], publishing with publisher confirms and a timeout.
//! - [`topology`]: exchange and queue names, declared idempotently (and deleted by tests).

pub mod broker;
pub mod consumer;
pub mod endpoint;
pub mod publisher;
pub mod topology;

use std::time::Duration;

pub use broker::{Broker, Watch};
pub use consumer::{Consumer, Handler, OnLost, Settle, Subscription};
pub use endpoint::Endpoint;
pub use lapin;
pub use publisher::{Outgoing, Publisher};
pub use topology::{QueueState, QueueType, Topology};

/// What can go wrong on the broker side.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the AMQP URL is not valid: {0}")]
    InvalidUrl(String),
    #[error("cannot connect to the AMQP broker at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("gave up connecting to the AMQP broker at {address} after {} s: {reason}", waited.as_secs())]
    GaveUp {
        address: String,
        waited: Duration,
        reason: String,
    },
    #[error("the broker at {address} did not answer within {} ms ({what})", after.as_millis())]
    Timeout {
        address: String,
        what: &'static str,
        after: Duration,
    },
    #[error("the {field} of a message is {bytes} bytes long; AMQP allows 255")]
    TooLong { field: &'static str, bytes: usize },
    #[error("the broker refused (nacked) the message published to exchange {exchange:?}")]
    Nacked { exchange: String },
    #[error("the message published to exchange {exchange:?} with routing key {routing_key:?} was returned: {reason}")]
    Unroutable {
        exchange: String,
        routing_key: String,
        reason: String,
    },
}
