//! The exchanges and queues of SPEC §7.
//!
//! Every name derives from one prefix (default `eai`), so a deployment can
//! rename the lot and each test can own a private topology on a shared broker.

use std::time::Duration;

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use crate::TransportError;

/// Quorum queues survive a node loss; classic ones suit a single dev broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueType {
    #[default]
    Quorum,
    Classic,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

/// The names of everything the worker declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub inbound_exchange: String,
    pub unrouted_exchange: String,
    pub unrouted_queue: String,
    pub receipts_exchange: String,
    /// Where destinations send the ReceiptMessages that settle our messages.
    pub receipts_in_queue: String,
    pub dead_letter_exchange: String,
    pub dead_queue: String,
    /// `(queue, routing key)` per transaction the worker consumes.
    pub work_queues: Vec<(String, String)>,
    pub queue_type: QueueType,
    /// The delays an envelope can be parked for before it comes back to its
    /// work queue (a sale waiting for its reservation, a failed envelope
    /// waiting for its next try): one delay queue per work queue and delay.
    pub delays: Vec<Duration>,
}

impl Topology {
    /// The SPEC names under `prefix` (`eai` gives `eai.inbound`, `eai.itemreserve`, …).
    pub fn with_prefix(prefix: &str, queue_type: QueueType) -> Topology {
        let name = |suffix: &str| format!("{prefix}.{suffix}");
        Topology {
            inbound_exchange: name("inbound"),
            unrouted_exchange: name("unrouted"),
            unrouted_queue: name("unrouted"),
            receipts_exchange: name("receipts"),
            receipts_in_queue: name("receipts.in"),
            dead_letter_exchange: name("dlx"),
            dead_queue: name("dead"),
            work_queues: [
                "ItemReserve",
                "RetailSales",
                "RetailSalesCancellation",
                "StockLevel",
                "EAIEnvironmentTest",
            ]
            .iter()
            .map(|transaction| (name(&transaction.to_lowercase()), (*transaction).to_owned()))
            .collect(),
            queue_type,
            delays: Vec::new(),
        }
    }

    /// The same topology with delay queues for these delays (whole seconds,
    /// at least one; duplicates are folded).
    pub fn with_delays(mut self, delays: impl IntoIterator<Item = Duration>) -> Topology {
        let mut delays: Vec<Duration> = delays
            .into_iter()
            .map(|delay| Duration::from_secs(delay.as_secs().max(1)))
            .collect();
        delays.sort();
        delays.dedup();
        self.delays = delays;
        self
    }

    /// The queue where a message of `work_queue` waits `delay` (whole seconds)
    /// before it dead-letters back: `eai.retailsales.delay.15s`. Named by the
    /// delay, so changing the configured delays never redeclares a queue with
    /// other arguments.
    pub fn delay_queue(work_queue: &str, delay: Duration) -> String {
        format!("{work_queue}.delay.{}s", delay.as_secs().max(1))
    }

    /// The work queue bound to a transaction's routing key.
    pub fn queue_for(&self, transaction: &str) -> Option<&str> {
        self.work_queues
            .iter()
            .find(|(_, key)| key.eq_ignore_ascii_case(transaction))
            .map(|(queue, _)| queue.as_str())
    }

    /// Declares everything; idempotent, so every worker does it at start.
    pub async fn declare(&self, channel: &Channel) -> Result<(), TransportError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.unrouted_exchange.as_str().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        let mut inbound_arguments = FieldTable::default();
        inbound_arguments.insert(
            "alternate-exchange".into(),
            AMQPValue::LongString(self.unrouted_exchange.as_str().into()),
        );
        channel
            .exchange_declare(
                self.inbound_exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                inbound_arguments,
            )
            .await?;
        channel
            .exchange_declare(
                self.receipts_exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_letter_exchange.as_str().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        self.declare_queue(channel, &self.unrouted_queue, false)
            .await?;
        self.bind(channel, &self.unrouted_queue, &self.unrouted_exchange, "")
            .await?;
        self.declare_queue(channel, &self.receipts_in_queue, true)
            .await?;
        self.declare_queue(channel, &self.dead_queue, false).await?;
        self.bind(channel, &self.dead_queue, &self.dead_letter_exchange, "")
            .await?;
        for (queue, routing_key) in &self.work_queues {
            self.declare_queue(channel, queue, true).await?;
            self.bind(channel, queue, &self.inbound_exchange, routing_key)
                .await?;
            for delay in &self.delays {
                self.declare_delay_queue(channel, queue, routing_key, *delay)
                    .await?;
            }
        }
        Ok(())
    }

