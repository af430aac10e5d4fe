//! ItemReserve end to end: envelopes published to the inbound exchange, the
//! worker reserving lots in PostgreSQL, receipts coming back on `reply_to`
//! (or, with `EAI_TEST_INLET=database`, queued in the database and read back
//! by UUID). These follow the README walkthrough.

use eai_tests::{example, spawn_app};
use rust_decimal::Decimal;
use serde_json::Value;

fn status(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Status"]
        .as_str()
        .expect("receipt has a status")
}

fn codes(receipt: &Value) -> Vec<&str> {
    receipt["Content"]["ProcessingInformation"]["Details"]
        .as_array()
        .expect("receipt has details")
        .iter()
        .filter_map(|detail| detail["Code"].as_str())
        .collect()
}

fn dec(value: i64) -> Decimal {
    Decimal::from(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_splits_across_two_lots_nearest_expiry_first() {
    let app = spawn_app().await;

    let receipt = app.publish_example("item-reserve-split.json").await;

    assert_eq!(status(&receipt), "ok", "{receipt:#}");
    assert_eq!(
        receipt["Content"]["ReceivedMessage"]["UUID"],
        "5b0f3a52-8d4c-4b8e-9a53-1f0d1a6c0a01"
    );
    let ids = &receipt["Content"]["ReturnContent"]["ListOfInternalId"];
    assert_eq!(ids[0]["Name"], "ItemReserve");
    assert_eq!(ids[0]["Origin"], "15da928b-9e88-4947-a508-8cdd56beabd9");
    assert_eq!(ids[0]["Destination"], "T1|D MG 01|000001");
    let lines: Vec<(String, Decimal)> = app
        .labelled_decimals(
            "SELECT lot, CAST(quantity AS TEXT) FROM reservation_lines
              WHERE product = 'P001' ORDER BY line_no",
        )
        .await;
    let lines: Vec<(String, Decimal)> = lines
        .into_iter()
        .map(|(lot, q)| (lot, q.normalize()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("L2029A".to_owned(), dec(100)),
            ("L2029B".to_owned(), dec(2))
        ],
        "100 from the nearest expiry, 2 from the next"
    );
    assert_eq!(
        app.reserved("D MG 01", "P001").await,
        vec![
            ("L2025".to_owned(), dec(0)),
            ("L2029A".to_owned(), dec(100)),
            ("L2029B".to_owned(), dec(2)),
        ],
        "the expired lot is never touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortfall_is_answered_lot_insufficient_with_per_lot_detail_and_reserves_nothing() {
    let app = spawn_app().await;
    let before = app.reserved("D MG 01", "P001").await;

    let receipt = app.publish_example("item-reserve-shortfall.json").await;

    assert_eq!(status(&receipt), "error");
    assert_eq!(codes(&receipt), vec!["LOT_INSUFFICIENT"]);
    let detail = receipt["Content"]["ProcessingInformation"]["Details"][0]["DetailedMessage"]
        .as_str()
        .expect("DetailedMessage is a JSON string");
    let detail: Value = serde_json::from_str(detail).expect("DetailedMessage parses");
    let lots: Vec<(&str, String)> = detail["Item"]
        .as_array()
        .expect("Item list")
        .iter()
        .map(|lot| {
            (
                lot["LotNumber"].as_str().expect("lot number"),
                lot["AvailableStockAmount"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        lots,
        vec![("L2029A", "100".to_owned()), ("L2029B", "500".to_owned())],
        "candidate lots with their free quantity, the expired one left out"
    );
    assert_eq!(app.reserved("D MG 01", "P001").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_uuid_twice_is_answered_identically_with_one_effect() {
    let app = spawn_app().await;
    let body = std::fs::read(example("item-reserve-split.json")).expect("example");

    let first = app.publish(vec![body.clone()], true).await;
    let second = app.publish(vec![body], true).await;

    let (first, second) = (&first[0].receipt, &second[0].receipt);
    assert!(first.is_some());
    assert_eq!(first, second, "the stored receipt is sent again");
    let reservations = app.count("SELECT count(*) FROM reservations").await;
    let reserved = app.sum("SELECT CAST(reserved AS TEXT) FROM lots").await;
    assert_eq!(reservations, 1);
    assert_eq!(reserved.normalize(), dec(104), "102 + 1 + 1 reserved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_reservation_returns_its_quantities_to_the_lots() {
    let app = spawn_app().await;
    let before = app.reserved("D MG 01", "P001").await;
    assert_eq!(
        status(&app.publish_example("item-reserve-split.json").await),
        "ok"
    );

    let receipt = app.publish_example("item-reserve-delete.json").await;

    assert_eq!(status(&receipt), "ok", "{receipt:#}");
    assert_eq!(app.reserved("D MG 01", "P001").await, before);
    let (status_text,): (String,) = app
        .rows("SELECT status FROM reservations")
        .await
        .pop()
        .expect("reservation row");
    assert_eq!(status_text, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_json_path_and_every_problem_comes_in_one_receipt() {
    let app = spawn_app().await;
    let envelope = serde_json::json!({
        "Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
                   "Transaction": "ItemReserve", "Version": "2.000",
                   "SourceApplication": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01"},
        "Content": {"InternalId": "bad-1", "ReserveType": "XX",
                    "ReserveItemType": {"Item": [
                        {"ItemCode": "P001", "Quantity": "1.234,5"},
                        {"ItemCode": "P001", "Quantity": 0}]}}
    });

    let receipt = app.publish_one(envelope.to_string().into_bytes()).await;

    let mut found = codes(&receipt);
    found.sort_unstable();
    assert_eq!(
        found,
        vec![
            "DOCUMENT_RESERVE_MISSING",
            "QUANTITY_INVALID",
            "QUANTITY_INVALID",
            "RESERVE_TYPE_INVALID"
        ]
    );
    let messages = receipt["Content"]["ProcessingInformation"]["Details"].to_string();
    assert!(
        messages.contains("$.Content.ReserveItemType.Item[0].Quantity"),
        "{messages}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_past_its_expiration_is_released_by_the_sweep() {
    let app = spawn_app().await;
    let before = app.reserved("D MG 01", "P002").await;
    let envelope = serde_json::json!({
        "Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
                   "Transaction": "ItemReserve", "Version": "2.000",
                   "SourceApplication": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01"},
        "Content": {"InternalId": "short-lived", "ReserveType": "VD", "DocumentReserve": "D-1",
                    "ReserveItemType": {"Item": [
                        {"ItemCode": "P002", "Quantity": 3,
                         "ReserveExpiration": "2020-01-01T00:00:00+00:00"}]}}
    });

    let receipt = app.publish_one(envelope.to_string().into_bytes()).await;
    assert_eq!(status(&receipt), "ok", "{receipt:#}");

    let mut reservation_status = String::new();
    for _ in 0..100 {
        (reservation_status,) = app
            .rows("SELECT status FROM reservations")
            .await
            .pop()
            .expect("reservation row");
        if reservation_status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(reservation_status, "expired");
    assert_eq!(
        app.reserved("D MG 01", "P002").await,
        before,
        "stock given back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantities_stock_cannot_hold_are_refused_not_rounded() {
    let app = spawn_app().await;
    let envelope = serde_json::json!({
        "Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
                   "Transaction": "ItemReserve", "Version": "2.000",
                   "SourceApplication": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01"},
        "Content": {"InternalId": "too-precise", "ReserveType": "VD", "DocumentReserve": "D-2",
                    "ReserveItemType": {"Item": [
                        {"ItemCode": "P001", "Quantity": "0,00001"},
                        {"ItemCode": "P002", "Quantity": 1e20}]}}
    });

    let receipt = app.publish_one(envelope.to_string().into_bytes()).await;

    assert_eq!(
        codes(&receipt),
        vec!["QUANTITY_INVALID", "QUANTITY_INVALID"],
        "{receipt:#}"
    );
    let reserved = app.sum("SELECT CAST(reserved AS TEXT) FROM lots").await;
    assert_eq!(reserved.normalize(), dec(0));
}
