//! The operator commands as a user runs them: the `eai` binary against a
//! running `eai run`, with `--json` for scripts and meaningful exit codes.

use std::process::{Command, Output};
use std::time::Duration;

use eai::config::Settings;
use eai_tests::alert_sinks::{closed_addr, SmtpSink};
use eai_tests::process::{environment, free_addr, WorkerProcess};
use eai_tests::{prepared_database, stream, test_settings, TopologyGuard};
use serde_json::Value;

const EAI: &str = env!("CARGO_BIN_EXE_eai");
const UNMAPPED: &str = "7e57e57e-0000-4000-8000-00000000c11f";

fn eai(settings: &Settings, args: &[&str]) -> Output {
    Command::new(EAI)
        .args(args)
        .envs(environment(settings))
        .env("USER", "ana")
        .output()
        .expect("eai runs")
}

/// Runs `eai ARGS --json`, expecting exit code `code`; its stdout as JSON.
fn json(settings: &Settings, args: &[&str], code: i32) -> Value {
    let output = eai(settings, &[args, &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "eai {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("eai {args:?}: not JSON: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_discards_and_maps_from_the_command_line() {
    let db = prepared_database(&[]).await;
    let mut settings = test_settings(&db);
    settings.http.addr = free_addr();
    let _topology = TopologyGuard(settings.topology());
    let mut worker = WorkerProcess::spawn(std::path::Path::new(EAI), &settings);
    worker.ready(Duration::from_secs(30)).await;

    let file = std::env::temp_dir().join(format!("eai-cli-{}.json", uuid::Uuid::new_v4().simple()));
    let envelope = stream::reservation("ORDER-CLI", UNMAPPED, 1);
    std::fs::write(&file, envelope.to_string()).expect("envelope file");
    let published = eai(
        &settings,
        &["publish", "--wait", file.to_str().expect("path")],
    );
    assert_eq!(published.status.code(), Some(3), "an error receipt exits 3");
    std::fs::remove_file(&file).ok();

    let listed = json(
        &settings,
        &[
            "messages",
            "list",
            "--direction",
            "in",
            "--status",
            "error",
            "--error-code",
            "PRODUCT_NOT_FOUND",
        ],
        0,
    );
    assert_eq!(listed["items"][0]["internal_id"], "ORDER-CLI");
    assert_eq!(listed["next_cursor"], "");
    let id = listed["items"][0]["id"].as_str().expect("id").to_owned();
    let shown = json(&settings, &["messages", "show", &id], 0);
    assert_eq!(
        shown["receipt"]["Content"]["ProcessingInformation"]["Details"][0]["Code"],
        "PRODUCT_NOT_FOUND"
    );
    let pending = json(&settings, &["pending", "--document", "ORDER-CLI"], 0);
    assert_eq!(pending["items"][0]["id"], id.as_str());
    assert_eq!(
        pending["items"][0]["suggested_action"],
        "map the product (de/para Product) or import it, then retry"
    );

    let human = eai(&settings, &["pending"]);
    let table = String::from_utf8_lossy(&human.stdout);
    assert!(
        table.contains(&id)
            && table.contains("PRODUCT_NOT_FOUND")
            && table.contains("map the product"),
        "{table}"
    );

    let bogus = eai(&settings, &["messages", "list", "--status", "bogus"]);
    assert_eq!(
        bogus.status.code(),
        Some(2),
        "an invalid filter is a usage error"
    );
    let error = String::from_utf8_lossy(&bogus.stderr);
    assert!(
        error.contains("--status") && error.contains("not_delivered"),
        "{error}"
    );
    let no_note = eai(&settings, &["messages", "discard", &id]);
    assert_eq!(no_note.status.code(), Some(2));

    let discarded = json(
        &settings,
        &["messages", "discard", &id, "--note", "duplicate order"],
        0,
    );
    assert_eq!(
        discarded["items"][0],
        serde_json::json!({"id": id, "action": "discard", "by": "ana"})
    );
    assert_eq!(
        json(&settings, &["pending"], 0)["items"],
        serde_json::json!([])
    );
    let again = json(
        &settings,
        &["messages", "discard", &id, "--note", "again"],
        3,
    );
    assert_eq!(again["items"][0]["code"], "NOT_APPLICABLE");
    let blocked = json(&settings, &["messages", "block", &id], 3);
    assert!(blocked["items"][0]["message"]
        .as_str()
        .expect("why")
        .contains("only outbound"));

    let set = json(
        &settings,
        &["mappings", "set", "ECOMMERCE", "Product", UNMAPPED, "P001"],
        0,
    );
    assert_eq!(set["created"], true);
    let retried = json(
        &settings,
        &["messages", "retry", &id, "--note", "mapped"],
        0,
    );
    assert_eq!(retried["items"][0]["action"], "retry");
    let mut status = Value::Null;
    for _ in 0..100 {
        status = json(&settings, &["messages", "show", &id], 0)["status"].clone();
        if status == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "ok", "processed again once its product was mapped");
    let unblock = json(&settings, &["messages", "unblock", &id], 3);
    assert_eq!(unblock["items"][0]["code"], "NOT_APPLICABLE");
    let mappings = json(&settings, &["mappings", "list", "--external", UNMAPPED], 0);
    assert_eq!(mappings["items"][0]["internal"], "P001");
    assert_eq!(
        json(
            &settings,
            &["mappings", "delete", "ECOMMERCE", "product", UNMAPPED],
            0
        )["deleted"],
        true
    );
    assert_eq!(
        json(
            &settings,
            &["mappings", "delete", "ECOMMERCE", "Product", UNMAPPED],
            3
        )["deleted"],
        false
    );
    assert_eq!(
        json(&settings, &["dlq", "list"], 0),
        serde_json::json!({"items": [], "next_cursor": ""})
    );
    let junk = std::env::temp_dir().join(format!("eai-cli-{}.txt", uuid::Uuid::new_v4().simple()));
    std::fs::write(&junk, "not an envelope").expect("junk file");
    let sent = eai(
        &settings,
        &[
            "publish",
            "--routing-key",
            "ItemReserve",
            junk.to_str().expect("path"),
        ],
    );
    assert_eq!(sent.status.code(), Some(0));
    std::fs::remove_file(&junk).ok();
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = json(&settings, &["dlq", "list", "--open"], 0);
        if dead["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["items"][0]["code"], "INVALID_JSON");
    let dead_id = dead["items"][0]["id"].as_str().expect("id").to_owned();
    let replayed = json(&settings, &["dlq", "replay", &dead_id], 0);
    assert_eq!(replayed["items"][0]["action"], "replay");
    assert_eq!(
        json(&settings, &["dlq", "replay", "dead-999"], 3)["items"][0]["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        eai(&settings, &["dlq", "replay", "in-1"]).status.code(),
        Some(2),
        "not a dead letter id"
    );

    let now = chrono::Utc::now();
    let month = now.format("%m").to_string();
    let year = now.format("%Y").to_string();
    let usage = json(&settings, &["usage", "--year", &year, "--month", &month], 0);
    assert_eq!(usage["items"][0]["company"], "T1");
    assert_eq!(usage["items"][0]["cnpj"], "11.222.333/0001-81");
    assert_eq!(usage["items"][0]["production"]["envelopes"], 1);
    assert_eq!(
        eai(&settings, &["usage", "--year", &year]).status.code(),
        Some(2),
        "--month is required"
    );
    let nothing = json(
        &settings,
        &["export", "take", "--consumer", "WMW", "--mode", "changed"],
        3,
    );
    assert_eq!(
        nothing["batch"],
        Value::Null,
        "no sale integrated: nothing to export"
    );
    assert_eq!(
        eai(&settings, &["export", "confirm", "99"]).status.code(),
        Some(3)
    );

    worker.terminate();
    let exited = worker.exit(Duration::from_secs(30)).await;
    assert!(
        exited.is_some_and(|status| status.success()),
        "{}",
        worker.log()
    );
}

#[test]
fn a_database_url_of_another_scheme_is_refused_at_once_naming_the_schemes() {
    let mut settings = Settings::defaults();
    for (url, scheme) in [
        ("mysql://ana:s3cret@127.0.0.1/eai", "\"mysql:\""),
        ("eai.db", "no scheme"),
    ] {
        settings.database.url = url.to_owned().into();
        let started = std::time::Instant::now();
        let output = eai(&settings, &["migrate"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("postgres:// or postgresql:// or sqlite:") && stderr.contains(scheme),
            "{url}: {stderr}"
        );
        assert!(!stderr.contains("s3cret"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no server is tried: {:?}",
            started.elapsed()
        );
    }
}

/// Runs `eai doctor`, expecting exit code `code`; its stdout.
fn doctor(settings: &Settings, code: i32) -> String {
    let output = eai(settings, &["doctor"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stdout}");
    stdout
}

/// `eai doctor`'s line for `check`, as printed: its verdict and detail.
fn doctor_line<'a>(stdout: &'a str, check: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.starts_with(check))
        .unwrap_or_else(|| panic!("no {check} line in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_finds_nothing_wrong_with_a_running_worker_then_names_what_breaks() {
    let db = prepared_database(&[serde_json::json!({"destinations": [
        {"name": "erp-http", "company": "T1", "branch": "D MG 01", "transaction": "StockLevel",
         "kind": "http", "url": "http://127.0.0.1:9/eai"}
    ]})])
    .await;
    let mut settings = test_settings(&db);
    settings.http.addr = free_addr();
    let _topology = TopologyGuard(settings.topology());

    let stdout = doctor(&settings, 0);
    assert!(
        doctor_line(&stdout, "database").contains(" ok "),
        "{stdout}"
    );
    assert!(
        doctor_line(&stdout, "broker").contains("not declared yet"),
        "no worker ran yet: {stdout}"
    );
    assert!(
        doctor_line(&stdout, "worker").contains("nothing answers"),
        "{stdout}"
    );

    let mut worker = WorkerProcess::spawn(std::path::Path::new(EAI), &settings);
    worker.ready(Duration::from_secs(30)).await;
    let log = worker.log();
    let first = log.lines().next().unwrap_or_default();
    for said in [
        "EAI Worker starting".to_owned(),
        format!(
            "broker=127.0.0.1:5672 (topology {}, classic queues)",
            settings.amqp.topology_prefix
        ),
        format!("console=http://{}/", settings.http.addr),
        format!("api=http://{}/api/v1", settings.http.addr),
    ] {
        assert!(first.contains(&said), "the first line says {said}: {first}");
    }
    let stdout = doctor(&settings, 0);
    assert!(
        doctor_line(&stdout, "broker").contains("queues declared"),
        "{stdout}"
    );
    let itemreserve = format!(
        "{}.itemreserve: 0 ready, 1 consumer(s)",
        settings.amqp.topology_prefix
    );
    assert!(stdout.contains(&itemreserve), "{stdout}");
    assert!(
        doctor_line(&stdout, "destinations").contains("1 configured, 0 blocked"),
        "{stdout}"
    );
    assert!(
        doctor_line(&stdout, "worker").contains(": ready"),
        "{stdout}"
    );

    sqlx::query("UPDATE destinations SET blocked = true, blocked_reason = 'HTTP 401' WHERE name = 'erp-http'")
        .execute(db.pool())
        .await
        .expect("block it");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 13")
        .execute(db.pool())
        .await
        .expect("an older database");
    let stdout = doctor(&settings, 3);
    assert!(
        doctor_line(&stdout, "database").contains("1 migration(s) not applied")
            && stdout.contains("0013 sale fields kept"),
        "{stdout}"
    );
    assert!(
        stdout.contains("erp-http: blocked (HTTP 401)")
            && stdout.contains("eai destinations unblock erp-http"),
        "{stdout}"
    );

    worker.terminate();
    worker.exit(Duration::from_secs(30)).await;
}

#[test]
fn the_doctor_names_servers_it_cannot_reach() {
    let mut settings = Settings::defaults();
    let closed = free_addr();
    settings.database.url = format!("postgres://postgres@{closed}/eai").into();
    settings.database.acquire_timeout = Duration::from_secs(1);
    settings.amqp.url = format!("amqp://guest:guest@{closed}/%2f").into();
    settings.http.addr = closed;
    let started = std::time::Instant::now();
    let stdout = doctor(&settings, 3);
    for check in ["database", "broker"] {
        let line = doctor_line(&stdout, check);
        assert!(
            line.contains("FAILED") && line.contains(&closed.to_string()),
            "{line}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_broker_eai_publish_queues_in_the_database_and_eai_run_answers() {
    let db = prepared_database(&[serde_json::json!({"destinations": [
        {"name": "erp-amqp", "company": "T1", "branch": "D MG 01", "transaction": "StockLevel",
         "kind": "amqp", "exchange": "erp", "routing_key": "stock"}
    ]})])
    .await;
    let mut settings = test_settings(&db);
    settings.http.addr = free_addr();
    settings.amqp.url = "".to_owned().into();
    let mut worker = WorkerProcess::spawn(std::path::Path::new(EAI), &settings);
    worker.ready(Duration::from_secs(30)).await;
    let log = worker.log();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("broker=none (envelopes queue in the database)"),
        "{first}"
    );

    let reservation = eai_tests::example("seed-001/item-reserve-full-example.json");
    let published = eai(
        &settings,
        &["publish", "--wait", reservation.to_str().expect("path")],
    );
    let stdout = String::from_utf8_lossy(&published.stdout);
    assert_eq!(
        published.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let receipt: Value = serde_json::from_str(&stdout).expect("the receipt, as JSON");
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt}"
    );

    let stdout = doctor(&settings, 3);
    assert!(
        doctor_line(&stdout, "broker").contains("none (EAI_AMQP_URL is not set)")
            && doctor_line(&stdout, "broker").contains("0 queued"),
        "{stdout}"
    );
    assert!(
        stdout.contains("erp-amqp: an AMQP destination, and this worker has no broker"),
        "an AMQP destination cannot work: {stdout}"
    );

    worker.terminate();
    worker.exit(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_the_examples_on_a_fresh_database_and_keeps_its_console_open() {
    let db = prepared_database(&[]).await;
    let mut settings = test_settings(&db);
    settings.http.addr = free_addr();
    settings.api.tokens = String::new().into();
    // The demo's database goes with the test's (TestDatabase drops both).
    demo_twice(&settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_needs_nothing_installed_its_database_is_a_file_in_the_data_directory() {
    let data = std::env::temp_dir().join(format!("eai-demo-{}", uuid::Uuid::new_v4().simple()));
    let mut settings = Settings::defaults();
    settings.data_dir = data.clone();
    settings.http.addr = free_addr();
    // No database URL, no broker: the embedded default, whatever servers run here.
    settings.database.url = String::new().into();
    settings.amqp.url = String::new().into();
    demo_twice(&settings).await;
    assert!(data.join("eai_demo.sqlite3").is_file(), "the demo's file");
    assert!(
        !data.join("eai.sqlite3").exists(),
        "the configured database is never touched"
    );
    std::fs::remove_dir_all(&data).ok();
}

/// Runs `eai demo` twice with `settings`, each time checking the table, the
/// console, that the API lists that run's errors only, and a clean Ctrl-C.
async fn demo_twice(settings: &Settings) {
    for round in ["first", "second: fresh again"] {
        let mut demo = WorkerProcess::spawn_command(std::path::Path::new(EAI), "demo", settings);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !demo.output().contains("Ctrl-C stops it.") {
            assert!(
                std::time::Instant::now() < deadline,
                "{round}: no table within 60 s: {}\n{}",
                demo.output(),
                demo.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let output = demo.output();
        let row = |file: &str| {
            output
                .lines()
                .find(|line| line.starts_with(file))
                .unwrap_or_else(|| panic!("{round}: no row for {file}: {output}"))
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(row("item-reserve-split.json"), "ItemReserve ok");
        assert_eq!(
            row("item-reserve-shortfall.json"),
            "ItemReserve error LOT_INSUFFICIENT"
        );
        assert!(
            row("seed-001/retail-sales-full-1.json")
                .starts_with("RetailSales error TOTALS_MISMATCH"),
            "{output}"
        );
        assert_eq!(
            row("seed-001/retail-sales-full-2.json"),
            "RetailSales ok TOTAL_PRICE_INCONSISTENT"
        );
        assert!(
            row("seed-001/case-10.4.4.json").starts_with("RetailSales error PAYMENTS_MISMATCH"),
            "{output}"
        );
        assert_eq!(row("seed-001/case-10.4.6.json"), "RetailSales ok");
        assert!(
            output.contains("14 envelopes answered: 11 ok, 3 error"),
            "{round}: {output}"
        );
        let token = output
            .lines()
            .find_map(|line| line.trim().strip_prefix("token"))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("a token to sign in with: {output}"))
            .to_owned();
        let console =
            eai_tests::process::http_get(settings.http.addr, "/login", Duration::from_secs(5))
                .await
                .expect("the console answers");
        assert_eq!(console.0, 200, "{}", console.1);
        let listed = eai_tests::api::call_at(
            settings.http.addr,
            "GET",
            "/api/v1/messages?direction=in&status=error",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(
            listed.body["items"].as_array().map(Vec::len),
            Some(3),
            "{round}: only this run's errors: {}",
            listed.body
        );
        demo.terminate();
        assert!(
            demo.exit(Duration::from_secs(30))
                .await
                .is_some_and(|status| status.success()),
            "Ctrl-C ends the demo cleanly: {}",
            demo.log()
        );
    }
}

#[test]
fn a_sender_only_worker_given_a_spool_directory_is_refused_at_once() {
    let mut settings = Settings::defaults();
    settings.receiver.spool_dir = std::env::temp_dir().join("eai-spool-never-watched");
    let started = std::time::Instant::now();
    let output = eai(&settings, &["run", "--only", "sender"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("receiver.spool_dir") && stderr.contains("--only sender"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "before connecting to anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sets_tests_and_lists_alert_targets_from_the_command_line() {
    let db = eai_store::testing::TestDatabase::create().await;
    let settings = test_settings(&db);
    let sink = SmtpSink::start().await;
    let closed = closed_addr().await;
    let set = |name: &str, port: u16, extra: &[&str]| {
        let port = port.to_string();
        let args = [
            &[
                "alerts",
                "targets",
                "set",
                name,
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                &port,
                "--smtp-security",
                "none",
                "--sender",
                "eai@example.com",
                "--to",
                "ops@example.com,duty@example.com",
                "--cc",
                "boss@example.com",
            ],
            extra,
        ]
        .concat();
        eai(&settings, &args)
    };
    assert_eq!(set("ops", sink.addr.port(), &[]).status.code(), Some(0));
    assert_eq!(set("down", closed.port(), &[]).status.code(), Some(0));
    let refused = set(
        "bad",
        sink.addr.port(),
        &["--username", "eai", "--password-ref", "hunter2"],
    );
    assert_eq!(refused.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "bad: password_ref must be env:NAME or file:/path"
    );
    // The doctor says which references do not resolve, never what they hold.
    let password = std::env::temp_dir().join(format!("eai-smtp-{}", uuid::Uuid::new_v4()));
    let reference = format!("file:{}", password.display());
    let authed = set(
        "authed",
        sink.addr.port(),
        &["--username", "eai", "--password-ref", &reference],
    );
    assert_eq!(authed.status.code(), Some(0));
    let stdout = doctor(&settings, 3);
    let line = stdout
        .lines()
        .find(|line| line.contains("authed (email)"))
        .unwrap_or_else(|| panic!("no line for the target: {stdout}"));
    assert!(
        line.starts_with("  alert target FAILED")
            && line.contains(&format!(
                "the secret reference {reference} cannot be resolved"
            )),
        "{stdout}"
    );
    std::fs::write(&password, "s3cret-of-the-smtp\n").expect("the secret file");
    let stdout = doctor(&settings, 0);
    assert!(
        stdout.contains("authed (email): its secret reference resolves")
            && !stdout.contains("s3cret-of-the-smtp"),
        "{stdout}"
    );
    std::fs::remove_file(&password).expect("removed");
    assert_eq!(
        eai(&settings, &["alerts", "targets", "delete", "authed"])
            .status
            .code(),
        Some(0)
    );
    let targets = json(&settings, &["alerts", "targets", "list"], 0);
    assert_eq!(targets[1]["name"], "ops");
    assert_eq!(targets[1]["copies"][0], "boss@example.com");

    let sent = eai(&settings, &["alerts", "test", "ops"]);
    let stdout = String::from_utf8_lossy(&sent.stdout);
    assert_eq!(sent.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("ops: test alert sent in "), "{stdout}");
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        mails[0].recipients,
        ["ops@example.com", "duty@example.com", "boss@example.com"]
    );
    let failed = eai(&settings, &["alerts", "test", "down"]);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.starts_with("down: test alert NOT sent after ")
            && stdout.contains(&format!(
                "SMTP 127.0.0.1:{}: Connection error",
                closed.port()
            )),
        "{stdout}"
    );
    let unknown = eai(&settings, &["alerts", "test", "nobody"]);
    assert_eq!(unknown.status.code(), Some(3));

    let listed = json(&settings, &["alerts", "list", "--status", "failed"], 0);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["target"], "down");
    assert_eq!(
        json(&settings, &["alerts", "list", "--status", "sent"], 0)[0]["target"],
        "ops"
    );
    assert_eq!(
        eai(&settings, &["alerts", "list", "--status", "bogus"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        eai(&settings, &["alerts", "targets", "delete", "ops"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        eai(&settings, &["alerts", "targets", "delete", "ops"])
            .status
            .code(),
        Some(3)
    );
}
