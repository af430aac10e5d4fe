//! Prometheus metrics and the internal events that feed them.
//!
//! Each event is one struct whose `emit` both logs and counts, so a log line
//! and its counter can never disagree (the pattern of vector's internal events).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The worker's metrics, on a registry of its own (tests run several workers in one process).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    messages: IntCounterVec,
    duration: HistogramVec,
    dead_letters: IntCounterVec,
    receipt_publish_failures: IntCounterVec,
    receipts_republished: IntCounter,
    receipts_dead_lettered: IntCounter,
    consumer_errors: IntCounter,
    reservation_lines_expired: IntCounter,
    waiting: IntCounterVec,
    failures: IntCounterVec,
    unrouted: IntCounterVec,
    destination_receipt_errors: IntCounter,
    database_unavailable: IntCounter,
    purged: IntCounterVec,
    outbound_attempts: IntCounterVec,
    outbound_duration: HistogramVec,
    destinations_blocked: IntCounterVec,
    alerts: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let messages = IntCounterVec::new(
            Opts::new(
                "eai_messages_total",
                "Inbound envelopes answered, by transaction and receipt status.",
            ),
            &["transaction", "status", "duplicate"],
        )
        .expect("static metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "eai_message_duration_seconds",
                "Time from delivery to ack, by transaction and receipt status.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["transaction", "status"],
        )
        .expect("static metric definition");
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "eai_dead_letters_total",
                "Bodies sent to the dead-letter queue, by code.",
            ),
            &["code"],
        )
        .expect("static metric definition");
        let receipt_publish_failures = IntCounterVec::new(
            Opts::new(
                "eai_receipt_publish_failures_total",
                "Receipt publications that failed (the relay retries them), by reason: \
                 returned (no queue took it) or unconfirmed.",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        let receipts_republished = IntCounter::new(
            "eai_receipts_republished_total",
            "Receipts the relay published after an interrupted first attempt.",
        )
        .expect("static metric definition");
        let receipts_dead_lettered = IntCounter::new(
            "eai_receipts_dead_lettered_total",
            "Receipts the relay gave up on after receipt_max_attempts and dead-lettered.",
        )
        .expect("static metric definition");
        let consumer_errors = IntCounter::new(
            "eai_consumer_errors_total",
            "Consumer subscriptions lost or refused (broker connection lost, queue cancelled); \
             each consumer subscribes again by itself.",
        )
        .expect("static metric definition");
        let reservation_lines_expired = IntCounter::new(
            "eai_reservation_lines_expired_total",
            "Reservation lines released by the expiry sweep.",
        )
        .expect("static metric definition");
        let waiting = IntCounterVec::new(
            Opts::new(
                "eai_envelopes_waiting_total",
                "Envelopes parked in a delay queue to wait for their reservations, by transaction.",
            ),
            &["transaction"],
        )
        .expect("static metric definition");
        let failures = IntCounterVec::new(
            Opts::new(
                "eai_envelope_failures_total",
                "Envelopes whose processing failed after its immediate retries, by transaction \
                 and what followed: retry_later (parked in a delay queue) or dead_lettered \
                 (answered PROCESSING_FAILED).",
            ),
            &["transaction", "outcome"],
        )
        .expect("static metric definition");
        let unrouted = IntCounterVec::new(
            Opts::new(
                "eai_unrouted_total",
                "Envelopes whose routing key matched no work queue, by outcome: answered \
                 (UNSUPPORTED_TRANSACTION receipt) or dead_lettered (no usable UUID).",
            ),
            &["outcome"],
        )
        .expect("static metric definition");
        let destination_receipt_errors = IntCounter::new(
            "eai_destination_receipt_errors_total",
            "Destination receipts that could not be recorded (requeued for another try).",
        )
        .expect("static metric definition");
        let database_unavailable = IntCounter::new(
            "eai_database_unavailable_total",
            "Times an envelope found the database unavailable and waited for it.",
        )
        .expect("static metric definition");
        let purged = IntCounterVec::new(
            Opts::new(
                "eai_retention_purged_total",
                "Rows purged after the retention window, by table.",
            ),
            &["table"],
        )
        .expect("static metric definition");
        let outbound_attempts = IntCounterVec::new(
            Opts::new(
                "eai_outbound_attempts_total",
                "Delivery attempts to destinations, by destination and the status they ended in.",
            ),
            &["destination", "status"],
        )
        .expect("static metric definition");
        let outbound_duration = HistogramVec::new(
            HistogramOpts::new(
                "eai_outbound_attempt_seconds",
                "Time of one delivery attempt, by destination.",
            )
            .buckets(vec![
                0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["destination"],
        )
        .expect("static metric definition");
        let destinations_blocked = IntCounterVec::new(
            Opts::new(
                "eai_destinations_blocked_total",
                "Destinations blocked because they refused our credentials (401/403).",
            ),
            &["destination"],
        )
        .expect("static metric definition");
        let alerts = IntCounterVec::new(
            Opts::new(
                "eai_alerts_total",
                "E-mail and webhook alert delivery attempts, by channel (email, webhook), \
                 reason (failed, blocked, dead, test) and outcome (sent, failed).",
            ),
            &["channel", "reason", "outcome"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(messages.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(dead_letters.clone()),
            Box::new(receipt_publish_failures.clone()),
            Box::new(receipts_republished.clone()),
            Box::new(receipts_dead_lettered.clone()),
            Box::new(consumer_errors.clone()),
            Box::new(reservation_lines_expired.clone()),
            Box::new(waiting.clone()),
            Box::new(failures.clone()),
            Box::new(unrouted.clone()),
            Box::new(destination_receipt_errors.clone()),
            Box::new(database_unavailable.clone()),
            Box::new(purged.clone()),
            Box::new(outbound_attempts.clone()),
            Box::new(outbound_duration.clone()),
            Box::new(destinations_blocked.clone()),
            Box::new(alerts.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once on a fresh registry");
        }
        Metrics {
            registry,
            messages,
            duration,
            dead_letters,
            receipt_publish_failures,
            receipts_republished,
            receipts_dead_lettered,
            consumer_errors,
            reservation_lines_expired,
            waiting,
            failures,
            unrouted,
            destination_receipt_errors,
            database_unavailable,
            purged,
            outbound_attempts,
            outbound_duration,
            destinations_blocked,
            alerts,
        }
    }

    /// The text exposition format served on `/metrics`.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoded = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        match encoded {
            Ok(()) => String::from_utf8_lossy(&buffer).into_owned(),
            Err(error) => format!("# metrics encoding failed: {error}\n"),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// An envelope answered and acked.
pub struct MessageHandled<'a> {
    pub uuid: &'a str,
    pub transaction: &'a str,
    pub ok: bool,
    pub duplicate: bool,
    pub elapsed: Duration,
}

impl MessageHandled<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let status = if self.ok { "ok" } else { "error" };
        tracing::info!(
            uuid = self.uuid,
            transaction = self.transaction,
            status,
            duplicate = self.duplicate,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "envelope answered"
        );
        let duplicate = if self.duplicate { "true" } else { "false" };
        let transaction = transaction_label(self.transaction);
        metrics
            .messages
            .with_label_values(&[transaction, status, duplicate])
            .inc();
        metrics
            .duration
            .with_label_values(&[transaction, status])
            .observe(self.elapsed.as_secs_f64());
    }
}

/// A body that could not be answered by UUID went to the dead-letter queue.
pub struct EnvelopeDeadLettered<'a> {
    pub code: &'a str,
    pub reason: &'a str,
    pub message_id: Option<&'a str>,
}

impl EnvelopeDeadLettered<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            code = self.code,
            reason = self.reason,
            message_id = self.message_id,
            "envelope dead-lettered"
        );
        metrics.dead_letters.with_label_values(&[self.code]).inc();
    }
}

