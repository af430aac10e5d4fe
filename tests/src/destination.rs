//! Destinations the sender delivers to in tests: a real HTTP server on an
//! OS-picked port and a real AMQP consumer answering with ReceiptMessages.
//! Both record every message UUID they receive, in arrival order, so tests
//! can check duplicates, order and loss.
//!
//! The HTTP server answers by the first segment of the path (the rest only
//! tells destinations apart, e.g. `/flaky/a` and `/flaky/b` count separately):
//!
//! | path              | answer                                                         |
//! |-------------------|----------------------------------------------------------------|
//! | `/ok`             | 200 + an ok ReceiptMessage for the posted `Header.UUID`        |
//! | `/fail`           | 500                                                            |
//! | `/slow`           | sleeps [`HttpBehaviour::slow`], then as `/ok`                  |
//! | `/slow-once`      | the first request to the path as `/slow`, the others as `/ok`  |
//! | `/unauthorized`   | 401 unless [`HttpBehaviour::auth`] is carried, then as `/ok`   |
//! | `/error-receipt`  | 200 + an error ReceiptMessage                                  |
//! | `/flaky`          | 500 for the first [`HttpBehaviour::flaky_failures`] requests to the path, then as `/ok` |
//!
//! [`HttpDestination::fail_first`] makes the first requests carrying one UUID
//! answer 500 whatever the path. [`HttpDestination::hold`] keeps every answer
//! (requests are still recorded as they arrive) until
//! [`HttpDestination::release`], so several land at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::Utc;
use eai_protocol::{Code, Detail, InboundSummary, Receipt, ReceiptOrigin};
use eai_transport::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use eai_transport::lapin::types::FieldTable;
use eai_transport::lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;

/// Who the test destinations are in the receipts they send back.
fn origin() -> ReceiptOrigin {
    ReceiptOrigin {
        max_details: eai_protocol::receipt::DEFAULT_MAX_DETAILS,
        source_application: "DESTINATION".to_owned(),
        product_name: "Test destination".to_owned(),
    }
}

