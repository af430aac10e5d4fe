//! Reaching the database: the URL read and checked once (PostgreSQL or an
//! SQLite file), the database created when the server lacks it, the migrations applied and listed, the
//! pool closed, and the wake-ups of idle senders and receivers. Nothing outside
//! this crate names a PostgreSQL type, a channel or a system table.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use tokio::sync::watch;

use crate::db::{on_pool, Pool};
use crate::{PoolSettings, Store, StoreError, MIGRATOR, SQLITE_MIGRATOR};

/// The URL schemes a database URL may have.
pub const SCHEMES: [&str; 3] = ["postgres://", "postgresql://", "sqlite:"];

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

/// A database URL, checked: a PostgreSQL server and the database to use,
/// or an SQLite database file.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    Postgres(Box<PgConnectOptions>),
    Sqlite(PathBuf),
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
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            let path = path.split_once('?').map_or(path, |(path, _)| path);
            if path.is_empty() || path.starts_with(':') {
                return Err(StoreError::Configuration(
                    "the SQLite URL must name a file (sqlite://eai-data/eai.sqlite3); an in-memory database would keep nothing".to_owned(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        let options = PgConnectOptions::from_str(text).map_err(|error| {
            StoreError::Configuration(format!("the database URL is not valid: {error}"))
        })?;
        Ok(DatabaseUrl::Postgres(Box::new(options)))
    }
}

impl DatabaseUrl {
    /// The URL of the SQLite file at `path`.
    pub fn sqlite(path: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(path.to_owned())
    }

    /// Whether this is an SQLite file.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }

    /// An SQLite URL whose file is not there yet (`eai run` and `eai
    /// migrate` create it).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(path) if !path.is_file())
    }

    /// `host:port` of a server, or the file's path: to say what did not answer.
    pub fn address(&self) -> String {
        match self {
            DatabaseUrl::Postgres(options) => {
                format!("{}:{}", options.get_host(), options.get_port())
            }
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
        }
    }

    /// `host:port/database`, or `sqlite:` and the file's path: what is used
    /// (never a credential).
    pub fn shown(&self) -> String {
        match self {
            DatabaseUrl::Postgres(options) => format!(
                "{}/{}",
                self.address(),
                options.get_database().unwrap_or_default()
            ),
            DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        }
    }

    /// The same server and credentials, the database named after this one
    /// with `suffix` (`eai` → `eai_demo`), or the file beside this one
    /// (`eai.sqlite3` → `eai_demo.sqlite3`): as URL text, which holds the
    /// password when this one does. Refused when PostgreSQL would not keep
    /// the name whole (it cuts names to 63 bytes, which could name this very
    /// database) or the URL would not read back as that name.
    pub fn sibling(&self, suffix: &str) -> Result<String, StoreError> {
        let options = match self {
            DatabaseUrl::Postgres(options) => options,
            DatabaseUrl::Sqlite(path) => {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                let name = match path.extension() {
                    Some(extension) => {
                        format!("{stem}{suffix}.{}", extension.to_string_lossy())
                    }
                    None => format!("{stem}{suffix}"),
                };
                return Ok(format!("sqlite://{}", path.with_file_name(name).display()));
            }
        };
        let name = format!("{}{suffix}", options.get_database().unwrap_or("postgres"));
        if name.len() > MAX_NAME_BYTES {
            return Err(StoreError::Configuration(format!(
                "the database name {name:?} is longer than PostgreSQL's {MAX_NAME_BYTES} bytes"
            )));
        }
        let url = options.clone().database(&name).to_url_lossy().to_string();
        match DatabaseUrl::from_str(&url)? {
            DatabaseUrl::Postgres(read) if read.get_database() == Some(name.as_str()) => Ok(url),
            _ => Err(StoreError::Configuration(format!(
                "the database name {name:?} does not survive being written in a URL"
            ))),
        }
    }

    /// Drops the database the URL names, if the server has it, closing its
    /// connections first, within `timeout`; an SQLite file is removed with
    /// its journal.
    pub async fn drop_database(&self, timeout: Duration) -> Result<(), StoreError> {
        let options = match self {
            DatabaseUrl::Postgres(options) => options,
            DatabaseUrl::Sqlite(path) => {
                for file in sqlite_files(path) {
                    match std::fs::remove_file(&file) {
                        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StoreError::Configuration(format!(
                                "cannot remove {}: {error}",
                                file.display()
                            )))
                        }
                        _ => {}
                    }
                }
                return Ok(());
            }
        };
        let Some(name) = options.get_database().map(str::to_owned) else {
            return Ok(());
        };
        let dropping = async {
            let mut admin = options.clone().database("postgres").connect().await?;
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
    /// fresh laptop needs no `createdb`), within `timeout`; for SQLite, the
    /// file's directory (the file is created when opened).
    pub async fn ensure_database(&self, timeout: Duration) -> Result<(), StoreError> {
        let options = match self {
            DatabaseUrl::Postgres(options) => options,
            DatabaseUrl::Sqlite(path) => {
                if let Some(directory) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(directory).map_err(|error| {
                        StoreError::Configuration(format!(
                            "cannot create the data directory {}: {error}",
                            directory.display()
                        ))
                    })?;
                }
                return Ok(());
            }
        };
        let Some(name) = options.get_database().map(str::to_owned) else {
            return Ok(());
        };
        let creating = async {
            let mut admin = options.clone().database("postgres").connect().await?;
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

/// An SQLite database's files: the database, its write-ahead log and the
/// log's index.
fn sqlite_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
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
    source: Wakeup,
}

enum Wakeup {
    /// PostgreSQL's notifications on a channel.
    Listener(PgListener),
    /// The SQLite backend's committed writes, in this process.
    Writes(watch::Receiver<u64>),
}

impl Wakeups {
    /// Waits for the next wake-up. An error means the listening connection
    /// was lost: listen again.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        match &mut self.source {
            Wakeup::Listener(listener) => {
                listener.recv().await?;
            }
            Wakeup::Writes(writes) => writes
                .changed()
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?,
        }
        Ok(())
    }
}

