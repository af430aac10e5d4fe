//! Settings, layered: the built-in defaults (`defaults.toml`, which lists
//! every key), then an optional TOML file, then `EAI_*` environment
//! variables, then secrets read from the files named by
//! `EAI_DATABASE_URL_FILE` / `EAI_AMQP_URL_FILE` / `EAI_API_TOKENS_FILE`
//! (Docker and Kubernetes secrets).
//!
//! Settings come in sections (`[database]`, `[receiver]`, …). A key the file
//! sets that no section has is refused with its name; durations carry their
//! unit (`"5s"`) and are checked when the settings load, so a typo or a
//! missing unit stops the worker at start instead of being ignored. An
//! environment variable names its section and key (`EAI_RECEIVER_PREFETCH`);
//! variables that name no setting are left alone (other tools share the
//! prefix).
//!
//! Connection URLs carry passwords, so they are [`SecretString`]s: `Debug`
//! prints `[REDACTED]` and nothing logs them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use eai_protocol::ReceiptOrigin;
use eai_store::{DatabaseUrl, Environment, PoolSettings, StoreError};
use eai_transport::{Endpoint, QueueType, Topology};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Every key and its default; a configuration file sets what it changes.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The settings that may come from a file instead of the environment: the
/// variable naming the file, and the setting's path.
const SECRETS: [(&str, &str); 3] = [
    ("EAI_DATABASE_URL_FILE", "database.url"),
    ("EAI_AMQP_URL_FILE", "amqp.url"),
    ("EAI_API_TOKENS_FILE", "api.tokens"),
];

/// The embedded database's file name in the data directory.
const EMBEDDED_DATABASE: &str = "eai.sqlite3";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything `eai` can be configured with (`defaults.toml` says what each
/// key means).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `production` or `homologation`: counted apart in the usage report.
    pub environment: Environment,
    /// How long a command keeps trying an unreachable broker or database at start.
    #[serde(with = "humantime_serde")]
    pub startup_timeout: Duration,
    /// Where the embedded database lives when `database.url` is empty.
    pub data_dir: PathBuf,
    /// Threads of the main runtime; 0: [`Settings::runtime_threads`] decides.
    pub threads: usize,
    /// Longest a shutdown waits for envelopes in flight to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub http: HttpSettings,
    pub api: ApiSettings,
    pub receiver: ReceiverSettings,
    pub receipts: ReceiptSettings,
    pub sender: SenderSettings,
    pub alerts: AlertSettings,
    pub health: HealthSettings,
    pub retention: RetentionSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

/// `[database]`: PostgreSQL and its pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// Longest wait for a connection, connecting included.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Longest a statement waits for a row lock.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Longest a statement runs.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
}

/// `[amqp]`: RabbitMQ and the topology declared on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    pub url: SecretString,
    /// Longest one connection attempt (TCP, TLS and AMQP handshake) may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// The heartbeat asked of the broker (zero turns it off).
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Longest one publish may take, the broker's confirm included.
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    #[serde(deserialize_with = "queue_type")]
    pub queue_type: QueueType,
    pub topology_prefix: String,
}

/// `[http]`: the listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// Serve the web console at `/`.
    pub console: bool,
}

/// `[api]`: who may use the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer tokens, `name:role:token` separated by commas or new lines,
    /// role `viewer` (read) or `operator` (everything). Empty: the API
    /// answers 401 to everyone.
    pub tokens: SecretString,
}

/// `[receiver]`: consuming and processing envelopes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSettings {
    pub prefetch: u16,
    pub concurrency: usize,
    /// Most ItemReserve or RetailSales envelopes stored in one database transaction.
    pub batch_size: usize,
    /// Delays before each retry of a sale whose reservation is not integrated
    /// yet; their count is the number of retries.
    #[serde(deserialize_with = "durations")]
    pub reserve_retry_delays: Vec<Duration>,
    /// Delays before each later try of an envelope whose processing kept
    /// failing; their count is the number of tries, after which it is
    /// answered `PROCESSING_FAILED` and dead-lettered.
    #[serde(deserialize_with = "durations")]
    pub failure_retry_delays: Vec<Duration>,
    /// A redelivered envelope (its worker died holding it) started this many
    /// times without finishing is answered `PROCESSING_FAILED` and dead-lettered.
    pub redelivery_limit: usize,
    /// How far a sale's totals may be off before they are a mismatch.
    #[serde(deserialize_with = "decimal")]
    pub totals_tolerance: Decimal,
    /// How often expired reservations are released.
    #[serde(with = "humantime_serde")]
    pub reservation_sweep: Duration,
    /// Without a broker: how long an envelope claimed from the database's
    /// queue stays hidden from other claims (a worker that dies holding it
    /// leaves it to come back after this).
    #[serde(with = "humantime_serde")]
    pub queue_lease: Duration,
    /// Without a broker: longest an idle receiver waits before it looks at
    /// the database's queue again (a queued envelope wakes it sooner).
    #[serde(with = "humantime_serde")]
    pub queue_poll: Duration,
    /// A directory watched for envelope files (`NAME.json`), each answered
    /// with `NAME.receipt.json` beside it; empty: none.
    pub spool_dir: PathBuf,
    /// How often the spool directory is looked at.
    #[serde(with = "humantime_serde")]
    pub spool_poll: Duration,
}

