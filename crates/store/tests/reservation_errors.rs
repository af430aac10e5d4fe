//! Every coded error of an ItemReserve (SPEC §6, envelope and reservation
//! groups): one failing envelope each, answered with an error receipt that
//! carries the code, and nothing reserved.

mod common;

use common::*;
use eai_store::testing::TestDatabase;
use serde_json::{json, Value};

/// Sends `envelope` and checks the receipt is an error made only of `code`
/// details and that no stock or reservation changed; the receipt is still
/// recorded against the UUID.
async fn refused(db: &TestDatabase, envelope: &Value, code: &str) -> Reply {
    let pool = &db.any().await;
    let before = business_state(pool).await;
    let reply = send(&db.store, envelope).await;
    reply.assert_only(code);
    assert!(reply.internal_ids().is_empty(), "{:#}", reply.json);
    assert_eq!(
        business_state(pool).await,
        before,
        "{code} must leave stock and reservations untouched"
    );
    let (status,): (Option<String>,) = sqlx::query_as("SELECT status FROM inbox WHERE uuid = $1")
        .bind(uuid_of(envelope))
        .fetch_one(pool)
        .await
        .expect("the refused UUID is in the inbox");
    assert_eq!(status.as_deref(), Some("error"));
    reply
}

/// One P003 item of `quantity` in warehouse 01.
fn p003(quantity: Value) -> Value {
    json!({"ItemCode": "P003", "WarehouseCode": "01", "Quantity": quantity})
}

/// The message of the only detail, which must name `path`.
fn assert_names(reply: &Reply, path: &str) {
    for detail in reply.details() {
        let message = detail["Message"].as_str().expect("Message");
        assert!(message.contains(path), "{message:?} should name {path}");
    }
}

#[tokio::test]
async fn unknown_reserve_type_is_reserve_type_invalid() {
    let db = seeded().await;
    let mut envelope = reserve("E-TYPE", json!([p003(json!(1))]));
    set(&mut envelope, "/Content/ReserveType", json!("XX"));
    let reply = refused(&db, &envelope, "RESERVE_TYPE_INVALID").await;
    assert_names(&reply, "$.Content.ReserveType");
}

#[tokio::test]
async fn missing_reserve_type_is_reserve_type_invalid() {
    let db = seeded().await;
    let mut envelope = reserve("E-TYPE-MISSING", json!([p003(json!(1))]));
    remove(&mut envelope, "/Content/ReserveType");
    refused(&db, &envelope, "RESERVE_TYPE_INVALID").await;
}

#[tokio::test]
async fn missing_document_reserve_is_document_reserve_missing() {
    let db = seeded().await;
    let mut envelope = reserve("E-DOC", json!([p003(json!(1))]));
    remove(&mut envelope, "/Content/DocumentReserve");
    let reply = refused(&db, &envelope, "DOCUMENT_RESERVE_MISSING").await;
    assert_names(&reply, "$.Content.DocumentReserve");
}

