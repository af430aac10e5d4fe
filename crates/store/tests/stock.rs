//! Sales, their cancellation, the reservations' expiry sweep and StockLevel
//! requests against the example master data, on either backend: what the
//! sender reads in its receipts and what the stock and the sales tables
//! keep.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use eai_protocol::ReceiptOrigin;
use eai_store::testing::envelopes::{self, bulk_stock, cancellation, sale, ITEM};
use eai_store::testing::TestDatabase;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::AnyPool;

/// A database with the examples, plenty of P004 (lot P4-A) and the
/// reservations `ids` of one unit each.
async fn with_reservations(ids: &[&str]) -> TestDatabase {
    let db = seeded().await;
    import_ok(&db.store, &bulk_stock()).await;
    for id in ids {
        send(&db.store, &envelopes::reservation(id, ITEM, 1))
            .await
            .assert_ok();
    }
    db
}

/// One row of `sql` (bound to `key`) as text columns.
async fn texts(pool: &AnyPool, sql: &str, key: &str) -> Vec<Option<String>> {
    use sqlx::Row;
    let row = sqlx::query(sql)
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    (0..row.len()).map(|index| row.get(index)).collect()
}

/// The decimal a column kept as text.
fn exact(text: &Option<String>) -> Decimal {
    text.as_deref()
        .expect("a decimal")
        .parse::<Decimal>()
        .expect("decimal text")
        .normalize()
}

/// Reservation `internal_id`'s status.
async fn status_of(pool: &AnyPool, internal_id: &str) -> String {
    reservation(pool, internal_id)
        .await
        .unwrap_or_else(|| panic!("no reservation {internal_id}"))
        .status
}

#[tokio::test]
async fn a_sale_is_written_with_its_items_lots_payments_and_receivable_and_uses_its_reservation() {
    let db = with_reservations(&["R-1", "R-2"]).await;
    let pool = &db.any().await;
    let reply = send(&db.store, &sale("S-1", "D-1", "R-1")).await;
    reply.assert_ok();
    assert_eq!(
        reply.internal_ids(),
        vec![json!({"Name": "RetailSales", "Origin": "S-1", "Destination": "T1|D MG 01|000001"})]
    );
    let header = texts(
        pool,
        "SELECT number, document_code, status, CAST(total_price AS TEXT),
                CAST(issue_date AS TEXT), series
           FROM sales WHERE internal_id = $1",
        "S-1",
    )
    .await;
    assert_eq!(header[0].as_deref(), Some("000001"));
    assert_eq!(header[1].as_deref(), Some("D-1"));
    assert_eq!(header[2].as_deref(), Some("released"));
    assert_eq!(exact(&header[3]), Decimal::from(700));
    assert_eq!(header[4].as_deref(), Some("2022-03-30"));
    let item = texts(
        pool,
        "SELECT i.product, CAST(i.quantity AS TEXT), CAST(i.unit_price AS TEXT), l.lot,
                CAST(l.quantity AS TEXT)
           FROM sale_items i JOIN sales s ON s.id = i.sale_id
           JOIN sale_item_lots l ON l.sale_id = i.sale_id AND l.item_no = i.item_no
          WHERE s.internal_id = $1",
        "S-1",
    )
    .await;
    assert_eq!(item[0].as_deref(), Some("P004"));
    assert_eq!(exact(&item[1]), Decimal::ONE);
    assert_eq!(exact(&item[2]), Decimal::from(700));
    assert_eq!(item[3].as_deref(), Some("P4-A"));
    assert_eq!(exact(&item[4]), Decimal::ONE);
    let payment = texts(
        pool,
        "SELECT p.method, CAST(p.value AS TEXT), r.prefix, r.number, r.debtor,
                CAST(r.amount AS TEXT), r.status
           FROM sale_payments p JOIN sales s ON s.id = p.sale_id
           JOIN receivables r ON r.sale_id = p.sale_id AND r.payment_no = p.payment_no
          WHERE s.internal_id = $1",
        "S-1",
    )
    .await;
    assert_eq!(payment[0].as_deref(), Some("CC"));
    assert_eq!(exact(&payment[1]), Decimal::from(700));
    assert_eq!(
        payment[2], header[5],
        "the receivable's prefix is the series"
    );
    assert_eq!(payment[3].as_deref(), Some("000001"));
    assert_eq!(payment[4].as_deref(), Some("CARTAO"));
    assert_eq!(exact(&payment[5]), Decimal::from(700));
    assert_eq!(payment[6].as_deref(), Some("open"));
    assert_eq!(status_of(pool, "R-1").await, "used");
    assert_eq!(status_of(pool, "R-2").await, "active");
    let mapped = texts(
        pool,
        "SELECT internal FROM mappings WHERE entity = 'RetailSales' AND external = $1",
        "S-1",
    )
    .await;
    assert_eq!(mapped[0].as_deref(), Some("T1|D MG 01|000001"));

    // The next sale takes the next number; a used reservation and a taken
    // DocumentCode are refused.
    send(&db.store, &sale("S-2", "D-2", "R-2"))
        .await
        .assert_ok();
    assert_eq!(
        texts(
            pool,
            "SELECT number FROM sales WHERE internal_id = $1",
            "S-2"
        )
        .await[0]
            .as_deref(),
        Some("000002")
    );
    send(&db.store, &sale("S-3", "D-3", "R-1"))
        .await
        .assert_only("RESERVE_ALREADY_USED");
    let taken = send(&db.store, &sale("S-4", "D-1", "R-NONE")).await;
    assert!(
        taken.codes().contains(&"DOCUMENT_DUPLICATE".to_owned()),
        "{:#}",
        taken.json
    );
    assert_eq!(count(pool, "sales").await, 2);
}

