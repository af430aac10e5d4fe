//! The `eai` binary's library half: configuration, the receiver loop, the HTTP
//! side and the operator commands, so end-to-end tests can start the whole
//! worker in-process on port 0 with their own database and queues.
//!
//! # Layout
//!
//! - [`config`]: layered settings (defaults < TOML file < `EAI_*` env < `*_FILE` secrets).
//! - [`telemetry`]: tracing subscriber, pretty or JSON.
//! - [`metrics`]: the Prometheus registry and the internal events that both log and count.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`receiver`]: consume, hand to the store, publish the receipt, ack.
//! - [`dead_letter`]: bodies that cannot be answered by UUID.
//! - [`relay`]: republishes receipts whose publication a crash interrupted.
//! - [`sender`]: drains business messages to AMQP and HTTP destinations.
//! - [`sweep`]: releases reservations past their expiration.
//! - [`app`]: wires the above together and shuts down gracefully.
//! - [`commands`]: `migrate`, `import`, `publish`.

pub mod app;
pub mod commands;
pub mod config;
pub mod dead_letter;
pub mod http;
pub mod metrics;
pub mod receiver;
pub mod relay;
pub mod sender;
pub mod sweep;
pub mod telemetry;
