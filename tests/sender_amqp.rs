//! The sender's AMQP destinations end to end (SPEC §8): business messages
//! published to consumers on the test broker, whose ReceiptMessages come back
//! on the `reply_to` queue and settle exactly the copy they answer. These
//! watch the broker, so they run with one (PostgreSQL); the sender's HTTP
//! destinations are in `sender.rs`, which runs on both backends.
//!
//! Timing comes from the harness settings: senders poll every 200 ms and retry
//! after 100 ms doubling up to 1 s (with jitter). Waits are bounded polls of
//! the database or of what a destination received.

use std::time::Duration;

use eai_tests::destination::{AmqpAnswer, AmqpDestination, HttpBehaviour, HttpDestination};
use eai_tests::sending::{
    amqp_destination, assert_transitions, attempts_series, enqueue, envelope, history,
    http_destination, import_destinations, message, message_id, new_uuid, statuses, track,
    wait_for, BRANCH, COMPANY, TRANSACTION,
};
use eai_tests::spawn_app;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_destinations_acking_promptly_late_never_or_with_an_error() {
    let app = spawn_app().await;
    let prompt = AmqpDestination::start(AmqpAnswer::Receipt {
        ok: true,
        after: Duration::ZERO,
    })
    .await;
    let late = AmqpDestination::start(AmqpAnswer::Receipt {
        ok: true,
        after: Duration::from_millis(2_500),
    })
    .await;
    let never = AmqpDestination::start(AmqpAnswer::Never).await;
    let refusing = AmqpDestination::start(AmqpAnswer::Receipt {
        ok: false,
        after: Duration::ZERO,
    })
    .await;
    import_destinations(
        &app,
        json!([
            amqp_destination(
                "amqp-prompt",
                &prompt.exchange,
                &prompt.routing_key,
                5_000,
                4
            ),
            amqp_destination("amqp-late", &late.exchange, &late.routing_key, 800, 1),
            amqp_destination("amqp-never", &never.exchange, &never.routing_key, 500, 2),
            amqp_destination(
                "amqp-refusing",
                &refusing.exchange,
                &refusing.routing_key,
                5_000,
                4
            ),
            amqp_destination(
                "amqp-unroutable",
                &prompt.exchange,
                "nobody-is-bound-here",
                5_000,
                1
            ),
        ]),
    )
    .await;

    let (prompt_id, prompt_uuid) = enqueue(&app, "amqp-prompt", "doc-prompt").await;
    let (late_id, late_uuid) = enqueue(&app, "amqp-late", "doc-late").await;
    let (never_id, never_uuid) = enqueue(&app, "amqp-never", "doc-never").await;
    let (refused_id, refused_uuid) = enqueue(&app, "amqp-refusing", "doc-refused").await;
    let (unroutable_id, _) = enqueue(&app, "amqp-unroutable", "doc-unroutable").await;

    let limit = Duration::from_secs(20);
    let (
        (prompt_row, prompt_seen),
        (late_row, late_seen),
        (never_row, never_seen),
        (refused_row, refused_seen),
        (unroutable_row, unroutable_seen),
    ) = tokio::join!(
        track(&app, prompt_id, limit, |row| row.status.as_str() == "done"),
        track(&app, late_id, limit, |row| row.status.as_str() == "done"),
        track(&app, never_id, limit, |row| row.status.as_str()
            == "not_delivered"
            && row.attempts == 2),
        track(&app, refused_id, limit, |row| row.status.as_str()
            == "rejected"),
        track(&app, unroutable_id, limit, |row| row.status.as_str()
            == "failed"),
    );

    assert_transitions(
        "receipt at once",
        &prompt_seen,
        &[("waiting", 0), ("running", 1), ("done", 1)],
    );
    assert_eq!(prompt_row.attempts, 1);
    // The receipt comes 2.5 s after the publish, the attempt gave up at 0.8 s:
    // not delivered for a while, then the late receipt settles it.
    assert_transitions(
        "receipt after the timeout",
        &late_seen,
        &[
            ("waiting", 0),
            ("running", 1),
            ("not_delivered", 1),
            ("done", 1),
        ],
    );
    assert!(
        late_seen.contains(&("not_delivered".to_owned(), 1)),
        "the late message was seen not delivered before its receipt: {late_seen:?}"
    );
    assert_eq!(
        late_row.last_error, None,
        "the late receipt clears the timeout"
    );
    assert_transitions(
        "no receipt ever",
        &never_seen,
        &[
            ("waiting", 0),
            ("running", 1),
            ("not_delivered", 1),
            ("running", 2),
            ("not_delivered", 2),
        ],
    );
    assert!(never_row
        .last_error
        .as_deref()
        .is_some_and(|error| error.contains("no answer")));
    assert_transitions(
        "error receipt",
        &refused_seen,
        &[("waiting", 0), ("running", 1), ("rejected", 1)],
    );
    let refused_error = refused_row.last_error.clone().unwrap_or_default();
    assert!(
        refused_error.contains("PRODUCT_NOT_FOUND"),
        "{refused_error}"
    );
    assert_transitions(
        "no queue bound",
        &unroutable_seen,
        &[("waiting", 0), ("running", 1), ("failed", 1)],
    );
    let unroutable_error = unroutable_row.last_error.clone().unwrap_or_default();
    assert!(
        unroutable_error.contains("no queue takes it"),
        "{unroutable_error}"
    );

    for (id, expected) in [
        (prompt_id, vec!["done"]),
        (late_id, vec!["not_delivered"]),
        (never_id, vec!["not_delivered", "not_delivered"]),
        (refused_id, vec!["rejected"]),
        (unroutable_id, vec!["failed"]),
    ] {
        assert_eq!(
            statuses(&history(&app, id).await),
            expected,
            "history of message {id}"
        );
    }

    // Each destination consumed our UUID once per attempt, the same UUID every time.
    assert_eq!(prompt.received(), vec![prompt_uuid]);
    assert_eq!(late.received(), vec![late_uuid]);
    assert_eq!(never.received(), vec![never_uuid.clone(), never_uuid]);
    assert_eq!(refusing.received(), vec![refused_uuid]);

    assert_eq!(
        app.metric(&attempts_series("amqp-never", "not_delivered"), 2.0)
            .await,
        Some(2.0)
    );
    assert_eq!(
        app.metric(&attempts_series("amqp-prompt", "done"), 1.0)
            .await,
        Some(1.0)
    );

    for destination in [prompt, late, never, refusing] {
        destination.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_settles_only_the_copy_of_the_destination_that_sent_it() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let answering = AmqpDestination::start(AmqpAnswer::Receipt {
        ok: true,
        after: Duration::from_millis(1_000),
    })
    .await;
    let silent = AmqpDestination::start(AmqpAnswer::Never).await;
    import_destinations(
        &app,
        json!([
            http_destination("routed-http", &server.url("/fail"), 5_000, 1),
            amqp_destination(
                "routed-answering",
                &answering.exchange,
                &answering.routing_key,
                10_000,
                1
            ),
            amqp_destination(
                "routed-silent",
                &silent.exchange,
                &silent.routing_key,
                3_000,
                1
            ),
        ]),
    )
    .await;

    // One envelope, routed to all three destinations of its (company, branch,
    // transaction): three copies with one UUID.
    let uuid = new_uuid();
    let created = app
        .db
        .store
        .enqueue_routed(
            COMPANY,
            BRANCH,
            TRANSACTION,
            &uuid,
            &envelope(&uuid, "doc-routed", 1),
            "doc-routed",
        )
        .await
        .expect("enqueue");
    assert_eq!(created, 3);
    let http_id = message_id(&app, "routed-http", &uuid).await;
    let answering_id = message_id(&app, "routed-answering", &uuid).await;
    let silent_id = message_id(&app, "routed-silent", &uuid).await;

    let limit = Duration::from_secs(20);
    let (answered, silent_row) = tokio::join!(
        wait_for(&app, answering_id, limit, |row| row.status.as_str()
            == "done"),
        wait_for(&app, silent_id, limit, |row| row.status.as_str()
            != "waiting"
            && row.status.as_str() != "running"),
    );
    assert_eq!(answered.attempts, 1);
    // The answering destination's receipt (at 1 s) says nothing about the
    // others: the HTTP one answered 500, the silent one never answered.
    let http_row = message(&app, http_id).await;
    assert_eq!(
        (http_row.status.as_str(), http_row.attempts),
        ("failed", 1),
        "{http_row:?}"
    );
    assert_eq!(
        (silent_row.status.as_str(), silent_row.attempts),
        ("not_delivered", 1),
        "{silent_row:?}"
    );
    assert_eq!(
        statuses(&history(&app, silent_id).await),
        vec!["not_delivered"]
    );
    assert_eq!(server.uuids("/fail"), vec![uuid.clone()]);
    assert_eq!(answering.received(), vec![uuid.clone()]);
    assert_eq!(silent.received(), vec![uuid]);
    answering.close().await;
    silent.close().await;
}
