//! Business messages in the outbox: enqueued for the destinations of their
//! (company, branch, transaction), claimed by senders, settled attempt by
//! attempt with the EAI statuses.
//!
//! A claim is short: on PostgreSQL one statement (`FOR UPDATE SKIP LOCKED`),
//! on SQLite a transaction (they run one at a time, so nothing is skipped),
//! then a lease: no row lock is held while a sender talks to a destination, and a
//! sender that dies leaves a lease that expires, after which another sender
//! retries the message with the same UUID. A message waits while an earlier message
//! of the same document to the same destination is unsettled, so each
//! destination sees a document's messages in order.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, SqliteConnection};

use crate::db::{after, on_conn, on_pool, storable, Conn, Pool};
use crate::log::Status;
use crate::{Store, StoreError};

/// How a destination is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// Published to an exchange; delivered when its ReceiptMessage comes back.
    Amqp,
    /// POSTed; delivered on a 2xx whose body is an ok ReceiptMessage.
    Http,
}

/// A configured destination.
#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct Destination {
    pub id: i64,
    pub name: String,
    pub company: String,
    pub branch: String,
    pub transaction: String,
    pub kind: String,
    pub exchange: Option<String>,
    pub routing_key: String,
    pub url: Option<String>,
    pub auth_header: Option<String>,
    pub auth_value: Option<String>,
    pub timeout_ms: i32,
    pub max_attempts: i32,
    pub blocked: bool,
    pub blocked_reason: Option<String>,
    /// The de/para namespace of the system behind it: our codes go out as
    /// that namespace knows them.
    pub namespace: Option<String>,
    /// `plain` (the schemas' arrays) or `wrapped` (Protheus traffic).
    pub list_style: String,
}

/// Credentials stay out of logs and debug output.
impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("transaction", &self.transaction)
            .field("exchange", &self.exchange)
            .field("url", &self.url)
            .field("auth_header", &self.auth_header)
            .field(
                "auth_value",
                &self.auth_value.as_ref().map(|_| "[REDACTED]"),
            )
            .field("blocked", &self.blocked)
            .field("namespace", &self.namespace)
            .field("list_style", &self.list_style)
            .finish()
    }
}

impl Destination {
    pub fn kind(&self) -> DestinationKind {
        if self.kind == "amqp" {
            DestinationKind::Amqp
        } else {
            DestinationKind::Http
        }
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(30_000))
    }
}

/// A message a sender claimed: it is `running` under this sender's lease.
/// As a row: the message's columns (`message_id` and `message_transaction`,
/// apart from its destination's own `id` and `transaction`), then the
/// destination's.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    #[sqlx(rename = "message_id")]
    pub id: i64,
    pub uuid: String,
    #[sqlx(rename = "message_transaction")]
    pub transaction: String,
    pub body: String,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    #[sqlx(flatten)]
    pub destination: Destination,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The destination's ok receipt (or 2xx with one) came back.
    Done,
    /// Worth trying again later (5xx, connection refused, broker nack).
    Failed(String),
    /// No answer within the timeout: the outcome is unknown; tried again later.
    NotDelivered(String),
    /// The destination refused the message (error receipt, 4xx): final.
    Rejected(String),
    /// The destination refused our credentials (401/403): it is blocked.
    Blocked(String),
}

impl Settlement {
    pub fn status(&self) -> Status {
        match self {
            Settlement::Done => Status::Done,
            Settlement::Failed(_) => Status::Failed,
            Settlement::NotDelivered(_) => Status::NotDelivered,
            Settlement::Rejected(_) => Status::Rejected,
            Settlement::Blocked(_) => Status::Blocked,
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Settlement::Done => "",
            Settlement::Failed(detail)
            | Settlement::NotDelivered(detail)
            | Settlement::Rejected(detail)
            | Settlement::Blocked(detail) => detail,
        }
    }
}

/// One finished attempt to settle ([`Store::settle`]).
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub message: &'a Claimed,
    pub started_at: DateTime<Utc>,
    pub settlement: &'a Settlement,
    /// When a failed or undelivered message may be tried again.
    pub retry_in: Duration,
}

/// What settling an attempt changed beyond the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settled {
    /// The lease was still ours and the message took the new status.
    pub recorded: bool,
    /// This attempt blocked its destination (the first to do so): raise the alert once.
    pub blocked_destination: bool,
}

/// How much longer than its timeout a claimed message stays leased.
const LEASE_MARGIN_SECS: f64 = 30.0;

