//! Several ItemReserve or RetailSales envelopes in one transaction
//! ([`Store::receive_batch`]): each answered exactly as if they had come one
//! after another, a rejected or failing envelope never failing its
//! neighbours, a sale that must wait waiting alone.

mod common;

use common::*;
use eai_store::testing::envelopes::{bulk_stock, sale, ITEM};
use eai_store::testing::TestBackend;
use eai_store::{Failure, Received, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::AnyPool;

fn p001(quantity: i64) -> Value {
    json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}])
}

/// Receives `envelopes` as one batch; each answer's receipt as JSON, or the error.
async fn send_batch(store: &Store, envelopes: &[Value]) -> Vec<Result<Reply, StoreError>> {
    receive_batch(store, envelopes, 0)
        .await
        .into_iter()
        .map(|received| {
            received.map(|received| {
                let answer = match received {
                    Received::Answered(answer) => answer,
                    Received::Waiting { .. } => panic!("nothing here may wait"),
                };
                let json = serde_json::from_str(&answer.body).expect("the receipt body is JSON");
                Reply { answer, json }
            })
        })
        .collect()
}

/// Every row `sql` selects (one text each), sorted.
async fn sorted_rows(pool: &AnyPool, sql: &str) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .expect("effects");
    rows.sort();
    rows
}

/// What the reservations did, without ids and timestamps: comparable across databases.
async fn reservation_effects(pool: &AnyPool) -> Vec<String> {
    sorted_rows(
        pool,
        "SELECT 'reservation ' || internal_id || ' ' || number || ' ' || status
           FROM reservations
         UNION ALL
         SELECT 'line ' || r.internal_id || ' ' || CAST(l.line_no AS TEXT) || ' ' || l.lot || ' '
                || CAST(l.quantity AS TEXT) || ' '
                || CASE WHEN l.released_at IS NULL THEN 'held' ELSE 'released' END
           FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
         UNION ALL
         SELECT 'lot ' || lot || ' ' || CAST(reserved AS TEXT) FROM lots
         UNION ALL
         SELECT 'mapping ' || entity || ' ' || external || ' ' || internal FROM mappings
          WHERE entity = 'ItemReserve'",
    )
    .await
}

/// How many database transactions answered the inbox's envelopes (a
/// transaction's `now()` is the same for all it answered).
async fn transactions(pool: &AnyPool) -> i64 {
    transactions_of(pool, "ItemReserve").await
}

/// [`transactions`] for the envelopes of one transaction.
async fn transactions_of(pool: &AnyPool, transaction: &str) -> i64 {
    sqlx::query_scalar("SELECT count(DISTINCT processed_at) FROM inbox WHERE \"transaction\" = $1")
        .bind(transaction)
        .fetch_one(pool)
        .await
        .expect("processed_at")
}

/// The verdicts of `envelopes` received one after another, each alone.
async fn one_by_one(store: &Store, envelopes: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut verdicts = Vec::new();
    for envelope in envelopes {
        verdicts.push(verdict(&send(store, envelope).await));
    }
    verdicts
}

/// The replies to `envelopes` received as one batch, none of which may fail.
async fn answered_together(store: &Store, envelopes: &[Value]) -> Vec<Reply> {
    send_batch(store, envelopes)
        .await
        .into_iter()
        .map(|reply| reply.expect("no envelope fails"))
        .collect()
}

/// The receipt's status and error codes.
fn verdict(reply: &Reply) -> (String, Vec<String>) {
    (reply.status().to_owned(), reply.codes())
}

#[tokio::test]
async fn a_batch_answers_and_changes_exactly_what_the_same_envelopes_one_by_one_would() {
    let mut unknown = reserve("B-UNKNOWN", json!([{"ItemCode": "NOPE", "Quantity": 1}]));
    set(&mut unknown, "/Content/Requester", json!("ECOMMERCE"));
    let first = reserve("B-1", p001(90));
    let envelopes = vec![
        first.clone(),
        reserve("B-2", p001(30)),
        reserve("B-TOO-MUCH", p001(10_000)),
        unknown,
        reserve("B-GONE", p001(5)),
        delete("B-GONE"),
        first.clone(),
        reserve("B-1", p001(7)),
        delete("B-NEVER"),
    ];

    let alone = seeded().await;
    let expected = one_by_one(&alone.store, &envelopes).await;

    let together = seeded().await;
    let replies = answered_together(&together.store, &envelopes).await;
    let verdicts: Vec<(String, Vec<String>)> = replies.iter().map(verdict).collect();
    assert_eq!(verdicts, expected);
    assert_eq!(
        reservation_effects(&together.any().await).await,
        reservation_effects(&alone.any().await).await
    );
    assert_eq!(verdicts[2].1, ["LOT_INSUFFICIENT"]);
    assert_eq!(verdicts[3].1, ["PRODUCT_NOT_FOUND"]);
    assert_eq!(verdicts[8].1, ["RESERVE_NOT_FOUND"]);
    // The same UUID twice: the second is the first's receipt, byte for byte.
    assert!(replies[6].answer.duplicate);
    assert_eq!(replies[6].answer.body, replies[0].answer.body);
    // B-1 changed to 7 after the batch's first version (90) of it, beside B-2's 10.
    assert_eq!(
        reserved(&together.any().await, "L2029A").await,
        Decimal::from(17)
    );
    assert_eq!(
        reservation(&together.any().await, "B-GONE")
            .await
            .expect("row")
            .status,
        "cancelled"
    );
    assert_stock_consistent(&together.any().await).await;
    assert_eq!(count(&together.any().await, "inbox").await, 8);
    // Six at once; then B-GONE's delete (and the repeated UUID); then B-1's change.
    assert_eq!(transactions(&together.any().await).await, 3);
}

