//! A throwaway database per test, so tests run in parallel and leave nothing
//! behind, and the seed-shaped envelopes the tests send ([`envelopes`]).
//!
//! The server comes from `EAI_TEST_DATABASE_URL` (default the local trust-auth
//! PostgreSQL). When it is unreachable the test fails loudly: a skipped
//! integration test would hide exactly the bugs it exists to catch.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use crate::{PoolSettings, Store};

pub mod envelopes;

/// How long a test waits for PostgreSQL before it fails, naming the server.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("EAI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A migrated database named `eai_test_<uuid>`, dropped when this value is.
pub struct TestDatabase {
    pub store: Store,
    name: String,
    options: PgConnectOptions,
}

impl TestDatabase {
    /// Creates and migrates a fresh database; panics with the reason when PostgreSQL is not there.
    pub async fn create() -> TestDatabase {
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
        let settings = PoolSettings {
            max_connections: 8,
            ..PoolSettings::default()
        };
        let store = Store::connect(options.clone(), settings)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {name}: {error}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|error| panic!("migrations failed on {name}: {error}"));
        TestDatabase {
            store,
            name,
            options,
        }
    }

    /// Connection options for this database (to open extra connections or run the binary).
    pub fn options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// A URL for this database, for configuration that takes one.
    pub fn url(&self) -> String {
        let server = server_url();
        match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.name),
            None => format!("{server}/{}", self.name),
        }
    }

    /// A separate connection, for tests that need real concurrency.
    pub async fn connection(&self) -> PgConnection {
        self.options
            .connect()
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {}: {error}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
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
