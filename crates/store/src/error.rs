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
    /// the transaction again; connection trouble (class 08, a server shutting
    /// down or refusing connections) may pass too. None is the sender's fault,
    /// so none becomes an error receipt.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                code.starts_with("08")
                    || matches!(
                        &*code,
                        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
                    )
            }),
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            _ => false,
        }
    }
}