#[tokio::test]
async fn items_in_two_branches_are_reserve_branch_mismatch() {
    let db = seeded().await;
    let envelope = reserve(
        "E-BRANCHES",
        json!([
            {"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 1, "ReserveBranch": "D MG 01"},
            {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1, "ReserveBranch": "D MG 02"}
        ]),
    );
    let reply = refused(&db, &envelope, "RESERVE_BRANCH_MISMATCH").await;
    assert_names(&reply, "Item[1].ReserveBranch");
}

#[tokio::test]
async fn an_unknown_product_is_product_not_found() {
    let db = seeded().await;
    let envelope = reserve(
        "E-PRODUCT",
        json!([p003(json!(1)), {"ItemCode": "NOPE", "WarehouseCode": "01", "Quantity": 1}]),
    );
    let reply = refused(&db, &envelope, "PRODUCT_NOT_FOUND").await;
    assert_names(&reply, "$.Content.ReserveItemType.Item[1]");
}

#[tokio::test]
async fn a_blocked_product_is_product_blocked() {
    let db = seeded().await;
    let envelope = reserve(
        "E-BLOCKED",
        json!([{"ItemCode": "P099", "WarehouseCode": "01", "Quantity": 1}]),
    );
    refused(&db, &envelope, "PRODUCT_BLOCKED").await;
}

#[tokio::test]
async fn an_unknown_warehouse_is_warehouse_not_found() {
    let db = seeded().await;
    let envelope = reserve(
        "E-WAREHOUSE",
        json!([{"ItemCode": "P003", "WarehouseCode": "99", "Quantity": 1}]),
    );
    let reply = refused(&db, &envelope, "WAREHOUSE_NOT_FOUND").await;
    assert_names(&reply, "Item[0]");
}

#[tokio::test]
async fn a_warehouse_of_another_branch_is_warehouse_not_found() {
    // Warehouse 02 exists in D MG 01 only.
    let db = seeded().await;
    let mut envelope = reserve(
        "E-WAREHOUSE-BRANCH",
        json!([{"ItemCode": "P001", "WarehouseCode": "02", "Quantity": 1}]),
    );
    set(&mut envelope, "/Header/BranchId", json!("D MG 02"));
    refused(&db, &envelope, "WAREHOUSE_NOT_FOUND").await;
}

#[tokio::test]
async fn zero_negative_and_non_numeric_quantities_are_quantity_invalid_each() {
    let db = seeded().await;
    let envelope = reserve(
        "E-QUANTITY",
        json!([p003(json!(0)), p003(json!(-3)), p003(json!("abc"))]),
    );
    let reply = refused(&db, &envelope, "QUANTITY_INVALID").await;
    assert_eq!(reply.codes().len(), 3, "{:#}", reply.json);
    for (detail, index) in reply.details().iter().zip(0..) {
        let path = format!("$.Content.ReserveItemType.Item[{index}].Quantity");
        assert!(
            detail["Message"]
                .as_str()
                .is_some_and(|message| message.contains(&path)),
            "{detail} should name {path}"
        );
    }
}

#[tokio::test]
async fn an_unknown_lot_number_is_lot_not_found() {
    let db = seeded().await;
    let envelope = reserve(
        "E-LOT",
        json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1, "LotNumber": "NOPE"}]),
    );
    let reply = refused(&db, &envelope, "LOT_NOT_FOUND").await;
    assert_names(&reply, "Item[0].LotNumber");
}

#[tokio::test]
async fn an_expired_lot_number_is_lot_expired() {
    let db = seeded().await;
    let envelope = reserve(
        "E-EXPIRED",
        json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1, "LotNumber": "L2025"}]),
    );
    let reply = refused(&db, &envelope, "LOT_EXPIRED").await;
    assert_names(&reply, "Item[0].LotNumber");
}

#[tokio::test]
async fn more_than_the_lots_hold_is_lot_insufficient() {
    let db = seeded().await;
    let envelope = reserve(
        "E-SHORT",
        json!([{"ItemCode": "P004", "WarehouseCode": "01", "Quantity": 11}]),
    );
    refused(&db, &envelope, "LOT_INSUFFICIENT").await;
}

#[tokio::test]
async fn an_explicit_lot_short_of_stock_is_lot_insufficient() {
    let db = seeded().await;
    let envelope = reserve(
        "E-LOT-SHORT",
        json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 101, "LotNumber": "L2029A"}]),
    );
    refused(&db, &envelope, "LOT_INSUFFICIENT").await;
}

#[tokio::test]
async fn deleting_an_unknown_internal_id_is_reserve_not_found() {
    let db = seeded().await;
    let reply = refused(&db, &delete("NEVER-SENT"), "RESERVE_NOT_FOUND").await;
    assert_names(&reply, "$.Content.InternalId");
}

#[tokio::test]
async fn a_reservation_used_by_a_sale_refuses_upsert_and_delete() {
    let db = seeded().await;
    let pool = &db.any().await;
    let item =
        |quantity: i64| json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}]);
    send(&db.store, &reserve("E-USED", item(102)))
        .await
        .assert_ok();
    sqlx::query("UPDATE reservations SET status = 'used' WHERE internal_id = 'E-USED'")
        .execute(pool)
        .await
        .expect("mark used");

    refused(&db, &reserve("E-USED", item(5)), "RESERVE_ALREADY_USED").await;
    refused(&db, &delete("E-USED"), "RESERVE_ALREADY_USED").await;
    assert_eq!(
        reservation(pool, "E-USED").await.expect("row").status,
        "used"
    );
    assert_eq!(reserved(pool, "L2029A").await, 100.into());
    assert_eq!(reserved(pool, "L2029B").await, 2.into());
}