/// `[receipts]`: who we are in them, and their relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSettings {
    pub source_application: String,
    pub product_name: String,
    /// Details listed in a receipt; the rest are counted in a last detail.
    pub max_details: usize,
    /// Publication attempts before the relay dead-letters a receipt.
    pub max_attempts: u32,
    /// How often the relay looks for receipts whose publication failed.
    #[serde(with = "humantime_serde")]
    pub relay_interval: Duration,
}

/// `[sender]`: deliveries to destinations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderSettings {
    /// Deliveries in flight at once per sender.
    pub concurrency: usize,
    /// How long an idle sender waits without a wake-up before looking again.
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
    /// First retry delay of a failed delivery; it doubles per attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_min: Duration,
    /// Longest retry delay.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// How often the full StockLevel load runs (zero turns it off).
    #[serde(with = "humantime_serde")]
    pub stock_full_load: Duration,
}

/// `[alerts]`: e-mail and webhook alerts of failed, blocked and dead messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// One alert per target, reason, company and branch per interval.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How often events are grouped and due alerts sent.
    #[serde(with = "humantime_serde")]
    pub check_every: Duration,
    /// Attempts of one alert before it stays `failed`.
    pub max_attempts: i32,
    /// First retry delay of an alert; it doubles per attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_min: Duration,
    /// Longest retry delay.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Longest one SMTP conversation or webhook POST.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// `[health]`: readiness and liveness.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// How often readiness probes the broker and the database.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest a probe may take before it counts as a failure.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `/healthz` fails once the consumers have been gone this long.
    #[serde(with = "humantime_serde")]
    pub liveness_timeout: Duration,
}

/// `[retention]`: the dedup window and its purge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Inbox and outbox rows older than this are purged (zero keeps everything).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often the purge runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

/// `[metrics]`: the gauges sampled outside the scrape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// How often the queue and backlog gauges are read.
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
}

/// `[log]`: how lines are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

fn queue_type<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<QueueType, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.to_ascii_lowercase().as_str() {
        "quorum" => Ok(QueueType::Quorum),
        "classic" => Ok(QueueType::Classic),
        other => Err(serde::de::Error::custom(format!(
            "expected \"quorum\" or \"classic\", got {other:?}"
        ))),
    }
}

/// A list of durations: an array (`["5s", "1m"]`) or, from the environment,
/// the same without brackets and quotes (`5s,1m`; empty for none).
fn durations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let items: Vec<Option<String>> = match <Value as Deserialize>::deserialize(deserializer)? {
        Value::Array(_, values) => values.into_iter().map(Value::into_string).collect(),
        Value::String(_, text) => text
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|item| item.trim().trim_matches('"'))
            .filter(|item| !item.is_empty())
            .map(|item| Some(item.to_owned()))
            .collect(),
        _ => vec![None],
    };
    items
        .into_iter()
        .map(|item| {
            let text = item.unwrap_or_default();
            humantime::parse_duration(&text).map_err(|error| {
                serde::de::Error::custom(format!(
                    "expected durations with their unit such as [\"5s\", \"1m\"], got {text:?}: {error}"
                ))
            })
        })
        .collect()
}

