//! Settings, layered: built-in defaults, then an optional TOML file, then
//! `EAI_*` environment variables, then secrets read from the files named by
//! `EAI_DATABASE_URL_FILE` / `EAI_AMQP_URL_FILE` / `EAI_API_TOKENS_FILE`
//! (Docker and Kubernetes secrets).
//!
//! Connection URLs carry passwords, so they are [`SecretString`]s: `Debug`
//! prints `[REDACTED]` and nothing logs them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use eai_protocol::ReceiptOrigin;
use eai_store::{Environment, PoolSettings};
use eai_transport::{Endpoint, QueueType, Topology};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything `eai` can be configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database_url: SecretString,
    pub amqp_url: SecretString,
    pub http_addr: SocketAddr,
    pub prefetch: u16,
    pub concurrency: usize,
    /// Most ItemReserve or RetailSales envelopes stored in one database transaction.
    pub batch_size: usize,
    #[serde(deserialize_with = "queue_type")]
    pub queue_type: QueueType,
    pub log_format: LogFormat,
    pub topology_prefix: String,
    pub database_max_connections: u32,
    pub source_application: String,
    pub product_name: String,
    pub relay_interval_secs: u64,
    pub reservation_sweep_secs: u64,
    /// Delays before each retry of a sale whose reservation is not integrated yet;
    /// their count is the number of retries.
    pub reserve_retry_delays_secs: Vec<u64>,
    /// How far a sale's totals may be off before they are a mismatch.
    #[serde(deserialize_with = "decimal")]
    pub totals_tolerance: Decimal,
    /// Deliveries in flight at once per sender.
    pub sender_concurrency: usize,
    /// How long an idle sender waits without a notification before looking again.
    pub sender_poll_ms: u64,
    /// First retry delay of a failed delivery; it doubles per attempt, with jitter.
    pub send_retry_min_ms: u64,
    /// Longest retry delay.
    pub send_retry_max_secs: u64,
    /// How often the full StockLevel load runs (0 turns it off).
    pub stock_full_load_secs: u64,
    /// Longest one broker connection attempt (TCP, TLS and AMQP handshake) may take.
    pub amqp_connect_timeout_secs: u64,
    /// The AMQP heartbeat asked of the broker (0 turns it off); a silent peer
    /// is noticed after two missed beats.
    pub amqp_heartbeat_secs: u64,
    /// Longest one publish may take, the broker's confirm included.
    pub amqp_publish_timeout_secs: u64,
    /// Longest wait for a database connection, connecting included.
    pub database_acquire_timeout_secs: u64,
    /// Longest a statement waits for a row lock.
    pub database_lock_timeout_ms: u64,
    /// Longest a statement runs.
    pub database_statement_timeout_secs: u64,
    /// How long a command keeps trying an unreachable broker or database at start.
    pub startup_timeout_secs: u64,
    /// How often readiness probes the broker and the database.
    pub health_interval_ms: u64,
    /// Longest a probe may take before it counts as a failure.
    pub health_timeout_ms: u64,
    /// `/healthz` fails once the consumers have been gone this long.
    pub liveness_timeout_secs: u64,
    /// Longest a shutdown waits for envelopes in flight to finish.
    pub shutdown_grace_secs: u64,
    /// Delays before each later try of an envelope whose processing kept
    /// failing; their count is the number of tries, after which it is
    /// answered `PROCESSING_FAILED` and dead-lettered.
    pub failure_retry_delays_secs: Vec<u64>,
    /// A redelivered envelope (its worker died holding it) started this many
    /// times without finishing is answered `PROCESSING_FAILED` and dead-lettered.
    pub redelivery_limit: usize,
    /// Details listed in a receipt; the rest are counted in a last detail.
    pub receipt_max_details: usize,
    /// Publication attempts of a receipt (returned, unconfirmed) before the
    /// relay dead-letters it.
    pub receipt_max_attempts: u32,
    /// Inbox and outbox rows older than this are purged: the dedup window.
    pub retention_days: u64,
    /// How often the purge runs.
    pub retention_interval_secs: u64,
    /// API bearer tokens, `name:role:token` separated by commas or new lines,
    /// role `viewer` (read) or `operator` (everything). Empty: the API
    /// answers 401 to everyone. `EAI_API_TOKENS_FILE` reads them from a file.
    pub api_tokens: SecretString,
    /// `production` or `homologation`: counted apart in the usage report.
    pub environment: Environment,
    /// Serve the web console at `/`.
    pub console: bool,
}