#[tokio::test]
async fn envelopes_already_answered_get_their_stored_receipt_inside_a_batch() {
    let db = seeded().await;
    let earlier = reserve("B-EARLIER", p001(3));
    let stored = send(&db.store, &earlier).await;
    let replies = send_batch(&db.store, &[reserve("B-NEW", p001(4)), earlier]).await;
    let again = replies[1].as_ref().expect("answered");
    assert!(again.answer.duplicate);
    assert_eq!(again.answer.body, stored.answer.body);
    assert_eq!(again.answer.receipt_id, stored.answer.receipt_id);
    replies[0].as_ref().expect("answered").assert_ok();
    assert_eq!(reserved(&db.any().await, "L2029A").await, Decimal::from(7));
}

#[tokio::test]
async fn envelopes_of_one_batch_competing_for_the_same_lots_never_over_reserve() {
    let db = seeded().await;
    // D MG 01 holds 640 of P001 (40 of them expired): 600 can be reserved.
    let envelopes: Vec<Value> = (0..8)
        .map(|index| reserve(&format!("B-RUSH-{index}"), p001(140)))
        .collect();
    let replies = send_batch(&db.store, &envelopes).await;
    let verdicts: Vec<(String, Vec<String>)> = replies
        .iter()
        .map(|reply| verdict(reply.as_ref().expect("answered")))
        .collect();
    let ok = (String::from("ok"), Vec::new());
    let short = (
        String::from("error"),
        vec![String::from("LOT_INSUFFICIENT")],
    );
    assert_eq!(
        verdicts,
        [&ok, &ok, &ok, &ok, &short, &short, &short, &short].map(Clone::clone)
    );
    assert_stock_consistent(&db.any().await).await;
    assert_eq!(
        reserved(&db.any().await, "L2029A").await,
        Decimal::from(100)
    );
    assert_eq!(
        reserved(&db.any().await, "L2029B").await,
        Decimal::from(460)
    );
}

