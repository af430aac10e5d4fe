//! Master data kept between transactions: a worker reads branches, de/para,
//! warehouses and products once and keeps them, and still sees every change
//! at its next envelope, whoever makes it (an import, another worker of the
//! fleet, an `UPDATE` behind its back), alone or in a batch.

mod common;

use common::*;
use eai_store::testing::envelopes::{bulk_stock, reservation, sale, ITEM};
use eai_store::testing::TestBackend;
use eai_store::{Received, Store};
use serde_json::{json, Value};
use sqlx::AnyPool;

fn item(code: &str, quantity: i64) -> Value {
    json!([{"ItemCode": code, "WarehouseCode": "01", "Quantity": quantity}])
}

/// Changes the database behind the store's back, as another worker or a DBA would.
async fn behind_its_back(pool: &AnyPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.expect(sql);
}

/// The master data's version.
async fn version(pool: &AnyPool) -> i64 {
    sqlx::query_scalar("SELECT version FROM master_data_version")
        .fetch_one(pool)
        .await
        .expect("the master data's version")
}

/// Receives `envelopes` as one batch; each receipt as JSON.
async fn batch(store: &Store, envelopes: &[Value]) -> Vec<Reply> {
    receive_batch(store, envelopes, 0)
        .await
        .into_iter()
        .map(|received| match received.expect("the batch is answered") {
            Received::Answered(answer) => Reply {
                json: serde_json::from_str(&answer.body).expect("the receipt body is JSON"),
                answer,
            },
            Received::Waiting { .. } => panic!("nothing here waits"),
        })
        .collect()
}

/// How many held reservation lines draw on `product`'s lots.
async fn lines_of(pool: &AnyPool, product: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM reservation_lines WHERE product = $1 AND released_at IS NULL",
    )
    .bind(product)
    .fetch_one(pool)
    .await
    .expect("lines")
}

#[tokio::test]
async fn a_product_blocked_behind_the_workers_back_is_refused_at_its_next_reservation() {
    let db = seeded().await;
    let pool = db.any().await;
    send(&db.store, &reserve("R-1", item("P001", 1)))
        .await
        .assert_ok();
    let replies = batch(
        &db.store,
        &[
            reserve("R-2", item("P001", 1)),
            reserve("R-3", item("P002", 1)),
        ],
    )
    .await;
    replies.iter().for_each(Reply::assert_ok);

    behind_its_back(
        &pool,
        "UPDATE products SET blocked = true WHERE code = 'P001'",
    )
    .await;

    send(&db.store, &reserve("R-4", item("P001", 1)))
        .await
        .assert_only("PRODUCT_BLOCKED");
    let replies = batch(
        &db.store,
        &[
            reserve("R-5", item("P001", 1)),
            reserve("R-6", item("P002", 1)),
        ],
    )
    .await;
    replies[0].assert_only("PRODUCT_BLOCKED");
    replies[1].assert_ok();
}

#[tokio::test]
async fn a_mapping_changed_behind_the_workers_back_resolves_its_next_envelope_anew() {
    let db = seeded().await;
    let pool = db.any().await;
    // ECOMMERCE's d077bf8a-…4428 is P001 in the example master data.
    let external = "d077bf8a-bbbb-4549-9b00-1a203cfe4428";
    send(&db.store, &reserve("R-1", item(external, 1)))
        .await
        .assert_ok();
    assert_eq!(
        (lines_of(&pool, "P001").await, lines_of(&pool, "P002").await),
        (1, 0)
    );

    behind_its_back(
        &pool,
        "UPDATE mappings SET internal = 'P002'
          WHERE namespace = 'ECOMMERCE' AND entity = 'Product'
            AND external = 'd077bf8a-bbbb-4549-9b00-1a203cfe4428'",
    )
    .await;

    batch(
        &db.store,
        &[
            reserve("R-2", item(external, 1)),
            reserve("R-3", item("P003", 1)),
        ],
    )
    .await
    .iter()
    .for_each(Reply::assert_ok);
    assert_eq!(
        (lines_of(&pool, "P001").await, lines_of(&pool, "P002").await),
        (1, 1)
    );

    behind_its_back(
        &pool,
        "DELETE FROM mappings WHERE namespace = 'ECOMMERCE' AND entity = 'Product'
            AND external = 'd077bf8a-bbbb-4549-9b00-1a203cfe4428'",
    )
    .await;
    send(&db.store, &reserve("R-4", item(external, 1)))
        .await
        .assert_only("PRODUCT_NOT_FOUND");
}

