//! The ItemReserve content model (SPEC §4): what a stock reservation asks for,
//! validated for shape before any database work.
//!
//! Every problem in the content is reported at once, each naming its JSON path,
//! so the sender can fix an envelope in one round trip instead of one error at
//! a time. Whether products, warehouses and lots exist is the domain's concern.

use rust_decimal::Decimal;

use crate::code::{Code, Detail};
use crate::envelope::Event;
use crate::node::Node;
use crate::reading::{first_text, Problems};
use crate::timestamp::Timestamp;

/// The TOTVS reservation types (`ReserveType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReserveType {
    /// VD — sale.
    Vd,
    /// CL — customer.
    Cl,
    /// PD — order.
    Pd,
    /// LB — release.
    Lb,
    /// NF — invoice.
    Nf,
    /// LJ — store.
    Lj,
}

impl ReserveType {
    /// Every type, to match codes against.
    const ALL: [ReserveType; 6] = [
        ReserveType::Vd,
        ReserveType::Cl,
        ReserveType::Pd,
        ReserveType::Lb,
        ReserveType::Nf,
        ReserveType::Lj,
    ];

    /// `"VD"`, `"vd"`, `" Vd "`… → `Vd`; unknown codes → `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        ReserveType::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
    }

    /// The upper-case code, as stored and echoed.
    pub fn as_str(self) -> &'static str {
        match self {
            ReserveType::Vd => "VD",
            ReserveType::Cl => "CL",
            ReserveType::Pd => "PD",
            ReserveType::Lb => "LB",
            ReserveType::Nf => "NF",
            ReserveType::Lj => "LJ",
        }
    }
}

/// A reservation request, shape-valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemReserve {
    /// The sender's id for the reservation: the de/para key for later
    /// upserts, deletes and sales.
    pub internal_id: String,
    /// `ReserveType` (always present for an upsert).
    pub reserve_type: Option<ReserveType>,
    /// `DocumentReserve` (always present for an upsert).
    pub document_reserve: Option<String>,
    /// `Requester`.
    pub requester: Option<String>,
    /// `RequestBranch`.
    pub request_branch: Option<String>,
    /// `ReserveNumber`, when the sender proposes one.
    pub reserve_number: Option<String>,
    /// The items, in document order (empty for a delete).
    pub items: Vec<ReserveItem>,
}

/// One item to reserve.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveItem {
    /// The item's JSON path (`$.Content.ReserveItemType.Item[0]`), so domain
    /// errors can name it too.
    pub path: String,
    /// `ItemCode`, else `ItemInternalId`: the external product (de/para).
    pub item_code: String,
    /// `WarehouseCode`, else `WarehouseInternalId`; `None` means the product's
    /// default warehouse.
    pub warehouse: Option<String>,
    /// `Quantity`, always > 0.
    pub quantity: Decimal,
    /// `LotNumber`: reserve from this lot only.
    pub lot: Option<String>,
    /// `SubLotNumber`.
    pub sublot: Option<String>,
    /// `ReserveExpiration`: after it, the sweep releases the reservation.
    pub expiration: Option<Timestamp>,
    /// `IssueDateReserve`: lots expiring before it are not candidates.
    pub issue_date: Option<Timestamp>,
    /// `ReserveBranch` (the same for every item).
    pub reserve_branch: Option<String>,
    /// `IsCanceled`.
    pub is_canceled: bool,
}

