//! `eai import FILE.json`: master data and mappings, idempotent and all-or-nothing,
//! with a progress bar on a terminal.

use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::open_store;
use crate::config::Settings;

/// Imports `file`; returns false (after printing every bad row) when nothing was loaded.
pub async fn run(settings: &Settings, file: &Path) -> anyhow::Result<bool> {
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let document: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
        anyhow::anyhow!(
            "{} is not valid JSON: {error} (line {}, column {})",
            file.display(),
            error.line(),
            error.column()
        )
    })?;
    let store = open_store(settings).await?;
    let bar = ProgressBar::new(eai_store::import::row_count(&document));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let report = store
        .import(&document, &|written| bar.set_position(written))
        .await?;
    bar.finish_and_clear();
    if !report.is_ok() {
        eprintln!(
            "{}: nothing imported; {} bad row(s):",
            file.display(),
            report.errors.len()
        );
        for error in &report.errors {
            eprintln!("  {}: {}", error.path, error.message);
        }
        return Ok(false);
    }
    for (section, count) in report.upserted.iter().filter(|(_, count)| *count > 0) {
        println!("{section}: {count} upserted");
    }
    println!("{}: {} rows imported", file.display(), report.total());
    Ok(true)
}
