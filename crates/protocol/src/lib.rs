//! The EAI "standard message" wire format: envelopes, the tolerant field access
//! real traffic needs, the ItemReserve content model, the ReceiptMessage we answer,
//! the business events we send and the receipts destinations send back.
//!
//! This crate does no I/O: it turns bytes into typed values (or coded [`Detail`]s
//! naming the JSON path at fault) and typed receipts and events back into bytes.
//!
//! # Layout
//!
//! - [`code`]: the stable error/warning codes of SPEC §6 and [`Detail`], one line of a receipt.
//! - [`json`]: [`Json`], a JSON document read in place, its strings borrowed
//!   from the body.
//! - [`node`]: [`Node`], a case-insensitive, path-tracking view over a JSON value,
//!   and the [`MAX_TEXT_CHARS`] limit of text fields.
//! - [`number`]: exact decimals from JSON numbers or strings with `.`/`,` separators.
//! - [`timestamp`]: the five date forms seen in traffic.
//! - `document` (private): the whole-document rules, no repeated keys, none
//!   of serde_json's reserved keys and no control characters, found by a
//!   second pass over the bytes.
//! - [`envelope`]: [`Envelope`], its checks ([`Envelope::validate`]) and the
//!   [`Rejection`]s that cannot be answered by UUID.
//! - `reading` (private): the problem collector and the text and list readers
//!   every content model shares.
//! - [`item_reserve`]: the ItemReserve content model.
//! - [`retail_sales`]: the RetailSales content model and its normalisation.
//! - [`cancellation`]: the RetailSalesCancellation content model.
//! - [`stock_request`]: the StockLevel request content model.
//! - `header` (private): the one `Header` of every envelope we emit.
//! - [`receipt`]: the ReceiptMessage we build, persist and publish, bounded in
//!   size whatever it reports.
//! - [`events`]: the BusinessMessages we send: StockLevel, DocumentTraceabilityOrder
//!   and the EAIEnvironmentTest connection test, lists in a destination's
//!   [`ListStyle`].
//! - [`received`]: the ReceiptMessage a destination sends back for one of ours.
//! - [`touches`]: the documents and products an envelope names, so envelopes
//!   naming none in common can be processed at once.

pub mod cancellation;
pub mod code;
mod document;
pub mod envelope;
pub mod events;
mod header;
pub mod item_reserve;
pub mod json;
pub mod node;
pub mod number;
mod reading;
pub mod receipt;
pub mod received;
pub mod retail_sales;
pub mod stock_request;
pub mod timestamp;
pub mod touches;

pub use cancellation::SaleCancellation;
pub use code::{Code, Detail, Severity};
pub use envelope::{Envelope, Event, Rejection, Transaction, MAX_ENVELOPE_BYTES, MAX_UUID_BYTES};
pub use events::{
    environment_test, ListStyle, LotLevel, Outbound, StockLevel, StockReturn, Traceability,
    TracedItem, WarehouseLevel, ENVIRONMENT_TEST_TRANSACTION, ENVIRONMENT_TEST_VERSION,
};
pub use item_reserve::{ItemReserve, ReserveItem, ReserveType};
pub use json::Json;
pub use node::{Node, MAX_TEXT_CHARS};
pub use receipt::{
    InboundSummary, InternalIdEntry, Receipt, ReceiptOrigin, ReturnContent, DEFAULT_MAX_DETAILS,
};
pub use received::{receipt_status, ReceivedReceipt};
pub use retail_sales::{CardPayment, ItemInformation, RetailSale, SaleItem, SalePayment};
pub use stock_request::{RequestedStock, StockRequest};
pub use timestamp::Timestamp;
pub use touches::Touches;
