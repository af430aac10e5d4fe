//! What `/readyz` and `/healthz` say, kept up to date in the background so
//! that both answer at once from the last state seen.
//!
//! - **Ready**: the broker connection is up (when there is a broker) and
//!   every consumer subscribed (the broker side probes its connection
//!   itself, see [`eai_transport::Broker`]; the database's queue consumer is
//!   up while its claims succeed), the database answered its last probe, and
//!   the worker is not shutting down.
//! - **Live**: no consumer has been without a subscription for longer than
//!   `liveness_timeout`. Every reconnection step is bounded, so this only
//!   fails when something is stuck for good, and a restart is the cure.
//!
//! Envelopes that meet an unavailable database wait on
//! [`Health::database_back`] instead of failing or spinning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eai_store::Probe;
use eai_transport::{Broker, Subscription};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::periodic::Ticker;

/// The readiness of each side, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Absent when the worker runs without a broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<bool>,
    pub consumers: bool,
    pub database: bool,
    pub draining: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.broker.unwrap_or(true) && self.consumers && self.database && !self.draining
    }
}

/// The shared health state of one worker.
pub struct Health {
    broker: Option<Broker>,
    subscriptions: Mutex<Vec<Subscription>>,
    database: watch::Sender<bool>,
    draining: AtomicBool,
    liveness_timeout: Duration,
}

impl Health {
    /// A worker whose database is up (it was just opened) and whose consumers
    /// are not subscribed yet.
    pub fn new(broker: Option<Broker>, liveness_timeout: Duration) -> Arc<Health> {
        Arc::new(Health {
            broker,
            subscriptions: Mutex::new(Vec::new()),
            database: watch::Sender::new(true),
            draining: AtomicBool::new(false),
            liveness_timeout,
        })
    }

    /// A consumer whose subscription readiness and liveness follow.
    pub fn subscription(&self) -> Subscription {
        let subscription = Subscription::default();
        if let Ok(mut all) = self.subscriptions.lock() {
            all.push(subscription.clone());
        }
        subscription
    }

    /// The state now, without any I/O.
    pub fn readiness(&self) -> Readiness {
        let consumers = self
            .subscriptions
            .lock()
            .map(|all| all.iter().all(Subscription::is_up))
            .unwrap_or(false);
        Readiness {
            broker: self.broker.as_ref().map(Broker::is_connected),
            consumers,
            database: *self.database.borrow(),
            draining: self.draining.load(Ordering::Relaxed),
        }
    }

    /// False once a consumer has been without a subscription for longer
    /// than the liveness timeout (never while draining: a shutdown cancels
    /// subscriptions on purpose).
    pub fn is_live(&self) -> bool {
        if self.draining.load(Ordering::Relaxed) {
            return true;
        }
        self.subscriptions
            .lock()
            .map(|all| {
                all.iter().all(|subscription| {
                    subscription
                        .down_for()
                        .is_none_or(|down| down < self.liveness_timeout)
                })
            })
            .unwrap_or(false)
    }

    /// From now on the worker reports not-ready: it is shutting down.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Records what the envelope saw: the database is unavailable. Readiness
    /// turns false at once; the probe tells when it is back.
    pub fn database_down(&self) {
        self.database
            .send_if_modified(|up| std::mem::replace(up, false));
    }

    /// Waits until the database answers again; false when `shutdown` came first.
    pub async fn database_back(&self, shutdown: &CancellationToken) -> bool {
        let mut state = self.database.subscribe();
        tokio::select! {
            () = shutdown.cancelled() => false,
            back = state.wait_for(|up| *up) => back.is_ok(),
        }
    }

    /// Probes the database every `interval` (each probe bounded by
    /// `timeout`) until `stop`, on a connection of its own.
    pub async fn watch_database(
        self: Arc<Health>,
        mut probe: Probe,
        interval: Duration,
        timeout: Duration,
        stop: CancellationToken,
    ) {
        let mut ticker = Ticker::new(interval, &stop);
        while ticker.tick().await {
            let outcome = probe.check(timeout).await;
            let up = outcome.is_ok();
            let changed = self
                .database
                .send_if_modified(|state| std::mem::replace(state, up) != up);
            match outcome {
                Err(error) if changed => tracing::error!(%error, "database unavailable"),
                Ok(()) if changed => tracing::info!("database available again"),
                _ => {}
            }
        }
    }
}
