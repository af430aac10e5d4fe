//! `eai`: the EAI Worker command line.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use eai::api::params::parse_time;
use eai::api::usage::month_range;
use eai::app::{self, Role};
use eai::commands::{self, publish::PublishArgs};
use eai::config::Settings;
use eai::repair::Action;
use eai::telemetry;
use eai_domain::Entity;
use eai_protocol::Code;
use eai_store::dead_letters::DeadLetterFilter;
use eai_store::export::{ExportMode, ExportRequest};
use eai_store::log::{Direction, ItemId, LogFilter, Status};
use eai_store::mappings::MappingFilter;
use eai_store::page::Cursor;
use eai_store::usage::UsageFilter;

/// The worker's allocator: jemalloc, its options and its give-back in
/// [`eai::memory`] (which says why).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "eai",
    version,
    about = "TOTVS EAI standard messages between e-commerce and the ERP, over PostgreSQL and (optionally) RabbitMQ"
)]
struct Cli {
    /// Optional TOML configuration file; EAI_* environment variables override it.
    #[arg(long, global = true, env = "EAI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker: receiver, receipt relay and HTTP (/healthz, /readyz, /metrics).
    Run {
        /// Start only one half of the worker.
        #[arg(long, value_enum)]
        only: Option<Role>,
    },
    /// Try it: a fresh demo database (the configured one's name + `_demo`),
    /// the example master data, the walkthrough's and seed 001's envelopes
    /// through the real pipeline and their receipts as a table; then the
    /// worker keeps running with its console open until Ctrl-C.
    Demo,
    /// Create the database if needed and apply the migrations.
    Migrate,
    /// Check the configuration, the database, the broker, the destinations and
    /// the worker at `http.addr`, and say what is wrong (exit 3 if anything is).
    Doctor {
        /// Also send each destination a connection test (EAIEnvironmentTest).
        #[arg(long)]
        probe: bool,
    },
    /// Load master data and de/para mappings from a JSON file (idempotent, all or nothing).
    Import {
        /// The import file (see examples/master-data.json).
        file: PathBuf,
    },
    /// Put envelopes on the inbound queue (routing key = Header.Transaction): the
    /// broker's inbound exchange, or the database's queue when there is no broker.
    Publish(PublishArgs),
    /// Enqueue an envelope for the sender: to one destination, or to every
    /// destination of its (CompanyId, BranchId, Transaction).
    Send {
        /// The envelope file (JSON).
        file: PathBuf,
        /// The destination's name (see `eai destinations list`).
        #[arg(long)]
        destination: Option<String>,
    },
    /// The message log of both directions: list, show, and repair.
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// What needs a person: errors, waiting sales, dead letters, failed deliveries.
    Pending {
        #[command(flatten)]
        filter: LogArgs,
        #[arg(long)]
        json: bool,
    },
    /// The dead letters: list and replay.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// De/para mappings: (namespace, entity, external) → internal.
    #[command(subcommand)]
    Mappings(MappingsCommand),
    /// The destinations the sender delivers to (loaded with `eai import`).
    #[command(subcommand)]
    Destinations(DestinationsCommand),
    /// E-mail and webhook alerts of failed, blocked and dead messages.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Envelopes answered and attempts, per company, transaction and environment.
    Usage {
        #[arg(long, required_unless_present = "from", value_parser = clap::value_parser!(i32).range(2000..=9999))]
        year: Option<i32>,
        /// 1 to 12.
        #[arg(long, required_unless_present = "from", value_parser = clap::value_parser!(u32).range(1..=12))]
        month: Option<u32>,
        /// Instead of a month: from this time (RFC 3339 or YYYY-MM-DD)...
        #[arg(long, value_parser = time, requires = "to", conflicts_with_all = ["year", "month"])]
        from: Option<DateTime<Utc>>,
        /// ... to this one (exclusive).
        #[arg(long, value_parser = time, requires = "from")]
        to: Option<DateTime<Utc>>,
        #[arg(long)]
        company: Option<String>,
        #[arg(long)]
        cnpj: Option<String>,
        #[arg(long, value_parser = cursor)]
        cursor: Option<Cursor>,
        #[arg(long)]
        json: bool,
    },
    /// Integrated sales in numbered batches for a consumer system, until confirmed.
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The consumer's open batch again (same number), or its next one.
    Take {
        /// The consumer system's id.
        #[arg(long)]
        consumer: String,
        /// all, changed (not confirmed in its current state) or one.
        #[arg(long, value_parser = parse::<ExportMode>)]
        mode: ExportMode,
        /// With --mode one: the sale's DocumentCode or InternalId.
        #[arg(long, required_if_eq("mode", "one"))]
        document: Option<String>,
        /// Sales per batch.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=500))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Confirm a batch: its sales count as received in the state exported.
    Confirm {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        batch: i64,
        #[arg(long)]
        json: bool,
    },
}

/// The filters of the log and of the pending list (all optional).
#[derive(Args, Debug, Clone)]
struct LogArgs {
    /// in or out.
    #[arg(long, value_parser = parse::<Direction>)]
    direction: Option<Direction>,
    /// processing, ok, error, waiting, retrying, dead, running, done, failed, blocked, not_delivered or rejected.
    #[arg(long, value_parser = parse::<Status>)]
    status: Option<Status>,
    #[arg(long)]
    transaction: Option<String>,
    #[arg(long)]
    company: Option<String>,
    #[arg(long)]
    branch: Option<String>,
    /// Received/created at or after: RFC 3339 or YYYY-MM-DD.
    #[arg(long, value_parser = time)]
    from: Option<DateTime<Utc>>,
    /// ... and before.
    #[arg(long, value_parser = time)]
    to: Option<DateTime<Utc>>,
    #[arg(long)]
    uuid: Option<String>,
    /// InternalId or DocumentCode (inbound), document key (outbound).
    #[arg(long)]
    document: Option<String>,
    /// A receipt code, e.g. PRODUCT_NOT_FOUND.
    #[arg(long, value_parser = code)]
    error_code: Option<Code>,
    /// Outbound messages to this destination.
    #[arg(long)]
    destination: Option<String>,
    /// 1 to 500.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=500))]
    limit: i64,
    /// The cursor a previous page printed.
    #[arg(long, value_parser = cursor)]
    cursor: Option<Cursor>,
}

impl LogArgs {
    fn filter(self) -> LogFilter {
        LogFilter {
            direction: self.direction,
            status: self.status,
            transaction: self.transaction,
            company: self.company,
            branch: self.branch,
            from: self.from,
            to: self.to,
            uuid: self.uuid,
            document: self.document,
            error_code: self.error_code,
            destination: self.destination,
            limit: self.limit,
            cursor: self.cursor,
        }
    }
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, String> {
    text.parse()
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time(text).ok_or_else(|| "an RFC 3339 time or a YYYY-MM-DD date".to_owned())
}

fn code(text: &str) -> Result<Code, String> {
    Code::from_wire(text).ok_or_else(|| "a receipt code such as PRODUCT_NOT_FOUND".to_owned())
}

fn cursor(text: &str) -> Result<Cursor, String> {
    text.parse()
        .map_err(|_| "the cursor a previous page printed".to_owned())
}

fn mapping_cursor(text: &str) -> Result<Cursor, String> {
    let cursor = self::cursor(text)?;
    eai_store::mappings::position(&cursor)
        .map(|_| cursor)
        .ok_or_else(|| "the cursor a previous page of mappings printed".to_owned())
}

fn entity(text: &str) -> Result<Entity, String> {
    Entity::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Entity::ALL.iter().map(|entity| entity.as_str()).collect();
        format!("one of {}", names.join(", "))
    })
}

