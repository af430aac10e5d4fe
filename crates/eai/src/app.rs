//! Wires the worker together: database, broker, topology, consumers, relay
//! and HTTP, and takes them down gracefully (mini-redis style: one broadcast
//! tells every task to stop, then each drains what it holds).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use eai_store::{Store, WorkerIdentity};
use eai_transport::{Publisher, Topology};
use futures_util::FutureExt;
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use crate::config::Settings;
use crate::http::{self, Readiness};
use crate::metrics::Metrics;
use crate::receiver::Receiver;
use crate::relay::{self, RelaySchedule};
use crate::sender::{receipts_in, RetryPolicy, Sender};
use crate::sweep;

/// Which halves of the worker `eai run --only` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Consume envelopes and answer them.
    Receiver,
    /// Drain the outbox to destinations (and republish interrupted receipts),
    /// consume destination receipts, and release expired reservations.
    Sender,
}

/// The transactions the receiver consumes, one work queue each.
pub const CONSUMED: [&str; 3] = ["ItemReserve", "RetailSales", "RetailSalesCancellation"];

/// A started worker.
pub struct RunningApp {
    pub http_addr: std::net::SocketAddr,
    pub topology: Topology,
    shutdown: broadcast::Sender<()>,
    tasks: JoinSet<anyhow::Result<()>>,
}

/// Opens the database (creating and migrating it if needed), retrying while it is unreachable.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let options = PgConnectOptions::from_str(settings.database_url.expose_secret())
        .context("EAI_DATABASE_URL is not a valid PostgreSQL URL")?;
    let connect = || async {
        ensure_database(&options).await?;
        Store::connect(options.clone(), settings.database_max_connections).await
    };
    let store = connect
        .retry(startup_backoff())
        .notify(|error, delay| tracing::warn!(%error, ?delay, "database not reachable yet"))
        .await
        .context("cannot connect to the database")?;
    store
        .migrate()
        .await
        .context("database migrations failed")?;
    Ok(store)
}

/// Creates the database named in the URL when the server lacks it, so a fresh
/// laptop needs no manual `createdb`.
async fn ensure_database(options: &PgConnectOptions) -> Result<(), eai_store::StoreError> {
    use sqlx::{ConnectOptions, Connection, Executor};
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        admin
            .execute(format!("CREATE DATABASE {quoted}").as_str())
            .await?;
        tracing::info!(database = %name, "created database");
    }
    admin.close().await?;
    Ok(())
}

fn startup_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(12)
        .with_jitter()
}

/// Connects to the broker (retrying at start; lapin recovers later losses).
pub async fn open_broker(settings: &Settings) -> anyhow::Result<eai_transport::lapin::Connection> {
    let url = settings.amqp_url.expose_secret().to_owned();
    let name = format!("eai-worker@{}", settings.http_addr);
    let connect = || eai_transport::connect(&url, &name);
    connect
        .retry(startup_backoff())
        .notify(|error, delay| tracing::warn!(%error, ?delay, "broker not reachable yet"))
        .await
        .context("cannot connect to the AMQP broker")
}

/// The HTTP client of the sender and of `eai destinations test`; timeouts are per request.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("eai-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client failed")
}

