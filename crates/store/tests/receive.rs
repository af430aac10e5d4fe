//! The inbox → business → outbox transaction (SPEC §6): one receipt per UUID,
//! built once, replayed byte for byte, and waiting in the outbox until published.

mod common;

use std::time::Duration;

use common::*;
use eai_protocol::{Code, Detail, Envelope};
use eai_store::testing::{TestBackend, TestDatabase};
use eai_store::RelayPass;
use rust_decimal::Decimal;
use serde_json::json;

fn p001(quantity: i64) -> serde_json::Value {
    json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}])
}

/// A moment past any retention window, as a literal both backends read.
const LONG_AGO: &str = "'2000-01-01T00:00:00+00:00'";

#[tokio::test]
async fn a_re_sent_uuid_gets_the_same_receipt_byte_for_byte_and_is_applied_once() {
    let db = seeded().await;
    let pool = &db.any().await;
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
    let pool = &db.any().await;
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
    let pool = &db.any().await;
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
    let pool = &db.any().await;
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

/// What the receiver records when the broker returned `receipt_id`: not
/// delivered, for the relay to publish again after `retry_in`.
async fn undelivered(db: &TestDatabase, receipt_id: i64, retry_in: Duration) {
    db.store
        .mark_publish_failed(receipt_id, "returned: NO_ROUTE", retry_in)
        .await
        .expect("the failed publication is recorded");
}

#[tokio::test]
async fn a_receipt_is_stored_delivered_and_only_a_failed_publication_goes_to_the_relay() {
    let db = seeded().await;
    let delivered = send(&db.store, &reserve("D-PUB", p001(1))).await;
    let returned = send(&db.store, &reserve("D-RETURNED", p001(1))).await;
    let any = db.any().await;
    let status = |id: i64| {
        sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT status, CAST(attempts AS BIGINT),
                    CAST(CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END AS BIGINT)
               FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&any)
    };
    assert_eq!(
        status(delivered.answer.receipt_id).await.expect("row"),
        ("done".to_owned(), 1, 1),
        "its envelope is acked only once the broker confirmed it"
    );
    undelivered(&db, returned.answer.receipt_id, Duration::ZERO).await;
    assert_eq!(
        status(returned.answer.receipt_id).await.expect("row"),
        ("waiting".to_owned(), 1, 0),
        "never counted as delivered"
    );

    let leased = db
        .store
        .lease_receipts(RelayPass::Due, Duration::from_secs(60), 10)
        .await
        .expect("lease");
    let ids: Vec<i64> = leased.iter().map(|receipt| receipt.id).collect();
    assert_eq!(ids, vec![returned.answer.receipt_id]);
    assert_eq!(leased[0].body, returned.answer.body);
    assert_eq!(leased[0].exchange, "eai.receipts");
    assert_eq!(leased[0].routing_key, "ECOMMERCE");
    assert_eq!(
        leased[0].attempts, 2,
        "the relay's publication is the second"
    );

    let again = db
        .store
        .lease_receipts(RelayPass::All, Duration::from_secs(60), 10)
        .await
        .expect("lease again");
    assert!(again.is_empty(), "a leased receipt is not handed out twice");

    db.store
        .mark_published(returned.answer.receipt_id)
        .await
        .expect("published");
    assert_eq!(
        status(returned.answer.receipt_id).await.expect("row"),
        ("done".to_owned(), 2, 1)
    );
}

#[tokio::test]
async fn a_failed_receipt_is_retried_when_due_and_flushed_on_demand() {
    let db = seeded().await;
    let failed = send(&db.store, &reserve("D-FAIL", p001(1))).await;
    let fresh = send(&db.store, &reserve("D-NEW", p001(1))).await;
    undelivered(&db, failed.answer.receipt_id, Duration::from_secs(3600)).await;

    let due_now = db
        .store
        .lease_receipts(RelayPass::Due, Duration::from_secs(60), 10)
        .await
        .expect("lease");
    assert!(
        due_now.is_empty(),
        "its retry is an hour away, the other was delivered"
    );

    let flushed = db
        .store
        .lease_receipts(RelayPass::All, Duration::from_secs(60), 10)
        .await
        .expect("flush");
    let ids: Vec<i64> = flushed.iter().map(|receipt| receipt.id).collect();
    assert_eq!(ids, vec![failed.answer.receipt_id], "only the failed one");
    assert_eq!(flushed[0].attempts, 2);
    assert_ne!(fresh.answer.receipt_id, failed.answer.receipt_id);

    db.store
        .mark_receipt_failed(failed.answer.receipt_id, "dead-lettered")
        .await
        .expect("give up");
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(failed.answer.receipt_id)
        .fetch_one(&db.any().await)
        .await
        .expect("status");
    assert_eq!(status, "failed", "never counted as delivered");
}