#[tokio::test]
async fn an_unregistered_branch_is_branch_not_found() {
    let db = seeded().await;
    let mut envelope = reserve("E-NO-BRANCH", json!([p003(json!(1))]));
    set(&mut envelope, "/Header/BranchId", json!("D XX 99"));
    refused(&db, &envelope, "BRANCH_NOT_FOUND").await;
}

#[tokio::test]
async fn an_unsupported_major_version_is_unsupported_version() {
    let db = seeded().await;
    let mut envelope = reserve("E-VERSION", json!([p003(json!(1))]));
    set(&mut envelope, "/Header/Version", json!("3.000"));
    refused(&db, &envelope, "UNSUPPORTED_VERSION").await;
}

#[tokio::test]
async fn an_unknown_transaction_is_unsupported_transaction() {
    let db = seeded().await;
    let mut envelope = reserve("E-TRANSACTION", json!([p003(json!(1))]));
    set(&mut envelope, "/Header/Transaction", json!("StockTake"));
    refused(&db, &envelope, "UNSUPPORTED_TRANSACTION").await;
}

#[tokio::test]
async fn an_event_other_than_upsert_or_delete_is_event_not_supported() {
    let db = seeded().await;
    let mut envelope = reserve("E-EVENT", json!([p003(json!(1))]));
    set(&mut envelope, "/Content/Event", json!("merge"));
    refused(&db, &envelope, "EVENT_NOT_SUPPORTED").await;
}

#[tokio::test]
async fn several_content_errors_come_back_together_in_one_receipt() {
    let db = seeded().await;
    let pool = &db.any().await;
    let before = business_state(pool).await;
    let mut envelope = reserve("E-MANY", json!([p003(json!(0))]));
    set(&mut envelope, "/Content/ReserveType", json!("XX"));
    remove(&mut envelope, "/Content/DocumentReserve");
    let reply = send(&db.store, &envelope).await;
    assert_eq!(reply.status(), "error");
    let mut codes = reply.codes();
    codes.sort();
    assert_eq!(
        codes,
        [
            "DOCUMENT_RESERVE_MISSING",
            "QUANTITY_INVALID",
            "RESERVE_TYPE_INVALID"
        ]
    );
    assert_eq!(business_state(pool).await, before);
}

#[tokio::test]
async fn several_master_data_errors_come_back_together_in_one_receipt() {
    let db = seeded().await;
    let envelope = reserve(
        "E-MANY-MASTER",
        json!([
            {"ItemCode": "NOPE", "WarehouseCode": "01", "Quantity": 1},
            {"ItemCode": "P099", "WarehouseCode": "01", "Quantity": 1},
            {"ItemCode": "P003", "WarehouseCode": "99", "Quantity": 1}
        ]),
    );
    let pool = &db.any().await;
    let before = business_state(pool).await;
    let reply = send(&db.store, &envelope).await;
    assert_eq!(
        reply.codes(),
        [
            "PRODUCT_NOT_FOUND",
            "PRODUCT_BLOCKED",
            "WAREHOUSE_NOT_FOUND"
        ]
    );
    assert_eq!(business_state(pool).await, before);
}

#[tokio::test]
async fn several_lot_errors_come_back_together_in_one_receipt() {
    let db = seeded().await;
    let envelope = reserve(
        "E-MANY-LOTS",
        json!([
            {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1, "LotNumber": "NOPE"},
            {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1, "LotNumber": "L2025"},
            {"ItemCode": "P004", "WarehouseCode": "01", "Quantity": 11}
        ]),
    );
    let pool = &db.any().await;
    let before = business_state(pool).await;
    let reply = send(&db.store, &envelope).await;
    assert_eq!(
        reply.codes(),
        ["LOT_NOT_FOUND", "LOT_EXPIRED", "LOT_INSUFFICIENT"]
    );
    assert_eq!(business_state(pool).await, before);
}
