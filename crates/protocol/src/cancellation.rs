//! The RetailSalesCancellation content model: which integrated sale to cancel,
//! and when.
//!
//! Whether the sale exists or is already cancelled is the domain's concern;
//! this only refuses content from which no sale can be named.

use crate::code::Detail;
use crate::node::Node;
use crate::reading::{first_text, Problems};
use crate::timestamp::Timestamp;

/// A request to cancel an integrated sale.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleCancellation {
    /// `RetailSalesInternalId`, else `InternalId`: the sender's id of the sale
    /// (the de/para key `RetailSales` → sale number).
    pub sale_internal_id: String,
    /// `CancelDate`, when given.
    pub cancel_date: Option<Timestamp>,
}

impl SaleCancellation {
    /// Reads a RetailSalesCancellation `Content`.
    ///
    /// The sale is named by `RetailSalesInternalId` (the schema's field) or, as
    /// some senders write it, `InternalId`; neither present is `INVALID_FIELD`
    /// at `$.Content.RetailSalesInternalId`. A malformed `RetailSalesInternalId`
    /// is reported rather than silently replaced by `InternalId`. `CancelDate` is
    /// optional; a malformed one is `INVALID_FIELD`. Every problem is reported
    /// at once.
    pub fn from_content(content: &Node<'_>) -> Result<SaleCancellation, Vec<Detail>> {
        let mut problems = Problems::default();
        let sale_internal_id = problems
            .required(
                first_text(content, &["RetailSalesInternalId", "InternalId"]),
                || {
                    Detail::invalid_field(
                        &content.child_path("RetailSalesInternalId"),
                        "a non-empty string (RetailSalesInternalId or InternalId)",
                        content.raw("RetailSalesInternalId"),
                    )
                },
            )
            .unwrap_or_default();
        let cancel_date = problems.take(content.timestamp("CancelDate"));
        problems.into_result(SaleCancellation {
            sale_internal_id,
            cancel_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::code::Code;
    use crate::json::Json;

    fn read(content: Value) -> Result<SaleCancellation, Vec<Detail>> {
        SaleCancellation::from_content(&Node::at(&Json::from(&content), "$.Content".to_owned()))
    }

    /// The (code, message) pairs of a refused content, in report order.
    fn problems(content: Value) -> Vec<(Code, String)> {
        read(content)
            .expect_err("refused")
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    #[test]
    fn retail_sales_internal_id_names_the_sale() {
        let cancellation = read(json!({
            "RetailSalesInternalId": "15da928b-9e88-4947-a508-8cdd56beabd9",
            "CancelDate": "2020-04-24T10:00:00"
        }))
        .expect("valid");
        assert_eq!(
            cancellation.sale_internal_id,
            "15da928b-9e88-4947-a508-8cdd56beabd9"
        );
        assert!(matches!(
            cancellation.cancel_date,
            Some(Timestamp::Local(_))
        ));
    }

    #[test]
    fn internal_id_is_the_alternative_spelling_in_any_case() {
        let cancellation = read(json!({"internalid": "S-1"})).expect("valid");
        assert_eq!(cancellation.sale_internal_id, "S-1");
        assert_eq!(cancellation.cancel_date, None, "CancelDate is optional");
    }

    #[test]
    fn retail_sales_internal_id_wins_and_blank_counts_as_absent() {
        let both = read(json!({"InternalId": "B", "RetailSalesInternalId": "A"})).expect("valid");
        assert_eq!(both.sale_internal_id, "A");
        let blank = read(json!({"RetailSalesInternalId": "  ", "InternalId": "B"})).expect("valid");
        assert_eq!(blank.sale_internal_id, "B");
    }

    #[test]
    fn missing_id_is_invalid_field_with_path() {
        assert_eq!(
            problems(json!({"CancelDate": "2020-04-24"})),
            [(
                Code::InvalidField,
                "$.Content.RetailSalesInternalId: expected a non-empty string (RetailSalesInternalId or InternalId), got null"
                    .to_owned()
            )]
        );
        assert_eq!(
            problems(json!({"RetailSalesInternalId": ""})),
            [(
                Code::InvalidField,
                "$.Content.RetailSalesInternalId: expected a non-empty string (RetailSalesInternalId or InternalId), got \"\""
                    .to_owned()
            )]
        );
    }

    #[test]
    fn malformed_id_and_date_are_reported_together() {
        let found = problems(
            json!({"RetailSalesInternalId": true, "InternalId": "B", "CancelDate": "24/04/2020"}),
        );
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|(code, _)| *code == Code::InvalidField));
        assert_eq!(
            found[0].1,
            "$.Content.RetailSalesInternalId: expected a string, got true"
        );
        assert!(found[1]
            .1
            .starts_with("$.Content.CancelDate: expected a date/time"));
    }
}
