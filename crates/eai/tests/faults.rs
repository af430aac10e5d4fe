//! Fault tests with the real `eai` binary as a separate process, against the
//! real RabbitMQ and PostgreSQL: `kill -9` at random moments, a broker path
//! cut and silenced, a database outage, a message that keeps failing, a
//! worker that never survives a message, SIGTERM during a slow envelope, and
//! servers unreachable at start. Paths are cut with a TCP proxy of the
//! test's own ([`eai_tests::proxy`]); the shared servers are never touched.
//!
//! Each test prints what it measured (timings, counts) to stderr.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use eai::config::Settings;
use eai_store::testing::TestDatabase;
use eai_tests::audit::audit;
use eai_tests::process::{free_addr, run_command, WorkerProcess};
use eai_tests::proxy::{Mode, Proxy};
use eai_tests::shop::Shop;
use eai_tests::stream::{self, StreamEnvelope};
use eai_tests::{
    broker_connection, header, prepare, prepared_database, test_settings, Tap, TopologyGuard,
};
use eai_transport::lapin::options::QueueDeclareOptions;
use eai_transport::lapin::types::FieldTable;
use serde_json::Value;
use sqlx::{Executor, PgConnection};

const EAI: &str = env!("CARGO_BIN_EXE_eai");

/// The product a held lock makes an envelope slow or failing: `P002`.
const LOCKED_ITEM: &str = "69dbb151-bbe6-4547-853a-0342ace00eab";

/// Settings for a worker process: a fixed port of its own.
fn process_settings(db: &TestDatabase) -> Settings {
    let mut settings = test_settings(db);
    settings.http.addr = free_addr();
    settings
}

fn binary() -> &'static Path {
    Path::new(EAI)
}

