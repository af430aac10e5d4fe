//! A throwaway database per test, so tests run in parallel and leave nothing
//! behind, and the seed-shaped envelopes the tests send ([`envelopes`]).
//!
//! The backend comes from `EAI_TEST_BACKEND`: `postgres` (the default) or
//! `sqlite`. The PostgreSQL server comes from `EAI_TEST_DATABASE_URL`
//! (default the local trust-auth PostgreSQL); when it is unreachable the test
//! fails loudly: a skipped integration test would hide exactly the bugs it
//! exists to catch. An SQLite database is a file in a directory of its own
//! under the system's temporary directory, and needs no server.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool};

use crate::{DatabaseUrl, PoolSettings, Store};

pub mod envelopes;

/// How long a test waits for PostgreSQL before it fails, naming the server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The server tests create their PostgreSQL databases on.
pub fn server_url() -> String {
    std::env::var("EAI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The backend tests run on, from `EAI_TEST_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Postgres,
    Sqlite,
}

impl TestBackend {
    /// The backend `EAI_TEST_BACKEND` names; panics on another value.
    pub fn chosen() -> TestBackend {
        match std::env::var("EAI_TEST_BACKEND").as_deref() {
            Err(_) | Ok("" | "postgres") => TestBackend::Postgres,
            Ok("sqlite") => TestBackend::Sqlite,
            Ok(other) => panic!("EAI_TEST_BACKEND must be postgres or sqlite, not {other:?}"),
        }
    }
}

/// A migrated database, dropped when this value is: `eai_test_<uuid>` on
/// the PostgreSQL server, or an SQLite file in a directory of its own.
pub struct TestDatabase {
    pub store: Store,
    place: Place,
}

enum Place {
    Postgres {
        name: String,
        options: Box<PgConnectOptions>,
        pool: PgPool,
    },
    Sqlite {
        directory: PathBuf,
    },
}

impl TestDatabase {
    /// Creates and migrates a fresh database on the backend
    /// `EAI_TEST_BACKEND` names; panics with the reason when it cannot.
    pub async fn create() -> TestDatabase {
        match TestBackend::chosen() {
            TestBackend::Postgres => TestDatabase::postgres().await,
            TestBackend::Sqlite => TestDatabase::sqlite().await,
        }
    }

    /// A fresh SQLite database, whatever `EAI_TEST_BACKEND` says.
    pub async fn sqlite() -> TestDatabase {
        let directory =
            std::env::temp_dir().join(format!("eai_test_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&directory)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", directory.display()));
        let url = DatabaseUrl::sqlite(&directory.join("eai.sqlite3"));
        let store = Store::open(&url, test_pool_settings())
            .await
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", url.shown()));
        store
            .migrate()
            .await
            .unwrap_or_else(|error| panic!("migrations failed on {}: {error}", url.shown()));
        TestDatabase {
            store,
            place: Place::Sqlite { directory },
        }
    }

    /// A fresh PostgreSQL database, whatever `EAI_TEST_BACKEND` says: for the
    /// tests of what only PostgreSQL does (its locks, its connections).
    pub async fn postgres() -> TestDatabase {
        let server = server_url();
        let admin = PgConnectOptions::from_str(&server)
            .unwrap_or_else(|error| panic!("EAI_TEST_DATABASE_URL {server:?} is invalid: {error}"));
        let name = format!("eai_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, admin.connect())
            .await
            .unwrap_or_else(|_| {
                panic!("PostgreSQL at {server} did not answer within {CONNECT_TIMEOUT:?} (start it; .ci/run does)")
            })
            .unwrap_or_else(|error| {
                panic!("PostgreSQL is not reachable at {server}: {error} (start it; .ci/run does)")
            });
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let store = Store::connect(options.clone(), test_pool_settings())
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {name}: {error}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|error| panic!("migrations failed on {name}: {error}"));
        let pool = PgPool::connect_lazy_with(options.clone());
        TestDatabase {
            store,
            place: Place::Postgres {
                name,
                options: Box::new(options),
                pool,
            },
        }
    }

    /// Which backend this database is on.
    pub fn backend(&self) -> TestBackend {
        match self.place {
            Place::Postgres { .. } => TestBackend::Postgres,
            Place::Sqlite { .. } => TestBackend::Sqlite,
        }
    }

    /// Connection options for this PostgreSQL database (to open extra
    /// connections or run the binary); panics on SQLite.
    pub fn options(&self) -> PgConnectOptions {
        self.postgres_place().1.clone()
    }

    /// A pool of its own on this PostgreSQL database, for tests that read
    /// or change it behind the store's back; panics on SQLite.
    pub fn pool(&self) -> &PgPool {
        self.postgres_place().2
    }

    fn postgres_place(&self) -> (&str, &PgConnectOptions, &PgPool) {
        match &self.place {
            Place::Postgres {
                name,
                options,
                pool,
            } => (name, options, pool),
            Place::Sqlite { .. } => {
                panic!("this test reads PostgreSQL itself: it runs with EAI_TEST_BACKEND=postgres")
            }
        }
    }

    /// A URL for this database, for configuration that takes one.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Postgres { name, .. } => {
                let server = server_url();
                match server.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => format!("{server}/{name}"),
                }
            }
            Place::Sqlite { directory } => {
                format!("sqlite://{}", directory.join("eai.sqlite3").display())
            }
        }
    }

    /// A pool of its own on this database, whichever the backend, for tests
    /// that read or change it behind the store's back with SQL both backends
    /// speak (decimals read as text: `CAST(quantity AS TEXT)`).
    pub async fn any(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url())
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {}: {error}", self.url()))
    }

    /// A separate connection to this PostgreSQL database, for tests that
    /// need real concurrency; panics on SQLite.
    pub async fn connection(&self) -> PgConnection {
        let (name, options, _) = self.postgres_place();
        options
            .connect()
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {name}: {error}"))
    }
}

fn test_pool_settings() -> PoolSettings {
    PoolSettings {
        max_connections: 8,
        ..PoolSettings::default()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = match &self.place {
            Place::Postgres { name, .. } => name.clone(),
            Place::Sqlite { directory } => {
                std::fs::remove_dir_all(directory).ok();
                return;
            }
        };
        let server = server_url();
        // Drop runs inside the test's runtime, which cannot be blocked on; a
        // short-lived thread with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&server).await {
                        // With the database `eai demo` makes beside it, if a test ran one.
                        for database in [name.clone(), format!("{name}_demo")] {
                            let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                            conn.execute(sql.as_str()).await.ok();
                        }
                    }
                });
            }
        });
        cleanup.join().ok();
    }
}
