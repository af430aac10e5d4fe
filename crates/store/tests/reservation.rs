//! ItemReserve upsert and delete against the example master data (SPEC §4):
//! FEFO lines, de/para, re-upserts, deletes, shortfalls and back-orders.

mod common;

use common::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The sender's code for P001 in the example de/para.
const P001_EXTERNAL: &str = "d077bf8a-bbbb-4549-9b00-1a203cfe4428";

fn d(units: i64) -> Decimal {
    Decimal::from(units)
}

fn taken(pairs: &[(&str, i64)]) -> Vec<(String, Decimal)> {
    pairs
        .iter()
        .map(|(lot, quantity)| ((*lot).to_owned(), d(*quantity)))
        .collect()
}

#[tokio::test]
async fn seed_001_reserves_100_from_the_nearest_expiry_and_2_from_the_next_leaving_the_expired_lot()
{
    let db = seeded().await;
    let pool = &db.any().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-SEED",
            json!([{"ItemCode": P001_EXTERNAL, "WarehouseCode": "01", "Quantity": 102}]),
        ),
    )
    .await;
    reply.assert_ok();

    let lines = lines(pool, "R-SEED").await;
    assert_eq!(lots_taken(&lines), taken(&[("L2029A", 100), ("L2029B", 2)]));
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line.line_no, index as i32 + 1);
        assert_eq!(line.item_no, 1);
        assert_eq!(line.product, "P001");
        assert_eq!(line.warehouse, "01");
        assert!(line.lot_id.is_some() && !line.backorder && !line.released);
    }
    assert_eq!(reserved(pool, "L2029A").await, d(100));
    assert_eq!(reserved(pool, "L2029B").await, d(2));
    assert_eq!(
        reserved(pool, "L2025").await,
        d(0),
        "an expired lot is never reserved"
    );
}

#[tokio::test]
async fn a_reservation_answers_its_number_in_list_of_internal_id_and_records_the_de_para() {
    let db = seeded().await;
    let pool = &db.any().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-IDS",
            json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 3}]),
        ),
    )
    .await;
    reply.assert_ok();

    let stored = reservation(pool, "R-IDS").await.expect("reservation row");
    assert_eq!(
        (stored.company.as_str(), stored.branch.as_str()),
        ("T1", "D MG 01")
    );
    assert_eq!(stored.status, "active");
    let destination = format!("T1|D MG 01|{}", stored.number);
    assert_eq!(
        reply.internal_ids(),
        vec![json!({"Name": "ItemReserve", "Origin": "R-IDS", "Destination": destination})]
    );
    let mapped: Option<(String,)> = sqlx::query_as(
        "SELECT internal FROM mappings
          WHERE namespace = 'ECOMMERCE' AND entity = 'ItemReserve' AND external = 'R-IDS'",
    )
    .fetch_optional(pool)
    .await
    .expect("mappings");
    assert_eq!(mapped, Some((destination,)));
}

#[tokio::test]
async fn an_item_without_warehouse_reserves_in_the_products_default_warehouse() {
    let db = seeded().await;
    let reply = send(
        &db.store,
        &reserve("R-DEFAULT", json!([{"ItemCode": "P002", "Quantity": 5}])),
    )
    .await;
    reply.assert_ok();
    let lines = lines(&db.any().await, "R-DEFAULT").await;
    assert_eq!(lots_taken(&lines), taken(&[("P2-A", 5)]));
    assert_eq!(lines[0].warehouse, "01");
}

#[tokio::test]
async fn a_warehouse_code_is_resolved_through_de_para() {
    let db = seeded().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-MAPPED",
            json!([{"ItemCode": "P003", "WarehouseCode": "ARMAZEM-CENTRAL", "Quantity": 4}]),
        ),
    )
    .await;
    reply.assert_ok();
    let lines = lines(&db.any().await, "R-MAPPED").await;
    assert_eq!(lots_taken(&lines), taken(&[("P3-A", 4)]));
    assert_eq!(lines[0].warehouse, "01");
}

#[tokio::test]
async fn an_explicit_lot_number_reserves_from_that_lot_only_even_if_another_expires_first() {
    let db = seeded().await;
    let pool = &db.any().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-LOT",
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 150, "LotNumber": "L2029B"}]),
        ),
    )
    .await;
    reply.assert_ok();
    assert_eq!(
        lots_taken(&lines(pool, "R-LOT").await),
        taken(&[("L2029B", 150)])
    );
    assert_eq!(reserved(pool, "L2029A").await, d(0));
    assert_eq!(reserved(pool, "L2029B").await, d(150));
}

