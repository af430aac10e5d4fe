//! The operator API against a running worker: finding a rejected order and
//! why, repairing it, paging, discarding, dead letters, the HTTP ingress and
//! the tokens that guard all of it. On either backend (`EAI_TEST_BACKEND`):
//! with a broker the receipts are read from a tap on the receipts exchange,
//! without one (SQLite) as stored for their UUID.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Months, Utc};
use eai_store::testing::TestBackend;
use eai_store::Environment;

use eai_tests::api::{call_at, Answer};
use eai_tests::{spawn_app, spawn_app_with, stream, TestApp, OPERATOR_TOKEN, VIEWER_TOKEN};
use eai_transport::lapin::Channel;
use serde_json::{json, Value};

/// A product nobody mapped: its reservation is refused `PRODUCT_NOT_FOUND`.
const UNMAPPED: &str = "7e57e57e-0000-4000-8000-00000000beef";

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    call_at(app.http_addr, method, path, token, body).await
}

async fn get(app: &TestApp, path: &str) -> Value {
    let answer = call(app, "GET", path, Some(OPERATOR_TOKEN), None).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.body
}

async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, "POST", path, Some(OPERATOR_TOKEN), Some(body)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

fn uuid_of(envelope: &Value) -> String {
    envelope["Header"]["UUID"]
        .as_str()
        .expect("UUID")
        .to_owned()
}

/// Where a test reads the receipts of envelopes sent as a platform sends
/// them (no reply_to): a tap on the receipts exchange when the worker has a
/// broker; without one (SQLite), the receipt stored for the UUID once the
/// database's inbound queue has nothing left to answer.
enum Receipts {
    Tap(Channel, String),
    Stored,
}

impl Receipts {
    async fn open(app: &TestApp) -> Receipts {
        match app.settings.has_broker() {
            true => {
                let (channel, queue) = app.tap(&app.topology.receipts_exchange, "ECOMMERCE").await;
                Receipts::Tap(channel, queue)
            }
            false => Receipts::Stored,
        }
    }
}

/// Publishes `envelope` as a platform does (no reply_to: its receipt goes to
/// the receipts exchange) and returns the next receipt for it.
async fn answered(app: &TestApp, receipts: &Receipts, envelope: &Value) -> Value {
    app.publish(vec![envelope.to_string().into_bytes()], false)
        .await;
    next_receipt(app, receipts, &uuid_of(envelope)).await
}

/// The operator maps [`UNMAPPED`] to P001 through the API.
async fn map_unmapped_product(app: &TestApp) {
    let mapped = call(
        app,
        "PUT",
        "/api/v1/mappings",
        Some(OPERATOR_TOKEN),
        Some(json!({
        "namespace": "ECOMMERCE", "entity": "Product", "external": UNMAPPED, "internal": "P001"})),
    )
    .await;
    assert_eq!(mapped.status, 201, "{}", mapped.body);
}

/// The next receipt answering `uuid`: on the tap, or, without a broker,
/// the one stored for it once every envelope queued so far (it, published
/// again, retried or replayed, included) has left the database's inbound
/// queue, answered.
async fn next_receipt(app: &TestApp, receipts: &Receipts, uuid: &str) -> Value {
    let (channel, queue) = match receipts {
        Receipts::Tap(channel, queue) => (channel, queue),
        Receipts::Stored => return stored_receipt(app, uuid).await,
    };
    loop {
        let message = app
            .next_message(channel, queue)
            .await
            .unwrap_or_else(|| panic!("no receipt for {uuid}"));
        let receipt: Value = serde_json::from_slice(&message.delivery.data).expect("receipt");
        if receipt["Content"]["ReceivedMessage"]["UUID"] == uuid {
            return receipt;
        }
    }
}

