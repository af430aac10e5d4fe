//! Persistence, on PostgreSQL (a fleet) or SQLite (the embedded default): master data, reservations, and the inbox/outbox that
//! make message handling exactly-once in effect.
//!
//! Every inbound envelope is handled in one transaction ([`Store::receive`]):
//! look its UUID up in the inbox, apply the business change, write the receipt
//! to the outbox and the inbox row claiming the UUID (a delivery racing another
//! of the same UUID runs again and finds its answer). The transport acks the
//! delivery only after that commit, and a redelivery finds the UUID answered
//! and gets the stored receipt back.
//!
//! # Layout
//!
//! - [`connection`]: the database URL, creating the database, migrations, the pool's close and the outbox's wake-ups.
//! - `db`: the two backends (PostgreSQL and SQLite): pools, transactions, savepoints, exact decimals and lists.
//! - [`error`]: [`StoreError`] and which database errors are worth retrying.
//! - [`import`]: `eai import`, master data and mappings from a JSON file.
//! - [`directory`]: loads the de/para and master rows one message refers to.
//! - [`locks`]: the advisory locks on documents and stock, taken in one statement in one order.
//! - [`reservation`]: ItemReserve upserts/deletes against locked lots, several at a time, and the expiry sweep.
//! - [`sale`]: RetailSales judged by the domain, several at a time, and persisted with their receivables.
//! - [`cancellation`]: RetailSalesCancellation, which cancels a sale and releases its stock.
//! - `stock_request`: StockLevel requests, answered in the receipt with the lots as they stand.
//! - [`inbound_queue`]: the inbound queue of a worker without a broker: queue, claim, settle.
//! - [`receive`]: the inbox → business → outbox transaction.
//! - [`batch`]: several ItemReserve or RetailSales envelopes in one such transaction.
//! - [`retries`]: how often a UUID waited, failed or was redelivered.
//! - `stored_body`: envelope bodies as the inbox keeps them, large ones compressed.
//! - [`outbox`]: receipts stored delivered, the ones whose publication failed and the relay's retries.
//! - [`retention`]: purges inbox and outbox rows older than the dedup window.
//! - [`outbound`]: business messages for destinations: enqueue, claim, settle, retry.
//! - [`log`]: the message log of both directions, pending items and operator actions.
//! - [`dead_letters`]: dead letters recorded from the dead-letter queue, listed and replayed.
//! - [`mappings`]: de/para mappings listed and edited one by one.
//! - `masters`: the branches, de/para, warehouses and products kept between transactions while the master data's version stands.
//! - [`usage`]: the usage report per company, transaction and environment.
//! - [`export`]: integrated sales exported in numbered batches, handed out until confirmed.
//! - [`overview`]: the first numbers an operator checks.
//! - [`backlog`]: the outbound backlog by kind and status and its oldest row, for the gauges.
//! - [`alerts`]: e-mail and webhook alerts of failed, blocked and dead messages: targets, events, the alerts outbox.
//! - [`page`]: keyset paging with opaque cursors.
//! - [`events`]: the StockLevel and DocumentTraceabilityOrder events, enqueued in the business transaction.
//! - `testing` (feature `testing`): a throwaway database per test.

pub mod alerts;
pub mod backlog;
pub mod batch;
pub mod cancellation;
pub mod connection;
mod db;
pub mod dead_letters;
pub mod directory;
pub mod error;
pub mod events;
pub mod export;
pub mod import;
pub mod inbound_queue;
pub mod locks;
pub mod log;
pub mod mappings;
mod masters;
pub mod outbound;
pub mod outbox;
pub mod overview;
pub mod page;
pub mod receive;
pub mod reservation;
pub mod retention;
pub mod retries;
pub mod sale;
mod stock_request;
mod stored_body;
#[cfg(feature = "testing")]
pub mod testing;
pub mod usage;

use std::time::Duration;

use std::sync::Arc;

use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use db::{Embedded, Pool, Tx};

pub use connection::{AppliedMigration, DatabaseUrl, Wakeups};
pub use db::Conn;
pub use error::{Failure, StoreError};
pub use import::{ImportReport, RowError};
pub use outbox::{PendingReceipt, RelayPass};
pub use receive::{Answer, Inbound, Received, ReplyRoute, WorkerIdentity};

/// The PostgreSQL migrations, applied by `eai migrate` and by tests.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite migrations: the same schema in SQLite's terms.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_sqlite");

/// How the pool talks to PostgreSQL: every wait is bounded, so a database
/// that is down or silent makes operations fail (and be retried), never hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Longest wait for a pooled connection, connecting included: past it the
    /// database counts as unavailable.
    pub acquire_timeout: Duration,
    /// Longest a statement waits for a row lock (PostgreSQL `lock_timeout`).
    pub lock_timeout: Duration,
    /// Longest a statement runs (PostgreSQL `statement_timeout`); a whole
    /// message transaction is also bounded client-side by twice this, which
    /// covers a server that stopped answering.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// The connection pool's occupation at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// Which deployment a worker is: its envelopes are counted apart in the
/// usage report (seed 004's "ambiente").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Homologation,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Homologation => "homologation",
        }
    }
}

/// A handle on the worker's database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// The SQLite backend's writer lock and wake-ups (unused on PostgreSQL).
    embedded: Arc<Embedded>,
    /// Recorded with every inbound envelope.
    environment: Environment,
    /// How far a sale's totals may be off before they are a mismatch.
    tolerance: Decimal,
    /// Longest one message transaction may take, client side.
    transaction_timeout: Duration,
    /// The master data read by earlier transactions, shared by the clones.
    masters: Arc<masters::Masters>,
}

