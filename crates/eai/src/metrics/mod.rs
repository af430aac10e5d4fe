//! Prometheus metrics and the internal events that feed them.
//!
//! Each event is one struct whose `emit` both logs and counts, so a log line
//! and its counter can never disagree (the pattern of vector's internal events).
//! Gauges of what the worker holds (queues, backlog) are set by the
//! [`crate::sampler`]; readiness and the connection pool are read on every
//! scrape, since reading them costs no I/O.
//!
//! Every label takes values from a known set: transactions outside the ones
//! the worker processes count as `other`, codes are the receipt codes,
//! destinations and queues are the configured ones.
//!
//! # Layout
//!
//! - `mod.rs` (this file): [`Metrics`], the registry and its series, rendering and the sampled gauges.
//! - `events`: the internal events, each logging and counting (re-exported here).

mod events;

pub use events::*;

use eai_store::backlog::Backlog;
use eai_store::PoolUsage;
use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::health::Readiness;

/// The worker's metrics, on a registry of its own (tests run several workers in one process).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    messages: IntCounterVec,
    duration: HistogramVec,
    error_receipts: IntCounterVec,
    dead_letters: IntCounterVec,
    receipt_publish_failures: IntCounterVec,
    receipts_republished: IntCounter,
    receipts_dead_lettered: IntCounter,
    consumer_errors: IntCounter,
    broker_reconnects: IntCounter,
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
    build_info: IntGaugeVec,
    ready: IntGauge,
    ready_checks: IntGaugeVec,
    queue_depth: IntGaugeVec,
    queue_consumers: IntGaugeVec,
    outbound_backlog: IntGaugeVec,
    outbound_oldest: GaugeVec,
    blocked_destinations: IntGauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    sample_failures: IntCounterVec,
    alerts: IntCounterVec,
}

/// Registers collectors on one registry as they are made.
struct Registering(Registry);