impl ItemReserve {
    /// Reads an ItemReserve `Content`. Items come from `ReserveItemType`, wrapped
    /// with `Item` or plain.
    ///
    /// Every problem is collected, each naming its path:
    /// - `InternalId` missing → `INVALID_FIELD`;
    /// - `ReserveType` missing (upsert) or unknown → `RESERVE_TYPE_INVALID`;
    /// - `DocumentReserve` missing (upsert) → `DOCUMENT_RESERVE_MISSING`;
    /// - no items (upsert) → `INVALID_FIELD` expecting "at least one item";
    /// - an item without `ItemCode`/`ItemInternalId` → `PRODUCT_NOT_FOUND`;
    /// - `Quantity` missing, unparseable or ≤ 0 → `QUANTITY_INVALID`;
    /// - `ReserveBranch` differing between items → `RESERVE_BRANCH_MISMATCH`;
    /// - any other type error → that `INVALID_FIELD`.
    ///
    /// A delete only names the reservation to release: only `InternalId` is
    /// required and read strictly; the other header fields are read when
    /// well-formed, and items are not read, so stale or partial content sent
    /// along with a cancellation never blocks the release.
    pub fn from_content(content: &Node<'_>, event: Event) -> Result<ItemReserve, Vec<Detail>> {
        let mut problems = Problems::default();
        let internal_id = problems
            .required(content.text("InternalId"), || {
                Detail::invalid_field(
                    &content.child_path("InternalId"),
                    "a non-empty string",
                    content.raw("InternalId"),
                )
            })
            .unwrap_or_default();
        let reserve = match event {
            Event::Delete => ItemReserve {
                internal_id,
                reserve_type: content
                    .text("ReserveType")
                    .ok()
                    .flatten()
                    .and_then(|kind| ReserveType::parse(&kind)),
                document_reserve: content.text("DocumentReserve").ok().flatten(),
                requester: content.text("Requester").ok().flatten(),
                request_branch: content.text("RequestBranch").ok().flatten(),
                reserve_number: content.text("ReserveNumber").ok().flatten(),
                items: Vec::new(),
            },
            Event::Upsert => ItemReserve {
                internal_id,
                reserve_type: read_reserve_type(content, &mut problems),
                document_reserve: read_document_reserve(content, &mut problems),
                requester: problems.take(content.text("Requester")),
                request_branch: problems.take(content.text("RequestBranch")),
                reserve_number: problems.take(content.text("ReserveNumber")),
                items: read_items(content, &mut problems),
            },
        };
        problems.into_result(reserve)
    }

    /// The common `ReserveBranch` of the items, if any gave one.
    pub fn reserve_branch(&self) -> Option<&str> {
        self.items
            .iter()
            .find_map(|item| item.reserve_branch.as_deref())
    }
}

/// `ReserveType`, required for an upsert.
fn read_reserve_type(content: &Node<'_>, problems: &mut Problems) -> Option<ReserveType> {
    let path = content.child_path("ReserveType");
    let text = problems.required(content.text("ReserveType"), || {
        Detail::error(
            Code::ReserveTypeInvalid,
            format!("{path}: missing (expected VD, CL, PD, LB, NF or LJ)"),
        )
    })?;
    let kind = ReserveType::parse(&text);
    if kind.is_none() {
        problems.push(Detail::error(
            Code::ReserveTypeInvalid,
            format!("{path}: reserve type {text:?} is not one of VD, CL, PD, LB, NF, LJ"),
        ));
    }
    kind
}

/// `DocumentReserve`, required for an upsert.
fn read_document_reserve(content: &Node<'_>, problems: &mut Problems) -> Option<String> {
    problems.required(content.text("DocumentReserve"), || {
        Detail::error(
            Code::DocumentReserveMissing,
            format!("{}: missing", content.child_path("DocumentReserve")),
        )
    })
}

/// The items of an upsert: at least one, each shape-valid, all in one branch.
fn read_items(content: &Node<'_>, problems: &mut Problems) -> Vec<ReserveItem> {
    let nodes = match content.list("ReserveItemType", "Item") {
        Ok(nodes) => nodes,
        Err(detail) => {
            problems.push(detail);
            return Vec::new();
        }
    };
    if nodes.is_empty() {
        problems.push(Detail::invalid_field(
            &content.child_path("ReserveItemType"),
            "at least one item",
            content.raw("ReserveItemType"),
        ));
    }
    let items: Vec<ReserveItem> = nodes
        .iter()
        .filter_map(|node| read_item(node, problems))
        .collect();
    check_one_branch(&items, problems);
    items
}