#[tokio::test]
async fn an_envelope_that_cannot_be_processed_is_refused_once_and_answered_the_same_again() {
    let db = seeded().await;
    let envelope = reserve("D-REFUSED", p001(1));
    let bytes = serde_json::to_vec(&envelope).expect("JSON");
    let parsed = Envelope::parse(&bytes).expect("envelope");
    let inbound = inbound(&parsed, &bytes, 0);
    let detail = Detail::error(Code::ProcessingFailed, "failed 3 times: lock timeout");
    let first = db
        .store
        .refuse(&identity(), &inbound, &detail)
        .await
        .expect("refused");
    assert!(!first.ok && !first.duplicate);
    let receipt: serde_json::Value = serde_json::from_str(&first.body).expect("JSON");
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PROCESSING_FAILED"
    );
    let again = send(&db.store, &envelope).await;
    assert!(again.answer.duplicate, "the UUID is known now");
    assert_eq!(again.answer.body, first.body, "byte for byte");
    assert_eq!(reserved(&db.any().await, "L2029A").await, Decimal::ZERO);
}

#[tokio::test]
async fn retry_counts_are_kept_by_uuid() {
    let db = seeded().await;
    assert_eq!(db.store.record_wait("u-1").await.expect("wait"), 1);
    assert_eq!(db.store.record_wait("u-1").await.expect("wait"), 2);
    assert_eq!(
        db.store
            .record_failure("u-1", "lock\0timeout")
            .await
            .expect("failure"),
        1
    );
    assert_eq!(
        db.store.record_redelivery("u-1").await.expect("redelivery"),
        1
    );
    assert_eq!(db.store.record_wait("u-2").await.expect("wait"), 1);
}

#[tokio::test]
async fn the_purge_deletes_answered_uuids_past_the_window_and_keeps_what_is_pending() {
    let db = seeded().await;
    let old_envelope = reserve("D-OLD", p001(1));
    let old = send(&db.store, &old_envelope).await;
    let old_unsent = send(&db.store, &reserve("D-OLD-UNSENT", p001(1))).await;
    let recent = send(&db.store, &reserve("D-RECENT", p001(1))).await;
    undelivered(&db, old_unsent.answer.receipt_id, Duration::from_secs(60)).await;
    db.store
        .record_failure("u-old", "x")
        .await
        .expect("failure");
    let any = db.any().await;
    sqlx::query(&format!(
        "UPDATE inbox SET received_at = {LONG_AGO} WHERE receipt_id IN ($1, $2)"
    ))
    .bind(old.answer.receipt_id)
    .bind(old_unsent.answer.receipt_id)
    .execute(&any)
    .await
    .expect("age the rows");
    sqlx::query(&format!("UPDATE inbox_retries SET updated_at = {LONG_AGO}"))
        .execute(&any)
        .await
        .expect("age the counts");

    let purged = db
        .store
        .purge(Duration::from_secs(30 * 86_400), 1000)
        .await
        .expect("purge");

    assert_eq!((purged.inbox, purged.retries), (1, 1));
    let left: Vec<i64> = sqlx::query_scalar("SELECT receipt_id FROM inbox ORDER BY receipt_id")
        .fetch_all(&any)
        .await
        .expect("inbox");
    assert_eq!(
        left,
        vec![old_unsent.answer.receipt_id, recent.answer.receipt_id],
        "a receipt still waiting to be delivered is kept"
    );
    let again = send(&db.store, &old_envelope).await;
    assert!(
        !again.answer.duplicate,
        "past the window the UUID is processed again: the window must outlast re-sends"
    );
}

