//! The two backends the store runs on, and what differs between them besides
//! their SQL: how a transaction takes the write lock, how the wake-ups of
//! idle senders and receivers travel, and how exact decimals and lists are
//! kept.
//!
//! - **PostgreSQL** (the fleet): a pool of connections; transactions lock
//!   rows and advisory keys; triggers notify the wake-ups.
//! - **SQLite** (the embedded default, one file in a data directory): one
//!   writer at a time. Every transaction begins `IMMEDIATE` after taking the
//!   process's writer lock, so writers queue up in order instead of failing
//!   busy, and locks, `SKIP LOCKED` and advisory keys have nothing left to
//!   do; a committed write wakes this process's idle senders and receivers
//!   (another process's writes are seen at the next poll).
//!
//! Code that runs the same statement on both takes a [`Conn`] and matches it
//! with [`on_conn!`]; code whose SQL differs matches the variants.
//!
//! # Layout
//!
//! - [`Pool`], [`Conn`], [`Tx`] and [`Savepoint`]: a pool, a connection, a
//!   transaction and a savepoint of either backend.
//! - [`Embedded`]: the SQLite backend's writer lock and wake-ups.
//! - [`Exact`] and [`Texts`]: a decimal and a list of text as either backend
//!   keeps them (NUMERIC and `text[]`; TEXT and a JSON array).

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{
    Connection, Decode, Encode, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection,
    SqlitePool, Type,
};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use crate::StoreError;

/// Runs `$body` with `$c` bound to the `&mut` connection of whichever
/// backend `$conn` (a `&mut Conn`) is on: for statements both speak alike.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Postgres($c) => {
                let $c: &mut sqlx::PgConnection = &mut **$c;
                $body
            }
            $crate::db::Conn::Sqlite($c) => {
                let $c: &mut sqlx::SqliteConnection = &mut **$c;
                $body
            }
        }
    };
}

/// Runs `$body` with `$p` bound to the pool of whichever backend `$pool`
/// (a `&Pool`) is on: for statements both speak alike.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::db::Pool::Postgres($p) => $body,
            $crate::db::Pool::Sqlite($p) => $body,
        }
    };
}

pub(crate) use {on_conn, on_pool};

/// A pool of connections to either backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Pool {
    pub(crate) async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// A connection of the pool, outside any transaction.
    pub(crate) async fn acquire(&self) -> Result<Held, StoreError> {
        Ok(match self {
            Pool::Postgres(pool) => Held::Postgres(pool.acquire().await?),
            Pool::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
        })
    }
}

/// A connection taken from the pool, given back when dropped.
pub(crate) enum Held {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Held {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Held::Postgres(conn) => Conn::Postgres(conn),
            Held::Sqlite(conn) => Conn::Sqlite(conn),
        }
    }
}

/// One connection of either backend, inside a transaction or not.
pub enum Conn<'c> {
    Postgres(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

impl Conn<'_> {
    /// A savepoint on this connection's transaction.
    pub(crate) async fn savepoint(&mut self) -> Result<Savepoint<'_>, StoreError> {
        Ok(match self {
            Conn::Postgres(conn) => Savepoint::Postgres(conn.begin().await?),
            Conn::Sqlite(conn) => Savepoint::Sqlite(conn.begin().await?),
        })
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self, Conn::Sqlite(_))
    }
}

/// A transaction of either backend. An SQLite one holds the writer lock
/// until it ends.
pub(crate) enum Tx {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        OwnedMutexGuard<()>,
        Arc<Embedded>,
    ),
}

