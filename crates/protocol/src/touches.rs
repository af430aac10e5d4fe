//! What an envelope touches, as it names it: the documents (its own
//! `InternalId`, the reservations a sale's items consume) and the products
//! of its items, each qualified by the envelope's de/para namespace.
//!
//! Two envelopes that touch nothing in common cannot wait for each other's
//! locks, so a receiver may process them at the same time. The names are
//! the sender's, read leniently (a field that cannot be read names
//! nothing): two codes that de/para maps to one product look apart here,
//! and the store's locks keep such envelopes apart as always. Reading this
//! decides only what may run at once, never what an envelope comes to.

use crate::envelope::{Envelope, Transaction};
use crate::node::Node;

/// The documents and products an envelope names, see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touches {
    /// `Transaction|namespace|InternalId` of each document.
    pub documents: Vec<String>,
    /// `namespace|code` of each item's product (`ItemCode`, else
    /// `ItemInternalId`), without repeats.
    pub products: Vec<String>,
}

impl Envelope<'_> {
    /// What this envelope touches; nothing for a transaction other than
    /// ItemReserve and RetailSales (those run alone).
    pub fn touches(&self) -> Touches {
        let namespace = self.namespace();
        let content = self.content();
        let document = |transaction: Transaction, node: &Node<'_>, key: &str| {
            let id = node.text(key).ok().flatten()?;
            Some(format!("{}|{namespace}|{id}", transaction.as_str()))
        };
        let (transaction, items) = match self.transaction() {
            Ok(Transaction::ItemReserve) => (
                Transaction::ItemReserve,
                content.list("ReserveItemType", "Item"),
            ),
            Ok(Transaction::RetailSales) => (
                Transaction::RetailSales,
                content.list("ListOfSaleItem", "SaleItem"),
            ),
            _ => return Touches::default(),
        };
        let items = items.unwrap_or_default();
        let mut touches = Touches::default();
        touches
            .documents
            .extend(document(transaction, &content, "InternalId"));
        for item in &items {
            touches.documents.extend(document(
                Transaction::ItemReserve,
                item,
                "ItemReserveInternalId",
            ));
            let code = ["ItemCode", "ItemInternalId"]
                .into_iter()
                .find_map(|key| item.text(key).ok().flatten());
            if let Some(code) = code {
                touches.products.push(format!("{namespace}|{code}"));
            }
        }
        touches.documents.sort_unstable();
        touches.documents.dedup();
        touches.products.sort_unstable();
        touches.products.dedup();
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
        json!({"UUID": "u-1", "Transaction": transaction, "ProductName": "SHOP"})
    }

    #[test]
    fn a_reservation_touches_itself_and_the_products_of_its_items() {
        let touched = touches(json!({
            "Header": header("ItemReserve"),
            "Content": {"InternalId": "R-1", "ReserveItemType": {"Item": [
                {"ItemCode": "P2", "Quantity": 1},
                {"ItemInternalId": "P1", "Quantity": 1},
                {"ItemCode": " P2 ", "Quantity": 3}
            ]}}
        }));
        assert_eq!(
            touched,
            Touches {
                documents: vec!["ItemReserve|SHOP|R-1".to_owned()],
                products: vec!["SHOP|P1".to_owned(), "SHOP|P2".to_owned()],
            }
        );
    }

    #[test]
    fn a_sale_touches_the_reservations_its_items_consume() {
        let touched = touches(json!({
            "Header": header("retailsales"),
            "Content": {"InternalId": "S-1", "ListOfSaleItem": [
                {"ItemCode": "P1", "ItemReserveInternalId": "R-1"},
                {"ItemCode": "P2", "ItemReserveInternalId": "R-1"},
                {"ItemCode": "P3"}
            ]}
        }));
        assert_eq!(
            touched.documents,
            ["ItemReserve|SHOP|R-1", "RetailSales|SHOP|S-1"]
        );
        assert_eq!(touched.products, ["SHOP|P1", "SHOP|P2", "SHOP|P3"]);
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
