//! Dead letters, as the worker recorded them from the dead-letter queue:
//! listed with their reason, replayed to where they were first published,
//! or discarded with a note ([`Store::discard`]). On SQLite a replay's
//! transaction holds the writer lock instead of the row's lock.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use utoipa::ToSchema;

use crate::db::{on_pool, storable, Conn, Pool};
use crate::inbound_queue::{enqueue_in, Queued};
use crate::log::{as_json, record_action, Acted, ItemId};
use crate::page::{Cursor, Page};
use crate::{Store, StoreError};

/// A dead letter as it arrived on the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterIn<'a> {
    /// The worker's `x-eai-dead-letter-id`, when it dead-lettered it.
    pub dead_letter_id: Option<&'a str>,
    /// `Header.UUID` of an envelope, the correlation of anything else.
    pub uuid: Option<&'a str>,
    pub code: &'a str,
    pub reason: &'a str,
    /// Where it had been published: where a replay sends it again.
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub body: &'a [u8],
}

/// One dead letter, as operators list it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeadLetter {
    #[schema(value_type = String, example = "dead-3")]
    pub id: ItemId,
    pub uuid: Option<String>,
    pub code: String,
    pub reason: String,
    pub exchange: String,
    pub routing_key: String,
    pub dead_at: DateTime<Utc>,
    pub replays: i32,
    pub replayed_at: Option<DateTime<Utc>>,
    pub discarded_at: Option<DateTime<Utc>>,
    /// Only in [`Store::dead_letter`]: the body (JSON when it is JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    uuid: Option<String>,
    code: String,
    reason: String,
    exchange: String,
    routing_key: String,
    dead_at: DateTime<Utc>,
    replays: i32,
    replayed_at: Option<DateTime<Utc>>,
    discarded_at: Option<DateTime<Utc>>,
}

impl From<Row> for DeadLetter {
    fn from(row: Row) -> DeadLetter {
        DeadLetter {
            id: ItemId::DeadLetter(row.id),
            uuid: row.uuid,
            code: row.code,
            reason: row.reason,
            exchange: row.exchange,
            routing_key: row.routing_key,
            dead_at: row.dead_at,
            replays: row.replays,
            replayed_at: row.replayed_at,
            discarded_at: row.discarded_at,
            body: None,
        }
    }
}

/// Which dead letters a list or a bulk replay takes.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    pub code: Option<String>,
    pub uuid: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only those never replayed nor discarded (what still needs someone).
    pub open_only: bool,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// What a replay publishes: the body with its original properties, to its
/// original exchange and routing key.
#[derive(Debug, Clone, FromRow)]
pub struct Replay {
    pub exchange: String,
    pub routing_key: String,
    pub correlation_id: Option<String>,
    pub message_id: Option<String>,
    pub reply_to: Option<String>,
    pub body: Vec<u8>,
}

impl Replay {
    /// As the database's inbound queue keeps it.
    fn queued(&self) -> Queued<'_> {
        Queued {
            routing_key: &self.routing_key,
            body: &self.body,
            reply_to: self.reply_to.as_deref(),
            correlation_id: self.correlation_id.as_deref(),
            message_id: self.message_id.as_deref(),
            delay: std::time::Duration::ZERO,
        }
    }
}