impl Tx {
    /// Begins a transaction on `pool`; an SQLite one waits its turn for the
    /// writer lock within `timeout`.
    pub(crate) async fn begin(
        pool: &Pool,
        embedded: &Arc<Embedded>,
        timeout: Duration,
    ) -> Result<Tx, StoreError> {
        Ok(match pool {
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Pool::Sqlite(pool) => {
                let writer = tokio::time::timeout(timeout, embedded.writer.clone().lock_owned())
                    .await
                    .map_err(|_| StoreError::TimedOut(timeout))?;
                let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                Tx::Sqlite(tx, writer, embedded.clone())
            }
        })
    }

    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Postgres(tx) => Conn::Postgres(tx),
            Tx::Sqlite(tx, ..) => Conn::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(tx, writer, embedded) => {
                tx.commit().await?;
                drop(writer);
                embedded.written();
            }
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Postgres(tx) => tx.rollback().await?,
            Tx::Sqlite(tx, ..) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// A savepoint inside a transaction of either backend.
pub(crate) enum Savepoint<'c> {
    Postgres(sqlx::Transaction<'c, Postgres>),
    Sqlite(sqlx::Transaction<'c, Sqlite>),
}

impl Savepoint<'_> {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Savepoint::Postgres(tx) => Conn::Postgres(tx),
            Savepoint::Sqlite(tx) => Conn::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Savepoint::Postgres(tx) => tx.commit().await?,
            Savepoint::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Savepoint::Postgres(tx) => tx.rollback().await?,
            Savepoint::Sqlite(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// The SQLite backend's own state: the writer lock its transactions take in
/// turn, and the count of committed writes its wake-ups watch.
#[derive(Debug)]
pub(crate) struct Embedded {
    writer: Arc<Mutex<()>>,
    writes: watch::Sender<u64>,
}

impl Default for Embedded {
    fn default() -> Embedded {
        Embedded {
            writer: Arc::new(Mutex::new(())),
            writes: watch::Sender::new(0),
        }
    }
}

impl Embedded {
    /// A write committed: wakes whoever waits for one.
    pub(crate) fn written(&self) {
        self.writes
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Watches the committed writes from now on.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.writes.subscribe()
    }
}

/// An exact decimal as either backend keeps it: PostgreSQL's NUMERIC, or the
/// decimal's text in SQLite (which has no exact numeric type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exact(pub Decimal);

impl Type<Postgres> for Exact {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Exact {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Decode<'_, Postgres> for Exact {
    fn decode(value: PgValueRef<'_>) -> Result<Exact, BoxDynError> {
        Ok(Exact(<Decimal as Decode<Postgres>>::decode(value)?))
    }
}

impl Type<Sqlite> for Exact {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty) || <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Exact {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl Decode<'_, Sqlite> for Exact {
    fn decode(value: SqliteValueRef<'_>) -> Result<Exact, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(Exact(text.parse::<Decimal>()?))
    }
}

/// A list of text as either backend keeps it: PostgreSQL's `text[]`, or a
/// JSON array in SQLite.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Texts(pub Vec<String>);

impl Type<Postgres> for Texts {
    fn type_info() -> PgTypeInfo {
        <Vec<String> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Texts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Vec<String> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl Decode<'_, Postgres> for Texts {
    fn decode(value: PgValueRef<'_>) -> Result<Texts, BoxDynError> {
        Ok(Texts(<Vec<String> as Decode<Postgres>>::decode(value)?))
    }
}

impl Type<Sqlite> for Texts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Texts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

impl Decode<'_, Sqlite> for Texts {
    fn decode(value: SqliteValueRef<'_>) -> Result<Texts, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(Texts(serde_json::from_str(&text)?))
    }
}

/// The moment `wait` after `from` (the latest representable one for a wait
/// too long to count): what PostgreSQL writes `now() + make_interval(…)`,
/// as SQLite's statements bind it.
pub(crate) fn after(
    from: chrono::DateTime<chrono::Utc>,
    wait: Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|wait| from.checked_add_signed(wait))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `text` as a text column can keep it: PostgreSQL refuses NUL, which a
/// destination's answer or a broker's header may carry; it becomes U+FFFD.
pub(crate) fn storable(text: &str) -> String {
    text.replace(char::from(0), "\u{FFFD}")
}

/// The row at `place` (counted from 1, as `WITH ORDINALITY` counts) among
/// `rows`: how a batch's statement names a row it writes before the row has
/// its id.
pub(crate) fn at_place<T>(rows: &[T], place: i64) -> Result<&T, StoreError> {
    usize::try_from(place - 1)
        .ok()
        .and_then(|index| rows.get(index))
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// Rows (tuples or values) as one JSON array, for SQLite statements that
/// read a list parameter with `json_each` (PostgreSQL binds arrays).
pub(crate) fn json_rows<T: serde::Serialize + ?Sized>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows)
        .map_err(|error| StoreError::Database(sqlx::Error::Encode(error.into())))
}

/// A quantity as PostgreSQL's `numeric(18, 4)` columns keep it: four
/// decimal places, rounded half away from zero. SQLite keeps the same text.
pub(crate) fn quantity(value: Decimal) -> Decimal {
    let mut value =
        value.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    value.rescale(4);
    value
}
