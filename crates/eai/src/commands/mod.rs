//! The operator commands besides `run`.
//!
//! # Layout
//!
//! - [`demo`]: the whole pipeline on a fresh database with the examples, the console open.
//! - [`migrate`]: create and migrate the database.
//! - [`doctor`]: check the configuration, the servers, the destinations and the worker.
//! - [`send`]: enqueue an envelope for the sender.
//! - [`messages`]: the message log of both directions, pending items, dead letters and the actions on them.
//! - [`mappings`]: list, set and delete de/para mappings.
//! - [`destinations`]: list, unblock and test destinations.
//! - [`alerts`]: e-mail and webhook alert targets, the test alert and the alerts sent.
//! - [`usage`]: the usage report and the export of sales with confirmation.
//! - [`import`]: load master data and mappings from a JSON file.
//! - [`publish`]: put envelopes on the inbound queue and optionally wait for their receipts.

pub mod alerts;
pub mod demo;
pub mod destinations;
pub mod doctor;
pub mod import;
pub mod mappings;
pub mod messages;
pub mod migrate;
pub mod publish;
pub mod send;
pub mod usage;
