//! The operator commands besides `run`.
//!
//! # Layout
//!
//! - [`migrate`]: create and migrate the database.
//! - [`import`]: load master data and mappings from a JSON file.
//! - [`publish`]: put envelopes on the inbound exchange and optionally wait for their receipts.

pub mod import;
pub mod migrate;
pub mod publish;