/// Starts the worker; it runs until [`RunningApp::shutdown`].
pub async fn start(settings: &Settings, only: Option<Role>) -> anyhow::Result<RunningApp> {
    let store = open_store(settings).await?;
    let connection = Arc::new(open_broker(settings).await?);
    let topology = settings.topology();
    let setup = connection.create_channel().await?;
    topology
        .declare(&setup)
        .await
        .context("declaring the AMQP topology failed")?;
    setup.close(200, "topology declared".into()).await.ok();
    let publisher = Publisher::open(Arc::clone(&connection)).await?;
    let metrics = Metrics::new();
    let readiness = Arc::new(Readiness::default());
    readiness.watch(Arc::clone(&connection));
    let (shutdown, _) = broadcast::channel(1);
    let mut tasks = JoinSet::new();
    let identity = WorkerIdentity {
        source_application: settings.source_application.clone(),
        product_name: settings.product_name.clone(),
    };

    let server = http::bind(
        settings.http_addr,
        metrics.clone(),
        Arc::clone(&readiness),
        store.clone(),
    )
    .await
    .with_context(|| format!("cannot listen on {}", settings.http_addr))?;
    let http_addr = server.addr;
    let mut http_shutdown = shutdown.subscribe();
    tasks.spawn(async move {
        server
            .run(async move {
                http_shutdown.recv().await.ok();
            })
            .await
            .context("HTTP server failed")
    });

    if only.is_none_or(|role| role == Role::Receiver) {
        let receiver = Receiver {
            store: store.clone(),
            publisher: publisher.clone(),
            topology: topology.clone(),
            identity: identity.clone(),
            metrics: metrics.clone(),
        };
        for transaction in CONSUMED {
            let Some(queue) = topology.queue_for(transaction).map(str::to_owned) else {
                continue;
            };
            let receiver = receiver.clone();
            let connection = Arc::clone(&connection);
            let readiness = Arc::clone(&readiness);
            let stop = shutdown.subscribe();
            let (prefetch, concurrency) = (settings.prefetch, settings.concurrency);
            tasks.spawn(async move {
                receiver
                    .consume(&connection, &queue, prefetch, concurrency, readiness, stop)
                    .await
            });
        }
    } else {
        readiness.set_broker(true);
    }
    if only.is_none_or(|role| role == Role::Sender) {
        let stop = shutdown.subscribe();
        let schedule = RelaySchedule {
            interval: Duration::from_secs(settings.relay_interval_secs.max(1)),
            stale_after: Duration::from_secs(settings.relay_stale_after_secs),
        };
        tasks.spawn({
            let (store, publisher, metrics) = (store.clone(), publisher.clone(), metrics.clone());
            async move {
                relay::run(store, publisher, metrics, schedule, stop).await;
                Ok(())
            }
        });
        let stop = shutdown.subscribe();
        let interval = Duration::from_secs(settings.reservation_sweep_secs.max(1));
        tasks.spawn({
            let (store, metrics, identity) = (store.clone(), metrics.clone(), identity.clone());
            async move {
                sweep::run(store, identity, metrics, interval, stop).await;
                Ok(())
            }
        });
        if settings.stock_full_load_secs > 0 {
            let interval = Duration::from_secs(settings.stock_full_load_secs);
            tasks.spawn(
                sweep::full_stock_load(
                    store.clone(),
                    identity.clone(),
                    interval,
                    shutdown.subscribe(),
                )
                .map(Ok),
            );
        }
        let sender = Sender {
            store: store.clone(),
            // A channel of its own: a destination's bad exchange must not close
            // the channel receipts go out on.
            publisher: Publisher::open(Arc::clone(&connection)).await?,
            http: http_client()?,
            metrics: metrics.clone(),
            id: format!(
                "{}-{}",
                settings.source_application,
                uuid::Uuid::new_v4().simple()
            ),
            policy: RetryPolicy {
                min: Duration::from_millis(settings.send_retry_min_ms.max(1)),
                max: Duration::from_secs(settings.send_retry_max_secs.max(1)),
            },
            concurrency: settings.sender_concurrency,
            poll: Duration::from_millis(settings.sender_poll_ms.max(10)),
            receipts_queue: topology.receipts_in_queue.clone(),
        };
        tasks.spawn(sender.run(shutdown.subscribe()));
        let stop = shutdown.subscribe();
        tasks.spawn({
            let (store, connection, queue) = (
                store.clone(),
                Arc::clone(&connection),
                topology.receipts_in_queue.clone(),
            );
            async move { receipts_in::run(store, &connection, &queue, stop).await }
        });
    }
    let closer = Arc::clone(&connection);
    let mut stop = shutdown.subscribe();
    tasks.spawn(async move {
        stop.recv().await.ok();
        // Give the consumers a moment to ack what they drained before the connection goes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        closer.close(200, "shutting down".into()).await.ok();
        Ok(())
    });
    tracing::info!(%http_addr, prefix = %settings.topology_prefix, "worker started");
    Ok(RunningApp {
        http_addr,
        topology,
        shutdown,
        tasks,
    })
}

impl RunningApp {
    /// Runs until one task fails or `signal` completes, then shuts down.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            () = signal => {}
            Some(finished) = self.tasks.join_next() => {
                let outcome = finished.context("a worker task panicked")?;
                outcome.context("a worker task stopped")?;
            }
        }
        self.shutdown().await
    }

    /// Tells every task to stop and waits until in-flight envelopes are acked.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.shutdown.send(()).ok();
        let mut first_error = None;
        while let Some(finished) = self.tasks.join_next().await {
            if let Err(error) = finished
                .map_err(anyhow::Error::from)
                .and_then(|outcome| outcome)
            {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
