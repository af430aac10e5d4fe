//! The sending side of the store on the backend `EAI_TEST_BACKEND` names:
//! business messages enqueued for their destinations, claimed under a lease,
//! settled attempt by attempt (done, failed and tried again later, not
//! delivered once out of attempts, blocked with their destination until it
//! is unblocked), receipts whose publication failed leased by the relay, and
//! the StockLevel events written for the destinations that want them.

use std::time::Duration;

use chrono::Utc;
use eai_protocol::ReceiptOrigin;
use eai_store::log::Status;
use eai_store::outbound::{Attempt, Claimed, Settlement};
use eai_store::testing::TestDatabase;
use eai_store::RelayPass;

const SENDER: &str = "sender-1";
const HOUR: Duration = Duration::from_secs(3600);
/// A moment both backends read as long past, to end a lease or a wait.
const LONG_AGO: &str = "2000-01-01T00:00:00+00:00";

/// Configures a destination of route (C1, B1, `transaction`) through SQL
/// both backends speak; `kind` is `amqp` or `http`.
async fn destination(
    db: &TestDatabase,
    name: &str,
    kind: &str,
    transaction: &str,
    max_attempts: i32,
    namespace: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO destinations (name, company, branch, \"transaction\", kind, exchange, url,
                                   max_attempts, timeout_ms, namespace)
         VALUES ($1, 'C1', 'B1', $2, $3, $4, $5, $6, 5000, $7)",
    )
    .bind(name)
    .bind(transaction)
    .bind(kind)
    .bind((kind == "amqp").then_some("eai.events"))
    .bind((kind == "http").then_some("http://127.0.0.1:9/eai"))
    .bind(max_attempts)
    .bind(namespace)
    .execute(&db.any().await)
    .await
    .expect("destination configured");
}

/// Runs `sql` (no parameters) behind the store's back.
async fn execute(db: &TestDatabase, sql: &str) {
    sqlx::query(sql)
        .execute(&db.any().await)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// A message's status, attempts and last error as the outbox keeps them.
async fn message(db: &TestDatabase, id: i64) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(&db.any().await)
        .await
        .expect("message row")
}

async fn claim(db: &TestDatabase) -> Vec<Claimed> {
    db.store.claim_messages(SENDER, 10).await.expect("claim")
}

/// Settles one attempt of `claimed`, an hour before it may be retried.
fn attempt<'a>(claimed: &'a Claimed, settlement: &'a Settlement) -> Attempt<'a> {
    Attempt {
        message: claimed,
        started_at: Utc::now(),
        settlement,
        retry_in: HOUR,
    }
}

async fn settle(db: &TestDatabase, claimed: &Claimed, settlement: Settlement) -> (bool, bool) {
    let settled = db
        .store
        .settle(SENDER, &[attempt(claimed, &settlement)])
        .await
        .expect("settle");
    (settled[0].recorded, settled[0].blocked_destination)
}

fn uuids(claimed: &[Claimed]) -> Vec<(&str, &str)> {
    claimed
        .iter()
        .map(|message| (message.uuid.as_str(), message.destination.name.as_str()))
        .collect()
}

