//! The end-to-end harness: [`spawn_app`] starts a whole worker in-process,
//! on its own database, its own topology prefix (so its own queues) and an
//! HTTP port picked by the OS, with the example master data loaded.
//!
//! Dropping a [`TestApp`] stops the worker, checks every envelope it wrote
//! (receipts and events) against the official TOTVS schemas ([`schemas`]),
//! and deletes its queues and exchanges; its database goes with its
//! [`TestDatabase`]. A missing broker or database fails the test with the
//! reason — never a skip.

pub mod alert_sinks;
pub mod api;
pub mod audit;
pub mod destination;
pub mod process;
pub mod proxy;
pub mod schemas;
pub mod sending;
pub mod shop;
pub mod stream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eai::app::{self, RunningApp};
use eai::commands::publish::{self, Published};
use eai::config::Settings;
use eai_store::testing::{TestBackend, TestDatabase};
use eai_transport::lapin::options::{BasicGetOptions, QueueBindOptions};
use eai_transport::lapin::types::{AMQPValue, FieldTable};
use eai_transport::lapin::{message::BasicGetMessage, Channel, Connection};
use eai_transport::topology::declare_private_queue;
use eai_transport::{QueueType, Topology};
use rust_decimal::Decimal;
use secrecy::SecretString;

/// The example master data every test starts from.
pub const MASTER_DATA: &str = include_str!("../../examples/master-data.json");

/// The broker tests use; `EAI_TEST_AMQP_URL` overrides the local default.
pub fn amqp_url() -> String {
    std::env::var("EAI_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Whether the workers of this test run use the broker (the default) or,
/// with `EAI_TEST_INLET=database` or on SQLite (`EAI_TEST_BACKEND=sqlite`),
/// the database's inbound queue: the suites that do not watch the broker
/// themselves run both ways.
pub fn test_inlet_is_database() -> bool {
    if TestBackend::chosen() == TestBackend::Sqlite {
        // SQLite keeps one worker's data: it takes no broker.
        return true;
    }
    match std::env::var("EAI_TEST_INLET").as_deref() {
        Ok("database") => true,
        Ok("broker") | Err(_) => false,
        Ok(other) => panic!("EAI_TEST_INLET={other:?}: expected broker or database"),
    }
}

/// A decimal a test read as text, normalized.
pub fn decimal(text: &str) -> Decimal {
    Decimal::from_str_exact(text)
        .unwrap_or_else(|error| panic!("{text:?} is not a decimal: {error}"))
        .normalize()
}

/// A connection of the test's own to the test broker; panics naming the
/// address when RabbitMQ is not there (within seconds, never a hang).
pub async fn broker_connection(name: &str) -> Connection {
    let endpoint = eai_transport::Endpoint::new(
        &amqp_url(),
        name,
        Duration::from_secs(5),
        Duration::from_secs(10),
    )
    .expect("EAI_TEST_AMQP_URL is a valid AMQP URL");
    endpoint.connect().await.unwrap_or_else(|error| {
        panic!("RabbitMQ is not reachable: {error} (start it; .ci/run does)")
    })
}

/// A private queue on `channel` bound to `exchange` with `routing_key`,
/// deleted with the channel's connection; returns its name.
pub async fn bind_tap(channel: &Channel, exchange: &str, routing_key: &str) -> String {
    let name = declare_private_queue(channel)
        .await
        .expect("tap queue declared");
    channel
        .queue_bind(
            name.as_str().into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("tap queue bound");
    name
}

/// What `read` returns once `done` holds of it, read again every `every`;
/// once `within` has passed, the last reading whatever it is.
pub async fn poll<T>(
    within: Duration,
    every: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let reading = read();
        if done(&reading) || tokio::time::Instant::now() >= deadline {
            return reading;
        }
        tokio::time::sleep(every).await;
    }
}

/// The next message of `queue`, polling every 100 ms for at most `within`.
pub async fn next_message(
    channel: &Channel,
    queue: &str,
    within: Duration,
) -> Option<BasicGetMessage> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get works");
        if got.is_some() || std::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tap of the test's own, on a connection it holds: what the worker
/// publishes to an exchange, for a test whose worker is a process.
pub struct Tap {
    _connection: Connection,
    channel: Channel,
    queue: String,
}

impl Tap {
    /// Binds a private queue to `exchange` with `routing_key`.
    pub async fn open(exchange: &str, routing_key: &str) -> Tap {
        let connection = broker_connection("eai-tests-tap").await;
        let channel = connection.create_channel().await.expect("channel");
        let queue = bind_tap(&channel, exchange, routing_key).await;
        Tap {
            _connection: connection,
            channel,
            queue,
        }
    }

    /// The next message, polling for at most `within`.
    pub async fn next(&self, within: Duration) -> Option<BasicGetMessage> {
        next_message(&self.channel, &self.queue, within).await
    }
}

/// A file of the repository's `examples/` folder.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// A string header of a message taken with [`TestApp::next_message`].
pub fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    match message
        .delivery
        .properties
        .headers()
        .as_ref()?
        .inner()
        .get(name)?
    {
        AMQPValue::LongString(value) => Some(value.to_string()),
        _ => None,
    }
}

/// A running worker and everything it owns.
pub struct TestApp {
    pub db: TestDatabase,
    pub settings: Settings,
    pub topology: Topology,
    pub http_addr: SocketAddr,
    app: Option<RunningApp>,
    /// The test's own broker connection, when the worker uses a broker.
    broker: Option<Connection>,
}

/// The API token of the test operator (`tester`) and of a viewer (`watcher`).
pub const OPERATOR_TOKEN: &str = "operator-token-0123456789";
pub const VIEWER_TOKEN: &str = "viewer-token-0123456789";

/// Settings for a private worker: the defaults with an OS-picked port, a
/// random topology prefix, classic queues and short delays.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings::defaults();
    settings.startup_timeout = Duration::from_secs(10);
    settings.database.url = SecretString::from(db.url());
    settings.database.max_connections = 6;
    settings.amqp.url = match test_inlet_is_database() {
        true => SecretString::default(),
        false => SecretString::from(amqp_url()),
    };
    settings.amqp.queue_type = QueueType::Classic;
    settings.amqp.topology_prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    settings.http.addr = "127.0.0.1:0".parse().expect("literal address");
    settings.api.tokens = SecretString::from(format!(
        "tester:operator:{OPERATOR_TOKEN},watcher:viewer:{VIEWER_TOKEN}"
    ));
    settings.receiver.prefetch = 16;
    settings.receiver.reserve_retry_delays = vec![Duration::from_secs(1); 3];
    settings.receiver.failure_retry_delays = vec![Duration::from_secs(1); 2];
    settings.receiver.reservation_sweep = Duration::from_secs(1);
    settings.receipts.relay_interval = Duration::from_secs(1);
    settings.receipts.max_attempts = 3;
    settings.sender.poll = Duration::from_millis(200);
    settings.sender.retry_min = Duration::from_millis(100);
    settings.sender.retry_max = Duration::from_secs(1);
    settings.sender.stock_full_load = Duration::ZERO;
    settings.health.interval = Duration::from_millis(500);
    settings
}

