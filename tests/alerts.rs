//! E-mail and webhook alerts from a running worker, on the backend
//! `EAI_TEST_BACKEND` names: a burst of failures of one branch is one e-mail
//! to an SMTP sink (To the recipients, Cc the copy list) naming how many,
//! and a second burst waits for the next window; a blocked destination
//! reaches a webhook whose HMAC signature verifies; the test alert of the
//! CLI and the API reaches the sink, and against a closed port fails saying
//! why; an alert that could not be sent before a crash is sent after the
//! restart; a password reference that resolves to nothing is named, a
//! resolved password (a mounted file) is used and never shown.

use std::time::Duration;

use eai::config::Settings;
use eai_store::alerts::{AlertChannel, AlertTarget};
use eai_tests::alert_sinks::{closed_addr, SmtpSink, WebhookReceiver};
use eai_tests::api::{call_at, Answer};
use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::sending::{enqueue, http_destination, import_destinations, BRANCH, COMPANY};
use eai_tests::{spawn_app_with, TestApp, OPERATOR_TOKEN, VIEWER_TOKEN};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const INTERVAL: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(20);

/// Alerts grouped every 2 s, one per key every 5 s, quick retries.
fn quick_alerts(settings: &mut Settings) {
    settings.alerts.interval = INTERVAL;
    settings.alerts.check_every = Duration::from_secs(2);
    settings.alerts.retry_min = Duration::from_millis(200);
    settings.alerts.retry_max = Duration::from_millis(500);
    settings.alerts.max_attempts = 50;
    settings.alerts.timeout = Duration::from_secs(3);
}

/// An English e-mail target of the sender tests' branch, at `smtp`, with no TLS.
fn email_target(name: &str, smtp: std::net::SocketAddr) -> AlertTarget {
    AlertTarget {
        name: name.to_owned(),
        company: COMPANY.to_owned(),
        branch: BRANCH.to_owned(),
        channel: AlertChannel::Email {
            smtp_host: smtp.ip().to_string(),
            smtp_port: smtp.port(),
            smtp_security: "none".to_owned(),
            sender: "eai@example.com".to_owned(),
            username: None,
            password_ref: None,
            recipients: vec!["ops@example.com".to_owned(), "duty@example.com".to_owned()],
            copies: vec!["boss@example.com".to_owned(), "erp@example.com".to_owned()],
        },
        language: "en".to_owned(),
        enabled: true,
    }
}

/// A destination that rejects every message (an error receipt), and `count` messages to it.
async fn rejected_messages(app: &TestApp, server: &HttpDestination, count: usize) -> Vec<String> {
    import_destinations(
        app,
        json!([http_destination(
            "rejecting",
            &server.url("/error-receipt"),
            30_000,
            1
        )]),
    )
    .await;
    // Answered together once all have arrived, so the alerts' pass that
    // sees the first rejection sees them all, however slowly they were enqueued.
    let before = server.uuids("/error-receipt").len();
    server.hold();
    let mut uuids = Vec::new();
    for n in 0..count {
        uuids.push(
            enqueue(
                app,
                "rejecting",
                &format!("doc-{n}-{}", uuid::Uuid::new_v4()),
            )
            .await
            .1,
        );
    }
    let arrived = server
        .wait_for_requests("/error-receipt", before + count, WAIT)
        .await;
    server.release();
    assert_eq!(
        arrived,
        before + count,
        "every message reached the destination"
    );
    uuids
}

/// A file holding `secret`, as a mounted secret; its path.
fn secret_file(secret: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("eai-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, secret).expect("the secret is written");
    path
}

/// The alerts as `GET /api/v1/alerts` lists them.
async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let answer = call_at(
        app.http_addr,
        "GET",
        &format!("/api/v1/alerts{query}"),
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body.as_array().expect("a list").clone()
}

#[tokio::test]
async fn a_burst_of_failures_is_one_email_and_the_next_burst_waits_for_the_next_window() {
    let app = spawn_app_with(quick_alerts).await;
    let sink = SmtpSink::start().await;
    app.db
        .store
        .set_alert_target(&email_target("ops", sink.addr))
        .await
        .expect("target set");
    let server = HttpDestination::start(HttpBehaviour::default()).await;

    let first = rejected_messages(&app, &server, 5).await;
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "one e-mail for the burst");
    let mail = &mails[0];
    assert_eq!(mail.from, "eai@example.com");
    assert_eq!(
        mail.recipients,
        [
            "ops@example.com",
            "duty@example.com",
            "boss@example.com",
            "erp@example.com"
        ]
    );
    let to = mail.header("To").expect("To");
    assert!(
        to.contains("ops@example.com") && to.contains("duty@example.com"),
        "{to}"
    );
    let cc = mail.header("Cc").expect("Cc: the copy list");
    assert!(
        cc.contains("boss@example.com") && cc.contains("erp@example.com"),
        "{cc}"
    );
    let subject = mail.header("Subject").expect("Subject");
    assert!(
        subject.starts_with("[EAI] 5: messages not delivered"),
        "{subject}"
    );
    assert!(mail.body().contains("Count: 5"), "{}", mail.body());
    for uuid in &first {
        assert!(mail.body().contains(uuid.as_str()), "{uuid} is named");
    }

    let second = rejected_messages(&app, &server, 3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.mails().len(), 1, "no second e-mail within the window");
    let waiting = alerts(&app, "?status=waiting").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["events"], 3);

    let mails = sink.wait_for(2, WAIT).await;
    assert_eq!(
        mails.len(),
        2,
        "the second burst's e-mail in the next window"
    );
    let subject = mails[1].header("Subject").expect("Subject");
    assert!(subject.starts_with("[EAI] 3: "), "{subject}");
    for uuid in &second {
        assert!(mails[1].body().contains(uuid.as_str()), "{uuid} is named");
    }
    let apart = mails[1].received_at.expect("kept") - mails[0].received_at.expect("kept");
    assert!(
        apart >= INTERVAL - Duration::from_millis(500),
        "one e-mail per interval, got two {apart:?} apart"
    );
    assert_eq!(
        app.metric(
            r#"eai_alerts_total{channel="email",outcome="sent",reason="failed"}"#,
            2.0
        )
        .await,
        Some(2.0)
    );
    assert_eq!(alerts(&app, "?status=sent").await.len(), 2);
}