#[tokio::test]
async fn re_upserting_a_known_internal_id_replaces_its_lines_and_keeps_its_number() {
    let db = seeded().await;
    let pool = &db.any().await;
    let item =
        |quantity: i64| json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}]);
    let first = send(&db.store, &reserve("R-AGAIN", item(102))).await;
    first.assert_ok();
    let second = send(&db.store, &reserve("R-AGAIN", item(50))).await;
    second.assert_ok();

    assert_eq!(first.internal_ids(), second.internal_ids());
    assert_eq!(count(pool, "reservations").await, 1);
    let lines = lines(pool, "R-AGAIN").await;
    assert_eq!(lots_taken(&lines), taken(&[("L2029A", 50)]));
    assert!(lines.iter().all(|line| !line.released));
    assert_eq!(reserved(pool, "L2029A").await, d(50));
    assert_eq!(
        reserved(pool, "L2029B").await,
        d(0),
        "the old line on L2029B is gone"
    );
}

#[tokio::test]
async fn a_re_upsert_may_reuse_the_stock_its_previous_version_held() {
    let db = seeded().await;
    let pool = &db.any().await;
    // 600 is every unexpired unit of P001: only releasing the old lines first
    // leaves room for the new ones.
    let all = json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 600}]);
    send(&db.store, &reserve("R-FULL", all.clone()))
        .await
        .assert_ok();
    let mut moved = reserve("R-FULL", all);
    set(
        &mut moved,
        "/Content/ReserveItemType/Item",
        json!([
            {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 500, "LotNumber": "L2029B"},
            {"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 100}
        ]),
    );
    send(&db.store, &moved).await.assert_ok();
    assert_eq!(
        lots_taken(&lines(pool, "R-FULL").await),
        taken(&[("L2029B", 500), ("L2029A", 100)])
    );
    assert_eq!(reserved(pool, "L2029A").await, d(100));
    assert_eq!(reserved(pool, "L2029B").await, d(500));
}

#[tokio::test]
async fn a_refused_re_upsert_leaves_the_previous_reservation_as_it_was() {
    let db = seeded().await;
    let pool = &db.any().await;
    let item =
        |quantity: i64| json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}]);
    send(&db.store, &reserve("R-KEEP", item(102)))
        .await
        .assert_ok();
    let before = business_state(pool).await;
    send(&db.store, &reserve("R-KEEP", item(601)))
        .await
        .assert_only("LOT_INSUFFICIENT");
    assert_eq!(business_state(pool).await, before);
    assert_eq!(
        lots_taken(&lines(pool, "R-KEEP").await),
        taken(&[("L2029A", 100), ("L2029B", 2)])
    );
}

#[tokio::test]
async fn delete_releases_every_line_and_cancels_the_reservation() {
    let db = seeded().await;
    let pool = &db.any().await;
    let item =
        |quantity: i64| json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}]);
    let created = send(&db.store, &reserve("R-GONE", item(102))).await;
    created.assert_ok();
    send(&db.store, &reserve("R-STAYS", item(10)))
        .await
        .assert_ok();
    assert_eq!(reserved(pool, "L2029A").await, d(100));
    assert_eq!(reserved(pool, "L2029B").await, d(12));

    let deleted = send(&db.store, &delete("R-GONE")).await;
    deleted.assert_ok();
    assert_eq!(deleted.internal_ids(), created.internal_ids());
    assert_eq!(
        deleted.json["Content"]["ReceivedMessage"]["Event"],
        "delete"
    );
    assert_eq!(
        reservation(pool, "R-GONE").await.expect("kept").status,
        "cancelled"
    );
    assert!(lines(pool, "R-GONE").await.iter().all(|line| line.released));
    assert_eq!(reserved(pool, "L2029A").await, d(0));
    assert_eq!(
        reserved(pool, "L2029B").await,
        d(10),
        "the other reservation keeps its share"
    );
    assert_eq!(
        lots_taken(&lines(pool, "R-STAYS").await),
        taken(&[("L2029B", 10)])
    );
}

#[tokio::test]
async fn a_cancelled_reservation_can_be_upserted_again() {
    let db = seeded().await;
    let pool = &db.any().await;
    let item = json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 7}]);
    send(&db.store, &reserve("R-BACK", item.clone()))
        .await
        .assert_ok();
    send(&db.store, &delete("R-BACK")).await.assert_ok();
    send(&db.store, &reserve("R-BACK", item)).await.assert_ok();
    assert_eq!(
        reservation(pool, "R-BACK").await.expect("row").status,
        "active"
    );
    assert_eq!(
        lots_taken(&lines(pool, "R-BACK").await),
        taken(&[("P3-A", 7)])
    );
    assert_eq!(reserved(pool, "P3-A").await, d(7));
}

