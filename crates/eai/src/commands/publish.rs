//! `eai publish FILE…`: puts envelopes on the inbound queue (the broker's
//! inbound exchange, or the database's queue of a worker without a broker),
//! routed by `Header.Transaction`, and with `--wait` prints the receipt of each.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use eai_protocol::Envelope;
use eai_transport::lapin::options::BasicConsumeOptions;
use eai_transport::lapin::types::FieldTable;
use eai_transport::topology::declare_private_queue;
use eai_transport::Outgoing;
use futures_util::StreamExt;

use eai_store::inbound_queue::Queued;
use eai_store::Store;

use crate::app::{open_broker, open_store, publisher_for};
use crate::config::Settings;

/// How often `--wait` looks for the receipts a worker without a broker stored.
const RECEIPT_POLL: Duration = Duration::from_millis(100);

/// The arguments of `eai publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Envelope files (JSON) to publish, in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Wait for each envelope's receipt and print it.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits for all receipts.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Publish a body that is not a valid envelope anyway, with this routing key
    /// (to exercise the dead-letter path).
    #[arg(long)]
    pub routing_key: Option<String>,
}

/// One envelope sent, and its receipt when waited for.
#[derive(Debug, Clone)]
pub struct Published {
    pub file: PathBuf,
    pub uuid: String,
    pub receipt: Option<serde_json::Value>,
}

impl Published {
    /// The receipt's `ProcessingInformation.Status`, if a receipt came.
    pub fn status(&self) -> Option<&str> {
        self.receipt
            .as_ref()?
            .pointer("/Content/ProcessingInformation/Status")?
            .as_str()
    }
}

/// Publishes every file; with `wait`, collects the receipts correlated by UUID.
pub async fn run(settings: &Settings, args: &PublishArgs) -> anyhow::Result<Vec<Published>> {
    let mut bodies = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let body = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        bodies.push((file.clone(), body));
    }
    let wait = args.wait.then(|| Duration::from_secs(args.timeout_secs));
    publish(settings, bodies, wait, args.routing_key.as_deref()).await
}

/// Publishes `bodies` (labelled by the file they came from) to the inbound
/// exchange; with `wait`, collects their receipts until that timeout.
pub async fn publish(
    settings: &Settings,
    bodies: Vec<(PathBuf, Vec<u8>)>,
    wait: Option<Duration>,
    forced_routing_key: Option<&str>,
) -> anyhow::Result<Vec<Published>> {
    match settings.has_broker() {
        true => {
            let envelopes = outbound(bodies, forced_routing_key)?;
            let receipts = through_broker(settings, &envelopes, wait).await?;
            Ok(assemble(envelopes, receipts))
        }
        false => {
            let store = open_store(settings).await?;
            let queued = queue(&store, bodies, wait, forced_routing_key).await;
            store.close().await;
            queued
        }
    }
}

/// Queues `bodies` in `store`'s inbound queue, as for a worker without a
/// broker; with `wait`, reads their receipts back by UUID until that timeout.
pub async fn queue(
    store: &Store,
    bodies: Vec<(PathBuf, Vec<u8>)>,
    wait: Option<Duration>,
    forced_routing_key: Option<&str>,
) -> anyhow::Result<Vec<Published>> {
    let envelopes = outbound(bodies, forced_routing_key)?;
    let receipts = through_database(store, &envelopes, wait).await?;
    Ok(assemble(envelopes, receipts))
}

/// Each body with its UUID and routing key (`Header.Transaction` unless forced).
fn outbound(
    bodies: Vec<(PathBuf, Vec<u8>)>,
    forced_routing_key: Option<&str>,
) -> anyhow::Result<Vec<Outbound>> {
    let mut envelopes = Vec::with_capacity(bodies.len());
    for (file, body) in bodies {
        let (uuid, routing_key) = match (Envelope::parse(&body), forced_routing_key) {
            (Ok(envelope), forced) => {
                let key = forced
                    .map(str::to_owned)
                    .or_else(|| {
                        // Cleaned and cut the way the worker reads it.
                        envelope
                            .header_text("Transaction")
                            .map(|_| envelope.header_label("Transaction"))
                    })
                    .with_context(|| {
                        format!("{}: Header.Transaction is missing", file.display())
                    })?;
                (envelope.uuid().to_owned(), key)
            }
            (Err(_), Some(forced)) => (uuid::Uuid::new_v4().to_string(), forced.to_owned()),
            (Err(rejection), None) => anyhow::bail!(
                "{}: {rejection} (use --routing-key to publish it anyway)",
                file.display()
            ),
        };
        envelopes.push((file, uuid, routing_key, body));
    }
    Ok(envelopes)
}

