//! The HTTP side of a running worker, on an OS-picked port; on either
//! backend (`EAI_TEST_BACKEND`).

use eai_tests::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_are_served() {
    let mut app = spawn_app().await;

    assert_eq!(app.http_get("/healthz").await, (200, "ok\n".to_owned()));
    let mut ready = (0, String::new());
    for _ in 0..50 {
        ready = app.http_get("/readyz").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A worker without a broker (on SQLite) has no broker to report on.
    let expected = match app.settings.has_broker() {
        true => r#"{"broker":true,"consumers":true,"database":true,"draining":false}"#,
        false => r#"{"consumers":true,"database":true,"draining":false}"#,
    };
    assert_eq!(ready, (200, expected.to_owned()));

    app.publish_example("item-reserve-split.json").await;
    // The receipt can reach us a moment before the worker counts its ack.
    let counted = r#"eai_messages_total{duplicate="false",status="ok",transaction="ItemReserve"}"#;
    assert_eq!(app.metric(counted, 1.0).await, Some(1.0));
    let (status, metrics) = app.http_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("eai_message_duration_seconds_bucket"),
        "{metrics}"
    );

    app.stop().await;
}
