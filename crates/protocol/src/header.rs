//! The one `Header` of every envelope the worker emits: the ReceiptMessages
//! it answers with ([`crate::receipt`]) and the BusinessMessages it sends
//! ([`crate::events`]). The field order is the key order on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// `Header.Type` of an emitted envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum MessageType {
    /// An answer to an inbound envelope.
    ReceiptMessage,
    /// An event we send on our own.
    BusinessMessage,
}

/// The header of an emitted envelope. `DeliveryType` is always `async`; a
/// BusinessMessage has `SubType` and `Event`, a receipt neither.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OutgoingHeader {
    #[serde(rename = "UUID")]
    pub(crate) uuid: String,
    #[serde(rename = "Type")]
    pub(crate) kind: MessageType,
    pub(crate) transaction: String,
    pub(crate) version: String,
    pub(crate) source_application: String,
    pub(crate) product_name: String,
    pub(crate) company_id: String,
    pub(crate) branch_id: String,
    pub(crate) generated_on: String,
    pub(crate) delivery_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sub_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) event: Option<&'static str>,
}

/// RFC 3339 in UTC with microseconds and `+00:00`, the form TOTVS senders
/// emit, for every instant we write.
pub(crate) fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, false)
}