/// The `Header` fields of a posted or published envelope a receipt echoes.
fn summary(body: &[u8]) -> Option<InboundSummary> {
    let root: Value = serde_json::from_slice(body).ok()?;
    let header = root.get("Header")?;
    let text = |key: &str| {
        header
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let uuid = text("UUID");
    if uuid.is_empty() {
        return None;
    }
    Some(InboundSummary {
        uuid,
        transaction: text("Transaction"),
        version: text("Version"),
        source_application: text("SourceApplication"),
        company_id: text("CompanyId"),
        branch_id: text("BranchId"),
        event: String::new(),
    })
}

/// The ReceiptMessage answering `inbound`: ok, or with one error detail.
pub fn receipt_for(inbound: &InboundSummary, ok: bool) -> Vec<u8> {
    let now = Utc::now();
    let details = if ok {
        Vec::new()
    } else {
        vec![Detail::error(
            Code::ProductNotFound,
            "the destination does not know this product",
        )]
    };
    Receipt::new(&origin(), inbound, now, now, details, Vec::new()).to_bytes()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How the HTTP destination behaves where the path leaves a choice.
#[derive(Debug, Clone)]
pub struct HttpBehaviour {
    /// How long `/slow` (and the first `/slow-once`) takes to answer.
    pub slow: Duration,
    /// How many requests to a `/flaky` path fail before it answers ok.
    pub flaky_failures: usize,
    /// The header (name, value) `/unauthorized` requires.
    pub auth: Option<(String, String)>,
}

impl Default for HttpBehaviour {
    fn default() -> HttpBehaviour {
        HttpBehaviour {
            slow: Duration::from_secs(5),
            flaky_failures: 2,
            auth: None,
        }
    }
}

/// One request the HTTP destination received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub path: String,
    /// The posted envelope's `Header.UUID` (empty when it had none).
    pub uuid: String,
    /// The status it was answered with (decided on arrival).
    pub status: u16,
    /// The value of the configured auth header, if the request carried it.
    pub auth: Option<String>,
    /// The posted body.
    pub body: String,
}

struct Inner {
    behaviour: HttpBehaviour,
    received: Mutex<Vec<Received>>,
    per_path: Mutex<HashMap<String, usize>>,
    fail_first: Mutex<HashMap<String, usize>>,
    /// True while answers are held ([`HttpDestination::hold`]).
    held: tokio::sync::watch::Sender<bool>,
}

/// A local HTTP destination on 127.0.0.1, stopped when dropped.
pub struct HttpDestination {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

enum Answer {
    Receipt { ok: bool, after: Duration },
    Status(StatusCode),
}

impl HttpDestination {
    pub async fn start(behaviour: HttpBehaviour) -> HttpDestination {
        let inner = Arc::new(Inner {
            behaviour,
            received: Mutex::new(Vec::new()),
            per_path: Mutex::new(HashMap::new()),
            fail_first: Mutex::new(HashMap::new()),
            held: tokio::sync::watch::Sender::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the test destination binds a local port");
        let addr = listener.local_addr().expect("bound address");
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        HttpDestination {
            addr,
            inner,
            server,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first `times` requests carrying `uuid` answer 500, whatever the path.
    pub fn fail_first(&self, uuid: &str, times: usize) {
        lock(&self.inner.fail_first).insert(uuid.to_owned(), times);
    }

    /// Answers wait from now on until [`HttpDestination::release`].
    pub fn hold(&self) {
        self.inner.held.send_replace(true);
    }

    /// Answers every held request, and the next ones at once.
    pub fn release(&self) {
        self.inner.held.send_replace(false);
    }

    /// Waits until `count` requests to `path` have arrived (held or not), at
    /// most `within`; how many had.
    pub async fn wait_for_requests(&self, path: &str, count: usize, within: Duration) -> usize {
        crate::poll(
            within,
            Duration::from_millis(20),
            || self.uuids(path).len(),
            |arrived| *arrived >= count,
        )
        .await
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner.received).clone()
    }

    /// The UUIDs posted to `path`, in arrival order.
    pub fn uuids(&self, path: &str) -> Vec<String> {
        lock(&self.inner.received)
            .iter()
            .filter(|request| request.path == path)
            .map(|request| request.uuid.clone())
            .collect()
    }
}

impl Drop for HttpDestination {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let inbound = summary(&body);
    let uuid = inbound
        .as_ref()
        .map(|inbound| inbound.uuid.clone())
        .unwrap_or_default();
    let auth = inner.behaviour.auth.as_ref().and_then(|(name, _)| {
        headers
            .get(name.as_str())
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    });
    // Decide the answer and record the request in one critical section, so
    // the record's order is the order the answers were decided in.
    let answer = {
        let mut received = lock(&inner.received);
        let nth = {
            let mut per_path = lock(&inner.per_path);
            let count = per_path.entry(path.clone()).or_default();
            *count += 1;
            *count
        };
        let forced_failure = {
            let mut fail_first = lock(&inner.fail_first);
            match fail_first.get_mut(&uuid) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        };
        let mode = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let ok_now = Answer::Receipt {
            ok: true,
            after: Duration::ZERO,
        };
        let answer = if inbound.is_none() {
            Answer::Status(StatusCode::BAD_REQUEST)
        } else if forced_failure {
            Answer::Status(StatusCode::INTERNAL_SERVER_ERROR)
        } else {
            match mode {
                "ok" => ok_now,
                "fail" => Answer::Status(StatusCode::INTERNAL_SERVER_ERROR),
                "slow" => Answer::Receipt {
                    ok: true,
                    after: inner.behaviour.slow,
                },
                "slow-once" if nth == 1 => Answer::Receipt {
                    ok: true,
                    after: inner.behaviour.slow,
                },
                "slow-once" => ok_now,
                "unauthorized" => {
                    let expected = inner.behaviour.auth.as_ref().map(|(_, value)| value);
                    if expected.is_some() && auth.as_ref() == expected {
                        ok_now
                    } else {
                        Answer::Status(StatusCode::UNAUTHORIZED)
                    }
                }
                "error-receipt" => Answer::Receipt {
                    ok: false,
                    after: Duration::ZERO,
                },
                "flaky" if nth <= inner.behaviour.flaky_failures => {
                    Answer::Status(StatusCode::INTERNAL_SERVER_ERROR)
                }
                "flaky" => ok_now,
                _ => Answer::Status(StatusCode::NOT_FOUND),
            }
        };
        let status = match &answer {
            Answer::Receipt { .. } => StatusCode::OK,
            Answer::Status(status) => *status,
        };
        received.push(Received {
            path,
            uuid,
            status: status.as_u16(),
            auth,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        answer
    };
    // Held answers wait here, their requests already recorded.
    let _ = inner.held.subscribe().wait_for(|held| !held).await;
    match (answer, inbound) {
        (Answer::Receipt { ok, after }, Some(inbound)) => {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                receipt_for(&inbound, ok),
            )
                .into_response()
        }
        (Answer::Status(status), _) => {
            (status, format!("test destination says {status}")).into_response()
        }
        (Answer::Receipt { .. }, None) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// How an AMQP destination answers each message it consumes.
#[derive(Debug, Clone, Copy)]
pub enum AmqpAnswer {
    /// A ReceiptMessage (ok or error) on the message's `reply_to`, with its
    /// `correlation_id` echoed, after `after`.
    Receipt { ok: bool, after: Duration },
    /// Takes the message and never answers.
    Never,
}

/// A private exchange and queue on the test broker with a consumer that
/// answers like a destination system would. [`AmqpDestination::close`]
/// deletes them; the queue is exclusive and the exchange auto-deleted, so a
/// test that panics first leaves nothing once its connection goes.
pub struct AmqpDestination {
    pub exchange: String,
    /// The routing key the queue is bound with.
    pub routing_key: String,
    queue: String,
    received: Arc<Mutex<Vec<String>>>,
    connection: Connection,
    channel: Channel,
    consumer: JoinHandle<()>,
}

impl AmqpDestination {
    pub async fn start(answer: AmqpAnswer) -> AmqpDestination {
        let prefix = format!("test-dest-{}", uuid::Uuid::new_v4().simple());
        let exchange = format!("{prefix}.exchange");
        let queue = format!("{prefix}.queue");
        let routing_key = "orders".to_owned();
        let connection = crate::broker_connection("eai-tests-destination").await;
        let channel = connection.create_channel().await.expect("channel opens");
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    auto_delete: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("destination exchange declared");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("destination queue declared");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("destination queue bound");
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("{prefix}.consumer").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("destination consumer starts");
        let received = Arc::new(Mutex::new(Vec::new()));
        let consumer = tokio::spawn({
            let (received, channel) = (Arc::clone(&received), channel.clone());
            async move {
                while let Some(Ok(delivery)) = consumer.next().await {
                    let inbound = summary(&delivery.data);
                    lock(&received).push(
                        inbound
                            .as_ref()
                            .map(|inbound| inbound.uuid.clone())
                            .unwrap_or_default(),
                    );
                    delivery.acker.ack(BasicAckOptions::default()).await.ok();
                    let reply_to = delivery
                        .properties
                        .reply_to()
                        .as_ref()
                        .map(|queue| queue.to_string());
                    let (AmqpAnswer::Receipt { ok, after }, Some(inbound), Some(reply_to)) =
                        (answer, inbound, reply_to)
                    else {
                        continue;
                    };
                    // Like any AMQP request/reply peer, echo the request's correlation_id.
                    let correlation_id = delivery
                        .properties
                        .correlation_id()
                        .as_ref()
                        .map_or_else(|| inbound.uuid.clone(), |id| id.to_string());
                    let channel = channel.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let receipt = receipt_for(&inbound, ok);
                        let properties = BasicProperties::default()
                            .with_content_type("application/json".into())
                            .with_correlation_id(correlation_id.as_str().into());
                        if let Ok(confirm) = channel
                            .basic_publish(
                                "".into(),
                                reply_to.as_str().into(),
                                BasicPublishOptions::default(),
                                &receipt,
                                properties,
                            )
                            .await
                        {
                            confirm.await.ok();
                        }
                    });
                }
            }
        });
        AmqpDestination {
            exchange,
            routing_key,
            queue,
            received,
            connection,
            channel,
            consumer,
        }
    }

    /// The UUIDs consumed so far, in arrival order.
    pub fn received(&self) -> Vec<String> {
        lock(&self.received).clone()
    }

    /// Stops the consumer and deletes the queue and exchange.
    pub async fn close(self) {
        self.consumer.abort();
        self.channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .ok();
        self.channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
            .ok();
        self.connection.close(200, "test over".into()).await.ok();
    }
}

impl Drop for AmqpDestination {
    fn drop(&mut self) {
        self.consumer.abort();
    }
}
