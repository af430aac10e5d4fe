//! The receipt relay: publishes receipts that were committed but whose first
//! publication a crash or a broker outage interrupted. It is why "ack after
//! commit" can never lose a receipt.

use std::time::Duration;

use eai_store::Store;
use eai_transport::{Outgoing, Publisher};
use tokio::sync::broadcast;

use crate::metrics::{Metrics, ReceiptsRepublished};

/// How long a relay holds the rows it picked before another relay may take them.
const LEASE: Duration = Duration::from_secs(60);
const BATCH: i64 = 100;

/// How often the relay looks, and when a waiting receipt counts as abandoned
/// (younger ones are still in their first worker's hands).
#[derive(Debug, Clone, Copy)]
pub struct RelaySchedule {
    pub interval: Duration,
    pub stale_after: Duration,
}

/// Runs on `schedule` until `shutdown` fires.
pub async fn run(
    store: Store,
    publisher: Publisher,
    metrics: Metrics,
    schedule: RelaySchedule,
    mut shutdown: broadcast::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(schedule.interval);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticker.tick() => {}
        }
        match republish(&store, &publisher, schedule.stale_after).await {
            Ok(0) => {}
            Ok(count) => ReceiptsRepublished { count }.emit(&metrics),
            Err(error) => tracing::warn!(%error, "receipt relay pass failed"),
        }
    }
}

/// One pass: lease stale receipts, publish each with a confirm, mark it done.
pub async fn republish(
    store: &Store,
    publisher: &Publisher,
    stale_after: Duration,
) -> anyhow::Result<usize> {
    let pending = store
        .lease_stale_receipts(stale_after, LEASE, BATCH)
        .await?;
    let mut published = 0;
    for receipt in pending {
        let outcome = publisher
            .publish(&Outgoing {
                exchange: &receipt.exchange,
                routing_key: &receipt.routing_key,
                body: receipt.body.as_bytes(),
                correlation_id: receipt.correlation_id.as_deref(),
                ..Outgoing::default()
            })
            .await;
        match outcome {
            Ok(()) => {
                store.mark_published(receipt.id).await?;
                published += 1;
            }
            Err(error) => {
                store
                    .mark_publish_failed(receipt.id, &error.to_string())
                    .await?;
            }
        }
    }
    Ok(published)
}