#[tokio::test]
async fn a_message_goes_once_to_each_destination_of_its_route_and_is_claimed_once() {
    let db = TestDatabase::create().await;
    destination(&db, "erp", "amqp", "ItemStock", 4, None).await;
    destination(&db, "shop", "http", "ItemStock", 4, None).await;
    destination(&db, "other", "http", "RetailSales", 4, None).await;
    let store = &db.store;

    let routed = |uuid: &'static str| {
        store.enqueue_routed("C1", "B1", "ItemStock", uuid, "{\"a\":1}", "Doc|1")
    };
    assert_eq!(routed("U-1").await.expect("enqueue"), 2);
    assert_eq!(routed("U-1").await.expect("again"), 0, "one copy per UUID");
    assert_eq!(
        store
            .enqueue_for("other", "U-2", "RetailSales", "{}", "Doc|2")
            .await
            .expect("enqueue for"),
        Some(true)
    );
    assert_eq!(
        store
            .enqueue_for("other", "U-2", "RetailSales", "{}", "Doc|2")
            .await
            .expect("again"),
        Some(false)
    );
    assert_eq!(
        store
            .enqueue_for("nowhere", "U-3", "RetailSales", "{}", "Doc|3")
            .await
            .expect("unknown destination"),
        None
    );

    let claimed = claim(&db).await;
    assert_eq!(
        uuids(&claimed),
        [("U-1", "erp"), ("U-1", "shop"), ("U-2", "other")]
    );
    assert!(claimed.iter().all(|message| message.attempt == 1));
    assert_eq!(claimed[0].body, "{\"a\":1}");
    assert_eq!(claimed[0].transaction, "ItemStock");
    assert!(
        claim(&db).await.is_empty(),
        "leased messages are not claimed twice"
    );
    assert_eq!(
        store.message_status(claimed[0].id).await.expect("status"),
        Some(Status::Running)
    );

    let other_sender = store
        .settle("sender-2", &[attempt(&claimed[0], &Settlement::Done)])
        .await
        .expect("settle");
    assert!(
        !other_sender[0].recorded,
        "only the sender holding it settles it"
    );
    assert_eq!(
        settle(&db, &claimed[0], Settlement::Done).await,
        (true, false)
    );
    assert_eq!(
        store.message_status(claimed[0].id).await.expect("status"),
        Some(Status::Done)
    );
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_attempts WHERE outbox_id = $1")
            .bind(claimed[0].id)
            .fetch_one(&db.any().await)
            .await
            .expect("attempts");
    assert_eq!(attempts, 2, "every attempt is recorded, the late one too");
}

#[tokio::test]
async fn a_failed_attempt_waits_its_retry_and_the_last_one_ends_not_delivered() {
    let db = TestDatabase::create().await;
    destination(&db, "shop", "http", "ItemStock", 2, None).await;
    let store = &db.store;
    store
        .enqueue_routed("C1", "B1", "ItemStock", "U-1", "{}", "Doc|1")
        .await
        .expect("enqueue");
    assert!(store.next_retry_at().await.expect("next").is_some());

    let first = claim(&db).await;
    assert_eq!(
        settle(&db, &first[0], Settlement::Failed("503".to_owned())).await,
        (true, false)
    );
    assert_eq!(
        message(&db, first[0].id).await,
        ("failed".to_owned(), 1, Some("503".to_owned()))
    );
    assert!(claim(&db).await.is_empty(), "its retry is an hour away");
    let next = store.next_retry_at().await.expect("next").expect("a retry");
    let wait = next - Utc::now();
    assert!(
        wait > chrono::Duration::minutes(59) && wait <= chrono::Duration::hours(1),
        "{wait}"
    );

    execute(
        &db,
        &format!("UPDATE outbox SET next_attempt_at = '{LONG_AGO}'"),
    )
    .await;
    let second = claim(&db).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 2, "the same message, tried again");

    // Its sender died during the last attempt: the lease ends.
    execute(
        &db,
        &format!("UPDATE outbox SET lease_until = '{LONG_AGO}'"),
    )
    .await;
    assert!(claim(&db).await.is_empty(), "never beyond max_attempts");
    assert_eq!(
        message(&db, first[0].id).await,
        (
            "not_delivered".to_owned(),
            2,
            Some("the sender stopped answering during the last attempt".to_owned())
        )
    );
    assert_eq!(store.next_retry_at().await.expect("next"), None);
    assert!(
        !settle(&db, &second[0], Settlement::Done).await.0,
        "the dead sender's late settlement changes nothing"
    );
}

#[tokio::test]
async fn a_lease_that_ran_out_with_attempts_left_hands_the_message_to_the_next_claim() {
    let db = TestDatabase::create().await;
    destination(&db, "shop", "http", "ItemStock", 4, None).await;
    db.store
        .enqueue_routed("C1", "B1", "ItemStock", "U-1", "{}", "Doc|1")
        .await
        .expect("enqueue");
    let first = claim(&db).await;
    execute(
        &db,
        &format!("UPDATE outbox SET lease_until = '{LONG_AGO}'"),
    )
    .await;
    let second = claim(&db).await;
    assert_eq!(uuids(&second), [("U-1", "shop")]);
    assert_eq!(second[0].attempt, 2);
    assert_eq!(first[0].id, second[0].id, "the same message");
    assert_eq!(
        settle(&db, &first[0], Settlement::Done).await,
        (false, false),
        "the attempt whose lease ran out no longer settles the message, though its sender claimed it again"
    );
    assert_eq!(message(&db, first[0].id).await.0, "running");
    assert_eq!(
        settle(
            &db,
            &second[0],
            Settlement::NotDelivered("timeout".to_owned())
        )
        .await,
        (true, false)
    );
    assert_eq!(message(&db, second[0].id).await.0, "not_delivered");
}

