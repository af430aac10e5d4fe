//! Several ItemReserve envelopes in one transaction ([`Store::receive_batch`]):
//! each answered exactly as if they had come one after another, a rejected
//! or failing envelope never failing its neighbours.

mod common;

use common::*;
use eai_protocol::Envelope;
use eai_store::{Failure, Received, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

fn p001(quantity: i64) -> Value {
    json!([{"ItemCode": "P001", "WarehouseCode": "01", "Quantity": quantity}])
}

/// Receives `envelopes` as one batch; each answer's receipt as JSON, or the error.
async fn send_batch(store: &Store, envelopes: &[Value]) -> Vec<Result<Reply, StoreError>> {
    let bodies: Vec<Vec<u8>> = envelopes
        .iter()
        .map(|envelope| serde_json::to_vec(envelope).expect("serializable envelope"))
        .collect();
    let parsed: Vec<Envelope> = bodies
        .iter()
        .map(|body| Envelope::parse(body).expect("test envelopes have a UUID"))
        .collect();
    let inbounds: Vec<_> = parsed
        .iter()
        .zip(&bodies)
        .map(|(envelope, body)| inbound(envelope, body, 0))
        .collect();
    store
        .receive_batch(&identity(), &inbounds)
        .await
        .into_iter()
        .map(|received| {
            received.map(|received| {
                let answer = match received {
                    Received::Answered(answer) => answer,
                    Received::Waiting { .. } => panic!("an ItemReserve never waits"),
                };
                let json = serde_json::from_str(&answer.body).expect("the receipt body is JSON");
                Reply { answer, json }
            })
        })
        .collect()
}

/// What the reservations did, without ids and timestamps: comparable across databases.
async fn reservation_effects(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('reservation %s %s %s %s', r.internal_id, r.number, r.status,
                       coalesce((SELECT string_agg(format('%s:%s:%s:%s', l.line_no, l.lot,
                                                          l.quantity, l.released_at IS NULL),
                                                   ',' ORDER BY l.line_no)
                                   FROM reservation_lines l WHERE l.reservation_id = r.id), ''))
           FROM reservations r
         UNION ALL
         SELECT format('lot %s %s', lot, reserved) FROM lots
         UNION ALL
         SELECT format('mapping %s %s %s', entity, external, internal) FROM mappings
          WHERE entity = 'ItemReserve'
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("effects")
}

/// How many database transactions answered the inbox's envelopes (a
/// transaction's `now()` is the same for all it answered).
async fn transactions(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(DISTINCT processed_at) FROM inbox")
        .fetch_one(pool)
        .await
        .expect("processed_at")
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
    let mut expected = Vec::new();
    for envelope in &envelopes {
        expected.push(verdict(&send(&alone.store, envelope).await));
    }

    let together = seeded().await;
    let replies: Vec<Reply> = send_batch(&together.store, &envelopes)
        .await
        .into_iter()
        .map(|reply| reply.expect("no envelope fails"))
        .collect();
    let verdicts: Vec<(String, Vec<String>)> = replies.iter().map(verdict).collect();
    assert_eq!(verdicts, expected);
    assert_eq!(
        reservation_effects(together.store.pool()).await,
        reservation_effects(alone.store.pool()).await
    );
    assert_eq!(verdicts[2].1, ["LOT_INSUFFICIENT"]);
    assert_eq!(verdicts[3].1, ["PRODUCT_NOT_FOUND"]);
    assert_eq!(verdicts[8].1, ["RESERVE_NOT_FOUND"]);
    // The same UUID twice: the second is the first's receipt, byte for byte.
    assert!(replies[6].answer.duplicate);
    assert_eq!(replies[6].answer.body, replies[0].answer.body);
    // B-1 changed to 7 after the batch's first version (90) of it, beside B-2's 10.
    assert_eq!(
        reserved(together.store.pool(), "L2029A").await,
        Decimal::from(17)
    );
    assert_eq!(
        reservation(together.store.pool(), "B-GONE")
            .await
            .expect("row")
            .status,
        "cancelled"
    );
    assert_stock_consistent(together.store.pool()).await;
    assert_eq!(count(together.store.pool(), "inbox").await, 8);
    // Six at once; then B-GONE's delete (and the repeated UUID); then B-1's change.
    assert_eq!(transactions(together.store.pool()).await, 3);
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
    assert_eq!(reserved(db.store.pool(), "L2029A").await, Decimal::from(7));
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
    assert_stock_consistent(db.store.pool()).await;
    assert_eq!(
        reserved(db.store.pool(), "L2029A").await,
        Decimal::from(100)
    );
    assert_eq!(
        reserved(db.store.pool(), "L2029B").await,
        Decimal::from(460)
    );
}

#[tokio::test]
async fn an_envelope_the_database_refuses_fails_alone_and_its_neighbours_are_answered() {
    let db = seeded().await;
    let pool = db.store.pool();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.internal_id = 'B-BOOM' THEN RAISE EXCEPTION 'refused by the test'; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_boom BEFORE INSERT ON reservations
            FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(pool)
    .await
    .expect("trigger");
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
