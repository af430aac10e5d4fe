//! Offered load and what comes back: envelopes published persistently with
//! confirms (as fast as the broker takes them, or at a fixed rate), every
//! receipt collected from a private reply queue by its correlation id, the
//! throughput from first publish to last receipt and the latency of each
//! envelope from its publish to its receipt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{mpsc, Semaphore};

/// Publishes not confirmed yet, at most.
const OUTSTANDING: usize = 1_024;

/// How envelopes are offered.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as the broker confirms them.
    Saturation,
    /// This many envelopes per second.
    Rate(u32),
}

/// One envelope to publish.
pub struct Offered {
    pub uuid: String,
    pub body: Vec<u8>,
}

impl Offered {
    /// `count` envelopes, each with a fresh UUID: `body(uuid, n)` for the `n`-th.
    pub fn many(count: usize, body: impl Fn(&str, usize) -> Vec<u8>) -> Vec<Offered> {
        (0..count)
            .map(|n| {
                let uuid = uuid::Uuid::new_v4().to_string();
                Offered {
                    body: body(&uuid, n),
                    uuid,
                }
            })
            .collect()
    }
}

/// What a phase measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Envelopes per second, first publish to last receipt.
    pub rate: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

/// A receipt as it arrived.
struct Arrival {
    correlation_id: String,
    at: Instant,
    ok: bool,
    body: Vec<u8>,
}

/// The bench's side of the broker: a confirming publisher and a reply queue.
pub struct Client {
    connection: Connection,
    channel: Channel,
    reply_queue: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
}

impl Client {
    pub async fn connect(amqp_url: &str) -> anyhow::Result<Client> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .with_context(|| format!("RabbitMQ at {amqp_url}"))?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let replies = connection.create_channel().await?;
        let reply_queue = eai_transport::topology::declare_private_queue(&replies).await?;
        let mut deliveries = replies
            .basic_consume(
                reply_queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let (sender, arrivals) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let _replies = replies;
            while let Some(Ok(delivery)) = deliveries.next().await {
                let at = Instant::now();
                let correlation_id = delivery
                    .properties
                    .correlation_id()
                    .as_ref()
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                let ok =
                    eai_protocol::receipt_status(&delivery.data).is_some_and(|receipt| receipt.ok);
                let arrival = Arrival {
                    correlation_id,
                    at,
                    ok,
                    body: delivery.data,
                };
                if sender.send(arrival).is_err() {
                    break;
                }
            }
        });
        Ok(Client {
            connection,
            channel,
            reply_queue,
            arrivals,
        })
    }

    /// The connection, for the relays that run in the bench's process.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Publishes `offered` to `exchange` with `routing_key` at `pace` and
    /// waits for every receipt; any receipt that is not `ok` fails the phase.
    pub async fn run(
        &mut self,
        exchange: &str,
        routing_key: &str,
        offered: Vec<Offered>,
        pace: Pace,
    ) -> anyhow::Result<Measured> {
        while self.arrivals.try_recv().is_ok() {}
        let count = offered.len();
        let mut sent: HashMap<String, Instant> = HashMap::with_capacity(count);
        let started = Instant::now();
        let outstanding = Arc::new(Semaphore::new(OUTSTANDING));
        let mut confirms = tokio::task::JoinSet::new();
        let mut latencies: Vec<Duration> = Vec::with_capacity(count);
        let mut last = started;
        for (index, envelope) in offered.into_iter().enumerate() {
            if let Pace::Rate(rate) = pace {
                let due = started + Duration::from_secs_f64(index as f64 / f64::from(rate));
                tokio::time::sleep_until(due.into()).await;
            }
            let permit = Arc::clone(&outstanding).acquire_owned().await?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_correlation_id(envelope.uuid.as_str().into())
                .with_reply_to(self.reply_queue.as_str().into());
            sent.insert(envelope.uuid, Instant::now());
            let confirm = self
                .channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions::default(),
                    &envelope.body,
                    properties,
                )
                .await
                .with_context(|| format!("publishing to '{exchange}' with key '{routing_key}'"))?;
            confirms.spawn(async move {
                let confirmed = confirm.await;
                drop(permit);
                confirmed.map(|confirmation| confirmation.is_ack())
            });
            while let Ok(arrival) = self.arrivals.try_recv() {
                last = record(&mut sent, arrival, &mut latencies)?.unwrap_or(last);
            }
        }
        while let Some(confirmed) = confirms.join_next().await {
            if !confirmed?? {
                bail!("the broker refused a publish");
            }
        }
        let patience = Duration::from_secs(60 + count as u64 / 20);
        while latencies.len() < count {
            let arrival = tokio::time::timeout(patience, self.arrivals.recv())
                .await
                .ok()
                .flatten()
                .with_context(|| {
                    format!(
                        "only {} of {count} envelopes were answered within {patience:?}",
                        latencies.len()
                    )
                })?;
            last = record(&mut sent, arrival, &mut latencies)?.unwrap_or(last);
        }
        let elapsed = last.duration_since(started);
        latencies.sort();
        let percentile =
            |p: f64| latencies[((count as f64 * p).ceil() as usize).clamp(1, count) - 1];
        Ok(Measured {
            rate: count as f64 / elapsed.as_secs_f64(),
            p50: percentile(0.50),
            p95: percentile(0.95),
            p99: percentile(0.99),
        })
    }
}

/// Records one receipt's latency; `Some` is its arrival when it answers an
/// envelope of this phase not answered before.
fn record(
    sent: &mut HashMap<String, Instant>,
    arrival: Arrival,
    latencies: &mut Vec<Duration>,
) -> anyhow::Result<Option<Instant>> {
    let Some(published) = sent.remove(&arrival.correlation_id) else {
        return Ok(None);
    };
    if !arrival.ok {
        bail!(
            "envelope {} was not answered ok: {}",
            arrival.correlation_id,
            String::from_utf8_lossy(&arrival.body)
        );
    }
    latencies.push(arrival.at.duration_since(published));
    Ok(Some(arrival.at))
}
