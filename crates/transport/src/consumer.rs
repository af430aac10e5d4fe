//! [`Consumer`]: the one consumer loop of the worker — QoS, bounded
//! concurrency, re-subscription after a connection loss, ack/nack after the
//! handler, and a shutdown that drains.
//!
//! A handler returns how its delivery is settled ([`Settle`]); the loop
//! applies it, so the ack always comes after whatever the handler committed.
//! When the connection goes, deliveries in flight finish (their acks fail and
//! the broker redelivers them, which the inbox answers) and the loop
//! subscribes again on the broker's next connection. On shutdown it cancels
//! the subscription, lets every delivery in flight finish and settle, and
//! only then closes its channel — which hands deliveries prefetched but never
//! started back to the queue.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Broker, TransportError};

/// How a handled delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done with: the broker forgets it.
    Ack,
    /// Not handled: back to the queue for another try (a worker shutting down,
    /// a database that is down).
    Requeue,
    /// Refused: to the queue's dead-letter exchange, if it has one.
    Reject,
}

/// What a consumer does with each delivery.
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery; the consumer settles it as told.
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Settle> + Send;
}

/// Whether a consumer is subscribed, and since when it is not: readiness and
/// liveness read it.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `None` while subscribed; otherwise when it stopped being.
    down_since: Arc<Mutex<Option<Instant>>>,
}

impl Default for Subscription {
    fn default() -> Subscription {
        Subscription {
            down_since: Arc::new(Mutex::new(Some(Instant::now()))),
        }
    }
}

impl Subscription {
    /// True while deliveries can arrive.
    pub fn is_up(&self) -> bool {
        self.down_for().is_none()
    }

    /// How long it has not been subscribed, `None` while it is.
    pub fn down_for(&self) -> Option<Duration> {
        self.down_since
            .lock()
            .map_or(None, |since| since.map(|since| since.elapsed()))
    }

    /// Records whether deliveries can arrive now.
    pub fn set(&self, up: bool) {
        if let Ok(mut since) = self.down_since.lock() {
            match (up, *since) {
                (true, _) => *since = None,
                (false, None) => *since = Some(Instant::now()),
                (false, Some(_)) => {}
            }
        }
    }
}

/// Called with the queue and the reason whenever a subscription ends or
/// cannot be made (the broker connection went, the broker cancelled it).
pub type OnLost = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// A queue consumed with a handler.
pub struct Consumer<H> {
    pub broker: Broker,
    pub queue: String,
    /// Deliveries the broker may send before they are acked.
    pub prefetch: u16,
    /// Deliveries handled at once.
    pub concurrency: usize,
    pub handler: Arc<H>,
    pub subscription: Subscription,
    pub on_lost: OnLost,
}

