//! The worker without a broker: envelopes queue in the database (the API's
//! ingress, `eai publish`), are answered by the same receiver, and their
//! receipts are fetched by UUID; waits, unknown transactions, bodies without
//! a UUID and an envelope whose worker died all end as they do on a broker.

use std::time::Duration;

use eai_store::inbound_queue::Queued;
use eai_tests::api::call_at;
use eai_tests::{example, spawn_app_with, TestApp, OPERATOR_TOKEN};
use secrecy::SecretString;
use serde_json::{json, Value};

async fn spawn_without_broker() -> TestApp {
    spawn_app_with(|settings| settings.amqp.url = SecretString::from("")).await
}

fn status(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Status"]
        .as_str()
        .unwrap_or_else(|| panic!("a receipt: {receipt}"))
}

fn first_code(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"]
        .as_str()
        .unwrap_or_else(|| panic!("a detail: {receipt}"))
}

/// Polls `GET /api/eai/v1/transactions/{uuid}` until the receipt is there (20 s at most).
async fn fetched_receipt(app: &TestApp, uuid: &str) -> Value {
    let path = format!("/api/eai/v1/transactions/{uuid}");
    for _ in 0..200 {
        let answer = call_at(app.http_addr, "GET", &path, Some(OPERATOR_TOKEN), None).await;
        match answer.status {
            200 => return answer.body,
            404 => assert_eq!(answer.body["code"], "NOT_ANSWERED", "{}", answer.body),
            other => panic!("GET {path}: {other} {}", answer.body),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no receipt for {uuid} within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_examples_are_answered_from_the_database_queue() {
    let app = spawn_without_broker().await;
    let (status_code, readiness) = app.http_get("/readyz").await;
    assert_eq!(
        (status_code, readiness.as_str()),
        (
            200,
            r#"{"consumers":true,"database":true,"draining":false}"#
        ),
        "ready, and no broker to report on"
    );

    let reserved = app
        .publish_example("seed-001/item-reserve-full-example.json")
        .await;
    assert_eq!(status(&reserved), "ok", "{reserved}");
    let sold = app
        .publish_example("seed-001/retail-sales-full-2.json")
        .await;
    assert_eq!(status(&sold), "ok", "{sold}");

    // The same UUID again: the same receipt, byte for byte, and no second sale.
    let again = app
        .publish_example("seed-001/retail-sales-full-2.json")
        .await;
    assert_eq!(again, sold);
    let sales = app.count("SELECT count(*) FROM sales").await;
    assert_eq!(sales, 1);
    // Taken off the queue just after the receipt is stored, like an ack.
    let mut queued: i64 = -1;
    for _ in 0..50 {
        queued = app.count("SELECT count(*) FROM inbound_queue").await;
        if queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queued, 0, "answered envelopes leave the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_posted_async_is_answered_and_its_receipt_fetched_by_uuid() {
    let app = spawn_without_broker().await;
    let mut envelope: Value = serde_json::from_slice(
        &std::fs::read(example("item-reserve-split.json")).expect("example"),
    )
    .expect("JSON");
    let uuid = uuid::Uuid::new_v4().to_string();
    envelope["Header"]["UUID"] = json!(uuid);
    let path = "/api/eai/v1/transactions";
    let accepted = call_at(
        app.http_addr,
        "POST",
        path,
        Some(OPERATOR_TOKEN),
        Some(envelope),
    )
    .await;
    assert_eq!(
        (accepted.status, accepted.body.clone()),
        (202, json!({"uuid": uuid}))
    );
    let receipt = fetched_receipt(&app, &uuid).await;
    assert_eq!(status(&receipt), "ok", "{receipt}");
    assert_eq!(receipt["Content"]["ReceivedMessage"]["UUID"], uuid.as_str());

    let unknown = call_at(
        app.http_addr,
        "GET",
        &format!("{path}/{}", uuid::Uuid::new_v4()),
        Some(OPERATOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "NOT_ANSWERED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_queued_before_its_reservation_waits_in_the_queue_and_ends_integrated() {
    let app = spawn_without_broker().await;
    let sale = std::fs::read(example("seed-001/retail-sales-full-2.json")).expect("sale");
    let reserve =
        std::fs::read(example("seed-001/item-reserve-full-example.json")).expect("reserve");
    let waiting = r#"eai_envelopes_waiting_total{transaction="RetailSales"}"#;
    let (sold, reserved) = tokio::join!(app.publish(vec![sale], true), async {
        assert_eq!(
            app.metric(waiting, 1.0).await,
            Some(1.0),
            "the sale waited for its reservation"
        );
        app.publish(vec![reserve], true).await
    });
    assert_eq!(reserved[0].status(), Some("ok"));
    assert_eq!(sold[0].status(), Some("ok"), "{:?}", sold[0].receipt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_transaction_is_answered_and_a_body_without_uuid_is_dead_lettered() {
    let app = spawn_without_broker().await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let unknown = json!({"Header": {"UUID": uuid, "Transaction": "ItemTransfer",
                                    "Type": "BusinessMessage", "SourceApplication": "SHOP"},
                         "Content": {}});
    let published = eai::commands::publish::publish(
        &app.settings,
        vec![("unknown".into(), unknown.to_string().into_bytes())],
        Some(Duration::from_secs(20)),
        None,
    )
    .await
    .expect("queued");
    let receipt = published[0].receipt.as_ref().expect("answered");
    assert_eq!(status(receipt), "error");
    assert_eq!(first_code(receipt), "UNSUPPORTED_TRANSACTION");
    let message = receipt["Content"]["ProcessingInformation"]["Details"][0]["Message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("\"ItemTransfer\"") && message.contains("RetailSalesCancellation"),
        "{message}"
    );

    app.db
        .store
        .enqueue(&Queued {
            routing_key: "ItemReserve",
            body: b"not an envelope",
            ..Queued::default()
        })
        .await
        .expect("queued");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let answer = call_at(
            app.http_addr,
            "GET",
            "/api/v1/dead-letters",
            Some(OPERATOR_TOKEN),
            None,
        )
        .await;
        let items = answer.body["items"].as_array().cloned().unwrap_or_default();
        if let Some(dead) = items.into_iter().next() {
            break dead;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead["code"], "INVALID_JSON", "{dead}");
    assert_eq!(dead["routing_key"], "ItemReserve", "{dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_whose_worker_died_holding_it_comes_back_when_its_lease_ends() {
    let app = spawn_without_broker().await;
    let body = std::fs::read(example("item-reserve-split.json")).expect("example");
    let mut envelope: Value = serde_json::from_slice(&body).expect("JSON");
    let uuid = uuid::Uuid::new_v4().to_string();
    envelope["Header"]["UUID"] = json!(uuid);
    let body = envelope.to_string().into_bytes();
    // What a worker that claimed it and died leaves behind: claimed once,
    // hidden until its lease ends, never settled.
    let lease_ends = chrono::Utc::now() + chrono::Duration::seconds(1);
    sqlx::query(&format!(
        "INSERT INTO inbound_queue (routing_key, body, deliveries, visible_at)
         VALUES ('ItemReserve', $1, 1, '{}')",
        lease_ends.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    ))
    .bind(&body)
    .execute(&app.db.any().await)
    .await
    .expect("a claimed envelope");
    let receipt = fetched_receipt(&app, &uuid).await;
    assert_eq!(status(&receipt), "ok", "{receipt}");
    let redeliveries = app
        .count(&format!(
            "SELECT CAST(redeliveries AS BIGINT) FROM inbox_retries WHERE uuid = '{uuid}'"
        ))
        .await;
    assert_eq!(redeliveries, 1, "it came back redelivered");
}

/// Waits until `path` exists (20 s at most) and reads it as JSON.
async fn appeared(path: &std::path::Path) -> Value {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not appear within 20 s", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_dropped_in_the_spool_directory_gets_its_receipt_beside_it() {
    let spool = std::env::temp_dir().join(format!("eai-spool-{}", uuid::Uuid::new_v4().simple()));
    let app = spawn_app_with(|settings| {
        settings.amqp.url = SecretString::from("");
        settings.receiver.spool_dir = spool.clone();
        settings.receiver.spool_poll = Duration::from_millis(100);
    })
    .await;
    let mut envelope: Value = serde_json::from_slice(
        &std::fs::read(example("item-reserve-split.json")).expect("example"),
    )
    .expect("JSON");
    let uuid = uuid::Uuid::new_v4().to_string();
    envelope["Header"]["UUID"] = json!(uuid);
    // Written under a hidden name, then moved in whole.
    let hidden = spool.join(".order-1.json");
    std::fs::write(&hidden, envelope.to_string()).expect("written");
    std::fs::rename(&hidden, spool.join("order-1.json")).expect("moved in");
    std::fs::write(spool.join("broken.json"), "{\"Header\": {\"UUID\": ").expect("written");
    std::fs::write(spool.join("notes.txt"), "not an envelope file").expect("written");

    let receipt = appeared(&spool.join("order-1.receipt.json")).await;
    assert_eq!(status(&receipt), "ok", "{receipt}");
    assert_eq!(receipt["Content"]["ReceivedMessage"]["UUID"], uuid.as_str());
    let refused = appeared(&spool.join("broken.receipt.json")).await;
    assert_eq!(status(&refused), "error");
    assert_eq!(first_code(&refused), "INVALID_JSON", "{refused}");

    // The same UUID under another name: the same receipt, no second effect.
    std::fs::write(spool.join("order-1-again.json"), envelope.to_string()).expect("written");
    let again = appeared(&spool.join("order-1-again.receipt.json")).await;
    assert_eq!(again, receipt);
    let answers = app
        .count(&format!("SELECT count(*) FROM inbox WHERE uuid = '{uuid}'"))
        .await;
    assert_eq!(answers, 1, "answered once");
    let mut names: Vec<String> = std::fs::read_dir(&spool)
        .expect("spool")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "broken.json",
            "broken.receipt.json",
            "notes.txt",
            "order-1-again.json",
            "order-1-again.receipt.json",
            "order-1.json",
            "order-1.receipt.json"
        ],
        "nothing else is written there"
    );
    std::fs::remove_dir_all(&spool).ok();
}
