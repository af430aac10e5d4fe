//! The periodic jobs of the sender half: the reservation-expiry sweep
//! (reservations past their `ReserveExpiration` give their stock back, SPEC
//! §4, without anyone sending a delete) and the full StockLevel load.

use std::time::Duration;

use chrono::Utc;
use eai_store::{Store, WorkerIdentity};
use tokio::sync::broadcast;

use crate::metrics::{Metrics, ReservationsExpired};

/// Lines released per transaction; the sweep loops until a pass finds fewer.
const BATCH: i64 = 500;

/// Sweeps every `interval` until `shutdown` fires.
pub async fn run(
    store: Store,
    origin: WorkerIdentity,
    metrics: Metrics,
    interval: Duration,
    mut shutdown: broadcast::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticker.tick() => {}
        }
        loop {
            match store
                .release_expired_reservations(&origin, Utc::now(), BATCH)
                .await
            {
                Ok(0) => break,
                Ok(lines) => {
                    ReservationsExpired { lines }.emit(&metrics);
                    if lines < BATCH as u64 {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "reservation sweep failed; retrying next pass");
                    break;
                }
            }
        }
    }
}

/// Enqueues the full StockLevel load every `interval`; the database decides
/// which worker of a fleet runs it, so a fleet sends it once.
pub async fn full_stock_load(
    store: Store,
    origin: WorkerIdentity,
    interval: Duration,
    mut shutdown: broadcast::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval.min(Duration::from_secs(60)));
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticker.tick() => {}
        }
        match store.full_stock_load(&origin, interval).await {
            Ok(Some(messages)) => tracing::info!(messages, "full StockLevel load enqueued"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "full StockLevel load failed; retrying next tick"),
        }
    }
}