/// A committed receipt the broker returned or did not confirm; the relay will retry it.
pub struct ReceiptPublishFailed<'a> {
    pub uuid: &'a str,
    /// The broker returned it: no queue is bound for its route.
    pub returned: bool,
    pub error: &'a str,
}

impl ReceiptPublishFailed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let reason = if self.returned {
            "returned"
        } else {
            "unconfirmed"
        };
        tracing::warn!(
            uuid = self.uuid,
            reason,
            error = self.error,
            "receipt not delivered to the broker; the relay will retry"
        );
        metrics
            .receipt_publish_failures
            .with_label_values(&[reason])
            .inc();
    }
}

/// The relay gave up on a receipt and dead-lettered it.
pub struct ReceiptDeadLettered<'a> {
    pub receipt_id: i64,
    pub attempts: i32,
    pub reason: &'a str,
}

impl ReceiptDeadLettered<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::error!(
            receipt_id = self.receipt_id,
            attempts = self.attempts,
            reason = self.reason,
            "receipt undeliverable; dead-lettered"
        );
        metrics.receipts_dead_lettered.inc();
    }
}

/// An envelope's processing failed after its immediate retries.
pub struct EnvelopeFailed<'a> {
    pub uuid: &'a str,
    pub transaction: &'a str,
    /// How many times it has failed now.
    pub failures: usize,
    /// When it will be tried again; `None` once it was given up and dead-lettered.
    pub retry_in: Option<Duration>,
    pub error: &'a str,
}