/// Every item that names a `ReserveBranch` must name the first one given.
fn check_one_branch(items: &[ReserveItem], problems: &mut Problems) {
    let mut branches = items.iter().filter_map(|item| {
        item.reserve_branch
            .as_ref()
            .map(|branch| (branch, &item.path))
    });
    let Some((first, first_path)) = branches.next() else {
        return;
    };
    for (branch, path) in branches.filter(|(branch, _)| *branch != first) {
        problems.push(Detail::error(
            Code::ReserveBranchMismatch,
            format!(
                "{path}.ReserveBranch: {branch:?} differs from {first:?} at {first_path}.ReserveBranch (all items must reserve in one branch)"
            ),
        ));
    }
}

/// One item; `None` (with the problem recorded) when it is not an object.
fn read_item(node: &Node<'_>, problems: &mut Problems) -> Option<ReserveItem> {
    if !node.value().is_object() {
        problems.push(Detail::invalid_field(
            node.path(),
            "an object",
            node.value(),
        ));
        return None;
    }
    let item_code = problems
        .required(first_text(node, &["ItemCode", "ItemInternalId"]), || {
            Detail::error(
                Code::ProductNotFound,
                format!(
                    "{}: product not informed (ItemCode or ItemInternalId)",
                    node.child_path("ItemCode")
                ),
            )
        })
        .unwrap_or_default();
    Some(ReserveItem {
        path: node.path().to_owned(),
        item_code,
        warehouse: problems.take(first_text(node, &["WarehouseCode", "WarehouseInternalId"])),
        quantity: read_quantity(node, problems),
        lot: problems.take(node.text("LotNumber")),
        sublot: problems.take(node.text("SubLotNumber")),
        expiration: problems.take(node.timestamp("ReserveExpiration")),
        issue_date: problems.take(node.timestamp("IssueDateReserve")),
        reserve_branch: problems.take(node.text("ReserveBranch")),
        is_canceled: problems.take(node.flag("IsCanceled")).unwrap_or(false),
    })
}