/// The receipt stored for `uuid`, fetched by `GET /api/eai/v1/transactions/{uuid}`
/// once the database's inbound queue is empty (20 s at most).
async fn stored_receipt(app: &TestApp, uuid: &str) -> Value {
    let path = format!("/api/eai/v1/transactions/{uuid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queued = app.count("SELECT count(*) FROM inbound_queue").await;
        if queued == 0 {
            let answer = call(app, "GET", &path, Some(OPERATOR_TOKEN), None).await;
            match answer.status {
                200 => return answer.body,
                404 => assert_eq!(answer.body["code"], "NOT_ANSWERED", "{}", answer.body),
                other => panic!("GET {path}: {other} {}", answer.body),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no receipt for {uuid} within 20 s ({queued} envelope(s) still queued)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What makes reserving P001 fail until [`Hold::release`]: on PostgreSQL a
/// lock held elsewhere on its lots (the reservation fails, transiently, until
/// its tries are spent); on SQLite, whose one writer at a time leaves no row
/// to lock, a trigger refusing any change to them (refused for good at once).
enum Hold {
    Locks(sqlx::PgConnection),
    Trigger,
}

impl Hold {
    async fn take(app: &TestApp) -> Hold {
        match app.db.backend() {
            TestBackend::Postgres => {
                let mut locks = app.db.connection().await;
                sqlx::query("BEGIN")
                    .execute(&mut locks)
                    .await
                    .expect("begin");
                sqlx::query("SELECT * FROM lots WHERE product = 'P001' FOR UPDATE")
                    .execute(&mut locks)
                    .await
                    .expect("locks held");
                Hold::Locks(locks)
            }
            TestBackend::Sqlite => {
                sqlx::query(
                    "CREATE TRIGGER held_p001 BEFORE UPDATE ON lots WHEN OLD.product = 'P001'
                     BEGIN SELECT RAISE(ABORT, 'P001 is held by the test'); END",
                )
                .execute(&app.db.any().await)
                .await
                .expect("trigger created");
                Hold::Trigger
            }
        }
    }

    async fn release(self, app: &TestApp) {
        match self {
            Hold::Locks(locks) => drop(locks),
            Hold::Trigger => {
                sqlx::query("DROP TRIGGER held_p001")
                    .execute(&app.db.any().await)
                    .await
                    .expect("trigger dropped");
            }
        }
    }
}

/// Polls the log until the message of `uuid` has `status`.
async fn wait_status(app: &TestApp, uuid: &str, status: &str) -> Value {
    for _ in 0..100 {
        let page = get(app, &format!("/api/v1/messages?direction=in&uuid={uuid}")).await;
        if let Some(entry) = page["items"].get(0) {
            if entry["status"] == status {
                return entry.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{uuid} never became {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_a_token_a_viewer_only_reads_and_bad_parameters_are_named() {
    let app = spawn_app().await;

    let none = call(&app, "GET", "/api/v1/messages", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer"));
    assert_eq!(none.body["code"], "UNAUTHORIZED");
    let wrong = call(
        &app,
        "GET",
        "/api/v1/pending",
        Some("operator-token-012345678X"),
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);

    let viewer = call(&app, "GET", "/api/v1/messages", Some(VIEWER_TOKEN), None).await;
    assert_eq!(viewer.status, 200);
    assert_eq!(viewer.body, json!({"items": [], "next_cursor": ""}));
    let mutating = call(
        &app,
        "POST",
        "/api/v1/messages/in-1/discard",
        Some(VIEWER_TOKEN),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(mutating.status, 403);
    assert_eq!(mutating.body["code"], "FORBIDDEN");
    assert_eq!(app.http_get("/healthz").await.0, 200, "health stays open");
    let document = call(&app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(document.status, 200, "the OpenAPI document is open");
    assert!(document.body["paths"]["/api/eai/v1/transactions"]["post"].is_object());

    for (query, parameter) in [
        ("status=bogus", "status"),
        ("direction=sideways", "direction"),
        ("limit=501", "limit"),
        ("from=yesterday", "from"),
        ("error_code=NOPE", "error_code"),
        ("cursor=zz", "cursor"),
        ("colour=red", "colour"),
    ] {
        let answer = call(
            &app,
            "GET",
            &format!("/api/v1/messages?{query}"),
            Some(OPERATOR_TOKEN),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.body["code"], "INVALID_PARAMETER", "{query}");
        let message = answer.body["message"].as_str().expect("message");
        assert!(
            message.starts_with(&format!("{parameter}:")),
            "{query}: {message}"
        );
    }
    let missing = call(
        &app,
        "GET",
        "/api/v1/messages/in-999",
        Some(OPERATOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (missing.status, missing.body["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let foreign = call(
        &app,
        "GET",
        "/api/v1/mappings?cursor=307c696e7c31",
        Some(OPERATOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        foreign.status, 400,
        "a cursor of another list: {}",
        foreign.body
    );
    let unknown = call(
        &app,
        "GET",
        "/api/v1/nothing-here",
        Some(OPERATOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_order_is_found_with_its_reason_and_retried_once_its_product_is_mapped() {
    let app = spawn_app().await;
    let receipts = Receipts::open(&app).await;
    let refused = stream::reservation("ORDER-77", UNMAPPED, 1);
    let uuid = uuid_of(&refused);
    let receipt = answered(&app, &receipts, &refused).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"],
        "error"
    );

    // Found by its code, its document, its status: with its reason and what to do.
    let found = get(
        &app,
        "/api/v1/messages?status=error&error_code=PRODUCT_NOT_FOUND&document=ORDER-77",
    )
    .await;
    let entry = &found["items"][0];
    assert_eq!(entry["uuid"], uuid.as_str());
    assert_eq!(entry["direction"], "in");
    assert_eq!(entry["transaction"], "ItemReserve");
    assert_eq!(
        (entry["company"].as_str(), entry["branch"].as_str()),
        (Some("T1"), Some("D MG 01"))
    );
    assert_eq!(entry["error_codes"], json!(["PRODUCT_NOT_FOUND"]));
    let id = entry["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("in-"), "{id}");
    let pending = get(&app, "/api/v1/pending").await;
    assert_eq!(ids(&pending), vec![id.clone()]);
    let item = &pending["items"][0];
    assert_eq!(item["kind"], "error");
    assert!(
        item["reason"].as_str().expect("reason").contains(UNMAPPED),
        "{item}"
    );
    assert_eq!(
        item["suggested_action"],
        "map the product (de/para Product) or import it, then retry"
    );
    assert_eq!(item["actions"], json!(["retry", "discard"]));
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(
        detail["body"]["Content"]["InternalId"], "ORDER-77",
        "the body as received"
    );
    let overview = get(&app, "/api/v1/overview").await;
    assert_eq!(
        overview["envelopes"],
        json!([{"transaction": "ItemReserve", "status": "error", "last_hour": 1, "last_day": 1}])
    );
    assert_eq!(overview["blocked_destinations"], json!([]));
    assert_eq!(overview["inbound_problems"], 1);
    assert_eq!(overview["readiness"]["database"], true);
    assert_eq!(
        detail["receipt"]["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PRODUCT_NOT_FOUND"
    );
    for other in [
        "status=ok",
        "error_code=LOT_INSUFFICIENT",
        "direction=out",
        "company=T9",
        "document=ORDER-78",
    ] {
        let page = get(&app, &format!("/api/v1/messages?{other}")).await;
        assert_eq!(ids(&page), Vec::<String>::new(), "{other}");
    }

    // The operator maps the product and retries: processed again, answered ok.
    map_unmapped_product(&app).await;
    let listed = get(
        &app,
        &format!("/api/v1/mappings?namespace=ECOMMERCE&entity=product&external={UNMAPPED}"),
    )
    .await;
    assert_eq!(listed["items"][0]["internal"], "P001");
    let retried = post(
        &app,
        &format!("/api/v1/messages/{id}/retry"),
        json!({"note": "product mapped"}),
    )
    .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(
        retried.body,
        json!({"id": id, "action": "retry", "by": "tester"})
    );
    let receipt = next_receipt(&app, &receipts, &uuid).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt}"
    );
    let now = wait_status(&app, &uuid, "ok").await;
    assert_eq!(now["error_codes"], json!([]));
    assert_eq!(now["attempts"], 2, "the operator's retry is an attempt");
    assert_eq!(
        ids(&get(&app, "/api/v1/pending").await),
        Vec::<String>::new()
    );
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail["actions"][0]["action"], "retry");
    assert_eq!(detail["actions"][0]["actor"], "tester");
    assert_eq!(detail["actions"][0]["note"], "product mapped");
    let again = post(&app, &format!("/api/v1/messages/{id}/retry"), json!({})).await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("NOT_APPLICABLE"))
    );

    let deleted = call(
        &app,
        "DELETE",
        &format!("/api/v1/mappings?namespace=ECOMMERCE&entity=Product&external={UNMAPPED}"),
        Some(OPERATOR_TOKEN),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
}

#[tokio::test]
async fn a_large_envelope_is_stored_compressed_shown_as_received_and_retried_whole() {
    let app = spawn_app().await;
    let receipts = Receipts::open(&app).await;
    let mut refused = stream::reservation("ORDER-LARGE", UNMAPPED, 1);
    refused["Content"]["Observation"] = json!("a long note ".repeat(20_000));
    let uuid = uuid_of(&refused);
    let sent = refused.to_string().len();
    assert!(sent > 200_000, "{sent} bytes");
    let receipt = answered(&app, &receipts, &refused).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PRODUCT_NOT_FOUND"
    );

    let rows: Vec<(i64, i64)> = app
        .rows(&format!(
            "SELECT CAST(CASE WHEN body_zstd THEN 1 ELSE 0 END AS BIGINT),
                    CAST(length(body) AS BIGINT)
               FROM inbox WHERE uuid = '{uuid}'"
        ))
        .await;
    let [(compressed, stored)] = rows[..] else {
        panic!("one inbox row for {uuid}: {rows:?}");
    };
    assert_eq!(compressed, 1, "a large body is stored compressed");
    assert!(
        usize::try_from(stored).expect("a length") * 20 < sent,
        "{stored} bytes stored for {sent}"
    );
    let found = get(&app, &format!("/api/v1/messages?direction=in&uuid={uuid}")).await;
    let id = found["items"][0]["id"].as_str().expect("id").to_owned();
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail["body"], refused, "the body as received");

    map_unmapped_product(&app).await;
    let retried = post(&app, &format!("/api/v1/messages/{id}/retry"), json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let receipt = next_receipt(&app, &receipts, &uuid).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "the retried body is the whole envelope: {receipt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_their_cursor_without_gaps_or_repeats_while_messages_arrive() {
    let app = spawn_app().await;
    let publish = |count: usize, phase: &'static str| {
        let app = &app;
        async move {
            let bodies = (0..count)
                .map(|index| {
                    stream::reservation(&format!("{phase}-{index}"), UNMAPPED, 1)
                        .to_string()
                        .into_bytes()
                })
                .collect();
            app.publish(bodies, true).await;
        }
    };
    publish(5, "first").await;
    let first = get(&app, "/api/v1/messages?limit=2").await;
    assert_eq!(ids(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    assert!(!cursor.is_empty());
    publish(3, "meanwhile").await;
    let second = get(&app, &format!("/api/v1/messages?limit=2&cursor={cursor}")).await;
    let cursor = second["next_cursor"].as_str().expect("cursor").to_owned();
    let third = get(&app, &format!("/api/v1/messages?limit=2&cursor={cursor}")).await;
    assert_eq!(
        third["next_cursor"], "",
        "the last page says so with an empty cursor"
    );
    let mut seen: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
    assert_eq!(
        seen.len(),
        5,
        "the five first messages, each once: {seen:?}"
    );
    seen.dedup();
    assert_eq!(seen.len(), 5);
    let everything = get(&app, "/api/v1/messages?limit=500").await;
    assert_eq!(ids(&everything).len(), 8);
    let times: Vec<&str> = everything["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["at"].as_str().expect("at"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_item_leaves_pending_and_the_log_keeps_who_when_and_why() {
    let app = spawn_app().await;
    let refused = stream::reservation("ORDER-DISCARD", UNMAPPED, 1);
    app.publish_one(refused.to_string().into_bytes()).await;
    let pending = get(&app, "/api/v1/pending").await;
    let id = ids(&pending)[0].clone();

    let without_note = post(&app, &format!("/api/v1/messages/{id}/discard"), json!({})).await;
    assert_eq!(
        (without_note.status, without_note.body["code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let discarded = post(
        &app,
        &format!("/api/v1/messages/{id}/discard"),
        json!({"note": "test order, never real"}),
    )
    .await;
    assert_eq!(discarded.status, 200, "{}", discarded.body);
    assert_eq!(
        ids(&get(&app, "/api/v1/pending").await),
        Vec::<String>::new()
    );
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail["status"], "error", "the log keeps it");
    assert_eq!(detail["discarded"]["by"], "tester");
    assert_eq!(detail["discarded"]["note"], "test order, never real");
    assert!(detail["discarded"]["at"].is_string());
    // A body that is no envelope is dead-lettered; its dead letter is discarded the same way.
    app.inject("ItemReserve", b"not an envelope").await;
    let mut dead = json!(null);
    for _ in 0..100 {
        dead = get(&app, "/api/v1/dead-letters?open=true").await;
        if !ids(&dead).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["items"][0]["code"], "INVALID_JSON");
    let dead_id = ids(&dead)[0].clone();
    let gone = post(
        &app,
        &format!("/api/v1/dead-letters/{dead_id}/discard"),
        json!({"note": "a health probe, not a shop"}),
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(
        get(&app, "/api/v1/dead-letters?open=true").await["items"],
        json!([])
    );
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/dead-letters/{dead_id}/replay"),
            json!({})
        )
        .await
        .status,
        409,
        "a discarded dead letter is not replayed"
    );
    let twice = post(
        &app,
        &format!("/api/v1/messages/{id}/discard"),
        json!({"note": "again"}),
    )
    .await;
    assert_eq!(twice.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_and_its_replay_ends_in_a_receipt() {
    let app = spawn_app_with(|settings| {
        settings.database.lock_timeout = Duration::from_millis(300);
        settings.receiver.failure_retry_delays = vec![Duration::from_secs(1)];
    })
    .await;
    let receipts = Receipts::open(&app).await;
    // A lock held elsewhere (a trigger on SQLite) makes the reservation fail.
    let hold = Hold::take(&app).await;
    let poison = stream::reservation("ORDER-POISON", "P001", 1);
    let uuid = uuid_of(&poison);
    let receipt = answered(&app, &receipts, &poison).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PROCESSING_FAILED"
    );
    hold.release(&app).await;

    let mut dead = json!(null);
    for _ in 0..100 {
        dead = get(&app, "/api/v1/dead-letters").await;
        if !ids(&dead).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let letter = &dead["items"][0];
    assert_eq!(letter["code"], "PROCESSING_FAILED");
    assert_eq!(letter["uuid"], uuid.as_str());
    let id = letter["id"].as_str().expect("id").to_owned();
    let pending = get(&app, "/api/v1/pending").await;
    assert_eq!(
        ids(&pending),
        vec![id.clone()],
        "one pending item: the dead letter"
    );
    let item = &pending["items"][0];
    assert_eq!(
        item["actions"],
        json!(["retry", "replay", "discard"]),
        "{item}"
    );
    let envelope = item["related"].as_str().expect("its envelope").to_owned();
    assert!(envelope.starts_with("in-"), "{envelope}");
    let shown = get(&app, &format!("/api/v1/dead-letters/{id}")).await;
    assert_eq!(shown["body"]["Content"]["InternalId"], "ORDER-POISON");
    let logged = get(&app, &format!("/api/v1/messages?uuid={uuid}")).await;
    assert_eq!(logged["items"][0]["status"], "dead");

    let replayed = post(
        &app,
        &format!("/api/v1/dead-letters/{id}/replay"),
        json!({}),
    )
    .await;
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    let again = next_receipt(&app, &receipts, &uuid).await;
    assert_eq!(again, receipt, "its stored receipt, as any duplicate");
    let pending = get(&app, "/api/v1/pending").await;
    assert_eq!(
        ids(&pending),
        vec![envelope.clone()],
        "replayed, it still failed: its envelope waits for a retry"
    );
    assert_eq!(pending["items"][0]["codes"], json!(["PROCESSING_FAILED"]));
    let retried = post(
        &app,
        &format!("/api/v1/messages/{envelope}/retry"),
        json!({"note": "locks released"}),
    )
    .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let answered = next_receipt(&app, &receipts, &uuid).await;
    assert_eq!(
        answered["Content"]["ProcessingInformation"]["Status"], "ok",
        "{answered}"
    );
    wait_status(&app, &uuid, "ok").await;
    assert_eq!(
        ids(&get(&app, "/api/v1/pending").await),
        Vec::<String>::new()
    );
    let bulk = post(
        &app,
        "/api/v1/dead-letters/replay",
        json!({"code": "PROCESSING_FAILED"}),
    )
    .await;
    assert_eq!(
        bulk.body,
        json!({"replayed": [], "failed": []}),
        "nothing open is left to replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_come_in_over_http_sync_async_and_in_batches_with_one_answer_per_uuid() {
    let app = spawn_app().await;
    let mut sync = stream::reservation("HTTP-SYNC", UNMAPPED, 1);
    sync["Header"]["DeliveryType"] = json!("sync");
    let answer = post(&app, "/api/eai/v1/transactions", sync.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["Header"]["Type"], "ReceiptMessage");
    assert_eq!(
        answer.body["Content"]["ReceivedMessage"]["UUID"],
        uuid_of(&sync).as_str()
    );
    assert_eq!(
        answer.body["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PRODUCT_NOT_FOUND"
    );
    let duplicate = post(&app, "/api/eai/v1/transactions", sync.clone()).await;
    assert_eq!(
        duplicate.body, answer.body,
        "a re-POST gets the stored receipt"
    );

    let asynchronous = stream::reservation("HTTP-ASYNC", UNMAPPED, 1);
    let accepted = post(&app, "/api/eai/v1/transactions", asynchronous.clone()).await;
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.body, json!({"uuid": uuid_of(&asynchronous)}));
    let entry = wait_status(&app, &uuid_of(&asynchronous), "error").await;
    assert_eq!(entry["internal_id"], "HTTP-ASYNC");
    let stored = post(&app, "/api/eai/v1/transactions", asynchronous.clone()).await;
    assert_eq!(
        stored.status, 200,
        "once answered, a re-POST gets the receipt"
    );
    assert_eq!(
        stored.body["Content"]["ProcessingInformation"]["Status"],
        "error"
    );

    let second = stream::reservation("HTTP-BATCH", UNMAPPED, 1);
    let batch = post(
        &app,
        "/api/eai/v1/transactions",
        json!({"Items": [second.clone(), {"Header": {}}]}),
    )
    .await;
    assert_eq!(batch.status, 202, "{}", batch.body);
    assert_eq!(
        batch.body["items"][0],
        json!({"index": 0, "uuid": uuid_of(&second), "status": "accepted"})
    );
    assert_eq!(batch.body["items"][1]["status"], "refused");
    assert_eq!(batch.body["items"][1]["code"], "INVALID_ENVELOPE");
    wait_status(&app, &uuid_of(&second), "error").await;

    let mut long = stream::reservation("HTTP-LONG", UNMAPPED, 1);
    long["Header"]["Transaction"] = json!("T".repeat(300));
    let accepted = post(&app, "/api/eai/v1/transactions", long.clone()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let unrouted = wait_status(&app, &uuid_of(&long), "error").await;
    assert_eq!(unrouted["error_codes"], json!(["UNSUPPORTED_TRANSACTION"]));

    let not_json = call(
        &app,
        "POST",
        "/api/eai/v1/transactions",
        Some(OPERATOR_TOKEN),
        Some(json!("text")),
    )
    .await;
    assert_eq!(not_json.status, 400);
    let viewer = call(
        &app,
        "POST",
        "/api/eai/v1/transactions",
        Some(VIEWER_TOKEN),
        Some(sync),
    )
    .await;
    assert_eq!(viewer.status, 403);
    let huge = format!(
        "{{\"Header\": {{\"UUID\": \"{}\"}}, \"Pad\": \"{}\"}}",
        uuid::Uuid::new_v4(),
        "x".repeat(31 * 1024 * 1024)
    );
    let too_large = reqwest::Client::new()
        .post(format!("http://{}/api/eai/v1/transactions", app.http_addr))
        .header("Authorization", format!("Bearer {OPERATOR_TOKEN}"))
        .body(huge)
        .send()
        .await
        .expect("answered");
    assert_eq!(too_large.status().as_u16(), 413);
}

/// When the envelope of `uuid` was received, read as text on either backend
/// (PostgreSQL's `2026-01-02 03:04:05.678+00`, SQLite's RFC 3339).
async fn received_at(app: &TestApp, uuid: &str) -> DateTime<Utc> {
    let rows: Vec<(String,)> = app
        .rows(&format!(
            "SELECT CAST(received_at AS TEXT) FROM inbox WHERE uuid = '{uuid}'"
        ))
        .await;
    let [(text,)] = &rows[..] else {
        panic!("one inbox row for {uuid}: {rows:?}");
    };
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .unwrap_or_else(|error| panic!("{text:?} is not a timestamp: {error}"))
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_envelopes_and_attempts_per_company_month_transaction_and_environment() {
    let app = spawn_app().await;
    let sync = |internal_id: &str| {
        let mut envelope = stream::reservation(internal_id, UNMAPPED, 1);
        envelope["Header"]["DeliveryType"] = json!("sync");
        envelope
    };
    let earlier = sync("USAGE-EARLIER");
    let now = sync("USAGE-NOW");
    for envelope in [&earlier, &now] {
        assert_eq!(
            post(&app, "/api/eai/v1/transactions", envelope.clone())
                .await
                .status,
            200
        );
    }
    // A homologation worker on the same database.
    let mut settings = app.settings.clone();
    settings.environment = Environment::Homologation;
    settings.amqp.topology_prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let _topology = settings
        .has_broker()
        .then(|| eai_tests::TopologyGuard(settings.topology()));
    let homologation = eai::app::start(&settings, None)
        .await
        .expect("second worker");
    let tried = call_at(
        homologation.http_addr,
        "POST",
        "/api/eai/v1/transactions",
        Some(OPERATOR_TOKEN),
        Some(sync("USAGE-HOMOLOGATION")),
    )
    .await;
    assert_eq!(tried.status, 200);
    homologation.shutdown().await.expect("stops");
    // One envelope arrived a month earlier.
    let received = received_at(&app, &uuid_of(&earlier))
        .await
        .checked_sub_months(Months::new(1))
        .expect("a month earlier");
    sqlx::query(&format!(
        "UPDATE inbox SET received_at = '{}' WHERE uuid = '{}'",
        received.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        uuid_of(&earlier)
    ))
    .execute(&app.db.any().await)
    .await
    .expect("moved");
    let current = received_at(&app, &uuid_of(&now)).await;

    let month =
        |at: DateTime<Utc>| format!("/api/v1/usage?year={}&month={}", at.year(), at.month());
    let this_month = get(&app, &month(current)).await;
    let one = json!({"transactions": [{"transaction": "ItemReserve", "envelopes": 1, "attempts": 1}], "envelopes": 1, "attempts": 1});
    assert_eq!(
        this_month["items"],
        json!([{"company": "T1", "cnpj": "11.222.333/0001-81", "production": one, "homologation": one}])
    );
    assert_eq!(this_month["next_cursor"], "");
    let last_month = get(&app, &month(received)).await;
    let none = json!({"transactions": [], "envelopes": 0, "attempts": 0});
    assert_eq!(last_month["items"][0]["production"], one);
    assert_eq!(last_month["items"][0]["homologation"], none);
    let range = get(
        &app,
        &format!(
            "/api/v1/usage?from={}&to={}",
            received.date_naive(),
            (current + chrono::Duration::days(1)).date_naive()
        ),
    )
    .await;
    assert_eq!(range["items"][0]["production"]["envelopes"], 2);
    assert_eq!(
        get(&app, &format!("{}&cnpj=99.999.999/0001-99", month(current))).await["items"],
        json!([])
    );
    for (query, parameter) in [
        ("", "year"),
        ("year=2026", "month"),
        ("year=2026&month=13", "month"),
    ] {
        let answer = call(
            &app,
            "GET",
            &format!("/api/v1/usage?{query}"),
            Some(OPERATOR_TOKEN),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(
            answer.body["message"]
                .as_str()
                .expect("message")
                .starts_with(parameter),
            "{query}: {}",
            answer.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_are_exported_in_numbered_batches_handed_out_again_until_confirmed() {
    let app = spawn_app().await;
    app.import(&stream::bulk_stock()).await;
    let integrate = |index: usize| {
        let app = &app;
        async move {
            let reservation = stream::reservation(&format!("EXP-R{index}"), stream::ITEM, 1);
            let sale = stream::sale(
                &format!("EXP-S{index}"),
                &format!("DOC-{index}"),
                &format!("EXP-R{index}"),
            );
            for envelope in [reservation, sale] {
                let receipt = app.publish_one(envelope.to_string().into_bytes()).await;
                assert_eq!(
                    receipt["Content"]["ProcessingInformation"]["Status"], "ok",
                    "{receipt}"
                );
            }
        }
    };
    let export = |body: Value| post(&app, "/api/v1/exports", body);
    let documents = |batch: &Value| -> Vec<String> {
        batch["sales"]
            .as_array()
            .expect("sales")
            .iter()
            .map(|sale| sale["document_code"].as_str().expect("doc").to_owned())
            .collect()
    };
    integrate(0).await;
    integrate(1).await;

    let first = export(json!({"mode": "all", "consumer": "WMW", "limit": 10})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let number = first.body["batch"].as_i64().expect("numbered");
    assert_eq!(documents(&first.body), ["DOC-0", "DOC-1"]);
    assert_eq!(
        (first.body["more"].as_bool(), first.body["again"].as_bool()),
        (Some(false), Some(false))
    );
    let sale = &first.body["sales"][0];
    assert_eq!(
        sale["total_price"], "700.00",
        "money with exactly two decimals"
    );
    assert_eq!(sale["payments"][0]["value"], "700.00");
    assert_eq!(sale["items"][0]["quantity"], "1.0000");
    let unconfirmed = export(json!({"mode": "changed", "consumer": "WMW"})).await;
    assert_eq!(
        unconfirmed.body["batch"], number,
        "handed out again, same number, until confirmed"
    );
    assert_eq!(unconfirmed.body["again"], true);
    assert_eq!(documents(&unconfirmed.body), ["DOC-0", "DOC-1"]);
    let other = export(json!({"mode": "changed", "consumer": "BI"})).await;
    assert_ne!(
        other.body["batch"], number,
        "each consumer has its own batches"
    );

    assert_eq!(
        post(
            &app,
            &format!("/api/v1/exports/{number}/confirm"),
            json!({})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/exports/{number}/confirm"),
            json!({})
        )
        .await
        .status,
        409
    );
    integrate(2).await;
    let changed = export(json!({"mode": "changed", "consumer": "WMW"})).await;
    assert_eq!(
        documents(&changed.body),
        ["DOC-2"],
        "only what WMW has not confirmed"
    );
    let second = changed.body["batch"].as_i64().expect("numbered");
    assert!(second > number);
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/exports/{second}/confirm"),
            json!({})
        )
        .await
        .status,
        200
    );
    let nothing = export(json!({"mode": "changed", "consumer": "WMW"})).await;
    assert_eq!(
        (
            nothing.body["batch"].clone(),
            documents(&nothing.body).len()
        ),
        (Value::Null, 0)
    );

    let page = export(json!({"mode": "all", "consumer": "WMW", "limit": 2})).await;
    assert_eq!(
        (documents(&page.body), page.body["more"].as_bool()),
        (vec!["DOC-0".to_owned(), "DOC-1".to_owned()], Some(true))
    );
    let page_number = page.body["batch"].as_i64().expect("numbered");
    post(
        &app,
        &format!("/api/v1/exports/{page_number}/confirm"),
        json!({}),
    )
    .await;
    let rest = export(json!({"mode": "all", "consumer": "WMW", "limit": 2})).await;
    assert_eq!(
        (documents(&rest.body), rest.body["more"].as_bool()),
        (vec!["DOC-2".to_owned()], Some(false))
    );
    let rest_number = rest.body["batch"].as_i64().expect("numbered");
    post(
        &app,
        &format!("/api/v1/exports/{rest_number}/confirm"),
        json!({}),
    )
    .await;
    let one = export(json!({"mode": "one", "consumer": "WMW", "document": "DOC-1"})).await;
    assert_eq!(documents(&one.body), ["DOC-1"]);

    for (body, field) in [
        (json!({"mode": "bogus", "consumer": "WMW"}), "$.mode"),
        (json!({"mode": "one", "consumer": "BI2"}), "$.document"),
        (json!({"mode": "all", "consumer": ""}), "$.consumer"),
        (
            json!({"mode": "all", "consumer": "BI3", "limit": 0}),
            "$.limit",
        ),
    ] {
        let answer = export(body).await;
        assert_eq!(answer.status, 400);
        assert!(
            answer.body["message"]
                .as_str()
                .expect("message")
                .starts_with(field),
            "{}",
            answer.body
        );
    }
    let missing = export(json!({"mode": "one", "consumer": "BI4", "document": "DOC-404"})).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_message_is_held_released_retried_and_discarded_and_destinations_are_tested() {
    use eai_tests::destination::{HttpBehaviour, HttpDestination};
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let report = app
        .db
        .store
        .import(
            &json!({"destinations": [{"name": "shop-fail", "company": "T1", "branch": "D MG 01",
                "transaction": "StockLevel", "kind": "http", "url": server.url("/fail"),
                "auth_header": "X-Api-Key", "auth_value": "secret-value-123",
                "timeout_ms": 2000, "max_attempts": 1}]}),
            &|_| {},
        )
        .await
        .expect("import");
    assert!(report.is_ok(), "{:?}", report.errors);
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = json!({"Header": {"UUID": uuid, "Transaction": "StockLevel", "CompanyId": "T1",
                                 "BranchId": "D MG 01"}, "Content": {"InternalId": "doc-1"}});
    app.db
        .store
        .enqueue_for("shop-fail", &uuid, "StockLevel", &body.to_string(), "doc-1")
        .await
        .expect("enqueued");

    let mut pending = json!(null);
    for _ in 0..100 {
        pending = get(&app, "/api/v1/pending?direction=out").await;
        if !ids(&pending).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let item = &pending["items"][0];
    let id = item["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("out-"), "{id}");
    assert_eq!(
        (item["kind"].as_str(), item["status"].as_str()),
        (Some("outbound"), Some("failed"))
    );
    assert!(
        item["suggested_action"]
            .as_str()
            .expect("action")
            .contains("reachable"),
        "{item}"
    );
    let listed = get(&app, "/api/v1/messages?direction=out&destination=shop-fail").await;
    assert_eq!(ids(&listed), vec![id.clone()]);
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(detail["attempt_history"][0]["status"], "failed");

    let destinations = call(
        &app,
        "GET",
        "/api/v1/destinations",
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(destinations.body[0]["name"], "shop-fail");
    assert_eq!(destinations.body[0]["has_credentials"], true);
    assert!(
        !destinations.body.to_string().contains("secret-value-123"),
        "credentials are never shown"
    );
    let tested = post(&app, "/api/v1/destinations/shop-fail/test", json!({})).await;
    assert_eq!(tested.body["status"], "failed", "{}", tested.body);
    assert!(
        tested.body["detail"]
            .as_str()
            .expect("detail")
            .contains("500"),
        "{}",
        tested.body
    );
    assert_eq!(
        post(&app, "/api/v1/destinations/nowhere/test", json!({}))
            .await
            .status,
        404
    );

    let held = post(
        &app,
        &format!("/api/v1/messages/{id}/block"),
        json!({"note": "hold it"}),
    )
    .await;
    assert_eq!(held.status, 200, "{}", held.body);
    assert_eq!(
        get(&app, &format!("/api/v1/messages/{id}")).await["status"],
        "blocked"
    );
    let unblocked = post(&app, "/api/v1/destinations/shop-fail/unblock", json!({})).await;
    assert_eq!(
        unblocked.body,
        json!({"name": "shop-fail", "released": 0}),
        "an operator's hold stays"
    );
    assert_eq!(
        get(&app, &format!("/api/v1/messages/{id}")).await["status"],
        "blocked"
    );
    let released = post(&app, &format!("/api/v1/messages/{id}/unblock"), json!({})).await;
    assert_eq!(released.status, 200, "{}", released.body);
    let retried_at = chrono::Utc::now();
    let retried = post(&app, &format!("/api/v1/messages/{id}/retry"), json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    // Settled again after the retry: failed, by an attempt started since.
    let attempted_since = |detail: &Value| {
        detail["attempt_history"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|attempt| attempt["started_at"].as_str())
            .filter_map(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .any(|at| at >= retried_at)
    };
    for _ in 0..100 {
        let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
        if detail["status"] == "failed" && attempted_since(&detail) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    assert!(
        detail["attempt_history"]
            .as_array()
            .expect("attempts")
            .len()
            >= 2,
        "{detail}"
    );
    let actions: Vec<&str> = detail["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["block", "unblock", "retry"]);
    let discarded = post(
        &app,
        &format!("/api/v1/messages/{id}/discard"),
        json!({"note": "stock resent by hand"}),
    )
    .await;
    assert_eq!(discarded.status, 200, "{}", discarded.body);
    assert_eq!(
        ids(&get(&app, "/api/v1/pending").await),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_intermediary_card_data_and_item_fields_are_kept_shown_and_exported() {
    let app = spawn_app().await;
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(eai_tests::example(name)).expect("example");
        serde_json::from_str(&text).expect("JSON")
    };
    app.publish(
        vec![read("seed-001/item-reserve-full-example.json")
            .to_string()
            .into_bytes()],
        true,
    )
    .await;
    let mut sale = read("seed-001/retail-sales-card-payment.json");
    let item = &mut sale["Content"]["ListOfSaleItem"]["SaleItem"][0];
    item["LotNumber"] = json!("L2029A");
    item["SubLotNumber"] = json!("S1");
    item["SeriesItem"] = json!("SN-1");
    item["AddressItem"] = json!("R1-P2");
    item["ItemCarrierCode"] = json!("01");
    let receipt = app.publish_one(sale.to_string().into_bytes()).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt}"
    );

    let found = get(&app, "/api/v1/messages?transaction=RetailSales").await;
    let id = found["items"][0]["id"].as_str().expect("id").to_owned();
    let detail = get(&app, &format!("/api/v1/messages/{id}")).await;
    let recorded = &detail["sale"];
    assert_eq!(recorded["intermediary_code"], "000001", "{detail}");
    assert_eq!(recorded["presencial_indicator"], "1");
    let card = &recorded["payments"][0];
    assert_eq!(
        (
            card["nsu"].as_str(),
            card["eft_authorization"].as_str(),
            card["eft_institute"].as_str(),
            card["eft_document"].as_str(),
            card["instalment"].as_str()
        ),
        (
            Some("004112"),
            Some("123456789"),
            Some("VISA"),
            Some("9985"),
            Some("1")
        )
    );
    assert_eq!(card["eft_date"], "2020-04-23T17:01:40", "as sent");
    let item = &recorded["items"][0];
    assert_eq!(
        (
            item["delivery_type"].as_str(),
            item["delivery_date"].as_str(),
            item["lot_number"].as_str(),
            item["sublot_number"].as_str(),
            item["serial"].as_str(),
            item["address"].as_str(),
            item["carrier"].as_str()
        ),
        (
            Some("1"),
            Some("2020-04-25T10:00:00+00:00"),
            Some("L2029A"),
            Some("S1"),
            Some("SN-1"),
            Some("R1-P2"),
            Some("01")
        )
    );

    let export = post(
        &app,
        "/api/v1/exports",
        json!({"mode": "all", "consumer": "FISCAL"}),
    )
    .await;
    assert_eq!(export.status, 200, "{}", export.body);
    let exported = &export.body["sales"][0];
    assert_eq!(exported["intermediary_code"], "000001");
    assert_eq!(exported["payments"][0], recorded["payments"][0]);
    assert_eq!(exported["items"][0], recorded["items"][0]);
}
