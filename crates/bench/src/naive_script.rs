//! The naive consumer as issue 10 measured it: a Python script
//! (`naive_consumer.py`, beside this crate's `Cargo.toml`), one envelope at
//! a time, four rows committed before each `ok` receipt is confirmed and
//! the envelope acked. It runs in a virtual environment of the bench's own
//! (pika and psycopg from PyPI, made once under `target/`), on a queue
//! declared like the worker's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use lapin::options::QueueDeleteOptions;
use lapin::Connection;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use eai_transport::Topology;

/// The script, beside this crate's manifest.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/naive_consumer.py");

/// What the script imports, pinned.
const REQUIREMENTS: [&str; 2] = ["pika==1.4.4", "psycopg[binary]==3.3.9"];

/// The longest the script may take to start, or to finish once its
/// envelopes are answered.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The script consuming one queue until it has answered its envelopes.
pub struct NaiveScript {
    child: Child,
    /// Its output, kept open until it exits: a script writing to a closed
    /// pipe would fail.
    output: Lines<BufReader<ChildStdout>>,
    queue: String,
}

impl NaiveScript {
    /// Declares `queue` and starts the script on it, to answer `count`
    /// envelopes with `database_url`'s naive tables; returns once it
    /// consumes.
    pub async fn start(
        connection: &Connection,
        topology: &Topology,
        queue: &str,
        prefetch: u16,
        database_url: &str,
        amqp_url: &str,
        count: usize,
    ) -> anyhow::Result<NaiveScript> {
        let python = environment().await?;
        topology
            .declare_queue(&connection.create_channel().await?, queue, false)
            .await
            .with_context(|| format!("declaring {queue}"))?;
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .args([
                "--amqp",
                amqp_url,
                "--postgres",
                database_url,
                "--queue",
                queue,
            ])
            .args(["--prefetch", &prefetch.to_string()])
            .args(["--count", &count.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {SCRIPT} with {}", python.display()))?;
        let stdout = child.stdout.take().context("the script's output")?;
        let mut output = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(SCRIPT_TIMEOUT, output.next_line())
            .await
            .context("the naive script did not start in time")??;
        if ready.as_deref() != Some("ready") {
            bail!("the naive script did not start: {ready:?}");
        }
        Ok(NaiveScript {
            child,
            output,
            queue: queue.to_owned(),
        })
    }

    /// Waits for the script to exit after its last envelope (passing on
    /// anything it still prints), then deletes its queue through
    /// `connection`.
    pub async fn stop(mut self, connection: &Connection) -> anyhow::Result<()> {
        let exited = async {
            while let Some(line) = self.output.next_line().await? {
                eprintln!("naive script: {line}");
            }
            self.child.wait().await
        };
        let status = tokio::time::timeout(SCRIPT_TIMEOUT, exited)
            .await
            .context("the naive script did not exit")??;
        if !status.success() {
            bail!("the naive script failed: {status}");
        }
        connection
            .create_channel()
            .await?
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .with_context(|| format!("deleting {}", self.queue))?;
        Ok(())
    }
}

/// The virtual environment's Python, made (with [`REQUIREMENTS`]) if it is
/// not there yet.
async fn environment() -> anyhow::Result<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/eai-bench-python");
    let python = directory.join("bin/python");
    let marker = directory.join(REQUIREMENTS.join(" ").replace(['=', '[', ']', ' '], "_"));
    if marker.exists() {
        return Ok(python);
    }
    eprintln!(
        "making the naive script's Python environment in {} …",
        directory.display()
    );
    run(Command::new("python3").args(["-m", "venv"]).arg(&directory)).await?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(REQUIREMENTS))
    .await?;
    std::fs::write(&marker, "")?;
    Ok(python)
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
