//! Reaching the database: the URL read and checked once, the database
//! created when the server lacks it, the migrations applied and listed, the
//! pool closed, and the wake-ups of idle senders and receivers. Nothing outside
//! this crate names a PostgreSQL type, a channel or a system table.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::{PoolSettings, Store, StoreError, MIGRATOR};

/// The URL schemes a database URL may have.
pub const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// The channel the outbox's trigger (migration 0004) notifies when a message
/// becomes ready to send.
const OUTBOX_CHANNEL: &str = "eai_outbox";

/// The channel the inbound queue's trigger (migration 0014) notifies when an
/// envelope is queued.
const INBOUND_QUEUE_CHANNEL: &str = "eai_inbound_queue";

/// The longest name PostgreSQL keeps whole (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;

/// PostgreSQL's SQLSTATE for a table that does not exist.
const UNDEFINED_TABLE: &str = "42P01";

/// A database URL, checked: a PostgreSQL server and the database to use.
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    options: PgConnectOptions,
}

impl FromStr for DatabaseUrl {
    type Err = StoreError;

    /// Reads a URL; one of another scheme is refused naming the schemes
    /// understood, and the text is never repeated (it may hold a password).
    fn from_str(text: &str) -> Result<DatabaseUrl, StoreError> {
        if !SCHEMES.iter().any(|scheme| text.starts_with(scheme)) {
            let scheme = text
                .split_once(':')
                .map(|(scheme, _)| scheme)
                .filter(|scheme| {
                    scheme.len() <= 20
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                });
            let given = match scheme {
                Some(scheme) => format!("it starts with {:?}", format!("{scheme}:")),
                None => "it has no scheme".to_owned(),
            };
            return Err(StoreError::Configuration(format!(
                "the database URL must start with {}; {given}",
                SCHEMES.join(" or ")
            )));
        }
        let options = PgConnectOptions::from_str(text).map_err(|error| {
            StoreError::Configuration(format!("the database URL is not valid: {error}"))
        })?;
        Ok(DatabaseUrl { options })
    }
}

impl DatabaseUrl {
    /// `host:port`, to say which server did not answer.
    pub fn address(&self) -> String {
        format!("{}:{}", self.options.get_host(), self.options.get_port())
    }

    /// `host:port/database`, to say what is used (never a credential).
    pub fn shown(&self) -> String {
        format!(
            "{}/{}",
            self.address(),
            self.options.get_database().unwrap_or_default()
        )
    }

    /// The same server and credentials, the database named after this one
    /// with `suffix` (`eai` → `eai_demo`): as URL text, which holds the
    /// password when this one does. Refused when PostgreSQL would not keep
    /// the name whole (it cuts names to 63 bytes, which could name this very
    /// database) or the URL would not read back as that name.
    pub fn sibling(&self, suffix: &str) -> Result<String, StoreError> {
        let name = format!(
            "{}{suffix}",
            self.options.get_database().unwrap_or("postgres")
        );
        if name.len() > MAX_NAME_BYTES {
            return Err(StoreError::Configuration(format!(
                "the database name {name:?} is longer than PostgreSQL's {MAX_NAME_BYTES} bytes"
            )));
        }
        let url = self
            .options
            .clone()
            .database(&name)
            .to_url_lossy()
            .to_string();
        match DatabaseUrl::from_str(&url)?.options.get_database() {
            Some(read) if read == name => Ok(url),
            _ => Err(StoreError::Configuration(format!(
                "the database name {name:?} does not survive being written in a URL"
            ))),
        }
    }

    /// Drops the database the URL names, if the server has it, closing its
    /// connections first, within `timeout`.
    pub async fn drop_database(&self, timeout: Duration) -> Result<(), StoreError> {
        let Some(name) = self.options.get_database().map(str::to_owned) else {
            return Ok(());
        };
        let dropping = async {
            let mut admin = self.options.clone().database("postgres").connect().await?;
            admin
                .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(&name)).as_str())
                .await?;
            admin.close().await?;
            Ok::<(), StoreError>(())
        };
        tokio::time::timeout(timeout, dropping)
            .await
            .unwrap_or(Err(StoreError::TimedOut(timeout)))
    }

    /// Creates the database the URL names when the server lacks it (so a
    /// fresh laptop needs no `createdb`), within `timeout`.
    pub async fn ensure_database(&self, timeout: Duration) -> Result<(), StoreError> {
        let Some(name) = self.options.get_database().map(str::to_owned) else {
            return Ok(());
        };
        let creating = async {
            let mut admin = self.options.clone().database("postgres").connect().await?;
            let exists: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut admin)
                    .await?;
            if exists.is_none() {
                admin
                    .execute(format!("CREATE DATABASE {}", quoted(&name)).as_str())
                    .await?;
                tracing::info!(database = %name, "created database");
            }
            admin.close().await?;
            Ok(())
        };
        tokio::time::timeout(timeout, creating)
            .await
            .unwrap_or(Err(StoreError::TimedOut(timeout)))
    }
}