/// A dead letter as a replay reads it.
#[derive(FromRow)]
struct Stored {
    #[sqlx(flatten)]
    replay: Replay,
    discarded_at: Option<DateTime<Utc>>,
    replayed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, uuid, code, reason, exchange, routing_key, dead_at, replays,
        replayed_at, discarded_at";

impl Store {
    /// Records a dead letter; one the worker named is recorded once however
    /// often the dead-letter queue delivers it.
    pub async fn record_dead_letter(&self, dead: &DeadLetterIn<'_>) -> Result<(), StoreError> {
        on_pool!(&self.pool, pool => {
            sqlx::query(
                "INSERT INTO dead_letters (dead_letter_id, uuid, code, reason, exchange, routing_key,
                                           correlation_id, message_id, reply_to, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (dead_letter_id) DO NOTHING",
            )
            .bind(dead.dead_letter_id.map(storable))
            .bind(dead.uuid.map(storable))
            .bind(storable(dead.code))
            .bind(storable(dead.reason))
            .bind(storable(dead.exchange))
            .bind(storable(dead.routing_key))
            .bind(dead.correlation_id.map(storable))
            .bind(dead.message_id.map(storable))
            .bind(dead.reply_to.map(storable))
            .bind(dead.body)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Dead letters, newest first, one page.
    pub async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Page<DeadLetter>, StoreError> {
        let sql = match &self.pool {
            Pool::Postgres(_) => format!(
                "SELECT {COLUMNS} FROM dead_letters
                  WHERE ($1::text IS NULL OR code = $1) AND ($2::text IS NULL OR uuid = $2)
                    AND ($3::timestamptz IS NULL OR dead_at >= $3)
                    AND ($4::timestamptz IS NULL OR dead_at < $4)
                    AND (NOT $5 OR (replayed_at IS NULL AND discarded_at IS NULL))
                    AND ($6::timestamptz IS NULL OR (dead_at, id) < ($6, $7))
                  ORDER BY dead_at DESC, id DESC
                  LIMIT $8"
            ),
            Pool::Sqlite(_) => format!(
                "SELECT {COLUMNS} FROM dead_letters
                  WHERE ($1 IS NULL OR code = $1) AND ($2 IS NULL OR uuid = $2)
                    AND ($3 IS NULL OR dead_at >= $3)
                    AND ($4 IS NULL OR dead_at < $4)
                    AND (NOT $5 OR (replayed_at IS NULL AND discarded_at IS NULL))
                    AND ($6 IS NULL OR (dead_at, id) < ($6, $7))
                  ORDER BY dead_at DESC, id DESC
                  LIMIT $8"
            ),
        };
        let rows: Vec<Row> = on_pool!(&self.pool, pool => sqlx::query_as(&sql)
            .bind(&filter.code)
            .bind(&filter.uuid)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.open_only)
            .bind(filter.cursor.as_ref().map(|cursor| cursor.at))
            .bind(filter.cursor.as_ref().map(|cursor| cursor.id))
            .bind(filter.limit + 1)
            .fetch_all(pool)
            .await?);
        let items = rows.into_iter().map(DeadLetter::from).collect();
        Ok(Page::of(items, filter.limit, |dead: &DeadLetter| Cursor {
            at: dead.dead_at,
            key: String::new(),
            id: dead.id.number(),
        }))
    }

    /// One dead letter with its body.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        #[derive(FromRow)]
        struct WithBody {
            #[sqlx(flatten)]
            row: Row,
            body: Vec<u8>,
        }
        let sql = format!("SELECT {COLUMNS}, body FROM dead_letters WHERE id = $1");
        let found: Option<WithBody> = on_pool!(&self.pool, pool => sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        Ok(found.map(|found| DeadLetter {
            body: Some(as_json(&found.body)),
            ..DeadLetter::from(found.row)
        }))
    }

    /// Replays a dead letter: `publish` sends it again (with confirms), and
    /// only then is the replay recorded (on SQLite, which has no broker, it
    /// is queued in the database in the same transaction). A discarded one is not replayed,
    /// nor, with `only_open` (a bulk replay), one replayed meanwhile.
    pub async fn replay_dead_letter<F, Fut>(
        &self,
        id: i64,
        actor: &str,
        only_open: bool,
        publish: F,
    ) -> Result<Acted, StoreError>
    where
        F: FnOnce(Replay) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut tx = self.begin().await?;
        let row: Option<Stored> = match tx.conn() {
            Conn::Postgres(conn) => {
                sqlx::query_as(
                    "SELECT exchange, routing_key, correlation_id, message_id, reply_to, body,
                            discarded_at, replayed_at
                       FROM dead_letters WHERE id = $1 FOR UPDATE",
                )
                .bind(id)
                .fetch_optional(conn)
                .await?
            }
            Conn::Sqlite(conn) => {
                sqlx::query_as(
                    "SELECT exchange, routing_key, correlation_id, message_id, reply_to, body,
                            discarded_at, replayed_at
                       FROM dead_letters WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(conn)
                .await?
            }
        };
        let Some(stored) = row else {
            return Ok(Acted::NotFound);
        };
        let item = ItemId::DeadLetter(id);
        if stored.discarded_at.is_some() {
            return Ok(Acted::Refused(format!("{item} was discarded")));
        }
        if let (true, Some(at)) = (only_open, stored.replayed_at) {
            return Ok(Acted::Refused(format!("{item} was replayed at {at}")));
        }
        match tx.conn() {
            // SQLite runs without a broker (the configuration refuses one):
            // the envelope goes back on the database's queue in this very
            // transaction, whose write lock another connection would wait for.
            Conn::Sqlite(_) => enqueue_in(&mut tx.conn(), &stored.replay.queued()).await?,
            Conn::Postgres(_) => {
                if let Err(error) = publish(stored.replay).await {
                    return Ok(Acted::Unavailable(format!(
                        "publishing it again failed: {error}"
                    )));
                }
            }
        }
        match tx.conn() {
            Conn::Postgres(conn) => {
                sqlx::query(
                    "UPDATE dead_letters SET replayed_at = now(), replayed_by = $2, replays = replays + 1
                      WHERE id = $1",
                )
                .bind(id)
                .bind(actor)
                .execute(conn)
                .await?;
            }
            Conn::Sqlite(conn) => {
                sqlx::query(
                    "UPDATE dead_letters SET replayed_at = $3, replayed_by = $2, replays = replays + 1
                      WHERE id = $1",
                )
                .bind(id)
                .bind(actor)
                .bind(Utc::now())
                .execute(conn)
                .await?;
            }
        }
        record_action(&mut tx.conn(), item, actor, "replay", "").await?;
        tx.commit().await?;
        Ok(Acted::Done)
    }
}