#[tokio::test]
async fn a_document_s_messages_reach_a_destination_in_order() {
    let db = TestDatabase::create().await;
    destination(&db, "shop", "http", "ItemStock", 4, None).await;
    let store = &db.store;
    for uuid in ["U-1", "U-2"] {
        store
            .enqueue_routed("C1", "B1", "ItemStock", uuid, "{}", "Doc|1")
            .await
            .expect("enqueue");
    }
    store
        .enqueue_routed("C1", "B1", "ItemStock", "U-3", "{}", "Doc|2")
        .await
        .expect("enqueue");
    let first = claim(&db).await;
    assert_eq!(uuids(&first), [("U-1", "shop"), ("U-3", "shop")]);
    assert_eq!(
        settle(&db, &first[0], Settlement::Rejected("bad".to_owned())).await,
        (true, false)
    );
    assert_eq!(
        uuids(&claim(&db).await),
        [("U-2", "shop")],
        "after the first settled"
    );
}

/// The sender settles the attempts that finish together in one call: each
/// keeps its own outcome, a message another sender holds is left alone, a
/// destination two refusals block raises one alert, and a destination's
/// answer holding a NUL byte (which PostgreSQL's text refuses) is kept.
#[tokio::test]
async fn attempts_settled_together_each_keep_their_own_outcome() {
    let db = TestDatabase::create().await;
    destination(&db, "erp", "http", "ItemStock", 4, None).await;
    destination(&db, "shop", "http", "RetailSales", 4, None).await;
    let store = &db.store;
    for n in 1..=3 {
        store
            .enqueue_for(
                "erp",
                &format!("E-{n}"),
                "ItemStock",
                "{}",
                &format!("Doc|E{n}"),
            )
            .await
            .expect("enqueue");
        store
            .enqueue_for(
                "shop",
                &format!("S-{n}"),
                "RetailSales",
                "{}",
                &format!("Doc|S{n}"),
            )
            .await
            .expect("enqueue");
    }
    let claimed = claim(&db).await;
    assert_eq!(claimed.len(), 6);
    let by_uuid = |uuid: &str| {
        claimed
            .iter()
            .find(|message| message.uuid == uuid)
            .expect("claimed")
    };
    execute(
        &db,
        &format!(
            "UPDATE outbox SET claimed_by = 'sender-2' WHERE id = {}",
            by_uuid("E-3").id
        ),
    )
    .await;
    let refused = Settlement::Blocked("401".to_owned());
    let failed = Settlement::Failed("HTTP 503: \0busy".to_owned());
    let rejected = Settlement::Rejected("error receipt: no such product".to_owned());
    let outcomes = [
        (by_uuid("S-1"), &refused),
        (by_uuid("E-1"), &Settlement::Done),
        (by_uuid("S-2"), &refused),
        (by_uuid("E-2"), &failed),
        (by_uuid("E-3"), &Settlement::Done),
        (by_uuid("S-3"), &rejected),
    ];
    let attempts: Vec<Attempt<'_>> = outcomes
        .iter()
        .map(|(message, settlement)| attempt(message, settlement))
        .collect();
    let settled = store.settle(SENDER, &attempts).await.expect("settle");
    let results: Vec<(bool, bool)> = settled
        .iter()
        .map(|settled| (settled.recorded, settled.blocked_destination))
        .collect();
    assert_eq!(
        results,
        [
            (true, true),
            (true, false),
            (true, false),
            (true, false),
            (false, false),
            (true, false)
        ],
        "in the attempts' order; the first refusal blocks, the other sender's message stays"
    );
    let states = [
        ("S-1", ("blocked", 0, Some("401"))),
        ("E-1", ("done", 1, None)),
        ("S-2", ("blocked", 0, Some("401"))),
        ("E-2", ("failed", 1, Some("HTTP 503: \u{FFFD}busy"))),
        ("E-3", ("running", 1, None)),
        (
            "S-3",
            ("rejected", 1, Some("error receipt: no such product")),
        ),
    ];
    for (uuid, (status, attempts, error)) in states {
        assert_eq!(
            message(&db, by_uuid(uuid).id).await,
            (status.to_owned(), attempts, error.map(str::to_owned)),
            "{uuid}"
        );
    }
    let shop = store
        .destination("shop")
        .await
        .expect("read")
        .expect("shop");
    assert_eq!(
        (shop.blocked, shop.blocked_reason.as_deref()),
        (true, Some("401"))
    );
    let erp = store.destination("erp").await.expect("read").expect("erp");
    assert!(!erp.blocked);
    assert_eq!(
        store.settle(SENDER, &[]).await.expect("nothing to settle"),
        []
    );
}

