//! `eai messages list|show|retry`: the outbound monitor.

use eai_store::outbound::MessageFilter;

use crate::app::open_store;
use crate::config::Settings;

/// Prints the newest messages matching `filter`, one line each.
pub async fn list(settings: &Settings, filter: &MessageFilter) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    println!(
        "{:>8}  {:<36}  {:<26}  {:<16}  {:<13}  {:>8}  last error",
        "id", "uuid", "transaction", "destination", "status", "attempts"
    );
    for row in store.list_messages(filter).await? {
        println!(
            "{:>8}  {:<36}  {:<26}  {:<16}  {:<13}  {:>8}  {}",
            row.id,
            row.uuid,
            row.transaction,
            row.destination.as_deref().unwrap_or(&row.kind),
            row.status,
            row.attempts,
            row.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Prints one message and the history of its attempts.
pub async fn show(settings: &Settings, id: i64) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let Some(row) = store.message(id).await? else {
        eprintln!("no message {id}");
        return Ok(false);
    };
    println!("message {} ({})", row.id, row.uuid);
    println!("  transaction  {}", row.transaction);
    println!(
        "  destination  {}",
        row.destination.as_deref().unwrap_or(&row.kind)
    );
    println!(
        "  status       {} after {} attempt(s)",
        row.status, row.attempts
    );
    println!("  created      {}", row.created_at);
    println!("  next attempt {}", row.next_attempt_at);
    if let Some(error) = &row.last_error {
        println!("  last error   {error}");
    }
    for attempt in store.attempts(id).await? {
        println!(
            "  attempt {:>2}  {}  {:<13}  {}  ({} ms, {})",
            attempt.attempt,
            attempt.started_at,
            attempt.status,
            attempt.detail,
            (attempt.finished_at - attempt.started_at).num_milliseconds(),
            attempt.sender
        );
    }
    Ok(true)
}

/// Puts messages back to `waiting` with their attempts reset.
pub async fn retry(settings: &Settings, ids: &[i64]) -> anyhow::Result<u64> {
    let store = open_store(settings).await?;
    let retried = store.retry_messages(ids).await?;
    println!("{retried} message(s) retried");
    Ok(retried)
}
