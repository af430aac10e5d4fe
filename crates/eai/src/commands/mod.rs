//! The operator commands besides `run`.
//!
//! # Layout
//!
//! - [`migrate`]: create and migrate the database.
//! - [`send`]: enqueue an envelope for the sender.
//! - [`messages`]: list, show and retry outbound messages.
//! - [`destinations`]: list, unblock and test destinations.
//! - [`import`]: load master data and mappings from a JSON file.
//! - [`publish`]: put envelopes on the inbound exchange and optionally wait for their receipts.

pub mod destinations;
pub mod import;
pub mod messages;
pub mod migrate;
pub mod publish;
pub mod send;