/// A seeded random number generator (xorshift), so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn from_clock() -> Dice {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64)
            | 1;
        eprintln!("dice seed {seed}");
        Dice(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn status(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Status"]
        .as_str()
        .unwrap_or_default()
}

fn first_code(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Details"][0]["Code"]
        .as_str()
        .unwrap_or_default()
}

/// The `Header.UUID` of an envelope built for a test.
fn uuid_of(envelope: &Value) -> String {
    envelope["Header"]["UUID"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A tap on the dead-letter exchange, to see what was dead-lettered (the
/// topology must exist: connect the [`Shop`] first).
async fn dead_letter_tap(settings: &Settings) -> Tap {
    Tap::open(&settings.topology().dead_letter_exchange, "").await
}

/// A transaction holding the row locks of `P002`'s lots until it is dropped.
async fn hold_locks(db: &TestDatabase) -> PgConnection {
    let mut connection = db.connection().await;
    connection.execute("BEGIN").await.expect("begin");
    connection
        .execute("SELECT * FROM lots WHERE product = 'P002' FOR UPDATE")
        .await
        .expect("locks held");
    connection
}

/// Waits until `count` backends of the test database wait for a lock.
async fn lock_waiters(db: &TestDatabase, count: i64, within: Duration) {
    let deadline = Instant::now() + within;
    let name = db.options().get_database().unwrap_or_default().to_owned();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&name)
        .fetch_one(db.pool())
        .await
        .expect("pg_stat_activity");
        if waiting >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} backends never waited for the held lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many messages wait in `queue`.
async fn queue_depth(queue: &str) -> u32 {
    let connection = broker_connection("eai-tests-depth").await;
    let channel = connection.create_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the queue exists");
    connection.close(200, "counted".into()).await.ok();
    declared.message_count()
}

/// Polls `/readyz` every 100 ms until its status is `want` and its body
/// contains `saying`; every answer must come within a second. Returns how
/// long it took.
async fn readiness_becomes(
    worker: &WorkerProcess,
    want: u16,
    saying: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = worker
            .readyz()
            .await
            .expect("/readyz answers within a second, whatever the state");
        if status == want && body.contains(saying) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "/readyz still {status} {body} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn publish_all(shop: &Shop, envelopes: &[StreamEnvelope]) {
    for envelope in envelopes {
        shop.publish(&envelope.body, envelope.transaction, &envelope.uuid)
            .await;
    }
}

/// Runs `eai args…` facing an unreachable server and checks it exits with
/// code 1 within seconds, naming the `address` it tried.
async fn exits_naming(args: &[&str], settings: &Settings, address: &str, facing: &str) {
    let finished = run_command(binary(), args, settings, Duration::from_secs(20)).await;
    let status = finished.status.expect("it exits by itself");
    assert_eq!(status.code(), Some(1), "{args:?}: {}", finished.stderr);
    assert!(
        finished.stderr.contains(address),
        "{args:?} names the server it tried: {}",
        finished.stderr
    );
    assert!(
        finished.elapsed < Duration::from_secs(12),
        "{:?}",
        finished.elapsed
    );
    eprintln!(
        "eai {args:?} facing {facing}: exit 1 after {:?}",
        finished.elapsed
    );
}

fn uuids(envelopes: &[StreamEnvelope]) -> Vec<String> {
    envelopes
        .iter()
        .map(|envelope| envelope.uuid.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_applies_nothing_twice() {
    kill_9_during_a_stream(TestDatabase::create().await, |_| {}).await;
}

/// The same without a broker: the envelopes a killed worker held come back
/// from the database's queue when their lease ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_without_a_broker_loses_nothing_and_applies_nothing_twice() {
    kill_9_during_a_stream(TestDatabase::create().await, without_broker).await;
}

/// The same on SQLite, the embedded default: one file, every commit synced,
/// the test's shop writing to it from another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_sqlite_loses_nothing_and_applies_nothing_twice() {
    kill_9_during_a_stream(TestDatabase::sqlite().await, without_broker).await;
}

/// No broker; a killed worker's envelopes come back after a 2 s lease.
fn without_broker(settings: &mut Settings) {
    settings.amqp.url = String::new().into();
    settings.receiver.queue_lease = Duration::from_secs(2);
}

/// Kills the worker of `adjust`ed settings on `db` three times at random
/// moments of a stream of mixed envelopes, then audits every answer and effect.
async fn kill_9_during_a_stream(db: TestDatabase, adjust: impl FnOnce(&mut Settings)) {
    let db = prepare(db, &[stream::bulk_stock()]).await;
    let mut settings = process_settings(&db);
    adjust(&mut settings);
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let envelopes = stream::mixed(&run[..8], 480);
    let total = envelopes.len();
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;

    let started = Instant::now();
    let publishing = {
        let envelopes = envelopes.clone();
        let shop = &shop;
        async move { publish_all(shop, &envelopes).await }
    };
    let mut dice = Dice::from_clock();
    let killing = async {
        let mut kills = 0;
        for quarter in 1..=3 {
            let target = total * quarter / 4 + dice.below(total as u64 / 8) as usize;
            while shop.receipts().len() < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(dice.below(200))).await;
            worker.kill();
            kills += 1;
            eprintln!(
                "kill -9 #{kills} with {} of {total} answered",
                shop.receipts().len()
            );
            settings.http.addr = free_addr();
            worker = WorkerProcess::spawn(binary(), &settings);
            worker.ready(Duration::from_secs(30)).await;
        }
        kills
    };
    let ((), kills) = tokio::join!(publishing, killing);
    let missing = shop
        .answered(&uuids(&envelopes), Duration::from_secs(120))
        .await;
    assert!(missing.is_empty(), "unanswered: {missing:?}");
    let elapsed = started.elapsed();
    let report = audit(&db.any().await, &envelopes, &shop.receipts()).await;
    eprintln!(
        "{total} envelopes, {kills} kills, {elapsed:?}: {} ok, {} errors, {} receipts ({} repeated after a kill), lost 0, doubled 0",
        report.ok, report.errors, report.receipts, report.repeated
    );
    assert!(kills >= 3);
    assert!(
        report.ok > total / 2,
        "the stream is mostly good: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_silent_broker_path_turns_readiness_false_within_seconds_and_the_worker_comes_back(
) {
    let db = prepared_database(&[stream::bulk_stock()]).await;
    let broker: SocketAddr = "127.0.0.1:5672".parse().expect("address");
    let proxy = Proxy::start(broker).await;
    let mut settings = process_settings(&db);
    settings.amqp.url = format!("amqp://guest:guest@{}/%2f", proxy.address()).into();
    settings.amqp.connect_timeout = Duration::from_secs(2);
    settings.amqp.heartbeat = Duration::from_secs(4);
    settings.health.liveness_timeout = Duration::from_secs(4);
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;
    let reserve = |id: &str| {
        let envelope = stream::reservation(id, stream::ITEM, 1);
        let uuid = uuid_of(&envelope);
        (uuid, envelope.to_string().into_bytes())
    };
    let (uuid, body) = reserve("before-cut");
    shop.publish(&body, "ItemReserve", &uuid).await;
    assert!(shop
        .answered(&[uuid], Duration::from_secs(20))
        .await
        .is_empty());

    for mode in [Mode::Cut, Mode::Silent] {
        proxy.set(mode);
        let noticed =
            readiness_becomes(&worker, 503, r#""broker":false"#, Duration::from_secs(15)).await;
        let (live, _) = worker.healthz().await.expect("/healthz answers");
        assert_eq!(live, 200, "a broker outage is not a reason to restart");
        let (uuid, body) = reserve(&format!("during-{mode:?}"));
        shop.publish(&body, "ItemReserve", &uuid).await;
        // Consumers gone longer than the liveness timeout: a restart would be the cure.
        let started = Instant::now();
        while worker.healthz().await.map(|(status, _)| status) != Some(503) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "/healthz never failed while the consumers were gone"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let unlive = started.elapsed();
        proxy.set(Mode::Pass);
        let back = readiness_becomes(&worker, 200, "", Duration::from_secs(30)).await;
        let (live, _) = worker.healthz().await.expect("/healthz answers");
        assert_eq!(live, 200, "live again once consuming");
        let missing = shop.answered(&[uuid], Duration::from_secs(20)).await;
        assert!(missing.is_empty(), "the envelope of the outage is answered");
        eprintln!(
            "{mode:?}: not ready after {noticed:?}, not live {unlive:?} later; ready again {back:?} after the path came back"
        );
    }
    assert_eq!(
        worker.metric("eai_broker_reconnects_total").await,
        Some(2.0),
        "one reconnection per outage"
    );
    assert_eq!(worker.metric("eai_ready").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_waited_out_and_readiness_says_so_within_a_second() {
    let db = prepared_database(&[stream::bulk_stock()]).await;
    let postgres: SocketAddr = "127.0.0.1:5432".parse().expect("address");
    let proxy = Proxy::start(postgres).await;
    let mut settings = process_settings(&db);
    let name = db.options().get_database().unwrap_or_default().to_owned();
    settings.database.url = format!("postgres://postgres@{}/{name}", proxy.address()).into();
    settings.database.acquire_timeout = Duration::from_secs(2);
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let dead = dead_letter_tap(&settings).await;
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;

    proxy.set(Mode::Cut);
    let noticed =
        readiness_becomes(&worker, 503, r#""database":false"#, Duration::from_secs(10)).await;
    let during = stream::mixed("outage", 10);
    publish_all(&shop, &during).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = shop.receipts().len();
    proxy.set(Mode::Pass);
    let missing = shop
        .answered(&uuids(&during), Duration::from_secs(60))
        .await;
    assert!(
        missing.is_empty(),
        "unanswered after the outage: {missing:?}"
    );
    let back = readiness_becomes(&worker, 200, "", Duration::from_secs(20)).await;
    for envelope in &during {
        let receipt = shop.receipt(&envelope.uuid).expect("receipt");
        assert_ne!(
            first_code(&receipt),
            "PROCESSING_FAILED",
            "an outage is not the envelope's fault: {receipt}"
        );
    }
    assert!(
        dead.next(Duration::ZERO).await.is_none(),
        "nothing was dead-lettered"
    );
    eprintln!(
        "database cut: not ready after {noticed:?}, {early} answered during 5 s of outage, ready again {back:?} after it came back, all {} answered",
        during.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_dead_lettered_with_a_receipt_and_good_envelopes_keep_their_latency(
) {
    let db = prepared_database(&[stream::bulk_stock()]).await;
    let mut settings = process_settings(&db);
    settings.database.lock_timeout = Duration::from_millis(300);
    settings.receiver.failure_retry_delays = vec![Duration::from_secs(1), Duration::from_secs(1)];
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let dead = dead_letter_tap(&settings).await;
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;

    let good = |index: usize, phase: &str| {
        let envelope = stream::reservation(&format!("{phase}-{index}"), stream::ITEM, 1);
        let uuid = uuid_of(&envelope);
        (uuid, envelope.to_string().into_bytes())
    };
    let measure = |phase: &'static str, count: usize| {
        let shop = &shop;
        async move {
            let mut latencies = Vec::new();
            for index in 0..count {
                let (uuid, body) = good(index, phase);
                let sent = Instant::now();
                shop.publish(&body, "ItemReserve", &uuid).await;
                let latency = shop
                    .latency(&uuid, sent, Duration::from_secs(30))
                    .await
                    .expect("a good envelope is answered");
                latencies.push(latency);
            }
            latencies.sort();
            latencies
        }
    };
    let baseline = measure("baseline", 40).await;

    let locks = hold_locks(&db).await;
    let poison = stream::reservation("poison", LOCKED_ITEM, 1);
    let poison_uuid = uuid_of(&poison);
    let poisoned_at = Instant::now();
    shop.publish(poison.to_string().as_bytes(), "ItemReserve", &poison_uuid)
        .await;
    let during = measure("during", 80).await;
    let answered = shop
        .latency(&poison_uuid, poisoned_at, Duration::from_secs(60))
        .await
        .expect("the failing message is answered");
    drop(locks);

    let receipt = shop.receipt(&poison_uuid).expect("its receipt");
    assert_eq!(status(&receipt), "error");
    assert_eq!(first_code(&receipt), "PROCESSING_FAILED", "{receipt}");
    let message = receipt["Content"]["ProcessingInformation"]["Details"][0]["Message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("failed 3 times"), "{message}");
    let dead_letter = dead
        .next(Duration::from_secs(10))
        .await
        .expect("the failing message is in the dead-letter queue");
    assert_eq!(dead_letter.delivery.data, poison.to_string().into_bytes());
    assert_eq!(
        header(&dead_letter, "x-eai-code").as_deref(),
        Some("PROCESSING_FAILED")
    );

    let p95 = |latencies: &[Duration]| latencies[latencies.len() * 95 / 100];
    eprintln!(
        "good envelopes: p50 {:?} p95 {:?} max {:?} before; p50 {:?} p95 {:?} max {:?} while a message failed for {answered:?}",
        baseline[baseline.len() / 2],
        p95(&baseline),
        baseline[baseline.len() - 1],
        during[during.len() / 2],
        p95(&during),
        during[during.len() - 1],
    );
    assert!(
        p95(&during) < p95(&baseline) + Duration::from_secs(1),
        "a failing message does not hold the queue back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_no_worker_survives_is_answered_once_the_redelivery_limit_is_passed() {
    let db = prepared_database(&[]).await;
    let mut settings = process_settings(&db);
    // Long enough to be killed while waiting; short enough that the dead
    // workers' transactions (which PostgreSQL ends when their lock wait
    // times out) do not hold its inbox claim for long.
    settings.database.lock_timeout = Duration::from_millis(8000);
    settings.receiver.redelivery_limit = 2;
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let dead = dead_letter_tap(&settings).await;
    let locks = hold_locks(&db).await;
    let poison = stream::reservation("killer", LOCKED_ITEM, 1);
    let uuid = uuid_of(&poison);
    shop.publish(poison.to_string().as_bytes(), "ItemReserve", &uuid)
        .await;
    // Each worker takes it and hangs on the lock: "dies" holding it.
    for started in 1..=3 {
        settings.http.addr = free_addr();
        let mut worker = WorkerProcess::spawn(binary(), &settings);
        worker.ready(Duration::from_secs(30)).await;
        lock_waiters(&db, started, Duration::from_secs(20)).await;
        worker.kill();
    }
    settings.http.addr = free_addr();
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;
    assert!(
        shop.answered(std::slice::from_ref(&uuid), Duration::from_secs(40))
            .await
            .is_empty(),
        "answered on its fourth start"
    );
    drop(locks);
    let receipt = shop.receipt(&uuid).expect("receipt");
    assert_eq!(first_code(&receipt), "PROCESSING_FAILED", "{receipt}");
    assert!(receipt.to_string().contains("started 3 times"), "{receipt}");
    let dead_letter = dead
        .next(Duration::from_secs(10))
        .await
        .expect("dead-lettered");
    assert_eq!(
        header(&dead_letter, "x-eai-code").as_deref(),
        Some("PROCESSING_FAILED")
    );
}

/// A reservation waiting for stock another transaction holds keeps its
/// lane; a later one for the same stock waits behind it, and one for other
/// stock that arrives together with that one is answered meanwhile instead
/// of joining its batch and waiting too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_for_other_stock_is_answered_while_the_held_stock_waits() {
    let db = prepared_database(&[]).await;
    let mut settings = process_settings(&db);
    settings.database.lock_timeout = Duration::from_millis(30000);
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;
    let locks = hold_locks(&db).await;
    let first = stream::reservation("held-first", LOCKED_ITEM, 1);
    shop.publish(
        first.to_string().as_bytes(),
        "ItemReserve",
        &uuid_of(&first),
    )
    .await;
    lock_waiters(&db, 1, Duration::from_secs(20)).await;

    let second = stream::reservation("held-second", LOCKED_ITEM, 1);
    let other = stream::reservation("other-stock", stream::ITEM, 1);
    let sent = Instant::now();
    for envelope in [&second, &other] {
        shop.publish(
            envelope.to_string().as_bytes(),
            "ItemReserve",
            &uuid_of(envelope),
        )
        .await;
    }
    let answered = shop
        .latency(&uuid_of(&other), sent, Duration::from_secs(5))
        .await
        .expect("the reservation for other stock is answered while the held stock waits");
    let receipt = shop.receipt(&uuid_of(&other)).expect("its receipt");
    assert_eq!(status(&receipt), "ok", "{receipt}");
    assert!(
        shop.receipt(&uuid_of(&first)).is_none() && shop.receipt(&uuid_of(&second)).is_none(),
        "the reservations for the held stock wait for it"
    );

    drop(locks);
    let missing = shop
        .answered(
            &[uuid_of(&first), uuid_of(&second)],
            Duration::from_secs(20),
        )
        .await;
    assert!(missing.is_empty(), "unanswered once released: {missing:?}");
    for envelope in [&first, &second] {
        let receipt = shop.receipt(&uuid_of(envelope)).expect("its receipt");
        assert_eq!(status(&receipt), "ok", "{receipt}");
    }
    eprintln!("the reservation for other stock was answered {answered:?} after it was sent, while the held stock waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_envelope_commit_publish_and_ack_before_the_worker_exits() {
    let db = prepared_database(&[]).await;
    let mut settings = process_settings(&db);
    settings.database.lock_timeout = Duration::from_millis(30000);
    settings.shutdown_grace = Duration::from_secs(30);
    let _topology = TopologyGuard(settings.topology());
    let shop = Shop::connect(&settings).await;
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    worker.ready(Duration::from_secs(30)).await;
    let locks = hold_locks(&db).await;
    let slow = stream::reservation("slow", LOCKED_ITEM, 1);
    let uuid = uuid_of(&slow);
    shop.publish(slow.to_string().as_bytes(), "ItemReserve", &uuid)
        .await;
    lock_waiters(&db, 1, Duration::from_secs(20)).await;

    worker.terminate();
    let (status_while_draining, body) = {
        let mut seen = (0, String::new());
        for _ in 0..20 {
            if let Some(answer) = worker.readyz().await {
                seen = answer;
                if seen.0 == 503 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    };
    assert_eq!(status_while_draining, 503);
    assert!(body.contains(r#""draining":true"#), "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let released = Instant::now();
    drop(locks);
    let exit = worker
        .exit(Duration::from_secs(20))
        .await
        .expect("the worker exits once it drained");
    assert!(exit.success(), "{exit}");
    let receipt = shop.receipt(&uuid).expect("answered before the exit");
    assert_eq!(status(&receipt), "ok", "{receipt}");
    assert_eq!(
        queue_depth(&settings.topology().work_queues[0].0).await,
        0,
        "acked: nothing left to redeliver"
    );
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(db.pool())
        .await
        .expect("inbox");
    assert_eq!(inbox, 1);
    eprintln!(
        "SIGTERM, then the slow envelope finished, published, acked and the worker exited {:?} after its lock was released",
        released.elapsed()
    );
}

/// Readiness may already say 200 and envelopes be consumed while the worker
/// finishes starting; a SIGTERM in that window (a rolling update, `docker
/// stop` right after `up`) must drain the worker, not kill it outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_while_the_worker_is_starting_drains_it_instead_of_killing_it() {
    let db = prepared_database(&[]).await;
    let settings = process_settings(&db);
    let _topology = TopologyGuard(settings.topology());
    let mut worker = WorkerProcess::spawn(binary(), &settings);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !worker.log().contains("EAI Worker starting") {
        assert!(
            Instant::now() < deadline,
            "never started:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    worker.terminate();
    let exit = worker
        .exit(Duration::from_secs(30))
        .await
        .expect("the worker exits once it drained");
    let log = worker.log();
    assert!(exit.success(), "{exit}:\n{log}");
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("worker stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_or_the_database_unreachable_every_command_names_the_address_and_exits() {
    let db = prepared_database(&[]).await;
    let silent = Proxy::start("127.0.0.1:5672".parse().expect("address")).await;
    silent.set(Mode::Silent);
    let mut settings = process_settings(&db);
    settings.startup_timeout = Duration::from_secs(3);
    settings.amqp.connect_timeout = Duration::from_secs(1);
    settings.database.acquire_timeout = Duration::from_secs(1);
    settings.amqp.url = format!("amqp://guest:guest@{}/%2f", silent.address()).into();

    let envelope = std::env::temp_dir().join(format!("eai-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &envelope,
        stream::reservation("unreachable", stream::ITEM, 1).to_string(),
    )
    .expect("envelope file");
    let envelope_path = envelope.to_string_lossy().into_owned();
    for args in [vec!["run"], vec!["publish", "--wait", &envelope_path]] {
        exits_naming(&args, &settings, &silent.address(), "a silent broker").await;
    }
    let closed = free_addr();
    settings.database.url = format!("postgres://postgres@{closed}/eai").into();
    for args in [vec!["run"], vec!["migrate"]] {
        exits_naming(&args, &settings, &closed.to_string(), "no database").await;
    }
    std::fs::remove_file(envelope).ok();
}
