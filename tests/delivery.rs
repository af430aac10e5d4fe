//! Delivery guarantees against the real broker: receipts routed to the
//! receipts exchange, bodies that cannot be answered dead-lettered, and a
//! worker killed mid-stream losing nothing and applying nothing twice.

use std::time::Duration;

use eai_tests::{example, header, spawn_app, spawn_app_with, stream};
use eai_transport::Outgoing;
use rust_decimal::Decimal;
use serde_json::Value;

fn reserve_one(uuid: &str, internal_id: &str) -> Vec<u8> {
    serde_json::json!({
        "Header": {"UUID": uuid, "Type": "BusinessMessage", "Transaction": "ItemReserve",
                   "Version": "2.000", "SourceApplication": "ECOMMERCE", "ProductName": "ECOMMERCE",
                   "CompanyId": "T1", "BranchId": "D MG 01"},
        "Content": {"InternalId": internal_id, "ReserveType": "VD", "DocumentReserve": internal_id,
                    "ReserveItemType": {"Item": [{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1}]}}
    })
    .to_string()
    .into_bytes()
}

/// `body` with one Header field changed.
fn with_header(body: &[u8], field: &str, value: &str) -> Vec<u8> {
    let mut envelope: Value = serde_json::from_slice(body).expect("JSON");
    envelope["Header"][field] = Value::String(value.to_owned());
    envelope.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reply_to_the_receipt_goes_to_the_receipts_exchange_keyed_by_the_sender() {
    let app = spawn_app().await;
    let (channel, queue) = app.tap(&app.topology.receipts_exchange, "ECOMMERCE").await;

    let published = app
        .publish(
            vec![std::fs::read(example("item-reserve-split.json")).expect("example")],
            false,
        )
        .await;

    let message = app
        .next_message(&channel, &queue)
        .await
        .expect("a receipt on the receipts exchange");
    let receipt: Value = serde_json::from_slice(&message.delivery.data).expect("receipt JSON");
    assert_eq!(
        receipt["Content"]["ReceivedMessage"]["UUID"],
        published[0].uuid.as_str()
    );
    assert_eq!(
        message
            .delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|id| id.to_string()),
        Some(published[0].uuid.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_dead_lettered_with_its_reason_and_answered_on_reply_to() {
    let app = spawn_app().await;
    let (channel, dead) = app.tap(&app.topology.dead_letter_exchange, "").await;
    let broken =
        b"{\"Header\": {\"UUID\": \"x\",\n \"Transaction\": \"ItemReserve\" \"oops\"}}".to_vec();

    let published = eai::commands::publish::publish(
        &app.settings,
        vec![("broken.json".into(), broken.clone())],
        Some(Duration::from_secs(20)),
        Some("ItemReserve"),
    )
    .await
    .expect("published with a forced routing key");

    let receipt = published[0]
        .receipt
        .as_ref()
        .expect("an error receipt on reply_to");
    let detail = &receipt["Content"]["ProcessingInformation"]["Details"][0];
    assert_eq!(detail["Code"], "INVALID_JSON");
    assert!(
        detail["Message"]
            .as_str()
            .expect("message")
            .contains("line 2"),
        "{detail}"
    );
    assert_eq!(
        receipt["Content"]["ReceivedMessage"]["UUID"],
        published[0].uuid.as_str()
    );
    let message = app
        .next_message(&channel, &dead)
        .await
        .expect("a dead letter");
    assert_eq!(message.delivery.data, broken, "the original body is kept");
    assert_eq!(
        header(&message, "x-eai-code").as_deref(),
        Some("INVALID_JSON")
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(app.db.pool())
        .await
        .expect("inbox count");
    assert_eq!(inbox, 0, "nothing without a UUID reaches the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let mut app = spawn_app().await;
    app.import(&stream::bulk_stock()).await;
    // Enough that the kill lands mid-stream however fast batches answer (60
    // were sometimes all answered between two polls).
    let total = 2000;
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|index| {
            stream::reservation(&format!("crash-{index}"), stream::ITEM, 1)
                .to_string()
                .into_bytes()
        })
        .collect();

    // The stream waits in the queue and the worker meets it whole: published
    // while a worker ran, it was sometimes all answered before the publisher
    // was done.
    app.kill();
    app.publish(bodies.clone(), false).await;
    app.restart().await;
    let mut answered_before_kill = 0;
    for _ in 0..200 {
        answered_before_kill =
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status IS NOT NULL")
                .fetch_one(app.db.pool())
                .await
                .expect("inbox count");
        if answered_before_kill >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.kill();
    println!("killed with {answered_before_kill} of {total} answered");
    assert!(
        answered_before_kill < total,
        "the kill must land mid-stream ({answered_before_kill} of {total} answered)"
    );
    app.restart().await;
    // Re-sending everything after the restart, as an impatient sender would.
    app.publish(bodies, false).await;

    let mut answered = 0;
    for _ in 0..600 {
        answered = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status = 'ok'")
            .fetch_one(app.db.pool())
            .await
            .expect("inbox count");
        if answered == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, total, "every envelope answered ok");
    let (reservations, reserved, receipts): (i64, Decimal, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM reservations), (SELECT sum(reserved) FROM lots),
                (SELECT count(*) FROM outbox WHERE kind = 'receipt')",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("counts");
    assert_eq!(reservations, total);
    assert_eq!(
        reserved.normalize(),
        Decimal::from(total),
        "one unit each, once"
    );
    assert_eq!(receipts, total, "one stored receipt per UUID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_whose_first_publication_was_interrupted_goes_out_when_its_envelope_comes_back() {
    let app = spawn_app().await;
    let (channel, queue) = app.tap(&app.topology.receipts_exchange, "ECOMMERCE").await;
    let body = reserve_one(&uuid::Uuid::new_v4().to_string(), "interrupted-1");
    let envelope = eai_protocol::Envelope::parse(&body).expect("valid envelope");
    // Commit without publishing: what a worker killed right after its commit
    // leaves behind. Its delivery was not acked, so the broker gives it again.
    let answer = app
        .db
        .store
        .receive(
            &app.settings.identity(),
            &eai_store::Inbound {
                envelope: &envelope,
                body: &body,
                received_at: chrono::Utc::now(),
                route: eai_store::ReplyRoute {
                    exchange: app.topology.receipts_exchange.clone(),
                    routing_key: "ECOMMERCE".into(),
                    correlation_id: Some(envelope.uuid().to_owned()),
                },
                max_waits: 0,
            },
        )
        .await
        .expect("committed")
        .answered()
        .expect("an ItemReserve is answered at once");
    assert!(
        eai_tests::next_message(&channel, &queue, Duration::from_secs(3))
            .await
            .is_none(),
        "no relay (it looks every second here) sends what the envelope's return will"
    );

    app.publish(vec![body.clone()], false).await;

    let message = app
        .next_message(&channel, &queue)
        .await
        .expect("the stored receipt is published");
    assert_eq!(
        String::from_utf8_lossy(&message.delivery.data),
        answer.body,
        "byte for byte"
    );
    let (receipts, reserved): (i64, Decimal) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox WHERE kind = 'receipt'),
                (SELECT sum(reserved) FROM lots)",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("counts");
    assert_eq!(
        (receipts, reserved.normalize()),
        (1, Decimal::ONE),
        "one receipt, one effect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_the_database_refuses_for_good_is_answered_dead_lettered_and_the_queue_moves_on(
) {
    let app = spawn_app().await;
    let (channel, dead) = app.tap(&app.topology.dead_letter_exchange, "").await;
    // A schema fault no retry can cure, as a botched manual change would leave.
    sqlx::query("ALTER TABLE reservation_lines RENAME TO reservation_lines_moved")
        .execute(app.db.pool())
        .await
        .expect("rename");
    let uuid = uuid::Uuid::new_v4().to_string();
    let refused = reserve_one(&uuid, "refused-1");
    let receipt = app.publish_one(refused.clone()).await;

    let detail = &receipt["Content"]["ProcessingInformation"]["Details"][0];
    assert_eq!(detail["Code"], "PROCESSING_FAILED", "{receipt:#}");
    assert!(
        detail["Message"]
            .as_str()
            .is_some_and(|message| message.contains("the database refused it")),
        "{detail}"
    );
    assert_eq!(receipt["Content"]["ReceivedMessage"]["UUID"], uuid.as_str());
    let message = app
        .next_message(&channel, &dead)
        .await
        .expect("dead-lettered");
    assert_eq!(message.delivery.data, refused);
    assert_eq!(
        header(&message, "x-eai-code").as_deref(),
        Some("PROCESSING_FAILED")
    );
    let again = app.publish_one(refused).await;
    assert_eq!(again, receipt, "a re-send gets the same answer");

    sqlx::query("ALTER TABLE reservation_lines_moved RENAME TO reservation_lines")
        .execute(app.db.pool())
        .await
        .expect("rename back");
    let receipt = app
        .publish_one(reserve_one(&uuid::Uuid::new_v4().to_string(), "after-1"))
        .await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_routed_to_no_work_queue_is_answered_or_dead_lettered_with_its_routing_key() {
    let app = spawn_app().await;
    let (channel, dead) = app.tap(&app.topology.dead_letter_exchange, "").await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let misrouted = reserve_one(&uuid, "misrouted-1");
    let published = eai::commands::publish::publish(
        &app.settings,
        vec![
            ("misrouted.json".into(), misrouted.clone()),
            ("garbage.json".into(), b"not json at all".to_vec()),
        ],
        Some(Duration::from_secs(20)),
        Some("itemreserve"),
    )
    .await
    .expect("published with a key no queue is bound to");

    let receipt = published[0].receipt.as_ref().expect("answered");
    let detail = &receipt["Content"]["ProcessingInformation"]["Details"][0];
    assert_eq!(detail["Code"], "UNSUPPORTED_TRANSACTION", "{receipt:#}");
    assert!(
        detail["Message"]
            .as_str()
            .is_some_and(|message| message.contains("\"itemreserve\"")),
        "names the routing key: {detail}"
    );
    let garbage = published[1].receipt.as_ref().expect("answered on reply_to");
    assert_eq!(
        garbage["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "INVALID_JSON"
    );
    let message = app
        .next_message(&channel, &dead)
        .await
        .expect("the body without a UUID is dead-lettered");
    assert_eq!(message.delivery.data, b"not json at all".to_vec());
    assert_eq!(
        header(&message, "x-eai-routing-key").as_deref(),
        Some("itemreserve")
    );
    let inbox: Vec<String> = sqlx::query_scalar("SELECT uuid FROM inbox")
        .fetch_all(app.db.pool())
        .await
        .expect("inbox");
    assert_eq!(
        inbox,
        vec![uuid],
        "the answered one is recorded like any other"
    );
    for outcome in ["answered", "dead_lettered"] {
        let series = format!(r#"eai_unrouted_total{{outcome="{outcome}"}}"#);
        assert_eq!(app.metric(&series, 1.0).await, Some(1.0), "{series}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_broker_returns_is_retried_then_dead_lettered_never_counted_delivered() {
    let app = spawn_app_with(|settings| {
        settings.receipts.max_attempts = 2;
        settings.sender.retry_min = Duration::from_millis(100);
    })
    .await;
    let (channel, dead) = app.tap(&app.topology.dead_letter_exchange, "").await;
    // No queue is bound for this sender's receipts, and it gave no reply_to.
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = with_header(
        &reserve_one(&uuid, "returned-1"),
        "SourceApplication",
        "NOBODY-LISTENS",
    );
    app.publish(vec![body], false).await;

    let message = app
        .next_message(&channel, &dead)
        .await
        .expect("the undeliverable receipt is dead-lettered");
    assert_eq!(
        header(&message, "x-eai-code").as_deref(),
        Some("RECEIPT_UNDELIVERABLE")
    );
    assert_eq!(
        header(&message, "x-eai-routing-key").as_deref(),
        Some("NOBODY-LISTENS")
    );
    let receipt: Value = serde_json::from_slice(&message.delivery.data).expect("a receipt");
    assert_eq!(receipt["Content"]["ReceivedMessage"]["UUID"], uuid.as_str());
    // The receipt is dead-lettered first and marked failed after: a crash
    // between the two dead-letters it again rather than never.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let settled = loop {
        let (status, attempts): (String, i32) = sqlx::query_as(
            "SELECT o.status, o.attempts FROM outbox o JOIN inbox i ON i.receipt_id = o.id WHERE i.uuid = $1",
        )
        .bind(&uuid)
        .fetch_one(app.db.pool())
        .await
        .expect("the receipt row");
        if status == "failed" || std::time::Instant::now() > deadline {
            break (status, attempts);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (settled.0.as_str(), settled.1),
        ("failed", 2),
        "the receiver's publication and the relay's, then given up"
    );
}

/// The status of the receipt of `uuid`, polled until it is `expected` or 10 s pass.
async fn receipt_status(app: &eai_tests::TestApp, uuid: &str, expected: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT o.status FROM outbox o JOIN inbox i ON i.receipt_id = o.id WHERE i.uuid = $1",
        )
        .bind(uuid)
        .fetch_optional(app.db.pool())
        .await
        .expect("the receipt row");
        let status = status.unwrap_or_default();
        if status == expected || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_receipt_that_reaches_its_sender_when_the_uuid_is_sent_again_is_settled() {
    let app = spawn_app_with(|settings| {
        // The relay's next try is far off: only the re-sent UUID delivers it.
        settings.sender.retry_min = Duration::from_secs(3600);
        settings.sender.retry_max = Duration::from_secs(3600);
    })
    .await;
    let source = format!("LATE-{}", uuid::Uuid::new_v4().simple());
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = with_header(&reserve_one(&uuid, "late-1"), "SourceApplication", &source);
    app.publish(vec![body.clone()], false).await;
    assert_eq!(
        receipt_status(&app, &uuid, "waiting").await,
        "waiting",
        "returned: no queue takes this sender's receipts yet"
    );

    let (channel, queue) = app.tap(&app.topology.receipts_exchange, &source).await;
    app.publish(vec![body], false).await;
    let message = app
        .next_message(&channel, &queue)
        .await
        .expect("the stored receipt reaches the sender now");
    let receipt: Value = serde_json::from_slice(&message.delivery.data).expect("a receipt");
    assert_eq!(receipt["Content"]["ReceivedMessage"]["UUID"], uuid.as_str());
    assert_eq!(
        receipt_status(&app, &uuid, "done").await,
        "done",
        "delivered: the relay does not send it again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_transactions_are_counted_under_one_label() {
    let app = spawn_app().await;
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|index| {
            with_header(
                &reserve_one(&uuid::Uuid::new_v4().to_string(), "label"),
                "Transaction",
                &format!("Random{index}"),
            )
        })
        .collect();
    let published = eai::commands::publish::publish(
        &app.settings,
        bodies
            .into_iter()
            .enumerate()
            .map(|(index, body)| (format!("random-{index}").into(), body))
            .collect(),
        Some(Duration::from_secs(20)),
        Some("ItemReserve"),
    )
    .await
    .expect("published");
    assert!(published
        .iter()
        .all(|envelope| envelope.status() == Some("error")));
    // The last receipt can reach the publisher a moment before its ack is counted.
    assert_eq!(
        app.metric(
            r#"eai_messages_total{duplicate="false",status="error",transaction="other"}"#,
            20.0
        )
        .await,
        Some(20.0)
    );
    let (_, metrics) = app.http_get("/metrics").await;
    assert!(
        !metrics.contains("Random"),
        "no series per value a sender writes"
    );
}

/// AMQP headers a sender sets do not count as the worker's own retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_cannot_skip_the_wait_with_a_retry_header() {
    let app = spawn_app().await;
    let sale: serde_json::Value = serde_json::from_slice(
        &std::fs::read(example("seed-001/retail-sales-full-2.json")).expect("sale"),
    )
    .expect("JSON");
    let uuid = sale["Header"]["UUID"].as_str().expect("UUID").to_owned();
    let broker = eai::app::open_broker(&app.settings, None)
        .await
        .expect("broker");
    eai::app::publisher_for(&app.settings, &broker)
        .publish(&Outgoing {
            exchange: &app.topology.inbound_exchange,
            routing_key: "RetailSales",
            body: sale.to_string().as_bytes(),
            correlation_id: Some(&uuid),
            message_id: Some(&uuid),
            headers: vec![
                ("x-eai-attempt", "99".to_owned()),
                ("x-delivery-count", "99".to_owned()),
            ],
            ..Outgoing::default()
        })
        .await
        .expect("published");

    let mut waits = None;
    for _ in 0..100 {
        waits = sqlx::query_scalar("SELECT waits FROM inbox_retries WHERE uuid = $1")
            .bind(&uuid)
            .fetch_optional(app.db.pool())
            .await
            .expect("waits");
        if waits.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waits, Some(1), "it waits, whatever its headers claim");
    let reserved = app
        .publish_example("seed-001/item-reserve-full-example.json")
        .await;
    assert_eq!(
        reserved["Content"]["ProcessingInformation"]["Status"], "ok",
        "{reserved}"
    );
    let mut sale_status: Option<String> = None;
    for _ in 0..200 {
        sale_status = sqlx::query_scalar("SELECT status FROM inbox WHERE uuid = $1")
            .bind(&uuid)
            .fetch_optional(app.db.pool())
            .await
            .expect("inbox")
            .flatten();
        // The log shows it `waiting` meanwhile; then it is answered.
        if sale_status
            .as_deref()
            .is_some_and(|status| status != "waiting")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        sale_status.as_deref(),
        Some("ok"),
        "integrated once its reservation came"
    );
}