/// A decimal setting, written as a string or a number; read from its text.
fn decimal<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let text = match <Value as Deserialize>::deserialize(deserializer)? {
        Value::String(_, text) => text,
        Value::Num(_, number) => match number {
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
            .receiver
            .reserve_retry_delays
            .iter()
            .chain(&self.receiver.failure_retry_delays)
            .copied();
        Topology::with_prefix(&self.amqp.topology_prefix, self.amqp.queue_type).with_delays(delays)
    }

    /// Whether envelopes travel through a broker (`amqp.url` set) or the
    /// database's inbound queue.
    pub fn has_broker(&self) -> bool {
        !self.amqp.url.expose_secret().trim().is_empty()
    }

    /// How the worker reaches the broker (`name` shows in its management UI).
    pub fn endpoint(&self, name: &str) -> Result<Endpoint, eai_transport::TransportError> {
        Endpoint::new(
            self.amqp.url.expose_secret(),
            name,
            self.amqp.connect_timeout,
            self.amqp.heartbeat,
        )
    }

    /// The database URL, read and checked (one of the schemes the store
    /// opens); none configured is the embedded SQLite file in `data_dir`.
    /// SQLite with a broker is refused: a broker's queues serve a fleet,
    /// whose workers must share one database.
    pub fn database_url(&self) -> Result<DatabaseUrl, StoreError> {
        let configured = self.database.url.expose_secret().trim();
        let url = match configured.is_empty() {
            true => DatabaseUrl::sqlite(&self.data_dir.join(EMBEDDED_DATABASE)),
            false => DatabaseUrl::from_str(configured)?,
        };
        if url.is_sqlite() && self.has_broker() {
            return Err(StoreError::Configuration(format!(
                "configuration error: the database is SQLite ({}) and a broker is configured (EAI_AMQP_URL): a broker's queues serve a fleet of workers, which must share one PostgreSQL database. Set EAI_DATABASE_URL to PostgreSQL, or unset EAI_AMQP_URL to queue envelopes in the SQLite database",
                url.shown()
            )));
        }
        Ok(url)
    }

    /// How the pool talks to the database.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database.max_connections,
            acquire_timeout: self.database.acquire_timeout,
            lock_timeout: self.database.lock_timeout,
            statement_timeout: self.database.statement_timeout,
        }
    }

    /// Who we are in receipts and events.
    pub fn identity(&self) -> ReceiptOrigin {
        ReceiptOrigin {
            source_application: self.receipts.source_application.clone(),
            product_name: self.receipts.product_name.clone(),
            max_details: self.receipts.max_details,
        }
    }

    /// The built-in defaults alone, without file or environment (tests start from them).
    pub fn defaults() -> Settings {
        Figment::from(Toml::string(DEFAULTS))
            .extract::<Settings>()
            .map_err(|error| error.to_string())
            .and_then(Settings::checked)
            .expect("the built-in defaults are valid settings")
    }

    /// Loads the layers; `file` is the optional TOML file (`--config` / `EAI_CONFIG`).
    pub fn load(file: Option<&Path>) -> Result<Settings, figment::Error> {
        Self::figment(file)?
            .extract::<Settings>()?
            .checked()
            .map_err(figment::Error::from)
    }

    /// Threads of the runtime that runs the deliveries, the sender, the API
    /// and the console: `threads`, or when it is 0 one fewer than the CPUs
    /// the process may use (at least one). The batches' lanes and the
    /// broker's connection have threads of their own, and on two CPUs a
    /// second runtime thread cost the worker 3–6 % more CPU per envelope,
    /// waking the other to steal its tasks (BENCHMARKS.md).
    pub fn runtime_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism()
            .map_or(1, |cpus| cpus.get() - 1)
            .max(1)
    }

    /// Refuses values no worker can run with, naming the key.
    fn checked(self) -> Result<Settings, String> {
        let positive = [
            ("database.acquire_timeout", self.database.acquire_timeout),
            ("database.lock_timeout", self.database.lock_timeout),
            (
                "database.statement_timeout",
                self.database.statement_timeout,
            ),
            ("amqp.connect_timeout", self.amqp.connect_timeout),
            ("amqp.publish_timeout", self.amqp.publish_timeout),
            (
                "receiver.reservation_sweep",
                self.receiver.reservation_sweep,
            ),
            ("receiver.queue_lease", self.receiver.queue_lease),
            ("receiver.queue_poll", self.receiver.queue_poll),
            ("receiver.spool_poll", self.receiver.spool_poll),
            ("receipts.relay_interval", self.receipts.relay_interval),
            ("sender.poll", self.sender.poll),
            ("sender.retry_min", self.sender.retry_min),
            ("health.interval", self.health.interval),
            ("health.timeout", self.health.timeout),
            ("health.liveness_timeout", self.health.liveness_timeout),
            ("retention.interval", self.retention.interval),
            ("alerts.interval", self.alerts.interval),
            ("alerts.check_every", self.alerts.check_every),
            ("alerts.retry_min", self.alerts.retry_min),
            ("alerts.timeout", self.alerts.timeout),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| value.is_zero()) {
            return Err(format!("{key}: must be longer than zero"));
        }
        let counts = [
            (
                "database.max_connections",
                self.database.max_connections as usize,
            ),
            ("receiver.prefetch", usize::from(self.receiver.prefetch)),
            ("receiver.concurrency", self.receiver.concurrency),
            ("receiver.batch_size", self.receiver.batch_size),
            ("receipts.max_details", self.receipts.max_details),
            ("receipts.max_attempts", self.receipts.max_attempts as usize),
            ("sender.concurrency", self.sender.concurrency),
            (
                "alerts.max_attempts",
                usize::try_from(self.alerts.max_attempts).unwrap_or(0),
            ),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{key}: must be at least 1"));
        }
        if self.sender.retry_max < self.sender.retry_min {
            return Err("sender.retry_max: must not be shorter than sender.retry_min".to_owned());
        }
        if self.alerts.retry_max < self.alerts.retry_min {
            return Err("alerts.retry_max: must not be shorter than alerts.retry_min".to_owned());
        }
        Ok(self)
    }

    fn figment(file: Option<&Path>) -> Result<Figment, figment::Error> {
        let defaults = Figment::from(Toml::string(DEFAULTS));
        let known: Dict = defaults.extract()?;
        let mut figment = defaults;
        if let Some(file) = file {
            if !file.exists() {
                return Err(figment::Error::from(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed("EAI_")
                .filter_map(move |key| setting_path(&known, key.as_str()).map(Into::into)),
        );
        for (variable, key) in SECRETS {
            if let Ok(path) = std::env::var(variable) {
                let secret = std::fs::read_to_string(&path).map_err(|error| {
                    figment::Error::from(format!("{variable}: cannot read {path}: {error}"))
                })?;
                figment = figment.merge(Serialized::default(key, secret.trim().to_owned()));
            }
        }
        Ok(figment)
    }
}

/// The setting an environment variable (its name after `EAI_`) names:
/// `RECEIVER_PREFETCH` is `receiver.prefetch`, `ENVIRONMENT` is
/// `environment`; `None` for a variable that names no setting.
fn setting_path(known: &Dict, variable: &str) -> Option<String> {
    let name = variable.to_ascii_lowercase();
    if known
        .get(&name)
        .is_some_and(|value| value.as_dict().is_none())
    {
        return Some(name);
    }
    let (section, key) = name.split_once('_')?;
    known
        .get(section)?
        .as_dict()?
        .contains_key(key)
        .then(|| format!("{section}.{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_leaves_a_cpu_to_the_lanes_unless_told_its_threads() {
        figment::Jail::expect_with(|jail| {
            let cpus = std::thread::available_parallelism().map_or(1, |cpus| cpus.get());
            let settings = Settings::load(None)?;
            assert_eq!(settings.runtime_threads(), (cpus - 1).max(1));
            jail.set_env("EAI_THREADS", "3");
            assert_eq!(Settings::load(None)?.runtime_threads(), 3);
            Ok(())
        });
    }

    #[test]
    fn defaults_use_no_broker_and_the_embedded_database() {
        figment::Jail::expect_with(|_| {
            let settings = Settings::load(None)?;
            assert!(!settings.has_broker(), "envelopes queue in the database");
            assert_eq!(
                settings.database_url().expect("a URL").shown(),
                "sqlite:eai-data/eai.sqlite3"
            );
            assert_eq!(settings.amqp.queue_type, QueueType::Quorum);
            assert_eq!(settings.amqp.topology_prefix, "eai");
            assert_eq!(settings.retention.window, Duration::from_secs(30 * 86_400));
            assert_eq!(
                settings.receiver.reserve_retry_delays,
                [5, 15, 30, 60, 120].map(Duration::from_secs)
            );
            Ok(())
        });
    }

    #[test]
    fn the_data_directory_moves_the_embedded_database_and_sqlite_with_a_broker_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("EAI_DATA_DIR", "/var/lib/eai");
            let settings = Settings::load(None)?;
            assert_eq!(
                settings.database_url().expect("a URL").shown(),
                "sqlite:/var/lib/eai/eai.sqlite3"
            );
            jail.set_env("EAI_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
            let refused = Settings::load(None)?
                .database_url()
                .expect_err("SQLite with a broker")
                .to_string();
            assert!(
                refused.contains("EAI_DATABASE_URL") && refused.contains("unset EAI_AMQP_URL"),
                "{refused}"
            );
            jail.set_env("EAI_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eai");
            assert!(
                Settings::load(None)?.database_url().is_ok(),
                "the fleet setup"
            );
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_and_secrets_come_from_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "eai.toml",
                "[http]\naddr = \"127.0.0.1:9000\"\n[receiver]\nprefetch = 5\n[amqp]\nqueue_type = \"classic\"",
            )?;
            jail.create_file("db-secret", "postgres://app:s3cret@db/eai\n")?;
            jail.set_env("EAI_RECEIVER_PREFETCH", "7");
            jail.set_env("EAI_DATABASE_URL_FILE", "db-secret");
            jail.set_env("EAI_DATABASE_LOCK_TIMEOUT", "250ms");
            jail.set_env("EAI_ENVIRONMENT", "homologation");
            // Other tools share the prefix: variables naming no setting are left alone.
            jail.set_env("EAI_TEST_DATABASE_URL", "postgres://elsewhere/x");
            jail.set_env("EAI_BIN", "/opt/eai");
            let settings = Settings::load(Some(Path::new("eai.toml")))?;
            assert_eq!(settings.http.addr, "127.0.0.1:9000".parse().expect("addr"));
            assert_eq!(settings.receiver.prefetch, 7);
            assert_eq!(settings.amqp.queue_type, QueueType::Classic);
            assert_eq!(settings.database.lock_timeout, Duration::from_millis(250));
            assert_eq!(settings.environment, Environment::Homologation);
            assert_eq!(
                settings.database.url.expose_secret(),
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
            jail.set_env("EAI_RECEIVER_RESERVE_RETRY_DELAYS", "1s,2s,3s");
            jail.set_env("EAI_RECEIVER_TOTALS_TOLERANCE", "0,01");
            let settings = Settings::load(None)?;
            assert_eq!(
                settings.receiver.reserve_retry_delays,
                [1, 2, 3].map(Duration::from_secs)
            );
            assert_eq!(settings.receiver.totals_tolerance, Decimal::new(1, 2));
            jail.set_env("EAI_RECEIVER_FAILURE_RETRY_DELAYS", "[\"3s\", \"1m\"]");
            let settings = Settings::load(None)?;
            let delays: Vec<u64> = settings
                .topology()
                .delays
                .iter()
                .map(Duration::as_secs)
                .collect();
            assert_eq!(delays, [1, 2, 3, 60], "one delay queue per distinct delay");
            jail.set_env("EAI_RECEIVER_RESERVE_RETRY_DELAYS", "");
            let settings = Settings::load(None)?;
            assert!(
                settings.receiver.reserve_retry_delays.is_empty(),
                "answer at once"
            );
            jail.set_env("EAI_RECEIVER_TOTALS_TOLERANCE", "a cent");
            let error = Settings::load(None).expect_err("not a decimal");
            assert!(error.to_string().contains("a cent"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("EAI_AMQP_QUEUE_TYPE", "stream");
            let error = Settings::load(None).expect_err("stream is not a queue type");
            let text = error.to_string().to_ascii_lowercase();
            assert!(
                text.contains("amqp.queue_type") && text.contains("stream"),
                "{text}"
            );
            Ok(())
        });
    }

    /// The error loading `file` as the configuration file gives, as text.
    fn refused(jail: &mut figment::Jail, file: &str) -> String {
        jail.create_file("eai.toml", file)
            .expect("the file is written");
        match Settings::load(Some(Path::new("eai.toml"))) {
            Ok(_) => panic!("{file:?} was accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_by_its_name() {
        figment::Jail::expect_with(|jail| {
            for (file, named) in [
                ("[receiver]\nprefech = 16\n", "receiver.prefech"),
                ("prefetch = 16\n", "prefetch"),
                ("[reciever]\nprefetch = 16\n", "reciever"),
            ] {
                let text = refused(jail, file);
                assert!(text.contains(named), "{file:?}: {text}");
            }
            Ok(())
        });
    }

    #[test]
    fn durations_need_their_unit_and_must_make_sense() {
        figment::Jail::expect_with(|jail| {
            for (file, named) in [
                ("[sender]\npoll = 1000\n", "sender.poll"),
                ("[sender]\npoll = \"1 fortnight\"\n", "sender.poll"),
                (
                    "[receipts]\nrelay_interval = \"0s\"\n",
                    "receipts.relay_interval",
                ),
                ("[sender]\nretry_min = \"10m\"\n", "sender.retry_max"),
            ] {
                let text = refused(jail, file);
                assert!(text.contains(named), "{file:?}: {text}");
            }
            jail.create_file(
                "eai.toml",
                "[sender]\npoll = \"250ms\"\nstock_full_load = \"0s\"\n[retention]\nwindow = \"7days\"\n",
            )?;
            let settings = Settings::load(Some(Path::new("eai.toml")))?;
            assert_eq!(settings.sender.poll, Duration::from_millis(250));
            assert!(settings.sender.stock_full_load.is_zero(), "turned off");
            assert_eq!(settings.retention.window, Duration::from_secs(7 * 86_400));
            Ok(())
        });
    }
}
