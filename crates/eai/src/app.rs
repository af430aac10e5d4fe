//! Wires the worker together — database, broker, consumers, sender, periodic
//! jobs and HTTP — and takes it down in order (mini-redis style: one signal
//! tells every task to stop, each drains what it holds, and only then are the
//! connections closed).
//!
//! Shutdown: readiness turns false; consumers stop taking deliveries; every
//! envelope in flight commits, publishes its receipt and is acked; the sender
//! settles its deliveries — all bounded by `shutdown_grace`. Then the
//! relay flushes the receipts whose publication failed, and last the broker
//! connection, the HTTP listener and the database pool close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use backon::{ExponentialBuilder, Retryable};
use eai_store::{RelayPass, Store};
use eai_transport::{Broker, Consumer, OnLost, Publisher, Topology, Watch};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::auth::Tokens;
use crate::api::{self, ApiState};
use crate::batcher::Batcher;
use crate::config::Settings;
use crate::console;
use crate::dead_letter::DeadLetters;
use crate::dead_letter_queue::DeadLetterLog;
use crate::health::Health;
use crate::http;
use crate::inlet::Inlet;
use crate::memory::MemoryReturn;
use crate::metrics::{BrokerReconnected, ConsumerError, Metrics};
use crate::queue_consumer::QueueConsumer;
use crate::receiver::{Receiver, RetryPlan};
use crate::relay::Relay;
use crate::sampler::Sampler;
use crate::sender::receipts_in::DestinationReceipts;
use crate::sender::{RetryPolicy, Sender};
use crate::spool::Spool;
use crate::sweep;
use crate::unrouted::Unrouted;

/// What the receiver of the database's inbound queue calls its queue in the
/// logs and in the queue gauges.
pub(crate) const INBOUND_QUEUE: &str = "inbound_queue";

/// Which halves of the worker `eai run --only` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Consume envelopes and answer them.
    Receiver,
    /// Drain the outbox to destinations (and publish again the receipts
    /// whose publication failed), consume destination receipts, release
    /// expired reservations and purge old rows.
    Sender,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Receiver => "receiver",
            Role::Sender => "sender",
        }
    }
}

/// A started worker.
pub struct RunningApp {
    pub http_addr: std::net::SocketAddr,
    pub topology: Topology,
    /// Stops the work: consumers, sender, periodic jobs.
    shutdown: CancellationToken,
    /// Stops what the work needs until it is done: HTTP, the broker
    /// supervisor, the database probe.
    closing: CancellationToken,
    work: JoinSet<()>,
    infrastructure: JoinSet<anyhow::Result<()>>,
    /// `None` when envelopes queue in the database.
    broker: Option<Broker>,
    store: Store,
    health: Arc<Health>,
    relay: Option<Relay>,
    grace: Duration,
}

/// Opens the database (creating and migrating it if needed), retrying for
/// at most `startup_timeout` while it is unreachable.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings.database_url().context("EAI_DATABASE_URL")?;
    let address = url.address();
    let pool = settings.pool();
    let started = Instant::now();
    let patience = settings.startup_timeout;
    let connect = || async {
        url.ensure_database(pool.acquire_timeout).await?;
        Store::open(&url, pool).await
    };
    let store = connect
        .retry(startup_backoff())
        .when(|_| started.elapsed() < patience)
        .notify(
            |error, delay| tracing::warn!(%address, %error, ?delay, "database not reachable yet"),
        )
        .await
        .with_context(|| {
            format!(
                "cannot connect to the database at {address} (gave up after {} s)",
                started.elapsed().as_secs()
            )
        })?;
    store
        .migrate()
        .await
        .context("database migrations failed")?;
    Ok(store
        .with_totals_tolerance(settings.receiver.totals_tolerance)
        .with_environment(settings.environment))
}

/// Refuses, before anything starts, settings this worker would silently ignore.
fn refuse_what_cannot_work(settings: &Settings, only: Option<Role>) -> anyhow::Result<()> {
    if only == Some(Role::Sender) && !settings.receiver.spool_dir.as_os_str().is_empty() {
        anyhow::bail!(
            "configuration error: receiver.spool_dir ({}) is watched by the receiver half, and this worker runs only the sender half (--only sender): unset EAI_RECEIVER_SPOOL_DIR here, or set it where the receiver runs",
            settings.receiver.spool_dir.display()
        );
    }
    Ok(())
}