#[tokio::test]
async fn a_destination_blocked_by_a_refusal_holds_its_messages_until_it_is_unblocked() {
    let db = TestDatabase::create().await;
    destination(&db, "shop", "http", "ItemStock", 1, None).await;
    let store = &db.store;
    for (uuid, document) in [("U-1", "Doc|1"), ("U-2", "Doc|2")] {
        store
            .enqueue_routed("C1", "B1", "ItemStock", uuid, "{}", document)
            .await
            .expect("enqueue");
    }
    let claimed = claim(&db).await;
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        settle(&db, &claimed[0], Settlement::Blocked("401".to_owned())).await,
        (true, true),
        "the first refusal blocks the destination"
    );
    assert_eq!(
        settle(&db, &claimed[1], Settlement::Blocked("401".to_owned())).await,
        (true, false),
        "already blocked: no second alert"
    );
    let shop = store
        .destination("shop")
        .await
        .expect("read")
        .expect("shop");
    assert!(shop.blocked);
    assert_eq!(shop.blocked_reason.as_deref(), Some("401"));
    assert_eq!(
        message(&db, claimed[0].id).await,
        ("blocked".to_owned(), 0, Some("401".to_owned())),
        "being blocked is not a failed attempt"
    );
    execute(
        &db,
        &format!("UPDATE outbox SET next_attempt_at = '{LONG_AGO}'"),
    )
    .await;
    assert!(
        claim(&db).await.is_empty(),
        "nothing goes to a blocked destination"
    );

    assert_eq!(
        store.unblock_destination("shop").await.expect("unblock"),
        Some(2)
    );
    assert_eq!(
        store.unblock_destination("nowhere").await.expect("unknown"),
        None
    );
    let again = claim(&db).await;
    assert_eq!(uuids(&again), [("U-1", "shop"), ("U-2", "shop")]);
    assert_eq!(again[0].attempt, 1, "the only attempt is still there");

    assert_eq!(
        settle(&db, &again[0], Settlement::Blocked("403".to_owned())).await,
        (true, true)
    );
    assert_eq!(
        store
            .set_destination_credentials("shop", "Authorization", "Bearer new")
            .await
            .expect("credentials"),
        Some(1)
    );
    let shop = store
        .destination("shop")
        .await
        .expect("read")
        .expect("shop");
    assert!(!shop.blocked);
    assert_eq!(shop.auth_header.as_deref(), Some("Authorization"));
    assert_eq!(shop.auth_value.as_deref(), Some("Bearer new"));
    let names: Vec<String> = store
        .destinations()
        .await
        .expect("destinations")
        .into_iter()
        .map(|destination| destination.name)
        .collect();
    assert_eq!(names, ["shop"]);
}

