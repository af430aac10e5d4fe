//! E-mail and webhook alerts (seed 000 §4): who is told about failed, blocked
//! and dead messages, and the alerts outbox the worker delivers from.
//!
//! What happened reaches `alert_events` through triggers (migrations
//! `0015_alerts.sql` and SQLite's `0002_alerts.sql`), in the transaction of
//! the thing itself: a business message settled for good without reaching
//! its destination, a destination blocked, a dead letter recorded. Nothing
//! is lost between the fact and its alert, and no hot path runs one more
//! statement of its own.
//!
//! [`Store::fold_alert_events`] then turns pending events into alerts: one
//! per target, reason, company and branch, to be sent no sooner than one
//! interval after the previous one of the same key, so a burst of failures
//! makes one message and a second burst waits for the next window. Folds run
//! one at a time across a fleet (an advisory lock on PostgreSQL; SQLite has
//! one writer). Delivery claims a due alert under a lease
//! ([`Store::claim_alerts`], `FOR UPDATE SKIP LOCKED` on PostgreSQL) and
//! settles it ([`Store::settle_alert`]): an alert survives a crash of its
//! sender and is sent again when its lease expires.
//!
//! # Layout
//!
//! - [`AlertTarget`] and [`Store::set_alert_target`], [`Store::alert_targets`],
//!   [`Store::delete_alert_target`]: the targets.
//! - [`Store::fold_alert_events`]: events into alerts, grouped and rate-limited.
//! - [`Store::enqueue_test_alert`] ("Validar E-mails"), [`Store::claim_alerts`],
//!   [`Store::settle_alert`]: the outbox's life.
//! - [`Store::alerts`]: the alerts as operators list them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{after, json_rows, on_conn, on_pool, Conn, Pool, Texts};
use crate::{Store, StoreError};

/// Most samples (UUIDs, destinations, errors) one alert keeps.
pub const MAX_SAMPLES: usize = 10;

/// Who is told, and how: an SMTP server and its addresses, or a webhook.
/// Secrets are references (`env:NAME`, `file:/path`), resolved at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertTarget {
    /// Unique; in the API it is the path's.
    #[serde(default)]
    pub name: String,
    /// The company whose messages it hears of; empty: every company.
    #[serde(default)]
    pub company: String,
    /// The branch whose messages it hears of; empty: every branch.
    #[serde(default)]
    pub branch: String,
    #[serde(flatten)]
    pub channel: AlertChannel,
    /// `pt` or `en`: the language of its e-mails.
    #[serde(default = "portuguese")]
    pub language: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn portuguese() -> String {
    "pt".to_owned()
}

fn enabled() -> bool {
    true
}

/// How a target is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum AlertChannel {
    Email {
        smtp_host: String,
        smtp_port: u16,
        /// `starttls`, `tls` (implicit TLS) or `none`.
        smtp_security: String,
        /// The From address.
        sender: String,
        #[serde(default)]
        username: Option<String>,
        /// Where the SMTP password is: `env:NAME` or `file:/path`.
        #[serde(default)]
        password_ref: Option<String>,
        recipients: Vec<String>,
        /// The copy list (Cc).
        #[serde(default)]
        copies: Vec<String>,
    },
    Webhook {
        url: String,
        /// Where the HMAC-SHA256 signing key is: `env:NAME` or `file:/path`.
        #[serde(default)]
        signing_secret_ref: Option<String>,
    },
}

impl AlertChannel {
    pub fn name(&self) -> &'static str {
        match self {
            AlertChannel::Email { .. } => "email",
            AlertChannel::Webhook { .. } => "webhook",
        }
    }
}

impl AlertTarget {
    /// What is wrong with it, in words, before the database is asked.
    pub fn problem(&self) -> Option<String> {
        let reference = |what: &str, reference: &Option<String>| {
            reference.as_deref().and_then(|reference| {
                (!(reference.starts_with("env:") || reference.starts_with("file:")))
                    .then(|| format!("{what} must be env:NAME or file:/path"))
            })
        };
        if self.name.trim().is_empty() {
            return Some("name must not be empty".to_owned());
        }
        if !matches!(self.language.as_str(), "pt" | "en") {
            return Some("language must be pt or en".to_owned());
        }
        match &self.channel {
            AlertChannel::Email {
                smtp_host,
                smtp_port,
                smtp_security,
                sender,
                username,
                password_ref,
                recipients,
                copies,
            } => {
                if smtp_host.trim().is_empty() || *smtp_port == 0 {
                    return Some("smtp_host and smtp_port are required".to_owned());
                }
                if !matches!(smtp_security.as_str(), "starttls" | "tls" | "none") {
                    return Some("smtp_security must be starttls, tls or none".to_owned());
                }
                if recipients.is_empty() {
                    return Some("an e-mail target needs at least one recipient".to_owned());
                }
                if username.is_some() != password_ref.is_some() {
                    return Some("username and password_ref go together".to_owned());
                }
                std::iter::once(sender)
                    .chain(recipients)
                    .chain(copies)
                    .find(|address| !address.contains('@'))
                    .map(|address| format!("{address:?} is not an e-mail address"))
                    .or_else(|| reference("password_ref", password_ref))
            }
            AlertChannel::Webhook {
                url,
                signing_secret_ref,
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Some("url must be http:// or https://".to_owned());
                }
                reference("signing_secret_ref", signing_secret_ref)
            }
        }
    }
}