/// Enqueues `body` for every destination of `(company, branch, transaction)`
/// inside the caller's transaction; returns how many messages were created.
pub async fn enqueue_routed(
    conn: &mut Conn<'_>,
    company: &str,
    branch: &str,
    transaction: &str,
    uuid: &str,
    body: &str,
    document_key: &str,
) -> Result<u64, StoreError> {
    let destinations: Vec<i64> = on_conn!(conn, c => {
        sqlx::query_scalar(
            "SELECT id FROM destinations WHERE company = $1 AND branch = $2 AND \"transaction\" = $3",
        )
        .bind(company)
        .bind(branch)
        .bind(transaction)
        .fetch_all(c)
        .await?
    });
    enqueue_to(conn, &destinations, transaction, uuid, body, document_key).await
}

/// Enqueues `body` for each of `destinations`; returns how many messages
/// were created (none for a destination that has that UUID already).
pub(crate) async fn enqueue_to(
    conn: &mut Conn<'_>,
    destinations: &[i64],
    transaction: &str,
    uuid: &str,
    body: &str,
    document_key: &str,
) -> Result<u64, StoreError> {
    let inserted = match conn {
        Conn::Postgres(c) => sqlx::query(
            "INSERT INTO outbox (uuid, kind, transaction, exchange, routing_key, body, destination_id, document_key)
         SELECT $1, 'message', $2, '', '', $3, d.id, $5
           FROM unnest($4::bigint[]) AS d(id)
         ON CONFLICT DO NOTHING",
        )
        .bind(uuid)
        .bind(transaction)
        .bind(body)
        .bind(destinations)
        .bind(document_key)
        .execute(&mut **c)
        .await?
        .rows_affected(),
        // `WHERE true` tells SQLite's parser the upsert's ON is not a join's.
        Conn::Sqlite(c) => sqlx::query(
            "INSERT INTO outbox (uuid, kind, \"transaction\", exchange, routing_key, body,
                                 destination_id, document_key)
             SELECT $1, 'message', $2, '', '', $3, d.value, $5
               FROM json_each($4) AS d
              WHERE true
             ON CONFLICT DO NOTHING",
        )
        .bind(uuid)
        .bind(transaction)
        .bind(body)
        .bind(sqlx::types::Json(destinations))
        .bind(document_key)
        .execute(&mut **c)
        .await?
        .rows_affected(),
    };
    Ok(inserted)
}

/// Sends the blocked messages of a destination that was unblocked back to
/// `waiting`, each with at least one attempt left: being blocked is not a
/// failed attempt. Returns how many go out again.
pub async fn release_blocked(conn: &mut Conn<'_>, destination_id: i64) -> Result<u64, sqlx::Error> {
    Ok(match conn {
        Conn::Postgres(c) => sqlx::query(
            "UPDATE outbox o
            SET status = 'waiting', next_attempt_at = now(),
                attempts = LEAST(o.attempts, d.max_attempts - 1)
           FROM destinations d
          WHERE d.id = o.destination_id AND o.destination_id = $1 AND o.status = 'blocked'
            AND o.held_at IS NULL",
        )
        .bind(destination_id)
        .execute(&mut **c)
        .await?
        .rows_affected(),
        Conn::Sqlite(c) => sqlx::query(
            "UPDATE outbox
                SET status = 'waiting', next_attempt_at = $2,
                    attempts = min(attempts, (SELECT max_attempts - 1 FROM destinations
                                               WHERE id = $1))
              WHERE destination_id = $1 AND status = 'blocked' AND held_at IS NULL",
        )
        .bind(destination_id)
        .bind(Utc::now())
        .execute(&mut **c)
        .await?
        .rows_affected(),
    })
}