impl Store {
    /// Connects a pool with these settings; the first connection must be made
    /// within the acquire timeout.
    pub async fn connect(
        options: PgConnectOptions,
        settings: PoolSettings,
    ) -> Result<Store, StoreError> {
        let options = options.options([
            (
                "lock_timeout",
                format!("{}ms", settings.lock_timeout.as_millis()),
            ),
            (
                "statement_timeout",
                format!("{}ms", settings.statement_timeout.as_millis()),
            ),
        ]);
        let connecting = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A connection's buffers grow to the largest message it carried
            // (a 30 MiB sale's body) and would keep that size for the life of
            // the pool, one envelope's worth per connection: back to their
            // default size whenever the connection goes back to the pool.
            .after_release(|connection, _| {
                Box::pin(async move {
                    sqlx::Connection::shrink_buffers(connection);
                    Ok(true)
                })
            })
            .connect_with(options);
        Store::opened(connecting, Pool::Postgres, settings).await
    }

    /// Opens (creating it when missing) the SQLite database file at
    /// `options`' path: WAL, every commit synced, foreign keys enforced, a
    /// writer waiting up to the lock timeout for another process's. One
    /// connection: this process's statements queue for it in order, so a
    /// single write never waits on SQLite's busy handler behind this
    /// process's own transactions (another process's still do).
    pub(crate) async fn connect_sqlite(
        options: SqliteConnectOptions,
        settings: PoolSettings,
    ) -> Result<Store, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(settings.lock_timeout);
        let connecting = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options);
        Store::opened(connecting, Pool::Sqlite, settings).await
    }

    /// The store on the pool `connecting` makes (as `backend`), its first
    /// connection made within the acquire timeout.
    async fn opened<P>(
        connecting: impl std::future::Future<Output = Result<P, sqlx::Error>>,
        backend: fn(P) -> Pool,
        settings: PoolSettings,
    ) -> Result<Store, StoreError> {
        let pool = tokio::time::timeout(settings.acquire_timeout, connecting)
            .await
            .map_err(|_| StoreError::TimedOut(settings.acquire_timeout))??;
        Ok(Store {
            pool: backend(pool),
            embedded: Arc::default(),
            environment: Environment::default(),
            tolerance: Decimal::ZERO,
            transaction_timeout: settings.statement_timeout * 2,
            masters: Arc::default(),
        })
    }

    /// Begins a transaction (on SQLite, in turn with this process's other
    /// writers, within the transaction timeout).
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        Tx::begin(&self.pool, &self.embedded, self.transaction_timeout).await
    }

    /// Which backend this store runs on: `postgresql` or `sqlite`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgresql",
            Pool::Sqlite(_) => "sqlite",
        }
    }

    /// The same store judging sale totals with `tolerance` (default 0.00).
    pub fn with_totals_tolerance(mut self, tolerance: Decimal) -> Store {
        self.tolerance = tolerance;
        self
    }

    /// The same store recording its envelopes as `environment`'s.
    pub fn with_environment(mut self, environment: Environment) -> Store {
        self.environment = environment;
        self
    }

    /// Applies pending migrations; safe to run from several workers at once
    /// (sqlx serialises them with an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => MIGRATOR.run(pool).await?,
            // sqlx takes no lock for SQLite: a process starting beside this
            // one on a fresh file may apply a migration first, and this run
            // then fails on what it created. Applied by either is done.
            Pool::Sqlite(pool) => {
                if let Err(error) = SQLITE_MIGRATOR.run(pool).await {
                    if !self.missing_migrations().await?.is_empty() {
                        SQLITE_MIGRATOR.run(pool).await.map_err(|_| error)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// How many of the pool's connections are lent out and idle now, and
    /// its limit: no I/O, so it can be read on every scrape.
    pub fn pool_usage(&self) -> PoolUsage {
        let (size, idle, max) = match &self.pool {
            Pool::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Pool::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolUsage {
            in_use: size - idle,
            idle,
            max,
        }
    }

    /// A probe on a connection of its own, so that it measures the
    /// database and not how busy the pool is.
    pub fn probe(&self) -> Probe {
        Probe {
            options: match &self.pool {
                Pool::Postgres(pool) => ProbeOptions::Postgres((*pool.connect_options()).clone()),
                Pool::Sqlite(pool) => ProbeOptions::Sqlite((*pool.connect_options()).clone()),
            },
            connection: None,
        }
    }
}

enum ProbeOptions {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

enum ProbeConnection {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

/// Checks that the database answers, on one dedicated connection.
pub struct Probe {
    options: ProbeOptions,
    connection: Option<ProbeConnection>,
}

impl Probe {
    /// One round trip (connecting first when needed) within `timeout`. A
    /// failed check drops the connection, so the next one starts afresh.
    pub async fn check(&mut self, timeout: Duration) -> Result<(), StoreError> {
        use sqlx::ConnectOptions;
        let checked = tokio::time::timeout(timeout, async {
            let connection = match self.connection.as_mut() {
                Some(connection) => connection,
                None => self.connection.insert(match &self.options {
                    ProbeOptions::Postgres(options) => {
                        ProbeConnection::Postgres(options.connect().await?)
                    }
                    ProbeOptions::Sqlite(options) => {
                        ProbeConnection::Sqlite(options.connect().await?)
                    }
                }),
            };
            match connection {
                ProbeConnection::Postgres(connection) => {
                    sqlx::query("SELECT 1").execute(connection).await?;
                }
                ProbeConnection::Sqlite(connection) => {
                    sqlx::query("SELECT 1").execute(connection).await?;
                }
            };
            Ok::<(), StoreError>(())
        })
        .await
        .unwrap_or(Err(StoreError::TimedOut(timeout)));
        if checked.is_err() {
            self.connection = None;
        }
        checked
    }
}