/// The first line a starting worker logs: what it uses and where to look.
fn announce(settings: &Settings, only: Option<Role>) -> anyhow::Result<()> {
    let database = settings.database_url().context("EAI_DATABASE_URL")?;
    let broker = match settings.has_broker() {
        true => format!(
            "{} (topology {}, {} queues)",
            settings.endpoint("eai-worker")?.address(),
            settings.amqp.topology_prefix,
            settings.amqp.queue_type.as_str()
        ),
        false => "none (envelopes queue in the database)".to_owned(),
    };
    let console = if settings.http.console {
        format!("http://{}/", settings.http.addr)
    } else {
        "off".to_owned()
    };
    let database = match settings.database.url.expose_secret().trim().is_empty() {
        true => format!(
            "{} (embedded; EAI_DATABASE_URL selects PostgreSQL)",
            database.shown()
        ),
        false => database.shown(),
    };
    tracing::info!(
        %database,
        %broker,
        api = %format!("http://{}/api/v1", settings.http.addr),
        %console,
        halves = only.map_or("receiver and sender", Role::as_str),
        "EAI Worker starting"
    );
    Ok(())
}

/// Delays between start-up attempts: 200 ms doubling to 5 s, jittered; the
/// caller stops at its deadline.
fn startup_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_jitter()
}

/// Connects to the broker (retrying for at most `startup_timeout`) and,
/// when given, declares `topology` on this and every later connection.
pub async fn open_broker(
    settings: &Settings,
    topology: Option<Topology>,
) -> anyhow::Result<Broker> {
    let endpoint = settings.endpoint(&format!("eai-worker@{}", settings.http.addr))?;
    let watch = Watch {
        probe_interval: settings.health.interval,
        probe_timeout: settings.health.timeout,
    };
    Ok(Broker::connect(endpoint, topology, watch, settings.startup_timeout).await?)
}

/// Where envelopes go in: the broker when one is configured (connected
/// within `startup_timeout`, declaring `topology` when given), else the
/// database's inbound queue.
pub async fn open_inlet(
    settings: &Settings,
    store: &Store,
    topology: Option<Topology>,
) -> anyhow::Result<(Inlet, Option<Broker>)> {
    if !settings.has_broker() {
        return Ok((
            Inlet::Database {
                store: store.clone(),
            },
            None,
        ));
    }
    let broker = open_broker(settings, topology).await?;
    let names = settings.topology();
    let inlet = Inlet::Broker {
        publisher: publisher_for(settings, &broker),
        inbound_exchange: names.inbound_exchange,
        dead_letter_exchange: names.dead_letter_exchange,
    };
    Ok((inlet, Some(broker)))
}