/// [`Store::claim_messages`] on PostgreSQL, one statement (its own
/// transaction): a running message whose lease expired on its last attempt
/// is settled `not_delivered`; the due messages are locked, skipping those
/// another claim holds, leased, and returned with their destinations as the
/// lease read them. The two sets are disjoint (attempts left or none), so
/// neither needs to see the other's change.
///
/// The limit is written into the statement, not bound: PostgreSQL plans a
/// bound `LIMIT` for a tenth of the rows, so it found its own plan dearer
/// than one for the value and planned the statement again at every claim,
/// which took as long as running it. A sender always asks for the same
/// limit, so its claim is one statement, planned once per connection.
async fn claim_in_postgres(
    conn: &mut PgConnection,
    sender: &str,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "WITH expired AS (
             UPDATE outbox o SET status = 'not_delivered', lease_until = NULL,
                    last_error = 'the sender stopped answering during the last attempt'
               FROM destinations d
              WHERE d.id = o.destination_id AND o.kind = 'message' AND o.status = 'running'
                AND o.discarded_at IS NULL AND o.lease_until < now() AND o.attempts >= d.max_attempts),
         due AS MATERIALIZED (
             SELECT o.id
               FROM outbox o
               JOIN destinations d ON d.id = o.destination_id
              WHERE o.kind = 'message' AND NOT d.blocked AND o.attempts < d.max_attempts
                AND o.discarded_at IS NULL
                AND o.status IN ('waiting', 'failed', 'not_delivered', 'running')
                AND ((o.status IN ('waiting', 'failed', 'not_delivered') AND o.next_attempt_at <= now())
                     OR (o.status = 'running' AND o.lease_until < now()))
                AND NOT EXISTS (SELECT 1 FROM outbox p
                                 WHERE p.kind = 'message' AND p.destination_id = o.destination_id
                                   AND p.document_key = o.document_key AND p.id < o.id
                                   AND p.status NOT IN ('done', 'rejected')
                                   AND p.discarded_at IS NULL)
              ORDER BY o.id
              LIMIT {limit}
                FOR UPDATE OF o SKIP LOCKED)
         UPDATE outbox o
            SET status = 'running', attempts = o.attempts + 1, claimed_by = $1,
                lease_until = now() + make_interval(secs => d.timeout_ms / 1000.0 + $2)
           FROM due, destinations d
          WHERE o.id = due.id AND d.id = o.destination_id
      RETURNING o.id AS message_id, o.uuid, o.transaction AS message_transaction, o.body,
                o.attempts AS attempt, d.*",
    ))
    .bind(sender)
    .bind(LEASE_MARGIN_SECS)
    .fetch_all(&mut *conn)
    .await?)
}

/// [`Store::claim_messages`] on SQLite, inside a transaction no other runs
/// beside: the due messages are read, then leased one by one, each for its
/// destination's timeout and the margin.
async fn claim_in_sqlite(
    conn: &mut SqliteConnection,
    sender: &str,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let now = Utc::now();
    sqlx::query(
        "UPDATE outbox AS o SET status = 'not_delivered', lease_until = NULL,
                last_error = 'the sender stopped answering during the last attempt'
           FROM destinations d
          WHERE d.id = o.destination_id AND o.kind = 'message' AND o.status = 'running'
            AND o.discarded_at IS NULL AND o.lease_until < $1 AND o.attempts >= d.max_attempts",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let due: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT o.id, o.destination_id
           FROM outbox o
           JOIN destinations d ON d.id = o.destination_id
          WHERE o.kind = 'message' AND NOT d.blocked AND o.attempts < d.max_attempts
            AND o.discarded_at IS NULL
            AND o.status IN ('waiting', 'failed', 'not_delivered', 'running')
            AND ((o.status IN ('waiting', 'failed', 'not_delivered') AND o.next_attempt_at <= $2)
                 OR (o.status = 'running' AND o.lease_until < $2))
            AND NOT EXISTS (SELECT 1 FROM outbox p
                             WHERE p.kind = 'message' AND p.destination_id = o.destination_id
                               AND p.document_key = o.document_key AND p.id < o.id
                               AND p.status NOT IN ('done', 'rejected')
                               AND p.discarded_at IS NULL)
          ORDER BY o.id
          LIMIT $1",
    )
    .bind(limit)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let destination_ids: Vec<i64> = due.iter().map(|(_, destination)| *destination).collect();
    let destinations: Vec<Destination> = sqlx::query_as(&format!(
        "{DESTINATION_COLUMNS} WHERE id IN (SELECT value FROM json_each($1))"
    ))
    .bind(sqlx::types::Json(&destination_ids))
    .fetch_all(&mut *conn)
    .await?;
    let margin = Duration::from_secs_f64(LEASE_MARGIN_SECS);
    let mut claimed = Vec::with_capacity(due.len());
    for (id, destination_id) in due {
        let Some(destination) = destinations.iter().find(|d| d.id == destination_id) else {
            continue;
        };
        let (uuid, transaction, body, attempt): (String, String, String, i32) = sqlx::query_as(
            "UPDATE outbox SET status = 'running', attempts = attempts + 1, claimed_by = $2,
                    lease_until = $3
              WHERE id = $1
          RETURNING uuid, \"transaction\", body, attempts",
        )
        .bind(id)
        .bind(sender)
        .bind(after(now, destination.timeout() + margin))
        .fetch_one(&mut *conn)
        .await?;
        claimed.push(Claimed {
            id,
            uuid,
            transaction,
            body,
            attempt,
            destination: destination.clone(),
        });
    }
    Ok(claimed)
}

