//! The gauges of what lies outside the process, read every
//! `metrics.sample_interval`: the outbound backlog and the blocked
//! destinations from the database, and the depth and consumers of every
//! queue the worker consumes from the broker (without a broker, the
//! database's inbound queue). A source that cannot be read is counted and
//! logged; its gauges keep their last value until the next sample.

use std::time::Duration;

use chrono::Utc;
use eai_store::Store;
use eai_transport::{Broker, Topology};
use tokio_util::sync::CancellationToken;

use crate::app::INBOUND_QUEUE;
use crate::metrics::{Metrics, SampleFailed};
use crate::periodic::Ticker;

/// Everything the sampler reads from.
pub struct Sampler {
    pub store: Store,
    /// `None` without a broker: the depth is the database queue's.
    pub broker: Option<Broker>,
    pub topology: Topology,
    pub metrics: Metrics,
}

impl Sampler {
    /// Samples every `interval` until `stop`.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        let mut ticker = Ticker::new(interval, &stop);
        while ticker.tick().await {
            self.database().await;
            self.queues().await;
        }
    }

    async fn database(&self) {
        match self.store.backlog().await {
            Ok(backlog) => self.metrics.observe_backlog(&backlog, Utc::now()),
            Err(error) => SampleFailed {
                source: "database",
                error: &error.to_string(),
            }
            .emit(&self.metrics),
        }
    }

    async fn queues(&self) {
        let Some(broker) = &self.broker else {
            match self.store.queued_count().await {
                Ok(queued) => self.metrics.observe_queue(
                    INBOUND_QUEUE,
                    u32::try_from(queued).unwrap_or(u32::MAX),
                    None,
                ),
                Err(error) => SampleFailed {
                    source: "database",
                    error: &error.to_string(),
                }
                .emit(&self.metrics),
            }
            return;
        };
        // Bounded: a broker being reconnected must not hold the next samples up.
        let inspected = tokio::time::timeout(broker.timeout(), async {
            let connection = broker.connection().await;
            self.topology.inspect(&connection).await
        })
        .await;
        match inspected {
            Ok(Ok(queues)) => {
                for queue in queues {
                    if let Some((ready, consumers)) = queue.counts {
                        self.metrics
                            .observe_queue(&queue.name, ready, Some(consumers));
                    }
                }
            }
            Ok(Err(error)) => SampleFailed {
                source: "broker",
                error: &error.to_string(),
            }
            .emit(&self.metrics),
            Err(_) => SampleFailed {
                source: "broker",
                error: "no broker connection within its timeout",
            }
            .emit(&self.metrics),
        }
    }
}
