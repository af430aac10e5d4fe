//! Settling finished attempts together: the deliveries that end while one
//! settle statement runs are recorded by the next, one round trip and one
//! commit for all of them instead of one each.
//!
//! A delivery keeps its slot until its attempt is recorded, so the sender's
//! concurrency bounds what waits here, and a drain ends only once every
//! attempt in flight is settled. When settling them together fails, each is
//! settled alone; an attempt that cannot be settled leaves its message's
//! lease to expire, and another attempt follows, as when a sender dies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eai_store::outbound::{Attempt, Claimed, Settlement};
use eai_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{DestinationBlocked, MessageAttempted, Metrics};

/// An attempt that ended, waiting to be recorded.
pub struct Finished {
    pub message: Claimed,
    pub started_at: DateTime<Utc>,
    pub settlement: Settlement,
    /// When the message may be tried again, if it failed.
    pub retry_in: Duration,
    pub elapsed: Duration,
    /// Dropped once the attempt is recorded (or settling it failed).
    pub recorded: oneshot::Sender<()>,
}

/// Records the attempts sent to it, as many at a time as are waiting.
pub struct Settler {
    pub store: Store,
    pub metrics: Metrics,
    /// The sender whose leases the attempts hold.
    pub sender: String,
    pub finished: mpsc::Receiver<Finished>,
    /// The most attempts one statement records.
    pub batch: usize,
}

impl Settler {
    /// Settles until every handle to its channel is dropped and nothing waits.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.batch);
        while self.finished.recv_many(&mut batch, self.batch).await > 0 {
            self.settle(&batch).await;
            batch.clear();
        }
    }

    /// Records `batch` in one call; when that fails, each attempt alone, so
    /// one attempt the database refuses never costs its neighbours theirs.
    async fn settle(&self, batch: &[Finished]) {
        let Err(error) = self.record(batch).await else {
            return;
        };
        if batch.len() > 1 {
            tracing::debug!(%error, attempts = batch.len(), "settling together failed; settling each attempt alone");
            for finished in batch {
                if let Err(error) = self.record(std::slice::from_ref(finished)).await {
                    warn_unsettled(finished, &error);
                }
            }
        } else {
            warn_unsettled(&batch[0], &error);
        }
    }

    /// Settles `batch` in one call, then counts and logs each attempt.
    async fn record(&self, batch: &[Finished]) -> Result<(), StoreError> {
        let attempts: Vec<Attempt<'_>> = batch
            .iter()
            .map(|finished| Attempt {
                message: &finished.message,
                started_at: finished.started_at,
                settlement: &finished.settlement,
                retry_in: finished.retry_in,
            })
            .collect();
        let settled = self.store.settle(&self.sender, &attempts).await?;
        for (finished, settled) in batch.iter().zip(settled) {
            let (message, settlement) = (&finished.message, &finished.settlement);
            MessageAttempted {
                uuid: &message.uuid,
                destination: &message.destination.name,
                transaction: &message.transaction,
                attempt: message.attempt,
                status: settlement.status().as_str(),
                detail: settlement.detail(),
                elapsed: finished.elapsed,
            }
            .emit(&self.metrics);
            if settled.blocked_destination {
                DestinationBlocked {
                    destination: &message.destination.name,
                    reason: settlement.detail(),
                }
                .emit(&self.metrics);
            }
        }
        Ok(())
    }
}

fn warn_unsettled(finished: &Finished, error: &StoreError) {
    tracing::warn!(uuid = %finished.message.uuid, %error, "settling failed; the lease will expire and another attempt follows");
}