impl Store {
    /// Enqueues `body` for the named destination; false when that UUID was already enqueued there.
    pub async fn enqueue_for(
        &self,
        destination: &str,
        uuid: &str,
        transaction: &str,
        body: &str,
        document_key: &str,
    ) -> Result<Option<bool>, StoreError> {
        let Some(destination) = self.destination(destination).await? else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let inserted = enqueue_to(
            &mut conn.conn(),
            &[destination.id],
            transaction,
            uuid,
            body,
            document_key,
        )
        .await?;
        self.written();
        Ok(Some(inserted == 1))
    }

    /// Enqueues `body` for every destination of its route, in its own transaction.
    pub async fn enqueue_routed(
        &self,
        company: &str,
        branch: &str,
        transaction: &str,
        uuid: &str,
        body: &str,
        document_key: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let inserted = enqueue_routed(
            &mut conn.conn(),
            company,
            branch,
            transaction,
            uuid,
            body,
            document_key,
        )
        .await?;
        self.written();
        Ok(inserted)
    }

    pub async fn destination(&self, name: &str) -> Result<Option<Destination>, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as(&format!("{DESTINATION_COLUMNS} WHERE name = $1"))
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn destinations(&self) -> Result<Vec<Destination>, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_as(&format!("{DESTINATION_COLUMNS} ORDER BY name"))
                .fetch_all(pool)
                .await?
        }))
    }

    /// Claims up to `limit` messages that are due, for `sender`.
    ///
    /// Due: waiting, or failed/not delivered with attempts left and its retry
    /// time reached, or running under a lease that expired (its sender died);
    /// never for a blocked destination, never ahead of an unsettled earlier
    /// message of the same document to the same destination. A running
    /// message whose lease expired on its last attempt is settled
    /// `not_delivered` instead of being tried beyond `max_attempts`.
    pub async fn claim_messages(
        &self,
        sender: &str,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut claimed = match &self.pool {
            Pool::Postgres(pool) => {
                claim_in_postgres(&mut *pool.acquire().await?, sender, limit).await?
            }
            Pool::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let claimed = match tx.conn() {
                    Conn::Postgres(conn) => claim_in_postgres(conn, sender, limit).await?,
                    Conn::Sqlite(conn) => claim_in_sqlite(conn, sender, limit).await?,
                };
                tx.commit().await?;
                claimed
            }
        };
        claimed.sort_by_key(|message| message.id);
        Ok(claimed)
    }

    /// Records how each attempt ended, for the messages this sender still
    /// holds under that attempt's claim (a message claimed again since is
    /// left to its newer attempt); one result per attempt, in their order.
    /// All of them change in one transaction: on PostgreSQL one statement
    /// (one round trip and one commit for the batch), on SQLite three
    /// statements per attempt. A destination blocked (401/403) by several of
    /// them is blocked by the first, the only one whose result says so; the
    /// block's reason is that attempt's detail.
    pub async fn settle(
        &self,
        sender: &str,
        attempts: &[Attempt<'_>],
    ) -> Result<Vec<Settled>, StoreError> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pool {
            Pool::Postgres(pool) => {
                let ids: Vec<i64> = attempts.iter().map(|a| a.message.id).collect();
                let numbers: Vec<i32> = attempts.iter().map(|a| a.message.attempt).collect();
                let started: Vec<DateTime<Utc>> = attempts.iter().map(|a| a.started_at).collect();
                let statuses: Vec<&str> = attempts
                    .iter()
                    .map(|a| a.settlement.status().as_str())
                    .collect();
                let details: Vec<String> = attempts
                    .iter()
                    .map(|a| storable(a.settlement.detail()))
                    .collect();
                let retries: Vec<f64> = attempts.iter().map(|a| a.retry_in.as_secs_f64()).collect();
                let destinations: Vec<i64> =
                    attempts.iter().map(|a| a.message.destination.id).collect();
                let rows: Vec<(bool, bool)> = sqlx::query_as(
                    "WITH given AS (
                 SELECT * FROM unnest($2::bigint[], $3::int[], $4::timestamptz[], $5::text[],
                                      $6::text[], $7::float8[], $8::bigint[])
                        WITH ORDINALITY
                        AS g(id, attempt, started_at, status, detail, retry_secs,
                             destination_id, n)),
             attempt AS (
                 INSERT INTO outbox_attempts (outbox_id, attempt, sender, started_at, status, detail)
                 SELECT id, attempt, $1, started_at, status, detail FROM given ORDER BY n),
             settled AS (
                 UPDATE outbox o
                    SET status = g.status, last_error = NULLIF(g.detail, ''), lease_until = NULL,
                        attempts = CASE WHEN g.status = 'blocked' THEN o.attempts - 1 ELSE o.attempts END,
                        sent_at = CASE WHEN g.status = 'done' THEN now() ELSE o.sent_at END,
                        next_attempt_at = now() + make_interval(secs => g.retry_secs)
                   FROM given g
                  WHERE o.id = g.id AND o.attempts = g.attempt AND o.claimed_by = $1
                    AND o.status = 'running'
              RETURNING o.id),
             first_block AS (
                 SELECT DISTINCT ON (destination_id) destination_id, detail, n
                   FROM given WHERE status = 'blocked'
                  ORDER BY destination_id, n),
             blocked AS (
                 UPDATE destinations d
                    SET blocked = true, blocked_reason = f.detail, blocked_at = now()
                   FROM first_block f
                  WHERE d.id = f.destination_id AND NOT d.blocked
              RETURNING d.id)
             SELECT g.id IN (SELECT id FROM settled),
                    EXISTS (SELECT 1 FROM blocked b JOIN first_block f ON f.destination_id = b.id
                             WHERE f.n = g.n)
               FROM given g
              ORDER BY g.n",
                )
                .bind(sender)
                .bind(&ids)
                .bind(&numbers)
                .bind(&started)
                .bind(&statuses)
                .bind(&details)
                .bind(&retries)
                .bind(&destinations)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(recorded, blocked_destination)| Settled {
                        recorded,
                        blocked_destination,
                    })
                    .collect())
            }
            // Three statements per attempt in one transaction: SQLite has no
            // data-modifying WITH.
            Pool::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let now = Utc::now();
                let mut settled = Vec::with_capacity(attempts.len());
                for attempt in attempts {
                    let Attempt {
                        message,
                        started_at,
                        settlement,
                        retry_in,
                    } = attempt;
                    let detail = storable(settlement.detail());
                    let blocked_reason = match settlement {
                        Settlement::Blocked(_) => Some(detail.as_str()),
                        _ => None,
                    };
                    settled.push(on_conn!(&mut tx.conn(), c => {
                        sqlx::query(
                            "INSERT INTO outbox_attempts (outbox_id, attempt, sender, started_at, status, detail)
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(message.id)
                        .bind(message.attempt)
                        .bind(sender)
                        .bind(started_at)
                        .bind(settlement.status())
                        .bind(&detail)
                        .execute(&mut *c)
                        .await?;
                        let recorded = sqlx::query(
                            "UPDATE outbox
                                SET status = $3, last_error = NULLIF($4, ''), lease_until = NULL,
                                    attempts = CASE WHEN $3 = 'blocked' THEN attempts - 1 ELSE attempts END,
                                    sent_at = CASE WHEN $3 = 'done' THEN $5 ELSE sent_at END,
                                    next_attempt_at = $6
                              WHERE id = $1 AND claimed_by = $2 AND status = 'running' AND attempts = $7",
                        )
                        .bind(message.id)
                        .bind(sender)
                        .bind(settlement.status())
                        .bind(&detail)
                        .bind(now)
                        .bind(after(now, *retry_in))
                        .bind(message.attempt)
                        .execute(&mut *c)
                        .await?;
                        let blocked = sqlx::query(
                            "UPDATE destinations SET blocked = true, blocked_reason = $2, blocked_at = $3
                              WHERE id = $1 AND $2 IS NOT NULL AND NOT blocked",
                        )
                        .bind(message.destination.id)
                        .bind(blocked_reason)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                        Settled {
                            recorded: recorded.rows_affected() == 1,
                            blocked_destination: blocked.rows_affected() == 1,
                        }
                    }));
                }
                tx.commit().await?;
                Ok(settled)
            }
        }
    }

    /// Settles the message a destination's ReceiptMessage names (it may come
    /// after the attempt timed out). Only AMQP copies are settled this way (an
    /// HTTP destination answers on its own connection); `destination` narrows it
    /// to one copy when the receipt's correlation says which destination sent it.
    /// Returns the new status, if a message was waiting for it.
    pub async fn settle_by_receipt(
        &self,
        uuid: &str,
        destination: Option<&str>,
        ok: bool,
        detail: &str,
    ) -> Result<Option<String>, StoreError> {
        let status = if ok { "done" } else { "rejected" };
        Ok(match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "UPDATE outbox o
                SET status = $2, last_error = NULLIF($3, ''), lease_until = NULL,
                    sent_at = CASE WHEN $2 = 'done' THEN now() ELSE o.sent_at END
               FROM destinations d
              WHERE d.id = o.destination_id AND d.kind = 'amqp'
                AND ($4::text IS NULL OR d.name = $4)
                AND o.uuid = $1 AND o.kind = 'message'
                AND o.status IN ('running', 'not_delivered', 'failed')
          RETURNING o.status",
                )
                .bind(uuid)
                .bind(status)
                .bind(detail)
                .bind(destination)
                .fetch_optional(pool)
                .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "UPDATE outbox AS o
                    SET status = $2, last_error = NULLIF($3, ''), lease_until = NULL,
                        sent_at = CASE WHEN $2 = 'done' THEN $5 ELSE o.sent_at END
                   FROM destinations d
                  WHERE d.id = o.destination_id AND d.kind = 'amqp'
                    AND ($4 IS NULL OR d.name = $4)
                    AND o.uuid = $1 AND o.kind = 'message'
                    AND o.status IN ('running', 'not_delivered', 'failed')
              RETURNING status",
                )
                .bind(uuid)
                .bind(status)
                .bind(detail)
                .bind(destination)
                .bind(Utc::now())
                .fetch_optional(pool)
                .await?
            }
        })
    }

    /// The current status of a message.
    pub async fn message_status(&self, id: i64) -> Result<Option<Status>, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// When the next retry is due, to sleep until then.
    pub async fn next_retry_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(on_pool!(&self.pool, pool => {
            // Read in `outbox_retry_due`'s order, not as a minimum over every waiting message.
            sqlx::query_scalar(
            "SELECT o.next_attempt_at FROM outbox o JOIN destinations d ON d.id = o.destination_id
              WHERE o.kind = 'message' AND NOT d.blocked AND o.attempts < d.max_attempts
                AND o.discarded_at IS NULL AND o.status IN ('waiting', 'failed', 'not_delivered')
              ORDER BY o.next_attempt_at
              LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Unblocks a destination (its credentials were fixed) and releases its
    /// blocked messages. Returns how many messages go out again, or None for an unknown name.
    pub async fn unblock_destination(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.release_destination(name, None).await
    }

    /// Gives a destination new credentials (`header: value`, written only,
    /// never read back by operators) and unblocks it, as an import with a
    /// new `auth_value` does. Returns how many messages go out again.
    pub async fn set_destination_credentials(
        &self,
        name: &str,
        header: &str,
        value: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.release_destination(name, Some((header, value))).await
    }

    async fn release_destination(
        &self,
        name: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin().await?;
        let id: Option<i64> = on_conn!(&mut tx.conn(), conn => {
            sqlx::query_scalar(
            "UPDATE destinations SET blocked = false, blocked_reason = NULL, blocked_at = NULL,
                    auth_header = CASE WHEN $2 THEN $3 ELSE auth_header END,
                    auth_value = CASE WHEN $2 THEN $4 ELSE auth_value END
              WHERE name = $1 RETURNING id",
            )
            .bind(name)
            .bind(credentials.is_some())
            .bind(credentials.map(|(header, _)| header))
            .bind(credentials.map(|(_, value)| value))
            .fetch_optional(conn)
            .await?
        });
        let Some(id) = id else {
            return Ok(None);
        };
        let released = release_blocked(&mut tx.conn(), id).await?;
        tx.commit().await?;
        Ok(Some(released))
    }
}

const DESTINATION_COLUMNS: &str =
    "SELECT id, name, company, branch, \"transaction\", kind, exchange, routing_key, url, auth_header,
            auth_value, timeout_ms, max_attempts, blocked, blocked_reason, namespace, list_style
       FROM destinations";
