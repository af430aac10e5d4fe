//! Drain throughput of the sender: messages enqueued in the outbox and
//! delivered to a local HTTP destination (answering ok receipts), with one
//! sender and with two, each stated as a ratio to the baseline measured in
//! the same run: the same POSTs sent straight from one HTTP client at the
//! same concurrency, which is what the destination and the machine allow
//! without the outbox.
//!
//! `cargo bench -p eai-tests --bench drain` (needs PostgreSQL and RabbitMQ
//! like the tests); `EAI_BENCH_MESSAGES` sets the message count (default 3000).

use std::time::{Duration, Instant};

use eai::app::{self, Role};
use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::{spawn_app_with, TestApp};
use futures_util::{stream, StreamExt};
use serde_json::json;

const CONCURRENCY: usize = 16;

fn envelope(uuid: &str, document: usize) -> String {
    json!({"Header": {"UUID": uuid, "Type": "BusinessMessage", "Transaction": "StockLevel",
                      "Version": "3.003", "CompanyId": "T1", "BranchId": "BENCH"},
           "Content": {"InternalId": format!("doc-{document}")}})
    .to_string()
}

async fn enqueue(app: &TestApp, count: usize) {
    let mut tx = app.db.store.pool().begin().await.expect("transaction");
    for index in 0..count {
        let uuid = uuid::Uuid::new_v4().to_string();
        eai_store::outbound::enqueue_routed(
            &mut tx,
            "T1",
            "BENCH",
            "StockLevel",
            &uuid,
            &envelope(&uuid, index % 500),
            &format!("doc-{}", index % 500),
        )
        .await
        .expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

async fn wait_until_done(app: &TestApp, done: i64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE status = 'done' AND kind = 'message'",
        )
        .fetch_one(app.db.store.pool())
        .await
        .expect("count");
        if count >= done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the drain stalled at {count} of {done}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn run() {
    let count: usize = std::env::var("EAI_BENCH_MESSAGES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3000);
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let url = server.url("/ok");
    let app = spawn_app_with(|settings| {
        settings.sender_concurrency = CONCURRENCY;
        settings.database_max_connections = 10;
    })
    .await;
    let rows = json!({"destinations": [{"name": "bench", "company": "T1", "branch": "BENCH",
        "transaction": "StockLevel", "kind": "http", "url": url, "timeout_ms": 10000}]});
    assert!(app
        .db
        .store
        .import(&rows, &|_| {})
        .await
        .expect("import")
        .is_ok());

    let client = reqwest::Client::new();
    let started = Instant::now();
    stream::iter(0..count)
        .map(|index| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let uuid = uuid::Uuid::new_v4().to_string();
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(envelope(&uuid, index))
                    .send()
                    .await
                    .expect("POST")
                    .bytes()
                    .await
                    .expect("answer");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let baseline = rate(count, started.elapsed());

    enqueue(&app, count).await;
    let started = Instant::now();
    wait_until_done(&app, count as i64).await;
    let one = rate(count, started.elapsed());

    let mut settings = app.settings.clone();
    settings.http_addr = "127.0.0.1:0".parse().expect("address");
    let second = app::start(&settings, Some(Role::Sender))
        .await
        .expect("second sender");
    enqueue(&app, count).await;
    let started = Instant::now();
    wait_until_done(&app, 2 * count as i64).await;
    let two = rate(count, started.elapsed());
    second.shutdown().await.expect("shutdown");

    println!(
        "drain of {count} messages to a local HTTP destination, {CONCURRENCY} in flight per sender"
    );
    println!("  baseline, direct POSTs: {baseline:8.0} msg/s  1.00");
    println!(
        "  one sender:             {one:8.0} msg/s  {:.2}",
        one / baseline
    );
    println!(
        "  two senders:            {two:8.0} msg/s  {:.2}",
        two / baseline
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}