/// The `DetailedMessage` of a LOT_INSUFFICIENT detail as `(ItemCode,
/// WarehouseCode, LotNumber, SubLotNumber, ExpirationDate, AvailableStockAmount)`.
fn available_lots(detail: &Value) -> Vec<(String, String, String, String, String, Decimal)> {
    let text = detail["DetailedMessage"]
        .as_str()
        .expect("LOT_INSUFFICIENT carries a DetailedMessage");
    let parsed: Value = serde_json::from_str(text).expect("DetailedMessage is JSON");
    let field = |lot: &Value, key: &str| {
        lot[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {lot}"))
            .to_owned()
    };
    parsed["Item"]
        .as_array()
        .expect("DetailedMessage is {\"Item\": [...]}")
        .iter()
        .map(|lot| {
            let amount = &lot["AvailableStockAmount"];
            assert!(
                amount.is_number(),
                "AvailableStockAmount is a number: {lot}"
            );
            (
                field(lot, "ItemCode"),
                field(lot, "WarehouseCode"),
                field(lot, "LotNumber"),
                field(lot, "SubLotNumber"),
                field(lot, "ExpirationDate"),
                dec(&amount.to_string()).normalize(),
            )
        })
        .collect()
}

fn lot_entry(
    item: &str,
    lot: &str,
    expires: &str,
    available: i64,
) -> (String, String, String, String, String, Decimal) {
    (
        item.into(),
        "01".into(),
        lot.into(),
        String::new(),
        expires.into(),
        d(available),
    )
}

#[tokio::test]
async fn a_shortfall_rejects_the_whole_envelope_and_lists_each_candidate_lots_free_quantity() {
    let db = seeded().await;
    let pool = &db.any().await;
    send(
        &db.store,
        &reserve(
            "R-FIRST",
            json!([{"ItemCode": "P002", "WarehouseCode": "01", "Quantity": 10}]),
        ),
    )
    .await
    .assert_ok();
    let before = business_state(pool).await;

    // P003 alone could be served; P002 has 20 + 30 free.
    let reply = send(
        &db.store,
        &reserve(
            "R-SHORT",
            json!([
                {"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 5},
                {"ItemCode": "P002", "WarehouseCode": "01", "Quantity": 60}
            ]),
        ),
    )
    .await;
    reply.assert_only("LOT_INSUFFICIENT");
    assert_eq!(reply.codes().len(), 1, "only the short item is reported");
    let detail = reply.detail("LOT_INSUFFICIENT");
    assert!(
        detail["Message"]
            .as_str()
            .is_some_and(|message| message.contains("Item[1]")),
        "the message names the short item: {detail}"
    );
    assert_eq!(
        available_lots(&detail),
        vec![
            lot_entry("P002", "P2-A", "2028-03-31", 20),
            lot_entry("P002", "P2-B", "2028-09-30", 30),
        ]
    );
    assert_eq!(
        business_state(pool).await,
        before,
        "nothing is reserved, not even P003"
    );
    assert!(reservation(pool, "R-SHORT").await.is_none());
}

#[tokio::test]
async fn expired_lots_are_not_listed_as_available_in_a_shortfall() {
    let db = seeded().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-TOO-MUCH",
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 601}]),
        ),
    )
    .await;
    reply.assert_only("LOT_INSUFFICIENT");
    assert_eq!(
        available_lots(&reply.detail("LOT_INSUFFICIENT")),
        vec![
            lot_entry("P001", "L2029A", "2029-01-31", 100),
            lot_entry("P001", "L2029B", "2029-06-30", 500),
        ]
    );
    assert_eq!(reserved(&db.any().await, "L2025").await, d(0));
}

#[tokio::test]
async fn a_branch_that_reserves_without_stock_writes_a_back_order_line_for_the_rest() {
    let db = seeded().await;
    let pool = &db.any().await;
    let mut envelope = reserve(
        "R-BACKORDER",
        json!([{"ItemCode": P001_EXTERNAL, "WarehouseCode": "01", "Quantity": 8}]),
    );
    set(&mut envelope, "/Header/BranchId", json!("D MG 02"));
    let reply = send(&db.store, &envelope).await;
    reply.assert_ok();

    let stored = reservation(pool, "R-BACKORDER").await.expect("row");
    assert_eq!(stored.branch, "D MG 02");
    assert_eq!(
        reply.internal_ids()[0]["Destination"],
        format!("T1|D MG 02|{}", stored.number)
    );
    let lines = lines(pool, "R-BACKORDER").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (lines[0].lot.as_str(), lines[0].quantity, lines[0].backorder),
        ("L2029C", d(5), false)
    );
    assert!(lines[0].lot_id.is_some());
    assert_eq!(
        (lines[1].lot_id, lines[1].quantity, lines[1].backorder),
        (None, d(3), true)
    );
    assert_eq!(lines[1].lot, "");
    assert_eq!(reserved(pool, "L2029C").await, d(5));
}

