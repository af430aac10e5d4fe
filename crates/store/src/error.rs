//! Store errors, and the line between "try again" and "give up".

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Import(String),
}

impl StoreError {
    /// Serialization failures and deadlocks are the database asking us to run
    /// the transaction again; connection trouble may pass too. Neither is the
    /// sender's fault, so neither becomes an error receipt.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001") | Some("40P01"))
            }
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            _ => false,
        }
    }
}
