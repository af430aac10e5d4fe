//! The `eai` binary's library half: configuration, the receiver, the sender,
//! the HTTP side and the operator commands, so end-to-end tests can start the
//! whole worker in-process on port 0 with their own database and queues.
//!
//! # Layout
//!
//! - [`config`]: layered settings (defaults < TOML file < `EAI_*` env < `*_FILE` secrets).
//! - [`telemetry`]: tracing subscriber, pretty or JSON.
//! - [`metrics`]: the Prometheus registry and the internal events that both log and count.
//! - [`sampler`]: the gauges of the queues and the outbound backlog, read periodically.
//! - [`health`]: readiness and liveness, kept by probes, read without I/O.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`, and the [`api`].
//! - [`console`]: the web console at `/`, server-rendered on the same calls as the API.
//! - [`api`]: the operator API (`/api/v1`) and the HTTP ingress, bearer-token protected.
//! - [`periodic`]: the one periodic-job loop.
//! - [`inlet`]: where envelopes come in (the broker or the database's inbound queue) and how they are parked, dead-lettered and answered.
//! - [`queue_consumer`]: the database's inbound queue consumed when the worker runs without a broker.
//! - [`receiver`]: a work queue's deliveries: store, publish the receipt, ack; waits, retries, poison.
//! - [`batcher`]: the ItemReserve and RetailSales envelopes a worker holds at once, stored in one transaction.
//! - [`memory`]: the allocator's free memory given back when the worker goes idle or after a large envelope.
//! - [`unrouted`]: envelopes whose routing key matched no work queue.
//! - [`dead_letter`]: what cannot be finished is kept as a dead letter with its reason.
//! - [`dead_letter_queue`]: drains the dead-letter queue into the database for the operators.
//! - [`repair`]: retry an inbound error or replay a dead letter (API and CLI).
//! - [`relay`]: republishes receipts whose publication was interrupted or failed.
//! - [`spool`]: the spool directory: envelope files in, receipt files beside them.
//! - [`sender`]: drains business messages to AMQP and HTTP destinations.
//! - [`sweep`]: releases expired reservations, the full StockLevel load, the retention purge.
//! - [`alerts`]: e-mail and webhook alerts of failed, blocked and dead messages.
//! - [`app`]: wires the above together, drains, then closes.
//! - [`commands`]: the operator commands.

pub mod alerts;
pub mod api;
pub mod app;
pub mod batcher;
pub mod commands;
pub mod config;
pub mod console;
pub mod dead_letter;
pub mod dead_letter_queue;
pub mod health;
pub mod http;
pub mod inlet;
pub mod memory;
pub mod metrics;
pub mod periodic;
pub mod queue_consumer;
pub mod receiver;
pub mod relay;
pub mod repair;
pub mod sampler;
pub mod sender;
pub mod spool;
pub mod sweep;
pub mod telemetry;
pub mod unrouted;