#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    amqp_url: &'static str,
    http_addr: &'static str,
    prefetch: u16,
    concurrency: usize,
    batch_size: usize,
    queue_type: &'static str,
    log_format: LogFormat,
    topology_prefix: &'static str,
    database_max_connections: u32,
    source_application: &'static str,
    product_name: &'static str,
    relay_interval_secs: u64,
    reservation_sweep_secs: u64,
    reserve_retry_delays_secs: &'static [u64],
    totals_tolerance: &'static str,
    sender_concurrency: usize,
    sender_poll_ms: u64,
    send_retry_min_ms: u64,
    send_retry_max_secs: u64,
    stock_full_load_secs: u64,
    amqp_connect_timeout_secs: u64,
    amqp_heartbeat_secs: u64,
    amqp_publish_timeout_secs: u64,
    database_acquire_timeout_secs: u64,
    database_lock_timeout_ms: u64,
    database_statement_timeout_secs: u64,
    startup_timeout_secs: u64,
    health_interval_ms: u64,
    health_timeout_ms: u64,
    liveness_timeout_secs: u64,
    shutdown_grace_secs: u64,
    failure_retry_delays_secs: &'static [u64],
    redelivery_limit: usize,
    receipt_max_details: usize,
    receipt_max_attempts: u32,
    retention_days: u64,
    retention_interval_secs: u64,
    api_tokens: &'static str,
    environment: Environment,
    console: bool,
}

const DEFAULTS: Defaults = Defaults {
    database_url: "postgres://postgres@127.0.0.1:5432/eai",
    amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f",
    http_addr: "127.0.0.1:9464",
    prefetch: 512,
    concurrency: 256,
    batch_size: 128,
    queue_type: "quorum",
    log_format: LogFormat::Pretty,
    topology_prefix: "eai",
    database_max_connections: 10,
    source_application: "EAIWORKER",
    product_name: "EAIWORKER",
    relay_interval_secs: 10,
    reservation_sweep_secs: 60,
    reserve_retry_delays_secs: &[5, 15, 30, 60, 120],
    totals_tolerance: "0.00",
    sender_concurrency: 16,
    sender_poll_ms: 1000,
    send_retry_min_ms: 2000,
    send_retry_max_secs: 300,
    stock_full_load_secs: 86400,
    amqp_connect_timeout_secs: 5,
    amqp_heartbeat_secs: 10,
    amqp_publish_timeout_secs: 10,
    database_acquire_timeout_secs: 5,
    database_lock_timeout_ms: 5000,
    database_statement_timeout_secs: 30,
    startup_timeout_secs: 60,
    health_interval_ms: 1000,
    health_timeout_ms: 2000,
    liveness_timeout_secs: 120,
    shutdown_grace_secs: 30,
    failure_retry_delays_secs: &[5, 30, 120],
    redelivery_limit: 5,
    receipt_max_details: 100,
    receipt_max_attempts: 5,
    retention_days: 30,
    retention_interval_secs: 3600,
    api_tokens: "",
    environment: Environment::Production,
    console: true,
};

/// The settings that may come from a file instead of the environment.
const SECRET_KEYS: [&str; 3] = ["database_url", "amqp_url", "api_tokens"];

fn queue_type<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<QueueType, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.to_ascii_lowercase().as_str() {
        "quorum" => Ok(QueueType::Quorum),
        "classic" => Ok(QueueType::Classic),
        other => Err(serde::de::Error::custom(format!(
            "queue_type: expected \"quorum\" or \"classic\", got {other:?}"
        ))),
    }
}

/// A decimal setting, written as a string or a number; read from its text.
fn decimal<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let text = match <figment::value::Value as Deserialize>::deserialize(deserializer)? {
        figment::value::Value::String(_, text) => text,
        figment::value::Value::Num(_, number) => match number {
            figment::value::Num::F32(value) => value.to_string(),
            figment::value::Num::F64(value) => value.to_string(),
            other => other
                .to_u128()
                .map(|value| value.to_string())
                .unwrap_or_default(),
        },
        other => format!("{other:?}"),
    };
    eai_protocol::number::parse_decimal_str(&text).map_err(|error| {
        serde::de::Error::custom(format!(
            "expected a decimal such as \"0.01\", got {text:?}: {error}"
        ))
    })
}

impl Settings {
    /// The AMQP topology these settings name, with a delay queue for every
    /// delay a sale waits or a failed envelope is parked.
    pub fn topology(&self) -> Topology {
        let delays = self
            .reserve_retry_delays_secs
            .iter()
            .chain(&self.failure_retry_delays_secs)
            .map(|secs| Duration::from_secs(*secs));
        Topology::with_prefix(&self.topology_prefix, self.queue_type).with_delays(delays)
    }