impl Registering {
    fn add<C: Collector + Clone + 'static>(&self, collector: C) -> C {
        self.0
            .register(Box::new(collector.clone()))
            .expect("each metric is registered once on a fresh registry");
        collector
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).expect("static metric definition"))
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(
            IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition"),
        )
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("static metric definition"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition"))
    }

    fn histograms(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        self.add(
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("static metric definition"),
        )
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let on = Registering(Registry::new());
        #[cfg(target_os = "linux")]
        on.0.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("the process collector is registered once on a fresh registry");
        Metrics {
            messages: on.counters(
                "eai_messages_total",
                "Inbound envelopes answered, by transaction and receipt status.",
                &["transaction", "status", "duplicate"],
            ),
            duration: on.histograms(
                "eai_message_duration_seconds",
                "Time from delivery to ack, by transaction and receipt status.",
                &["transaction", "status"],
                &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            error_receipts: on.counters(
                "eai_error_receipts_total",
                "Error receipts (duplicates not counted again), by transaction and each \
                 distinct error code they list.",
                &["transaction", "code"],
            ),
            dead_letters: on.counters(
                "eai_dead_letters_total",
                "Bodies sent to the dead-letter queue, by code.",
                &["code"],
            ),
            receipt_publish_failures: on.counters(
                "eai_receipt_publish_failures_total",
                "Receipt publications that failed (the relay retries them), by reason: \
                 returned (no queue took it) or unconfirmed.",
                &["reason"],
            ),
            receipts_republished: on.counter(
                "eai_receipts_republished_total",
                "Receipts the relay published after an interrupted first attempt.",
            ),
            receipts_dead_lettered: on.counter(
                "eai_receipts_dead_lettered_total",
                "Receipts the relay gave up on after receipt_max_attempts and dead-lettered.",
            ),
            consumer_errors: on.counter(
                "eai_consumer_errors_total",
                "Consumer subscriptions lost or refused (broker connection lost, queue cancelled); \
                 each consumer subscribes again by itself.",
            ),
            broker_reconnects: on.counter(
                "eai_broker_reconnects_total",
                "Broker connections re-established after the previous one was lost.",
            ),
            reservation_lines_expired: on.counter(
                "eai_reservation_lines_expired_total",
                "Reservation lines released by the expiry sweep.",
            ),
            waiting: on.counters(
                "eai_envelopes_waiting_total",
                "Envelopes parked in a delay queue to wait for their reservations, by transaction.",
                &["transaction"],
            ),
            failures: on.counters(
                "eai_envelope_failures_total",
                "Envelopes whose processing failed after its immediate retries, by transaction \
                 and what followed: retry_later (parked in a delay queue) or dead_lettered \
                 (answered PROCESSING_FAILED).",
                &["transaction", "outcome"],
            ),
            unrouted: on.counters(
                "eai_unrouted_total",
                "Envelopes whose routing key matched no work queue, by outcome: answered \
                 (UNSUPPORTED_TRANSACTION receipt) or dead_lettered (no usable UUID).",
                &["outcome"],
            ),
            destination_receipt_errors: on.counter(
                "eai_destination_receipt_errors_total",
                "Destination receipts that could not be recorded (requeued for another try).",
            ),
            database_unavailable: on.counter(
                "eai_database_unavailable_total",
                "Times an envelope found the database unavailable and waited for it.",
            ),
            purged: on.counters(
                "eai_retention_purged_total",
                "Rows purged after the retention window, by table.",
                &["table"],
            ),
            outbound_attempts: on.counters(
                "eai_outbound_attempts_total",
                "Delivery attempts to destinations, by destination and the status they ended in.",
                &["destination", "status"],
            ),
            outbound_duration: on.histograms(
                "eai_outbound_attempt_seconds",
                "Time of one delivery attempt, by destination.",
                &["destination"],
                &[0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            ),
            destinations_blocked: on.counters(
                "eai_destinations_blocked_total",
                "Destinations blocked because they refused our credentials (401/403), \
                 counted by the worker that blocked them.",
                &["destination"],
            ),
            build_info: on.gauges(
                "eai_build_info",
                "Always 1: the worker's version, database backend (postgresql, sqlite) and \
                 broker (amqp, none).",
                &["version", "database", "broker"],
            ),
            ready: on.gauge(
                "eai_ready",
                "1 when /readyz answers ready, else 0.",
            ),
            ready_checks: on.gauges(
                "eai_ready_check",
                "Each readiness check, 1 when it passes: broker, consumers, database, not_draining.",
                &["check"],
            ),
            queue_depth: on.gauges(
                "eai_queue_depth",
                "Messages ready in each queue the worker consumes (without a broker, the \
                 database's inbound queue); every worker reports the same queues.",
                &["queue"],
            ),
            queue_consumers: on.gauges(
                "eai_queue_consumers",
                "Consumers subscribed to each queue the worker consumes, all workers together.",
                &["queue"],
            ),
            outbound_backlog: on.gauges(
                "eai_outbound_backlog",
                "Outbox rows not done and not discarded, by kind (message, receipt) and status; \
                 database-wide.",
                &["kind", "status"],
            ),
            outbound_oldest: on.add(
                GaugeVec::new(
                    Opts::new(
                        "eai_outbound_oldest_seconds",
                        "Age of the oldest outbox row still to deliver (waiting, running, failed, \
                         not_delivered), by kind; 0 when there is none.",
                    ),
                    &["kind"],
                )
                .expect("static metric definition"),
            ),
            blocked_destinations: on.gauge(
                "eai_blocked_destinations",
                "Destinations blocked now, database-wide.",
            ),
            pool_connections: on.gauges(
                "eai_db_pool_connections",
                "Database connections of this worker's pool, by state: in_use, idle.",
                &["state"],
            ),
            pool_max: on.gauge(
                "eai_db_pool_max_connections",
                "The pool's limit (database.max_connections; 1 on SQLite).",
            ),
            sample_failures: on.counters(
                "eai_sample_failures_total",
                "Samples of the gauges that could not be read, by source (database, broker); \
                 the gauges keep their last value.",
                &["source"],
            ),
            alerts: on.counters(
                "eai_alerts_total",
                "E-mail and webhook alert delivery attempts, by channel (email, webhook), \
                 reason (failed, blocked, dead, test) and outcome (sent, failed).",
                &["channel", "reason", "outcome"],
            ),
            registry: on.0,
        }
        .with_known_series()
    }

    /// Every series whose labels come from a fixed set starts at 0, so a
    /// rule's `increase()` sees the first event instead of a series born
    /// with it, and a dashboard shows 0 rather than nothing.
    fn with_known_series(self) -> Metrics {
        let transactions = eai_protocol::Transaction::ALL
            .map(|transaction| transaction.as_str())
            .into_iter()
            .chain(["other"]);
        for transaction in transactions {
            for status in ["ok", "error"] {
                for duplicate in ["true", "false"] {
                    self.messages
                        .with_label_values(&[transaction, status, duplicate]);
                }
            }
            for outcome in ["retry_later", "dead_lettered"] {
                self.failures.with_label_values(&[transaction, outcome]);
            }
            self.waiting.with_label_values(&[transaction]);
        }
        for outcome in ["answered", "dead_lettered"] {
            self.unrouted.with_label_values(&[outcome]);
        }
        for reason in ["returned", "unconfirmed"] {
            self.receipt_publish_failures.with_label_values(&[reason]);
        }
        for table in ["inbox", "messages", "retries", "history"] {
            self.purged.with_label_values(&[table]);
        }
        for source in ["database", "broker"] {
            self.sample_failures.with_label_values(&[source]);
        }
        for channel in ["email", "webhook"] {
            for reason in ["failed", "blocked", "dead", "test"] {
                for outcome in ["sent", "failed"] {
                    self.alerts.with_label_values(&[channel, reason, outcome]);
                }
            }
        }
        self
    }

    /// Describes this worker in `eai_build_info`: `sqlite` or `postgres`, and
    /// whether it has a broker.
    pub fn describe_build(&self, database: &str, broker: bool) {
        let broker = if broker { "amqp" } else { "none" };
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), database, broker])
            .set(1);
    }

    /// The text exposition format served on `/metrics`, with readiness and
    /// the pool as they are now.
    pub fn render(&self, readiness: Readiness, pool: PoolUsage) -> String {
        self.ready.set(i64::from(readiness.is_ready()));
        let checks = [
            ("broker", readiness.broker),
            ("consumers", Some(readiness.consumers)),
            ("database", Some(readiness.database)),
            ("not_draining", Some(!readiness.draining)),
        ];
        for (check, passes) in checks {
            if let Some(passes) = passes {
                self.ready_checks
                    .with_label_values(&[check])
                    .set(i64::from(passes));
            }
        }
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.in_use));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.pool_max.set(i64::from(pool.max));
        let mut buffer = Vec::new();
        let encoded = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        match encoded {
            Ok(()) => String::from_utf8_lossy(&buffer).into_owned(),
            Err(error) => format!("# metrics encoding failed: {error}\n"),
        }
    }

    /// The depth and consumers of each queue, as just inspected.
    pub fn observe_queue(&self, queue: &str, ready: u32, consumers: Option<u32>) {
        self.queue_depth
            .with_label_values(&[queue])
            .set(i64::from(ready));
        if let Some(consumers) = consumers {
            self.queue_consumers
                .with_label_values(&[queue])
                .set(i64::from(consumers));
        }
    }

    /// The outbound backlog as just read: every kind and status the outbox
    /// knows gets a value, 0 included, so a status emptied reads 0 rather
    /// than its last count.
    pub fn observe_backlog(&self, backlog: &Backlog, now: chrono::DateTime<chrono::Utc>) {
        use eai_store::log::Status;
        for kind in ["message", "receipt"] {
            for status in [
                Status::Waiting,
                Status::Running,
                Status::Failed,
                Status::NotDelivered,
                Status::Blocked,
                Status::Rejected,
            ] {
                let row = backlog
                    .counts
                    .iter()
                    .find(|row| row.kind == kind && row.status == status);
                self.outbound_backlog
                    .with_label_values(&[kind, status.as_str()])
                    .set(row.map_or(0, |row| row.count));
            }
            let oldest = backlog.oldest_pending(Some(kind));
            let age = oldest.map_or(0.0, |oldest| {
                (now - oldest).to_std().unwrap_or_default().as_secs_f64()
            });
            self.outbound_oldest.with_label_values(&[kind]).set(age);
        }
        self.blocked_destinations.set(backlog.blocked_destinations);
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
