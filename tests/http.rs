//! The HTTP side of a running worker, on an OS-picked port.

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
    assert_eq!(
        ready,
        (
            200,
            r#"{"broker":true,"consumers":true,"database":true,"draining":false}"#.to_owned()
        )
    );

    app.publish_example("item-reserve-split.json").await;
    // The receipt can reach us a moment before the worker counts its ack.
    let counted =
        r#"eai_messages_total{duplicate="false",status="ok",transaction="ItemReserve"} 1"#;
    let mut scraped = (0, String::new());
    for _ in 0..50 {
        scraped = app.http_get("/metrics").await;
        if scraped.1.contains(counted) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, metrics) = scraped;
    assert_eq!(status, 200);
    assert!(metrics.contains(counted), "{metrics}");
    assert!(
        metrics.contains("eai_message_duration_seconds_bucket"),
        "{metrics}"
    );

    app.stop().await;
}