/// An envelope to publish: the file it came from, its UUID, its routing key, its body.
type Outbound = (PathBuf, String, String, Vec<u8>);

fn published(file: &std::path::Path, uuid: &str, routing_key: &str) {
    eprintln!(
        "published {} as {uuid} (routing key {routing_key})",
        file.display()
    );
}

/// Publishes to the inbound exchange with confirms; receipts come back on a
/// private reply queue, correlated by UUID.
async fn through_broker(
    settings: &Settings,
    envelopes: &[Outbound],
    wait: Option<Duration>,
) -> anyhow::Result<HashMap<String, serde_json::Value>> {
    let topology = settings.topology();
    let broker = open_broker(settings, Some(topology.clone())).await?;
    let connection = broker.connection().await;
    let channel = connection.create_channel().await?;
    let publisher = publisher_for(settings, &broker);
    let mut replies = None;
    if wait.is_some() {
        let queue = declare_private_queue(&channel).await?;
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "eai-publish".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        replies = Some((queue, consumer));
    }
    for (file, uuid, routing_key, body) in envelopes {
        publisher
            .publish(&Outgoing {
                exchange: &topology.inbound_exchange,
                routing_key,
                body,
                correlation_id: Some(uuid),
                message_id: Some(uuid),
                reply_to: replies.as_ref().map(|(queue, _)| queue.as_str()),
                mandatory: true,
                ..Outgoing::default()
            })
            .await
            .with_context(|| format!("publishing {} failed", file.display()))?;
        published(file, uuid, routing_key);
    }
    let mut receipts: HashMap<String, serde_json::Value> = HashMap::new();
    if let (Some((_, mut consumer)), Some(timeout)) = (replies, wait) {
        let deadline = tokio::time::Instant::now() + timeout;
        while receipts.len() < envelopes.len() {
            let next = tokio::time::timeout_at(deadline, consumer.next()).await;
            let Ok(Some(delivery)) = next else { break };
            let delivery = delivery?;
            let Some(correlation) = delivery.properties.correlation_id().as_ref() else {
                continue;
            };
            receipts.insert(correlation.to_string(), receipt_value(&delivery.data));
        }
    }
    broker.close().await;
    Ok(receipts)
}

/// Queues in the database of a worker that runs without a broker; receipts
/// are read back by UUID as the worker stores them.
async fn through_database(
    store: &Store,
    envelopes: &[Outbound],
    wait: Option<Duration>,
) -> anyhow::Result<HashMap<String, serde_json::Value>> {
    for (file, uuid, routing_key, body) in envelopes {
        store
            .enqueue(&Queued {
                routing_key,
                body,
                correlation_id: Some(uuid),
                message_id: Some(uuid),
                ..Queued::default()
            })
            .await
            .with_context(|| format!("queueing {} failed", file.display()))?;
        published(file, uuid, routing_key);
    }
    let mut receipts: HashMap<String, serde_json::Value> = HashMap::new();
    if let Some(timeout) = wait {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut uuids: Vec<String> = envelopes
            .iter()
            .map(|(_, uuid, _, _)| uuid.clone())
            .collect();
        uuids.sort();
        uuids.dedup();
        loop {
            for (uuid, receipt) in store.stored_receipts(&uuids).await? {
                receipts.insert(uuid, receipt_value(receipt.as_bytes()));
            }
            if receipts.len() == uuids.len() || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }
    Ok(receipts)
}

/// A receipt as JSON, or its text when it is not JSON.
fn receipt_value(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn assemble(
    envelopes: Vec<Outbound>,
    mut receipts: HashMap<String, serde_json::Value>,
) -> Vec<Published> {
    envelopes
        .into_iter()
        .map(|(file, uuid, _, _)| Published {
            receipt: receipts.remove(&uuid),
            file,
            uuid,
        })
        .collect()
}
