//! The alerts of the store on the backend `EAI_TEST_BACKEND` names: targets
//! set, refused and deleted; the events the triggers write in the
//! transaction of what happened (a message settled for good, a destination
//! blocked, a dead letter recorded); events folded into one alert per
//! target, reason, company and branch, the next one a window later; and the
//! outbox's claims, leases and settlements.

use std::time::Duration;

use chrono::Utc;
use eai_store::alerts::{AlertChannel, AlertFilter, AlertOutcome, AlertTarget, MAX_SAMPLES};
use eai_store::dead_letters::DeadLetterIn;
use eai_store::outbound::{Attempt, Settlement};
use eai_store::testing::TestDatabase;
use eai_store::StoreError;

const SENDER: &str = "sender-1";
const WINDOW: Duration = Duration::from_secs(600);
const LEASE: Duration = Duration::from_secs(60);

fn webhook(name: &str, company: &str, branch: &str) -> AlertTarget {
    AlertTarget {
        name: name.to_owned(),
        company: company.to_owned(),
        branch: branch.to_owned(),
        channel: AlertChannel::Webhook {
            url: "http://127.0.0.1:9/alerts".to_owned(),
            signing_secret_ref: Some("env:EAI_ALERT_KEY".to_owned()),
        },
        language: "en".to_owned(),
        enabled: true,
    }
}

fn email(name: &str) -> AlertTarget {
    AlertTarget {
        name: name.to_owned(),
        company: "C1".to_owned(),
        branch: "B1".to_owned(),
        channel: AlertChannel::Email {
            smtp_host: "smtp.example.com".to_owned(),
            smtp_port: 587,
            smtp_security: "starttls".to_owned(),
            sender: "eai@example.com".to_owned(),
            username: Some("eai".to_owned()),
            password_ref: Some("file:/run/secrets/smtp".to_owned()),
            recipients: vec!["ops@example.com".to_owned()],
            copies: vec!["boss@example.com".to_owned(), "erp@example.com".to_owned()],
        },
        language: "pt".to_owned(),
        enabled: true,
    }
}

/// An HTTP destination of (C1, B1) with `max_attempts`.
async fn destination(db: &TestDatabase, name: &str, max_attempts: i32) {
    sqlx::query(
        "INSERT INTO destinations (name, company, branch, \"transaction\", kind, url, max_attempts)
         VALUES ($1, 'C1', 'B1', 'ItemStock', 'http', 'http://127.0.0.1:9/eai', $2)",
    )
    .bind(name)
    .bind(max_attempts)
    .execute(&db.any().await)
    .await
    .expect("destination configured");
}

/// The pending events as `(reason, company, branch, destination)`, oldest first.
async fn events(db: &TestDatabase) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as("SELECT reason, company, branch, destination FROM alert_events ORDER BY id")
        .fetch_all(&db.any().await)
        .await
        .expect("events")
}

/// Enqueues `uuid` for `name`, claims it and settles its one attempt.
async fn attempt(db: &TestDatabase, name: &str, uuid: &str, settlement: Settlement) {
    db.store
        .enqueue_for(name, uuid, "ItemStock", "{}", uuid)
        .await
        .expect("enqueue");
    let claimed = db.store.claim_messages(SENDER, 10).await.expect("claim");
    let message = claimed
        .iter()
        .find(|message| message.uuid == uuid)
        .expect("claimed");
    let attempt = Attempt {
        message,
        started_at: Utc::now(),
        settlement: &settlement,
        retry_in: Duration::ZERO,
    };
    db.store.settle(SENDER, &[attempt]).await.expect("settle");
}

#[tokio::test]
async fn targets_are_set_replaced_listed_refused_and_deleted() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    store.set_alert_target(&email("ops")).await.expect("set");
    store
        .set_alert_target(&webhook("hook", "", ""))
        .await
        .expect("set");
    let mut changed = email("ops");
    changed.branch = "B2".to_owned();
    changed.enabled = false;
    store.set_alert_target(&changed).await.expect("replace");
    assert_eq!(
        store.alert_targets().await.expect("list"),
        vec![webhook("hook", "", ""), changed.clone()]
    );
    assert_eq!(store.alert_target("ops").await.expect("one"), Some(changed));

    let mut bad = email("bad");
    bad.channel = AlertChannel::Email {
        smtp_host: "smtp.example.com".to_owned(),
        smtp_port: 25,
        smtp_security: "none".to_owned(),
        sender: "eai@example.com".to_owned(),
        username: Some("eai".to_owned()),
        password_ref: Some("hunter2".to_owned()),
        recipients: vec!["ops@example.com".to_owned()],
        copies: Vec::new(),
    };
    match store.set_alert_target(&bad).await {
        Err(StoreError::Refused(problem)) => {
            assert_eq!(problem, "password_ref must be env:NAME or file:/path")
        }
        other => panic!("a secret given as a password is refused, got {other:?}"),
    }
    let mut anonymous = email("anonymous");
    if let AlertChannel::Email { username, .. } = &mut anonymous.channel {
        *username = None;
    }
    match store.set_alert_target(&anonymous).await {
        Err(StoreError::Refused(problem)) => {
            assert_eq!(problem, "username and password_ref go together")
        }
        other => panic!("a password without a user is refused, got {other:?}"),
    }
    let mut nobody = email("nobody");
    if let AlertChannel::Email { recipients, .. } = &mut nobody.channel {
        recipients.clear();
    }
    assert!(matches!(
        store.set_alert_target(&nobody).await,
        Err(StoreError::Refused(_))
    ));

    assert!(store.delete_alert_target("ops").await.expect("delete"));
    assert!(!store.delete_alert_target("ops").await.expect("again"));
    assert_eq!(store.alert_targets().await.expect("list").len(), 1);
}