/// A publisher on `broker` with the configured timeout.
pub fn publisher_for(settings: &Settings, broker: &Broker) -> Publisher {
    Publisher::new(broker.clone(), settings.amqp.publish_timeout)
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
    refuse_what_cannot_work(settings, only)?;
    announce(settings, only)?;
    let store = open_store(settings).await?;
    let topology = settings.topology();
    let (inlet, broker) = open_inlet(settings, &store, Some(topology.clone())).await?;
    let metrics = Metrics::new();
    metrics.describe_build(store.backend(), broker.is_some());
    let identity = settings.identity();
    let health = Health::new(broker.clone(), settings.health.liveness_timeout);
    let shutdown = CancellationToken::new();
    let closing = CancellationToken::new();
    let mut work = JoinSet::new();
    let mut infrastructure = JoinSet::new();
    let dead_letters = DeadLetters {
        inlet: inlet.clone(),
        identity: identity.clone(),
        metrics: metrics.clone(),
    };
    let on_lost: OnLost = {
        let metrics = metrics.clone();
        Arc::new(move |queue: &str, error: &str| ConsumerError { queue, error }.emit(&metrics))
    };
    let receipt_retry = RetryPolicy {
        min: settings.sender.retry_min,
        max: Duration::from_secs(600),
    };

    if let Some(broker) = &broker {
        infrastructure.spawn({
            let (broker, closing, metrics) = (broker.clone(), closing.clone(), metrics.clone());
            async move {
                let address = broker.address();
                broker
                    .supervise(closing.cancelled_owned(), || {
                        BrokerReconnected { address: &address }.emit(&metrics)
                    })
                    .await;
                Ok(())
            }
        });
    }
    infrastructure.spawn({
        let health = Arc::clone(&health);
        let probe = store.probe();
        let interval = settings.health.interval;
        let timeout = settings.health.timeout;
        let closing = closing.clone();
        async move {
            health
                .watch_database(probe, interval, timeout, closing)
                .await;
            Ok(())
        }
    });
    let tokens = Tokens::parse(settings.api.tokens.expose_secret())
        .map_err(|error| anyhow::anyhow!("configuration error: {error}"))?;
    let api_state = ApiState {
        store: store.clone(),
        inlet: inlet.clone(),
        topology: topology.clone(),
        identity: identity.clone(),
        metrics: metrics.clone(),
        tokens: Arc::new(tokens),
        settings: Arc::new(settings.clone()),
        health: Arc::clone(&health),
    };
    let mut api = api::router(api_state.clone());
    if settings.http.console {
        api = api.merge(console::router(api_state));
    }
    let server = http::bind(
        settings.http.addr,
        metrics.clone(),
        Arc::clone(&health),
        store.clone(),
        api,
    )
    .await
    .with_context(|| format!("cannot listen on {}", settings.http.addr))?;
    let http_addr = server.addr;
    infrastructure.spawn({
        let closing = closing.clone();
        async move {
            server
                .run(closing.cancelled_owned())
                .await
                .context("HTTP server failed")
        }
    });

    infrastructure.spawn({
        let sampler = Sampler {
            store: store.clone(),
            broker: broker.clone(),
            topology: topology.clone(),
            metrics: metrics.clone(),
        };
        let (interval, closing) = (settings.metrics.sample_interval, closing.clone());
        async move {
            sampler.run(interval, closing).await;
            Ok(())
        }
    });

    if only.is_none_or(|role| role == Role::Receiver) {
        let retries = RetryPlan {
            reserve_delays: settings.receiver.reserve_retry_delays.clone(),
            failure_delays: settings.receiver.failure_retry_delays.clone(),
            redelivery_limit: settings.receiver.redelivery_limit,
            receipt_retry: receipt_retry.min,
        };
        let (batcher, batching) =
            Batcher::start(&store, identity.clone(), settings.receiver.batch_size)
                .context("starting the receiver's batch lanes failed")?;
        work.spawn(batching);
        let memory = Arc::new(MemoryReturn::default());
        let receiver_for = |queue: &str| Receiver {
            store: store.clone(),
            batcher: batcher.clone(),
            inlet: inlet.clone(),
            dead_letters: dead_letters.clone(),
            topology: topology.clone(),
            identity: identity.clone(),
            metrics: metrics.clone(),
            health: Arc::clone(&health),
            retries: retries.clone(),
            queue: queue.to_owned(),
            shutdown: shutdown.clone(),
            memory: Arc::clone(&memory),
        };
        if !settings.receiver.spool_dir.as_os_str().is_empty() {
            let dir = settings.receiver.spool_dir.clone();
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot use the spool directory {}", dir.display()))?;
            let spool = Spool {
                dir,
                inlet: inlet.clone(),
                store: store.clone(),
                identity: identity.clone(),
            };
            work.spawn(spool.run(settings.receiver.spool_poll, shutdown.clone()));
        }
        match &broker {
            Some(broker) => {
                for (queue, _) in &topology.work_queues {
                    let consumer = Consumer {
                        broker: broker.clone(),
                        queue: queue.clone(),
                        prefetch: settings.receiver.prefetch,
                        concurrency: settings.receiver.concurrency,
                        handler: Arc::new(receiver_for(queue)),
                        subscription: health.subscription(),
                        on_lost: Arc::clone(&on_lost),
                    };
                    work.spawn(consumer.run(shutdown.clone()));
                }
                let unrouted = Consumer {
                    broker: broker.clone(),
                    queue: topology.unrouted_queue.clone(),
                    prefetch: settings.receiver.prefetch,
                    concurrency: 1,
                    handler: Arc::new(Unrouted {
                        receiver: Arc::new(receiver_for(&topology.unrouted_queue)),
                    }),
                    subscription: health.subscription(),
                    on_lost: Arc::clone(&on_lost),
                };
                work.spawn(unrouted.run(shutdown.clone()));
            }
            None => {
                let receiver = Arc::new(receiver_for(INBOUND_QUEUE));
                let consumer = QueueConsumer {
                    store: store.clone(),
                    unrouted: Arc::new(Unrouted {
                        receiver: Arc::clone(&receiver),
                    }),
                    receiver,
                    work: topology
                        .work_queues
                        .iter()
                        .map(|(_, routing_key)| routing_key.clone())
                        .collect(),
                    concurrency: settings.receiver.concurrency,
                    lease: settings.receiver.queue_lease,
                    poll: settings.receiver.queue_poll,
                    subscription: health.subscription(),
                };
                work.spawn(consumer.run(shutdown.clone()));
            }
        }
    }
    let mut relay = None;
    if let Some(broker) = &broker {
        let dead_letter_log = Consumer {
            broker: broker.clone(),
            queue: topology.dead_queue.clone(),
            prefetch: settings.receiver.prefetch,
            concurrency: 1,
            handler: Arc::new(DeadLetterLog {
                store: store.clone(),
                shutdown: shutdown.clone(),
            }),
            subscription: health.subscription(),
            on_lost: Arc::clone(&on_lost),
        };
        work.spawn(dead_letter_log.run(shutdown.clone()));
        if only.is_none_or(|role| role == Role::Sender) {
            let receipt_relay = Relay {
                store: store.clone(),
                publisher: publisher_for(settings, broker),
                dead_letters: dead_letters.clone(),
                metrics: metrics.clone(),
                max_attempts: settings.receipts.max_attempts,
                retry: receipt_retry,
            };
            work.spawn(
                receipt_relay
                    .clone()
                    .run(settings.receipts.relay_interval, shutdown.clone()),
            );
            relay = Some(receipt_relay);
            let receipts = Consumer {
                broker: broker.clone(),
                queue: topology.receipts_in_queue.clone(),
                prefetch: 64,
                concurrency: 8,
                handler: Arc::new(DestinationReceipts {
                    store: store.clone(),
                    metrics: metrics.clone(),
                    shutdown: shutdown.clone(),
                }),
                subscription: health.subscription(),
                on_lost: Arc::clone(&on_lost),
            };
            work.spawn(receipts.run(shutdown.clone()));
        }
    }
    if only.is_none_or(|role| role == Role::Sender) {
        work.spawn(sweep::expired_reservations(
            store.clone(),
            identity.clone(),
            metrics.clone(),
            settings.receiver.reservation_sweep,
            shutdown.clone(),
        ));
        if !settings.sender.stock_full_load.is_zero() {
            work.spawn(sweep::full_stock_load(
                store.clone(),
                identity.clone(),
                settings.sender.stock_full_load,
                shutdown.clone(),
            ));
        }
        if !settings.retention.window.is_zero() {
            work.spawn(sweep::retention(
                store.clone(),
                metrics.clone(),
                settings.retention.window,
                settings.retention.interval,
                shutdown.clone(),
            ));
        }
        let sender = Sender {
            store: store.clone(),
            // A channel of its own: a destination's bad exchange must not close
            // the channel receipts go out on.
            publisher: broker
                .as_ref()
                .map(|broker| publisher_for(settings, broker)),
            http: http_client()?,
            metrics: metrics.clone(),
            id: format!(
                "{}-{}",
                settings.receipts.source_application,
                uuid::Uuid::new_v4().simple()
            ),
            policy: RetryPolicy {
                min: settings.sender.retry_min,
                max: settings.sender.retry_max,
            },
            concurrency: settings.sender.concurrency,
            poll: settings.sender.poll,
            receipts_queue: topology.receipts_in_queue.clone(),
        };
        work.spawn(sender.run(shutdown.clone()));
        let alerting = crate::alerts::Alerting {
            store: store.clone(),
            metrics: metrics.clone(),
            http: http_client()?,
            settings: settings.alerts.clone(),
        };
        work.spawn(alerting.run(shutdown.clone()));
    }
    tracing::info!(%http_addr, prefix = %settings.amqp.topology_prefix, broker = broker.as_ref().map_or("none".to_owned(), Broker::address), "worker started");
    Ok(RunningApp {
        http_addr,
        topology,
        shutdown,
        closing,
        work,
        infrastructure,
        broker,
        store,
        health,
        relay,
        grace: settings.shutdown_grace,
    })
}

