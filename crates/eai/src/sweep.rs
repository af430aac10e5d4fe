//! The periodic jobs of the sender half: the reservation-expiry sweep
//! (reservations past their `ReserveExpiration` give their stock back, SPEC
//! §4, without anyone sending a delete), the full StockLevel load, and the
//! retention purge of inbox and outbox rows past the dedup window.

use std::time::Duration;

use chrono::Utc;
use eai_store::{Store, WorkerIdentity};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, ReservationsExpired, RowsPurged};
use crate::periodic::Ticker;

/// Lines released per transaction; the sweep loops until a pass finds fewer.
const BATCH: i64 = 500;

/// Rows purged per statement; the purge loops until a pass finds fewer.
const PURGE_BATCH: i64 = 5000;

/// Sweeps every `interval` until `stop`.
pub async fn expired_reservations(
    store: Store,
    origin: WorkerIdentity,
    metrics: Metrics,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = Ticker::new(interval, &stop);
    while ticker.tick().await {
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
    stop: CancellationToken,
) {
    let mut ticker = Ticker::new(interval.min(Duration::from_secs(60)), &stop);
    while ticker.tick().await {
        match store.full_stock_load(&origin, interval).await {
            Ok(Some(messages)) => tracing::info!(messages, "full StockLevel load enqueued"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "full StockLevel load failed; retrying next tick"),
        }
    }
}

/// Purges rows older than `retention` every `interval`, oldest first, in
/// batches, so a purge never holds long locks.
pub async fn retention(
    store: Store,
    metrics: Metrics,
    retention: Duration,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = Ticker::new(interval, &stop);
    while ticker.tick().await {
        loop {
            match store.purge(retention, PURGE_BATCH).await {
                Ok(purged) if purged.total() == 0 => break,
                Ok(purged) => {
                    RowsPurged { purged }.emit(&metrics);
                    let full = [
                        purged.inbox,
                        purged.messages,
                        purged.retries,
                        purged.history,
                    ]
                    .iter()
                    .any(|rows| *rows >= PURGE_BATCH as u64);
                    if !full || stop.is_cancelled() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "retention purge failed; retrying next pass");
                    break;
                }
            }
        }
    }
}
