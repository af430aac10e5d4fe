//! The worker as a real OS process (`eai run`), for the tests where only a
//! process will do: `kill -9`, SIGTERM, a command that must exit by itself.
//!
//! Its settings come from a [`Settings`] turned into `EAI_*` variables, and
//! its log goes to a file that is printed when a test fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use eai::config::Settings;
use secrecy::ExposeSecret;

/// The `EAI_*` variables that give an `eai` process these settings (all of
/// them but `log.format`, which stays the default).
pub fn environment(settings: &Settings) -> Vec<(String, String)> {
    let duration = |value: Duration| humantime::format_duration(value).to_string();
    let list = |values: &[Duration]| {
        let items: Vec<String> = values.iter().map(|value| duration(*value)).collect();
        items.join(",")
    };
    let database = &settings.database;
    let amqp = &settings.amqp;
    let receiver = &settings.receiver;
    let receipts = &settings.receipts;
    let sender = &settings.sender;
    let health = &settings.health;
    let alerts = &settings.alerts;
    let pairs = [
        ("ENVIRONMENT", settings.environment.as_str().to_owned()),
        ("STARTUP_TIMEOUT", duration(settings.startup_timeout)),
        ("SHUTDOWN_GRACE", duration(settings.shutdown_grace)),
        ("DATA_DIR", settings.data_dir.display().to_string()),
        ("THREADS", settings.threads.to_string()),
        ("DATABASE_URL", database.url.expose_secret().to_owned()),
        (
            "DATABASE_MAX_CONNECTIONS",
            database.max_connections.to_string(),
        ),
        (
            "DATABASE_ACQUIRE_TIMEOUT",
            duration(database.acquire_timeout),
        ),
        ("DATABASE_LOCK_TIMEOUT", duration(database.lock_timeout)),
        (
            "DATABASE_STATEMENT_TIMEOUT",
            duration(database.statement_timeout),
        ),
        ("AMQP_URL", amqp.url.expose_secret().to_owned()),
        ("AMQP_CONNECT_TIMEOUT", duration(amqp.connect_timeout)),
        ("AMQP_HEARTBEAT", duration(amqp.heartbeat)),
        ("AMQP_PUBLISH_TIMEOUT", duration(amqp.publish_timeout)),
        ("AMQP_QUEUE_TYPE", amqp.queue_type.as_str().to_owned()),
        ("AMQP_TOPOLOGY_PREFIX", amqp.topology_prefix.clone()),
        ("HTTP_ADDR", settings.http.addr.to_string()),
        ("HTTP_CONSOLE", settings.http.console.to_string()),
        ("API_TOKENS", settings.api.tokens.expose_secret().to_owned()),
        ("RECEIVER_PREFETCH", receiver.prefetch.to_string()),
        ("RECEIVER_CONCURRENCY", receiver.concurrency.to_string()),
        ("RECEIVER_BATCH_SIZE", receiver.batch_size.to_string()),
        (
            "RECEIVER_RESERVE_RETRY_DELAYS",
            list(&receiver.reserve_retry_delays),
        ),
        (
            "RECEIVER_FAILURE_RETRY_DELAYS",
            list(&receiver.failure_retry_delays),
        ),
        (
            "RECEIVER_REDELIVERY_LIMIT",
            receiver.redelivery_limit.to_string(),
        ),
        (
            "RECEIVER_TOTALS_TOLERANCE",
            receiver.totals_tolerance.to_string(),
        ),
        (
            "RECEIVER_RESERVATION_SWEEP",
            duration(receiver.reservation_sweep),
        ),
        ("RECEIVER_QUEUE_LEASE", duration(receiver.queue_lease)),
        ("RECEIVER_QUEUE_POLL", duration(receiver.queue_poll)),
        (
            "RECEIVER_SPOOL_DIR",
            receiver.spool_dir.to_string_lossy().into_owned(),
        ),
        ("RECEIVER_SPOOL_POLL", duration(receiver.spool_poll)),
        (
            "RECEIPTS_SOURCE_APPLICATION",
            receipts.source_application.clone(),
        ),
        ("RECEIPTS_PRODUCT_NAME", receipts.product_name.clone()),
        ("RECEIPTS_MAX_DETAILS", receipts.max_details.to_string()),
        ("RECEIPTS_MAX_ATTEMPTS", receipts.max_attempts.to_string()),
        ("RECEIPTS_RELAY_INTERVAL", duration(receipts.relay_interval)),
        ("SENDER_CONCURRENCY", sender.concurrency.to_string()),
        ("SENDER_POLL", duration(sender.poll)),
        ("SENDER_RETRY_MIN", duration(sender.retry_min)),
        ("SENDER_RETRY_MAX", duration(sender.retry_max)),
        ("SENDER_STOCK_FULL_LOAD", duration(sender.stock_full_load)),
        ("HEALTH_INTERVAL", duration(health.interval)),
        ("HEALTH_TIMEOUT", duration(health.timeout)),
        ("HEALTH_LIVENESS_TIMEOUT", duration(health.liveness_timeout)),
        ("RETENTION_WINDOW", duration(settings.retention.window)),
        ("RETENTION_INTERVAL", duration(settings.retention.interval)),
        ("ALERTS_INTERVAL", duration(alerts.interval)),
        ("ALERTS_CHECK_EVERY", duration(alerts.check_every)),
        ("ALERTS_MAX_ATTEMPTS", alerts.max_attempts.to_string()),
        ("ALERTS_RETRY_MIN", duration(alerts.retry_min)),
        ("ALERTS_RETRY_MAX", duration(alerts.retry_max)),
        ("ALERTS_TIMEOUT", duration(alerts.timeout)),
        (
            "METRICS_SAMPLE_INTERVAL",
            duration(settings.metrics.sample_interval),
        ),
    ];
    pairs
        .into_iter()
        .map(|(key, value)| (format!("EAI_{key}"), value))
        .collect()
}

