//! `eai import` (SPEC §3): idempotent upserts, every bad row reported by its
//! JSON path, and nothing half-loaded.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use eai_store::testing::TestDatabase;
use eai_store::RowError;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::AnyPool;

/// The master tables and the columns a snapshot of each compares.
const MASTER_TABLES: [(&str, &str); 12] = [
    (
        "branches",
        "company, branch, closed_until, released_payment_methods, reserve_without_stock",
    ),
    (
        "products",
        "code, description, blocked, default_warehouse, tes, lot_tracked",
    ),
    ("customers", "code, name, blocked"),
    ("warehouses", "branch, code"),
    ("stations", "branch, code, series"),
    ("operators", "code"),
    ("payment_methods", "code, requires_financial_manager"),
    ("financial_managers", "code, days, own_financing"),
    ("carriers", "code"),
    ("operations", "operation, tes"),
    (
        "lots",
        "id, branch, product, warehouse, lot, sublot, expires_on, received_on, quantity, reserved",
    ),
    (
        "mappings",
        "namespace, entity, external, internal, written_at",
    ),
];

/// Every master table's contents.
async fn master_state(pool: &AnyPool) -> Vec<(&'static str, String)> {
    let mut state = Vec::new();
    for (table, columns) in MASTER_TABLES {
        state.push((table, columns_text(pool, table, columns).await));
    }
    state
}

async fn assert_all_empty(pool: &AnyPool) {
    for (table, _) in MASTER_TABLES {
        assert_eq!(count(pool, table).await, 0, "{table} must stay empty");
    }
}

fn paths(errors: &[RowError]) -> Vec<&str> {
    errors.iter().map(|error| error.path.as_str()).collect()
}

#[tokio::test]
async fn the_example_file_imports_every_section_with_progress() {
    let db = TestDatabase::create().await;
    let pool = &db.any().await;
    let document = example();
    let progressed = AtomicU64::new(0);
    let report = db
        .store
        .import(&document, &|done| progressed.store(done, Ordering::SeqCst))
        .await
        .expect("import runs");
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        progressed.load(Ordering::SeqCst),
        eai_store::import::row_count(&document)
    );
    assert_eq!(
        report.total() as u64,
        eai_store::import::row_count(&document)
    );
    for (table, _) in MASTER_TABLES {
        let expected = document[table].as_array().map_or(0, Vec::len);
        assert_eq!(count(pool, table).await, expected as i64, "{table}");
        assert!(
            report.upserted.contains(&(table, expected)),
            "{table} in {:?}",
            report.upserted
        );
    }
    // Flags read as words: both backends give text alike.
    let (blocked, default_warehouse): (String, Option<String>) = sqlx::query_as(
        "SELECT CASE WHEN blocked THEN 'blocked' ELSE 'open' END, default_warehouse
           FROM products WHERE code = 'P099'",
    )
    .fetch_one(pool)
    .await
    .expect("P099");
    assert_eq!(blocked, "blocked");
    assert_eq!(default_warehouse.as_deref(), Some("01"));
    let reserve_without_stock: String = sqlx::query_scalar(
        "SELECT CASE WHEN reserve_without_stock THEN 'yes' ELSE 'no' END
           FROM branches WHERE company = 'T1' AND branch = 'D MG 02'",
    )
    .fetch_one(pool)
    .await
    .expect("D MG 02");
    assert_eq!(reserve_without_stock, "yes");
}

#[tokio::test]
async fn importing_the_same_file_twice_changes_nothing() {
    let db = seeded().await;
    let pool = &db.any().await;
    let once = master_state(pool).await;
    import_ok(&db.store, &example()).await;
    assert_eq!(master_state(pool).await, once);
}

#[tokio::test]
async fn a_re_import_updates_a_lot_but_keeps_what_is_reserved_from_it() {
    let db = seeded().await;
    let pool = &db.any().await;
    send(
        &db.store,
        &reserve(
            "I-KEEP",
            json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 20}]),
        ),
    )
    .await
    .assert_ok();
    import_ok(
        &db.store,
        &json!({"lots": [{"branch": "D MG 01", "product": "P003", "warehouse": "01", "lot": "P3-A",
                          "expires_on": "2028-12-31", "received_on": "2026-05-01", "quantity": "20,5"}]}),
    )
    .await;
    let (quantity, reserved): (String, String) = sqlx::query_as(
        "SELECT CAST(quantity AS TEXT), CAST(reserved AS TEXT) FROM lots WHERE lot = 'P3-A'",
    )
    .fetch_one(pool)
    .await
    .expect("P3-A");
    assert_eq!(dec(&quantity), dec("20.5"));
    assert_eq!(dec(&reserved), Decimal::from(20));
}