    /// How the worker reaches the broker (`name` shows in its management UI).
    pub fn endpoint(&self, name: &str) -> Result<Endpoint, eai_transport::TransportError> {
        Endpoint::new(
            self.amqp_url.expose_secret(),
            name,
            Duration::from_secs(self.amqp_connect_timeout_secs.max(1)),
            Duration::from_secs(self.amqp_heartbeat_secs),
        )
    }

    /// How the pool talks to the database.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_secs.max(1)),
            lock_timeout: Duration::from_millis(self.database_lock_timeout_ms.max(1)),
            statement_timeout: Duration::from_secs(self.database_statement_timeout_secs.max(1)),
        }
    }

    /// How long commands keep trying unreachable servers at start.
    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout_secs)
    }

    /// Who we are in receipts and events.
    pub fn identity(&self) -> ReceiptOrigin {
        ReceiptOrigin {
            source_application: self.source_application.clone(),
            product_name: self.product_name.clone(),
            max_details: self.receipt_max_details.max(1),
        }
    }

    /// The built-in defaults alone, without file or environment (tests start from them).
    pub fn defaults() -> Settings {
        Figment::from(Serialized::defaults(DEFAULTS))
            .extract()
            .expect("the built-in defaults are valid settings")
    }

    /// Loads the layers; `file` is the optional TOML file (`--config` / `EAI_CONFIG`).
    pub fn load(file: Option<&Path>) -> Result<Settings, figment::Error> {
        Self::figment(file)?.extract()
    }

    fn figment(file: Option<&Path>) -> Result<Figment, figment::Error> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("EAI_").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.ends_with("_file")
        }));
        for key in SECRET_KEYS {
            let variable = format!("EAI_{}_FILE", key.to_ascii_uppercase());
            if let Ok(path) = std::env::var(&variable) {
                let secret = std::fs::read_to_string(&path).map_err(|error| {
                    figment::Error::from(format!("{variable}: cannot read {path}: {error}"))
                })?;
                figment = figment.merge(Serialized::default(key, secret.trim().to_owned()));
            }
        }
        Ok(figment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_local_services() {
        figment::Jail::expect_with(|_| {
            let settings = Settings::load(None)?;
            assert_eq!(
                settings.amqp_url.expose_secret(),
                "amqp://guest:guest@127.0.0.1:5672/%2f"
            );
            assert_eq!(settings.queue_type, QueueType::Quorum);
            assert_eq!(settings.topology_prefix, "eai");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_and_secrets_come_from_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "eai.toml",
                "http_addr = \"127.0.0.1:9000\"\nprefetch = 5\nqueue_type = \"classic\"",
            )?;
            jail.create_file("db-secret", "postgres://app:s3cret@db/eai\n")?;
            jail.set_env("EAI_PREFETCH", "7");
            jail.set_env("EAI_DATABASE_URL_FILE", "db-secret");
            let settings = Settings::load(Some(Path::new("eai.toml")))?;
            assert_eq!(settings.http_addr, "127.0.0.1:9000".parse().expect("addr"));
            assert_eq!(settings.prefetch, 7);
            assert_eq!(settings.queue_type, QueueType::Classic);
            assert_eq!(
                settings.database_url.expose_secret(),
                "postgres://app:s3cret@db/eai"
            );
            assert!(
                !format!("{settings:?}").contains("s3cret"),
                "secrets never print"
            );
            Ok(())
        });
    }

    #[test]
    fn retry_delays_and_tolerance_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("EAI_RESERVE_RETRY_DELAYS_SECS", "[1, 2, 3]");
            jail.set_env("EAI_TOTALS_TOLERANCE", "0,01");
            let settings = Settings::load(None)?;
            assert_eq!(settings.reserve_retry_delays_secs, vec![1, 2, 3]);
            assert_eq!(settings.totals_tolerance, Decimal::new(1, 2));
            jail.set_env("EAI_FAILURE_RETRY_DELAYS_SECS", "[3, 60]");
            let settings = Settings::load(None)?;
            let delays: Vec<u64> = settings
                .topology()
                .delays
                .iter()
                .map(Duration::as_secs)
                .collect();
            assert_eq!(delays, [1, 2, 3, 60], "one delay queue per distinct delay");
            jail.set_env("EAI_TOTALS_TOLERANCE", "a cent");
            let error = Settings::load(None).expect_err("not a decimal");
            assert!(error.to_string().contains("a cent"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("EAI_QUEUE_TYPE", "stream");
            let error = Settings::load(None).expect_err("stream is not a queue type");
            assert!(error.to_string().contains("queue_type"), "{error}");
            Ok(())
        });
    }
}
