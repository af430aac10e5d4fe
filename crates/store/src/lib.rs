//! PostgreSQL persistence: master data, reservations, and the inbox/outbox that
//! make message handling exactly-once in effect.
//!
//! Every inbound envelope is handled in one transaction ([`Store::receive`]):
//! claim its UUID in the inbox, apply the business change, write the receipt to
//! the outbox. The transport acks the delivery only after that commit, and a
//! redelivery finds the UUID claimed and gets the stored receipt back.
//!
//! # Layout
//!
//! - [`error`]: [`StoreError`] and which database errors are worth retrying.
//! - [`import`]: `eai import`, master data and mappings from a JSON file.
//! - [`directory`]: loads the de/para and master rows one message refers to.
//! - [`reservation`]: ItemReserve upsert/delete against locked lots, and the expiry sweep.
//! - [`sale`]: RetailSales judged by the domain and persisted with its receivables.
//! - [`cancellation`]: RetailSalesCancellation, which cancels a sale and releases its stock.
//! - [`receive`]: the inbox → business → outbox transaction.
//! - [`outbox`]: receipts waiting to be published and their publication.
//! - [`outbound`]: business messages for destinations: enqueue, claim, settle, retry.
//! - [`events`]: the StockLevel and DocumentTraceabilityOrder events, enqueued in the business transaction.
//! - `testing` (feature `testing`): a throwaway database per test.

pub mod cancellation;
pub mod directory;
pub mod error;
pub mod events;
pub mod import;
pub mod outbound;
pub mod outbox;
pub mod receive;
pub mod reservation;
pub mod sale;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use error::StoreError;
pub use import::{ImportReport, RowError};
pub use outbox::PendingReceipt;
pub use receive::{Answer, Inbound, Received, ReplyRoute, WorkerIdentity};

/// The embedded migrations, applied by `eai migrate` and by tests.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle on the worker's database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// How far a sale's totals may be off before they are a mismatch.
    tolerance: Decimal,
}

impl Store {
    /// Connects a pool. `acquire_timeout` bounds how long a message waits for a
    /// connection before the attempt fails and is retried.
    pub async fn connect(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Store::from_pool(pool))
    }

    /// Wraps an existing pool (tests, embedding).
    pub fn from_pool(pool: PgPool) -> Store {
        Store {
            pool,
            tolerance: Decimal::ZERO,
        }
    }

    /// The same store judging sale totals with `tolerance` (default 0.00).
    pub fn with_totals_tolerance(mut self, tolerance: Decimal) -> Store {
        self.tolerance = tolerance;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations; safe to run from several workers at once
    /// (sqlx serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
