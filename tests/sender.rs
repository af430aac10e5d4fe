//! The sender end to end (SPEC §8): business messages in the outbox delivered
//! to a real destination — a local HTTP server — with every status transition
//! and attempt visible in the database, the attempt history and `/metrics`.
//! These run on either backend (`EAI_TEST_BACKEND`); the AMQP destinations,
//! which need the broker, are in `sender_amqp.rs`.
//!
//! Timing comes from the harness settings: senders poll every 200 ms and retry
//! after 100 ms doubling up to 1 s (with jitter). Waits are bounded polls of
//! the database or of what a destination received.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use eai::app::{self, Role};
use eai_store::log::{Acted, Direction, ItemId, LogEntry, LogFilter, Status};
use eai_store::testing::TestBackend;
use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::sending::{
    assert_transitions, attempts_series, enqueue, enqueue_with, envelope, history,
    http_destination, import_destinations, message, message_id, new_uuid, statuses, track,
    wait_for, BRANCH, COMPANY, TRANSACTION,
};
use eai_tests::{spawn_app, spawn_app_with, TestApp};
use serde_json::json;
use sqlx::Connection;

/// Enqueues `messages` (UUID, document, sequence) for every destination of
/// the test route in one transaction of the test's own, as a business
/// transaction writes its events, on whichever backend the test runs;
/// returns how many outbox rows each message made. On SQLite the
/// transaction begins IMMEDIATE, as the store's own do, and the worker sees
/// it at its next poll (another connection's commit wakes nobody).
async fn enqueue_routed_together(app: &TestApp, messages: &[(String, String, usize)]) -> Vec<u64> {
    async fn each(
        conn: &mut eai_store::Conn<'_>,
        messages: &[(String, String, usize)],
    ) -> Vec<u64> {
        let mut created = Vec::new();
        for (uuid, document, sequence) in messages {
            created.push(
                eai_store::outbound::enqueue_routed(
                    conn,
                    COMPANY,
                    BRANCH,
                    TRANSACTION,
                    uuid,
                    &envelope(uuid, document, *sequence),
                    document,
                )
                .await
                .expect("enqueue in the transaction"),
            );
        }
        created
    }
    match app.db.backend() {
        TestBackend::Postgres => {
            let mut tx = app.db.pool().begin().await.expect("transaction");
            let created = each(&mut eai_store::Conn::Postgres(&mut tx), messages).await;
            tx.commit().await.expect("commit");
            created
        }
        TestBackend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url())
                .await
                .expect("the test's own SQLite connection");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("transaction");
            let created = each(&mut eai_store::Conn::Sqlite(&mut conn), messages).await;
            sqlx::query("COMMIT")
                .execute(&mut conn)
                .await
                .expect("commit");
            conn.close().await.expect("closed");
            created
        }
    }
}

/// A timestamp column as `CAST(column AS TEXT)` reads it on either backend:
/// PostgreSQL's `2024-05-02 10:00:00.123456+00`, SQLite's RFC 3339.
fn timestamp(text: &str) -> DateTime<Utc> {
    let text = text.replacen('T', " ", 1);
    let text = match text.strip_suffix('Z') {
        Some(utc) => format!("{utc}+00:00"),
        None => text,
    };
    DateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .unwrap_or_else(|error| panic!("{text:?} is not a timestamp: {error}"))
        .with_timezone(&Utc)
}

/// `claimed_by` and a timestamp column of outbox message `id`.
async fn claim(app: &TestApp, id: i64, column: &str) -> (String, DateTime<Utc>) {
    let rows: Vec<(String, String)> = app
        .rows(&format!(
            "SELECT claimed_by, CAST({column} AS TEXT) FROM outbox WHERE id = {id}"
        ))
        .await;
    let [(claimed_by, at)] = rows.as_slice() else {
        panic!("message {id}: {rows:?}");
    };
    (claimed_by.clone(), timestamp(at))
}