fn dead_letter(text: &str) -> Result<i64, String> {
    match text.parse::<ItemId>() {
        Ok(ItemId::DeadLetter(id)) => Ok(id),
        _ => Err("a dead letter id such as dead-3".to_owned()),
    }
}

/// Who did it, as the log records: `--by`, else `$USER`.
#[derive(Args, Debug, Clone)]
struct Operator {
    /// Recorded as who did it (default: $USER).
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
    /// Why (required by discard).
    #[arg(long, default_value = "")]
    note: String,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// The newest messages of both directions, filtered.
    List {
        #[command(flatten)]
        filter: LogArgs,
        #[arg(long)]
        json: bool,
    },
    /// One message: body, receipt, attempts, operators' actions.
    Show {
        /// in-12 or out-7.
        #[arg(value_parser = parse::<ItemId>)]
        id: ItemId,
        #[arg(long)]
        json: bool,
    },
    /// Inbound error: process it again. Outbound: send it again now, attempts reset.
    Retry {
        #[arg(required = true, value_parser = parse::<ItemId>)]
        ids: Vec<ItemId>,
        #[command(flatten)]
        operator: Operator,
    },
    /// Hold outbound messages: the sender leaves them alone.
    Block {
        #[arg(required = true, value_parser = parse::<ItemId>)]
        ids: Vec<ItemId>,
        #[command(flatten)]
        operator: Operator,
    },
    /// Release held (blocked) outbound messages.
    Unblock {
        #[arg(required = true, value_parser = parse::<ItemId>)]
        ids: Vec<ItemId>,
        #[command(flatten)]
        operator: Operator,
    },
    /// Take pending items (in-, out- or dead- ids) off the pending list, with --note.
    Discard {
        #[arg(required = true, value_parser = parse::<ItemId>)]
        ids: Vec<ItemId>,
        #[command(flatten)]
        operator: Operator,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The newest dead letters.
    List {
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        uuid: Option<String>,
        /// Only those not replayed nor discarded.
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=500))]
        limit: i64,
        #[arg(long, value_parser = cursor)]
        cursor: Option<Cursor>,
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again to where they were first published.
    Replay {
        #[arg(required = true, value_parser = dead_letter)]
        ids: Vec<i64>,
        #[command(flatten)]
        operator: Operator,
    },
}

