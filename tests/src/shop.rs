//! [`Shop`] plays the e-commerce platform of a test: it publishes envelopes
//! to the inbound exchange with its own `reply_to` queue (or, facing a worker
//! without a broker, queues them in the database and reads their receipts
//! back by UUID) and keeps every receipt it gets, copies included, so a test
//! can check that each UUID was answered and that every copy of its answer is
//! the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eai::config::Settings;
use eai_store::inbound_queue::Queued;
use eai_store::Store;
use eai_transport::lapin::options::BasicConsumeOptions;
use eai_transport::lapin::types::FieldTable;
use eai_transport::topology::declare_private_queue;
use eai_transport::{Broker, Outgoing, Publisher, Watch};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

/// The receipts received, by the inbound UUID they answer.
pub type Receipts = HashMap<String, Vec<Vec<u8>>>;

/// A platform publishing envelopes and collecting their receipts.
pub struct Shop {
    inlet: Inlet,
    received: Arc<Mutex<Receipts>>,
    listening: JoinHandle<()>,
}

/// How a shop reaches the worker.
enum Inlet {
    /// The inbound exchange; receipts come back to a reply queue of its own.
    Broker {
        publisher: Publisher,
        exchange: String,
        reply_queue: String,
    },
    /// The database's inbound queue of a worker without a broker; receipts
    /// are read back by UUID.
    Database {
        store: Store,
        published: Arc<Mutex<Vec<String>>>,
    },
}

/// How often a shop without a broker looks for its receipts.
const RECEIPT_POLL: Duration = Duration::from_millis(100);

impl Shop {
    /// Connects the way the worker of `settings` takes envelopes (the
    /// broker, declaring the worker's topology so it can publish before a
    /// worker runs, or the database's queue) and starts collecting receipts.
    pub async fn connect(settings: &Settings) -> Shop {
        match settings.has_broker() {
            true => Shop::through_broker(settings).await,
            false => Shop::through_database(settings).await,
        }
    }

    async fn through_broker(settings: &Settings) -> Shop {
        let endpoint = eai_transport::Endpoint::new(
            &crate::amqp_url(),
            "eai-tests-shop",
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
        .expect("valid AMQP URL");
        let topology = settings.topology();
        let broker = Broker::connect(
            endpoint,
            Some(topology.clone()),
            Watch::default(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|error| panic!("the shop cannot reach RabbitMQ: {error}"));
        let connection = broker.connection().await;
        let channel = connection.create_channel().await.expect("channel");
        let reply_queue = declare_private_queue(&channel).await.expect("reply queue");
        let mut replies = channel
            .basic_consume(
                reply_queue.as_str().into(),
                "eai-tests-shop".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consuming replies");
        let received: Arc<Mutex<Receipts>> = Arc::default();
        let listening = tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                let _channel = channel;
                while let Some(Ok(delivery)) = replies.next().await {
                    let Some(correlation) = delivery.properties.correlation_id().as_ref() else {
                        continue;
                    };
                    if let Ok(mut received) = received.lock() {
                        received
                            .entry(correlation.to_string())
                            .or_default()
                            .push(delivery.data);
                    }
                }
            }
        });
        Shop {
            inlet: Inlet::Broker {
                publisher: Publisher::new(broker, Duration::from_secs(10)),
                exchange: topology.inbound_exchange,
                reply_queue,
            },
            received,
            listening,
        }
    }

    async fn through_database(settings: &Settings) -> Shop {
        let url = settings.database_url().expect("a database URL");
        let store = Store::open(&url, settings.pool())
            .await
            .unwrap_or_else(|error| panic!("the shop cannot reach the database: {error}"));
        let published: Arc<Mutex<Vec<String>>> = Arc::default();
        let received: Arc<Mutex<Receipts>> = Arc::default();
        let listening = tokio::spawn({
            let (store, published, received) =
                (store.clone(), Arc::clone(&published), Arc::clone(&received));
            async move {
                loop {
                    let waiting: Vec<String> = {
                        let (Ok(published), Ok(received)) = (published.lock(), received.lock())
                        else {
                            return;
                        };
                        published
                            .iter()
                            .filter(|uuid| !received.contains_key(*uuid))
                            .cloned()
                            .collect()
                    };
                    if let Ok(answered) = store.stored_receipts(&waiting).await {
                        if let Ok(mut received) = received.lock() {
                            for (uuid, receipt) in answered {
                                received.entry(uuid).or_default().push(receipt.into_bytes());
                            }
                        }
                    }
                    tokio::time::sleep(RECEIPT_POLL).await;
                }
            }
        });
        Shop {
            inlet: Inlet::Database { store, published },
            received,
            listening,
        }
    }

    /// Publishes `body` with `routing_key`, correlated by `uuid`: confirmed
    /// by the broker, or committed to the database's queue.
    pub async fn publish(&self, body: &[u8], routing_key: &str, uuid: &str) {
        match &self.inlet {
            Inlet::Broker {
                publisher,
                exchange,
                reply_queue,
            } => publisher
                .publish(&Outgoing {
                    exchange,
                    routing_key,
                    body,
                    correlation_id: Some(uuid),
                    message_id: Some(uuid),
                    reply_to: Some(reply_queue),
                    mandatory: false,
                    ..Outgoing::default()
                })
                .await
                .unwrap_or_else(|error| panic!("publishing {uuid} failed: {error}")),
            Inlet::Database { store, published } => {
                store
                    .enqueue(&Queued {
                        routing_key,
                        body,
                        correlation_id: Some(uuid),
                        message_id: Some(uuid),
                        ..Queued::default()
                    })
                    .await
                    .unwrap_or_else(|error| panic!("queueing {uuid} failed: {error}"));
                if let Ok(mut published) = published.lock() {
                    published.push(uuid.to_owned());
                }
            }
        }
    }

    /// Every receipt so far.
    pub fn receipts(&self) -> Receipts {
        self.received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }

    /// The first receipt for `uuid`, as JSON.
    pub fn receipt(&self, uuid: &str) -> Option<serde_json::Value> {
        let received = self.received.lock().ok()?;
        let body = received.get(uuid)?.first()?;
        serde_json::from_slice(body).ok()
    }

    /// Waits until every one of `uuids` has a receipt; returns those still
    /// unanswered after `within`.
    pub async fn answered(&self, uuids: &[String], within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let missing: Vec<String> = {
                let received = self.received.lock().expect("receipts lock");
                uuids
                    .iter()
                    .filter(|uuid| !received.contains_key(*uuid))
                    .cloned()
                    .collect()
            };
            if missing.is_empty() || Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How long until `uuid` is answered, polling from `since`.
    pub async fn latency(&self, uuid: &str, since: Instant, within: Duration) -> Option<Duration> {
        while since.elapsed() < within {
            if self
                .received
                .lock()
                .is_ok_and(|received| received.contains_key(uuid))
            {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.listening.abort();
    }
}