#[tokio::test]
async fn a_blocked_destination_reaches_the_webhook_with_a_signature_that_verifies() {
    let key = "webhook-signing-key-0123456789";
    let key_file = secret_file(&format!("{key}\n"));
    let app = spawn_app_with(quick_alerts).await;
    let receiver = WebhookReceiver::start().await;
    app.db
        .store
        .set_alert_target(&AlertTarget {
            name: "hook".to_owned(),
            company: String::new(),
            branch: String::new(),
            channel: AlertChannel::Webhook {
                url: receiver.url(),
                signing_secret_ref: Some(format!("file:{}", key_file.display())),
            },
            language: "pt".to_owned(),
            enabled: true,
        })
        .await
        .expect("target set");
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    import_destinations(
        &app,
        json!([http_destination(
            "locked",
            &server.url("/unauthorized"),
            5_000,
            3
        )]),
    )
    .await;
    enqueue(&app, "locked", "doc-locked").await;

    let hooks = receiver.wait_for(1, WAIT).await;
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(&hook.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        hook.signature.as_deref(),
        Some(format!("sha256={expected}").as_str()),
        "the signature is the HMAC-SHA256 of the exact body"
    );
    let body: Value = serde_json::from_slice(&hook.body).expect("JSON");
    assert_eq!(body["reason"], "blocked");
    assert_eq!(body["company"], COMPANY);
    assert_eq!(body["branch"], BRANCH);
    assert_eq!(body["events"], 1);
    assert_eq!(body["target"], "hook");
    assert_eq!(body["samples"][0]["destination"], "locked");
    assert!(body["alert"].is_i64());
    std::fs::remove_file(&key_file).ok();
}

/// `PUT /api/v1/alert-targets/{name}` with `token`.
async fn put(app: &TestApp, name: &str, token: &str, body: Value) -> Answer {
    let path = format!("/api/v1/alert-targets/{name}");
    call_at(app.http_addr, "PUT", &path, Some(token), Some(body)).await
}

/// `POST /api/v1/alert-targets/{name}/test` as an operator.
async fn test(app: &TestApp, name: &str) -> Answer {
    let path = format!("/api/v1/alert-targets/{name}/test");
    call_at(app.http_addr, "POST", &path, Some(OPERATOR_TOKEN), None).await
}

#[tokio::test]
async fn the_test_alert_reaches_the_sink_and_a_closed_port_fails_saying_why() {
    let app = spawn_app_with(quick_alerts).await;
    let sink = SmtpSink::start().await;
    let target = |port: u16| {
        json!({"channel": "email", "company": COMPANY, "branch": BRANCH,
               "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
               "sender": "eai@example.com", "recipients": ["ops@example.com"],
               "copies": ["boss@example.com"], "language": "pt"})
    };
    assert_eq!(
        put(&app, "ops", VIEWER_TOKEN, target(sink.addr.port()))
            .await
            .status,
        403
    );
    let set = put(&app, "ops", OPERATOR_TOKEN, target(sink.addr.port())).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["name"], "ops");
    let closed = closed_addr().await;
    assert_eq!(
        put(&app, "nowhere", OPERATOR_TOKEN, target(closed.port()))
            .await
            .status,
        200
    );
    let mut no_recipient = target(25);
    no_recipient["recipients"] = json!([]);
    let refused = put(&app, "bad", OPERATOR_TOKEN, no_recipient).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body["message"],
        "an e-mail target needs at least one recipient"
    );

    let listed = call_at(
        app.http_addr,
        "GET",
        "/api/v1/alert-targets",
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["nowhere", "ops"]);

    // The CLI's "Validar E-mails".
    assert!(eai::commands::alerts::test(&app.settings, "ops")
        .await
        .expect("runs"));
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipients, ["ops@example.com", "boss@example.com"]);
    assert!(!eai::commands::alerts::test(&app.settings, "nowhere")
        .await
        .expect("runs"));
    assert!(!eai::commands::alerts::test(&app.settings, "nobody")
        .await
        .expect("runs"));

    // The API's.
    let sent = test(&app, "ops").await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["sent"], true);
    assert_eq!(sink.wait_for(2, WAIT).await.len(), 2);
    let failed = test(&app, "nowhere").await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["sent"], false);
    let error = failed.body["error"].as_str().expect("why");
    assert!(
        error.starts_with(&format!("SMTP 127.0.0.1:{}: ", closed.port()))
            && error.contains("onnection refused"),
        "{error}"
    );
    assert_eq!(test(&app, "nobody").await.status, 404);

    let failed = alerts(&app, "?status=failed").await;
    assert_eq!(failed.len(), 2, "a test alert is tried once: {failed:?}");
    assert!(failed
        .iter()
        .all(|alert| alert["reason"] == "test" && alert["attempts"] == 1));
    let bogus = call_at(
        app.http_addr,
        "GET",
        "/api/v1/alerts?status=bogus",
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(bogus.status, 400);
}

