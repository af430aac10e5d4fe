//! Receipts the broker confirmed, marked published in batches.
//!
//! Each receipt is in the outbox before it is published; once its confirm
//! arrives the receiver hands its id here instead of writing one committed
//! UPDATE per receipt. One task marks whatever was handed over while the
//! previous batch was being written, in one statement, so the cost follows
//! the database's pace, not the envelopes'. A mark that is lost (a crash, the
//! database away) only leaves the receipt `waiting`: the relay publishes it
//! again, byte for byte, which a sender already tolerates from redeliveries.
//!
//! The task ends after the last handle is dropped and every id handed over
//! was written, so a worker shutting down drains it like its consumers.

use eai_store::Store;
use tokio::sync::mpsc;

/// Ids written in one statement at most.
const MAX_BATCH: usize = 1_024;

/// Where the receiver hands the ids of confirmed receipts.
#[derive(Debug, Clone)]
pub struct PublishedReceipts {
    ids: mpsc::UnboundedSender<i64>,
}

impl PublishedReceipts {
    /// The handle and the task that writes the marks (spawn it).
    pub fn start(store: Store) -> (PublishedReceipts, impl std::future::Future<Output = ()>) {
        let (ids, handed) = mpsc::unbounded_channel();
        (PublishedReceipts { ids }, mark(store, handed))
    }

    /// Marks the receipt `receipt_id` published (soon, with its neighbours).
    pub fn mark(&self, receipt_id: i64) {
        if self.ids.send(receipt_id).is_err() {
            tracing::warn!(
                receipt_id,
                "receipts are no longer being marked; the relay will publish it again"
            );
        }
    }
}

async fn mark(store: Store, mut handed: mpsc::UnboundedReceiver<i64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while handed.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Err(error) = store.mark_published(&batch).await {
            tracing::warn!(
                receipts = batch.len(),
                %error,
                "confirmed receipts were not marked published; the relay will publish them again"
            );
        }
        batch.clear();
    }
}
