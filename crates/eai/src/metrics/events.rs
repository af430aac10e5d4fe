//! The internal events: each one struct whose `emit` logs one line and
//! counts it in [`Metrics`], so the two never disagree.

use std::time::Duration;

use super::Metrics;

/// An envelope answered and acked.
pub struct MessageHandled<'a> {
    pub uuid: &'a str,
    pub transaction: &'a str,
    pub ok: bool,
    pub duplicate: bool,
    /// The receipt it was answered with: an error receipt is also counted by its codes.
    pub receipt: &'a str,
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
        if !self.ok && !self.duplicate {
            for code in eai_protocol::receipt::error_codes(self.receipt.as_bytes()) {
                metrics
                    .error_receipts
                    .with_label_values(&[transaction, code.as_str()])
                    .inc();
            }
        }
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

/// The broker connection was lost and is up again (the consumers subscribe
/// again on it by themselves).
pub struct BrokerReconnected<'a> {
    pub address: &'a str,
}

impl BrokerReconnected<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(address = self.address, "broker connection re-established");
        metrics.broker_reconnects.inc();
    }
}

/// The sampler could not read a source of gauges this time; they keep
/// their last value until the next sample.
pub struct SampleFailed<'a> {
    /// `database` or `broker`.
    pub source: &'a str,
    pub error: &'a str,
}

impl SampleFailed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            source = self.source,
            error = self.error,
            "could not sample the gauges"
        );
        metrics
            .sample_failures
            .with_label_values(&[self.source])
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
