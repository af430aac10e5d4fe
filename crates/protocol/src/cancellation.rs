//! The RetailSalesCancellation content model.

use crate::timestamp::Timestamp;

/// A request to cancel an integrated sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleCancellation {
    pub sale_internal_id: String,
    pub cancel_date: Option<Timestamp>,
}