/// Outbound messages as `eai messages list --direction out` lists them.
async fn outbound(app: &TestApp, filter: LogFilter) -> Vec<LogEntry> {
    let filter = LogFilter {
        direction: Some(Direction::Out),
        limit: 50,
        ..filter
    };
    app.db.store.messages(&filter).await.expect("list").items
}

/// An operator's retry (`eai messages retry out-N`).
async fn retry(app: &TestApp, id: i64) -> Acted {
    app.db
        .store
        .retry_outbound(ItemId::Outbound(id), "tester", "")
        .await
        .expect("retry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_destinations_show_each_status_transition_and_attempt_count() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour {
        slow: Duration::from_secs(3),
        flaky_failures: 2,
        auth: None,
    })
    .await;
    import_destinations(
        &app,
        json!([
            http_destination("http-ok", &server.url("/ok"), 5_000, 4),
            http_destination("http-fail", &server.url("/fail"), 5_000, 3),
            http_destination("http-slow", &server.url("/slow"), 1_000, 2),
            http_destination("http-error", &server.url("/error-receipt"), 5_000, 4),
            http_destination("http-flaky", &server.url("/flaky"), 5_000, 4),
        ]),
    )
    .await;

    let (ok, ok_uuid) = enqueue(&app, "http-ok", "doc-ok").await;
    let (fail, fail_uuid) = enqueue(&app, "http-fail", "doc-fail").await;
    let (slow, slow_uuid) = enqueue(&app, "http-slow", "doc-slow").await;
    let (error, error_uuid) = enqueue(&app, "http-error", "doc-error").await;
    let (flaky, flaky_uuid) = enqueue(&app, "http-flaky", "doc-flaky").await;

    let limit = Duration::from_secs(20);
    let (
        (ok_row, ok_seen),
        (fail_row, fail_seen),
        (slow_row, slow_seen),
        (error_row, error_seen),
        (flaky_row, flaky_seen),
    ) = tokio::join!(
        track(&app, ok, limit, |row| row.status.as_str() == "done"),
        track(&app, fail, limit, |row| row.status.as_str() == "failed"
            && row.attempts == 3),
        track(&app, slow, limit, |row| row.status.as_str()
            == "not_delivered"
            && row.attempts == 2),
        track(&app, error, limit, |row| row.status.as_str() == "rejected"),
        track(&app, flaky, limit, |row| row.status.as_str() == "done"),
    );

    assert_transitions(
        "200 + ok receipt",
        &ok_seen,
        &[("waiting", 0), ("running", 1), ("done", 1)],
    );
    assert_transitions(
        "500 until max_attempts",
        &fail_seen,
        &[
            ("waiting", 0),
            ("running", 1),
            ("failed", 1),
            ("running", 2),
            ("failed", 2),
            ("running", 3),
            ("failed", 3),
        ],
    );
    assert_transitions(
        "slower than the timeout",
        &slow_seen,
        &[
            ("waiting", 0),
            ("running", 1),
            ("not_delivered", 1),
            ("running", 2),
            ("not_delivered", 2),
        ],
    );
    assert!(
        slow_seen.contains(&("running".to_owned(), 1)),
        "a 1 s attempt is seen running: {slow_seen:?}"
    );
    assert_transitions(
        "error receipt",
        &error_seen,
        &[("waiting", 0), ("running", 1), ("rejected", 1)],
    );
    assert_transitions(
        "500, 500, then ok",
        &flaky_seen,
        &[
            ("waiting", 0),
            ("running", 1),
            ("failed", 1),
            ("running", 2),
            ("failed", 2),
            ("running", 3),
            ("done", 3),
        ],
    );

    assert_eq!(ok_row.last_error, None);
    assert_eq!(flaky_row.last_error, None, "done clears the last error");
    let fail_error = fail_row.last_error.clone().unwrap_or_default();
    assert!(fail_error.contains("500"), "{fail_error}");
    let slow_error = slow_row.last_error.clone().unwrap_or_default();
    assert!(slow_error.contains("no answer"), "{slow_error}");
    let error_error = error_row.last_error.clone().unwrap_or_default();
    assert!(
        error_error.contains("error receipt") && error_error.contains("PRODUCT_NOT_FOUND"),
        "{error_error}"
    );

    // The attempt history, as `eai messages show` prints it.
    for (id, expected) in [
        (ok, vec!["done"]),
        (fail, vec!["failed", "failed", "failed"]),
        (slow, vec!["not_delivered", "not_delivered"]),
        (error, vec!["rejected"]),
        (flaky, vec!["failed", "failed", "done"]),
    ] {
        let attempts = history(&app, id).await;
        assert_eq!(statuses(&attempts), expected, "history of message {id}");
        let numbers: Vec<i32> = attempts.iter().map(|attempt| attempt.attempt).collect();
        let in_order: Vec<i32> = (1..=i32::try_from(expected.len()).expect("few")).collect();
        assert_eq!(
            numbers, in_order,
            "attempts of message {id} are numbered in order"
        );
        for attempt in &attempts {
            assert!(attempt.sender.starts_with("EAIWORKER-"), "{attempt:?}");
            assert!(attempt.started_at <= attempt.finished_at, "{attempt:?}");
        }
    }
    for attempt in history(&app, slow).await {
        let took = attempt.finished_at - attempt.started_at;
        assert!(
            took >= chrono::Duration::milliseconds(900),
            "a timed-out attempt lasted its timeout: {attempt:?}"
        );
    }

    // Each destination saw exactly its attempts, always with the same UUID.
    assert_eq!(server.uuids("/ok"), vec![ok_uuid.clone()]);
    assert_eq!(server.uuids("/fail"), vec![fail_uuid.clone(); 3]);
    assert_eq!(server.uuids("/slow"), vec![slow_uuid.clone(); 2]);
    assert_eq!(server.uuids("/error-receipt"), vec![error_uuid.clone()]);
    assert_eq!(server.uuids("/flaky"), vec![flaky_uuid.clone(); 3]);

    // Nothing is due any more: failed and not delivered stay so until an operator retries.
    assert_eq!(
        app.db
            .store
            .next_retry_at()
            .await
            .expect("next retry query"),
        None
    );

    // The operator's listing (`eai messages list`), newest first and filtered.
    let all = outbound(&app, LogFilter::default()).await;
    let listed: Vec<(ItemId, &str, i32)> = all
        .iter()
        .map(|row| (row.id, row.status.as_str(), row.attempts))
        .collect();
    assert_eq!(
        listed,
        vec![
            (ItemId::Outbound(flaky), "done", 3),
            (ItemId::Outbound(error), "rejected", 1),
            (ItemId::Outbound(slow), "not_delivered", 2),
            (ItemId::Outbound(fail), "failed", 3),
            (ItemId::Outbound(ok), "done", 1),
        ]
    );
    let failed = outbound(
        &app,
        LogFilter {
            status: Some(Status::Failed),
            ..LogFilter::default()
        },
    )
    .await;
    assert_eq!(
        failed
            .iter()
            .map(|row| (row.id, row.destination.as_deref()))
            .collect::<Vec<_>>(),
        vec![(ItemId::Outbound(fail), Some("http-fail"))]
    );
    let to_slow = outbound(
        &app,
        LogFilter {
            destination: Some("http-slow".to_owned()),
            transaction: Some(TRANSACTION.to_owned()),
            ..LogFilter::default()
        },
    )
    .await;
    assert_eq!(to_slow.len(), 1);
    assert_eq!(to_slow[0].uuid, slow_uuid);

    // Every attempt is counted on /metrics by destination and status.
    for (destination, status, count) in [
        ("http-ok", "done", 1.0),
        ("http-fail", "failed", 3.0),
        ("http-slow", "not_delivered", 2.0),
        ("http-error", "rejected", 1.0),
        ("http-flaky", "failed", 2.0),
        ("http-flaky", "done", 1.0),
    ] {
        let series = attempts_series(destination, status);
        assert_eq!(app.metric(&series, count).await, Some(count), "{series}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_document_reach_a_destination_in_enqueue_order() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    import_destinations(
        &app,
        json!([http_destination(
            "http-orders",
            &server.url("/ok"),
            5_000,
            5
        )]),
    )
    .await;

    // Document A's first message fails three times; document B's go meanwhile.
    let a: Vec<String> = (0..4).map(|_| new_uuid()).collect();
    let b: Vec<String> = (0..3).map(|_| new_uuid()).collect();
    server.fail_first(&a[0], 3);
    let mut ids = Vec::new();
    for (index, uuid) in a.iter().enumerate() {
        ids.push(enqueue_with(&app, "http-orders", uuid, "A", index).await);
        if let Some(uuid) = b.get(index) {
            ids.push(enqueue_with(&app, "http-orders", uuid, "B", index).await);
        }
    }
    for id in &ids {
        wait_for(&app, *id, Duration::from_secs(20), |row| {
            row.status.as_str() == "done"
        })
        .await;
    }

    let received = server.uuids("/ok");
    let of = |document: &[String]| -> Vec<String> {
        received
            .iter()
            .filter(|uuid| document.contains(uuid))
            .cloned()
            .collect()
    };
    let mut expected_a = vec![a[0].clone(); 4];
    expected_a.extend(a[1..].iter().cloned());
    assert_eq!(
        of(&a),
        expected_a,
        "A: its first message until accepted, then the rest in order"
    );
    assert_eq!(of(&b), b, "B in order");
    // B is not held behind A's failing message: its first message goes out
    // at once, while A's waits out at least three backoffs (100+200+400 ms).
    let position = |uuid: &String, nth: usize| {
        received
            .iter()
            .enumerate()
            .filter(|(_, received)| *received == uuid)
            .nth(nth)
            .map(|(position, _)| position)
            .expect("received")
    };
    assert!(
        position(&b[0], 0) < position(&a[0], 3),
        "B went out before A's first message was accepted: {received:?}"
    );
    let first = message_id(&app, "http-orders", &a[0]).await;
    assert_eq!(
        statuses(&history(&app, first).await),
        vec!["failed", "failed", "failed", "done"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retry_resets_the_attempts_and_the_message_goes_out() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour {
        flaky_failures: 3,
        ..HttpBehaviour::default()
    })
    .await;
    import_destinations(
        &app,
        json!([http_destination(
            "http-retry",
            &server.url("/flaky/retry"),
            5_000,
            3
        )]),
    )
    .await;
    let (id, uuid) = enqueue(&app, "http-retry", "doc-retry").await;

    let failed = wait_for(&app, id, Duration::from_secs(20), |row| {
        row.status.as_str() == "failed" && row.attempts == 3
    })
    .await;
    assert!(failed
        .last_error
        .as_deref()
        .is_some_and(|error| error.contains("500")));
    assert_eq!(
        app.db.store.next_retry_at().await.expect("next retry"),
        None,
        "out of attempts: nothing is due until an operator retries"
    );

    assert_eq!(retry(&app, id).await, Acted::Done);
    let done = wait_for(&app, id, Duration::from_secs(20), |row| {
        row.status.as_str() == "done"
    })
    .await;
    assert_eq!(done.attempts, 1, "the retry reset the attempts");
    assert_eq!(done.last_error, None);
    assert_eq!(
        server.uuids("/flaky/retry"),
        vec![uuid; 4],
        "same UUID throughout"
    );
    assert!(
        matches!(retry(&app, id).await, Acted::Refused(_)),
        "a delivered message is not retried"
    );

    // `eai messages show` keeps the whole history: the three failures before
    // the operator's retry and the delivery after it.
    let attempts = history(&app, id).await;
    assert_eq!(
        statuses(&attempts),
        vec!["failed", "failed", "failed", "done"],
        "history after an operator retry: {attempts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_blocks_the_destination_once_and_new_credentials_release_its_messages() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour {
        auth: Some(("X-Api-Key".to_owned(), "fresh-secret".to_owned())),
        ..HttpBehaviour::default()
    })
    .await;
    let locked = |secret: &str| {
        let mut row = http_destination("http-locked", &server.url("/unauthorized"), 5_000, 4);
        row["auth_header"] = json!("X-Api-Key");
        row["auth_value"] = json!(secret);
        json!([row])
    };
    import_destinations(&app, locked("stale-secret")).await;

    // Three messages written in one business transaction, claimed together.
    let first: Vec<String> = (0..3).map(|_| new_uuid()).collect();
    let together: Vec<(String, String, usize)> = first
        .iter()
        .enumerate()
        .map(|(index, uuid)| (uuid.clone(), format!("doc-{index}"), index))
        .collect();
    assert_eq!(
        enqueue_routed_together(&app, &together).await,
        vec![1; 3],
        "the route has one destination"
    );
    let mut ids = Vec::new();
    for uuid in &first {
        ids.push(message_id(&app, "http-locked", uuid).await);
    }

    // Blocked, with nothing left in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let destination = app
            .db
            .store
            .destination("http-locked")
            .await
            .expect("destination query")
            .expect("destination exists");
        let mut rows = Vec::new();
        for id in &ids {
            rows.push(message(&app, *id).await);
        }
        if destination.blocked && rows.iter().all(|row| row.status.as_str() != "running") {
            let reason = destination.blocked_reason.unwrap_or_default();
            assert!(reason.contains("401"), "{reason}");
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "not blocked: {destination:?} {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempted: Vec<&LogEntry> = rows
        .iter()
        .filter(|row| row.status.as_str() == "blocked")
        .collect();
    assert!(!attempted.is_empty());
    for row in &rows {
        assert!(
            matches!(
                (row.status.as_str(), row.attempts),
                ("blocked", 0) | ("waiting", 0)
            ),
            "blocked (which is no failed attempt) or never attempted: {row:?}"
        );
    }
    let refused = server.received();
    assert_eq!(
        refused.len(),
        attempted.len(),
        "no retry storm: {refused:?}"
    );
    assert!(refused
        .iter()
        .all(|request| request.status == 401 && request.auth.as_deref() == Some("stale-secret")));
    let blocked_series = r#"eai_destinations_blocked_total{destination="http-locked"}"#;
    assert_eq!(
        app.metric(blocked_series, 1.0).await,
        Some(1.0),
        "one alert"
    );
    assert_eq!(
        app.metric(
            &attempts_series("http-locked", "blocked"),
            attempted.len() as f64
        )
        .await,
        Some(attempted.len() as f64)
    );

    // Messages enqueued while it is blocked wait, unattempted.
    let (later, _) = enqueue(&app, "http-locked", "doc-later").await;
    let (last, _) = enqueue(&app, "http-locked", "doc-last").await;
    ids.push(later);
    ids.push(last);
    assert_eq!(
        app.db.store.next_retry_at().await.expect("next retry"),
        None
    );
    // Watch for a little over two poll intervals plus the longest backoff: nothing moves.
    let watch_until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < watch_until {
        for id in [later, last] {
            let row = message(&app, id).await;
            assert_eq!(
                (row.status.as_str(), row.attempts),
                ("waiting", 0),
                "{row:?}"
            );
        }
        assert_eq!(server.received().len(), refused.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The same stale credentials keep it blocked; new ones release everything.
    import_destinations(&app, locked("stale-secret")).await;
    let still = app
        .db
        .store
        .destination("http-locked")
        .await
        .expect("query")
        .expect("exists");
    assert!(
        still.blocked,
        "re-importing the refused credentials does not unblock"
    );
    import_destinations(&app, locked("fresh-secret")).await;
    let unblocked = app
        .db
        .store
        .destination("http-locked")
        .await
        .expect("query")
        .expect("exists");
    assert!(!unblocked.blocked);

    for id in &ids {
        wait_for(&app, *id, Duration::from_secs(20), |row| {
            row.status.as_str() == "done"
        })
        .await;
    }
    let all = server.received();
    let delivered: Vec<_> = all[refused.len()..].to_vec();
    assert!(
        delivered
            .iter()
            .all(|request| request.status == 200 && request.auth.as_deref() == Some("fresh-secret")),
        "{delivered:?}"
    );
    let delivered_uuids: HashSet<&str> = delivered
        .iter()
        .map(|request| request.uuid.as_str())
        .collect();
    assert_eq!(
        delivered.len(),
        5,
        "each message delivered once: {delivered:?}"
    );
    assert_eq!(delivered_uuids.len(), 5);
    for row in &rows {
        let expected = if row.status.as_str() == "blocked" {
            vec!["blocked", "done"]
        } else {
            vec!["done"]
        };
        assert_eq!(
            statuses(&history(&app, row.id.number()).await),
            expected,
            "{row:?}"
        );
    }
    for id in [later, last] {
        assert_eq!(statuses(&history(&app, id).await), vec!["done"]);
    }
    assert_eq!(
        app.metric(blocked_series, 1.0).await,
        Some(1.0),
        "still one alert after the unblock"
    );
    // Unblocked by new credentials like `eai destinations unblock` does:
    // no stale reason left on an active destination.
    assert_eq!(
        unblocked.blocked_reason, None,
        "an unblocked destination keeps no block reason"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_blocked_on_its_last_allowed_attempt_goes_out_after_an_unblock() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour {
        auth: Some(("X-Api-Key".to_owned(), "fresh-secret".to_owned())),
        ..HttpBehaviour::default()
    })
    .await;
    let destination = |path: &str| {
        let mut row = http_destination("http-last", &server.url(path), 5_000, 1);
        row["auth_header"] = json!("X-Api-Key");
        row["auth_value"] = json!("stale-secret");
        json!([row])
    };
    import_destinations(&app, destination("/unauthorized")).await;
    let (first, first_uuid) = enqueue(&app, "http-last", "doc-1").await;
    let blocked = wait_for(&app, first, Duration::from_secs(20), |row| {
        row.status.as_str() == "blocked"
    })
    .await;
    assert_eq!(blocked.attempts, 0, "being blocked is not a failed attempt");
    let (second, second_uuid) = enqueue(&app, "http-last", "doc-1").await;

    // The operator fixes the destination's side (here: its address) and
    // unblocks it; the credentials did not change, so the import alone does not.
    import_destinations(&app, destination("/ok")).await;
    assert_eq!(
        message(&app, second).await.status.as_str(),
        "waiting",
        "behind the blocked message of its document"
    );
    assert_eq!(
        app.db
            .store
            .unblock_destination("http-last")
            .await
            .expect("unblock"),
        Some(1)
    );
    for id in [first, second] {
        let done = wait_for(&app, id, Duration::from_secs(20), |row| {
            row.status.as_str() == "done"
        })
        .await;
        assert_eq!(done.attempts, 1);
    }
    assert_eq!(
        server.uuids("/ok"),
        vec![first_uuid, second_uuid],
        "the document's order is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sender_is_woken_by_a_new_message_not_by_its_poll() {
    let app = spawn_app_with(|settings| settings.sender.poll = Duration::from_millis(120000)).await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    import_destinations(
        &app,
        json!([http_destination("http-woken", &server.url("/ok"), 5_000, 2)]),
    )
    .await;
    // Long enough for the sender to find nothing and wait for a wake-up.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (id, _) = enqueue(&app, "http-woken", "doc-woken").await;
    // Within 10 s, where the poll alone would take 120.
    wait_for(&app, id, Duration::from_secs(10), |row| {
        row.status.as_str() == "done"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_may_retry_any_message_not_done() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    import_destinations(
        &app,
        json!([http_destination(
            "http-any",
            &server.url("/error-receipt"),
            5_000,
            2
        )]),
    )
    .await;
    let (id, _) = enqueue(&app, "http-any", "doc-any").await;
    wait_for(&app, id, Duration::from_secs(20), |row| {
        row.status.as_str() == "rejected"
    })
    .await;
    // Point it somewhere that accepts, then retry the rejected message.
    import_destinations(
        &app,
        json!([http_destination("http-any", &server.url("/ok"), 5_000, 2)]),
    )
    .await;
    assert_eq!(retry(&app, id).await, Acted::Done);
    let done = wait_for(&app, id, Duration::from_secs(20), |row| {
        row.status.as_str() == "done"
    })
    .await;
    assert_eq!(done.attempts, 1, "the retry gave it its attempts back");
    assert!(
        matches!(retry(&app, id).await, Acted::Refused(_)),
        "a message done is not sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_send_leaves_its_message_to_another_after_the_lease() {
    let mut app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour {
        slow: Duration::from_secs(60),
        ..HttpBehaviour::default()
    })
    .await;
    // Lease = 3 s timeout + 30 s margin.
    import_destinations(
        &app,
        json!([http_destination(
            "http-hold",
            &server.url("/slow-once"),
            3_000,
            4
        )]),
    )
    .await;
    let (id, uuid) = enqueue(&app, "http-hold", "doc-hold").await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while server.uuids("/slow-once").is_empty() {
        assert!(Instant::now() < deadline, "the first sender never posted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (dead_sender, lease_until) = claim(&app, id, "lease_until").await;
    app.kill();
    let killed_at = Utc::now();
    let held = message(&app, id).await;
    assert_eq!((held.status.as_str(), held.attempts), ("running", 1));
    assert!(
        lease_until - killed_at > chrono::Duration::seconds(25),
        "the lease covers the timeout and the margin: {lease_until} vs {killed_at}"
    );

    let other = app::start(&app.settings, Some(Role::Sender))
        .await
        .expect("a second sender starts");
    let done = wait_for(&app, id, Duration::from_secs(60), |row| {
        row.status.as_str() == "done"
    })
    .await;
    assert_eq!(done.attempts, 2);
    let (claimed_by, sent_at) = claim(&app, id, "sent_at").await;
    assert_ne!(claimed_by, dead_sender, "another sender completed it");
    assert!(
        sent_at >= lease_until,
        "nobody took it while the dead sender's lease held: sent {sent_at}, lease {lease_until}"
    );
    let attempts = history(&app, id).await;
    let last = attempts.last().expect("an attempt was recorded");
    assert_eq!((last.attempt, last.status.as_str()), (2, "done"));
    assert_eq!(last.sender, claimed_by);
    assert!(
        attempts
            .iter()
            .all(|attempt| attempt.sender != dead_sender || attempt.status != Status::Done),
        "{attempts:?}"
    );
    assert_eq!(
        server.uuids("/slow-once"),
        vec![uuid.clone(), uuid],
        "same UUID again"
    );

    other.shutdown().await.expect("graceful shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_drain_10000_messages_none_lost_none_applied_twice() {
    const TOTAL: usize = 10_000;
    const DOCUMENTS: usize = 500;
    let mut app = spawn_app().await;
    // The harness worker would be a third sender.
    app.stop().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    import_destinations(
        &app,
        json!([http_destination(
            "http-drain",
            &server.url("/ok"),
            10_000,
            4
        )]),
    )
    .await;

    // Every tenth message is answered 500 the first time, so retries mix in.
    let uuids: Vec<String> = (0..TOTAL).map(|_| new_uuid()).collect();
    for uuid in uuids.iter().step_by(10) {
        server.fail_first(uuid, 1);
    }
    let retried = TOTAL.div_ceil(10);
    let document_of = |index: usize| format!("doc-{}", index % DOCUMENTS);
    let messages: Vec<(String, String, usize)> = uuids
        .iter()
        .enumerate()
        .map(|(index, uuid)| (uuid.clone(), document_of(index), index))
        .collect();
    enqueue_routed_together(&app, &messages).await;

    // Two independent senders, each with its own pool, LISTEN connection,
    // broker connection and sender id, sized like production (the default
    // pool of 10 connections rather than the harness's 6).
    let mut settings = app.settings.clone();
    settings.database.max_connections = 10;
    let started = Instant::now();
    let first = app::start(&settings, Some(Role::Sender))
        .await
        .expect("first sender starts");
    let second = app::start(&settings, Some(Role::Sender))
        .await
        .expect("second sender starts");
    // A guard against a stall, not a timing assertion: it trips only when no
    // message settled for a whole minute, however loaded the machine is.
    let mut progress = (0_i64, Instant::now());
    loop {
        let counts: Vec<(String, i64)> = app
            .rows(
                "SELECT status, count(*) FROM outbox WHERE kind = 'message' GROUP BY status ORDER BY status",
            )
            .await;
        if counts == vec![("done".to_owned(), TOTAL as i64)] {
            break;
        }
        let done = counts
            .iter()
            .find(|(status, _)| status == "done")
            .map_or(0, |(_, count)| *count);
        if done > progress.0 {
            progress = (done, Instant::now());
        }
        assert!(
            progress.1.elapsed() < Duration::from_secs(60),
            "the drain stalled: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "two senders drained {TOTAL} messages ({retried} of them retried once, {} requests) in {:.1} s: {:.0} messages/s",
        TOTAL + retried,
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64()
    );
    first.shutdown().await.expect("first sender stops");
    second.shutdown().await.expect("second sender stops");

    let received = server.received();
    assert_eq!(received.len(), TOTAL + retried, "one request per attempt");
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        if request.status == 200 {
            *accepted.entry(request.uuid.as_str()).or_default() += 1;
        }
    }
    let expected: HashSet<&str> = uuids.iter().map(String::as_str).collect();
    assert_eq!(accepted.len(), TOTAL, "every message accepted (none lost)");
    assert!(
        accepted.keys().all(|uuid| expected.contains(uuid)),
        "only our UUIDs"
    );
    let twice: Vec<_> = accepted.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");

    // Per document, the destination saw the messages in enqueue order (a
    // retried message repeats in place, never after its successor).
    let index_of: HashMap<&str, usize> = uuids
        .iter()
        .enumerate()
        .map(|(index, uuid)| (uuid.as_str(), index))
        .collect();
    let mut per_document: HashMap<usize, Vec<usize>> = HashMap::new();
    for request in &received {
        let index = index_of[request.uuid.as_str()];
        let seen = per_document.entry(index % DOCUMENTS).or_default();
        if seen.last() != Some(&index) {
            seen.push(index);
        }
    }
    for (document, seen) in &per_document {
        let in_order: Vec<usize> = (0..TOTAL)
            .filter(|index| index % DOCUMENTS == *document)
            .collect();
        assert_eq!(seen, &in_order, "order of doc-{document}");
    }

    let totals: Vec<(i64, i64, i64)> = app
        .rows(
            "SELECT CAST((SELECT sum(attempts) FROM outbox) AS BIGINT),
                    count(DISTINCT sender), count(*)
               FROM outbox_attempts",
        )
        .await;
    let [(attempts, senders, recorded)] = totals[..] else {
        panic!("attempt totals: {totals:?}");
    };
    assert_eq!(attempts, (TOTAL + retried) as i64);
    assert_eq!(
        recorded,
        (TOTAL + retried) as i64,
        "every attempt in the history"
    );
    assert_eq!(senders, 2, "both senders took part");
}
