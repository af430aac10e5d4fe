//! `eai-bench`: how fast the worker is, stated against what the broker and
//! a naive consumer do on the same machine in the same run.
//!
//! One command (`cargo run --release -p eai-bench`) against the local
//! RabbitMQ and PostgreSQL, on a database and a topology prefix of its own
//! (both removed at the end): it builds the master data, starts the worker
//! as a real `eai run` process with its defaults (or `--prefetch`,
//! `--in-flight`), and in each run measures
//!
//! - the **ceiling**: a null relay doing only the worker's AMQP work, at the
//!   same prefetch and in-flight settings, and the **naive consumer**, both
//!   as issue 10 measured it (a Python script) and in the bench's process;
//! - the worker's **ItemReserve** stream on the branch of 5,000 lots and on
//!   the branch of 100,000 lots, and the **RetailSales** stream consuming the
//!   first one's reservations, each at saturation, every receipt `ok`;
//! - the latency publish → receipt at a fixed offered rate;
//! - one **30 MiB RetailSales** of 10,000 items, its time and the worker's
//!   peak resident memory;
//! - the **sender's drain** to a local HTTP destination against its baseline,
//!   and a drain of ten times as many messages against it;
//!
//! then prints the runs, their medians and the targets.
//!
//! # Layout
//!
//! - [`envelopes`]: master data and envelope bodies.
//! - [`setup`]: the database, the worker process, `/proc` readings.
//! - [`load`]: publishing at a pace and collecting receipts.
//! - [`relays`]: the null relay and the naive consumer in the bench's
//!   process.
//! - [`naive_script`]: the naive consumer as issue 10 measured it, a
//!   Python script.
//! - [`drain`]: the HTTP destination, the sender's drain and its baseline.
//! - [`report`]: the table.

mod drain;
mod envelopes;
mod load;
mod naive_script;
mod relays;
mod report;
mod setup;

use std::time::{Duration, Instant};

use clap::Parser;
use eai_transport::{QueueType, Topology};

use crate::load::{Client, Measured, Offered, Pace};
use crate::naive_script::NaiveScript;
use crate::relays::{Relays, Work};
use crate::report::Run;
use crate::setup::{CpuPerEnvelope, CpuUse, Worker, World};

/// Throughput, latency and memory of the EAI Worker, as ratios to the
/// broker's ceiling and to baselines measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "eai-bench")]
struct Args {
    /// Runs; the table gives each and their median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Envelopes of each saturation phase: enough that a phase measures a
    /// sustained rate (the broker's ceiling about a second, the worker's
    /// streams two to three), not how fast a pipeline fills and empties.
    #[arg(long, default_value_t = 10_000)]
    envelopes: usize,
    /// The offered rate of the latency phase, envelopes per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// How long the latency phase offers its rate.
    #[arg(long, default_value_t = 6)]
    rate_seconds: u32,
    /// Messages the sender drains.
    #[arg(long, default_value_t = 3_000)]
    messages: usize,
    /// Items of the large RetailSales.
    #[arg(long, default_value_t = 10_000)]
    large_items: usize,
    /// Size of the large RetailSales, MiB.
    #[arg(long, default_value_t = 30)]
    large_mib: usize,
    /// The worker's prefetch (`EAI_RECEIVER_PREFETCH`); its default when not given.
    #[arg(long)]
    prefetch: Option<u16>,
    /// The worker's envelopes in flight (`EAI_RECEIVER_CONCURRENCY`); its default when not given.
    #[arg(long)]
    in_flight: Option<usize>,
    /// The PostgreSQL server (the bench creates its own database there).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// The RabbitMQ broker.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    /// Keep the database and the worker's log afterwards (for profiling).
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let eai = World::locate_eai()?;
    let prefix = format!("bench{}", std::process::id());
    let world = World {
        eai,
        server_url: args.postgres.clone(),
        database: format!("eai_{prefix}"),
        amqp_url: args.amqp.clone(),
        directory: setup::scratch(&prefix)?,
        prefix,
    };
    let outcome = bench(&args, &world).await;
    if !args.keep {
        world.drop_database().await?;
        std::fs::remove_dir_all(&world.directory).ok();
    } else {
        println!(
            "kept database {} and {}",
            world.database,
            world.directory.display()
        );
    }
    outcome
}