#[tokio::test]
async fn an_alert_that_could_not_be_sent_before_a_crash_is_sent_after_the_restart() {
    let mut app = spawn_app_with(quick_alerts).await;
    let smtp = closed_addr().await;
    app.db
        .store
        .set_alert_target(&email_target("ops", smtp))
        .await
        .expect("target set");
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let uuids = rejected_messages(&app, &server, 2).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let waiting = alerts(&app, "?status=waiting").await;
        if waiting
            .first()
            .is_some_and(|alert| alert["attempts"].as_i64() >= Some(2))
        {
            assert_eq!(waiting[0]["events"], 2);
            assert!(waiting[0]["last_error"]
                .as_str()
                .expect("why")
                .contains(&smtp.to_string()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the alert is tried: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    app.kill();
    let sink = SmtpSink::start_on(smtp).await;
    app.restart().await;
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "the alert outlived the crash");
    for uuid in &uuids {
        assert!(mails[0].body().contains(uuid.as_str()));
    }
    let deadline = std::time::Instant::now() + WAIT;
    while alerts(&app, "?status=sent").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the alert is recorded sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_password_reference_is_resolved_when_sending_and_named_when_it_cannot_be() {
    let app = spawn_app_with(quick_alerts).await;
    let sink = SmtpSink::start().await;
    let variable = format!("EAI_TEST_SMTP_PASSWORD_{}", uuid::Uuid::new_v4().simple());
    let with_password = |reference: &str| {
        let mut target = email_target("ops", sink.addr);
        if let AlertChannel::Email {
            username,
            password_ref,
            ..
        } = &mut target.channel
        {
            *username = Some("eai".to_owned());
            *password_ref = Some(reference.to_owned());
        }
        target
    };
    let reference = format!("env:{variable}");
    app.db
        .store
        .set_alert_target(&with_password(&reference))
        .await
        .expect("target set");

    assert!(!eai::commands::alerts::test(&app.settings, "ops")
        .await
        .expect("runs"));
    let failed = alerts(&app, "?status=failed").await;
    assert_eq!(
        failed[0]["last_error"],
        format!(
            "the secret reference {reference} cannot be resolved: the environment variable {variable} is not set"
        )
    );
    assert!(
        sink.mails().is_empty(),
        "nothing is sent without the password"
    );

    // Now from a file, as a mounted secret: missing, then there.
    let password_file = std::env::temp_dir().join(format!("eai-smtp-{}", uuid::Uuid::new_v4()));
    let reference = format!("file:{}", password_file.display());
    app.db
        .store
        .set_alert_target(&with_password(&reference))
        .await
        .expect("target set");
    assert!(!eai::commands::alerts::test(&app.settings, "ops")
        .await
        .expect("runs"));
    let failed = alerts(&app, "?status=failed").await;
    let error = failed[0]["last_error"].as_str().expect("why");
    assert!(
        error.starts_with(&format!(
            "the secret reference {reference} cannot be resolved: reading "
        )),
        "{error}"
    );
    std::fs::write(&password_file, "s3cret\n").expect("the secret is mounted");
    assert!(eai::commands::alerts::test(&app.settings, "ops")
        .await
        .expect("runs"));
    let mails = sink.wait_for(1, WAIT).await;
    // AUTH PLAIN of "\0eai\0s3cret".
    assert_eq!(mails[0].auth.as_deref(), Some("AGVhaQBzM2NyZXQ="));
    let shown = call_at(
        app.http_addr,
        "GET",
        "/api/v1/alert-targets/ops",
        Some(VIEWER_TOKEN),
        None,
    )
    .await;
    assert_eq!(shown.body["password_ref"], reference.as_str());
    assert!(
        !shown.body.to_string().contains("s3cret"),
        "the reference, never the secret"
    );
    for alert in alerts(&app, "").await {
        assert!(!alert.to_string().contains("s3cret"));
    }
    std::fs::remove_file(&password_file).ok();
}
