//! Store errors, and the line between "the database is down", "try again"
//! and "give up", on either backend.

use sqlx::sqlite::SqliteError;

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the database did not answer within {} ms", .0.as_millis())]
    TimedOut(std::time::Duration),
    #[error("{0}")]
    Import(String),
    /// The configuration names no database this store can open.
    #[error("{0}")]
    Configuration(String),
    /// The database was unavailable to a batch this operation was part of.
    #[error("{0}")]
    Unavailable(String),
    /// What an operator asked to store is not valid; says what is wrong.
    #[error("{0}")]
    Refused(String),
    /// Another delivery of this UUID was answered while this one was being
    /// processed; running again gives its stored answer.
    #[error("envelope {0} was answered by another delivery meanwhile")]
    Raced(String),
}

/// How a failure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached or does not accept work (connection
    /// refused or lost, shutting down, not accepting connections, too many
    /// clients, read-only after a failover, out of disk): nothing is wrong
    /// with the message. Wait until the database is back, then try again;
    /// never count it against the message.
    Outage,
    /// The database asked for the transaction to run again (serialization
    /// failure, deadlock), a lock or statement waited too long, or a
    /// uniqueness race: worth a few immediate retries, then delayed ones.
    Transient,
    /// The database refused this message's data for good (a value it cannot
    /// store, an index row too large…): retrying cannot cure it.
    Permanent,
}

impl StoreError {
    /// How to handle this error (see [`Failure`]).
    pub fn failure(&self) -> Failure {
        match self {
            StoreError::Database(error) => classify(error),
            StoreError::TimedOut(_) | StoreError::Raced(_) => Failure::Transient,
            StoreError::Unavailable(_) => Failure::Outage,
            StoreError::Migration(_)
            | StoreError::Import(_)
            | StoreError::Configuration(_)
            | StoreError::Refused(_) => Failure::Permanent,
        }
    }

    /// The server answered, but has no database by the name asked for.
    pub fn is_missing_database(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db))
            if db.code().as_deref() == Some(INVALID_CATALOG_NAME))
    }

    /// True unless retrying cannot help.
    pub fn is_retryable(&self) -> bool {
        self.failure() != Failure::Permanent
    }
}

/// PostgreSQL's SQLSTATE for a database that does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";

/// The lots' CHECK that reserved never exceeds on hand. Reservations plan
/// on lots they read without locking them (their stock keys are locked), so
/// an import changing a quantity meanwhile makes their UPDATE break it.
const STOCK_CHANGED_UNDER_PLAN: &str = "reserved_within_on_hand";

fn classify(error: &sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Failure::Outage,
        // An import lowered a lot's quantity under a reservation's plan:
        // planning again on the lots as they are now is the cure.
        sqlx::Error::Database(db) if db.constraint() == Some(STOCK_CHANGED_UNDER_PLAN) => {
            Failure::Transient
        }
        sqlx::Error::Database(db) if db.try_downcast_ref::<SqliteError>().is_some() => {
            let code = db.code().and_then(|code| code.parse().ok()).unwrap_or(0);
            classify_sqlite(code, db.message())
        }
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => classify_sqlstate(&code),
            None => Failure::Permanent,
        },
        _ => Failure::Permanent,
    }
}

/// By SQLite's extended result code (its primary code in the low byte) and,
/// for a CHECK, the constraint its message names.
fn classify_sqlite(code: i32, message: &str) -> Failure {
    match code & 0xff {
        // Another process holds the file's write lock past the busy timeout.
        SQLITE_BUSY | SQLITE_LOCKED => Failure::Transient,
        // Read-only file, I/O error, disk full, cannot open, not a database:
        // nothing is wrong with the message.
        SQLITE_READONLY | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN | SQLITE_NOTADB => {
            Failure::Outage
        }
        SQLITE_CONSTRAINT
            if code == SQLITE_CONSTRAINT_UNIQUE
                || code == SQLITE_CONSTRAINT_PRIMARYKEY
                || message.ends_with(STOCK_CHANGED_UNDER_PLAN) =>
        {
            Failure::Transient
        }
        _ => Failure::Permanent,
    }
}

// SQLite's result codes (https://sqlite.org/rescode.html).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_NOTADB: i32 = 26;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

/// By SQLSTATE (PostgreSQL appendix A).
fn classify_sqlstate(code: &str) -> Failure {
    match code {
        // 55000 is what a database that does not accept connections answers
        // (`datallowconn` false); 25006 a read-only transaction after a
        // failover to a standby; 3D000 a database that is not there (yet).
        "55000" | "25006" | "3D000" | "57P01" | "57P02" | "57P03" => Failure::Outage,
        "40001" | "40P01" | "55P03" | "57014" | "23505" => Failure::Transient,
        _ => match &code[..2.min(code.len())] {
            // Connection exception, insufficient resources, operator
            // intervention, system error, invalid authorization (credentials
            // being rotated).
            "08" | "53" | "57" | "58" | "28" => Failure::Outage,
            _ => Failure::Permanent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_an_outage_not_the_message_fault() {
        for code in [
            "08006", "08001", "57P01", "57P03", "55000", "53300", "53100", "25006", "28P01",
        ] {
            assert_eq!(classify_sqlstate(code), Failure::Outage, "{code}");
        }
        assert_eq!(
            StoreError::Database(sqlx::Error::PoolTimedOut).failure(),
            Failure::Outage
        );
    }

    #[test]
    fn races_and_waits_are_transient() {
        for code in ["40001", "40P01", "55P03", "57014", "23505"] {
            assert_eq!(classify_sqlstate(code), Failure::Transient, "{code}");
        }
    }

    #[test]
    fn sqlite_says_busy_full_or_refused_in_its_own_codes() {
        assert_eq!(classify_sqlite(5, "database is locked"), Failure::Transient);
        assert_eq!(
            classify_sqlite(517, "database is locked"),
            Failure::Transient
        );
        assert_eq!(
            classify_sqlite(13, "database or disk is full"),
            Failure::Outage
        );
        assert_eq!(classify_sqlite(3338, "disk I/O error"), Failure::Outage);
        assert_eq!(
            classify_sqlite(2067, "UNIQUE constraint failed: inbox.uuid"),
            Failure::Transient
        );
        assert_eq!(
            classify_sqlite(275, "CHECK constraint failed: reserved_within_on_hand"),
            Failure::Transient
        );
        assert_eq!(
            classify_sqlite(787, "FOREIGN KEY constraint failed"),
            Failure::Permanent
        );
        assert_eq!(classify_sqlite(1, "no such column: x"), Failure::Permanent);
    }

    #[test]
    fn refused_data_is_permanent() {
        for code in ["22021", "54000", "22P05", "23514", "42703"] {
            assert_eq!(classify_sqlstate(code), Failure::Permanent, "{code}");
        }
    }
}