async fn bench(args: &Args, world: &World) -> anyhow::Result<()> {
    let destination = drain::Destination::start().await?;
    eprintln!("preparing {} …", world.database);
    let pool = world.prepare(&destination.url()).await?;
    // What `eai run` will use: its defaults and `EAI_*` variables (the worker
    // inherits the bench's environment), then the flags.
    let defaults = eai::config::Settings::load(None)?;
    let setting = report::Setting {
        prefetch: args.prefetch.unwrap_or(defaults.receiver.prefetch),
        in_flight: args.in_flight.unwrap_or(defaults.receiver.concurrency),
        sender_in_flight: defaults.sender.concurrency,
        envelopes: args.envelopes,
        rate: args.rate,
        messages: args.messages,
        large_mib: args.large_mib,
        large_items: args.large_items,
    };
    let settings = [
        (
            "EAI_RECEIVER_PREFETCH".to_owned(),
            setting.prefetch.to_string(),
        ),
        (
            "EAI_RECEIVER_CONCURRENCY".to_owned(),
            setting.in_flight.to_string(),
        ),
    ];
    let worker = Worker::start(world, &settings).await?;
    let mut client = Client::connect(&world.amqp_url).await?;
    let mut runs = Vec::new();
    let outcome = async {
        warm_up(world, &mut client, &pool, WARM_UP).await?;
        for number in 1..=args.runs {
            eprintln!("run {number} of {} …", args.runs);
            let run = one_run(
                args,
                &setting,
                world,
                &worker,
                &mut client,
                &pool,
                &destination,
                number,
            )
            .await?;
            runs.push(run);
        }
        anyhow::Ok(())
    }
    .await;
    let log = worker.log.clone();
    worker.stop().await?;
    Topology::with_prefix(&world.prefix, QueueType::Quorum)
        .with_delays([Duration::from_secs(1)])
        .delete(&client.connection().create_channel().await?)
        .await?;
    if let Err(error) = outcome {
        eprintln!("the worker's log: {}\n{}", log.display(), tail(&log, 20));
        return Err(error);
    }
    report::print(&setting, &runs);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn one_run(
    args: &Args,
    setting: &report::Setting,
    world: &World,
    worker: &Worker,
    client: &mut Client,
    pool: &sqlx::PgPool,
    destination: &drain::Destination,
    number: usize,
) -> anyhow::Result<Run> {
    let (prefetch, in_flight) = (setting.prefetch, setting.in_flight);
    let tag = format!("r{number}");
    let inbound = format!("{}.inbound", world.prefix);
    let item_reserves = |label: &str, branch: &str, count: usize| -> Vec<Offered> {
        let run = format!("{tag}{label}");
        Offered::many(count, |uuid, n| {
            envelopes::item_reserve(uuid, &run, n, branch)
        })
    };

    let topology = Topology::with_prefix(&world.prefix, QueueType::Quorum);
    let relays = Relays {
        amqp_url: &world.amqp_url,
        topology: &topology,
        prefix: &world.prefix,
        prefetch,
    };
    let ceiling = relays
        .measure(
            client,
            "ceiling",
            in_flight,
            Work::Nothing,
            item_reserves("c", envelopes::BRANCH, args.envelopes),
            Pace::Saturation,
        )
        .await?;
    let naive = relays
        .measure(
            client,
            "naive",
            1,
            Work::FourRows(pool.clone()),
            item_reserves("n", envelopes::BRANCH, args.envelopes / 2),
            Pace::Saturation,
        )
        .await?;

    let script_queue = format!("{}.naive-script", world.prefix);
    let script = NaiveScript::start(
        client.connection(),
        &topology,
        &script_queue,
        prefetch,
        &world.database_url(),
        &world.amqp_url,
        args.envelopes / 2,
    )
    .await?;
    let naive_script = client
        .run(
            "",
            &script_queue,
            item_reserves("p", envelopes::BRANCH, args.envelopes / 2),
            Pace::Saturation,
        )
        .await?;
    script.stop(client.connection()).await?;

    maintain(pool).await?;
    worker.reset_peak()?;
    let cpu_before = worker.cpu()?;
    let busy = Instant::now();
    let mut by_branch = Vec::new();
    for (label, branch) in [("", envelopes::BRANCH), ("big", envelopes::LARGE_BRANCH)] {
        let offered = item_reserves(label, branch, args.envelopes);
        by_branch.push(stream(client, worker, pool, &inbound, "ItemReserve", offered).await?);
    }
    let ((item_reserve, item_reserve_cpu), (large_branch, _)) = (by_branch[0], by_branch[1]);
    maintain(pool).await?;
    let sales = Offered::many(args.envelopes, |uuid, n| {
        envelopes::retail_sale(uuid, &tag, n)
    });
    let (retail_sales, retail_sales_cpu) =
        stream(client, worker, pool, &inbound, "RetailSales", sales).await?;
    let cpu = (worker.cpu()? - cpu_before).as_secs_f64() / busy.elapsed().as_secs_f64();
    let peak_rss = worker.peak_rss()?;
    maintain(pool).await?;
    let offered = (args.rate * args.rate_seconds) as usize;
    let paced = client
        .run(
            &inbound,
            "ItemReserve",
            item_reserves("paced", envelopes::BRANCH, offered),
            Pace::Rate(args.rate),
        )
        .await?;
    let paced_broker = relays
        .measure(
            client,
            "paced",
            in_flight,
            Work::Nothing,
            item_reserves("pb", envelopes::BRANCH, offered),
            Pace::Rate(args.rate),
        )
        .await?;

    let uuid = uuid::Uuid::new_v4().to_string();
    let body = envelopes::large_sale(&uuid, &tag, args.large_items, args.large_mib << 20);
    let body_bytes = body.len();
    worker.reset_peak()?;
    let large = client
        .run(
            &inbound,
            "RetailSales",
            vec![Offered { uuid, body }],
            Pace::Saturation,
        )
        .await?;
    let large_rss = worker.peak_rss()?;

    maintain(pool).await?;
    let baseline =
        drain::baseline(pool, destination, args.messages, setting.sender_in_flight).await?;
    let sender = drain::sender(pool, args.messages).await?;
    let backlog = drain::sender(pool, args.messages * BACKLOG).await?;
    Ok(Run {
        ceiling: ceiling.rate,
        naive: naive.rate,
        naive_script: naive_script.rate,
        item_reserve,
        item_reserve_cpu,
        large_branch: large_branch.rate,
        retail_sales,
        retail_sales_cpu,
        paced,
        paced_broker,
        large: large.p50,
        large_rss_ratio: large_rss as f64 / body_bytes as f64,
        peak_rss,
        cpu,
        drain_baseline: baseline,
        drain: sender,
        drain_backlog: backlog,
    })
}

/// `offered` published to the worker's inbound exchange at saturation: how
/// fast it was answered and what each envelope cost the worker and the database.
async fn stream(
    client: &mut Client,
    worker: &Worker,
    pool: &sqlx::PgPool,
    inbound: &str,
    transaction: &str,
    offered: Vec<Offered>,
) -> anyhow::Result<(Measured, CpuPerEnvelope)> {
    let envelopes = offered.len();
    let before = CpuUse::read(worker, pool).await?;
    let measured = client
        .run(inbound, transaction, offered, Pace::Saturation)
        .await?;
    let cpu = before.per_envelope(&CpuUse::read(worker, pool).await?, envelopes);
    Ok((measured, cpu))
}

/// The second drain of a run: this many times `--messages` at once, which
/// must go as fast as the first (a claim must not cost more with the backlog).
const BACKLOG: usize = 10;

/// Envelopes of each kind sent before the first run, not measured: enough
/// that the tables looked up by key (reservations, mappings, the inbox) hold
/// thousands of rows when their statistics are taken, so PostgreSQL plans
/// those look-ups with their indexes, as on a database that has been
/// running. With 500, run 1 looked up a batch's reservations by scanning the
/// whole table as it grew through the phase, and runs 2 and 3 did not.
const WARM_UP: usize = 5_000;

/// Brings the database to the state of a worker that has been running: the
/// tables the phases write hold rows and their statistics say so (plans
/// made on an empty table scan it whole as it grows), as they would a
/// minute after a real worker started. Not measured.
async fn warm_up(
    world: &World,
    client: &mut Client,
    pool: &sqlx::PgPool,
    count: usize,
) -> anyhow::Result<()> {
    eprintln!("warming up …");
    let inbound = format!("{}.inbound", world.prefix);
    let reserves = Offered::many(count, |uuid, n| {
        envelopes::item_reserve(uuid, "warm", n, envelopes::BRANCH)
    });
    client
        .run(&inbound, "ItemReserve", reserves, Pace::Saturation)
        .await?;
    let sales = Offered::many(count, |uuid, n| envelopes::retail_sale(uuid, "warm", n));
    client
        .run(&inbound, "RetailSales", sales, Pace::Saturation)
        .await?;
    maintain(pool).await
}

/// What autovacuum does on a production server (this machine's server
/// runs without it): without fresh statistics, plans made while the tables
/// were empty go on scanning them whole as they grow.
async fn maintain(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await?;
    Ok(())
}

/// The last `lines` lines of a file.
fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
