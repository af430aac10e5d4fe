//! Several workers, each with its own pool, reserving the same lots at once
//! (SPEC §4 "Concurrency"): reserved never exceeds on hand, every accepted
//! reservation holds exactly what it asked for, every refusal left nothing,
//! and no attempt surfaces a serialization failure or deadlock.

mod common;

use std::collections::HashMap;

use common::*;
use eai_store::testing::TestDatabase;
use eai_store::{Answer, Failure, Received, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const WORKERS: usize = 8;
const ENVELOPES_PER_WORKER: usize = 6;

/// A product of its own with six lots of 25 (150 units): less than the
/// workers ask for together, so some reservations must be refused.
fn contested_stock() -> Value {
    let lots: Vec<Value> = (0..6)
        .map(|index| {
            json!({"branch": "D MG 01", "product": "PC", "warehouse": "01",
                   "lot": format!("C{index}"), "expires_on": format!("2029-0{}-01", 6 - index),
                   "received_on": "2026-01-01", "quantity": 25})
        })
        .collect();
    json!({
        "products": [{"code": "PC", "default_warehouse": "01"}],
        "lots": lots
    })
}

/// A tiny deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// A worker's own store, as a separate process of the fleet would have.
async fn worker_store(db: &TestDatabase) -> Store {
    let settings = eai_store::PoolSettings {
        max_connections: 2,
        ..eai_store::PoolSettings::default()
    };
    Store::connect(db.options(), settings)
        .await
        .expect("worker pool connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_never_over_reserve_and_each_reservation_gets_exactly_what_it_asked() {
    let db = seed(TestDatabase::postgres().await).await;
    import_ok(&db.store, &contested_stock()).await;

    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let store = worker_store(&db).await;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1));
            let mut outcomes = Vec::new();
            for envelope_no in 0..ENVELOPES_PER_WORKER {
                let internal_id = format!("W{worker}-{envelope_no}");
                // One or two items of PC, sometimes with a P001 item too.
                let mut items = Vec::new();
                let mut requested = (Decimal::ZERO, Decimal::ZERO);
                for _ in 0..=rng.below(2) {
                    let quantity = rng.below(8) + 1;
                    requested.0 += Decimal::from(quantity);
                    items.push(
                        json!({"ItemCode": "PC", "WarehouseCode": "01", "Quantity": quantity}),
                    );
                }
                if rng.below(3) == 0 {
                    requested.1 += Decimal::ONE;
                    items.push(json!({"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1}));
                }
                let envelope = reserve(&internal_id, Value::Array(items));
                let reply = try_send(&store, &envelope).await;
                outcomes.push((internal_id, requested, reply));
            }
            outcomes
        }));
    }

    let pool = &db.any().await;
    let mut accepted = 0;
    let mut refused = 0;
    let mut total_pc = Decimal::ZERO;
    for task in tasks {
        for (internal_id, requested, reply) in task.await.expect("worker task") {
            let reply = reply.unwrap_or_else(|error| {
                panic!("{internal_id}: receive() surfaced an error: {error}")
            });
            if reply.answer.ok {
                accepted += 1;
                let lines = lines(pool, &internal_id).await;
                assert!(lines
                    .iter()
                    .all(|line| line.lot_id.is_some() && !line.backorder));
                let held = |product: &str| -> Decimal {
                    lines
                        .iter()
                        .filter(|line| line.product == product)
                        .map(|line| line.quantity)
                        .sum()
                };
                let pc = held("PC");
                assert_eq!(
                    (pc, held("P001")),
                    requested,
                    "{internal_id}: lines {lines:?}"
                );
                total_pc += pc;
                assert_eq!(
                    reservation(pool, &internal_id).await.expect("row").status,
                    "active"
                );
            } else {
                refused += 1;
                reply.assert_only("LOT_INSUFFICIENT");
                assert!(
                    reservation(pool, &internal_id).await.is_none(),
                    "{internal_id} was refused but left a reservation"
                );
            }
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "the demand should exceed the stock: {accepted} accepted, {refused} refused"
    );
    assert_stock_consistent(pool).await;
    let (reserved_pc,): (Decimal,) =
        sqlx::query_as("SELECT sum(reserved) FROM lots WHERE product = 'PC'")
            .fetch_one(db.pool())
            .await
            .expect("PC stock");
    assert_eq!(reserved_pc, total_pc);
    assert_eq!(
        count(pool, "outbox").await,
        (WORKERS * ENVELOPES_PER_WORKER) as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_re_upserts_and_deletes_of_the_same_internal_ids_keep_the_stock_consistent() {
    let db = seed(TestDatabase::postgres().await).await;
    import_ok(&db.store, &contested_stock()).await;

    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let store = worker_store(&db).await;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (worker as u64 + 7));
            let mut failures = Vec::new();
            for _ in 0..ENVELOPES_PER_WORKER {
                // Five InternalIds shared by every worker.
                let internal_id = format!("S{}", rng.below(5));
                let envelope = if rng.below(4) == 0 {
                    delete(&internal_id)
                } else {
                    let quantity = rng.below(40) + 1;
                    reserve(
                        &internal_id,
                        json!([{"ItemCode": "PC", "WarehouseCode": "01", "Quantity": quantity}]),
                    )
                };
                match try_send(&store, &envelope).await {
                    Ok(reply) if reply.answer.ok => {}
                    Ok(reply) => {
                        let codes = reply.codes();
                        if !codes
                            .iter()
                            .all(|code| code == "LOT_INSUFFICIENT" || code == "RESERVE_NOT_FOUND")
                        {
                            failures.push(format!("{internal_id}: {codes:?}"));
                        }
                    }
                    Err(error) => failures.push(format!("{internal_id}: {error}")),
                }
            }
            failures
        }));
    }
    let mut failures: HashMap<usize, Vec<String>> = HashMap::new();
    for (worker, task) in tasks.into_iter().enumerate() {
        let found = task.await.expect("worker task");
        if !found.is_empty() {
            failures.insert(worker, found);
        }
    }
    assert!(failures.is_empty(), "unexpected outcomes: {failures:?}");
    assert_stock_consistent(&db.any().await).await;
}