#[tokio::test]
async fn messages_settled_for_good_blocked_destinations_and_dead_letters_become_events() {
    let db = TestDatabase::create().await;
    destination(&db, "shop", 2).await;
    destination(&db, "erp", 1).await;
    destination(&db, "locked", 3).await;

    attempt(
        &db,
        "shop",
        "U-1",
        Settlement::Failed("HTTP 500".to_owned()),
    )
    .await;
    assert!(
        events(&db).await.is_empty(),
        "a failure with attempts left is no event"
    );
    attempt(&db, "erp", "U-2", Settlement::Failed("HTTP 500".to_owned())).await;
    attempt(
        &db,
        "shop",
        "U-3",
        Settlement::Rejected("HTTP 400".to_owned()),
    )
    .await;
    attempt(
        &db,
        "locked",
        "U-4",
        Settlement::Blocked("HTTP 401".to_owned()),
    )
    .await;
    attempt(&db, "shop", "U-5", Settlement::Done).await;
    db.store
        .record_dead_letter(&DeadLetterIn {
            dead_letter_id: Some("dl-1"),
            uuid: Some("U-6"),
            code: "PROCESSING_FAILED",
            reason: "boom",
            exchange: "eai.in",
            routing_key: "ItemReserve",
            correlation_id: None,
            message_id: None,
            reply_to: None,
            body: b"{}",
        })
        .await
        .expect("dead letter");
    let one = |reason: &str, company: &str, branch: &str, destination: Option<&str>| {
        (
            reason.to_owned(),
            company.to_owned(),
            branch.to_owned(),
            destination.map(str::to_owned),
        )
    };
    assert_eq!(
        events(&db).await,
        vec![
            one("failed", "C1", "B1", Some("erp")),
            one("failed", "C1", "B1", Some("shop")),
            one("blocked", "C1", "B1", Some("locked")),
            one("dead", "", "", None),
        ]
    );
}

#[tokio::test]
async fn events_fold_into_one_alert_per_key_and_the_next_waits_a_window() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    store
        .set_alert_target(&webhook("b1", "C1", "B1"))
        .await
        .expect("set");
    store
        .set_alert_target(&webhook("b2", "C1", "B2"))
        .await
        .expect("set");
    store
        .set_alert_target(&webhook("all", "", ""))
        .await
        .expect("set");
    let mut off = webhook("off", "", "");
    off.enabled = false;
    store.set_alert_target(&off).await.expect("set");
    destination(&db, "shop", 1).await;
    let burst = MAX_SAMPLES + 2;
    for n in 0..burst {
        attempt(
            &db,
            "shop",
            &format!("U-{n}"),
            Settlement::Rejected("HTTP 400".to_owned()),
        )
        .await;
    }

    assert_eq!(
        store.fold_alert_events(WINDOW, 1000).await.expect("fold"),
        burst
    );
    assert!(events(&db).await.is_empty(), "the events are consumed");
    let alerts = store
        .alerts(&AlertFilter {
            status: Some("waiting".to_owned()),
            limit: 10,
        })
        .await
        .expect("alerts");
    let mut targets: Vec<&str> = alerts.iter().map(|alert| alert.target.as_str()).collect();
    targets.sort();
    assert_eq!(
        targets,
        ["all", "b1"],
        "b2 and a disabled target hear nothing"
    );
    let first = &alerts[0];
    assert_eq!(first.events, burst as i32);
    assert_eq!(first.samples.len(), MAX_SAMPLES);
    assert_eq!(first.samples[0].uuid.as_deref(), Some("U-0"));
    assert_eq!(first.samples[0].detail.as_deref(), Some("HTTP 400"));
    assert_eq!(
        (first.company.as_str(), first.branch.as_str()),
        ("C1", "B1")
    );

    // Both are due now; claimed, they are being sent: what comes meanwhile
    // waits for the next window.
    let claimed = store.claim_alerts(10, LEASE).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(store
        .claim_alerts(10, LEASE)
        .await
        .expect("claim")
        .is_empty());
    attempt(
        &db,
        "shop",
        "U-late",
        Settlement::Rejected("HTTP 400".to_owned()),
    )
    .await;
    assert_eq!(
        store.fold_alert_events(WINDOW, 1000).await.expect("fold"),
        1
    );
    for sent in &claimed {
        assert!(store
            .settle_alert(sent.alert.id, 1, &AlertOutcome::Sent)
            .await
            .expect("settle"));
    }
    let waiting = store
        .alerts(&AlertFilter {
            status: Some("waiting".to_owned()),
            limit: 10,
        })
        .await
        .expect("alerts");
    assert_eq!(waiting.len(), 2);
    for next in &waiting {
        let previous = claimed
            .iter()
            .find(|sent| sent.alert.target == next.target)
            .expect("same target");
        assert_eq!(next.events, 1);
        assert_eq!(
            next.window_start - previous.alert.window_start,
            chrono::Duration::from_std(WINDOW).expect("window")
        );
    }
    assert!(
        store
            .claim_alerts(10, LEASE)
            .await
            .expect("claim")
            .is_empty(),
        "not before its window"
    );

    // A third burst joins the alert still waiting for its window.
    attempt(
        &db,
        "shop",
        "U-later",
        Settlement::Rejected("HTTP 400".to_owned()),
    )
    .await;
    store.fold_alert_events(WINDOW, 1000).await.expect("fold");
    let waiting = store
        .alerts(&AlertFilter {
            status: Some("waiting".to_owned()),
            limit: 10,
        })
        .await
        .expect("alerts");
    assert_eq!(
        waiting.iter().map(|alert| alert.events).collect::<Vec<_>>(),
        [2, 2]
    );
    assert_eq!(
        store
            .alerts(&AlertFilter {
                status: Some("sent".to_owned()),
                limit: 10,
            })
            .await
            .expect("alerts")
            .len(),
        2
    );

    // Past the retention window, the alerts sent go; those waiting stay.
    let purged = store.purge(Duration::ZERO, 100).await.expect("purge");
    assert!(purged.history >= 2, "{purged:?}");
    let left = store
        .alerts(&AlertFilter {
            status: None,
            limit: 10,
        })
        .await
        .expect("alerts");
    assert_eq!(
        left.iter()
            .map(|alert| alert.status.as_str())
            .collect::<Vec<_>>(),
        ["waiting", "waiting"]
    );
}

