//! The receipt relay: publishes again the receipts whose publication failed
//! (the broker was away, did not confirm, or returned the receipt because no
//! queue took it) after their envelope was acked. A receipt whose first
//! publication never happened (its worker died after the commit) needs no
//! relay: its envelope was not acked, comes back, and the stored receipt is
//! published then.
//!
//! A failed receipt is tried again after a growing delay; after
//! `receipts.max_attempts` it is dead-lettered with the reason and marked
//! `failed` — never counted as delivered.

use std::time::Duration;

use eai_store::{PendingReceipt, RelayPass, Store};
use eai_transport::{Outgoing, Publisher};
use tokio_util::sync::CancellationToken;

use crate::dead_letter::DeadLetters;
use crate::metrics::{Metrics, ReceiptDeadLettered, ReceiptsRepublished};
use crate::periodic::Ticker;
use crate::sender::RetryPolicy;

/// How long a relay holds the rows it picked before another relay may take them.
const LEASE: Duration = Duration::from_secs(60);
const BATCH: i64 = 100;

/// The receipt relay of one worker.
#[derive(Clone)]
pub struct Relay {
    pub store: Store,
    pub publisher: Publisher,
    pub dead_letters: DeadLetters,
    pub metrics: Metrics,
    /// Publication attempts before a receipt is dead-lettered.
    pub max_attempts: u32,
    /// When a failed receipt is tried again.
    pub retry: RetryPolicy,
}

impl Relay {
    /// Runs a pass every `interval` until `stop`.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        let mut ticker = Ticker::new(interval, &stop);
        while ticker.tick().await {
            self.pass(RelayPass::Due).await;
        }
    }

    /// One pass over the receipts `pass` selects, batch after batch.
    pub async fn pass(&self, pass: RelayPass) {
        loop {
            match self.republish(pass).await {
                Ok((0, _)) => return,
                Ok((published, leased)) => {
                    if published > 0 {
                        ReceiptsRepublished { count: published }.emit(&self.metrics);
                    }
                    if leased < BATCH as usize {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "receipt relay pass failed");
                    return;
                }
            }
        }
    }

    /// Leases one batch and publishes each receipt; returns how many were
    /// published and how many leased.
    async fn republish(&self, pass: RelayPass) -> anyhow::Result<(usize, usize)> {
        let pending = self.store.lease_receipts(pass, LEASE, BATCH).await?;
        let leased = pending.len();
        let mut published = 0;
        for receipt in pending {
            let outcome = self
                .publisher
                .publish(&Outgoing {
                    exchange: &receipt.exchange,
                    routing_key: &receipt.routing_key,
                    body: receipt.body.as_bytes(),
                    correlation_id: receipt.correlation_id.as_deref(),
                    mandatory: true,
                    ..Outgoing::default()
                })
                .await;
            match outcome {
                Ok(()) => {
                    self.store.mark_published(receipt.id).await?;
                    published += 1;
                }
                Err(error) => self.failed(&receipt, &error.to_string()).await?,
            }
        }
        Ok((published, leased))
    }

    /// Records a failed attempt, or gives up on the receipt after the last one.
    async fn failed(&self, receipt: &PendingReceipt, error: &str) -> anyhow::Result<()> {
        let attempts = receipt.attempts;
        if u32::try_from(attempts).unwrap_or(u32::MAX) < self.max_attempts {
            let retry_in = self.retry.delay(attempts);
            self.store
                .mark_publish_failed(receipt.id, error, retry_in)
                .await?;
            return Ok(());
        }
        let reason = format!("not delivered after {attempts} attempts: {error}");
        self.dead_letters.receipt(receipt, &reason).await?;
        self.store.mark_receipt_failed(receipt.id, &reason).await?;
        ReceiptDeadLettered {
            receipt_id: receipt.id,
            attempts,
            reason: &reason,
        }
        .emit(&self.metrics);
        Ok(())
    }
}