#[tokio::test]
async fn a_cancelled_sale_voids_its_receivables_and_returns_what_its_reservation_held() {
    let db = with_reservations(&["R-1"]).await;
    let pool = &db.any().await;
    assert_eq!(reserved(pool, "P4-A").await, Decimal::ONE);
    send(&db.store, &sale("S-1", "D-1", "R-1"))
        .await
        .assert_ok();

    let reply = send(&db.store, &cancellation("S-1")).await;
    reply.assert_ok();
    assert_eq!(
        reply.internal_ids(),
        vec![json!({"Name": "RetailSalesCancellation", "Origin": "S-1",
                    "Destination": "T1|D MG 01|000001"})]
    );
    let sale_row = texts(
        pool,
        "SELECT status, status_before_cancel, CAST(cancelled_on AS TEXT),
                CASE WHEN cancelled_at IS NULL THEN 'no' ELSE 'yes' END
           FROM sales WHERE internal_id = $1",
        "S-1",
    )
    .await;
    assert_eq!(sale_row[0].as_deref(), Some("cancelled"));
    assert_eq!(sale_row[1].as_deref(), Some("released"));
    assert_eq!(sale_row[2].as_deref(), Some("2022-03-31"));
    assert_eq!(sale_row[3].as_deref(), Some("yes"));
    let receivable = texts(
        pool,
        "SELECT r.status FROM receivables r JOIN sales s ON s.id = r.sale_id
          WHERE s.internal_id = $1",
        "S-1",
    )
    .await;
    assert_eq!(receivable[0].as_deref(), Some("void"));
    assert_eq!(status_of(pool, "R-1").await, "cancelled");
    assert_eq!(reserved(pool, "P4-A").await, Decimal::ZERO);
    assert!(lines(pool, "R-1").await.iter().all(|line| line.released));
    assert_stock_consistent(pool).await;

    send(&db.store, &cancellation("S-1"))
        .await
        .assert_only("SALE_ALREADY_CANCELLED");
    send(&db.store, &cancellation("S-NEVER"))
        .await
        .assert_only("SALE_NOT_FOUND");
    assert_eq!(reserved(pool, "P4-A").await, Decimal::ZERO);
}