/// A target as both backends keep it.
#[derive(FromRow)]
struct TargetRow {
    name: String,
    company: String,
    branch: String,
    channel: String,
    smtp_host: Option<String>,
    smtp_port: Option<i32>,
    smtp_security: Option<String>,
    sender: Option<String>,
    username: Option<String>,
    password_ref: Option<String>,
    recipients: Texts,
    copies: Texts,
    webhook_url: Option<String>,
    signing_secret_ref: Option<String>,
    language: String,
    enabled: bool,
}

impl From<TargetRow> for AlertTarget {
    fn from(row: TargetRow) -> AlertTarget {
        let channel = match row.channel.as_str() {
            "email" => AlertChannel::Email {
                smtp_host: row.smtp_host.unwrap_or_default(),
                smtp_port: row
                    .smtp_port
                    .and_then(|port| u16::try_from(port).ok())
                    .unwrap_or_default(),
                smtp_security: row.smtp_security.unwrap_or_default(),
                sender: row.sender.unwrap_or_default(),
                username: row.username,
                password_ref: row.password_ref,
                recipients: row.recipients.0,
                copies: row.copies.0,
            },
            _ => AlertChannel::Webhook {
                url: row.webhook_url.unwrap_or_default(),
                signing_secret_ref: row.signing_secret_ref,
            },
        };
        AlertTarget {
            name: row.name,
            company: row.company,
            branch: row.branch,
            channel,
            language: row.language,
            enabled: row.enabled,
        }
    }
}

const TARGET_COLUMNS: &str = "SELECT name, company, branch, channel, smtp_host, smtp_port,
        smtp_security, sender, username, password_ref, recipients, copies, webhook_url,
        signing_secret_ref, language, enabled
   FROM alert_targets";

/// One failed, blocked or dead message an alert names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertSample {
    pub uuid: Option<String>,
    pub destination: Option<String>,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// An alert of the outbox, as operators list it and senders send it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub target: String,
    /// `failed`, `blocked`, `dead` or `test`.
    pub reason: String,
    pub company: String,
    pub branch: String,
    /// When the window it groups began: it is sent no sooner.
    pub window_start: DateTime<Utc>,
    /// How many events it counts (its samples are the first of them).
    pub events: i32,
    pub samples: Vec<AlertSample>,
    /// `waiting`, `sent` or `failed` (given up on).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct AlertRow {
    id: i64,
    target: String,
    reason: String,
    company: String,
    branch: String,
    window_start: DateTime<Utc>,
    events: i32,
    samples: Json<Vec<AlertSample>>,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl From<AlertRow> for Alert {
    fn from(row: AlertRow) -> Alert {
        Alert {
            id: row.id,
            target: row.target,
            reason: row.reason,
            company: row.company,
            branch: row.branch,
            window_start: row.window_start,
            events: row.events,
            samples: row.samples.0,
            status: row.status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            created_at: row.created_at,
            sent_at: row.sent_at,
        }
    }
}

const ALERT_COLUMNS: &str = "a.id, t.name AS target, a.reason, a.company, a.branch,
        a.window_start, a.events, a.samples, a.status, a.attempts, a.next_attempt_at,
        a.last_error, a.created_at, a.sent_at";

/// An alert claimed for delivery, with its target.
#[derive(Debug, Clone)]
pub struct ClaimedAlert {
    pub alert: Alert,
    pub target: AlertTarget,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOutcome {
    Sent,
    /// Failed; tried again after the delay.
    Retry(String, Duration),
    /// Failed for good.
    Failed(String),
}

/// Which alerts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<String>,
    pub limit: i64,
}

