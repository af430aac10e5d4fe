//! E-mail and webhook alerts of failed, blocked and dead messages (seed 000
//! §4, SPEC §8–9), sent by the worker itself.
//!
//! The store writes an event in the transaction of what happened and groups
//! events into alerts, one per target, reason, company and branch per
//! interval ([`eai_store::alerts`]). This job, in the sender half of every
//! worker, groups pending events and sends the alerts that are due, each
//! claimed under a lease: a worker that dies mid-send leaves its alert to
//! the next pass, on any worker. A failed attempt is retried with the
//! sender's backoff until `alerts.max_attempts`, after which the alert stays
//! `failed`. `eai alerts test` and `POST /api/v1/alert-targets/{name}/test`
//! ("Validar E-mails") put a test alert through the same path at once.
//!
//! # Layout
//!
//! - `mod.rs` (this file): [`Alerting`], the periodic job, one delivery and the test alert.
//! - [`secret`]: `env:NAME` and `file:/path` references, resolved at send time.
//! - [`email`]: the e-mail in the target's language, over SMTP.
//! - [`webhook`]: the JSON POST, signed with HMAC-SHA256.

pub mod email;
pub mod secret;
pub mod webhook;

use std::time::Duration;

use eai_store::alerts::{AlertChannel, AlertOutcome, ClaimedAlert};
use eai_store::{Store, StoreError};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::config::AlertSettings;
use crate::metrics::{AlertDelivered, Metrics};
use crate::periodic::Ticker;
use crate::sender::RetryPolicy;

/// Events grouped per transaction; a pass goes on while they fill it.
const FOLD_BATCH: i64 = 1000;

/// Alerts claimed per pass.
const SEND_BATCH: i64 = 16;

/// Groups events and sends alerts.
#[derive(Clone)]
pub struct Alerting {
    pub store: Store,
    pub metrics: Metrics,
    pub http: reqwest::Client,
    pub settings: AlertSettings,
}

impl Alerting {
    /// Runs a pass every `alerts.check_every` until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticker = Ticker::new(self.settings.check_every, &stop);
        while ticker.tick().await {
            self.pass().await;
        }
    }

    /// Groups the pending events, then sends the alerts that are due.
    pub async fn pass(&self) {
        loop {
            match self
                .store
                .fold_alert_events(self.settings.interval, FOLD_BATCH)
                .await
            {
                Ok(folded) if folded as i64 == FOLD_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "grouping alert events failed; retrying next pass");
                    break;
                }
            }
        }
        match self.store.claim_alerts(SEND_BATCH, self.lease()).await {
            // All at once: each send is bounded by the timeout, so the whole
            // batch settles well within the lease.
            Ok(claimed) => {
                join_all(claimed.iter().map(|alert| self.deliver(alert))).await;
            }
            Err(error) => tracing::warn!(%error, "claiming alerts failed; retrying next pass"),
        }
    }

    /// How long a claimed alert is ours: its send's timeout, twice, and a
    /// margin for settling. A worker that dies holding a claim leaves the
    /// alert to whoever passes after the lease.
    fn lease(&self) -> Duration {
        self.settings.timeout * 2 + Duration::from_secs(5)
    }

    /// Sends one claimed alert and settles it: sent, retried later, or
    /// failed for good after the last attempt (a test alert's first).
    /// Returns what went wrong when it was not sent.
    #[tracing::instrument(skip_all, fields(alert = claimed.alert.id, target = %claimed.target.name))]
    pub async fn deliver(&self, claimed: &ClaimedAlert) -> Result<(), String> {
        let (alert, target) = (&claimed.alert, &claimed.target);
        let timeout = self.settings.timeout;
        let sent = match &target.channel {
            AlertChannel::Email { .. } => email::send(alert, target, timeout).await,
            AlertChannel::Webhook {
                url,
                signing_secret_ref,
            } => {
                webhook::send(
                    &self.http,
                    alert,
                    url,
                    signing_secret_ref.as_deref(),
                    timeout,
                )
                .await
            }
        };
        let outcome = match &sent {
            Ok(()) => AlertOutcome::Sent,
            Err(error)
                if alert.reason == "test" || alert.attempts >= self.settings.max_attempts =>
            {
                AlertOutcome::Failed(error.clone())
            }
            Err(error) => {
                let policy = RetryPolicy {
                    min: self.settings.retry_min,
                    max: self.settings.retry_max,
                };
                AlertOutcome::Retry(error.clone(), policy.delay(alert.attempts))
            }
        };
        if let Err(error) = self
            .store
            .settle_alert(alert.id, alert.attempts, &outcome)
            .await
        {
            tracing::warn!(%error, "recording the alert's attempt failed; it is tried again when its lease ends");
        }
        // Counted once recorded: whoever reads the count finds the alert settled.
        AlertDelivered {
            alert: alert.id,
            target: &target.name,
            channel: target.channel.name(),
            reason: &alert.reason,
            events: alert.events,
            attempt: alert.attempts,
            error: sent.as_ref().err().map(String::as_str),
        }
        .emit(&self.metrics);
        sent
    }

    /// Sends a test alert to the named target at once, through the alerts
    /// outbox; None for an unknown target, else how it went.
    pub async fn test(&self, name: &str) -> Result<Option<Result<(), String>>, StoreError> {
        let Some(claimed) = self.store.enqueue_test_alert(name, self.lease()).await? else {
            return Ok(None);
        };
        Ok(Some(self.deliver(&claimed).await))
    }
}