/// A free port on 127.0.0.1, for a process that needs a fixed address.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound address")
}

/// A running `eai` process; killed when dropped.
pub struct WorkerProcess {
    child: Child,
    pub http_addr: SocketAddr,
    log: PathBuf,
    output: PathBuf,
}

impl WorkerProcess {
    /// Starts `binary run` with `settings` (its `http_addr` must be a fixed
    /// port, see [`free_addr`]), logging to a temporary file.
    pub fn spawn(binary: &Path, settings: &Settings) -> WorkerProcess {
        WorkerProcess::spawn_command(binary, "run", settings)
    }

    /// Starts `binary command` (a command that runs a worker: `run`,
    /// `demo`), its log and its standard output each in a temporary file.
    pub fn spawn_command(binary: &Path, command: &str, settings: &Settings) -> WorkerProcess {
        let file = |what: &str| {
            std::env::temp_dir().join(format!(
                "eai-worker-{}.{what}",
                uuid::Uuid::new_v4().simple()
            ))
        };
        let (log, output) = (file("log"), file("out"));
        let child = Command::new(binary)
            .arg(command)
            .envs(environment(settings))
            .env("RUST_LOG", "info,sqlx=warn,lapin=off")
            .stdout(std::fs::File::create(&output).expect("output file"))
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        WorkerProcess {
            child,
            http_addr: settings.http.addr,
            log,
            output,
        }
    }

    /// What it printed on its standard output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    pub async fn ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.readyz().await.map(|(status, _)| status) == Some(200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the worker exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the worker was not ready within {within:?}:\n{}",
            self.log()
        );
    }

    /// `/readyz`'s status and body, or `None` when nothing answers within a second.
    pub async fn readyz(&self) -> Option<(u16, String)> {
        http_get(self.http_addr, "/readyz", Duration::from_secs(1)).await
    }

    /// `/healthz`'s status and body.
    pub async fn healthz(&self) -> Option<(u16, String)> {
        http_get(self.http_addr, "/healthz", Duration::from_secs(1)).await
    }

    /// The value `/metrics` gives the series `series` (name and labels as
    /// printed), if the worker answers and serves it.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = http_get(self.http_addr, "/metrics", Duration::from_secs(1)).await?;
        series_value(&body, series)
    }

    /// `kill -9`: no drain, no goodbye.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// SIGTERM, as `docker stop` sends.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM sent to {pid}");
    }

    /// Waits for the process to exit, at most `within`.
    pub async fn exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        if std::thread::panicking() {
            eprintln!(
                "--- worker log ({}) ---\n{}",
                self.log.display(),
                self.log()
            );
        }
        std::fs::remove_file(&self.log).ok();
        std::fs::remove_file(&self.output).ok();
    }
}

/// What a command that ran to its end (or was stopped) left.
#[derive(Debug)]
pub struct Finished {
    /// `None` when it did not exit within the time allowed (it was killed).
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
    pub stderr: String,
}

/// Runs `binary args…` with `settings` and waits at most `within` for it to exit.
pub async fn run_command(
    binary: &Path,
    args: &[&str],
    settings: &Settings,
    within: Duration,
) -> Finished {
    let log = std::env::temp_dir().join(format!("eai-cmd-{}.log", uuid::Uuid::new_v4().simple()));
    let file = std::fs::File::create(&log).expect("log file");
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .envs(environment(settings))
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let mut exited = false;
    while started.elapsed() < within {
        if let Ok(Some(_)) = child.try_wait() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    if !exited {
        child.kill().ok();
    }
    let status = child.wait().ok().filter(|_| exited);
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();
    Finished {
        status,
        elapsed,
        stderr,
    }
}

/// The value of `series` (name and labels as printed) in a `/metrics` exposition.
pub fn series_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// A plain HTTP/1.1 GET with a deadline; `None` when nothing answers in time.
pub async fn http_get(addr: SocketAddr, path: &str, within: Duration) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Some((status, body))
    };
    tokio::time::timeout(within, exchange).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_gets_every_setting_the_defaults_name_but_the_log_format() {
        let given: Vec<String> = environment(&Settings::defaults())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut section = String::new();
        for line in include_str!("../../crates/eai/src/defaults.toml").lines() {
            if let Some(name) = line
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
            {
                section = format!("{}_", name.to_ascii_uppercase());
            } else if let Some((key, _)) = line.split_once(" = ") {
                let name = format!("EAI_{section}{}", key.trim().to_ascii_uppercase());
                if name != "EAI_LOG_FORMAT" {
                    assert!(given.contains(&name), "{name} is not passed on");
                }
            }
        }
    }
}