#[derive(Subcommand)]
enum MappingsCommand {
    /// The mappings, by namespace, entity and external value.
    List {
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long, value_parser = entity)]
        entity: Option<Entity>,
        #[arg(long)]
        external: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=500))]
        limit: i64,
        #[arg(long, value_parser = mapping_cursor)]
        cursor: Option<Cursor>,
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a mapping.
    Set {
        namespace: String,
        #[arg(value_parser = entity)]
        entity: Entity,
        external: String,
        internal: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a mapping.
    Delete {
        namespace: String,
        #[arg(value_parser = entity)]
        entity: Entity,
        external: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DestinationsCommand {
    /// Every destination and whether it is blocked.
    List,
    /// Let a destination blocked for refused credentials receive messages again.
    Unblock { name: String },
    /// Send an EAIEnvironmentTest and report the round trip or the exact failure.
    Test { name: String },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Who is told: e-mail (SMTP) and webhook targets per company and branch.
    #[command(subcommand)]
    Targets(AlertTargetsCommand),
    /// Send a test alert to a target now, through the alerts outbox, and say
    /// how it went (exit 3 when it was not sent).
    Test { name: String },
    /// The alerts, newest first.
    List {
        /// waiting, sent or failed.
        #[arg(long, value_parser = ["waiting", "sent", "failed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AlertTargetsCommand {
    /// Every target.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a target (exit 3 when it is not valid).
    Set(Box<commands::alerts::TargetArgs>),
    /// Delete a target and its alerts.
    Delete { name: String },
}

/// Exit codes: 0 success; 1 failure (a server unreachable, say); 2 a usage
/// error (an unknown option, an invalid filter value); 3 an envelope got an
/// error receipt, an import had bad rows, or a send, show, action or test
/// found nothing or did not apply; 4 `publish --wait` timed out before every
/// receipt came.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("eai: configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.runtime_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("eai: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, &settings, cli.config.as_deref())) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("eai: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn execute(
    command: Command,
    settings: &Settings,
    config: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { only } => {
            let signal = shutdown_signal()?;
            let running = app::start(settings, only).await?;
            running.run_until(signal).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            commands::demo::run(settings, shutdown_signal()?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            commands::migrate::run(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { probe } => Ok(success_or_3(
            commands::doctor::run(settings, config, probe).await,
        )),
        Command::Import { file } => Ok(if commands::import::run(settings, &file).await? {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        }),
        Command::Publish(args) => {
            let published = commands::publish::run(settings, &args).await?;
            if !args.wait {
                return Ok(ExitCode::SUCCESS);
            }
            let mut code = ExitCode::SUCCESS;
            for envelope in &published {
                match &envelope.receipt {
                    Some(receipt) => {
                        println!("{}", serde_json::to_string_pretty(receipt)?);
                        if envelope.status() != Some("ok") {
                            code = ExitCode::from(3);
                        }
                    }
                    None => {
                        eprintln!(
                            "no receipt for {} ({}) before the timeout",
                            envelope.file.display(),
                            envelope.uuid
                        );
                        return Ok(ExitCode::from(4));
                    }
                }
            }
            Ok(code)
        }
        Command::Send { file, destination } => {
            let created = commands::send::run(settings, &file, destination.as_deref()).await?;
            Ok(if created > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Messages(MessagesCommand::List { filter, json }) => {
            commands::messages::list(settings, &filter.filter(), json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Messages(MessagesCommand::Show { id, json }) => Ok(success_or_3(
            commands::messages::show(settings, id, json).await?,
        )),
        Command::Messages(MessagesCommand::Retry { ids, operator }) => {
            act(settings, Action::Retry, &ids, &operator).await
        }
        Command::Messages(MessagesCommand::Block { ids, operator }) => {
            act(settings, Action::Block, &ids, &operator).await
        }
        Command::Messages(MessagesCommand::Unblock { ids, operator }) => {
            act(settings, Action::Unblock, &ids, &operator).await
        }
        Command::Messages(MessagesCommand::Discard { ids, operator }) => {
            if operator.note.trim().is_empty() {
                eprintln!("eai: discard needs --note saying why");
                return Ok(ExitCode::from(2));
            }
            act(settings, Action::Discard, &ids, &operator).await
        }
        Command::Pending { filter, json } => {
            commands::messages::pending(settings, &filter.filter(), json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(DlqCommand::List {
            code,
            uuid,
            open,
            limit,
            cursor,
            json,
        }) => {
            let filter = DeadLetterFilter {
                code,
                uuid,
                open_only: open,
                limit,
                cursor,
                ..DeadLetterFilter::default()
            };
            commands::messages::dead_letters(settings, &filter, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(DlqCommand::Replay { ids, operator }) => Ok(success_or_3(
            commands::messages::replay(settings, &ids, &operator.by, operator.json).await?,
        )),
        Command::Mappings(MappingsCommand::List {
            namespace,
            entity,
            external,
            limit,
            cursor,
            json,
        }) => {
            let filter = MappingFilter {
                namespace,
                entity,
                external,
                limit,
                cursor,
            };
            commands::mappings::list(settings, &filter, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mappings(MappingsCommand::Set {
            namespace,
            entity,
            external,
            internal,
            json,
        }) => {
            commands::mappings::set(settings, &namespace, entity, &external, &internal, json)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mappings(MappingsCommand::Delete {
            namespace,
            entity,
            external,
            json,
        }) => Ok(success_or_3(
            commands::mappings::delete(settings, &namespace, entity, &external, json).await?,
        )),
        Command::Usage {
            year,
            month,
            from,
            to,
            company,
            cnpj,
            cursor,
            json,
        } => {
            let (from, to) = match (from, to, year, month) {
                (Some(from), Some(to), _, _) => (from, to),
                (_, _, Some(year), Some(month)) => month_range(year, month)
                    .ok_or_else(|| anyhow::anyhow!("{year}-{month} is not a month"))?,
                _ => anyhow::bail!("give --year and --month, or --from and --to"),
            };
            let filter = UsageFilter {
                from,
                to,
                company,
                cnpj,
                cursor,
            };
            commands::usage::usage(settings, &filter, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(ExportCommand::Take {
            consumer,
            mode,
            document,
            limit,
            json,
        }) => {
            let request = ExportRequest {
                consumer,
                mode,
                document,
                limit,
            };
            Ok(success_or_3(
                commands::usage::take(settings, &request, json).await?,
            ))
        }
        Command::Export(ExportCommand::Confirm { batch, json }) => Ok(success_or_3(
            commands::usage::confirm(settings, batch, json).await?,
        )),
        Command::Destinations(DestinationsCommand::List) => {
            commands::destinations::list(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Destinations(DestinationsCommand::Unblock { name }) => Ok(success_or_3(
            commands::destinations::unblock(settings, &name).await?,
        )),
        Command::Destinations(DestinationsCommand::Test { name }) => Ok(success_or_3(
            commands::destinations::test(settings, &name).await?,
        )),
        Command::Alerts(AlertsCommand::Targets(AlertTargetsCommand::List { json })) => {
            commands::alerts::list_targets(settings, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts(AlertsCommand::Targets(AlertTargetsCommand::Set(target))) => Ok(
            success_or_3(commands::alerts::set_target(settings, *target).await?),
        ),
        Command::Alerts(AlertsCommand::Targets(AlertTargetsCommand::Delete { name })) => Ok(
            success_or_3(commands::alerts::delete_target(settings, &name).await?),
        ),
        Command::Alerts(AlertsCommand::Test { name }) => {
            Ok(success_or_3(commands::alerts::test(settings, &name).await?))
        }
        Command::Alerts(AlertsCommand::List {
            status,
            limit,
            json,
        }) => {
            commands::alerts::list(settings, status, limit, json).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn act(
    settings: &Settings,
    action: Action,
    ids: &[ItemId],
    operator: &Operator,
) -> anyhow::Result<ExitCode> {
    let done = commands::messages::act(
        settings,
        action,
        ids,
        &operator.by,
        operator.note.trim(),
        operator.json,
    )
    .await?;
    Ok(success_or_3(done))
}

/// The error and its causes on one line, each cause once: libraries often
/// repeat their source's text in their own message.
fn report(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Exit code 3 says "ran fine, but the answer is no" (nothing matched, the test failed).
fn success_or_3(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// Ctrl-C or SIGTERM (what `docker stop` sends). The handlers are installed
/// when this is called, before the worker starts: the worker may already be
/// consuming while it finishes starting, and a SIGTERM then must drain it, not
/// kill it with the signal's default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let requested = {
        use anyhow::Context;
        use tokio::signal::unix::{signal, SignalKind};
        let installing = "cannot install the signal handlers";
        let mut interrupt = signal(SignalKind::interrupt()).context(installing)?;
        let mut terminate = signal(SignalKind::terminate()).context(installing)?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let requested = async {
        tokio::signal::ctrl_c().await.ok();
    };
    Ok(async move {
        requested.await;
        tracing::info!("shutdown requested; draining in-flight envelopes");
    })
}