/// Who the sweep says it is in the events it writes.
fn origin() -> ReceiptOrigin {
    ReceiptOrigin {
        source_application: "EAIWORKER".into(),
        product_name: "EAIWORKER".into(),
        max_details: eai_protocol::receipt::DEFAULT_MAX_DETAILS,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_expiry_sweep_releases_the_lines_past_their_expiration_and_expires_the_reservation() {
    let db = seeded().await;
    let pool = &db.any().await;
    let expiring = json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 102,
                           "ReserveExpiration": "2030-01-01T00:00:00+00:00"}]);
    send(&db.store, &reserve("R-EXPIRING", expiring))
        .await
        .assert_ok();
    let lasting = json!([{"ItemCode": "P003", "WarehouseCode": "01", "Quantity": 3}]);
    send(&db.store, &reserve("R-LASTING", lasting))
        .await
        .assert_ok();
    assert_eq!(reserved(pool, "L2029A").await, Decimal::from(100));
    assert_eq!(reserved(pool, "L2029B").await, Decimal::from(2));

    let before = db
        .store
        .release_expired_reservations(&origin(), at("2029-12-31T23:59:59+00:00"), 100)
        .await
        .expect("sweep");
    assert_eq!(before, 0, "nothing expired yet");
    assert_eq!(status_of(pool, "R-EXPIRING").await, "active");

    let released = db
        .store
        .release_expired_reservations(&origin(), at("2030-01-01T00:00:01+00:00"), 100)
        .await
        .expect("sweep");
    assert_eq!(released, 2, "both lines of R-EXPIRING");
    assert_eq!(status_of(pool, "R-EXPIRING").await, "expired");
    assert!(lines(pool, "R-EXPIRING")
        .await
        .iter()
        .all(|line| line.released));
    assert_eq!(reserved(pool, "L2029A").await, Decimal::ZERO);
    assert_eq!(reserved(pool, "L2029B").await, Decimal::ZERO);
    assert_eq!(status_of(pool, "R-LASTING").await, "active");
    assert_stock_consistent(pool).await;

    let again = db
        .store
        .release_expired_reservations(&origin(), at("2031-01-01T00:00:00+00:00"), 100)
        .await
        .expect("sweep");
    assert_eq!(again, 0);
}

/// A StockLevel request for `items` (`ListOfRequest`).
fn stock_request(items: Value) -> Value {
    let mut envelope = reserve("unused", json!([]));
    set(&mut envelope, "/Header/Transaction", json!("StockLevel"));
    set(&mut envelope, "/Header/Version", json!("3.000"));
    set(&mut envelope, "/Content", json!({"ListOfRequest": items}));
    envelope
}

/// The answer's entry for lot `lot`, wherever the receipt lists it.
fn lot_entry(answer: &Value, lot: &str) -> Option<Value> {
    match answer {
        Value::Object(fields) if fields.get("LotNumber") == Some(&json!(lot)) => {
            Some(answer.clone())
        }
        Value::Object(fields) => fields.values().find_map(|value| lot_entry(value, lot)),
        Value::Array(values) => values.iter().find_map(|value| lot_entry(value, lot)),
        _ => None,
    }
}

#[tokio::test]
async fn a_stock_request_is_answered_with_each_lot_on_hand_and_booked() {
    let db = seeded().await;
    send(
        &db.store,
        &reserve(
            "R-BOOKED",
            json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": 102}]),
        ),
    )
    .await
    .assert_ok();
    let reply = send(
        &db.store,
        &stock_request(json!([{"ItemCode": "P001", "WarehouseCode": "01"}])),
    )
    .await;
    reply.assert_ok();
    let content = &reply.json["Content"]["ReturnContent"];
    let first = lot_entry(content, "L2029A").unwrap_or_else(|| panic!("no L2029A in {content:#}"));
    let second = lot_entry(content, "L2029B").unwrap_or_else(|| panic!("no L2029B in {content:#}"));
    let amount = |entry: &Value, field: &str| -> Decimal {
        serde_json::from_value::<Decimal>(entry[field].clone())
            .or_else(|_| entry[field].to_string().trim_matches('"').parse())
            .unwrap_or_else(|_| panic!("{field} in {entry:#}"))
            .normalize()
    };
    assert_eq!(amount(&first, "BookedStockAmount"), Decimal::from(100));
    assert_eq!(amount(&second, "BookedStockAmount"), Decimal::from(2));

    let unknown = send(
        &db.store,
        &stock_request(json!([{"ItemCode": "NOPE", "WarehouseCode": "01"}])),
    )
    .await;
    unknown.assert_only("PRODUCT_NOT_FOUND");
}