impl<H: Handler> Consumer<H> {
    /// Consumes until `shutdown` is cancelled, then drains (see the module docs).
    pub async fn run(self, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        let mut channel_left: Option<Channel> = None;
        let mut delays = crate::broker::backoff().build();
        let queue: Arc<str> = Arc::from(self.queue.as_str());
        'session: loop {
            let connection = tokio::select! {
                () = shutdown.cancelled() => break,
                connection = self.broker.connection() => connection,
            };
            let (channel, mut deliveries, tag) = match self.subscribe(&connection).await {
                Ok(subscribed) => subscribed,
                Err(error) => {
                    (self.on_lost)(&self.queue, &format!("cannot subscribe: {error}"));
                    let delay = delays.next().unwrap_or(Duration::from_secs(5));
                    if self.pause(&connection, delay, &shutdown).await {
                        continue;
                    }
                    break;
                }
            };
            delays = crate::broker::backoff().build();
            self.subscription.set(true);
            tracing::info!(queue = %self.queue, prefetch = self.prefetch, concurrency = self.concurrency, "consuming");
            let replaced = self.broker.replaced(&connection);
            tokio::pin!(replaced);
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => {
                        cancel(&channel, &tag).await;
                        channel_left = Some(channel);
                        break 'session;
                    }
                    () = &mut replaced => {
                        (self.on_lost)(&self.queue, "the broker connection was replaced");
                        break;
                    }
                    next = deliveries.next() => next,
                };
                match next {
                    Some(Ok(delivery)) => {
                        let permit = tokio::select! {
                            () = shutdown.cancelled() => {
                                cancel(&channel, &tag).await;
                                channel_left = Some(channel);
                                break 'session;
                            }
                            permit = Arc::clone(&permits).acquire_owned() => permit,
                        };
                        let Ok(permit) = permit else { break 'session };
                        let handler = Arc::clone(&self.handler);
                        let queue = Arc::clone(&queue);
                        // Boxed: tokio copies a task's future (kilobytes for
                        // a receiver's) when it spawns and when it finishes;
                        // a box is copied as a pointer.
                        in_flight.spawn(Box::pin(async move {
                            settle(&queue, &*handler, delivery).await;
                            drop(permit);
                        }));
                    }
                    Some(Err(error)) => {
                        (self.on_lost)(&self.queue, &format!("the channel failed: {error}"));
                        break;
                    }
                    None => {
                        (self.on_lost)(&self.queue, "the broker ended the subscription");
                        break;
                    }
                }
                while in_flight.try_join_next().is_some() {}
            }
            self.subscription.set(false);
            let delay = delays.next().unwrap_or(Duration::from_secs(5));
            if !self.pause(&connection, delay, &shutdown).await {
                break;
            }
        }
        self.subscription.set(false);
        while in_flight.join_next().await.is_some() {}
        if let Some(channel) = channel_left {
            tokio::time::timeout(Duration::from_secs(2), channel.close(200, "drained".into()))
                .await
                .ok();
        }
        tracing::info!(queue = %self.queue, "consumer drained");
    }

    /// Waits before subscribing again: for the broker's next connection when
    /// this one is gone (it is reported lost, so the supervisor replaces it
    /// at once), else `delay`. False when `shutdown` came first.
    async fn pause(
        &self,
        connection: &Arc<Connection>,
        delay: Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        let wait = async {
            if connection.status().connected() {
                tokio::time::sleep(delay).await;
            } else {
                self.broker.report_lost(connection);
                self.broker.replaced(connection).await;
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = wait => true,
        }
    }

    /// Opens a channel, sets the prefetch and subscribes, within the connect timeout.
    async fn subscribe(
        &self,
        connection: &Arc<Connection>,
    ) -> Result<(Channel, lapin::Consumer, String), TransportError> {
        let subscribing = async {
            let channel = connection.create_channel().await?;
            channel
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await?;
            let deliveries = channel
                .basic_consume(
                    self.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, TransportError>((channel, deliveries))
        };
        let timeout = self.broker.timeout();
        match tokio::time::timeout(timeout, subscribing).await {
            Ok(Ok((channel, deliveries))) => {
                let tag = deliveries.tag().to_string();
                Ok((channel, deliveries, tag))
            }
            Ok(Err(error)) => Err(error),
            Err(_) => {
                self.broker.report_lost(connection);
                Err(TransportError::Timeout {
                    address: self.broker.address(),
                    what: "subscribing to a queue",
                    after: timeout,
                })
            }
        }
    }
}

/// Runs the handler (a panic counts as a refusal, never a stuck delivery) and settles.
async fn settle<H: Handler>(queue: &str, handler: &H, delivery: Delivery) {
    let outcome = AssertUnwindSafe(handler.handle(&delivery))
        .catch_unwind()
        .await;
    let settle = outcome.unwrap_or_else(|_| {
        tracing::error!(
            queue,
            delivery_tag = delivery.delivery_tag,
            "the handler panicked; the delivery is rejected to the dead-letter exchange"
        );
        Settle::Reject
    });
    let settled = match settle {
        Settle::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Settle::Requeue => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
        }
        Settle::Reject => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    ..BasicNackOptions::default()
                })
                .await
        }
    };
    if let Err(error) = settled {
        tracing::warn!(queue, ?settle, %error, "settling failed; the broker will redeliver it");
    }
}

/// Stops new deliveries; those in flight go on.
async fn cancel(channel: &Channel, tag: &str) {
    tokio::time::timeout(
        Duration::from_secs(2),
        channel.basic_cancel(tag.into(), BasicCancelOptions::default()),
    )
    .await
    .ok();
}
