//! `eai migrate`: creates the database if the server lacks it and applies the migrations.

use crate::app::open_store;
use crate::config::Settings;

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    for migration in store.applied_migrations().await? {
        println!(
            "migration {:04} {}: applied",
            migration.version, migration.description
        );
    }
    Ok(())
}
