//! The bench's own world: a database of its own with the master data, and
//! the worker as a real `eai run` process on a topology prefix of its own,
//! watched for CPU and resident memory through `/proc`, like the database's
//! backends for CPU.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::process::{Child, Command};

use crate::envelopes::{self, BRANCH, CATALOGUE, LARGE_BRANCH, LOTS_PER_PRODUCT, PRODUCTS};
use crate::relays::NAIVE_SCHEMA;

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Where everything runs.
pub struct World {
    pub eai: PathBuf,
    pub server_url: String,
    pub database: String,
    pub amqp_url: String,
    pub prefix: String,
    pub directory: PathBuf,
}

impl World {
    /// The `eai` binary beside this one (built first when run by cargo).
    pub fn locate_eai() -> anyhow::Result<PathBuf> {
        if let Some(path) = std::env::var_os("EAI_BIN") {
            return Ok(PathBuf::from(path));
        }
        if let Some(cargo) = std::env::var_os("CARGO") {
            let built = std::process::Command::new(cargo)
                .args(["build", "--release", "--quiet", "-p", "eai"])
                .status()
                .context("building the eai binary")?;
            if !built.success() {
                bail!("cargo build --release -p eai failed");
            }
        }
        let beside = std::env::current_exe()?
            .parent()
            .context("the bench's directory")?
            .join("eai");
        if !beside.exists() {
            bail!(
                "no eai binary at {}: build it with `cargo build --release -p eai` or set EAI_BIN",
                beside.display()
            );
        }
        Ok(beside)
    }

    pub fn database_url(&self) -> String {
        format!("{}/{}", self.server_url, self.database)
    }

    /// Runs an `eai` command to completion against the bench's database.
    async fn eai_command(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = Command::new(&self.eai)
            .args(args)
            .env("EAI_DATABASE_URL", self.database_url())
            .env("EAI_AMQP_URL", &self.amqp_url)
            .env("EAI_AMQP_TOPOLOGY_PREFIX", &self.prefix)
            .output()
            .await
            .with_context(|| format!("running {}", self.eai.display()))?;
        if !output.status.success() {
            bail!(
                "eai {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Creates the database, the master data (1,000 products × 5 lots in
    /// one branch, 20,000 × 5 in the other) and the naive consumer's tables.
    pub async fn prepare(&self, destination_url: &str) -> anyhow::Result<PgPool> {
        self.eai_command(&["migrate"]).await?;
        let master = self.directory.join("master-data.json");
        std::fs::write(&master, envelopes::master_data().to_string())?;
        self.eai_command(&["import", &master.to_string_lossy()])
            .await?;
        let destination = self.directory.join("destination.json");
        std::fs::write(
            &destination,
            envelopes::destination(destination_url).to_string(),
        )?;
        self.eai_command(&["import", &destination.to_string_lossy()])
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&self.database_url())
            .await?;
        for (branch, products) in [(BRANCH, PRODUCTS), (LARGE_BRANCH, CATALOGUE)] {
            sqlx::query(
                "INSERT INTO lots (branch, product, warehouse, lot, sublot, expires_on, received_on, quantity)
                 SELECT $1, 'P' || lpad(p::text, greatest(4, length(p::text)), '0'), '01', 'L' || l, '',
                        date '2030-01-01' + l, date '2026-01-01', 100000000
                   FROM generate_series(0, $2 - 1) AS p, generate_series(1, $3) AS l",
            )
            .bind(branch)
            .bind(products as i32)
            .bind(LOTS_PER_PRODUCT as i32)
            .execute(&pool)
            .await?;
        }
        sqlx::raw_sql(NAIVE_SCHEMA).execute(&pool).await?;
        sqlx::query("ANALYZE").execute(&pool).await?;
        Ok(pool)
    }

    /// Drops the database (the worker must be gone).
    pub async fn drop_database(&self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&format!("{}/postgres", self.server_url)).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// A running `eai run`.
pub struct Worker {
    child: Child,
    pub pid: u32,
    pub address: SocketAddr,
    pub log: PathBuf,
}

impl Worker {
    /// Starts `eai run` with the worker's defaults but for `settings`
    /// (`EAI_*` name, value) and waits until it is ready.
    pub async fn start(world: &World, settings: &[(String, String)]) -> anyhow::Result<Worker> {
        let address = free_address()?;
        let log = world.directory.join("worker.log");
        let file = std::fs::File::create(&log)?;
        let child = Command::new(&world.eai)
            .arg("run")
            .env("EAI_DATABASE_URL", world.database_url())
            .env("EAI_AMQP_URL", &world.amqp_url)
            .env("EAI_AMQP_TOPOLOGY_PREFIX", &world.prefix)
            .env("EAI_HTTP_ADDR", address.to_string())
            .env("EAI_RECEIVER_RESERVE_RETRY_DELAYS", "1s")
            .env("EAI_RECEIVER_FAILURE_RETRY_DELAYS", "1s")
            .envs(settings.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .context("starting eai run")?;
        let pid = child.id().context("the worker's pid")?;
        let worker = Worker {
            child,
            pid,
            address,
            log,
        };
        worker.ready().await?;
        Ok(worker)
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.address);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the worker was not ready within 60 s; its log: {}",
            self.log.display()
        )
    }

    /// CPU time used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        process_cpu(self.pid)
    }

    /// Peak resident memory since the last [`Worker::reset_peak`], in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        status_kib(self.pid, "VmHWM:").map(|kib| kib * 1024)
    }

    /// Starts measuring the peak resident memory again from now.
    pub fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5")
            .context("resetting the peak RSS")
    }

    /// SIGTERM, then waits for the drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the worker did not stop within 30 s")??;
        Ok(())
    }
}

/// The CPU time process `pid` has used so far (user and system).
fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND))
}

/// The CPU time used so far by the worker and by each PostgreSQL backend
/// connected to the bench's database (the server is local): read before and
/// after a phase, it says what one envelope costs each side, a figure far
/// steadier than a rate on a shared machine.
pub struct CpuUse {
    worker: Duration,
    backends: HashMap<i32, Duration>,
}

impl CpuUse {
    pub async fn read(worker: &Worker, pool: &PgPool) -> anyhow::Result<CpuUse> {
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_all(pool)
        .await?;
        Ok(CpuUse {
            worker: worker.cpu()?,
            // A backend gone meanwhile has no figure to read.
            backends: pids
                .into_iter()
                .filter_map(|pid| Some((pid, process_cpu(pid as u32).ok()?)))
                .collect(),
        })
    }

    /// The CPU each envelope cost since `self`, for `envelopes` answered meanwhile.
    pub fn per_envelope(&self, now: &CpuUse, envelopes: usize) -> CpuPerEnvelope {
        let database: Duration = now
            .backends
            .iter()
            .map(|(pid, used)| {
                used.saturating_sub(self.backends.get(pid).copied().unwrap_or_default())
            })
            .sum();
        let per = |used: Duration| used.as_secs_f64() * 1000.0 / envelopes as f64;
        CpuPerEnvelope {
            worker: per(now.worker.saturating_sub(self.worker)),
            database: per(database),
        }
    }
}

/// Milliseconds of CPU one envelope cost each side.
#[derive(Clone, Copy)]
pub struct CpuPerEnvelope {
    pub worker: f64,
    pub database: f64,
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .with_context(|| format!("{field} in /proc/{pid}/status"))?;
    Ok(line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A scratch directory for the run's files.
pub fn scratch(prefix: &str) -> anyhow::Result<PathBuf> {
    let directory = std::env::temp_dir().join(prefix);
    std::fs::create_dir_all(&directory)?;
    Ok(directory)
}
