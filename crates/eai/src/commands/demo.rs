//! `eai demo`: the whole pipeline on a fresh database, nothing else needed.
//!
//! It drops and creates the demo database (the configured one's name with
//! `_demo`), starts a worker on it without a broker, imports the example
//! master data and mappings, feeds the walkthrough's ItemReserve envelopes
//! and seed 001's examples one by one through the real pipeline (the
//! database's inbound queue, the receiver, the store), prints each receipt's
//! status and codes, and keeps the worker running with its console open
//! until Ctrl-C.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use eai_store::{DatabaseUrl, Store};
use secrecy::{ExposeSecret, SecretString};

use crate::app;
use crate::commands::publish;
use crate::config::Settings;

/// What the demo database is called: the configured database's name and this.
const DEMO_SUFFIX: &str = "_demo";

/// Longest the demo waits for one receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

const MASTER_DATA: &str = include_str!("../../../../examples/master-data.json");

/// The envelopes fed, in order: the walkthrough's reservations, then seed
/// 001's sales with their reservations and the cancellation.
const ENVELOPES: [(&str, &str); 14] = [
    (
        "item-reserve-split.json",
        include_str!("../../../../examples/item-reserve-split.json"),
    ),
    (
        "item-reserve-shortfall.json",
        include_str!("../../../../examples/item-reserve-shortfall.json"),
    ),
    (
        "item-reserve-delete.json",
        include_str!("../../../../examples/item-reserve-delete.json"),
    ),
    (
        "seed-001/item-reserve-full-example.json",
        include_str!("../../../../examples/seed-001/item-reserve-full-example.json"),
    ),
    (
        "seed-001/retail-sales-full-1.json",
        include_str!("../../../../examples/seed-001/retail-sales-full-1.json"),
    ),
    (
        "seed-001/retail-sales-full-2.json",
        include_str!("../../../../examples/seed-001/retail-sales-full-2.json"),
    ),
    (
        "seed-001/retail-sales-cancellation.json",
        include_str!("../../../../examples/seed-001/retail-sales-cancellation.json"),
    ),
    (
        "seed-001/case-10.4.1.json",
        include_str!("../../../../examples/seed-001/case-10.4.1.json"),
    ),
    (
        "seed-001/case-10.4.2.json",
        include_str!("../../../../examples/seed-001/case-10.4.2.json"),
    ),
    (
        "seed-001/case-10.4.3.json",
        include_str!("../../../../examples/seed-001/case-10.4.3.json"),
    ),
    (
        "seed-001/case-10.4.4.json",
        include_str!("../../../../examples/seed-001/case-10.4.4.json"),
    ),
    (
        "seed-001/case-10.4.5.json",
        include_str!("../../../../examples/seed-001/case-10.4.5.json"),
    ),
    (
        "seed-001/case-10.4.6-item-reserve.json",
        include_str!("../../../../examples/seed-001/case-10.4.6-item-reserve.json"),
    ),
    (
        "seed-001/case-10.4.6.json",
        include_str!("../../../../examples/seed-001/case-10.4.6.json"),
    ),
];

/// One envelope of the demo and how it was answered.
struct Answered {
    file: &'static str,
    transaction: String,
    status: String,
    codes: Vec<String>,
}

/// Runs the demo until `signal`, then shuts the worker down.
pub async fn run(settings: &Settings, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let configured = settings.database_url().context("EAI_DATABASE_URL")?;
    let demo_url = configured
        .sibling(DEMO_SUFFIX)
        .context("the demo database")?;
    let demo = DatabaseUrl::from_str(&demo_url).context("the demo database URL")?;
    demo.drop_database(settings.database.acquire_timeout)
        .await
        .with_context(|| format!("cannot make a fresh demo database at {}", demo.shown()))?;
    let mut settings = settings.clone();
    settings.database.url = SecretString::from(demo_url);
    settings.amqp.url = SecretString::default();
    // A configured spool directory belongs to the real worker: its files
    // must not be answered from the demo database.
    settings.receiver.spool_dir = std::path::PathBuf::new();
    settings.http.console = true;
    let token = match settings.api.tokens.expose_secret().trim().is_empty() {
        true => {
            let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
            settings.api.tokens = SecretString::from(format!("demo:operator:{token}"));
            Some(token)
        }
        false => None,
    };
    let running = app::start(&settings, None).await?;
    let store = running.store().clone();
    let master: serde_json::Value =
        serde_json::from_str(MASTER_DATA).context("the example master data")?;
    let report = store.import(&master, &|_| {}).await?;
    anyhow::ensure!(
        report.is_ok(),
        "the example master data was refused: {:?}",
        report.errors
    );
    let mut answered = Vec::with_capacity(ENVELOPES.len());
    for (file, body) in ENVELOPES {
        answered.push(feed(&store, file, body).await?);
    }
    print_table(&answered);
    let address = settings.http.addr;
    println!();
    println!(
        "The worker keeps running on the demo database {}, without a broker:",
        demo.shown()
    );
    println!("  console  http://{address}/");
    println!("  API      http://{address}/api/v1");
    match token {
        Some(token) => println!("  token    {token}   (operator; sign in to the console with it)"),
        None => println!("  tokens   the ones EAI_API_TOKENS gives"),
    }
    println!("Ctrl-C stops it.");
    running.run_until(signal).await
}

/// Queues one envelope and waits for its receipt.
async fn feed(store: &Store, file: &'static str, body: &str) -> anyhow::Result<Answered> {
    let published = publish::queue(
        store,
        vec![(file.into(), body.as_bytes().to_vec())],
        Some(RECEIPT_TIMEOUT),
        None,
    )
    .await?;
    let receipt = published
        .into_iter()
        .next()
        .and_then(|published| published.receipt)
        .with_context(|| format!("{file}: no receipt within {} s", RECEIPT_TIMEOUT.as_secs()))?;
    let information = &receipt["Content"]["ProcessingInformation"];
    Ok(Answered {
        file,
        transaction: receipt["Header"]["Transaction"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        status: information["Status"].as_str().unwrap_or("?").to_owned(),
        codes: information["Details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|detail| detail["Code"].as_str().map(str::to_owned))
            .collect(),
    })
}

fn print_table(answered: &[Answered]) {
    let width = answered.iter().map(|row| row.file.len()).max().unwrap_or(0);
    println!(
        "{:<width$}  {:<24}  {:<6}  codes",
        "envelope", "transaction", "status"
    );
    for row in answered {
        println!(
            "{:<width$}  {:<24}  {:<6}  {}",
            row.file,
            row.transaction,
            row.status,
            row.codes.join(", ")
        );
    }
    let ok = answered.iter().filter(|row| row.status == "ok").count();
    println!(
        "{} envelopes answered: {ok} ok, {} error",
        answered.len(),
        answered.len() - ok
    );
}