#[tokio::test]
async fn every_bad_row_is_reported_with_its_path_and_nothing_is_loaded() {
    let db = TestDatabase::create().await;
    let pool = &db.any().await;
    let document = json!({
        "branches": [{"company": "T1", "branch": "D MG 01"}],
        "products": [
            {"code": "P001", "default_warehouse": "01"},
            {"description": "no code"}
        ],
        "warehouses": [{"branch": "D MG 01", "code": "01"}],
        "lots": [
            {"branch": "D MG 01", "product": "P001", "warehouse": "01", "lot": "L1",
             "expires_on": "2029-01-31", "quantity": "1.234,5"},
            {"branch": "D MG 01", "product": "P404", "warehouse": "01", "lot": "L2",
             "expires_on": "2029-01-31", "quantity": 5},
            {"branch": "D MG 01", "product": "P001", "warehouse": "01", "lot": "L3",
             "expires_on": "2029-01-31", "quantity": 5}
        ],
        "mappings": [
            {"namespace": "ECOMMERCE", "entity": "Gadget", "external": "x", "internal": "y"},
            {"namespace": "ECOMMERCE", "entity": "Product", "external": "x", "internal": "P001"}
        ],
        "widgets": []
    });
    let report = db
        .store
        .import(&document, &|_| {})
        .await
        .expect("import runs");
    let mut reported = paths(&report.errors);
    reported.sort();
    assert_eq!(
        reported,
        [
            "$.lots[0].quantity",
            "$.lots[1]",
            "$.mappings[0].entity",
            "$.products[1]",
            "$.widgets",
        ],
        "every bad row, each once: {:#?}",
        report.errors
    );
    let message = |path: &str| {
        report
            .errors
            .iter()
            .find(|error| error.path == path)
            .map(|error| error.message.clone())
            .unwrap_or_default()
    };
    assert!(message("$.products[1]").contains("code"));
    assert!(message("$.lots[0].quantity").contains("1.234,5"));
    assert!(message("$.mappings[0].entity").contains("Gadget"));
    assert!(message("$.lots[1]").contains("product"));
    assert!(report.upserted.is_empty());
    assert_all_empty(pool).await;
}

#[tokio::test]
async fn a_lot_of_an_unregistered_product_is_reported_and_nothing_is_loaded() {
    let db = TestDatabase::create().await;
    let pool = &db.any().await;
    let mut document = example();
    document["lots"].as_array_mut().expect("lots").push(
        json!({"branch": "D MG 01", "product": "P404", "warehouse": "01", "lot": "X",
                     "expires_on": "2029-01-31", "quantity": 1}),
    );
    let report = db
        .store
        .import(&document, &|_| {})
        .await
        .expect("import runs");
    assert_eq!(paths(&report.errors), ["$.lots[9]"], "{:?}", report.errors);
    assert!(
        report.errors[0]
            .message
            .contains("product is not registered"),
        "{:?}",
        report.errors
    );
    assert!(report.upserted.is_empty());
    assert_all_empty(pool).await;
}

#[tokio::test]
async fn lowering_a_lot_below_its_reserved_quantity_is_refused_naming_the_row() {
    let db = seeded().await;
    let pool = &db.any().await;
    send(
        &db.store,
        &reserve(
            "I-HELD",
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 102}]),
        ),
    )
    .await
    .assert_ok();
    let before = master_state(pool).await;

    // L2029B holds 2 reserved units; 1 on hand would be less than that.
    let mut document = example();
    document["lots"][2]["quantity"] = json!(1);
    document["products"][0]["description"] = json!("renamed in the same file");
    let report = db
        .store
        .import(&document, &|_| {})
        .await
        .expect("import runs");
    assert_eq!(paths(&report.errors), ["$.lots[2]"], "{:?}", report.errors);
    assert!(
        report.errors[0].message.contains("reserved"),
        "the message says why: {:?}",
        report.errors[0]
    );
    assert_eq!(
        master_state(pool).await,
        before,
        "no row of the file is applied"
    );
}