/// Starts a worker with the example master data loaded.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh database with the example master data and then `extra` imported.
pub async fn prepared_database(extra: &[serde_json::Value]) -> TestDatabase {
    prepare(TestDatabase::create().await, extra).await
}

/// `db` with the example master data and then `extra` imported.
pub async fn prepare(db: TestDatabase, extra: &[serde_json::Value]) -> TestDatabase {
    let master: serde_json::Value =
        serde_json::from_str(MASTER_DATA).expect("examples/master-data.json is JSON");
    for document in std::iter::once(&master).chain(extra) {
        import(&db.store, document).await;
    }
    db
}

/// Imports `document` into `store` the way `eai import` does; fails the
/// test, naming the rows, when any row is refused.
async fn import(store: &eai_store::Store, document: &serde_json::Value) {
    let report = store
        .import(document, &|_| {})
        .await
        .expect("the import runs");
    assert!(report.is_ok(), "import refused rows: {:?}", report.errors);
}

/// Deletes a test's queues and exchanges when dropped (the worker under
/// test may be a process that declared them).
pub struct TopologyGuard(pub Topology);

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        delete_topology(self.0.clone());
    }
}

/// Deletes `topology` from the test broker, from a thread of its own (Drop
/// cannot await inside the test's runtime).
fn delete_topology(topology: Topology) {
    let cleanup = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let endpoint = eai_transport::Endpoint::new(
                &amqp_url(),
                "eai-tests-cleanup",
                Duration::from_secs(5),
                Duration::from_secs(10),
            );
            if let Ok(connection) = async { endpoint?.connect().await }.await {
                if let Ok(channel) = connection.create_channel().await {
                    topology.delete(&channel).await.ok();
                }
                connection.close(200, "cleaned up".into()).await.ok();
            }
        });
    });
    cleanup.join().ok();
}

