//! The baselines that run in the bench's own process, on a queue of their
//! own declared like the worker's work queues (durable, quorum):
//!
//! - the **null relay**: the worker's AMQP work and nothing else — consume
//!   with manual ack, answer each envelope with an `ok` receipt published
//!   with a confirm, ack — at the worker's prefetch and in-flight settings.
//!   What the broker can carry: the ceiling; at the latency phase's rate,
//!   what the broker alone adds to that phase's latency.
//! - the **naive consumer** in process: one envelope at a time, one
//!   database transaction of four rows each, then its receipt with a
//!   confirm and the ack. The work of [`crate::naive_script`]'s Python
//!   script without its interpreter: a stronger baseline than the one the
//!   targets hold to.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use eai_protocol::{Envelope, Receipt, ReceiptOrigin};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use eai_transport::Topology;

use crate::load::{Client, Measured, Offered, Pace};

/// What the relay does besides its AMQP work.
#[derive(Clone)]
pub enum Work {
    /// Nothing: the broker's ceiling.
    Nothing,
    /// One committed transaction of four rows per envelope.
    FourRows(PgPool),
}

/// Where the bench's relays run: each on a queue of its own under the
/// bench's prefix, at the worker's prefetch.
pub struct Relays<'a> {
    pub amqp_url: &'a str,
    pub topology: &'a Topology,
    pub prefix: &'a str,
    pub prefetch: u16,
}

impl Relays<'_> {
    /// `offered` at `pace` through a relay doing `work`, `in_flight`
    /// envelopes at once, on the queue `<prefix>.<name>`, stopped after.
    pub async fn measure(
        &self,
        client: &mut Client,
        name: &str,
        in_flight: usize,
        work: Work,
        offered: Vec<Offered>,
        pace: Pace,
    ) -> anyhow::Result<Measured> {
        let queue = format!("{}.{name}", self.prefix);
        let relay = Relay::start(
            self.amqp_url,
            self.topology,
            &queue,
            self.prefetch,
            in_flight,
            work,
        )
        .await?;
        let measured = client.run("", &queue, offered, pace).await?;
        relay.stop(client.connection()).await?;
        Ok(measured)
    }
}

/// A relay consuming one queue on a connection of its own until stopped.
pub struct Relay {
    connection: Connection,
    queue: String,
    task: JoinHandle<()>,
    permits: Arc<Semaphore>,
    in_flight: u32,
}

/// The longest each step of stopping a relay may take: a broker that does
/// not answer fails the bench loudly instead of hanging it.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Relay {
    /// Declares `queue` and starts consuming it.
    pub async fn start(
        amqp_url: &str,
        topology: &Topology,
        queue: &str,
        prefetch: u16,
        in_flight: usize,
        work: Work,
    ) -> anyhow::Result<Relay> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        topology
            .declare_queue(&channel, queue, false)
            .await
            .with_context(|| format!("declaring {queue}"))?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let publisher = connection.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut deliveries = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let in_flight = in_flight.max(1);
        let permits = Arc::new(Semaphore::new(in_flight));
        let consuming = Arc::clone(&permits);
        let task = tokio::spawn(async move {
            while let Some(Ok(delivery)) = deliveries.next().await {
                let Ok(permit) = Arc::clone(&consuming).acquire_owned().await else {
                    break;
                };
                let (publisher, work) = (publisher.clone(), work.clone());
                tokio::spawn(async move {
                    if let Err(error) = answer(&publisher, &work, &delivery).await {
                        eprintln!("relay: {error:#}");
                    }
                    drop(permit);
                });
            }
        });
        Ok(Relay {
            connection,
            queue: queue.to_owned(),
            task,
            permits,
            in_flight: u32::try_from(in_flight).unwrap_or(u32::MAX),
        })
    }

    /// Stops consuming, lets the envelopes in flight finish (so no ack
    /// races the close), closes its connection and deletes the queue
    /// through `connection`; each step bounded by [`STOP_TIMEOUT`].
    pub async fn stop(self, connection: &Connection) -> anyhow::Result<()> {
        self.task.abort();
        tokio::time::timeout(STOP_TIMEOUT, self.permits.acquire_many(self.in_flight))
            .await
            .context("the relay's envelopes in flight did not finish")?
            .context("the relay's permits are gone")?
            .forget();
        // lapin reports a channel already closing as an error; the
        // connection is closed all the same. Its close sometimes never
        // completes (seen once in a few runs): the run goes on, and the
        // connection goes with the bench's process.
        if tokio::time::timeout(STOP_TIMEOUT, self.connection.close(200, "done".into()))
            .await
            .is_err()
        {
            eprintln!("relay: its connection did not close within {STOP_TIMEOUT:?}; going on");
        }
        let channel = tokio::time::timeout(STOP_TIMEOUT, connection.create_channel())
            .await
            .context("no channel to delete the relay's queue")??;
        tokio::time::timeout(
            STOP_TIMEOUT,
            channel.queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default()),
        )
        .await
        .with_context(|| format!("deleting {} did not finish", self.queue))??;
        Ok(())
    }
}

/// The envelope's work, then its `ok` receipt with a confirm, then the ack.
async fn answer(
    publisher: &Channel,
    work: &Work,
    delivery: &lapin::message::Delivery,
) -> anyhow::Result<()> {
    let received_at = Utc::now();
    let envelope = Envelope::parse(&delivery.data).map_err(|error| anyhow::anyhow!("{error:?}"))?;
    let origin = ReceiptOrigin {
        source_application: "BENCH".to_owned(),
        product_name: "BENCH".to_owned(),
        max_details: eai_protocol::DEFAULT_MAX_DETAILS,
    };
    let receipt = Receipt::new(
        &origin,
        &envelope.summary(),
        received_at,
        Utc::now(),
        Vec::new(),
        Vec::new(),
    );
    let body = receipt.to_bytes();
    if let Work::FourRows(pool) = work {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO naive_inbox (uuid, body) VALUES ($1, $2)")
            .bind(envelope.uuid())
            .bind(&delivery.data)
            .execute(&mut *tx)
            .await?;
        let (reservation,): (i64,) =
            sqlx::query_as("INSERT INTO naive_reservations (uuid) VALUES ($1) RETURNING id")
                .bind(envelope.uuid())
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("INSERT INTO naive_lines (reservation_id, quantity) VALUES ($1, 1)")
            .bind(reservation)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO naive_outbox (uuid, body) VALUES ($1, $2)")
            .bind(receipt.uuid())
            .bind(&body)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let properties = &delivery.properties;
    let reply_to = properties
        .reply_to()
        .as_ref()
        .map(|to| to.to_string())
        .unwrap_or_default();
    let mut reply = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    if let Some(correlation_id) = properties.correlation_id() {
        reply = reply.with_correlation_id(correlation_id.clone());
    }
    publisher
        .basic_publish(
            "".into(),
            reply_to.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &body,
            reply,
        )
        .await?
        .await?;
    delivery.acker.ack(BasicAckOptions::default()).await?;
    Ok(())
}

/// The naive consumer's tables.
pub const NAIVE_SCHEMA: &str = "
CREATE TABLE naive_inbox (uuid text PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE naive_reservations (id bigserial PRIMARY KEY, uuid text NOT NULL);
CREATE TABLE naive_lines (id bigserial PRIMARY KEY, reservation_id bigint NOT NULL, quantity numeric NOT NULL);
CREATE TABLE naive_outbox (id bigserial PRIMARY KEY, uuid text NOT NULL, body bytea NOT NULL);
CREATE TABLE baseline_outbox (id bigint PRIMARY KEY, status text NOT NULL);
";