/// Exactly one of the answers to one UUID processed it, and all carry the
/// same receipt.
fn assert_applied_once<'a>(answers: impl IntoIterator<Item = &'a Answer>) {
    let answers: Vec<&Answer> = answers.into_iter().collect();
    let fresh = answers.iter().filter(|answer| !answer.duplicate).count();
    assert_eq!(fresh, 1, "exactly one worker processes the UUID");
    assert!(answers.iter().all(|answer| answer.body == answers[0].body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_uuid_delivered_to_several_workers_at_once_is_applied_once() {
    let db = seed(TestDatabase::postgres().await).await;
    let envelope = reserve(
        "U-RACE",
        json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 102}]),
    );
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let store = worker_store(&db).await;
        let envelope = envelope.clone();
        tasks.push(tokio::spawn(
            async move { try_send(&store, &envelope).await },
        ));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("task").expect("receive"));
    }
    assert_applied_once(replies.iter().map(|reply| &reply.answer));
    let pool = &db.any().await;
    assert_eq!(reserved(pool, "L2029A").await, Decimal::from(100));
    assert_eq!(reserved(pool, "L2029B").await, Decimal::from(2));
    assert_eq!(count(pool, "outbox").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_uuid_in_batches_of_several_workers_at_once_is_applied_once_beside_their_own() {
    let db = seed(TestDatabase::postgres().await).await;
    let shared = reserve(
        "U-SHARED",
        json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 2}]),
    );
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let store = worker_store(&db).await;
        let own = reserve(
            &format!("U-OWN-{worker}"),
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 1}]),
        );
        let batch = vec![own, shared.clone()];
        tasks.push(tokio::spawn(async move {
            receive_batch(&store, &batch, 0)
                .await
                .into_iter()
                .map(|received| match received.expect("receive") {
                    Received::Answered(answer) => answer,
                    Received::Waiting { .. } => panic!("a reservation never waits"),
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut shared_answers = Vec::new();
    for task in tasks {
        let answers = task.await.expect("task");
        assert!(
            !answers[0].duplicate,
            "each worker's own envelope is processed"
        );
        assert!(answers[0].ok, "{}", answers[0].body);
        shared_answers.push(answers[1].clone());
    }
    assert_applied_once(&shared_answers);
    let pool = &db.any().await;
    let wanted = Decimal::from(2 + WORKERS as i64);
    assert_eq!(
        reserved(pool, "L2029A").await + reserved(pool, "L2029B").await,
        wanted
    );
    assert_eq!(count(pool, "outbox").await, 1 + WORKERS as i64);
    assert_stock_consistent(pool).await;
}

#[tokio::test]
async fn stock_lowered_under_a_reservations_plan_is_worth_planning_again() {
    // Reservations read the lots without locking them: an import lowering a
    // quantity meanwhile breaks the lots' CHECK, and that must be retried,
    // never answered as data the database refuses.
    let db = seed(TestDatabase::postgres().await).await;
    let broken = sqlx::query("UPDATE lots SET reserved = quantity + 1 WHERE lot = 'L2029A'")
        .execute(db.pool())
        .await
        .expect_err("reserved above on hand is refused");
    assert_eq!(StoreError::from(broken).failure(), Failure::Transient);
}

/// More products than one transaction locks one by one
/// (`eai_store::locks::MAX_STOCK_KEYS`): their branch is locked instead.
const MANY_PRODUCTS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reservation_of_a_thousand_items_is_planned_under_its_branch_lock_beside_small_ones() {
    const { assert!(MANY_PRODUCTS > eai_store::locks::MAX_STOCK_KEYS) };
    let db = seed(TestDatabase::postgres().await).await;
    let products: Vec<Value> = (0..MANY_PRODUCTS)
        .map(|n| json!({"code": format!("PM{n:05}"), "default_warehouse": "01"}))
        .collect();
    let lots: Vec<Value> = (0..MANY_PRODUCTS)
        .map(|n| {
            json!({"branch": "D MG 01", "product": format!("PM{n:05}"), "warehouse": "01",
                   "lot": format!("M{n:05}"), "expires_on": "2029-01-01",
                   "received_on": "2026-01-01", "quantity": 3})
        })
        .collect();
    import_ok(&db.store, &json!({"products": products, "lots": lots})).await;
    let items: Vec<Value> = (0..MANY_PRODUCTS)
        .map(|n| json!({"ItemCode": format!("PM{n:05}"), "WarehouseCode": "01", "Quantity": 2}))
        .collect();
    let large = reserve("U-LARGE", Value::Array(items));
    let mut tasks = Vec::new();
    let store = worker_store(&db).await;
    tasks.push(tokio::spawn(async move { try_send(&store, &large).await }));
    for worker in 0..WORKERS {
        let store = worker_store(&db).await;
        let small = reserve(
            &format!("U-SMALL-{worker}"),
            json!([{"ItemCode": format!("PM{worker:05}"), "WarehouseCode": "01", "Quantity": 1}]),
        );
        tasks.push(tokio::spawn(async move { try_send(&store, &small).await }));
    }
    let mut refused = 0;
    for task in tasks {
        let reply = task
            .await
            .expect("task")
            .expect("every reservation is answered");
        match reply.status() {
            "ok" => {}
            _ => {
                reply.assert_only("LOT_INSUFFICIENT");
                refused += 1;
            }
        }
    }
    // Each contested lot holds 3: the large one (2) and a small one (1) both
    // fit, so nobody is refused.
    assert_eq!(refused, 0);
    let (reserved,): (Decimal,) =
        sqlx::query_as("SELECT sum(reserved) FROM lots WHERE product LIKE 'PM%'")
            .fetch_one(db.pool())
            .await
            .expect("reserved");
    assert_eq!(reserved, Decimal::from(2 * MANY_PRODUCTS + WORKERS));
    assert_stock_consistent(&db.any().await).await;
}

/// Alerts of a fleet: one worker groups events at a time (another finds the
/// lock taken and leaves them), and workers claiming at once take each due
/// alert once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_groups_alert_events_one_worker_at_a_time_and_sends_each_alert_once() {
    use eai_store::alerts::{AlertChannel, AlertTarget};
    use std::time::Duration;

    let db = TestDatabase::create().await;
    for index in 0..20 {
        db.store
            .set_alert_target(&AlertTarget {
                name: format!("hook-{index}"),
                company: String::new(),
                branch: String::new(),
                channel: AlertChannel::Webhook {
                    url: "http://127.0.0.1:9/alerts".to_owned(),
                    signing_secret_ref: None,
                },
                language: "pt".to_owned(),
                enabled: true,
            })
            .await
            .expect("target set");
    }
    sqlx::query(
        "INSERT INTO alert_events (reason, company, branch, destination, detail)
         VALUES ('blocked', 'C1', 'B1', 'shop', 'HTTP 401')",
    )
    .execute(db.pool())
    .await
    .expect("event");

    let mut folding = db.connection().await;
    sqlx::query("BEGIN")
        .execute(&mut folding)
        .await
        .expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('eai.alerts.fold'))")
        .execute(&mut folding)
        .await
        .expect("another worker folds");
    let window = Duration::from_secs(60);
    assert_eq!(
        db.store.fold_alert_events(window, 100).await.expect("fold"),
        0,
        "the events are left to the worker folding"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut folding)
        .await
        .expect("rollback");
    assert_eq!(
        db.store.fold_alert_events(window, 100).await.expect("fold"),
        1
    );

    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = worker_store(&db).await;
        claims.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let claimed = store
                    .claim_alerts(3, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    return ids;
                }
                ids.extend(claimed.into_iter().map(|alert| alert.alert.id));
            }
        });
    }
    let mut ids: Vec<i64> = claims.join_all().await.into_iter().flatten().collect();
    let claimed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((claimed, ids.len()), (20, 20), "each alert claimed once");
}