/// Starts a worker after `adjust` tweaked its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = prepared_database(&[]).await;
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    let broker = match settings.has_broker() {
        true => Some(broker_connection("eai-tests").await),
        false => None,
    };
    let app = app::start(&settings, None)
        .await
        .expect("the worker starts");
    TestApp {
        http_addr: app.http_addr,
        topology: app.topology.clone(),
        db,
        settings,
        app: Some(app),
        broker,
    }
}

impl TestApp {
    /// Imports `document` the way `eai import` does; fails the test, naming
    /// the rows, when any row is refused.
    pub async fn import(&self, document: &serde_json::Value) {
        import(&self.db.store, document).await;
    }

    /// Publishes bodies like `eai publish`; with `wait`, returns their receipts.
    pub async fn publish(&self, bodies: Vec<Vec<u8>>, wait: bool) -> Vec<Published> {
        let labelled = bodies
            .into_iter()
            .enumerate()
            .map(|(index, body)| (PathBuf::from(format!("body-{index}")), body))
            .collect();
        let timeout = wait.then(|| Duration::from_secs(30));
        publish::publish(&self.settings, labelled, timeout, None)
            .await
            .expect("publishing works")
    }

    /// Publishes one body and returns its receipt.
    pub async fn publish_one(&self, body: Vec<u8>) -> serde_json::Value {
        let published = self.publish(vec![body], true).await;
        published
            .into_iter()
            .next()
            .and_then(|published| published.receipt)
            .expect("a receipt arrives within 30 s")
    }

    /// Publishes an example file and returns its receipt.
    pub async fn publish_example(&self, name: &str) -> serde_json::Value {
        let body = std::fs::read(example(name)).expect("example file exists");
        self.publish_one(body).await
    }

    /// Puts `body` on the worker's inbound queue as a publisher that is no
    /// platform would (no reply_to, no ids): on the inbound exchange, or the
    /// database's queue of a worker without a broker.
    pub async fn inject(&self, routing_key: &str, body: &[u8]) {
        if !self.settings.has_broker() {
            self.db
                .store
                .enqueue(&eai_store::inbound_queue::Queued {
                    routing_key,
                    body,
                    ..eai_store::inbound_queue::Queued::default()
                })
                .await
                .expect("queued");
            return;
        }
        self.channel()
            .await
            .basic_publish(
                self.topology.inbound_exchange.as_str().into(),
                routing_key.into(),
                eai_transport::lapin::options::BasicPublishOptions::default(),
                body,
                eai_transport::lapin::BasicProperties::default(),
            )
            .await
            .expect("published");
    }

    /// A channel on the test's own connection.
    pub async fn channel(&self) -> Channel {
        self.broker
            .as_ref()
            .expect("this test watches the broker: it runs with a broker (EAI_TEST_BACKEND=postgres, EAI_TEST_INLET=broker)")
            .create_channel()
            .await
            .expect("channel opens")
    }

    /// A private queue bound to `exchange` with `routing_key`, deleted with the connection.
    pub async fn tap(&self, exchange: &str, routing_key: &str) -> (Channel, String) {
        let channel = self.channel().await;
        let name = bind_tap(&channel, exchange, routing_key).await;
        (channel, name)
    }

    /// Polls `queue` until a message is there (or 20 s pass).
    pub async fn next_message(&self, channel: &Channel, queue: &str) -> Option<BasicGetMessage> {
        next_message(channel, queue, Duration::from_secs(20)).await
    }

    /// Each lot's `(lot, reserved)` for a product in a branch, by lot code.
    pub async fn reserved(&self, branch: &str, product: &str) -> Vec<(String, Decimal)> {
        self.labelled_decimals(&format!(
            "SELECT lot, CAST(reserved AS TEXT) FROM lots
              WHERE branch = '{branch}' AND product = '{product}' ORDER BY lot"
        ))
        .await
    }

