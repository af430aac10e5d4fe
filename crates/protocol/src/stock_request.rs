//! The StockLevel request content model (StockLevel 3.003's
//! `BusinessContentType`): which products' stock the sender asks for, answered
//! in the receipt's `ReturnContent` ([`crate::events::StockReturn`]).
//!
//! Every problem is reported at once, each naming its JSON path. Whether the
//! products and warehouses exist is the store's concern.

use crate::code::{Code, Detail};
use crate::events::ListStyle;
use crate::json::Json;
use crate::node::Node;
use crate::reading::{read_list, Problems};

/// The most products one request may ask for (the store bounds the lots an
/// answer lists, so a receipt stays far below the envelope limit).
pub const MAX_REQUESTS: usize = 1_000;

/// A StockLevel request, shape-valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRequest {
    /// What is asked, in document order.
    pub requests: Vec<RequestedStock>,
    /// The list style the request came in, which its answer follows.
    pub style: ListStyle,
}

/// One product asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedStock {
    /// The element's JSON path (`$.Content.ListOfRequest[0]`).
    pub path: String,
    /// `ItemInternalId`, else `ItemCode`: the product as the sender knows it
    /// (de/para), echoed in the answer.
    pub product: String,
    /// The JSON path of the field `product` came from.
    pub product_path: String,
    /// `WarehouseInternalId`, else `WarehouseCode`, with the path of the
    /// field it came from; `None` asks for every warehouse of the branch.
    pub warehouse: Option<(String, String)>,
    /// `LotNumber`: that lot only.
    pub lot: Option<String>,
    /// `SubLotCode`: that sub-lot only.
    pub sublot: Option<String>,
}

impl StockRequest {
    /// Reads a StockLevel request `Content`: `ListOfRequest`, plain or wrapped
    /// with `Request`.
    ///
    /// - no request, or more than [`MAX_REQUESTS`] → `INVALID_FIELD`;
    /// - a request without `ItemInternalId`/`ItemCode` → `PRODUCT_NOT_FOUND`;
    /// - any other type error → that `INVALID_FIELD`.
    pub fn from_content(content: &Node<'_>) -> Result<StockRequest, Vec<Detail>> {
        let mut problems = Problems::default();
        let style = match content.get("ListOfRequest").map(|list| list.value()) {
            Some(Json::Object(_)) => ListStyle::Wrapped,
            _ => ListStyle::Plain,
        };
        let requests = read_list(
            content,
            "ListOfRequest",
            "Request",
            &mut problems,
            |node, _, problems| read_request(node, problems),
        );
        let path = content.child_path("ListOfRequest");
        if requests.is_empty() {
            problems.push(Detail::invalid_field(
                &path,
                "at least one request",
                content.raw("ListOfRequest"),
            ));
        } else if requests.len() > MAX_REQUESTS {
            problems.push(Detail::error(
                Code::InvalidField,
                format!(
                    "{path}: {} requests, expected at most {MAX_REQUESTS} (split the request)",
                    requests.len()
                ),
            ));
        }
        problems.into_result(StockRequest { requests, style })
    }
}

/// One element of `ListOfRequest`.
fn read_request(node: &Node<'_>, problems: &mut Problems) -> Option<RequestedStock> {
    let product = problems.take(named_text(node, &["ItemInternalId", "ItemCode"]));
    let Some((product, product_path)) = product else {
        problems.push(Detail::error(
            Code::ProductNotFound,
            format!(
                "{}: product not informed (ItemInternalId or ItemCode)",
                node.child_path("ItemInternalId")
            ),
        ));
        return None;
    };
    Some(RequestedStock {
        path: node.path().to_owned(),
        product,
        product_path,
        warehouse: problems.take(named_text(node, &["WarehouseInternalId", "WarehouseCode"])),
        lot: problems.take(node.text("LotNumber")),
        sublot: problems.take(node.text("SubLotCode")),
    })
}

/// The first of alternative text fields that is present, with its path; a
/// malformed one is reported rather than replaced by the next.
fn named_text(node: &Node<'_>, keys: &[&str]) -> Result<Option<(String, String)>, Detail> {
    for key in keys {
        if let Some(text) = node.text(key)? {
            return Ok(Some((text, node.child_path(key))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn read(content: Value) -> Result<StockRequest, Vec<Detail>> {
        StockRequest::from_content(&Node::at(&Json::from(&content), "$.Content".to_owned()))
    }

    #[test]
    fn plain_and_wrapped_requests_are_read_in_order_with_their_style() {
        let plain = read(json!({"ListOfRequest": [
            {"ItemInternalId": "P001", "WarehouseInternalId": "01"},
            {"ItemCode": "sku-2", "LotNumber": "L1"}]}))
        .expect("valid");
        assert_eq!(plain.style, ListStyle::Plain);
        assert_eq!(
            plain.requests,
            vec![
                RequestedStock {
                    path: "$.Content.ListOfRequest[0]".into(),
                    product: "P001".into(),
                    product_path: "$.Content.ListOfRequest[0].ItemInternalId".into(),
                    warehouse: Some((
                        "01".into(),
                        "$.Content.ListOfRequest[0].WarehouseInternalId".into()
                    )),
                    lot: None,
                    sublot: None,
                },
                RequestedStock {
                    path: "$.Content.ListOfRequest[1]".into(),
                    product: "sku-2".into(),
                    product_path: "$.Content.ListOfRequest[1].ItemCode".into(),
                    warehouse: None,
                    lot: Some("L1".into()),
                    sublot: None,
                },
            ]
        );
        let wrapped =
            read(json!({"listofrequest": {"Request": [{"itemcode": "P001"}]}})).expect("valid");
        assert_eq!(wrapped.style, ListStyle::Wrapped);
        assert_eq!(wrapped.requests[0].product, "P001");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let problems = read(json!({"ListOfRequest": [
            {"WarehouseCode": "01"},
            "P002",
            {"ItemCode": "P003", "LotNumber": {"no": 1}}]}))
        .expect_err("refused");
        let codes: Vec<(Code, &str)> = problems
            .iter()
            .map(|detail| (detail.code, detail.message.as_str()))
            .collect();
        assert_eq!(codes[0].0, Code::ProductNotFound);
        assert!(codes[0]
            .1
            .starts_with("$.Content.ListOfRequest[0].ItemInternalId"));
        assert_eq!(codes[1].0, Code::InvalidField);
        assert!(codes[1].1.starts_with("$.Content.ListOfRequest[1]"));
        assert_eq!(codes[2].0, Code::InvalidField);
        assert!(codes[2]
            .1
            .starts_with("$.Content.ListOfRequest[2].LotNumber"));
    }

    #[test]
    fn a_request_asks_for_something_but_not_everything() {
        let empty = read(json!({})).expect_err("refused");
        assert!(empty[0].message.starts_with("$.Content.ListOfRequest"));
        let many: Vec<Value> = (0..=MAX_REQUESTS)
            .map(|n| json!({"ItemCode": format!("P{n}")}))
            .collect();
        let too_many = read(json!({ "ListOfRequest": many })).expect_err("refused");
        assert!(too_many[0].message.contains("at most 1000"), "{too_many:?}");
    }
}