#[tokio::test]
async fn a_claimed_alert_is_retried_after_a_failure_and_given_up_on_when_told() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    store.set_alert_target(&email("ops")).await.expect("set");
    assert!(store
        .enqueue_test_alert("nobody", LEASE)
        .await
        .expect("test")
        .is_none());
    let claimed = store
        .enqueue_test_alert("ops", LEASE)
        .await
        .expect("test")
        .expect("known target");
    let id = claimed.alert.id;
    assert_eq!(claimed.target, email("ops"));
    assert_eq!(claimed.alert.reason, "test");
    assert_eq!(claimed.alert.attempts, 1, "claimed by whoever asked");
    assert!(
        store
            .claim_alerts(10, LEASE)
            .await
            .expect("claim")
            .is_empty(),
        "no one else takes it"
    );
    assert!(
        !store
            .settle_alert(id, 2, &AlertOutcome::Sent)
            .await
            .expect("settle"),
        "another attempt's settlement is refused"
    );
    assert!(store
        .settle_alert(
            id,
            1,
            &AlertOutcome::Retry("connection refused".to_owned(), Duration::ZERO)
        )
        .await
        .expect("settle"));

    let again = store.claim_alerts(10, LEASE).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].alert.attempts, 2);
    assert_eq!(
        again[0].alert.last_error.as_deref(),
        Some("connection refused")
    );
    assert!(store
        .settle_alert(id, 2, &AlertOutcome::Failed("still refused".to_owned()))
        .await
        .expect("settle"));
    assert!(store
        .claim_alerts(10, LEASE)
        .await
        .expect("claim")
        .is_empty());
    let failed = store
        .alerts(&AlertFilter {
            status: Some("failed".to_owned()),
            limit: 10,
        })
        .await
        .expect("alerts");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("still refused"));
    assert_eq!(failed[0].sent_at, None);
}

#[tokio::test]
async fn an_alert_whose_sender_died_is_claimed_again_when_its_lease_expires() {
    let db = TestDatabase::create().await;
    let store = &db.store;
    store.set_alert_target(&email("ops")).await.expect("set");
    let short = Duration::from_millis(200);
    let id = store
        .enqueue_test_alert("ops", short)
        .await
        .expect("test")
        .expect("known target")
        .alert
        .id;
    assert!(store
        .claim_alerts(1, short)
        .await
        .expect("claim")
        .is_empty());
    tokio::time::sleep(short * 2).await;
    let again = store.claim_alerts(1, short).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].alert.id, id);
    assert_eq!(again[0].alert.attempts, 2);
    assert!(!store
        .settle_alert(id, 1, &AlertOutcome::Sent)
        .await
        .expect("settle"));
    assert!(store
        .settle_alert(id, 2, &AlertOutcome::Sent)
        .await
        .expect("settle"));
}
