//! `/metrics` of a running worker after real traffic in both halves: every
//! series the README's "Metrics" table documents is served, with values a
//! user would find plausible. Runs on either backend and inlet
//! (`EAI_TEST_BACKEND`, `EAI_TEST_INLET`).

use std::collections::BTreeSet;
use std::time::Duration;

use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::sending::{enqueue, http_destination, import_destinations};
use eai_tests::{spawn_app_with, TestApp};
use serde_json::json;

/// One sample of the exposition: its series (name and labels, as printed) and value.
struct Sample {
    name: String,
    series: String,
    value: f64,
}

fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value` lines");
            Sample {
                name: series.split('{').next().unwrap_or(series).to_owned(),
                series: series.to_owned(),
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The series the README's "Metrics" table lists, without those it says
/// only a worker with a broker serves when `broker` is false.
fn documented(broker: bool) -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("the README has a Metrics section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|line| broker || !line.contains("(broker only)"))
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The value of the one sample whose series is `series` exactly.
fn value(samples: &[Sample], series: &str) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|sample| sample.series == series)
        .map(|sample| sample.value)
        .collect();
    match found.as_slice() {
        [value] => *value,
        other => panic!("{series}: {other:?}"),
    }
}

/// Polls `/metrics` until `series` reads `expected` (the sampler and the
/// sender need a moment), failing the test after 20 s.
async fn until(app: &TestApp, series: &str, expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = app.http_get("/metrics").await;
        let seen = samples(&body)
            .into_iter()
            .find(|sample| sample.series == series)
            .map(|sample| sample.value);
        if seen == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} is {seen:?}, not {expected}, after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_documented_series_is_served_with_plausible_values_after_traffic_in_both_halves() {
    let app = spawn_app_with(|settings| {
        settings.metrics.sample_interval = Duration::from_millis(200);
    })
    .await;

    // The sending half: a destination that takes what it is sent and one
    // that refuses our credentials.
    let server = HttpDestination::start(HttpBehaviour {
        auth: Some(("X-Api-Key".to_owned(), "the-right-one".to_owned())),
        ..HttpBehaviour::default()
    })
    .await;
    let mut locked = http_destination("metrics-locked", &server.url("/unauthorized"), 5_000, 4);
    locked["auth_header"] = json!("X-Api-Key");
    locked["auth_value"] = json!("a-wrong-one");
    import_destinations(
        &app,
        json!([
            http_destination("metrics-ok", &server.url("/ok"), 5_000, 4),
            locked
        ]),
    )
    .await;
    enqueue(&app, "metrics-ok", "metrics-doc-1").await;
    enqueue(&app, "metrics-locked", "metrics-doc-2").await;

    // The receiving half: ok, its duplicate, an error, and no envelope at all.
    let ok = app.publish_example("item-reserve-split.json").await;
    assert_eq!(
        ok["Content"]["ProcessingInformation"]["Status"], "ok",
        "{ok}"
    );
    app.publish_example("item-reserve-split.json").await;
    let error = app.publish_example("item-reserve-shortfall.json").await;
    assert_eq!(
        error["Content"]["ProcessingInformation"]["Status"], "error",
        "{error}"
    );
    app.inject("ItemReserve", b"not an envelope").await;

    until(
        &app,
        r#"eai_outbound_attempts_total{destination="metrics-ok",status="done"}"#,
        1.0,
    )
    .await;
    until(
        &app,
        r#"eai_destinations_blocked_total{destination="metrics-locked"}"#,
        1.0,
    )
    .await;
    until(&app, r#"eai_dead_letters_total{code="INVALID_JSON"}"#, 1.0).await;
    until(&app, "eai_blocked_destinations", 1.0).await;
    until(
        &app,
        r#"eai_outbound_backlog{kind="message",status="blocked"}"#,
        1.0,
    )
    .await;

    let (status, body) = app.http_get("/metrics").await;
    assert_eq!(status, 200);
    let served = samples(&body);

    // Every documented series is there (a histogram as its _bucket, _sum and _count).
    let names: BTreeSet<&str> = served.iter().map(|sample| sample.name.as_str()).collect();
    let documented = documented(app.settings.has_broker());
    let missing: Vec<&String> = documented
        .iter()
        .filter(|name| {
            !names.contains(name.as_str()) && !names.contains(format!("{name}_count").as_str())
        })
        .collect();
    assert!(documented.len() >= 30, "{documented:?}");
    assert!(
        missing.is_empty(),
        "documented but not served: {missing:?}\n{body}"
    );

    // What this worker is, and that it is ready.
    let broker = if app.settings.has_broker() {
        "amqp"
    } else {
        "none"
    };
    let build = format!(
        r#"eai_build_info{{broker="{broker}",database="{}",version="{}"}}"#,
        app.db.store.backend(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&served, &build), 1.0);
    assert_eq!(value(&served, "eai_ready"), 1.0);
    assert_eq!(value(&served, r#"eai_ready_check{check="database"}"#), 1.0);
    assert_eq!(value(&served, r#"eai_ready_check{check="consumers"}"#), 1.0);

    // The receiving half as it happened.
    let item_reserve = |status: &str, duplicate: &str| {
        format!(
            r#"eai_messages_total{{duplicate="{duplicate}",status="{status}",transaction="ItemReserve"}}"#
        )
    };
    assert_eq!(value(&served, &item_reserve("ok", "false")), 1.0);
    assert_eq!(value(&served, &item_reserve("ok", "true")), 1.0);
    assert_eq!(value(&served, &item_reserve("error", "false")), 1.0);
    assert_eq!(
        value(
            &served,
            &item_reserve("ok", "false").replace("ItemReserve", "RetailSales")
        ),
        0.0,
        "a transaction with no traffic yet reads 0"
    );
    assert_eq!(
        value(
            &served,
            r#"eai_error_receipts_total{code="LOT_INSUFFICIENT",transaction="ItemReserve"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &served,
            r#"eai_message_duration_seconds_count{status="ok",transaction="ItemReserve"}"#
        ),
        2.0
    );

    // The sending half, the backlog and the queues.
    assert_eq!(
        value(
            &served,
            r#"eai_outbound_backlog{kind="message",status="waiting"}"#
        ),
        0.0
    );
    let oldest = value(&served, r#"eai_outbound_oldest_seconds{kind="message"}"#);
    assert!((0.0..3600.0).contains(&oldest), "{oldest}");
    let queues: Vec<&Sample> = served
        .iter()
        .filter(|sample| sample.name == "eai_queue_depth")
        .collect();
    if app.settings.has_broker() {
        for (queue, _) in &app.topology.work_queues {
            let depth = value(&served, &format!(r#"eai_queue_depth{{queue="{queue}"}}"#));
            assert!(depth >= 0.0, "{queue}: {depth}");
            let consumers = value(
                &served,
                &format!(r#"eai_queue_consumers{{queue="{queue}"}}"#),
            );
            assert!(consumers >= 1.0, "{queue}: {consumers} consumers");
        }
    } else {
        assert_eq!(queues.len(), 1, "only the database's queue");
        assert_eq!(
            value(&served, r#"eai_queue_depth{queue="inbound_queue"}"#),
            0.0
        );
    }

    // The pool and the process.
    let max = value(&served, "eai_db_pool_max_connections");
    let expected_max = if app.db.store.backend() == "sqlite" {
        1.0
    } else {
        6.0
    };
    assert_eq!(max, expected_max);
    let in_use = value(&served, r#"eai_db_pool_connections{state="in_use"}"#);
    let idle = value(&served, r#"eai_db_pool_connections{state="idle"}"#);
    assert!(
        in_use + idle >= 1.0 && in_use + idle <= max,
        "{in_use} + {idle} of {max}"
    );
    let rss = value(&served, "process_resident_memory_bytes");
    assert!((1e6..2e9).contains(&rss), "RSS {rss}");
    // Whole seconds: a worker a second old may read 0.
    let cpu = value(&served, "process_cpu_seconds_total");
    assert!((0.0..600.0).contains(&cpu), "CPU {cpu} s");
    assert!(value(&served, "process_open_fds") > 0.0);
    assert_eq!(
        value(&served, r#"eai_sample_failures_total{source="database"}"#),
        0.0
    );
}