    /// A queue nobody consumes: messages wait out their TTL there, then
    /// dead-letter through the inbound exchange back to their work queue.
    async fn declare_delay_queue(
        &self,
        channel: &Channel,
        work_queue: &str,
        routing_key: &str,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let mut arguments = self.queue_arguments();
        let ttl = u32::try_from(delay.as_secs().max(1) * 1000).unwrap_or(u32::MAX);
        arguments.insert("x-message-ttl".into(), AMQPValue::LongUInt(ttl));
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.inbound_exchange.as_str().into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(routing_key.into()),
        );
        if self.queue_type == QueueType::Quorum {
            // Quorum queues dead-letter at most once unless told otherwise.
            arguments.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            arguments.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        channel
            .queue_declare(
                Self::delay_queue(work_queue, delay).as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await?;
        Ok(())
    }

    fn queue_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.queue_type.as_str().into()),
        );
        arguments
    }

    /// Removes everything [`Topology::declare`] made (tests clean up with it).
    pub async fn delete(&self, channel: &Channel) -> Result<(), TransportError> {
        let mut queues: Vec<String> = vec![
            self.unrouted_queue.clone(),
            self.dead_queue.clone(),
            self.receipts_in_queue.clone(),
        ];
        for (queue, _) in &self.work_queues {
            queues.push(queue.clone());
            for delay in &self.delays {
                queues.push(Self::delay_queue(queue, *delay));
            }
        }
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        for exchange in [
            &self.inbound_exchange,
            &self.unrouted_exchange,
            &self.receipts_exchange,
            &self.dead_letter_exchange,
        ] {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await?;
        }
        Ok(())
    }

    /// Declares a durable queue of this topology's type, dead-lettering to
    /// its exchange when `dead_letters` (the work queues are declared so).
    pub async fn declare_queue(
        &self,
        channel: &Channel,
        queue: &str,
        dead_letters: bool,
    ) -> Result<(), TransportError> {
        let mut arguments = self.queue_arguments();
        if dead_letters {
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.dead_letter_exchange.as_str().into()),
            );
        }
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await?;
        Ok(())
    }

    async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), TransportError> {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }
}

/// A queue the worker consumes, as the broker has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    pub name: String,
    /// Messages ready and consumers; `None` when the queue is not declared.
    pub counts: Option<(u32, u32)>,
}

impl Topology {
    /// The queues the worker consumes, looked up without declaring anything
    /// (passive declares): messages ready and consumers of each.
    pub async fn inspect(
        &self,
        connection: &Connection,
    ) -> Result<Vec<QueueState>, TransportError> {
        let consumed = self.work_queues.iter().map(|(queue, _)| queue).chain([
            &self.unrouted_queue,
            &self.receipts_in_queue,
            &self.dead_queue,
        ]);
        let mut states = Vec::new();
        for name in consumed {
            // A queue that does not exist closes its channel: one channel each.
            let channel = connection.create_channel().await?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let counts = match channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
            {
                Ok(queue) => {
                    channel.close(200, "inspected".into()).await.ok();
                    Some((queue.message_count(), queue.consumer_count()))
                }
                Err(_) => None,
            };
            states.push(QueueState {
                name: name.clone(),
                counts,
            });
        }
        Ok(states)
    }
}

/// Declares a server-named, exclusive, auto-deleted queue — a private inbox for
/// replies (`eai publish --wait`) or for watching an exchange — and returns its name.
pub async fn declare_private_queue(channel: &Channel) -> Result<String, TransportError> {
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(queue.name().to_string())
}