impl Store {
    /// Opens a pool on the database `url` names (see [`Store::connect`]).
    pub async fn open(url: &DatabaseUrl, settings: PoolSettings) -> Result<Store, StoreError> {
        match url {
            DatabaseUrl::Postgres(options) => Store::connect((**options).clone(), settings).await,
            DatabaseUrl::Sqlite(path) => {
                Store::connect_sqlite(SqliteConnectOptions::new().filename(path), settings).await
            }
        }
    }

    /// The migrations applied, in order.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let applied: Vec<(i64, String)> = on_pool!(&self.pool, pool => {
            sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await?
        });
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
        let applied: Vec<i64> = on_pool!(&self.pool, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
        })
        .or_else(|error| match &error {
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some(UNDEFINED_TABLE)
                    || db.message().starts_with("no such table") =>
            {
                Ok(Vec::new())
            }
            _ => Err(error),
        })?;
        let migrator = match self.pool {
            Pool::Postgres(_) => &MIGRATOR,
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
        };
        Ok(migrator
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
        let pool = match &self.pool {
            Pool::Postgres(pool) => pool,
            Pool::Sqlite(_) => {
                return Ok(Wakeups {
                    source: Wakeup::Writes(self.embedded.watch()),
                })
            }
        };
        let connecting = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(channel).await?;
            Ok::<_, StoreError>(Wakeups {
                source: Wakeup::Listener(listener),
            })
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .unwrap_or(Err(StoreError::TimedOut(timeout)))
    }

    /// The same store on a PostgreSQL pool of its own of at most
    /// `connections`, opened as they are first needed by the runtime that
    /// uses them: a runtime whose tasks must not wait for another runtime's
    /// I/O driver to learn that their statements were answered. `None` on
    /// SQLite, whose one connection every part of the process shares (its
    /// I/O runs on a thread of its own anyway). Close it when done.
    pub fn on_a_pool_of_its_own(&self, connections: u32) -> Option<Store> {
        let Pool::Postgres(pool) = &self.pool else {
            return None;
        };
        let own = pool
            .options()
            .clone()
            .max_connections(connections)
            .connect_lazy_with((*pool.connect_options()).clone());
        Some(Store {
            pool: Pool::Postgres(own),
            embedded: Arc::default(),
            ..self.clone()
        })
    }

    /// Closes the pool once every connection was given back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// On SQLite, wakes this process's idle senders and receivers after a
    /// write made outside a transaction ([`Tx::commit`](crate::db::Tx) does
    /// it for the others); PostgreSQL's triggers notify by themselves.
    pub(crate) fn written(&self) {
        if let Pool::Sqlite(_) = self.pool {
            self.embedded.written();
        }
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
        let url = DatabaseUrl::from_str("sqlite://eai-data/eai.sqlite3").expect("an SQLite URL");
        assert_eq!(url.shown(), "sqlite:eai-data/eai.sqlite3");
        assert_eq!(
            url.sibling("_demo").expect("a sibling"),
            "sqlite://eai-data/eai_demo.sqlite3"
        );
        assert!(DatabaseUrl::from_str("sqlite::memory:").is_err());
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
        let refused = refusal("mysql://ana:s3cret@db/eai");
        assert!(
            refused.contains("postgres:// or postgresql:// or sqlite:"),
            "{refused}"
        );
        assert!(refused.contains("\"mysql:\""), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refusal("eai.db").contains("it has no scheme"));
        let refused = refusal("ana:s3cret@db/eai");
        assert!(!refused.contains("s3cret"), "{refused}");
    }
}
