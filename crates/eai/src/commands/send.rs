//! `eai send FILE`: enqueues any envelope for delivery by the sender, to one
//! named destination or to every destination of its (company, branch, transaction).

use std::path::Path;

use anyhow::Context;
use eai_protocol::Envelope;

use crate::app::open_store;
use crate::config::Settings;

/// Enqueues the envelope in `file`; returns how many messages were created.
pub async fn run(
    settings: &Settings,
    file: &Path,
    destination: Option<&str>,
) -> anyhow::Result<u64> {
    let body = tokio::fs::read_to_string(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let envelope = Envelope::parse(body.as_bytes())
        .map_err(|rejection| anyhow::anyhow!("{}: {rejection}", file.display()))?;
    let transaction = envelope
        .header_text("Transaction")
        .with_context(|| format!("{}: Header.Transaction is missing", file.display()))?;
    // Messages of one document go out in order; an envelope without an
    // InternalId is its own document.
    let document = envelope
        .content()
        .text("InternalId")
        .ok()
        .flatten()
        .unwrap_or_else(|| envelope.uuid().to_owned());
    let store = open_store(settings).await?;
    let created = match destination {
        Some(name) => match store
            .enqueue_for(name, envelope.uuid(), &transaction, &body, &document)
            .await?
        {
            None => anyhow::bail!("no destination named {name:?} (see `eai destinations list`)"),
            Some(created) => u64::from(created),
        },
        None => {
            let company = envelope.header_text("CompanyId").unwrap_or_default();
            let branch = envelope.header_text("BranchId").unwrap_or_default();
            store
                .enqueue_routed(
                    &company,
                    &branch,
                    &transaction,
                    envelope.uuid(),
                    &body,
                    &document,
                )
                .await?
        }
    };
    println!(
        "{}: {} enqueued for {created} destination(s)",
        file.display(),
        envelope.uuid()
    );
    Ok(created)
}