/// A database name as a quoted identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A migration the database has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// Wakes an idle sender when a message becomes ready to send, or an idle
/// receiver when an envelope is queued; a lost wake-up costs at most a poll
/// interval.
pub struct Wakeups {
    listener: PgListener,
}

impl Wakeups {
    /// Waits for the next wake-up. An error means the listening connection
    /// was lost: listen again.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.listener.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Opens a pool on the database `url` names (see [`Store::connect`]).
    pub async fn open(url: &DatabaseUrl, settings: PoolSettings) -> Result<Store, StoreError> {
        Store::connect(url.options.clone(), settings).await
    }

    /// The migrations applied, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let applied: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        Ok(applied
            .into_iter()
            .map(|(version, description)| AppliedMigration {
                version,
                description,
            })
            .collect())
    }

    /// The migrations this build carries that the database lacks (`eai
    /// migrate` or `eai run` applies them), as `version description`.
    pub async fn missing_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .or_else(|error| match &error {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some(UNDEFINED_TABLE) => {
                        Ok(Vec::new())
                    }
                    _ => Err(error),
                })?;
        Ok(MIGRATOR
            .iter()
            .filter(|migration| !applied.contains(&migration.version))
            .map(|migration| format!("{:04} {}", migration.version, migration.description))
            .collect())
    }

    /// Listens for the outbox's wake-ups on a connection of its own, opened
    /// within `timeout`.
    pub async fn outbox_wakeups(&self, timeout: Duration) -> Result<Wakeups, StoreError> {
        self.wakeups(OUTBOX_CHANNEL, timeout).await
    }

    /// Listens for the inbound queue's wake-ups on a connection of its own,
    /// opened within `timeout`.
    pub async fn inbound_queue_wakeups(&self, timeout: Duration) -> Result<Wakeups, StoreError> {
        self.wakeups(INBOUND_QUEUE_CHANNEL, timeout).await
    }

    async fn wakeups(&self, channel: &str, timeout: Duration) -> Result<Wakeups, StoreError> {
        let connecting = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(channel).await?;
            Ok::<_, StoreError>(Wakeups { listener })
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .unwrap_or(Err(StoreError::TimedOut(timeout)))
    }

    /// Closes the pool once every connection was given back.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str) -> String {
        DatabaseUrl::from_str(url)
            .expect_err("not a PostgreSQL URL")
            .to_string()
    }

    #[test]
    fn postgres_urls_are_read_with_their_address() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/eai",
            "postgresql://eai:secret@db.internal/eai",
        ] {
            DatabaseUrl::from_str(url).expect("a PostgreSQL URL");
        }
        let url =
            DatabaseUrl::from_str("postgres://eai:s3cret@db.internal:6432/eai").expect("valid");
        assert_eq!(url.address(), "db.internal:6432");
        assert_eq!(url.shown(), "db.internal:6432/eai", "no credential");
    }

    #[test]
    fn a_sibling_database_is_the_same_server_under_a_name_kept_whole() {
        let url =
            DatabaseUrl::from_str("postgres://eai:s3cret@db.internal:6432/eai").expect("valid");
        let sibling =
            DatabaseUrl::from_str(&url.sibling("_demo").expect("a sibling")).expect("valid");
        assert_eq!(sibling.shown(), "db.internal:6432/eai_demo");
        let long = format!("postgres://db/{}", "e".repeat(60));
        let refused = DatabaseUrl::from_str(&long)
            .expect("valid")
            .sibling("_demo")
            .expect_err("65 bytes would be cut back to 63");
        assert!(refused.to_string().contains("63 bytes"), "{refused}");
        let encoded = DatabaseUrl::from_str("postgres://db/eai%2541").expect("valid");
        assert!(
            encoded.sibling("_demo").is_err(),
            "eai%41_demo would read back as eaiA_demo"
        );
    }

    #[test]
    fn another_scheme_is_refused_naming_the_schemes_and_never_the_password() {
        let refused = refusal("sqlite://eai-data/eai.db");
        assert!(
            refused.contains("postgres:// or postgresql://") && refused.contains("\"sqlite:\""),
            "{refused}"
        );
        let refused = refusal("mysql://ana:s3cret@db/eai");
        assert!(refused.contains("\"mysql:\""), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refusal("eai.db").contains("it has no scheme"));
        let refused = refusal("ana:s3cret@db/eai");
        assert!(!refused.contains("s3cret"), "{refused}");
    }
}
