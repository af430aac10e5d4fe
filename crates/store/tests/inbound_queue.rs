//! The database's inbound queue: claims exclude each other, a lease that
//! ran out hands the envelope to the next claim, and a claim that lost its
//! envelope can no longer settle, renew or park it. On the backend
//! `EAI_TEST_BACKEND` names.

use std::time::Duration;

use eai_store::inbound_queue::Queued;
use eai_store::testing::TestDatabase;

const LEASE: Duration = Duration::from_secs(60);

async fn queued_rows(db: &TestDatabase) -> Vec<(i64, i32)> {
    sqlx::query_as("SELECT id, deliveries FROM inbound_queue ORDER BY id")
        .fetch_all(&db.any().await)
        .await
        .expect("rows")
}

/// A database with one envelope queued.
async fn one_queued(routing_key: &str) -> TestDatabase {
    let db = TestDatabase::create().await;
    db.store
        .enqueue(&Queued {
            routing_key,
            body: b"{}",
            ..Queued::default()
        })
        .await
        .expect("queued");
    db
}

/// How many envelopes a claim would get now (it claims them).
async fn claimable(db: &TestDatabase) -> usize {
    db.store.claim_queued(10, LEASE).await.expect("claim").len()
}

/// What a lease running out looks like: the envelope visible again (since
/// a moment both backends read as long past).
async fn lease_runs_out(db: &TestDatabase) {
    sqlx::query("UPDATE inbound_queue SET visible_at = '2000-01-01T00:00:00+00:00'")
        .execute(&db.any().await)
        .await
        .expect("lease ended");
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_cannot_settle_what_the_next_claim_holds() {
    let db = one_queued("ItemReserve").await;
    let store = &db.store;
    let first = store.claim_queued(10, LEASE).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(claimable(&db).await, 0, "hidden while claimed");
    assert!(store
        .renew_claim(first[0].claim(), LEASE)
        .await
        .expect("renew"));

    lease_runs_out(&db).await;
    let second = store.claim_queued(10, LEASE).await.expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].deliveries, 2, "the next claim is a redelivery");

    let old = first[0].claim();
    assert!(!store.renew_claim(old, LEASE).await.expect("renew"));
    store.dequeue(old).await.expect("dequeue");
    store.release_queued(old).await.expect("release");
    store.park_queued(old, LEASE).await.expect("park");
    assert_eq!(
        queued_rows(&db).await,
        [(second[0].id, 2)],
        "the old claim changed nothing"
    );
    assert_eq!(claimable(&db).await, 0, "still hidden for the second claim");

    store.dequeue(second[0].claim()).await.expect("dequeue");
    assert!(queued_rows(&db).await.is_empty(), "answered, gone");
}

#[tokio::test]
async fn a_parked_envelope_stays_one_row_and_comes_back_as_a_fresh_delivery() {
    let db = one_queued("RetailSales").await;
    let store = &db.store;
    let claimed = store.claim_queued(1, LEASE).await.expect("claim");
    let claim = claimed[0].claim();
    store
        .park_queued(claim, Duration::from_millis(200))
        .await
        .expect("park");
    // The receiver acks a parked delivery: that must not remove it.
    store.dequeue(claim).await.expect("ack");
    assert_eq!(queued_rows(&db).await, [(claim.id, 0)]);
    assert!(store
        .claim_queued(1, LEASE)
        .await
        .expect("claim")
        .is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let back = store.claim_queued(1, LEASE).await.expect("claim");
    assert_eq!(back.len(), 1, "back after its delay");
    assert_eq!(back[0].deliveries, 1, "not counted as a redelivery");
}