#[tokio::test]
async fn an_envelope_the_database_refuses_fails_alone_and_its_neighbours_are_answered() {
    let db = seeded().await;
    let pool = &db.any().await;
    let trigger = match db.backend() {
        TestBackend::Postgres => {
            "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.internal_id = 'B-BOOM' THEN RAISE EXCEPTION 'refused by the test'; END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_boom BEFORE INSERT ON reservations
                FOR EACH ROW EXECUTE FUNCTION refuse_boom();"
        }
        TestBackend::Sqlite => {
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON reservations
                FOR EACH ROW WHEN NEW.internal_id = 'B-BOOM'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
    };
    sqlx::raw_sql(trigger).execute(pool).await.expect("trigger");
    let replies = send_batch(
        &db.store,
        &[
            reserve("B-BEFORE", p001(2)),
            reserve("B-BOOM", p001(3)),
            reserve("B-AFTER", p001(4)),
        ],
    )
    .await;
    replies[0].as_ref().expect("answered").assert_ok();
    replies[2].as_ref().expect("answered").assert_ok();
    let failed = replies[1].as_ref().expect_err("the database refused it");
    assert_eq!(failed.failure(), Failure::Permanent, "{failed}");
    assert!(reservation(pool, "B-BOOM").await.is_none());
    assert_eq!(reserved(pool, "L2029A").await, Decimal::from(6));
    assert_stock_consistent(pool).await;
}

/// A store with plenty of P004 and the reservations `ids` (one unit each) integrated.
async fn with_reservations(ids: &[&str]) -> eai_store::testing::TestDatabase {
    let db = seeded().await;
    import_ok(&db.store, &bulk_stock()).await;
    for id in ids {
        send(
            &db.store,
            &reserve(
                id,
                json!([{"ItemCode": ITEM, "WarehouseCode": "01", "Quantity": 1}]),
            ),
        )
        .await
        .assert_ok();
    }
    db
}

/// What the sales did, without ids and timestamps: comparable across databases.
async fn sale_effects(pool: &AnyPool) -> Vec<String> {
    sorted_rows(
        pool,
        "SELECT 'sale ' || internal_id || ' ' || number || ' ' || document_code || ' ' || status
           FROM sales
         UNION ALL
         SELECT 'reservation ' || internal_id || ' ' || status FROM reservations
         UNION ALL
         SELECT 'receivable ' || r.number || ' ' || r.debtor || ' ' || CAST(r.amount AS TEXT) || ' '
                || CAST(r.due_date AS TEXT)
           FROM receivables r
         UNION ALL
         SELECT 'item ' || s.internal_id || ' ' || i.product || ' ' || CAST(i.quantity AS TEXT)
           FROM sale_items i JOIN sales s ON s.id = i.sale_id
         UNION ALL
         SELECT 'mapping ' || external || ' ' || internal FROM mappings
          WHERE entity = 'RetailSales'",
    )
    .await
}

#[tokio::test]
async fn sales_in_one_batch_are_judged_on_what_the_earlier_ones_left() {
    let mut bad_totals = sale("S-TOTALS", "D-TOTALS", "R-4");
    set(&mut bad_totals, "/Content/NetPrice", json!(650));
    let envelopes = vec![
        sale("S-1", "D-1", "R-1"),
        sale("S-2", "D-1", "R-2"),
        sale("S-3", "D-3", "R-1"),
        bad_totals,
        sale("S-5", "D-5", "R-3"),
    ];
    let reservations = ["R-1", "R-2", "R-3", "R-4"];

    let alone = with_reservations(&reservations).await;
    let expected = one_by_one(&alone.store, &envelopes).await;

    let together = with_reservations(&reservations).await;
    let replies = answered_together(&together.store, &envelopes).await;
    let verdicts: Vec<(String, Vec<String>)> = replies.iter().map(verdict).collect();
    assert_eq!(verdicts, expected);
    assert_eq!(
        sale_effects(&together.any().await).await,
        sale_effects(&alone.any().await).await
    );
    assert_eq!(verdicts[0].0, "ok");
    assert_eq!(verdicts[4].0, "ok");
    assert_eq!(verdicts[1].1, ["DOCUMENT_DUPLICATE"]);
    assert_eq!(verdicts[2].1, ["RESERVE_ALREADY_USED"]);
    assert_eq!(verdicts[3].0, "error");
    assert_eq!(
        transactions_of(&together.any().await, "RetailSales").await,
        1
    );
}

#[tokio::test]
async fn a_sale_that_must_wait_waits_alone_and_its_neighbours_are_integrated_together() {
    let db = with_reservations(&["R-1", "R-2"]).await;
    let received = receive_batch(
        &db.store,
        &[
            sale("S-1", "D-1", "R-1"),
            sale("S-LATE", "D-LATE", "R-NOT-YET"),
            sale("S-2", "D-2", "R-2"),
        ],
        1,
    )
    .await;
    let ok = |index: usize| match &received[index] {
        Ok(Received::Answered(answer)) => answer.ok,
        other => panic!("{index}: {other:?}"),
    };
    assert!(ok(0) && ok(2));
    match &received[1] {
        Ok(Received::Waiting { reservations, wait }) => {
            assert_eq!(reservations, &["R-NOT-YET".to_owned()]);
            assert_eq!(*wait, 1);
        }
        other => panic!("the late sale should wait: {other:?}"),
    }
    let pool = &db.any().await;
    assert_eq!(transactions_of(pool, "RetailSales").await, 1);
    let waiting: String = sqlx::query_scalar(
        "SELECT status FROM inbox WHERE \"transaction\" = 'RetailSales' AND processed_at IS NULL",
    )
    .fetch_one(pool)
    .await
    .expect("the waiting sale's row");
    assert_eq!(waiting, "waiting");
    assert_eq!(count(pool, "sales").await, 2);
}

#[tokio::test]
async fn a_large_sale_keeps_its_body_while_it_waits_and_once_answered() {
    let db = with_reservations(&[]).await;
    let mut late = sale("S-LARGE", "D-LARGE", "R-LATER");
    set(
        &mut late,
        "/Content/ListOfSaleItem/SaleItem/0/ItemDescription",
        json!(words(2 << 20, 7)),
    );
    match &receive_batch(&db.store, std::slice::from_ref(&late), 1).await[0] {
        Ok(Received::Waiting { .. }) => {}
        other => panic!("the sale should wait for its reservation: {other:?}"),
    }
    assert_body_kept(&db, &late).await;
    // As a worker before migration 0011 kept it: raw, whatever its size.
    let uuid = uuid_of(&late);
    sqlx::query(&format!(
        "UPDATE inbox SET body = $1, body_zstd = {} WHERE uuid = '{uuid}'",
        if TestBackend::chosen() == TestBackend::Sqlite {
            "0"
        } else {
            "false"
        }
    ))
    .bind(serde_json::to_vec(&late).expect("JSON"))
    .execute(&db.any().await)
    .await
    .expect("an older worker's row");
    send(
        &db.store,
        &reserve(
            "R-LATER",
            json!([{"ItemCode": ITEM, "WarehouseCode": "01", "Quantity": 1}]),
        ),
    )
    .await
    .assert_ok();
    match &receive_batch(&db.store, std::slice::from_ref(&late), 1).await[0] {
        Ok(Received::Answered(answer)) => assert!(answer.ok, "{}", answer.body),
        other => panic!("the sale should be integrated: {other:?}"),
    }
    assert_eq!(
        logged_body(&db, &uuid).await,
        late,
        "the answer keeps the body the row had"
    );
}