#[tokio::test]
async fn reserve_branch_of_the_items_chooses_the_branch() {
    let db = seeded().await;
    let pool = &db.any().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-ITEM-BRANCH",
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 2, "ReserveBranch": "D MG 02"}]),
        ),
    )
    .await;
    reply.assert_ok();
    assert_eq!(
        reservation(pool, "R-ITEM-BRANCH")
            .await
            .expect("row")
            .branch,
        "D MG 02"
    );
    assert_eq!(reserved(pool, "L2029C").await, d(2));
    assert_eq!(reserved(pool, "L2029A").await, d(0));
}

#[tokio::test]
async fn a_warehouse_mapped_outside_the_branch_is_warehouse_not_found_not_a_back_order() {
    // De/para that points at a warehouse the reservation's branch does not
    // have must be refused like any unknown warehouse — not turned into stock
    // of a phantom warehouse (D MG 02 reserves without stock).
    let db = seeded().await;
    let pool = &db.any().await;
    import_ok(
        &db.store,
        &json!({"mappings": [
            {"namespace": "ECOMMERCE", "entity": "Warehouse", "external": "DEPOSITO-SUL", "internal": "03"}
        ]}),
    )
    .await;
    let before = business_state(pool).await;
    let mut envelope = reserve(
        "R-PHANTOM",
        json!([{"ItemCode": "P001", "WarehouseCode": "DEPOSITO-SUL", "Quantity": 1}]),
    );
    set(&mut envelope, "/Header/BranchId", json!("D MG 02"));
    send(&db.store, &envelope)
        .await
        .assert_only("WAREHOUSE_NOT_FOUND");
    assert_eq!(business_state(pool).await, before);
}

#[tokio::test]
async fn a_quantity_finer_than_the_stock_precision_is_answered_not_failed() {
    // Stock is numeric(18, 4): 0.00001 cannot be stored. The sender must still
    // get a receipt (SPEC §6: every inbound UUID gets one), not a database error.
    let db = seeded().await;
    let pool = &db.any().await;
    let before = business_state(pool).await;
    let envelope = reserve(
        "R-TINY",
        json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": "0,00001"}]),
    );
    let reply = try_send(&db.store, &envelope)
        .await
        .unwrap_or_else(|error| panic!("no receipt for Quantity 0,00001: {error}"));
    reply.assert_only("QUANTITY_INVALID");
    assert_eq!(business_state(pool).await, before);
}

#[tokio::test]
async fn sub_precision_quantities_never_leave_a_lot_out_of_step_with_its_lines() {
    // Two lines of 1.00005 on one lot: whatever the worker decides (refuse or
    // round), the lot's reserved quantity must equal what its lines hold, and
    // the reservation must remain deletable.
    let db = seeded().await;
    let pool = &db.any().await;
    let item = json!({"ItemCode": "P003", "WarehouseCode": "01", "Quantity": "1.00005"});
    let reply = send(
        &db.store,
        &reserve("R-ROUNDING", json!([item.clone(), item])),
    )
    .await;
    assert_stock_consistent(pool).await;
    if reply.answer.ok {
        try_send(&db.store, &delete("R-ROUNDING"))
            .await
            .unwrap_or_else(|error| panic!("the delete got no receipt: {error}"))
            .assert_ok();
        assert_eq!(reserved(pool, "P3-A").await, d(0));
    }
}

#[tokio::test]
async fn an_unknown_reserve_branch_is_reported_at_the_items_reserve_branch() {
    // The header's branch is fine; the item's ReserveBranch is what the sender must fix.
    let db = seeded().await;
    let reply = send(
        &db.store,
        &reserve(
            "R-ITEM-NO-BRANCH",
            json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 1, "ReserveBranch": "D XX 99"}]),
        ),
    )
    .await;
    reply.assert_only("BRANCH_NOT_FOUND");
    let message = reply.detail("BRANCH_NOT_FOUND")["Message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("ReserveBranch"),
        "the message should point at ReserveBranch: {message:?}"
    );
}