#[tokio::test]
async fn a_branch_changed_by_another_worker_is_judged_anew_at_its_next_reservation() {
    let db = seeded().await;
    // D MG 01 holds 600 of P001 that have not expired, and reserves without
    // stock only once another worker of the fleet imports it so.
    send(&db.store, &reserve("R-1", item("P001", 1)))
        .await
        .assert_ok();
    send(&db.store, &reserve("R-2", item("P001", 10_000)))
        .await
        .assert_only("LOT_INSUFFICIENT");

    let fleet = Store::open(
        &db.url().parse().expect("the test database's URL"),
        Default::default(),
    )
    .await
    .expect("another worker's store");
    import_ok(
        &fleet,
        &json!({"branches": [{"company": "T1", "branch": "D MG 01", "closed_until": "2020-01-31",
                              "released_payment_methods": ["FI", "CC", "R$"],
                              "reserve_without_stock": true}]}),
    )
    .await;

    send(&db.store, &reserve("R-3", item("P001", 10_000)))
        .await
        .assert_ok();
    fleet.close().await;
}

#[tokio::test]
async fn a_warehouse_removed_behind_the_workers_back_is_not_found_at_its_next_reservation() {
    let db = seeded().await;
    let pool = db.any().await;
    send(&db.store, &reserve("R-1", item("P001", 1)))
        .await
        .assert_ok();
    behind_its_back(
        &pool,
        "DELETE FROM warehouses WHERE branch = 'D MG 01' AND code = '01'",
    )
    .await;
    send(&db.store, &reserve("R-2", item("P001", 1)))
        .await
        .assert_only("WAREHOUSE_NOT_FOUND");
}

#[tokio::test]
async fn while_the_version_stands_the_worker_does_not_read_again_what_it_kept() {
    let db = seeded().await;
    let pool = db.any().await;
    send(&db.store, &reserve("R-1", item("P001", 1)))
        .await
        .assert_ok();

    // A change made with the version's trigger switched off is not seen...
    let switch_off = match db.backend() {
        TestBackend::Postgres => "ALTER TABLE products DISABLE TRIGGER products_updated",
        TestBackend::Sqlite => "DROP TRIGGER products_updated",
    };
    behind_its_back(&pool, switch_off).await;
    behind_its_back(
        &pool,
        "UPDATE products SET blocked = true WHERE code = 'P001'",
    )
    .await;
    send(&db.store, &reserve("R-2", item("P001", 1)))
        .await
        .assert_ok();

    // ...until the version moves: what the README tells whoever does that.
    behind_its_back(
        &pool,
        "UPDATE master_data_version SET version = version + 1",
    )
    .await;
    send(&db.store, &reserve("R-3", item("P001", 1)))
        .await
        .assert_only("PRODUCT_BLOCKED");
}

#[tokio::test]
async fn documents_leave_the_master_data_version_as_it_was_and_master_changes_move_it() {
    let db = seeded().await;
    import_ok(&db.store, &bulk_stock()).await;
    let pool = db.any().await;
    let before = version(&pool).await;
    send(&db.store, &reserve("R-1", item("P001", 1)))
        .await
        .assert_ok();
    send(&db.store, &reservation("R-S", ITEM, 1))
        .await
        .assert_ok();
    send(&db.store, &sale("S-1", "D-1", "R-S"))
        .await
        .assert_ok();
    batch(
        &db.store,
        &[
            reserve("R-2", item("P002", 1)),
            reserve("R-3", item("P003", 1)),
        ],
    )
    .await
    .iter()
    .for_each(Reply::assert_ok);
    send(&db.store, &delete("R-1")).await.assert_ok();
    assert_eq!(
        version(&pool).await,
        before,
        "documents are not master data"
    );

    import_ok(
        &db.store,
        &json!({"mappings": [{"namespace": "ECOMMERCE", "entity": "Warehouse",
                              "external": "CD", "internal": "01"}]}),
    )
    .await;
    let imported = version(&pool).await;
    assert!(
        imported > before,
        "an import moves it: {before} → {imported}"
    );
    behind_its_back(&pool, "UPDATE destinations SET blocked = true").await;
    assert_eq!(
        version(&pool).await,
        imported,
        "a destination blocked by the sender is not master data"
    );
}

#[tokio::test]
async fn a_company_mapped_behind_the_workers_back_finds_its_branch_at_its_next_envelope() {
    let db = seeded().await;
    let pool = db.any().await;
    let mut envelope = reserve("R-1", item("P001", 1));
    set(&mut envelope, "/Header/CompanyId", json!("LOJA-1"));
    send(&db.store, &envelope)
        .await
        .assert_only("BRANCH_NOT_FOUND");

    behind_its_back(
        &pool,
        "INSERT INTO mappings (namespace, entity, external, internal)
         VALUES ('ECOMMERCE', 'Company', 'LOJA-1', 'T1')",
    )
    .await;

    let mut envelope = reserve("R-2", item("P001", 1));
    set(&mut envelope, "/Header/CompanyId", json!("LOJA-1"));
    send(&db.store, &envelope).await.assert_ok();
}