    /// The rows `sql` reads, on either backend (SQL both speak).
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let pool = self.db.any().await;
        let rows = sqlx::query_as(sql)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        pool.close().await;
        rows
    }

    /// The one number `sql` counts, on either backend.
    pub async fn count(&self, sql: &str) -> i64 {
        let counted: Vec<(i64,)> = self.rows(sql).await;
        counted.first().map_or(0, |(count,)| *count)
    }

    /// `(label, decimal)` rows from `sql`, whose second column is a decimal
    /// cast to text (`CAST(quantity AS TEXT)`), normalized.
    pub async fn labelled_decimals(&self, sql: &str) -> Vec<(String, Decimal)> {
        let rows: Vec<(String, String)> = self.rows(sql).await;
        rows.into_iter()
            .map(|(label, value)| (label, decimal(&value)))
            .collect()
    }

    /// The sum of the decimals `sql` reads (one column, cast to text),
    /// added exactly.
    pub async fn sum(&self, sql: &str) -> Decimal {
        let rows: Vec<(String,)> = self.rows(sql).await;
        rows.iter()
            .map(|(value,)| decimal(value))
            .sum::<Decimal>()
            .normalize()
    }

    /// A plain HTTP/1.1 GET against the worker; returns status and body.
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        process::http_get(self.http_addr, path, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("GET {path}: no answer within 5 s"))
    }

    /// The value of one series on the worker's `/metrics`, polled until it is
    /// `expected` or 5 s pass: a message is counted just after its receipt goes out
    /// and an attempt just after its settlement commits.
    pub async fn metric(&self, series: &str, expected: f64) -> Option<f64> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self.http_get("/metrics").await;
            assert_eq!(status, 200, "/metrics answers");
            let value = process::series_value(&body, series);
            if value == Some(expected) || std::time::Instant::now() >= deadline {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Simulates a crash: the worker's tasks are aborted mid-flight, nothing drains.
    pub fn kill(&mut self) {
        self.app.take();
    }

    /// Starts a fresh worker on the same database and topology (after [`TestApp::kill`]).
    pub async fn restart(&mut self) {
        self.app.take();
        let app = app::start(&self.settings, None)
            .await
            .expect("the worker restarts");
        self.http_addr = app.http_addr;
        self.app = Some(app);
    }

    /// Stops the worker gracefully, as SIGTERM does.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.expect("graceful shutdown");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.app.take();
        if self.broker.is_some() {
            delete_topology(self.topology.clone());
        }
        if std::thread::panicking() {
            return;
        }
        let (checked, invalid) = invalid_emitted(
            self.db.url(),
            self.settings.receipts.source_application.clone(),
        );
        eprintln!(
            "schema check: {checked} emitted envelope(s), {} rejected",
            invalid.len()
        );
        assert!(
            invalid.is_empty(),
            "the worker emitted envelopes its official schemas reject:\n{}",
            invalid.join("\n")
        );
    }
}

/// How many envelopes the worker of `database_url` wrote to its outbox (its
/// receipts, and the messages it built, those whose `SourceApplication` is
/// `ours`; an operator's envelope goes out as given), and those its schema
/// rejects, one line each; read from a thread of its own (Drop cannot await
/// inside the test's runtime).
fn invalid_emitted(database_url: String, ours: String) -> (usize, Vec<String>) {
    let reading = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the check");
        runtime.block_on(async move {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&database_url)
                .await
                .expect("the test database is there to check");
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT kind, body FROM outbox ORDER BY id")
                    .fetch_all(&mut conn)
                    .await
                    .expect("the outbox reads");
            conn.close().await.ok();
            rows.into_iter()
                .filter(|(kind, body)| {
                    kind == "receipt"
                        || serde_json::from_str::<serde_json::Value>(body)
                            .ok()
                            .and_then(|envelope| {
                                envelope["Header"]["SourceApplication"]
                                    .as_str()
                                    .map(|source| source == ours)
                            })
                            .unwrap_or(false)
                })
                .map(|(_, body)| body)
                .collect::<Vec<String>>()
        })
    });
    let bodies = reading.join().expect("the outbox was read");
    let invalid = bodies
        .iter()
        .filter_map(|body| {
            let envelope: serde_json::Value = match serde_json::from_str(body) {
                Ok(envelope) => envelope,
                Err(error) => return Some(format!("not JSON ({error}): {body}")),
            };
            schemas::check(&envelope)
                .err()
                .map(|problems| format!("{}: {body}", problems.join("; ")))
        })
        .collect();
    (bodies.len(), invalid)
}
