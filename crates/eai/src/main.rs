//! `eai`: the EAI Worker command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eai::app::{self, Role};
use eai::commands::{self, publish::PublishArgs};
use eai::config::Settings;
use eai::telemetry;
use eai_store::outbound::MessageFilter;

#[derive(Parser)]
#[command(
    name = "eai",
    version,
    about = "TOTVS EAI standard messages between e-commerce and the ERP, over RabbitMQ and PostgreSQL"
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
    /// Create the database if needed and apply the migrations.
    Migrate,
    /// Load master data and de/para mappings from a JSON file (idempotent, all or nothing).
    Import {
        /// The import file (see examples/master-data.json).
        file: PathBuf,
    },
    /// Publish envelopes to the inbound exchange (routing key = Header.Transaction).
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
    /// The outbound monitor: messages, their statuses and attempts.
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// The destinations the sender delivers to (loaded with `eai import`).
    #[command(subcommand)]
    Destinations(DestinationsCommand),
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// The newest messages, filtered.
    List {
        /// waiting, running, done, failed, blocked, not_delivered or rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        transaction: Option<String>,
        #[arg(long)]
        destination: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message and the history of its attempts.
    Show { id: i64 },
    /// Send messages again now, with their attempts reset: any message not done (one in flight keeps its lease).
    Retry {
        #[arg(required = true)]
        ids: Vec<i64>,
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

/// Exit codes: 0 success; 1 failure; 3 an envelope got an error receipt, an
/// import had bad rows, or a send/retry/unblock/test found nothing to do or
/// failed; 4 `publish --wait` timed out before every receipt came.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("eai: configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.log_format);
    match execute(cli.command, &settings).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("eai: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { only } => {
            let running = app::start(settings, only).await?;
            running.run_until(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            commands::migrate::run(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Messages(MessagesCommand::List {
            status,
            transaction,
            destination,
            limit,
        }) => {
            let filter = MessageFilter {
                status,
                transaction,
                destination,
                limit,
            };
            commands::messages::list(settings, &filter).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Messages(MessagesCommand::Show { id }) => {
            Ok(success_or_3(commands::messages::show(settings, id).await?))
        }
        Command::Messages(MessagesCommand::Retry { ids }) => Ok(success_or_3(
            commands::messages::retry(settings, &ids).await? > 0,
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
    }
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

/// Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; draining in-flight envelopes");
}
