//! Settling finished attempts together: the deliveries that end while one
//! settle statement runs are recorded by the next, one round trip and one
//! commit for all of them instead of one each.
//!
//! A delivery keeps its slot until its attempt is recorded, so the sender's
//! concurrency bounds what waits here, and a drain ends only once every
//! attempt in flight is settled. When settling fails, the messages' leases
//! expire and other attempts follow, as when a sender dies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eai_store::outbound::{Attempt, Claimed, Settlement};
use eai_store::Store;
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

    async fn settle(&self, batch: &[Finished]) {
        let attempts: Vec<Attempt<'_>> = batch
            .iter()
            .map(|finished| Attempt {
                message: &finished.message,
                started_at: finished.started_at,
                settlement: &finished.settlement,
                retry_in: finished.retry_in,
            })
            .collect();
        match self.store.settle(&self.sender, &attempts).await {
            Ok(settled) => {
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
            }
            Err(error) => {
                let uuids: Vec<&str> = batch
                    .iter()
                    .map(|finished| finished.message.uuid.as_str())
                    .collect();
                tracing::warn!(?uuids, %error, "settling failed; the leases will expire and other attempts follow");
            }
        }
    }
}