/// `Quantity`: present, a decimal, > 0; anything else is `QUANTITY_INVALID`
/// (recorded; the returned zero is never used since the content is refused).
fn read_quantity(node: &Node<'_>, problems: &mut Problems) -> Decimal {
    let path = node.child_path("Quantity");
    let problem = match node.decimal("Quantity") {
        Ok(Some(quantity)) if quantity > Decimal::ZERO => return quantity,
        Ok(Some(quantity)) => format!("{path}: quantity {quantity} must be greater than zero"),
        Ok(None) => format!("{path}: missing"),
        Err(_) => format!(
            "{path}: expected a number greater than zero, got {}",
            node.raw("Quantity")
        ),
    };
    problems.push(Detail::error(Code::QuantityInvalid, problem));
    Decimal::ZERO
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::*;
    use crate::json::Json;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str_exact(text).expect("valid decimal")
    }

    fn read(content: Value, event: Event) -> Result<ItemReserve, Vec<Detail>> {
        ItemReserve::from_content(
            &Node::at(&Json::from(&content), "$.Content".to_owned()),
            event,
        )
    }

    /// The (code, message) pairs of a refused content, in report order.
    fn problems(content: Value) -> Vec<(Code, String)> {
        read(content, Event::Upsert)
            .expect_err("refused")
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    fn valid() -> Value {
        json!({
            "InternalId": "b1e5d0d4-ceee-4e3b-9808-1db111c2f7FC",
            "ReserveType": "vd",
            "DocumentReserve": "1200873417041-01",
            "Requester": "ECOMMERCE",
            "RequestBranch": "D MG 01",
            "ReserveItemType": {"Item": [
                {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 102,
                 "ReserveExpiration": "2022-04-30", "IssueDateReserve": "2022-03-30T17:00:39.01118+00:00",
                 "ReserveBranch": "D MG 01", "IsCanceled": false},
                {"ItemInternalId": "P002", "WarehouseInternalId": "02", "Quantity": "2,5",
                 "LotNumber": "L1", "SubLotNumber": "S1", "ReserveBranch": "D MG 01", "IsCanceled": "N"}
            ]}
        })
    }

    #[test]
    fn valid_upsert_with_two_items() {
        let reserve = read(valid(), Event::Upsert).expect("valid");
        assert_eq!(reserve.internal_id, "b1e5d0d4-ceee-4e3b-9808-1db111c2f7FC");
        assert_eq!(reserve.reserve_type, Some(ReserveType::Vd));
        assert_eq!(
            reserve.document_reserve.as_deref(),
            Some("1200873417041-01")
        );
        assert_eq!(reserve.requester.as_deref(), Some("ECOMMERCE"));
        assert_eq!(reserve.request_branch.as_deref(), Some("D MG 01"));
        assert_eq!(reserve.reserve_number, None);
        assert_eq!(reserve.reserve_branch(), Some("D MG 01"));
        let [first, second] = reserve.items.as_slice() else {
            panic!("two items expected, got {:?}", reserve.items);
        };
        assert_eq!(first.path, "$.Content.ReserveItemType.Item[0]");
        assert_eq!(first.item_code, "P001");
        assert_eq!(first.warehouse.as_deref(), Some("01"));
        assert_eq!(first.quantity, dec("102"));
        assert_eq!(
            first.expiration.map(|t| t.date().to_string()),
            Some("2022-04-30".into())
        );
        assert!(matches!(first.issue_date, Some(Timestamp::Zoned(_))));
        assert!(!first.is_canceled);
        assert_eq!(second.path, "$.Content.ReserveItemType.Item[1]");
        assert_eq!(second.item_code, "P002", "ItemInternalId when no ItemCode");
        assert_eq!(
            second.warehouse.as_deref(),
            Some("02"),
            "WarehouseInternalId fallback"
        );
        assert_eq!(second.quantity, dec("2.5"));
        assert_eq!(second.lot.as_deref(), Some("L1"));
        assert_eq!(second.sublot.as_deref(), Some("S1"));
        assert_eq!(second.expiration, None);
    }

    #[test]
    fn items_may_come_as_a_plain_array() {
        let mut content = valid();
        content["ReserveItemType"] = json!([{"ItemCode": "P001", "Quantity": 1}]);
        let reserve = read(content, Event::Upsert).expect("valid");
        assert_eq!(reserve.items.len(), 1);
        assert_eq!(reserve.items[0].path, "$.Content.ReserveItemType[0]");
        assert_eq!(reserve.items[0].warehouse, None, "default warehouse later");
        assert_eq!(reserve.reserve_branch(), None);
    }

    #[test]
    fn item_code_wins_over_item_internal_id() {
        let mut content = valid();
        content["ReserveItemType"] =
            json!({"Item": {"ItemCode": "A", "ItemInternalId": "B", "Quantity": 1}});
        let reserve = read(content, Event::Upsert).expect("valid");
        assert_eq!(reserve.items[0].item_code, "A");
        assert_eq!(reserve.items[0].path, "$.Content.ReserveItemType.Item");
    }

    #[test]
    fn missing_internal_id_is_invalid_field() {
        let mut content = valid();
        content["InternalId"] = json!("");
        assert_eq!(
            problems(content),
            [(
                Code::InvalidField,
                "$.Content.InternalId: expected a non-empty string, got \"\"".to_owned()
            )]
        );
    }

    #[test]
    fn unknown_reserve_type_is_reserve_type_invalid() {
        let mut content = valid();
        content["ReserveType"] = json!("XX");
        assert_eq!(
            problems(content),
            [(
                Code::ReserveTypeInvalid,
                "$.Content.ReserveType: reserve type \"XX\" is not one of VD, CL, PD, LB, NF, LJ"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn missing_reserve_type_on_upsert_is_reserve_type_invalid() {
        let mut content = valid();
        content
            .as_object_mut()
            .map(|o| o.shift_remove("ReserveType"));
        assert_eq!(
            problems(content),
            [(
                Code::ReserveTypeInvalid,
                "$.Content.ReserveType: missing (expected VD, CL, PD, LB, NF or LJ)".to_owned()
            )]
        );
    }

    #[test]
    fn every_reserve_type_parses_in_any_case() {
        for kind in ReserveType::ALL {
            assert_eq!(
                ReserveType::parse(&kind.as_str().to_lowercase()),
                Some(kind)
            );
        }
        assert_eq!(ReserveType::parse("VDX"), None);
    }

    #[test]
    fn missing_document_reserve_is_document_reserve_missing() {
        let mut content = valid();
        content["DocumentReserve"] = Value::Null;
        assert_eq!(
            problems(content),
            [(
                Code::DocumentReserveMissing,
                "$.Content.DocumentReserve: missing".to_owned()
            )]
        );
    }

    #[test]
    fn no_items_is_invalid_field_at_least_one_item() {
        let mut content = valid();
        content["ReserveItemType"] = json!({"Item": []});
        assert_eq!(
            problems(content),
            [(
                Code::InvalidField,
                "$.Content.ReserveItemType: expected at least one item, got {\"Item\":[]}"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn item_without_product_is_product_not_found() {
        let mut content = valid();
        content["ReserveItemType"]["Item"][1]["ItemInternalId"] = json!("  ");
        assert_eq!(
            problems(content),
            [(
                Code::ProductNotFound,
                "$.Content.ReserveItemType.Item[1].ItemCode: product not informed (ItemCode or ItemInternalId)"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn missing_unparseable_zero_or_negative_quantity_is_quantity_invalid() {
        let cases = [
            (Value::Null, "$.Content.ReserveItemType.Item[0].Quantity: missing"),
            (
                json!("1.234,5"),
                "$.Content.ReserveItemType.Item[0].Quantity: expected a number greater than zero, got \"1.234,5\"",
            ),
            (json!(0), "$.Content.ReserveItemType.Item[0].Quantity: quantity 0 must be greater than zero"),
            (json!("-2"), "$.Content.ReserveItemType.Item[0].Quantity: quantity -2 must be greater than zero"),
        ];
        for (quantity, message) in cases {
            let mut content = valid();
            content["ReserveItemType"]["Item"][0]["Quantity"] = quantity;
            assert_eq!(
                problems(content),
                [(Code::QuantityInvalid, message.to_owned())]
            );
        }
    }

    #[test]
    fn quantities_beyond_the_exact_range_or_negative_zero_are_quantity_invalid() {
        for (number, message) in [
            (
                "1e400",
                "$.Content.ReserveItemType.Item[0].Quantity: expected a number greater than zero, got 1e+400",
            ),
            (
                "1e-400",
                "$.Content.ReserveItemType.Item[0].Quantity: expected a number greater than zero, got 1e-400",
            ),
            (
                "-0",
                "$.Content.ReserveItemType.Item[0].Quantity: quantity 0 must be greater than zero",
            ),
        ] {
            let mut content = valid();
            content["ReserveItemType"]["Item"][0]["Quantity"] =
                serde_json::from_str(number).expect("a JSON number");
            assert_eq!(
                problems(content),
                [(Code::QuantityInvalid, message.to_owned())],
                "{number}"
            );
        }
    }

    #[test]
    fn identifiers_longer_than_255_characters_are_invalid_fields() {
        let mut content = valid();
        content["InternalId"] = json!("i".repeat(10_000));
        content["DocumentReserve"] = json!("d".repeat(256));
        content["ReserveItemType"]["Item"][0]["ItemCode"] = json!("p".repeat(256));
        content["ReserveItemType"]["Item"][1]["LotNumber"] = json!("l".repeat(255));
        let found = problems(content);
        let paths: Vec<(Code, &str)> = found
            .iter()
            .map(|(code, message)| (*code, message.split(": ").next().unwrap_or_default()))
            .collect();
        assert_eq!(
            paths,
            [
                (Code::InvalidField, "$.Content.InternalId"),
                (Code::InvalidField, "$.Content.DocumentReserve"),
                (
                    Code::InvalidField,
                    "$.Content.ReserveItemType.Item[0].ItemCode"
                ),
            ]
        );
        assert!(found
            .iter()
            .all(|(_, message)| message
                .contains(": expected a string of at most 255 characters, got ")));
    }

    #[test]
    fn items_in_different_branches_are_reserve_branch_mismatch() {
        let mut content = valid();
        content["ReserveItemType"]["Item"][1]["ReserveBranch"] = json!("D SP 02");
        assert_eq!(
            problems(content),
            [(
                Code::ReserveBranchMismatch,
                "$.Content.ReserveItemType.Item[1].ReserveBranch: \"D SP 02\" differs from \"D MG 01\" at $.Content.ReserveItemType.Item[0].ReserveBranch (all items must reserve in one branch)"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn type_errors_are_the_node_invalid_field() {
        let mut content = valid();
        content["ReserveItemType"]["Item"][0]["ReserveExpiration"] = json!("30/04/2022");
        content["ReserveItemType"]["Item"][1]["IsCanceled"] = json!("talvez");
        let found = problems(content);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|(code, _)| *code == Code::InvalidField));
        assert!(found[0].1.starts_with(
            "$.Content.ReserveItemType.Item[0].ReserveExpiration: expected a date/time"
        ));
        assert!(found[1]
            .1
            .starts_with("$.Content.ReserveItemType.Item[1].IsCanceled: expected a boolean"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let content = json!({
            "ReserveType": "ZZ",
            "ReserveItemType": {"Item": [
                {"Quantity": 0, "ReserveBranch": "A"},
                {"ItemCode": "P1", "Quantity": "abc", "ReserveBranch": "B"},
                "not an item"
            ]}
        });
        let codes: Vec<Code> = problems(content)
            .into_iter()
            .map(|(code, _)| code)
            .collect();
        assert_eq!(
            codes,
            [
                Code::InvalidField,
                Code::ReserveTypeInvalid,
                Code::DocumentReserveMissing,
                Code::ProductNotFound,
                Code::QuantityInvalid,
                Code::QuantityInvalid,
                Code::InvalidField,
                Code::ReserveBranchMismatch,
            ]
        );
    }

    #[test]
    fn a_list_of_the_wrong_type_is_reported_once() {
        let mut content = valid();
        content["ReserveItemType"] = json!("P001");
        assert_eq!(
            problems(content),
            [(
                Code::InvalidField,
                "$.Content.ReserveItemType: expected a list, got \"P001\"".to_owned()
            )]
        );
    }

    #[test]
    fn delete_needs_only_the_internal_id() {
        let reserve = read(json!({"InternalId": "R-1"}), Event::Delete).expect("valid delete");
        assert_eq!(reserve.internal_id, "R-1");
        assert_eq!(reserve.reserve_type, None);
        assert_eq!(reserve.document_reserve, None);
        assert!(reserve.items.is_empty());
    }

    #[test]
    fn delete_ignores_stale_items_but_still_needs_the_internal_id() {
        let stale = json!({"InternalId": "R-1", "ReserveType": "LJ",
                           "ReserveItemType": {"Item": [{"Quantity": 0}]}});
        let reserve = read(stale, Event::Delete).expect("valid delete");
        assert_eq!(reserve.reserve_type, Some(ReserveType::Lj));
        assert!(reserve.items.is_empty());
        let codes: Vec<Code> = read(json!({"ReserveType": "VD"}), Event::Delete)
            .expect_err("no id")
            .into_iter()
            .map(|d| d.code)
            .collect();
        assert_eq!(codes, [Code::InvalidField]);
    }
}