/// An event of `alert_events`, as a fold reads it.
#[derive(FromRow)]
struct Event {
    id: i64,
    reason: String,
    company: String,
    branch: String,
    uuid: Option<String>,
    destination: Option<String>,
    detail: Option<String>,
    happened_at: DateTime<Utc>,
}

/// The events of one alert to be: their count and first samples.
#[derive(Default)]
struct Group {
    events: i32,
    samples: Vec<AlertSample>,
}

impl Group {
    fn add(&mut self, events: i32, samples: impl IntoIterator<Item = AlertSample>) {
        self.events += events;
        let room = MAX_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(samples.into_iter().take(room));
    }
}

/// Whether `target` (by id, company, branch) hears of an event of `company` and `branch`.
fn hears(target: &(i64, String, String), company: &str, branch: &str) -> bool {
    (target.1.is_empty() || target.1 == company) && (target.2.is_empty() || target.2 == branch)
}

/// The same key as the table's unique one, less the window.
type Key = (i64, String, String, String);

impl Store {
    /// Creates or replaces the target of that name; Err(Refused) names what is wrong.
    pub async fn set_alert_target(&self, target: &AlertTarget) -> Result<(), StoreError> {
        if let Some(problem) = target.problem() {
            return Err(StoreError::Refused(problem));
        }
        let (host, port, security, sender, username, password, recipients, copies) =
            match &target.channel {
                AlertChannel::Email {
                    smtp_host,
                    smtp_port,
                    smtp_security,
                    sender,
                    username,
                    password_ref,
                    recipients,
                    copies,
                } => (
                    Some(smtp_host.as_str()),
                    Some(i32::from(*smtp_port)),
                    Some(smtp_security.as_str()),
                    Some(sender.as_str()),
                    username.as_deref(),
                    password_ref.as_deref(),
                    recipients.clone(),
                    copies.clone(),
                ),
                AlertChannel::Webhook { .. } => {
                    (None, None, None, None, None, None, Vec::new(), Vec::new())
                }
            };
        let (url, signing) = match &target.channel {
            AlertChannel::Webhook {
                url,
                signing_secret_ref,
            } => (Some(url.as_str()), signing_secret_ref.as_deref()),
            AlertChannel::Email { .. } => (None, None),
        };
        on_pool!(&self.pool, pool => {
            sqlx::query(
                "INSERT INTO alert_targets (name, company, branch, channel, smtp_host, smtp_port,
                        smtp_security, sender, username, password_ref, recipients, copies,
                        webhook_url, signing_secret_ref, language, enabled, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (name) DO UPDATE SET
                        company = excluded.company, branch = excluded.branch,
                        channel = excluded.channel, smtp_host = excluded.smtp_host,
                        smtp_port = excluded.smtp_port, smtp_security = excluded.smtp_security,
                        sender = excluded.sender, username = excluded.username,
                        password_ref = excluded.password_ref, recipients = excluded.recipients,
                        copies = excluded.copies, webhook_url = excluded.webhook_url,
                        signing_secret_ref = excluded.signing_secret_ref,
                        language = excluded.language, enabled = excluded.enabled,
                        updated_at = excluded.updated_at",
            )
            .bind(&target.name)
            .bind(&target.company)
            .bind(&target.branch)
            .bind(target.channel.name())
            .bind(host)
            .bind(port)
            .bind(security)
            .bind(sender)
            .bind(username)
            .bind(password)
            .bind(Texts(recipients))
            .bind(Texts(copies))
            .bind(url)
            .bind(signing)
            .bind(&target.language)
            .bind(target.enabled)
            .bind(Utc::now())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every target, by name.
    pub async fn alert_targets(&self) -> Result<Vec<AlertTarget>, StoreError> {
        let rows: Vec<TargetRow> = on_pool!(&self.pool, pool => {
            sqlx::query_as(&format!("{TARGET_COLUMNS} ORDER BY name"))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(AlertTarget::from).collect())
    }

    /// The target of that name.
    pub async fn alert_target(&self, name: &str) -> Result<Option<AlertTarget>, StoreError> {
        let row: Option<TargetRow> = on_pool!(&self.pool, pool => {
            sqlx::query_as(&format!("{TARGET_COLUMNS} WHERE name = $1"))
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(AlertTarget::from))
    }

    /// Deletes a target and its alerts; false when there is none by that name.
    pub async fn delete_alert_target(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = on_pool!(&self.pool, pool => {
            sqlx::query("DELETE FROM alert_targets WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    /// Folds up to `limit` pending events into alerts, each alert one
    /// target, reason, company and branch: into the waiting alert of that
    /// key not being sent, or a new one sent no sooner than `interval` after
    /// the previous alert of the key. Events no enabled target hears of are
    /// consumed. Returns how many events it took (0 when another worker is
    /// folding).
    #[tracing::instrument(skip(self), err)]
    pub async fn fold_alert_events(
        &self,
        interval: Duration,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        if let Conn::Postgres(conn) = tx.conn() {
            let ours: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('eai.alerts.fold'))")
                    .fetch_one(conn)
                    .await?;
            if !ours {
                return Ok(0);
            }
        }
        let now = Utc::now();
        let (events, targets): (Vec<Event>, Vec<(i64, String, String)>) = on_conn!(&mut tx.conn(), c => {
            let events = sqlx::query_as(
                "SELECT id, reason, company, branch, uuid, destination, detail, happened_at
                   FROM alert_events ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&mut *c)
            .await?;
            let targets = sqlx::query_as(
                "SELECT id, company, branch FROM alert_targets WHERE enabled",
            )
            .fetch_all(&mut *c)
            .await?;
            (events, targets)
        });
        if events.is_empty() {
            return Ok(0);
        }
        let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
        for event in &events {
            for target in targets
                .iter()
                .filter(|target| hears(target, &event.company, &event.branch))
            {
                let key = (
                    target.0,
                    event.reason.clone(),
                    event.company.clone(),
                    event.branch.clone(),
                );
                groups.entry(key).or_default().add(
                    1,
                    [AlertSample {
                        uuid: event.uuid.clone(),
                        destination: event.destination.clone(),
                        detail: event.detail.clone(),
                        at: event.happened_at,
                    }],
                );
            }
        }
        let lock = match tx.conn() {
            Conn::Postgres(_) => " FOR UPDATE",
            Conn::Sqlite(_) => "",
        };
        for ((target, reason, company, branch), group) in groups {
            on_conn!(&mut tx.conn(), c => {
                let open: Option<(i64, i32, Json<Vec<AlertSample>>)> = sqlx::query_as(&format!(
                    "SELECT id, events, samples FROM alerts
                      WHERE target_id = $1 AND reason = $2 AND company = $3 AND branch = $4
                        AND status = 'waiting' AND (lease_until IS NULL OR lease_until < $5)
                      ORDER BY window_start DESC LIMIT 1{lock}"
                ))
                .bind(target)
                .bind(&reason)
                .bind(&company)
                .bind(&branch)
                .bind(now)
                .fetch_optional(&mut *c)
                .await?;
                match open {
                    Some((id, events, Json(samples))) => {
                        let mut merged = Group { events, samples };
                        merged.add(group.events, group.samples);
                        sqlx::query("UPDATE alerts SET events = $2, samples = $3 WHERE id = $1")
                            .bind(id)
                            .bind(merged.events)
                            .bind(Json(&merged.samples))
                            .execute(&mut *c)
                            .await?;
                    }
                    None => {
                        let previous: Option<DateTime<Utc>> = sqlx::query_scalar(
                            "SELECT max(window_start) FROM alerts
                              WHERE target_id = $1 AND reason = $2 AND company = $3 AND branch = $4",
                        )
                        .bind(target)
                        .bind(&reason)
                        .bind(&company)
                        .bind(&branch)
                        .fetch_one(&mut *c)
                        .await?;
                        let window = previous.map_or(now, |previous| after(previous, interval).max(now));
                        sqlx::query(
                            "INSERT INTO alerts (target_id, reason, company, branch, window_start,
                                                 events, samples, next_attempt_at, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $8)",
                        )
                        .bind(target)
                        .bind(&reason)
                        .bind(&company)
                        .bind(&branch)
                        .bind(window)
                        .bind(group.events)
                        .bind(Json(&group.samples))
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                    }
                }
            });
        }
        let ids: Vec<i64> = events.iter().map(|event| event.id).collect();
        match tx.conn() {
            Conn::Postgres(c) => {
                sqlx::query("DELETE FROM alert_events WHERE id = ANY($1)")
                    .bind(&ids)
                    .execute(c)
                    .await?;
            }
            Conn::Sqlite(c) => {
                sqlx::query(
                    "DELETE FROM alert_events WHERE id IN (SELECT value FROM json_each($1))",
                )
                .bind(json_rows(&ids)?)
                .execute(c)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// Puts a test alert for the named target in the outbox, already
    /// claimed under a lease of `lease` by whoever asked (so that it is sent
    /// at once and by them); None for an unknown target.
    pub async fn enqueue_test_alert(
        &self,
        name: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedAlert>, StoreError> {
        let now = Utc::now();
        let sample = AlertSample {
            uuid: None,
            destination: None,
            detail: Some("test alert".to_owned()),
            at: now,
        };
        let created: Option<(i64, i64)> = on_pool!(&self.pool, pool => {
            sqlx::query_as(
                "INSERT INTO alerts (target_id, reason, company, branch, window_start, events,
                                     samples, next_attempt_at, created_at, attempts, lease_until)
                 SELECT id, 'test', company, branch, $2, 1, $3, $2, $2, 1, $4
                   FROM alert_targets WHERE name = $1
                 RETURNING id, target_id",
            )
            .bind(name)
            .bind(now)
            .bind(Json(vec![sample]))
            .bind(after(now, lease))
            .fetch_optional(pool)
            .await?
        });
        match created {
            Some((id, target_id)) => self.claimed_alert(id, target_id).await,
            None => Ok(None),
        }
    }

    /// An alert and its target, as a claim hands them out.
    async fn claimed_alert(
        &self,
        id: i64,
        target_id: i64,
    ) -> Result<Option<ClaimedAlert>, StoreError> {
        let (alert, target): (Option<AlertRow>, Option<TargetRow>) = on_pool!(&self.pool, pool => {
            let alert = sqlx::query_as(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN alert_targets t ON t.id = a.target_id
                  WHERE a.id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            let target = sqlx::query_as(&format!("{TARGET_COLUMNS} WHERE id = $1"))
                .bind(target_id)
                .fetch_optional(pool)
                .await?;
            (alert, target)
        });
        Ok(alert.zip(target).map(|(alert, target)| ClaimedAlert {
            alert: alert.into(),
            target: target.into(),
        }))
    }

    /// Claims up to `limit` due alerts under a lease of `lease`, counting
    /// the attempt.
    #[tracing::instrument(skip(self), err)]
    pub async fn claim_alerts(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedAlert>, StoreError> {
        let now = Utc::now();
        let skip_locked = match &self.pool {
            Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Pool::Sqlite(_) => "",
        };
        let mut tx = self.begin().await?;
        let claimed: Vec<(i64, i64)> = on_conn!(&mut tx.conn(), c => {
            sqlx::query_as(&format!(
                "UPDATE alerts SET attempts = attempts + 1, lease_until = $2
                  WHERE id IN (SELECT id FROM alerts
                                WHERE status = 'waiting' AND next_attempt_at <= $1
                                  AND (lease_until IS NULL OR lease_until < $1)
                                ORDER BY next_attempt_at, id
                                LIMIT $3{skip_locked})
                  RETURNING id, target_id"
            ))
            .bind(now)
            .bind(after(now, lease))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?
        });
        tx.commit().await?;
        let mut alerts = Vec::with_capacity(claimed.len());
        for (id, target_id) in claimed {
            alerts.extend(self.claimed_alert(id, target_id).await?);
        }
        Ok(alerts)
    }

    /// Records how the attempt `attempt` of alert `id` ended, if it is still
    /// that attempt's; false when another sender took it meanwhile.
    pub async fn settle_alert(
        &self,
        id: i64,
        attempt: i32,
        outcome: &AlertOutcome,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let (status, error, next) = match outcome {
            AlertOutcome::Sent => ("sent", None, now),
            AlertOutcome::Retry(error, delay) => ("waiting", Some(error), after(now, *delay)),
            AlertOutcome::Failed(error) => ("failed", Some(error), now),
        };
        let settled = on_pool!(&self.pool, pool => {
            sqlx::query(
                "UPDATE alerts
                    SET status = $3, last_error = $4, lease_until = NULL, next_attempt_at = $5,
                        sent_at = CASE WHEN $3 = 'sent' THEN $6 ELSE sent_at END
                  WHERE id = $1 AND attempts = $2 AND status = 'waiting'",
            )
            .bind(id)
            .bind(attempt)
            .bind(status)
            .bind(error)
            .bind(next)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(settled == 1)
    }

    /// Alerts, newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = on_pool!(&self.pool, pool => {
            sqlx::query_as(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN alert_targets t ON t.id = a.target_id
                  WHERE ($1 = '' OR a.status = $1)
                  ORDER BY a.created_at DESC, a.id DESC
                  LIMIT $2"
            ))
            .bind(filter.status.as_deref().unwrap_or(""))
            .bind(filter.limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(Alert::from).collect())
    }
}