impl RunningApp {
    /// The worker's database handle: what is written through it wakes this
    /// worker's receivers and senders at once, on either backend.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until `signal` completes or a task stops unexpectedly, then shuts down.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let failure = tokio::select! {
            () = signal => None,
            Some(finished) = self.work.join_next() => Some(match finished {
                Ok(()) => anyhow::anyhow!("a worker task stopped unexpectedly"),
                Err(error) => anyhow::Error::from(error).context("a worker task panicked"),
            }),
            Some(finished) = self.infrastructure.join_next() => Some(match finished {
                Ok(Ok(())) => anyhow::anyhow!("a worker task stopped unexpectedly"),
                Ok(Err(error)) => error,
                Err(error) => anyhow::Error::from(error).context("a worker task panicked"),
            }),
        };
        let stopped = self.shutdown().await;
        match failure {
            Some(error) => Err(error),
            None => stopped,
        }
    }

    /// Drains, then closes (see the module docs).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.health.start_draining();
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            while self.work.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::error!(
                tasks = self.work.len(),
                grace_secs = self.grace.as_secs(),
                "the grace period is over; stopping what is still running (its deliveries will be redelivered)"
            );
            self.work.shutdown().await;
        }
        if let Some(relay) = &self.relay {
            relay.pass(RelayPass::All).await;
        }
        self.closing.cancel();
        if let Some(broker) = &self.broker {
            broker.close().await;
        }
        let mut first_error = None;
        while let Some(finished) = self.infrastructure.join_next().await {
            if let Err(error) = finished
                .map_err(anyhow::Error::from)
                .and_then(|outcome| outcome)
            {
                first_error.get_or_insert(error);
            }
        }
        self.store.close().await;
        tracing::info!("worker stopped");
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
