//! What an envelope touches, as it names it: the documents it is about and
//! the stock it reserves from, each qualified by the envelope's de/para
//! namespace.
//!
//! - An ItemReserve touches its own `InternalId` and the stock of each item:
//!   product (`ItemCode`, else `ItemInternalId`) and warehouse
//!   (`WarehouseCode`, else `WarehouseInternalId`) in its company and branch
//!   (the items' `ReserveBranch`, else the Header's `BranchId`).
//! - A RetailSales touches its own `InternalId`, its `DocumentCode` in its
//!   company and branch, and the reservations its items consume
//!   (`ItemReserveInternalId`); not stock, which a sale moves only through
//!   the reservations it consumes.
//!
//! Two envelopes that touch nothing in common cannot wait for each other's
//! locks, so a receiver may process them at the same time. The names are
//! the sender's, read leniently (a field that cannot be read names
//! nothing): two codes that de/para maps to one product look apart here,
//! and the store's locks keep such envelopes apart as always. Reading this
//! decides only what may run at once, never what an envelope comes to.

use crate::envelope::{Envelope, Transaction};
use crate::node::Node;

/// The documents and stock an envelope names, see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touches {
    /// `Transaction|namespace|InternalId` of each document it is about, and
    /// `Document|namespace|company|branch|DocumentCode` of a sale's document.
    pub documents: Vec<String>,
    /// `namespace|company|branch|product|warehouse` of each item's stock,
    /// without repeats.
    pub stock: Vec<String>,
}

impl Envelope<'_> {
    /// What this envelope touches; nothing for a transaction other than
    /// ItemReserve and RetailSales.
    pub fn touches(&self) -> Touches {
        let namespace = self.namespace();
        let company = self.header_label("CompanyId");
        let branch = self.header_label("BranchId");
        let content = self.content();
        let text = |node: &Node<'_>, keys: &[&str]| {
            keys.iter().find_map(|key| node.text(key).ok().flatten())
        };
        let document = |transaction: Transaction, id: Option<String>| {
            id.map(|id| format!("{}|{namespace}|{id}", transaction.as_str()))
        };
        let mut touches = Touches::default();
        match self.transaction() {
            Ok(Transaction::ItemReserve) => {
                touches.documents.extend(document(
                    Transaction::ItemReserve,
                    text(&content, &["InternalId"]),
                ));
                for item in content.list("ReserveItemType", "Item").unwrap_or_default() {
                    let Some(product) = text(&item, &["ItemCode", "ItemInternalId"]) else {
                        continue;
                    };
                    let warehouse =
                        text(&item, &["WarehouseCode", "WarehouseInternalId"]).unwrap_or_default();
                    let branch = text(&item, &["ReserveBranch"]).unwrap_or_else(|| branch.clone());
                    touches.stock.push(format!(
                        "{namespace}|{company}|{branch}|{product}|{warehouse}"
                    ));
                }
            }
            Ok(Transaction::RetailSales) => {
                touches.documents.extend(document(
                    Transaction::RetailSales,
                    text(&content, &["InternalId"]),
                ));
                touches.documents.extend(
                    text(&content, &["DocumentCode"])
                        .map(|code| format!("Document|{namespace}|{company}|{branch}|{code}")),
                );
                for item in content
                    .list("ListOfSaleItem", "SaleItem")
                    .unwrap_or_default()
                {
                    touches.documents.extend(document(
                        Transaction::ItemReserve,
                        text(&item, &["ItemReserveInternalId"]),
                    ));
                }
            }
            _ => {}
        }
        touches.documents.sort_unstable();
        touches.documents.dedup();
        touches.stock.sort_unstable();
        touches.stock.dedup();
        touches
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn touches(value: Value) -> Touches {
        Envelope::parse(value.to_string().as_bytes())
            .expect("an envelope")
            .touches()
    }

    fn header(transaction: &str) -> Value {
        json!({"UUID": "u-1", "Transaction": transaction, "ProductName": "SHOP",
               "CompanyId": "T1", "BranchId": "D MG 01"})
    }

    #[test]
    fn a_reservation_touches_itself_and_the_stock_of_its_items() {
        let touched = touches(json!({
            "Header": header("ItemReserve"),
            "Content": {"InternalId": "R-1", "ReserveItemType": {"Item": [
                {"ItemCode": "P2", "WarehouseCode": "01", "Quantity": 1},
                {"ItemInternalId": "P1", "Quantity": 1},
                {"ItemCode": " P2 ", "WarehouseCode": "01", "Quantity": 3},
                {"ItemCode": "P2", "WarehouseCode": "02", "Quantity": 1}
            ]}}
        }));
        assert_eq!(
            touched,
            Touches {
                documents: vec!["ItemReserve|SHOP|R-1".to_owned()],
                stock: vec![
                    "SHOP|T1|D MG 01|P1|".to_owned(),
                    "SHOP|T1|D MG 01|P2|01".to_owned(),
                    "SHOP|T1|D MG 01|P2|02".to_owned(),
                ],
            }
        );
    }

    #[test]
    fn a_reservation_in_another_branch_touches_that_branch_s_stock() {
        let touched = touches(json!({
            "Header": header("ItemReserve"),
            "Content": {"InternalId": "R-1", "ReserveItemType": [
                {"ItemCode": "P1", "WarehouseCode": "01", "ReserveBranch": "D RJ 02"}
            ]}
        }));
        assert_eq!(touched.stock, ["SHOP|T1|D RJ 02|P1|01"]);
    }

    #[test]
    fn a_sale_touches_its_documents_and_the_reservations_its_items_consume_not_stock() {
        let touched = touches(json!({
            "Header": header("retailsales"),
            "Content": {"InternalId": "S-1", "DocumentCode": "000123", "ListOfSaleItem": [
                {"ItemCode": "P1", "ItemReserveInternalId": "R-1"},
                {"ItemCode": "P2", "ItemReserveInternalId": "R-1"},
                {"ItemCode": "P3"}
            ]}
        }));
        assert_eq!(
            touched.documents,
            [
                "Document|SHOP|T1|D MG 01|000123",
                "ItemReserve|SHOP|R-1",
                "RetailSales|SHOP|S-1"
            ]
        );
        assert!(touched.stock.is_empty(), "{touched:?}");
    }

    #[test]
    fn what_cannot_be_read_names_nothing() {
        let touched = touches(json!({
            "Header": header("ItemReserve"),
            "Content": {"InternalId": {"not": "text"}, "ReserveItemType": "P1"}
        }));
        assert_eq!(touched, Touches::default());
        let cancellation = touches(json!({
            "Header": header("RetailSalesCancellation"),
            "Content": {"RetailSalesInternalId": "S-1"}
        }));
        assert_eq!(cancellation, Touches::default());
    }
}