#[tokio::test]
async fn a_destination_s_receipt_settles_its_amqp_copy() {
    let db = TestDatabase::create().await;
    destination(&db, "erp", "amqp", "ItemStock", 4, None).await;
    destination(&db, "wms", "amqp", "ItemStock", 4, None).await;
    destination(&db, "shop", "http", "ItemStock", 4, None).await;
    let store = &db.store;
    store
        .enqueue_routed("C1", "B1", "ItemStock", "U-1", "{}", "Doc|1")
        .await
        .expect("enqueue");
    let claimed = claim(&db).await;
    assert_eq!(claimed.len(), 3);

    assert_eq!(
        store
            .settle_by_receipt("U-1", Some("erp"), true, "")
            .await
            .expect("receipt"),
        Some("done".to_owned())
    );
    assert_eq!(
        store
            .settle_by_receipt("U-1", Some("erp"), true, "")
            .await
            .expect("again"),
        None,
        "settled already"
    );
    assert_eq!(
        store
            .settle_by_receipt("U-1", None, false, "refused")
            .await
            .expect("error receipt"),
        Some("rejected".to_owned())
    );
    let statuses: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, last_error FROM outbox WHERE uuid = 'U-1' ORDER BY id")
            .fetch_all(&db.any().await)
            .await
            .expect("statuses");
    assert_eq!(
        statuses,
        [
            ("done".to_owned(), None),
            ("rejected".to_owned(), Some("refused".to_owned())),
            ("running".to_owned(), None),
        ],
        "an HTTP copy is answered on its own connection"
    );
}

/// A receipt stored delivered, answering an inbox row of `inbox_status`.
async fn receipt(db: &TestDatabase, uuid: &str, inbox_status: &str) -> i64 {
    let any = db.any().await;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (uuid, kind, \"transaction\", exchange, routing_key, body, status)
         VALUES ($1, 'receipt', 'ItemReserve', 'eai.receipts', 'ECOMMERCE', $2, 'done')
         RETURNING id",
    )
    .bind(uuid)
    .bind(format!("receipt of {uuid}"))
    .fetch_one(&any)
    .await
    .expect("receipt");
    sqlx::query(
        "INSERT INTO inbox (uuid, \"transaction\", status, received_at, receipt_id)
         VALUES ($1, 'ItemReserve', $2, '2026-01-01T00:00:00+00:00', $3)",
    )
    .bind(uuid)
    .bind(inbox_status)
    .bind(id)
    .execute(&any)
    .await
    .expect("inbox row");
    id
}

/// A receipt's status, publications and whether it is marked sent.
async fn receipt_row(db: &TestDatabase, id: i64) -> (String, i32, bool) {
    let (status, attempts, sent): (String, i32, i32) = sqlx::query_as(
        "SELECT status, attempts, CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END
           FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.any().await)
    .await
    .expect("receipt row");
    (status, attempts, sent == 1)
}

async fn lease(db: &TestDatabase, pass: RelayPass) -> Vec<i64> {
    db.store
        .lease_receipts(pass, Duration::from_secs(60), 10)
        .await
        .expect("lease")
        .iter()
        .map(|receipt| receipt.id)
        .collect()
}

#[tokio::test]
async fn the_relay_publishes_again_only_receipts_whose_publication_failed() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    let delivered = receipt(&db, "R-1", "ok").await;
    let returned = receipt(&db, "R-2", "error").await;
    let replaced = receipt(&db, "R-3", "retrying").await;
    for id in [returned, replaced] {
        store
            .mark_publish_failed(id, "returned: NO_ROUTE", Duration::ZERO)
            .await
            .expect("failed publication");
    }
    assert_eq!(
        receipt_row(&db, delivered).await,
        ("done".to_owned(), 0, false)
    );
    assert_eq!(
        receipt_row(&db, returned).await,
        ("waiting".to_owned(), 0, false)
    );
    assert_eq!(
        receipt_row(&db, replaced).await.0,
        "done",
        "an answer an operator's retry replaces is not sent again"
    );

    let leased = store
        .lease_receipts(RelayPass::Due, Duration::from_secs(60), 10)
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, returned);
    assert_eq!(leased[0].exchange, "eai.receipts");
    assert_eq!(leased[0].routing_key, "ECOMMERCE");
    assert_eq!(leased[0].body, "receipt of R-2");
    assert_eq!(leased[0].attempts, 1);
    assert!(lease(&db, RelayPass::All).await.is_empty(), "leased once");

    store.mark_published(returned).await.expect("published");
    assert_eq!(
        receipt_row(&db, returned).await,
        ("done".to_owned(), 1, true)
    );
}

