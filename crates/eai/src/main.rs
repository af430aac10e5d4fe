//! `eai`: the EAI Worker command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eai::app::{self, Role};
use eai::commands::{self, publish::PublishArgs};
use eai::config::Settings;
use eai::telemetry;

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
}

/// Exit codes: 0 success; 1 failure; 3 an envelope got an error receipt or an
/// import had bad rows; 4 `publish --wait` timed out before every receipt came.
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
            eprintln!("eai: {error:#}");
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
