//! The reservation-expiry sweep: reservations past their `ReserveExpiration`
//! give their stock back (SPEC §4), without anyone having to send a delete.

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