impl EnvelopeFailed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let outcome = match self.retry_in {
            Some(delay) => {
                tracing::warn!(
                    uuid = self.uuid,
                    failures = self.failures,
                    retry_in_secs = delay.as_secs(),
                    error = self.error,
                    "processing failed; parked for a later try"
                );
                "retry_later"
            }
            None => {
                tracing::error!(
                    uuid = self.uuid,
                    failures = self.failures,
                    error = self.error,
                    "processing failed for good; answered PROCESSING_FAILED and dead-lettered"
                );
                "dead_lettered"
            }
        };
        metrics
            .failures
            .with_label_values(&[transaction_label(self.transaction), outcome])
            .inc();
    }
}

/// An envelope whose routing key matched no work queue.
pub struct EnvelopeUnrouted<'a> {
    pub routing_key: &'a str,
    /// Its UUID when it had a usable one (it was answered).
    pub uuid: Option<&'a str>,
}

impl EnvelopeUnrouted<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let outcome = if self.uuid.is_some() {
            "answered"
        } else {
            "dead_lettered"
        };
        tracing::warn!(
            routing_key = self.routing_key,
            uuid = self.uuid,
            outcome,
            "envelope routed to no work queue"
        );
        metrics.unrouted.with_label_values(&[outcome]).inc();
    }
}

/// A destination receipt could not be recorded: it goes back to its queue,
/// or to the dead-letter exchange when the database refuses it for good.
pub struct DestinationReceiptFailed<'a> {
    pub error: &'a str,
    pub dead_lettered: bool,
}

impl DestinationReceiptFailed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        if self.dead_lettered {
            tracing::error!(
                error = self.error,
                "the database refuses a destination receipt; dead-lettered"
            );
        } else {
            tracing::warn!(
                error = self.error,
                "recording a destination receipt failed; requeued"
            );
        }
        metrics.destination_receipt_errors.inc();
    }
}

/// An envelope found the database unavailable and waits for it.
pub struct DatabaseUnavailable<'a> {
    pub uuid: &'a str,
    pub error: &'a str,
}

impl DatabaseUnavailable<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            uuid = self.uuid,
            error = self.error,
            "database unavailable; the envelope waits for it"
        );
        metrics.database_unavailable.inc();
    }
}

/// The retention job purged old rows.
pub struct RowsPurged {
    pub purged: eai_store::retention::Purged,
}

impl RowsPurged {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(
            inbox = self.purged.inbox,
            messages = self.purged.messages,
            retries = self.purged.retries,
            history = self.purged.history,
            "purged rows past the retention window"
        );
        for (table, rows) in [
            ("inbox", self.purged.inbox),
            ("messages", self.purged.messages),
            ("retries", self.purged.retries),
            ("history", self.purged.history),
        ] {
            metrics.purged.with_label_values(&[table]).inc_by(rows);
        }
    }
}

/// The relay published receipts left behind by an interrupted worker.
pub struct ReceiptsRepublished {
    pub count: usize,
}

