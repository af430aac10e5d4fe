//! `eai migrate`: creates the database if the server lacks it and applies the migrations.

use crate::app::open_store;
use crate::config::Settings;

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await?;
    for (version, description) in applied {
        println!("migration {version:04} {description}: applied");
    }
    Ok(())
}