#[tokio::test]
async fn the_purge_drops_settled_dead_letters_and_old_operator_history_but_keeps_open_ones() {
    use eai_store::dead_letters::DeadLetterIn;
    use eai_store::log::ItemId;
    let db = seeded().await;
    for (id, uuid) in [("dl-open", "u-open"), ("dl-settled", "u-settled")] {
        db.store
            .record_dead_letter(&DeadLetterIn {
                dead_letter_id: Some(id),
                uuid: Some(uuid),
                code: "PROCESSING_FAILED",
                reason: "failed 3 times",
                exchange: "eai.inbound",
                routing_key: "ItemReserve",
                correlation_id: None,
                message_id: None,
                reply_to: None,
                body: b"{}",
            })
            .await
            .expect("recorded");
    }
    let any = db.any().await;
    let settled: i64 =
        sqlx::query_scalar("SELECT id FROM dead_letters WHERE dead_letter_id = 'dl-settled'")
            .fetch_one(&any)
            .await
            .expect("id");
    db.store
        .discard(ItemId::DeadLetter(settled), "ana", "a test body")
        .await
        .expect("discarded");
    sqlx::query(&format!("UPDATE dead_letters SET dead_at = {LONG_AGO}"))
        .execute(&any)
        .await
        .expect("age");
    sqlx::query(&format!("UPDATE operator_actions SET at = {LONG_AGO}"))
        .execute(&any)
        .await
        .expect("age");

    let purged = db
        .store
        .purge(Duration::from_secs(30 * 86_400), 1000)
        .await
        .expect("purge");

    assert_eq!(
        purged.history, 2,
        "the discarded dead letter and its action"
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT dead_letter_id FROM dead_letters")
        .fetch_all(&any)
        .await
        .expect("left");
    assert_eq!(
        left,
        vec!["dl-open".to_owned()],
        "an open dead letter is kept whatever its age"
    );
}

#[tokio::test]
async fn a_retry_replaces_an_undelivered_error_answer_starts_a_fresh_budget_and_keeps_the_count() {
    use eai_store::log::{Acted, ItemId, LogFilter};
    let db = seeded().await;
    let envelope = reserve(
        "D-RETRY",
        json!([{"ItemCode": "NO-SUCH-PRODUCT", "WarehouseCode": "01", "Quantity": 1}]),
    );
    let uuid = envelope["Header"]["UUID"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let first = send(&db.store, &envelope).await;
    assert!(!first.answer.ok);
    undelivered(&db, first.answer.receipt_id, Duration::from_secs(60)).await;
    db.store
        .record_failure(&uuid, "a lock held elsewhere")
        .await
        .expect("failure");
    let any = db.any().await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE uuid = $1")
        .bind(&uuid)
        .fetch_one(&any)
        .await
        .expect("inbox id");

    let republished = std::sync::Mutex::new(Vec::new());
    let acted = db
        .store
        .reprocess(ItemId::Inbound(id), "ana", "mapped", |again| {
            republished.lock().expect("lock").push(again.body);
            async { Ok(()) }
        })
        .await
        .expect("reprocess");
    assert_eq!(acted, Acted::Done);
    let republished = republished.into_inner().expect("lock");
    let sent_again = match db.backend() {
        TestBackend::Postgres => republished,
        // No broker on SQLite: the retry queues the body in the database.
        TestBackend::Sqlite => {
            assert!(republished.is_empty(), "nothing to publish to");
            sqlx::query_scalar("SELECT body FROM inbound_queue")
                .fetch_all(&any)
                .await
                .expect("the inbound queue reads")
        }
    };
    assert_eq!(
        sent_again,
        vec![serde_json::to_vec(&envelope).expect("JSON")],
        "the stored body goes out again, byte for byte"
    );
    let (old_status, old_note): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox WHERE id = $1")
            .bind(first.answer.receipt_id)
            .fetch_one(&any)
            .await
            .expect("old receipt");
    assert_eq!(
        old_status, "rejected",
        "never delivered, so never sent now: {old_note:?}"
    );
    let budget: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox_retries WHERE uuid = $1")
        .bind(&uuid)
        .fetch_one(&any)
        .await
        .expect("budget");
    assert_eq!(budget, 0, "its waits and failures start afresh");

    let again = send(&db.store, &envelope).await;
    assert!(
        !again.answer.duplicate,
        "the retry is processed, not answered as a duplicate"
    );
    assert_ne!(again.answer.receipt_id, first.answer.receipt_id);
    let page = db
        .store
        .messages(&LogFilter {
            uuid: Some(uuid.clone()),
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("log");
    assert_eq!(page.items.len(), 1, "one log line per UUID");
    assert_eq!(
        page.items[0].attempts, 3,
        "the first try, its failure, and the retry"
    );
    let twice = send(&db.store, &envelope).await;
    assert!(
        twice.answer.duplicate,
        "answered again: a duplicate from now on"
    );
}

#[tokio::test]
async fn a_receipt_a_retry_replaced_is_not_revived_by_its_failed_publication() {
    use eai_store::log::{Acted, ItemId};
    let db = seeded().await;
    let envelope = reserve(
        "D-SUPERSEDED",
        json!([{"ItemCode": "NO-SUCH-PRODUCT", "WarehouseCode": "01", "Quantity": 1}]),
    );
    let first = send(&db.store, &envelope).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM inbox WHERE receipt_id = $1")
        .bind(first.answer.receipt_id)
        .fetch_one(&db.any().await)
        .await
        .expect("inbox id");
    // The operator retries while the first answer's publication is still in flight.
    let acted = db
        .store
        .reprocess(ItemId::Inbound(id), "ana", "mapped", |_| async { Ok(()) })
        .await
        .expect("reprocess");
    assert_eq!(acted, Acted::Done);
    undelivered(&db, first.answer.receipt_id, Duration::ZERO).await;
    let leased = db
        .store
        .lease_receipts(RelayPass::All, Duration::from_secs(60), 10)
        .await
        .expect("lease");
    assert!(
        leased.is_empty(),
        "the replaced answer is not sent after the retry's: {leased:?}"
    );
}

#[tokio::test]
async fn a_receipt_published_again_is_settled_unless_it_was_replaced() {
    let db = seeded().await;
    let returned = send(&db.store, &reserve("D-REROUTED", p001(1))).await;
    let superseded = send(&db.store, &reserve("D-RETRIED", p001(1))).await;
    for answer in [&returned.answer, &superseded.answer] {
        undelivered(&db, answer.receipt_id, Duration::from_secs(3600)).await;
    }
    let any = db.any().await;
    sqlx::query("UPDATE outbox SET status = 'rejected' WHERE id = $1")
        .bind(superseded.answer.receipt_id)
        .execute(&any)
        .await
        .expect("what a retry leaves");
    for answer in [&returned.answer, &superseded.answer] {
        db.store
            .mark_published(answer.receipt_id)
            .await
            .expect("published");
    }
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM outbox WHERE id IN ($1, $2) ORDER BY id")
            .bind(returned.answer.receipt_id)
            .bind(superseded.answer.receipt_id)
            .fetch_all(&any)
            .await
            .expect("statuses");
    assert_eq!(statuses, ["done", "rejected"]);
}

#[tokio::test]
async fn a_discarded_waiting_sale_shows_again_once_it_is_answered() {
    use eai_store::log::{ItemId, LogFilter};
    let db = seeded().await;
    let sale = json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
        "Transaction": "RetailSales", "Version": "2.000", "SourceApplication": "ECOMMERCE",
        "ProductName": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01"},
        "Content": {"InternalId": "S-WAIT", "DocumentCode": "D-WAIT"}});
    let bytes = serde_json::to_vec(&sale).expect("JSON");
    let parsed = Envelope::parse(&bytes).expect("envelope");
    let any = db.any().await;
    let id: i64 = sqlx::query_scalar(&format!(
        "INSERT INTO inbox (uuid, \"transaction\", received_at, status)
         VALUES ($1, 'RetailSales', '{}', 'waiting') RETURNING id",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    ))
    .bind(parsed.uuid())
    .fetch_one(&any)
    .await
    .expect("a waiting row");
    db.store
        .discard(ItemId::Inbound(id), "ana", "will come back")
        .await
        .expect("discard");
    let answered = db
        .store
        .receive(&identity(), &inbound(&parsed, &bytes, 0))
        .await
        .expect("receive")
        .answered()
        .expect("answered");
    assert!(!answered.ok);
    let page = db
        .store
        .pending(&LogFilter {
            uuid: Some(parsed.uuid().to_owned()),
            limit: 10,
            ..LogFilter::default()
        })
        .await
        .expect("pending");
    assert_eq!(page.items.len(), 1, "its answer needs a person again");
    assert_eq!(page.items[0].status, "error");
}

#[tokio::test]
async fn large_bodies_are_stored_compressed_and_read_back_whole() {
    let db = seeded().await;
    let large = |internal_id: &str, bytes: usize, seed: u64| {
        let mut envelope = reserve(internal_id, p001(1));
        set(
            &mut envelope,
            "/Content/Observation",
            json!(words(bytes, seed)),
        );
        envelope
    };
    // Megabytes alone: streamed, compressed part after part (PostgreSQL).
    let alone = large("D-LARGE", 3 << 20, 1);
    send(&db.store, &alone).await.assert_ok();
    // One transaction: two streamed, each into its own row, and one bound compressed.
    let together = [
        large("D-LARGE-1", 1_200_000, 2),
        large("D-LARGE-2", 1_100_000, 3),
        large("D-MEDIUM", 300_000, 4),
    ];
    for result in receive_batch(&db.store, &together, 0).await {
        assert!(
            matches!(result, Ok(eai_store::Received::Answered(ref answer)) if answer.ok),
            "{result:?}"
        );
    }
    for envelope in [&alone, &together[0], &together[1], &together[2]] {
        assert_body_kept(&db, envelope).await;
    }
}