impl ReceiptsRepublished {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(count = self.count, "relay republished receipts");
        metrics.receipts_republished.inc_by(self.count as u64);
    }
}

/// A consumer lost its subscription (or could not make one); it subscribes
/// again by itself, on the broker's next connection.
pub struct ConsumerError<'a> {
    pub queue: &'a str,
    pub error: &'a str,
}

impl ConsumerError<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            queue = self.queue,
            error = self.error,
            "consumer lost its subscription; subscribing again"
        );
        metrics.consumer_errors.inc();
    }
}

/// The sweep released reservation lines past their expiration.
pub struct ReservationsExpired {
    pub lines: u64,
}

impl ReservationsExpired {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(lines = self.lines, "expired reservation lines released");
        metrics.reservation_lines_expired.inc_by(self.lines);
    }
}

/// A sale went to a delay queue to wait for reservations not integrated yet.
pub struct EnvelopeWaiting<'a> {
    pub uuid: &'a str,
    pub transaction: &'a str,
    /// How many times it has waited now.
    pub wait: usize,
    pub reservations: &'a [String],
}

impl EnvelopeWaiting<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(
            uuid = self.uuid,
            wait = self.wait,
            reservations = ?self.reservations,
            "waiting for reservations not integrated yet"
        );
        metrics
            .waiting
            .with_label_values(&[transaction_label(self.transaction)])
            .inc();
    }
}

/// The `transaction` label of an envelope: one of the transactions the
/// worker knows, else `other`, so a sender writing anything there cannot
/// create series without bound.
pub fn transaction_label(transaction: &str) -> &'static str {
    eai_protocol::Transaction::parse(transaction).map_or("other", |known| known.as_str())
}

/// One delivery attempt to a destination ended.
pub struct MessageAttempted<'a> {
    pub uuid: &'a str,
    pub destination: &'a str,
    pub transaction: &'a str,
    pub attempt: i32,
    pub status: &'a str,
    pub detail: &'a str,
    pub elapsed: Duration,
}

impl MessageAttempted<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(
            uuid = self.uuid,
            destination = self.destination,
            transaction = self.transaction,
            attempt = self.attempt,
            status = self.status,
            detail = self.detail,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "delivery attempt"
        );
        metrics
            .outbound_attempts
            .with_label_values(&[self.destination, self.status])
            .inc();
        metrics
            .outbound_duration
            .with_label_values(&[self.destination])
            .observe(self.elapsed.as_secs_f64());
    }
}

/// A destination refused our credentials: nothing more goes to it until an
/// operator unblocks it. The alert (logged once, counted once).
pub struct DestinationBlocked<'a> {
    pub destination: &'a str,
    pub reason: &'a str,
}

impl DestinationBlocked<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::error!(
            destination = self.destination,
            reason = self.reason,
            "destination blocked: fix its credentials, then `eai destinations unblock`"
        );
        metrics
            .destinations_blocked
            .with_label_values(&[self.destination])
            .inc();
    }
}

/// One delivery attempt of an e-mail or webhook alert ended.
pub struct AlertDelivered<'a> {
    pub alert: i64,
    pub target: &'a str,
    /// `email` or `webhook`.
    pub channel: &'a str,
    /// `failed`, `blocked`, `dead` or `test`.
    pub reason: &'a str,
    pub events: i32,
    pub attempt: i32,
    /// `None` when it was sent; what went wrong otherwise (never a secret).
    pub error: Option<&'a str>,
}

impl AlertDelivered<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let outcome = match self.error {
            None => {
                tracing::info!(
                    alert = self.alert,
                    target = self.target,
                    channel = self.channel,
                    reason = self.reason,
                    events = self.events,
                    attempt = self.attempt,
                    "alert sent"
                );
                "sent"
            }
            Some(error) => {
                tracing::warn!(
                    alert = self.alert,
                    target = self.target,
                    channel = self.channel,
                    reason = self.reason,
                    events = self.events,
                    attempt = self.attempt,
                    error,
                    "alert not sent"
                );
                "failed"
            }
        };
        metrics
            .alerts
            .with_label_values(&[self.channel, self.reason, outcome])
            .inc();
    }
}