#[tokio::test]
async fn a_receipt_that_keeps_failing_waits_its_retry_is_flushed_and_given_up() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    let id = receipt(&db, "R-1", "ok").await;
    store
        .mark_publish_failed(id, "broker away", HOUR)
        .await
        .expect("failed publication");
    assert!(
        lease(&db, RelayPass::Due).await.is_empty(),
        "due in an hour"
    );
    assert_eq!(
        lease(&db, RelayPass::All).await,
        [id],
        "a shutdown flushes it"
    );

    execute(
        &db,
        &format!("UPDATE outbox SET lease_until = '{LONG_AGO}'"),
    )
    .await;
    assert_eq!(
        lease(&db, RelayPass::All).await,
        [id],
        "a relay that died leaves it to the next"
    );
    store
        .mark_receipt_failed(id, "dead-lettered")
        .await
        .expect("given up");
    let (status, attempts, _) = receipt_row(&db, id).await;
    assert_eq!((status.as_str(), attempts), ("failed", 2));
    store.mark_published(id).await.expect("a late confirm");
    assert_eq!(receipt_row(&db, id).await, ("done".to_owned(), 2, true));
}

#[tokio::test]
async fn the_full_stock_load_writes_each_destination_its_stock_in_its_own_codes() {
    let db = TestDatabase::create().await;
    destination(&db, "erp", "amqp", "StockLevel", 4, Some("PROTHEUS")).await;
    destination(&db, "shop", "http", "StockLevel", 4, None).await;
    destination(&db, "sales", "http", "RetailSales", 4, None).await;
    for sql in [
        "INSERT INTO products (code) VALUES ('P001')",
        "INSERT INTO lots (branch, product, warehouse, lot, quantity, reserved)
         VALUES ('B1', 'P001', '01', 'L1', '7.5000', '2.0000')",
        "INSERT INTO mappings (namespace, entity, external, internal)
         VALUES ('PROTHEUS', 'Company', 'EMP01', 'C1'), ('PROTHEUS', 'Product', 'PROD-1', 'P001')",
    ] {
        execute(&db, sql).await;
    }
    let origin = ReceiptOrigin {
        source_application: "EAI".to_owned(),
        product_name: "eai-worker".to_owned(),
        max_details: 10,
    };
    let store = &db.store;
    assert_eq!(
        store
            .full_stock_load(&origin, HOUR)
            .await
            .expect("stock load"),
        Some(2),
        "one StockLevel per destination that wants it"
    );
    assert_eq!(
        store.full_stock_load(&origin, HOUR).await.expect("again"),
        None,
        "not due again within the hour"
    );

    let claimed = claim(&db).await;
    assert_eq!(uuids(&claimed).len(), 2);
    let by_name = |name: &str| {
        let message = claimed
            .iter()
            .find(|message| message.destination.name == name)
            .expect("a copy for each destination");
        assert_eq!(message.transaction, "StockLevel");
        serde_json::from_str::<serde_json::Value>(&message.body).expect("JSON body")
    };
    let item = "/Content/ListOfReturnItem/0";
    let erp = by_name("erp");
    assert_eq!(erp["Header"]["CompanyId"], "EMP01", "{erp}");
    assert_eq!(
        erp.pointer(&format!("{item}/ItemInternalId")).unwrap(),
        "PROD-1"
    );
    let lot = erp
        .pointer(&format!("{item}/ListOfLotStock/0"))
        .expect("the lot");
    assert_eq!(lot["LotNumber"], "L1");
    assert_eq!(lot["CurrentStockAmount"], 7.5);
    assert_eq!(lot["BookedStockAmount"], 2);
    assert_eq!(lot["AvailableStockAmount"], 5.5);
    let shop = by_name("shop");
    assert_eq!(shop["Header"]["CompanyId"], "C1", "{shop}");
    assert_eq!(
        shop.pointer(&format!("{item}/ItemInternalId")).unwrap(),
        "P001"
    );
    assert_ne!(
        claimed[0].uuid, claimed[1].uuid,
        "each copy has its own UUID"
    );

    let erp = store.destination("erp").await.expect("read").expect("erp");
    assert_eq!(store.company_for(&erp).await.expect("company"), "EMP01");
    let shop = store
        .destination("shop")
        .await
        .expect("read")
        .expect("shop");
    assert_eq!(store.company_for(&shop).await.expect("company"), "C1");
}
