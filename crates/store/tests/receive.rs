//! The inbox → business → outbox transaction (SPEC §6): one receipt per UUID,
//! built once, replayed byte for byte, and waiting in the outbox until published.

mod common;

use std::time::Duration;

use common::*;
use rust_decimal::Decimal;
use serde_json::json;

fn p001(quantity: i64) -> serde_json::Value {
    json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}])
}

#[tokio::test]
async fn a_re_sent_uuid_gets_the_same_receipt_byte_for_byte_and_is_applied_once() {
    let db = seeded().await;
    let pool = db.store.pool();
    let envelope = reserve("D-ONCE", p001(102));
    let first = send(&db.store, &envelope).await;
    first.assert_ok();
    assert!(!first.answer.duplicate);
    let after_first = business_state(pool).await;

    let second = send(&db.store, &envelope).await;
    assert!(second.answer.duplicate);
    assert!(second.answer.ok);
    assert_eq!(second.answer.body, first.answer.body);
    assert_eq!(second.answer.receipt_id, first.answer.receipt_id);
    assert_eq!(business_state(pool).await, after_first);
    assert_eq!(reserved(pool, "L2029A").await, Decimal::from(100));
    assert_eq!(reserved(pool, "L2029B").await, Decimal::from(2));
}

#[tokio::test]
async fn a_re_sent_uuid_is_not_processed_again_even_with_different_content() {
    let db = seeded().await;
    let pool = db.store.pool();
    let envelope = reserve("D-CHANGED", p001(10));
    let first = send(&db.store, &envelope).await;
    first.assert_ok();
    let mut changed = envelope.clone();
    set(&mut changed, "/Content/ReserveItemType/Item", p001(50));
    let second = send(&db.store, &changed).await;
    assert!(second.answer.duplicate);
    assert_eq!(second.answer.body, first.answer.body);
    assert_eq!(reserved(pool, "L2029A").await, Decimal::from(10));
}

#[tokio::test]
async fn an_error_receipt_is_stored_and_replayed_identically() {
    let db = seeded().await;
    let pool = db.store.pool();
    let envelope = reserve("D-ERROR", p001(10_000));
    let first = send(&db.store, &envelope).await;
    first.assert_only("LOT_INSUFFICIENT");
    let second = send(&db.store, &envelope).await;
    assert!(second.answer.duplicate);
    assert!(!second.answer.ok);
    assert_eq!(second.answer.body, first.answer.body);
    assert_eq!(count(pool, "outbox").await, 1);
    assert!(reservation(pool, "D-ERROR").await.is_none());
}

#[tokio::test]
async fn the_receipt_echoes_the_inbound_message_and_is_addressed_to_its_sender() {
    let db = seeded().await;
    let envelope = reserve("D-ECHO", p001(1));
    let reply = send(&db.store, &envelope).await;
    let header = &reply.json["Header"];
    assert_eq!(header["Type"], "ReceiptMessage");
    assert_eq!(header["Transaction"], "ItemReserve");
    assert_eq!(header["SourceApplication"], "EAIWORKER");
    assert_eq!(
        (&header["CompanyId"], &header["BranchId"]),
        (&json!("T1"), &json!("D MG 01"))
    );
    assert_ne!(header["UUID"], envelope["Header"]["UUID"]);
    let received = &reply.json["Content"]["ReceivedMessage"];
    assert_eq!(received["UUID"], envelope["Header"]["UUID"]);
    assert_eq!(received["SentBy"], "ECOMMERCE");
    assert_eq!(received["Event"], "upsert");
    assert_eq!(reply.answer.route.routing_key, "ECOMMERCE");
}

#[tokio::test]
async fn the_outbox_holds_exactly_one_receipt_per_uuid() {
    let db = seeded().await;
    let pool = db.store.pool();
    let ok = reserve("D-A", p001(1));
    let refused = reserve("D-B", p001(10_000));
    let deleted = delete("D-A");
    for envelope in [&ok, &refused, &ok, &deleted, &refused, &deleted] {
        send(&db.store, envelope).await;
    }
    assert_eq!(count(pool, "outbox").await, 3);
    assert_eq!(count(pool, "inbox").await, 3);
    for envelope in [&ok, &refused, &deleted] {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT o.uuid, o.body, i.status FROM inbox i JOIN outbox o ON o.id = i.receipt_id
              WHERE i.uuid = $1",
        )
        .bind(uuid_of(envelope))
        .fetch_all(pool)
        .await
        .expect("inbox joined to outbox");
        assert_eq!(rows.len(), 1);
        let (receipt_uuid, body, status) = &rows[0];
        let receipt: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(receipt["Header"]["UUID"], json!(receipt_uuid));
        assert_eq!(
            receipt["Content"]["ReceivedMessage"]["UUID"],
            envelope["Header"]["UUID"]
        );
        assert_eq!(
            receipt["Content"]["ProcessingInformation"]["Status"],
            json!(status)
        );
    }
}

#[tokio::test]
async fn stale_receipts_are_leased_until_marked_published() {
    let db = seeded().await;
    let published = send(&db.store, &reserve("D-PUB", p001(1))).await;
    let waiting = send(&db.store, &reserve("D-WAIT", p001(1))).await;
    db.store
        .mark_published(published.answer.receipt_id)
        .await
        .expect("mark published");

    let leased = db
        .store
        .lease_stale_receipts(Duration::ZERO, Duration::from_secs(60), 10)
        .await
        .expect("lease");
    let ids: Vec<i64> = leased.iter().map(|receipt| receipt.id).collect();
    assert_eq!(ids, vec![waiting.answer.receipt_id]);
    assert_eq!(leased[0].body, waiting.answer.body);
    assert_eq!(leased[0].exchange, "eai.receipts");
    assert_eq!(leased[0].routing_key, "ECOMMERCE");

    let again = db
        .store
        .lease_stale_receipts(Duration::ZERO, Duration::from_secs(60), 10)
        .await
        .expect("lease again");
    assert!(again.is_empty(), "a leased receipt is not handed out twice");
}

#[tokio::test]
async fn a_receipt_younger_than_the_threshold_is_not_leased() {
    let db = seeded().await;
    send(&db.store, &reserve("D-FRESH", p001(1))).await;
    let leased = db
        .store
        .lease_stale_receipts(Duration::from_secs(3600), Duration::from_secs(60), 10)
        .await
        .expect("lease");
    assert!(leased.is_empty());
}
